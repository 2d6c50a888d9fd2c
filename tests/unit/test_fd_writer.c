/*
 * The stdin writer of exec and attach (runtime/stream/fd_writer) on a real
 * pipe and a real libev loop: bytes that come before the fd wait for it;
 * a pipe that is full makes it buffer and say "blocked", a reader that
 * drains it makes it say "unblocked" with every byte delivered in order and
 * the buffer freed; EOF closes the fd only after the buffer is written;
 * a reader that went away (EPIPE) drops input without growing anything.
 */
#include <fcntl.h>
#include <signal.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "reactor/mem.h"
#include "runtime/stream/fd_writer.h"
#include "tap.h"

struct obs {
	int blocked_calls, unblocked_calls, closed;
	bool blocked;
};

static void on_blocked(void *user, bool blocked)
{
	struct obs *o = user;

	o->blocked = blocked;
	if (blocked)
		o->blocked_calls++;
	else
		o->unblocked_calls++;
}

static void on_closed(void *user)
{
	((struct obs *)user)->closed++;
}

struct reader {
	int fd;
	uint8_t *got;
	size_t len, cap;
	bool eof;
	ev_io w;
};

static void read_cb(struct ev_loop *ev, ev_io *io, int revents)
{
	struct reader *rd = io->data;
	ssize_t n;

	(void)revents;
	n = read(rd->fd, rd->got + rd->len, rd->cap - rd->len);
	if (n > 0) {
		rd->len += (size_t)n;
		return;
	}
	rd->eof = true;
	ev_io_stop(ev, io);
	ev_break(ev, EVBREAK_ALL);
}

static void pipe_pair(int p[2])
{
	if (pipe2(p, O_NONBLOCK | O_CLOEXEC) < 0)
		abort();
	fcntl(p[1], F_SETPIPE_SZ, 4096);
}

static void test_flow(struct ev_loop *ev)
{
	enum { N = 300000 };
	struct crid_fd_writer w;
	struct reader rd = { 0 };
	struct obs o = { 0 };
	uint8_t *src = malloc(N);
	size_t i;
	int p[2];

	for (i = 0; i < N; i++)
		src[i] = (uint8_t)(i * 7 + i / 251);
	pipe_pair(p);
	crid_fd_writer_init(&w, ev, on_blocked, on_closed, &o);
	crid_fd_writer_write(&w, src, 1000);
	CHECK(o.blocked && w.len - w.off == 1000,
	      "bytes before the fd wait in the buffer, blocked");
	crid_fd_writer_set_fd(&w, p[1]);
	CHECK(!o.blocked && w.buf == NULL, "the fd takes them: unblocked, buffer freed");
	for (i = 1000; i < N; i += 10000)
		crid_fd_writer_write(&w, src + i, i + 10000 <= N ? 10000 : N - i);
	CHECK(o.blocked && w.len - w.off > 0 && w.len - w.off <= N,
	      "a full pipe: blocked with the rest buffered (%zu bytes)", w.len - w.off);
	crid_fd_writer_eof(&w);
	CHECK(w.fd >= 0 && o.closed == 0, "EOF waits for the buffer");

	rd.fd = p[0];
	rd.cap = N + 1;
	rd.got = malloc(rd.cap);
	ev_io_init(&rd.w, read_cb, p[0], EV_READ);
	rd.w.data = &rd;
	ev_io_start(ev, &rd.w);
	ev_run(ev, 0);
	CHECK(rd.eof && rd.len == N && memcmp(rd.got, src, N) == 0,
	      "the reader got every byte in order, then EOF (%zu of %d)", rd.len, N);
	CHECK(!o.blocked && o.closed == 1 && w.fd < 0 && w.buf == NULL,
	      "unblocked, closed once, buffer freed");
	crid_fd_writer_destroy(&w);
	close(p[0]);
	free(rd.got);
	free(src);
}

static void test_broken(struct ev_loop *ev)
{
	struct crid_fd_writer w;
	struct obs o = { 0 };
	uint8_t big[8192] = { 0 };
	int p[2];

	pipe_pair(p);
	crid_fd_writer_init(&w, ev, on_blocked, on_closed, &o);
	crid_fd_writer_set_fd(&w, p[1]);
	crid_fd_writer_write(&w, big, sizeof(big));
	CHECK(o.blocked, "blocked on a full pipe");
	close(p[0]);
	ev_run(ev, EVRUN_ONCE);
	CHECK(!o.blocked && w.broken && w.buf == NULL && w.fd < 0,
	      "the reader gone: unblocked, buffer dropped, fd closed");
	CHECK(crid_fd_writer_write(&w, big, sizeof(big)) == 0 && w.buf == NULL,
	      "later input dropped, nothing kept");
	crid_fd_writer_eof(&w);
	CHECK(o.closed == 1, "EOF after the break still says closed");
	crid_fd_writer_destroy(&w);
}

static void test_cap(struct ev_loop *ev)
{
	struct crid_fd_writer w;
	struct obs o = { 0 };
	static uint8_t chunk[1 << 16];
	size_t i;
	int rc = 0;

	crid_fd_writer_init(&w, ev, on_blocked, NULL, &o);
	for (i = 0; i < CRID_FD_WRITER_MAX / sizeof(chunk) + 1 && rc == 0; i++)
		rc = crid_fd_writer_write(&w, chunk, sizeof(chunk));
	CHECK(rc < 0 && w.len - w.off <= CRID_FD_WRITER_MAX,
	      "past the cap input is refused, the buffer stays bounded");
	crid_fd_writer_destroy(&w);
}

int main(void)
{
	struct ev_loop *ev = ev_loop_new(EVFLAG_AUTO);
	size_t before = crid_mem_used();

	signal(SIGPIPE, SIG_IGN);
	test_flow(ev);
	test_broken(ev);
	test_cap(ev);
	CHECK(crid_mem_used() == before, "nothing left allocated");
	ev_loop_destroy(ev);
	return tap_done();
}
