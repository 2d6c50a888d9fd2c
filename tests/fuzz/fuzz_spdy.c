/*
 * libFuzzer target for the SPDY/3.1 codec (io/spdy.h). The first byte seeds
 * the chunk sizes; the rest is fed to one codec whole and to another in
 * chunks of 1..64 bytes: both must see the same frames (DATA bytes joined)
 * up to the same verdict, and every header block that parsed is compressed
 * again by our deflater and must read back the same (names, values, order).
 */
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "io/spdy.h"

struct log {
	uint8_t *p;
	size_t len, cap;
	uint8_t *enc; /* the round-trip builder's buffer */
	struct crid_spdy_codec *tx, *rx;
};

static void log_add(struct log *l, const void *p, size_t n)
{
	if (l->len + n > l->cap) {
		l->cap = (l->len + n) * 2 + 64;
		l->p = realloc(l->p, l->cap);
		if (!l->p)
			abort();
	}
	if (n)
		memcpy(l->p + l->len, p, n);
	l->len += n;
}

/* The headers of |b| must equal |a|'s. */
static int same_headers(void *user, const struct crid_spdy_frame *b)
{
	const struct crid_spdy_frame *a = user;

	if (b->n_headers != a->n_headers)
		abort();
	for (size_t i = 0; i < a->n_headers; i++)
		if (a->headers[i].name_len != b->headers[i].name_len ||
		    a->headers[i].value_len != b->headers[i].value_len ||
		    memcmp(a->headers[i].name, b->headers[i].name, a->headers[i].name_len) ||
		    memcmp(a->headers[i].value, b->headers[i].value, a->headers[i].value_len))
			abort();
	return 0;
}

static void round_trip(struct log *l, const struct crid_spdy_frame *f)
{
	struct crid_err err;
	ssize_t n;

	if (!l->tx)
		return;
	n = crid_spdy_syn_reply(l->tx, l->enc, CRID_SPDY_MAX_CONTROL, f->stream_id, 0, f->headers,
				f->n_headers, &err);
	if (n < 0) { /* only a block too big for a control frame may be refused */
		crid_spdy_codec_free(l->tx);
		l->tx = NULL;
		return;
	}
	if (crid_spdy_feed(l->rx, l->enc, (size_t)n, same_headers, (void *)f, &err) != n)
		abort();
}

static int record(void *user, const struct crid_spdy_frame *f)
{
	struct log *l = user;
	uint32_t fixed[5] = { f->type, f->flags, f->stream_id, f->value, f->last_good };

	if (f->type == CRID_SPDY_DATA) {
		if ((f->flags & CRID_SPDY_FLAG_FIN) && !f->last_piece)
			abort();
		log_add(l, f->data, f->len);
		if (f->last_piece)
			log_add(l, fixed, sizeof(fixed));
		return 0;
	}
	log_add(l, fixed, sizeof(fixed));
	log_add(l, f->data, f->len);
	for (size_t i = 0; i < f->n_headers; i++) {
		log_add(l, f->headers[i].name, f->headers[i].name_len + 1);
		log_add(l, f->headers[i].value, f->headers[i].value_len + 1);
	}
	if (f->n_headers && l->enc)
		round_trip(l, f);
	return 0;
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	struct log whole = { 0 }, split = { 0 };
	struct crid_spdy_codec *a, *b;
	struct crid_err err;
	ssize_t ra, rb = 0;
	unsigned seed;

	if (size < 1)
		return 0;
	seed = data[0];
	data++;
	size--;
	a = crid_spdy_codec_new(&err);
	b = crid_spdy_codec_new(&err);
	whole.enc = malloc(CRID_SPDY_MAX_CONTROL);
	whole.tx = crid_spdy_codec_new(&err);
	whole.rx = crid_spdy_codec_new(&err);
	if (!a || !b || !whole.enc || !whole.tx || !whole.rx)
		abort();
	ra = crid_spdy_feed(a, data, size, record, &whole, &err);
	if (ra != -1 && ra != (ssize_t)size)
		abort();
	for (size_t i = 0; i < size && rb >= 0;) {
		size_t n = (seed = seed * 1103515245u + 12345u) >> 16 & 63;

		n = n + 1 < size - i ? n + 1 : size - i;
		rb = crid_spdy_feed(b, data + i, n, record, &split, &err);
		if (rb >= 0 && rb != (ssize_t)n)
			abort();
		i += n;
	}
	/* the same verdict, and the same frames up to it */
	if ((ra < 0) != (rb < 0) || whole.len != split.len ||
	    (whole.len && memcmp(whole.p, split.p, whole.len)))
		abort();
	crid_spdy_codec_free(a);
	crid_spdy_codec_free(b);
	crid_spdy_codec_free(whole.tx);
	crid_spdy_codec_free(whole.rx);
	free(whole.enc);
	free(whole.p);
	free(split.p);
	return 0;
}
