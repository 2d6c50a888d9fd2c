/*
 * Child processes on the loop. crid_spawn() starts a program with vfork
 * semantics (glibc's posix_spawn uses clone(CLONE_VM|CLONE_VFORK), so the
 * cost does not grow with the daemon's memory), opens a pidfd for it and
 * watches the pidfd on the loop; the exit status is collected with
 * waitid(P_PIDFD) when it becomes readable, so no SIGCHLD race and no
 * reaping of children that are not ours to reap.
 *
 * vfork semantics stay for programs on purpose: a fork-like clone (no
 * CLONE_VM) spared the loop the wait for the child's exec (p50 0.7 against
 * 3-5 ms under load) but cost 3x the daemon's CPU per spawn at 0 MiB of
 * dirty heap and ~70x at 16 MiB (write-protecting every page, then a fault
 * per page the daemon writes next); see README.md, Benchmarks (2026-12-07, the loop).
 * Function children (crid_spawn_fn) do fork, being few (teardown only).
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
	int report_fd;		 /* a function child's report pipe, until its exit */
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
