/*
 * PullImage: decodes and validates the request, starts or joins the pull
 * operation (runtime/image/image_pull.h) and answers when it ends. The call is
 * answered asynchronously: the handler keeps its own copy of the rpc. A
 * pull by the id (or a unique id prefix) of an image already in the store is
 * answered at once with that image, as CRI-O does; an absent id is NOT_FOUND.
 */
#ifndef CRID_HANDLERS_PULL_H
#define CRID_HANDLERS_PULL_H

#include "handlers/rpc.h"

struct crid_puller;

/* Creates d->puller (registries from d->cfg, layers into d->images). */
int crid_pull_init(struct crid_daemon *d, struct crid_err *err);

/* Stops every pull (their calls are answered by the server's shutdown) and frees d->puller. */
void crid_pull_cleanup(struct crid_daemon *d);

/* The ImageService/PullImage handler. */
void crid_handle_pull_image(struct crid_rpc *rpc, const ProtobufCMessage *request);

#endif
