/* Unit tests for runtime/host: cgroup layout, capabilities, OCI runtime choice. */
#include <errno.h>
#include <ftw.h>
#include <linux/magic.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/vfs.h>
#include <unistd.h>

#include <yajl/yajl_tree.h>

#include "reactor/log.h"
#include "reactor/mem.h"
#include "runtime/oci/crun_ns.h"
#include "runtime/oci/host.h"
#include "tap.h"

#define UNIFIED CRID_CGROUP_ROOT "/unified"

static char tmp[64];
static char crun_bin[128];   /* an executable file named "crun" */
static char crun_link[128];  /* a symlink with another name pointing at it */
static char noexec_bin[128]; /* a file without any x bit */

static void die(const char *what)
{
	fprintf(stderr, "test setup: %s: %s\n", what, strerror(errno));
	exit(2);
}

static void write_file(const char *path, const char *content, mode_t mode)
{
	FILE *f = fopen(path, "w");

	if (!f || fputs(content, f) < 0 || fclose(f) != 0 || chmod(path, mode) < 0)
		die(path);
}

static int rm_one(const char *path, const struct stat *st, int flag, struct FTW *ftw)
{
	(void)st;
	(void)flag;
	(void)ftw;
	return remove(path);
}

static bool eq(const char *got, const char *want)
{
	if (got && want && strcmp(got, want) == 0)
		return true;
	if (!got && !want)
		return true;
	printf("# got `%s`, want `%s`\n", got ? got : "(null)", want ? want : "(null)");
	return false;
}

static bool has(const char *hay, const char *needle)
{
	if (hay && strstr(hay, needle))
		return true;
	printf("# `%s` not in `%s`\n", needle, hay ? hay : "(null)");
	return false;
}

/* A config holding just the runtime handlers (the only part host.c reads). */
struct fake_cfg {
	struct crid_config cfg;
	struct crid_runtime_handler h[4];
};

static void fake_add(struct fake_cfg *f, const char *name, const char *path)
{
	struct crid_runtime_handler *h = &f->h[f->cfg.n_runtimes++];

	h->name = (char *)name;
	h->runtime_path = (char *)path;
	h->runtime_root = (char *)"";
	f->cfg.runtimes = f->h;
}

static void fake_init(struct fake_cfg *f, const char *default_runtime)
{
	memset(f, 0, sizeof(*f));
	f->cfg.default_runtime = (char *)default_runtime;
}

/* A host with the given cgroup layout and no runtimes yet. */
static void fake_host(struct crid_host *h, enum crid_cgroup_mode mode, const char *mnt,
		      const char *controllers)
{
	memset(h, 0, sizeof(*h));
	h->cgroup_mode = mode;
	snprintf(h->cgroup2_mount, sizeof(h->cgroup2_mount), "%s", mnt);
	snprintf(h->cgroup2_controllers, sizeof(h->cgroup2_controllers), "%s", controllers);
}

static void setup(void)
{
	snprintf(tmp, sizeof(tmp), "/tmp/crid-host-test-XXXXXX");
	if (!mkdtemp(tmp))
		die("mkdtemp");
	snprintf(crun_bin, sizeof(crun_bin), "%s/crun", tmp);
	snprintf(crun_link, sizeof(crun_link), "%s/oci-runtime", tmp);
	snprintf(noexec_bin, sizeof(noexec_bin), "%s/noexec", tmp);
	write_file(crun_bin, "#!/bin/sh\n", 0755);
	write_file(noexec_bin, "#!/bin/sh\n", 0644);
	if (symlink(crun_bin, crun_link) < 0)
		die(crun_link);
}

static void test_mountinfo_line(void)
{
	char mnt[256];

	CHECK(crid_host_mountinfo_cgroup2(
		  "41 31 0:38 / /sys/fs/cgroup/unified rw,relatime - cgroup2 cgroup2 rw",
		  CRID_CGROUP_ROOT, mnt, sizeof(mnt)) &&
		  eq(mnt, UNIFIED),
	      "mountinfo: cgroup2 under /sys/fs/cgroup");
	CHECK(crid_host_mountinfo_cgroup2("41 31 0:38 / /sys/fs/cgroup/unified rw,nosuid shared:9 "
					  "master:2 - cgroup2 cgroup2 rw,nsdelegate",
					  CRID_CGROUP_ROOT, mnt, sizeof(mnt)) &&
		  eq(mnt, UNIFIED),
	      "mountinfo: optional fields before the separator");
	CHECK(crid_host_mountinfo_cgroup2(
		  "50 31 0:40 / /sys/fs/cgroup/my\\040cg2 rw - cgroup2 none rw", CRID_CGROUP_ROOT,
		  mnt, sizeof(mnt)) &&
		  eq(mnt, "/sys/fs/cgroup/my cg2"),
	      "mountinfo: octal escapes in the mount point");
	CHECK(!crid_host_mountinfo_cgroup2(
		  "32 31 0:29 / /sys/fs/cgroup/cpu rw,relatime - cgroup cgroup rw,cpu",
		  CRID_CGROUP_ROOT, mnt, sizeof(mnt)),
	      "mountinfo: a v1 hierarchy is not cgroup2");
	CHECK(!crid_host_mountinfo_cgroup2("30 23 0:27 / /sys/fs/cgroup rw - cgroup2 cgroup2 rw",
					   CRID_CGROUP_ROOT, mnt, sizeof(mnt)),
	      "mountinfo: the root itself is not under it");
	CHECK(!crid_host_mountinfo_cgroup2("30 23 0:27 / /sys/fs/cgroupx/u rw - cgroup2 cgroup2 rw",
					   CRID_CGROUP_ROOT, mnt, sizeof(mnt)),
	      "mountinfo: a sibling with the same prefix is not under it");
	CHECK(!crid_host_mountinfo_cgroup2("30 23 0:27 / /sys/fs/cgroup/u rw - cgroup2x none rw",
					   CRID_CGROUP_ROOT, mnt, sizeof(mnt)) &&
		  !crid_host_mountinfo_cgroup2("", CRID_CGROUP_ROOT, mnt, sizeof(mnt)) &&
		  !crid_host_mountinfo_cgroup2("1 2 3 / /sys/fs/cgroup/u rw cgroup2",
					       CRID_CGROUP_ROOT, mnt, sizeof(mnt)),
	      "mountinfo: other fs types and truncated lines");
}

static void test_cgroup_at(void)
{
	char root[128], path[256], mountinfo[256], line[1024];
	struct crid_host h;
	struct statfs sf;

	snprintf(mountinfo, sizeof(mountinfo), "%s/mountinfo", tmp);
	if (statfs("/dev/shm", &sf) < 0 || sf.f_type != TMPFS_MAGIC) {
		tap_skip("fake hybrid layout on tmpfs", "/dev/shm is not tmpfs");
	} else {
		snprintf(root, sizeof(root), "/dev/shm/crid-host-test-XXXXXX");
		if (!mkdtemp(root))
			die(root);
		snprintf(path, sizeof(path), "%s/unified", root);
		if (mkdir(path, 0755) < 0)
			die(path);
		snprintf(path, sizeof(path), "%s/unified/cgroup.controllers", root);
		write_file(path, "hugetlb\n", 0644);
		snprintf(
		    line, sizeof(line),
		    "1 0 0:1 / %s rw - tmpfs tmpfs rw\n2 1 0:2 / %s/cpu rw - cgroup cgroup rw\n"
		    "3 1 0:3 / %s/cg2 rw - cgroup2 cgroup2 rw\n4 1 0:4 / %s/unified rw - "
		    "cgroup2 cgroup2 rw\n",
		    root, root, root, root);
		write_file(mountinfo, line, 0644);
		crid_host_detect_cgroup_at(&h, root, mountinfo);
		snprintf(path, sizeof(path), "%s/unified", root);
		CHECK(h.cgroup_mode == CRID_CGROUP_HYBRID && eq(h.cgroup2_mount, path) &&
			  eq(h.cgroup2_controllers, "hugetlb"),
		      "tmpfs root + cgroup2 under it: hybrid, <root>/unified preferred");

		snprintf(line, sizeof(line), "3 1 0:3 / %s/cg2 rw - cgroup2 cgroup2 rw\n", root);
		write_file(mountinfo, line, 0644);
		crid_host_detect_cgroup_at(&h, root, mountinfo);
		snprintf(path, sizeof(path), "%s/cg2", root);
		CHECK(h.cgroup_mode == CRID_CGROUP_HYBRID && eq(h.cgroup2_mount, path) &&
			  eq(h.cgroup2_controllers, ""),
		      "cgroup2 anywhere under the root counts as hybrid");

		snprintf(line, sizeof(line), "2 1 0:2 / %s/cpu rw - cgroup cgroup rw\n", root);
		write_file(mountinfo, line, 0644);
		crid_host_detect_cgroup_at(&h, root, mountinfo);
		CHECK(h.cgroup_mode == CRID_CGROUP_V1 && eq(h.cgroup2_mount, ""),
		      "tmpfs root without cgroup2: v1");
		nftw(root, rm_one, 8, FTW_DEPTH | FTW_PHYS);
	}
	crid_host_detect_cgroup_at(&h, "/nonexistent/crid", mountinfo);
	CHECK(h.cgroup_mode == CRID_CGROUP_V1, "missing cgroup root: v1, not a failure");
	CHECK(strcmp(crid_cgroup_mode_name(CRID_CGROUP_V1), "v1") == 0 &&
		  strcmp(crid_cgroup_mode_name(CRID_CGROUP_HYBRID), "hybrid") == 0 &&
		  strcmp(crid_cgroup_mode_name(CRID_CGROUP_V2), "v2") == 0,
	      "mode names");
}

static void test_cap_eff(void)
{
	unsigned long long v = 0;

	CHECK(crid_host_parse_cap_eff("Name:\tx\nCapInh:\t0000000000000000\nCapPrm:\t1\n"
				      "CapEff:\t000001fffeffffff\nCapBnd:\t0\n",
				      &v) == 0 &&
		  v == 0x1fffeffffffULL && !((v >> 24) & 1),
	      "CapEff parsed (CAP_SYS_RESOURCE bit 24 clear in this sample)");
	CHECK(crid_host_parse_cap_eff("CapInh:\t0\nCapPrm:\t1\n", &v) < 0 &&
		  crid_host_parse_cap_eff("CapEff:\tzz\n", &v) < 0 &&
		  crid_host_parse_cap_eff("", &v) < 0,
	      "CapEff missing or malformed");
}

static void test_choose_default(void)
{
	struct crid_host_runtime rt[3] = {
		{ .name = "crun", .path = "/usr/bin/crun", .is_crun = true, .why = "r1" },
		{ .name = "kata", .path = "/usr/bin/kata", .usable = true },
		{ .name = "runc", .path = "/usr/sbin/runc", .usable = true },
	};
	char why[512];

	CHECK(crid_host_choose_default(rt, 3, "kata", why, sizeof(why)) == 1 && eq(why, ""),
	      "choose: the configured default when usable");
	CHECK(crid_host_choose_default(rt, 3, "crun", why, sizeof(why)) == 2 &&
		  eq(why, "configured default `crun` unusable: r1; using `runc`"),
	      "choose: crun unusable -> runc preferred over an earlier handler");
	rt[2].usable = false;
	snprintf(rt[2].why, sizeof(rt[2].why), "r3");
	CHECK(crid_host_choose_default(rt, 3, "crun", why, sizeof(why)) == 1 &&
		  eq(why, "configured default `crun` unusable: r1; using `kata`"),
	      "choose: no usable runc -> first usable");
	rt[2].usable = true;
	rt[2].why[0] = '\0';
	rt[1].usable = false;
	snprintf(rt[1].why, sizeof(rt[1].why), "r2");
	rt[0].usable = true;
	rt[0].why[0] = '\0';
	CHECK(crid_host_choose_default(rt, 3, "kata", why, sizeof(why)) == 0 &&
		  eq(why, "configured default `kata` unusable: r2; using `crun`"),
	      "choose: non-crun default unusable -> first usable in config order");
	CHECK(crid_host_choose_default(rt, 3, "nope", why, sizeof(why)) == 0 &&
		  eq(why, "configured default `nope` is not a runtime handler; using `crun`"),
	      "choose: unknown configured default");
	CHECK(crid_host_choose_default(rt, 3, "", why, sizeof(why)) == 0 &&
		  eq(why, "no default runtime configured; using `crun`") &&
		  crid_host_choose_default(rt, 3, NULL, why, sizeof(why)) == 0,
	      "choose: no configured default");
	rt[0].usable = rt[2].usable = false;
	snprintf(rt[0].why, sizeof(rt[0].why), "r1");
	snprintf(rt[2].why, sizeof(rt[2].why), "r3");
	CHECK(crid_host_choose_default(rt, 3, "crun", why, sizeof(why)) == -1 &&
		  eq(why, "crun: r1; kata: r2; runc: r3"),
	      "choose: nothing usable -> -1 and every reason");
	CHECK(crid_host_choose_default(rt, 0, "crun", why, sizeof(why)) == -1 &&
		  eq(why, "no runtime handlers configured"),
	      "choose: no handlers");
}

/* crun (named so on disk), runc (/bin/true), a missing binary and a non-executable one. */
static void four_handlers(struct fake_cfg *f)
{
	fake_init(f, "crun");
	fake_add(f, "crun", crun_bin);
	fake_add(f, "runc", "/bin/true");
	fake_add(f, "missing", "/nonexistent/crun");
	fake_add(f, "noexec", noexec_bin);
}

static void test_check_runtimes(void)
{
	struct crid_err err = { 0 };
	struct crid_host h;
	struct fake_cfg f;
	char want[512];

	four_handlers(&f);
	fake_host(&h, CRID_CGROUP_HYBRID, UNIFIED, "hugetlb");
	CHECK(crid_host_check_runtimes(&h, &f.cfg, &err) == 0 && h.n_runtimes == 4,
	      "check: succeeds with unusable handlers");
	CHECK(!h.runtimes[0].usable && h.runtimes[0].is_crun &&
		  eq(h.runtimes[0].why, "crun does not support cgroup hybrid mode (cgroup v1 + "
					"cgroup2 at `/sys/fs/cgroup/unified` with controllers: "
					"hugetlb)"),
	      "check: crun unusable on hybrid with controllers in unified");
	CHECK(h.runtimes[1].usable && eq(h.runtimes[1].why, "") && !h.runtimes[1].is_crun,
	      "check: /bin/true usable");
	CHECK(!h.runtimes[2].usable && eq(h.runtimes[2].why, "`/nonexistent/crun` not found"),
	      "check: missing binary");
	snprintf(want, sizeof(want), "`%s` is not executable", noexec_bin);
	CHECK(!h.runtimes[3].usable && eq(h.runtimes[3].why, want), "check: non-executable file");
	snprintf(want, sizeof(want), "configured default `crun` unusable: %s; using `runc`",
		 h.runtimes[0].why);
	CHECK(eq(h.default_runtime, "runc") && eq(h.default_why, want),
	      "check: default falls back to runc and says why");
	h.crun_in_ns = true,
	h.crun_ns.fd = 77; /* a namespace fd, as crid_host_prepare_crun leaves */
	crid_host_check_runtimes(&h, &f.cfg, &err);
	CHECK(h.runtimes[0].usable && h.runtimes[0].mnt_ns_fd == 77 &&
		  eq(h.runtimes[0].hide_mount, UNIFIED) && h.runtimes[1].mnt_ns_fd == -1 &&
		  !h.runtimes[1].hide_mount && eq(h.default_runtime, "crun") &&
		  eq(h.default_why, ""),
	      "check: crun in its mount namespace: usable, the default, its calls there");
	h.crun_in_ns = false, h.crun_ns.fd = -1;
	snprintf(h.crun_ns_why, sizeof(h.crun_ns_why), "pin: Operation not permitted");
	crid_host_check_runtimes(&h, &f.cfg, &err);
	CHECK(!h.runtimes[0].usable && h.runtimes[0].mnt_ns_fd == -1 &&
		  strstr(h.runtimes[0].why,
			 "; no mount namespace without it: pin: Operation not permitted") &&
		  eq(h.default_runtime, "runc"),
	      "check: no namespace: crun unusable saying why, runc the default");

	/* Same config on other layouts: crun is fine. */
	crid_host_free(&h);
	fake_host(&h, CRID_CGROUP_HYBRID, UNIFIED, "");
	crid_host_check_runtimes(&h, &f.cfg, &err);
	CHECK(h.runtimes[0].usable && eq(h.default_runtime, "crun") && eq(h.default_why, ""),
	      "check: hybrid with an empty unified hierarchy: crun usable");
	crid_host_free(&h);
	fake_host(&h, CRID_CGROUP_HYBRID, CRID_CGROUP_ROOT "/cg2", "hugetlb");
	crid_host_check_runtimes(&h, &f.cfg, &err);
	CHECK(h.runtimes[0].usable, "check: cgroup2 outside unified is invisible to crun");
	crid_host_free(&h);
	fake_host(&h, CRID_CGROUP_V1, "", "");
	crid_host_check_runtimes(&h, &f.cfg, &err);
	CHECK(h.runtimes[0].usable && eq(h.default_runtime, "crun"), "check: v1: crun usable");
	/* Re-checking replaces the previous result without leaking it. */
	h.cgroup_mode = CRID_CGROUP_V2;
	snprintf(h.cgroup2_mount, sizeof(h.cgroup2_mount), CRID_CGROUP_ROOT);
	snprintf(h.cgroup2_controllers, sizeof(h.cgroup2_controllers), "cpu memory pids");
	crid_host_check_runtimes(&h, &f.cfg, &err);
	CHECK(h.runtimes[0].usable && eq(h.default_runtime, "crun") && h.n_runtimes == 4,
	      "check: v2: crun usable");
	crid_host_free(&h);

	/* cgroup_manager systemd: crun's scopes hold only name=systemd on v1 and hybrid. */
	f.cfg.cgroup_manager = (char *)"systemd";
	fake_host(&h, CRID_CGROUP_HYBRID, UNIFIED, "");
	crid_host_check_runtimes(&h, &f.cfg, &err);
	CHECK(h.systemd_cgroup && !h.runtimes[0].usable &&
		  strstr(h.runtimes[0].why, "systemd scopes on cgroup hybrid") &&
		  h.runtimes[1].usable && eq(h.default_runtime, "runc"),
	      "check: systemd on hybrid: crun unusable saying why, runc the default (%s)",
	      h.runtimes[0].why);
	crid_host_free(&h);
	fake_host(&h, CRID_CGROUP_V2, CRID_CGROUP_ROOT, "cpu memory pids");
	crid_host_check_runtimes(&h, &f.cfg, &err);
	CHECK(h.systemd_cgroup && h.runtimes[0].usable && eq(h.default_runtime, "crun"),
	      "check: systemd on v2: crun usable");
	crid_host_free(&h);
	f.cfg.cgroup_manager = (char *)"cgroupfs";
	fake_host(&h, CRID_CGROUP_HYBRID, UNIFIED, "");
	crid_host_check_runtimes(&h, &f.cfg, &err);
	CHECK(!h.systemd_cgroup && h.runtimes[0].usable, "check: cgroupfs: no --systemd-cgroup");
	crid_host_free(&h);

	fake_init(&f, "oci");
	fake_add(&f, "oci", crun_link);
	fake_add(&f, "crun", "/bin/true");
	fake_host(&h, CRID_CGROUP_HYBRID, UNIFIED, "hugetlb");
	crid_host_check_runtimes(&h, &f.cfg, &err);
	CHECK(!h.runtimes[0].usable && h.runtimes[0].is_crun && h.runtimes[1].usable &&
		  eq(h.default_runtime, "crun"),
	      "check: crun found through a symlink; a handler merely named crun is not crun");
	crid_host_free(&h);

	fake_init(&f, "crun");
	fake_add(&f, "crun", "/nonexistent/crun");
	fake_add(&f, "runc", "");
	fake_host(&h, CRID_CGROUP_V1, "", "");
	CHECK(crid_host_check_runtimes(&h, &f.cfg, &err) == 0 && !h.default_runtime &&
		  eq(h.default_why, "crun: `/nonexistent/crun` not found; runc: no runtime_path "
				    "configured"),
	      "check: nothing usable is not an error; default NULL with reasons");
	crid_host_free(&h);
	crid_host_free(&h);
}

/* crun_ns.c's pure part: which mount holds a path, and is it shared. */
static void test_crun_ns_mount_of(void)
{
	const char *mi =
	    "26 1 254:0 / / rw,relatime - ext4 /dev/vda rw\n"
	    "30 26 0:27 / /sys/fs/cgroup rw,relatime shared:5 - tmpfs tmpfs rw\n"
	    "40 30 0:37 / /sys/fs/cgroup/unified rw master:7 - cgroup2 cgroup2 rw\n"
	    "44 26 254:0 /a\\040b /run/a\\040b rw shared:1 master:2 - ext4 /dev/vda rw\n"
	    "45 26 254:0 /x /run/ab rw - ext4 /dev/vda rw\n";
	char point[PATH_MAX];
	bool shared = true;

	CHECK(crid_crun_ns_mount_of(mi, "/var/lib/x", point, sizeof(point), &shared) &&
		  eq(point, "/") && !shared,
	      "mount_of: a path on / only: /, private");
	CHECK(crid_crun_ns_mount_of(mi, "/sys/fs/cgroup/memory", point, sizeof(point), &shared) &&
		  eq(point, "/sys/fs/cgroup") && shared,
	      "mount_of: the longest containing mount point, shared");
	CHECK(crid_crun_ns_mount_of(mi, "/sys/fs/cgroup/unified", point, sizeof(point), &shared) &&
		  eq(point, "/sys/fs/cgroup/unified") && !shared,
	      "mount_of: the mount point itself; master: is not shared");
	CHECK(crid_crun_ns_mount_of(mi, "/run/a b/c", point, sizeof(point), &shared) &&
		  eq(point, "/run/a b") && shared,
	      "mount_of: octal escapes undone");
	CHECK(crid_crun_ns_mount_of(mi, "/run/abc", point, sizeof(point), &shared) &&
		  eq(point, "/"),
	      "mount_of: /run/ab does not hold /run/abc");
	CHECK(!crid_crun_ns_mount_of("", "/x", point, sizeof(point), &shared),
	      "mount_of: nothing in an empty table");
}

static const char *json_str(yajl_val v, const char *key)
{
	const char *path[] = { key, NULL };
	yajl_val s = yajl_tree_get(v, path, yajl_t_string);

	return s ? YAJL_GET_STRING(s) : NULL;
}

static void test_json(void)
{
	const char *path[] = { "runtimes", NULL };
	const char *dpath[] = { "defaultRuntime", NULL };
	struct crid_err err = { 0 };
	yajl_val root, list;
	struct crid_host h;
	struct fake_cfg f;
	char ebuf[128];
	char *json;

	four_handlers(&f);
	fake_host(&h, CRID_CGROUP_HYBRID, UNIFIED, "hugetlb");
	h.cap_eff = 0x1fffeffffffULL;
	h.last_cap = 40;
	crid_host_check_runtimes(&h, &f.cfg, &err);
	json = crid_host_info_json(&h);
	root = json ? yajl_tree_parse(json, ebuf, sizeof(ebuf)) : NULL;
	list = root ? yajl_tree_get(root, path, yajl_t_array) : NULL;
	CHECK(root && eq(json_str(root, "cgroupMode"), "hybrid") &&
		  eq(json_str(root, "cgroup2Mount"), UNIFIED) &&
		  eq(json_str(root, "cgroup2Controllers"), "hugetlb") &&
		  eq(json_str(root, "capEff"), "000001fffeffffff") &&
		  eq(json_str(root, "defaultRuntime"), "runc") &&
		  has(json_str(root, "defaultRuntimeReason"), "using `runc`"),
	      "json: parses, top-level fields");
	CHECK(list && list->u.array.len == 4 &&
		  eq(json_str(list->u.array.values[0], "name"), "crun") &&
		  YAJL_IS_FALSE(yajl_tree_get(list->u.array.values[0],
					      (const char *[]){ "usable", NULL }, yajl_t_any)) &&
		  YAJL_IS_TRUE(yajl_tree_get(list->u.array.values[1],
					     (const char *[]){ "usable", NULL }, yajl_t_any)) &&
		  has(json_str(list->u.array.values[2], "reason"), "not found"),
	      "json: one entry per handler with usable and reason");
	yajl_tree_free(root);
	crid_free(json);
	crid_host_free(&h);

	fake_init(&f, "crun");
	fake_host(&h, CRID_CGROUP_V1, "", "");
	crid_host_check_runtimes(&h, &f.cfg, &err);
	json = crid_host_info_json(&h);
	root = json ? yajl_tree_parse(json, ebuf, sizeof(ebuf)) : NULL;
	CHECK(root && YAJL_IS_NULL(yajl_tree_get(root, dpath, yajl_t_any)) &&
		  yajl_tree_get(root, path, yajl_t_array),
	      "json: no default -> null, empty runtimes");
	yajl_tree_free(root);
	crid_free(json);
	crid_host_free(&h);
}

/* The real host: consistent with what statfs says, and what it found is printed. */
static void test_real_host(void)
{
	struct crid_err err = { 0 };
	enum crid_cgroup_mode want = CRID_CGROUP_V1;
	struct statfs sf;
	struct crid_host h;
	struct fake_cfg f;
	char *json;

	fake_init(&f, "crun");
	fake_add(&f, "crun", "/usr/bin/crun");
	fake_add(&f, "runc", "/usr/sbin/runc");
	if (statfs(CRID_CGROUP_ROOT, &sf) == 0 && sf.f_type == CGROUP2_SUPER_MAGIC)
		want = CRID_CGROUP_V2;
	else if (statfs(UNIFIED, &sf) == 0 && sf.f_type == CGROUP2_SUPER_MAGIC)
		want = CRID_CGROUP_HYBRID;
	CHECK(crid_host_detect(&h, &f.cfg, &err) == 0, "detect on this host succeeds");
	CHECK(h.cgroup_mode == want || (want == CRID_CGROUP_V1 &&
					h.cgroup_mode == CRID_CGROUP_HYBRID && h.cgroup2_mount[0]),
	      "detect: cgroup mode agrees with statfs");
	CHECK(h.has_cap_sys_resource == ((h.cap_eff >> 24) & 1) &&
		  (h.last_cap == -1 || (h.last_cap >= 30 && h.last_cap < 64)),
	      "detect: capabilities consistent");
	json = crid_host_info_json(&h);
	printf("# this host: %s\n", json ? json : "(out of memory)");
	crid_free(json);
	crid_host_free(&h);
}

/* Every allocation failing in turn: -1 or NULL, never a crash or a leak. */
static void test_alloc_failures(void)
{
	size_t base = crid_mem_used();
	struct crid_err err = { 0 };
	struct crid_host h;
	struct fake_cfg f;
	bool sane = true;
	char *json;

	four_handlers(&f);
	for (long n = 1; n < 16; n++) {
		fake_host(&h, CRID_CGROUP_HYBRID, UNIFIED, "hugetlb");
		crid_mem_fail_after(n);
		if (crid_host_check_runtimes(&h, &f.cfg, &err) < 0)
			sane = sane && err.code == ENOMEM && !h.default_runtime;
		json = crid_host_info_json(&h);
		crid_mem_fail_after(0);
		crid_free(json);
		crid_host_free(&h);
	}
	CHECK(sane && crid_mem_used() == base, "allocation failures: ENOMEM, nothing leaked");
}

int main(void)
{
	size_t base = crid_mem_used();

	crid_log_set_level(CRID_LOG_ERROR);
	setup();
	test_mountinfo_line();
	test_cgroup_at();
	test_cap_eff();
	test_choose_default();
	test_check_runtimes();
	test_crun_ns_mount_of();
	test_json();
	test_real_host();
	test_alloc_failures();
	CHECK(crid_mem_used() == base, "no memory left allocated");
	nftw(tmp, rm_one, 8, FTW_DEPTH | FTW_PHYS);
	return tap_done();
}
