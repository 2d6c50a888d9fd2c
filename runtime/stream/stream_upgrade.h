/*
 * The HTTP/1.1 front of a streaming request, as pure functions on a parsed
 * head (io/http1.h): the route (`/{exec|attach|portforward}/<token>`, GET or
 * POST) and the upgrade negotiation of the spec's §3 (SPDY/3.1 with
 * X-Stream-Protocol-Version) and §6 (WebSocket subprotocols), each with the
 * exact response to send. The server (stream_server.c) does the socket work.
 */
#ifndef CRID_STREAM_UPGRADE_H
#define CRID_STREAM_UPGRADE_H

#include <stdbool.h>
#include <stddef.h>

#include "io/http1.h"
#include "runtime/stream/stream_req.h"
#include "runtime/stream/ws_conn.h"

/* Room for every response these functions write (the 403 lists five protocols). */
#define CRID_STREAM_RESPONSE_MAX 1024

struct crid_stream_route {
	enum crid_stream_kind kind;
	const char *token; /* points into the request's path */
	size_t token_len;
};

/*
 * 0 with |r| filled; 404 when the path (its query ignored) is not exactly one
 * of the routes with a non-empty token; 405 when it is but the method is
 * neither GET nor POST.
 */
int crid_stream_route_parse(const struct crid_http1_req *req, struct crid_stream_route *r);

struct crid_stream_upgrade {
	bool ws;
	int version;		  /* SPDY exec/attach: 1..5 from the protocol; 0 for port-forward */
	enum crid_ws_proto proto; /* WebSocket */
	const char *protocol;	  /* the negotiated protocol; "" for WebSocket without one */
};

/*
 * Negotiates the upgrade |req| asks for a |kind| session: 0 with |u| filled
 * and the 101 response in |out|, or the HTTP status to answer (400: no or a
 * bad upgrade, no protocol offered, WebSocket without version 13 or a key,
 * no supported subprotocol; 403: no supported SPDY protocol, the accepted
 * ones listed) with that response, its body naming the cause, in |out|.
 * |*len| is the response's length either way.
 */
int crid_stream_upgrade_negotiate(const struct crid_http1_req *req, enum crid_stream_kind kind,
				  struct crid_stream_upgrade *u, char out[CRID_STREAM_RESPONSE_MAX],
				  size_t *len);

#endif
