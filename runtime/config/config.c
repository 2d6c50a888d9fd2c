/*
 * crid's configuration: built-in defaults, then the TOML file, then flags.
 * The file schema is a fixed tree of sections (struct field tables below);
 * anything not in it is an error pointing at the line and column, because a
 * silently ignored typo in a runtime config is worse than a refused start.
 */
#include "runtime/config/config.h"

#include <arpa/inet.h>
#include <errno.h>
#include <fcntl.h>
#include <getopt.h>
#include <limits.h>
#include <stdarg.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <sys/un.h>
#include <unistd.h>

#include "reactor/log.h"
#include "reactor/mem.h"
#include "runtime/config/toml.h"

#define DEFAULT_LISTEN "/run/crid/crid.sock"
#define DEFAULT_ROOT "/var/lib/crid"
#define DEFAULT_RUNROOT "/run/crid"
#define DEFAULT_LOG_LEVEL "info"
#define DEFAULT_RUNTIME "crun"
#define DEFAULT_CGROUP_MANAGER "cgroupfs"
#define DEFAULT_CNI_CONFIG_DIR "/etc/cni/net.d"
#define DEFAULT_CERTS_DIR "/etc/containers/certs.d"
#define DEFAULT_MAX_LAYER_ENTRIES 1000000 /* CRID_LAYER_DEFAULT_MAX_ENTRIES */
/* overlayfs stacks at most 500 lower layers (OVL_MAX_STACK, fs/overlayfs/params.h) */
#define MAX_MOUNTABLE_LAYERS 500
#define DEFAULT_MAX_LAYER_UNPACKED_BYTES (64ll << 30)  /* CRID_LAYER_DEFAULT_MAX_BYTES */
#define DEFAULT_MAX_IMAGE_UNPACKED_BYTES (256ll << 30) /* CRID_IMAGE_DEFAULT_MAX_BYTES */
#define DEFAULT_CNI_PLUGIN_DIRS "/opt/cni/bin", "/usr/lib/cni"
#define DEFAULT_STREAM_ADDRESS "127.0.0.1"
#define DEFAULT_METRICS_HOST "127.0.0.1"
#define DEFAULT_METRICS_PORT 9090

/* A config file is a few KiB; anything near this is a mistake or an attack. */
#define CONFIG_FILE_MAX (1024 * 1024)

/* CRI-O's default_capabilities. */
static const char *const default_caps[] = {
	"CHOWN",  "DAC_OVERRIDE", "FSETID",	      "FOWNER", "SETGID",
	"SETUID", "SETPCAP",	  "NET_BIND_SERVICE", "KILL",	NULL,
};

static const char *const default_plugin_dirs[] = { DEFAULT_CNI_PLUGIN_DIRS, NULL };

static const struct {
	const char *name, *path;
} default_runtimes[] = {
	{ "crun", "/usr/bin/crun" },
	{ "runc", "/usr/bin/runc" },
};

/* Linux capabilities (include/uapi/linux/capability.h, 6.x), without "CAP_". */
/* clang-format off */
static const char *const known_caps[] = {
	"CHOWN", "DAC_OVERRIDE", "DAC_READ_SEARCH", "FOWNER", "FSETID", "KILL", "SETGID", "SETUID",
	"SETPCAP", "LINUX_IMMUTABLE", "NET_BIND_SERVICE", "NET_BROADCAST", "NET_ADMIN", "NET_RAW",
	"IPC_LOCK", "IPC_OWNER", "SYS_MODULE", "SYS_RAWIO", "SYS_CHROOT", "SYS_PTRACE", "SYS_PACCT",
	"SYS_ADMIN", "SYS_BOOT", "SYS_NICE", "SYS_RESOURCE", "SYS_TIME", "SYS_TTY_CONFIG", "MKNOD",
	"LEASE", "AUDIT_WRITE", "AUDIT_CONTROL", "SETFCAP", "MAC_OVERRIDE", "MAC_ADMIN", "SYSLOG",
	"WAKE_ALARM", "BLOCK_SUSPEND", "AUDIT_READ", "PERFMON", "BPF", "CHECKPOINT_RESTORE",
};
/* clang-format on */

/* ---- value rules, shared by the file, the flags and validate ---- */

/* Each returns NULL when |s| is acceptable, else why not ("must be ..."). */
typedef const char *(*check_fn)(const char *s);

static const char *check_abs_path(const char *s)
{
	if (!*s)
		return "must not be empty";
	if (s[0] != '/')
		return "must be an absolute path";
	if (strlen(s) >= PATH_MAX)
		return "is longer than PATH_MAX";
	return NULL;
}

static const char *check_opt_abs_path(const char *s)
{
	return *s ? check_abs_path(s) : NULL;
}

/* A group name (as useradd(8) allows) or a numeric gid; "" = crid's own group. */
static const char *check_group(const char *s)
{
	if (strlen(s) > 32)
		return "is longer than 32 characters";
	for (const char *p = s; *p; p++)
		if (!((*p >= 'a' && *p <= 'z') || (*p >= 'A' && *p <= 'Z') ||
		      (*p >= '0' && *p <= '9') || *p == '_' || *p == '-' || *p == '.'))
			return "must be a group name or a numeric gid";
	return NULL;
}

static const char *check_socket_path(const char *s)
{
	const char *why = check_abs_path(s);

	if (!why && strlen(s) >= sizeof(((struct sockaddr_un *)0)->sun_path))
		why = "is too long for a unix socket path (107 bytes at most)";
	return why;
}

static const char *check_log_level(const char *s)
{
	enum crid_log_level level;

	return crid_log_level_parse(s, &level) < 0 ? "must be error, warn, info, debug or trace"
						   : NULL;
}

static const char *check_log_format(const char *s)
{
	return strcmp(s, "text") && strcmp(s, "json") ? "must be text or json" : NULL;
}

static const char *check_cgroup_manager(const char *s)
{
	return strcmp(s, "cgroupfs") && strcmp(s, "systemd") ? "must be cgroupfs or systemd" : NULL;
}

/* RuntimeClass handlers are RFC 1123 labels (k8s.io/api/node/v1). */
static const char *check_handler_name(const char *s)
{
	size_t n = strlen(s);

	if (n == 0 || n > 63 || s[0] == '-' || s[n - 1] == '-' ||
	    strspn(s, "abcdefghijklmnopqrstuvwxyz0123456789-") != n)
		return "must be a lowercase RFC 1123 label (a-z, 0-9, '-', at most 63 characters)";
	return NULL;
}

static const char *check_ip(const char *s)
{
	unsigned char addr[sizeof(struct in6_addr)];

	if (inet_pton(AF_INET, s, addr) == 1 || inet_pton(AF_INET6, s, addr) == 1)
		return NULL;
	return "must be an IPv4 or IPv6 address";
}

static bool has_blank_or_control(const char *s)
{
	for (; *s; s++)
		if ((unsigned char)*s <= ' ' || *s == 0x7F)
			return true;
	return false;
}

/* "HOST[:PORT]" as registries.conf writes it: no scheme, no path. */
static const char *check_registry_host(const char *s)
{
	if (!*s || strlen(s) > 255 || has_blank_or_control(s) || strchr(s, '/'))
		return "must be HOST or HOST:PORT (no scheme, path or blanks)";
	return NULL;
}

/* Mirrors and insecure registries may carry a path or a CIDR, never a scheme. */
static const char *check_location(const char *s)
{
	if (!*s || strlen(s) > 1024 || has_blank_or_control(s) || strstr(s, "://"))
		return "must be a registry location such as HOST[:PORT][/PATH] (no scheme or "
		       "blanks)";
	return NULL;
}

/* Index in known_caps of "CHOWN"/"cap_chown"/..., or -1. */
static int cap_index(const char *s)
{
	if (strncasecmp(s, "CAP_", 4) == 0)
		s += 4;
	for (size_t i = 0; i < sizeof(known_caps) / sizeof(known_caps[0]); i++)
		if (strcasecmp(s, known_caps[i]) == 0)
			return (int)i;
	return -1;
}

static const char *check_capability(const char *s)
{
	return cap_index(s) < 0 ? "must name a Linux capability such as CHOWN or NET_RAW" : NULL;
}

/* ---- strings and lists ---- */

/* Replaces |*dst| with a copy of |s|; on failure |*dst| is untouched. */
static int set_str(char **dst, const char *s)
{
	char *c = crid_strdup(s);

	if (!c)
		return -1;
	crid_free(*dst);
	*dst = c;
	return 0;
}

static void strv_free(struct crid_strv *sv)
{
	for (size_t i = 0; i < sv->n; i++)
		crid_free(sv->v[i]);
	crid_free(sv->v);
	sv->v = NULL;
	sv->n = 0;
}

/* Appends a copy of |s|; |sv| keeps a NULL after its last element. */
static int strv_push(struct crid_strv *sv, const char *s)
{
	char **v = crid_realloc(sv->v, (sv->n + 2) * sizeof(*v));

	if (!v)
		return -1;
	sv->v = v;
	v[sv->n] = crid_strdup(s);
	if (!v[sv->n])
		return -1;
	v[++sv->n] = NULL;
	return 0;
}

static int strv_copy(struct crid_strv *dst, const char *const *src, size_t n)
{
	dst->v = NULL;
	dst->n = 0;
	for (size_t i = 0; i < n; i++) {
		if (strv_push(dst, src[i]) < 0) {
			strv_free(dst);
			return -1;
		}
	}
	return 0;
}

static size_t nullv_len(const char *const *v)
{
	size_t n = 0;

	while (v[n])
		n++;
	return n;
}

/* ---- handlers and registries ---- */

static void handler_free(struct crid_runtime_handler *h)
{
	crid_free(h->name);
	crid_free(h->runtime_path);
	crid_free(h->runtime_root);
}

static void registry_free(struct crid_registry *r)
{
	crid_free(r->host);
	crid_free(r->ca_file);
	strv_free(&r->mirrors);
}

/* Appends a handler |name| with the given fields; NULL when out of memory. */
static struct crid_runtime_handler *add_runtime(struct crid_config *cfg, const char *name,
						const char *path, const char *root)
{
	struct crid_runtime_handler *v, h = { 0 };

	v = crid_realloc(cfg->runtimes, (cfg->n_runtimes + 1) * sizeof(*v));
	if (!v)
		return NULL;
	cfg->runtimes = v;
	h.name = crid_strdup(name);
	h.runtime_path = crid_strdup(path);
	h.runtime_root = crid_strdup(root);
	if (!h.name || !h.runtime_path || !h.runtime_root) {
		handler_free(&h);
		return NULL;
	}
	v[cfg->n_runtimes] = h;
	return &v[cfg->n_runtimes++];
}

static struct crid_registry *add_registry(struct crid_config *cfg, const char *host, bool insecure,
					  const char *ca_file, const struct crid_strv *mirrors)
{
	struct crid_registry *v, r = { 0 };

	v = crid_realloc(cfg->registries, (cfg->n_registries + 1) * sizeof(*v));
	if (!v)
		return NULL;
	cfg->registries = v;
	r.host = crid_strdup(host);
	r.ca_file = crid_strdup(ca_file);
	r.insecure = insecure;
	if (!r.host || !r.ca_file ||
	    strv_copy(&r.mirrors, (const char *const *)mirrors->v, mirrors->n) < 0) {
		registry_free(&r);
		return NULL;
	}
	v[cfg->n_registries] = r;
	return &v[cfg->n_registries++];
}

static struct crid_runtime_handler *find_runtime(const struct crid_config *cfg, const char *name)
{
	for (size_t i = 0; i < cfg->n_runtimes; i++)
		if (cfg->runtimes[i].name && strcmp(cfg->runtimes[i].name, name) == 0)
			return &cfg->runtimes[i];
	return NULL;
}

static struct crid_registry *find_registry(const struct crid_config *cfg, const char *host)
{
	for (size_t i = 0; i < cfg->n_registries; i++)
		if (cfg->registries[i].host && strcmp(cfg->registries[i].host, host) == 0)
			return &cfg->registries[i];
	return NULL;
}

/* ---- whole config ---- */

void crid_config_free(struct crid_config *cfg)
{
	char **strs[] = {
		&cfg->config_path,     &cfg->listen,	      &cfg->root,
		&cfg->runroot,	       &cfg->log_level,	      &cfg->default_runtime,
		&cfg->cgroup_manager,  &cfg->seccomp_profile, &cfg->cni_config_dir,
		&cfg->registries_conf, &cfg->auth_file,	      &cfg->stream_address,
		&cfg->certs_dir,       &cfg->stream_tls_cert, &cfg->stream_tls_key,
		&cfg->listen_group,    &cfg->helper_dir,      &cfg->log_format,
		&cfg->metrics_host,    &cfg->metrics_cert,    &cfg->metrics_key,
	};

	for (size_t i = 0; i < sizeof(strs) / sizeof(strs[0]); i++)
		crid_free(*strs[i]);
	strv_free(&cfg->default_capabilities);
	strv_free(&cfg->cni_plugin_dirs);
	strv_free(&cfg->insecure_registries);
	for (size_t i = 0; i < cfg->n_runtimes; i++)
		handler_free(&cfg->runtimes[i]);
	crid_free(cfg->runtimes);
	for (size_t i = 0; i < cfg->n_registries; i++)
		registry_free(&cfg->registries[i]);
	crid_free(cfg->registries);
	memset(cfg, 0, sizeof(*cfg));
}

/* NULL stays NULL (a zeroed config copies as zeroed). */
static int dup_opt(char **dst, const char *src)
{
	*dst = src ? crid_strdup(src) : NULL;
	return src && !*dst ? -1 : 0;
}

/* Deep copy, so a load can work on a copy and leave |src| intact on error. */
static int config_clone(struct crid_config *dst, const struct crid_config *src)
{
	int r = 0;

	memset(dst, 0, sizeof(*dst));
	r |= dup_opt(&dst->config_path, src->config_path);
	r |= dup_opt(&dst->listen, src->listen);
	r |= dup_opt(&dst->root, src->root);
	r |= dup_opt(&dst->runroot, src->runroot);
	r |= dup_opt(&dst->log_level, src->log_level);
	r |= dup_opt(&dst->default_runtime, src->default_runtime);
	r |= dup_opt(&dst->cgroup_manager, src->cgroup_manager);
	r |= dup_opt(&dst->seccomp_profile, src->seccomp_profile);
	r |= dup_opt(&dst->cni_config_dir, src->cni_config_dir);
	r |= dup_opt(&dst->registries_conf, src->registries_conf);
	r |= dup_opt(&dst->auth_file, src->auth_file);
	r |= dup_opt(&dst->certs_dir, src->certs_dir);
	r |= dup_opt(&dst->stream_address, src->stream_address);
	r |= dup_opt(&dst->stream_tls_cert, src->stream_tls_cert);
	r |= dup_opt(&dst->stream_tls_key, src->stream_tls_key);
	r |= dup_opt(&dst->listen_group, src->listen_group);
	r |= dup_opt(&dst->helper_dir, src->helper_dir);
	dst->listen_mode = src->listen_mode;
	r |= dup_opt(&dst->log_format, src->log_format);
	r |= dup_opt(&dst->metrics_host, src->metrics_host);
	r |= dup_opt(&dst->metrics_cert, src->metrics_cert);
	r |= dup_opt(&dst->metrics_key, src->metrics_key);
	r |= strv_copy(&dst->default_capabilities, (const char *const *)src->default_capabilities.v,
		       src->default_capabilities.n);
	r |= strv_copy(&dst->cni_plugin_dirs, (const char *const *)src->cni_plugin_dirs.v,
		       src->cni_plugin_dirs.n);
	r |= strv_copy(&dst->insecure_registries, (const char *const *)src->insecure_registries.v,
		       src->insecure_registries.n);
	for (size_t i = 0; r == 0 && i < src->n_runtimes; i++) {
		const struct crid_runtime_handler *h = &src->runtimes[i];

		if (!add_runtime(dst, h->name, h->runtime_path, h->runtime_root))
			r = -1;
	}
	for (size_t i = 0; r == 0 && i < src->n_registries; i++) {
		const struct crid_registry *g = &src->registries[i];

		if (!add_registry(dst, g->host, g->insecure, g->ca_file, &g->mirrors))
			r = -1;
	}
	dst->log_size_max = src->log_size_max;
	dst->max_layer_entries = src->max_layer_entries;
	dst->max_layers = src->max_layers;
	dst->max_layer_unpacked_bytes = src->max_layer_unpacked_bytes;
	dst->max_image_unpacked_bytes = src->max_image_unpacked_bytes;
	dst->stream_port = src->stream_port;
	dst->stream_idle_timeout = src->stream_idle_timeout;
	dst->cni_timeout = src->cni_timeout;
	dst->enable_metrics = src->enable_metrics;
	dst->metrics_port = src->metrics_port;
	if (r) {
		crid_config_free(dst);
		return -1;
	}
	return 0;
}

int crid_config_init_defaults(struct crid_config *cfg, struct crid_err *err)
{
	int r = 0;

	memset(cfg, 0, sizeof(*cfg));
	r |= dup_opt(&cfg->config_path, "");
	r |= dup_opt(&cfg->listen, DEFAULT_LISTEN);
	r |= dup_opt(&cfg->root, DEFAULT_ROOT);
	r |= dup_opt(&cfg->runroot, DEFAULT_RUNROOT);
	r |= dup_opt(&cfg->log_level, DEFAULT_LOG_LEVEL);
	r |= dup_opt(&cfg->default_runtime, DEFAULT_RUNTIME);
	r |= dup_opt(&cfg->cgroup_manager, DEFAULT_CGROUP_MANAGER);
	r |= dup_opt(&cfg->seccomp_profile, "");
	r |= dup_opt(&cfg->cni_config_dir, DEFAULT_CNI_CONFIG_DIR);
	r |= dup_opt(&cfg->registries_conf, "");
	r |= dup_opt(&cfg->auth_file, "");
	r |= dup_opt(&cfg->certs_dir, DEFAULT_CERTS_DIR);
	r |= dup_opt(&cfg->stream_address, DEFAULT_STREAM_ADDRESS);
	r |= dup_opt(&cfg->stream_tls_cert, "");
	r |= dup_opt(&cfg->stream_tls_key, "");
	r |= dup_opt(&cfg->listen_group, "");
	r |= dup_opt(&cfg->helper_dir, "");
	cfg->listen_mode = 0660;
	r |= dup_opt(&cfg->log_format, "text");
	r |= dup_opt(&cfg->metrics_host, DEFAULT_METRICS_HOST);
	r |= dup_opt(&cfg->metrics_cert, "");
	r |= dup_opt(&cfg->metrics_key, "");
	r |= strv_copy(&cfg->default_capabilities, default_caps, nullv_len(default_caps));
	r |= strv_copy(&cfg->cni_plugin_dirs, default_plugin_dirs, nullv_len(default_plugin_dirs));
	for (size_t i = 0; r == 0 && i < sizeof(default_runtimes) / sizeof(default_runtimes[0]);
	     i++)
		if (!add_runtime(cfg, default_runtimes[i].name, default_runtimes[i].path, ""))
			r = -1;
	cfg->log_size_max = -1;
	cfg->max_layer_entries = DEFAULT_MAX_LAYER_ENTRIES;
	cfg->max_layers = MAX_MOUNTABLE_LAYERS;
	cfg->max_layer_unpacked_bytes = DEFAULT_MAX_LAYER_UNPACKED_BYTES;
	cfg->max_image_unpacked_bytes = DEFAULT_MAX_IMAGE_UNPACKED_BYTES;
	cfg->stream_port = 0;
	cfg->stream_idle_timeout = 4 * 3600;
	cfg->cni_timeout = 60;
	cfg->metrics_port = DEFAULT_METRICS_PORT;
	if (r) {
		crid_config_free(cfg);
		return crid_err_set(err, ENOMEM, "config defaults");
	}
	return 0;
}

const struct crid_runtime_handler *crid_config_find_runtime(const struct crid_config *cfg,
							    const char *name)
{
	if (!name || !*name)
		name = cfg->default_runtime;
	return name ? find_runtime(cfg, name) : NULL;
}

/* ---- the TOML schema ---- */

struct loader {
	const char *name; /* file name in messages */
	struct crid_err *err;
	char path[256]; /* dotted key being applied, e.g. crid.stream.port */
	size_t path_len;
};

struct field;

typedef int (*apply_fn)(struct loader *ld, void *obj, const struct field *f,
			const struct crid_toml_value *v);

/* One key of a section: how to apply it to the object the section fills. */
struct field {
	const char *key;
	apply_fn apply;
	size_t off;		 /* member of the object */
	check_fn check;		 /* strings and string lists */
	long long min, max;	 /* integers */
	const struct field *sub; /* sub-sections */
};

static int at(struct loader *ld, unsigned line, unsigned col, const char *fmt, ...)
    __attribute__((format(printf, 4, 5)));

static int at(struct loader *ld, unsigned line, unsigned col, const char *fmt, ...)
{
	char msg[CRID_ERR_MSG_MAX];
	va_list ap;

	va_start(ap, fmt);
	vsnprintf(msg, sizeof(msg), fmt, ap);
	va_end(ap);
	crid_err_set(ld->err, 0, "%s:%u:%u: %s", ld->name, line, col, msg);
	if (ld->err)
		ld->err->code = EINVAL;
	return -1;
}

static int load_oom(struct loader *ld)
{
	return crid_err_set(ld->err, ENOMEM, "load `%s`", ld->name);
}

static void path_put(struct loader *ld, const char *s, size_t n)
{
	size_t room = sizeof(ld->path) - 1 - ld->path_len;

	if (n > room)
		n = room;
	memcpy(ld->path + ld->path_len, s, n);
	ld->path_len += n;
	ld->path[ld->path_len] = '\0';
}

static bool is_bare_key(const char *s, size_t n)
{
	if (n == 0)
		return false;
	for (size_t i = 0; i < n; i++)
		if (!(s[i] == '_' || s[i] == '-' || (s[i] >= '0' && s[i] <= '9') ||
		      (s[i] >= 'a' && s[i] <= 'z') || (s[i] >= 'A' && s[i] <= 'Z')))
			return false;
	return true;
}

/*
 * Appends ".key" to the path named in messages, quoted as TOML would
 * (crid.image.registries."127.0.0.1:5000"). Returns the mark for path_pop().
 */
static size_t path_push(struct loader *ld, const char *key, size_t n)
{
	size_t mark = ld->path_len;
	char esc[8];

	if (mark)
		path_put(ld, ".", 1);
	if (is_bare_key(key, n)) {
		path_put(ld, key, n);
		return mark;
	}
	path_put(ld, "\"", 1);
	for (size_t i = 0; i < n; i++) {
		unsigned char c = key[i];

		if (c < 0x20 || c == 0x7F || c == '"' || c == '\\') {
			snprintf(esc, sizeof(esc), "\\u%04X", c);
			path_put(ld, esc, strlen(esc));
		} else {
			path_put(ld, key + i, 1);
		}
	}
	path_put(ld, "\"", 1);
	return mark;
}

static void path_pop(struct loader *ld, size_t mark)
{
	ld->path_len = mark;
	ld->path[mark] = '\0';
}

static const char *a_type(enum crid_toml_type t)
{
	switch (t) {
	case CRID_TOML_TABLE:
		return "a table";
	case CRID_TOML_ARRAY:
		return "an array";
	case CRID_TOML_STRING:
		return "a string";
	case CRID_TOML_INTEGER:
		return "an integer";
	case CRID_TOML_FLOAT:
		return "a float";
	case CRID_TOML_BOOL:
		return "a boolean";
	}
	return "?";
}

static int expect(struct loader *ld, const struct crid_toml_value *v, enum crid_toml_type t)
{
	if (v->type == t)
		return 0;
	return at(ld, v->line, v->col, "`%s` must be %s, not %s", ld->path, a_type(t),
		  crid_toml_type_name(v->type));
}

/* A string value that is valid by |check|; |what| names it in messages. */
static int get_string(struct loader *ld, const struct crid_toml_value *v, check_fn check,
		      const char *what, const char **out)
{
	const char *why;

	if (v->type != CRID_TOML_STRING)
		return at(ld, v->line, v->col, "`%s` must be a string, not %s", what,
			  crid_toml_type_name(v->type));
	if (strlen(v->u.str.ptr) != v->u.str.len)
		return at(ld, v->line, v->col, "`%s` must not contain NUL characters", what);
	if (check && (why = check(v->u.str.ptr)))
		return at(ld, v->line, v->col, "`%s` %s", what, why);
	*out = v->u.str.ptr;
	return 0;
}

static int apply_string(struct loader *ld, void *obj, const struct field *f,
			const struct crid_toml_value *v)
{
	const char *s;

	if (get_string(ld, v, f->check, ld->path, &s) < 0)
		return -1;
	return set_str((char **)((char *)obj + f->off), s) < 0 ? load_oom(ld) : 0;
}

/* Stored canonical ("warning" becomes "warn"), so main can compare names. */
static int apply_log_level(struct loader *ld, void *obj, const struct field *f,
			   const struct crid_toml_value *v)
{
	enum crid_log_level level;
	const char *s;

	if (get_string(ld, v, check_log_level, ld->path, &s) < 0)
		return -1;
	crid_log_level_parse(s, &level);
	if (set_str((char **)((char *)obj + f->off), crid_log_level_name(level)) < 0)
		return load_oom(ld);
	return 0;
}

static int get_integer(struct loader *ld, const struct field *f, const struct crid_toml_value *v,
		       long long *out)
{
	if (expect(ld, v, CRID_TOML_INTEGER) < 0)
		return -1;
	if (v->u.integer < f->min || v->u.integer > f->max) {
		if (f->max == LLONG_MAX)
			return at(ld, v->line, v->col, "`%s` must be %lld or more", ld->path,
				  f->min);
		return at(ld, v->line, v->col, "`%s` must be between %lld and %lld", ld->path,
			  f->min, f->max);
	}
	*out = v->u.integer;
	return 0;
}

static int apply_llong(struct loader *ld, void *obj, const struct field *f,
		       const struct crid_toml_value *v)
{
	return get_integer(ld, f, v, (long long *)((char *)obj + f->off));
}

static int apply_int(struct loader *ld, void *obj, const struct field *f,
		     const struct crid_toml_value *v)
{
	long long n = 0;

	if (get_integer(ld, f, v, &n) < 0)
		return -1;
	*(int *)((char *)obj + f->off) = (int)n; /* f->min..f->max fit an int */
	return 0;
}

static int apply_bool(struct loader *ld, void *obj, const struct field *f,
		      const struct crid_toml_value *v)
{
	if (expect(ld, v, CRID_TOML_BOOL) < 0)
		return -1;
	*(bool *)((char *)obj + f->off) = v->u.boolean;
	return 0;
}

/* The strings of array |v|, each valid by |check|, as a new list in |out|. */
static int get_strv(struct loader *ld, const struct crid_toml_value *v, check_fn check,
		    bool is_caps, struct crid_strv *out)
{
	char what[sizeof(ld->path) + 32];
	const char *s;

	out->v = NULL;
	out->n = 0;
	if (expect(ld, v, CRID_TOML_ARRAY) < 0)
		return -1;
	for (size_t i = 0; i < crid_toml_len(v); i++) {
		snprintf(what, sizeof(what), "%s[%zu]", ld->path, i);
		if (get_string(ld, crid_toml_array_at(v, i), check, what, &s) < 0)
			goto fail;
		/* Capabilities are kept as CRI-O writes them: "NET_RAW", not "cap_net_raw". */
		if (is_caps)
			s = known_caps[cap_index(s)];
		if (strv_push(out, s) < 0) {
			load_oom(ld);
			goto fail;
		}
	}
	return 0;
fail:
	strv_free(out);
	return -1;
}

static int apply_strv(struct loader *ld, void *obj, const struct field *f,
		      const struct crid_toml_value *v)
{
	struct crid_strv *dst = (struct crid_strv *)((char *)obj + f->off), sv;

	if (get_strv(ld, v, f->check, f->check == check_capability, &sv) < 0)
		return -1;
	strv_free(dst);
	*dst = sv;
	return 0;
}

static const struct field *find_field(const struct field *fields, const struct crid_toml_kv *kv)
{
	for (const struct field *f = fields; f->key; f++)
		if (strlen(f->key) == kv->key_len && memcmp(f->key, kv->key, kv->key_len) == 0)
			return f;
	return NULL;
}

/* Applies every key of table |v| to |obj| through |fields|; any other key is an error. */
static int apply_table(struct loader *ld, void *obj, const struct field *fields,
		       const struct crid_toml_value *v)
{
	if (expect(ld, v, CRID_TOML_TABLE) < 0)
		return -1;
	for (size_t i = 0; i < crid_toml_len(v); i++) {
		const struct crid_toml_kv *kv = crid_toml_table_at(v, i);
		const struct field *f = find_field(fields, kv);
		size_t mark = path_push(ld, kv->key, kv->key_len);
		int r;

		if (f)
			r = f->apply(ld, obj, f, kv->value);
		else
			r = at(ld, kv->line, kv->col, "unknown %s `%s`",
			       kv->value->type == CRID_TOML_TABLE ? "table" : "key", ld->path);
		path_pop(ld, mark);
		if (r < 0)
			return -1;
	}
	return 0;
}

static int apply_section(struct loader *ld, void *obj, const struct field *f,
			 const struct crid_toml_value *v)
{
	return apply_table(ld, obj, f->sub, v);
}

/* The key of a named table (handler, registry) must be valid by |check| and NUL-free. */
static int check_name(struct loader *ld, const struct crid_toml_kv *kv, check_fn check,
		      const char *what)
{
	const char *why =
	    strlen(kv->key) != kv->key_len ? "must not contain NUL characters" : check(kv->key);

	if (why)
		return at(ld, kv->line, kv->col, "`%s`: %s name %s", ld->path, what, why);
	return expect(ld, kv->value, CRID_TOML_TABLE);
}

#define HANDLER(m) offsetof(struct crid_runtime_handler, m)
#define REGISTRY(m) offsetof(struct crid_registry, m)

static const struct field handler_fields[] = {
	{ "runtime_path", apply_string, HANDLER(runtime_path), check_abs_path, 0, 0, NULL },
	{ "runtime_root", apply_string, HANDLER(runtime_root), check_opt_abs_path, 0, 0, NULL },
	{ NULL, NULL, 0, NULL, 0, 0, NULL },
};

static const struct field registry_fields[] = {
	{ "insecure", apply_bool, REGISTRY(insecure), NULL, 0, 0, NULL },
	{ "ca_file", apply_string, REGISTRY(ca_file), check_opt_abs_path, 0, 0, NULL },
	{ "mirrors", apply_strv, REGISTRY(mirrors), check_location, 0, 0, NULL },
	{ NULL, NULL, 0, NULL, 0, 0, NULL },
};

/* [crid.runtime.runtimes.NAME]: merges into the handler of that name, or adds one. */
static int apply_runtime(struct loader *ld, struct crid_config *cfg, const struct crid_toml_kv *kv)
{
	struct crid_runtime_handler *h;

	if (check_name(ld, kv, check_handler_name, "runtime handler") < 0)
		return -1;
	h = find_runtime(cfg, kv->key);
	if (!h && !(h = add_runtime(cfg, kv->key, "", "")))
		return load_oom(ld);
	if (apply_table(ld, h, handler_fields, kv->value) < 0)
		return -1;
	if (!*h->runtime_path)
		return at(ld, kv->value->line, kv->value->col,
			  "`%s` is a new runtime handler and needs runtime_path", ld->path);
	return 0;
}

/* [crid.image.registries."HOST"]: merges into the registry of that host, or adds one. */
static int apply_registry(struct loader *ld, struct crid_config *cfg, const struct crid_toml_kv *kv)
{
	static const struct crid_strv none = { NULL, 0 };
	struct crid_registry *r;

	if (check_name(ld, kv, check_registry_host, "registry") < 0)
		return -1;
	r = find_registry(cfg, kv->key);
	if (!r && !(r = add_registry(cfg, kv->key, false, "", &none)))
		return load_oom(ld);
	return apply_table(ld, r, registry_fields, kv->value);
}

static int
apply_named_tables(struct loader *ld, struct crid_config *cfg, const struct crid_toml_value *v,
		   int (*one)(struct loader *, struct crid_config *, const struct crid_toml_kv *))
{
	if (expect(ld, v, CRID_TOML_TABLE) < 0)
		return -1;
	for (size_t i = 0; i < crid_toml_len(v); i++) {
		const struct crid_toml_kv *kv = crid_toml_table_at(v, i);
		size_t mark = path_push(ld, kv->key, kv->key_len);
		int r = one(ld, cfg, kv);

		path_pop(ld, mark);
		if (r < 0)
			return -1;
	}
	return 0;
}

static int apply_runtimes(struct loader *ld, void *obj, const struct field *f,
			  const struct crid_toml_value *v)
{
	(void)f;
	return apply_named_tables(ld, obj, v, apply_runtime);
}

static int apply_registries(struct loader *ld, void *obj, const struct field *f,
			    const struct crid_toml_value *v)
{
	(void)f;
	return apply_named_tables(ld, obj, v, apply_registry);
}

#define CFG(m) offsetof(struct crid_config, m)

static const struct field runtime_fields[] = {
	{ "default_runtime", apply_string, CFG(default_runtime), check_handler_name, 0, 0, NULL },
	{ "cgroup_manager", apply_string, CFG(cgroup_manager), check_cgroup_manager, 0, 0, NULL },
	{ "default_capabilities", apply_strv, CFG(default_capabilities), check_capability, 0, 0,
	  NULL },
	{ "seccomp_profile", apply_string, CFG(seccomp_profile), check_opt_abs_path, 0, 0, NULL },
	{ "runtimes", apply_runtimes, 0, NULL, 0, 0, NULL },
	{ NULL, NULL, 0, NULL, 0, 0, NULL },
};

static const struct field network_fields[] = {
	{ "cni_config_dir", apply_string, CFG(cni_config_dir), check_abs_path, 0, 0, NULL },
	{ "cni_plugin_dirs", apply_strv, CFG(cni_plugin_dirs), check_abs_path, 0, 0, NULL },
	{ "cni_timeout", apply_int, CFG(cni_timeout), NULL, 1, 3600, NULL },
	{ NULL, NULL, 0, NULL, 0, 0, NULL },
};

static const struct field image_fields[] = {
	{ "registries_conf", apply_string, CFG(registries_conf), check_opt_abs_path, 0, 0, NULL },
	{ "auth_file", apply_string, CFG(auth_file), check_opt_abs_path, 0, 0, NULL },
	{ "certs_dir", apply_string, CFG(certs_dir), check_abs_path, 0, 0, NULL },
	{ "max_layer_entries", apply_llong, CFG(max_layer_entries), NULL, 1, LLONG_MAX, NULL },
	{ "max_layers", apply_int, CFG(max_layers), NULL, 1, MAX_MOUNTABLE_LAYERS, NULL },
	{ "max_layer_unpacked_bytes", apply_llong, CFG(max_layer_unpacked_bytes), NULL, 1,
	  LLONG_MAX, NULL },
	{ "max_image_unpacked_bytes", apply_llong, CFG(max_image_unpacked_bytes), NULL, 1,
	  LLONG_MAX, NULL },
	{ "insecure_registries", apply_strv, CFG(insecure_registries), check_location, 0, 0, NULL },
	{ "registries", apply_registries, 0, NULL, 0, 0, NULL },
	{ NULL, NULL, 0, NULL, 0, 0, NULL },
};

static const struct field stream_fields[] = {
	{ "address", apply_string, CFG(stream_address), check_ip, 0, 0, NULL },
	{ "port", apply_int, CFG(stream_port), NULL, 0, 65535, NULL },
	{ "idle_timeout", apply_int, CFG(stream_idle_timeout), NULL, 1, 7 * 24 * 3600, NULL },
	{ "tls_cert", apply_string, CFG(stream_tls_cert), check_opt_abs_path, 0, 0, NULL },
	{ "tls_key", apply_string, CFG(stream_tls_key), check_opt_abs_path, 0, 0, NULL },
	{ NULL, NULL, 0, NULL, 0, 0, NULL },
};

static const struct field metrics_fields[] = {
	{ "enable_metrics", apply_bool, CFG(enable_metrics), NULL, 0, 0, NULL },
	{ "metrics_host", apply_string, CFG(metrics_host), check_ip, 0, 0, NULL },
	{ "metrics_port", apply_int, CFG(metrics_port), NULL, 0, 65535, NULL },
	{ "metrics_cert", apply_string, CFG(metrics_cert), check_opt_abs_path, 0, 0, NULL },
	{ "metrics_key", apply_string, CFG(metrics_key), check_opt_abs_path, 0, 0, NULL },
	{ NULL, NULL, 0, NULL, 0, 0, NULL },
};

static const struct field crid_fields[] = {
	{ "listen", apply_string, CFG(listen), check_socket_path, 0, 0, NULL },
	{ "root", apply_string, CFG(root), check_abs_path, 0, 0, NULL },
	{ "runroot", apply_string, CFG(runroot), check_abs_path, 0, 0, NULL },
	{ "log_level", apply_log_level, CFG(log_level), NULL, 0, 0, NULL },
	{ "log_format", apply_string, CFG(log_format), check_log_format, 0, 0, NULL },
	{ "log_size_max", apply_llong, CFG(log_size_max), NULL, -1, LLONG_MAX, NULL },
	{ "listen_group", apply_string, CFG(listen_group), check_group, 0, 0, NULL },
	{ "listen_mode", apply_int, CFG(listen_mode), NULL, 0, 0777, NULL },
	{ "helper_dir", apply_string, CFG(helper_dir), check_opt_abs_path, 0, 0, NULL },
	{ "runtime", apply_section, 0, NULL, 0, 0, runtime_fields },
	{ "network", apply_section, 0, NULL, 0, 0, network_fields },
	{ "image", apply_section, 0, NULL, 0, 0, image_fields },
	{ "stream", apply_section, 0, NULL, 0, 0, stream_fields },
	{ "metrics", apply_section, 0, NULL, 0, 0, metrics_fields },
	{ NULL, NULL, 0, NULL, 0, 0, NULL },
};

static const struct field root_fields[] = {
	{ "crid", apply_section, 0, NULL, 0, 0, crid_fields },
	{ NULL, NULL, 0, NULL, 0, 0, NULL },
};

/*
 * Applies the document to a copy of |cfg| and swaps it in only when every
 * key was good, so a bad file (or a failed allocation) changes nothing.
 * |record| becomes cfg->config_path when not NULL.
 */
static int load_doc(struct crid_config *cfg, const char *name, const char *buf, size_t len,
		    const char *record, struct crid_err *err)
{
	struct loader ld = { .name = name, .err = err };
	struct crid_toml_value *root;
	struct crid_config tmp;
	int r;

	if (len > CONFIG_FILE_MAX) {
		crid_err_set(err, 0, "config file `%s` is larger than 1 MiB", name);
		if (err)
			err->code = EFBIG;
		return -1;
	}
	if (crid_toml_parse(name, buf, len, &root, err) < 0)
		return -1;
	if (config_clone(&tmp, cfg) < 0) {
		crid_toml_free(root);
		return load_oom(&ld);
	}
	r = apply_table(&ld, &tmp, root_fields, root);
	if (r == 0 && record && set_str(&tmp.config_path, record) < 0)
		r = load_oom(&ld);
	crid_toml_free(root);
	if (r < 0) {
		crid_config_free(&tmp);
		return -1;
	}
	crid_config_free(cfg);
	*cfg = tmp;
	return 0;
}

int crid_config_load_buffer(struct crid_config *cfg, const char *name, const char *buf, size_t len,
			    struct crid_err *err)
{
	return load_doc(cfg, name, buf, len, NULL, err);
}

/* Reads at most CONFIG_FILE_MAX + 1 bytes, from a regular file or a pipe alike. */
static int read_config(const char *path, char **out, size_t *len, struct crid_err *err)
{
	size_t n = 0, cap = 0;
	char *buf = NULL, *nb;
	ssize_t r;
	int fd;

	fd = open(path, O_RDONLY | O_CLOEXEC | O_NOCTTY);
	if (fd < 0)
		return crid_err_set(err, errno, "open config file `%s`", path);
	for (;;) {
		if (n == cap) {
			cap = cap ? cap * 2 : 16384;
			if (cap > CONFIG_FILE_MAX + 1)
				cap = CONFIG_FILE_MAX + 1;
			if (n == cap)
				break; /* one byte too many already */
			nb = crid_realloc(buf, cap);
			if (!nb) {
				crid_err_set(err, ENOMEM, "read config file `%s`", path);
				goto fail;
			}
			buf = nb;
		}
		r = read(fd, buf + n, cap - n);
		if (r < 0 && errno == EINTR)
			continue;
		if (r < 0) {
			crid_err_set(err, errno, "read config file `%s`", path);
			goto fail;
		}
		if (r == 0)
			break;
		n += (size_t)r;
	}
	close(fd);
	*out = buf;
	*len = n;
	return 0;
fail:
	close(fd);
	crid_free(buf);
	return -1;
}

int crid_config_load_file(struct crid_config *cfg, const char *path, struct crid_err *err)
{
	size_t len = 0;
	char *buf = NULL;
	int r;

	if (read_config(path, &buf, &len, err) < 0)
		return -1;
	r = load_doc(cfg, path, buf, len, path, err);
	crid_free(buf);
	return r;
}

/* ---- command line ---- */

enum {
	OPT_ERROR = -2,
	OPT_CONFIG = 256,
	OPT_LISTEN,
	OPT_ROOT,
	OPT_RUNROOT,
	OPT_LOG_LEVEL,
	OPT_INSECURE_REGISTRY,
	OPT_REGISTRIES_CONF,
	OPT_CNI_CONFIG_DIR,
	OPT_CNI_PLUGIN_DIR,
	OPT_DEFAULT_RUNTIME,
	OPT_CGROUP_MANAGER,
	OPT_STREAM_ADDRESS,
	OPT_STREAM_PORT,
	OPT_STREAM_TLS_CERT,
	OPT_STREAM_TLS_KEY,
	OPT_LOG_FORMAT,
	OPT_ENABLE_METRICS,
	OPT_METRICS_HOST,
	OPT_METRICS_PORT,
	OPT_METRICS_CERT,
	OPT_METRICS_KEY,
	OPT_VERSION,
};

static const struct option long_opts[] = {
	{ "config", required_argument, NULL, OPT_CONFIG },
	{ "listen", required_argument, NULL, OPT_LISTEN },
	{ "root", required_argument, NULL, OPT_ROOT },
	{ "runroot", required_argument, NULL, OPT_RUNROOT },
	{ "log-level", required_argument, NULL, OPT_LOG_LEVEL },
	{ "insecure-registry", required_argument, NULL, OPT_INSECURE_REGISTRY },
	{ "registries-conf", required_argument, NULL, OPT_REGISTRIES_CONF },
	{ "cni-config-dir", required_argument, NULL, OPT_CNI_CONFIG_DIR },
	{ "cni-plugin-dir", required_argument, NULL, OPT_CNI_PLUGIN_DIR },
	{ "default-runtime", required_argument, NULL, OPT_DEFAULT_RUNTIME },
	{ "cgroup-manager", required_argument, NULL, OPT_CGROUP_MANAGER },
	{ "stream-address", required_argument, NULL, OPT_STREAM_ADDRESS },
	{ "stream-port", required_argument, NULL, OPT_STREAM_PORT },
	{ "stream-tls-cert", required_argument, NULL, OPT_STREAM_TLS_CERT },
	{ "stream-tls-key", required_argument, NULL, OPT_STREAM_TLS_KEY },
	{ "log-format", required_argument, NULL, OPT_LOG_FORMAT },
	{ "enable-metrics", no_argument, NULL, OPT_ENABLE_METRICS },
	{ "metrics-host", required_argument, NULL, OPT_METRICS_HOST },
	{ "metrics-port", required_argument, NULL, OPT_METRICS_PORT },
	{ "metrics-cert", required_argument, NULL, OPT_METRICS_CERT },
	{ "metrics-key", required_argument, NULL, OPT_METRICS_KEY },
	{ "help", no_argument, NULL, 'h' },
	{ "version", no_argument, NULL, OPT_VERSION },
	{ NULL, 0, NULL, 0 },
};

static const char *flag_name(int opt)
{
	for (const struct option *o = long_opts; o->name; o++)
		if (o->val == opt)
			return o->name;
	return "?";
}

/* The next option, -1 at the end, or OPT_ERROR with |err| naming the bad argument. */
static int next_opt(int argc, char **argv, struct crid_err *err)
{
	/* '+': stop at the first operand instead of permuting argv; ':': report a missing value. */
	int c = getopt_long(argc, argv, "+:h", long_opts, NULL);
	const char *arg = optind > 0 && optind <= argc ? argv[optind - 1] : "";

	if (c == '?') {
		if (optopt)
			crid_err_set(err, 0, "unknown flag `-%c`", optopt);
		else
			crid_err_set(err, 0, "unknown or ambiguous flag `%.*s`",
				     (int)strcspn(arg, "="), arg);
		return OPT_ERROR;
	}
	if (c == ':') {
		crid_err_set(err, 0, "flag `--%s` needs a value", flag_name(optopt));
		return OPT_ERROR;
	}
	if (c == -1 && optind < argc) {
		crid_err_set(err, 0, "unexpected argument `%s` (crid takes only flags)",
			     argv[optind]);
		return OPT_ERROR;
	}
	return c;
}

/* glibc re-initialises getopt fully only for optind = 0, so each pass starts from a clean state. */
static void getopt_reset(void)
{
	optind = 0;
	opterr = 0;
}

/* First pass: --config (wherever it is), --help and --version. */
static int scan_args(int argc, char **argv, const char **config, enum crid_config_action *action,
		     struct crid_err *err)
{
	bool help = false, version = false;
	int c;

	getopt_reset();
	while ((c = next_opt(argc, argv, err)) != -1) {
		if (c == OPT_ERROR)
			return -1;
		if (c == 'h')
			help = true;
		else if (c == OPT_VERSION)
			version = true;
		else if (c == OPT_CONFIG)
			*config = optarg;
	}
	*action = help ? CRID_CONFIG_HELP : version ? CRID_CONFIG_VERSION : CRID_CONFIG_RUN;
	return 0;
}

static int flag_invalid(int opt, const char *val, const char *why, struct crid_err *err)
{
	crid_err_set(err, 0, "flag `--%s`: `%.200s` %s", flag_name(opt), val, why);
	if (err)
		err->code = EINVAL;
	return -1;
}

static int flag_str(char **dst, int opt, const char *val, check_fn check, struct crid_err *err)
{
	const char *why = check(val);

	if (why)
		return flag_invalid(opt, val, why, err);
	if (set_str(dst, val) < 0)
		return crid_err_set(err, ENOMEM, "flag `--%s`", flag_name(opt));
	return 0;
}

static int flag_push(struct crid_strv *sv, int opt, const char *val, check_fn check,
		     struct crid_err *err)
{
	const char *why = check(val);

	if (why)
		return flag_invalid(opt, val, why, err);
	if (strv_push(sv, val) < 0)
		return crid_err_set(err, ENOMEM, "flag `--%s`", flag_name(opt));
	return 0;
}

static int flag_log_level(struct crid_config *cfg, const char *val, struct crid_err *err)
{
	enum crid_log_level level;

	if (crid_log_level_parse(val, &level) < 0)
		return flag_invalid(OPT_LOG_LEVEL, val, check_log_level(val), err);
	if (set_str(&cfg->log_level, crid_log_level_name(level)) < 0)
		return crid_err_set(err, ENOMEM, "flag `--log-level`");
	return 0;
}

static int flag_port(int *dst, int opt, const char *val, struct crid_err *err)
{
	size_t n = strlen(val);
	long port;

	if (n == 0 || n > 5 || strspn(val, "0123456789") != n || (port = atol(val)) > 65535)
		return flag_invalid(opt, val, "must be a port number (0-65535)", err);
	*dst = (int)port;
	return 0;
}

/* The first --cni-plugin-dir replaces the list from the defaults or the file; later ones add. */
static int flag_plugin_dir(struct crid_config *cfg, const char *val, bool *replaced,
			   struct crid_err *err)
{
	const char *why = check_abs_path(val);

	if (why)
		return flag_invalid(OPT_CNI_PLUGIN_DIR, val, why, err);
	if (!*replaced) {
		strv_free(&cfg->cni_plugin_dirs);
		*replaced = true;
	}
	return flag_push(&cfg->cni_plugin_dirs, OPT_CNI_PLUGIN_DIR, val, check_abs_path, err);
}

static int apply_flag(struct crid_config *cfg, int opt, const char *val, bool *replaced,
		      struct crid_err *err)
{
	switch (opt) {
	case OPT_LISTEN:
		return flag_str(&cfg->listen, opt, val, check_socket_path, err);
	case OPT_ROOT:
		return flag_str(&cfg->root, opt, val, check_abs_path, err);
	case OPT_RUNROOT:
		return flag_str(&cfg->runroot, opt, val, check_abs_path, err);
	case OPT_LOG_LEVEL:
		return flag_log_level(cfg, val, err);
	case OPT_INSECURE_REGISTRY:
		return flag_push(&cfg->insecure_registries, opt, val, check_location, err);
	case OPT_REGISTRIES_CONF:
		return flag_str(&cfg->registries_conf, opt, val, check_opt_abs_path, err);
	case OPT_CNI_CONFIG_DIR:
		return flag_str(&cfg->cni_config_dir, opt, val, check_abs_path, err);
	case OPT_CNI_PLUGIN_DIR:
		return flag_plugin_dir(cfg, val, replaced, err);
	case OPT_DEFAULT_RUNTIME:
		return flag_str(&cfg->default_runtime, opt, val, check_handler_name, err);
	case OPT_CGROUP_MANAGER:
		return flag_str(&cfg->cgroup_manager, opt, val, check_cgroup_manager, err);
	case OPT_STREAM_ADDRESS:
		return flag_str(&cfg->stream_address, opt, val, check_ip, err);
	case OPT_STREAM_PORT:
		return flag_port(&cfg->stream_port, opt, val, err);
	case OPT_STREAM_TLS_CERT:
		return flag_str(&cfg->stream_tls_cert, opt, val, check_opt_abs_path, err);
	case OPT_STREAM_TLS_KEY:
		return flag_str(&cfg->stream_tls_key, opt, val, check_opt_abs_path, err);
	case OPT_LOG_FORMAT:
		return flag_str(&cfg->log_format, opt, val, check_log_format, err);
	case OPT_ENABLE_METRICS:
		cfg->enable_metrics = true;
		return 0;
	case OPT_METRICS_HOST:
		return flag_str(&cfg->metrics_host, opt, val, check_ip, err);
	case OPT_METRICS_PORT:
		return flag_port(&cfg->metrics_port, opt, val, err);
	case OPT_METRICS_CERT:
		return flag_str(&cfg->metrics_cert, opt, val, check_opt_abs_path, err);
	case OPT_METRICS_KEY:
		return flag_str(&cfg->metrics_key, opt, val, check_opt_abs_path, err);
	default:
		return 0; /* --config, --help, --version: handled by scan_args() */
	}
}

int crid_config_from_args(struct crid_config *cfg, int argc, char **argv,
			  enum crid_config_action *action, struct crid_err *err)
{
	const char *config = NULL;
	bool replaced = false;
	int c;

	*action = CRID_CONFIG_RUN;
	if (crid_config_init_defaults(cfg, err) < 0)
		return -1;
	if (scan_args(argc, argv, &config, action, err) < 0)
		goto fail;
	if (*action != CRID_CONFIG_RUN)
		return 0;
	if (config && crid_config_load_file(cfg, config, err) < 0)
		goto fail;
	getopt_reset();
	while ((c = next_opt(argc, argv, err)) != -1) {
		if (c == OPT_ERROR || apply_flag(cfg, c, optarg, &replaced, err) < 0)
			goto fail;
	}
	return 0;
fail:
	crid_config_free(cfg);
	return -1;
}

/* ---- validation ---- */

/* Schema errors: EINVAL, prefixed as every config error is. */
#define invalid(err, ...)                                                                          \
	(crid_err_invalid((err), __VA_ARGS__), crid_err_wrap((err), "invalid configuration"))

static int validate_str(const char *key, const char *val, check_fn check, struct crid_err *err)
{
	const char *why;

	if (!val)
		return invalid(err, "`%s` is not set", key);
	why = check(val);
	if (why)
		return invalid(err, "`%s` %s (`%.200s`)", key, why, val);
	return 0;
}

static int validate_strv(const char *key, const struct crid_strv *sv, check_fn check,
			 struct crid_err *err)
{
	char what[384];

	for (size_t i = 0; i < sv->n; i++) {
		snprintf(what, sizeof(what), "%s[%zu]", key, i);
		if (validate_str(what, sv->v[i], check, err) < 0)
			return -1;
	}
	return 0;
}

static int validate_runtimes(const struct crid_config *cfg, struct crid_err *err)
{
	char key[128];

	for (size_t i = 0; i < cfg->n_runtimes; i++) {
		const struct crid_runtime_handler *h = &cfg->runtimes[i];

		if (validate_str("runtime handler name", h->name, check_handler_name, err) < 0)
			return -1;
		if (find_runtime(cfg, h->name) != h)
			return invalid(err, "runtime handler `%s` is defined twice", h->name);
		snprintf(key, sizeof(key), "crid.runtime.runtimes.%s.runtime_path", h->name);
		if (validate_str(key, h->runtime_path, check_abs_path, err) < 0)
			return -1;
		snprintf(key, sizeof(key), "crid.runtime.runtimes.%s.runtime_root", h->name);
		if (validate_str(key, h->runtime_root, check_opt_abs_path, err) < 0)
			return -1;
	}
	if (!find_runtime(cfg, cfg->default_runtime))
		return invalid(err,
			       "default runtime `%s` is not a configured runtime handler "
			       "(add [crid.runtime.runtimes.%s])",
			       cfg->default_runtime, cfg->default_runtime);
	return 0;
}

/* A TLS certificate and its key: both set or neither. */
static int validate_tls_pair(const char *table, const char *cert_key, const char *cert,
			     const char *key_key, const char *key, struct crid_err *err)
{
	if (!*cert == !*key)
		return 0;
	return invalid(err, "`%s.%s` must be set too: TLS needs both `%s` and `%s`", table,
		       *cert ? key_key : cert_key, cert_key, key_key);
}

static int validate_registries(const struct crid_config *cfg, struct crid_err *err)
{
	char key[320];

	for (size_t i = 0; i < cfg->n_registries; i++) {
		const struct crid_registry *r = &cfg->registries[i];

		if (validate_str("registry host", r->host, check_registry_host, err) < 0)
			return -1;
		if (find_registry(cfg, r->host) != r)
			return invalid(err, "registry `%s` is defined twice", r->host);
		snprintf(key, sizeof(key), "crid.image.registries.\"%s\".ca_file", r->host);
		if (validate_str(key, r->ca_file, check_opt_abs_path, err) < 0)
			return -1;
		snprintf(key, sizeof(key), "crid.image.registries.\"%s\".mirrors", r->host);
		if (validate_strv(key, &r->mirrors, check_location, err) < 0)
			return -1;
	}
	return 0;
}

int crid_config_validate(const struct crid_config *cfg, struct crid_err *err)
{
	const struct {
		const char *key, *val;
		check_fn check;
	} rules[] = {
		{ "crid.listen", cfg->listen, check_socket_path },
		{ "crid.root", cfg->root, check_abs_path },
		{ "crid.runroot", cfg->runroot, check_abs_path },
		{ "crid.log_level", cfg->log_level, check_log_level },
		{ "crid.listen_group", cfg->listen_group, check_group },
		{ "crid.helper_dir", cfg->helper_dir, check_opt_abs_path },
		{ "crid.runtime.default_runtime", cfg->default_runtime, check_handler_name },
		{ "crid.runtime.cgroup_manager", cfg->cgroup_manager, check_cgroup_manager },
		{ "crid.runtime.seccomp_profile", cfg->seccomp_profile, check_opt_abs_path },
		{ "crid.network.cni_config_dir", cfg->cni_config_dir, check_abs_path },
		{ "crid.image.registries_conf", cfg->registries_conf, check_opt_abs_path },
		{ "crid.image.auth_file", cfg->auth_file, check_opt_abs_path },
		{ "crid.image.certs_dir", cfg->certs_dir, check_abs_path },
		{ "crid.stream.address", cfg->stream_address, check_ip },
		{ "crid.stream.tls_cert", cfg->stream_tls_cert, check_opt_abs_path },
		{ "crid.stream.tls_key", cfg->stream_tls_key, check_opt_abs_path },
		{ "crid.log_format", cfg->log_format, check_log_format },
		{ "crid.metrics.metrics_host", cfg->metrics_host, check_ip },
		{ "crid.metrics.metrics_cert", cfg->metrics_cert, check_opt_abs_path },
		{ "crid.metrics.metrics_key", cfg->metrics_key, check_opt_abs_path },
	};

	for (size_t i = 0; i < sizeof(rules) / sizeof(rules[0]); i++)
		if (validate_str(rules[i].key, rules[i].val, rules[i].check, err) < 0)
			return -1;
	if (validate_strv("crid.runtime.default_capabilities", &cfg->default_capabilities,
			  check_capability, err) < 0 ||
	    validate_strv("crid.network.cni_plugin_dirs", &cfg->cni_plugin_dirs, check_abs_path,
			  err) < 0 ||
	    validate_strv("crid.image.insecure_registries", &cfg->insecure_registries,
			  check_location, err) < 0)
		return -1;
	if (cfg->cni_plugin_dirs.n == 0)
		return invalid(err,
			       "`crid.network.cni_plugin_dirs` must name at least one directory");
	if (cfg->log_size_max < -1)
		return invalid(err, "`crid.log_size_max` must be -1 or more");
	if (cfg->max_layer_entries < 1)
		return invalid(err, "`crid.image.max_layer_entries` must be 1 or more");
	if (cfg->max_layers < 1 || cfg->max_layers > MAX_MOUNTABLE_LAYERS)
		return invalid(err, "`crid.image.max_layers` must be between 1 and 500 (overlayfs "
				    "mounts at most 500 layers)");
	if (cfg->max_layer_unpacked_bytes < 1 || cfg->max_image_unpacked_bytes < 1)
		return invalid(err, "`crid.image.max_layer_unpacked_bytes` and "
				    "`max_image_unpacked_bytes` must be 1 or more");
	if (cfg->stream_port < 0 || cfg->stream_port > 65535)
		return invalid(err, "`crid.stream.port` must be between 0 and 65535");
	if (cfg->metrics_port < 0 || cfg->metrics_port > 65535)
		return invalid(err, "`crid.metrics.metrics_port` must be between 0 and 65535");
	if (validate_tls_pair("crid.stream", "tls_cert", cfg->stream_tls_cert, "tls_key",
			      cfg->stream_tls_key, err) < 0 ||
	    validate_tls_pair("crid.metrics", "metrics_cert", cfg->metrics_cert, "metrics_key",
			      cfg->metrics_key, err) < 0)
		return -1;
	if (validate_runtimes(cfg, err) < 0 || validate_registries(cfg, err) < 0)
		return -1;
	return 0;
}

/* ---- help ---- */

const char *crid_config_usage(void)
{
	return "Usage: crid [FLAGS]\n"
	       "\n"
	       "crid is a Kubernetes CRI runtime daemon. Settings come from the built-in\n"
	       "defaults, then the --config file, then these flags (flags win).\n"
	       "\n"
	       "  --config FILE             TOML configuration file, see config.example.toml\n"
	       "                            (default: none)\n"
	       "  --listen PATH             CRI unix socket (default: " DEFAULT_LISTEN ")\n"
	       "  --root DIR                persistent state (default: " DEFAULT_ROOT ")\n"
	       "  --runroot DIR             state that does not survive a reboot\n"
	       "                            (default: " DEFAULT_RUNROOT ")\n"
	       "  --log-level LEVEL         error, warn, info, debug or trace\n"
	       "                            (default: " DEFAULT_LOG_LEVEL ")\n"
	       "  --log-format FORMAT       text or json (one JSON object per line)\n"
	       "                            (default: text)\n"
	       "  --default-runtime NAME    runtime handler for pods without a RuntimeClass\n"
	       "                            (default: " DEFAULT_RUNTIME ")\n"
	       "  --cgroup-manager NAME     cgroupfs or systemd (default: " DEFAULT_CGROUP_MANAGER
	       ")\n"
	       "  --cni-config-dir DIR      CNI network configurations\n"
	       "                            (default: " DEFAULT_CNI_CONFIG_DIR ")\n"
	       "  --cni-plugin-dir DIR      CNI plugin binaries; repeatable, the first use\n"
	       "                            replaces the list (default: /opt/cni/bin, "
	       "/usr/lib/cni)\n"
	       "  --registries-conf FILE    containers-registries.conf(5) file (default: none)\n"
	       "  --insecure-registry HOST  registry to reach over plain HTTP or without TLS\n"
	       "                            verification; repeatable, adds to the list\n"
	       "                            (default: none)\n"
	       "  --stream-address ADDR     exec/attach/port-forward server address\n"
	       "                            (default: " DEFAULT_STREAM_ADDRESS ")\n"
	       "  --stream-port PORT        its port, 0 = any free port (default: 0)\n"
	       "  --stream-tls-cert FILE    PEM certificate: serve it over TLS (https)\n"
	       "  --stream-tls-key FILE     its PEM private key (both or neither)\n"
	       "  --enable-metrics          serve Prometheus metrics at /metrics\n"
	       "  --metrics-host ADDR       their address (default: " DEFAULT_METRICS_HOST ")\n"
	       "  --metrics-port PORT       their port, 0 = any free port (default: 9090)\n"
	       "  --metrics-cert FILE       PEM certificate: serve them over TLS (https)\n"
	       "  --metrics-key FILE        its PEM private key (both or neither)\n"
	       "  -h, --help                print this help and exit\n"
	       "  --version                 print the version and exit\n";
}
