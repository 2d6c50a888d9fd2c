/*
 * The catalog (reactor/metrics_families.h). Latency buckets start at 50 µs:
 * most CRI calls crid answers take tens of microseconds, so client_golang's
 * default buckets (5 ms and up) would put them all in the first one.
 */
#include "reactor/metrics_families.h"

#include <ev.h>

#define N(a) (sizeof(a) / sizeof((a)[0]))

static const double rpc_bounds[] = { 0.00005, 0.0001, 0.00025, 0.0005, 0.001, 0.0025,
				     0.005,   0.01,   0.025,   0.05,   0.1,   0.25,
				     0.5,     1,      2.5,     5,      10,    30 };
static const double loop_bounds[] = { 0.00001, 0.00005, 0.0001, 0.0005, 0.001, 0.005,
				      0.01,    0.05,	0.1,	0.5,	1 };
static const double pull_bounds[] = { 0.1, 0.25, 0.5, 1, 2.5, 5, 10, 30, 60, 120, 300, 600 };

#define COUNTER(n, h, ...)                                                                         \
	{                                                                                          \
		.name = n, .help = h, .type = CRID_METRIC_COUNTER, .label_names = { __VA_ARGS__ }  \
	}
#define GAUGE(n, h, ...)                                                                           \
	{                                                                                          \
		.name = n, .help = h, .type = CRID_METRIC_GAUGE, .label_names = { __VA_ARGS__ }    \
	}
#define HISTOGRAM(n, h, b, ...)                                                                    \
	{                                                                                          \
		.name = n, .help = h, .type = CRID_METRIC_HISTOGRAM,                               \
		.label_names = { __VA_ARGS__ }, .bounds = b, .n_bounds = N(b)                      \
	}

struct crid_metric crid_m_ops =
    COUNTER("crid_operations_total", "Cumulative number of CRI operations by operation and status.",
	    "operation", "status");
struct crid_metric crid_m_ops_errors =
    COUNTER("crid_operations_errors_total",
	    "Cumulative number of CRI operations that failed, by operation and status.",
	    "operation", "status");
struct crid_metric crid_m_ops_latency =
    HISTOGRAM("crid_operations_latency_seconds",
	      "Latency in seconds of CRI operations, by operation and status.", rpc_bounds,
	      "operation", "status");
struct crid_metric crid_m_loop_iter = HISTOGRAM(
    "crid_loop_iteration_seconds",
    "Time the event loop spent running callbacks per iteration (not waiting).", loop_bounds, NULL);
struct crid_metric crid_m_loop_iter_max =
    GAUGE("crid_loop_iteration_max_seconds", "The longest event loop iteration since start.", NULL);
struct crid_metric crid_m_loop_class =
    COUNTER("crid_loop_callback_seconds_total",
	    "Time the event loop spent in callbacks, by class: signal, child (exits seen on "
	    "pidfds), before_sleep (output flush hooks), io_timer (everything else).",
	    "class");
struct crid_metric crid_m_pull_bytes =
    COUNTER("crid_image_pulls_bytes_total",
	    "Bytes of layer blobs downloaded by image pulls (as sent: compressed), by registry.",
	    "registry");
struct crid_metric crid_m_pull_success =
    COUNTER("crid_image_pulls_success_total", "Successful image pulls, by registry.", "registry");
struct crid_metric crid_m_pull_failure =
    COUNTER("crid_image_pulls_failure_total", "Failed image pulls, by registry.", "registry");
struct crid_metric crid_m_pull_duration =
    HISTOGRAM("crid_image_pulls_duration_seconds", "Duration of image pulls, by registry.",
	      pull_bounds, "registry");
struct crid_metric crid_m_layer_reuse =
    COUNTER("crid_image_layer_reuse_total",
	    "Layers a pull did not download because the store or a running pull had them.", NULL);
struct crid_metric crid_m_containers =
    GAUGE("crid_containers", "Containers known to crid, by CRI state.", "state");
struct crid_metric crid_m_oom =
    COUNTER("crid_containers_oom_total", "Containers that exited killed by the OOM killer.", NULL);
struct crid_metric crid_m_exec_sessions = COUNTER(
    "crid_exec_sessions_total", "Exec processes started (ExecSync and streaming Exec).", "kind");
struct crid_metric crid_m_cni_latency = HISTOGRAM(
    "crid_cni_latency_seconds", "Latency in seconds of CNI plugin chains, by operation (ADD, DEL).",
    rpc_bounds, "operation");
struct crid_metric crid_m_oci_latency =
    HISTOGRAM("crid_oci_runtime_latency_seconds",
	      "Latency in seconds of OCI runtime calls, by operation (create, start, kill...).",
	      rpc_bounds, "operation");

struct crid_metric crid_m_fd_store_entries =
    GAUGE("crid_fd_store_entries",
	  "File descriptors crid keeps in its fd store (crid-keeper or systemd's): a running "
	  "container's pidfd and stdio FIFO ends.",
	  NULL);

static struct crid_metric *const catalog[] = {
	&crid_m_ops,	       &crid_m_ops_errors,	 &crid_m_ops_latency,
	&crid_m_loop_iter,     &crid_m_loop_iter_max,	 &crid_m_loop_class,
	&crid_m_pull_bytes,    &crid_m_pull_success,	 &crid_m_pull_failure,
	&crid_m_pull_duration, &crid_m_layer_reuse,	 &crid_m_containers,
	&crid_m_oom,	       &crid_m_exec_sessions,	 &crid_m_cni_latency,
	&crid_m_oci_latency,   &crid_m_fd_store_entries,
};

static void loop_collect(void);

/*
 * crid_operations_total is the latency histogram's count of the same labels:
 * copied at a scrape, so a call's end updates one series, not two.
 */
static void ops_collect(void)
{
	for (size_t i = 0; i < crid_m_ops_latency.n_series; i++) {
		const struct crid_metric_series *s = &crid_m_ops_latency.series[i];

		crid_metric_set(&crid_m_ops, (double)s->count, s->labels[0], s->labels[1]);
	}
}

int crid_metrics_scrape(enum crid_metrics_format fmt, char **out, size_t *len)
{
	ops_collect();
	loop_collect();
	crid_metrics_collect();
	return crid_metrics_encode(catalog, N(catalog), fmt, out, len);
}

void crid_metrics_reset(void)
{
	for (size_t i = 0; i < N(catalog); i++)
		crid_metric_clear(catalog[i]);
}

/*
 * The loop's figures are kept here, in plain fields, and handed to their
 * families at each scrape: an iteration costs a few adds, not six series
 * lookups.
 */
static struct {
	double class_time[CRID_LOOP_CLASSES]; /* this iteration's, by class */
	double total[CRID_LOOP_CLASSES + 2];  /* ... + io_timer, before_sleep, since start */
	uint64_t buckets[N(loop_bounds)], count;
	double sum, max;
} loop_stats;

static const char *const class_names[CRID_LOOP_CLASSES + 2] = { "signal", "child", "io_timer",
								"before_sleep" };

double crid_metrics_clock(void)
{
	return crid_metrics_on ? ev_time() : 0;
}

void crid_metrics_loop_class(enum crid_loop_class c, double t0)
{
	if (crid_metrics_on && t0 > 0)
		loop_stats.class_time[c] += ev_time() - t0;
}

void crid_metrics_loop_iteration(double busy, double hooks)
{
	double rest = busy, it = busy + hooks;
	size_t b = 0;

	if (!crid_metrics_on)
		return;
	for (int c = 0; c < CRID_LOOP_CLASSES; c++) {
		loop_stats.total[c] += loop_stats.class_time[c];
		rest -= loop_stats.class_time[c];
		loop_stats.class_time[c] = 0;
	}
	loop_stats.total[CRID_LOOP_CLASSES] += rest > 0 ? rest : 0;
	loop_stats.total[CRID_LOOP_CLASSES + 1] += hooks;
	while (b < N(loop_bounds) && it > loop_bounds[b])
		b++;
	if (b < N(loop_bounds))
		loop_stats.buckets[b]++;
	loop_stats.count++;
	loop_stats.sum += it;
	if (it > loop_stats.max)
		loop_stats.max = it;
}

static void loop_collect(void)
{
	for (size_t c = 0; c < N(class_names); c++)
		crid_metric_set(&crid_m_loop_class, loop_stats.total[c], class_names[c], NULL);
	crid_metric_histogram_set(&crid_m_loop_iter, loop_stats.buckets, loop_stats.count,
				  loop_stats.sum, NULL, NULL);
	crid_metric_set(&crid_m_loop_iter_max, loop_stats.max, NULL, NULL);
}

void crid_metrics_call_end(const char *operation, const char *status, double started, bool failed)
{
	if (!crid_metrics_on)
		return;
	if (failed)
		crid_metric_inc(&crid_m_ops_errors, operation, status);
	crid_metric_observe(&crid_m_ops_latency, ev_time() - started, operation, status);
}

void crid_metrics_since(struct crid_metric *m, double t0, const char *l0)
{
	if (crid_metrics_on && t0 > 0)
		crid_metric_observe(m, ev_time() - t0, l0, NULL);
}

void crid_metrics_pull_end(const char *registry, double t0, bool ok)
{
	if (!crid_metrics_on)
		return;
	crid_metric_inc(ok ? &crid_m_pull_success : &crid_m_pull_failure, registry, NULL);
	crid_metrics_since(&crid_m_pull_duration, t0, registry);
}
