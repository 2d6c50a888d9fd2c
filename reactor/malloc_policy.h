/*
 * How glibc's malloc is set for a daemon that runs for months: memory freed
 * after a burst goes back to the kernel instead of to caches that only grow.
 * reactor/mem_trim.h gives the freed pages back a while after activity.
 */
#ifndef CRID_MALLOC_POLICY_H
#define CRID_MALLOC_POLICY_H

/*
 * Turns glibc's per-thread cache off, the first thing main does: it keeps
 * up to 7 freed chunks of each of 64 sizes (up to ~240 KiB) that no trim
 * gives back, and over hours of churn it fills as rarer sizes come by (the
 * 60-minute soak at 500 pods: 59 -> 108 KiB, half the growth it saw). Its
 * size is read only when a program starts (GLIBC_TUNABLES), so crid
 * executes itself once more with glibc.malloc.tcache_count=0 added, same
 * pid, fds and arguments, then puts GLIBC_TUNABLES back as it was so the
 * runtimes and plugins it starts do not inherit it. Returns only when
 * nothing is (left) to do: a user's own tcache_count is kept, an ASan build
 * or another libc has no such cache (nor has valgrind: its tool binary
 * refuses the exec), a failed exec leaves the cache on.
 */
void crid_malloc_tcache_off(char **argv);

/*
 * Fixes glibc's thresholds, right after crid_malloc_tcache_off in main,
 * before the first allocation of size: a block of
 * 64 KiB or more gets its own mapping (gone when freed), the heap top is
 * given back past 128 KiB free, and no padding is added when it grows.
 * Left alone, glibc raises its mmap threshold to the largest block freed
 * (a 500-pod stats reply: 212 KiB) and its trim threshold to twice that,
 * so such replies come from the heap top and memory sits on one of two
 * levels 100 KiB apart until the next trim. Returns 0, or -1 when glibc
 * refused one (the defaults then stay, which only costs memory).
 */
int crid_malloc_thresholds_fix(void);

/* glibc's per-thread cache as crid_malloc_tcache_off left it, for the log. */
const char *crid_malloc_tcache_state(void);

#endif
