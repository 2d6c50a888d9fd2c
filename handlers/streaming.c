/*
 * The streaming RPCs: Exec, Attach and PortForward. Each validates the
 * request (the container exists and runs, or the pod exists and is ready;
 * the stream flags as upstream's cri-streaming server.go validates them),
 * translates it into a struct crid_stream_req and answers with the one-time
 * URL of the streaming server (runtime/stream/stream_server.h), which does
 * the rest when the client connects.
 */
#include <errno.h>
#include <string.h>

#include "handlers/container.h"
#include "handlers/methods.h"
#include "handlers/sandbox.h"
#include "proto/api.pb-c.h"
#include "reactor/mem.h"
#include "runtime/pod/pod.h"
#include "runtime/pod/sandbox.h"
#include "runtime/stream/stream_server.h"

#define URL_MAX 256

/* The streams asked for are a set the protocols can carry; else answers and returns false. */
static bool streams_ok(struct crid_rpc *rpc, bool tty, bool in, bool out, bool err)
{
	if (tty && err) {
		crid_rpc_fail(rpc, CRID_GRPC_INVALID_ARGUMENT,
			      "stderr: must be false when tty is set (the terminal carries both)");
		return false;
	}
	if (!in && !out && !err) {
		crid_rpc_fail(rpc, CRID_GRPC_INVALID_ARGUMENT,
			      "stdin, stdout, stderr: at least one must be set");
		return false;
	}
	return true;
}

/* The running container of |id|; NULL after answering. */
static struct crid_container *running(struct crid_rpc *rpc, const char *id)
{
	struct crid_container *c = crid_container_handlers_find(rpc, id);

	if (c && c->state != CRID_CTR_RUNNING) {
		crid_rpc_fail(rpc, CRID_GRPC_FAILED_PRECONDITION, "container %s is not running",
			      c->id);
		return NULL;
	}
	return c;
}

static struct crid_stream_req *req_new(struct crid_rpc *rpc, enum crid_stream_kind kind,
				       const char *id)
{
	struct crid_stream_req *r = crid_calloc(1, sizeof(*r));

	if (!r) {
		crid_rpc_fail(rpc, CRID_GRPC_RESOURCE_EXHAUSTED, "out of memory");
		return NULL;
	}
	r->kind = kind;
	memcpy(r->id, id, sizeof(r->id));
	return r;
}

/* Caches |r| (taken over) and replies with its URL through |reply|'s url field. */
static void answer(struct crid_rpc *rpc, struct crid_stream_req *r, ProtobufCMessage *reply,
		   char **url_field)
{
	char *url = crid_arena_alloc(&rpc->arena, URL_MAX);
	struct crid_err err;

	if (!rpc->d->stream) {
		crid_stream_req_free(r);
		crid_rpc_fail(rpc, CRID_GRPC_UNAVAILABLE, "streaming server not running");
		return;
	}
	if (!url) {
		crid_stream_req_free(r);
		crid_rpc_fail(rpc, CRID_GRPC_RESOURCE_EXHAUSTED, "out of memory");
		return;
	}
	if (crid_stream_server_url(rpc->d->stream, r, url, URL_MAX, &err) < 0) {
		crid_stream_req_free(r);
		crid_rpc_fail(rpc,
			      err.code == EAGAIN ? CRID_GRPC_RESOURCE_EXHAUSTED
						 : crid_rpc_status(err.code),
			      "%s", err.msg);
		return;
	}
	*url_field = url;
	crid_rpc_reply(rpc, reply);
}

void crid_handle_exec(struct crid_rpc *rpc, const ProtobufCMessage *request)
{
	const Runtime__V1__ExecRequest *q = (const void *)request;
	Runtime__V1__ExecResponse resp = RUNTIME__V1__EXEC_RESPONSE__INIT;
	struct crid_container *c = running(rpc, q->container_id);
	struct crid_stream_req *r;

	if (!c)
		return;
	if (q->n_cmd == 0 || !q->cmd[0][0]) {
		crid_rpc_fail(rpc, CRID_GRPC_INVALID_ARGUMENT, "cmd: must not be empty");
		return;
	}
	if (!streams_ok(rpc, q->tty, q->stdin, q->stdout, q->stderr))
		return;
	r = req_new(rpc, CRID_STREAM_EXEC, c->id);
	if (!r)
		return;
	r->tty = q->tty, r->stdin = q->stdin, r->stdout = q->stdout, r->stderr = q->stderr;
	r->argv = crid_calloc(q->n_cmd + 1, sizeof(*r->argv));
	for (size_t i = 0; r->argv && i < q->n_cmd; i++, r->argc++) {
		r->argv[i] = crid_strdup(q->cmd[i]);
		if (!r->argv[i])
			break;
	}
	if (!r->argv || r->argc != q->n_cmd) {
		crid_stream_req_free(r);
		crid_rpc_fail(rpc, CRID_GRPC_RESOURCE_EXHAUSTED, "out of memory");
		return;
	}
	answer(rpc, r, &resp.base, &resp.url);
}

/*
 * As CRI-O: the session's tty is the request's (kubelet sets it from the
 * container's config); stdin on a container created without it is the
 * session's to refuse, as the container has none to give.
 */
void crid_handle_attach(struct crid_rpc *rpc, const ProtobufCMessage *request)
{
	const Runtime__V1__AttachRequest *q = (const void *)request;
	Runtime__V1__AttachResponse resp = RUNTIME__V1__ATTACH_RESPONSE__INIT;
	struct crid_container *c = running(rpc, q->container_id);
	struct crid_stream_req *r;

	if (!c || !streams_ok(rpc, q->tty, q->stdin, q->stdout, q->stderr))
		return;
	r = req_new(rpc, CRID_STREAM_ATTACH, c->id);
	if (!r)
		return;
	r->tty = q->tty, r->stdin = q->stdin, r->stdout = q->stdout, r->stderr = q->stderr;
	answer(rpc, r, &resp.base, &resp.url);
}

/* The ready pod of |id|; NULL after answering. */
static struct crid_sandbox *ready_pod(struct crid_rpc *rpc, const char *id)
{
	struct crid_sandbox *sb;
	bool gone;

	sb = crid_sandbox_lookup(rpc, id, &gone);
	if (!sb && !gone)
		return NULL;
	if (!sb || sb->state == CRID_SANDBOX_CREATING) {
		crid_rpc_fail(rpc, CRID_GRPC_NOT_FOUND, "pod sandbox %s not found", id);
		return NULL;
	}
	if (sb->state != CRID_SANDBOX_READY) {
		crid_rpc_fail(rpc, CRID_GRPC_FAILED_PRECONDITION, "pod sandbox %s is not ready",
			      sb->id);
		return NULL;
	}
	return sb;
}

void crid_handle_port_forward(struct crid_rpc *rpc, const ProtobufCMessage *request)
{
	const Runtime__V1__PortForwardRequest *q = (const void *)request;
	Runtime__V1__PortForwardResponse resp = RUNTIME__V1__PORT_FORWARD_RESPONSE__INIT;
	struct crid_sandbox *sb = ready_pod(rpc, q->pod_sandbox_id);
	struct crid_stream_req *r;

	if (!sb)
		return;
	for (size_t i = 0; i < q->n_port; i++) {
		if (q->port[i] < 1 || q->port[i] > 65535) {
			crid_rpc_fail(rpc, CRID_GRPC_INVALID_ARGUMENT,
				      "port: %d is out of range 1..65535", q->port[i]);
			return;
		}
	}
	r = req_new(rpc, CRID_STREAM_PORTFORWARD, sb->id);
	if (!r)
		return;
	if (q->n_port) {
		r->ports = crid_calloc(q->n_port, sizeof(*r->ports));
		if (!r->ports) {
			crid_stream_req_free(r);
			crid_rpc_fail(rpc, CRID_GRPC_RESOURCE_EXHAUSTED, "out of memory");
			return;
		}
		for (size_t i = 0; i < q->n_port; i++)
			r->ports[i] = (uint16_t)q->port[i];
		r->n_ports = q->n_port;
	}
	answer(rpc, r, &resp.base, &resp.url);
}
