#include "runtime/state/statefile.h"

#include <errno.h>
#include <stdbool.h>
#include <fcntl.h>
#include <libgen.h>
#include <limits.h>
#include <stdio.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "reactor/mem.h"

static int write_all(int fd, const char *p, size_t len)
{
	while (len) {
		ssize_t n = write(fd, p, len);

		if (n < 0) {
			if (errno == EINTR)
				continue;
			return -1;
		}
		p += n;
		len -= (size_t)n;
	}
	return 0;
}

static int fsync_parent(const char *path)
{
	char dir[PATH_MAX];
	int fd, r;

	snprintf(dir, sizeof(dir), "%s", path);
	fd = open(dirname(dir), O_RDONLY | O_DIRECTORY | O_CLOEXEC);
	if (fd < 0)
		return -1;
	r = fsync(fd);
	close(fd);
	return r;
}

int crid_statefile_write(const char *path, const void *data, size_t len, struct crid_err *err)
{
	return crid_statefile_write_mode(path, data, len, 0600, err);
}

static int write_file(const char *path, const void *data, size_t len, unsigned mode, bool durable,
		      struct crid_err *err)
{
	char tmp[PATH_MAX];
	int fd;

	if (snprintf(tmp, sizeof(tmp), "%s.tmp", path) >= (int)sizeof(tmp))
		return crid_err_set(err, ENAMETOOLONG, "state file `%s`", path);
	fd = open(tmp, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC | O_NOFOLLOW, 0600);
	if (fd < 0)
		return crid_err_set(err, errno, "create `%s`", tmp);
	if (fchmod(fd, mode) < 0 || write_all(fd, data, len) < 0 || (durable && fsync(fd) < 0)) {
		crid_err_set(err, errno, "write `%s`", tmp);
		close(fd);
		unlink(tmp);
		return -1;
	}
	close(fd);
	if (rename(tmp, path) < 0) {
		crid_err_set(err, errno, "rename `%s` to `%s`", tmp, path);
		unlink(tmp);
		return -1;
	}
	if (durable && fsync_parent(path) < 0)
		return crid_err_set(err, errno, "fsync directory of `%s`", path);
	return 0;
}

int crid_statefile_write_mode(const char *path, const void *data, size_t len, unsigned mode,
			      struct crid_err *err)
{
	return write_file(path, data, len, mode, true, err);
}

int crid_statefile_write_volatile(const char *path, const void *data, size_t len, unsigned mode,
				  struct crid_err *err)
{
	return write_file(path, data, len, mode, false, err);
}

int crid_statefile_read(const char *path, size_t max, char **out, size_t *len, struct crid_err *err)
{
	struct stat st;
	char *buf;
	size_t got = 0;
	int fd = open(path, O_RDONLY | O_CLOEXEC | O_NOFOLLOW);

	if (fd < 0)
		return crid_err_set(err, errno, "open `%s`", path);
	if (fstat(fd, &st) < 0) {
		crid_err_set(err, errno, "stat `%s`", path);
		close(fd);
		return -1;
	}
	if ((unsigned long long)st.st_size > max) { /* errno is stale here: say what happened */
		crid_err_cause(err, EFBIG, "read `%s`: %lld bytes is over the %zu-byte limit", path,
			       (long long)st.st_size, max);
		close(fd);
		return -1;
	}
	buf = crid_malloc((size_t)st.st_size + 1);
	if (!buf) {
		close(fd);
		return crid_err_set(err, ENOMEM, "read `%s`", path);
	}
	while (got < (size_t)st.st_size) {
		ssize_t n = read(fd, buf + got, (size_t)st.st_size - got);

		if (n <= 0) {
			if (n < 0 && errno == EINTR)
				continue;
			break;
		}
		got += (size_t)n;
	}
	close(fd);
	buf[got] = '\0';
	*out = buf;
	*len = got;
	return 0;
}

int crid_mkdir_p(const char *path, unsigned mode, struct crid_err *err)
{
	char buf[PATH_MAX];
	size_t len = strlen(path);

	if (len == 0 || len >= sizeof(buf))
		return crid_err_set(err, ENAMETOOLONG, "mkdir `%s`", path);
	memcpy(buf, path, len + 1);
	for (char *p = buf + 1;; p++) {
		if (*p != '/' && *p != '\0')
			continue;
		char c = *p;

		*p = '\0';
		if (mkdir(buf, mode) < 0 && errno != EEXIST)
			return crid_err_set(err, errno, "mkdir `%s`", buf);
		*p = c;
		if (c == '\0')
			break;
	}
	return 0;
}
