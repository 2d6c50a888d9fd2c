/*
 * A client's stdin on its way to a process: writes to a non-blocking fd,
 * keeps what the fd would not take in one buffer (freed again once written,
 * so an idle writer holds nothing) and says when it is blocked so the
 * session pauses its connection's input. The fd may come later than the
 * first bytes (the process is still starting): they wait in the buffer.
 */
#ifndef CRID_FD_WRITER_H
#define CRID_FD_WRITER_H

#include <ev.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

/*
 * The most a writer buffers. It only fills past one socket read's worth of
 * frames when the connection ignores pause_input: then data is dropped.
 */
#define CRID_FD_WRITER_MAX (1u << 20)

struct crid_fd_writer {
	struct ev_loop *ev;
	int fd;	      /* -1 until set; owned, closed at EOF or destroy */
	ev_io w;      /* EV_WRITE while the buffer holds bytes */
	uint8_t *buf; /* the bytes the fd has not taken, from |off| to |len| */
	size_t off, len;
	bool eof;     /* close the fd once the buffer is written */
	bool broken;  /* the reader is gone (EPIPE) or the fd was closed: drop input */
	bool blocked; /* last state told to |on_blocked| */
	void (*on_blocked)(void *user, bool blocked);
	void (*on_closed)(void *user); /* the fd was closed after eof() */
	void *user;
};

void crid_fd_writer_init(struct crid_fd_writer *w, struct ev_loop *ev,
			 void (*on_blocked)(void *user, bool blocked),
			 void (*on_closed)(void *user), void *user);

/* Takes |fd| (non-blocking); writes what was buffered. */
void crid_fd_writer_set_fd(struct crid_fd_writer *w, int fd);

/*
 * Writes |len| bytes or buffers them; on_blocked(true) when some wait.
 * Silently drops them after EPIPE (the process stopped reading: kubelet
 * ignores that too). -1 when the buffer cap is exceeded (data dropped).
 */
int crid_fd_writer_write(struct crid_fd_writer *w, const uint8_t *data, size_t len);

/* No more input: closes the fd once the buffer is written (on_closed then). */
void crid_fd_writer_eof(struct crid_fd_writer *w);

/* Stops the watcher, closes the fd, frees the buffer; no callbacks after. */
void crid_fd_writer_destroy(struct crid_fd_writer *w);

#endif
