/*
 * The exec and attach sessions (runtime/container/ctr_stream.h gives the
 * process or the container's output): stdin and resize from the client to
 * the process, stdout and stderr to the client with back-pressure both ways,
 * and the end in the order that truncates nothing: reset stdin and resize,
 * the status on the error channel (v4+: a metav1.Status JSON; before: the
 * error text, nothing on success), close stdout, stderr and error, then the
 * connection's finish().
 */
#ifndef CRID_REMOTE_CMD_H
#define CRID_REMOTE_CMD_H

#include "reactor/err.h"
#include "reactor/loop.h"
#include "runtime/stream/stream_conn.h"
#include "runtime/stream/stream_req.h"

struct crid_ctrs;

/*
 * A session for |req| (exec or attach; taken over: freed with the session),
 * waiting for its connection's start(). NULL with |err| (|req| then still
 * the caller's).
 */
struct crid_stream_session *crid_remote_cmd_new(struct crid_loop *loop, struct crid_ctrs *ctrs,
						struct crid_stream_req *req, struct crid_err *err);

/* A session that never got a connection (the handshake failed). */
void crid_remote_cmd_free(struct crid_stream_session *s);

#endif
