/*
 * WebSocket (RFC 6455) framing for the streaming server and cridctl, on
 * libwslay's event API: wslay parses, masks, joins fragments and answers
 * pings; this module gives it the socket without ever blocking (its
 * recv/send callbacks read and write the non-blocking fd and say WOULDBLOCK)
 * and bounds what it reads per call so one peer cannot hold the loop.
 * The handshake (HTTP) is the caller's; crid_ws_accept_key computes
 * Sec-WebSocket-Accept.
 */
#ifndef CRID_WS_H
#define CRID_WS_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "reactor/err.h"

#define CRID_WS_MAX_MESSAGE (1u << 20) /* a larger incoming message closes with 1009 */

enum crid_ws_opcode {
	CRID_WS_TEXT = 1,
	CRID_WS_BINARY = 2,
};

struct crid_ws_cbs {
	/* A whole message (fragments joined), valid during the call. */
	void (*message)(void *user, int opcode, const uint8_t *data, size_t len);
	/*
	 * The connection ended: the peer's close frame (|code| from it, 1005 when
	 * it had none), the close this end sent when it refused the peer's input
	 * (1009 too big, 1002 protocol, 1007 bad UTF-8), or an error (1006). No
	 * callback follows; free the ws (also allowed inside message()).
	 */
	void (*closed)(void *user, uint16_t code);
};

struct crid_ws;

/*
 * Frames |fd| (non-blocking, owned by the caller) as the server end, or as
 * the client end when |client| (its frames masked with getrandom keys).
 * |pre| holds bytes already read after the handshake (copied), parsed first:
 * while any are left crid_ws_want_write is true and crid_ws_on_writable
 * parses them (the fd may never turn readable for them).
 */
struct crid_ws *crid_ws_new(int fd, bool client, const uint8_t *pre, size_t pre_len,
			    const struct crid_ws_cbs *cbs, void *user, struct crid_err *err);

/* Reads and handles at most a bounded amount (call again while the fd stays readable). */
void crid_ws_on_readable(struct crid_ws *ws);

/* Writes what is queued, as far as the socket takes it. */
void crid_ws_on_writable(struct crid_ws *ws);

/* What the caller's watcher should wait for. */
bool crid_ws_want_read(const struct crid_ws *ws);
bool crid_ws_want_write(const struct crid_ws *ws);

/*
 * Queues one message: |head| (e.g. a channel byte; may be 0 long) then
 * |data|, copied. -1 with |err| once the connection is closing.
 */
int crid_ws_send(struct crid_ws *ws, int opcode, const void *head, size_t head_len,
		 const void *data, size_t len, struct crid_err *err);

/* Bytes queued and not yet written. */
size_t crid_ws_queued(const struct crid_ws *ws);

/* Queues a close frame with |code|; after it is written and the peer's comes, closed() runs. */
void crid_ws_close(struct crid_ws *ws, uint16_t code);

void crid_ws_free(struct crid_ws *ws);

/* base64(SHA-1(|key| + RFC 6455's GUID)) with its NUL: 28 characters. */
void crid_ws_accept_key(const char *key, size_t len, char out[29]);

#endif
