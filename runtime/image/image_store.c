#include "runtime/image/image_store.h"

#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <inttypes.h>
#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/random.h>
#include <sys/stat.h>
#include <unistd.h>
#include <yajl/yajl_gen.h>
#include <yajl/yajl_tree.h>

#include "io/layer_stream.h"
#include "reactor/log.h"
#include "reactor/mem.h"
#include "runtime/image/image_usage.h"
#include "runtime/state/statefile.h"

#define RECORD_MAX (16u << 20) /* an image record embeds its config */

struct crid_image_store {
	char dir[PATH_MAX];
	char trash[PATH_MAX + 16];
	struct crid_layer_info *layers;
	size_t n_layers;
	struct crid_image **images; /* sorted by id */
	size_t n_images;
	uint64_t bytes, inodes;		/* the layers' own counts, kept by the writers below */
	struct crid_image_usage *usage; /* disk usage for ImageFsInfo, once tracked */
};

#define GEN_STR(g, s) yajl_gen_string((g), (const unsigned char *)(s), strlen(s))

static const char *hex_of(const char *digest)
{
	return strncmp(digest, "sha256:", 7) == 0 ? digest + 7 : digest;
}

static int valid_digest(const char *d)
{
	return crid_digest_valid(d, strlen(d));
}

/* ---- string vectors ------------------------------------------------------ */

static int strv_add(struct crid_strv *v, const char *s)
{
	char **nv;

	for (size_t i = 0; i < v->n; i++)
		if (strcmp(v->v[i], s) == 0)
			return 0;
	nv = crid_realloc(v->v, (v->n + 2) * sizeof(*nv));
	if (!nv)
		return -1;
	v->v = nv;
	v->v[v->n] = crid_strdup(s);
	if (!v->v[v->n])
		return -1;
	v->v[++v->n] = NULL;
	return 0;
}

static int strv_remove(struct crid_strv *v, const char *s)
{
	for (size_t i = 0; i < v->n; i++) {
		if (strcmp(v->v[i], s) != 0)
			continue;
		crid_free(v->v[i]);
		memmove(&v->v[i], &v->v[i + 1], (v->n - i) * sizeof(*v->v));
		v->n--;
		return 1;
	}
	return 0;
}

static void strv_free(struct crid_strv *v)
{
	for (size_t i = 0; i < v->n; i++)
		crid_free(v->v[i]);
	crid_free(v->v);
	v->v = NULL;
	v->n = 0;
}

static int strv_copy(struct crid_strv *dst, const struct crid_strv *src)
{
	for (size_t i = 0; i < src->n; i++)
		if (strv_add(dst, src->v[i]) < 0)
			return -1;
	return 0;
}

void crid_image_free(struct crid_image *img)
{
	if (!img)
		return;
	strv_free(&img->tags);
	strv_free(&img->digests);
	strv_free(&img->layers);
	crid_free(img->config_json);
	crid_free(img->user);
	crid_free(img);
}

/* ---- records on disk ----------------------------------------------------- */

static void gen_strv(yajl_gen g, const char *key, const struct crid_strv *v)
{
	GEN_STR(g, key);
	yajl_gen_array_open(g);
	for (size_t i = 0; i < v->n; i++)
		GEN_STR(g, v->v[i]);
	yajl_gen_array_close(g);
}

static int write_json(const char *path, yajl_gen g, struct crid_err *err)
{
	const unsigned char *buf;
	size_t len;

	if (yajl_gen_get_buf(g, &buf, &len) != yajl_gen_status_ok)
		return crid_err_set(err, ENOMEM, "encode `%s`", path);
	return crid_statefile_write(path, buf, len, err);
}

static int save_image(const struct crid_image_store *s, const struct crid_image *img,
		      struct crid_err *err)
{
	char path[PATH_MAX * 2];
	yajl_gen g = yajl_gen_alloc(NULL);
	int r;

	if (!g)
		return crid_err_set(err, ENOMEM, "image record");
	yajl_gen_map_open(g);
	GEN_STR(g, "id"), GEN_STR(g, img->id);
	gen_strv(g, "tags", &img->tags);
	gen_strv(g, "digests", &img->digests);
	gen_strv(g, "layers", &img->layers);
	GEN_STR(g, "size"), yajl_gen_integer(g, (long long)img->size);
	GEN_STR(g, "pinned"), yajl_gen_bool(g, img->pinned);
	GEN_STR(g, "user"), GEN_STR(g, img->user ? img->user : "");
	GEN_STR(g, "config"), GEN_STR(g, img->config_json ? img->config_json : "");
	yajl_gen_map_close(g);
	snprintf(path, sizeof(path), "%s/images/%s.json", s->dir, hex_of(img->id));
	r = write_json(path, g, err);
	yajl_gen_free(g);
	return r;
}

/* layer.json, written plainly: the caller makes it durable with the tree (syncfs). */
static int save_layer(const char *path, const struct crid_layer_info *l, struct crid_err *err)
{
	yajl_gen g = yajl_gen_alloc(NULL);
	const unsigned char *buf;
	size_t len;
	int fd, r = -1;

	if (!g)
		return crid_err_set(err, ENOMEM, "layer record");
	yajl_gen_map_open(g);
	GEN_STR(g, "chainID"), GEN_STR(g, l->chain_id);
	GEN_STR(g, "diffID"), GEN_STR(g, l->diff_id);
	GEN_STR(g, "blobDigest"), GEN_STR(g, l->blob_digest);
	GEN_STR(g, "blobSize"), yajl_gen_integer(g, (long long)l->blob_size);
	GEN_STR(g, "bytes"), yajl_gen_integer(g, (long long)l->bytes);
	GEN_STR(g, "inodes"), yajl_gen_integer(g, (long long)l->inodes);
	yajl_gen_map_close(g);
	if (yajl_gen_get_buf(g, &buf, &len) != yajl_gen_status_ok) {
		crid_err_set(err, ENOMEM, "encode `%s`", path);
		goto out;
	}
	fd = open(path, O_WRONLY | O_CREAT | O_EXCL | O_CLOEXEC | O_NOFOLLOW, 0600);
	if (fd < 0) {
		crid_err_set(err, errno, "create `%s`", path);
		goto out;
	}
	if (write(fd, buf, len) != (ssize_t)len)
		crid_err_set(err, errno ? errno : EIO, "write `%s`", path);
	else
		r = 0;
	close(fd);
out:
	yajl_gen_free(g);
	return r;
}

static const char *json_str(yajl_val root, const char *key)
{
	const char *path[] = { key, NULL };
	yajl_val v = yajl_tree_get(root, path, yajl_t_string);

	return v ? YAJL_GET_STRING(v) : NULL;
}

static int json_u64(yajl_val root, const char *key, uint64_t *out)
{
	const char *path[] = { key, NULL };
	yajl_val v = yajl_tree_get(root, path, yajl_t_number);

	if (!v || !YAJL_IS_INTEGER(v) || YAJL_GET_INTEGER(v) < 0)
		return -1;
	*out = (uint64_t)YAJL_GET_INTEGER(v);
	return 0;
}

static int json_strv(yajl_val root, const char *key, struct crid_strv *out)
{
	const char *path[] = { key, NULL };
	yajl_val v = yajl_tree_get(root, path, yajl_t_array);

	if (!v)
		return -1;
	for (size_t i = 0; i < YAJL_GET_ARRAY(v)->len; i++) {
		yajl_val e = YAJL_GET_ARRAY(v)->values[i];

		if (!YAJL_IS_STRING(e) || strv_add(out, YAJL_GET_STRING(e)) < 0)
			return -1;
	}
	return 0;
}

static yajl_val read_json(const char *path, struct crid_err *err)
{
	char ebuf[128];
	char *text;
	size_t len;
	yajl_val root;

	if (crid_statefile_read(path, RECORD_MAX, &text, &len, err) < 0)
		return NULL;
	root = yajl_tree_parse(text, ebuf, sizeof(ebuf));
	crid_free(text);
	if (!root)
		crid_err_set(err, 0, "parse `%s`: %s", path, ebuf);
	return root;
}

static int copy_digest(char *dst, const char *src)
{
	if (!src || !valid_digest(src))
		return -1;
	memcpy(dst, src, CRID_DIGEST_LEN + 1);
	return 0;
}

static int parse_layer(yajl_val root, struct crid_layer_info *l)
{
	memset(l, 0, sizeof(*l));
	if (copy_digest(l->chain_id, json_str(root, "chainID")) < 0 ||
	    copy_digest(l->diff_id, json_str(root, "diffID")) < 0 ||
	    copy_digest(l->blob_digest, json_str(root, "blobDigest")) < 0 ||
	    json_u64(root, "blobSize", &l->blob_size) < 0 ||
	    json_u64(root, "bytes", &l->bytes) < 0 || json_u64(root, "inodes", &l->inodes) < 0)
		return -1;
	return 0;
}

static struct crid_image *parse_image(yajl_val root)
{
	struct crid_image *img = crid_calloc(1, sizeof(*img));
	const char *path[] = { "pinned", NULL };
	const char *config = json_str(root, "config");
	const char *user = json_str(root, "user");

	if (!img)
		return NULL;
	if (copy_digest(img->id, json_str(root, "id")) < 0 || json_strv(root, "tags", &img->tags) ||
	    json_strv(root, "digests", &img->digests) || json_strv(root, "layers", &img->layers) ||
	    json_u64(root, "size", &img->size) < 0 || !config ||
	    !(img->config_json = crid_strdup(config)) ||
	    !(img->user = crid_strdup(user ? user : ""))) {
		crid_image_free(img);
		return NULL;
	}
	img->pinned = YAJL_IS_TRUE(yajl_tree_get(root, path, yajl_t_true));
	return img;
}

/* ---- in-memory indexes --------------------------------------------------- */

static struct crid_layer_info *find_layer(const struct crid_image_store *s, const char *chain_id)
{
	for (size_t i = 0; i < s->n_layers; i++)
		if (strcmp(s->layers[i].chain_id, chain_id) == 0)
			return &s->layers[i];
	return NULL;
}

static int insert_layer(struct crid_image_store *s, const struct crid_layer_info *l)
{
	struct crid_layer_info *v = crid_realloc(s->layers, (s->n_layers + 1) * sizeof(*v));

	if (!v)
		return -1;
	s->layers = v;
	s->layers[s->n_layers++] = *l;
	s->bytes += l->bytes;
	s->inodes += l->inodes;
	return 0;
}

static int insert_image(struct crid_image_store *s, struct crid_image *img)
{
	struct crid_image **v = crid_realloc(s->images, (s->n_images + 1) * sizeof(*v));
	size_t i;

	if (!v)
		return -1;
	s->images = v;
	for (i = s->n_images; i > 0 && strcmp(v[i - 1]->id, img->id) > 0; i--)
		v[i] = v[i - 1];
	v[i] = img;
	s->n_images++;
	return 0;
}

static void drop_image(struct crid_image_store *s, struct crid_image *img)
{
	for (size_t i = 0; i < s->n_images; i++) {
		if (s->images[i] != img)
			continue;
		memmove(&s->images[i], &s->images[i + 1], (s->n_images - i - 1) * sizeof(img));
		s->n_images--;
		crid_image_free(img);
		return;
	}
}

/* ---- open ---------------------------------------------------------------- */

static int random_name(char *out, size_t size)
{
	unsigned char r[8];

	if (getrandom(r, sizeof(r), 0) != sizeof(r))
		return -1;
	snprintf(out, size, "%02x%02x%02x%02x%02x%02x%02x%02x", r[0], r[1], r[2], r[3], r[4], r[5],
		 r[6], r[7]);
	return 0;
}

/* Moves every entry of |dir| into trash (O(1) renames; deletion happens off the loop). */
static void sweep_to_trash(const struct crid_image_store *s, const char *dir)
{
	DIR *d = opendir(dir);
	struct dirent *e;
	char from[PATH_MAX * 2], to[PATH_MAX * 2], rnd[17];

	if (!d)
		return;
	while ((e = readdir(d))) {
		if (e->d_name[0] == '.' || random_name(rnd, sizeof(rnd)) < 0)
			continue;
		snprintf(from, sizeof(from), "%s/%s", dir, e->d_name);
		snprintf(to, sizeof(to), "%s/%s-%s", s->trash, e->d_name, rnd);
		if (rename(from, to) < 0)
			crid_log_warn("image store: cannot move `%s` to trash: %s", from,
				      strerror(errno));
	}
	closedir(d);
}

static void load_layers(struct crid_image_store *s)
{
	char dir[PATH_MAX + 16], path[PATH_MAX * 2];
	struct crid_layer_info l;
	struct crid_err err;
	struct dirent *e;
	yajl_val root;
	DIR *d;

	snprintf(dir, sizeof(dir), "%s/layers", s->dir);
	d = opendir(dir);
	while (d && (e = readdir(d))) {
		if (e->d_name[0] == '.')
			continue;
		snprintf(path, sizeof(path), "%s/%s/layer.json", dir, e->d_name);
		root = read_json(path, &err);
		if (!root || parse_layer(root, &l) < 0 ||
		    strcmp(hex_of(l.chain_id), e->d_name) != 0 || insert_layer(s, &l) < 0) {
			crid_log_warn("image store: dropping layer `%s`: bad or missing layer.json",
				      e->d_name);
			snprintf(path, sizeof(path), "%s/%s", dir, e->d_name);
			crid_image_store_discard(s, path);
		}
		yajl_tree_free(root);
	}
	if (d)
		closedir(d);
}

/* An image whose layers are not all present is dropped: a later pull restores it. */
static int image_complete(const struct crid_image_store *s, const struct crid_image *img)
{
	for (size_t i = 0; i < img->layers.n; i++)
		if (!find_layer(s, img->layers.v[i]))
			return 0;
	return 1;
}

static void load_images(struct crid_image_store *s)
{
	char dir[PATH_MAX + 16], path[PATH_MAX * 2];
	struct crid_image *img;
	struct crid_err err;
	struct dirent *e;
	yajl_val root;
	DIR *d;

	snprintf(dir, sizeof(dir), "%s/images", s->dir);
	d = opendir(dir);
	while (d && (e = readdir(d))) {
		size_t len = strlen(e->d_name);

		if (e->d_name[0] == '.' || len < 5 || strcmp(e->d_name + len - 5, ".json") != 0)
			continue;
		snprintf(path, sizeof(path), "%s/%s", dir, e->d_name);
		root = read_json(path, &err);
		img = root ? parse_image(root) : NULL;
		yajl_tree_free(root);
		if (!img || !image_complete(s, img) || insert_image(s, img) < 0) {
			crid_log_warn("image store: dropping image record `%s`", path);
			crid_image_free(img);
			unlink(path);
		}
	}
	if (d)
		closedir(d);
}

int crid_image_store_open(const char *root, struct crid_image_store **out, struct crid_err *err)
{
	static const char *const subdirs[] = { "staging", "layers", "images", "trash" };
	struct crid_image_store *s = crid_calloc(1, sizeof(*s));
	char path[PATH_MAX + 16];

	if (!s)
		return crid_err_set(err, ENOMEM, "image store");
	if ((size_t)snprintf(s->dir, sizeof(s->dir), "%s/images", root) >= sizeof(s->dir) - 64) {
		crid_free(s);
		return crid_err_set(err, ENAMETOOLONG, "image store under `%s`", root);
	}
	snprintf(s->trash, sizeof(s->trash), "%s/trash", s->dir);
	for (size_t i = 0; i < sizeof(subdirs) / sizeof(subdirs[0]); i++) {
		snprintf(path, sizeof(path), "%s/%s", s->dir, subdirs[i]);
		if (crid_mkdir_p(path, 0700, err) < 0) {
			crid_free(s);
			return -1;
		}
	}
	snprintf(path, sizeof(path), "%s/staging", s->dir);
	sweep_to_trash(s, path);
	load_layers(s);
	load_images(s);
	*out = s;
	return 0;
}

void crid_image_store_close(struct crid_image_store *s)
{
	if (!s)
		return;
	crid_image_usage_free(s->usage); /* normally untracked already, with the loop alive */
	for (size_t i = 0; i < s->n_images; i++)
		crid_image_free(s->images[i]);
	crid_free(s->images);
	crid_free(s->layers);
	crid_free(s);
}

/* ---- layers -------------------------------------------------------------- */

int crid_image_store_stage(struct crid_image_store *s, char *path, size_t size,
			   struct crid_err *err)
{
	char rnd[17];
	int fd;

	if (random_name(rnd, sizeof(rnd)) < 0)
		return crid_err_set(err, errno, "getrandom");
	if ((size_t)snprintf(path, size, "%s/staging/%s", s->dir, rnd) >= size)
		return crid_err_set(err, ENAMETOOLONG, "staging path");
	if (mkdir(path, 0755) < 0)
		return crid_err_set(err, errno, "mkdir `%s`", path);
	fd = open(path, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
	if (fd < 0)
		return crid_err_set(err, errno, "open `%s`", path);
	return fd;
}

void crid_image_store_discard(struct crid_image_store *s, const char *staging_path)
{
	char to[PATH_MAX * 2], rnd[17];

	if (random_name(rnd, sizeof(rnd)) < 0)
		return;
	snprintf(to, sizeof(to), "%s/discard-%s", s->trash, rnd);
	if (rename(staging_path, to) < 0 && errno != ENOENT)
		crid_log_warn("image store: cannot discard `%s`: %s", staging_path,
			      strerror(errno));
}

/*
 * staging/X holds the unpacked tree. It becomes W/diff with W/layer.json
 * beside it, W being another staging dir; once the caller has made W
 * durable, W is renamed to layers/<chain>: one rename makes the whole layer
 * appear, json included, and only after its contents are on disk.
 */
int crid_image_store_commit_begin(struct crid_image_store *s, const char *staging_path,
				  const struct crid_layer_info *info, char *wrap, size_t size,
				  struct crid_err *err)
{
	char diff[PATH_MAX + 16], json[PATH_MAX + 16];
	int fd;

	if (!valid_digest(info->chain_id) || !valid_digest(info->diff_id) ||
	    !valid_digest(info->blob_digest))
		return crid_err_set(err, EINVAL, "layer: malformed digest");
	if (find_layer(s, info->chain_id)) {
		crid_image_store_discard(s, staging_path);
		return 1;
	}
	fd = crid_image_store_stage(s, wrap, size, err);
	if (fd < 0)
		return -1;
	close(fd);
	snprintf(diff, sizeof(diff), "%s/diff", wrap);
	snprintf(json, sizeof(json), "%s/layer.json", wrap);
	if (rename(staging_path, diff) < 0) {
		crid_err_set(err, errno, "rename `%s`", staging_path);
		goto fail;
	}
	if (save_layer(json, info, err) < 0)
		goto fail;
	return 0;
fail:
	crid_image_store_discard(s, wrap);
	crid_image_store_discard(s, staging_path);
	return -1;
}

int crid_image_store_commit_end(struct crid_image_store *s, const char *wrap,
				const struct crid_layer_info *info, struct crid_err *err)
{
	char final[PATH_MAX + 80];

	if (find_layer(s, info->chain_id)) {
		crid_image_store_discard(s, wrap);
		return 0;
	}
	snprintf(final, sizeof(final), "%s/layers/%s", s->dir, hex_of(info->chain_id));
	if (rename(wrap, final) < 0) {
		crid_err_set(err, errno, "rename `%s` to `%s`", wrap, final);
		crid_image_store_discard(s, wrap);
		return -1;
	}
	crid_image_usage_changed(s->usage);
	if (insert_layer(s, info) < 0)
		return crid_err_set(err, ENOMEM,
				    "layer index"); /* on disk: the next start has it */
	return 0;
}

/* Both steps in one go, with syncfs in the calling thread (tests, tools; not on the loop). */
int crid_image_store_commit_layer(struct crid_image_store *s, const char *staging_path,
				  const struct crid_layer_info *info, struct crid_err *err)
{
	char wrap[PATH_MAX];
	int fd, r = crid_image_store_commit_begin(s, staging_path, info, wrap, sizeof(wrap), err);

	if (r != 0)
		return r < 0 ? -1 : 0;
	fd = open(wrap, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
	if (fd < 0 || syncfs(fd) < 0) {
		crid_err_set(err, errno, "syncfs `%s`", wrap);
		if (fd >= 0)
			close(fd);
		crid_image_store_discard(s, wrap);
		return -1;
	}
	close(fd);
	return crid_image_store_commit_end(s, wrap, info, err);
}

const struct crid_layer_info *crid_image_store_layer(const struct crid_image_store *s,
						     const char *chain_id)
{
	return find_layer(s, chain_id);
}

int crid_image_store_layer_path(const struct crid_image_store *s, const char *chain_id, char *path,
				size_t size)
{
	if ((size_t)snprintf(path, size, "%s/layers/%s/diff", s->dir, hex_of(chain_id)) >= size)
		return -1;
	return 0;
}

/* ---- images -------------------------------------------------------------- */

static int is_hex(const char *p)
{
	if (!*p)
		return 0;
	for (; *p; p++)
		if (!((*p >= '0' && *p <= '9') || (*p >= 'a' && *p <= 'f')))
			return 0;
	return 1;
}

struct crid_image *crid_image_store_find(struct crid_image_store *s, const char *name)
{
	const char *hex = hex_of(name);
	struct crid_image *found = NULL;
	size_t len = strlen(hex);

	for (size_t i = 0; i < s->n_images; i++) {
		struct crid_image *img = s->images[i];

		for (size_t j = 0; j < img->tags.n; j++)
			if (strcmp(img->tags.v[j], name) == 0)
				return img;
		for (size_t j = 0; j < img->digests.n; j++)
			if (strcmp(img->digests.v[j], name) == 0)
				return img;
	}
	if (len < 3 || len > 64 || !is_hex(hex))
		return NULL;
	for (size_t i = 0; i < s->n_images; i++) {
		if (strncmp(s->images[i]->id + 7, hex, len) != 0)
			continue;
		if (found)
			return NULL; /* ambiguous prefix */
		found = s->images[i];
	}
	return found;
}

/* A tag names one image: give it to |owner| and persist every image that lost it. */
static int take_names(struct crid_image_store *s, struct crid_image *owner,
		      const struct crid_strv *tags, struct crid_err *err)
{
	for (size_t i = 0; i < s->n_images; i++) {
		struct crid_image *other = s->images[i];
		int changed = 0;

		if (other == owner)
			continue;
		for (size_t j = 0; j < tags->n; j++)
			changed |= strv_remove(&other->tags, tags->v[j]);
		if (changed && save_image(s, other, err) < 0)
			return -1;
	}
	return 0;
}

static struct crid_image *image_copy(const struct crid_image *src)
{
	struct crid_image *img = crid_calloc(1, sizeof(*img));

	if (!img)
		return NULL;
	memcpy(img->id, src->id, sizeof(img->id));
	img->size = src->size;
	img->pinned = src->pinned;
	if (strv_copy(&img->tags, &src->tags) < 0 || strv_copy(&img->digests, &src->digests) < 0 ||
	    strv_copy(&img->layers, &src->layers) < 0 ||
	    !(img->config_json = crid_strdup(src->config_json ? src->config_json : "")) ||
	    !(img->user = crid_strdup(src->user ? src->user : ""))) {
		crid_image_free(img);
		return NULL;
	}
	return img;
}

static struct crid_image *find_by_id(const struct crid_image_store *s, const char *id)
{
	for (size_t i = 0; i < s->n_images; i++)
		if (strcmp(s->images[i]->id, id) == 0)
			return s->images[i];
	return NULL;
}

int crid_image_store_add(struct crid_image_store *s, const struct crid_image *img,
			 struct crid_err *err)
{
	struct crid_image *cur = find_by_id(s, img->id);
	int fresh = !cur;

	if (!valid_digest(img->id))
		return crid_err_set(err, EINVAL, "image id `%s` is not a sha256 digest", img->id);
	for (size_t i = 0; i < img->layers.n; i++)
		if (!find_layer(s, img->layers.v[i]))
			return crid_err_set(err, ENOENT, "image %s: layer %s is not in the store",
					    img->id, img->layers.v[i]);
	if (fresh) {
		cur = image_copy(img);
		if (!cur || insert_image(s, cur) < 0) {
			crid_image_free(cur);
			return crid_err_set(err, ENOMEM, "image %s", img->id);
		}
	} else if (strv_copy(&cur->tags, &img->tags) < 0 ||
		   strv_copy(&cur->digests, &img->digests) < 0) {
		return crid_err_set(err, ENOMEM, "image %s", img->id);
	}
	crid_image_usage_changed(s->usage);
	if (take_names(s, cur, &img->tags, err) < 0 || save_image(s, cur, err) < 0)
		return -1;
	return 0;
}

static int layer_in_use(const struct crid_image_store *s, const char *chain_id)
{
	for (size_t i = 0; i < s->n_images; i++)
		for (size_t j = 0; j < s->images[i]->layers.n; j++)
			if (strcmp(s->images[i]->layers.v[j], chain_id) == 0)
				return 1;
	return 0;
}

/* Layers left without an image go to trash, newest (top) first. */
static void release_layers(struct crid_image_store *s, const struct crid_strv *layers)
{
	char path[PATH_MAX + 80];

	for (size_t i = layers->n; i-- > 0;) {
		struct crid_layer_info *l = find_layer(s, layers->v[i]);

		if (!l || layer_in_use(s, l->chain_id))
			continue;
		snprintf(path, sizeof(path), "%s/layers/%s", s->dir, hex_of(l->chain_id));
		crid_image_store_discard(s, path);
		s->bytes -= l->bytes;
		s->inodes -= l->inodes;
		*l = s->layers[--s->n_layers];
	}
}

static int remove_whole(struct crid_image_store *s, struct crid_image *img, struct crid_err *err)
{
	char path[PATH_MAX * 2];
	struct crid_strv layers = { 0 };

	snprintf(path, sizeof(path), "%s/images/%s.json", s->dir, hex_of(img->id));
	if (unlink(path) < 0 && errno != ENOENT)
		return crid_err_set(err, errno, "remove `%s`", path);
	layers = img->layers;
	img->layers = (struct crid_strv){ 0 };
	drop_image(s, img);
	release_layers(s, &layers);
	strv_free(&layers);
	return 0;
}

static int remove_name(struct crid_image_store *s, const char *name, struct crid_err *err)
{
	struct crid_image *img = crid_image_store_find(s, name);
	int by_name;

	if (!img)
		return crid_err_set(err, ENOENT, "image `%s` not found", name);
	by_name = strv_remove(&img->tags, name) | strv_remove(&img->digests, name);
	if (by_name && img->tags.n + img->digests.n > 0)
		return save_image(s, img, err);
	if (img->users) {
		if (by_name)
			strv_add(&img->tags, name); /* keep the name it is used by */
		return crid_err_set(err, EBUSY, "image %s is in use by %u container(s)", img->id,
				    img->users);
	}
	return remove_whole(s, img, err);
}

int crid_image_store_remove(struct crid_image_store *s, const char *name, struct crid_err *err)
{
	int r = remove_name(s, name, err);

	if (r == 0)
		crid_image_usage_changed(s->usage);
	return r;
}

struct crid_image *const *crid_image_store_list(const struct crid_image_store *s, size_t *n)
{
	*n = s->n_images;
	return s->images;
}

static void counters(void *user, uint64_t *bytes, uint64_t *inodes)
{
	const struct crid_image_store *s = user;

	*bytes = s->bytes;
	*inodes = s->inodes;
}

int crid_image_store_track_usage(struct crid_image_store *s, struct crid_loop *loop,
				 struct crid_err *err)
{
	if (s->usage)
		return 0;
	s->usage = crid_image_usage_new(loop, s->dir, counters, s, err);
	return s->usage ? 0 : -1;
}

void crid_image_store_untrack_usage(struct crid_image_store *s)
{
	if (!s)
		return;
	crid_image_usage_free(s->usage);
	s->usage = NULL;
}

void crid_image_store_usage(const struct crid_image_store *s, uint64_t *bytes, uint64_t *inodes)
{
	if (s->usage)
		crid_image_usage_get(s->usage, bytes, inodes);
	else
		counters((void *)s, bytes, inodes);
}

const char *crid_image_store_dir(const struct crid_image_store *s)
{
	return s->dir;
}

const char *crid_image_store_trash_dir(const struct crid_image_store *s)
{
	return s->trash;
}
