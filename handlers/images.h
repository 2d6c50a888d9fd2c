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
 * The images |filter| selects (ListImages, StreamImages): every image, or
 * the one `filter.image.image` designates (none when absent). Sets *all
 * and *n (*all may point at |*only|, which must live as long); -1 after
 * failing the call with INVALID_ARGUMENT for a malformed reference.
 */
int crid_images_selected(struct crid_rpc *rpc, const Runtime__V1__ImageFilter *filter,
			 struct crid_image *const **all, size_t *n, struct crid_image **only);

/*
 * The container filesystem's mountpoint, `<root>/containers`: where the
 * writable layers live (ImageFsInfo, ContainerStats), as CRI-O reports its
 * own. In |rpc|'s arena; NULL when out of memory.
 */
char *crid_images_ctr_fs_mountpoint(struct crid_rpc *rpc);

#endif
