/*
 * Serves no RPC by itself: the answered-later call that Run/Stop/Remove of
 * pods and Create/Start/Stop/Remove/Update/ExecSync of containers share
 * (handlers/deferred.h states the lifetime rules). Calls only io/ via rpc.
 */
#include "handlers/deferred.h"

#include "reactor/log.h"
#include "reactor/mem.h"

struct crid_deferred *crid_deferred_new(struct crid_rpc *rpc, void (*abandon)(void *op, void *user))
{
	struct crid_deferred *d = crid_calloc(1, sizeof(*d));

	if (!d) {
		crid_rpc_fail(rpc, CRID_GRPC_RESOURCE_EXHAUSTED, "out of memory for the call");
		return NULL;
	}
	d->rpc.d = rpc->d;
	d->rpc.call = rpc->call;
	d->rpc.method = rpc->method;
	crid_arena_init(&d->rpc.arena, 64u << 20);
	d->abandon = abandon;
	d->starting = true;
	return d;
}

static void deferred_free(struct crid_deferred *d)
{
	crid_arena_reset(&d->rpc.arena);
	crid_free(d);
}

static void cancelled(struct crid_grpc_call *call, int status, void *user)
{
	struct crid_deferred *d = user;

	(void)call;
	crid_log_info("call ended by the client (%s): its operation goes on without it",
		      crid_grpc_status_name(status));
	if (d->abandon && d->op)
		d->abandon(d->op, d);
	deferred_free(d);
}

void crid_deferred_started(struct crid_deferred *d, void *op, const struct crid_err *err)
{
	d->starting = false;
	if (!op && !d->ended) {
		crid_rpc_fail(&d->rpc, crid_rpc_status(err->code), "%s", err->msg);
		deferred_free(d);
		return;
	}
	if (d->ended) {
		deferred_free(d);
		return;
	}
	d->op = op;
	crid_grpc_call_on_cancel(d->rpc.call, cancelled, d);
}

void crid_deferred_end(struct crid_deferred *d)
{
	d->ended = true;
	if (!d->starting)
		deferred_free(d);
}
