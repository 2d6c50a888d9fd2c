/*
 * reactor/loop_watch through a real loop at debug level: an iteration whose
 * callback spins 30 ms is logged with its wall time and the spinning
 * function named (from the binary's own symbol table: it is static); short
 * iterations log nothing; at info level no timer is made at all.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include "reactor/log.h"
#include "reactor/loop.h"
#include "reactor/loop_watch.h"
#include "tap.h"

static double now(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (double)ts.tv_sec + (double)ts.tv_nsec / 1e9;
}

static void __attribute__((noinline)) spin_for_the_watch(double s)
{
	double end = now() + s;
	volatile unsigned long n = 0;

	while (now() < end)
		n++;
}

static void slow_cb(struct ev_loop *ev, ev_timer *t, int revents)
{
	(void)ev;
	(void)revents;
	spin_for_the_watch(*(double *)t->data);
}

static void stop_cb(struct ev_loop *ev, ev_timer *t, int revents)
{
	(void)ev;
	(void)revents;
	crid_loop_stop(t->data);
}

static void on_signal(struct crid_loop *loop, int signo, void *user)
{
	(void)loop;
	(void)signo;
	(void)user;
}

/* Runs one loop at |level| with a callback spinning |spin| s; returns what it logged. */
static char *run(enum crid_log_level level, double spin)
{
	static char out[8192];
	struct crid_loop loop;
	struct crid_err err;
	ev_timer slow, stop;
	FILE *f = tmpfile();
	int saved = dup(2);
	size_t n;

	crid_log_set_level(level);
	dup2(fileno(f), 2);
	if (crid_loop_init(&loop, on_signal, NULL, &err) < 0)
		abort();
	ev_timer_init(&slow, slow_cb, 0.01, 0.);
	slow.data = &spin;
	ev_timer_start(loop.ev, &slow);
	ev_timer_init(&stop, stop_cb, 0.2, 0.);
	stop.data = &loop;
	ev_timer_start(loop.ev, &stop);
	crid_loop_run(&loop);
	crid_loop_destroy(&loop);
	dup2(saved, 2);
	close(saved);
	rewind(f);
	n = fread(out, 1, sizeof(out) - 1, f);
	out[n] = '\0';
	fclose(f);
	return out;
}

int main(void)
{
	char *log = run(CRID_LOG_DEBUG, 0.03);

	CHECK(strstr(log, "loop: iteration of ") != NULL, "a 30 ms iteration is logged: %s", log);
	CHECK(strstr(log, "spin_for_the_watch+0x") != NULL, "naming the static function it ran");
	log = run(CRID_LOG_DEBUG, 0.0);
	CHECK(strstr(log, "loop: iteration") == NULL, "short iterations log nothing: %s", log);
	log = run(CRID_LOG_INFO, 0.03);
	CHECK(strstr(log, "loop: iteration") == NULL, "off below debug level");
	crid_loop_watch_disarm(1.0); /* not started: a no-op */
	CHECK(1, "disarm without a watch is a no-op");
	return tap_done();
}
