/*
 * The SPDY-over-WebSocket tunnel's bridge on a real loop: a WebSocket client
 * end (masked frames, tests/unit/ws_peer.h) and the inner end of the socket
 * pair as the SPDY connection would hold it. Checked: bytes both ways with
 * nothing added (no channel byte), the inner end closing (close 1000, freed
 * on the peer's answer), the peer closing or dropping (the inner end reads
 * EOF), a text message (1003), bounded memory when the inner end does not
 * read, abort.
 */
#include <errno.h>
#include <string.h>
#include <sys/socket.h>
#include <unistd.h>

#include "reactor/mem.h"
#include "runtime/stream/ws_tunnel.h"
#include "tap.h"
#include "ws_peer.h"

static const struct crid_stream_limits limits = { .creation = 30, .idle = 60, .finish = 60 };

struct setup {
	struct crid_stream_conns list;
	struct peer peer;
	struct crid_stream_conn *c;
	int inner;
};

static bool open_tunnel(struct setup *t, const struct crid_stream_limits *lim)
{
	struct crid_err err = { 0 };
	int sv[2];

	memset(t, 0, sizeof(*t));
	if (socketpair(AF_UNIX, SOCK_STREAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0, sv) < 0)
		return CHECK(0, "socketpair");
	t->peer.fd = sv[1];
	t->c = crid_ws_tunnel_new(&loop, sv[0], NULL, 0, &t->list, lim ? lim : &limits, &t->inner,
				  &err);
	if (!CHECK(t->c && t->list.n == 1, "tunnel made and listed: %s", err.msg)) {
		close(sv[1]);
		return false;
	}
	return true;
}

/* What the inner end has to read now; -1 at EOF. */
static ssize_t inner_read(struct setup *t, char *buf, size_t size)
{
	ssize_t n;

	spin(20);
	n = read(t->inner, buf, size);
	if (n < 0 && errno == EAGAIN)
		return 0;
	return n == 0 ? -1 : n;
}

static void test_bytes_both_ways(void)
{
	struct setup t;
	char buf[256];
	uint8_t code[2] = { 0x03, 0xe8 };

	if (!open_tunnel(&t, NULL))
		return;
	peer_write(&t.peer, 2, "\x80\x03\x00\x01", 4); /* a SPDY control frame's start */
	peer_write(&t.peer, 2, "rest", 4);
	CHECK(inner_read(&t, buf, sizeof(buf)) == 8 && !memcmp(buf, "\x80\x03\x00\x01rest", 8),
	      "peer bytes reach the inner end as they are");
	CHECK(write(t.inner, "\x00\x00\x00\x01reply", 9) == 9, "inner write");
	spin(20);
	expect_frame(&t.peer, 2, "\x00\x00\x00\x01reply", 9,
		     "inner bytes go out as a binary message");
	close(t.inner); /* the SPDY connection is done */
	expect_frame(&t.peer, 8, "\x03\xe8", 2, "inner end closed: close 1000");
	CHECK(t.list.n == 1, "waits for the peer's close");
	peer_write(&t.peer, 8, code, 2);
	spin(20);
	peer_read(&t.peer);
	CHECK(t.list.n == 0 && t.peer.eof, "peer's close: freed, socket closed");
	close(t.peer.fd);
}

static void test_peer_ends(void)
{
	struct setup t;
	char buf[64];

	if (!open_tunnel(&t, NULL))
		return;
	close(t.peer.fd); /* the client goes without a close frame */
	CHECK(inner_read(&t, buf, sizeof(buf)) == -1 && t.list.n == 0,
	      "peer dropped: the inner end reads EOF, tunnel freed");
	close(t.inner);

	if (!open_tunnel(&t, NULL))
		return;
	peer_write(&t.peer, 1, "text", 4);
	expect_frame(&t.peer, 8, "\x03\xeb", 2, "text message: close 1003");
	peer_write(&t.peer, 8, "\x03\xeb", 2);
	CHECK(inner_read(&t, buf, sizeof(buf)) == -1 && t.list.n == 0,
	      "after the close: the inner end reads EOF, tunnel freed");
	close(t.inner);
	close(t.peer.fd);

	if (!open_tunnel(&t, NULL))
		return;
	t.c->abort(t.c);
	CHECK(t.list.n == 0, "abort: freed at once");
	CHECK(inner_read(&t, buf, sizeof(buf)) == -1, "abort: the inner end reads EOF");
	close(t.inner);
	close(t.peer.fd);
}

/* A finished inner end and a peer that never answers the close: bounded by the finish limit. */
static void test_finish_limit(void)
{
	struct crid_stream_limits quick = { .creation = 1, .idle = 60, .finish = 0.2 };
	struct setup t;

	if (!open_tunnel(&t, &quick))
		return;
	close(t.inner);
	spin(20);
	CHECK(t.list.n == 1, "waiting for the peer's close");
	spin_for(0.4);
	CHECK(t.list.n == 0, "finish limit: freed");
	close(t.peer.fd);
}

/* An inner end that does not read: the tunnel stops reading the peer, memory stays bounded. */
static void test_back_pressure(void)
{
	static uint8_t frame[8 + 4 + 60000];
	static uint8_t payload[60000];
	struct setup t;
	size_t mem0 = crid_mem_used(), sent = 0, n;
	bool blocked;

	if (!open_tunnel(&t, NULL))
		return;
	memset(payload, 'x', sizeof(payload));
	n = client_frame(frame, 2, payload, sizeof(payload));
	/* the peer writes until nothing moves for a while (or far more than any buffer holds) */
	for (size_t off = 0, stuck = 0; stuck < 50 && sent < (64u << 20); spin(2)) {
		ssize_t w = write(t.peer.fd, frame + off, n - off);

		if (w <= 0) {
			stuck++;
			continue;
		}
		stuck = 0;
		sent += w;
		off = (off + w) % n;
		blocked = false;
	}
	blocked = sent < (64u << 20);
	CHECK(blocked, "the peer's writes block after %zu bytes", sent);
	CHECK(crid_mem_used() - mem0 < (4u << 20), "tunnel holds %zu bytes",
	      crid_mem_used() - mem0);
	t.c->abort(t.c);
	close(t.inner);
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
	test_bytes_both_ways();
	test_peer_ends();
	test_finish_limit();
	test_back_pressure();
	CHECK(crid_mem_used() == before, "nothing left allocated (%zu bytes)",
	      crid_mem_used() - before);
	crid_loop_destroy(&loop);
	return tap_done();
}
