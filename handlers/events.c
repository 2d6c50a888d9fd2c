/*
 * GetContainerEvents: a server stream per subscriber (kubelet's evented
 * PLEG). Every container state change is encoded once and queued on every
 * stream; a subscriber whose queue is full (it stopped reading) is ended
 * with RESOURCE_EXHAUSTED and dropped, so one slow client costs bounded
 * memory. A subscriber that goes away is dropped through its cancel hook.
 */
#include <string.h>
#include <time.h>

#include "handlers/container.h"
#include "handlers/events.h"
#include "handlers/methods.h"
#include "handlers/sandbox.h"
#include "proto/api.pb-c.h"
#include "reactor/log.h"
#include "reactor/mem.h"

struct subscriber {
	struct crid_grpc_call *call;
	struct subscriber *next;
};

static struct subscriber *subscribers;

static void unlink_subscriber(struct subscriber *s)
{
	for (struct subscriber **p = &subscribers; *p; p = &(*p)->next) {
		if (*p == s) {
			*p = s->next;
			break;
		}
	}
	crid_free(s);
}

static void gone(struct crid_grpc_call *call, int status, void *user)
{
	(void)call;
	crid_log_debug("event subscriber left (%s)", crid_grpc_status_name(status));
	unlink_subscriber(user);
}

void crid_handle_get_container_events(struct crid_rpc *rpc, const ProtobufCMessage *request)
{
	struct subscriber *s = crid_calloc(1, sizeof(*s));

	(void)request;
	if (!s) {
		crid_rpc_fail(rpc, CRID_GRPC_RESOURCE_EXHAUSTED, "out of memory for a subscriber");
		return;
	}
	s->call = rpc->call;
	s->next = subscribers;
	subscribers = s;
	crid_grpc_call_on_cancel(rpc->call, gone, s);
}

/* The event as protobuf bytes in |rpc|'s arena. */
static uint8_t *encode(struct crid_rpc *rpc, enum crid_ctr_event type, struct crid_container *c,
		       size_t *len)
{
	Runtime__V1__ContainerEventResponse ev = RUNTIME__V1__CONTAINER_EVENT_RESPONSE__INIT;
	Runtime__V1__PodSandboxStatus *ps = crid_arena_alloc(&rpc->arena, sizeof(*ps));
	Runtime__V1__ContainerStatus *cs = crid_arena_alloc(&rpc->arena, sizeof(*cs));
	Runtime__V1__ContainerStatus **list = crid_arena_alloc(&rpc->arena, sizeof(*list));
	struct crid_sandbox *sb;
	uint8_t *buf;
	bool amb;

	if (!ps || !cs || !list || crid_container_status_fill(rpc, c, cs) < 0)
		return NULL;
	ev.container_id = c->id;
	ev.container_event_type = (Runtime__V1__ContainerEventType)type;
	ev.created_at = crid_wall_ns();
	sb = crid_sandbox_find(rpc->d->pods->store, c->sandbox_id, &amb);
	if (sb && crid_sandbox_status_fill(rpc, sb, ps) == 0)
		ev.pod_sandbox_status = ps;
	list[0] = cs;
	ev.containers_statuses = list;
	ev.n_containers_statuses = 1;
	*len = protobuf_c_message_get_packed_size(&ev.base);
	buf = crid_arena_alloc(&rpc->arena, *len + 1);
	if (buf)
		protobuf_c_message_pack(&ev.base, buf);
	return buf;
}

static void emit(void *user, enum crid_ctr_event type, const struct crid_container *c)
{
	struct crid_rpc rpc = { .d = user };
	struct subscriber *s, *next;
	uint8_t *msg;
	size_t len;

	if (!subscribers)
		return;
	crid_arena_init(&rpc.arena, 16u << 20);
	msg = encode(&rpc, type, (struct crid_container *)c, &len);
	for (s = subscribers; msg && s; s = next) {
		next = s->next;
		if (crid_grpc_call_send(s->call, msg, len) == 0)
			continue;
		crid_log_warn("event subscriber does not read its events: dropped");
		crid_grpc_call_finish(s->call, CRID_GRPC_RESOURCE_EXHAUSTED,
				      "subscriber too slow: event queue full");
		unlink_subscriber(s);
	}
	if (!msg)
		crid_log_warn("container %.12s: event not encoded (out of memory)", c->id);
	crid_arena_reset(&rpc.arena);
}

void crid_events_init(struct crid_daemon *d)
{
	if (d->ctrs) {
		d->ctrs->on_event = emit;
		d->ctrs->event_user = d;
	}
}
