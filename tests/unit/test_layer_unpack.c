/*
 * Unit tests for the layer unpacker: every entry type, owners, modes, mtimes,
 * whiteouts, and the containment promises (nothing lands outside the root).
 * Archives come from a tiny writer below; runs as root (chown, mknod).
 */
#include <errno.h>
#include <fcntl.h>
#include <ftw.h>
#include <limits.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/sysmacros.h>
#include <sys/xattr.h>
#include <unistd.h>

#include "reactor/mem.h"
#include "runtime/image/layer_unpack.h"
#include "tests/unit/tap.h"

#include "tests/unit/tar_writer.h"

/* ---- sandbox: <sandbox>/d1/d2/root, so `..` escapes would land in d1 or d2 ---- */

static char sandbox[64], rootpath[PATH_MAX];
static int rootfd = -1;
static int outside_count;

static int rm_cb(const char *p, const struct stat *st, int flag, struct FTW *f)
{
	(void)st, (void)f;
	return flag == FTW_DP ? rmdir(p) : unlink(p);
}

static void fresh_root(void)
{
	if (rootfd >= 0)
		close(rootfd);
	nftw(rootpath, rm_cb, 16, FTW_DEPTH | FTW_PHYS);
	if (mkdir(rootpath, 0755) < 0 || (rootfd = open(rootpath, O_RDONLY | O_DIRECTORY)) < 0)
		abort();
}

static int outside_cb(const char *p, const struct stat *st, int flag, struct FTW *f)
{
	size_t rl = strlen(rootpath);

	(void)st, (void)flag, (void)f;
	if (!strncmp(p, rootpath, rl) && (p[rl] == '\0' || p[rl] == '/'))
		return 0;
	outside_count++;
	return 0;
}

/* Entries in the sandbox outside the root, besides sandbox, d1 and d2 themselves. */
static int count_outside(void)
{
	outside_count = 0;
	nftw(sandbox, outside_cb, 16, FTW_PHYS);
	return outside_count - 3;
}

static int unpack(const struct tw *w, size_t step, const struct crid_unpack_limits *lim,
		  struct crid_layer_stats *st, struct crid_err *err)
{
	struct crid_layer_unpack *u = crid_layer_unpack_new(rootfd, lim, err);
	int rc = 0;

	if (!u)
		return -1;
	for (size_t off = 0; off < w->len && rc == 0;) {
		size_t n = step && step < w->len - off ? step : w->len - off;

		size_t used;

		rc = crid_layer_unpack_feed(u, w->buf + off, n, &used, err);
		off += n;
	}
	if (rc == 0)
		rc = crid_layer_unpack_finish(u, st, err);
	crid_layer_unpack_free(u);
	return rc;
}

static int lst(const char *rel, struct stat *st)
{
	return fstatat(rootfd, rel, st, AT_SYMLINK_NOFOLLOW);
}

static int content_is(const char *rel, const char *want)
{
	char buf[256] = { 0 };
	int fd = openat(rootfd, rel, O_RDONLY | O_NOFOLLOW);
	ssize_t n;

	if (fd < 0)
		return 0;
	n = read(fd, buf, sizeof(buf) - 1);
	close(fd);
	return n == (ssize_t)strlen(want) && !memcmp(buf, want, (size_t)n);
}

static void add(struct tw *w, char type, const char *name, const char *link, unsigned mode,
		const char *data)
{
	struct hdr h = { .type = type,
			 .name = name,
			 .link = link,
			 .mode = mode,
			 .mtime = 1600000000,
			 .size = data ? strlen(data) : 0 };

	tw_entry(w, &h, data && *data ? data : NULL);
}

/* ---- tests ---- */

static void build_types(struct tw *w)
{
	struct tw p = { 0 };
	struct hdr h;

	h = (struct hdr){ .type = '5', .name = "dir/", .mode = 0750, .mtime = 1000 };
	tw_entry(w, &h, NULL);
	h = (struct hdr){ .type = '0',
			  .name = "dir/file",
			  .mode = 0640,
			  .uid = 1000,
			  .gid = 1000,
			  .mtime = 1234567890,
			  .size = 5 };
	tw_entry(w, &h, "hello");
	pax_rec(&p, "mtime", "1500000000.123456789", 20);
	pax_rec(&p, "SCHILY.xattr.user.crid", "val", 3);
	pax_rec(&p, "path", "dir/ünïcødé-ñame", strlen("dir/ünïcødé-ñame"));
	tw_ext(w, 'x', &p);
	h = (struct hdr){ .type = '0', .name = "x", .mode = 0644, .size = 3 };
	tw_entry(w, &h, "abc");
	h = (struct hdr){
		.type = '2', .name = "dir/sym", .link = "file", .mode = 0777, .uid = 7, .mtime = 99
	};
	tw_entry(w, &h, NULL);
	h = (struct hdr){ .type = '1', .name = "dir/hard", .link = "dir/file" };
	tw_entry(w, &h, NULL);
	h = (struct hdr){ .type = '3', .name = "dev/null", .mode = 0666, .maj = 1, .min = 3 };
	tw_entry(w, &h, NULL);
	h = (struct hdr){ .type = '4', .name = "dev/sda", .mode = 0660, .maj = 8, .min = 0 };
	tw_entry(w, &h, NULL);
	h = (struct hdr){ .type = '6', .name = "run/fifo", .mode = 0620, .mtime = 5 };
	tw_entry(w, &h, NULL);
	h = (struct hdr){ .type = '0',
			  .name = "usr/bin/su",
			  .mode = 04755,
			  .uid = 1000,
			  .gid = 1000,
			  .size = 2,
			  .mtime = 42 };
	tw_entry(w, &h, "#!");
	h = (struct hdr){ .type = '5', .name = "./", .mode = 0711, .mtime = 77 };
	tw_entry(w, &h, NULL);
	tw_end(w);
	free(p.buf);
}

static void check_types(const char *how)
{
	struct stat st, st2;
	char buf[64] = { 0 };

	CHECK(lst("dir", &st) == 0 && S_ISDIR(st.st_mode) && (st.st_mode & 07777) == 0750 &&
		  st.st_mtim.tv_sec == 1000,
	      "%s: dir 0750 with its mtime kept after children were created", how);
	CHECK(lst("dir/file", &st) == 0 && S_ISREG(st.st_mode) && (st.st_mode & 07777) == 0640 &&
		  st.st_uid == 1000 && st.st_gid == 1000 && st.st_mtim.tv_sec == 1234567890 &&
		  content_is("dir/file", "hello"),
	      "%s: regular file content, mode, owner, mtime", how);
	CHECK(lst("dir/ünïcødé-ñame", &st) == 0 && st.st_mtim.tv_sec == 1500000000 &&
		  st.st_mtim.tv_nsec == 123456789 && content_is("dir/ünïcødé-ñame", "abc"),
	      "%s: pax non-ASCII name, mtime with nanoseconds", how);
	CHECK(fgetxattr(openat(rootfd, "dir/ünïcødé-ñame", O_RDONLY), "user.crid", buf,
			sizeof(buf)) == 3 &&
		  !strcmp(buf, "val"),
	      "%s: user xattr set", how);
	CHECK(lst("dir/sym", &st) == 0 && S_ISLNK(st.st_mode) && st.st_uid == 7 &&
		  st.st_mtim.tv_sec == 99 && readlinkat(rootfd, "dir/sym", buf, sizeof(buf)) == 4,
	      "%s: symlink with owner and mtime", how);
	CHECK(lst("dir/hard", &st) == 0 && lst("dir/file", &st2) == 0 && st.st_ino == st2.st_ino &&
		  st.st_nlink == 2,
	      "%s: hard link shares the inode", how);
	CHECK(lst("dev/null", &st) == 0 && S_ISCHR(st.st_mode) && st.st_rdev == makedev(1, 3) &&
		  (st.st_mode & 07777) == 0666,
	      "%s: char device 1,3 0666", how);
	CHECK(lst("dev/sda", &st) == 0 && S_ISBLK(st.st_mode) && st.st_rdev == makedev(8, 0),
	      "%s: block device 8,0", how);
	CHECK(lst("run/fifo", &st) == 0 && S_ISFIFO(st.st_mode) && (st.st_mode & 07777) == 0620 &&
		  st.st_mtim.tv_sec == 5,
	      "%s: fifo", how);
	CHECK(lst("usr/bin/su", &st) == 0 && (st.st_mode & 07777) == 04755 && st.st_uid == 1000 &&
		  st.st_gid == 1000 && st.st_mtim.tv_sec == 42,
	      "%s: setuid 04755 kept with owner 1000:1000", how);
	CHECK(lst("usr", &st) == 0 && (st.st_mode & 07777) == 0755,
	      "%s: missing parents created 0755", how);
	CHECK(fstat(rootfd, &st) == 0 && (st.st_mode & 07777) == 0711 && st.st_mtim.tv_sec == 77,
	      "%s: `./` entry applies to the layer root", how);
}

static void test_types(void)
{
	struct tw w = { 0 };
	struct crid_layer_stats st;
	struct crid_err err = { 0 };

	build_types(&w);
	fresh_root();
	CHECK(unpack(&w, 0, NULL, &st, &err) == 0, "unpack all entry types: %s", err.msg);
	check_types("whole");
	CHECK(st.entries == 10 && st.bytes == 10 && st.inodes == 12,
	      "stats: %llu entries, %llu bytes, %llu inodes", (unsigned long long)st.entries,
	      (unsigned long long)st.bytes, (unsigned long long)st.inodes);
	fresh_root();
	CHECK(unpack(&w, 1, NULL, &st, &err) == 0, "unpack fed 1 byte at a time: %s", err.msg);
	check_types("1-byte");
	CHECK(count_outside() == 0, "nothing outside the root");
	free(w.buf);
}

static void test_dotdot_refused(void)
{
	static const char *const names[] = { "../../etc/crid-escape", "a/../../crid-escape",
					     "dir/../../..//etc/../x" };
	struct crid_err err = { 0 };

	for (size_t i = 0; i < sizeof(names) / sizeof(names[0]); i++) {
		struct tw w = { 0 };

		fresh_root();
		add(&w, '0', names[i], NULL, 0644, "x");
		tw_end(&w);
		CHECK(unpack(&w, 0, NULL, NULL, &err) < 0 && strstr(err.msg, "climbs out"),
		      "`%s` refused: %s", names[i], err.msg);
		CHECK(access("/etc/crid-escape", F_OK) < 0 && access("/crid-escape", F_OK) < 0,
		      "nothing written outside for `%s`", names[i]);
		free(w.buf);
	}
}

static void test_escapes(void)
{
	struct tw w = { 0 };
	struct crid_err err = { 0 };
	struct stat st, host = { 0 }, host2 = { 0 };
	char buf[64];

	fresh_root();
	stat("/etc/passwd", &host);
	add(&w, '0', "/abs/file", NULL, 0644, "y");
	add(&w, '5', "etc/", NULL, 0755, NULL);
	add(&w, '2', "evil", "/etc", 0777, NULL);
	add(&w, '0', "evil/passwd", NULL, 0644, "mine");
	add(&w, '2', "up", "../../../../../../..", 0777, NULL);
	add(&w, '0', "up/through-up", NULL, 0644, "z");
	add(&w, '2', "f", "/etc/passwd", 0777, NULL);
	add(&w, '0', "f", NULL, 0644, "replaced");
	add(&w, '2', "dir/..//etc/../up/../evil2", "../../../../etc/hostname", 0777, NULL);
	tw_end(&w);
	CHECK(unpack(&w, 0, NULL, NULL, &err) == 0, "hostile paths unpack inside: %s", err.msg);
	CHECK(content_is("abs/file", "y"), "absolute path lands under the root");
	CHECK(content_is("etc/passwd", "mine"), "write through `evil -> /etc` lands in <root>/etc");
	stat("/etc/passwd", &host2);
	CHECK(host.st_size == host2.st_size && host.st_mtim.tv_sec == host2.st_mtim.tv_sec &&
		  host.st_ino == host2.st_ino,
	      "host /etc/passwd untouched");
	CHECK(content_is("through-up", "z"), "relative `..` symlink is clamped at the root");
	CHECK(lst("f", &st) == 0 && S_ISREG(st.st_mode) && content_is("f", "replaced"),
	      "a file replaces a symlink instead of writing through it");
	CHECK(readlinkat(rootfd, "evil2", buf, sizeof(buf)) > 0, "`..` inside the name resolved");
	CHECK(count_outside() == 0, "nothing created outside the root");

	w.len = 0;
	fresh_root();
	add(&w, '2', "dangling", "/no-such-dir", 0777, NULL);
	add(&w, '0', "dangling/x", NULL, 0644, "x");
	tw_end(&w);
	CHECK(unpack(&w, 0, NULL, NULL, &err) < 0 && strstr(err.msg, "entry 2 `dangling/x`") &&
		  access("/no-such-dir", F_OK) < 0,
	      "write through a dangling symlink refused: %s", err.msg);
	CHECK(count_outside() == 0, "nothing created outside the root");
	free(w.buf);
}

static void test_hardlinks(void)
{
	struct tw w = { 0 };
	struct crid_err err = { 0 };
	struct stat host = { 0 }, host2 = { 0 }, a, b;

	fresh_root();
	stat("/etc/shadow", &host);
	add(&w, '1', "shadow", "/etc/shadow", 0, NULL);
	tw_end(&w);
	CHECK(unpack(&w, 0, NULL, NULL, &err) < 0 && strstr(err.msg, "not in this layer") &&
		  lst("shadow", &a) < 0,
	      "hard link to /etc/shadow refused: %s", err.msg);
	stat("/etc/shadow", &host2);
	CHECK(host.st_nlink == host2.st_nlink, "host /etc/shadow link count unchanged");

	w.len = 0;
	fresh_root();
	add(&w, '0', "etc/shadow", NULL, 0600, "layer-shadow");
	add(&w, '2', "sneaky", "/", 0777, NULL);
	add(&w, '1', "shadow2", "sneaky/etc/shadow", 0, NULL);
	tw_end(&w);
	CHECK(unpack(&w, 0, NULL, NULL, &err) == 0, "hard links resolved in the root: %s", err.msg);
	CHECK(lst("etc/shadow", &b) == 0 && lst("shadow2", &a) == 0 && a.st_ino == b.st_ino &&
		  a.st_ino != host.st_ino,
	      "a link through `sneaky -> /` points at <root>/etc/shadow, not the host's");

	w.len = 0;
	fresh_root();
	add(&w, '0', "etc/shadow", NULL, 0600, "layer-shadow");
	add(&w, '1', "shadow", "../../../../etc/shadow", 0, NULL);
	tw_end(&w);
	CHECK(unpack(&w, 0, NULL, NULL, &err) < 0 && strstr(err.msg, "climbs out"),
	      "a hard link target climbing out with `..` is refused: %s", err.msg);

	w.len = 0;
	fresh_root();
	add(&w, '5', "d/", NULL, 0755, NULL);
	add(&w, '1', "dlink", "d", 0, NULL);
	tw_end(&w);
	CHECK(unpack(&w, 0, NULL, NULL, &err) < 0 && strstr(err.msg, "is not a file"),
	      "hard link to a directory refused: %s", err.msg);
	CHECK(count_outside() == 0, "nothing created outside the root");
	free(w.buf);
}

static int trusted_xattrs_work(void)
{
	char p[PATH_MAX + 16];
	int ok;

	snprintf(p, sizeof(p), "%s/xattr-probe", sandbox);
	close(open(p, O_CREAT | O_WRONLY, 0600));
	ok = setxattr(p, "trusted.crid-probe", "y", 1, 0) == 0;
	unlink(p);
	return ok;
}

static void test_whiteouts(void)
{
	struct tw w = { 0 };
	struct crid_err err = { 0 };
	struct stat st;
	char v[8] = { 0 };

	fresh_root();
	add(&w, '0', "old", NULL, 0644, "old");
	add(&w, '5', "d/", NULL, 0755, NULL);
	add(&w, '0', "d/keep", NULL, 0644, "k");
	add(&w, '0', ".wh.old", NULL, 0, "");
	add(&w, '0', "d/.wh..wh..opq", NULL, 0, "");
	add(&w, '0', "sub/.wh.gone", NULL, 0, "");
	add(&w, '0', ".wh..wh.plnk", NULL, 0, "");
	tw_end(&w);
	CHECK(unpack(&w, 0, NULL, NULL, &err) == 0, "whiteouts unpack: %s", err.msg);
	CHECK(lst("old", &st) == 0 && S_ISCHR(st.st_mode) && st.st_rdev == makedev(0, 0),
	      "`.wh.old` replaced `old` by a 0/0 char device");
	CHECK(lst("sub/gone", &st) == 0 && S_ISCHR(st.st_mode) && st.st_rdev == makedev(0, 0),
	      "`.wh.gone` became a 0/0 char device");
	CHECK(lst(".wh.old", &st) < 0 && lst("d/.wh..wh..opq", &st) < 0 &&
		  lst(".wh..wh.plnk", &st) < 0,
	      "no `.wh.` files left");
	if (!trusted_xattrs_work()) {
		tap_skip("opaque dir xattr", "trusted.* xattrs not supported under the sandbox");
	} else {
		int fd = openat(rootfd, "d", O_RDONLY);

		CHECK(fgetxattr(fd, "trusted.overlay.opaque", v, sizeof(v)) == 1 && v[0] == 'y',
		      "`.wh..wh..opq` set trusted.overlay.opaque=y");
		close(fd);
	}
	free(w.buf);
}

static void test_replace(void)
{
	struct tw w = { 0 };
	struct crid_err err = { 0 };
	struct stat st;

	fresh_root();
	add(&w, '0', "a", NULL, 0644, "first");
	add(&w, '0', "a", NULL, 0600, "2nd");
	add(&w, '0', "b", NULL, 0644, "file");
	add(&w, '5', "b/", NULL, 0755, NULL);
	add(&w, '5', "c/", NULL, 0700, NULL);
	add(&w, '5', "c/", NULL, 0755, NULL);
	tw_end(&w);
	CHECK(unpack(&w, 3, NULL, NULL, &err) == 0, "replacing entries: %s", err.msg);
	CHECK(content_is("a", "2nd") && lst("a", &st) == 0 && (st.st_mode & 0777) == 0600,
	      "a later file replaces an earlier one");
	CHECK(lst("b", &st) == 0 && S_ISDIR(st.st_mode), "a dir replaces a file");
	CHECK(lst("c", &st) == 0 && (st.st_mode & 0777) == 0755, "a repeated dir updates its mode");
	free(w.buf);
}

static void test_limits(void)
{
	struct crid_unpack_limits lim = { .max_entries = 1000 };
	struct crid_layer_unpack *u;
	struct crid_err err = { 0 };
	struct tw w = { 0 };
	struct stat st;
	int rc = 0, n;

	fresh_root();
	u = crid_layer_unpack_new(rootfd, &lim, &err);
	/* A tar bomb of 100k empty files, streamed header by header. */
	for (n = 0; n < 100000 && rc == 0; n++) {
		char name[32];

		snprintf(name, sizeof(name), "f%d", n);
		w.len = 0;
		add(&w, '0', name, NULL, 0644, "");
		size_t used;

		rc = crid_layer_unpack_feed(u, w.buf, w.len, &used, &err);
	}
	CHECK(rc < 0 && n == 1001 &&
		  strstr(err.msg, "layer: entry 1001 `f1000`: more than 1000 entries") != NULL,
	      "100k-file tar bomb refused at the limit: %s", err.msg);
	CHECK(lst("f999", &st) == 0 && lst("f1000", &st) < 0, "nothing written past the limit");
	crid_layer_unpack_free(u);

	fresh_root();
	lim = (struct crid_unpack_limits){ .max_bytes = 10 };
	w.len = 0;
	add(&w, '0', "a", NULL, 0644, "12345");
	add(&w, '0', "b", NULL, 0644, "123456");
	tw_end(&w);
	CHECK(unpack(&w, 0, &lim, NULL, &err) < 0 && err.code == EFBIG &&
		  strstr(err.msg,
			 "entry 2 `b`: the layer's unpacked bytes are over the limit of 10") &&
		  lst("b", &st) < 0,
	      "byte limit: %s", err.msg);

	/* Two layers of one image share a total: 5 + 6 > 10 fails in the second, before `b`. */
	fresh_root();
	{
		struct crid_unpack_total total = { 0, 10 };
		struct crid_layer_unpack *u1 = crid_layer_unpack_new(rootfd, NULL, &err);
		struct crid_layer_unpack *u2 = crid_layer_unpack_new(rootfd, NULL, &err);
		size_t used;
		int r1, r2;

		crid_layer_unpack_set_total(u1, &total);
		crid_layer_unpack_set_total(u2, &total);
		w.len = 0;
		add(&w, '0', "a", NULL, 0644, "12345");
		tw_end(&w);
		r1 = crid_layer_unpack_feed(u1, w.buf, w.len, &used, &err);
		w.len = 0;
		add(&w, '0', "b", NULL, 0644, "123456");
		tw_end(&w);
		r2 = crid_layer_unpack_feed(u2, w.buf, w.len, &used, &err);
		CHECK(r1 == 0 && r2 < 0 && err.code == EFBIG && total.bytes == 5 &&
			  strstr(err.msg, "entry 1 `b`: the image's unpacked bytes are over the "
					  "limit of 10") &&
			  lst("a", &st) == 0 && lst("b", &st) < 0,
		      "image byte limit shared by two layers: %s", err.msg);
		crid_layer_unpack_free(u1);
		crid_layer_unpack_free(u2);
	}

	fresh_root();
	w.len = 0;
	add(&w, '0', "a", NULL, 0644, "12345");
	w.len -= 100;
	CHECK(unpack(&w, 0, NULL, NULL, &err) < 0 && strstr(err.msg, "layer: tar: entry 1"),
	      "truncated layer: %s", err.msg);

	fresh_root();
	w.len = 0;
	add(&w, '0', ".wh..", NULL, 0644, "");
	CHECK(unpack(&w, 0, NULL, NULL, &err) < 0 && strstr(err.msg, "bad whiteout name"),
	      "whiteout of `.` refused: %s", err.msg);
	free(w.buf);
}

/*
 * Feeds |w| whole, one "loop iteration" per call, refilling |b| between
 * calls as the puller does; returns the number of iterations or -1.
 */
static int unpack_budgeted(const struct tw *w, struct crid_unpack_budget *b, uint32_t entries,
			   struct crid_err *err)
{
	struct crid_layer_unpack *u = crid_layer_unpack_new(rootfd, NULL, err);
	size_t off = 0, used;
	int iters = 0, rc;

	if (!u)
		return -1;
	crid_layer_unpack_set_budget(u, b);
	do {
		b->entries = entries;
		b->deadline_ns = 0;
		iters++;
		rc = crid_layer_unpack_feed(u, w->buf + off, w->len - off, &used, err);
		off += used;
	} while (rc == 1 && iters < 100000);
	if (rc == 0) {
		do {
			b->entries = entries;
			b->deadline_ns = 0;
			iters++;
			rc = crid_layer_unpack_finish(u, NULL, err);
		} while (rc == 1 && iters < 100000);
	}
	crid_layer_unpack_free(u);
	return rc < 0 ? -1 : iters;
}

static void test_budget(void)
{
	struct crid_unpack_budget b = { 0 };
	struct crid_err err = { 0 };
	struct tw w = { 0 };
	struct stat st;
	char big[200000];
	int iters, ok = 1;

	build_types(&w);
	fresh_root();
	iters = unpack_budgeted(&w, &b, 1, &err);
	/* 10 entries one per iteration, then 2 directory mtimes one per iteration */
	CHECK(iters >= 12, "one entry per iteration: %d iterations (%s)", iters,
	      iters < 0 ? err.msg : "ok");
	check_types("budget of 1 entry");

	fresh_root();
	w.len = 0;
	for (int i = 0; i < 50; i++) {
		char name[32];
		struct hdr h = { .type = '5', .mode = 0755, .mtime = 1000 + i };

		snprintf(name, sizeof(name), "d%02d/", i);
		h.name = name;
		tw_entry(&w, &h, NULL);
		snprintf(name, sizeof(name), "d%02d/f", i);
		add(&w, '0', name, NULL, 0644, "x");
	}
	tw_end(&w);
	iters = unpack_budgeted(&w, &b, 8, &err);
	CHECK(iters >= 100 / 8 + 50 / 8, "100 entries and 50 mtimes in slices of 8: %d iterations",
	      iters);
	for (int i = 0; i < 50; i++) {
		char name[32];

		snprintf(name, sizeof(name), "d%02d", i);
		ok &= lst(name, &st) == 0 && st.st_mtim.tv_sec == 1000 + i;
	}
	CHECK(ok, "every directory mtime applied across finish slices");

	/* A time slice of 1 ns: one step per iteration, a big file one chunk at a time. */
	fresh_root();
	w.len = 0;
	memset(big, 'z', sizeof(big) - 1);
	big[sizeof(big) - 1] = '\0';
	add(&w, '0', "big", NULL, 0644, big);
	tw_end(&w);
	b.slice_ns = 1;
	iters = unpack_budgeted(&w, &b, 1000, &err);
	CHECK(iters > 1 && lst("big", &st) == 0 && st.st_size == (off_t)sizeof(big) - 1,
	      "time budget spreads one file over %d iterations, content whole", iters);
	free(w.buf);
}

int main(void)
{
	size_t base = crid_mem_used();

	if (geteuid() != 0) {
		tap_skip("layer unpack", "needs root (chown, mknod, trusted xattrs)");
		return tap_done();
	}
	snprintf(sandbox, sizeof(sandbox), "/var/tmp/crid-layer-XXXXXX");
	if (!mkdtemp(sandbox))
		return 1;
	snprintf(rootpath, sizeof(rootpath), "%s/probe", sandbox);
	if (mknod(rootpath, S_IFCHR, makedev(0, 0)) < 0) {
		rmdir(sandbox);
		tap_skip("layer unpack", "mknod not permitted (no CAP_MKNOD in this container)");
		return tap_done();
	}
	unlink(rootpath);
	snprintf(rootpath, sizeof(rootpath), "%s/d1", sandbox);
	mkdir(rootpath, 0755);
	snprintf(rootpath, sizeof(rootpath), "%s/d1/d2", sandbox);
	mkdir(rootpath, 0755);
	snprintf(rootpath, sizeof(rootpath), "%s/d1/d2/root", sandbox);

	test_types();
	test_budget();
	test_escapes();
	test_dotdot_refused();
	test_hardlinks();
	test_whiteouts();
	test_replace();
	test_limits();
	CHECK(crid_mem_used() == base, "no memory left allocated");

	close(rootfd);
	nftw(sandbox, rm_cb, 16, FTW_DEPTH | FTW_PHYS);
	return tap_done();
}
