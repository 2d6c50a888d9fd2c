/*
 * cridctl exec (streaming) and attach: the remote command protocol over SPDY
 * as client-go's SPDY executor speaks it (remotecommand v4 down to v1,
 * streamProtocolV2..V4): an error stream, then stdin, stdout, stderr as
 * asked, and with a tty a resize stream fed with {"Width":w,"Height":h}\n on
 * start and on every SIGWINCH. The local terminal is raw while a -t session
 * runs and restored on every exit. Output goes out as it arrives; the exit
 * code comes from the v4 status on the error stream. Done when the error
 * stream and every output stream are closed by the server, or the
 * connection ends.
 */
#include <errno.h>
#include <fcntl.h>
#include <poll.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/ioctl.h>
#include <sys/signalfd.h>
#include <termios.h>
#include <unistd.h>

#include "cli/stream_exec.h"
#include "cli/stream_client.h"

enum { S_ERROR, S_STDIN, S_STDOUT, S_STDERR, S_RESIZE, S_N };

static const char *const stream_types[S_N] = { "error", "stdin", "stdout", "stderr", "resize" };

struct exec_session {
	struct cridctl_spdy conn;
	uint32_t id[S_N];  /* 0: not opened */
	bool open[S_N];	   /* the server has not closed it yet */
	char status[8192]; /* what came on the error stream */
	size_t status_len;
	bool v4;
	int failed; /* a local write failed */
};

static int on_frame(void *user, const struct crid_spdy_frame *f)
{
	struct exec_session *x = user;
	int k;

	for (k = 0; k < S_N; k++)
		if (x->id[k] && x->id[k] == f->stream_id)
			break;
	if (k == S_N)
		return 0;
	if (f->type == CRID_SPDY_RST_STREAM) {
		x->open[k] = false;
		return 0;
	}
	if (f->type != CRID_SPDY_DATA)
		return 0; /* SYN_REPLY: the stream is accepted; nothing to wait for */
	if (k == S_ERROR) {
		size_t n = f->len < sizeof(x->status) - x->status_len
			       ? f->len
			       : sizeof(x->status) - x->status_len;

		memcpy(x->status + x->status_len, f->data, n);
		x->status_len += n;
	} else if ((k == S_STDOUT || k == S_STDERR) && f->len) {
		int fd = k == S_STDOUT ? 1 : 2;

		for (size_t off = 0; off < f->len && !x->failed;) {
			ssize_t n = write(fd, f->data + off, f->len - off);

			if (n < 0 && errno == EINTR)
				continue;
			if (n < 0)
				x->failed = 1;
			else
				off += (size_t)n;
		}
	}
	if (f->last_piece && (f->flags & CRID_SPDY_FLAG_FIN))
		x->open[k] = false;
	return 0;
}

/* Sends the terminal's size on the resize stream, as client-go's TerminalSizeQueue. */
static int send_size(struct exec_session *x, struct crid_err *err)
{
	struct winsize ws;
	char json[64];
	int n;

	if (ioctl(0, TIOCGWINSZ, &ws) < 0 && ioctl(1, TIOCGWINSZ, &ws) < 0)
		return 0; /* not a terminal: nothing to tell */
	n = snprintf(json, sizeof(json), "{\"Width\":%u,\"Height\":%u}\n", ws.ws_col, ws.ws_row);
	return cridctl_spdy_send(&x->conn, x->id[S_RESIZE], json, (size_t)n, false, err);
}

static int open_streams(struct exec_session *x, const struct cridctl_stream_opts *o,
			const char *proto, struct crid_err *err)
{
	bool want[S_N] = { true, o->stdin, o->stdout, o->stderr && !o->tty,
			   o->tty && strcmp(proto, "v2.channel.k8s.io") != 0 &&
			       strcmp(proto, "channel.k8s.io") != 0 };

	for (int k = 0; k < S_N; k++) {
		struct crid_spdy_header h = { "streamtype", stream_types[k], 10,
					      strlen(stream_types[k]) };

		if (!want[k])
			continue;
		x->id[k] = cridctl_spdy_open(&x->conn, &h, 1, err);
		if (!x->id[k])
			return -1;
		x->open[k] = k != S_STDIN && k != S_RESIZE;
	}
	return x->id[S_RESIZE] ? send_size(x, err) : 0;
}

static bool done(const struct exec_session *x)
{
	return x->conn.eof || (!x->open[S_ERROR] && !x->open[S_STDOUT] && !x->open[S_STDERR]);
}

/* Reads stdin into the stdin stream; FIN at end of input. */
static int pump_stdin(struct exec_session *x, bool *stdin_open, struct crid_err *err)
{
	char buf[32 << 10];
	ssize_t n = read(0, buf, sizeof(buf));

	if (n < 0 && (errno == EINTR || errno == EAGAIN))
		return 0;
	if (n <= 0) {
		*stdin_open = false;
		return cridctl_spdy_send(&x->conn, x->id[S_STDIN], NULL, 0, true, err);
	}
	return cridctl_spdy_send(&x->conn, x->id[S_STDIN], buf, (size_t)n, false, err);
}

static int loop(struct exec_session *x, int sigfd, struct crid_err *err)
{
	bool stdin_open = x->id[S_STDIN] != 0;

	while (!done(x) && !x->failed) {
		struct pollfd p[3] = {
			{ .fd = x->conn.fd, .events = POLLIN },
			{ .fd = stdin_open ? 0 : -1, .events = POLLIN },
			{ .fd = sigfd, .events = POLLIN },
		};

		if (x->conn.out_len > x->conn.out_off)
			p[0].events |= POLLOUT;
		if (x->conn.out_len - x->conn.out_off > CRIDCTL_SPDY_OUT_HIGH)
			p[1].fd = -1;
		if (poll(p, 3, x->conn.in ? 0 : -1) < 0) {
			if (errno == EINTR)
				continue;
			return crid_err_set(err, errno, "poll");
		}
		if ((p[0].revents || x->conn.in) &&
		    cridctl_spdy_read(&x->conn, on_frame, x, err) < 0)
			return -1;
		if (p[1].revents && pump_stdin(x, &stdin_open, err) < 0)
			return -1;
		if (p[2].revents) {
			int sig = cridctl_term_signal(sigfd);

			if (sig == SIGTERM || sig == SIGHUP)
				return crid_err_cause(err, EINTR, "%s: the session is left",
						      strsignal(sig));
			if (sig == SIGWINCH && send_size(x, err) < 0)
				return -1;
		}
		if (cridctl_spdy_flush(&x->conn, err) < 0)
			return -1;
	}
	return 0;
}

int cridctl_term_signals(bool raw)
{
	sigset_t set;

	sigemptyset(&set);
	sigaddset(&set, SIGWINCH);
	if (raw) { /* the terminal must be restored: these end the session instead */
		sigaddset(&set, SIGTERM);
		sigaddset(&set, SIGHUP);
	}
	sigprocmask(SIG_BLOCK, &set, NULL);
	return signalfd(-1, &set, SFD_CLOEXEC | SFD_NONBLOCK);
}

int cridctl_term_signal(int sigfd)
{
	struct signalfd_siginfo si;

	return read(sigfd, &si, sizeof(si)) == (ssize_t)sizeof(si) ? (int)si.ssi_signo : 0;
}

bool cridctl_term_raw(struct termios *saved)
{
	struct termios t;

	if (!isatty(0) || tcgetattr(0, saved) < 0)
		return false;
	t = *saved;
	cfmakeraw(&t);
	t.c_oflag |= OPOST; /* moby/term keeps output processing */
	return tcsetattr(0, TCSANOW, &t) == 0;
}

int cridctl_stream_remote_cmd(const char *verb, const char *url,
			      const struct cridctl_stream_opts *o)
{
	struct exec_session x = { .conn = { .fd = -1 } };
	struct termios saved;
	bool raw = false;
	struct crid_err err = { 0 };
	char proto[64], msg[1024];
	int sigfd = -1, rc = 1, code;

	if (cridctl_spdy_dial(&x.conn, url, cridctl_remotecmd_protocols,
			      cridctl_remotecmd_n_protocols, proto, sizeof(proto), 30000, &err) < 0)
		goto out;
	x.v4 = strcmp(proto, "v4.channel.k8s.io") == 0 || strcmp(proto, "v5.channel.k8s.io") == 0;
	if (o->tty) {
		sigfd = cridctl_term_signals(o->stdin && isatty(0));
		raw = o->stdin && cridctl_term_raw(&saved);
	}
	if (open_streams(&x, o, proto, &err) < 0 || cridctl_spdy_flush(&x.conn, &err) < 0 ||
	    loop(&x, sigfd, &err) < 0)
		goto out;
	cridctl_spdy_drain(&x.conn, 1000, NULL);
	if (cridctl_exec_status(x.status, x.status_len, x.v4, &code, msg, sizeof(msg)) == 0) {
		rc = code;
		goto out;
	}
	crid_err_invalid(&err, "%s", msg);
out:
	if (raw)
		tcsetattr(0, TCSANOW, &saved);
	if (sigfd >= 0)
		close(sigfd);
	if (rc == 1 && err.msg[0])
		fprintf(stderr, "cridctl: %s: %s\n", verb, err.msg);
	cridctl_spdy_close(&x.conn);
	return rc;
}
