/*
 * A streaming connection upgraded to SPDY/3.1 (io/spdy.h does the framing):
 * accepts the client's streams (SYN_REPLY), classifies them by their
 * `streamtype` header into the session's channels, echoes PINGs, answers
 * GOAWAY, drops (RST) what it does not know. Exec and attach start the
 * session once every expected stream is there (error, the requested stdio,
 * resize with a tty from v3 on) within the creation limit; port-forward
 * pairs `error` and `data` streams by `requestid` and hands each pair with
 * its `port` to the session.
 */
#ifndef CRID_SPDY_CONN_H
#define CRID_SPDY_CONN_H

#include <stddef.h>
#include <stdint.h>

#include "reactor/err.h"
#include "reactor/loop.h"
#include "runtime/stream/stream_conn.h"
#include "runtime/stream/stream_req.h"

/*
 * Takes |fd| (the accepted socket, non-blocking; closed by the connection
 * from now on, also on failure) right after the 101 response went out;
 * |pre| are bytes the client sent after its request head. |version| is the
 * negotiated remote-command version (ignored for port-forward); |req| is the
 * session's request (read, not kept). Links into |list|. Sets s->conn.
 */
struct crid_stream_conn *crid_spdy_conn_new(struct crid_loop *loop, int fd, const uint8_t *pre,
					    size_t pre_len, const struct crid_stream_req *req,
					    int version, struct crid_stream_session *s,
					    struct crid_stream_conns *list,
					    const struct crid_stream_limits *limits,
					    struct crid_err *err);

/*
 * Bytes of the spare output chunks all connections share (kept while any
 * connection lives, so frames do not make the heap shrink and regrow); for
 * memory accounting and tests.
 */
size_t crid_spdy_conn_spare_bytes(void);

#endif
