/*
 * The streaming token cache (runtime/stream/stream_tokens.h). A flat array:
 * at most CRID_STREAM_MAX_TOKENS (1000) entries, a linear scan of 23-byte
 * keys per lookup costs less than the RPC that made the token. Tokens are
 * compared in constant time: a URL is a bearer credential.
 */
#include "runtime/stream/stream_tokens.h"

#include <errno.h>
#include <stdbool.h>
#include <stdint.h>
#include <string.h>
#include <sys/random.h>

#include "reactor/mem.h"

struct crid_stream_token {
	char tok[CRID_STREAM_TOKEN_LEN + 1];
	double expires;
	struct crid_stream_req *req;
};

void crid_stream_tokens_init(struct crid_stream_tokens *t, size_t max, double ttl)
{
	memset(t, 0, sizeof(*t));
	t->max = max;
	t->ttl = ttl;
}

/* RFC 4648 §5 base64url of 16 bytes, no padding: 22 characters. */
static void encode(const uint8_t in[16], char out[CRID_STREAM_TOKEN_LEN + 1])
{
	static const char abc[] =
	    "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-_";
	size_t o = 0;

	for (size_t i = 0; i < 16; i += 3) {
		uint32_t v = (uint32_t)in[i] << 16;

		if (i + 1 < 16)
			v |= (uint32_t)in[i + 1] << 8;
		if (i + 2 < 16)
			v |= in[i + 2];
		out[o++] = abc[(v >> 18) & 63];
		out[o++] = abc[(v >> 12) & 63];
		if (i + 1 < 16)
			out[o++] = abc[(v >> 6) & 63];
		if (i + 2 < 16)
			out[o++] = abc[v & 63];
	}
	out[o] = '\0';
}

static void drop(struct crid_stream_tokens *t, size_t i)
{
	t->v[i] = t->v[--t->n];
}

size_t crid_stream_tokens_sweep(struct crid_stream_tokens *t, double now)
{
	for (size_t i = 0; i < t->n;) {
		if (t->v[i].expires <= now) {
			crid_stream_req_free(t->v[i].req);
			drop(t, i);
		} else {
			i++;
		}
	}
	return t->n;
}

static int grow(struct crid_stream_tokens *t, struct crid_err *err)
{
	size_t cap = t->cap ? t->cap * 2 : 16;
	struct crid_stream_token *v;

	if (cap > t->max)
		cap = t->max;
	v = crid_realloc(t->v, cap * sizeof(*v));
	if (!v)
		return crid_err_set(err, ENOMEM, "streaming tokens");
	t->v = v;
	t->cap = cap;
	return 0;
}

int crid_stream_tokens_put(struct crid_stream_tokens *t, struct crid_stream_req *req, double now,
			   char tok[CRID_STREAM_TOKEN_LEN + 1], struct crid_err *err)
{
	uint8_t rnd[16];
	struct crid_stream_token *e;

	if (crid_stream_tokens_sweep(t, now) >= t->max)
		return crid_err_cause(err, EAGAIN,
				      "%zu streaming requests in flight, the most allowed", t->max);
	if (t->n == t->cap && grow(t, err) < 0)
		return -1;
	if (getrandom(rnd, sizeof(rnd), 0) != (ssize_t)sizeof(rnd))
		return crid_err_set(err, errno ? errno : EIO, "getrandom for a streaming token");
	e = &t->v[t->n++];
	encode(rnd, e->tok);
	e->expires = now + t->ttl;
	e->req = req;
	memcpy(tok, e->tok, sizeof(e->tok));
	return 0;
}

static bool same(const char *a, const char *b, size_t len)
{
	unsigned char d = 0;

	for (size_t i = 0; i < len; i++)
		d |= (unsigned char)(a[i] ^ b[i]);
	return d == 0;
}

struct crid_stream_req *crid_stream_tokens_take(struct crid_stream_tokens *t, const char *tok,
						size_t len, double now)
{
	struct crid_stream_req *req;

	if (len != CRID_STREAM_TOKEN_LEN)
		return NULL;
	for (size_t i = 0; i < t->n; i++) {
		if (!same(t->v[i].tok, tok, len))
			continue;
		req = t->v[i].req;
		if (t->v[i].expires <= now) {
			crid_stream_req_free(req);
			req = NULL;
		}
		drop(t, i);
		return req;
	}
	return NULL;
}

double crid_stream_tokens_next_expiry(const struct crid_stream_tokens *t)
{
	double next = 0;

	for (size_t i = 0; i < t->n; i++)
		if (next == 0 || t->v[i].expires < next)
			next = t->v[i].expires;
	return next;
}

void crid_stream_tokens_clear(struct crid_stream_tokens *t)
{
	for (size_t i = 0; i < t->n; i++)
		crid_stream_req_free(t->v[i].req);
	crid_free(t->v);
	t->v = NULL;
	t->n = t->cap = 0;
}
