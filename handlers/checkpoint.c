/*
 * CheckpointContainer: validates the request and hands it to
 * runtime/container/ctr_checkpoint.h, which finds out whether CRIU can run
 * here. Where it cannot, the answer is FAILED_PRECONDITION naming why.
 */
#include <errno.h>
#include <stdio.h>

#include "handlers/container.h"
#include "handlers/deferred.h"
#include "handlers/methods.h"
#include "proto/api.pb-c.h"
#include "runtime/container/ctr_checkpoint.h"
#include "runtime/oci/rt_features.h"

static void ckpt_done(void *user, int status, const struct crid_err *err)
{
	struct crid_deferred *d = user;

	if (status < 0) {
		/* ENOSYS: CRIU works here but the archive writer is not built yet */
		crid_rpc_fail(&d->rpc,
			      err->code == ENOSYS ? CRID_GRPC_UNIMPLEMENTED
						  : crid_rpc_status(err->code),
			      "%s", err->msg);
	} else {
		Runtime__V1__CheckpointContainerResponse resp =
		    RUNTIME__V1__CHECKPOINT_CONTAINER_RESPONSE__INIT;

		crid_rpc_reply(&d->rpc, &resp.base);
	}
	d->op = NULL;
	crid_deferred_end(d);
}

static void ckpt_abandon(void *op, void *user)
{
	(void)user;
	crid_ckpt_cancel(op);
}

void crid_handle_checkpoint_container(struct crid_rpc *rpc, const ProtobufCMessage *request)
{
	const Runtime__V1__CheckpointContainerRequest *req = (const void *)request;
	const struct crid_rt_features *f;
	struct crid_container *c;
	struct crid_deferred *d;
	struct crid_err err;

	if (!req->location[0]) {
		crid_rpc_fail(rpc, CRID_GRPC_INVALID_ARGUMENT, "location: must not be empty");
		return;
	}
	if (req->location[0] != '/') {
		crid_rpc_fail(rpc, CRID_GRPC_INVALID_ARGUMENT,
			      "location: `%s` is not an absolute path", req->location);
		return;
	}
	if (req->timeout < 0) {
		crid_rpc_fail(rpc, CRID_GRPC_INVALID_ARGUMENT, "timeout: must not be negative");
		return;
	}
	c = crid_container_handlers_find(rpc, req->container_id);
	if (!c)
		return;
	f = crid_rt_probe_get(rpc->d->rt_features, c->runtime_handler);
	d = crid_deferred_new(rpc, ckpt_abandon);
	if (!d)
		return;
	crid_deferred_started(
	    d,
	    crid_ctr_checkpoint(rpc->d->ctrs, c, req->location, f->checkpoint, ckpt_done, d, &err),
	    &err);
}
