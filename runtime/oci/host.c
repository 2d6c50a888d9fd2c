/*
 * Host detection at startup. The cgroup mode follows crun's and runc's own
 * detection (libcrun_get_cgroup_mode, opencontainers/cgroups IsCgroup2*Mode):
 * statfs of /sys/fs/cgroup, then a cgroup2 mount under it for hybrid. Only
 * stat/statfs and reads of small /proc and /sys files: nothing here waits on
 * a child or a slow device.
 */
#include "runtime/oci/host.h"

#include <errno.h>
#include <fcntl.h>
#include <linux/magic.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/vfs.h>
#include <unistd.h>

#include <yajl/yajl_gen.h>

#include "reactor/log.h"
#include "reactor/mem.h"

#define CAP_SYS_RESOURCE_BIT 24
#define LINE_MAX_LEN 8192

const char *crid_cgroup_mode_name(enum crid_cgroup_mode mode)
{
	switch (mode) {
	case CRID_CGROUP_V1:
		return "v1";
	case CRID_CGROUP_HYBRID:
		return "hybrid";
	case CRID_CGROUP_V2:
		return "v2";
	}
	return "unknown";
}

/* Reads at most |size| - 1 bytes of a small file, NUL-terminated. Returns the length or -1. */
static ssize_t read_small(const char *path, char *buf, size_t size)
{
	size_t len = 0;
	ssize_t r;
	int fd;

	fd = open(path, O_RDONLY | O_CLOEXEC | O_NOCTTY);
	if (fd < 0)
		return -1;
	while (len + 1 < size) {
		r = read(fd, buf + len, size - 1 - len);
		if (r < 0 && errno == EINTR)
			continue;
		if (r <= 0)
			break;
		len += (size_t)r;
	}
	close(fd);
	buf[len] = '\0';
	return (ssize_t)len;
}

/*
 * Calls |fn| on each line of |path| (without its newline) until it returns
 * nonzero. Lines longer than LINE_MAX_LEN are skipped rather than split, so a
 * fragment can never be mistaken for a line start.
 */
static void for_each_line(const char *path, int (*fn)(const char *line, void *user), void *user)
{
	char buf[LINE_MAX_LEN];
	bool skipping = false;
	size_t len;
	FILE *f;

	f = fopen(path, "re");
	if (!f)
		return;
	while (fgets(buf, sizeof(buf), f)) {
		bool was_skipping = skipping;
		bool nl;

		len = strlen(buf);
		nl = len > 0 && buf[len - 1] == '\n';
		if (nl)
			buf[--len] = '\0';
		skipping = !nl && !feof(f);
		if (was_skipping || skipping)
			continue;
		if (fn(buf, user))
			break;
	}
	fclose(f);
}

/* Splits off the next space-separated field of |*p|. */
static bool next_field(const char **p, const char **start, size_t *len)
{
	const char *s = *p;

	while (*s == ' ')
		s++;
	if (!*s)
		return false;
	*start = s;
	while (*s && *s != ' ')
		s++;
	*len = (size_t)(s - *start);
	*p = s;
	return true;
}

/* mountinfo escapes space, tab, newline and backslash as \ooo (the kernel's mangle_path). */
static bool unescape(const char *s, size_t len, char *out, size_t size)
{
	size_t o = 0;

	for (size_t i = 0; i < len; i++) {
		char ch = s[i];

		if (ch == '\\' && i + 3 < len && s[i + 1] >= '0' && s[i + 1] <= '3' &&
		    s[i + 2] >= '0' && s[i + 2] <= '7' && s[i + 3] >= '0' && s[i + 3] <= '7') {
			ch =
			    (char)((s[i + 1] - '0') * 64 + (s[i + 2] - '0') * 8 + (s[i + 3] - '0'));
			i += 3;
		}
		if (o + 1 >= size)
			return false;
		out[o++] = ch;
	}
	out[o] = '\0';
	return true;
}

bool crid_host_mountinfo_cgroup2(const char *line, const char *under, char *mnt, size_t size)
{
	const char *p = line, *f = NULL;
	size_t len = 0, ulen = strlen(under);
	char point[PATH_MAX];

	/* ID PARENT MAJ:MIN ROOT MOUNTPOINT OPTIONS [OPTIONAL...] - FSTYPE SOURCE SUPEROPTS */
	for (int i = 0; i < 5; i++)
		if (!next_field(&p, &f, &len))
			return false;
	if (!unescape(f, len, point, sizeof(point)))
		return false;
	do {
		if (!next_field(&p, &f, &len))
			return false;
	} while (!(len == 1 && f[0] == '-'));
	if (!next_field(&p, &f, &len) || len != 7 || strncmp(f, "cgroup2", 7) != 0)
		return false;
	if (strncmp(point, under, ulen) != 0 || point[ulen] != '/' || !point[ulen + 1])
		return false;
	return (size_t)snprintf(mnt, size, "%s", point) < size;
}

struct cgroup2_scan {
	const char *root;
	char preferred[PATH_MAX]; /* root + "/unified", where systemd and crun look */
	char found[PATH_MAX];
};

static int on_mountinfo_line(const char *line, void *user)
{
	struct cgroup2_scan *s = user;
	char mnt[PATH_MAX];

	if (!crid_host_mountinfo_cgroup2(line, s->root, mnt, sizeof(mnt)))
		return 0;
	if (!s->found[0] || strcmp(mnt, s->preferred) == 0)
		snprintf(s->found, sizeof(s->found), "%s", mnt);
	return strcmp(mnt, s->preferred) == 0;
}

static void read_controllers(struct crid_host *h)
{
	char path[PATH_MAX + 32];
	char *nl;

	h->cgroup2_controllers[0] = '\0';
	snprintf(path, sizeof(path), "%s/cgroup.controllers", h->cgroup2_mount);
	if (read_small(path, h->cgroup2_controllers, sizeof(h->cgroup2_controllers)) < 0)
		return;
	nl = strchr(h->cgroup2_controllers, '\n');
	if (nl)
		*nl = '\0';
}

void crid_host_detect_cgroup_at(struct crid_host *h, const char *root, const char *mountinfo)
{
	struct cgroup2_scan scan = { .root = root };
	struct statfs sf;

	h->cgroup_mode = CRID_CGROUP_V1;
	h->cgroup2_mount[0] = '\0';
	h->cgroup2_controllers[0] = '\0';
	if (statfs(root, &sf) < 0) {
		crid_log_warn("host: statfs `%s`: %s; assuming cgroup v1", root, strerror(errno));
		return;
	}
	if (sf.f_type == CGROUP2_SUPER_MAGIC) {
		h->cgroup_mode = CRID_CGROUP_V2;
		snprintf(h->cgroup2_mount, sizeof(h->cgroup2_mount), "%s", root);
		read_controllers(h);
		return;
	}
	if (sf.f_type != TMPFS_MAGIC)
		return;
	snprintf(scan.preferred, sizeof(scan.preferred), "%s/unified", root);
	for_each_line(mountinfo, on_mountinfo_line, &scan);
	if (!scan.found[0])
		return;
	h->cgroup_mode = CRID_CGROUP_HYBRID;
	memcpy(h->cgroup2_mount, scan.found, sizeof(h->cgroup2_mount));
	read_controllers(h);
}

int crid_host_parse_cap_eff(const char *status, unsigned long long *out)
{
	const char *p = status;
	char *end;

	while (p && *p) {
		if (strncmp(p, "CapEff:", 7) == 0) {
			errno = 0;
			*out = strtoull(p + 7, &end, 16);
			return errno || end == p + 7 ? -1 : 0;
		}
		p = strchr(p, '\n');
		if (p)
			p++;
	}
	return -1;
}

struct cap_scan {
	unsigned long long cap_eff;
	bool found;
};

static int on_status_line(const char *line, void *user)
{
	struct cap_scan *s = user;

	if (strncmp(line, "CapEff:", 7) != 0)
		return 0;
	s->found = crid_host_parse_cap_eff(line, &s->cap_eff) == 0;
	return 1;
}

static void detect_caps(struct crid_host *h)
{
	struct cap_scan s = { 0 };
	char buf[32];
	char *end;
	long v;

	/* Line by line: a long "Groups:" line must not push CapEff out of a fixed buffer. */
	for_each_line("/proc/self/status", on_status_line, &s);
	if (!s.found)
		crid_log_warn("host: no CapEff in /proc/self/status; assuming no capabilities");
	h->cap_eff = s.found ? s.cap_eff : 0;
	h->has_cap_sys_resource = (h->cap_eff >> CAP_SYS_RESOURCE_BIT) & 1;
	h->last_cap = -1;
	if (read_small("/proc/sys/kernel/cap_last_cap", buf, sizeof(buf)) > 0) {
		v = strtol(buf, &end, 10);
		if (end != buf && v >= 0 && v < 64)
			h->last_cap = (int)v;
	}
}

static const char *base_name(const char *path)
{
	const char *s = strrchr(path, '/');

	return s ? s + 1 : path;
}

static void set_why(char *why, size_t size, const char *fmt, ...)
    __attribute__((format(printf, 3, 4)));

static void set_why(char *why, size_t size, const char *fmt, ...)
{
	va_list ap;

	va_start(ap, fmt);
	vsnprintf(why, size, fmt, ap);
	va_end(ap);
}

/*
 * crun 1.x refuses to place a container in cgroups when /sys/fs/cgroup/unified
 * is cgroup2 with any controller enabled (libcrun_cgroup_enter); an empty
 * unified hierarchy (systemd's usual hybrid) is fine, and a cgroup2 mounted
 * elsewhere is invisible to it.
 */
static bool crun_refuses(const struct crid_host *h)
{
	return h->cgroup_mode == CRID_CGROUP_HYBRID &&
	       strcmp(h->cgroup2_mount, CRID_CGROUP_ROOT "/unified") == 0 &&
	       h->cgroup2_controllers[0];
}

static void check_runtime(const struct crid_host *h, struct crid_host_runtime *rt)
{
	char real[PATH_MAX];
	struct stat st;

	rt->usable = false;
	rt->why[0] = '\0';
	rt->mnt_ns_fd = -1;
	rt->hide_mount = NULL;
	rt->is_crun = strcmp(base_name(rt->path), "crun") == 0 ||
		      (realpath(rt->path, real) && strcmp(base_name(real), "crun") == 0);
	if (!rt->path[0]) {
		set_why(rt->why, sizeof(rt->why), "no runtime_path configured");
	} else if (stat(rt->path, &st) < 0) {
		if (errno == ENOENT || errno == ENOTDIR)
			set_why(rt->why, sizeof(rt->why), "`%s` not found", rt->path);
		else
			set_why(rt->why, sizeof(rt->why), "`%s`: %s", rt->path, strerror(errno));
	} else if (!S_ISREG(st.st_mode)) {
		set_why(rt->why, sizeof(rt->why), "`%s` is not a regular file", rt->path);
	} else if (faccessat(AT_FDCWD, rt->path, X_OK, AT_EACCESS) < 0) {
		set_why(rt->why, sizeof(rt->why), "`%s` is not executable", rt->path);
	} else if (rt->is_crun && h->systemd_cgroup && h->cgroup_mode != CRID_CGROUP_V2) {
		/* seen with crun 1.8.1: only name=systemd joins the scope, the controllers do not */
		set_why(rt->why, sizeof(rt->why),
			"crun does not place containers in systemd scopes on cgroup %s "
			"(cgroup_manager systemd): use runc, or cgroup_manager cgroupfs",
			crid_cgroup_mode_name(h->cgroup_mode));
	} else if (rt->is_crun && crun_refuses(h) && !h->crun_in_ns) {
		set_why(rt->why, sizeof(rt->why),
			"crun does not support cgroup hybrid mode (cgroup v1 + cgroup2 at `%s` "
			"with controllers: %s)%s%s",
			h->cgroup2_mount, h->cgroup2_controllers,
			h->crun_ns_why[0] ? "; no mount namespace without it: " : "",
			h->crun_ns_why);
	} else {
		if (rt->is_crun && crun_refuses(h)) {
			rt->mnt_ns_fd = h->crun_ns.fd;
			rt->hide_mount = h->cgroup2_mount;
		}
		rt->usable = true;
	}
}

static bool is_runc(const struct crid_host_runtime *rt)
{
	return strcmp(rt->name, "runc") == 0 || strcmp(base_name(rt->path), "runc") == 0;
}

/* "crun: `/usr/bin/crun` not found; runc: ..." for when nothing is usable. */
static void list_reasons(const struct crid_host_runtime *rt, size_t n, char *why, size_t size)
{
	size_t len = 0;
	int r;

	if (n == 0) {
		set_why(why, size, "no runtime handlers configured");
		return;
	}
	why[0] = '\0';
	for (size_t i = 0; i < n && len < size; i++) {
		r = snprintf(why + len, size - len, "%s%s: %s", i ? "; " : "", rt[i].name,
			     rt[i].why);
		if (r < 0)
			break;
		len += (size_t)r;
	}
}

long crid_host_choose_default(const struct crid_host_runtime *rt, size_t n, const char *configured,
			      char *why, size_t why_size)
{
	long conf = -1, pick = -1;

	why[0] = '\0';
	for (size_t i = 0; i < n && conf < 0 && configured; i++)
		if (strcmp(rt[i].name, configured) == 0)
			conf = (long)i;
	if (conf >= 0 && rt[conf].usable)
		return conf;
	/* crun's usual stand-in: same OCI CLI, and it copes with hybrid cgroups. */
	for (size_t i = 0; i < n && pick < 0 && conf >= 0 && rt[conf].is_crun; i++)
		if (rt[i].usable && is_runc(&rt[i]))
			pick = (long)i;
	for (size_t i = 0; i < n && pick < 0; i++)
		if (rt[i].usable)
			pick = (long)i;
	if (pick < 0)
		list_reasons(rt, n, why, why_size);
	else if (conf >= 0)
		set_why(why, why_size, "configured default `%s` unusable: %s; using `%s`",
			configured, rt[conf].why, rt[pick].name);
	else if (configured && configured[0])
		set_why(why, why_size,
			"configured default `%s` is not a runtime handler; using `%s`", configured,
			rt[pick].name);
	else
		set_why(why, why_size, "no default runtime configured; using `%s`", rt[pick].name);
	return pick;
}

static void free_runtimes(struct crid_host *h)
{
	for (size_t i = 0; i < h->n_runtimes; i++) {
		crid_free(h->runtimes[i].name);
		crid_free(h->runtimes[i].path);
	}
	crid_free(h->runtimes);
	h->runtimes = NULL;
	h->n_runtimes = 0;
	h->default_runtime = NULL;
	h->default_why[0] = '\0';
}

int crid_host_check_runtimes(struct crid_host *h, const struct crid_config *cfg,
			     struct crid_err *err)
{
	size_t n = cfg->n_runtimes;
	struct crid_host_runtime *rt;
	long pick;

	free_runtimes(h);
	h->systemd_cgroup = cfg->cgroup_manager && strcmp(cfg->cgroup_manager, "systemd") == 0;
	h->runtimes = crid_calloc(n ? n : 1, sizeof(*h->runtimes));
	if (!h->runtimes)
		return crid_err_set(err, ENOMEM, "host: runtime handlers");
	for (size_t i = 0; i < n; i++) {
		rt = &h->runtimes[i];
		h->n_runtimes = i + 1;
		rt->name = crid_strdup(cfg->runtimes[i].name ? cfg->runtimes[i].name : "");
		rt->path =
		    crid_strdup(cfg->runtimes[i].runtime_path ? cfg->runtimes[i].runtime_path : "");
		if (!rt->name || !rt->path)
			return crid_err_set(err, ENOMEM, "host: runtime handler %zu", i);
		check_runtime(h, rt);
	}
	pick = crid_host_choose_default(h->runtimes, h->n_runtimes, cfg->default_runtime,
					h->default_why, sizeof(h->default_why));
	h->default_runtime = pick >= 0 ? h->runtimes[pick].name : NULL;
	return 0;
}

static bool any_crun(const struct crid_host *h)
{
	for (size_t i = 0; i < h->n_runtimes; i++)
		if (h->runtimes[i].is_crun)
			return true;
	return false;
}

static void log_crun_ns(const struct crid_host *h)
{
	if (!h->crun_in_ns) {
		crid_log_warn("crun: no mount namespace without `%s`: %s", h->cgroup2_mount,
			      h->crun_ns_why);
		return;
	}
	crid_log_info("crun: runs in a mount namespace without `%s` (cgroup2 with %s), %s at `%s`; "
		      "create in a fresh one each",
		      h->crun_ns.hidden, h->cgroup2_controllers,
		      h->crun_ns.reused ? "reused" : "pinned", h->crun_ns.pin);
}

int crid_host_prepare_crun(struct crid_host *h, const struct crid_config *cfg, struct crid_err *err)
{
	struct crid_err e;

	h->crun_ns_needed = crun_refuses(h) && any_crun(h);
	if (!h->crun_ns_needed || h->crun_in_ns)
		return 0;
	crid_err_clear(&e);
	if (crid_crun_ns_prepare(&h->crun_ns, cfg->runroot, h->cgroup2_mount, &e) == 0)
		h->crun_in_ns = true;
	else
		snprintf(h->crun_ns_why, sizeof(h->crun_ns_why), "%s", e.msg);
	log_crun_ns(h);
	return crid_host_check_runtimes(h, cfg, err);
}

int crid_host_detect(struct crid_host *h, const struct crid_config *cfg, struct crid_err *err)
{
	memset(h, 0, sizeof(*h));
	h->crun_ns.fd = -1;
	crid_host_detect_cgroup_at(h, CRID_CGROUP_ROOT, "/proc/self/mountinfo");
	detect_caps(h);
	return crid_host_check_runtimes(h, cfg, err);
}

void crid_host_free(struct crid_host *h)
{
	if (!h)
		return;
	free_runtimes(h);
	if (h->crun_in_ns)
		crid_crun_ns_close(&h->crun_ns);
	h->crun_in_ns = false;
}

static yajl_gen_status gen_str(yajl_gen g, const char *s)
{
	if (!s)
		return yajl_gen_null(g);
	return yajl_gen_string(g, (const unsigned char *)s, strlen(s));
}

/* In these chains a nonzero status (anything but yajl_gen_status_ok, 0) stops generation. */
static bool gen_runtime(yajl_gen g, const struct crid_host_runtime *rt)
{
	return !(yajl_gen_map_open(g) || gen_str(g, "name") || gen_str(g, rt->name) ||
		 gen_str(g, "path") || gen_str(g, rt->path) || gen_str(g, "usable") ||
		 yajl_gen_bool(g, rt->usable) || gen_str(g, "reason") || gen_str(g, rt->why) ||
		 yajl_gen_map_close(g));
}

static bool gen_runtimes(yajl_gen g, const struct crid_host *h)
{
	if (yajl_gen_array_open(g) != yajl_gen_status_ok)
		return false;
	for (size_t i = 0; i < h->n_runtimes; i++)
		if (!gen_runtime(g, &h->runtimes[i]))
			return false;
	return yajl_gen_array_close(g) == yajl_gen_status_ok;
}

/* How crun is run here: the namespace trick, when the host needs it. */
static bool gen_crun_ns(yajl_gen g, const struct crid_host *h)
{
	const struct crid_crun_ns *ns = &h->crun_ns;

	return !(yajl_gen_map_open(g) || gen_str(g, "needed") ||
		 yajl_gen_bool(g, h->crun_ns_needed) || gen_str(g, "active") ||
		 yajl_gen_bool(g, h->crun_in_ns) || gen_str(g, "hiddenMount") ||
		 gen_str(g, h->crun_ns_needed ? h->cgroup2_mount : "") || gen_str(g, "pin") ||
		 gen_str(g, h->crun_in_ns ? ns->pin : "") || gen_str(g, "reused") ||
		 yajl_gen_bool(g, h->crun_in_ns && ns->reused) || gen_str(g, "create") ||
		 gen_str(g, h->crun_in_ns ? "fresh namespace per create" : "") ||
		 gen_str(g, "reason") || gen_str(g, h->crun_ns_why) || yajl_gen_map_close(g));
}

static bool gen_host(yajl_gen g, const struct crid_host *h)
{
	char cap[24];

	/* Hex string: a 64-bit mask does not survive JSON numbers (doubles). */
	snprintf(cap, sizeof(cap), "%016llx", h->cap_eff);
	return !(yajl_gen_map_open(g) || gen_str(g, "cgroupMode") ||
		 gen_str(g, crid_cgroup_mode_name(h->cgroup_mode)) || gen_str(g, "cgroup2Mount") ||
		 gen_str(g, h->cgroup2_mount) || gen_str(g, "cgroup2Controllers") ||
		 gen_str(g, h->cgroup2_controllers) || gen_str(g, "capEff") || gen_str(g, cap) ||
		 gen_str(g, "capLastCap") || yajl_gen_integer(g, h->last_cap) ||
		 gen_str(g, "capSysResource") || yajl_gen_bool(g, h->has_cap_sys_resource) ||
		 gen_str(g, "defaultRuntime") || gen_str(g, h->default_runtime) ||
		 gen_str(g, "defaultRuntimeReason") || gen_str(g, h->default_why) ||
		 gen_str(g, "crunMountNamespace") || !gen_crun_ns(g, h) || gen_str(g, "runtimes") ||
		 !gen_runtimes(g, h) || yajl_gen_map_close(g));
}

char *crid_host_info_json(const struct crid_host *h)
{
	const unsigned char *buf;
	yajl_gen g = yajl_gen_alloc(NULL);
	char *out = NULL;
	size_t len;

	if (!g)
		return NULL;
	if (gen_host(g, h) && yajl_gen_get_buf(g, &buf, &len) == yajl_gen_status_ok) {
		out = crid_malloc(len + 1);
		if (out) {
			memcpy(out, buf, len);
			out[len] = '\0';
		}
	}
	yajl_gen_free(g);
	return out;
}
