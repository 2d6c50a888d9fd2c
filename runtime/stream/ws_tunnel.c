/*
 * The SPDY-over-WebSocket tunnel (ws_tunnel.h): a WebSocket (io/ws.c) on
 * one side, a socket pair end on the other, bytes copied both ways. Bounded:
 * the peer's messages are read only while nothing waits for the inner end
 * (what one read delivers is kept, then input stops until it is written);
 * the inner end is read only while the WebSocket queue is below the high
 * water. As ws_conn.c, every entry point counts itself in |depth| and the
 * free waits for the outermost one.
 */
#include "runtime/stream/ws_tunnel.h"

#include <errno.h>
#include <string.h>
#include <sys/socket.h>
#include <unistd.h>

#include "io/ws.h"
#include "reactor/log.h"
#include "reactor/mem.h"

#define TUNNEL_NORMAL_CLOSURE 1000
#define TUNNEL_UNSUPPORTED_DATA 1003
#define TUNNEL_READ_CHUNK (64u << 10)

struct tunnel {
	struct crid_stream_conn base; /* in the server's list, for abort() only */
	struct crid_loop *loop;
	struct crid_ws *ws;
	int fd, pfd; /* the client's socket; our end of the pair */
	ev_io io, pio;
	ev_timer finish_timer;
	double finish_limit;
	uint8_t *backlog; /* peer bytes the inner end did not take yet */
	size_t backlog_len;
	int depth;
	bool inner_eof, close_sent, dead;
};

static void tunnel_free(struct tunnel *t)
{
	struct ev_loop *ev = t->loop->ev;

	ev_io_stop(ev, &t->io);
	ev_io_stop(ev, &t->pio);
	ev_timer_stop(ev, &t->finish_timer);
	crid_ws_free(t->ws);
	close(t->fd);
	close(t->pfd);
	crid_stream_conns_unlink(&t->base);
	crid_free(t->backlog);
	crid_free(t);
}

static void enter(struct tunnel *t)
{
	t->depth++;
}

static void leave(struct tunnel *t)
{
	if (--t->depth == 0 && t->dead)
		tunnel_free(t);
}

/* The end: the inner end closes with the tunnel, which the SPDY connection reads as EOF. */
static void tunnel_end(struct tunnel *t)
{
	if (t->dead)
		return;
	t->dead = true;
	ev_io_stop(t->loop->ev, &t->io);
	ev_io_stop(t->loop->ev, &t->pio);
	ev_timer_stop(t->loop->ev, &t->finish_timer);
}

static void set_io(struct tunnel *t, ev_io *w, int fd, int events)
{
	if ((w->events & (EV_READ | EV_WRITE)) == events && ev_is_active(w))
		return;
	ev_io_stop(t->loop->ev, w);
	ev_io_set(w, fd, events);
	if (events)
		ev_io_start(t->loop->ev, w);
}

/* What each side waits for, and the close once the inner end is done and the queue is out. */
static void update(struct tunnel *t)
{
	int ev = 0, pev = 0;

	if (t->dead)
		return;
	if (t->inner_eof && !t->close_sent && !crid_ws_queued(t->ws)) {
		t->close_sent = true;
		crid_ws_close(t->ws, TUNNEL_NORMAL_CLOSURE);
	}
	if (crid_ws_want_read(t->ws) && (!t->backlog_len || t->inner_eof))
		ev |= EV_READ;
	if (crid_ws_want_write(t->ws))
		ev |= EV_WRITE;
	if (!t->inner_eof && crid_ws_queued(t->ws) < CRID_STREAM_HIGH_WATER)
		pev |= EV_READ;
	if (!t->inner_eof && t->backlog_len)
		pev |= EV_WRITE;
	set_io(t, &t->io, t->fd, ev);
	set_io(t, &t->pio, t->pfd, pev);
}

/* The inner end closed (or failed): nothing more goes in or comes out; close once flushed. */
static void inner_done(struct tunnel *t)
{
	if (t->inner_eof)
		return;
	t->inner_eof = true;
	t->backlog_len = 0;
	ev_timer_set(&t->finish_timer, t->finish_limit, 0.);
	ev_timer_start(t->loop->ev, &t->finish_timer);
}

/* Writes |len| bytes to the inner end; what it does not take waits in the backlog. */
static void to_inner(struct tunnel *t, const uint8_t *data, size_t len)
{
	ssize_t n = 0;
	uint8_t *p;

	if (!t->backlog_len) {
		n = send(t->pfd, data, len, MSG_NOSIGNAL | MSG_DONTWAIT);
		if (n < 0 && errno != EAGAIN && errno != EINTR) {
			inner_done(t);
			return;
		}
		if (n < 0)
			n = 0;
		if ((size_t)n == len)
			return;
	}
	p = crid_realloc(t->backlog, t->backlog_len + len - n);
	if (!p) {
		crid_log_warn("stream: websocket tunnel: out of memory, closing");
		tunnel_end(t);
		return;
	}
	t->backlog = p;
	memcpy(p + t->backlog_len, data + n, len - n);
	t->backlog_len += len - n;
}

static void on_message(void *user, int opcode, const uint8_t *data, size_t len)
{
	struct tunnel *t = user;

	if (t->dead || t->inner_eof || t->close_sent)
		return;
	if (opcode != CRID_WS_BINARY) {
		/* client-go: "invalid message type received"; the stream is bytes */
		crid_log_debug("stream: websocket tunnel: text message, closing");
		t->close_sent = true;
		crid_ws_close(t->ws, TUNNEL_UNSUPPORTED_DATA);
		inner_done(t);
		return;
	}
	to_inner(t, data, len);
}

static void on_closed(void *user, uint16_t code)
{
	struct tunnel *t = user;

	crid_log_debug("stream: websocket tunnel closed (%u)", code);
	tunnel_end(t);
}

static void on_ws_io(struct ev_loop *ev, ev_io *w, int revents)
{
	struct tunnel *t = w->data;

	(void)ev;
	enter(t);
	if (revents & EV_READ)
		crid_ws_on_readable(t->ws);
	if (!t->dead && (revents & EV_WRITE))
		crid_ws_on_writable(t->ws);
	update(t);
	leave(t);
}

static void inner_readable(struct tunnel *t)
{
	static uint8_t buf[TUNNEL_READ_CHUNK]; /* the loop has one thread: one buffer serves all */
	struct crid_err err;
	ssize_t n = recv(t->pfd, buf, sizeof(buf), MSG_DONTWAIT);

	if (n < 0 && (errno == EAGAIN || errno == EINTR))
		return;
	if (n <= 0) {
		inner_done(t);
		return;
	}
	if (crid_ws_send(t->ws, CRID_WS_BINARY, NULL, 0, buf, (size_t)n, &err) < 0)
		inner_done(t);
	else
		crid_ws_on_writable(t->ws);
}

static void inner_writable(struct tunnel *t)
{
	ssize_t n = send(t->pfd, t->backlog, t->backlog_len, MSG_NOSIGNAL | MSG_DONTWAIT);

	if (n < 0 && (errno == EAGAIN || errno == EINTR))
		return;
	if (n < 0) {
		inner_done(t);
		return;
	}
	memmove(t->backlog, t->backlog + n, t->backlog_len - n);
	t->backlog_len -= n;
}

static void on_inner_io(struct ev_loop *ev, ev_io *w, int revents)
{
	struct tunnel *t = w->data;

	(void)ev;
	enter(t);
	if (revents & EV_WRITE)
		inner_writable(t);
	if (!t->dead && !t->inner_eof && (revents & EV_READ))
		inner_readable(t);
	update(t);
	leave(t);
}

static void on_finish_timeout(struct ev_loop *ev, ev_timer *w, int revents)
{
	struct tunnel *t = w->data;

	(void)ev;
	(void)revents;
	enter(t);
	tunnel_end(t);
	leave(t);
}

static void tunnel_abort(struct crid_stream_conn *c)
{
	struct tunnel *t = (struct tunnel *)c;

	enter(t);
	tunnel_end(t);
	leave(t);
}

struct crid_stream_conn *crid_ws_tunnel_new(struct crid_loop *loop, int fd, const uint8_t *pre,
					    size_t pre_len, struct crid_stream_conns *list,
					    const struct crid_stream_limits *limits, int *inner,
					    struct crid_err *err)
{
	static const struct crid_ws_cbs cbs = { .message = on_message, .closed = on_closed };
	struct tunnel *t;
	int sv[2];

	t = crid_calloc(1, sizeof(*t));
	if (!t) {
		crid_err_set(err, ENOMEM, "websocket tunnel");
		goto fail_fd;
	}
	if (socketpair(AF_UNIX, SOCK_STREAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0, sv) < 0) {
		crid_err_set(err, errno, "websocket tunnel: socketpair");
		goto fail_t;
	}
	t->ws = crid_ws_new(fd, false, pre, pre_len, &cbs, t, err);
	if (!t->ws)
		goto fail_sv;
	t->base.abort = tunnel_abort;
	t->loop = loop;
	t->fd = fd;
	t->pfd = sv[0];
	t->finish_limit = limits->finish;
	ev_io_init(&t->io, on_ws_io, fd, 0);
	t->io.data = t;
	ev_io_init(&t->pio, on_inner_io, t->pfd, 0);
	t->pio.data = t;
	ev_init(&t->finish_timer, on_finish_timeout);
	t->finish_timer.data = t;
	crid_stream_conns_link(list, &t->base);
	update(t);
	if (pre_len)
		ev_feed_event(loop->ev, &t->io, EV_READ);
	*inner = sv[1];
	return &t->base;

fail_sv:
	close(sv[0]);
	close(sv[1]);
fail_t:
	crid_free(t);
fail_fd:
	close(fd);
	return NULL;
}
