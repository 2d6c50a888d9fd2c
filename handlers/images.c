/*
 * ImageService: ListImages, ImageStatus, RemoveImage, ImageFsInfo (the image
 * store, and apart from it the containers' writable layers). The work
 * is the image store's (runtime/image/image_store.h, image_names.h);
 * PullImage is in handlers/pull.c.
 */
#include <ctype.h>
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "handlers/images.h"
#include "handlers/methods.h"
#include "proto/api.pb-c.h"
#include "runtime/container/cgroup_stats.h"
#include "runtime/container/ctr.h"
#include "runtime/image/image_names.h"

/* "1000", "1000:1000" -> uid; "app", "app:app" -> username; "" -> neither, as containerd. */
static int fill_user(struct crid_rpc *rpc, Runtime__V1__Image *out, const char *user)
{
	size_t len = strcspn(user, ":");
	char *end;
	long long uid;

	if (len == 0)
		return 0;
	uid = strtoll(user, &end, 10);
	if (end == user + len && uid >= 0) {
		out->uid = crid_arena_alloc(&rpc->arena, sizeof(*out->uid));
		if (!out->uid)
			return -1;
		runtime__v1__int64_value__init(out->uid);
		out->uid->value = uid;
		return 0;
	}
	out->username = crid_arena_alloc(&rpc->arena, len + 1);
	if (!out->username)
		return -1;
	memcpy(out->username, user, len);
	out->username[len] = '\0';
	return 0;
}

static Runtime__V1__Image *to_cri(struct crid_rpc *rpc, const struct crid_image *img)
{
	Runtime__V1__Image *out = crid_arena_alloc(&rpc->arena, sizeof(*out));
	Runtime__V1__ImageSpec *spec = crid_arena_alloc(&rpc->arena, sizeof(*spec));

	if (!out || !spec)
		return NULL;
	runtime__v1__image__init(out);
	runtime__v1__image_spec__init(spec);
	out->id = (char *)img->id;
	out->repo_tags = img->tags.v;
	out->n_repo_tags = img->tags.n;
	out->repo_digests = img->digests.v;
	out->n_repo_digests = img->digests.n;
	out->size = img->size;
	out->pinned = img->pinned;
	spec->image = (char *)img->id;
	out->spec = spec;
	if (fill_user(rpc, out, img->user ? img->user : "") < 0)
		return NULL;
	return out;
}

/*
 * The image |name| designates, through the one resolver every image RPC uses.
 * Returns 1 found, 0 absent, -1 after failing the call with INVALID_ARGUMENT
 * naming |field| for a malformed reference.
 */
static int lookup(struct crid_rpc *rpc, const char *field, const char *name,
		  struct crid_image **img)
{
	struct crid_err err;

	if (crid_image_names_resolve(rpc->d->images, name, img, NULL, &err) == 0)
		return 1;
	*img = NULL;
	if (err.code == ENOENT)
		return 0;
	crid_rpc_fail(rpc, crid_rpc_status(err.code), "%s: %s", field, err.msg);
	return -1;
}

void crid_handle_list_images(struct crid_rpc *rpc, const ProtobufCMessage *request)
{
	const Runtime__V1__ListImagesRequest *req = (const Runtime__V1__ListImagesRequest *)request;
	Runtime__V1__ListImagesResponse resp = RUNTIME__V1__LIST_IMAGES_RESPONSE__INIT;
	struct crid_image *const *all;
	struct crid_image *only;
	size_t n;

	if (crid_images_selected(rpc, req->filter, &all, &n, &only) < 0)
		return;
	resp.images = crid_arena_alloc(&rpc->arena, (n ? n : 1) * sizeof(*resp.images));
	if (!resp.images) {
		crid_rpc_fail(rpc, CRID_GRPC_RESOURCE_EXHAUSTED, "out of memory listing images");
		return;
	}
	for (size_t i = 0; i < n; i++) {
		resp.images[i] = to_cri(rpc, all[i]);
		if (!resp.images[i]) {
			crid_rpc_fail(rpc, CRID_GRPC_RESOURCE_EXHAUSTED,
				      "out of memory listing images");
			return;
		}
	}
	resp.n_images = n;
	crid_rpc_reply(rpc, &resp.base);
}

static int add_verbose_info(struct crid_rpc *rpc, Runtime__V1__ImageStatusResponse *resp,
			    const struct crid_image *img)
{
	Runtime__V1__ImageStatusResponse__InfoEntry *e = crid_arena_alloc(&rpc->arena, sizeof(*e));
	Runtime__V1__ImageStatusResponse__InfoEntry **v = crid_arena_alloc(&rpc->arena, sizeof(*v));
	size_t len = strlen(img->config_json ? img->config_json : "");
	char *info = crid_arena_alloc(&rpc->arena, len + 64);

	if (!e || !v || !info)
		return -1;
	/* CRI-O and containerd put the image config under "info"; crictl prints it. */
	snprintf(info, len + 64, "{\"imageSpec\":%s}", len ? img->config_json : "{}");
	runtime__v1__image_status_response__info_entry__init(e);
	e->key = "info";
	e->value = info;
	v[0] = e;
	resp->info = v;
	resp->n_info = 1;
	return 0;
}

void crid_handle_image_status(struct crid_rpc *rpc, const ProtobufCMessage *request)
{
	const Runtime__V1__ImageStatusRequest *req =
	    (const Runtime__V1__ImageStatusRequest *)request;
	Runtime__V1__ImageStatusResponse resp = RUNTIME__V1__IMAGE_STATUS_RESPONSE__INIT;
	struct crid_image *img;

	if (!req->image || !req->image->image[0]) {
		crid_rpc_fail(rpc, CRID_GRPC_INVALID_ARGUMENT, "image.image: must not be empty");
		return;
	}
	if (lookup(rpc, "image.image", req->image->image, &img) < 0)
		return;
	if (img) {
		resp.image = to_cri(rpc, img);
		if (!resp.image || (req->verbose && add_verbose_info(rpc, &resp, img) < 0)) {
			crid_rpc_fail(rpc, CRID_GRPC_RESOURCE_EXHAUSTED, "out of memory");
			return;
		}
	}
	/* An absent image is OK with no image, not NOT_FOUND: kubelet relies on it. */
	crid_rpc_reply(rpc, &resp.base);
}

void crid_handle_remove_image(struct crid_rpc *rpc, const ProtobufCMessage *request)
{
	const Runtime__V1__RemoveImageRequest *req =
	    (const Runtime__V1__RemoveImageRequest *)request;
	Runtime__V1__RemoveImageResponse resp = RUNTIME__V1__REMOVE_IMAGE_RESPONSE__INIT;
	struct crid_image *img;
	struct crid_err err;

	if (!req->image || !req->image->image[0]) {
		crid_rpc_fail(rpc, CRID_GRPC_INVALID_ARGUMENT, "image.image: must not be empty");
		return;
	}
	if (lookup(rpc, "image.image", req->image->image, &img) < 0)
		return;
	/* The CRI removes the image with every tag, whichever of its names is given. */
	if (img && crid_image_store_remove(rpc->d->images, img->id, &err) < 0) {
		crid_rpc_fail(
		    rpc, err.code == EBUSY ? CRID_GRPC_FAILED_PRECONDITION : CRID_GRPC_INTERNAL,
		    "image.image `%s`: %s", req->image->image, err.msg);
		return;
	}
	if (img)
		crid_trash_sweep(&rpc->d->trash); /* freed layers, if any, leave off the loop */
	crid_rpc_reply(rpc, &resp.base);	  /* idempotent: removing an absent image is OK */
}

/* Writable layers are measured by `du` children at most this often (ContainerStats: 10 s). */
#define CTR_FS_MAX_AGE 60.0

/*
 * The container filesystem, as CRI-O reports its container store apart
 * from the image store: `<root>/containers` (runtime/container/container.c
 * keeps every container's upper and work dir there) with the sum of the
 * writable layers' last `du` figures (0 until measured).
 */
static Runtime__V1__FilesystemUsage *container_fs(struct crid_rpc *rpc, int64_t ts)
{
	Runtime__V1__FilesystemUsage *u = crid_arena_alloc(&rpc->arena, sizeof(*u));
	Runtime__V1__FilesystemIdentifier *id = crid_arena_alloc(&rpc->arena, sizeof(*id));
	Runtime__V1__UInt64Value *b = crid_arena_alloc(&rpc->arena, sizeof(*b));
	Runtime__V1__UInt64Value *in = crid_arena_alloc(&rpc->arena, sizeof(*in));
	struct crid_ctrs *ctrs = rpc->d->ctrs;
	char layer[4096];
	size_t n = 0;

	if (!u || !id || !b || !in)
		return NULL;
	runtime__v1__filesystem_usage__init(u);
	runtime__v1__filesystem_identifier__init(id);
	runtime__v1__uint64_value__init(b);
	runtime__v1__uint64_value__init(in);
	id->mountpoint = crid_images_ctr_fs_mountpoint(rpc);
	for (struct crid_container *const *v = ctrs ? crid_container_list(ctrs->store, &n) : NULL;
	     v && n--; v++) {
		uint64_t bytes = 0, inodes = 0;

		/* a container still being created may have no layer yet: nothing to measure */
		if ((*v)->state == CRID_CTR_CREATING ||
		    crid_container_layer(ctrs->store, *v, layer, sizeof(layer)) < 0)
			continue;
		strncat(layer, "/upper", sizeof(layer) - strlen(layer) - 1);
		crid_du_cache_get(ctrs->du, layer, CTR_FS_MAX_AGE, &bytes, &inodes);
		b->value += bytes;
		in->value += inodes;
	}
	u->timestamp = ts;
	u->fs_id = id;
	u->used_bytes = b;
	u->inodes_used = in;
	return id->mountpoint ? u : NULL;
}

void crid_handle_image_fs_info(struct crid_rpc *rpc, const ProtobufCMessage *request)
{
	Runtime__V1__ImageFsInfoResponse resp = RUNTIME__V1__IMAGE_FS_INFO_RESPONSE__INIT;
	Runtime__V1__FilesystemUsage usage = RUNTIME__V1__FILESYSTEM_USAGE__INIT;
	Runtime__V1__FilesystemIdentifier fs_id = RUNTIME__V1__FILESYSTEM_IDENTIFIER__INIT;
	Runtime__V1__UInt64Value bytes = RUNTIME__V1__UINT64_VALUE__INIT;
	Runtime__V1__UInt64Value inodes = RUNTIME__V1__UINT64_VALUE__INIT;
	Runtime__V1__FilesystemUsage *list[1] = { &usage }, *ctr_list[1];
	struct timespec now;

	(void)request;
	clock_gettime(CLOCK_REALTIME, &now);
	/* From memory: the store's last du walk and its writers' counters (image_usage.h). */
	crid_image_store_usage(rpc->d->images, &bytes.value, &inodes.value);
	fs_id.mountpoint = (char *)crid_image_store_dir(rpc->d->images);
	usage.timestamp = (int64_t)now.tv_sec * 1000000000 + now.tv_nsec;
	usage.fs_id = &fs_id;
	usage.used_bytes = &bytes;
	usage.inodes_used = &inodes;
	resp.image_filesystems = list;
	resp.n_image_filesystems = 1;
	ctr_list[0] = container_fs(rpc, usage.timestamp);
	if (!ctr_list[0]) {
		crid_rpc_fail(rpc, CRID_GRPC_RESOURCE_EXHAUSTED, "out of memory");
		return;
	}
	resp.container_filesystems = ctr_list;
	resp.n_container_filesystems = 1;
	crid_rpc_reply(rpc, &resp.base);
}

/* ---- the streamed list's items (handlers/list_stream.c) ---- */

Runtime__V1__Image *crid_images_item(struct crid_rpc *rpc, const struct crid_image *img)
{
	return to_cri(rpc, img);
}

int crid_images_selected(struct crid_rpc *rpc, const Runtime__V1__ImageFilter *filter,
			 struct crid_image *const **all, size_t *n, struct crid_image **only)
{
	const char *want = filter && filter->image ? filter->image->image : "";

	*only = NULL;
	*all = crid_image_store_list(rpc->d->images, n);
	if (!want[0])
		return 0;
	if (lookup(rpc, "filter.image.image", want, only) < 0)
		return -1;
	*all = *only ? only : NULL;
	*n = *only ? 1 : 0;
	return 0;
}

char *crid_images_ctr_fs_mountpoint(struct crid_rpc *rpc)
{
	char dir[4096];

	snprintf(dir, sizeof(dir), "%s/containers", rpc->d->cfg->root);
	return crid_rpc_strdup(rpc, dir);
}
