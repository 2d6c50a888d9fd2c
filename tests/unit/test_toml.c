/* Unit tests for runtime/toml.c: every value kind, the table rules, every error with its position. */
#include <errno.h>
#include <math.h>
#include <stdarg.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "reactor/mem.h"
#include "runtime/config/toml.h"
#include "tap.h"

static struct crid_toml_value *parse(const char *doc)
{
	struct crid_toml_value *root;
	struct crid_err err = { 0 };

	if (crid_toml_parse("t.toml", doc, strlen(doc), &root, &err) < 0) {
		printf("# unexpected error: %s\n", err.msg);
		return NULL;
	}
	return root;
}

/* Follows a dotted path of bare keys ("a.b.c") from |root|. */
static const struct crid_toml_value *get(const struct crid_toml_value *root, const char *path)
{
	char buf[256], *save = NULL;
	const struct crid_toml_value *v = root;

	snprintf(buf, sizeof(buf), "%s", path);
	for (char *k = strtok_r(buf, ".", &save); k && v; k = strtok_r(NULL, ".", &save))
		v = crid_toml_get(v, k);
	return v;
}

static bool is_str(const struct crid_toml_value *v, const char *s, size_t len)
{
	return v && v->type == CRID_TOML_STRING && v->u.str.len == len &&
	       memcmp(v->u.str.ptr, s, len) == 0 && v->u.str.ptr[len] == '\0';
}

#define IS_STR(v, lit) is_str((v), (lit), sizeof(lit) - 1)

static bool is_int(const struct crid_toml_value *v, long long n)
{
	return v && v->type == CRID_TOML_INTEGER && v->u.integer == n;
}

static bool is_float(const struct crid_toml_value *v, double d)
{
	return v && v->type == CRID_TOML_FLOAT && v->u.flt == d && signbit(v->u.flt) == signbit(d);
}

static bool is_bool(const struct crid_toml_value *v, bool b)
{
	return v && v->type == CRID_TOML_BOOL && v->u.boolean == b;
}

static void test_scalars(void)
{
	struct crid_toml_value *r =
	    parse("i1 = 42\ni2 = +17\ni3 = -0\ni4 = 1_000_000\n"
		  "i5 = 9223372036854775807\ni6 = -9223372036854775808\n"
		  "h = 0xDEAD_beef\no = 0o755\nb = 0b1101_0110\n"
		  "f1 = 3.1415\nf2 = -0.01\nf3 = 5e+22\nf4 = 1e06\nf5 = -2E-2\n"
		  "f6 = 6.626e-34\nf7 = 224_617.445_991\nf8 = -0.0\nf9 = 1e-400\n"
		  "inf1 = inf\ninf2 = -inf\nnan1 = nan\nnan2 = -nan\n"
		  "t = true\nfa = false\n");

	CHECK(r != NULL, "scalars parse");
	if (!r)
		return;
	CHECK(is_int(get(r, "i1"), 42) && is_int(get(r, "i2"), 17) && is_int(get(r, "i3"), 0),
	      "decimal integers");
	CHECK(is_int(get(r, "i4"), 1000000), "integer underscores");
	CHECK(is_int(get(r, "i5"), 9223372036854775807LL) &&
		  is_int(get(r, "i6"), -9223372036854775807LL - 1),
	      "64-bit integer limits");
	CHECK(is_int(get(r, "h"), 0xdeadbeef) && is_int(get(r, "o"), 0755) &&
		  is_int(get(r, "b"), 0xd6),
	      "hex, octal, binary integers");
	CHECK(is_float(get(r, "f1"), 3.1415) && is_float(get(r, "f2"), -0.01) &&
		  is_float(get(r, "f3"), 5e22) && is_float(get(r, "f4"), 1e6) &&
		  is_float(get(r, "f5"), -2e-2) && is_float(get(r, "f6"), 6.626e-34),
	      "floats");
	CHECK(is_float(get(r, "f7"), 224617.445991), "float underscores");
	CHECK(is_float(get(r, "f8"), -0.0) && is_float(get(r, "f9"), 0.0),
	      "signed zero, underflow");
	CHECK(is_float(get(r, "inf1"), INFINITY) && is_float(get(r, "inf2"), -INFINITY),
	      "infinities");
	CHECK(get(r, "nan1") && get(r, "nan1")->type == CRID_TOML_FLOAT &&
		  isnan(get(r, "nan1")->u.flt) && isnan(get(r, "nan2")->u.flt),
	      "nan");
	CHECK(is_bool(get(r, "t"), true) && is_bool(get(r, "fa"), false), "booleans");
	crid_toml_free(r);
}

static void test_strings(void)
{
	struct crid_toml_value *r =
	    parse("e = \"\\b\\t\\n\\f\\r\\\"\\\\\"\n"
		  "u = \"\\u00E9\\U0001F600\"\n"
		  "z = \"a\\u0000b\"\n"
		  "raw = \"caf\xC3\xA9 \t tab\"\n"
		  "lit = 'C:\\Users\\nodejs\\templates'\n"
		  "empty = \"\"\n"
		  "ml = \"\"\"\nRoses are red\nViolets are blue\"\"\"\n"
		  "cont = \"\"\"\\\n  The quick \\\n\n   brown fox.\\\n  \"\"\"\n"
		  "q = \"\"\"Here are \"\"two\"\" quotes: \"\"\"\"\"\n"
		  "mll = '''\nfirst newline trimmed\n  raw \\n here'''\n"
		  "mlq = ''''That's' it'''''\n"
		  "crlf = \"\"\"a\r\nb\"\"\"\r\n");

	CHECK(r != NULL, "strings parse");
	if (!r)
		return;
	CHECK(IS_STR(get(r, "e"), "\b\t\n\f\r\"\\"), "basic escapes");
	CHECK(IS_STR(get(r, "u"), "\xC3\xA9\xF0\x9F\x98\x80"), "\\u and \\U escapes to UTF-8");
	CHECK(IS_STR(get(r, "z"), "a\0b"), "\\u0000 kept, length counts it");
	CHECK(IS_STR(get(r, "raw"), "caf\xC3\xA9 \t tab"), "raw UTF-8 and tab in a string");
	CHECK(IS_STR(get(r, "lit"), "C:\\Users\\nodejs\\templates"), "literal string");
	CHECK(IS_STR(get(r, "empty"), ""), "empty string");
	CHECK(IS_STR(get(r, "ml"), "Roses are red\nViolets are blue"),
	      "multi-line basic, first newline trimmed");
	CHECK(IS_STR(get(r, "cont"), "The quick brown fox."), "line-ending backslash");
	CHECK(IS_STR(get(r, "q"), "Here are \"\"two\"\" quotes: \"\""),
	      "quotes inside and right before the closing delimiter");
	CHECK(IS_STR(get(r, "mll"), "first newline trimmed\n  raw \\n here"), "multi-line literal");
	CHECK(IS_STR(get(r, "mlq"), "'That's' it''"), "single quotes in multi-line literal");
	CHECK(IS_STR(get(r, "crlf"), "a\nb"), "CRLF in multi-line string becomes LF");
	crid_toml_free(r);
}

static void test_keys_and_tables(void)
{
	struct crid_toml_value *r = parse("name.first = \"Tom\"\n"
					  "name . last = \"P\"\n"
					  "\"quoted.key\" = 1\n"
					  "'lit key' = 2\n"
					  "site.\"google.com\" = true\n"
					  "1234 = 'bare digits'\n"
					  "[x.y.z]\n"
					  "w = 1\n"
					  "[x]\n"
					  "v = 2\n"
					  "[fruit]\n"
					  "apple.color = \"red\"\n"
					  "[fruit.apple.texture]\n"
					  "smooth = true\n"
					  "[ spaced . header ]\n"
					  "[x.y.q]\n"
					  "[x.y]\n"
					  "n = 3\n");
	const struct crid_toml_kv *kv;

	CHECK(r != NULL, "keys and tables parse");
	if (!r)
		return;
	CHECK(IS_STR(get(r, "name.first"), "Tom") && IS_STR(get(r, "name.last"), "P"),
	      "dotted keys, blanks around the dot");
	CHECK(is_int(crid_toml_get(r, "quoted.key"), 1) && is_int(crid_toml_get(r, "lit key"), 2),
	      "quoted keys");
	CHECK(is_bool(crid_toml_get(crid_toml_get(r, "site"), "google.com"), true),
	      "quoted part of a dotted key");
	CHECK(IS_STR(get(r, "1234"), "bare digits"), "digit-only bare key");
	CHECK(is_int(get(r, "x.y.z.w"), 1) && is_int(get(r, "x.v"), 2) &&
		  is_int(get(r, "x.y.n"), 3),
	      "implicit tables defined later");
	CHECK(IS_STR(get(r, "fruit.apple.color"), "red") &&
		  is_bool(get(r, "fruit.apple.texture.smooth"), true),
	      "sub-table of a dotted-key table");
	CHECK(get(r, "spaced.header") && get(r, "spaced.header")->type == CRID_TOML_TABLE,
	      "blanks inside a header");
	kv = crid_toml_get_kv(get(r, "x"), "v", 1);
	CHECK(kv && kv->line == 10 && kv->col == 1 && kv->value->line == 10 && kv->value->col == 5,
	      "key and value positions");
	kv = crid_toml_get_kv(get(r, "fruit.apple"), "texture", 7);
	CHECK(kv && kv->line == 13 && kv->col == 14, "header part position");
	CHECK(crid_toml_table_at(r, 0) && strcmp(crid_toml_table_at(r, 0)->key, "name") == 0 &&
		  crid_toml_table_at(r, crid_toml_len(r)) == NULL,
	      "entries in written order");
	crid_toml_free(r);
}

static void test_arrays_and_inline(void)
{
	struct crid_toml_value *r = parse("a = [ 1, 2, 3 ]\n"
					  "e = []\n"
					  "n = [ [ 1, 2 ], [\"a\", 'b'], [ [ ] ] ]\n"
					  "m = [ 0.1, \"x\", true, { k = 1 } ]\n"
					  "ml = [\n"
					  "  1, # one\n"
					  "  # a comment line\n"
					  "  2,\n"
					  "]\n"
					  "it = { x = 1, y.z = \"w\", n = { deep = [ {} ] } }\n"
					  "ie = {}\n");
	const struct crid_toml_value *v;

	CHECK(r != NULL, "arrays and inline tables parse");
	if (!r)
		return;
	v = get(r, "a");
	CHECK(v && v->type == CRID_TOML_ARRAY && crid_toml_len(v) == 3 &&
		  is_int(crid_toml_array_at(v, 2), 3) && !crid_toml_array_at(v, 3),
	      "simple array");
	CHECK(crid_toml_len(get(r, "e")) == 0 && get(r, "e")->type == CRID_TOML_ARRAY,
	      "empty array");
	v = get(r, "n");
	CHECK(v && crid_toml_len(v) == 3 &&
		  IS_STR(crid_toml_array_at(crid_toml_array_at(v, 1), 1), "b"),
	      "nested arrays");
	v = get(r, "m");
	CHECK(v && crid_toml_len(v) == 4 && is_int(crid_toml_get(crid_toml_array_at(v, 3), "k"), 1),
	      "mixed-type array with an inline table");
	v = get(r, "ml");
	CHECK(v && crid_toml_len(v) == 2 && is_int(crid_toml_array_at(v, 1), 2),
	      "multi-line array, comments, trailing comma");
	CHECK(is_int(get(r, "it.x"), 1) && IS_STR(get(r, "it.y.z"), "w") &&
		  crid_toml_len(get(r, "it.n.deep")) == 1,
	      "inline table with dotted keys and nesting");
	CHECK(get(r, "ie") && get(r, "ie")->type == CRID_TOML_TABLE &&
		  crid_toml_len(get(r, "ie")) == 0,
	      "empty inline table");
	crid_toml_free(r);
}

static void test_array_of_tables(void)
{
	struct crid_toml_value *r = parse("[[fruits]]\n"
					  "name = \"apple\"\n"
					  "[fruits.physical]\n"
					  "color = \"red\"\n"
					  "[[fruits.varieties]]\n"
					  "name = \"red delicious\"\n"
					  "[[fruits.varieties]]\n"
					  "name = \"granny smith\"\n"
					  "[[fruits]]\n"
					  "name = \"banana\"\n"
					  "[[fruits.varieties]]\n"
					  "name = \"plantain\"\n"
					  "[[ empty ]]\n"
					  "[[ empty ]]\n");
	const struct crid_toml_value *f, *f0, *f1;

	CHECK(r != NULL, "array of tables parses");
	if (!r)
		return;
	f = get(r, "fruits");
	f0 = crid_toml_array_at(f, 0);
	f1 = crid_toml_array_at(f, 1);
	CHECK(f && f->type == CRID_TOML_ARRAY && crid_toml_len(f) == 2, "two elements");
	CHECK(IS_STR(get(f0, "physical.color"), "red") &&
		  crid_toml_len(get(f0, "varieties")) == 2 &&
		  IS_STR(crid_toml_get(crid_toml_array_at(get(f0, "varieties"), 1), "name"),
			 "granny smith"),
	      "sub-tables go to the last element");
	CHECK(IS_STR(get(f1, "name"), "banana") && crid_toml_len(get(f1, "varieties")) == 1,
	      "second element has its own sub-arrays");
	CHECK(crid_toml_len(get(r, "empty")) == 2, "empty elements");
	CHECK(f0 && f0->line == 1 && f1 && f1->line == 9, "element positions are their headers");
	crid_toml_free(r);
}

static void test_misc_valid(void)
{
	struct crid_toml_value *r;
	struct crid_err err = { 0 };

	r = parse("");
	CHECK(r && r->type == CRID_TOML_TABLE && crid_toml_len(r) == 0, "empty document");
	crid_toml_free(r);
	r = parse("# only a comment\n\n   \t\n# another");
	CHECK(r && crid_toml_len(r) == 0, "comments and blank lines");
	crid_toml_free(r);
	r = parse("\xEF\xBB\xBF"
		  "a = 1\r\nb = 2\r\n");
	CHECK(r && is_int(get(r, "a"), 1) && is_int(get(r, "b"), 2) &&
		  crid_toml_get_kv(r, "a", 1)->col == 1,
	      "byte order mark and CRLF");
	crid_toml_free(r);
	r = parse("a=1#c\n[t]#c\nb=\"#\"#c");
	CHECK(r && is_int(get(r, "a"), 1) && IS_STR(get(r, "t.b"), "#"), "comments without blanks");
	crid_toml_free(r);
	CHECK(crid_toml_parse("x", "a = 1", 5, &r, NULL) == 0, "NULL err is allowed");
	crid_toml_free(r);
	CHECK(crid_toml_parse("x", "a = ", 4, &r, NULL) < 0 && r == NULL,
	      "NULL err is allowed on error");
	/* The buffer need not be NUL-terminated: only |len| bytes are read. */
	CHECK(crid_toml_parse("x", "a = 12345", 6, &r, &err) == 0 && is_int(get(r, "a"), 12),
	      "length-bounded buffer");
	crid_toml_free(r);
	CHECK(strcmp(crid_toml_type_name(CRID_TOML_BOOL), "boolean") == 0 &&
		  strcmp(crid_toml_type_name(CRID_TOML_INTEGER), "integer") == 0,
	      "type names");
	CHECK(crid_toml_get(NULL, "a") == NULL && crid_toml_len(NULL) == 0 &&
		  crid_toml_table_at(NULL, 0) == NULL && crid_toml_array_at(NULL, 0) == NULL,
	      "lookups on NULL");
	crid_toml_free(NULL);
}

/* Past INDEX_MIN keys a table is hashed: lookups and duplicate checks must still be exact. */
static void test_large_table(void)
{
	size_t cap = 2000 * 24, n = 0;
	char *doc = malloc(cap);
	struct crid_toml_value *r;
	struct crid_err err = { 0 };
	bool all = true;
	char key[32];

	for (int i = 0; i < 2000; i++)
		n += (size_t)snprintf(doc + n, cap - n, "k%d = %d\n", i, i);
	r = parse(doc);
	for (int i = 0; r && i < 2000; i++) {
		snprintf(key, sizeof(key), "k%d", i);
		all &= is_int(crid_toml_get(r, key), i);
	}
	CHECK(r && all && crid_toml_len(r) == 2000 && !crid_toml_get(r, "k2000"),
	      "2000 keys: every lookup exact");
	crid_toml_free(r);
	n += (size_t)snprintf(doc + n, cap - n, "k1234 = 0\n");
	CHECK(crid_toml_parse("t.toml", doc, n, &r, &err) < 0 &&
		  strstr(err.msg, "t.toml:2001:1: duplicate key `k1234`"),
	      "duplicate found in a hashed table: %s", err.msg);
	free(doc);
}

struct bad {
	const char *doc;
	const char *want; /* expected prefix of the message, "t.toml:L:C: ..." */
};

static const struct bad bad_docs[] = {
	{ "a = 1\na = 2\n", "t.toml:2:1: duplicate key `a`" },
	{ "a = 1\n\"a\" = 2\n", "t.toml:2:1: duplicate key `a`" },
	{ "a.b = 1\na.b = 2\n", "t.toml:2:3: duplicate key `a.b`" },
	{ "[a]\nx = 1\n[a]\n", "t.toml:3:1: table `a` is already defined" },
	{ "[a]\nb.c = 1\n[a.b]\n", "t.toml:3:1: table `a.b` is already defined" },
	{ "[a.b]\n[a]\nb = 1\n", "t.toml:3:1: duplicate key `b`" },
	{ "[a.b.c]\nz = 9\n[a]\nb.c.t = 1\n",
	  "t.toml:4:3: table `b.c` is defined elsewhere and cannot be extended with dotted keys" },
	{ "a = {b = 1}\n[a]\n", "t.toml:2:1: table `a` is already defined" },
	{ "a = {b = 1}\n[a.c]\n", "t.toml:2:2: inline table `a` cannot be extended" },
	{ "a = {b = 1}\na.c = 2\n",
	  "t.toml:2:1: table `a` is defined elsewhere and cannot be extended with dotted keys" },
	{ "a = {b = {c = 1}, b.d = 2}\n",
	  "t.toml:1:19: table `b` is defined elsewhere and cannot be extended" },
	{ "a = [1]\n[[a]]\n", "t.toml:2:1: `a` is already defined as array, not as an array" },
	{ "[[a]]\n[a]\n", "t.toml:2:1: `a` is already defined as array" },
	{ "a = [{}]\n[a.b]\n", "t.toml:2:2: `a` is already defined as array" },
	{ "a.b = 1\na.b.c = 2\n", "t.toml:2:3: `a.b` is already defined as integer" },
	{ "a = \"\\q\"\n", "t.toml:1:6: invalid escape sequence `\\q`" },
	{ "a = \"\\e\"\n", "t.toml:1:6: invalid escape sequence `\\e`" },
	{ "a = \"\\ \"\n", "t.toml:1:6: invalid escape sequence (backslash before whitespace)" },
	{ "a = \"\\uD800\"\n", "t.toml:1:6: `\\uD800` is not a Unicode scalar value" },
	{ "a = \"\\U00110000\"\n", "t.toml:1:6: `\\U00110000` is not a Unicode scalar value" },
	{ "a = \"\\u12\"\n", "t.toml:1:6: `\\u` escape needs 4 hex digits" },
	{ "a = \"abc\nb = 1\n", "t.toml:1:5: string is not closed before the end of the line" },
	{ "a = 'abc", "t.toml:1:5: string is not closed" },
	{ "a = '''abc\n", "t.toml:1:5: multi-line string is never closed" },
	{ "a = \"\"\"x\"\"\"\"\"\"\n", "t.toml:1:9: too many quotes" },
	{ "\"\"\"k\"\"\" = 1\n", "t.toml:1:1: a multi-line string cannot be a key" },
	{ "a = 0x\n", "t.toml:1:5: invalid integer `0x`" },
	{ "a = 012\n", "t.toml:1:5: leading zeros are not allowed in `012`" },
	{ "a = 1__0\n", "t.toml:1:5: invalid integer `1__0`" },
	{ "a = _1\n", "t.toml:1:5: invalid value `_1`" },
	{ "a = 1_\n", "t.toml:1:5: invalid integer `1_`" },
	{ "a = 9223372036854775808\n", "t.toml:1:5: integer `9223372036854775808` does not fit" },
	{ "a = -9223372036854775809\n", "t.toml:1:5: integer `-9223372036854775809` does not fit" },
	{ "a = 0x8000000000000000\n", "t.toml:1:5: integer `0x8000000000000000` does not fit" },
	{ "a = +0x10\n", "t.toml:1:5: a sign is not allowed" },
	{ "a = 0b102\n", "t.toml:1:5: invalid integer `0b102`" },
	{ "a = 1.\n", "t.toml:1:5: invalid float `1.`" },
	{ "a = .5\n", "t.toml:1:5: invalid value `.5`" },
	{ "a = 1e\n", "t.toml:1:5: invalid float `1e`" },
	{ "a = 1.e5\n", "t.toml:1:5: invalid float `1.e5`" },
	{ "a = 03.5\n", "t.toml:1:5: invalid float `03.5`" },
	{ "a = 1e400\n", "t.toml:1:5: float `1e400` is out of range" },
	{ "a = 1979-05-27\n", "t.toml:1:5: dates and times are not supported" },
	{ "a = 07:32:00\n", "t.toml:1:5: dates and times are not supported" },
	{ "a = nope\n", "t.toml:1:5: invalid value `nope` (strings need quotes)" },
	{ "a = truex\n", "t.toml:1:5: invalid value `truex`" },
	{ "a = \n", "t.toml:1:5: expected a value, found end of line" },
	{ "a =", "t.toml:1:4: expected a value, found end of file" },
	{ "a = \"x\x01\"\n", "t.toml:1:7: control character U+0001 is not allowed" },
	{ "# ok\n# bad \x7f\n", "t.toml:2:7: control character U+007F is not allowed" },
	{ "a = \"\x1b[0m\"\n", "t.toml:1:6: control character U+001B" },
	{ "a = 1\rb = 2\n", "t.toml:1:6: carriage return not followed by line feed" },
	{ "a = \"\xFF\"\n", "t.toml:1:6: invalid UTF-8 byte 0xFF" },
	{ "a = \"\xC0\xAF\"\n", "t.toml:1:6: invalid UTF-8 byte 0xC0" },
	{ "a = \"\xED\xA0\x80\"\n", "t.toml:1:6: invalid UTF-8 byte 0xED" },
	{ "a = \"\xC3\"\n", "t.toml:1:6: invalid UTF-8 byte 0xC3" },
	{ "\xC3\xA9 = 1\n", "t.toml:1:1: expected a key, found U+00E9" },
	{ "a = \"\xC3\xA9\" x\n", "t.toml:1:9: expected the end of the line, found `x`" },
	{ "a = [1 2]\n", "t.toml:1:8: expected `,` or `]` after an array item, found `2`" },
	{ "a = [,]\n", "t.toml:1:6: expected a value, found `,`" },
	{ "a = [1,\n", "t.toml:2:1: expected a value, found end of file" },
	{ "a = 1\n\n  b = [\n 1,\n \"x\" \"y\"]\n", "t.toml:5:6: expected `,` or `]`" },
	{ "a = {b = 1,}\n", "t.toml:1:12: a trailing comma is not allowed in an inline table" },
	{ "a = {b = 1\n}\n", "t.toml:1:11: an inline table must be closed on the line it starts" },
	{ "a = {\n}\n", "t.toml:1:6: an inline table must be closed on the line it starts" },
	{ "a = {b = 1 c = 2}\n", "t.toml:1:12: expected `,` or `}` in an inline table, found `c`" },
	{ "a = 1 b = 2\n", "t.toml:1:7: expected the end of the line, found `b`" },
	{ "a b = 1\n", "t.toml:1:3: expected `=` after key `a`, found `b`" },
	{ "= 1\n", "t.toml:1:1: expected a key, found `=`" },
	{ "a. = 1\n", "t.toml:1:4: expected a key, found `=`" },
	{ "[a\n", "t.toml:1:3: expected `]` to close the table header, found end of line" },
	{ "[[a] ]\n", "t.toml:1:4: expected `]]` to close the table header, found `]`" },
	{ "[]\n", "t.toml:1:2: expected a key, found `]`" },
	{ "[a] b = 1\n", "t.toml:1:5: expected the end of the line, found `b`" },
};

static void test_errors(void)
{
	for (size_t i = 0; i < sizeof(bad_docs) / sizeof(bad_docs[0]); i++) {
		const struct bad *b = &bad_docs[i];
		struct crid_toml_value *r = (void *)1;
		struct crid_err err = { 0 };
		int rc = crid_toml_parse("t.toml", b->doc, strlen(b->doc), &r, &err);

		bool ok = rc < 0 && r == NULL && err.code == EINVAL &&
			  strncmp(err.msg, b->want, strlen(b->want)) == 0;

		if (ok)
			CHECK(true, "error: %s", err.msg);
		else
			CHECK(false, "error: want `%s`, got `%s`", b->want,
			      rc < 0 ? err.msg : "success");
	}
}

/* Builds "a = " + |n| '[' + |n| ']' (or a dotted key / header of |n| parts). */
static char *repeat_doc(const char *head, const char *open, const char *sep, const char *close,
			const char *tail, int n)
{
	size_t cap = strlen(head) + strlen(tail) +
		     (size_t)n * (strlen(open) + strlen(sep) + strlen(close)) + 1;
	char *s = malloc(cap), *p = s;

	p = stpcpy(p, head);
	for (int i = 0; i < n; i++)
		p = stpcpy(stpcpy(p, i ? sep : ""), open);
	for (int i = 0; i < n; i++)
		p = stpcpy(p, close);
	stpcpy(p, tail);
	return s;
}

static bool parses(const char *doc, struct crid_err *err)
{
	struct crid_toml_value *r;

	if (crid_toml_parse("t.toml", doc, strlen(doc), &r, err) < 0)
		return false;
	crid_toml_free(r);
	return true;
}

static void test_depth(void)
{
	struct crid_err err = { 0 };
	char *d;

	d = repeat_doc("a = ", "[", "", "]", "\n", 64);
	CHECK(parses(d, &err), "64 nested arrays are fine");
	free(d);
	d = repeat_doc("a = ", "[", "", "]", "\n", 65);
	CHECK(!parses(d, &err) &&
		  strstr(err.msg, "t.toml:1:69: tables and arrays nest deeper than 64 levels"),
	      "65 nested arrays: %s", err.msg);
	free(d);
	d = repeat_doc("a = ", "{b = ", "", "}", "\n", 70);
	CHECK(!parses(d, &err) && strstr(err.msg, "nest deeper than 64"), "deep inline tables: %s",
	      err.msg);
	free(d);
	d = repeat_doc("", "a", ".", "", " = 1\n", 64);
	CHECK(parses(d, &err), "64-part dotted key is fine");
	free(d);
	d = repeat_doc("", "a", ".", "", " = 1\n", 65);
	CHECK(!parses(d, &err) && strstr(err.msg, "key has more than 64 parts"),
	      "65-part dotted key: %s", err.msg);
	free(d);
	d = repeat_doc("[", "a", ".", "", "]\n", 64);
	CHECK(parses(d, &err), "64-part header is fine");
	free(d);
	d = repeat_doc("[", "a", ".", "", "]\nb.c = 1\n", 64);
	CHECK(!parses(d, &err) && strstr(err.msg, "t.toml:2:1: tables and arrays nest deeper"),
	      "dotted key below a deep header: %s", err.msg);
	free(d);
	d = repeat_doc("a = ", "[", "", "", "", 100000);
	CHECK(!parses(d, &err) && strstr(err.msg, "nest deeper"),
	      "100000 '[' is refused, no crash");
	free(d);
}

/* Every allocation of a sizeable document fails in turn: an error each time, never a leak. */
static void test_alloc_failures(void)
{
	const char *doc = "title = \"alloc \\u00e9\"\n"
			  "[crid]\nlisten = \"/run/crid/crid.sock\"\nsize = -1\n"
			  "[crid.runtime.runtimes.crun]\npath = '/usr/bin/crun'\n"
			  "[[products]]\nname = \"\"\"multi\nline\"\"\"\nsku = 0x7\n"
			  "[[products]]\ncolor = { r = 1, g.x = 2.5, b = [true, false, [1, 2]] }\n"
			  "[big]\nk0=0\nk1=1\nk2=2\nk3=3\nk4=4\nk5=5\nk6=6\nk7=7\nk8=8\nk9=9\n"
			  "k10=10\nk11=11\nk12=12\nk13=13\nk14=14\nk15=15\nk16=16\nk17=17\n"
			  "list = [\n 'a',\n 'b', # c\n]\n";
	size_t base = crid_mem_used();
	bool all_clean = true, all_enomem = true;
	long k, failures = 0;

	for (k = 1; k < 10000; k++) {
		struct crid_toml_value *r;
		struct crid_err err = { 0 };
		int rc;

		crid_mem_fail_after(k);
		rc = crid_toml_parse("t.toml", doc, strlen(doc), &r, &err);
		crid_mem_fail_after(0);
		if (rc == 0) {
			crid_toml_free(r);
			all_clean &= crid_mem_used() == base;
			break;
		}
		failures++;
		all_clean &= crid_mem_used() == base && r == NULL;
		all_enomem &= err.code == ENOMEM && strstr(err.msg, "out of memory") != NULL;
	}
	CHECK(failures > 50, "allocation failure injected at %ld points", failures);
	CHECK(all_clean, "no leak after any failed allocation");
	CHECK(all_enomem, "each failure reports ENOMEM");
}

int main(void)
{
	size_t base = crid_mem_used();

	test_scalars();
	test_strings();
	test_keys_and_tables();
	test_arrays_and_inline();
	test_array_of_tables();
	test_misc_valid();
	test_large_table();
	test_errors();
	test_depth();
	test_alloc_failures();
	CHECK(crid_mem_used() == base, "no bytes left allocated (%zu)", crid_mem_used() - base);
	return tap_done();
}
