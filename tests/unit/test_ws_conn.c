/*
 * The WebSocket streaming connection on a real loop and socket pair: the
 * client end writes masked frames byte by byte as RFC 6455 lays them out and
 * reads the server's frames back; the session end is a recorder that
 * answers as a session would (it is the other side of the seam, not the
 * code under test). Checked: the open messages, channels read and ignored,
 * base64, the v5 CLOSE signal both ways, the close after finish(), peer
 * close and errors, idle and finish timeouts, abort, back-pressure.
 */
#include <errno.h>
#include <fcntl.h>
#include <signal.h>
#include <stdarg.h>
#include <stdio.h>
#include <string.h>
#include <sys/socket.h>
#include <unistd.h>

#include "reactor/mem.h"
#include "runtime/stream/ws_conn.h"
#include "tap.h"
#include "ws_peer.h"

static const struct crid_stream_limits limits = { .creation = 30, .idle = 60, .finish = 60 };

/* What the session heard, as text: "start;data 0 hi;eof 0;pair 1 8080;drained;gone;". */
struct rec {
	struct crid_stream_session s;
	char log[4096];
	size_t len;
	bool finish_on_data; /* finish() from inside data(), as a session on an error */
	bool freed;	     /* gone() came: a real session frees itself here */
};

static void logf_(struct rec *r, const char *fmt, ...) __attribute__((format(printf, 2, 3)));
static void logf_(struct rec *r, const char *fmt, ...)
{
	va_list ap;

	va_start(ap, fmt);
	r->len += vsnprintf(r->log + r->len, sizeof(r->log) - r->len, fmt, ap);
	va_end(ap);
	if (r->len >= sizeof(r->log))
		r->len = sizeof(r->log) - 1;
}

static void rec_start(struct crid_stream_session *s)
{
	logf_((struct rec *)s, "start;");
}

static void rec_pair(struct crid_stream_session *s, unsigned k, uint16_t port)
{
	logf_((struct rec *)s, "pair %u %u;", k, port);
}

static void rec_data(struct crid_stream_session *s, unsigned chan, const uint8_t *buf, size_t len)
{
	struct rec *r = (struct rec *)s;

	logf_(r, "data %u %.*s;", chan, (int)len, (const char *)buf);
	if (r->finish_on_data)
		s->conn->ops->finish(s->conn);
}

static void rec_eof(struct crid_stream_session *s, unsigned chan)
{
	logf_((struct rec *)s, "eof %u;", chan);
}

static void rec_drained(struct crid_stream_session *s)
{
	logf_((struct rec *)s, "drained;");
}

static void rec_gone(struct crid_stream_session *s)
{
	struct rec *r = (struct rec *)s;

	logf_(r, "gone;");
	r->freed = true;
}

static const struct crid_stream_session_ops rec_ops = {
	.start = rec_start,
	.pair = rec_pair,
	.data = rec_data,
	.eof = rec_eof,
	.drained = rec_drained,
	.gone = rec_gone,
};

struct setup {
	struct crid_stream_conns list;
	struct rec rec;
	struct peer peer;
	struct crid_stream_conn *c;
};

static void req_exec(struct crid_stream_req *req, bool in, bool out, bool err, bool tty)
{
	*req = (struct crid_stream_req){
		.kind = CRID_STREAM_EXEC, .stdin = in, .stdout = out, .stderr = err, .tty = tty
	};
}

static bool open_conn_pre(struct setup *t, const struct crid_stream_req *req,
			  enum crid_ws_proto proto, const struct crid_stream_limits *lim,
			  const uint8_t *pre, size_t pre_len)
{
	struct crid_err err = { 0 };
	int sv[2];

	memset(t, 0, sizeof(*t));
	t->rec.s.ops = &rec_ops;
	if (socketpair(AF_UNIX, SOCK_STREAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0, sv) < 0)
		return CHECK(0, "socketpair");
	t->peer.fd = sv[1];
	t->c = crid_ws_conn_new(&loop, sv[0], pre, pre_len, req, proto, &t->rec.s, &t->list,
				lim ? lim : &limits, &err);
	if (!CHECK(t->c, "connection made: %s", err.msg)) {
		close(sv[1]);
		return false;
	}
	CHECK(t->rec.s.conn == t->c && t->list.n == 1, "session and list know the connection");
	return true;
}

static bool open_conn(struct setup *t, const struct crid_stream_req *req, enum crid_ws_proto proto,
		      const struct crid_stream_limits *lim)
{
	return open_conn_pre(t, req, proto, lim, NULL, 0);
}

/* The peer closes politely; the connection must be gone from the list and the socket closed. */
static void close_and_check(struct setup *t, const char *what)
{
	uint8_t code[2] = { 0x03, 0xe8 };

	peer_write(&t->peer, 8, code, 2);
	spin(20);
	peer_read(&t->peer);
	CHECK(t->list.n == 0, "%s: connection freed", what);
	CHECK(t->peer.eof, "%s: socket closed", what);
	close(t->peer.fd);
}

static void test_exec_v4(void)
{
	struct crid_stream_req req;
	struct setup t;
	struct crid_stream_conn *c;

	req_exec(&req, true, true, true, false);
	if (!open_conn(&t, &req, CRID_WS_V4, NULL))
		return;
	c = t.c;
	CHECK(c->version == 4, "v4.channel.k8s.io is version 4");
	expect_frame(&t.peer, 2, "\x01", 1, "v4: empty message on stdout first");
	CHECK(!strcmp(t.rec.log, "start;"), "v4: started at open (%s)", t.rec.log);
	peer_write(&t.peer, 2, "\x00hi", 3);
	peer_write(&t.peer, 2, "\x03x", 2);    /* error: the session does not read it */
	peer_write(&t.peer, 2, "\x04{}", 3);   /* resize without a tty */
	peer_write(&t.peer, 2, "\x09zz", 3);   /* no such channel */
	peer_write(&t.peer, 2, "\x00", 1);     /* empty */
	peer_write(&t.peer, 2, "\xff\x00", 2); /* not a signal before v5 */
	peer_write(&t.peer, 1, "\x00yo", 3);   /* text frames count as well */
	CHECK(!strcmp(t.rec.log, "start;data 0 hi;data 0 yo;"),
	      "v4: only stdin reaches the session (%s)", t.rec.log);
	CHECK(c->ops->send(c, 1, "out", 3) == 0, "send stdout");
	CHECK(c->ops->send(c, 2, "err", 3) == 0, "send stderr");
	CHECK(c->ops->send(c, 4, "no", 2) == 0, "send on resize is dropped, not an error");
	c->ops->close_chan(c, 1); /* nothing on v4 */
	CHECK(c->ops->send(c, 3, "{\"status\":\"Success\"}", 20) == 0, "send status");
	spin(20);
	expect_frame(&t.peer, 2, "\x01out", 4, "stdout message");
	expect_frame(&t.peer, 2,
		     "\x02"
		     "err",
		     4, "stderr message");
	expect_frame(&t.peer, 2, "\x03{\"status\":\"Success\"}", 21, "status message");
	no_frame(&t.peer, "nothing for the resize channel, no close signal on v4");
	c->ops->finish(c);
	CHECK(c->ops->send(c, 1, "late", 4) == -1, "no send after finish");
	expect_frame(&t.peer, 8, "\x03\xe8", 2, "close 1000 after finish");
	peer_write(&t.peer, 2, "\x00late", 5);
	CHECK(t.list.n == 1, "still open until the peer closes");
	close_and_check(&t, "v4");
	CHECK(!strcmp(t.rec.log, "start;data 0 hi;data 0 yo;"),
	      "no input and no gone() after finish (%s)", t.rec.log);
}

/* Frames that came with the handshake's bytes reach the session after start(), with nothing more sent. */
static void test_pre_bytes(void)
{
	struct crid_stream_req req;
	struct setup t;
	uint8_t pre[64];
	size_t n;

	req_exec(&req, true, true, false, false);
	n = client_frame(pre, 2, "\x00pre", 4);
	n += client_frame(pre + n, 2, "\x00two", 4);
	if (!open_conn_pre(&t, &req, CRID_WS_V5, NULL, pre, n))
		return;
	CHECK(!strcmp(t.rec.log, "start;"), "nothing before start (%s)", t.rec.log);
	spin(20);
	CHECK(!strcmp(t.rec.log, "start;data 0 pre;data 0 two;"),
	      "pre bytes parsed after start (%s)", t.rec.log);
	close_and_check(&t, "pre bytes");
}

static void test_exec_v5(void)
{
	struct crid_stream_req req;
	struct setup t;
	struct crid_stream_conn *c;

	req_exec(&req, true, false, false, true);
	if (!open_conn(&t, &req, CRID_WS_V5, NULL))
		return;
	c = t.c;
	CHECK(c->version == 5, "v5.channel.k8s.io is version 5");
	expect_frame(&t.peer, 2, "\x03", 1, "v5 stdin only: empty message on error");
	peer_write(&t.peer, 2, "\x04{\"Width\":80,\"Height\":24}\n", 27);
	peer_write(&t.peer, 2,
		   "\x00"
		   "abc",
		   4);
	peer_write(&t.peer, 2, "\xff\x00", 2);
	peer_write(&t.peer, 2,
		   "\x00"
		   "after",
		   6);
	peer_write(&t.peer, 2, "\xff\x00", 2);
	CHECK(!strcmp(t.rec.log, "start;data 4 {\"Width\":80,\"Height\":24}\n;data 0 abc;eof 0;"),
	      "v5: resize with a tty, stdin, one eof, nothing after it (%s)", t.rec.log);
	c->ops->close_chan(c, 3);
	c->ops->close_chan(c, 3);
	c->ops->close_chan(c, 1); /* not requested: nothing */
	expect_frame(&t.peer, 2, "\xff\x03", 2, "v5 CLOSE signal for error, once");
	no_frame(&t.peer, "no signal for a channel not written");
	c->ops->reset_chan(c, 4);
	peer_write(&t.peer, 2, "\x04{}", 3);
	CHECK(!strstr(t.rec.log, "data 4 {}"), "reset channel input ignored");
	/* the peer closes before finish: gone() */
	close_and_check(&t, "v5 peer close");
	CHECK(t.rec.freed, "gone() on peer close (%s)", t.rec.log);
}

static void test_base64(void)
{
	struct crid_stream_req req;
	struct setup t;
	struct crid_stream_conn *c;

	req_exec(&req, true, true, false, false);
	if (!open_conn(&t, &req, CRID_WS_V4_BASE64, NULL))
		return;
	c = t.c;
	expect_frame(&t.peer, 1, "1", 1, "base64: text '1' on open");
	peer_write(&t.peer, 1, "0aGk=", 5);
	CHECK(!strcmp(t.rec.log, "start;data 0 hi;"), "base64 stdin decoded (%s)", t.rec.log);
	CHECK(c->ops->send(c, 1, "hi", 2) == 0, "send");
	expect_frame(&t.peer, 1, "1aGk=", 5, "base64 stdout encoded");
	peer_write(&t.peer, 1, "0a!k=", 5);
	CHECK(t.rec.freed, "bad base64: gone() (%s)", t.rec.log);
	expect_frame(&t.peer, 8, "\x03\xef", 2, "bad base64: close 1007");
	CHECK(c->ops->send(c, 1, "x", 1) == -1, "bad base64: no send after the error");
	close_and_check(&t, "base64");
	t.c = NULL;

	req_exec(&req, false, false, true, false);
	if (!open_conn(&t, &req, CRID_WS_BASE64, NULL))
		return;
	CHECK(t.c->version == 3, "base64.channel.k8s.io: v1 status, resize as v3 (3)");
	expect_frame(&t.peer, 1, "2", 1, "base64, stderr only: text '2' on open");
	close_and_check(&t, "base64 legacy");
}

static void test_port_forward(void)
{
	uint16_t ports[] = { 80, 8080 };
	struct crid_stream_req req = { .kind = CRID_STREAM_PORTFORWARD,
				       .ports = ports,
				       .n_ports = 2 };
	struct crid_stream_req none = { .kind = CRID_STREAM_PORTFORWARD };
	struct crid_err err = { 0 };
	struct crid_stream_conns list = { 0 };
	struct rec rec = { .s.ops = &rec_ops };
	struct setup t;
	int sv[2];

	if (!open_conn(&t, &req, CRID_WS_V4, NULL))
		return;
	expect_frame(&t.peer, 2, "\x00\x50\x00", 3, "port 80 on data channel 0");
	expect_frame(&t.peer, 2, "\x01\x50\x00", 3, "port 80 on error channel 1");
	expect_frame(&t.peer, 2, "\x02\x90\x1f", 3, "port 8080 on data channel 2");
	expect_frame(&t.peer, 2, "\x03\x90\x1f", 3, "port 8080 on error channel 3");
	CHECK(!strcmp(t.rec.log, "pair 0 80;pair 1 8080;"), "pairs at open (%s)", t.rec.log);
	peer_write(&t.peer, 2, "\x02GET", 4);
	peer_write(&t.peer, 2, "\x03no", 3);
	peer_write(&t.peer, 2, "\x04no", 3);
	CHECK(!strcmp(t.rec.log, "pair 0 80;pair 1 8080;data 2 GET;"),
	      "data channels read, error channels not (%s)", t.rec.log);
	CHECK(t.c->ops->send(t.c, 3, "refused", 7) == 0, "error text");
	expect_frame(&t.peer, 2, "\x03refused", 8, "error channel written");
	close(t.peer.fd); /* the peer goes without a close frame */
	spin(20);
	CHECK(t.rec.freed && t.list.n == 0, "peer gone: gone() and freed (%s)", t.rec.log);

	if (socketpair(AF_UNIX, SOCK_STREAM | SOCK_NONBLOCK, 0, sv) < 0)
		return;
	CHECK(!crid_ws_conn_new(&loop, sv[0], NULL, 0, &none, CRID_WS_V4, &rec.s, &list, &limits,
				&err) &&
		  err.code == EINVAL && list.n == 0,
	      "port-forward without ports refused: %s", err.msg);
	CHECK(fcntl(sv[0], F_GETFD) < 0, "its fd closed");
	req.kind = CRID_STREAM_EXEC;
	CHECK(!crid_ws_conn_new(&loop, sv[1], NULL, 0, &req, CRID_WS_SPDY_TUNNEL, &rec.s, &list,
				&limits, &err) &&
		  err.code == EINVAL && list.n == 0,
	      "spdy tunnel for exec refused: %s", err.msg);
	CHECK(!rec.len, "a refused session hears nothing");
}

static void test_timeouts_abort(void)
{
	struct crid_stream_limits quick = { .creation = 1, .idle = 2.0, .finish = 0.2 };
	struct crid_stream_req req;
	struct setup t;

	req_exec(&req, false, true, false, false);
	if (!open_conn(&t, &req, CRID_WS_V4, &quick))
		return;
	spin_for(1.4);
	peer_write(&t.peer, 2, "\x00x", 2); /* activity postpones the idle limit */
	spin_for(1.1);
	CHECK(t.list.n == 1, "not idle yet: past the first limit, within the postponed one");
	spin_for(2.0);
	CHECK(t.rec.freed && t.list.n == 0, "idle: gone() and freed (%s)", t.rec.log);
	peer_read(&t.peer);
	CHECK(t.peer.eof, "idle: socket closed");
	close(t.peer.fd);

	if (!open_conn(&t, &req, CRID_WS_V4, &quick))
		return;
	t.c->ops->finish(t.c);
	spin_for(0.3);
	CHECK(!t.rec.freed && t.list.n == 0, "finish: freed without the peer's close, no gone()");
	close(t.peer.fd);

	if (!open_conn(&t, &req, CRID_WS_V4, NULL))
		return;
	t.c->abort(t.c);
	CHECK(t.rec.freed && t.list.n == 0, "abort: gone() and freed at once");
	close(t.peer.fd);

	req_exec(&req, true, true, false, false);
	if (!open_conn(&t, &req, CRID_WS_V4, NULL))
		return;
	t.rec.finish_on_data = true;
	peer_write(&t.peer, 2, "\x00one", 4);
	peer_write(&t.peer, 2, "\x00two", 4);
	CHECK(!strcmp(t.rec.log, "start;data 0 one;"), "finish() inside data(): nothing more (%s)",
	      t.rec.log);
	expect_frame(&t.peer, 2, "\x01", 1, "open message");
	expect_frame(&t.peer, 8, "\x03\xe8", 2, "close 1000");
	close_and_check(&t, "finish inside data");
}

/* A client that does not read: the queue grows past the high water, then drained() once it reads. */
static void test_back_pressure(void)
{
	static uint8_t chunk[64 << 10];
	struct crid_stream_req req;
	struct setup t;
	size_t sent = 0;

	req_exec(&req, true, true, false, false);
	if (!open_conn(&t, &req, CRID_WS_V4, NULL))
		return;
	while (t.c->ops->pending(t.c) <= CRID_STREAM_HIGH_WATER && sent < (64u << 20)) {
		t.c->ops->send(t.c, 1, chunk, sizeof(chunk));
		sent += sizeof(chunk);
		spin(5);
	}
	CHECK(t.c->ops->pending(t.c) > CRID_STREAM_HIGH_WATER, "queue above high water (%zu)",
	      t.c->ops->pending(t.c));
	t.c->ops->pause_input(t.c, true);
	peer_write(&t.peer, 2, "\x00paused", 7);
	CHECK(!strstr(t.rec.log, "paused"), "paused input is not read (%s)", t.rec.log);
	for (int i = 0; i < 10000 && !strstr(t.rec.log, "drained"); i++) {
		uint8_t sink[65536];

		while (read(t.peer.fd, sink, sizeof(sink)) > 0)
			;
		spin(2);
	}
	CHECK(strstr(t.rec.log, "drained;"), "drained() once the client reads (%s)", t.rec.log);
	t.c->ops->pause_input(t.c, false);
	spin(20);
	CHECK(strstr(t.rec.log, "data 0 paused;"), "input read again after resume (%s)", t.rec.log);
	t.c->abort(t.c);
	close(t.peer.fd);
}

static void on_signal(struct crid_loop *l, int signo, void *user)
{
	(void)l;
	(void)signo;
	(void)user;
}

int main(void)
{
	struct crid_err err;
	size_t before;

	if (crid_loop_init(&loop, on_signal, NULL, &err) < 0) {
		printf("loop: %s\n", err.msg);
		return 1;
	}
	before = crid_mem_used();
	test_exec_v4();
	test_exec_v5();
	test_pre_bytes();
	test_base64();
	test_port_forward();
	test_timeouts_abort();
	test_back_pressure();
	CHECK(crid_mem_used() == before, "nothing left allocated (%zu bytes)",
	      crid_mem_used() - before);
	crid_loop_destroy(&loop);
	return tap_done();
}
