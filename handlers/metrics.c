/*
 * ListMetricDescriptors and ListPodSandboxMetrics: the cAdvisor metric names,
 * help strings, label keys and types CRI-O publishes
 * (internal/lib/stats/descriptors.go), which kubelet's criMetricsCollector
 * re-exports on /metrics/cadvisor. Figures come from the cgroups
 * (runtime/container/cgroup_metrics.h) and the pod's network namespace
 * (crid_netns_stats). Only metrics crid fills are described; a figure the
 * host lacks (no memsw, no memory.peak) is left out of the answer, never 0.
 *
 * Values are UInt64: seconds are whole seconds, as CRI-O divides them.
 */
#include "handlers/stats_spread.h"
#include "handlers/metrics.h"

#include <limits.h>
#include <stddef.h>
#include <string.h>

#include "handlers/container.h"
#include "handlers/list_stream.h"
#include "proto/api.pb-c.h"
#include "runtime/container/cgroup_metrics.h"
#include "runtime/container/cgroup_stats.h"
#include "runtime/image/image_names.h"
#include "runtime/image/image_store.h"

#define MAX_IFACES 16
#define N_FS 4		   /* container_fs_* series per container */
#define LAYER_MAX_AGE 10.0 /* writable layers are measured at most this often (du walks them) */
#define NS_PER_S 1000000000ULL

enum labels { L_BASE, L_CPU, L_FAILURE, L_IFACE };

static char *base_keys[] = { "id", "name", "image" };
static char *cpu_keys[] = { "id", "name", "image", "cpu" };
static char *failure_keys[] = { "id", "name", "image", "failure_type", "scope" };
static char *iface_keys[] = { "id", "name", "image", "interface" };

static const struct {
	char **keys;
	size_t n;
} label_sets[] = {
	[L_BASE] = { base_keys, 3 },
	[L_CPU] = { cpu_keys, 4 },
	[L_FAILURE] = { failure_keys, 5 },
	[L_IFACE] = { iface_keys, 4 },
};

struct desc {
	const char *name, *help;
	enum labels labels;
};

enum {
	D_LAST_SEEN,
	D_CPU_USER,
	D_CPU_SYSTEM,
	D_CPU_USAGE,
	D_CFS_PERIODS,
	D_CFS_THROTTLED_PERIODS,
	D_CFS_THROTTLED_SECONDS,
	D_FS_INODES_FREE,
	D_FS_INODES_TOTAL,
	D_FS_LIMIT_BYTES,
	D_FS_USAGE_BYTES,
	D_MEM_CACHE,
	D_MEM_RSS,
	D_MEM_KERNEL,
	D_MEM_MAPPED_FILE,
	D_MEM_SWAP,
	D_MEM_FAILCNT,
	D_MEM_USAGE,
	D_MEM_MAX_USAGE,
	D_MEM_WORKING_SET,
	D_MEM_FAILURES,
	D_NET_RX_BYTES,
	D_NET_RX_PACKETS,
	D_NET_RX_DROPPED,
	D_NET_RX_ERRORS,
	D_NET_TX_BYTES,
	D_NET_TX_PACKETS,
	D_NET_TX_DROPPED,
	D_NET_TX_ERRORS,
	D_OOM_EVENTS,
	D_PROCESSES,
	D_THREADS,
	D_THREADS_MAX,
	D_SPEC_MEM_LIMIT,
	D_SPEC_MEM_RESERVATION,
	D_SPEC_SWAP_LIMIT,
	D_SPEC_CPU_SHARES,
	D_SPEC_CPU_PERIOD,
	D_SPEC_CPU_QUOTA,
	D_COUNT
};

/* CRI-O's wording, kept byte for byte: dashboards match on these. */
static const struct desc descs[D_COUNT] = {
	[D_LAST_SEEN] = { "container_last_seen", "Last time a container was seen by the exporter",
			  L_BASE },
	[D_CPU_USER] = { "container_cpu_user_seconds_total",
			 "Cumulative user CPU time consumed in seconds.", L_BASE },
	[D_CPU_SYSTEM] = { "container_cpu_system_seconds_total",
			   "Cumulative system CPU time consumed in seconds.", L_BASE },
	[D_CPU_USAGE] = { "container_cpu_usage_seconds_total",
			  "Cumulative CPU time consumed in seconds.", L_CPU },
	[D_CFS_PERIODS] = { "container_cpu_cfs_periods_total",
			    "Number of elapsed enforcement period intervals.", L_BASE },
	[D_CFS_THROTTLED_PERIODS] = { "container_cpu_cfs_throttled_periods_total",
				      "Number of throttled period intervals.", L_BASE },
	[D_CFS_THROTTLED_SECONDS] = { "container_cpu_cfs_throttled_seconds_total",
				      "Total time duration the container has been throttled.",
				      L_BASE },
	[D_FS_INODES_FREE] = { "container_fs_inodes_free", "Number of free inodes.", L_BASE },
	[D_FS_INODES_TOTAL] = { "container_fs_inodes_total", "Total number of inodes.", L_BASE },
	[D_FS_LIMIT_BYTES] = { "container_fs_limit_bytes", "Filesystem limit in bytes.", L_BASE },
	[D_FS_USAGE_BYTES] = { "container_fs_usage_bytes", "Current filesystem usage in bytes.",
			       L_BASE },
	[D_MEM_CACHE] = { "container_memory_cache", "Number of bytes of page cache memory.",
			  L_BASE },
	[D_MEM_RSS] = { "container_memory_rss", "Size of RSS in bytes.", L_BASE },
	[D_MEM_KERNEL] = { "container_memory_kernel_usage",
			   "Size of kernel memory allocated in bytes.", L_BASE },
	[D_MEM_MAPPED_FILE] = { "container_memory_mapped_file",
				"Size of memory mapped files in bytes.", L_BASE },
	[D_MEM_SWAP] = { "container_memory_swap", "Container swap usage in bytes.", L_BASE },
	[D_MEM_FAILCNT] = { "container_memory_failcnt", "Number of memory usage hits limits",
			    L_BASE },
	[D_MEM_USAGE] = { "container_memory_usage_bytes",
			  "Current memory usage in bytes, including all memory regardless of "
			  "when it was accessed",
			  L_BASE },
	[D_MEM_MAX_USAGE] = { "container_memory_max_usage_bytes",
			      "Maximum memory usage recorded in bytes", L_BASE },
	[D_MEM_WORKING_SET] = { "container_memory_working_set_bytes",
				"Current working set in bytes.", L_BASE },
	[D_MEM_FAILURES] = { "container_memory_failures_total",
			     "Cumulative count of memory allocation failures.", L_FAILURE },
	[D_NET_RX_BYTES] = { "container_network_receive_bytes_total",
			     "Cumulative count of bytes received", L_IFACE },
	[D_NET_RX_PACKETS] = { "container_network_receive_packets_total",
			       "Cumulative count of packets received", L_IFACE },
	[D_NET_RX_DROPPED] = { "container_network_receive_packets_dropped_total",
			       "Cumulative count of packets dropped while receiving", L_IFACE },
	[D_NET_RX_ERRORS] = { "container_network_receive_errors_total",
			      "Cumulative count of errors encountered while receiving", L_IFACE },
	[D_NET_TX_BYTES] = { "container_network_transmit_bytes_total",
			     "Cumulative count of bytes transmitted", L_IFACE },
	[D_NET_TX_PACKETS] = { "container_network_transmit_packets_total",
			       "Cumulative count of packets transmitted", L_IFACE },
	[D_NET_TX_DROPPED] = { "container_network_transmit_packets_dropped_total",
			       "Cumulative count of packets dropped while transmitting", L_IFACE },
	[D_NET_TX_ERRORS] = { "container_network_transmit_errors_total",
			      "Cumulative count of errors encountered while transmitting",
			      L_IFACE },
	[D_OOM_EVENTS] = { "container_oom_events_total",
			   "Count of out of memory events observed for the container", L_BASE },
	[D_PROCESSES] = { "container_processes",
			  "Number of processes running inside the container.", L_BASE },
	[D_THREADS] = { "container_threads", "Number of threads running inside the container",
			L_BASE },
	[D_THREADS_MAX] = { "container_threads_max",
			    "Maximum number of threads allowed inside the container, infinity if "
			    "value is zero",
			    L_BASE },
	[D_SPEC_MEM_LIMIT] = { "container_spec_memory_limit_bytes",
			       "Memory limit for the container in bytes.", L_BASE },
	[D_SPEC_MEM_RESERVATION] = { "container_spec_memory_reservation_limit_bytes",
				     "Memory reservation limit for the container.", L_BASE },
	[D_SPEC_SWAP_LIMIT] = { "container_spec_memory_swap_limit_bytes",
				"Memory swap limit for the container.", L_BASE },
	[D_SPEC_CPU_SHARES] = { "container_spec_cpu_shares", "CPU share of the container.",
				L_BASE },
	[D_SPEC_CPU_PERIOD] = { "container_spec_cpu_period", "CPU period of the container.",
				L_BASE },
	[D_SPEC_CPU_QUOTA] = { "container_spec_cpu_quota", "CPU quota of the container.", L_BASE },
};

#define COUNTER RUNTIME__V1__METRIC_TYPE__COUNTER
#define GAUGE RUNTIME__V1__METRIC_TYPE__GAUGE

/* A cgroup figure as published: its descriptor, type, divisor and extra label values. */
static const struct {
	enum crid_cgm src;
	int desc;
	Runtime__V1__MetricType type;
	uint64_t div;
	const char *l1, *l2;
} cg_rows[] = {
	{ CRID_CGM_CPU_USER_NS, D_CPU_USER, COUNTER, NS_PER_S, NULL, NULL },
	{ CRID_CGM_CPU_SYSTEM_NS, D_CPU_SYSTEM, COUNTER, NS_PER_S, NULL, NULL },
	/* kubelet turns cAdvisor's per-cpu figures off: one "total" series */
	{ CRID_CGM_CPU_USAGE_NS, D_CPU_USAGE, COUNTER, NS_PER_S, "total", NULL },
	{ CRID_CGM_CFS_PERIODS, D_CFS_PERIODS, COUNTER, 1, NULL, NULL },
	{ CRID_CGM_CFS_THROTTLED_PERIODS, D_CFS_THROTTLED_PERIODS, COUNTER, 1, NULL, NULL },
	{ CRID_CGM_CFS_THROTTLED_NS, D_CFS_THROTTLED_SECONDS, COUNTER, NS_PER_S, NULL, NULL },
	{ CRID_CGM_MEM_CACHE, D_MEM_CACHE, GAUGE, 1, NULL, NULL },
	{ CRID_CGM_MEM_RSS, D_MEM_RSS, GAUGE, 1, NULL, NULL },
	{ CRID_CGM_MEM_KERNEL, D_MEM_KERNEL, GAUGE, 1, NULL, NULL },
	{ CRID_CGM_MEM_MAPPED_FILE, D_MEM_MAPPED_FILE, GAUGE, 1, NULL, NULL },
	{ CRID_CGM_MEM_SWAP, D_MEM_SWAP, GAUGE, 1, NULL, NULL },
	{ CRID_CGM_MEM_FAILCNT, D_MEM_FAILCNT, COUNTER, 1, NULL, NULL },
	{ CRID_CGM_MEM_USAGE, D_MEM_USAGE, GAUGE, 1, NULL, NULL },
	{ CRID_CGM_MEM_MAX_USAGE, D_MEM_MAX_USAGE, GAUGE, 1, NULL, NULL },
	{ CRID_CGM_MEM_WORKING_SET, D_MEM_WORKING_SET, GAUGE, 1, NULL, NULL },
	{ CRID_CGM_PGFAULT, D_MEM_FAILURES, COUNTER, 1, "pgfault", "container" },
	{ CRID_CGM_PGFAULT_HIER, D_MEM_FAILURES, COUNTER, 1, "pgfault", "hierarchy" },
	{ CRID_CGM_PGMAJFAULT, D_MEM_FAILURES, COUNTER, 1, "pgmajfault", "container" },
	{ CRID_CGM_PGMAJFAULT_HIER, D_MEM_FAILURES, COUNTER, 1, "pgmajfault", "hierarchy" },
	{ CRID_CGM_OOM_EVENTS, D_OOM_EVENTS, COUNTER, 1, NULL, NULL },
	{ CRID_CGM_PROCESSES, D_PROCESSES, GAUGE, 1, NULL, NULL },
	{ CRID_CGM_THREADS, D_THREADS, GAUGE, 1, NULL, NULL },
	{ CRID_CGM_THREADS_MAX, D_THREADS_MAX, GAUGE, 1, NULL, NULL },
	{ CRID_CGM_SPEC_MEM_LIMIT, D_SPEC_MEM_LIMIT, GAUGE, 1, NULL, NULL },
	{ CRID_CGM_SPEC_MEM_RESERVATION, D_SPEC_MEM_RESERVATION, GAUGE, 1, NULL, NULL },
	{ CRID_CGM_SPEC_SWAP_LIMIT, D_SPEC_SWAP_LIMIT, GAUGE, 1, NULL, NULL },
	{ CRID_CGM_SPEC_CPU_SHARES, D_SPEC_CPU_SHARES, GAUGE, 1, NULL, NULL },
	{ CRID_CGM_SPEC_CPU_PERIOD, D_SPEC_CPU_PERIOD, GAUGE, 1, NULL, NULL },
	{ CRID_CGM_SPEC_CPU_QUOTA, D_SPEC_CPU_QUOTA, GAUGE, 1, NULL, NULL },
};

#define N_CG_ROWS (sizeof(cg_rows) / sizeof(cg_rows[0]))

/* The per-interface counters of /proc/net/dev, all COUNTER. */
static const struct {
	int desc;
	size_t off;
} net_rows[] = {
	{ D_NET_RX_BYTES, offsetof(struct crid_net_stats, rx_bytes) },
	{ D_NET_RX_PACKETS, offsetof(struct crid_net_stats, rx_packets) },
	{ D_NET_RX_DROPPED, offsetof(struct crid_net_stats, rx_dropped) },
	{ D_NET_RX_ERRORS, offsetof(struct crid_net_stats, rx_errors) },
	{ D_NET_TX_BYTES, offsetof(struct crid_net_stats, tx_bytes) },
	{ D_NET_TX_PACKETS, offsetof(struct crid_net_stats, tx_packets) },
	{ D_NET_TX_DROPPED, offsetof(struct crid_net_stats, tx_dropped) },
	{ D_NET_TX_ERRORS, offsetof(struct crid_net_stats, tx_errors) },
};

#define N_NET_ROWS (sizeof(net_rows) / sizeof(net_rows[0]))

void crid_handle_list_metric_descriptors(struct crid_rpc *rpc, const ProtobufCMessage *request)
{
	Runtime__V1__ListMetricDescriptorsResponse resp =
	    RUNTIME__V1__LIST_METRIC_DESCRIPTORS_RESPONSE__INIT;
	Runtime__V1__MetricDescriptor *all = crid_arena_alloc(&rpc->arena, sizeof(*all) * D_COUNT);
	Runtime__V1__MetricDescriptor **v = crid_arena_alloc(&rpc->arena, sizeof(*v) * D_COUNT);

	(void)request;
	if (!all || !v) {
		crid_rpc_fail(rpc, CRID_GRPC_RESOURCE_EXHAUSTED, "out of memory");
		return;
	}
	for (size_t i = 0; i < D_COUNT; i++) {
		runtime__v1__metric_descriptor__init(&all[i]);
		all[i].name = (char *)descs[i].name;
		all[i].help = (char *)descs[i].help;
		all[i].label_keys = label_sets[descs[i].labels].keys;
		all[i].n_label_keys = label_sets[descs[i].labels].n;
		v[i] = &all[i];
	}
	resp.descriptors = v;
	resp.n_descriptors = D_COUNT;
	crid_rpc_reply(rpc, &resp.base);
}

/* ---- values ---- */

/* The metrics of one pod or container, built in the call's arena. */
struct mlist {
	struct crid_rpc *rpc;
	Runtime__V1__Metric **v;
	size_t n, cap;
	const char *base[3]; /* id, name, image */
	int64_t ts;
	bool oom; /* an allocation failed: the reply is abandoned */
};

static void add(struct mlist *l, int desc, Runtime__V1__MetricType type, uint64_t value,
		const char *l1, const char *l2)
{
	Runtime__V1__Metric *m = crid_arena_alloc(&l->rpc->arena, sizeof(*m));
	Runtime__V1__UInt64Value *u = crid_arena_alloc(&l->rpc->arena, sizeof(*u));
	char **lv = crid_arena_alloc(&l->rpc->arena, sizeof(*lv) * 5);
	size_t nl = 0;

	if (!m || !u || !lv || l->n == l->cap) {
		l->oom = true;
		return;
	}
	runtime__v1__metric__init(m);
	runtime__v1__uint64_value__init(u);
	for (; nl < 3; nl++)
		lv[nl] = (char *)l->base[nl];
	if (l1)
		lv[nl++] = (char *)l1;
	if (l2)
		lv[nl++] = (char *)l2;
	u->value = value;
	m->name = (char *)descs[desc].name;
	m->timestamp = l->ts;
	m->metric_type = type;
	m->label_values = lv;
	m->n_label_values = nl;
	m->value = u;
	l->v[l->n++] = m;
}

static bool mlist_init(struct mlist *l, struct crid_rpc *rpc, size_t cap, const char *id,
		       const char *name, const char *image)
{
	memset(l, 0, sizeof(*l));
	l->rpc = rpc;
	l->cap = cap;
	l->v = crid_arena_alloc(&rpc->arena, sizeof(*l->v) * (cap ? cap : 1));
	l->base[0] = id;
	l->base[1] = name ? name : "";
	l->base[2] = image ? image : "";
	l->ts = crid_wall_ns();
	return l->v != NULL;
}

static void add_cgroup(struct mlist *l, const struct crid_cgroup_metrics *m)
{
	for (size_t i = 0; i < N_CG_ROWS; i++) {
		if (crid_cgm_has(m, cg_rows[i].src))
			add(l, cg_rows[i].desc, cg_rows[i].type,
			    m->v[cg_rows[i].src] / cg_rows[i].div, cg_rows[i].l1, cg_rows[i].l2);
	}
}

/* Seconds since the epoch, as cAdvisor's gauge. */
static void add_last_seen(struct mlist *l)
{
	add(l, D_LAST_SEEN, GAUGE, (uint64_t)(l->ts / (int64_t)NS_PER_S), NULL, NULL);
}

/*
 * The interface's name is copied into the call's arena: |ifs| is the caller's
 * stack, and the reply is encoded after that frame has returned.
 */
static void add_network(struct mlist *l, const struct crid_net_stats *ifs, size_t n)
{
	for (size_t i = 0; i < n; i++) {
		const char *name = crid_rpc_strdup(l->rpc, ifs[i].name);

		if (!name) {
			l->oom = true;
			return;
		}
		for (size_t j = 0; j < N_NET_ROWS; j++) {
			const uint64_t *p = (const void *)((const char *)&ifs[i] + net_rows[j].off);

			add(l, net_rows[j].desc, COUNTER, *p, name, NULL);
		}
	}
}

/*
 * The writable layer: its filesystem's capacity, and its bytes once the du
 * cache measured them (the first call starts the measurement, off the loop).
 */
static void add_fs(struct mlist *l, struct crid_ctrs *ctrs, struct crid_container *c)
{
	char layer[PATH_MAX];
	struct crid_fs_capacity cap;
	uint64_t bytes, inodes;

	if (crid_container_layer(ctrs->store, c, layer, sizeof(layer)) != 0 ||
	    strlen(layer) + sizeof("/upper") > sizeof(layer))
		return;
	strcat(layer, "/upper");
	if (crid_fs_capacity_read(layer, &cap, NULL) == 0) {
		add(l, D_FS_INODES_FREE, GAUGE, cap.inodes_free, NULL, NULL);
		add(l, D_FS_INODES_TOTAL, GAUGE, cap.inodes, NULL, NULL);
		add(l, D_FS_LIMIT_BYTES, GAUGE, cap.bytes, NULL, NULL);
	}
	if (crid_du_cache_get_known(ctrs->du, layer, LAYER_MAX_AGE, &bytes, &inodes))
		add(l, D_FS_USAGE_BYTES, GAUGE, bytes, NULL, NULL);
}

/* The image label as cAdvisor and CRI-O give it: a name (the first repo tag), not the id. */
static const char *image_name(struct crid_rpc *rpc, const struct crid_container *c)
{
	struct crid_image *img = rpc->d->images && c->image_ref
				     ? crid_image_store_find(rpc->d->images, c->image_ref)
				     : NULL;
	const char *tag = img ? crid_image_names_repo_tag(img) : NULL;

	return tag ? tag : c->image;
}

/* *out NULL when the container's cgroup is gone since it was listed; -1 when out of memory. */
static int container_metrics(struct crid_rpc *rpc, struct crid_container *c,
			     Runtime__V1__ContainerMetrics **out)
{
	Runtime__V1__ContainerMetrics *cm;
	struct crid_cgroup_metrics cg;
	struct mlist l;

	*out = NULL;
	if (crid_cgroup_metrics_read(rpc->d->ctrs->host, c->cgroups_path, &cg, NULL) < 0)
		return 0;
	cm = crid_arena_alloc(&rpc->arena, sizeof(*cm));
	if (!cm || !mlist_init(&l, rpc, N_CG_ROWS + 1 + N_FS, c->id, c->name, image_name(rpc, c)))
		return -1;
	runtime__v1__container_metrics__init(cm);
	add_cgroup(&l, &cg);
	add_fs(&l, rpc->d->ctrs, c);
	add_last_seen(&l);
	if (l.oom)
		return -1;
	cm->container_id = c->id;
	cm->metrics = l.v;
	cm->n_metrics = l.n;
	*out = cm;
	return 0;
}

static int containers_metrics(struct crid_rpc *rpc, struct crid_sandbox *sb,
			      Runtime__V1__PodSandboxMetrics *pm)
{
	struct crid_ctrs *ctrs = rpc->d->ctrs;
	size_t n = crid_ctrs_of_pod(ctrs, sb->id, NULL, 0);
	struct crid_container **v = crid_arena_alloc(&rpc->arena, (n + 1) * sizeof(*v));
	Runtime__V1__ContainerMetrics *cm;

	pm->container_metrics =
	    crid_arena_alloc(&rpc->arena, (n + 1) * sizeof(*pm->container_metrics));
	if (!v || !pm->container_metrics)
		return -1;
	n = crid_ctrs_of_pod(ctrs, sb->id, v, n);
	for (size_t i = 0; i < n; i++) {
		if (v[i]->state != CRID_CTR_RUNNING)
			continue;
		if (container_metrics(rpc, v[i], &cm) < 0)
			return -1;
		if (cm)
			pm->container_metrics[pm->n_container_metrics++] = cm;
	}
	return 0;
}

/* The pod's own series: its network counters and its cgroup parent's figures. */
static int pod_metrics(struct crid_rpc *rpc, struct crid_sandbox *sb,
		       Runtime__V1__PodSandboxMetrics **out)
{
	Runtime__V1__PodSandboxMetrics *pm = crid_arena_alloc(&rpc->arena, sizeof(*pm));
	struct crid_net_stats ifs[MAX_IFACES];
	struct crid_cgroup_metrics cg = { 0 };
	size_t n_ifs = 0;
	struct mlist l;

	if (!pm)
		return -1;
	runtime__v1__pod_sandbox_metrics__init(pm);
	if (sb->ns.net[0] && crid_netns_stats(sb->ns.net, ifs, MAX_IFACES, &n_ifs, NULL) < 0)
		n_ifs = 0;
	if (sb->cgroup_parent && sb->cgroup_parent[0])
		crid_cgroup_metrics_read(rpc->d->ctrs->host, sb->cgroup_parent, &cg, NULL);
	if (!mlist_init(&l, rpc, N_CG_ROWS + 1 + N_NET_ROWS * n_ifs, sb->id, "POD", ""))
		return -1;
	add_network(&l, ifs, n_ifs);
	add_cgroup(&l, &cg);
	add_last_seen(&l);
	if (l.oom || containers_metrics(rpc, sb, pm) < 0)
		return -1;
	pm->pod_sandbox_id = sb->id;
	pm->metrics = l.v;
	pm->n_metrics = l.n;
	*out = pm;
	return 0;
}

static void *find_ready_pod(struct crid_rpc *rpc, const char *id)
{
	bool ambiguous;
	struct crid_sandbox *sb = crid_sandbox_find(rpc->d->pods->store, id, &ambiguous);

	return sb && sb->state == CRID_SANDBOX_READY ? sb : NULL;
}

static ProtobufCMessage *build_pod_metrics(struct crid_rpc *rpc, void *rec)
{
	Runtime__V1__PodSandboxMetrics *pm;

	return pod_metrics(rpc, rec, &pm) < 0 ? NULL : &pm->base;
}

static const struct crid_stats_spread_kind metrics_kind = { find_ready_pod, build_pod_metrics };

/* Built over several loop iterations (handlers/stats_spread.h): ~44 cgroup files per pod. */
void crid_handle_list_pod_sandbox_metrics(struct crid_rpc *rpc, const ProtobufCMessage *request)
{
	struct crid_sandbox *const *all;
	const char **ids;
	size_t n, k = 0;

	(void)request;
	if (!crid_rpc_ready(rpc, CRID_NEED_PODS | CRID_NEED_CTRS))
		return;
	all = crid_sandbox_list(rpc->d->pods->store, &n);
	ids = crid_arena_alloc(&rpc->arena, (n + 1) * sizeof(*ids));
	if (!ids) {
		crid_rpc_fail(rpc, CRID_GRPC_RESOURCE_EXHAUSTED, "out of memory");
		return;
	}
	for (size_t i = 0; i < n; i++)
		if (all[i]->state == CRID_SANDBOX_READY)
			ids[k++] = all[i]->id;
	crid_stats_spread_start(rpc, &metrics_kind, ids, k);
}

static bool metrics_listed(const void *sb, const void *filter)
{
	(void)filter;
	return ((const struct crid_sandbox *)sb)->state == CRID_SANDBOX_READY;
}

static ProtobufCMessage *metrics_build(struct crid_rpc *rpc, struct crid_sandbox *sb)
{
	Runtime__V1__PodSandboxMetrics *pm;

	return pod_metrics(rpc, sb, &pm) < 0 ? NULL : &pm->base;
}

void crid_handle_stream_pod_sandbox_metrics(struct crid_rpc *rpc, const ProtobufCMessage *request)
{
	(void)request;
	if (!crid_rpc_ready(rpc, CRID_NEED_PODS | CRID_NEED_CTRS))
		return;
	crid_list_stream_sandboxes(rpc, metrics_listed, NULL, metrics_build);
}
