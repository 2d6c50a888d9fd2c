/*
 * The CRI calls crid-bench's pod and image scenarios make, blocking, on one
 * connection per worker thread. A call that fails marks its endpoint failed
 * (crid_bench_fail: UNIMPLEMENTED = skipped) unless said otherwise.
 */
#ifndef CRID_BENCH_CRI_H
#define CRID_BENCH_CRI_H

#include <protobuf-c/protobuf-c.h>

#include "bench/bench.h"

struct crid_bench_cri {
	const struct crid_bench_run *run;
	struct crid_bench_endpoint *ep;
	struct crid_grpc_client *c;
};

/* Opens a connection for |ep|. Returns 0, or -1 with |ep| marked failed. */
int crid_bench_cri_open(struct crid_bench_cri *cri, const struct crid_bench_run *run,
			struct crid_bench_endpoint *ep);
void crid_bench_cri_close(struct crid_bench_cri *cri);

/*
 * One unary call; |resp_desc| NULL ignores the response, else *resp gets it
 * (free with protobuf_c_message_free_unpacked). Returns the gRPC status, or
 * -1 when the call could not be made; never marks the endpoint. |msg| gets
 * the status message.
 */
int crid_bench_cri_try(struct crid_bench_cri *cri, const char *method, const ProtobufCMessage *req,
		       const ProtobufCMessageDescriptor *resp_desc, ProtobufCMessage **resp,
		       int timeout_ms, char *msg, size_t msg_size);

/* The same, but any failure marks the endpoint. Returns 0 or -1. */
int crid_bench_cri_call(struct crid_bench_cri *cri, const char *method, const ProtobufCMessage *req,
			const ProtobufCMessageDescriptor *resp_desc, ProtobufCMessage **resp,
			int timeout_ms);

/* Pulls |image| unless present. */
int crid_bench_image_ensure(struct crid_bench_cri *cri, const char *image);

/* Per-step latencies of starting one pod, in ms; NAN for a step not taken. */
struct crid_bench_podtimes {
	double run, create, start, total;
};

/* Whether a pod of |ep| gets a container (not when sandbox-only by choice or by lack). */
bool crid_bench_with_container(const struct crid_bench_run *run, struct crid_bench_endpoint *ep);

/*
 * RunPodSandbox, then (when |container| and crid_bench_with_container())
 * CreateContainer (run->image) + StartContainer and ContainerStatus until
 * RUNNING. A CreateContainer answered UNIMPLEMENTED is no failure: it sets
 * ep->no_containers and a note, and the pod stays a sandbox. On success
 * *pod_id (malloc'd) is the sandbox.
 */
int crid_bench_pod_start(struct crid_bench_cri *cri, bool container, char **pod_id,
			 struct crid_bench_podtimes *t);

/* StopPodSandbox + RemovePodSandbox. */
int crid_bench_pod_remove(struct crid_bench_cri *cri, const char *pod_id);

/*
 * The pid of the sandbox's own process (pause, or crid's PID namespace holder)
 * from verbose PodSandboxStatus, 0 if none.
 */
int crid_bench_sandbox_pid(struct crid_bench_cri *cri, const char *pod_id);

/* Keeps |id| (taking ownership) in ep->pods; thread-safe. */
void crid_bench_keep_pod(struct crid_bench_endpoint *ep, char *id);

#endif
