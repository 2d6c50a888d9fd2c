/*
 * Child processes on the loop. crid_spawn() starts a program with
 * clone(CLONE_PIDFD) and fork semantics, not vfork's: the daemon does not
 * wait for the child's exec, which under load waits for a CPU (tens of ms
 * of a stalled loop with CLONE_VFORK). The cost is a copy of the page
 * tables of a daemon of a few MiB (tens of microseconds). The pidfd is
 * watched on the loop; the exit status is collected with waitid(P_PIDFD)
 * when it becomes readable, so no SIGCHLD race and no reaping of children
 * that are not ours to reap.
 *
 * A program that is missing or not executable fails crid_spawn() itself
 * (checked before the clone); a step that fails in the child after the
 * clone (exec, setns, stdio) is reported when the child exits: status 127,
 * |exec_err| set to its errno, and a warning in the log.
 */
#ifndef CRID_SPAWN_H
#define CRID_SPAWN_H

#include <stdbool.h>
#include <sys/types.h>

#include "reactor/loop.h"

struct crid_child;

/*
 * Called once when the child has exited and been reaped. |status| is the
 * exit code (0..255) for a normal exit, or 128 + signal number.
 */
typedef void (*crid_child_exit_fn)(struct crid_child *child, int status, void *user);

/* A running child: embed it in the object that owns the operation. */
struct crid_child {
	pid_t pid;
	int pidfd;
	int report_fd; /* read end of the exec report pipe, until the exit */
	int exec_err;  /* in on_exit: errno of the child's failed step before exec, or 0 */
	struct crid_err *result; /* a function child's error, filled before on_exit */
	ev_io watcher;
	struct crid_loop *loop;
	crid_child_exit_fn on_exit;
	void *user;
};

struct crid_spawn_opts {
	const char *path;  /* executable, absolute */
	char *const *argv; /* NULL-terminated */
	char *const *envp; /* NULL-terminated; NULL = empty environment */
	int stdin_fd;	   /* -1 = /dev/null */
	int stdout_fd;	   /* -1 = /dev/null */
	int stderr_fd;	   /* -1 = /dev/null */
};

/*
 * Starts the child; |on_exit| runs on the loop when it exits. Every fd other
 * than 0..2 is closed in the child; its signal mask and dispositions are reset.
 * Fails with ENOENT, EACCES... when |path| is missing or not executable; any
 * later failure to exec is the child's exit (127, |exec_err| set). Returns
 * before the child has exec'd: the caller may close its copies of the
 * child's stdio fds at once.
 */
int crid_spawn(struct crid_loop *loop, struct crid_child *child, const struct crid_spawn_opts *opts,
	       crid_child_exit_fn on_exit, void *user, struct crid_err *err);

/*
 * The mount namespace of a child: |fd| >= 0 enters that one (setns); else,
 * with |hide| set, a new one (unshare) where |hide_parent| is made rprivate
 * and the mount |hide| is detached (crun on a cgroup hybrid host: a fresh
 * copy of the host's mounts, peers of its shared ones, without the cgroup2
 * mount); else the daemon's own.
 */
struct crid_spawn_ns {
	int fd;
	const char *hide;
	const char *hide_parent;
	bool setsid; /* and the child leads a new session (its children's group) */
};

/*
 * As crid_spawn, the child in the mount namespace |ns| (NULL = the
 * daemon's): setns or unshare, stdio, exec; no shell and no second exec.
 * A failed namespace step is reported as a failed exec (127, |exec_err|).
 */
int crid_spawn_in_ns(struct crid_loop *loop, struct crid_child *child,
		     const struct crid_spawn_opts *opts, const struct crid_spawn_ns *ns,
		     crid_child_exit_fn on_exit, void *user, struct crid_err *err);

/* Work for a function child: 0, or < 0 with |err| set (-N: the child exits N, at most 125). */
typedef int (*crid_child_fn)(void *arg, struct crid_err *err);

/*
 * Runs |fn|(|arg|) in a child, a copy of the daemon (fork semantics), for
 * work that may block in the kernel (unmounts, directory removal) and must
 * not stall the loop. The child closes every fd but 0..2 first and runs
 * with every signal blocked; |arg| and what it points to are the child's
 * own copies, so the caller may free them at once. Before |on_exit|,
 * |result| (caller's, alive until then) holds fn's error, or is cleared
 * when fn returned 0. Killing the daemon does not stop the child: |fn|
 * must be safe to run again (idempotent) after a restart.
 */
int crid_spawn_fn(struct crid_loop *loop, struct crid_child *child, crid_child_fn fn, void *arg,
		  struct crid_err *result, crid_child_exit_fn on_exit, void *user,
		  struct crid_err *err);

/* Sends |signo| through the pidfd (never to a recycled pid). */
int crid_child_kill(struct crid_child *child, int signo);

/*
 * Stops watching without reaping; the caller takes over the pidfd (for
 * instance to hand it to the fd store). Returns the pidfd.
 */
int crid_child_detach(struct crid_child *child);

#endif
