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

#include <stddef.h>
#include <stdint.h>

#include "reactor/err.h"
#include "runtime/tar_reader.h"

#define CRID_LAYER_DEFAULT_MAX_ENTRIES 1000000ull
#define CRID_LAYER_DEFAULT_MAX_BYTES (64ull << 30)

/* A zero field takes the default. */
struct crid_unpack_limits {
	uint64_t max_entries; /* archive members, default 1,000,000 */
	uint64_t max_bytes;   /* regular-file data bytes, default 64 GiB */
	struct crid_tar_limits tar;
};

struct crid_layer_stats {
	uint64_t entries; /* archive members applied (whiteouts included) */
	uint64_t bytes;	  /* regular-file data bytes written */
	uint64_t inodes;  /* inodes created (hard links excluded) */
};

struct crid_layer_unpack;

/*
 * Starts unpacking into the directory |root_dirfd| (duplicated; the caller
 * keeps its fd). |lim| may be NULL. NULL on error.
 */
struct crid_layer_unpack *
crid_layer_unpack_new(int root_dirfd, const struct crid_unpack_limits *lim, struct crid_err *err);

/*
 * Applies the next |len| bytes of the uncompressed tar stream. Errors name
 * the entry: "layer: entry 7 `usr/bin/x`: cause". After an error the
 * directory is half-written and the caller must discard it; further calls
 * fail.
 */
int crid_layer_unpack_feed(struct crid_layer_unpack *u, const void *data, size_t len,
			   struct crid_err *err);

/*
 * Ends the stream: checks the archive is complete, applies the directory
 * mtimes and fills |out| (may be NULL).
 */
int crid_layer_unpack_finish(struct crid_layer_unpack *u, struct crid_layer_stats *out,
			     struct crid_err *err);

void crid_layer_unpack_free(struct crid_layer_unpack *u);

#endif
