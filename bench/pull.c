/*
 * pull: cold pulls of run->pull_image: the image is removed first (the
 * runtime frees its layers; both containerd and crid delete synchronously),
 * then pulled once ("single"), and run->pull_parallel times at once on
 * separate connections ("parallel": what a deployment's pods landing on a
 * node together ask for). Throughput = the image's compressed bytes / wall.
 * Endpoints take turns per round.
 */
#include <stdio.h>
#include <stdlib.h>

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
