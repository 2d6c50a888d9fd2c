/*
 * The daemon's own counters, gauges and histograms, as Prometheus families
 * (reactor/metrics_families.h names every family crid exports). Recording is
 * a table lookup and an add on the loop's one thread: no lock, no atomic, no
 * clock read of its own. A scrape encodes what is recorded (metrics_text.c)
 * after running the collectors, which copy a few in-memory counts into
 * gauges; nothing walks the filesystem.
 *
 * Process-wide on purpose, like the allocator's byte count in reactor/mem.c:
 * a hook is one line at the place an event happens, in any floor, without a
 * daemon pointer threaded through. While metrics are off (the default) every
 * recording function returns at its first test.
 */
#ifndef CRID_METRICS_H
#define CRID_METRICS_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#define CRID_METRIC_MAX_LABELS 2
/* Series per family beyond this are not recorded (a label taken from input must not grow memory). */
#define CRID_METRIC_MAX_SERIES 512

enum crid_metric_type {
	CRID_METRIC_COUNTER,
	CRID_METRIC_GAUGE,
	CRID_METRIC_HISTOGRAM,
};

/* One label set's value; a histogram's |value| is its sum. */
struct crid_metric_series {
	char *labels[CRID_METRIC_MAX_LABELS];
	double value;
	uint64_t count;	   /* histogram: observations */
	uint64_t *buckets; /* histogram: per bucket (not cumulative), n_bounds of them */
};

/*
 * A family. Declared statically with the fields up to |n_bounds| set; the
 * rest is zero and owned by this module. A counter's |name| ends in `_total`.
 */
struct crid_metric {
	const char *name;
	const char *help;
	enum crid_metric_type type;
	const char *label_names[CRID_METRIC_MAX_LABELS]; /* NULL after the last */
	const double *bounds; /* histogram bucket upper bounds, ascending; +Inf implied */
	size_t n_bounds;
	struct crid_metric_series *series;
	size_t n_series, cap;
	size_t last; /* the series found last: checked first (a hook usually hits the same one) */
};

/* Whether recording is on (set once at start by crid_metrics_enable()). */
extern bool crid_metrics_on;

void crid_metrics_enable(bool on);

/*
 * Adds |v| to the series of |m| labelled |l0|, |l1| (NULL past the family's
 * labels), creating it at 0 first. Out of memory or past
 * CRID_METRIC_MAX_SERIES the event is not recorded.
 */
void crid_metric_add(struct crid_metric *m, double v, const char *l0, const char *l1);
#define crid_metric_inc(m, l0, l1) crid_metric_add((m), 1, (l0), (l1))

/* Sets a gauge's series to |v|. */
void crid_metric_set(struct crid_metric *m, double v, const char *l0, const char *l1);

/* Raises a gauge's series to |v| when |v| is larger (a maximum). */
void crid_metric_max(struct crid_metric *m, double v, const char *l0, const char *l1);

/*
 * Sets a histogram's series to |count| observations summing to |sum|, with
 * |buckets| (n_bounds of them, per bucket, not cumulative): for a hook that
 * keeps its own histogram on a hotter path and hands it over at scrapes.
 */
void crid_metric_histogram_set(struct crid_metric *m, const uint64_t *buckets, uint64_t count,
			       double sum, const char *l0, const char *l1);

/* Counts |v| into a histogram's bucket, sum and count. */
void crid_metric_observe(struct crid_metric *m, double v, const char *l0, const char *l1);

/* The recorded series of |m| for |l0|, |l1|, NULL when none (for tests and collectors). */
const struct crid_metric_series *crid_metric_find(const struct crid_metric *m, const char *l0,
						  const char *l1);

/* Frees every series of |m| (tests; the daemon's families live as long as it). */
void crid_metric_clear(struct crid_metric *m);

/* Run before each scrape to refresh gauges from in-memory state; |user| is handed back. */
typedef void crid_metrics_collect_fn(void *user);

/* Registers a collector (at most 16); -1 when full. */
int crid_metrics_add_collector(crid_metrics_collect_fn *fn, void *user);
void crid_metrics_remove_collector(crid_metrics_collect_fn *fn, void *user);
void crid_metrics_collect(void);

#endif
