/*
 * cridctl verbs of the runtime's identity: version and runtime-config (info
 * is in info.c). Output mirrors crictl (cri-tools cmd/crictl/version.go,
 * runtime_config.go). Prints through json.c, calls the daemon through rpc.c.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "cli/cridctl.h"
#include "proto/api.pb-c.h"
#include "reactor/mem.h"

/* --- version ---------------------------------------------------------------- */

static void version_json(const Runtime__V1__VersionResponse *r)
{
	yajl_gen g = cridctl_json_new();

	if (!g)
		return;
	yajl_gen_map_open(g);
	cridctl_json_kv_str(g, "version", r->version);
	cridctl_json_kv_str(g, "runtimeName", r->runtime_name);
	cridctl_json_kv_str(g, "runtimeVersion", r->runtime_version);
	cridctl_json_kv_str(g, "runtimeApiVersion", r->runtime_api_version);
	yajl_gen_map_close(g);
	cridctl_json_print(g, stdout);
}

int cridctl_version(struct cridctl *ctl, int argc, char **argv)
{
	static const char usage[] = "Usage: cridctl version [-o json|table]\n"
				    "Display runtime version information\n";
	Runtime__V1__VersionRequest req = RUNTIME__V1__VERSION_REQUEST__INIT;
	Runtime__V1__VersionResponse *r;
	enum cridctl_output out;
	int rc = cridctl_verb_opts(ctl, argc, argv, usage, NULL);

	if (rc)
		return rc < 0;
	out = cridctl_output_for(ctl, "version", CRIDCTL_OUT_TABLE | CRIDCTL_OUT_JSON,
				 CRIDCTL_OUT_TABLE);
	if (!out)
		return 1;
	req.version = "v1"; /* what crictl sends (cri-client CRIVersionV1) */
	if (cridctl_call(ctl, "Version", &req.base, &runtime__v1__version_response__descriptor,
			 (ProtobufCMessage **)&r) < 0)
		return 1;
	if (out == CRIDCTL_OUT_JSON) {
		version_json(r);
	} else {
		/* crictl: fmt.Println("Version: ", v) prints two spaces */
		printf("Version:  %s\n", r->version);
		printf("RuntimeName:  %s\n", r->runtime_name);
		printf("RuntimeVersion:  %s\n", r->runtime_version);
		printf("RuntimeApiVersion:  %s\n", r->runtime_api_version);
	}
	protobuf_c_message_free_unpacked(&r->base, NULL);
	return 0;
}

/* --- runtime-config ---------------------------------------------------------- */

static const char *cgroup_driver_name(int v, char *buf, size_t size)
{
	const ProtobufCEnumValue *ev =
	    protobuf_c_enum_descriptor_get_value(&runtime__v1__cgroup_driver__descriptor, v);

	if (ev)
		return ev->name;
	snprintf(buf, size, "%d", v); /* Go's String() of an unknown enum value */
	return buf;
}

static void runtime_config_print(const Runtime__V1__RuntimeConfigResponse *r,
				 enum cridctl_output out)
{
	char buf[16];
	yajl_gen g;

	if (out == CRIDCTL_OUT_TABLE) {
		/* crictl's tabwriter: minwidth 10, padding 3 */
		if (r->linux)
			printf("%-17s%s\n", "cgroup driver:",
			       cgroup_driver_name(r->linux->cgroup_driver, buf, sizeof(buf)));
		return;
	}
	g = cridctl_json_new();
	if (!g)
		return;
	yajl_gen_map_open(g);
	if (r->linux) {
		cridctl_json_str(g, "linux");
		yajl_gen_map_open(g);
		cridctl_json_kv_str(g, "cgroupDriver",
				    cgroup_driver_name(r->linux->cgroup_driver, buf, sizeof(buf)));
		yajl_gen_map_close(g);
	}
	yajl_gen_map_close(g);
	cridctl_json_print(g, stdout);
}

int cridctl_runtime_config(struct cridctl *ctl, int argc, char **argv)
{
	static const char usage[] = "Usage: cridctl runtime-config [-o json|table]\n"
				    "Retrieve the container runtime configuration\n";
	Runtime__V1__RuntimeConfigRequest req = RUNTIME__V1__RUNTIME_CONFIG_REQUEST__INIT;
	Runtime__V1__RuntimeConfigResponse *r;
	enum cridctl_output out;
	int rc = cridctl_verb_opts(ctl, argc, argv, usage, NULL);

	if (rc)
		return rc < 0;
	out = cridctl_output_for(ctl, "runtime-config", CRIDCTL_OUT_TABLE | CRIDCTL_OUT_JSON,
				 CRIDCTL_OUT_TABLE);
	if (!out)
		return 1;
	if (cridctl_call(ctl, "RuntimeConfig", &req.base,
			 &runtime__v1__runtime_config_response__descriptor,
			 (ProtobufCMessage **)&r) < 0)
		return 1;
	runtime_config_print(r, out);
	protobuf_c_message_free_unpacked(&r->base, NULL);
	return 0;
}
