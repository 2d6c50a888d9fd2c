/*
 * Container rootfs overlays: layer order, whiteouts, opaque dirs, writes
 * landing in the upper dir, deep images (200 layers) through both the new
 * mount API and mount(2) with short links, idempotent mount and unmount;
 * the default crid.image.max_layers is exactly what both ways can mount.
 * Needs root (mount, mknod, trusted.* xattrs); skips otherwise.
 */
#include <errno.h>
#include <fcntl.h>
#include <ftw.h>
#include <limits.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/sysmacros.h>
#include <sys/xattr.h>
#include <unistd.h>

#include "reactor/mem.h"
#include "runtime/config/config.h"
#include "runtime/container/rootfs.h"
#include "tests/unit/tap.h"

static char base[64];

/* snprintf that aborts on truncation (test paths are short). */
static void __attribute__((format(printf, 3, 4)))
pathf(char *out, size_t size, const char *fmt, ...)
{
	va_list ap;
	int n;

	va_start(ap, fmt);
	n = vsnprintf(out, size, fmt, ap);
	va_end(ap);
	if (n < 0 || (size_t)n >= size)
		abort();
}

static int rm_cb(const char *p, const struct stat *st, int flag, struct FTW *f)
{
	(void)st, (void)f;
	return flag == FTW_DP ? rmdir(p) : unlink(p);
}

static void put(const char *dir, const char *name, const char *text)
{
	char path[PATH_MAX];
	FILE *f;

	pathf(path, sizeof(path), "%s/%s", dir, name);
	f = fopen(path, "w");
	if (!f)
		abort();
	fputs(text, f);
	fclose(f);
}

/* The file's first line, or "" when it cannot be read. */
static const char *get(const char *dir, const char *name)
{
	static char buf[128];
	char path[PATH_MAX];
	FILE *f;

	buf[0] = '\0';
	pathf(path, sizeof(path), "%s/%s", dir, name);
	f = fopen(path, "r");
	if (!f)
		return buf;
	if (!fgets(buf, sizeof(buf), f))
		buf[0] = '\0';
	fclose(f);
	return buf;
}

static bool exists(const char *dir, const char *name)
{
	char path[PATH_MAX];
	struct stat st;

	pathf(path, sizeof(path), "%s/%s", dir, name);
	return lstat(path, &st) == 0;
}

static void mk(const char *dir, const char *name)
{
	char path[PATH_MAX];

	pathf(path, sizeof(path), "%s/%s", dir, name);
	if (mkdir(path, 0755) < 0 && errno != EEXIST)
		abort();
}

/*
 * l0 (base): a, b, c, d/x, e/y
 * l1:        a (new), whiteout for b, d opaque with d/z
 * l2 (top):  c (new), e/w
 */
static void make_layers(char layers[3][PATH_MAX], const char *tag)
{
	char path[PATH_MAX];

	for (int i = 0; i < 3; i++) {
		pathf(layers[i], PATH_MAX, "%s/%s-layer%d", base, tag, i);
		mk(layers[i], "");
	}
	put(layers[0], "a", "a0");
	put(layers[0], "b", "b0");
	put(layers[0], "c", "c0");
	mk(layers[0], "d");
	put(layers[0], "d/x", "x0");
	mk(layers[0], "e");
	put(layers[0], "e/y", "y0");
	put(layers[1], "a", "a1");
	pathf(path, sizeof(path), "%s/b", layers[1]);
	if (mknod(path, S_IFCHR | 0, makedev(0, 0)) < 0)
		abort();
	mk(layers[1], "d");
	pathf(path, sizeof(path), "%s/d", layers[1]);
	if (setxattr(path, "trusted.overlay.opaque", "y", 1, 0) < 0)
		abort();
	put(layers[1], "d/z", "z1");
	put(layers[2], "c", "c2");
	mk(layers[2], "e");
	put(layers[2], "e/w", "w2");
}

static void check_merged(const char *what, const char *dir, char layers[3][PATH_MAX])
{
	char root[PATH_MAX];

	pathf(root, sizeof(root), "%s/rootfs", dir);
	CHECK(!strcmp(get(root, "a"), "a1"), "%s: a from the middle layer", what);
	CHECK(!exists(root, "b"), "%s: whiteout hides b", what);
	CHECK(!strcmp(get(root, "c"), "c2"), "%s: c from the top layer", what);
	CHECK(!exists(root, "d/x") && !strcmp(get(root, "d/z"), "z1"),
	      "%s: opaque d hides d/x, shows d/z", what);
	CHECK(!strcmp(get(root, "e/y"), "y0") && !strcmp(get(root, "e/w"), "w2"),
	      "%s: e merges its layers", what);
	put(root, "new", "n");
	put(root, "a", "A");
	CHECK(!strcmp(get(dir, "upper/new"), "n") && !strcmp(get(dir, "upper/a"), "A") &&
		  !strcmp(get(layers[1], "a"), "a1"),
	      "%s: writes go to the upper dir, layers untouched", what);
}

static void test_merge(bool legacy)
{
	const char *what = legacy ? "mount(2)" : "new mount api";
	char layers[3][PATH_MAX], dir[PATH_MAX];
	const char *lowers[3];
	struct crid_err err = { 0 };

	pathf(dir, sizeof(dir), "%s/ctr-%s", base, legacy ? "legacy" : "new");
	make_layers(layers, legacy ? "legacy" : "new");
	for (int i = 0; i < 3; i++)
		lowers[i] = layers[i];
	crid_rootfs_force_legacy(legacy);
	crid_err_clear(&err);
	CHECK(!crid_rootfs_is_mounted(dir), "%s: not mounted before", what);
	if (!CHECK(crid_rootfs_mount(dir, lowers, 3, &err) == 0, "%s: mount: %s", what, err.msg))
		return;
	CHECK(crid_rootfs_is_mounted(dir), "%s: mounted", what);
	CHECK(crid_rootfs_mount(dir, lowers, 3, &err) == 0, "%s: mount again is a no-op", what);
	check_merged(what, dir, layers);
	CHECK(!exists(dir, "l"), "%s: no short links left behind", what);
	CHECK(crid_rootfs_unmount(dir, &err) == 0 && !crid_rootfs_is_mounted(dir),
	      "%s: unmounted: %s", what, err.msg);
	CHECK(crid_rootfs_unmount(dir, &err) == 0, "%s: unmount again is a no-op: %s", what,
	      err.msg);
	crid_rootfs_force_legacy(false);
}

/* 200 layers, each adding a file; layer i also overrides "top" so the last one must win. */
static void test_deep(bool legacy)
{
	const char *what = legacy ? "mount(2)" : "new mount api";
	enum { N = 200 };
	static char paths[N][PATH_MAX];
	const char *lowers[N];
	char dir[PATH_MAX], name[128], root[PATH_MAX];
	struct crid_err err = { 0 };
	int seen = 0;

	for (int i = 0; i < N; i++) {
		/* long names, as an image store's would be: well past one page in all */
		pathf(paths[i], PATH_MAX, "%s/deep/sha256-%064d/diff", base, i);
		mk(base, "deep");
		pathf(name, sizeof(name), "deep/sha256-%064d", i);
		mk(base, name);
		mk(paths[i], "");
		pathf(name, sizeof(name), "f%d", i);
		put(paths[i], name, "x");
		pathf(name, sizeof(name), "%d", i);
		put(paths[i], "top", name);
		lowers[i] = paths[i];
	}
	pathf(dir, sizeof(dir), "%s/deep-%s", base, legacy ? "legacy" : "new");
	crid_rootfs_force_legacy(legacy);
	crid_err_clear(&err);
	if (!CHECK(crid_rootfs_mount(dir, lowers, N, &err) == 0, "%s: mount %d layers: %s", what, N,
		   err.msg))
		goto out;
	pathf(root, sizeof(root), "%s/rootfs", dir);
	for (int i = 0; i < N; i++) {
		pathf(name, sizeof(name), "f%d", i);
		seen += exists(root, name);
	}
	CHECK(seen == N, "%s: every layer's file is visible (%d)", what, seen);
	CHECK(!strcmp(get(root, "top"), "199"), "%s: the last layer is the top one (%s)", what,
	      get(root, "top"));
	CHECK(crid_rootfs_unmount(dir, &err) == 0, "%s: unmount deep: %s", what, err.msg);
out:
	crid_rootfs_force_legacy(false);
}

/*
 * Pulls refuse images over crid.image.max_layers at the manifest, so its
 * default must mount, and one layer more must not (overlayfs' OVL_MAX_STACK):
 * otherwise the limit refuses runnable images or lets unrunnable ones in.
 */
static void test_max_layers(bool legacy)
{
	const char *what = legacy ? "mount(2)" : "new mount api";
	static char paths[1024][PATH_MAX];
	static const char *lowers[1024];
	struct crid_config cfg;
	struct crid_err err = { 0 };
	char dir[PATH_MAX], name[128];
	int n;

	if (!CHECK(crid_config_init_defaults(&cfg, &err) == 0, "config defaults: %s", err.msg))
		return;
	n = cfg.max_layers;
	crid_config_free(&cfg);
	if (!CHECK(n > 0 && n < 1024, "default max_layers %d", n))
		return;
	mk(base, "stack");
	for (int i = 0; i <= n; i++) {
		pathf(name, sizeof(name), "stack/sha256-%064d", i);
		pathf(paths[i], PATH_MAX, "%s/%s", base, name);
		mk(base, name);
		lowers[i] = paths[i];
	}
	crid_rootfs_force_legacy(legacy);
	pathf(dir, sizeof(dir), "%s/stack-%s", base, legacy ? "legacy" : "new");
	crid_err_clear(&err);
	CHECK(crid_rootfs_mount(dir, lowers, (size_t)n, &err) == 0, "%s: max_layers = %d mount: %s",
	      what, n, err.msg);
	crid_rootfs_unmount(dir, &err);
	pathf(dir, sizeof(dir), "%s/stack-%s-over", base, legacy ? "legacy" : "new");
	crid_err_clear(&err);
	CHECK(crid_rootfs_mount(dir, lowers, (size_t)n + 1, &err) < 0 &&
		  !crid_rootfs_is_mounted(dir),
	      "%s: %d layers do not: %s", what, n + 1, err.msg);
	crid_rootfs_force_legacy(false);
}

static void test_no_layers(void)
{
	char dir[PATH_MAX];
	struct crid_err err = { 0 };

	pathf(dir, sizeof(dir), "%s/scratch", base);
	crid_err_clear(&err);
	CHECK(crid_rootfs_mount(dir, NULL, 0, &err) == 0 && crid_rootfs_is_mounted(dir),
	      "no layers: an empty lower: %s", err.msg);
	CHECK(crid_rootfs_unmount(dir, &err) == 0, "no layers: unmount");
}

static void test_missing_layer(void)
{
	const char *lowers[] = { "/nonexistent/crid-layer" };
	char dir[PATH_MAX];
	struct crid_err err = { 0 };

	pathf(dir, sizeof(dir), "%s/missing", base);
	crid_err_clear(&err);
	CHECK(crid_rootfs_mount(dir, lowers, 1, &err) < 0 && strstr(err.msg, "crid-layer"),
	      "a missing layer is named: %s", err.msg);
	CHECK(!crid_rootfs_is_mounted(dir), "nothing mounted after a failure");
}

int main(void)
{
	if (geteuid() != 0) {
		tap_skip("rootfs overlays", "needs root (mount, mknod, trusted xattrs)");
		return tap_done();
	}
	snprintf(base, sizeof(base), "/tmp/crid-rootfs-XXXXXX");
	if (!mkdtemp(base)) {
		printf("not ok - mkdtemp\n");
		return 1;
	}
	test_merge(false);
	test_merge(true);
	test_deep(false);
	test_deep(true);
	test_max_layers(false);
	test_max_layers(true);
	test_no_layers();
	test_missing_layer();
	nftw(base, rm_cb, 16, FTW_DEPTH | FTW_PHYS);
	CHECK(crid_mem_used() == 0, "no memory left allocated (%zu)", crid_mem_used());
	return tap_done();
}
