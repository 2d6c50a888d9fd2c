/*
 * The operation machine of op.h: waiters, joining, leaving, answering and
 * the per-object queue. Owns the waiter allocations; the operations belong
 * to their owners. Calls reactor/mem only.
 */
#include "reactor/op.h"

#include <string.h>

#include "reactor/mem.h"

void crid_op_init(struct crid_op *op, int kind)
{
	memset(op, 0, sizeof(*op));
	op->kind = kind;
	crid_err_clear(&op->err);
}

struct crid_op_waiter *crid_op_wait(struct crid_op *op, crid_op_fn done, void *user)
{
	struct crid_op_waiter *w = crid_calloc(1, sizeof(*w));

	if (!w)
		return NULL;
	w->op = op;
	w->done = done;
	w->user = user;
	w->next = op->waiters;
	op->waiters = w;
	return w;
}

/* Unlinks |w| if it still waits; true when it did. */
static bool unlink_waiter(struct crid_op *op, struct crid_op_waiter *w)
{
	for (struct crid_op_waiter **pp = &op->waiters; *pp; pp = &(*pp)->next) {
		if (*pp == w) {
			*pp = w->next;
			return true;
		}
	}
	return false;
}

/* After a waiter left: is nobody left to answer? (Not while answering: the op ends then.) */
static bool nobody_left(struct crid_op *op)
{
	if (op->waiters || op->answering)
		return false;
	op->abandoned = true;
	return true;
}

bool crid_op_abandon(struct crid_op *op, void *user)
{
	for (struct crid_op_waiter *w = op->waiters; w; w = w->next) {
		if (w->user == user) {
			unlink_waiter(op, w);
			crid_free(w);
			break;
		}
	}
	return nobody_left(op);
}

bool crid_op_leave(struct crid_op_waiter *w)
{
	struct crid_op *op = w->op;

	unlink_waiter(op, w);
	crid_free(w);
	return nobody_left(op);
}

void crid_op_fail(struct crid_op *op, const struct crid_err *err)
{
	if (op->status == 0) {
		op->status = -1;
		op->err = *err;
	}
}

/*
 * One waiter at a time is taken off the list before its call, so a waiter
 * leaving from inside another's callback is simply never called, and no
 * iterator points at freed memory.
 */
void crid_op_answer(struct crid_op *op, crid_op_deliver_fn deliver, void *result)
{
	struct crid_op_waiter *w;

	op->answering = true;
	while ((w = op->waiters)) {
		op->waiters = w->next;
		deliver(op, w->done, w->user, result);
		crid_free(w);
	}
	op->answering = false;
}

void crid_op_drop_waiters(struct crid_op *op)
{
	struct crid_op_waiter *w;

	while ((w = op->waiters)) {
		op->waiters = w->next;
		crid_free(w);
	}
}

struct crid_op *crid_op_join(struct crid_op *head, crid_op_joins_fn joins, int kind,
			     crid_op_fn done, void *user)
{
	for (struct crid_op *op = head; op; op = op->queued) {
		if (!joins(op, op == head, kind))
			continue;
		return crid_op_wait(op, done, user) ? op : NULL;
	}
	return NULL;
}

void crid_op_append(struct crid_op *head, struct crid_op *op)
{
	struct crid_op **tail;

	for (tail = &head->queued; *tail; tail = &(*tail)->queued)
		;
	*tail = op;
}

struct crid_op *crid_op_unqueue(struct crid_op *op)
{
	struct crid_op *next = op->queued;

	op->queued = NULL;
	return next;
}
