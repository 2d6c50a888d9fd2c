/*
 * The registry HTTP client: one libcurl multi handle driven by the crid loop
 * (an ev_io per curl socket, one ev_timer), connections reused and HTTP/2
 * multiplexed where the server offers it. Host names are resolved on the loop
 * by io/dns and handed to curl with CURLOPT_RESOLVE, and curl's own resolver
 * is refused (CURLOPT_RESOLVER_START_FUNCTION), so curl never starts a thread.
 * Redirects (GET/HEAD) are followed here, not by curl, so that every new host
 * is resolved the same way; Authorization is dropped when a redirect leaves
 * the origin (scheme, host, port) of the first URL, as curl itself does.
 */
#ifndef CRID_HTTP_CLIENT_H
#define CRID_HTTP_CLIENT_H

#include <stddef.h>

#include "io/dns.h"
#include "reactor/err.h"
#include "reactor/loop.h"

struct crid_http;
struct crid_http_request;

/* Transport failures, reported as a negative status to on_done. */
enum crid_http_error {
	CRID_HTTP_ERESOLVE = -1,  /* host name did not resolve */
	CRID_HTTP_ECONNECT = -2,  /* connection refused or unreachable */
	CRID_HTTP_ETIMEOUT = -3,  /* timeout_ms passed or the transfer stalled */
	CRID_HTTP_ETLS = -4,	  /* TLS handshake or certificate verification */
	CRID_HTTP_ETOOBIG = -5,	  /* buffered body over max_body */
	CRID_HTTP_EABORTED = -6,  /* a callback returned -1 */
	CRID_HTTP_EREDIRECT = -7, /* too many redirects or a bad Location */
	CRID_HTTP_EPROTO = -8,	  /* anything else curl reports */
	CRID_HTTP_ENOMEM = -9,
};

#define CRID_HTTP_MAX_BODY_DEFAULT (4u << 20)
#define CRID_HTTP_MAX_REDIRECTS_DEFAULT 10

/* Everything is copied by crid_http_request_start(); the caller keeps ownership. */
struct crid_http_req {
	const char *method;	    /* "GET" (default when NULL), "HEAD", "POST", ... */
	const char *url;	    /* http:// or https:// only */
	const char *const *headers; /* NULL-terminated "Name: value" lines, or NULL */
	const char *body;	    /* request body (POST/PUT), may be NULL */
	size_t body_len;
	const char *ca_file;	 /* PEM bundle to verify the server with; NULL = system */
	int insecure;		 /* 1: do not verify the TLS certificate or host name */
	long connect_timeout_ms; /* 0: curl's default (300 s) */
	long timeout_ms;	 /* whole transfer incl. redirects' hops each; 0 = none */
	long low_speed_limit;	 /* bytes/s below which ... */
	long low_speed_time;	 /* ... for this many seconds the transfer fails */
	size_t max_body;	 /* buffered bodies (see on_body); 0 = default 4 MiB */
	int max_redirects;	 /* 0 = default 10; -1 = do not follow */
};

struct crid_http_callbacks {
	/*
	 * Optional. The final response's status line and headers arrived
	 * (redirects being followed are not reported). Headers can be read with
	 * crid_http_request_header(). Return 0 to go on, -1 to abort (on_done
	 * then reports CRID_HTTP_EABORTED).
	 */
	int (*on_headers)(void *user, struct crid_http_request *r, int status);
	/*
	 * Optional. Streams the body of a 2xx response. Return 0 when |data| is
	 * consumed, 1 when it is consumed but no more may come until
	 * crid_http_request_resume() (curl is paused, nothing is buffered by
	 * us), -1 to abort. When NULL, or for a non-2xx status, the body is
	 * buffered (up to max_body, CRID_HTTP_ETOOBIG beyond) and given to on_done.
	 */
	int (*on_body)(void *user, const char *data, size_t len);
	/*
	 * Required; the last callback, called from the loop (never from inside
	 * crid_http_request_start). |status| is the HTTP status of the final
	 * response or a negative enum crid_http_error with |errmsg| naming the
	 * method, URL and cause. |body| (NUL-terminated) is the buffered body or
	 * NULL. Headers are readable during the call. |r| is freed afterwards.
	 */
	void (*on_done)(void *user, struct crid_http_request *r, int status, const char *errmsg,
			const char *body, size_t body_len);
};

/* Creates the client: one CURLM on |loop|, names resolved through |dns| (not owned). */
int crid_http_new(struct crid_loop *loop, struct crid_dns *dns, struct crid_http **out,
		  struct crid_err *err);

/* Cancels every request (no callbacks), closes connections and frees |h|. */
void crid_http_free(struct crid_http *h);

/*
 * Starts |req|; |cbs| must outlive the request (usually static const).
 * Returns 0 with *|out| (optional) set to the request, valid until on_done
 * returns or crid_http_request_cancel(); -1 with |err| for a bad request.
 * May be called from inside any callback of this client.
 */
int crid_http_request_start(struct crid_http *h, const struct crid_http_req *req,
			    const struct crid_http_callbacks *cbs, void *user,
			    struct crid_http_request **out, struct crid_err *err);

/* Lets a request paused by on_body returning 1 go on (from the next loop iteration). */
void crid_http_request_resume(struct crid_http_request *r);

/*
 * Stops |r| and frees it; no callback runs after this. Callable from any
 * callback of this client except |r|'s own on_done.
 */
void crid_http_request_cancel(struct crid_http_request *r);

/*
 * The value of the |index|th response header |name| (case-insensitive), or
 * NULL. Valid in on_headers and on_done, until the callback returns.
 */
const char *crid_http_request_header(struct crid_http_request *r, const char *name, size_t index);

/* The URL of the last hop (after redirects). */
const char *crid_http_request_url(const struct crid_http_request *r);

/* Requests started and not yet finished (tests, metrics). */
size_t crid_http_active(const struct crid_http *h);

/* A readable name for a negative status ("connect", "timeout", ...). */
const char *crid_http_strerror(int status);

#endif
