/*
 * Unit tests for runtime/stream/stream_upgrade: the routes (404, 405, the
 * query ignored), the SPDY negotiation (400 without a protocol or the upgrade
 * headers, 403 listing the accepted protocols in order, the client's order
 * winning, comma-separated values, the version from the protocol) and the
 * WebSocket one (version 13 and a key, RFC 6455's sample accept key, the
 * subprotocol echoed only when one was offered, exec and port-forward lists
 * kept apart), on heads parsed by io/http1.c.
 */
#include <string.h>

#include "runtime/stream/stream_upgrade.h"
#include "tap.h"

static struct crid_http1_req hr;
static char out[CRID_STREAM_RESPONSE_MAX];
static size_t out_len;

static bool parse(const char *head)
{
	return crid_http1_parse(head, strlen(head), &hr) == 0;
}

static int negotiate(const char *head, enum crid_stream_kind kind, struct crid_stream_upgrade *u)
{
	if (!parse(head))
		return -1;
	out_len = 0;
	return crid_stream_upgrade_negotiate(&hr, kind, u, out, &out_len);
}

static bool has(const char *s)
{
	return out_len > 0 && strstr(out, s) != NULL;
}

static void test_routes(void)
{
	static const struct {
		const char *head;
		int rc;
		enum crid_stream_kind kind;
		const char *tok;
	} cases[] = {
		{ "POST /exec/abc HTTP/1.1\r\n\r\n", 0, CRID_STREAM_EXEC, "abc" },
		{ "GET /attach/abc?stdin=1&tty=1 HTTP/1.1\r\n\r\n", 0, CRID_STREAM_ATTACH, "abc" },
		{ "GET /portforward/t-_1 HTTP/1.1\r\n\r\n", 0, CRID_STREAM_PORTFORWARD, "t-_1" },
		{ "PUT /exec/abc HTTP/1.1\r\n\r\n", 405, 0, NULL },
		{ "get /exec/abc HTTP/1.1\r\n\r\n", 405, 0, NULL },
		{ "GET /exec/ HTTP/1.1\r\n\r\n", 404, 0, NULL },
		{ "GET /exec/?x HTTP/1.1\r\n\r\n", 404, 0, NULL },
		{ "GET /exec/a/b HTTP/1.1\r\n\r\n", 404, 0, NULL },
		{ "GET /exec HTTP/1.1\r\n\r\n", 404, 0, NULL },
		{ "GET /execx/abc HTTP/1.1\r\n\r\n", 404, 0, NULL },
		{ "GET /cri/exec/abc HTTP/1.1\r\n\r\n", 404, 0, NULL },
		{ "PUT / HTTP/1.1\r\n\r\n", 404, 0, NULL },
	};

	for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
		struct crid_stream_route r;
		int rc;

		if (!CHECK(parse(cases[i].head), "route %zu parses", i))
			continue;
		rc = crid_stream_route_parse(&hr, &r);
		CHECK(rc == cases[i].rc, "route %zu: %d, want %d", i, rc, cases[i].rc);
		if (rc == 0 && cases[i].rc == 0)
			CHECK(r.kind == cases[i].kind && r.token_len == strlen(cases[i].tok) &&
				  memcmp(r.token, cases[i].tok, r.token_len) == 0,
			      "route %zu: kind %d token `%.*s`", i, r.kind, (int)r.token_len,
			      r.token);
	}
}

#define SPDY "POST /exec/t HTTP/1.1\r\nConnection: Upgrade\r\nUpgrade: SPDY/3.1\r\n"

static void test_spdy(void)
{
	struct crid_stream_upgrade u;
	int rc;

	rc = negotiate(SPDY "\r\n", CRID_STREAM_EXEC, &u);
	CHECK(rc == 400 && has("HTTP/1.1 400 ") && has("X-Stream-Protocol-Version is required"),
	      "no protocol: 400 naming the header");
	rc = negotiate(SPDY "X-Stream-Protocol-Version: \r\n\r\n", CRID_STREAM_EXEC, &u);
	CHECK(rc == 400, "an empty protocol header is none: %d", rc);
	rc = negotiate(SPDY "X-Stream-Protocol-Version: v9.channel.k8s.io\r\n"
			    "X-Stream-Protocol-Version: portforward.k8s.io\r\n\r\n",
		       CRID_STREAM_EXEC, &u);
	CHECK(rc == 403 && has("HTTP/1.1 403 "), "unknown protocols: 403 (%d)", rc);
	CHECK(has("X-Accepted-Stream-Protocol-Versions: v5.channel.k8s.io\r\n"
		  "X-Accepted-Stream-Protocol-Versions: v4.channel.k8s.io\r\n"
		  "X-Accepted-Stream-Protocol-Versions: v3.channel.k8s.io\r\n"
		  "X-Accepted-Stream-Protocol-Versions: v2.channel.k8s.io\r\n"
		  "X-Accepted-Stream-Protocol-Versions: channel.k8s.io\r\n"),
	      "403 lists every accepted protocol, one line each, in the server's order");
	rc = negotiate(SPDY "X-Stream-Protocol-Version: bogus, v3.channel.k8s.io\r\n"
			    "X-Stream-Protocol-Version: v4.channel.k8s.io\r\n\r\n",
		       CRID_STREAM_EXEC, &u);
	CHECK(rc == 0 && !u.ws && u.version == 3 && strcmp(u.protocol, "v3.channel.k8s.io") == 0,
	      "the client's first supported protocol wins, commas split: v%d", u.version);
	CHECK(out_len == strlen(out) &&
		  strcmp(out,
			 "HTTP/1.1 101 Switching Protocols\r\nConnection: Upgrade\r\n"
			 "Upgrade: SPDY/3.1\r\nX-Stream-Protocol-Version: v3.channel.k8s.io\r\n"
			 "\r\n") == 0,
	      "the 101 exactly as client-go expects it");
	rc = negotiate(SPDY "X-Stream-Protocol-Version: v5.channel.k8s.io\r\n\r\n",
		       CRID_STREAM_EXEC, &u);
	CHECK(rc == 0 && u.version == 5, "v5 over SPDY: version 5");
	rc = negotiate(SPDY "X-Stream-Protocol-Version: channel.k8s.io\r\n\r\n", CRID_STREAM_ATTACH,
		       &u);
	CHECK(rc == 0 && u.version == 1, "channel.k8s.io: version 1");
	rc = negotiate(SPDY "X-Stream-Protocol-Version: v4.channel.k8s.io\r\n\r\n",
		       CRID_STREAM_PORTFORWARD, &u);
	CHECK(rc == 403 && has("X-Accepted-Stream-Protocol-Versions: portforward.k8s.io\r\n") &&
		  !has("v4.channel"),
	      "port-forward accepts only portforward.k8s.io");
	rc = negotiate(SPDY "X-Stream-Protocol-Version: portforward.k8s.io\r\n\r\n",
		       CRID_STREAM_PORTFORWARD, &u);
	CHECK(rc == 0 && u.version == 0 && has("X-Stream-Protocol-Version: portforward.k8s.io"),
	      "port-forward negotiated");
	rc = negotiate(
	    "POST /exec/t HTTP/1.1\r\nX-Stream-Protocol-Version: v4.channel.k8s.io\r\n\r\n",
	    CRID_STREAM_EXEC, &u);
	CHECK(rc == 400 && has("missing upgrade headers"), "no Upgrade: 400");
	rc = negotiate("POST /exec/t HTTP/1.1\r\nConnection: keep-alive, Upgrade\r\n"
		       "Upgrade: spdy/3.1\r\nX-Stream-Protocol-Version: v4.channel.k8s.io\r\n\r\n",
		       CRID_STREAM_EXEC, &u);
	CHECK(rc == 0 && u.version == 4, "header tokens are case-insensitive and listed");
	rc = negotiate("POST /exec/t HTTP/1.1\r\nConnection: Upgrade\r\nUpgrade: h2c\r\n"
		       "X-Stream-Protocol-Version: v4.channel.k8s.io\r\n\r\n",
		       CRID_STREAM_EXEC, &u);
	CHECK(rc == 400, "another upgrade: 400");
}

#define WS "GET /exec/t HTTP/1.1\r\nConnection: Upgrade\r\nUpgrade: websocket\r\n"
#define KEY "Sec-WebSocket-Key: dGhlIHNhbXBsZSBub25jZQ==\r\n"

static void test_websocket(void)
{
	struct crid_stream_upgrade u;
	int rc;

	rc = negotiate(WS KEY "\r\n", CRID_STREAM_EXEC, &u);
	CHECK(rc == 400 && has("Sec-WebSocket-Version must be 13"), "no version: 400");
	rc = negotiate(WS KEY "Sec-WebSocket-Version: 8\r\n\r\n", CRID_STREAM_EXEC, &u);
	CHECK(rc == 400 && has("Sec-WebSocket-Version: 13\r\n"), "version 8: 400 offering 13");
	rc = negotiate(WS "Sec-WebSocket-Version: 13\r\n\r\n", CRID_STREAM_EXEC, &u);
	CHECK(rc == 400 && has("Sec-WebSocket-Key is required"), "no key: 400");
	rc = negotiate(WS KEY "Sec-WebSocket-Version: 13\r\n\r\n", CRID_STREAM_EXEC, &u);
	CHECK(rc == 0 && u.ws && u.proto == CRID_WS_CHANNEL && u.protocol[0] == '\0',
	      "no subprotocol offered: binary channels");
	CHECK(strcmp(out, "HTTP/1.1 101 Switching Protocols\r\nUpgrade: websocket\r\n"
			  "Connection: Upgrade\r\n"
			  "Sec-WebSocket-Accept: s3pPLMBiTxaQ9kYGzzhZRbK+xOo=\r\n\r\n") == 0 &&
		  out_len == strlen(out),
	      "101 with RFC 6455's sample accept key and no Sec-WebSocket-Protocol");
	rc = negotiate(WS KEY "Sec-WebSocket-Version: 13\r\n"
			      "Sec-WebSocket-Protocol: bogus, v4.base64.channel.k8s.io\r\n"
			      "Sec-WebSocket-Protocol: v5.channel.k8s.io\r\n\r\n",
		       CRID_STREAM_EXEC, &u);
	CHECK(rc == 0 && u.proto == CRID_WS_V4_BASE64 &&
		  has("Sec-WebSocket-Protocol: v4.base64.channel.k8s.io\r\n"),
	      "the client's first supported subprotocol, echoed");
	rc = negotiate(WS KEY "Sec-WebSocket-Version: 13\r\n"
			      "Sec-WebSocket-Protocol: SPDY/3.1+portforward.k8s.io\r\n\r\n",
		       CRID_STREAM_EXEC, &u);
	CHECK(rc == 400 && has("Sec-WebSocket-Protocol"), "the tunnel is no exec protocol");
	rc = negotiate(WS KEY "Sec-WebSocket-Version: 13\r\n"
			      "Sec-WebSocket-Protocol: SPDY/3.1+portforward.k8s.io\r\n\r\n",
		       CRID_STREAM_PORTFORWARD, &u);
	CHECK(rc == 0 && u.proto == CRID_WS_SPDY_TUNNEL, "port-forward: the SPDY tunnel");
	rc = negotiate(WS KEY
		       "Sec-WebSocket-Version: 13\r\n"
		       "Sec-WebSocket-Protocol: v5.channel.k8s.io, base64.channel.k8s.io\r\n\r\n",
		       CRID_STREAM_PORTFORWARD, &u);
	CHECK(rc == 400, "port-forward has no v5 nor base64.channel.k8s.io");
	rc = negotiate(WS KEY "Sec-WebSocket-Version: 13\r\n"
			      "Sec-WebSocket-Protocol: v5.channel.k8s.io\r\n\r\n",
		       CRID_STREAM_EXEC, &u);
	CHECK(rc == 0 && u.proto == CRID_WS_V5, "exec: v5");
}

int main(void)
{
	test_routes();
	test_spdy();
	test_websocket();
	return tap_done();
}
