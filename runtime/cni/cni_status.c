/*
 * NetworkReady for the Status RPC. Mirrors ocicni's loadNetworks() (CRI-O) and
 * libcni's ConfFiles()/ValidateNetworkList(): config files are *.conf,
 * *.conflist and *.json in the config dir, sorted byte-wise, and the first one
 * that parses, names a supported cniVersion and whose plugins all exist wins.
 * Unlike them we never run a plugin (no VERSION call): Status must stay cheap
 * and the loop must not wait on children.
 */
#include "runtime/cni/cni_status.h"

#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <stdarg.h>
#include <stdio.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#include "reactor/log.h"
#include "reactor/mem.h"
#include "runtime/cni/cni_conf.h"

#define MSG_PREFIX "Network plugin returns error: "
#define NOT_READY_REASON "NetworkPluginNotReady"
/* Timestamps this close to a scan may hide a later write in the same tick (cf. git's racy-git). */
#define RACY_NS (2LL * 1000000000LL)
#define NAME_MAX_LEN 256

/* What stat(2) said about a path; any difference means "look again". */
struct sig {
	int err; /* errno of a failed stat, 0 when present */
	dev_t dev;
	ino_t ino;
	mode_t mode;
	off_t size;
	struct timespec mtim;
	struct timespec ctim;
};

struct watched {
	char *path;
	struct sig sig;
};

struct crid_cni_watch {
	char *conf_dir;
	char **plugin_dirs;
	size_t n_plugin_dirs;
	struct watched *watched; /* everything the last scan depended on */
	size_t n_watched;
	size_t cap_watched;
	bool scanned; /* status holds a trustworthy result */
	bool racy;    /* some timestamp was too recent to trust */
	bool oom;     /* the scan ran out of memory */
	unsigned long scans;
	struct crid_cni_status status;
};

/* The lexically smallest CRID_CNI_MAX_FILES names, sorted, out of |total| candidates. */
struct candidates {
	char (*names)[NAME_MAX_LEN];
	size_t n;
	size_t total;
};

static void sig_from_stat(struct sig *s, const struct stat *st)
{
	memset(s, 0, sizeof(*s));
	s->dev = st->st_dev;
	s->ino = st->st_ino;
	s->mode = st->st_mode;
	s->size = st->st_size;
	s->mtim = st->st_mtim;
	s->ctim = st->st_ctim;
}

static void sig_of(const char *path, struct sig *s)
{
	struct stat st;

	if (stat(path, &st) < 0) {
		memset(s, 0, sizeof(*s));
		s->err = errno ? errno : ENOENT;
		return;
	}
	sig_from_stat(s, &st);
}

static bool sig_equal(const struct sig *a, const struct sig *b)
{
	return a->err == b->err && a->dev == b->dev && a->ino == b->ino && a->mode == b->mode &&
	       a->size == b->size && a->mtim.tv_sec == b->mtim.tv_sec &&
	       a->mtim.tv_nsec == b->mtim.tv_nsec && a->ctim.tv_sec == b->ctim.tv_sec &&
	       a->ctim.tv_nsec == b->ctim.tv_nsec;
}

static void watched_clear(struct crid_cni_watch *w)
{
	for (size_t i = 0; i < w->n_watched; i++)
		crid_free(w->watched[i].path);
	w->n_watched = 0;
}

/* Remembers that the result depends on |path| looking like |s|. */
static int watch_sig(struct crid_cni_watch *w, const char *path, const struct sig *s)
{
	struct watched *nw;
	size_t cap;

	if (w->n_watched == w->cap_watched) {
		cap = w->cap_watched ? 2 * w->cap_watched : 16;
		nw = crid_realloc(w->watched, cap * sizeof(*nw));
		if (!nw)
			goto oom;
		w->watched = nw;
		w->cap_watched = cap;
	}
	w->watched[w->n_watched].path = crid_strdup(path);
	if (!w->watched[w->n_watched].path)
		goto oom;
	w->watched[w->n_watched].sig = *s;
	w->n_watched++;
	return 0;
oom:
	w->oom = true;
	return -1;
}

static int watch_path(struct crid_cni_watch *w, const char *path)
{
	struct sig s;

	sig_of(path, &s);
	return watch_sig(w, path, &s);
}

static int watch_stat(struct crid_cni_watch *w, const char *path, const struct stat *st)
{
	struct sig s;

	sig_from_stat(&s, st);
	return watch_sig(w, path, &s);
}

static bool anything_changed(const struct crid_cni_watch *w)
{
	struct sig now;

	for (size_t i = 0; i < w->n_watched; i++) {
		sig_of(w->watched[i].path, &now);
		if (!sig_equal(&now, &w->watched[i].sig))
			return true;
	}
	return false;
}

static bool too_recent(const struct crid_cni_watch *w, const struct timespec *start)
{
	long long limit = (long long)start->tv_sec * 1000000000LL + start->tv_nsec - RACY_NS;

	for (size_t i = 0; i < w->n_watched; i++) {
		const struct sig *s = &w->watched[i].sig;

		if (!s->err && (long long)s->mtim.tv_sec * 1000000000LL + s->mtim.tv_nsec >= limit)
			return true;
	}
	return false;
}

static void set_not_ready(struct crid_cni_status *st, const char *fmt, ...)
    __attribute__((format(printf, 2, 3)));

static void set_not_ready(struct crid_cni_status *st, const char *fmt, ...)
{
	size_t plen = strlen(MSG_PREFIX);
	va_list ap;

	memset(st, 0, sizeof(*st));
	snprintf(st->reason, sizeof(st->reason), "%s", NOT_READY_REASON);
	memcpy(st->message, MSG_PREFIX, plen);
	va_start(ap, fmt);
	vsnprintf(st->message + plen, sizeof(st->message) - plen, fmt, ap);
	va_end(ap);
}

static void set_problem(char *problem, size_t size, const char *fmt, ...)
    __attribute__((format(printf, 3, 4)));

static void set_problem(char *problem, size_t size, const char *fmt, ...)
{
	va_list ap;

	va_start(ap, fmt);
	vsnprintf(problem, size, fmt, ap);
	va_end(ap);
}

static bool is_conf_name(const char *name)
{
	static const char *const exts[] = { ".conf", ".conflist", ".json" };
	size_t len = strlen(name);

	for (size_t i = 0; i < sizeof(exts) / sizeof(exts[0]); i++) {
		size_t elen = strlen(exts[i]);

		if (len > elen && strcmp(name + len - elen, exts[i]) == 0)
			return true;
	}
	return false;
}

/* Keeps the smallest names in a bounded sorted array: memory does not grow with the dir. */
static void keep_smallest(struct candidates *c, const char *name)
{
	size_t i;

	c->total++;
	if (c->n == CRID_CNI_MAX_FILES) {
		if (strcmp(name, c->names[c->n - 1]) >= 0)
			return;
		c->n--;
	}
	for (i = c->n; i > 0 && strcmp(name, c->names[i - 1]) < 0; i--)
		memcpy(c->names[i], c->names[i - 1], NAME_MAX_LEN);
	snprintf(c->names[i], NAME_MAX_LEN, "%s", name);
	c->n++;
}

/* Returns 0 or an errno from opendir/readdir. */
static int list_candidates(const char *dir, struct candidates *c)
{
	struct dirent *de;
	DIR *d;
	int e;

	d = opendir(dir);
	if (!d)
		return errno;
	for (;;) {
		errno = 0;
		de = readdir(d);
		if (!de)
			break;
		/* libcni skips only directories; other non-files fail later, by name. */
		if (de->d_type == DT_DIR || !is_conf_name(de->d_name))
			continue;
		keep_smallest(c, de->d_name);
	}
	e = errno;
	closedir(d);
	return e;
}

/* Watches what the shared config code looked at. */
static int seen(void *user, const char *path, const struct stat *st, int error)
{
	struct crid_cni_watch *w = user;
	struct sig s;

	if (!st) {
		memset(&s, 0, sizeof(s));
		s.err = error ? error : ENOENT;
		return watch_sig(w, path, &s);
	}
	return watch_stat(w, path, st);
}

static int check_plugins(struct crid_cni_watch *w, const struct crid_cni_conf *c, char *problem,
			 size_t psize)
{
	char path[PATH_MAX];

	for (size_t i = 0; i < c->n; i++) {
		if (crid_cni_find_plugin(w->plugin_dirs, w->n_plugin_dirs, c->types[i], path,
					 sizeof(path), seen, w, problem, psize) < 0) {
			if (errno == ENOMEM)
				w->oom = true;
			return -1;
		}
	}
	return 0;
}

static void fill_ready(struct crid_cni_status *st, const char *path, const struct crid_cni_conf *c)
{
	size_t len = 0;
	int r;

	memset(st, 0, sizeof(*st));
	st->ready = true;
	snprintf(st->network, sizeof(st->network), "%s", c->name);
	snprintf(st->config_file, sizeof(st->config_file), "%s", path);
	snprintf(st->cni_version, sizeof(st->cni_version), "%s", c->version);
	for (size_t i = 0; i < c->n && len < sizeof(st->plugins); i++) {
		r = snprintf(st->plugins + len, sizeof(st->plugins) - len, "%s%s", i ? "," : "",
			     c->types[i]);
		if (r < 0)
			break;
		len += (size_t)r;
	}
}

/* Reads and validates one config file; on success fills |st| as ready. */
static int check_conf(struct crid_cni_watch *w, const char *path, struct crid_cni_status *st,
		      char *problem, size_t psize)
{
	struct crid_cni_conf c;
	size_t len = 0;
	int ret = -1;
	char *buf;

	buf = crid_cni_conf_read(path, &len, seen, w, problem, psize);
	if (!buf) {
		if (errno == ENOMEM)
			w->oom = true;
		return -1;
	}
	if (crid_cni_conf_parse(&c, buf, len, problem, psize) < 0)
		goto out;
	if (check_plugins(w, &c, problem, psize) == 0) {
		fill_ready(st, path, &c);
		ret = 0;
	}
	crid_cni_conf_free(&c);
out:
	crid_free(buf);
	return ret;
}

static void examine(struct crid_cni_watch *w, const struct candidates *c)
{
	char path[PATH_MAX];
	char problem[256];
	char first[256] = "";
	const char *first_name = NULL;
	size_t bad = 0;
	char more[96] = "";
	int n;

	for (size_t i = 0; i < c->n; i++) {
		problem[0] = '\0';
		n = snprintf(path, sizeof(path), "%s/%s", w->conf_dir, c->names[i]);
		if (n < 0 || (size_t)n >= sizeof(path))
			set_problem(problem, sizeof(problem), "path too long");
		else if (check_conf(w, path, &w->status, problem, sizeof(problem)) == 0)
			return;
		if (bad++ == 0) {
			first_name = c->names[i];
			memcpy(first, problem, sizeof(first));
		}
	}
	if (c->total > c->n)
		snprintf(more, sizeof(more),
			 " (%zu more invalid; only the first %d of %zu files read)", bad - 1,
			 CRID_CNI_MAX_FILES, c->total);
	else if (bad > 1)
		snprintf(more, sizeof(more), " (%zu more invalid)", bad - 1);
	set_not_ready(&w->status, "No valid CNI configuration file in %s: `%s`: %s%s", w->conf_dir,
		      first_name, first, more);
}

static void log_change(const struct crid_cni_status *old, const struct crid_cni_status *st)
{
	if (old->ready == st->ready && strcmp(old->message, st->message) == 0 &&
	    strcmp(old->config_file, st->config_file) == 0)
		return;
	if (st->ready)
		crid_log_info("cni: network ready: `%s` from `%s` (plugins %s)", st->network,
			      st->config_file, st->plugins);
	else
		crid_log_warn("cni: network not ready: %s", st->message);
}

static void scan(struct crid_cni_watch *w)
{
	struct crid_cni_status old = w->status;
	struct candidates c = { 0 };
	struct timespec start;
	int e;

	w->scans++;
	w->oom = false;
	watched_clear(w);
	clock_gettime(CLOCK_REALTIME, &start);
	/* Watched before reading: a change after this point is seen next time. */
	watch_path(w, w->conf_dir);
	for (size_t i = 0; i < w->n_plugin_dirs; i++)
		watch_path(w, w->plugin_dirs[i]);
	c.names = crid_malloc(CRID_CNI_MAX_FILES * sizeof(*c.names));
	if (!c.names) {
		w->oom = true;
		set_not_ready(&w->status, "out of memory");
		goto out;
	}
	e = list_candidates(w->conf_dir, &c);
	if (e == ENOENT || (!e && c.total == 0))
		set_not_ready(&w->status,
			      "No CNI configuration file in %s. Has your network provider started?",
			      w->conf_dir);
	else if (e)
		set_not_ready(&w->status, "cannot read CNI configuration directory `%s`: %s",
			      w->conf_dir, strerror(e));
	else
		examine(w, &c);
out:
	crid_free(c.names);
	crid_cni_sanitize_utf8(w->status.message);
	w->scanned = !w->oom;
	w->racy = too_recent(w, &start);
	log_change(&old, &w->status);
}

const struct crid_cni_status *crid_cni_watch_status(struct crid_cni_watch *w)
{
	if (!w->scanned || w->racy || anything_changed(w))
		scan(w);
	return &w->status;
}

void crid_cni_watch_invalidate(struct crid_cni_watch *w)
{
	w->scanned = false;
}

unsigned long crid_cni_watch_scans(const struct crid_cni_watch *w)
{
	return w->scans;
}

/* Copies |s| without trailing slashes ("/" stays "/"), so joined paths read cleanly. */
static char *dup_dir(const char *s)
{
	size_t n = strlen(s);

	while (n > 1 && s[n - 1] == '/')
		n--;
	return crid_strndup(s, n);
}

struct crid_cni_watch *crid_cni_watch_new(const char *conf_dir, const struct crid_strv *plugin_dirs)
{
	size_t n = plugin_dirs ? plugin_dirs->n : 0;
	struct crid_cni_watch *w;

	w = crid_calloc(1, sizeof(*w));
	if (!w)
		return NULL;
	w->conf_dir = dup_dir(conf_dir ? conf_dir : "");
	w->plugin_dirs = crid_calloc(n ? n : 1, sizeof(*w->plugin_dirs));
	if (!w->conf_dir || !w->plugin_dirs)
		goto fail;
	for (; w->n_plugin_dirs < n; w->n_plugin_dirs++) {
		w->plugin_dirs[w->n_plugin_dirs] = dup_dir(plugin_dirs->v[w->n_plugin_dirs]);
		if (!w->plugin_dirs[w->n_plugin_dirs])
			goto fail;
	}
	return w;
fail:
	crid_cni_watch_free(w);
	return NULL;
}

void crid_cni_watch_free(struct crid_cni_watch *w)
{
	if (!w)
		return;
	watched_clear(w);
	crid_free(w->watched);
	for (size_t i = 0; i < w->n_plugin_dirs; i++)
		crid_free(w->plugin_dirs[i]);
	crid_free(w->plugin_dirs);
	crid_free(w->conf_dir);
	crid_free(w);
}
