#include "runtime/sandbox.h"

#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/random.h>
#include <unistd.h>
#include <yajl/yajl_gen.h>
#include <yajl/yajl_tree.h>

#include "reactor/log.h"
#include "reactor/mem.h"
#include "runtime/statefile.h"

#define RECORD_MAX                                                                                 \
	(4u << 20) /* a record holds the pod config (<= 16 MiB on the wire, ~KiB in practice) */
#define HASH_BUCKETS 1024

struct crid_sandbox_store {
	char *dir;		   /* <root>/sandboxes */
	char *runroot;		   /* <runroot>/pods */
	struct crid_sandbox **all; /* creation order */
	size_t n, cap;
	struct crid_sandbox *hash[HASH_BUCKETS];
};

static unsigned bucket(const char *id)
{
	unsigned h = 0;

	for (int i = 0; i < 8 && id[i]; i++)
		h = h * 16 + (unsigned)(id[i] <= '9' ? id[i] - '0' : id[i] - 'a' + 10);
	return h % HASH_BUCKETS;
}

void crid_kvs_free(struct crid_kvs *kvs)
{
	for (size_t i = 0; i < kvs->n; i++) {
		crid_free(kvs->v[i].key);
		crid_free(kvs->v[i].value);
	}
	crid_free(kvs->v);
	kvs->v = NULL;
	kvs->n = 0;
}

int crid_kvs_add(struct crid_kvs *kvs, const char *key, const char *value)
{
	struct crid_kv *v = crid_realloc(kvs->v, (kvs->n + 1) * sizeof(*v));

	if (!v)
		return -1;
	kvs->v = v;
	v[kvs->n].key = crid_strdup(key);
	v[kvs->n].value = crid_strdup(value);
	if (!v[kvs->n].key || !v[kvs->n].value) {
		crid_free(v[kvs->n].key);
		crid_free(v[kvs->n].value);
		return -1;
	}
	kvs->n++;
	return 0;
}

const char *crid_kvs_get(const struct crid_kvs *kvs, const char *key)
{
	for (size_t i = 0; i < kvs->n; i++)
		if (strcmp(kvs->v[i].key, key) == 0)
			return kvs->v[i].value;
	return NULL;
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
	static const char hex[] = "0123456789abcdef";
	struct crid_sandbox *sb = crid_calloc(1, sizeof(*sb));
	unsigned char rnd[CRID_ID_LEN / 2];

	if (!sb) {
		crid_err_set(err, ENOMEM, "pod sandbox record");
		return NULL;
	}
	if (getrandom(rnd, sizeof(rnd), 0) != (ssize_t)sizeof(rnd)) {
		crid_err_set(err, errno, "getrandom for a pod sandbox id");
		crid_free(sb);
		return NULL;
	}
	for (size_t i = 0; i < sizeof(rnd); i++) {
		sb->id[2 * i] = hex[rnd[i] >> 4];
		sb->id[2 * i + 1] = hex[rnd[i] & 15];
	}
	sb->state = CRID_SANDBOX_CREATING;
	return sb;
}

/* ---- JSON ---- */

#define GSTR(g, s) yajl_gen_string((g), (const unsigned char *)(s), strlen(s))

static void gen_kvs(yajl_gen g, const char *key, const struct crid_kvs *kvs)
{
	GSTR(g, key);
	yajl_gen_map_open(g);
	for (size_t i = 0; i < kvs->n; i++)
		GSTR(g, kvs->v[i].key), GSTR(g, kvs->v[i].value);
	yajl_gen_map_close(g);
}

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

static const char b64[] = "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/";

static char *base64(const uint8_t *p, size_t n)
{
	char *out = crid_malloc((n + 2) / 3 * 4 + 1), *o = out;

	if (!out)
		return NULL;
	for (size_t i = 0; i < n; i += 3) {
		uint32_t v = (uint32_t)p[i] << 16 | (i + 1 < n ? (uint32_t)p[i + 1] << 8 : 0) |
			     (i + 2 < n ? p[i + 2] : 0);

		*o++ = b64[v >> 18 & 63];
		*o++ = b64[v >> 12 & 63];
		*o++ = i + 1 < n ? b64[v >> 6 & 63] : '=';
		*o++ = i + 2 < n ? b64[v & 63] : '=';
	}
	*o = '\0';
	return out;
}

static int unbase64(const char *s, uint8_t **out, size_t *len)
{
	size_t n = strlen(s), o = 0;
	uint8_t *buf;
	uint32_t acc = 0;
	int bits = 0;

	buf = crid_malloc(n / 4 * 3 + 3);
	if (!buf)
		return -1;
	for (size_t i = 0; i < n && s[i] != '='; i++) {
		const char *c = strchr(b64, s[i]);

		if (!c || !s[i]) {
			crid_free(buf);
			return -1;
		}
		acc = acc << 6 | (uint32_t)(c - b64);
		bits += 6;
		if (bits >= 8) {
			bits -= 8;
			buf[o++] = (uint8_t)(acc >> bits);
		}
	}
	*out = buf;
	*len = o;
	return 0;
}

static int gen_record(yajl_gen g, const struct crid_sandbox *sb)
{
	char *config = base64(sb->config, sb->config_len);

	if (!config)
		return -1;
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
	gen_kvs(g, "labels", &sb->labels);
	gen_kvs(g, "annotations", &sb->annotations);
	gen_ports(g, sb);
	gen_ns(g, &sb->ns);
	GSTR(g, "ips");
	yajl_gen_array_open(g);
	for (size_t i = 0; i < sb->n_ips; i++)
		GSTR(g, sb->ips[i]);
	yajl_gen_array_close(g);
	gen_opt(g, "cni_net", sb->cni_net);
	gen_opt(g, "cni_result", sb->cni_result);
	GSTR(g, "config"), GSTR(g, config);
	yajl_gen_map_close(g);
	crid_free(config);
	return 0;
}

static int record_path(const struct crid_sandbox_store *s, const char *id, char *out, size_t size)
{
	int n = snprintf(out, size, "%s/%s.json", s->dir, id);

	return n < 0 || (size_t)n >= size ? -1 : 0;
}

int crid_sandbox_save(struct crid_sandbox_store *s, struct crid_sandbox *sb, struct crid_err *err)
{
	yajl_gen g = yajl_gen_alloc(NULL);
	const unsigned char *buf;
	char path[4096];
	size_t len;
	int r = -1;

	crid_free(sb->list_entry);
	sb->list_entry = NULL;
	sb->list_entry_len = 0;
	if (!g)
		return crid_err_set(err, ENOMEM, "pod sandbox %s record", sb->id);
	if (gen_record(g, sb) < 0 || yajl_gen_get_buf(g, &buf, &len) != yajl_gen_status_ok)
		crid_err_set(err, ENOMEM, "pod sandbox %s record", sb->id);
	else if (record_path(s, sb->id, path, sizeof(path)) < 0)
		crid_err_set(err, ENAMETOOLONG, "pod sandbox %s record path", sb->id);
	else
		r = crid_statefile_write(path, buf, len, err);
	yajl_gen_free(g);
	return r;
}

/* ---- loading ---- */

static const char *jstr(yajl_val root, const char *key)
{
	const char *path[] = { key, NULL };
	yajl_val v = yajl_tree_get(root, path, yajl_t_string);

	return v ? YAJL_GET_STRING(v) : NULL;
}

static long long jint(yajl_val root, const char *key, long long dflt)
{
	const char *path[] = { key, NULL };
	yajl_val v = yajl_tree_get(root, path, yajl_t_number);

	return v && YAJL_IS_INTEGER(v) ? YAJL_GET_INTEGER(v) : dflt;
}

static char *jdup(yajl_val root, const char *key, int *bad)
{
	const char *s = jstr(root, key);
	char *d = s ? crid_strdup(s) : NULL;

	if (!d)
		*bad = 1;
	return d;
}

static int load_kvs(yajl_val root, const char *key, struct crid_kvs *kvs)
{
	const char *path[] = { key, NULL };
	yajl_val m = yajl_tree_get(root, path, yajl_t_object);

	if (!m)
		return -1;
	for (size_t i = 0; i < m->u.object.len; i++) {
		if (!YAJL_IS_STRING(m->u.object.values[i]) ||
		    crid_kvs_add(kvs, m->u.object.keys[i], YAJL_GET_STRING(m->u.object.values[i])) <
			0)
			return -1;
	}
	return 0;
}

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

		o->container_port = (int)jint(p, "container_port", 0);
		o->host_port = (int)jint(p, "host_port", 0);
		if (copy_field(o->protocol, sizeof(o->protocol), jstr(p, "protocol")) < 0 ||
		    copy_field(o->host_ip, sizeof(o->host_ip), jstr(p, "host_ip")) < 0)
			return -1;
	}
	sb->n_ports = a->u.array.len;
	return 0;
}

static int load_ns(yajl_val root, struct crid_pod_ns *ns)
{
	const char *path[] = { "ns", NULL };
	yajl_val o = yajl_tree_get(root, path, yajl_t_object);

	if (!o || copy_field(ns->net, sizeof(ns->net), jstr(o, "net")) < 0 ||
	    copy_field(ns->ipc, sizeof(ns->ipc), jstr(o, "ipc")) < 0 ||
	    copy_field(ns->uts, sizeof(ns->uts), jstr(o, "uts")) < 0 ||
	    copy_field(ns->pid, sizeof(ns->pid), jstr(o, "pid")) < 0)
		return -1;
	ns->holder_pid = (pid_t)jint(o, "holder_pid", 0);
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
	const char *config;
	int bad = 0;

	if (!sb)
		return NULL;
	if (copy_field(sb->id, sizeof(sb->id), jstr(root, "id")) < 0 ||
	    strlen(sb->id) != CRID_ID_LEN)
		bad = 1;
	sb->name = jdup(root, "name", &bad);
	sb->namespace = jdup(root, "namespace", &bad);
	sb->uid = jdup(root, "uid", &bad);
	sb->attempt = (uint32_t)jint(root, "attempt", 0);
	sb->state = (enum crid_sandbox_state)jint(root, "state", CRID_SANDBOX_NOTREADY);
	sb->net = (enum crid_sandbox_net)jint(root, "net", CRID_NET_NONE);
	sb->created_at = jint(root, "created_at", 0);
	sb->runtime_handler = jdup(root, "runtime_handler", &bad);
	sb->hostname = jdup(root, "hostname", &bad);
	sb->log_directory = jdup(root, "log_directory", &bad);
	sb->cgroup_parent = jdup(root, "cgroup_parent", &bad);
	sb->ns_network = (enum crid_ns_mode)jint(root, "ns_network", 0);
	sb->ns_pid = (enum crid_ns_mode)jint(root, "ns_pid", 0);
	sb->ns_ipc = (enum crid_ns_mode)jint(root, "ns_ipc", 0);
	if (jstr(root, "cni_net"))
		sb->cni_net = jdup(root, "cni_net", &bad);
	if (jstr(root, "cni_result"))
		sb->cni_result = jdup(root, "cni_result", &bad);
	config = jstr(root, "config");
	if (bad || !config || unbase64(config, &sb->config, &sb->config_len) < 0 ||
	    load_kvs(root, "labels", &sb->labels) < 0 ||
	    load_kvs(root, "annotations", &sb->annotations) < 0 || load_ports(root, sb) < 0 ||
	    load_ns(root, &sb->ns) < 0 || load_ips(root, sb) < 0) {
		crid_sandbox_free(sb);
		return NULL;
	}
	return sb;
}

static struct crid_sandbox *load_record(const char *path)
{
	struct crid_sandbox *sb = NULL;
	struct crid_err err;
	char *text, ebuf[128];
	yajl_val root;
	size_t len;

	if (crid_statefile_read(path, RECORD_MAX, &text, &len, &err) < 0) {
		crid_log_warn("pod sandbox record: %s", err.msg);
		return NULL;
	}
	root = yajl_tree_parse(text, ebuf, sizeof(ebuf));
	crid_free(text);
	if (root)
		sb = parse_record(root);
	yajl_tree_free(root);
	if (!sb)
		crid_log_warn("pod sandbox record `%s` is damaged: skipped", path);
	return sb;
}

static int by_created(const void *a, const void *b)
{
	const struct crid_sandbox *x = *(struct crid_sandbox *const *)a;
	const struct crid_sandbox *y = *(struct crid_sandbox *const *)b;

	return x->created_at < y->created_at ? -1 : x->created_at > y->created_at;
}

static int push(struct crid_sandbox_store *s, struct crid_sandbox *sb)
{
	unsigned h = bucket(sb->id);

	if (s->n == s->cap) {
		size_t cap = s->cap ? 2 * s->cap : 64;
		struct crid_sandbox **all = crid_realloc(s->all, cap * sizeof(*all));

		if (!all)
			return -1;
		s->all = all;
		s->cap = cap;
	}
	s->all[s->n++] = sb;
	sb->hash_next = s->hash[h];
	s->hash[h] = sb;
	return 0;
}

static void load_all(struct crid_sandbox_store *s)
{
	DIR *d = opendir(s->dir);
	struct dirent *e;

	if (!d)
		return;
	while ((e = readdir(d))) {
		size_t len = strlen(e->d_name);
		char path[4096];
		struct crid_sandbox *sb;

		if (len != CRID_ID_LEN + 5 || strcmp(e->d_name + CRID_ID_LEN, ".json") != 0)
			continue;
		snprintf(path, sizeof(path), "%s/%s", s->dir, e->d_name);
		sb = load_record(path);
		if (sb && push(s, sb) < 0)
			crid_sandbox_free(sb);
	}
	closedir(d);
	if (s->n)
		qsort(s->all, s->n, sizeof(*s->all), by_created);
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
	load_all(s);
	*out = s;
	return 0;
}

void crid_sandbox_store_close(struct crid_sandbox_store *s)
{
	if (!s)
		return;
	for (size_t i = 0; i < s->n; i++)
		crid_sandbox_free(s->all[i]);
	crid_free(s->all);
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
	for (size_t i = 0; i < s->n; i++) {
		if (same_name(s->all[i], sb)) {
			crid_err_set(err, EEXIST,
				     "the pod sandbox name \"%s_%s_%s_%u\" is reserved for %s",
				     sb->name, sb->namespace, sb->uid, sb->attempt, s->all[i]->id);
			crid_sandbox_free(sb);
			return -1;
		}
	}
	if (push(s, sb) < 0) {
		crid_sandbox_free(sb);
		return crid_err_set(err, ENOMEM, "pod sandbox store");
	}
	return 0;
}

int crid_sandbox_delete(struct crid_sandbox_store *s, struct crid_sandbox *sb, struct crid_err *err)
{
	struct crid_sandbox **pp = &s->hash[bucket(sb->id)];
	char path[4096];
	int r = 0;

	if (record_path(s, sb->id, path, sizeof(path)) == 0 && unlink(path) < 0 && errno != ENOENT)
		r = crid_err_set(err, errno, "remove `%s`", path);
	while (*pp && *pp != sb)
		pp = &(*pp)->hash_next;
	if (*pp)
		*pp = sb->hash_next;
	for (size_t i = 0; i < s->n; i++) {
		if (s->all[i] == sb) {
			memmove(&s->all[i], &s->all[i + 1], (s->n - i - 1) * sizeof(*s->all));
			s->n--;
			break;
		}
	}
	crid_sandbox_free(sb);
	return r;
}

struct crid_sandbox *crid_sandbox_find(const struct crid_sandbox_store *s, const char *id,
				       bool *ambiguous)
{
	size_t len = strlen(id);
	struct crid_sandbox *found = NULL;

	*ambiguous = false;
	if (len == 0 || len > CRID_ID_LEN)
		return NULL;
	if (len == CRID_ID_LEN) {
		for (struct crid_sandbox *sb = s->hash[bucket(id)]; sb; sb = sb->hash_next)
			if (memcmp(sb->id, id, CRID_ID_LEN) == 0)
				return sb;
		return NULL;
	}
	for (size_t i = 0; i < s->n; i++) {
		if (strncmp(s->all[i]->id, id, len) != 0)
			continue;
		if (found) {
			*ambiguous = true;
			return NULL;
		}
		found = s->all[i];
	}
	return found;
}

struct crid_sandbox *const *crid_sandbox_list(const struct crid_sandbox_store *s, size_t *n)
{
	*n = s->n;
	return s->all;
}

int crid_sandbox_dir(const struct crid_sandbox_store *s, const struct crid_sandbox *sb,
		     const char *sub, char *out, size_t size)
{
	int n = snprintf(out, size, "%s/%s%s%s", s->runroot, sb->id, sub && *sub ? "/" : "",
			 sub ? sub : "");

	return n < 0 || (size_t)n >= size ? -1 : 0;
}
