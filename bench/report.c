/* crid-bench reports: a table for people, JSON for tools and later comparison. */
#include <errno.h>
#include <math.h>
#include <stdio.h>
#include <string.h>
#include <sys/utsname.h>
#include <unistd.h>

#include <yajl/yajl_gen.h>

#include "bench/bench.h"
#include "bench/trace.h"

/* An endpoint that failed during phase |p| has no complete figures for it. */
static bool phase_failed(const struct crid_bench_run *run, size_t e, size_t p)
{
	return run->ep[e].error[0] && run->ep[e].phase[p].calls < run->calls;
}

/* The same phase of the first endpoint: the baseline of every ratio. */
static const struct crid_bench_phase *base_phase(const struct crid_bench_run *run, size_t p)
{
	if (phase_failed(run, 0, p) || run->ep[0].phase[p].calls == 0)
		return NULL;
	return &run->ep[0].phase[p];
}

static double throughput(const struct crid_bench_phase *ph)
{
	return ph->wall_s > 0 ? (double)ph->calls / ph->wall_s : NAN;
}

static void fmt_ratio(char *buf, size_t size, double r)
{
	if (isnan(r))
		snprintf(buf, size, "-");
	else
		snprintf(buf, size, "%.2f", r);
}

static void table_row(const struct crid_bench_run *run, size_t e, size_t p, FILE *f)
{
	const struct crid_bench_endpoint *ep = &run->ep[e];
	const struct crid_bench_phase *ph = &ep->phase[p], *base = base_phase(run, p);
	const struct crid_bench_summary *s = &ph->sum;
	char r50[16], r99[16];

	if (phase_failed(run, e, p)) {
		fprintf(f, "%-14s %5d  error: %s\n", ep->name, run->conc[p], ep->error);
		return;
	}
	fmt_ratio(r50, sizeof(r50), base ? crid_bench_ratio(s->p50, base->sum.p50) : NAN);
	fmt_ratio(r99, sizeof(r99), base ? crid_bench_ratio(s->p99, base->sum.p99) : NAN);
	fprintf(f, "%-14s %5d %7zu %5zu %9.1f %9.1f %9.1f %9.1f %9.1f %10.0f %7s %7s\n", ep->name,
		ph->concurrency, ph->calls, ph->errors, s->min, s->p50, s->p90, s->p99, s->max,
		throughput(ph), r50, r99);
}

static void table_memory(const struct crid_bench_run *run, FILE *f)
{
	const struct crid_bench_endpoint *b = &run->ep[0];
	char rr[16], rp[16];

	fprintf(f, "\n%-14s %8s %12s %12s %7s %7s %12s %12s\n", "memory", "pid", "idle rss KiB",
		"idle pss KiB", "rss x", "pss x", "after rss", "after pss");
	for (size_t e = 0; e < run->n_ep; e++) {
		const struct crid_bench_endpoint *ep = &run->ep[e];

		if (!ep->have_idle) {
			fprintf(f, "%-14s %8s  %s\n", ep->name, "-", ep->pid_note);
			continue;
		}
		fmt_ratio(rr, sizeof(rr),
			  b->have_idle ? crid_bench_ratio(ep->idle.rss_kib, b->idle.rss_kib) : NAN);
		fmt_ratio(rp, sizeof(rp),
			  b->have_idle ? crid_bench_ratio(ep->idle.pss_kib, b->idle.pss_kib) : NAN);
		fprintf(f, "%-14s %8d %12lu %12lu %7s %7s", ep->name, (int)ep->pid,
			ep->idle.rss_kib, ep->idle.pss_kib, rr, rp);
		if (ep->have_after)
			fprintf(f, " %12lu %12lu", ep->after.rss_kib, ep->after.pss_kib);
		fputc('\n', f);
	}
}

void crid_bench_report_table(const struct crid_bench_run *run, FILE *f)
{
	fprintf(f,
		"rpc: Version round trip (us), %zu calls per endpoint and concurrency, "
		"endpoints interleaved per round; x = ratio to %s\n\n",
		run->calls, run->ep[0].name);
	fprintf(f, "%-14s %5s %7s %5s %9s %9s %9s %9s %9s %10s %7s %7s\n", "endpoint", "conc",
		"calls", "errs", "min", "p50", "p90", "p99", "max", "calls/s", "p50 x", "p99 x");
	for (size_t p = 0; p < run->n_conc; p++)
		for (size_t e = 0; e < run->n_ep; e++)
			table_row(run, e, p, f);
	table_memory(run, f);
}

/* --- JSON ------------------------------------------------------------------ */

static void j_str(yajl_gen g, const char *s)
{
	yajl_gen_string(g, (const unsigned char *)s, strlen(s));
}

static void j_key_str(yajl_gen g, const char *key, const char *value)
{
	j_str(g, key);
	if (value)
		j_str(g, value);
	else
		yajl_gen_null(g);
}

static void j_key_num(yajl_gen g, const char *key, double v, int decimals)
{
	char buf[64];

	j_str(g, key);
	if (isnan(v) || isinf(v)) {
		yajl_gen_null(g);
		return;
	}
	snprintf(buf, sizeof(buf), "%.*f", decimals, v);
	yajl_gen_number(g, buf, strlen(buf));
}

static void j_latency(yajl_gen g, const char *key, const struct crid_bench_summary *s,
		      const struct crid_bench_summary *b)
{
	j_str(g, key);
	yajl_gen_map_open(g);
	j_key_num(g, "min", b ? crid_bench_ratio(s->min, b->min) : s->min, 3);
	j_key_num(g, "p50", b ? crid_bench_ratio(s->p50, b->p50) : s->p50, 3);
	j_key_num(g, "p90", b ? crid_bench_ratio(s->p90, b->p90) : s->p90, 3);
	j_key_num(g, "p99", b ? crid_bench_ratio(s->p99, b->p99) : s->p99, 3);
	j_key_num(g, "max", b ? crid_bench_ratio(s->max, b->max) : s->max, 3);
	j_key_num(g, "mean", b ? crid_bench_ratio(s->mean, b->mean) : s->mean, 3);
	yajl_gen_map_close(g);
}

static void j_phase(yajl_gen g, const struct crid_bench_run *run, size_t e, size_t p)
{
	const struct crid_bench_phase *ph = &run->ep[e].phase[p], *base = base_phase(run, p);
	struct crid_bench_summary none = { 0, NAN, NAN, NAN, NAN, NAN, NAN };
	bool failed = phase_failed(run, e, p);

	yajl_gen_map_open(g);
	j_key_num(g, "concurrency", run->conc[p], 0);
	j_key_num(g, "round_calls", (double)ph->round_calls, 0);
	j_key_num(g, "calls", (double)ph->calls, 0);
	j_key_num(g, "errors", (double)ph->errors, 0);
	j_key_str(g, "error", failed ? run->ep[e].error : NULL);
	j_key_num(g, "wall_s", ph->wall_s, 6);
	j_key_num(g, "calls_per_s", throughput(ph), 1);
	j_latency(g, "latency_us", &ph->sum, NULL);
	j_latency(g, "ratio", &ph->sum, base ? &base->sum : &none);
	j_key_num(g, "ratio_calls_per_s",
		  base ? crid_bench_ratio(throughput(ph), throughput(base)) : NAN, 3);
	yajl_gen_map_close(g);
}

static void j_mem(yajl_gen g, const char *key, bool have, const struct crid_bench_mem *m)
{
	j_str(g, key);
	if (!have) {
		yajl_gen_null(g);
		return;
	}
	yajl_gen_map_open(g);
	j_key_num(g, "rss_kib", (double)m->rss_kib, 0);
	j_key_num(g, "pss_kib", (double)m->pss_kib, 0);
	yajl_gen_map_close(g);
}

static void j_endpoint(yajl_gen g, const struct crid_bench_run *run, size_t e)
{
	const struct crid_bench_endpoint *ep = &run->ep[e], *b = &run->ep[0];
	bool ratio = ep->have_idle && b->have_idle;

	yajl_gen_map_open(g);
	j_key_str(g, "name", ep->name);
	j_key_str(g, "address", ep->address);
	if (ep->pid > 0)
		j_key_num(g, "pid", ep->pid, 0);
	else
		j_key_str(g, "pid", NULL);
	j_key_str(g, "pid_note", ep->pid_note[0] ? ep->pid_note : NULL);
	j_key_str(g, "error", ep->error[0] ? ep->error : NULL);
	j_mem(g, "memory_idle", ep->have_idle, &ep->idle);
	j_mem(g, "memory_after", ep->have_after, &ep->after);
	j_key_num(g, "ratio_rss_idle",
		  ratio ? crid_bench_ratio(ep->idle.rss_kib, b->idle.rss_kib) : NAN, 3);
	j_key_num(g, "ratio_pss_idle",
		  ratio ? crid_bench_ratio(ep->idle.pss_kib, b->idle.pss_kib) : NAN, 3);
	j_str(g, "results");
	yajl_gen_array_open(g);
	for (size_t p = 0; p < run->n_conc; p++)
		j_phase(g, run, e, p);
	yajl_gen_array_close(g);
	yajl_gen_map_close(g);
}

static void j_host(yajl_gen g)
{
	struct utsname u;

	j_str(g, "host");
	yajl_gen_map_open(g);
	if (uname(&u) == 0) {
		j_key_str(g, "kernel", u.release);
		j_key_str(g, "machine", u.machine);
	}
	j_key_num(g, "cpus", (double)sysconf(_SC_NPROCESSORS_ONLN), 0);
	yajl_gen_map_close(g);
}

static void j_run(yajl_gen g, const struct crid_bench_run *run)
{
	yajl_gen_map_open(g);
	j_key_str(g, "scenario", run->scenario);
	j_key_str(g, "method", "/runtime.v1.RuntimeService/Version");
	j_key_str(g, "date", run->date);
	j_host(g);
	j_key_num(g, "calls", (double)run->calls, 0);
	j_key_num(g, "warmup", (double)run->warmup, 0);
	j_key_num(g, "timeout_ms", run->timeout_ms, 0);
	j_key_str(g, "baseline", run->ep[0].name);
	j_str(g, "endpoints");
	yajl_gen_array_open(g);
	for (size_t e = 0; e < run->n_ep; e++)
		j_endpoint(g, run, e);
	yajl_gen_array_close(g);
	yajl_gen_map_close(g);
}

/* --- pod, container and image scenarios ------------------------------------ */

static const char *ep_status(const struct crid_bench_endpoint *ep)
{
	if (!ep->error[0])
		return "ok";
	return ep->skipped ? "skipped" : "error";
}

/* Names of every series (or value) of any endpoint, in order of first appearance. */
static size_t all_names(const struct crid_bench_run *run, bool values, const char **out, size_t max)
{
	size_t n = 0;

	for (size_t e = 0; e <= run->n_ep; e++) {
		const struct crid_bench_endpoint *ep = e < run->n_ep ? &run->ep[e] : &run->floor;
		size_t cnt = values ? ep->res.n_values : ep->res.n_series;

		for (size_t i = 0; i < cnt; i++) {
			const char *nm = values ? ep->res.values[i].name : ep->res.series[i].name;
			bool seen = false;

			for (size_t j = 0; j < n && !seen; j++)
				seen = strcmp(out[j], nm) == 0;
			if (!seen && n < max)
				out[n++] = nm;
		}
	}
	return n;
}

void crid_bench_report_scenario_table(const struct crid_bench_run *run, FILE *f)
{
	const char *names[CRID_BENCH_MAX_VALUES * 2];
	const struct crid_bench_endpoint *b = &run->ep[0];
	size_t n;

	fprintf(f, "%s: endpoints interleaved; x = ratio to %s\n\n", run->scenario, b->name);
	for (size_t e = 0; e < run->n_ep; e++)
		if (run->ep[e].error[0])
			fprintf(f, "%-14s %s: %s\n", run->ep[e].name, ep_status(&run->ep[e]),
				run->ep[e].error);
	for (size_t e = 0; e < run->n_ep; e++)
		if (run->ep[e].note[0])
			fprintf(f, "%-14s note: %s\n", run->ep[e].name, run->ep[e].note);
	if (run->floor.error[0])
		fprintf(f, "%-14s error: %s\n", "floor", run->floor.error);
	n = all_names(run, false, names, sizeof(names) / sizeof(names[0]));
	if (n)
		fprintf(f, "\n%-24s %-12s %6s %9s %9s %9s %9s %9s %-5s %7s %7s\n", "series",
			"endpoint", "n", "min", "p50", "p90", "p99", "max", "unit", "p50 x",
			"p99 x");
	for (size_t i = 0; i < n; i++) {
		const struct crid_bench_series *bs = crid_bench_find_series(b, names[i]);

		for (size_t e = 0; e <= run->n_ep; e++) {
			const struct crid_bench_endpoint *ep =
			    e < run->n_ep ? &run->ep[e] : &run->floor;
			const struct crid_bench_series *s = crid_bench_find_series(ep, names[i]);
			char r50[16], r99[16];

			if (!s || !s->sum.n)
				continue;
			fmt_ratio(r50, sizeof(r50),
				  bs && bs->sum.n ? crid_bench_ratio(s->sum.p50, bs->sum.p50)
						  : NAN);
			fmt_ratio(r99, sizeof(r99),
				  bs && bs->sum.n ? crid_bench_ratio(s->sum.p99, bs->sum.p99)
						  : NAN);
			fprintf(f, "%-24s %-12s %6zu %9.2f %9.2f %9.2f %9.2f %9.2f %-5s %7s %7s\n",
				names[i], e < run->n_ep ? ep->name : "floor", s->sum.n, s->sum.min,
				s->sum.p50, s->sum.p90, s->sum.p99, s->sum.max, s->unit, r50, r99);
		}
	}
	n = all_names(run, true, names, sizeof(names) / sizeof(names[0]));
	if (n) {
		fprintf(f, "\n%-32s", "value");
		for (size_t e = 0; e < run->n_ep; e++)
			fprintf(f, " %14s", run->ep[e].name);
		fprintf(f, " %-7s %s\n", "unit", run->n_ep > 1 ? "x (last/first)" : "");
	}
	for (size_t i = 0; i < n; i++) {
		const char *unit = "";
		double first = NAN, v = NAN;
		char r[16];

		fprintf(f, "%-32s", names[i]);
		for (size_t e = 0; e < run->n_ep; e++) {
			const struct crid_bench_value *val =
			    crid_bench_find_value(&run->ep[e], names[i]);

			v = val ? val->v : NAN;
			if (e == 0)
				first = v;
			if (val)
				unit = val->unit;
			if (isnan(v))
				fprintf(f, " %14s", "-");
			else
				fprintf(f, " %14.1f", v);
		}
		fmt_ratio(r, sizeof(r), run->n_ep > 1 ? crid_bench_ratio(v, first) : NAN);
		fprintf(f, " %-7s %s\n", unit, run->n_ep > 1 ? r : "");
	}
}

static void j_series(yajl_gen g, const struct crid_bench_series *s,
		     const struct crid_bench_series *base)
{
	bool rb = base && base->sum.n;

	yajl_gen_map_open(g);
	j_key_str(g, "name", s->name);
	j_key_str(g, "unit", s->unit);
	j_key_num(g, "n", (double)s->sum.n, 0);
	j_key_num(g, "min", s->sum.min, 3);
	j_key_num(g, "p50", s->sum.p50, 3);
	j_key_num(g, "p90", s->sum.p90, 3);
	j_key_num(g, "p99", s->sum.p99, 3);
	j_key_num(g, "max", s->sum.max, 3);
	j_key_num(g, "mean", s->sum.mean, 3);
	j_key_num(g, "ratio_p50", rb ? crid_bench_ratio(s->sum.p50, base->sum.p50) : NAN, 3);
	j_key_num(g, "ratio_p99", rb ? crid_bench_ratio(s->sum.p99, base->sum.p99) : NAN, 3);
	yajl_gen_map_close(g);
}

static void j_result(yajl_gen g, const struct crid_bench_endpoint *ep,
		     const struct crid_bench_endpoint *b)
{
	j_str(g, "series");
	yajl_gen_array_open(g);
	for (size_t i = 0; i < ep->res.n_series; i++)
		j_series(g, &ep->res.series[i],
			 b ? crid_bench_find_series(b, ep->res.series[i].name) : NULL);
	yajl_gen_array_close(g);
	j_str(g, "values");
	yajl_gen_array_open(g);
	for (size_t i = 0; i < ep->res.n_values; i++) {
		const struct crid_bench_value *v = &ep->res.values[i];
		const struct crid_bench_value *bv = b ? crid_bench_find_value(b, v->name) : NULL;

		yajl_gen_map_open(g);
		j_key_str(g, "name", v->name);
		j_key_str(g, "unit", v->unit);
		j_key_num(g, "value", v->v, 3);
		j_key_num(g, "ratio", bv ? crid_bench_ratio(v->v, bv->v) : NAN, 3);
		yajl_gen_map_close(g);
	}
	yajl_gen_array_close(g);
	j_str(g, "curve");
	yajl_gen_array_open(g);
	for (size_t i = 0; i < ep->res.n_curve; i++) {
		yajl_gen_map_open(g);
		j_key_num(g, "pods", (double)ep->res.curve[i].pods, 0);
		j_key_num(g, "pss_kib", ep->res.curve[i].pss_kib, 0);
		j_key_num(g, "rss_kib", ep->res.curve[i].rss_kib, 0);
		yajl_gen_map_close(g);
	}
	yajl_gen_array_close(g);
}

/* crid's per-step timing (bench/trace.h), when its log was read. */
static void j_trace(yajl_gen g, const struct crid_bench_endpoint *ep)
{
	if (!ep->n_trace)
		return;
	j_str(g, "trace");
	yajl_gen_array_open(g);
	for (size_t i = 0; i < ep->n_trace; i++) {
		const struct crid_bench_trace_row *r = &ep->trace[i];

		yajl_gen_map_open(g);
		j_key_str(g, "phase", r->phase);
		j_key_str(g, "rpc", r->rpc);
		j_key_str(g, "step", r->step);
		j_key_num(g, "n", (double)r->sum.n, 0);
		j_key_num(g, "p50", r->sum.p50, 3);
		j_key_num(g, "p90", r->sum.p90, 3);
		j_key_num(g, "mean", r->sum.mean, 3);
		yajl_gen_map_close(g);
	}
	yajl_gen_array_close(g);
}

static void j_scenario_endpoint(yajl_gen g, const struct crid_bench_run *run, size_t e)
{
	const struct crid_bench_endpoint *ep = &run->ep[e];

	yajl_gen_map_open(g);
	j_key_str(g, "name", ep->name);
	j_key_str(g, "address", ep->address);
	if (ep->pid > 0)
		j_key_num(g, "pid", ep->pid, 0);
	else
		j_key_str(g, "pid", NULL);
	j_key_str(g, "status", ep_status(ep));
	j_key_str(g, "reason", ep->error[0] ? ep->error : NULL);
	j_key_str(g, "error", ep->error[0] && !ep->skipped ? ep->error : NULL);
	j_key_str(g, "note", ep->note[0] ? ep->note : NULL);
	j_str(g, "containers");
	yajl_gen_bool(g, !ep->no_containers && !run->sandbox_only);
	j_mem(g, "memory_idle", ep->have_idle, &ep->idle);
	j_mem(g, "memory_after", ep->have_after, &ep->after);
	j_result(g, ep, e ? &run->ep[0] : NULL);
	j_trace(g, ep);
	yajl_gen_map_close(g);
}

static void j_params(yajl_gen g, const struct crid_bench_run *run)
{
	j_str(g, "params");
	yajl_gen_map_open(g);
	j_key_num(g, "pods", (double)run->pods, 0);
	j_key_num(g, "parallel", (double)run->parallel, 0);
	j_str(g, "steps");
	yajl_gen_array_open(g);
	for (size_t i = 0; i < run->n_steps; i++) {
		char buf[32];

		snprintf(buf, sizeof(buf), "%zu", run->steps[i]);
		yajl_gen_number(g, buf, strlen(buf));
	}
	yajl_gen_array_close(g);
	j_key_num(g, "duration_s", run->duration_s, 3);
	j_key_num(g, "rounds", (double)run->rounds, 0);
	j_key_num(g, "pull_parallel", (double)run->pull_parallel, 0);
	j_key_num(g, "pull_bytes", run->pull_bytes, 0);
	j_key_str(g, "image", run->image);
	j_key_str(g, "pull_image", run->pull_image);
	j_key_str(g, "floor_bundle", run->floor_bundle);
	j_key_str(g, "floor_cni", run->floor_cni);
	j_key_str(g, "oci_runtime", run->oci_runtime);
	j_str(g, "sandbox_only");
	yajl_gen_bool(g, run->sandbox_only);
	yajl_gen_map_close(g);
}

static void j_scenario(yajl_gen g, const struct crid_bench_run *run)
{
	yajl_gen_map_open(g);
	j_key_str(g, "scenario", run->scenario);
	j_key_str(g, "date", run->date);
	j_host(g);
	j_params(g, run);
	j_key_num(g, "timeout_ms", run->timeout_ms, 0);
	j_key_str(g, "baseline", run->ep[0].name);
	j_str(g, "endpoints");
	yajl_gen_array_open(g);
	for (size_t e = 0; e < run->n_ep; e++)
		j_scenario_endpoint(g, run, e);
	yajl_gen_array_close(g);
	j_str(g, "floor");
	yajl_gen_map_open(g);
	j_key_str(g, "status", run->floor.error[0] ? "error" : "ok");
	j_key_str(g, "error", run->floor.error[0] ? run->floor.error : NULL);
	j_result(g, &run->floor, NULL);
	yajl_gen_map_close(g);
	yajl_gen_map_close(g);
}

int crid_bench_report_json(const struct crid_bench_run *run, const char *path, struct crid_err *err)
{
	yajl_gen g = yajl_gen_alloc(NULL);
	const unsigned char *buf;
	size_t len;
	FILE *f;
	int rc = 0;

	if (!g)
		return crid_err_set(err, ENOMEM, "json");
	yajl_gen_config(g, yajl_gen_beautify, 1);
	if (strcmp(run->scenario, "rpc") == 0)
		j_run(g, run);
	else
		j_scenario(g, run);
	yajl_gen_get_buf(g, &buf, &len);
	f = fopen(path, "we");
	if (!f) {
		rc = crid_err_set(err, errno, "open `%s`", path);
	} else {
		bool ok = fwrite(buf, 1, len, f) == len;

		if (fclose(f) != 0 || !ok)
			rc = crid_err_set(err, errno, "write `%s`", path);
	}
	yajl_gen_free(g);
	return rc;
}
