/*
 * A `du` child on the loop: the one way crid measures a tree's bytes or
 * inodes without a walk of its own on the loop (the image store's usage,
 * a writable layer's). `du -s -x (-B1 | --inodes) [-c] -- dirs...` runs
 * with its stdout in a pipe that is read only once it has exited: its
 * output (a line per tree, and "<n>\ttotal" with several) fits a pipe's
 * buffer, so du never waits on crid and the read never waits on du.
 */
#ifndef CRID_DU_CHILD_H
#define CRID_DU_CHILD_H

#include <stdbool.h>
#include <stdint.h>

#include "reactor/err.h"
#include "reactor/spawn.h"

enum crid_du_count { CRID_DU_BYTES, CRID_DU_INODES };

/* Embedded in its owner; out_fd is -1 and child.pidfd -1 while none runs. */
struct crid_du_child {
	struct crid_child child;
	int out_fd;  /* read end of du's stdout */
	bool summed; /* several trees: the figure is -c's total line */
};

/* Sets |du| idle (out_fd and pidfd -1). */
void crid_du_child_init(struct crid_du_child *du);

/*
 * Starts du counting |what| of the NULL-terminated |dirs| (at most 2,
 * PATH_MAX each: the output must fit a pipe); |on_exit| is called with
 * |user| once it exited, then crid_du_child_total() gives the figure.
 */
int crid_du_child_start(struct crid_loop *loop, struct crid_du_child *du, enum crid_du_count what,
			const char *const *dirs, crid_child_exit_fn on_exit, void *user,
			struct crid_err *err);

/*
 * After on_exit with |status|: the figure of the last line (the one tree's,
 * or the total of several), the pipe read and closed. -1 when du failed or printed no total; exit 1 (a file
 * vanished during the walk) still prints one and is accepted.
 */
int crid_du_child_total(struct crid_du_child *du, int status, uint64_t *out);

/*
 * Kills a du in flight and reaps it (the wait is for a SIGKILLed du to go,
 * not for work), closes its pipe: for a walk that must end now (its time
 * limit, the owner freed). No-op when none runs.
 */
void crid_du_child_kill(struct crid_du_child *du);

#endif
