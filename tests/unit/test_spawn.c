/* Children on the loop: exit codes, signals, exec failures, fds, pidfd kill. */
#include <errno.h>
#include <signal.h>
#include <string.h>
#include <unistd.h>

#include "reactor/spawn.h"
#include "tap.h"

struct result {
	int done;
	int status;
};

static void on_exit_cb(struct crid_child *child, int status, void *user)
{
	struct result *r = user;

	(void)child;
	r->done = 1;
	r->status = status;
}

static int run_to_exit(struct crid_loop *loop, struct result *r)
{
	for (int i = 0; i < 1000 && !r->done; i++)
		ev_run(loop->ev, EVRUN_ONCE);
	return r->done;
}

static void test_exit_code(struct crid_loop *loop)
{
	char *argv[] = { "sh", "-c", "exit 3", NULL };
	struct crid_spawn_opts o = { "/bin/sh", argv, NULL, -1, -1, -1 };
	struct crid_child child;
	struct result r = { 0, -1 };
	struct crid_err err;

	CHECK(crid_spawn(loop, &child, &o, on_exit_cb, &r, &err) == 0, "spawn sh");
	CHECK(run_to_exit(loop, &r) && r.status == 3, "exit code 3 reported (%d)", r.status);
}

static void test_kill(struct crid_loop *loop)
{
	char *argv[] = { "sleep", "100", NULL };
	struct crid_spawn_opts o = { "/bin/sleep", argv, NULL, -1, -1, -1 };
	struct crid_child child;
	struct result r = { 0, -1 };
	struct crid_err err;

	CHECK(crid_spawn(loop, &child, &o, on_exit_cb, &r, &err) == 0, "spawn sleep");
	CHECK(crid_child_kill(&child, SIGKILL) == 0, "kill through the pidfd");
	CHECK(run_to_exit(loop, &r) && r.status == 128 + SIGKILL, "killed: 137 (%d)", r.status);
	CHECK(crid_child_kill(&child, SIGKILL) == -ESRCH, "no kill after reaping");
}

static void test_exec_failure(struct crid_loop *loop)
{
	char *argv[] = { "nope", NULL };
	struct crid_spawn_opts o = { "/nonexistent/nope", argv, NULL, -1, -1, -1 };
	struct crid_child child;
	struct crid_err err;

	crid_err_clear(&err);
	CHECK(crid_spawn(loop, &child, &o, on_exit_cb, NULL, &err) < 0 && err.code == ENOENT,
	      "exec failure is reported: %s", err.msg);
}

/* stdout is redirected, the environment is exactly what we pass, signals are unblocked. */
static void test_io_env_mask(struct crid_loop *loop)
{
	char *argv[] = { "sh", "-c", "echo \"$FOO\"; grep SigBlk /proc/self/status", NULL };
	char *envp[] = { "FOO=bar", NULL };
	struct crid_child child;
	struct result r = { 0, -1 };
	struct crid_err err;
	char buf[256] = { 0 };
	int p[2];

	if (pipe(p) < 0)
		return;
	struct crid_spawn_opts o = { "/bin/sh", argv, envp, -1, p[1], -1 };

	CHECK(crid_spawn(loop, &child, &o, on_exit_cb, &r, &err) == 0, "spawn with a pipe");
	close(p[1]);
	CHECK(run_to_exit(loop, &r) && r.status == 0, "child exits 0");
	CHECK(read(p[0], buf, sizeof(buf) - 1) > 0, "read child output");
	close(p[0]);
	CHECK(strncmp(buf, "bar\n", 4) == 0, "environment passed");
	CHECK(strstr(buf, "SigBlk:\t0000000000000000") != NULL, "signal mask reset in the child");
}

static void on_signal(struct crid_loop *loop, int signo, void *user)
{
	(void)loop;
	(void)signo;
	(void)user;
}

int main(void)
{
	struct crid_loop loop;
	struct crid_err err;

	if (crid_loop_init(&loop, on_signal, NULL, &err) < 0) {
		printf("not ok - loop: %s\n", err.msg);
		return 1;
	}
	test_exit_code(&loop);
	test_kill(&loop);
	test_exec_failure(&loop);
	test_io_env_mask(&loop);
	crid_loop_destroy(&loop);
	return tap_done();
}
