/*
 * Unit tests for reactor/mem_trim: a pending trim does not keep the loop
 * running (a daemon with nothing else to do still exits at once), asking
 * again while one is pending arms nothing more, and the figures start at
 * zero. That the trim fires and gives pages back is checked against the
 * real daemon (tests/integration/test_soak_memory.py): it takes 10 s.
 */
#include <unistd.h>

#include "reactor/mem_trim.h"
#include "tap.h"

static void test_pending_trim_does_not_hold_the_loop(struct crid_loop *loop)
{
	double max_us = -1, max_cpu_us = -1;

	/* a loop held by the trim would wait 10 s for it, then forever (its reference
	 * given back twice): SIGALRM ends the suite, failed, long before */
	alarm(5);
	crid_mem_trim_soon(loop);
	crid_mem_trim_soon(loop); /* already pending: a no-op */
	ev_run(loop->ev, 0);	  /* returns at once: nothing else is active */
	CHECK(crid_mem_trims(&max_us, &max_cpu_us) == 0,
	      "no trim ran: ev_run did not wait 10 s for it");
	CHECK(max_us == 0 && max_cpu_us == 0, "no trim, no duration (%g us, %g us CPU)", max_us,
	      max_cpu_us);
	alarm(0);
}

int main(void)
{
	struct crid_loop loop;
	struct crid_err err;

	if (!CHECK(crid_loop_init(&loop, NULL, NULL, &err) == 0, "loop init"))
		return tap_done();
	test_pending_trim_does_not_hold_the_loop(&loop);
	crid_loop_destroy(&loop);
	return tap_done();
}
