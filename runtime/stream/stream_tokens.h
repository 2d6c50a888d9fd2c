/*
 * The one-time tokens of the streaming URLs (upstream's request_cache.go,
 * with 128-bit tokens instead of 48): each maps to the cached request until
 * it is taken once or expires. Bounded: at most |max| in flight. Pure: the
 * caller passes the time, so the server drives expiry from a loop timer and
 * the unit test from a number.
 */
#ifndef CRID_STREAM_TOKENS_H
#define CRID_STREAM_TOKENS_H

#include <stddef.h>

#include "reactor/err.h"
#include "runtime/stream/stream_req.h"

#define CRID_STREAM_TOKEN_LEN 22 /* 16 random bytes in base64url without padding */

struct crid_stream_token;

struct crid_stream_tokens {
	struct crid_stream_token *v;
	size_t n, cap, max;
	double ttl; /* seconds */
};

void crid_stream_tokens_init(struct crid_stream_tokens *t, size_t max, double ttl);

/*
 * Caches |req| (taken over on success) under a fresh token written to |tok|,
 * expiring at |now| + ttl. Expired tokens are dropped first. -1 with |err|:
 * EAGAIN when |max| are in flight, ENOMEM, or getrandom's errno.
 */
int crid_stream_tokens_put(struct crid_stream_tokens *t, struct crid_stream_req *req, double now,
			   char tok[CRID_STREAM_TOKEN_LEN + 1], struct crid_err *err);

/*
 * Removes |tok| (|len| bytes) and returns its request (the caller's now),
 * or NULL when it is unknown or expired at |now| (an expired one is freed).
 */
struct crid_stream_req *crid_stream_tokens_take(struct crid_stream_tokens *t, const char *tok,
						size_t len, double now);

/* Frees the requests of the tokens expired at |now|; returns how many are left. */
size_t crid_stream_tokens_sweep(struct crid_stream_tokens *t, double now);

/* When the next token expires; 0 when there is none. */
double crid_stream_tokens_next_expiry(const struct crid_stream_tokens *t);

/* Frees every cached request and the table. */
void crid_stream_tokens_clear(struct crid_stream_tokens *t);

#endif
