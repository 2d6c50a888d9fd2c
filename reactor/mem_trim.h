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
