#define ZSTD_STATIC_LINKING_ONLY /* ZSTD_createDCtx_advanced: our allocator */
#include "io/layer_stream.h"

#include <errno.h>
#include <inttypes.h>
#include <limits.h>
#include <openssl/evp.h>
#include <string.h>
#include <zlib.h>
#include <zstd.h>
#include <zstd_errors.h>

#include "reactor/mem.h"

#define DEFAULT_MAX_UNCOMPRESSED (64ULL << 30)
#define DEFAULT_ZSTD_WINDOW_LOG 27

/* ---- digests ---- */

static const char hexdigits[] = "0123456789abcdef";

static void hex_encode(const uint8_t *raw, size_t n, char *out)
{
	for (size_t i = 0; i < n; i++) {
		out[2 * i] = hexdigits[raw[i] >> 4];
		out[2 * i + 1] = hexdigits[raw[i] & 15];
	}
	out[2 * n] = '\0';
}

int crid_digest_sha256_hex(const void *data, size_t len, char out[CRID_SHA256_HEX_LEN + 1],
			   struct crid_err *err)
{
	uint8_t raw[EVP_MAX_MD_SIZE];
	unsigned int n = 0;

	if (!EVP_Digest(data, len, raw, &n, EVP_sha256(), NULL) || n != CRID_SHA256_RAW_LEN)
		return crid_err_set(err, ENOMEM, "sha256");
	hex_encode(raw, n, out);
	return 0;
}

int crid_digest_sha256(const void *data, size_t len, char out[CRID_DIGEST_LEN + 1],
		       struct crid_err *err)
{
	memcpy(out, "sha256:", 7);
	return crid_digest_sha256_hex(data, len, out + 7, err);
}

static int hexval(char c)
{
	if (c >= '0' && c <= '9')
		return c - '0';
	if (c >= 'a' && c <= 'f')
		return c - 'a' + 10;
	return -1;
}

bool crid_digest_valid(const char *s, size_t len)
{
	if (len != CRID_DIGEST_LEN || memcmp(s, "sha256:", 7) != 0)
		return false;
	for (size_t i = 7; i < len; i++)
		if (hexval(s[i]) < 0)
			return false;
	return true;
}

int crid_digest_parse(const char *s, size_t len, uint8_t out[CRID_SHA256_RAW_LEN],
		      struct crid_err *err)
{
	const char *colon = memchr(s, ':', len);
	int shown = len > 100 ? 100 : (int)len;

	if (colon && (size_t)(colon - s) != 6 && colon - s < 32 &&
	    memcmp(s, "sha256:", (size_t)(colon - s) + 1) != 0)
		return crid_err_set(err, 0, "unsupported digest algorithm `%.*s`", (int)(colon - s),
				    s);
	if (!crid_digest_valid(s, len))
		return crid_err_set(err, 0, "invalid digest `%.*s`: want sha256:<64 lowercase hex>",
				    shown, s);
	for (size_t i = 0; i < CRID_SHA256_RAW_LEN; i++)
		out[i] = (uint8_t)(hexval(s[7 + 2 * i]) << 4 | hexval(s[8 + 2 * i]));
	return 0;
}

void crid_digest_format(const uint8_t raw[CRID_SHA256_RAW_LEN], char out[CRID_DIGEST_LEN + 1])
{
	memcpy(out, "sha256:", 7);
	hex_encode(raw, CRID_SHA256_RAW_LEN, out + 7);
}

bool crid_digest_equal(const char *a, const char *b)
{
	size_t la = strlen(a);

	return crid_digest_valid(a, la) && strlen(b) == la && memcmp(a, b, la) == 0;
}

const char *crid_compression_name(enum crid_compression c)
{
	switch (c) {
	case CRID_COMPRESSION_GZIP:
		return "gzip";
	case CRID_COMPRESSION_ZSTD:
		return "zstd";
	default:
		return "none";
	}
}

/* ---- the stream ---- */

struct crid_layer_stream {
	enum crid_compression comp;
	crid_layer_sink_fn sink;
	void *user;
	EVP_MD_CTX *blob_md, *diff_md; /* diff_md NULL when uncompressed: same bytes */
	z_stream zs;
	bool zs_init;
	ZSTD_DCtx *zd;
	uint8_t *out; /* CRID_LAYER_STREAM_CHUNK bytes, decompressors only */
	uint64_t in_total, out_total, expect_size, max_out;
	bool failed, paused;
	bool out_full;	 /* the last step filled |out|: the decompressor may hold more */
	bool clean_end;	 /* gzip member / zstd frame complete at the current position */
	bool member_end; /* gzip: Z_STREAM_END seen, next input starts a new member */
	unsigned members;
	char expect_blob[CRID_DIGEST_LEN + 1];
	char expect_diff[CRID_DIGEST_LEN + 1]; /* "" = not checked */
};

/*
 * zlib and zstd allocate their state and windows themselves; these route it
 * through crid_malloc so it is counted and failure injection reaches it.
 */
static voidpf z_alloc(voidpf opaque, uInt items, uInt size)
{
	(void)opaque;
	return crid_calloc(items, size);
}

static void z_free(voidpf opaque, voidpf p)
{
	(void)opaque;
	crid_free(p);
}

static void *zstd_alloc(void *opaque, size_t size)
{
	(void)opaque;
	return crid_malloc(size);
}

static void zstd_free(void *opaque, void *p)
{
	(void)opaque;
	crid_free(p);
}

static int fail(struct crid_layer_stream *s, struct crid_err *err, int code, const char *fmt,
		const char *detail)
{
	s->failed = true;
	return crid_err_set(err, code, fmt, detail);
}

static int md_new(EVP_MD_CTX **md, struct crid_err *err)
{
	*md = EVP_MD_CTX_new();
	if (!*md || !EVP_DigestInit_ex(*md, EVP_sha256(), NULL))
		return crid_err_set(err, ENOMEM, "sha256 context");
	return 0;
}

static int init_gzip(struct crid_layer_stream *s, struct crid_err *err)
{
	s->zs.zalloc = z_alloc;
	s->zs.zfree = z_free;
	/*
	 * 15 + 16: gzip wrapper only. Like Go's gzip.Reader (containerd), and
	 * unlike 15 + 32, a zlib stream is not a valid tar+gzip layer.
	 */
	if (inflateInit2(&s->zs, 15 + 16) != Z_OK)
		return crid_err_set(err, ENOMEM, "gzip: inflateInit2");
	s->zs_init = true;
	return 0;
}

static int init_zstd(struct crid_layer_stream *s, const struct crid_layer_limits *lim,
		     struct crid_err *err)
{
	ZSTD_customMem mem = { zstd_alloc, zstd_free, NULL };
	int wlog =
	    lim && lim->zstd_window_log_max ? lim->zstd_window_log_max : DEFAULT_ZSTD_WINDOW_LOG;

	s->zd = ZSTD_createDCtx_advanced(mem);
	if (!s->zd)
		return crid_err_set(err, ENOMEM, "zstd: create context");
	if (ZSTD_isError(ZSTD_DCtx_setParameter(s->zd, ZSTD_d_windowLogMax, wlog)))
		return crid_err_set(err, EINVAL, "zstd: window log %d out of range", wlog);
	return 0;
}

static int check_expectations(const char *blob, int64_t size, const char *diff,
			      struct crid_err *err)
{
	uint8_t raw[CRID_SHA256_RAW_LEN];

	if (!blob)
		return crid_err_set(err, EINVAL, "layer stream: no expected blob digest");
	if (crid_digest_parse(blob, strlen(blob), raw, err) < 0)
		return crid_err_wrap(err, "blob digest");
	if (diff && crid_digest_parse(diff, strlen(diff), raw, err) < 0)
		return crid_err_wrap(err, "diffID");
	if (size < 0)
		return crid_err_set(err, EINVAL, "blob size %" PRId64 " is negative", size);
	return 0;
}

static int init_codec(struct crid_layer_stream *s, const struct crid_layer_limits *lim,
		      struct crid_err *err)
{
	if (s->comp == CRID_COMPRESSION_NONE) {
		s->clean_end = true;
		return 0;
	}
	s->out = crid_malloc(CRID_LAYER_STREAM_CHUNK);
	if (!s->out)
		return crid_err_set(err, ENOMEM, "layer stream buffer");
	if (md_new(&s->diff_md, err) < 0)
		return -1;
	if (s->comp == CRID_COMPRESSION_GZIP)
		return init_gzip(s, err);
	if (s->comp == CRID_COMPRESSION_ZSTD)
		return init_zstd(s, lim, err);
	return crid_err_set(err, EINVAL, "unknown compression %d", (int)s->comp);
}

struct crid_layer_stream *
crid_layer_stream_new(enum crid_compression c, const char *expect_blob_digest, int64_t expect_size,
		      const char *expect_diff_id, const struct crid_layer_limits *limits,
		      crid_layer_sink_fn sink, void *user, struct crid_err *err)
{
	struct crid_layer_stream *s;

	if (check_expectations(expect_blob_digest, expect_size, expect_diff_id, err) < 0)
		return NULL;
	s = crid_calloc(1, sizeof(*s));
	if (!s) {
		crid_err_set(err, ENOMEM, "layer stream");
		return NULL;
	}
	s->comp = c;
	s->sink = sink;
	s->user = user;
	s->expect_size = (uint64_t)expect_size;
	s->max_out = limits && limits->max_uncompressed ? limits->max_uncompressed
							: DEFAULT_MAX_UNCOMPRESSED;
	memcpy(s->expect_blob, expect_blob_digest, CRID_DIGEST_LEN + 1);
	if (expect_diff_id)
		memcpy(s->expect_diff, expect_diff_id, CRID_DIGEST_LEN + 1);
	if (md_new(&s->blob_md, err) < 0 || init_codec(s, limits, err) < 0) {
		crid_layer_stream_free(s);
		return NULL;
	}
	return s;
}

void crid_layer_stream_free(struct crid_layer_stream *s)
{
	if (!s)
		return;
	if (s->zs_init)
		inflateEnd(&s->zs);
	ZSTD_freeDCtx(s->zd);
	EVP_MD_CTX_free(s->blob_md);
	EVP_MD_CTX_free(s->diff_md);
	crid_free(s->out);
	crid_free(s);
}

/* Hashes and hands |len| decompressed bytes to the sink, after the bomb guard. */
static int deliver(struct crid_layer_stream *s, const uint8_t *p, size_t len, struct crid_err *err)
{
	int r;

	if (len == 0)
		return 0;
	if (len > s->max_out - s->out_total) {
		s->failed = true;
		return crid_err_set(err, EFBIG,
				    "uncompressed layer larger than the limit of %" PRIu64 " bytes",
				    s->max_out);
	}
	s->out_total += len;
	if (s->diff_md && !EVP_DigestUpdate(s->diff_md, p, len))
		return fail(s, err, ENOMEM, "%s", "sha256 update");
	r = s->sink(s->user, p, len, err);
	if (r < 0) {
		s->failed = true;
		return -1;
	}
	if (r > 0)
		s->paused = true;
	return 0;
}

static int take_input(struct crid_layer_stream *s, const uint8_t *p, size_t len,
		      struct crid_err *err)
{
	if (len == 0)
		return 0;
	s->in_total += len;
	if (!EVP_DigestUpdate(s->blob_md, p, len))
		return fail(s, err, ENOMEM, "%s", "sha256 update");
	return 0;
}

static int gzip_error(struct crid_layer_stream *s, int rc, struct crid_err *err)
{
	s->failed = true;
	if (rc == Z_MEM_ERROR)
		return crid_err_set(err, ENOMEM, "gzip member %u", s->members + 1);
	if (rc == Z_NEED_DICT)
		return crid_err_set(err, 0, "gzip member %u: needs a preset dictionary",
				    s->members + 1);
	return crid_err_set(err, 0, "gzip member %u: %s", s->members + 1,
			    s->zs.msg ? s->zs.msg : "corrupt data");
}

/*
 * Multi-member gzip (pigz, concatenated layers) as Go's gzip.Reader in
 * multistream mode reads it: after a member's trailer, further input must be
 * another member; anything else (zero padding included) is an error.
 */
static int gzip_step(struct crid_layer_stream *s, const uint8_t *in, size_t len, size_t *used,
		     size_t *produced, struct crid_err *err)
{
	uInt avail = len > UINT_MAX ? UINT_MAX : (uInt)len;
	int rc;

	if (s->member_end) {
		if (len == 0) {
			s->out_full = false;
			return 0;
		}
		if (in[0] != 0x1f)
			return fail(s, err, 0, "%s",
				    "gzip: trailing data after the last member is not gzip");
		if (inflateReset(&s->zs) != Z_OK)
			return fail(s, err, 0, "%s", "gzip: inflateReset failed");
		s->member_end = false;
		s->clean_end = false;
	}
	s->zs.next_in = (Bytef *)in;
	s->zs.avail_in = avail;
	s->zs.next_out = s->out;
	s->zs.avail_out = CRID_LAYER_STREAM_CHUNK;
	rc = inflate(&s->zs, Z_NO_FLUSH);
	*used = avail - s->zs.avail_in;
	*produced = CRID_LAYER_STREAM_CHUNK - s->zs.avail_out;
	s->out_full = s->zs.avail_out == 0;
	if (rc == Z_STREAM_END) {
		s->member_end = s->clean_end = true;
		s->out_full = false; /* Z_STREAM_END: everything was flushed */
		s->members++;
	} else if (rc == Z_BUF_ERROR) {
		s->out_full = false; /* no progress possible: needs input */
	} else if (rc != Z_OK) {
		return gzip_error(s, rc, err);
	}
	return 0;
}

/*
 * zstd: ZSTD_decompressStream stops at each frame end and starts the next
 * frame on the next call; skippable frames are skipped inside libzstd. A
 * return of 0 means a frame was decoded and fully flushed: a clean end.
 */
static int zstd_step(struct crid_layer_stream *s, const uint8_t *in, size_t len, size_t *used,
		     size_t *produced, struct crid_err *err)
{
	ZSTD_inBuffer ib = { in, len, 0 };
	ZSTD_outBuffer ob = { s->out, CRID_LAYER_STREAM_CHUNK, 0 };
	size_t r = ZSTD_decompressStream(s->zd, &ob, &ib);

	if (ZSTD_isError(r)) {
		int code = ZSTD_getErrorCode(r) == ZSTD_error_memory_allocation ? ENOMEM : 0;

		return fail(s, err, code, "zstd: %s", ZSTD_getErrorName(r));
	}
	*used = ib.pos;
	*produced = ob.pos;
	s->out_full = ob.pos == ob.size && r != 0;
	if (ib.pos > 0 || ob.pos > 0)
		s->clean_end = r == 0;
	return 0;
}

/* One bounded step: consumes some of |in|, points |*outp| at up to one chunk of output. */
static int step(struct crid_layer_stream *s, const uint8_t *in, size_t len, size_t *used,
		const uint8_t **outp, size_t *produced, struct crid_err *err)
{
	*used = *produced = 0;
	*outp = s->out;
	switch (s->comp) {
	case CRID_COMPRESSION_GZIP:
		return gzip_step(s, in, len, used, produced, err);
	case CRID_COMPRESSION_ZSTD:
		return zstd_step(s, in, len, used, produced, err);
	default:
		*used = *produced = len < CRID_LAYER_STREAM_CHUNK ? len : CRID_LAYER_STREAM_CHUNK;
		*outp = in;
		return 0;
	}
}

static int check_feed(struct crid_layer_stream *s, size_t len, struct crid_err *err)
{
	if (s->failed)
		return crid_err_set(err, 0, "layer stream already failed or finished");
	if (len > s->expect_size - s->in_total) {
		s->failed = true;
		return crid_err_set(err, 0,
				    "blob larger than its descriptor's size of %" PRIu64 " bytes",
				    s->expect_size);
	}
	return 0;
}

int crid_layer_stream_feed(struct crid_layer_stream *s, const uint8_t *data, size_t len,
			   size_t *consumed, struct crid_err *err)
{
	static const uint8_t none[1];
	size_t done = 0;

	*consumed = 0;
	if (check_feed(s, len, err) < 0)
		return -1;
	if (!data)
		data = none;
	s->paused = false;
	while (!s->paused && (done < len || s->out_full)) {
		const uint8_t *out;
		size_t used, produced;

		if (step(s, data + done, len - done, &used, &out, &produced, err) < 0 ||
		    take_input(s, data + done, used, err) < 0)
			return -1;
		done += used;
		*consumed = done;
		if (used == 0 && produced == 0 && !s->out_full && done < len && !s->member_end)
			return fail(s, err, 0, "%s: decoder made no progress",
				    crid_compression_name(s->comp));
		if (deliver(s, out, produced, err) < 0)
			return -1;
	}
	return s->paused ? 1 : 0;
}

int crid_layer_stream_resume(struct crid_layer_stream *s, struct crid_err *err)
{
	size_t consumed;

	return crid_layer_stream_feed(s, NULL, 0, &consumed, err);
}

bool crid_layer_stream_pending(const struct crid_layer_stream *s)
{
	return !s->failed && s->out_full;
}

static int final_digest(EVP_MD_CTX *md, char out[CRID_DIGEST_LEN + 1], struct crid_err *err)
{
	uint8_t raw[EVP_MAX_MD_SIZE];
	unsigned int n = 0;

	if (!EVP_DigestFinal_ex(md, raw, &n) || n != CRID_SHA256_RAW_LEN)
		return crid_err_set(err, ENOMEM, "sha256 final");
	crid_digest_format(raw, out);
	return 0;
}

static int verify(const struct crid_layer_stream *s, const struct crid_layer_digests *d,
		  struct crid_err *err)
{
	if (d->compressed_size != s->expect_size)
		return crid_err_set(err, 0,
				    "blob size mismatch: expected %" PRIu64 " bytes, got %" PRIu64,
				    s->expect_size, d->compressed_size);
	if (strcmp(d->blob, s->expect_blob) != 0)
		return crid_err_set(err, 0, "blob digest mismatch: expected %s, got %s",
				    s->expect_blob, d->blob);
	if (!s->clean_end && s->comp == CRID_COMPRESSION_GZIP)
		return crid_err_set(err, 0, "gzip stream truncated: member %u has no end",
				    s->members + 1);
	if (!s->clean_end)
		return crid_err_set(err, 0, "zstd stream truncated: the last frame has no end");
	if (s->expect_diff[0] && strcmp(d->diff_id, s->expect_diff) != 0)
		return crid_err_set(err, 0, "diffID mismatch: expected %s, got %s", s->expect_diff,
				    d->diff_id);
	return 0;
}

int crid_layer_stream_finish(struct crid_layer_stream *s, struct crid_layer_digests *out,
			     struct crid_err *err)
{
	struct crid_layer_digests d = { 0 };

	if (s->failed)
		return crid_err_set(err, 0, "layer stream already failed or finished");
	if (s->out_full)
		return crid_err_set(err, EBUSY,
				    "layer stream: output pending, resume before finish");
	s->failed = true; /* the digest contexts are spent from here on */
	d.compressed_size = s->in_total;
	d.uncompressed_size = s->out_total;
	if (final_digest(s->blob_md, d.blob, err) < 0)
		return -1;
	if (s->diff_md && final_digest(s->diff_md, d.diff_id, err) < 0)
		return -1;
	if (!s->diff_md)
		memcpy(d.diff_id, d.blob, sizeof(d.blob));
	if (out)
		*out = d;
	return verify(s, &d, err);
}
