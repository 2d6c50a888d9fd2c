/*
 * Unit tests for io/layer_stream.c: digest helpers, gzip (single and
 * multi-member), zstd (multi-frame, skippable frames), uncompressed; any feed
 * slicing and sink pauses give the same bytes; every verification failure;
 * the bomb and window limits; failing allocations never crash or leak.
 */
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <zlib.h>
#include <zstd.h>

#include "io/layer_stream.h"
#include "reactor/mem.h"
#include "tap.h"

struct buf {
	uint8_t *p;
	size_t len, cap;
};

static void buf_add(struct buf *b, const void *p, size_t n)
{
	if (b->len + n > b->cap) {
		b->cap = (b->len + n) * 2;
		b->p = realloc(b->p, b->cap);
		if (!b->p)
			abort();
	}
	memcpy(b->p + b->len, p, n);
	b->len += n;
}

/* Compressible but not trivial: words from a small table, seeded LCG. */
static void make_data(struct buf *b, size_t n, uint32_t seed)
{
	static const char *words[] = { "layer ", "tar ",  "overlay ",	  "whiteout ",
				       "\n",	 "crid ", "\x01\x02\xff", "sha256 " };
	while (b->len < n) {
		seed = seed * 1103515245u + 12345u;
		if (seed & 0x10000) {
			uint8_t r = (uint8_t)(seed >> 24);
			buf_add(b, &r, 1);
		} else {
			const char *w = words[(seed >> 20) & 7];
			size_t l = strlen(w);
			buf_add(b, w, l < n - b->len ? l : n - b->len);
		}
	}
}

static void gzip_member(struct buf *out, const uint8_t *p, size_t n)
{
	z_stream z = { 0 };
	uint8_t tmp[16384];
	int rc;

	if (deflateInit2(&z, 6, Z_DEFLATED, 15 + 16, 8, Z_DEFAULT_STRATEGY) != Z_OK)
		abort();
	z.next_in = (Bytef *)p;
	z.avail_in = (uInt)n;
	do {
		z.next_out = tmp;
		z.avail_out = sizeof(tmp);
		rc = deflate(&z, Z_FINISH);
		buf_add(out, tmp, sizeof(tmp) - z.avail_out);
	} while (rc == Z_OK);
	if (rc != Z_STREAM_END)
		abort();
	deflateEnd(&z);
}

static void zstd_frame(struct buf *out, const uint8_t *p, size_t n)
{
	size_t cap = ZSTD_compressBound(n);
	uint8_t *tmp = malloc(cap);
	size_t r = ZSTD_compress(tmp, cap, p, n, 3);

	if (ZSTD_isError(r))
		abort();
	buf_add(out, tmp, r);
	free(tmp);
}

static void zstd_skippable(struct buf *out)
{
	static const uint8_t frame[] = {
		0x50, 0x2a, 0x4d, 0x18, 5, 0, 0, 0, 'h', 'e', 'l', 'l', 'o'
	};

	buf_add(out, frame, sizeof(frame));
}

struct sink_ctx {
	struct buf got;
	int calls;
	int pause_every; /* 0 = never */
	bool paused;
	int violations; /* calls while paused, chunks over the limit */
};

static int sink(void *user, const uint8_t *data, size_t len, struct crid_err *err)
{
	struct sink_ctx *c = user;

	(void)err;
	if (c->paused || len == 0 || len > CRID_LAYER_STREAM_CHUNK)
		c->violations++;
	buf_add(&c->got, data, len);
	c->calls++;
	if (c->pause_every && c->calls % c->pause_every == 0) {
		c->paused = true;
		return 1;
	}
	return 0;
}

struct run {
	enum crid_compression comp;
	const struct buf *blob;
	const char *blob_digest; /* NULL: the right one */
	int64_t size;		 /* -1: the right one */
	const char *diff_id;
	struct crid_layer_limits limits;
	size_t slice; /* 0: one shot */
	int pause_every;
};

/* Feeds like curl would, with pauses resumed "later"; returns finish's result. */
static int drive(struct crid_layer_stream *s, struct sink_ctx *c, const struct run *r,
		 struct crid_err *err)
{
	size_t off = 0, n = r->blob->len;

	while (off < n) {
		size_t len = r->slice && r->slice < n - off ? r->slice : n - off, used;
		int rc = crid_layer_stream_feed(s, r->blob->p + off, len, &used, err);

		if (rc < 0)
			return -1;
		off += used;
		while (rc == 1) {
			c->paused = false;
			rc = crid_layer_stream_resume(s, err);
			if (rc < 0)
				return -1;
		}
	}
	return 0;
}

static int run(const struct run *r, struct sink_ctx *c, struct crid_layer_digests *d,
	       struct crid_err *err)
{
	char digest[CRID_DIGEST_LEN + 1];
	struct crid_layer_stream *s;
	int rc;

	crid_digest_sha256(r->blob->p, r->blob->len, digest, NULL);
	memset(c, 0, sizeof(*c));
	c->pause_every = r->pause_every;
	s = crid_layer_stream_new(r->comp, r->blob_digest ? r->blob_digest : digest,
				  r->size >= 0 ? r->size : (int64_t)r->blob->len, r->diff_id,
				  &r->limits, sink, c, err);
	if (!s)
		return -1;
	rc = drive(s, c, r, err);
	if (rc == 0)
		rc = crid_layer_stream_finish(s, d, err);
	crid_layer_stream_free(s);
	return rc;
}

static const struct buf *data_buf(void)
{
	static struct buf b;

	if (!b.len)
		make_data(&b, 300000, 42);
	return &b;
}

static void check_ok(const char *name, struct run *r, const struct buf *want)
{
	char diff[CRID_DIGEST_LEN + 1];
	static const size_t slices[] = { 0, 1, 7, 4096, 70000 };
	static const int pauses[] = { 0, 2, 1 };

	crid_digest_sha256(want->p, want->len, diff, NULL);
	r->diff_id = diff;
	for (size_t i = 0; i < sizeof(slices) / sizeof(slices[0]); i++) {
		for (size_t j = 0; j < sizeof(pauses) / sizeof(pauses[0]); j++) {
			struct crid_err err = { 0 };
			struct crid_layer_digests d;
			struct sink_ctx c;
			size_t base = crid_mem_used();
			int rc;

			r->slice = slices[i];
			r->pause_every = pauses[j];
			rc = run(r, &c, &d, &err);
			CHECK(rc == 0 && c.got.len == want->len &&
				  memcmp(c.got.p, want->p, want->len) == 0 && !c.violations &&
				  strcmp(d.diff_id, diff) == 0 &&
				  d.uncompressed_size == want->len &&
				  d.compressed_size == r->blob->len && crid_mem_used() == base,
			      "%s slice %zu pause every %d: %s", name, slices[i], pauses[j],
			      rc ? err.msg : "ok");
			free(c.got.p);
		}
	}
	r->diff_id = NULL;
}

static void test_digests(void)
{
	char hex[CRID_SHA256_HEX_LEN + 1], dg[CRID_DIGEST_LEN + 1], dg2[CRID_DIGEST_LEN + 1];
	uint8_t raw[32];
	struct crid_err err = { 0 };

	crid_digest_sha256_hex("abc", 3, hex, NULL);
	CHECK(strcmp(hex, "ba7816bf8f01cfea414140de5dae2223b00361a396177a9cb410ff61f20015ad") == 0,
	      "sha256 hex of abc");
	crid_digest_sha256("", 0, dg, NULL);
	CHECK(
	    strcmp(dg, "sha256:e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855") ==
		0,
	    "sha256 digest of empty");
	CHECK(crid_digest_valid(dg, strlen(dg)), "valid digest");
	CHECK(crid_digest_parse(dg, strlen(dg), raw, &err) == 0 && raw[0] == 0xe3 &&
		  raw[31] == 0x55,
	      "parse digest");
	crid_digest_format(raw, dg2);
	CHECK(crid_digest_equal(dg, dg2), "format round trip");
	dg2[10] = 'A';
	CHECK(!crid_digest_valid(dg2, strlen(dg2)) && !crid_digest_equal(dg2, dg2),
	      "uppercase hex refused");
	CHECK(!crid_digest_valid(dg, strlen(dg) - 1), "short digest refused");
	CHECK(crid_digest_parse("sha512:abcd", 11, raw, &err) < 0 && strstr(err.msg, "sha512"),
	      "sha512 unsupported: %s", err.msg);
	CHECK(crid_digest_parse("nonsense", 8, raw, &err) < 0 && strstr(err.msg, "nonsense"),
	      "garbage refused: %s", err.msg);
	CHECK(!crid_digest_equal("x", "x"), "invalid digests never equal");
}

static void test_formats(void)
{
	const struct buf *data = data_buf();
	struct buf gz = { 0 }, gz3 = { 0 }, zs = { 0 }, zs3 = { 0 };
	struct run r = { 0 };

	r.size = -1;
	r.comp = CRID_COMPRESSION_NONE;
	r.blob = data;
	check_ok("none", &r, data);

	gzip_member(&gz, data->p, data->len);
	r.comp = CRID_COMPRESSION_GZIP;
	r.blob = &gz;
	check_ok("gzip", &r, data);

	gzip_member(&gz3, data->p, 100000);
	gzip_member(&gz3, data->p, 0); /* an empty member is still a member */
	gzip_member(&gz3, data->p + 100000, data->len - 100000);
	r.blob = &gz3;
	check_ok("gzip 3 members", &r, data);

	zstd_frame(&zs, data->p, data->len);
	r.comp = CRID_COMPRESSION_ZSTD;
	r.blob = &zs;
	check_ok("zstd", &r, data);

	zstd_skippable(&zs3);
	zstd_frame(&zs3, data->p, 120000);
	zstd_skippable(&zs3);
	zstd_frame(&zs3, data->p + 120000, data->len - 120000);
	r.blob = &zs3;
	check_ok("zstd 2 frames + skippable", &r, data);
	free(gz.p);
	free(gz3.p);
	free(zs.p);
	free(zs3.p);
}

/* Runs |r| (one shot and byte by byte) and expects an error containing |want|. */
static void check_fails(const char *name, struct run *r, const char *want)
{
	static const size_t slices[] = { 0, 1, 333 };

	for (size_t i = 0; i < 3; i++) {
		struct crid_err err = { 0 };
		struct crid_layer_digests d;
		struct sink_ctx c;
		size_t base = crid_mem_used();
		int rc;

		r->slice = slices[i];
		rc = run(r, &c, &d, &err);
		CHECK(rc < 0 && strstr(err.msg, want) && crid_mem_used() == base,
		      "%s (slice %zu): %s", name, slices[i], err.msg);
		free(c.got.p);
	}
}

static void test_bad_gzip(const struct buf *data)
{
	struct buf gz = { 0 }, bad = { 0 };
	struct run r = { .comp = CRID_COMPRESSION_GZIP, .size = -1 };
	const char *wrong =
	    "sha256:0000000000000000000000000000000000000000000000000000000000000000";

	gzip_member(&gz, data->p, data->len);
	r.blob = &gz;
	r.blob_digest = wrong;
	check_fails("wrong blob digest", &r, "blob digest mismatch: expected sha256:0000");
	r.blob_digest = NULL;
	r.diff_id = wrong;
	check_fails("wrong diffID", &r, "diffID mismatch: expected sha256:0000");
	r.diff_id = NULL;
	r.size = (int64_t)gz.len - 1;
	check_fails("blob over its size", &r, "blob larger than its descriptor's size");
	r.size = (int64_t)gz.len + 1;
	check_fails("blob under its size", &r, "blob size mismatch");
	r.size = -1;
	r.limits.max_uncompressed = 100000;
	check_fails("bomb limit", &r, "larger than the limit of 100000 bytes");
	r.limits.max_uncompressed = 0;

	buf_add(&bad, gz.p, gz.len - 5);
	r.blob = &bad;
	check_fails("truncated gzip", &r, "gzip stream truncated");
	bad.len = gz.len / 2;
	check_fails("gzip cut in half", &r, "gzip stream truncated");
	bad.len = 0;
	check_fails("empty gzip", &r, "gzip stream truncated");
	buf_add(&bad, gz.p, gz.len);
	buf_add(&bad, "garbage", 7);
	check_fails("garbage after gzip", &r, "trailing data after the last member");
	bad.len = gz.len;
	buf_add(&bad, "\0\0\0\0", 4);
	check_fails("zero padding after gzip", &r, "trailing data after the last member");
	bad.len = gz.len;
	buf_add(&bad, "\x1f\x8b\x08", 3);
	check_fails("a second member cut short", &r, "gzip stream truncated: member 2");
	bad.len = gz.len;
	buf_add(&bad, "\x1fxyzzy0123456789", 16);
	check_fails("bad second member", &r, "gzip member 2");
	memcpy(bad.p, gz.p, gz.len);
	bad.len = gz.len;
	bad.p[gz.len / 2] ^= 0x55;
	bad.p[gz.len / 2 + 1] ^= 0xaa;
	check_fails("corrupt deflate data", &r, "gzip");
	free(gz.p);
	free(bad.p);
}

static void test_bad_zstd(const struct buf *data)
{
	struct buf zs = { 0 }, bad = { 0 };
	struct run r = { .comp = CRID_COMPRESSION_ZSTD, .size = -1 };

	zstd_frame(&zs, data->p, data->len);
	buf_add(&bad, zs.p, zs.len - 3);
	r.blob = &bad;
	check_fails("truncated zstd", &r, "zstd stream truncated");
	bad.len = 0;
	check_fails("empty zstd", &r, "zstd stream truncated");
	buf_add(&bad, zs.p, zs.len);
	buf_add(&bad, "garbage!", 8);
	check_fails("garbage after zstd", &r, "zstd: ");
	r.blob = &zs;
	r.limits.zstd_window_log_max = 16;
	check_fails("zstd window over the limit", &r, "zstd: ");
	r.limits.zstd_window_log_max = 0;
	r.limits.max_uncompressed = 1000;
	check_fails("zstd bomb limit", &r, "larger than the limit of 1000 bytes");
	free(zs.p);
	free(bad.p);
}

static int failing_sink(void *user, const uint8_t *data, size_t len, struct crid_err *err)
{
	(void)user;
	(void)data;
	(void)len;
	return crid_err_set(err, 0, "disk full");
}

static void test_api_misuse(const struct buf *data)
{
	const char *dg = "sha256:e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855";
	struct crid_err err = { 0 };
	struct crid_layer_stream *s;
	struct sink_ctx c = { .pause_every = 1 };
	struct buf gz = { 0 };
	size_t used;
	int rc;

	CHECK(!crid_layer_stream_new(CRID_COMPRESSION_GZIP, "sha256:abc", 1, NULL, NULL, sink, &c,
				     &err) &&
		  strstr(err.msg, "blob digest"),
	      "bad expected digest refused: %s", err.msg);
	CHECK(!crid_layer_stream_new(CRID_COMPRESSION_GZIP, dg, 1, "md5:x", NULL, sink, &c, &err) &&
		  strstr(err.msg, "diffID"),
	      "bad expected diffID refused: %s", err.msg);
	CHECK(!crid_layer_stream_new(CRID_COMPRESSION_GZIP, dg, -1, NULL, NULL, sink, &c, &err),
	      "negative size refused: %s", err.msg);

	gzip_member(&gz, data->p, data->len);
	s = crid_layer_stream_new(CRID_COMPRESSION_GZIP, dg, (int64_t)gz.len, NULL, NULL, sink, &c,
				  &err);
	rc = crid_layer_stream_feed(s, gz.p, gz.len, &used, &err);
	CHECK(rc == 1 && used < gz.len && crid_layer_stream_pending(s) &&
		  c.got.len == CRID_LAYER_STREAM_CHUNK,
	      "pause stops after one chunk (used %zu of %zu)", used, gz.len);
	CHECK(crid_layer_stream_finish(s, NULL, &err) < 0 && strstr(err.msg, "pending"),
	      "finish while pending refused: %s", err.msg);
	crid_layer_stream_free(s);
	free(c.got.p);

	s = crid_layer_stream_new(CRID_COMPRESSION_GZIP, dg, (int64_t)gz.len, NULL, NULL,
				  failing_sink, NULL, &err);
	CHECK(crid_layer_stream_feed(s, gz.p, gz.len, &used, &err) < 0 &&
		  strcmp(err.msg, "disk full") == 0,
	      "sink error comes back: %s", err.msg);
	CHECK(crid_layer_stream_feed(s, gz.p, 1, &used, &err) < 0 &&
		  crid_layer_stream_finish(s, NULL, &err) < 0 && strstr(err.msg, "already failed"),
	      "dead stream stays dead: %s", err.msg);
	crid_layer_stream_free(s);
	free(gz.p);
}

/* Fails the Nth allocation for every N until a run needs no more. */
static void test_alloc_failures(const char *name, enum crid_compression comp,
				const struct buf *blob)
{
	int failures = 0, crashes = 0, n;

	for (n = 1; n < 200; n++) {
		struct run r = { .comp = comp, .blob = blob, .size = -1, .slice = 5000 };
		struct crid_err err = { 0 };
		struct crid_layer_digests d;
		struct sink_ctx c;
		size_t base = crid_mem_used();
		int rc;

		crid_mem_fail_after(n);
		rc = run(&r, &c, &d, &err);
		crid_mem_fail_after(0);
		free(c.got.p);
		if (crid_mem_used() != base)
			crashes++;
		if (rc == 0)
			break;
		failures++;
		if (!strstr(err.msg, "Cannot allocate memory") && !strstr(err.msg, "memory"))
			printf("# %s alloc %d: unexpected error %s\n", name, n, err.msg), crashes++;
	}
	CHECK(n < 200 && failures > 0 && crashes == 0,
	      "%s: %d injected allocation failures, all reported, no leak", name, failures);
}

int main(void)
{
	const struct buf *data = data_buf();
	struct buf gz = { 0 }, zs = { 0 };

	test_digests();
	test_formats();
	test_bad_gzip(data);
	test_bad_zstd(data);
	test_api_misuse(data);
	gzip_member(&gz, data->p, data->len);
	zstd_frame(&zs, data->p, data->len);
	test_alloc_failures("gzip", CRID_COMPRESSION_GZIP, &gz);
	test_alloc_failures("zstd", CRID_COMPRESSION_ZSTD, &zs);
	test_alloc_failures("none", CRID_COMPRESSION_NONE, data);
	free(gz.p);
	free(zs.p);
	return tap_done();
}
