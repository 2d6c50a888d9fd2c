/*
 * libFuzzer target for the WebSocket server end: the input is the peer's
 * bytes. The first byte says how many of them come with the handshake (the
 * |pre| bytes) and whether messages are echoed back; the rest goes through
 * a real socketpair in pieces of varying size, then the peer shuts its
 * write side. The ws must end with exactly one closed() (the peer's close
 * code, a refusal code, or 1006), deliver only text or binary messages no
 * larger than CRID_WS_MAX_MESSAGE, and leave no crid allocation behind.
 */
#include <poll.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <unistd.h>

#include "io/ws.h"
#include "reactor/mem.h"

struct peer {
	struct crid_ws *ws;
	int n_closed;
	uint16_t code;
	bool echo;
};

static void on_message(void *user, int opcode, const uint8_t *data, size_t len)
{
	struct peer *p = user;
	uint8_t ch = 1;

	if ((opcode != CRID_WS_TEXT && opcode != CRID_WS_BINARY) || len > CRID_WS_MAX_MESSAGE ||
	    p->n_closed)
		abort();
	if (p->echo)
		crid_ws_send(p->ws, CRID_WS_BINARY, &ch, 1, data, len, NULL);
}

static void on_closed(void *user, uint16_t code)
{
	struct peer *p = user;

	p->n_closed++;
	p->code = code;
}

static const struct crid_ws_cbs cbs = { .message = on_message, .closed = on_closed };

static void drain(int fd)
{
	static uint8_t sink[65536];

	while (read(fd, sink, sizeof(sink)) > 0)
		;
}

static void step(struct peer *p, int fd)
{
	struct pollfd pfd = { .fd = fd, .events = POLLIN };

	if (p->n_closed)
		return;
	if (crid_ws_want_write(p->ws))
		crid_ws_on_writable(p->ws);
	if (!p->n_closed && crid_ws_want_read(p->ws) && poll(&pfd, 1, 0) == 1)
		crid_ws_on_readable(p->ws);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	size_t before = crid_mem_used(), pre_len, off;
	struct peer p = { 0 };
	int sv[2];

	if (size == 0)
		return 0;
	if (socketpair(AF_UNIX, SOCK_STREAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0, sv) < 0)
		abort();
	p.echo = data[0] & 0x80;
	pre_len = (size_t)(data[0] & 0x7f);
	data++, size--;
	if (pre_len > size)
		pre_len = size;
	p.ws = crid_ws_new(sv[0], false, data, pre_len, &cbs, &p, NULL);
	if (!p.ws)
		abort();
	off = pre_len;
	/* Pieces of 1..64 bytes, then whatever is left, with the ws running in between. */
	for (size_t i = 0; off < size && i < 64; i++) {
		size_t n = (size_t)(data[off] & 0x3f) + 1;
		ssize_t w;

		if (n > size - off)
			n = size - off;
		w = write(sv[1], data + off, n);
		if (w > 0)
			off += (size_t)w;
		step(&p, sv[0]);
		drain(sv[1]);
	}
	while (off < size && !p.n_closed) {
		ssize_t w = write(sv[1], data + off, size - off);

		if (w > 0)
			off += (size_t)w;
		step(&p, sv[0]);
		drain(sv[1]);
	}
	shutdown(sv[1], SHUT_WR);
	for (int i = 0; i < 100000 && !p.n_closed; i++) {
		step(&p, sv[0]);
		drain(sv[1]);
	}
	if (p.n_closed != 1)
		abort();
	crid_ws_free(p.ws);
	close(sv[0]);
	close(sv[1]);
	if (crid_mem_used() != before)
		abort();
	return 0;
}
