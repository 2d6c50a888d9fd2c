#include "bench/cri.h"

#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "proto/api.pb-c.h"

#define RT "/runtime.v1.RuntimeService/"
#define IMG "/runtime.v1.ImageService/"
#define POD_TIMEOUT_MS 240000 /* kubelet gives RunPodSandbox 2 x 2 min */

int crid_bench_cri_open(struct crid_bench_cri *cri, const struct crid_bench_run *run,
			struct crid_bench_endpoint *ep)
{
	cri->run = run;
	cri->ep = ep;
	cri->c = crid_bench_connect(run, ep);
	return cri->c ? 0 : -1;
}

void crid_bench_cri_close(struct crid_bench_cri *cri)
{
	crid_grpc_client_close(cri->c);
	cri->c = NULL;
}

static const char *short_method(const char *method)
{
	const char *s = strrchr(method, '/');

	return s ? s + 1 : method;
}

int crid_bench_cri_try(struct crid_bench_cri *cri, const char *method, const ProtobufCMessage *req,
		       const ProtobufCMessageDescriptor *resp_desc, ProtobufCMessage **resp,
		       int timeout_ms, char *msg, size_t msg_size)
{
	size_t len = protobuf_c_message_get_packed_size(req);
	uint8_t *buf = malloc(len ? len : 1);
	struct crid_grpc_result res = { 0 };
	struct crid_err err;
	int status;

	if (!buf) {
		snprintf(msg, msg_size, "out of memory");
		return -1;
	}
	protobuf_c_message_pack(req, buf);
	if (crid_grpc_client_call(cri->c, method, buf, len, timeout_ms, &res, &err) < 0) {
		free(buf);
		snprintf(msg, msg_size, "%s", err.msg);
		return -1;
	}
	free(buf);
	status = res.status;
	snprintf(msg, msg_size, "%s", res.message ? res.message : "");
	if (status == CRID_GRPC_OK && resp_desc) {
		*resp = protobuf_c_message_unpack(resp_desc, NULL, res.len, res.data);
		if (!*resp) {
			snprintf(msg, msg_size, "cannot decode the response");
			status = CRID_GRPC_INTERNAL;
		}
	}
	crid_grpc_result_free(&res);
	return status;
}

int crid_bench_cri_call(struct crid_bench_cri *cri, const char *method, const ProtobufCMessage *req,
			const ProtobufCMessageDescriptor *resp_desc, ProtobufCMessage **resp,
			int timeout_ms)
{
	char msg[CRID_ERR_MSG_MAX];
	int st =
	    crid_bench_cri_try(cri, method, req, resp_desc, resp, timeout_ms, msg, sizeof(msg));

	if (st == CRID_GRPC_OK)
		return 0;
	if (st < 0)
		crid_bench_fail(cri->ep, 0, "%s: %s", short_method(method), msg);
	else
		crid_bench_fail(cri->ep, st, "%s: rpc error: code = %s desc = %s",
				short_method(method), crid_grpc_status_name(st), msg);
	return -1;
}

static int timeout(const struct crid_bench_cri *cri)
{
	return cri->run->timeout_ms > POD_TIMEOUT_MS ? cri->run->timeout_ms : POD_TIMEOUT_MS;
}

int crid_bench_image_ensure(struct crid_bench_cri *cri, const char *image)
{
	Runtime__V1__ImageSpec spec = RUNTIME__V1__IMAGE_SPEC__INIT;
	Runtime__V1__ImageStatusRequest sreq = RUNTIME__V1__IMAGE_STATUS_REQUEST__INIT;
	Runtime__V1__PullImageRequest preq = RUNTIME__V1__PULL_IMAGE_REQUEST__INIT;
	Runtime__V1__ImageStatusResponse *sresp = NULL;
	bool present;

	spec.image = (char *)image;
	sreq.image = &spec;
	if (crid_bench_cri_call(cri, IMG "ImageStatus", &sreq.base,
				&runtime__v1__image_status_response__descriptor,
				(ProtobufCMessage **)&sresp, timeout(cri)) < 0)
		return -1;
	present = sresp->image != NULL;
	protobuf_c_message_free_unpacked(&sresp->base, NULL);
	if (present)
		return 0;
	preq.image = &spec;
	return crid_bench_cri_call(cri, IMG "PullImage", &preq.base, NULL, NULL, 0);
}

static double ms_since(uint64_t t0)
{
	return (double)(crid_bench_now_ns() - t0) / 1e6;
}

static int wait_running(struct crid_bench_cri *cri, char *ctr_id)
{
	Runtime__V1__ContainerStatusRequest req = RUNTIME__V1__CONTAINER_STATUS_REQUEST__INIT;
	uint64_t t0 = crid_bench_now_ns();

	req.container_id = ctr_id;
	for (;;) {
		Runtime__V1__ContainerStatusResponse *resp = NULL;
		Runtime__V1__ContainerState st;

		if (crid_bench_cri_call(cri, RT "ContainerStatus", &req.base,
					&runtime__v1__container_status_response__descriptor,
					(ProtobufCMessage **)&resp, timeout(cri)) < 0)
			return -1;
		st = resp->status ? resp->status->state
				  : RUNTIME__V1__CONTAINER_STATE__CONTAINER_UNKNOWN;
		protobuf_c_message_free_unpacked(&resp->base, NULL);
		if (st == RUNTIME__V1__CONTAINER_STATE__CONTAINER_RUNNING)
			return 0;
		if (st == RUNTIME__V1__CONTAINER_STATE__CONTAINER_EXITED) {
			crid_bench_fail(cri->ep, 0, "container %.12s exited right after start",
					ctr_id);
			return -1;
		}
		if (ms_since(t0) > timeout(cri)) {
			crid_bench_fail(cri->ep, 0, "container %.12s not running after %d ms",
					ctr_id, timeout(cri));
			return -1;
		}
		crid_bench_sleep_ms(1);
	}
}

/* What kubelet sends for a pod without shareProcessNamespace: a PID namespace per container. */
struct pod_linux {
	Runtime__V1__LinuxPodSandboxConfig lx;
	Runtime__V1__LinuxSandboxSecurityContext sc;
	Runtime__V1__NamespaceOption ns;
};

static void pod_config(struct crid_bench_cri *cri, Runtime__V1__PodSandboxConfig *cfg,
		       Runtime__V1__PodSandboxMetadata *md, struct pod_linux *pl, char *name,
		       size_t name_size, char *uid, size_t uid_size)
{
	size_t seq;

	pthread_mutex_lock(&cri->ep->lock);
	seq = cri->ep->seq++;
	pthread_mutex_unlock(&cri->ep->lock);
	snprintf(name, name_size, "%s-%zu", cri->run->scenario, seq);
	snprintf(uid, uid_size, "crid-bench-%d-%s-%s-%zu", (int)getpid(), cri->ep->name,
		 cri->run->scenario, seq);
	md->name = name;
	md->uid = uid;
	md->namespace_ = "crid-bench";
	cfg->metadata = md;
	cfg->hostname = name;
	runtime__v1__linux_pod_sandbox_config__init(&pl->lx);
	runtime__v1__linux_sandbox_security_context__init(&pl->sc);
	runtime__v1__namespace_option__init(&pl->ns);
	pl->ns.network = RUNTIME__V1__NAMESPACE_MODE__POD;
	pl->ns.pid = RUNTIME__V1__NAMESPACE_MODE__CONTAINER;
	pl->ns.ipc = RUNTIME__V1__NAMESPACE_MODE__POD;
	pl->sc.namespace_options = &pl->ns;
	pl->lx.security_context = &pl->sc;
	cfg->linux = &pl->lx;
}

bool crid_bench_with_container(const struct crid_bench_run *run, struct crid_bench_endpoint *ep)
{
	bool no;

	pthread_mutex_lock(&ep->lock);
	no = ep->no_containers;
	pthread_mutex_unlock(&ep->lock);
	return !run->sandbox_only && !no;
}

static int run_sandbox(struct crid_bench_cri *cri, Runtime__V1__PodSandboxConfig *cfg,
		       char **pod_id)
{
	Runtime__V1__RunPodSandboxRequest rreq = RUNTIME__V1__RUN_POD_SANDBOX_REQUEST__INIT;
	Runtime__V1__RunPodSandboxResponse *rresp = NULL;

	rreq.config = cfg;
	if (crid_bench_cri_call(cri, RT "RunPodSandbox", &rreq.base,
				&runtime__v1__run_pod_sandbox_response__descriptor,
				(ProtobufCMessage **)&rresp, timeout(cri)) < 0)
		return -1;
	*pod_id = strdup(rresp->pod_sandbox_id);
	protobuf_c_message_free_unpacked(&rresp->base, NULL);
	if (!*pod_id) {
		crid_bench_fail(cri->ep, 0, "out of memory");
		return -1;
	}
	return 0;
}

/* CreateContainer; 1 when the endpoint answers UNIMPLEMENTED (then noted, not failed). */
static int create_container(struct crid_bench_cri *cri, Runtime__V1__PodSandboxConfig *cfg,
			    char *pod_id, char **ctr_id)
{
	Runtime__V1__ContainerMetadata cmd = RUNTIME__V1__CONTAINER_METADATA__INIT;
	Runtime__V1__ImageSpec img = RUNTIME__V1__IMAGE_SPEC__INIT;
	Runtime__V1__ContainerConfig ccfg = RUNTIME__V1__CONTAINER_CONFIG__INIT;
	Runtime__V1__CreateContainerRequest creq = RUNTIME__V1__CREATE_CONTAINER_REQUEST__INIT;
	Runtime__V1__CreateContainerResponse *cresp = NULL;
	char msg[CRID_ERR_MSG_MAX];
	int st;

	cmd.name = "sleep";
	img.image = (char *)cri->run->image;
	ccfg.metadata = &cmd;
	ccfg.image = &img;
	creq.pod_sandbox_id = pod_id;
	creq.config = &ccfg;
	creq.sandbox_config = cfg;
	st = crid_bench_cri_try(cri, RT "CreateContainer", &creq.base,
				&runtime__v1__create_container_response__descriptor,
				(ProtobufCMessage **)&cresp, timeout(cri), msg, sizeof(msg));
	if (st == CRID_GRPC_UNIMPLEMENTED) {
		pthread_mutex_lock(&cri->ep->lock);
		cri->ep->no_containers = true;
		pthread_mutex_unlock(&cri->ep->lock);
		crid_bench_note(cri->ep,
				"CreateContainer answers UNIMPLEMENTED: pods are sandboxes "
				"only (no container)");
		return 1;
	}
	if (st != CRID_GRPC_OK) {
		if (st < 0)
			crid_bench_fail(cri->ep, 0, "CreateContainer: %s", msg);
		else
			crid_bench_fail(cri->ep, st,
					"CreateContainer: rpc error: code = %s desc = %s",
					crid_grpc_status_name(st), msg);
		return -1;
	}
	*ctr_id = strdup(cresp->container_id);
	protobuf_c_message_free_unpacked(&cresp->base, NULL);
	if (!*ctr_id) {
		crid_bench_fail(cri->ep, 0, "out of memory");
		return -1;
	}
	return 0;
}

int crid_bench_pod_start(struct crid_bench_cri *cri, bool container, char **pod_id,
			 struct crid_bench_podtimes *t)
{
	Runtime__V1__PodSandboxMetadata md = RUNTIME__V1__POD_SANDBOX_METADATA__INIT;
	Runtime__V1__PodSandboxConfig cfg = RUNTIME__V1__POD_SANDBOX_CONFIG__INIT;
	Runtime__V1__StartContainerRequest sreq = RUNTIME__V1__START_CONTAINER_REQUEST__INIT;
	struct pod_linux pl;
	char name[96], uid[160], *ctr_id = NULL;
	uint64_t t0 = crid_bench_now_ns(), t1;
	int rc;

	*pod_id = NULL;
	t->run = t->create = t->start = t->total = NAN;
	pod_config(cri, &cfg, &md, &pl, name, sizeof(name), uid, sizeof(uid));
	if (run_sandbox(cri, &cfg, pod_id) < 0)
		return -1;
	t->run = ms_since(t0);
	if (!container || !crid_bench_with_container(cri->run, cri->ep))
		return 0;

	t1 = crid_bench_now_ns();
	rc = create_container(cri, &cfg, *pod_id, &ctr_id);
	if (rc != 0)
		return rc > 0 ? 0 : -1;
	t->create = ms_since(t1);

	t1 = crid_bench_now_ns();
	sreq.container_id = ctr_id;
	rc = crid_bench_cri_call(cri, RT "StartContainer", &sreq.base, NULL, NULL, timeout(cri));
	if (rc == 0)
		rc = wait_running(cri, ctr_id);
	free(ctr_id);
	if (rc < 0)
		return -1;
	t->start = ms_since(t1);
	t->total = ms_since(t0);
	return 0;
}

int crid_bench_pod_remove(struct crid_bench_cri *cri, const char *pod_id)
{
	Runtime__V1__StopPodSandboxRequest sreq = RUNTIME__V1__STOP_POD_SANDBOX_REQUEST__INIT;
	Runtime__V1__RemovePodSandboxRequest rreq = RUNTIME__V1__REMOVE_POD_SANDBOX_REQUEST__INIT;

	sreq.pod_sandbox_id = (char *)pod_id;
	rreq.pod_sandbox_id = (char *)pod_id;
	if (crid_bench_cri_call(cri, RT "StopPodSandbox", &sreq.base, NULL, NULL, timeout(cri)) < 0)
		return -1;
	return crid_bench_cri_call(cri, RT "RemovePodSandbox", &rreq.base, NULL, NULL,
				   timeout(cri));
}

/* A positive integer after "|key|": in |json|, or 0. */
static int int_after(const char *json, const char *key)
{
	const char *p = strstr(json, key);

	if (!p)
		return 0;
	p += strlen(key);
	while (*p == ' ' || *p == ':' || *p == '\n' || *p == '\t')
		p++;
	return *p >= '1' && *p <= '9' ? atoi(p) : 0;
}

/*
 * containerd puts {"pid": N, ...} in info["info"]; crid names a PID namespace
 * holder "pidHolder" (0: none, its "pid" is a path); other runtimes may not.
 */
static int pid_from_info(const char *json)
{
	int pid = int_after(json, "\"pid\"");

	return pid ? pid : int_after(json, "\"pidHolder\"");
}

int crid_bench_sandbox_pid(struct crid_bench_cri *cri, const char *pod_id)
{
	Runtime__V1__PodSandboxStatusRequest req = RUNTIME__V1__POD_SANDBOX_STATUS_REQUEST__INIT;
	Runtime__V1__PodSandboxStatusResponse *resp = NULL;
	char msg[CRID_ERR_MSG_MAX];
	int pid = 0;

	req.pod_sandbox_id = (char *)pod_id;
	req.verbose = true;
	if (crid_bench_cri_try(cri, RT "PodSandboxStatus", &req.base,
			       &runtime__v1__pod_sandbox_status_response__descriptor,
			       (ProtobufCMessage **)&resp, timeout(cri), msg, sizeof(msg)) != 0)
		return 0;
	for (size_t i = 0; i < resp->n_info && !pid; i++)
		pid = pid_from_info(resp->info[i]->value);
	protobuf_c_message_free_unpacked(&resp->base, NULL);
	return pid;
}

void crid_bench_keep_pod(struct crid_bench_endpoint *ep, char *id)
{
	pthread_mutex_lock(&ep->lock);
	if (ep->n_pods == ep->cap_pods) {
		size_t cap = ep->cap_pods ? ep->cap_pods * 2 : 64;
		char **p = realloc(ep->pods, cap * sizeof(*p));

		if (!p) {
			pthread_mutex_unlock(&ep->lock);
			free(id);
			return;
		}
		ep->pods = p;
		ep->cap_pods = cap;
	}
	ep->pods[ep->n_pods++] = id;
	pthread_mutex_unlock(&ep->lock);
}
