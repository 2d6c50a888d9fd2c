/*
 * A container's root filesystem: an overlay of the image's layers (lower,
 * from the image store) with a per-container upper and work dir, mounted at
 * `<dir>/rootfs`. Deep images must fit: the new mount API (fsconfig
 * "lowerdir+" per layer, Linux 6.8+) is used where the kernel has it, short
 * symlinked paths otherwise.
 *
 *   <dir>/upper  <dir>/work  <dir>/rootfs
 */
#ifndef CRID_ROOTFS_H
#define CRID_ROOTFS_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "reactor/err.h"

/* Mounts the overlay; |lowers| are layer diff dirs, base layer first. Idempotent if mounted. */
int crid_rootfs_mount(const char *dir, const char *const *lowers, size_t n_lowers,
		      struct crid_err *err);

/* Unmounts `<dir>/rootfs` (MNT_DETACH). Idempotent. */
int crid_rootfs_unmount(const char *dir, struct crid_err *err);

bool crid_rootfs_is_mounted(const char *dir);

/* Tests: mount with mount(2) and short symlinked paths even where the new mount API works. */
void crid_rootfs_force_legacy(bool on);

#endif
