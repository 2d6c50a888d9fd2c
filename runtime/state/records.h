/*
 * Room runtime/state/: what makes crid's state survive kill -9 — records
 * (this file), crash-safe state files (statefile.c), the coalesced `sync -f`
 * child (syncer.c), the trash of removed directories (trash.c), node identity
 * (node_state.c), the one-daemon lock (state_lock.c), and the fd store with
 * crid-keeper (fd_store.c, keeper/). Knows no pod, container or image; calls
 * only reactor/ and io/.
 *
 * What the pod and container stores share: a set of records indexed by
 * their 64-hex-digit id (lookup by full id or unique prefix, creation
 * order kept), each persisted as one JSON file written crash-safely, and
 * the small JSON helpers those files are built and read with.
 */
#ifndef CRID_RECORDS_H
#define CRID_RECORDS_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <yajl/yajl_gen.h>
#include <yajl/yajl_tree.h>

#include "reactor/err.h"

#define CRID_ID_LEN 64 /* hex of 32 random bytes, as CRI-O and containerd ids */

/*
 * The one size limit of a pod or container record, for writing and for
 * loading alike: a record that was written always loads. Creation checks it
 * first (crid_records_fits) with room for what the record gains later.
 */
#define CRID_RECORD_MAX (16u << 20)
#define CRID_RECORD_HEADROOM (256u << 10) /* IPs, CNI result, pid, exit reason, resources */

/* An indexed set of records; |id_of| gives a record's NUL-terminated id. */
struct crid_records {
	const char *(*id_of)(const void *rec);
	void **all; /* insertion order */
	size_t n, cap;
	void **table; /* open addressing by id, size a power of two */
	size_t table_cap;
};

void crid_records_init(struct crid_records *r, const char *(*id_of)(const void *rec));

/* Frees the index, not the records. */
void crid_records_free(struct crid_records *r);

int crid_records_add(struct crid_records *r, void *rec);

void crid_records_remove(struct crid_records *r, void *rec);

/* Full id or unique prefix; NULL when none (then *ambiguous says whether several matched). */
void *crid_records_find(const struct crid_records *r, const char *id, bool *ambiguous);

/* Sorts the records by |cmp| (after loading, to restore creation order). */
void crid_records_sort(struct crid_records *r, int (*cmp)(const void *, const void *));

/* Fills |id| with a fresh random id (CRID_ID_LEN hex digits and a NUL). */
int crid_random_id(char id[CRID_ID_LEN + 1], struct crid_err *err);

/*
 * Calls |parse| for every `<dir>/<64 hex>.json` (read whole, at most
 * CRID_RECORD_MAX bytes, parsed); files that do not read or parse are logged
 * and skipped.
 */
void crid_records_load_dir(const char *dir,
			   void (*parse)(void *user, const char *path, yajl_val root), void *user);

/*
 * Checks at creation that the generated document leaves CRID_RECORD_HEADROOM
 * under CRID_RECORD_MAX. Fails with EMSGSIZE (this error only: callers tell
 * it apart) and a message naming |what| (a "pod sandbox record"), its size
 * and the limit.
 */
int crid_records_fits(yajl_gen g, const char *what, struct crid_err *err);

/*
 * Writes the generated document to `<dir>/<id>.json` atomically: with the
 * syncer running (runtime/syncer.h), by rename now and to disk a moment
 * later off the loop; without it, fsynced before returning. EMSGSIZE (nothing
 * written, the previous version kept) for a document over CRID_RECORD_MAX.
 */
int crid_records_write(const char *dir, const char *id, yajl_gen g, struct crid_err *err);

/* Deletes `<dir>/<id>.json` (missing is fine). */
int crid_records_unlink(const char *dir, const char *id, struct crid_err *err);

/* ---- JSON helpers ---- */

struct crid_kv {
	char *key;
	char *value;
};

struct crid_kvs {
	struct crid_kv *v;
	size_t n;
};

/* Looks up a label or annotation; NULL when absent. */
const char *crid_kvs_get(const struct crid_kvs *kvs, const char *key);

/* Appends a copy of (key, value). */
int crid_kvs_add(struct crid_kvs *kvs, const char *key, const char *value);

void crid_kvs_free(struct crid_kvs *kvs);

/* Writes |s| as a JSON string; bytes that are not valid UTF-8 become '?'. */
void crid_json_str(yajl_gen g, const char *s);
void crid_json_kvs(yajl_gen g, const char *key, const struct crid_kvs *kvs);
/* "key": base64(bytes) */
int crid_json_bytes(yajl_gen g, const char *key, const uint8_t *p, size_t n);

const char *crid_json_get_str(yajl_val root, const char *key);
long long crid_json_get_int(yajl_val root, const char *key, long long dflt);
/* A copy of the string member |key|; NULL (and *bad set) when absent or out of memory. */
char *crid_json_dup(yajl_val root, const char *key, int *bad);
int crid_json_get_kvs(yajl_val root, const char *key, struct crid_kvs *kvs);
int crid_json_get_bytes(yajl_val root, const char *key, uint8_t **out, size_t *len);
/* Copies the string member |key| into |dst|; -1 when absent or too long. */
int crid_json_copy(yajl_val root, const char *key, char *dst, size_t size);

#endif
