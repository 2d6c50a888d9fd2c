/*
 * A strict TOML v1.0 reader for configuration files: bytes in, a small tree
 * of tables, arrays and scalars out. Every value remembers where it was
 * written so callers can report "file:line:col" for schema errors.
 *
 * Not supported (rejected with a clear error): offset/local date-times,
 * local dates and times. Nesting is capped at CRID_TOML_MAX_DEPTH so hostile
 * input cannot exhaust the stack.
 */
#ifndef CRID_TOML_H
#define CRID_TOML_H

#include <stdbool.h>
#include <stddef.h>

#include "reactor/err.h"

/* Deepest nesting of tables and arrays below the root (which is depth 0). */
#define CRID_TOML_MAX_DEPTH 64

enum crid_toml_type {
	CRID_TOML_TABLE,
	CRID_TOML_ARRAY,
	CRID_TOML_STRING,
	CRID_TOML_INTEGER,
	CRID_TOML_FLOAT,
	CRID_TOML_BOOL,
};

struct crid_toml_value;

/* One key of a table. |key| is NUL-terminated but may hold NULs (from \u0000): use |key_len|. */
struct crid_toml_kv {
	char *key;
	size_t key_len;
	unsigned line, col; /* where the key (or the header part naming it) was written */
	struct crid_toml_value *value;
};

/*
 * A node of the tree. Read it freely; only the parser builds it. Strings are
 * NUL-terminated for convenience but may contain NULs: compare |len| to
 * strlen() where that matters.
 */
struct crid_toml_value {
	enum crid_toml_type type;
	unsigned line, col;   /* first character of the value, or the '[' of its header */
	unsigned short depth; /* parser bookkeeping */
	unsigned short flags; /* parser bookkeeping */
	union {
		struct {
			char *ptr;
			size_t len;
		} str;
		long long integer;
		double flt;
		bool boolean;
		struct {
			struct crid_toml_value **items;
			size_t n, cap;
		} array;
		struct {
			struct crid_toml_kv *items; /* in the order written */
			size_t n, cap;
			size_t *index; /* hash slots holding item position + 1; NULL while small */
			size_t index_cap;
		} table;
	} u;
};

/*
 * Parses the TOML document |buf| (|len| bytes, need not be NUL-terminated)
 * into a tree whose root table is stored in |*root| (caller frees with
 * crid_toml_free). |name| prefixes every error: "NAME:LINE:COL: message".
 * On error |*root| is NULL and nothing is leaked; err->code is EINVAL for
 * bad input and ENOMEM when an allocation failed.
 */
int crid_toml_parse(const char *name, const char *buf, size_t len, struct crid_toml_value **root,
		    struct crid_err *err);

/* Frees |v| and everything below it. NULL is fine. */
void crid_toml_free(struct crid_toml_value *v);

/* Entry |key| (|len| bytes) of |table|, or NULL when absent or |table| is not a table. */
const struct crid_toml_kv *crid_toml_get_kv(const struct crid_toml_value *table, const char *key,
					    size_t len);

/* Value of the NUL-terminated |key| of |table|, or NULL. */
const struct crid_toml_value *crid_toml_get(const struct crid_toml_value *table, const char *key);

/* Number of entries of a table or items of an array; 0 for scalars. */
size_t crid_toml_len(const struct crid_toml_value *v);

/* The |i|th entry of a table in written order, or NULL when out of range. */
const struct crid_toml_kv *crid_toml_table_at(const struct crid_toml_value *table, size_t i);

/* The |i|th item of an array, or NULL when out of range. */
const struct crid_toml_value *crid_toml_array_at(const struct crid_toml_value *array, size_t i);

/* "table", "array", "string", "integer", "float", "boolean". */
const char *crid_toml_type_name(enum crid_toml_type type);

#endif
