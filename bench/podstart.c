/*
 * podstart: first RunPodSandbox alone ("sandbox.seq", "sandbox.par": a pod
 * with no container, on every endpoint), then the full pod start,
 * RunPodSandbox + CreateContainer + StartContainer until the container runs,
 * per step and in sum ("seq", "par") on the endpoints that run containers;
 * run->pods pods one at a time (seq) and run->parallel at a time (par). Each
 * pod is removed right after it ran (outside the timing). The endpoints take
 * turns round by round; the floor (bare OCI runtime run, CNI ADD/DEL) runs
 * once per sequential sandbox, between the rounds, so RunPodSandbox can be
 * stated without the CNI plugins' own time.
 */
#include <math.h>
#include <stdlib.h>
#include <string.h>

#include "bench/pods.h"
#include "bench/trace.h"

#define ROUND_PODS 10

struct phase {
	const char *name;
	size_t workers;
	bool container;
	const char *teardown; /* series of StopPodSandbox + RemovePodSandbox */
};

static int start_remove(struct crid_bench_cri *cri, size_t i, void *user)
{
	const struct phase *ph = user;
	struct crid_bench_podtimes t;
	uint64_t t0;
	char *id;
	int rc;

	(void)i;
	if (crid_bench_pod_start(cri, ph->container, &id, &t) < 0) {
		if (id)
			crid_bench_pod_remove(cri, id);
		free(id);
		return -1;
	}
	crid_bench_record_podtimes(cri->ep, ph->name, &t);
	t0 = crid_bench_now_ns();
	rc = crid_bench_pod_remove(cri, id);
	if (rc == 0)
		crid_bench_record(cri->ep, ph->teardown, "ms",
				  (double)(crid_bench_now_ns() - t0) / 1e6);
	free(id);
	return rc;
}

/* Whether |ep| takes part in |ph|: full pods only where it runs containers. */
static bool takes_part(struct crid_bench_run *run, struct crid_bench_endpoint *ep,
		       const struct phase *ph)
{
	if (crid_bench_failed(ep))
		return false;
	return !ph->container || crid_bench_with_container(run, ep);
}

static void run_phase(struct crid_bench_run *run, const struct phase *ph, bool with_floor)
{
	size_t round = ph->workers > ROUND_PODS ? ph->workers : ROUND_PODS;
	size_t rounds = crid_bench_rounds(run->pods, round);
	double wall[CRID_BENCH_MAX_ENDPOINTS] = { 0 };
	size_t done[CRID_BENCH_MAX_ENDPOINTS] = { 0 };
	long trace_from[CRID_BENCH_MAX_ENDPOINTS];
	char name[64];

	for (size_t e = 0; e < run->n_ep; e++) /* the daemon's trace lines of this phase */
		trace_from[e] = crid_bench_trace_offset(&run->ep[e]);

	for (size_t r = 0; r < rounds; r++) {
		size_t k = crid_bench_round_calls(run->pods, round, r);

		for (size_t i = 0; i < run->n_ep; i++) {
			size_t e = crid_bench_round_order(r, i, run->n_ep);
			struct crid_bench_endpoint *ep = &run->ep[e];
			size_t d;

			if (!takes_part(run, ep, ph))
				continue;
			/* one pod per task, so per-pod teardown stays in its own worker */
			wall[e] += crid_bench_parallel(run, ep, k, ph->workers, 0, start_remove,
						       (void *)ph, &d);
			done[e] += d;
		}
		if (with_floor)
			for (size_t j = 0; j < k; j++)
				crid_bench_floor_once(run);
		crid_bench_progress(run, r + 1 == rounds, "%s: round %zu/%zu (%zu pods each)",
				    ph->name, r + 1, rounds, k);
	}
	for (size_t e = 0; e < run->n_ep; e++)
		crid_bench_trace_collect(&run->ep[e], ph->name, trace_from[e]);
	snprintf(name, sizeof(name), "%s.pods_per_s", ph->name);
	for (size_t e = 0; e < run->n_ep; e++)
		if (wall[e] > 0)
			crid_bench_set(&run->ep[e], "pods/s", (double)done[e] / wall[e], "%s",
				       name);
}

/* p50 of a series of |ep| (sorting its samples), NAN without samples. */
static double p50(const struct crid_bench_endpoint *ep, const char *series)
{
	const struct crid_bench_series *s = crid_bench_find_series(ep, series);
	struct crid_bench_summary sum;

	if (!s || !s->s.n)
		return NAN;
	crid_bench_summarize((struct crid_bench_samples *)&s->s, &sum);
	return sum.p50;
}

/* RunPodSandbox without the CNI plugins' own time: p50(sandbox.seq.run) - p50(cni_add). */
static void without_cni(struct crid_bench_run *run)
{
	double cni = p50(&run->floor, "cni_add");

	if (isnan(cni))
		return;
	for (size_t e = 0; e < run->n_ep; e++) {
		double sb = p50(&run->ep[e], "sandbox.seq.run");

		if (!isnan(sb))
			crid_bench_set(&run->ep[e], "ms", sb - cni,
				       "sandbox.seq.run_p50_minus_cni_add");
	}
}

int crid_bench_podstart_run(struct crid_bench_run *run)
{
	struct phase sb_seq = { "sandbox.seq", 1, false, "sandbox.teardown" },
		     sb_par = { "sandbox.par", run->parallel, false, "sandbox.teardown" },
		     seq = { "seq", 1, true, "teardown" },
		     par = { "par", run->parallel, true, "teardown" };

	crid_bench_pods_ready(run, false);
	run_phase(run, &sb_seq, true);
	run_phase(run, &sb_par, false);
	run_phase(run, &seq, false);
	run_phase(run, &par, false);
	without_cni(run);
	crid_bench_floor_cleanup();
	return 0;
}
