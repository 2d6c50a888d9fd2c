/*
 * cridctl's streaming client: the URL an Exec/Attach/PortForward RPC returns,
 * the HTTP/1.1 Upgrade to SPDY/3.1 as client-go's SPDY round tripper sends
 * it, and a SPDY connection over a non-blocking socket with an outbound
 * queue (the caller's poll() loop drives it; cridctl is a CLI and may block
 * in poll); the WebSocket handshake for io/ws.h. The sessions built on them
 * are in stream_exec.c (exec, attach over SPDY), ws_exec.c (over WebSocket)
 * and portforward.c.
 */
#ifndef CRIDCTL_STREAM_CLIENT_H
#define CRIDCTL_STREAM_CLIENT_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "io/spdy.h"
#include "io/ws.h"
#include "reactor/err.h"

/* The exec/attach subprotocols offered, client preference order (v5 is v4 on SPDY). */
extern const char *const cridctl_remotecmd_protocols[];
extern const size_t cridctl_remotecmd_n_protocols;

/* Queued output beyond this stops reading local input (back-pressure). */
#define CRIDCTL_SPDY_OUT_HIGH (256u << 10)

struct cridctl_url {
	char host[256]; /* without brackets for IPv6 */
	char port[8];
	char path[2048]; /* with the query, "/" at least */
};

/*
 * Splits an http:// URL. A URL with no host (a path) goes to
 * 127.0.0.1:10250 as crictl does (its kubelet default). https is refused:
 * crid serves plain HTTP on a local address.
 */
int cridctl_url_parse(const char *url, struct cridctl_url *u, struct crid_err *err);

/*
 * The Upgrade request: `POST <path> HTTP/1.1`, Host, `Connection: Upgrade`,
 * `Upgrade: <upgrade>` and one X-Stream-Protocol-Version line per protocol.
 * Returns the length, 0 when it does not fit |size|.
 */
size_t cridctl_upgrade_request(char *buf, size_t size, const struct cridctl_url *u,
			       const char *upgrade, const char *const *protos, size_t n);

/*
 * Parses the response head in |buf|: the head's length with the chosen
 * protocol copied to |proto| (empty when the server named none), 0 when the
 * head is not whole yet, -1 with |err| when it is not a 101 with
 * `Connection: Upgrade` and `Upgrade: <upgrade>` (client-go's check), the
 * message naming the status and the body's first line.
 */
int cridctl_upgrade_response(const char *buf, size_t len, const char *upgrade, char *proto,
			     size_t proto_size, struct crid_err *err);

/*
 * The remote command's outcome from the v4 error stream (a metav1.Status
 * JSON) or, for v1-v3, its plain text: 0 with *exit_code set (0 on Success,
 * the ExitCode cause of NonZeroExitCode), or 1 with |msg| set for any other
 * failure. An empty stream is success, as client-go reads it.
 */
int cridctl_exec_status(const char *text, size_t len, bool v4, int *exit_code, char *msg,
			size_t msg_size);

/*
 * Checks a response head in |buf|: its length when whole and good, 0 when
 * more is needed, -1 with |err| when refused.
 */
typedef int (*cridctl_head_check_fn)(const char *buf, size_t len, void *ctx, struct crid_err *err);

/*
 * Connects to |u|, sends the |len| bytes of |req| and reads the response
 * head until |check| accepts or refuses it (at most |timeout_ms|). Returns
 * the socket, now non-blocking, with the bytes after the head in *pre
 * (crid_free it; NULL when none), or -1 with |err|.
 */
int cridctl_stream_dial(const struct cridctl_url *u, const char *req, size_t len,
			cridctl_head_check_fn check, void *ctx, int timeout_ms, uint8_t **pre,
			size_t *pre_len, struct crid_err *err);

/*
 * The WebSocket Upgrade request (GET, Sec-WebSocket-Key |key|, version 13,
 * |protos| in one Sec-WebSocket-Protocol line). 0 when it does not fit.
 */
size_t cridctl_ws_request(char *buf, size_t size, const struct cridctl_url *u, const char *key,
			  const char *const *protos, size_t n);

/*
 * As cridctl_upgrade_response for a WebSocket 101: `Upgrade: websocket` and
 * the Sec-WebSocket-Accept of |key| required; the chosen subprotocol to |proto|.
 */
int cridctl_ws_response(const char *buf, size_t len, const char *key, char *proto,
			size_t proto_size, struct crid_err *err);

/* A fresh Sec-WebSocket-Key: base64 of 16 random bytes. */
int cridctl_ws_key(char out[25]);

struct cridctl_spdy {
	int fd;
	struct crid_spdy_codec *codec;
	uint8_t *out;
	size_t out_len, out_cap, out_off;
	uint8_t *in; /* bytes that came after the 101 head, fed first */
	size_t in_len;
	uint32_t next_id;
	bool eof;
	/* SPDY tunnelled in WebSocket binary messages (SPDY/3.1+portforward.k8s.io) */
	struct crid_ws *ws;
	struct cridctl_spdy_read_ctx *reading; /* during cridctl_spdy_read */
};

/* The WebSocket subprotocol that carries a SPDY port-forward (client-go's tunnel). */
#define CRIDCTL_SPDY_TUNNEL_PROTOCOL "SPDY/3.1+portforward.k8s.io"

/*
 * As cridctl_spdy_dial, over a WebSocket whose binary messages carry the
 * SPDY byte stream (client-go tools/portforward/tunneling_connection.go).
 */
int cridctl_spdy_dial_ws(struct cridctl_spdy *s, const char *url, int timeout_ms,
			 struct crid_err *err);

/* The poll() events the connection waits for. */
short cridctl_spdy_events(const struct cridctl_spdy *s);

/* Bytes queued towards the server and not yet written. */
size_t cridctl_spdy_queued(const struct cridctl_spdy *s);

/*
 * Connects to |url| and upgrades to SPDY/3.1 offering |protos|; the chosen
 * one goes to |proto|. Blocks at most |timeout_ms| for the handshake.
 */
int cridctl_spdy_dial(struct cridctl_spdy *s, const char *url, const char *const *protos, size_t n,
		      char *proto, size_t proto_size, int timeout_ms, struct crid_err *err);

void cridctl_spdy_close(struct cridctl_spdy *s);

/* Queues a SYN_STREAM with |headers|; returns its (odd) stream id or 0 with |err|. */
uint32_t cridctl_spdy_open(struct cridctl_spdy *s, const struct crid_spdy_header *headers, size_t n,
			   struct crid_err *err);

/* Queues |len| bytes of DATA on |id| (any length: split into frames), FIN when |fin|. */
int cridctl_spdy_send(struct cridctl_spdy *s, uint32_t id, const void *data, size_t len, bool fin,
		      struct crid_err *err);

/* Queues RST_STREAM |status| on |id|. */
int cridctl_spdy_reset(struct cridctl_spdy *s, uint32_t id, uint32_t status, struct crid_err *err);

/* Writes what the socket takes now; -1 with |err| when it is broken. */
int cridctl_spdy_flush(struct cridctl_spdy *s, struct crid_err *err);

/* Flushes everything, blocking up to |timeout_ms|. */
int cridctl_spdy_drain(struct cridctl_spdy *s, int timeout_ms, struct crid_err *err);

/*
 * Reads what the socket has and passes each frame to |fn|; PINGs from the
 * server are echoed here and not passed up. Sets s->eof at end of stream.
 * -1 with |err| on a read or protocol error.
 */
int cridctl_spdy_read(struct cridctl_spdy *s, crid_spdy_frame_fn fn, void *user,
		      struct crid_err *err);

#endif
