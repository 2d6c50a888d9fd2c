/*
 * A minimal tar writer shared by the tests of the tar reader and of the
 * layer unpacker: ustar headers, pax records, GNU long names.
 */
#ifndef CRID_TEST_TAR_WRITER_H
#define CRID_TEST_TAR_WRITER_H

#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "reactor/mem.h"

struct tw {
	unsigned char *buf;
	size_t len, cap;
};

static void tw_bytes(struct tw *w, const void *p, size_t n)
{
	if (w->len + n > w->cap) {
		w->cap = (w->len + n) * 2;
		w->buf = realloc(w->buf, w->cap);
		if (!w->buf)
			abort();
	}
	memcpy(w->buf + w->len, p, n);
	w->len += n;
}

static void tw_pad(struct tw *w)
{
	static const unsigned char zero[512];

	tw_bytes(w, zero, (512 - w->len % 512) % 512);
}

static void octal(unsigned char *f, size_t width, unsigned long long v)
{
	char tmp[32];

	snprintf(tmp, sizeof(tmp), "%0*llo", (int)width - 1, v);
	memcpy(f, tmp, width - 1);
	f[width - 1] = '\0';
}

/* GNU base-256: 0x80 marker then big-endian bytes. */
static void base256(unsigned char *f, size_t width, unsigned long long v)
{
	memset(f, 0, width);
	f[0] = 0x80;
	for (size_t i = width - 1; i > 0 && v; i--, v >>= 8)
		f[i] = v & 0xff;
}

struct hdr {
	char type;
	const char *name, *link;
	unsigned mode;
	unsigned long long uid, gid, mtime, size;
	unsigned maj, min;
	int b256_uid;	 /* write uid in base-256 */
	int signed_csum; /* historic signed checksum */
	int corrupt;	 /* bad checksum */
};

static void tw_header(struct tw *w, const struct hdr *h)
{
	unsigned char b[512] = { 0 };
	size_t nl = strlen(h->name);
	long long sum = 0;

	if (nl > 100) { /* ustar prefix split at a slash */
		const char *s = h->name + nl - 101;

		s = strchr(s, '/');
		memcpy(b + 345, h->name, (size_t)(s - h->name));
		memcpy(b, s + 1, strlen(s + 1));
	} else {
		memcpy(b, h->name, nl);
	}
	octal(b + 100, 8, h->mode);
	if (h->b256_uid)
		base256(b + 108, 8, h->uid);
	else
		octal(b + 108, 8, h->uid);
	octal(b + 116, 8, h->gid);
	octal(b + 124, 12, h->size);
	octal(b + 136, 12, h->mtime);
	b[156] = (unsigned char)h->type;
	if (h->link)
		memcpy(b + 157, h->link, strlen(h->link));
	memcpy(b + 257,
	       "ustar\0"
	       "00",
	       8);
	octal(b + 329, 8, h->maj);
	octal(b + 337, 8, h->min);
	memset(b + 148, ' ', 8);
	for (int i = 0; i < 512; i++)
		sum += h->signed_csum ? (signed char)b[i] : b[i];
	snprintf((char *)b + 148, 8, "%06llo", (unsigned long long)sum + (h->corrupt ? 1 : 0));
	b[155] = ' ';
	tw_bytes(w, b, 512);
}

static void tw_entry(struct tw *w, const struct hdr *h, const void *data)
{
	tw_header(w, h);
	if (data) {
		tw_bytes(w, data, h->size);
		tw_pad(w);
	}
}

/* Appends "LEN key=value\n" where LEN counts the whole record. */
static void pax_rec(struct tw *rec, const char *key, const void *val, size_t vlen)
{
	size_t body = strlen(key) + vlen + 3, n = body + 1;
	char num[24];

	while ((size_t)snprintf(num, sizeof(num), "%zu", n) + body != n)
		n = (size_t)snprintf(num, sizeof(num), "%zu", n) + body;
	tw_bytes(rec, num, strlen(num));
	tw_bytes(rec, " ", 1);
	tw_bytes(rec, key, strlen(key));
	tw_bytes(rec, "=", 1);
	tw_bytes(rec, val, vlen);
	tw_bytes(rec, "\n", 1);
}

static void tw_ext(struct tw *w, char type, const struct tw *body)
{
	struct hdr h = { .type = type, .name = "././@Ext", .mode = 0644, .size = body->len };

	tw_entry(w, &h, body->buf);
}

static void tw_end(struct tw *w)
{
	static const unsigned char zero[1024];

	tw_bytes(w, zero, sizeof(zero));
}

#endif
