#include "reactor/mem_trim.h"

#include <malloc.h>
#include <stdbool.h>
#include <time.h>

static ev_timer trim_timer;
static bool trim_armed;
static unsigned long trims;
static double trim_max_us, trim_max_cpu_us;

static double now_us(clockid_t clock)
{
	struct timespec ts;

	clock_gettime(clock, &ts);
	return ts.tv_sec * 1e6 + ts.tv_nsec / 1e3;
}

static void trim_cb(struct ev_loop *ev, ev_timer *w, int revents)
{
	double t0 = now_us(CLOCK_MONOTONIC), c0 = now_us(CLOCK_THREAD_CPUTIME_ID), us, cpu;

	(void)w, (void)revents;
	/* libev stopped the expired timer, which dropped the reference it never held */
	ev_ref(ev);
	trim_armed = false;
#ifdef __GLIBC__
	malloc_trim(0);
#endif
	us = now_us(CLOCK_MONOTONIC) - t0;
	cpu = now_us(CLOCK_THREAD_CPUTIME_ID) - c0;
	if (us > trim_max_us)
		trim_max_us = us;
	if (cpu > trim_max_cpu_us)
		trim_max_cpu_us = cpu;
	trims++;
}

void crid_mem_trim_soon(struct crid_loop *loop)
{
	if (trim_armed)
		return;
	ev_timer_init(&trim_timer, trim_cb, CRID_MEM_TRIM_DELAY, 0.);
	ev_timer_start(loop->ev, &trim_timer);
	ev_unref(loop->ev); /* a pending trim alone does not keep the loop running */
	trim_armed = true;
}

unsigned long crid_mem_trims(double *max_us, double *max_cpu_us)
{
	*max_us = trim_max_us;
	*max_cpu_us = trim_max_cpu_us;
	return trims;
}
