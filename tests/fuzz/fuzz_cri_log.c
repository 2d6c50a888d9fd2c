/*
 * libFuzzer target for the CRI log writer's line splitter and formatter. The
 * input is a program: each control byte picks a stream and either copies the
 * next bytes or repeats one byte up to 32 KiB (so lines over 16 KiB get cut);
 * the slices go through crid_cri_log_feed_for_tests into a real file, which
 * must parse back: every record well formed with a valid-looking UTC time,
 * no content over 16 KiB, no empty P piece, and per stream the joined pieces
 * (F adds the newline) are exactly the bytes fed.
 */
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "io/cri_log.h"
#include "io/cri_log_testing.h"

static struct crid_loop loop;
static char path[64];

struct text {
	char *p;
	size_t len, cap;
};

static void text_add(struct text *t, const void *p, size_t n)
{
	if (t->len + n > t->cap) {
		t->cap = (t->len + n) * 2;
		t->p = realloc(t->p, t->cap);
		if (!t->p)
			abort();
	}
	memcpy(t->p + t->len, p, n);
	t->len += n;
}

static int setup(void)
{
	struct crid_err err;
	const char *base = access("/dev/shm", W_OK) == 0 ? "/dev/shm" : "/tmp";

	if (crid_loop_init(&loop, NULL, NULL, &err) < 0)
		abort();
	snprintf(path, sizeof(path), "%s/fuzz-cri-log-%d.log", base, (int)getpid());
	return 1;
}

static int is_digits(const char *p, size_t n)
{
	for (size_t i = 0; i < n; i++)
		if (p[i] < '0' || p[i] > '9')
			return 0;
	return 1;
}

static void check_prefix(const char *r)
{
	if (!is_digits(r, 4) || r[4] != '-' || !is_digits(r + 5, 2) || r[7] != '-' ||
	    !is_digits(r + 8, 2) || r[10] != 'T' || !is_digits(r + 11, 2) || r[13] != ':' ||
	    !is_digits(r + 14, 2) || r[16] != ':' || !is_digits(r + 17, 2) || r[19] != '.' ||
	    !is_digits(r + 20, 9) || r[29] != 'Z')
		abort();
	if (memcmp(r + 30, " stdout ", 8) != 0 && memcmp(r + 30, " stderr ", 8) != 0)
		abort();
	if ((r[38] != 'F' && r[38] != 'P') || r[39] != ' ')
		abort();
}

/* Parses the file back and compares it with what was fed. */
static void verify(const struct text *want_out, const struct text *want_err)
{
	struct text got[2] = { { 0 }, { 0 } };
	FILE *f = fopen(path, "r");
	char *line = NULL;
	size_t cap = 0;
	ssize_t n;

	if (!f)
		abort();
	while ((n = getline(&line, &cap, f)) > 0) {
		struct text *t = &got[line[34] == 'e'];
		size_t len;

		if (n < 41 || line[n - 1] != '\n')
			abort();
		check_prefix(line);
		len = (size_t)n - 41;
		if (len > 16384 || (line[38] == 'P' && len == 0))
			abort();
		text_add(t, line + 40, len);
		if (line[38] == 'F')
			text_add(t, "\n", 1);
	}
	fclose(f);
	free(line);
	if (got[0].len != want_out->len || got[1].len != want_err->len ||
	    (got[0].len && memcmp(got[0].p, want_out->p, got[0].len)) ||
	    (got[1].len && memcmp(got[1].p, want_err->p, got[1].len)))
		abort();
	free(got[0].p);
	free(got[1].p);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	static int ready;
	static char run[32 * 1024];
	struct text want[2] = { { 0 }, { 0 } };
	struct crid_cri_log *log;
	struct crid_err err;
	long long ns = 0;
	size_t i = 0;

	if (!ready)
		ready = setup();
	if (size >= 8) {
		memcpy(&ns, data, 8);
		i = 8;
	}
	unlink(path);
	log = crid_cri_log_open(&loop, path, -1, -1, -1, &err);
	if (!log)
		abort();
	/* At most 64 KiB per input: long runs are for 16 KiB cuts, not for throughput. */
	while (i < size && want[0].len + want[1].len < 64 * 1024) {
		uint8_t ctl = data[i++];
		int stream = (ctl & 1) + 1;
		size_t n = (size_t)((ctl >> 2) & 0x3f) + 1;

		if (ctl & 2) { /* a run of one byte, n x 512 */
			if (i >= size)
				break;
			n *= 512;
			memset(run, data[i++], n);
			crid_cri_log_feed_for_tests(log, stream, run, n, ns);
			text_add(&want[stream - 1], run, n);
		} else {
			if (n > size - i)
				n = size - i;
			crid_cri_log_feed_for_tests(log, stream, data + i, n, ns);
			text_add(&want[stream - 1], data + i, n);
			i += n;
		}
	}
	crid_cri_log_close(log);
	/* A piece without newline is a P record: the joined text is what was fed. */
	verify(&want[0], &want[1]);
	free(want[0].p);
	free(want[1].p);
	return 0;
}
