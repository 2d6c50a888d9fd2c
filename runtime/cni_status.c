/*
 * NetworkReady for the Status RPC. Mirrors ocicni's loadNetworks() (CRI-O) and
 * libcni's ConfFiles()/ValidateNetworkList(): config files are *.conf,
 * *.conflist and *.json in the config dir, sorted byte-wise, and the first one
 * that parses, names a supported cniVersion and whose plugins all exist wins.
 * Unlike them we never run a plugin (no VERSION call): Status must stay cheap
 * and the loop must not wait on children.
 */
#include "runtime/cni_status.h"

#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <stdarg.h>
#include <stdio.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#include <yajl/yajl_tree.h>

#include "reactor/log.h"
#include "reactor/mem.h"

#define MSG_PREFIX "Network plugin returns error: "
#define NOT_READY_REASON "NetworkPluginNotReady"
/* yajl_tree_free() recurses once per nesting level: refuse deep documents before parsing. */
#define MAX_JSON_DEPTH 32
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

static const char *const cni_versions[] = { "0.3.0", "0.3.1", "0.4.0", "1.0.0", "1.1.0" };

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

/* Rejects nesting deeper than |max| so yajl's recursive free cannot overflow the stack. */
static bool depth_ok(const char *s, size_t n, int max)
{
	int depth = 0;

	for (size_t i = 0; i < n; i++) {
		if (s[i] == '"') {
			for (i++; i < n && s[i] != '"'; i++)
				if (s[i] == '\\')
					i++;
		} else if (s[i] == '/' && i + 1 < n && s[i + 1] == '/') {
			/* yajl_tree_parse() allows comments, so skip them like it does. */
			while (i < n && s[i] != '\n')
				i++;
		} else if (s[i] == '/' && i + 1 < n && s[i + 1] == '*') {
			for (i += 2; i + 1 < n && !(s[i] == '*' && s[i + 1] == '/'); i++)
				;
			i++;
		} else if (s[i] == '[' || s[i] == '{') {
			if (++depth > max)
				return false;
		} else if ((s[i] == ']' || s[i] == '}') && depth > 0) {
			/* Floored: stray closers must not buy room for deeper nesting later. */
			depth--;
		}
	}
	return true;
}

static int read_fd(int fd, char *buf, size_t want, size_t *got)
{
	ssize_t r;

	*got = 0;
	while (*got < want) {
		r = read(fd, buf + *got, want - *got);
		if (r < 0 && errno == EINTR)
			continue;
		if (r < 0)
			return -1;
		if (r == 0)
			break;
		*got += (size_t)r;
	}
	return 0;
}

/*
 * Reads |path| (a regular file of at most CRID_CNI_MAX_FILE_SIZE bytes) into a
 * NUL-terminated buffer the caller frees. stat() first so that a FIFO or device
 * is never opened.
 */
static char *read_conf(struct crid_cni_watch *w, const char *path, char *problem, size_t psize)
{
	struct stat st;
	char *buf;
	size_t got;
	int fd;

	if (stat(path, &st) < 0) {
		set_problem(problem, psize, "cannot read: %s", strerror(errno));
		watch_path(w, path);
		return NULL;
	}
	if (!S_ISREG(st.st_mode)) {
		set_problem(problem, psize, "not a regular file");
		watch_stat(w, path, &st);
		return NULL;
	}
	fd = open(path, O_RDONLY | O_CLOEXEC | O_NONBLOCK | O_NOCTTY);
	if (fd < 0 || fstat(fd, &st) < 0) {
		set_problem(problem, psize, "cannot read: %s", strerror(errno));
		watch_path(w, path);
		goto fail_fd;
	}
	if (watch_stat(w, path, &st) < 0) {
		set_problem(problem, psize, "out of memory");
		goto fail_fd;
	}
	if (!S_ISREG(st.st_mode)) {
		set_problem(problem, psize, "not a regular file");
		goto fail_fd;
	}
	if (st.st_size > CRID_CNI_MAX_FILE_SIZE) {
		set_problem(problem, psize, "larger than %d bytes", CRID_CNI_MAX_FILE_SIZE);
		goto fail_fd;
	}
	buf = crid_malloc((size_t)st.st_size + 1);
	if (!buf) {
		w->oom = true;
		set_problem(problem, psize, "out of memory");
		goto fail_fd;
	}
	if (read_fd(fd, buf, (size_t)st.st_size, &got) < 0) {
		set_problem(problem, psize, "cannot read: %s", strerror(errno));
		crid_free(buf);
		goto fail_fd;
	}
	buf[got] = '\0';
	close(fd);
	return buf;
fail_fd:
	if (fd >= 0)
		close(fd);
	return NULL;
}

static const char *json_string(yajl_val obj, const char *key)
{
	const char *path[] = { key, NULL };
	yajl_val v = yajl_tree_get(obj, path, yajl_t_string);

	return v ? YAJL_GET_STRING(v) : NULL;
}

static bool is_alnum(char ch)
{
	return (ch >= 'a' && ch <= 'z') || (ch >= 'A' && ch <= 'Z') || (ch >= '0' && ch <= '9');
}

/* libcni's ValidateNetworkName(): the name ends up in paths (host-local's dataDir). */
static bool valid_network_name(const char *s)
{
	size_t n = strlen(s);

	if (n == 0 || n >= sizeof(((struct crid_cni_status *)0)->network) || !is_alnum(s[0]))
		return false;
	for (size_t i = 1; i < n; i++)
		if (!is_alnum(s[i]) && s[i] != '_' && s[i] != '.' && s[i] != '-')
			return false;
	return true;
}

/* A plugin type is a file name in a plugin dir (libcni's FindInPath refuses separators). */
static bool valid_type(const char *s)
{
	return s[0] && strlen(s) < NAME_MAX_LEN && !strchr(s, '/') && strcmp(s, ".") != 0 &&
	       strcmp(s, "..") != 0;
}

static bool supported_version(const char *v)
{
	for (size_t i = 0; i < sizeof(cni_versions) / sizeof(cni_versions[0]); i++)
		if (strcmp(v, cni_versions[i]) == 0)
			return true;
	return false;
}

static void join_dirs(const struct crid_cni_watch *w, char *out, size_t size)
{
	size_t len = 0;

	out[0] = '\0';
	for (size_t i = 0; i < w->n_plugin_dirs && len < size; i++) {
		int n = snprintf(out + len, size - len, "%s%s", i ? ":" : "", w->plugin_dirs[i]);

		if (n < 0)
			break;
		len += (size_t)n;
	}
}

/* Finds |type| as an executable regular file in the plugin dirs, in order. */
static int find_plugin(struct crid_cni_watch *w, const char *type, char *problem, size_t psize)
{
	const char *why = "not found";
	char path[PATH_MAX];
	char dirs[256];
	struct stat st;
	int n;

	for (size_t i = 0; i < w->n_plugin_dirs; i++) {
		n = snprintf(path, sizeof(path), "%s/%s", w->plugin_dirs[i], type);
		if (n < 0 || (size_t)n >= sizeof(path) || stat(path, &st) < 0)
			continue;
		/* Watched either way: a chmod +x later must be noticed. */
		if (watch_stat(w, path, &st) < 0) {
			set_problem(problem, psize, "out of memory");
			return -1;
		}
		if (S_ISREG(st.st_mode) && faccessat(AT_FDCWD, path, X_OK, AT_EACCESS) == 0)
			return 0;
		why = "not executable";
	}
	join_dirs(w, dirs, sizeof(dirs));
	if (!dirs[0])
		set_problem(problem, psize, "plugin `%s` %s: no CNI plugin directory configured",
			    type, why);
	else
		set_problem(problem, psize, "plugin `%s` %s in %s", type, why, dirs);
	return -1;
}

/* The plugin types of |root|: a config list ("plugins") or a single config ("type"). */
static int plugin_types(yajl_val root, const char **types, size_t *n, char *problem, size_t psize)
{
	const char *path[] = { "plugins", NULL };
	yajl_val list = yajl_tree_get(root, path, yajl_t_any);
	yajl_val item;

	*n = 0;
	if (!list) {
		types[0] = json_string(root, "type");
		if (!types[0]) {
			set_problem(problem, psize, "has neither \"plugins\" nor \"type\"");
			return -1;
		}
		*n = 1;
		return 0;
	}
	if (!YAJL_IS_ARRAY(list) || list->u.array.len == 0) {
		set_problem(problem, psize, "\"plugins\" is not a non-empty array");
		return -1;
	}
	if (list->u.array.len > CRID_CNI_MAX_PLUGINS) {
		set_problem(problem, psize, "more than %d plugins", CRID_CNI_MAX_PLUGINS);
		return -1;
	}
	for (size_t i = 0; i < list->u.array.len; i++) {
		item = list->u.array.values[i];
		types[i] = YAJL_IS_OBJECT(item) ? json_string(item, "type") : NULL;
		if (!types[i]) {
			set_problem(problem, psize, "plugin %zu has no \"type\"", i);
			return -1;
		}
	}
	*n = list->u.array.len;
	return 0;
}

static int check_fields(yajl_val root, char *problem, size_t psize)
{
	const char *version = json_string(root, "cniVersion");
	const char *name = json_string(root, "name");

	if (!version) {
		set_problem(problem, psize, "missing \"cniVersion\"");
		return -1;
	}
	if (!supported_version(version)) {
		set_problem(problem, psize, "unsupported cniVersion \"%.32s\"", version);
		return -1;
	}
	if (!name) {
		set_problem(problem, psize, "missing \"name\"");
		return -1;
	}
	if (!valid_network_name(name)) {
		set_problem(problem, psize, "invalid network name \"%.64s\"", name);
		return -1;
	}
	return 0;
}

static int check_plugins(struct crid_cni_watch *w, const char **types, size_t n, char *problem,
			 size_t psize)
{
	for (size_t i = 0; i < n; i++) {
		if (!valid_type(types[i])) {
			set_problem(problem, psize, "invalid plugin type \"%.64s\"", types[i]);
			return -1;
		}
		if (find_plugin(w, types[i], problem, psize) < 0)
			return -1;
	}
	return 0;
}

static void fill_ready(struct crid_cni_status *st, const char *path, yajl_val root,
		       const char **types, size_t n)
{
	size_t len = 0;
	int r;

	memset(st, 0, sizeof(*st));
	st->ready = true;
	snprintf(st->network, sizeof(st->network), "%s", json_string(root, "name"));
	snprintf(st->config_file, sizeof(st->config_file), "%s", path);
	snprintf(st->cni_version, sizeof(st->cni_version), "%s", json_string(root, "cniVersion"));
	for (size_t i = 0; i < n && len < sizeof(st->plugins); i++) {
		r = snprintf(st->plugins + len, sizeof(st->plugins) - len, "%s%s", i ? "," : "",
			     types[i]);
		if (r < 0)
			break;
		len += (size_t)r;
	}
}

/* Reads and validates one config file; on success fills |st| as ready. */
static int check_conf(struct crid_cni_watch *w, const char *path, struct crid_cni_status *st,
		      char *problem, size_t psize)
{
	const char *types[CRID_CNI_MAX_PLUGINS];
	yajl_val root = NULL;
	char errbuf[256];
	size_t n = 0;
	int ret = -1;
	char *buf;

	buf = read_conf(w, path, problem, psize);
	if (!buf)
		return -1;
	if (!depth_ok(buf, strlen(buf), MAX_JSON_DEPTH)) {
		set_problem(problem, psize, "JSON nested deeper than %d levels", MAX_JSON_DEPTH);
		goto out;
	}
	root = yajl_tree_parse(buf, errbuf, sizeof(errbuf));
	if (!root) {
		/* yajl's verbose error quotes the input on following lines: keep the first. */
		errbuf[strcspn(errbuf, "\n")] = '\0';
		set_problem(problem, psize, "invalid JSON: %s", errbuf);
		goto out;
	}
	if (!YAJL_IS_OBJECT(root)) {
		set_problem(problem, psize, "not a JSON object");
		goto out;
	}
	if (check_fields(root, problem, psize) < 0 ||
	    plugin_types(root, types, &n, problem, psize) < 0 ||
	    check_plugins(w, types, n, problem, psize) < 0)
		goto out;
	fill_ready(st, path, root, types, n);
	ret = 0;
out:
	yajl_tree_free(root);
	crid_free(buf);
	return ret;
}

/*
 * Status messages travel in protobuf strings, which must be UTF-8: file names
 * and JSON excerpts may not be, or may have been cut inside a character.
 */
static void sanitize_utf8(char *s)
{
	unsigned char *p = (unsigned char *)s;
	size_t len, i;

	while (*p) {
		len = *p < 0x80		    ? 1
		      : (*p & 0xe0) == 0xc0 ? 2
		      : (*p & 0xf0) == 0xe0 ? 3
		      : (*p & 0xf8) == 0xf0 ? 4
					    : 0;
		for (i = 1; i < len; i++)
			if ((p[i] & 0xc0) != 0x80)
				len = 0;
		/* overlong forms, surrogates, beyond U+10FFFF */
		if ((len == 2 && *p < 0xc2) || (len == 3 && *p == 0xe0 && p[1] < 0xa0) ||
		    (len == 3 && *p == 0xed && p[1] >= 0xa0) ||
		    (len == 4 && *p == 0xf0 && p[1] < 0x90) || (len == 4 && *p > 0xf4) ||
		    (len == 4 && *p == 0xf4 && p[1] >= 0x90))
			len = 0;
		if (len == 1 && (*p < 0x20 || *p == 0x7f))
			len = 0;
		if (len == 0) {
			*p++ = '?';
			continue;
		}
		p += len;
	}
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
	sanitize_utf8(w->status.message);
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
