#include "runtime/pod/sandbox.h"

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>
#include <yajl/yajl_gen.h>
#include <yajl/yajl_tree.h>

#include "reactor/log.h"
#include "reactor/mem.h"
#include "runtime/state/statefile.h"

struct crid_sandbox_store {
	char *dir;     /* <root>/sandboxes */
	char *runroot; /* <runroot>/pods */
	struct crid_records recs;
};

static const char *sandbox_id(const void *rec)
{
	return ((const struct crid_sandbox *)rec)->id;
}

void crid_sandbox_free(struct crid_sandbox *sb)
{
	if (!sb)
		return;
	crid_free(sb->name);
	crid_free(sb->namespace);
	crid_free(sb->uid);
	crid_free(sb->runtime_handler);
	crid_free(sb->hostname);
	crid_free(sb->log_directory);
	crid_free(sb->cgroup_parent);
	crid_kvs_free(&sb->labels);
	crid_kvs_free(&sb->annotations);
	crid_free(sb->ports);
	crid_free(sb->cni_net);
	crid_free(sb->cni_result);
	crid_free(sb->config);
	crid_free(sb->list_entry);
	crid_free(sb);
}

struct crid_sandbox *crid_sandbox_alloc(struct crid_err *err)
{
	struct crid_sandbox *sb = crid_calloc(1, sizeof(*sb));

	if (!sb) {
		crid_err_set(err, ENOMEM, "pod sandbox record");
		return NULL;
	}
	if (crid_random_id(sb->id, err) < 0) {
		crid_free(sb);
		return NULL;
	}
	sb->state = CRID_SANDBOX_CREATING;
	return sb;
}

/* ---- JSON ---- */

#define GSTR(g, s) crid_json_str((g), (s))

static void gen_opt(yajl_gen g, const char *key, const char *value)
{
	if (value)
		GSTR(g, key), GSTR(g, value);
}

static void gen_ports(yajl_gen g, const struct crid_sandbox *sb)
{
	GSTR(g, "ports");
	yajl_gen_array_open(g);
	for (size_t i = 0; i < sb->n_ports; i++) {
		const struct crid_sandbox_port *p = &sb->ports[i];

		yajl_gen_map_open(g);
		GSTR(g, "container_port"), yajl_gen_integer(g, p->container_port);
		GSTR(g, "host_port"), yajl_gen_integer(g, p->host_port);
		GSTR(g, "protocol"), GSTR(g, p->protocol);
		GSTR(g, "host_ip"), GSTR(g, p->host_ip);
		yajl_gen_map_close(g);
	}
	yajl_gen_array_close(g);
}

static void gen_ns(yajl_gen g, const struct crid_pod_ns *ns)
{
	GSTR(g, "ns");
	yajl_gen_map_open(g);
	GSTR(g, "net"), GSTR(g, ns->net);
	GSTR(g, "ipc"), GSTR(g, ns->ipc);
	GSTR(g, "uts"), GSTR(g, ns->uts);
	GSTR(g, "pid"), GSTR(g, ns->pid);
	GSTR(g, "holder_pid"), yajl_gen_integer(g, ns->holder_pid);
	yajl_gen_map_close(g);
}

static int gen_record(yajl_gen g, const struct crid_sandbox *sb)
{
	yajl_gen_map_open(g);
	GSTR(g, "id"), GSTR(g, sb->id);
	GSTR(g, "name"), GSTR(g, sb->name);
	GSTR(g, "namespace"), GSTR(g, sb->namespace);
	GSTR(g, "uid"), GSTR(g, sb->uid);
	GSTR(g, "attempt"), yajl_gen_integer(g, sb->attempt);
	GSTR(g, "state"), yajl_gen_integer(g, sb->state);
	GSTR(g, "net"), yajl_gen_integer(g, sb->net);
	GSTR(g, "created_at"), yajl_gen_integer(g, sb->created_at);
	GSTR(g, "runtime_handler"), GSTR(g, sb->runtime_handler);
	GSTR(g, "hostname"), GSTR(g, sb->hostname);
	GSTR(g, "log_directory"), GSTR(g, sb->log_directory);
	GSTR(g, "cgroup_parent"), GSTR(g, sb->cgroup_parent);
	GSTR(g, "ns_network"), yajl_gen_integer(g, sb->ns_network);
	GSTR(g, "ns_pid"), yajl_gen_integer(g, sb->ns_pid);
	GSTR(g, "ns_ipc"), yajl_gen_integer(g, sb->ns_ipc);
	crid_json_kvs(g, "labels", &sb->labels);
	crid_json_kvs(g, "annotations", &sb->annotations);
	gen_ports(g, sb);
	gen_ns(g, &sb->ns);
	GSTR(g, "ips");
	yajl_gen_array_open(g);
	for (size_t i = 0; i < sb->n_ips; i++)
		GSTR(g, sb->ips[i]);
	yajl_gen_array_close(g);
	gen_opt(g, "cni_net", sb->cni_net);
	gen_opt(g, "cni_result", sb->cni_result);
	if (crid_json_bytes(g, "config", sb->config, sb->config_len) < 0)
		return -1;
	yajl_gen_map_close(g);
	return 0;
}

int crid_sandbox_save(struct crid_sandbox_store *s, struct crid_sandbox *sb, struct crid_err *err)
{
	yajl_gen g = yajl_gen_alloc(NULL);
	int r;

	crid_free(sb->list_entry);
	sb->list_entry = NULL;
	sb->list_entry_len = 0;
	if (!g)
		return crid_err_set(err, ENOMEM, "pod sandbox %s record", sb->id);
	r = gen_record(g, sb) < 0 ? crid_err_set(err, ENOMEM, "pod sandbox %s record", sb->id)
				  : crid_records_write(s->dir, sb->id, g, err);
	yajl_gen_free(g);
	return r;
}

int crid_sandbox_set_config(struct crid_sandbox_store *s, struct crid_sandbox *sb,
			    const uint8_t *config, size_t len, struct crid_err *err)
{
	uint8_t *old = sb->config, *copy = crid_malloc(len ? len : 1);
	size_t old_len = sb->config_len;

	if (!copy)
		return crid_err_set(err, ENOMEM, "pod sandbox %s config", sb->id);
	memcpy(copy, config, len);
	sb->config = copy;
	sb->config_len = len;
	if (crid_sandbox_save(s, sb, err) <
	    0) { /* the record on disk is the old one: so is memory */
		sb->config = old;
		sb->config_len = old_len;
		crid_free(copy);
		return -1;
	}
	crid_free(old);
	return 0;
}

int crid_sandbox_check_size(const struct crid_sandbox *sb, struct crid_err *err)
{
	yajl_gen g = yajl_gen_alloc(NULL);
	int r;

	if (!g)
		return crid_err_set(err, ENOMEM, "pod sandbox record");
	r = gen_record(g, sb) < 0 ? crid_err_set(err, ENOMEM, "pod sandbox record")
				  : crid_records_fits(g, "pod sandbox record", err);
	yajl_gen_free(g);
	return r;
}

/* ---- loading ---- */

static int copy_field(char *dst, size_t size, const char *src)
{
	if (!src || strlen(src) >= size)
		return -1;
	memcpy(dst, src, strlen(src) + 1);
	return 0;
}

static int load_ports(yajl_val root, struct crid_sandbox *sb)
{
	const char *path[] = { "ports", NULL };
	yajl_val a = yajl_tree_get(root, path, yajl_t_array);

	if (!a)
		return -1;
	sb->ports = crid_calloc(a->u.array.len + 1, sizeof(*sb->ports));
	if (!sb->ports)
		return -1;
	for (size_t i = 0; i < a->u.array.len; i++) {
		yajl_val p = a->u.array.values[i];
		struct crid_sandbox_port *o = &sb->ports[i];

		o->container_port = (int)crid_json_get_int(p, "container_port", 0);
		o->host_port = (int)crid_json_get_int(p, "host_port", 0);
		if (copy_field(o->protocol, sizeof(o->protocol), crid_json_get_str(p, "protocol")) <
			0 ||
		    copy_field(o->host_ip, sizeof(o->host_ip), crid_json_get_str(p, "host_ip")) < 0)
			return -1;
	}
	sb->n_ports = a->u.array.len;
	return 0;
}

static int load_ns(yajl_val root, struct crid_pod_ns *ns)
{
	const char *path[] = { "ns", NULL };
	yajl_val o = yajl_tree_get(root, path, yajl_t_object);

	if (!o || copy_field(ns->net, sizeof(ns->net), crid_json_get_str(o, "net")) < 0 ||
	    copy_field(ns->ipc, sizeof(ns->ipc), crid_json_get_str(o, "ipc")) < 0 ||
	    copy_field(ns->uts, sizeof(ns->uts), crid_json_get_str(o, "uts")) < 0 ||
	    copy_field(ns->pid, sizeof(ns->pid), crid_json_get_str(o, "pid")) < 0)
		return -1;
	ns->holder_pid = (pid_t)crid_json_get_int(o, "holder_pid", 0);
	return 0;
}

static int load_ips(yajl_val root, struct crid_sandbox *sb)
{
	const char *path[] = { "ips", NULL };
	yajl_val a = yajl_tree_get(root, path, yajl_t_array);

	if (!a || a->u.array.len > CRID_CNI_MAX_IPS)
		return -1;
	for (size_t i = 0; i < a->u.array.len; i++)
		if (!YAJL_IS_STRING(a->u.array.values[i]) ||
		    copy_field(sb->ips[i], sizeof(sb->ips[i]),
			       YAJL_GET_STRING(a->u.array.values[i])) < 0)
			return -1;
	sb->n_ips = a->u.array.len;
	return 0;
}

static struct crid_sandbox *parse_record(yajl_val root)
{
	struct crid_sandbox *sb = crid_calloc(1, sizeof(*sb));
	int bad = 0;

	if (!sb)
		return NULL;
	if (copy_field(sb->id, sizeof(sb->id), crid_json_get_str(root, "id")) < 0 ||
	    strlen(sb->id) != CRID_ID_LEN)
		bad = 1;
	sb->name = crid_json_dup(root, "name", &bad);
	sb->namespace = crid_json_dup(root, "namespace", &bad);
	sb->uid = crid_json_dup(root, "uid", &bad);
	sb->attempt = (uint32_t)crid_json_get_int(root, "attempt", 0);
	sb->state =
	    (enum crid_sandbox_state)crid_json_get_int(root, "state", CRID_SANDBOX_NOTREADY);
	sb->net = (enum crid_sandbox_net)crid_json_get_int(root, "net", CRID_NET_NONE);
	sb->created_at = crid_json_get_int(root, "created_at", 0);
	sb->runtime_handler = crid_json_dup(root, "runtime_handler", &bad);
	sb->hostname = crid_json_dup(root, "hostname", &bad);
	sb->log_directory = crid_json_dup(root, "log_directory", &bad);
	sb->cgroup_parent = crid_json_dup(root, "cgroup_parent", &bad);
	sb->ns_network = (enum crid_ns_mode)crid_json_get_int(root, "ns_network", 0);
	sb->ns_pid = (enum crid_ns_mode)crid_json_get_int(root, "ns_pid", 0);
	sb->ns_ipc = (enum crid_ns_mode)crid_json_get_int(root, "ns_ipc", 0);
	if (crid_json_get_str(root, "cni_net"))
		sb->cni_net = crid_json_dup(root, "cni_net", &bad);
	if (crid_json_get_str(root, "cni_result"))
		sb->cni_result = crid_json_dup(root, "cni_result", &bad);
	if (bad || crid_json_get_bytes(root, "config", &sb->config, &sb->config_len) < 0 ||
	    crid_json_get_kvs(root, "labels", &sb->labels) < 0 ||
	    crid_json_get_kvs(root, "annotations", &sb->annotations) < 0 ||
	    load_ports(root, sb) < 0 || load_ns(root, &sb->ns) < 0 || load_ips(root, sb) < 0) {
		crid_sandbox_free(sb);
		return NULL;
	}
	return sb;
}

static void load_one(void *user, const char *path, yajl_val root)
{
	struct crid_sandbox_store *s = user;
	struct crid_sandbox *sb = parse_record(root);

	if (!sb) {
		crid_log_warn("pod sandbox record `%s` is damaged: skipped", path);
		return;
	}
	if (crid_records_add(&s->recs, sb) < 0)
		crid_sandbox_free(sb);
}

static int by_created(const void *a, const void *b)
{
	const struct crid_sandbox *x = *(void *const *)a;
	const struct crid_sandbox *y = *(void *const *)b;

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

int crid_sandbox_store_open(const char *root, const char *runroot, struct crid_sandbox_store **out,
			    struct crid_err *err)
{
	struct crid_sandbox_store *s = crid_calloc(1, sizeof(*s));

	if (!s)
		return crid_err_set(err, ENOMEM, "pod sandbox store");
	crid_records_init(&s->recs, sandbox_id);
	s->dir = join(root, "/sandboxes");
	s->runroot = join(runroot, "/pods");
	if (!s->dir || !s->runroot) {
		crid_sandbox_store_close(s);
		return crid_err_set(err, ENOMEM, "pod sandbox store");
	}
	if (crid_mkdir_p(s->dir, 0700, err) < 0 || crid_mkdir_p(s->runroot, 0711, err) < 0) {
		crid_sandbox_store_close(s);
		return -1;
	}
	crid_records_load_dir(s->dir, load_one, s);
	crid_records_sort(&s->recs, by_created);
	*out = s;
	return 0;
}

void crid_sandbox_store_close(struct crid_sandbox_store *s)
{
	if (!s)
		return;
	for (size_t i = 0; i < s->recs.n; i++)
		crid_sandbox_free(s->recs.all[i]);
	crid_records_free(&s->recs);
	crid_free(s->dir);
	crid_free(s->runroot);
	crid_free(s);
}

/* ---- lookup and changes ---- */

static bool same_name(const struct crid_sandbox *a, const struct crid_sandbox *b)
{
	return a->attempt == b->attempt && strcmp(a->name, b->name) == 0 &&
	       strcmp(a->namespace, b->namespace) == 0 && strcmp(a->uid, b->uid) == 0;
}

int crid_sandbox_insert(struct crid_sandbox_store *s, struct crid_sandbox *sb, struct crid_err *err)
{
	for (size_t i = 0; i < s->recs.n; i++) {
		const struct crid_sandbox *o = s->recs.all[i];

		if (same_name(o, sb)) {
			crid_err_set(err, EEXIST,
				     "the pod sandbox name \"%s_%s_%s_%u\" is reserved for %s",
				     sb->name, sb->namespace, sb->uid, sb->attempt, o->id);
			crid_sandbox_free(sb);
			return -1;
		}
	}
	if (crid_records_add(&s->recs, sb) < 0) {
		crid_sandbox_free(sb);
		return crid_err_set(err, ENOMEM, "pod sandbox store");
	}
	return 0;
}

int crid_sandbox_delete(struct crid_sandbox_store *s, struct crid_sandbox *sb, struct crid_err *err)
{
	int r = crid_records_unlink(s->dir, sb->id, err);

	crid_records_remove(&s->recs, sb);
	crid_sandbox_free(sb);
	return r;
}

struct crid_sandbox *crid_sandbox_find(const struct crid_sandbox_store *s, const char *id,
				       bool *ambiguous)
{
	return crid_records_find(&s->recs, id, ambiguous);
}

struct crid_sandbox *const *crid_sandbox_list(const struct crid_sandbox_store *s, size_t *n)
{
	*n = s->recs.n;
	return (struct crid_sandbox *const *)s->recs.all;
}

int crid_sandbox_dir(const struct crid_sandbox_store *s, const struct crid_sandbox *sb,
		     const char *sub, char *out, size_t size)
{
	int n = snprintf(out, size, "%s/%s%s%s", s->runroot, sb->id, sub && *sub ? "/" : "",
			 sub ? sub : "");

	return n < 0 || (size_t)n >= size ? -1 : 0;
}
