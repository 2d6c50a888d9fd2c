/*
 * handlers/stats_spread: see stats_spread.h. Entries are encoded as they
 * are built (crid_list_item_encode), so nothing of a record is referenced
 * after its turn; the reply is their concatenation, as crid_list_reply's.
 */
#include "handlers/stats_spread.h"

#include <errno.h>
#include <string.h>

#include "handlers/deferred.h"
#include "handlers/list_reply.h"
#include "reactor/mem.h"
#include "reactor/metrics_families.h"

/* A turn's budget: well under loop_watch's 2 ms threshold. */
#define TURN_SECONDS 0.001

struct spread {
	struct crid_deferred *d;
	const struct crid_stats_spread_kind *kind;
	ev_timer tick;
	char **ids;
	size_t n, next;
	uint8_t *buf;
	size_t len, cap;
};

static void spread_free(struct spread *s)
{
	ev_timer_stop(s->d->rpc.d->loop->ev, &s->tick);
	for (size_t i = 0; i < s->n; i++)
		crid_free(s->ids[i]);
	crid_free(s->ids);
	crid_free(s->buf);
	crid_free(s);
}

/* The client left: the deferred call is freed by its caller right after. */
static void abandoned(void *op, void *user)
{
	(void)user;
	spread_free(op);
}

static int append(struct spread *s, const uint8_t *p, size_t len)
{
	if (s->len + len > CRID_GRPC_MAX_MESSAGE)
		return -1;
	if (s->len + len > s->cap) {
		size_t cap = (s->len + len) * 2;
		uint8_t *b = crid_realloc(s->buf, cap);

		if (!b)
			return -1;
		s->buf = b, s->cap = cap;
	}
	memcpy(s->buf + s->len, p, len);
	s->len += len;
	return 0;
}

/* One record's entry appended to the reply; 0 also when the record is gone. */
static int add_entry(struct spread *s, const char *id)
{
	struct crid_rpc *rpc = &s->d->rpc;
	void *rec = s->kind->find(rpc, id);
	ProtobufCMessage *m;
	uint8_t *item = NULL;
	size_t len = 0;
	int r = 0;

	if (!rec)
		return 0;
	m = s->kind->build(rpc, rec);
	if (!m || crid_list_item_encode(m, &item, &len) < 0 || append(s, item, len) < 0)
		r = -1;
	crid_free(item);
	crid_arena_reset(&rpc->arena);
	return r;
}

static void finish(struct spread *s, int r)
{
	struct crid_deferred *d = s->d;
	uint8_t *p;

	if (r < 0) {
		crid_rpc_fail(&d->rpc, CRID_GRPC_RESOURCE_EXHAUSTED,
			      "out of memory for the reply (%zu entries)", s->n);
	} else if (!(p = crid_grpc_call_reserve(d->rpc.call, s->len))) {
		crid_rpc_fail(&d->rpc, CRID_GRPC_RESOURCE_EXHAUSTED, "out of memory for the reply");
	} else {
		/* an empty list is still one (empty) message: a unary reply without one is no reply */
		if (s->len)
			memcpy(p, s->buf, s->len);
		crid_rpc_finish_ok(&d->rpc);
	}
	spread_free(s);
	crid_deferred_end(d);
}

static void tick_cb(struct ev_loop *ev, ev_timer *w, int revents)
{
	struct spread *s = w->data;
	double t0 = crid_metrics_clock();
	int r = 0;

	(void)ev, (void)revents;
	while (s->next < s->n && r == 0) {
		r = add_entry(s, s->ids[s->next++]);
		if (crid_metrics_clock() - t0 > TURN_SECONDS)
			break;
	}
	if (r < 0 || s->next == s->n) {
		finish(s, r);
		return;
	}
	ev_timer_set(&s->tick, 0., 0.);
	ev_timer_start(s->d->rpc.d->loop->ev, &s->tick);
}

static struct spread *spread_new(struct crid_deferred *d, const struct crid_stats_spread_kind *kind,
				 const char *const *ids, size_t n)
{
	struct spread *s = crid_calloc(1, sizeof(*s));

	if (!s)
		return NULL;
	s->d = d, s->kind = kind;
	s->ids = crid_calloc(n + 1, sizeof(*s->ids));
	for (size_t i = 0; s->ids && i < n; i++, s->n++)
		if (!(s->ids[i] = crid_strdup(ids[i])))
			break;
	if (!s->ids || s->n < n) {
		ev_timer_init(&s->tick, tick_cb, 0., 0.);
		spread_free(s);
		return NULL;
	}
	ev_timer_init(&s->tick, tick_cb, 0., 0.);
	s->tick.data = s;
	return s;
}

void crid_stats_spread_start(struct crid_rpc *rpc, const struct crid_stats_spread_kind *kind,
			     const char *const *ids, size_t n)
{
	struct crid_deferred *d = crid_deferred_new(rpc, abandoned);
	struct spread *s;
	struct crid_err e;

	if (!d)
		return;
	s = spread_new(d, kind, ids, n);
	if (!s) {
		crid_err_set(&e, ENOMEM, "stats of %zu entries", n);
		crid_deferred_started(d, NULL, &e);
		return;
	}
	ev_timer_start(rpc->d->loop->ev, &s->tick);
	crid_deferred_started(d, s, NULL);
}
