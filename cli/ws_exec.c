/*
 * cridctl exec and attach with --transport websocket: the remote command
 * protocol over RFC 6455 as client-go's WebSocket executor speaks it
 * (remotecommand/websocket.go, KEP-3396): binary messages whose first byte
 * is the channel (0 stdin, 1 stdout, 2 stderr, 3 error, 4 resize); v5 adds
 * [255, ch] to close a channel, which is how stdin's end is told. Offers
 * v5.channel.k8s.io then v4.channel.k8s.io (without v5, stdin's end cannot
 * be told: the session then ends only when the command does). Ends when the
 * server closes the WebSocket after the status on channel 3.
 */
#include <errno.h>
#include <poll.h>
#include <signal.h>
#include <stdio.h>
#include <string.h>
#include <sys/ioctl.h>
#include <sys/signalfd.h>
#include <termios.h>
#include <unistd.h>

#include "cli/stream_client.h"
#include "cli/stream_exec.h"
#include "io/ws.h"
#include "reactor/mem.h"

enum { CH_STDIN = 0, CH_STDOUT = 1, CH_STDERR = 2, CH_ERROR = 3, CH_RESIZE = 4, CH_CLOSE = 255 };

struct ws_session {
	struct crid_ws *ws;
	int fd;
	char status[8192];
	size_t status_len;
	bool closed, v5;
	int failed;
};

static void write_out(struct ws_session *x, int fd, const uint8_t *p, size_t n)
{
	while (n > 0 && !x->failed) {
		ssize_t w = write(fd, p, n);

		if (w < 0 && errno == EINTR)
			continue;
		if (w < 0) {
			x->failed = 1;
			return;
		}
		p += w;
		n -= (size_t)w;
	}
}

static void on_message(void *user, int opcode, const uint8_t *data, size_t len)
{
	struct ws_session *x = user;

	if (opcode != CRID_WS_BINARY || len < 1)
		return;
	if (data[0] == CH_STDOUT || data[0] == CH_STDERR) {
		write_out(x, data[0] == CH_STDOUT ? 1 : 2, data + 1, len - 1);
	} else if (data[0] == CH_ERROR) {
		size_t n = len - 1 < sizeof(x->status) - x->status_len
			       ? len - 1
			       : sizeof(x->status) - x->status_len;

		memcpy(x->status + x->status_len, data + 1, n);
		x->status_len += n;
	}
}

static void on_closed(void *user, uint16_t code)
{
	struct ws_session *x = user;

	(void)code;
	x->closed = true;
}

static int send_size(struct ws_session *x, struct crid_err *err)
{
	static const uint8_t ch = CH_RESIZE;
	struct winsize ws;
	char json[64];
	int n;

	if (ioctl(0, TIOCGWINSZ, &ws) < 0 && ioctl(1, TIOCGWINSZ, &ws) < 0)
		return 0;
	n = snprintf(json, sizeof(json), "{\"Width\":%u,\"Height\":%u}\n", ws.ws_col, ws.ws_row);
	return crid_ws_send(x->ws, CRID_WS_BINARY, &ch, 1, json, (size_t)n, err);
}

static int pump_stdin(struct ws_session *x, bool *open, struct crid_err *err)
{
	static const uint8_t ch = CH_STDIN, close_stdin[2] = { CH_CLOSE, CH_STDIN };
	char buf[32 << 10];
	ssize_t n = read(0, buf, sizeof(buf));

	if (n < 0 && (errno == EINTR || errno == EAGAIN))
		return 0;
	if (n <= 0) {
		*open = false;
		return x->v5 ? crid_ws_send(x->ws, CRID_WS_BINARY, close_stdin, 2, NULL, 0, err)
			     : 0;
	}
	return crid_ws_send(x->ws, CRID_WS_BINARY, &ch, 1, buf, (size_t)n, err);
}

static int loop(struct ws_session *x, bool stdin_open, int sigfd, struct crid_err *err)
{
	while (!x->closed && !x->failed) {
		struct pollfd p[3] = {
			{ .fd = x->fd },
			{ .fd = stdin_open ? 0 : -1, .events = POLLIN },
			{ .fd = sigfd, .events = POLLIN },
		};

		if (crid_ws_want_read(x->ws))
			p[0].events |= POLLIN;
		if (crid_ws_want_write(x->ws))
			p[0].events |= POLLOUT;
		if (!p[0].events)
			break; /* wslay wants nothing more: the connection is over */
		if (crid_ws_queued(x->ws) > CRIDCTL_SPDY_OUT_HIGH)
			p[1].fd = -1;
		if (poll(p, 3, -1) < 0) {
			if (errno == EINTR)
				continue;
			return crid_err_set(err, errno, "poll");
		}
		if (p[0].revents & (POLLIN | POLLHUP | POLLERR))
			crid_ws_on_readable(x->ws);
		if (!x->closed && p[1].revents && pump_stdin(x, &stdin_open, err) < 0)
			return -1;
		if (!x->closed && p[2].revents) {
			int sig = cridctl_term_signal(sigfd);

			if (sig == SIGTERM || sig == SIGHUP)
				return crid_err_cause(err, EINTR, "%s: the session is left",
						      strsignal(sig));
			if (sig == SIGWINCH && send_size(x, err) < 0)
				return -1;
		}
		if (!x->closed && crid_ws_want_write(x->ws))
			crid_ws_on_writable(x->ws);
	}
	return 0;
}

static int ws_check(const char *buf, size_t len, void *ctx, struct crid_err *err)
{
	char **c = ctx; /* key, proto */

	return cridctl_ws_response(buf, len, c[0], c[1], 64, err);
}

/* Connects and makes the ws; the negotiated protocol goes to |proto| (64 bytes). */
static int dial(struct ws_session *x, const char *url, char *proto, struct crid_err *err)
{
	static const char *const protos[] = { "v5.channel.k8s.io", "v4.channel.k8s.io" };
	static const struct crid_ws_cbs cbs = { on_message, on_closed };
	struct cridctl_url u;
	char key[25], req[4096], *ctx[2] = { key, proto };
	uint8_t *pre;
	size_t len, pre_len;

	if (cridctl_url_parse(url, &u, err) < 0)
		return -1;
	if (cridctl_ws_key(key) < 0)
		return crid_err_set(err, errno, "websocket key");
	len = cridctl_ws_request(req, sizeof(req), &u, key, protos, 2);
	if (!len)
		return crid_err_invalid(err, "streaming url `%s` is too long", url);
	x->fd = cridctl_stream_dial(&u, req, len, ws_check, ctx, 30000, &pre, &pre_len, err);
	if (x->fd < 0)
		return -1;
	x->ws = crid_ws_new(x->fd, true, pre, pre_len, &cbs, x, err);
	crid_free(pre);
	return x->ws ? 0 : -1;
}

int cridctl_ws_remote_cmd(const char *verb, const char *url, const struct cridctl_stream_opts *o)
{
	struct ws_session x = { .fd = -1 };
	struct crid_err err = { 0 };
	struct termios saved;
	bool raw = false;
	char proto[64] = "", msg[1024];
	int sigfd = -1, rc = 1, code;

	if (dial(&x, url, proto, &err) < 0)
		goto out;
	x.v5 = strcmp(proto, "v5.channel.k8s.io") == 0;
	if (o->tty) {
		sigfd = cridctl_term_signals(o->stdin && isatty(0));
		raw = o->stdin && cridctl_term_raw(&saved);
		if (send_size(&x, &err) < 0)
			goto out;
	}
	if (loop(&x, o->stdin, sigfd, &err) < 0)
		goto out;
	if (cridctl_exec_status(x.status, x.status_len, true, &code, msg, sizeof(msg)) == 0) {
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
	if (x.ws)
		crid_ws_free(x.ws);
	if (x.fd >= 0)
		close(x.fd);
	return rc;
}
