#include "reactor/spawn.h"

#include "reactor/log.h"
#include "reactor/metrics_families.h"
#include "reactor/pidfd.h"

#include <errno.h>
#include <fcntl.h>
#include <signal.h>
#include <sched.h>
#include <spawn.h>
#include <string.h>
#include <sys/mount.h>
#include <sys/pidfd.h>
#include <sys/syscall.h>
#include <sys/wait.h>
#include <unistd.h>

static char *const empty_env[] = { NULL };

/* A function child's error, or its bare exit status when it sent none. */
static void read_result(struct crid_child *child, int status)
{
	struct crid_err *e = child->result;
	ssize_t n = read(child->report_fd, e, sizeof(*e));

	close(child->report_fd);
	child->report_fd = -1;
	if (n == (ssize_t)sizeof(*e)) {
		e->msg[sizeof(e->msg) - 1] = '\0';
		return;
	}
	crid_err_clear(e);
	if (status != 0)
		crid_err_cause(e, EIO, "child %d ended with status %d", (int)child->pid, status);
}

static void pidfd_cb(struct ev_loop *ev, ev_io *w, int revents)
{
	struct crid_child *child = w->data;
	double t0 = crid_metrics_clock();
	int status = 255;

	(void)revents;
	switch (crid_pidfd_exit(child->pidfd, &status)) {
	case CRID_EXIT_RUNNING:
	case CRID_EXIT_PENDING:
		return; /* spurious wakeup: not exited (or not reaped) yet */
	case CRID_EXIT_UNKNOWN:
		status = 255; /* reaped by someone else on a kernel without PIDFD_INFO_EXIT */
		break;
	case CRID_EXIT_KNOWN:
		break;
	}
	ev_io_stop(ev, w);
	close(child->pidfd);
	child->pidfd = -1;
	if (child->result) {
		read_result(child, status);
		child->result = NULL;
	}
	child->on_exit(child, status, child->user);
	crid_metrics_loop_class(CRID_LOOP_CHILD, t0);
}

static int setup_file_actions(posix_spawn_file_actions_t *fa, const struct crid_spawn_opts *o)
{
	const int fds[3] = { o->stdin_fd, o->stdout_fd, o->stderr_fd };
	int r = 0;

	for (int i = 0; i < 3 && r == 0; i++) {
		if (fds[i] < 0)
			r = posix_spawn_file_actions_addopen(fa, i, "/dev/null",
							     i ? O_WRONLY : O_RDONLY, 0);
		else
			r = posix_spawn_file_actions_adddup2(fa, fds[i], i);
	}
	if (r == 0)
		r = posix_spawn_file_actions_addclosefrom_np(fa, 3);
	return r;
}

static int setup_attrs(posix_spawnattr_t *attr)
{
	sigset_t none, all;
	int r;

	sigemptyset(&none);
	sigfillset(&all);
	r = posix_spawnattr_setsigmask(attr, &none);
	if (r == 0)
		r = posix_spawnattr_setsigdefault(attr, &all);
	if (r == 0)
		r = posix_spawnattr_setflags(attr, POSIX_SPAWN_SETSIGMASK | POSIX_SPAWN_SETSIGDEF);
	return r;
}

/* Watches |pidfd| (taken over) for the exit of |pid|. */
static void watch(struct crid_loop *loop, struct crid_child *child, pid_t pid, int pidfd,
		  crid_child_exit_fn on_exit, void *user)
{
	child->pidfd = pidfd;
	child->report_fd = -1;
	child->result = NULL;
	child->pid = pid;
	child->loop = loop;
	child->on_exit = on_exit;
	child->user = user;
	ev_io_init(&child->watcher, pidfd_cb, child->pidfd, EV_READ);
	child->watcher.data = child;
	ev_io_start(loop->ev, &child->watcher);
}

static int spawn_plain(const struct crid_spawn_opts *opts, pid_t *pid, struct crid_err *err)
{
	posix_spawn_file_actions_t fa;
	posix_spawnattr_t attr;
	int r;

	if (posix_spawn_file_actions_init(&fa) != 0)
		return crid_err_set(err, ENOMEM, "spawn `%s`", opts->path);
	if (posix_spawnattr_init(&attr) != 0) {
		posix_spawn_file_actions_destroy(&fa);
		return crid_err_set(err, ENOMEM, "spawn `%s`", opts->path);
	}
	r = setup_file_actions(&fa, opts);
	if (r == 0)
		r = setup_attrs(&attr);
	if (r == 0)
		r = posix_spawn(pid, opts->path, &fa, &attr, opts->argv,
				opts->envp ? opts->envp : empty_env);
	posix_spawn_file_actions_destroy(&fa);
	posix_spawnattr_destroy(&attr);
	if (r != 0)
		return crid_err_set(err, r, "spawn `%s`", opts->path);
	return 0;
}

/* ---- a child in another mount namespace ---- */

struct ns_child {
	const struct crid_spawn_opts *o;
	const struct crid_spawn_ns *ns;
	char *const *envp;
	volatile int err; /* errno of the step that failed, set by the child */
};

/* The kernel's struct sigaction for rt_sigaction (x86-64, arm64 layout). */
struct k_sigaction {
	void *handler;
	unsigned long flags;
	void *restorer;
	unsigned long mask;
};

/*
 * The child's stack. The parent is suspended until the child execs or exits
 * (CLONE_VFORK) and the daemon has one thread, so one stack serves all; a
 * function child (no CLONE_VM) runs on its own copy of it.
 */
static char ns_stack[32 * 1024] __attribute__((aligned(64)));

#define NS_SYSCALL(...)                                                                            \
	do {                                                                                       \
		if (syscall(__VA_ARGS__) < 0)                                                      \
			goto fail;                                                                 \
	} while (0)

/* fd |i| of the child: |fd| (-1 = /dev/null), inheritable. */
__attribute__((no_sanitize_address)) static int ns_child_fd(int i, int fd)
{
	long r;

	if (fd == i)
		return (int)syscall(SYS_fcntl, i, F_SETFD, 0);
	if (fd >= 0)
		return (int)syscall(SYS_dup3, fd, i, 0);
	r = syscall(SYS_openat, AT_FDCWD, "/dev/null", i ? O_WRONLY : O_RDONLY, 0);
	if (r < 0 || r == i)
		return (int)r;
	if (syscall(SYS_dup3, r, i, 0) < 0)
		return -1;
	return (int)syscall(SYS_close, r);
}

/*
 * Runs on ns_stack sharing the daemon's memory: raw syscalls only (no libc
 * state, no sanitizer interceptors), as glibc's posix_spawn child does.
 */
__attribute__((no_sanitize_address)) static int ns_child_main(void *arg)
{
	struct ns_child *a = arg;
	const struct crid_spawn_opts *o = a->o;
	const int fds[3] = { o->stdin_fd, o->stdout_fd, o->stderr_fd };
	struct k_sigaction dfl = { SIG_DFL, 0, NULL, 0 };
	unsigned long none = 0;

	if (a->ns->setsid)
		NS_SYSCALL(SYS_setsid);
	if (a->ns->fd >= 0) {
		NS_SYSCALL(SYS_setns, a->ns->fd, CLONE_NEWNS);
	} else if (a->ns->hide) {
		NS_SYSCALL(SYS_unshare, CLONE_NEWNS);
		/* private first: the detach must not propagate to the host's peers */
		NS_SYSCALL(SYS_mount, NULL, a->ns->hide_parent, NULL, MS_REC | MS_PRIVATE, NULL);
		NS_SYSCALL(SYS_umount2, a->ns->hide, MNT_DETACH);
	}
	for (int i = 0; i < 3; i++)
		if (ns_child_fd(i, fds[i]) < 0)
			goto fail;
	NS_SYSCALL(SYS_close_range, 3, ~0U, 0);
	for (int s = 1; s <= 64; s++)
		if (s != SIGKILL && s != SIGSTOP)
			syscall(SYS_rt_sigaction, s, &dfl, NULL, sizeof(none));
	NS_SYSCALL(SYS_rt_sigprocmask, SIG_SETMASK, &none, NULL, sizeof(none));
	syscall(SYS_execve, o->path, o->argv, a->envp);
fail:
	a->err = errno ? errno : EINVAL;
	syscall(SYS_exit, 127);
	return 127;
}

/* clone(CLONE_VM|CLONE_VFORK|CLONE_PIDFD): setns, stdio, exec; the pidfd comes with it. */
static int spawn_in_ns(const struct crid_spawn_opts *opts, const struct crid_spawn_ns *ns,
		       pid_t *pid, int *pidfd, struct crid_err *err)
{
	struct ns_child a = { opts, ns, opts->envp ? opts->envp : empty_env, 0 };
	sigset_t all, old;
	siginfo_t si;

	/* No handler may run on the child's stack before it reset them. */
	sigfillset(&all);
	sigprocmask(SIG_BLOCK, &all, &old);
	*pid = clone(ns_child_main, ns_stack + sizeof(ns_stack),
		     CLONE_VM | CLONE_VFORK | CLONE_PIDFD | SIGCHLD, &a, pidfd);
	sigprocmask(SIG_SETMASK, &old, NULL);
	if (*pid < 0)
		return crid_err_set(err, errno, "spawn `%s` (clone)", opts->path);
	if (a.err == 0)
		return 0;
	/* It has exited already (vfork returns at exit or exec): this reaps at once. */
	while (waitid(P_PIDFD, (id_t)*pidfd, &si, WEXITED) < 0 && errno == EINTR)
		;
	close(*pidfd);
	return crid_err_set(err, a.err, "spawn `%s` in mount namespace", opts->path);
}

struct fn_child {
	crid_child_fn fn;
	void *arg;
	int report;
};

/*
 * A function child: a copy of the daemon (fork semantics, one thread), so
 * libc is safe; signals stay blocked (none of the daemon's handlers runs
 * here) and its fds but the report pipe are closed first, so it holds no
 * socket, pipe end or lock of the daemon's while it works.
 */
static int fn_child_main(void *arg)
{
	struct fn_child *a = arg;
	struct crid_err e;

	int r;

	crid_err_clear(&e);
	if (a->report > 3)
		syscall(SYS_close_range, 3, a->report - 1, 0);
	syscall(SYS_close_range, a->report + 1, ~0U, 0);
	r = a->fn(a->arg, &e);
	if (r < 0) {
		if (e.code == 0 && e.msg[0] == '\0')
			crid_err_cause(&e, EIO, "child task failed");
		if (write(a->report, &e, sizeof(e)) < 0)
			e.code = 0; /* the exit status still says it failed */
		r = r < -125 ? 125 : -r;
	} else {
		r = 0;
	}
	syscall(SYS_exit_group, r);
	return r;
}

int crid_spawn_fn(struct crid_loop *loop, struct crid_child *child, crid_child_fn fn, void *arg,
		  struct crid_err *result, crid_child_exit_fn on_exit, void *user,
		  struct crid_err *err)
{
	struct fn_child a = { fn, arg, -1 };
	int rp[2], pidfd = -1;
	sigset_t all, old;
	pid_t pid;

	memset(child, 0, sizeof(*child));
	child->pidfd = -1;
	child->report_fd = -1;
	if (pipe2(rp, O_CLOEXEC | O_NONBLOCK) < 0)
		return crid_err_set(err, errno, "child task (report pipe)");
	a.report = rp[1];
	sigfillset(&all);
	sigprocmask(SIG_BLOCK, &all, &old);
	pid = clone(fn_child_main, ns_stack + sizeof(ns_stack), CLONE_PIDFD | SIGCHLD, &a, &pidfd);
	sigprocmask(SIG_SETMASK, &old, NULL);
	close(rp[1]);
	if (pid < 0) {
		close(rp[0]);
		return crid_err_set(err, errno, "child task (clone)");
	}
	watch(loop, child, pid, pidfd, on_exit, user);
	child->report_fd = rp[0];
	crid_err_clear(result);
	child->result = result;
	return 0;
}

int crid_spawn(struct crid_loop *loop, struct crid_child *child, const struct crid_spawn_opts *opts,
	       crid_child_exit_fn on_exit, void *user, struct crid_err *err)
{
	return crid_spawn_in_ns(loop, child, opts, NULL, on_exit, user, err);
}

int crid_spawn_in_ns(struct crid_loop *loop, struct crid_child *child,
		     const struct crid_spawn_opts *opts, const struct crid_spawn_ns *ns,
		     crid_child_exit_fn on_exit, void *user, struct crid_err *err)
{
	int pidfd = -1;
	pid_t pid;

	memset(child, 0, sizeof(*child));
	child->pidfd = -1;
	child->report_fd = -1;
	if (ns && (ns->fd >= 0 || ns->hide || ns->setsid)) {
		if (spawn_in_ns(opts, ns, &pid, &pidfd, err) < 0)
			return -1;
		watch(loop, child, pid, pidfd, on_exit, user);
		return 0;
	}
	if (spawn_plain(opts, &pid, err) < 0)
		return -1;
	/* The child stays a zombie until we wait for it, so its pid cannot be reused here. */
	pidfd = pidfd_open(pid, 0);
	if (pidfd < 0) {
		int e = errno;

		kill(pid, SIGKILL);
		/* not waited for here: the orphan sweep reaps it after its SIGCHLD */
		if (waitpid(pid, NULL, WNOHANG) == 0)
			crid_reap_orphans_soon(loop);
		return crid_err_set(err, e, "pidfd_open %d", (int)pid);
	}
	fcntl(pidfd, F_SETFD, FD_CLOEXEC);
	watch(loop, child, pid, pidfd, on_exit, user);
	return 0;
}

int crid_child_kill(struct crid_child *child, int signo)
{
	if (child->pidfd < 0)
		return -ESRCH;
	if (pidfd_send_signal(child->pidfd, signo, NULL, 0) < 0)
		return -errno;
	return 0;
}

int crid_child_detach(struct crid_child *child)
{
	int fd = child->pidfd;

	if (fd >= 0)
		ev_io_stop(child->loop->ev, &child->watcher);
	child->pidfd = -1;
	if (child->report_fd >= 0)
		close(child->report_fd);
	child->report_fd = -1;
	child->result = NULL;
	return fd;
}
