#include "runtime/container/container.h"

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "reactor/log.h"
#include "reactor/mem.h"
#include "runtime/state/statefile.h"

struct crid_container_store {
	char *dir;     /* <root>/containers/records */
	char *layers;  /* <root>/containers */
	char *bundles; /* <runroot>/containers */
	char *trash;   /* <root>/containers/trash */
	struct crid_records recs;
};

static const char *container_id(const void *rec)
{
	return ((const struct crid_container *)rec)->id;
}

void crid_container_free(struct crid_container *c)
{
	if (!c)
		return;
	crid_free(c->name);
	crid_free(c->image);
	crid_free(c->image_ref);
	crid_free(c->runtime_handler);
	crid_free(c->reason);
	crid_free(c->message);
	crid_kvs_free(&c->labels);
	crid_kvs_free(&c->annotations);
	crid_free(c->log_path);
	crid_free(c->cgroups_path);
	crid_free(c->config);
	crid_free(c->resources);
	crid_free(c->list_entry);
	crid_free(c);
}

struct crid_container *crid_container_alloc(struct crid_err *err)
{
	struct crid_container *c = crid_calloc(1, sizeof(*c));

	if (!c) {
		crid_err_set(err, ENOMEM, "container record");
		return NULL;
	}
	if (crid_random_id(c->id, err) < 0) {
		crid_free(c);
		return NULL;
	}
	c->state = CRID_CTR_CREATING;
	c->pidfd = c->out_fd = c->err_fd = c->in_fd = -1;
	return c;
}

/* ---- JSON ---- */

#define GSTR(g, s) crid_json_str((g), (s))

static void gen_int(yajl_gen g, const char *key, long long v)
{
	GSTR(g, key);
	yajl_gen_integer(g, v);
}

static void gen_user(yajl_gen g, const struct crid_ctr_user *u)
{
	GSTR(g, "user");
	yajl_gen_map_open(g);
	gen_int(g, "uid", u->uid);
	gen_int(g, "gid", u->gid);
	GSTR(g, "gids");
	yajl_gen_array_open(g);
	for (size_t i = 0; i < u->n_additional_gids; i++)
		yajl_gen_integer(g, u->additional_gids[i]);
	yajl_gen_array_close(g);
	yajl_gen_map_close(g);
}

static int gen_record(yajl_gen g, const struct crid_container *c)
{
	yajl_gen_map_open(g);
	GSTR(g, "id"), GSTR(g, c->id);
	GSTR(g, "sandbox_id"), GSTR(g, c->sandbox_id);
	GSTR(g, "name"), GSTR(g, c->name);
	gen_int(g, "attempt", c->attempt);
	GSTR(g, "image"), GSTR(g, c->image);
	GSTR(g, "image_ref"), GSTR(g, c->image_ref);
	GSTR(g, "runtime_handler"), GSTR(g, c->runtime_handler);
	gen_int(g, "state", c->state);
	gen_int(g, "created_at", c->created_at);
	gen_int(g, "started_at", c->started_at);
	gen_int(g, "finished_at", c->finished_at);
	gen_int(g, "exit_code", c->exit_code);
	GSTR(g, "reason"), GSTR(g, c->reason ? c->reason : "");
	GSTR(g, "message"), GSTR(g, c->message ? c->message : "");
	crid_json_kvs(g, "labels", &c->labels);
	crid_json_kvs(g, "annotations", &c->annotations);
	GSTR(g, "log_path"), GSTR(g, c->log_path);
	gen_int(g, "pid", c->pid);
	gen_int(g, "stop_signal", c->stop_signal);
	gen_user(g, &c->user);
	GSTR(g, "cgroups_path"), GSTR(g, c->cgroups_path);
	GSTR(g, "tty"), yajl_gen_bool(g, c->tty);
	GSTR(g, "stdin"), yajl_gen_bool(g, c->stdin);
	GSTR(g, "stdin_once"), yajl_gen_bool(g, c->stdin_once);
	if (crid_json_bytes(g, "config", c->config, c->config_len) < 0)
		return -1;
	if (c->resources && crid_json_bytes(g, "resources", c->resources, c->resources_len) < 0)
		return -1;
	yajl_gen_map_close(g);
	return 0;
}

int crid_container_save(struct crid_container_store *s, struct crid_container *c,
			struct crid_err *err)
{
	yajl_gen g = yajl_gen_alloc(NULL);
	int r;

	crid_free(c->list_entry);
	c->list_entry = NULL;
	c->list_entry_len = 0;
	if (!g)
		return crid_err_set(err, ENOMEM, "container %s record", c->id);
	r = gen_record(g, c) < 0 ? crid_err_set(err, ENOMEM, "container %s record", c->id)
				 : crid_records_write(s->dir, c->id, g, err);
	yajl_gen_free(g);
	return r;
}

int crid_container_check_size(const struct crid_container *c, struct crid_err *err)
{
	yajl_gen g = yajl_gen_alloc(NULL);
	int r;

	if (!g)
		return crid_err_set(err, ENOMEM, "container record");
	r = gen_record(g, c) < 0 ? crid_err_set(err, ENOMEM, "container record")
				 : crid_records_fits(g, "container record", err);
	yajl_gen_free(g);
	return r;
}

static bool jbool(yajl_val root, const char *key)
{
	const char *path[] = { key, NULL };

	return YAJL_IS_TRUE(yajl_tree_get(root, path, yajl_t_true));
}

static int load_user(yajl_val root, struct crid_ctr_user *u)
{
	const char *path[] = { "user", NULL }, *gids[] = { "gids", NULL };
	yajl_val o = yajl_tree_get(root, path, yajl_t_object);
	yajl_val a = o ? yajl_tree_get(o, gids, yajl_t_array) : NULL;

	if (!o || !a || a->u.array.len > sizeof(u->additional_gids) / sizeof(u->additional_gids[0]))
		return -1;
	u->uid = (uint32_t)crid_json_get_int(o, "uid", 0);
	u->gid = (uint32_t)crid_json_get_int(o, "gid", 0);
	for (size_t i = 0; i < a->u.array.len; i++) {
		if (!YAJL_IS_INTEGER(a->u.array.values[i]))
			return -1;
		u->additional_gids[i] = (uint32_t)YAJL_GET_INTEGER(a->u.array.values[i]);
	}
	u->n_additional_gids = a->u.array.len;
	return 0;
}

static struct crid_container *parse_record(yajl_val root)
{
	struct crid_container *c = crid_calloc(1, sizeof(*c));
	int bad = 0;

	if (!c)
		return NULL;
	c->pidfd = c->out_fd = c->err_fd = c->in_fd = -1;
	if (crid_json_copy(root, "id", c->id, sizeof(c->id)) < 0 ||
	    crid_json_copy(root, "sandbox_id", c->sandbox_id, sizeof(c->sandbox_id)) < 0 ||
	    strlen(c->id) != CRID_ID_LEN)
		bad = 1;
	c->name = crid_json_dup(root, "name", &bad);
	c->attempt = (uint32_t)crid_json_get_int(root, "attempt", 0);
	c->image = crid_json_dup(root, "image", &bad);
	c->image_ref = crid_json_dup(root, "image_ref", &bad);
	c->runtime_handler = crid_json_dup(root, "runtime_handler", &bad);
	c->state = (enum crid_ctr_state)crid_json_get_int(root, "state", CRID_CTR_UNKNOWN);
	c->created_at = crid_json_get_int(root, "created_at", 0);
	c->started_at = crid_json_get_int(root, "started_at", 0);
	c->finished_at = crid_json_get_int(root, "finished_at", 0);
	c->exit_code = (int32_t)crid_json_get_int(root, "exit_code", 0);
	c->reason = crid_json_dup(root, "reason", &bad);
	c->message = crid_json_dup(root, "message", &bad);
	c->log_path = crid_json_dup(root, "log_path", &bad);
	c->pid = (pid_t)crid_json_get_int(root, "pid", 0);
	c->stop_signal = (int)crid_json_get_int(root, "stop_signal", 15);
	c->cgroups_path = crid_json_dup(root, "cgroups_path", &bad);
	c->tty = jbool(root, "tty");
	c->stdin = jbool(root, "stdin");
	c->stdin_once = jbool(root, "stdin_once");
	if (crid_json_get_str(root, "resources") &&
	    crid_json_get_bytes(root, "resources", &c->resources, &c->resources_len) < 0)
		bad = 1;
	if (bad || crid_json_get_bytes(root, "config", &c->config, &c->config_len) < 0 ||
	    crid_json_get_kvs(root, "labels", &c->labels) < 0 ||
	    crid_json_get_kvs(root, "annotations", &c->annotations) < 0 ||
	    load_user(root, &c->user) < 0) {
		crid_container_free(c);
		return NULL;
	}
	return c;
}

static void load_one(void *user, const char *path, yajl_val root)
{
	struct crid_container_store *s = user;
	struct crid_container *c = parse_record(root);

	if (!c) {
		crid_log_warn("container record `%s` is damaged: skipped", path);
		return;
	}
	if (crid_records_add(&s->recs, c) < 0)
		crid_container_free(c);
}

static int by_created(const void *a, const void *b)
{
	const struct crid_container *x = *(void *const *)a;
	const struct crid_container *y = *(void *const *)b;

	return x->created_at < y->created_at ? -1 : x->created_at > y->created_at;
}

static char *join(const char *a, const char *b)
{
	size_t n = strlen(a) + strlen(b) + 1;
	char *p = crid_malloc(n);

	if (p)
		snprintf(p, n, "%s%s", a, b);
	return p;
}

int crid_container_store_open(const char *root, const char *runroot,
			      struct crid_container_store **out, struct crid_err *err)
{
	struct crid_container_store *s = crid_calloc(1, sizeof(*s));

	if (!s)
		return crid_err_set(err, ENOMEM, "container store");
	crid_records_init(&s->recs, container_id);
	s->dir = join(root, "/containers/records");
	s->layers = join(root, "/containers");
	s->trash = join(root, "/containers/trash");
	s->bundles = join(runroot, "/containers");
	if (!s->dir || !s->layers || !s->trash || !s->bundles) {
		crid_container_store_close(s);
		return crid_err_set(err, ENOMEM, "container store");
	}
	if (crid_mkdir_p(s->dir, 0700, err) < 0 || crid_mkdir_p(s->trash, 0700, err) < 0 ||
	    crid_mkdir_p(s->bundles, 0700, err) < 0) {
		crid_container_store_close(s);
		return -1;
	}
	crid_records_load_dir(s->dir, load_one, s);
	crid_records_sort(&s->recs, by_created);
	*out = s;
	return 0;
}

void crid_container_store_close(struct crid_container_store *s)
{
	if (!s)
		return;
	for (size_t i = 0; i < s->recs.n; i++)
		crid_container_free(s->recs.all[i]);
	crid_records_free(&s->recs);
	crid_free(s->dir);
	crid_free(s->layers);
	crid_free(s->trash);
	crid_free(s->bundles);
	crid_free(s);
}

int crid_container_insert(struct crid_container_store *s, struct crid_container *c,
			  struct crid_err *err)
{
	for (size_t i = 0; i < s->recs.n; i++) {
		const struct crid_container *o = s->recs.all[i];

		if (o->attempt == c->attempt && strcmp(o->sandbox_id, c->sandbox_id) == 0 &&
		    strcmp(o->name, c->name) == 0) {
			crid_err_set(
			    err, EEXIST,
			    "the container name \"%s_%u\" in pod sandbox %.12s is reserved "
			    "for %s",
			    c->name, c->attempt, c->sandbox_id, o->id);
			crid_container_free(c);
			return -1;
		}
	}
	if (crid_records_add(&s->recs, c) < 0) {
		crid_container_free(c);
		return crid_err_set(err, ENOMEM, "container store");
	}
	return 0;
}

int crid_container_delete(struct crid_container_store *s, struct crid_container *c,
			  struct crid_err *err)
{
	int r = crid_records_unlink(s->dir, c->id, err);

	crid_records_remove(&s->recs, c);
	crid_container_free(c);
	return r;
}

struct crid_container *crid_container_find(const struct crid_container_store *s, const char *id,
					   bool *ambiguous)
{
	return crid_records_find(&s->recs, id, ambiguous);
}

struct crid_container *const *crid_container_list(const struct crid_container_store *s, size_t *n)
{
	*n = s->recs.n;
	return (struct crid_container *const *)s->recs.all;
}

static int path_of(char *out, size_t size, const char *base, const char *id)
{
	int n = snprintf(out, size, "%s/%s", base, id);

	return n < 0 || (size_t)n >= size ? -1 : 0;
}

int crid_container_bundle(const struct crid_container_store *s, const struct crid_container *c,
			  char *out, size_t size)
{
	return path_of(out, size, s->bundles, c->id);
}

int crid_container_layer(const struct crid_container_store *s, const struct crid_container *c,
			 char *out, size_t size)
{
	return path_of(out, size, s->layers, c->id);
}

const char *crid_container_trash_dir(const struct crid_container_store *s)
{
	return s->trash;
}
