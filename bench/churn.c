/*
 * churn: pods created (sandbox + one running container; sandboxes only on
 * every endpoint when one runs no containers) and removed again
 * in a loop by run->parallel workers for run->duration_s per endpoint, in
 * slices of up to 10 s taken in turns: pods per second, and the daemon's fd
 * count and memory before and after (a leak shows here).
 */
#include <stdlib.h>

#include "bench/pods.h"

#define SLICE_S 10.0

static int cycle(struct crid_bench_cri *cri, size_t i, void *user)
{
	struct crid_bench_podtimes t;
	uint64_t t0 = crid_bench_now_ns();
	char *id;
	int rc;

	(void)i;
	(void)user;
	rc = crid_bench_pod_start(cri, true, &id, &t);
	if (id && crid_bench_pod_remove(cri, id) < 0)
		rc = -1;
	free(id);
	if (rc == 0)
		crid_bench_record(cri->ep, "cycle", "ms", (double)(crid_bench_now_ns() - t0) / 1e6);
	return rc;
}

static void daemon_state(struct crid_bench_endpoint *ep, const char *when)
{
	struct crid_bench_mem m;
	struct crid_err err;
	long fds;

	if (ep->pid <= 0)
		return;
	fds = crid_bench_fd_count(ep->pid);
	if (fds >= 0)
		crid_bench_set(ep, "fds", (double)fds, "fds_%s", when);
	if (crid_bench_mem_read(ep->pid, &m, &err) == 0) {
		crid_bench_set(ep, "KiB", (double)m.rss_kib, "rss_kib_%s", when);
		crid_bench_set(ep, "KiB", (double)m.pss_kib, "pss_kib_%s", when);
	}
}

int crid_bench_churn_run(struct crid_bench_run *run)
{
	size_t slices = (size_t)(run->duration_s / SLICE_S);
	double last = run->duration_s - (double)slices * SLICE_S;
	double wall[CRID_BENCH_MAX_ENDPOINTS] = { 0 };
	size_t pods[CRID_BENCH_MAX_ENDPOINTS] = { 0 };

	if (last > 0.01)
		slices++;
	crid_bench_pods_ready(run, true);
	for (size_t e = 0; e < run->n_ep; e++)
		if (!crid_bench_failed(&run->ep[e]))
			daemon_state(&run->ep[e], "before");
	for (size_t s = 0; s < slices; s++) {
		double secs = (s + 1 == slices && last > 0.01) ? last : SLICE_S;

		for (size_t i = 0; i < run->n_ep; i++) {
			size_t e = crid_bench_round_order(s, i, run->n_ep);
			uint64_t end;
			size_t done;

			if (crid_bench_failed(&run->ep[e]))
				continue;
			end = crid_bench_now_ns() + (uint64_t)(secs * 1e9);
			wall[e] += crid_bench_parallel(run, &run->ep[e], (size_t)-1 / 2,
						       run->parallel, end, cycle, NULL, &done);
			pods[e] += done;
		}
		crid_bench_progress(run, s + 1 == slices, "slice %zu/%zu", s + 1, slices);
	}
	crid_bench_sleep_ms(1000); /* let deferred cleanup in the daemons finish */
	for (size_t e = 0; e < run->n_ep; e++) {
		struct crid_bench_endpoint *ep = &run->ep[e];

		if (crid_bench_failed(ep))
			continue;
		daemon_state(ep, "after");
		crid_bench_set(ep, "pods", (double)pods[e], "pods");
		if (wall[e] > 0)
			crid_bench_set(ep, "pods/s", (double)pods[e] / wall[e], "pods_per_s");
	}
	return 0;
}
