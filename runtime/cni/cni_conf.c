/*
 * CNI config files as libcni reads them (pkg/libcni/conf.go): the checks shared
 * by readiness and by execution, so both always agree on what is valid.
 */
#include "runtime/cni/cni_conf.h"

#include <errno.h>
#include <fcntl.h>
#include <stdarg.h>
#include <stdio.h>
#include <string.h>
#include <unistd.h>

#include "reactor/mem.h"

#define TYPE_MAX_LEN 256

static const char *const cni_versions[] = { "0.3.0", "0.3.1", "0.4.0", "1.0.0", "1.1.0" };

static void set_problem(char *problem, size_t size, const char *fmt, ...)
    __attribute__((format(printf, 3, 4)));

static void set_problem(char *problem, size_t size, const char *fmt, ...)
{
	va_list ap;

	va_start(ap, fmt);
	vsnprintf(problem, size, fmt, ap);
	va_end(ap);
}

static int tell(crid_cni_seen_fn seen, void *user, const char *path, const struct stat *st,
		int error)
{
	return seen ? seen(user, path, st, error) : 0;
}

bool crid_cni_json_depth_ok(const char *s, size_t n, int max)
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

static char *read_open(int fd, const struct stat *st, size_t *len, char *problem, size_t psize)
{
	size_t got;
	char *buf;

	if (!S_ISREG(st->st_mode)) {
		set_problem(problem, psize, "not a regular file");
		errno = EINVAL;
		return NULL;
	}
	if (st->st_size > CRID_CNI_MAX_FILE_SIZE) {
		set_problem(problem, psize, "larger than %d bytes", CRID_CNI_MAX_FILE_SIZE);
		errno = EFBIG;
		return NULL;
	}
	buf = crid_malloc((size_t)st->st_size + 1);
	if (!buf) {
		set_problem(problem, psize, "out of memory");
		errno = ENOMEM;
		return NULL;
	}
	if (read_fd(fd, buf, (size_t)st->st_size, &got) < 0) {
		set_problem(problem, psize, "cannot read: %s", strerror(errno));
		crid_free(buf);
		return NULL;
	}
	buf[got] = '\0';
	*len = got;
	return buf;
}

char *crid_cni_conf_read(const char *path, size_t *len, crid_cni_seen_fn seen, void *user,
			 char *problem, size_t psize)
{
	struct stat st;
	char *buf = NULL;
	int fd, e;

	/* stat() first so that a FIFO or a device is never opened. */
	if (stat(path, &st) < 0) {
		e = errno;
		set_problem(problem, psize, "cannot read: %s", strerror(e));
		tell(seen, user, path, NULL, e);
		errno = e;
		return NULL;
	}
	if (!S_ISREG(st.st_mode)) {
		set_problem(problem, psize, "not a regular file");
		tell(seen, user, path, &st, 0);
		errno = EINVAL;
		return NULL;
	}
	fd = open(path, O_RDONLY | O_CLOEXEC | O_NONBLOCK | O_NOCTTY);
	if (fd < 0 || fstat(fd, &st) < 0) {
		e = errno;
		set_problem(problem, psize, "cannot read: %s", strerror(e));
		tell(seen, user, path, NULL, e);
		goto out;
	}
	if (tell(seen, user, path, &st, 0) < 0) {
		set_problem(problem, psize, "out of memory");
		e = ENOMEM;
		goto out;
	}
	buf = read_open(fd, &st, len, problem, psize);
	e = errno;
out:
	if (fd >= 0)
		close(fd);
	errno = e;
	return buf;
}

const char *crid_cni_json_string(yajl_val obj, const char *key)
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

	if (n == 0 || n >= CRID_CNI_NAME_MAX || !is_alnum(s[0]))
		return false;
	for (size_t i = 1; i < n; i++)
		if (!is_alnum(s[i]) && s[i] != '_' && s[i] != '.' && s[i] != '-')
			return false;
	return true;
}

/* A plugin type is a file name in a plugin dir (libcni's FindInPath refuses separators). */
static bool valid_type(const char *s)
{
	return s[0] && strlen(s) < TYPE_MAX_LEN && !strchr(s, '/') && strcmp(s, ".") != 0 &&
	       strcmp(s, "..") != 0;
}

bool crid_cni_version_supported(const char *v)
{
	for (size_t i = 0; i < sizeof(cni_versions) / sizeof(cni_versions[0]); i++)
		if (strcmp(v, cni_versions[i]) == 0)
			return true;
	return false;
}

void crid_cni_join_dirs(char *const *dirs, size_t n, char *out, size_t size)
{
	size_t len = 0;

	out[0] = '\0';
	for (size_t i = 0; i < n && len < size; i++) {
		int r = snprintf(out + len, size - len, "%s%s", i ? ":" : "", dirs[i]);

		if (r < 0)
			break;
		len += (size_t)r;
	}
}

int crid_cni_find_plugin(char *const *dirs, size_t n_dirs, const char *type, char *path,
			 size_t path_size, crid_cni_seen_fn seen, void *user, char *problem,
			 size_t psize)
{
	const char *why = "not found";
	char joined[256];
	struct stat st;
	int e = ENOENT;
	int n;

	for (size_t i = 0; i < n_dirs; i++) {
		n = snprintf(path, path_size, "%s/%s", dirs[i], type);
		if (n < 0 || (size_t)n >= path_size || stat(path, &st) < 0)
			continue;
		/* Told either way: a chmod +x later must be noticed. */
		if (tell(seen, user, path, &st, 0) < 0) {
			set_problem(problem, psize, "out of memory");
			errno = ENOMEM;
			return -1;
		}
		if (S_ISREG(st.st_mode) && faccessat(AT_FDCWD, path, X_OK, AT_EACCESS) == 0)
			return 0;
		why = "not executable";
		e = EACCES;
	}
	path[0] = '\0';
	crid_cni_join_dirs(dirs, n_dirs, joined, sizeof(joined));
	if (!joined[0])
		set_problem(problem, psize, "plugin `%s` %s: no CNI plugin directory configured",
			    type, why);
	else
		set_problem(problem, psize, "plugin `%s` %s in %s", type, why, joined);
	errno = e;
	return -1;
}

/* The plugins of a config list ("plugins") or of a single config ("type"). */
static int plugin_types(struct crid_cni_conf *c, char *problem, size_t psize)
{
	const char *path[] = { "plugins", NULL };
	yajl_val list = yajl_tree_get(c->root, path, yajl_t_any);
	yajl_val item;

	c->n = 0;
	c->is_list = list != NULL;
	if (!list) {
		c->plugins[0] = c->root;
		c->types[0] = crid_cni_json_string(c->root, "type");
		if (!c->types[0]) {
			set_problem(problem, psize, "has neither \"plugins\" nor \"type\"");
			return -1;
		}
		c->n = 1;
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
		c->plugins[i] = item;
		c->types[i] = YAJL_IS_OBJECT(item) ? crid_cni_json_string(item, "type") : NULL;
		if (!c->types[i]) {
			set_problem(problem, psize, "plugin %zu has no \"type\"", i);
			return -1;
		}
		if (!valid_type(c->types[i])) {
			set_problem(problem, psize, "invalid plugin type \"%.64s\"", c->types[i]);
			return -1;
		}
	}
	c->n = list->u.array.len;
	return 0;
}

static int check_fields(struct crid_cni_conf *c, char *problem, size_t psize)
{
	c->version = crid_cni_json_string(c->root, "cniVersion");
	c->name = crid_cni_json_string(c->root, "name");
	if (!c->version) {
		set_problem(problem, psize, "missing \"cniVersion\"");
		return -1;
	}
	if (!crid_cni_version_supported(c->version)) {
		set_problem(problem, psize, "unsupported cniVersion \"%.32s\"", c->version);
		return -1;
	}
	if (!c->name) {
		set_problem(problem, psize, "missing \"name\"");
		return -1;
	}
	if (!valid_network_name(c->name)) {
		set_problem(problem, psize, "invalid network name \"%.64s\"", c->name);
		return -1;
	}
	return 0;
}

int crid_cni_conf_parse(struct crid_cni_conf *c, const char *buf, size_t len, char *problem,
			size_t psize)
{
	char errbuf[256];

	memset(c, 0, sizeof(*c));
	if (!crid_cni_json_depth_ok(buf, len, CRID_CNI_MAX_JSON_DEPTH)) {
		set_problem(problem, psize, "JSON nested deeper than %d levels",
			    CRID_CNI_MAX_JSON_DEPTH);
		return -1;
	}
	c->root = yajl_tree_parse(buf, errbuf, sizeof(errbuf));
	if (!c->root) {
		/* yajl's verbose error quotes the input on following lines: keep the first. */
		errbuf[strcspn(errbuf, "\n")] = '\0';
		set_problem(problem, psize, "invalid JSON: %s", errbuf);
		return -1;
	}
	if (!YAJL_IS_OBJECT(c->root)) {
		set_problem(problem, psize, "not a JSON object");
		goto fail;
	}
	if (check_fields(c, problem, psize) < 0 || plugin_types(c, problem, psize) < 0)
		goto fail;
	if (!c->is_list && !valid_type(c->types[0])) {
		set_problem(problem, psize, "invalid plugin type \"%.64s\"", c->types[0]);
		goto fail;
	}
	return 0;
fail:
	crid_cni_conf_free(c);
	return -1;
}

void crid_cni_conf_free(struct crid_cni_conf *c)
{
	yajl_tree_free(c->root);
	memset(c, 0, sizeof(*c));
}

void crid_cni_sanitize_utf8(char *s)
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
