/*
 * Where an operation's time goes: named steps with monotonic timestamps,
 * hung off the operation (embedded, no allocation), printed as one debug
 * line when it ends:
 *   trace RunPodSandbox pod=0123456789ab total=41.2ms pin=3.1 save=0.4 cni_add=24.0 ...
 *
 * A step's time runs from the previous mark (or the start) to its own mark,
 * so the steps never overlap and always sum to at most the total; work that
 * runs concurrently is marked by the wait that joins it ("ctrs_exit" covers
 * every container's kill and exit). The names are string literals (kept by
 * pointer); a step marked twice adds up; steps past CRID_TRACE_STEPS - 1
 * distinct names fold into "other". Calls nothing but the clock and reactor/log.
 */
#ifndef CRID_TRACE_H
#define CRID_TRACE_H

#include <stddef.h>
#include <stdint.h>

#define CRID_TRACE_STEPS 12

struct crid_trace_step {
	const char *name;
	uint32_t us;
};

struct crid_trace {
	int64_t start_ns, last_ns; /* CLOCK_MONOTONIC; start 0: not started */
	uint8_t n;
	struct crid_trace_step steps[CRID_TRACE_STEPS];
};

/* Starts timing now; forgets earlier steps. */
void crid_trace_begin(struct crid_trace *t);

/* Closes step |name| (a string literal): the time since the previous mark. No-op unstarted. */
void crid_trace_mark(struct crid_trace *t, const char *name);

/* Microseconds since the start (0 unstarted). */
int64_t crid_trace_total_us(const struct crid_trace *t);

/*
 * Writes "total=41.2ms step=3.1 ..." (milliseconds, 0.1 ms resolution, the
 * steps in first-mark order) into |buf|, whole fields only; returns |buf|.
 */
const char *crid_trace_format(const struct crid_trace *t, char *buf, size_t size);

/*
 * Logs "trace <rpc> <what>=<id> <format>" at debug level (nothing at all
 * below debug, not even the formatting). |id| is printed up to 12 chars.
 */
void crid_trace_log(const struct crid_trace *t, const char *rpc, const char *what, const char *id);

#endif
