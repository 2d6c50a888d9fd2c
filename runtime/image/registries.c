/*
 * Registry resolution after containers/image pkg/sysregistriesv2
 * (system_registries_v2.go: refMatchingPrefix, refMatchingSubdomainPrefix,
 * PullSourcesFromReference, rewriteReference).
 */
#include "runtime/image/registries.h"

#include <arpa/inet.h>
#include <errno.h>
#include <fcntl.h>
#include <stdarg.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "reactor/log.h"
#include "reactor/mem.h"
#include "runtime/config/toml.h"

#define CONF_MAX (1024 * 1024)

enum pull_from { PULL_ALL, PULL_DIGEST_ONLY, PULL_TAG_ONLY };

struct mirror {
	char *location;
	bool insecure;
	enum pull_from pull;
};

struct rule {
	char *prefix, *location; /* location "" for a wildcard prefix: the ref itself */
	bool insecure, blocked;
	struct mirror *mirrors;
	size_t n_mirrors;
	char origin[PATH_MAX + 32]; /* "FILE:LINE" or "crid config" for messages */
};

struct crid_registries {
	struct rule *rules;
	size_t n_rules;
	struct crid_strv search;
	struct crid_strv insecure;	     /* crid's insecure_registries */
	struct crid_strv ca_hosts, ca_files; /* crid's per-registry ca_file */
	char certs_dir[PATH_MAX];
};

static int fail_at(struct crid_err *err, const char *name, unsigned line, unsigned col,
		   const char *fmt, ...) __attribute__((format(printf, 5, 6)));

static int fail_at(struct crid_err *err, const char *name, unsigned line, unsigned col,
		   const char *fmt, ...)
{
	char msg[CRID_ERR_MSG_MAX];
	va_list ap;

	va_start(ap, fmt);
	vsnprintf(msg, sizeof(msg), fmt, ap);
	va_end(ap);
	crid_err_set(err, 0, "%s:%u:%u: %s", name, line, col, msg);
	if (err)
		err->code = EINVAL;
	return -1;
}

/* ---- lists ---- */

static void strv_free(struct crid_strv *s)
{
	for (size_t i = 0; i < s->n; i++)
		crid_free(s->v[i]);
	crid_free(s->v);
	s->v = NULL;
	s->n = 0;
}

static int strv_push(struct crid_strv *s, const char *str, struct crid_err *err)
{
	char **v = crid_realloc(s->v, (s->n + 2) * sizeof(*v));

	if (!v)
		return crid_err_set(err, ENOMEM, "registries");
	s->v = v;
	if (!(v[s->n] = crid_strdup(str)))
		return crid_err_set(err, ENOMEM, "registries");
	v[++s->n] = NULL;
	return 0;
}

static void rule_free(struct rule *r)
{
	crid_free(r->prefix);
	crid_free(r->location);
	for (size_t i = 0; i < r->n_mirrors; i++)
		crid_free(r->mirrors[i].location);
	crid_free(r->mirrors);
}

void crid_registries_free(struct crid_registries *regs)
{
	if (!regs)
		return;
	for (size_t i = 0; i < regs->n_rules; i++)
		rule_free(&regs->rules[i]);
	crid_free(regs->rules);
	strv_free(&regs->search);
	strv_free(&regs->insecure);
	strv_free(&regs->ca_hosts);
	strv_free(&regs->ca_files);
	crid_free(regs);
}

static struct rule *find_rule(struct crid_registries *regs, const char *prefix)
{
	for (size_t i = 0; i < regs->n_rules; i++)
		if (strcmp(regs->rules[i].prefix, prefix) == 0)
			return &regs->rules[i];
	return NULL;
}

static struct rule *add_rule(struct crid_registries *regs, struct crid_err *err)
{
	struct rule *v = crid_realloc(regs->rules, (regs->n_rules + 1) * sizeof(*v));

	if (!v) {
		crid_err_set(err, ENOMEM, "registries");
		return NULL;
	}
	regs->rules = v;
	memset(&v[regs->n_rules], 0, sizeof(*v));
	return &v[regs->n_rules++];
}

/* Inserts at position |at| (clamped to the end). */
static int add_mirror(struct rule *r, const char *location, bool insecure, enum pull_from pull,
		      size_t at, struct crid_err *err)
{
	struct mirror *v = crid_realloc(r->mirrors, (r->n_mirrors + 1) * sizeof(*v)), m;

	if (!v)
		return crid_err_set(err, ENOMEM, "registries");
	r->mirrors = v;
	m = (struct mirror){ crid_strdup(location), insecure, pull };
	if (!m.location)
		return crid_err_set(err, ENOMEM, "registries");
	if (at > r->n_mirrors)
		at = r->n_mirrors;
	memmove(v + at + 1, v + at, (r->n_mirrors - at) * sizeof(*v));
	v[at] = m;
	r->n_mirrors++;
	return 0;
}

/* ---- registries.conf ---- */

struct conf {
	const char *name;
	struct crid_err *err;
};

/* A registries.conf location: HOST[:PORT][/PATH], no scheme, no blanks. */
static bool bad_location(const char *s, size_t len)
{
	if (len == 0 || len > CRID_REF_NAME_MAX || strlen(s) != len || strstr(s, "://"))
		return true;
	for (; *s; s++)
		if ((unsigned char)*s <= ' ' || (unsigned char)*s >= 0x7F)
			return true;
	return false;
}

/* Optional string key; *out stays NULL when absent. */
static int conf_str(struct conf *c, const struct crid_toml_value *t, const char *key,
		    const char *field, const char **out)
{
	const struct crid_toml_value *v = crid_toml_get(t, key);

	*out = NULL;
	if (!v)
		return 0;
	if (v->type != CRID_TOML_STRING)
		return fail_at(c->err, c->name, v->line, v->col, "%s.%s: must be a string", field,
			       key);
	if (bad_location(v->u.str.ptr, v->u.str.len) && strcmp(key, "pull-from-mirror") != 0)
		return fail_at(c->err, c->name, v->line, v->col,
			       "%s.%s: `%.100s` must be HOST[:PORT][/PATH] (no scheme or blanks)",
			       field, key, v->u.str.ptr);
	*out = v->u.str.ptr;
	return 0;
}

static int conf_bool(struct conf *c, const struct crid_toml_value *t, const char *key,
		     const char *field, bool *out)
{
	const struct crid_toml_value *v = crid_toml_get(t, key);

	*out = false;
	if (!v)
		return 0;
	if (v->type != CRID_TOML_BOOL)
		return fail_at(c->err, c->name, v->line, v->col, "%s.%s: must be a boolean", field,
			       key);
	*out = v->u.boolean;
	return 0;
}

static int conf_mirror(struct conf *c, const struct crid_toml_value *t, const char *field,
		       struct rule *r, bool by_digest)
{
	const char *location, *pull;
	enum pull_from pf = by_digest ? PULL_DIGEST_ONLY : PULL_ALL;
	bool insecure;

	if (t->type != CRID_TOML_TABLE)
		return fail_at(c->err, c->name, t->line, t->col, "%s: must be a table", field);
	if (conf_str(c, t, "location", field, &location) < 0 ||
	    conf_bool(c, t, "insecure", field, &insecure) < 0 ||
	    conf_str(c, t, "pull-from-mirror", field, &pull) < 0)
		return -1;
	if (!location)
		return fail_at(c->err, c->name, t->line, t->col, "%s.location: missing", field);
	if (pull && strcmp(pull, "all") == 0)
		pf = PULL_ALL;
	else if (pull && strcmp(pull, "digest-only") == 0)
		pf = PULL_DIGEST_ONLY;
	else if (pull && strcmp(pull, "tag-only") == 0)
		pf = PULL_TAG_ONLY;
	else if (pull)
		return fail_at(c->err, c->name, t->line, t->col,
			       "%s.pull-from-mirror: must be \"all\", \"digest-only\" or "
			       "\"tag-only\"",
			       field);
	return add_mirror(r, location, insecure, pf, SIZE_MAX, c->err);
}

/* prefix, location and the wildcard rules of containers-registries.conf(5). */
static int conf_names(struct conf *c, const struct crid_toml_value *t, const char *field,
		      struct rule *r)
{
	const char *prefix, *location;

	if (conf_str(c, t, "prefix", field, &prefix) < 0 ||
	    conf_str(c, t, "location", field, &location) < 0)
		return -1;
	if (!prefix && !location)
		return fail_at(c->err, c->name, t->line, t->col, "%s: needs a prefix or a location",
			       field);
	if (!prefix)
		prefix = location;
	if (strncmp(prefix, "*.", 2) == 0) {
		if (strpbrk(prefix + 2, "*/:@") || !prefix[2])
			return fail_at(c->err, c->name, t->line, t->col,
				       "%s.prefix: a wildcard must be *.DOMAIN", field);
		if (location)
			return fail_at(c->err, c->name, t->line, t->col,
				       "%s.location: cannot be set with a wildcard prefix", field);
		location = "";
	} else if (strchr(prefix, '*')) {
		return fail_at(c->err, c->name, t->line, t->col,
			       "%s.prefix: '*' only as a leading \"*.\"", field);
	}
	r->prefix = crid_strdup(prefix);
	r->location = crid_strdup(location ? location : prefix);
	if (!r->prefix || !r->location)
		return crid_err_set(c->err, ENOMEM, "registries");
	return 0;
}

static int conf_registry(struct conf *c, struct crid_registries *regs,
			 const struct crid_toml_value *t, size_t i)
{
	const struct crid_toml_value *mirrors = crid_toml_get(t, "mirror");
	char field[48];
	bool by_digest;
	struct rule *r;

	snprintf(field, sizeof(field), "registry[%zu]", i);
	if (t->type != CRID_TOML_TABLE)
		return fail_at(c->err, c->name, t->line, t->col, "%s: must be a table", field);
	if (!(r = add_rule(regs, c->err)))
		return -1;
	snprintf(r->origin, sizeof(r->origin), "%s:%u", c->name, t->line);
	if (conf_names(c, t, field, r) < 0 ||
	    conf_bool(c, t, "insecure", field, &r->insecure) < 0 ||
	    conf_bool(c, t, "blocked", field, &r->blocked) < 0 ||
	    conf_bool(c, t, "mirror-by-digest-only", field, &by_digest) < 0)
		return -1;
	for (size_t j = 0; j + 1 < regs->n_rules; j++)
		if (strcmp(regs->rules[j].prefix, r->prefix) == 0)
			return fail_at(c->err, c->name, t->line, t->col,
				       "%s: prefix `%s` is already defined at %s", field, r->prefix,
				       regs->rules[j].origin);
	if (mirrors && mirrors->type != CRID_TOML_ARRAY)
		return fail_at(c->err, c->name, mirrors->line, mirrors->col,
			       "%s.mirror: must be an array of tables ([[registry.mirror]])",
			       field);
	for (size_t j = 0; j < crid_toml_len(mirrors); j++) {
		char mfield[96];

		snprintf(mfield, sizeof(mfield), "%s.mirror[%zu]", field, j);
		if (conf_mirror(c, crid_toml_array_at(mirrors, j), mfield, r, by_digest) < 0)
			return -1;
	}
	return 0;
}

static int conf_search(struct conf *c, struct crid_registries *regs,
		       const struct crid_toml_value *v)
{
	const char *key = "unqualified-search-registries";

	if (v->type != CRID_TOML_ARRAY)
		return fail_at(c->err, c->name, v->line, v->col, "%s: must be an array of strings",
			       key);
	for (size_t i = 0; i < crid_toml_len(v); i++) {
		const struct crid_toml_value *e = crid_toml_array_at(v, i);

		if (e->type != CRID_TOML_STRING || bad_location(e->u.str.ptr, e->u.str.len))
			return fail_at(c->err, c->name, e->line, e->col,
				       "%s[%zu]: must be a registry HOST[:PORT]", key, i);
		if (strv_push(&regs->search, e->u.str.ptr, c->err) < 0)
			return -1;
	}
	return 0;
}

static int conf_root(struct conf *c, struct crid_registries *regs,
		     const struct crid_toml_value *root)
{
	for (size_t i = 0; i < crid_toml_len(root); i++) {
		const struct crid_toml_kv *kv = crid_toml_table_at(root, i);
		const struct crid_toml_value *v = kv->value;

		if (strcmp(kv->key, "unqualified-search-registries") == 0) {
			if (conf_search(c, regs, v) < 0)
				return -1;
		} else if (strcmp(kv->key, "registry") == 0) {
			if (v->type != CRID_TOML_ARRAY)
				return fail_at(c->err, c->name, kv->line, kv->col,
					       "registry: must be an array of tables "
					       "([[registry]])");
			for (size_t j = 0; j < crid_toml_len(v); j++)
				if (conf_registry(c, regs, crid_toml_array_at(v, j), j) < 0)
					return -1;
		} else if (strcmp(kv->key, "registries") == 0) {
			return fail_at(c->err, c->name, kv->line, kv->col,
				       "the v1 format ([registries.search] ...) is not supported; "
				       "use v2 ([[registry]])");
		} else {
			crid_log_debug("%s:%u:%u: ignoring `%s`", c->name, kv->line, kv->col,
				       kv->key);
		}
	}
	return 0;
}

static int parse_conf(struct crid_registries *regs, const char *name, const char *buf, size_t len,
		      struct crid_err *err)
{
	struct conf c = { name, err };
	struct crid_toml_value *root;
	int r;

	if (crid_toml_parse(name, buf, len, &root, err) < 0)
		return -1;
	r = conf_root(&c, regs, root);
	crid_toml_free(root);
	return r;
}

/* ---- crid's own config ---- */

/* [crid.image.registries."HOST"]: merged into the file's rule for HOST, its mirrors first. */
static int merge_config(struct crid_registries *regs, const struct crid_config *cfg,
			struct crid_err *err)
{
	for (size_t i = 0; i < cfg->insecure_registries.n; i++)
		if (strv_push(&regs->insecure, cfg->insecure_registries.v[i], err) < 0)
			return -1;
	for (size_t i = 0; i < cfg->n_registries; i++) {
		const struct crid_registry *g = &cfg->registries[i];
		struct rule *r = find_rule(regs, g->host);

		if (g->ca_file && g->ca_file[0] &&
		    (strv_push(&regs->ca_hosts, g->host, err) < 0 ||
		     strv_push(&regs->ca_files, g->ca_file, err) < 0))
			return -1;
		if (!r) {
			if (!(r = add_rule(regs, err)))
				return -1;
			snprintf(r->origin, sizeof(r->origin), "crid config");
			r->prefix = crid_strdup(g->host);
			r->location = crid_strdup(g->host);
			if (!r->prefix || !r->location)
				return crid_err_set(err, ENOMEM, "registries");
		}
		r->insecure |= g->insecure;
		for (size_t j = 0; j < g->mirrors.n; j++)
			if (add_mirror(r, g->mirrors.v[j], false, PULL_ALL, j, err) < 0)
				return -1;
	}
	return 0;
}

static int read_conf(const char *path, char **buf, size_t *len, struct crid_err *err)
{
	int fd = open(path, O_RDONLY | O_CLOEXEC);
	struct stat st;
	ssize_t n;

	if (fd < 0)
		return crid_err_set(err, errno, "open `%s`", path);
	if (fstat(fd, &st) < 0 || !S_ISREG(st.st_mode) || st.st_size > CONF_MAX) {
		close(fd);
		return crid_err_set(err, EINVAL, "`%s`: not a regular file of at most %d bytes",
				    path, CONF_MAX);
	}
	*buf = crid_malloc((size_t)st.st_size + 1);
	if (!*buf) {
		close(fd);
		return crid_err_set(err, ENOMEM, "read `%s`", path);
	}
	for (*len = 0; *len < (size_t)st.st_size; *len += (size_t)n) {
		n = read(fd, *buf + *len, (size_t)st.st_size - *len);
		if (n <= 0) {
			if (n == 0)
				break;
			if (errno == EINTR) {
				n = 0;
				continue;
			}
			crid_err_set(err, errno, "read `%s`", path);
			close(fd);
			crid_free(*buf);
			return -1;
		}
	}
	close(fd);
	return 0;
}

int crid_registries_load_buffer(struct crid_registries **out, const struct crid_config *cfg,
				const char *name, const char *buf, size_t len, struct crid_err *err)
{
	struct crid_registries *regs = crid_calloc(1, sizeof(*regs));

	*out = NULL;
	if (!regs)
		return crid_err_set(err, ENOMEM, "registries");
	snprintf(regs->certs_dir, sizeof(regs->certs_dir), "%s",
		 cfg && cfg->certs_dir && cfg->certs_dir[0] ? cfg->certs_dir : CRID_CERTS_DIR);
	if ((buf && parse_conf(regs, name, buf, len, err) < 0) ||
	    (cfg && merge_config(regs, cfg, err) < 0)) {
		crid_registries_free(regs);
		return -1;
	}
	*out = regs;
	return 0;
}

int crid_registries_load(struct crid_registries **out, const struct crid_config *cfg,
			 struct crid_err *err)
{
	const char *path = cfg->registries_conf;
	char *buf = NULL;
	size_t len = 0;
	int r;

	if (path && path[0] && read_conf(path, &buf, &len, err) < 0)
		return crid_err_wrap(err, "registries_conf");
	r = crid_registries_load_buffer(out, cfg, path, buf, len, err);
	crid_free(buf);
	return r;
}

int crid_registries_set_certs_dir(struct crid_registries *regs, const char *dir,
				  struct crid_err *err)
{
	if ((size_t)snprintf(regs->certs_dir, sizeof(regs->certs_dir), "%s", dir) >=
	    sizeof(regs->certs_dir))
		return crid_err_set(err, ENAMETOOLONG, "certs dir `%.64s...`", dir);
	return 0;
}

const struct crid_strv *crid_registries_search(const struct crid_registries *regs)
{
	return &regs->search;
}

/* ---- resolution ---- */

/* refMatchingPrefix: |prefix| then end, ':', '/' or '@'. Matched length or -1. */
static long match_prefix(const char *ref, const char *prefix)
{
	size_t n = strlen(prefix);

	if (strncmp(ref, prefix, n) != 0)
		return -1;
	return (ref[n] == '\0' || ref[n] == ':' || ref[n] == '/' || ref[n] == '@') ? (long)n : -1;
}

/* refMatchingSubdomainPrefix: "*.example.com" matches "a.example.com[:port]/...". */
static long match_wildcard(const char *ref, const char *prefix)
{
	const char *suffix = prefix + 1; /* ".example.com" */
	const char *at = strstr(ref, suffix);
	size_t end;

	if (!at || memchr(ref, '/', (size_t)(at - ref)) || at == ref)
		return -1;
	end = (size_t)(at - ref) + strlen(suffix);
	return (ref[end] == '\0' || ref[end] == ':' || ref[end] == '/' || ref[end] == '@')
		   ? (long)end
		   : -1;
}

static const struct rule *best_rule(const struct crid_registries *regs, const char *ref,
				    long *matched)
{
	const struct rule *best = NULL;

	*matched = -1;
	for (size_t i = 0; i < regs->n_rules; i++) {
		const struct rule *r = &regs->rules[i];
		long m = strncmp(r->prefix, "*.", 2) == 0 ? match_wildcard(ref, r->prefix)
							  : match_prefix(ref, r->prefix);

		if (m > *matched) {
			*matched = m;
			best = r;
		}
	}
	return best;
}

/* "10.0.0.0/8" style entries: does |host| (maybe with a port) fall inside? */
static bool in_cidr(const char *entry, const char *host)
{
	char net[64], ip[CRID_REF_NAME_MAX + 1];
	const char *slash = strchr(entry, '/');
	unsigned char a[16], b[16];
	int bits, af;

	if (!slash || (size_t)(slash - entry) >= sizeof(net) || sscanf(slash + 1, "%d", &bits) != 1)
		return false;
	snprintf(net, sizeof(net), "%.*s", (int)(slash - entry), entry);
	snprintf(ip, sizeof(ip), "%s", host[0] == '[' ? host + 1 : host);
	ip[strcspn(ip, host[0] == '[' ? "]" : ":")] = '\0';
	af = strchr(net, ':') ? AF_INET6 : AF_INET;
	if (inet_pton(af, net, a) != 1 || inet_pton(af, ip, b) != 1 || bits < 0 ||
	    bits > (af == AF_INET ? 32 : 128))
		return false;
	for (int i = 0; i < bits; i++)
		if (((a[i / 8] ^ b[i / 8]) >> (7 - i % 8)) & 1)
			return false;
	return true;
}

/* crid's insecure_registries: HOST[:PORT][/PATH] prefixes or CIDRs. */
static bool insecure_listed(const struct crid_registries *regs, const struct crid_endpoint *e)
{
	char repo[2 * CRID_REF_NAME_MAX + 2];

	snprintf(repo, sizeof(repo), "%s/%s", e->host, e->path);
	for (size_t i = 0; i < regs->insecure.n; i++)
		if (match_prefix(repo, regs->insecure.v[i]) >= 0 ||
		    in_cidr(regs->insecure.v[i], e->host))
			return true;
	return false;
}

/*
 * localhost, 127.0.0.0/8 and ::1, with or without a port: Docker and containerd
 * reach such a registry in plain HTTP without being told (a local test
 * registry rarely has a certificate).
 */
static bool is_loopback(const char *host)
{
	size_t n = strcspn(host, ":");

	return (n == 9 && strncmp(host, "localhost", 9) == 0) || in_cidr("127.0.0.0/8", host) ||
	       in_cidr("::1/128", host);
}

static void find_ca(const struct crid_registries *regs, struct crid_endpoint *e)
{
	struct stat st;

	for (size_t i = 0; i < regs->ca_hosts.n; i++) {
		if (strcmp(regs->ca_hosts.v[i], e->host) == 0) {
			snprintf(e->ca_file, sizeof(e->ca_file), "%s", regs->ca_files.v[i]);
			return;
		}
	}
	if ((size_t)snprintf(e->ca_file, sizeof(e->ca_file), "%s/%s/ca.crt", regs->certs_dir,
			     e->host) >= sizeof(e->ca_file) ||
	    stat(e->ca_file, &st) < 0 || !S_ISREG(st.st_mode))
		e->ca_file[0] = '\0';
}

/* Rewrites |ref| (full string) as |location| + ref[matched:] and adds the endpoint. */
static int add_endpoint(const struct crid_registries *regs, struct crid_endpoint_list *out,
			const char *ref, long matched, const char *location, bool insecure,
			bool mirror, struct crid_err *err)
{
	char rewritten[CRID_REF_STRING_MAX * 2];
	struct crid_image_ref r;
	struct crid_endpoint *e;

	snprintf(rewritten, sizeof(rewritten), "%s%s", location[0] ? location : ref,
		 location[0] ? ref + matched : "");
	if (crid_image_ref_parse(rewritten, &r, err) < 0 || r.kind != CRID_REF_NAMED ||
	    strncmp(rewritten, r.domain, strlen(r.domain)) != 0) {
		crid_err_set(err, 0, "rewriting `%s` with `%s` gives no valid reference", ref,
			     location);
		if (err)
			err->code = EINVAL;
		return -1;
	}
	e = &out->v[out->n++];
	memset(e, 0, sizeof(*e));
	memcpy(e->host, r.domain, sizeof(e->host));
	memcpy(e->path, r.path, sizeof(e->path));
	snprintf(e->api_host, sizeof(e->api_host), "%s", crid_image_ref_api_host(r.domain));
	e->mirror = mirror;
	e->insecure = insecure || insecure_listed(regs, e);
	e->loopback = is_loopback(e->host);
	find_ca(regs, e);
	return 0;
}

void crid_endpoint_list_free(struct crid_endpoint_list *list)
{
	crid_free(list->v);
	list->v = NULL;
	list->n = 0;
}

static bool mirror_applies(const struct mirror *m, const struct crid_image_ref *ref)
{
	return m->pull == PULL_ALL || (m->pull == PULL_DIGEST_ONLY && ref->digest[0]) ||
	       (m->pull == PULL_TAG_ONLY && !ref->digest[0]);
}

static int resolve_rule(const struct crid_registries *regs, const struct rule *rule, long matched,
			const struct crid_image_ref *ref, const char *s,
			struct crid_endpoint_list *out, struct crid_err *err)
{
	if (rule->blocked) {
		crid_err_set(err, 0, "pull `%s`: registry `%s` is blocked (%s)", s, rule->prefix,
			     rule->origin);
		if (err)
			err->code = EPERM;
		return -1;
	}
	for (size_t i = 0; i < rule->n_mirrors; i++)
		if (mirror_applies(&rule->mirrors[i], ref) &&
		    add_endpoint(regs, out, s, matched, rule->mirrors[i].location,
				 rule->mirrors[i].insecure, true, err) < 0)
			return -1;
	return add_endpoint(regs, out, s, matched, rule->location, rule->insecure, false, err);
}

int crid_registries_resolve(const struct crid_registries *regs, const struct crid_image_ref *ref,
			    struct crid_endpoint_list *out, struct crid_err *err)
{
	char s[CRID_REF_STRING_MAX];
	const struct rule *rule;
	long matched;
	int r;

	out->v = NULL;
	out->n = 0;
	if (ref->kind != CRID_REF_NAMED || crid_image_ref_string(ref, s, sizeof(s)) < 0)
		return crid_err_set(err, EINVAL, "resolve: not a repository reference");
	rule = best_rule(regs, s, &matched);
	out->v = crid_calloc(rule ? rule->n_mirrors + 1 : 1, sizeof(*out->v));
	if (!out->v)
		return crid_err_set(err, ENOMEM, "resolve `%s`", s);
	r = rule ? resolve_rule(regs, rule, matched, ref, s, out, err)
		 : add_endpoint(regs, out, s, 0, "", false, false, err);
	if (r < 0)
		crid_endpoint_list_free(out);
	return r;
}
