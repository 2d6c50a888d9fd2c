/*
 * podstart: RunPodSandbox + CreateContainer + StartContainer until the
 * container runs, per step and in sum, for run->pods pods one at a time
 * ("seq") and run->parallel at a time ("par"); each pod is removed right
 * after it ran (outside the timing). The endpoints take turns round by round;
 * the floor (bare OCI runtime run, CNI ADD/DEL) runs once per sequential pod,
 * between the rounds.
 */
#include <stdlib.h>

#include "bench/pods.h"

#define ROUND_PODS 10

struct phase {
	const char *name;
	size_t workers;
};

static int start_remove(struct crid_bench_cri *cri, size_t i, void *user)
{
	const struct phase *ph = user;
	struct crid_bench_podtimes t;
	uint64_t t0;
	char *id;
	int rc;

	(void)i;
	if (crid_bench_pod_start(cri, &id, &t) < 0) {
		if (id)
			crid_bench_pod_remove(cri, id);
		free(id);
		return -1;
	}
	crid_bench_record_podtimes(cri->ep, ph->name, &t);
	t0 = crid_bench_now_ns();
	rc = crid_bench_pod_remove(cri, id);
	if (rc == 0)
		crid_bench_record(cri->ep, "teardown", "ms",
				  (double)(crid_bench_now_ns() - t0) / 1e6);
	free(id);
	return rc;
}

static void run_phase(struct crid_bench_run *run, const struct phase *ph)
{
	size_t round = ph->workers > ROUND_PODS ? ph->workers : ROUND_PODS;
	size_t rounds = crid_bench_rounds(run->pods, round);
	double wall[CRID_BENCH_MAX_ENDPOINTS] = { 0 };
	size_t done[CRID_BENCH_MAX_ENDPOINTS] = { 0 };

	for (size_t r = 0; r < rounds; r++) {
		size_t k = crid_bench_round_calls(run->pods, round, r);

		for (size_t i = 0; i < run->n_ep; i++) {
			size_t e = crid_bench_round_order(r, i, run->n_ep);
			struct crid_bench_endpoint *ep = &run->ep[e];
			size_t d;

			if (crid_bench_failed(ep))
				continue;
			/* one pod per task, so per-pod teardown stays in its own worker */
			wall[e] += crid_bench_parallel(run, ep, k, ph->workers, 0, start_remove,
						       (void *)ph, &d);
			done[e] += d;
		}
		if (ph->workers == 1)
			for (size_t j = 0; j < k; j++)
				crid_bench_floor_once(run);
		crid_bench_progress(run, r + 1 == rounds, "%s: round %zu/%zu (%zu pods each)",
				    ph->name, r + 1, rounds, k);
	}
	for (size_t e = 0; e < run->n_ep; e++)
		if (wall[e] > 0)
			crid_bench_set(&run->ep[e], "pods/s", (double)done[e] / wall[e],
				       "%s.pods_per_s", ph->name);
}

int crid_bench_podstart_run(struct crid_bench_run *run)
{
	struct phase seq = { "seq", 1 }, par = { "par", run->parallel };

	crid_bench_images_ready(run, run->image);
	run_phase(run, &seq);
	run_phase(run, &par);
	crid_bench_floor_cleanup();
	return 0;
}
