/*
 * The "info" of verbose ContainerStatus and PodSandboxStatus (asked by
 * handlers/container_status.c and handlers/sandbox.c), as
 * handlers/status_info.h describes. Reads records, the bundle's config.json
 * (runtime/oci) and the pinned namespaces (runtime/pod/pod_ns.h).
 */
#include "handlers/status_info.h"

#include <limits.h>
#include <stdbool.h>
#include <stdio.h>
#include <string.h>
#include <yajl/yajl_gen.h>
#include <yajl/yajl_tree.h>

#include "handlers/pb_json.h"
#include "proto/api.pb-c.h"
#include "reactor/log.h"
#include "reactor/mem.h"
#include "runtime/container/ctr.h"
#include "runtime/oci/oci_json.h"
#include "runtime/pod/pod_ns.h"

#define GSTR(g, s) yajl_gen_string((g), (const unsigned char *)(s), strlen(s))

/* A config.json past this is not shown (the reply must stay under the gRPC message cap). */
#define SPEC_MAX (4u << 20)

/* Copies |g|'s output into the call's arena and frees |g|. */
static char *finish(struct crid_rpc *rpc, yajl_gen g)
{
	const unsigned char *buf;
	size_t len;
	char *out = NULL;

	if (yajl_gen_get_buf(g, &buf, &len) == yajl_gen_status_ok) {
		out = crid_arena_alloc(&rpc->arena, len + 1);
		if (out)
			memcpy(out, buf, len), out[len] = '\0';
	}
	yajl_gen_free(g);
	return out;
}

/* |key|: the stored protobuf |buf| decoded and shown as containerd shows it; left out if bad. */
static void gen_config(struct crid_rpc *rpc, yajl_gen g, const char *key,
		       const ProtobufCMessageDescriptor *desc, const uint8_t *buf, size_t len)
{
	ProtobufCMessage *m;

	if (!buf)
		return;
	m = protobuf_c_message_unpack(desc, &rpc->alloc, len, buf);
	if (!m)
		return;
	GSTR(g, key);
	crid_pb_json_gen(g, m);
}

/* |key|: the JSON text |json| as a value (an object, not a string); left out if unparsable. */
static void gen_json(yajl_gen g, const char *key, const char *json)
{
	yajl_val v = json ? yajl_tree_parse(json, NULL, 0) : NULL;

	if (!v)
		return;
	GSTR(g, key);
	crid_oci_gen_tree(g, v);
	yajl_tree_free(v);
}

/* The string member |key| of object |obj|, or "". */
static const char *str_of(yajl_val obj, const char *key)
{
	const char *path[] = { key, NULL };
	yajl_val v = obj ? yajl_tree_get(obj, path, yajl_t_string) : NULL;

	return v ? YAJL_GET_STRING(v) : "";
}

/* The array member |key| of |obj|, or NULL. */
static yajl_val array_of(yajl_val obj, const char *key)
{
	const char *path[] = { key, NULL };

	return obj ? yajl_tree_get(obj, path, yajl_t_array) : NULL;
}

/* |cidr| ("10.88.0.2/16") without its prefix length, as go-cni's net.IP prints. */
static void gen_ip(yajl_gen g, const char *cidr)
{
	const char *slash = strchr(cidr, '/');

	yajl_gen_string(g, (const unsigned char *)cidr,
			slash ? (size_t)(slash - cidr) : strlen(cidr));
}

/* go-cni's Config of interface |idx|: the IPs CNI put on it, its MAC and sandbox. */
static void gen_cni_interface(yajl_gen g, yajl_val iface, yajl_val ips, size_t idx)
{
	bool any = false;

	yajl_gen_map_open(g);
	GSTR(g, "IPConfigs");
	for (size_t i = 0; ips && i < YAJL_GET_ARRAY(ips)->len; i++) {
		yajl_val ip = YAJL_GET_ARRAY(ips)->values[i];
		const char *path[] = { "interface", NULL };
		yajl_val n = yajl_tree_get(ip, path, yajl_t_number);

		if (!n || !YAJL_IS_INTEGER(n) || YAJL_GET_INTEGER(n) != (long long)idx)
			continue;
		if (!any)
			yajl_gen_array_open(g);
		any = true;
		yajl_gen_map_open(g);
		GSTR(g, "IP"), gen_ip(g, str_of(ip, "address"));
		GSTR(g, "Gateway"), GSTR(g, str_of(ip, "gateway"));
		yajl_gen_map_close(g);
	}
	if (any)
		yajl_gen_array_close(g);
	else
		yajl_gen_null(g);
	GSTR(g, "Mac"), GSTR(g, str_of(iface, "mac"));
	GSTR(g, "Sandbox"), GSTR(g, str_of(iface, "sandbox"));
	yajl_gen_map_close(g);
}

/* go-cni's DNS: the result's one DNS entry, its members omitted when empty. */
static void gen_cni_dns(yajl_gen g, yajl_val res)
{
	static const char *const keys[] = { "nameservers", "domain", "search", "options" };
	const char *path[] = { "dns", NULL };
	yajl_val dns = yajl_tree_get(res, path, yajl_t_object);

	yajl_gen_array_open(g);
	yajl_gen_map_open(g);
	for (size_t i = 0; dns && i < sizeof(keys) / sizeof(keys[0]); i++) {
		const char *kp[] = { keys[i], NULL };
		yajl_val v = yajl_tree_get(dns, kp, yajl_t_any);

		if (v && !(YAJL_IS_ARRAY(v) && YAJL_GET_ARRAY(v)->len == 0) &&
		    !(YAJL_IS_STRING(v) && !*YAJL_GET_STRING(v))) {
			GSTR(g, keys[i]);
			crid_oci_gen_tree(g, v);
		}
	}
	yajl_gen_map_close(g);
	yajl_gen_array_close(g);
}

/* go-cni's Routes: dst and gw of each route, or null. */
static void gen_cni_routes(yajl_gen g, yajl_val routes)
{
	if (!routes || YAJL_GET_ARRAY(routes)->len == 0) {
		yajl_gen_null(g);
		return;
	}
	yajl_gen_array_open(g);
	for (size_t i = 0; i < YAJL_GET_ARRAY(routes)->len; i++) {
		yajl_val r = YAJL_GET_ARRAY(routes)->values[i];

		yajl_gen_map_open(g);
		GSTR(g, "dst"), GSTR(g, str_of(r, "dst"));
		if (*str_of(r, "gw"))
			GSTR(g, "gw"), GSTR(g, str_of(r, "gw"));
		yajl_gen_map_close(g);
	}
	yajl_gen_array_close(g);
}

/*
 * The CNI ADD result as containerd shows it: go-cni's Result (Interfaces by
 * name, each with the IPConfigs CNI put on it, then DNS and Routes), so jq
 * scripts written for containerd (`.info.cniResult.Interfaces.eth0.
 * IPConfigs[0].IP`) work. Left out when there is no result or it is bad.
 */
static void gen_cni_result(yajl_gen g, const char *json)
{
	yajl_val res = json ? yajl_tree_parse(json, NULL, 0) : NULL;
	yajl_val ifaces, ips;

	if (!res || !YAJL_IS_OBJECT(res)) {
		yajl_tree_free(res);
		return;
	}
	ifaces = array_of(res, "interfaces");
	ips = array_of(res, "ips");
	GSTR(g, "cniResult");
	yajl_gen_map_open(g);
	GSTR(g, "Interfaces");
	yajl_gen_map_open(g);
	for (size_t i = 0; ifaces && i < YAJL_GET_ARRAY(ifaces)->len; i++) {
		yajl_val iface = YAJL_GET_ARRAY(ifaces)->values[i];

		if (!*str_of(iface, "name"))
			continue;
		GSTR(g, str_of(iface, "name"));
		gen_cni_interface(g, iface, ips, i);
	}
	yajl_gen_map_close(g);
	GSTR(g, "DNS");
	gen_cni_dns(g, res);
	GSTR(g, "Routes");
	gen_cni_routes(g, array_of(res, "routes"));
	yajl_gen_map_close(g);
	yajl_tree_free(res);
}

/* The config.json crid wrote into the bundle; gone once the container is removed. */
static void gen_runtime_spec(struct crid_rpc *rpc, yajl_gen g, const struct crid_container *c)
{
	char bundle[PATH_MAX], path[PATH_MAX + 16], *buf = NULL;
	struct crid_err e;
	size_t len;

	if (!rpc->d->ctrs ||
	    crid_container_bundle(rpc->d->ctrs->store, c, bundle, sizeof(bundle)) < 0 ||
	    snprintf(path, sizeof(path), "%s/config.json", bundle) >= (int)sizeof(path))
		return;
	if (crid_oci_read_file(NULL, path, SPEC_MAX, &buf, &len, &e) < 0) {
		crid_log_debug("container %.12s: verbose status without runtimeSpec: %s", c->id,
			       e.msg);
		return;
	}
	gen_json(g, "runtimeSpec", buf);
	crid_free(buf);
}

static const char *runtime_path(struct crid_rpc *rpc, const char *handler)
{
	const struct crid_host *h = rpc->d->host;

	for (size_t i = 0; h && i < h->n_runtimes; i++)
		if (strcmp(h->runtimes[i].name, handler) == 0)
			return h->runtimes[i].path;
	return NULL;
}

char *crid_status_info_container(struct crid_rpc *rpc, const struct crid_container *c)
{
	yajl_gen g = yajl_gen_alloc(NULL);
	const char *rt = runtime_path(rpc, c->runtime_handler);

	if (!g)
		return NULL;
	yajl_gen_map_open(g);
	GSTR(g, "sandboxID"), GSTR(g, c->sandbox_id);
	GSTR(g, "pid"), yajl_gen_integer(g, c->pid);
	GSTR(g, "removing"), yajl_gen_bool(g, crid_ctr_removing(c));
	if (rt)
		GSTR(g, "runtimeType"), GSTR(g, rt);
	gen_config(rpc, g, "config", &runtime__v1__container_config__descriptor, c->config,
		   c->config_len);
	gen_runtime_spec(rpc, g, c);
	GSTR(g, "runtimeHandler"), GSTR(g, c->runtime_handler);
	GSTR(g, "cgroupsPath"), GSTR(g, c->cgroups_path ? c->cgroups_path : "");
	GSTR(g, "tracked"), yajl_gen_bool(g, c->pidfd >= 0);
	yajl_gen_map_close(g);
	return finish(rpc, g);
}

/* As containerd: the pod's own network namespace is gone (stopped, or lost to a reboot). */
static bool netns_closed(const struct crid_sandbox *sb)
{
	if (sb->ns_network != CRID_NS_POD)
		return false;
	return !sb->ns.net[0] || !crid_pod_ns_is_pinned(sb->ns.net);
}

static void gen_namespaces(yajl_gen g, const struct crid_sandbox *sb)
{
	GSTR(g, "namespaces");
	yajl_gen_map_open(g);
	GSTR(g, "net"), GSTR(g, sb->ns.net);
	GSTR(g, "ipc"), GSTR(g, sb->ns.ipc);
	GSTR(g, "uts"), GSTR(g, sb->ns.uts);
	GSTR(g, "pid"), GSTR(g, sb->ns.pid);
	GSTR(g, "pidHolder"), yajl_gen_integer(g, sb->ns.holder_pid);
	yajl_gen_map_close(g);
}

char *crid_status_info_sandbox(struct crid_rpc *rpc, const struct crid_sandbox *sb)
{
	static const char *const net_names[] = { "none", "adding", "up", "deleting", "released" };
	yajl_gen g = yajl_gen_alloc(NULL);

	if (!g)
		return NULL;
	yajl_gen_map_open(g);
	/* no pause process: the PID namespace holder is the only process a pod may have */
	GSTR(g, "pid"), yajl_gen_integer(g, sb->ns.holder_pid);
	GSTR(g, "netNamespaceClosed"), yajl_gen_bool(g, netns_closed(sb));
	GSTR(g, "runtimeHandler"), GSTR(g, sb->runtime_handler);
	gen_config(rpc, g, "config", &runtime__v1__pod_sandbox_config__descriptor, sb->config,
		   sb->config_len);
	gen_cni_result(g, sb->cni_result);
	GSTR(g, "hostname"), GSTR(g, sb->hostname);
	GSTR(g, "cgroupParent"), GSTR(g, sb->cgroup_parent);
	GSTR(g, "logDirectory"), GSTR(g, sb->log_directory);
	GSTR(g, "network"), GSTR(g, net_names[sb->net]);
	gen_namespaces(g, sb);
	yajl_gen_map_close(g);
	return finish(rpc, g);
}

void *crid_status_info_map(struct crid_rpc *rpc, const ProtobufCMessageDescriptor *desc,
			   char *value)
{
	/* both InfoEntry messages are map<string,string> entries of this layout */
	Runtime__V1__ContainerStatusResponse__InfoEntry **v =
	    crid_arena_alloc(&rpc->arena, sizeof(*v));

	if (!v || !value)
		return NULL;
	v[0] = crid_arena_alloc(&rpc->arena, sizeof(*v[0]));
	if (!v[0])
		return NULL;
	protobuf_c_message_init(desc, v[0]);
	v[0]->key = "info";
	v[0]->value = value;
	return v;
}
