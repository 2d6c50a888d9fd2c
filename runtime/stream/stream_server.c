/*
 * The streaming server (runtime/stream/stream_server.h): the TCP listener,
 * the token cache behind the URLs, and each connection's HTTP/1.1 head:
 * read it (bounded size, bounded time), route and negotiate
 * (stream_upgrade.c), answer, and after a 101 hand the socket to its
 * connection (spdy_conn.c, ws_conn.c) with a new session (remote_cmd.c,
 * port_forward.c). An error response is followed by a lingering close
 * (shut our side, drain the peer's for a moment) so the client reads the
 * status instead of a reset.
 */
#include "runtime/stream/stream_server.h"

#include <arpa/inet.h>
#include <errno.h>
#include <netinet/in.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <unistd.h>

#include "io/http1.h"
#include "io/tls_bridge.h"
#include "reactor/log.h"
#include "reactor/mem.h"
#include "runtime/stream/port_forward.h"
#include "runtime/stream/remote_cmd.h"
#include "runtime/stream/spdy_conn.h"
#include "runtime/stream/stream_tokens.h"
#include "runtime/stream/stream_upgrade.h"
#include "runtime/stream/ws_conn.h"

#define HEAD_TIMEOUT 10.0   /* the whole request head, from accept */
#define LINGER_TIMEOUT 2.0  /* after an error response, for the peer to close */
#define MAX_HANDSHAKES 1024 /* connections still in their head; more are closed at once */
#define ACCEPTS_PER_CALL 32 /* the loop serves others between bursts */
#define ACCEPT_PAUSE 0.5    /* out of fds: try again after this */
#define CREATION_TIMEOUT 30.0
#define IDLE_TIMEOUT (4 * 3600.0)
#define FINISH_TIMEOUT (15 * 60.0)

enum hs_state { HS_READ, HS_WRITE, HS_LINGER };

/* A connection before the upgrade. */
struct hs {
	struct crid_stream_server *srv;
	struct hs *next, *prev;
	int fd;
	ev_io io;
	ev_timer timer;
	enum hs_state state;
	bool upgrade; /* the response is a 101: hand over once it is out */
	struct crid_stream_upgrade up;
	const struct crid_stream_req *req; /* the session's (it owns it) */
	struct crid_stream_session *s;
	size_t len, head_len; /* bytes in |buf|; the head's part of them */
	size_t out_len, out_off;
	char out[CRID_STREAM_RESPONSE_MAX];
	char buf[CRID_HTTP1_MAX_HEAD];
};

struct crid_stream_server {
	struct crid_loop *loop;
	struct crid_ctrs *ctrs;
	struct crid_pods *pods;
	int fd;
	ev_io accept_io;
	ev_timer accept_pause;
	ev_timer sweep;
	struct crid_stream_tokens tokens;
	struct crid_stream_conns conns;
	struct crid_stream_limits limits;
	struct hs *hs;
	size_t n_hs;
	struct crid_tls *tls;		 /* NULL: plain HTTP */
	struct crid_tls_bridges bridges; /* TLS sessions (and handshakes in progress) */
	double head_timeout;
	char base[80]; /* http[s]://<address>:<port> */
};

/* ---- the connection before the upgrade ---- */

static void session_free(struct crid_stream_req *req, struct crid_stream_session *s)
{
	if (req->kind == CRID_STREAM_PORTFORWARD)
		crid_port_forward_free(s);
	else
		crid_remote_cmd_free(s);
}

static void hs_unlink(struct hs *h)
{
	struct crid_stream_server *srv = h->srv;

	ev_io_stop(srv->loop->ev, &h->io);
	ev_timer_stop(srv->loop->ev, &h->timer);
	if (h->prev)
		h->prev->next = h->next;
	else
		srv->hs = h->next;
	if (h->next)
		h->next->prev = h->prev;
	srv->n_hs--;
}

static void hs_close(struct hs *h)
{
	hs_unlink(h);
	if (h->s)
		session_free((struct crid_stream_req *)h->req, h->s);
	if (h->fd >= 0)
		close(h->fd);
	crid_free(h);
}

static void hs_watch(struct hs *h, int events)
{
	struct ev_loop *ev = h->srv->loop->ev;

	ev_io_stop(ev, &h->io);
	ev_io_set(&h->io, h->fd, events);
	ev_io_start(ev, &h->io);
}

/* After the 101 went out: the connection takes the socket, the session and what followed the head. */
static void hs_hand_over(struct hs *h)
{
	struct crid_stream_server *srv = h->srv;
	const uint8_t *pre = (const uint8_t *)h->buf + h->head_len;
	size_t pre_len = h->len - h->head_len;
	struct crid_stream_conn *c;
	struct crid_err err;
	int fd = h->fd;

	hs_unlink(h);
	h->fd = -1;
	if (h->up.ws)
		c = crid_ws_conn_new(srv->loop, fd, pre, pre_len, h->req, h->up.proto, h->s,
				     &srv->conns, &srv->limits, &err);
	else
		c = crid_spdy_conn_new(srv->loop, fd, pre, pre_len, h->req, h->up.version, h->s,
				       &srv->conns, &srv->limits, &err);
	if (!c) {
		crid_log_warn("streaming %s %s: %s", crid_stream_kind_name(h->req->kind),
			      h->req->id, err.msg);
		session_free((struct crid_stream_req *)h->req, h->s);
	}
	crid_free(h);
}

static void hs_linger(struct hs *h)
{
	shutdown(h->fd, SHUT_WR);
	h->state = HS_LINGER;
	ev_timer_stop(h->srv->loop->ev, &h->timer);
	ev_timer_set(&h->timer, LINGER_TIMEOUT, 0.);
	ev_timer_start(h->srv->loop->ev, &h->timer);
	hs_watch(h, EV_READ);
}

/* Writes what is left of the response; then the 101 hands over, an error lingers. */
static void hs_write(struct hs *h)
{
	while (h->out_off < h->out_len) {
		ssize_t n = send(h->fd, h->out + h->out_off, h->out_len - h->out_off, MSG_NOSIGNAL);

		if (n < 0 && errno == EINTR)
			continue;
		if (n < 0 && errno == EAGAIN) {
			hs_watch(h, EV_WRITE);
			return;
		}
		if (n <= 0) {
			hs_close(h);
			return;
		}
		h->out_off += (size_t)n;
	}
	if (h->upgrade)
		hs_hand_over(h);
	else
		hs_linger(h);
}

static void hs_respond(struct hs *h, size_t len, bool upgrade)
{
	h->state = HS_WRITE;
	h->out_len = len;
	h->out_off = 0;
	h->upgrade = upgrade;
	hs_write(h);
}

static void hs_error(struct hs *h, int status, const char *body)
{
	hs_respond(h, crid_http1_response(h->out, sizeof(h->out), status, NULL, body), false);
}

static struct crid_stream_session *session_new(struct crid_stream_server *srv,
					       struct crid_stream_req *req, struct crid_err *err)
{
	if (req->kind == CRID_STREAM_PORTFORWARD)
		return crid_port_forward_new(srv->loop, srv->pods, req, err);
	return crid_remote_cmd_new(srv->loop, srv->ctrs, req, err);
}

/*
 * The head is complete. As upstream: the token is consumed by any use of a
 * valid route (even one that then fails the handshake); a token of another
 * kind is as unknown as a made-up one.
 */
static void hs_request(struct hs *h, const struct crid_http1_req *hr)
{
	struct crid_stream_server *srv = h->srv;
	struct crid_stream_route route;
	struct crid_stream_req *req;
	struct crid_err err;
	char body[CRID_ERR_MSG_MAX + 32];
	size_t len;
	int rc;

	h->head_len = hr->head_len;
	rc = crid_stream_route_parse(hr, &route);
	if (rc == 404) {
		hs_error(h, 404, "404 page not found\n");
		return;
	}
	if (rc == 405) {
		hs_error(h, 405, "method not allowed: use GET or POST\n");
		return;
	}
	req = crid_stream_tokens_take(&srv->tokens, route.token, route.token_len,
				      crid_loop_now(srv->loop));
	if (!req || req->kind != route.kind) {
		crid_stream_req_free(req);
		{
			hs_error(h, 404, "unknown or expired streaming token\n");
			return;
		}
	}
	rc = crid_stream_upgrade_negotiate(hr, req->kind, &h->up, h->out, &len);
	if (rc != 0) {
		crid_stream_req_free(req);
		{
			hs_respond(h, len, false);
			return;
		}
	}
	h->s = session_new(srv, req, &err);
	if (!h->s) {
		crid_log_warn("streaming %s %s: %s", crid_stream_kind_name(req->kind), req->id,
			      err.msg);
		crid_stream_req_free(req);
		snprintf(body, sizeof(body), "%s\n", err.msg);
		{
			hs_error(h, 500, body);
			return;
		}
	}
	h->req = req;
	crid_log_debug("streaming %s %s: upgraded to %s%s%s", crid_stream_kind_name(req->kind),
		       req->id, h->up.ws ? "websocket " : "SPDY/3.1 ", h->up.protocol,
		       h->up.ws && !h->up.protocol[0] ? "(binary)" : "");
	hs_respond(h, len, true);
}

static void hs_read(struct hs *h)
{
	struct crid_http1_req hr;
	ssize_t n;
	int rc;

	n = recv(h->fd, h->buf + h->len, sizeof(h->buf) - h->len, 0);
	if (n < 0 && (errno == EAGAIN || errno == EINTR))
		return;
	if (n <= 0) {
		hs_close(h);
		return;
	}
	h->len += (size_t)n;
	rc = crid_http1_parse(h->buf, h->len, &hr);
	if (rc == CRID_HTTP1_INCOMPLETE && h->len < sizeof(h->buf))
		return;
	if (rc == CRID_HTTP1_INCOMPLETE || rc == CRID_HTTP1_TOO_LARGE) {
		hs_error(h, 431, "request header fields too large\n");
		return;
	}
	if (rc < 0) {
		hs_error(h, 400, "malformed HTTP request\n");
		return;
	}
	hs_request(h, &hr);
}

/* Lingering: what the peer still sends is dropped, a bounded amount per call. */
static void hs_drain(struct hs *h)
{
	char sink[4096];
	ssize_t n = recv(h->fd, sink, sizeof(sink), 0);

	if (n == 0 || (n < 0 && errno != EAGAIN && errno != EINTR))
		hs_close(h);
}

static void hs_io_cb(struct ev_loop *ev, ev_io *w, int revents)
{
	struct hs *h = w->data;

	(void)ev;
	(void)revents;
	switch (h->state) {
	case HS_READ:
		hs_read(h);
		break;
	case HS_WRITE:
		hs_write(h);
		break;
	case HS_LINGER:
		hs_drain(h);
		break;
	}
}

static void hs_timer_cb(struct ev_loop *ev, ev_timer *w, int revents)
{
	struct hs *h = w->data;

	(void)ev;
	(void)revents;
	if (h->state != HS_LINGER)
		crid_log_debug("streaming: a client sent no complete request within %.0fs, closing",
			       h->srv->head_timeout);
	hs_close(h);
}

/* False when |fd| was refused (too many handshakes, no memory): it is closed. */
static bool hs_new(struct crid_stream_server *srv, int fd)
{
	struct hs *h;

	if (srv->n_hs >= MAX_HANDSHAKES || !(h = crid_malloc(sizeof(*h)))) {
		close(fd);
		return false;
	}
	memset(h, 0, offsetof(struct hs, out));
	h->srv = srv;
	h->fd = fd;
	h->state = HS_READ;
	ev_io_init(&h->io, hs_io_cb, fd, EV_READ);
	h->io.data = h;
	ev_timer_init(&h->timer, hs_timer_cb, srv->head_timeout, 0.);
	h->timer.data = h;
	h->next = srv->hs;
	if (srv->hs)
		srv->hs->prev = h;
	srv->hs = h;
	srv->n_hs++;
	ev_io_start(srv->loop->ev, &h->io);
	ev_timer_start(srv->loop->ev, &h->timer);
	return true;
}

/* ---- the listener ---- */

/* A client socket, accepted or the inner end of a TLS bridge: its request head comes next. */
static void serve_client(struct crid_stream_server *srv, int fd)
{
	if (!hs_new(srv, fd))
		crid_log_warn("streaming: %zu connections in their handshake, closing new ones",
			      srv->n_hs);
}

static void serve_tls_inner(void *user, int fd)
{
	serve_client(user, fd);
}

/* False when |fd| was refused (too many handshakes, no memory): it is closed. */
static bool accepted(struct crid_stream_server *srv, int fd)
{
	struct crid_err err;

	if (!srv->tls)
		return hs_new(srv, fd);
	if (srv->n_hs + srv->bridges.handshaking >= MAX_HANDSHAKES) {
		close(fd);
		return false;
	}
	if (crid_tls_bridge_new(srv->loop, srv->tls, fd, &srv->bridges, srv->head_timeout,
				serve_tls_inner, srv, &err) < 0) {
		crid_log_warn("streaming: %s", err.msg);
		return false;
	}
	return true;
}

static void accept_resume_cb(struct ev_loop *ev, ev_timer *w, int revents)
{
	struct crid_stream_server *srv = w->data;

	(void)revents;
	ev_io_start(ev, &srv->accept_io);
}

static void accept_cb(struct ev_loop *ev, ev_io *w, int revents)
{
	struct crid_stream_server *srv = w->data;
	int refused = 0; /* one warning per burst, not one per connection */

	(void)revents;
	for (int i = 0; i < ACCEPTS_PER_CALL; i++) {
		int fd = accept4(srv->fd, NULL, NULL, SOCK_NONBLOCK | SOCK_CLOEXEC);

		if (fd >= 0) {
			if (!accepted(srv, fd) && !refused++)
				crid_log_warn("streaming: %zu connections in their handshake, "
					      "closing new ones",
					      srv->n_hs + srv->bridges.handshaking);
			continue;
		}
		if (errno == EMFILE || errno == ENFILE || errno == ENOBUFS || errno == ENOMEM) {
			/* level-triggered: waiting on the listener now would spin */
			crid_log_warn("streaming: accept: %s; pausing %.1fs", strerror(errno),
				      ACCEPT_PAUSE);
			ev_io_stop(ev, &srv->accept_io);
			ev_timer_start(ev, &srv->accept_pause);
		} else if (errno != EAGAIN && errno != EINTR && errno != ECONNABORTED) {
			crid_log_warn("streaming: accept: %s", strerror(errno));
		}
		return;
	}
}

static int listen_on(struct crid_stream_server *srv, const char *address, int port,
		     struct crid_err *err)
{
	struct sockaddr_storage ss;
	struct sockaddr_in *in4 = (struct sockaddr_in *)&ss;
	struct sockaddr_in6 *in6 = (struct sockaddr_in6 *)&ss;
	socklen_t sl = sizeof(ss);
	bool v6 = false;
	int one = 1;

	memset(&ss, 0, sizeof(ss));
	if (inet_pton(AF_INET, address, &in4->sin_addr) == 1) {
		in4->sin_family = AF_INET;
		in4->sin_port = htons((uint16_t)port);
		sl = sizeof(*in4);
	} else if (inet_pton(AF_INET6, address, &in6->sin6_addr) == 1) {
		in6->sin6_family = AF_INET6;
		in6->sin6_port = htons((uint16_t)port);
		sl = sizeof(*in6);
		v6 = true;
	} else {
		return crid_err_invalid(err, "stream address `%s` is not an IP address", address);
	}
	srv->fd = socket(ss.ss_family, SOCK_STREAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0);
	if (srv->fd < 0)
		return crid_err_set(err, errno, "streaming server socket");
	setsockopt(srv->fd, SOL_SOCKET, SO_REUSEADDR, &one, sizeof(one));
	if (bind(srv->fd, (struct sockaddr *)&ss, sl) < 0)
		return crid_err_set(err, errno, "bind streaming server to %s%s%s:%d", v6 ? "[" : "",
				    address, v6 ? "]" : "", port);
	if (listen(srv->fd, 128) < 0)
		return crid_err_set(err, errno, "listen on the streaming server");
	sl = sizeof(ss);
	if (getsockname(srv->fd, (struct sockaddr *)&ss, &sl) < 0)
		return crid_err_set(err, errno, "streaming server address");
	port = ntohs(v6 ? in6->sin6_port : in4->sin_port);
	snprintf(srv->base, sizeof(srv->base), "%s://%s%s%s:%d", srv->tls ? "https" : "http",
		 v6 ? "[" : "", address, v6 ? "]" : "", port);
	return 0;
}

/* A test may shorten a limit: only under CRID_TEST=1, so no deployment does by accident. */
static double test_override(const char *name, double dflt)
{
	const char *test = getenv("CRID_TEST"), *v = getenv(name);
	char *end;
	double d;

	if (!test || strcmp(test, "1") != 0 || !v)
		return dflt;
	d = strtod(v, &end);
	return end != v && *end == '\0' && d > 0 ? d : dflt;
}

/* ---- tokens ---- */

static void sweep_schedule(struct crid_stream_server *srv)
{
	double next = crid_stream_tokens_next_expiry(&srv->tokens);
	double now = crid_loop_now(srv->loop);

	ev_timer_stop(srv->loop->ev, &srv->sweep);
	if (next == 0)
		return;
	ev_timer_set(&srv->sweep, next > now ? next - now : 0., 0.);
	ev_timer_start(srv->loop->ev, &srv->sweep);
}

static void sweep_cb(struct ev_loop *ev, ev_timer *w, int revents)
{
	struct crid_stream_server *srv = w->data;

	(void)ev;
	(void)revents;
	crid_stream_tokens_sweep(&srv->tokens, crid_loop_now(srv->loop));
	sweep_schedule(srv);
}

/* ---- the API ---- */

struct crid_stream_server *crid_stream_server_start(struct crid_loop *loop,
						    const struct crid_stream_server_opts *o,
						    struct crid_err *err)
{
	struct crid_stream_server *srv = crid_calloc(1, sizeof(*srv));

	if (!srv) {
		crid_err_set(err, ENOMEM, "streaming server");
		return NULL;
	}
	srv->fd = -1;
	srv->loop = loop;
	srv->ctrs = o->ctrs;
	srv->pods = o->pods;
	srv->limits.creation = CREATION_TIMEOUT;
	srv->limits.idle = o->idle_timeout > 0 ? o->idle_timeout : IDLE_TIMEOUT;
	srv->limits.finish = FINISH_TIMEOUT;
	srv->head_timeout = test_override("CRID_TEST_STREAM_HEADER_TIMEOUT", HEAD_TIMEOUT);
	crid_stream_tokens_init(&srv->tokens, CRID_STREAM_MAX_TOKENS,
				test_override("CRID_TEST_STREAM_TOKEN_TTL", CRID_STREAM_TOKEN_TTL));
	if (o->tls_cert && *o->tls_cert &&
	    !(srv->tls = crid_tls_new("streaming", o->tls_cert, o->tls_key, err)))
		goto fail;
	if (listen_on(srv, o->address, o->port, err) < 0)
		goto fail;
	ev_io_init(&srv->accept_io, accept_cb, srv->fd, EV_READ);
	srv->accept_io.data = srv;
	ev_timer_init(&srv->accept_pause, accept_resume_cb, ACCEPT_PAUSE, 0.);
	srv->accept_pause.data = srv;
	ev_timer_init(&srv->sweep, sweep_cb, 0., 0.);
	srv->sweep.data = srv;
	ev_io_start(loop->ev, &srv->accept_io);
	return srv;

fail:
	if (srv->fd >= 0)
		close(srv->fd);
	crid_tls_free(srv->tls);
	crid_free(srv);
	return NULL;
}

int crid_stream_server_url(struct crid_stream_server *srv, struct crid_stream_req *req, char *url,
			   size_t size, struct crid_err *err)
{
	const char *kind = crid_stream_kind_name(req->kind);
	char tok[CRID_STREAM_TOKEN_LEN + 1];

	if (strlen(srv->base) + strlen(kind) + CRID_STREAM_TOKEN_LEN + 3 > size)
		return crid_err_set(err, ENAMETOOLONG, "streaming url");
	if (crid_stream_tokens_put(&srv->tokens, req, crid_loop_now(srv->loop), tok, err) < 0)
		return -1;
	snprintf(url, size, "%s/%s/%s", srv->base, kind, tok);
	if (!ev_is_active(&srv->sweep))
		sweep_schedule(srv);
	return 0;
}

const char *crid_stream_server_base(const struct crid_stream_server *srv)
{
	return srv->base;
}

bool crid_stream_server_tls(const struct crid_stream_server *srv)
{
	return srv->tls != NULL;
}

size_t crid_stream_server_sessions(const struct crid_stream_server *srv)
{
	return srv->conns.n + srv->bridges.n; /* a TLS session counts twice, as a tunnelled one */
}

size_t crid_stream_server_tokens(const struct crid_stream_server *srv)
{
	return srv->tokens.n;
}

void crid_stream_server_stop(struct crid_stream_server *srv)
{
	struct ev_loop *ev;

	if (!srv)
		return;
	ev = srv->loop->ev;
	ev_io_stop(ev, &srv->accept_io);
	ev_timer_stop(ev, &srv->accept_pause);
	ev_timer_stop(ev, &srv->sweep);
	close(srv->fd);
	while (srv->hs)
		hs_close(srv->hs);
	while (srv->conns.head) {
		struct crid_stream_conn *c = srv->conns.head;

		c->abort(c);
		if (srv->conns.head == c) /* a connection that failed to unlink must not loop us */
			crid_stream_conns_unlink(c);
	}
	crid_tls_bridges_abort(&srv->bridges);
	crid_stream_tokens_clear(&srv->tokens);
	crid_tls_free(srv->tls);
	crid_free(srv);
}
