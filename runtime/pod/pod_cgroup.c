/*
 * Pod-level cgroup limits for UpdatePodSandboxResources, as
 * runtime/pod/pod_cgroup.h describes. The file names and the v1 -> v2
 * conversions are runc's (libcontainer/cgroups/fs and fs2), so a pod
 * cgroup reads the same whichever wrote it last.
 */
#include "runtime/pod/pod_cgroup.h"

#include <errno.h>
#include <fcntl.h>
#include <inttypes.h>
#include <limits.h>
#include <stdbool.h>
#include <stdio.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#define DEFAULT_CFS_PERIOD 100000

bool crid_cgroup_has_dotdot(const char *p)
{
	for (const char *s = p; (s = strstr(s, "..")); s += 2)
		if ((s == p || s[-1] == '/') && (s[2] == '\0' || s[2] == '/'))
			return true;
	return false;
}

/* runc's ExpandSlice (libcontainer/cgroups/systemd/common.go). */
int crid_cgroup_slice_expand(const char *slice, char *out, size_t size, struct crid_err *err)
{
	size_t n = strlen(slice), base = n - 6, len = 0;
	const char *end;
	int w;

	if (n <= 6 || strcmp(slice + base, ".slice") != 0 || strchr(slice, '/'))
		return crid_err_invalid(err, "`%s` is not a systemd slice name", slice);
	out[0] = '\0';
	if (base == 1 && slice[0] == '-')
		return 0;
	for (const char *c = slice; c < slice + base; c = end + 1) {
		end = memchr(c, '-', (size_t)(slice + base - c));
		if (!end)
			end = slice + base;
		if (end == c || end + 1 == slice + base)
			return crid_err_invalid(err, "`%s` is not a systemd slice name", slice);
		w = snprintf(out + len, size - len, "/%.*s.slice", (int)(end - slice), slice);
		if (w < 0 || (size_t)w >= size - len)
			return crid_err_set(err, ENAMETOOLONG, "slice `%s`", slice);
		len += (size_t)w;
	}
	return 0;
}

int crid_pod_cgroup_dir(const char *cgroup_parent, char *out, size_t size, struct crid_err *err)
{
	size_t n = strlen(cgroup_parent);
	int w;

	if (!n)
		return crid_err_invalid(err, "empty cgroup_parent");
	if (crid_cgroup_has_dotdot(cgroup_parent))
		return crid_err_invalid(err, "cgroup_parent `%s` has a `..` component",
					cgroup_parent);
	if (cgroup_parent[0] != '/' && n > 6 && strcmp(cgroup_parent + n - 6, ".slice") == 0)
		return crid_cgroup_slice_expand(cgroup_parent, out, size, err) < 0
			   ? crid_err_wrap(err, "cgroup_parent")
			   : 0;
	w = snprintf(out, size, "%s%s", cgroup_parent[0] == '/' ? "" : "/", cgroup_parent);
	if (w < 0 || (size_t)w >= size)
		return crid_err_set(err, ENAMETOOLONG, "cgroup_parent `%s`", cgroup_parent);
	return 0;
}

/* Writes |val| into |dir|/|file| (which must exist: cgroupfs makes it, crid never does). */
static int put(const char *dir, const char *file, const char *val, struct crid_err *err)
{
	char path[PATH_MAX];
	size_t len = strlen(val);
	ssize_t r;
	int fd;

	if (snprintf(path, sizeof(path), "%s/%s", dir, file) >= (int)sizeof(path))
		return crid_err_set(err, ENAMETOOLONG, "cgroup file in `%s`", dir);
	fd = open(path, O_WRONLY | O_TRUNC | O_CLOEXEC | O_NOCTTY);
	if (fd < 0)
		return crid_err_set(err, errno, "open `%s`", path);
	do
		r = write(fd, val, len);
	while (r < 0 && errno == EINTR);
	if (r != (ssize_t)len) {
		int e = r < 0 ? errno : EIO;

		close(fd);
		return crid_err_set(err, e, "write `%s` to `%s`", val, path);
	}
	close(fd);
	return 0;
}

static int put_i64(const char *dir, const char *file, int64_t v, struct crid_err *err)
{
	char buf[32];

	snprintf(buf, sizeof(buf), "%" PRId64, v);
	return put(dir, file, buf, err);
}

/* |root|/|ctrl||rel| (|ctrl| "" for v2), which must be a directory. */
static int ctrl_dir(const char *root, const char *ctrl, const char *rel, char *out, size_t size,
		    struct crid_err *err)
{
	struct stat st;

	if (snprintf(out, size, "%s%s%s%s", root, *ctrl ? "/" : "", ctrl, rel) >= (int)size)
		return crid_err_set(err, ENAMETOOLONG, "pod cgroup `%s`", rel);
	if (stat(out, &st) < 0 || !S_ISDIR(st.st_mode))
		return crid_err_cause(err, EBUSY, "pod cgroup `%s` does not exist", out);
	return 0;
}

static int64_t period_of(const struct crid_pod_limits *l)
{
	return l->cpu_period > 0 ? l->cpu_period : DEFAULT_CFS_PERIOD;
}

static int apply_v1(const char *root, const char *rel, const struct crid_pod_limits *l,
		    struct crid_err *err)
{
	char dir[PATH_MAX];
	bool cpu = l->cpu_shares || l->cpu_period || l->cpu_quota;
	bool cpuset = (l->cpuset_cpus && *l->cpuset_cpus) || (l->cpuset_mems && *l->cpuset_mems);

	if (cpu && ctrl_dir(root, "cpu", rel, dir, sizeof(dir), err) < 0)
		return -1;
	if ((l->cpu_shares && put_i64(dir, "cpu.shares", l->cpu_shares, err) < 0) ||
	    (l->cpu_period && put_i64(dir, "cpu.cfs_period_us", l->cpu_period, err) < 0) ||
	    (l->cpu_quota && put_i64(dir, "cpu.cfs_quota_us", l->cpu_quota, err) < 0))
		return -1;
	if (l->memory_limit && (ctrl_dir(root, "memory", rel, dir, sizeof(dir), err) < 0 ||
				put_i64(dir, "memory.limit_in_bytes", l->memory_limit, err) < 0))
		return -1;
	if (cpuset && ctrl_dir(root, "cpuset", rel, dir, sizeof(dir), err) < 0)
		return -1;
	if ((l->cpuset_cpus && *l->cpuset_cpus &&
	     put(dir, "cpuset.cpus", l->cpuset_cpus, err) < 0) ||
	    (l->cpuset_mems && *l->cpuset_mems && put(dir, "cpuset.mems", l->cpuset_mems, err) < 0))
		return -1;
	return 0;
}

/* runc's shares -> weight: [2, 262144] onto [1, 10000]. */
static int64_t weight_of(int64_t shares)
{
	if (shares < 2)
		shares = 2;
	if (shares > 262144)
		shares = 262144;
	return 1 + ((shares - 2) * 9999) / 262142;
}

static int apply_v2(const char *root, const char *rel, const struct crid_pod_limits *l,
		    struct crid_err *err)
{
	char dir[PATH_MAX], max[48];

	if (ctrl_dir(root, "", rel, dir, sizeof(dir), err) < 0)
		return -1;
	if (l->cpu_shares && put_i64(dir, "cpu.weight", weight_of(l->cpu_shares), err) < 0)
		return -1;
	if (l->cpu_quota || l->cpu_period) {
		if (l->cpu_quota > 0)
			snprintf(max, sizeof(max), "%" PRId64 " %" PRId64, l->cpu_quota,
				 period_of(l));
		else
			snprintf(max, sizeof(max), "max %" PRId64, period_of(l));
		if (put(dir, "cpu.max", max, err) < 0)
			return -1;
	}
	if ((l->memory_limit && put_i64(dir, "memory.max", l->memory_limit, err) < 0) ||
	    (l->cpuset_cpus && *l->cpuset_cpus &&
	     put(dir, "cpuset.cpus", l->cpuset_cpus, err) < 0) ||
	    (l->cpuset_mems && *l->cpuset_mems && put(dir, "cpuset.mems", l->cpuset_mems, err) < 0))
		return -1;
	return 0;
}

int crid_pod_cgroup_apply_at(const char *root, enum crid_cgroup_mode mode,
			     const char *cgroup_parent, const struct crid_pod_limits *l,
			     struct crid_err *err)
{
	char rel[PATH_MAX];

	if (crid_pod_cgroup_dir(cgroup_parent, rel, sizeof(rel), err) < 0)
		return -1;
	if (mode == CRID_CGROUP_V2)
		return apply_v2(root, rel, l, err);
	return apply_v1(root, rel, l, err);
}

int crid_pod_cgroup_apply(const struct crid_host *host, const char *cgroup_parent,
			  const struct crid_pod_limits *l, struct crid_err *err)
{
	/* hybrid: the limits live in the v1 controllers; the cgroup2 mount holds none of them */
	return crid_pod_cgroup_apply_at(CRID_CGROUP_ROOT, host->cgroup_mode, cgroup_parent, l, err);
}
