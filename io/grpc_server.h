/*
 * gRPC server transport: HTTP/2 with prior knowledge (h2c) on nghttp2,
 * driven by the crid loop. It frames and unframes messages, turns
 * grpc-timeout into a deadline and RST_STREAM or a closed connection into a
 * cancellation, and hands each complete request to one dispatch callback.
 * It knows nothing of CRI: routing is the dispatch callback's business.
 */
#ifndef CRID_GRPC_SERVER_H
#define CRID_GRPC_SERVER_H

#include <stddef.h>
#include <stdint.h>

#include "io/grpc_wire.h"
#include "reactor/loop.h"

struct crid_grpc_server;
struct crid_grpc_call;

/*
 * Called once per call when the request message is complete (after the
 * client's END_STREAM). |msg| is valid only during the callback. The callee
 * must eventually call crid_grpc_call_finish() exactly once, unless the
 * call is cancelled first (see crid_grpc_call_on_cancel()).
 */
typedef void (*crid_grpc_dispatch_fn)(struct crid_grpc_call *call, const char *path,
				      const uint8_t *msg, size_t len, void *user);

/*
 * Called when the call ends before it was finished: client RST_STREAM,
 * connection closed, deadline passed or server shut down. |status| says
 * which (CANCELLED, DEADLINE_EXCEEDED, UNAVAILABLE). After it returns the
 * call must not be used: the server answers it (when still possible) itself.
 */
typedef void (*crid_grpc_cancel_fn)(struct crid_grpc_call *call, int status, void *user);

/* Starts serving on |listen_fd| (takes ownership; -1 = only adopted connections). */
struct crid_grpc_server *crid_grpc_server_new(struct crid_loop *loop, int listen_fd,
					      crid_grpc_dispatch_fn dispatch, void *user,
					      struct crid_err *err);

/* Serves an already connected, non-blocking stream socket (takes ownership). */
int crid_grpc_server_adopt(struct crid_grpc_server *srv, int fd);

/*
 * Graceful shutdown: stops accepting, sends GOAWAY on every connection,
 * lets in-flight calls finish; |done| runs once every connection is closed.
 */
void crid_grpc_server_shutdown(struct crid_grpc_server *srv, void (*done)(void *user), void *user);

/* Ends every unfinished call with UNAVAILABLE, flushes what it can, closes all. */
void crid_grpc_server_abort(struct crid_grpc_server *srv);

void crid_grpc_server_free(struct crid_grpc_server *srv);

/* Number of open connections and unfinished calls (for tests and Status). */
size_t crid_grpc_server_connections(const struct crid_grpc_server *srv);
size_t crid_grpc_server_active_calls(const struct crid_grpc_server *srv);

/* Registers the cancellation callback of the operation serving |call|. */
void crid_grpc_call_on_cancel(struct crid_grpc_call *call, crid_grpc_cancel_fn fn, void *user);

/*
 * Server streaming with back-pressure. |fn| runs on the loop (from the
 * connection's flush, never from inside a crid_grpc_call_* function) when
 * the call's output queue is empty and the stream can send: at once after
 * registration (the first messages), then each time HTTP/2 flow control
 * and the socket have taken everything queued and the client's window
 * still has room. The producer queues its next message(s) with
 * crid_grpc_call_reserve()/send() or finishes the call; a call whose
 * client stops reading is not asked again until it reads, so at most what
 * one callback queues is buffered per call. Finish and cancellation clear
 * it; |fn| must not free the server. NULL unregisters.
 */
typedef void (*crid_grpc_ready_fn)(struct crid_grpc_call *call, void *user);

void crid_grpc_call_on_ready(struct crid_grpc_call *call, crid_grpc_ready_fn fn, void *user);

/* Response bytes queued on the call and not yet taken by HTTP/2 (prefixes included). */
size_t crid_grpc_call_queued(const struct crid_grpc_call *call);

/* Absolute deadline in loop time (seconds), or 0 when the client sent none. */
double crid_grpc_call_deadline(const struct crid_grpc_call *call);

/* Loop time when the request headers arrived. */
double crid_grpc_call_started(const struct crid_grpc_call *call);

/*
 * Reserves room for one response message of |len| bytes and returns where
 * to write it (the 5-byte prefix is already in place), or NULL when the
 * call's output queue would exceed its cap. Headers go out with the first.
 */
uint8_t *crid_grpc_call_reserve(struct crid_grpc_call *call, size_t len);

/*
 * Shrinks the latest reservation, |msg| as crid_grpc_call_reserve()
 * returned it, to its first |len| bytes (a message built in place whose
 * size was known only afterwards). Only before the loop runs again: HTTP/2
 * takes queued bytes when the connection flushes.
 */
void crid_grpc_call_shrink(struct crid_grpc_call *call, uint8_t *msg, size_t len);

/* Copies one response message into the output queue. Returns 0 or -1 (queue full). */
int crid_grpc_call_send(struct crid_grpc_call *call, const void *msg, size_t len);

/*
 * Ends the call with |status| and a message (may be NULL or ""), sent
 * percent-encoded in grpc-message: trailers after queued messages, or a
 * Trailers-Only response when nothing was sent. The call is gone afterwards.
 */
void crid_grpc_call_finish(struct crid_grpc_call *call, int status, const char *message);

#endif
