#include "bench/stats.h"

#include <math.h>
#include <stdlib.h>

#include "reactor/mem.h"

int crid_bench_samples_push(struct crid_bench_samples *s, double x)
{
	if (s->n == s->cap) {
		size_t cap = s->cap ? s->cap * 2 : 1024;
		double *v = crid_realloc(s->v, cap * sizeof(*v));

		if (!v)
			return -1;
		s->v = v;
		s->cap = cap;
	}
	s->v[s->n++] = x;
	return 0;
}

void crid_bench_samples_free(struct crid_bench_samples *s)
{
	crid_free(s->v);
	s->v = NULL;
	s->n = s->cap = 0;
}

double crid_bench_percentile(const double *sorted, size_t n, double p)
{
	double rank;

	if (n == 0 || !(p >= 0 && p <= 100))
		return NAN;
	rank = ceil(p / 100.0 * (double)n);
	if (rank < 1)
		rank = 1;
	return sorted[(size_t)rank - 1];
}

static int cmp_double(const void *a, const void *b)
{
	double x = *(const double *)a, y = *(const double *)b;

	return (x > y) - (x < y);
}

void crid_bench_summarize(struct crid_bench_samples *s, struct crid_bench_summary *out)
{
	double sum = 0;

	out->n = s->n;
	if (s->n == 0) {
		out->min = out->p50 = out->p90 = out->p99 = out->max = out->mean = NAN;
		return;
	}
	qsort(s->v, s->n, sizeof(*s->v), cmp_double);
	for (size_t i = 0; i < s->n; i++)
		sum += s->v[i];
	out->min = s->v[0];
	out->max = s->v[s->n - 1];
	out->p50 = crid_bench_percentile(s->v, s->n, 50);
	out->p90 = crid_bench_percentile(s->v, s->n, 90);
	out->p99 = crid_bench_percentile(s->v, s->n, 99);
	out->mean = sum / (double)s->n;
}

double crid_bench_ratio(double value, double base)
{
	if (isnan(value) || isnan(base) || !(base > 0))
		return NAN;
	return value / base;
}

size_t crid_bench_rounds(size_t total, size_t round)
{
	if (round == 0)
		round = 1;
	return total / round + (total % round != 0);
}

size_t crid_bench_round_calls(size_t total, size_t round, size_t r)
{
	if (round == 0)
		round = 1;
	if (r >= crid_bench_rounds(total, round))
		return 0;
	if (r + 1 < crid_bench_rounds(total, round) || total % round == 0)
		return round;
	return total % round;
}

size_t crid_bench_round_order(size_t r, size_t i, size_t n)
{
	if (n == 0)
		return 0;
	return (r + i) % n;
}
