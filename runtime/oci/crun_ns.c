/*
 * The mount namespace crun runs in on a hybrid cgroup host (crun_ns.h). All
 * of it runs once at start-up, before the loop: statfs, mount(2), one fork
 * whose child cuts the namespace and waits on a pipe while we open it.
 */
#include "runtime/oci/crun_ns.h"

#include <errno.h>
#include <fcntl.h>
#include <linux/magic.h>
#include <linux/nsfs.h>
#include <sched.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/ioctl.h>
#include <sys/mount.h>
#include <sys/stat.h>
#include <sys/vfs.h>
#include <sys/wait.h>
#include <unistd.h>

#include "reactor/mem.h"

#define MOUNTINFO_MAX (16 << 20)

/* mountinfo escapes space, tab, newline and backslash as \ooo. */
static void unescape(const char *s, size_t len, char *out, size_t size)
{
	size_t o = 0;

	for (size_t i = 0; i < len && o + 1 < size; i++) {
		if (s[i] == '\\' && i + 3 < len && s[i + 1] >= '0' && s[i + 1] <= '3') {
			out[o++] =
			    (char)((s[i + 1] - '0') * 64 + (s[i + 2] - '0') * 8 + (s[i + 3] - '0'));
			i += 3;
		} else {
			out[o++] = s[i];
		}
	}
	out[o] = '\0';
}

/* Whether mount point |mp| contains |path| (is it, or a directory above it). */
static bool contains(const char *mp, const char *path)
{
	size_t n = strlen(mp);

	if (strcmp(mp, "/") == 0)
		return path[0] == '/';
	return strncmp(mp, path, n) == 0 && (path[n] == '/' || path[n] == '\0');
}

/* One line: its mount point into |mp| and whether "shared:" is among its optional fields. */
static bool parse_line(const char *line, const char *end, char *mp, size_t size, bool *shared)
{
	const char *f[6];
	const char *p = line;
	int i = 0;

	while (p < end && i < 6) {
		while (p < end && *p == ' ')
			p++;
		f[i++] = p;
		while (p < end && *p != ' ')
			p++;
	}
	if (i < 6)
		return false;
	unescape(f[4], (size_t)(strchr(f[4], ' ') - f[4]), mp, size);
	*shared = false;
	while (p < end) {
		while (p < end && *p == ' ')
			p++;
		if (p < end && *p == '-')
			break;
		if ((size_t)(end - p) > 7 && strncmp(p, "shared:", 7) == 0)
			*shared = true;
		while (p < end && *p != ' ')
			p++;
	}
	return true;
}

bool crid_crun_ns_mount_of(const char *mountinfo, const char *path, char *point, size_t size,
			   bool *shared)
{
	const char *line = mountinfo;
	size_t best = 0;
	bool found = false;

	while (line && *line) {
		const char *end = strchr(line, '\n');
		char mp[PATH_MAX];
		bool sh;

		if (!end)
			end = line + strlen(line);
		/* ">=": a later mount on the same point is the one on top */
		if (parse_line(line, end, mp, sizeof(mp), &sh) && contains(mp, path) &&
		    strlen(mp) >= best) {
			best = strlen(mp);
			snprintf(point, size, "%s", mp);
			*shared = sh;
			found = true;
		}
		line = *end ? end + 1 : end;
	}
	return found;
}

static char *read_mountinfo(struct crid_err *err)
{
	size_t len = 0, cap = 65536;
	char *buf = crid_malloc(cap + 1), *p;
	int fd = open("/proc/self/mountinfo", O_RDONLY | O_CLOEXEC);
	ssize_t n;

	if (!buf || fd < 0) {
		crid_err_set(err, buf ? errno : ENOMEM, "read /proc/self/mountinfo");
		goto fail;
	}
	while ((n = read(fd, buf + len, cap - len)) > 0 || (n < 0 && errno == EINTR)) {
		len += n > 0 ? (size_t)n : 0;
		if (len == cap && cap < MOUNTINFO_MAX) {
			p = crid_realloc(buf, cap * 2 + 1);
			if (!p) {
				crid_err_set(err, ENOMEM, "read /proc/self/mountinfo");
				goto fail;
			}
			buf = p, cap *= 2;
		}
	}
	close(fd);
	buf[len] = '\0';
	return buf;
fail:
	if (fd >= 0)
		close(fd);
	crid_free(buf);
	return NULL;
}

/* Where |path| (resolved) is mounted and whether that mount is shared. */
static int mount_of(const char *path, char *point, size_t size, bool *shared, struct crid_err *err)
{
	char *mi = read_mountinfo(err);
	bool ok;

	if (!mi)
		return -1;
	ok = crid_crun_ns_mount_of(mi, path, point, size, shared);
	crid_free(mi);
	if (!ok)
		return crid_err_set(err, ENOENT, "no mount holds `%s`", path);
	return 0;
}

/* The pin's directory: a private mount, so the nsfs mount on it propagates nowhere. */
static int private_dir(const char *dir, struct crid_err *err)
{
	char point[PATH_MAX];
	bool shared;

	if (mkdir(dir, 0700) < 0 && errno != EEXIST)
		return crid_err_set(err, errno, "create `%s`", dir);
	if (mount_of(dir, point, sizeof(point), &shared, err) < 0)
		return -1;
	if (strcmp(point, dir) != 0 && mount(dir, dir, NULL, MS_BIND, NULL) < 0)
		return crid_err_set(err, errno, "bind mount `%s` on itself", dir);
	if (mount(NULL, dir, NULL, MS_PRIVATE, NULL) < 0)
		return crid_err_set(err, errno, "make `%s` a private mount", dir);
	return 0;
}

/* The namespace pinned at |pin|, when there is one: nsfs and a mount namespace. */
static int open_pinned(const char *pin)
{
	struct statfs sf;
	int fd;

	if (statfs(pin, &sf) < 0 || sf.f_type != NSFS_MAGIC)
		return -1;
	fd = open(pin, O_RDONLY | O_CLOEXEC);
	if (fd >= 0 && ioctl(fd, NS_GET_NSTYPE) != CLONE_NEWNS) {
		close(fd);
		fd = -1;
	}
	return fd;
}

/* The child: a namespace of its own without |unified|; reports errno, then waits. */
static void __attribute__((noreturn)) cut_child(const char *unified, int ready, int park)
{
	int e = 0;
	char c;

	if (unshare(CLONE_NEWNS) < 0)
		e = errno;
	/* slave: host mounts still come in; nothing done here goes back */
	else if (mount(NULL, "/", NULL, MS_REC | MS_SLAVE, NULL) < 0)
		e = errno;
	else if (umount2(unified, MNT_DETACH) < 0)
		e = errno;
	if (write(ready, &e, sizeof(e)) == sizeof(e))
		while (read(park, &c, 1) < 0 && errno == EINTR)
			;
	_exit(e ? 1 : 0);
}

int crid_crun_ns_open(const char *unified, struct crid_err *err)
{
	int ready[2], park[2], e = -1, fd = -1;
	char path[64];
	pid_t pid;

	if (pipe2(ready, O_CLOEXEC) < 0)
		return crid_err_set(err, errno, "pipe");
	if (pipe2(park, O_CLOEXEC) < 0) {
		close(ready[0]), close(ready[1]);
		return crid_err_set(err, errno, "pipe");
	}
	pid = fork();
	if (pid == 0) {
		close(ready[0]), close(park[1]); /* the park ends at our close of park[1] */
		cut_child(unified, ready[1], park[0]);
	}
	close(ready[1]), close(park[0]);
	if (pid < 0) {
		crid_err_set(err, errno, "fork");
	} else if (read(ready[0], &e, sizeof(e)) != sizeof(e)) {
		crid_err_set(err, EIO, "the namespace's child died");
	} else if (e) {
		crid_err_set(err, e, "new mount namespace without `%s`", unified);
	} else {
		snprintf(path, sizeof(path), "/proc/%d/ns/mnt", (int)pid);
		fd = open(path, O_RDONLY | O_CLOEXEC);
		if (fd < 0)
			crid_err_set(err, errno, "open `%s`", path);
	}
	close(ready[0]), close(park[1]);
	if (pid > 0)
		while (waitpid(pid, NULL, 0) < 0 && errno == EINTR)
			;
	return fd;
}

static int cut(const char *pin, const char *unified, struct crid_err *err)
{
	int fd = crid_crun_ns_open(unified, err);
	char path[64];
	int r = 0;

	if (fd < 0)
		return -1;
	snprintf(path, sizeof(path), "/proc/self/fd/%d", fd);
	if (mount(path, pin, NULL, MS_BIND, NULL) < 0)
		r = crid_err_set(err, errno, "pin the mount namespace at `%s`", pin);
	close(fd);
	return r;
}

static int make_pin(struct crid_crun_ns *ns, const char *dir, struct crid_err *err)
{
	int fd;

	if (private_dir(dir, err) < 0)
		return -1;
	umount2(ns->pin, MNT_DETACH); /* whatever stale thing is there */
	fd = open(ns->pin, O_WRONLY | O_CREAT | O_CLOEXEC, 0600);
	if (fd < 0)
		return crid_err_set(err, errno, "create `%s`", ns->pin);
	close(fd);
	return cut(ns->pin, ns->hidden, err);
}

int crid_crun_ns_prepare(struct crid_crun_ns *ns, const char *runroot, const char *unified,
			 struct crid_err *err)
{
	char dir[PATH_MAX];

	memset(ns, 0, sizeof(*ns));
	ns->fd = -1;
	snprintf(ns->hidden, sizeof(ns->hidden), "%s", unified);
	if (!realpath(runroot, dir))
		return crid_err_set(err, errno, "resolve `%s`", runroot);
	if (snprintf(ns->pin, sizeof(ns->pin), "%s/crun-ns/mnt", dir) >= (int)sizeof(ns->pin))
		return crid_err_set(err, ENAMETOOLONG, "crun namespace pin under `%s`", dir);
	ns->fd = open_pinned(ns->pin);
	ns->reused = ns->fd >= 0;
	if (ns->reused)
		return 0;
	strcat(dir, "/crun-ns");
	if (make_pin(ns, dir, err) < 0)
		return -1;
	ns->fd = open_pinned(ns->pin);
	if (ns->fd < 0)
		return crid_err_set(err, EIO, "`%s` is not a mount namespace after pinning",
				    ns->pin);
	return 0;
}

void crid_crun_ns_close(struct crid_crun_ns *ns)
{
	if (ns && ns->fd >= 0) {
		close(ns->fd);
		ns->fd = -1;
	}
}
