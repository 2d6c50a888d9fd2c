/*
 * The container side of the streaming sessions (ctr_stream.h): a process
 * exec'd with crid's pipes or a terminal, attach (a tap on the log writer,
 * the container's stdin), the terminal's size.
 *
 * exec: the same detached exec (exec_proc.c) and spawn queue (ctr_exec.c)
 * as ExecSync. Each asked-for stream is a pipe: crid's end non-blocking, the
 * process's end handed to the runtime and closed here once it has it, 1 MiB
 * of pipe so a fast writer is not held up by a round trip to the client. A
 * terminal's master comes from the runtime on an exec console socket.
 * started() comes once the runtime named the process (pid known), also
 * when it exited already (its output waits in the pipes), then exited().
 *
 * attach: the container's output is what its log writer reads; each slice
 * goes to the log first, then to every attach tap of the container
 * (io/cri_log.c's tap). A tap's output() returning false pauses the writer:
 * it stops reading the container's FIFOs (or pty) until every paused tap
 * resumed or closed, so the pipe fills and the container waits; the log
 * gets nothing meanwhile either. A slow attach client thus slows the
 * container, as with CRI-O's conmon; no buffer grows. Once the init exited
 * the log drains under a timeout (ctr.c): from then on no attach can pause
 * it (the last output is the log's first; a client gets it unpaced).
 *
 * stdin: the container's stdin FIFO read end is the container's alone and
 * crid holds its write end (c->in_fd, in the fd store too; ctr.c
 * make_stdin). An attach gets its own writer (the FIFO opened again, or a
 * dup of the terminal's master). With stdin_once the first attach whose
 * client ends its stdin (stdin_done, or closing the attach after taking
 * stdin) makes crid drop its writer: the container reads EOF once the
 * attach's own writer is closed too; later attaches get no stdin (ENODEV).
 * Without stdin_once the stdin stays open for the next attach. A terminal's
 * "writer" is a dup of its master, dropped the same way (no EOF is typed
 * into the terminal: the container keeps its terminal, only attach stops).
 */
#include "runtime/container/ctr_stream.h"

#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <stddef.h>
#include <stdio.h>
#include <string.h>
#include <sys/ioctl.h>
#include <termios.h>
#include <unistd.h>

#include "io/cri_log.h"
#include "reactor/metrics_families.h"
#include "reactor/log.h"
#include "reactor/mem.h"
#include "runtime/container/ctr_internal.h"
#include "runtime/container/exec_proc.h"

#define EXEC_PIPE_SIZE (1 << 20)

/* ---- exec ---- */

struct crid_ctr_exec {
	struct crid_ctrs *ctrs;
	struct crid_container *c; /* NULL once its output ended (the container may go) */
	struct crid_ctr_exec *next;
	struct ctr_exec_wait wait;
	struct crid_exec_proc *proc;
	struct crid_ctr_exec_cbs cbs;
	void *user;
	struct crid_ctr_exec_fds mine; /* crid's ends, until started() hands them over */
	int theirs[3];		       /* the process's ends, until the runtime has them */
	bool tty;
	bool kill_wanted; /* killed while queued: it never starts */
	char *process;
	struct crid_oci_runtime rt;
	char id[CRID_ID_LEN + 1];
	char bundle[PATH_MAX];
};

static void close_fd(int *fd)
{
	if (*fd >= 0)
		close(*fd);
	*fd = -1;
}

static void exec_unlink(struct crid_ctr_exec *x)
{
	struct crid_ctr_exec **pp;

	if (!x->c)
		return;
	for (pp = &x->c->execs; *pp && *pp != x; pp = &(*pp)->next)
		;
	if (*pp)
		*pp = x->next;
	x->c = NULL;
}

static void exec_free(struct crid_ctr_exec *x)
{
	exec_unlink(x);
	if (x->wait.queued)
		ctr_exec_unqueue(&x->wait);
	if (x->proc)
		crid_exec_proc_release(x->proc, &x->ctrs->execs);
	close_fd(&x->mine.in);
	close_fd(&x->mine.out);
	close_fd(&x->mine.err);
	close_fd(&x->mine.master);
	for (int i = 0; i < 3; i++)
		close_fd(&x->theirs[i]);
	crid_free(x->process);
	crid_free(x);
}

/*
 * One pipe of the process's stdio: |to_process| says which way. crid's end
 * goes to *|mine| (non-blocking), the process's to *|theirs| (blocking: a
 * program expects that).
 */
static int exec_pipe(bool to_process, int *mine, int *theirs, struct crid_err *err)
{
	int p[2];

	if (pipe2(p, O_CLOEXEC) < 0)
		return crid_err_set(err, errno, "exec pipe");
	fcntl(p[0], F_SETPIPE_SZ, EXEC_PIPE_SIZE); /* best effort: the default is 64 KiB */
	*mine = to_process ? p[1] : p[0];
	*theirs = to_process ? p[0] : p[1];
	if (fcntl(*mine, F_SETFL, O_NONBLOCK) < 0)
		return crid_err_set(err, errno, "exec pipe");
	return 0;
}

static void exec_running(void *user, int master)
{
	struct crid_ctr_exec *x = user;
	struct crid_ctr_exec_fds fds;

	x->mine.master = master;
	fds = x->mine;
	x->mine.in = x->mine.out = x->mine.err = x->mine.master = -1; /* the caller's now */
	x->cbs.started(x->user, &fds);
}

static void exec_exited(void *user, int status, const struct crid_err *err)
{
	struct crid_ctr_exec *x = user;

	x->cbs.exited(x->user, status, err);
}

/* Starts the runtime; the process's ends go to it and are closed here. */
static int exec_spawn(struct crid_ctr_exec *x, struct crid_err *err)
{
	struct crid_loop *loop = x->ctrs->loop;
	struct crid_oci_stdio stdio = { x->theirs[0], x->theirs[1], x->theirs[2] };

	crid_metric_inc(&crid_m_exec_sessions, "stream", NULL);
	if (x->tty)
		x->proc =
		    crid_exec_proc_start_tty(loop, &x->rt, x->id, x->bundle, x->ctrs->cfg->runroot,
					     x->process, exec_running, exec_exited, x, err);
	else if ((x->proc = crid_exec_proc_start(loop, &x->rt, x->id, x->bundle, x->process, &stdio,
						 exec_exited, x, err)))
		crid_exec_proc_on_running(x->proc, exec_running);
	for (int i = 0; i < 3; i++)
		close_fd(&x->theirs[i]); /* the runtime, then the process, hold their own */
	crid_free(x->process);
	x->process = NULL;
	return x->proc ? 0 : -1;
}

/* Its turn in the spawn queue came (a fresh loop callback: exited() may run here). */
static void exec_go(struct ctr_exec_wait *w)
{
	struct crid_ctr_exec *x =
	    (struct crid_ctr_exec *)((char *)w - offsetof(struct crid_ctr_exec, wait));
	struct crid_err e;

	if (x->kill_wanted) {
		crid_err_cause(&e, ECANCELED, "exec in container %.12s: killed before it started",
			       x->id);
		x->cbs.exited(x->user, -1, &e);
		return;
	}
	if (exec_spawn(x, &e) < 0)
		x->cbs.exited(x->user, -1, &e);
}

/* The running container |id|, or NULL with ENOENT / ESRCH. */
static struct crid_container *running_ctr(struct crid_ctrs *ctrs, const char *id,
					  struct crid_err *err)
{
	bool ambiguous;
	struct crid_container *c = crid_container_find(ctrs->store, id, &ambiguous);

	if (!c || ambiguous) {
		crid_err_cause(err, ENOENT, "container %s not found", id);
		return NULL;
	}
	if (c->state != CRID_CTR_RUNNING) {
		crid_err_cause(err, ESRCH, "container %.12s is not running", c->id);
		return NULL;
	}
	return c;
}

static int exec_stdio(struct crid_ctr_exec *x, const struct crid_ctr_exec_opts *o,
		      struct crid_err *err)
{
	if (x->tty)
		return 0; /* the terminal is all three */
	if (o->stdin && exec_pipe(true, &x->mine.in, &x->theirs[0], err) < 0)
		return -1;
	if (o->stdout && exec_pipe(false, &x->mine.out, &x->theirs[1], err) < 0)
		return -1;
	if (o->stderr && exec_pipe(false, &x->mine.err, &x->theirs[2], err) < 0)
		return -1;
	return 0;
}

static struct crid_ctr_exec *exec_new(struct crid_ctrs *ctrs, const struct crid_container *c,
				      const struct crid_ctr_exec_opts *o,
				      const struct crid_ctr_exec_cbs *cbs, void *user,
				      struct crid_err *err)
{
	struct crid_ctr_exec *x = crid_calloc(1, sizeof(*x));

	if (!x) {
		crid_err_set(err, ENOMEM, "exec in container %.12s", c->id);
		return NULL;
	}
	x->ctrs = ctrs;
	x->cbs = *cbs;
	x->user = user;
	x->tty = o->tty;
	x->wait.go = exec_go;
	x->mine.in = x->mine.out = x->mine.err = x->mine.master = -1;
	x->theirs[0] = x->theirs[1] = x->theirs[2] = -1;
	snprintf(x->id, sizeof(x->id), "%s", c->id);
	if (crid_container_bundle(ctrs->store, c, x->bundle, sizeof(x->bundle)) < 0) {
		crid_err_set(err, ENAMETOOLONG, "bundle of container %.12s", c->id);
		goto fail;
	}
	if (ctr_runtime_of(ctrs, c->runtime_handler, &x->rt, err) < 0 ||
	    exec_stdio(x, o, err) < 0 ||
	    !(x->process =
		  ctr_exec_process(x->bundle, o->argv, o->argc, o->tty, o->width, o->height, err)))
		goto fail;
	return x;
fail:
	exec_free(x);
	return NULL;
}

struct crid_ctr_exec *crid_ctrs_exec_start(struct crid_ctrs *ctrs, const char *id,
					   const struct crid_ctr_exec_opts *o,
					   const struct crid_ctr_exec_cbs *cbs, void *user,
					   struct crid_err *err)
{
	struct crid_container *c;
	struct crid_ctr_exec *x;

	if (!o->argc) {
		crid_err_cause(err, EINVAL, "exec: cmd is empty");
		return NULL;
	}
	c = running_ctr(ctrs, id, err);
	if (!c || !(x = exec_new(ctrs, c, o, cbs, user, err)))
		return NULL;
	if (!ctr_exec_turn(ctrs->loop)) {
		ctr_exec_enqueue(ctrs->loop, &x->wait);
	} else if (exec_spawn(x, err) < 0) {
		exec_free(x);
		return NULL;
	}
	x->c = c;
	x->next = c->execs;
	c->execs = x;
	return x;
}

void crid_ctr_exec_kill(struct crid_ctr_exec *x)
{
	if (x->proc)
		crid_exec_proc_kill(x->proc);
	else
		x->kill_wanted = true;
}

void crid_ctr_exec_release(struct crid_ctr_exec *x)
{
	exec_free(x);
}

/* ---- attach ---- */

struct crid_ctr_attach {
	struct crid_ctrs *ctrs;
	struct crid_container *c; /* NULL once its output ended (the container may go) */
	struct crid_ctr_attach_cbs cbs;
	void *user;
	struct crid_ctr_attach *next;
	bool paused;
	bool took_stdin;
	bool stdin_done;
};

/* The init exited: the log must drain before the exit is recorded (ctr.c exited()). */
static bool draining(const struct crid_container *c)
{
	const struct exit_watch *w = c->watch;

	return w && w->exited;
}

/* The log writer's tap: every attach of the container gets the slice. */
static bool tap_output(void *user, int stream, const uint8_t *data, size_t len)
{
	struct crid_container *c = user;
	struct crid_ctr_attach *a, *next;
	bool more = true;

	for (a = c->taps; a; a = next) {
		next = a->next; /* output() may close another attach, never this list's next */
		if (!a->cbs.output(a->user, stream, data, len)) {
			a->paused = true;
			more = false;
		}
	}
	return more || draining(c);
}

/*
 * The init exited: so do the streaming execs. In a container with its own
 * PID namespace the kernel killed them already; in one sharing the pod's (the
 * CRI default) they would outlive it, and their sessions with them
 * (containerd's shim kills all of a container's processes then too).
 */
void ctr_stream_output_draining(struct crid_container *c)
{
	if (c->log)
		crid_cri_log_pause(c->log, 0);
	for (struct crid_ctr_exec *x = c->execs; x; x = x->next)
		crid_ctr_exec_kill(x);
}

/* Reading goes on when no attach is paused (any more). */
static void maybe_resume(struct crid_container *c)
{
	for (struct crid_ctr_attach *a = c->taps; a; a = a->next)
		if (a->paused)
			return;
	if (c->log)
		crid_cri_log_pause(c->log, 0);
}

struct crid_ctr_attach *crid_ctrs_attach(struct crid_ctrs *ctrs, const char *id,
					 const struct crid_ctr_attach_cbs *cbs, void *user,
					 struct crid_err *err)
{
	struct crid_container *c = running_ctr(ctrs, id, err);
	struct crid_ctr_attach *a;

	if (!c)
		return NULL;
	if (!c->log) {
		crid_err_cause(err, ESRCH, "container %.12s: its output is not being read", c->id);
		return NULL;
	}
	a = crid_calloc(1, sizeof(*a));
	if (!a) {
		crid_err_set(err, ENOMEM, "attach to container %.12s", c->id);
		return NULL;
	}
	a->ctrs = ctrs;
	a->c = c;
	a->cbs = *cbs;
	a->user = user;
	a->next = c->taps;
	c->taps = a;
	crid_cri_log_set_tap(c->log, tap_output, c);
	return a;
}

int crid_ctr_attach_stdin(struct crid_ctr_attach *a, struct crid_err *err)
{
	struct crid_container *c = a->c;
	char bundle[PATH_MAX], path[PATH_MAX];
	int fd;

	if (!c)
		return crid_err_cause(err, ESRCH, "attach: the container exited");
	if (!c->stdin)
		return crid_err_cause(err, ENODEV, "container %.12s was created without stdin",
				      c->id);
	if (c->in_fd < 0)
		return crid_err_cause(err, ENODEV,
				      "container %.12s: its stdin was closed (stdin_once) when an "
				      "earlier attach ended",
				      c->id);
	if (c->tty) {
		fd = fcntl(c->in_fd, F_DUPFD_CLOEXEC, 3); /* the master: already non-blocking */
		if (fd < 0)
			return crid_err_set(err, errno, "container %.12s: terminal", c->id);
	} else {
		if (crid_container_bundle(a->ctrs->store, c, bundle, sizeof(bundle)) < 0 ||
		    ctr_subpath(path, bundle, "stdin") < 0)
			return crid_err_set(err, ENAMETOOLONG, "container %.12s: stdin", c->id);
		fd = open(path, O_WRONLY | O_NONBLOCK | O_CLOEXEC);
		if (fd < 0) /* ENXIO: the container closed its stdin */
			return crid_err_set(err, errno, "container %.12s: open `%s`", c->id, path);
	}
	a->took_stdin = true;
	return fd;
}

void crid_ctr_attach_stdin_done(struct crid_ctr_attach *a)
{
	struct crid_container *c = a->c;
	char name[CRID_ID_LEN + 16];

	if (a->stdin_done)
		return;
	a->stdin_done = true;
	if (!c || !c->stdin_once || c->in_fd < 0)
		return;
	close(c->in_fd);
	c->in_fd = -1;
	snprintf(name, sizeof(name), "c-%s-in", c->id);
	if (a->ctrs->fds)
		crid_fd_store_remove(a->ctrs->fds, name, NULL);
	crid_log_info("container %.12s: stdin closed: its attach ended (stdin_once)", c->id);
}

void crid_ctr_attach_resume(struct crid_ctr_attach *a)
{
	if (!a->paused)
		return;
	a->paused = false;
	if (a->c)
		maybe_resume(a->c);
}

void crid_ctr_attach_close(struct crid_ctr_attach *a)
{
	struct crid_container *c = a->c;

	if (a->took_stdin)
		crid_ctr_attach_stdin_done(a); /* the session ended: so did its stdin */
	if (c) {
		struct crid_ctr_attach **pp = &c->taps;

		while (*pp && *pp != a)
			pp = &(*pp)->next;
		if (*pp)
			*pp = a->next;
		if (!c->taps && c->log)
			crid_cri_log_set_tap(c->log, NULL, NULL);
		maybe_resume(c);
	}
	crid_free(a);
}

void ctr_stream_output_ended(struct crid_container *c)
{
	struct crid_ctr_attach *a;

	while (c->execs)
		exec_unlink(c->execs); /* they stay their sessions' until released */
	if (c->log) {
		crid_cri_log_set_tap(c->log, NULL, NULL);
		crid_cri_log_pause(c->log, 0);
	}
	while ((a = c->taps)) {
		c->taps = a->next;
		a->c = NULL;
		a->next = NULL;
		a->cbs.ended(a->user); /* may close |a| */
	}
}

/* ---- terminal size ---- */

int crid_ctrs_resize(struct crid_ctrs *ctrs, const char *id, uint16_t width, uint16_t height,
		     struct crid_err *err)
{
	struct crid_container *c = running_ctr(ctrs, id, err);
	struct winsize ws = { .ws_row = height, .ws_col = width };

	if (!c)
		return -1;
	if (!c->tty || c->out_fd < 0)
		return crid_err_cause(err, ENODEV, "container %.12s has no terminal", c->id);
	if (ioctl(c->out_fd, TIOCSWINSZ, &ws) < 0)
		return crid_err_set(err, errno, "container %.12s: resize its terminal", c->id);
	return 0;
}
