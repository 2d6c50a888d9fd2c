/* Registry auth: challenges, base64/Basic, token URLs and JSON, the token cache. */
#include <string.h>

#include "io/registry_auth.h"
#include "reactor/mem.h"
#include "tap.h"

struct chal_case {
	const char *value;
	int ok, scheme;
	const char *realm, *service, *scope;
};

static const struct chal_case chal_cases[] = {
	{ "Bearer realm=\"https://auth.docker.io/token\",service=\"registry.docker.io\","
	  "scope=\"repository:samalba/my-app:pull,push\"",
	  1, CRID_AUTH_BEARER, "https://auth.docker.io/token", "registry.docker.io",
	  "repository:samalba/my-app:pull,push" },
	{ "bearer REALM=\"http://127.0.0.1:5001/t\" , Service=reg", 1, CRID_AUTH_BEARER,
	  "http://127.0.0.1:5001/t", "reg", NULL },
	{ "Basic realm=\"Registry Realm\"", 1, CRID_AUTH_BASIC, "Registry Realm", NULL, NULL },
	{ "Basic realm=reg", 1, CRID_AUTH_BASIC, "reg", NULL, NULL },
	{ "Bearer realm=\"https://a/t\",scope=\"x \\\"q\\\" \\\\ y\"", 1, CRID_AUTH_BEARER,
	  "https://a/t", NULL, "x \"q\" \\ y" },
	{ "Basic realm=\"b\", Bearer realm=\"https://a/t\",service=s", 1, CRID_AUTH_BEARER,
	  "https://a/t", "s", NULL },
	{ "Negotiate abc==, Basic realm=x", 1, CRID_AUTH_BASIC, "x", NULL, NULL },
	{ "Bearer realm=\"https://a/t\",error=\"insufficient_scope\"", 1, CRID_AUTH_BEARER,
	  "https://a/t", NULL, NULL },
	{ "Bearer realm=\"file:///etc/passwd\"", 0, 0, NULL, NULL, NULL },
	{ "Bearer service=x", 0, 0, NULL, NULL, NULL },
	{ "Bearer realm=\"https://a/t", 0, 0, NULL, NULL, NULL },
	{ "Digest realm=x", 0, 0, NULL, NULL, NULL },
	{ "", 0, 0, NULL, NULL, NULL },
	{ "Bearer realm=", 0, 0, NULL, NULL, NULL },
};

static int same(const char *a, const char *b)
{
	return (!a && !b) || (a && b && !strcmp(a, b));
}

static void test_challenges(void)
{
	for (size_t i = 0; i < sizeof(chal_cases) / sizeof(chal_cases[0]); i++) {
		const struct chal_case *t = &chal_cases[i];
		struct crid_auth_challenge c;
		struct crid_err err;
		int rc = crid_auth_challenge_parse(t->value, &c, &err);

		if (!t->ok) {
			CHECK(rc < 0, "refused: %s (%s)", t->value, rc < 0 ? err.msg : "parsed");
			continue;
		}
		CHECK(rc == 0 && (int)c.scheme == t->scheme && same(c.realm, t->realm) &&
			  same(c.service, t->service) && same(c.scope, t->scope),
		      "parsed: %s -> realm=%s service=%s scope=%s", t->value, c.realm, c.service,
		      c.scope);
		crid_auth_challenge_release(&c);
	}
}

static void test_base64(void)
{
	static const char *const plain[] = { "", "f", "fo", "foo", "foob", "fooba", "foobar" };
	static const char *const enc[] = { "",	       "Zg==",	   "Zm8=",    "Zm9v",
					   "Zm9vYg==", "Zm9vYmE=", "Zm9vYmFy" };
	struct crid_err err;
	char *s, *u, *p;
	unsigned char *d;
	long n;

	for (int i = 0; i < 7; i++) {
		crid_auth_base64_encode(plain[i], strlen(plain[i]), &s);
		n = crid_auth_base64_decode(enc[i], &d);
		CHECK(!strcmp(s, enc[i]) && n == (long)strlen(plain[i]) && !memcmp(d, plain[i], n),
		      "base64 `%s` <-> `%s`", plain[i], s);
		crid_free(s);
		crid_free(d);
	}
	CHECK(crid_auth_base64_decode("Zm9v!", &d) < 0, "bad base64 refused");
	CHECK(crid_auth_base64_decode("Z", &d) < 0, "truncated base64 refused");
	crid_auth_basic_value("Aladdin", "open sesame", &s, &err);
	CHECK(!strcmp(s, "Basic QWxhZGRpbjpvcGVuIHNlc2FtZQ=="), "RFC 7617 example: %s", s);
	crid_free(s);
	CHECK(crid_auth_decode_auth("QWxhZGRpbjpvcGVuIHNlc2FtZQ==", &u, &p, &err) == 0 &&
		  !strcmp(u, "Aladdin") && !strcmp(p, "open sesame"),
	      "CRI auth field split into user and password");
	crid_free(u);
	crid_free(p);
	CHECK(crid_auth_decode_auth("Zm9v", &u, &p, &err) < 0, "auth without ':' refused: %s",
	      err.msg);
}

static void test_token_request(void)
{
	struct crid_auth_challenge c = { CRID_AUTH_BEARER, "https://auth.docker.io/token",
					 "registry.docker.io", "repository:a/b:pull", NULL };
	struct crid_auth_challenge q = { CRID_AUTH_BEARER, "https://h/t?x=1", NULL, NULL, NULL };
	struct crid_err err;
	char *s;

	crid_auth_token_url(&c, c.scope, &s, &err);
	CHECK(!strcmp(s, "https://auth.docker.io/token?service=registry.docker.io&"
			 "scope=repository%3Aa%2Fb%3Apull"),
	      "token URL: %s", s);
	crid_free(s);
	crid_auth_token_url(&q, "repository:x:pull", &s, &err);
	CHECK(!strcmp(s, "https://h/t?x=1&scope=repository%3Ax%3Apull"), "realm with query: %s", s);
	crid_free(s);
	crid_auth_token_url(&q, NULL, &s, &err);
	CHECK(!strcmp(s, "https://h/t?x=1"), "no service, no scope: %s", s);
	crid_free(s);
	crid_auth_token_form(&c, c.scope, "r&t", &s, &err);
	CHECK(!strcmp(s, "grant_type=refresh_token&refresh_token=r%26t&client_id=crid&"
			 "service=registry.docker.io&scope=repository%3Aa%2Fb%3Apull"),
	      "OAuth2 form: %s", s);
	crid_free(s);
}

static void test_token_json(void)
{
	struct crid_auth_token t;
	struct crid_err err;
	const char *j1 =
	    "{\"token\":\"abc\",\"expires_in\":300,\"issued_at\":\"2026-11-23T10:00:00Z\"}";
	const char *j2 = "{\"access_token\":\"xyz\",\"refresh_token\":\"r1\"}";
	const char *j3 = "{\"token\":\"\",\"access_token\":\"at\",\"expires_in\":5}";

	CHECK(crid_auth_token_parse(j1, strlen(j1), &t, &err) == 0 && !strcmp(t.token, "abc") &&
		  t.expires_in == 300 && !strcmp(t.issued_at, "2026-11-23T10:00:00Z"),
	      "token, expires_in, issued_at");
	crid_auth_token_release(&t);
	CHECK(crid_auth_token_parse(j2, strlen(j2), &t, &err) == 0 && !strcmp(t.token, "xyz") &&
		  t.expires_in == 60 && !strcmp(t.refresh_token, "r1"),
	      "access_token, default 60 s, refresh_token");
	crid_auth_token_release(&t);
	CHECK(crid_auth_token_parse(j3, strlen(j3), &t, &err) == 0 && !strcmp(t.token, "at") &&
		  t.expires_in == 60,
	      "empty token falls back to access_token; expires_in raised to 60");
	crid_auth_token_release(&t);
	CHECK(crid_auth_token_parse("{\"expires_in\":1}", 16, &t, &err) < 0, "no token: %s",
	      err.msg);
	CHECK(crid_auth_token_parse("[1,2", 4, &t, &err) < 0, "bad JSON: %s", err.msg);
	CHECK(crid_auth_token_parse("{\"token\":\"a\"}garbage", 9, &t, &err) < 0,
	      "length is honoured (truncated object refused)");
}

static double fake_now(void *clock)
{
	return *(double *)clock;
}

static void test_cache(void)
{
	double now = 1000;
	struct crid_auth_cache *c = crid_auth_cache_new(fake_now, &now);
	struct crid_err err;
	char scope[32];

	crid_auth_cache_put(c, "https://a/t", "s", "repository:x:pull", "T1", 300, &err);
	crid_auth_cache_put(c, "https://a/t", "s", "repository:y:pull", "T2", 60, &err);
	CHECK(same(crid_auth_cache_get(c, "https://a/t", "s", "repository:x:pull"), "T1"),
	      "hit by (realm, service, scope)");
	CHECK(!crid_auth_cache_get(c, "https://a/t", "other", "repository:x:pull") &&
		  !crid_auth_cache_get(c, "https://b/t", "s", "repository:x:pull"),
	      "other service or realm: miss");
	now += 55;
	CHECK(!crid_auth_cache_get(c, "https://a/t", "s", "repository:y:pull"),
	      "60 s token expired after 55 s (10%% margin)");
	now += 200;
	CHECK(same(crid_auth_cache_get(c, "https://a/t", "s", "repository:x:pull"), "T1"),
	      "300 s token still valid at 255 s");
	now += 30;
	CHECK(!crid_auth_cache_get(c, "https://a/t", "s", "repository:x:pull") &&
		  crid_auth_cache_size(c) == 0,
	      "expired at 285 s (30 s margin) and dropped");
	crid_auth_cache_put(c, "r", NULL, NULL, "A", 100, &err);
	crid_auth_cache_put(c, "r", NULL, NULL, "B", 100, &err);
	CHECK(same(crid_auth_cache_get(c, "r", NULL, NULL), "B") && crid_auth_cache_size(c) == 1,
	      "put replaces");
	for (int i = 0; i < 300; i++) {
		snprintf(scope, sizeof(scope), "repository:%d:pull", i);
		crid_auth_cache_put(c, "r", "s", scope, "T", 100 + i, &err);
	}
	CHECK(crid_auth_cache_size(c) == 256, "bounded at 256 entries (%zu)",
	      crid_auth_cache_size(c));
	crid_auth_cache_free(c);
}

static void test_authorize_immediate(void)
{
	struct crid_auth_challenge basic = { CRID_AUTH_BASIC, "r", NULL, NULL, NULL };
	struct crid_auth_challenge bearer = { CRID_AUTH_BEARER, "https://a/t", "s", "sc", NULL };
	struct crid_auth_creds up = { "u", "p", NULL, NULL }, rt = { NULL, NULL, NULL, "RT" };
	struct crid_auth_params p = { &basic, NULL, NULL, NULL, 0, 0 };
	double now = 0;
	struct crid_auth_cache *c = crid_auth_cache_new(fake_now, &now);
	struct crid_auth_fetch *f;
	struct crid_err err;
	char *v, *key;

	CHECK(crid_auth_authorize(NULL, c, &p, NULL, NULL, &v, &f, &err) < 0,
	      "basic without credentials: %s", err.msg);
	p.creds = &up;
	CHECK(crid_auth_authorize(NULL, c, &p, NULL, NULL, &v, &f, &err) == 1 &&
		  !strcmp(v, "Basic dTpw"),
	      "basic: immediate");
	crid_free(v);
	p.challenge = &bearer;
	p.creds = &rt;
	CHECK(crid_auth_authorize(NULL, c, &p, NULL, NULL, &v, &f, &err) == 1 &&
		  !strcmp(v, "Bearer RT"),
	      "registry_token used as bearer");
	crid_free(v);
	p.creds = &up;
	CHECK(crid_auth_cache_key("sc", &up, &key, &err) == 0, "cache key");
	crid_auth_cache_put(c, "https://a/t", "s", key, "CACHED", 300, &err);
	crid_free(key);
	CHECK(crid_auth_authorize(NULL, c, &p, NULL, NULL, &v, &f, &err) == 1 &&
		  !strcmp(v, "Bearer CACHED"),
	      "cached token: immediate");
	crid_free(v);
	crid_auth_cache_free(c);
}

/* A token fetched with one pull's credentials must not serve another's. */
static void test_cache_key(void)
{
	struct crid_auth_creds a = { "u", "p", NULL, NULL }, b = { "u", "wrong", NULL, NULL };
	struct crid_auth_creds it = { NULL, NULL, "IT", NULL };
	struct crid_auth_creds none = { NULL, NULL, NULL, NULL };
	char *ka, *kb, *ki, *kn, *knull;
	struct crid_err err;

	CHECK(crid_auth_cache_key("sc", &a, &ka, &err) == 0 &&
		  crid_auth_cache_key("sc", &b, &kb, &err) == 0 &&
		  crid_auth_cache_key("sc", &it, &ki, &err) == 0 &&
		  crid_auth_cache_key("sc", &none, &kn, &err) == 0 &&
		  crid_auth_cache_key("sc", NULL, &knull, &err) == 0,
	      "cache keys");
	CHECK(strcmp(ka, kb) && strcmp(ka, ki) && strcmp(ka, kn) && strcmp(kb, kn) &&
		  strcmp(ki, kn),
	      "other password, identity token, anonymous: other keys (%s / %s)", ka, kb);
	CHECK(!strcmp(kn, knull) && !strcmp(kn, "sc anonymous"), "anonymous key: %s", kn);
	CHECK(!strncmp(ka, "sc basic:", 9) && strlen(ka) == 9 + 64 && !strstr(ka, "p"),
	      "basic key names a hash, not the password: %s", ka);
	crid_free(ka), crid_free(kb), crid_free(ki), crid_free(kn), crid_free(knull);
}

int main(void)
{
	size_t mem0 = crid_mem_used();

	test_challenges();
	test_base64();
	test_cache_key();
	test_token_request();
	test_token_json();
	test_cache();
	test_authorize_immediate();
	CHECK(crid_mem_used() == mem0, "no memory left (%zu -> %zu)", mem0, crid_mem_used());
	return tap_done();
}
