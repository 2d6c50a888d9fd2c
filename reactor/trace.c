/*
 * Per-operation step timing (see trace.h). Fixed arrays only: a trace costs
 * one clock_gettime per mark, and formatting happens only at debug level.
 */
#include "reactor/trace.h"

#include <stdio.h>
#include <string.h>
#include <time.h>

#include "reactor/log.h"

static int64_t mono_ns(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (int64_t)ts.tv_sec * 1000000000 + ts.tv_nsec;
}

void crid_trace_begin(struct crid_trace *t)
{
	memset(t, 0, sizeof(*t));
	t->start_ns = t->last_ns = mono_ns();
}

/* The slot of |name|: found by pointer or string, else a new one; the last is kept for "other". */
static struct crid_trace_step *slot(struct crid_trace *t, const char *name)
{
	for (size_t i = 0; i < t->n; i++)
		if (t->steps[i].name == name || strcmp(t->steps[i].name, name) == 0)
			return &t->steps[i];
	if (t->n < CRID_TRACE_STEPS - 1 || (t->n < CRID_TRACE_STEPS && !strcmp(name, "other"))) {
		t->steps[t->n].name = name;
		return &t->steps[t->n++];
	}
	return slot(t, "other");
}

void crid_trace_mark(struct crid_trace *t, const char *name)
{
	struct crid_trace_step *s;
	int64_t now, us;

	if (!t->start_ns)
		return;
	now = mono_ns();
	us = (now - t->last_ns) / 1000;
	t->last_ns = now;
	s = slot(t, name);
	s->us = (int64_t)s->us + us > UINT32_MAX ? UINT32_MAX : (uint32_t)(s->us + us);
}

int64_t crid_trace_total_us(const struct crid_trace *t)
{
	return t->start_ns ? (mono_ns() - t->start_ns) / 1000 : 0;
}

/* Appends " <name>=<ms><unit>" at |*n| when it fits whole; once one does not, none does. */
static void put_ms(char *buf, size_t size, size_t *n, const char *name, int64_t us,
		   const char *unit)
{
	char field[96];
	int r;

	if (*n >= size)
		return;
	r = snprintf(field, sizeof(field), "%s%s=%lld.%lld%s", *n ? " " : "", name,
		     (long long)(us / 1000), (long long)(us % 1000 / 100), unit);
	if (r < 0 || (size_t)r >= sizeof(field) || (size_t)r >= size - *n) {
		*n = size;
		return;
	}
	memcpy(buf + *n, field, (size_t)r + 1);
	*n += (size_t)r;
}

const char *crid_trace_format(const struct crid_trace *t, char *buf, size_t size)
{
	size_t n = 0;

	if (!size)
		return buf;
	buf[0] = '\0';
	put_ms(buf, size, &n, "total", crid_trace_total_us(t), "ms");
	for (size_t i = 0; i < t->n; i++)
		put_ms(buf, size, &n, t->steps[i].name, t->steps[i].us, "");
	return buf;
}

void crid_trace_log(const struct crid_trace *t, const char *rpc, const char *what, const char *id)
{
	char buf[512];

	if (!crid_log_enabled(CRID_LOG_DEBUG) || !t->start_ns)
		return;
	crid_log(CRID_LOG_DEBUG, "trace %s %s=%.12s %s", rpc, what, id ? id : "",
		 crid_trace_format(t, buf, sizeof(buf)));
}
