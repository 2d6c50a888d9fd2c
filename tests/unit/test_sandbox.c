/* Unit tests for runtime/sandbox: records survive a reload, names are reserved, ids resolve. */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "reactor/mem.h"
#include "runtime/pod/sandbox.h"
#include "tap.h"

static char root[64], runroot[80];

static struct crid_sandbox *make(const char *name, unsigned attempt, int64_t created)
{
	struct crid_sandbox *sb = crid_sandbox_alloc(NULL);

	sb->name = crid_strdup(name);
	sb->namespace = crid_strdup("default");
	sb->uid = crid_strdup("uid-1");
	sb->attempt = attempt;
	sb->runtime_handler = crid_strdup("");
	sb->hostname = crid_strdup(name);
	sb->log_directory = crid_strdup("/var/log/pods/x");
	sb->cgroup_parent = crid_strdup("/kubepods");
	sb->created_at = created;
	sb->config = crid_malloc(3);
	memcpy(sb->config, "\x0a\x00\xff", 3);
	sb->config_len = 3;
	crid_kvs_add(&sb->labels, "app", name);
	crid_kvs_add(&sb->annotations, "a/b", "quote \" and \xc3\xa9");
	return sb;
}

static void test_round_trip(void)
{
	struct crid_sandbox_store *s;
	struct crid_sandbox *sb, *got, *const *all;
	struct crid_err err = { 0 };
	char id[CRID_ID_LEN + 1];
	size_t n;
	bool amb;

	CHECK(crid_sandbox_store_open(root, runroot, &s, &err) == 0, "open: %s", err.msg);
	sb = make("web", 0, 100);
	CHECK(strlen(sb->id) == CRID_ID_LEN && strspn(sb->id, "0123456789abcdef") == CRID_ID_LEN,
	      "id is 64 hex digits");
	sb->state = CRID_SANDBOX_READY;
	sb->net = CRID_NET_UP;
	sb->ns_pid = CRID_NS_CONTAINER;
	snprintf(sb->ns.net, sizeof(sb->ns.net), "/run/x/ns/net");
	sb->ns.holder_pid = 1234;
	snprintf(sb->ips[0], sizeof(sb->ips[0]), "10.88.0.5");
	snprintf(sb->ips[1], sizeof(sb->ips[1]), "fd00::5");
	sb->n_ips = 2;
	sb->ports = crid_calloc(2, sizeof(*sb->ports));
	sb->ports[0].container_port = 80;
	sb->ports[0].host_port = 8080;
	snprintf(sb->ports[0].protocol, sizeof(sb->ports[0].protocol), "tcp");
	sb->n_ports = 1;
	sb->cni_net = crid_strdup("{\"name\":\"n\"}");
	sb->cni_result = crid_strdup("{\"ips\":[]}");
	memcpy(id, sb->id, sizeof(id));
	CHECK(crid_sandbox_insert(s, sb, &err) == 0, "insert");
	CHECK(crid_sandbox_save(s, sb, &err) == 0, "save: %s", err.msg);
	crid_sandbox_store_close(s);

	CHECK(crid_sandbox_store_open(root, runroot, &s, &err) == 0, "reopen");
	all = crid_sandbox_list(s, &n);
	CHECK(n == 1, "one record after reload (%zu)", n);
	got = crid_sandbox_find(s, id, &amb);
	if (CHECK(got != NULL, "found by full id")) {
		CHECK(strcmp(got->name, "web") == 0 && got->attempt == 0 &&
			  got->state == CRID_SANDBOX_READY && got->net == CRID_NET_UP &&
			  got->created_at == 100 && got->ns_pid == CRID_NS_CONTAINER,
		      "fields kept");
		CHECK(strcmp(got->ns.net, "/run/x/ns/net") == 0 && got->ns.holder_pid == 1234,
		      "namespaces kept");
		CHECK(got->n_ips == 2 && strcmp(got->ips[1], "fd00::5") == 0, "ips kept");
		CHECK(got->n_ports == 1 && got->ports[0].host_port == 8080, "ports kept");
		CHECK(got->config_len == 3 && memcmp(got->config, "\x0a\x00\xff", 3) == 0,
		      "config bytes kept");
		CHECK(strcmp(crid_kvs_get(&got->annotations, "a/b"), "quote \" and \xc3\xa9") == 0,
		      "annotation kept");
		CHECK(strcmp(got->cni_result, "{\"ips\":[]}") == 0, "cni result kept");
	}
	CHECK(all[0] == got, "list has it");
	crid_sandbox_store_close(s);
}

static void test_names_and_prefixes(void)
{
	struct crid_sandbox_store *s;
	struct crid_sandbox *a, *b, *c;
	struct crid_err err = { 0 };
	bool amb;

	CHECK(crid_sandbox_store_open(root, runroot, &s, &err) == 0, "open");
	a = make("dup", 0, 200);
	b = make("dup", 0, 201);
	c = make("dup", 1, 202);
	CHECK(crid_sandbox_insert(s, a, &err) == 0, "first dup inserted");
	CHECK(crid_sandbox_insert(s, b, &err) < 0 && err.code == EEXIST, "same name refused");
	CHECK(strstr(err.msg, "reserved") && strstr(err.msg, a->id), "message names the holder: %s",
	      err.msg);
	CHECK(crid_sandbox_insert(s, c, &err) == 0, "another attempt is another name");
	memcpy(c->id, a->id, 10); /* force a shared 10-digit prefix */
	CHECK(crid_sandbox_find(s, "", &amb) == NULL, "empty id finds nothing");
	CHECK(crid_sandbox_find(s, a->id, &amb) == a, "full id");
	{
		char prefix[11];

		memcpy(prefix, a->id, 10);
		prefix[10] = '\0';
		CHECK(crid_sandbox_find(s, prefix, &amb) == NULL && amb,
		      "shared prefix is ambiguous");
	}
	CHECK(crid_sandbox_find(s, "zz", &amb) == NULL && !amb, "unknown prefix: none");
	CHECK(crid_sandbox_delete(s, c, &err) == 0, "delete");
	CHECK(crid_sandbox_delete(s, a, &err) == 0, "delete");
	crid_sandbox_store_close(s);
}

static void test_damaged_record_skipped(void)
{
	struct crid_sandbox_store *s;
	struct crid_err err = { 0 };
	char path[256];
	size_t n;
	FILE *f;

	snprintf(path, sizeof(path), "%s/sandboxes/%064d.json", root, 0);
	f = fopen(path, "w");
	fputs("{\"id\": \"not json", f);
	fclose(f);
	CHECK(crid_sandbox_store_open(root, runroot, &s, &err) == 0, "open with a damaged record");
	crid_sandbox_list(s, &n);
	CHECK(n == 1, "damaged record skipped, good one kept (%zu)", n);
	crid_sandbox_store_close(s);
	unlink(path);
}

int main(void)
{
	size_t before;

	snprintf(root, sizeof(root), "/tmp/crid-test-sandbox.XXXXXX");
	if (!mkdtemp(root))
		return 2;
	snprintf(runroot, sizeof(runroot), "%s/run", root);
	before = crid_mem_used();
	test_round_trip();
	test_names_and_prefixes();
	test_damaged_record_skipped();
	CHECK(crid_mem_used() == before, "no bytes left allocated (%zu)", crid_mem_used() - before);
	{
		char cmd[128];

		snprintf(cmd, sizeof(cmd), "rm -rf %s", root);
		if (system(cmd) != 0)
			return 2;
	}
	return tap_done();
}
