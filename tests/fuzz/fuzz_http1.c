/*
 * libFuzzer target for the streaming server's HTTP/1.1 head parser: any
 * bytes give 0 or one of the negative results, never a read past |size|
 * (the input is copied to an exact-size heap buffer for ASan); on success
 * every slice lies inside the head, the token walks visit only non-empty
 * tokens without blanks at their ends, and a response for the parsed path
 * fits or is refused.
 */
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "io/http1.h"

static bool inside(const char *buf, size_t head, const char *p, size_t len)
{
	return len == 0 || (p >= buf && p + len <= buf + head);
}

static int check_token(void *user, const char *tok, size_t len)
{
	(void)user;
	if (len == 0 || tok[0] == ' ' || tok[0] == '\t' || tok[0] == ',' || tok[len - 1] == ' ' ||
	    tok[len - 1] == '\t' || memchr(tok, ',', len))
		abort();
	return 0;
}

static void check_req(const char *buf, const struct crid_http1_req *req)
{
	char resp[256];

	if (req->head_len == 0 || req->head_len > CRID_HTTP1_MAX_HEAD ||
	    req->n_headers > CRID_HTTP1_MAX_HEADERS || req->minor_version < 0 ||
	    req->minor_version > 1)
		abort();
	if (!inside(buf, req->head_len, req->method, req->method_len) ||
	    !inside(buf, req->head_len, req->path, req->path_len))
		abort();
	for (size_t i = 0; i < req->n_headers; i++) {
		const struct crid_http1_header *h = &req->headers[i];

		if (!inside(buf, req->head_len, h->name, h->name_len) ||
		    !inside(buf, req->head_len, h->value, h->value_len))
			abort();
	}
	crid_http1_each_token(req, "connection", check_token, NULL);
	crid_http1_each_token(req, "x-stream-protocol-version", check_token, NULL);
	crid_http1_has_token(req, "upgrade", "spdy/3.1");
	crid_http1_find(req, "sec-websocket-key");
	if (crid_http1_response(resp, sizeof(resp), 404, NULL, req->path_len < 200 ? "x" : NULL) ==
	    0)
		abort();
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	struct crid_http1_req req;
	char *buf = malloc(size ? size : 1);
	int r;

	if (!buf)
		return 0;
	memcpy(buf, data, size);
	r = crid_http1_parse(buf, size, &req);
	if (r == 0)
		check_req(buf, &req);
	else if (r != CRID_HTTP1_INCOMPLETE && r != CRID_HTTP1_MALFORMED &&
		 r != CRID_HTTP1_TOO_LARGE)
		abort();
	if (r == CRID_HTTP1_INCOMPLETE && size >= CRID_HTTP1_MAX_HEAD)
		abort();
	free(buf);
	return 0;
}
