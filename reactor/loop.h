/*
 * The daemon's one event loop: a libev loop on epoll (never libev's default
 * loop, which installs a SIGCHLD handler that reaps every child and would
 * steal the exit statuses crid reads through pidfds), signals through a
 * signalfd, and "before sleep" hooks that flush queued output in one pass.
 */
#ifndef CRID_LOOP_H
#define CRID_LOOP_H

#include <ev.h>
#include <stdint.h>

#include "reactor/err.h"

struct crid_loop;

/* Called on the loop for every delivered signal in the watched set. */
typedef void (*crid_signal_fn)(struct crid_loop *loop, int signo, void *user);

/* A hook run once per loop iteration, just before the loop waits for events. */
struct crid_before_sleep {
	void (*fn)(struct crid_before_sleep *hook);
	struct crid_before_sleep *next;
	int linked;
};

struct crid_loop {
	struct ev_loop *ev;
	int signal_fd;
	ev_io signal_watcher;
	ev_prepare prepare;
	ev_check check;	     /* marks the end of each wait for events */
	double woke;	     /* when the current iteration's work began */
	double max_busy;     /* longest iteration's work, in seconds */
	double last_cpu;     /* the thread's CPU time at the previous iteration's end */
	double max_busy_cpu; /* most CPU one iteration took, in seconds */
	crid_signal_fn on_signal;
	void *signal_user;
	struct crid_before_sleep *hooks;
	ev_timer hooks_kick; /* wakes the loop for hooks run_hooks() left over */
};

/*
 * Creates the loop and blocks SIGTERM, SIGINT, SIGHUP, SIGCHLD and SIGPIPE;
 * the first four are delivered to |on_signal| through a signalfd, SIGPIPE is
 * ignored (writes use MSG_NOSIGNAL or get EPIPE).
 */
int crid_loop_init(struct crid_loop *loop, crid_signal_fn on_signal, void *user,
		   struct crid_err *err);

/* Runs until crid_loop_stop() is called. */
void crid_loop_run(struct crid_loop *loop);
void crid_loop_stop(struct crid_loop *loop);

/* Registers |hook| (caller-owned, embedded) to run before the next sleep; no-op if queued. */
void crid_loop_before_sleep(struct crid_loop *loop, struct crid_before_sleep *hook);

/* Removes |hook| if it is queued (call before freeing its owner). */
void crid_loop_cancel_before_sleep(struct crid_loop *loop, struct crid_before_sleep *hook);

/* The wall clock in ns since the epoch (CLOCK_REALTIME), as CRI timestamps are. */
int64_t crid_wall_ns(void);

/* Monotonic loop time in seconds (cached per iteration). */
double crid_loop_now(struct crid_loop *loop);

/*
 * The longest time one iteration spent running callbacks (not waiting),
 * in seconds, since start or since the last call with |reset| set.
 */
double crid_loop_max_busy(struct crid_loop *loop, int reset);

/*
 * The most CPU time one iteration used, in seconds, since start or since the
 * last call with |reset| set. Unlike the wall time above it leaves out the
 * time the thread waited for a core: what crid's own work cost, whatever
 * else the machine runs.
 */
double crid_loop_max_busy_cpu(struct crid_loop *loop, int reset);

void crid_loop_destroy(struct crid_loop *loop);

#endif
