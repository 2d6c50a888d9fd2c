/*
 * GetContainerEvents: a server stream per subscriber (kubelet's evented
 * PLEG). Every container state change is encoded once (handlers/status_msg.c
 * builds the message) and queued on every stream; a subscriber whose queue
 * is full (it stopped reading) is ended with RESOURCE_EXHAUSTED and dropped,
 * so one slow client costs bounded memory. A subscriber that goes away is
 * dropped through its cancel hook. The subscribers hang off struct
 * crid_daemon. May call handlers/status_msg.h and io/; no other handler.
 */
#include "handlers/events.h"

#include "handlers/methods.h"
#include "handlers/status_msg.h"
#include "reactor/log.h"
#include "reactor/mem.h"

struct crid_event_subscriber {
	struct crid_daemon *d;
	struct crid_grpc_call *call;
	struct crid_event_subscriber *next;
};

static void unlink_subscriber(struct crid_event_subscriber *s)
{
	for (struct crid_event_subscriber **p = &s->d->subscribers; *p; p = &(*p)->next) {
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
	struct crid_event_subscriber *s = crid_calloc(1, sizeof(*s));

	(void)request;
	if (!s) {
		crid_rpc_fail(rpc, CRID_GRPC_RESOURCE_EXHAUSTED, "out of memory for a subscriber");
		return;
	}
	s->d = rpc->d;
	s->call = rpc->call;
	s->next = rpc->d->subscribers;
	rpc->d->subscribers = s;
	crid_grpc_call_on_cancel(rpc->call, gone, s);
}

static void emit(void *user, enum crid_ctr_event type, const struct crid_container *c)
{
	struct crid_daemon *d = user;
	struct crid_rpc rpc = { .d = d };
	struct crid_event_subscriber *s, *next;
	uint8_t *msg;
	size_t len;

	if (!d->subscribers)
		return;
	crid_arena_init(&rpc.arena, 16u << 20);
	msg = crid_status_msg_event(&rpc, type, c, &len);
	for (s = d->subscribers; msg && s; s = next) {
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
