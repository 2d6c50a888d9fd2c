/*
 * Unit tests for handlers/request_check: the UTF-8 rules (Go's utf8.Valid),
 * the descriptor walk over real CRI messages decoded by protobuf-c (nested,
 * repeated, map keys and values, oneof-free proto3 optionals) and the
 * largest-field finder.
 */
#include <string.h>

#include "handlers/request_check.h"
#include "io/utf8.h"
#include "proto/api.pb-c.h"
#include "tap.h"

static size_t bad_at(const char *s)
{
	return crid_utf8_invalid_at((const uint8_t *)s, strlen(s));
}

static void test_utf8_rules(void)
{
	static const struct {
		const char *s;
		size_t at; /* strlen(s) when valid */
	} cases[] = {
		{ "", 0 },
		{ "plain ascii", 11 },
		{ "\xc3\xa9t\xc3\xa9", 5 },	   /* é t é */
		{ "\xe6\x97\xa5\xe6\x9c\xac", 6 }, /* 日本 */
		{ "\xf0\x9f\x99\x82", 4 },	   /* U+1F642 */
		{ "\xf4\x8f\xbf\xbf", 4 },	   /* U+10FFFF, the last one */
		{ "\xef\xbf\xbf", 3 },		   /* U+FFFF is a valid scalar value */
		{ "ab\xff", 2 },		   /* never UTF-8 */
		{ "a\x80", 1 },			   /* lone continuation */
		{ "\xc0\xaf", 0 },		   /* overlong '/' */
		{ "\xc1\xbf", 0 },		   /* overlong */
		{ "\xe0\x80\xaf", 0 },		   /* overlong, 3 bytes */
		{ "\xf0\x80\x80\xaf", 0 },	   /* overlong, 4 bytes */
		{ "x\xed\xa0\x80", 1 },		   /* surrogate U+D800 */
		{ "\xed\x9f\xbf", 3 },		   /* U+D7FF, just below */
		{ "\xf4\x90\x80\x80", 0 },	   /* U+110000 */
		{ "\xf5\x80\x80\x80", 0 },	   /* lead byte past F4 */
		{ "abc\xe2\x82", 3 },		   /* truncated */
		{ "\xe2\x28\xa1", 0 },		   /* bad continuation */
	};

	for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
		size_t at = bad_at(cases[i].s);

		CHECK(at == cases[i].at, "utf8 case %zu: first bad byte %zu, want %zu", i, at,
		      cases[i].at);
	}
}

/* Packs |m| and decodes it again, so the walk sees what the router sees. */
static ProtobufCMessage *round_trip(const ProtobufCMessage *m)
{
	static uint8_t buf[4096];
	size_t n = protobuf_c_message_pack(m, buf);

	return protobuf_c_message_unpack(m->descriptor, NULL, n, buf);
}

static void expect(const ProtobufCMessage *m, const char *want_path, size_t want_at,
		   const char *what)
{
	ProtobufCMessage *d = round_trip(m);
	char path[128];
	size_t at = 99;
	bool ok = crid_request_utf8_ok(d, path, sizeof(path), &at);

	if (!want_path)
		CHECK(ok, "%s: accepted (got %s)", what, ok ? "ok" : path);
	else
		CHECK(!ok && strcmp(path, want_path) == 0 && at == want_at,
		      "%s: `%s` at %zu (got %s `%s` at %zu)", what, want_path, want_at,
		      ok ? "ok" : "bad", ok ? "" : path, at);
	protobuf_c_message_free_unpacked(d, NULL);
}

static void test_pod_config_walk(void)
{
	Runtime__V1__RunPodSandboxRequest req = RUNTIME__V1__RUN_POD_SANDBOX_REQUEST__INIT;
	Runtime__V1__PodSandboxConfig cfg = RUNTIME__V1__POD_SANDBOX_CONFIG__INIT;
	Runtime__V1__PodSandboxMetadata md = RUNTIME__V1__POD_SANDBOX_METADATA__INIT;
	Runtime__V1__DNSConfig dns = RUNTIME__V1__DNSCONFIG__INIT;
	Runtime__V1__PodSandboxConfig__LabelsEntry l0 =
	    RUNTIME__V1__POD_SANDBOX_CONFIG__LABELS_ENTRY__INIT;
	Runtime__V1__PodSandboxConfig__LabelsEntry l1 =
	    RUNTIME__V1__POD_SANDBOX_CONFIG__LABELS_ENTRY__INIT;
	Runtime__V1__PodSandboxConfig__LabelsEntry *labels[] = { &l0, &l1 };
	char *servers[] = { "10.0.0.10", "10.0.0.11" };

	md.name = "web-0";
	md.namespace_ = "default";
	md.uid = "\xc3\xa9";
	cfg.metadata = &md;
	l0.key = "app";
	l0.value = "web";
	l1.key = "tier";
	l1.value = "front";
	cfg.labels = labels;
	cfg.n_labels = 2;
	dns.servers = servers;
	dns.n_servers = 2;
	cfg.dns_config = &dns;
	req.config = &cfg;
	req.runtime_handler = "runc";
	expect(&req.base, NULL, 0, "valid pod");

	md.name = "we\xff"
		  "b";
	expect(&req.base, "config.metadata.name", 2, "metadata.name");
	md.name = "web-0";
	md.namespace_ = "\xed\xa0\x80";
	expect(&req.base, "config.metadata.namespace", 0, "metadata.namespace");
	md.namespace_ = "default";
	l1.value = "fr\xc0\xafnt";
	expect(&req.base, "config.labels[\"tier\"]", 2, "label value");
	l1.value = "front";
	l1.key = "ti\x80r";
	expect(&req.base, "config.labels[1].key", 2, "label key");
	l1.key = "tier";
	servers[1] = "10.0.0\xf5";
	expect(&req.base, "config.dns_config.servers[1]", 6, "repeated string");
	servers[1] = "10.0.0.11";
	req.runtime_handler = "r\xe2\x82";
	expect(&req.base, "runtime_handler", 1, "top-level string");
}

static void test_container_walk(void)
{
	Runtime__V1__CreateContainerRequest req = RUNTIME__V1__CREATE_CONTAINER_REQUEST__INIT;
	Runtime__V1__ContainerConfig cfg = RUNTIME__V1__CONTAINER_CONFIG__INIT;
	Runtime__V1__KeyValue e0 = RUNTIME__V1__KEY_VALUE__INIT, e1 = RUNTIME__V1__KEY_VALUE__INIT;
	Runtime__V1__KeyValue *envs[] = { &e0, &e1 };
	Runtime__V1__Mount mnt = RUNTIME__V1__MOUNT__INIT;
	Runtime__V1__Mount *mounts[] = { &mnt };

	/* KeyValue.value is `bytes` in CRI (env values need not be text): only keys count */
	e0.key = "A";
	e0.value = (ProtobufCBinaryData){ 2, (uint8_t *)"\xff\xfe" };
	e1.key = "x\xfe";
	cfg.envs = envs;
	cfg.n_envs = 2;
	req.config = &cfg;
	req.pod_sandbox_id = "abc";
	expect(&req.base, "config.envs[1].key", 1, "env key, with a bytes value that is not text");
	e1.key = "B";
	mnt.container_path = "/data";
	mnt.host_path = "/srv/\xff";
	cfg.mounts = mounts;
	cfg.n_mounts = 1;
	expect(&req.base, "config.mounts[0].host_path", 5, "mount host_path");
}

static void test_path_truncated(void)
{
	Runtime__V1__PodSandboxConfig cfg = RUNTIME__V1__POD_SANDBOX_CONFIG__INIT;
	Runtime__V1__PodSandboxMetadata md = RUNTIME__V1__POD_SANDBOX_METADATA__INIT;
	char path[8];
	size_t at;

	md.name = "\xff";
	cfg.metadata = &md;
	CHECK(!crid_request_utf8_ok(&cfg.base, path, sizeof(path), &at) &&
		  strcmp(path, "metadat") == 0,
	      "a short path buffer truncates: `%s`", path);
}

static void test_largest_field(void)
{
	Runtime__V1__PodSandboxConfig cfg = RUNTIME__V1__POD_SANDBOX_CONFIG__INIT;
	Runtime__V1__PodSandboxConfig__AnnotationsEntry a =
	    RUNTIME__V1__POD_SANDBOX_CONFIG__ANNOTATIONS_ENTRY__INIT;
	Runtime__V1__PodSandboxConfig__AnnotationsEntry *anns[] = { &a, &a, &a };
	static char big[1000];
	char name[64];
	size_t n;

	memset(big, 'x', sizeof(big) - 1);
	n = crid_request_largest_field(&cfg.base, name, sizeof(name));
	CHECK(n == 0 && name[0] == '\0', "empty config: nothing (%zu `%s`)", n, name);
	cfg.hostname = "a-rather-long-hostname";
	a.key = "k";
	a.value = big;
	cfg.annotations = anns;
	cfg.n_annotations = 3;
	n = crid_request_largest_field(&cfg.base, name, sizeof(name));
	CHECK(strcmp(name, "annotations") == 0 && n >= 3 * 999,
	      "annotations are the largest: `%s` %zu", name, n);
}

int main(void)
{
	test_utf8_rules();
	test_pod_config_walk();
	test_container_walk();
	test_path_truncated();
	test_largest_field();
	return tap_done();
}
