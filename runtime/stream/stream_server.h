/*
 * The streaming server: a TCP listener on the loop (`stream_address`,
 * `stream_port`; 127.0.0.1 and a free port by default, as CRI-O), one-time
 * tokens for the URLs the Exec, Attach and PortForward RPCs return, and the
 * HTTP/1.1 front of each connection: the request head (io/http1.h), the
 * route `/{exec|attach|portforward}/<token>` (GET or POST; an unknown,
 * expired, used or other-method token is 404), the upgrade to SPDY/3.1 or
 * WebSocket with the protocol negotiation (400, 403 as the spec says), then
 * the connection (spdy_conn.c, ws_conn.c) and its session (remote_cmd.c,
 * port_forward.c) take the socket over.
 */
#ifndef CRID_STREAM_SERVER_H
#define CRID_STREAM_SERVER_H

#include <stdbool.h>
#include <stddef.h>

#include "reactor/err.h"
#include "reactor/loop.h"
#include "runtime/stream/stream_req.h"

#define CRID_STREAM_MAX_TOKENS 1000 /* in flight; more is EAGAIN (RESOURCE_EXHAUSTED) */
#define CRID_STREAM_TOKEN_TTL 60.0  /* seconds */

struct crid_ctrs;
struct crid_pods;
struct crid_stream_server;

struct crid_stream_server_opts {
	const char *address; /* IPv4 or IPv6 literal */
	int port;	     /* 0 = a free one */
	struct crid_ctrs *ctrs;
	struct crid_pods *pods;
	double idle_timeout; /* seconds without a byte either way; 0 = 4 h */
	/* PEM files: both set, the server speaks TLS (io/tls_bridge.h); NULL or "": plain HTTP */
	const char *tls_cert, *tls_key;
};

/* Listens; NULL with |err| when the address cannot be bound or the TLS files not used. */
struct crid_stream_server *crid_stream_server_start(struct crid_loop *loop,
						    const struct crid_stream_server_opts *o,
						    struct crid_err *err);

/*
 * Caches |req| (taken over on success) under a new single-use token and
 * writes the session's fully qualified URL,
 * `http[s]://<address>:<port>/<kind>/<token>`, to |url|. -1 with |err|:
 * EAGAIN when CRID_STREAM_MAX_TOKENS are in flight.
 */
int crid_stream_server_url(struct crid_stream_server *srv, struct crid_stream_req *req, char *url,
			   size_t size, struct crid_err *err);

/* `http[s]://<address>:<port>`, the URLs' base (an IPv6 address in brackets). */
const char *crid_stream_server_base(const struct crid_stream_server *srv);

/* True when the server speaks TLS. */
bool crid_stream_server_tls(const struct crid_stream_server *srv);

/* Open sessions (connections past the handshake) and unused tokens, for Status and tests. */
size_t crid_stream_server_sessions(const struct crid_stream_server *srv);
size_t crid_stream_server_tokens(const struct crid_stream_server *srv);

/* Ends every connection and session, forgets the tokens, closes the listener. */
void crid_stream_server_stop(struct crid_stream_server *srv);

#endif
