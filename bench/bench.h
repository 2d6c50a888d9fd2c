/*
 * crid-bench: shared state of one run. A run measures each endpoint (a CRI
 * socket) in phases, one per concurrency level, interleaving the endpoints
 * round by round so that drift of the machine hits all of them alike.
 */
#ifndef CRID_BENCH_H
#define CRID_BENCH_H

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

struct crid_bench_endpoint {
	const char *name;
	const char *address;
	pid_t pid; /* 0 = unknown, pid_note says why */
	char pid_note[CRID_ERR_MSG_MAX + 32];
	bool have_idle, have_after;
	struct crid_bench_mem idle, after;
	struct crid_grpc_client *conn;
	char error[CRID_ERR_MSG_MAX + 64]; /* non-empty: failed, skipped from then on */
	struct crid_bench_phase phase[CRID_BENCH_MAX_PHASES];
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
};

uint64_t crid_bench_now_ns(void);

/* The rpc scenario (rpc.c): Version latency per endpoint and concurrency. */
int crid_bench_rpc_run(struct crid_bench_run *run);

/* Reports (report.c). */
void crid_bench_report_table(const struct crid_bench_run *run, FILE *f);
int crid_bench_report_json(const struct crid_bench_run *run, const char *path,
			   struct crid_err *err);

#endif
