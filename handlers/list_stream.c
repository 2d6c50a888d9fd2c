/*
 * The chunker of server-streamed lists: entries from a source packed into
 * messages of at most a bound, one message per "ready" cue of the gRPC
 * transport (io/grpc_server.h: the call's queue drained and its HTTP/2
 * window has room), so the output queue never holds more than one message
 * however long the list and however slow the client. The CRI Stream*
 * methods built on it are in handlers/list_stream_rpc.c.
 */
#include "handlers/list_stream.h"

#include <string.h>

#include "reactor/mem.h"

struct list_stream {
	struct crid_rpc rpc; /* a copy of the dispatch's, with an arena of its own */
	const struct crid_list_stream_source *src;
	void *state;
	size_t max_msg;
};

static void stream_free(struct list_stream *s)
{
	s->src->free(s->state);
	crid_arena_reset(&s->rpc.arena);
	crid_free(s);
}

static void stream_cancelled(struct crid_grpc_call *call, int status, void *user)
{
	(void)call;
	(void)status;
	stream_free(user);
}

size_t crid_list_stream_pack(const struct crid_list_stream_source *src, void *state,
			     struct crid_rpc *rpc, size_t max_msg, uint8_t *msg, const uint8_t *p,
			     size_t len, int *more)
{
	size_t used = 0;

	do {
		memcpy(msg + used, p, len);
		used += len;
		src->advance(state);
		*more = src->peek(state, rpc, &p, &len);
	} while (*more > 0 && used + len <= max_msg);
	return used;
}

/* The call can take a message: send the next one, or end the call after the last. */
static void stream_fill(struct crid_grpc_call *call, void *user)
{
	struct list_stream *s = user;
	const uint8_t *p;
	size_t len;
	uint8_t *msg;
	int more = s->src->peek(s->state, &s->rpc, &p, &len);

	if (more > 0 && len > CRID_GRPC_MAX_MESSAGE) {
		crid_rpc_fail(&s->rpc, CRID_GRPC_RESOURCE_EXHAUSTED,
			      "entry of %zu bytes exceeds the 16 MiB message limit", len);
		goto done;
	}
	if (more > 0) {
		msg = crid_grpc_call_reserve(call, len > s->max_msg ? len : s->max_msg);
		if (!msg) {
			crid_rpc_fail(&s->rpc, CRID_GRPC_RESOURCE_EXHAUSTED,
				      "out of memory for a message");
			goto done;
		}
		len = crid_list_stream_pack(s->src, s->state, &s->rpc, s->max_msg, msg, p, len,
					    &more);
		crid_grpc_call_shrink(call, msg, len);
	}
	if (more > 0)
		return; /* the rest when HTTP/2 has taken this message */
	if (more < 0)
		crid_rpc_fail(&s->rpc, CRID_GRPC_RESOURCE_EXHAUSTED, "out of memory listing");
	else
		crid_rpc_finish_ok(&s->rpc);
done:
	stream_free(s);
}

void crid_list_stream_start(struct crid_rpc *rpc, size_t max_msg,
			    const struct crid_list_stream_source *src, void *state)
{
	struct list_stream *s = crid_malloc(sizeof(*s));

	if (!s) {
		src->free(state);
		crid_rpc_fail(rpc, CRID_GRPC_RESOURCE_EXHAUSTED, "out of memory for a stream");
		return;
	}
	s->rpc.d = rpc->d;
	s->rpc.call = rpc->call;
	s->rpc.method = rpc->method;
	crid_arena_init(&s->rpc.arena, 16u << 20);
	s->rpc.alloc = (ProtobufCAllocator){ NULL, NULL, NULL }; /* sources use the arena */
	s->src = src;
	s->state = state;
	s->max_msg = max_msg ? max_msg : CRID_LIST_STREAM_MSG_MAX;
	crid_grpc_call_on_cancel(rpc->call, stream_cancelled, s);
	crid_grpc_call_on_ready(rpc->call, stream_fill, s);
}
