/*
 * The exec and attach sessions (remote_cmd.h): the container side of a
 * streaming connection, after cri-streaming's remotecommand (httpstream.go,
 * exec.go, attach.go) and its connectionContext.finish order.
 *
 * Exec: crid_ctrs_exec_start gives pipes or a terminal master; stdout and
 * stderr are read with ev_io watchers only while the connection holds less
 * than CRID_STREAM_HIGH_WATER (drained() restarts them); stdin goes through
 * a bounded fd_writer that pauses the connection's input while the process
 * does not read. The session ends when the process exited AND its output
 * reached EOF, so nothing it wrote is cut off.
 *
 * Attach: a tap on the container's output (the log writer's), paused by
 * returning false above the high-water mark; ends at the tap's ended().
 *
 * Teardown always happens in a before-sleep hook: the end can be reached
 * from inside a connection's or a container's callback, and neither must
 * see its caller freed under it.
 *
 * An idle session (no output waiting, stdin drained: no buffer) holds
 * struct rcmd (1160 bytes on x86-64: the resize parser's 256, the exit
 * error's 516) plus its request, the connection's own state, and three fds
 * for an exec with pipes (two for a terminal: its master and the stdin
 * writer's copy). Output is read into one static 32 KiB buffer and handed
 * to the connection, which holds at most CRID_STREAM_HIGH_WATER plus one
 * read; stdin waits in at most CRID_FD_WRITER_MAX.
 */
#include "runtime/stream/remote_cmd.h"

#include <errno.h>
#include <fcntl.h>
#include <stddef.h>
#include <stdio.h>
#include <string.h>
#include <sys/ioctl.h>
#include <termios.h>
#include <unistd.h>

#include "reactor/log.h"
#include "reactor/mem.h"
#include "runtime/container/ctr_stream.h"
#include "runtime/stream/cmd_status.h"
#include "runtime/stream/fd_writer.h"
#include "runtime/stream/term_size.h"

/*
 * A tty exec waits this long for the client's first size before it starts:
 * the size goes into the process's consoleSize, so the runtime sizes the
 * terminal before the program runs (applied after the start, a program that
 * reads its size at once, a shell drawing its prompt, saw 80x24). client-go
 * sends it right after creating its streams.
 */
#define FIRST_SIZE_WAIT 0.25

/* One read from a process's pipe; the connection copies it into its queue. */
#define RCMD_READ_MAX (32u << 10)

struct rcmd_out {
	struct rcmd *r;
	unsigned chan;
	int fd; /* -1 at EOF or when not asked for */
	bool eof;
	ev_io w;
};

struct rcmd {
	struct crid_stream_session s; /* first: the connection's handle */
	struct crid_loop *loop;
	struct crid_ctrs *ctrs;
	struct crid_stream_req *req;

	struct crid_ctr_exec *x;
	struct crid_ctr_attach *a;
	int master; /* exec with a terminal: its master (out.fd is the same) */
	struct rcmd_out out, err;
	struct crid_fd_writer in;
	struct crid_term_size_parser resize;
	uint16_t want_w, want_h; /* a size that came before the terminal */
	bool want_size;
	bool size_wait;	      /* a tty exec waits for the client's first size */
	ev_timer size_wait_w; /* ...at most FIRST_SIZE_WAIT */

	bool started;	   /* the connection's start() came */
	bool x_started;	   /* exec: started() came */
	bool exited;	   /* exec: exited() came */
	int exit_code;	   /* -1: lost, see exit_err */
	bool tap_ended;	   /* attach: ended() came */
	bool tap_paused;   /* attach: output() returned false */
	bool above_water;  /* the pumps stopped for pending() */
	bool input_paused; /* we asked the connection to pause */
	bool ended;	   /* the end sequence ran: |s.conn| is not ours any more */
	bool gone;	   /* gone() came: the connection is dead */
	struct crid_err exit_err;
	struct crid_before_sleep reap;
};

static struct rcmd *of(struct crid_stream_session *s)
{
	return (struct rcmd *)s;
}

static struct crid_stream_conn *conn(struct rcmd *r)
{
	return r->ended || r->gone ? NULL : r->s.conn;
}

/* ---- teardown ---- */

static void out_close(struct rcmd *r, struct rcmd_out *o)
{
	if (o->fd >= 0) {
		ev_io_stop(r->loop->ev, &o->w);
		if (o->fd != r->master)
			close(o->fd);
	}
	o->fd = -1;
	o->eof = true;
}

static void reap_cb(struct crid_before_sleep *hook)
{
	struct rcmd *r = (struct rcmd *)((char *)hook - offsetof(struct rcmd, reap));

	ev_timer_stop(r->loop->ev, &r->size_wait_w);
	out_close(r, &r->out);
	out_close(r, &r->err);
	crid_fd_writer_destroy(&r->in);
	if (r->master >= 0)
		close(r->master);
	if (r->x) {
		if (!r->exited)
			crid_ctr_exec_kill(r->x);
		crid_ctr_exec_release(r->x);
	}
	if (r->a)
		crid_ctr_attach_close(r->a);
	crid_stream_req_free(r->req);
	crid_free(r);
}

static void reap_later(struct rcmd *r)
{
	crid_loop_before_sleep(r->loop, &r->reap);
}

/* ---- the end ---- */

static void send_status(struct rcmd *r, struct crid_stream_conn *c)
{
	struct crid_cmd_end e = { .exit_code = r->exit_code };
	struct crid_err err;
	char *buf;
	size_t len;

	if (r->req->kind == CRID_STREAM_EXEC) {
		e.argv = (const char *const *)r->req->argv;
		e.argc = r->req->argc;
	}
	if (r->exit_code < 0)
		e.internal = r->exit_err.msg;
	if (crid_cmd_status(c->version, &e, &buf, &len, &err) < 0) {
		crid_log_warn("%s in `%s`: %s", crid_stream_kind_name(r->req->kind), r->req->id,
			      err.msg);
		return;
	}
	if (buf)
		c->ops->send(c, CRID_CHAN_ERROR, buf, len);
	crid_free(buf);
}

/*
 * The order that truncates nothing (cri-streaming connectionContext.finish):
 * reset stdin and resize (a reset also drops what the client still sends),
 * the status, then the closes the client waits for, then finish().
 */
static void end(struct rcmd *r)
{
	struct crid_stream_conn *c = conn(r);

	if (!c)
		return;
	r->ended = true;
	out_close(r, &r->out);
	out_close(r, &r->err);
	if (r->req->stdin)
		c->ops->reset_chan(c, CRID_CHAN_STDIN);
	if (r->req->tty)
		c->ops->reset_chan(c, CRID_CHAN_RESIZE);
	send_status(r, c);
	if (r->req->stdout)
		c->ops->close_chan(c, CRID_CHAN_STDOUT);
	if (r->req->stderr && !r->req->tty)
		c->ops->close_chan(c, CRID_CHAN_STDERR);
	c->ops->close_chan(c, CRID_CHAN_ERROR);
	c->ops->finish(c);
	reap_later(r);
}

/* A failure before or instead of the process: its text as an InternalError. */
static void fail(struct rcmd *r, const struct crid_err *err)
{
	r->exit_code = -1;
	r->exit_err = *err;
	end(r);
}

static void maybe_end(struct rcmd *r)
{
	if (r->req->kind == CRID_STREAM_EXEC && r->exited && r->out.eof && r->err.eof)
		end(r);
}

/* ---- output ---- */

static bool over_water(const struct crid_stream_conn *c)
{
	return c->ops->pending(c) >= CRID_STREAM_HIGH_WATER;
}

static void pumps_stop(struct rcmd *r)
{
	r->above_water = true;
	if (r->out.fd >= 0)
		ev_io_stop(r->loop->ev, &r->out.w);
	if (r->err.fd >= 0)
		ev_io_stop(r->loop->ev, &r->err.w);
}

static void pumps_start(struct rcmd *r)
{
	r->above_water = false;
	if (r->out.fd >= 0)
		ev_io_start(r->loop->ev, &r->out.w);
	if (r->err.fd >= 0)
		ev_io_start(r->loop->ev, &r->err.w);
}

static void readable_cb(struct ev_loop *ev, ev_io *io, int revents)
{
	struct rcmd_out *o = io->data;
	struct rcmd *r = o->r;
	struct crid_stream_conn *c = conn(r);
	static uint8_t buf[RCMD_READ_MAX];
	ssize_t n;

	(void)ev, (void)revents;
	if (!c)
		return;
	if (over_water(c)) {
		pumps_stop(r);
		return;
	}
	n = read(o->fd, buf, sizeof(buf));
	if (n < 0 && (errno == EAGAIN || errno == EINTR))
		return;
	if (n <= 0) {
		/* EOF; a terminal's master says EIO once the last slave fd closed */
		out_close(r, o);
		maybe_end(r);
		return;
	}
	if (o->chan == CRID_CHAN_STDOUT ? !r->req->stdout : !r->req->stderr)
		return; /* not asked for: drained so the process never blocks on it */
	if (c->ops->send(c, o->chan, buf, (size_t)n) < 0) {
		pumps_stop(r); /* the connection is going: gone() follows */
		return;
	}
	if (over_water(c))
		pumps_stop(r);
}

static void out_open(struct rcmd *r, struct rcmd_out *o, int fd)
{
	o->fd = fd;
	o->eof = fd < 0;
	if (fd < 0)
		return;
	ev_io_init(&o->w, readable_cb, fd, EV_READ);
	o->w.data = o;
	if (!r->above_water)
		ev_io_start(r->loop->ev, &o->w);
}

/* ---- stdin ---- */

static void stdin_blocked(void *user, bool blocked)
{
	struct rcmd *r = user;
	struct crid_stream_conn *c = conn(r);

	if (!c || r->input_paused == blocked)
		return;
	r->input_paused = blocked;
	c->ops->pause_input(c, blocked);
}

static void stdin_closed(void *user)
{
	struct rcmd *r = user;

	if (r->a && !r->ended && !r->gone)
		crid_ctr_attach_stdin_done(r->a);
}

/* ---- exec ---- */

static void exec_start(struct rcmd *r);

static void apply_size(struct rcmd *r, uint16_t w, uint16_t h)
{
	struct winsize ws = { .ws_row = h, .ws_col = w };
	struct crid_err err;

	if (r->a) {
		if (crid_ctrs_resize(r->ctrs, r->req->id, w, h, &err) < 0)
			crid_log(CRID_LOG_DEBUG, "attach to `%s`: %s", r->req->id, err.msg);
		return;
	}
	if (r->master < 0) {
		/* the terminal is not there yet: the last size waits for it */
		r->want_w = w, r->want_h = h, r->want_size = true;
		if (r->size_wait)
			exec_start(r);
		return;
	}
	if (ioctl(r->master, TIOCSWINSZ, &ws) < 0)
		crid_log(CRID_LOG_DEBUG, "exec in `%s`: resize: %s", r->req->id, strerror(errno));
}

static void size_cb(void *user, uint16_t w, uint16_t h)
{
	apply_size(user, w, h);
}

static void exec_started(void *user, const struct crid_ctr_exec_fds *fds)
{
	struct rcmd *r = user;
	int in = fds->in;

	r->x_started = true;
	if (r->ended || r->gone) {
		/* the fds are ours now: the reaper closes them */
		r->master = fds->master;
		r->out.fd = fds->master >= 0 ? fds->master : fds->out;
		r->err.fd = fds->err;
		if (in >= 0)
			close(in);
		return;
	}
	if (fds->master >= 0) {
		r->master = fds->master;
		/* a copy for the writer, whose EOF closes it: closing the master would hang up */
		in = r->req->stdin ? fcntl(fds->master, F_DUPFD_CLOEXEC, 3) : -1;
		out_open(r, &r->out, fds->master);
		out_open(r, &r->err, -1);
		if (r->want_size)
			apply_size(r, r->want_w, r->want_h);
	} else {
		out_open(r, &r->out, fds->out);
		out_open(r, &r->err, fds->err);
	}
	if (in >= 0)
		crid_fd_writer_set_fd(&r->in, in);
}

static void exec_exited(void *user, int status, const struct crid_err *err)
{
	struct rcmd *r = user;

	r->exited = true;
	r->exit_code = status;
	if (status < 0 && err)
		r->exit_err = *err;
	else if (status < 0)
		crid_err_cause(&r->exit_err, EIO, "exec in `%s`: exit status lost", r->req->id);
	if (!r->x_started)
		r->out.eof = r->err.eof = true; /* no process, no output */
	maybe_end(r);
}

static const struct crid_ctr_exec_cbs exec_cbs = {
	.started = exec_started,
	.exited = exec_exited,
};

/* No size came in time: the terminal starts at 80x24, resized when one comes. */
static void size_wait_cb(struct ev_loop *ev, ev_timer *w, int revents)
{
	struct rcmd *r = w->data;

	(void)ev;
	(void)revents;
	if (r->size_wait && !r->gone && !r->ended)
		exec_start(r);
}

static void exec_start(struct rcmd *r)
{
	r->size_wait = false;
	ev_timer_stop(r->loop->ev, &r->size_wait_w);
	struct crid_ctr_exec_opts o = {
		.argv = (const char *const *)r->req->argv,
		.argc = r->req->argc,
		.tty = r->req->tty,
		.stdin = r->req->stdin,
		.stdout = r->req->stdout,
		.stderr = r->req->stderr && !r->req->tty,
		.width = r->want_size ? r->want_w : 0,
		.height = r->want_size ? r->want_h : 0,
	};
	struct crid_err err;

	r->x = crid_ctrs_exec_start(r->ctrs, r->req->id, &o, &exec_cbs, r, &err);
	if (!r->x)
		fail(r, &err);
}

/* ---- attach ---- */

static bool tap_output(void *user, int stream, const uint8_t *data, size_t len)
{
	struct rcmd *r = user;
	struct crid_stream_conn *c = conn(r);
	unsigned chan = stream == 2 ? CRID_CHAN_STDERR : CRID_CHAN_STDOUT;

	if (!c)
		return true;
	if (chan == CRID_CHAN_STDOUT ? r->req->stdout : r->req->stderr)
		c->ops->send(c, chan, data, len);
	if (!over_water(c))
		return true;
	r->tap_paused = true;
	return false;
}

static void tap_ended(void *user)
{
	struct rcmd *r = user;

	r->tap_ended = true;
	r->exit_code = 0;
	end(r);
}

static const struct crid_ctr_attach_cbs attach_cbs = {
	.output = tap_output,
	.ended = tap_ended,
};

static void attach_start(struct rcmd *r)
{
	struct crid_err err;
	int fd;

	r->a = crid_ctrs_attach(r->ctrs, r->req->id, &attach_cbs, r, &err);
	if (!r->a) {
		fail(r, &err);
		return;
	}
	if (!r->req->stdin || r->ended)
		return;
	fd = crid_ctr_attach_stdin(r->a, &err);
	if (fd < 0) {
		fail(r, &err);
		return;
	}
	crid_fd_writer_set_fd(&r->in, fd);
}

/* ---- what the connection tells ---- */

static void on_start(struct crid_stream_session *s)
{
	struct rcmd *r = of(s);

	r->started = true;
	if (r->req->kind == CRID_STREAM_ATTACH) {
		attach_start(r);
	} else if (r->req->tty && s->conn->version >= 3 && !r->want_size) {
		r->size_wait = true; /* a resize stream exists: its first size comes next */
		ev_timer_start(r->loop->ev, &r->size_wait_w);
	} else {
		exec_start(r);
	}
}

static void on_data(struct crid_stream_session *s, unsigned chan, const uint8_t *buf, size_t len)
{
	struct rcmd *r = of(s);

	if (r->ended || r->gone)
		return;
	if (chan == CRID_CHAN_STDIN && r->req->stdin)
		crid_fd_writer_write(&r->in, buf, len);
	else if (chan == CRID_CHAN_RESIZE && r->req->tty)
		crid_term_size_feed(&r->resize, buf, len, size_cb, r);
}

static void on_eof(struct crid_stream_session *s, unsigned chan)
{
	struct rcmd *r = of(s);

	if (chan != CRID_CHAN_STDIN || !r->req->stdin || r->ended || r->gone)
		return;
	if (r->req->tty && r->req->kind == CRID_STREAM_EXEC)
		return; /* the terminal stays: closing it would hang up the shell's output */
	crid_fd_writer_eof(&r->in);
}

static void on_drained(struct crid_stream_session *s)
{
	struct rcmd *r = of(s);

	if (r->ended || r->gone)
		return;
	if (r->above_water)
		pumps_start(r);
	if (r->tap_paused && r->a) {
		r->tap_paused = false;
		crid_ctr_attach_resume(r->a);
	}
}

static void on_gone(struct crid_stream_session *s)
{
	struct rcmd *r = of(s);

	if (r->gone)
		return;
	r->gone = true;
	out_close(r, &r->out);
	out_close(r, &r->err);
	reap_later(r); /* kills the exec unless it exited */
}

static const struct crid_stream_session_ops rcmd_ops = {
	.start = on_start,
	.data = on_data,
	.eof = on_eof,
	.drained = on_drained,
	.gone = on_gone,
};

struct crid_stream_session *crid_remote_cmd_new(struct crid_loop *loop, struct crid_ctrs *ctrs,
						struct crid_stream_req *req, struct crid_err *err)
{
	struct rcmd *r;

	if (req->kind != CRID_STREAM_EXEC && req->kind != CRID_STREAM_ATTACH) {
		crid_err_invalid(err, "remote command: not an exec or attach request");
		return NULL;
	}
	r = crid_calloc(1, sizeof(*r));
	if (!r) {
		crid_err_set(err, ENOMEM, "%s session", crid_stream_kind_name(req->kind));
		return NULL;
	}
	r->s.ops = &rcmd_ops;
	r->loop = loop;
	ev_timer_init(&r->size_wait_w, size_wait_cb, FIRST_SIZE_WAIT, 0.);
	r->size_wait_w.data = r;
	r->ctrs = ctrs;
	r->req = req;
	r->master = -1;
	r->out = (struct rcmd_out){ .r = r, .chan = CRID_CHAN_STDOUT, .fd = -1 };
	r->err = (struct rcmd_out){ .r = r, .chan = CRID_CHAN_STDERR, .fd = -1 };
	r->reap.fn = reap_cb;
	crid_fd_writer_init(&r->in, loop->ev, stdin_blocked, stdin_closed, r);
	crid_term_size_init(&r->resize);
	return &r->s;
}

void crid_remote_cmd_free(struct crid_stream_session *s)
{
	struct rcmd *r = of(s);

	if (!r)
		return;
	crid_stream_req_free(r->req);
	crid_fd_writer_destroy(&r->in);
	crid_free(r);
}
