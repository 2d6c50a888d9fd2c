/*
 * Registry JSON documents: OCI image manifests and indexes, Docker schema2
 * manifests and manifest lists, and image configs, parsed with yajl into
 * small structs; platform selection from an index; chain IDs.
 *
 * Every input is hostile: sizes are capped, nesting depth is checked before
 * yajl sees the bytes (its tree free is recursive), comments and duplicate
 * keys are refused, digests must be sha256 with 64 lowercase hex digits and
 * sizes non-negative integers. Unknown fields are ignored, as the OCI spec
 * asks. Errors are EINVAL with a message naming the field ("layers[2].digest:
 * ...") or ENOMEM.
 */
#ifndef CRID_MANIFEST_H
#define CRID_MANIFEST_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "io/layer_stream.h" /* enum crid_compression */
#include "reactor/err.h"
#include "runtime/config/config.h"
#include "runtime/image/image_ref.h"

#define CRID_MANIFEST_MAX (4u << 20)	 /* manifests and indexes */
#define CRID_IMAGE_CONFIG_MAX (8u << 20) /* image configs */
#define CRID_JSON_MAX_DEPTH 64

#define CRID_MT_OCI_MANIFEST "application/vnd.oci.image.manifest.v1+json"
#define CRID_MT_OCI_INDEX "application/vnd.oci.image.index.v1+json"
#define CRID_MT_OCI_CONFIG "application/vnd.oci.image.config.v1+json"
#define CRID_MT_DOCKER_MANIFEST "application/vnd.docker.distribution.manifest.v2+json"
#define CRID_MT_DOCKER_LIST "application/vnd.docker.distribution.manifest.list.v2+json"
#define CRID_MT_DOCKER_CONFIG "application/vnd.docker.container.image.v1+json"

/* The Accept header value for manifest requests: indexes first, then manifests. */
const char *crid_manifest_accept(void);

enum crid_doc_kind {
	CRID_DOC_UNKNOWN = 0,
	CRID_DOC_OCI_MANIFEST,
	CRID_DOC_DOCKER_MANIFEST, /* schema2 */
	CRID_DOC_OCI_INDEX,
	CRID_DOC_DOCKER_LIST,
	CRID_DOC_DOCKER_SCHEMA1, /* recognized only to be refused clearly */
};

struct crid_kv {
	char *key, *value;
};

struct crid_kvv {
	struct crid_kv *v;
	size_t n;
};

struct crid_platform {
	char os[32];
	char architecture[32]; /* GOARCH: amd64, arm64, arm, 386, ppc64le, s390x, riscv64 */
	char variant[16];      /* "v7", "v8" or "" */
};

/* A content descriptor: a layer, a config, or an index entry. */
struct crid_descriptor {
	char *media_type;
	char digest[CRID_DIGEST_LEN + 1];
	uint64_t size;
	struct crid_kvv annotations;
	/* layers only */
	enum crid_compression compression;
	bool foreign; /* foreign / non-distributable: may need |urls|, never pushed */
	/* index entries only */
	bool has_platform;
	struct crid_platform platform;
};

struct crid_manifest {
	enum crid_doc_kind kind; /* CRID_DOC_OCI_MANIFEST or CRID_DOC_DOCKER_MANIFEST */
	struct crid_descriptor config;
	struct crid_descriptor *layers;
	size_t n_layers;
	struct crid_kvv annotations;
};

struct crid_index {
	enum crid_doc_kind kind; /* CRID_DOC_OCI_INDEX or CRID_DOC_DOCKER_LIST */
	/* Image manifests only: entries of unknown media types and attestation manifests are dropped. */
	struct crid_descriptor *manifests;
	size_t n_manifests;
	size_t n_skipped; /* entries dropped */
	struct crid_kvv annotations;
};

struct crid_history {
	char *created, *created_by, *comment;
	bool empty_layer;
};

struct crid_image_config {
	char *architecture, *os, *variant, *created, *author; /* "" when absent */
	/* config.* */
	char *user, *working_dir, *stop_signal;
	struct crid_strv env, entrypoint, cmd;
	struct crid_kvv labels;
	struct crid_strv exposed_ports; /* keys: "80/tcp" */
	struct crid_strv volumes;	/* keys: "/data" */
	/* rootfs */
	struct crid_strv
	    diff_ids; /* must match the manifest's layers in count: the caller checks */
	struct crid_history *history;
	size_t n_history;
};

/*
 * What a registry response is, from its Content-Type (may be NULL or
 * generic) and its body's "mediaType"/"schemaVersion"/"manifests"/"layers"
 * fields. Never fails: CRID_DOC_UNKNOWN for anything else.
 */
enum crid_doc_kind crid_manifest_kind(const char *content_type, const char *buf, size_t len);

/*
 * Parses an image manifest (OCI or Docker schema2); |content_type| as for
 * crid_manifest_kind. Schema1, indexes and unknown types are refused.
 * Fills |*out| (free with crid_manifest_free) or returns -1 with |*out| zeroed.
 */
int crid_manifest_parse(const char *content_type, const char *buf, size_t len,
			struct crid_manifest *out, struct crid_err *err);
void crid_manifest_free(struct crid_manifest *m);

/* Parses an OCI index or Docker manifest list. Free with crid_index_free. */
int crid_index_parse(const char *content_type, const char *buf, size_t len, struct crid_index *out,
		     struct crid_err *err);
void crid_index_free(struct crid_index *idx);

/* Parses an image config (capped at CRID_IMAGE_CONFIG_MAX). Free with crid_image_config_free. */
int crid_image_config_parse(const char *buf, size_t len, struct crid_image_config *out,
			    struct crid_err *err);
void crid_image_config_free(struct crid_image_config *c);

/* linux + this machine's architecture (uname), as GOARCH names with containerd's variants. */
void crid_platform_host(struct crid_platform *out);

/* Maps a uname machine ("x86_64", "aarch64", "armv7l") to a linux platform; false if unknown. */
bool crid_platform_from_machine(const char *machine, struct crid_platform *out);

/*
 * The best entry of |idx| for |want|, as containerd's platforms.Only()
 * orders them: exact architecture and variant first, then compatible ones
 * (arm64 runs arm/v8..v5, arm/v7 runs v6 and v5, amd64 runs 386); first in
 * the index wins a tie. Entries without a platform never match. ENOENT with
 * the platforms on offer when nothing fits.
 */
int crid_index_select(const struct crid_index *idx, const struct crid_platform *want,
		      const struct crid_descriptor **out, struct crid_err *err);

/* "sha256:<hex>" of |len| bytes of |buf| into |out|. */
int crid_sha256_digest(const void *buf, size_t len, char out[CRID_DIGEST_LEN + 1],
		       struct crid_err *err);

/*
 * Chain IDs per the OCI image spec: ChainID(L0) = DiffID(L0),
 * ChainID(Ln) = sha256(ChainID(Ln-1) + " " + DiffID(Ln)). Writes |n| entries
 * into |out|; EINVAL when a diff ID is not a valid sha256 digest.
 */
int crid_chain_ids(char *const *diff_ids, size_t n, char (*out)[CRID_DIGEST_LEN + 1],
		   struct crid_err *err);

#endif
