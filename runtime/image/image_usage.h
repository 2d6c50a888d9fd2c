/*
 * The image store's disk usage for ImageFsInfo, answered from memory. A
 * `du` child walks the store's committed trees (layers/ and images/;
 * staging/ holds pulls in flight and trash/ what is being deleted, neither
 * counted) after each change, debounced, and every 10 minutes; between
 * walks the store's own counters, kept by its writers, carry the figure
 * forward: reported = last walk + (counters now - counters when that walk
 * began). Bytes are disk usage (`du -B1`: st_blocks, hard links once, as
 * kubelet's and CRI-O's du-style accounting), inodes `du --inodes`.
 */
#ifndef CRID_IMAGE_USAGE_H
#define CRID_IMAGE_USAGE_H

#include <stdint.h>

#include "reactor/err.h"
#include "reactor/loop.h"

struct crid_image_usage;

/* The store's running counters (bytes and inodes its writers added and removed). */
typedef void (*crid_image_usage_counters_fn)(void *user, uint64_t *bytes, uint64_t *inodes);

/*
 * Starts tracking |dir| (the store's directory: walks |dir|/layers and
 * |dir|/images) with a first walk right away. Copies |dir|. NULL with |err|
 * set when out of memory.
 */
struct crid_image_usage *crid_image_usage_new(struct crid_loop *loop, const char *dir,
					      crid_image_usage_counters_fn counters, void *user,
					      struct crid_err *err);

/* The store changed: walk again soon (0.5 s after the last change, one walk at a time). */
void crid_image_usage_changed(struct crid_image_usage *u);

/* The current figures; the counters alone until the first walk has ended. */
void crid_image_usage_get(struct crid_image_usage *u, uint64_t *bytes, uint64_t *inodes);

/* Walks done so far (tests and Status). */
unsigned long crid_image_usage_walks(const struct crid_image_usage *u);

/* Stops the timers, kills and reaps a walk in flight, frees |u|. NULL is a no-op. */
void crid_image_usage_free(struct crid_image_usage *u);

#endif
