/*
 * Route and upgrade negotiation of streaming requests
 * (runtime/stream/stream_upgrade.h), after upstream's cri-streaming
 * server.go (routes), k8s.io/streaming httpstream.Handshake and
 * spdy.UpgradeResponse (SPDY), wsstream.handshake (WebSocket): the client's
 * order wins in both negotiations.
 */
#include "runtime/stream/stream_upgrade.h"

#include <stdio.h>
#include <string.h>

#include "io/ws.h"

struct proto {
	const char *name;
	int value; /* SPDY: the remote-command version; WebSocket: enum crid_ws_proto */
};

/* Exec and attach over SPDY: v5 is v4 on SPDY (the CLOSE signal is WebSocket's). */
static const struct proto spdy_rc[] = {
	{ "v5.channel.k8s.io", 5 }, { "v4.channel.k8s.io", 4 }, { "v3.channel.k8s.io", 3 },
	{ "v2.channel.k8s.io", 2 }, { "channel.k8s.io", 1 },	{ NULL, 0 },
};
static const struct proto spdy_pf[] = { { "portforward.k8s.io", 0 }, { NULL, 0 } };

static const struct proto ws_rc[] = {
	{ "v5.channel.k8s.io", CRID_WS_V5 },
	{ "v4.channel.k8s.io", CRID_WS_V4 },
	{ "v4.base64.channel.k8s.io", CRID_WS_V4_BASE64 },
	{ "base64.channel.k8s.io", CRID_WS_BASE64 },
	{ "channel.k8s.io", CRID_WS_CHANNEL },
	{ NULL, 0 },
};
static const struct proto ws_pf[] = {
	{ "SPDY/3.1+portforward.k8s.io", CRID_WS_SPDY_TUNNEL },
	{ "v4.channel.k8s.io", CRID_WS_V4 },
	{ "v4.base64.channel.k8s.io", CRID_WS_V4_BASE64 },
	{ "channel.k8s.io", CRID_WS_CHANNEL },
	{ NULL, 0 },
};

static const struct {
	const char *prefix;
	enum crid_stream_kind kind;
} routes[] = {
	{ "/exec/", CRID_STREAM_EXEC },
	{ "/attach/", CRID_STREAM_ATTACH },
	{ "/portforward/", CRID_STREAM_PORTFORWARD },
};

static bool is(const char *s, size_t len, const char *lit)
{
	return len == strlen(lit) && memcmp(s, lit, len) == 0;
}

int crid_stream_route_parse(const struct crid_http1_req *req, struct crid_stream_route *r)
{
	const char *q = memchr(req->path, '?', req->path_len);
	size_t len = q ? (size_t)(q - req->path) : req->path_len;

	for (size_t i = 0; i < sizeof(routes) / sizeof(routes[0]); i++) {
		size_t plen = strlen(routes[i].prefix);

		if (len <= plen || memcmp(req->path, routes[i].prefix, plen) != 0 ||
		    memchr(req->path + plen, '/', len - plen))
			continue;
		r->kind = routes[i].kind;
		r->token = req->path + plen;
		r->token_len = len - plen;
		/* HTTP methods are case-sensitive; SPDY clients POST, WebSocket clients GET */
		if (!is(req->method, req->method_len, "GET") &&
		    !is(req->method, req->method_len, "POST"))
			return 405;
		return 0;
	}
	return 404;
}

struct pick {
	const struct proto *list;
	const struct proto *chosen;
	size_t offered;
};

/* Each client token in order: the first the server has wins (negotiateProtocol). */
static int pick_one(void *user, const char *tok, size_t len)
{
	struct pick *p = user;

	p->offered++;
	for (const struct proto *s = p->list; s->name; s++) {
		if (is(tok, len, s->name)) {
			p->chosen = s;
			return 1;
		}
	}
	return 0;
}

static int fail(char *out, size_t *len, int status, const char *headers, const char *body)
{
	*len = crid_http1_response(out, CRID_STREAM_RESPONSE_MAX, status, headers, body);
	return status;
}

static int spdy(const struct crid_http1_req *req, enum crid_stream_kind kind,
		struct crid_stream_upgrade *u, char *out, size_t *len)
{
	struct pick p = { kind == CRID_STREAM_PORTFORWARD ? spdy_pf : spdy_rc, NULL, 0 };
	char accepted[CRID_STREAM_RESPONSE_MAX / 2];
	size_t n = 0;
	int w;

	crid_http1_each_token(req, "X-Stream-Protocol-Version", pick_one, &p);
	if (!p.offered)
		return fail(out, len, 400, NULL,
			    "unable to upgrade: X-Stream-Protocol-Version is required\n");
	if (!p.chosen) {
		for (const struct proto *s = p.list; s->name; s++) {
			w = snprintf(accepted + n, sizeof(accepted) - n,
				     "X-Accepted-Stream-Protocol-Versions: %s\r\n", s->name);
			if (w < 0 || (size_t)w >= sizeof(accepted) - n)
				break;
			n += (size_t)w;
		}
		return fail(out, len, 403, accepted,
			    "unable to upgrade: unable to negotiate protocol: no "
			    "X-Stream-Protocol-Version the server accepts\n");
	}
	/* spdy.UpgradeResponse: both headers, case-insensitive tokens */
	if (!crid_http1_has_token(req, "Connection", "upgrade") ||
	    !crid_http1_has_token(req, "Upgrade", "spdy/3.1"))
		return fail(out, len, 400, NULL,
			    "unable to upgrade: missing upgrade headers in request\n");
	u->ws = false;
	u->version = p.chosen->value;
	u->protocol = p.chosen->name;
	w = snprintf(out, CRID_STREAM_RESPONSE_MAX,
		     "HTTP/1.1 101 Switching Protocols\r\nConnection: Upgrade\r\n"
		     "Upgrade: SPDY/3.1\r\nX-Stream-Protocol-Version: %s\r\n\r\n",
		     u->protocol);
	*len = (size_t)w;
	return 0;
}

static int websocket(const struct crid_http1_req *req, enum crid_stream_kind kind,
		     struct crid_stream_upgrade *u, char *out, size_t *len)
{
	const struct crid_http1_header *ver = crid_http1_find(req, "Sec-WebSocket-Version");
	const struct crid_http1_header *key = crid_http1_find(req, "Sec-WebSocket-Key");
	struct pick p = { kind == CRID_STREAM_PORTFORWARD ? ws_pf : ws_rc, NULL, 0 };
	char accept[29], proto[96] = "";
	int w;

	if (!ver || !is(ver->value, ver->value_len, "13"))
		return fail(out, len, 400, "Sec-WebSocket-Version: 13\r\n",
			    "websocket: Sec-WebSocket-Version must be 13\n");
	if (!key || key->value_len == 0)
		return fail(out, len, 400, NULL, "websocket: Sec-WebSocket-Key is required\n");
	crid_http1_each_token(req, "Sec-WebSocket-Protocol", pick_one, &p);
	if (p.offered && !p.chosen)
		return fail(out, len, 400, NULL,
			    "websocket: none of the offered Sec-WebSocket-Protocol values is "
			    "supported\n");
	u->ws = true;
	u->version = 0;
	u->proto = p.chosen ? (enum crid_ws_proto)p.chosen->value : CRID_WS_CHANNEL;
	u->protocol = p.chosen ? p.chosen->name : "";
	if (p.chosen)
		snprintf(proto, sizeof(proto), "Sec-WebSocket-Protocol: %s\r\n", u->protocol);
	crid_ws_accept_key(key->value, key->value_len, accept);
	w = snprintf(out, CRID_STREAM_RESPONSE_MAX,
		     "HTTP/1.1 101 Switching Protocols\r\nUpgrade: websocket\r\n"
		     "Connection: Upgrade\r\nSec-WebSocket-Accept: %s\r\n%s\r\n",
		     accept, proto);
	*len = (size_t)w;
	return 0;
}

int crid_stream_upgrade_negotiate(const struct crid_http1_req *req, enum crid_stream_kind kind,
				  struct crid_stream_upgrade *u, char out[CRID_STREAM_RESPONSE_MAX],
				  size_t *len)
{
	/* wsstream.IsWebSocketRequest; everything else goes the SPDY way (400 when it is not) */
	if (crid_http1_has_token(req, "Upgrade", "websocket") &&
	    crid_http1_has_token(req, "Connection", "upgrade"))
		return websocket(req, kind, u, out, len);
	return spdy(req, kind, u, out, len);
}
