#include "runtime/image/image_names.h"

#include <errno.h>
#include <stdio.h>
#include <string.h>

#include "runtime/image/image_ref.h"

int crid_image_names_normalize(const char *name, char *out, size_t size, struct crid_err *err)
{
	struct crid_image_ref ref;
	int n;

	if (crid_image_ref_parse(name, &ref, err) < 0)
		return -1;
	if (ref.kind == CRID_REF_IMAGE_ID)
		n = snprintf(out, size, "%s", ref.digest) < (int)size ? 0 : -1;
	else if (ref.digest[0]) /* containerd's ParseDockerRef: a tag beside a digest is dropped */
		n = crid_image_ref_digested(&ref, ref.digest, out, size);
	else
		n = crid_image_ref_tagged(&ref, out, size);
	if (n < 0)
		return crid_err_cause(err, ENAMETOOLONG, "image reference `%s`: too long", name);
	return 0;
}

static size_t hex_len(const char *s)
{
	return strspn(s, "0123456789abcdef");
}

bool crid_image_names_id_only(const char *name)
{
	size_t n;

	if (strncmp(name, "sha256:", 7) == 0) {
		n = hex_len(name + 7);
		return n > 0 && n <= 64 && name[7 + n] == '\0';
	}
	return strlen(name) == 64 && hex_len(name) == 64;
}

/* What the store may take for an id prefix: 3 to 64 hex digits, "sha256:" optional. */
static bool id_like(const char *name)
{
	const char *hex = strncmp(name, "sha256:", 7) == 0 ? name + 7 : name;
	size_t n = hex_len(hex);

	return n >= 3 && n <= 64 && hex[n] == '\0';
}

int crid_image_names_resolve(struct crid_image_store *s, const char *name, struct crid_image **out,
			     bool *by_id, struct crid_err *err)
{
	char full[CRID_REF_STRING_MAX];
	struct crid_image *img;
	bool id = false;

	if (crid_image_names_normalize(name, full, sizeof(full), err) < 0)
		return -1;
	img = crid_image_store_find(s, full);
	if (img && strncmp(full, "sha256:", 7) == 0)
		id = true;
	if (!img && id_like(name)) { /* "abc123" names docker.io/library/abc123 first */
		img = crid_image_store_find(s, name);
		id = true;
	}
	if (!img)
		return crid_err_cause(err, ENOENT, "image `%s` not found", name);
	*out = img;
	if (by_id)
		*by_id = id;
	return 0;
}

/* Length of the repository part of a reference: up to the '@', or the tag's ':'. */
static size_t repo_len(const char *ref)
{
	const char *at = strchr(ref, '@'), *slash, *colon;
	size_t n = at ? (size_t)(at - ref) : strlen(ref);

	slash = memrchr(ref, '/', n);
	colon = memrchr(ref, ':', n);
	if (colon && (!slash || colon > slash))
		n = (size_t)(colon - ref);
	return n;
}

const char *crid_image_names_repo_digest(const struct crid_image *img, const char *wanted)
{
	char full[CRID_REF_STRING_MAX];
	size_t n;

	if (img->digests.n == 0)
		return NULL;
	if (!wanted || crid_image_names_normalize(wanted, full, sizeof(full), NULL) < 0 ||
	    strncmp(full, "sha256:", 7) == 0)
		return img->digests.v[0];
	n = repo_len(full);
	for (size_t i = 0; i < img->digests.n; i++)
		if (strncmp(img->digests.v[i], full, n) == 0 && img->digests.v[i][n] == '@')
			return img->digests.v[i];
	return img->digests.v[0];
}

const char *crid_image_names_repo_tag(const struct crid_image *img)
{
	return img->tags.n ? img->tags.v[0] : NULL;
}
