/*
 * The container handlers' state: the daemon's containers
 * (runtime/container/ctr.h) on struct crid_daemon (d->ctrs), recovered at
 * start, shared by the container, status, stats and events handlers.
 */
#ifndef CRID_HANDLERS_CONTAINER_H
#define CRID_HANDLERS_CONTAINER_H

#include "handlers/rpc.h"
#include "runtime/container/ctr.h"

/* Opens the container store and the fd store and recovers every container (d->ctrs set). */
int crid_container_handlers_init(struct crid_daemon *d, struct crid_err *err);

/* Frees d->ctrs and its records (d->ctrs NULL after); safe before init. */
void crid_container_handlers_cleanup(struct crid_daemon *d);

/* The container of |id| (full or unique prefix); NULL after failing |rpc| (NOT_FOUND...). */
struct crid_container *crid_container_handlers_find(struct crid_rpc *rpc, const char *id);

struct crid_list_kind;

/* ListContainers' filter and pre-encoded items (handlers/list_reply.h), for the streamed list. */
const struct crid_list_kind *crid_container_list_kind(void);

#endif
