/*
 * One asynchronous operation, as its callers see it: who waits for it,
 * joining a request to an equal operation already under way, leaving it
 * (the client went away), the first error, the answer to every waiter, and
 * the queue of operations that run one after another on one object.
 *
 * It knows nothing of what the operation does: the owner embeds a struct
 * crid_op in its own operation, starts and finishes the work, and types its
 * waiters' callbacks (stored here as crid_op_fn, cast back by the owner's
 * deliver function). Used by pods, containers and pulls. Calls reactor/mem only.
 */
#ifndef CRID_OP_H
#define CRID_OP_H

#include <stdbool.h>

#include "reactor/err.h"

/* A waiter's typed completion function, stored untyped; the owner casts it back. */
typedef void (*crid_op_fn)(void);

struct crid_op;

struct crid_op_waiter {
	struct crid_op *op;
	struct crid_op_waiter *next;
	crid_op_fn done;
	void *user;
};

struct crid_op {
	int kind;			/* the owner's kind, for joining and logs */
	struct crid_op_waiter *waiters; /* newest first: answered in this order */
	struct crid_op *queued;		/* the next operation on the same object */
	int status;			/* 0, or -1 once crid_op_fail() set |err| */
	bool abandoned;			/* every waiter left while it ran */
	bool answering;			/* crid_op_answer() is calling the waiters */
	struct crid_err err;
};

/* Calls one waiter: casts |done| back to the owner's type and passes |result|. */
typedef void (*crid_op_deliver_fn)(const struct crid_op *op, crid_op_fn done, void *user,
				   void *result);

/*
 * May |cand| (|running| when it is the head of its queue) answer a request
 * of |kind| too? The owner's rule, e.g. "a stop is satisfied by a stop or
 * a removal".
 */
typedef bool (*crid_op_joins_fn)(const struct crid_op *cand, bool running, int kind);

/* Zeroes |op| and sets its kind: status 0, no waiters, not queued. */
void crid_op_init(struct crid_op *op, int kind);

/* Adds a waiter, answered before the older ones. NULL when out of memory. */
struct crid_op_waiter *crid_op_wait(struct crid_op *op, crid_op_fn done, void *user);

/*
 * The first waiter whose user is |user| leaves: its |done| will not be
 * called. Returns true when no waiter is left (and marks the op abandoned),
 * unless the op is answering its waiters: it ends anyway.
 */
bool crid_op_abandon(struct crid_op *op, void *user);

/* The same for the waiter |w| itself, which is freed. */
bool crid_op_leave(struct crid_op_waiter *w);

/* Records the first failure: later ones do not replace it. */
void crid_op_fail(struct crid_op *op, const struct crid_err *err);

/*
 * Answers every waiter, newest first, through |deliver|, freeing each after
 * its call. A waiter may meanwhile abandon another one (which then is not
 * called) or start new operations; the op itself must stay allocated until
 * this returns.
 */
void crid_op_answer(struct crid_op *op, crid_op_deliver_fn deliver, void *result);

/* Frees the waiters without calling them (shutdown). */
void crid_op_drop_waiters(struct crid_op *op);

/*
 * Joins a request of |kind| to the first operation of the queue headed by
 * |head| (NULL: empty) that |joins| accepts, adding |done|/|user| as its
 * waiter. Returns that operation, or NULL: none joins, or out of memory.
 */
struct crid_op *crid_op_join(struct crid_op *head, crid_op_joins_fn joins, int kind,
			     crid_op_fn done, void *user);

/* Puts |op| last in the queue headed by |head|, behind what runs and waits there. */
void crid_op_append(struct crid_op *head, struct crid_op *op);

/* Takes |op| out of its queue: returns what was queued behind it, now unlinked. */
struct crid_op *crid_op_unqueue(struct crid_op *op);

#endif
