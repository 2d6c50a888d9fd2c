#include "bench/pods.h"

#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

struct pool {
	const struct crid_bench_run *run;
	struct crid_bench_endpoint *ep;
	size_t n, next, done;
	uint64_t deadline_ns;
	crid_bench_task_fn fn;
	void *user;
	pthread_mutex_t lock;
};

static bool claim(struct pool *p, size_t *i)
{
	bool ok;

	pthread_mutex_lock(&p->lock);
	ok = p->next < p->n && (!p->deadline_ns || crid_bench_now_ns() < p->deadline_ns);
	if (ok)
		*i = p->next++;
	pthread_mutex_unlock(&p->lock);
	return ok && !crid_bench_failed(p->ep);
}

static void *worker(void *arg)
{
	struct pool *p = arg;
	struct crid_bench_cri cri;
	size_t i;

	if (crid_bench_cri_open(&cri, p->run, p->ep) < 0)
		return NULL;
	while (claim(p, &i)) {
		if (p->fn(&cri, i, p->user) < 0)
			break;
		pthread_mutex_lock(&p->lock);
		p->done++;
		pthread_mutex_unlock(&p->lock);
	}
	crid_bench_cri_close(&cri);
	return NULL;
}

double crid_bench_parallel(const struct crid_bench_run *run, struct crid_bench_endpoint *ep,
			   size_t n, size_t workers, uint64_t deadline_ns, crid_bench_task_fn fn,
			   void *user, size_t *done)
{
	struct pool p = {
		.run = run, .ep = ep, .n = n, .deadline_ns = deadline_ns, .fn = fn, .user = user
	};
	size_t w = workers < n ? workers : n;
	pthread_t *th;
	size_t started = 0;
	uint64_t t0 = crid_bench_now_ns();

	if (done)
		*done = 0;
	if (!n)
		return 0;
	if (w == 0)
		w = 1;
	th = calloc(w, sizeof(*th));
	if (!th) {
		crid_bench_fail(ep, 0, "out of memory");
		return 0;
	}
	pthread_mutex_init(&p.lock, NULL);
	for (; started < w; started++)
		if (pthread_create(&th[started], NULL, worker, &p) != 0)
			break;
	if (!started)
		crid_bench_fail(ep, 0, "cannot start worker threads");
	for (size_t i = 0; i < started; i++)
		pthread_join(th[i], NULL);
	pthread_mutex_destroy(&p.lock);
	free(th);
	if (done)
		*done = p.done;
	return crid_bench_since_s(t0);
}

static void record_ms(struct crid_bench_endpoint *ep, const char *prefix, const char *step,
		      double ms)
{
	char name[48];

	if (isnan(ms))
		return; /* a step not taken: the pod was a sandbox only */
	snprintf(name, sizeof(name), "%s.%s", prefix, step);
	crid_bench_record(ep, name, "ms", ms);
}

void crid_bench_record_podtimes(struct crid_bench_endpoint *ep, const char *prefix,
				const struct crid_bench_podtimes *t)
{
	record_ms(ep, prefix, "run", t->run);
	record_ms(ep, prefix, "create", t->create);
	record_ms(ep, prefix, "start", t->start);
	record_ms(ep, prefix, "total", t->total);
}

int crid_bench_task_start_keep(struct crid_bench_cri *cri, size_t i, void *user)
{
	struct crid_bench_podtimes t;
	char *id;

	(void)i;
	if (crid_bench_pod_start(cri, true, &id, &t) < 0) {
		if (id)
			crid_bench_keep_pod(cri->ep, id); /* removed at teardown */
		return -1;
	}
	crid_bench_record_podtimes(cri->ep, user, &t);
	crid_bench_keep_pod(cri->ep, id);
	return 0;
}

struct teardown {
	char **pods;
};

static int remove_one(struct crid_bench_cri *cri, size_t i, void *user)
{
	struct teardown *td = user;
	uint64_t t0 = crid_bench_now_ns();

	if (crid_bench_pod_remove(cri, td->pods[i]) < 0)
		return -1;
	crid_bench_record(cri->ep, "teardown", "ms", (double)(crid_bench_now_ns() - t0) / 1e6);
	free(td->pods[i]);
	td->pods[i] = NULL;
	return 0;
}

static void drop_pods(struct crid_bench_endpoint *ep, struct teardown *td, size_t n)
{
	for (size_t i = 0; i < n; i++)
		free(td->pods[i]);
	free(td->pods);
	(void)ep;
}

double crid_bench_teardown(const struct crid_bench_run *run, struct crid_bench_endpoint *ep,
			   size_t workers)
{
	struct teardown td;
	size_t n;
	double wall;

	pthread_mutex_lock(&ep->lock);
	td.pods = ep->pods;
	n = ep->n_pods;
	ep->pods = NULL;
	ep->n_pods = ep->cap_pods = 0;
	pthread_mutex_unlock(&ep->lock);
	wall = crid_bench_parallel(run, ep, n, workers, 0, remove_one, &td, NULL);
	drop_pods(ep, &td, n);
	return wall;
}

void crid_bench_forget_pods(struct crid_bench_endpoint *ep)
{
	for (size_t i = 0; i < ep->n_pods; i++)
		free(ep->pods[i]);
	free(ep->pods);
	ep->pods = NULL;
	ep->n_pods = ep->cap_pods = 0;
}

void crid_bench_images_ready(struct crid_bench_run *run, const char *image)
{
	for (size_t e = 0; e < run->n_ep; e++) {
		struct crid_bench_endpoint *ep = &run->ep[e];
		struct crid_bench_cri cri;

		if (crid_bench_failed(ep) || crid_bench_cri_open(&cri, run, ep) < 0)
			continue;
		crid_bench_image_ensure(&cri, image);
		crid_bench_cri_close(&cri);
	}
}

/* One untimed pod with a container: tells whether the endpoint can run containers. */
static void probe(struct crid_bench_run *run, struct crid_bench_endpoint *ep)
{
	struct crid_bench_podtimes t;
	struct crid_bench_cri cri;
	char *id;

	if (crid_bench_failed(ep) || crid_bench_cri_open(&cri, run, ep) < 0)
		return;
	crid_bench_pod_start(&cri, true, &id, &t);
	if (id)
		crid_bench_pod_remove(&cri, id);
	free(id);
	crid_bench_cri_close(&cri);
}

void crid_bench_pods_ready(struct crid_bench_run *run, bool alike)
{
	crid_bench_images_ready(run, run->image);
	if (run->sandbox_only)
		return;
	for (size_t e = 0; e < run->n_ep; e++)
		probe(run, &run->ep[e]);
	for (size_t e = 0; e < run->n_ep && alike; e++)
		if (run->ep[e].no_containers && !crid_bench_failed(&run->ep[e]))
			run->sandbox_only = true;
	for (size_t e = 0; e < run->n_ep && run->sandbox_only; e++)
		if (!run->ep[e].no_containers)
			crid_bench_note(&run->ep[e], "pods are sandboxes only, like those of an "
						     "endpoint without containers");
}
