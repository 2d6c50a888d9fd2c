/*
 * Recording (reactor/metrics.h): each family keeps its series in a small
 * array searched linearly. Label values are mostly static strings (method
 * and status names), so a pointer compare usually settles a match before
 * strcmp; a family has tens of series, not thousands.
 */
#include "reactor/metrics.h"

#include <string.h>

#include "reactor/mem.h"

#define MAX_COLLECTORS 16

bool crid_metrics_on;

static struct {
	crid_metrics_collect_fn *fn;
	void *user;
} collectors[MAX_COLLECTORS];

void crid_metrics_enable(bool on)
{
	crid_metrics_on = on;
}

static bool label_eq(const char *a, const char *b)
{
	if (a == b)
		return true;
	if (!a || !b)
		return false;
	return strcmp(a, b) == 0;
}

static size_t n_labels(const struct crid_metric *m)
{
	size_t n = 0;

	while (n < CRID_METRIC_MAX_LABELS && m->label_names[n])
		n++;
	return n;
}

static bool matches(const struct crid_metric_series *s, size_t nl, const char *l0, const char *l1)
{
	return (nl < 1 || label_eq(s->labels[0], l0)) && (nl < 2 || label_eq(s->labels[1], l1));
}

/* The index of the series for |l0|, |l1|, or n_series: the last hit first, then in order. */
static size_t series_index(const struct crid_metric *m, const char *l0, const char *l1)
{
	size_t nl = n_labels(m);

	if (m->last < m->n_series && matches(&m->series[m->last], nl, l0, l1))
		return m->last;
	for (size_t i = 0; i < m->n_series; i++)
		if (i != m->last && matches(&m->series[i], nl, l0, l1))
			return i;
	return m->n_series;
}

const struct crid_metric_series *crid_metric_find(const struct crid_metric *m, const char *l0,
						  const char *l1)
{
	size_t i = series_index(m, l0, l1);

	return i < m->n_series ? &m->series[i] : NULL;
}

static void series_free(struct crid_metric_series *s)
{
	for (size_t i = 0; i < CRID_METRIC_MAX_LABELS; i++)
		crid_free(s->labels[i]);
	crid_free(s->buckets);
}

/* A new zeroed series with copies of the labels; NULL when out of memory or full. */
static struct crid_metric_series *series_new(struct crid_metric *m, const char *l0, const char *l1)
{
	const char *vals[CRID_METRIC_MAX_LABELS] = { l0, l1 };
	size_t nl = n_labels(m);
	struct crid_metric_series s = { 0 };

	if (m->n_series >= CRID_METRIC_MAX_SERIES)
		return NULL;
	if (m->n_series == m->cap) {
		size_t cap = m->cap ? m->cap * 2 : 8;
		struct crid_metric_series *p = crid_realloc(m->series, cap * sizeof(*p));

		if (!p)
			return NULL;
		m->series = p;
		m->cap = cap;
	}
	for (size_t i = 0; i < nl; i++)
		if (!(s.labels[i] = crid_strdup(vals[i] ? vals[i] : "")))
			goto fail;
	if (m->type == CRID_METRIC_HISTOGRAM && m->n_bounds &&
	    !(s.buckets = crid_calloc(m->n_bounds, sizeof(*s.buckets))))
		goto fail;
	m->series[m->n_series] = s;
	return &m->series[m->n_series++];
fail:
	series_free(&s);
	return NULL;
}

static struct crid_metric_series *series_get(struct crid_metric *m, const char *l0, const char *l1)
{
	size_t i = series_index(m, l0, l1);

	if (i < m->n_series) {
		m->last = i;
		return &m->series[i];
	}
	return series_new(m, l0, l1);
}

void crid_metric_add(struct crid_metric *m, double v, const char *l0, const char *l1)
{
	struct crid_metric_series *s;

	if (!crid_metrics_on || !(s = series_get(m, l0, l1)))
		return;
	s->value += v;
}

void crid_metric_set(struct crid_metric *m, double v, const char *l0, const char *l1)
{
	struct crid_metric_series *s;

	if (!crid_metrics_on || !(s = series_get(m, l0, l1)))
		return;
	s->value = v;
}

void crid_metric_max(struct crid_metric *m, double v, const char *l0, const char *l1)
{
	struct crid_metric_series *s;

	if (!crid_metrics_on || !(s = series_get(m, l0, l1)))
		return;
	if (v > s->value)
		s->value = v;
}

void crid_metric_histogram_set(struct crid_metric *m, const uint64_t *buckets, uint64_t count,
			       double sum, const char *l0, const char *l1)
{
	struct crid_metric_series *s;

	if (!crid_metrics_on || !(s = series_get(m, l0, l1)))
		return;
	memcpy(s->buckets, buckets, m->n_bounds * sizeof(*buckets));
	s->count = count;
	s->value = sum;
}

void crid_metric_observe(struct crid_metric *m, double v, const char *l0, const char *l1)
{
	struct crid_metric_series *s;
	size_t i = 0;

	if (!crid_metrics_on || !(s = series_get(m, l0, l1)))
		return;
	while (i < m->n_bounds && v > m->bounds[i])
		i++;
	if (i < m->n_bounds)
		s->buckets[i]++;
	s->count++;
	s->value += v;
}

void crid_metric_clear(struct crid_metric *m)
{
	for (size_t i = 0; i < m->n_series; i++)
		series_free(&m->series[i]);
	crid_free(m->series);
	m->series = NULL;
	m->n_series = m->cap = m->last = 0;
}

int crid_metrics_add_collector(crid_metrics_collect_fn *fn, void *user)
{
	for (size_t i = 0; i < MAX_COLLECTORS; i++) {
		if (!collectors[i].fn) {
			collectors[i].fn = fn;
			collectors[i].user = user;
			return 0;
		}
	}
	return -1;
}

void crid_metrics_remove_collector(crid_metrics_collect_fn *fn, void *user)
{
	for (size_t i = 0; i < MAX_COLLECTORS; i++)
		if (collectors[i].fn == fn && collectors[i].user == user)
			collectors[i].fn = NULL;
}

void crid_metrics_collect(void)
{
	for (size_t i = 0; i < MAX_COLLECTORS; i++)
		if (collectors[i].fn)
			collectors[i].fn(collectors[i].user);
}
