/*
 * ContainerStats, ListContainerStats, PodSandboxStats, ListPodSandboxStats:
 * CPU, memory and swap from the cgroups (runtime/container/cgroup_stats.h),
 * the writable layer's bytes and inodes from a `du` cache refreshed off the
 * loop, and the pod's network counters from its network namespace.
 */
#include <limits.h>
#include <string.h>
#include <time.h>

#include "handlers/container.h"
#include "handlers/images.h"
#include "handlers/methods.h"
#include "handlers/stats.h"
#include "handlers/status_msg.h"
#include "proto/api.pb-c.h"
#include "runtime/container/cgroup_stats.h"

/* Writable layers are measured at most this often (du walks the tree). */
#define LAYER_MAX_AGE 10.0

static void *zalloc(struct crid_rpc *rpc, size_t n)
{
	void *p = crid_arena_alloc(&rpc->arena, n);

	if (p)
		memset(p, 0, n);
	return p;
}

static Runtime__V1__UInt64Value *u64(struct crid_rpc *rpc, uint64_t v)
{
	Runtime__V1__UInt64Value *x = zalloc(rpc, sizeof(*x));

	if (x) {
		runtime__v1__uint64_value__init(x);
		x->value = v;
	}
	return x;
}

static void *kvs(struct crid_rpc *rpc, const struct crid_kvs *k,
		 const ProtobufCMessageDescriptor *d)
{
	return crid_status_msg_kv_entries(&rpc->arena, k, d);
}

static Runtime__V1__CpuUsage *cpu(struct crid_rpc *rpc, const struct crid_cgroup_stats *s,
				  int64_t ts)
{
	Runtime__V1__CpuUsage *c = zalloc(rpc, sizeof(*c));

	if (!c)
		return NULL;
	runtime__v1__cpu_usage__init(c);
	c->timestamp = ts;
	if (s->has_cpu)
		c->usage_core_nano_seconds = u64(rpc, s->cpu_usage_ns);
	return c;
}

static Runtime__V1__MemoryUsage *memory(struct crid_rpc *rpc, const struct crid_cgroup_stats *s,
					int64_t ts)
{
	Runtime__V1__MemoryUsage *m = zalloc(rpc, sizeof(*m));

	if (!m)
		return NULL;
	runtime__v1__memory_usage__init(m);
	m->timestamp = ts;
	if (s->has_memory) {
		m->working_set_bytes = u64(rpc, s->memory_working_set);
		m->usage_bytes = u64(rpc, s->memory_usage);
		m->rss_bytes = u64(rpc, s->memory_rss);
		m->page_faults = u64(rpc, s->page_faults);
		m->major_page_faults = u64(rpc, s->major_page_faults);
	}
	return m;
}

static Runtime__V1__ContainerStats *container_stats(struct crid_rpc *rpc, struct crid_container *c)
{
	struct crid_ctrs *ctrs = rpc->d->ctrs;
	Runtime__V1__ContainerStats *st = zalloc(rpc, sizeof(*st));
	Runtime__V1__ContainerAttributes *at = zalloc(rpc, sizeof(*at));
	Runtime__V1__ContainerMetadata *md = zalloc(rpc, sizeof(*md));
	Runtime__V1__FilesystemUsage *fs = zalloc(rpc, sizeof(*fs));
	Runtime__V1__FilesystemIdentifier *id = zalloc(rpc, sizeof(*id));
	Runtime__V1__SwapUsage *sw = zalloc(rpc, sizeof(*sw));
	struct crid_cgroup_stats cg = { 0 };
	char layer[PATH_MAX];
	uint64_t bytes = 0, inodes = 0;
	int64_t ts = crid_wall_ns();

	if (!st || !at || !md || !fs || !id || !sw)
		return NULL;
	runtime__v1__container_stats__init(st);
	runtime__v1__container_attributes__init(at);
	runtime__v1__container_metadata__init(md);
	runtime__v1__filesystem_usage__init(fs);
	runtime__v1__filesystem_identifier__init(id);
	runtime__v1__swap_usage__init(sw);
	md->name = c->name;
	md->attempt = c->attempt;
	at->id = c->id;
	at->metadata = md;
	at->labels =
	    kvs(rpc, &c->labels, &runtime__v1__container_attributes__labels_entry__descriptor);
	at->n_labels = c->labels.n;
	at->annotations =
	    (void *)kvs(rpc, &c->annotations,
			&runtime__v1__container_attributes__annotations_entry__descriptor);
	at->n_annotations = c->annotations.n;
	if (c->state == CRID_CTR_RUNNING || c->state == CRID_CTR_CREATED)
		crid_cgroup_stats_read(ctrs->host, c->cgroups_path, &cg, NULL);
	if (crid_container_layer(ctrs->store, c, layer, sizeof(layer)) == 0) {
		strncat(layer, "/upper", sizeof(layer) - strlen(layer) - 1);
		crid_du_cache_get(ctrs->du, layer, LAYER_MAX_AGE, &bytes, &inodes);
	}
	id->mountpoint =
	    crid_images_ctr_fs_mountpoint(rpc); /* the writable layer's, not the images' */
	fs->timestamp = ts;
	fs->fs_id = id;
	fs->used_bytes = u64(rpc, bytes);
	fs->inodes_used = u64(rpc, inodes);
	sw->timestamp = ts;
	if (cg.has_swap)
		sw->swap_usage_bytes = u64(rpc, cg.swap_usage);
	st->attributes = at;
	st->cpu = cpu(rpc, &cg, ts);
	st->memory = memory(rpc, &cg, ts);
	st->writable_layer = fs;
	st->swap = sw;
	return at->labels && at->annotations && st->cpu && st->memory && id->mountpoint ? st : NULL;
}

static bool container_listed(const struct crid_container *c,
			     const Runtime__V1__ContainerStatsFilter *f)
{
	if (c->state == CRID_CTR_CREATING)
		return false;
	if (!f)
		return c->state == CRID_CTR_RUNNING;
	if (f->id[0] && strncmp(c->id, f->id, strlen(f->id)) != 0)
		return false;
	if (f->pod_sandbox_id[0] &&
	    strncmp(c->sandbox_id, f->pod_sandbox_id, strlen(f->pod_sandbox_id)) != 0)
		return false;
	for (size_t i = 0; i < f->n_label_selector; i++) {
		const char *v = crid_kvs_get(&c->labels, f->label_selector[i]->key);

		if (!v || strcmp(v, f->label_selector[i]->value) != 0)
			return false;
	}
	return f->id[0] || c->state == CRID_CTR_RUNNING;
}

void crid_handle_container_stats(struct crid_rpc *rpc, const ProtobufCMessage *request)
{
	const Runtime__V1__ContainerStatsRequest *req = (const void *)request;
	Runtime__V1__ContainerStatsResponse resp = RUNTIME__V1__CONTAINER_STATS_RESPONSE__INIT;
	struct crid_container *c = crid_container_handlers_find(rpc, req->container_id);

	if (!c)
		return;
	resp.stats = container_stats(rpc, c);
	if (!resp.stats) {
		crid_rpc_fail(rpc, CRID_GRPC_RESOURCE_EXHAUSTED, "out of memory");
		return;
	}
	crid_rpc_reply(rpc, &resp.base);
}

void crid_handle_list_container_stats(struct crid_rpc *rpc, const ProtobufCMessage *request)
{
	const Runtime__V1__ListContainerStatsRequest *req = (const void *)request;
	Runtime__V1__ListContainerStatsResponse resp =
	    RUNTIME__V1__LIST_CONTAINER_STATS_RESPONSE__INIT;
	struct crid_container *const *all;
	size_t n;

	if (!crid_rpc_ready(rpc, CRID_NEED_CTRS))
		return;
	all = crid_container_list(rpc->d->ctrs->store, &n);
	resp.stats = zalloc(rpc, (n + 1) * sizeof(*resp.stats));
	for (size_t i = 0; resp.stats && i < n; i++) {
		if (!container_listed(all[i], req->filter))
			continue;
		resp.stats[resp.n_stats] = container_stats(rpc, all[i]);
		if (!resp.stats[resp.n_stats++])
			resp.stats = NULL;
	}
	if (!resp.stats) {
		crid_rpc_fail(rpc, CRID_GRPC_RESOURCE_EXHAUSTED, "out of memory");
		return;
	}
	crid_rpc_reply(rpc, &resp.base);
}

/* ---- pods ---- */

static Runtime__V1__NetworkUsage *network(struct crid_rpc *rpc, const struct crid_sandbox *sb,
					  int64_t ts)
{
	Runtime__V1__NetworkUsage *nu = zalloc(rpc, sizeof(*nu));
	struct crid_net_stats ifs[16];
	size_t n = 0;

	if (!nu)
		return NULL;
	runtime__v1__network_usage__init(nu);
	nu->timestamp = ts;
	if (!sb->ns.net[0] || sb->state != CRID_SANDBOX_READY ||
	    crid_netns_stats(sb->ns.net, ifs, 16, &n, NULL) < 0)
		return nu;
	nu->interfaces = zalloc(rpc, (n + 1) * sizeof(*nu->interfaces));
	for (size_t i = 0; nu->interfaces && i < n; i++) {
		Runtime__V1__NetworkInterfaceUsage *u = zalloc(rpc, sizeof(*u));

		if (!u)
			return NULL;
		runtime__v1__network_interface_usage__init(u);
		u->name = crid_rpc_strdup(rpc, ifs[i].name);
		u->rx_bytes = u64(rpc, ifs[i].rx_bytes);
		u->rx_errors = u64(rpc, ifs[i].rx_errors);
		u->tx_bytes = u64(rpc, ifs[i].tx_bytes);
		u->tx_errors = u64(rpc, ifs[i].tx_errors);
		nu->interfaces[nu->n_interfaces++] = u;
		if (strcmp(ifs[i].name, "eth0") == 0)
			nu->default_interface = u;
	}
	return nu;
}

static Runtime__V1__PodSandboxStats *pod_stats(struct crid_rpc *rpc, struct crid_sandbox *sb)
{
	struct crid_ctrs *ctrs = rpc->d->ctrs;
	Runtime__V1__PodSandboxStats *st = zalloc(rpc, sizeof(*st));
	Runtime__V1__PodSandboxAttributes *at = zalloc(rpc, sizeof(*at));
	Runtime__V1__PodSandboxMetadata *md = zalloc(rpc, sizeof(*md));
	Runtime__V1__LinuxPodSandboxStats *lx = zalloc(rpc, sizeof(*lx));
	Runtime__V1__ProcessUsage *pu = zalloc(rpc, sizeof(*pu));
	size_t n = crid_ctrs_of_pod(ctrs, sb->id, NULL, 0);
	struct crid_container **v = zalloc(rpc, (n + 1) * sizeof(*v));
	struct crid_cgroup_stats cg = { 0 }, one;
	int64_t ts = crid_wall_ns();

	if (!st || !at || !md || !lx || !pu || !v)
		return NULL;
	runtime__v1__pod_sandbox_stats__init(st);
	runtime__v1__pod_sandbox_attributes__init(at);
	runtime__v1__pod_sandbox_metadata__init(md);
	runtime__v1__linux_pod_sandbox_stats__init(lx);
	runtime__v1__process_usage__init(pu);
	md->name = sb->name;
	md->namespace_ = sb->namespace;
	md->uid = sb->uid;
	md->attempt = sb->attempt;
	at->id = sb->id;
	at->metadata = md;
	at->labels = (void *)kvs(rpc, &sb->labels,
				 &runtime__v1__pod_sandbox_attributes__labels_entry__descriptor);
	at->n_labels = sb->labels.n;
	at->annotations =
	    (void *)kvs(rpc, &sb->annotations,
			&runtime__v1__pod_sandbox_attributes__annotations_entry__descriptor);
	at->n_annotations = sb->annotations.n;
	crid_ctrs_of_pod(ctrs, sb->id, v, n);
	lx->containers = zalloc(rpc, (n + 1) * sizeof(*lx->containers));
	for (size_t i = 0; lx->containers && i < n; i++) {
		if (v[i]->state != CRID_CTR_RUNNING)
			continue;
		lx->containers[lx->n_containers] = container_stats(rpc, v[i]);
		if (!lx->containers[lx->n_containers++])
			return NULL;
		/* the pod's figures: its cgroup parent's when it has one, else the sum */
		memset(&one, 0, sizeof(one));
		if (crid_cgroup_stats_read(ctrs->host, v[i]->cgroups_path, &one, NULL) == 0) {
			cg.has_cpu |= one.has_cpu, cg.has_memory |= one.has_memory;
			cg.cpu_usage_ns += one.cpu_usage_ns;
			cg.memory_usage += one.memory_usage;
			cg.memory_working_set += one.memory_working_set;
			cg.memory_rss += one.memory_rss;
			cg.page_faults += one.page_faults;
			cg.major_page_faults += one.major_page_faults;
			cg.pids += one.pids;
		}
	}
	if (sb->cgroup_parent[0])
		crid_cgroup_stats_read(ctrs->host, sb->cgroup_parent, &cg, NULL);
	pu->timestamp = ts;
	pu->process_count = u64(rpc, cg.pids);
	lx->cpu = cpu(rpc, &cg, ts);
	lx->memory = memory(rpc, &cg, ts);
	lx->network = network(rpc, sb, ts);
	lx->process = pu;
	st->attributes = at;
	st->linux = lx;
	return at->labels && at->annotations && lx->containers && lx->cpu && lx->memory &&
		       lx->network
		   ? st
		   : NULL;
}

static bool pod_listed(const struct crid_sandbox *sb, const Runtime__V1__PodSandboxStatsFilter *f)
{
	if (sb->state != CRID_SANDBOX_READY)
		return false;
	if (!f)
		return true;
	if (f->id[0] && strncmp(sb->id, f->id, strlen(f->id)) != 0)
		return false;
	for (size_t i = 0; i < f->n_label_selector; i++) {
		const char *v = crid_kvs_get(&sb->labels, f->label_selector[i]->key);

		if (!v || strcmp(v, f->label_selector[i]->value) != 0)
			return false;
	}
	return true;
}

void crid_handle_pod_sandbox_stats(struct crid_rpc *rpc, const ProtobufCMessage *request)
{
	const Runtime__V1__PodSandboxStatsRequest *req = (const void *)request;
	Runtime__V1__PodSandboxStatsResponse resp = RUNTIME__V1__POD_SANDBOX_STATS_RESPONSE__INIT;
	struct crid_sandbox *sb;
	bool amb;

	if (!rpc->d->ctrs) {
		crid_rpc_fail(rpc, CRID_GRPC_UNAVAILABLE, "containers not initialized");
		return;
	}
	sb = req->pod_sandbox_id[0]
		 ? crid_sandbox_find(rpc->d->pods->store, req->pod_sandbox_id, &amb)
		 : NULL;
	if (!sb || sb->state == CRID_SANDBOX_CREATING) {
		crid_rpc_fail(
		    rpc, req->pod_sandbox_id[0] ? CRID_GRPC_NOT_FOUND : CRID_GRPC_INVALID_ARGUMENT,
		    "pod sandbox `%s` not found", req->pod_sandbox_id);
		return;
	}
	resp.stats = pod_stats(rpc, sb);
	if (!resp.stats) {
		crid_rpc_fail(rpc, CRID_GRPC_RESOURCE_EXHAUSTED, "out of memory");
		return;
	}
	crid_rpc_reply(rpc, &resp.base);
}

void crid_handle_list_pod_sandbox_stats(struct crid_rpc *rpc, const ProtobufCMessage *request)
{
	const Runtime__V1__ListPodSandboxStatsRequest *req = (const void *)request;
	Runtime__V1__ListPodSandboxStatsResponse resp =
	    RUNTIME__V1__LIST_POD_SANDBOX_STATS_RESPONSE__INIT;
	struct crid_sandbox *const *all;
	size_t n;

	if (!crid_rpc_ready(rpc, CRID_NEED_PODS | CRID_NEED_CTRS))
		return;
	all = crid_sandbox_list(rpc->d->pods->store, &n);
	resp.stats = zalloc(rpc, (n + 1) * sizeof(*resp.stats));
	for (size_t i = 0; resp.stats && i < n; i++) {
		if (!pod_listed(all[i], req->filter))
			continue;
		resp.stats[resp.n_stats] = pod_stats(rpc, all[i]);
		if (!resp.stats[resp.n_stats++])
			resp.stats = NULL;
	}
	if (!resp.stats) {
		crid_rpc_fail(rpc, CRID_GRPC_RESOURCE_EXHAUSTED, "out of memory");
		return;
	}
	crid_rpc_reply(rpc, &resp.base);
}

/* ---- the streamed lists' items (handlers/list_stream.c) ---- */

bool crid_stats_container_listed(const struct crid_container *c,
				 const Runtime__V1__ContainerStatsFilter *filter)
{
	return container_listed(c, filter);
}

Runtime__V1__ContainerStats *crid_stats_container(struct crid_rpc *rpc, struct crid_container *c)
{
	return container_stats(rpc, c);
}

bool crid_stats_pod_listed(const struct crid_sandbox *sb,
			   const Runtime__V1__PodSandboxStatsFilter *filter)
{
	return pod_listed(sb, filter);
}

Runtime__V1__PodSandboxStats *crid_stats_pod(struct crid_rpc *rpc, struct crid_sandbox *sb)
{
	return pod_stats(rpc, sb);
}
