/*
 * crid's per-step timing in the bench: with --trace-log NAME=PATH, the
 * endpoint NAME's daemon log (crid at --log-level debug) is read back after
 * each podstart phase, and every `trace <RPC> <obj>=<id> total=Xms step=Y ...`
 * line crid wrote during the phase becomes a sample of (phase, RPC, step).
 * The JSON gets "trace": [{phase, rpc, step, n, p50, p90, mean}], the text
 * report one line of p50s per phase and RPC.
 *
 * Why the log and not an RPC: the samples are per call (real percentiles,
 * not sums), nothing in the daemon keeps them (idle memory), and Status
 * stays what kubelet and crictl expect of a CRI-O-like runtime.
 */
#ifndef CRID_BENCH_TRACE_H
#define CRID_BENCH_TRACE_H

#include <stdio.h>

#include "bench/bench.h"

/* The samples of one step of one RPC in one phase (ms). */
struct crid_bench_trace_row {
	char phase[24], rpc[32], step[24];
	struct crid_bench_samples s;
	struct crid_bench_summary sum;
};

/* The log's size now: where the next phase's lines start. -1 without a trace log. */
long crid_bench_trace_offset(const struct crid_bench_endpoint *ep);

/* Samples the trace lines written in [from, end of log) as phase |phase|. */
void crid_bench_trace_collect(struct crid_bench_endpoint *ep, const char *phase, long from);

/* The text report: p50 per step, one line per phase and RPC, for every endpoint with a trace. */
void crid_bench_trace_report(const struct crid_bench_run *run, FILE *f);

/* Frees what the endpoint's trace holds. */
void crid_bench_trace_free(struct crid_bench_endpoint *ep);

#endif
