#include "runtime/state/state_lock.h"

#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <signal.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/file.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#include "reactor/log.h"

/* The pid the holder wrote, or 0 when there is none yet (it locks, then writes). */
static long holder_pid(int fd)
{
	char buf[24], *end;
	ssize_t r = pread(fd, buf, sizeof(buf) - 1, 0);
	long pid;

	if (r <= 0)
		return 0;
	buf[r] = '\0';
	pid = strtol(buf, &end, 10);
	return end != buf && pid > 0 ? pid : 0;
}

static int write_pid(int fd, const char *path, struct crid_err *err)
{
	char buf[24];
	int len = snprintf(buf, sizeof(buf), "%ld\n", (long)getpid());

	if (ftruncate(fd, 0) < 0)
		return crid_err_set(err, errno, "truncate `%s`", path);
	if (pwrite(fd, buf, (size_t)len, 0) != len)
		return crid_err_set(err, errno ? errno : EIO, "write pid to `%s`", path);
	return 0;
}

static bool same_file(int fd, const struct stat *st)
{
	struct stat o;

	return fstat(fd, &o) == 0 && o.st_dev == st->st_dev && o.st_ino == st->st_ino;
}

/* An fd the previous image of this process passed on for |st|'s file, else -1. */
static int inherited(const struct stat *st)
{
	const char *p = getenv(CRID_STATE_LOCK_ENV);
	char *end;
	long fd;

	while (p && *p) {
		errno = 0;
		fd = strtol(p, &end, 10);
		if (errno || end == p || fd < 3 || fd > INT_MAX)
			return -1;
		if (same_file((int)fd, st))
			return (int)fd;
		p = *end == ',' ? end + 1 : NULL;
	}
	return -1;
}

/*
 * flock(LOCK_EX|LOCK_NB), waiting up to ~5 s while the pid in the file is
 * dead: a daemon killed with -9 leaves its lock held a moment longer by a
 * child it had just cloned and that has not closed its copies of the
 * daemon's fds yet (its first step, or exec, does). At start-up, before the
 * loop runs, so a short wait here stalls nothing.
 */
static int flock_holder_gone(int fd)
{
	for (int i = 0; i < 250; i++) {
		long pid;

		if (flock(fd, LOCK_EX | LOCK_NB) == 0)
			return 0;
		if (errno != EWOULDBLOCK)
			return -1;
		pid = holder_pid(fd);
		if (pid <= 0 || pid > INT_MAX || pid == (long)getpid() ||
		    kill((pid_t)pid, 0) == 0 || errno != ESRCH) {
			errno = EWOULDBLOCK;
			return -1;
		}
		usleep(20000);
	}
	errno = EWOULDBLOCK;
	return -1;
}

static int refuse(const char *dir, const char *path, int fd, int e, struct crid_err *err)
{
	long pid = holder_pid(fd);

	if (e != EWOULDBLOCK)
		return crid_err_set(err, e, "lock `%s`", path);
	if (pid)
		return crid_err_cause(err, EBUSY,
				      "state directory `%s` is in use by crid pid %ld (lock `%s`): "
				      "one daemon per directory",
				      dir, pid, path);
	return crid_err_cause(err, EBUSY,
			      "state directory `%s` is locked by another process (lock `%s`, "
			      "no pid written yet): one daemon per directory",
			      dir, path);
}

static int lock_one(struct crid_state_lock *l, const char *dir, struct crid_err *err)
{
	char path[PATH_MAX];
	struct stat st;
	int fd, old;

	if (snprintf(path, sizeof(path), "%s/" CRID_STATE_LOCK_FILE, dir) >= (int)sizeof(path))
		return crid_err_set(err, ENAMETOOLONG, "lock file in `%s`", dir);
	fd = open(path, O_RDWR | O_CREAT | O_CLOEXEC | O_NOFOLLOW, 0600);
	if (fd < 0)
		return crid_err_set(err, errno, "open `%s`", path);
	if (fstat(fd, &st) < 0) {
		crid_err_set(err, errno, "stat `%s`", path);
		goto fail;
	}
	for (size_t i = 0; i < l->n; i++)
		if (same_file(l->fd[i], &st)) /* root and runroot are one directory */
			goto done;
	old = inherited(&st);
	if (old >= 0) {
		/* flock belongs to the open file: closing our second open keeps it */
		close(fd);
		fd = old;
		if (fcntl(fd, F_SETFD, FD_CLOEXEC) < 0) {
			crid_err_set(err, errno, "keep `%s` from children", path);
			goto fail;
		}
		crid_log_info("state lock `%s` kept across the re-exec (fd %d)", path, fd);
	}
	if (flock_holder_gone(fd) < 0) {
		refuse(dir, path, fd, errno, err);
		goto fail;
	}
	if (write_pid(fd, path, err) < 0)
		goto fail;
	l->fd[l->n++] = fd;
	return 0;
done:
	close(fd);
	return 0;
fail:
	close(fd);
	return -1;
}

int crid_state_lock_take(struct crid_state_lock *l, const char *const *dirs, size_t n,
			 struct crid_err *err)
{
	int r = 0;

	memset(l, 0, sizeof(*l));
	if (n > CRID_STATE_LOCK_MAX)
		return crid_err_cause(err, EINVAL, "at most %d state directories",
				      CRID_STATE_LOCK_MAX);
	for (size_t i = 0; i < n && r == 0; i++)
		r = lock_one(l, dirs[i], err);
	unsetenv(CRID_STATE_LOCK_ENV); /* children must not see fd numbers that mean nothing */
	if (r < 0)
		crid_state_lock_release(l);
	return r;
}

int crid_state_lock_pass_on(struct crid_state_lock *l, struct crid_err *err)
{
	char buf[64];
	size_t off = 0;

	for (size_t i = 0; i < l->n; i++) {
		if (fcntl(l->fd[i], F_SETFD, 0) < 0)
			return crid_err_set(err, errno, "keep state lock fd %d across exec",
					    l->fd[i]);
		off +=
		    (size_t)snprintf(buf + off, sizeof(buf) - off, "%s%d", i ? "," : "", l->fd[i]);
	}
	if (l->n && setenv(CRID_STATE_LOCK_ENV, buf, 1) < 0)
		return crid_err_set(err, errno, "set $%s", CRID_STATE_LOCK_ENV);
	return 0;
}

void crid_state_lock_release(struct crid_state_lock *l)
{
	for (size_t i = 0; i < l->n; i++)
		close(l->fd[i]);
	l->n = 0;
}
