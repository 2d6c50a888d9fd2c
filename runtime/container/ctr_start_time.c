#include "runtime/container/ctr_start_time.h"

#include <dirent.h>
#include <fcntl.h>
#include <limits.h>
#include <stdbool.h>
#include <stdio.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#include "reactor/loop.h"

void crid_start_mark_init(struct crid_start_mark *m)
{
	m->asked_ns = 0;
	m->fifo_before = 0;
	m->fifo = -1;
}

void crid_start_mark_drop(struct crid_start_mark *m)
{
	if (m->fifo >= 0)
		close(m->fifo);
	m->fifo = -1;
}

static int64_t mtime_ns(int fd)
{
	struct stat st;

	if (fstat(fd, &st) < 0)
		return -1;
	return (int64_t)st.st_mtim.tv_sec * 1000000000 + st.st_mtim.tv_nsec;
}

/* runc and crun keep their state in `<root>/<id>/`; without --root, `/run/<binary name>`. */
static int fifo_path(char *out, size_t size, const struct crid_oci_runtime *rt, const char *id)
{
	const char *base = rt->path ? strrchr(rt->path, '/') : NULL;
	int n;

	base = base ? base + 1 : rt->path;
	if (rt->root && rt->root[0])
		n = snprintf(out, size, "%s/%s/exec.fifo", rt->root, id);
	else if (base && base[0])
		n = snprintf(out, size, "/run/%s/%s/exec.fifo", base, id);
	else
		return -1;
	return n < 0 || (size_t)n >= size ? -1 : 0;
}

void crid_start_mark_begin(struct crid_start_mark *m, const struct crid_oci_runtime *rt,
			   const char *id)
{
	char path[PATH_MAX];

	crid_start_mark_drop(m);
	m->asked_ns = crid_wall_ns();
	if (fifo_path(path, sizeof(path), rt, id) < 0)
		return;
	/* O_PATH: neither a reader nor a writer, so the runtime's handshake is untouched */
	m->fifo = open(path, O_PATH | O_CLOEXEC);
	if (m->fifo >= 0)
		m->fifo_before = mtime_ns(m->fifo);
}

int64_t crid_start_mark_end(struct crid_start_mark *m)
{
	int64_t now = crid_wall_ns(), at = m->asked_ns ? m->asked_ns : now;
	int64_t written = m->fifo >= 0 ? mtime_ns(m->fifo) : -1;

	/*
	 * The stamp comes from the kernel's coarse clock, up to a tick behind the
	 * precise one crid reads: it can never be before the ask, so the later of the two.
	 */
	if (written > m->fifo_before && written > at)
		at = written;
	crid_start_mark_drop(m);
	return at < now ? at : now;
}

/* When process |pid| was forked, in ns since the epoch, from /proc/<pid>/stat; -1 if unknown. */
static int64_t proc_start_ns(pid_t pid)
{
	char path[64], buf[1024], *p;
	unsigned long long ticks;
	struct timespec boot, wall;
	ssize_t n;
	int fd;

	snprintf(path, sizeof(path), "/proc/%d/stat", (int)pid);
	fd = open(path, O_RDONLY | O_CLOEXEC);
	if (fd < 0)
		return -1;
	n = read(fd, buf, sizeof(buf) - 1);
	close(fd);
	if (n <= 0)
		return -1;
	buf[n] = '\0';
	p = strrchr(buf, ')'); /* comm may hold spaces and parentheses */
	/* after ") ": state is field 3, starttime field 22 */
	for (int field = 2; p && field < 22; field++)
		p = strchr(p + 1, ' ');
	if (!p || sscanf(p + 1, "%llu", &ticks) != 1)
		return -1;
	if (clock_gettime(CLOCK_BOOTTIME, &boot) < 0 || clock_gettime(CLOCK_REALTIME, &wall) < 0)
		return -1;
	return (int64_t)wall.tv_sec * 1000000000 + wall.tv_nsec -
	       ((int64_t)boot.tv_sec * 1000000000 + boot.tv_nsec) +
	       (int64_t)(ticks * (1000000000ull / (unsigned long long)sysconf(_SC_CLK_TCK)));
}

/* Whether |argv| (NUL-separated, |len| bytes) is `<runtime> [flags] start <id>`. */
static bool is_start_of(const char *argv, size_t len, const char *base, const char *id)
{
	const char *a0 = strrchr(argv, '/'), *end = argv + len, *last = argv;
	bool start = false;

	a0 = a0 ? a0 + 1 : argv;
	if (strcmp(a0, base) != 0)
		return false;
	for (const char *p = argv + strlen(argv) + 1; p < end; p += strlen(p) + 1) {
		start = start || strcmp(p, "start") == 0;
		last = p;
	}
	return start && strcmp(last, id) == 0;
}

/*
 * Whether a `runtime start` of |id| still runs (the previous crid's, killed
 * while it was in flight): it unlinks the FIFO last, so until it exits the
 * FIFO says nothing. Start-up only: one pass over /proc per container
 * recorded created, before the loop serves.
 */
static bool start_in_flight(const struct crid_oci_runtime *rt, const char *id)
{
	const char *base = rt->path ? strrchr(rt->path, '/') : NULL;
	char path[300], argv[4096];
	struct dirent *e;
	bool found = false;
	DIR *d;

	base = base ? base + 1 : rt->path;
	if (!base || !base[0] || !(d = opendir("/proc")))
		return false;
	while (!found && (e = readdir(d))) {
		int fd;
		ssize_t n;

		if (e->d_name[0] < '1' || e->d_name[0] > '9')
			continue;
		snprintf(path, sizeof(path), "/proc/%s/cmdline", e->d_name);
		fd = open(path, O_RDONLY | O_CLOEXEC);
		if (fd < 0)
			continue;
		n = read(fd, argv, sizeof(argv) - 1);
		close(fd);
		if (n <= 0)
			continue;
		argv[n] = '\0';
		found = is_start_of(argv, (size_t)n, base, id);
	}
	closedir(d);
	return found;
}

int64_t crid_start_time_recovered(const struct crid_oci_runtime *rt, const char *id, pid_t pid,
				  int64_t not_before)
{
	char path[PATH_MAX], *slash;
	struct stat st;
	int64_t at;

	if (fifo_path(path, sizeof(path), rt, id) < 0)
		return -1;
	/*
	 * FIFO still there and no start on its way: never started. Looked at
	 * again after the scan: a start that unlinked it and exited meanwhile
	 * is in neither.
	 */
	if (lstat(path, &st) == 0 && !start_in_flight(rt, id) && lstat(path, &st) == 0)
		return -1;
	slash = strrchr(path, '/');
	*slash = '\0';
	if (stat(path, &st) < 0 || !S_ISDIR(st.st_mode))
		return -1; /* the runtime does not know it here: cannot tell */
	at = proc_start_ns(pid);
	if (at <= 0)
		return -1;
	/*
	 * The fork counts in clock ticks (10 ms), rounded down: it can land
	 * before createdAt, and kubelet must never see a start before creation.
	 */
	return at < not_before ? not_before : at;
}
