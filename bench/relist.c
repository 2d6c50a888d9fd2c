/*
 * relist: with run->pods pods running, the load kubelet puts on a runtime
 * (ListPodSandbox + ListContainers every second, Status every 5 s,
 * ListContainerStats, ListPodSandboxStats, ListImages + ImageFsInfo every
 * 10 s) from a second connection, and the loop's worst iteration every 5 s
 * (crid's verbose Status "loop" info, reset on read: "max_iteration_us"),
 * while pods start one after another on the first: latency of each list
 * call, of pod start under that load, and the daemon's CPU time per second.
 * Endpoints take turns in windows of up to 10 s until each had
 * run->duration_s. Pods are sandboxes only on every endpoint when one runs
 * no containers; a list method an endpoint answers UNIMPLEMENTED is noted.
 */
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "bench/pods.h"
#include "io/grpc_wire.h"
#include "proto/api.pb-c.h"

#define RT "/runtime.v1.RuntimeService/"
#define IS "/runtime.v1.ImageService/"
#define WINDOW_S 10.0
/*
 * The calls added after the scenario's first figures (ListPodSandboxStats,
 * ListImages): an error answer is noted and the call dropped, not the
 * endpoint failed, so the older figures stay comparable.
 */
#define OPTIONAL_CALLS (32u | 64u)

struct load {
	const struct crid_bench_run *run;
	struct crid_bench_endpoint *ep;
	uint64_t end_ns;
	long tick; /* seconds since the scenario began, across windows */
};

/*
 * One call, timed; a method the endpoint answers UNIMPLEMENTED (or, for
 * OPTIONAL_CALLS, any error) is noted and not called again.
 */
static void timed(struct crid_bench_cri *cri, const char *method, const ProtobufCMessage *req,
		  const ProtobufCMessageDescriptor *desc, const char *series, unsigned *unimpl,
		  unsigned bit)
{
	ProtobufCMessage *resp = NULL;
	uint64_t t0 = crid_bench_now_ns();
	char msg[CRID_ERR_MSG_MAX];
	int st;

	if (*unimpl & bit)
		return;
	st = crid_bench_cri_try(cri, method, req, desc, &resp, cri->run->timeout_ms, msg,
				sizeof(msg));
	if (st == CRID_GRPC_UNIMPLEMENTED) {
		*unimpl |= bit;
		crid_bench_note(cri->ep, "%s answers UNIMPLEMENTED: not measured",
				strrchr(method, '/') + 1);
		return;
	}
	if (st != CRID_GRPC_OK && (bit & OPTIONAL_CALLS) && st > 0) {
		/* containerd 1.6 fails ListPodSandboxStats for pods without a cgroup parent */
		*unimpl |= bit;
		crid_bench_note(cri->ep, "%s failed: %s: not measured", strrchr(method, '/') + 1,
				msg);
		return;
	}
	if (st != CRID_GRPC_OK) {
		crid_bench_fail(cri->ep, st < 0 ? 0 : st, "%s: %s", strrchr(method, '/') + 1, msg);
		return;
	}
	crid_bench_record(cri->ep, series, "ms", (double)(crid_bench_now_ns() - t0) / 1e6);
	protobuf_c_message_free_unpacked(resp, NULL);
}

/*
 * The worst loop iteration since the last read (crid only: verbose Status,
 * info "loop" = {"maxIterationUs":N}), recorded as a sample; bench/pull.c
 * reads it the same way.
 */
static void max_iteration(struct crid_bench_cri *cri, unsigned *unimpl)
{
	Runtime__V1__StatusRequest req = RUNTIME__V1__STATUS_REQUEST__INIT;
	Runtime__V1__StatusResponse *resp = NULL;
	char msg[CRID_ERR_MSG_MAX];

	req.verbose = 1;
	if (*unimpl & 128 || crid_bench_cri_try(cri, RT "Status", &req.base,
						&runtime__v1__status_response__descriptor,
						(ProtobufCMessage **)&resp, cri->run->timeout_ms,
						msg, sizeof(msg)) != CRID_GRPC_OK)
		return;
	*unimpl |= 128; /* until an answer has the figure */
	for (size_t i = 0; i < resp->n_info; i++) {
		const char *v = resp->info[i]->value;
		const char *k = v ? strstr(v, "\"maxIterationUs\":") : NULL;

		if (strcmp(resp->info[i]->key, "loop") == 0 && k) {
			crid_bench_record(cri->ep, "max_iteration_us", "us",
					  strtod(k + strlen("\"maxIterationUs\":"), NULL));
			*unimpl &= ~128u;
		}
	}
	protobuf_c_message_free_unpacked(&resp->base, NULL);
}

/* Every 10 s: the stats and image calls kubelet's housekeeping and image GC make. */
static void every_10s(struct crid_bench_cri *cri, unsigned *unimpl)
{
	Runtime__V1__ListContainerStatsRequest ls = RUNTIME__V1__LIST_CONTAINER_STATS_REQUEST__INIT;
	Runtime__V1__ListPodSandboxStatsRequest lps =
	    RUNTIME__V1__LIST_POD_SANDBOX_STATS_REQUEST__INIT;
	Runtime__V1__ListImagesRequest li = RUNTIME__V1__LIST_IMAGES_REQUEST__INIT;
	Runtime__V1__ImageFsInfoRequest fs = RUNTIME__V1__IMAGE_FS_INFO_REQUEST__INIT;

	timed(cri, RT "ListContainerStats", &ls.base,
	      &runtime__v1__list_container_stats_response__descriptor, "list_container_stats",
	      unimpl, 8);
	timed(cri, RT "ListPodSandboxStats", &lps.base,
	      &runtime__v1__list_pod_sandbox_stats_response__descriptor, "list_pod_stats", unimpl,
	      32);
	timed(cri, IS "ListImages", &li.base, &runtime__v1__list_images_response__descriptor,
	      "list_images", unimpl, 64);
	timed(cri, IS "ImageFsInfo", &fs.base, &runtime__v1__image_fs_info_response__descriptor,
	      "image_fs_info", unimpl, 16);
}

static void *load_thread(void *arg)
{
	struct load *ld = arg;
	struct crid_bench_cri cri;
	Runtime__V1__ListPodSandboxRequest lp = RUNTIME__V1__LIST_POD_SANDBOX_REQUEST__INIT;
	Runtime__V1__ListContainersRequest lc = RUNTIME__V1__LIST_CONTAINERS_REQUEST__INIT;
	Runtime__V1__StatusRequest st = RUNTIME__V1__STATUS_REQUEST__INIT;
	uint64_t next = crid_bench_now_ns();
	unsigned unimpl = 0; /* bits of the methods answered UNIMPLEMENTED */

	if (crid_bench_cri_open(&cri, ld->run, ld->ep) < 0)
		return NULL;
	while (next < ld->end_ns && !crid_bench_failed(ld->ep)) {
		timed(&cri, RT "ListPodSandbox", &lp.base,
		      &runtime__v1__list_pod_sandbox_response__descriptor, "list_pods", &unimpl, 1);
		timed(&cri, RT "ListContainers", &lc.base,
		      &runtime__v1__list_containers_response__descriptor, "list_containers",
		      &unimpl, 2);
		if (ld->tick % 5 == 0)
			timed(&cri, RT "Status", &st.base,
			      &runtime__v1__status_response__descriptor, "status", &unimpl, 4);
		if (ld->tick % 10 == 0)
			every_10s(&cri, &unimpl);
		if (ld->tick % 5 == 2)
			max_iteration(&cri, &unimpl);
		ld->tick++;
		next += 1000000000ull;
		while (crid_bench_now_ns() < next && crid_bench_now_ns() < ld->end_ns)
			crid_bench_sleep_ms(10);
	}
	crid_bench_cri_close(&cri);
	return NULL;
}

static void window(struct crid_bench_run *run, struct crid_bench_endpoint *ep, double secs,
		   long *tick, double *cpu_s, double *wall_s)
{
	struct load ld = { run, ep, 0, *tick };
	long hz = sysconf(_SC_CLK_TCK), c0, c1;
	uint64_t t0 = crid_bench_now_ns();
	pthread_t th;

	ld.end_ns = t0 + (uint64_t)(secs * 1e9);
	c0 = ep->pid > 0 ? crid_bench_cpu_ticks(ep->pid) : -1;
	if (pthread_create(&th, NULL, load_thread, &ld) != 0) {
		crid_bench_fail(ep, 0, "cannot start the load thread");
		return;
	}
	crid_bench_parallel(run, ep, (size_t)-1 / 2, 1, ld.end_ns, crid_bench_task_start_keep,
			    "start", NULL);
	pthread_join(th, NULL);
	*tick = ld.tick;
	c1 = ep->pid > 0 ? crid_bench_cpu_ticks(ep->pid) : -1;
	if (c0 >= 0 && c1 >= c0 && hz > 0) {
		*cpu_s += (double)(c1 - c0) / (double)hz;
		*wall_s += crid_bench_since_s(t0);
	}
}

int crid_bench_relist_run(struct crid_bench_run *run)
{
	size_t windows = (size_t)(run->duration_s / WINDOW_S);
	double cpu[CRID_BENCH_MAX_ENDPOINTS] = { 0 }, wall[CRID_BENCH_MAX_ENDPOINTS] = { 0 };
	long tick[CRID_BENCH_MAX_ENDPOINTS] = { 0 };
	double last = run->duration_s - (double)windows * WINDOW_S;

	if (last > 0.01)
		windows++;
	crid_bench_pods_ready(run, true);
	for (size_t e = 0; e < run->n_ep; e++) {
		struct crid_bench_endpoint *ep = &run->ep[e];

		if (crid_bench_failed(ep))
			continue;
		crid_bench_progress(run, false, "%s: starting %zu background pods", ep->name,
				    run->pods);
		crid_bench_parallel(run, ep, run->pods, run->parallel, 0,
				    crid_bench_task_start_keep, "prefill", NULL);
	}
	for (size_t w = 0; w < windows; w++) {
		double secs = (w + 1 == windows && last > 0.01) ? last : WINDOW_S;

		for (size_t i = 0; i < run->n_ep; i++) {
			size_t e = crid_bench_round_order(w, i, run->n_ep);

			if (!crid_bench_failed(&run->ep[e]))
				window(run, &run->ep[e], secs, &tick[e], &cpu[e], &wall[e]);
		}
		crid_bench_progress(run, w + 1 == windows, "window %zu/%zu", w + 1, windows);
	}
	for (size_t e = 0; e < run->n_ep; e++) {
		struct crid_bench_endpoint *ep = &run->ep[e];

		if (wall[e] > 0)
			crid_bench_set(ep, "ms/s", cpu[e] * 1000 / wall[e], "daemon_cpu_ms_per_s");
		if (!crid_bench_failed(ep))
			crid_bench_set(ep, "pods", (double)run->pods, "pods_running_before");
		crid_bench_relist_stream(run, ep);
		crid_bench_teardown(run, ep, run->parallel);
		crid_bench_forget_pods(ep);
	}
	return 0;
}
