/*
 * libFuzzer target for what CreateContainer makes of kubelet's input: a
 * ContainerConfig through handlers/ctr_config (the CRI fields into
 * runtime/oci/ctr_spec.h terms) and, when accepted, runtime/oci/oci_spec
 * (config.json from it, the pod and the image config, the user resolved in
 * the image's /etc/passwd and /etc/group). fuzz_handlers cannot reach this:
 * its daemon has no pods. Input: byte 0 picks the pod's host namespaces,
 * bytes 1-2 (little endian) the length of the ContainerConfig that follows,
 * the rest is the image config JSON. As in the daemon, a request whose
 * strings are not UTF-8 never reaches a handler (handlers/request_check).
 * Never a crash or a leak; a rejection names a field of the config; an
 * accepted config gives one complete JSON object and a real signal.
 */
#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <yajl/yajl_parse.h>

#include "handlers/ctr_config.h"
#include "handlers/request_check.h"
#include "runtime/oci/oci_spec.h"
#include "tests/fuzz/fuzz_tmpdir.h"

static char rootfs[128];
static struct crid_config cfg;
static struct crid_host host;

static void put(const char *dir, const char *name, const char *text)
{
	char p[256];
	FILE *f;

	snprintf(p, sizeof(p), "%s/%s", dir, name);
	f = fopen(p, "w");
	if (!f)
		abort();
	fputs(text, f);
	fclose(f);
}

/* A rootfs with the users and groups an image has, a host as this node's kind. */
static void setup(void)
{
	char etc[192];

	fuzz_tmpdir_make("crid-fuzz-ctrspec-");
	snprintf(rootfs, sizeof(rootfs), "%s/rootfs", fuzz_root);
	snprintf(etc, sizeof(etc), "%s/etc", rootfs);
	if (mkdir(rootfs, 0755) < 0 || mkdir(etc, 0755) < 0)
		abort();
	put(etc, "passwd",
	    "root:x:0:0:root:/root:/bin/sh\napp:x:1000:1001::/home/app:/bin/sh\n"
	    "web:x:33:33::/var/www:/bin/sh\n");
	put(etc, "group", "root:x:0:\napp:x:1001:\naudio:x:29:app,web\n");
	host.cgroup_mode = CRID_CGROUP_HYBRID;
	host.cap_eff = (1ULL << 41) - 1;
	host.last_cap = 40;
	if (crid_config_init_defaults(&cfg, NULL) < 0)
		abort();
}

static void pod_of(uint8_t flags, struct crid_ctr_pod *pod)
{
	memset(pod, 0, sizeof(*pod));
	pod->id = "p1";
	pod->hostname = "pod";
	pod->cgroup_parent = flags & 8 ? "/kubepods/burstable/pod-p1" : "";
	pod->host_network = flags & 1;
	pod->host_ipc = flags & 2;
	pod->host_pid = flags & 4;
	pod->netns = pod->host_network ? "" : "/run/crid/ns/net-p1";
	pod->ipcns = pod->host_ipc ? "" : "/run/crid/ns/ipc-p1";
	pod->utsns = "/run/crid/ns/uts-p1";
	pod->pidns = pod->host_pid ? "" : "/run/crid/ns/pid-p1";
	pod->hosts_file = "/etc/hosts";
	pod->resolv_file = "/etc/resolv.conf";
	pod->hostname_file = "";
	pod->shm_dir = "";
}

/*
 * One complete JSON document that is an object. Strings are not checked for
 * UTF-8: env values go into config.json byte for byte, as kubelet sent them
 * (runc replaces what is not UTF-8, crun refuses it: test_containers).
 */
static bool json_object(const char *json, size_t len)
{
	yajl_handle h = yajl_alloc(NULL, NULL, NULL);
	bool ok;

	if (!h)
		abort();
	yajl_config(h, yajl_dont_validate_strings, 1);
	ok = len > 0 && json[0] == '{' && strlen(json) == len &&
	     yajl_parse(h, (const unsigned char *)json, len) == yajl_status_ok &&
	     yajl_complete_parse(h) == yajl_status_ok;
	yajl_free(h);
	return ok;
}

/* An accepted config: its config.json must be one JSON object, its stop signal real. */
static void build(const struct crid_ctr_spec *spec, const struct crid_ctr_pod *pod,
		  const char *image_config)
{
	struct crid_oci_input in = { spec,  pod, image_config, rootfs, "/kubepods/pod-p1/crid-c1",
				     &host, &cfg };
	struct crid_oci_spec out;
	struct crid_err err;

	if (crid_oci_spec_build(&in, &out, &err) < 0)
		return;
	if (!json_object(out.json, out.len) || out.stop_signal < 1 || out.stop_signal > 64)
		abort();
	crid_oci_spec_free(&out);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	Runtime__V1__ContainerConfig *c;
	struct crid_ctr_spec spec;
	struct crid_ctr_pod pod;
	struct crid_rpc rpc = { 0 };
	struct crid_err err;
	char path[256], *image;
	size_t len, at;

	if (!rootfs[0])
		setup();
	if (size < 3)
		return 0;
	len = data[1] | (size_t)data[2] << 8;
	if (len > size - 3)
		return 0;
	c = runtime__v1__container_config__unpack(NULL, len, data + 3);
	if (!c)
		return 0;
	if (!crid_request_utf8_ok(&c->base, path, sizeof(path), &at)) {
		runtime__v1__container_config__free_unpacked(c, NULL);
		return 0;
	}
	image = strndup((const char *)data + 3 + len, size - 3 - len);
	crid_arena_init(&rpc.arena, 64u << 20);
	pod_of(data[0], &pod);
	if (crid_ctr_config_translate(&rpc, c, &spec, &err) == 0) {
		spec.id = "c1";
		build(&spec, &pod, image && image[0] ? image : "{}");
	} else if (strncmp(err.msg, "config", 6) != 0) {
		abort(); /* the reply must name the field */
	}
	crid_arena_reset(&rpc.arena);
	free(image);
	runtime__v1__container_config__free_unpacked(c, NULL);
	return 0;
}
