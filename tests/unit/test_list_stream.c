/*
 * The streamed lists' chunker (handlers/list_stream.c): entries packed whole
 * into messages of at most the bound, at least one per message (a larger
 * entry alone), every entry once and in order, a failing source reported.
 */
#include <stdlib.h>
#include <string.h>

#include "handlers/list_stream.h"
#include "tap.h"

/* Entries of the given body sizes, as field 1 (tag, one- or two-byte varint length, body). */
struct fake {
	const size_t *sizes;
	size_t n, next;
	size_t fail_at; /* peek() fails on this entry; n+1 = never */
	uint8_t buf[1 << 17];
	size_t peeks;
};

static size_t encode(uint8_t *out, size_t i, size_t body)
{
	size_t h = 0;

	out[h++] = 0x0a;
	for (size_t v = body;; v >>= 7) {
		out[h++] = (uint8_t)(v > 0x7f ? (v & 0x7f) | 0x80 : v);
		if (v <= 0x7f)
			break;
	}
	memset(out + h, (int)(i & 0xff), body);
	return h + body;
}

static int fake_peek(void *state, struct crid_rpc *rpc, const uint8_t **p, size_t *len)
{
	struct fake *f = state;

	(void)rpc;
	f->peeks++;
	if (f->next == f->fail_at)
		return -1;
	if (f->next >= f->n)
		return 0;
	*len = encode(f->buf, f->next, f->sizes[f->next]);
	*p = f->buf;
	return 1;
}

static void fake_advance(void *state)
{
	((struct fake *)state)->next++;
}

static void fake_free(void *state)
{
	(void)state;
}

static const struct crid_list_stream_source fake_src = { fake_peek, fake_advance, fake_free };

static size_t wire_len(size_t body)
{
	uint8_t tmp[1 << 17];

	return encode(tmp, 0, body);
}

/* Checks one message holds entries first, first+1, ... whole; returns how many, -1 if not. */
static int decode(const uint8_t *m, size_t len, const size_t *sizes, size_t first)
{
	size_t at = 0, k = 0;

	while (at < len) {
		size_t body = 0, shift = 0;

		if (m[at++] != 0x0a)
			return -1;
		do {
			body |= (size_t)(m[at] & 0x7f) << shift;
			shift += 7;
		} while (m[at++] & 0x80);
		if (body != sizes[first + k] || at + body > len)
			return -1;
		for (size_t b = 0; b < body; b++)
			if (m[at + b] != ((first + k) & 0xff))
				return -1;
		k++;
		at += body;
	}
	return (int)k;
}

/*
 * Runs the chunker over |sizes| like the stream does (one message per call)
 * and checks every message; returns the number of messages, -1 on a fault.
 */
static int run(const size_t *sizes, size_t n, size_t max_msg, size_t fail_at, int *end)
{
	static struct fake f;
	size_t seen = 0;
	int msgs = 0, more;
	const uint8_t *p;
	size_t len;

	memset(&f, 0, sizeof(f));
	f.sizes = sizes, f.n = n, f.fail_at = fail_at;
	more = fake_peek(&f, NULL, &p, &len);
	while (more > 0) {
		size_t room = len > max_msg ? len : max_msg, first = f.next, used;
		uint8_t *msg = malloc(room);
		int k;

		used = crid_list_stream_pack(&fake_src, &f, NULL, max_msg, msg, p, len, &more);
		k = decode(msg, used, sizes, first);
		free(msg);
		if (k < 1 || (used > max_msg && k != 1))
			return -1;
		if (more > 0 && used + wire_len(sizes[f.next]) <= max_msg)
			return -1; /* stopped though the next entry fitted */
		seen += (size_t)k;
		msgs++;
		if (more > 0)
			more = fake_peek(&f, NULL, &p, &len); /* the next call peeks again */
	}
	*end = more;
	return seen == (more == 0 ? n : fail_at) ? msgs : -1;
}

int main(void)
{
	size_t hundred[50], mixed[] = { 10, 900, 5000, 20, 20, 999, 1, 70000, 3 };
	size_t exact[] = { 97, 97, 97, 97 }; /* 99 bytes each with tag and length */
	int end;

	for (size_t i = 0; i < 50; i++)
		hundred[i] = 97; /* 100 bytes on the wire */
	CHECK(run(hundred, 50, 1000, 51, &end) == 5 && end == 0,
	      "50 entries of 100 bytes under a 1000-byte bound: 5 full messages");
	CHECK(run(hundred, 50, 1050, 51, &end) == 5 && end == 0, "a partial entry never goes in");
	CHECK(run(hundred, 50, 100, 51, &end) == 50 && end == 0,
	      "a bound of exactly one entry: one each");
	CHECK(run(exact, 4, 198, 5, &end) == 2 && end == 0, "entries filling a message exactly");
	CHECK(run(mixed, 9, 1000, 10, &end) == 7 && end == 0,
	      "larger entries alone (5000, 70000), small ones packed around them");
	CHECK(run(mixed, 0, 1000, 10, &end) == 0 && end == 0, "an empty list sends nothing");
	CHECK(run(hundred, 50, 1000, 23, &end) == 3 && end == -1,
	      "a failing source: the messages before it, then -1");
	CHECK(run(hundred, 50, 1000, 0, &end) == 0 && end == -1, "failing on the first entry");
	printf("%d passed, %d failed\n", tap_passed, tap_failed);
	return tap_failed != 0;
}
