/*
 * What the List handlers and the request translators share: list replies
 * made of pre-encoded items (kubelet relists every pod and container every
 * second; each item is encoded once per change and copied after that), and
 * protobuf map<string,string> entries viewed as crid_kvs.
 */
#ifndef CRID_LIST_REPLY_H
#define CRID_LIST_REPLY_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "handlers/rpc.h"
#include "runtime/state/records.h"

/*
 * Encodes |item| as field 1 (tag, length, bytes) of a List reply into a new
 * buffer (crid_free) in *out. Returns -1 when out of memory.
 */
int crid_list_item_encode(const ProtobufCMessage *item, uint8_t **out, size_t *len);

/*
 * One kind of listed record: whether it passes the request's filter, and its
 * item, encoded once per change and cached in the record (runtime/ frees the
 * cache when the record changes) at |entry_at| (uint8_t *) and
 * |entry_len_at| (size_t).
 */
struct crid_list_kind {
	bool (*listed)(const void *rec, const void *filter);  /* |filter| may be NULL */
	int (*encode)(void *rec, uint8_t **out, size_t *len); /* -1 when out of memory */
	size_t entry_at, entry_len_at;
};

/*
 * Record |rec|'s cached item (field 1: tag, length, bytes) in *p, *len,
 * encoded first when the cache is empty; valid until the record changes.
 * Returns -1 when out of memory.
 */
int crid_list_item(const struct crid_list_kind *kind, void *rec, const uint8_t **p, size_t *len);

/*
 * Replies with the items of the records all[0..n-1] that |kind| lists under
 * |filter|, copied from their caches into one reserved buffer.
 */
void crid_list_reply(struct crid_rpc *rpc, void *const *all, size_t n,
		     const struct crid_list_kind *kind, const void *filter);

/* True when |labels| holds every key=value of |selector| (n protobuf map entries). */
bool crid_list_labels_match(const struct crid_kvs *labels, size_t n, void *const *selector);

/* |entries| (n protobuf map entries: key, value) as a crid_kvs borrowing them, in the arena. */
int crid_rpc_view_kvs(struct crid_rpc *rpc, struct crid_kvs *out, size_t n, void *const *entries);

#endif
