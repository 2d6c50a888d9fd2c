/*
 * Gives freed heap pages back to the kernel a while after activity.
 *
 * glibc returns freed memory only from the top of the heap, and only past
 * its trim threshold: pages inside the heap that a burst touched (a 500-pod
 * list reply's arena chunks, freed a moment later) stay resident for good,
 * so without this the daemon's memory ratchets up to the largest burst it
 * ever served (the 60-minute soak: +108 KiB in one step at minute 40, with
 * the heap in use and crid's own bytes flat). malloc_trim(0) also releases
 * the whole free pages inside the heap (MADV_DONTNEED).
 */
#ifndef CRID_MEM_TRIM_H
#define CRID_MEM_TRIM_H

#include "reactor/loop.h"

/*
 * Fixes glibc's thresholds, before the first allocation of size: a block of
 * 64 KiB or more gets its own mapping (gone when freed), the heap top is
 * given back past 128 KiB free, and no padding is added when it grows.
 * Left alone, glibc raises its mmap threshold to the largest block freed
 * (a 500-pod stats reply: 212 KiB) and its trim threshold to twice that,
 * so such replies come from the heap top and memory sits on one of two
 * levels 100 KiB apart until the next trim. Returns 0, or -1 when glibc
 * refused one (the defaults then stay, which only costs memory).
 */
int crid_mem_thresholds_fix(void);

/* Seconds from the first activity after a trim to the next trim. */
#define CRID_MEM_TRIM_DELAY 10.0

/*
 * Trims the heap CRID_MEM_TRIM_DELAY seconds from now unless a trim is
 * already due: cheap enough for every call. An idle daemon is never woken
 * for it, and the pending trim does not keep the loop running.
 */
void crid_mem_trim_soon(struct crid_loop *loop);

/*
 * Trims done so far; the longest one in microseconds of wall time (which
 * counts waiting for a core on a busy machine) and the most CPU one took.
 */
unsigned long crid_mem_trims(double *max_us, double *max_cpu_us);

#endif
