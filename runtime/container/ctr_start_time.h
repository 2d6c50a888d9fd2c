/*
 * When a container's process really started, for ContainerStatus.startedAt.
 *
 * Not when `runtime start` returned: a process that exits at once is seen
 * exiting before that, and kubelet would show finishedAt before startedAt.
 * The moment is the last write to the runtime's exec FIFO
 * (`<root>/<id>/exec.fifo`): runc's init writes it right before it execs the
 * process, crun's start right before its init reads it and execs. The kernel
 * stamps the FIFO's mtime on that write; crid reads it through an O_PATH fd
 * opened before `start`, since the runtime unlinks the FIFO. When there is no
 * FIFO to read (another runtime, an unchanged stamp), the moment `start` was
 * asked for is used instead: never later than the process ran.
 */
#ifndef CRID_CTR_START_TIME_H
#define CRID_CTR_START_TIME_H

#include <stdint.h>
#include <sys/types.h>

#include "runtime/oci/oci_runtime.h"

struct crid_start_mark {
	int64_t asked_ns;    /* wall clock when `start` was asked for */
	int64_t fifo_before; /* the FIFO's mtime then, ns */
	int fifo;	     /* O_PATH fd of the FIFO, -1 when none */
};

/* A mark with nothing open; safe to drop. */
void crid_start_mark_init(struct crid_start_mark *m);

/* Just before `start` of container |id| on |rt|: notes the time, opens the FIFO. */
void crid_start_mark_begin(struct crid_start_mark *m, const struct crid_oci_runtime *rt,
			   const char *id);

/* After `start` returned: the start moment in ns since the epoch (never after now). Drops |m|. */
int64_t crid_start_mark_end(struct crid_start_mark *m);

void crid_start_mark_drop(struct crid_start_mark *m);

/*
 * At recovery, for a container recorded created: whether the runtime started
 * it while crid was down (a kill -9 during `runtime start`, which finishes on
 * its own). Started when the runtime still has the container's state dir but
 * no exec FIFO (runc and crun unlink it at start), or while that `runtime
 * start` process still runs (it unlinks the FIFO last). Returns the init's fork
 * time in ns since the epoch (the exec FIFO's stamp is gone with it; the
 * fork is never after the start), but no earlier than |not_before| (the
 * container's createdAt), or -1: not started, or not known.
 */
int64_t crid_start_time_recovered(const struct crid_oci_runtime *rt, const char *id, pid_t pid,
				  int64_t not_before);

#endif
