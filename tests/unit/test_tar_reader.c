/* Unit tests for the push tar reader, with archives built by a tiny writer below. */
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "reactor/mem.h"
#include "runtime/image/tar_reader.h"
#include "tests/unit/tap.h"

#include "tests/unit/tar_writer.h"

/* ---- a recorder that turns callbacks into one comparable string ---- */

struct rec {
	char log[65536];
	size_t len;
	int entries, ends;
};

static void logf_(struct rec *r, const char *fmt, ...) __attribute__((format(printf, 2, 3)));
static void logf_(struct rec *r, const char *fmt, ...)
{
	va_list ap;

	va_start(ap, fmt);
	r->len += (size_t)vsnprintf(r->log + r->len, sizeof(r->log) - r->len, fmt, ap);
	va_end(ap);
	if (r->len >= sizeof(r->log))
		abort();
}

static int on_entry(void *user, const struct crid_tar_entry *e, struct crid_err *err)
{
	struct rec *r = user;

	(void)err;
	r->entries++;
	logf_(r, "[%llu t%d %s -> %s m%o u%lld g%lld t%lld.%09u s%llu d%u,%u",
	      (unsigned long long)e->index, e->type, e->path, e->linkpath, e->mode,
	      (long long)e->uid, (long long)e->gid, (long long)e->mtime_sec, e->mtime_nsec,
	      (unsigned long long)e->size, e->devmajor, e->devminor);
	for (size_t i = 0; i < e->nxattrs; i++)
		logf_(r, " x:%s=%.*s", e->xattrs[i].name, (int)e->xattrs[i].value_len,
		      (const char *)e->xattrs[i].value);
	logf_(r, "]");
	return 0;
}

static int on_data(void *user, const void *buf, size_t len, struct crid_err *err)
{
	struct rec *r = user;

	(void)err;
	logf_(r, "%.*s", (int)len, (const char *)buf);
	return 0;
}

static int on_end(void *user, struct crid_err *err)
{
	struct rec *r = user;

	(void)err;
	r->ends++;
	logf_(r, "|");
	return 0;
}

static const struct crid_tar_callbacks cbs = { on_entry, on_data, on_end };

/* Feeds |w| in slices of |step| bytes (0: all at once); returns feed+finish status. */
static int run(const struct tw *w, size_t step, struct rec *r, struct crid_err *err)
{
	struct crid_tar_reader *tr;
	int rc = 0;

	memset(r, 0, sizeof(*r));
	tr = crid_tar_reader_new(&cbs, r, NULL, err);
	if (!tr)
		return -1;
	for (size_t off = 0; off < w->len && rc == 0;) {
		size_t n = step && step < w->len - off ? step : w->len - off;

		rc = crid_tar_reader_feed(tr, w->buf + off, n, err);
		off += n;
	}
	if (rc == 0)
		rc = crid_tar_reader_finish(tr, err);
	crid_tar_reader_free(tr);
	return rc;
}

static void build_all_types(struct tw *w)
{
	struct hdr h;

	h = (struct hdr){ .type = '5', .name = "dir/", .mode = 040755, .mtime = 1000 };
	tw_entry(w, &h, NULL);
	h = (struct hdr){ .type = '0',
			  .name = "dir/file",
			  .mode = 0644,
			  .uid = 1000,
			  .gid = 1001,
			  .mtime = 1234567890,
			  .size = 11 };
	tw_entry(w, &h, "hello world");
	h = (struct hdr){ .type = '2', .name = "dir/sym", .link = "file", .mode = 0777 };
	tw_entry(w, &h, NULL);
	h = (struct hdr){ .type = '1', .name = "dir/hard", .link = "dir/file", .mode = 0644 };
	tw_entry(w, &h, NULL);
	h = (struct hdr){ .type = '3', .name = "null", .mode = 0666, .maj = 1, .min = 3 };
	tw_entry(w, &h, NULL);
	h = (struct hdr){ .type = '4', .name = "sda", .mode = 0660, .maj = 8, .min = 0 };
	tw_entry(w, &h, NULL);
	h = (struct hdr){ .type = '6', .name = "fifo", .mode = 0600 };
	tw_entry(w, &h, NULL);
	/* 600 bytes: spans two blocks, exercising padding. */
	static char big[600];
	memset(big, 'z', sizeof(big));
	h = (struct hdr){ .type = '0', .name = "big", .mode = 04755, .size = sizeof(big) };
	tw_entry(w, &h, big);
	h = (struct hdr){ .type = '0', .name = "empty", .mode = 0600 };
	tw_entry(w, &h, NULL);
	tw_end(w);
}

static void test_all_types(void)
{
	struct tw w = { 0 };
	struct rec whole, one, odd;
	struct crid_err err = { 0 };

	build_all_types(&w);
	CHECK(run(&w, 0, &whole, &err) == 0, "all types parse: %s", err.msg);
	CHECK(whole.entries == 9 && whole.ends == 9, "9 entries, 9 ends (%d, %d)", whole.entries,
	      whole.ends);
	CHECK(strstr(whole.log, "[0 t5 dir/ ->  m755 u0 g0 t1000.000000000 s0 d0,0]|") != NULL,
	      "dir entry, file type bits stripped from mode");
	CHECK(strstr(whole.log, "[1 t0 dir/file ->  m644 u1000 g1001 t1234567890.000000000 s11 "
				"d0,0]hello world|") != NULL,
	      "regular file with data");
	CHECK(strstr(whole.log, "[2 t2 dir/sym -> file ") != NULL, "symlink");
	CHECK(strstr(whole.log, "[3 t1 dir/hard -> dir/file ") != NULL, "hard link");
	CHECK(strstr(whole.log, "[4 t3 null ->  m666 u0 g0 t0.000000000 s0 d1,3]|") != NULL,
	      "char device");
	CHECK(strstr(whole.log, "[5 t4 sda ->  m660 u0 g0 t0.000000000 s0 d8,0]|") != NULL,
	      "block device");
	CHECK(strstr(whole.log, "[6 t6 fifo ") != NULL, "fifo");
	CHECK(strstr(whole.log, "[7 t0 big ->  m4755") != NULL, "setuid mode kept");
	CHECK(strstr(whole.log, "[8 t0 empty ->  m600 u0 g0 t0.000000000 s0 d0,0]|") != NULL,
	      "empty file");
	CHECK(run(&w, 1, &one, &err) == 0 && !strcmp(one.log, whole.log),
	      "1-byte feeding gives the same events");
	CHECK(run(&w, 511, &odd, &err) == 0 && !strcmp(odd.log, whole.log),
	      "511-byte feeding gives the same events");
	free(w.buf);
}

static void test_pax(void)
{
	struct tw w = { 0 }, p = { 0 };
	struct rec r, one;
	struct crid_err err = { 0 };
	char longname[400];
	struct hdr h;

	memset(longname, 'n', sizeof(longname));
	memcpy(longname, "deep/", 5);
	longname[sizeof(longname) - 1] = '\0';
	pax_rec(&p, "path", longname, strlen(longname));
	pax_rec(&p, "linkpath", "target/ü", strlen("target/ü"));
	pax_rec(&p, "uid", "4000000000", 10);
	pax_rec(&p, "gid", "77", 2);
	pax_rec(&p, "mtime", "1700000000.123456789123", 23);
	pax_rec(&p, "atime", "1.5", 3);
	pax_rec(&p, "SCHILY.xattr.user.k", "v\0w", 3);
	pax_rec(&p, "SCHILY.xattr.security.capability", "cap", 3);
	tw_ext(&w, 'x', &p);
	h = (struct hdr){ .type = '2', .name = "short", .link = "x", .mode = 0777 };
	tw_entry(&w, &h, NULL);
	/* The next entry must not inherit the pax values. */
	p.len = 0;
	pax_rec(&p, "mtime", "-1.25", 5);
	pax_rec(&p, "size", "3", 1);
	tw_ext(&w, 'x', &p);
	h = (struct hdr){ .type = '0', .name = "plain", .mode = 0644, .size = 999 };
	tw_header(&w, &h);
	tw_bytes(&w, "abc", 3);
	tw_pad(&w);
	/* Global headers are skipped. */
	p.len = 0;
	pax_rec(&p, "path", "ignored", 7);
	tw_ext(&w, 'g', &p);
	h = (struct hdr){ .type = '5', .name = "after-global/", .mode = 0755 };
	tw_entry(&w, &h, NULL);
	tw_end(&w);

	CHECK(run(&w, 0, &r, &err) == 0, "pax archive parses: %s", err.msg);
	CHECK(strstr(r.log, longname) != NULL, "pax path of %zu bytes", strlen(longname));
	CHECK(strstr(r.log, "-> target/ü ") != NULL, "pax linkpath, non-ASCII");
	CHECK(strstr(r.log, "u4000000000 g77 t1700000000.123456789 ") != NULL,
	      "pax uid/gid/mtime with a fraction truncated to ns");
	CHECK(strstr(r.log, " x:user.k=v x:security.capability=cap]") != NULL, "pax xattrs");
	CHECK(strstr(r.log, "[1 t0 plain ->  m644 u0 g0 t-2.750000000 s3 d0,0]abc|") != NULL,
	      "pax size overrides header, negative mtime, no leak from previous pax");
	CHECK(strstr(r.log, "[2 t5 after-global/ ") != NULL && !strstr(r.log, "ignored"),
	      "global header ignored");
	CHECK(run(&w, 1, &one, &err) == 0 && !strcmp(one.log, r.log), "pax 1-byte feeding");
	free(w.buf);
	free(p.buf);
}

static void test_gnu_and_ustar(void)
{
	struct tw w = { 0 }, p = { 0 };
	struct rec r;
	struct crid_err err = { 0 };
	char name[300], prefixed[200];
	struct hdr h;

	memset(name, 'g', sizeof(name));
	name[sizeof(name) - 1] = '\0';
	tw_bytes(&p, name, strlen(name) + 1);
	tw_ext(&w, 'L', &p);
	p.len = 0;
	tw_bytes(&p, "long/link/target", 17);
	tw_ext(&w, 'K', &p);
	h = (struct hdr){ .type = '2', .name = "trunc", .link = "trunc", .mode = 0777 };
	tw_entry(&w, &h, NULL);
	memset(prefixed, 'p', sizeof(prefixed));
	memcpy(prefixed + 120, "/", 1);
	prefixed[sizeof(prefixed) - 1] = '\0';
	h = (struct hdr){ .type = '0', .name = prefixed, .mode = 0644 };
	tw_entry(&w, &h, NULL);
	h = (struct hdr){ .type = '0',
			  .name = "b256",
			  .mode = 0644,
			  .uid = 3000000000ull,
			  .b256_uid = 1,
			  .signed_csum = 1 };
	tw_entry(&w, &h, NULL);
	h = (struct hdr){ .type = '0', .name = "ñàmé-ü", .mode = 0644, .signed_csum = 1 };
	tw_entry(&w, &h, NULL);
	h = (struct hdr){ .type = '\0', .name = "v7dir/", .mode = 0755 };
	tw_entry(&w, &h, NULL);
	tw_end(&w);

	CHECK(run(&w, 7, &r, &err) == 0, "gnu/ustar archive parses: %s", err.msg);
	CHECK(strstr(r.log, name) != NULL, "GNU long name of %zu bytes", strlen(name));
	CHECK(strstr(r.log, "-> long/link/target ") != NULL, "GNU long link");
	CHECK(strstr(r.log, prefixed) != NULL, "ustar prefix + name joined");
	CHECK(strstr(r.log, "b256 ->  m644 u3000000000 ") != NULL, "base-256 uid");
	CHECK(strstr(r.log, "ñàmé-ü") != NULL, "non-ASCII name with a signed checksum");
	CHECK(strstr(r.log, "t5 v7dir/") != NULL, "type NUL with a trailing slash is a dir");
	free(w.buf);
	free(p.buf);
}

static void test_octal_spaces(void)
{
	struct tw w = { 0 };
	struct rec r;
	struct crid_err err = { 0 };
	struct hdr h = { .type = '0', .name = "sp", .mode = 0644, .uid = 5 };
	unsigned char *b;
	long long sum = 0;

	tw_header(&w, &h);
	b = w.buf;
	memcpy(b + 100, "  755 \0\0", 8); /* leading spaces, trailing space and NULs */
	memcpy(b + 108, "\0\0\0\0\0005 ", 8);
	memset(b + 148, ' ', 8);
	for (int i = 0; i < 512; i++)
		sum += b[i];
	snprintf((char *)b + 148, 8, "%06llo", sum);
	tw_end(&w);
	CHECK(run(&w, 0, &r, &err) == 0 && strstr(r.log, "sp ->  m755 u5 ") != NULL,
	      "octal fields with spaces and NULs: %s", r.log);
	free(w.buf);
}

static void expect_error(const struct tw *w, const char *what, const char *msg)
{
	struct rec r;
	struct crid_err err = { 0 };
	int rc = run(w, 0, &r, &err);

	CHECK(rc < 0 && strstr(err.msg, msg) != NULL, "%s -> \"%s\"", what, err.msg);
	rc = run(w, 1, &r, &err);
	CHECK(rc < 0 && strstr(err.msg, msg) != NULL, "%s, 1-byte feeding", what);
}

static void test_errors(void)
{
	struct tw w = { 0 }, p = { 0 };
	struct hdr h = { .type = '0', .name = "a", .mode = 0644, .size = 3 };
	struct rec r;
	struct crid_err err = { 0 };

	tw_entry(&w, &h, "abc");
	h.name = "b";
	h.corrupt = 1;
	tw_entry(&w, &h, "abc");
	tw_end(&w);
	expect_error(&w, "bad checksum", "tar: entry 2 (offset 1024): bad header checksum");

	w.len = 0;
	h.corrupt = 0;
	tw_entry(&w, &h, "abc");
	w.len -= 510; /* cut inside the data block */
	expect_error(&w, "truncated data",
		     "entry 1 (offset 0): archive truncated inside the data of `b`");
	w.len = 100;
	expect_error(&w, "truncated header", "truncated inside a header");
	w.len = 1024;
	CHECK(run(&w, 0, &r, &err) == 0 && r.entries == 1,
	      "EOF at a block boundary without end blocks is accepted (as Go)");
	tw_bytes(&w, (unsigned char[512]){ 0 }, 512);
	CHECK(run(&w, 0, &r, &err) == 0, "a single zero block then EOF is accepted");
	tw_entry(&w, &h, "abc");
	expect_error(&w, "header after one zero block", "zero block followed by a header");

	w.len = 0;
	tw_end(&w);
	tw_bytes(&w, "garbage after the end", 21);
	CHECK(run(&w, 0, &r, &err) == 0, "bytes after end-of-archive ignored");

	w.len = 0;
	h = (struct hdr){ .type = 'S', .name = "sparse", .mode = 0644 };
	tw_entry(&w, &h, NULL);
	expect_error(&w, "GNU sparse type", "unsupported entry type 0x53");

	w.len = 0;
	pax_rec(&p, "path", "x", 1);
	tw_ext(&w, 'x', &p);
	expect_error(&w, "pax header then EOF", "ends after an extended header");

	w.len = p.len = 0;
	tw_bytes(&p, "12 path=x\n", 10); /* length says 12, record is 10 */
	tw_ext(&w, 'x', &p);
	tw_entry(&w, &(struct hdr){ .type = '0', .name = "y" }, NULL);
	expect_error(&w, "malformed pax record", "malformed pax record");

	w.len = p.len = 0;
	h = (struct hdr){ .type = 'x', .name = "big", .size = (2u << 20) };
	tw_header(&w, &h);
	expect_error(&w, "pax header over 1 MiB", "over the 1048576 limit");

	w.len = p.len = 0;
	for (int i = 0; i < 200; i++) {
		char k[64];

		snprintf(k, sizeof(k), "SCHILY.xattr.user.%d", i);
		pax_rec(&p, k, "v", 1);
	}
	tw_ext(&w, 'x', &p);
	tw_entry(&w, &(struct hdr){ .type = '0', .name = "y" }, NULL);
	expect_error(&w, "200 xattrs", "more than 128 xattrs");

	w.len = p.len = 0;
	pax_rec(&p, "path", "a\0b", 3);
	tw_ext(&w, 'x', &p);
	tw_entry(&w, &(struct hdr){ .type = '0', .name = "y" }, NULL);
	expect_error(&w, "NUL inside a pax path", "NUL byte in pax path");

	w.len = p.len = 0;
	tw_bytes(&p, "x", 1);
	tw_entry(&w, &(struct hdr){ .type = 'L', .name = "L", .size = 5000 }, NULL);
	expect_error(&w, "GNU long name over PATH_MAX", "GNU long name of 5000 bytes");

	w.len = 0;
	tw_entry(&w, &(struct hdr){ .type = '0', .name = "" }, NULL);
	expect_error(&w, "empty name", "empty path");
	free(w.buf);
	free(p.buf);
}

static int fail_entry(void *user, const struct crid_tar_entry *e, struct crid_err *err)
{
	(void)user;
	return crid_err_set(err, 0, "refused %s", e->path);
}

static void test_callback_error(void)
{
	struct tw w = { 0 };
	struct crid_tar_callbacks cb = { .entry = fail_entry };
	struct crid_err err = { 0 };
	struct crid_tar_reader *tr = crid_tar_reader_new(&cb, NULL, NULL, &err);
	struct hdr h = { .type = '0', .name = "a", .size = 3 };

	tw_entry(&w, &h, "abc");
	tw_end(&w);
	CHECK(crid_tar_reader_feed(tr, w.buf, w.len, &err) < 0 && !strcmp(err.msg, "refused a"),
	      "a callback error stops the reader: %s", err.msg);
	CHECK(crid_tar_reader_feed(tr, w.buf, 1, &err) < 0 && crid_tar_reader_finish(tr, &err) < 0,
	      "the reader stays failed");
	crid_tar_reader_free(tr);
	free(w.buf);
}

static void test_no_leak_on_alloc_failure(void)
{
	struct tw w = { 0 }, p = { 0 };
	size_t base = crid_mem_used();
	struct rec r;
	struct crid_err err = { 0 };
	int failures = 0;

	pax_rec(&p, "SCHILY.xattr.user.a", "1", 1);
	pax_rec(&p, "path", "pp", 2);
	tw_ext(&w, 'x', &p);
	tw_entry(&w, &(struct hdr){ .type = '0', .name = "y" }, NULL);
	tw_end(&w);
	for (long n = 1; n < 6; n++) {
		crid_mem_fail_after(n);
		failures += run(&w, 0, &r, &err) < 0;
		crid_mem_fail_after(0);
	}
	CHECK(failures > 0 && crid_mem_used() == base,
	      "allocation failures are errors and leak nothing (%d failed)", failures);
	free(w.buf);
	free(p.buf);
}

int main(void)
{
	test_all_types();
	test_pax();
	test_gnu_and_ustar();
	test_octal_spaces();
	test_errors();
	test_callback_error();
	test_no_leak_on_alloc_failure();
	return tap_done();
}
