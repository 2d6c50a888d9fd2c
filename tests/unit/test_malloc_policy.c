/*
 * Unit tests for reactor/malloc_policy: turning glibc's per-thread cache off
 * executes this test once more (same pid), after which the cache is off in
 * fact (freed small chunks go back to the heap), GLIBC_TUNABLES is the
 * user's again for the children, and a user's own tcache_count is kept; the
 * fixed thresholds are accepted. Under ASan or valgrind there is no such
 * cache: skipped.
 */
#include <malloc.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "reactor/malloc_policy.h"
#include "tap.h"

#define USER_TUNABLES "glibc.malloc.perturb=0"

/* Seven chunks freed: a tcache keeps them, counted in use; without one they are free. */
static void test_freed_chunks_leave_the_in_use_count(void)
{
	struct mallinfo2 before, after;
	void *p[7];

	before = mallinfo2();
	for (int i = 0; i < 7; i++)
		p[i] = malloc(200);
	for (int i = 0; i < 7; i++)
		free(p[i]);
	after = mallinfo2();
	CHECK(after.uordblks == before.uordblks,
	      "7 freed 200-byte chunks are not kept in use: %zu -> %zu bytes", before.uordblks,
	      after.uordblks);
}

static void test_users_tcache_count_kept(char **argv)
{
	setenv("GLIBC_TUNABLES", "glibc.malloc.tcache_count=3", 1);
	crid_malloc_tcache_off(argv); /* returns: nothing to do */
	CHECK(strcmp(crid_malloc_tcache_state(), "as GLIBC_TUNABLES sets it") == 0,
	      "a user's tcache_count is theirs: %s", crid_malloc_tcache_state());
	CHECK(strcmp(getenv("GLIBC_TUNABLES"), "glibc.malloc.tcache_count=3") == 0,
	      "and left as it was");
}

int main(int argc, char **argv)
{
	char pid[32];
	const char *tun, *first_pid;

	(void)argc;
	if (!getenv("CRID_GLIBC_TUNABLES_WAS")) { /* the first start */
		snprintf(pid, sizeof(pid), "%d", (int)getpid());
		setenv("TEST_FIRST_PID", pid, 1);
		setenv("GLIBC_TUNABLES", USER_TUNABLES, 1);
	}
	crid_malloc_tcache_off(argv);
	if (strncmp(crid_malloc_tcache_state(), "none", 4) == 0) {
		tap_skip("malloc_policy", crid_malloc_tcache_state()); /* ASan or valgrind */
		return tap_done();
	}
	first_pid = getenv("TEST_FIRST_PID");
	CHECK(strncmp(crid_malloc_tcache_state(), "off", 3) == 0, "the cache is off: %s",
	      crid_malloc_tcache_state());
	CHECK(first_pid && atoi(first_pid) == (int)getpid(), "the same process, executed again");
	tun = getenv("GLIBC_TUNABLES");
	CHECK(tun && strcmp(tun, USER_TUNABLES) == 0, "GLIBC_TUNABLES is the user's again: %s",
	      tun ? tun : "(unset)");
	CHECK(!getenv("CRID_GLIBC_TUNABLES_WAS"), "the marker is gone");
	CHECK(crid_malloc_thresholds_fix() == 0, "glibc takes the thresholds");
	test_freed_chunks_leave_the_in_use_count();
	test_users_tcache_count_kept(argv);
	return tap_done();
}
