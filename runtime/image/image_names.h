/*
 * What users call images, mapped onto the store: the one place that turns an
 * image reference from CreateContainer, ImageStatus, RemoveImage, ListImages'
 * filter or PullImage into an image, as containerd's LocalResolve does:
 *
 *   busybox, docker.io/library/busybox  -> docker.io/library/busybox:latest
 *   host:5000/a/b                       -> host:5000/a/b:latest
 *   a/b:t@sha256:HEX                    -> docker.io/a/b@sha256:HEX (the digest wins)
 *   sha256:HEX, HEX (64 digits)         -> the image id
 *   3 to 63 hex digits, sha256:PREFIX   -> a unique id prefix, when no name matches
 *
 * Messages name the reference, never the RPC's field: callers prefix that.
 */
#ifndef CRID_IMAGE_NAMES_H
#define CRID_IMAGE_NAMES_H

#include <stdbool.h>
#include <stddef.h>

#include "reactor/err.h"
#include "runtime/image/image_store.h"

/*
 * Writes the stored form of |name| into |out|: "domain/path:tag",
 * "domain/path@sha256:HEX", or "sha256:HEX" for an image id. EINVAL when
 * |name| is not a valid reference (uppercase repository, bad tag, bad digest,
 * empty...), ENAMETOOLONG when |size| is too small (CRID_REF_STRING_MAX fits).
 */
int crid_image_names_normalize(const char *name, char *out, size_t size, struct crid_err *err);

/*
 * The image |name| designates: by its normalized reference first, else as an
 * image id or unique id prefix. Sets |*out| (owned by the store) and, when
 * |by_id| is not NULL, whether the match was by id. Fails with EINVAL for a
 * malformed reference, ENOENT when no image matches (or a prefix is ambiguous).
 */
int crid_image_names_resolve(struct crid_image_store *s, const char *name, struct crid_image **out,
			     bool *by_id, struct crid_err *err);

/* True for the forms that can only be an id: "sha256:" + 1..64 hex digits, or 64 hex digits. */
bool crid_image_names_id_only(const char *name);

/*
 * The repo digest ContainerStatus.image_ref reports (containerd's
 * repoDigests[0]): of |img|'s digest references, the first in the repository
 * |wanted| names (the container's image as given, when that is a name), else
 * the first; NULL when the image has none (the caller falls back to the id).
 */
const char *crid_image_names_repo_digest(const struct crid_image *img, const char *wanted);

/* The name ContainerStatus.image reports: the first repo tag, or NULL when there is none. */
const char *crid_image_names_repo_tag(const struct crid_image *img);

#endif
