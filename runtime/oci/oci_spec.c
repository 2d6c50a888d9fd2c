/*
 * config.json for a container, from the CRI request, the pod and the image
 * config. The build runs in two passes: everything that can fail (the image's
 * user database, host paths, devices, profile files, names) is checked and
 * collected first into struct build, then the JSON is written in one go, so
 * no half-written spec is ever produced. The choices follow containerd's CRI
 * plugin and CRI-O; each place says which.
 */
#include "runtime/oci/oci_spec.h"

#include <ctype.h>
#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <sys/capability.h>
#include <sys/resource.h>
#include <sys/stat.h>
#include <sys/sysmacros.h>
#include <unistd.h>
#include <yajl/yajl_gen.h>
#include <yajl/yajl_tree.h>

#include "reactor/log.h"
#include "reactor/mem.h"
#include "runtime/oci/mount_prop.h"
#include "runtime/oci/oci_json.h"
#include "runtime/oci/oci_seccomp.h"
#include "runtime/oci/oci_user.h"

#define G(s) CRID_OCI_GSTR(g, s)
#define SEC "linux.security_context."
#define DEFAULT_PATH "/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin"
#define NOFILE_DEFAULT 1048576 /* CRI-O's default_ulimits nofile */
#define MAX_HOST_DEVICES 1024

/* CRI-O's defaults (server/container_create_linux.go), used when the request sets none. */
static const char *const default_masked[] = {
	"/proc/acpi",	     "/proc/kcore",
	"/proc/keys",	     "/proc/latency_stats",
	"/proc/timer_list",  "/proc/timer_stats",
	"/proc/sched_debug", "/proc/scsi",
	"/sys/firmware",     "/sys/devices/virtual/powercap",
};
static const char *const default_readonly[] = {
	"/proc/asound", "/proc/bus", "/proc/fs", "/proc/irq", "/proc/sys", "/proc/sysrq-trigger",
};
#define NELEM(a) (sizeof(a) / sizeof((a)[0]))

struct dev {
	char *path; /* in the container */
	char type;  /* 'c' or 'b' */
	unsigned major, minor;
	mode_t mode;
	uid_t uid;
	gid_t gid;
	const char *access;
};

struct build {
	const struct crid_oci_input *in;
	const struct crid_ctr_spec *spec;
	const struct crid_ctr_security *sec;
	const struct crid_ctr_pod *pod;
	yajl_val img, icfg; /* the image config and its "config" object (either may be NULL) */
	const char **args;
	size_t n_args;
	char **env;
	size_t n_env;
	const char *cwd;
	uint64_t caps;
	bool has_seccomp;
	struct crid_oci_seccomp seccomp;
	struct crid_ctr_user user;
	size_t *mount_order; /* request mounts by destination depth */
	struct dev *devs;
	size_t n_devs;
	int64_t oom_score_adj;
	unsigned long long nofile;
	int stop_signal;
};

/* ---- image config ---- */

static yajl_val img_get(const struct build *b, const char *key, yajl_type t)
{
	return crid_oci_get(b->icfg, key, t);
}

static int parse_image(struct build *b, struct crid_err *err)
{
	char ebuf[256];
	const char *cfg = b->in->image_config;

	if (!cfg || !*cfg)
		return 0;
	b->img = yajl_tree_parse(cfg, ebuf, sizeof(ebuf));
	if (!b->img || !YAJL_IS_OBJECT(b->img)) {
		ebuf[strcspn(ebuf, "\n")] = '\0';
		return crid_err_invalid(err, "image config: invalid JSON: %s",
					b->img ? "not an object" : ebuf);
	}
	b->icfg = crid_oci_get(b->img, "config", yajl_t_object);
	return 0;
}

/* ---- process: args, env, cwd ---- */

static int push_strings(struct build *b, yajl_val arr, const char *const *v, size_t n,
			struct crid_err *err)
{
	size_t add = arr ? arr->u.array.len : n;
	const char **na = crid_realloc(b->args, (b->n_args + add + 1) * sizeof(*na));

	if (!na)
		return crid_err_set(err, ENOMEM, "process args");
	b->args = na;
	for (size_t i = 0; i < add; i++) {
		const char *s = arr ? YAJL_GET_STRING(arr->u.array.values[i]) : v[i];

		if (!s)
			return crid_err_invalid(err,
						"image config: Entrypoint/Cmd must hold strings");
		b->args[b->n_args++] = s;
	}
	return 0;
}

/* Kubernetes: command replaces Entrypoint (and drops Cmd); args replace Cmd. */
static int build_args(struct build *b, struct crid_err *err)
{
	const struct crid_ctr_spec *s = b->spec;
	yajl_val ep = img_get(b, "Entrypoint", yajl_t_array);
	yajl_val cmd = img_get(b, "Cmd", yajl_t_array);
	int r;

	if (s->n_command)
		r = push_strings(b, NULL, s->command, s->n_command, err);
	else
		r = ep ? push_strings(b, ep, NULL, 0, err) : 0;
	if (r == 0 && (s->n_command || s->n_args))
		r = push_strings(b, NULL, s->args, s->n_args, err);
	else if (r == 0 && cmd)
		r = push_strings(b, cmd, NULL, 0, err);
	if (r < 0)
		return -1;
	if (b->n_args == 0 || !b->args[0][0])
		return crid_err_invalid(err,
					"no command specified: neither the container's command "
					"nor the image's Entrypoint/Cmd");
	return 0;
}

/* Sets KEY=VALUE, replacing an earlier entry of the same key. */
static int set_env(struct build *b, const char *key, size_t klen, const char *value,
		   struct crid_err *err)
{
	size_t vlen = strlen(value);
	char *kv = crid_malloc(klen + vlen + 2), **nv;

	if (!kv)
		return crid_err_set(err, ENOMEM, "process env");
	memcpy(kv, key, klen);
	kv[klen] = '=';
	memcpy(kv + klen + 1, value, vlen + 1);
	for (size_t i = 0; i < b->n_env; i++) {
		if (strncmp(b->env[i], key, klen) == 0 && b->env[i][klen] == '=') {
			crid_free(b->env[i]);
			b->env[i] = kv;
			return 0;
		}
	}
	nv = crid_realloc(b->env, (b->n_env + 1) * sizeof(*nv));
	if (!nv) {
		crid_free(kv);
		return crid_err_set(err, ENOMEM, "process env");
	}
	b->env = nv;
	b->env[b->n_env++] = kv;
	return 0;
}

static bool has_env(const struct build *b, const char *key)
{
	size_t klen = strlen(key);

	for (size_t i = 0; i < b->n_env; i++)
		if (strncmp(b->env[i], key, klen) == 0 && b->env[i][klen] == '=')
			return true;
	return false;
}

/* The image's Env, then HOSTNAME (as CRI-O), then the request's envs; PATH if none set it. */
static int build_env(struct build *b, struct crid_err *err)
{
	yajl_val ienv = img_get(b, "Env", yajl_t_array);

	for (size_t i = 0; ienv && i < ienv->u.array.len; i++) {
		const char *kv = YAJL_GET_STRING(ienv->u.array.values[i]);
		const char *eq = kv ? strchr(kv, '=') : NULL;

		if (!kv)
			return crid_err_invalid(err, "image config: Env[%zu] is not a string", i);
		if (set_env(b, kv, eq ? (size_t)(eq - kv) : strlen(kv), eq ? eq + 1 : "", err) < 0)
			return -1;
	}
	if (b->pod->hostname && *b->pod->hostname &&
	    set_env(b, "HOSTNAME", 8, b->pod->hostname, err) < 0)
		return -1;
	for (size_t i = 0; i < b->spec->n_envs; i++) {
		const struct crid_ctr_env *e = &b->spec->envs[i];

		if (!e->key || !*e->key || strchr(e->key, '='))
			return crid_err_invalid(err, "envs[%zu].key: `%s` is not a variable name",
						i, e->key ? e->key : "");
		if (set_env(b, e->key, strlen(e->key), e->value ? e->value : "", err) < 0)
			return -1;
	}
	if (!has_env(b, "PATH") && set_env(b, "PATH", 4, DEFAULT_PATH, err) < 0)
		return -1;
	return 0;
}

static int build_cwd(struct build *b, struct crid_err *err)
{
	yajl_val wd = img_get(b, "WorkingDir", yajl_t_string);

	b->cwd = "/";
	if (b->spec->working_dir && *b->spec->working_dir) {
		if (b->spec->working_dir[0] != '/')
			return crid_err_invalid(err, "working_dir: `%s` is not an absolute path",
						b->spec->working_dir);
		b->cwd = b->spec->working_dir;
	} else if (wd && wd->u.string[0] == '/') {
		/* A relative image WorkingDir is meaningless to the runtime: Docker builds none. */
		b->cwd = wd->u.string;
	}
	return 0;
}

/* "SIGTERM", "TERM", "15", "SIGRTMIN+3": 0 when not a signal. */
static int parse_signal(const char *s)
{
	char *end;
	long n;

	if (isdigit((unsigned char)*s)) {
		n = strtol(s, &end, 10);
		return *end || n < 1 || n >= NSIG ? 0 : (int)n;
	}
	if (strncasecmp(s, "SIG", 3) == 0)
		s += 3;
	if (strncasecmp(s, "RTMIN+", 6) == 0 || strncasecmp(s, "RTMAX-", 6) == 0) {
		n = strtol(s + 6, &end, 10);
		n = s[5] == '+' ? SIGRTMIN + n : SIGRTMAX - n;
		return *end || n < SIGRTMIN || n > SIGRTMAX ? 0 : (int)n;
	}
	for (int i = 1; i < NSIG; i++) {
		const char *name = sigabbrev_np(i);

		if (name && strcasecmp(name, s) == 0)
			return i;
	}
	return 0;
}

static int build_stop_signal(struct build *b, struct crid_err *err)
{
	yajl_val v = img_get(b, "StopSignal", yajl_t_string);

	b->stop_signal = SIGTERM;
	if (b->spec->stop_signal > 0) {
		if (b->spec->stop_signal >= NSIG)
			return crid_err_invalid(err, "stop_signal: %d is not a signal",
						b->spec->stop_signal);
		b->stop_signal = b->spec->stop_signal;
	} else if (v && *v->u.string) {
		b->stop_signal = parse_signal(v->u.string);
		if (!b->stop_signal)
			return crid_err_invalid(err, "image config StopSignal `%s` is not a signal",
						v->u.string);
	}
	return 0;
}

/* ---- capabilities ---- */

/* What crid itself holds: a container can get no more (root here lacks CAP_SYS_RESOURCE). */
static uint64_t host_caps(const struct crid_host *h)
{
	int last = h && h->last_cap >= 0 ? h->last_cap : CAP_LAST_CAP;
	uint64_t mask = last >= 63 ? ~0ULL : (1ULL << (last + 1)) - 1;

	return h && h->last_cap >= 0 ? h->cap_eff & mask : mask;
}

static bool is_all(const char *s)
{
	return strcasecmp(s, "ALL") == 0;
}

static int check_caps(const char *const *v, size_t n, const char *field, struct crid_err *err)
{
	for (size_t i = 0; i < n; i++)
		if (!is_all(v[i]) && crid_oci_cap_parse(v[i]) < 0)
			return crid_err_invalid(err,
						SEC "capabilities.%s[%zu]: unknown capability `%s`",
						field, i, v[i]);
	return 0;
}

/*
 * containerd's order: ALL in add gives every capability, ALL in drop none,
 * then single adds, then single drops. Privileged: everything crid holds.
 */
static int build_caps(struct build *b, struct crid_err *err)
{
	const struct crid_ctr_security *sec = b->sec;
	const struct crid_strv *def = &b->in->cfg->default_capabilities;
	uint64_t host = host_caps(b->in->host);

	if (check_caps(sec->cap_add, sec->n_cap_add, "add_capabilities", err) < 0 ||
	    check_caps(sec->cap_drop, sec->n_cap_drop, "drop_capabilities", err) < 0)
		return -1;
	if (sec->privileged) {
		b->caps = host;
		return 0;
	}
	b->caps = 0;
	for (size_t i = 0; i < def->n; i++) {
		int c = crid_oci_cap_parse(def->v[i]);

		if (c >= 0)
			b->caps |= 1ULL << c;
	}
	/* A default the host lacks cannot be granted; the runtime would fail on it. */
	b->caps &= host;
	for (size_t i = 0; i < sec->n_cap_add; i++)
		if (is_all(sec->cap_add[i]))
			b->caps = host;
	for (size_t i = 0; i < sec->n_cap_drop; i++)
		if (is_all(sec->cap_drop[i]))
			b->caps = 0;
	for (size_t i = 0; i < sec->n_cap_add; i++) {
		int c = is_all(sec->cap_add[i]) ? -1 : crid_oci_cap_parse(sec->cap_add[i]);

		if (c < 0)
			continue;
		if (!(host >> c & 1))
			return crid_err_set(err, EPERM,
					    SEC "capabilities.add_capabilities[%zu]: crid does not "
						"hold `%s` on this host, so no container can",
					    i, sec->cap_add[i]);
		b->caps |= 1ULL << c;
	}
	for (size_t i = 0; i < sec->n_cap_drop; i++) {
		int c = is_all(sec->cap_drop[i]) ? -1 : crid_oci_cap_parse(sec->cap_drop[i]);

		if (c >= 0)
			b->caps &= ~(1ULL << c);
	}
	return 0;
}

static void gen_cap_list(yajl_gen g, uint64_t caps)
{
	yajl_gen_array_open(g);
	for (int c = 0; c < 64; c++) {
		char *name, up[64];
		size_t i;

		if (!(caps >> c & 1) || !(name = cap_to_name(c)))
			continue;
		for (i = 0; name[i] && i < sizeof(up) - 1; i++)
			up[i] = (char)toupper((unsigned char)name[i]);
		up[i] = '\0';
		cap_free(name);
		if (strncmp(up, "CAP_", 4) == 0)
			G(up);
	}
	yajl_gen_array_close(g);
}

/* ---- seccomp, apparmor ---- */

static int build_seccomp(struct build *b, struct crid_err *err)
{
	const char *deflt = b->in->cfg->seccomp_profile;

	/*
	 * CRI: an unset profile means Unconfined (the deprecated
	 * seccomp_profile_path "" said so; containerd does the same, and kubelet
	 * always sets the field). Privileged containers get no filter, as in
	 * containerd and CRI-O.
	 */
	switch (b->sec->seccomp) {
	case CRID_SECCOMP_UNSET:
	case CRID_SECCOMP_UNCONFINED:
		return 0;
	case CRID_SECCOMP_RUNTIME_DEFAULT:
		if (b->sec->privileged)
			return 0;
		b->has_seccomp = true;
		return crid_oci_seccomp_load(&b->seccomp, deflt && *deflt ? deflt : NULL,
					     "seccomp_profile (crid config)", err);
	case CRID_SECCOMP_LOCALHOST:
		if (!b->sec->seccomp_localhost || !*b->sec->seccomp_localhost)
			return crid_err_invalid(err, SEC "seccomp.localhost_ref: empty");
		if (b->sec->privileged)
			return 0;
		b->has_seccomp = true;
		return crid_oci_seccomp_load(&b->seccomp, b->sec->seccomp_localhost,
					     SEC "seccomp.localhost_ref", err);
	}
	return crid_err_invalid(err, SEC "seccomp: unknown profile type %d", b->sec->seccomp);
}

static bool apparmor_enabled(void)
{
	static int enabled = -1;
	char c = 'N';
	int fd;

	if (enabled < 0) {
		fd = open("/sys/module/apparmor/parameters/enabled", O_RDONLY | O_CLOEXEC);
		if (fd >= 0) {
			if (read(fd, &c, 1) != 1)
				c = 'N';
			close(fd);
		}
		enabled = c == 'Y';
	}
	return enabled;
}

/* The profile name for process.apparmorProfile, "" for none. */
static int build_apparmor(struct build *b, const char **out, struct crid_err *err)
{
	const char *p = b->sec->apparmor_profile ? b->sec->apparmor_profile : "";

	*out = "";
	if (!*p || strcmp(p, "runtime/default") == 0 || strcmp(p, "unconfined") == 0)
		return 0; /* crid ships no AppArmor profile of its own */
	if (!apparmor_enabled())
		return crid_err_invalid(err,
					SEC "apparmor: profile `%s` requested but AppArmor is not "
					    "enabled on this host",
					p);
	if (strncmp(p, "localhost/", 10) != 0 || !p[10])
		return crid_err_invalid(err, SEC "apparmor: unknown profile `%s`", p);
	*out = p + 10;
	return 0;
}

/* ---- mounts ---- */

/* Components of an absolute path ("/a//b/" is 2), for containerd's mount order. */
static size_t path_depth(const char *p)
{
	size_t n = 0;

	while (*p) {
		size_t len;

		p += strspn(p, "/");
		len = strcspn(p, "/");
		if (len && !(len == 1 && *p == '.'))
			n++;
		p += len;
	}
	return n;
}

/* Equal as paths: "/dev/shm/" is "/dev/shm". */
static bool same_path(const char *a, const char *b)
{
	for (;;) {
		a += strspn(a, "/");
		b += strspn(b, "/");
		size_t la = strcspn(a, "/"), lb = strcspn(b, "/");

		if (la != lb || memcmp(a, b, la) != 0)
			return false;
		if (!la)
			return true;
		a += la;
		b += lb;
	}
}

/*
 * What non-private propagation needs. Bidirectional only for a privileged
 * container, as the Kubernetes API validates it (an unprivileged one cannot
 * mount anyway, and an rshared root would only widen what it shares). And a
 * source mount that propagates at all: shared for Bidirectional, shared or
 * slave for HostToContainer, as containerd's ensureShared and
 * ensureSharedOrSlave check; over a private one the runtime would accept the
 * spec and silently propagate nothing. That is the node's state, not the
 * request's: EBUSY (FAILED_PRECONDITION) naming the mount to change.
 */
static int check_propagation(const struct build *b, size_t i, const struct crid_ctr_mount *m,
			     struct crid_err *err)
{
	bool bidi = m->propagation == CRID_PROPAGATION_BIDIRECTIONAL;
	const char *mode = bidi ? "Bidirectional" : "HostToContainer";
	struct crid_mount_prop mp;
	struct crid_err e;
	static bool no_mnt_id_logged;

	if (m->propagation == CRID_PROPAGATION_PRIVATE)
		return 0;
	if (bidi && !b->sec->privileged)
		return crid_err_invalid(err,
					"mounts[%zu].propagation: Bidirectional needs a privileged "
					"container",
					i);
	if (crid_mount_prop_of(m->host_path, &mp, &e) < 0) {
		if (e.code != ENOTSUP)
			return crid_err_cause(err, e.code, "mounts[%zu].host_path: %s", i, e.msg);
		if (!no_mnt_id_logged)
			crid_log_info("mount propagation of sources unchecked: %s (logged once)",
				      e.msg);
		no_mnt_id_logged = true;
		return 0;
	}
	if (mp.shared || (!bidi && mp.slave))
		return 0;
	return crid_err_cause(err, EBUSY,
			      "mounts[%zu].propagation: %s needs host_path `%s` on a %s mount; "
			      "its mount `%s` is %s",
			      i, mode, m->host_path, bidi ? "shared" : "shared or slave",
			      mp.mount_point, mp.slave ? "a slave" : "private");
}
static int check_mounts(struct build *b, struct crid_err *err)
{
	const struct crid_ctr_spec *s = b->spec;
	struct stat st;

	b->mount_order = crid_calloc(s->n_mounts + 1, sizeof(*b->mount_order));
	if (!b->mount_order)
		return crid_err_set(err, ENOMEM, "mounts");
	for (size_t i = 0; i < s->n_mounts; i++) {
		const struct crid_ctr_mount *m = &s->mounts[i];
		static bool relabel_logged;

		if (!m->container_path || m->container_path[0] != '/')
			return crid_err_invalid(err,
						"mounts[%zu].container_path: `%s` is not an "
						"absolute path",
						i, m->container_path ? m->container_path : "");
		if (m->image_volume)
			return crid_err_invalid(err,
						"mounts[%zu]: image volume mounts are not "
						"supported yet",
						i);
		if (!m->host_path || m->host_path[0] != '/')
			return crid_err_invalid(err,
						"mounts[%zu].host_path: `%s` is not an "
						"absolute path",
						i, m->host_path ? m->host_path : "");
		if (stat(m->host_path, &st) < 0)
			return crid_err_set(err, errno, "mounts[%zu].host_path `%s`", i,
					    m->host_path);
		if (m->recursive_readonly &&
		    (!m->readonly || m->propagation != CRID_PROPAGATION_PRIVATE))
			return crid_err_invalid(err,
						"mounts[%zu]: recursive_read_only needs "
						"readonly and private propagation",
						i);
		if (m->propagation > CRID_PROPAGATION_BIDIRECTIONAL)
			return crid_err_invalid(err, "mounts[%zu].propagation: unknown value %d", i,
						(int)m->propagation);
		if (check_propagation(b, i, m, err) < 0)
			return -1;
		for (size_t j = 0; j < i; j++)
			if (same_path(m->container_path, s->mounts[j].container_path))
				return crid_err_invalid(err,
							"mounts[%zu].container_path: `%s` is "
							"mounted twice",
							i, m->container_path);
		if (m->selinux_relabel && !relabel_logged) {
			relabel_logged = true;
			crid_log_info("mount selinux_relabel ignored: no SELinux on this host "
				      "(logged once)");
		}
	}
	/* Stable insertion sort by depth: parents before what is mounted inside them. */
	for (size_t i = 0; i < s->n_mounts; i++) {
		size_t j = i, d = path_depth(s->mounts[i].container_path);

		while (j > 0 && path_depth(s->mounts[b->mount_order[j - 1]].container_path) > d) {
			b->mount_order[j] = b->mount_order[j - 1];
			j--;
		}
		b->mount_order[j] = i;
	}
	return 0;
}

static bool overridden(const struct build *b, const char *dest)
{
	for (size_t i = 0; i < b->spec->n_mounts; i++)
		if (same_path(b->spec->mounts[i].container_path, dest))
			return true;
	return false;
}

static void gen_mount(yajl_gen g, const char *dest, const char *type, const char *src,
		      const char *const *opts)
{
	yajl_gen_map_open(g);
	G("destination");
	G(dest);
	G("type");
	G(type);
	G("source");
	G(src);
	G("options");
	yajl_gen_array_open(g);
	for (; *opts; opts++)
		G(*opts);
	yajl_gen_array_close(g);
	yajl_gen_map_close(g);
}

/* containerd's populateDefaultUnixSpec plus CRI's cgroup mount; /sys rw when privileged. */
static void gen_default_mounts(yajl_gen g, const struct build *b)
{
	const char *ro = b->sec->privileged ? "rw" : "ro";
	const char *const proc[] = { "nosuid", "noexec", "nodev", NULL };
	const char *const dev[] = { "nosuid", "strictatime", "mode=755", "size=65536k", NULL };
	const char *const pts[] = { "nosuid",	 "noexec", "newinstance", "ptmxmode=0666",
				    "mode=0620", "gid=5",  NULL };
	const char *const sys[] = { "nosuid", "noexec", "nodev", ro, NULL };
	const char *const cg[] = { "nosuid", "noexec", "nodev", "relatime", ro, NULL };
	const char *const shm[] = { "nosuid", "noexec", "nodev", "mode=1777", "size=65536k", NULL };
	const char *const shm_bind[] = { "rbind", "rprivate", "nosuid", "noexec", "nodev", NULL };
	const char *const etc[] = { "rbind", "rprivate", b->sec->readonly_rootfs ? "ro" : "rw",
				    NULL };
	const struct crid_ctr_pod *p = b->pod;
	const struct {
		const char *dest, *file;
	} files[] = { { "/etc/hosts", p->hosts_file },
		      { "/etc/resolv.conf", p->resolv_file },
		      { "/etc/hostname", p->hostname_file } };

	if (!overridden(b, "/proc"))
		gen_mount(g, "/proc", "proc", "proc", proc);
	if (!overridden(b, "/dev"))
		gen_mount(g, "/dev", "tmpfs", "tmpfs", dev);
	if (!overridden(b, "/dev/pts"))
		gen_mount(g, "/dev/pts", "devpts", "devpts", pts);
	if (!overridden(b, "/dev/mqueue"))
		gen_mount(g, "/dev/mqueue", "mqueue", "mqueue", proc);
	if (!overridden(b, "/sys"))
		gen_mount(g, "/sys", "sysfs", "sysfs", sys);
	if (!overridden(b, "/sys/fs/cgroup"))
		gen_mount(g, "/sys/fs/cgroup", "cgroup", "cgroup", cg);
	if (!overridden(b, "/dev/shm")) {
		if (p->shm_dir && *p->shm_dir)
			gen_mount(g, "/dev/shm", "bind", p->shm_dir, shm_bind);
		else
			gen_mount(g, "/dev/shm", "tmpfs", "shm", shm);
	}
	for (size_t i = 0; i < NELEM(files); i++)
		if (files[i].file && *files[i].file && !overridden(b, files[i].dest))
			gen_mount(g, files[i].dest, "bind", files[i].file, etc);
}

static void gen_mounts(yajl_gen g, const struct build *b)
{
	static const char *const prop[] = { "rprivate", "rslave", "rshared" };

	G("mounts");
	yajl_gen_array_open(g);
	gen_default_mounts(g, b);
	for (size_t k = 0; k < b->spec->n_mounts; k++) {
		const struct crid_ctr_mount *m = &b->spec->mounts[b->mount_order[k]];
		const char *opts[5] = { "rbind", m->readonly ? "ro" : "rw", prop[m->propagation],
					NULL, NULL };

		/* "rro" (mount_setattr AT_RECURSIVE) is in runc >= 1.1's features list. */
		if (m->recursive_readonly)
			opts[3] = "rro";
		gen_mount(g, m->container_path, "bind", m->host_path, opts);
	}
	yajl_gen_array_close(g);
}

/* ---- devices ---- */

static int add_dev(struct build *b, const char *cpath, const struct stat *st, const char *access,
		   struct crid_err *err)
{
	struct dev *nd = crid_realloc(b->devs, (b->n_devs + 1) * sizeof(*nd));

	if (!nd)
		return crid_err_set(err, ENOMEM, "devices");
	b->devs = nd;
	nd = &b->devs[b->n_devs];
	nd->path = crid_strdup(cpath);
	if (!nd->path)
		return crid_err_set(err, ENOMEM, "devices");
	b->n_devs++;
	nd->type = S_ISBLK(st->st_mode) ? 'b' : 'c';
	nd->major = major(st->st_rdev);
	nd->minor = minor(st->st_rdev);
	nd->mode = st->st_mode & 07777;
	nd->uid = st->st_uid;
	nd->gid = st->st_gid;
	nd->access = access;
	return 0;
}

/* containerd's HostDevices: every device node under /dev, bounded. */
static int walk_host_devices(struct build *b, const char *dir, int depth, struct crid_err *err)
{
	static const char *const skip[] = { "pts",  "shm",	   "fd",    "mqueue",
					    ".lxc", ".lxd-mounts", ".udev", "console" };
	DIR *d = opendir(dir);
	struct dirent *de;
	int r = 0;

	if (!d)
		return 0;
	while (r == 0 && (de = readdir(d)) && b->n_devs < MAX_HOST_DEVICES) {
		char path[PATH_MAX];
		struct stat st;
		bool skipped = de->d_name[0] == '.' &&
			       (!de->d_name[1] || (de->d_name[1] == '.' && !de->d_name[2]));

		for (size_t i = 0; i < NELEM(skip) && !skipped; i++)
			skipped = strcmp(de->d_name, skip[i]) == 0;
		if (skipped ||
		    snprintf(path, sizeof(path), "%s/%s", dir, de->d_name) >= (int)sizeof(path) ||
		    lstat(path, &st) < 0)
			continue;
		if (S_ISDIR(st.st_mode) && depth < 3)
			r = walk_host_devices(b, path, depth + 1, err);
		else if (S_ISCHR(st.st_mode) || S_ISBLK(st.st_mode))
			r = add_dev(b, path, &st, "rwm", err);
	}
	closedir(d);
	return r;
}

static int build_devices(struct build *b, struct crid_err *err)
{
	for (size_t i = 0; i < b->spec->n_devices; i++) {
		const struct crid_ctr_device *d = &b->spec->devices[i];
		const char *perm = d->permissions && *d->permissions ? d->permissions : "rwm";
		struct stat st;

		if (!d->container_path || d->container_path[0] != '/')
			return crid_err_invalid(err,
						"devices[%zu].container_path: not an absolute "
						"path",
						i);
		if (strspn(perm, "rwm") != strlen(perm))
			return crid_err_invalid(err,
						"devices[%zu].permissions: `%s` is not made of "
						"r, w and m",
						i, perm);
		if (!d->host_path || stat(d->host_path, &st) < 0)
			return crid_err_set(err, d->host_path ? errno : EINVAL,
					    "devices[%zu].host_path `%s`", i,
					    d->host_path ? d->host_path : "");
		if (!S_ISCHR(st.st_mode) && !S_ISBLK(st.st_mode))
			return crid_err_invalid(err, "devices[%zu].host_path: `%s` is not a device",
						i, d->host_path);
		if (add_dev(b, d->container_path, &st, perm, err) < 0)
			return -1;
	}
	return b->sec->privileged ? walk_host_devices(b, "/dev", 0, err) : 0;
}

static void gen_devices(yajl_gen g, const struct build *b)
{
	G("devices");
	yajl_gen_array_open(g);
	for (size_t i = 0; i < b->n_devs; i++) {
		const struct dev *d = &b->devs[i];
		char type[2] = { d->type, 0 };

		yajl_gen_map_open(g);
		G("path");
		G(d->path);
		G("type");
		G(type);
		G("major");
		yajl_gen_integer(g, d->major);
		G("minor");
		yajl_gen_integer(g, d->minor);
		G("fileMode");
		yajl_gen_integer(g, d->mode);
		G("uid");
		yajl_gen_integer(g, d->uid);
		G("gid");
		yajl_gen_integer(g, d->gid);
		yajl_gen_map_close(g);
	}
	yajl_gen_array_close(g);
}

/* Deny all, then each device; runc and crun append their own defaults (null, zero, tty...). */
static void gen_device_rules(yajl_gen g, const struct build *b)
{
	G("devices");
	yajl_gen_array_open(g);
	yajl_gen_map_open(g);
	G("allow");
	yajl_gen_bool(g, b->sec->privileged);
	G("access");
	G("rwm");
	yajl_gen_map_close(g);
	for (size_t i = 0; !b->sec->privileged && i < b->n_devs; i++) {
		char type[2] = { b->devs[i].type, 0 };

		yajl_gen_map_open(g);
		G("allow");
		yajl_gen_bool(g, 1);
		G("type");
		G(type);
		G("major");
		yajl_gen_integer(g, b->devs[i].major);
		G("minor");
		yajl_gen_integer(g, b->devs[i].minor);
		G("access");
		G(b->devs[i].access);
		yajl_gen_map_close(g);
	}
	yajl_gen_array_close(g);
}

/* ---- resources, limits ---- */

/* The daemon's own oom_score_adj: without CAP_SYS_RESOURCE no child may go below it. */
static int own_oom_score_adj(void)
{
	static int cached = INT_MIN;
	char buf[16] = "";
	int fd;

	if (cached != INT_MIN)
		return cached;
	cached = 0;
	fd = open("/proc/self/oom_score_adj", O_RDONLY | O_CLOEXEC);
	if (fd >= 0) {
		if (read(fd, buf, sizeof(buf) - 1) > 0)
			cached = atoi(buf);
		close(fd);
	}
	return cached;
}

static bool memsw_supported(const struct crid_host *h)
{
	static int cached = -1;

	if (h && h->cgroup_mode == CRID_CGROUP_V2)
		return true;
	if (cached < 0)
		cached = access(CRID_CGROUP_ROOT "/memory/memory.memsw.limit_in_bytes", F_OK) == 0;
	return cached;
}

static int build_limits(struct build *b, struct crid_err *err)
{
	const struct crid_ctr_resources *r = &b->spec->resources;
	const struct crid_host *h = b->in->host;
	bool sys_resource = h && h->has_cap_sys_resource;
	static bool oom_logged, nofile_logged;
	struct rlimit rl;

	if (r->oom_score_adj < -1000 || r->oom_score_adj > 1000)
		return crid_err_invalid(err,
					"resources.oom_score_adj: %lld is not in [-1000, 1000]",
					(long long)r->oom_score_adj);
	b->oom_score_adj = r->oom_score_adj;
	if (!sys_resource && b->oom_score_adj < own_oom_score_adj()) {
		b->oom_score_adj = own_oom_score_adj();
		if (!oom_logged) {
			oom_logged = true;
			crid_log_warn(
			    "oom_score_adj below crid's own (%d) raised to it: crid lacks "
			    "CAP_SYS_RESOURCE (logged once)",
			    own_oom_score_adj());
		}
	}
	b->nofile = NOFILE_DEFAULT;
	if (!sys_resource && getrlimit(RLIMIT_NOFILE, &rl) == 0 && rl.rlim_max < b->nofile) {
		b->nofile = rl.rlim_max;
		if (!nofile_logged) {
			nofile_logged = true;
			crid_log_warn(
			    "container RLIMIT_NOFILE lowered to crid's hard limit %llu: crid "
			    "lacks CAP_SYS_RESOURCE (logged once)",
			    b->nofile);
		}
	}
	if (r->memory_swap_limit > 0 && r->memory_limit > 0 &&
	    r->memory_swap_limit < r->memory_limit)
		return crid_err_invalid(err, "resources.memory_swap_limit_in_bytes: smaller than "
					     "memory_limit_in_bytes");
	if (r->n_unified && (!h || h->cgroup_mode != CRID_CGROUP_V2))
		return crid_err_invalid(err, "resources.unified: needs cgroup v2 (this host is %s)",
					crid_cgroup_mode_name(h ? h->cgroup_mode : CRID_CGROUP_V1));
	for (size_t i = 0; i < r->n_hugepages; i++)
		if (!r->hugepages[i].page_size || !*r->hugepages[i].page_size)
			return crid_err_invalid(
			    err, "resources.hugepage_limits[%zu].page_size: empty", i);
	return 0;
}

static void gen_i64(yajl_gen g, const char *key, long long v)
{
	G(key);
	yajl_gen_integer(g, v);
}

static void gen_resources(yajl_gen g, const struct build *b)
{
	const struct crid_ctr_resources *r = &b->spec->resources;

	G("resources");
	yajl_gen_map_open(g);
	gen_device_rules(g, b);
	if (r->cpu_shares > 0 || r->cpu_quota || r->cpu_period > 0 ||
	    (r->cpuset_cpus && *r->cpuset_cpus) || (r->cpuset_mems && *r->cpuset_mems)) {
		G("cpu");
		yajl_gen_map_open(g);
		if (r->cpu_shares > 0)
			gen_i64(g, "shares", r->cpu_shares);
		if (r->cpu_quota)
			gen_i64(g, "quota", r->cpu_quota);
		if (r->cpu_period > 0)
			gen_i64(g, "period", r->cpu_period);
		if (r->cpuset_cpus && *r->cpuset_cpus) {
			G("cpus");
			G(r->cpuset_cpus);
		}
		if (r->cpuset_mems && *r->cpuset_mems) {
			G("mems");
			G(r->cpuset_mems);
		}
		yajl_gen_map_close(g);
	}
	if (r->memory_limit > 0) {
		G("memory");
		yajl_gen_map_open(g);
		gen_i64(g, "limit", r->memory_limit);
		/*
		 * OCI swap is memory+swap, as the CRI's memory_swap_limit_in_bytes.
		 * Unset: equal to the limit (no swap), as CRI-O does, where the
		 * kernel accounts swap at all.
		 */
		if (memsw_supported(b->in->host))
			gen_i64(g, "swap",
				r->memory_swap_limit > 0 ? r->memory_swap_limit : r->memory_limit);
		yajl_gen_map_close(g);
	}
	if (r->n_hugepages) {
		G("hugepageLimits");
		yajl_gen_array_open(g);
		for (size_t i = 0; i < r->n_hugepages; i++) {
			yajl_gen_map_open(g);
			G("pageSize");
			G(r->hugepages[i].page_size);
			G("limit");
			yajl_gen_integer(g, (long long)r->hugepages[i].limit);
			yajl_gen_map_close(g);
		}
		yajl_gen_array_close(g);
	}
	if (r->n_unified) {
		G("unified");
		yajl_gen_map_open(g);
		for (size_t i = 0; i < r->n_unified; i++) {
			G(r->unified[i].key);
			G(r->unified[i].value ? r->unified[i].value : "");
		}
		yajl_gen_map_close(g);
	}
	yajl_gen_map_close(g);
}

/* ---- namespaces ---- */

static int check_namespaces(const struct build *b, struct crid_err *err)
{
	int mode = b->sec->pid_mode;

	if (mode < CRID_NS_POD || mode > CRID_NS_TARGET)
		return crid_err_invalid(err, SEC "namespace_options.pid: unknown mode %d", mode);
	if (mode == CRID_NS_TARGET && (!b->sec->pid_target_pid_ns || !*b->sec->pid_target_pid_ns))
		return crid_err_invalid(err, SEC "namespace_options.target_id: the target "
						 "container has no PID namespace");
	for (size_t i = 0; i < b->pod->n_sysctls; i++)
		if (!strchr(b->pod->sysctls[i], '=') || b->pod->sysctls[i][0] == '=')
			return crid_err_invalid(err, "pod sysctls[%zu]: `%s` is not key=value", i,
						b->pod->sysctls[i]);
	return 0;
}

static void gen_ns(yajl_gen g, const char *type, const char *path)
{
	yajl_gen_map_open(g);
	G("type");
	G(type);
	if (path && *path) {
		G("path");
		G(path);
	}
	yajl_gen_map_close(g);
}

static bool pod_ns(const char *path, bool host)
{
	return !host && path && *path;
}

static void gen_namespaces(yajl_gen g, const struct build *b)
{
	const struct crid_ctr_pod *p = b->pod;

	G("namespaces");
	yajl_gen_array_open(g);
	/* "" is the host's namespace: joining it means not listing it. */
	if (pod_ns(p->netns, p->host_network))
		gen_ns(g, "network", p->netns);
	if (pod_ns(p->ipcns, p->host_ipc))
		gen_ns(g, "ipc", p->ipcns);
	if (pod_ns(p->utsns, p->host_network))
		gen_ns(g, "uts", p->utsns);
	switch (b->sec->pid_mode) {
	case CRID_NS_POD:
		if (!p->host_pid)
			gen_ns(g, "pid", p->pidns);
		break;
	case CRID_NS_CONTAINER:
		gen_ns(g, "pid", NULL);
		break;
	case CRID_NS_TARGET:
		gen_ns(g, "pid", b->sec->pid_target_pid_ns);
		break;
	default: /* NODE */
		break;
	}
	gen_ns(g, "mount", NULL);
	if (b->in->host && b->in->host->cgroup_mode == CRID_CGROUP_V2)
		gen_ns(g, "cgroup", NULL);
	yajl_gen_array_close(g);
}

static void gen_sysctls(yajl_gen g, const struct build *b)
{
	G("sysctl");
	yajl_gen_map_open(g);
	for (size_t i = 0; i < b->pod->n_sysctls; i++) {
		const char *kv = b->pod->sysctls[i], *eq = strchr(kv, '=');

		yajl_gen_string(g, (const unsigned char *)kv, (size_t)(eq - kv));
		G(eq + 1);
	}
	yajl_gen_map_close(g);
}

static void gen_paths(yajl_gen g, const char *key, bool set, const char *const *v, size_t n,
		      const char *const *dflt, size_t n_dflt, bool privileged)
{
	G(key);
	yajl_gen_array_open(g);
	if (!set) {
		v = dflt;
		n = n_dflt;
	}
	for (size_t i = 0; !privileged && i < n; i++)
		G(v[i]);
	yajl_gen_array_close(g);
}

/* ---- the document ---- */

static void gen_strs(yajl_gen g, const char *key, const char *const *v, size_t n)
{
	G(key);
	yajl_gen_array_open(g);
	for (size_t i = 0; i < n; i++)
		G(v[i]);
	yajl_gen_array_close(g);
}

static void gen_user(yajl_gen g, const struct crid_ctr_user *u)
{
	G("user");
	yajl_gen_map_open(g);
	gen_i64(g, "uid", u->uid);
	gen_i64(g, "gid", u->gid);
	G("additionalGids");
	yajl_gen_array_open(g);
	for (size_t i = 0; i < u->n_additional_gids; i++)
		yajl_gen_integer(g, u->additional_gids[i]);
	yajl_gen_array_close(g);
	yajl_gen_map_close(g);
}

/* containerd (after CVE-2022-24769): bounding = effective = permitted, no inheritable/ambient. */
static void gen_caps(yajl_gen g, uint64_t caps)
{
	static const char *const sets[] = { "bounding", "effective", "permitted" };

	G("capabilities");
	yajl_gen_map_open(g);
	for (size_t i = 0; i < NELEM(sets); i++) {
		G(sets[i]);
		gen_cap_list(g, caps);
	}
	yajl_gen_map_close(g);
}

static void gen_process(yajl_gen g, const struct build *b, const char *apparmor)
{
	G("process");
	yajl_gen_map_open(g);
	G("terminal");
	yajl_gen_bool(g, b->spec->tty);
	gen_user(g, &b->user);
	gen_strs(g, "args", b->args, b->n_args);
	gen_strs(g, "env", (const char *const *)b->env, b->n_env);
	G("cwd");
	G(b->cwd);
	gen_caps(g, b->caps);
	G("rlimits");
	yajl_gen_array_open(g);
	yajl_gen_map_open(g);
	G("type");
	G("RLIMIT_NOFILE");
	gen_i64(g, "hard", (long long)b->nofile);
	gen_i64(g, "soft", (long long)b->nofile);
	yajl_gen_map_close(g);
	yajl_gen_array_close(g);
	G("noNewPrivileges");
	yajl_gen_bool(g, b->sec->no_new_privs && !b->sec->privileged);
	gen_i64(g, "oomScoreAdj", b->oom_score_adj);
	if (*apparmor) {
		G("apparmorProfile");
		G(apparmor);
	}
	yajl_gen_map_close(g);
}

/*
 * The container's root mount propagation, as containerd sets it: rshared
 * when a mount is Bidirectional (runc and crun make "/" rslave otherwise, and
 * a shared bind mount under a slave root would keep the container's mounts
 * to itself), rslave when one is HostToContainer, else the runtime's default.
 */
static void gen_rootfs_propagation(yajl_gen g, const struct build *b)
{
	enum crid_propagation most = CRID_PROPAGATION_PRIVATE;

	for (size_t i = 0; i < b->spec->n_mounts; i++)
		if (b->spec->mounts[i].propagation > most)
			most = b->spec->mounts[i].propagation;
	if (most == CRID_PROPAGATION_PRIVATE)
		return;
	G("rootfsPropagation");
	G(most == CRID_PROPAGATION_BIDIRECTIONAL ? "rshared" : "rslave");
}

static void gen_linux(yajl_gen g, const struct build *b)
{
	const struct crid_ctr_security *s = b->sec;

	G("linux");
	yajl_gen_map_open(g);
	gen_rootfs_propagation(g, b);
	gen_namespaces(g, b);
	gen_devices(g, b);
	gen_resources(g, b);
	if (b->in->cgroups_path && *b->in->cgroups_path) {
		G("cgroupsPath");
		G(b->in->cgroups_path);
	}
	gen_sysctls(g, b);
	gen_paths(g, "maskedPaths", s->masked_paths_set, s->masked_paths, s->n_masked_paths,
		  default_masked, NELEM(default_masked), s->privileged);
	gen_paths(g, "readonlyPaths", s->readonly_paths_set, s->readonly_paths, s->n_readonly_paths,
		  default_readonly, NELEM(default_readonly), s->privileged);
	if (b->has_seccomp) {
		G("seccomp");
		crid_oci_seccomp_gen(g, &b->seccomp, b->caps);
	}
	yajl_gen_map_close(g);
}

static void gen_spec(yajl_gen g, const struct build *b, const char *apparmor)
{
	const struct crid_ctr_pod *p = b->pod;

	yajl_gen_map_open(g);
	G("ociVersion");
	G("1.0.2-dev");
	gen_process(g, b, apparmor);
	G("root");
	yajl_gen_map_open(g);
	G("path");
	G(b->in->rootfs);
	G("readonly");
	yajl_gen_bool(g, b->sec->readonly_rootfs);
	yajl_gen_map_close(g);
	/* In the host's UTS namespace the runtime must not (and cannot) set a hostname. */
	if (pod_ns(p->utsns, p->host_network) && p->hostname && *p->hostname) {
		G("hostname");
		G(p->hostname);
	}
	gen_mounts(g, b);
	G("annotations");
	yajl_gen_map_open(g);
	for (size_t i = 0; i < b->spec->n_annotations; i++) {
		G(b->spec->annotations[i].key);
		G(b->spec->annotations[i].value ? b->spec->annotations[i].value : "");
	}
	yajl_gen_map_close(g);
	gen_linux(g, b);
	yajl_gen_map_close(g);
}

static int check_input(const struct crid_oci_input *in, struct crid_err *err)
{
	if (!in->spec || !in->pod || !in->cfg || !in->rootfs || in->rootfs[0] != '/')
		return crid_err_invalid(err, "container spec: missing spec, pod, config or an "
					     "absolute rootfs");
	for (size_t i = 0; i < in->spec->n_annotations; i++)
		if (!in->spec->annotations[i].key || !*in->spec->annotations[i].key)
			return crid_err_invalid(err, "annotations[%zu]: empty key", i);
	return 0;
}

static int collect(struct build *b, const char **apparmor, struct crid_err *err)
{
	yajl_val iuser;

	if (parse_image(b, err) < 0 || build_args(b, err) < 0 || build_env(b, err) < 0 ||
	    build_cwd(b, err) < 0 || build_stop_signal(b, err) < 0)
		return -1;
	iuser = img_get(b, "User", yajl_t_string);
	if (crid_oci_user_resolve(b->in->rootfs, b->sec, iuser ? iuser->u.string : NULL, &b->user,
				  err) < 0)
		return -1;
	if (build_caps(b, err) < 0 || build_seccomp(b, err) < 0 ||
	    build_apparmor(b, apparmor, err) < 0 || check_mounts(b, err) < 0 ||
	    build_devices(b, err) < 0 || build_limits(b, err) < 0 || check_namespaces(b, err) < 0)
		return -1;
	return 0;
}

static void build_free(struct build *b)
{
	if (b->img)
		yajl_tree_free(b->img);
	crid_free(b->args);
	for (size_t i = 0; i < b->n_env; i++)
		crid_free(b->env[i]);
	crid_free(b->env);
	crid_oci_seccomp_free(&b->seccomp);
	crid_free(b->mount_order);
	for (size_t i = 0; i < b->n_devs; i++)
		crid_free(b->devs[i].path);
	crid_free(b->devs);
}

/* Copies the generator's output into |out| / |len| (crid_free). */
static int take_output(yajl_gen g, char **out, size_t *len, const char *what, struct crid_err *err)
{
	const unsigned char *buf;
	size_t n;

	if (yajl_gen_get_buf(g, &buf, &n) != yajl_gen_status_ok)
		return crid_err_set(err, EINVAL, "%s: JSON generation failed", what);
	*out = crid_malloc(n + 1);
	if (!*out)
		return crid_err_set(err, ENOMEM, "%s", what);
	memcpy(*out, buf, n);
	(*out)[n] = '\0';
	*len = n;
	return 0;
}

int crid_oci_spec_build(const struct crid_oci_input *in, struct crid_oci_spec *out,
			struct crid_err *err)
{
	struct build b = { .in = in };
	const char *apparmor = "";
	yajl_gen g = NULL;
	int r = -1;

	memset(out, 0, sizeof(*out));
	if (check_input(in, err) < 0)
		return -1;
	b.spec = in->spec;
	b.sec = &in->spec->security;
	b.pod = in->pod;
	if (collect(&b, &apparmor, err) < 0)
		goto out;
	g = yajl_gen_alloc(NULL);
	if (!g) {
		crid_err_set(err, ENOMEM, "container %s spec", in->spec->id ? in->spec->id : "");
		goto out;
	}
	gen_spec(g, &b, apparmor);
	if (take_output(g, &out->json, &out->len, "config.json", err) < 0)
		goto out;
	out->user = b.user;
	out->stop_signal = b.stop_signal;
	r = 0;
out:
	if (g)
		yajl_gen_free(g);
	build_free(&b);
	return r;
}

void crid_oci_spec_free(struct crid_oci_spec *s)
{
	if (!s)
		return;
	crid_free(s->json);
	s->json = NULL;
	s->len = 0;
}

/*
 * The container's env, plus TERM=xterm for a terminal exec that has no TERM
 * (containerd's WithEnv in its exec; what `kubectl exec -t` users expect).
 */
static void gen_exec_env(yajl_gen g, yajl_val env, bool tty)
{
	bool has_term = false;

	if (!YAJL_IS_ARRAY(env)) {
		if (env) {
			G("env");
			crid_oci_gen_tree(g, env);
		}
		if (!tty)
			return;
	}
	G("env");
	yajl_gen_array_open(g);
	for (size_t i = 0; YAJL_IS_ARRAY(env) && i < env->u.array.len; i++) {
		yajl_val v = env->u.array.values[i];

		crid_oci_gen_tree(g, v);
		has_term |= YAJL_IS_STRING(v) && !strncmp(v->u.string, "TERM=", 5);
	}
	if (tty && !has_term)
		CRID_OCI_GSTR(g, "TERM=xterm");
	yajl_gen_array_close(g);
}

int crid_oci_spec_exec_process(const char *config_json, const char *const *argv, size_t argc,
			       bool tty, char **out, size_t *len, struct crid_err *err)
{
	return crid_oci_spec_exec_process_sized(config_json, argv, argc, tty, 0, 0, out, len, err);
}

int crid_oci_spec_exec_process_sized(const char *config_json, const char *const *argv, size_t argc,
				     bool tty, uint16_t width, uint16_t height, char **out,
				     size_t *len, struct crid_err *err)
{
	static const char *const kept[] = { "cwd",	    "user",
					    "capabilities", "noNewPrivileges",
					    "rlimits",	    "apparmorProfile",
					    "selinuxLabel" };
	yajl_val root, proc;
	char ebuf[256];
	yajl_gen g;
	int r;

	if (argc == 0 || !argv[0] || !*argv[0])
		return crid_err_invalid(err, "exec: no command specified");
	root = yajl_tree_parse(config_json, ebuf, sizeof(ebuf));
	proc = crid_oci_get(root, "process", yajl_t_object);
	if (!proc) {
		if (root)
			yajl_tree_free(root);
		return crid_err_invalid(err, "exec: the container's config.json has no process");
	}
	g = yajl_gen_alloc(NULL);
	if (!g) {
		yajl_tree_free(root);
		return crid_err_set(err, ENOMEM, "exec process");
	}
	yajl_gen_map_open(g);
	G("terminal");
	yajl_gen_bool(g, tty);
	if (tty) {
		/* the runtime sizes the terminal before the process runs; without a size asked
		 * for, 80x24: set later (runtime/oci/console.c), a quick `stty size` read 0x0 */
		if (!width || !height)
			width = 80, height = 24;
		G("consoleSize");
		yajl_gen_map_open(g);
		G("height");
		yajl_gen_integer(g, height);
		G("width");
		yajl_gen_integer(g, width);
		yajl_gen_map_close(g);
	}
	gen_strs(g, "args", argv, argc);
	gen_exec_env(g, crid_oci_get(proc, "env", yajl_t_any), tty);
	for (size_t i = 0; i < NELEM(kept); i++) {
		yajl_val v = crid_oci_get(proc, kept[i], yajl_t_any);

		if (v) {
			G(kept[i]);
			crid_oci_gen_tree(g, v);
		}
	}
	yajl_gen_map_close(g);
	r = take_output(g, out, len, "exec process", err);
	yajl_gen_free(g);
	yajl_tree_free(root);
	return r;
}
