/*
 * The pod sandbox handlers' state: the pods of this daemon
 * (runtime/pod/pod.h) on struct crid_daemon (d->pods), loaded and recovered
 * at start.
 */
#ifndef CRID_HANDLERS_SANDBOX_H
#define CRID_HANDLERS_SANDBOX_H

#include <stdbool.h>

#include "handlers/rpc.h"

struct crid_sandbox;

/*
 * Finds the pod of a request's pod_sandbox_id (full or unique prefix).
 * Returns NULL after answering the call when it cannot go on; *gone is set
 * when no such pod exists (which stop and remove answer with OK, and other
 * callers with NOT_FOUND).
 */
struct crid_sandbox *crid_sandbox_lookup(struct crid_rpc *rpc, const char *id, bool *gone);

/* Loads the sandbox records of |d| and starts recovering half-done operations. */
int crid_sandbox_handlers_init(struct crid_daemon *d, struct crid_err *err);

/* Frees every record; running operations are left to the next start's recovery. */
void crid_sandbox_handlers_cleanup(struct crid_daemon *d);

#endif
