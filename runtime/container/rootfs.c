/*
 * Container root filesystems: overlay of image layers + per-container upper.
 *
 * Overlay stacks lowerdirs top-most first, while image layers come base
 * first, so the last layer is handed over first. Two ways to mount:
 *
 * - the new mount API (fsopen/fsconfig/fsmount/move_mount) with one
 *   "lowerdir+" per layer (Linux 6.8+): no length limit on the stack;
 * - mount(2) with one option string, which the kernel copies into a single
 *   page. To fit deep images, the layers are reached through symlinks with
 *   short names in `<dir>/l/` and the mount runs with `<dir>` as cwd, so each
 *   layer costs 4-5 bytes ("l/17:") rather than its full path; the links are
 *   removed once overlay has resolved them. (containers/storage's "l/"
 *   links do the same, from a re-exec'd child; crid is single-threaded, so a
 *   chdir and back is safe.)
 *
 * "index=off" as containers/storage sets it: the inode index ties a lower
 * layer to one upper, and image layers are shared by many containers.
 */
#include "runtime/container/rootfs.h"

#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <stdio.h>
#include <string.h>
#include <sys/mount.h>
#include <sys/stat.h>
#include <unistd.h>

#include "reactor/mem.h"

/* The mount(2) option string must fit in a page (copy_mount_options). */
#define LEGACY_OPTS_MAX 4096
/* fsconfig copies a string value with strndup_user(value, 256). */
#define FSCONFIG_VALUE_MAX 256

static bool force_legacy;

void crid_rootfs_force_legacy(bool on)
{
	force_legacy = on;
}

static int path_in(char *out, size_t size, const char *dir, const char *name, struct crid_err *err)
{
	if (snprintf(out, size, "%s/%s", dir, name) >= (int)size)
		return crid_err_set(err, ENAMETOOLONG, "rootfs path `%s/%s`", dir, name);
	return 0;
}

static int make_dir(const char *dir, const char *name, struct crid_err *err)
{
	char path[PATH_MAX];

	if (path_in(path, sizeof(path), dir, name, err) < 0)
		return -1;
	if (mkdir(path, 0755) < 0 && errno != EEXIST)
		return crid_err_set(err, errno, "mkdir `%s`", path);
	return 0;
}

bool crid_rootfs_is_mounted(const char *dir)
{
	char path[PATH_MAX], parent[PATH_MAX];
	struct statx sx;
	struct stat a, b;

	if (path_in(path, sizeof(path), dir, "rootfs", NULL) < 0)
		return false;
	if (statx(AT_FDCWD, path, AT_SYMLINK_NOFOLLOW, STATX_BASIC_STATS, &sx) < 0)
		return false;
	if (sx.stx_attributes_mask & STATX_ATTR_MOUNT_ROOT)
		return (sx.stx_attributes & STATX_ATTR_MOUNT_ROOT) != 0;
	/* Pre-5.8 kernels: a mount point sits on another device than its parent. */
	if (path_in(parent, sizeof(parent), dir, ".", NULL) < 0 || stat(path, &a) < 0 ||
	    stat(parent, &b) < 0)
		return false;
	return a.st_dev != b.st_dev;
}

/* Appends the kernel's own words (the fs context log: "e overlay: ...") to |err|. */
static void fs_log(int fsfd, struct crid_err *err)
{
	char line[256];
	ssize_t n;
	size_t len;

	while ((n = read(fsfd, line, sizeof(line) - 1)) > 0) {
		line[n] = '\0';
		if (!err || (line[0] != 'e' && line[0] != 'w') || line[1] != ' ')
			continue;
		len = strlen(err->msg);
		snprintf(err->msg + len, sizeof(err->msg) - len, " (%s)", line + 2);
	}
}

/* Returns 0, or the errno of fsconfig with |err| set. */
static int fs_set(int fsfd, const char *key, const char *value, struct crid_err *err)
{
	int e;

	if (fsconfig(fsfd, FSCONFIG_SET_STRING, key, value, 0) == 0)
		return 0;
	e = errno;
	crid_err_set(err, e, "overlay %s `%s`", key, value);
	fs_log(fsfd, err);
	return e;
}

static int fs_set_in(int fsfd, const char *key, const char *dir, const char *name,
		     struct crid_err *err)
{
	char path[PATH_MAX];

	if (path_in(path, sizeof(path), dir, name, err) < 0)
		return -1;
	return fs_set(fsfd, key, path, err) ? -1 : 0;
}

/* fsconfig takes values up to 255 bytes; longer paths go the mount(2) way. */
static bool fits_fsconfig(const char *dir, const char *const *lowers, size_t n)
{
	if (strlen(dir) + sizeof("/upper") > FSCONFIG_VALUE_MAX)
		return false;
	for (size_t i = 0; i < n; i++)
		if (strlen(lowers[i]) >= FSCONFIG_VALUE_MAX)
			return false;
	return true;
}

/*
 * The new mount API. Returns 1 when the kernel lacks it ("lowerdir+" is
 * unknown, fsopen missing) or a value is too long for fsconfig, so the
 * caller falls back to mount(2); 0 mounted; -1 failed.
 */
static int mount_new_api(const char *dir, const char *const *lowers, size_t n, struct crid_err *err)
{
	char target[PATH_MAX];
	int fsfd, mfd, r = -1;

	if (path_in(target, sizeof(target), dir, "rootfs", err) < 0)
		return -1;
	if (!fits_fsconfig(dir, lowers, n))
		return 1;
	fsfd = fsopen("overlay", FSOPEN_CLOEXEC);
	if (fsfd < 0)
		return errno == ENOSYS ? 1 : crid_err_set(err, errno, "fsopen overlay");
	for (size_t i = n; i-- > 0;) {
		int e = fs_set(fsfd, "lowerdir+", lowers[i], err);

		if (e) {
			/* EINVAL on the first one: a kernel before 6.8 does not know "lowerdir+" */
			r = e == EINVAL && i == n - 1 ? 1 : -1;
			goto out;
		}
	}
	if (fs_set_in(fsfd, "upperdir", dir, "upper", err) < 0 ||
	    fs_set_in(fsfd, "workdir", dir, "work", err) < 0 || fs_set(fsfd, "index", "off", err))
		goto out;
	if (fsconfig(fsfd, FSCONFIG_CMD_CREATE, NULL, NULL, 0) < 0) {
		crid_err_set(err, errno, "create overlay for `%s`", target);
		fs_log(fsfd, err);
		goto out;
	}
	mfd = fsmount(fsfd, FSMOUNT_CLOEXEC, 0);
	if (mfd < 0) {
		crid_err_set(err, errno, "fsmount overlay for `%s`", target);
		goto out;
	}
	r = move_mount(mfd, "", AT_FDCWD, target, MOVE_MOUNT_F_EMPTY_PATH);
	if (r < 0)
		crid_err_set(err, errno, "move_mount overlay to `%s`", target);
	close(mfd);
out:
	close(fsfd);
	return r;
}

static void remove_links(const char *dir, size_t n)
{
	char path[PATH_MAX];

	for (size_t i = 0; i < n; i++) {
		snprintf(path, sizeof(path), "%s/l/%zu", dir, i);
		unlink(path);
	}
	snprintf(path, sizeof(path), "%s/l", dir);
	rmdir(path);
}

/* `<dir>/l/<i>` -> lowers[i]; the option string names them top-most first. */
static int make_links(const char *dir, const char *const *lowers, size_t n, char *opts,
		      struct crid_err *err)
{
	char path[PATH_MAX];
	size_t len = strlen("lowerdir=");
	int w;

	memcpy(opts, "lowerdir=", len + 1);
	if (make_dir(dir, "l", err) < 0)
		return -1;
	for (size_t i = 0; i < n; i++) {
		snprintf(path, sizeof(path), "%s/l/%zu", dir, i);
		unlink(path); /* a leftover of an interrupted mount */
		if (symlink(lowers[i], path) < 0) {
			crid_err_set(err, errno, "symlink `%s` to layer `%s`", path, lowers[i]);
			remove_links(dir, i);
			return -1;
		}
	}
	for (size_t i = n; i-- > 0;) {
		w = snprintf(opts + len, LEGACY_OPTS_MAX - len, "%sl/%zu", i == n - 1 ? "" : ":",
			     i);
		if (w < 0 || (size_t)w >= LEGACY_OPTS_MAX - len)
			goto too_long;
		len += (size_t)w;
	}
	w = snprintf(opts + len, LEGACY_OPTS_MAX - len, ",upperdir=upper,workdir=work,index=off");
	if (w >= 0 && (size_t)w < LEGACY_OPTS_MAX - len)
		return 0;
too_long:
	remove_links(dir, n);
	return crid_err_set(err, E2BIG, "overlay options for %zu layers exceed a page", n);
}

static int mount_legacy(const char *dir, const char *const *lowers, size_t n, struct crid_err *err)
{
	char *opts = crid_malloc(LEGACY_OPTS_MAX);
	int cwd = -1, r = -1;

	if (!opts)
		return crid_err_set(err, ENOMEM, "overlay options for `%s`", dir);
	if (make_links(dir, lowers, n, opts, err) < 0)
		goto out;
	cwd = open(".", O_PATH | O_DIRECTORY | O_CLOEXEC);
	if (cwd < 0 || chdir(dir) < 0) {
		crid_err_set(err, errno, "chdir `%s`", dir);
		goto links;
	}
	r = mount("overlay", "rootfs", "overlay", 0, opts);
	if (r < 0)
		crid_err_set(err, errno, "mount overlay on `%s/rootfs`", dir);
	if (fchdir(cwd) < 0)
		crid_err_set(err, errno, "chdir back from `%s`", dir), r = -1;
links:
	if (cwd >= 0)
		close(cwd);
	remove_links(dir, n); /* overlay holds the layers it resolved, not the names */
out:
	crid_free(opts);
	return r;
}

int crid_rootfs_mount(const char *dir, const char *const *lowers, size_t n_lowers,
		      struct crid_err *err)
{
	char empty[PATH_MAX];
	const char *only_empty[1] = { empty };
	int r;

	if (crid_rootfs_is_mounted(dir))
		return 0;
	if (mkdir(dir, 0711) < 0 && errno != EEXIST)
		return crid_err_set(err, errno, "mkdir `%s`", dir);
	if (make_dir(dir, "upper", err) < 0 || make_dir(dir, "work", err) < 0 ||
	    make_dir(dir, "rootfs", err) < 0)
		return -1;
	if (n_lowers == 0) {
		/* overlay needs a lower layer: an image FROM scratch with no layers gets an empty one */
		if (make_dir(dir, "empty", err) < 0 ||
		    path_in(empty, sizeof(empty), dir, "empty", err) < 0)
			return -1;
		lowers = only_empty;
		n_lowers = 1;
	}
	r = force_legacy ? 1 : mount_new_api(dir, lowers, n_lowers, err);
	if (r > 0)
		r = mount_legacy(dir, lowers, n_lowers, err);
	if (r < 0)
		return crid_err_wrap(err, "mount rootfs of `%s`", dir);
	return 0;
}

int crid_rootfs_unmount(const char *dir, struct crid_err *err)
{
	char path[PATH_MAX];

	if (path_in(path, sizeof(path), dir, "rootfs", err) < 0)
		return -1;
	/* Stacked mounts (a mount racing ours) come off one by one; EINVAL: nothing left. */
	for (int i = 0; i < 16; i++) {
		if (umount2(path, MNT_DETACH | UMOUNT_NOFOLLOW) == 0)
			continue;
		if (errno == EINVAL || errno == ENOENT)
			return 0;
		return crid_err_set(err, errno, "unmount `%s`", path);
	}
	return crid_err_set(err, EBUSY, "unmount `%s`: still mounted after 16 unmounts", path);
}
