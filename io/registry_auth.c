#include "io/registry_auth.h"

#include <ctype.h>
#include <errno.h>
#include <stdio.h>
#include <string.h>
#include <strings.h>
#include <yajl/yajl_tree.h>

#include "io/layer_stream.h"
#include "reactor/mem.h"

#define TOKEN_BODY_MAX (1u << 20)
#define CACHE_MAX 256
#define EXPIRES_MIN 60 /* token.md: "If omitted, defaults to 60 seconds"; shorter ones too */

/* ---- WWW-Authenticate (RFC 7235 section 4.1, RFC 7230 section 3.2.6) ---- */

static int is_tchar(int c)
{
	return isalnum(c) || (c && strchr("!#$%&'*+-.^_`|~", c));
}

static const char *skip_ws(const char *p)
{
	while (*p == ' ' || *p == '\t')
		p++;
	return p;
}

/* A token or a quoted-string (with \-escapes) into a new string; NULL on bad syntax. */
static char *param_value(const char **pp)
{
	const char *p = *pp, *start = p;
	size_t n = 0;
	char *v;

	if (*p != '"') {
		while (is_tchar((unsigned char)*p) || *p == '/' || *p == '=')
			p++; /* '/' and '=' for token68-ish values seen in the wild */
		*pp = p;
		return p > start ? crid_strndup(start, (size_t)(p - start)) : NULL;
	}
	v = crid_malloc(strlen(p) + 1);
	if (!v)
		return NULL;
	for (p++; *p && *p != '"'; p++) {
		if (*p == '\\' && p[1])
			p++;
		v[n++] = *p;
	}
	if (*p != '"') {
		crid_free(v);
		return NULL;
	}
	v[n] = '\0';
	*pp = p + 1;
	return v;
}

static char **param_slot(struct crid_auth_challenge *c, const char *name, size_t len)
{
	if (len == 5 && !strncasecmp(name, "realm", 5))
		return &c->realm;
	if (len == 7 && !strncasecmp(name, "service", 7))
		return &c->service;
	if (len == 5 && !strncasecmp(name, "scope", 5))
		return &c->scope;
	if (len == 5 && !strncasecmp(name, "error", 5))
		return &c->error;
	return NULL;
}

void crid_auth_challenge_release(struct crid_auth_challenge *c)
{
	crid_free(c->realm);
	crid_free(c->service);
	crid_free(c->scope);
	crid_free(c->error);
	memset(c, 0, sizeof(*c));
}

/*
 * Parses "name=value" pairs after a scheme until the next challenge (a
 * token not followed by '=') or the end. Returns the position reached or
 * NULL on a syntax error. Values go into |c| when |c| is non-NULL.
 */
static const char *parse_params(const char *p, struct crid_auth_challenge *c)
{
	for (;;) {
		const char *name, *q;
		char *v, **slot;
		size_t nlen;

		p = skip_ws(p);
		while (*p == ',')
			p = skip_ws(p + 1);
		name = p;
		while (is_tchar((unsigned char)*p))
			p++;
		nlen = (size_t)(p - name);
		q = skip_ws(p);
		if (!nlen || *q != '=')
			return name; /* end, or the next challenge's scheme */
		p = skip_ws(q + 1);
		v = param_value(&p);
		if (!v)
			return NULL;
		slot = c ? param_slot(c, name, nlen) : NULL;
		if (slot && !*slot)
			*slot = v;
		else
			crid_free(v);
	}
}

static int scheme_of(const char *p, size_t len)
{
	if (len == 6 && !strncasecmp(p, "Bearer", 6))
		return CRID_AUTH_BEARER;
	if (len == 5 && !strncasecmp(p, "Basic", 5))
		return CRID_AUTH_BASIC;
	return CRID_AUTH_NONE;
}

/* Finds the best challenge: returns the start of its params and its scheme. */
static const char *pick_challenge(const char *value, int *scheme)
{
	const char *p = value, *best = NULL;

	*scheme = CRID_AUTH_NONE;
	for (;;) {
		const char *s;
		int sc;

		p = skip_ws(p);
		while (*p == ',')
			p = skip_ws(p + 1);
		s = p;
		while (is_tchar((unsigned char)*p))
			p++;
		if (p == s)
			return *p ? NULL : best;
		sc = scheme_of(s, (size_t)(p - s));
		if (sc > *scheme) {
			*scheme = sc;
			best = p;
		}
		p = parse_params(p, NULL);
		if (!p)
			return NULL;
	}
}

static int realm_ok(const char *realm)
{
	return realm && (!strncasecmp(realm, "https://", 8) || !strncasecmp(realm, "http://", 7));
}

int crid_auth_challenge_parse(const char *value, struct crid_auth_challenge *out,
			      struct crid_err *err)
{
	const char *p;
	int scheme;

	memset(out, 0, sizeof(*out));
	p = pick_challenge(value ? value : "", &scheme);
	if (!p || scheme == CRID_AUTH_NONE)
		return crid_err_set(err, EINVAL, "WWW-Authenticate `%.200s`: %s",
				    value ? value : "",
				    p ? "no Basic or Bearer challenge" : "bad syntax");
	out->scheme = scheme;
	if (!parse_params(p, out)) {
		crid_auth_challenge_release(out);
		return crid_err_set(err, EINVAL, "WWW-Authenticate `%.200s`: bad syntax", value);
	}
	if (scheme == CRID_AUTH_BEARER && !realm_ok(out->realm)) {
		crid_auth_challenge_release(out);
		return crid_err_set(err, EINVAL, "WWW-Authenticate `%.200s`: no http(s) realm",
				    value);
	}
	return 0;
}

/* ---- base64, Basic ---- */

static const char b64[] = "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/";

int crid_auth_base64_encode(const void *data, size_t len, char **out)
{
	const unsigned char *s = data;
	char *o = crid_malloc((len + 2) / 3 * 4 + 1), *d = o;
	size_t i;

	if (!o)
		return -1;
	for (i = 0; i + 2 < len; i += 3) {
		unsigned v = (unsigned)s[i] << 16 | (unsigned)s[i + 1] << 8 | s[i + 2];

		*d++ = b64[v >> 18];
		*d++ = b64[(v >> 12) & 63];
		*d++ = b64[(v >> 6) & 63];
		*d++ = b64[v & 63];
	}
	if (i < len) {
		unsigned v = (unsigned)s[i] << 16 | (i + 1 < len ? (unsigned)s[i + 1] << 8 : 0);

		*d++ = b64[v >> 18];
		*d++ = b64[(v >> 12) & 63];
		*d++ = i + 1 < len ? b64[(v >> 6) & 63] : '=';
		*d++ = '=';
	}
	*d = '\0';
	*out = o;
	return 0;
}

long crid_auth_base64_decode(const char *in, unsigned char **out)
{
	size_t len = strlen(in), n = 0, bits = 0;
	unsigned acc = 0;
	unsigned char *o;

	while (len && in[len - 1] == '=')
		len--;
	o = crid_malloc(len * 3 / 4 + 1);
	if (!o)
		return -1;
	for (size_t i = 0; i < len; i++) {
		const char *c = in[i] ? strchr(b64, in[i]) : NULL;

		if (!c) {
			crid_free(o);
			return -1;
		}
		acc = (acc << 6) | (unsigned)(c - b64);
		bits += 6;
		if (bits >= 8) {
			bits -= 8;
			o[n++] = (unsigned char)(acc >> bits);
		}
	}
	if (bits >= 6) { /* a lone sixth bit group: not base64 */
		crid_free(o);
		return -1;
	}
	o[n] = '\0';
	*out = o;
	return (long)n;
}

int crid_auth_basic_value(const char *user, const char *pass, char **out, struct crid_err *err)
{
	size_t len = strlen(user) + strlen(pass) + 2;
	char *plain = crid_malloc(len), *enc = NULL, *v;

	if (!plain)
		return crid_err_set(err, ENOMEM, "basic auth");
	snprintf(plain, len, "%s:%s", user, pass);
	if (crid_auth_base64_encode(plain, len - 1, &enc) < 0) {
		crid_free(plain);
		return crid_err_set(err, ENOMEM, "basic auth");
	}
	explicit_bzero(plain, len);
	crid_free(plain);
	len = strlen(enc) + 7;
	v = crid_malloc(len);
	if (v)
		snprintf(v, len, "Basic %s", enc);
	crid_free(enc);
	if (!v)
		return crid_err_set(err, ENOMEM, "basic auth");
	*out = v;
	return 0;
}

int crid_auth_decode_auth(const char *auth, char **user, char **pass, struct crid_err *err)
{
	unsigned char *plain;
	char *colon;
	long n = crid_auth_base64_decode(auth, &plain);

	if (n < 0)
		return crid_err_set(err, EINVAL, "auth: not base64");
	colon = memchr(plain, ':', (size_t)n);
	if (!colon || memchr(plain, '\0', (size_t)n)) {
		crid_free(plain);
		return crid_err_set(err, EINVAL, "auth: expected base64 of `user:password`");
	}
	*user = crid_strndup((char *)plain, (size_t)(colon - (char *)plain));
	*pass = crid_strdup(colon + 1);
	explicit_bzero(plain, (size_t)n);
	crid_free(plain);
	if (!*user || !*pass) {
		crid_free(*user);
		crid_free(*pass);
		return crid_err_set(err, ENOMEM, "auth");
	}
	return 0;
}

/* ---- token request ---- */

/* Appends "name=pct(value)" (with |sep| first) to |buf|; returns -1 when it does not fit. */
static int append_param(char *buf, size_t cap, char sep, const char *name, const char *value)
{
	size_t n = strlen(buf);
	int w = snprintf(buf + n, cap - n, "%s%s=", n ? (char[]){ sep, 0 } : "", name);

	if (w < 0 || (size_t)w >= cap - n)
		return -1;
	n += (size_t)w;
	for (const unsigned char *p = (const unsigned char *)value; *p; p++) {
		if (n + 4 > cap)
			return -1;
		if (isalnum(*p) || strchr("-._~", *p))
			buf[n++] = (char)*p;
		else
			n += (size_t)snprintf(buf + n, cap - n, "%%%02X", *p);
	}
	buf[n] = '\0';
	return 0;
}

static int build_query(const struct crid_auth_challenge *c, const char *scope, char *buf,
		       size_t cap)
{
	buf[0] = '\0';
	if (c->service && append_param(buf, cap, '&', "service", c->service) < 0)
		return -1;
	if (scope && append_param(buf, cap, '&', "scope", scope) < 0)
		return -1;
	return 0;
}

int crid_auth_token_url(const struct crid_auth_challenge *c, const char *scope, char **out,
			struct crid_err *err)
{
	size_t cap = strlen(c->realm) +
		     3 * (strlen(c->service ? c->service : "") + strlen(scope ? scope : "")) + 32;
	char *q = crid_malloc(cap), *u = crid_malloc(cap * 2);

	if (!q || !u || build_query(c, scope, q, cap) < 0) {
		crid_free(q);
		crid_free(u);
		return crid_err_set(err, ENOMEM, "token url");
	}
	snprintf(u, cap * 2, "%s%s%s", c->realm, !q[0] ? "" : strchr(c->realm, '?') ? "&" : "?", q);
	crid_free(q);
	*out = u;
	return 0;
}

int crid_auth_token_form(const struct crid_auth_challenge *c, const char *scope,
			 const char *refresh_token, char **out, struct crid_err *err)
{
	size_t cap = 3 * (strlen(c->service ? c->service : "") + strlen(scope ? scope : "") +
			  strlen(refresh_token)) +
		     96;
	char *f = crid_malloc(cap);

	if (!f)
		return crid_err_set(err, ENOMEM, "token form");
	f[0] = '\0';
	if (append_param(f, cap, '&', "grant_type", "refresh_token") < 0 ||
	    append_param(f, cap, '&', "refresh_token", refresh_token) < 0 ||
	    append_param(f, cap, '&', "client_id", "crid") < 0 ||
	    (c->service && append_param(f, cap, '&', "service", c->service) < 0) ||
	    (scope && append_param(f, cap, '&', "scope", scope) < 0)) {
		crid_free(f);
		return crid_err_set(err, ENOMEM, "token form");
	}
	*out = f;
	return 0;
}

/* ---- token response ---- */

static char *json_string(yajl_val root, const char *key)
{
	const char *path[] = { key, NULL };
	yajl_val v = yajl_tree_get(root, path, yajl_t_string);

	return v && YAJL_GET_STRING(v)[0] ? crid_strdup(YAJL_GET_STRING(v)) : NULL;
}

void crid_auth_token_release(struct crid_auth_token *t)
{
	crid_free(t->token);
	crid_free(t->refresh_token);
	crid_free(t->issued_at);
	memset(t, 0, sizeof(*t));
}

int crid_auth_token_parse(const char *json, size_t len, struct crid_auth_token *out,
			  struct crid_err *err)
{
	const char *path[] = { "expires_in", NULL };
	char ebuf[128] = "", *copy;
	yajl_val root, v;

	memset(out, 0, sizeof(*out));
	copy = crid_strndup(json ? json : "", json ? len : 0); /* yajl wants NUL-terminated */
	if (!copy)
		return crid_err_set(err, ENOMEM, "token response");
	root = yajl_tree_parse(copy, ebuf, sizeof(ebuf));
	crid_free(copy);
	if (!root || !YAJL_IS_OBJECT(root)) {
		yajl_tree_free(root);
		return crid_err_set(err, EINVAL, "token response: not a JSON object");
	}
	out->token = json_string(root, "token");
	if (!out->token)
		out->token = json_string(root, "access_token");
	out->refresh_token = json_string(root, "refresh_token");
	out->issued_at = json_string(root, "issued_at");
	v = yajl_tree_get(root, path, yajl_t_number);
	out->expires_in = YAJL_IS_INTEGER(v) ? (long)YAJL_GET_INTEGER(v) : EXPIRES_MIN;
	if (out->expires_in < EXPIRES_MIN)
		out->expires_in = EXPIRES_MIN;
	yajl_tree_free(root);
	if (!out->token) {
		crid_auth_token_release(out);
		return crid_err_set(err, EINVAL, "token response: no `token` or `access_token`");
	}
	return 0;
}

/* ---- cache ---- */

struct cache_entry {
	struct cache_entry *next;
	double expires;
	char *token;
	char key[]; /* realm \n service \n scope */
};

struct crid_auth_cache {
	double (*now)(void *clock);
	void *clock;
	struct cache_entry *entries;
	size_t n;
};

struct crid_auth_cache *crid_auth_cache_new(double (*now)(void *clock), void *clock)
{
	struct crid_auth_cache *c = crid_calloc(1, sizeof(*c));

	if (c) {
		c->now = now;
		c->clock = clock;
	}
	return c;
}

static void entry_free(struct crid_auth_cache *c, struct cache_entry **pp)
{
	struct cache_entry *e = *pp;

	*pp = e->next;
	explicit_bzero(e->token, strlen(e->token));
	crid_free(e);
	c->n--;
}

void crid_auth_cache_free(struct crid_auth_cache *c)
{
	if (!c)
		return;
	while (c->entries)
		entry_free(c, &c->entries);
	crid_free(c);
}

size_t crid_auth_cache_size(const struct crid_auth_cache *c)
{
	return c->n;
}

static int make_key(char *buf, size_t cap, const char *realm, const char *service,
		    const char *scope)
{
	int n = snprintf(buf, cap, "%s\n%s\n%s", realm ? realm : "", service ? service : "",
			 scope ? scope : "");

	return n < 0 || (size_t)n >= cap ? -1 : n;
}

/* Finds |key|, dropping expired entries on the way. */
static struct cache_entry **cache_find(struct crid_auth_cache *c, const char *key)
{
	double now = c->now(c->clock);
	struct cache_entry **pp = &c->entries;

	while (*pp) {
		if ((*pp)->expires <= now) {
			entry_free(c, pp);
			continue;
		}
		if (!strcmp((*pp)->key, key))
			return pp;
		pp = &(*pp)->next;
	}
	return NULL;
}

const char *crid_auth_cache_get(struct crid_auth_cache *c, const char *realm, const char *service,
				const char *scope)
{
	char key[2048];
	struct cache_entry **pp;

	if (make_key(key, sizeof(key), realm, service, scope) < 0)
		return NULL;
	pp = cache_find(c, key);
	return pp ? (*pp)->token : NULL;
}

int crid_auth_cache_put(struct crid_auth_cache *c, const char *realm, const char *service,
			const char *scope, const char *token, long expires_in, struct crid_err *err)
{
	char key[2048];
	double margin = expires_in / 10.0 > 30 ? 30 : expires_in / 10.0;
	struct cache_entry **pp, *e;
	int kl = make_key(key, sizeof(key), realm, service, scope);
	size_t tl = strlen(token) + 1;

	if (kl < 0)
		return crid_err_set(err, EINVAL, "token cache: realm, service and scope too long");
	pp = cache_find(c, key);
	if (pp)
		entry_free(c, pp);
	if (c->n >= CACHE_MAX) {
		struct cache_entry **soonest = &c->entries;

		for (pp = &c->entries; *pp; pp = &(*pp)->next)
			if ((*pp)->expires < (*soonest)->expires)
				soonest = pp;
		entry_free(c, soonest);
	}
	e = crid_malloc(sizeof(*e) + (size_t)kl + 1 + tl);
	if (!e)
		return crid_err_set(err, ENOMEM, "token cache");
	memcpy(e->key, key, (size_t)kl + 1);
	e->token = e->key + kl + 1;
	memcpy(e->token, token, tl);
	e->expires = c->now(c->clock) + (double)expires_in - margin;
	e->next = c->entries;
	c->entries = e;
	c->n++;
	return 0;
}

/* ---- the flow ---- */

struct crid_auth_fetch {
	struct crid_http_request *req;
	struct crid_auth_cache *cache;
	crid_auth_done_fn done;
	void *user;
	char *realm, *service, *scope;
	char *key; /* the cache's scope key: scope and whose credentials */
};

static void fetch_free(struct crid_auth_fetch *f)
{
	crid_free(f->realm);
	crid_free(f->service);
	crid_free(f->scope);
	crid_free(f->key);
	crid_free(f);
}

void crid_auth_fetch_cancel(struct crid_auth_fetch *f)
{
	if (!f)
		return;
	crid_http_request_cancel(f->req);
	fetch_free(f);
}

static char *bearer_value(const char *token)
{
	size_t len = strlen(token) + 8;
	char *v = crid_malloc(len);

	if (v)
		snprintf(v, len, "Bearer %s", token);
	return v;
}

/* Status 0 with the header value, or the reason the token server gave none. */
static int token_result(struct crid_auth_fetch *f, int status, const char *body, size_t len,
			char **value, struct crid_err *err)
{
	struct crid_auth_token t;

	if (status != 200)
		return crid_err_set(err, 0, "token server `%s`: HTTP %d: %.200s", f->realm, status,
				    body ? body : "");
	if (crid_auth_token_parse(body, len, &t, err) < 0)
		return crid_err_wrap(err, "token server `%s`", f->realm);
	crid_auth_cache_put(f->cache, f->realm, f->service, f->key, t.token, t.expires_in, NULL);
	*value = bearer_value(t.token);
	crid_auth_token_release(&t);
	return *value ? 0 : crid_err_set(err, ENOMEM, "token");
}

static void token_done(void *user, struct crid_http_request *r, int status, const char *errmsg,
		       const char *body, size_t len)
{
	struct crid_auth_fetch *f = user;
	struct crid_err err;
	char *value = NULL;

	(void)r;
	if (status < 0)
		f->done(f->user, -1, NULL, errmsg);
	else if (token_result(f, status, body, len, &value, &err) < 0)
		f->done(f->user, -1, NULL, err.msg);
	else
		f->done(f->user, 0, value, NULL);
	crid_free(value);
	fetch_free(f);
}

static const struct crid_http_callbacks token_cbs = { NULL, NULL, token_done };

/* GET realm?service&scope (Basic when we have a password) or the OAuth2 POST. */
static int fetch_start(struct crid_http *h, struct crid_auth_fetch *f,
		       const struct crid_auth_params *p, struct crid_err *err)
{
	const struct crid_auth_creds *cr = p->creds;
	struct crid_http_req req = { .ca_file = p->ca_file,
				     .insecure = p->insecure,
				     .timeout_ms = p->timeout_ms ? p->timeout_ms : 30000,
				     .max_body = TOKEN_BODY_MAX };
	const char *headers[2] = { NULL, NULL };
	char *url = NULL, *form = NULL, *basic = NULL, *hdr = NULL;
	int rc = -1;

	if (cr && cr->identity_token && cr->identity_token[0]) {
		if (crid_auth_token_form(p->challenge, f->scope, cr->identity_token, &form, err) <
		    0)
			goto out;
		req.method = "POST";
		req.url = f->realm;
		req.body = form;
		req.body_len = strlen(form);
		headers[0] = "Content-Type: application/x-www-form-urlencoded";
	} else {
		if (crid_auth_token_url(p->challenge, f->scope, &url, err) < 0)
			goto out;
		req.url = url;
		if (cr && cr->username && cr->username[0]) {
			if (crid_auth_basic_value(cr->username, cr->password ? cr->password : "",
						  &basic, err) < 0)
				goto out;
			size_t hl = strlen(basic) + 16;

			hdr = crid_malloc(hl);
			if (!hdr) {
				crid_err_set(err, ENOMEM, "token request");
				goto out;
			}
			snprintf(hdr, hl, "Authorization: %s", basic);
			headers[0] = hdr;
		}
	}
	req.headers = headers;
	rc = crid_http_request_start(h, &req, &token_cbs, f, &f->req, err);
out:
	crid_free(url);
	crid_free(form);
	crid_free(basic);
	crid_free(hdr);
	return rc;
}

static int dup_opt(char **dst, const char *src)
{
	*dst = src ? crid_strdup(src) : NULL;
	return src && !*dst ? -1 : 0;
}

int crid_auth_cache_key(const char *scope, const struct crid_auth_creds *cr, char **out,
			struct crid_err *err)
{
	const char *a = NULL, *b = "", *kind = "anonymous";
	char hex[CRID_SHA256_HEX_LEN + 1] = "", *buf = NULL;
	size_t la, lb, n;

	if (cr && cr->identity_token && cr->identity_token[0])
		a = cr->identity_token, kind = "identity-token";
	else if (cr && cr->username && cr->username[0])
		a = cr->username, b = cr->password ? cr->password : "", kind = "basic";
	if (a) {
		/* user NUL password: no two pairs hash the same input */
		la = strlen(a), lb = strlen(b);
		buf = crid_malloc(la + lb + 2);
		if (!buf)
			return crid_err_set(err, ENOMEM, "token cache key");
		memcpy(buf, a, la + 1);
		memcpy(buf + la + 1, b, lb + 1);
		if (crid_digest_sha256_hex(buf, la + lb + 1, hex, err) < 0) {
			crid_free(buf);
			return -1;
		}
		crid_free(buf);
	}
	n = (scope ? strlen(scope) : 0) + strlen(kind) + sizeof(hex) + 3;
	*out = crid_malloc(n);
	if (!*out)
		return crid_err_set(err, ENOMEM, "token cache key");
	snprintf(*out, n, "%s %s%s%s", scope ? scope : "", kind, a ? ":" : "", hex);
	return 0;
}

static int bearer(struct crid_http *h, struct crid_auth_cache *cache,
		  const struct crid_auth_params *p, crid_auth_done_fn done, void *user,
		  char **value, struct crid_auth_fetch **fetch, struct crid_err *err)
{
	const struct crid_auth_challenge *c = p->challenge;
	const char *scope = p->scope ? p->scope : c->scope;
	const char *tok;
	struct crid_auth_fetch *f;
	char *key;

	/* Tokens are per credentials too: a pull must not ride on another's token. */
	if (crid_auth_cache_key(scope, p->creds, &key, err) < 0)
		return -1;
	tok = crid_auth_cache_get(cache, c->realm, c->service, key);
	if (tok) {
		crid_free(key);
		*value = bearer_value(tok);
		return *value ? 1 : crid_err_set(err, ENOMEM, "token");
	}
	f = crid_calloc(1, sizeof(*f));
	if (!f || dup_opt(&f->realm, c->realm) < 0 || dup_opt(&f->service, c->service) < 0 ||
	    dup_opt(&f->scope, scope) < 0) {
		crid_free(key);
		if (f)
			fetch_free(f);
		return crid_err_set(err, ENOMEM, "token request");
	}
	f->key = key;
	f->cache = cache;
	f->done = done;
	f->user = user;
	if (fetch_start(h, f, p, err) < 0) {
		fetch_free(f);
		return -1;
	}
	*fetch = f;
	return 0;
}

int crid_auth_authorize(struct crid_http *h, struct crid_auth_cache *cache,
			const struct crid_auth_params *p, crid_auth_done_fn done, void *user,
			char **value, struct crid_auth_fetch **fetch, struct crid_err *err)
{
	const struct crid_auth_creds *cr = p->creds;

	*value = NULL;
	*fetch = NULL;
	if (p->challenge->scheme == CRID_AUTH_BASIC) {
		if (!cr || !cr->username || !cr->username[0])
			return crid_err_set(err, EACCES,
					    "registry wants basic auth: no credentials");
		return crid_auth_basic_value(cr->username, cr->password ? cr->password : "", value,
					     err) < 0
			   ? -1
			   : 1;
	}
	if (p->challenge->scheme != CRID_AUTH_BEARER)
		return crid_err_set(err, EINVAL, "unsupported auth scheme");
	if (cr && cr->registry_token && cr->registry_token[0]) {
		*value = bearer_value(cr->registry_token);
		return *value ? 1 : crid_err_set(err, ENOMEM, "token");
	}
	return bearer(h, cache, p, done, user, value, fetch, err);
}
