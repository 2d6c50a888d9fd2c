/*
 * Exposition encoder (reactor/metrics_text.h). The formats, as the
 * Prometheus docs and the OpenMetrics 1.0 spec state them:
 *  - `# HELP name text` with `\` and newline escaped; `# TYPE name type`;
 *  - samples `name{l="v",...} value`, label values escaping `\`, `"` and
 *    newline; a histogram's `_bucket{le="..."}` lines are cumulative and end
 *    with le="+Inf" (equal to `_count`), then `_sum` and `_count`;
 *  - OpenMetrics names a counter family without its `_total` suffix in HELP
 *    and TYPE (the samples keep it) and ends the exposition with `# EOF`.
 * Integral values print as integers, others in the shortest form that reads
 * back to the same double.
 */
#include "reactor/metrics_text.h"

#include <math.h>
#include <stdarg.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include "reactor/mem.h"

struct out {
	char *p;
	size_t len, cap;
	bool oom;
};

static bool reserve(struct out *o, size_t more)
{
	size_t cap;
	char *p;

	if (o->oom)
		return false;
	if (o->len + more <= o->cap)
		return true;
	cap = o->cap ? o->cap : 4096;
	while (cap < o->len + more)
		cap *= 2;
	p = crid_realloc(o->p, cap);
	if (!p) {
		o->oom = true;
		return false;
	}
	o->p = p;
	o->cap = cap;
	return true;
}

static void put(struct out *o, const char *s, size_t n)
{
	if (!reserve(o, n))
		return;
	memcpy(o->p + o->len, s, n);
	o->len += n;
}

static void puts_(struct out *o, const char *s)
{
	put(o, s, strlen(s));
}

/* |s| with `\` and newline escaped, and `"` too when |quote| (label values). */
static void put_escaped(struct out *o, const char *s, bool quote)
{
	const char *run = s;

	for (; *s; s++) {
		const char *esc = *s == '\\'	       ? "\\\\"
				  : *s == '\n'	       ? "\\n"
				  : quote && *s == '"' ? "\\\""
						       : NULL;

		if (!esc)
			continue;
		put(o, run, (size_t)(s - run));
		put(o, esc, 2);
		run = s + 1;
	}
	put(o, run, (size_t)(s - run));
}

static void put_u64(struct out *o, uint64_t v)
{
	char buf[24];
	size_t i = sizeof(buf);

	do {
		buf[--i] = (char)('0' + v % 10);
		v /= 10;
	} while (v);
	put(o, buf + i, sizeof(buf) - i);
}

static void put_double(struct out *o, double v)
{
	char buf[40];

	if (isnan(v)) {
		puts_(o, "NaN");
	} else if (isinf(v)) {
		puts_(o, v > 0 ? "+Inf" : "-Inf");
	} else if (v == floor(v) && fabs(v) < 9007199254740992.0) {
		if (v < 0)
			put(o, "-", 1);
		put_u64(o, (uint64_t)fabs(v));
	} else {
		snprintf(buf, sizeof(buf), "%.15g", v);
		if (strtod(buf, NULL) != v)
			snprintf(buf, sizeof(buf), "%.17g", v);
		puts_(o, buf);
	}
}

/* `{a="x",b="y"` plus an optional `le` label, and the closing brace; nothing without labels. */
static void put_labels(struct out *o, const struct crid_metric *m,
		       const struct crid_metric_series *s, const char *le)
{
	bool any = false;

	for (size_t i = 0; i < CRID_METRIC_MAX_LABELS && m->label_names[i]; i++) {
		put(o, any ? "," : "{", 1);
		puts_(o, m->label_names[i]);
		put(o, "=\"", 2);
		put_escaped(o, s->labels[i], true);
		put(o, "\"", 1);
		any = true;
	}
	if (le) {
		puts_(o, any ? ",le=\"" : "{le=\"");
		puts_(o, le);
		put(o, "\"", 1);
		any = true;
	}
	if (any)
		put(o, "}", 1);
}

static void put_sample(struct out *o, const struct crid_metric *m, const char *suffix,
		       const struct crid_metric_series *s, const char *le, double v)
{
	puts_(o, m->name);
	puts_(o, suffix);
	put_labels(o, m, s, le);
	put(o, " ", 1);
	put_double(o, v);
	put(o, "\n", 1);
}

static void put_histogram(struct out *o, const struct crid_metric *m,
			  const struct crid_metric_series *s)
{
	uint64_t cum = 0;
	char le[40];

	for (size_t i = 0; i < m->n_bounds; i++) {
		struct out tmp = { le, 0, sizeof(le), false };

		cum += s->buckets ? s->buckets[i] : 0;
		put_double(&tmp, m->bounds[i]);
		le[tmp.len < sizeof(le) ? tmp.len : sizeof(le) - 1] = '\0';
		put_sample(o, m, "_bucket", s, le, (double)cum);
	}
	put_sample(o, m, "_bucket", s, "+Inf", (double)s->count);
	put_sample(o, m, "_sum", s, NULL, s->value);
	put_sample(o, m, "_count", s, NULL, (double)s->count);
}

static const char *type_name(enum crid_metric_type t)
{
	return t == CRID_METRIC_COUNTER ? "counter"
	       : t == CRID_METRIC_GAUGE ? "gauge"
					: "histogram";
}

/* `# HELP`/`# TYPE` lines; OpenMetrics names a counter family without `_total`. */
static void put_meta(struct out *o, const struct crid_metric *m, enum crid_metrics_format fmt)
{
	size_t n = strlen(m->name);

	if (fmt == CRID_METRICS_OPENMETRICS && m->type == CRID_METRIC_COUNTER && n > 6 &&
	    strcmp(m->name + n - 6, "_total") == 0)
		n -= 6;
	puts_(o, "# HELP ");
	put(o, m->name, n);
	put(o, " ", 1);
	put_escaped(o, m->help, false);
	puts_(o, "\n# TYPE ");
	put(o, m->name, n);
	put(o, " ", 1);
	puts_(o, type_name(m->type));
	put(o, "\n", 1);
}

int crid_metrics_encode(struct crid_metric *const *fams, size_t n, enum crid_metrics_format fmt,
			char **out, size_t *len)
{
	struct out o = { 0 };

	for (size_t i = 0; i < n; i++) {
		const struct crid_metric *m = fams[i];

		put_meta(&o, m, fmt);
		/* a family without labels reads 0 before its first event, as client_golang's do */
		if (!m->label_names[0] && m->n_series == 0) {
			static const struct crid_metric_series zero;

			if (m->type == CRID_METRIC_HISTOGRAM)
				put_histogram(&o, m, &zero);
			else
				put_sample(&o, m, "", &zero, NULL, 0);
		}
		for (size_t j = 0; j < m->n_series; j++) {
			if (m->type == CRID_METRIC_HISTOGRAM)
				put_histogram(&o, m, &m->series[j]);
			else
				put_sample(&o, m, "", &m->series[j], NULL, m->series[j].value);
		}
	}
	if (fmt == CRID_METRICS_OPENMETRICS)
		puts_(&o, "# EOF\n");
	if (o.oom || !reserve(&o, 1)) {
		crid_free(o.p);
		return -1;
	}
	o.p[o.len] = '\0';
	*out = o.p;
	*len = o.len;
	return 0;
}

const char *crid_metrics_content_type(enum crid_metrics_format fmt)
{
	return fmt == CRID_METRICS_OPENMETRICS
		   ? "application/openmetrics-text; version=1.0.0; charset=utf-8"
		   : "text/plain; version=0.0.4; charset=utf-8";
}

/* True when the media range [p, p+n) names OpenMetrics and its q is not 0. */
static bool wants_om(const char *p, size_t n)
{
	static const char om[] = "application/openmetrics-text";
	const char *q;

	while (n && (*p == ' ' || *p == '\t'))
		p++, n--;
	if (n < sizeof(om) - 1 || strncasecmp(p, om, sizeof(om) - 1) != 0)
		return false;
	for (q = p; q + 3 <= p + n; q++) {
		if (strncasecmp(q, "q=0", 3) != 0)
			continue;
		/* q=0, q=0.0, q=0.00...: refused; q=0.5 is accepted */
		for (q += 3; q < p + n && (*q == '.' || *q == '0'); q++)
			;
		return q < p + n && *q >= '1' && *q <= '9';
	}
	return true;
}

enum crid_metrics_format crid_metrics_negotiate(const char *accept, size_t len)
{
	const char *p = accept, *end = accept ? accept + len : NULL;

	while (p && p < end) {
		const char *comma = memchr(p, ',', (size_t)(end - p));
		size_t n = comma ? (size_t)(comma - p) : (size_t)(end - p);

		if (wants_om(p, n))
			return CRID_METRICS_OPENMETRICS;
		p = comma ? comma + 1 : end;
	}
	return CRID_METRICS_TEXT;
}
