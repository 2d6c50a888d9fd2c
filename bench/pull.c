/*
 * pull: cold pulls of run->pull_image: the image is removed first (the
 * runtime frees its layers; both containerd and crid delete synchronously),
 * then pulled once ("single"), and run->pull_parallel times at once on
 * separate connections ("parallel": what a deployment's pods landing on a
 * node together ask for). Throughput = the image's compressed bytes / wall.
 * Endpoints take turns per round.
 *
 * During the single pull a second connection calls Version back to back
 * ("single.version_during_us"): what an unrelated client (kubelet's relist)
 * sees while the runtime unpacks. Endpoints whose verbose Status reports
 * the loop's worst iteration (crid: info "loop" = {"maxIterationUs":N},
 * reset on read) also give "single.max_iteration_us", one sample per pull.
 */
#include <pthread.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "bench/pods.h"
#include "proto/api.pb-c.h"

#define IMG "/runtime.v1.ImageService/"

static int remove_image(struct crid_bench_cri *cri, const char *image)
{
	Runtime__V1__ImageSpec spec = RUNTIME__V1__IMAGE_SPEC__INIT;
	Runtime__V1__RemoveImageRequest req = RUNTIME__V1__REMOVE_IMAGE_REQUEST__INIT;
	char msg[CRID_ERR_MSG_MAX];
	int st;

	spec.image = (char *)image;
	req.image = &spec;
	st = crid_bench_cri_try(cri, IMG "RemoveImage", &req.base, NULL, NULL, 0, msg, sizeof(msg));
	if (st == CRID_GRPC_OK || st == CRID_GRPC_NOT_FOUND)
		return 0;
	if (st < 0)
		crid_bench_fail(cri->ep, 0, "RemoveImage: %s", msg);
	else
		crid_bench_fail(cri->ep, st, "RemoveImage: rpc error: code = %s desc = %s",
				crid_grpc_status_name(st), msg);
	return -1;
}

static int pull_task(struct crid_bench_cri *cri, size_t i, void *user)
{
	Runtime__V1__ImageSpec spec = RUNTIME__V1__IMAGE_SPEC__INIT;
	Runtime__V1__PullImageRequest req = RUNTIME__V1__PULL_IMAGE_REQUEST__INIT;
	uint64_t t0 = crid_bench_now_ns();

	(void)i;
	spec.image = (char *)cri->run->pull_image;
	req.image = &spec;
	if (crid_bench_cri_call(cri, IMG "PullImage", &req.base, NULL, NULL, 0) < 0)
		return -1;
	crid_bench_record(cri->ep, user, "s", crid_bench_since_s(t0));
	return 0;
}

#define RT "/runtime.v1.RuntimeService/"

/* The worst loop iteration since the last read, in µs, or -1 if the endpoint has no such figure. */
static double max_iteration_us(struct crid_bench_cri *cri)
{
	Runtime__V1__StatusRequest req = RUNTIME__V1__STATUS_REQUEST__INIT;
	Runtime__V1__StatusResponse *resp = NULL;
	char msg[CRID_ERR_MSG_MAX];
	double us = -1;

	req.verbose = 1;
	if (crid_bench_cri_try(
		cri, RT "Status", &req.base, &runtime__v1__status_response__descriptor,
		(ProtobufCMessage **)&resp, cri->run->timeout_ms, msg, sizeof(msg)) != CRID_GRPC_OK)
		return -1;
	for (size_t i = 0; i < resp->n_info; i++) {
		const char *v = resp->info[i]->value;
		const char *k = v ? strstr(v, "\"maxIterationUs\":") : NULL;

		if (strcmp(resp->info[i]->key, "loop") == 0 && k)
			us = strtod(k + strlen("\"maxIterationUs\":"), NULL);
	}
	protobuf_c_message_free_unpacked(&resp->base, NULL);
	return us;
}

struct probe {
	struct crid_bench_cri cri;
	atomic_bool stop;
	size_t errors;
};

/* Version back to back on its own connection until told to stop. */
static void *probe_main(void *arg)
{
	Runtime__V1__VersionRequest req = RUNTIME__V1__VERSION_REQUEST__INIT;
	struct probe *pr = arg;
	char msg[CRID_ERR_MSG_MAX];

	req.version = "0.1.0";
	while (!atomic_load(&pr->stop)) {
		uint64_t t0 = crid_bench_now_ns();

		if (crid_bench_cri_try(&pr->cri, RT "Version", &req.base, NULL, NULL, 0, msg,
				       sizeof(msg)) != CRID_GRPC_OK) {
			pr->errors++;
			crid_bench_sleep_ms(1);
			continue;
		}
		crid_bench_record(pr->cri.ep, "single.version_during_us", "us",
				  (double)(crid_bench_now_ns() - t0) / 1e3);
	}
	return NULL;
}

static double image_bytes(struct crid_bench_cri *cri)
{
	Runtime__V1__ImageSpec spec = RUNTIME__V1__IMAGE_SPEC__INIT;
	Runtime__V1__ImageStatusRequest req = RUNTIME__V1__IMAGE_STATUS_REQUEST__INIT;
	Runtime__V1__ImageStatusResponse *resp = NULL;
	double size = 0;

	if (cri->run->pull_bytes > 0)
		return cri->run->pull_bytes;
	spec.image = (char *)cri->run->pull_image;
	req.image = &spec;
	if (crid_bench_cri_call(cri, IMG "ImageStatus", &req.base,
				&runtime__v1__image_status_response__descriptor,
				(ProtobufCMessage **)&resp, cri->run->timeout_ms) < 0)
		return 0;
	if (resp->image)
		size = (double)resp->image->size;
	protobuf_c_message_free_unpacked(&resp->base, NULL);
	return size;
}

/* The single pull with the Version probe running on a second connection. */
static double single_with_probe(struct crid_bench_run *run, struct crid_bench_endpoint *ep,
				struct crid_bench_cri *cri, char *series, size_t *done)
{
	struct probe pr = { 0 };
	pthread_t th;
	bool probing = false;
	double wall, us;

	atomic_init(&pr.stop, false);
	max_iteration_us(cri); /* resets it */
	if (crid_bench_cri_open(&pr.cri, run, ep) == 0)
		probing = pthread_create(&th, NULL, probe_main, &pr) == 0;
	wall = crid_bench_parallel(run, ep, 1, 1, 0, pull_task, series, done);
	if (probing) {
		atomic_store(&pr.stop, true);
		pthread_join(th, NULL);
		crid_bench_cri_close(&pr.cri);
		if (pr.errors)
			fprintf(stderr,
				"crid-bench: %s: %zu Version calls failed during the pull\n",
				ep->name, pr.errors);
	}
	us = max_iteration_us(cri);
	if (*done == 1 && us >= 0)
		crid_bench_record(ep, "single.max_iteration_us", "us", us);
	return wall;
}

static void one(struct crid_bench_run *run, struct crid_bench_endpoint *ep, size_t n,
		const char *name)
{
	struct crid_bench_cri cri;
	char series[48];
	double wall, bytes;
	size_t done;

	if (crid_bench_cri_open(&cri, run, ep) < 0)
		return;
	if (remove_image(&cri, run->pull_image) < 0) {
		crid_bench_cri_close(&cri);
		return;
	}
	snprintf(series, sizeof(series), "%s.pull_s", name);
	if (n == 1)
		wall = single_with_probe(run, ep, &cri, series, &done);
	else
		wall = crid_bench_parallel(run, ep, n, n, 0, pull_task, series, &done);
	bytes = done == n ? image_bytes(&cri) : 0;
	crid_bench_cri_close(&cri);
	if (done != n || bytes <= 0 || wall <= 0)
		return;
	snprintf(series, sizeof(series), "%s.wall_s", name);
	crid_bench_record(ep, series, "s", wall);
	snprintf(series, sizeof(series), "%s.mb_per_s", name);
	crid_bench_record(ep, series, "MB/s", bytes / 1e6 / wall);
	crid_bench_set(ep, "MB", bytes / 1e6, "image_mb");
}

int crid_bench_pull_run(struct crid_bench_run *run)
{
	for (size_t r = 0; r < run->rounds; r++) {
		for (size_t i = 0; i < run->n_ep; i++) {
			struct crid_bench_endpoint *ep =
			    &run->ep[crid_bench_round_order(r, i, run->n_ep)];

			if (crid_bench_failed(ep))
				continue;
			crid_bench_progress(run, false, "round %zu/%zu: %s single", r + 1,
					    run->rounds, ep->name);
			one(run, ep, 1, "single");
			if (crid_bench_failed(ep))
				continue;
			crid_bench_progress(run, false, "round %zu/%zu: %s %zu at once", r + 1,
					    run->rounds, ep->name, run->pull_parallel);
			one(run, ep, run->pull_parallel, "parallel");
		}
	}
	crid_bench_progress(run, true, "%zu rounds done", run->rounds);
	return 0;
}
