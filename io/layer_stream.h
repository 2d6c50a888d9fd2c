/*
 * A layer blob on its way from the registry to the tar reader, streamed:
 *
 *   compressed bytes -> sha256 (blob digest) -> gunzip / zstd / none
 *                    -> sha256 (diffID) -> sink (the tar reader)
 *
 * I/O-free: the caller (curl's write callback) pushes bytes in with
 * crid_layer_stream_feed(); decompressed bytes leave through the sink in
 * chunks of at most CRID_LAYER_STREAM_CHUNK bytes. Memory is bounded: one
 * output buffer plus the decompressor's state (zlib window, or a zstd window
 * capped by crid_layer_limits.zstd_window_log_max). Every allocation,
 * including zlib's and zstd's, goes through reactor/mem.h.
 *
 * Also here: sha256 digest helpers ("sha256:" + 64 lowercase hex) for whole
 * buffers, parsing and comparison.
 */
#ifndef CRID_LAYER_STREAM_H
#define CRID_LAYER_STREAM_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "reactor/err.h"

#ifndef CRID_DIGEST_LEN
#define CRID_DIGEST_LEN 71 /* "sha256:" + 64 hex */
#endif
#define CRID_SHA256_HEX_LEN 64
#define CRID_SHA256_RAW_LEN 32

/* ---- digests ---- */

/* |out| = lowercase hex sha256 of |data| (64 chars + NUL). -1 only if OpenSSL fails. */
int crid_digest_sha256_hex(const void *data, size_t len, char out[CRID_SHA256_HEX_LEN + 1],
			   struct crid_err *err);

/* |out| = "sha256:<hex>" of |data|. -1 only if OpenSSL fails. */
int crid_digest_sha256(const void *data, size_t len, char out[CRID_DIGEST_LEN + 1],
		       struct crid_err *err);

/* True when |s| (|len| bytes, no NUL needed) is exactly "sha256:" + 64 lowercase hex. */
bool crid_digest_valid(const char *s, size_t len);

/*
 * Parses |s| (|len| bytes) into the raw 32 bytes. Errors name the digest and
 * the cause: "unsupported digest algorithm `sha512`" or "invalid digest `x`".
 */
int crid_digest_parse(const char *s, size_t len, uint8_t out[CRID_SHA256_RAW_LEN],
		      struct crid_err *err);

/* |out| = "sha256:<hex>" of the raw digest |raw|. */
void crid_digest_format(const uint8_t raw[CRID_SHA256_RAW_LEN], char out[CRID_DIGEST_LEN + 1]);

/* True when both NUL-terminated strings are valid digests and equal. */
bool crid_digest_equal(const char *a, const char *b);

/* ---- the layer stream ---- */

/* The layer media type's compression (runtime/manifest.c maps media types to it). */
enum crid_compression {
	CRID_COMPRESSION_NONE = 0,
	CRID_COMPRESSION_GZIP,
	CRID_COMPRESSION_ZSTD,
};

const char *crid_compression_name(enum crid_compression c);

/* Largest chunk the sink is handed in one call. */
#define CRID_LAYER_STREAM_CHUNK (64 * 1024)

struct crid_layer_limits {
	/* Decompression bomb guard: error once the diffID stream exceeds this. 0 = the default (64 GiB). */
	uint64_t max_uncompressed;
	/* zstd frames needing a larger window are refused. 0 = the default (27, 128 MiB). */
	int zstd_window_log_max;
};

/*
 * Receives the decompressed stream, in order, |len| <= CRID_LAYER_STREAM_CHUNK.
 * The sink always consumes all |len| bytes. It returns 0 to go on, a positive
 * value to consume these bytes and ask for a pause (back-pressure: no more
 * sink calls until crid_layer_stream_resume() or the next feed), or -1 with
 * |err| set to fail the stream.
 */
typedef int (*crid_layer_sink_fn)(void *user, const uint8_t *data, size_t len,
				  struct crid_err *err);

/* What finish() verified (also filled when a check fails, for the log). */
struct crid_layer_digests {
	char blob[CRID_DIGEST_LEN + 1];	   /* sha256 of the compressed bytes */
	char diff_id[CRID_DIGEST_LEN + 1]; /* sha256 of the uncompressed bytes */
	uint64_t compressed_size;
	uint64_t uncompressed_size;
};

struct crid_layer_stream;

/*
 * Starts a stream for one blob. |expect_blob_digest| (required) and
 * |expect_size| (>= 0) come from the manifest's descriptor;
 * |expect_diff_id| from the image config's rootfs.diff_ids, or NULL to only
 * compute it. |limits| may be NULL for the defaults. The strings are copied.
 * NULL with |err| on a malformed digest, a negative size or no memory.
 */
struct crid_layer_stream *
crid_layer_stream_new(enum crid_compression c, const char *expect_blob_digest, int64_t expect_size,
		      const char *expect_diff_id, const struct crid_layer_limits *limits,
		      crid_layer_sink_fn sink, void *user, struct crid_err *err);

/*
 * Pushes |len| compressed bytes. Stores in |*consumed| how many input bytes
 * were taken (hashed and handed to the decompressor) and returns:
 *    0  all |len| bytes consumed and all output derived from them delivered;
 *    1  the sink asked to pause: |*consumed| may be < |len|, and output
 *       derived from consumed bytes may still be held (crid_layer_stream_pending);
 *   -1  error in |err| (bad compressed data, blob larger than its
 *       descriptor's size, bomb limit, sink error, no memory). The stream is
 *       then dead: every later call fails.
 * After a pause, call crid_layer_stream_resume() when the sink is ready,
 * then feed the bytes not consumed (|data| + |*consumed|) again.
 *
 * With curl: on 1, remember |*consumed| and return CURL_WRITEFUNC_PAUSE;
 * curl delivers the same bytes again after curl_easy_pause(CURLPAUSE_CONT),
 * so skip the first |*consumed| of them.
 */
int crid_layer_stream_feed(struct crid_layer_stream *s, const uint8_t *data, size_t len,
			   size_t *consumed, struct crid_err *err);

/*
 * Delivers output still held from consumed input. Returns 0 when nothing is
 * pending any more (feed may go on), 1 when the sink paused again, -1 on error.
 */
int crid_layer_stream_resume(struct crid_layer_stream *s, struct crid_err *err);

/* True when consumed input may have output the sink has not received yet. */
bool crid_layer_stream_pending(const struct crid_layer_stream *s);

/*
 * Ends the blob and checks, in this order: nothing pending (resume first),
 * size == descriptor size, blob digest, a clean end of the compressed stream
 * (a truncated gzip member or zstd frame is an error), diffID (when given).
 * Each error names the check and the expected and actual values. |out| (may
 * be NULL) is filled whenever the digests could be computed.
 */
int crid_layer_stream_finish(struct crid_layer_stream *s, struct crid_layer_digests *out,
			     struct crid_err *err);

/* Frees |s| (NULL ok), whether finished, failed or abandoned mid-stream. */
void crid_layer_stream_free(struct crid_layer_stream *s);

#endif
