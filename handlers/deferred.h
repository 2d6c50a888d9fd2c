/*
 * A call answered later: the handler started an operation whose callback
 * replies. The call outlives the dispatch's stack rpc; the operation may
 * also end before its start function returns (then the reply is already
 * out and the call is freed once the start returns). A client that goes
 * away abandons the operation (which goes on without it).
 */
#ifndef CRID_DEFERRED_H
#define CRID_DEFERRED_H

#include <stdbool.h>

#include "handlers/rpc.h"

struct crid_deferred {
	struct crid_rpc rpc; /* a copy with its own arena */
	void *op;
	void (*abandon)(void *op, void *user); /* called with (op, this) when the client leaves */
	bool starting;
	bool ended;
	int tag; /* the handler's own */
};

/* NULL (after failing |rpc| with RESOURCE_EXHAUSTED) when out of memory. */
struct crid_deferred *crid_deferred_new(struct crid_rpc *rpc,
					void (*abandon)(void *op, void *user));

/*
 * After the start function returned |op| (NULL: it failed with |err|, which
 * is answered here). Frees |d| if the operation already ended.
 */
void crid_deferred_started(struct crid_deferred *d, void *op, const struct crid_err *err);

/* In the operation's callback, after replying on d->rpc. */
void crid_deferred_end(struct crid_deferred *d);

#endif
