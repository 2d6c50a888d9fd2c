/* Unit tests for cli/podconfig.c: pod config files (JSON and YAML) -> PodSandboxConfig. */
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "cli/podconfig.h"
#include "reactor/mem.h"
#include "tap.h"

/* One pod config, written the way crictl's docs and kubelet-minded users write it. */
static const char json_cfg[] =
    "{\n"
    "  \"metadata\": {\"name\": \"nginx-sandbox\", \"namespace\": \"default\",\n"
    "                \"attempt\": 1, \"uid\": \"hdishd83djaidwnduwk28bcsb\"},\n"
    "  \"hostname\": \"nginx\",\n"
    "  \"log_directory\": \"/tmp/pods\",\n"
    "  \"dns_config\": {\"servers\": [\"10.0.0.10\"], \"searches\": [\"svc.local\"],\n"
    "                 \"options\": [\"ndots:5\"]},\n"
    "  \"port_mappings\": [{\"protocol\": 0, \"container_port\": 80, \"host_port\": 8080,\n"
    "                     \"host_ip\": \"127.0.0.1\"},\n"
    "                    {\"protocol\": \"UDP\", \"container_port\": 53}],\n"
    "  \"labels\": {\"app\": \"nginx\", \"version\": \"1\"},\n"
    "  \"annotations\": {\"note\": \"hello\"},\n"
    "  \"linux\": {\n"
    "    \"cgroup_parent\": \"/crid-test\",\n"
    "    \"sysctls\": {\"net.ipv4.ip_forward\": \"1\"},\n"
    "    \"security_context\": {\n"
    "      \"namespace_options\": {\"network\": 2, \"pid\": \"POD\", \"ipc\": 0},\n"
    "      \"privileged\": false,\n"
    "      \"run_as_user\": {\"value\": 1000},\n"
    "      \"supplemental_groups\": [10, 20]\n"
    "    }\n"
    "  }\n"
    "}\n";

/* The same config in YAML: enums by name, a label as a plain number, camelCase names. */
static const char yaml_cfg[] = "# a comment\n"
			       "metadata:\n"
			       "  name: nginx-sandbox\n"
			       "  namespace: default\n"
			       "  attempt: 1\n"
			       "  uid: hdishd83djaidwnduwk28bcsb\n"
			       "hostname: nginx\n"
			       "logDirectory: /tmp/pods\n"
			       "dns_config:\n"
			       "  servers: [10.0.0.10]\n"
			       "  searches:\n"
			       "  - svc.local\n"
			       "  options: [\"ndots:5\"]\n"
			       "port_mappings:\n"
			       "- protocol: TCP\n"
			       "  container_port: 80\n"
			       "  host_port: 8080\n"
			       "  host_ip: 127.0.0.1\n"
			       "- {protocol: 1, container_port: 53}\n"
			       "labels:\n"
			       "  app: nginx\n"
			       "  version: 1\n"
			       "annotations: {note: hello}\n"
			       "linux:\n"
			       "  cgroup_parent: /crid-test\n"
			       "  sysctls:\n"
			       "    net.ipv4.ip_forward: \"1\"\n"
			       "  security_context:\n"
			       "    namespace_options:\n"
			       "      network: NODE\n"
			       "      pid: 0\n"
			       "      ipc: POD\n"
			       "    privileged: false\n"
			       "    run_as_user: {value: 1000}\n"
			       "    supplemental_groups: [10, 20]\n"
			       "---\n"
			       "ignored: second document\n";

static int parse(const char *name, const char *text, Runtime__V1__PodSandboxConfig **out,
		 struct crid_err *err)
{
	return cridctl_config_parse("pod config", name, text, strlen(text),
				    &runtime__v1__pod_sandbox_config__descriptor,
				    (ProtobufCMessage **)out, err);
}

static uint8_t *packed(const Runtime__V1__PodSandboxConfig *c, size_t *len)
{
	uint8_t *buf;

	*len = protobuf_c_message_get_packed_size(&c->base);
	buf = malloc(*len);
	protobuf_c_message_pack(&c->base, buf);
	return buf;
}

static void test_json_equals_yaml(void)
{
	Runtime__V1__PodSandboxConfig *j = NULL, *y = NULL;
	struct crid_err err;
	uint8_t *bj, *by;
	size_t lj, ly;
	int rc;

	rc = parse("pod.json", json_cfg, &j, &err);
	if (!CHECK(rc == 0, "JSON config parses (%s)", rc ? err.msg : "ok"))
		return;
	rc = parse("pod.yaml", yaml_cfg, &y, &err);
	if (!CHECK(rc == 0, "YAML config parses (%s)", rc ? err.msg : "ok")) {
		cridctl_config_free(&j->base);
		return;
	}
	bj = packed(j, &lj);
	by = packed(y, &ly);
	CHECK(lj == ly && memcmp(bj, by, lj) == 0,
	      "JSON and YAML give the same protobuf bytes (%zu, %zu)", lj, ly);
	CHECK(strcmp(j->metadata->name, "nginx-sandbox") == 0 && j->metadata->attempt == 1 &&
		  strcmp(j->metadata->namespace_, "default") == 0,
	      "metadata");
	CHECK(strcmp(y->log_directory, "/tmp/pods") == 0,
	      "camelCase logDirectory is log_directory");
	CHECK(j->dns_config && j->dns_config->n_servers == 1 &&
		  strcmp(j->dns_config->servers[0], "10.0.0.10") == 0 &&
		  strcmp(j->dns_config->options[0], "ndots:5") == 0,
	      "dns_config");
	CHECK(j->n_port_mappings == 2 && j->port_mappings[0]->host_port == 8080 &&
		  j->port_mappings[0]->container_port == 80 &&
		  j->port_mappings[1]->protocol == RUNTIME__V1__PROTOCOL__UDP &&
		  strcmp(j->port_mappings[0]->host_ip, "127.0.0.1") == 0,
	      "port_mappings, protocol by name and number");
	CHECK(y->n_labels == 2 && strcmp(y->labels[1]->key, "version") == 0 &&
		  strcmp(y->labels[1]->value, "1") == 0,
	      "a plain YAML number is a string label value");
	CHECK(j->linux && j->linux->security_context &&
		  j->linux->security_context->namespace_options->network ==
		      RUNTIME__V1__NAMESPACE_MODE__NODE &&
		  j->linux->security_context->run_as_user->value == 1000 &&
		  j->linux->security_context->n_supplemental_groups == 2 &&
		  j->linux->security_context->supplemental_groups[1] == 20,
	      "linux.security_context");
	CHECK(j->linux->n_sysctls == 1 &&
		  strcmp(j->linux->sysctls[0]->key, "net.ipv4.ip_forward") == 0,
	      "sysctls map");
	free(bj);
	free(by);
	cridctl_config_free(&j->base);
	cridctl_config_free(&y->base);
}

/* |text| must fail with exactly |want| as the message. */
static void bad(const char *name, const char *text, const char *want)
{
	Runtime__V1__PodSandboxConfig *c = NULL;
	struct crid_err err = { 0 };
	size_t base = crid_mem_used();
	int rc = parse(name, text, &c, &err);

	CHECK(rc < 0 && strcmp(err.msg, want) == 0, "%s: got \"%s\"", want,
	      rc < 0 ? err.msg : "success");
	if (rc == 0)
		cridctl_config_free(&c->base);
	CHECK(crid_mem_used() == base, "nothing left allocated after: %s", want);
}

static void test_bad_content(void)
{
	bad("x.json", "{\"metadat\": {}}", "pod config `x.json`: unknown field `metadat`");
	bad("x.json",
	    "{\"linux\": {\"security_context\": {\"namespace_options\": {\"netwrk\": 2}}}}",
	    "pod config `x.json`: unknown field `linux.security_context.namespace_options.netwrk`");
	bad("x.json", "{\"port_mappings\": [{\"host_port\": 80}, {\"host_port\": \"x\"}]}",
	    "pod config `x.json`: field `port_mappings[1].host_port`: expected an integer");
	bad("x.json", "{\"port_mappings\": [{\"host_port\": 2.5}]}",
	    "pod config `x.json`: field `port_mappings[0].host_port`: `2.5` is not an int32");
	bad("x.json", "{\"metadata\": {\"attempt\": -1}}",
	    "pod config `x.json`: field `metadata.attempt`: `-1` is not a uint32");
	bad("x.yaml", "linux:\n  security_context:\n    namespace_options:\n      network: HOST\n",
	    "pod config `x.yaml`: field `linux.security_context.namespace_options.network`: "
	    "unknown value `HOST` (POD=0, CONTAINER=1, NODE=2, TARGET=3)");
	bad("x.json", "{\"port_mappings\": [{\"protocol\": 7}]}",
	    "pod config `x.json`: field `port_mappings[0].protocol`: expected one of TCP=0, UDP=1, "
	    "SCTP=2");
	bad("x.json", "{\"labels\": [\"a\"]}",
	    "pod config `x.json`: field `labels`: expected an object of key: value");
	bad("x.json", "{\"labels\": {\"a\": {}}}",
	    "pod config `x.json`: field `labels.a`: expected a string");
	bad("x.json", "{\"hostname\": \"a\", \"hostname\": \"b\"}",
	    "pod config `x.json`: field `hostname`: given twice");
	bad("x.json", "{\"metadata\": []}",
	    "pod config `x.json`: field `metadata`: expected an object");
	bad("x.yaml", "- a\n- b\n", "pod config `x.yaml`: expected an object at the top");
	bad("x.yaml", "", "pod config `x.yaml`: no document");
}

static void test_bad_syntax(void)
{
	bad("x.json", "{\n  \"metadata\": {\n    \"name\": \"a\",,\n  }\n}\n",
	    "pod config `x.json`: line 3: parse error: invalid object key (must be a string)");
	bad("x.json", "{\n  \"metadata\": {\n",
	    "pod config `x.json`: line 3: parse error: "
	    "premature EOF");
	bad("x.yaml", "metadata:\n  name: a\n bad: [\n",
	    "pod config `x.yaml`: line 3: did not find expected key while parsing a block mapping");
	bad("x.yaml", "a: &x {name: b}\nmetadata: *x\n",
	    "pod config `x.yaml`: line 2: aliases are not supported");
}

static char *write_tmp(const char *text)
{
	static char path[64];
	FILE *f;

	snprintf(path, sizeof(path), "/tmp/test_podconfig.XXXXXX");
	close(mkstemp(path));
	f = fopen(path, "w");
	fputs(text, f);
	fclose(f);
	return path;
}

static void test_load(void)
{
	Runtime__V1__PodSandboxConfig *c;
	struct crid_err err;
	char want[256];
	char *path;
	int rc;

	path = write_tmp(yaml_cfg);
	rc = cridctl_podconfig_load(path, &c, &err);
	CHECK(rc == 0 && strcmp(c->hostname, "nginx") == 0, "load a YAML file (%s)",
	      rc ? err.msg : "ok");
	if (rc == 0)
		cridctl_config_free(&c->base);
	unlink(path);

	path = write_tmp("{\"hostname\": \"a\"}");
	snprintf(want, sizeof(want), "pod config `%s`: metadata is not set", path);
	rc = cridctl_podconfig_load(path, &c, &err);
	CHECK(rc < 0 && strcmp(err.msg, want) == 0, "%s", rc < 0 ? err.msg : "loaded");
	unlink(path);

	path = write_tmp("metadata: {name: a}\n");
	snprintf(want, sizeof(want),
		 "pod config `%s`: metadata.name and metadata.namespace must be set", path);
	rc = cridctl_podconfig_load(path, &c, &err);
	CHECK(rc < 0 && strcmp(err.msg, want) == 0, "%s", rc < 0 ? err.msg : "loaded");
	unlink(path);

	rc = cridctl_podconfig_load("/nonexistent/pod.json", &c, &err);
	CHECK(rc < 0 &&
		  strcmp(err.msg, "open `/nonexistent/pod.json`: No such file or directory") == 0,
	      "missing file: %s", err.msg);
}

/* envs[].value is a bytes field: crictl's files give the text itself (not base64). */
static void test_env_values(void)
{
	static const char yaml[] = "metadata: {name: c}\n"
				   "image: {image: busybox}\n"
				   "envs:\n"
				   "- {key: GREETING, value: hello world}\n"
				   "- {key: COUNT, value: 3}\n"
				   "- {key: EMPTY, value: \"\"}\n";
	static const char json[] = "{\"metadata\": {\"name\": \"c\"}, \"envs\": "
				   "[{\"key\": \"A\", \"value\": \"x=y\"}, "
				   "{\"key\": \"B\", \"value\": [1]}]}";
	ProtobufCMessage *m = NULL;
	Runtime__V1__ContainerConfig *c;
	struct crid_err err;
	int rc;

	rc = cridctl_config_parse("container config", "c.yaml", yaml, strlen(yaml),
				  &runtime__v1__container_config__descriptor, &m, &err);
	c = (Runtime__V1__ContainerConfig *)m;
	CHECK(rc == 0 && c->n_envs == 3 && c->envs[0]->value.len == 11 &&
		  memcmp(c->envs[0]->value.data, "hello world", 11) == 0 &&
		  c->envs[1]->value.len == 1 && c->envs[1]->value.data[0] == '3' &&
		  c->envs[2]->value.len == 0,
	      "YAML envs[].value: the text's bytes (%s)", rc ? err.msg : "ok");
	cridctl_config_free(m);
	m = NULL;
	rc = cridctl_config_parse("container config", "c.json", json, strlen(json),
				  &runtime__v1__container_config__descriptor, &m, &err);
	CHECK(rc < 0 && strstr(err.msg, "envs[1].value") && strstr(err.msg, "expected a string"),
	      "a non-scalar value is refused naming the field: %s", rc < 0 ? err.msg : "parsed");
	cridctl_config_free(m);
}

/* Every allocation of ours failing in turn: an error, never a crash or a leak. */
static void test_alloc_failures(void)
{
	size_t base = crid_mem_used();
	bool recovered = false, leak = false;

	for (long n = 1; n < 500 && !recovered; n++) {
		Runtime__V1__PodSandboxConfig *c = NULL;
		struct crid_err err;
		int rc;

		crid_mem_fail_after(n);
		rc = parse("pod.yaml", yaml_cfg, &c, &err);
		crid_mem_fail_after(0);
		if (rc == 0) {
			recovered = true;
			cridctl_config_free(&c->base);
		}
		leak |= crid_mem_used() != base;
	}
	CHECK(recovered && !leak, "allocation failures: errors, no leak, then success");
}

int main(void)
{
	test_json_equals_yaml();
	test_bad_content();
	test_bad_syntax();
	test_load();
	test_env_values();
	test_alloc_failures();
	return tap_done();
}
