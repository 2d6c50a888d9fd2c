/*
 * A streaming connection upgraded to WebSocket (io/ws.h does the framing):
 * messages are a channel byte and a payload, binary (`channel.k8s.io`,
 * `v4.channel.k8s.io`, `v5.channel.k8s.io`, no subprotocol) or base64 text
 * (`base64.channel.k8s.io`, `v4.base64.channel.k8s.io`); v5 adds the CLOSE
 * signal [255, channel]. Exec and attach start at once (after the empty
 * message on the lowest writable channel that tells the client it is
 * connected); port-forward makes one pair per requested port and first sends
 * the port (u16 little-endian) on each of its channels. The SPDY-over-WebSocket
 * tunnel (`SPDY/3.1+portforward.k8s.io`) carries a SPDY byte stream instead.
 */
#ifndef CRID_WS_CONN_H
#define CRID_WS_CONN_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "reactor/err.h"
#include "reactor/loop.h"
#include "runtime/stream/stream_conn.h"
#include "runtime/stream/stream_req.h"

enum crid_ws_proto {
	CRID_WS_CHANNEL,     /* "" and channel.k8s.io: binary, v1 status */
	CRID_WS_BASE64,	     /* base64.channel.k8s.io */
	CRID_WS_V4,	     /* v4.channel.k8s.io */
	CRID_WS_V4_BASE64,   /* v4.base64.channel.k8s.io */
	CRID_WS_V5,	     /* v5.channel.k8s.io */
	CRID_WS_SPDY_TUNNEL, /* SPDY/3.1+portforward.k8s.io */
};

/*
 * Takes |fd| right after the 101 response went out (closed by the
 * connection from now on, also on failure); as crid_spdy_conn_new.
 */
struct crid_stream_conn *crid_ws_conn_new(struct crid_loop *loop, int fd, const uint8_t *pre,
					  size_t pre_len, const struct crid_stream_req *req,
					  enum crid_ws_proto proto, struct crid_stream_session *s,
					  struct crid_stream_conns *list,
					  const struct crid_stream_limits *limits,
					  struct crid_err *err);

#endif
