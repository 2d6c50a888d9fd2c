/*
 * crid-bench's arithmetic, kept free of I/O so tests/unit/test_bench_stats.c
 * can check it: latency samples and their percentiles, ratios to a baseline
 * endpoint, and the interleaving schedule that lets machine drift cancel out.
 */
#ifndef CRID_BENCH_STATS_H
#define CRID_BENCH_STATS_H

#include <stddef.h>

/* A growable array of samples (microseconds, by convention). */
struct crid_bench_samples {
	double *v;
	size_t n, cap;
};

/* Appends |x|. Returns 0, or -1 when out of memory. */
int crid_bench_samples_push(struct crid_bench_samples *s, double x);
void crid_bench_samples_free(struct crid_bench_samples *s);

struct crid_bench_summary {
	size_t n;
	double min, p50, p90, p99, max, mean; /* NAN when n == 0 */
};

/*
 * Nearest-rank percentile of |n| ascending values: the smallest value with
 * at least |p| percent of the samples at or below it (p in [0, 100]; 0 gives
 * the minimum). NAN when n == 0 or p is out of range.
 */
double crid_bench_percentile(const double *sorted, size_t n, double p);

/* Sorts |s| in place and fills |out|. */
void crid_bench_summarize(struct crid_bench_samples *s, struct crid_bench_summary *out);

/* value / base; NAN when either is NAN or base is not positive. */
double crid_bench_ratio(double value, double base);

/* Rounds needed to make |total| calls in rounds of |round| (round 0 counts as 1). */
size_t crid_bench_rounds(size_t total, size_t round);

/* Calls in round |r| (0-based): |round|, except a shorter last round; 0 past the end. */
size_t crid_bench_round_calls(size_t total, size_t round, size_t r);

/*
 * Which endpoint runs |i|-th in round |r| of |n| endpoints. Rounds rotate the
 * order (A B C, B C A, C A B, ...) so no endpoint always runs right after a
 * given other one or always first in a round.
 */
size_t crid_bench_round_order(size_t r, size_t i, size_t n);

#endif
