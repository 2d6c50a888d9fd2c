/*
 * cridctl's streaming client (stream_client.h): URL, the HTTP/1.1 Upgrade to
 * SPDY/3.1 (client-go transport/spdy: SpdyRoundTripper and Negotiate), and a
 * SPDY connection with an outbound queue for a poll() loop. Frames go
 * through io/spdy.h; the response head through picohttpparser.
 */
#include <errno.h>
#include <fcntl.h>
#include <netdb.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <poll.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <sys/random.h>
#include <sys/socket.h>
#include <time.h>
#include <unistd.h>

#include <openssl/evp.h>
#include <yajl/yajl_tree.h>

#include "cli/stream_client.h"
#include "io/ws.h"
#include "reactor/mem.h"

/* picohttpparser as libh2o exports it; Debian ships no header for it. */
struct phr_header {
	const char *name;
	size_t name_len;
	const char *value;
	size_t value_len;
};
int phr_parse_response(const char *buf, size_t len, int *minor_version, int *status,
		       const char **msg, size_t *msg_len, struct phr_header *headers,
		       size_t *num_headers, size_t last_len);

/* client-go's SPDY executor offers these (remotecommand.StreamProtocolV4Name...). */
const char *const cridctl_remotecmd_protocols[] = {
	"v4.channel.k8s.io",
	"v3.channel.k8s.io",
	"v2.channel.k8s.io",
	"channel.k8s.io",
};
const size_t cridctl_remotecmd_n_protocols = 4;

#define HEAD_MAX (16u << 10)
#define FRAME_CHUNK (32u << 10) /* DATA is split so one frame never holds the queue long */

int cridctl_url_parse(const char *url, struct cridctl_url *u, struct crid_err *err)
{
	const char *p = url, *host, *host_end, *port = NULL, *path;
	int n;

	memset(u, 0, sizeof(*u));
	if (strncmp(p, "https://", 8) == 0)
		return crid_err_invalid(err, "streaming url `%s`: https is not supported", url);
	if (strncmp(p, "http://", 7) == 0) {
		p += 7;
	} else if (*p == '/') {
		snprintf(u->host, sizeof(u->host), "127.0.0.1");
		snprintf(u->port, sizeof(u->port), "10250");
		n = snprintf(u->path, sizeof(u->path), "%s", p);
		if (n < 0 || (size_t)n >= sizeof(u->path))
			return crid_err_invalid(err, "streaming url `%s` is too long", url);
		return 0;
	} else {
		return crid_err_invalid(err, "streaming url `%s` is not an http url", url);
	}
	path = p + strcspn(p, "/?");
	if (*p == '[') { /* [v6]:port */
		host = p + 1;
		host_end = memchr(host, ']', (size_t)(path - host));
		if (!host_end)
			return crid_err_invalid(err, "streaming url `%s`: unclosed `[`", url);
		if (host_end[1] == ':')
			port = host_end + 2;
	} else {
		host = p;
		host_end = memchr(p, ':', (size_t)(path - p));
		if (host_end)
			port = host_end + 1;
		else
			host_end = path;
	}
	if (host_end == host || (size_t)(host_end - host) >= sizeof(u->host))
		return crid_err_invalid(err, "streaming url `%s` has a bad host", url);
	memcpy(u->host, host, (size_t)(host_end - host));
	if (port) {
		if (path == port || (size_t)(path - port) >= sizeof(u->port) ||
		    strspn(port, "0123456789") < (size_t)(path - port))
			return crid_err_invalid(err, "streaming url `%s` has a bad port", url);
		memcpy(u->port, port, (size_t)(path - port));
	} else {
		snprintf(u->port, sizeof(u->port), "80");
	}
	n = snprintf(u->path, sizeof(u->path), "%s%s", *path == '/' ? "" : "/", path);
	if (n < 0 || (size_t)n >= sizeof(u->path))
		return crid_err_invalid(err, "streaming url `%s` is too long", url);
	return 0;
}

size_t cridctl_upgrade_request(char *buf, size_t size, const struct cridctl_url *u,
			       const char *upgrade, const char *const *protos, size_t n)
{
	bool v6 = strchr(u->host, ':') != NULL;
	size_t len;
	int r;

	r = snprintf(buf, size,
		     "POST %s HTTP/1.1\r\nHost: %s%s%s:%s\r\nUser-Agent: cridctl\r\n"
		     "Content-Length: 0\r\nConnection: Upgrade\r\nUpgrade: %s\r\n",
		     u->path, v6 ? "[" : "", u->host, v6 ? "]" : "", u->port, upgrade);
	if (r < 0 || (size_t)r >= size)
		return 0;
	len = (size_t)r;
	for (size_t i = 0; i < n; i++) {
		r = snprintf(buf + len, size - len, "X-Stream-Protocol-Version: %s\r\n", protos[i]);
		if (r < 0 || (size_t)r >= size - len)
			return 0;
		len += (size_t)r;
	}
	if (size - len < 3)
		return 0;
	memcpy(buf + len, "\r\n", 3);
	return len + 2;
}

static const struct phr_header *find_header(const struct phr_header *h, size_t n, const char *name)
{
	for (size_t i = 0; i < n; i++)
		if (h[i].name_len == strlen(name) &&
		    strncasecmp(h[i].name, name, h[i].name_len) == 0)
			return &h[i];
	return NULL;
}

/* True when |h| holds |token| case-insensitively (a substring, as client-go's strings.Contains). */
static bool header_has(const struct phr_header *h, const char *token)
{
	size_t t = strlen(token);

	for (size_t i = 0; h && i + t <= h->value_len; i++)
		if (strncasecmp(h->value + i, token, t) == 0)
			return true;
	return false;
}

int cridctl_upgrade_response(const char *buf, size_t len, const char *upgrade, char *proto,
			     size_t proto_size, struct crid_err *err)
{
	struct phr_header h[32];
	size_t n = 32, msg_len, body_len;
	const struct phr_header *p;
	const char *msg, *body;
	int minor, status, head;

	head = phr_parse_response(buf, len, &minor, &status, &msg, &msg_len, h, &n, 0);
	if (head == -2)
		return len >= HEAD_MAX ? crid_err_invalid(err, "upgrade response head too large")
				       : 0;
	if (head < 0)
		return crid_err_invalid(err, "upgrade response is not http");
	if (status != 101) {
		body = buf + head;
		body_len = strcspn(body, "\r\n");
		body_len = body_len < len - (size_t)head ? body_len : len - (size_t)head;
		return crid_err_invalid(err, "unable to upgrade connection: %d %.*s%s%.*s", status,
					(int)msg_len, msg, body_len ? ": " : "", (int)body_len,
					body);
	}
	if (!header_has(find_header(h, n, "connection"), "upgrade") ||
	    !header_has(find_header(h, n, "upgrade"), upgrade))
		return crid_err_invalid(err,
					"unable to upgrade connection: the 101 response "
					"lacks `Connection: Upgrade` or `Upgrade: %s`",
					upgrade);
	p = find_header(h, n, "x-stream-protocol-version");
	snprintf(proto, proto_size, "%.*s", p ? (int)p->value_len : 0, p ? p->value : "");
	return head;
}

/* The ExitCode cause of a NonZeroExitCode status, -1 when there is none. */
static int status_exit_code(yajl_val doc)
{
	static const char *causes_path[] = { "details", "causes", NULL };
	static const char *reason_path[] = { "reason", NULL };
	static const char *message_path[] = { "message", NULL };
	yajl_val causes = yajl_tree_get(doc, causes_path, yajl_t_array);

	for (size_t i = 0; causes && i < causes->u.array.len; i++) {
		yajl_val c = causes->u.array.values[i];
		const char *r = YAJL_GET_STRING(yajl_tree_get(c, reason_path, yajl_t_string));
		const char *m = YAJL_GET_STRING(yajl_tree_get(c, message_path, yajl_t_string));
		char *end;
		long code;

		if (!r || !m || strcmp(r, "ExitCode") != 0)
			continue;
		code = strtol(m, &end, 10);
		if (end != m && !*end && code >= 0 && code <= 255)
			return (int)code;
	}
	return -1;
}

int cridctl_exec_status(const char *text, size_t len, bool v4, int *exit_code, char *msg,
			size_t msg_size)
{
	static const char *status_path[] = { "status", NULL };
	static const char *reason_path[] = { "reason", NULL };
	static const char *message_path[] = { "message", NULL };
	char buf[64 << 10], errbuf[128];
	const char *status, *reason, *message;
	yajl_val doc;
	int code;

	*exit_code = 0;
	msg[0] = '\0';
	if (len == 0)
		return 0;
	if (!v4 || len >= sizeof(buf)) {
		snprintf(msg, msg_size, "error executing remote command: %.*s", (int)len, text);
		return 1;
	}
	memcpy(buf, text, len);
	buf[len] = '\0';
	doc = yajl_tree_parse(buf, errbuf, sizeof(errbuf));
	if (!doc) {
		snprintf(msg, msg_size, "error stream protocol error: %.*s", (int)len, text);
		return 1;
	}
	status = YAJL_GET_STRING(yajl_tree_get(doc, status_path, yajl_t_string));
	reason = YAJL_GET_STRING(yajl_tree_get(doc, reason_path, yajl_t_string));
	message = YAJL_GET_STRING(yajl_tree_get(doc, message_path, yajl_t_string));
	if (status && strcmp(status, "Success") == 0) {
		yajl_tree_free(doc);
		return 0;
	}
	code = reason && strcmp(reason, "NonZeroExitCode") == 0 ? status_exit_code(doc) : -1;
	if (code >= 0) {
		*exit_code = code;
		yajl_tree_free(doc);
		return 0;
	}
	snprintf(msg, msg_size, "%s", message ? message : "remote command failed");
	yajl_tree_free(doc);
	return 1;
}

/* --- the connection ---------------------------------------------------------------- */

static int64_t now_ms(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (int64_t)ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
}

static int tcp_connect(const struct cridctl_url *u, struct crid_err *err)
{
	struct addrinfo hints = { .ai_socktype = SOCK_STREAM }, *res, *ai;
	int fd = -1, r, saved = 0;

	r = getaddrinfo(u->host, u->port, &hints, &res);
	if (r)
		return crid_err_cause(err, EHOSTUNREACH, "resolve `%s`: %s", u->host,
				      gai_strerror(r));
	for (ai = res; ai; ai = ai->ai_next) {
		fd = socket(ai->ai_family, ai->ai_socktype | SOCK_CLOEXEC, ai->ai_protocol);
		if (fd >= 0 && connect(fd, ai->ai_addr, ai->ai_addrlen) == 0)
			break;
		saved = errno;
		if (fd >= 0)
			close(fd);
		fd = -1;
	}
	freeaddrinfo(res);
	if (fd < 0)
		return crid_err_set(err, saved, "connect to %s:%s", u->host, u->port);
	r = 1;
	setsockopt(fd, IPPROTO_TCP, TCP_NODELAY, &r, sizeof(r));
	return fd;
}

/* Reads the response head through |check|; what follows it is handed back in *pre. */
static int read_head(int fd, cridctl_head_check_fn check, void *ctx, int timeout_ms, uint8_t **pre,
		     size_t *pre_len, struct crid_err *err)
{
	char *buf = crid_malloc(HEAD_MAX);
	int64_t deadline = now_ms() + timeout_ms;
	size_t len = 0;
	int head = 0;

	if (!buf)
		return crid_err_set(err, ENOMEM, "upgrade response");
	while (head == 0) {
		struct pollfd p = { .fd = fd, .events = POLLIN };
		int64_t left = deadline - now_ms();
		ssize_t n;

		if (left <= 0 || poll(&p, 1, (int)left) == 0) {
			head = crid_err_cause(err, ETIMEDOUT, "no upgrade response in %d ms",
					      timeout_ms);
			break;
		}
		n = read(fd, buf + len, HEAD_MAX - len);
		if (n < 0 && (errno == EINTR || errno == EAGAIN))
			continue;
		if (n <= 0) {
			head =
			    n < 0 ? crid_err_set(err, errno, "read upgrade response")
				  : crid_err_cause(err, ECONNRESET,
						   "connection closed before the upgrade response");
			break;
		}
		len += (size_t)n;
		head = check(buf, len, ctx, err);
	}
	if (head > 0 && len > (size_t)head) {
		memmove(buf, buf + head, len - (size_t)head);
		*pre = (uint8_t *)buf;
		*pre_len = len - (size_t)head;
		return 0;
	}
	crid_free(buf);
	return head < 0 ? -1 : 0;
}

int cridctl_stream_dial(const struct cridctl_url *u, const char *req, size_t len,
			cridctl_head_check_fn check, void *ctx, int timeout_ms, uint8_t **pre,
			size_t *pre_len, struct crid_err *err)
{
	int fd = tcp_connect(u, err);

	*pre = NULL;
	*pre_len = 0;
	if (fd < 0)
		return -1;
	/* the request is small: a fresh socket takes it whole */
	if (write(fd, req, len) != (ssize_t)len) {
		crid_err_set(err, errno, "send upgrade request");
		close(fd);
		return -1;
	}
	if (read_head(fd, check, ctx, timeout_ms, pre, pre_len, err) < 0) {
		close(fd);
		return -1;
	}
	fcntl(fd, F_SETFL, fcntl(fd, F_GETFL) | O_NONBLOCK);
	return fd;
}

struct spdy_check {
	char *proto;
	size_t proto_size;
};

static int spdy_check(const char *buf, size_t len, void *ctx, struct crid_err *err)
{
	struct spdy_check *c = ctx;

	return cridctl_upgrade_response(buf, len, "SPDY/3.1", c->proto, c->proto_size, err);
}

int cridctl_spdy_dial(struct cridctl_spdy *s, const char *url, const char *const *protos, size_t n,
		      char *proto, size_t proto_size, int timeout_ms, struct crid_err *err)
{
	struct spdy_check check = { proto, proto_size };
	struct cridctl_url u;
	char req[4096];
	size_t len;

	memset(s, 0, sizeof(*s));
	s->fd = -1;
	s->next_id = 1;
	if (cridctl_url_parse(url, &u, err) < 0)
		return -1;
	len = cridctl_upgrade_request(req, sizeof(req), &u, "SPDY/3.1", protos, n);
	if (!len)
		return crid_err_invalid(err, "streaming url `%s` is too long", url);
	s->codec = crid_spdy_codec_new(err);
	if (!s->codec)
		return -1;
	s->fd = cridctl_stream_dial(&u, req, len, spdy_check, &check, timeout_ms, &s->in,
				    &s->in_len, err);
	return s->fd < 0 ? -1 : 0;
}

void cridctl_spdy_close(struct cridctl_spdy *s)
{
	if (s->ws)
		crid_ws_free(s->ws);
	s->ws = NULL;
	if (s->fd >= 0)
		close(s->fd);
	s->fd = -1;
	crid_spdy_codec_free(s->codec);
	s->codec = NULL;
	crid_free(s->out);
	crid_free(s->in);
	s->out = s->in = NULL;
	s->out_len = s->out_off = s->out_cap = s->in_len = 0;
}

/* Room for |n| more bytes at the end of the queue. */
static uint8_t *reserve(struct cridctl_spdy *s, size_t n, struct crid_err *err)
{
	if (s->out_off && s->out_off == s->out_len)
		s->out_off = s->out_len = 0;
	if (s->out_len + n > s->out_cap) {
		size_t cap = s->out_cap ? s->out_cap : 4096;
		uint8_t *p;

		while (cap < s->out_len + n)
			cap *= 2;
		p = crid_realloc(s->out, cap);
		if (!p) {
			crid_err_set(err, ENOMEM, "spdy output queue");
			return NULL;
		}
		s->out = p;
		s->out_cap = cap;
	}
	return s->out + s->out_len;
}

uint32_t cridctl_spdy_open(struct cridctl_spdy *s, const struct crid_spdy_header *headers, size_t n,
			   struct crid_err *err)
{
	size_t size = 1024;
	uint8_t *p = reserve(s, size, err);
	ssize_t len;

	if (!p)
		return 0;
	len = crid_spdy_syn_stream(s->codec, p, size, s->next_id, 0, headers, n, err);
	if (len < 0)
		return 0;
	s->out_len += (size_t)len;
	s->next_id += 2;
	return s->next_id - 2;
}

int cridctl_spdy_send(struct cridctl_spdy *s, uint32_t id, const void *data, size_t len, bool fin,
		      struct crid_err *err)
{
	const uint8_t *d = data;

	do {
		size_t n = len < FRAME_CHUNK ? len : FRAME_CHUNK;
		uint8_t *p = reserve(s, 8 + n, err);

		if (!p)
			return -1;
		crid_spdy_data_head(p, id, fin && n == len ? CRID_SPDY_FLAG_FIN : 0, (uint32_t)n);
		if (n)
			memcpy(p + 8, d, n);
		s->out_len += 8 + n;
		d += n;
		len -= n;
	} while (len > 0);
	return 0;
}

int cridctl_spdy_reset(struct cridctl_spdy *s, uint32_t id, uint32_t status, struct crid_err *err)
{
	uint8_t *p = reserve(s, 16, err);

	if (!p)
		return -1;
	s->out_len += crid_spdy_rst_stream(p, id, status);
	return 0;
}

/* Tunnelled: what is queued becomes one binary message; wslay writes what the socket takes. */
static int flush_ws(struct cridctl_spdy *s, struct crid_err *err)
{
	if (s->out_len > s->out_off) {
		if (crid_ws_send(s->ws, CRID_WS_BINARY, NULL, 0, s->out + s->out_off,
				 s->out_len - s->out_off, err) < 0)
			return crid_err_wrap(err, "write to the streaming server");
		s->out_off = s->out_len = 0;
	}
	if (crid_ws_want_write(s->ws))
		crid_ws_on_writable(s->ws);
	return 0;
}

int cridctl_spdy_flush(struct cridctl_spdy *s, struct crid_err *err)
{
	if (s->ws)
		return flush_ws(s, err);
	while (s->out_off < s->out_len) {
		ssize_t n = send(s->fd, s->out + s->out_off, s->out_len - s->out_off, MSG_NOSIGNAL);

		if (n < 0 && errno == EINTR)
			continue;
		if (n < 0 && errno == EAGAIN)
			return 0;
		if (n < 0)
			return crid_err_set(err, errno, "write to the streaming server");
		s->out_off += (size_t)n;
	}
	s->out_off = s->out_len = 0;
	return 0;
}

int cridctl_spdy_drain(struct cridctl_spdy *s, int timeout_ms, struct crid_err *err)
{
	int64_t deadline = now_ms() + timeout_ms;

	while (cridctl_spdy_queued(s) > 0) {
		struct pollfd p = { .fd = s->fd, .events = POLLOUT };
		int64_t left = deadline - now_ms();

		if (left <= 0)
			return crid_err_cause(err, ETIMEDOUT, "streaming server takes no output");
		if (poll(&p, 1, (int)left) < 0 && errno != EINTR)
			return crid_err_set(err, errno, "poll");
		if (cridctl_spdy_flush(s, err) < 0)
			return -1;
	}
	return 0;
}

struct cridctl_spdy_read_ctx {
	struct cridctl_spdy *s;
	crid_spdy_frame_fn fn;
	void *user;
	int failed;
	bool error; /* tunnelled: |err| holds the first failure */
	struct crid_err err;
};

/* Echoes the server's PINGs (even ids: spdystream answers the other side's parity only). */
static int on_frame(void *user, const struct crid_spdy_frame *f)
{
	struct cridctl_spdy_read_ctx *c = user;

	if (f->type == CRID_SPDY_PING) {
		uint8_t *p;

		if (f->value % 2)
			return 0; /* an answer to a ping of ours: we send none */
		p = reserve(c->s, 12, NULL);
		if (!p)
			return c->failed = 1;
		c->s->out_len += crid_spdy_ping(p, f->value);
		return 0;
	}
	return c->fn(c->user, f);
}

static int feed(struct cridctl_spdy *s, const uint8_t *buf, size_t len,
		struct cridctl_spdy_read_ctx *c, struct crid_err *err)
{
	size_t off = 0;

	while (off < len) {
		ssize_t n = crid_spdy_feed(s->codec, buf + off, len - off, on_frame, c, err);

		if (n < 0)
			return crid_err_wrap(err, "streaming server");
		if (c->failed)
			return crid_err_set(err, ENOMEM, "spdy output queue");
		off += (size_t)n;
	}
	return 0;
}

int cridctl_spdy_read(struct cridctl_spdy *s, crid_spdy_frame_fn fn, void *user,
		      struct crid_err *err)
{
	struct cridctl_spdy_read_ctx c = { .s = s, .fn = fn, .user = user };
	uint8_t buf[64 << 10];
	ssize_t n;

	if (s->in) {
		uint8_t *in = s->in;
		int r = feed(s, in, s->in_len, &c, err);

		s->in = NULL;
		s->in_len = 0;
		crid_free(in);
		if (r < 0)
			return -1;
	}
	if (s->ws) { /* the messages are fed in on_ws_message */
		s->reading = &c;
		crid_ws_on_readable(s->ws);
		s->reading = NULL;
		return c.error ? crid_err_set(err, c.err.code, "%s", c.err.msg) : 0;
	}
	n = read(s->fd, buf, sizeof(buf));
	if (n < 0 && (errno == EAGAIN || errno == EINTR))
		return 0;
	if (n < 0)
		return crid_err_set(err, errno, "read from the streaming server");
	if (n == 0) {
		s->eof = true;
		return 0;
	}
	return feed(s, buf, (size_t)n, &c, err);
}

/* --- WebSocket handshake (RFC 6455 section 4.1, client-go's gorilla dialer) -------- */

size_t cridctl_ws_request(char *buf, size_t size, const struct cridctl_url *u, const char *key,
			  const char *const *protos, size_t n)
{
	bool v6 = strchr(u->host, ':') != NULL;
	size_t len;
	int r;

	r = snprintf(buf, size,
		     "GET %s HTTP/1.1\r\nHost: %s%s%s:%s\r\nUser-Agent: cridctl\r\n"
		     "Upgrade: websocket\r\nConnection: Upgrade\r\nSec-WebSocket-Key: %s\r\n"
		     "Sec-WebSocket-Version: 13\r\nSec-WebSocket-Protocol: ",
		     u->path, v6 ? "[" : "", u->host, v6 ? "]" : "", u->port, key);
	if (r < 0 || (size_t)r >= size)
		return 0;
	len = (size_t)r;
	for (size_t i = 0; i < n; i++) {
		r = snprintf(buf + len, size - len, "%s%s", i ? ", " : "", protos[i]);
		if (r < 0 || (size_t)r >= size - len)
			return 0;
		len += (size_t)r;
	}
	if (size - len < 5)
		return 0;
	memcpy(buf + len, "\r\n\r\n", 5);
	return len + 4;
}

int cridctl_ws_response(const char *buf, size_t len, const char *key, char *proto,
			size_t proto_size, struct crid_err *err)
{
	struct phr_header h[32];
	size_t n = 32, msg_len;
	const struct phr_header *accept, *p;
	const char *msg;
	char want[29];
	int minor, status, head;

	head = phr_parse_response(buf, len, &minor, &status, &msg, &msg_len, h, &n, 0);
	if (head == -2)
		return len >= HEAD_MAX ? crid_err_invalid(err, "upgrade response head too large")
				       : 0;
	if (head < 0)
		return crid_err_invalid(err, "upgrade response is not http");
	if (status != 101) {
		const char *body = buf + head;
		size_t body_len = strcspn(body, "\r\n");

		body_len = body_len < len - (size_t)head ? body_len : len - (size_t)head;
		return crid_err_invalid(err, "websocket handshake refused: %d %.*s%s%.*s", status,
					(int)msg_len, msg, body_len ? ": " : "", (int)body_len,
					body);
	}
	crid_ws_accept_key(key, strlen(key), want);
	accept = find_header(h, n, "sec-websocket-accept");
	if (!header_has(find_header(h, n, "upgrade"), "websocket") || !accept ||
	    accept->value_len != 28 || memcmp(accept->value, want, 28) != 0)
		return crid_err_invalid(err, "websocket handshake: bad Upgrade or "
					     "Sec-WebSocket-Accept in the 101 response");
	p = find_header(h, n, "sec-websocket-protocol");
	snprintf(proto, proto_size, "%.*s", p ? (int)p->value_len : 0, p ? p->value : "");
	return head;
}

int cridctl_ws_key(char out[25])
{
	uint8_t raw[16];

	if (getrandom(raw, sizeof(raw), 0) != (ssize_t)sizeof(raw))
		return -1;
	EVP_EncodeBlock((unsigned char *)out, raw, sizeof(raw));
	return 0;
}

/* --- SPDY in WebSocket messages ------------------------------------------------------ */

static void on_ws_message(void *user, int opcode, const uint8_t *data, size_t len)
{
	struct cridctl_spdy *s = user;
	struct cridctl_spdy_read_ctx *c = s->reading;

	if (opcode != CRID_WS_BINARY || !c || c->error)
		return;
	if (feed(s, data, len, c, &c->err) < 0)
		c->error = true;
}

static void on_ws_closed(void *user, uint16_t code)
{
	struct cridctl_spdy *s = user;

	(void)code;
	s->eof = true;
}

struct tunnel_check {
	const char *key;
	char proto[64];
};

static int tunnel_check(const char *buf, size_t len, void *ctx, struct crid_err *err)
{
	struct tunnel_check *c = ctx;
	int head = cridctl_ws_response(buf, len, c->key, c->proto, sizeof(c->proto), err);

	if (head > 0 && strcasecmp(c->proto, CRIDCTL_SPDY_TUNNEL_PROTOCOL) != 0)
		return crid_err_invalid(err, "websocket handshake: subprotocol `%s`, want %s",
					c->proto, CRIDCTL_SPDY_TUNNEL_PROTOCOL);
	return head;
}

int cridctl_spdy_dial_ws(struct cridctl_spdy *s, const char *url, int timeout_ms,
			 struct crid_err *err)
{
	static const char *const protos[] = { CRIDCTL_SPDY_TUNNEL_PROTOCOL };
	static const struct crid_ws_cbs cbs = { on_ws_message, on_ws_closed };
	char key[25], req[4096];
	struct tunnel_check check = { key, "" };
	struct cridctl_url u;
	uint8_t *pre;
	size_t len, pre_len;

	memset(s, 0, sizeof(*s));
	s->fd = -1;
	s->next_id = 1;
	if (cridctl_url_parse(url, &u, err) < 0)
		return -1;
	if (cridctl_ws_key(key) < 0)
		return crid_err_set(err, errno, "websocket key");
	len = cridctl_ws_request(req, sizeof(req), &u, key, protos, 1);
	if (!len)
		return crid_err_invalid(err, "streaming url `%s` is too long", url);
	s->codec = crid_spdy_codec_new(err);
	if (!s->codec)
		return -1;
	s->fd = cridctl_stream_dial(&u, req, len, tunnel_check, &check, timeout_ms, &pre, &pre_len,
				    err);
	if (s->fd < 0)
		return -1;
	s->ws = crid_ws_new(s->fd, true, pre, pre_len, &cbs, s, err);
	crid_free(pre);
	return s->ws ? 0 : -1;
}

short cridctl_spdy_events(const struct cridctl_spdy *s)
{
	short ev = 0;

	if (!s->ws)
		return (short)(POLLIN | (s->out_len > s->out_off ? POLLOUT : 0));
	if (crid_ws_want_read(s->ws))
		ev |= POLLIN;
	if (crid_ws_want_write(s->ws) || s->out_len > s->out_off)
		ev |= POLLOUT;
	return ev;
}

size_t cridctl_spdy_queued(const struct cridctl_spdy *s)
{
	return s->out_len - s->out_off + (s->ws ? crid_ws_queued(s->ws) : 0);
}
