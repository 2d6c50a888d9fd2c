/*
 * libFuzzer target for the layer stream: arbitrary bytes as a gzip, zstd or
 * uncompressed blob, fed in random slices with a sink that pauses at random.
 * Never a crash or a leak; on success the diffID and size must match what
 * the sink saw, and the sink is never called while it asked for a pause.
 *
 * Input: byte 0 = mode (bits 0-1 compression, bit 2 wrong blob digest),
 * bytes 1-2 = seed for slicing and pauses, the rest = the blob.
 */
#include <openssl/evp.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "io/layer_stream.h"
#include "reactor/mem.h"

struct fuzz_sink {
	EVP_MD_CTX *md;
	uint64_t total;
	uint32_t rng;
	int paused;
};

static uint32_t next(uint32_t *rng)
{
	*rng = *rng * 1103515245u + 12345u;
	return *rng >> 16;
}

static int sink(void *user, const uint8_t *data, size_t len, struct crid_err *err)
{
	struct fuzz_sink *f = user;

	(void)err;
	if (f->paused || len == 0 || len > CRID_LAYER_STREAM_CHUNK)
		abort();
	EVP_DigestUpdate(f->md, data, len);
	f->total += len;
	if (next(&f->rng) % 3 == 0) {
		f->paused = 1;
		return 1;
	}
	return 0;
}

static int drive(struct crid_layer_stream *s, struct fuzz_sink *f, const uint8_t *p, size_t n)
{
	struct crid_err err;
	size_t off = 0, used;

	while (off < n) {
		size_t len = 1 + next(&f->rng) % (next(&f->rng) % 2 ? 16 : 70000);
		int rc;

		if (len > n - off)
			len = n - off;
		rc = crid_layer_stream_feed(s, p + off, len, &used, &err);
		if (rc < 0)
			return -1;
		if (used > len)
			abort();
		off += used;
		while (rc == 1) {
			f->paused = 0;
			rc = crid_layer_stream_resume(s, &err);
			if (rc < 0)
				return -1;
		}
	}
	return 0;
}

static void check_result(struct fuzz_sink *f, const struct crid_layer_digests *d)
{
	uint8_t raw[EVP_MAX_MD_SIZE];
	unsigned int n = 0;
	char diff[CRID_DIGEST_LEN + 1];

	EVP_DigestFinal_ex(f->md, raw, &n);
	crid_digest_format(raw, diff);
	if (strcmp(diff, d->diff_id) != 0 || f->total != d->uncompressed_size)
		abort();
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	static const struct crid_layer_limits limits = { 4 << 20, 22 };
	size_t base = crid_mem_used();
	struct fuzz_sink f = { 0 };
	struct crid_layer_digests d;
	char digest[CRID_DIGEST_LEN + 1];
	struct crid_layer_stream *s;
	struct crid_err err;

	if (size < 3)
		return 0;
	crid_digest_sha256(data + 3, size - 3, digest, NULL);
	if (data[0] & 4)
		digest[7] = digest[7] == '0' ? '1' : '0';
	f.rng = (uint32_t)data[1] << 8 | data[2];
	f.md = EVP_MD_CTX_new();
	EVP_DigestInit_ex(f.md, EVP_sha256(), NULL);
	s = crid_layer_stream_new((enum crid_compression)((data[0] & 3) % 3), digest,
				  (int64_t)(size - 3), NULL, &limits, sink, &f, &err);
	if (!s)
		abort();
	if (drive(s, &f, data + 3, size - 3) == 0 && crid_layer_stream_finish(s, &d, &err) == 0)
		check_result(&f, &d);
	crid_layer_stream_free(s);
	EVP_MD_CTX_free(f.md);
	if (crid_mem_used() != base)
		abort();
	return 0;
}
