/*
 * The HTTP/1.1 request head of a streaming connection (exec, attach,
 * port-forward), parsed by picohttpparser's phr_parse_request as libh2o
 * exports it (Debian ships the library, not the header: the one stable
 * declaration crid needs is in http1.c). Only what an Upgrade needs: method,
 * path, headers; no body is ever read (the clients send none), no keep-alive.
 * Pure functions on caller buffers: the request points into them.
 */
#ifndef CRID_HTTP1_H
#define CRID_HTTP1_H

#include <stdbool.h>
#include <stddef.h>

#define CRID_HTTP1_MAX_HEAD (8u << 10) /* request line + headers; more is 431 */
#define CRID_HTTP1_MAX_HEADERS 64      /* more is 431 */

struct crid_http1_header {
	const char *name, *value;
	size_t name_len, value_len;
};

struct crid_http1_req {
	const char *method, *path;
	size_t method_len, path_len;
	int minor_version;
	struct crid_http1_header headers[CRID_HTTP1_MAX_HEADERS];
	size_t n_headers;
	/* bytes of |buf| the head took; what follows belongs to the upgraded protocol */
	size_t head_len;
};

enum {
	/* read more (unless |len| reached CRID_HTTP1_MAX_HEAD: too large) */
	CRID_HTTP1_INCOMPLETE = -2,
	CRID_HTTP1_MALFORMED = -1, /* answer 400 */
	CRID_HTTP1_TOO_LARGE = -3, /* answer 431 */
};

/*
 * Parses the head in |buf|: 0 with |req| filled, or one of the negative
 * values above. HTTP/1.0 and 1.1 only.
 */
int crid_http1_parse(const char *buf, size_t len, struct crid_http1_req *req);

/* The first header named |name| (case-insensitive), NULL when absent. */
const struct crid_http1_header *crid_http1_find(const struct crid_http1_req *req, const char *name);

/*
 * True when some header named |name| lists |token| (case-insensitive),
 * across repeated header lines and comma-separated values, whitespace
 * trimmed: `Connection: keep-alive, Upgrade` has token "upgrade".
 */
bool crid_http1_has_token(const struct crid_http1_req *req, const char *name, const char *token);

/*
 * Calls |fn| for each token of every header named |name| in order (the same
 * splitting as above) until it returns nonzero; returns that value or 0.
 */
int crid_http1_each_token(const struct crid_http1_req *req, const char *name,
			  int (*fn)(void *user, const char *tok, size_t len), void *user);

/*
 * Writes a complete response with |status| and its standard reason phrase,
 * the optional extra header lines |headers| (each ending in "\r\n", or NULL),
 * and a text/plain |body| (or NULL) with its Content-Length and
 * `Connection: close`. A 101 gets only the status line and |headers| (the
 * caller's Connection/Upgrade lines): the socket then speaks the new
 * protocol. Returns the length, or 0 when it does not fit |size|.
 */
size_t crid_http1_response(char *buf, size_t size, int status, const char *headers,
			   const char *body);

#endif
