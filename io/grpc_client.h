/*
 * A small gRPC client: unary calls over HTTP/2 cleartext with prior knowledge
 * on a unix socket (nghttp2 client session), as kubelet's cri-client speaks
 * it. Used by cridctl and crid-bench, never by the daemon: it blocks in
 * poll(2). Many calls may be in flight on one connection; nghttp2 queues
 * those beyond the server's SETTINGS_MAX_CONCURRENT_STREAMS.
 *
 * Async use: crid_grpc_client_start() any number of calls, then
 * crid_grpc_client_pump() until they have all completed; each completion runs
 * its callback, which may start further calls on the same connection.
 */
#ifndef CRID_GRPC_CLIENT_H
#define CRID_GRPC_CLIENT_H

#include <stddef.h>
#include <stdint.h>

#include "io/grpc_wire.h"
#include "reactor/err.h"

/* Largest response message accepted, as cri-client's maxMsgSize. */
#define CRID_GRPC_CLIENT_MAX_RECV CRID_GRPC_MAX_MESSAGE

struct crid_grpc_client; /* one connection; opaque */

/* How a call ended, as handed to its completion callback. */
struct crid_grpc_reply {
	int status; /* gRPC status code, 0 = OK */
	const char
	    *message; /* percent-decoded grpc-message, or the client-side cause; never NULL */
	const uint8_t *data; /* the response message when status is 0, else NULL */
	size_t len;
};

/* Runs once per started call. |reply| and its buffers are valid only during the call. */
typedef void (*crid_grpc_client_done_fn)(void *user, const struct crid_grpc_reply *reply);

/*
 * Connects to |endpoint| ("unix:///path", "unix:path" or a plain path) and
 * queues the HTTP/2 preface and SETTINGS. Waits at most |timeout_ms| (<= 0:
 * 5 s) for a full listen backlog. On success *out owns the connection.
 * Errors read like "dial unix /x.sock: connect: No such file or directory".
 */
int crid_grpc_client_connect(const char *endpoint, int timeout_ms, struct crid_grpc_client **out,
			     struct crid_err *err);

/* Completes every call still in flight with CANCELLED, then closes. NULL is a no-op. */
void crid_grpc_client_close(struct crid_grpc_client *c);

/*
 * Starts a unary call of |method| ("/runtime.v1.RuntimeService/Version") with
 * the serialized request |req| (copied). |timeout_ms| > 0 is sent as
 * grpc-timeout and enforced locally (DEADLINE_EXCEEDED); 0 means none.
 * |done| runs from a later crid_grpc_client_pump(), never from here.
 * Returns -1, without calling |done|, when the connection is broken or out
 * of memory.
 */
int crid_grpc_client_start(struct crid_grpc_client *c, const char *method, const void *req,
			   size_t len, int timeout_ms, crid_grpc_client_done_fn done, void *user,
			   struct crid_err *err);

/*
 * Server streaming, as crid_grpc_client_start: |on_message| runs for each
 * response message as it arrives (from inside crid_grpc_client_pump(); it
 * must not start or close calls), then |done| runs once with the final
 * status and no data.
 */
typedef void (*crid_grpc_client_message_fn)(void *user, const uint8_t *msg, size_t len);

int crid_grpc_client_start_stream(struct crid_grpc_client *c, const char *method, const void *req,
				  size_t len, int timeout_ms,
				  crid_grpc_client_message_fn on_message,
				  crid_grpc_client_done_fn done, void *user, struct crid_err *err);

/*
 * Drives the connection until no call is in flight, running completion
 * callbacks as calls finish. Returns 0, or -1 when the connection failed; the
 * calls it carried have then completed with UNAVAILABLE and later starts fail.
 */
int crid_grpc_client_pump(struct crid_grpc_client *c, struct crid_err *err);

/* Calls started and not yet completed. */
size_t crid_grpc_client_in_flight(const struct crid_grpc_client *c);

/* The outcome of a blocking call; owns its buffers. */
struct crid_grpc_result {
	int status;
	char *message; /* never NULL after a successful crid_grpc_client_call() */
	uint8_t *data;
	size_t len;
};

/*
 * Blocking unary call: start + pump. Returns 0 when the call completed (look
 * at res->status), -1 when it could not be started (|err| says why). Free
 * |res| with crid_grpc_result_free().
 */
int crid_grpc_client_call(struct crid_grpc_client *c, const char *method, const void *req,
			  size_t len, int timeout_ms, struct crid_grpc_result *res,
			  struct crid_err *err);

void crid_grpc_result_free(struct crid_grpc_result *res);

#endif
