/*
 * Push tar reader. The rules mirror Go's archive/tar (reader.go, strconv.go),
 * since Go tools (docker, buildkit, umoci...) wrote most layers in the wild:
 * lenient numbers (spaces/NULs around octal, base-256 with the high bit),
 * signed or unsigned checksums, header-only types carry no data whatever
 * their size field says, EOF at a block boundary ends the archive.
 */
#include "runtime/image/tar_reader.h"

#include <errno.h>
#include <limits.h>
#include <stdarg.h>
#include <stdbool.h>
#include <stdio.h>
#include <string.h>
#include <sys/types.h>

#include "reactor/mem.h"

#define BLOCK 512

enum state { ST_HEADER, ST_DATA, ST_PAD, ST_END, ST_FAILED };
enum body { BODY_ENTRY, BODY_PAX, BODY_GLOBAL, BODY_LONGNAME, BODY_LONGLINK };

/* Overrides from one 'x' header, applied to the next entry only. */
struct pax_pending {
	bool present, has_size, has_uid, has_gid, has_mtime;
	const char *path, *linkpath; /* into |buf|, NUL-terminated, or NULL */
	uint64_t size;
	int64_t uid, gid, mtime_sec;
	uint32_t mtime_nsec;
	char *buf; /* the records; owns the strings and xattr values */
	struct crid_tar_xattr *xattrs;
	size_t nxattrs, xattrs_cap;
};

struct crid_tar_reader {
	struct crid_tar_callbacks cb;
	void *user;
	struct crid_tar_limits lim;
	enum state st;
	enum body body;
	unsigned char blk[BLOCK];
	size_t blk_len;
	uint64_t left, pad;
	unsigned zero_blocks;
	uint64_t offset, hdr_offset, entries;
	char *meta; /* body of an extended header being collected */
	size_t meta_len;
	struct pax_pending pax;
	bool has_longname, has_longlink;
	char longname[PATH_MAX], longlink[PATH_MAX];
	struct crid_tar_entry e;
	char path[PATH_MAX], linkpath[PATH_MAX];
	bool yield; /* a callback asked feed_some() to return after this step */
};

/* Fails the reader with "tar: entry N (offset O): cause". */
static int __attribute__((format(printf, 4, 5)))
fail(struct crid_tar_reader *r, struct crid_err *err, int code, const char *fmt, ...)
{
	char msg[256];
	/* Inside an entry's data the entry was already counted; otherwise it is the next one. */
	bool in_entry = (r->st == ST_DATA || r->st == ST_PAD) && r->body == BODY_ENTRY;
	va_list ap;

	va_start(ap, fmt);
	vsnprintf(msg, sizeof(msg), fmt, ap);
	va_end(ap);
	r->st = ST_FAILED;
	return crid_err_set(err, code, "tar: entry %llu (offset %llu): %s",
			    (unsigned long long)r->entries + !in_entry,
			    (unsigned long long)r->hdr_offset, msg);
}

static void pax_clear(struct pax_pending *p)
{
	crid_free(p->buf);
	crid_free(p->xattrs);
	memset(p, 0, sizeof(*p));
}

/* Octal with optional leading/trailing spaces and NULs (Go's parseOctal). */
static int parse_octal(const unsigned char *b, size_t n, int64_t *out)
{
	uint64_t x = 0;

	while (n && (b[0] == ' ' || b[0] == '\0'))
		b++, n--;
	while (n && (b[n - 1] == ' ' || b[n - 1] == '\0'))
		n--;
	for (size_t i = 0; i < n; i++) {
		if (b[i] < '0' || b[i] > '7' || x > ((uint64_t)INT64_MAX >> 3))
			return -1;
		x = x << 3 | (uint64_t)(b[i] - '0');
	}
	if (x > INT64_MAX)
		return -1;
	*out = (int64_t)x;
	return 0;
}

/* Octal, or base-256 two's complement when the top bit of byte 0 is set (GNU). */
static int parse_numeric(const unsigned char *b, size_t n, int64_t *out)
{
	unsigned char inv;
	uint64_t x = 0;

	if (n == 0 || !(b[0] & 0x80))
		return parse_octal(b, n, out);
	inv = (b[0] & 0x40) ? 0xff : 0x00;
	for (size_t i = 0; i < n; i++) {
		unsigned char c = b[i] ^ inv;

		if (i == 0)
			c &= 0x7f;
		if (x >> 56)
			return -1;
		x = x << 8 | c;
	}
	if (x >> 63)
		return -1;
	*out = inv ? (int64_t)~x : (int64_t)x;
	return 0;
}

/* Historic tars summed signed chars; accept either sum, as Go and GNU tar do. */
static bool checksum_ok(const unsigned char *b)
{
	int64_t want, s = 0;
	uint64_t u = 0;

	if (parse_octal(b + 148, 8, &want) < 0)
		return false;
	for (int i = 0; i < BLOCK; i++) {
		unsigned char c = (i >= 148 && i < 156) ? ' ' : b[i];

		u += c;
		s += (signed char)c;
	}
	return want == (int64_t)u || want == s;
}

static bool all_zero(const unsigned char *b)
{
	for (int i = 0; i < BLOCK; i++)
		if (b[i])
			return false;
	return true;
}

/* Strict non-negative decimal for pax values. */
static int parse_decimal(const char *s, uint64_t *out)
{
	uint64_t x = 0;

	if (!*s)
		return -1;
	for (; *s; s++) {
		if (*s < '0' || *s > '9' || x > (UINT64_MAX - 9) / 10)
			return -1;
		x = x * 10 + (uint64_t)(*s - '0');
	}
	*out = x;
	return 0;
}

/* "[-]sec[.frac]" with any number of fraction digits (Go's parsePAXTime). */
static int parse_pax_time(const char *s, int64_t *sec, uint32_t *nsec)
{
	bool neg = *s == '-';
	char whole[24];
	const char *dot;
	uint64_t w, frac = 0;
	size_t wl;
	int digits = 0;

	s += neg;
	dot = strchr(s, '.');
	wl = dot ? (size_t)(dot - s) : strlen(s);
	if (wl == 0 || wl >= sizeof(whole))
		return -1;
	memcpy(whole, s, wl);
	whole[wl] = '\0';
	if (parse_decimal(whole, &w) < 0 || w > INT64_MAX - 1)
		return -1;
	for (const char *f = dot ? dot + 1 : ""; *f; f++) {
		if (*f < '0' || *f > '9')
			return -1;
		if (digits < 9)
			frac = frac * 10 + (uint64_t)(*f - '0'), digits++;
	}
	for (; digits < 9; digits++)
		frac *= 10;
	*sec = neg ? -(int64_t)w : (int64_t)w;
	*nsec = (uint32_t)frac;
	if (neg && frac) {
		*sec -= 1;
		*nsec = 1000000000u - (uint32_t)frac;
	}
	return 0;
}

static int pax_add_xattr(struct crid_tar_reader *r, char *name, const char *v, size_t vlen,
			 struct crid_err *err)
{
	struct pax_pending *p = &r->pax;

	if (!*name || strlen(name) > 255)
		return fail(r, err, EINVAL, "bad xattr name in pax header");
	if (vlen > r->lim.max_xattr_value)
		return fail(r, err, E2BIG, "xattr `%s` value over %zu bytes", name,
			    r->lim.max_xattr_value);
	if (p->nxattrs == r->lim.max_xattrs)
		return fail(r, err, E2BIG, "more than %zu xattrs", r->lim.max_xattrs);
	if (p->nxattrs == p->xattrs_cap) {
		size_t cap = p->xattrs_cap ? p->xattrs_cap * 2 : 8;
		void *n = crid_realloc(p->xattrs, cap * sizeof(*p->xattrs));

		if (!n)
			return fail(r, err, ENOMEM, "pax xattrs");
		p->xattrs = n;
		p->xattrs_cap = cap;
	}
	p->xattrs[p->nxattrs++] = (struct crid_tar_xattr){ name, v, vlen };
	return 0;
}

/* One "key=value" record; |key| and |val| are NUL-terminated inside pax.buf. */
static int pax_record(struct crid_tar_reader *r, char *key, char *val, size_t vlen,
		      struct crid_err *err)
{
	struct pax_pending *p = &r->pax;
	bool val_nul = strlen(val) != vlen;
	uint64_t n;

	if (!strcmp(key, "path") || !strcmp(key, "linkpath")) {
		if (val_nul)
			return fail(r, err, EINVAL, "NUL byte in pax %s", key);
		if (vlen >= PATH_MAX)
			return fail(r, err, ENAMETOOLONG, "pax %s of %zu bytes", key, vlen);
		*(key[0] == 'p' ? &p->path : &p->linkpath) = vlen ? val : NULL;
	} else if (!strcmp(key, "size") || !strcmp(key, "uid") || !strcmp(key, "gid")) {
		if (parse_decimal(val, &n) < 0 || n > INT64_MAX)
			return fail(r, err, EINVAL, "bad pax %s `%.32s`", key, val);
		if (key[0] == 's')
			p->has_size = true, p->size = n;
		else if (key[0] == 'u')
			p->has_uid = true, p->uid = (int64_t)n;
		else
			p->has_gid = true, p->gid = (int64_t)n;
	} else if (!strcmp(key, "mtime")) {
		if (parse_pax_time(val, &p->mtime_sec, &p->mtime_nsec) < 0)
			return fail(r, err, EINVAL, "bad pax mtime `%.32s`", val);
		p->has_mtime = true;
	} else if (!strncmp(key, "SCHILY.xattr.", 13)) {
		return pax_add_xattr(r, key + 13, val, vlen, err);
	} else if (!strncmp(key, "GNU.sparse.", 11)) {
		/* The data would be a sparse map, not file content: refuse, do not guess. */
		return fail(r, err, ENOTSUP, "GNU sparse files are not supported");
	}
	return 0; /* atime, ctime, uname, gname, comment, vendor keys: not needed */
}

/* Parses "%d key=value\n" records; takes ownership of |buf| into r->pax. */
static int pax_parse(struct crid_tar_reader *r, char *buf, size_t len, struct crid_err *err)
{
	size_t pos = 0;

	r->pax.present = true;
	r->pax.buf = buf;
	while (pos < len) {
		char *rec = buf + pos, *sp, *eq;
		size_t n = 0, i = 0;

		while (pos + i < len && rec[i] >= '0' && rec[i] <= '9' && n <= len)
			n = n * 10 + (size_t)(rec[i++] - '0');
		if (i == 0 || pos + i >= len || rec[i] != ' ' || n <= i + 1 || n > len - pos ||
		    rec[n - 1] != '\n')
			return fail(r, err, EINVAL, "malformed pax record at byte %zu", pos);
		sp = rec + i;
		rec[n - 1] = '\0';
		eq = memchr(sp + 1, '=', (size_t)(rec + n - 1 - (sp + 1)));
		if (!eq || eq == sp + 1 || memchr(sp + 1, '\0', (size_t)(eq - sp - 1)))
			return fail(r, err, EINVAL, "malformed pax record at byte %zu", pos);
		*eq = '\0';
		if (pax_record(r, sp + 1, eq + 1, (size_t)(rec + n - 1 - (eq + 1)), err) < 0)
			return -1;
		pos += n;
	}
	return 0;
}

static void set_body(struct crid_tar_reader *r, enum body body, uint64_t size)
{
	r->body = body;
	r->left = size;
	r->pad = (BLOCK - size % BLOCK) % BLOCK;
	r->st = ST_DATA;
}

/* Called when a member's body has been fully read. */
static int body_done(struct crid_tar_reader *r, struct crid_err *err)
{
	char *meta = r->meta;
	size_t len = r->meta_len;

	r->meta = NULL;
	r->st = r->pad ? ST_PAD : ST_HEADER;
	switch (r->body) {
	case BODY_ENTRY:
		if (r->cb.entry_end && r->cb.entry_end(r->user, err) < 0) {
			r->st = ST_FAILED;
			return -1;
		}
		pax_clear(&r->pax); /* after the callback: the entry points into it */
		r->has_longname = r->has_longlink = false;
		return 0;
	case BODY_PAX:
		meta[len] = '\0';
		return pax_parse(r, meta, len, err);
	case BODY_LONGNAME:
	case BODY_LONGLINK: {
		/* The name is NUL-terminated inside the body (GNU tar writes the NUL). */
		char *dst = r->body == BODY_LONGNAME ? r->longname : r->longlink;

		meta[len] = '\0';
		len = strlen(meta);
		memcpy(dst, meta, len + 1);
		crid_free(meta);
		if (len == 0)
			return fail(r, err, EINVAL, "empty GNU long name");
		*(r->body == BODY_LONGNAME ? &r->has_longname : &r->has_longlink) = true;
		return 0;
	}
	case BODY_GLOBAL:
		break;
	}
	return 0;
}

static int start_meta(struct crid_tar_reader *r, enum body body, uint64_t size,
		      struct crid_err *err)
{
	r->meta = crid_malloc((size_t)size + 1);
	if (!r->meta)
		return fail(r, err, ENOMEM, "extended header of %llu bytes",
			    (unsigned long long)size);
	r->meta_len = 0;
	set_body(r, body, size);
	return size ? 0 : body_done(r, err);
}

static int map_type(unsigned char flag, enum crid_tar_type *t)
{
	switch (flag) {
	case '0':
	case '\0':
	case '7': /* contiguous file: a regular file everywhere that matters */
		*t = CRID_TAR_REG;
		return 0;
	case '1':
		*t = CRID_TAR_HARDLINK;
		return 0;
	case '2':
		*t = CRID_TAR_SYMLINK;
		return 0;
	case '3':
		*t = CRID_TAR_CHAR;
		return 0;
	case '4':
		*t = CRID_TAR_BLOCK;
		return 0;
	case '5':
		*t = CRID_TAR_DIR;
		return 0;
	case '6':
		*t = CRID_TAR_FIFO;
		return 0;
	}
	return -1;
}

/* Copies a fixed-width, maybe unterminated header string. */
static size_t field_str(char *dst, const unsigned char *src, size_t width)
{
	size_t n = strnlen((const char *)src, width);

	memcpy(dst, src, n);
	dst[n] = '\0';
	return n;
}

/* Path precedence: pax, GNU long name, ustar prefix "/" name, name. */
static int entry_names(struct crid_tar_reader *r, bool posix, struct crid_err *err)
{
	const unsigned char *b = r->blk;

	if (r->pax.path)
		snprintf(r->path, sizeof(r->path), "%s", r->pax.path);
	else if (r->has_longname)
		snprintf(r->path, sizeof(r->path), "%s", r->longname);
	else if (posix && b[345]) {
		size_t n = field_str(r->path, b + 345, 155);

		r->path[n++] = '/';
		field_str(r->path + n, b, 100);
	} else {
		field_str(r->path, b, 100);
	}
	if (r->pax.linkpath)
		snprintf(r->linkpath, sizeof(r->linkpath), "%s", r->pax.linkpath);
	else if (r->has_longlink)
		snprintf(r->linkpath, sizeof(r->linkpath), "%s", r->longlink);
	else
		field_str(r->linkpath, b + 157, 100);
	if (!r->path[0])
		return fail(r, err, EINVAL, "empty path");
	return 0;
}

static int entry_numbers(struct crid_tar_reader *r, bool ustar, struct crid_err *err)
{
	const unsigned char *b = r->blk;
	struct crid_tar_entry *e = &r->e;
	int64_t mode, maj = 0, min = 0;

	if (parse_numeric(b + 100, 8, &mode) < 0 || parse_numeric(b + 108, 8, &e->uid) < 0 ||
	    parse_numeric(b + 116, 8, &e->gid) < 0 || parse_numeric(b + 136, 12, &e->mtime_sec) < 0)
		return fail(r, err, EINVAL, "bad numeric field in header");
	if (ustar && (parse_numeric(b + 329, 8, &maj) < 0 || parse_numeric(b + 337, 8, &min) < 0))
		return fail(r, err, EINVAL, "bad device number in header");
	if (maj < 0 || maj > UINT32_MAX || min < 0 || min > UINT32_MAX)
		return fail(r, err, EINVAL, "device number out of range");
	e->mode = (uint32_t)mode & 07777;
	e->devmajor = (uint32_t)maj;
	e->devminor = (uint32_t)min;
	e->mtime_nsec = 0;
	if (r->pax.has_uid)
		e->uid = r->pax.uid;
	if (r->pax.has_gid)
		e->gid = r->pax.gid;
	if (r->pax.has_mtime)
		e->mtime_sec = r->pax.mtime_sec, e->mtime_nsec = r->pax.mtime_nsec;
	return 0;
}

static int start_entry(struct crid_tar_reader *r, uint64_t size, struct crid_err *err)
{
	struct crid_tar_entry *e = &r->e;
	unsigned char flag = r->blk[156];
	bool posix = !memcmp(r->blk + 257, "ustar\0", 6);
	bool gnu = !memcmp(r->blk + 257, "ustar  \0", 8);

	memset(e, 0, sizeof(*e));
	if (map_type(flag, &e->type) < 0)
		return fail(r, err, ENOTSUP, "unsupported entry type %#x", flag);
	if (entry_names(r, posix, err) < 0 || entry_numbers(r, posix || gnu, err) < 0)
		return -1;
	if (flag == '\0' && r->path[strlen(r->path) - 1] == '/')
		e->type = CRID_TAR_DIR; /* pre-POSIX directories */
	if (r->pax.has_size)
		size = r->pax.size;
	/* Header-only types never carry data, whatever size says (Go: isHeaderOnlyType). */
	e->size = e->type == CRID_TAR_REG ? size : 0;
	e->path = r->path;
	e->linkpath =
	    (e->type == CRID_TAR_HARDLINK || e->type == CRID_TAR_SYMLINK) ? r->linkpath : "";
	e->xattrs = r->pax.xattrs;
	e->nxattrs = r->pax.nxattrs;
	e->index = r->entries++;
	set_body(r, BODY_ENTRY, e->size);
	if (r->cb.entry && r->cb.entry(r->user, e, err) < 0) {
		r->st = ST_FAILED;
		return -1;
	}
	return e->size ? 0 : body_done(r, err);
}

static int on_header(struct crid_tar_reader *r, struct crid_err *err)
{
	int64_t size;

	if (all_zero(r->blk)) {
		if (++r->zero_blocks == 2)
			r->st = ST_END;
		return 0;
	}
	if (r->zero_blocks)
		return fail(r, err, EINVAL, "zero block followed by a header");
	if (!checksum_ok(r->blk))
		return fail(r, err, EINVAL, "bad header checksum");
	if (parse_numeric(r->blk + 124, 12, &size) < 0 || size < 0)
		return fail(r, err, EINVAL, "bad size field");
	switch (r->blk[156]) {
	case 'x':
		if (r->pax.present)
			return fail(r, err, EINVAL, "two pax headers for one entry");
		if ((uint64_t)size > r->lim.max_pax_size)
			return fail(r, err, EFBIG, "pax header of %lld bytes over the %zu limit",
				    (long long)size, r->lim.max_pax_size);
		return start_meta(r, BODY_PAX, (uint64_t)size, err);
	case 'L':
	case 'K':
		if (size >= PATH_MAX)
			return fail(r, err, ENAMETOOLONG, "GNU long name of %lld bytes",
				    (long long)size);
		return start_meta(r, r->blk[156] == 'L' ? BODY_LONGNAME : BODY_LONGLINK,
				  (uint64_t)size, err);
	case 'g':
		/* Global pax headers only hold defaults nobody relies on for layers. */
		set_body(r, BODY_GLOBAL, (uint64_t)size);
		return size ? 0 : body_done(r, err);
	}
	return start_entry(r, (uint64_t)size, err);
}

/* Consumes up to |len| bytes of a member's body; returns bytes used or -1. */
static ssize_t feed_body(struct crid_tar_reader *r, const unsigned char *p, size_t len,
			 struct crid_err *err)
{
	size_t n = len < r->left ? len : (size_t)r->left;

	r->left -= n;
	r->offset += n;
	if (r->body == BODY_ENTRY) {
		if (r->cb.data && r->cb.data(r->user, p, n, err) < 0) {
			r->st = ST_FAILED;
			return -1;
		}
	} else if (r->meta) {
		memcpy(r->meta + r->meta_len, p, n);
		r->meta_len += n;
	}
	if (!r->left && body_done(r, err) < 0)
		return -1;
	return (ssize_t)n;
}

int crid_tar_reader_feed_some(struct crid_tar_reader *r, const void *data, size_t len,
			      size_t *consumed, struct crid_err *err)
{
	const unsigned char *p = data;
	size_t total = len;

	*consumed = 0;
	r->yield = false;
	while (len && !r->yield) {
		size_t n;

		switch (r->st) {
		case ST_HEADER:
			n = BLOCK - r->blk_len < len ? BLOCK - r->blk_len : len;
			memcpy(r->blk + r->blk_len, p, n);
			r->blk_len += n;
			r->offset += n;
			if (r->blk_len == BLOCK) {
				r->blk_len = 0;
				r->hdr_offset = r->offset - BLOCK;
				if (on_header(r, err) < 0)
					return -1;
			}
			break;
		case ST_DATA: {
			ssize_t used = feed_body(r, p, len, err);

			if (used < 0)
				return -1;
			n = (size_t)used;
			break;
		}
		case ST_PAD:
			n = r->pad < len ? (size_t)r->pad : len;
			r->pad -= n;
			r->offset += n;
			if (!r->pad)
				r->st = ST_HEADER;
			break;
		case ST_END:
			n = len; /* record padding after end-of-archive */
			break;
		default:
			return crid_err_set(err, EINVAL, "tar: reader already failed");
		}
		p += n;
		len -= n;
		*consumed = total - len;
	}
	if (!r->yield)
		return 0;
	r->yield = false;
	return len ? 1 : 0;
}

int crid_tar_reader_feed(struct crid_tar_reader *r, const void *data, size_t len,
			 struct crid_err *err)
{
	const unsigned char *p = data;
	size_t used;
	int rc;

	while ((rc = crid_tar_reader_feed_some(r, p, len, &used, err)) == 1) {
		p += used;
		len -= used;
	}
	return rc;
}

void crid_tar_reader_yield(struct crid_tar_reader *r)
{
	r->yield = true;
}

int crid_tar_reader_finish(struct crid_tar_reader *r, struct crid_err *err)
{
	switch (r->st) {
	case ST_END:
		return 0;
	case ST_HEADER:
		if (r->blk_len)
			return fail(r, err, EPIPE, "archive truncated inside a header");
		if (r->pax.present || r->has_longname || r->has_longlink)
			return fail(r, err, EPIPE, "archive ends after an extended header");
		return 0;
	case ST_DATA:
	case ST_PAD:
		return fail(r, err, EPIPE, "archive truncated inside the data of `%s`",
			    r->body == BODY_ENTRY ? r->path : "extended header");
	default:
		return crid_err_set(err, EINVAL, "tar: reader already failed");
	}
}

uint64_t crid_tar_reader_entries(const struct crid_tar_reader *r)
{
	return r->entries;
}

struct crid_tar_reader *crid_tar_reader_new(const struct crid_tar_callbacks *cb, void *user,
					    const struct crid_tar_limits *lim, struct crid_err *err)
{
	struct crid_tar_reader *r = crid_calloc(1, sizeof(*r));

	if (!r) {
		crid_err_set(err, ENOMEM, "tar: reader");
		return NULL;
	}
	r->cb = *cb;
	r->user = user;
	if (lim)
		r->lim = *lim;
	if (!r->lim.max_pax_size)
		r->lim.max_pax_size = CRID_TAR_DEFAULT_MAX_PAX_SIZE;
	if (!r->lim.max_xattrs)
		r->lim.max_xattrs = CRID_TAR_DEFAULT_MAX_XATTRS;
	if (!r->lim.max_xattr_value)
		r->lim.max_xattr_value = CRID_TAR_DEFAULT_MAX_XATTR_VALUE;
	return r;
}

void crid_tar_reader_free(struct crid_tar_reader *r)
{
	if (!r)
		return;
	pax_clear(&r->pax);
	crid_free(r->meta);
	crid_free(r);
}
