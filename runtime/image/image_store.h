/*
 * Room runtime/image/: images from reference to unpacked layers —
 * references and user names (image_ref.c, image_names.c), registries.conf
 * (registries.c), manifests (manifest.c), pulls on the loop (image_pull.c),
 * tar reading and layer unpacking (tar_reader.c, layer_unpack.c) and the store
 * (this file). Calls config/, state/, reactor/ and io/ (registry HTTP client,
 * layer stream).
 *
 * The image store under `<root>/images`: unpacked layers by chainID (each
 * directory usable as an overlay lowerdir), image records by image id
 * (`sha256:<config digest>`), and the names (tags, digests) that point at
 * them. Metadata is written crash-safely; at open the store is rebuilt from
 * disk and half-finished staging directories are swept.
 *
 *   images/staging/<random>/          a layer being unpacked
 *   images/layers/<chain hex>/diff/   an unpacked layer
 *   images/layers/<chain hex>/layer.json
 *   images/images/<id hex>.json       an image record
 *   images/trash/                     removed layers awaiting deletion
 *
 * A layer directory appears under layers/ only by rename(2) of a staging
 * directory whose digests verified, and its layer.json is written first, so
 * a kill -9 at any point leaves either no layer or a whole one.
 */
#ifndef CRID_IMAGE_STORE_H
#define CRID_IMAGE_STORE_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "reactor/err.h"
#include "runtime/config/config.h"

struct crid_loop;

#define CRID_DIGEST_LEN 71 /* "sha256:" + 64 hex */

struct crid_layer_info {
	char chain_id[CRID_DIGEST_LEN + 1];
	char diff_id[CRID_DIGEST_LEN + 1];
	char blob_digest[CRID_DIGEST_LEN + 1];
	uint64_t blob_size; /* compressed bytes on the wire */
	uint64_t bytes;	    /* unpacked bytes */
	uint64_t inodes;    /* unpacked entries */
};

struct crid_image {
	char id[CRID_DIGEST_LEN + 1]; /* sha256:<config digest> */
	struct crid_strv tags;	      /* "docker.io/library/busybox:latest" */
	struct crid_strv digests;     /* "docker.io/library/busybox@sha256:..." */
	struct crid_strv layers;      /* chain ids, base first */
	uint64_t size;		      /* compressed bytes of the layers + config, as CRI reports */
	char *config_json;	      /* the image config, verbatim */
	char *user;		      /* the config's User ("1000:1000", "app"), "" if none */
	bool pinned;
	unsigned users; /* containers using it (in memory; rebuilt by the container store) */
};

struct crid_image_store;

/* Opens (creating) `<root>/images`, loads every record, sweeps staging and trash. */
int crid_image_store_open(const char *root, struct crid_image_store **out, struct crid_err *err);

void crid_image_store_close(struct crid_image_store *s);

/*
 * Creates a fresh staging directory for one layer; writes its path into
 * |path| and returns an O_DIRECTORY fd on it (caller closes), or -1.
 */
int crid_image_store_stage(struct crid_image_store *s, char *path, size_t size,
			   struct crid_err *err);

/* Removes a staging directory (a failed or cancelled layer). */
void crid_image_store_discard(struct crid_image_store *s, const char *staging_path);

/*
 * Makes the verified staging directory the layer |info->chain_id|, in two
 * steps so that making it durable can run off the loop:
 *
 * begin moves |staging_path| to W/diff beside a W/layer.json (not fsynced),
 * W being a new staging dir whose path goes into |wrap|. Returns 0, or 1 when
 * the layer exists already (a concurrent pull won: staging discarded, done),
 * or -1 (everything discarded).
 *
 * The caller then makes W durable, e.g. `sync -f W` (syncfs) in a child,
 * and calls end, whose rename makes the whole layer appear under layers/. A
 * crash before end leaves W under staging/, swept at the next open. If the
 * sync failed, discard W with crid_image_store_discard() instead.
 */
int crid_image_store_commit_begin(struct crid_image_store *s, const char *staging_path,
				  const struct crid_layer_info *info, char *wrap, size_t size,
				  struct crid_err *err);

int crid_image_store_commit_end(struct crid_image_store *s, const char *wrap,
				const struct crid_layer_info *info, struct crid_err *err);

/* begin + syncfs in the calling thread + end: blocks, for tests and tools only. */
int crid_image_store_commit_layer(struct crid_image_store *s, const char *staging_path,
				  const struct crid_layer_info *info, struct crid_err *err);

/* The layer, or NULL. */
const struct crid_layer_info *crid_image_store_layer(const struct crid_image_store *s,
						     const char *chain_id);

/* Writes the layer's diff directory path into |path|. */
int crid_image_store_layer_path(const struct crid_image_store *s, const char *chain_id, char *path,
				size_t size);

/*
 * Records an image (copied). Its names move to it from any other image
 * (which keeps its id and remaining names, as CRI-O does with a retagged
 * name). Every layer must exist. Merges names when the id already exists.
 */
int crid_image_store_add(struct crid_image_store *s, const struct crid_image *img,
			 struct crid_err *err);

/*
 * Finds an image by id (`sha256:<hex>`, `<hex>`, or a unique hex prefix of at
 * least 3 characters), by full tag or by full digest reference. NULL if none.
 */
struct crid_image *crid_image_store_find(struct crid_image_store *s, const char *name);

/*
 * Removes |name| from its image: by id, the image and all its names go; by
 * a tag or digest, only that name unless it was the last one. Layers no
 * image uses any more are moved to trash and deleted later off the loop.
 * Fails with EBUSY when the image is in use by a container.
 */
int crid_image_store_remove(struct crid_image_store *s, const char *name, struct crid_err *err);

/* Images in id order; |*n| set. Valid until the next change. */
struct crid_image *const *crid_image_store_list(const struct crid_image_store *s, size_t *n);

/*
 * Disk usage of the store for ImageFsInfo, answered from memory: once
 * tracked, a `du` child's last walk of layers/ and images/ carried forward
 * by the writers' counters (runtime/image/image_usage.h); before, the
 * layers' unpacked bytes and inodes alone.
 */
void crid_image_store_usage(const struct crid_image_store *s, uint64_t *bytes, uint64_t *inodes);

/*
 * Starts the walks on |loop| (the first one right away). Call
 * crid_image_store_untrack_usage() while |loop| is still alive: it kills
 * a walk in flight. Fails only when out of memory.
 */
int crid_image_store_track_usage(struct crid_image_store *s, struct crid_loop *loop,
				 struct crid_err *err);
void crid_image_store_untrack_usage(struct crid_image_store *s);

/* `<root>/images`, the ImageFsInfo mountpoint. */
const char *crid_image_store_dir(const struct crid_image_store *s);

/* Moved-away layer dirs waiting for deletion: the caller spawns `rm -rf` on them. */
const char *crid_image_store_trash_dir(const struct crid_image_store *s);

void crid_image_free(struct crid_image *img);

#endif
