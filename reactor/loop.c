#include <time.h>
#include "reactor/loop.h"

#include <errno.h>
#include <signal.h>
#include <string.h>
#include <sys/signalfd.h>
#include <unistd.h>

#include "reactor/log.h"
#include "reactor/loop_watch.h"

/* Hook runs per iteration before the rest wait (see run_hooks). */
#define HOOK_RUNS_MAX 100000

static const int watched_signals[] = { SIGTERM, SIGINT, SIGHUP, SIGCHLD };

static void signal_cb(struct ev_loop *ev, ev_io *w, int revents)
{
	struct crid_loop *loop = w->data;
	struct signalfd_siginfo si;

	(void)ev;
	(void)revents;
	for (;;) {
		ssize_t n = read(loop->signal_fd, &si, sizeof(si));

		if (n != (ssize_t)sizeof(si))
			return; /* EAGAIN: drained */
		if (loop->on_signal)
			loop->on_signal(loop, (int)si.ssi_signo, loop->signal_user);
	}
}

/* The thread's CPU time in seconds: one clock_gettime, a few hundred ns. */
static double thread_cpu(void)
{
	struct timespec ts;

	if (clock_gettime(CLOCK_THREAD_CPUTIME_ID, &ts) < 0)
		return 0;
	return (double)ts.tv_sec + (double)ts.tv_nsec * 1e-9;
}

/* Runs the queued hooks; a hook may queue itself or others again for the next round. */
/* Wakes the loop for hooks left over by run_hooks(); the prepare watcher runs them. */
static void hooks_kick_cb(struct ev_loop *ev, ev_timer *w, int revents)
{
	(void)ev;
	(void)w;
	(void)revents;
}

/*
 * Hooks are taken one at a time off the live list, never off a detached
 * copy: a hook may free an object whose own hook is still queued (a session
 * freeing its connection), and that object's cancel must find it in the
 * list. A hook queued while hooks run runs before this sleep too. One that
 * keeps queueing itself must not hold the loop: past HOOK_RUNS_MAX runs the
 * rest wait for the next iteration, which the zero timer brings at once.
 */
static void run_hooks(struct crid_loop *loop)
{
	struct crid_before_sleep *h;
	unsigned runs = 0;

	while ((h = loop->hooks)) {
		if (++runs > HOOK_RUNS_MAX) {
			ev_timer_start(loop->ev, &loop->hooks_kick);
			return;
		}
		loop->hooks = h->next;
		h->next = NULL;
		h->linked = 0;
		h->fn(h);
	}
}

static void prepare_cb(struct ev_loop *ev, ev_prepare *w, int revents)
{
	struct crid_loop *loop = w->data;

	(void)revents;
	if (loop->woke > 0) {
		/*
		 * One wall and one CPU clock read per iteration. The CPU since the
		 * previous read is this iteration's: the thread uses next to none
		 * while it sleeps in epoll_wait.
		 */
		double busy = ev_time() - loop->woke;
		double now_cpu = thread_cpu();
		/* the first round would count start-up as one iteration: it only sets the base */
		double cpu = loop->last_cpu > 0 ? now_cpu - loop->last_cpu : 0;

		loop->last_cpu = now_cpu;
		crid_loop_watch_disarm(busy);
		if (busy > loop->max_busy)
			loop->max_busy = busy;
		if (cpu > loop->max_busy_cpu)
			loop->max_busy_cpu = cpu;
	}
	(void)ev;
	run_hooks(loop);
}

static void check_cb(struct ev_loop *ev, ev_check *w, int revents)
{
	struct crid_loop *loop = w->data;

	(void)ev;
	(void)revents;
	loop->woke = ev_time();
	crid_loop_watch_arm();
}

double crid_loop_max_busy_cpu(struct crid_loop *loop, int reset)
{
	double max = loop->max_busy_cpu;

	if (reset)
		loop->max_busy_cpu = 0;
	return max;
}

double crid_loop_max_busy(struct crid_loop *loop, int reset)
{
	double max = loop->max_busy;

	if (reset)
		loop->max_busy = 0;
	return max;
}

static int block_signals(sigset_t *set, struct crid_err *err)
{
	sigemptyset(set);
	for (size_t i = 0; i < sizeof(watched_signals) / sizeof(watched_signals[0]); i++)
		sigaddset(set, watched_signals[i]);
	if (sigprocmask(SIG_BLOCK, set, NULL) < 0)
		return crid_err_set(err, errno, "block signals");
	signal(SIGPIPE, SIG_IGN);
	return 0;
}

int crid_loop_init(struct crid_loop *loop, crid_signal_fn on_signal, void *user,
		   struct crid_err *err)
{
	struct crid_err werr;
	sigset_t set;

	memset(loop, 0, sizeof(*loop));
	loop->signal_fd = -1;
	if (block_signals(&set, err) < 0)
		return -1;
	loop->signal_fd = signalfd(-1, &set, SFD_NONBLOCK | SFD_CLOEXEC);
	if (loop->signal_fd < 0)
		return crid_err_set(err, errno, "signalfd");
	/* EVFLAG_NOSIGMASK: libev must not touch the mask we just set up. */
	loop->ev = ev_loop_new(EVBACKEND_EPOLL | EVFLAG_NOSIGMASK);
	if (!loop->ev) {
		close(loop->signal_fd);
		loop->signal_fd = -1;
		return crid_err_set(err, 0, "cannot create the epoll event loop");
	}
	loop->on_signal = on_signal;
	loop->signal_user = user;
	ev_io_init(&loop->signal_watcher, signal_cb, loop->signal_fd, EV_READ);
	loop->signal_watcher.data = loop;
	ev_io_start(loop->ev, &loop->signal_watcher);
	ev_timer_init(&loop->hooks_kick, hooks_kick_cb, 0., 0.);
	ev_prepare_init(&loop->prepare, prepare_cb);
	loop->prepare.data = loop;
	ev_prepare_start(loop->ev, &loop->prepare);
	ev_check_init(&loop->check, check_cb);
	loop->check.data = loop;
	ev_check_start(loop->ev, &loop->check);
	/* at debug level, iterations over 2 ms are logged with what they were running */
	if (crid_log_enabled(CRID_LOG_DEBUG) && crid_loop_watch_start(0.002, &werr) < 0)
		crid_log_warn("%s", werr.msg);
	/* None of these watchers alone should keep the loop alive. */
	ev_unref(loop->ev);
	ev_unref(loop->ev);
	ev_unref(loop->ev);
	return 0;
}

void crid_loop_run(struct crid_loop *loop)
{
	ev_run(loop->ev, 0);
}

void crid_loop_stop(struct crid_loop *loop)
{
	ev_break(loop->ev, EVBREAK_ALL);
}

void crid_loop_before_sleep(struct crid_loop *loop, struct crid_before_sleep *hook)
{
	if (hook->linked)
		return;
	hook->linked = 1;
	hook->next = loop->hooks;
	loop->hooks = hook;
}

void crid_loop_cancel_before_sleep(struct crid_loop *loop, struct crid_before_sleep *hook)
{
	struct crid_before_sleep **p;

	if (!hook->linked)
		return;
	for (p = &loop->hooks; *p; p = &(*p)->next) {
		if (*p == hook) {
			*p = hook->next;
			break;
		}
	}
	hook->linked = 0;
	hook->next = NULL;
}

double crid_loop_now(struct crid_loop *loop)
{
	return ev_now(loop->ev);
}

void crid_loop_destroy(struct crid_loop *loop)
{
	if (!loop->ev)
		return;
	ev_ref(loop->ev);
	ev_ref(loop->ev);
	ev_ref(loop->ev);
	ev_io_stop(loop->ev, &loop->signal_watcher);
	ev_prepare_stop(loop->ev, &loop->prepare);
	ev_timer_stop(loop->ev, &loop->hooks_kick);
	ev_check_stop(loop->ev, &loop->check);
	crid_loop_watch_stop();
	ev_loop_destroy(loop->ev);
	loop->ev = NULL;
	if (loop->signal_fd >= 0)
		close(loop->signal_fd);
	loop->signal_fd = -1;
}

int64_t crid_wall_ns(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_REALTIME, &ts);
	return (int64_t)ts.tv_sec * 1000000000 + ts.tv_nsec;
}
