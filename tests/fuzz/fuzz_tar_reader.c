/*
 * libFuzzer target for the push tar reader: any bytes, fed in slices whose
 * sizes come from the input itself, must give events or an error, never a
 * crash or a leak, and the events must keep the reader's promises (paths
 * non-empty and shorter than PATH_MAX, data only for regular files and
 * exactly |size| bytes of it, one entry_end per entry). Callbacks also ask,
 * at random, to stop early (crid_tar_reader_yield, as the layer unpacker does
 * when its budget runs out): the rest of the slice is fed again and the
 * events must be the same. No filesystem writes.
 */
#include <limits.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "reactor/mem.h"
#include "runtime/image/tar_reader.h"

static volatile unsigned char sink;

struct state {
	int in_entry;
	uint64_t want, got, entries;
	struct crid_tar_reader *r;
	uint32_t rng;
};

/* One in four callbacks asks the reader to return early. */
static void maybe_yield(struct state *s)
{
	s->rng = s->rng * 1103515245u + 12345u;
	if (((s->rng >> 16) & 3) == 0)
		crid_tar_reader_yield(s->r);
}

static int on_entry(void *user, const struct crid_tar_entry *e, struct crid_err *err)
{
	struct state *s = user;

	(void)err;
	if (s->in_entry || e->index != s->entries++ || !e->path[0] || strlen(e->path) >= PATH_MAX ||
	    strlen(e->linkpath) >= PATH_MAX || e->mode > 07777 || e->mtime_nsec >= 1000000000u ||
	    (e->type != CRID_TAR_REG && e->size))
		abort();
	for (size_t i = 0; i < e->nxattrs; i++)
		if (!e->xattrs[i].name[0] ||
		    e->xattrs[i].value_len > CRID_TAR_DEFAULT_MAX_XATTR_VALUE)
			abort();
	s->in_entry = 1;
	s->want = e->size;
	s->got = 0;
	maybe_yield(s);
	return 0;
}

static int on_data(void *user, const void *buf, size_t len, struct crid_err *err)
{
	struct state *s = user;
	(void)err;
	if (!s->in_entry || !len)
		abort();
	sink ^= ((const unsigned char *)buf)[len - 1]; /* the bytes must be readable */
	s->got += len;
	if (s->got > s->want)
		abort();
	maybe_yield(s);
	return 0;
}

static int on_end(void *user, struct crid_err *err)
{
	struct state *s = user;

	(void)err;
	if (!s->in_entry || s->got != s->want)
		abort();
	s->in_entry = 0;
	maybe_yield(s);
	return 0;
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	static const struct crid_tar_callbacks cb = { on_entry, on_data, on_end };
	size_t base = crid_mem_used(), off = 1;
	struct state s = { 0 };
	struct crid_err err;
	struct crid_tar_reader *r;
	uint32_t rng;
	int rc = 0;

	if (size < 1)
		return 0;
	rng = data[0] * 2654435761u + 1;
	r = crid_tar_reader_new(&cb, &s, NULL, &err);
	if (!r)
		abort();
	s.r = r;
	s.rng = rng;
	while (off < size && rc == 0) {
		size_t n;

		/* Slice sizes from 1 byte to a few blocks, reproducible from the input. */
		rng = rng * 1103515245u + 12345u;
		n = 1 + (rng >> 16) % ((rng & 1) ? 7 : 1600);
		if (n > size - off)
			n = size - off;
		if (rng & 2) {
			rc = crid_tar_reader_feed(r, data + off, n, &err);
		} else {
			size_t used = 0;

			rc = crid_tar_reader_feed_some(r, data + off, n, &used, &err);
			/* 1: stopped with bytes left; 0: took them all */
			if ((rc == 1 && used >= n) || (rc == 0 && used != n))
				abort();
			if (rc == 1) {
				n = used;
				rc = 0;
			}
		}
		off += n;
	}
	if (rc == 0)
		rc = crid_tar_reader_finish(r, &err);
	if (rc < 0 && strncmp(err.msg, "tar: ", 5) != 0)
		abort();
	if (rc == 0 && s.in_entry)
		abort();
	if (crid_tar_reader_entries(r) != s.entries)
		abort();
	crid_tar_reader_free(r);
	if (crid_mem_used() != base)
		abort();
	return 0;
}
