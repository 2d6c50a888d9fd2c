/*
 * Image references as kubelet and crictl write them, parsed and normalized
 * the way containerd's and containers/image's docker reference packages do
 * (github.com/distribution/reference: normalize.go, regexp.go):
 *
 *   busybox                      -> docker.io/library/busybox:latest
 *   user/img                     -> docker.io/user/img:latest
 *   localhost:5000/a/b:tag       -> localhost:5000/a/b:tag
 *   127.0.0.1:5000/x@sha256:HEX  -> digest only, no tag added
 *   name:tag@sha256:HEX          -> both kept; the digest is what is fetched
 *   sha256:HEX, or 64 hex alone  -> an image ID, not a reference
 *
 * A struct crid_image_ref holds everything in fixed buffers: no allocation,
 * nothing to free.
 */
#ifndef CRID_IMAGE_REF_H
#define CRID_IMAGE_REF_H

#include <stdbool.h>
#include <stddef.h>

#include "reactor/err.h"

#ifndef CRID_DIGEST_LEN
#define CRID_DIGEST_LEN 71 /* "sha256:" + 64 hex */
#endif

/* distribution/reference: NameTotalLengthMax (domain + "/" + path). */
#define CRID_REF_NAME_MAX 255
#define CRID_REF_TAG_MAX 128

#define CRID_REF_DEFAULT_DOMAIN "docker.io"
#define CRID_REF_DOCKER_API_HOST "registry-1.docker.io"

enum crid_ref_kind {
	CRID_REF_NAMED,	   /* a repository name with a tag and/or a digest */
	CRID_REF_IMAGE_ID, /* "sha256:HEX" or "HEX": look the image up by id; |digest| holds it */
};

struct crid_image_ref {
	enum crid_ref_kind kind;
	char domain[CRID_REF_NAME_MAX + 1]; /* "docker.io", "localhost:5000"; "" for an id */
	char path[CRID_REF_NAME_MAX + 1];   /* "library/busybox"; "" for an id */
	char tag[CRID_REF_TAG_MAX + 1];	    /* "latest"; "" when only a digest was given */
	char digest[CRID_DIGEST_LEN + 1];   /* "sha256:<64 hex>" or "" */
};

/*
 * Parses and normalizes |s|. A name without tag or digest gets the tag
 * "latest". Errors (EINVAL) name the reference and the rule it breaks:
 * uppercase repository, bad tag, unsupported digest algorithm, too long...
 */
int crid_image_ref_parse(const char *s, struct crid_image_ref *ref, struct crid_err *err);

/* True for "sha256:" followed by exactly 64 lowercase hex digits. */
bool crid_image_ref_digest_valid(const char *s);

/*
 * Formatting helpers. Each writes a NUL-terminated string into |buf| and
 * returns its length, or -1 (with |buf| = "") when it does not fit or the
 * ref has no such form (an image ID has no repository; no tag -> no tagged
 * form). Buffers of CRID_REF_STRING_MAX always fit.
 */
#define CRID_REF_STRING_MAX (CRID_REF_NAME_MAX + 1 + CRID_REF_TAG_MAX + 1 + CRID_DIGEST_LEN + 1)

/* "docker.io/library/busybox:latest", "...:tag@sha256:...", "...@sha256:..."; an id: its digest. */
int crid_image_ref_string(const struct crid_image_ref *ref, char *buf, size_t size);

/* "docker.io/library/busybox" */
int crid_image_ref_repo(const struct crid_image_ref *ref, char *buf, size_t size);

/* "docker.io/library/busybox:latest" (for repo_tags); -1 without a tag. */
int crid_image_ref_tagged(const struct crid_image_ref *ref, char *buf, size_t size);

/* "docker.io/library/busybox@<digest>" (for repo_digests), with any valid |digest|. */
int crid_image_ref_digested(const struct crid_image_ref *ref, const char *digest, char *buf,
			    size_t size);

/* Docker's short form: "busybox:latest", "user/img@sha256:...", "localhost:5000/a:b". */
int crid_image_ref_familiar(const struct crid_image_ref *ref, char *buf, size_t size);

/* The host to connect to for the registry API: docker.io -> registry-1.docker.io. */
const char *crid_image_ref_api_host(const char *domain);

/* What goes after /v2/<path>/manifests/: the digest when there is one, else the tag. */
const char *crid_image_ref_fetch_ref(const struct crid_image_ref *ref);

#endif
