/*
 * crid-bench: shared state of one run. A run measures each endpoint (a CRI
 * socket) in phases, one per concurrency level, interleaving the endpoints
 * round by round so that drift of the machine hits all of them alike.
 */
#ifndef CRID_BENCH_H
#define CRID_BENCH_H

#include <pthread.h>
#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>
#include <sys/types.h>

#include "bench/procinfo.h"
#include "bench/stats.h"
#include "io/grpc_client.h"

#define CRID_BENCH_MAX_ENDPOINTS 8
#define CRID_BENCH_MAX_PHASES 4

/* One endpoint at one concurrency level. */
struct crid_bench_phase {
	int concurrency;
	size_t round_calls; /* calls per endpoint per round */
	size_t calls;	    /* recorded calls that succeeded */
	size_t errors;
	double wall_s; /* time spent in recorded rounds */
	struct crid_bench_samples lat_us;
	struct crid_bench_summary sum;
};

/* A named latency (or other) distribution of one endpoint in a scenario. */
struct crid_bench_series {
	char name[48];
	const char *unit; /* "ms", "s", "MB/s" */
	struct crid_bench_samples s;
	struct crid_bench_summary sum;
};

/* A named single figure of one endpoint in a scenario. */
struct crid_bench_value {
	char name[64];
	const char *unit;
	double v;
};

/* One point of the memory-vs-pods curve (density). */
struct crid_bench_point {
	size_t pods;
	double pss_kib, rss_kib; /* everything the runtime runs besides containers */
};

#define CRID_BENCH_MAX_SERIES 24
#define CRID_BENCH_MAX_VALUES 160
#define CRID_BENCH_MAX_POINTS 16

/* What a pod/container/pull scenario measured on one endpoint. */
struct crid_bench_result {
	struct crid_bench_series series[CRID_BENCH_MAX_SERIES];
	size_t n_series;
	struct crid_bench_value values[CRID_BENCH_MAX_VALUES];
	size_t n_values;
	struct crid_bench_point curve[CRID_BENCH_MAX_POINTS];
	size_t n_curve;
};

struct crid_bench_trace_row;

struct crid_bench_endpoint {
	const char *name;
	const char *address;
	pid_t pid; /* 0 = unknown, pid_note says why */
	char pid_note[CRID_ERR_MSG_MAX + 32];
	bool have_idle, have_after;
	struct crid_bench_mem idle, after;
	struct crid_grpc_client *conn;
	char error[CRID_ERR_MSG_MAX + 64]; /* non-empty: failed, skipped from then on */
	bool skipped; /* error[] is the reason: the endpoint lacks an RPC the scenario needs */
	bool no_containers; /* CreateContainer answered UNIMPLEMENTED: pods are sandboxes only */
	char note[2 * CRID_ERR_MSG_MAX]; /* what was left out, "; "-separated; not an error */
	struct crid_bench_phase phase[CRID_BENCH_MAX_PHASES];
	struct crid_bench_result res;
	pthread_mutex_t lock; /* res and error[], from worker threads */
	char **pods;	      /* sandbox ids alive (density, relist) */
	size_t n_pods, cap_pods;
	size_t seq;			    /* pod names handed out */
	const char *trace_log;		    /* crid's debug log (--trace-log), NULL without */
	struct crid_bench_trace_row *trace; /* per (phase, rpc, step) samples (bench/trace.c) */
	size_t n_trace;
};

struct crid_bench_run {
	const char *scenario;
	size_t calls;  /* per endpoint and phase */
	size_t round;  /* minimum calls per round; a phase uses max(round, 10 x concurrency) */
	size_t warmup; /* unrecorded calls per endpoint before each phase */
	int timeout_ms;
	int conc[CRID_BENCH_MAX_PHASES];
	size_t n_conc;
	const char *json_path;
	bool tty; /* stderr is a terminal: progress redraws one line */
	struct crid_bench_endpoint ep[CRID_BENCH_MAX_ENDPOINTS];
	size_t n_ep;
	char date[32]; /* UTC, RFC 3339 */

	/* pod scenarios */
	size_t pods;	 /* podstart: pods per phase; relist: pods running */
	size_t parallel; /* podstart concurrency; start/teardown workers elsewhere */
	size_t steps[CRID_BENCH_MAX_POINTS]; /* density pod counts */
	size_t n_steps;
	double duration_s;    /* churn and relist, per endpoint */
	size_t rounds;	      /* pull */
	size_t pull_parallel; /* pull */
	double pull_bytes;    /* compressed size of the pull image; 0 = from ImageStatus */
	bool sandbox_only;    /* pods without a container on every endpoint (set by the probe) */
	const char *image;    /* container image (sleeps by itself) */
	const char *pull_image;
	const char *floor_bundle; /* OCI bundle for the bare OCI runtime floor */
	const char *floor_cni;	  /* single-plugin CNI conf for the CNI floor */
	const char *oci_runtime;  /* runc */
	const char *cni_bin_dir;
	const char *plots_dir;
	struct crid_bench_endpoint floor; /* floor figures, as a pseudo-endpoint */
};

uint64_t crid_bench_now_ns(void);

/* The rpc scenario (rpc.c): Version latency per endpoint and concurrency. */
int crid_bench_rpc_run(struct crid_bench_run *run);

/* Scenarios on pods, containers and images; each returns 0. */
int crid_bench_podstart_run(struct crid_bench_run *run);
int crid_bench_density_run(struct crid_bench_run *run);
int crid_bench_relist_run(struct crid_bench_run *run);
/* relist's List vs Stream* pass on |ep|'s running pods (relist_stream.c). */
void crid_bench_relist_stream(struct crid_bench_run *run, struct crid_bench_endpoint *ep);
int crid_bench_pull_run(struct crid_bench_run *run);
int crid_bench_churn_run(struct crid_bench_run *run);
int crid_bench_cleanup_run(struct crid_bench_run *run);

/* Results (result.c); all take ep->lock, so worker threads may call them. */
void crid_bench_record(struct crid_bench_endpoint *ep, const char *series, const char *unit,
		       double x);
void crid_bench_set(struct crid_bench_endpoint *ep, const char *unit, double v, const char *fmt,
		    ...) __attribute__((format(printf, 4, 5)));
/* First failure wins; status UNIMPLEMENTED marks the endpoint skipped, not failed. */
void crid_bench_fail(struct crid_bench_endpoint *ep, int status, const char *fmt, ...)
    __attribute__((format(printf, 3, 4)));
bool crid_bench_failed(struct crid_bench_endpoint *ep);
/* Adds a note (once) to what the endpoint's figures leave out; it stays "ok". */
void crid_bench_note(struct crid_bench_endpoint *ep, const char *fmt, ...)
    __attribute__((format(printf, 2, 3)));
void crid_bench_summarize_all(struct crid_bench_run *run);
const struct crid_bench_series *crid_bench_find_series(const struct crid_bench_endpoint *ep,
						       const char *name);
const struct crid_bench_value *crid_bench_find_value(const struct crid_bench_endpoint *ep,
						     const char *name);
void crid_bench_progress(const struct crid_bench_run *run, bool done, const char *fmt, ...)
    __attribute__((format(printf, 3, 4)));
double crid_bench_since_s(uint64_t t0_ns);
void crid_bench_sleep_ms(int ms);
/* Connects (per worker thread); on failure marks |ep| failed and returns NULL. */
struct crid_grpc_client *crid_bench_connect(const struct crid_bench_run *run,
					    struct crid_bench_endpoint *ep);

/* Plots with gnuplot (plot.c); a no-op without --plots; notes problems on stderr. */
void crid_bench_plots(const struct crid_bench_run *run);

/* Generic reports of the pod/image scenarios (report.c). */
void crid_bench_report_scenario_table(const struct crid_bench_run *run, FILE *f);

/* Reports (report.c). */
void crid_bench_report_table(const struct crid_bench_run *run, FILE *f);
int crid_bench_report_json(const struct crid_bench_run *run, const char *path,
			   struct crid_err *err);

#endif
