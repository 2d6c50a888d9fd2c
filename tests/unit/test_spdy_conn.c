/*
 * The SPDY streaming connection (runtime/stream/spdy_conn.c) on a real loop
 * and a real socket pair: the test plays the client with the codec's client
 * side (io/spdy.h) and a recording session on the other end of the seam.
 */
#include <errno.h>
#include <fcntl.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <unistd.h>

#include "io/spdy.h"
#include "reactor/loop.h"
#include "reactor/mem.h"
#include "runtime/stream/spdy_conn.h"
#include "tap.h"

/* -- the recording session ---------------------------------------------- */

struct rec {
	struct crid_stream_session s;
	int starts, gones, drains;
	int pairs;
	unsigned pair_k[8];
	uint16_t pair_port[8];
	unsigned eofs;	   /* bit per channel */
	char data[8][256]; /* per channel, what data() gave */
	size_t data_len[8];
	bool finish_on_start; /* calls finish() from start() */
};

static void r_start(struct crid_stream_session *s)
{
	((struct rec *)s)->starts++;
}

static void r_pair(struct crid_stream_session *s, unsigned k, uint16_t port)
{
	struct rec *r = (struct rec *)s;

	if (r->pairs < 8) {
		r->pair_k[r->pairs] = k;
		r->pair_port[r->pairs] = port;
	}
	r->pairs++;
}

static void r_data(struct crid_stream_session *s, unsigned chan, const uint8_t *buf, size_t len)
{
	struct rec *r = (struct rec *)s;

	if (chan < 8 && r->data_len[chan] + len <= sizeof(r->data[chan])) {
		memcpy(r->data[chan] + r->data_len[chan], buf, len);
		r->data_len[chan] += len;
	}
}

static void r_eof(struct crid_stream_session *s, unsigned chan)
{
	((struct rec *)s)->eofs |= 1u << chan;
}

static void r_drained(struct crid_stream_session *s)
{
	((struct rec *)s)->drains++;
}

static void r_gone(struct crid_stream_session *s)
{
	((struct rec *)s)->gones++;
}

static const struct crid_stream_session_ops rec_ops = {
	.start = r_start,
	.pair = r_pair,
	.data = r_data,
	.eof = r_eof,
	.drained = r_drained,
	.gone = r_gone,
};

/* -- the client ---------------------------------------------------------- */

struct got {
	int replies, pings, goaways, rsts, fins;
	uint32_t reply_ids[16];
	uint32_t rst_ids[16], rst_status[16];
	uint32_t ping_id, goaway_status;
	uint32_t data_sid;
	char data[4096];
	size_t data_len;
	size_t total_data;
};

struct client {
	int fd;
	struct crid_spdy_codec *codec;
	struct got got;
	bool eof;
};

static int on_client_frame(void *user, const struct crid_spdy_frame *f)
{
	struct got *g = user;

	switch (f->type) {
	case CRID_SPDY_SYN_REPLY:
		if (g->replies < 16)
			g->reply_ids[g->replies] = f->stream_id;
		g->replies++;
		break;
	case CRID_SPDY_RST_STREAM:
		if (g->rsts < 16) {
			g->rst_ids[g->rsts] = f->stream_id;
			g->rst_status[g->rsts] = f->value;
		}
		g->rsts++;
		break;
	case CRID_SPDY_PING:
		g->pings++;
		g->ping_id = f->value;
		break;
	case CRID_SPDY_GOAWAY:
		g->goaways++;
		g->goaway_status = f->value;
		break;
	case CRID_SPDY_DATA:
		g->data_sid = f->stream_id;
		g->total_data += f->len;
		if (f->len && g->data_len + f->len <= sizeof(g->data)) {
			memcpy(g->data + g->data_len, f->data, f->len);
			g->data_len += f->len;
		}
		if ((f->flags & CRID_SPDY_FLAG_FIN) && f->last_piece)
			g->fins++;
		break;
	default:
		break;
	}
	return 0;
}

static struct crid_loop loop;

static void spin(int rounds)
{
	for (int i = 0; i < rounds; i++)
		ev_run(loop.ev, EVRUN_NOWAIT);
}

/* Runs the loop and reads what the server wrote, |rounds| times. */
static void pump(struct client *cl, int rounds)
{
	for (int i = 0; i < rounds; i++) {
		uint8_t buf[65536];
		ssize_t n;

		spin(2);
		while ((n = read(cl->fd, buf, sizeof(buf))) > 0) {
			struct crid_err err;

			if (crid_spdy_feed(cl->codec, buf, (size_t)n, on_client_frame, &cl->got,
					   &err) < 0)
				printf("# client feed: %s\n", err.msg);
		}
		if (n == 0)
			cl->eof = true;
	}
}

static void client_send(struct client *cl, const void *buf, size_t len)
{
	if (write(cl->fd, buf, len) != (ssize_t)len)
		printf("# short write to the connection\n");
}

static void client_syn(struct client *cl, uint32_t id, const char *type, const char *port,
		       const char *reqid)
{
	struct crid_spdy_header h[3];
	size_t n = 0;
	uint8_t f[512];
	struct crid_err err;
	ssize_t len;

	if (type)
		h[n++] = (struct crid_spdy_header){ "streamtype", type, 10, strlen(type) };
	if (port)
		h[n++] = (struct crid_spdy_header){ "port", port, 4, strlen(port) };
	if (reqid)
		h[n++] = (struct crid_spdy_header){ "requestid", reqid, 9, strlen(reqid) };
	len = crid_spdy_syn_stream(cl->codec, f, sizeof(f), id, 0, h, n, &err);
	if (len < 0) {
		printf("# syn_stream: %s\n", err.msg);
		return;
	}
	client_send(cl, f, (size_t)len);
}

static void client_data(struct client *cl, uint32_t id, const char *s, bool fin)
{
	uint8_t h[8];
	size_t n = strlen(s);

	client_send(cl, h, crid_spdy_data_head(h, id, fin ? CRID_SPDY_FLAG_FIN : 0, (uint32_t)n));
	if (n)
		client_send(cl, s, n);
}

/* -- fixtures ------------------------------------------------------------ */

static struct crid_stream_conns conns;

struct setup {
	struct client cl;
	struct rec r;
	struct crid_stream_conn *c;
};

static struct crid_stream_limits limits = { .creation = 5, .idle = 60, .finish = 5 };

static bool open_conn(struct setup *t, const struct crid_stream_req *req, int version)
{
	int sv[2];
	struct crid_err err;

	memset(t, 0, sizeof(*t));
	if (socketpair(AF_UNIX, SOCK_STREAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0, sv) < 0)
		return false;
	t->cl.fd = sv[1];
	t->cl.codec = crid_spdy_codec_new(&err);
	t->r.s.ops = &rec_ops;
	t->c =
	    crid_spdy_conn_new(&loop, sv[0], NULL, 0, req, version, &t->r.s, &conns, &limits, &err);
	if (!t->c)
		printf("# crid_spdy_conn_new: %s\n", err.msg);
	return t->c != NULL && t->cl.codec != NULL;
}

static void close_client(struct setup *t)
{
	close(t->cl.fd);
	crid_spdy_codec_free(t->cl.codec);
}

static struct crid_stream_req exec_req(bool in, bool out, bool errs, bool tty)
{
	struct crid_stream_req r = { .kind = CRID_STREAM_EXEC };

	r.stdin = in;
	r.stdout = out;
	r.stderr = errs;
	r.tty = tty;
	return r;
}

/* -- tests --------------------------------------------------------------- */

/* error, stdin, stdout, stderr: replies, start once, stdin both ways, output, finish. */
static void test_exec_session(void)
{
	struct crid_stream_req req = exec_req(true, true, true, false);
	struct setup t;
	size_t before = conns.n;

	if (!CHECK(open_conn(&t, &req, 4), "exec connection made"))
		return;
	CHECK(t.r.s.conn == t.c && conns.n == before + 1, "linked, s->conn set");
	client_syn(&t.cl, 1, "error", NULL, NULL);
	client_syn(&t.cl, 3, "stdin", NULL, NULL);
	client_syn(&t.cl, 5, "STDOUT", NULL, NULL); /* types match case-insensitively */
	pump(&t.cl, 2);
	CHECK(t.cl.got.replies == 3 && t.r.starts == 0, "3 replies, not started yet (%d, %d)",
	      t.cl.got.replies, t.r.starts);
	client_syn(&t.cl, 7, "stderr", NULL, NULL);
	client_data(&t.cl, 3, "hello", false);
	client_data(&t.cl, 3, "", true);
	pump(&t.cl, 2);
	CHECK(t.cl.got.replies == 4 && t.r.starts == 1, "started once with all 4 streams");
	CHECK(t.r.data_len[0] == 5 && memcmp(t.r.data[0], "hello", 5) == 0, "stdin data passed");
	CHECK(t.r.eofs == 1u << CRID_CHAN_STDIN, "stdin FIN is eof(0) (eofs %#x)", t.r.eofs);

	CHECK(t.c->ops->send(t.c, CRID_CHAN_STDOUT, "out!", 4) == 0, "send on stdout");
	CHECK(t.c->ops->send(t.c, CRID_CHAN_RESIZE, "x", 1) == 0, "send on a channel not open: 0");
	CHECK(t.c->ops->pending(t.c) > 4, "pending counts the queued frame");
	t.c->ops->close_chan(t.c, CRID_CHAN_STDOUT);
	pump(&t.cl, 2);
	CHECK(t.cl.got.data_sid == 5 && t.cl.got.data_len == 4 &&
		  memcmp(t.cl.got.data, "out!", 4) == 0,
	      "stdout bytes on stream 5");
	CHECK(t.cl.got.fins == 1 && t.c->ops->pending(t.c) == 0, "FIN on stdout, queue empty");

	t.c->ops->finish(t.c);
	CHECK(t.c->ops->send(t.c, CRID_CHAN_STDOUT, "x", 1) == -1, "send after finish: -1");
	pump(&t.cl, 2);
	CHECK(!t.cl.eof && conns.n == before + 1, "finish waits for the peer's close");
	close_client(&t);
	spin(3);
	CHECK(conns.n == before && t.r.gones == 0, "peer close after finish: freed, no gone()");
}

/* What an idle, started exec session holds: freed by abort() (the client's codec is not). */
static void test_idle_memory(void)
{
	struct crid_stream_req req = exec_req(true, true, true, false);
	struct setup t;
	size_t m;

	if (!CHECK(open_conn(&t, &req, 4), "connection made"))
		return;
	client_syn(&t.cl, 1, "error", NULL, NULL);
	client_syn(&t.cl, 3, "stdin", NULL, NULL);
	client_syn(&t.cl, 5, "stdout", NULL, NULL);
	client_syn(&t.cl, 7, "stderr", NULL, NULL);
	pump(&t.cl, 3);
	m = crid_mem_used() - crid_spdy_conn_spare_bytes(); /* spares: shared by all */
	t.c->abort(t.c);
	m -= crid_mem_used();
	/* the struct, 4 streams, the 11-bit deflate stream; no inflate, no buffer */
	CHECK(t.r.starts == 1 && m < (24u << 10), "an idle exec session holds %zu bytes", m);
	close_client(&t);
}

static void test_refusals(void)
{
	struct crid_stream_req req = exec_req(false, true, true, true);
	struct setup t;

	/* tty: error, stdout, resize (v4); stderr is not expected */
	if (!CHECK(open_conn(&t, &req, 4), "tty exec connection made"))
		return;
	client_syn(&t.cl, 1, "error", NULL, NULL);
	client_syn(&t.cl, 3, "stderr", NULL, NULL);
	client_syn(&t.cl, 5, "bogus", NULL, NULL);
	client_syn(&t.cl, 7, "error", NULL, NULL);
	client_syn(&t.cl, 9, NULL, NULL, NULL);
	client_syn(&t.cl, 10, "stdout", NULL, NULL);
	pump(&t.cl, 2);
	CHECK(t.cl.got.replies == 1, "only the error stream accepted (%d)", t.cl.got.replies);
	CHECK(t.cl.got.rsts == 5, "5 resets (%d)", t.cl.got.rsts);
	CHECK(t.cl.got.rst_ids[0] == 3 && t.cl.got.rst_status[0] == CRID_SPDY_REFUSED_STREAM,
	      "stderr with a tty: REFUSED");
	CHECK(t.cl.got.rst_ids[1] == 5 && t.cl.got.rst_status[1] == CRID_SPDY_REFUSED_STREAM,
	      "unknown type: REFUSED");
	CHECK(t.cl.got.rst_ids[2] == 7 && t.cl.got.rst_status[2] == CRID_SPDY_PROTOCOL_ERROR,
	      "duplicate error stream: PROTOCOL_ERROR");
	CHECK(t.cl.got.rst_ids[3] == 9, "no streamtype: reset");
	CHECK(t.cl.got.rst_ids[4] == 10 && t.cl.got.rst_status[4] == CRID_SPDY_PROTOCOL_ERROR,
	      "even id: PROTOCOL_ERROR");
	client_syn(&t.cl, 11, "stdout", NULL, NULL);
	client_syn(&t.cl, 13, "resize", NULL, NULL);
	client_data(&t.cl, 13, "{\"Width\":80,\"Height\":24}\n", false);
	pump(&t.cl, 2);
	CHECK(t.r.starts == 1 && t.cl.got.replies == 3, "started with error, stdout, resize");
	CHECK(t.r.data_len[CRID_CHAN_RESIZE] == 25, "resize bytes on channel 4");
	CHECK(t.r.gones == 0, "refusals keep the connection");

	/* ids going backwards: GOAWAY and the end */
	client_syn(&t.cl, 3, "stdin", NULL, NULL);
	pump(&t.cl, 3);
	CHECK(t.cl.got.goaways == 1 && t.cl.got.goaway_status == CRID_SPDY_GOAWAY_PROTOCOL_ERROR,
	      "stream id going backwards: GOAWAY PROTOCOL_ERROR");
	CHECK(t.cl.eof && t.r.gones == 1, "closed, gone() once");
	close_client(&t);
}

static void test_ping_and_garbage(void)
{
	struct crid_stream_req req = exec_req(false, true, false, false);
	struct setup t;
	uint8_t f[16];
	static const uint8_t bad[16] = { 0x80, 0x02, 0x00, 0x01, 0, 0, 0, 8 }; /* version 2 */

	if (!CHECK(open_conn(&t, &req, 4), "connection made"))
		return;
	client_send(&t.cl, f, crid_spdy_ping(f, 7));
	pump(&t.cl, 2);
	CHECK(t.cl.got.pings == 1 && t.cl.got.ping_id == 7, "PING 7 echoed");
	client_send(&t.cl, bad, sizeof(bad));
	pump(&t.cl, 3);
	CHECK(t.cl.got.goaways == 1 && t.cl.eof && t.r.gones == 1,
	      "bad version: GOAWAY, closed, gone()");
	close_client(&t);

	/* an HTTP request after the upgrade reads as DATA on a stream never opened */
	if (!CHECK(open_conn(&t, &req, 4), "connection made"))
		return;
	client_send(&t.cl, "GET / HTTP/1.1\r\n\r\n", 18);
	pump(&t.cl, 3);
	CHECK(t.cl.got.goaways == 1 && t.cl.eof && t.r.gones == 1,
	      "data on a stream never opened: GOAWAY, closed");
	close_client(&t);
}

static void test_creation_timeout(void)
{
	struct crid_stream_req req = exec_req(true, true, false, false);
	struct crid_stream_limits saved = limits;
	struct setup t;

	limits.creation = 0.3;
	if (!CHECK(open_conn(&t, &req, 4), "connection made")) {
		limits = saved;
		return;
	}
	limits = saved;
	client_syn(&t.cl, 1, "error", NULL, NULL);
	pump(&t.cl, 1);
	usleep(500 * 1000);
	pump(&t.cl, 3);
	CHECK(t.r.starts == 0 && t.r.gones == 1, "not all streams in time: gone() without start");
	CHECK(strstr(t.cl.got.data, "timed out waiting for client to create streams") != NULL &&
		  t.cl.got.fins == 1,
	      "the error text and FIN on the error stream");
	CHECK(t.cl.eof, "closed");
	close_client(&t);
}

static void test_peer_gone_and_goaway(void)
{
	struct crid_stream_req req = exec_req(true, true, false, false);
	struct setup t;
	uint8_t g[16];
	size_t before = conns.n;

	if (!CHECK(open_conn(&t, &req, 4), "connection made"))
		return;
	client_syn(&t.cl, 1, "error", NULL, NULL);
	pump(&t.cl, 1);
	close_client(&t);
	spin(3);
	CHECK(t.r.gones == 1 && conns.n == before, "peer closed: gone(), unlinked");

	if (!CHECK(open_conn(&t, &req, 4), "connection made"))
		return;
	client_syn(&t.cl, 1, "error", NULL, NULL);
	client_send(&t.cl, g, crid_spdy_goaway(g, 1, CRID_SPDY_GOAWAY_OK));
	pump(&t.cl, 3);
	CHECK(t.r.gones == 1 && t.cl.eof, "GOAWAY before the streams are there: the end");
	close_client(&t);
}

static void test_idle_limit(void)
{
	struct crid_stream_req req = exec_req(false, true, false, false);
	struct crid_stream_limits saved = limits;
	struct setup t;

	limits.idle = 0.5;
	if (!CHECK(open_conn(&t, &req, 4), "connection made")) {
		limits = saved;
		return;
	}
	limits = saved;
	client_syn(&t.cl, 1, "error", NULL, NULL);
	client_syn(&t.cl, 3, "stdout", NULL, NULL);
	pump(&t.cl, 2);
	usleep(300 * 1000);
	ev_now_update(loop.ev);			       /* as the loop's wake-up would */
	t.c->ops->send(t.c, CRID_CHAN_STDOUT, "x", 1); /* traffic moves the limit */
	pump(&t.cl, 2);
	usleep(300 * 1000);
	pump(&t.cl, 2);
	CHECK(t.r.starts == 1 && t.r.gones == 0 && !t.cl.eof,
	      "600 ms open, traffic 300 ms ago: still open");
	usleep(600 * 1000);
	pump(&t.cl, 3);
	CHECK(t.r.gones == 1 && t.cl.eof, "no byte for the idle limit: closed, gone()");
	close_client(&t);
}

static void test_port_forward(void)
{
	uint16_t ports[1] = { 80 };
	struct crid_stream_req req = { .kind = CRID_STREAM_PORTFORWARD,
				       .ports = ports,
				       .n_ports = 1 };
	struct setup t;

	if (!CHECK(open_conn(&t, &req, 0), "port-forward connection made"))
		return;
	client_syn(&t.cl, 1, "error", "80", "0");
	client_syn(&t.cl, 3, "data", "80", "0");
	client_syn(&t.cl, 5, "data", "8080", "1");
	client_syn(&t.cl, 7, "data", "0", "2");
	client_syn(&t.cl, 9, "data", "65536", "2");
	client_syn(&t.cl, 11, "data", "80", "0"); /* pair 0 has its data stream */
	pump(&t.cl, 2);
	CHECK(t.r.pairs == 1 && t.r.pair_k[0] == 0 && t.r.pair_port[0] == 80, "pair 0 to port 80");
	CHECK(t.cl.got.rsts == 2 && t.cl.got.rst_ids[0] == 7 && t.cl.got.rst_ids[1] == 9,
	      "ports 0 and 65536 reset");
	client_syn(&t.cl, 13, "error", "8080", "1");
	client_data(&t.cl, 3, "GET /", false);
	pump(&t.cl, 2);
	CHECK(t.r.pairs == 2 && t.r.pair_k[1] == 1 && t.r.pair_port[1] == 8080,
	      "pair 1 to port 8080 (channels 2, 3)");
	CHECK(t.r.data_len[0] == 5, "pair 0's data on channel 0");
	CHECK(t.c->ops->send(t.c, 2, "pong", 4) == 0, "send on pair 1's data channel");
	t.c->ops->close_chan(t.c, 2);
	t.c->ops->close_chan(t.c, 3);
	pump(&t.cl, 2);
	CHECK(t.cl.got.data_len == 4 && memcmp(t.cl.got.data, "pong", 4) == 0 && t.cl.got.fins == 2,
	      "pair 1: data then FIN on both");
	client_data(&t.cl, 5, "", true);
	client_data(&t.cl, 13, "", true);
	pump(&t.cl, 2);
	CHECK(t.r.eofs == (1u << 2 | 1u << 3), "client FINs: eof(2), eof(3) (%#x)", t.r.eofs);
	/* pair 1 is over: a new one reuses k = 1; no requestid: pseudo ids pair error 15, data 17 */
	client_syn(&t.cl, 15, "error", "81", NULL);
	client_syn(&t.cl, 17, "data", "81", NULL);
	pump(&t.cl, 2);
	CHECK(t.r.pairs == 3 && t.r.pair_k[2] == 1 && t.r.pair_port[2] == 81,
	      "pair without requestid by stream ids, k 1 reused");
	CHECK(t.r.gones == 0, "still up");
	close_client(&t);
	spin(3);
	CHECK(t.r.gones == 1, "gone() when the client leaves");
}

static void test_pair_timeout(void)
{
	struct crid_stream_req req = { .kind = CRID_STREAM_PORTFORWARD };
	struct crid_stream_limits saved = limits;
	struct setup t;

	limits.creation = 0.3;
	if (!CHECK(open_conn(&t, &req, 0), "port-forward connection made")) {
		limits = saved;
		return;
	}
	limits = saved;
	client_syn(&t.cl, 1, "error", "80", "7");
	pump(&t.cl, 1);
	usleep(500 * 1000);
	pump(&t.cl, 3);
	CHECK(t.r.pairs == 0 && strstr(t.cl.got.data, "timed out waiting for streams") != NULL,
	      "a pair without its data stream: error text");
	CHECK(t.cl.got.fins == 1 && !t.cl.eof && t.r.gones == 0,
	      "its error stream closed, the connection stays");
	close_client(&t);
	spin(3);
}

/* Output beyond the high water mark: drained() once the client read it. */
static void test_back_pressure_and_pause(void)
{
	struct crid_stream_req req = exec_req(true, true, false, false);
	struct setup t;
	static char big[64 << 10];
	size_t sent = 0;

	if (!CHECK(open_conn(&t, &req, 4), "connection made"))
		return;
	client_syn(&t.cl, 1, "error", NULL, NULL);
	client_syn(&t.cl, 3, "stdin", NULL, NULL);
	client_syn(&t.cl, 5, "stdout", NULL, NULL);
	pump(&t.cl, 2);
	memset(big, 'x', sizeof(big));
	while (t.c->ops->pending(t.c) <= CRID_STREAM_HIGH_WATER && sent < (8u << 20)) {
		t.c->ops->send(t.c, CRID_CHAN_STDOUT, big, sizeof(big));
		sent += sizeof(big);
		spin(1); /* the socket fills up, the rest stays queued */
	}
	CHECK(t.c->ops->pending(t.c) > CRID_STREAM_HIGH_WATER, "queue above the high water mark");
	CHECK(t.r.drains == 0, "no drained() yet");
	pump(&t.cl, 40);
	CHECK(t.r.drains == 1 && t.c->ops->pending(t.c) == 0, "drained() once, queue empty");
	CHECK(t.cl.got.total_data == sent, "every byte arrived (%zu of %zu)", t.cl.got.total_data,
	      sent);

	t.c->ops->pause_input(t.c, true);
	client_data(&t.cl, 3, "abc", false);
	pump(&t.cl, 2);
	CHECK(t.r.data_len[0] == 0, "paused: no data()");
	t.c->ops->pause_input(t.c, false);
	pump(&t.cl, 2);
	CHECK(t.r.data_len[0] == 3, "resumed: the data came");
	t.c->abort(t.c);
	CHECK(t.r.gones == 1, "abort(): gone()");
	close_client(&t);
}

/* Random frames after a valid start: the connection ends or carries on, never crashes or leaks. */
static void test_garbage(void)
{
	struct crid_stream_req req = exec_req(true, true, true, false);
	size_t mem = crid_mem_used(), ended = 0;

	srandom(12345);
	for (int i = 0; i < 300; i++) {
		struct setup t;
		uint8_t buf[256];
		size_t n = 8 + (size_t)(random() % 200);

		if (!open_conn(&t, &req, 4))
			break;
		client_syn(&t.cl, 1, "error", NULL, NULL);
		client_syn(&t.cl, 3, "stdin", NULL, NULL);
		for (size_t j = 0; j < n; j++)
			buf[j] = (uint8_t)random();
		if (i % 2) { /* a control frame head of a known type and a fitting length */
			buf[0] = 0x80;
			buf[1] = 3;
			buf[2] = 0;
			buf[3] = (uint8_t)(1 + random() % 9);
			buf[5] = buf[6] = 0;
			buf[7] = (uint8_t)(n - 8);
		}
		client_send(&t.cl, buf, n);
		pump(&t.cl, 2);
		ended += t.cl.eof;
		if (!t.cl.eof)
			t.c->abort(t.c);
		close_client(&t);
	}
	spin(2);
	CHECK(crid_mem_used() == mem, "300 garbage connections: nothing left (%zu ended)", ended);
}

int main(void)
{
	struct crid_err err;

	if (crid_loop_init(&loop, NULL, NULL, &err) < 0) {
		printf("loop: %s\n", err.msg);
		return 1;
	}
	test_exec_session();
	test_idle_memory();
	test_refusals();
	test_ping_and_garbage();
	test_creation_timeout();
	test_peer_gone_and_goaway();
	test_idle_limit();
	test_port_forward();
	test_pair_timeout();
	test_back_pressure_and_pause();
	test_garbage();
	CHECK(conns.n == 0, "every connection unlinked (%zu)", conns.n);
	crid_loop_destroy(&loop);
	return tap_done();
}
