/*
 * cleanup: removes every pod in namespace "crid-bench" from each endpoint,
 * e.g. what an interrupted run left behind. bench/run.sh calls it before it
 * stops the daemons. Errors are reported, never fatal.
 */
#include <string.h>

#include "bench/pods.h"
#include "proto/api.pb-c.h"

static void clean(struct crid_bench_run *run, struct crid_bench_endpoint *ep)
{
	Runtime__V1__ListPodSandboxRequest req = RUNTIME__V1__LIST_POD_SANDBOX_REQUEST__INIT;
	Runtime__V1__ListPodSandboxResponse *resp = NULL;
	struct crid_bench_cri cri;
	size_t removed = 0;

	if (crid_bench_cri_open(&cri, run, ep) < 0)
		return;
	if (crid_bench_cri_call(&cri, "/runtime.v1.RuntimeService/ListPodSandbox", &req.base,
				&runtime__v1__list_pod_sandbox_response__descriptor,
				(ProtobufCMessage **)&resp, run->timeout_ms) == 0) {
		for (size_t i = 0; i < resp->n_items; i++) {
			Runtime__V1__PodSandbox *p = resp->items[i];

			if (p->metadata && strcmp(p->metadata->namespace_, "crid-bench") == 0 &&
			    crid_bench_pod_remove(&cri, p->id) == 0)
				removed++;
		}
		protobuf_c_message_free_unpacked(&resp->base, NULL);
	}
	crid_bench_cri_close(&cri);
	crid_bench_set(ep, "pods", (double)removed, "removed");
}

int crid_bench_cleanup_run(struct crid_bench_run *run)
{
	for (size_t e = 0; e < run->n_ep; e++)
		clean(run, &run->ep[e]);
	return 0;
}
