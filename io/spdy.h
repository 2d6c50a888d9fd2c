/*
 * SPDY/3.1 framing as Kubernetes streaming speaks it (moby/spdystream, the
 * client-go SPDY executor and port-forwarder): a pure codec, no I/O. One
 * codec per connection holds the two zlib streams SPDY/3 header blocks use
 * (one per direction, seeded with the SPDY/3 dictionary, never reset between
 * frames, every block ending in Z_SYNC_FLUSH). There is no flow control:
 * spdystream never sends WINDOW_UPDATE, so a peer waiting for one deadlocks
 * against every Go client (SETTINGS and WINDOW_UPDATE are parsed and passed
 * up, to be ignored).
 *
 * Memory, sized on purpose: the outbound deflate stream uses an 11-bit window
 * and memLevel 1 (a few KiB; the peer's inflater takes any window because the
 * dictionary is announced by FDICT); the inbound inflate stream needs the
 * peer's 32 KiB window and is made at the first header block, and may be
 * dropped once no more header blocks matter (crid_spdy_codec_drop_inflate).
 * All integers on the wire are big-endian.
 */
#ifndef CRID_SPDY_H
#define CRID_SPDY_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <sys/types.h>

#include "reactor/err.h"

#define CRID_SPDY_VERSION 3
#define CRID_SPDY_MAX_CONTROL (64u << 10) /* a larger control frame is a protocol error */
#define CRID_SPDY_MAX_HEADERS 32	  /* pairs in one header block; more is a protocol error */
#define CRID_SPDY_MAX_DATA ((1u << 24) - 1)

enum crid_spdy_type {
	CRID_SPDY_DATA = 0, /* not a control type: a data frame */
	CRID_SPDY_SYN_STREAM = 1,
	CRID_SPDY_SYN_REPLY = 2,
	CRID_SPDY_RST_STREAM = 3,
	CRID_SPDY_SETTINGS = 4,
	CRID_SPDY_PING = 6,
	CRID_SPDY_GOAWAY = 7,
	CRID_SPDY_HEADERS = 8,
	CRID_SPDY_WINDOW_UPDATE = 9,
};

#define CRID_SPDY_FLAG_FIN 0x01
#define CRID_SPDY_FLAG_UNIDIRECTIONAL 0x02

enum crid_spdy_rst_status {
	CRID_SPDY_PROTOCOL_ERROR = 1,
	CRID_SPDY_INVALID_STREAM = 2,
	CRID_SPDY_REFUSED_STREAM = 3,
	CRID_SPDY_UNSUPPORTED_VERSION = 4,
	CRID_SPDY_CANCEL = 5,
	CRID_SPDY_INTERNAL_ERROR = 6,
	CRID_SPDY_FLOW_CONTROL_ERROR = 7,
	CRID_SPDY_STREAM_IN_USE = 8,
	CRID_SPDY_STREAM_ALREADY_CLOSED = 9,
	CRID_SPDY_FRAME_TOO_LARGE = 11,
};

enum crid_spdy_goaway_status {
	CRID_SPDY_GOAWAY_OK = 0,
	CRID_SPDY_GOAWAY_PROTOCOL_ERROR = 1,
	CRID_SPDY_GOAWAY_INTERNAL_ERROR = 2,
};

/*
 * A name/value pair of a header block; values with several parts keep their
 * NUL separators. Parsed pairs are also NUL-terminated (name[name_len] == 0).
 */
struct crid_spdy_header {
	const char *name, *value;
	size_t name_len, value_len;
};

/* One parsed frame; every pointer is valid only during the callback. */
struct crid_spdy_frame {
	uint16_t type; /* enum crid_spdy_type; unknown control types are passed up too */
	uint8_t flags;
	uint32_t stream_id; /* DATA, SYN_STREAM, SYN_REPLY, RST_STREAM, HEADERS, WINDOW_UPDATE */
	/*
	 * SYN_STREAM: the associated stream id; RST_STREAM and GOAWAY: the
	 * status; PING: the id; WINDOW_UPDATE: the delta.
	 */
	uint32_t value;
	uint32_t last_good; /* GOAWAY */
	/*
	 * DATA: this piece of the payload; FIN in |flags| only on the last piece.
	 * SETTINGS and unknown control types: the raw payload (SETTINGS: |value|
	 * is the number of entries).
	 */
	const uint8_t *data;
	size_t len;
	bool last_piece;
	/* SYN_STREAM, SYN_REPLY, HEADERS: the decompressed block (names lower-case on the wire). */
	const struct crid_spdy_header *headers;
	size_t n_headers;
};

struct crid_spdy_codec;

/* A codec for either end of a connection. NULL with |err| when out of memory. */
struct crid_spdy_codec *crid_spdy_codec_new(struct crid_err *err);
void crid_spdy_codec_free(struct crid_spdy_codec *c);

/*
 * Frees the inbound inflate stream: later header blocks are skipped (their
 * frames are passed up with no headers). For a connection that needs no more
 * headers from its peer (an exec session whose streams are all there).
 */
void crid_spdy_codec_drop_inflate(struct crid_spdy_codec *c);

/* Nonzero stops the parse at this frame (or data piece), which counts as consumed. */
typedef int (*crid_spdy_frame_fn)(void *user, const struct crid_spdy_frame *f);

/*
 * Parses the frames in |buf|, which continues what earlier calls were given.
 * DATA payloads are passed up as they arrive, in pieces, never buffered;
 * a control frame is kept until it is whole (at most CRID_SPDY_MAX_CONTROL).
 * Returns the bytes consumed (|len| unless |fn| stopped), or -1 with |err|
 * on a protocol error (bad version, oversized or short control frame, a
 * header block that does not inflate or parse, an upper-case header name as
 * spdystream's reader refuses): the connection is unusable.
 */
ssize_t crid_spdy_feed(struct crid_spdy_codec *c, const uint8_t *buf, size_t len,
		       crid_spdy_frame_fn fn, void *user, struct crid_err *err);

/* The header named |name| (case-insensitive) of a frame, NULL when absent. */
const struct crid_spdy_header *crid_spdy_header_find(const struct crid_spdy_frame *f,
						     const char *name);

/* Fixed-size frames: each writes its frame to |out| and returns the length. */
size_t crid_spdy_data_head(uint8_t out[8], uint32_t stream_id, uint8_t flags, uint32_t len);
size_t crid_spdy_rst_stream(uint8_t out[16], uint32_t stream_id, uint32_t status);
size_t crid_spdy_ping(uint8_t out[12], uint32_t id);
size_t crid_spdy_goaway(uint8_t out[16], uint32_t last_good, uint32_t status);

/*
 * SYN_REPLY (server) and SYN_STREAM (client) with |headers| (names must be
 * lower-case) compressed on the codec's outbound stream. Returns the frame's
 * length, or -1 with |err| when it does not fit |size| (the outbound stream
 * is then out of step with the peer: the connection is unusable).
 */
ssize_t crid_spdy_syn_reply(struct crid_spdy_codec *c, uint8_t *out, size_t size,
			    uint32_t stream_id, uint8_t flags,
			    const struct crid_spdy_header *headers, size_t n, struct crid_err *err);
ssize_t crid_spdy_syn_stream(struct crid_spdy_codec *c, uint8_t *out, size_t size,
			     uint32_t stream_id, uint8_t flags,
			     const struct crid_spdy_header *headers, size_t n,
			     struct crid_err *err);

#endif
