#include "reactor/spawn.h"

#include "reactor/log.h"
#include "reactor/metrics_families.h"
#include "reactor/pidfd.h"

#include <errno.h>
#include <fcntl.h>
#include <signal.h>
#include <sched.h>
#include <string.h>
#include <sys/mount.h>
#include <sys/pidfd.h>
#include <sys/syscall.h>
#include <sys/wait.h>
#include <unistd.h>

static char *const empty_env[] = { NULL };

/*
 * What the exec report pipe says once the child has exited: the errno of
 * the step that failed before exec, or 0 (exec'd: the pipe closed empty).
 */
static int read_report(struct crid_child *child)
{
	int e = 0;

	if (child->report_fd < 0)
		return 0;
	if (read(child->report_fd, &e, sizeof(e)) != (ssize_t)sizeof(e))
		e = 0;
	close(child->report_fd);
	child->report_fd = -1;
	return e;
}

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
	} else {
		child->exec_err = read_report(child);
	}
	if (child->exec_err) {
		crid_log_warn("child %d did not start its program: %s", (int)child->pid,
			      strerror(child->exec_err));
		status = 127;
	}
	child->on_exit(child, status, child->user);
	crid_metrics_loop_class(CRID_LOOP_CHILD, t0);
}

/* Watches |pidfd| (taken over) for the exit of |pid|, |report| for its exec failure. */
static void watch(struct crid_loop *loop, struct crid_child *child, pid_t pid, int pidfd,
		  int report, crid_child_exit_fn on_exit, void *user)
{
	child->pidfd = pidfd;
	child->report_fd = report;
	child->pid = pid;
	child->loop = loop;
	child->on_exit = on_exit;
	child->user = user;
	ev_io_init(&child->watcher, pidfd_cb, child->pidfd, EV_READ);
	child->watcher.data = child;
	ev_io_start(loop->ev, &child->watcher);
}

struct spawn_child {
	const struct crid_spawn_opts *o;
	const struct crid_spawn_ns *ns; /* NULL: the daemon's mount namespace */
	char *const *envp;
	int report; /* write end of the exec report pipe (CLOEXEC) */
};

/* The kernel's struct sigaction for rt_sigaction (x86-64, arm64 layout). */
struct k_sigaction {
	void *handler;
	unsigned long flags;
	void *restorer;
	unsigned long mask;
};

/*
 * The child's stack. Without CLONE_VM the child runs on its own copy of it,
 * so one array serves every child, also several not yet exec'd at once.
 */
static char child_stack[32 * 1024] __attribute__((aligned(64)));

#define CHILD_SYSCALL(...)                                                                         \
	do {                                                                                       \
		if (syscall(__VA_ARGS__) < 0)                                                      \
			goto fail;                                                                 \
	} while (0)

/* fd |i| of the child: |fd| (-1 = /dev/null), inheritable. */
__attribute__((no_sanitize_address)) static int child_fd(int i, int fd)
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

/* The mount namespace and session steps of |ns|. */
__attribute__((no_sanitize_address)) static int child_ns(const struct crid_spawn_ns *ns)
{
	if (ns->setsid && syscall(SYS_setsid) < 0)
		return -1;
	if (ns->fd >= 0)
		return (int)syscall(SYS_setns, ns->fd, CLONE_NEWNS);
	if (!ns->hide)
		return 0;
	if (syscall(SYS_unshare, CLONE_NEWNS) < 0)
		return -1;
	/* private first: the detach must not propagate to the host's peers */
	if (syscall(SYS_mount, NULL, ns->hide_parent, NULL, MS_REC | MS_PRIVATE, NULL) < 0)
		return -1;
	return (int)syscall(SYS_umount2, ns->hide, MNT_DETACH);
}

/*
 * Runs in a copy of the daemon's memory (fork semantics, not vfork): the
 * daemon goes on at once, and a slow exec under load costs the child its
 * time, not the loop's. Raw syscalls only, as glibc's posix_spawn child,
 * so no libc state or sanitizer interceptor is touched before exec. A
 * failed step writes its errno to the report pipe; a successful exec
 * closes it (CLOEXEC), which the daemon reads when the child exits.
 */
__attribute__((no_sanitize_address)) static int child_main(void *arg)
{
	struct spawn_child *a = arg;
	const struct crid_spawn_opts *o = a->o;
	const int fds[3] = { o->stdin_fd, o->stdout_fd, o->stderr_fd };
	struct k_sigaction dfl = { SIG_DFL, 0, NULL, 0 };
	unsigned long none = 0;
	int e;

	if (a->ns && child_ns(a->ns) < 0)
		goto fail;
	/* the report pipe must not be one of 0..2, and must survive close_range */
	if (a->report < 3)
		goto fail;
	for (int i = 0; i < 3; i++)
		if (child_fd(i, fds[i]) < 0)
			goto fail;
	CHILD_SYSCALL(SYS_close_range, 3, a->report - 1, 0);
	CHILD_SYSCALL(SYS_close_range, a->report + 1, ~0U, 0);
	for (int s = 1; s <= 64; s++)
		if (s != SIGKILL && s != SIGSTOP)
			syscall(SYS_rt_sigaction, s, &dfl, NULL, sizeof(none));
	CHILD_SYSCALL(SYS_rt_sigprocmask, SIG_SETMASK, &none, NULL, sizeof(none));
	syscall(SYS_execve, o->path, o->argv, a->envp);
fail:
	e = errno ? errno : EINVAL;
	syscall(SYS_write, a->report, &e, sizeof(e));
	syscall(SYS_exit, 127);
	return 127;
}

/*
 * The errors exec would give for a program that is missing or not
 * executable, found before the clone so they stay synchronous for the
 * caller (one path lookup, like exec's own).
 */
static int check_program(const char *path, struct crid_err *err)
{
	if (!path || path[0] != '/')
		return crid_err_set(err, EINVAL, "spawn `%s`: not an absolute path",
				    path ? path : "");
	if (faccessat(AT_FDCWD, path, X_OK, AT_EACCESS) < 0)
		return crid_err_set(err, errno, "spawn `%s`", path);
	return 0;
}

/* clone(CLONE_PIDFD) without CLONE_VM|CLONE_VFORK: the pidfd comes with it, nothing waits. */
static int spawn_child(const struct crid_spawn_opts *opts, const struct crid_spawn_ns *ns,
		       pid_t *pid, int *pidfd, int *report, struct crid_err *err)
{
	struct spawn_child a = { opts, ns, opts->envp ? opts->envp : empty_env, -1 };
	int rp[2];
	sigset_t all, old;

	if (check_program(opts->path, err) < 0)
		return -1;
	if (pipe2(rp, O_CLOEXEC | O_NONBLOCK) < 0)
		return crid_err_set(err, errno, "spawn `%s` (report pipe)", opts->path);
	a.report = rp[1];
	/* No handler may run in the child before it reset them. */
	sigfillset(&all);
	sigprocmask(SIG_BLOCK, &all, &old);
	*pid =
	    clone(child_main, child_stack + sizeof(child_stack), CLONE_PIDFD | SIGCHLD, &a, pidfd);
	sigprocmask(SIG_SETMASK, &old, NULL);
	close(rp[1]);
	if (*pid < 0) {
		close(rp[0]);
		return crid_err_set(err, errno, "spawn `%s` (clone)", opts->path);
	}
	*report = rp[0];
	return 0;
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
	pid = clone(fn_child_main, child_stack + sizeof(child_stack), CLONE_PIDFD | SIGCHLD, &a,
		    &pidfd);
	sigprocmask(SIG_SETMASK, &old, NULL);
	close(rp[1]);
	if (pid < 0) {
		close(rp[0]);
		return crid_err_set(err, errno, "child task (clone)");
	}
	watch(loop, child, pid, pidfd, rp[0], on_exit, user);
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
	int pidfd = -1, report = -1;
	pid_t pid;

	memset(child, 0, sizeof(*child));
	child->pidfd = -1;
	child->report_fd = -1;
	if (ns && ns->fd < 0 && !ns->hide && !ns->setsid)
		ns = NULL;
	if (spawn_child(opts, ns, &pid, &pidfd, &report, err) < 0)
		return -1;
	watch(loop, child, pid, pidfd, report, on_exit, user);
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
