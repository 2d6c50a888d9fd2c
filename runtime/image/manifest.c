/*
 * Registry documents with yajl's tree API. The shapes follow the OCI image
 * spec (manifest.md, image-index.md, config.md, descriptor.md) and Docker's
 * Image Manifest V2 Schema 2; platform matching mirrors containerd's
 * platforms package (database.go normalizeArch, compare.go platformVector).
 */
#include "runtime/image/manifest.h"

#include <ctype.h>
#include <errno.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <sys/utsname.h>

#include <openssl/evp.h>
#include <yajl/yajl_tree.h>

#include "reactor/mem.h"

#define FIELD_MAX 96 /* "layers[123].annotations" and the like */

#define invalid crid_err_invalid /* bad input: EINVAL, no strerror suffix */

static int oom(struct crid_err *err, const char *what)
{
	return crid_err_set(err, ENOMEM, "parse %s", what);
}

const char *crid_manifest_accept(void)
{
	return CRID_MT_OCI_INDEX ", " CRID_MT_DOCKER_LIST ", " CRID_MT_OCI_MANIFEST
				 ", " CRID_MT_DOCKER_MANIFEST;
}

/* ---- bytes to tree ---- */

/*
 * Before yajl: size cap, no NUL (yajl_tree_parse wants a C string), nesting
 * within CRID_JSON_MAX_DEPTH (yajl's tree free recurses), and no '/' outside
 * strings (yajl_tree_parse turns comments on; JSON has none).
 */
static int prescan(const char *buf, size_t len, size_t max, const char *what, struct crid_err *err)
{
	unsigned depth = 0;
	bool in_str = false;

	if (len > max)
		return invalid(err, "%s: %zu bytes is over the %zu byte limit", what, len, max);
	for (size_t i = 0; i < len; i++) {
		char c = buf[i];

		if (c == '\0')
			return invalid(err, "%s: NUL byte at offset %zu", what, i);
		if (in_str) {
			if (c == '\\' && i + 1 < len && buf[i + 1] != '\0')
				i++;
			else if (c == '"')
				in_str = false;
		} else if (c == '"') {
			in_str = true;
		} else if (c == '[' || c == '{') {
			if (++depth > CRID_JSON_MAX_DEPTH)
				return invalid(err, "%s: nested deeper than %d at offset %zu", what,
					       CRID_JSON_MAX_DEPTH, i);
		} else if (c == ']' || c == '}') {
			if (depth > 0)
				depth--;
		} else if (c == '/') {
			return invalid(err, "%s: unexpected '/' at offset %zu", what, i);
		}
	}
	return 0;
}

static int parse_tree(const char *buf, size_t len, size_t max, const char *what, yajl_val *root,
		      struct crid_err *err)
{
	char errbuf[256], *copy, *nl;

	*root = NULL;
	if (prescan(buf, len, max, what, err) < 0)
		return -1;
	copy = crid_malloc(len + 1);
	if (!copy)
		return oom(err, what);
	memcpy(copy, buf, len);
	copy[len] = '\0';
	errbuf[0] = '\0';
	*root = yajl_tree_parse(copy, errbuf, sizeof(errbuf));
	crid_free(copy);
	if (!*root) {
		if ((nl = strchr(errbuf, '\n')))
			*nl = '\0';
		return invalid(err, "%s: bad JSON: %s", what, errbuf[0] ? errbuf : "parse error");
	}
	if (!YAJL_IS_OBJECT(*root)) {
		yajl_tree_free(*root);
		*root = NULL;
		return invalid(err, "%s: not a JSON object", what);
	}
	return 0;
}

/* ---- typed access ---- */

static int cmp_str(const void *a, const void *b)
{
	return strcmp(*(const char *const *)a, *(const char *const *)b);
}

/* |v| must be an object without duplicate keys (parsers disagree on which one wins). */
static int check_object(yajl_val v, const char *field, struct crid_err *err)
{
	const char **keys;
	size_t n;
	int r = 0;

	if (!YAJL_IS_OBJECT(v))
		return invalid(err, "%s: must be an object", field);
	n = v->u.object.len;
	if (n < 2)
		return 0;
	keys = crid_malloc(n * sizeof(*keys));
	if (!keys)
		return oom(err, field);
	memcpy(keys, v->u.object.keys, n * sizeof(*keys));
	qsort(keys, n, sizeof(*keys), cmp_str);
	for (size_t i = 1; i < n && r == 0; i++)
		if (strcmp(keys[i - 1], keys[i]) == 0)
			r = invalid(err, "%s: duplicate key `%.64s`", field, keys[i]);
	crid_free(keys);
	return r;
}

/* The value of |key| in a checked object, or NULL; a JSON null counts as absent. */
static yajl_val get(yajl_val obj, const char *key)
{
	for (size_t i = 0; i < obj->u.object.len; i++)
		if (strcmp(obj->u.object.keys[i], key) == 0)
			return YAJL_IS_NULL(obj->u.object.values[i]) ? NULL
								     : obj->u.object.values[i];
	return NULL;
}

/* Optional string |key|: *out = copy, "" when absent. */
static int opt_str(yajl_val obj, const char *key, const char *ctx, char **out, struct crid_err *err)
{
	yajl_val v = get(obj, key);

	*out = NULL;
	if (v && !YAJL_IS_STRING(v))
		return invalid(err, "%s%s: must be a string", ctx, key);
	*out = crid_strdup(v ? v->u.string : "");
	return *out ? 0 : oom(err, key);
}

static int req_str(yajl_val obj, const char *key, const char *ctx, const char **out,
		   struct crid_err *err)
{
	yajl_val v = get(obj, key);

	if (!v)
		return invalid(err, "%s%s: missing", ctx, key);
	if (!YAJL_IS_STRING(v))
		return invalid(err, "%s%s: must be a string", ctx, key);
	*out = v->u.string;
	return 0;
}

static int check_schema2(yajl_val root, const char *what, struct crid_err *err)
{
	yajl_val v = get(root, "schemaVersion");

	if (!v)
		return invalid(err, "%s: schemaVersion: missing", what);
	if (!YAJL_IS_INTEGER(v) || v->u.number.i != 2)
		return invalid(err, "%s: schemaVersion: must be 2", what);
	return 0;
}

static void strv_free(struct crid_strv *s)
{
	for (size_t i = 0; i < s->n; i++)
		crid_free(s->v[i]);
	crid_free(s->v);
	s->v = NULL;
	s->n = 0;
}

static void kvv_free(struct crid_kvv *k)
{
	for (size_t i = 0; i < k->n; i++) {
		crid_free(k->v[i].key);
		crid_free(k->v[i].value);
	}
	crid_free(k->v);
	k->v = NULL;
	k->n = 0;
}

/* Optional array of strings; NULL-terminated copy. */
static int opt_strv(yajl_val obj, const char *key, const char *ctx, struct crid_strv *out,
		    struct crid_err *err)
{
	yajl_val v = get(obj, key);

	if (!v)
		return 0;
	if (!YAJL_IS_ARRAY(v))
		return invalid(err, "%s%s: must be an array of strings", ctx, key);
	out->v = crid_calloc(v->u.array.len + 1, sizeof(char *));
	if (!out->v)
		return oom(err, key);
	for (size_t i = 0; i < v->u.array.len; i++, out->n++) {
		yajl_val e = v->u.array.values[i];

		if (!YAJL_IS_STRING(e))
			return invalid(err, "%s%s[%zu]: must be a string", ctx, key, i);
		if (!(out->v[i] = crid_strdup(e->u.string)))
			return oom(err, key);
	}
	return 0;
}

/* Optional object: its keys (values must be strings when |values|, else anything). */
static int opt_map(yajl_val obj, const char *key, const char *ctx, bool values, struct crid_kvv *kv,
		   struct crid_strv *keys, struct crid_err *err)
{
	char field[FIELD_MAX];
	yajl_val v = get(obj, key);
	size_t n;

	if (!v)
		return 0;
	snprintf(field, sizeof(field), "%s%s", ctx, key);
	if (check_object(v, field, err) < 0)
		return -1;
	n = v->u.object.len;
	if ((values && !(kv->v = crid_calloc(n + 1, sizeof(*kv->v)))) ||
	    (!values && !(keys->v = crid_calloc(n + 1, sizeof(char *)))))
		return oom(err, field);
	for (size_t i = 0; i < n; i++) {
		yajl_val e = v->u.object.values[i];
		const char *k = v->u.object.keys[i];

		if (!values) {
			if (!(keys->v[keys->n++] = crid_strdup(k)))
				return oom(err, field);
			continue;
		}
		if (!YAJL_IS_STRING(e))
			return invalid(err, "%s[\"%.64s\"]: must be a string", field, k);
		kv->v[kv->n].key = crid_strdup(k);
		kv->v[kv->n++].value = crid_strdup(e->u.string);
		if (!kv->v[kv->n - 1].key || !kv->v[kv->n - 1].value)
			return oom(err, field);
	}
	return 0;
}

/* ---- descriptors ---- */

static const struct {
	const char *type;
	enum crid_compression compression;
	bool foreign;
} layer_types[] = {
	{ "application/vnd.oci.image.layer.v1.tar", CRID_COMPRESSION_NONE, false },
	{ "application/vnd.oci.image.layer.v1.tar+gzip", CRID_COMPRESSION_GZIP, false },
	{ "application/vnd.oci.image.layer.v1.tar+zstd", CRID_COMPRESSION_ZSTD, false },
	{ "application/vnd.oci.image.layer.nondistributable.v1.tar", CRID_COMPRESSION_NONE, true },
	{ "application/vnd.oci.image.layer.nondistributable.v1.tar+gzip", CRID_COMPRESSION_GZIP,
	  true },
	{ "application/vnd.oci.image.layer.nondistributable.v1.tar+zstd", CRID_COMPRESSION_ZSTD,
	  true },
	{ "application/vnd.docker.image.rootfs.diff.tar", CRID_COMPRESSION_NONE, false },
	{ "application/vnd.docker.image.rootfs.diff.tar.gzip", CRID_COMPRESSION_GZIP, false },
	{ "application/vnd.docker.image.rootfs.foreign.diff.tar.gzip", CRID_COMPRESSION_GZIP,
	  true },
};

static void descriptor_free(struct crid_descriptor *d)
{
	crid_free(d->media_type);
	kvv_free(&d->annotations);
	memset(d, 0, sizeof(*d));
}

static int copy_fixed(char *dst, size_t size, const char *src, const char *field,
		      struct crid_err *err)
{
	if (strlen(src) >= size)
		return invalid(err, "%s: longer than %zu bytes", field, size - 1);
	memcpy(dst, src, strlen(src) + 1);
	return 0;
}

static int parse_platform(yajl_val obj, const char *ctx, struct crid_descriptor *d,
			  struct crid_err *err)
{
	char field[FIELD_MAX + 16];
	const char *os, *arch;
	yajl_val p = get(obj, "platform"), variant;

	if (!p)
		return 0;
	snprintf(field, sizeof(field), "%splatform", ctx);
	if (check_object(p, field, err) < 0)
		return -1;
	snprintf(field, sizeof(field), "%splatform.", ctx);
	if (req_str(p, "os", field, &os, err) < 0 || req_str(p, "architecture", field, &arch, err))
		return -1;
	variant = get(p, "variant");
	if (variant && !YAJL_IS_STRING(variant))
		return invalid(err, "%svariant: must be a string", field);
	d->has_platform = true;
	if (copy_fixed(d->platform.os, sizeof(d->platform.os), os, "platform.os", err) < 0 ||
	    copy_fixed(d->platform.architecture, sizeof(d->platform.architecture), arch,
		       "platform.architecture", err) < 0 ||
	    copy_fixed(d->platform.variant, sizeof(d->platform.variant),
		       variant ? variant->u.string : "", "platform.variant", err) < 0)
		return -1;
	return 0;
}

/* |field| names the descriptor in messages: "config", "layers[3]", "manifests[0]". */
static int parse_descriptor(yajl_val v, const char *field, struct crid_descriptor *d,
			    struct crid_err *err)
{
	char ctx[FIELD_MAX];
	const char *mt, *digest;
	yajl_val size;

	snprintf(ctx, sizeof(ctx), "%s.", field);
	if (check_object(v, field, err) < 0 || req_str(v, "mediaType", ctx, &mt, err) < 0 ||
	    req_str(v, "digest", ctx, &digest, err) < 0)
		return -1;
	if (!crid_image_ref_digest_valid(digest))
		return invalid(err, "%sdigest: `%.80s` is not sha256: and 64 lowercase hex digits",
			       ctx, digest);
	memcpy(d->digest, digest, CRID_DIGEST_LEN + 1);
	size = get(v, "size");
	if (!size)
		return invalid(err, "%ssize: missing", ctx);
	if (!YAJL_IS_INTEGER(size) || size->u.number.i < 0)
		return invalid(err, "%ssize: must be a non-negative integer", ctx);
	d->size = (uint64_t)size->u.number.i;
	if (!(d->media_type = crid_strdup(mt)))
		return oom(err, field);
	if (opt_map(v, "annotations", ctx, true, &d->annotations, NULL, err) < 0)
		return -1;
	return parse_platform(v, ctx, d, err);
}

static int parse_layer(yajl_val v, size_t i, struct crid_descriptor *d, struct crid_err *err)
{
	char field[FIELD_MAX];

	snprintf(field, sizeof(field), "layers[%zu]", i);
	if (parse_descriptor(v, field, d, err) < 0)
		return -1;
	for (size_t t = 0; t < sizeof(layer_types) / sizeof(layer_types[0]); t++) {
		if (strcmp(d->media_type, layer_types[t].type) == 0) {
			d->compression = layer_types[t].compression;
			d->foreign = layer_types[t].foreign;
			return 0;
		}
	}
	return invalid(err, "%s.mediaType: unsupported layer type `%.100s`", field, d->media_type);
}

/* ---- what a document is ---- */

static const struct {
	const char *type;
	enum crid_doc_kind kind;
} doc_types[] = {
	{ CRID_MT_OCI_MANIFEST, CRID_DOC_OCI_MANIFEST },
	{ CRID_MT_DOCKER_MANIFEST, CRID_DOC_DOCKER_MANIFEST },
	{ CRID_MT_OCI_INDEX, CRID_DOC_OCI_INDEX },
	{ CRID_MT_DOCKER_LIST, CRID_DOC_DOCKER_LIST },
	{ "application/vnd.docker.distribution.manifest.v1+json", CRID_DOC_DOCKER_SCHEMA1 },
	{ "application/vnd.docker.distribution.manifest.v1+prettyjws", CRID_DOC_DOCKER_SCHEMA1 },
};

/* A media type, ignoring parameters and case ("...+json; charset=utf-8"). */
static enum crid_doc_kind kind_of_type(const char *t, size_t n)
{
	while (n > 0 && (t[n - 1] == ' ' || t[n - 1] == '\t'))
		n--;
	for (size_t i = 0; i < sizeof(doc_types) / sizeof(doc_types[0]); i++)
		if (strlen(doc_types[i].type) == n && strncasecmp(doc_types[i].type, t, n) == 0)
			return doc_types[i].kind;
	return CRID_DOC_UNKNOWN;
}

/* The body's mediaType wins over Content-Type, which wins over the body's shape. */
static enum crid_doc_kind detect(const char *content_type, yajl_val root)
{
	yajl_val mt = get(root, "mediaType"), sv = get(root, "schemaVersion");
	enum crid_doc_kind k;

	if (mt && YAJL_IS_STRING(mt))
		return kind_of_type(mt->u.string, strlen(mt->u.string));
	if (content_type) {
		while (*content_type == ' ')
			content_type++;
		k = kind_of_type(content_type, strcspn(content_type, ";"));
		if (k != CRID_DOC_UNKNOWN)
			return k;
	}
	if (sv && YAJL_IS_INTEGER(sv) && sv->u.number.i == 1)
		return CRID_DOC_DOCKER_SCHEMA1;
	if (get(root, "manifests"))
		return CRID_DOC_OCI_INDEX;
	if (get(root, "layers") && get(root, "config"))
		return CRID_DOC_OCI_MANIFEST;
	return CRID_DOC_UNKNOWN;
}

enum crid_doc_kind crid_manifest_kind(const char *content_type, const char *buf, size_t len)
{
	enum crid_doc_kind k;
	yajl_val root;

	if (parse_tree(buf, len, CRID_MANIFEST_MAX, "manifest", &root, NULL) < 0)
		return CRID_DOC_UNKNOWN;
	k = check_object(root, "manifest", NULL) < 0 ? CRID_DOC_UNKNOWN
						     : detect(content_type, root);
	yajl_tree_free(root);
	return k;
}

static const char *kind_name(enum crid_doc_kind k)
{
	switch (k) {
	case CRID_DOC_OCI_MANIFEST:
		return "OCI image manifest";
	case CRID_DOC_DOCKER_MANIFEST:
		return "Docker schema2 manifest";
	case CRID_DOC_OCI_INDEX:
		return "OCI image index";
	case CRID_DOC_DOCKER_LIST:
		return "Docker manifest list";
	case CRID_DOC_DOCKER_SCHEMA1:
		return "Docker schema1 manifest";
	default:
		return "unknown document";
	}
}

/* Parses and classifies; refuses schema1 and anything not in |want_a|/|want_b|. */
static int open_doc(const char *content_type, const char *buf, size_t len, const char *what,
		    enum crid_doc_kind want_a, enum crid_doc_kind want_b, yajl_val *root,
		    enum crid_doc_kind *kind, struct crid_err *err)
{
	yajl_val mt;

	if (parse_tree(buf, len, CRID_MANIFEST_MAX, what, root, err) < 0)
		return -1;
	if (check_object(*root, what, err) < 0)
		goto fail;
	mt = get(*root, "mediaType");
	if (mt && !YAJL_IS_STRING(mt)) {
		invalid(err, "%s: mediaType: must be a string", what);
		goto fail;
	}
	*kind = detect(content_type, *root);
	if (*kind == CRID_DOC_DOCKER_SCHEMA1) {
		invalid(err,
			"%s: Docker schema1 manifests are not supported (deprecated since "
			"2017; push the image again with a current tool)",
			what);
		goto fail;
	}
	if (*kind == CRID_DOC_UNKNOWN) {
		invalid(err, "%s: unknown media type `%.100s`", what,
			mt ? mt->u.string : (content_type ? content_type : "(none)"));
		goto fail;
	}
	if (*kind != want_a && *kind != want_b) {
		invalid(err, "%s: got a %s", what, kind_name(*kind));
		goto fail;
	}
	if (check_schema2(*root, what, err) == 0)
		return 0;
fail:
	yajl_tree_free(*root);
	*root = NULL;
	return -1;
}

/* ---- manifests ---- */

void crid_manifest_free(struct crid_manifest *m)
{
	descriptor_free(&m->config);
	for (size_t i = 0; i < m->n_layers; i++)
		descriptor_free(&m->layers[i]);
	crid_free(m->layers);
	kvv_free(&m->annotations);
	memset(m, 0, sizeof(*m));
}

static int manifest_body(yajl_val root, struct crid_manifest *m, struct crid_err *err)
{
	yajl_val config = get(root, "config"), layers = get(root, "layers");

	if (!config)
		return invalid(err, "config: missing");
	if (parse_descriptor(config, "config", &m->config, err) < 0)
		return -1;
	if (strcmp(m->config.media_type, CRID_MT_OCI_CONFIG) != 0 &&
	    strcmp(m->config.media_type, CRID_MT_DOCKER_CONFIG) != 0)
		return invalid(err, "config.mediaType: `%.100s` is not a container image config",
			       m->config.media_type);
	if (!layers)
		return invalid(err, "layers: missing");
	if (!YAJL_IS_ARRAY(layers))
		return invalid(err, "layers: must be an array");
	m->layers = crid_calloc(layers->u.array.len + 1, sizeof(*m->layers));
	if (!m->layers)
		return oom(err, "layers");
	for (size_t i = 0; i < layers->u.array.len; i++, m->n_layers++)
		if (parse_layer(layers->u.array.values[i], i, &m->layers[i], err) < 0) {
			m->n_layers++; /* free what the failed layer holds */
			return -1;
		}
	return opt_map(root, "annotations", "", true, &m->annotations, NULL, err);
}

int crid_manifest_parse(const char *content_type, const char *buf, size_t len,
			struct crid_manifest *out, struct crid_err *err)
{
	yajl_val root;
	int r;

	memset(out, 0, sizeof(*out));
	if (open_doc(content_type, buf, len, "manifest", CRID_DOC_OCI_MANIFEST,
		     CRID_DOC_DOCKER_MANIFEST, &root, &out->kind, err) < 0)
		return -1;
	r = manifest_body(root, out, err);
	yajl_tree_free(root);
	if (r < 0) {
		crid_err_wrap(err, "manifest");
		crid_manifest_free(out);
	}
	return r;
}

/* ---- indexes ---- */

void crid_index_free(struct crid_index *idx)
{
	for (size_t i = 0; i < idx->n_manifests; i++)
		descriptor_free(&idx->manifests[i]);
	crid_free(idx->manifests);
	kvv_free(&idx->annotations);
	memset(idx, 0, sizeof(*idx));
}

/* BuildKit's attestation manifests ride in the index with platform unknown/unknown. */
static bool is_attestation(const struct crid_descriptor *d)
{
	for (size_t i = 0; i < d->annotations.n; i++)
		if (strcmp(d->annotations.v[i].key, "vnd.docker.reference.type") == 0 &&
		    strcmp(d->annotations.v[i].value, "attestation-manifest") == 0)
			return true;
	return false;
}

static bool is_image_manifest_type(const char *mt)
{
	return strcmp(mt, CRID_MT_OCI_MANIFEST) == 0 || strcmp(mt, CRID_MT_DOCKER_MANIFEST) == 0;
}

static int index_body(yajl_val root, struct crid_index *idx, struct crid_err *err)
{
	yajl_val list = get(root, "manifests");
	char field[FIELD_MAX];

	if (!list)
		return invalid(err, "manifests: missing");
	if (!YAJL_IS_ARRAY(list))
		return invalid(err, "manifests: must be an array");
	idx->manifests = crid_calloc(list->u.array.len + 1, sizeof(*idx->manifests));
	if (!idx->manifests)
		return oom(err, "manifests");
	for (size_t i = 0; i < list->u.array.len; i++) {
		struct crid_descriptor *d = &idx->manifests[idx->n_manifests];

		snprintf(field, sizeof(field), "manifests[%zu]", i);
		if (parse_descriptor(list->u.array.values[i], field, d, err) < 0) {
			descriptor_free(d);
			return -1;
		}
		if (!is_image_manifest_type(d->media_type) || is_attestation(d)) {
			descriptor_free(d);
			idx->n_skipped++;
			continue;
		}
		idx->n_manifests++;
	}
	return opt_map(root, "annotations", "", true, &idx->annotations, NULL, err);
}

int crid_index_parse(const char *content_type, const char *buf, size_t len, struct crid_index *out,
		     struct crid_err *err)
{
	yajl_val root;
	int r;

	memset(out, 0, sizeof(*out));
	if (open_doc(content_type, buf, len, "index", CRID_DOC_OCI_INDEX, CRID_DOC_DOCKER_LIST,
		     &root, &out->kind, err) < 0)
		return -1;
	r = index_body(root, out, err);
	yajl_tree_free(root);
	if (r < 0) {
		crid_err_wrap(err, "index");
		crid_index_free(out);
	}
	return r;
}

/* ---- image configs ---- */

void crid_image_config_free(struct crid_image_config *c)
{
	char **strs[] = { &c->architecture, &c->os,   &c->variant,     &c->created,
			  &c->author,	    &c->user, &c->working_dir, &c->stop_signal };

	for (size_t i = 0; i < sizeof(strs) / sizeof(strs[0]); i++)
		crid_free(*strs[i]);
	strv_free(&c->env);
	strv_free(&c->entrypoint);
	strv_free(&c->cmd);
	kvv_free(&c->labels);
	strv_free(&c->exposed_ports);
	strv_free(&c->volumes);
	strv_free(&c->diff_ids);
	for (size_t i = 0; i < c->n_history; i++) {
		crid_free(c->history[i].created);
		crid_free(c->history[i].created_by);
		crid_free(c->history[i].comment);
	}
	crid_free(c->history);
	memset(c, 0, sizeof(*c));
}

/* "config": the runtime defaults. Absent or null leaves everything empty. */
static int config_runtime(yajl_val root, struct crid_image_config *c, struct crid_err *err)
{
	yajl_val cc = get(root, "config");
	const char *ctx = "config.";

	if (!cc) {
		c->user = crid_strdup("");
		c->working_dir = crid_strdup("");
		c->stop_signal = crid_strdup("");
		return c->user && c->working_dir && c->stop_signal ? 0 : oom(err, "config");
	}
	if (check_object(cc, "config", err) < 0 || opt_str(cc, "User", ctx, &c->user, err) < 0 ||
	    opt_str(cc, "WorkingDir", ctx, &c->working_dir, err) < 0 ||
	    opt_str(cc, "StopSignal", ctx, &c->stop_signal, err) < 0 ||
	    opt_strv(cc, "Env", ctx, &c->env, err) < 0 ||
	    opt_strv(cc, "Entrypoint", ctx, &c->entrypoint, err) < 0 ||
	    opt_strv(cc, "Cmd", ctx, &c->cmd, err) < 0 ||
	    opt_map(cc, "Labels", ctx, true, &c->labels, NULL, err) < 0 ||
	    opt_map(cc, "ExposedPorts", ctx, false, NULL, &c->exposed_ports, err) < 0 ||
	    opt_map(cc, "Volumes", ctx, false, NULL, &c->volumes, err) < 0)
		return -1;
	return 0;
}

static int config_rootfs(yajl_val root, struct crid_image_config *c, struct crid_err *err)
{
	yajl_val rootfs = get(root, "rootfs"), type;

	if (!rootfs)
		return invalid(err, "rootfs: missing");
	if (check_object(rootfs, "rootfs", err) < 0)
		return -1;
	type = get(rootfs, "type");
	if (!type || !YAJL_IS_STRING(type) || strcmp(type->u.string, "layers") != 0)
		return invalid(err, "rootfs.type: must be \"layers\"");
	if (!get(rootfs, "diff_ids"))
		return invalid(err, "rootfs.diff_ids: missing");
	if (opt_strv(rootfs, "diff_ids", "rootfs.", &c->diff_ids, err) < 0)
		return -1;
	for (size_t i = 0; i < c->diff_ids.n; i++)
		if (!crid_image_ref_digest_valid(c->diff_ids.v[i]))
			return invalid(err,
				       "rootfs.diff_ids[%zu]: `%.80s` is not sha256: and 64 "
				       "lowercase hex digits",
				       i, c->diff_ids.v[i]);
	return 0;
}

static int config_history(yajl_val root, struct crid_image_config *c, struct crid_err *err)
{
	yajl_val h = get(root, "history");
	char ctx[FIELD_MAX];

	if (!h)
		return 0;
	if (!YAJL_IS_ARRAY(h))
		return invalid(err, "history: must be an array");
	c->history = crid_calloc(h->u.array.len + 1, sizeof(*c->history));
	if (!c->history)
		return oom(err, "history");
	for (size_t i = 0; i < h->u.array.len; i++) {
		struct crid_history *e = &c->history[c->n_history++];
		yajl_val v = h->u.array.values[i], empty;

		snprintf(ctx, sizeof(ctx), "history[%zu]", i);
		if (check_object(v, ctx, err) < 0)
			return -1;
		snprintf(ctx, sizeof(ctx), "history[%zu].", i);
		if (opt_str(v, "created", ctx, &e->created, err) < 0 ||
		    opt_str(v, "created_by", ctx, &e->created_by, err) < 0 ||
		    opt_str(v, "comment", ctx, &e->comment, err) < 0)
			return -1;
		empty = get(v, "empty_layer");
		if (empty && !YAJL_IS_TRUE(empty) && !YAJL_IS_FALSE(empty))
			return invalid(err, "%sempty_layer: must be a boolean", ctx);
		e->empty_layer = empty && YAJL_IS_TRUE(empty);
	}
	return 0;
}

static int config_body(yajl_val root, struct crid_image_config *c, struct crid_err *err)
{
	if (check_object(root, "config", err) < 0 ||
	    opt_str(root, "architecture", "", &c->architecture, err) < 0 ||
	    opt_str(root, "os", "", &c->os, err) < 0 ||
	    opt_str(root, "variant", "", &c->variant, err) < 0 ||
	    opt_str(root, "created", "", &c->created, err) < 0 ||
	    opt_str(root, "author", "", &c->author, err) < 0 || config_runtime(root, c, err) < 0 ||
	    config_rootfs(root, c, err) < 0 || config_history(root, c, err) < 0)
		return -1;
	return 0;
}

int crid_image_config_parse(const char *buf, size_t len, struct crid_image_config *out,
			    struct crid_err *err)
{
	yajl_val root;
	int r;

	memset(out, 0, sizeof(*out));
	if (parse_tree(buf, len, CRID_IMAGE_CONFIG_MAX, "image config", &root, err) < 0)
		return -1;
	r = config_body(root, out, err);
	yajl_tree_free(root);
	if (r < 0) {
		crid_err_wrap(err, "image config");
		crid_image_config_free(out);
	}
	return r;
}

/* ---- platforms ---- */

static void set_platform(struct crid_platform *p, const char *arch, const char *variant)
{
	snprintf(p->os, sizeof(p->os), "linux");
	snprintf(p->architecture, sizeof(p->architecture), "%s", arch);
	snprintf(p->variant, sizeof(p->variant), "%s", variant);
}

bool crid_platform_from_machine(const char *m, struct crid_platform *out)
{
	static const struct {
		const char *machine, *arch, *variant;
	} map[] = {
		{ "x86_64", "amd64", "" },
		{ "amd64", "amd64", "" },
		{ "i386", "386", "" },
		{ "i486", "386", "" },
		{ "i586", "386", "" },
		{ "i686", "386", "" },
		{ "aarch64", "arm64", "" },
		{ "arm64", "arm64", "" },
		{ "armv8l", "arm", "v8" },
		{ "armv7l", "arm", "v7" },
		{ "armv7", "arm", "v7" },
		{ "armv6l", "arm", "v6" },
		{ "armv5tel", "arm", "v5" },
		{ "armv5tejl", "arm", "v5" },
		{ "ppc64le", "ppc64le", "" },
		{ "ppc64", "ppc64", "" },
		{ "s390x", "s390x", "" },
		{ "riscv64", "riscv64", "" },
		{ "mips64", "mips64", "" },
		{ "mips64el", "mips64le", "" },
		{ "loongarch64", "loong64", "" },
	};

	for (size_t i = 0; i < sizeof(map) / sizeof(map[0]); i++) {
		if (strcmp(m, map[i].machine) == 0) {
			set_platform(out, map[i].arch, map[i].variant);
			return true;
		}
	}
	return false;
}

void crid_platform_host(struct crid_platform *out)
{
	struct utsname u;

	if (uname(&u) == 0 && crid_platform_from_machine(u.machine, out))
		return;
#if defined(__x86_64__)
	set_platform(out, "amd64", "");
#elif defined(__aarch64__)
	set_platform(out, "arm64", "");
#elif defined(__arm__)
	set_platform(out, "arm", "v7");
#elif defined(__i386__)
	set_platform(out, "386", "");
#else
	set_platform(out, uname(&u) == 0 ? u.machine : "unknown", "");
#endif
}

/* containerd platforms/database.go normalizeArch, on lowercased copies. */
static void normalize(const struct crid_platform *in, struct crid_platform *p)
{
	char *a = p->architecture, *v = p->variant;

	*p = *in;
	for (char *s = p->os; *s; s++)
		*s = (char)tolower((unsigned char)*s);
	for (char *s = a; *s; s++)
		*s = (char)tolower((unsigned char)*s);
	for (char *s = v; *s; s++)
		*s = (char)tolower((unsigned char)*s);
	if (strcmp(a, "i386") == 0) {
		strcpy(a, "386"), v[0] = '\0';
	} else if (!strcmp(a, "x86_64") || !strcmp(a, "x86-64") || !strcmp(a, "amd64")) {
		strcpy(a, "amd64");
		if (strcmp(v, "v1") == 0)
			v[0] = '\0';
	} else if (!strcmp(a, "aarch64") || !strcmp(a, "arm64")) {
		strcpy(a, "arm64");
		if (!strcmp(v, "8") || !strcmp(v, "v8") || !strcmp(v, "v8.0"))
			v[0] = '\0';
	} else if (!strcmp(a, "armhf")) {
		strcpy(a, "arm"), strcpy(v, "v7");
	} else if (!strcmp(a, "armel")) {
		strcpy(a, "arm"), strcpy(v, "v6");
	} else if (!strcmp(a, "arm")) {
		if (!v[0] || !strcmp(v, "7"))
			strcpy(v, "v7");
		else if (!strcmp(v, "5") || !strcmp(v, "6") || !strcmp(v, "8"))
			v[1] = v[0], v[0] = 'v', v[2] = '\0';
	}
}

/* Rank of |have| for |want| (0 = exact), or -1: containerd compare.go platformVector. */
static int platform_rank(const struct crid_platform *want, const struct crid_platform *have)
{
	struct crid_platform w, h;
	int arm_v = 0;

	normalize(want, &w);
	normalize(have, &h);
	if (strcmp(w.os, h.os) != 0)
		return -1;
	if (!strcmp(w.architecture, h.architecture) && !strcmp(w.variant, h.variant))
		return 0;
	if (!strcmp(w.architecture, "amd64"))
		return !strcmp(h.architecture, "386") ? 1 : -1;
	if (!strcmp(w.architecture, "arm64"))
		arm_v = 9; /* arm64 runs arm/v8 and below */
	else if (!strcmp(w.architecture, "arm") && w.variant[0] == 'v')
		arm_v = atoi(w.variant + 1) + 1;
	if (arm_v && !strcmp(h.architecture, "arm") && h.variant[0] == 'v' && h.variant[1] >= '5' &&
	    h.variant[1] <= '8' && !h.variant[2] && h.variant[1] - '0' < arm_v)
		return arm_v - (h.variant[1] - '0');
	return -1;
}

static void append_platform(char *buf, size_t size, const struct crid_descriptor *d)
{
	size_t used = strlen(buf);

	if (used + 1 < size)
		snprintf(buf + used, size - used, "%s%s/%s%s%s", used ? ", " : "",
			 d->has_platform ? d->platform.os : "?",
			 d->has_platform ? d->platform.architecture : "?",
			 d->platform.variant[0] ? "/" : "", d->platform.variant);
}

int crid_index_select(const struct crid_index *idx, const struct crid_platform *want,
		      const struct crid_descriptor **out, struct crid_err *err)
{
	char offered[200] = "";
	int best = -1;

	*out = NULL;
	for (size_t i = 0; i < idx->n_manifests; i++) {
		const struct crid_descriptor *d = &idx->manifests[i];
		int r = d->has_platform ? platform_rank(want, &d->platform) : -1;

		if (r >= 0 && (best < 0 || r < best)) {
			best = r;
			*out = d;
		}
		append_platform(offered, sizeof(offered), d);
	}
	if (*out)
		return 0;
	crid_err_set(err, 0, "no manifest for %s/%s%s%s in the index (offered: %s)", want->os,
		     want->architecture, want->variant[0] ? "/" : "", want->variant,
		     offered[0] ? offered : "none");
	if (err)
		err->code = ENOENT;
	return -1;
}

/* ---- digests ---- */

int crid_sha256_digest(const void *buf, size_t len, char out[CRID_DIGEST_LEN + 1],
		       struct crid_err *err)
{
	unsigned char md[EVP_MAX_MD_SIZE];
	unsigned int n = 0;

	if (EVP_Digest(buf, len, md, &n, EVP_sha256(), NULL) != 1 || n != 32)
		return crid_err_set(err, EIO, "sha256: OpenSSL EVP_Digest failed");
	memcpy(out, "sha256:", 7);
	for (unsigned i = 0; i < 32; i++)
		snprintf(out + 7 + 2 * i, 3, "%02x", md[i]);
	return 0;
}

int crid_chain_ids(char *const *diff_ids, size_t n, char (*out)[CRID_DIGEST_LEN + 1],
		   struct crid_err *err)
{
	char pair[2 * CRID_DIGEST_LEN + 2];

	for (size_t i = 0; i < n; i++) {
		if (!crid_image_ref_digest_valid(diff_ids[i]))
			return invalid(err, "diff ID %zu: `%.80s` is not a sha256 digest", i,
				       diff_ids[i]);
		if (i == 0) {
			memcpy(out[0], diff_ids[0], CRID_DIGEST_LEN + 1);
			continue;
		}
		snprintf(pair, sizeof(pair), "%s %s", out[i - 1], diff_ids[i]);
		if (crid_sha256_digest(pair, strlen(pair), out[i], err) < 0)
			return -1;
	}
	return 0;
}
