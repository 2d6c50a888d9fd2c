/*
 * ListImages' items and image lookup (handlers/images.c), shared with the
 * streamed list (handlers/list_stream.c) so both answer alike.
 */
#ifndef CRID_HANDLERS_IMAGES_H
#define CRID_HANDLERS_IMAGES_H

#include "handlers/rpc.h"
#include "proto/api.pb-c.h"
#include "runtime/image/image_store.h"

/* |img| as a CRI Image, built in |rpc|'s arena (borrowing |img|'s strings); NULL when out of memory. */
Runtime__V1__Image *crid_images_item(struct crid_rpc *rpc, const struct crid_image *img);

/*
 * The image |name| designates, as every image RPC resolves it. Returns 1
 * found, 0 absent, -1 after failing the call with INVALID_ARGUMENT naming
 * |field| for a malformed reference.
 */
int crid_images_lookup(struct crid_rpc *rpc, const char *field, const char *name,
		       struct crid_image **img);

#endif
