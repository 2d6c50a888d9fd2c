/*
 * The orphan sweep keeps what it reaped: a child known only by its pid (as
 * a detached exec's process, named by the runtime's pid file) and reaped by
 * the sweep before anyone opened a pidfd on it still has its exit status.
 */
#include <signal.h>
#include <stdlib.h>
#include <sys/wait.h>
#include <unistd.h>

#include "reactor/pidfd.h"
#include "tap.h"

static void on_signal(struct crid_loop *loop, int signo, void *user)
{
	(void)loop, (void)signo, (void)user;
}

static void tick(struct ev_loop *ev, ev_timer *w, int revents)
{
	(void)ev, (void)w, (void)revents;
}

/* Runs the loop for |secs|; a ticking timer keeps ev_run from sleeping long. */
static void run_for(struct crid_loop *loop, double secs)
{
	double end = ev_time() + secs;
	ev_timer t;

	ev_timer_init(&t, tick, 0.02, 0.02);
	ev_timer_start(loop->ev, &t);
	while (ev_time() < end)
		ev_run(loop->ev, EVRUN_ONCE);
	ev_timer_stop(loop->ev, &t);
}

static void test_sweep_keeps_status(struct crid_loop *loop)
{
	int status = -1;
	bool kept;
	pid_t pid = fork();

	if (pid == 0)
		_exit(5);
	if (!CHECK(pid > 0, "fork"))
		return;
	CHECK(!crid_reaped_status(pid, &status), "nothing known of a child not yet reaped");
	usleep(100000); /* a zombie now */
	crid_reap_orphans_soon(loop);
	run_for(loop, 1.0);
	CHECK(waitpid(pid, NULL, WNOHANG) < 0, "the sweep reaped the zombie");
	kept = crid_reaped_status(pid, &status);
	CHECK(kept && status == 5, "its exit status is kept (%d)", status);
	CHECK(!crid_reaped_status(1, &status), "nothing for a pid it never reaped");
}

int main(void)
{
	struct crid_loop loop;
	struct crid_err err;

	if (!crid_pidfd_has_exit_info()) {
		tap_skip("orphan sweep", "kernel without PIDFD_INFO_EXIT: the sweep never runs");
		return tap_done();
	}
	if (crid_loop_init(&loop, on_signal, NULL, &err) < 0) {
		printf("not ok - loop: %s\n", err.msg);
		return 1;
	}
	test_sweep_keeps_status(&loop);
	crid_loop_destroy(&loop);
	return tap_done();
}
