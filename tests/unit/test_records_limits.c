/*
 * Unit tests for the record limit and record text (runtime/records.c through
 * runtime/sandbox.c): a record that would not fit is refused at creation
 * (EMSGSIZE) and at write (the previous version stays), one just under the
 * limit is written and loads again, and bytes that are not UTF-8 are scrubbed
 * so the loader (yajl, which refuses them) never skips a record crid wrote.
 */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>

#include "io/utf8.h"
#include "reactor/mem.h"
#include "runtime/pod/sandbox.h"
#include "runtime/state/statefile.h"
#include "tap.h"

static char root[64], runroot[80];

static struct crid_sandbox *make(const char *name, size_t ann_bytes)
{
	struct crid_sandbox *sb = crid_sandbox_alloc(NULL);
	char *big = crid_malloc(ann_bytes + 1);

	sb->name = crid_strdup(name);
	sb->namespace = crid_strdup("default");
	sb->uid = crid_strdup(name);
	sb->runtime_handler = crid_strdup("");
	sb->hostname = crid_strdup(name);
	sb->log_directory = crid_strdup("");
	sb->cgroup_parent = crid_strdup("");
	sb->config = crid_malloc(1);
	memset(big, 'a', ann_bytes);
	big[ann_bytes] = '\0';
	crid_kvs_add(&sb->annotations, "big", big);
	crid_free(big);
	return sb;
}

static void test_size_check(void)
{
	struct crid_sandbox_store *s;
	struct crid_sandbox *ok, *big;
	struct crid_err err = { 0 };
	char id[CRID_ID_LEN + 1];
	size_t n;
	bool amb;

	CHECK(crid_sandbox_store_open(root, runroot, &s, &err) == 0, "open: %s", err.msg);
	ok = make("fits", CRID_RECORD_MAX - CRID_RECORD_HEADROOM - 4096);
	CHECK(crid_sandbox_check_size(ok, &err) == 0, "just under the limit fits: %s", err.msg);
	big = make("big", CRID_RECORD_MAX - CRID_RECORD_HEADROOM);
	CHECK(crid_sandbox_check_size(big, &err) < 0 && err.code == EMSGSIZE &&
		  strstr(err.msg, "pod sandbox record of ") && strstr(err.msg, "-byte limit"),
	      "over the limit at creation: EMSGSIZE (%d) `%s`", err.code, err.msg);
	crid_sandbox_free(big);

	memcpy(id, ok->id, sizeof(id));
	CHECK(crid_sandbox_insert(s, ok, &err) == 0 && crid_sandbox_save(s, ok, &err) == 0,
	      "a record under the limit is written");
	/* grown past the limit after creation: the write is refused, the old version kept */
	crid_free(ok->cni_result);
	ok->cni_result = crid_malloc(2 * CRID_RECORD_HEADROOM);
	memset(ok->cni_result, 'r', 2 * CRID_RECORD_HEADROOM - 1);
	ok->cni_result[2 * CRID_RECORD_HEADROOM - 1] = '\0';
	CHECK(crid_sandbox_save(s, ok, &err) < 0 && err.code == EMSGSIZE,
	      "a write over CRID_RECORD_MAX is refused: %s", err.msg);
	crid_sandbox_store_close(s);

	CHECK(crid_sandbox_store_open(root, runroot, &s, &err) == 0, "reopen");
	crid_sandbox_list(s, &n);
	CHECK(n == 1 && crid_sandbox_find(s, id, &amb) &&
		  crid_sandbox_find(s, id, &amb)->cni_result == NULL,
	      "the record written under the limit loads (%zu), as it was", n);
	if (n == 1)
		crid_sandbox_delete(s, crid_sandbox_find(s, id, &amb), NULL);
	crid_sandbox_store_close(s);
}

static void test_invalid_utf8_scrubbed(void)
{
	struct crid_sandbox_store *s;
	struct crid_sandbox *sb, *got;
	struct crid_err err = { 0 };
	char id[CRID_ID_LEN + 1], text[] = "ok \xc3\xa9 cut \xe6\x97";
	size_t n;
	bool amb;

	CHECK(crid_utf8_scrub(text) == 2 && strcmp(text, "ok \xc3\xa9 cut ??") == 0,
	      "scrub keeps valid characters, replaces bad bytes: `%s`", text);
	CHECK(crid_sandbox_store_open(root, runroot, &s, &err) == 0, "open");
	sb = make("u8", 1);
	crid_kvs_add(&sb->labels, "k", "v\xff\xfe");
	memcpy(id, sb->id, sizeof(id));
	CHECK(crid_sandbox_insert(s, sb, &err) == 0 && crid_sandbox_save(s, sb, &err) == 0,
	      "saved");
	crid_sandbox_store_close(s);
	CHECK(crid_sandbox_store_open(root, runroot, &s, &err) == 0, "reopen");
	crid_sandbox_list(s, &n);
	got = crid_sandbox_find(s, id, &amb);
	CHECK(n == 1 && got && strcmp(crid_kvs_get(&got->labels, "k"), "v??") == 0,
	      "a record with bad bytes still loads, scrubbed (%zu)", n);
	if (got)
		crid_sandbox_delete(s, got, NULL);
	crid_sandbox_store_close(s);
}

/* The loader's message for an oversized file once said "File exists" (a stale errno). */
static void test_too_large_message(void)
{
	char path[128], *text = NULL;
	struct crid_err err = { 0 };
	size_t len;
	FILE *f;

	snprintf(path, sizeof(path), "%s/big.json", root);
	f = fopen(path, "w");
	fputs("{\"pad\": \"0123456789\"}", f);
	fclose(f);
	errno = EEXIST;
	CHECK(crid_statefile_read(path, 8, &text, &len, &err) < 0 && err.code == EFBIG &&
		  strstr(err.msg, "over the 8-byte limit") && !strstr(err.msg, "File exists"),
	      "too large says so: `%s`", err.msg);
	crid_free(text);
	remove(path);
}

int main(void)
{
	size_t before;
	char cmd[128];

	snprintf(root, sizeof(root), "/tmp/crid-test-records.XXXXXX");
	if (!mkdtemp(root))
		return 2;
	snprintf(runroot, sizeof(runroot), "%s/run", root);
	before = crid_mem_used();
	test_size_check();
	test_invalid_utf8_scrubbed();
	test_too_large_message();
	CHECK(crid_mem_used() == before, "no bytes left allocated (%zu)", crid_mem_used() - before);
	snprintf(cmd, sizeof(cmd), "rm -rf %s", root);
	if (system(cmd) != 0)
		return 2;
	return tap_done();
}
