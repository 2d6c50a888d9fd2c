/*
 * The client end of a WebSocket in the unit tests: masked frames written
 * byte by byte as RFC 6455 lays them out, the server's frames read back and
 * parsed, on the test's one loop |loop|.
 */
#ifndef CRID_TEST_WS_PEER_H
#define CRID_TEST_WS_PEER_H

#include <stdbool.h>
#include <stdint.h>
#include <string.h>
#include <unistd.h>

#include "reactor/loop.h"
#include "tap.h"

static struct crid_loop loop;

/* The test's client end: the socket and what the server wrote, parsed into frames. */
struct peer {
	int fd;
	uint8_t in[1 << 16];
	size_t in_len;
	bool eof;
};

struct frame {
	int opcode;
	uint8_t data[1024];
	size_t len;
};

static void __attribute__((unused)) spin(int n)
{
	for (int i = 0; i < n; i++)
		ev_run(loop.ev, EVRUN_NOWAIT);
}

static void wake(struct ev_loop *ev, ev_timer *w, int revents)
{
	(void)ev;
	(void)w;
	(void)revents;
}

/* Runs the loop for |seconds| of wall time (timers), a timer of its own waking it at the end. */
static void __attribute__((unused)) spin_for(double seconds)
{
	double end = ev_time() + seconds;
	ev_timer t;

	ev_timer_init(&t, wake, seconds, 0.);
	ev_timer_start(loop.ev, &t);
	while (ev_time() < end)
		ev_run(loop.ev, EVRUN_ONCE);
	ev_timer_stop(loop.ev, &t);
}

/* A client frame (masked, as RFC 6455 wants them) of |len| < 64 KiB bytes into |buf|. */
static size_t __attribute__((unused))
client_frame(uint8_t *buf, int opcode, const void *data, size_t len)
{
	static const uint8_t mask[4] = { 0x37, 0xfa, 0x21, 0x3d };
	size_t n = 0;

	buf[n++] = 0x80 | opcode;
	if (len < 126) {
		buf[n++] = 0x80 | len;
	} else {
		buf[n++] = 0x80 | 126;
		buf[n++] = len >> 8;
		buf[n++] = len & 0xff;
	}
	memcpy(buf + n, mask, 4);
	n += 4;
	for (size_t i = 0; i < len; i++)
		buf[n + i] = ((const uint8_t *)data)[i] ^ mask[i % 4];
	return n + len;
}

static void __attribute__((unused))
peer_write(struct peer *p, int opcode, const void *data, size_t len)
{
	uint8_t buf[2048];
	size_t n = client_frame(buf, opcode, data, len);

	if (write(p->fd, buf, n) != (ssize_t)n)
		CHECK(0, "client write");
	spin(20);
}

static void __attribute__((unused)) peer_read(struct peer *p)
{
	spin(20);
	for (;;) {
		ssize_t n = read(p->fd, p->in + p->in_len, sizeof(p->in) - p->in_len);

		if (n == 0)
			p->eof = true;
		if (n <= 0)
			return;
		p->in_len += n;
	}
}

/* The next whole frame the server sent, unmasked (servers do not mask); false if none. */
static bool __attribute__((unused)) peer_frame(struct peer *p, struct frame *f)
{
	size_t hdr = 2, len;

	peer_read(p);
	if (p->in_len < 2)
		return false;
	if (p->in[1] & 0x80)
		return CHECK(0, "server frames are not masked");
	len = p->in[1] & 0x7f;
	if (len == 126) {
		if (p->in_len < 4)
			return false;
		len = (size_t)p->in[2] << 8 | p->in[3];
		hdr = 4;
	} else if (len == 127) {
		return CHECK(0, "no 64-bit lengths expected here");
	}
	if (p->in_len < hdr + len || len > sizeof(f->data))
		return false;
	f->opcode = p->in[0] & 0x0f;
	CHECK(p->in[0] & 0x80, "frame is final (opcode %d)", f->opcode);
	memcpy(f->data, p->in + hdr, len);
	f->len = len;
	memmove(p->in, p->in + hdr + len, p->in_len - hdr - len);
	p->in_len -= hdr + len;
	return true;
}

static bool __attribute__((unused))
expect_frame(struct peer *p, int opcode, const void *data, size_t len, const char *what)
{
	struct frame f;

	if (!peer_frame(p, &f))
		return CHECK(0, "%s: no frame", what);
	return CHECK(f.opcode == opcode && f.len == len && !memcmp(f.data, data, len),
		     "%s (opcode %d, %zu bytes)", what, f.opcode, f.len);
}

static bool __attribute__((unused)) no_frame(struct peer *p, const char *what)
{
	struct frame f;

	return CHECK(!peer_frame(p, &f), "%s", what);
}

#endif
