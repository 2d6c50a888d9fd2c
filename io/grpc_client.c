/*
 * gRPC unary client over nghttp2 (see grpc_client.h). Wire format per
 * grpc/doc/PROTOCOL-HTTP2.md: a request is HEADERS (POST, te: trailers,
 * content-type: application/grpc, optional grpc-timeout) then one
 * length-prefixed message and END_STREAM; a response is HEADERS(:status 200),
 * DATA, trailers with grpc-status, or a single Trailers-Only HEADERS. Status
 * mapping of transport failures follows grpc-go (internal/transport).
 */
#include "io/grpc_client.h"

#include <errno.h>
#include <fcntl.h>
#include <poll.h>
#include <stdarg.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/un.h>
#include <time.h>
#include <unistd.h>

#include <nghttp2/nghttp2.h>

#include "reactor/mem.h"

#ifndef CRID_VERSION
#define CRID_VERSION "dev"
#endif

#define PREFIX_LEN CRID_GRPC_PREFIX_LEN
#define READ_CHUNK 65536
#define OUT_BATCH 65536
#define STREAM_WINDOW (1 << 20)
#define CONN_WINDOW (32 << 20)
#define DEFAULT_CONNECT_MS 5000

struct call {
	struct crid_grpc_client *c;
	struct call *prev, *next; /* in c->live or c->done */
	int32_t stream_id;
	uint64_t deadline_ns; /* 0 = none */
	crid_grpc_client_done_fn done;
	crid_grpc_client_message_fn on_message; /* server streaming; NULL for unary */
	void *user;

	uint8_t *req; /* framed request */
	size_t req_len, req_off;

	uint8_t *resp; /* raw DATA payload, still framed */
	size_t resp_len, resp_cap;

	int http_status;
	bool grpc_content_type;
	bool have_grpc_status;
	int grpc_status;
	char *grpc_message; /* raw, percent-encoded */
	uint32_t rst_code;

	bool local; /* a client-side verdict (deadline, size, transport) wins */
	int local_status;
	char local_msg[256];
};

struct call_list {
	struct call *head, *tail;
	size_t n;
};

struct crid_grpc_client {
	int fd;
	nghttp2_session *session;
	struct call_list live; /* started, not yet completed */
	struct call_list done; /* completed, callback not yet run */
	bool broken;
	char broken_msg[CRID_ERR_MSG_MAX];
	uint8_t *out; /* bytes from nghttp2 not yet written */
	size_t out_len, out_off, out_cap;
};

static uint64_t now_ns(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (uint64_t)ts.tv_sec * 1000000000u + (uint64_t)ts.tv_nsec;
}

static void list_push(struct call_list *l, struct call *call)
{
	call->next = NULL;
	call->prev = l->tail;
	if (l->tail)
		l->tail->next = call;
	else
		l->head = call;
	l->tail = call;
	l->n++;
}

static void list_remove(struct call_list *l, struct call *call)
{
	if (call->prev)
		call->prev->next = call->next;
	else
		l->head = call->next;
	if (call->next)
		call->next->prev = call->prev;
	else
		l->tail = call->prev;
	call->prev = call->next = NULL;
	l->n--;
}

static void call_free(struct call *call)
{
	crid_free(call->req);
	crid_free(call->resp);
	crid_free(call->grpc_message);
	crid_free(call);
}

/* Records the client-side verdict once; later causes do not overwrite the first. */
static void call_fail(struct call *call, int status, const char *fmt, ...)
    __attribute__((format(printf, 3, 4)));

static void call_fail(struct call *call, int status, const char *fmt, ...)
{
	va_list ap;

	if (call->local)
		return;
	va_start(ap, fmt);
	vsnprintf(call->local_msg, sizeof(call->local_msg), fmt, ap);
	va_end(ap);
	call->local = true;
	call->local_status = status;
}

/* Moves |call| from live to done, detaching it from its stream. */
static void call_finish(struct call *call)
{
	struct crid_grpc_client *c = call->c;

	if (call->stream_id > 0)
		nghttp2_session_set_stream_user_data(c->session, call->stream_id, NULL);
	list_remove(&c->live, call);
	list_push(&c->done, call);
}

static void set_broken(struct crid_grpc_client *c, int code, const char *fmt, ...)
    __attribute__((format(printf, 3, 4)));

static void set_broken(struct crid_grpc_client *c, int code, const char *fmt, ...)
{
	va_list ap;
	int n;

	if (c->broken)
		return;
	c->broken = true;
	va_start(ap, fmt);
	n = vsnprintf(c->broken_msg, sizeof(c->broken_msg), fmt, ap);
	va_end(ap);
	if (code > 0 && n >= 0 && (size_t)n < sizeof(c->broken_msg))
		snprintf(c->broken_msg + n, sizeof(c->broken_msg) - n, ": %s", strerror(code));
}

/* Completes every live call with |status| and the connection's failure. */
static void fail_live(struct crid_grpc_client *c, int status)
{
	while (c->live.head) {
		call_fail(c->live.head, status, "%s", c->broken_msg);
		call_finish(c->live.head);
	}
}

/* grpc-go's http2ErrConvTab: RST_STREAM error code -> gRPC status. */
static int rst_to_status(uint32_t code)
{
	switch (code) {
	case NGHTTP2_FLOW_CONTROL_ERROR:
	case NGHTTP2_ENHANCE_YOUR_CALM:
		return CRID_GRPC_RESOURCE_EXHAUSTED;
	case NGHTTP2_REFUSED_STREAM:
		return CRID_GRPC_UNAVAILABLE;
	case NGHTTP2_CANCEL:
		return CRID_GRPC_CANCELLED;
	case NGHTTP2_INADEQUATE_SECURITY:
		return CRID_GRPC_PERMISSION_DENIED;
	default:
		return CRID_GRPC_INTERNAL;
	}
}

/* grpc-go's HTTPStatusConvTab, used when :status is not 200. */
static int http_to_status(int http)
{
	switch (http) {
	case 400:
		return CRID_GRPC_INTERNAL;
	case 401:
		return CRID_GRPC_UNAUTHENTICATED;
	case 403:
		return CRID_GRPC_PERMISSION_DENIED;
	case 404:
		return CRID_GRPC_UNIMPLEMENTED;
	case 429:
	case 502:
	case 503:
	case 504:
		return CRID_GRPC_UNAVAILABLE;
	default:
		return CRID_GRPC_UNKNOWN;
	}
}

static uint32_t declared_len(const struct call *call)
{
	uint8_t flag;

	return crid_grpc_prefix_read(call->resp, &flag);
}

/* A unary response carries exactly one uncompressed length-prefixed message. */
static void check_framing(struct call *call)
{
	size_t body;

	if (call->resp_len < PREFIX_LEN) {
		call_fail(call, CRID_GRPC_INTERNAL, "%s",
			  call->resp_len ? "truncated response message"
					 : "server sent no response message");
		return;
	}
	if (call->resp[0] != 0) {
		call_fail(call, CRID_GRPC_INTERNAL,
			  "response compressed flag %u, but no compression was negotiated",
			  call->resp[0]);
		return;
	}
	body = call->resp_len - PREFIX_LEN;
	if (declared_len(call) > body)
		call_fail(call, CRID_GRPC_INTERNAL, "truncated response message");
	else if (declared_len(call) < body)
		call_fail(call, CRID_GRPC_INTERNAL,
			  "cardinality violation: more than one response message");
}

/* Turns what arrived into a verdict: a local failure, or grpc-status. */
static void judge(struct call *call)
{
	if (call->local)
		return;
	if (call->http_status != 0 && call->http_status != 200) {
		call_fail(call, http_to_status(call->http_status),
			  "unexpected HTTP status code received from server: %d",
			  call->http_status);
		return;
	}
	if (!call->have_grpc_status) {
		if (call->rst_code != NGHTTP2_NO_ERROR)
			call_fail(call, rst_to_status(call->rst_code),
				  "stream terminated by RST_STREAM with error code: %s",
				  nghttp2_http2_strerror(call->rst_code));
		else
			call_fail(call, CRID_GRPC_INTERNAL,
				  "server closed the stream without sending trailers");
		return;
	}
	if (call->grpc_status != CRID_GRPC_OK)
		return;
	if (!call->grpc_content_type) {
		call_fail(call, CRID_GRPC_INTERNAL, "malformed header: missing HTTP content-type");
		return;
	}
	if (!call->on_message)
		check_framing(call);
	else if (call->resp_len)
		call_fail(call, CRID_GRPC_INTERNAL, "truncated response message");
}

static void make_reply(struct call *call, struct crid_grpc_reply *r)
{
	judge(call);
	memset(r, 0, sizeof(*r));
	r->message = "";
	if (call->local) {
		r->status = call->local_status;
		r->message = call->local_msg;
		return;
	}
	r->status = call->grpc_status;
	if (call->grpc_message) {
		crid_grpc_percent_decode(call->grpc_message, strlen(call->grpc_message),
					 call->grpc_message);
		r->message = call->grpc_message;
	}
	if (r->status == CRID_GRPC_OK && !call->on_message) {
		r->data = call->resp + PREFIX_LEN;
		r->len = call->resp_len - PREFIX_LEN;
	}
}

/* Runs the callbacks of completed calls, outside any nghttp2 callback. */
static void dispatch_done(struct crid_grpc_client *c)
{
	struct crid_grpc_reply r;
	struct call *call;

	while ((call = c->done.head)) {
		list_remove(&c->done, call);
		make_reply(call, &r);
		call->done(call->user, &r);
		call_free(call);
	}
}

/* --- nghttp2 callbacks ------------------------------------------------- */

static bool name_is(const uint8_t *name, size_t len, const char *want)
{
	return len == strlen(want) && memcmp(name, want, len) == 0;
}

static void on_grpc_status(struct call *call, const uint8_t *value, size_t len)
{
	int v = 0;

	call->have_grpc_status = true;
	for (size_t i = 0; i < len; i++) {
		if (value[i] < '0' || value[i] > '9' || i >= 9) {
			call_fail(call, CRID_GRPC_INTERNAL, "malformed grpc-status %.*s", (int)len,
				  value);
			return;
		}
		v = v * 10 + (value[i] - '0');
	}
	if (len == 0)
		call_fail(call, CRID_GRPC_INTERNAL, "malformed grpc-status: empty");
	call->grpc_status = v;
}

static int on_header(nghttp2_session *s, const nghttp2_frame *frame, const uint8_t *name,
		     size_t namelen, const uint8_t *value, size_t valuelen, uint8_t flags,
		     void *user)
{
	struct call *call;

	(void)flags;
	(void)user;
	if (frame->hd.type != NGHTTP2_HEADERS)
		return 0;
	call = nghttp2_session_get_stream_user_data(s, frame->hd.stream_id);
	if (!call)
		return 0;
	if (name_is(name, namelen, ":status")) {
		call->http_status = (int)strtol((const char *)value, NULL, 10);
	} else if (name_is(name, namelen, "content-type")) {
		/* application/grpc, application/grpc+proto, application/grpc;... */
		call->grpc_content_type = valuelen >= 16 &&
					  !memcmp(value, "application/grpc", 16) &&
					  (valuelen == 16 || value[16] == '+' || value[16] == ';');
	} else if (name_is(name, namelen, "grpc-status")) {
		on_grpc_status(call, value, valuelen);
	} else if (name_is(name, namelen, "grpc-message")) {
		crid_free(call->grpc_message);
		call->grpc_message = crid_strndup((const char *)value, valuelen);
	}
	return 0;
}

/* Appends response bytes; caps memory at one maximal message. */
static int append_resp(struct call *call, const uint8_t *data, size_t len)
{
	size_t need = call->resp_len + len;
	size_t cap = call->resp_cap ? call->resp_cap : 1024;
	uint8_t *p;

	if (need > PREFIX_LEN + CRID_GRPC_CLIENT_MAX_RECV) {
		call_fail(call, CRID_GRPC_RESOURCE_EXHAUSTED,
			  "response larger than the maximum of %u bytes",
			  CRID_GRPC_CLIENT_MAX_RECV);
		return -1;
	}
	if (need > call->resp_cap) {
		while (cap < need)
			cap *= 2;
		if (cap > PREFIX_LEN + CRID_GRPC_CLIENT_MAX_RECV)
			cap = PREFIX_LEN + CRID_GRPC_CLIENT_MAX_RECV;
		p = crid_realloc(call->resp, cap);
		if (!p) {
			call_fail(call, CRID_GRPC_RESOURCE_EXHAUSTED,
				  "out of memory receiving %zu bytes", need);
			return -1;
		}
		call->resp = p;
		call->resp_cap = cap;
	}
	memcpy(call->resp + call->resp_len, data, len);
	call->resp_len = need;
	return 0;
}

/* Server streaming: hands each complete message over and keeps the rest. */
static void deliver_messages(struct call *call)
{
	size_t off = 0;

	while (call->resp_len - off >= PREFIX_LEN) {
		uint8_t flag;
		uint32_t n = crid_grpc_prefix_read(call->resp + off, &flag);

		if (call->resp_len - off - PREFIX_LEN < n)
			break;
		if (flag != 0) {
			call_fail(call, CRID_GRPC_INTERNAL,
				  "response compressed flag %u, but no compression was negotiated",
				  flag);
			return;
		}
		call->on_message(call->user, call->resp + off + PREFIX_LEN, n);
		off += PREFIX_LEN + n;
	}
	memmove(call->resp, call->resp + off, call->resp_len - off);
	call->resp_len -= off;
}

static int on_data_chunk(nghttp2_session *s, uint8_t flags, int32_t stream_id, const uint8_t *data,
			 size_t len, void *user)
{
	struct call *call = nghttp2_session_get_stream_user_data(s, stream_id);

	(void)flags;
	(void)user;
	if (!call || call->local)
		return 0;
	if (append_resp(call, data, len) == 0 && call->resp_len >= PREFIX_LEN &&
	    declared_len(call) > CRID_GRPC_CLIENT_MAX_RECV)
		call_fail(call, CRID_GRPC_RESOURCE_EXHAUSTED,
			  "grpc: received message larger than max (%u vs. %u)", declared_len(call),
			  CRID_GRPC_CLIENT_MAX_RECV);
	if (!call->local && call->on_message)
		deliver_messages(call);
	if (call->local)
		nghttp2_submit_rst_stream(s, NGHTTP2_FLAG_NONE, stream_id, NGHTTP2_CANCEL);
	return 0;
}

static int on_stream_close(nghttp2_session *s, int32_t stream_id, uint32_t error_code, void *user)
{
	struct call *call = nghttp2_session_get_stream_user_data(s, stream_id);

	(void)user;
	if (!call)
		return 0;
	call->rst_code = error_code;
	call_finish(call);
	return 0;
}

static struct call *find_live(struct crid_grpc_client *c, int32_t stream_id)
{
	for (struct call *call = c->live.head; call; call = call->next)
		if (call->stream_id == stream_id)
			return call;
	return NULL;
}

/* A request HEADERS that could not be sent (GOAWAY...) never opens a stream. */
static int on_frame_not_send(nghttp2_session *s, const nghttp2_frame *frame, int lib_error,
			     void *user)
{
	struct crid_grpc_client *c = user;
	struct call *call;

	(void)s;
	if (frame->hd.type != NGHTTP2_HEADERS)
		return 0;
	call = find_live(c, frame->hd.stream_id);
	if (!call)
		return 0;
	call_fail(call, CRID_GRPC_UNAVAILABLE, "request not sent: %s", nghttp2_strerror(lib_error));
	call_finish(call);
	return 0;
}

static ssize_t read_request(nghttp2_session *s, int32_t stream_id, uint8_t *buf, size_t len,
			    uint32_t *flags, nghttp2_data_source *src, void *user)
{
	struct call *call = nghttp2_session_get_stream_user_data(s, stream_id);
	size_t n;

	(void)src;
	(void)user;
	if (!call)
		return NGHTTP2_ERR_TEMPORAL_CALLBACK_FAILURE;
	n = call->req_len - call->req_off;
	if (n > len)
		n = len;
	memcpy(buf, call->req + call->req_off, n);
	call->req_off += n;
	if (call->req_off == call->req_len)
		*flags |= NGHTTP2_DATA_FLAG_EOF;
	return (ssize_t)n;
}

/* --- I/O ----------------------------------------------------------------- */

static int out_reserve(struct crid_grpc_client *c, size_t more)
{
	size_t cap = c->out_cap ? c->out_cap : OUT_BATCH;
	uint8_t *p;

	if (c->out_len + more <= c->out_cap)
		return 0;
	while (cap < c->out_len + more)
		cap *= 2;
	p = crid_realloc(c->out, cap);
	if (!p)
		return -1;
	c->out = p;
	c->out_cap = cap;
	return 0;
}

/* Collects what nghttp2 wants to send into one buffer, so one write carries many frames. */
static int fill(struct crid_grpc_client *c)
{
	const uint8_t *p;
	ssize_t n;

	c->out_off = c->out_len = 0;
	while (c->out_len < OUT_BATCH) {
		n = nghttp2_session_mem_send(c->session, &p);
		if (n < 0) {
			set_broken(c, 0, "http2: %s", nghttp2_strerror((int)n));
			return -1;
		}
		if (n == 0)
			break;
		if (out_reserve(c, (size_t)n) < 0) {
			set_broken(c, ENOMEM, "send buffer");
			return -1;
		}
		memcpy(c->out + c->out_len, p, (size_t)n);
		c->out_len += (size_t)n;
	}
	return 0;
}

/* Writes until the socket would block or nothing is left. */
static int flush(struct crid_grpc_client *c)
{
	ssize_t n;

	for (;;) {
		if (c->out_off == c->out_len && fill(c) < 0)
			return -1;
		if (c->out_off == c->out_len)
			return 0;
		n = send(c->fd, c->out + c->out_off, c->out_len - c->out_off, MSG_NOSIGNAL);
		if (n < 0 && errno == EINTR)
			continue;
		if (n < 0 && (errno == EAGAIN || errno == EWOULDBLOCK))
			return 0;
		if (n < 0) {
			set_broken(c, errno, "write");
			return -1;
		}
		c->out_off += (size_t)n;
	}
}

/* Reads what is available (bounded, so deadlines still get checked) into nghttp2. */
static void receive(struct crid_grpc_client *c)
{
	uint8_t buf[READ_CHUNK];
	ssize_t n, rv;

	for (int i = 0; i < 16 && !c->broken; i++) {
		n = read(c->fd, buf, sizeof(buf));
		if (n < 0 && errno == EINTR)
			continue;
		if (n < 0 && (errno == EAGAIN || errno == EWOULDBLOCK))
			return;
		if (n < 0) {
			set_broken(c, errno, "read");
			return;
		}
		if (n == 0) {
			set_broken(c, 0, "connection closed by the server");
			return;
		}
		rv = nghttp2_session_mem_recv(c->session, buf, (size_t)n);
		if (rv < 0)
			set_broken(c, 0, "http2: %s", nghttp2_strerror((int)rv));
		if ((size_t)n < sizeof(buf))
			return;
	}
}

/* Fails calls whose deadline has passed and resets their streams. */
static void expire(struct crid_grpc_client *c, uint64_t now)
{
	struct call *call = c->live.head, *next;

	for (; call; call = next) {
		next = call->next;
		if (!call->deadline_ns || call->deadline_ns > now)
			continue;
		call_fail(call, CRID_GRPC_DEADLINE_EXCEEDED, "context deadline exceeded");
		nghttp2_submit_rst_stream(c->session, NGHTTP2_FLAG_NONE, call->stream_id,
					  NGHTTP2_CANCEL);
		call_finish(call);
	}
}

/* Milliseconds until the nearest deadline, -1 when none. */
static int poll_timeout(const struct crid_grpc_client *c, uint64_t now)
{
	uint64_t first = 0;

	for (const struct call *call = c->live.head; call; call = call->next)
		if (call->deadline_ns && (!first || call->deadline_ns < first))
			first = call->deadline_ns;
	if (!first)
		return -1;
	if (first <= now)
		return 0;
	if (first - now > (uint64_t)INT32_MAX * 1000000u)
		return INT32_MAX;
	return (int)((first - now + 999999u) / 1000000u);
}

/* One round: write, wait, read, expire. Failures mark the connection broken. */
static void step(struct crid_grpc_client *c)
{
	struct pollfd pfd = { .fd = c->fd, .events = POLLIN };
	int n;

	if (flush(c) < 0)
		return;
	if (c->done.n || !c->live.n) /* sending can complete calls (RST_STREAM closes a stream) */
		return;
	if (c->out_off < c->out_len)
		pfd.events |= POLLOUT;
	n = poll(&pfd, 1, poll_timeout(c, now_ns()));
	if (n < 0 && errno != EINTR) {
		set_broken(c, errno, "poll");
		return;
	}
	if (n > 0 && (pfd.revents & (POLLIN | POLLHUP | POLLERR)))
		receive(c);
	expire(c, now_ns());
	if (!c->broken && !nghttp2_session_want_read(c->session) &&
	    !nghttp2_session_want_write(c->session) && c->out_off == c->out_len)
		set_broken(c, 0, "connection closed by the server (GOAWAY)");
}

/* --- connection ------------------------------------------------------------ */

static void *mem_malloc(size_t n, void *u)
{
	(void)u;
	return crid_malloc(n);
}

static void mem_free(void *p, void *u)
{
	(void)u;
	crid_free(p);
}

static void *mem_calloc(size_t n, size_t size, void *u)
{
	(void)u;
	return crid_calloc(n, size);
}

static void *mem_realloc(void *p, size_t n, void *u)
{
	(void)u;
	return crid_realloc(p, n);
}

static nghttp2_mem h2_mem = { NULL, mem_malloc, mem_free, mem_calloc, mem_realloc };

/* "unix:///a", "unix:a" or "/a" -> "/a"; NULL for other schemes. */
static const char *endpoint_path(const char *endpoint)
{
	if (strncmp(endpoint, "unix://", 7) == 0)
		return endpoint + 7;
	if (strncmp(endpoint, "unix:", 5) == 0)
		return endpoint + 5;
	if (strstr(endpoint, "://"))
		return NULL;
	return endpoint;
}

/* A non-blocking AF_UNIX connect fails with EAGAIN on a full backlog: retry until the deadline. */
static int dial(const char *path, int timeout_ms, struct crid_err *err)
{
	struct sockaddr_un sa = { .sun_family = AF_UNIX };
	uint64_t deadline = now_ns() + (uint64_t)timeout_ms * 1000000u;
	struct timespec pause = { 0, 1000000 };
	size_t len = strlen(path);
	int fd, e;

	if (len == 0 || len >= sizeof(sa.sun_path))
		return crid_err_set(err, len ? ENAMETOOLONG : EINVAL, "dial unix %s", path);
	memcpy(sa.sun_path, path, len + 1);
	fd = socket(AF_UNIX, SOCK_STREAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0);
	if (fd < 0)
		return crid_err_set(err, errno, "dial unix %s: socket", path);
	while (connect(fd, (struct sockaddr *)&sa, sizeof(sa)) < 0) {
		e = errno;
		if (e == EINTR || (e == EAGAIN && now_ns() < deadline)) {
			nanosleep(&pause, NULL);
			continue;
		}
		close(fd);
		return crid_err_set(err, e == EAGAIN ? ETIMEDOUT : e, "dial unix %s: connect",
				    path);
	}
	return fd;
}

static int session_new(struct crid_grpc_client *c, struct crid_err *err)
{
	nghttp2_settings_entry iv[] = {
		{ NGHTTP2_SETTINGS_ENABLE_PUSH, 0 },
		{ NGHTTP2_SETTINGS_INITIAL_WINDOW_SIZE, STREAM_WINDOW },
	};
	nghttp2_session_callbacks *cbs;
	int rv;

	rv = nghttp2_session_callbacks_new(&cbs);
	if (rv != 0)
		return crid_err_set(err, ENOMEM, "http2 callbacks");
	nghttp2_session_callbacks_set_on_header_callback(cbs, on_header);
	nghttp2_session_callbacks_set_on_data_chunk_recv_callback(cbs, on_data_chunk);
	nghttp2_session_callbacks_set_on_stream_close_callback(cbs, on_stream_close);
	nghttp2_session_callbacks_set_on_frame_not_send_callback(cbs, on_frame_not_send);
	rv = nghttp2_session_client_new3(&c->session, cbs, c, NULL, &h2_mem);
	nghttp2_session_callbacks_del(cbs);
	if (rv != 0)
		return crid_err_set(err, 0, "http2 session: %s", nghttp2_strerror(rv));
	rv = nghttp2_submit_settings(c->session, NGHTTP2_FLAG_NONE, iv, sizeof(iv) / sizeof(iv[0]));
	if (rv == 0)
		rv = nghttp2_session_set_local_window_size(c->session, NGHTTP2_FLAG_NONE, 0,
							   CONN_WINDOW);
	if (rv != 0)
		return crid_err_set(err, 0, "http2 settings: %s", nghttp2_strerror(rv));
	return 0;
}

int crid_grpc_client_connect(const char *endpoint, int timeout_ms, struct crid_grpc_client **out,
			     struct crid_err *err)
{
	const char *path = endpoint_path(endpoint);
	struct crid_grpc_client *c;

	if (!path)
		return crid_err_set(err, EINVAL, "endpoint `%s`: want unix:///path or /path",
				    endpoint);
	c = crid_calloc(1, sizeof(*c));
	if (!c)
		return crid_err_set(err, ENOMEM, "grpc client");
	c->fd = dial(path, timeout_ms > 0 ? timeout_ms : DEFAULT_CONNECT_MS, err);
	if (c->fd < 0)
		goto free_client;
	if (session_new(c, err) < 0)
		goto close_fd;
	if (flush(c) < 0) {
		crid_err_set(err, 0, "%s", c->broken_msg);
		goto close_fd;
	}
	*out = c;
	return 0;

close_fd:
	nghttp2_session_del(c->session);
	close(c->fd);
free_client:
	crid_free(c->out);
	crid_free(c);
	return -1;
}

void crid_grpc_client_close(struct crid_grpc_client *c)
{
	if (!c)
		return;
	set_broken(c, 0, "grpc: the client connection is closing");
	fail_live(c, CRID_GRPC_CANCELLED);
	dispatch_done(c);
	nghttp2_session_del(c->session);
	close(c->fd);
	crid_free(c->out);
	crid_free(c);
}

size_t crid_grpc_client_in_flight(const struct crid_grpc_client *c)
{
	return c->live.n + c->done.n;
}

/* --- calls ----------------------------------------------------------------- */

static nghttp2_nv nv(const char *name, const char *value)
{
	nghttp2_nv h = { (uint8_t *)name, (uint8_t *)value, strlen(name), strlen(value),
			 NGHTTP2_NV_FLAG_NONE };
	return h;
}

static int32_t submit(struct crid_grpc_client *c, struct call *call, const char *method,
		      int timeout_ms)
{
	nghttp2_data_provider prd = { .source.ptr = call, .read_callback = read_request };
	char timeout[10];
	nghttp2_nv h[8];
	size_t n = 0;

	h[n++] = nv(":method", "POST");
	h[n++] = nv(":scheme", "http");
	h[n++] = nv(":path", method);
	h[n++] = nv(":authority", "localhost");
	h[n++] = nv("content-type", "application/grpc");
	h[n++] = nv("user-agent", "grpc-c-crid/" CRID_VERSION);
	h[n++] = nv("te", "trailers");
	if (timeout_ms > 0) {
		crid_grpc_timeout_format((int64_t)timeout_ms * 1000000, timeout);
		h[n++] = nv("grpc-timeout", timeout);
	}
	return nghttp2_submit_request(c->session, NULL, h, n, &prd, call);
}

static struct call *call_new(struct crid_grpc_client *c, const void *req, size_t len)
{
	struct call *call = crid_calloc(1, sizeof(*call));

	if (!call)
		return NULL;
	call->req = crid_malloc(PREFIX_LEN + len);
	if (!call->req) {
		crid_free(call);
		return NULL;
	}
	call->c = c;
	crid_grpc_prefix_write(call->req, 0, (uint32_t)len);
	if (len)
		memcpy(call->req + PREFIX_LEN, req, len);
	call->req_len = PREFIX_LEN + len;
	return call;
}

int crid_grpc_client_start(struct crid_grpc_client *c, const char *method, const void *req,
			   size_t len, int timeout_ms, crid_grpc_client_done_fn done, void *user,
			   struct crid_err *err)
{
	return crid_grpc_client_start_stream(c, method, req, len, timeout_ms, NULL, done, user,
					     err);
}

int crid_grpc_client_start_stream(struct crid_grpc_client *c, const char *method, const void *req,
				  size_t len, int timeout_ms,
				  crid_grpc_client_message_fn on_message,
				  crid_grpc_client_done_fn done, void *user, struct crid_err *err)
{
	struct call *call;
	int32_t id;

	if (c->broken)
		return crid_err_set(err, 0, "%s", c->broken_msg);
	if (len > CRID_GRPC_CLIENT_MAX_RECV)
		return crid_err_set(err, EMSGSIZE, "%s: request of %zu bytes", method, len);
	call = call_new(c, req, len);
	if (!call)
		return crid_err_set(err, ENOMEM, "%s", method);
	call->done = done;
	call->on_message = on_message;
	call->user = user;
	if (timeout_ms > 0)
		call->deadline_ns = now_ns() + (uint64_t)timeout_ms * 1000000u;
	id = submit(c, call, method, timeout_ms);
	if (id < 0) {
		call_free(call);
		return crid_err_set(err, 0, "%s: %s", method, nghttp2_strerror(id));
	}
	call->stream_id = id;
	list_push(&c->live, call);
	return 0;
}

int crid_grpc_client_pump(struct crid_grpc_client *c, struct crid_err *err)
{
	for (;;) {
		dispatch_done(c);
		if (!c->live.n)
			break;
		if (c->broken)
			fail_live(c, CRID_GRPC_UNAVAILABLE);
		else
			step(c);
	}
	if (!c->broken)
		flush(c); /* best effort: RST_STREAM, WINDOW_UPDATE */
	if (c->broken)
		return crid_err_set(err, 0, "%s", c->broken_msg);
	return 0;
}

struct blocking {
	struct crid_grpc_result *res;
	bool oom;
};

static void on_blocking_done(void *user, const struct crid_grpc_reply *r)
{
	struct blocking *b = user;

	b->res->status = r->status;
	b->res->message = crid_strdup(r->message);
	if (r->data) {
		b->res->data = crid_malloc(r->len ? r->len : 1);
		if (b->res->data)
			memcpy(b->res->data, r->data, r->len);
		b->res->len = r->len;
	}
	b->oom = !b->res->message || (r->data && !b->res->data);
}

int crid_grpc_client_call(struct crid_grpc_client *c, const char *method, const void *req,
			  size_t len, int timeout_ms, struct crid_grpc_result *res,
			  struct crid_err *err)
{
	struct blocking b = { .res = res };

	memset(res, 0, sizeof(*res));
	if (crid_grpc_client_start(c, method, req, len, timeout_ms, on_blocking_done, &b, err) < 0)
		return -1;
	crid_grpc_client_pump(c, NULL); /* a broken connection completes the call too */
	if (b.oom) {
		crid_grpc_result_free(res);
		return crid_err_set(err, ENOMEM, "%s: response", method);
	}
	return 0;
}

void crid_grpc_result_free(struct crid_grpc_result *res)
{
	crid_free(res->message);
	crid_free(res->data);
	memset(res, 0, sizeof(*res));
}
