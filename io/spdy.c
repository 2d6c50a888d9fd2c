/*
 * The SPDY/3.1 codec of io/spdy.h: an incremental frame parser (a control
 * frame is kept until whole, a DATA payload goes up in the pieces it arrives
 * in), the header-block compression both ways, and the frame builders.
 *
 * Layouts follow the SPDY/3 draft and what moby/spdystream's spdy/read.go and
 * spdy/write.go read and write: an 8-byte head (control: 0x8000|version,
 * type; data: stream id) then flags and a 24-bit length. Fixed-size control
 * frames must have exactly their size (spdystream's reader rejects others).
 */
#include <errno.h>
#include <string.h>
#include <strings.h>
#include <zlib.h>

#include "io/spdy.h"
#include "io/spdy_dict.h"
#include "reactor/mem.h"

/* A decompressed header block larger than this is refused (a zlib bomb). */
#define BLOCK_MAX (256u << 10)
/* The control-frame buffer is freed after a frame larger than this. */
#define CTL_KEEP 4096u

enum parse_state {
	HEAD,	 /* reading the 8-byte frame head */
	CONTROL, /* reading a control frame's payload */
	DATA,	 /* passing a DATA payload up */
	BROKEN,	 /* a protocol error was seen */
};

struct crid_spdy_codec {
	z_stream out, in;
	bool in_ready, in_dropped;

	enum parse_state state;
	uint8_t head[8];
	size_t head_len;

	/* the current control frame (CONTROL) */
	uint16_t ctl_type;
	uint8_t ctl_flags;
	uint8_t *ctl;
	size_t ctl_len, ctl_need, ctl_cap;

	/* the current DATA frame (DATA) */
	uint32_t data_stream;
	uint8_t data_flags;
	size_t data_left;

	/* the decompressed header block, then its names and values NUL-terminated */
	uint8_t *block;
	size_t block_cap;
	uint8_t *strings;
	size_t strings_cap;
	struct crid_spdy_header headers[CRID_SPDY_MAX_HEADERS];
};

static uint32_t get32(const uint8_t *p)
{
	return (uint32_t)p[0] << 24 | (uint32_t)p[1] << 16 | (uint32_t)p[2] << 8 | p[3];
}

static uint32_t get24(const uint8_t *p)
{
	return (uint32_t)p[0] << 16 | (uint32_t)p[1] << 8 | p[2];
}

static void put32(uint8_t *p, uint32_t v)
{
	p[0] = (uint8_t)(v >> 24);
	p[1] = (uint8_t)(v >> 16);
	p[2] = (uint8_t)(v >> 8);
	p[3] = (uint8_t)v;
}

/* A control frame's 8-byte head. */
static void put_control_head(uint8_t *p, uint16_t type, uint8_t flags, uint32_t len)
{
	p[0] = 0x80;
	p[1] = CRID_SPDY_VERSION;
	p[2] = (uint8_t)(type >> 8);
	p[3] = (uint8_t)type;
	put32(p + 4, len & 0xffffff);
	p[4] = flags;
}

/* zlib's allocations go through the counting choke point too. */
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

struct crid_spdy_codec *crid_spdy_codec_new(struct crid_err *err)
{
	struct crid_spdy_codec *c = crid_calloc(1, sizeof(*c));

	if (!c) {
		crid_err_set(err, ENOMEM, "spdy codec");
		return NULL;
	}
	c->out.zalloc = z_alloc;
	c->out.zfree = z_free;
	/* An 11-bit window (2 KiB, over the 1423-byte dictionary) and memLevel 1: a few KiB. */
	if (deflateInit2(&c->out, Z_DEFAULT_COMPRESSION, Z_DEFLATED, 11, 1, Z_DEFAULT_STRATEGY) !=
	    Z_OK) {
		crid_free(c);
		crid_err_set(err, ENOMEM, "spdy codec: deflate stream");
		return NULL;
	}
	if (deflateSetDictionary(&c->out, crid_spdy_dict, CRID_SPDY_DICT_LEN) != Z_OK) {
		deflateEnd(&c->out);
		crid_free(c);
		crid_err_set(err, ENOMEM, "spdy codec: deflate dictionary");
		return NULL;
	}
	return c;
}

void crid_spdy_codec_drop_inflate(struct crid_spdy_codec *c)
{
	if (c->in_ready)
		inflateEnd(&c->in);
	c->in_ready = false;
	c->in_dropped = true;
	crid_free(c->block);
	c->block = NULL;
	c->block_cap = 0;
	crid_free(c->strings);
	c->strings = NULL;
	c->strings_cap = 0;
}

void crid_spdy_codec_free(struct crid_spdy_codec *c)
{
	if (!c)
		return;
	deflateEnd(&c->out);
	crid_spdy_codec_drop_inflate(c);
	crid_free(c->ctl);
	crid_free(c);
}

static int grow(uint8_t **buf, size_t *cap, size_t need)
{
	size_t n = *cap ? *cap : 1024;
	uint8_t *p;

	while (n < need)
		n *= 2;
	p = crid_realloc(*buf, n);
	if (!p)
		return -1;
	*buf = p;
	*cap = n;
	return 0;
}

/*
 * Inflates one compressed block on the inbound stream into c->block; the
 * stream is made at the first block (32 KiB window: Go writes with 15 bits)
 * and gets the dictionary when zlib asks for it (the block's FDICT).
 */
static ssize_t inflate_block(struct crid_spdy_codec *c, const uint8_t *p, size_t n,
			     struct crid_err *err)
{
	size_t have = 0;

	if (!c->in_ready) {
		memset(&c->in, 0, sizeof(c->in));
		c->in.zalloc = z_alloc;
		c->in.zfree = z_free;
		if (inflateInit(&c->in) != Z_OK)
			return crid_err_set(err, ENOMEM, "spdy header block: inflate stream");
		c->in_ready = true;
	}
	c->in.next_in = (Bytef *)p;
	c->in.avail_in = (uInt)n;
	for (;;) {
		int r;

		if (have == c->block_cap) {
			if (c->block_cap >= BLOCK_MAX)
				return crid_err_invalid(
				    err, "spdy header block inflates to more than %u bytes",
				    BLOCK_MAX);
			if (grow(&c->block, &c->block_cap, have + 1) < 0)
				return crid_err_set(err, ENOMEM, "spdy header block");
		}
		c->in.next_out = c->block + have;
		c->in.avail_out = (uInt)(c->block_cap - have);
		r = inflate(&c->in, Z_SYNC_FLUSH);
		if (r == Z_NEED_DICT) {
			r = inflateSetDictionary(&c->in, crid_spdy_dict, CRID_SPDY_DICT_LEN);
			if (r != Z_OK)
				return crid_err_invalid(
				    err,
				    "spdy header block: not compressed with the spdy/3 dictionary");
			continue;
		}
		have = c->block_cap - c->in.avail_out;
		if (r == Z_STREAM_END)
			return crid_err_invalid(err, "spdy header block ends the zlib stream");
		if (r != Z_OK && r != Z_BUF_ERROR)
			return crid_err_invalid(err, "spdy header block does not inflate: %s",
						c->in.msg ? c->in.msg : "zlib error");
		if (c->in.avail_out > 0 && c->in.avail_in == 0)
			break; /* all input used and all output flushed */
		if (c->in.avail_out > 0 && r == Z_BUF_ERROR)
			return crid_err_invalid(err, "spdy header block does not inflate");
	}
	return (ssize_t)have;
}

/*
 * Splits a decompressed block (u32 pairs, then u32-prefixed names and values)
 * into c->headers, copying each name and value NUL-terminated into c->strings.
 */
static int parse_block(struct crid_spdy_codec *c, size_t len, size_t *n_out, struct crid_err *err)
{
	const uint8_t *p = c->block, *end = c->block + len;
	uint8_t *s;
	uint32_t n;

	if (len < 4)
		return crid_err_invalid(err, "spdy header block of %zu bytes is too short", len);
	n = get32(p);
	p += 4;
	if (n > CRID_SPDY_MAX_HEADERS)
		return crid_err_invalid(err, "spdy header block has %u pairs, more than %d", n,
					CRID_SPDY_MAX_HEADERS);
	/* names and values plus a NUL each never exceed the block's length */
	if (c->strings_cap < len + 2 * (size_t)n &&
	    grow(&c->strings, &c->strings_cap, len + 2 * (size_t)n) < 0)
		return crid_err_set(err, ENOMEM, "spdy header block");
	s = c->strings;
	for (uint32_t i = 0; i < n; i++) {
		struct crid_spdy_header *h = &c->headers[i];

		for (int part = 0; part < 2; part++) {
			uint32_t l;

			if (end - p < 4)
				return crid_err_invalid(
				    err, "spdy header block is truncated in pair %u", i);
			l = get32(p);
			p += 4;
			if ((size_t)(end - p) < l)
				return crid_err_invalid(
				    err, "spdy header block is truncated in pair %u", i);
			if (part == 0 && l == 0)
				return crid_err_invalid(
				    err, "spdy header block: pair %u has an empty name", i);
			for (uint32_t k = 0; part == 0 && k < l; k++)
				if (p[k] >= 'A' && p[k] <= 'Z')
					return crid_err_invalid(
					    err, "spdy header name `%.*s` is not lower-case",
					    (int)l, (const char *)p);
			memcpy(s, p, l);
			s[l] = '\0';
			if (part == 0) {
				h->name = (const char *)s;
				h->name_len = l;
			} else {
				h->value = (const char *)s;
				h->value_len = l;
			}
			s += l + 1;
			p += l;
		}
	}
	if (p != end)
		return crid_err_invalid(err, "spdy header block has %zu bytes after its %u pairs",
					(size_t)(end - p), n);
	*n_out = n;
	return 0;
}

/* Inflates and splits the header block of a frame into |f|. */
static int frame_headers(struct crid_spdy_codec *c, struct crid_spdy_frame *f, const uint8_t *p,
			 size_t n, struct crid_err *err)
{
	ssize_t len;

	if (c->in_dropped)
		return 0; /* nobody asks for headers any more */
	len = inflate_block(c, p, n, err);
	if (len < 0 || parse_block(c, (size_t)len, &f->n_headers, err) < 0)
		return -1;
	f->headers = c->headers;
	return 0;
}

static const char *type_name(uint16_t type)
{
	switch (type) {
	case CRID_SPDY_SYN_STREAM:
		return "SYN_STREAM";
	case CRID_SPDY_SYN_REPLY:
		return "SYN_REPLY";
	case CRID_SPDY_RST_STREAM:
		return "RST_STREAM";
	case CRID_SPDY_SETTINGS:
		return "SETTINGS";
	case CRID_SPDY_PING:
		return "PING";
	case CRID_SPDY_GOAWAY:
		return "GOAWAY";
	case CRID_SPDY_HEADERS:
		return "HEADERS";
	case CRID_SPDY_WINDOW_UPDATE:
		return "WINDOW_UPDATE";
	}
	return "control";
}

/* The payload size a control frame must have at least (|exact|: exactly). */
static size_t control_min(uint16_t type, bool *exact)
{
	*exact = true;
	switch (type) {
	case CRID_SPDY_RST_STREAM:
	case CRID_SPDY_GOAWAY:
	case CRID_SPDY_WINDOW_UPDATE:
		return 8;
	case CRID_SPDY_PING:
		return 4;
	}
	*exact = false;
	switch (type) {
	case CRID_SPDY_SYN_STREAM:
		return 10;
	case CRID_SPDY_SYN_REPLY:
	case CRID_SPDY_HEADERS:
	case CRID_SPDY_SETTINGS:
		return 4;
	}
	return 0;
}

/*
 * Decodes a whole control frame into |f|. SETTINGS and unknown types are
 * passed up raw (|data|, |len| = the payload; SETTINGS: |value| = entries).
 */
static int decode_control(struct crid_spdy_codec *c, struct crid_spdy_frame *f,
			  struct crid_err *err)
{
	const uint8_t *p = c->ctl;
	size_t len = c->ctl_len;

	f->type = c->ctl_type;
	f->flags = c->ctl_flags;
	switch (c->ctl_type) {
	case CRID_SPDY_SYN_STREAM:
		f->stream_id = get32(p) & 0x7fffffff;
		f->value = get32(p + 4) & 0x7fffffff;
		return frame_headers(c, f, p + 10, len - 10, err);
	case CRID_SPDY_SYN_REPLY:
	case CRID_SPDY_HEADERS:
		f->stream_id = get32(p) & 0x7fffffff;
		return frame_headers(c, f, p + 4, len - 4, err);
	case CRID_SPDY_RST_STREAM:
		f->stream_id = get32(p) & 0x7fffffff;
		f->value = get32(p + 4);
		return 0;
	case CRID_SPDY_PING:
		f->value = get32(p);
		return 0;
	case CRID_SPDY_GOAWAY:
		f->last_good = get32(p) & 0x7fffffff;
		f->value = get32(p + 4);
		return 0;
	case CRID_SPDY_WINDOW_UPDATE:
		f->stream_id = get32(p) & 0x7fffffff;
		f->value = get32(p + 4) & 0x7fffffff;
		return 0;
	case CRID_SPDY_SETTINGS:
		f->value = get32(p);
		if ((size_t)f->value > (len - 4) / 8 || 4 + (size_t)f->value * 8 != len)
			return crid_err_invalid(err, "spdy SETTINGS of %zu bytes has %u entries",
						len, f->value);
		break;
	}
	f->data = p;
	f->len = len;
	return 0;
}

/* A whole 8-byte head was read: checks it and sets up the frame's payload. */
static int start_frame(struct crid_spdy_codec *c, struct crid_err *err)
{
	const uint8_t *h = c->head;
	size_t len = get24(h + 5), min;
	bool exact;

	c->head_len = 0;
	if (!(h[0] & 0x80)) {
		c->data_stream = get32(h) & 0x7fffffff;
		c->data_flags = h[4];
		c->data_left = len;
		c->state = DATA;
		return 0;
	}
	if (((get32(h) >> 16) & 0x7fff) != CRID_SPDY_VERSION)
		return crid_err_invalid(err, "spdy frame of version %u, want %d",
					(get32(h) >> 16) & 0x7fff, CRID_SPDY_VERSION);
	c->ctl_type = (uint16_t)(h[2] << 8 | h[3]);
	c->ctl_flags = h[4];
	if (c->ctl_type == CRID_SPDY_DATA) /* would read as a DATA frame above */
		return crid_err_invalid(err, "spdy control frame of type 0");
	if (len > CRID_SPDY_MAX_CONTROL)
		return crid_err_invalid(err, "spdy %s frame of %zu bytes, more than %u",
					type_name(c->ctl_type), len, CRID_SPDY_MAX_CONTROL);
	min = control_min(c->ctl_type, &exact);
	if (len < min || (exact && len != min))
		return crid_err_invalid(err, "spdy %s frame of %zu bytes, want %s%zu",
					type_name(c->ctl_type), len, exact ? "" : "at least ", min);
	if (len > c->ctl_cap && grow(&c->ctl, &c->ctl_cap, len) < 0)
		return crid_err_set(err, ENOMEM, "spdy %s frame", type_name(c->ctl_type));
	c->ctl_need = len;
	c->ctl_len = 0;
	c->state = CONTROL;
	return 0;
}

/* The control frame is whole: passes it up and drops a big buffer. */
static int end_control(struct crid_spdy_codec *c, crid_spdy_frame_fn fn, void *user,
		       struct crid_err *err)
{
	struct crid_spdy_frame f = { 0 };
	int r;

	if (decode_control(c, &f, err) < 0)
		return -1;
	c->state = HEAD;
	r = fn(user, &f);
	if (c->ctl_cap > CTL_KEEP) {
		crid_free(c->ctl);
		c->ctl = NULL;
		c->ctl_cap = 0;
	}
	return r ? 1 : 0;
}

/* Passes up the part of a DATA payload that is in |buf|. */
static int data_piece(struct crid_spdy_codec *c, const uint8_t *buf, size_t n,
		      crid_spdy_frame_fn fn, void *user)
{
	struct crid_spdy_frame f = { 0 };

	c->data_left -= n;
	f.type = CRID_SPDY_DATA;
	f.stream_id = c->data_stream;
	f.last_piece = c->data_left == 0;
	f.flags = f.last_piece ? c->data_flags : c->data_flags & ~CRID_SPDY_FLAG_FIN;
	f.data = buf;
	f.len = n;
	if (f.last_piece)
		c->state = HEAD;
	return fn(user, &f) ? 1 : 0;
}

ssize_t crid_spdy_feed(struct crid_spdy_codec *c, const uint8_t *buf, size_t len,
		       crid_spdy_frame_fn fn, void *user, struct crid_err *err)
{
	size_t i = 0;
	int stop = 0;

	if (c->state == BROKEN)
		return crid_err_invalid(err, "spdy connection already failed");
	while (!stop && (i < len || (c->state == DATA && c->data_left == 0) ||
			 (c->state == CONTROL && c->ctl_len == c->ctl_need))) {
		size_t n;

		switch (c->state) {
		case HEAD:
			n = sizeof(c->head) - c->head_len;
			n = n < len - i ? n : len - i;
			memcpy(c->head + c->head_len, buf + i, n);
			c->head_len += n;
			i += n;
			if (c->head_len == sizeof(c->head) && start_frame(c, err) < 0)
				goto broken;
			break;
		case CONTROL:
			n = c->ctl_need - c->ctl_len;
			n = n < len - i ? n : len - i;
			if (n > 0) /* c->ctl is NULL while no frame had a payload */
				memcpy(c->ctl + c->ctl_len, buf + i, n);
			c->ctl_len += n;
			i += n;
			if (c->ctl_len == c->ctl_need) {
				stop = end_control(c, fn, user, err);
				if (stop < 0)
					goto broken;
			}
			break;
		case DATA:
			n = c->data_left < len - i ? c->data_left : len - i;
			/* an empty frame (or the end of one) goes up once; a piece only with bytes */
			if (n > 0 || c->data_left == 0)
				stop = data_piece(c, buf + i, n, fn, user);
			i += n;
			break;
		case BROKEN:
			goto broken;
		}
	}
	return (ssize_t)i;
broken:
	c->state = BROKEN;
	return -1;
}

const struct crid_spdy_header *crid_spdy_header_find(const struct crid_spdy_frame *f,
						     const char *name)
{
	size_t len = strlen(name);

	for (size_t i = 0; i < f->n_headers; i++)
		if (f->headers[i].name_len == len &&
		    strncasecmp(f->headers[i].name, name, len) == 0)
			return &f->headers[i];
	return NULL;
}

size_t crid_spdy_data_head(uint8_t out[8], uint32_t stream_id, uint8_t flags, uint32_t len)
{
	put32(out, stream_id & 0x7fffffff);
	put32(out + 4, len & 0xffffff);
	out[4] = flags;
	return 8;
}

size_t crid_spdy_rst_stream(uint8_t out[16], uint32_t stream_id, uint32_t status)
{
	put_control_head(out, CRID_SPDY_RST_STREAM, 0, 8);
	put32(out + 8, stream_id & 0x7fffffff);
	put32(out + 12, status);
	return 16;
}

size_t crid_spdy_ping(uint8_t out[12], uint32_t id)
{
	put_control_head(out, CRID_SPDY_PING, 0, 4);
	put32(out + 8, id);
	return 12;
}

size_t crid_spdy_goaway(uint8_t out[16], uint32_t last_good, uint32_t status)
{
	put_control_head(out, CRID_SPDY_GOAWAY, 0, 8);
	put32(out + 8, last_good & 0x7fffffff);
	put32(out + 12, status);
	return 16;
}

/* Deflates |n| bytes into the output the stream points at; false when it is full. */
static bool deflate_piece(z_stream *z, const void *p, size_t n, int flush)
{
	z->next_in = (Bytef *)p;
	z->avail_in = (uInt)n;
	if (deflate(z, flush) == Z_STREAM_ERROR)
		return false;
	return z->avail_in == 0 && z->avail_out > 0;
}

/*
 * Compresses |headers| as one block at |out| (at most |size| bytes) on the
 * outbound stream, ending in Z_SYNC_FLUSH. The names are checked before any
 * byte enters the stream, so a bad name leaves the stream in step.
 */
static ssize_t deflate_block(struct crid_spdy_codec *c, uint8_t *out, size_t size,
			     const struct crid_spdy_header *headers, size_t n, struct crid_err *err)
{
	uint8_t u32[4];
	bool ok;

	if (n > CRID_SPDY_MAX_HEADERS)
		return crid_err_invalid(err, "spdy header block of %zu pairs, more than %d", n,
					CRID_SPDY_MAX_HEADERS);
	for (size_t i = 0; i < n; i++) {
		if (headers[i].name_len == 0)
			return crid_err_invalid(err, "spdy header %zu has an empty name", i);
		for (size_t k = 0; k < headers[i].name_len; k++)
			if (headers[i].name[k] >= 'A' && headers[i].name[k] <= 'Z')
				return crid_err_invalid(err,
							"spdy header name `%.*s` is not lower-case",
							(int)headers[i].name_len, headers[i].name);
	}
	c->out.next_out = out;
	c->out.avail_out = (uInt)(size < CRID_SPDY_MAX_CONTROL ? size : CRID_SPDY_MAX_CONTROL);
	put32(u32, (uint32_t)n);
	ok = deflate_piece(&c->out, u32, 4, Z_NO_FLUSH);
	for (size_t i = 0; ok && i < n; i++) {
		put32(u32, (uint32_t)headers[i].name_len);
		ok = deflate_piece(&c->out, u32, 4, Z_NO_FLUSH) &&
		     deflate_piece(&c->out, headers[i].name, headers[i].name_len, Z_NO_FLUSH);
		put32(u32, (uint32_t)headers[i].value_len);
		ok = ok && deflate_piece(&c->out, u32, 4, Z_NO_FLUSH) &&
		     deflate_piece(&c->out, headers[i].value, headers[i].value_len, Z_NO_FLUSH);
	}
	/* with room left after the flush, zlib has nothing pending: the block is whole */
	if (!ok || !deflate_piece(&c->out, NULL, 0, Z_SYNC_FLUSH))
		return crid_err_invalid(err, "spdy header block does not fit %zu bytes", size);
	return (ssize_t)((uint8_t *)c->out.next_out - out);
}

/* A control frame with |fixed| bytes before its header block. */
static ssize_t headers_frame(struct crid_spdy_codec *c, uint8_t *out, size_t size, uint16_t type,
			     uint8_t flags, size_t fixed, const struct crid_spdy_header *headers,
			     size_t n, struct crid_err *err)
{
	ssize_t block;

	if (size < 8 + fixed)
		return crid_err_invalid(err, "spdy %s frame does not fit %zu bytes",
					type_name(type), size);
	block = deflate_block(c, out + 8 + fixed, size - 8 - fixed, headers, n, err);
	if (block < 0)
		return crid_err_wrap(err, "spdy %s", type_name(type));
	put_control_head(out, type, flags, (uint32_t)(fixed + (size_t)block));
	return 8 + (ssize_t)fixed + block;
}

ssize_t crid_spdy_syn_reply(struct crid_spdy_codec *c, uint8_t *out, size_t size,
			    uint32_t stream_id, uint8_t flags,
			    const struct crid_spdy_header *headers, size_t n, struct crid_err *err)
{
	ssize_t len = headers_frame(c, out, size, CRID_SPDY_SYN_REPLY, flags, 4, headers, n, err);

	if (len >= 0)
		put32(out + 8, stream_id & 0x7fffffff);
	return len;
}

ssize_t crid_spdy_syn_stream(struct crid_spdy_codec *c, uint8_t *out, size_t size,
			     uint32_t stream_id, uint8_t flags,
			     const struct crid_spdy_header *headers, size_t n, struct crid_err *err)
{
	ssize_t len = headers_frame(c, out, size, CRID_SPDY_SYN_STREAM, flags, 10, headers, n, err);

	if (len >= 0) {
		put32(out + 8, stream_id & 0x7fffffff);
		put32(out + 12, 0); /* no associated stream */
		out[16] = 0;	    /* priority 0 << 5 */
		out[17] = 0;	    /* slot */
	}
	return len;
}
