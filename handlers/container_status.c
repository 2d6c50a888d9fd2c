/*
 * ContainerStatus and ListContainers: replies built from the container
 * records. List entries are encoded once per change and copied into every
 * reply (kubelet relists all containers every second).
 */
#include <errno.h>
#include <stdio.h>
#include <string.h>
#include <time.h>
#include <yajl/yajl_gen.h>

#include "handlers/container.h"
#include "handlers/ctr_config.h"
#include "handlers/list_reply.h"
#include "handlers/methods.h"
#include "handlers/status_info.h"
#include "proto/api.pb-c.h"
#include "reactor/mem.h"
#include "runtime/image/image_names.h"

static Runtime__V1__ContainerState cri_state(enum crid_ctr_state s)
{
	switch (s) {
	case CRID_CTR_CREATED:
		return RUNTIME__V1__CONTAINER_STATE__CONTAINER_CREATED;
	case CRID_CTR_RUNNING:
		return RUNTIME__V1__CONTAINER_STATE__CONTAINER_RUNNING;
	case CRID_CTR_EXITED:
		return RUNTIME__V1__CONTAINER_STATE__CONTAINER_EXITED;
	default:
		return RUNTIME__V1__CONTAINER_STATE__CONTAINER_UNKNOWN;
	}
}

static Runtime__V1__Container__LabelsEntry **
kv_entries(struct crid_arena *a, const struct crid_kvs *kvs, const ProtobufCMessageDescriptor *desc)
{
	Runtime__V1__Container__LabelsEntry **v = crid_arena_alloc(a, (kvs->n + 1) * sizeof(*v));

	if (!v)
		return NULL;
	for (size_t i = 0; i < kvs->n; i++) {
		v[i] = crid_arena_alloc(a, sizeof(*v[i]));
		if (!v[i])
			return NULL;
		protobuf_c_message_init(desc, v[i]);
		v[i]->key = kvs->v[i].key;
		v[i]->value = kvs->v[i].value;
	}
	return v;
}

static Runtime__V1__ContainerMetadata *metadata(struct crid_arena *a,
						const struct crid_container *c)
{
	Runtime__V1__ContainerMetadata *m = crid_arena_alloc(a, sizeof(*m));

	if (m) {
		runtime__v1__container_metadata__init(m);
		m->name = c->name;
		m->attempt = c->attempt;
	}
	return m;
}

static Runtime__V1__ImageSpec *image_spec(struct crid_arena *a, char *image)
{
	Runtime__V1__ImageSpec *i = crid_arena_alloc(a, sizeof(*i));

	if (i) {
		runtime__v1__image_spec__init(i);
		i->image = image;
	}
	return i;
}

/* ---- ContainerStatus ---- */

/*
 * What containerd's ContainerStatus reports (internal/cri/server/
 * container_status.go): image = the image's first repo tag, image_ref = its
 * repo digest (kubelet's imageID, what scanners read), image_id = the image
 * id; without a tag or a repo digest, the image as given and the id. Looked
 * up by id in the image store, whose records survive a restart as the
 * container's do. ListContainers keeps the id (kubelet's image GC matches it
 * against ListImages' ids), as containerd does.
 */
static void image_names(struct crid_rpc *rpc, const struct crid_container *c, char **image,
			char **image_ref)
{
	struct crid_image *img = crid_image_store_find(rpc->d->images, c->image_ref);
	const char *tag = img ? crid_image_names_repo_tag(img) : NULL;
	const char *digest = img ? crid_image_names_repo_digest(img, c->image) : NULL;

	*image = (char *)(tag ? tag : c->image);
	*image_ref = (char *)(digest ? digest : c->image_ref);
}

static ProtobufCAllocator arena_allocator(struct crid_arena *a);

static void *arena_alloc_cb(void *data, size_t size)
{
	return crid_arena_alloc(data, size);
}

static void arena_free_cb(void *data, void *p)
{
	(void)data, (void)p;
}

static ProtobufCAllocator arena_allocator(struct crid_arena *a)
{
	ProtobufCAllocator al = { arena_alloc_cb, arena_free_cb, a };

	return al;
}

static Runtime__V1__ContainerUser *user_of(struct crid_arena *a, const struct crid_container *c)
{
	Runtime__V1__ContainerUser *u = crid_arena_alloc(a, sizeof(*u));
	Runtime__V1__LinuxContainerUser *l = crid_arena_alloc(a, sizeof(*l));
	int64_t *g = crid_arena_alloc(a, (c->user.n_additional_gids + 1) * sizeof(*g));

	if (!u || !l || !g)
		return NULL;
	runtime__v1__container_user__init(u);
	runtime__v1__linux_container_user__init(l);
	l->uid = c->user.uid;
	l->gid = c->user.gid;
	for (size_t i = 0; i < c->user.n_additional_gids; i++)
		g[i] = c->user.additional_gids[i];
	l->supplemental_groups = g;
	l->n_supplemental_groups = c->user.n_additional_gids;
	u->linux = l;
	return u;
}

/* Mounts and resources come from the config kubelet sent (and the last update). */
static int from_config(struct crid_rpc *rpc, const struct crid_container *c,
		       Runtime__V1__ContainerStatus *st)
{
	ProtobufCAllocator al = arena_allocator(&rpc->arena);
	Runtime__V1__ContainerConfig *cfg = (void *)protobuf_c_message_unpack(
	    &runtime__v1__container_config__descriptor, &al, c->config_len, c->config);
	Runtime__V1__LinuxContainerResources *res = NULL;
	Runtime__V1__ContainerResources *cr;

	if (!cfg)
		return -1;
	st->mounts = cfg->mounts;
	st->n_mounts = cfg->n_mounts;
	if (c->resources)
		res = (void *)protobuf_c_message_unpack(
		    &runtime__v1__linux_container_resources__descriptor, &al, c->resources_len,
		    c->resources);
	else if (cfg->linux)
		res = cfg->linux->resources;
	if (res) {
		cr = crid_arena_alloc(&rpc->arena, sizeof(*cr));
		if (!cr)
			return -1;
		runtime__v1__container_resources__init(cr);
		cr->linux = res;
		st->resources = cr;
	}
	return 0;
}

int crid_container_status_fill(struct crid_rpc *rpc, struct crid_container *c,
			       Runtime__V1__ContainerStatus *st)
{
	struct crid_arena *a = &rpc->arena;
	char *image, *image_ref;

	runtime__v1__container_status__init(st);
	image_names(rpc, c, &image, &image_ref);
	st->id = c->id;
	st->metadata = metadata(a, c);
	st->state = cri_state(c->state);
	st->created_at = c->created_at;
	st->started_at = c->started_at;
	st->finished_at = c->finished_at;
	st->exit_code = c->state == CRID_CTR_EXITED ? c->exit_code : 0;
	st->image = image_spec(a, image);
	st->image_ref = image_ref;
	st->image_id = c->image_ref;
	st->reason = c->reason ? c->reason : "";
	st->message = c->message ? c->message : "";
	st->n_labels = c->labels.n;
	st->labels = (void *)kv_entries(a, &c->labels,
					&runtime__v1__container_status__labels_entry__descriptor);
	st->n_annotations = c->annotations.n;
	st->annotations = (void *)kv_entries(
	    a, &c->annotations, &runtime__v1__container_status__annotations_entry__descriptor);
	st->log_path = c->log_path;
	st->user = user_of(a, c);
	st->stop_signal = crid_linux_signal_to_cri(c->stop_signal);
	if (!st->metadata || !st->image || !st->labels || !st->annotations || !st->user)
		return -1;
	return from_config(rpc, c, st);
}

void crid_handle_container_status(struct crid_rpc *rpc, const ProtobufCMessage *request)
{
	const Runtime__V1__ContainerStatusRequest *req = (const void *)request;
	Runtime__V1__ContainerStatusResponse resp = RUNTIME__V1__CONTAINER_STATUS_RESPONSE__INIT;
	Runtime__V1__ContainerStatusResponse__InfoEntry info, *infos[1];
	Runtime__V1__ContainerStatus st;
	struct crid_container *c = crid_container_handlers_find(rpc, req->container_id);

	if (!c)
		return;
	if (crid_container_status_fill(rpc, c, &st) < 0) {
		crid_rpc_fail(rpc, CRID_GRPC_RESOURCE_EXHAUSTED, "out of memory");
		return;
	}
	resp.status = &st;
	if (req->verbose) {
		runtime__v1__container_status_response__info_entry__init(&info);
		info.key = "info";
		info.value = crid_status_info_container(rpc, c);
		if (!info.value) {
			crid_rpc_fail(rpc, CRID_GRPC_RESOURCE_EXHAUSTED, "out of memory");
			return;
		}
		infos[0] = &info;
		resp.info = infos;
		resp.n_info = 1;
	}
	crid_rpc_reply(rpc, &resp.base);
}

/* ---- ListContainers ---- */

static int encode_entry(struct crid_container *c)
{
	Runtime__V1__Container item = RUNTIME__V1__CONTAINER__INIT;
	struct crid_arena a;
	int r = -1;

	crid_arena_init(&a, 1u << 20);
	item.id = c->id;
	item.pod_sandbox_id = c->sandbox_id;
	item.metadata = metadata(&a, c);
	item.image = image_spec(&a, c->image);
	item.image_ref = c->image_ref;
	item.image_id = c->image_ref;
	item.state = cri_state(c->state);
	item.created_at = c->created_at;
	item.n_labels = c->labels.n;
	item.labels = kv_entries(&a, &c->labels, &runtime__v1__container__labels_entry__descriptor);
	item.n_annotations = c->annotations.n;
	item.annotations = (void *)kv_entries(
	    &a, &c->annotations, &runtime__v1__container__annotations_entry__descriptor);
	if (item.metadata && item.image && item.labels && item.annotations)
		r = crid_list_item_encode(&item.base, &c->list_entry, &c->list_entry_len);
	crid_arena_reset(&a);
	return r;
}

static bool listed(const struct crid_container *c, const Runtime__V1__ContainerFilter *f)
{
	if (c->state == CRID_CTR_CREATING)
		return false;
	if (!f)
		return true;
	if (f->id[0] && strncmp(c->id, f->id, strlen(f->id)) != 0)
		return false;
	if (f->pod_sandbox_id[0] &&
	    strncmp(c->sandbox_id, f->pod_sandbox_id, strlen(f->pod_sandbox_id)) != 0)
		return false;
	if (f->state && f->state->state != cri_state(c->state))
		return false;
	for (size_t i = 0; i < f->n_label_selector; i++) {
		const char *v = crid_kvs_get(&c->labels, f->label_selector[i]->key);

		if (!v || strcmp(v, f->label_selector[i]->value) != 0)
			return false;
	}
	return true;
}

struct list_ctx {
	struct crid_container *const *all;
	const Runtime__V1__ContainerFilter *filter;
};

static int list_item(void *ctx, size_t i, const uint8_t **p, size_t *len)
{
	struct list_ctx *l = ctx;
	struct crid_container *c = l->all[i];

	if (!listed(c, l->filter))
		return 1;
	if (!c->list_entry && encode_entry(c) < 0)
		return -1;
	*p = c->list_entry;
	*len = c->list_entry_len;
	return 0;
}

void crid_handle_list_containers(struct crid_rpc *rpc, const ProtobufCMessage *request)
{
	const Runtime__V1__ListContainersRequest *req = (const void *)request;
	struct list_ctx l = { .filter = req->filter };
	size_t n;

	if (!rpc->d->ctrs) {
		crid_rpc_fail(rpc, CRID_GRPC_UNAVAILABLE, "containers not initialized");
		return;
	}
	l.all = crid_container_list(rpc->d->ctrs->store, &n);
	crid_list_reply(rpc, n, list_item, &l);
}
