/*
 * A SPDY/3.1 streaming connection (spdy_conn.h): owns the socket after the
 * 101, feeds what it reads to the codec (io/spdy.h), maps the client's
 * streams onto the session's channels (stream_conn.h) and queues the
 * session's output as DATA frames, written before the loop sleeps.
 *
 * The server side of moby/spdystream as the Kubernetes streaming servers use
 * it (cri-streaming remotecommand/httpstream.go, portforward/httpstream.go):
 * every accepted stream gets an empty SYN_REPLY, a rejected one a RST_STREAM;
 * client PINGs are echoed; there is no flow control (spdystream never sends
 * WINDOW_UPDATE). Differences on purpose: a stream of a type the request did
 * not ask for is reset instead of accepted and ignored, so the client learns
 * at once.
 *
 * Memory of an idle exec session, measured (test_spdy_conn): 18 KiB through
 * crid_malloc. This struct and its streams are ~600 bytes; the rest is the
 * codec's deflate stream (11-bit window, memLevel 1: zlib's state and its
 * two window-sized arrays). The inflate stream (~40 KiB with Go's 32 KiB
 * window) is dropped once an exec/attach session has its streams
 * (port-forward keeps it: pairs keep coming). No buffer while idle: the read
 * buffer is a stack array (what a paused session left unread is kept, at
 * most one read), output chunks are freed as soon as they are written.
 */
#include "runtime/stream/spdy_conn.h"

#include <errno.h>
#include <stddef.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <sys/socket.h>
#include <sys/uio.h>
#include <unistd.h>

#include "io/spdy.h"
#include "reactor/log.h"
#include "reactor/mem.h"

#define READ_SIZE (64u << 10)  /* one read; also the most input kept while paused */
#define DATA_PIECE (32u << 10) /* payload of one outbound DATA frame */
#define CHUNK_MIN (16u << 10)  /* output queue chunk */
#define MAX_STREAMS 512	       /* live streams per connection; more are refused */
#define MAX_REQUEST_ID 63      /* port-forward requestid length */
#define REPLY_MAX 256	       /* a SYN_REPLY with an empty header block */
#define CREATION_TIMEOUT_ENV "CRID_TEST_STREAM_CREATION_TIMEOUT"

/* What a stream carries; for exec/attach the value is its channel. */
enum stream_kind {
	K_STDIN = CRID_CHAN_STDIN,
	K_STDOUT = CRID_CHAN_STDOUT,
	K_STDERR = CRID_CHAN_STDERR,
	K_ERROR = CRID_CHAN_ERROR,
	K_RESIZE = CRID_CHAN_RESIZE,
	K_PF_DATA,
	K_PF_ERROR,
};

struct pf_pair;

struct spdy_stream {
	uint32_t id;
	int chan; /* the session's channel; -1 while a port-forward stream waits for its pair */
	enum stream_kind kind;
	bool in_closed;	 /* the peer sent FIN or RST */
	bool out_closed; /* we sent FIN or RST */
	bool eof_told;	 /* the session got eof(chan) */
	struct pf_pair *pair;
};

/* Port-forward: the error and data streams of one requestid. */
struct pf_pair {
	struct pf_pair *next;
	struct spdy_conn *conn;
	char request_id[MAX_REQUEST_ID + 1];
	uint32_t error_id, data_id; /* 0 until that stream came */
	uint16_t port;
	unsigned k;
	bool paired; /* handed to the session */
	ev_timer timer;
};

struct out_chunk {
	struct out_chunk *next;
	size_t len, off, cap;
	uint8_t data[];
};

struct spdy_conn {
	struct crid_stream_conn base;
	struct crid_loop *loop;
	struct crid_stream_session *s; /* NULL after finish() or gone() */
	struct crid_spdy_codec *codec;
	int fd;
	enum crid_stream_kind kind;
	unsigned expected, seen; /* exec/attach: bit per channel */
	struct crid_stream_limits limits;

	struct spdy_stream *streams;
	size_t n_streams, cap_streams;
	uint32_t last_id; /* the highest stream id the client opened */
	struct pf_pair *pairs;

	uint8_t *rbuf; /* input a pause left unparsed */
	size_t rbuf_len;

	struct out_chunk *out_head, *out_tail;
	size_t out_bytes;
	bool above_high; /* pending() went over CRID_STREAM_HIGH_WATER */

	ev_io rio, wio;
	ev_timer idle, deadline; /* deadline: stream creation, then the finish wait */
	double last_active;
	struct crid_before_sleep hook;

	bool started;	/* exec/attach: start() was called */
	bool paused;	/* the session paused the input */
	bool goaway_in; /* the client sent GOAWAY */
	bool finishing; /* finish(): flushing, then waiting for the peer's close */
	bool closed;	/* fd closed, watchers stopped; freed when not busy */
	unsigned busy;	/* callbacks on the stack that may still touch the struct */
	ev_timer
	    kick; /* wakes the loop when the hook was queued too late to run before the sleep */
};

static const struct crid_stream_conn_ops spdy_conn_ops;

static struct spdy_conn *conn_of(struct crid_stream_conn *c)
{
	return (struct spdy_conn *)c;
}

/* -- teardown ----------------------------------------------------------- */

static void free_pairs(struct spdy_conn *c)
{
	while (c->pairs) {
		struct pf_pair *p = c->pairs;

		c->pairs = p->next;
		ev_timer_stop(c->loop->ev, &p->timer);
		crid_free(p);
	}
}

static void free_output(struct spdy_conn *c)
{
	while (c->out_head) {
		struct out_chunk *ch = c->out_head;

		c->out_head = ch->next;
		crid_free(ch);
	}
	c->out_tail = NULL;
	c->out_bytes = 0;
}

static void spares_release(void);

static void conn_free(struct spdy_conn *c)
{
	spares_release();
	free_pairs(c);
	free_output(c);
	crid_free(c->streams);
	crid_free(c->rbuf);
	crid_spdy_codec_free(c->codec);
	crid_free(c);
}

/* Frees |c| unless a callback up the stack still uses it (it frees on the way out). */
static void maybe_free(struct spdy_conn *c)
{
	if (c->closed && c->busy == 0)
		conn_free(c);
}

/*
 * Closes the socket and stops everything; the session (if it still has the
 * connection) hears gone(). Idempotent.
 */
static void conn_close(struct spdy_conn *c)
{
	struct crid_stream_session *s = c->s;

	if (c->closed)
		return;
	c->closed = true;
	c->s = NULL;
	ev_io_stop(c->loop->ev, &c->rio);
	ev_io_stop(c->loop->ev, &c->wio);
	ev_timer_stop(c->loop->ev, &c->idle);
	ev_timer_stop(c->loop->ev, &c->deadline);
	ev_timer_stop(c->loop->ev, &c->kick);
	crid_loop_cancel_before_sleep(c->loop, &c->hook);
	free_pairs(c);
	close(c->fd);
	c->fd = -1;
	crid_stream_conns_unlink(&c->base);
	if (s) {
		c->busy++;
		s->ops->gone(s);
		c->busy--;
	}
	maybe_free(c);
}

/* -- output ------------------------------------------------------------- */

/*
 * Output and kept input are handled before the loop sleeps, in one pass. A
 * hook queued while the loop runs its hooks (say, by a session's own hook)
 * waits for the loop's next wake-up: the zero timer makes sure there is one;
 * the hook stops it when it runs first, as it mostly does.
 */
static void schedule(struct spdy_conn *c)
{
	if (c->closed)
		return;
	crid_loop_before_sleep(c->loop, &c->hook);
	if (!ev_is_active(&c->kick))
		ev_timer_start(c->loop->ev, &c->kick);
}

/*
 * Spare output chunks, shared by every connection (one loop, one thread).
 * Freeing each DATA frame's chunk once written and allocating the next made
 * glibc trim and regrow the heap top on every frame: port-forward ran at
 * ~120 MB/s, most of it in page faults. A few spares kept while any
 * connection lives take that away; the last connection's end frees them.
 */
#define SPARES_MAX 8
#define SPARE_CAP_MAX ((64u << 10) + 64)

static struct {
	struct out_chunk *head;
	unsigned n;
	unsigned conns; /* live connections */
} spares;

static struct out_chunk *chunk_get(size_t n)
{
	struct out_chunk **pp = &spares.head;

	for (; *pp; pp = &(*pp)->next) {
		if ((*pp)->cap >= n) {
			struct out_chunk *t = *pp;

			*pp = t->next;
			spares.n--;
			return t;
		}
	}
	size_t cap = n > CHUNK_MIN ? n : CHUNK_MIN;
	struct out_chunk *t = crid_malloc(sizeof(*t) + cap);

	if (t)
		t->cap = cap;
	return t;
}

static void chunk_put(struct out_chunk *t)
{
	if (spares.conns == 0 || spares.n >= SPARES_MAX || t->cap > SPARE_CAP_MAX) {
		crid_free(t);
		return;
	}
	t->next = spares.head;
	spares.head = t;
	spares.n++;
}

size_t crid_spdy_conn_spare_bytes(void)
{
	size_t n = 0;

	for (struct out_chunk *t = spares.head; t; t = t->next)
		n += sizeof(*t) + t->cap;
	return n;
}

static void spares_drop(void)
{
	while (spares.head) {
		struct out_chunk *t = spares.head;

		spares.head = t->next;
		crid_free(t);
	}
	spares.n = 0;
}

/* A connection ended: the last one takes the spares with it. */
static void spares_release(void)
{
	if (--spares.conns == 0)
		spares_drop();
}

static int queue(struct spdy_conn *c, const void *a, size_t alen, const void *b, size_t blen)
{
	struct out_chunk *t = c->out_tail;
	size_t n = alen + blen;

	if (!t || t->cap - t->len < n) {
		t = chunk_get(n);
		if (!t)
			return -1;
		t->next = NULL;
		t->len = t->off = 0;
		if (c->out_tail)
			c->out_tail->next = t;
		else
			c->out_head = t;
		c->out_tail = t;
	}
	memcpy(t->data + t->len, a, alen);
	if (blen)
		memcpy(t->data + t->len + alen, b, blen);
	t->len += n;
	c->out_bytes += n;
	if (c->out_bytes > CRID_STREAM_HIGH_WATER)
		c->above_high = true;
	c->last_active = ev_now(c->loop->ev);
	schedule(c);
	return 0;
}

static void queue_control(struct spdy_conn *c, const uint8_t *frame, size_t len)
{
	if (queue(c, frame, len, NULL, 0) < 0) {
		crid_log_warn("spdy stream connection: out of memory queueing a control frame");
		conn_close(c);
	}
}

static void send_rst(struct spdy_conn *c, uint32_t id, uint32_t status)
{
	uint8_t f[16];

	queue_control(c, f, crid_spdy_rst_stream(f, id, status));
}

/*
 * Writes the queue with writev until it is empty or the socket is full
 * (then the write watcher waits). 0, or -1 when the peer is gone.
 */
static int flush(struct spdy_conn *c)
{
	while (c->out_head) {
		struct iovec iov[16];
		struct out_chunk *ch = c->out_head;
		int n = 0;
		ssize_t w;

		for (; ch && n < 16; ch = ch->next, n++) {
			iov[n].iov_base = ch->data + ch->off;
			iov[n].iov_len = ch->len - ch->off;
		}
		w = writev(c->fd, iov, n);
		if (w < 0 && errno == EINTR)
			continue;
		if (w < 0 && (errno == EAGAIN || errno == EWOULDBLOCK)) {
			ev_io_start(c->loop->ev, &c->wio);
			return 0;
		}
		if (w < 0) {
			crid_log_debug("spdy stream connection: write: %s", strerror(errno));
			return -1;
		}
		c->out_bytes -= (size_t)w;
		c->last_active = ev_now(c->loop->ev);
		while (w > 0) {
			ch = c->out_head;
			if ((size_t)w < ch->len - ch->off) {
				ch->off += (size_t)w;
				break;
			}
			w -= (ssize_t)(ch->len - ch->off);
			c->out_head = ch->next;
			chunk_put(ch);
		}
		if (!c->out_head)
			c->out_tail = NULL;
	}
	ev_io_stop(c->loop->ev, &c->wio);
	return 0;
}

/* After a write: tells the session when the queue went low again. */
static void after_write(struct spdy_conn *c)
{
	if (c->above_high && c->out_bytes < CRID_STREAM_HIGH_WATER / 2) {
		c->above_high = false;
		if (c->s && c->s->ops->drained) {
			c->busy++;
			c->s->ops->drained(c->s);
			c->busy--;
		}
	}
}

/* -- streams ------------------------------------------------------------ */

static struct spdy_stream *stream_by_id(struct spdy_conn *c, uint32_t id)
{
	for (size_t i = 0; i < c->n_streams; i++)
		if (c->streams[i].id == id)
			return &c->streams[i];
	return NULL;
}

static struct spdy_stream *stream_by_chan(struct spdy_conn *c, unsigned chan)
{
	for (size_t i = 0; i < c->n_streams; i++)
		if (c->streams[i].chan == (int)chan)
			return &c->streams[i];
	return NULL;
}

static struct spdy_stream *stream_add(struct spdy_conn *c, uint32_t id, enum stream_kind kind)
{
	struct spdy_stream *st;

	if (c->n_streams == c->cap_streams) {
		size_t cap = c->cap_streams ? c->cap_streams * 2 : 5;
		void *p = crid_realloc(c->streams, cap * sizeof(*c->streams));

		if (!p)
			return NULL;
		c->streams = p;
		c->cap_streams = cap;
	}
	st = &c->streams[c->n_streams++];
	memset(st, 0, sizeof(*st));
	st->id = id;
	st->kind = kind;
	st->chan = kind <= K_RESIZE ? (int)kind : -1;
	return st;
}

static void pair_drop(struct spdy_conn *c, struct pf_pair *p);
static void check_goaway(struct spdy_conn *c);

/* Forgets a port-forward stream that is closed both ways (exec streams are few: kept). */
static void stream_reap(struct spdy_conn *c, struct spdy_stream *st)
{
	struct pf_pair *p = st->pair;
	size_t i = (size_t)(st - c->streams);

	if (!p || !st->in_closed || !st->out_closed)
		return;
	if (p->data_id == st->id)
		p->data_id = 0;
	else
		p->error_id = 0;
	c->streams[i] = c->streams[--c->n_streams];
	if (!p->data_id && !p->error_id)
		pair_drop(c, p);
}

/* The session hears eof on |st|'s channel (once, and only once it may hear anything). */
static void tell_eof(struct spdy_conn *c, struct spdy_stream *st)
{
	bool live = c->kind == CRID_STREAM_PORTFORWARD ? st->pair && st->pair->paired : c->started;

	if (!live || st->eof_told || st->chan < 0 || !c->s)
		return;
	st->eof_told = true;
	c->busy++;
	c->s->ops->eof(c->s, (unsigned)st->chan);
	c->busy--;
}

/* -- port-forward pairs ------------------------------------------------- */

static void pair_drop(struct spdy_conn *c, struct pf_pair *p)
{
	struct pf_pair **pp = &c->pairs;

	while (*pp && *pp != p)
		pp = &(*pp)->next;
	if (*pp)
		*pp = p->next;
	ev_timer_stop(c->loop->ev, &p->timer);
	for (size_t i = 0; i < c->n_streams; i++)
		if (c->streams[i].pair == p)
			c->streams[i].pair = NULL;
	crid_free(p);
}

/* The lowest k no live pair uses, so channel numbers stay small. */
static unsigned free_k(struct spdy_conn *c)
{
	for (unsigned k = 0;; k++) {
		struct pf_pair *p = c->pairs;

		while (p && !(p->paired && p->k == k))
			p = p->next;
		if (!p)
			return k;
	}
}

static void send_fin(struct spdy_conn *c, struct spdy_stream *st)
{
	uint8_t h[8];

	if (st->out_closed)
		return;
	st->out_closed = true;
	if (queue(c, h, crid_spdy_data_head(h, st->id, CRID_SPDY_FLAG_FIN, 0), NULL, 0) < 0)
		conn_close(c);
}

static void send_text(struct spdy_conn *c, struct spdy_stream *st, const char *msg)
{
	uint8_t h[8];
	size_t n = strlen(msg);

	if (st->out_closed)
		return;
	if (queue(c, h, crid_spdy_data_head(h, st->id, 0, (uint32_t)n), msg, n) < 0)
		conn_close(c);
}

/*
 * A pair that did not complete within the creation limit: the error text on
 * its error stream (cri-streaming portforward/httpstream.go
 * monitorStreamPair), both streams closed.
 */
static void stream_remove(struct spdy_conn *c, uint32_t id)
{
	struct spdy_stream *st = stream_by_id(c, id);

	if (st)
		*st = c->streams[--c->n_streams];
}

static void on_pair_timeout(struct ev_loop *ev, ev_timer *w, int revents)
{
	struct pf_pair *p = (struct pf_pair *)((char *)w - offsetof(struct pf_pair, timer));
	struct spdy_conn *c = p->conn;
	struct spdy_stream *e = p->error_id ? stream_by_id(c, p->error_id) : NULL;
	struct spdy_stream *d = p->data_id ? stream_by_id(c, p->data_id) : NULL;
	uint32_t eid = p->error_id, did = p->data_id;
	char msg[160];

	(void)ev, (void)revents;
	snprintf(msg, sizeof(msg), "request %s: timed out waiting for streams", p->request_id);
	c->busy++;
	if (e) {
		send_text(c, e, msg);
		send_fin(c, e);
	}
	if (d && !c->closed)
		send_fin(c, d);
	if (!c->closed) {
		/* the client's late bytes on them are dropped as for any unknown stream */
		pair_drop(c, p);
		stream_remove(c, eid);
		stream_remove(c, did);
		if (c->goaway_in)
			check_goaway(c);
	}
	c->busy--;
	maybe_free(c);
}

static struct pf_pair *pair_find(struct spdy_conn *c, const char *request_id)
{
	for (struct pf_pair *p = c->pairs; p; p = p->next)
		if (!p->paired && strcmp(p->request_id, request_id) == 0)
			return p;
	return NULL;
}

/* The session gets pair k; then whatever the client already closed. */
static void pair_start(struct spdy_conn *c, struct pf_pair *p)
{
	struct spdy_stream *d = stream_by_id(c, p->data_id);
	struct spdy_stream *e = stream_by_id(c, p->error_id);

	ev_timer_stop(c->loop->ev, &p->timer);
	p->k = free_k(c);
	p->paired = true;
	d->chan = (int)(2 * p->k);
	e->chan = (int)(2 * p->k + 1);
	c->busy++;
	if (c->s)
		c->s->ops->pair(c->s, p->k, p->port);
	c->busy--;
	if (c->closed)
		return;
	/* The session may have closed streams meanwhile: look them up again. */
	d = stream_by_chan(c, 2 * p->k);
	if (d && d->in_closed)
		tell_eof(c, d);
	e = stream_by_chan(c, 2 * p->k + 1);
	if (e && e->in_closed && !c->closed)
		tell_eof(c, e);
}

/* -- SYN_STREAM --------------------------------------------------------- */

static bool value_is(const struct crid_spdy_header *h, const char *want)
{
	return h && h->value_len == strlen(want) && strncasecmp(h->value, want, h->value_len) == 0;
}

/* The exec/attach stream type, -1 when unknown. */
static int command_kind(const struct crid_spdy_header *h)
{
	static const char *const names[] = { "stdin", "stdout", "stderr", "error", "resize" };

	for (int i = 0; i < 5; i++)
		if (value_is(h, names[i]))
			return i;
	return -1;
}

static void accept_stream(struct spdy_conn *c, uint32_t id)
{
	uint8_t f[REPLY_MAX];
	struct crid_err err;
	ssize_t n = crid_spdy_syn_reply(c->codec, f, sizeof(f), id, 0, NULL, 0, &err);

	if (n < 0) {
		crid_log_warn("spdy stream connection: %s", err.msg);
		conn_close(c);
		return;
	}
	queue_control(c, f, (size_t)n);
}

/* Exec/attach: every stream the request needs is there. */
static void command_start(struct spdy_conn *c)
{
	c->started = true;
	ev_timer_stop(c->loop->ev, &c->deadline);
	crid_spdy_codec_drop_inflate(c->codec);
	c->busy++;
	if (c->s)
		c->s->ops->start(c->s);
	c->busy--;
	for (size_t i = 0; i < c->n_streams && !c->closed; i++)
		if (c->streams[i].in_closed)
			tell_eof(c, &c->streams[i]);
}

static void syn_command(struct spdy_conn *c, const struct crid_spdy_frame *f)
{
	int kind = command_kind(crid_spdy_header_find(f, "streamtype"));
	struct spdy_stream *st;

	if (kind < 0 || !(c->expected & (1u << kind)) || c->started) {
		send_rst(c, f->stream_id, CRID_SPDY_REFUSED_STREAM);
		return;
	}
	if (c->seen & (1u << kind)) {
		send_rst(c, f->stream_id, CRID_SPDY_PROTOCOL_ERROR);
		return;
	}
	st = stream_add(c, f->stream_id, (enum stream_kind)kind);
	if (!st) {
		send_rst(c, f->stream_id, CRID_SPDY_INTERNAL_ERROR);
		return;
	}
	st->in_closed = f->flags & CRID_SPDY_FLAG_FIN;
	c->seen |= 1u << kind;
	accept_stream(c, f->stream_id);
	if (!c->closed && c->seen == c->expected)
		command_start(c);
}

/* `port`: 1..65535 in decimal, else 0. */
static uint16_t parse_port(const struct crid_spdy_header *h)
{
	unsigned long v = 0;

	if (!h || h->value_len == 0 || h->value_len > 5)
		return 0;
	for (size_t i = 0; i < h->value_len; i++) {
		if (h->value[i] < '0' || h->value[i] > '9')
			return 0;
		v = v * 10 + (unsigned long)(h->value[i] - '0');
	}
	return v >= 1 && v <= 65535 ? (uint16_t)v : 0;
}

/*
 * The pair key: the `requestid` header, or for clients older than it
 * (kubernetes 1.4) the error stream's id, which the data stream's id less
 * two names (cri-streaming portforward/httpstream.go requestID()).
 */
static int request_key(const struct crid_spdy_frame *f, bool data, char out[MAX_REQUEST_ID + 1])
{
	const struct crid_spdy_header *h = crid_spdy_header_find(f, "requestid");

	if (!h) {
		snprintf(out, MAX_REQUEST_ID + 1, "#%u", data ? f->stream_id - 2 : f->stream_id);
		return 0;
	}
	if (h->value_len > MAX_REQUEST_ID || memchr(h->value, '\0', h->value_len))
		return -1;
	memcpy(out, h->value, h->value_len);
	out[h->value_len] = '\0';
	return 0;
}

static struct pf_pair *pair_new(struct spdy_conn *c, const char *key)
{
	struct pf_pair *p = crid_calloc(1, sizeof(*p));

	if (!p)
		return NULL;
	p->conn = c;
	snprintf(p->request_id, sizeof(p->request_id), "%s", key);
	ev_timer_init(&p->timer, on_pair_timeout, c->limits.creation, 0.);
	ev_timer_start(c->loop->ev, &p->timer);
	p->next = c->pairs;
	c->pairs = p;
	return p;
}

static void syn_port_forward(struct spdy_conn *c, const struct crid_spdy_frame *f)
{
	const struct crid_spdy_header *type = crid_spdy_header_find(f, "streamtype");
	bool data = value_is(type, "data");
	uint16_t port = parse_port(crid_spdy_header_find(f, "port"));
	char key[MAX_REQUEST_ID + 1];
	struct pf_pair *p;
	struct spdy_stream *st;

	if ((!data && !value_is(type, "error")) || !port || request_key(f, data, key) < 0) {
		send_rst(c, f->stream_id, CRID_SPDY_PROTOCOL_ERROR);
		return;
	}
	p = pair_find(c, key);
	if (p && (data ? p->data_id : p->error_id)) {
		send_rst(c, f->stream_id, CRID_SPDY_PROTOCOL_ERROR);
		return;
	}
	if (!p)
		p = pair_new(c, key);
	st = p ? stream_add(c, f->stream_id, data ? K_PF_DATA : K_PF_ERROR) : NULL;
	if (!st) {
		if (p && !p->data_id && !p->error_id)
			pair_drop(c, p);
		send_rst(c, f->stream_id, CRID_SPDY_INTERNAL_ERROR);
		return;
	}
	st->pair = p;
	st->in_closed = f->flags & CRID_SPDY_FLAG_FIN;
	if (data) {
		p->data_id = f->stream_id;
		p->port = port; /* the data stream's port counts, as upstream's */
	} else {
		p->error_id = f->stream_id;
		if (!p->data_id)
			p->port = port;
	}
	accept_stream(c, f->stream_id);
	if (!c->closed && p->data_id && p->error_id)
		pair_start(c, p);
}

static void goaway_and_close(struct spdy_conn *c, const char *why);

static void on_syn_stream(struct spdy_conn *c, const struct crid_spdy_frame *f)
{
	uint32_t id = f->stream_id;

	if (id <= c->last_id) {
		goaway_and_close(c, "stream id not above the last one");
		return;
	}
	c->last_id = id;
	if (id % 2 == 0) {
		send_rst(c, id, CRID_SPDY_PROTOCOL_ERROR); /* server-side ids are even */
		return;
	}
	if (c->goaway_in || c->finishing || c->n_streams >= MAX_STREAMS) {
		send_rst(c, id, CRID_SPDY_REFUSED_STREAM);
		return;
	}
	if (c->kind == CRID_STREAM_PORTFORWARD)
		syn_port_forward(c, f);
	else
		syn_command(c, f);
}

/* -- other frames ------------------------------------------------------- */

/* Channels the session reads: exec/attach stdin and resize, port-forward data. */
static bool inbound(const struct spdy_stream *st)
{
	return st->kind == K_STDIN || st->kind == K_RESIZE || st->kind == K_PF_DATA;
}

static void on_data(struct spdy_conn *c, const struct crid_spdy_frame *f)
{
	struct spdy_stream *st = stream_by_id(c, f->stream_id);
	bool live;

	if (f->stream_id == 0 || f->stream_id > c->last_id) {
		/* no client writes to a stream it never opened: garbage (say, a pipelined
		 * HTTP request) is better ended now than read as a 2 MiB frame */
		goaway_and_close(c, "data on a stream never opened");
		return;
	}
	if (!st || st->in_closed)
		return; /* a stream we reset, or one it never opened: late bytes are dropped */
	live = st->pair ? st->pair->paired : c->started;
	/* Bytes before the session may hear them (a client that writes before it has opened
	 * every stream) are dropped: nothing may buffer without bound. */
	if (f->len && live && inbound(st) && c->s && !c->finishing) {
		c->busy++;
		c->s->ops->data(c->s, (unsigned)st->chan, f->data, f->len);
		c->busy--;
		if (c->closed)
			return;
		st = stream_by_id(c, f->stream_id);
	}
	if (st && (f->flags & CRID_SPDY_FLAG_FIN) && f->last_piece) {
		st->in_closed = true;
		tell_eof(c, st);
		if (!c->closed && (st = stream_by_id(c, f->stream_id)))
			stream_reap(c, st);
	}
}

static void on_rst(struct spdy_conn *c, const struct crid_spdy_frame *f)
{
	struct spdy_stream *st = stream_by_id(c, f->stream_id);

	if (!st)
		return;
	st->out_closed = true; /* sends to it are dropped from now on */
	if (!st->in_closed) {
		st->in_closed = true;
		tell_eof(c, st);
	}
	if (!c->closed && (st = stream_by_id(c, f->stream_id)))
		stream_reap(c, st);
}

/* Any stream still open either way. */
static bool streams_open(const struct spdy_conn *c)
{
	for (size_t i = 0; i < c->n_streams; i++)
		if (!c->streams[i].in_closed || !c->streams[i].out_closed)
			return true;
	return false;
}

/*
 * After the client's GOAWAY no stream comes: a session that cannot start
 * any more, or has nothing open, is over.
 */
static void check_goaway(struct spdy_conn *c)
{
	bool over = c->kind == CRID_STREAM_PORTFORWARD ? !streams_open(c) : !c->started;

	if (c->goaway_in && !c->finishing && over)
		conn_close(c);
}

static int on_frame(void *user, const struct crid_spdy_frame *f)
{
	struct spdy_conn *c = user;
	uint8_t ping[12];

	switch (f->type) {
	case CRID_SPDY_DATA:
		on_data(c, f);
		break;
	case CRID_SPDY_SYN_STREAM:
		on_syn_stream(c, f);
		break;
	case CRID_SPDY_RST_STREAM:
		on_rst(c, f);
		break;
	case CRID_SPDY_PING:
		/* client-go pings every 5 s and expects its own id back (spdystream) */
		queue_control(c, ping, crid_spdy_ping(ping, f->value));
		break;
	case CRID_SPDY_GOAWAY:
		c->goaway_in = true;
		break;
	default:
		break; /* SETTINGS, WINDOW_UPDATE, HEADERS: spdystream ignores them too */
	}
	if (!c->closed && c->goaway_in)
		check_goaway(c);
	return c->closed || c->paused;
}

/* -- input -------------------------------------------------------------- */

static void goaway_and_close(struct spdy_conn *c, const char *why)
{
	uint8_t g[16];

	crid_log_debug("spdy stream connection: protocol error: %s", why);
	if (!c->finishing)
		queue(c, g, crid_spdy_goaway(g, c->last_id, CRID_SPDY_GOAWAY_PROTOCOL_ERROR), NULL,
		      0);
	flush(c); /* best effort: the client learns why, if its socket takes it */
	conn_close(c);
}

/*
 * Parses |buf|; what a pause leaves unparsed is kept in rbuf (at most one
 * read's worth: the read watcher is stopped meanwhile).
 */
static void feed(struct spdy_conn *c, const uint8_t *buf, size_t len)
{
	struct crid_err err;
	ssize_t used;

	c->last_active = ev_now(c->loop->ev);
	c->busy++;
	used = crid_spdy_feed(c->codec, buf, len, on_frame, c, &err);
	c->busy--;
	if (c->closed)
		return;
	if (used < 0) {
		goaway_and_close(c, err.msg);
		return;
	}
	if ((size_t)used < len) {
		uint8_t *keep = crid_malloc(len - (size_t)used);

		if (!keep) {
			conn_close(c);
			return;
		}
		memcpy(keep, buf + used, len - (size_t)used);
		crid_free(c->rbuf);
		c->rbuf = keep;
		c->rbuf_len = len - (size_t)used;
		ev_io_stop(c->loop->ev, &c->rio);
	}
}

/* Input a pause left behind, parsed once the session resumed. */
static void feed_kept(struct spdy_conn *c)
{
	uint8_t *buf = c->rbuf;
	size_t len = c->rbuf_len;

	c->rbuf = NULL;
	c->rbuf_len = 0;
	feed(c, buf, len);
	crid_free(buf);
}

static void on_readable(struct ev_loop *ev, ev_io *w, int revents)
{
	struct spdy_conn *c = (struct spdy_conn *)((char *)w - offsetof(struct spdy_conn, rio));
	uint8_t buf[READ_SIZE];
	ssize_t n;

	(void)ev, (void)revents;
	n = read(c->fd, buf, sizeof(buf));
	if (n < 0 && (errno == EAGAIN || errno == EWOULDBLOCK || errno == EINTR))
		return;
	if (n <= 0) {
		/* The peer closed (after finish(): what we waited for) or reset. */
		crid_log_debug("spdy stream connection: peer %s", n == 0 ? "closed" : "reset");
		conn_close(c);
		return;
	}
	c->busy++;
	feed(c, buf, (size_t)n);
	c->busy--;
	maybe_free(c);
}

static void on_writable(struct ev_loop *ev, ev_io *w, int revents)
{
	struct spdy_conn *c = (struct spdy_conn *)((char *)w - offsetof(struct spdy_conn, wio));

	(void)ev, (void)revents;
	c->busy++;
	if (flush(c) < 0)
		conn_close(c);
	else
		after_write(c);
	c->busy--;
	maybe_free(c);
}

/* Parses what a resume released, then writes what was queued. */
static void do_pending(struct spdy_conn *c)
{
	ev_timer_stop(c->loop->ev, &c->kick);
	crid_loop_cancel_before_sleep(c->loop, &c->hook);
	c->busy++;
	if (c->rbuf && !c->paused)
		feed_kept(c);
	if (!c->closed && !c->paused && !c->rbuf && !ev_is_active(&c->rio))
		ev_io_start(c->loop->ev, &c->rio);
	if (!c->closed && c->out_head && !ev_is_active(&c->wio)) {
		if (flush(c) < 0)
			conn_close(c);
		else
			after_write(c);
	}
	c->busy--;
	maybe_free(c);
}

static void on_before_sleep(struct crid_before_sleep *hook)
{
	do_pending((struct spdy_conn *)((char *)hook - offsetof(struct spdy_conn, hook)));
}

static void on_kick(struct ev_loop *ev, ev_timer *w, int revents)
{
	(void)ev, (void)revents;
	do_pending((struct spdy_conn *)((char *)w - offsetof(struct spdy_conn, kick)));
}

/* -- timers ------------------------------------------------------------- */

static void on_idle(struct ev_loop *ev, ev_timer *w, int revents)
{
	struct spdy_conn *c = (struct spdy_conn *)((char *)w - offsetof(struct spdy_conn, idle));
	double left = c->last_active + c->limits.idle - ev_now(ev);

	(void)revents;
	if (left > 0.) {
		w->repeat = left;
		ev_timer_again(ev, w);
		return;
	}
	crid_log_info("spdy stream connection: idle for %gs, closing", c->limits.idle);
	conn_close(c);
}

/*
 * The deadline: before start, the creation limit (the error text on the
 * error stream, as cri-streaming's "timed out waiting for client to create
 * streams"); after finish(), the wait for the peer's close.
 */
static void on_deadline(struct ev_loop *ev, ev_timer *w, int revents)
{
	struct spdy_conn *c =
	    (struct spdy_conn *)((char *)w - offsetof(struct spdy_conn, deadline));
	struct spdy_stream *e = stream_by_chan(c, CRID_CHAN_ERROR);

	(void)ev, (void)revents;
	if (!c->finishing && e) {
		send_text(c, e, "timed out waiting for client to create streams");
		send_fin(c, e);
		flush(c);
	}
	if (!c->finishing)
		crid_log_info("spdy stream connection: streams not created within %gs",
			      c->limits.creation);
	conn_close(c);
}

/* -- what the session may ask ------------------------------------------- */

static int op_send(struct crid_stream_conn *base, unsigned chan, const void *buf, size_t len)
{
	struct spdy_conn *c = conn_of(base);
	struct spdy_stream *st;
	const uint8_t *p = buf;

	if (c->closed || c->finishing)
		return -1;
	st = stream_by_chan(c, chan);
	if (!st || st->out_closed || (inbound(st) && st->kind != K_PF_DATA))
		return 0; /* a channel the client did not open, or reset: dropped */
	while (len > 0) {
		uint8_t h[8];
		size_t n = len < DATA_PIECE ? len : DATA_PIECE;

		if (queue(c, h, crid_spdy_data_head(h, st->id, 0, (uint32_t)n), p, n) < 0) {
			crid_log_warn("spdy stream connection: out of memory");
			return -1;
		}
		p += n;
		len -= n;
	}
	return 0;
}

static void op_close_chan(struct crid_stream_conn *base, unsigned chan)
{
	struct spdy_conn *c = conn_of(base);
	struct spdy_stream *st;

	if (c->closed || !(st = stream_by_chan(c, chan)))
		return;
	send_fin(c, st);
	if (!c->closed && (st = stream_by_chan(c, chan)))
		stream_reap(c, st);
	if (!c->closed && c->goaway_in)
		check_goaway(c);
}

static void op_reset_chan(struct crid_stream_conn *base, unsigned chan)
{
	struct spdy_conn *c = conn_of(base);
	struct spdy_stream *st;

	if (c->closed || !(st = stream_by_chan(c, chan)) || (st->in_closed && st->out_closed))
		return;
	st->in_closed = st->out_closed = true;
	st->eof_told = true; /* the session dropped it: no eof for it */
	send_rst(c, st->id, CRID_SPDY_CANCEL);
	if (!c->closed && (st = stream_by_chan(c, chan)))
		stream_reap(c, st);
	if (!c->closed && c->goaway_in)
		check_goaway(c);
}

static size_t op_pending(const struct crid_stream_conn *base)
{
	return ((const struct spdy_conn *)base)->out_bytes;
}

static void op_pause_input(struct crid_stream_conn *base, bool paused)
{
	struct spdy_conn *c = conn_of(base);

	if (c->closed || c->finishing || c->paused == paused)
		return;
	c->paused = paused;
	if (paused)
		ev_io_stop(c->loop->ev, &c->rio);
	else
		schedule(c); /* the hook parses what was kept and restarts the watcher */
}

static void op_finish(struct crid_stream_conn *base)
{
	struct spdy_conn *c = conn_of(base);

	if (c->closed || c->finishing)
		return;
	c->finishing = true;
	c->s = NULL;
	c->paused = false;
	crid_free(c->rbuf); /* input for the session is of no use now */
	c->rbuf = NULL;
	c->rbuf_len = 0;
	ev_timer_stop(c->loop->ev, &c->deadline);
	ev_timer_set(&c->deadline, c->limits.finish, 0.);
	ev_timer_start(c->loop->ev, &c->deadline);
	schedule(c);
}

static void op_abort(struct crid_stream_conn *base)
{
	conn_close(conn_of(base));
}

static const struct crid_stream_conn_ops spdy_conn_ops = {
	.send = op_send,
	.close_chan = op_close_chan,
	.reset_chan = op_reset_chan,
	.pending = op_pending,
	.pause_input = op_pause_input,
	.finish = op_finish,
};

/* -- construction ------------------------------------------------------- */

/* Tests shorten the creation limit (CRID_TEST=1 and CRID_TEST_STREAM_CREATION_TIMEOUT=<s>). */
static double creation_limit(double configured)
{
	const char *test = getenv("CRID_TEST");
	const char *v = getenv(CREATION_TIMEOUT_ENV);
	char *end;
	double d;

	if (!test || strcmp(test, "1") != 0 || !v || !*v)
		return configured;
	d = strtod(v, &end);
	return *end == '\0' && d > 0. ? d : configured;
}

/* The streams an exec/attach needs (spec §5): error, the stdio asked for, resize with a tty. */
static unsigned expected_streams(const struct crid_stream_req *req, int version)
{
	unsigned m = 1u << CRID_CHAN_ERROR;

	if (req->stdin)
		m |= 1u << CRID_CHAN_STDIN;
	if (req->stdout)
		m |= 1u << CRID_CHAN_STDOUT;
	if (req->stderr && !req->tty)
		m |= 1u << CRID_CHAN_STDERR;
	if (req->tty && version >= 3)
		m |= 1u << CRID_CHAN_RESIZE;
	return m;
}

struct crid_stream_conn *crid_spdy_conn_new(struct crid_loop *loop, int fd, const uint8_t *pre,
					    size_t pre_len, const struct crid_stream_req *req,
					    int version, struct crid_stream_session *s,
					    struct crid_stream_conns *list,
					    const struct crid_stream_limits *limits,
					    struct crid_err *err)
{
	struct spdy_conn *c = crid_calloc(1, sizeof(*c));

	if (!c) {
		crid_err_set(err, ENOMEM, "spdy stream connection");
		close(fd);
		return NULL;
	}
	c->codec = crid_spdy_codec_new(err);
	if (!c->codec || (pre_len && !(c->rbuf = crid_malloc(pre_len)))) {
		if (c->codec)
			crid_err_set(err, ENOMEM, "spdy stream connection");
		crid_spdy_codec_free(c->codec);
		crid_free(c);
		close(fd);
		return NULL;
	}
	if (pre_len) {
		memcpy(c->rbuf, pre, pre_len);
		c->rbuf_len = pre_len;
	}
	spares.conns++;
	c->base.ops = &spdy_conn_ops;
	c->base.version = version;
	c->base.abort = op_abort;
	c->loop = loop;
	c->s = s;
	c->fd = fd;
	c->kind = req->kind;
	c->expected = expected_streams(req, version);
	c->limits = *limits;
	c->limits.creation = creation_limit(limits->creation);
	c->last_active = ev_now(loop->ev);
	c->hook.fn = on_before_sleep;
	ev_io_init(&c->rio, on_readable, fd, EV_READ);
	ev_io_init(&c->wio, on_writable, fd, EV_WRITE);
	ev_timer_init(&c->idle, on_idle, c->limits.idle, 0.);
	ev_timer_start(loop->ev, &c->idle);
	ev_init(&c->deadline, on_deadline);
	ev_timer_init(&c->kick, on_kick, 0., 0.);
	if (c->kind != CRID_STREAM_PORTFORWARD) {
		ev_timer_set(&c->deadline, c->limits.creation, 0.);
		ev_timer_start(loop->ev, &c->deadline);
	}
	s->conn = &c->base;
	crid_stream_conns_link(list, &c->base);
	schedule(c); /* starts the read watcher, parses |pre| */
	return &c->base;
}
