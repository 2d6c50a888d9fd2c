/*
 * Unit tests for runtime/container/cgroup_metrics: every figure read from
 * v1 and v2 fixture trees (files as the kernel writes them), the
 * conversions (ticks and usec to ns, weight to shares, "max" and limits over
 * 2^62 to 0), figures left out when their file is missing, ENOENT for a
 * missing cgroup; /proc/net/dev's packet and drop columns; the filesystem
 * capacity against statvfs; the du cache's "known" flag around a real
 * measurement; then, on a v1 host, this test's own memory cgroup.
 */
#include <errno.h>
#include <ftw.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/statvfs.h>
#include <unistd.h>

#include "reactor/loop.h"
#include "runtime/container/cgroup_metrics.h"
#include "runtime/container/cgroup_stats.h"
#include "tap.h"

static char tmp[64];

static void die(const char *what)
{
	fprintf(stderr, "test setup: %s: %s\n", what, strerror(errno));
	exit(2);
}

static void mkdirs(const char *path)
{
	char buf[PATH_MAX];

	snprintf(buf, sizeof(buf), "%s", path);
	for (char *p = buf + 1; *p; p++) {
		if (*p != '/')
			continue;
		*p = '\0';
		if (mkdir(buf, 0755) < 0 && errno != EEXIST)
			die(buf);
		*p = '/';
	}
	if (mkdir(buf, 0755) < 0 && errno != EEXIST)
		die(buf);
}

static void put(const char *root, const char *ctl, const char *rel, const char *file,
		const char *content)
{
	char dir[PATH_MAX], path[PATH_MAX + 64];
	FILE *f;

	snprintf(dir, sizeof(dir), "%s%s%s%s", root, ctl ? "/" : "", ctl ? ctl : "", rel);
	mkdirs(dir);
	snprintf(path, sizeof(path), "%s/%s", dir, file);
	f = fopen(path, "w");
	if (!f || fputs(content, f) < 0 || fclose(f) != 0)
		die(path);
}

static int rm_one(const char *path, const struct stat *st, int flag, struct FTW *ftw)
{
	(void)st;
	(void)flag;
	(void)ftw;
	return remove(path);
}

static void rm_file(const char *root, const char *rel)
{
	char path[PATH_MAX];

	snprintf(path, sizeof(path), "%s/%s", root, rel);
	if (unlink(path) < 0)
		die(path);
}

static bool is(const struct crid_cgroup_metrics *m, enum crid_cgm i, uint64_t want)
{
	if (!crid_cgm_has(m, i)) {
		printf("# figure %d missing\n", (int)i);
		return false;
	}
	if (m->v[i] != want)
		printf("# figure %d: %llu, want %llu\n", (int)i, (unsigned long long)m->v[i],
		       (unsigned long long)want);
	return m->v[i] == want;
}

/* ---- v1 ---- */

static const char v1_stat[] =
    "cache 4096\nrss 1000\nmapped_file 10\npgfault 300\npgmajfault 2\n"
    "total_cache 8192\ntotal_rss 700000\ntotal_mapped_file 4000\ntotal_pgfault 1234\n"
    "total_pgmajfault 5\ntotal_inactive_file 300000\ntotal_active_file 1000\n";

static void fixture_v1(const char *root, const char *rel)
{
	put(root, "cpuacct", rel, "cpuacct.usage", "987654321\n");
	put(root, "cpuacct", rel, "cpuacct.stat", "user 150\nsystem 25\n");
	put(root, "cpu", rel, "cpu.stat",
	    "nr_periods 40\nnr_throttled 3\nthrottled_time 2500000000\nnr_bursts 0\n");
	put(root, "cpu", rel, "cpu.shares", "256\n");
	put(root, "cpu", rel, "cpu.cfs_period_us", "100000\n");
	put(root, "cpu", rel, "cpu.cfs_quota_us", "50000\n");
	put(root, "memory", rel, "memory.usage_in_bytes", "1000000\n");
	put(root, "memory", rel, "memory.max_usage_in_bytes", "2000000\n");
	put(root, "memory", rel, "memory.kmem.usage_in_bytes", "65536\n");
	put(root, "memory", rel, "memory.failcnt", "9\n");
	put(root, "memory", rel, "memory.stat", v1_stat);
	put(root, "memory", rel, "memory.memsw.usage_in_bytes", "1500000\n");
	put(root, "memory", rel, "memory.oom_control",
	    "oom_kill_disable 0\nunder_oom 0\noom_kill 2\n");
	put(root, "memory", rel, "memory.limit_in_bytes", "67108864\n");
	put(root, "memory", rel, "memory.soft_limit_in_bytes", "9223372036854771712\n");
	put(root, "memory", rel, "memory.memsw.limit_in_bytes", "134217728\n");
	put(root, "pids", rel, "pids.current", "7\n");
	put(root, "pids", rel, "pids.max", "max\n");
	put(root, "pids", rel, "cgroup.procs", "10\n11\n12\n");
}

static void v1_checks(const struct crid_cgroup_metrics *m, long hz)
{
	uint64_t tick = 1000000000ULL / (uint64_t)hz;

	CHECK(is(m, CRID_CGM_CPU_USAGE_NS, 987654321ULL), "cpuacct.usage");
	CHECK(is(m, CRID_CGM_CPU_USER_NS, 150 * tick) && is(m, CRID_CGM_CPU_SYSTEM_NS, 25 * tick),
	      "cpuacct.stat ticks to ns (USER_HZ %ld)", hz);
	CHECK(is(m, CRID_CGM_CFS_PERIODS, 40) && is(m, CRID_CGM_CFS_THROTTLED_PERIODS, 3) &&
		  is(m, CRID_CGM_CFS_THROTTLED_NS, 2500000000ULL),
	      "cpu.stat nr_periods, nr_throttled, throttled_time (ns)");
	CHECK(is(m, CRID_CGM_SPEC_CPU_SHARES, 256) && is(m, CRID_CGM_SPEC_CPU_PERIOD, 100000) &&
		  is(m, CRID_CGM_SPEC_CPU_QUOTA, 50000),
	      "cpu.shares, cfs_period_us, cfs_quota_us");
	CHECK(is(m, CRID_CGM_MEM_USAGE, 1000000) && is(m, CRID_CGM_MEM_MAX_USAGE, 2000000) &&
		  is(m, CRID_CGM_MEM_KERNEL, 65536) && is(m, CRID_CGM_MEM_FAILCNT, 9),
	      "usage, max_usage, kmem usage, failcnt");
	CHECK(is(m, CRID_CGM_MEM_WORKING_SET, 700000), "working set = usage - total_inactive_file");
	CHECK(is(m, CRID_CGM_MEM_RSS, 700000) && is(m, CRID_CGM_MEM_CACHE, 8192) &&
		  is(m, CRID_CGM_MEM_MAPPED_FILE, 4000),
	      "total_rss, total_cache, total_mapped_file (hierarchy, not the local figures)");
	CHECK(is(m, CRID_CGM_PGFAULT, 300) && is(m, CRID_CGM_PGFAULT_HIER, 1234) &&
		  is(m, CRID_CGM_PGMAJFAULT, 2) && is(m, CRID_CGM_PGMAJFAULT_HIER, 5),
	      "pgfault/pgmajfault: container scope local, hierarchy scope total_");
	CHECK(is(m, CRID_CGM_MEM_SWAP, 500000), "swap = memsw - usage");
	CHECK(is(m, CRID_CGM_OOM_EVENTS, 2), "memory.oom_control oom_kill");
	CHECK(is(m, CRID_CGM_SPEC_MEM_LIMIT, 67108864) && is(m, CRID_CGM_SPEC_MEM_RESERVATION, 0) &&
		  is(m, CRID_CGM_SPEC_SWAP_LIMIT, 134217728),
	      "limits; the unlimited soft limit (2^63 - 4096) is 0");
	CHECK(is(m, CRID_CGM_THREADS, 7) && is(m, CRID_CGM_THREADS_MAX, 0) &&
		  is(m, CRID_CGM_PROCESSES, 3),
	      "pids.current, pids.max \"max\" is 0, cgroup.procs lines");
}

static void test_v1(void)
{
	char root[256];
	struct crid_cgroup_metrics m;
	struct crid_err err;
	long hz = sysconf(_SC_CLK_TCK);

	snprintf(root, sizeof(root), "%s/v1", tmp);
	fixture_v1(root, "/kubepods/pod1/crid-a");
	CHECK(crid_cgroup_metrics_read_at(root, CRID_CGROUP_V1, "/kubepods/pod1/crid-a", &m,
					  &err) == 0,
	      "v1 read");
	v1_checks(&m, hz > 0 ? hz : 100);
	CHECK(crid_cgroup_metrics_read_at(root, CRID_CGROUP_HYBRID, "kubepods/pod1/crid-a", &m,
					  &err) == 0 &&
		  is(&m, CRID_CGM_MEM_USAGE, 1000000),
	      "hybrid reads the v1 controllers");

	/* no quota, no swap accounting, no kmem, no pids controller */
	fixture_v1(root, "/p/b");
	put(root, "cpu", "/p/b", "cpu.cfs_quota_us", "-1\n");
	put(root, "memory", "/p/b", "cgroup.procs", "1\n");
	rm_file(root, "memory/p/b/memory.memsw.usage_in_bytes");
	rm_file(root, "memory/p/b/memory.kmem.usage_in_bytes");
	rm_file(root, "pids/p/b/cgroup.procs");
	CHECK(crid_cgroup_metrics_read_at(root, CRID_CGROUP_V1, "/p/b", &m, &err) == 0,
	      "v1 read b");
	CHECK(!crid_cgm_has(&m, CRID_CGM_SPEC_CPU_QUOTA), "quota -1: no quota figure");
	CHECK(!crid_cgm_has(&m, CRID_CGM_MEM_SWAP) && !crid_cgm_has(&m, CRID_CGM_MEM_KERNEL),
	      "missing files: no swap, no kernel figure (never a made-up 0)");
	CHECK(is(&m, CRID_CGM_PROCESSES, 1), "processes from the memory controller's cgroup.procs");
	crid_err_clear(&err);
	CHECK(crid_cgroup_metrics_read_at(root, CRID_CGROUP_V1, "/p/gone", &m, &err) < 0 &&
		  err.code == ENOENT && m.have == 0,
	      "missing cgroup: ENOENT (%s)", err.msg);
	crid_err_clear(&err);
	CHECK(crid_cgroup_metrics_read_at(root, CRID_CGROUP_V1, "/p/../etc", &m, &err) < 0 &&
		  err.code == EINVAL,
	      "`..` refused (%s)", err.msg);
}

/* ---- v2 ---- */

static const char v2_stat[] =
    "anon 700000\nfile 8192\nkernel 65536\nkernel_stack 16384\nsock 0\nshmem 0\n"
    "file_mapped 4000\nfile_dirty 0\ninactive_anon 0\nactive_anon 700000\n"
    "inactive_file 300000\nactive_file 1000\npgfault 1234\npgmajfault 5\n";

static void fixture_v2(const char *root, const char *rel)
{
	put(root, NULL, rel, "cpu.stat",
	    "usage_usec 987654\nuser_usec 600000\nsystem_usec 387654\nnr_periods 40\n"
	    "nr_throttled 3\nthrottled_usec 2500000\nnr_bursts 0\nburst_usec 0\n");
	put(root, NULL, rel, "cpu.weight", "10\n");
	put(root, NULL, rel, "cpu.max", "50000 100000\n");
	put(root, NULL, rel, "memory.current", "1000000\n");
	put(root, NULL, rel, "memory.peak", "2000000\n");
	put(root, NULL, rel, "memory.stat", v2_stat);
	put(root, NULL, rel, "memory.swap.current", "4096\n");
	put(root, NULL, rel, "memory.events", "low 0\nhigh 0\nmax 9\noom 2\noom_kill 1\n");
	put(root, NULL, rel, "memory.max", "67108864\n");
	put(root, NULL, rel, "memory.low", "0\n");
	put(root, NULL, rel, "memory.swap.max", "max\n");
	put(root, NULL, rel, "pids.current", "7\n");
	put(root, NULL, rel, "pids.max", "512\n");
	put(root, NULL, rel, "cgroup.procs", "10\n11\n");
}

static void test_v2(void)
{
	char root[256];
	struct crid_cgroup_metrics m;
	struct crid_err err;
	static const char rel[] = "/kubepods.slice/kubepods-pod1.slice/crid-a.scope";

	snprintf(root, sizeof(root), "%s/v2", tmp);
	fixture_v2(root, rel);
	CHECK(crid_cgroup_metrics_read_at(root, CRID_CGROUP_V2, "kubepods-pod1.slice:crid:a", &m,
					  &err) == 0,
	      "v2 read through a systemd cgroupsPath");
	CHECK(is(&m, CRID_CGM_CPU_USAGE_NS, 987654000ULL) &&
		  is(&m, CRID_CGM_CPU_USER_NS, 600000000ULL) &&
		  is(&m, CRID_CGM_CPU_SYSTEM_NS, 387654000ULL),
	      "cpu.stat usage/user/system usec to ns");
	CHECK(is(&m, CRID_CGM_CFS_PERIODS, 40) && is(&m, CRID_CGM_CFS_THROTTLED_PERIODS, 3) &&
		  is(&m, CRID_CGM_CFS_THROTTLED_NS, 2500000000ULL),
	      "cpu.stat nr_periods, nr_throttled, throttled_usec to ns");
	/* runc: weight = 1 + (shares - 2) * 9999 / 262142; 256 shares -> weight 10 */
	CHECK(is(&m, CRID_CGM_SPEC_CPU_SHARES, 237) && is(&m, CRID_CGM_SPEC_CPU_PERIOD, 100000) &&
		  is(&m, CRID_CGM_SPEC_CPU_QUOTA, 50000),
	      "cpu.weight back to shares (cAdvisor's formula), cpu.max quota and period");
	CHECK(is(&m, CRID_CGM_MEM_USAGE, 1000000) && is(&m, CRID_CGM_MEM_MAX_USAGE, 2000000) &&
		  is(&m, CRID_CGM_MEM_WORKING_SET, 700000),
	      "memory.current, memory.peak, working set = current - inactive_file");
	CHECK(is(&m, CRID_CGM_MEM_RSS, 700000) && is(&m, CRID_CGM_MEM_CACHE, 8192) &&
		  is(&m, CRID_CGM_MEM_MAPPED_FILE, 4000) && is(&m, CRID_CGM_MEM_KERNEL, 65536),
	      "memory.stat anon, file, file_mapped, kernel");
	CHECK(is(&m, CRID_CGM_PGFAULT, 1234) && is(&m, CRID_CGM_PGFAULT_HIER, 1234) &&
		  is(&m, CRID_CGM_PGMAJFAULT, 5) && is(&m, CRID_CGM_PGMAJFAULT_HIER, 5),
	      "v2 faults: both scopes the hierarchical figure");
	CHECK(is(&m, CRID_CGM_MEM_SWAP, 4096) && is(&m, CRID_CGM_MEM_FAILCNT, 9) &&
		  is(&m, CRID_CGM_OOM_EVENTS, 1),
	      "memory.swap.current; memory.events max (failcnt) and oom_kill");
	CHECK(is(&m, CRID_CGM_SPEC_MEM_LIMIT, 67108864) &&
		  is(&m, CRID_CGM_SPEC_MEM_RESERVATION, 0) && is(&m, CRID_CGM_SPEC_SWAP_LIMIT, 0),
	      "memory.max, memory.low, memory.swap.max \"max\" is 0");
	CHECK(is(&m, CRID_CGM_THREADS, 7) && is(&m, CRID_CGM_THREADS_MAX, 512) &&
		  is(&m, CRID_CGM_PROCESSES, 2),
	      "pids.current, pids.max, cgroup.procs lines");

	/* an older kernel: no memory.peak, no kernel line; cpu.max without a quota */
	put(root, NULL, "/old", "memory.current", "5\n");
	put(root, NULL, "/old", "memory.stat", "anon 1\nfile 2\n");
	put(root, NULL, "/old", "cpu.max", "max 100000\n");
	CHECK(crid_cgroup_metrics_read_at(root, CRID_CGROUP_V2, "/old", &m, &err) == 0 &&
		  !crid_cgm_has(&m, CRID_CGM_MEM_MAX_USAGE) &&
		  !crid_cgm_has(&m, CRID_CGM_MEM_KERNEL) &&
		  !crid_cgm_has(&m, CRID_CGM_SPEC_CPU_QUOTA) &&
		  is(&m, CRID_CGM_SPEC_CPU_PERIOD, 100000) && is(&m, CRID_CGM_MEM_WORKING_SET, 5),
	      "v2 without memory.peak or kernel: left out; \"max\" quota: none");
	put(root, NULL, "/bad", "memory.current", "garbage\n");
	put(root, NULL, "/bad", "cpu.stat", "usage_usec -1\nuser_usec 18446744073709551616\n");
	CHECK(crid_cgroup_metrics_read_at(root, CRID_CGROUP_V2, "/bad", &m, &err) == 0 &&
		  m.have == 0,
	      "malformed values are left out");
	crid_err_clear(&err);
	CHECK(crid_cgroup_metrics_read_at(root, CRID_CGROUP_V2, "/gone", &m, &err) < 0 &&
		  err.code == ENOENT,
	      "missing v2 cgroup: ENOENT");
}

static void test_netdev_columns(void)
{
	static const char text[] =
	    "Inter-|   Receive                                                |  Transmit\n"
	    " face |bytes    packets errs drop fifo frame compressed multicast|bytes    packets "
	    "errs drop fifo colls carrier compressed\n"
	    "  eth0:  5000  41  1  2  0  0  0  0  7000  52  3  4  0  0  0  0\n";
	struct crid_net_stats st[2];
	size_t n;

	crid_netdev_parse(text, st, 2, &n);
	CHECK(n == 1 && st[0].rx_bytes == 5000 && st[0].rx_packets == 41 && st[0].rx_errors == 1 &&
		  st[0].rx_dropped == 2,
	      "receive bytes, packets, errs, drop");
	CHECK(n == 1 && st[0].tx_bytes == 7000 && st[0].tx_packets == 52 && st[0].tx_errors == 3 &&
		  st[0].tx_dropped == 4,
	      "transmit bytes, packets, errs, drop");
}

/* The cgroup this test runs in, read for real and compared with its files. */
static void test_real_v1(void)
{
	char line[512], path[PATH_MAX + 64], *rel = NULL;
	struct crid_cgroup_metrics m;
	struct crid_err err;
	unsigned long long limit = 0;
	FILE *f = fopen("/proc/self/cgroup", "r");

	while (f && fgets(line, sizeof(line), f)) {
		char *p = strstr(line, ":memory:");

		if (p) {
			rel = strdup(p + 8);
			rel[strcspn(rel, "\n")] = '\0';
		}
	}
	if (f)
		fclose(f);
	if (!rel || access("/sys/fs/cgroup/memory/memory.limit_in_bytes", F_OK) < 0) {
		tap_skip("real v1 memory cgroup", "no cgroup v1 memory controller");
		free(rel);
		return;
	}
	snprintf(path, sizeof(path), "/sys/fs/cgroup/memory%s/memory.limit_in_bytes",
		 strcmp(rel, "/") ? rel : "");
	f = fopen(path, "r");
	if (!f || fscanf(f, "%llu", &limit) != 1)
		limit = 0;
	if (f)
		fclose(f);
	CHECK(crid_cgroup_metrics_read_at("/sys/fs/cgroup", CRID_CGROUP_V1, rel, &m, &err) == 0,
	      "own cgroup `%s` read", rel);
	CHECK(crid_cgm_has(&m, CRID_CGM_MEM_USAGE) && m.v[CRID_CGM_MEM_USAGE] > 0,
	      "memory usage of a live cgroup > 0");
	CHECK(is(&m, CRID_CGM_SPEC_MEM_LIMIT, limit > (1ULL << 62) ? 0 : limit),
	      "memory.limit_in_bytes as the file says (%llu)", limit);
	CHECK(crid_cgm_has(&m, CRID_CGM_PROCESSES) && m.v[CRID_CGM_PROCESSES] >= 1,
	      "this process is in cgroup.procs");
	free(rel);
}

static void test_fs_capacity(void)
{
	struct crid_fs_capacity cap;
	struct crid_err err;
	struct statvfs st;

	CHECK(crid_fs_capacity_read(tmp, &cap, &err) == 0 && statvfs(tmp, &st) == 0 &&
		  cap.bytes == (uint64_t)st.f_blocks * st.f_frsize && cap.inodes == st.f_files,
	      "capacity and inodes of the filesystem of `%s`", tmp);
	crid_err_clear(&err);
	CHECK(crid_fs_capacity_read("/no/such/dir", &cap, &err) < 0 && err.code == ENOENT,
	      "missing dir: ENOENT (%s)", err.msg);
}

static void on_signal(struct crid_loop *loop, int signo, void *user)
{
	(void)loop;
	(void)signo;
	(void)user;
}

/* Runs the loop until |dir| has a figure (du's two children ran); false after ~10 s. */
static bool wait_known(struct crid_loop *loop, struct crid_du_cache *c, const char *dir)
{
	uint64_t b, in;

	for (int i = 0; i < 1000; i++) {
		if (crid_du_cache_get_known(c, dir, 3600, &b, &in))
			return true;
		ev_run(loop->ev, EVRUN_NOWAIT);
		usleep(10000);
	}
	return false;
}

static void test_du_known(void)
{
	char dir[PATH_MAX], f[PATH_MAX + 8];
	struct crid_loop loop;
	struct crid_du_cache *c;
	struct crid_err err;
	uint64_t b = 1, in = 1;

	snprintf(dir, sizeof(dir), "%s/layer", tmp);
	put(dir, NULL, "", "f", "some bytes\n");
	if (crid_loop_init(&loop, on_signal, NULL, &err) < 0) {
		tap_skip("du known", err.msg);
		return;
	}
	c = crid_du_cache_new(&loop);
	CHECK(c && !crid_du_cache_get_known(c, dir, 3600, &b, &in) && b == 0,
	      "not known before the first measurement, 0s given");
	CHECK(c && wait_known(&loop, c, dir), "known once du measured it");
	crid_du_cache_get_known(c, dir, 3600, &b, &in);
	CHECK(b > 0 && in == 2, "the figures (%llu bytes, %llu inodes)", (unsigned long long)b,
	      (unsigned long long)in);
	snprintf(f, sizeof(f), "%s/gone", tmp);
	CHECK(c && !crid_du_cache_get_known(c, f, 3600, &b, &in), "a missing dir: not known");
	for (int i = 0; c && i < 300; i++) { /* du of the missing dir fails; then still unknown */
		ev_run(loop.ev, EVRUN_NOWAIT);
		usleep(10000);
	}
	CHECK(c && !crid_du_cache_get_known(c, f, 3600, &b, &in) && b == 0,
	      "a failed measurement leaves it unknown");
	crid_du_cache_free(c);
	crid_loop_destroy(&loop);
}

int main(void)
{
	snprintf(tmp, sizeof(tmp), "/tmp/crid-cgmetrics-XXXXXX");
	if (!mkdtemp(tmp))
		die("mkdtemp");
	test_v1();
	test_v2();
	test_netdev_columns();
	test_fs_capacity();
	test_du_known();
	test_real_v1();
	nftw(tmp, rm_one, 16, FTW_DEPTH | FTW_PHYS);
	return tap_done();
}
