/* Children on the loop: exit codes, signals, exec failures, fds, pidfd kill. */
#include <errno.h>
#include <fcntl.h>
#include <sched.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mount.h>
#include <sys/stat.h>
#include <sys/wait.h>
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

/* exec refuses a file with no #! and no ELF (ENOEXEC): reported by crid_spawn itself. */
static void test_exec_failure_noexec(struct crid_loop *loop)
{
	char path[] = "/tmp/crid-spawn-noexec-XXXXXX";
	char *argv[] = { path, NULL };
	struct crid_spawn_opts o = { path, argv, NULL, -1, -1, -1 };
	struct crid_child child;
	struct crid_err err;
	int fd = mkstemp(path);

	if (fd < 0 || write(fd, "\x01\x02garbage\n", 10) != 10 || fchmod(fd, 0755) < 0) {
		printf("not ok - cannot write %s\n", path);
		return;
	}
	close(fd);
	crid_err_clear(&err);
	CHECK(crid_spawn(loop, &child, &o, on_exit_cb, NULL, &err) < 0 && err.code == ENOEXEC,
	      "ENOEXEC is reported at the spawn: %s", err.msg);
	unlink(path);
}

/* Many children back to back, several running at once: each runs its own script. */
static void test_many_at_once(struct crid_loop *loop)
{
	enum { N = 16 };
	struct crid_child kids[N];
	struct result res[N];
	char scripts[N][32];
	char *argv[N][4];
	struct crid_err err;
	int ok = 0;

	for (int i = 0; i < N; i++) {
		snprintf(scripts[i], sizeof(scripts[i]), "exit %d", i + 10);
		argv[i][0] = "sh", argv[i][1] = "-c", argv[i][2] = scripts[i], argv[i][3] = NULL;
		struct crid_spawn_opts o = { "/bin/sh", argv[i], NULL, -1, -1, -1 };

		res[i].done = 0, res[i].status = -1;
		if (crid_spawn(loop, &kids[i], &o, on_exit_cb, &res[i], &err) < 0)
			break;
	}
	for (int i = 0; i < N; i++)
		ok += run_to_exit(loop, &res[i]) && res[i].status == i + 10;
	CHECK(ok == N, "%d children spawned back to back each ran its own script (%d of %d)", N, ok,
	      N);
}

static int fn_mkdir(void *arg, struct crid_err *err)
{
	const char *dir = arg;

	if (mkdir(dir, 0700) < 0)
		return crid_err_set(err, errno, "mkdir `%s`", dir);
	return 0;
}

/*
 * A function child: its work happens (a directory appears), its error
 * comes back whole with its message, and the loop is not the one running it.
 */
static void test_fn_child(struct crid_loop *loop)
{
	char dir[] = "/tmp/crid-spawn-fn-XXXXXX", sub[64];
	struct crid_child child;
	struct result r = { 0, -1 };
	struct crid_err err, res;
	struct stat st;

	if (!mkdtemp(dir)) {
		printf("not ok - mkdtemp\n");
		return;
	}
	snprintf(sub, sizeof(sub), "%s/made", dir);
	CHECK(crid_spawn_fn(loop, &child, fn_mkdir, sub, &res, on_exit_cb, &r, &err) == 0,
	      "function child started");
	CHECK(child.pid != getpid() && child.pid > 0, "it is another process");
	CHECK(run_to_exit(loop, &r) && r.status == 0 && res.code == 0, "it succeeded (%d, %s)",
	      r.status, res.msg);
	CHECK(stat(sub, &st) == 0 && S_ISDIR(st.st_mode), "its work is done: `%s` exists", sub);

	r.done = 0, r.status = -1;
	CHECK(crid_spawn_fn(loop, &child, fn_mkdir, sub, &res, on_exit_cb, &r, &err) == 0 &&
		  run_to_exit(loop, &r),
	      "the same work again");
	CHECK(r.status == 1 && res.code == EEXIST && strstr(res.msg, sub) != NULL,
	      "its error comes back with its message: %d `%s`", r.status, res.msg);
	rmdir(sub);
	rmdir(dir);
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

/*
 * A mount namespace of its own with a tmpfs on |dir| holding |dir|/marker,
 * held by a child parked on a pipe; its ns fd in *|ns|. Returns the child or -1.
 */
static pid_t make_ns(const char *dir, int *ns, int *hold)
{
	int ready[2], park[2];
	char path[64], c;
	pid_t pid;

	if (pipe(ready) < 0 || pipe(park) < 0)
		return -1;
	pid = fork();
	if (pid == 0) {
		char marker[256];

		close(ready[0]), close(park[1]);
		snprintf(marker, sizeof(marker), "%s/marker", dir);
		if (unshare(CLONE_NEWNS) < 0 || mount(NULL, "/", NULL, MS_REC | MS_PRIVATE, NULL) ||
		    mount("tmpfs", dir, "tmpfs", 0, "size=64k") < 0 ||
		    close(open(marker, O_CREAT | O_WRONLY, 0600)) < 0)
			_exit(1);
		c = 'y';
		if (write(ready[1], &c, 1) != 1 || read(park[0], &c, 1) < 0)
			_exit(1);
		_exit(0);
	}
	close(ready[1]), close(park[0]);
	if (pid < 0 || read(ready[0], &c, 1) != 1) {
		close(ready[0]), close(park[1]);
		return -1;
	}
	close(ready[0]);
	snprintf(path, sizeof(path), "/proc/%d/ns/mnt", (int)pid);
	*ns = open(path, O_RDONLY | O_CLOEXEC);
	*hold = park[1];
	return pid;
}

/* mnt_ns_fd: the child sees that namespace's mounts, with stdio and exit codes as usual. */
static void test_mnt_ns(struct crid_loop *loop)
{
	char dir[] = "/tmp/crid-spawn-ns-XXXXXX", script[512], buf[64] = { 0 };
	char *argv[] = { "sh", "-c", script, NULL };
	int ns = -1, hold = -1, p[2];
	struct crid_child child;
	struct result r = { 0, -1 };
	struct crid_err err;
	pid_t holder;

	if (geteuid() != 0 || !mkdtemp(dir)) {
		printf("ok - # SKIP mount namespaces need root\n");
		return;
	}
	holder = make_ns(dir, &ns, &hold);
	if (holder < 0 || ns < 0 || pipe(p) < 0) {
		printf("ok - # SKIP cannot make a mount namespace here\n");
		rmdir(dir);
		return;
	}
	snprintf(script, sizeof(script), "test -e %s/marker && echo in; exit 7", dir);
	struct crid_spawn_opts o = { "/bin/sh", argv, NULL, -1, p[1], -1 };

	struct crid_spawn_ns in = { ns, NULL, NULL, false };

	CHECK(crid_spawn_in_ns(loop, &child, &o, &in, on_exit_cb, &r, &err) == 0,
	      "spawn in a namespace");
	close(p[1]);
	CHECK(child.pidfd >= 0 && child.pid > 0, "pidfd and pid of the namespaced child");
	CHECK(run_to_exit(loop, &r) && r.status == 7, "its exit code (%d)", r.status);
	CHECK(read(p[0], buf, sizeof(buf) - 1) == 3 && strcmp(buf, "in\n") == 0,
	      "it saw the namespace's tmpfs and wrote to our pipe (`%s`)", buf);
	close(p[0]);

	r.done = 0, o.stdout_fd = -1;
	snprintf(script, sizeof(script), "test -e %s/marker", dir);
	CHECK(crid_spawn(loop, &child, &o, on_exit_cb, &r, &err) == 0 && run_to_exit(loop, &r) &&
		  r.status == 1,
	      "without mnt_ns_fd the daemon's mounts (no marker)");

	char *nope[] = { "nope", NULL };
	struct crid_spawn_opts bad = { "/nonexistent/nope", nope, NULL, -1, -1, -1 };

	crid_err_clear(&err);
	CHECK(crid_spawn_in_ns(loop, &child, &bad, &in, on_exit_cb, NULL, &err) < 0 &&
		  err.code == ENOENT,
	      "exec failure in a namespace reported: %s", err.msg);
	bad.path = "/bin/true", p[0] = open("/dev/null", O_RDONLY | O_CLOEXEC);
	crid_err_clear(&err);
	struct crid_spawn_ns notns = { p[0], NULL, NULL, false };

	CHECK(crid_spawn_in_ns(loop, &child, &bad, &notns, on_exit_cb, NULL, &err) < 0 &&
		  err.code == EINVAL,
	      "a non-namespace fd is refused: %s", err.msg);
	close(p[0]);

	/* hide: a fresh namespace without our tmpfs on |dir| */
	struct crid_spawn_ns fresh = { -1, dir, "/", true };

	if (mount("tmpfs", dir, "tmpfs", 0, "size=64k") == 0) {
		/* and setsid: it leads its own session */
		snprintf(script, sizeof(script),
			 "test \"$(cut -d' ' -f6 /proc/$$/stat)\" = $$ || exit 8; "
			 "mountpoint -q %s || exit 9",
			 dir);
		r.done = 0, r.status = -1;
		crid_err_clear(&err);
		CHECK(
		    crid_spawn_in_ns(loop, &child, &o, &fresh, on_exit_cb, &r, &err) == 0 &&
			run_to_exit(loop, &r) && r.status == 9,
		    "hide: the child's fresh namespace lacks the mount; setsid: leads a session %s",
		    err.msg);
		r.done = 0;
		snprintf(script, sizeof(script), "mountpoint -q %s", dir);
		CHECK(crid_spawn(loop, &child, &o, on_exit_cb, &r, &err) == 0 &&
			  run_to_exit(loop, &r) && r.status == 0,
		      "and ours keeps it");
		umount2(dir, MNT_DETACH);
	}
	close(ns), close(hold);
	waitpid(holder, NULL, 0);
	rmdir(dir);
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
	test_exec_failure_noexec(&loop);
	test_many_at_once(&loop);
	test_fn_child(&loop);
	test_io_env_mask(&loop);
	test_mnt_ns(&loop);
	crid_loop_destroy(&loop);
	return tap_done();
}
