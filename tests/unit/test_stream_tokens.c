/*
 * Unit tests for runtime/stream/stream_tokens: token shape (22 base64url
 * characters, distinct), single use, expiry at the TTL (expired ones freed
 * on take and on sweep), the in-flight bound (EAGAIN, room again after a
 * take or an expiry), and that nothing is leaked (crid_mem_used).
 */
#include <errno.h>
#include <string.h>

#include "reactor/mem.h"
#include "runtime/stream/stream_tokens.h"
#include "tap.h"

static struct crid_stream_req *req(enum crid_stream_kind kind)
{
	struct crid_stream_req *r = crid_calloc(1, sizeof(*r));

	r->kind = kind;
	r->argc = 1;
	r->argv = crid_calloc(2, sizeof(char *));
	r->argv[0] = crid_strdup("sh");
	return r;
}

static bool url_safe(const char *s)
{
	for (; *s; s++)
		if (!((*s >= 'A' && *s <= 'Z') || (*s >= 'a' && *s <= 'z') ||
		      (*s >= '0' && *s <= '9') || *s == '-' || *s == '_'))
			return false;
	return true;
}

static void test_single_use(void)
{
	struct crid_stream_tokens t;
	char a[CRID_STREAM_TOKEN_LEN + 1], b[CRID_STREAM_TOKEN_LEN + 1];
	struct crid_stream_req *r;
	struct crid_err err;
	size_t before = crid_mem_used();

	crid_stream_tokens_init(&t, 10, 60);
	CHECK(crid_stream_tokens_put(&t, req(CRID_STREAM_EXEC), 100, a, &err) == 0, "put a");
	CHECK(crid_stream_tokens_put(&t, req(CRID_STREAM_ATTACH), 100, b, &err) == 0, "put b");
	CHECK(strlen(a) == 22 && url_safe(a), "token `%s` is 22 base64url characters", a);
	CHECK(strcmp(a, b) != 0, "tokens differ: %s %s", a, b);
	CHECK(!crid_stream_tokens_take(&t, a, 21, 101), "a prefix is not the token");
	r = crid_stream_tokens_take(&t, a, strlen(a), 101);
	CHECK(r && r->kind == CRID_STREAM_EXEC, "take a gives its request");
	crid_stream_req_free(r);
	CHECK(!crid_stream_tokens_take(&t, a, strlen(a), 101), "a second take finds nothing");
	CHECK(t.n == 1, "b still cached (%zu)", t.n);
	crid_stream_tokens_clear(&t);
	CHECK(crid_mem_used() == before, "nothing leaked (%zu bytes)", crid_mem_used() - before);
}

static void test_expiry(void)
{
	struct crid_stream_tokens t;
	char a[CRID_STREAM_TOKEN_LEN + 1], b[CRID_STREAM_TOKEN_LEN + 1];
	struct crid_err err;
	size_t before = crid_mem_used();

	crid_stream_tokens_init(&t, 10, 60);
	crid_stream_tokens_put(&t, req(CRID_STREAM_EXEC), 100, a, &err);
	crid_stream_tokens_put(&t, req(CRID_STREAM_EXEC), 130, b, &err);
	CHECK(crid_stream_tokens_next_expiry(&t) == 160, "next expiry 160: %g",
	      crid_stream_tokens_next_expiry(&t));
	CHECK(!crid_stream_tokens_take(&t, a, strlen(a), 160), "a expired at its TTL");
	CHECK(t.n == 1, "the expired token is gone (%zu)", t.n);
	CHECK(crid_stream_tokens_sweep(&t, 189) == 1, "b alive before 190");
	CHECK(crid_stream_tokens_sweep(&t, 190) == 0, "b swept at 190");
	CHECK(crid_stream_tokens_next_expiry(&t) == 0, "no expiry when empty");
	crid_stream_tokens_clear(&t);
	CHECK(crid_mem_used() == before, "expired requests freed (%zu bytes)",
	      crid_mem_used() - before);
}

static void test_bound(void)
{
	struct crid_stream_tokens t;
	char tok[40][CRID_STREAM_TOKEN_LEN + 1], x[CRID_STREAM_TOKEN_LEN + 1];
	size_t before = crid_mem_used();
	struct crid_stream_req *r = req(CRID_STREAM_PORTFORWARD), *got;
	struct crid_err err;
	int rc = 0;

	crid_stream_tokens_init(&t, 40, 60);
	for (int i = 0; i < 40 && rc == 0; i++)
		rc = crid_stream_tokens_put(&t, req(CRID_STREAM_EXEC), 10 + i, tok[i], &err);
	CHECK(rc == 0 && t.n == 40, "40 in flight");
	rc = crid_stream_tokens_put(&t, r, 50, x, &err);
	CHECK(rc < 0 && err.code == EAGAIN, "the 41st is EAGAIN: %s", err.msg);
	got = crid_stream_tokens_take(&t, tok[7], CRID_STREAM_TOKEN_LEN, 50);
	crid_stream_req_free(got);
	CHECK(crid_stream_tokens_put(&t, r, 50, x, &err) == 0, "room after a take");
	r = req(CRID_STREAM_ATTACH);
	CHECK(crid_stream_tokens_put(&t, r, 50, x, &err) < 0, "full again");
	CHECK(crid_stream_tokens_put(&t, r, 70.5, x, &err) == 0 && t.n == 40,
	      "room once the oldest expire (%zu left)", t.n);
	crid_stream_tokens_clear(&t);
	CHECK(crid_mem_used() == before, "nothing leaked (%zu bytes)", crid_mem_used() - before);
}

int main(void)
{
	test_single_use();
	test_expiry();
	test_bound();
	return tap_done();
}
