/*
 * The streaming server's HTTP/1.1 request head: client-go's real SPDY
 * upgrade request and a WebSocket one, protocol tokens across repeated and
 * comma-separated lines, every proper prefix incomplete, malformed heads,
 * the size and header-count limits (431), and responses byte-exact.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "io/http1.h"
#include "tests/unit/tap.h"

/* What client-go's SPDY round tripper sends for crictl exec (spec §3), then SPDY bytes. */
static const char spdy_req[] = "POST /exec/AbCdEf_- HTTP/1.1\r\n"
			       "Host: 127.0.0.1:38419\r\n"
			       "User-Agent: crictl/v1.29.0 (linux/amd64) kubernetes/$Format\r\n"
			       "Content-Length: 0\r\n"
			       "Connection: Upgrade\r\n"
			       "Upgrade: SPDY/3.1\r\n"
			       "X-Stream-Protocol-Version: v5.channel.k8s.io\r\n"
			       "X-Stream-Protocol-Version: v4.channel.k8s.io\r\n"
			       "X-Stream-Protocol-Version: v3.channel.k8s.io\r\n"
			       "X-Stream-Protocol-Version: v2.channel.k8s.io\r\n"
			       "X-Stream-Protocol-Version: channel.k8s.io\r\n"
			       "Accept-Encoding: gzip\r\n"
			       "\r\n"
			       "\x80\x03\x00\x01";

static const char ws_req[] =
    "GET /attach/ZZZZ0000?stdout=1 HTTP/1.1\r\n"
    "Host: localhost\r\n"
    "connection: keep-alive, Upgrade\r\n"
    "upgrade: websocket\r\n"
    "Sec-WebSocket-Version: 13\r\n"
    "Sec-WebSocket-Key: dGhlIHNhbXBsZSBub25jZQ==\r\n"
    "Sec-WebSocket-Protocol: v4.channel.k8s.io, , base64.channel.k8s.io ,\t"
    "channel.k8s.io\r\n"
    "\r\n";

struct toks {
	char s[512];
	int n, stop_at;
};

static int collect(void *user, const char *tok, size_t len)
{
	struct toks *t = user;
	size_t used = strlen(t->s);

	snprintf(t->s + used, sizeof(t->s) - used, "%s%.*s", t->n ? "|" : "", (int)len, tok);
	if (++t->n == t->stop_at)
		return 7;
	return 0;
}

static bool slice_is(const char *p, size_t len, const char *want)
{
	return len == strlen(want) && memcmp(p, want, len) == 0;
}

static void test_spdy_upgrade(void)
{
	struct crid_http1_req req;
	const struct crid_http1_header *h;
	struct toks t = { .stop_at = -1 };
	size_t len = sizeof(spdy_req) - 1;

	CHECK(crid_http1_parse(spdy_req, len, &req) == 0, "client-go's SPDY upgrade parses");
	CHECK(slice_is(req.method, req.method_len, "POST"), "method POST");
	CHECK(slice_is(req.path, req.path_len, "/exec/AbCdEf_-"), "path with the token");
	CHECK(req.minor_version == 1, "HTTP/1.1");
	CHECK(req.n_headers == 11, "11 headers (got %zu)", req.n_headers);
	CHECK(req.head_len == len - 4, "head_len stops before the SPDY bytes (%zu)", req.head_len);
	CHECK(memcmp(spdy_req + req.head_len, "\x80\x03", 2) == 0, "what follows is SPDY");
	CHECK(crid_http1_has_token(&req, "connection", "upgrade"), "Connection has upgrade");
	CHECK(crid_http1_has_token(&req, "UPGRADE", "spdy/3.1"), "Upgrade has spdy/3.1");
	CHECK(!crid_http1_has_token(&req, "upgrade", "websocket"), "not websocket");
	CHECK(!crid_http1_has_token(&req, "upgrade", "spdy/3"), "a prefix is no token");
	h = crid_http1_find(&req, "x-stream-protocol-version");
	CHECK(h && slice_is(h->value, h->value_len, "v5.channel.k8s.io"), "find: the first line");
	CHECK(crid_http1_find(&req, "sec-websocket-key") == NULL, "find: absent is NULL");
	CHECK(crid_http1_each_token(&req, "X-Stream-Protocol-Version", collect, &t) == 0 &&
		  strcmp(t.s, "v5.channel.k8s.io|v4.channel.k8s.io|v3.channel.k8s.io|"
			      "v2.channel.k8s.io|channel.k8s.io") == 0,
	      "every protocol line in client order: %s", t.s);
}

static void test_ws_upgrade(void)
{
	struct crid_http1_req req;
	const struct crid_http1_header *h;
	struct toks t = { .stop_at = -1 }, t2 = { .stop_at = 2 };

	CHECK(crid_http1_parse(ws_req, sizeof(ws_req) - 1, &req) == 0, "WebSocket upgrade parses");
	CHECK(slice_is(req.method, req.method_len, "GET"), "method GET");
	CHECK(slice_is(req.path, req.path_len, "/attach/ZZZZ0000?stdout=1"), "path with query");
	CHECK(req.head_len == sizeof(ws_req) - 1, "head_len is the whole buffer");
	CHECK(crid_http1_has_token(&req, "Connection", "UPGRADE"), "upgrade after keep-alive");
	CHECK(crid_http1_has_token(&req, "Connection", "keep-alive"), "keep-alive too");
	CHECK(crid_http1_has_token(&req, "Upgrade", "WebSocket"), "websocket, any case");
	h = crid_http1_find(&req, "SEC-WEBSOCKET-KEY");
	CHECK(h && slice_is(h->value, h->value_len, "dGhlIHNhbXBsZSBub25jZQ=="), "the key");
	CHECK(crid_http1_each_token(&req, "sec-websocket-protocol", collect, &t) == 0 &&
		  strcmp(t.s, "v4.channel.k8s.io|base64.channel.k8s.io|channel.k8s.io") == 0,
	      "commas split, blanks trimmed, empty skipped: %s", t.s);
	CHECK(crid_http1_each_token(&req, "sec-websocket-protocol", collect, &t2) == 7 && t2.n == 2,
	      "each_token stops at the first nonzero and returns it");
}

static void test_mixed_tokens(void)
{
	static const char r[] = "GET / HTTP/1.0\r\n"
				"X-Stream-Protocol-Version: v4.channel.k8s.io,v3.channel.k8s.io\r\n"
				"Other: x\r\n"
				"x-stream-protocol-version:channel.k8s.io\r\n"
				"X-Stream-Protocol-Version:\r\n"
				"\r\n";
	struct crid_http1_req req;
	struct toks t = { .stop_at = -1 };

	CHECK(crid_http1_parse(r, sizeof(r) - 1, &req) == 0 && req.minor_version == 0,
	      "HTTP/1.0 parses");
	crid_http1_each_token(&req, "x-stream-protocol-version", collect, &t);
	CHECK(strcmp(t.s, "v4.channel.k8s.io|v3.channel.k8s.io|channel.k8s.io") == 0 && t.n == 3,
	      "comma-separated and repeated lines, empty line none: %s", t.s);
	CHECK(crid_http1_has_token(&req, "X-STREAM-PROTOCOL-VERSION", "V3.CHANNEL.K8S.IO"),
	      "has_token in a comma list, any case");
	CHECK(!crid_http1_has_token(&req, "connection", "upgrade"), "absent header has no token");
}

static void test_incomplete(void)
{
	size_t len = sizeof(spdy_req) - 1 - 4, bad = 0;
	struct crid_http1_req req;

	for (size_t i = 0; i < len; i++)
		if (crid_http1_parse(spdy_req, i, &req) != CRID_HTTP1_INCOMPLETE)
			bad++;
	CHECK(bad == 0, "every proper prefix of the head is incomplete (%zu were not)", bad);
	CHECK(crid_http1_parse(spdy_req, len, &req) == 0 && req.head_len == len,
	      "the exact head parses");
}

static void test_malformed(void)
{
	static const char *bad[] = {
		"GET\r\n\r\n",
		"GET /x\r\n\r\n",
		"GET /x HTTP/1.1 extra\r\n\r\n",
		"GET /x HTTP/2.0\r\n\r\n",
		"GET /x HTTP/1.2\r\n\r\n",
		"GET /x FTP/1.1\r\n\r\n",
		"GET /x HTTP/1.1\r\nNo-Colon\r\n\r\n",
		"GET /x HTTP/1.1\r\n: empty-name\r\n\r\n",
		"GET /x HTTP/1.1\r\nBad Name: v\r\n\r\n",
		"GET /x HTTP/1.1\r\nA: b\r\n folded\r\n\r\n",
		"GET /x HTTP/1.1\r\nA: b\x01\r\n\r\n",
		"\x16\x03\x01\x02\x00\x01\x00\x01\xfc\x03\x03 tls hello\r\n\r\n",
	};
	struct crid_http1_req req;

	for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
		int r = crid_http1_parse(bad[i], strlen(bad[i]), &req);

		CHECK(r == CRID_HTTP1_MALFORMED, "malformed #%zu is MALFORMED (got %d)", i, r);
	}
}

static void test_too_large(void)
{
	size_t cap = CRID_HTTP1_MAX_HEAD + 4096, n;
	char *buf = malloc(cap);
	struct crid_http1_req req;
	int r;

	/* One long header: incomplete below the limit, too large at it. */
	n = (size_t)snprintf(buf, cap, "GET /x HTTP/1.1\r\nX-Big: ");
	memset(buf + n, 'a', cap - n);
	CHECK(crid_http1_parse(buf, CRID_HTTP1_MAX_HEAD - 1, &req) == CRID_HTTP1_INCOMPLETE,
	      "an unfinished head under the limit is incomplete");
	CHECK(crid_http1_parse(buf, CRID_HTTP1_MAX_HEAD, &req) == CRID_HTTP1_TOO_LARGE,
	      "an unfinished head at the limit is too large");
	CHECK(crid_http1_parse(buf, cap, &req) == CRID_HTTP1_TOO_LARGE, "and past it");
	memcpy(buf + CRID_HTTP1_MAX_HEAD + 100, "\r\n\r\n", 4);
	CHECK(crid_http1_parse(buf, cap, &req) == CRID_HTTP1_TOO_LARGE,
	      "a complete head over the limit is too large");

	/* A head of exactly the limit parses. */
	n = (size_t)snprintf(buf, cap, "GET /x HTTP/1.1\r\nX-Big: ");
	memset(buf + n, 'b', CRID_HTTP1_MAX_HEAD - n - 4);
	memcpy(buf + CRID_HTTP1_MAX_HEAD - 4, "\r\n\r\nMORE", 8);
	r = crid_http1_parse(buf, CRID_HTTP1_MAX_HEAD + 4, &req);
	CHECK(r == 0 && req.head_len == CRID_HTTP1_MAX_HEAD, "a head of exactly %u bytes parses",
	      CRID_HTTP1_MAX_HEAD);

	/* Header counts: the limit parses, one more is too large, many more too. */
	for (int count = CRID_HTTP1_MAX_HEADERS; count <= CRID_HTTP1_MAX_HEADERS + 40; count++) {
		n = (size_t)snprintf(buf, cap, "GET /x HTTP/1.1\r\n");
		for (int i = 0; i < count; i++)
			n += (size_t)snprintf(buf + n, cap - n, "H%d: v\r\n", i);
		n += (size_t)snprintf(buf + n, cap - n, "\r\n");
		r = crid_http1_parse(buf, n, &req);
		if (count == CRID_HTTP1_MAX_HEADERS)
			CHECK(r == 0 && req.n_headers == CRID_HTTP1_MAX_HEADERS, "%d headers parse",
			      count);
		else if (count == CRID_HTTP1_MAX_HEADERS + 1 ||
			 count == CRID_HTTP1_MAX_HEADERS + 40)
			CHECK(r == CRID_HTTP1_TOO_LARGE, "%d headers are too large (got %d)", count,
			      r);
		else if (r != CRID_HTTP1_TOO_LARGE)
			CHECK(0, "%d headers are too large (got %d)", count, r);
	}
	free(buf);
}

static void test_responses(void)
{
	char buf[512];
	size_t n;

	n = crid_http1_response(buf, sizeof(buf), 101,
				"Connection: Upgrade\r\nUpgrade: SPDY/3.1\r\n"
				"X-Stream-Protocol-Version: v4.channel.k8s.io\r\n",
				NULL);
	CHECK(n == strlen(buf) && strcmp(buf, "HTTP/1.1 101 Switching Protocols\r\n"
					      "Connection: Upgrade\r\nUpgrade: SPDY/3.1\r\n"
					      "X-Stream-Protocol-Version: v4.channel.k8s.io\r\n"
					      "\r\n") == 0,
	      "101 byte-exact");
	n = crid_http1_response(buf, sizeof(buf), 403,
				"X-Accepted-Stream-Protocol-Versions: v4.channel.k8s.io\r\n",
				"no protocol in common\n");
	CHECK(n == strlen(buf) &&
		  strcmp(buf, "HTTP/1.1 403 Forbidden\r\n"
			      "X-Accepted-Stream-Protocol-Versions: v4.channel.k8s.io\r\n"
			      "Content-Type: text/plain; charset=utf-8\r\n"
			      "Content-Length: 22\r\n"
			      "Connection: close\r\n\r\n"
			      "no protocol in common\n") == 0,
	      "403 with header and body byte-exact");
	n = crid_http1_response(buf, sizeof(buf), 404, NULL, NULL);
	CHECK(n == strlen(buf) && strcmp(buf, "HTTP/1.1 404 Not Found\r\nContent-Length: 0\r\n"
					      "Connection: close\r\n\r\n") == 0,
	      "404 bare byte-exact");
	n = crid_http1_response(buf, sizeof(buf), 431, NULL, "head too large");
	CHECK(n == strlen(buf) &&
		  strcmp(buf, "HTTP/1.1 431 Request Header Fields Too Large\r\n"
			      "Content-Type: text/plain; charset=utf-8\r\n"
			      "Content-Length: 14\r\nConnection: close\r\n\r\nhead too large") == 0,
	      "431 byte-exact");
	static const struct {
		int status;
		const char *line;
	} lines[] = {
		{ 400, "HTTP/1.1 400 Bad Request\r\n" },
		{ 405, "HTTP/1.1 405 Method Not Allowed\r\n" },
		{ 500, "HTTP/1.1 500 Internal Server Error\r\n" },
		{ 503, "HTTP/1.1 503 Service Unavailable\r\n" },
	};
	for (size_t i = 0; i < sizeof(lines) / sizeof(lines[0]); i++) {
		n = crid_http1_response(buf, sizeof(buf), lines[i].status, NULL, "x");
		CHECK(n && strncmp(buf, lines[i].line, strlen(lines[i].line)) == 0, "%d: %s",
		      lines[i].status, lines[i].status == 400 ? "Bad Request" : "reason phrase");
	}
	n = crid_http1_response(buf, 40, 404, NULL, "a body that does not fit in forty bytes");
	CHECK(n == 0, "0 when it does not fit");
	size_t exact = strlen("HTTP/1.1 404 Not Found\r\nContent-Length: 0\r\n"
			      "Connection: close\r\n\r\n");
	n = crid_http1_response(buf, exact + 1, 404, NULL, NULL);
	CHECK(n == exact && buf[exact - 1] == '\n', "exactly fitting (with its NUL) is written");
	n = crid_http1_response(buf, exact, 404, NULL, NULL);
	CHECK(n == 0, "one byte short is 0");
}

int main(void)
{
	test_spdy_upgrade();
	test_ws_upgrade();
	test_mixed_tokens();
	test_incomplete();
	test_malformed();
	test_too_large();
	test_responses();
	return tap_done();
}
