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

#define TUNABLES "GLIBC_TUNABLES"
#define TCACHE_OFF "glibc.malloc.tcache_count=0"
/* the user's GLIBC_TUNABLES across the exec: "-" when unset, else "=" and the value */
#define TUNABLES_WAS "CRID_GLIBC_TUNABLES_WAS"

static const char *tcache_state = "on (glibc default)";

void crid_malloc_tcache_off(char **argv)
{
#if CRID_GLIBC_MALLOC
	const char *was = getenv(TUNABLES_WAS), *user = getenv(TUNABLES);
	char *cur = user ? strdup(user) : NULL, *both = NULL, *keep = NULL;

	if (was) { /* the second start: the tunable is read, give the children the user's */
		if (was[0] == '=')
			setenv(TUNABLES, was + 1, 1);
		else
			unsetenv(TUNABLES);
		unsetenv(TUNABLES_WAS);
		tcache_state = "off (glibc.malloc.tcache_count=0)";
	} else if (user && strstr(user, "glibc.malloc.tcache_count")) {
		tcache_state = "as GLIBC_TUNABLES sets it";
	} else if ((!user || cur) &&
		   asprintf(&both, "%s%s" TCACHE_OFF, cur ? cur : "", cur && cur[0] ? ":" : "") >=
		       0 &&
		   asprintf(&keep, "%s%s", cur ? "=" : "-", cur ? cur : "") >= 0 &&
		   setenv(TUNABLES_WAS, keep, 1) == 0 && setenv(TUNABLES, both, 1) == 0) {
		execv("/proc/self/exe", argv);
		/* still here: go on with the cache, the environment as it was */
		if (cur)
			setenv(TUNABLES, cur, 1);
		else
			unsetenv(TUNABLES);
		unsetenv(TUNABLES_WAS);
		tcache_state = "on (the exec to turn it off failed)";
	}
	free(cur);
	free(both);
	free(keep);
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
