#include "bench/procinfo.h"

#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

/* __SO_ACCEPTCON in the Flags column of /proc/net/unix: a listening socket */
#define UNIX_LISTENING 0x10000UL

/* Value in kB of the line starting with |key| ("Rss:"), or -1. */
static long field_kib(const char *text, const char *key)
{
	size_t klen = strlen(key);

	for (const char *line = text; line && *line; line = strchr(line, '\n')) {
		if (*line == '\n')
			line++;
		if (strncmp(line, key, klen) == 0)
			return strtol(line + klen, NULL, 10);
	}
	return -1;
}

int crid_bench_smaps_parse(const char *text, struct crid_bench_mem *out)
{
	long rss = field_kib(text, "Rss:"), pss = field_kib(text, "Pss:");

	if (rss < 0 || pss < 0)
		return -1;
	out->rss_kib = (unsigned long)rss;
	out->pss_kib = (unsigned long)pss;
	return 0;
}

/* Reads a small /proc file whole into |buf|. */
static int slurp(const char *path, char *buf, size_t size, struct crid_err *err)
{
	size_t len = 0;
	ssize_t n;
	int fd = open(path, O_RDONLY | O_CLOEXEC);

	if (fd < 0)
		return crid_err_set(err, errno, "open `%s`", path);
	while (len + 1 < size && (n = read(fd, buf + len, size - 1 - len)) > 0)
		len += (size_t)n;
	close(fd);
	buf[len] = '\0';
	return 0;
}

int crid_bench_mem_read(pid_t pid, struct crid_bench_mem *out, struct crid_err *err)
{
	char path[64], buf[4096];

	snprintf(path, sizeof(path), "/proc/%d/smaps_rollup", (int)pid);
	if (slurp(path, buf, sizeof(buf), err) < 0)
		return -1;
	if (crid_bench_smaps_parse(buf, out) < 0)
		return crid_err_set(err, 0, "`%s`: no Rss/Pss lines", path);
	return 0;
}

/* One line: "Num RefCount Protocol Flags Type St Inode Path". */
static int unix_line(const char *line, const char *path, unsigned long *inode)
{
	unsigned long flags, ino;
	char sock_path[PATH_MAX + 1];
	int n = 0;

	if (sscanf(line, "%*s %*s %*s %lx %*s %*s %lu %n", &flags, &ino, &n) != 2 || n == 0)
		return -1;
	if (sscanf(line + n, "%4096[^\n]", sock_path) != 1)
		return -1;
	if (!(flags & UNIX_LISTENING) || strcmp(sock_path, path) != 0)
		return -1;
	*inode = ino;
	return 0;
}

int crid_bench_unix_inode_parse(const char *text, const char *path, unsigned long *inode)
{
	const char *line = strchr(text, '\n'); /* skip the header */
	char buf[PATH_MAX + 128];

	while (line && *line) {
		const char *end = strchr(++line, '\n');
		size_t len = end ? (size_t)(end - line) : strlen(line);

		if (len < sizeof(buf)) { /* one line at a time: a line may have no path */
			memcpy(buf, line, len);
			buf[len] = '\0';
			if (unix_line(buf, path, inode) == 0)
				return 0;
		}
		line = end;
	}
	return -1;
}

/* Whether /proc/|pid|/fd holds "socket:[inode]". */
static int holds_socket(const char *pid, const char *want)
{
	char dir[64], link[PATH_MAX], target[64];
	struct dirent *de;
	int found = 0;
	DIR *d;

	snprintf(dir, sizeof(dir), "/proc/%s/fd", pid);
	d = opendir(dir);
	if (!d)
		return 0;
	while (!found && (de = readdir(d))) {
		ssize_t n;

		snprintf(link, sizeof(link), "%s/%s", dir, de->d_name);
		n = readlink(link, target, sizeof(target) - 1);
		if (n <= 0)
			continue;
		target[n] = '\0';
		found = strcmp(target, want) == 0;
	}
	closedir(d);
	return found;
}

static pid_t pid_holding(const char *want)
{
	struct dirent *de;
	pid_t best = -1;
	DIR *d = opendir("/proc");

	if (!d)
		return -1;
	while ((de = readdir(d))) {
		char *end;
		long pid = strtol(de->d_name, &end, 10);

		if (*end || pid <= 0 || (best > 0 && pid >= best))
			continue;
		if (holds_socket(de->d_name, want))
			best = (pid_t)pid;
	}
	closedir(d);
	return best;
}

/* /proc/net/unix can be long on a busy node: read it line by line. */
static int inode_for_path(const char *path, unsigned long *inode, struct crid_err *err)
{
	FILE *f = fopen("/proc/net/unix", "re");
	char *line = NULL;
	size_t cap = 0;
	int rc = -1;

	if (!f)
		return crid_err_set(err, errno, "open `/proc/net/unix`");
	if (getline(&line, &cap, f) > 0) /* the header */
		while (rc < 0 && getline(&line, &cap, f) > 0)
			rc = unix_line(line, path, inode);
	free(line);
	fclose(f);
	if (rc < 0)
		return crid_err_set(err, 0, "no socket listening on `%s` in /proc/net/unix", path);
	return 0;
}

pid_t crid_bench_pid_for_socket(const char *path, struct crid_err *err)
{
	unsigned long inode;
	char want[64];
	pid_t pid;

	if (inode_for_path(path, &inode, err) < 0)
		return -1;
	snprintf(want, sizeof(want), "socket:[%lu]", inode);
	pid = pid_holding(want);
	if (pid < 0)
		return crid_err_set(err, 0, "no process holds the socket of `%s`", path);
	return pid;
}
