/*
 * The figures behind the CRI metrics, from one cgroup's files. Sources and
 * derivations follow cAdvisor (container/libcontainer/handler.go) and runc's
 * libcontainer/cgroups/fs and fs2 readers, which CRI-O's metrics use:
 * cpuacct.stat's USER_HZ ticks become ns, v2's *_usec become ns, the working
 * set is usage minus inactive file pages, v1's swap is memsw minus usage,
 * limits above 2^62 are "unlimited" and reported 0, v2's cpu.weight is turned
 * back into shares. A figure whose file is missing is left out, never 0.
 */
#include "runtime/container/cgroup_metrics.h"

#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/statvfs.h>
#include <unistd.h>

#include "runtime/container/cgroup_stats.h"

#define STAT_FILE_MAX 8192     /* memory.stat: ~1.5 KiB on v1, ~2.5 KiB on 6.x v2 */
#define VALUE_FILE_MAX 64      /* one number, or "max 100000" */
#define PROCS_CHUNK 4096       /* cgroup.procs is read in chunks, only newlines counted */
#define UNLIMITED (1ULL << 62) /* cAdvisor's maxMemorySize: above it a limit means none */

/*
 * One cgroup's directories, opened once (O_PATH) so each file is an openat()
 * of one name: the path walk through cgroupfs was a fifth of the daemon's
 * time for a metrics list. v2: dir[0]; v1: one per controller read.
 */
static const char *const v1_ctls[] = { "cpu", "cpuacct", "memory", "pids" };

#define N_CTLS (sizeof(v1_ctls) / sizeof(v1_ctls[0]))

struct cgm_dir {
	bool v2;
	int dir[N_CTLS];
};

static int ctl_fd(const struct cgm_dir *d, const char *ctl)
{
	if (d->v2)
		return d->dir[0];
	for (size_t i = 0; i < N_CTLS; i++)
		if (strcmp(v1_ctls[i], ctl) == 0)
			return d->dir[i];
	return -1;
}

static int open_at(const struct cgm_dir *d, const char *ctl, const char *file)
{
	int dir = ctl_fd(d, ctl);

	return dir < 0 ? -1 : openat(dir, file, O_RDONLY | O_CLOEXEC | O_NOCTTY);
}

/* Opens the cgroup's directories under |root|; false when none exists. */
static bool dirs_open(struct cgm_dir *d, const char *root, const char *rel)
{
	char path[PATH_MAX];
	bool any = false;
	int n;

	for (size_t i = 0; i < N_CTLS; i++) {
		d->dir[i] = -1;
		if (d->v2 && i > 0)
			continue;
		n = d->v2 ? snprintf(path, sizeof(path), "%s%s", root, rel)
			  : snprintf(path, sizeof(path), "%s/%s%s", root, v1_ctls[i], rel);
		if (n < 0 || (size_t)n >= sizeof(path))
			continue;
		d->dir[i] = open(path, O_PATH | O_DIRECTORY | O_CLOEXEC);
		/* v1: the cpu controller alone does not make the cgroup (as stats) */
		any |= d->dir[i] >= 0 && (d->v2 || i > 0);
	}
	return any;
}

static void dirs_close(struct cgm_dir *d)
{
	for (size_t i = 0; i < N_CTLS; i++)
		if (d->dir[i] >= 0)
			close(d->dir[i]);
}

/* Reads at most |size| - 1 bytes of |ctl|/|file|, NUL-terminated; false when unreadable. */
static bool read_text(const struct cgm_dir *d, const char *ctl, const char *file, char *buf,
		      size_t size)
{
	size_t len = 0;
	ssize_t r = 0;
	int fd = open_at(d, ctl, file);

	if (fd < 0)
		return false;
	while (len + 1 < size) {
		r = read(fd, buf + len, size - 1 - len);
		if (r < 0 && errno == EINTR)
			continue;
		if (r <= 0)
			break;
		len += (size_t)r;
		/*
		 * A kernfs seq_file fills a read until its content ends: a short
		 * read is the end, and the read that would say 0 is saved (a
		 * quarter of the syscalls of a file, ~20 files a container).
		 */
		if ((size_t)r < size - 1 - (len - (size_t)r))
			break;
	}
	close(fd);
	buf[len] = '\0';
	return r >= 0;
}

static bool parse_u64(const char *s, uint64_t *out)
{
	unsigned long long v;
	char *end;

	if (*s < '0' || *s > '9')
		return false;
	errno = 0;
	v = strtoull(s, &end, 10);
	if (errno || (*end && *end != '\n' && *end != ' '))
		return false;
	*out = v;
	return true;
}

/* "key N" in a flat-keyed file (memory.stat, cpu.stat, memory.events, cpuacct.stat). */
static bool keyed(const char *text, const char *key, uint64_t *out)
{
	size_t kl = strlen(key);

	for (const char *l = text; l && *l; l = strchr(l, '\n'), l = l ? l + 1 : NULL) {
		if (strncmp(l, key, kl) == 0 && l[kl] == ' ')
			return parse_u64(l + kl + 1, out);
	}
	return false;
}

static void set(struct crid_cgroup_metrics *m, enum crid_cgm i, uint64_t v)
{
	m->v[i] = v;
	m->have |= 1ULL << i;
}

static void set_keyed(struct crid_cgroup_metrics *m, enum crid_cgm i, const char *text,
		      const char *key, uint64_t scale)
{
	uint64_t v;

	if (keyed(text, key, &v))
		set(m, i, v * scale);
}

static bool read_u64(const struct cgm_dir *d, const char *ctl, const char *file, uint64_t *out)
{
	char buf[VALUE_FILE_MAX];

	return read_text(d, ctl, file, buf, sizeof(buf)) && parse_u64(buf, out);
}

static void set_file(struct crid_cgroup_metrics *m, enum crid_cgm i, const struct cgm_dir *d,
		     const char *ctl, const char *file)
{
	uint64_t v;

	if (read_u64(d, ctl, file, &v))
		set(m, i, v);
}

/* A limit file: a number (over 2^62 means none) or v2's "max"; both ways "none" is 0. */
static void set_limit(struct crid_cgroup_metrics *m, enum crid_cgm i, const struct cgm_dir *d,
		      const char *ctl, const char *file)
{
	char buf[VALUE_FILE_MAX];
	uint64_t v;

	if (!read_text(d, ctl, file, buf, sizeof(buf)))
		return;
	if (strcmp(buf, "max\n") == 0 || strcmp(buf, "max") == 0)
		set(m, i, 0);
	else if (parse_u64(buf, &v))
		set(m, i, v > UNLIMITED ? 0 : v);
}

/* Lines of cgroup.procs, read in chunks: one per process, however many there are. */
static void set_processes(struct crid_cgroup_metrics *m, const struct cgm_dir *d, const char *ctl)
{
	char buf[PROCS_CHUNK];
	uint64_t n = 0;
	ssize_t r;
	int fd = open_at(d, ctl, "cgroup.procs");

	if (fd < 0)
		return;
	while ((r = read(fd, buf, sizeof(buf))) > 0 || (r < 0 && errno == EINTR)) {
		for (ssize_t i = 0; i < r; i++)
			n += buf[i] == '\n';
	}
	close(fd);
	if (r == 0)
		set(m, CRID_CGM_PROCESSES, n);
}

/* Working set as kubelet and cAdvisor compute it: usage - inactive_file, floored at 0. */
static void set_working_set(struct crid_cgroup_metrics *m, const char *stat, const char *key)
{
	uint64_t inactive = 0, usage = m->v[CRID_CGM_MEM_USAGE];

	if (!crid_cgm_has(m, CRID_CGM_MEM_USAGE))
		return;
	keyed(stat, key, &inactive);
	set(m, CRID_CGM_MEM_WORKING_SET, usage > inactive ? usage - inactive : 0);
}

/* ---- v1 ---- */

static void read_v1_cpu(const struct cgm_dir *d, struct crid_cgroup_metrics *m)
{
	char text[STAT_FILE_MAX];
	long hz = sysconf(_SC_CLK_TCK);
	uint64_t tick_ns = hz > 0 ? 1000000000ULL / (uint64_t)hz : 10000000ULL, v;

	set_file(m, CRID_CGM_CPU_USAGE_NS, d, "cpuacct", "cpuacct.usage");
	/* cpuacct.stat counts USER_HZ ticks; runc turns them into ns the same way */
	if (read_text(d, "cpuacct", "cpuacct.stat", text, sizeof(text))) {
		set_keyed(m, CRID_CGM_CPU_USER_NS, text, "user", tick_ns);
		set_keyed(m, CRID_CGM_CPU_SYSTEM_NS, text, "system", tick_ns);
	}
	if (read_text(d, "cpu", "cpu.stat", text, sizeof(text))) {
		set_keyed(m, CRID_CGM_CFS_PERIODS, text, "nr_periods", 1);
		set_keyed(m, CRID_CGM_CFS_THROTTLED_PERIODS, text, "nr_throttled", 1);
		set_keyed(m, CRID_CGM_CFS_THROTTLED_NS, text, "throttled_time", 1);
	}
	set_file(m, CRID_CGM_SPEC_CPU_SHARES, d, "cpu", "cpu.shares");
	set_file(m, CRID_CGM_SPEC_CPU_PERIOD, d, "cpu", "cpu.cfs_period_us");
	/* -1 (no quota) does not parse as a u64: left out, as CRI-O leaves it out */
	if (read_u64(d, "cpu", "cpu.cfs_quota_us", &v) && v > 0)
		set(m, CRID_CGM_SPEC_CPU_QUOTA, v);
}

static void read_v1_memory(const struct cgm_dir *d, struct crid_cgroup_metrics *m)
{
	char text[STAT_FILE_MAX];
	uint64_t memsw;

	set_file(m, CRID_CGM_MEM_USAGE, d, "memory", "memory.usage_in_bytes");
	set_file(m, CRID_CGM_MEM_MAX_USAGE, d, "memory", "memory.max_usage_in_bytes");
	set_file(m, CRID_CGM_MEM_KERNEL, d, "memory", "memory.kmem.usage_in_bytes");
	set_file(m, CRID_CGM_MEM_FAILCNT, d, "memory", "memory.failcnt");
	if (read_text(d, "memory", "memory.stat", text, sizeof(text))) {
		set_working_set(m, text, "total_inactive_file");
		set_keyed(m, CRID_CGM_MEM_RSS, text, "total_rss", 1);
		set_keyed(m, CRID_CGM_MEM_CACHE, text, "total_cache", 1);
		set_keyed(m, CRID_CGM_MEM_MAPPED_FILE, text, "total_mapped_file", 1);
		set_keyed(m, CRID_CGM_PGFAULT, text, "pgfault", 1);
		set_keyed(m, CRID_CGM_PGFAULT_HIER, text, "total_pgfault", 1);
		set_keyed(m, CRID_CGM_PGMAJFAULT, text, "pgmajfault", 1);
		set_keyed(m, CRID_CGM_PGMAJFAULT_HIER, text, "total_pgmajfault", 1);
	}
	/* memsw exists only with swap accounting; it counts memory + swap */
	if (crid_cgm_has(m, CRID_CGM_MEM_USAGE) &&
	    read_u64(d, "memory", "memory.memsw.usage_in_bytes", &memsw))
		set(m, CRID_CGM_MEM_SWAP,
		    memsw > m->v[CRID_CGM_MEM_USAGE] ? memsw - m->v[CRID_CGM_MEM_USAGE] : 0);
	/* oom_kill in memory.oom_control needs Linux 4.13 */
	if (read_text(d, "memory", "memory.oom_control", text, sizeof(text)))
		set_keyed(m, CRID_CGM_OOM_EVENTS, text, "oom_kill", 1);
	set_limit(m, CRID_CGM_SPEC_MEM_LIMIT, d, "memory", "memory.limit_in_bytes");
	set_limit(m, CRID_CGM_SPEC_MEM_RESERVATION, d, "memory", "memory.soft_limit_in_bytes");
	set_limit(m, CRID_CGM_SPEC_SWAP_LIMIT, d, "memory", "memory.memsw.limit_in_bytes");
}

static void read_v1(const struct cgm_dir *d, struct crid_cgroup_metrics *m)
{
	read_v1_cpu(d, m);
	read_v1_memory(d, m);
	set_file(m, CRID_CGM_THREADS, d, "pids", "pids.current");
	set_limit(m, CRID_CGM_THREADS_MAX, d, "pids", "pids.max");
	set_processes(m, d, "pids");
	if (!crid_cgm_has(m, CRID_CGM_PROCESSES))
		set_processes(m, d, "memory");
}

/* ---- v2 ---- */

static void read_v2_cpu(const struct cgm_dir *d, struct crid_cgroup_metrics *m)
{
	char text[STAT_FILE_MAX];
	uint64_t weight, quota, period;
	char *sp;

	if (read_text(d, NULL, "cpu.stat", text, sizeof(text))) {
		set_keyed(m, CRID_CGM_CPU_USAGE_NS, text, "usage_usec", 1000);
		set_keyed(m, CRID_CGM_CPU_USER_NS, text, "user_usec", 1000);
		set_keyed(m, CRID_CGM_CPU_SYSTEM_NS, text, "system_usec", 1000);
		set_keyed(m, CRID_CGM_CFS_PERIODS, text, "nr_periods", 1);
		set_keyed(m, CRID_CGM_CFS_THROTTLED_PERIODS, text, "nr_throttled", 1);
		set_keyed(m, CRID_CGM_CFS_THROTTLED_NS, text, "throttled_usec", 1000);
	}
	/* runc maps shares [2, 262144] onto weight [1, 10000]; cAdvisor maps it back */
	if (read_u64(d, NULL, "cpu.weight", &weight) && weight >= 1)
		set(m, CRID_CGM_SPEC_CPU_SHARES, (weight - 1) * 262142 / 9999 + 2);
	/* cpu.max: "<quota|max> <period>" */
	if (read_text(d, NULL, "cpu.max", text, VALUE_FILE_MAX) && (sp = strchr(text, ' '))) {
		if (parse_u64(sp + 1, &period))
			set(m, CRID_CGM_SPEC_CPU_PERIOD, period);
		*sp = '\0';
		if (parse_u64(text, &quota) && quota > 0)
			set(m, CRID_CGM_SPEC_CPU_QUOTA, quota);
	}
}

static void read_v2_memory(const struct cgm_dir *d, struct crid_cgroup_metrics *m)
{
	char text[STAT_FILE_MAX];

	set_file(m, CRID_CGM_MEM_USAGE, d, NULL, "memory.current");
	set_file(m, CRID_CGM_MEM_MAX_USAGE, d, NULL, "memory.peak"); /* Linux 5.19+ */
	if (read_text(d, NULL, "memory.stat", text, sizeof(text))) {
		set_working_set(m, text, "inactive_file");
		set_keyed(m, CRID_CGM_MEM_RSS, text, "anon", 1);
		set_keyed(m, CRID_CGM_MEM_CACHE, text, "file", 1);
		set_keyed(m, CRID_CGM_MEM_MAPPED_FILE, text, "file_mapped", 1);
		set_keyed(m, CRID_CGM_MEM_KERNEL, text, "kernel", 1); /* Linux 5.18+ */
		/* v2's memory.stat is hierarchical: both scopes are the same figure */
		set_keyed(m, CRID_CGM_PGFAULT, text, "pgfault", 1);
		set_keyed(m, CRID_CGM_PGFAULT_HIER, text, "pgfault", 1);
		set_keyed(m, CRID_CGM_PGMAJFAULT, text, "pgmajfault", 1);
		set_keyed(m, CRID_CGM_PGMAJFAULT_HIER, text, "pgmajfault", 1);
	}
	set_file(m, CRID_CGM_MEM_SWAP, d, NULL, "memory.swap.current");
	/* runc's fs2 reader: failcnt is the times usage hit memory.max */
	if (read_text(d, NULL, "memory.events", text, sizeof(text))) {
		set_keyed(m, CRID_CGM_MEM_FAILCNT, text, "max", 1);
		set_keyed(m, CRID_CGM_OOM_EVENTS, text, "oom_kill", 1);
	}
	set_limit(m, CRID_CGM_SPEC_MEM_LIMIT, d, NULL, "memory.max");
	set_limit(m, CRID_CGM_SPEC_MEM_RESERVATION, d, NULL, "memory.low");
	set_limit(m, CRID_CGM_SPEC_SWAP_LIMIT, d, NULL, "memory.swap.max");
}

static void read_v2(const struct cgm_dir *d, struct crid_cgroup_metrics *m)
{
	read_v2_cpu(d, m);
	read_v2_memory(d, m);
	set_file(m, CRID_CGM_THREADS, d, NULL, "pids.current");
	set_limit(m, CRID_CGM_THREADS_MAX, d, NULL, "pids.max");
	set_processes(m, d, NULL);
}

int crid_cgroup_metrics_read_at(const char *root, enum crid_cgroup_mode mode, const char *path,
				struct crid_cgroup_metrics *out, struct crid_err *err)
{
	char rel[PATH_MAX];
	struct cgm_dir d = { .v2 = mode == CRID_CGROUP_V2 };

	memset(out, 0, sizeof(*out));
	if (crid_cgroup_path_expand(path, rel, sizeof(rel), err) < 0)
		return crid_err_wrap(err, "cgroup metrics");
	if (!dirs_open(&d, root, rel)) {
		dirs_close(&d);
		return crid_err_set(err, ENOENT, "cgroup `%s` not found", rel);
	}
	if (d.v2)
		read_v2(&d, out);
	else
		read_v1(&d, out);
	dirs_close(&d);
	return 0;
}

int crid_cgroup_metrics_read(const struct crid_host *host, const char *path,
			     struct crid_cgroup_metrics *out, struct crid_err *err)
{
	bool v2 = host->cgroup_mode == CRID_CGROUP_V2;
	const char *root = v2 && host->cgroup2_mount[0] ? host->cgroup2_mount : CRID_CGROUP_ROOT;

	return crid_cgroup_metrics_read_at(root, host->cgroup_mode, path, out, err);
}

int crid_fs_capacity_read(const char *dir, struct crid_fs_capacity *out, struct crid_err *err)
{
	struct statvfs st;

	if (statvfs(dir, &st) < 0)
		return crid_err_set(err, errno, "statvfs `%s`", dir);
	out->bytes = (uint64_t)st.f_blocks * st.f_frsize;
	out->inodes = st.f_files;
	out->inodes_free = st.f_ffree;
	return 0;
}
