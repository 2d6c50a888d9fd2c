/*
 * Registry authentication (distribution docs/spec/auth/token.md, oauth.md):
 * WWW-Authenticate challenges, Basic credentials, the Bearer token flow
 * (GET realm?service=&scope= with Basic auth when credentials exist, or the
 * OAuth2 POST with a refresh token), token responses, and a cache of tokens
 * per (realm, service, scope) until they expire.
 */
#ifndef CRID_REGISTRY_AUTH_H
#define CRID_REGISTRY_AUTH_H

#include <stddef.h>

#include "io/http_client.h"
#include "reactor/err.h"

enum crid_auth_scheme {
	CRID_AUTH_NONE = 0,
	CRID_AUTH_BASIC,
	CRID_AUTH_BEARER,
};

/* A parsed challenge; strings owned (crid_malloc), NULL when absent. */
struct crid_auth_challenge {
	enum crid_auth_scheme scheme;
	char *realm, *service, *scope, *error;
};

/*
 * Parses a WWW-Authenticate value (RFC 7235: one or more challenges, params
 * as token or quoted-string with \-escapes, case-insensitive scheme and
 * names). Picks the Bearer challenge if any, else Basic; other schemes are
 * skipped. A Bearer realm must be an http(s) URL. Fails with EINVAL naming
 * the problem; on success release |out| with crid_auth_challenge_release().
 */
int crid_auth_challenge_parse(const char *value, struct crid_auth_challenge *out,
			      struct crid_err *err);
void crid_auth_challenge_release(struct crid_auth_challenge *c);

/* What the CRI AuthConfig gives us; every field optional. Not owned. */
struct crid_auth_creds {
	const char *username, *password;
	const char *identity_token; /* OAuth2 refresh token: POST to the realm */
	const char *registry_token; /* a bearer token to use as is */
};

/* Base64 (RFC 4648, padded). |out| gets a crid_malloc'd NUL-terminated string. */
int crid_auth_base64_encode(const void *data, size_t len, char **out);
/* Decodes padded or unpadded base64; returns the length or -1 on bad input. */
long crid_auth_base64_decode(const char *in, unsigned char **out);

/* "Basic base64(user:pass)" (the header value), crid_malloc'd. */
int crid_auth_basic_value(const char *user, const char *pass, char **out, struct crid_err *err);

/* Splits a CRI AuthConfig.auth (base64 "user:pass") into crid_malloc'd strings. */
int crid_auth_decode_auth(const char *auth, char **user, char **pass, struct crid_err *err);

/* realm?service=S&scope=S (values percent-encoded, '&' when the realm has a query). */
int crid_auth_token_url(const struct crid_auth_challenge *c, const char *scope, char **out,
			struct crid_err *err);

/* The OAuth2 form for the POST flow: grant_type=refresh_token&... */
int crid_auth_token_form(const struct crid_auth_challenge *c, const char *scope,
			 const char *refresh_token, char **out, struct crid_err *err);

/* A token response. */
struct crid_auth_token {
	char *token;	     /* "token", else "access_token"; owned */
	char *refresh_token; /* OAuth2 responses may return a new one; owned or NULL */
	long expires_in;     /* seconds; 60 when absent or < 60 (token.md) */
	char *issued_at;     /* RFC 3339 as given, or NULL; informational */
};

/* Parses the JSON body of a token response (yajl). */
int crid_auth_token_parse(const char *json, size_t len, struct crid_auth_token *out,
			  struct crid_err *err);
void crid_auth_token_release(struct crid_auth_token *t);

/* Tokens by (realm, service, scope); time from |now| (monotonic seconds, injectable). */
struct crid_auth_cache;

struct crid_auth_cache *crid_auth_cache_new(double (*now)(void *clock), void *clock);
void crid_auth_cache_free(struct crid_auth_cache *c);

/*
 * The cached token, or NULL when absent or expired (a token counts as
 * expired 10% of its lifetime, at most 30 s, before expires_in runs out).
 * Valid until the next call on the cache.
 */
const char *crid_auth_cache_get(struct crid_auth_cache *c, const char *realm, const char *service,
				const char *scope);
int crid_auth_cache_put(struct crid_auth_cache *c, const char *realm, const char *service,
			const char *scope, const char *token, long expires_in,
			struct crid_err *err);
size_t crid_auth_cache_size(const struct crid_auth_cache *c);

/*
 * The cache's scope key for |scope| as fetched with |cr| (may be NULL):
 * "SCOPE anonymous", "SCOPE basic:<sha256(user NUL pass)>" or
 * "SCOPE identity-token:<sha256>", so that a token fetched with one pull's
 * credentials never serves a pull with other (or no) credentials.
 * crid_malloc'd into *|out|.
 */
int crid_auth_cache_key(const char *scope, const struct crid_auth_creds *cr, char **out,
			struct crid_err *err);

/*
 * The whole flow for one challenge: the Authorization header value to retry
 * with ("Basic ..." or "Bearer ..."). Returns 1 with *|value| set
 * (crid_malloc'd, caller frees) when it is known at once (Basic, registry
 * token, cached token); 0 when a token request was started: |done| runs
 * later from the loop with status 0 and the value (valid during the call)
 * or a negative status and a message, and *|fetch| can cancel it; -1 with
 * |err| when nothing can be done (Basic challenge without credentials).
 */
struct crid_auth_fetch;

typedef void (*crid_auth_done_fn)(void *user, int status, const char *value, const char *errmsg);

struct crid_auth_params {
	const struct crid_auth_challenge *challenge;
	const char *scope; /* overrides the challenge's scope when non-NULL */
	const struct crid_auth_creds *creds;
	const char *ca_file; /* for the token server */
	int insecure;
	long timeout_ms;
};

int crid_auth_authorize(struct crid_http *h, struct crid_auth_cache *cache,
			const struct crid_auth_params *p, crid_auth_done_fn done, void *user,
			char **value, struct crid_auth_fetch **fetch, struct crid_err *err);

/* Cancels a pending token request: |done| is not called. */
void crid_auth_fetch_cancel(struct crid_auth_fetch *f);

#endif
