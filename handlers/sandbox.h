/*
 * The pod sandbox handlers' state: the pods of this daemon
 * (runtime/pod/pod.h) on struct crid_daemon (d->pods), loaded and recovered
 * at start.
 */
#ifndef CRID_HANDLERS_SANDBOX_H
#define CRID_HANDLERS_SANDBOX_H

#include "handlers/rpc.h"

/* Loads the sandbox records of |d| and starts recovering half-done operations. */
int crid_sandbox_handlers_init(struct crid_daemon *d, struct crid_err *err);

/* Frees every record; running operations are left to the next start's recovery. */
void crid_sandbox_handlers_cleanup(struct crid_daemon *d);

struct crid_list_kind;

/* ListPodSandbox's filter and pre-encoded items (handlers/list_reply.h), for the streamed list. */
const struct crid_list_kind *crid_sandbox_list_kind(void);

#endif
