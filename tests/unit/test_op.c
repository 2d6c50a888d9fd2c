/*
 * The operation machine (reactor/op): waiters answered newest first, joining
 * by the owner's rule over a running op and its queue, abandonment by user or
 * by handle, the first failure kept, a waiter leaving while others are being
 * answered, and queue order.
 */
#include <errno.h>
#include <stdlib.h>
#include <string.h>

#include "reactor/op.h"
#include "tap.h"

enum { K_RUN, K_STOP, K_REMOVE };

/* What the waiters saw, in call order. */
static char calls[64];
static size_t n_calls;

struct rec {
	char name;
	struct crid_op *op; /* for the callbacks that act on their op */
	void *leave;	    /* a user to abandon from inside this waiter's call */
	struct crid_op_waiter *leave_w;
	bool left_said_empty;
};

typedef void (*test_done_fn)(struct rec *r, int status, const char *result);

static void deliver(const struct crid_op *op, crid_op_fn done, void *user, void *result)
{
	((test_done_fn)done)(user, op->status, result);
}

static void done(struct rec *r, int status, const char *result)
{
	(void)status, (void)result;
	if (n_calls < sizeof(calls) - 1)
		calls[n_calls++] = r->name;
	if (r->leave)
		r->left_said_empty = crid_op_abandon(r->op, r->leave);
	if (r->leave_w)
		r->left_said_empty = crid_op_leave(r->leave_w);
}

static void reset(void)
{
	memset(calls, 0, sizeof(calls));
	n_calls = 0;
}

/* A stop joins a stop or a removal; a removal only a removal; a running run joins nothing. */
static bool joins(const struct crid_op *cand, bool running, int kind)
{
	if (running && cand->kind == K_RUN)
		return false;
	return cand->kind == kind || (kind == K_STOP && cand->kind == K_REMOVE);
}

#define FN ((crid_op_fn)done)

static void test_waiters_order(void)
{
	struct crid_op op;
	struct rec a = { .name = 'a' }, b = { .name = 'b' }, c = { .name = 'c' };
	const char *seen = NULL;

	reset();
	crid_op_init(&op, K_STOP);
	CHECK(crid_op_wait(&op, FN, &a) && crid_op_wait(&op, FN, &b) && crid_op_wait(&op, FN, &c),
	      "three waiters added");
	crid_op_answer(&op, deliver, (void *)&seen);
	CHECK(strcmp(calls, "cba") == 0, "answered newest first (got `%s`)", calls);
	CHECK(!op.waiters && !op.answering, "no waiter left after the answer");
}

static void test_fail_first_wins(void)
{
	struct crid_op op;
	struct crid_err e1, e2;

	crid_op_init(&op, K_RUN);
	CHECK(op.status == 0 && op.err.code == 0, "a new op has no error");
	crid_err_cause(&e1, ENOENT, "first");
	crid_err_cause(&e2, EBUSY, "second");
	crid_op_fail(&op, &e1);
	crid_op_fail(&op, &e2);
	CHECK(op.status == -1 && op.err.code == ENOENT && strcmp(op.err.msg, "first") == 0,
	      "the first failure is kept (got %d `%s`)", op.err.code, op.err.msg);
}

static void test_abandon(void)
{
	struct crid_op op;
	struct rec a = { .name = 'a' }, b = { .name = 'b' };
	struct crid_op_waiter *wb;

	reset();
	crid_op_init(&op, K_RUN);
	crid_op_wait(&op, FN, &a);
	wb = crid_op_wait(&op, FN, &b);
	CHECK(!crid_op_abandon(&op, &a) && !op.abandoned,
	      "one of two leaving leaves the op waited for");
	CHECK(!crid_op_abandon(&op, &a), "abandoning twice is harmless");
	CHECK(crid_op_leave(wb) && op.abandoned, "the last leaving (by handle) abandons the op");
	crid_op_answer(&op, deliver, NULL);
	CHECK(n_calls == 0, "nobody who left is called (got `%s`)", calls);

	crid_op_init(&op, K_RUN);
	CHECK(crid_op_abandon(&op, &a) && op.abandoned,
	      "an op nobody waited for is abandoned by any leave");
}

static void test_leave_while_answering(void)
{
	struct crid_op op;
	struct rec a = { .name = 'a' }, b = { .name = 'b' }, c = { .name = 'c' };
	struct crid_op_waiter *wa;

	reset();
	crid_op_init(&op, K_STOP);
	wa = crid_op_wait(&op, FN, &a);
	crid_op_wait(&op, FN, &b);
	crid_op_wait(&op, FN, &c);
	c.op = &op;
	c.leave = &b; /* c is called first and makes b leave */
	crid_op_answer(&op, deliver, NULL);
	CHECK(strcmp(calls, "ca") == 0, "a waiter left during the answer is not called (got `%s`)",
	      calls);
	CHECK(!c.left_said_empty && !op.abandoned, "leaving while answering does not abandon");

	reset();
	crid_op_init(&op, K_STOP);
	wa = crid_op_wait(&op, FN, &a);
	crid_op_wait(&op, FN, &b);
	b.op = &op;
	b.leave = NULL;
	b.leave_w = wa;
	crid_op_answer(&op, deliver, NULL);
	CHECK(strcmp(calls, "b") == 0 && !b.left_said_empty,
	      "the last waiter leaving by handle while answering: not called, op not abandoned");
	b.leave_w = NULL;

	reset();
	crid_op_init(&op, K_STOP);
	crid_op_wait(&op, FN, &a);
	a.op = &op;
	a.leave = &a; /* leaves itself from its own call: already off the list */
	crid_op_answer(&op, deliver, NULL);
	CHECK(strcmp(calls, "a") == 0 && !a.left_said_empty,
	      "a waiter abandoning from its own call is harmless");
}

static void test_join_and_queue(void)
{
	struct crid_op run, stop, rm, stop2;
	struct rec a = { .name = 'a' }, b = { .name = 'b' }, c = { .name = 'c' };
	struct crid_op *next;

	crid_op_init(&run, K_RUN);
	crid_op_init(&stop, K_STOP);
	crid_op_init(&rm, K_REMOVE);
	CHECK(!crid_op_join(NULL, joins, K_STOP, FN, &a), "nothing joins an empty queue");
	CHECK(!crid_op_join(&run, joins, K_STOP, FN, &a), "a stop does not join a running run");
	crid_op_append(&run, &rm);
	CHECK(crid_op_join(&run, joins, K_STOP, FN, &a) == &rm, "a stop joins a queued removal");
	crid_op_append(&run, &stop);
	CHECK(run.queued == &rm && rm.queued == &stop && !stop.queued, "queue in append order");
	CHECK(crid_op_join(&run, joins, K_REMOVE, FN, &b) == &rm, "a removal joins the removal");
	CHECK(crid_op_join(&run, joins, K_STOP, FN, &c) == &rm, "the first that fits is joined");
	crid_op_init(&stop2, K_STOP);
	CHECK(crid_op_join(&stop2, joins, K_STOP, FN, &c) == &stop2, "a stop joins a running stop");
	crid_op_drop_waiters(&stop2);

	/* Completion order: the head is answered, then the next one runs. */
	reset();
	next = crid_op_unqueue(&run);
	CHECK(next == &rm && !run.queued, "unqueue hands over the rest, unlinked");
	crid_op_answer(&run, deliver, NULL);
	CHECK(n_calls == 0, "the run had no waiter");
	next = crid_op_unqueue(&rm);
	crid_op_answer(&rm, deliver, NULL);
	CHECK(strcmp(calls, "cba") == 0 && next == &stop,
	      "the removal answers its joiners newest first (got `%s`)", calls);
	CHECK(crid_op_unqueue(&stop) == NULL, "the stop was last");
}

int main(void)
{
	test_waiters_order();
	test_fail_first_wins();
	test_abandon();
	test_leave_while_answering();
	test_join_and_queue();
	return tap_done();
}
