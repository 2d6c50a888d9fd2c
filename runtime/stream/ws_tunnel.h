/*
 * The SPDY-over-WebSocket tunnel (`SPDY/3.1+portforward.k8s.io`, what
 * kubectl >= 1.31 and crictl --transport websocket send for port-forward):
 * the client's binary messages carry a raw SPDY byte stream, no channel
 * byte (client-go tools/portforward/tunneling_connection.go). The tunnel
 * bridges them to one end of a socket pair whose other end the caller gives
 * to an ordinary SPDY connection, so the SPDY side is the same code either
 * way. Bytes both ways with back-pressure; the inner end closing flushes,
 * closes the WebSocket (1000) and waits (bounded) for the peer's close; the
 * peer closing or failing closes the inner end, which the SPDY connection
 * reads as the client gone.
 */
#ifndef CRID_WS_TUNNEL_H
#define CRID_WS_TUNNEL_H

#include <stddef.h>
#include <stdint.h>

#include "reactor/err.h"
#include "reactor/loop.h"
#include "runtime/stream/stream_conn.h"

/*
 * Takes |fd| (closed by the tunnel from now on, also on failure) right after
 * the 101 went out; |pre| are bytes that came with the handshake. Links
 * itself into |list| (so the server's shutdown reaches it: a tunnelled
 * session counts twice there) and writes the inner end (non-blocking,
 * the caller's) to |inner|. NULL with |err|.
 */
struct crid_stream_conn *crid_ws_tunnel_new(struct crid_loop *loop, int fd, const uint8_t *pre,
					    size_t pre_len, struct crid_stream_conns *list,
					    const struct crid_stream_limits *limits, int *inner,
					    struct crid_err *err);

#endif
