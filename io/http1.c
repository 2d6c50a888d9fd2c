/*
 * The HTTP/1.1 request head of a streaming connection: picohttpparser
 * (libh2o's copy) splits it; this file adds the size limits, the token
 * lists of Connection/Upgrade/X-Stream-Protocol-Version, and the few
 * responses the streaming server writes before it upgrades or gives up.
 */
#include <stdio.h>
#include <string.h>
#include <strings.h>

#include "io/http1.h"

/*
 * Debian's libh2o-dev installs libh2o with phr_parse_request exported but
 * without picohttpparser.h; these are its declarations, unchanged since
 * picohttpparser 1.0 (h2o's deps/picohttpparser/picohttpparser.h).
 */
struct phr_header {
	const char *name;
	size_t name_len;
	const char *value;
	size_t value_len;
};
int phr_parse_request(const char *buf, size_t len, const char **method, size_t *method_len,
		      const char **path, size_t *path_len, int *minor_version,
		      struct phr_header *headers, size_t *num_headers, size_t last_len);

/*
 * One slot more than allowed: a head that fills it has too many headers.
 * phr returns -1 when the array is full before the head ends, with
 * |num_headers| left at the capacity (a malformed line leaves it lower).
 */
#define PHR_CAP (CRID_HTTP1_MAX_HEADERS + 1)

int crid_http1_parse(const char *buf, size_t len, struct crid_http1_req *req)
{
	struct phr_header h[PHR_CAP];
	size_t n = PHR_CAP;
	size_t scan = len < CRID_HTTP1_MAX_HEAD ? len : CRID_HTTP1_MAX_HEAD;
	int r;

	memset(req, 0, sizeof(*req));
	/* Never look past the limit: a longer head is refused, not parsed. */
	r = phr_parse_request(buf, scan, &req->method, &req->method_len, &req->path, &req->path_len,
			      &req->minor_version, h, &n, 0);
	if (r == -2)
		return len >= CRID_HTTP1_MAX_HEAD ? CRID_HTTP1_TOO_LARGE : CRID_HTTP1_INCOMPLETE;
	if (r == -1 && n == PHR_CAP)
		return CRID_HTTP1_TOO_LARGE;
	if (r < 0)
		return CRID_HTTP1_MALFORMED;
	if (n > CRID_HTTP1_MAX_HEADERS)
		return CRID_HTTP1_TOO_LARGE;
	if (req->minor_version < 0 || req->minor_version > 1)
		return CRID_HTTP1_MALFORMED;
	for (size_t i = 0; i < n; i++) {
		/* phr gives obsolete line folding as a header without a name: refuse it (RFC 9112 §5.2). */
		if (!h[i].name || h[i].name_len == 0)
			return CRID_HTTP1_MALFORMED;
		req->headers[i] = (struct crid_http1_header){
			.name = h[i].name,
			.name_len = h[i].name_len,
			.value = h[i].value,
			.value_len = h[i].value_len,
		};
	}
	req->n_headers = n;
	req->head_len = (size_t)r;
	return 0;
}

static bool name_is(const struct crid_http1_header *h, const char *name)
{
	return strlen(name) == h->name_len && strncasecmp(h->name, name, h->name_len) == 0;
}

const struct crid_http1_header *crid_http1_find(const struct crid_http1_req *req, const char *name)
{
	for (size_t i = 0; i < req->n_headers; i++)
		if (name_is(&req->headers[i], name))
			return &req->headers[i];
	return NULL;
}

static bool is_ows(char c)
{
	return c == ' ' || c == '\t';
}

/* Calls |fn| on each non-empty comma-separated element of one value, trimmed. */
static int each_in_value(const char *v, size_t len,
			 int (*fn)(void *user, const char *tok, size_t len), void *user)
{
	size_t i = 0;

	while (i < len) {
		size_t start, end;
		int r;

		while (i < len && (is_ows(v[i]) || v[i] == ','))
			i++;
		start = i;
		while (i < len && v[i] != ',')
			i++;
		end = i;
		while (end > start && is_ows(v[end - 1]))
			end--;
		if (end > start && (r = fn(user, v + start, end - start)) != 0)
			return r;
	}
	return 0;
}

int crid_http1_each_token(const struct crid_http1_req *req, const char *name,
			  int (*fn)(void *user, const char *tok, size_t len), void *user)
{
	for (size_t i = 0; i < req->n_headers; i++) {
		const struct crid_http1_header *h = &req->headers[i];
		int r;

		if (name_is(h, name) && (r = each_in_value(h->value, h->value_len, fn, user)) != 0)
			return r;
	}
	return 0;
}

static int token_matches(void *user, const char *tok, size_t len)
{
	const char *want = user;

	return strlen(want) == len && strncasecmp(tok, want, len) == 0;
}

bool crid_http1_has_token(const struct crid_http1_req *req, const char *name, const char *token)
{
	return crid_http1_each_token(req, name, token_matches, (void *)token) != 0;
}

static const char *reason(int status)
{
	switch (status) {
	case 101:
		return "Switching Protocols";
	case 200:
		return "OK";
	case 400:
		return "Bad Request";
	case 403:
		return "Forbidden";
	case 404:
		return "Not Found";
	case 405:
		return "Method Not Allowed";
	case 408:
		return "Request Timeout";
	case 413:
		return "Content Too Large";
	case 426:
		return "Upgrade Required";
	case 431:
		return "Request Header Fields Too Large";
	case 500:
		return "Internal Server Error";
	case 501:
		return "Not Implemented";
	case 503:
		return "Service Unavailable";
	default:
		return "Unknown";
	}
}

size_t crid_http1_response(char *buf, size_t size, int status, const char *headers,
			   const char *body)
{
	int n;

	/* A 101 hands the socket to the new protocol: no body, no Connection: close. */
	if (status == 101)
		n = snprintf(buf, size, "HTTP/1.1 101 %s\r\n%s\r\n", reason(status),
			     headers ? headers : "");
	else
		n = snprintf(buf, size,
			     "HTTP/1.1 %d %s\r\n%s%sContent-Length: %zu\r\n"
			     "Connection: close\r\n\r\n%s",
			     status, reason(status), headers ? headers : "",
			     body ? "Content-Type: text/plain; charset=utf-8\r\n" : "",
			     body ? strlen(body) : 0, body ? body : "");
	if (n < 0 || (size_t)n >= size)
		return 0;
	return (size_t)n;
}
