/*
 * What the streaming sessions (runtime/stream/) ask of a running container:
 * a process exec'd in it with crid's pipes or a terminal (the same detached
 * exec and spawn queue ExecSync uses, ctr_exec.c), and attach: a tap on the
 * output the log writer reads, a way to write the container's stdin, its
 * terminal size. Nothing here blocks; errors carry errno-style codes the
 * handlers map: ENOENT no such container, ESRCH not running, ENODEV no stdin
 * / no terminal.
 */
#ifndef CRID_CTR_STREAM_H
#define CRID_CTR_STREAM_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "reactor/err.h"

struct crid_ctrs;

/* crid's ends of an exec'd process's stdio; -1 for what was not asked. Non-blocking. */
struct crid_ctr_exec_fds {
	int in;	    /* write end of its stdin */
	int out;    /* read end of its stdout */
	int err;    /* read end of its stderr */
	int master; /* tty: the terminal's master (stdin and stdout both) */
};

struct crid_ctr_exec_opts {
	const char *const *argv;
	size_t argc;
	bool tty, stdin, stdout, stderr; /* tty excludes stderr */
	uint16_t width, height;		 /* tty: its first size (0: 80x24) */
};

struct crid_ctr_exec_cbs {
	/* The process runs; |fds| now belong to the caller (who closes them). */
	void (*started)(void *user, const struct crid_ctr_exec_fds *fds);
	/*
	 * The process exited with |status| (0..255, 128 + signal), or never
	 * started or its status was lost: -1 with |err|. Once, after started()
	 * when that came. Output may still wait in the pipes: read them to EOF.
	 */
	void (*exited)(void *user, int status, const struct crid_err *err);
};

struct crid_ctr_exec;

/* Starts |o->argv| in running container |id|. NULL with |err| when nothing will start. */
struct crid_ctr_exec *crid_ctrs_exec_start(struct crid_ctrs *ctrs, const char *id,
					   const struct crid_ctr_exec_opts *o,
					   const struct crid_ctr_exec_cbs *cbs, void *user,
					   struct crid_err *err);

/* SIGKILLs the process and the process group it leads (the session ended first). */
void crid_ctr_exec_kill(struct crid_ctr_exec *x);

/* No more callbacks; what still runs is waited for by the daemon's exec reaper. */
void crid_ctr_exec_release(struct crid_ctr_exec *x);

struct crid_ctr_attach_cbs {
	/*
	 * Output the container wrote on |stream| (1 stdout, 2 stderr; a
	 * terminal's is all stdout), after the log writer wrote it to the log.
	 * Returning false pauses the container's output (the log writer stops
	 * reading its streams, the pipe fills, the container waits) until
	 * crid_ctr_attach_resume: a slow client never grows a buffer.
	 */
	bool (*output)(void *user, int stream, const uint8_t *data, size_t len);
	/* The container's output is complete (it exited; its streams reached EOF). */
	void (*ended)(void *user);
};

struct crid_ctr_attach;

/* Taps the output of running container |id|. NULL with |err|. */
struct crid_ctr_attach *crid_ctrs_attach(struct crid_ctrs *ctrs, const char *id,
					 const struct crid_ctr_attach_cbs *cbs, void *user,
					 struct crid_err *err);

/*
 * A new non-blocking fd that writes to the container's stdin (its FIFO, or
 * its terminal's master); the caller closes it. -1 with ENODEV when the
 * container was created without stdin.
 */
int crid_ctr_attach_stdin(struct crid_ctr_attach *a, struct crid_err *err);

/*
 * The attach client closed its stdin: with the container's stdin_once the
 * container's stdin reaches EOF now, as CRI says; otherwise nothing.
 */
void crid_ctr_attach_stdin_done(struct crid_ctr_attach *a);

void crid_ctr_attach_resume(struct crid_ctr_attach *a);

/* Stops the tap (resuming the output if it was paused). */
void crid_ctr_attach_close(struct crid_ctr_attach *a);

/* Sets the container's terminal size (TIOCSWINSZ on its master); ENODEV without a terminal. */
int crid_ctrs_resize(struct crid_ctrs *ctrs, const char *id, uint16_t width, uint16_t height,
		     struct crid_err *err);

#endif
