/*
 * A streaming connection over WebSocket (ws_conn.h): the channel messages
 * of k8s.io/streaming's wsstream (ws_chan.c) between io/ws.c's framing and a
 * session. Owns the socket, its watcher, the idle and finish timers.
 *
 * Lifetime: the connection frees itself when the peer's close comes or the
 * socket fails (telling the session gone() unless it finished), on the idle
 * or finish timeout, or on abort(). Callbacks can end it while io/ws.c or
 * the session is still on the stack, so every entry point counts itself in
 * |depth| and the free waits until the outermost one returns.
 */
#include "runtime/stream/ws_conn.h"

#include <errno.h>
#include <stddef.h>
#include <string.h>
#include <unistd.h>

#include "io/ws.h"
#include "reactor/log.h"
#include "reactor/mem.h"
#include "runtime/stream/spdy_conn.h"
#include "runtime/stream/ws_chan.h"
#include "runtime/stream/ws_tunnel.h"

#define WS_NORMAL_CLOSURE 1000
#define WS_INVALID_DATA 1007
/* Port-forward channels 2k, 2k+1 must fit the channel byte, also as '0' + channel. */
#define WS_MAX_PORTS 100

enum {
	CH_READ = 1,   /* the session takes input on it */
	CH_WRITE = 2,  /* the session's output goes out on it */
	CH_EOF = 4,    /* v5 CLOSE came: no more input */
	CH_CLOSED = 8, /* close_chan(): no more output */
	CH_RESET = 16, /* reset_chan(): nothing either way */
};

struct ws_conn {
	struct crid_stream_conn base;
	struct crid_loop *loop;
	struct crid_ws *ws;
	struct crid_stream_session *s; /* NULL once finished or gone */
	int fd;
	enum crid_ws_proto proto;
	bool base64;
	unsigned n_chans;
	uint8_t *chans; /* CH_* flags per channel */
	ev_io io;
	ev_timer idle;
	ev_timer finish_timer;
	/* writes what the session queued, once per loop iteration */
	struct crid_before_sleep flush_hook;
	double idle_limit, finish_limit;
	double last_active;
	int depth;
	bool paused, above_high, finishing, close_sent, dead;
};

static const struct crid_stream_conn_ops ws_conn_ops;

static struct ws_conn *conn_of(struct crid_stream_conn *bc)
{
	return (struct ws_conn *)bc;
}

static void conn_free(struct ws_conn *c)
{
	struct ev_loop *ev = c->loop->ev;

	ev_io_stop(ev, &c->io);
	ev_timer_stop(ev, &c->idle);
	ev_timer_stop(ev, &c->finish_timer);
	crid_loop_cancel_before_sleep(c->loop, &c->flush_hook);
	if (c->ws)
		crid_ws_free(c->ws);
	close(c->fd);
	if (c->base.list)
		crid_stream_conns_unlink(&c->base);
	crid_free(c->chans);
	crid_free(c);
}

static void enter(struct ws_conn *c)
{
	c->depth++;
}

/* Leaves an entry point; frees |c| when it ended meanwhile and nothing else is on the stack. */
static void leave(struct ws_conn *c)
{
	if (--c->depth == 0 && c->dead)
		conn_free(c);
}

/* Ends the connection: gone() to a session that did not finish; the free follows in leave(). */
static void conn_end(struct ws_conn *c)
{
	struct crid_stream_session *s = c->s;

	if (c->dead)
		return;
	c->dead = true;
	c->s = NULL;
	ev_io_stop(c->loop->ev, &c->io);
	ev_timer_stop(c->loop->ev, &c->idle);
	ev_timer_stop(c->loop->ev, &c->finish_timer);
	if (s)
		s->ops->gone(s);
}

/* Watches the socket for what io/ws.c wants; input stays off while the session paused it. */
static void update_io(struct ws_conn *c)
{
	int events = 0;

	if (c->dead)
		return;
	if (crid_ws_want_read(c->ws) && (!c->paused || c->finishing))
		events |= EV_READ;
	if (crid_ws_want_write(c->ws))
		events |= EV_WRITE;
	/* ev_io_set adds an internal flag to .events: compare the two that matter */
	if ((c->io.events & (EV_READ | EV_WRITE)) == events && ev_is_active(&c->io))
		return;
	ev_io_stop(c->loop->ev, &c->io);
	ev_io_set(&c->io, c->fd, events);
	if (events)
		ev_io_start(c->loop->ev, &c->io);
}

/* Queues one channel message, the payload base64-encoded for the base64 protocols. */
static int send_msg(struct ws_conn *c, unsigned chan, const void *buf, size_t len)
{
	uint8_t head = crid_ws_chan_head(c->base64, chan);
	struct crid_err err;
	size_t n = 0;
	char *b64;
	int r;

	if (!c->base64)
		return crid_ws_send(c->ws, CRID_WS_BINARY, &head, 1, buf, len, &err);
	b64 = crid_ws_chan_b64(buf, len, &n);
	if (!b64)
		return -1;
	r = crid_ws_send(c->ws, CRID_WS_TEXT, &head, 1, b64, n, &err);
	crid_free(b64);
	return r;
}

/* After the socket moved: the session hears that the queue drained, a finished one's close goes out. */
static void after_io(struct ws_conn *c)
{
	size_t queued = crid_ws_queued(c->ws);

	if (c->above_high && queued < CRID_STREAM_HIGH_WATER / 2) {
		c->above_high = false;
		if (c->s)
			c->s->ops->drained(c->s);
		if (c->dead)
			return;
		queued = crid_ws_queued(c->ws);
	}
	if (c->finishing && !c->close_sent && !queued) {
		/* wslay sends control frames before queued data: close only once the data is out */
		c->close_sent = true;
		crid_ws_close(c->ws, WS_NORMAL_CLOSURE);
	}
	update_io(c);
}

static int conn_send(struct crid_stream_conn *bc, unsigned chan, const void *buf, size_t len)
{
	struct ws_conn *c = conn_of(bc);

	if (c->dead || c->finishing)
		return -1;
	/* output on a channel the request did not ask for is dropped, as upstream's ignore channels */
	if (chan >= c->n_chans || (c->chans[chan] & (CH_WRITE | CH_CLOSED | CH_RESET)) != CH_WRITE)
		return 0;
	if (send_msg(c, chan, buf, len) < 0)
		return -1;
	if (crid_ws_queued(c->ws) > CRID_STREAM_HIGH_WATER)
		c->above_high = true;
	crid_loop_before_sleep(c->loop, &c->flush_hook);
	return 0;
}

static void conn_close_chan(struct crid_stream_conn *bc, unsigned chan)
{
	struct ws_conn *c = conn_of(bc);
	uint8_t head = CRID_WS_CHAN_CLOSE, ch = (uint8_t)chan;
	struct crid_err err;

	if (c->dead || c->finishing || chan >= c->n_chans)
		return;
	if (c->chans[chan] & CH_CLOSED)
		return;
	c->chans[chan] |= CH_CLOSED;
	if (c->proto != CRID_WS_V5 || !(c->chans[chan] & CH_WRITE))
		return;
	if (crid_ws_send(c->ws, CRID_WS_BINARY, &head, 1, &ch, 1, &err) == 0)
		crid_loop_before_sleep(c->loop, &c->flush_hook);
}

static void conn_reset_chan(struct crid_stream_conn *bc, unsigned chan)
{
	struct ws_conn *c = conn_of(bc);

	if (chan < c->n_chans)
		c->chans[chan] |= CH_RESET;
}

static size_t conn_pending(const struct crid_stream_conn *bc)
{
	const struct ws_conn *c = (const struct ws_conn *)bc;

	return c->ws ? crid_ws_queued(c->ws) : 0;
}

static void conn_pause_input(struct crid_stream_conn *bc, bool paused)
{
	struct ws_conn *c = conn_of(bc);

	c->paused = paused;
	update_io(c);
}

/* From now on the session is not called; the wait for the peer's close is bounded. */
static void start_finishing(struct ws_conn *c)
{
	c->finishing = true;
	c->s = NULL;
	ev_timer_stop(c->loop->ev, &c->idle);
	ev_timer_set(&c->finish_timer, c->finish_limit, 0.);
	ev_timer_start(c->loop->ev, &c->finish_timer);
}

static void conn_finish(struct crid_stream_conn *bc)
{
	struct ws_conn *c = conn_of(bc);

	if (c->dead || c->finishing)
		return;
	start_finishing(c);
	enter(c);
	after_io(c);
	leave(c);
}

static void conn_abort(struct crid_stream_conn *bc)
{
	struct ws_conn *c = conn_of(bc);

	enter(c);
	conn_end(c);
	leave(c);
}

static const struct crid_stream_conn_ops ws_conn_ops = {
	.send = conn_send,
	.close_chan = conn_close_chan,
	.reset_chan = conn_reset_chan,
	.pending = conn_pending,
	.pause_input = conn_pause_input,
	.finish = conn_finish,
};

/*
 * Bad input (malformed base64): the session is gone, the close (1007, not
 * waiting for queued output) goes out and the peer's answer is awaited as
 * after finish().
 */
static void protocol_error(struct ws_conn *c, const struct crid_err *err)
{
	struct crid_stream_session *s = c->s;

	crid_log_debug("stream: websocket connection: %s", err->msg);
	start_finishing(c);
	c->close_sent = true;
	crid_ws_close(c->ws, WS_INVALID_DATA);
	s->ops->gone(s);
}

static void on_message(void *user, int opcode, const uint8_t *data, size_t len)
{
	struct ws_conn *c = user;
	struct crid_ws_chan_msg m;
	struct crid_err err;
	uint8_t flags;

	(void)opcode; /* upstream takes text and binary frames alike */
	if (c->dead || !c->s)
		return;
	if (crid_ws_chan_parse(c->base64, c->proto == CRID_WS_V5, data, len, &m, &err) < 0) {
		protocol_error(c, &err);
		return;
	}
	flags = m.chan < c->n_chans ? c->chans[m.chan] : 0;
	if (m.kind == CRID_WS_CHAN_IGNORE || (flags & (CH_READ | CH_EOF | CH_RESET)) != CH_READ)
		goto out;
	if (m.kind == CRID_WS_CHAN_EOF) {
		c->chans[m.chan] |= CH_EOF;
		c->s->ops->eof(c->s, m.chan);
	} else {
		c->s->ops->data(c->s, m.chan, m.data, m.len);
	}
out:
	crid_free(m.owned);
}

static void on_closed(void *user, uint16_t code)
{
	struct ws_conn *c = user;

	crid_log_debug("stream: websocket connection closed (%u)", code);
	conn_end(c);
}

static void on_io(struct ev_loop *ev, ev_io *w, int revents)
{
	struct ws_conn *c = w->data;

	c->last_active = ev_now(ev);
	enter(c);
	if (revents & EV_READ)
		crid_ws_on_readable(c->ws);
	if (!c->dead && (revents & EV_WRITE))
		crid_ws_on_writable(c->ws);
	if (!c->dead)
		after_io(c);
	leave(c);
}

/*
 * Before the loop sleeps: what the session queued in this iteration goes out
 * in one pass (no wait for a writable event; the watcher takes over only
 * when the socket is full). Never from inside the session's calls, so a
 * failing write reaches it as gone() from here, not under its own send().
 */
static void on_flush(struct crid_before_sleep *hook)
{
	struct ws_conn *c = (struct ws_conn *)((char *)hook - offsetof(struct ws_conn, flush_hook));

	if (c->dead)
		return;
	c->last_active = ev_now(c->loop->ev);
	enter(c);
	crid_ws_on_writable(c->ws);
	if (!c->dead)
		after_io(c);
	leave(c);
}

/* The idle limit, restarted lazily: activity only stamps |last_active|. */
static void on_idle(struct ev_loop *ev, ev_timer *w, int revents)
{
	struct ws_conn *c = w->data;
	double left = c->last_active + c->idle_limit - ev_now(ev);

	(void)revents;
	if (left > 0) {
		w->repeat = left;
		ev_timer_again(ev, w);
		return;
	}
	crid_log_debug("stream: websocket connection idle for %.0f s, closing", c->idle_limit);
	enter(c);
	conn_end(c);
	leave(c);
}

/* The peer did not close within the limit after finish(): close without it. */
static void on_finish_timeout(struct ev_loop *ev, ev_timer *w, int revents)
{
	struct ws_conn *c = w->data;

	(void)ev;
	(void)revents;
	enter(c);
	conn_end(c);
	leave(c);
}

/*
 * The channels of the request: exec and attach read stdin and resize as
 * asked and write the requested output plus error; port-forward reads and
 * writes 2k (data) and writes 2k+1 (error) for each port k.
 */
static int init_chans(struct ws_conn *c, const struct crid_stream_req *req, struct crid_err *err)
{
	if (req->kind == CRID_STREAM_PORTFORWARD) {
		if (!req->n_ports)
			return crid_err_invalid(err,
						"port-forward over websocket: no port requested");
		if (req->n_ports > WS_MAX_PORTS)
			return crid_err_invalid(
			    err, "port-forward over websocket: %zu ports, at most %d", req->n_ports,
			    WS_MAX_PORTS);
		c->n_chans = 2 * req->n_ports;
	} else {
		c->n_chans = CRID_CHAN_RESIZE + 1;
	}
	c->chans = crid_calloc(c->n_chans, 1);
	if (!c->chans)
		return crid_err_set(err, ENOMEM, "websocket connection");
	if (req->kind == CRID_STREAM_PORTFORWARD) {
		for (unsigned i = 0; i < c->n_chans; i++)
			c->chans[i] = i % 2 ? CH_WRITE : CH_READ | CH_WRITE;
		return 0;
	}
	c->chans[CRID_CHAN_STDIN] = req->stdin ? CH_READ : 0;
	c->chans[CRID_CHAN_STDOUT] = req->stdout ? CH_WRITE : 0;
	c->chans[CRID_CHAN_STDERR] = req->stderr ? CH_WRITE : 0;
	c->chans[CRID_CHAN_ERROR] = CH_WRITE;
	c->chans[CRID_CHAN_RESIZE] = req->tty ? CH_READ : 0;
	return 0;
}

/*
 * The first messages, then the session's start: exec and attach tell the
 * client it is connected with an empty message on the lowest writable
 * channel; port-forward sends each port (u16 little-endian) on both of its
 * channels, then asks for the pairs (cri-streaming portforward/websocket.go).
 */
static void conn_open(struct ws_conn *c, const struct crid_stream_req *req)
{
	struct crid_stream_session *s = c->s;

	if (req->kind != CRID_STREAM_PORTFORWARD) {
		unsigned chan = req->stdout   ? CRID_CHAN_STDOUT
				: req->stderr ? CRID_CHAN_STDERR
					      : CRID_CHAN_ERROR;

		send_msg(c, chan, NULL, 0);
		s->ops->start(s);
		return;
	}
	for (size_t k = 0; k < req->n_ports; k++) {
		uint8_t le[2] = { req->ports[k] & 0xff, req->ports[k] >> 8 };

		send_msg(c, 2 * k, le, 2);
		send_msg(c, 2 * k + 1, le, 2);
	}
	for (size_t k = 0; k < req->n_ports && c->s == s && !c->dead; k++)
		s->ops->pair(s, (unsigned)k, req->ports[k]);
}

/* The remote-command version a subprotocol speaks (the session writes the status by it). */
static int proto_version(enum crid_ws_proto proto)
{
	switch (proto) {
	case CRID_WS_V5:
		return 5;
	case CRID_WS_V4:
	case CRID_WS_V4_BASE64:
		return 4;
	default:
		/*
		 * channel.k8s.io and base64: v1's status (text on failure only)
		 * and resize as v3; not SPDY v1's early reset of the error stream
		 */
		return 3;
	}
}

/*
 * Port-forward through the SPDY tunnel: the WebSocket side bridges to a
 * socket pair, the session gets an ordinary SPDY connection on its other
 * end. When that fails the bridge sees its end closed and closes the
 * WebSocket itself.
 */
static struct crid_stream_conn *tunnel_open(struct crid_loop *loop, int fd, const uint8_t *pre,
					    size_t pre_len, const struct crid_stream_req *req,
					    struct crid_stream_session *s,
					    struct crid_stream_conns *list,
					    const struct crid_stream_limits *limits,
					    struct crid_err *err)
{
	int inner;

	if (req->kind != CRID_STREAM_PORTFORWARD) {
		crid_err_invalid(err, "websocket: the spdy tunnel is for port-forward only");
		close(fd);
		return NULL;
	}
	if (!crid_ws_tunnel_new(loop, fd, pre, pre_len, list, limits, &inner, err))
		return NULL;
	return crid_spdy_conn_new(loop, inner, NULL, 0, req, 0, s, list, limits, err);
}

struct crid_stream_conn *crid_ws_conn_new(struct crid_loop *loop, int fd, const uint8_t *pre,
					  size_t pre_len, const struct crid_stream_req *req,
					  enum crid_ws_proto proto, struct crid_stream_session *s,
					  struct crid_stream_conns *list,
					  const struct crid_stream_limits *limits,
					  struct crid_err *err)
{
	static const struct crid_ws_cbs cbs = { .message = on_message, .closed = on_closed };
	struct ws_conn *c;

	if (proto == CRID_WS_SPDY_TUNNEL)
		return tunnel_open(loop, fd, pre, pre_len, req, s, list, limits, err);
	c = crid_calloc(1, sizeof(*c));
	if (!c) {
		crid_err_set(err, ENOMEM, "websocket connection");
		goto fail_fd;
	}
	c->base.ops = &ws_conn_ops;
	c->base.version = proto_version(proto);
	c->base.fixed_pairs = req->kind == CRID_STREAM_PORTFORWARD;
	c->base.abort = conn_abort;
	c->loop = loop;
	c->fd = fd;
	c->proto = proto;
	c->base64 = proto == CRID_WS_BASE64 || proto == CRID_WS_V4_BASE64;
	c->idle_limit = limits->idle;
	c->finish_limit = limits->finish;
	if (init_chans(c, req, err) < 0)
		goto fail_conn;
	c->ws = crid_ws_new(fd, false, pre, pre_len, &cbs, c, err);
	if (!c->ws)
		goto fail_conn;
	ev_io_init(&c->io, on_io, fd, 0);
	c->io.data = c;
	ev_init(&c->idle, on_idle);
	c->idle.data = c;
	ev_init(&c->finish_timer, on_finish_timeout);
	c->finish_timer.data = c;
	c->flush_hook.fn = on_flush;
	c->last_active = ev_now(loop->ev);
	c->idle.repeat = c->idle_limit;
	ev_timer_again(loop->ev, &c->idle);
	crid_stream_conns_link(list, &c->base);
	c->s = s;
	s->conn = &c->base;

	enter(c);
	conn_open(c, req);
	crid_loop_before_sleep(loop, &c->flush_hook);
	update_io(c);
	/* only the peer, a timer or abort() end a connection: it lives on after leave() */
	leave(c);
	/* bytes that came with the handshake are parsed on the loop, after start() */
	if (pre_len)
		ev_feed_event(loop->ev, &c->io, EV_READ);
	return &c->base;

fail_conn:
	crid_free(c->chans);
	crid_free(c);
fail_fd:
	close(fd);
	return NULL;
}
