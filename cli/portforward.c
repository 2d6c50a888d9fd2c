/*
 * cridctl port-forward: client-go's port forwarder over SPDY
 * (tools/portforward/portforward.go). One SPDY connection for the session
 * ("portforward.k8s.io", or with --transport websocket tunnelled in a
 * WebSocket as SPDY/3.1+portforward.k8s.io); local listeners on 127.0.0.1 and ::1; for each
 * accepted connection an error stream and a data stream with the headers
 * streamtype, port and requestid (a counter), the error stream half-closed
 * at once as client-go does. Bytes go both ways; local EOF half-closes the
 * data stream, the server's FIN half-closes the local socket; anything on
 * the error stream is printed and ends that connection.
 */
#include <arpa/inet.h>
#include <errno.h>
#include <fcntl.h>
#include <netinet/in.h>
#include <poll.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <unistd.h>

#include "cli/stream_client.h"
#include "cli/stream_exec.h"
#include "reactor/mem.h"

#define MAX_LISTENERS 32
#define MAX_CONNS 128

struct pf_listener {
	int fd;
	uint16_t local, remote;
	bool v6;
};

struct pf_conn {
	int fd; /* -1: slot free */
	uint16_t local, remote;
	uint32_t error_id, data_id;
	bool local_eof, remote_fin;
	char error[512];
	size_t error_len;
};

struct pf_session {
	struct cridctl_spdy conn;
	struct pf_listener ls[MAX_LISTENERS];
	size_t n_ls;
	struct pf_conn cs[MAX_CONNS];
	unsigned next_request;
};

int cridctl_port_map_parse(const char *spec, struct cridctl_port_map *m, struct crid_err *err)
{
	const char *colon = strchr(spec, ':');
	long local = -1, remote;
	char *end;

	if (colon && colon != spec) {
		local = strtol(spec, &end, 10);
		if (end != colon || local < 0 || local > 65535)
			return crid_err_invalid(err, "invalid port `%s`: bad local port", spec);
	} else if (colon) {
		local = 0;
	}
	remote = strtol(colon ? colon + 1 : spec, &end, 10);
	if (*end || end == (colon ? colon + 1 : spec) || remote < 1 || remote > 65535)
		return crid_err_invalid(err, "invalid port `%s`: bad remote port", spec);
	m->remote = (uint16_t)remote;
	m->local = local < 0 ? (uint16_t)remote : (uint16_t)local;
	return 0;
}

/* Listens on the loopback address of |v6|; the port actually bound goes to *port. */
static int listen_on(bool v6, uint16_t *port)
{
	struct sockaddr_in6 a6 = { .sin6_family = AF_INET6,
				   .sin6_port = htons(*port),
				   .sin6_addr = IN6ADDR_LOOPBACK_INIT };
	struct sockaddr_in a4 = { .sin_family = AF_INET,
				  .sin_port = htons(*port),
				  .sin_addr.s_addr = htonl(INADDR_LOOPBACK) };
	struct sockaddr_storage got;
	socklen_t len = sizeof(got);
	int fd = socket(v6 ? AF_INET6 : AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0), one = 1;

	if (fd < 0)
		return -1;
	setsockopt(fd, SOL_SOCKET, SO_REUSEADDR, &one, sizeof(one));
	if ((v6 ? bind(fd, (struct sockaddr *)&a6, sizeof(a6))
		: bind(fd, (struct sockaddr *)&a4, sizeof(a4))) < 0 ||
	    listen(fd, 128) < 0 || getsockname(fd, (struct sockaddr *)&got, &len) < 0) {
		close(fd);
		return -1;
	}
	*port = v6 ? ntohs(((struct sockaddr_in6 *)&got)->sin6_port)
		   : ntohs(((struct sockaddr_in *)&got)->sin_port);
	return fd;
}

static int add_listeners(struct pf_session *x, const struct cridctl_port_map *maps, size_t n,
			 struct crid_err *err)
{
	for (size_t i = 0; i < n; i++) {
		uint16_t port = maps[i].local;
		int fd = listen_on(false, &port);

		if (fd < 0 || x->n_ls + 2 > MAX_LISTENERS)
			return crid_err_set(err, fd < 0 ? errno : EMFILE,
					    "unable to listen on port %u", maps[i].local);
		x->ls[x->n_ls++] = (struct pf_listener){ fd, port, maps[i].remote, false };
		printf("Forwarding from 127.0.0.1:%u -> %u\n", port, maps[i].remote);
		fd = listen_on(true, &port); /* as client-go: IPv6 when the host has it */
		if (fd >= 0) {
			x->ls[x->n_ls++] = (struct pf_listener){ fd, port, maps[i].remote, true };
			printf("Forwarding from [::1]:%u -> %u\n", port, maps[i].remote);
		}
	}
	fflush(stdout);
	return 0;
}

static void conn_close(struct pf_session *x, struct pf_conn *c)
{
	if (c->fd < 0)
		return;
	close(c->fd);
	c->fd = -1;
	/* the server may still hold the streams: tell it they are gone */
	if (!c->remote_fin || !c->local_eof)
		cridctl_spdy_reset(&x->conn, c->data_id, CRID_SPDY_CANCEL, NULL);
}

static int conn_open(struct pf_session *x, const struct pf_listener *l, struct crid_err *err)
{
	int fd = accept4(l->fd, NULL, NULL, SOCK_CLOEXEC);
	char port[8], request[16];
	struct crid_spdy_header h[3] = {
		{ "streamtype", "error", 10, 5 },
		{ "port", port, 4, 0 },
		{ "requestid", request, 9, 0 },
	};
	struct pf_conn *c = NULL;

	if (fd < 0)
		return 0; /* the client went away already */
	for (size_t i = 0; i < MAX_CONNS && !c; i++)
		if (x->cs[i].fd < 0)
			c = &x->cs[i];
	if (!c) {
		fprintf(stderr, "cridctl: port-forward: too many connections, refusing one\n");
		close(fd);
		return 0;
	}
	printf("Handling connection for %u\n", l->local);
	fflush(stdout);
	memset(c, 0, sizeof(*c));
	c->fd = fd;
	c->local = l->local;
	c->remote = l->remote;
	h[1].value_len = (size_t)snprintf(port, sizeof(port), "%u", l->remote);
	h[2].value_len = (size_t)snprintf(request, sizeof(request), "%u", x->next_request++);
	c->error_id = cridctl_spdy_open(&x->conn, h, 3, err);
	if (!c->error_id || cridctl_spdy_send(&x->conn, c->error_id, NULL, 0, true, err) < 0)
		return -1;
	h[0].value = "data";
	h[0].value_len = 4;
	c->data_id = cridctl_spdy_open(&x->conn, h, 3, err);
	return c->data_id ? 0 : -1;
}

static struct pf_conn *conn_of(struct pf_session *x, uint32_t id, bool *is_error)
{
	for (size_t i = 0; i < MAX_CONNS; i++) {
		struct pf_conn *c = &x->cs[i];

		if (c->fd >= 0 && (c->data_id == id || c->error_id == id)) {
			*is_error = c->error_id == id;
			return c;
		}
	}
	return NULL;
}

static void write_all(struct pf_conn *c, const uint8_t *p, size_t n)
{
	while (n > 0) {
		ssize_t w = send(c->fd, p, n, MSG_NOSIGNAL);

		if (w < 0 && errno == EINTR)
			continue;
		if (w < 0) {
			c->remote_fin = c->local_eof = true; /* the local side is gone */
			return;
		}
		p += w;
		n -= (size_t)w;
	}
}

static int on_frame(void *user, const struct crid_spdy_frame *f)
{
	struct pf_session *x = user;
	bool is_error;
	struct pf_conn *c = conn_of(x, f->stream_id, &is_error);

	if (!c || (f->type != CRID_SPDY_DATA && f->type != CRID_SPDY_RST_STREAM))
		return 0;
	if (f->type == CRID_SPDY_RST_STREAM) {
		if (!is_error) {
			c->remote_fin = c->local_eof = true;
			conn_close(x, c);
		}
		return 0;
	}
	if (is_error) {
		size_t n = f->len < sizeof(c->error) - 1 - c->error_len
			       ? f->len
			       : sizeof(c->error) - 1 - c->error_len;

		memcpy(c->error + c->error_len, f->data, n);
		c->error_len += n;
		if (f->last_piece && (f->flags & CRID_SPDY_FLAG_FIN) && c->error_len) {
			size_t len = c->error_len;

			while (len && (c->error[len - 1] == '\n' || c->error[len - 1] == '\r'))
				len--; /* newer servers end their JSON with json.Encoder's newline */
			fprintf(stderr, "E an error occurred forwarding %u -> %u: %.*s\n", c->local,
				c->remote, (int)len, c->error);
			conn_close(x, c);
		}
		return 0;
	}
	if (f->len)
		write_all(c, f->data, f->len);
	if (f->last_piece && (f->flags & CRID_SPDY_FLAG_FIN)) {
		c->remote_fin = true;
		shutdown(c->fd, SHUT_WR);
	}
	if (c->remote_fin && c->local_eof)
		conn_close(x, c);
	return 0;
}

static int pump_local(struct pf_session *x, struct pf_conn *c, struct crid_err *err)
{
	uint8_t buf[32 << 10];
	ssize_t n = recv(c->fd, buf, sizeof(buf), 0);

	if (n < 0 && (errno == EINTR || errno == EAGAIN))
		return 0;
	if (n <= 0) {
		c->local_eof = true;
		if (cridctl_spdy_send(&x->conn, c->data_id, NULL, 0, true, err) < 0)
			return -1;
		if (c->remote_fin)
			conn_close(x, c);
		return 0;
	}
	return cridctl_spdy_send(&x->conn, c->data_id, buf, (size_t)n, false, err);
}

static int loop(struct pf_session *x, struct crid_err *err)
{
	struct pollfd p[1 + MAX_LISTENERS + MAX_CONNS];

	while (!x->conn.eof) {
		bool full = cridctl_spdy_queued(&x->conn) > CRIDCTL_SPDY_OUT_HIGH;
		size_t n = 1;

		p[0] = (struct pollfd){ .fd = x->conn.fd, .events = cridctl_spdy_events(&x->conn) };
		if (!p[0].events)
			break; /* a tunnel that wants nothing more: its WebSocket is closed */
		for (size_t i = 0; i < x->n_ls; i++)
			p[n++] = (struct pollfd){ .fd = x->ls[i].fd, .events = POLLIN };
		for (size_t i = 0; i < MAX_CONNS; i++)
			p[n++] =
			    (struct pollfd){ .fd = x->cs[i].local_eof || full ? -1 : x->cs[i].fd,
					     .events = POLLIN };
		if (poll(p, n, x->conn.in ? 0 : -1) < 0) {
			if (errno == EINTR)
				continue;
			return crid_err_set(err, errno, "poll");
		}
		if ((p[0].revents || x->conn.in) &&
		    cridctl_spdy_read(&x->conn, on_frame, x, err) < 0)
			return -1;
		for (size_t i = 0; i < x->n_ls; i++)
			if (p[1 + i].revents && conn_open(x, &x->ls[i], err) < 0)
				return -1;
		for (size_t i = 0; i < MAX_CONNS; i++)
			if (p[1 + x->n_ls + i].revents && x->cs[i].fd >= 0 &&
			    pump_local(x, &x->cs[i], err) < 0)
				return -1;
		if (cridctl_spdy_flush(&x->conn, err) < 0)
			return -1;
	}
	return crid_err_cause(err, ECONNRESET, "lost connection to pod");
}

int cridctl_stream_port_forward(const char *url, const struct cridctl_port_map *maps, size_t n,
				bool websocket)
{
	static const char *const protos[] = { "portforward.k8s.io" };
	struct pf_session *x = crid_calloc(1, sizeof(*x));
	struct crid_err err = { 0 };
	char proto[64];

	if (!x) {
		fprintf(stderr, "cridctl: port-forward: out of memory\n");
		return 1;
	}
	x->conn.fd = -1;
	for (size_t i = 0; i < MAX_CONNS; i++)
		x->cs[i].fd = -1;
	if ((websocket ? cridctl_spdy_dial_ws(&x->conn, url, 30000, &err)
		       : cridctl_spdy_dial(&x->conn, url, protos, 1, proto, sizeof(proto), 30000,
					   &err)) == 0 &&
	    add_listeners(x, maps, n, &err) == 0)
		loop(x, &err);
	fprintf(stderr, "cridctl: port-forward: %s\n", err.msg);
	for (size_t i = 0; i < x->n_ls; i++)
		close(x->ls[i].fd);
	for (size_t i = 0; i < MAX_CONNS; i++)
		if (x->cs[i].fd >= 0)
			close(x->cs[i].fd);
	cridctl_spdy_close(&x->conn);
	crid_free(x);
	return 1;
}
