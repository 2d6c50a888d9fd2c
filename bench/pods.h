/* Worker threads for the pod scenarios: N tasks over W connections of one endpoint. */
#ifndef CRID_BENCH_PODS_H
#define CRID_BENCH_PODS_H

#include "bench/cri.h"

/* One task; returns 0, or -1 once the endpoint is marked failed. */
typedef int (*crid_bench_task_fn)(struct crid_bench_cri *cri, size_t i, void *user);

/*
 * Runs |fn| for i in [0, n) on min(workers, n) threads, each with its own
 * connection; no new task starts once the endpoint failed or |deadline_ns|
 * (0 = none) passed. Returns the wall time in seconds; *done gets the
 * number of tasks that returned 0 (may be NULL).
 */
double crid_bench_parallel(const struct crid_bench_run *run, struct crid_bench_endpoint *ep,
			   size_t n, size_t workers, uint64_t deadline_ns, crid_bench_task_fn fn,
			   void *user, size_t *done);

/* Records "<prefix>.run/.create/.start/.total" (ms), each step that was taken. */
void crid_bench_record_podtimes(struct crid_bench_endpoint *ep, const char *prefix,
				const struct crid_bench_podtimes *t);

/* Task: start a pod (a sandbox only where no container), record as above, keep in ep->pods. */
int crid_bench_task_start_keep(struct crid_bench_cri *cri, size_t i, void *user);

/* Removes every pod in ep->pods with |workers| threads; records "teardown" (ms per pod). */
double crid_bench_teardown(const struct crid_bench_run *run, struct crid_bench_endpoint *ep,
			   size_t workers);

/* Best effort, nothing recorded: removes what a failed endpoint left. */
void crid_bench_forget_pods(struct crid_bench_endpoint *ep);

/* Ensures run->image on every endpoint not yet failed (outside any timing). */
void crid_bench_images_ready(struct crid_bench_run *run, const char *image);

/*
 * crid_bench_images_ready(), then one untimed pod with a container on each
 * endpoint (unless run->sandbox_only already): an endpoint whose
 * CreateContainer answers UNIMPLEMENTED gets ep->no_containers. With |alike|,
 * one such endpoint makes run->sandbox_only, so every endpoint runs the same
 * kind of pod and the ratios compare like with like.
 */
void crid_bench_pods_ready(struct crid_bench_run *run, bool alike);

/* Floor figures (floor.c): one bare OCI runtime run and one CNI ADD/DEL. */
void crid_bench_floor_once(struct crid_bench_run *run);
/* Removes the OCI runtime state dir the floor used. */
void crid_bench_floor_cleanup(void);

#endif
