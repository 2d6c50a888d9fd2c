/*
 * What the List handlers and the request translators share: list replies
 * made of pre-encoded items (kubelet relists every pod and container every
 * second; each item is encoded once per change and copied after that), and
 * protobuf map<string,string> entries viewed as crid_kvs.
 */
#ifndef CRID_LIST_REPLY_H
#define CRID_LIST_REPLY_H

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
 * Gives item |i|'s pre-encoded bytes in *p / *len; returns 0 to include it,
 * 1 to skip it (filtered out), -1 when out of memory. Called twice per item.
 */
typedef int (*crid_list_item_fn)(void *ctx, size_t i, const uint8_t **p, size_t *len);

/* Replies with items 0..n-1 as |item| yields them, in one reserved buffer. */
void crid_list_reply(struct crid_rpc *rpc, size_t n, crid_list_item_fn item, void *ctx);

/* |entries| (n protobuf map entries: key, value) as a crid_kvs borrowing them, in the arena. */
int crid_rpc_view_kvs(struct crid_rpc *rpc, struct crid_kvs *out, size_t n, void *const *entries);

#endif
