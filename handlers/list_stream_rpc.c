/*
 * The CRI Stream* lists (KEP-5825): StreamPodSandboxes, StreamContainers,
 * StreamContainerStats, StreamPodSandboxStats, StreamImages. Each answers
 * with the filter and the entries of its List counterpart (the same
 * predicates and item builders: handlers/sandbox.c, container_status.c,
 * stats.c, images.c), streamed by handlers/list_stream.c.
 *
 * The set listed is decided when the call starts: the ids of the records
 * the filter selects are snapshotted (32 bytes each, the id's binary form)
 * and each is looked up again by id when its turn comes, so a record removed
 * while the stream waits for the client is skipped, never touched after it
 * was freed; one still there is sent as it is at that moment (its cached
 * item, or its stats read then).
 */
#include <stdbool.h>
#include <stdio.h>
#include <string.h>

#include "handlers/container.h"
#include "handlers/images.h"
#include "handlers/list_reply.h"
#include "handlers/list_stream.h"
#include "handlers/sandbox.h"
#include "handlers/stats.h"
#include "proto/api.pb-c.h"
#include "reactor/mem.h"
#include "runtime/pod/pod.h"

#define ID_BYTES (CRID_ID_LEN / 2)

struct id_source;

/* One kind of record listed by id. */
struct id_kind {
	const char *prefix;			/* before the 64 hex digits of a full id */
	const char *(*hex_of)(const void *rec); /* the 64 hex digits */
	void *(*find)(struct crid_daemon *d, const char *id); /* NULL when gone */
	/* The entry of |rec|: its cached item, or one built into is->own. 0 or -1. */
	int (*item)(struct id_source *is, void *rec, struct crid_rpc *rpc, const uint8_t **p,
		    size_t *len);
};

struct id_source {
	struct crid_daemon *d;
	const struct id_kind *kind;
	crid_list_stream_build_fn build; /* the entries of crid_list_stream_sandboxes() */
	uint8_t *own;			 /* an entry encoded for this stream, until advance() */
	size_t own_len;
	size_t n, next;
	uint8_t ids[][ID_BYTES];
};

static int unhex(char c)
{
	if (c >= '0' && c <= '9')
		return c - '0';
	if (c >= 'a' && c <= 'f')
		return c - 'a' + 10;
	return -1;
}

/* Stores the 64 lower-case hex digits |hex| in 32 bytes; -1 when they are not that. */
static int id_pack(const char *hex, uint8_t out[ID_BYTES])
{
	for (size_t i = 0; i < ID_BYTES; i++) {
		int hi = unhex(hex[2 * i]), lo = hi < 0 ? -1 : unhex(hex[2 * i + 1]);

		if (lo < 0)
			return -1;
		out[i] = (uint8_t)(hi << 4 | lo);
	}
	return hex[CRID_ID_LEN] == '\0' ? 0 : -1;
}

static void id_unpack(const struct id_source *is, size_t i, char *out, size_t size)
{
	static const char digits[] = "0123456789abcdef";
	size_t at = (size_t)snprintf(out, size, "%s", is->kind->prefix);

	for (size_t b = 0; b < ID_BYTES && at + 2 < size; b++) {
		out[at++] = digits[is->ids[i][b] >> 4];
		out[at++] = digits[is->ids[i][b] & 15];
	}
	out[at] = '\0';
}

static int id_peek(void *state, struct crid_rpc *rpc, const uint8_t **p, size_t *len)
{
	struct id_source *is = state;
	char id[16 + CRID_ID_LEN];

	if (is->own) {
		*p = is->own;
		*len = is->own_len;
		return 1;
	}
	for (; is->next < is->n; is->next++) {
		void *rec;

		id_unpack(is, is->next, id, sizeof(id));
		rec = is->kind->find(is->d, id);
		if (rec) /* else removed since the call began: not listed */
			return is->kind->item(is, rec, rpc, p, len) < 0 ? -1 : 1;
	}
	return 0;
}

static void id_advance(void *state)
{
	struct id_source *is = state;

	crid_free(is->own);
	is->own = NULL;
	is->next++;
}

static void id_free(void *state)
{
	struct id_source *is = state;

	crid_free(is->own);
	crid_free(is);
}

static const struct crid_list_stream_source by_id = {
	.peek = id_peek,
	.advance = id_advance,
	.free = id_free,
};

/*
 * Streams the records all[0..n-1] that |listed| selects under |filter|, by
 * id (see the top of this file).
 */
static void stream_ids(struct crid_rpc *rpc, const struct id_kind *kind, void *const *all, size_t n,
		       bool (*listed)(const void *rec, const void *filter), const void *filter,
		       crid_list_stream_build_fn build)
{
	size_t count = 0;
	struct id_source *is;

	for (size_t i = 0; i < n; i++)
		count += listed(all[i], filter);
	is = crid_calloc(1, sizeof(*is) + (count ? count : 1) * ID_BYTES);
	if (!is) {
		crid_rpc_fail(rpc, CRID_GRPC_RESOURCE_EXHAUSTED, "out of memory listing");
		return;
	}
	is->d = rpc->d;
	is->kind = kind;
	is->build = build;
	for (size_t i = 0; i < n; i++) {
		if (!listed(all[i], filter))
			continue;
		if (id_pack(kind->hex_of(all[i]), is->ids[is->n++]) < 0) {
			crid_rpc_fail(rpc, CRID_GRPC_INTERNAL,
				      "record id `%s` is not 64 hex digits", kind->hex_of(all[i]));
			crid_free(is);
			return;
		}
	}
	crid_list_stream_start(rpc, CRID_LIST_STREAM_MSG_MAX, &by_id, is);
}

/* Encodes |msg| as field 1 into is->own; the arena's temporaries are dropped. */
static int own_item(struct id_source *is, const ProtobufCMessage *msg, struct crid_rpc *rpc,
		    const uint8_t **p, size_t *len)
{
	int r = msg ? crid_list_item_encode(msg, &is->own, &is->own_len) : -1;

	crid_arena_reset(&rpc->arena);
	if (r < 0)
		return -1;
	*p = is->own;
	*len = is->own_len;
	return 0;
}

/* ---- the kinds ---- */

static const char *sandbox_hex(const void *rec)
{
	return ((const struct crid_sandbox *)rec)->id;
}

static const char *container_hex(const void *rec)
{
	return ((const struct crid_container *)rec)->id;
}

static const char *image_hex(const void *rec)
{
	return ((const struct crid_image *)rec)->id + strlen("sha256:");
}

static void *find_sandbox(struct crid_daemon *d, const char *id)
{
	bool ambiguous;

	return d->pods ? crid_sandbox_find(d->pods->store, id, &ambiguous) : NULL;
}

static void *find_container(struct crid_daemon *d, const char *id)
{
	bool ambiguous;

	return d->ctrs ? crid_container_find(d->ctrs->store, id, &ambiguous) : NULL;
}

static void *find_image(struct crid_daemon *d, const char *id)
{
	return crid_image_store_find(d->images, id);
}

static int sandbox_item(struct id_source *is, void *rec, struct crid_rpc *rpc, const uint8_t **p,
			size_t *len)
{
	(void)is;
	(void)rpc;
	return crid_list_item(crid_sandbox_list_kind(), rec, p, len);
}

static int container_item(struct id_source *is, void *rec, struct crid_rpc *rpc, const uint8_t **p,
			  size_t *len)
{
	(void)is;
	(void)rpc;
	return crid_list_item(crid_container_list_kind(), rec, p, len);
}

static int container_stats_item(struct id_source *is, void *rec, struct crid_rpc *rpc,
				const uint8_t **p, size_t *len)
{
	Runtime__V1__ContainerStats *st = crid_stats_container(rpc, rec);

	return own_item(is, st ? &st->base : NULL, rpc, p, len);
}

static ProtobufCMessage *pod_stats_build(struct crid_rpc *rpc, struct crid_sandbox *sb)
{
	Runtime__V1__PodSandboxStats *st = crid_stats_pod(rpc, sb);

	return st ? &st->base : NULL;
}

static int built_item(struct id_source *is, void *rec, struct crid_rpc *rpc, const uint8_t **p,
		      size_t *len)
{
	return own_item(is, is->build(rpc, rec), rpc, p, len);
}

static int image_item(struct id_source *is, void *rec, struct crid_rpc *rpc, const uint8_t **p,
		      size_t *len)
{
	Runtime__V1__Image *img = crid_images_item(rpc, rec);

	return own_item(is, img ? &img->base : NULL, rpc, p, len);
}

static const struct id_kind sandboxes = { "", sandbox_hex, find_sandbox, sandbox_item };
static const struct id_kind containers = { "", container_hex, find_container, container_item };
static const struct id_kind container_stats = { "", container_hex, find_container,
						container_stats_item };
static const struct id_kind images = { "sha256:", image_hex, find_image, image_item };
static const struct id_kind built_sandboxes = { "", sandbox_hex, find_sandbox, built_item };

/* ---- filters: the List counterparts' predicates ---- */

static bool sandbox_listed(const void *rec, const void *filter)
{
	return crid_sandbox_list_kind()->listed(rec, filter);
}

static bool container_listed(const void *rec, const void *filter)
{
	return crid_container_list_kind()->listed(rec, filter);
}

static bool container_stats_listed(const void *rec, const void *filter)
{
	return crid_stats_container_listed(rec, filter);
}

static bool pod_stats_listed(const void *rec, const void *filter)
{
	return crid_stats_pod_listed(rec, filter);
}

static bool any(const void *rec, const void *filter)
{
	(void)rec;
	(void)filter;
	return true;
}

/* ---- request checks: what can never match is a mistake worth naming ---- */

/* An id filter is a prefix of a 64-hex-digit id (crictl's short ids) or "". */
static int check_id(struct crid_rpc *rpc, const char *field, const char *id)
{
	size_t len = strlen(id);

	if (len > CRID_ID_LEN) {
		crid_rpc_fail(rpc, CRID_GRPC_INVALID_ARGUMENT,
			      "%s: `%s` is longer than a %d-digit id", field, id, CRID_ID_LEN);
		return -1;
	}
	for (size_t i = 0; i < len; i++) {
		if (unhex(id[i]) < 0) {
			crid_rpc_fail(rpc, CRID_GRPC_INVALID_ARGUMENT,
				      "%s: `%s` is not a lower-case hex id or id prefix", field,
				      id);
			return -1;
		}
	}
	return 0;
}

/* |n| map entries of a label selector: Kubernetes label keys are never empty. */
static int check_selector(struct crid_rpc *rpc, const char *field, size_t n, void *const *entries)
{
	Runtime__V1__PodSandboxFilter__LabelSelectorEntry *const *e =
	    (Runtime__V1__PodSandboxFilter__LabelSelectorEntry *const *)entries;

	for (size_t i = 0; i < n; i++) {
		if (!e[i]->key[0]) {
			crid_rpc_fail(rpc, CRID_GRPC_INVALID_ARGUMENT, "%s: empty label key",
				      field);
			return -1;
		}
	}
	return 0;
}

static int check_state(struct crid_rpc *rpc, const char *field, int state, int max)
{
	if (state >= 0 && state <= max)
		return 0;
	crid_rpc_fail(rpc, CRID_GRPC_INVALID_ARGUMENT, "%s: unknown state %d", field, state);
	return -1;
}

static int check_pod_filter(struct crid_rpc *rpc, const Runtime__V1__PodSandboxFilter *f)
{
	if (!f)
		return 0;
	if (check_id(rpc, "filter.id", f->id) < 0 ||
	    check_selector(rpc, "filter.label_selector", f->n_label_selector,
			   (void *const *)f->label_selector) < 0)
		return -1;
	return f->state ? check_state(rpc, "filter.state.state", (int)f->state->state,
				      RUNTIME__V1__POD_SANDBOX_STATE__SANDBOX_NOTREADY)
			: 0;
}

static int check_container_filter(struct crid_rpc *rpc, const Runtime__V1__ContainerFilter *f)
{
	if (!f)
		return 0;
	if (check_id(rpc, "filter.id", f->id) < 0 ||
	    check_id(rpc, "filter.pod_sandbox_id", f->pod_sandbox_id) < 0 ||
	    check_selector(rpc, "filter.label_selector", f->n_label_selector,
			   (void *const *)f->label_selector) < 0)
		return -1;
	return f->state ? check_state(rpc, "filter.state.state", (int)f->state->state,
				      RUNTIME__V1__CONTAINER_STATE__CONTAINER_UNKNOWN)
			: 0;
}

/* ---- the methods ---- */

void crid_handle_stream_pod_sandboxes(struct crid_rpc *rpc, const ProtobufCMessage *request)
{
	const Runtime__V1__StreamPodSandboxesRequest *req = (const void *)request;
	struct crid_sandbox *const *all;
	size_t n;

	if (!crid_rpc_ready(rpc, CRID_NEED_PODS))
		return;
	if (check_pod_filter(rpc, req->filter) < 0)
		return;
	all = crid_sandbox_list(rpc->d->pods->store, &n);
	stream_ids(rpc, &sandboxes, (void *const *)all, n, sandbox_listed, req->filter, NULL);
}

void crid_handle_stream_containers(struct crid_rpc *rpc, const ProtobufCMessage *request)
{
	const Runtime__V1__StreamContainersRequest *req = (const void *)request;
	struct crid_container *const *all;
	size_t n;

	if (!crid_rpc_ready(rpc, CRID_NEED_CTRS))
		return;
	if (check_container_filter(rpc, req->filter) < 0)
		return;
	all = crid_container_list(rpc->d->ctrs->store, &n);
	stream_ids(rpc, &containers, (void *const *)all, n, container_listed, req->filter, NULL);
}

void crid_handle_stream_container_stats(struct crid_rpc *rpc, const ProtobufCMessage *request)
{
	const Runtime__V1__StreamContainerStatsRequest *req = (const void *)request;
	const Runtime__V1__ContainerStatsFilter *f = req->filter;
	struct crid_container *const *all;
	size_t n;

	if (!crid_rpc_ready(rpc, CRID_NEED_CTRS))
		return;
	if (f && (check_id(rpc, "filter.id", f->id) < 0 ||
		  check_id(rpc, "filter.pod_sandbox_id", f->pod_sandbox_id) < 0 ||
		  check_selector(rpc, "filter.label_selector", f->n_label_selector,
				 (void *const *)f->label_selector) < 0))
		return;
	all = crid_container_list(rpc->d->ctrs->store, &n);
	stream_ids(rpc, &container_stats, (void *const *)all, n, container_stats_listed, f, NULL);
}

void crid_handle_stream_pod_sandbox_stats(struct crid_rpc *rpc, const ProtobufCMessage *request)
{
	const Runtime__V1__StreamPodSandboxStatsRequest *req = (const void *)request;
	const Runtime__V1__PodSandboxStatsFilter *f = req->filter;

	if (!crid_rpc_ready(rpc, CRID_NEED_PODS | CRID_NEED_CTRS))
		return;
	if (f && (check_id(rpc, "filter.id", f->id) < 0 ||
		  check_selector(rpc, "filter.label_selector", f->n_label_selector,
				 (void *const *)f->label_selector) < 0))
		return;
	crid_list_stream_sandboxes(rpc, pod_stats_listed, f, pod_stats_build);
}

void crid_handle_stream_images(struct crid_rpc *rpc, const ProtobufCMessage *request)
{
	const Runtime__V1__StreamImagesRequest *req = (const void *)request;
	struct crid_image *const *all;
	struct crid_image *only;
	size_t n;

	if (crid_images_selected(rpc, req->filter, &all, &n, &only) < 0)
		return;
	stream_ids(rpc, &images, (void *const *)all, n, any, NULL, NULL);
}

void crid_list_stream_sandboxes(struct crid_rpc *rpc,
				bool (*listed)(const void *sb, const void *filter),
				const void *filter, crid_list_stream_build_fn build)
{
	struct crid_sandbox *const *all;
	size_t n;

	if (!crid_rpc_ready(rpc, CRID_NEED_PODS))
		return;
	all = crid_sandbox_list(rpc->d->pods->store, &n);
	stream_ids(rpc, &built_sandboxes, (void *const *)all, n, listed, filter, build);
}
