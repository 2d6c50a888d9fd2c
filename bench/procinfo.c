#include "bench/procinfo.h"

#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <stdbool.h>
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

const char *crid_bench_kind_name(int kind)
{
	static const char *names[] = { "daemon", "shim", "conmon", "pause", "other", "fdstore" };

	return kind >= 0 && kind < CRID_BENCH_KINDS ? names[kind] : "?";
}

struct proc {
	pid_t pid, ppid;
	char comm[32];
	char mntns[48];
	bool names_sock;
	int kind; /* -1: not the runtime's */
};

/* "pid (comm) S ppid ..."; comm may hold spaces and parens: the last ')' ends it. */
static int read_stat(pid_t pid, struct proc *p, long *ticks)
{
	char path[64], buf[1024], *open_p, *close_p;
	struct crid_err err;
	unsigned long ut, st;
	int ppid;

	snprintf(path, sizeof(path), "/proc/%d/stat", (int)pid);
	if (slurp(path, buf, sizeof(buf), &err) < 0)
		return -1;
	open_p = strchr(buf, '(');
	close_p = strrchr(buf, ')');
	if (!open_p || !close_p || close_p < open_p)
		return -1;
	if (p) {
		size_t n = (size_t)(close_p - open_p - 1);

		if (n >= sizeof(p->comm))
			n = sizeof(p->comm) - 1;
		memcpy(p->comm, open_p + 1, n);
		p->comm[n] = '\0';
	}
	/* after ") ": state ppid pgrp session tty tpgid flags minflt cminflt majflt cmajflt utime stime */
	if (sscanf(close_p + 2, "%*c %d %*d %*d %*d %*d %*u %*u %*u %*u %*u %lu %lu", &ppid, &ut,
		   &st) != 3)
		return -1;
	if (p)
		p->ppid = ppid;
	if (ticks)
		*ticks = (long)(ut + st);
	return 0;
}

long crid_bench_cpu_ticks(pid_t pid)
{
	long t;

	return read_stat(pid, NULL, &t) < 0 ? -1 : t;
}

long crid_bench_fd_count(pid_t pid)
{
	char path[64];
	struct dirent *de;
	long n = 0;
	DIR *d;

	snprintf(path, sizeof(path), "/proc/%d/fd", (int)pid);
	d = opendir(path);
	if (!d)
		return -1;
	while ((de = readdir(d)))
		if (de->d_name[0] != '.')
			n++;
	closedir(d);
	return n;
}

static bool cmdline_has(pid_t pid, const char *needle)
{
	char path[64], buf[4096];
	struct crid_err err;
	int fd;
	ssize_t n;

	snprintf(path, sizeof(path), "/proc/%d/cmdline", (int)pid);
	fd = open(path, O_RDONLY | O_CLOEXEC);
	if (fd < 0)
		return false;
	n = read(fd, buf, sizeof(buf) - 1);
	close(fd);
	(void)err;
	if (n <= 0)
		return false;
	for (ssize_t i = 0; i < n; i++)
		if (buf[i] == '\0')
			buf[i] = ' ';
	buf[n] = '\0';
	return strstr(buf, needle) != NULL;
}

static struct proc *find_proc(struct proc *ps, size_t n, pid_t pid)
{
	size_t lo = 0, hi = n;

	while (lo < hi) { /* ps is in ascending pid order, as readdir of /proc gives it... */
		size_t mid = (lo + hi) / 2;

		if (ps[mid].pid == pid)
			return &ps[mid];
		if (ps[mid].pid < pid)
			lo = mid + 1;
		else
			hi = mid;
	}
	return NULL;
}

static int cmp_proc(const void *a, const void *b)
{
	pid_t x = ((const struct proc *)a)->pid, y = ((const struct proc *)b)->pid;

	return (x > y) - (x < y);
}

/* Whether |p| is |anc| or descends from it (bounded walk). */
static bool descends(struct proc *ps, size_t n, struct proc *p, pid_t anc)
{
	for (int depth = 0; p && depth < 64; depth++) {
		if (p->pid == anc)
			return true;
		if (p->ppid <= 1)
			return false;
		p = find_proc(ps, n, p->ppid);
	}
	return false;
}

static int snapshot(struct proc **out, size_t *n_out, const char *sock)
{
	DIR *d = opendir("/proc");
	struct proc *ps = NULL;
	size_t n = 0, cap = 0;
	struct dirent *de;

	if (!d)
		return -1;
	while ((de = readdir(d))) {
		char *end, path[64];
		long pid = strtol(de->d_name, &end, 10);
		ssize_t len;

		if (*end || pid <= 0)
			continue;
		if (n == cap) {
			struct proc *np = realloc(ps, (cap ? cap * 2 : 512) * sizeof(*np));

			if (!np)
				break;
			ps = np;
			cap = cap ? cap * 2 : 512;
		}
		memset(&ps[n], 0, sizeof(ps[n]));
		ps[n].pid = (pid_t)pid;
		ps[n].kind = -1;
		if (read_stat(ps[n].pid, &ps[n], NULL) < 0)
			continue;
		snprintf(path, sizeof(path), "/proc/%ld/ns/mnt", pid);
		len = readlink(path, ps[n].mntns, sizeof(ps[n].mntns) - 1);
		if (len > 0)
			ps[n].mntns[len] = '\0';
		ps[n].names_sock = sock && sock[0] && cmdline_has(ps[n].pid, sock);
		n++;
	}
	closedir(d);
	qsort(ps, n, sizeof(*ps), cmp_proc);
	*out = ps;
	*n_out = n;
	return 0;
}

static int classify(struct proc *ps, size_t n, struct proc *p, struct proc *daemon,
		    const int *sandbox_pids, size_t n_sb)
{
	for (size_t i = 0; i < n_sb; i++)
		if (sandbox_pids[i] > 0 && descends(ps, n, p, sandbox_pids[i]))
			return CRID_BENCH_KIND_PAUSE;
	if (p == daemon)
		return CRID_BENCH_KIND_DAEMON;
	if (p->pid == getpid())
		return -1; /* crid-bench names the socket too */
	if (strcmp(p->mntns, daemon->mntns) != 0)
		return -1; /* a container process */
	if (!p->names_sock && !descends(ps, n, p, daemon->pid))
		return -1;
	if (strstr(p->comm, "shim"))
		return CRID_BENCH_KIND_SHIM;
	if (strcmp(p->comm, "conmon") == 0)
		return CRID_BENCH_KIND_CONMON;
	if (strcmp(p->comm, "crid-keeper") == 0)
		return CRID_BENCH_KIND_FDSTORE;
	return CRID_BENCH_KIND_OTHER;
}

int crid_bench_runtime_mem(pid_t daemon, const char *sock, const int *sandbox_pids, size_t n_sb,
			   struct crid_bench_kindmem out[CRID_BENCH_KINDS], struct crid_err *err)
{
	struct proc *ps = NULL, *dp;
	size_t n = 0;

	memset(out, 0, sizeof(*out) * CRID_BENCH_KINDS);
	if (snapshot(&ps, &n, sock) < 0)
		return crid_err_set(err, errno, "read `/proc`");
	dp = find_proc(ps, n, daemon);
	if (!dp) {
		free(ps);
		return crid_err_set(err, ESRCH, "daemon pid %d is gone", (int)daemon);
	}
	for (size_t i = 0; i < n; i++) {
		struct crid_bench_mem m;
		struct crid_err e2;
		int k = classify(ps, n, &ps[i], dp, sandbox_pids, n_sb);

		if (k < 0 || crid_bench_mem_read(ps[i].pid, &m, &e2) < 0)
			continue;
		out[k].procs++;
		out[k].rss_kib += m.rss_kib;
		out[k].pss_kib += m.pss_kib;
	}
	free(ps);
	return 0;
}
