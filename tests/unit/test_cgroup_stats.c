/*
 * Unit tests for runtime/cgroup_stats: systemd path expansion, v1 and v2
 * reads on fixture trees, OOM detection, /proc/net/dev parsing, then the real
 * thing as root: a v1 cgroup with a process that allocates, an OOM kill under
 * a small limit, a netns with a veth pair carrying traffic, and `du` children
 * driven by the loop.
 */
#include <errno.h>
#include <fcntl.h>
#include <ftw.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>

#include "reactor/mem.h"
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

static void put(const char *dir, const char *file, const char *content)
{
	char path[PATH_MAX];
	FILE *f;

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

/* ---- systemd and cgroupfs paths ---- */

static void test_expand(void)
{
	static const struct {
		const char *in, *want;
	} ok[] = {
		{ "/kubepods/pod1/crid-abc", "/kubepods/pod1/crid-abc" },
		{ "kubepods/pod1", "/kubepods/pod1" },
		{ "kubepods-burstable-pod1.slice:crid:abc",
		  "/kubepods.slice/kubepods-burstable.slice/kubepods-burstable-pod1.slice/"
		  "crid-abc.scope" },
		{ "kubepods.slice:crid:abc", "/kubepods.slice/crid-abc.scope" },
		{ ":crid:abc", "/system.slice/crid-abc.scope" },
		{ "-.slice:crid:abc", "/crid-abc.scope" },
		{ "kubepods.slice:crid:pod2.slice", "/kubepods.slice/pod2.slice" },
		{ "/kubepods.slice/a..b/c", "/kubepods.slice/a..b/c" },
		/* a pod's cgroup_parent under systemd: a bare slice name */
		{ "kubepods-besteffort-pod1.slice",
		  "/kubepods.slice/kubepods-besteffort.slice/kubepods-besteffort-pod1.slice" },
		{ "kubepods.slice", "/kubepods.slice" },
		{ "-.slice", "" },
	};
	static const struct {
		const char *in;
		int code;
	} bad[] = {
		{ "", EINVAL },
		{ "a.slice:b", EINVAL },
		{ "a.slice:b:c:d", EINVAL },
		{ "kubepods--x.slice:p:n", EINVAL },
		{ "-kubepods.slice:p:n", EINVAL },
		{ "kubepods-.slice:p:n", EINVAL },
		{ ".slice:p:n", EINVAL },
		{ "kubepods:p:n", EINVAL },
		{ "a/b.slice:p:n", EINVAL },
		{ "a.slice:p:n/x", EINVAL },
		{ "a.slice:p:", EINVAL },
		{ "/kubepods/../etc", EINVAL },
		{ "..", EINVAL },
		{ "kubepods--x.slice", EINVAL },
		{ "kubepods-.slice", EINVAL },
	};
	char out[PATH_MAX], small[24], lng[600];
	struct crid_err err;

	for (size_t i = 0; i < sizeof(ok) / sizeof(ok[0]); i++) {
		int r = crid_cgroup_path_expand(ok[i].in, out, sizeof(out), &err);

		CHECK(r == 0 && strcmp(out, ok[i].want) == 0, "`%s` -> `%s` (%s)", ok[i].in,
		      r == 0 ? out : err.msg, ok[i].want);
	}
	for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
		crid_err_clear(&err);
		CHECK(crid_cgroup_path_expand(bad[i].in, out, sizeof(out), &err) < 0 &&
			  err.code == bad[i].code,
		      "`%s` refused: %s", bad[i].in, err.msg);
	}
	crid_err_clear(&err);
	CHECK(crid_cgroup_path_expand("a-b-c.slice:crid:x", small, sizeof(small), &err) < 0 &&
		  err.code == ENAMETOOLONG,
	      "expansion that does not fit: %s", err.msg);
	/* A slice name longer than any unit name: refused before it is expanded. */
	memset(lng, 'a', sizeof(lng));
	memcpy(lng + sizeof(lng) - 11, ".slice:p:n", 11);
	crid_err_clear(&err);
	CHECK(crid_cgroup_path_expand(lng, out, sizeof(out), &err) < 0 && err.code == ENAMETOOLONG,
	      "long slice refused: %.60s", err.msg);
}

/* The cgroupsPath crid hands the runtime, both managers, and what it expands to. */
static void test_format(void)
{
	static const struct {
		bool systemd;
		const char *parent, *want, *expanded;
	} ok[] = {
		{ true, "kubepods-burstable-pod1.slice", "kubepods-burstable-pod1.slice:crid:c1",
		  "/kubepods.slice/kubepods-burstable.slice/kubepods-burstable-pod1.slice/"
		  "crid-c1.scope" },
		{ true, "kubepods.slice", "kubepods.slice:crid:c1",
		  "/kubepods.slice/crid-c1.scope" },
		{ true, "", "system.slice:crid:c1", "/system.slice/crid-c1.scope" },
		{ false, "/kubepods/burstable/pod1", "/kubepods/burstable/pod1/crid-c1",
		  "/kubepods/burstable/pod1/crid-c1" },
		{ false, "", "/crid/crid-c1", "/crid/crid-c1" },
	};
	static const char *bad_systemd[] = { "/kubepods/pod1", "kubepods", "a/b.slice",
					     "kubepods--x.slice", "-kubepods.slice" };
	char out[PATH_MAX];
	struct crid_err err;
	char *p;

	for (size_t i = 0; i < sizeof(ok) / sizeof(ok[0]); i++) {
		int r = crid_cgroup_path_format(ok[i].systemd, ok[i].parent, "c1", &p, &err);

		CHECK(r == 0 && strcmp(p, ok[i].want) == 0, "%s `%s` -> `%s` (%s)",
		      ok[i].systemd ? "systemd" : "cgroupfs", ok[i].parent, r == 0 ? p : err.msg,
		      ok[i].want);
		CHECK(r == 0 && crid_cgroup_path_expand(p, out, sizeof(out), &err) == 0 &&
			  strcmp(out, ok[i].expanded) == 0,
		      "`%s` expands to `%s`", ok[i].want, ok[i].expanded);
		crid_free(p);
	}
	for (size_t i = 0; i < sizeof(bad_systemd) / sizeof(bad_systemd[0]); i++) {
		crid_err_clear(&err);
		p = (char *)1;
		CHECK(crid_cgroup_path_format(true, bad_systemd[i], "c1", &p, &err) < 0 &&
			  err.code == EINVAL && !p && strstr(err.msg, "cgroup_parent") &&
			  strstr(err.msg, bad_systemd[i]),
		      "systemd refuses parent `%s`: %s", bad_systemd[i], err.msg);
		CHECK(crid_cgroup_parent_check(false, bad_systemd[i], &err) == 0,
		      "cgroupfs takes parent `%s`", bad_systemd[i]);
	}
}

/* ---- fixture trees ---- */

static const char v1_stat[] = "cache 4096\nrss 1000\ntotal_cache 8192\ntotal_rss 700000\n"
			      "total_pgfault 1234\ntotal_pgmajfault 5\ntotal_inactive_file 300000\n"
			      "total_active_file 1000\n";

static void fixture_v1(const char *root, const char *rel, bool memsw)
{
	char d[PATH_MAX];

	snprintf(d, sizeof(d), "%s/cpuacct%s", root, rel);
	put(d, "cpuacct.usage", "987654321\n");
	snprintf(d, sizeof(d), "%s/memory%s", root, rel);
	put(d, "memory.usage_in_bytes", "1000000\n");
	put(d, "memory.stat", v1_stat);
	put(d, "memory.oom_control", "oom_kill_disable 0\nunder_oom 0\noom_kill 0\n");
	if (memsw)
		put(d, "memory.memsw.usage_in_bytes", "1500000\n");
	snprintf(d, sizeof(d), "%s/pids%s", root, rel);
	put(d, "pids.current", "7\n");
}

static void test_v1_fixture(void)
{
	char root[256], d[PATH_MAX];
	struct crid_cgroup_stats s;
	struct crid_err err;

	snprintf(root, sizeof(root), "%s/v1", tmp);
	fixture_v1(root, "/kubepods/pod1/crid-a", true);
	CHECK(crid_cgroup_stats_read_at(root, CRID_CGROUP_V1, "/kubepods/pod1/crid-a", &s, &err) ==
		  0,
	      "v1 read");
	CHECK(s.has_cpu && s.cpu_usage_ns == 987654321ULL, "v1 cpuacct.usage in ns");
	CHECK(s.has_memory && s.memory_usage == 1000000 && s.memory_working_set == 700000,
	      "v1 working set = usage - total_inactive_file (%llu)",
	      (unsigned long long)s.memory_working_set);
	CHECK(s.memory_rss == 700000 && s.page_faults == 1234 && s.major_page_faults == 5,
	      "v1 total_rss, total_pgfault, total_pgmajfault (not the local rss)");
	CHECK(s.has_swap && s.swap_usage == 500000, "v1 swap = memsw - usage");
	CHECK(s.pids == 7, "v1 pids.current");

	/* The same cgroup through the hybrid mode: v1 controllers, not the cgroup2 mount. */
	CHECK(crid_cgroup_stats_read_at(root, CRID_CGROUP_HYBRID, "/kubepods/pod1/crid-a", &s,
					&err) == 0 &&
		  s.memory_usage == 1000000,
	      "hybrid reads the v1 controllers");

	/* No swap accounting, inactive_file above usage, no cpuacct. */
	fixture_v1(root, "/kubepods/pod1/crid-b", false);
	snprintf(d, sizeof(d), "%s/memory/kubepods/pod1/crid-b", root);
	put(d, "memory.usage_in_bytes", "200000\n");
	snprintf(d, sizeof(d), "%s/cpuacct/kubepods/pod1/crid-b/cpuacct.usage", root);
	unlink(d);
	CHECK(crid_cgroup_stats_read_at(root, CRID_CGROUP_V1, "kubepods/pod1/crid-b", &s, &err) ==
		  0,
	      "v1 read with files missing");
	CHECK(!s.has_cpu && s.has_memory && !s.has_swap, "missing files are has_* false");
	CHECK(s.memory_working_set == 0, "working set floored at 0 when inactive_file > usage");

	crid_err_clear(&err);
	CHECK(crid_cgroup_stats_read_at(root, CRID_CGROUP_V1, "/kubepods/pod1/gone", &s, &err) <
		      0 &&
		  err.code == ENOENT,
	      "missing v1 cgroup is ENOENT: %s", err.msg);
}

static void test_v2_fixture(void)
{
	static const char rel[] =
	    "/kubepods.slice/kubepods-burstable.slice/kubepods-burstable-pod1.slice/"
	    "crid-x.scope";
	static const char sd[] = "kubepods-burstable-pod1.slice:crid:x";
	char root[256], d[PATH_MAX];
	struct crid_cgroup_stats s;
	struct crid_err err;

	snprintf(root, sizeof(root), "%s/v2", tmp);
	snprintf(d, sizeof(d), "%s%s", root, rel);
	put(d, "cpu.stat", "usage_usec 123456\nuser_usec 100000\nsystem_usec 23456\n");
	put(d, "memory.current", "5000000\n");
	put(d, "memory.stat",
	    "anon 3000000\nfile 1500000\nkernel 100\nactive_anon 10\ninactive_anon 20\n"
	    "active_file 500000\ninactive_file 1000000\npgfault 999\npgmajfault 9\n"
	    "pgrefill 0\n");
	put(d, "memory.swap.current", "4096\n");
	put(d, "pids.current", "3\n");
	put(d, "memory.events", "low 0\nhigh 0\nmax 4\noom 2\noom_kill 2\noom_group_kill 0\n");

	CHECK(crid_cgroup_stats_read_at(root, CRID_CGROUP_V2, sd, &s, &err) == 0,
	      "v2 read through a systemd path");
	CHECK(s.has_cpu && s.cpu_usage_ns == 123456000ULL, "v2 usage_usec * 1000");
	CHECK(s.has_memory && s.memory_usage == 5000000 && s.memory_working_set == 4000000,
	      "v2 working set = memory.current - inactive_file");
	CHECK(s.memory_rss == 3000000 && s.page_faults == 999 && s.major_page_faults == 9,
	      "v2 anon, pgfault, pgmajfault (inactive_anon not mistaken for anon)");
	CHECK(s.has_swap && s.swap_usage == 4096 && s.pids == 3, "v2 swap.current, pids.current");
	CHECK(crid_cgroup_oom_killed_at(root, CRID_CGROUP_V2, sd),
	      "v2 oom_kill 2 in memory.events");

	put(d, "memory.events", "low 0\nhigh 0\nmax 4\noom 1\noom_kill 0\n");
	CHECK(!crid_cgroup_oom_killed_at(root, CRID_CGROUP_V2, sd),
	      "v2 oom without a kill is not OOMKilled");

	snprintf(d, sizeof(d), "%s/bare", root);
	mkdirs(d);
	CHECK(crid_cgroup_stats_read_at(root, CRID_CGROUP_V2, "/bare", &s, &err) == 0 &&
		  !s.has_cpu && !s.has_memory && !s.has_swap && s.pids == 0,
	      "v2 cgroup without controllers: all has_* false");
	crid_err_clear(&err);
	CHECK(crid_cgroup_stats_read_at(root, CRID_CGROUP_V2, "/nope", &s, &err) < 0 &&
		  err.code == ENOENT,
	      "missing v2 cgroup is ENOENT: %s", err.msg);
}

static void test_oom_v1_fixture(void)
{
	char root[256], d[PATH_MAX];

	snprintf(root, sizeof(root), "%s/v1", tmp);
	fixture_v1(root, "/oom", false);
	CHECK(!crid_cgroup_oom_killed_at(root, CRID_CGROUP_V1, "/oom"), "v1 oom_kill 0");
	snprintf(d, sizeof(d), "%s/memory/oom", root);
	put(d, "memory.oom_control", "oom_kill_disable 0\nunder_oom 0\noom_kill 1\n");
	CHECK(crid_cgroup_oom_killed_at(root, CRID_CGROUP_V1, "/oom"), "v1 oom_kill 1");
	put(d, "memory.oom_control", "oom_kill_disable 0\nunder_oom 0\n");
	CHECK(!crid_cgroup_oom_killed_at(root, CRID_CGROUP_V1, "/oom"),
	      "v1 kernel < 4.13 without oom_kill: not OOMKilled");
	CHECK(!crid_cgroup_oom_killed_at(root, CRID_CGROUP_V1, "/missing"),
	      "missing cgroup: false");
}

static void test_netdev_parse(void)
{
	static const char text[] =
	    "Inter-|   Receive                                                |  Transmit\n"
	    " face |bytes    packets errs drop fifo frame compressed multicast|bytes    packets "
	    "errs drop fifo colls carrier compressed\n"
	    "    lo:    1000      10    0    0    0     0          0         0     1000      10    "
	    "0    0    0     0       0          0\n"
	    "  eth0: 18446744073709551615 5 3 0 0 0 0 0 2000 20 4 0 0 0 0 0\n"
	    "veth-with-a-very-long-name: 1 1 1 1 1 1 1 1 1 1 1 1 1 1 1 1\n"
	    "  net1: 42 1 0 0 0 0 0 0 43 1 1\n"
	    "  cut: 1 2 3\n";
	struct crid_net_stats st[4];
	size_t n;

	crid_netdev_parse(text, st, 4, &n);
	CHECK(n == 2, "two interfaces: lo, an over-long name and a cut line skipped (%zu)", n);
	CHECK(n >= 1 && strcmp(st[0].name, "eth0") == 0 && st[0].rx_bytes == UINT64_MAX &&
		  st[0].rx_errors == 3 && st[0].tx_bytes == 2000 && st[0].tx_errors == 4,
	      "eth0 rx bytes/errs, tx bytes/errs");
	CHECK(n >= 2 && strcmp(st[1].name, "net1") == 0 && st[1].tx_bytes == 43 &&
		  st[1].tx_errors == 1,
	      "net1");
	crid_netdev_parse(text, st, 1, &n);
	CHECK(n == 1, "at most |max| entries");
}

/* ---- real cgroups (root) ---- */

static bool v1_root_usable(const char **why)
{
	if (geteuid() != 0) {
		*why = "needs root";
		return false;
	}
	if (access("/sys/fs/cgroup/memory/memory.usage_in_bytes", F_OK) < 0 ||
	    access("/sys/fs/cgroup/cpuacct/cpuacct.usage", F_OK) < 0 ||
	    access("/sys/fs/cgroup/pids/cgroup.procs", F_OK) < 0) {
		*why = "no cgroup v1 memory, cpuacct and pids hierarchies here";
		return false;
	}
	return true;
}

static bool write_str(const char *path, const char *s)
{
	int fd = open(path, O_WRONLY | O_CLOEXEC);
	bool ok;

	if (fd < 0)
		return false;
	ok = write(fd, s, strlen(s)) == (ssize_t)strlen(s);
	close(fd);
	return ok;
}

static const char *const v1_ctls[] = { "memory", "cpuacct", "pids" };

static bool cg_make(const char *name)
{
	char d[PATH_MAX];

	for (size_t i = 0; i < 3; i++) {
		snprintf(d, sizeof(d), "/sys/fs/cgroup/%s/%s", v1_ctls[i], name);
		if (mkdir(d, 0755) < 0 && errno != EEXIST)
			return false;
	}
	return true;
}

/* Kills whatever is left in the cgroup (a shell's background sleep), then removes it. */
static void cg_destroy(const char *name)
{
	char path[PATH_MAX], list[256] = { 0 };
	int fd;

	snprintf(path, sizeof(path), "/sys/fs/cgroup/pids/%s/cgroup.procs", name);
	fd = open(path, O_RDONLY | O_CLOEXEC);
	if (fd >= 0) {
		if (read(fd, list, sizeof(list) - 1) > 0)
			for (char *t = strtok(list, "\n"); t; t = strtok(NULL, "\n"))
				kill(atoi(t), SIGKILL);
		close(fd);
	}
	/* rmdir fails with EBUSY until the killed tasks are gone. */
	for (int i = 0; i < 200; i++) {
		bool left = false;

		for (size_t c = 0; c < 3; c++) {
			snprintf(path, sizeof(path), "/sys/fs/cgroup/%s/%s", v1_ctls[c], name);
			if (rmdir(path) < 0 && errno != ENOENT)
				left = true;
		}
		if (!left)
			return;
		usleep(10000);
	}
	printf("# cgroup %s left behind\n", name);
}

/*
 * Runs |script| in a shell that first joins cgroup |name| in every v1
 * controller; the script's stdout is the returned pipe.
 */
static pid_t cg_run(const char *name, const char *script, int *out_fd)
{
	char cmd[2048];
	int p[2];
	pid_t pid;

	snprintf(cmd, sizeof(cmd),
		 "for c in memory cpuacct pids; do echo $$ > /sys/fs/cgroup/$c/%s/cgroup.procs "
		 "|| exit 9; done; %s",
		 name, script);
	if (pipe(p) < 0)
		return -1;
	pid = fork();
	if (pid == 0) {
		dup2(p[1], 1);
		close(p[0]);
		close(p[1]);
		execl("/bin/sh", "sh", "-c", cmd, (char *)NULL);
		_exit(127);
	}
	close(p[1]);
	*out_fd = p[0];
	return pid;
}

static void check_real_stats(const struct crid_host *host, const char *path)
{
	struct crid_cgroup_stats s;
	struct crid_err err;

	if (!CHECK(crid_cgroup_stats_read(host, path, &s, &err) == 0, "read `%s`", path)) {
		printf("# %s\n", err.msg);
		return;
	}
	CHECK(s.has_cpu && s.cpu_usage_ns > 1000000, "cpu usage of the allocating shell: %llu ns",
	      (unsigned long long)s.cpu_usage_ns);
	CHECK(s.has_memory && s.memory_rss >= 16u << 20,
	      "rss >= 16 MiB: %llu, usage %llu, working set %llu", (unsigned long long)s.memory_rss,
	      (unsigned long long)s.memory_usage, (unsigned long long)s.memory_working_set);
	CHECK(s.memory_usage >= s.memory_working_set && s.memory_working_set >= s.memory_rss,
	      "usage >= working set >= rss");
	CHECK(s.page_faults > 4096, "page faults counted: %llu", (unsigned long long)s.page_faults);
	CHECK(s.pids == 2, "pids.current: the shell and its sleep (%llu)",
	      (unsigned long long)s.pids);
	CHECK(!crid_cgroup_oom_killed(host, path), "no OOM kill");
}

static void test_real_v1(void)
{
	struct crid_host host = { .cgroup_mode = CRID_CGROUP_HYBRID };
	char name[64], path[80], buf[16] = { 0 };
	const char *why;
	int fd = -1, st;
	pid_t pid;

	if (!v1_root_usable(&why)) {
		tap_skip("stats of a real v1 cgroup", why);
		return;
	}
	snprintf(name, sizeof(name), "crid-test-%d", (int)getpid());
	snprintf(path, sizeof(path), "/%s", name);
	if (!CHECK(cg_make(name), "create /sys/fs/cgroup/{memory,cpuacct,pids}/%s", name))
		return;
	/* 16 MiB in a shell variable: anonymous memory charged to the cgroup. */
	pid = cg_run(name,
		     "x=$(head -c 16777216 /dev/zero | tr '\\0' a); sleep 30 & echo ready; wait; "
		     "echo ${#x}",
		     &fd);
	if (CHECK(pid > 0 && read(fd, buf, sizeof(buf) - 1) > 0 && strncmp(buf, "ready", 5) == 0,
		  "process in the cgroup allocated 16 MiB"))
		check_real_stats(&host, path);
	if (pid > 0) {
		kill(pid, SIGKILL);
		waitpid(pid, &st, 0);
	}
	if (fd >= 0)
		close(fd);
	cg_destroy(name);
}

/* A process over a small memory limit is OOM-killed, and memory.oom_control says so. */
static void test_real_oom_v1(void)
{
	struct crid_host host = { .cgroup_mode = CRID_CGROUP_V1 };
	char name[64], path[80], d[PATH_MAX], buf[8];
	const char *why;
	int fd, st = 0;
	pid_t pid;

	if (!v1_root_usable(&why)) {
		tap_skip("v1 OOM kill detected", why);
		return;
	}
	snprintf(name, sizeof(name), "crid-test-oom-%d", (int)getpid());
	snprintf(path, sizeof(path), "/%s", name);
	snprintf(d, sizeof(d), "/sys/fs/cgroup/memory/%s/memory.limit_in_bytes", name);
	if (!CHECK(cg_make(name) && write_str(d, "8388608"), "cgroup with an 8 MiB limit")) {
		cg_destroy(name);
		return;
	}
	/* With swap accounting, keep swap from absorbing the allocation. */
	snprintf(d, sizeof(d), "/sys/fs/cgroup/memory/%s/memory.memsw.limit_in_bytes", name);
	write_str(d, "8388608");
	CHECK(!crid_cgroup_oom_killed(&host, path), "no OOM kill before");
	pid = cg_run(name, "x=$(head -c 67108864 /dev/zero | tr '\\0' a); echo survived", &fd);
	if (pid > 0) {
		while (read(fd, buf, sizeof(buf)) > 0)
			;
		waitpid(pid, &st, 0);
		close(fd);
	}
	CHECK(crid_cgroup_oom_killed(&host, path), "OOM kill detected (shell %s %d)",
	      WIFSIGNALED(st) ? "killed by signal" : "exit",
	      WIFSIGNALED(st) ? WTERMSIG(st) : WEXITSTATUS(st));
	cg_destroy(name);
}

/* The test's own memory cgroup, wherever it is: the read works on what the host really has. */
static void test_self_cgroup(void)
{
	struct crid_host host = { .cgroup_mode = CRID_CGROUP_HYBRID };
	char line[512], *p = NULL;
	struct crid_cgroup_stats s;
	struct crid_err err;
	FILE *f;

	if (access("/sys/fs/cgroup/memory/memory.usage_in_bytes", F_OK) < 0) {
		tap_skip("stats of the test's own cgroup", "no cgroup v1 memory hierarchy");
		return;
	}
	f = fopen("/proc/self/cgroup", "re");
	while (f && fgets(line, sizeof(line), f)) {
		char *c = strchr(line, ':');

		if (c && strncmp(c + 1, "memory:", 7) == 0) {
			p = c + 8;
			p[strcspn(p, "\n")] = '\0';
			break;
		}
	}
	if (f)
		fclose(f);
	if (!p) {
		tap_skip("stats of the test's own cgroup", "no memory line in /proc/self/cgroup");
		return;
	}
	memset(&err, 0, sizeof(err));
	if (!CHECK(crid_cgroup_stats_read(&host, p, &s, &err) == 0, "read own cgroup `%s` %s", p,
		   err.msg))
		return;
	/* Only the memory path is ours: the other controllers may put this process elsewhere. */
	CHECK(s.has_memory && s.memory_usage > 0 && s.memory_working_set <= s.memory_usage,
	      "own cgroup: memory usage %llu, working set %llu", (unsigned long long)s.memory_usage,
	      (unsigned long long)s.memory_working_set);
}

/* ---- netns ---- */

static ino_t netns_ino(void)
{
	struct stat st;

	return stat("/proc/self/ns/net", &st) == 0 ? st.st_ino : 0;
}

static int sh(const char *fmt, ...) __attribute__((format(printf, 1, 2)));
static int sh(const char *fmt, ...)
{
	char cmd[1024];
	va_list ap;

	va_start(ap, fmt);
	vsnprintf(cmd, sizeof(cmd), fmt, ap);
	va_end(ap);
	return system(cmd);
}

static void test_netns(void)
{
	char ns[32], host_if[16], pod_if[16], nspath[64];
	struct crid_net_stats st[8], *pod = NULL;
	struct crid_err err;
	ino_t before = netns_ino();
	int id = (int)getpid() % 10000;
	size_t n = 0;

	if (geteuid() != 0 || access("/usr/sbin/ip", X_OK) < 0 || access("/bin/bash", X_OK) < 0) {
		tap_skip("netns stats", "needs root, iproute2 and bash");
		return;
	}
	snprintf(ns, sizeof(ns), "crid-stats-%d", id);
	snprintf(host_if, sizeof(host_if), "cs%dh", id);
	snprintf(pod_if, sizeof(pod_if), "cs%dp", id);
	snprintf(nspath, sizeof(nspath), "/run/netns/%s", ns);
	if (!CHECK(sh("ip netns add %s && ip link add %s type veth peer name %s && "
		      "ip link set %s netns %s && ip addr add 10.213.7.1/30 dev %s && "
		      "ip link set %s up && ip -n %s addr add 10.213.7.2/30 dev %s && "
		      "ip -n %s link set %s up && ip -n %s link set lo up",
		      ns, host_if, pod_if, pod_if, ns, host_if, host_if, ns, pod_if, ns, pod_if,
		      ns) == 0,
		   "netns %s with veth %s <-> %s", ns, pod_if, host_if))
		goto out;
	/* ARP out and back, then a datagram: traffic both ways on the pod side. */
	for (int i = 0; i < 200; i++) {
		if (i % 20 == 0)
			sh("ip netns exec %s bash -c 'echo hi > /dev/udp/10.213.7.1/9' 2>/dev/null",
			   ns);
		if (crid_netns_stats(nspath, st, 8, &n, &err) < 0)
			break;
		pod = n == 1 && strcmp(st[0].name, pod_if) == 0 ? &st[0] : NULL;
		if (pod && pod->rx_bytes > 0 && pod->tx_bytes > 0)
			break;
		usleep(10000);
	}
	CHECK(n == 1 && pod, "one interface besides lo in the netns: %s", n ? st[0].name : err.msg);
	CHECK(pod && pod->rx_bytes > 0 && pod->tx_bytes > 0 && pod->rx_errors == 0,
	      "traffic counted: rx %llu tx %llu", pod ? (unsigned long long)pod->rx_bytes : 0,
	      pod ? (unsigned long long)pod->tx_bytes : 0);
	CHECK(netns_ino() == before, "the test is back in its own netns");

	crid_err_clear(&err);
	CHECK(crid_netns_stats("/run/netns/crid-no-such-ns", st, 8, &n, &err) < 0 &&
		  err.code == ENOENT && netns_ino() == before,
	      "missing netns: %s", err.msg);
	crid_err_clear(&err);
	CHECK(crid_netns_stats("/proc/self/ns/uts", st, 8, &n, &err) < 0 && err.code == EINVAL &&
		  netns_ino() == before,
	      "not a netns: %s, netns unchanged", err.msg);
out:
	sh("ip link del %s 2>/dev/null; ip netns del %s 2>/dev/null", host_if, ns);
}

/* ---- du cache ---- */

static uint64_t sum_blocks, n_inodes;

static int add_blocks(const char *path, const struct stat *st, int flag, struct FTW *ftw)
{
	(void)path;
	(void)flag;
	(void)ftw;
	sum_blocks += (uint64_t)st->st_blocks * 512;
	n_inodes++;
	return 0;
}

/* Our live children, from /proc (CONFIG_PROC_CHILDREN); -1 when unreadable. */
static int n_children(void)
{
	char path[64], buf[512] = { 0 };
	int fd, n = 0;
	ssize_t r;

	snprintf(path, sizeof(path), "/proc/self/task/%d/children", (int)getpid());
	fd = open(path, O_RDONLY | O_CLOEXEC);
	if (fd < 0)
		return -1;
	r = read(fd, buf, sizeof(buf) - 1);
	close(fd);
	for (ssize_t i = 0; i < r; i++)
		n += buf[i] == ' ';
	return n;
}

static void write_size(const char *path, size_t size)
{
	char *b = malloc(size);
	int fd = open(path, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0644);

	if (!b || fd < 0)
		die(path);
	memset(b, 'x', size);
	if (write(fd, b, size) != (ssize_t)size || fsync(fd) < 0)
		die(path);
	close(fd);
	free(b);
}

static bool drive_until_idle(struct crid_loop *loop)
{
	for (int i = 0; i < 2000; i++) {
		if (n_children() == 0)
			return true;
		ev_run(loop->ev, EVRUN_ONCE);
	}
	return false;
}

static void on_signal(struct crid_loop *loop, int signo, void *user)
{
	(void)loop;
	(void)signo;
	(void)user;
}

static void du_fill(const char *dir, const char *sub)
{
	char f[PATH_MAX];

	mkdirs(sub);
	snprintf(f, sizeof(f), "%s/a", dir);
	write_size(f, 100000);
	snprintf(f, sizeof(f), "%s/b", dir);
	write_size(f, 1);
	snprintf(f, sizeof(f), "%s/c", sub);
	write_size(f, 300000);
	sum_blocks = n_inodes = 0;
	nftw(dir, add_blocks, 16, FTW_PHYS);
}

/* Six stale dirs at once: four du children, the other two wait, every dir gets measured. */
static void du_many(struct crid_loop *loop, struct crid_du_cache *c)
{
	char d[6][300];
	uint64_t b, in;
	int measured = 0, peak;

	for (int i = 0; i < 6; i++) {
		snprintf(d[i], sizeof(d[i]), "%s/q%d", tmp, i);
		mkdirs(d[i]);
		crid_du_cache_get(c, d[i], 3600, &b, &in);
	}
	peak = n_children();
	crid_du_cache_forget(c, d[5]); /* a queued one, dropped before its turn */
	CHECK(peak == 4, "at most 4 du children at once (%d)", peak);
	CHECK(drive_until_idle(loop), "queued measurements ran as slots freed");
	for (int i = 0; i < 5; i++) {
		crid_du_cache_get(c, d[i], 3600, &b, &in);
		measured += in == 1;
		crid_du_cache_forget(c, d[i]);
	}
	CHECK(measured == 5, "all 5 kept dirs measured (%d): one inode each", measured);
}

static void du_checks(struct crid_loop *loop, struct crid_du_cache *c, const char *dir,
		      const char *sub)
{
	char f[PATH_MAX], other[PATH_MAX];
	uint64_t b, in;

	crid_du_cache_get(c, dir, 60, &b, &in);
	CHECK(b == 0 && in == 0, "0 until the first measurement");
	crid_du_cache_get(c, dir, 60, &b, &in);
	CHECK(n_children() == 1, "one measurement in flight for a dir, however often asked");
	CHECK(drive_until_idle(loop), "measurement finished on the loop");
	crid_du_cache_get(c, dir, 60, &b, &in);
	CHECK(b == sum_blocks && in == n_inodes,
	      "disk usage %llu (want %llu), inodes %llu (want %llu)", (unsigned long long)b,
	      (unsigned long long)sum_blocks, (unsigned long long)in, (unsigned long long)n_inodes);
	CHECK(b >= 400001 && in == 5, "at least the files' bytes; 2 dirs + 3 files");
	CHECK(n_children() == 0, "a fresh figure is served from the cache, no child");

	snprintf(f, sizeof(f), "%s/d", sub);
	write_size(f, 200000);
	crid_du_cache_get(c, dir, 0, &b, &in);
	CHECK(in == 5 && n_children() == 1, "stale: old figures served while a new du runs");
	CHECK(drive_until_idle(loop), "second measurement finished");
	crid_du_cache_get(c, dir, 3600, &b, &in);
	CHECK(in == 6 && b >= 600001, "new file counted: %llu bytes, %llu inodes",
	      (unsigned long long)b, (unsigned long long)in);

	snprintf(other, sizeof(other), "%s/no-such-dir", tmp);
	crid_du_cache_get(c, other, 3600, &b, &in);
	CHECK(drive_until_idle(loop), "du of a missing dir ends");
	crid_du_cache_get(c, other, 3600, &b, &in);
	CHECK(b == 0 && in == 0 && n_children() == 0,
	      "missing dir: 0, and no retry before max_age");

	du_many(loop, c);

	/* Forgotten while measuring: the child is killed, its entry freed when it exits. */
	crid_du_cache_get(c, dir, 0, &b, &in);
	crid_du_cache_forget(c, dir);
	CHECK(drive_until_idle(loop), "forgotten dir's du killed and reaped");
	crid_du_cache_get(c, dir, 3600, &b, &in);
	CHECK(b == 0 && in == 0, "a forgotten dir starts from 0");
	crid_du_cache_forget(c, other);
}

static void test_du_cache(void)
{
	char dir[256], sub[300];
	struct crid_du_cache *c;
	struct crid_loop loop;
	struct crid_err err;

	if (n_children() < 0) {
		tap_skip("du cache", "no /proc/self/task/*/children to count children with");
		return;
	}
	if (crid_loop_init(&loop, on_signal, NULL, &err) < 0) {
		CHECK(0, "loop: %s", err.msg);
		return;
	}
	snprintf(dir, sizeof(dir), "%s/layer", tmp);
	snprintf(sub, sizeof(sub), "%s/etc", dir);
	du_fill(dir, sub);
	c = crid_du_cache_new(&loop);
	if (CHECK(c != NULL, "cache created")) {
		du_checks(&loop, c, dir, sub);
		/* Freed while measuring (|dir| was just restarted): reaped, no zombie left. */
		crid_du_cache_free(c);
		CHECK(n_children() == 0, "free kills and reaps the measurement in flight");
	}
	crid_loop_destroy(&loop);
}

int main(void)
{
	size_t mem0;

	snprintf(tmp, sizeof(tmp), "/tmp/crid-cgstats-XXXXXX");
	if (!mkdtemp(tmp))
		die("mkdtemp");
	mem0 = crid_mem_used();
	test_expand();
	test_format();
	test_v1_fixture();
	test_v2_fixture();
	test_oom_v1_fixture();
	test_netdev_parse();
	test_self_cgroup();
	test_real_v1();
	test_real_oom_v1();
	test_netns();
	test_du_cache();
	CHECK(crid_mem_used() == mem0, "no crid_malloc bytes leaked (%zu -> %zu)", mem0,
	      crid_mem_used());
	nftw(tmp, rm_one, 16, FTW_DEPTH | FTW_PHYS);
	return tap_done();
}
