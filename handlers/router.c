/*
 * Every RPC's way in: routes `/runtime.v1.RuntimeService/<M>` and
 * `/runtime.v1.ImageService/<M>` to the handlers of handlers/methods.h,
 * decodes and checks the request (handlers/request_check.c), maps errors to
 * gRPC status and encodes replies (the crid_rpc_* of handlers/rpc.h).
 */
#include <errno.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "handlers/list_stream.h"
#include "handlers/methods.h"
#include "handlers/metrics.h"
#include "handlers/pull.h"
#include "handlers/request_check.h"
#include "proto/api.pb-c.h"
#include "reactor/log.h"
#include "reactor/mem.h"
#include "reactor/metrics_families.h"

/* Request temporaries beyond this are refused: requests are capped at 16 MiB on the wire. */
#define RPC_ARENA_LIMIT (64u << 20)

struct crid_method {
	char path[96];
	const char *name; /* "Version" */
	const ProtobufCServiceDescriptor *service;
	const ProtobufCMessageDescriptor *input;
	crid_handler_fn fn; /* NULL: not implemented yet */
	int quiet;	    /* polled by kubelet every few seconds: log at debug only */
};

struct implemented {
	const char *name;
	crid_handler_fn fn;
	int quiet;
};

/* The RuntimeService methods crid implements; every other one answers UNIMPLEMENTED. */
static const struct implemented runtime_methods[] = {
	{ "Version", crid_handle_version, 1 },
	{ "Status", crid_handle_status, 1 },
	{ "RuntimeConfig", crid_handle_runtime_config, 0 },
	{ "UpdateRuntimeConfig", crid_handle_update_runtime_config, 0 },
	{ "RunPodSandbox", crid_handle_run_pod_sandbox, 0 },
	{ "StopPodSandbox", crid_handle_stop_pod_sandbox, 0 },
	{ "RemovePodSandbox", crid_handle_remove_pod_sandbox, 0 },
	{ "PodSandboxStatus", crid_handle_pod_sandbox_status, 1 },
	{ "ListPodSandbox", crid_handle_list_pod_sandbox, 1 },
	{ "UpdatePodSandboxResources", crid_handle_update_pod_sandbox_resources, 0 },
	{ "CreateContainer", crid_handle_create_container, 0 },
	{ "StartContainer", crid_handle_start_container, 0 },
	{ "StopContainer", crid_handle_stop_container, 0 },
	{ "RemoveContainer", crid_handle_remove_container, 0 },
	{ "ContainerStatus", crid_handle_container_status, 1 },
	{ "ListContainers", crid_handle_list_containers, 1 },
	{ "UpdateContainerResources", crid_handle_update_container_resources, 0 },
	{ "ReopenContainerLog", crid_handle_reopen_container_log, 0 },
	{ "ExecSync", crid_handle_exec_sync, 1 },
	{ "Exec", crid_handle_exec, 0 },
	{ "Attach", crid_handle_attach, 0 },
	{ "PortForward", crid_handle_port_forward, 0 },
	{ "GetContainerEvents", crid_handle_get_container_events, 0 },
	{ "ContainerStats", crid_handle_container_stats, 1 },
	{ "ListContainerStats", crid_handle_list_container_stats, 1 },
	{ "PodSandboxStats", crid_handle_pod_sandbox_stats, 1 },
	{ "ListPodSandboxStats", crid_handle_list_pod_sandbox_stats, 1 },
	{ "ListMetricDescriptors", crid_handle_list_metric_descriptors, 1 },
	{ "ListPodSandboxMetrics", crid_handle_list_pod_sandbox_metrics, 1 },
	{ "StreamPodSandboxMetrics", crid_handle_stream_pod_sandbox_metrics, 1 },
	{ "StreamPodSandboxes", crid_handle_stream_pod_sandboxes, 1 },
	{ "StreamContainers", crid_handle_stream_containers, 1 },
	{ "StreamContainerStats", crid_handle_stream_container_stats, 1 },
	{ "StreamPodSandboxStats", crid_handle_stream_pod_sandbox_stats, 1 },
	{ "CheckpointContainer", crid_handle_checkpoint_container, 0 },
};

/* The ImageService methods crid implements. */
static const struct implemented image_methods[] = {
	{ "PullImage", crid_handle_pull_image, 0 },
	{ "ListImages", crid_handle_list_images, 1 },
	{ "ImageStatus", crid_handle_image_status, 1 },
	{ "RemoveImage", crid_handle_remove_image, 0 },
	{ "ImageFsInfo", crid_handle_image_fs_info, 1 },
	{ "StreamImages", crid_handle_stream_images, 1 },
};

/* Polling methods kubelet calls every second or so, even while unimplemented. */
static const char *const quiet_names[] = { "ListPodSandbox",	 "ListContainers",
					   "ListImages",	 "ImageFsInfo",
					   "ListContainerStats", "ListPodSandboxStats" };

static struct crid_method *methods;
static size_t n_methods;

static int by_path(const void *a, const void *b)
{
	return strcmp(((const struct crid_method *)a)->path, ((const struct crid_method *)b)->path);
}

static void bind_impl(struct crid_method *m, const struct implemented *impl, size_t n)
{
	for (size_t i = 0; i < n; i++) {
		if (strcmp(impl[i].name, m->name) == 0) {
			m->fn = impl[i].fn;
			m->quiet = impl[i].quiet;
		}
	}
	for (size_t i = 0; i < sizeof(quiet_names) / sizeof(quiet_names[0]); i++)
		if (strcmp(quiet_names[i], m->name) == 0)
			m->quiet = 1;
}

static void add_service(const ProtobufCServiceDescriptor *svc, const struct implemented *impl,
			size_t n_impl)
{
	for (unsigned i = 0; i < svc->n_methods; i++) {
		struct crid_method *m = &methods[n_methods++];

		snprintf(m->path, sizeof(m->path), "/%s/%s", svc->name, svc->methods[i].name);
		m->name = svc->methods[i].name;
		m->service = svc;
		m->input = svc->methods[i].input;
		bind_impl(m, impl, n_impl);
	}
}

int crid_handlers_init(struct crid_err *err)
{
	const ProtobufCServiceDescriptor *rt = &runtime__v1__runtime_service__descriptor;
	const ProtobufCServiceDescriptor *img = &runtime__v1__image_service__descriptor;

	methods = crid_calloc(rt->n_methods + img->n_methods, sizeof(*methods));
	if (!methods)
		return crid_err_set(err, ENOMEM, "method table");
	n_methods = 0;
	add_service(rt, runtime_methods, sizeof(runtime_methods) / sizeof(runtime_methods[0]));
	add_service(img, image_methods, sizeof(image_methods) / sizeof(image_methods[0]));
	qsort(methods, n_methods, sizeof(*methods), by_path);
	return 0;
}

void crid_handlers_cleanup(void)
{
	crid_free(methods);
	methods = NULL;
	n_methods = 0;
}

static const struct crid_method *lookup(const char *path)
{
	struct crid_method key;

	if (strlen(path) >= sizeof(key.path))
		return NULL;
	memcpy(key.path, path, strlen(path) + 1);
	return bsearch(&key, methods, n_methods, sizeof(*methods), by_path);
}

/* Close to grpc-go's wording, with the whole path so the caller sees what it sent. */
static void fail_unknown(struct crid_grpc_call *call, const char *path)
{
	const char *slash = path[0] == '/' ? strchr(path + 1, '/') : NULL;
	char msg[512];

	if (!slash)
		snprintf(msg, sizeof(msg), "malformed method name: `%s`", path);
	else if (strncmp(path, "/runtime.v1.RuntimeService/", 27) == 0 ||
		 strncmp(path, "/runtime.v1.ImageService/", 25) == 0)
		snprintf(msg, sizeof(msg), "unknown method %s", path);
	else
		snprintf(msg, sizeof(msg), "unknown service %.*s (method %s)",
			 (int)(slash - path - 1), path + 1, path);
	crid_log_debug("rpc=%s status=Unimplemented msg=\"%s\"", path, msg);
	crid_grpc_call_finish(call, CRID_GRPC_UNIMPLEMENTED, msg);
}

static void *arena_alloc(void *data, size_t size)
{
	return crid_arena_alloc(data, size);
}

static void arena_free(void *data, void *p)
{
	(void)data;
	(void)p; /* released with the arena */
}

static void log_end(struct crid_rpc *rpc, int status, const char *msg)
{
	double dur;
	enum crid_log_level level = rpc->method->quiet ? CRID_LOG_DEBUG : CRID_LOG_INFO;

	crid_metrics_call_end(rpc->method->name, crid_grpc_status_name(status),
			      crid_grpc_call_started(rpc->call), status != CRID_GRPC_OK);
	if (status == CRID_GRPC_INTERNAL || status == CRID_GRPC_UNKNOWN)
		level = CRID_LOG_WARN;
	if (!crid_log_enabled(level))
		return;
	ev_now_update(rpc->d->loop->ev);
	dur = ev_now(rpc->d->loop->ev) - crid_grpc_call_started(rpc->call);
	crid_log(level, "rpc=%s status=%s dur=%.0fus%s%s%s", rpc->method->name,
		 crid_grpc_status_name(status), dur * 1e6, msg ? " msg=\"" : "", msg ? msg : "",
		 msg ? "\"" : "");
}

void crid_rpc_reply(struct crid_rpc *rpc, const ProtobufCMessage *reply)
{
	size_t len = protobuf_c_message_get_packed_size(reply);
	uint8_t *p;

	if (len > CRID_GRPC_MAX_MESSAGE) {
		crid_rpc_fail(rpc, CRID_GRPC_RESOURCE_EXHAUSTED,
			      "reply of %zu bytes exceeds the 16 MiB message limit", len);
		return;
	}
	p = crid_grpc_call_reserve(rpc->call, len);
	if (!p) {
		crid_rpc_fail(rpc, CRID_GRPC_RESOURCE_EXHAUSTED, "out of memory for the reply");
		return;
	}
	protobuf_c_message_pack(reply, p);
	log_end(rpc, CRID_GRPC_OK, NULL);
	crid_grpc_call_finish(rpc->call, CRID_GRPC_OK, NULL);
}

int crid_rpc_status(int code)
{
	switch (code) {
	case EINVAL:
		return CRID_GRPC_INVALID_ARGUMENT;
	case ENOENT:
		return CRID_GRPC_NOT_FOUND;
	case EEXIST:
		return CRID_GRPC_ALREADY_EXISTS;
	case EACCES:
		return CRID_GRPC_UNAUTHENTICATED;
	case EPERM:
		return CRID_GRPC_PERMISSION_DENIED;
	case EBUSY:
		return CRID_GRPC_FAILED_PRECONDITION;
	case ETIMEDOUT:
		return CRID_GRPC_DEADLINE_EXCEEDED;
	case ECANCELED:
		return CRID_GRPC_CANCELLED;
	case EAGAIN:
		return CRID_GRPC_UNAVAILABLE;
	case EBADMSG:
		return CRID_GRPC_DATA_LOSS;
	case ENOMEM:
	case ENOSPC:
	case EMSGSIZE: /* over a size limit: a pod or container record, a runtime's output */
		return CRID_GRPC_RESOURCE_EXHAUSTED;
	default:
		return CRID_GRPC_UNKNOWN;
	}
}

void crid_rpc_finish_ok(struct crid_rpc *rpc)
{
	log_end(rpc, CRID_GRPC_OK, NULL);
	crid_grpc_call_finish(rpc->call, CRID_GRPC_OK, NULL);
}

bool crid_rpc_ready(struct crid_rpc *rpc, unsigned need)
{
	if ((need & CRID_NEED_PODS) && !rpc->d->pods) {
		crid_rpc_fail(rpc, CRID_GRPC_UNAVAILABLE, "pod sandboxes not initialized");
		return false;
	}
	if ((need & CRID_NEED_CTRS) && !rpc->d->ctrs) {
		crid_rpc_fail(rpc, CRID_GRPC_UNAVAILABLE, "containers not initialized");
		return false;
	}
	return true;
}

void crid_rpc_fail(struct crid_rpc *rpc, int status, const char *fmt, ...)
{
	char msg[1024];
	va_list ap;

	va_start(ap, fmt);
	vsnprintf(msg, sizeof(msg), fmt, ap);
	va_end(ap);
	log_end(rpc, status, msg);
	crid_grpc_call_finish(rpc->call, status, msg);
}

char *crid_rpc_strdup(struct crid_rpc *rpc, const char *s)
{
	size_t len = strlen(s) + 1;
	char *d = crid_arena_alloc(&rpc->arena, len);

	if (d)
		memcpy(d, s, len);
	return d;
}

static void run_method(struct crid_rpc *rpc, const uint8_t *msg, size_t len)
{
	ProtobufCMessage *req;
	char field[256];
	size_t at;

	if (!rpc->method->fn) {
		crid_rpc_fail(rpc, CRID_GRPC_UNIMPLEMENTED, "method %s not implemented",
			      rpc->method->name);
		return;
	}
	req = protobuf_c_message_unpack(rpc->method->input, &rpc->alloc, len, msg);
	if (!req) {
		crid_rpc_fail(rpc, CRID_GRPC_INTERNAL,
			      "grpc: error unmarshalling request: invalid %s message",
			      rpc->method->input->name);
		return;
	}
	/* grpc-go refuses these while decoding (codes.Internal); CRI asks for the field */
	if (!crid_request_utf8_ok(req, field, sizeof(field), &at)) {
		crid_rpc_fail(rpc, CRID_GRPC_INVALID_ARGUMENT,
			      "%s: string field contains invalid UTF-8 at byte %zu", field, at);
		return;
	}
	rpc->method->fn(rpc, req);
}

void crid_handlers_dispatch(struct crid_grpc_call *call, const char *path, const uint8_t *msg,
			    size_t len, void *user)
{
	const struct crid_method *m = lookup(path);
	struct crid_rpc rpc;

	if (!m) {
		fail_unknown(call, path);
		return;
	}
	rpc.d = user;
	rpc.call = call;
	rpc.method = m;
	crid_arena_init(&rpc.arena, RPC_ARENA_LIMIT);
	rpc.alloc = (ProtobufCAllocator){ arena_alloc, arena_free, &rpc.arena };
	run_method(&rpc, msg, len);
	crid_arena_reset(&rpc.arena);
}
