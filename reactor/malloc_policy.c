#include "reactor/malloc_policy.h"

#include <malloc.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#if defined(__SANITIZE_ADDRESS__)
#define CRID_GLIBC_MALLOC 0 /* ASan's allocator: no tcache, its mallopt refuses everything */
#elif defined(__has_feature)
#if __has_feature(address_sanitizer)
#define CRID_GLIBC_MALLOC 0
#endif
#endif
#if !defined(CRID_GLIBC_MALLOC) && defined(__GLIBC__)
#define CRID_GLIBC_MALLOC 1
#endif

/* the macro is a no-op outside valgrind; without the header, never under it */
#if defined(__has_include)
#if __has_include(<valgrind/valgrind.h>)
#include <valgrind/valgrind.h>
#endif
#endif
#ifndef RUNNING_ON_VALGRIND
#define RUNNING_ON_VALGRIND 0
#endif

#define TUNABLES "GLIBC_TUNABLES"
#define TCACHE_OFF "glibc.malloc.tcache_count=0"
/* the user's GLIBC_TUNABLES across the exec: "-" when unset, else "=" and the value */
#define TUNABLES_WAS "CRID_GLIBC_TUNABLES_WAS"

static const char *tcache_state = "on (glibc default)";

#if CRID_GLIBC_MALLOC
/*
 * Sets the environment for the exec: GLIBC_TUNABLES with the cache off
 * added to the user's (cur, NULL when unset), and the marker that holds
 * the user's for after it. Returns 0, or -1 when out of memory (nothing set).
 */
static int tunables_for_exec(const char *cur)
{
	char *both = NULL, *keep = NULL;
	int rc = -1;

	if (asprintf(&both, "%s%s" TCACHE_OFF, cur ? cur : "", cur && cur[0] ? ":" : "") >= 0 &&
	    asprintf(&keep, "%s%s", cur ? "=" : "-", cur ? cur : "") >= 0 &&
	    setenv(TUNABLES_WAS, keep, 1) == 0 && setenv(TUNABLES, both, 1) == 0)
		rc = 0;
	free(both);
	free(keep);
	return rc;
}

/*
 * The user's GLIBC_TUNABLES back (|cur|, NULL when unset) and the marker
 * gone: after the exec, for the children; or when it failed.
 */
static void tunables_restore(const char *cur)
{
	if (cur)
		setenv(TUNABLES, cur, 1);
	else
		unsetenv(TUNABLES);
	unsetenv(TUNABLES_WAS);
}
#endif

void crid_malloc_tcache_off(char **argv)
{
#if CRID_GLIBC_MALLOC
	const char *was = getenv(TUNABLES_WAS), *user = getenv(TUNABLES);
	char *cur;

	/*
	 * valgrind replaces malloc, and /proc/self/exe is its tool, which
	 * refuses to be executed directly: the exec would end crid.
	 */
	if (RUNNING_ON_VALGRIND) {
		tcache_state = "none (valgrind's malloc)";
		return;
	}
	if (was) { /* the second start: the tunable is read, give the children the user's */
		tunables_restore(was[0] == '=' ? was + 1 : NULL);
		tcache_state = "off (glibc.malloc.tcache_count=0)";
		return;
	}
	if (user && strstr(user, "glibc.malloc.tcache_count")) {
		tcache_state = "as GLIBC_TUNABLES sets it";
		return;
	}
	cur = user ? strdup(user) : NULL; /* setenv below frees what getenv gave */
	if (user && !cur)
		return;
	if (tunables_for_exec(cur) == 0)
		execv("/proc/self/exe", argv);
	tunables_restore(cur);
	tcache_state = "on (the exec to turn it off failed)";
	free(cur);
#else
	(void)argv;
	tcache_state = "none (not glibc's malloc)";
#endif
}

int crid_malloc_thresholds_fix(void)
{
#if CRID_GLIBC_MALLOC
	/* setting any of them also stops glibc moving them */
	if (!mallopt(M_MMAP_THRESHOLD, 64 * 1024) || !mallopt(M_TRIM_THRESHOLD, 128 * 1024) ||
	    !mallopt(M_TOP_PAD, 0))
		return -1;
#endif
	return 0;
}

const char *crid_malloc_tcache_state(void)
{
	return tcache_state;
}
