/*
 * gRPC over HTTP/2 (grpc doc/PROTOCOL-HTTP2.md) on nghttp2's I/O-free
 * session: bytes read from the socket go into nghttp2_session_mem_recv(),
 * frames to send come out of nghttp2_session_mem_send() and are written
 * once per loop iteration from a before-sleep hook, so a burst of replies
 * produced in one iteration leaves in one write.
 */
#include "io/grpc_server.h"

#include <errno.h>
#include <nghttp2/nghttp2.h>
#include <stdbool.h>
#include <stdio.h>
#include <string.h>
#include <strings.h>
#include <sys/socket.h>
#include <unistd.h>

#include "reactor/accept_pause.h"
#include "reactor/dlist.h"
#include "reactor/log.h"
#include "reactor/mem.h"
#include "reactor/mem_trim.h"

#define PATH_MAX_LEN 256
#define MAX_CONCURRENT_STREAMS 1024
#define STREAM_WINDOW (1u << 20)
#define CONN_WINDOW (16u << 20)
#define CONN_BUFFERED_MAX (64u << 20) /* request bytes buffered per connection */
#define CALL_OUT_MAX (64u << 20)      /* response bytes queued per call */
#define WRITE_CHUNK (64u << 10)
#define READ_CHUNK (64u << 10)

struct conn;

struct crid_grpc_call {
	struct conn *conn;
	struct crid_grpc_call *prev, *next; /* the connection's calls */
	int32_t stream_id;
	char path[PATH_MAX_LEN];
	bool path_too_long;
	bool is_post;
	int content_type_ok; /* -1 absent, 0 wrong, 1 application/grpc[+...] */
	bool encoding_set;   /* grpc-encoding other than identity */
	char encoding[32];
	bool req_ended;	   /* client sent END_STREAM */
	bool dispatched;   /* handed to the dispatch callback */
	bool finished;	   /* final status decided */
	bool headers_sent; /* response HEADERS submitted */
	bool rejected;	   /* request failed framing checks: ignore further DATA */
	uint8_t *req;
	size_t req_len, req_cap;
	uint8_t *out;
	size_t out_len, out_off;
	int status;
	char *message; /* percent-encoded grpc-message, or NULL */
	ev_timer deadline_timer;
	double deadline;
	double started;
	crid_grpc_cancel_fn cancel_fn;
	void *cancel_user;
	crid_grpc_ready_fn ready_fn; /* a server-streaming producer, or NULL */
	void *ready_user;
	bool ready_wanted; /* queue drained and the stream may send: run ready_fn */
};

struct conn {
	struct crid_grpc_server *srv;
	struct conn *prev, *next;
	int fd;
	ev_io rio, wio;
	nghttp2_session *session;
	struct crid_before_sleep flush_hook;
	struct crid_grpc_call *calls;
	size_t n_calls;
	size_t buffered;
	uint8_t *wbuf;
	size_t wlen, woff;
	bool dead;
};

struct crid_grpc_server {
	struct crid_loop *loop;
	int listen_fd;
	ev_io accept_watcher;
	struct crid_accept_pause accept_pause; /* accept failed for want of fds */
	crid_grpc_dispatch_fn dispatch;
	void *user;
	struct conn *conns;
	size_t n_conns;
	size_t n_active;
	nghttp2_session_callbacks *callbacks;
	nghttp2_option *option;
	bool shutting_down;
	void (*shutdown_done)(void *user);
	void *shutdown_user;
};

static void conn_close(struct conn *c);
static void conn_schedule_flush(struct conn *c);
static void call_fail(struct crid_grpc_call *call, int status, const char *message);

/* ---- calls ---------------------------------------------------------------- */

static struct crid_grpc_call *call_new(struct conn *c, int32_t stream_id)
{
	struct crid_grpc_call *call = crid_calloc(1, sizeof(*call));

	if (!call)
		return NULL;
	call->conn = c;
	call->stream_id = stream_id;
	call->content_type_ok = -1;
	call->started = crid_loop_now(c->srv->loop);
	CRID_DLIST_PUSH(c->calls, call);
	c->n_calls++;
	c->srv->n_active++;
	return call;
}

static void call_release_request(struct crid_grpc_call *call)
{
	call->conn->buffered -= call->req_len;
	crid_free(call->req);
	call->req = NULL;
	call->req_len = call->req_cap = 0;
}

/* Frees the call; the stream is closed or the connection is going away. */
static void call_free(struct crid_grpc_call *call)
{
	struct conn *c = call->conn;

	if (!call->finished)
		c->srv->n_active--;
	ev_timer_stop(c->srv->loop->ev, &call->deadline_timer);
	CRID_DLIST_UNLINK(c->calls, call);
	c->n_calls--;
	call_release_request(call);
	crid_free(call->out);
	crid_free(call->message);
	crid_free(call);
}

/* Tells the operation serving |call| that it is over; it must forget the call. */
static void call_cancel(struct crid_grpc_call *call, int status)
{
	crid_grpc_cancel_fn fn = call->cancel_fn;

	call->cancel_fn = NULL;
	call->ready_fn = NULL;
	if (fn)
		fn(call, status, call->cancel_user);
}

static ssize_t data_read_cb(nghttp2_session *session, int32_t stream_id, uint8_t *buf,
			    size_t length, uint32_t *data_flags, nghttp2_data_source *source,
			    void *user_data);

static int submit_trailers(struct crid_grpc_call *call)
{
	char status[12];
	nghttp2_nv nv[2];
	size_t n = 0;

	snprintf(status, sizeof(status), "%d", call->status);
	nv[n++] = (nghttp2_nv){ (uint8_t *)"grpc-status", (uint8_t *)status, 11, strlen(status),
				NGHTTP2_NV_FLAG_NONE };
	if (call->message && call->message[0])
		nv[n++] = (nghttp2_nv){ (uint8_t *)"grpc-message", (uint8_t *)call->message, 12,
					strlen(call->message), NGHTTP2_NV_FLAG_NONE };
	return nghttp2_submit_trailer(call->conn->session, call->stream_id, nv, n);
}

#define NV_LIT(name, value)                                                                        \
	(nghttp2_nv)                                                                               \
	{                                                                                          \
		(uint8_t *)(name), (uint8_t *)(value), sizeof(name) - 1, sizeof(value) - 1,        \
		    NGHTTP2_NV_FLAG_NO_COPY_NAME | NGHTTP2_NV_FLAG_NO_COPY_VALUE                   \
	}

static void submit_headers(struct crid_grpc_call *call)
{
	nghttp2_nv nv[] = { NV_LIT(":status", "200"), NV_LIT("content-type", "application/grpc") };
	nghttp2_data_provider provider = { .source.ptr = call, .read_callback = data_read_cb };

	call->headers_sent = true;
	nghttp2_submit_response(call->conn->session, call->stream_id, nv, 2, &provider);
}

/* Trailers-Only: one HEADERS frame carrying the status, with END_STREAM. */
static void submit_trailers_only(struct crid_grpc_call *call)
{
	char status[12];
	nghttp2_nv nv[4] = { NV_LIT(":status", "200"), NV_LIT("content-type", "application/grpc") };
	size_t n = 2;

	snprintf(status, sizeof(status), "%d", call->status);
	nv[n++] = (nghttp2_nv){ (uint8_t *)"grpc-status", (uint8_t *)status, 11, strlen(status),
				NGHTTP2_NV_FLAG_NONE };
	if (call->message && call->message[0])
		nv[n++] = (nghttp2_nv){ (uint8_t *)"grpc-message", (uint8_t *)call->message, 12,
					strlen(call->message), NGHTTP2_NV_FLAG_NONE };
	call->headers_sent = true;
	nghttp2_submit_response(call->conn->session, call->stream_id, nv, n, NULL);
}

/* An HTTP-level refusal (415, 405) for requests that are not gRPC at all. */
static void submit_http_error(struct crid_grpc_call *call, const char *status)
{
	nghttp2_nv nv[] = {
		{ (uint8_t *)":status", (uint8_t *)status, 7, strlen(status),
		  NGHTTP2_NV_FLAG_NONE },
		NV_LIT("content-type", "text/plain"),
	};

	call->finished = true;
	call->conn->srv->n_active--;
	call->headers_sent = true;
	nghttp2_submit_response(call->conn->session, call->stream_id, nv, 2, NULL);
	conn_schedule_flush(call->conn);
}

void crid_grpc_call_finish(struct crid_grpc_call *call, int status, const char *message)
{
	char enc[1024];

	if (call->finished)
		return;
	call->finished = true;
	call->cancel_fn = NULL;
	call->ready_fn = NULL;
	call->conn->srv->n_active--;
	ev_timer_stop(call->conn->srv->loop->ev, &call->deadline_timer);
	call->status = status;
	if (message && message[0]) {
		crid_grpc_percent_encode(message, strlen(message), enc, sizeof(enc));
		call->message = crid_strdup(enc); /* NULL on OOM: the status still goes out */
	}
	if (!call->headers_sent)
		submit_trailers_only(call);
	else
		nghttp2_session_resume_data(call->conn->session, call->stream_id);
	conn_schedule_flush(call->conn);
}

static void call_fail(struct crid_grpc_call *call, int status, const char *message)
{
	call->rejected = true;
	call_release_request(call);
	crid_grpc_call_finish(call, status, message);
}

uint8_t *crid_grpc_call_reserve(struct crid_grpc_call *call, size_t len)
{
	size_t need = CRID_GRPC_PREFIX_LEN + len;
	uint8_t *p;

	if (call->finished || len > UINT32_MAX)
		return NULL;
	if (call->out_off == call->out_len)
		call->out_off = call->out_len = 0;
	if (call->out_len - call->out_off + need > CALL_OUT_MAX)
		return NULL;
	p = crid_realloc(call->out, call->out_len + need);
	if (!p)
		return NULL;
	call->out = p;
	p += call->out_len;
	call->out_len += need;
	crid_grpc_prefix_write(p, 0, (uint32_t)len);
	if (!call->headers_sent)
		submit_headers(call);
	else
		nghttp2_session_resume_data(call->conn->session, call->stream_id);
	conn_schedule_flush(call->conn);
	return p + CRID_GRPC_PREFIX_LEN;
}

void crid_grpc_call_shrink(struct crid_grpc_call *call, uint8_t *msg, size_t len)
{
	size_t reserved = (size_t)(call->out + call->out_len - msg);

	if (len >= reserved)
		return;
	call->out_len -= reserved - len;
	crid_grpc_prefix_write(msg - CRID_GRPC_PREFIX_LEN, 0, (uint32_t)len);
}

int crid_grpc_call_send(struct crid_grpc_call *call, const void *msg, size_t len)
{
	uint8_t *p = crid_grpc_call_reserve(call, len);

	if (!p)
		return -1;
	if (len)
		memcpy(p, msg, len);
	return 0;
}

void crid_grpc_call_on_cancel(struct crid_grpc_call *call, crid_grpc_cancel_fn fn, void *user)
{
	call->cancel_fn = fn;
	call->cancel_user = user;
}

void crid_grpc_call_on_ready(struct crid_grpc_call *call, crid_grpc_ready_fn fn, void *user)
{
	call->ready_fn = fn;
	call->ready_user = user;
	if (!fn || call->finished || call->out_off != call->out_len)
		return;
	call->ready_wanted = true; /* the first messages: at the connection's next flush */
	conn_schedule_flush(call->conn);
}

size_t crid_grpc_call_queued(const struct crid_grpc_call *call)
{
	return call->out_len - call->out_off;
}

double crid_grpc_call_deadline(const struct crid_grpc_call *call)
{
	return call->deadline;
}

double crid_grpc_call_started(const struct crid_grpc_call *call)
{
	return call->started;
}

static ssize_t data_read_cb(nghttp2_session *session, int32_t stream_id, uint8_t *buf,
			    size_t length, uint32_t *data_flags, nghttp2_data_source *source,
			    void *user_data)
{
	struct crid_grpc_call *call = source->ptr;
	size_t avail = call->out_len - call->out_off;

	(void)session;
	(void)stream_id;
	(void)user_data;
	if (avail == 0 && !call->finished) {
		/* nghttp2 asks only while flow control lets the stream send: a producer's cue */
		call->ready_wanted = call->ready_fn != NULL;
		return NGHTTP2_ERR_DEFERRED;
	}
	if (length > avail)
		length = avail;
	memcpy(buf, call->out + call->out_off, length);
	call->out_off += length;
	if (call->out_off == call->out_len && call->finished) {
		*data_flags |= NGHTTP2_DATA_FLAG_EOF | NGHTTP2_DATA_FLAG_NO_END_STREAM;
		if (submit_trailers(call) != 0)
			return NGHTTP2_ERR_TEMPORAL_CALLBACK_FAILURE;
	}
	return (ssize_t)length;
}

static void deadline_cb(struct ev_loop *ev, ev_timer *w, int revents)
{
	struct crid_grpc_call *call = w->data;

	(void)ev;
	(void)revents;
	crid_log_debug("stream %d %s: deadline exceeded", call->stream_id, call->path);
	call_cancel(call, CRID_GRPC_DEADLINE_EXCEEDED);
	call_fail(call, CRID_GRPC_DEADLINE_EXCEEDED, "context deadline exceeded");
}

/* ---- request framing ----------------------------------------------------- */

/* Checks the prefix as soon as it is complete, so an oversized message is refused early. */
static int check_prefix(struct crid_grpc_call *call)
{
	char msg[128];
	uint8_t compressed;
	uint32_t len;

	if (call->req_len < CRID_GRPC_PREFIX_LEN)
		return 0;
	len = crid_grpc_prefix_read(call->req, &compressed);
	if (len > CRID_GRPC_MAX_MESSAGE) {
		snprintf(msg, sizeof(msg), "grpc: received message larger than max (%u vs. %u)",
			 len, CRID_GRPC_MAX_MESSAGE);
		call_fail(call, CRID_GRPC_RESOURCE_EXHAUSTED, msg);
		return -1;
	}
	if (compressed > 1) {
		call_fail(call, CRID_GRPC_INTERNAL,
			  "grpc: invalid compressed flag in message prefix");
		return -1;
	}
	if (compressed && !call->encoding_set) {
		call_fail(call, CRID_GRPC_INTERNAL,
			  "grpc: compressed flag set with identity or empty encoding");
		return -1;
	}
	if (compressed) {
		snprintf(msg, sizeof(msg),
			 "grpc: decompressor is not installed for grpc-encoding %s",
			 call->encoding);
		call_fail(call, CRID_GRPC_UNIMPLEMENTED, msg);
		return -1;
	}
	return 0;
}

static int append_request(struct crid_grpc_call *call, const uint8_t *data, size_t len)
{
	struct conn *c = call->conn;
	size_t need = call->req_len + len;

	if (c->buffered + len > CONN_BUFFERED_MAX) {
		call_fail(call, CRID_GRPC_RESOURCE_EXHAUSTED,
			  "grpc: too many request bytes buffered on this connection");
		return -1;
	}
	if (need > call->req_cap) {
		size_t cap = call->req_cap ? call->req_cap * 2 : 256;
		uint8_t *p;

		while (cap < need)
			cap *= 2;
		p = crid_realloc(call->req, cap);
		if (!p) {
			call_fail(call, CRID_GRPC_RESOURCE_EXHAUSTED, "out of memory");
			return -1;
		}
		call->req = p;
		call->req_cap = cap;
	}
	memcpy(call->req + call->req_len, data, len);
	call->req_len += len;
	c->buffered += len;
	return check_prefix(call);
}

/* The client finished sending: exactly one complete message makes a unary request. */
static void request_complete(struct crid_grpc_call *call)
{
	struct crid_grpc_server *srv = call->conn->srv;
	uint8_t compressed;
	uint32_t len;

	if (call->rejected || call->finished)
		return;
	if (call->req_len < CRID_GRPC_PREFIX_LEN) {
		call_fail(call, CRID_GRPC_INTERNAL,
			  call->req_len ? "grpc: truncated message prefix"
					: "grpc: no request message");
		return;
	}
	len = crid_grpc_prefix_read(call->req, &compressed);
	if (call->req_len != CRID_GRPC_PREFIX_LEN + (size_t)len) {
		call_fail(call, CRID_GRPC_INTERNAL,
			  call->req_len < CRID_GRPC_PREFIX_LEN + (size_t)len
			      ? "grpc: truncated request message"
			      : "grpc: more than one request message for a unary method");
		return;
	}
	call->dispatched = true;
	crid_mem_trim_soon(srv->loop); /* what this call frees goes back a while later */
	srv->dispatch(call, call->path, call->req + CRID_GRPC_PREFIX_LEN, len, srv->user);
	/* The call may be finished (not freed: streams close later) by now. */
	call_release_request(call);
}

/* ---- nghttp2 callbacks --------------------------------------------------- */

static int on_begin_headers(nghttp2_session *session, const nghttp2_frame *frame, void *user_data)
{
	struct conn *c = user_data;
	struct crid_grpc_call *call;

	if (frame->hd.type != NGHTTP2_HEADERS || frame->headers.cat != NGHTTP2_HCAT_REQUEST)
		return 0;
	call = call_new(c, frame->hd.stream_id);
	if (!call)
		return NGHTTP2_ERR_TEMPORAL_CALLBACK_FAILURE; /* nghttp2 resets the stream */
	nghttp2_session_set_stream_user_data(session, frame->hd.stream_id, call);
	return 0;
}

static bool content_type_is_grpc(const uint8_t *v, size_t len)
{
	static const char ct[] = "application/grpc";
	size_t n = sizeof(ct) - 1;

	if (len < n || strncasecmp((const char *)v, ct, n) != 0)
		return false;
	return len == n || v[n] == '+' || v[n] == ';';
}

static void header_set_timeout(struct crid_grpc_call *call, const uint8_t *v, size_t len)
{
	struct crid_grpc_server *srv = call->conn->srv;
	int64_t ns;

	if (crid_grpc_timeout_parse((const char *)v, len, &ns) < 0) {
		call_fail(call, CRID_GRPC_INTERNAL, "grpc: malformed grpc-timeout header");
		return;
	}
	call->deadline = call->started + (double)ns / 1e9;
	/*
	 * A second grpc-timeout replaces the first (as grpc-go): its timer must
	 * leave libev's heap before it is set again, or the heap keeps an entry
	 * for it that outlives the call.
	 */
	ev_timer_stop(srv->loop->ev, &call->deadline_timer);
	ev_timer_init(&call->deadline_timer, deadline_cb, (double)ns / 1e9, 0.);
	call->deadline_timer.data = call;
	ev_timer_start(srv->loop->ev, &call->deadline_timer);
}

static int on_header(nghttp2_session *session, const nghttp2_frame *frame, const uint8_t *name,
		     size_t namelen, const uint8_t *value, size_t valuelen, uint8_t flags,
		     void *user_data)
{
	struct crid_grpc_call *call;

	(void)flags;
	(void)user_data;
	if (frame->hd.type != NGHTTP2_HEADERS || frame->headers.cat != NGHTTP2_HCAT_REQUEST)
		return 0; /* request trailers carry nothing gRPC needs */
	call = nghttp2_session_get_stream_user_data(session, frame->hd.stream_id);
	if (!call || call->finished)
		return 0;
#define IS(lit) (namelen == sizeof(lit) - 1 && memcmp(name, lit, namelen) == 0)
	if (IS(":path")) {
		if (valuelen >= sizeof(call->path))
			call->path_too_long = true;
		else
			memcpy(call->path, value, valuelen), call->path[valuelen] = '\0';
	} else if (IS(":method")) {
		call->is_post = valuelen == 4 && memcmp(value, "POST", 4) == 0;
	} else if (IS("content-type")) {
		call->content_type_ok = content_type_is_grpc(value, valuelen);
	} else if (IS("grpc-encoding")) {
		call->encoding_set = !(valuelen == 8 && memcmp(value, "identity", 8) == 0);
		snprintf(call->encoding, sizeof(call->encoding), "%.*s", (int)valuelen, value);
	} else if (IS("grpc-timeout")) {
		header_set_timeout(call, value, valuelen);
	}
#undef IS
	return 0;
}

/* Checks the request headers once complete: refusals that need no body. */
static void headers_complete(struct crid_grpc_call *call)
{
	if (call->finished)
		return;
	if (!call->is_post) {
		submit_http_error(call, "405");
		return;
	}
	if (call->content_type_ok != 1) {
		submit_http_error(call, "415");
		return;
	}
	if (call->path_too_long)
		call_fail(call, CRID_GRPC_UNIMPLEMENTED, "unknown method: path too long");
	else if (call->deadline && call->deadline <= call->started)
		call_fail(call, CRID_GRPC_DEADLINE_EXCEEDED, "context deadline exceeded");
}

static int on_frame_recv(nghttp2_session *session, const nghttp2_frame *frame, void *user_data)
{
	struct crid_grpc_call *call;

	(void)user_data;
	if (frame->hd.type != NGHTTP2_HEADERS && frame->hd.type != NGHTTP2_DATA)
		return 0;
	call = nghttp2_session_get_stream_user_data(session, frame->hd.stream_id);
	if (!call)
		return 0;
	if (frame->hd.type == NGHTTP2_HEADERS && frame->headers.cat == NGHTTP2_HCAT_REQUEST)
		headers_complete(call);
	if (frame->hd.flags & NGHTTP2_FLAG_END_STREAM) {
		call->req_ended = true;
		request_complete(call);
	}
	return 0;
}

static int on_data_chunk(nghttp2_session *session, uint8_t flags, int32_t stream_id,
			 const uint8_t *data, size_t len, void *user_data)
{
	struct crid_grpc_call *call = nghttp2_session_get_stream_user_data(session, stream_id);

	(void)flags;
	(void)user_data;
	if (!call || call->rejected || call->finished)
		return 0;
	append_request(call, data, len);
	return 0;
}

/*
 * After the final frame of a response whose request is still open (an
 * early error), ask the client to stop sending, as RFC 9113 8.1 allows.
 */
static int on_frame_send(nghttp2_session *session, const nghttp2_frame *frame, void *user_data)
{
	struct crid_grpc_call *call;

	(void)user_data;
	if (!(frame->hd.flags & NGHTTP2_FLAG_END_STREAM))
		return 0;
	call = nghttp2_session_get_stream_user_data(session, frame->hd.stream_id);
	if (call && !call->req_ended)
		nghttp2_submit_rst_stream(session, NGHTTP2_FLAG_NONE, frame->hd.stream_id,
					  NGHTTP2_NO_ERROR);
	return 0;
}

static int on_stream_close(nghttp2_session *session, int32_t stream_id, uint32_t error_code,
			   void *user_data)
{
	struct crid_grpc_call *call = nghttp2_session_get_stream_user_data(session, stream_id);

	(void)user_data;
	if (!call)
		return 0;
	if (!call->finished) {
		crid_log_debug("stream %d %s: cancelled by the client (RST_STREAM %s)", stream_id,
			       call->path, nghttp2_http2_strerror(error_code));
		call_cancel(call, CRID_GRPC_CANCELLED);
	}
	nghttp2_session_set_stream_user_data(session, stream_id, NULL);
	call_free(call);
	return 0;
}

static int setup_callbacks(nghttp2_session_callbacks **out)
{
	nghttp2_session_callbacks *cb;

	if (nghttp2_session_callbacks_new(&cb) != 0)
		return -1;
	nghttp2_session_callbacks_set_on_begin_headers_callback(cb, on_begin_headers);
	nghttp2_session_callbacks_set_on_header_callback(cb, on_header);
	nghttp2_session_callbacks_set_on_frame_recv_callback(cb, on_frame_recv);
	nghttp2_session_callbacks_set_on_data_chunk_recv_callback(cb, on_data_chunk);
	nghttp2_session_callbacks_set_on_frame_send_callback(cb, on_frame_send);
	nghttp2_session_callbacks_set_on_stream_close_callback(cb, on_stream_close);
	*out = cb;
	return 0;
}

/* ---- connections --------------------------------------------------------- */

static int conn_write_pending(struct conn *c)
{
	while (c->woff < c->wlen) {
		ssize_t n = send(c->fd, c->wbuf + c->woff, c->wlen - c->woff, MSG_NOSIGNAL);

		if (n < 0) {
			if (errno == EINTR)
				continue;
			return errno == EAGAIN ? 1 : -1;
		}
		c->woff += (size_t)n;
	}
	c->woff = c->wlen = 0;
	return 0;
}

/* Moves frames from nghttp2 into the write buffer, up to one chunk. */
static int conn_gather(struct conn *c)
{
	if (!c->wbuf) {
		c->wbuf = crid_malloc(WRITE_CHUNK);
		if (!c->wbuf)
			return -1;
	}
	while (c->wlen < WRITE_CHUNK) {
		const uint8_t *data;
		ssize_t n = nghttp2_session_mem_send(c->session, &data);

		if (n < 0)
			return -1;
		if (n == 0)
			break;
		if ((size_t)n > WRITE_CHUNK - c->wlen) {
			/* Larger than the room left: send what we have, then this frame directly. */
			uint8_t *big = crid_realloc(c->wbuf, c->wlen + (size_t)n);

			if (!big)
				return -1;
			c->wbuf = big;
		}
		memcpy(c->wbuf + c->wlen, data, (size_t)n);
		c->wlen += (size_t)n;
	}
	return 0;
}

/*
 * Runs the ready callback of one call whose queue drained while its stream
 * could send (outside nghttp2's callbacks, so the producer may reserve,
 * resume and finish freely). Returns false when no call was waiting.
 */
static bool conn_run_ready(struct conn *c)
{
	for (struct crid_grpc_call *call = c->calls; call; call = call->next) {
		if (!call->ready_wanted)
			continue;
		call->ready_wanted = false;
		if (call->ready_fn && !call->finished && call->out_off == call->out_len)
			call->ready_fn(call, call->ready_user);
		return true;
	}
	return false;
}

/* Writes everything nghttp2 has to say; returns -1 when the connection must close. */
static int conn_flush(struct conn *c)
{
	for (;;) {
		int r = conn_write_pending(c);

		if (r < 0)
			return -1;
		if (r > 0) {
			ev_io_start(c->srv->loop->ev, &c->wio);
			return 0;
		}
		if (conn_gather(c) < 0)
			return -1;
		/* nothing left to send: producers whose streams can take more refill */
		if (c->wlen == 0 && !conn_run_ready(c))
			break;
	}
	ev_io_stop(c->srv->loop->ev, &c->wio);
	if (!nghttp2_session_want_read(c->session) && !nghttp2_session_want_write(c->session))
		return -1; /* GOAWAY exchanged and no stream left */
	return 0;
}

static void flush_hook_cb(struct crid_before_sleep *hook)
{
	struct conn *c = (struct conn *)((char *)hook - offsetof(struct conn, flush_hook));

	if (conn_flush(c) < 0)
		conn_close(c);
}

static void conn_schedule_flush(struct conn *c)
{
	if (!c->dead)
		crid_loop_before_sleep(c->srv->loop, &c->flush_hook);
}

static void conn_read_cb(struct ev_loop *ev, ev_io *w, int revents)
{
	struct conn *c = w->data;
	uint8_t buf[READ_CHUNK];
	ssize_t n;

	(void)ev;
	(void)revents;
	n = recv(c->fd, buf, sizeof(buf), 0);
	if (n < 0 && (errno == EAGAIN || errno == EINTR))
		return;
	if (n <= 0) {
		conn_close(c);
		return;
	}
	if (nghttp2_session_mem_recv(c->session, buf, (size_t)n) < 0) {
		crid_log_debug("connection %d: protocol error, closing", c->fd);
		conn_flush(c); /* a GOAWAY nghttp2 queued, if any */
		conn_close(c);
		return;
	}
	conn_schedule_flush(c);
}

static void conn_write_cb(struct ev_loop *ev, ev_io *w, int revents)
{
	struct conn *c = w->data;

	(void)ev;
	(void)revents;
	if (conn_flush(c) < 0)
		conn_close(c);
}

static void server_maybe_done(struct crid_grpc_server *srv)
{
	void (*done)(void *) = srv->shutdown_done;

	if (!srv->shutting_down || srv->n_conns || !done)
		return;
	srv->shutdown_done = NULL;
	done(srv->shutdown_user);
}

static void conn_close(struct conn *c)
{
	struct crid_grpc_server *srv = c->srv;

	if (c->dead)
		return;
	c->dead = true;
	while (c->calls) {
		struct crid_grpc_call *call = c->calls;

		if (!call->finished)
			call_cancel(call, CRID_GRPC_CANCELLED);
		call_free(call);
	}
	crid_loop_cancel_before_sleep(srv->loop, &c->flush_hook);
	ev_io_stop(srv->loop->ev, &c->rio);
	ev_io_stop(srv->loop->ev, &c->wio);
	nghttp2_session_del(c->session);
	close(c->fd);
	CRID_DLIST_UNLINK(srv->conns, c);
	srv->n_conns--;
	crid_free(c->wbuf);
	crid_free(c);
	server_maybe_done(srv);
}

static int conn_start_session(struct conn *c)
{
	nghttp2_settings_entry settings[] = {
		{ NGHTTP2_SETTINGS_MAX_CONCURRENT_STREAMS, MAX_CONCURRENT_STREAMS },
		{ NGHTTP2_SETTINGS_INITIAL_WINDOW_SIZE, STREAM_WINDOW },
		{ NGHTTP2_SETTINGS_MAX_HEADER_LIST_SIZE, 64u << 10 },
	};

	if (nghttp2_session_server_new2(&c->session, c->srv->callbacks, c, c->srv->option) != 0)
		return -1;
	if (nghttp2_submit_settings(c->session, NGHTTP2_FLAG_NONE, settings,
				    sizeof(settings) / sizeof(settings[0])) != 0)
		return -1;
	if (nghttp2_session_set_local_window_size(c->session, NGHTTP2_FLAG_NONE, 0, CONN_WINDOW))
		return -1;
	return 0;
}

int crid_grpc_server_adopt(struct crid_grpc_server *srv, int fd)
{
	struct conn *c = crid_calloc(1, sizeof(*c));

	if (!c) {
		close(fd);
		return -1;
	}
	c->srv = srv;
	c->fd = fd;
	c->flush_hook.fn = flush_hook_cb;
	if (conn_start_session(c) < 0) {
		if (c->session)
			nghttp2_session_del(c->session);
		crid_free(c);
		close(fd);
		return -1;
	}
	ev_io_init(&c->rio, conn_read_cb, fd, EV_READ);
	ev_io_init(&c->wio, conn_write_cb, fd, EV_WRITE);
	c->rio.data = c->wio.data = c;
	ev_io_start(srv->loop->ev, &c->rio);
	CRID_DLIST_PUSH(srv->conns, c);
	srv->n_conns++;
	conn_schedule_flush(c); /* our SETTINGS go out at once */
	return 0;
}

static void accept_cb(struct ev_loop *ev, ev_io *w, int revents)
{
	struct crid_grpc_server *srv = w->data;

	(void)revents;
	for (int i = 0; i < 64; i++) {
		int fd = accept4(srv->listen_fd, NULL, NULL, SOCK_NONBLOCK | SOCK_CLOEXEC);

		if (fd >= 0) {
			crid_grpc_server_adopt(srv, fd);
			continue;
		}
		crid_accept_pause_on_error(ev, &srv->accept_pause, errno);
		return;
	}
}

/* ---- server -------------------------------------------------------------- */

struct crid_grpc_server *crid_grpc_server_new(struct crid_loop *loop, int listen_fd,
					      crid_grpc_dispatch_fn dispatch, void *user,
					      struct crid_err *err)
{
	struct crid_grpc_server *srv = crid_calloc(1, sizeof(*srv));

	if (!srv) {
		close(listen_fd);
		crid_err_set(err, ENOMEM, "grpc server");
		return NULL;
	}
	srv->loop = loop;
	srv->listen_fd = listen_fd;
	srv->dispatch = dispatch;
	srv->user = user;
	if (setup_callbacks(&srv->callbacks) < 0 || nghttp2_option_new(&srv->option) != 0) {
		crid_grpc_server_free(srv);
		crid_err_set(err, ENOMEM, "grpc server");
		return NULL;
	}
	/* HPACK state per connection stays small: kubelet's headers are few. */
	nghttp2_option_set_max_deflate_dynamic_table_size(srv->option, 4096);
	/*
	 * A server nghttp2 keeps each closed stream (~240 bytes) for RFC 7540's
	 * priority tree, up to MAX_CONCURRENT_STREAMS per connection: 240 KiB
	 * on each of kubelet's long-lived connections, filled over its first
	 * thousand calls (the soak's heap grew so). gRPC sends no priorities.
	 */
	nghttp2_option_set_no_closed_streams(srv->option, 1);
	if (listen_fd < 0)
		return srv;
	ev_io_init(&srv->accept_watcher, accept_cb, listen_fd, EV_READ);
	srv->accept_watcher.data = srv;
	crid_accept_pause_init(&srv->accept_pause, &srv->accept_watcher, "CRI socket");
	ev_io_start(loop->ev, &srv->accept_watcher);
	return srv;
}

static void stop_accepting(struct crid_grpc_server *srv)
{
	if (srv->listen_fd < 0)
		return;
	ev_io_stop(srv->loop->ev, &srv->accept_watcher);
	crid_accept_pause_stop(srv->loop->ev, &srv->accept_pause);
	close(srv->listen_fd);
	srv->listen_fd = -1;
}

void crid_grpc_server_shutdown(struct crid_grpc_server *srv, void (*done)(void *user), void *user)
{
	srv->shutting_down = true;
	srv->shutdown_done = done;
	srv->shutdown_user = user;
	stop_accepting(srv);
	for (struct conn *c = srv->conns; c; c = c->next) {
		int32_t last = nghttp2_session_get_last_proc_stream_id(c->session);

		nghttp2_submit_goaway(c->session, NGHTTP2_FLAG_NONE, last, NGHTTP2_NO_ERROR, NULL,
				      0);
		conn_schedule_flush(c);
	}
	server_maybe_done(srv);
}

void crid_grpc_server_abort(struct crid_grpc_server *srv)
{
	stop_accepting(srv);
	while (srv->conns) {
		struct conn *c = srv->conns;

		for (struct crid_grpc_call *call = c->calls; call; call = call->next) {
			if (call->finished)
				continue;
			call_cancel(call, CRID_GRPC_UNAVAILABLE);
			call_fail(call, CRID_GRPC_UNAVAILABLE, "server is shutting down");
		}
		conn_flush(c);
		conn_close(c);
	}
}

void crid_grpc_server_free(struct crid_grpc_server *srv)
{
	if (!srv)
		return;
	srv->shutdown_done = NULL;
	crid_grpc_server_abort(srv);
	if (srv->callbacks)
		nghttp2_session_callbacks_del(srv->callbacks);
	if (srv->option)
		nghttp2_option_del(srv->option);
	crid_free(srv);
}

size_t crid_grpc_server_connections(const struct crid_grpc_server *srv)
{
	return srv->n_conns;
}

size_t crid_grpc_server_active_calls(const struct crid_grpc_server *srv)
{
	return srv->n_active;
}
