#include "runtime/state/records.h"

#include <dirent.h>
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/random.h>
#include <unistd.h>

#include "io/utf8.h"
#include "reactor/debug_point.h"
#include "reactor/log.h"
#include "reactor/mem.h"
#include "runtime/state/statefile.h"
#include "runtime/state/syncer.h"

/* ---- the index ---- */

void crid_records_init(struct crid_records *r, const char *(*id_of)(const void *rec))
{
	memset(r, 0, sizeof(*r));
	r->id_of = id_of;
}

void crid_records_free(struct crid_records *r)
{
	crid_free(r->all);
	crid_free(r->table);
	r->all = r->table = NULL;
	r->n = r->cap = r->table_cap = 0;
}

/* Ids are random hex: their first 16 digits are a good hash already. */
static size_t slot_of(const char *id, size_t cap)
{
	size_t h = 0;

	for (int i = 0; i < 16 && id[i]; i++)
		h = h * 16 + (size_t)(id[i] <= '9' ? id[i] - '0' : (id[i] | 0x20) - 'a' + 10);
	return h & (cap - 1);
}

static void table_put(void **table, size_t cap, const char *(*id_of)(const void *), void *rec)
{
	size_t i = slot_of(id_of(rec), cap);

	while (table[i])
		i = (i + 1) & (cap - 1);
	table[i] = rec;
}

static int rebuild_table(struct crid_records *r, size_t cap)
{
	void **t = crid_calloc(cap, sizeof(*t));

	if (!t)
		return -1;
	for (size_t i = 0; i < r->n; i++)
		table_put(t, cap, r->id_of, r->all[i]);
	crid_free(r->table);
	r->table = t;
	r->table_cap = cap;
	return 0;
}

int crid_records_add(struct crid_records *r, void *rec)
{
	if (r->n == r->cap) {
		size_t cap = r->cap ? 2 * r->cap : 64;
		void **all = crid_realloc(r->all, cap * sizeof(*all));

		if (!all)
			return -1;
		r->all = all;
		r->cap = cap;
	}
	if ((r->n + 1) * 2 > r->table_cap &&
	    rebuild_table(r, r->table_cap ? 2 * r->table_cap : 128) < 0)
		return -1;
	r->all[r->n++] = rec;
	table_put(r->table, r->table_cap, r->id_of, rec);
	return 0;
}

void crid_records_remove(struct crid_records *r, void *rec)
{
	for (size_t i = 0; i < r->n; i++) {
		if (r->all[i] == rec) {
			memmove(&r->all[i], &r->all[i + 1], (r->n - i - 1) * sizeof(*r->all));
			r->n--;
			break;
		}
	}
	/* linear probing: re-insert the cluster after the hole (cheap at load factor <= 1/2) */
	if (rebuild_table(r, r->table_cap ? r->table_cap : 128) < 0) {
		for (size_t i = 0; i < r->table_cap; i++)
			if (r->table[i] == rec)
				r->table[i] = NULL;
	}
}

void *crid_records_find(const struct crid_records *r, const char *id, bool *ambiguous)
{
	size_t len = strlen(id);
	void *found = NULL;

	*ambiguous = false;
	if (len == 0 || len > CRID_ID_LEN || !r->table_cap)
		return NULL;
	if (len == CRID_ID_LEN) {
		for (size_t i = slot_of(id, r->table_cap); r->table[i];
		     i = (i + 1) & (r->table_cap - 1))
			if (strcmp(r->id_of(r->table[i]), id) == 0)
				return r->table[i];
		return NULL;
	}
	for (size_t i = 0; i < r->n; i++) {
		if (strncmp(r->id_of(r->all[i]), id, len) != 0)
			continue;
		if (found) {
			*ambiguous = true;
			return NULL;
		}
		found = r->all[i];
	}
	return found;
}

void crid_records_sort(struct crid_records *r, int (*cmp)(const void *, const void *))
{
	if (r->n)
		qsort(r->all, r->n, sizeof(*r->all), cmp);
}

int crid_random_id(char id[CRID_ID_LEN + 1], struct crid_err *err)
{
	static const char hex[] = "0123456789abcdef";
	unsigned char rnd[CRID_ID_LEN / 2];

	if (getrandom(rnd, sizeof(rnd), 0) != (ssize_t)sizeof(rnd))
		return crid_err_set(err, errno, "getrandom for an id");
	for (size_t i = 0; i < sizeof(rnd); i++) {
		id[2 * i] = hex[rnd[i] >> 4];
		id[2 * i + 1] = hex[rnd[i] & 15];
	}
	id[CRID_ID_LEN] = '\0';
	return 0;
}

/* ---- files ---- */

void crid_records_load_dir(const char *dir,
			   void (*parse)(void *user, const char *path, yajl_val root), void *user)
{
	DIR *d = opendir(dir);
	struct dirent *e;

	if (!d)
		return;
	while ((e = readdir(d))) {
		char path[4096], *text, ebuf[128];
		struct crid_err err;
		yajl_val root;
		size_t len;

		if (strlen(e->d_name) != CRID_ID_LEN + 5 ||
		    strcmp(e->d_name + CRID_ID_LEN, ".json") != 0)
			continue;
		snprintf(path, sizeof(path), "%s/%s", dir, e->d_name);
		if (crid_statefile_read(path, CRID_RECORD_MAX, &text, &len, &err) < 0) {
			crid_log_warn("record: %s", err.msg);
			continue;
		}
		root = yajl_tree_parse(text, ebuf, sizeof(ebuf));
		crid_free(text);
		if (!root) {
			crid_log_warn("record `%s` is damaged: skipped", path);
			continue;
		}
		parse(user, path, root);
		yajl_tree_free(root);
	}
	closedir(d);
}

static int record_path(const char *dir, const char *id, char *out, size_t size)
{
	int n = snprintf(out, size, "%s/%s.json", dir, id);

	return n < 0 || (size_t)n >= size ? -1 : 0;
}

int crid_records_fits(yajl_gen g, const char *what, struct crid_err *err)
{
	const unsigned char *buf;
	size_t len;

	if (yajl_gen_get_buf(g, &buf, &len) != yajl_gen_status_ok)
		return crid_err_set(err, ENOMEM, "%s", what);
	if (len > CRID_RECORD_MAX - CRID_RECORD_HEADROOM)
		return crid_err_cause(err, EMSGSIZE, "%s of %zu bytes is over the %u-byte limit",
				      what, len, CRID_RECORD_MAX - CRID_RECORD_HEADROOM);
	return 0;
}

int crid_records_write(const char *dir, const char *id, yajl_gen g, struct crid_err *err)
{
	const unsigned char *buf;
	char path[4096];
	size_t len;

	if (yajl_gen_get_buf(g, &buf, &len) != yajl_gen_status_ok)
		return crid_err_set(err, ENOMEM, "record %s", id);
	/* the loader reads at most this much: never write what it would skip */
	if (len > CRID_RECORD_MAX)
		return crid_err_cause(err, EMSGSIZE,
				      "record %s of %zu bytes is over the %u-byte limit", id, len,
				      CRID_RECORD_MAX);
	if (record_path(dir, id, path, sizeof(path)) < 0)
		return crid_err_set(err, ENAMETOOLONG, "record %s path", id);
	if (!crid_syncer_running()) {
		if (crid_statefile_write(path, buf, len, err) < 0)
			return -1;
		crid_debug_point("record-after-rename");
		return 0;
	}
	/* atomic now (kill -9 safe), durable within a moment, without the loop waiting */
	if (crid_statefile_write_volatile(path, buf, len, 0600, err) < 0)
		return -1;
	crid_debug_point("record-after-rename"); /* in place, the caller not told yet */
	crid_syncer_request();
	return 0;
}

int crid_records_unlink(const char *dir, const char *id, struct crid_err *err)
{
	char path[4096];

	if (record_path(dir, id, path, sizeof(path)) == 0 && unlink(path) < 0 && errno != ENOENT)
		return crid_err_set(err, errno, "remove `%s`", path);
	return 0;
}

/* ---- JSON helpers ---- */

void crid_kvs_free(struct crid_kvs *kvs)
{
	for (size_t i = 0; i < kvs->n; i++) {
		crid_free(kvs->v[i].key);
		crid_free(kvs->v[i].value);
	}
	crid_free(kvs->v);
	kvs->v = NULL;
	kvs->n = 0;
}

int crid_kvs_add(struct crid_kvs *kvs, const char *key, const char *value)
{
	struct crid_kv *v = crid_realloc(kvs->v, (kvs->n + 1) * sizeof(*v));

	if (!v)
		return -1;
	kvs->v = v;
	v[kvs->n].key = crid_strdup(key);
	v[kvs->n].value = crid_strdup(value);
	if (!v[kvs->n].key || !v[kvs->n].value) {
		crid_free(v[kvs->n].key);
		crid_free(v[kvs->n].value);
		return -1;
	}
	kvs->n++;
	return 0;
}

const char *crid_kvs_get(const struct crid_kvs *kvs, const char *key)
{
	for (size_t i = 0; i < kvs->n; i++)
		if (strcmp(kvs->v[i].key, key) == 0)
			return kvs->v[i].value;
	return NULL;
}

/*
 * yajl_tree_parse refuses invalid UTF-8, so one bad byte would make a record
 * unloadable: requests are checked (handlers/request_check.h), and anything
 * else (a runtime's error text cut mid-character) is scrubbed here.
 */
void crid_json_str(yajl_gen g, const char *s)
{
	size_t len = strlen(s);
	char *copy;

	if (crid_utf8_invalid_at((const uint8_t *)s, len) == len) {
		yajl_gen_string(g, (const unsigned char *)s, len);
		return;
	}
	copy = crid_strdup(s);
	if (copy)
		crid_utf8_scrub(copy);
	/* out of memory: an empty string still keeps the record loadable */
	yajl_gen_string(g, (const unsigned char *)(copy ? copy : ""), copy ? len : 0);
	crid_free(copy);
}

void crid_json_kvs(yajl_gen g, const char *key, const struct crid_kvs *kvs)
{
	crid_json_str(g, key);
	yajl_gen_map_open(g);
	for (size_t i = 0; i < kvs->n; i++) {
		crid_json_str(g, kvs->v[i].key);
		crid_json_str(g, kvs->v[i].value);
	}
	yajl_gen_map_close(g);
}

static const char b64[] = "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/";

int crid_json_bytes(yajl_gen g, const char *key, const uint8_t *p, size_t n)
{
	char *out = crid_malloc((n + 2) / 3 * 4 + 1), *o = out;

	if (!out)
		return -1;
	for (size_t i = 0; i < n; i += 3) {
		uint32_t v = (uint32_t)p[i] << 16 | (i + 1 < n ? (uint32_t)p[i + 1] << 8 : 0) |
			     (i + 2 < n ? p[i + 2] : 0);

		*o++ = b64[v >> 18 & 63];
		*o++ = b64[v >> 12 & 63];
		*o++ = i + 1 < n ? b64[v >> 6 & 63] : '=';
		*o++ = i + 2 < n ? b64[v & 63] : '=';
	}
	*o = '\0';
	crid_json_str(g, key);
	crid_json_str(g, out);
	crid_free(out);
	return 0;
}

const char *crid_json_get_str(yajl_val root, const char *key)
{
	const char *path[] = { key, NULL };
	yajl_val v = yajl_tree_get(root, path, yajl_t_string);

	return v ? YAJL_GET_STRING(v) : NULL;
}

long long crid_json_get_int(yajl_val root, const char *key, long long dflt)
{
	const char *path[] = { key, NULL };
	yajl_val v = yajl_tree_get(root, path, yajl_t_number);

	return v && YAJL_IS_INTEGER(v) ? YAJL_GET_INTEGER(v) : dflt;
}

char *crid_json_dup(yajl_val root, const char *key, int *bad)
{
	const char *s = crid_json_get_str(root, key);
	char *d = s ? crid_strdup(s) : NULL;

	if (!d)
		*bad = 1;
	return d;
}

int crid_json_get_kvs(yajl_val root, const char *key, struct crid_kvs *kvs)
{
	const char *path[] = { key, NULL };
	yajl_val m = yajl_tree_get(root, path, yajl_t_object);

	if (!m)
		return -1;
	for (size_t i = 0; i < m->u.object.len; i++) {
		if (!YAJL_IS_STRING(m->u.object.values[i]) ||
		    crid_kvs_add(kvs, m->u.object.keys[i], YAJL_GET_STRING(m->u.object.values[i])) <
			0)
			return -1;
	}
	return 0;
}

int crid_json_get_bytes(yajl_val root, const char *key, uint8_t **out, size_t *len)
{
	const char *s = crid_json_get_str(root, key);
	size_t n, o = 0;
	uint8_t *buf;
	uint32_t acc = 0;
	int bits = 0;

	if (!s)
		return -1;
	n = strlen(s);
	buf = crid_malloc(n / 4 * 3 + 3);
	if (!buf)
		return -1;
	for (size_t i = 0; i < n && s[i] != '='; i++) {
		const char *c = strchr(b64, s[i]);

		if (!c) {
			crid_free(buf);
			return -1;
		}
		acc = acc << 6 | (uint32_t)(c - b64);
		bits += 6;
		if (bits >= 8) {
			bits -= 8;
			buf[o++] = (uint8_t)(acc >> bits);
		}
	}
	*out = buf;
	*len = o;
	return 0;
}

int crid_json_copy(yajl_val root, const char *key, char *dst, size_t size)
{
	const char *src = crid_json_get_str(root, key);

	if (!src || strlen(src) >= size)
		return -1;
	memcpy(dst, src, strlen(src) + 1);
	return 0;
}
