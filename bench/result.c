/*
 * Results of the pod, container and image scenarios: named sample series and
 * single values per endpoint, filled from worker threads under ep->lock.
 */
#include <errno.h>
#include <stdarg.h>
#include <stdio.h>
#include <string.h>
#include <time.h>

#include "bench/bench.h"
#include "io/grpc_wire.h"

void crid_bench_record(struct crid_bench_endpoint *ep, const char *series, const char *unit,
		       double x)
{
	struct crid_bench_result *r = &ep->res;
	struct crid_bench_series *s = NULL;

	pthread_mutex_lock(&ep->lock);
	for (size_t i = 0; i < r->n_series && !s; i++)
		if (strcmp(r->series[i].name, series) == 0)
			s = &r->series[i];
	if (!s && r->n_series < CRID_BENCH_MAX_SERIES) {
		s = &r->series[r->n_series++];
		snprintf(s->name, sizeof(s->name), "%s", series);
		s->unit = unit;
	}
	if (s && crid_bench_samples_push(&s->s, x) < 0 && !ep->error[0])
		snprintf(ep->error, sizeof(ep->error), "out of memory for samples");
	pthread_mutex_unlock(&ep->lock);
}

void crid_bench_set(struct crid_bench_endpoint *ep, const char *unit, double v, const char *fmt,
		    ...)
{
	struct crid_bench_result *r = &ep->res;
	struct crid_bench_value *val = NULL;
	char name[sizeof(r->values[0].name)];
	va_list ap;

	va_start(ap, fmt);
	vsnprintf(name, sizeof(name), fmt, ap);
	va_end(ap);
	pthread_mutex_lock(&ep->lock);
	for (size_t i = 0; i < r->n_values && !val; i++)
		if (strcmp(r->values[i].name, name) == 0)
			val = &r->values[i];
	if (!val && r->n_values < CRID_BENCH_MAX_VALUES) {
		val = &r->values[r->n_values++];
		memcpy(val->name, name, sizeof(name));
	}
	if (val) {
		val->unit = unit;
		val->v = v;
	}
	pthread_mutex_unlock(&ep->lock);
}

void crid_bench_fail(struct crid_bench_endpoint *ep, int status, const char *fmt, ...)
{
	va_list ap;

	pthread_mutex_lock(&ep->lock);
	if (!ep->error[0]) {
		va_start(ap, fmt);
		vsnprintf(ep->error, sizeof(ep->error), fmt, ap);
		va_end(ap);
		ep->skipped = status == CRID_GRPC_UNIMPLEMENTED;
	}
	pthread_mutex_unlock(&ep->lock);
}

bool crid_bench_failed(struct crid_bench_endpoint *ep)
{
	bool f;

	pthread_mutex_lock(&ep->lock);
	f = ep->error[0] != 0;
	pthread_mutex_unlock(&ep->lock);
	return f;
}

void crid_bench_note(struct crid_bench_endpoint *ep, const char *fmt, ...)
{
	char line[CRID_ERR_MSG_MAX];
	size_t len;
	va_list ap;

	va_start(ap, fmt);
	vsnprintf(line, sizeof(line), fmt, ap);
	va_end(ap);
	pthread_mutex_lock(&ep->lock);
	len = strlen(ep->note);
	if (!strstr(ep->note, line))
		snprintf(ep->note + len, sizeof(ep->note) - len, "%s%s", len ? "; " : "", line);
	pthread_mutex_unlock(&ep->lock);
}

static void summarize(struct crid_bench_endpoint *ep)
{
	for (size_t i = 0; i < ep->res.n_series; i++)
		crid_bench_summarize(&ep->res.series[i].s, &ep->res.series[i].sum);
}

void crid_bench_summarize_all(struct crid_bench_run *run)
{
	for (size_t e = 0; e < run->n_ep; e++)
		summarize(&run->ep[e]);
	summarize(&run->floor);
}

const struct crid_bench_series *crid_bench_find_series(const struct crid_bench_endpoint *ep,
						       const char *name)
{
	for (size_t i = 0; i < ep->res.n_series; i++)
		if (strcmp(ep->res.series[i].name, name) == 0)
			return &ep->res.series[i];
	return NULL;
}

const struct crid_bench_value *crid_bench_find_value(const struct crid_bench_endpoint *ep,
						     const char *name)
{
	for (size_t i = 0; i < ep->res.n_values; i++)
		if (strcmp(ep->res.values[i].name, name) == 0)
			return &ep->res.values[i];
	return NULL;
}

void crid_bench_progress(const struct crid_bench_run *run, bool done, const char *fmt, ...)
{
	char line[256];
	va_list ap;

	va_start(ap, fmt);
	vsnprintf(line, sizeof(line), fmt, ap);
	va_end(ap);
	if (run->tty)
		fprintf(stderr, "\r\033[K%s: %s%s", run->scenario, line, done ? "\n" : "");
	else if (done)
		fprintf(stderr, "%s: %s\n", run->scenario, line);
}

double crid_bench_since_s(uint64_t t0_ns)
{
	return (double)(crid_bench_now_ns() - t0_ns) / 1e9;
}

void crid_bench_sleep_ms(int ms)
{
	struct timespec ts = { ms / 1000, (long)(ms % 1000) * 1000000L };

	while (nanosleep(&ts, &ts) < 0 && errno == EINTR)
		;
}

struct crid_grpc_client *crid_bench_connect(const struct crid_bench_run *run,
					    struct crid_bench_endpoint *ep)
{
	struct crid_grpc_client *c = NULL;
	struct crid_err err;

	if (crid_grpc_client_connect(ep->address, run->timeout_ms, &c, &err) < 0) {
		crid_bench_fail(ep, 0, "connect: %s", err.msg);
		return NULL;
	}
	return c;
}
