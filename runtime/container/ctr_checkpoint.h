/*
 * CheckpointContainer's runtime half: whether CRIU can checkpoint here at
 * all, found out by a `criu check` child on the loop (the kernel, the
 * capabilities and CRIU's own build decide; nothing short of running it
 * says). Where it cannot, the operation ends with EBUSY (a failed
 * precondition) naming the missing piece, never a pretended checkpoint.
 */
#ifndef CRID_CTR_CHECKPOINT_H
#define CRID_CTR_CHECKPOINT_H

#include <stdbool.h>

#include "reactor/err.h"
#include "runtime/container/ctr.h"

struct crid_ckpt_op;

/* Called once on the loop, unless the operation was cancelled. |err| set when |status| < 0. */
typedef void (*crid_ckpt_done_fn)(void *user, int status, const struct crid_err *err);

/*
 * Starts checkpointing the running container |c| into the archive
 * |location| (an absolute path). |runtime_can| is what the handler's
 * `features` says about checkpointing (runtime/oci/rt_features.h). Fails at
 * once (NULL, |err| set) with EBUSY when |c| is not running, the runtime
 * cannot checkpoint or criu is not installed; later, through |done|, with
 * EBUSY when `criu check` fails (its last error line quoted), or ENOSYS
 * where CRIU works: writing the archive is not implemented yet.
 */
struct crid_ckpt_op *crid_ctr_checkpoint(struct crid_ctrs *ctrs, struct crid_container *c,
					 const char *location, bool runtime_can,
					 crid_ckpt_done_fn done, void *user, struct crid_err *err);

/* The caller is gone: |done| is not called; the child is killed and reaped on the loop. */
void crid_ckpt_cancel(struct crid_ckpt_op *op);

/*
 * Pure: the most telling line of `criu check` output |out| (the last line
 * starting "Error", else the last non-empty line), copied into |line|.
 */
void crid_ckpt_criu_error(const char *out, char *line, size_t size);

#endif
