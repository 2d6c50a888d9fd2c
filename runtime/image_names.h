/*
 * What users call images, mapped onto the store: an id or id prefix, a full
 * reference, or a short one ("busybox" is docker.io/library/busybox:latest,
 * as kubelet, crictl and CRI-O understand it).
 */
#ifndef CRID_IMAGE_NAMES_H
#define CRID_IMAGE_NAMES_H

#include "runtime/image_store.h"

/* The image |name| designates, or NULL. */
struct crid_image *crid_image_names_find(struct crid_image_store *s, const char *name);

#endif
