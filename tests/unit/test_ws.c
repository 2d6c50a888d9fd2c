/*
 * WebSocket framing over real socketpairs: a server and a client crid_ws
 * talking to each other (text, binary with a channel byte, a message larger
 * than one read pass), and a server ws against hand-built bytes: RFC 6455
 * §5.7's masked "Hello", a binary frame with its channel byte byte-exact,
 * fragments joined around a ping answered by a pong, the close handshake
 * (with and without a code), an oversized message closed with 1009, an
 * unmasked client frame (1002), bad UTF-8 (1007), the peer vanishing
 * (1006), bytes that came with the handshake parsed without the fd turning
 * readable, the read bound per call, a ws freed inside its callback, and
 * Sec-WebSocket-Accept for RFC 6455's example key.
 */
#include <errno.h>
#include <fcntl.h>
#include <poll.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <unistd.h>

#include "io/ws.h"
#include "reactor/mem.h"
#include "tests/unit/tap.h"

struct end {
	struct crid_ws *ws;
	int fd;
	int n_msgs, n_closed;
	int last_opcode;
	uint8_t *last;
	size_t last_len;
	uint16_t code;
	bool free_in_msg;
};

static void on_message(void *user, int opcode, const uint8_t *data, size_t len)
{
	struct end *e = user;

	free(e->last);
	e->last = malloc(len ? len : 1);
	memcpy(e->last, data, len);
	e->last_len = len;
	e->last_opcode = opcode;
	e->n_msgs++;
	if (e->free_in_msg) {
		crid_ws_free(e->ws);
		e->ws = NULL;
	}
}

static void on_closed(void *user, uint16_t code)
{
	struct end *e = user;

	e->n_closed++;
	e->code = code;
}

static const struct crid_ws_cbs cbs = { .message = on_message, .closed = on_closed };

static void pair(int sv[2])
{
	if (socketpair(AF_UNIX, SOCK_STREAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0, sv) < 0)
		abort();
}

static void end_open(struct end *e, int fd, bool client, const uint8_t *pre, size_t pre_len)
{
	struct crid_err err;

	memset(e, 0, sizeof(*e));
	e->fd = fd;
	e->ws = crid_ws_new(fd, client, pre, pre_len, &cbs, e, &err);
	if (!e->ws)
		abort();
}

static void end_close(struct end *e)
{
	crid_ws_free(e->ws);
	free(e->last);
	close(e->fd);
}

static bool readable(int fd)
{
	struct pollfd p = { .fd = fd, .events = POLLIN };

	return poll(&p, 1, 0) == 1;
}

/* Runs the ends as a loop would (level-triggered) until neither has anything to do. */
static void run(struct end **ends, int n)
{
	for (int round = 0; round < 10000; round++) {
		bool did = false;

		for (int i = 0; i < n; i++) {
			struct end *e = ends[i];

			if (!e->ws || e->n_closed)
				continue;
			if (crid_ws_want_write(e->ws)) {
				crid_ws_on_writable(e->ws);
				did = true;
			}
			if (e->ws && !e->n_closed && crid_ws_want_read(e->ws) && readable(e->fd)) {
				crid_ws_on_readable(e->ws);
				did = true;
			}
		}
		if (!did)
			return;
	}
}

static void run1(struct end *e)
{
	run(&e, 1);
}

/* A frame as a client sends it (masked with |key|) or a server (key NULL). */
static size_t frame(uint8_t *out, bool fin, int opcode, const uint8_t *key, const void *payload,
		    size_t len)
{
	size_t n = 0;

	out[n++] = (uint8_t)((fin ? 0x80 : 0) | opcode);
	if (len < 126) {
		out[n++] = (uint8_t)((key ? 0x80 : 0) | len);
	} else if (len < 65536) {
		out[n++] = (uint8_t)((key ? 0x80 : 0) | 126);
		out[n++] = (uint8_t)(len >> 8);
		out[n++] = (uint8_t)len;
	} else {
		out[n++] = (uint8_t)((key ? 0x80 : 0) | 127);
		for (int i = 7; i >= 0; i--)
			out[n++] = (uint8_t)((uint64_t)len >> (8 * i));
	}
	if (key) {
		memcpy(out + n, key, 4);
		n += 4;
	}
	for (size_t i = 0; i < len; i++)
		out[n + i] = ((const uint8_t *)payload)[i] ^ (key ? key[i % 4] : 0);
	return n + len;
}

/*
 * Writes |buf| to the raw end, letting the ws read whenever the socket is
 * full; returns the bytes written (fewer when nobody can read).
 */
static size_t raw_write(int fd, const void *buf, size_t len, struct end *e)
{
	const uint8_t *p = buf;
	size_t done = 0;

	while (len) {
		ssize_t n = write(fd, p, len);

		if (n < 0 && errno == EAGAIN) {
			if (!e || !e->ws || e->n_closed || !crid_ws_want_read(e->ws))
				return done;
			crid_ws_on_readable(e->ws);
			continue;
		}
		if (n <= 0)
			abort();
		p += n;
		len -= (size_t)n;
		done += (size_t)n;
	}
	return done;
}

static size_t raw_read(int fd, uint8_t *buf, size_t cap)
{
	ssize_t n = read(fd, buf, cap);

	return n < 0 ? 0 : (size_t)n;
}

static const uint8_t key[4] = { 0x37, 0xfa, 0x21, 0x3d };

static void test_accept_key(void)
{
	char out[29];

	crid_ws_accept_key("dGhlIHNhbXBsZSBub25jZQ==", 24, out);
	CHECK(strcmp(out, "s3pPLMBiTxaQ9kYGzzhZRbK+xOo=") == 0, "RFC 6455's accept key: %s", out);
}

static void test_two_ends(void)
{
	int sv[2];
	struct end s, c, *both[] = { &s, &c };
	struct crid_err err;
	size_t big_len = 600 << 10;
	uint8_t *big = malloc(big_len), ch = 1;
	int calls = 0;

	for (size_t i = 0; i < big_len; i++)
		big[i] = (uint8_t)(i * 7 + (i >> 9));
	pair(sv);
	end_open(&s, sv[0], false, NULL, 0);
	end_open(&c, sv[1], true, NULL, 0);

	CHECK(crid_ws_send(c.ws, CRID_WS_TEXT, NULL, 0, "hello", 5, &err) == 0, "client queues");
	CHECK(crid_ws_queued(c.ws) == 5, "5 bytes queued (%zu)", crid_ws_queued(c.ws));
	run(both, 2);
	CHECK(crid_ws_queued(c.ws) == 0, "nothing queued once written");
	CHECK(s.n_msgs == 1 && s.last_opcode == CRID_WS_TEXT && s.last_len == 5 &&
		  memcmp(s.last, "hello", 5) == 0,
	      "server gets the client's text");

	CHECK(crid_ws_send(s.ws, CRID_WS_BINARY, &ch, 1, "out", 3, &err) == 0, "server queues");
	run(both, 2);
	CHECK(c.n_msgs == 1 && c.last_opcode == CRID_WS_BINARY && c.last_len == 4 &&
		  memcmp(c.last, "\x01out", 4) == 0,
	      "client gets channel byte + payload");

	/* 600 KiB: more than one read pass; the server takes it in several calls. */
	CHECK(crid_ws_send(c.ws, CRID_WS_BINARY, &ch, 1, big, big_len, &err) == 0,
	      "client queues 600 KiB");
	while (crid_ws_want_write(c.ws) || readable(s.fd)) {
		if (crid_ws_want_write(c.ws))
			crid_ws_on_writable(c.ws);
		if (readable(s.fd)) {
			crid_ws_on_readable(s.ws);
			calls++;
		}
	}
	CHECK(s.n_msgs == 2 && s.last_len == big_len + 1 && s.last[0] == 1 &&
		  memcmp(s.last + 1, big, big_len) == 0,
	      "600 KiB arrive whole and intact");
	CHECK(calls >= 3, "the server needed %d read calls (bounded passes)", calls);

	crid_ws_close(s.ws, 1000);
	CHECK(crid_ws_send(s.ws, CRID_WS_BINARY, NULL, 0, "x", 1, &err) < 0 &&
		  strstr(err.msg, "closing"),
	      "send after close is refused: %s", err.msg);
	run(both, 2);
	CHECK(s.n_closed == 1 && s.code == 1000, "server closed once with the client's 1000");
	CHECK(c.n_closed == 1 && c.code == 1000, "client closed once with 1000");
	CHECK(!crid_ws_want_read(s.ws) && !crid_ws_want_write(s.ws), "nothing more wanted");
	crid_ws_on_readable(s.ws);
	crid_ws_on_writable(s.ws);
	CHECK(s.n_closed == 1, "closed() does not run twice");
	end_close(&s);
	end_close(&c);
	free(big);
}

static void test_golden_masked_hello(void)
{
	static const uint8_t hello[] = { 0x81, 0x85, 0x37, 0xfa, 0x21, 0x3d,
					 0x7f, 0x9f, 0x4d, 0x51, 0x58 };
	uint8_t built[16];
	int sv[2];
	struct end s;

	CHECK(frame(built, true, 1, key, "Hello", 5) == sizeof(hello) &&
		  memcmp(built, hello, sizeof(hello)) == 0,
	      "the test's framer agrees with RFC 6455 §5.7");
	pair(sv);
	end_open(&s, sv[0], false, NULL, 0);
	/* Split in two writes: the header in one, the payload later. */
	raw_write(sv[1], hello, 4, NULL);
	run1(&s);
	CHECK(s.n_msgs == 0, "half a frame is no message");
	raw_write(sv[1], hello + 4, sizeof(hello) - 4, NULL);
	run1(&s);
	CHECK(s.n_msgs == 1 && s.last_opcode == CRID_WS_TEXT && s.last_len == 5 &&
		  memcmp(s.last, "Hello", 5) == 0,
	      "RFC 6455's masked \"Hello\" parsed");
	end_close(&s);
	close(sv[1]);
}

static void test_golden_server_binary(void)
{
	static const uint8_t want[] = { 0x82, 0x06, 0x01, 'H', 'e', 'l', 'l', 'o' };
	uint8_t got[64], ch = 1, big_want[8] = { 0x82, 0x7e, 0x01, 0x2d, 0x02 };
	int sv[2];
	struct end s;
	struct crid_err err;
	size_t n;
	char payload[300];

	pair(sv);
	end_open(&s, sv[0], false, NULL, 0);
	crid_ws_send(s.ws, CRID_WS_BINARY, &ch, 1, "Hello", 5, &err);
	run1(&s);
	n = raw_read(sv[1], got, sizeof(got));
	CHECK(n == sizeof(want) && memcmp(got, want, n) == 0,
	      "server binary frame with channel byte 1, unmasked, byte-exact");

	/* 301 bytes: the 16-bit length form. */
	memset(payload, 'z', sizeof(payload));
	ch = 2;
	crid_ws_send(s.ws, CRID_WS_BINARY, &ch, 1, payload, sizeof(payload), &err);
	run1(&s);
	n = 0;
	{
		uint8_t buf[512];
		size_t k;

		while ((k = raw_read(sv[1], buf + n, sizeof(buf) - n)) > 0)
			n += k;
		CHECK(n == 4 + 301 && memcmp(buf, big_want, 5) == 0 && buf[5] == 'z' &&
			  buf[n - 1] == 'z',
		      "301-byte message: 82 7e 01 2d, channel 2, payload (%zu bytes)", n);
	}
	end_close(&s);
	close(sv[1]);
}

static void test_fragments_and_ping(void)
{
	static const uint8_t pong[] = { 0x8a, 0x04, 'p', 'i', 'n', 'g' };
	uint8_t buf[256], got[64];
	size_t n = 0, k;
	int sv[2];
	struct end s;

	pair(sv);
	end_open(&s, sv[0], false, NULL, 0);
	n += frame(buf + n, false, 2, key, "\x03He", 3);
	n += frame(buf + n, true, 9, key, "ping", 4); /* a ping between fragments */
	n += frame(buf + n, false, 0, key, "llo ", 4);
	n += frame(buf + n, true, 0, key, "World", 5);
	raw_write(sv[1], buf, n, NULL);
	run1(&s);
	CHECK(s.n_msgs == 1 && s.last_opcode == CRID_WS_BINARY && s.last_len == 12 &&
		  memcmp(s.last, "\x03Hello World", 12) == 0,
	      "three fragments joined into one message");
	k = raw_read(sv[1], got, sizeof(got));
	CHECK(k == sizeof(pong) && memcmp(got, pong, k) == 0,
	      "ping answered with pong, byte-exact");
	CHECK(s.n_closed == 0, "still open");
	end_close(&s);
	close(sv[1]);
}

static void test_close_handshake(void)
{
	static const uint8_t code1000[] = { 0x03, 0xe8 };
	static const uint8_t reply1000[] = { 0x88, 0x02, 0x03, 0xe8 };
	static const uint8_t reply_empty[] = { 0x88, 0x00 };
	uint8_t buf[64], got[64];
	size_t n, k;
	int sv[2];
	struct end s;

	pair(sv);
	end_open(&s, sv[0], false, NULL, 0);
	n = frame(buf, true, 8, key, code1000, 2);
	raw_write(sv[1], buf, n, NULL);
	run1(&s);
	k = raw_read(sv[1], got, sizeof(got));
	CHECK(k == sizeof(reply1000) && memcmp(got, reply1000, k) == 0,
	      "peer's close 1000 echoed: 88 02 03 e8");
	CHECK(s.n_closed == 1 && s.code == 1000, "closed(1000) once (%d, %u)", s.n_closed, s.code);
	end_close(&s);
	close(sv[1]);

	pair(sv);
	end_open(&s, sv[0], false, NULL, 0);
	n = frame(buf, true, 8, key, NULL, 0);
	raw_write(sv[1], buf, n, NULL);
	run1(&s);
	k = raw_read(sv[1], got, sizeof(got));
	CHECK(k == sizeof(reply_empty) && memcmp(got, reply_empty, k) == 0,
	      "empty close echoed empty: 88 00");
	CHECK(s.n_closed == 1 && s.code == 1005, "closed(1005) when the close had no code (%u)",
	      s.code);
	end_close(&s);
	close(sv[1]);

	/* This end closes first: closed() waits for the peer's close frame. */
	pair(sv);
	end_open(&s, sv[0], false, NULL, 0);
	crid_ws_close(s.ws, 4001);
	run1(&s);
	k = raw_read(sv[1], got, sizeof(got));
	CHECK(k == 4 && memcmp(got, "\x88\x02\x0f\xa1", 4) == 0, "our close 4001 on the wire");
	CHECK(s.n_closed == 0, "no closed() before the peer answers");
	n = frame(buf, true, 8, key, "\x0f\xa1", 2);
	raw_write(sv[1], buf, n, NULL);
	run1(&s);
	CHECK(s.n_closed == 1 && s.code == 4001, "closed(4001) after the peer's reply");
	end_close(&s);
	close(sv[1]);
}

static void expect_refused(const char *what, const uint8_t *in, size_t in_len, uint16_t code)
{
	uint8_t got[64];
	size_t k;
	int sv[2];
	struct end s;

	pair(sv);
	end_open(&s, sv[0], false, NULL, 0);
	raw_write(sv[1], in, in_len, &s);
	run1(&s);
	k = raw_read(sv[1], got, sizeof(got));
	CHECK(k == 4 && got[0] == 0x88 && got[1] == 2 && got[2] == code >> 8 &&
		  got[3] == (code & 0xff),
	      "%s: close %u on the wire", what, code);
	CHECK(s.n_closed == 1 && s.code == code && s.n_msgs == 0, "%s: closed(%u) once, no message",
	      what, code);
	end_close(&s);
	close(sv[1]);
}

static void test_refused(void)
{
	uint8_t buf[64], *big;
	size_t n, half = 600 << 10;

	/* A frame announcing CRID_WS_MAX_MESSAGE + 1 bytes: refused before its payload is read. */
	n = 0;
	buf[n++] = 0x82;
	buf[n++] = 0x80 | 127;
	for (int i = 7; i >= 0; i--)
		buf[n++] = (uint8_t)((uint64_t)(CRID_WS_MAX_MESSAGE + 1) >> (8 * i));
	memcpy(buf + n, key, 4);
	n += 4;
	memcpy(buf + n, "the start of it", 15); /* wslay looks at a frame once payload comes */
	n += 15;
	expect_refused("oversized frame", buf, n, 1009);

	/* Two fragments of 600 KiB: the joined message is too big. */
	big = malloc(2 * (half + 16));
	memset(big + 16, 'q', half);
	n = frame(big, false, 2, key, big + 16, half);
	n += frame(big + n, true, 0, key, big + 16, half);
	expect_refused("oversized fragmented message", big, n, 1009);
	free(big);

	n = frame(buf, true, 2, NULL, "unmasked", 8);
	expect_refused("unmasked client frame", buf, n, 1002);
	n = frame(buf, true, 1, key, "\xff\xfe", 2);
	expect_refused("text that is not UTF-8", buf, n, 1007);
	n = frame(buf, true, 3, key, "x", 1);
	expect_refused("reserved opcode", buf, n, 1002);
}

static void test_peer_vanishes(void)
{
	uint8_t buf[64];
	size_t n;
	int sv[2];
	struct end s;

	pair(sv);
	end_open(&s, sv[0], false, NULL, 0);
	close(sv[1]);
	run1(&s);
	CHECK(s.n_closed == 1 && s.code == 1006, "peer gone: closed(1006) once (%d, %u)",
	      s.n_closed, s.code);
	end_close(&s);

	/* Mid-frame: half a message, then nothing. */
	pair(sv);
	end_open(&s, sv[0], false, NULL, 0);
	n = frame(buf, true, 2, key, "0123456789", 10);
	raw_write(sv[1], buf, n - 4, NULL);
	close(sv[1]);
	run1(&s);
	CHECK(s.n_closed == 1 && s.code == 1006 && s.n_msgs == 0,
	      "peer gone mid-frame: closed(1006), no message");
	end_close(&s);

	/* Writing to a vanished peer. */
	pair(sv);
	end_open(&s, sv[0], false, NULL, 0);
	close(sv[1]);
	crid_ws_send(s.ws, CRID_WS_BINARY, NULL, 0, "x", 1, NULL);
	crid_ws_on_writable(s.ws);
	CHECK(s.n_closed == 1 && s.code == 1006,
	      "send to a vanished peer: closed(1006), no SIGPIPE");
	end_close(&s);
}

static void test_pre(void)
{
	uint8_t buf[64];
	size_t n;
	int sv[2];
	struct end s;

	n = frame(buf, true, 1, key, "early", 5);
	n += frame(buf + n, true, 2, key,
		   "\x00"
		   "ab",
		   3);
	pair(sv);
	/* Hand over the first frame and a half; the rest comes on the fd. */
	end_open(&s, sv[0], false, buf, n - 2);
	CHECK(crid_ws_want_write(s.ws), "want_write while handshake bytes wait");
	CHECK(!readable(sv[0]), "the fd itself is not readable");
	run1(&s);
	CHECK(s.n_msgs == 1 && s.last_len == 5 && memcmp(s.last, "early", 5) == 0,
	      "the handshake's bytes parsed without the fd turning readable");
	CHECK(!crid_ws_want_write(s.ws), "want_write false once they are parsed");
	raw_write(sv[1], buf + n - 2, 2, NULL);
	run1(&s);
	CHECK(s.n_msgs == 2 && s.last_len == 3 &&
		  memcmp(s.last,
			 "\x00"
			 "ab",
			 3) == 0,
	      "the frame split between handshake and fd joined");
	end_close(&s);
	close(sv[1]);
}

static void test_read_bound(void)
{
	uint8_t *buf;
	size_t len = 900 << 10, n;
	int sv[2], sndbuf = 4 << 20;
	struct end s;

	buf = malloc(len + 16);
	memset(buf + 16, 'r', len - 16);
	pair(sv);
	/* Root may queue 900 KiB in one socket; the ws must take it in bounded bites. */
	if (setsockopt(sv[1], SOL_SOCKET, SO_SNDBUFFORCE, &sndbuf, sizeof(sndbuf)) < 0) {
		tap_skip("read bound", "SO_SNDBUFFORCE needs CAP_NET_ADMIN");
		close(sv[0]);
		close(sv[1]);
		free(buf);
		return;
	}
	end_open(&s, sv[0], false, NULL, 0);
	/* Many small messages, written before the ws reads. */
	n = 0;
	while (n + 1024 < len)
		n += frame(buf + n, true, 2, key, "0123456789abcdef", 16);
	CHECK(raw_write(sv[1], buf, n, NULL) == n, "%zu bytes wait in the socket", n);
	crid_ws_on_readable(s.ws);
	CHECK(s.n_msgs > 0 && s.n_msgs < (int)(n / 22), "one call handled %d of %zu messages",
	      s.n_msgs, n / 22);
	CHECK(readable(sv[0]), "the rest waits on the fd");
	run1(&s);
	CHECK(s.n_msgs == (int)(n / 22), "all %zu arrive over later calls (%d)", n / 22, s.n_msgs);
	end_close(&s);
	close(sv[1]);
	free(buf);
}

static void test_free_in_callback(void)
{
	uint8_t buf[64];
	size_t n;
	int sv[2];
	struct end s;

	pair(sv);
	end_open(&s, sv[0], false, NULL, 0);
	s.free_in_msg = true;
	n = frame(buf, true, 2, key, "one", 3);
	n += frame(buf + n, true, 2, key, "two", 3);
	raw_write(sv[1], buf, n, NULL);
	crid_ws_on_readable(s.ws);
	CHECK(s.ws == NULL && s.n_msgs == 1 && s.n_closed == 0,
	      "freed inside message(): no further callback");
	free(s.last);
	close(sv[0]);
	close(sv[1]);
}

int main(void)
{
	size_t before = crid_mem_used();

	test_accept_key();
	test_two_ends();
	test_golden_masked_hello();
	test_golden_server_binary();
	test_fragments_and_ping();
	test_close_handshake();
	test_refused();
	test_peer_vanishes();
	test_pre();
	test_read_bound();
	test_free_in_callback();
	CHECK(crid_mem_used() == before, "no crid allocation left (%zu bytes)",
	      crid_mem_used() - before);
	return tap_done();
}
