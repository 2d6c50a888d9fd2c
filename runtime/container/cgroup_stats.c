/*
 * Container and pod statistics. The figures and their derivations follow
 * cadvisor and kubelet (cadvisor container/libcontainer/handler.go,
 * setMemoryStats): the working set is usage minus inactive file pages, floored
 * at 0; rss is total_rss on v1 and anon on v2. Every read is a small bounded
 * read of a cgroup file, cheap enough for the loop; the only slow figure, the
 * writable layer's size, comes from a `du` child through crid_du_cache.
 */
#include "runtime/container/cgroup_stats.h"

#include <errno.h>
#include <fcntl.h>
#include <sched.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>

#include "reactor/du_child.h"
#include "reactor/log.h"
#include "reactor/mem.h"
#include "reactor/spawn.h"
#include "runtime/pod/pod_cgroup.h"

#define STAT_FILE_MAX 8192 /* memory.stat is ~1.5 KiB on v1, ~2 KiB on 6.x v2 */
#define VALUE_FILE_MAX 64  /* a single number */
#define NETDEV_MAX 16384   /* ~130 bytes per interface */
#define DU_TIMEOUT 120.0   /* seconds before a measurement is killed */
#define DU_MAX_RUNNING 4   /* du children at once, node-wide: a stats list must not fork-bomb */

/* ---- paths ---- */

/* Appends |s| to out[*len]; false when it does not fit. */
static bool append(char *out, size_t size, size_t *len, const char *s, size_t n)
{
	if (*len + n + 1 > size)
		return false;
	memcpy(out + *len, s, n);
	*len += n;
	out[*len] = '\0';
	return true;
}

static int expand_systemd(const char *path, const char *c1, const char *c2, char *out, size_t size,
			  struct crid_err *err)
{
	char slice[256];
	const char *prefix = c1 + 1, *name = c2 + 1;
	size_t slice_len = (size_t)(c1 - path), prefix_len = (size_t)(c2 - prefix), len = 0;
	size_t name_len = strlen(name);

	if (strchr(name, ':') || !name_len || strchr(name, '/') || memchr(prefix, '/', prefix_len))
		return crid_err_invalid(
		    err, "cgroupsPath `%s` is not of the form slice:prefix:name", path);
	if (slice_len >= sizeof(slice))
		return crid_err_set(err, ENAMETOOLONG, "cgroupsPath `%s`", path);
	/* runc: an empty slice is system.slice. */
	if (slice_len)
		snprintf(slice, sizeof(slice), "%.*s", (int)slice_len, path);
	else
		snprintf(slice, sizeof(slice), "system.slice");
	if (crid_cgroup_slice_expand(slice, out, size, err) < 0)
		return crid_err_wrap(err, "cgroupsPath `%s`", path);
	len = strlen(out);
	/* A name ending in .slice is a slice unit of its own; anything else a scope. */
	if (name_len > 6 && strcmp(name + name_len - 6, ".slice") == 0) {
		if (!append(out, size, &len, "/", 1) || !append(out, size, &len, name, name_len))
			return crid_err_set(err, ENAMETOOLONG, "cgroupsPath `%s`", path);
		return 0;
	}
	if (!append(out, size, &len, "/", 1) || !append(out, size, &len, prefix, prefix_len) ||
	    !append(out, size, &len, "-", 1) || !append(out, size, &len, name, name_len) ||
	    !append(out, size, &len, ".scope", 6))
		return crid_err_set(err, ENAMETOOLONG, "cgroupsPath `%s`", path);
	return 0;
}

int crid_cgroup_path_expand(const char *path, char *out, size_t size, struct crid_err *err)
{
	const char *c1, *c2;
	int n;

	if (!path || !path[0])
		return crid_err_invalid(err, "empty cgroupsPath");
	if (crid_cgroup_has_dotdot(path))
		return crid_err_invalid(err, "cgroupsPath `%s` has a `..` component", path);
	c1 = strchr(path, ':');
	if (c1) {
		c2 = strchr(c1 + 1, ':');
		if (!c2)
			return crid_err_invalid(
			    err, "cgroupsPath `%s` is not of the form slice:prefix:name", path);
		return expand_systemd(path, c1, c2, out, size, err);
	}
	/* cgroupfs: kubelet's paths are absolute; a relative one is taken from the root. */
	n = snprintf(out, size, "%s%s", path[0] == '/' ? "" : "/", path);
	if (n < 0 || (size_t)n >= size)
		return crid_err_set(err, ENAMETOOLONG, "cgroupsPath `%s`", path);
	return 0;
}

/* ---- small files ---- */

/* Reads at most |size| - 1 bytes, NUL-terminated. Returns the length, or -1 with errno. */
static ssize_t read_small(const char *path, char *buf, size_t size)
{
	size_t len = 0;
	ssize_t r;
	int fd, e;

	fd = open(path, O_RDONLY | O_CLOEXEC | O_NOCTTY);
	if (fd < 0)
		return -1;
	while (len + 1 < size) {
		r = read(fd, buf + len, size - 1 - len);
		if (r < 0 && errno == EINTR)
			continue;
		if (r < 0) {
			e = errno;
			close(fd);
			errno = e;
			return -1;
		}
		if (r == 0)
			break;
		len += (size_t)r;
	}
	close(fd);
	buf[len] = '\0';
	return (ssize_t)len;
}

static bool parse_u64(const char *s, uint64_t *out)
{
	unsigned long long v;
	char *end;

	while (*s == ' ' || *s == '\t')
		s++;
	if (*s < '0' || *s > '9')
		return false;
	errno = 0;
	v = strtoull(s, &end, 10);
	if (errno || (*end && *end != '\n' && *end != ' ' && *end != '\t'))
		return false;
	*out = v;
	return true;
}

/* The value of "key N" in a flat-keyed cgroup file (memory.stat, cpu.stat, memory.events). */
static bool keyed_u64(const char *text, const char *key, uint64_t *out)
{
	size_t kl = strlen(key);

	for (const char *l = text; l && *l; l = strchr(l, '\n'), l = l ? l + 1 : NULL) {
		if (strncmp(l, key, kl) == 0 && l[kl] == ' ')
			return parse_u64(l + kl + 1, out);
	}
	return false;
}

struct cg_path {
	const char *root;
	const char *rel;
};

static int file_path(char *buf, size_t size, const struct cg_path *p, const char *ctl,
		     const char *file)
{
	int n = snprintf(buf, size, "%s%s%s%s/%s", p->root, ctl ? "/" : "", ctl ? ctl : "", p->rel,
			 file);

	return n < 0 || (size_t)n >= size ? -1 : 0;
}

static bool read_u64(const struct cg_path *p, const char *ctl, const char *file, uint64_t *out)
{
	char path[PATH_MAX], buf[VALUE_FILE_MAX];

	if (file_path(path, sizeof(path), p, ctl, file) < 0 ||
	    read_small(path, buf, sizeof(buf)) < 0)
		return false;
	return parse_u64(buf, out);
}

static bool read_text(const struct cg_path *p, const char *ctl, const char *file, char *buf,
		      size_t size)
{
	char path[PATH_MAX];

	return file_path(path, sizeof(path), p, ctl, file) == 0 && read_small(path, buf, size) >= 0;
}

static bool cg_exists(const struct cg_path *p, const char *ctl)
{
	char path[PATH_MAX];
	struct stat st;

	return file_path(path, sizeof(path), p, ctl, ".") == 0 && stat(path, &st) == 0 &&
	       S_ISDIR(st.st_mode);
}

/* ---- stats ---- */

static void memory_derived(struct crid_cgroup_stats *s, uint64_t inactive_file)
{
	s->memory_working_set =
	    s->memory_usage > inactive_file ? s->memory_usage - inactive_file : 0;
}

static void read_v1(const struct cg_path *p, struct crid_cgroup_stats *s)
{
	char stat[STAT_FILE_MAX];
	uint64_t inactive = 0, memsw;

	s->has_cpu = read_u64(p, "cpuacct", "cpuacct.usage", &s->cpu_usage_ns);
	s->has_memory = read_u64(p, "memory", "memory.usage_in_bytes", &s->memory_usage);
	if (s->has_memory && read_text(p, "memory", "memory.stat", stat, sizeof(stat))) {
		keyed_u64(stat, "total_inactive_file", &inactive);
		keyed_u64(stat, "total_rss", &s->memory_rss);
		keyed_u64(stat, "total_pgfault", &s->page_faults);
		keyed_u64(stat, "total_pgmajfault", &s->major_page_faults);
	}
	if (s->has_memory)
		memory_derived(s, inactive);
	/* memsw exists only with swap accounting (swapaccount=1); it counts memory + swap. */
	if (s->has_memory && read_u64(p, "memory", "memory.memsw.usage_in_bytes", &memsw)) {
		s->has_swap = true;
		s->swap_usage = memsw > s->memory_usage ? memsw - s->memory_usage : 0;
	}
	read_u64(p, "pids", "pids.current", &s->pids);
}

static void read_v2(const struct cg_path *p, struct crid_cgroup_stats *s)
{
	char stat[STAT_FILE_MAX];
	uint64_t usec, inactive = 0;

	if (read_text(p, NULL, "cpu.stat", stat, sizeof(stat)) &&
	    keyed_u64(stat, "usage_usec", &usec)) {
		s->has_cpu = true;
		s->cpu_usage_ns = usec * 1000;
	}
	s->has_memory = read_u64(p, NULL, "memory.current", &s->memory_usage);
	if (s->has_memory && read_text(p, NULL, "memory.stat", stat, sizeof(stat))) {
		keyed_u64(stat, "inactive_file", &inactive);
		keyed_u64(stat, "anon", &s->memory_rss);
		keyed_u64(stat, "pgfault", &s->page_faults);
		keyed_u64(stat, "pgmajfault", &s->major_page_faults);
	}
	if (s->has_memory)
		memory_derived(s, inactive);
	s->has_swap = read_u64(p, NULL, "memory.swap.current", &s->swap_usage);
	read_u64(p, NULL, "pids.current", &s->pids);
}

int crid_cgroup_stats_read_at(const char *root, enum crid_cgroup_mode mode, const char *path,
			      struct crid_cgroup_stats *out, struct crid_err *err)
{
	char rel[PATH_MAX];
	struct cg_path p = { root, rel };

	memset(out, 0, sizeof(*out));
	if (crid_cgroup_path_expand(path, rel, sizeof(rel), err) < 0)
		return crid_err_wrap(err, "cgroup stats");
	if (mode == CRID_CGROUP_V2) {
		if (!cg_exists(&p, NULL))
			return crid_err_set(err, ENOENT, "cgroup `%s` not found", rel);
		read_v2(&p, out);
		return 0;
	}
	/* v1 and hybrid: the controllers stats need are v1 hierarchies of their own. */
	if (!cg_exists(&p, "memory") && !cg_exists(&p, "cpuacct") && !cg_exists(&p, "pids"))
		return crid_err_set(err, ENOENT, "cgroup `%s` not found", rel);
	read_v1(&p, out);
	return 0;
}

static const char *v2_root(const struct crid_host *host)
{
	return host->cgroup2_mount[0] ? host->cgroup2_mount : CRID_CGROUP_ROOT;
}

int crid_cgroup_stats_read(const struct crid_host *host, const char *path,
			   struct crid_cgroup_stats *out, struct crid_err *err)
{
	const char *root = host->cgroup_mode == CRID_CGROUP_V2 ? v2_root(host) : CRID_CGROUP_ROOT;

	return crid_cgroup_stats_read_at(root, host->cgroup_mode, path, out, err);
}

bool crid_cgroup_oom_killed_at(const char *root, enum crid_cgroup_mode mode, const char *path)
{
	char rel[PATH_MAX], text[STAT_FILE_MAX];
	struct cg_path p = { root, rel };
	uint64_t kills = 0;
	bool v2 = mode == CRID_CGROUP_V2;

	if (crid_cgroup_path_expand(path, rel, sizeof(rel), NULL) < 0)
		return false;
	/* oom_kill in v1's memory.oom_control needs Linux 4.13; older kernels say nothing. */
	if (!read_text(&p, v2 ? NULL : "memory", v2 ? "memory.events" : "memory.oom_control", text,
		       sizeof(text)))
		return false;
	return keyed_u64(text, "oom_kill", &kills) && kills > 0;
}

bool crid_cgroup_oom_killed(const struct crid_host *host, const char *path)
{
	const char *root = host->cgroup_mode == CRID_CGROUP_V2 ? v2_root(host) : CRID_CGROUP_ROOT;

	return crid_cgroup_oom_killed_at(root, host->cgroup_mode, path);
}

/* ---- network namespace ---- */

static bool parse_netdev_line(const char *l, struct crid_net_stats *st)
{
	const char *colon = strchr(l, ':'), *nl = strchr(l, '\n');
	uint64_t v[12] = { 0 };
	const char *s;
	char *end;

	if (!colon || (nl && nl < colon))
		return false;
	while (*l == ' ')
		l++;
	if (colon == l || (size_t)(colon - l) >= sizeof(st->name))
		return false;
	s = colon + 1;
	for (int i = 0; i < 12; i++) {
		while (*s == ' ')
			s++;
		/* the 12th field (tx drop) only for the metrics: a line without it still counts */
		if (i == 11 && (*s < '0' || *s > '9'))
			break;
		if (*s < '0' || *s > '9')
			return false;
		errno = 0;
		v[i] = strtoull(s, &end, 10);
		if (errno)
			return false;
		s = end;
	}
	memset(st, 0, sizeof(*st));
	memcpy(st->name, l, (size_t)(colon - l));
	/* Receive: bytes packets errs ...; transmit starts at the 9th field. */
	st->rx_bytes = v[0];
	st->rx_errors = v[2];
	st->tx_bytes = v[8];
	st->tx_errors = v[10];
	st->rx_packets = v[1];
	st->rx_dropped = v[3];
	st->tx_packets = v[9];
	st->tx_dropped = v[11];
	return true;
}

size_t crid_netdev_parse(const char *text, struct crid_net_stats *out, size_t max, size_t *n)
{
	*n = 0;
	for (const char *l = text; l && *l && *n < max; l = strchr(l, '\n'), l = l ? l + 1 : NULL) {
		if (parse_netdev_line(l, &out[*n]) && strcmp(out[*n].name, "lo") != 0)
			(*n)++;
	}
	return *n;
}

/*
 * Opens /proc/self/net/dev inside |netns|. A /proc/net file shows the
 * namespace the task was in when it was opened (seq_open_net takes its net
 * then), so the daemon is back in its own namespace before reading.
 */
static int open_netdev_in(const char *netns, struct crid_err *err)
{
	static int self_ns = -1;
	int ns, fd, e;

	if (self_ns < 0) {
		self_ns = open("/proc/self/ns/net", O_RDONLY | O_CLOEXEC);
		if (self_ns < 0)
			return crid_err_set(err, errno, "open `/proc/self/ns/net`");
	}
	ns = open(netns, O_RDONLY | O_CLOEXEC);
	if (ns < 0)
		return crid_err_set(err, errno, "open netns `%s`", netns);
	if (setns(ns, CLONE_NEWNET) < 0) {
		e = errno;
		close(ns);
		return crid_err_set(err, e, "enter netns `%s`", netns);
	}
	close(ns);
	fd = open("/proc/self/net/dev", O_RDONLY | O_CLOEXEC);
	e = errno;
	if (setns(self_ns, CLONE_NEWNET) < 0) {
		/*
		 * Every socket the daemon opened from now on would live in a pod's
		 * network: there is no safe way to go on. Going back into a namespace
		 * we hold a descriptor of does not fail short of a kernel bug.
		 */
		crid_log_error("cannot return to the daemon's netns from `%s`: %s", netns,
			       strerror(errno));
		abort();
	}
	if (fd < 0)
		return crid_err_set(err, e, "open `/proc/net/dev` in netns `%s`", netns);
	return fd;
}

int crid_netns_stats(const char *netns, struct crid_net_stats *out, size_t max, size_t *n,
		     struct crid_err *err)
{
	char *buf;
	size_t len = 0;
	ssize_t r;
	int fd;

	*n = 0;
	fd = open_netdev_in(netns, err);
	if (fd < 0)
		return -1;
	buf = crid_malloc(NETDEV_MAX);
	if (!buf) {
		close(fd);
		return crid_err_set(err, ENOMEM, "netns `%s` stats", netns);
	}
	while (len + 1 < NETDEV_MAX) {
		r = read(fd, buf + len, NETDEV_MAX - 1 - len);
		if (r < 0 && errno == EINTR)
			continue;
		if (r <= 0)
			break;
		len += (size_t)r;
	}
	close(fd);
	buf[len] = '\0';
	/* A line cut off by the bound fails to parse and is skipped, never misread. */
	crid_netdev_parse(buf, out, max, n);
	crid_free(buf);
	return 0;
}

/* ---- du cache ---- */

enum du_phase { DU_IDLE, DU_QUEUED, DU_BYTES, DU_INODES };

struct du_entry {
	struct du_entry *next;	/* hash chain, or the orphans list */
	struct du_entry *qnext; /* waiting for a free slot (DU_QUEUED) */
	struct crid_du_cache *cache;
	char *dir;
	uint64_t bytes, inodes;
	uint64_t new_bytes;
	double measured; /* loop time the last measurement ended; < 0: never */
	double started;	 /* loop time the one in flight started */
	enum du_phase phase;
	bool orphan; /* forgotten while in flight: freed when its child exits */
	bool bytes_ok;
	bool known; /* a byte measurement succeeded once: |bytes| is a figure */
	struct crid_du_child du;
};

struct crid_du_cache {
	struct crid_loop *loop;
	struct du_entry **buckets;
	size_t n_buckets, n_entries;
	struct du_entry *orphans;
	struct du_entry *queue, *queue_tail;
	int running; /* measurements with a du child */
};

#define DU_BUCKETS_MIN 64

static uint64_t hash_str(const char *s)
{
	uint64_t h = 1469598103934665603ULL; /* FNV-1a */

	for (; *s; s++)
		h = (h ^ (unsigned char)*s) * 1099511628211ULL;
	return h;
}

struct crid_du_cache *crid_du_cache_new(struct crid_loop *loop)
{
	struct crid_du_cache *c = crid_calloc(1, sizeof(*c));

	if (!c)
		return NULL;
	c->buckets = crid_calloc(DU_BUCKETS_MIN, sizeof(*c->buckets));
	if (!c->buckets) {
		crid_free(c);
		return NULL;
	}
	c->n_buckets = DU_BUCKETS_MIN;
	c->loop = loop;
	return c;
}

static struct du_entry **find_slot(struct crid_du_cache *c, const char *dir)
{
	struct du_entry **pp = &c->buckets[hash_str(dir) & (c->n_buckets - 1)];

	while (*pp && strcmp((*pp)->dir, dir) != 0)
		pp = &(*pp)->next;
	return pp;
}

/* Doubles the table when chains grow long; a failed allocation keeps the old one. */
static void maybe_grow(struct crid_du_cache *c)
{
	size_t nb = c->n_buckets * 2;
	struct du_entry **b;

	if (c->n_entries <= c->n_buckets * 2)
		return;
	b = crid_calloc(nb, sizeof(*b));
	if (!b)
		return;
	for (size_t i = 0; i < c->n_buckets; i++) {
		while (c->buckets[i]) {
			struct du_entry *e = c->buckets[i];
			size_t j = hash_str(e->dir) & (nb - 1);

			c->buckets[i] = e->next;
			e->next = b[j];
			b[j] = e;
		}
	}
	crid_free(c->buckets);
	c->buckets = b;
	c->n_buckets = nb;
}

static void entry_free(struct du_entry *e)
{
	if (e->du.out_fd >= 0)
		close(e->du.out_fd);
	crid_free(e->dir);
	crid_free(e);
}

static void du_exited(struct crid_child *child, int status, void *user);

static int du_start(struct du_entry *e, enum du_phase phase)
{
	const char *dirs[] = { e->dir, NULL };
	struct crid_err err;

	if (crid_du_child_start(e->cache->loop, &e->du,
				phase == DU_BYTES ? CRID_DU_BYTES : CRID_DU_INODES, dirs, du_exited,
				e, &err) < 0) {
		crid_log_warn("%s", err.msg);
		return -1;
	}
	e->phase = phase;
	return 0;
}

static void measure_begin(struct du_entry *e, double now)
{
	e->started = now;
	e->bytes_ok = false;
	e->phase = DU_IDLE;
	if (du_start(e, DU_BYTES) == 0)
		e->cache->running++;
	else
		e->measured = now;
}

/* A slot was freed: start the measurements that waited for one, oldest first. */
static void start_queued(struct crid_du_cache *c)
{
	while (c->queue && c->running < DU_MAX_RUNNING) {
		struct du_entry *e = c->queue;

		c->queue = e->qnext;
		if (!c->queue)
			c->queue_tail = NULL;
		e->qnext = NULL;
		measure_begin(e, crid_loop_now(c->loop));
	}
}

static void queue_unlink(struct crid_du_cache *c, struct du_entry *e)
{
	struct du_entry **pp = &c->queue, *prev = NULL;

	while (*pp && *pp != e) {
		prev = *pp;
		pp = &(*pp)->qnext;
	}
	if (!*pp)
		return;
	*pp = e->qnext;
	if (c->queue_tail == e)
		c->queue_tail = prev;
	e->qnext = NULL;
}

static void orphan_unlink(struct crid_du_cache *c, struct du_entry *e)
{
	struct du_entry **pp = &c->orphans;

	while (*pp && *pp != e)
		pp = &(*pp)->next;
	if (*pp)
		*pp = e->next;
}

static void du_exited(struct crid_child *child, int status, void *user)
{
	struct du_entry *e = user;
	uint64_t v = 0;
	bool ok;

	(void)child;
	ok = crid_du_child_total(&e->du, status, &v) == 0;
	if (e->orphan) {
		struct crid_du_cache *c = e->cache;

		orphan_unlink(c, e);
		entry_free(e);
		c->running--;
		start_queued(c);
		return;
	}
	if (!ok)
		crid_log_debug("du `%s`: exit %d, no figure", e->dir, status);
	if (e->phase == DU_BYTES) {
		e->bytes_ok = ok;
		e->new_bytes = v;
		if (du_start(e, DU_INODES) == 0)
			return;
		ok = false;
	}
	if (e->bytes_ok) {
		e->bytes = e->new_bytes;
		e->known = true;
	}
	if (ok)
		e->inodes = v;
	/* A failure counts as a measurement too: the next try waits max_age, no respawn storm. */
	e->measured = crid_loop_now(e->cache->loop);
	e->phase = DU_IDLE;
	e->cache->running--;
	start_queued(e->cache);
}

static struct du_entry *entry_new(struct crid_du_cache *c, const char *dir)
{
	struct du_entry *e = crid_calloc(1, sizeof(*e));

	if (!e)
		return NULL;
	e->dir = crid_strdup(dir);
	if (!e->dir) {
		crid_free(e);
		return NULL;
	}
	e->cache = c;
	e->measured = -1;
	crid_du_child_init(&e->du);
	return e;
}

void crid_du_cache_get(struct crid_du_cache *c, const char *dir, double max_age, uint64_t *bytes,
		       uint64_t *inodes)
{
	struct du_entry **pp = find_slot(c, dir), *e = *pp;
	double now = crid_loop_now(c->loop);

	*bytes = *inodes = 0;
	if (!e) {
		e = entry_new(c, dir);
		if (!e)
			return;
		*pp = e;
		c->n_entries++;
		maybe_grow(c);
	}
	*bytes = e->bytes;
	*inodes = e->inodes;
	if (e->phase == DU_QUEUED)
		return;
	if (e->phase != DU_IDLE) {
		/* A du stuck on a hung filesystem must not block this dir's figures forever. */
		if (now - e->started > DU_TIMEOUT)
			crid_child_kill(&e->du.child, SIGKILL);
		return;
	}
	if (e->measured >= 0 && now - e->measured < max_age)
		return;
	if (c->running < DU_MAX_RUNNING) {
		measure_begin(e, now);
		return;
	}
	e->phase = DU_QUEUED;
	if (c->queue_tail)
		c->queue_tail->qnext = e;
	else
		c->queue = e;
	c->queue_tail = e;
}

bool crid_du_cache_get_known(struct crid_du_cache *c, const char *dir, double max_age,
			     uint64_t *bytes, uint64_t *inodes)
{
	struct du_entry *e;

	crid_du_cache_get(c, dir, max_age, bytes, inodes);
	e = *find_slot(c, dir);
	return e && e->known;
}

void crid_du_cache_forget(struct crid_du_cache *c, const char *dir)
{
	struct du_entry **pp = find_slot(c, dir), *e = *pp;

	if (!e)
		return;
	*pp = e->next;
	c->n_entries--;
	if (e->phase == DU_QUEUED)
		queue_unlink(c, e);
	if (e->phase == DU_IDLE || e->phase == DU_QUEUED) {
		entry_free(e);
		return;
	}
	crid_child_kill(&e->du.child, SIGKILL);
	e->orphan = true;
	e->next = c->orphans;
	c->orphans = e;
}

/* Kills and reaps a measurement in flight: the wait is for a killed du to go, not for work. */
static void entry_cancel(struct du_entry *e)
{
	if (e->phase == DU_BYTES || e->phase == DU_INODES)
		crid_du_child_kill(&e->du);
	entry_free(e);
}

void crid_du_cache_free(struct crid_du_cache *c)
{
	struct du_entry *e;

	if (!c)
		return;
	for (size_t i = 0; i < c->n_buckets; i++) {
		while ((e = c->buckets[i]) != NULL) {
			c->buckets[i] = e->next;
			entry_cancel(e);
		}
	}
	while ((e = c->orphans) != NULL) {
		c->orphans = e->next;
		entry_cancel(e);
	}
	crid_free(c->buckets);
	crid_free(c);
}
