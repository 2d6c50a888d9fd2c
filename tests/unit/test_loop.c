/*
 * Unit tests for reactor/loop's before-sleep hooks: a hook may cancel
 * another queued hook (its owner freed) without the loop touching it
 * afterwards; a hook queued while the hooks run still runs before the loop
 * sleeps; a hook that keeps queueing itself does not hold the loop.
 */
#include <stdlib.h>
#include <string.h>

#include "reactor/loop.h"
#include "tap.h"

struct owner {
	struct crid_before_sleep hook;
	struct crid_loop *loop;
	struct owner *victim; /* cancelled and freed by this hook */
	struct owner *spawn;  /* queued by this hook */
	int runs, requeue;
	int *freed_runs;
};

static void on_hook(struct crid_before_sleep *h)
{
	struct owner *o = (struct owner *)h;

	o->runs++;
	if (o->victim) {
		crid_loop_cancel_before_sleep(o->loop, &o->victim->hook);
		/* poison it: ASan flags any later use of the freed hook */
		memset(o->victim, 0xa5, sizeof(*o->victim));
		free(o->victim);
		o->victim = NULL;
	}
	if (o->spawn)
		crid_loop_before_sleep(o->loop, &o->spawn->hook);
	if (o->requeue && o->requeue--)
		crid_loop_before_sleep(o->loop, &o->hook);
}

static struct owner *owner(struct crid_loop *loop)
{
	struct owner *o = calloc(1, sizeof(*o));

	o->hook.fn = on_hook;
	o->loop = loop;
	return o;
}

static void on_stop(EV_P_ ev_timer *w, int revents)
{
	(void)revents;
	(void)w;
	ev_break(EV_A_ EVBREAK_ALL);
}

/* Runs the loop until a zero timer fires: one pass of hooks at least. */
static void spin(struct crid_loop *loop, double seconds)
{
	ev_timer stop;

	ev_timer_init(&stop, on_stop, seconds, 0.);
	ev_timer_start(loop->ev, &stop);
	ev_ref(loop->ev);
	crid_loop_run(loop);
	ev_timer_stop(loop->ev, &stop);
}

static void test_cancel_from_a_hook(struct crid_loop *loop)
{
	struct owner *a = owner(loop), *b = owner(loop);

	/* queued b first, then a: a runs first (LIFO) and frees b */
	crid_loop_before_sleep(loop, &b->hook);
	crid_loop_before_sleep(loop, &a->hook);
	a->victim = b;
	spin(loop, 0.01);
	CHECK(a->runs == 1 && a->victim == NULL, "the hook ran and freed the other one");
	CHECK(loop->hooks == NULL, "nothing left queued");
	free(a);
}

static void test_queued_while_running(struct crid_loop *loop)
{
	struct owner *a = owner(loop), *b = owner(loop);
	ev_tstamp before;

	a->spawn = b;
	crid_loop_before_sleep(loop, &a->hook);
	before = ev_now(loop->ev);
	/* a long stop timer: only the hooks' pass may end the spin early */
	crid_loop_before_sleep(loop, &a->hook);
	spin(loop, 0.05);
	CHECK(a->runs == 1 && b->runs == 1, "a hook queued by a hook ran in the same pass (%d, %d)",
	      a->runs, b->runs);
	(void)before;
	free(a);
	free(b);
}

static void test_requeue_bounded(struct crid_loop *loop)
{
	struct owner *a = owner(loop);

	a->requeue = 250000; /* more than one pass may run */
	crid_loop_before_sleep(loop, &a->hook);
	spin(loop, 0.5);
	CHECK(a->runs == 250001, "a self-queueing hook ran every time, over several passes (%d)",
	      a->runs);
	CHECK(loop->hooks == NULL, "and stopped when it stopped queueing");
	free(a);
}

int main(void)
{
	struct crid_loop loop;
	struct crid_err err;

	if (!CHECK(crid_loop_init(&loop, NULL, NULL, &err) == 0, "loop init"))
		return tap_done();
	test_cancel_from_a_hook(&loop);
	test_queued_while_running(&loop);
	test_requeue_bounded(&loop);
	crid_loop_destroy(&loop);
	return tap_done();
}
