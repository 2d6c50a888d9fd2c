/*
 * Version, Status, RuntimeConfig, UpdateRuntimeConfig: what the runtime is
 * and whether it is ready. Reads the host probe (runtime/oci/host.h), the
 * CNI readiness (runtime/cni), d->ctrs and the pulls in flight (d->puller).
 */
#include <errno.h>
#include <stdio.h>
#include <string.h>
#include <yajl/yajl_gen.h>

#include "handlers/methods.h"
#include "proto/api.pb-c.h"
#include "reactor/mem.h"
#include "reactor/mem_trim.h"
#include "reactor/pidfd.h"
#include "runtime/container/ctr.h"
#include "runtime/image/image_pull.h"
#include "runtime/oci/rt_features.h"
#include "runtime/stream/stream_server.h"

#define GEN_STR(g, s) yajl_gen_string((g), (const unsigned char *)(s), strlen(s))

void crid_handle_version(struct crid_rpc *rpc, const ProtobufCMessage *request)
{
	Runtime__V1__VersionResponse resp = RUNTIME__V1__VERSION_RESPONSE__INIT;

	(void)request;
	/* "version" is the CRI API's own version; CRI-O and containerd both say 0.1.0. */
	resp.version = "0.1.0";
	resp.runtime_name = "crid";
	resp.runtime_version = CRID_VERSION;
	resp.runtime_api_version = "v1";
	crid_rpc_reply(rpc, &resp.base);
}

static Runtime__V1__RuntimeCondition *condition(struct crid_rpc *rpc, const char *type, int ok,
						const char *reason, const char *message)
{
	Runtime__V1__RuntimeCondition *c = crid_arena_alloc(&rpc->arena, sizeof(*c));

	if (!c)
		return NULL;
	runtime__v1__runtime_condition__init(c);
	c->type = (char *)type;
	c->status = ok;
	c->reason = crid_rpc_strdup(rpc, ok ? "" : reason);
	c->message = crid_rpc_strdup(rpc, ok ? "" : message);
	return c->reason && c->message ? c : NULL;
}

/* Copies the generated JSON into the call's arena and frees |g|. */
static char *gen_to_arena(struct crid_rpc *rpc, yajl_gen g)
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

/* The config as JSON, for `cridctl info` (like CRI-O's and containerd's "config" entry). */
static char *config_json(struct crid_rpc *rpc)
{
	const struct crid_config *cfg = rpc->d->cfg;
	yajl_gen g = yajl_gen_alloc(NULL);
	if (!g)
		return NULL;
	yajl_gen_map_open(g);
	GEN_STR(g, "configFile"), GEN_STR(g, cfg->config_path ? cfg->config_path : "");
	GEN_STR(g, "listen"), GEN_STR(g, cfg->listen);
	GEN_STR(g, "root"), GEN_STR(g, cfg->root);
	GEN_STR(g, "runroot"), GEN_STR(g, cfg->runroot);
	GEN_STR(g, "logLevel"), GEN_STR(g, cfg->log_level);
	GEN_STR(g, "defaultRuntime"), GEN_STR(g, cfg->default_runtime);
	GEN_STR(g, "cgroupManager"), GEN_STR(g, cfg->cgroup_manager);
	GEN_STR(g, "cniConfigDir"), GEN_STR(g, cfg->cni_config_dir);
	GEN_STR(g, "cniPluginDirs");
	yajl_gen_array_open(g);
	for (size_t i = 0; i < cfg->cni_plugin_dirs.n; i++)
		GEN_STR(g, cfg->cni_plugin_dirs.v[i]);
	yajl_gen_array_close(g);
	GEN_STR(g, "streamAddress"), GEN_STR(g, cfg->stream_address);
	GEN_STR(g, "streamPort"), yajl_gen_integer(g, cfg->stream_port);
	GEN_STR(g, "podCIDR"), GEN_STR(g, rpc->d->node.pod_cidr);
	yajl_gen_map_close(g);
	return gen_to_arena(rpc, g);
}

static char *cni_json(struct crid_rpc *rpc, const struct crid_cni_status *st)
{
	yajl_gen g = yajl_gen_alloc(NULL);
	if (!g)
		return NULL;
	yajl_gen_map_open(g);
	GEN_STR(g, "ready"), yajl_gen_bool(g, st->ready);
	GEN_STR(g, "reason"), GEN_STR(g, st->reason);
	GEN_STR(g, "message"), GEN_STR(g, st->message);
	GEN_STR(g, "network"), GEN_STR(g, st->network);
	GEN_STR(g, "configFile"), GEN_STR(g, st->config_file);
	GEN_STR(g, "cniVersion"), GEN_STR(g, st->cni_version);
	GEN_STR(g, "plugins"), GEN_STR(g, st->plugins);
	yajl_gen_map_close(g);
	return gen_to_arena(rpc, g);
}

/*
 * The worst loop iteration since the previous verbose Status: how long one
 * callback round kept every other client waiting (wall time, which counts
 * waiting for a core on a busy machine too), and the most CPU one round
 * used (crid's own work alone). Reading them resets them.
 */
static char *loop_json(struct crid_rpc *rpc)
{
	char *out = crid_arena_alloc(&rpc->arena, 96);
	double busy = crid_loop_max_busy(rpc->d->loop, 1);
	double cpu = crid_loop_max_busy_cpu(rpc->d->loop, 1);

	if (out)
		snprintf(out, 96, "{\"maxIterationUs\":%.0f,\"maxIterationCpuUs\":%.0f}",
			 busy * 1e6, cpu * 1e6);
	return out;
}

/*
 * Memory, for the soak (bench/soak.py): bytes crid allocated itself
 * (reactor/mem.h), against the heap glibc holds in use (every library's
 * too) and free (kept, of which at the top), so growth can be told apart
 * from the allocator keeping freed memory; and the trims that give freed
 * pages back (reactor/mem_trim.h): how many, the longest.
 */
static char *memory_json(struct crid_rpc *rpc)
{
	char *out = crid_arena_alloc(&rpc->arena, 384);
	struct crid_mem_heap h;
	double trim_us, trim_cpu_us;
	unsigned long trims = crid_mem_trims(&trim_us, &trim_cpu_us);

	crid_mem_heap(&h);
	if (out)
		snprintf(out, 384,
			 "{\"cridBytes\":%zu,\"heapInUse\":%zu,\"heapFree\":%zu,"
			 "\"heapTopFree\":%zu,\"mmapped\":%zu,\"trims\":%lu,\"trimMaxUs\":%.0f,"
			 "\"trimMaxCpuUs\":%.0f}",
			 crid_mem_used(), h.in_use, h.free, h.top_free, h.mmapped, trims, trim_us,
			 trim_cpu_us);
	return out;
}

/* The streaming server: {"url": its base, "tls": bool, "sessions": open, "tokens": unused URLs}. */
static char *streaming_json(struct crid_rpc *rpc)
{
	const struct crid_stream_server *srv = rpc->d->stream;
	char *out = crid_arena_alloc(&rpc->arena, 160);

	if (out && srv)
		snprintf(out, 160, "{\"url\":\"%s\",\"tls\":%s,\"sessions\":%zu,\"tokens\":%zu}",
			 crid_stream_server_base(srv),
			 crid_stream_server_tls(srv) ? "true" : "false",
			 crid_stream_server_sessions(srv), crid_stream_server_tokens(srv));
	else if (out)
		snprintf(out, 160, "{}");
	return out;
}

/*
 * Pulls in flight, for `cridctl pull`'s progress line (CRI PullImage is
 * unary): [{"image", "layersDone", "layersTotal", "bytesDone", "bytesTotal"}].
 * At most PULLS_SHOWN are listed; "more" counts the rest.
 */
#define PULLS_SHOWN 32

static char *pulls_json(struct crid_rpc *rpc)
{
	const struct crid_puller *p = rpc->d->puller;
	struct crid_pull_progress *v = crid_arena_alloc(&rpc->arena, PULLS_SHOWN * sizeof(*v));
	size_t n = p && v ? crid_puller_progress(p, v, PULLS_SHOWN) : 0;
	yajl_gen g;

	if (!v || !(g = yajl_gen_alloc(NULL)))
		return NULL;
	yajl_gen_map_open(g);
	GEN_STR(g, "inFlight"), yajl_gen_array_open(g);
	for (size_t i = 0; i < n && i < PULLS_SHOWN; i++) {
		yajl_gen_map_open(g);
		GEN_STR(g, "image"), GEN_STR(g, v[i].image);
		GEN_STR(g, "layersDone"), yajl_gen_integer(g, (long long)v[i].layers_done);
		GEN_STR(g, "layersTotal"), yajl_gen_integer(g, (long long)v[i].layers_total);
		GEN_STR(g, "bytesDone"), yajl_gen_integer(g, (long long)v[i].bytes_done);
		GEN_STR(g, "bytesTotal"), yajl_gen_integer(g, (long long)v[i].bytes_total);
		yajl_gen_map_close(g);
	}
	yajl_gen_array_close(g);
	GEN_STR(g, "more"), yajl_gen_integer(g, n > PULLS_SHOWN ? (long long)(n - PULLS_SHOWN) : 0);
	yajl_gen_map_close(g);
	return gen_to_arena(rpc, g);
}

/* How crid keeps containers: the fd store in use, whether exit statuses survive a crash, counts. */
static char *containers_json(struct crid_rpc *rpc)
{
	const struct crid_daemon *d = rpc->d;
	char *out = crid_arena_alloc(&rpc->arena, 256);
	size_t pods = 0, ctrs = 0;

	if (!out)
		return NULL;
	if (d->pods)
		crid_sandbox_list(d->pods->store, &pods);
	if (d->ctrs)
		crid_container_list(d->ctrs->store, &ctrs);
	snprintf(out, 256,
		 "{\"fdStore\":\"%s\",\"subreaper\":true,\"pidfdExitInfo\":%s,\"pods\":%zu,"
		 "\"containers\":%zu}",
		 d->ctrs && d->ctrs->fds ? crid_fd_store_kind(d->ctrs->fds) : "none",
		 crid_pidfd_has_exit_info() ? "true" : "false", pods, ctrs);
	return out;
}

static Runtime__V1__StatusResponse__InfoEntry *info_entry(struct crid_rpc *rpc, const char *key,
							  char *value)
{
	Runtime__V1__StatusResponse__InfoEntry *e = crid_arena_alloc(&rpc->arena, sizeof(*e));

	if (!e || !value)
		return NULL;
	runtime__v1__status_response__info_entry__init(e);
	e->key = (char *)key;
	e->value = value;
	return e;
}

static int fill_verbose_info(struct crid_rpc *rpc, Runtime__V1__StatusResponse *resp,
			     const struct crid_cni_status *cni)
{
	Runtime__V1__StatusResponse__InfoEntry **entries =
	    crid_arena_alloc(&rpc->arena, 8 * sizeof(*entries));
	char *host_json = crid_host_info_json(rpc->d->host);
	char *runtime = host_json ? crid_rpc_strdup(rpc, host_json) : NULL;

	crid_free(host_json);
	if (!entries)
		return -1;
	entries[0] = info_entry(rpc, "runtime", runtime);
	entries[1] = info_entry(rpc, "config", config_json(rpc));
	entries[2] = info_entry(rpc, "cni", cni_json(rpc, cni));
	entries[3] = info_entry(rpc, "loop", loop_json(rpc));
	entries[4] = info_entry(rpc, "pulls", pulls_json(rpc));
	entries[5] = info_entry(rpc, "containers", containers_json(rpc));
	entries[6] = info_entry(rpc, "streaming", streaming_json(rpc));
	entries[7] = info_entry(rpc, "memory", memory_json(rpc));
	for (int i = 0; i < 8; i++)
		if (!entries[i])
			return -1;
	resp->info = entries;
	resp->n_info = 8;
	return 0;
}

/* True only when the runtime's `features` and the kernel both say so (runtime/oci/rt_features.h). */
static void fill_features(struct crid_rpc *rpc, const char *handler,
			  Runtime__V1__RuntimeHandlerFeatures *f)
{
	const struct crid_rt_features *rf = crid_rt_probe_get(rpc->d->rt_features, handler);

	f->recursive_read_only_mounts = rf->rro;
	f->user_namespaces =
	    false; /* crid creates no user namespaces yet (RunPodSandbox refuses) */
}

/* One entry per usable handler plus "" for the default, as kubelet reads runtime_handlers. */
static int fill_handlers(struct crid_rpc *rpc, Runtime__V1__StatusResponse *resp)
{
	const struct crid_host *host = rpc->d->host;
	size_t n = 0, max = host->n_runtimes + 1;
	Runtime__V1__RuntimeHandler **v = crid_arena_alloc(&rpc->arena, max * sizeof(*v));

	if (!v)
		return -1;
	for (size_t i = 0; i < max; i++) {
		const char *name = i == 0 ? "" : host->runtimes[i - 1].name;
		Runtime__V1__RuntimeHandler *h;
		Runtime__V1__RuntimeHandlerFeatures *f;

		if (i == 0 ? !host->default_runtime : !host->runtimes[i - 1].usable)
			continue;
		h = crid_arena_alloc(&rpc->arena, sizeof(*h));
		f = crid_arena_alloc(&rpc->arena, sizeof(*f));
		if (!h || !f)
			return -1;
		runtime__v1__runtime_handler__init(h);
		runtime__v1__runtime_handler_features__init(f);
		fill_features(rpc, name, f);
		h->name = (char *)name;
		h->features = f;
		v[n++] = h;
	}
	resp->runtime_handlers = v;
	resp->n_runtime_handlers = n;
	return 0;
}

void crid_handle_status(struct crid_rpc *rpc, const ProtobufCMessage *request)
{
	const Runtime__V1__StatusRequest *req = (const Runtime__V1__StatusRequest *)request;
	Runtime__V1__StatusResponse resp = RUNTIME__V1__STATUS_RESPONSE__INIT;
	Runtime__V1__RuntimeStatus status = RUNTIME__V1__RUNTIME_STATUS__INIT;
	Runtime__V1__RuntimeFeatures features = RUNTIME__V1__RUNTIME_FEATURES__INIT;
	const struct crid_cni_status *cni = crid_cni_watch_status(rpc->d->cni);
	const struct crid_host *host = rpc->d->host;
	Runtime__V1__RuntimeCondition *conds[2];

	conds[0] = condition(rpc, "RuntimeReady", host->default_runtime != NULL,
			     "NoUsableOCIRuntime", host->default_why);
	conds[1] = condition(rpc, "NetworkReady", cni->ready, cni->reason, cni->message);
	if (!conds[0] || !conds[1] || fill_handlers(rpc, &resp) < 0 ||
	    (req->verbose && fill_verbose_info(rpc, &resp, cni) < 0)) {
		crid_rpc_fail(rpc, CRID_GRPC_RESOURCE_EXHAUSTED, "out of memory building Status");
		return;
	}
	status.conditions = conds;
	status.n_conditions = 2;
	resp.status = &status;
	/* Strict is honoured: runtime/oci/oci_user.c adds no group from the image's /etc/group */
	features.supplemental_groups_policy = true;
	resp.features = &features;
	crid_rpc_reply(rpc, &resp.base);
}

void crid_handle_runtime_config(struct crid_rpc *rpc, const ProtobufCMessage *request)
{
	Runtime__V1__RuntimeConfigResponse resp = RUNTIME__V1__RUNTIME_CONFIG_RESPONSE__INIT;
	Runtime__V1__LinuxRuntimeConfiguration linux_cfg =
	    RUNTIME__V1__LINUX_RUNTIME_CONFIGURATION__INIT;

	(void)request;
	linux_cfg.cgroup_driver = strcmp(rpc->d->cfg->cgroup_manager, "systemd") == 0
				      ? RUNTIME__V1__CGROUP_DRIVER__SYSTEMD
				      : RUNTIME__V1__CGROUP_DRIVER__CGROUPFS;
	resp.linux = &linux_cfg;
	crid_rpc_reply(rpc, &resp.base);
}

void crid_handle_update_runtime_config(struct crid_rpc *rpc, const ProtobufCMessage *request)
{
	const Runtime__V1__UpdateRuntimeConfigRequest *req =
	    (const Runtime__V1__UpdateRuntimeConfigRequest *)request;
	Runtime__V1__UpdateRuntimeConfigResponse resp =
	    RUNTIME__V1__UPDATE_RUNTIME_CONFIG_RESPONSE__INIT;
	struct crid_err err;

	/* Like CRI-O, an absent runtime_config or network_config changes nothing. */
	if (req->runtime_config && req->runtime_config->network_config &&
	    crid_node_state_set_pod_cidr(&rpc->d->node,
					 req->runtime_config->network_config->pod_cidr, &err) < 0) {
		crid_rpc_fail(rpc,
			      err.code == EINVAL ? CRID_GRPC_INVALID_ARGUMENT : CRID_GRPC_INTERNAL,
			      "runtime_config.network_config.pod_cidr: %s", err.msg);
		return;
	}
	crid_rpc_reply(rpc, &resp.base);
}
