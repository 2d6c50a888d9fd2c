/*
 * density: pods with one sleeping container each (sandboxes only when an
 * endpoint runs no containers: then on every endpoint, crid_bench_pods_ready),
 * in steps (run->steps, after a first reading at 0 pods); after each step the
 * memory and processes of everything the runtime runs besides the containers
 * (daemon, shims, conmon, pause trees; procinfo.h), by kind, per pod and per
 * pod added since 0; at the end the teardown of all pods. Endpoints take
 * turns per step.
 */
#include <math.h>
#include <stdlib.h>
#include <string.h>

#include "bench/pods.h"

static const char *sock_of(const char *address)
{
	if (strncmp(address, "unix://", 7) == 0)
		return address + 7;
	if (strncmp(address, "unix:", 5) == 0)
		return address + 5;
	return address;
}

static double value(const struct crid_bench_endpoint *ep, const char *name)
{
	const struct crid_bench_value *v = crid_bench_find_value(ep, name);

	return v ? v->v : NAN;
}

/* Per pod: all of it / pods, and what the pods added to the reading at 0 pods / pods. */
static void per_pod(struct crid_bench_endpoint *ep, size_t pods, double pss, double rss,
		    size_t procs)
{
	double pss0 = value(ep, "pods_0.total.pss_kib"), rss0 = value(ep, "pods_0.total.rss_kib"),
	       procs0 = value(ep, "pods_0.total.procs"), n = (double)pods;

	crid_bench_set(ep, "KiB", pss / n, "pods_%zu.per_pod.pss_kib", pods);
	crid_bench_set(ep, "KiB", rss / n, "pods_%zu.per_pod.rss_kib", pods);
	if (isnan(pss0))
		return;
	crid_bench_set(ep, "KiB", (pss - pss0) / n, "pods_%zu.added_per_pod.pss_kib", pods);
	crid_bench_set(ep, "KiB", (rss - rss0) / n, "pods_%zu.added_per_pod.rss_kib", pods);
	crid_bench_set(ep, "procs", ((double)procs - procs0) / n, "pods_%zu.added_per_pod.procs",
		       pods);
}

static void measure(struct crid_bench_run *run, struct crid_bench_endpoint *ep, size_t pods)
{
	struct crid_bench_kindmem km[CRID_BENCH_KINDS];
	struct crid_bench_cri cri;
	struct crid_err err;
	int *sb = calloc(ep->n_pods ? ep->n_pods : 1, sizeof(*sb));
	double pss = 0, rss = 0;
	size_t procs = 0;

	if (!sb || ep->pid <= 0 || crid_bench_cri_open(&cri, run, ep) < 0) {
		if (ep->pid <= 0)
			crid_bench_fail(ep, 0, "density needs the daemon's pid (--pid): %s",
					ep->pid_note);
		free(sb);
		return;
	}
	for (size_t i = 0; i < ep->n_pods; i++)
		sb[i] = crid_bench_sandbox_pid(&cri, ep->pods[i]);
	crid_bench_cri_close(&cri);
	if (crid_bench_runtime_mem(ep->pid, sock_of(ep->address), sb, ep->n_pods, km, &err) < 0) {
		crid_bench_fail(ep, 0, "memory: %s", err.msg);
		free(sb);
		return;
	}
	free(sb);
	for (int k = 0; k < CRID_BENCH_KINDS; k++) {
		const char *kn = crid_bench_kind_name(k);

		crid_bench_set(ep, "procs", (double)km[k].procs, "pods_%zu.%s.procs", pods, kn);
		crid_bench_set(ep, "KiB", (double)km[k].pss_kib, "pods_%zu.%s.pss_kib", pods, kn);
		crid_bench_set(ep, "KiB", (double)km[k].rss_kib, "pods_%zu.%s.rss_kib", pods, kn);
		pss += (double)km[k].pss_kib;
		rss += (double)km[k].rss_kib;
		procs += km[k].procs;
	}
	crid_bench_set(ep, "KiB", pss, "pods_%zu.total.pss_kib", pods);
	crid_bench_set(ep, "KiB", rss, "pods_%zu.total.rss_kib", pods);
	crid_bench_set(ep, "procs", (double)procs, "pods_%zu.total.procs", pods);
	if (pods)
		per_pod(ep, pods, pss, rss, procs);
	if (ep->res.n_curve < CRID_BENCH_MAX_POINTS) {
		struct crid_bench_point *pt = &ep->res.curve[ep->res.n_curve++];

		pt->pods = pods;
		pt->pss_kib = pss;
		pt->rss_kib = rss;
	}
}

int crid_bench_density_run(struct crid_bench_run *run)
{
	crid_bench_pods_ready(run, true);
	crid_bench_sleep_ms(1000); /* the probe's pod is gone: let its helpers exit */
	for (size_t e = 0; e < run->n_ep; e++)
		if (!crid_bench_failed(&run->ep[e]))
			measure(run, &run->ep[e], 0);
	for (size_t s = 0; s < run->n_steps; s++) {
		size_t want = run->steps[s];

		for (size_t i = 0; i < run->n_ep; i++) {
			struct crid_bench_endpoint *ep =
			    &run->ep[crid_bench_round_order(s, i, run->n_ep)];
			size_t have = ep->n_pods;

			if (crid_bench_failed(ep))
				continue;
			crid_bench_progress(run, false, "%s: starting pods %zu..%zu", ep->name,
					    have + 1, want);
			if (want > have)
				crid_bench_parallel(run, ep, want - have, run->parallel, 0,
						    crid_bench_task_start_keep, "start", NULL);
			if (crid_bench_failed(ep))
				continue;
			crid_bench_sleep_ms(1000); /* let lazily started helpers settle */
			measure(run, ep, want);
		}
		crid_bench_progress(run, s + 1 == run->n_steps, "step %zu/%zu (%zu pods) measured",
				    s + 1, run->n_steps, want);
	}
	for (size_t e = 0; e < run->n_ep; e++) {
		struct crid_bench_endpoint *ep = &run->ep[e];
		size_t n = ep->n_pods;
		double wall;

		if (crid_bench_failed(ep))
			continue;
		crid_bench_progress(run, false, "%s: removing %zu pods", ep->name, n);
		wall = crid_bench_teardown(run, ep, run->parallel);
		crid_bench_set(ep, "s", wall, "teardown_s");
		if (n)
			crid_bench_set(ep, "ms", wall * 1000 / (double)n, "teardown_per_pod_ms");
	}
	crid_bench_progress(run, true, "teardown done");
	return 0;
}
