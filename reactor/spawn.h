/*
 * Child processes on the loop. crid_spawn() starts a program with vfork
 * semantics (glibc's posix_spawn uses clone(CLONE_VM|CLONE_VFORK), so the
 * cost does not grow with the daemon's memory), opens a pidfd for it and
 * watches the pidfd on the loop; the exit status is collected with
 * waitid(P_PIDFD) when it becomes readable, so no SIGCHLD race and no
 * reaping of children that are not ours to reap.
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
 * Fails with the errno of exec when the program cannot be executed.
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
 * daemon's). The child is then a clone(CLONE_VM|CLONE_VFORK|CLONE_PIDFD) of
 * its own: setns or unshare, stdio, exec; no shell and no second exec.
 * Fails with the errno of the namespace step or of exec.
 */
int crid_spawn_in_ns(struct crid_loop *loop, struct crid_child *child,
		     const struct crid_spawn_opts *opts, const struct crid_spawn_ns *ns,
		     crid_child_exit_fn on_exit, void *user, struct crid_err *err);

/* Sends |signo| through the pidfd (never to a recycled pid). */
int crid_child_kill(struct crid_child *child, int signo);

/*
 * Stops watching without reaping; the caller takes over the pidfd (for
 * instance to hand it to the fd store). Returns the pidfd.
 */
int crid_child_detach(struct crid_child *child);

#endif
