/*
 * The port-forward session (port_forward.h): a table of pairs, each a TCP
 * socket to localhost:<port> in the pod's network namespace (pf_dial.c)
 * copied to and from the pair's data channel, its failures written on the
 * pair's error channel as upstream does (pf_error.c).
 *
 * Both directions half-close on their own: the client's end of its data
 * channel (eof) shuts the socket down for writing (SHUT_WR), so a
 * request-then-response server still answers; the pod's end (read EOF) is a
 * FIN on the data channel, and client bytes still go to the pod (busybox nc
 * shuts its side down at once when its stdin is empty, then reads).
 * A pair ends, closing its error channel and socket, when both directions
 * are done, or on an error, or when the pod's side ended and the client
 * sent nothing for PF_LINGER seconds: client-go closes its local
 * connection only once it read the error stream to its end, so a local
 * client that waits for that close and a session that waits for the
 * client's FIN would wait for each other. containerd gives the other
 * direction 1 s once one is done (sandbox_portforward_linux.go); here the
 * second counts from the client's last byte, so an upload still running
 * is not cut.
 *
 * Back-pressure: pod -> client reads stop while the connection holds
 * CRID_STREAM_HIGH_WATER bytes and resume on drained(); client -> pod bytes
 * the socket cannot take are kept and the connection's input is paused
 * until the socket drains them. That pause holds every pair of the
 * connection (the seam has no per-channel pause): one slow pod server slows
 * its neighbours on the same connection, never the daemon.
 *
 * On SPDY the session never ends by itself (the connection carries pairs
 * until the client closes it); on a WebSocket (conn->fixed_pairs) it
 * finishes once every requested port's pair has ended. gone() closes every
 * socket and frees it.
 */
#include "runtime/stream/port_forward.h"

#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <string.h>
#include <sys/socket.h>
#include <unistd.h>

#include "reactor/log.h"
#include "reactor/mem.h"
#include "runtime/pod/pod.h"
#include "runtime/pod/sandbox.h"
#include "runtime/stream/pf_dial.h"
#include "runtime/stream/pf_error.h"

#define PF_MAX_PAIRS 1024 /* open at once on one connection; more fail on their error channel */
#define PF_READ_SLICE (64u << 10) /* one read from a pod socket */
#define PF_READS_PER_WAKE 4	  /* reads per readiness before the loop moves on */
#define PF_BUF_MAX (4u << 20)	  /* client -> pod bytes held while the socket is full */
#define PF_LINGER 1.0		  /* s without a client byte after the pod's end: the pair ends */

struct pf_session;

struct pf_pair {
	struct pf_session *s;
	unsigned k;
	uint16_t port;
	int fd, family;
	ev_io rio, wio;
	ev_timer linger;     /* runs once the pod's side ended and the client's has not */
	unsigned long moved; /* client bytes seen, for the linger */
	uint8_t *buf;	     /* client -> pod bytes the socket has not taken: [off, len) */
	size_t off, len, cap;
	char err4[CRID_ERR_MSG_MAX]; /* why 127.0.0.1 failed, while ::1 is tried */
	bool connected;
	bool peer_eof;	  /* the client sends no more */
	bool shut;	  /* SHUT_WR done */
	bool sock_eof;	  /* the pod's side sends no more */
	bool data_closed; /* FIN sent on the data channel */
	bool stalled;	  /* reads stopped at the high-water mark */
	bool pausing;	  /* this pair holds the connection's input paused */
};

struct pf_session {
	struct crid_stream_session base;
	struct crid_loop *loop;
	struct crid_pods *pods;
	struct crid_stream_req *req;
	int self_ns; /* crid's own network namespace, the way back from a pod's */
	struct pf_pair **pairs;
	size_t n, cap;
	struct pf_pair *last; /* the pair found last: data comes in runs */
	size_t ended;	      /* pairs ended, for a connection with fixed pairs */
	unsigned pausing;     /* pairs holding the input paused */
	unsigned depth;	      /* our callbacks on the stack */
	bool dead;	      /* gone() came while depth > 0: free on the way out */
};

static void session_free(struct pf_session *s);

/* ---- the table ---- */

static struct pf_pair *find(struct pf_session *s, unsigned k)
{
	if (s->last && s->last->k == k)
		return s->last;
	for (size_t i = 0; i < s->n; i++)
		if (s->pairs[i]->k == k)
			return s->last = s->pairs[i];
	return NULL;
}

static int add(struct pf_session *s, struct pf_pair *p)
{
	if (s->n == s->cap) {
		size_t cap = s->cap ? s->cap * 2 : 8;
		struct pf_pair **t = crid_realloc(s->pairs, cap * sizeof(*t));

		if (!t)
			return -1;
		s->pairs = t;
		s->cap = cap;
	}
	s->pairs[s->n++] = p;
	return 0;
}

static void drop(struct pf_session *s, struct pf_pair *p)
{
	for (size_t i = 0; i < s->n; i++) {
		if (s->pairs[i] == p) {
			s->pairs[i] = s->pairs[--s->n];
			break;
		}
	}
	if (s->last == p)
		s->last = NULL;
}

/* ---- input pause, shared by the pairs of the connection ---- */

static void hold_input(struct pf_pair *p)
{
	if (p->pausing)
		return;
	p->pausing = true;
	if (p->s->pausing++ == 0)
		p->s->base.conn->ops->pause_input(p->s->base.conn, true);
}

static void release_input(struct pf_pair *p)
{
	if (!p->pausing)
		return;
	p->pausing = false;
	if (--p->s->pausing == 0)
		p->s->base.conn->ops->pause_input(p->s->base.conn, false);
}

/* Our callback returns: the session goes if gone() came meanwhile. */
static void leave(struct pf_session *s)
{
	if (--s->depth == 0 && s->dead)
		session_free(s);
}

/* ---- a pair's end ---- */

/*
 * A WebSocket's pairs are the request's ports, given at the start: once all
 * have ended the session is over (finish(); no gone() follows, so the
 * session frees itself when its callbacks return).
 */
static void maybe_finish(struct pf_session *s)
{
	struct crid_stream_conn *c = s->base.conn;

	if (s->dead || !c->fixed_pairs || s->ended < s->req->n_ports)
		return;
	s->dead = true;
	c->ops->finish(c);
}

static void pair_free(struct pf_pair *p)
{
	ev_io_stop(p->s->loop->ev, &p->rio);
	ev_io_stop(p->s->loop->ev, &p->wio);
	ev_timer_stop(p->s->loop->ev, &p->linger);
	if (p->fd >= 0)
		close(p->fd);
	crid_free(p->buf);
	crid_free(p);
}

/*
 * Ends pair |p|: the error object when |cause| is set, FIN on both channels.
 * The pair leaves the table first, so what the connection does inside these
 * calls finds it gone.
 */
static void pair_end(struct pf_pair *p, const char *cause, bool close_connection)
{
	struct pf_session *s = p->s;
	struct crid_stream_conn *c = s->base.conn;
	unsigned k = p->k;
	bool resume = false, data_open = !p->data_closed;

	drop(s, p);
	s->ended++;
	if (cause) {
		char json[CRID_PF_ERROR_MAX];
		size_t n = crid_pf_error_json(json, sizeof(json), p->port, s->req->id, cause,
					      close_connection);

		crid_log_info("port-forward pod=%.12s port=%u: %s", s->req->id, p->port, cause);
		c->ops->send(c, 2 * k + 1, json, n);
	}
	if (p->pausing) {
		p->pausing = false;
		resume = --s->pausing == 0;
	}
	pair_free(p);
	if (s->dead)
		return;
	if (data_open)
		c->ops->close_chan(c, 2 * k);
	if (s->dead)
		return;
	c->ops->close_chan(c, 2 * k + 1);
	if (!s->dead && resume)
		c->ops->pause_input(c, false);
	maybe_finish(s);
}

/* An error on the pod's socket: EPIPE/ECONNRESET let the client go on. */
static void pair_fail(struct pf_pair *p, int code, const char *op)
{
	char cause[256];

	snprintf(cause, sizeof(cause), "%s: %s", op, strerror(code));
	pair_end(p, cause, !crid_pf_error_keeps_connection(code));
}

/* Both directions done: the pod's side said all, the client's too and all of it is written. */
static bool pair_done(struct pf_pair *p)
{
	return p->sock_eof && p->peer_eof && p->off == p->len;
}

/* ---- client -> pod ---- */

static int buffer(struct pf_pair *p, const uint8_t *b, size_t len)
{
	size_t held = p->len - p->off;

	if (held + len > PF_BUF_MAX)
		return -1;
	if (p->off && p->len + len > p->cap) {
		memmove(p->buf, p->buf + p->off, held);
		p->off = 0, p->len = held;
	}
	if (p->len + len > p->cap) {
		size_t cap = p->cap ? p->cap : PF_READ_SLICE;
		uint8_t *nb;

		while (cap < p->len + len)
			cap *= 2;
		nb = crid_realloc(p->buf, cap);
		if (!nb)
			return -1;
		p->buf = nb, p->cap = cap;
	}
	memcpy(p->buf + p->len, b, len);
	p->len += len;
	return 0;
}

/* Writes what is held; 0 when all went (or the socket is full), -1 after pair_end. */
static int flush(struct pf_pair *p)
{
	while (p->off < p->len) {
		ssize_t n = send(p->fd, p->buf + p->off, p->len - p->off, MSG_NOSIGNAL);

		if (n < 0 && errno == EINTR)
			continue;
		if (n < 0 && errno == EAGAIN)
			return 0;
		if (n < 0) {
			pair_fail(p, errno, "write to the pod");
			return -1;
		}
		p->off += (size_t)n;
	}
	p->off = p->len = 0;
	return 0;
}

/* The held bytes are out: shut down writing if the client is done, end if the pod is. */
static void after_flush(struct pf_pair *p)
{
	if (p->off < p->len) {
		ev_io_start(p->s->loop->ev, &p->wio);
		hold_input(p);
		return;
	}
	ev_io_stop(p->s->loop->ev, &p->wio);
	if (p->peer_eof && !p->shut) {
		shutdown(p->fd, SHUT_WR);
		p->shut = true;
	}
	if (pair_done(p)) {
		pair_end(p, NULL, false);
		return;
	}
	release_input(p);
}

/* ---- pod -> client ---- */

static void stall(struct pf_pair *p)
{
	p->stalled = true;
	ev_io_stop(p->s->loop->ev, &p->rio);
}

/* Re-armed while the client still sends (or the pod has yet to take what it sent). */
static void linger_cb(struct ev_loop *ev, ev_timer *w, int revents)
{
	struct pf_pair *p = w->data;
	struct pf_session *s = p->s;

	(void)ev, (void)revents;
	if (p->moved || p->off < p->len) {
		p->moved = 0;
		return;
	}
	s->depth++;
	pair_end(p, NULL, false);
	leave(s);
}

/* The pod's side sends no more: FIN on the data channel; the pair ends with the client's. */
static void pod_ended(struct pf_pair *p)
{
	struct pf_session *s = p->s;
	struct crid_stream_conn *c = s->base.conn;

	p->sock_eof = true;
	ev_io_stop(s->loop->ev, &p->rio);
	if (pair_done(p)) {
		pair_end(p, NULL, false);
		return;
	}
	p->data_closed = true;
	p->moved = 0;
	ev_timer_set(&p->linger, PF_LINGER, PF_LINGER);
	ev_timer_start(s->loop->ev, &p->linger);
	c->ops->close_chan(c, 2 * p->k);
}

static void read_pod(struct pf_pair *p)
{
	struct pf_session *s = p->s;
	struct crid_stream_conn *c = s->base.conn;
	uint8_t buf[PF_READ_SLICE];

	for (int i = 0; i < PF_READS_PER_WAKE; i++) {
		ssize_t n;

		if (c->ops->pending(c) >= CRID_STREAM_HIGH_WATER) {
			stall(p);
			return;
		}
		n = read(p->fd, buf, sizeof(buf));
		if (n < 0 && errno == EINTR)
			continue;
		if (n < 0 && errno == EAGAIN)
			return;
		if (n < 0) {
			pair_fail(p, errno, "read from the pod");
			return;
		}
		if (n == 0) {
			pod_ended(p);
			return;
		}
		if (c->ops->send(c, 2 * p->k, buf, (size_t)n) < 0) {
			stall(p); /* the connection is going: gone() follows */
			return;
		}
		if (s->dead)
			return;
	}
}

/* ---- the dial ---- */

/* The namespace to dial in: "" for the host's; NULL with |cause| when the pod cannot be reached. */
static const char *pod_netns(struct pf_session *s, char *cause, size_t size)
{
	bool ambiguous = false;
	struct crid_sandbox *sb = crid_sandbox_find(s->pods->store, s->req->id, &ambiguous);

	if (!sb) {
		snprintf(cause, size, "pod sandbox %s not found", s->req->id);
		return NULL;
	}
	if (sb->state != CRID_SANDBOX_READY) {
		snprintf(cause, size, "pod sandbox %s is not ready", s->req->id);
		return NULL;
	}
	if (sb->ns_network == CRID_NS_NODE)
		return "";
	if (!sb->ns.net[0]) {
		snprintf(cause, size, "network namespace of pod sandbox %s is gone", s->req->id);
		return NULL;
	}
	return sb->ns.net;
}

static void dial_failed(struct pf_pair *p, const struct crid_err *e);

/* Starts connecting with |family|; failures go on to ::1 or end the pair. */
static void dial(struct pf_pair *p, int family)
{
	char cause[CRID_ERR_MSG_MAX];
	const char *netns = pod_netns(p->s, cause, sizeof(cause));
	struct crid_err e = { 0 };

	if (!netns) {
		pair_end(p, cause, true);
		return;
	}
	p->family = family;
	p->fd = crid_pf_dial(netns, p->s->self_ns, family, p->port, &e);
	if (p->fd < 0) {
		dial_failed(p, &e);
		return;
	}
	ev_io_set(&p->rio, p->fd, EV_READ);
	ev_io_set(&p->wio, p->fd, EV_WRITE);
	ev_io_start(p->s->loop->ev, &p->wio);
}

/*
 * 127.0.0.1 first, then ::1, one after the other as containerd and CRI-O do
 * (`localhost` resolves v4 first there; a server may listen on one family).
 */
static void dial_failed(struct pf_pair *p, const struct crid_err *e)
{
	char cause[3 * CRID_ERR_MSG_MAX];

	if (p->fd >= 0) {
		ev_io_stop(p->s->loop->ev, &p->wio);
		close(p->fd);
		p->fd = -1;
	}
	if (p->family == AF_INET) {
		snprintf(p->err4, sizeof(p->err4), "%s", e->msg);
		dial(p, AF_INET6);
		return;
	}
	/* containerd's wording (sandbox_portforward_linux.go) */
	snprintf(cause, sizeof(cause),
		 "failed to connect to localhost:%u inside namespace \"%s\", IPv4: %s IPv6 %s",
		 p->port, p->s->req->id, p->err4, e->msg);
	pair_end(p, cause, true);
}

static void connected(struct pf_pair *p)
{
	struct crid_err e = { 0 };

	if (crid_pf_dial_result(p->fd, p->family, p->port, &e) < 0) {
		dial_failed(p, &e);
		return;
	}
	p->connected = true;
	ev_io_start(p->s->loop->ev, &p->rio);
	if (flush(p) == 0)
		after_flush(p);
}

/* ---- watchers: each guards the session against gone() inside a connection call ---- */

static void rio_cb(struct ev_loop *ev, ev_io *w, int revents)
{
	struct pf_pair *p = w->data;
	struct pf_session *s = p->s;

	(void)ev, (void)revents;
	s->depth++;
	read_pod(p);
	leave(s);
}

static void wio_cb(struct ev_loop *ev, ev_io *w, int revents)
{
	struct pf_pair *p = w->data;
	struct pf_session *s = p->s;

	(void)ev, (void)revents;
	s->depth++;
	if (!p->connected)
		connected(p);
	else if (flush(p) == 0)
		after_flush(p);
	leave(s);
}

/* ---- what the connection calls ---- */

static void pf_start(struct crid_stream_session *base)
{
	(void)base; /* port-forward works per pair */
}

static void pf_pair(struct crid_stream_session *base, unsigned k, uint16_t port)
{
	struct pf_session *s = (struct pf_session *)base;
	struct crid_stream_conn *c = base->conn;
	struct pf_pair *p;

	if (find(s, k)) {
		crid_log_warn("port-forward pod=%.12s: pair %u given twice, ignored", s->req->id,
			      k);
		return;
	}
	p = crid_calloc(1, sizeof(*p));
	if (!p || s->n >= PF_MAX_PAIRS || add(s, p) < 0) {
		char json[CRID_PF_ERROR_MAX];
		size_t n = crid_pf_error_json(
		    json, sizeof(json), port, s->req->id,
		    p ? "too many forwarded connections" : "out of memory", true);

		crid_free(p);
		s->depth++;
		s->ended++;
		if (c->ops->send(c, 2 * k + 1, json, n) == 0 && !s->dead)
			c->ops->close_chan(c, 2 * k);
		if (!s->dead)
			c->ops->close_chan(c, 2 * k + 1);
		maybe_finish(s);
		leave(s);
		return;
	}
	p->s = s, p->k = k, p->port = port, p->fd = -1;
	ev_init(&p->wio, wio_cb);
	ev_init(&p->rio, rio_cb);
	ev_init(&p->linger, linger_cb);
	p->rio.data = p->wio.data = p->linger.data = p;
	s->depth++;
	dial(p, AF_INET);
	leave(s);
}

static void pf_data(struct crid_stream_session *base, unsigned chan, const uint8_t *b, size_t len)
{
	struct pf_session *s = (struct pf_session *)base;
	struct pf_pair *p = chan % 2 ? NULL : find(s, chan / 2);
	size_t off = 0;

	if (!p || p->peer_eof || !len)
		return; /* the error channel is ours only; an ended pair drops late bytes */
	s->depth++;
	p->moved += len;
	if (p->connected && p->off == p->len) {
		ssize_t n = send(p->fd, b, len, MSG_NOSIGNAL);

		if (n < 0 && errno != EAGAIN && errno != EINTR) {
			pair_fail(p, errno, "write to the pod");
			goto out;
		}
		off = n > 0 ? (size_t)n : 0;
	}
	if (off < len) {
		if (buffer(p, b + off, len - off) < 0) {
			pair_end(p, "client sent more than the pod takes", true);
			goto out;
		}
		if (p->connected)
			ev_io_start(s->loop->ev, &p->wio);
		hold_input(p);
	}
out:
	leave(s);
}

static void pf_eof(struct crid_stream_session *base, unsigned chan)
{
	struct pf_session *s = (struct pf_session *)base;
	struct pf_pair *p = chan % 2 ? NULL : find(s, chan / 2);

	if (!p || p->peer_eof)
		return;
	p->peer_eof = true;
	if (p->connected && p->off == p->len) {
		s->depth++;
		after_flush(p);
		leave(s);
	}
}

static void pf_drained(struct crid_stream_session *base)
{
	struct pf_session *s = (struct pf_session *)base;

	for (size_t i = 0; i < s->n; i++) {
		struct pf_pair *p = s->pairs[i];

		if (p->stalled && !p->sock_eof) {
			p->stalled = false;
			ev_io_start(s->loop->ev, &p->rio);
		}
	}
}

static void pf_gone(struct crid_stream_session *base)
{
	struct pf_session *s = (struct pf_session *)base;

	s->dead = true;
	if (s->depth == 0)
		session_free(s);
}

static const struct crid_stream_session_ops pf_ops = {
	.start = pf_start,
	.pair = pf_pair,
	.data = pf_data,
	.eof = pf_eof,
	.drained = pf_drained,
	.gone = pf_gone,
};

/* ---- life ---- */

static void session_free(struct pf_session *s)
{
	while (s->n)
		pair_free(s->pairs[--s->n]);
	crid_free(s->pairs);
	if (s->self_ns >= 0)
		close(s->self_ns);
	crid_stream_req_free(s->req);
	crid_free(s);
}

struct crid_stream_session *crid_port_forward_new(struct crid_loop *loop, struct crid_pods *pods,
						  struct crid_stream_req *req, struct crid_err *err)
{
	struct pf_session *s;
	bool ambiguous = false;

	if (!crid_sandbox_find(pods->store, req->id, &ambiguous)) {
		crid_err_cause(err, ENOENT, "pod sandbox %s not found", req->id);
		return NULL;
	}
	s = crid_calloc(1, sizeof(*s));
	if (!s) {
		crid_err_set(err, ENOMEM, "port-forward session");
		return NULL;
	}
	/* thread-self: the namespace of this thread, the one setns changes */
	s->self_ns = open("/proc/thread-self/ns/net", O_RDONLY | O_CLOEXEC);
	if (s->self_ns < 0) {
		crid_err_set(err, errno, "open `/proc/thread-self/ns/net`");
		crid_free(s);
		return NULL;
	}
	s->base.ops = &pf_ops;
	s->loop = loop;
	s->pods = pods;
	s->req = req;
	return &s->base;
}

void crid_port_forward_free(struct crid_stream_session *base)
{
	if (base)
		session_free((struct pf_session *)base);
}
