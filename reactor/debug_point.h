/*
 * Named crash points for tests: crid_debug_point("log-after-read") kills the
 * daemon with SIGKILL (exactly what `kill -9` does: no cleanup, no atexit)
 * when the environment names that step, so a test can stop crid between two
 * steps whose order makes crash safety, and check that a restart loses and
 * doubles nothing.
 *
 * Armed only when both are set at start (read once, on the first call):
 *   CRID_TEST=1                       marks a test run (never set in production)
 *   CRID_DEBUG_ABORT_AT=<step>[:<n>]  the step, and which hit (default the 1st)
 * CRID_DEBUG_ABORT_AT without CRID_TEST=1 is ignored with a warning. Building
 * with -DCRID_NO_DEBUG_POINTS removes the points altogether.
 */
#ifndef CRID_DEBUG_POINT_H
#define CRID_DEBUG_POINT_H

#ifdef CRID_NO_DEBUG_POINTS
static inline void crid_debug_point(const char *step)
{
	(void)step;
}
#else
/* Returns, unless |step| is the armed one and this is its n-th hit. */
void crid_debug_point(const char *step);
#endif

#endif
