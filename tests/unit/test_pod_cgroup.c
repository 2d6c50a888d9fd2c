/* Unit tests for runtime/pod/pod_cgroup: pod cgroup paths and limits on fixture trees (v1, v2). */
#include <errno.h>
#include <ftw.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "runtime/pod/pod_cgroup.h"
#include "tap.h"

static char tmp[64];

static void die(const char *what)
{
	fprintf(stderr, "test setup: %s: %s\n", what, strerror(errno));
	exit(2);
}

static void mkdirs(const char *path)
{
	char buf[512];

	snprintf(buf, sizeof(buf), "%s", path);
	for (char *p = buf + 1; *p; p++)
		if (*p == '/') {
			*p = '\0';
			if (mkdir(buf, 0755) < 0 && errno != EEXIST)
				die(buf);
			*p = '/';
		}
	if (mkdir(buf, 0755) < 0 && errno != EEXIST)
		die(buf);
}

/* Makes |dir| with empty |files| (cgroupfs makes them; the code never creates one). */
static void fixture(const char *dir, const char *const *files)
{
	char path[512];

	mkdirs(dir);
	for (; *files; files++) {
		FILE *f;

		snprintf(path, sizeof(path), "%s/%s", dir, *files);
		f = fopen(path, "w");
		if (!f || fclose(f) != 0)
			die(path);
	}
}

static const char *slurp(const char *dir, const char *file)
{
	static char buf[128];
	char path[512];
	FILE *f;
	size_t n;

	snprintf(path, sizeof(path), "%s/%s", dir, file);
	f = fopen(path, "r");
	if (!f)
		return "(missing)";
	n = fread(buf, 1, sizeof(buf) - 1, f);
	buf[n] = '\0';
	fclose(f);
	return buf;
}

static void test_dir(void)
{
	char out[256];
	struct crid_err err = { 0 };

	CHECK(crid_pod_cgroup_dir("/kubepods/burstable/pod1", out, sizeof(out), &err) == 0 &&
		  strcmp(out, "/kubepods/burstable/pod1") == 0,
	      "cgroupfs path as is: %s", out);
	CHECK(crid_pod_cgroup_dir("kubepods-burstable-pod1.slice", out, sizeof(out), &err) == 0 &&
		  strcmp(out, "/kubepods.slice/kubepods-burstable.slice/"
			      "kubepods-burstable-pod1.slice") == 0,
	      "systemd slice nested: %s", out);
	CHECK(crid_pod_cgroup_dir("", out, sizeof(out), &err) < 0 && err.code == EINVAL,
	      "empty refused");
	CHECK(crid_pod_cgroup_dir("/kubepods/../etc", out, sizeof(out), &err) < 0 &&
		  err.code == EINVAL && strstr(err.msg, ".."),
	      "`..` refused: %s", err.msg);
	CHECK(crid_pod_cgroup_dir("a--b.slice", out, sizeof(out), &err) < 0 && err.code == EINVAL,
	      "malformed slice refused: %s", err.msg);
	CHECK(crid_pod_cgroup_dir("x/..", out, sizeof(out), &err) < 0, "trailing `..` refused");
	CHECK(crid_pod_cgroup_dir("/a..b/c", out, sizeof(out), &err) == 0,
	      "`..` inside a name is fine");
}

static void test_v1(void)
{
	static const char *const cpu[] = { "cpu.shares", "cpu.cfs_period_us", "cpu.cfs_quota_us",
					   NULL };
	static const char *const mem[] = { "memory.limit_in_bytes", NULL };
	static const char *const cpuset[] = { "cpuset.cpus", "cpuset.mems", NULL };
	struct crid_pod_limits l = { .cpu_shares = 512,
				     .cpu_period = 50000,
				     .cpu_quota = 25000,
				     .memory_limit = 64 << 20,
				     .cpuset_cpus = "0",
				     .cpuset_mems = "" };
	char dir[256];
	struct crid_err err = { 0 };

	snprintf(dir, sizeof(dir), "%s/v1/cpu/kubepods/pod1", tmp);
	fixture(dir, cpu);
	snprintf(dir, sizeof(dir), "%s/v1/memory/kubepods/pod1", tmp);
	fixture(dir, mem);
	snprintf(dir, sizeof(dir), "%s/v1/cpuset/kubepods/pod1", tmp);
	fixture(dir, cpuset);
	snprintf(dir, sizeof(dir), "%s/v1", tmp);
	CHECK(crid_pod_cgroup_apply_at(dir, CRID_CGROUP_HYBRID, "/kubepods/pod1", &l, &err) == 0,
	      "v1 apply: %s", err.msg);
	snprintf(dir, sizeof(dir), "%s/v1/cpu/kubepods/pod1", tmp);
	CHECK(strcmp(slurp(dir, "cpu.shares"), "512") == 0, "cpu.shares written");
	CHECK(strcmp(slurp(dir, "cpu.cfs_period_us"), "50000") == 0, "period written");
	CHECK(strcmp(slurp(dir, "cpu.cfs_quota_us"), "25000") == 0, "quota written");
	snprintf(dir, sizeof(dir), "%s/v1/memory/kubepods/pod1", tmp);
	CHECK(strcmp(slurp(dir, "memory.limit_in_bytes"), "67108864") == 0, "memory written");
	snprintf(dir, sizeof(dir), "%s/v1/cpuset/kubepods/pod1", tmp);
	CHECK(strcmp(slurp(dir, "cpuset.cpus"), "0") == 0 && !slurp(dir, "cpuset.mems")[0],
	      "cpuset.cpus written, empty mems left alone");

	snprintf(dir, sizeof(dir), "%s/v1", tmp);
	CHECK(crid_pod_cgroup_apply_at(dir, CRID_CGROUP_V1, "/kubepods/pod2", &l, &err) < 0 &&
		  err.code == EBUSY && strstr(err.msg, "does not exist"),
	      "missing pod cgroup: %s", err.msg);
}

static void test_v2(void)
{
	static const char *const files[] = { "cpu.weight", "cpu.max", "memory.max", NULL };
	struct crid_pod_limits l = { .cpu_shares = 1024, .cpu_quota = -1, .memory_limit = 1 << 30 };
	char dir[256];
	struct crid_err err = { 0 };

	snprintf(dir, sizeof(dir), "%s/v2/kubepods.slice/kubepods-pod1.slice", tmp);
	fixture(dir, files);
	snprintf(dir, sizeof(dir), "%s/v2", tmp);
	CHECK(crid_pod_cgroup_apply_at(dir, CRID_CGROUP_V2, "kubepods-pod1.slice", &l, &err) == 0,
	      "v2 apply: %s", err.msg);
	snprintf(dir, sizeof(dir), "%s/v2/kubepods.slice/kubepods-pod1.slice", tmp);
	CHECK(strcmp(slurp(dir, "cpu.weight"), "39") == 0, "1024 shares -> weight 39 (runc)");
	CHECK(strcmp(slurp(dir, "cpu.max"), "max 100000") == 0, "quota -1 -> max, default period");
	CHECK(strcmp(slurp(dir, "memory.max"), "1073741824") == 0, "memory.max written");
	l = (struct crid_pod_limits){ .cpu_quota = 150000 };
	snprintf(dir, sizeof(dir), "%s/v2", tmp);
	CHECK(crid_pod_cgroup_apply_at(dir, CRID_CGROUP_V2, "kubepods-pod1.slice", &l, &err) == 0,
	      "v2 quota only");
	snprintf(dir, sizeof(dir), "%s/v2/kubepods.slice/kubepods-pod1.slice", tmp);
	CHECK(strcmp(slurp(dir, "cpu.max"), "150000 100000") == 0, "cpu.max quota period");
	CHECK(strcmp(slurp(dir, "memory.max"), "1073741824") == 0, "memory left alone when 0");
	/* a file the controller does not offer: the error names it */
	l = (struct crid_pod_limits){ .cpuset_cpus = "0-1" };
	snprintf(dir, sizeof(dir), "%s/v2", tmp);
	CHECK(crid_pod_cgroup_apply_at(dir, CRID_CGROUP_V2, "kubepods-pod1.slice", &l, &err) < 0 &&
		  strstr(err.msg, "cpuset.cpus"),
	      "missing controller file named: %s", err.msg);
}

static int rm_cb(const char *p, const struct stat *st, int flag, struct FTW *ftw)
{
	(void)st, (void)flag, (void)ftw;
	return remove(p);
}

int main(void)
{
	snprintf(tmp, sizeof(tmp), "/tmp/crid-test-podcg-XXXXXX");
	if (!mkdtemp(tmp))
		die("mkdtemp");
	test_dir();
	test_v1();
	test_v2();
	nftw(tmp, rm_cb, 16, FTW_DEPTH | FTW_PHYS);
	return tap_done();
}
