/*
 * Layer unpacker: tar reader events -> files under one layer root.
 *
 * Containment: entry paths are cleaned lexically with chroot semantics
 * (`..` at the root stays at the root, like Go's filepath.Join("/", name) in
 * containerd's archive code), then the parent directory is opened with
 * openat2(RESOLVE_IN_ROOT), which resolves every symlink met on the way as if
 * the layer root were `/`. The last component is only ever touched with
 * *at() calls that do not follow it (O_NOFOLLOW, AT_SYMLINK_NOFOLLOW, O_EXCL,
 * mkdirat, symlinkat, mknodat, linkat without AT_SYMLINK_FOLLOW). So a
 * symlink `etc -> /` followed by `etc/passwd` writes <root>/passwd, and a
 * hard link to `/etc/shadow` links <root>/etc/shadow or fails with ENOENT.
 */
#include "runtime/image/layer_unpack.h"

#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <linux/openat2.h>
#include <stdarg.h>
#include <stdbool.h>
#include <stdio.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/syscall.h>
#include <sys/sysmacros.h>
#include <sys/xattr.h>
#include <time.h>
#include <unistd.h>

#include "reactor/log.h"
#include "reactor/mem.h"

#define WH_PREFIX ".wh."
#define WH_META_PREFIX ".wh..wh."
#define WH_OPAQUE ".wh..wh..opq"
/* Directory mtimes wait for finish; their paths are held, so cap them. */
#define MAX_DIR_TIME_BYTES (64u << 20)

struct dir_time {
	char *path;
	struct timespec ts[2];
};

struct crid_layer_unpack {
	int root;
	struct crid_unpack_limits lim;
	struct crid_tar_reader *tr;
	struct crid_layer_stats stats;
	const struct crid_tar_entry *e; /* current entry, valid until entry_end */
	int fd;				/* regular file being written, or -1 */
	struct dir_time *dirs;
	size_t ndirs, dirs_cap, dir_bytes;
	size_t dirs_done; /* mtimes applied by finish so far */
	bool tar_done;	  /* finish: the archive checked complete */
	uint64_t xattrs_skipped;
	struct crid_unpack_budget *budget;
	struct crid_unpack_total *total;
};

static uint64_t now_ns(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (uint64_t)ts.tv_sec * 1000000000u + (uint64_t)ts.tv_nsec;
}

bool crid_unpack_budget_spent(struct crid_unpack_budget *b)
{
	if (!b)
		return false;
	if (b->entries == 0)
		return true;
	if (!b->slice_ns)
		return false;
	if (!b->deadline_ns) {
		b->deadline_ns = now_ns() + b->slice_ns; /* the first step of this iteration */
		return false;
	}
	return now_ns() >= b->deadline_ns;
}

/* One unit of work done: true when the budget is spent and the caller must stop. */
static bool charge(struct crid_layer_unpack *u, uint32_t entries)
{
	struct crid_unpack_budget *b = u->budget;

	if (!b)
		return false;
	b->entries = b->entries > entries ? b->entries - entries : 0;
	return crid_unpack_budget_spent(b);
}

static int __attribute__((format(printf, 4, 5)))
efail(struct crid_layer_unpack *u, struct crid_err *err, int code, const char *fmt, ...)
{
	char msg[256];
	va_list ap;

	va_start(ap, fmt);
	vsnprintf(msg, sizeof(msg), fmt, ap);
	va_end(ap);
	return crid_err_cause(err, code, "layer: entry %llu `%.200s`: %s",
			      (unsigned long long)u->e->index + 1, u->e->path, msg);
}

/* efail for a failed system call: the message ends with strerror(|code|) ("No space left..."). */
static int __attribute__((format(printf, 4, 5)))
efail_sys(struct crid_layer_unpack *u, struct crid_err *err, int code, const char *fmt, ...)
{
	char msg[256];
	va_list ap;

	va_start(ap, fmt);
	vsnprintf(msg, sizeof(msg), fmt, ap);
	va_end(ap);
	return efail(u, err, code, "%s: %s", msg, strerror(code));
}

/*
 * Lexical clean: drops "", "." and leading "/", resolves ".." against
 * earlier components. |out| (PATH_MAX) gets "a/b/c", or "" for the root
 * itself. Returns -1 when a ".." would climb above the root: such a member
 * name is refused, not clamped (a layer naming `../x` is hostile or broken).
 */
static int clean_path(const char *in, char *out)
{
	size_t n = 0;
	int escapes = 0;

	while (*in) {
		const char *c = in;
		size_t len;

		while (*in && *in != '/')
			in++;
		len = (size_t)(in - c);
		if (*in)
			in++;
		if (len == 0 || (len == 1 && c[0] == '.'))
			continue;
		if (len == 2 && c[0] == '.' && c[1] == '.') {
			if (!n)
				escapes = 1;
			while (n && out[n - 1] != '/')
				n--;
			if (n)
				n--;
			continue;
		}
		if (n)
			out[n++] = '/';
		memcpy(out + n, c, len);
		n += len;
	}
	out[n] = '\0';
	return escapes ? -1 : 0;
}

/* Splits "a/b/c" into dir "a/b" (in place) and returns the base "c". */
static const char *split_base(char *path)
{
	char *slash = strrchr(path, '/');

	if (!slash) {
		memmove(path + 1, path, strlen(path) + 1);
		path[0] = '\0';
		return path + 1;
	}
	*slash = '\0';
	return slash + 1;
}

/* Opens |path| resolved as if the layer root were "/". */
static int open_in_root(int root, const char *path, int flags)
{
	struct open_how how = {
		.flags = (uint64_t)(flags | O_CLOEXEC),
		.resolve = RESOLVE_IN_ROOT | RESOLVE_NO_MAGICLINKS,
	};
	int fd;

	/* EAGAIN: a concurrent rename raced the ".." check; the kernel asks to retry. */
	for (int i = 0; i < 8; i++) {
		fd = (int)syscall(SYS_openat2, root, path[0] ? path : ".", &how, sizeof(how));
		if (fd >= 0 || errno != EAGAIN)
			break;
	}
	return fd;
}

/* Opens directory |dir| inside the root, creating missing components 0755. */
static int open_parent(struct crid_layer_unpack *u, char *dir, struct crid_err *err)
{
	int cur, fd = open_in_root(u->root, dir, O_RDONLY | O_DIRECTORY);
	char *p = dir;

	if (fd >= 0 || errno != ENOENT)
		return fd >= 0 ? fd : efail_sys(u, err, errno, "open parent `%s`", dir);
	/* Slow path, as tar layers may omit parent entries (containerd: MkdirAll). */
	cur = open_in_root(u->root, "", O_RDONLY | O_DIRECTORY);
	while (cur >= 0 && *p) {
		char *comp = p, saved;

		while (*p && *p != '/')
			p++;
		saved = *p;
		*p = '\0';
		fd = open_in_root(u->root, dir, O_RDONLY | O_DIRECTORY);
		if (fd < 0 && errno == ENOENT) {
			if (mkdirat(cur, comp, 0755) == 0)
				u->stats.inodes++;
			fd = open_in_root(u->root, dir, O_RDONLY | O_DIRECTORY);
		}
		if (fd < 0)
			efail_sys(u, err, errno, "create parent `%s`", dir);
		*p = saved;
		if (*p)
			p++;
		close(cur);
		cur = fd;
	}
	return cur;
}

/*
 * Removes a non-directory (or empty directory) at |name| so the entry can
 * replace it. Returns 1 when |keep_dir| and a directory is there, 0 when
 * the name is free, -1 on error.
 */
static int remove_existing(int pfd, const char *name, bool keep_dir)
{
	struct stat st;

	if (fstatat(pfd, name, &st, AT_SYMLINK_NOFOLLOW) < 0)
		return errno == ENOENT ? 0 : -1;
	if (S_ISDIR(st.st_mode)) {
		if (keep_dir)
			return 1;
		return unlinkat(pfd, name, AT_REMOVEDIR);
	}
	return unlinkat(pfd, name, 0);
}

static int set_xattrs(struct crid_layer_unpack *u, int fd, struct crid_err *err)
{
	for (size_t i = 0; i < u->e->nxattrs; i++) {
		const struct crid_tar_xattr *x = &u->e->xattrs[i];

		if (fsetxattr(fd, x->name, x->value, x->value_len, 0) == 0)
			continue;
		if (errno != ENOTSUP)
			return efail_sys(u, err, errno, "set xattr `%s`", x->name);
		/* The staging filesystem lacks this namespace: keep going, report at finish. */
		u->xattrs_skipped++;
	}
	return 0;
}

/* Owner, then mode (chown clears setuid/setgid), then xattrs. */
static int set_fd_meta(struct crid_layer_unpack *u, int fd, struct crid_err *err)
{
	if (fchown(fd, (uid_t)u->e->uid, (gid_t)u->e->gid) < 0)
		return efail_sys(u, err, errno, "chown %lld:%lld", (long long)u->e->uid,
				 (long long)u->e->gid);
	if (fchmod(fd, u->e->mode) < 0)
		return efail_sys(u, err, errno, "chmod %04o", u->e->mode);
	return set_xattrs(u, fd, err);
}

static void entry_times(const struct crid_tar_entry *e, struct timespec ts[2])
{
	ts[0].tv_sec = ts[1].tv_sec = (time_t)e->mtime_sec;
	ts[0].tv_nsec = ts[1].tv_nsec = e->mtime_nsec;
}

static int record_dir_time(struct crid_layer_unpack *u, const char *rel, struct crid_err *err)
{
	size_t len = strlen(rel) + 1;

	if (u->dir_bytes + len > MAX_DIR_TIME_BYTES)
		return efail(u, err, E2BIG, "directory paths over %u bytes", MAX_DIR_TIME_BYTES);
	if (u->ndirs == u->dirs_cap) {
		size_t cap = u->dirs_cap ? u->dirs_cap * 2 : 64;
		void *n = crid_realloc(u->dirs, cap * sizeof(*u->dirs));

		if (!n)
			return efail(u, err, ENOMEM, "directory list");
		u->dirs = n;
		u->dirs_cap = cap;
	}
	u->dirs[u->ndirs].path = crid_strdup(rel);
	if (!u->dirs[u->ndirs].path)
		return efail(u, err, ENOMEM, "directory list");
	entry_times(u->e, u->dirs[u->ndirs].ts);
	u->ndirs++;
	u->dir_bytes += len;
	return 0;
}

static int make_dir(struct crid_layer_unpack *u, int pfd, const char *base, const char *rel,
		    struct crid_err *err)
{
	int r = base[0] ? remove_existing(pfd, base, true) : 1;
	int fd;

	if (r < 0)
		return efail_sys(u, err, errno, "replace existing entry");
	if (r == 0) {
		if (mkdirat(pfd, base, 0700) < 0)
			return efail_sys(u, err, errno, "mkdir");
		u->stats.inodes++;
	}
	fd = base[0] ? openat(pfd, base, O_RDONLY | O_DIRECTORY | O_NOFOLLOW | O_CLOEXEC)
		     : open_in_root(u->root, "", O_RDONLY | O_DIRECTORY);
	if (fd < 0)
		return efail_sys(u, err, errno, "open directory");
	r = set_fd_meta(u, fd, err);
	close(fd);
	return r < 0 ? -1 : record_dir_time(u, rel, err);
}

static int make_file(struct crid_layer_unpack *u, int pfd, const char *base, struct crid_err *err)
{
	if (remove_existing(pfd, base, false) < 0)
		return efail_sys(u, err, errno, "replace existing entry");
	/* O_EXCL|O_NOFOLLOW: the name we just freed must still be free, never a link. */
	u->fd = openat(pfd, base, O_WRONLY | O_CREAT | O_EXCL | O_NOFOLLOW | O_CLOEXEC, 0600);
	if (u->fd < 0)
		return efail_sys(u, err, errno, "create file");
	u->stats.inodes++;
	return 0;
}

/* Symlinks, devices, fifos, whiteouts: owner and mtime without following. */
static int set_node_meta(struct crid_layer_unpack *u, int pfd, const char *base, bool chmod,
			 struct crid_err *err)
{
	struct timespec ts[2];

	if (fchownat(pfd, base, (uid_t)u->e->uid, (gid_t)u->e->gid, AT_SYMLINK_NOFOLLOW) < 0)
		return efail_sys(u, err, errno, "chown");
	/* Only reached for a node mknodat just created, so following is moot. */
	if (chmod && fchmodat(pfd, base, u->e->mode, 0) < 0)
		return efail_sys(u, err, errno, "chmod");
	entry_times(u->e, ts);
	if (utimensat(pfd, base, ts, AT_SYMLINK_NOFOLLOW) < 0)
		return efail_sys(u, err, errno, "set mtime");
	if (u->e->nxattrs)
		u->xattrs_skipped += u->e->nxattrs; /* no fd to set them through */
	return 0;
}

static int make_symlink(struct crid_layer_unpack *u, int pfd, const char *base,
			struct crid_err *err)
{
	if (!u->e->linkpath[0])
		return efail(u, err, EINVAL, "symlink with an empty target");
	if (remove_existing(pfd, base, false) < 0)
		return efail_sys(u, err, errno, "replace existing entry");
	if (symlinkat(u->e->linkpath, pfd, base) < 0)
		return efail_sys(u, err, errno, "symlink");
	u->stats.inodes++;
	return set_node_meta(u, pfd, base, false, err);
}

static int make_node(struct crid_layer_unpack *u, int pfd, const char *base, struct crid_err *err)
{
	mode_t type = u->e->type == CRID_TAR_CHAR    ? S_IFCHR
		      : u->e->type == CRID_TAR_BLOCK ? S_IFBLK
						     : S_IFIFO;

	if (remove_existing(pfd, base, false) < 0)
		return efail_sys(u, err, errno, "replace existing entry");
	if (mknodat(pfd, base, type | 0600, makedev(u->e->devmajor, u->e->devminor)) < 0)
		return efail_sys(u, err, errno, "mknod");
	u->stats.inodes++;
	return set_node_meta(u, pfd, base, true, err);
}

/* The target resolves inside the root and must be a file or symlink already there. */
static int make_hardlink(struct crid_layer_unpack *u, int pfd, const char *base, const char *rel,
			 struct crid_err *err)
{
	char target[PATH_MAX + 1];
	const char *tbase;
	struct stat tst, dst;
	int tpfd, r = -1;

	if (clean_path(u->e->linkpath, target) < 0)
		return efail(u, err, EINVAL, "hard link target `%.200s` climbs out of the layer",
			     u->e->linkpath);
	if (!target[0])
		return efail(u, err, EINVAL, "hard link to the layer root");
	if (!strcmp(target, rel))
		return 0;
	tbase = split_base(target);
	tpfd = open_in_root(u->root, target, O_RDONLY | O_DIRECTORY);
	if (tpfd < 0 || fstatat(tpfd, tbase, &tst, AT_SYMLINK_NOFOLLOW) < 0) {
		efail_sys(u, err, errno, "hard link target `%.200s` not in this layer",
			  u->e->linkpath);
		goto out;
	}
	if (!S_ISREG(tst.st_mode) && !S_ISLNK(tst.st_mode)) {
		efail(u, err, EINVAL, "hard link target `%.200s` is not a file", u->e->linkpath);
		goto out;
	}
	if (fstatat(pfd, base, &dst, AT_SYMLINK_NOFOLLOW) == 0 && dst.st_ino == tst.st_ino &&
	    dst.st_dev == tst.st_dev) {
		r = 0; /* already the same inode under another spelling */
		goto out;
	}
	if (remove_existing(pfd, base, false) < 0)
		efail_sys(u, err, errno, "replace existing entry");
	else if (linkat(tpfd, tbase, pfd, base, 0) < 0)
		efail_sys(u, err, errno, "link to `%.200s`", u->e->linkpath);
	else
		r = 0;
out:
	if (tpfd >= 0)
		close(tpfd);
	return r;
}

/* OCI whiteouts -> overlayfs: opaque xattr on the dir, or a 0/0 char device. */
static int make_whiteout(struct crid_layer_unpack *u, int pfd, const char *base,
			 struct crid_err *err)
{
	const char *name = base + strlen(WH_PREFIX);

	if (!strcmp(base, WH_OPAQUE)) {
		if (fsetxattr(pfd, "trusted.overlay.opaque", "y", 1, 0) < 0)
			return efail_sys(u, err, errno, "set trusted.overlay.opaque");
		return 0;
	}
	if (!strncmp(base, WH_META_PREFIX, strlen(WH_META_PREFIX)))
		return 0; /* other aufs metadata (.wh..wh.plnk...): not content */
	if (!name[0] || !strcmp(name, ".") || !strcmp(name, ".."))
		return efail(u, err, EINVAL,
			     "bad whiteout name: `.wh.` must be followed by a file name, not "
			     "nothing, `.` or `..`");
	if (remove_existing(pfd, name, false) < 0)
		return efail_sys(u, err, errno, "replace `%s` by a whiteout", name);
	if (mknodat(pfd, name, S_IFCHR, makedev(0, 0)) < 0)
		return efail_sys(u, err, errno, "mknod whiteout `%s`", name);
	u->stats.inodes++;
	if (fchownat(pfd, name, (uid_t)u->e->uid, (gid_t)u->e->gid, AT_SYMLINK_NOFOLLOW) < 0)
		return efail_sys(u, err, errno, "chown whiteout");
	return 0;
}

static int check_entry(struct crid_layer_unpack *u, struct crid_err *err)
{
	const struct crid_tar_entry *e = u->e;

	if (e->index >= u->lim.max_entries)
		return efail(u, err, E2BIG, "more than %llu entries in the layer",
			     (unsigned long long)u->lim.max_entries);
	/* The setting names are the daemon's (image_pull.c fills the limits from them). */
	if (e->size > u->lim.max_bytes - u->stats.bytes)
		return efail(u, err, EFBIG,
			     "the layer's unpacked bytes are over the limit of %llu "
			     "(crid.image.max_layer_unpacked_bytes)",
			     (unsigned long long)u->lim.max_bytes);
	if (u->total && e->type == CRID_TAR_REG) {
		if (e->size > u->total->max - u->total->bytes)
			return efail(u, err, EFBIG,
				     "the image's unpacked bytes are over the limit of %llu "
				     "(crid.image.max_image_unpacked_bytes)",
				     (unsigned long long)u->total->max);
		u->total->bytes += e->size;
	}
	/* (uid_t)-1 would mean "leave unchanged" to chown. */
	if (e->uid < 0 || e->uid >= UINT32_MAX || e->gid < 0 || e->gid >= UINT32_MAX)
		return efail(u, err, EINVAL, "owner %lld:%lld out of range", (long long)e->uid,
			     (long long)e->gid);
	return 0;
}

static int dispatch(struct crid_layer_unpack *u, int pfd, const char *base, const char *rel,
		    struct crid_err *err)
{
	if (!strncmp(base, WH_PREFIX, strlen(WH_PREFIX)))
		return make_whiteout(u, pfd, base, err);
	switch (u->e->type) {
	case CRID_TAR_REG:
		return make_file(u, pfd, base, err);
	case CRID_TAR_DIR:
		return make_dir(u, pfd, base, rel, err);
	case CRID_TAR_SYMLINK:
		return make_symlink(u, pfd, base, err);
	case CRID_TAR_HARDLINK:
		return make_hardlink(u, pfd, base, rel, err);
	default:
		return make_node(u, pfd, base, err);
	}
}

static int on_entry(void *user, const struct crid_tar_entry *e, struct crid_err *err)
{
	struct crid_layer_unpack *u = user;
	char rel[PATH_MAX], dir[PATH_MAX + 1];
	const char *base;
	int pfd, r;

	u->e = e;
	if (check_entry(u, err) < 0)
		return -1;
	if (clean_path(e->path, rel) < 0)
		return efail(u, err, EINVAL, "the name climbs out of the layer with `..`");
	memcpy(dir, rel, strlen(rel) + 1);
	base = split_base(dir);
	if (!base[0] && e->type != CRID_TAR_DIR)
		return efail(u, err, EINVAL, "refusing to replace the layer root");
	pfd = open_parent(u, dir, err);
	if (pfd < 0)
		return -1;
	r = dispatch(u, pfd, base, rel, err);
	close(pfd);
	return r;
}

static int on_data(void *user, const void *buf, size_t len, struct crid_err *err)
{
	struct crid_layer_unpack *u = user;
	const char *p = buf;

	while (len) {
		ssize_t n = write(u->fd, p, len);

		if (n < 0 && errno == EINTR)
			continue;
		if (n < 0)
			return efail_sys(u, err, errno, "write");
		p += n;
		len -= (size_t)n;
		u->stats.bytes += (uint64_t)n;
	}
	if (charge(u, 0))
		crid_tar_reader_yield(u->tr); /* a big file: go on in the next iteration */
	return 0;
}

static int on_entry_end(void *user, struct crid_err *err)
{
	struct crid_layer_unpack *u = user;
	struct timespec ts[2];
	int r = 0;

	if (u->fd >= 0) {
		entry_times(u->e, ts);
		r = set_fd_meta(u, u->fd, err);
		if (r == 0 && futimens(u->fd, ts) < 0)
			r = efail_sys(u, err, errno, "set mtime");
		close(u->fd);
		u->fd = -1;
	}
	u->stats.entries = u->e->index + 1;
	u->e = NULL;
	if (r == 0 && charge(u, 1))
		crid_tar_reader_yield(u->tr);
	return r;
}

struct crid_layer_unpack *
crid_layer_unpack_new(int root_dirfd, const struct crid_unpack_limits *lim, struct crid_err *err)
{
	static const struct crid_tar_callbacks cb = { on_entry, on_data, on_entry_end };
	struct crid_layer_unpack *u = crid_calloc(1, sizeof(*u));

	if (!u) {
		crid_err_set(err, ENOMEM, "layer: unpacker");
		return NULL;
	}
	u->fd = -1;
	if (lim)
		u->lim = *lim;
	if (!u->lim.max_entries)
		u->lim.max_entries = CRID_LAYER_DEFAULT_MAX_ENTRIES;
	if (!u->lim.max_bytes)
		u->lim.max_bytes = CRID_LAYER_DEFAULT_MAX_BYTES;
	u->root = fcntl(root_dirfd, F_DUPFD_CLOEXEC, 3);
	if (u->root < 0) {
		crid_err_set(err, errno, "layer: dup root fd");
		crid_free(u);
		return NULL;
	}
	u->tr = crid_tar_reader_new(&cb, u, &u->lim.tar, err);
	if (!u->tr) {
		crid_layer_unpack_free(u);
		return NULL;
	}
	return u;
}

void crid_layer_unpack_set_budget(struct crid_layer_unpack *u, struct crid_unpack_budget *b)
{
	u->budget = b;
}

void crid_layer_unpack_set_total(struct crid_layer_unpack *u, struct crid_unpack_total *t)
{
	u->total = t;
}

int crid_layer_unpack_feed(struct crid_layer_unpack *u, const void *data, size_t len,
			   size_t *consumed, struct crid_err *err)
{
	*consumed = 0;
	if (len && crid_unpack_budget_spent(u->budget))
		return 1;
	return crid_tar_reader_feed_some(u->tr, data, len, consumed, err);
}

/*
 * Directory mtimes last: creating children bumped them. The last entry for a
 * dir wins. Resumable: a layer of 100k directories spreads over iterations.
 */
static int apply_dir_times(struct crid_layer_unpack *u, struct crid_err *err)
{
	while (u->dirs_done < u->ndirs) {
		struct dir_time *d = &u->dirs[u->dirs_done];
		int fd;

		if (crid_unpack_budget_spent(u->budget))
			return 1;
		fd = open_in_root(u->root, d->path, O_RDONLY | O_DIRECTORY | O_NOFOLLOW);
		u->dirs_done++;
		charge(u, 1);
		if (fd < 0 && (errno == ENOENT || errno == ELOOP || errno == ENOTDIR))
			continue; /* replaced by a later entry */
		if (fd < 0)
			return crid_err_set(err, errno, "layer: open directory `%s`", d->path);
		if (futimens(fd, d->ts) < 0) {
			crid_err_set(err, errno, "layer: set mtime of `%s`", d->path);
			close(fd);
			return -1;
		}
		close(fd);
	}
	return 0;
}

int crid_layer_unpack_finish(struct crid_layer_unpack *u, struct crid_layer_stats *out,
			     struct crid_err *err)
{
	int r;

	if (!u->tar_done) {
		if (crid_tar_reader_finish(u->tr, err) < 0)
			return crid_err_wrap(err, "layer");
		u->tar_done = true;
	}
	r = apply_dir_times(u, err);
	if (r != 0)
		return r;
	if (u->xattrs_skipped)
		crid_log_warn("layer: %llu xattrs not supported by the staging filesystem or on "
			      "symlinks/devices, skipped",
			      (unsigned long long)u->xattrs_skipped);
	u->xattrs_skipped = 0;
	if (out)
		*out = u->stats;
	return 0;
}

void crid_layer_unpack_free(struct crid_layer_unpack *u)
{
	if (!u)
		return;
	crid_tar_reader_free(u->tr);
	if (u->fd >= 0)
		close(u->fd);
	for (size_t i = 0; i < u->ndirs; i++)
		crid_free(u->dirs[i].path);
	crid_free(u->dirs);
	close(u->root);
	crid_free(u);
}
