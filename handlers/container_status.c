/*
 * ContainerStatus and ListContainers. The messages are built in
 * handlers/status_msg.c (shared with PodSandboxStatus and the event stream);
 * here: the lookup, the verbose info (handlers/status_info.c) and the list
 * filter. List items are encoded once per change and copied into every reply
 * (kubelet relists all containers every second) by handlers/list_reply.c.
 */
#include <stddef.h>
#include <string.h>

#include "handlers/container.h"
#include "handlers/list_reply.h"
#include "handlers/methods.h"
#include "handlers/status_info.h"
#include "handlers/status_msg.h"
#include "proto/api.pb-c.h"

void crid_handle_container_status(struct crid_rpc *rpc, const ProtobufCMessage *request)
{
	const Runtime__V1__ContainerStatusRequest *req = (const void *)request;
	Runtime__V1__ContainerStatusResponse resp = RUNTIME__V1__CONTAINER_STATUS_RESPONSE__INIT;
	Runtime__V1__ContainerStatus st;
	struct crid_container *c = crid_container_handlers_find(rpc, req->container_id);

	if (!c)
		return;
	if (crid_status_msg_container(rpc, c, &st) < 0) {
		crid_rpc_fail(rpc, CRID_GRPC_RESOURCE_EXHAUSTED, "out of memory");
		return;
	}
	resp.status = &st;
	if (req->verbose) {
		resp.info = crid_status_info_map(
		    rpc, &runtime__v1__container_status_response__info_entry__descriptor,
		    crid_status_info_container(rpc, c));
		if (!resp.info) {
			crid_rpc_fail(rpc, CRID_GRPC_RESOURCE_EXHAUSTED, "out of memory");
			return;
		}
		resp.n_info = 1;
	}
	crid_rpc_reply(rpc, &resp.base);
}

/* ---- ListContainers ---- */

static bool listed(const void *rec, const void *filter)
{
	const struct crid_container *c = rec;
	const Runtime__V1__ContainerFilter *f = filter;

	if (c->state == CRID_CTR_CREATING)
		return false;
	if (!f)
		return true;
	if (f->id[0] && strncmp(c->id, f->id, strlen(f->id)) != 0)
		return false;
	if (f->pod_sandbox_id[0] &&
	    strncmp(c->sandbox_id, f->pod_sandbox_id, strlen(f->pod_sandbox_id)) != 0)
		return false;
	if (f->state && f->state->state != crid_status_msg_ctr_state(c->state))
		return false;
	return crid_list_labels_match(&c->labels, f->n_label_selector,
				      (void *const *)f->label_selector);
}

static const struct crid_list_kind containers = {
	.listed = listed,
	.encode = crid_status_msg_container_item,
	.entry_at = offsetof(struct crid_container, list_entry),
	.entry_len_at = offsetof(struct crid_container, list_entry_len),
};

void crid_handle_list_containers(struct crid_rpc *rpc, const ProtobufCMessage *request)
{
	const Runtime__V1__ListContainersRequest *req = (const void *)request;
	struct crid_container *const *all;
	size_t n;

	if (!crid_rpc_ready(rpc, CRID_NEED_CTRS))
		return;
	all = crid_container_list(rpc->d->ctrs->store, &n);
	crid_list_reply(rpc, (void *const *)all, n, &containers, req->filter);
}

const struct crid_list_kind *crid_container_list_kind(void)
{
	return &containers;
}
