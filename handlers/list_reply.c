/*
 * The List replies of pre-encoded items (ListPodSandbox, ListContainers) and
 * the protobuf map views the request translators share. May call io/ (the
 * call's reply buffer) and runtime/state/records.h; no handler.
 */
#include "handlers/list_reply.h"

#include <string.h>

#include "proto/api.pb-c.h"
#include "reactor/mem.h"

int crid_list_item_encode(const ProtobufCMessage *item, uint8_t **out, size_t *len)
{
	size_t n = protobuf_c_message_get_packed_size(item), hdr = 1;
	uint8_t *buf = crid_malloc(n + 11);

	if (!buf)
		return -1;
	buf[0] = 0x0a; /* field 1, length-delimited */
	for (size_t v = n;; v >>= 7) {
		buf[hdr++] = (uint8_t)(v > 0x7f ? (v & 0x7f) | 0x80 : v);
		if (v <= 0x7f)
			break;
	}
	protobuf_c_message_pack(item, buf + hdr);
	*out = buf;
	*len = hdr + n;
	return 0;
}

/* Record |rec|'s cached item in *p / *len, encoded first if the cache is empty. */
static int item_of(const struct crid_list_kind *kind, void *rec, const uint8_t **p, size_t *len)
{
	uint8_t **entry = (uint8_t **)((char *)rec + kind->entry_at);
	size_t *entry_len = (size_t *)((char *)rec + kind->entry_len_at);

	if (!*entry && kind->encode(rec, entry, entry_len) < 0)
		return -1;
	*p = *entry;
	*len = *entry_len;
	return 0;
}

int crid_list_item(const struct crid_list_kind *kind, void *rec, const uint8_t **p, size_t *len)
{
	return item_of(kind, rec, p, len);
}

void crid_list_reply(struct crid_rpc *rpc, void *const *all, size_t n,
		     const struct crid_list_kind *kind, const void *filter)
{
	size_t total = 0, len;
	const uint8_t *src;
	uint8_t *p;

	for (size_t i = 0; i < n; i++) {
		if (!kind->listed(all[i], filter))
			continue;
		if (item_of(kind, all[i], &src, &len) < 0) {
			crid_rpc_fail(rpc, CRID_GRPC_RESOURCE_EXHAUSTED, "out of memory");
			return;
		}
		total += len;
	}
	if (total > CRID_GRPC_MAX_MESSAGE) {
		crid_rpc_fail(rpc, CRID_GRPC_RESOURCE_EXHAUSTED,
			      "reply of %zu bytes exceeds the 16 MiB message limit", total);
		return;
	}
	p = crid_grpc_call_reserve(rpc->call, total);
	if (!p) {
		crid_rpc_fail(rpc, CRID_GRPC_RESOURCE_EXHAUSTED, "out of memory for the reply");
		return;
	}
	for (size_t i = 0; i < n; i++) {
		if (!kind->listed(all[i], filter) || item_of(kind, all[i], &src, &len) != 0)
			continue;
		memcpy(p, src, len);
		p += len;
	}
	crid_rpc_finish_ok(rpc);
}

bool crid_list_labels_match(const struct crid_kvs *labels, size_t n, void *const *selector)
{
	/* every generated map<string,string> entry has this layout */
	Runtime__V1__PodSandboxFilter__LabelSelectorEntry *const *e =
	    (Runtime__V1__PodSandboxFilter__LabelSelectorEntry *const *)selector;

	for (size_t i = 0; i < n; i++) {
		const char *v = crid_kvs_get(labels, e[i]->key);

		if (!v || strcmp(v, e[i]->value) != 0)
			return false;
	}
	return true;
}

int crid_rpc_view_kvs(struct crid_rpc *rpc, struct crid_kvs *out, size_t n, void *const *entries)
{
	/* every generated map<string,string> entry has this layout */
	Runtime__V1__PodSandboxConfig__LabelsEntry *const *e =
	    (Runtime__V1__PodSandboxConfig__LabelsEntry *const *)entries;

	out->n = n;
	out->v = crid_arena_alloc(&rpc->arena, (n + 1) * sizeof(*out->v));
	if (!out->v)
		return -1;
	for (size_t i = 0; i < n; i++) {
		out->v[i].key = e[i]->key;
		out->v[i].value = e[i]->value;
	}
	return 0;
}
