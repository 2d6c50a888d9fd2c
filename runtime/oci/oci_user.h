/*
 * The user a container runs as, resolved as Kubernetes runtimes do: numeric
 * run_as_user / run_as_group, run_as_username or the image's User looked up
 * in the image's /etc/passwd and /etc/group (read inside the container's root,
 * symlinks cannot leave it), supplemental groups merged per the policy.
 */
#ifndef CRID_OCI_USER_H
#define CRID_OCI_USER_H

#include "reactor/err.h"
#include "runtime/oci/ctr_spec.h"

/*
 * Fills |out| from |sec| and the image config's User |image_user| ("" or NULL
 * = none; "uid", "uid:gid", "name", "name:group"), reading |rootfs|/etc/passwd
 * and /etc/group when a name is involved or for the user's groups.
 * additional_gids starts with the primary gid (as `id` shows it and as
 * ContainerStatus.user reports it). Errors: EINVAL naming the field for bad
 * ids or a run_as_username the image does not have; EBUSY (a failed
 * precondition: the image is at fault, the caller adds its name) for a user
 * or group in the image's own User that its /etc/passwd or /etc/group lacks
 * (an image without them has no names; numeric ids still work), and for a
 * passwd/group file that exists but cannot be read (a symlink loop or out of
 * the root, not a regular file, oversized).
 */
int crid_oci_user_resolve(const char *rootfs, const struct crid_ctr_security *sec,
			  const char *image_user, struct crid_ctr_user *out, struct crid_err *err);

#endif
