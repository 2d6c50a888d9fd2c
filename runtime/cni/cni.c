/*
 * CNI ADD and DEL on the loop, after libcni (pkg/libcni/api.go): AddNetworkList
 * runs the plugins in order, each getting the previous one's result as
 * "prevResult"; DelNetworkList runs them in reverse, each getting the cached
 * ADD result (only from spec 0.4.0 on) and stops at the first error. The
 * stdin config of a plugin is buildOneConfig(): the plugin object with the
 * list's "name" and "cniVersion", "prevResult", and "runtimeConfig" holding
 * only the capabilities the plugin declares (injectRuntimeConfig()).
 *
 * Each plugin is a child of ours: its config is on a memfd (so writing it
 * never blocks, whatever its size), stdout and stderr are non-blocking pipes
 * read on the loop, and one timer bounds the whole chain. An op ends after the
 * plugin exited and both pipes reached EOF, or when the timer fires; a killed
 * plugin is still reaped later by the op, which then frees itself.
 */
#include "runtime/cni/cni.h"

#include <arpa/inet.h>
#include <errno.h>
#include <limits.h>
#include <fcntl.h>
#include <signal.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <unistd.h>

#include <yajl/yajl_gen.h>
#include <yajl/yajl_tree.h>

#include "reactor/metrics_families.h"
#include "reactor/log.h"
#include "reactor/mem.h"
#include "reactor/spawn.h"
#include "runtime/cni/cni_conf.h"

#define OUT_CAP (1024 * 1024)
#define READ_SLICE 16 /* reads per callback, so one chatty plugin cannot hog the loop */
/* kubelet's, CRI-O's and containerd's burst for a pod bandwidth limit: "no limit" */
#define BW_NO_LIMIT 2147483647LL
#define DEFAULT_PATH "/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin"
#define IFNAME_MAX 16 /* IFNAMSIZ */
#define HOST_IP_MAX 64
#define ERR_TAIL 400

#define GEN_STR(g, s) yajl_gen_string((g), (const unsigned char *)(s), strlen(s))

enum { CAP_PORTS = 1, CAP_BANDWIDTH = 2, CAP_IPRANGES = 4 };

struct crid_cni_net {
	char *json; /* the list, NUL-terminated; conf points into its parse */
	struct crid_cni_conf conf;
	unsigned caps[CRID_CNI_MAX_PLUGINS];
	char **dirs;
	size_t n_dirs;
};

struct port {
	int container_port;
	int host_port;
	char protocol[8];
	char host_ip[HOST_IP_MAX];
};

struct out_buf {
	ev_io w;
	int fd; /* -1 once at EOF */
	char *data;
	size_t len, cap;
	bool keep_tail; /* stderr: keep the last bytes; stdout: overflow is an error */
	bool overflow;
	struct crid_cni_op *op;
};

struct crid_cni_op {
	struct crid_loop *loop;
	const struct crid_cni_net *net;
	bool del;
	size_t step; /* plugins finished */
	char *paths[CRID_CNI_MAX_PLUGINS];
	char *env[8];
	struct port *ports;
	size_t n_ports;
	char *pod_cidr;
	long long ingress_bps, egress_bps;
	yajl_val prev;	 /* prevResult for the next plugin, or NULL */
	char *prev_json; /* its text (ADD) */
	struct crid_child child;
	bool child_live; /* spawned, not yet reaped */
	bool exited;	 /* the current plugin exited */
	int status;
	struct out_buf out, errb;
	ev_timer timer;
	double timeout;
	bool finished;	/* done called or cancelled: only waiting to reap */
	double started; /* crid_metrics_clock() at the start: the CNI latency metric */
	crid_cni_done_fn done;
	void *user;
};

/* ---- network configurations ---- */

static yajl_gen_status gen_value(yajl_gen g, yajl_val v)
{
	yajl_gen_status st = yajl_gen_status_ok;

	if (YAJL_IS_STRING(v))
		return GEN_STR(g, v->u.string);
	if (YAJL_IS_NUMBER(v))
		return yajl_gen_number(g, v->u.number.r, strlen(v->u.number.r));
	if (YAJL_IS_TRUE(v))
		return yajl_gen_bool(g, 1);
	if (YAJL_IS_FALSE(v))
		return yajl_gen_bool(g, 0);
	if (YAJL_IS_ARRAY(v)) {
		st = yajl_gen_array_open(g);
		for (size_t i = 0; st == yajl_gen_status_ok && i < v->u.array.len; i++)
			st = gen_value(g, v->u.array.values[i]);
		return st == yajl_gen_status_ok ? yajl_gen_array_close(g) : st;
	}
	if (YAJL_IS_OBJECT(v)) {
		st = yajl_gen_map_open(g);
		for (size_t i = 0; st == yajl_gen_status_ok && i < v->u.object.len; i++) {
			st = GEN_STR(g, v->u.object.keys[i]);
			if (st == yajl_gen_status_ok)
				st = gen_value(g, v->u.object.values[i]);
		}
		return st == yajl_gen_status_ok ? yajl_gen_map_close(g) : st;
	}
	return yajl_gen_null(g);
}

/* Copies the generator's output into a crid_malloc'd string, or NULL. */
static char *gen_take(yajl_gen g, yajl_gen_status st)
{
	const unsigned char *buf;
	size_t len;

	if (st != yajl_gen_status_ok || yajl_gen_get_buf(g, &buf, &len) != yajl_gen_status_ok)
		return NULL;
	return crid_strndup((const char *)buf, len);
}

/* libcni's ConfListFromConf(): a .conf becomes a list of that one plugin. */
static char *wrap_conf(const struct crid_cni_conf *c)
{
	yajl_gen g = yajl_gen_alloc(NULL);
	yajl_gen_status st;
	char *s;

	if (!g)
		return NULL;
	st = yajl_gen_map_open(g);
	st = st ?: GEN_STR(g, "cniVersion");
	st = st ?: GEN_STR(g, c->version);
	st = st ?: GEN_STR(g, "name");
	st = st ?: GEN_STR(g, c->name);
	st = st ?: GEN_STR(g, "plugins");
	st = st ?: yajl_gen_array_open(g);
	st = st ?: gen_value(g, c->root);
	st = st ?: yajl_gen_array_close(g);
	st = st ?: yajl_gen_map_close(g);
	s = gen_take(g, st);
	yajl_gen_free(g);
	return s;
}

static unsigned plugin_caps(yajl_val plugin)
{
	static const struct {
		const char *name;
		unsigned bit;
	} known[] = { { "portMappings", CAP_PORTS },
		      { "bandwidth", CAP_BANDWIDTH },
		      { "ipRanges", CAP_IPRANGES } };
	const char *path[] = { "capabilities", NULL, NULL };
	unsigned caps = 0;

	for (size_t i = 0; i < sizeof(known) / sizeof(known[0]); i++) {
		path[1] = known[i].name;
		if (YAJL_IS_TRUE(yajl_tree_get(plugin, path, yajl_t_true)))
			caps |= known[i].bit;
	}
	return caps;
}

static int copy_dirs(struct crid_cni_net *net, const struct crid_strv *dirs)
{
	size_t n = dirs ? dirs->n : 0;

	net->dirs = crid_calloc(n ? n : 1, sizeof(*net->dirs));
	if (!net->dirs)
		return -1;
	for (; net->n_dirs < n; net->n_dirs++) {
		net->dirs[net->n_dirs] = crid_strdup(dirs->v[net->n_dirs]);
		if (!net->dirs[net->n_dirs])
			return -1;
	}
	return 0;
}

static int parse_into(struct crid_cni_net *net, const char *name, struct crid_err *err)
{
	char problem[256];

	if (crid_cni_conf_parse(&net->conf, net->json, strlen(net->json), problem,
				sizeof(problem)) < 0)
		return crid_err_invalid(err, "cni config `%s`: %s", name, problem);
	return 0;
}

int crid_cni_net_parse(const char *name, const char *json, size_t len,
		       const struct crid_strv *plugin_dirs, struct crid_cni_net **out,
		       struct crid_err *err)
{
	struct crid_cni_net *net;
	char *list;

	if (len > CRID_CNI_MAX_FILE_SIZE)
		return crid_err_invalid(err, "cni config `%s`: larger than %d bytes", name,
					CRID_CNI_MAX_FILE_SIZE);
	if (memchr(json, '\0', len))
		return crid_err_invalid(err, "cni config `%s`: contains a NUL byte", name);
	net = crid_calloc(1, sizeof(*net));
	if (!net || !(net->json = crid_strndup(json, len)) || copy_dirs(net, plugin_dirs) < 0)
		goto oom;
	if (parse_into(net, name, err) < 0)
		goto fail;
	if (!net->conf.is_list) {
		list = wrap_conf(&net->conf);
		if (!list)
			goto oom;
		crid_cni_conf_free(&net->conf);
		crid_free(net->json);
		net->json = list;
		if (parse_into(net, name, err) < 0)
			goto fail;
	}
	for (size_t i = 0; i < net->conf.n; i++)
		net->caps[i] = plugin_caps(net->conf.plugins[i]);
	*out = net;
	return 0;
oom:
	crid_err_set(err, ENOMEM, "cni config `%s`", name);
fail:
	crid_cni_net_free(net);
	return -1;
}

int crid_cni_net_load(const char *path, const struct crid_strv *plugin_dirs,
		      struct crid_cni_net **out, struct crid_err *err)
{
	char problem[256];
	size_t len = 0;
	char *buf;
	int r;

	buf = crid_cni_conf_read(path, &len, NULL, NULL, problem, sizeof(problem));
	if (!buf) {
		r = errno ? errno : EINVAL;
		crid_err_set(err, 0, "cni config `%s`: %s", path, problem);
		if (err)
			err->code = r;
		return -1;
	}
	r = crid_cni_net_parse(path, buf, len, plugin_dirs, out, err);
	crid_free(buf);
	return r;
}

const char *crid_cni_net_json(const struct crid_cni_net *net)
{
	return net->json;
}

const char *crid_cni_net_name(const struct crid_cni_net *net)
{
	return net->conf.name;
}

void crid_cni_net_free(struct crid_cni_net *net)
{
	if (!net)
		return;
	crid_cni_conf_free(&net->conf);
	for (size_t i = 0; i < net->n_dirs; i++)
		crid_free(net->dirs[i]);
	crid_free(net->dirs);
	crid_free(net->json);
	crid_free(net);
}

/* ---- results ---- */

char *crid_cni_result_take_json(struct crid_cni_result *res)
{
	char *s = res->json;

	res->json = NULL;
	return s;
}

void crid_cni_result_clear(struct crid_cni_result *res)
{
	crid_free(res->json);
	memset(res, 0, sizeof(*res));
}

/* An IP on the host side of a veth (an interface without "sandbox") is not the pod's. */
static bool on_host_side(yajl_val ip, yajl_val ifaces)
{
	const char *path[] = { "interface", NULL };
	yajl_val idx = yajl_tree_get(ip, path, yajl_t_number);
	long long i;

	if (!idx || !YAJL_IS_INTEGER(idx) || !ifaces || !YAJL_IS_ARRAY(ifaces))
		return false;
	i = YAJL_GET_INTEGER(idx);
	if (i < 0 || (size_t)i >= ifaces->u.array.len)
		return false;
	const char *sb = crid_cni_json_string(ifaces->u.array.values[i], "sandbox");

	return !sb || !sb[0];
}

static void take_ips(yajl_val result, int family, struct crid_cni_result *res)
{
	const char *ips_path[] = { "ips", NULL };
	const char *if_path[] = { "interfaces", NULL };
	yajl_val ips = yajl_tree_get(result, ips_path, yajl_t_array);
	yajl_val ifaces = yajl_tree_get(result, if_path, yajl_t_array);
	unsigned char bin[sizeof(struct in6_addr)];
	char addr[CRID_CNI_IP_LEN];
	const char *a;

	for (size_t i = 0; ips && i < ips->u.array.len && res->n_ips < CRID_CNI_MAX_IPS; i++) {
		a = crid_cni_json_string(ips->u.array.values[i], "address");
		if (!a || strcspn(a, "/") >= sizeof(addr))
			continue;
		snprintf(addr, sizeof(addr), "%.*s", (int)strcspn(a, "/"), a);
		if (inet_pton(family, addr, bin) != 1)
			continue;
		/* A chain with loopback in it may report lo's addresses: never the pod IP. */
		if ((family == AF_INET && bin[0] == 127) ||
		    (family == AF_INET6 && IN6_IS_ADDR_LOOPBACK((struct in6_addr *)bin)))
			continue;
		if (on_host_side(ips->u.array.values[i], ifaces))
			continue;
		memcpy(res->ips[res->n_ips++], addr, sizeof(addr));
	}
}

/* A plugin's result or a cached one: a JSON object within the depth cap, else NULL. */
static yajl_val result_tree(const char *json, size_t len)
{
	yajl_val v;

	if (!crid_cni_json_depth_ok(json, len, CRID_CNI_MAX_JSON_DEPTH))
		return NULL;
	v = yajl_tree_parse(json, NULL, 0);
	if (v && !YAJL_IS_OBJECT(v)) {
		yajl_tree_free(v);
		v = NULL;
	}
	return v;
}

/* The pod's addresses in a final result: IPv4 first, then IPv6. */
static void result_ips(yajl_val result, struct crid_cni_result *res)
{
	take_ips(result, AF_INET, res);
	take_ips(result, AF_INET6, res);
}

int crid_cni_result_parse(const char *json, size_t len, struct crid_cni_result *res)
{
	yajl_val v;

	memset(res, 0, sizeof(*res));
	if (memchr(json, '\0', len) || json[len] != '\0')
		return -1;
	v = result_tree(json, len);
	if (!v)
		return -1;
	result_ips(v, res);
	yajl_tree_free(v);
	return 0;
}

/* ---- one plugin run ---- */

static size_t plugin_index(const struct crid_cni_op *op)
{
	return op->del ? op->net->conf.n - 1 - op->step : op->step;
}

static const char *plugin_type(const struct crid_cni_op *op)
{
	return op->net->conf.types[plugin_index(op)];
}

static const char *command(const struct crid_cni_op *op)
{
	return op->del ? "DEL" : "ADD";
}

static yajl_gen_status gen_int(yajl_gen g, const char *key, long long v)
{
	yajl_gen_status st = GEN_STR(g, key);

	return st ?: yajl_gen_integer(g, v);
}

static yajl_gen_status gen_ports(yajl_gen g, const struct crid_cni_op *op)
{
	yajl_gen_status st = GEN_STR(g, "portMappings");

	st = st ?: yajl_gen_array_open(g);
	for (size_t i = 0; st == yajl_gen_status_ok && i < op->n_ports; i++) {
		const struct port *p = &op->ports[i];

		st = yajl_gen_map_open(g);
		st = st ?: gen_int(g, "hostPort", p->host_port);
		st = st ?: gen_int(g, "containerPort", p->container_port);
		st = st ?: GEN_STR(g, "protocol");
		st = st ?: GEN_STR(g, p->protocol);
		if (p->host_ip[0]) {
			st = st ?: GEN_STR(g, "hostIP");
			st = st ?: GEN_STR(g, p->host_ip);
		}
		st = st ?: yajl_gen_map_close(g);
	}
	return st ?: yajl_gen_array_close(g);
}

static yajl_gen_status gen_bandwidth(yajl_gen g, const struct crid_cni_op *op)
{
	yajl_gen_status st = GEN_STR(g, "bandwidth");

	st = st ?: yajl_gen_map_open(g);
	if (op->ingress_bps > 0) {
		st = st ?: gen_int(g, "ingressRate", op->ingress_bps);
		st = st ?: gen_int(g, "ingressBurst", BW_NO_LIMIT);
	}
	if (op->egress_bps > 0) {
		st = st ?: gen_int(g, "egressRate", op->egress_bps);
		st = st ?: gen_int(g, "egressBurst", BW_NO_LIMIT);
	}
	return st ?: yajl_gen_map_close(g);
}

static yajl_gen_status gen_ip_ranges(yajl_gen g, const struct crid_cni_op *op)
{
	yajl_gen_status st = GEN_STR(g, "ipRanges");

	st = st ?: yajl_gen_array_open(g);
	st = st ?: yajl_gen_array_open(g);
	st = st ?: yajl_gen_map_open(g);
	st = st ?: GEN_STR(g, "subnet");
	st = st ?: GEN_STR(g, op->pod_cidr);
	st = st ?: yajl_gen_map_close(g);
	st = st ?: yajl_gen_array_close(g);
	return st ?: yajl_gen_array_close(g);
}

/* injectRuntimeConfig(): only what the plugin asks for and the pod has. */
static unsigned runtime_caps(const struct crid_cni_op *op, unsigned caps)
{
	if (op->ingress_bps <= 0 && op->egress_bps <= 0)
		caps &= ~(unsigned)CAP_BANDWIDTH;
	if (!op->pod_cidr[0])
		caps &= ~(unsigned)CAP_IPRANGES;
	return caps;
}

static yajl_gen_status gen_runtime_config(yajl_gen g, const struct crid_cni_op *op, unsigned caps)
{
	yajl_gen_status st = GEN_STR(g, "runtimeConfig");

	st = st ?: yajl_gen_map_open(g);
	if (caps & CAP_PORTS)
		st = st ?: gen_ports(g, op);
	if (caps & CAP_BANDWIDTH)
		st = st ?: gen_bandwidth(g, op);
	if (caps & CAP_IPRANGES)
		st = st ?: gen_ip_ranges(g, op);
	return st ?: yajl_gen_map_close(g);
}

static bool injected(const char *key, bool prev, bool rc)
{
	return strcmp(key, "name") == 0 || strcmp(key, "cniVersion") == 0 ||
	       (prev && strcmp(key, "prevResult") == 0) ||
	       (rc && strcmp(key, "runtimeConfig") == 0);
}

/* buildOneConfig(): the stdin of the current plugin. */
static char *build_config(const struct crid_cni_op *op)
{
	size_t idx = plugin_index(op);
	yajl_val p = op->net->conf.plugins[idx];
	unsigned caps = runtime_caps(op, op->net->caps[idx]);
	yajl_gen g = yajl_gen_alloc(NULL);
	yajl_gen_status st;
	char *s;

	if (!g)
		return NULL;
	st = yajl_gen_map_open(g);
	for (size_t i = 0; st == yajl_gen_status_ok && i < p->u.object.len; i++) {
		if (injected(p->u.object.keys[i], op->prev != NULL, caps != 0))
			continue;
		st = GEN_STR(g, p->u.object.keys[i]);
		st = st ?: gen_value(g, p->u.object.values[i]);
	}
	st = st ?: GEN_STR(g, "cniVersion");
	st = st ?: GEN_STR(g, op->net->conf.version);
	st = st ?: GEN_STR(g, "name");
	st = st ?: GEN_STR(g, op->net->conf.name);
	if (op->prev) {
		st = st ?: GEN_STR(g, "prevResult");
		st = st ?: gen_value(g, op->prev);
	}
	if (caps)
		st = st ?: gen_runtime_config(g, op, caps);
	st = st ?: yajl_gen_map_close(g);
	s = gen_take(g, st);
	yajl_gen_free(g);
	return s;
}

/* The config on a memfd: any size, and writing it never waits for the plugin. */
static int stdin_fd(const struct crid_cni_op *op, struct crid_err *err)
{
	char *cfg = build_config(op);
	size_t len, off = 0;
	ssize_t r;
	int fd;

	if (!cfg)
		return crid_err_set(err, ENOMEM, "plugin `%s` config", plugin_type(op));
	len = strlen(cfg);
	fd = memfd_create("crid-cni-stdin", MFD_CLOEXEC);
	if (fd < 0) {
		crid_free(cfg);
		return crid_err_set(err, errno, "memfd for plugin `%s`", plugin_type(op));
	}
	while (off < len) {
		r = write(fd, cfg + off, len - off);
		if (r < 0 && errno == EINTR)
			continue;
		if (r <= 0) {
			crid_err_set(err, r < 0 ? errno : EIO, "memfd for plugin `%s`",
				     plugin_type(op));
			goto fail;
		}
		off += (size_t)r;
	}
	if (lseek(fd, 0, SEEK_SET) < 0) {
		crid_err_set(err, errno, "memfd for plugin `%s`", plugin_type(op));
		goto fail;
	}
	crid_free(cfg);
	return fd;
fail:
	crid_free(cfg);
	close(fd);
	return -1;
}

static void out_close(struct crid_cni_op *op, struct out_buf *b)
{
	if (b->fd < 0)
		return;
	ev_io_stop(op->loop->ev, &b->w);
	close(b->fd);
	b->fd = -1;
}

static void append(struct out_buf *b, const char *p, size_t n)
{
	size_t cap;
	char *nd;

	if (b->len + n > OUT_CAP) {
		if (!b->keep_tail) {
			b->overflow = true;
			return;
		}
		/* Keep the newest half: the end of stderr says what went wrong. */
		memmove(b->data, b->data + b->len - OUT_CAP / 2, OUT_CAP / 2);
		b->len = OUT_CAP / 2;
		b->overflow = true;
	}
	if (b->len + n + 1 > b->cap) {
		cap = b->cap ? b->cap : 4096;
		while (cap < b->len + n + 1)
			cap *= 2;
		if (cap > OUT_CAP + 1)
			cap = OUT_CAP + 1;
		nd = crid_realloc(b->data, cap);
		if (!nd) {
			b->overflow = true;
			return;
		}
		b->data = nd;
		b->cap = cap;
	}
	memcpy(b->data + b->len, p, n);
	b->len += n;
	b->data[b->len] = '\0';
}

static void step_done(struct crid_cni_op *op);

static void check_complete(struct crid_cni_op *op)
{
	if (op->exited && op->out.fd < 0 && op->errb.fd < 0)
		step_done(op);
}

static void out_cb(struct ev_loop *ev, ev_io *w, int revents)
{
	struct out_buf *b = w->data;
	char chunk[16384];
	ssize_t r;

	(void)ev;
	(void)revents;
	for (int i = 0; i < READ_SLICE; i++) {
		r = read(b->fd, chunk, sizeof(chunk));
		if (r > 0) {
			append(b, chunk, (size_t)r);
			continue;
		}
		if (r < 0 && errno == EINTR)
			continue;
		if (r < 0 && errno == EAGAIN)
			return;
		out_close(b->op, b);
		check_complete(b->op);
		return;
	}
}

static void on_exit_cb(struct crid_child *child, int status, void *user);

static int out_pipe(struct crid_cni_op *op, struct out_buf *b, int *child_end, struct crid_err *err)
{
	int p[2];

	if (pipe2(p, O_CLOEXEC) < 0)
		return crid_err_set(err, errno, "pipe for plugin `%s`", plugin_type(op));
	if (fcntl(p[0], F_SETFL, O_NONBLOCK) < 0) {
		crid_err_set(err, errno, "pipe for plugin `%s`", plugin_type(op));
		close(p[0]);
		close(p[1]);
		return -1;
	}
	b->fd = p[0];
	b->len = 0;
	b->overflow = false;
	b->op = op;
	ev_io_init(&b->w, out_cb, b->fd, EV_READ);
	b->w.data = b;
	*child_end = p[1];
	return 0;
}

static int start_step(struct crid_cni_op *op, struct crid_err *err)
{
	const char *path = op->paths[plugin_index(op)];
	char *argv[] = { (char *)path, NULL };
	int in = -1, out_w = -1, err_w = -1;
	int r = -1;

	op->exited = false;
	in = stdin_fd(op, err);
	if (in < 0)
		return -1;
	if (out_pipe(op, &op->out, &out_w, err) < 0)
		goto out;
	if (out_pipe(op, &op->errb, &err_w, err) < 0)
		goto out;
	struct crid_spawn_opts o = { path, argv, op->env, in, out_w, err_w };

	if (crid_spawn(op->loop, &op->child, &o, on_exit_cb, op, err) < 0) {
		crid_err_wrap(err, "plugin `%s` %s", plugin_type(op), command(op));
		goto out;
	}
	op->child_live = true;
	ev_io_start(op->loop->ev, &op->out.w);
	ev_io_start(op->loop->ev, &op->errb.w);
	r = 0;
out:
	if (r < 0) {
		out_close(op, &op->out);
		out_close(op, &op->errb);
	}
	close(in);
	if (out_w >= 0)
		close(out_w);
	if (err_w >= 0)
		close(err_w);
	return r;
}

/* ---- finishing ---- */

static void op_free(struct crid_cni_op *op)
{
	ev_timer_stop(op->loop->ev, &op->timer);
	out_close(op, &op->out);
	out_close(op, &op->errb);
	for (size_t i = 0; i < CRID_CNI_MAX_PLUGINS; i++)
		crid_free(op->paths[i]);
	for (size_t i = 0; i < sizeof(op->env) / sizeof(op->env[0]); i++)
		crid_free(op->env[i]);
	crid_free(op->ports);
	crid_free(op->pod_cidr);
	yajl_tree_free(op->prev);
	crid_free(op->prev_json);
	crid_free(op->out.data);
	crid_free(op->errb.data);
	crid_free(op);
}

/* Calls |done| once; the op frees itself now, or after reaping a plugin that is still alive. */
static void finish(struct crid_cni_op *op, int status, struct crid_cni_result *res,
		   struct crid_err *err)
{
	ev_timer_stop(op->loop->ev, &op->timer);
	out_close(op, &op->out);
	out_close(op, &op->errb);
	op->finished = true;
	if (err)
		crid_cni_sanitize_utf8(err->msg);
	crid_metrics_since(&crid_m_cni_latency, op->started, op->del ? "DEL" : "ADD");
	op->done(op->user, status, res, err);
	if (!op->child_live)
		op_free(op);
}

static void fail(struct crid_cni_op *op, int code, const char *fmt, ...)
    __attribute__((format(printf, 3, 4)));

static void fail(struct crid_cni_op *op, int code, const char *fmt, ...)
{
	struct crid_err err;
	va_list ap;

	err.code = code;
	va_start(ap, fmt);
	vsnprintf(err.msg, sizeof(err.msg), fmt, ap);
	va_end(ap);
	finish(op, -1, NULL, &err);
}

/* The last few hundred bytes of stderr on one line. */
static const char *stderr_tail(struct out_buf *b)
{
	char *s;
	size_t n;

	if (!b->data)
		return "";
	n = b->len;
	while (n > 0 && (b->data[n - 1] == '\n' || b->data[n - 1] == ' ' || b->data[n - 1] == '\r'))
		n--;
	b->data[n] = '\0';
	s = n > ERR_TAIL ? b->data + n - ERR_TAIL : b->data;
	for (char *p = s; *p; p++)
		if (*p == '\n' || *p == '\t' || *p == '\r')
			*p = ' ';
	return s;
}

/* A failed plugin: its CNI error on stdout ({"code", "msg", "details"}), else its stderr. */
static void plugin_failed(struct crid_cni_op *op)
{
	const char *type = plugin_type(op), *cmd = command(op);
	yajl_val v = NULL;
	const char *msg = NULL, *details = NULL;
	char how[48];

	if (op->out.data && !op->out.overflow &&
	    crid_cni_json_depth_ok(op->out.data, op->out.len, CRID_CNI_MAX_JSON_DEPTH))
		v = yajl_tree_parse(op->out.data, NULL, 0);
	if (v && YAJL_IS_OBJECT(v)) {
		msg = crid_cni_json_string(v, "msg");
		details = crid_cni_json_string(v, "details");
	}
	if (op->status > 128)
		snprintf(how, sizeof(how), "killed by signal %d", op->status - 128);
	else
		snprintf(how, sizeof(how), "exit status %d", op->status);
	if (msg && details && details[0])
		fail(op, EIO, "plugin `%s` %s failed: %s: %s", type, cmd, msg, details);
	else if (msg)
		fail(op, EIO, "plugin `%s` %s failed: %s", type, cmd, msg);
	else if (stderr_tail(&op->errb)[0])
		fail(op, EIO, "plugin `%s` %s failed (%s): %s", type, cmd, how,
		     stderr_tail(&op->errb));
	else
		fail(op, EIO, "plugin `%s` %s failed (%s)", type, cmd, how);
	yajl_tree_free(v);
}

static void add_finished(struct crid_cni_op *op)
{
	struct crid_cni_result res;

	memset(&res, 0, sizeof(res));
	result_ips(op->prev, &res);
	res.json = op->prev_json;
	op->prev_json = NULL;
	finish(op, 0, &res, NULL);
}

/* Keeps an ADD plugin's result as the next one's prevResult. */
static int take_result(struct crid_cni_op *op)
{
	yajl_val v;

	if (op->out.overflow || !op->out.data)
		return -1;
	v = result_tree(op->out.data, op->out.len);
	if (!v)
		return -1;
	yajl_tree_free(op->prev);
	crid_free(op->prev_json);
	op->prev = v;
	/*
	 * The last one is kept with the pod for DEL: its bytes only, not the
	 * read buffer's 4 KiB or more (a failed shrink keeps the buffer).
	 */
	op->prev_json = crid_realloc(op->out.data, op->out.len + 1);
	if (!op->prev_json)
		op->prev_json = op->out.data;
	op->out.data = NULL;
	op->out.cap = op->out.len = 0;
	return 0;
}

static void step_done(struct crid_cni_op *op)
{
	struct crid_err err;

	if (op->status != 0) {
		plugin_failed(op);
		return;
	}
	if (!op->del && take_result(op) < 0) {
		if (op->out.overflow)
			fail(op, EIO, "plugin `%s` ADD: result larger than %d bytes",
			     plugin_type(op), OUT_CAP);
		else
			fail(op, EIO, "plugin `%s` ADD: result is not a JSON object",
			     plugin_type(op));
		return;
	}
	op->step++;
	if (op->step == op->net->conf.n) {
		if (op->del)
			finish(op, 0, NULL, NULL);
		else
			add_finished(op);
		return;
	}
	if (start_step(op, &err) < 0)
		finish(op, -1, NULL, &err);
}

static void on_exit_cb(struct crid_child *child, int status, void *user)
{
	struct crid_cni_op *op = user;

	(void)child;
	op->child_live = false;
	if (op->finished) {
		op_free(op);
		return;
	}
	op->exited = true;
	op->status = status;
	check_complete(op);
}

static void timer_cb(struct ev_loop *ev, ev_timer *w, int revents)
{
	struct crid_cni_op *op = w->data;

	(void)ev;
	(void)revents;
	if (op->child_live) {
		crid_child_kill(&op->child, SIGKILL);
		fail(op, ETIMEDOUT, "plugin `%s` %s timed out after %g s (killed)", plugin_type(op),
		     command(op), op->timeout);
	} else {
		fail(op, ETIMEDOUT, "plugin `%s` %s exited but kept its output open for %g s",
		     plugin_type(op), command(op), op->timeout);
	}
}

void crid_cni_op_cancel(struct crid_cni_op *op)
{
	if (!op || op->finished)
		return;
	ev_timer_stop(op->loop->ev, &op->timer);
	out_close(op, &op->out);
	out_close(op, &op->errb);
	op->finished = true;
	if (op->child_live)
		crid_child_kill(&op->child, SIGKILL); /* freed once reaped */
	else
		op_free(op);
}

/* ---- starting ---- */

/* libcni's ValidateContainerID(): ^[a-zA-Z0-9][a-zA-Z0-9_.\-]*$ */
static bool valid_container_id(const char *s)
{
	if (!s || !s[0] ||
	    !strchr("abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789", s[0]))
		return false;
	return strspn(s, "abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789_.-") ==
	       strlen(s);
}

/* libcni's ValidateInterfaceName(). */
static bool valid_ifname(const char *s)
{
	return s && s[0] && strlen(s) < IFNAME_MAX && strcmp(s, ".") != 0 && strcmp(s, "..") != 0 &&
	       strcspn(s, "/: \t\n\v\f\r") == strlen(s);
}

/* A CNI_ARGS value cannot hold the separators. */
static bool valid_arg(const char *s)
{
	return s && strcspn(s, ";=") == strlen(s);
}

static int validate_pod(const struct crid_cni_pod *pod, bool del, struct crid_err *err)
{
	if (!valid_container_id(pod->container_id))
		return crid_err_invalid(err, "cni: invalid container id \"%.80s\"",
					pod->container_id ? pod->container_id : "");
	if (!valid_ifname(pod->ifname))
		return crid_err_invalid(err, "cni: invalid interface name \"%.32s\"",
					pod->ifname ? pod->ifname : "");
	if (!del && (!pod->netns || pod->netns[0] != '/'))
		return crid_err_invalid(err, "cni: network namespace path must be absolute");
	if (!valid_arg(pod->pod_name) || !valid_arg(pod->pod_namespace) || !valid_arg(pod->pod_uid))
		return crid_err_invalid(err, "cni: pod name, namespace or uid missing or "
					     "holding ';' or '='");
	return 0;
}

static int copy_ports(struct crid_cni_op *op, const struct crid_cni_pod *pod, struct crid_err *err)
{
	const struct crid_cni_port *p;

	op->ports = crid_calloc(pod->n_ports ? pod->n_ports : 1, sizeof(*op->ports));
	if (!op->ports)
		return crid_err_set(err, ENOMEM, "cni port mappings");
	for (size_t i = 0; i < pod->n_ports; i++) {
		p = &pod->ports[i];
		/* Like CRI-O: a port without a host port is not mapped. */
		if (p->host_port <= 0)
			continue;
		if (p->host_port > 65535 || p->container_port <= 0 || p->container_port > 65535)
			return crid_err_invalid(err, "cni: port mapping %d:%d out of range",
						p->host_port, p->container_port);
		struct port *q = &op->ports[op->n_ports];
		const char *proto = p->protocol && p->protocol[0] ? p->protocol : "tcp";

		if (strcasecmp(proto, "tcp") && strcasecmp(proto, "udp") &&
		    strcasecmp(proto, "sctp"))
			return crid_err_invalid(err, "cni: port mapping protocol \"%.16s\"", proto);
		for (size_t j = 0; proto[j]; j++)
			q->protocol[j] = (char)(proto[j] | 0x20);
		if (p->host_ip && strlen(p->host_ip) >= sizeof(q->host_ip))
			return crid_err_invalid(err, "cni: port mapping host IP too long");
		snprintf(q->host_ip, sizeof(q->host_ip), "%s", p->host_ip ? p->host_ip : "");
		q->host_port = p->host_port;
		q->container_port = p->container_port;
		op->n_ports++;
	}
	return 0;
}

static char *fmt_dup(const char *fmt, ...) __attribute__((format(printf, 1, 2)));

static char *fmt_dup(const char *fmt, ...)
{
	va_list ap;
	char *s;
	int n;

	va_start(ap, fmt);
	n = vsnprintf(NULL, 0, fmt, ap);
	va_end(ap);
	if (n < 0)
		return NULL;
	s = crid_malloc((size_t)n + 1);
	if (!s)
		return NULL;
	va_start(ap, fmt);
	vsnprintf(s, (size_t)n + 1, fmt, ap);
	va_end(ap);
	return s;
}

static int build_env(struct crid_cni_op *op, const struct crid_cni_pod *pod, const char *netns)
{
	const char *path = getenv("PATH");
	char cni_path[4096];

	crid_cni_join_dirs(op->net->dirs, op->net->n_dirs, cni_path, sizeof(cni_path));
	op->env[0] = fmt_dup("CNI_COMMAND=%s", command(op));
	op->env[1] = fmt_dup("CNI_CONTAINERID=%s", pod->container_id);
	op->env[2] = fmt_dup("CNI_NETNS=%s", netns);
	op->env[3] = fmt_dup("CNI_IFNAME=%s", pod->ifname);
	op->env[4] = fmt_dup("CNI_ARGS=IgnoreUnknown=1;K8S_POD_NAMESPACE=%s;K8S_POD_NAME=%s;"
			     "K8S_POD_INFRA_CONTAINER_ID=%s;K8S_POD_UID=%s",
			     pod->pod_namespace, pod->pod_name, pod->container_id, pod->pod_uid);
	op->env[5] = fmt_dup("CNI_PATH=%s", cni_path);
	op->env[6] = fmt_dup("PATH=%s", path && path[0] ? path : DEFAULT_PATH);
	op->env[7] = NULL;
	for (int i = 0; i < 7; i++)
		if (!op->env[i])
			return -1;
	return 0;
}

static int find_plugins(struct crid_cni_op *op, struct crid_err *err)
{
	const struct crid_cni_net *net = op->net;
	char path[PATH_MAX];
	char problem[400];

	for (size_t i = 0; i < net->conf.n; i++) {
		if (crid_cni_find_plugin(net->dirs, net->n_dirs, net->conf.types[i], path,
					 sizeof(path), NULL, NULL, problem, sizeof(problem)) < 0) {
			int e = errno;

			crid_err_set(err, 0, "network `%s` %s: %s", net->conf.name, command(op),
				     problem);
			if (err)
				err->code = e;
			return -1;
		}
		op->paths[i] = crid_strdup(path);
		if (!op->paths[i])
			return crid_err_set(err, ENOMEM, "network `%s`", net->conf.name);
	}
	return 0;
}

/* DelNetworkList() passes the cached result only to plugins of spec 0.4.0 and later. */
static bool del_gets_prev(const char *version)
{
	return strcmp(version, "0.3.0") != 0 && strcmp(version, "0.3.1") != 0;
}

static void take_cached(struct crid_cni_op *op, const char *prev_result)
{
	if (!prev_result || !prev_result[0] || !del_gets_prev(op->net->conf.version))
		return;
	op->prev = result_tree(prev_result, strlen(prev_result));
	/*
	 * libcni fails the DEL here; we are the cache's only writer, and a pod
	 * that can never be torn down is worse than a DEL without prevResult.
	 */
	if (!op->prev)
		crid_log_warn("cni: network `%s`: cached ADD result is not a JSON object; "
			      "DEL without prevResult",
			      op->net->conf.name);
}

static struct crid_cni_op *op_start(struct crid_loop *loop, const struct crid_cni_net *net,
				    const struct crid_cni_pod *pod, bool del,
				    const char *prev_result, double timeout, crid_cni_done_fn done,
				    void *user, struct crid_err *err)
{
	const char *netns = pod->netns ? pod->netns : "";
	struct crid_cni_op *op;

	if (validate_pod(pod, del, err) < 0)
		return NULL;
	/* A pod whose netns is gone still has its IP to release: plugins accept "". */
	if (del && netns[0] && access(netns, F_OK) < 0 && errno == ENOENT)
		netns = "";
	op = crid_calloc(1, sizeof(*op));
	if (!op) {
		crid_err_set(err, ENOMEM, "cni op");
		return NULL;
	}
	op->loop = loop;
	op->net = net;
	op->del = del;
	op->timeout = timeout;
	op->started = crid_metrics_clock();
	op->done = done;
	op->user = user;
	op->out.fd = op->errb.fd = -1;
	op->errb.keep_tail = true;
	ev_timer_init(&op->timer, timer_cb, timeout > 0 ? timeout : 0.001, 0.);
	op->timer.data = op;
	if (copy_ports(op, pod, err) < 0 || find_plugins(op, err) < 0)
		goto fail;
	op->pod_cidr = crid_strdup(pod->pod_cidr ? pod->pod_cidr : "");
	op->ingress_bps = pod->ingress_bps;
	op->egress_bps = pod->egress_bps;
	if (!op->pod_cidr || build_env(op, pod, netns) < 0) {
		crid_err_set(err, ENOMEM, "cni op");
		goto fail;
	}
	if (del)
		take_cached(op, prev_result);
	if (start_step(op, err) < 0)
		goto fail;
	ev_timer_start(loop->ev, &op->timer);
	return op;
fail:
	op_free(op);
	return NULL;
}

struct crid_cni_op *crid_cni_add(struct crid_loop *loop, const struct crid_cni_net *net,
				 const struct crid_cni_pod *pod, double timeout,
				 crid_cni_done_fn done, void *user, struct crid_err *err)
{
	return op_start(loop, net, pod, false, NULL, timeout, done, user, err);
}

struct crid_cni_op *crid_cni_del(struct crid_loop *loop, const struct crid_cni_net *net,
				 const struct crid_cni_pod *pod, const char *prev_result,
				 double timeout, crid_cni_done_fn done, void *user,
				 struct crid_err *err)
{
	return op_start(loop, net, pod, true, prev_result, timeout, done, user, err);
}
