/*
 * The console socket. Both runtimes send the master before `create` exits
 * (runc's init in setupConsole, crun from its parent after the init handed it
 * over), and a unix stream connection queued on a listening socket keeps its
 * data and fds until accepted, even when the sender is gone. So the loop
 * picks it up as it comes, and crid_console_take() finds it queued when the
 * runtime's exit was seen first in the same iteration.
 */
#include "runtime/oci/console.h"

#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/ioctl.h>
#include <sys/socket.h>
#include <sys/un.h>
#include <termios.h>
#include <unistd.h>

#include "reactor/mem.h"

#define MAX_FDS 4

struct crid_console {
	struct crid_loop *loop;
	ev_io listen_w, conn_w;
	int listen_fd, conn_fd, master;
	bool eof; /* the runtime closed the connection */
	char path[sizeof(((struct sockaddr_un *)0)->sun_path)];
	char tmp_dir[PATH_MAX]; /* the short directory made for the socket, or "" */
};

static void set_window(int fd)
{
	struct winsize ws = { 0 };

	/* a size from the spec's consoleSize stays; 0x0 confuses programs (less, top) */
	if (ioctl(fd, TIOCGWINSZ, &ws) == 0 && ws.ws_row && ws.ws_col)
		return;
	ws.ws_row = 24;
	ws.ws_col = 80;
	ioctl(fd, TIOCSWINSZ, &ws);
}

static void stop_conn(struct crid_console *con)
{
	if (con->conn_fd < 0)
		return;
	ev_io_stop(con->loop->ev, &con->conn_w);
	close(con->conn_fd);
	con->conn_fd = -1;
}

/* The first fd of the message's SCM_RIGHTS; any others are closed. */
static int fd_of(struct msghdr *msg)
{
	int found = -1;

	for (struct cmsghdr *cm = CMSG_FIRSTHDR(msg); cm; cm = CMSG_NXTHDR(msg, cm)) {
		size_t n;

		if (cm->cmsg_level != SOL_SOCKET || cm->cmsg_type != SCM_RIGHTS)
			continue;
		n = (cm->cmsg_len - CMSG_LEN(0)) / sizeof(int);
		for (size_t i = 0; i < n; i++) {
			int fd;

			memcpy(&fd, CMSG_DATA(cm) + i * sizeof(int), sizeof(int));
			if (found < 0)
				found = fd;
			else
				close(fd);
		}
	}
	return found;
}

/* Reads what the runtime sent until the fd came, EOF, or nothing more is there now. */
static void receive(struct crid_console *con)
{
	union {
		char buf[CMSG_SPACE(MAX_FDS * sizeof(int))];
		struct cmsghdr align;
	} ctl;
	char name[256];

	while (con->conn_fd >= 0 && con->master < 0) {
		struct iovec iov = { name, sizeof(name) };
		struct msghdr msg = { 0 };
		ssize_t n;

		msg.msg_iov = &iov;
		msg.msg_iovlen = 1;
		msg.msg_control = ctl.buf;
		msg.msg_controllen = sizeof(ctl.buf);
		n = recvmsg(con->conn_fd, &msg, MSG_DONTWAIT | MSG_CMSG_CLOEXEC);
		if (n < 0 && errno == EINTR)
			continue;
		if (n < 0 && errno == EAGAIN)
			return;
		if (n <= 0) {
			con->eof = true;
			stop_conn(con);
			return;
		}
		con->master = fd_of(&msg);
	}
	if (con->master >= 0) {
		fcntl(con->master, F_SETFL, fcntl(con->master, F_GETFL) | O_NONBLOCK);
		set_window(con->master);
		stop_conn(con); /* one terminal per container: the rest is not read */
	}
}

static void on_conn(struct ev_loop *ev, ev_io *w, int revents)
{
	(void)ev, (void)revents;
	receive(w->data);
}

/* One connection: the runtime's. Once it is in, nobody else is listened to. */
static void accept_one(struct crid_console *con)
{
	int fd;

	if (con->conn_fd >= 0 || con->master >= 0 || con->eof)
		return;
	fd = accept4(con->listen_fd, NULL, NULL, SOCK_NONBLOCK | SOCK_CLOEXEC);
	if (fd < 0)
		return; /* EAGAIN: not yet; anything else: the runtime retries or fails */
	ev_io_stop(con->loop->ev, &con->listen_w);
	con->conn_fd = fd;
	ev_io_init(&con->conn_w, on_conn, fd, EV_READ);
	con->conn_w.data = con;
	ev_io_start(con->loop->ev, &con->conn_w);
	receive(con);
}

static void on_listen(struct ev_loop *ev, ev_io *w, int revents)
{
	(void)ev, (void)revents;
	accept_one(w->data);
}

static int socket_path(struct crid_console *con, const char *dir, const char *name,
		       const char *short_dir, struct crid_err *err)
{
	int n = snprintf(con->path, sizeof(con->path), "%s/%s", dir, name);

	if (n >= 0 && (size_t)n < sizeof(con->path))
		return 0;
	con->path[0] = '\0'; /* cut short: nothing to unlink */
	n = snprintf(con->tmp_dir, sizeof(con->tmp_dir), "%s/cs-XXXXXX", short_dir);
	if (n < 0 || (size_t)n >= sizeof(con->path) - 2) {
		con->tmp_dir[0] = '\0';
		return crid_err_set(err, ENAMETOOLONG, "console socket under `%s`", short_dir);
	}
	if (!mkdtemp(con->tmp_dir)) {
		crid_err_set(err, errno, "console socket directory `%s`", con->tmp_dir);
		con->tmp_dir[0] = '\0';
		return -1;
	}
	n = (int)strlen(con->tmp_dir); /* checked above: "<tmp_dir>/s" fits */
	memcpy(con->path, con->tmp_dir, (size_t)n);
	memcpy(con->path + n, "/s", 3);
	return 0;
}

struct crid_console *crid_console_listen(struct crid_loop *loop, const char *dir,
					 const char *short_dir, struct crid_err *err)
{
	return crid_console_listen_named(loop, dir, "console.sock", short_dir, err);
}

struct crid_console *crid_console_listen_named(struct crid_loop *loop, const char *dir,
					       const char *name, const char *short_dir,
					       struct crid_err *err)
{
	struct crid_console *con = crid_calloc(1, sizeof(*con));
	struct sockaddr_un sa = { .sun_family = AF_UNIX };

	if (!con) {
		crid_err_set(err, ENOMEM, "console socket");
		return NULL;
	}
	con->loop = loop;
	con->listen_fd = con->conn_fd = con->master = -1;
	if (socket_path(con, dir, name, short_dir, err) < 0)
		goto fail;
	memcpy(sa.sun_path, con->path, strlen(con->path) + 1);
	unlink(con->path); /* left by an earlier create of the same bundle */
	con->listen_fd = socket(AF_UNIX, SOCK_STREAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0);
	if (con->listen_fd < 0) {
		crid_err_set(err, errno, "console socket");
		goto fail;
	}
	if (bind(con->listen_fd, (struct sockaddr *)&sa, sizeof(sa)) < 0 ||
	    listen(con->listen_fd, 4) < 0) {
		crid_err_set(err, errno, "console socket `%s`", con->path);
		goto fail;
	}
	ev_io_init(&con->listen_w, on_listen, con->listen_fd, EV_READ);
	con->listen_w.data = con;
	ev_io_start(loop->ev, &con->listen_w);
	return con;
fail:
	crid_console_close(con);
	return NULL;
}

const char *crid_console_path(const struct crid_console *con)
{
	return con->path;
}

int crid_console_take(struct crid_console *con, struct crid_err *err)
{
	int fd;

	accept_one(con);
	receive(con);
	if (con->master < 0)
		return crid_err_cause(
		    err, con->eof ? EPROTO : EAGAIN,
		    "no terminal received on the console socket `%s`%s", con->path,
		    con->eof ? ": the runtime closed it without sending one" : "");
	fd = con->master;
	con->master = -1;
	return fd;
}

void crid_console_close(struct crid_console *con)
{
	if (!con)
		return;
	stop_conn(con);
	if (con->listen_fd >= 0) {
		ev_io_stop(con->loop->ev, &con->listen_w);
		close(con->listen_fd);
	}
	if (con->master >= 0)
		close(con->master);
	if (con->path[0])
		unlink(con->path);
	if (con->tmp_dir[0])
		rmdir(con->tmp_dir);
	crid_free(con);
}
