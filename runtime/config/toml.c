/*
 * Strict TOML v1.0 parser (https://toml.io/en/v1.0.0). One pass over the
 * bytes, recursion only for arrays and inline tables, both bounded by
 * CRID_TOML_MAX_DEPTH. The whole document is checked for valid UTF-8 and
 * forbidden control characters first, so the grammar code below can copy
 * bytes without re-checking them.
 */
#include "runtime/config/toml.h"

#include <errno.h>
#include <limits.h>
#include <math.h>
#include <stdarg.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "reactor/mem.h"

/*
 * How a table or array came to exist decides what may extend it later
 * (TOML v1.0, "Table" and "Array of Tables"): a [header] defines a table
 * once; parents a header creates implicitly may later be defined once,
 * by a header or by dotted keys; tables made by dotted keys take more
 * dotted keys but never a header; inline tables and static arrays are
 * sealed.
 */
enum {
	T_HEADER = 1 << 0,
	T_IMPLICIT = 1 << 1,
	T_DOTTED = 1 << 2,
	T_SEALED = 1 << 3,
	T_AOT = 1 << 4, /* array created by [[header]] */
};

/* Tables this large get a hash index so 10^5 keys do not cost 10^10 compares. */
#define INDEX_MIN 8

/* Longest float literal we hand to strtod (no real float needs more). */
#define FLOAT_MAX_LEN 128

struct parser {
	const char *name;
	const unsigned char *buf;
	size_t len;
	size_t pos;
	unsigned line, col;
	struct crid_err *err;
};

struct key_part {
	char *s;
	size_t len;
	unsigned line, col;
};

/* A dotted key as written: up to CRID_TOML_MAX_DEPTH parts. */
struct key {
	struct key_part part[CRID_TOML_MAX_DEPTH];
	size_t n;
};

struct sbuf {
	char *s;
	size_t len, cap;
};

static int fail_at(struct parser *p, unsigned line, unsigned col, const char *fmt, ...)
    __attribute__((format(printf, 4, 5)));

static int fail_at(struct parser *p, unsigned line, unsigned col, const char *fmt, ...)
{
	char msg[CRID_ERR_MSG_MAX];
	va_list ap;

	va_start(ap, fmt);
	vsnprintf(msg, sizeof(msg), fmt, ap);
	va_end(ap);
	crid_err_set(p->err, 0, "%s:%u:%u: %s", p->name, line, col, msg);
	if (p->err)
		p->err->code = EINVAL;
	return -1;
}

/* At the cursor. */
#define fail_here(p, ...) fail_at((p), (p)->line, (p)->col, __VA_ARGS__)

static int oom(struct parser *p)
{
	crid_err_set(p->err, 0, "%s:%u:%u: out of memory", p->name, p->line, p->col);
	if (p->err)
		p->err->code = ENOMEM;
	return -1;
}

static int peek(const struct parser *p)
{
	return p->pos < p->len ? p->buf[p->pos] : -1;
}

static int peek_at(const struct parser *p, size_t k)
{
	return p->len - p->pos > k ? p->buf[p->pos + k] : -1;
}

/* Columns count characters, not bytes: continuation bytes do not move it. */
static void adv(struct parser *p)
{
	unsigned char c = p->buf[p->pos++];

	if (c == '\n') {
		p->line++;
		p->col = 1;
	} else if ((c & 0xC0) != 0x80) {
		p->col++;
	}
}

static void adv_n(struct parser *p, size_t n)
{
	while (n--)
		adv(p);
}

/* Length of the valid UTF-8 sequence at |s| (RFC 3629: no overlongs, no surrogates), or 0. */
static size_t utf8_len(const unsigned char *s, size_t n)
{
	unsigned char c = s[0], lo = 0x80, hi = 0xBF;
	size_t len, i;

	if (c < 0x80)
		return 1;
	if (c >= 0xC2 && c <= 0xDF)
		len = 2;
	else if (c >= 0xE0 && c <= 0xEF)
		len = 3;
	else if (c >= 0xF0 && c <= 0xF4)
		len = 4;
	else
		return 0;
	if (c == 0xE0)
		lo = 0xA0;
	else if (c == 0xED)
		hi = 0x9F;
	else if (c == 0xF0)
		lo = 0x90;
	else if (c == 0xF4)
		hi = 0x8F;
	if (n < len || s[1] < lo || s[1] > hi)
		return 0;
	for (i = 2; i < len; i++)
		if ((s[i] & 0xC0) != 0x80)
			return 0;
	return len;
}

static uint32_t utf8_decode(const unsigned char *s, size_t len)
{
	static const unsigned char lead_mask[] = { 0, 0x7F, 0x1F, 0x0F, 0x07 };
	uint32_t cp = s[0] & lead_mask[len];

	for (size_t i = 1; i < len; i++)
		cp = cp << 6 | (s[i] & 0x3F);
	return cp;
}

/*
 * TOML forbids U+0000-U+0008, U+000A-U+001F (but LF) and U+007F everywhere,
 * CR except in CRLF, and invalid UTF-8. Checking once up front keeps every
 * string and comment rule in one place.
 */
static int check_text(struct parser *p)
{
	while (p->pos < p->len) {
		const unsigned char *s = p->buf + p->pos;
		size_t n = utf8_len(s, p->len - p->pos);

		if (n == 0)
			return fail_at(p, p->line, p->col, "invalid UTF-8 byte 0x%02X", s[0]);
		if (s[0] == '\r' && (p->len - p->pos < 2 || s[1] != '\n'))
			return fail_at(p, p->line, p->col,
				       "carriage return not followed by line feed");
		if ((s[0] < 0x20 && s[0] != '\t' && s[0] != '\n' && s[0] != '\r') || s[0] == 0x7F)
			return fail_at(p, p->line, p->col,
				       "control character U+%04X is not allowed", s[0]);
		adv_n(p, n);
	}
	p->pos = 0;
	p->line = 1;
	p->col = 1;
	return 0;
}

/* Describes the next character for "expected X, found Y" messages. */
static const char *found(const struct parser *p, char *buf, size_t cap)
{
	int c = peek(p);

	if (c < 0)
		return "end of file";
	if (c == '\n' || c == '\r')
		return "end of line";
	if (c == ' ' || c == '\t')
		return "whitespace";
	if (c < 0x80) {
		snprintf(buf, cap, "`%c`", c);
		return buf;
	}
	snprintf(
	    buf, cap, "U+%04X",
	    (unsigned)utf8_decode(p->buf + p->pos, utf8_len(p->buf + p->pos, p->len - p->pos)));
	return buf;
}

#define FOUND(p) found((p), (char[16]){ 0 }, 16)

/* A key or token made printable for a message: control bytes become '?', long ones get "...". */
static const char *show(const char *s, size_t len, char *buf, size_t cap)
{
	size_t n = len < cap - 4 ? len : cap - 4;

	while (n < len && n > 0 && ((unsigned char)s[n] & 0xC0) == 0x80)
		n--;
	for (size_t i = 0; i < n; i++)
		buf[i] = ((unsigned char)s[i] < 0x20 || s[i] == 0x7F) ? '?' : s[i];
	if (n < len)
		memcpy(buf + n, "...", 3), n += 3;
	buf[n] = '\0';
	return buf;
}

#define SHOW(s, len) show((s), (len), (char[72]){ 0 }, 72)

/* "a.b.c" for the first |n| parts of |k|, for messages. */
static const char *show_key(const struct key *k, size_t n, char *buf, size_t cap)
{
	size_t used = 0;

	buf[0] = '\0';
	for (size_t i = 0; i < n && used + 1 < cap; i++) {
		int r = snprintf(buf + used, cap - used, "%s%s", i ? "." : "",
				 SHOW(k->part[i].s, k->part[i].len));
		if (r < 0)
			break;
		used += (size_t)r;
	}
	return buf;
}

#define SHOW_KEY(k, n) show_key((k), (n), (char[160]){ 0 }, 160)

static void skip_ws(struct parser *p)
{
	while (peek(p) == ' ' || peek(p) == '\t')
		adv(p);
}

static void skip_comment(struct parser *p)
{
	int c;

	while ((c = peek(p)) >= 0 && c != '\n' && c != '\r')
		adv(p);
}

/* Inside arrays: whitespace, newlines and comments all separate values. */
static void skip_ws_nl(struct parser *p)
{
	for (;;) {
		int c = peek(p);

		if (c == ' ' || c == '\t' || c == '\n' || c == '\r')
			adv(p);
		else if (c == '#')
			skip_comment(p);
		else
			return;
	}
}

static bool is_newline(int c)
{
	return c == '\n' || c == '\r';
}

static bool is_bare(int c)
{
	return (c >= 'A' && c <= 'Z') || (c >= 'a' && c <= 'z') || (c >= '0' && c <= '9') ||
	       c == '_' || c == '-';
}

static bool is_digit(int c)
{
	return c >= '0' && c <= '9';
}

static int hex_value(int c)
{
	if (c >= '0' && c <= '9')
		return c - '0';
	if (c >= 'a' && c <= 'f')
		return c - 'a' + 10;
	if (c >= 'A' && c <= 'F')
		return c - 'A' + 10;
	return -1;
}

/* ---- growable byte buffer for strings ---- */

static int sbuf_put(struct parser *p, struct sbuf *b, const void *s, size_t n)
{
	if (b->cap - b->len <= n) {
		size_t cap = b->cap ? b->cap * 2 : 32;
		char *q;

		while (cap - b->len <= n)
			cap *= 2;
		q = crid_realloc(b->s, cap);
		if (!q)
			return oom(p);
		b->s = q;
		b->cap = cap;
	}
	memcpy(b->s + b->len, s, n);
	b->len += n;
	b->s[b->len] = '\0';
	return 0;
}

/* Copies the next byte of the document verbatim (already known to be valid). */
static int sbuf_take(struct parser *p, struct sbuf *b)
{
	if (sbuf_put(p, b, p->buf + p->pos, 1) < 0)
		return -1;
	adv(p);
	return 0;
}

static int sbuf_put_utf8(struct parser *p, struct sbuf *b, uint32_t cp)
{
	unsigned char u[4];
	size_t n;

	if (cp < 0x80) {
		u[0] = cp;
		n = 1;
	} else if (cp < 0x800) {
		u[0] = 0xC0 | cp >> 6;
		u[1] = 0x80 | (cp & 0x3F);
		n = 2;
	} else if (cp < 0x10000) {
		u[0] = 0xE0 | cp >> 12;
		u[1] = 0x80 | (cp >> 6 & 0x3F);
		u[2] = 0x80 | (cp & 0x3F);
		n = 3;
	} else {
		u[0] = 0xF0 | cp >> 18;
		u[1] = 0x80 | (cp >> 12 & 0x3F);
		u[2] = 0x80 | (cp >> 6 & 0x3F);
		u[3] = 0x80 | (cp & 0x3F);
		n = 4;
	}
	return sbuf_put(p, b, u, n);
}

/* ---- strings ---- */

/* \uXXXX or \UXXXXXXXX: exactly |digits| hex digits naming a Unicode scalar value. */
static int unicode_escape(struct parser *p, struct sbuf *b, int digits, unsigned line, unsigned col)
{
	char kind = peek(p);
	uint32_t cp = 0;

	adv(p);
	for (int i = 0; i < digits; i++) {
		int h = hex_value(peek(p));

		if (h < 0)
			return fail_at(p, line, col, "`\\%c` escape needs %d hex digits", kind,
				       digits);
		cp = cp << 4 | (uint32_t)h;
		adv(p);
	}
	if ((cp >= 0xD800 && cp <= 0xDFFF) || cp > 0x10FFFF)
		return fail_at(p, line, col, "`\\%c%0*X` is not a Unicode scalar value", kind,
			       digits, (unsigned)cp);
	return sbuf_put_utf8(p, b, cp);
}

static int escape(struct parser *p, struct sbuf *b)
{
	/* Pairs of escape letter and the byte it stands for (TOML 1.0 has no \e or \x). */
	static const char simple[] = "b\bt\tn\nf\fr\r\"\"\\\\";
	unsigned line = p->line, col = p->col;
	int c;

	adv(p);
	c = peek(p);
	if (c == 'u' || c == 'U')
		return unicode_escape(p, b, c == 'u' ? 4 : 8, line, col);
	for (const char *e = simple; *e; e += 2) {
		if (*e == c) {
			adv(p);
			return sbuf_put(p, b, e + 1, 1);
		}
	}
	if (c > 0x20 && c < 0x7F)
		return fail_at(p, line, col, "invalid escape sequence `\\%c`", c);
	return fail_at(p, line, col, "invalid escape sequence (backslash before %s)", FOUND(p));
}

static int basic_string(struct parser *p, struct sbuf *b)
{
	unsigned line = p->line, col = p->col;

	adv(p);
	for (;;) {
		int c = peek(p);

		if (c < 0 || is_newline(c))
			return fail_at(p, line, col,
				       "string is not closed before the end of the line");
		if (c == '"') {
			adv(p);
			return 0;
		}
		if ((c == '\\' ? escape(p, b) : sbuf_take(p, b)) < 0)
			return -1;
	}
}

static int literal_string(struct parser *p, struct sbuf *b)
{
	unsigned line = p->line, col = p->col;

	adv(p);
	for (;;) {
		int c = peek(p);

		if (c < 0 || is_newline(c))
			return fail_at(p, line, col,
				       "string is not closed before the end of the line");
		if (c == '\'') {
			adv(p);
			return 0;
		}
		if (sbuf_take(p, b) < 0)
			return -1;
	}
}

/*
 * At a run of |q| quotes inside a multi-line string: fewer than three are
 * content; three to five close the string, the extra one or two being
 * content ("""a"""" is `a"`). Returns 1 when closed, 0 to go on, -1 on error.
 */
static int quote_run(struct parser *p, struct sbuf *b, char q)
{
	static const char quotes[] = "\"\"\"\"\"'''''";
	const char *run = q == '"' ? quotes : quotes + 5;
	unsigned line = p->line, col = p->col;
	size_t n = 0;

	while (peek(p) == q) {
		adv(p);
		n++;
	}
	if (n < 3)
		return sbuf_put(p, b, run, n);
	if (n > 5)
		return fail_at(p, line, col, "too many quotes at the end of a multi-line string");
	return sbuf_put(p, b, run, n - 3) < 0 ? -1 : 1;
}

/* A newline right after the opening delimiter is not part of the string. */
static void skip_first_newline(struct parser *p)
{
	if (peek(p) == '\r')
		adv(p);
	if (peek(p) == '\n')
		adv(p);
}

/* "line ending backslash": \ then blanks then a newline trims up to the next non-blank. */
static bool at_line_ending_backslash(const struct parser *p)
{
	size_t i = p->pos + 1;

	while (i < p->len && (p->buf[i] == ' ' || p->buf[i] == '\t'))
		i++;
	return i < p->len && is_newline(p->buf[i]);
}

static int ml_basic_string(struct parser *p, struct sbuf *b)
{
	unsigned line = p->line, col = p->col;

	adv_n(p, 3);
	skip_first_newline(p);
	for (;;) {
		int c = peek(p), r;

		if (c < 0)
			return fail_at(p, line, col, "multi-line string is never closed");
		if (c == '"') {
			r = quote_run(p, b, '"');
			if (r != 0)
				return r < 0 ? -1 : 0;
		} else if (c == '\r') {
			adv(p); /* CRLF is stored as LF, as tomllib and toml-rs do */
		} else if (c == '\\' && at_line_ending_backslash(p)) {
			adv(p);
			while ((c = peek(p)) == ' ' || c == '\t' || is_newline(c))
				adv(p);
		} else if ((c == '\\' ? escape(p, b) : sbuf_take(p, b)) < 0) {
			return -1;
		}
	}
}

static int ml_literal_string(struct parser *p, struct sbuf *b)
{
	unsigned line = p->line, col = p->col;

	adv_n(p, 3);
	skip_first_newline(p);
	for (;;) {
		int c = peek(p), r;

		if (c < 0)
			return fail_at(p, line, col, "multi-line string is never closed");
		if (c == '\'') {
			r = quote_run(p, b, '\'');
			if (r != 0)
				return r < 0 ? -1 : 0;
		} else if (c == '\r') {
			adv(p);
		} else if (sbuf_take(p, b) < 0) {
			return -1;
		}
	}
}

/* Any of the four string forms at the cursor into |b| (allocated even when empty). */
static int parse_string(struct parser *p, struct sbuf *b, bool is_key)
{
	int q = peek(p);
	bool multi = peek_at(p, 1) == q && peek_at(p, 2) == q;
	int r;

	b->s = NULL;
	b->len = b->cap = 0;
	if (multi && is_key)
		return fail_here(p, "a multi-line string cannot be a key");
	if (sbuf_put(p, b, "", 0) < 0)
		return -1;
	if (q == '"')
		r = multi ? ml_basic_string(p, b) : basic_string(p, b);
	else
		r = multi ? ml_literal_string(p, b) : literal_string(p, b);
	if (r < 0) {
		crid_free(b->s);
		b->s = NULL;
	}
	return r;
}

/* ---- tree ---- */

const char *crid_toml_type_name(enum crid_toml_type type)
{
	static const char *const names[] = {
		[CRID_TOML_TABLE] = "table",   [CRID_TOML_ARRAY] = "array",
		[CRID_TOML_STRING] = "string", [CRID_TOML_INTEGER] = "integer",
		[CRID_TOML_FLOAT] = "float",   [CRID_TOML_BOOL] = "boolean",
	};

	return (unsigned)type < sizeof(names) / sizeof(names[0]) ? names[type] : "?";
}

static struct crid_toml_value *new_value(struct parser *p, enum crid_toml_type type, unsigned line,
					 unsigned col, unsigned depth)
{
	struct crid_toml_value *v;

	if ((type == CRID_TOML_TABLE || type == CRID_TOML_ARRAY) && depth > CRID_TOML_MAX_DEPTH) {
		fail_at(p, line, col, "tables and arrays nest deeper than %d levels",
			CRID_TOML_MAX_DEPTH);
		return NULL;
	}
	v = crid_calloc(1, sizeof(*v));
	if (!v) {
		oom(p);
		return NULL;
	}
	v->type = type;
	v->line = line;
	v->col = col;
	v->depth = depth;
	return v;
}

/* Recursion is bounded: containers never nest deeper than CRID_TOML_MAX_DEPTH. */
void crid_toml_free(struct crid_toml_value *v)
{
	if (!v)
		return;
	switch (v->type) {
	case CRID_TOML_STRING:
		crid_free(v->u.str.ptr);
		break;
	case CRID_TOML_ARRAY:
		for (size_t i = 0; i < v->u.array.n; i++)
			crid_toml_free(v->u.array.items[i]);
		crid_free(v->u.array.items);
		break;
	case CRID_TOML_TABLE:
		for (size_t i = 0; i < v->u.table.n; i++) {
			crid_free(v->u.table.items[i].key);
			crid_toml_free(v->u.table.items[i].value);
		}
		crid_free(v->u.table.items);
		crid_free(v->u.table.index);
		break;
	default:
		break;
	}
	crid_free(v);
}

/* FNV-1a */
static size_t hash_key(const char *s, size_t n)
{
	uint64_t h = 0xcbf29ce484222325ULL;

	for (size_t i = 0; i < n; i++) {
		h ^= (unsigned char)s[i];
		h *= 0x100000001b3ULL;
	}
	return (size_t)h;
}

static bool key_eq(const struct crid_toml_kv *kv, const char *s, size_t n)
{
	return kv->key_len == n && memcmp(kv->key, s, n) == 0;
}

static void index_insert(size_t *index, size_t cap, const struct crid_toml_kv *kv, size_t slot)
{
	size_t i = hash_key(kv->key, kv->key_len) & (cap - 1);

	while (index[i])
		i = (i + 1) & (cap - 1);
	index[i] = slot;
}

static struct crid_toml_kv *table_find(const struct crid_toml_value *t, const char *s, size_t n)
{
	struct crid_toml_kv *items = t->u.table.items;
	size_t cap = t->u.table.index_cap;

	if (!t->u.table.index) {
		for (size_t i = 0; i < t->u.table.n; i++)
			if (key_eq(&items[i], s, n))
				return &items[i];
		return NULL;
	}
	for (size_t i = hash_key(s, n) & (cap - 1); t->u.table.index[i]; i = (i + 1) & (cap - 1))
		if (key_eq(&items[t->u.table.index[i] - 1], s, n))
			return &items[t->u.table.index[i] - 1];
	return NULL;
}

/* Rebuilds the index for |want| entries at a load factor of at most 1/2. */
static int index_rebuild(struct crid_toml_value *t, size_t want)
{
	size_t cap = 16, *index;

	while (cap < want * 2)
		cap *= 2;
	index = crid_calloc(cap, sizeof(*index));
	if (!index)
		return -1;
	for (size_t i = 0; i < t->u.table.n; i++)
		index_insert(index, cap, &t->u.table.items[i], i + 1);
	crid_free(t->u.table.index);
	t->u.table.index = index;
	t->u.table.index_cap = cap;
	return 0;
}

/* Appends |kp| = |v|. Takes kp->s (set to NULL) on success; on error the caller keeps both. */
static int table_add(struct parser *p, struct crid_toml_value *t, struct key_part *kp,
		     struct crid_toml_value *v)
{
	size_t n = t->u.table.n;
	struct crid_toml_kv *kv;

	if (n == t->u.table.cap) {
		size_t cap = n ? n * 2 : 4;

		kv = crid_realloc(t->u.table.items, cap * sizeof(*kv));
		if (!kv)
			return oom(p);
		t->u.table.items = kv;
		t->u.table.cap = cap;
	}
	if (n + 1 >= INDEX_MIN && (n + 1) * 2 > t->u.table.index_cap && index_rebuild(t, n + 1) < 0)
		return oom(p);
	kv = &t->u.table.items[n];
	kv->key = kp->s;
	kv->key_len = kp->len;
	kv->line = kp->line;
	kv->col = kp->col;
	kv->value = v;
	kp->s = NULL;
	t->u.table.n++;
	if (t->u.table.index)
		index_insert(t->u.table.index, t->u.table.index_cap, kv, n + 1);
	return 0;
}

/* On error the caller still owns |v|. */
static int array_push(struct parser *p, struct crid_toml_value *a, struct crid_toml_value *v)
{
	if (a->u.array.n == a->u.array.cap) {
		size_t cap = a->u.array.cap ? a->u.array.cap * 2 : 4;
		struct crid_toml_value **items;

		items = crid_realloc(a->u.array.items, cap * sizeof(*items));
		if (!items)
			return oom(p);
		a->u.array.items = items;
		a->u.array.cap = cap;
	}
	a->u.array.items[a->u.array.n++] = v;
	return 0;
}

/* ---- numbers, booleans ---- */

/* Digits of |radix| with single underscores between digits: "1_000", not "_1", "1_", "1__0". */
static bool digit_group_ok(const char *s, size_t n, int radix)
{
	if (n == 0)
		return false;
	for (size_t i = 0; i < n; i++) {
		if (s[i] == '_') {
			if (i == 0 || i == n - 1 || s[i - 1] == '_')
				return false;
		} else {
			int d = hex_value(s[i]);

			if (d < 0 || d >= radix)
				return false;
		}
	}
	return true;
}

static bool has_radix_prefix(const char *t, size_t n)
{
	size_t i = t[0] == '+' || t[0] == '-';

	return n - i > 1 && t[i] == '0' && (t[i + 1] == 'x' || t[i + 1] == 'o' || t[i + 1] == 'b');
}

static int parse_integer(struct parser *p, const char *t, size_t n, unsigned line, unsigned col,
			 long long *out)
{
	unsigned long long acc = 0, limit = LLONG_MAX;
	bool neg = t[0] == '-';
	size_t i = t[0] == '+' || t[0] == '-';
	int radix = 10;

	if (has_radix_prefix(t, n)) {
		if (i)
			return fail_at(
			    p, line, col,
			    "a sign is not allowed on a hexadecimal, octal or binary integer");
		radix = t[1] == 'x' ? 16 : t[1] == 'o' ? 8 : 2;
		i = 2;
	} else if (n - i > 1 && t[i] == '0') {
		return fail_at(p, line, col, "leading zeros are not allowed in `%s`", SHOW(t, n));
	}
	if (!digit_group_ok(t + i, n - i, radix))
		return fail_at(p, line, col, "invalid integer `%s`", SHOW(t, n));
	if (neg)
		limit++;
	for (; i < n; i++) {
		unsigned d;

		if (t[i] == '_')
			continue;
		d = (unsigned)hex_value(t[i]);
		if (acc > (limit - d) / (unsigned)radix)
			return fail_at(p, line, col, "integer `%s` does not fit in 64 bits",
				       SHOW(t, n));
		acc = acc * (unsigned)radix + d;
	}
	if (!neg)
		*out = (long long)acc;
	else
		*out = acc == limit ? LLONG_MIN : -(long long)acc;
	return 0;
}

/* [sign] int [. digits] [e [sign] digits], where at least one of the optional parts is present. */
static bool float_syntax_ok(const char *t, size_t n)
{
	size_t i = t[0] == '+' || t[0] == '-', j, k;

	for (j = i; j < n && t[j] != '.' && t[j] != 'e' && t[j] != 'E'; j++)
		;
	if (!digit_group_ok(t + i, j - i, 10) || (j - i > 1 && t[i] == '0'))
		return false;
	if (j < n && t[j] == '.') {
		for (k = j + 1; k < n && t[k] != 'e' && t[k] != 'E'; k++)
			;
		if (!digit_group_ok(t + j + 1, k - j - 1, 10))
			return false;
		j = k;
	}
	if (j < n) {
		k = j + 1;
		if (k < n && (t[k] == '+' || t[k] == '-'))
			k++;
		if (!digit_group_ok(t + k, n - k, 10))
			return false;
	}
	return true;
}

static int parse_float(struct parser *p, const char *t, size_t n, unsigned line, unsigned col,
		       double *out)
{
	char tmp[FLOAT_MAX_LEN + 1], *end;
	size_t m = 0;

	if (n > FLOAT_MAX_LEN)
		return fail_at(p, line, col, "float `%s` is too long", SHOW(t, n));
	if (!float_syntax_ok(t, n))
		return fail_at(p, line, col, "invalid float `%s`", SHOW(t, n));
	for (size_t i = 0; i < n; i++)
		if (t[i] != '_')
			tmp[m++] = t[i];
	tmp[m] = '\0';
	/* crid never calls setlocale(LC_NUMERIC), so strtod's decimal point is '.'. */
	*out = strtod(tmp, &end);
	if (*end != '\0')
		return fail_at(p, line, col, "invalid float `%s`", SHOW(t, n));
	if (isinf(*out))
		return fail_at(p, line, col, "float `%s` is out of range", SHOW(t, n));
	return 0;
}

/* 1979-05-27, 1979-05-27T07:32:00Z or 07:32:00: valid TOML that crid does not take. */
static bool looks_like_datetime(const char *t, size_t n, int next)
{
	if (n >= 5 && is_digit(t[0]) && is_digit(t[1]) && is_digit(t[2]) && is_digit(t[3]) &&
	    t[4] == '-')
		return true;
	return n == 2 && is_digit(t[0]) && is_digit(t[1]) && next == ':';
}

static bool token_is(const char *t, size_t n, const char *word)
{
	return strlen(word) == n && memcmp(t, word, n) == 0;
}

static bool looks_like_float(const char *t, size_t n)
{
	return memchr(t, '.', n) || memchr(t, 'e', n) || memchr(t, 'E', n);
}

static bool is_token_char(int c)
{
	return is_bare(c) || c == '+' || c == '.';
}

/* Booleans, integers, floats: fills type and value of |v|. */
static int parse_scalar(struct parser *p, struct crid_toml_value *v)
{
	unsigned line = p->line, col = p->col;
	const char *t = (const char *)p->buf + p->pos;
	size_t n = 0, s;

	while (is_token_char(peek_at(p, n)))
		n++;
	if (n == 0)
		return fail_here(p, "expected a value, found %s", FOUND(p));
	s = t[0] == '+' || t[0] == '-';
	if (looks_like_datetime(t, n, peek_at(p, n)))
		return fail_here(p, "dates and times are not supported");
	adv_n(p, n);
	v->type = CRID_TOML_BOOL;
	if (token_is(t, n, "true") || token_is(t, n, "false")) {
		v->u.boolean = t[0] == 't';
		return 0;
	}
	v->type = CRID_TOML_FLOAT;
	if (token_is(t + s, n - s, "inf") || token_is(t + s, n - s, "nan")) {
		v->u.flt = t[s] == 'i' ? INFINITY : NAN;
		if (t[0] == '-')
			v->u.flt = -v->u.flt;
		return 0;
	}
	if (n == s || !is_digit(t[s]))
		return fail_at(p, line, col, "invalid value `%s` (strings need quotes)",
			       SHOW(t, n));
	if (!has_radix_prefix(t, n) && looks_like_float(t, n))
		return parse_float(p, t, n, line, col, &v->u.flt);
	v->type = CRID_TOML_INTEGER;
	return parse_integer(p, t, n, line, col, &v->u.integer);
}

/* ---- keys ---- */

static void key_free(struct key *k)
{
	for (size_t i = 0; i < k->n; i++)
		crid_free(k->part[i].s);
	k->n = 0;
}

static int parse_key_part(struct parser *p, struct key_part *kp)
{
	size_t start = p->pos;
	int c = peek(p);

	kp->line = p->line;
	kp->col = p->col;
	if (c == '"' || c == '\'') {
		struct sbuf b;

		if (parse_string(p, &b, true) < 0)
			return -1;
		kp->s = b.s;
		kp->len = b.len;
		return 0;
	}
	if (!is_bare(c))
		return fail_here(p, "expected a key, found %s", FOUND(p));
	while (is_bare(peek(p)))
		adv(p);
	kp->len = p->pos - start;
	kp->s = crid_strndup((const char *)p->buf + start, kp->len);
	return kp->s ? 0 : oom(p);
}

/* A dotted key, and the blanks after it. On error |k| holds nothing. */
static int parse_key(struct parser *p, struct key *k)
{
	k->n = 0;
	for (;;) {
		if (k->n == CRID_TOML_MAX_DEPTH) {
			key_free(k);
			return fail_here(p, "key has more than %d parts", CRID_TOML_MAX_DEPTH);
		}
		if (parse_key_part(p, &k->part[k->n]) < 0) {
			key_free(k);
			return -1;
		}
		k->n++;
		skip_ws(p);
		if (peek(p) != '.')
			return 0;
		adv(p);
		skip_ws(p);
	}
}

/* ---- values ---- */

static int parse_value(struct parser *p, unsigned depth, struct crid_toml_value **out);
static int parse_keyval(struct parser *p, struct crid_toml_value *tab);

static int parse_array(struct parser *p, unsigned depth, struct crid_toml_value **out)
{
	struct crid_toml_value *arr = new_value(p, CRID_TOML_ARRAY, p->line, p->col, depth), *item;

	if (!arr)
		return -1;
	arr->flags = T_SEALED;
	adv(p);
	for (;;) {
		skip_ws_nl(p);
		if (peek(p) == ']')
			break;
		if (parse_value(p, depth + 1, &item) < 0)
			goto fail;
		if (array_push(p, arr, item) < 0) {
			crid_toml_free(item);
			goto fail;
		}
		skip_ws_nl(p);
		if (peek(p) == ',') {
			adv(p);
			continue;
		}
		if (peek(p) != ']') {
			fail_here(p, "expected `,` or `]` after an array item, found %s", FOUND(p));
			goto fail;
		}
		break;
	}
	adv(p);
	*out = arr;
	return 0;
fail:
	crid_toml_free(arr);
	return -1;
}

/* TOML 1.0 inline tables fit on one line and take no trailing comma. */
static int inline_table_body(struct parser *p, struct crid_toml_value *t)
{
	skip_ws(p);
	if (peek(p) == '}')
		return 0;
	for (;;) {
		if (is_newline(peek(p)))
			return fail_here(p, "an inline table must be closed on the line it starts");
		if (parse_keyval(p, t) < 0)
			return -1;
		skip_ws(p);
		if (peek(p) == '}')
			return 0;
		if (is_newline(peek(p)))
			return fail_here(p, "an inline table must be closed on the line it starts");
		if (peek(p) != ',')
			return fail_here(p, "expected `,` or `}` in an inline table, found %s",
					 FOUND(p));
		adv(p);
		skip_ws(p);
		if (peek(p) == '}')
			return fail_here(p, "a trailing comma is not allowed in an inline table");
	}
}

static int parse_inline_table(struct parser *p, unsigned depth, struct crid_toml_value **out)
{
	struct crid_toml_value *t = new_value(p, CRID_TOML_TABLE, p->line, p->col, depth);

	if (!t)
		return -1;
	t->flags = T_SEALED;
	adv(p);
	if (inline_table_body(p, t) < 0) {
		crid_toml_free(t);
		return -1;
	}
	adv(p);
	*out = t;
	return 0;
}

static int parse_value(struct parser *p, unsigned depth, struct crid_toml_value **out)
{
	struct crid_toml_value tmp = { 0 };
	unsigned line = p->line, col = p->col;
	int c = peek(p);

	if (c == '[')
		return parse_array(p, depth, out);
	if (c == '{')
		return parse_inline_table(p, depth, out);
	if (c == '"' || c == '\'') {
		struct sbuf b;

		if (parse_string(p, &b, false) < 0)
			return -1;
		tmp.type = CRID_TOML_STRING;
		tmp.u.str.ptr = b.s;
		tmp.u.str.len = b.len;
	} else if (parse_scalar(p, &tmp) < 0) {
		return -1;
	}
	*out = new_value(p, tmp.type, line, col, depth);
	if (!*out) {
		if (tmp.type == CRID_TOML_STRING)
			crid_free(tmp.u.str.ptr);
		return -1;
	}
	(*out)->u = tmp.u;
	return 0;
}

/* ---- placing keys and tables ---- */

/* Part |i| of a dotted key: an existing dotted-key table, or a new one. */
static struct crid_toml_value *dotted_child(struct parser *p, struct crid_toml_value *t,
					    struct key *k, size_t i)
{
	struct key_part *kp = &k->part[i];
	struct crid_toml_kv *kv = table_find(t, kp->s, kp->len);
	struct crid_toml_value *c;

	if (!kv) {
		c = new_value(p, CRID_TOML_TABLE, kp->line, kp->col, t->depth + 1u);
		if (!c)
			return NULL;
		c->flags = T_DOTTED;
		if (table_add(p, t, kp, c) < 0) {
			crid_toml_free(c);
			return NULL;
		}
		return c;
	}
	c = kv->value;
	/*
	 * A parent a header created implicitly may take dotted keys, after
	 * which it counts as defined by them (tomllib does the same).
	 */
	if (c->type == CRID_TOML_TABLE && (c->flags & (T_DOTTED | T_IMPLICIT))) {
		c->flags = T_DOTTED;
		return c;
	}
	if (c->type != CRID_TOML_TABLE)
		fail_at(p, kp->line, kp->col, "`%s` is already defined as %s", SHOW_KEY(k, i + 1),
			crid_toml_type_name(c->type));
	else
		fail_at(p, kp->line, kp->col,
			"table `%s` is defined elsewhere and cannot be extended with dotted keys",
			SHOW_KEY(k, i + 1));
	return NULL;
}

/* Stores |v| under the dotted key |k| in |t|. Takes |v| (freed on error). */
static int insert_dotted(struct parser *p, struct crid_toml_value *t, struct key *k,
			 struct crid_toml_value *v)
{
	struct key_part *last = &k->part[k->n - 1];

	for (size_t i = 0; i + 1 < k->n; i++) {
		t = dotted_child(p, t, k, i);
		if (!t)
			goto fail;
	}
	if (table_find(t, last->s, last->len)) {
		fail_at(p, last->line, last->col, "duplicate key `%s`", SHOW_KEY(k, k->n));
		goto fail;
	}
	if (table_add(p, t, last, v) < 0)
		goto fail;
	return 0;
fail:
	crid_toml_free(v);
	return -1;
}

static int parse_keyval(struct parser *p, struct crid_toml_value *tab)
{
	struct crid_toml_value *v;
	struct key k;
	int r = -1;

	if (parse_key(p, &k) < 0)
		return -1;
	if (peek(p) != '=') {
		fail_here(p, "expected `=` after key `%s`, found %s", SHOW_KEY(&k, k.n), FOUND(p));
		goto out;
	}
	adv(p);
	skip_ws(p);
	if (parse_value(p, tab->depth + (unsigned)k.n, &v) < 0)
		goto out;
	r = insert_dotted(p, tab, &k, v);
out:
	key_free(&k);
	return r;
}

/* Part |i| of a header key: walks into tables and the last element of arrays of tables. */
static struct crid_toml_value *header_child(struct parser *p, struct crid_toml_value *t,
					    struct key *k, size_t i, unsigned line, unsigned col)
{
	struct key_part *kp = &k->part[i];
	struct crid_toml_kv *kv = table_find(t, kp->s, kp->len);
	struct crid_toml_value *c;

	if (!kv) {
		c = new_value(p, CRID_TOML_TABLE, line, col, t->depth + 1u);
		if (!c)
			return NULL;
		c->flags = T_IMPLICIT;
		if (table_add(p, t, kp, c) < 0) {
			crid_toml_free(c);
			return NULL;
		}
		return c;
	}
	c = kv->value;
	if (c->type == CRID_TOML_TABLE && !(c->flags & T_SEALED))
		return c;
	if (c->type == CRID_TOML_ARRAY && (c->flags & T_AOT))
		return c->u.array.items[c->u.array.n - 1];
	if (c->type == CRID_TOML_TABLE)
		fail_at(p, kp->line, kp->col, "inline table `%s` cannot be extended",
			SHOW_KEY(k, i + 1));
	else
		fail_at(p, kp->line, kp->col, "`%s` is already defined as %s", SHOW_KEY(k, i + 1),
			crid_toml_type_name(c->type));
	return NULL;
}

/* [a.b.c]: a table defined once; a parent created implicitly may be defined later. */
static struct crid_toml_value *define_table(struct parser *p, struct crid_toml_value *t,
					    struct key *k, unsigned line, unsigned col)
{
	struct key_part *kp = &k->part[k->n - 1];
	struct crid_toml_kv *kv = table_find(t, kp->s, kp->len);
	struct crid_toml_value *c;

	if (!kv) {
		c = new_value(p, CRID_TOML_TABLE, line, col, t->depth + 1u);
		if (!c)
			return NULL;
		c->flags = T_HEADER;
		if (table_add(p, t, kp, c) < 0) {
			crid_toml_free(c);
			return NULL;
		}
		return c;
	}
	c = kv->value;
	if (c->type == CRID_TOML_TABLE && c->flags == T_IMPLICIT) {
		c->flags = T_HEADER;
		c->line = line;
		c->col = col;
		return c;
	}
	if (c->type == CRID_TOML_TABLE)
		fail_at(p, line, col, "table `%s` is already defined", SHOW_KEY(k, k->n));
	else
		fail_at(p, line, col, "`%s` is already defined as %s", SHOW_KEY(k, k->n),
			crid_toml_type_name(c->type));
	return NULL;
}

/* [[a.b.c]]: appends a table to the array of tables a.b.c, creating it if needed. */
static struct crid_toml_value *define_aot_element(struct parser *p, struct crid_toml_value *t,
						  struct key *k, unsigned line, unsigned col)
{
	struct key_part *kp = &k->part[k->n - 1];
	struct crid_toml_kv *kv = table_find(t, kp->s, kp->len);
	struct crid_toml_value *arr, *el;

	if (!kv) {
		arr = new_value(p, CRID_TOML_ARRAY, line, col, t->depth + 1u);
		if (!arr)
			return NULL;
		arr->flags = T_AOT;
		if (table_add(p, t, kp, arr) < 0) {
			crid_toml_free(arr);
			return NULL;
		}
	} else if (kv->value->type == CRID_TOML_ARRAY && (kv->value->flags & T_AOT)) {
		arr = kv->value;
	} else {
		fail_at(p, line, col, "`%s` is already defined as %s, not as an array of tables",
			SHOW_KEY(k, k->n), crid_toml_type_name(kv->value->type));
		return NULL;
	}
	el = new_value(p, CRID_TOML_TABLE, line, col, arr->depth + 1u);
	if (!el)
		return NULL;
	el->flags = T_HEADER;
	if (array_push(p, arr, el) < 0) {
		crid_toml_free(el);
		return NULL;
	}
	return el;
}

/* [table] or [[array.of.tables]]: makes |*cur| the table later keys go to. */
static int parse_header(struct parser *p, struct crid_toml_value *root,
			struct crid_toml_value **cur)
{
	unsigned line = p->line, col = p->col;
	struct crid_toml_value *t = root;
	struct key k;
	bool aot;
	int r = -1;

	adv(p);
	aot = peek(p) == '[';
	if (aot)
		adv(p);
	skip_ws(p);
	if (parse_key(p, &k) < 0)
		return -1;
	if (peek(p) != ']' || (aot && peek_at(p, 1) != ']')) {
		fail_here(p, "expected `%s` to close the table header, found %s", aot ? "]]" : "]",
			  FOUND(p));
		goto out;
	}
	adv_n(p, aot ? 2 : 1);
	for (size_t i = 0; t && i + 1 < k.n; i++)
		t = header_child(p, t, &k, i, line, col);
	if (t)
		t = aot ? define_aot_element(p, t, &k, line, col)
			: define_table(p, t, &k, line, col);
	if (t) {
		*cur = t;
		r = 0;
	}
out:
	key_free(&k);
	return r;
}

/* Blanks, maybe a comment, then a newline or the end of the document. */
static int end_of_line(struct parser *p)
{
	skip_ws(p);
	if (peek(p) == '#')
		skip_comment(p);
	if (peek(p) < 0)
		return 0;
	if (peek(p) == '\r')
		adv(p);
	if (peek(p) == '\n') {
		adv(p);
		return 0;
	}
	return fail_here(p, "expected the end of the line, found %s", FOUND(p));
}

static int parse_document(struct parser *p, struct crid_toml_value *root)
{
	struct crid_toml_value *cur = root;

	for (;;) {
		int c;

		skip_ws(p);
		c = peek(p);
		if (c < 0)
			return 0;
		if (c == '[') {
			if (parse_header(p, root, &cur) < 0)
				return -1;
		} else if (c != '#' && !is_newline(c)) {
			if (parse_keyval(p, cur) < 0)
				return -1;
		}
		if (end_of_line(p) < 0)
			return -1;
	}
}

int crid_toml_parse(const char *name, const char *buf, size_t len, struct crid_toml_value **root,
		    struct crid_err *err)
{
	struct parser p = {
		.name = name ? name : "<toml>",
		.buf = (const unsigned char *)buf,
		.len = len,
		.line = 1,
		.col = 1,
		.err = err,
	};
	struct crid_toml_value *r;

	*root = NULL;
	if (check_text(&p) < 0)
		return -1;
	/* Editors on some systems write a byte order mark; it is not content. */
	if (len >= 3 && memcmp(buf, "\xEF\xBB\xBF", 3) == 0)
		p.pos = 3;
	r = new_value(&p, CRID_TOML_TABLE, 1, 1, 0);
	if (!r)
		return -1;
	r->flags = T_HEADER;
	if (parse_document(&p, r) < 0) {
		crid_toml_free(r);
		return -1;
	}
	*root = r;
	return 0;
}

/* ---- lookups ---- */

const struct crid_toml_kv *crid_toml_get_kv(const struct crid_toml_value *table, const char *key,
					    size_t len)
{
	if (!table || table->type != CRID_TOML_TABLE)
		return NULL;
	return table_find(table, key, len);
}

const struct crid_toml_value *crid_toml_get(const struct crid_toml_value *table, const char *key)
{
	const struct crid_toml_kv *kv = crid_toml_get_kv(table, key, strlen(key));

	return kv ? kv->value : NULL;
}

size_t crid_toml_len(const struct crid_toml_value *v)
{
	if (v && v->type == CRID_TOML_TABLE)
		return v->u.table.n;
	if (v && v->type == CRID_TOML_ARRAY)
		return v->u.array.n;
	return 0;
}

const struct crid_toml_kv *crid_toml_table_at(const struct crid_toml_value *table, size_t i)
{
	if (!table || table->type != CRID_TOML_TABLE || i >= table->u.table.n)
		return NULL;
	return &table->u.table.items[i];
}

const struct crid_toml_value *crid_toml_array_at(const struct crid_toml_value *array, size_t i)
{
	if (!array || array->type != CRID_TOML_ARRAY || i >= array->u.array.n)
		return NULL;
	return array->u.array.items[i];
}
