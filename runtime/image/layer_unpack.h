/*
 * Applies a layer tarball, pushed in slices, to a layer directory (the
 * staging dir of one layer, later an overlay lowerdir). Every path is
 * resolved inside the layer root as if it were chroot'ed there (openat2
 * RESOLVE_IN_ROOT for the parent, O_NOFOLLOW or *at(..., NOFOLLOW) for the
 * last component): `..`, absolute paths, symlinks and hard links can never
 * reach outside it. OCI whiteouts become overlayfs whiteouts: `.wh.NAME` ->
 * a 0/0 character device NAME, `.wh..wh..opq` -> trusted.overlay.opaque=y on
 * the directory. Owners, modes (setuid kept), xattrs and mtimes are applied;
 * directory mtimes at finish, after their children exist.
 * Needs CAP_CHOWN, CAP_MKNOD, CAP_SYS_ADMIN (trusted.* xattrs) for a
 * faithful unpack; without them those steps fail with EPERM.
 */
#ifndef CRID_LAYER_UNPACK_H
#define CRID_LAYER_UNPACK_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "reactor/err.h"
#include "runtime/image/tar_reader.h"

#define CRID_LAYER_DEFAULT_MAX_ENTRIES 1000000ull
#define CRID_LAYER_DEFAULT_MAX_BYTES (64ull << 30)
#define CRID_IMAGE_DEFAULT_MAX_BYTES (256ull << 30) /* crid_unpack_total.max */

/* A zero field takes the default. */
struct crid_unpack_limits {
	uint64_t max_entries; /* archive members, default 1,000,000 */
	uint64_t max_bytes;   /* regular-file data bytes, default 64 GiB */
	struct crid_tar_limits tar;
};

/*
 * Regular-file bytes all layers of one image may write, shared by their
 * unpackers: each entry's size is charged before its file is created.
 */
struct crid_unpack_total {
	uint64_t bytes; /* charged so far (layers already stored included by the caller) */
	uint64_t max;
};

struct crid_layer_stats {
	uint64_t entries; /* archive members applied (whiteouts included) */
	uint64_t bytes;	  /* regular-file data bytes written */
	uint64_t inodes;  /* inodes created (hard links excluded) */
};

/*
 * Work one loop iteration may spend unpacking, shared by every unpacker fed
 * in it; the owner of the loop refills it before each poll (entries = N,
 * deadline_ns = 0). The first unpack step of an iteration starts the clock:
 * deadline_ns = now (CLOCK_MONOTONIC) + slice_ns. An unpacker stops after
 * the entry, data chunk or directory mtime that exhausts either bound, so a
 * slice of symlinks arriving in one decompressed chunk cannot stall the loop.
 */
struct crid_unpack_budget {
	uint32_t entries;     /* members (and directory mtimes at finish) left */
	uint64_t slice_ns;    /* time allowed per iteration; 0 = unlimited */
	uint64_t deadline_ns; /* 0 = not started in this iteration */
};

struct crid_layer_unpack;

/*
 * Starts unpacking into the directory |root_dirfd| (duplicated; the caller
 * keeps its fd). |lim| may be NULL. NULL on error.
 */
struct crid_layer_unpack *
crid_layer_unpack_new(int root_dirfd, const struct crid_unpack_limits *lim, struct crid_err *err);

/*
 * Makes |u| draw on |b| (not owned, may be shared, NULL = unlimited, the
 * default).
 */
void crid_layer_unpack_set_budget(struct crid_layer_unpack *u, struct crid_unpack_budget *b);

/*
 * Makes |u| charge the files it writes to |t| (not owned, NULL = no image
 * limit, the default). Over t->max the entry fails with EFBIG.
 */
void crid_layer_unpack_set_total(struct crid_layer_unpack *u, struct crid_unpack_total *t);

/* True when |b| (NULL = unlimited) has nothing left for this iteration. */
bool crid_unpack_budget_spent(struct crid_unpack_budget *b);

/*
 * Applies the next |len| bytes of the uncompressed tar stream. Stores the
 * bytes taken in |*consumed| and returns 0 when all |len| were applied, 1
 * when the budget ran out first (feed |data| + |*consumed| in a later
 * iteration), -1 on error. Errors name the entry: "layer: entry 7
 * `usr/bin/x`: cause". After an error the directory is half-written and the
 * caller must discard it; further calls fail.
 */
int crid_layer_unpack_feed(struct crid_layer_unpack *u, const void *data, size_t len,
			   size_t *consumed, struct crid_err *err);

/*
 * Ends the stream: checks the archive is complete, applies the directory
 * mtimes and fills |out| (may be NULL). Returns 0 when done, 1 when the
 * budget ran out with mtimes left (call again in a later iteration), -1 on
 * error.
 */
int crid_layer_unpack_finish(struct crid_layer_unpack *u, struct crid_layer_stats *out,
			     struct crid_err *err);

void crid_layer_unpack_free(struct crid_layer_unpack *u);

#endif
