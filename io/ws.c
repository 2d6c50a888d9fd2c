/*
 * WebSocket framing on libwslay's event API. wslay owns the frame parser,
 * the joined incoming message, the outgoing queue (wslay_event_queue_msg
 * copies the payload), masking and the automatic pong and close replies;
 * this file feeds it a non-blocking fd, bounds each read pass, and turns
 * wslay's close states into exactly one closed() call.
 *
 * When closed() runs (settle()):
 *  - the peer's close frame came and ours went out: the peer's code;
 *  - wslay refused the peer's input (too big, bad frame, bad UTF-8) and
 *    its close frame went out: the code it sent (1009, 1002, 1007);
 *  - the socket failed or ended first: 1006 (the peer's code if its close
 *    frame had come).
 * A callback may free the ws (crid_ws_free defers while wslay is on the
 * stack: |busy|).
 */
#include <errno.h>
#include <string.h>
#include <sys/random.h>
#include <sys/socket.h>
#include <unistd.h>

#include <openssl/evp.h>
#include <openssl/sha.h>
#include <wslay/wslay.h>

#include "io/ws.h"
#include "reactor/mem.h"

/* Read at most this much per crid_ws_on_readable: a fast peer cannot hold the loop. */
#define READ_BUDGET (256u << 10)

struct crid_ws {
	wslay_event_context_ptr ctx;
	int fd;
	const struct crid_ws_cbs *cbs;
	void *user;
	uint8_t *pre; /* bytes read before the upgrade finished, parsed first */
	size_t pre_len, pre_off;
	size_t budget; /* bytes the current read pass may still take from the fd */
	bool pre_only; /* this pass reads |pre| only, never the fd */
	bool failed;   /* the socket failed or ended */
	bool done;     /* closed() ran */
	bool dead;     /* freed from inside a callback */
	int busy;
};

static ssize_t recv_cb(wslay_event_context_ptr ctx, uint8_t *buf, size_t len, int flags, void *user)
{
	struct crid_ws *ws = user;
	ssize_t n;

	(void)flags;
	if (ws->pre_off < ws->pre_len) {
		n = (ssize_t)(ws->pre_len - ws->pre_off < len ? ws->pre_len - ws->pre_off : len);
		memcpy(buf, ws->pre + ws->pre_off, (size_t)n);
		ws->pre_off += (size_t)n;
		return n;
	}
	/* Nothing more once closed() ran or a callback freed the ws. */
	if (ws->pre_only || ws->budget == 0 || ws->done || ws->dead) {
		wslay_event_set_error(ctx, WSLAY_ERR_WOULDBLOCK);
		return -1;
	}
	if (len > ws->budget)
		len = ws->budget;
	do
		n = recv(ws->fd, buf, len, 0);
	while (n < 0 && errno == EINTR);
	if (n < 0 && (errno == EAGAIN || errno == EWOULDBLOCK)) {
		wslay_event_set_error(ctx, WSLAY_ERR_WOULDBLOCK);
		return -1;
	}
	if (n <= 0) { /* an error, or the peer went away (0) */
		ws->failed = true;
		wslay_event_set_error(ctx, WSLAY_ERR_CALLBACK_FAILURE);
		return -1;
	}
	ws->budget -= (size_t)n;
	return n;
}

static ssize_t send_cb(wslay_event_context_ptr ctx, const uint8_t *data, size_t len, int flags,
		       void *user)
{
	struct crid_ws *ws = user;
	ssize_t n;

	do
		n = send(ws->fd, data, len, MSG_NOSIGNAL | (flags & WSLAY_MSG_MORE ? MSG_MORE : 0));
	while (n < 0 && errno == EINTR);
	if (n < 0 && (errno == EAGAIN || errno == EWOULDBLOCK)) {
		wslay_event_set_error(ctx, WSLAY_ERR_WOULDBLOCK);
		return -1;
	}
	if (n <= 0) {
		ws->failed = true;
		wslay_event_set_error(ctx, WSLAY_ERR_CALLBACK_FAILURE);
		return -1;
	}
	return n;
}

static int genmask_cb(wslay_event_context_ptr ctx, uint8_t *buf, size_t len, void *user)
{
	(void)ctx;
	(void)user;
	return getrandom(buf, len, 0) == (ssize_t)len ? 0 : -1;
}

static void msg_cb(wslay_event_context_ptr ctx, const struct wslay_event_on_msg_recv_arg *arg,
		   void *user)
{
	struct crid_ws *ws = user;

	(void)ctx;
	if (ws->done || ws->dead)
		return;
	if (arg->opcode == WSLAY_TEXT_FRAME || arg->opcode == WSLAY_BINARY_FRAME)
		ws->cbs->message(ws->user, arg->opcode, arg->msg, arg->msg_length);
}

static const struct wslay_event_callbacks wslay_cbs = {
	.recv_callback = recv_cb,
	.send_callback = send_cb,
	.genmask_callback = genmask_cb,
	.on_msg_recv_callback = msg_cb,
};

struct crid_ws *crid_ws_new(int fd, bool client, const uint8_t *pre, size_t pre_len,
			    const struct crid_ws_cbs *cbs, void *user, struct crid_err *err)
{
	struct crid_ws *ws = crid_calloc(1, sizeof(*ws));
	int r;

	if (!ws) {
		crid_err_set(err, ENOMEM, "websocket");
		return NULL;
	}
	*ws = (struct crid_ws){ .fd = fd, .cbs = cbs, .user = user, .pre_len = pre_len };
	if (pre_len) {
		ws->pre = crid_malloc(pre_len);
		if (!ws->pre) {
			crid_err_set(err, ENOMEM, "websocket");
			goto fail;
		}
		memcpy(ws->pre, pre, pre_len);
	}
	r = client ? wslay_event_context_client_init(&ws->ctx, &wslay_cbs, ws)
		   : wslay_event_context_server_init(&ws->ctx, &wslay_cbs, ws);
	if (r != 0) {
		crid_err_set(err, ENOMEM, "websocket context");
		goto fail;
	}
	wslay_event_config_set_max_recv_msg_length(ws->ctx, CRID_WS_MAX_MESSAGE);
	return ws;
fail:
	crid_free(ws->pre);
	crid_free(ws);
	return NULL;
}

static void destroy(struct crid_ws *ws)
{
	wslay_event_context_free(ws->ctx);
	crid_free(ws->pre);
	crid_free(ws);
}

/* Calls closed() once the connection has ended; true when it did. */
static bool settle(struct crid_ws *ws)
{
	wslay_event_context_ptr c = ws->ctx;
	bool got = wslay_event_get_close_received(c), sent = wslay_event_get_close_sent(c);
	uint16_t code;

	if (ws->done || ws->dead)
		return ws->done;
	if (ws->failed)
		code = got ? wslay_event_get_status_code_received(c) : 1006;
	else if (got && sent)
		code = wslay_event_get_status_code_received(c);
	else if (sent && !wslay_event_want_read(c))
		code = wslay_event_get_status_code_sent(c);
	else
		return false;
	ws->done = true;
	ws->cbs->closed(ws->user, code);
	return true;
}

/* Ends a public entry point: frees a ws freed by a callback; true when it is gone. */
static bool leave(struct crid_ws *ws)
{
	if (--ws->busy == 0 && ws->dead) {
		destroy(ws);
		return true;
	}
	return false;
}

static void flush(struct crid_ws *ws)
{
	if (!ws->failed && wslay_event_want_write(ws->ctx) && wslay_event_send(ws->ctx) != 0)
		ws->failed = true;
}

static void drop_pre(struct crid_ws *ws)
{
	crid_free(ws->pre);
	ws->pre = NULL;
	ws->pre_len = ws->pre_off = 0;
}

/* One wslay read pass; what it queued (pongs, the close reply) goes out at once if it can. */
static void pump(struct crid_ws *ws, bool pre_only)
{
	if (ws->done || ws->failed || !wslay_event_want_read(ws->ctx)) {
		drop_pre(ws);
		return;
	}
	ws->pre_only = pre_only;
	ws->budget = READ_BUDGET;
	if (wslay_event_recv(ws->ctx) != 0)
		ws->failed = true;
	if (ws->pre_off == ws->pre_len)
		drop_pre(ws);
	if (!ws->dead)
		flush(ws);
}

void crid_ws_on_readable(struct crid_ws *ws)
{
	ws->busy++;
	pump(ws, false);
	if (!ws->dead)
		settle(ws);
	leave(ws);
}

void crid_ws_on_writable(struct crid_ws *ws)
{
	ws->busy++;
	/*
	 * Bytes that came with the handshake wait in |pre|; the fd may never turn
	 * readable again for them (the peer waits for an answer), so want_write
	 * stays true until a writable pass has parsed them.
	 */
	if (ws->pre)
		pump(ws, true);
	if (!ws->dead && !ws->done)
		flush(ws);
	if (!ws->dead)
		settle(ws);
	leave(ws);
}

bool crid_ws_want_read(const struct crid_ws *ws)
{
	return !ws->done && !ws->failed && wslay_event_want_read(ws->ctx);
}

bool crid_ws_want_write(const struct crid_ws *ws)
{
	return !ws->done && !ws->failed && (ws->pre || wslay_event_want_write(ws->ctx));
}

int crid_ws_send(struct crid_ws *ws, int opcode, const void *head, size_t head_len,
		 const void *data, size_t len, struct crid_err *err)
{
	struct wslay_event_msg msg = { .opcode = (uint8_t)opcode, .msg_length = head_len + len };
	uint8_t small[1024], *buf = small;
	int r;

	if (opcode != CRID_WS_TEXT && opcode != CRID_WS_BINARY)
		return crid_err_invalid(err, "websocket opcode %d", opcode);
	if (ws->done || ws->failed)
		return crid_err_cause(err, EPIPE, "websocket closed");
	/* wslay copies the payload; head and data only need to be one buffer for the call. */
	if (head_len == 0) {
		msg.msg = data;
	} else {
		if (msg.msg_length > sizeof(small) && !(buf = crid_malloc(msg.msg_length)))
			return crid_err_set(err, ENOMEM, "websocket message");
		memcpy(buf, head, head_len);
		if (len)
			memcpy(buf + head_len, data, len);
		msg.msg = buf;
	}
	r = wslay_event_queue_msg(ws->ctx, &msg);
	if (buf != small)
		crid_free(buf);
	if (r == WSLAY_ERR_NO_MORE_MSG)
		return crid_err_cause(err, EPIPE, "websocket closing");
	if (r != 0)
		return crid_err_set(err, ENOMEM, "websocket message");
	return 0;
}

size_t crid_ws_queued(const struct crid_ws *ws)
{
	/* Payload bytes of messages not yet written out whole (wslay counts them). */
	return wslay_event_get_queued_msg_length(ws->ctx);
}

void crid_ws_close(struct crid_ws *ws, uint16_t code)
{
	/* 1005, 1006 and 1015 only describe a close; they never go on the wire (RFC 6455 §7.4.1). */
	if (code == 1005 || code == 1006 || code == 1015)
		code = 0;
	if (!ws->done && !ws->failed)
		wslay_event_queue_close(ws->ctx, code, NULL, 0);
}

void crid_ws_free(struct crid_ws *ws)
{
	if (!ws)
		return;
	if (ws->busy) {
		ws->dead = true;
		return;
	}
	destroy(ws);
}

void crid_ws_accept_key(const char *key, size_t len, char out[29])
{
	static const char guid[] = "258EAFA5-E914-47DA-95CA-C5AB0DC85B11";
	unsigned char md[SHA_DIGEST_LENGTH];
	EVP_MD_CTX *c = EVP_MD_CTX_new();

	out[0] = '\0';
	if (!c)
		return;
	if (EVP_DigestInit_ex(c, EVP_sha1(), NULL) == 1 && EVP_DigestUpdate(c, key, len) == 1 &&
	    EVP_DigestUpdate(c, guid, sizeof(guid) - 1) == 1 &&
	    EVP_DigestFinal_ex(c, md, NULL) == 1)
		EVP_EncodeBlock((unsigned char *)out, md, sizeof(md));
	EVP_MD_CTX_free(c);
}
