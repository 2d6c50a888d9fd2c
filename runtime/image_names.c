#include "runtime/image_names.h"

#include <stdio.h>
#include <string.h>

#include "runtime/image_ref.h"

/* The stored form of a reference: "domain/path:tag" or "domain/path@digest". */
static int canonical(const char *name, char *out, size_t size)
{
	struct crid_image_ref ref;
	struct crid_err err;

	if (crid_image_ref_parse(name, &ref, &err) < 0)
		return -1;
	if (ref.kind == CRID_REF_IMAGE_ID) {
		snprintf(out, size, "%s", ref.digest);
		return 0;
	}
	if (ref.digest[0])
		return crid_image_ref_digested(&ref, ref.digest, out, size);
	return crid_image_ref_tagged(&ref, out, size);
}

struct crid_image *crid_image_names_find(struct crid_image_store *s, const char *name)
{
	char full[CRID_REF_STRING_MAX];
	struct crid_image *img = crid_image_store_find(s, name);

	if (img || canonical(name, full, sizeof(full)) < 0)
		return img;
	return crid_image_store_find(s, full);
}
