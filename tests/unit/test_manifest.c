/* Manifests, indexes and image configs from JSON strings; platform choice; chain IDs. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "reactor/mem.h"
#include "runtime/image/manifest.h"
#include "tests/unit/tap.h"

#define HA "ca978112ca1bbdcafac231b39a23dc4da786eff8147c4e72b9807785afee48bb" /* sha256("a") */
#define HB "3e23e8160039594a33894f6564e1b1348bbd7a0088d42c4acb73eeaed59c009d" /* sha256("b") */
#define HC "2e7d2c03a9507ae265ecf5b5356885a53393a2029d241394997265a1a25aefc6" /* sha256("c") */
#define DA "sha256:" HA
#define DB "sha256:" HB
#define DC "sha256:" HC

#define DESC(mt, d, sz) "{\"mediaType\":\"" mt "\",\"digest\":\"" d "\",\"size\":" #sz "}"
#define PLAT(mt, d, os, arch, extra)                                                               \
	"{\"mediaType\":\"" mt "\",\"digest\":\"" d "\",\"size\":10,\"platform\":{\"os\":\"" os    \
	"\",\"architecture\":\"" arch "\"" extra "}}"

static const char oci_manifest[] =
    "{\"schemaVersion\":2,\"mediaType\":\"" CRID_MT_OCI_MANIFEST
    "\",\"config\":" DESC(CRID_MT_OCI_CONFIG, DA, 123) ",\"layers\":[" DESC(
	"application/vnd.oci.image.layer.v1.tar+gzip", DB,
	456) "," DESC("application/vnd.oci.image.layer.v1.tar+zstd", DC,
		      0) "," DESC("application/vnd.oci.image.layer.v1.tar", DA,
				  1) "],\"annotations\":{\"org.opencontainers.image.ref.name\":\"1."
				     "0\"}}";

static const char docker_manifest[] =
    "{\"schemaVersion\":2,\"mediaType\":\"" CRID_MT_DOCKER_MANIFEST
    "\",\"config\":" DESC(CRID_MT_DOCKER_CONFIG, DA, 7) ",\"layers\":[" DESC(
	"application/vnd.docker.image.rootfs.diff.tar.gzip", DB,
	8) "," DESC("application/vnd.docker.image.rootfs.foreign.diff.tar.gzip", DC, 9) "]}";

static const char index_json[] =
    "{\"schemaVersion\":2,\"mediaType\":\"" CRID_MT_OCI_INDEX
    "\",\"manifests\":[" PLAT(CRID_MT_OCI_MANIFEST, DA, "linux", "arm64", ",\"variant\":\"v8\"") "," PLAT(
	CRID_MT_OCI_MANIFEST, DB, "linux", "amd64",
	"") "," PLAT(CRID_MT_OCI_MANIFEST, DC, "linux", "arm",
		     ",\"variant\":\"v7\"") "," PLAT(CRID_MT_OCI_MANIFEST, DC, "windows", "amd64",
						     "") ",{\"mediaType\":"
							 "\"" CRID_MT_OCI_MANIFEST "\",\"digest\":"
							 "\"" DA "\",\"size\":5,"
							 "\"annotations\":{"
							 "\"vnd.docker."
							 "reference.type\":"
							 "\"attestation-"
							 "manifest\"},"
							 "\"platform\":{"
							 "\"os\":"
							 "\"unknown\","
							 "\"architecture\":"
							 "\"unknown\"}},"
							 "{\"mediaType\":"
							 "\"application/"
							 "vnd.example+"
							 "json\","
							 "\"digest\":"
							 "\"" DA "\",\"size\":1}]}";

static void test_oci_manifest(void)
{
	struct crid_manifest m;
	struct crid_err err = { 0 };
	size_t base = crid_mem_used();

	if (!CHECK(crid_manifest_parse(NULL, oci_manifest, strlen(oci_manifest), &m, &err) == 0,
		   "OCI manifest: %s", err.msg))
		return;
	CHECK(m.kind == CRID_DOC_OCI_MANIFEST && m.n_layers == 3, "kind and layer count");
	CHECK(strcmp(m.config.digest, DA) == 0 && m.config.size == 123 &&
		  strcmp(m.config.media_type, CRID_MT_OCI_CONFIG) == 0,
	      "config descriptor");
	CHECK(m.layers[0].compression == CRID_COMPRESSION_GZIP && m.layers[0].size == 456 &&
		  strcmp(m.layers[0].digest, DB) == 0 && !m.layers[0].foreign,
	      "gzip layer");
	CHECK(m.layers[1].compression == CRID_COMPRESSION_ZSTD && m.layers[1].size == 0,
	      "zstd layer");
	CHECK(m.layers[2].compression == CRID_COMPRESSION_NONE, "tar layer");
	CHECK(m.annotations.n == 1 && strcmp(m.annotations.v[0].value, "1.0") == 0, "annotations");
	crid_manifest_free(&m);
	CHECK(crid_mem_used() == base, "manifest freed");
	CHECK(crid_manifest_kind(NULL, oci_manifest, strlen(oci_manifest)) == CRID_DOC_OCI_MANIFEST,
	      "kind of OCI manifest");
}

static void test_docker_manifest(void)
{
	struct crid_manifest m;
	struct crid_err err = { 0 };

	if (!CHECK(crid_manifest_parse(CRID_MT_DOCKER_MANIFEST, docker_manifest,
				       strlen(docker_manifest), &m, &err) == 0,
		   "Docker schema2: %s", err.msg))
		return;
	CHECK(m.kind == CRID_DOC_DOCKER_MANIFEST && m.n_layers == 2 &&
		  m.layers[0].compression == CRID_COMPRESSION_GZIP && !m.layers[0].foreign &&
		  m.layers[1].foreign,
	      "docker layers, foreign flagged");
	crid_manifest_free(&m);
}

/* An OCI manifest without mediaType in the body: the Content-Type decides. */
static void test_content_type(void)
{
	static const char body[] =
	    "{\"schemaVersion\":2,\"config\":" DESC(CRID_MT_OCI_CONFIG, DA, 1) ",\"layers\":[]}";
	struct crid_manifest m;
	struct crid_err err = { 0 };

	CHECK(crid_manifest_parse(CRID_MT_OCI_MANIFEST "; charset=utf-8", body, strlen(body), &m,
				  &err) == 0 &&
		  m.kind == CRID_DOC_OCI_MANIFEST && m.n_layers == 0,
	      "content type with parameters: %s", err.msg);
	crid_manifest_free(&m);
	CHECK(crid_manifest_parse("application/json", body, strlen(body), &m, &err) == 0,
	      "shape decides with a generic content type: %s", err.msg);
	crid_manifest_free(&m);
	CHECK(crid_manifest_kind(CRID_MT_DOCKER_LIST, "{}", 2) == CRID_DOC_DOCKER_LIST,
	      "kind from content type");
	CHECK(crid_manifest_kind(NULL, "[", 1) == CRID_DOC_UNKNOWN, "kind of garbage");
}

static void test_index(void)
{
	struct crid_index idx;
	struct crid_platform p;
	const struct crid_descriptor *d;
	struct crid_err err = { 0 };
	size_t base = crid_mem_used();

	if (!CHECK(crid_index_parse(NULL, index_json, strlen(index_json), &idx, &err) == 0,
		   "OCI index: %s", err.msg))
		return;
	CHECK(idx.kind == CRID_DOC_OCI_INDEX && idx.n_manifests == 4 && idx.n_skipped == 2,
	      "attestation and unknown type skipped: %zu kept %zu skipped", idx.n_manifests,
	      idx.n_skipped);
	crid_platform_from_machine("x86_64", &p);
	CHECK(crid_index_select(&idx, &p, &d, &err) == 0 && strcmp(d->digest, DB) == 0,
	      "amd64 picks its manifest");
	crid_platform_from_machine("aarch64", &p);
	CHECK(crid_index_select(&idx, &p, &d, &err) == 0 && strcmp(d->digest, DA) == 0,
	      "arm64 matches arm64/v8");
	crid_platform_from_machine("armv7l", &p);
	CHECK(crid_index_select(&idx, &p, &d, &err) == 0 && strcmp(d->digest, DC) == 0 &&
		  strcmp(d->platform.os, "linux") == 0,
	      "arm/v7 picks linux arm, not windows");
	crid_platform_from_machine("s390x", &p);
	CHECK(crid_index_select(&idx, &p, &d, &err) == -1 && !d &&
		  strstr(err.msg, "no manifest for linux/s390x") &&
		  strstr(err.msg, "linux/arm64/v8, linux/amd64"),
	      "no match names what is on offer: %s", err.msg);
	crid_platform_host(&p);
	CHECK(strcmp(p.os, "linux") == 0 && p.architecture[0], "host platform %s/%s%s", p.os,
	      p.architecture, p.variant);
	crid_index_free(&idx);
	CHECK(crid_mem_used() == base, "index freed");
}

static void test_platform_fallbacks(void)
{
	static const char list[] =
	    "{\"schemaVersion\":2,\"mediaType\":\"" CRID_MT_DOCKER_LIST
	    "\",\"manifests\":[" PLAT(CRID_MT_DOCKER_MANIFEST, DA, "linux", "386", "") "," PLAT(
		CRID_MT_DOCKER_MANIFEST, DB, "Linux", "arm",
		",\"variant\":\"v5\"") "," PLAT(CRID_MT_DOCKER_MANIFEST, DC, "linux", "arm",
						",\"variant\":\"6\"") "]}";
	struct crid_index idx;
	struct crid_platform p;
	const struct crid_descriptor *d;
	struct crid_err err = { 0 };

	if (!CHECK(crid_index_parse(NULL, list, strlen(list), &idx, &err) == 0 &&
		       idx.kind == CRID_DOC_DOCKER_LIST,
		   "docker manifest list: %s", err.msg))
		return;
	crid_platform_from_machine("x86_64", &p);
	CHECK(crid_index_select(&idx, &p, &d, &err) == 0 && strcmp(d->digest, DA) == 0,
	      "amd64 falls back to 386");
	crid_platform_from_machine("aarch64", &p);
	CHECK(crid_index_select(&idx, &p, &d, &err) == 0 && strcmp(d->digest, DC) == 0,
	      "arm64 prefers arm/v6 (written \"6\") over v5");
	crid_platform_from_machine("armv5tel", &p);
	CHECK(crid_index_select(&idx, &p, &d, &err) == 0 && strcmp(d->digest, DB) == 0,
	      "arm/v5 takes v5 only");
	crid_platform_from_machine("ppc64le", &p);
	CHECK(crid_index_select(&idx, &p, &d, &err) == -1, "ppc64le: none");
	CHECK(!crid_platform_from_machine("pdp11", &p), "unknown machine");
	crid_index_free(&idx);
}

static const struct {
	const char *what, *json, *msg;
} bad_manifests[] = {
	{ "not JSON", "{", "bad JSON" },
	{ "array root", "[]", "not a JSON object" },
	{ "comment", "{/* x */}", "unexpected '/'" },
	{ "schema1", "{\"schemaVersion\":1,\"name\":\"x\",\"tag\":\"y\",\"fsLayers\":[]}",
	  "schema1 manifests are not supported" },
	{ "schema1 signed",
	  "{\"mediaType\":\"application/vnd.docker.distribution.manifest.v1+prettyjws\"}",
	  "schema1" },
	{ "index given to manifest parser",
	  "{\"schemaVersion\":2,\"mediaType\":\"" CRID_MT_OCI_INDEX "\",\"manifests\":[]}",
	  "got a OCI image index" },
	{ "unknown type", "{\"schemaVersion\":2,\"mediaType\":\"text/plain\"}",
	  "unknown media type `text/plain`" },
	{ "mediaType number", "{\"schemaVersion\":2,\"mediaType\":5}",
	  "mediaType: must be a string" },
	{ "schemaVersion 3", "{\"schemaVersion\":3,\"mediaType\":\"" CRID_MT_OCI_MANIFEST "\"}",
	  "must be 2" },
	{ "no schemaVersion", "{\"mediaType\":\"" CRID_MT_OCI_MANIFEST "\"}",
	  "schemaVersion: missing" },
	{ "no config",
	  "{\"schemaVersion\":2,\"mediaType\":\"" CRID_MT_OCI_MANIFEST "\",\"layers\":[]}",
	  "config: missing" },
	{ "no layers",
	  "{\"schemaVersion\":2,\"mediaType\":\"" CRID_MT_OCI_MANIFEST
	  "\",\"config\":" DESC(CRID_MT_OCI_CONFIG, DA, 1) "}",
	  "layers: missing" },
	{ "layers object",
	  "{\"schemaVersion\":2,\"mediaType\":\"" CRID_MT_OCI_MANIFEST
	  "\",\"config\":" DESC(CRID_MT_OCI_CONFIG, DA, 1) ",\"layers\":{}}",
	  "layers: must be an array" },
	{ "bad digest",
	  "{\"schemaVersion\":2,\"mediaType\":\"" CRID_MT_OCI_MANIFEST
	  "\",\"config\":" DESC(CRID_MT_OCI_CONFIG, "sha256:abc", 1) ",\"layers\":[]}",
	  "config.digest: `sha256:abc` is not" },
	{ "uppercase digest",
	  "{\"schemaVersion\":2,\"mediaType\":\"" CRID_MT_OCI_MANIFEST "\",\"config\":" DESC(
	      CRID_MT_OCI_CONFIG,
	      "sha256:CA978112CA1BBDCAFAC231B39A23DC4DA786EFF8147C4E72B9807785AFEE48BB",
	      1) ",\"layers\":[]}",
	  "config.digest" },
	{ "sha512 digest",
	  "{\"schemaVersion\":2,\"mediaType\":\"" CRID_MT_OCI_MANIFEST
	  "\",\"config\":" DESC(CRID_MT_OCI_CONFIG, "sha512:" HA HA, 1) ",\"layers\":[]}",
	  "config.digest" },
	{ "negative size",
	  "{\"schemaVersion\":2,\"mediaType\":\"" CRID_MT_OCI_MANIFEST
	  "\",\"config\":" DESC(CRID_MT_OCI_CONFIG, DA, -1) ",\"layers\":[]}",
	  "config.size: must be a non-negative integer" },
	{ "float size",
	  "{\"schemaVersion\":2,\"mediaType\":\"" CRID_MT_OCI_MANIFEST
	  "\",\"config\":" DESC(CRID_MT_OCI_CONFIG, DA, 1.5) ",\"layers\":[]}",
	  "config.size" },
	{ "huge size",
	  "{\"schemaVersion\":2,\"mediaType\":\"" CRID_MT_OCI_MANIFEST
	  "\",\"config\":" DESC(CRID_MT_OCI_CONFIG, DA, 99999999999999999999) ",\"layers\":[]}",
	  "config.size" },
	{ "string size",
	  "{\"schemaVersion\":2,\"mediaType\":\"" CRID_MT_OCI_MANIFEST
	  "\",\"config\":" DESC(CRID_MT_OCI_CONFIG, DA, "1") ",\"layers\":[]}",
	  "config.size" },
	{ "missing size",
	  "{\"schemaVersion\":2,\"mediaType\":\"" CRID_MT_OCI_MANIFEST
	  "\",\"config\":{\"mediaType\":\"" CRID_MT_OCI_CONFIG "\",\"digest\":\"" DA
	  "\"},\"layers\":[]}",
	  "config.size: missing" },
	{ "artifact config",
	  "{\"schemaVersion\":2,\"mediaType\":\"" CRID_MT_OCI_MANIFEST "\",\"config\":" DESC(
	      "application/vnd.cncf.helm.config.v1+json", DA, 1) ",\"layers\":[]}",
	  "is not a container image config" },
	{ "unknown layer type",
	  "{\"schemaVersion\":2,\"mediaType\":\"" CRID_MT_OCI_MANIFEST
	  "\",\"config\":" DESC(CRID_MT_OCI_CONFIG, DA, 1) ",\"layers\":[" DESC(
	      "application/vnd.oci.image.layer.v1.tar+gzip", DA, 1) "," DESC("application/x-rar",
									     DB, 1) "]}",
	  "layers[1].mediaType: unsupported layer type `application/x-rar`" },
	{ "layer missing digest",
	  "{\"schemaVersion\":2,\"mediaType\":\"" CRID_MT_OCI_MANIFEST
	  "\",\"config\":" DESC(CRID_MT_OCI_CONFIG, DA, 1) ",\"layers\":[{\"mediaType\":\"x\"}]}",
	  "layers[0].digest: missing" },
	{ "layer not object",
	  "{\"schemaVersion\":2,\"mediaType\":\"" CRID_MT_OCI_MANIFEST
	  "\",\"config\":" DESC(CRID_MT_OCI_CONFIG, DA, 1) ",\"layers\":[1]}",
	  "layers[0]: must be an object" },
	{ "annotation not string",
	  "{\"schemaVersion\":2,\"mediaType\":\"" CRID_MT_OCI_MANIFEST "\",\"config\":" DESC(
	      CRID_MT_OCI_CONFIG, DA, 1) ",\"layers\":[],\"annotations\":{\"a\":1}}",
	  "annotations[\"a\"]: must be a string" },
	{ "duplicate key",
	  "{\"schemaVersion\":2,\"mediaType\":\"" CRID_MT_OCI_MANIFEST
	  "\",\"config\":" DESC(CRID_MT_OCI_CONFIG, DA, 1) ",\"layers\":[],\"layers\":[]}",
	  "duplicate key `layers`" },
	{ "NUL byte", "{\"a\":1}\0junk", "NUL byte" },
};

static void test_bad_manifests(void)
{
	struct crid_manifest m;
	struct crid_err err;
	size_t base = crid_mem_used();

	for (size_t i = 0; i < sizeof(bad_manifests) / sizeof(bad_manifests[0]); i++) {
		const char *j = bad_manifests[i].json;
		size_t len = strlen(j) + (strcmp(bad_manifests[i].what, "NUL byte") == 0 ? 5 : 0);

		memset(&err, 0, sizeof(err));
		CHECK(crid_manifest_parse(NULL, j, len, &m, &err) == -1 &&
			  strstr(err.msg, bad_manifests[i].msg) && m.layers == NULL,
		      "%s: %s", bad_manifests[i].what, err.msg);
	}
	CHECK(crid_mem_used() == base, "nothing leaked on errors");
}

static void test_bad_index(void)
{
	static const char *bad[][2] = {
		{ "{\"schemaVersion\":2,\"mediaType\":\"" CRID_MT_OCI_INDEX "\"}",
		  "manifests: missing" },
		{ "{\"schemaVersion\":2,\"mediaType\":\"" CRID_MT_OCI_INDEX "\",\"manifests\":{}}",
		  "manifests: must be an array" },
		{ "{\"schemaVersion\":2,\"mediaType\":\"" CRID_MT_OCI_INDEX
		  "\",\"manifests\":[" PLAT(CRID_MT_OCI_MANIFEST, DA, "linux", "amd64",
					    "") "," PLAT(CRID_MT_OCI_MANIFEST, "sha256:zz", "linux",
							 "amd64", "") "]}",
		  "manifests[1].digest" },
		{ "{\"schemaVersion\":2,\"mediaType\":\"" CRID_MT_OCI_INDEX
		  "\",\"manifests\":[{\"mediaType\":\"" CRID_MT_OCI_MANIFEST "\",\"digest\":\"" DA
		  "\",\"size\":1,\"platform\":{\"os\":\"linux\"}}]}",
		  "manifests[0].platform.architecture: missing" },
		{ "{\"schemaVersion\":2,\"mediaType\":\"" CRID_MT_OCI_INDEX
		  "\",\"manifests\":[{\"mediaType\":\"" CRID_MT_OCI_MANIFEST "\",\"digest\":\"" DA
		  "\",\"size\":1,\"platform\":[]}]}",
		  "manifests[0].platform: must be an object" },
		{ oci_manifest, "got a OCI image manifest" },
	};
	struct crid_index idx;
	struct crid_err err;
	size_t base = crid_mem_used();

	for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
		memset(&err, 0, sizeof(err));
		CHECK(crid_index_parse(NULL, bad[i][0], strlen(bad[i][0]), &idx, &err) == -1 &&
			  strstr(err.msg, bad[i][1]),
		      "bad index %zu: %s", i, err.msg);
	}
	CHECK(crid_mem_used() == base, "nothing leaked on index errors");
}

static void test_limits(void)
{
	size_t n = CRID_MANIFEST_MAX + 1, depth = 100000;
	char *big = malloc(n > 2 * depth ? n : 2 * depth);
	struct crid_manifest m;
	struct crid_image_config c;
	struct crid_err err = { 0 };

	if (!big)
		return;
	memset(big, ' ', n);
	big[0] = '{';
	big[n - 1] = '}';
	CHECK(crid_manifest_parse(NULL, big, n, &m, &err) == -1 && strstr(err.msg, "over the"),
	      "over 4 MiB refused: %s", err.msg);
	CHECK(crid_image_config_parse(big, n, &c, &err) == -1 && strstr(err.msg, "rootfs"),
	      "a 4 MiB config is fine up to its schema: %s", err.msg);
	for (size_t i = 0; i < depth; i++)
		big[i] = '[', big[2 * depth - 1 - i] = ']';
	CHECK(crid_manifest_parse(NULL, big, 2 * depth, &m, &err) == -1 &&
		  strstr(err.msg, "nested deeper than 64"),
	      "deep nesting refused before yajl: %s", err.msg);
	memcpy(big, "{\"a\":\"[[[[[[[[[[\"}", 17);
	memset(big + 6, '[', 100);
	memcpy(big + 106, "\"}", 2);
	CHECK(crid_manifest_parse(NULL, big, 108, &m, &err) == -1 && !strstr(err.msg, "nested"),
	      "brackets inside strings do not count: %s", err.msg);
	free(big);
}

static const char config_json[] =
    "{\"architecture\":\"amd64\",\"os\":\"linux\",\"created\":\"2024-01-02T03:04:05Z\","
    "\"config\":{\"User\":\"1000:1000\",\"Env\":[\"PATH=/bin\",\"A=b\"],"
    "\"Entrypoint\":[\"/bin/sh\",\"-c\"],\"Cmd\":null,\"WorkingDir\":\"/app\","
    "\"Labels\":{\"maintainer\":\"me\",\"v\":\"1\"},\"StopSignal\":\"SIGQUIT\","
    "\"ExposedPorts\":{\"80/tcp\":{},\"53/udp\":{}},\"Volumes\":{\"/data\":{}},\"OnBuild\":null},"
    "\"rootfs\":{\"type\":\"layers\",\"diff_ids\":[\"" DA "\",\"" DB "\",\"" DC "\"]},"
    "\"history\":[{\"created\":\"2024\",\"created_by\":\"ADD x\"},{\"empty_layer\":true}]}";

static void test_config(void)
{
	struct crid_image_config c;
	struct crid_err err = { 0 };
	size_t base = crid_mem_used();

	if (!CHECK(crid_image_config_parse(config_json, strlen(config_json), &c, &err) == 0,
		   "image config: %s", err.msg))
		return;
	CHECK(!strcmp(c.architecture, "amd64") && !strcmp(c.os, "linux") &&
		  !strcmp(c.variant, "") && !strcmp(c.created, "2024-01-02T03:04:05Z"),
	      "platform and created");
	CHECK(!strcmp(c.user, "1000:1000") && !strcmp(c.working_dir, "/app") &&
		  !strcmp(c.stop_signal, "SIGQUIT"),
	      "user, workdir, stop signal");
	CHECK(c.env.n == 2 && !strcmp(c.env.v[1], "A=b") && c.env.v[2] == NULL, "env");
	CHECK(c.entrypoint.n == 2 && c.cmd.n == 0 && c.cmd.v == NULL, "entrypoint, null cmd");
	CHECK(c.labels.n == 2 && !strcmp(c.labels.v[0].key, "maintainer") &&
		  !strcmp(c.labels.v[1].value, "1"),
	      "labels");
	CHECK(c.exposed_ports.n == 2 && !strcmp(c.exposed_ports.v[1], "53/udp"), "exposed ports");
	CHECK(c.volumes.n == 1 && !strcmp(c.volumes.v[0], "/data"), "volumes");
	CHECK(c.diff_ids.n == 3 && !strcmp(c.diff_ids.v[2], DC), "diff ids");
	CHECK(c.n_history == 2 && !strcmp(c.history[0].created_by, "ADD x") &&
		  !c.history[0].empty_layer && c.history[1].empty_layer,
	      "history");
	crid_image_config_free(&c);
	CHECK(crid_mem_used() == base, "config freed");
}

static void test_bad_configs(void)
{
	static const char *bad[][2] = {
		{ "{}", "rootfs: missing" },
		{ "{\"rootfs\":{\"type\":\"layers\"}}", "rootfs.diff_ids: missing" },
		{ "{\"rootfs\":{\"type\":\"tar\",\"diff_ids\":[]}}", "rootfs.type" },
		{ "{\"rootfs\":{\"type\":\"layers\",\"diff_ids\":[\"sha256:1\"]}}",
		  "rootfs.diff_ids[0]" },
		{ "{\"rootfs\":{\"type\":\"layers\",\"diff_ids\":[1]}}",
		  "rootfs.diff_ids[0]: must be a string" },
		{ "{\"architecture\":1,\"rootfs\":{\"type\":\"layers\",\"diff_ids\":[]}}",
		  "architecture: must be a string" },
		{ "{\"config\":{\"Env\":\"A=b\"},\"rootfs\":{\"type\":\"layers\",\"diff_ids\":[]}}",
		  "config.Env: must be an array" },
		{ "{\"config\":{\"Cmd\":[\"a\",2]},\"rootfs\":{\"type\":\"layers\",\"diff_ids\":[]}"
		  "}",
		  "config.Cmd[1]: must be a string" },
		{ "{\"config\":{\"Labels\":{\"a\":[]}},\"rootfs\":{\"type\":\"layers\",\"diff_"
		  "ids\":[]}}",
		  "config.Labels[\"a\"]" },
		{ "{\"config\":{\"Labels\":{\"a\":\"1\",\"a\":\"2\"}},\"rootfs\":{\"type\":"
		  "\"layers\","
		  "\"diff_ids\":[]}}",
		  "duplicate key `a`" },
		{ "{\"config\":[],\"rootfs\":{\"type\":\"layers\",\"diff_ids\":[]}}",
		  "config: must be an object" },
		{ "{\"history\":[{\"empty_layer\":1}],\"rootfs\":{\"type\":\"layers\",\"diff_ids\":"
		  "[]}}",
		  "history[0].empty_layer: must be a boolean" },
		{ "{\"history\":{},\"rootfs\":{\"type\":\"layers\",\"diff_ids\":[]}}",
		  "history: must be an array" },
	};
	struct crid_image_config c;
	struct crid_err err;
	size_t base = crid_mem_used();

	for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
		memset(&err, 0, sizeof(err));
		CHECK(crid_image_config_parse(bad[i][0], strlen(bad[i][0]), &c, &err) == -1 &&
			  strstr(err.msg, bad[i][1]) && strncmp(err.msg, "image config", 12) == 0,
		      "bad config %zu: %s", i, err.msg);
	}
	CHECK(crid_mem_used() == base, "nothing leaked on config errors");
	CHECK(crid_image_config_parse("{\"rootfs\":{\"type\":\"layers\",\"diff_ids\":[]}}", 42, &c,
				      &err) == 0 &&
		  c.user && !c.user[0] && c.diff_ids.n == 0,
	      "minimal config: %s", err.msg);
	crid_image_config_free(&c);
}

/* Failing allocations at every step: an error, never a crash or a leak. */
static void test_alloc_failures(void)
{
	size_t base = crid_mem_used();
	int failures = 0, i;

	for (i = 1; i < 200; i++) {
		struct crid_image_config c;
		struct crid_manifest m;
		struct crid_index idx;
		struct crid_err err;
		int r = 0;

		crid_mem_fail_after(i);
		r |= crid_image_config_parse(config_json, strlen(config_json), &c, &err);
		if (r == 0)
			crid_image_config_free(&c);
		crid_mem_fail_after(i);
		if (crid_manifest_parse(NULL, oci_manifest, strlen(oci_manifest), &m, &err) == 0)
			crid_manifest_free(&m);
		else
			r = -1;
		crid_mem_fail_after(i);
		if (crid_index_parse(NULL, index_json, strlen(index_json), &idx, &err) == 0)
			crid_index_free(&idx);
		else
			r = -1;
		crid_mem_fail_after(0);
		if (r == 0)
			break;
		failures++;
	}
	CHECK(failures > 10 && i < 200 && crid_mem_used() == base,
	      "%d injected allocation failures handled without leaks", failures);
}

static void test_chain_ids(void)
{
	char *diff[] = { DA, DB, DC };
	char out[3][CRID_DIGEST_LEN + 1], d[CRID_DIGEST_LEN + 1];
	struct crid_err err = { 0 };
	char *bad[] = { DA, "sha256:x" };

	/* Expected values from: printf '%s %s' "$prev" "$diff" | sha256sum */
	CHECK(crid_chain_ids(diff, 3, out, &err) == 0 && strcmp(out[0], DA) == 0 &&
		  strcmp(out[1],
			 "sha256:51c0c8ace48498d6f5fee6b0592cc06f2da0f3cbe09c5a34a97dce85c388"
			 "9676") == 0 &&
		  strcmp(out[2], "sha256:2fce7f8ce91bcf0a1428b36e1024639fdbd9469eea762dba98aa7496"
				 "31885106") == 0,
	      "chain ids %s %s", out[1], out[2]);
	CHECK(crid_chain_ids(bad, 2, out, &err) == -1 && strstr(err.msg, "diff ID 1"),
	      "bad diff id: %s", err.msg);
	CHECK(crid_sha256_digest("a", 1, d, &err) == 0 && strcmp(d, DA) == 0, "sha256 of \"a\"");
	CHECK(strstr(crid_manifest_accept(), CRID_MT_OCI_INDEX) == crid_manifest_accept() &&
		  strstr(crid_manifest_accept(), CRID_MT_DOCKER_MANIFEST),
	      "accept list: %s", crid_manifest_accept());
}

int main(void)
{
	test_oci_manifest();
	test_docker_manifest();
	test_content_type();
	test_index();
	test_platform_fallbacks();
	test_bad_manifests();
	test_bad_index();
	test_limits();
	test_config();
	test_bad_configs();
	test_alloc_failures();
	test_chain_ids();
	return tap_done();
}
