/* The bounded stdin writer of exec and attach sessions (fd_writer.h). */
#include "runtime/stream/fd_writer.h"

#include <errno.h>
#include <string.h>
#include <unistd.h>

#include "reactor/log.h"
#include "reactor/mem.h"

static void set_blocked(struct crid_fd_writer *w, bool blocked)
{
	if (w->blocked == blocked)
		return;
	w->blocked = blocked;
	if (w->on_blocked)
		w->on_blocked(w->user, blocked);
}

static void drop_buffer(struct crid_fd_writer *w)
{
	crid_free(w->buf);
	w->buf = NULL;
	w->off = w->len = 0;
}

static void close_fd(struct crid_fd_writer *w)
{
	if (w->fd < 0)
		return;
	ev_io_stop(w->ev, &w->w);
	close(w->fd);
	w->fd = -1;
}

/* Closes the fd after eof() once nothing waits (or it broke); tells the owner once. */
static void maybe_close(struct crid_fd_writer *w)
{
	void (*closed)(void *user) = w->on_closed;

	if (!w->eof || (!w->broken && (w->off < w->len || w->fd < 0)))
		return;
	close_fd(w);
	w->broken = true;
	w->on_closed = NULL;
	if (closed)
		closed(w->user);
}

/* EPIPE and the like: the process closed its stdin or exited; what it did not read is gone. */
static void broke(struct crid_fd_writer *w, int code)
{
	crid_log(CRID_LOG_DEBUG, "stdin of exec: %s", strerror(code));
	drop_buffer(w);
	close_fd(w);
	w->broken = true;
	set_blocked(w, false);
	maybe_close(w);
}

/* Writes from the buffer until it is empty or the fd is full. */
static void flush(struct crid_fd_writer *w)
{
	while (w->off < w->len) {
		ssize_t n = write(w->fd, w->buf + w->off, w->len - w->off);

		if (n > 0) {
			w->off += (size_t)n;
			continue;
		}
		if (n < 0 && errno == EINTR)
			continue;
		if (n < 0 && errno == EAGAIN) {
			ev_io_start(w->ev, &w->w);
			set_blocked(w, true);
			return;
		}
		broke(w, n < 0 ? errno : EIO);
		return;
	}
	drop_buffer(w);
	ev_io_stop(w->ev, &w->w);
	set_blocked(w, false);
	maybe_close(w);
}

static void writable_cb(struct ev_loop *ev, ev_io *io, int revents)
{
	(void)ev, (void)revents;
	flush(io->data);
}

void crid_fd_writer_init(struct crid_fd_writer *w, struct ev_loop *ev,
			 void (*on_blocked)(void *user, bool blocked),
			 void (*on_closed)(void *user), void *user)
{
	memset(w, 0, sizeof(*w));
	w->ev = ev;
	w->fd = -1;
	w->on_blocked = on_blocked;
	w->on_closed = on_closed;
	w->user = user;
}

void crid_fd_writer_set_fd(struct crid_fd_writer *w, int fd)
{
	w->fd = fd;
	ev_io_init(&w->w, writable_cb, fd, EV_WRITE);
	w->w.data = w;
	flush(w);
}

/* Appends to the buffer; -1 past the cap. */
static int keep(struct crid_fd_writer *w, const uint8_t *data, size_t len)
{
	size_t have = w->len - w->off;
	uint8_t *nb;

	if (have + len > CRID_FD_WRITER_MAX)
		return -1;
	if (w->off) {
		memmove(w->buf, w->buf + w->off, have);
		w->off = 0;
		w->len = have;
	}
	nb = crid_realloc(w->buf, have + len);
	if (!nb)
		return -1;
	memcpy(nb + have, data, len);
	w->buf = nb;
	w->len = have + len;
	return 0;
}

int crid_fd_writer_write(struct crid_fd_writer *w, const uint8_t *data, size_t len)
{
	ssize_t n = 0;

	if (w->broken || w->eof || len == 0)
		return 0;
	if (w->fd >= 0 && w->off == w->len) {
		/* the common case: nothing waits, the pipe takes it all, no copy */
		do
			n = write(w->fd, data, len);
		while (n < 0 && errno == EINTR);
		if (n < 0 && errno != EAGAIN) {
			broke(w, errno);
			return 0;
		}
		if (n < 0)
			n = 0;
		if ((size_t)n == len)
			return 0;
	}
	if (keep(w, data + n, len - (size_t)n) < 0) {
		crid_log(CRID_LOG_WARN, "stdin of exec: over %u bytes buffered, input dropped",
			 CRID_FD_WRITER_MAX);
		return -1;
	}
	if (w->fd >= 0)
		ev_io_start(w->ev, &w->w);
	set_blocked(w, true);
	return 0;
}

void crid_fd_writer_eof(struct crid_fd_writer *w)
{
	w->eof = true;
	maybe_close(w);
}

void crid_fd_writer_destroy(struct crid_fd_writer *w)
{
	close_fd(w);
	drop_buffer(w);
	w->on_blocked = NULL;
	w->on_closed = NULL;
}
