#include "io/unix_listener.h"

#include <errno.h>
#include <limits.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/un.h>
#include <unistd.h>

static int fill_addr(struct sockaddr_un *sa, const char *path, struct crid_err *err)
{
	memset(sa, 0, sizeof(*sa));
	sa->sun_family = AF_UNIX;
	if (strlen(path) >= sizeof(sa->sun_path))
		return crid_err_set(err, ENAMETOOLONG, "socket path `%s`", path);
	memcpy(sa->sun_path, path, strlen(path) + 1);
	return 0;
}

static int mkdir_parents(const char *path, struct crid_err *err)
{
	char dir[PATH_MAX];
	size_t len = strlen(path);

	if (len >= sizeof(dir))
		return crid_err_set(err, ENAMETOOLONG, "socket path `%s`", path);
	memcpy(dir, path, len + 1);
	for (char *p = dir + 1; *p; p++) {
		if (*p != '/')
			continue;
		*p = '\0';
		if (mkdir(dir, 0755) < 0 && errno != EEXIST)
			return crid_err_set(err, errno, "mkdir `%s`", dir);
		*p = '/';
	}
	return 0;
}

/* A connect() that succeeds means a live owner: never steal its socket. */
static int check_not_live(const struct sockaddr_un *sa, const char *path, struct crid_err *err)
{
	struct stat st;
	int fd, r;

	if (lstat(path, &st) < 0)
		return errno == ENOENT ? 0 : crid_err_set(err, errno, "stat `%s`", path);
	if (S_ISDIR(st.st_mode))
		return crid_err_set(err, EISDIR, "socket path `%s`", path);
	if (S_ISSOCK(st.st_mode)) {
		fd = socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0);
		if (fd < 0)
			return crid_err_set(err, errno, "socket");
		r = connect(fd, (const struct sockaddr *)sa, sizeof(*sa));
		close(fd);
		if (r == 0)
			return crid_err_set(err, EADDRINUSE,
					    "another instance is listening on `%s`", path);
	}
	if (unlink(path) < 0 && errno != ENOENT)
		return crid_err_set(err, errno, "remove stale `%s`", path);
	return 0;
}

int crid_unix_listen(const char *path, mode_t mode, gid_t gid, struct crid_err *err)
{
	struct sockaddr_un sa;
	int fd;

	if (fill_addr(&sa, path, err) < 0 || mkdir_parents(path, err) < 0 ||
	    check_not_live(&sa, path, err) < 0)
		return -1;
	fd = socket(AF_UNIX, SOCK_STREAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0);
	if (fd < 0)
		return crid_err_set(err, errno, "socket");
	if (bind(fd, (struct sockaddr *)&sa, sizeof(sa)) < 0) {
		crid_err_set(err, errno, "bind `%s`", path);
		goto fail;
	}
	if (chmod(path, mode) < 0) {
		crid_err_set(err, errno, "chmod `%s`", path);
		goto fail_unlink;
	}
	if (gid != (gid_t)-1 && chown(path, (uid_t)-1, gid) < 0) {
		crid_err_set(err, errno, "chown `%s` to group %u", path, (unsigned)gid);
		goto fail_unlink;
	}
	if (listen(fd, 1024) < 0) {
		crid_err_set(err, errno, "listen `%s`", path);
		goto fail_unlink;
	}
	return fd;
fail_unlink:
	unlink(path);
fail:
	close(fd);
	return -1;
}
