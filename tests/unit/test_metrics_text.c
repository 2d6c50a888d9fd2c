/*
 * The exposition encoder and the recording behind it: byte-exact text 0.0.4
 * and OpenMetrics for a counter with labels, a gauge, a histogram (cumulative
 * buckets, +Inf, _sum, _count) and a label-less family before its first
 * event; escaping of label values and help; numbers; Accept negotiation;
 * nothing recorded while metrics are off; the series cap; failing
 * allocations.
 */
#include <stdlib.h>
#include <string.h>

#include "reactor/mem.h"
#include "reactor/metrics_text.h"
#include "tests/unit/tap.h"

static const double bounds[] = { 0.001, 0.5, 2 };

static struct crid_metric ops = { .name = "t_ops_total",
				  .help = "Calls by op\nand \\status.",
				  .type = CRID_METRIC_COUNTER,
				  .label_names = { "op", "status" } };
static struct crid_metric temp = { .name = "t_temp",
				   .help = "A gauge.",
				   .type = CRID_METRIC_GAUGE };
static struct crid_metric lat = { .name = "t_lat_seconds",
				  .help = "Latency.",
				  .type = CRID_METRIC_HISTOGRAM,
				  .label_names = { "op" },
				  .bounds = bounds,
				  .n_bounds = 3 };
static struct crid_metric idle = { .name = "t_idle_total",
				   .help = "Never.",
				   .type = CRID_METRIC_COUNTER };

static struct crid_metric *const all[] = { &ops, &temp, &lat, &idle };

static const char want_text[] = "# HELP t_ops_total Calls by op\\nand \\\\status.\n"
				"# TYPE t_ops_total counter\n"
				"t_ops_total{op=\"Version\",status=\"OK\"} 3\n"
				"t_ops_total{op=\"a\\\"b\\\\c\\nd\",status=\"NotFound\"} 1\n"
				"# HELP t_temp A gauge.\n"
				"# TYPE t_temp gauge\n"
				"t_temp -2.5\n"
				"# HELP t_lat_seconds Latency.\n"
				"# TYPE t_lat_seconds histogram\n"
				"t_lat_seconds_bucket{op=\"x\",le=\"0.001\"} 1\n"
				"t_lat_seconds_bucket{op=\"x\",le=\"0.5\"} 1\n"
				"t_lat_seconds_bucket{op=\"x\",le=\"2\"} 2\n"
				"t_lat_seconds_bucket{op=\"x\",le=\"+Inf\"} 3\n"
				"t_lat_seconds_sum{op=\"x\"} 11.0005\n"
				"t_lat_seconds_count{op=\"x\"} 3\n"
				"# HELP t_idle_total Never.\n"
				"# TYPE t_idle_total counter\n"
				"t_idle_total 0\n";

static void record(void)
{
	crid_metric_inc(&ops, "Version", "OK");
	crid_metric_add(&ops, 2, "Version", "OK");
	crid_metric_inc(&ops, "a\"b\\c\nd", "NotFound");
	crid_metric_set(&temp, 7, NULL, NULL);
	crid_metric_set(&temp, -2.5, NULL, NULL);
	crid_metric_observe(&lat, 0.0005, "x", NULL); /* first bucket */
	crid_metric_observe(&lat, 1, "x", NULL);      /* le=2 */
	crid_metric_observe(&lat, 10, "x", NULL);     /* only +Inf */
}

static void test_off_records_nothing(void)
{
	crid_metrics_enable(false);
	crid_metric_inc(&ops, "Version", "OK");
	crid_metric_observe(&lat, 1, "x", NULL);
	CHECK(ops.n_series == 0 && lat.n_series == 0, "metrics off: nothing recorded");
	crid_metrics_enable(true);
}

static void test_text(void)
{
	char *out = NULL;
	size_t len = 0;

	record();
	CHECK(crid_metrics_encode(all, 4, CRID_METRICS_TEXT, &out, &len) == 0, "text encodes");
	CHECK(out && len == strlen(want_text) && strcmp(out, want_text) == 0,
	      "text byte-exact:\n%s", out ? out : "(null)");
	crid_free(out);
}

static void test_openmetrics(void)
{
	char *out = NULL;
	size_t len = 0;

	CHECK(crid_metrics_encode(all, 4, CRID_METRICS_OPENMETRICS, &out, &len) == 0,
	      "openmetrics encodes");
	CHECK(out && strstr(out, "# TYPE t_ops counter\n") && strstr(out, "# HELP t_ops Calls") &&
		  strstr(out, "\nt_ops_total{op=\"Version\",status=\"OK\"} 3\n"),
	      "openmetrics: counter family without _total, samples with it");
	CHECK(out && len > 6 && strcmp(out + len - 6, "# EOF\n") == 0, "openmetrics ends in # EOF");
	crid_free(out);
}

static void test_numbers(void)
{
	static struct crid_metric g = {
		.name = "g", .help = "h", .type = CRID_METRIC_GAUGE, .label_names = { "k" }
	};
	struct crid_metric *one[] = { &g };
	char *out = NULL;
	size_t len;

	crid_metric_set(&g, 0.1, "a", NULL);
	crid_metric_set(&g, 1e300, "b", NULL);
	crid_metric_set(&g, 1.0 / 3, "c", NULL);
	crid_metric_set(&g, 1e20, "d", NULL);
	crid_metric_max(&g, 5, "e", NULL);
	crid_metric_max(&g, 3, "e", NULL);
	CHECK(crid_metrics_encode(one, 1, CRID_METRICS_TEXT, &out, &len) == 0, "numbers encode");
	CHECK(out && strstr(out, "g{k=\"a\"} 0.1\n") && strstr(out, "g{k=\"b\"} 1e+300\n") &&
		  strstr(out, "g{k=\"c\"} 0.33333333333333331\n") &&
		  strstr(out, "g{k=\"d\"} 1e+20\n") && strstr(out, "g{k=\"e\"} 5\n"),
	      "shortest round-trip numbers, integers plain, max keeps the larger:\n%s", out);
	CHECK(crid_metric_find(&g, "e", NULL) && crid_metric_find(&g, "e", NULL)->value == 5,
	      "find");
	crid_free(out);
	crid_metric_clear(&g);
}

static void test_negotiate(void)
{
	static const struct {
		const char *accept;
		enum crid_metrics_format want;
	} cases[] = {
		{ NULL, CRID_METRICS_TEXT },
		{ "", CRID_METRICS_TEXT },
		{ "*/*", CRID_METRICS_TEXT },
		{ "text/plain;version=0.0.4", CRID_METRICS_TEXT },
		/* what Prometheus 2.x sends */
		{ "application/openmetrics-text;version=1.0.0,application/openmetrics-text;"
		  "version=0.0.1;q=0.75,text/plain;version=0.0.4;q=0.5,*/*;q=0.1",
		  CRID_METRICS_OPENMETRICS },
		{ "text/plain, Application/OpenMetrics-Text", CRID_METRICS_OPENMETRICS },
		{ "application/openmetrics-text;q=0", CRID_METRICS_TEXT },
		{ "application/openmetrics-text; q=0.000", CRID_METRICS_TEXT },
		{ "application/openmetrics-text;q=0.01", CRID_METRICS_OPENMETRICS },
		{ "application/openmetrics", CRID_METRICS_TEXT },
	};

	for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
		const char *a = cases[i].accept;

		CHECK(crid_metrics_negotiate(a, a ? strlen(a) : 0) == cases[i].want, "accept `%s`",
		      a ? a : "(none)");
	}
	CHECK(strcmp(crid_metrics_content_type(CRID_METRICS_TEXT),
		     "text/plain; version=0.0.4; charset=utf-8") == 0,
	      "text content type");
}

static void test_histogram_set(void)
{
	static struct crid_metric h = { .name = "h_seconds",
					.help = "h",
					.type = CRID_METRIC_HISTOGRAM,
					.bounds = bounds,
					.n_bounds = 3 };
	const uint64_t b[3] = { 4, 0, 1 };
	const struct crid_metric_series *s;

	crid_metric_observe(&h, 0.1, NULL, NULL);
	crid_metric_histogram_set(&h, b, 6, 12.5, NULL, NULL);
	s = crid_metric_find(&h, NULL, NULL);
	CHECK(h.n_series == 1 && s && s->count == 6 && s->value == 12.5 && s->buckets[0] == 4 &&
		  s->buckets[1] == 0 && s->buckets[2] == 1,
	      "histogram_set replaces buckets, count and sum");
	crid_metric_clear(&h);
}

static void test_series_cap(void)
{
	static struct crid_metric many = {
		.name = "m_total", .help = "h", .type = CRID_METRIC_COUNTER, .label_names = { "k" }
	};
	char k[16];

	for (int i = 0; i < CRID_METRIC_MAX_SERIES + 10; i++) {
		snprintf(k, sizeof(k), "k%d", i);
		crid_metric_inc(&many, k, NULL);
	}
	CHECK(many.n_series == CRID_METRIC_MAX_SERIES, "series capped at %d (got %zu)",
	      CRID_METRIC_MAX_SERIES, many.n_series);
	crid_metric_inc(&many, "k0", NULL);
	CHECK(crid_metric_find(&many, "k0", NULL)->value == 2, "existing series still counts");
	crid_metric_clear(&many);
}

static void test_alloc_failures(void)
{
	int ok = 1;

	for (long n = 1; n < 12; n++) {
		char *out = NULL;
		size_t len;
		int r;

		crid_mem_fail_after(n);
		r = crid_metrics_encode(all, 4, CRID_METRICS_TEXT, &out, &len);
		crid_metric_inc(&ops, "new-under-failure", "OK");
		crid_mem_fail_after(0);
		if (r == 0 && (!out || strncmp(out, "# HELP", 6) != 0))
			ok = 0;
		crid_free(out);
	}
	CHECK(ok, "failing allocations: -1 or a whole exposition, never a crash");
}

int main(void)
{
	size_t base = crid_mem_used();

	test_off_records_nothing();
	test_text();
	test_openmetrics();
	test_numbers();
	test_negotiate();
	test_histogram_set();
	test_series_cap();
	test_alloc_failures();
	for (size_t i = 0; i < 4; i++)
		crid_metric_clear(all[i]);
	CHECK(crid_mem_used() == base, "everything freed (%zu bytes left)", crid_mem_used() - base);
	return tap_done();
}
