/* crid's trace lines read back from its log (see trace.h). */
#include "bench/trace.h"

#include <math.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>

long crid_bench_trace_offset(const struct crid_bench_endpoint *ep)
{
	struct stat st;

	if (!ep->trace_log || stat(ep->trace_log, &st) < 0)
		return -1;
	return (long)st.st_size;
}

static struct crid_bench_trace_row *row(struct crid_bench_endpoint *ep, const char *phase,
					const char *rpc, const char *step)
{
	struct crid_bench_trace_row *r;

	for (size_t i = 0; i < ep->n_trace; i++) {
		r = &ep->trace[i];
		if (!strcmp(r->phase, phase) && !strcmp(r->rpc, rpc) && !strcmp(r->step, step))
			return r;
	}
	r = realloc(ep->trace, (ep->n_trace + 1) * sizeof(*r));
	if (!r)
		return NULL;
	ep->trace = r;
	r = &ep->trace[ep->n_trace++];
	memset(r, 0, sizeof(*r));
	snprintf(r->phase, sizeof(r->phase), "%s", phase);
	snprintf(r->rpc, sizeof(r->rpc), "%s", rpc);
	snprintf(r->step, sizeof(r->step), "%s", step);
	return r;
}

/* One line: "... debug trace <rpc> <kind>=<id> total=<ms>ms <step>=<ms> ...". */
static void parse_line(struct crid_bench_endpoint *ep, const char *phase, char *line)
{
	char *p = strstr(line, " debug trace "), *save, *tok, *rpc;

	if (!p)
		return;
	rpc = strtok_r(p + strlen(" debug trace "), " ", &save);
	if (!rpc || !strtok_r(NULL, " ", &save)) /* the object */
		return;
	while ((tok = strtok_r(NULL, " ", &save))) {
		char *eq = strchr(tok, '='), *end;
		struct crid_bench_trace_row *r;
		double ms;

		if (!eq)
			continue;
		*eq = '\0';
		ms = strtod(eq + 1, &end);
		if (end == eq + 1)
			continue;
		r = row(ep, phase, rpc, tok);
		if (r)
			crid_bench_samples_push(&r->s, ms);
	}
}

void crid_bench_trace_collect(struct crid_bench_endpoint *ep, const char *phase, long from)
{
	char line[2048];
	FILE *f;

	if (!ep->trace_log || from < 0 || !(f = fopen(ep->trace_log, "re")))
		return;
	if (fseek(f, from, SEEK_SET) == 0)
		while (fgets(line, sizeof(line), f))
			parse_line(ep, phase, line);
	fclose(f);
	for (size_t i = 0; i < ep->n_trace; i++)
		crid_bench_summarize(&ep->trace[i].s, &ep->trace[i].sum);
}

/* "<phase> <rpc> n=N total=p50 step=p50 ...": the rows of one (phase, rpc), in order. */
static void report_one(const struct crid_bench_endpoint *ep, size_t first, FILE *f)
{
	const struct crid_bench_trace_row *a = &ep->trace[first];

	fprintf(f, "%-14s %-12s %-24s", ep->name, a->phase, a->rpc);
	for (size_t i = first; i < ep->n_trace; i++) {
		const struct crid_bench_trace_row *r = &ep->trace[i];

		if (strcmp(r->phase, a->phase) || strcmp(r->rpc, a->rpc))
			continue;
		if (i == first)
			fprintf(f, " n=%zu", r->sum.n);
		fprintf(f, " %s=%.1f", r->step, r->sum.p50);
	}
	fputc('\n', f);
}

void crid_bench_trace_report(const struct crid_bench_run *run, FILE *f)
{
	for (size_t e = 0; e < run->n_ep; e++) {
		const struct crid_bench_endpoint *ep = &run->ep[e];

		if (!ep->n_trace)
			continue;
		fprintf(f, "\ntrace p50 per step (ms; steps run one after another, see "
			   "reactor/trace.h):\n");
		for (size_t i = 0; i < ep->n_trace; i++) {
			bool seen = false;

			for (size_t j = 0; j < i && !seen; j++)
				seen = !strcmp(ep->trace[j].phase, ep->trace[i].phase) &&
				       !strcmp(ep->trace[j].rpc, ep->trace[i].rpc);
			if (!seen)
				report_one(ep, i, f);
		}
	}
}

void crid_bench_trace_free(struct crid_bench_endpoint *ep)
{
	for (size_t i = 0; i < ep->n_trace; i++)
		crid_bench_samples_free(&ep->trace[i].s);
	free(ep->trace);
	ep->trace = NULL;
	ep->n_trace = 0;
}
