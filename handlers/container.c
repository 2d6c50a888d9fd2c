/*
 * The container RPCs that change containers: CreateContainer,
 * StartContainer, StopContainer, RemoveContainer, UpdateContainerResources,
 * ReopenContainerLog, ExecSync; and the container state on struct
 * crid_daemon (d->ctrs). Requests are validated and translated here
 * (handlers/ctr_config.c); the work is runtime/container/ctr.h's.
 * ContainerStatus and ListContainers are in handlers/container_status.c.
 */
#include <errno.h>
#include <stdio.h>
#include <string.h>
#include <time.h>
#include <yajl/yajl_gen.h>

#include "handlers/container.h"
#include "handlers/ctr_config.h"
#include "handlers/deferred.h"
#include "handlers/events.h"
#include "handlers/list_reply.h"
#include "handlers/methods.h"
#include "handlers/request_check.h"
#include "proto/api.pb-c.h"
#include "reactor/log.h"
#include "reactor/mem.h"
#include "runtime/oci/rt_features.h"

int crid_container_handlers_init(struct crid_daemon *d, struct crid_err *err)
{
	struct crid_ctrs *ctrs = crid_calloc(1, sizeof(*ctrs));

	if (!ctrs)
		return crid_err_set(err, ENOMEM, "containers");
	if (crid_ctrs_init(ctrs, d->loop, d->cfg, d->host, d->images, d->pods, err) < 0) {
		crid_ctrs_cleanup(ctrs);
		crid_free(ctrs);
		return -1;
	}
	d->ctrs = ctrs;
	crid_events_init(d);
	return 0;
}

void crid_container_handlers_cleanup(struct crid_daemon *d)
{
	if (d->ctrs)
		crid_ctrs_cleanup(d->ctrs);
	crid_free(d->ctrs);
	d->ctrs = NULL;
}

static void abandon(void *op, void *user)
{
	crid_ctr_op_abandon(op, user);
}

/*
 * The container of a request's container_id (full or unique prefix). NULL
 * after answering when it cannot go on; *gone set when none exists.
 */
static struct crid_container *lookup(struct crid_rpc *rpc, const char *id, bool *gone)
{
	struct crid_ctrs *ctrs = rpc->d->ctrs;
	struct crid_container *c;
	bool ambiguous;

	*gone = false;
	if (!ctrs) {
		crid_rpc_fail(rpc, CRID_GRPC_UNAVAILABLE, "containers not initialized");
		return NULL;
	}
	if (!id[0]) {
		crid_rpc_fail(rpc, CRID_GRPC_INVALID_ARGUMENT, "container_id: must not be empty");
		return NULL;
	}
	c = crid_container_find(ctrs->store, id, &ambiguous);
	if (ambiguous) {
		crid_rpc_fail(rpc, CRID_GRPC_INVALID_ARGUMENT,
			      "container_id: `%s` matches more than one container", id);
		return NULL;
	}
	if (!c || c->state == CRID_CTR_CREATING)
		*gone = true;
	return *gone ? NULL : c;
}

struct crid_container *crid_container_handlers_find(struct crid_rpc *rpc, const char *id)
{
	bool gone;
	struct crid_container *c = lookup(rpc, id, &gone);

	if (gone)
		crid_rpc_fail(rpc, CRID_GRPC_NOT_FOUND, "container %s not found", id);
	return c;
}

/* ---- CreateContainer ---- */

static void created(void *user, int status, struct crid_container *c, const struct crid_err *err)
{
	struct crid_deferred *d = user;

	if (status < 0) {
		crid_rpc_fail(&d->rpc, crid_rpc_status(err->code), "%s", err->msg);
	} else {
		Runtime__V1__CreateContainerResponse resp =
		    RUNTIME__V1__CREATE_CONTAINER_RESPONSE__INIT;

		resp.container_id = c->id;
		crid_rpc_reply(&d->rpc, &resp.base);
	}
	crid_deferred_end(d);
}

/* The request's annotations as the OCI spec takes them (they are passed through to it). */
static const struct crid_ctr_env *annotations_for_spec(struct crid_rpc *rpc,
						       const struct crid_kvs *kvs)
{
	struct crid_ctr_env *v = crid_arena_alloc(&rpc->arena, (kvs->n + 1) * sizeof(*v));

	for (size_t i = 0; v && i < kvs->n; i++) {
		v[i].key = kvs->v[i].key;
		v[i].value = kvs->v[i].value;
	}
	return v;
}

/*
 * Kubelet asks for recursive_read_only only where Status said the handler
 * has it; any other client gets a clear refusal instead of a silent "ro".
 */
static int check_rro(struct crid_rpc *rpc, const struct crid_sandbox *sb,
		     const struct crid_ctr_spec *s)
{
	const struct crid_rt_features *f =
	    crid_rt_probe_get(rpc->d->rt_features, sb->runtime_handler);

	for (size_t i = 0; i < s->n_mounts; i++) {
		const struct crid_ctr_mount *m = &s->mounts[i];

		/* not readonly or not private: the spec builder names what is wrong */
		if (!m->recursive_readonly || f->rro || !m->readonly ||
		    m->propagation != CRID_PROPAGATION_PRIVATE)
			continue;
		crid_rpc_fail(rpc, CRID_GRPC_FAILED_PRECONDITION,
			      "mounts[%zu].recursive_read_only: runtime handler `%s` cannot make "
			      "recursive read-only mounts here (its `features` lacks rro or the "
			      "kernel lacks mount_setattr)",
			      i, sb->runtime_handler[0] ? sb->runtime_handler : "(default)");
		return -1;
	}
	return 0;
}

void crid_handle_create_container(struct crid_rpc *rpc, const ProtobufCMessage *request)
{
	const Runtime__V1__CreateContainerRequest *req = (const void *)request;
	const Runtime__V1__ContainerConfig *c = req->config;
	struct crid_ctrs *ctrs = rpc->d->ctrs;
	struct crid_ctr_create cr = { 0 };
	struct crid_ctr_spec spec;
	struct crid_kvs labels, annotations;
	struct crid_deferred *d;
	struct crid_sandbox *sb;
	struct crid_ctr_op *op;
	struct crid_err err;
	size_t len;
	bool amb;

	if (!ctrs) {
		crid_rpc_fail(rpc, CRID_GRPC_UNAVAILABLE, "containers not initialized");
		return;
	}
	if (!req->pod_sandbox_id[0] || !c) {
		crid_rpc_fail(rpc, CRID_GRPC_INVALID_ARGUMENT, "%s: must be set",
			      c ? "pod_sandbox_id" : "config");
		return;
	}
	sb = crid_sandbox_find(ctrs->pods->store, req->pod_sandbox_id, &amb);
	if (!sb) {
		crid_rpc_fail(rpc, amb ? CRID_GRPC_INVALID_ARGUMENT : CRID_GRPC_NOT_FOUND,
			      "pod_sandbox_id: pod sandbox %s %s", req->pod_sandbox_id,
			      amb ? "is ambiguous" : "not found");
		return;
	}
	if (crid_ctr_config_translate(rpc, c, &spec, &err) < 0) {
		crid_rpc_fail(rpc, crid_rpc_status(err.code), "%s", err.msg);
		return;
	}
	if (check_rro(rpc, sb, &spec) < 0)
		return;
	len = protobuf_c_message_get_packed_size(&c->base);
	cr.config = crid_arena_alloc(&rpc->arena, len + 1);
	if (!cr.config ||
	    crid_rpc_view_kvs(rpc, &labels, c->n_labels, (void *const *)c->labels) < 0 ||
	    crid_rpc_view_kvs(rpc, &annotations, c->n_annotations, (void *const *)c->annotations) <
		0) {
		crid_rpc_fail(rpc, CRID_GRPC_RESOURCE_EXHAUSTED, "out of memory");
		return;
	}
	protobuf_c_message_pack(&c->base, (uint8_t *)cr.config);
	cr.config_len = len;
	cr.sandbox_id = sb->id;
	cr.name = c->metadata->name;
	cr.attempt = c->metadata->attempt;
	cr.image = c->image->image;
	cr.log_path = c->log_path;
	cr.labels = &labels;
	cr.annotations = &annotations;
	spec.annotations = annotations_for_spec(rpc, &annotations);
	spec.n_annotations = annotations.n;
	if (annotations.n && !spec.annotations) {
		crid_rpc_fail(rpc, CRID_GRPC_RESOURCE_EXHAUSTED, "out of memory");
		return;
	}
	cr.spec = &spec;
	d = crid_deferred_new(rpc, abandon);
	if (!d)
		return;
	op = crid_ctr_create(ctrs, &cr, created, d, &err);
	if (!op)
		crid_request_blame_largest(&err, "config", &c->base);
	crid_deferred_started(d, op, &err);
}

/* ---- StartContainer, StopContainer, RemoveContainer, UpdateContainerResources ---- */

enum { TAG_START, TAG_STOP, TAG_REMOVE, TAG_UPDATE };

static void plain_done(void *user, int status, struct crid_container *c, const struct crid_err *err)
{
	struct crid_deferred *d = user;
	/* every one of these replies is an empty message: one encoding serves all */
	Runtime__V1__StartContainerResponse empty = RUNTIME__V1__START_CONTAINER_RESPONSE__INIT;

	(void)c;
	if (status < 0)
		crid_rpc_fail(&d->rpc, crid_rpc_status(err->code), "%s", err->msg);
	else
		crid_rpc_reply(&d->rpc, &empty.base);
	crid_deferred_end(d);
}

static void run_plain(struct crid_rpc *rpc, const char *id, int tag, long long timeout)
{
	struct crid_container *c;
	struct crid_deferred *d;
	struct crid_ctr_op *op = NULL;
	struct crid_err err;
	bool gone;

	c = lookup(rpc, id, &gone);
	if (!c && !gone)
		return;
	if (gone && tag == TAG_START) {
		crid_rpc_fail(rpc, CRID_GRPC_NOT_FOUND, "container %s not found", id);
		return;
	}
	d = crid_deferred_new(rpc, abandon);
	if (!d)
		return;
	d->tag = tag;
	if (gone) { /* stop and remove are idempotent, as the CRI asks */
		plain_done(d, 0, NULL, NULL);
		crid_deferred_started(d, d, NULL);
		return;
	}
	if (tag == TAG_START)
		op = crid_ctr_start(rpc->d->ctrs, c, plain_done, d, &err);
	else if (tag == TAG_STOP)
		op = crid_ctr_stop(rpc->d->ctrs, c, timeout, plain_done, d, &err);
	else
		op = crid_ctr_remove(rpc->d->ctrs, c, plain_done, d, &err);
	crid_deferred_started(d, op, &err);
}

void crid_handle_start_container(struct crid_rpc *rpc, const ProtobufCMessage *request)
{
	run_plain(rpc, ((const Runtime__V1__StartContainerRequest *)request)->container_id,
		  TAG_START, 0);
}

void crid_handle_stop_container(struct crid_rpc *rpc, const ProtobufCMessage *request)
{
	const Runtime__V1__StopContainerRequest *req = (const void *)request;

	run_plain(rpc, req->container_id, TAG_STOP, req->timeout);
}

void crid_handle_remove_container(struct crid_rpc *rpc, const ProtobufCMessage *request)
{
	run_plain(rpc, ((const Runtime__V1__RemoveContainerRequest *)request)->container_id,
		  TAG_REMOVE, 0);
}

static void gen_int(yajl_gen g, const char *key, long long v)
{
	yajl_gen_string(g, (const unsigned char *)key, strlen(key));
	yajl_gen_integer(g, v);
}

static void gen_str(yajl_gen g, const char *key, const char *v)
{
	yajl_gen_string(g, (const unsigned char *)key, strlen(key));
	yajl_gen_string(g, (const unsigned char *)v, strlen(v));
}

/* An OCI LinuxResources object for `runtime update`: only what the request sets. */
static char *oci_resources(struct crid_rpc *rpc, const Runtime__V1__LinuxContainerResources *r)
{
	yajl_gen g = yajl_gen_alloc(NULL);
	const unsigned char *buf;
	char *out = NULL;
	size_t len;

	if (!g)
		return NULL;
	yajl_gen_map_open(g);
	yajl_gen_string(g, (const unsigned char *)"cpu", 3);
	yajl_gen_map_open(g);
	if (r->cpu_shares)
		gen_int(g, "shares", r->cpu_shares);
	if (r->cpu_quota)
		gen_int(g, "quota", r->cpu_quota);
	if (r->cpu_period)
		gen_int(g, "period", r->cpu_period);
	if (r->cpuset_cpus[0])
		gen_str(g, "cpus", r->cpuset_cpus);
	if (r->cpuset_mems[0])
		gen_str(g, "mems", r->cpuset_mems);
	yajl_gen_map_close(g);
	yajl_gen_string(g, (const unsigned char *)"memory", 6);
	yajl_gen_map_open(g);
	if (r->memory_limit_in_bytes)
		gen_int(g, "limit", r->memory_limit_in_bytes);
	if (r->memory_swap_limit_in_bytes)
		gen_int(g, "swap", r->memory_swap_limit_in_bytes);
	yajl_gen_map_close(g);
	yajl_gen_map_close(g);
	if (yajl_gen_get_buf(g, &buf, &len) == yajl_gen_status_ok) {
		out = crid_arena_alloc(&rpc->arena, len + 1);
		if (out)
			memcpy(out, buf, len), out[len] = '\0';
	}
	yajl_gen_free(g);
	return out;
}

static bool cpuset_ok(const char *s)
{
	return strspn(s, "0123456789,-") == strlen(s);
}

void crid_handle_update_container_resources(struct crid_rpc *rpc, const ProtobufCMessage *request)
{
	const Runtime__V1__UpdateContainerResourcesRequest *req = (const void *)request;
	const Runtime__V1__LinuxContainerResources *r = req->linux;
	struct crid_container *c = crid_container_handlers_find(rpc, req->container_id);
	struct crid_deferred *d;
	struct crid_err err;
	uint8_t *enc;
	size_t len;
	char *json;

	if (!c)
		return;
	if (!r) {
		crid_rpc_fail(rpc, CRID_GRPC_INVALID_ARGUMENT, "linux: must be set");
		return;
	}
	if (r->cpu_shares < 0 || r->cpu_period < 0 || r->memory_limit_in_bytes < 0 ||
	    !cpuset_ok(r->cpuset_cpus) || !cpuset_ok(r->cpuset_mems)) {
		crid_rpc_fail(rpc, CRID_GRPC_INVALID_ARGUMENT,
			      "linux: negative value or malformed cpuset");
		return;
	}
	len = protobuf_c_message_get_packed_size(&r->base);
	enc = crid_arena_alloc(&rpc->arena, len + 1);
	json = oci_resources(rpc, r);
	if (!enc || !json) {
		crid_rpc_fail(rpc, CRID_GRPC_RESOURCE_EXHAUSTED, "out of memory");
		return;
	}
	protobuf_c_message_pack(&r->base, enc);
	d = crid_deferred_new(rpc, abandon);
	if (!d)
		return;
	d->tag = TAG_UPDATE;
	crid_deferred_started(
	    d, crid_ctr_update(rpc->d->ctrs, c, json, enc, len, plain_done, d, &err), &err);
}

void crid_handle_reopen_container_log(struct crid_rpc *rpc, const ProtobufCMessage *request)
{
	const Runtime__V1__ReopenContainerLogRequest *req = (const void *)request;
	Runtime__V1__ReopenContainerLogResponse resp =
	    RUNTIME__V1__REOPEN_CONTAINER_LOG_RESPONSE__INIT;
	struct crid_container *c = crid_container_handlers_find(rpc, req->container_id);
	struct crid_err err;

	if (!c)
		return;
	if (crid_ctr_reopen_log(rpc->d->ctrs, c, &err) < 0) {
		crid_rpc_fail(rpc, crid_rpc_status(err.code), "%s", err.msg);
		return;
	}
	crid_rpc_reply(rpc, &resp.base);
}

/* ---- ExecSync ---- */

static void exec_done(void *user, int status, const struct crid_exec_result *r,
		      const struct crid_err *err)
{
	struct crid_deferred *d = user;

	if (status < 0) {
		crid_rpc_fail(&d->rpc, crid_rpc_status(err->code), "%s", err->msg);
	} else {
		Runtime__V1__ExecSyncResponse resp = RUNTIME__V1__EXEC_SYNC_RESPONSE__INIT;

		resp.stdout.data = (uint8_t *)r->out;
		resp.stdout.len = r->out_len;
		resp.stderr.data = (uint8_t *)r->err;
		resp.stderr.len = r->err_len;
		resp.exit_code = r->exit_code;
		crid_rpc_reply(&d->rpc, &resp.base);
	}
	d->op = NULL;
	crid_deferred_end(d);
}

static void exec_abandon(void *op, void *user)
{
	(void)user;
	crid_exec_cancel(op);
}

void crid_handle_exec_sync(struct crid_rpc *rpc, const ProtobufCMessage *request)
{
	const Runtime__V1__ExecSyncRequest *req = (const void *)request;
	struct crid_container *c = crid_container_handlers_find(rpc, req->container_id);
	struct crid_deferred *d;
	struct crid_exec_op *op;
	struct crid_err err;

	if (!c)
		return;
	if (req->n_cmd == 0 || !req->cmd[0][0]) {
		crid_rpc_fail(rpc, CRID_GRPC_INVALID_ARGUMENT, "cmd: must not be empty");
		return;
	}
	if (req->timeout < 0) {
		crid_rpc_fail(rpc, CRID_GRPC_INVALID_ARGUMENT, "timeout: must not be negative");
		return;
	}
	d = crid_deferred_new(rpc, exec_abandon);
	if (!d)
		return;
	op = crid_ctr_exec_sync(rpc->d->ctrs, c, (const char *const *)req->cmd, req->n_cmd,
				(double)req->timeout, exec_done, d, &err);
	crid_deferred_started(d, op, &err);
}
