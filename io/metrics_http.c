/*
 * The metrics endpoint (io/metrics_http.h). A connection reads one request
 * head (io/http1.c's parser), renders the whole reply into memory (a scrape
 * is a few tens of KiB, made from counters, never from the filesystem) and
 * writes it as the socket takes it, then closes.
 */
#include "io/metrics_http.h"

#include <arpa/inet.h>
#include <errno.h>
#include <netinet/in.h>
#include <stdio.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/uio.h>
#include <unistd.h>

#include "io/http1.h"
#include "io/tls_bridge.h"
#include "reactor/dlist.h"
#include "reactor/log.h"
#include "reactor/mem.h"
#include "reactor/metrics_families.h"

#define MAX_CONNS 32
#define CONN_TIMEOUT 10.0

struct conn {
	struct crid_metrics_http *srv;
	struct conn *prev, *next;
	int fd;
	ev_io io;
	ev_timer timer;
	size_t in_len;
	char head[384];
	size_t head_len;
	char *body; /* crid_malloc'd scrape, NULL for error replies (their body is in |head|) */
	size_t body_len;
	size_t sent; /* of head, then body */
	char in[CRID_HTTP1_MAX_HEAD];
};

struct crid_metrics_http {
	struct crid_loop *loop;
	int fd;
	int port;
	ev_io accept_io;
	struct conn *conns;
	size_t n_conns;
	struct crid_tls *tls; /* NULL: plain HTTP */
	struct crid_tls_bridges bridges;
};

static void conn_close(struct conn *c)
{
	struct crid_metrics_http *srv = c->srv;

	ev_io_stop(srv->loop->ev, &c->io);
	ev_timer_stop(srv->loop->ev, &c->timer);
	close(c->fd);
	CRID_DLIST_UNLINK(srv->conns, c);
	srv->n_conns--;
	crid_free(c->body);
	crid_free(c);
}

/* Writes what the socket takes; closes once all is out or the peer is gone. */
static void send_some(struct conn *c)
{
	while (c->sent < c->head_len + c->body_len) {
		struct iovec iov[2];
		int n = 0;
		ssize_t w;

		if (c->sent < c->head_len)
			iov[n++] = (struct iovec){ c->head + c->sent, c->head_len - c->sent };
		if (c->body_len) {
			size_t off = c->sent > c->head_len ? c->sent - c->head_len : 0;

			iov[n++] = (struct iovec){ c->body + off, c->body_len - off };
		}
		w = writev(c->fd, iov, n);
		if (w < 0 && (errno == EAGAIN || errno == EINTR))
			return; /* EV_WRITE brings us back */
		if (w <= 0) {
			conn_close(c);
			return;
		}
		c->sent += (size_t)w;
	}
	shutdown(c->fd, SHUT_WR);
	conn_close(c);
}

static void start_reply(struct conn *c)
{
	ev_io_stop(c->srv->loop->ev, &c->io);
	ev_io_set(&c->io, c->fd, EV_WRITE);
	ev_io_start(c->srv->loop->ev, &c->io);
	send_some(c);
}

static void reply_error(struct conn *c, int status, const char *headers, const char *body)
{
	c->head_len = crid_http1_response(c->head, sizeof(c->head), status, headers, body);
	start_reply(c);
}

static void reply_metrics(struct conn *c, const struct crid_http1_req *req, bool head_only)
{
	const struct crid_http1_header *h = crid_http1_find(req, "Accept");
	enum crid_metrics_format fmt =
	    crid_metrics_negotiate(h ? h->value : NULL, h ? h->value_len : 0);
	int n;

	if (crid_metrics_scrape(fmt, &c->body, &c->body_len) < 0) {
		reply_error(c, 500, NULL, "out of memory\n");
		return;
	}
	n = snprintf(c->head, sizeof(c->head),
		     "HTTP/1.1 200 OK\r\nContent-Type: %s\r\nContent-Length: %zu\r\n"
		     "Connection: close\r\n\r\n",
		     crid_metrics_content_type(fmt), c->body_len);
	c->head_len = n > 0 && (size_t)n < sizeof(c->head) ? (size_t)n : 0;
	if (head_only)
		c->body_len = 0;
	start_reply(c);
}

static bool is(const char *s, size_t n, const char *lit)
{
	return n == strlen(lit) && memcmp(s, lit, n) == 0;
}

static void route(struct conn *c, const struct crid_http1_req *req)
{
	const char *query = memchr(req->path, '?', req->path_len); /* the path is no C string */
	size_t path_len = query ? (size_t)(query - req->path) : req->path_len;
	bool get = is(req->method, req->method_len, "GET");
	bool head = is(req->method, req->method_len, "HEAD");

	if (!is(req->path, path_len, "/metrics"))
		reply_error(c, 404, NULL, "not found: the metrics are at /metrics\n");
	else if (!get && !head)
		reply_error(c, 405, "Allow: GET, HEAD\r\n", "method not allowed\n");
	else
		reply_metrics(c, req, head);
}

static void read_cb(struct ev_loop *ev, ev_io *w, int revents)
{
	struct conn *c = w->data;
	struct crid_http1_req req;
	ssize_t n;
	int r;

	(void)ev;
	if (revents & EV_WRITE) {
		send_some(c);
		return;
	}
	n = read(c->fd, c->in + c->in_len, sizeof(c->in) - c->in_len);
	if (n < 0 && (errno == EAGAIN || errno == EINTR))
		return;
	if (n <= 0) {
		conn_close(c);
		return;
	}
	c->in_len += (size_t)n;
	r = crid_http1_parse(c->in, c->in_len, &req);
	if (r == CRID_HTTP1_INCOMPLETE && c->in_len < sizeof(c->in))
		return;
	if (r == CRID_HTTP1_MALFORMED)
		reply_error(c, 400, NULL, "malformed HTTP/1.1 request\n");
	else if (r < 0)
		reply_error(c, 431, NULL, "request head too large\n");
	else
		route(c, &req);
}

static void timer_cb(struct ev_loop *ev, ev_timer *w, int revents)
{
	(void)ev;
	(void)revents;
	conn_close(w->data);
}

static void conn_new(struct crid_metrics_http *srv, int fd)
{
	struct conn *c;

	if (srv->n_conns >= MAX_CONNS || !(c = crid_calloc(1, sizeof(*c)))) {
		close(fd);
		return;
	}
	c->srv = srv;
	c->fd = fd;
	ev_io_init(&c->io, read_cb, fd, EV_READ);
	c->io.data = c;
	ev_timer_init(&c->timer, timer_cb, CONN_TIMEOUT, 0.);
	c->timer.data = c;
	ev_io_start(srv->loop->ev, &c->io);
	ev_timer_start(srv->loop->ev, &c->timer);
	CRID_DLIST_PUSH(srv->conns, c);
	srv->n_conns++;
}

static void serve_tls_inner(void *user, int fd)
{
	conn_new(user, fd);
}

/* A TLS client gets a bridge; its inner end becomes a connection once the handshake is done. */
static void accepted(struct crid_metrics_http *srv, int fd)
{
	struct crid_err err;

	if (!srv->tls) {
		conn_new(srv, fd);
		return;
	}
	if (srv->n_conns + srv->bridges.handshaking >= MAX_CONNS) {
		close(fd);
		return;
	}
	if (crid_tls_bridge_new(srv->loop, srv->tls, fd, &srv->bridges, CONN_TIMEOUT,
				serve_tls_inner, srv, &err) < 0)
		crid_log_warn("metrics: %s", err.msg);
}

static void accept_cb(struct ev_loop *ev, ev_io *w, int revents)
{
	struct crid_metrics_http *srv = w->data;

	(void)ev;
	(void)revents;
	for (int i = 0; i < 16; i++) {
		int fd = accept4(srv->fd, NULL, NULL, SOCK_NONBLOCK | SOCK_CLOEXEC);

		if (fd < 0)
			return; /* EAGAIN; EMFILE and the like: the scraper retries */
		accepted(srv, fd);
	}
}

/* Fills |ss| for |address|:|port|; -1 when |address| is no IP literal. */
static int sockaddr_for(const char *address, int port, struct sockaddr_storage *ss, socklen_t *sl)
{
	struct sockaddr_in *in4 = (struct sockaddr_in *)ss;
	struct sockaddr_in6 *in6 = (struct sockaddr_in6 *)ss;

	memset(ss, 0, sizeof(*ss));
	if (inet_pton(AF_INET, address, &in4->sin_addr) == 1) {
		in4->sin_family = AF_INET;
		in4->sin_port = htons((uint16_t)port);
		*sl = sizeof(*in4);
		return 0;
	}
	if (inet_pton(AF_INET6, address, &in6->sin6_addr) == 1) {
		in6->sin6_family = AF_INET6;
		in6->sin6_port = htons((uint16_t)port);
		*sl = sizeof(*in6);
		return 0;
	}
	return -1;
}

static int listen_on(struct crid_metrics_http *srv, const char *address, int port,
		     struct crid_err *err)
{
	struct sockaddr_storage ss;
	socklen_t sl;
	int one = 1;

	if (sockaddr_for(address, port, &ss, &sl) < 0)
		return crid_err_invalid(err, "metrics address `%s` is not an IP address", address);
	srv->fd = socket(ss.ss_family, SOCK_STREAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0);
	if (srv->fd < 0)
		return crid_err_set(err, errno, "metrics server socket");
	setsockopt(srv->fd, SOL_SOCKET, SO_REUSEADDR, &one, sizeof(one));
	if (bind(srv->fd, (struct sockaddr *)&ss, sl) < 0)
		return crid_err_set(err, errno, "bind the metrics server to `%s` port %d", address,
				    port);
	if (listen(srv->fd, 64) < 0)
		return crid_err_set(err, errno, "listen on the metrics server");
	sl = sizeof(ss);
	if (getsockname(srv->fd, (struct sockaddr *)&ss, &sl) < 0)
		return crid_err_set(err, errno, "metrics server address");
	srv->port = ntohs(ss.ss_family == AF_INET ? ((struct sockaddr_in *)&ss)->sin_port
						  : ((struct sockaddr_in6 *)&ss)->sin6_port);
	return 0;
}

struct crid_metrics_http *crid_metrics_http_start(struct crid_loop *loop,
						  const struct crid_metrics_http_opts *o,
						  struct crid_err *err)
{
	struct crid_metrics_http *srv = crid_calloc(1, sizeof(*srv));

	if (!srv) {
		crid_err_set(err, ENOMEM, "metrics server");
		return NULL;
	}
	srv->loop = loop;
	srv->fd = -1;
	if ((o->cert && *o->cert && !(srv->tls = crid_tls_new("metrics", o->cert, o->key, err))) ||
	    listen_on(srv, o->address, o->port, err) < 0) {
		if (srv->fd >= 0)
			close(srv->fd);
		crid_tls_free(srv->tls);
		crid_free(srv);
		return NULL;
	}
	ev_io_init(&srv->accept_io, accept_cb, srv->fd, EV_READ);
	srv->accept_io.data = srv;
	ev_io_start(loop->ev, &srv->accept_io);
	return srv;
}

int crid_metrics_http_port(const struct crid_metrics_http *srv)
{
	return srv->port;
}

bool crid_metrics_http_tls(const struct crid_metrics_http *srv)
{
	return srv->tls != NULL;
}

void crid_metrics_http_stop(struct crid_metrics_http *srv)
{
	if (!srv)
		return;
	while (srv->conns)
		conn_close(srv->conns);
	crid_tls_bridges_abort(&srv->bridges);
	ev_io_stop(srv->loop->ev, &srv->accept_io);
	close(srv->fd);
	crid_tls_free(srv->tls);
	crid_free(srv);
}
