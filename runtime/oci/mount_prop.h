/*
 * The propagation of the host mount that holds a path, as the daemon's own
 * mount namespace sees it (the OCI runtime it spawns starts from that
 * namespace, so that is the one a container's bind mount is copied from).
 * CreateContainer checks it before asking for Bidirectional (the source must
 * be shared) or HostToContainer (shared or slave) propagation, as
 * containerd's ensureShared/ensureSharedOrSlave and CRI-O do: over a private
 * source the runtime would accept the spec and nothing would propagate.
 */
#ifndef CRID_MOUNT_PROP_H
#define CRID_MOUNT_PROP_H

#include <stdbool.h>
#include <stddef.h>

#include "reactor/err.h"

struct crid_mount_prop {
	bool shared;	       /* "shared:N" in mountinfo's optional fields */
	bool slave;	       /* "master:N" */
	char mount_point[256]; /* as mountinfo writes it (octal escapes kept), maybe cut */
};

/*
 * Finds the mount holding |path| (by statx's mount id, so symlinks and
 * over-mounts resolve as the kernel resolves them) in /proc/self/mountinfo.
 * One pass over a kernel-generated file, bounded by the number of mounts.
 * Fails with the stat's errno naming |path|, ENOTSUP on kernels without
 * STATX_MNT_ID (before 5.8), ENOENT when no line has the id.
 */
int crid_mount_prop_of(const char *path, struct crid_mount_prop *out, struct crid_err *err);

/* The same, over |mountinfo| (a file in mountinfo's format) and a known mount id: for tests. */
int crid_mount_prop_find(const char *mountinfo, unsigned long long mnt_id,
			 struct crid_mount_prop *out, struct crid_err *err);

#endif
