/*
 * Protobuf -> JSON as containerd shows CRI configs (Go encoding/json over the
 * cri-api structs): proto field names, zero values left out, an empty but
 * present message kept as {}, enums and int64 as numbers, maps as objects,
 * text that is not UTF-8 shown with U+FFFD.
 */
#include <string.h>
#include <yajl/yajl_gen.h>

#include "handlers/pb_json.h"
#include "proto/api.pb-c.h"
#include "tests/unit/tap.h"

static void check_json(const ProtobufCMessage *m, const char *want)
{
	yajl_gen g = yajl_gen_alloc(NULL);
	const unsigned char *buf;
	size_t len;

	crid_pb_json_gen(g, m);
	yajl_gen_get_buf(g, &buf, &len);
	CHECK(len == strlen(want) && memcmp(buf, want, len) == 0, "want %s\n#  got %.*s", want,
	      (int)len, buf);
	yajl_gen_free(g);
}

int main(void)
{
	Runtime__V1__ContainerConfig c = RUNTIME__V1__CONTAINER_CONFIG__INIT;
	Runtime__V1__ContainerMetadata md = RUNTIME__V1__CONTAINER_METADATA__INIT;
	Runtime__V1__KeyValue kv = RUNTIME__V1__KEY_VALUE__INIT, *envs[] = { &kv };
	Runtime__V1__ContainerConfig__LabelsEntry
	    le = RUNTIME__V1__CONTAINER_CONFIG__LABELS_ENTRY__INIT,
	    *labels[] = { &le };
	Runtime__V1__LinuxContainerConfig lx = RUNTIME__V1__LINUX_CONTAINER_CONFIG__INIT;
	Runtime__V1__LinuxContainerResources res = RUNTIME__V1__LINUX_CONTAINER_RESOURCES__INIT;
	Runtime__V1__LinuxContainerSecurityContext sc =
	    RUNTIME__V1__LINUX_CONTAINER_SECURITY_CONTEXT__INIT;
	Runtime__V1__NamespaceOption ns = RUNTIME__V1__NAMESPACE_OPTION__INIT;
	char *cmd[] = { "/bin/sleep" };
	static uint8_t raw[] = { 'a', 0xff, 'b' };

	check_json(NULL, "null");
	check_json(&c.base, "{}");
	md.name = "web";
	c.metadata = &md;
	c.command = cmd;
	c.n_command = 1;
	kv.key = "RAW";
	kv.value.data = raw;
	kv.value.len = sizeof(raw);
	c.envs = envs;
	c.n_envs = 1;
	le.key = "tier";
	le.value = "front";
	c.labels = (void *)labels;
	c.n_labels = 1;
	c.log_path = "web.log";
	c.tty = 0; /* false: left out */
	res.memory_limit_in_bytes = 5000000000LL;
	ns.pid = RUNTIME__V1__NAMESPACE_MODE__CONTAINER;
	sc.namespace_options = &ns;
	lx.resources = &res;
	lx.security_context = &sc;
	c.linux = &lx;
	check_json(&c.base, "{\"metadata\":{\"name\":\"web\"},\"command\":[\"/bin/sleep\"],"
			    "\"envs\":[{\"key\":\"RAW\",\"value\":\"a\xef\xbf\xbd"
			    "b\"}],\"labels\":{\"tier\":\"front\"},\"log_path\":\"web.log\","
			    "\"linux\":{\"resources\":{\"memory_limit_in_bytes\":5000000000},"
			    "\"security_context\":{\"namespace_options\":{\"pid\":1}}}}");
	return tap_done();
}
