/*
 * The fd store: crid-keeper (a real keeper process on a temp runroot) and the
 * systemd protocol (a NOTIFY_SOCKET the test binds, LISTEN_FDS the test
 * places). Proves what the store is for: FIFO output written while the
 * daemon held no reader survives, and an orphan's exit code is readable
 * through a pidfd deposited before it exited (PIDFD_INFO_EXIT, Linux 6.15+).
 */
#include <errno.h>
#include <fcntl.h>
#include <libgen.h>
#include <limits.h>
#include <signal.h>
#include <spawn.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/ioctl.h>
#include <sys/prctl.h>
#include <sys/resource.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/syscall.h>
#include <sys/un.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include "reactor/mem.h"
#include "runtime/state/fd_store.h"
#include "tap.h"

#ifndef P_PIDFD
#define P_PIDFD 3
#endif

/* Linux 6.13 uapi (include/uapi/linux/pidfd.h); Debian 12's headers predate it. */
#ifndef PIDFD_GET_INFO
struct pidfd_info {
	uint64_t mask;
	uint64_t cgroupid;
	uint32_t pid, tgid, ppid, ruid, rgid, euid, egid, suid, sgid, fsuid, fsgid;
	int32_t exit_code;
};
#define PIDFD_GET_INFO _IOWR(0xFF, 11, struct pidfd_info)
#endif
#ifndef PIDFD_INFO_EXIT
#define PIDFD_INFO_EXIT 0x8
#endif

extern char **environ;

static char root[] = "/tmp/crid-fdstore-XXXXXX";
static char keeper[PATH_MAX];

struct got {
	int n;
	char names[4][64];
	int fds[4];
};

/* The |each| of restore: keeps the first few, closes the rest. */
static void collect(void *user, const char *name, int fd)
{
	struct got *g = user;

	if (g->n < 4) {
		snprintf(g->names[g->n], sizeof(g->names[0]), "%s", name);
		g->fds[g->n] = fd;
	} else {
		close(fd);
	}
	g->n++;
}

static void got_close(struct got *g)
{
	for (int i = 0; i < g->n && i < 4; i++)
		close(g->fds[i]);
	g->n = 0;
}

static int listed;		/* what the last reopen_restore() returned */
static size_t restored_entries; /* the entries gauge of its store after the restore */

/* Opens a fresh store connection and lists it into |g|; the count, or -1. */
static int reopen_restore(struct got *g)
{
	struct crid_fd_store *s;
	struct crid_err err = { 0 };
	int rc;

	memset(g, 0, sizeof(*g));
	if (crid_fd_store_open(root, &s, &err) < 0) {
		printf("# open: %s\n", err.msg);
		return -1;
	}
	rc = crid_fd_store_restore(s, collect, g, &err);
	if (rc < 0)
		printf("# restore: %s\n", err.msg);
	restored_entries = crid_fd_store_entries(s);
	crid_fd_store_close(s);
	return rc < 0 ? -1 : g->n;
}

static ino_t ino(int fd)
{
	struct stat st;

	return fstat(fd, &st) == 0 ? st.st_ino : 0;
}

static void path_in_root(char *out, size_t size, const char *name)
{
	snprintf(out, size, "%s/%s", root, name);
}

/* A raw connection to the keeper socket |name| in the runroot. */
static int connect_raw(const char *name)
{
	struct sockaddr_un addr = { .sun_family = AF_UNIX };
	int fd = socket(AF_UNIX, SOCK_SEQPACKET | SOCK_CLOEXEC, 0);

	path_in_root(addr.sun_path, sizeof(addr.sun_path), name);
	if (connect(fd, (struct sockaddr *)&addr, sizeof(addr)) < 0) {
		close(fd);
		return -1;
	}
	return fd;
}

/* The keeper's pid, from the peer credentials of a connection to it. */
static pid_t keeper_pid_at(const char *name)
{
	struct ucred cred = { 0 };
	socklen_t len = sizeof(cred);
	int fd = connect_raw(name);

	if (fd < 0 || getsockopt(fd, SOL_SOCKET, SO_PEERCRED, &cred, &len) < 0)
		cred.pid = -1;
	if (fd >= 0)
		close(fd);
	return cred.pid;
}

static pid_t keeper_pid(void)
{
	return keeper_pid_at("keeper.sock");
}

static void stop_keeper(pid_t pid)
{
	if (pid <= 0)
		return;
	kill(pid, SIGTERM);
	for (int i = 0; i < 200 && kill(pid, 0) == 0; i++) {
		waitpid(pid, NULL, WNOHANG); /* ours only if we were its subreaper */
		usleep(10000);
	}
}

static void test_keeper_survives_crash(void)
{
	struct crid_fd_store *s;
	struct crid_err err = { 0 };
	char buf[128], path[PATH_MAX];
	struct stat st;
	struct got g;
	int p[2];
	pid_t pid;
	ssize_t n;

	if (!CHECK(crid_fd_store_open(root, &s, &err) == 0, "open starts the keeper (%s)", err.msg))
		return;
	CHECK(strcmp(crid_fd_store_kind(s), "keeper") == 0, "kind keeper");
	path_in_root(path, sizeof(path), "keeper.sock");
	CHECK(stat(path, &st) == 0 && S_ISSOCK(st.st_mode) && (st.st_mode & 07777) == 0600,
	      "keeper.sock is a socket with mode 0600 (%o)", st.st_mode & 07777);
	pid = keeper_pid();
	CHECK(pid > 0 && getsid(pid) == pid, "keeper %d runs detached in its own session", pid);

	pipe2(p, O_CLOEXEC);
	CHECK(crid_fd_store_put(s, "c1.out", p[0], &err) == 0, "put a pipe read end (%s)", err.msg);
	close(p[0]);
	CHECK(write(p[1], "before crash\n", 13) == 13, "write while the store holds the reader");
	crid_fd_store_close(s); /* the daemon "crashes": no remove */
	n = write(p[1], "while down\n", 11);
	CHECK(n == 11, "write while crid is down: no EPIPE (%zd, %s)", n, strerror(errno));

	listed = reopen_restore(&g);
	if (!CHECK(listed == 1, "restore after the crash: one fd (%d)", listed))
		return got_close(&g);
	CHECK(keeper_pid() == pid, "the same keeper serves the new connection");
	CHECK(strcmp(g.names[0], "c1.out") == 0, "under its name (%s)", g.names[0]);
	CHECK(ino(g.fds[0]) == ino(p[1]), "the same pipe");
	fcntl(g.fds[0], F_SETFL, O_NONBLOCK);
	n = read(g.fds[0], buf, sizeof(buf) - 1);
	buf[n > 0 ? n : 0] = '\0';
	CHECK(strcmp(buf, "before crash\nwhile down\n") == 0, "every byte survived: `%s`", buf);
	got_close(&g);
	close(p[1]);
}

static void test_keeper_replace_remove(void)
{
	struct crid_fd_store *s;
	struct crid_err err = { 0 };
	char big[300];
	struct got g;
	int p[2], q[2];

	if (!CHECK(crid_fd_store_open(root, &s, &err) == 0, "open again (%s)", err.msg))
		return;
	pipe2(p, O_CLOEXEC);
	pipe2(q, O_CLOEXEC);
	CHECK(crid_fd_store_put(s, "c1.out", p[0], &err) == 0, "put p");
	CHECK(crid_fd_store_put(s, "c1.out", q[0], &err) == 0, "put q under the same name");
	CHECK(crid_fd_store_entries(s) == 1, "the entries gauge counts a replaced name once (%zu)",
	      crid_fd_store_entries(s));
	close(p[0]);
	close(q[0]);
	listed = reopen_restore(&g);
	CHECK(listed == 1 && ino(g.fds[0]) == ino(q[1]), "one entry, the newer pipe (%d)", listed);
	CHECK(restored_entries == 1, "a restore counts what it got (%zu)", restored_entries);
	got_close(&g);
	errno = 0;
	CHECK(write(p[1], "x", 1) < 0 && errno == EPIPE, "the replaced reader was closed (%s)",
	      strerror(errno));

	CHECK(crid_fd_store_remove(s, "c1.out", &err) == 0, "remove");
	CHECK(crid_fd_store_remove(s, "never-put", &err) == 0, "remove of a missing name is fine");
	CHECK(crid_fd_store_entries(s) == 0, "the gauge is back to 0, not below (%zu)",
	      crid_fd_store_entries(s));
	listed = reopen_restore(&g);
	CHECK(listed == 0, "nothing left (%d)", listed);
	got_close(&g);
	errno = 0;
	CHECK(write(q[1], "x", 1) < 0 && errno == EPIPE, "the removed reader was closed (%s)",
	      strerror(errno));

	memset(big, 'a', sizeof(big) - 1);
	big[sizeof(big) - 1] = '\0';
	CHECK(crid_fd_store_put(s, "", q[1], &err) < 0 && err.code == EINVAL, "empty name refused");
	CHECK(crid_fd_store_put(s, "a/b", q[1], &err) < 0 && err.code == EINVAL,
	      "slash refused: %s", err.msg);
	CHECK(crid_fd_store_put(s, big, q[1], &err) < 0 && err.code == EINVAL,
	      "300-byte name refused");
	CHECK(crid_fd_store_remove(s, "a b", &err) < 0 && err.code == EINVAL, "space refused");
	CHECK(crid_fd_store_put(s, "ok", -1, &err) < 0, "no fd refused");
	big[255] = '\0';
	CHECK(crid_fd_store_entries(s) == 0, "refused puts count nothing (%zu)",
	      crid_fd_store_entries(s));
	CHECK(crid_fd_store_put(s, big, q[1], &err) == 0, "255-byte name accepted (%s)", err.msg);
	CHECK(crid_fd_store_put(s, "c1.err", q[1], &err) == 0, "a second name");
	CHECK(crid_fd_store_entries(s) == 2, "two names held (%zu)", crid_fd_store_entries(s));
	CHECK(crid_fd_store_remove(s, big, &err) == 0, "and removed");
	CHECK(crid_fd_store_remove(s, "c1.err", &err) == 0, "both");
	CHECK(crid_fd_store_entries(s) == 0, "none held (%zu)", crid_fd_store_entries(s));
	listed = reopen_restore(&g);
	CHECK(listed == 0, "store empty again (%d)", listed);
	got_close(&g);
	crid_fd_store_close(s);
	close(p[1]);
	close(q[1]);
}

/* 10,000 fds: the list answer overflows the socket buffer (the keeper resumes on EPOLLOUT). */
static void test_keeper_many(void)
{
	enum { N = 10000 };
	struct crid_fd_store *s;
	struct crid_err err = { 0 };
	char name[96], path[64], line[128];
	long rss = -1, pss = -1;
	int p[2], ok = 1;
	struct got g;
	FILE *f;

	if (!CHECK(crid_fd_store_open(root, &s, &err) == 0, "open (%s)", err.msg))
		return;
	pipe2(p, O_CLOEXEC);
	for (int i = 0; i < N && ok; i++) {
		/* the shape of a real name: a 64-hex container id and a suffix */
		snprintf(name, sizeof(name), "%064x.out", i);
		ok = crid_fd_store_put(s, name, p[0], &err) == 0;
	}
	CHECK(ok, "put %d fds (%s)", N, ok ? "" : err.msg);
	CHECK(crid_fd_store_entries(s) == N, "the gauge counts %d (%zu)", N,
	      crid_fd_store_entries(s));
	snprintf(path, sizeof(path), "/proc/%d/smaps_rollup", keeper_pid());
	f = fopen(path, "r");
	while (f && fgets(line, sizeof(line), f)) {
		sscanf(line, "Rss: %ld kB", &rss);
		sscanf(line, "Pss: %ld kB", &pss);
	}
	if (f)
		fclose(f);
	printf("# keeper holding %d fds: Rss %ld kB, Pss %ld kB\n", N, rss, pss);
	listed = reopen_restore(&g);
	CHECK(listed == N, "list gives back all %d (%d)", N, listed);
	CHECK(restored_entries == N, "a restore counts all %d (%zu)", N, restored_entries);
	got_close(&g);
	for (int i = 0; i < N && ok; i++) {
		snprintf(name, sizeof(name), "%064x.out", i);
		ok = crid_fd_store_remove(s, name, &err) == 0;
	}
	CHECK(ok, "removed all (%s)", ok ? "" : err.msg);
	listed = reopen_restore(&g);
	CHECK(listed == 0, "nothing left (%d)", listed);
	got_close(&g);
	crid_fd_store_close(s);
	close(p[0]);
	close(p[1]);
}

static int exit_info(int pidfd, struct pidfd_info *info)
{
	memset(info, 0, sizeof(*info));
	info->mask = PIDFD_INFO_EXIT;
	return ioctl(pidfd, PIDFD_GET_INFO, info);
}

/*
 * An orphan: an intermediate "daemon" D forks the "container" C, deposits
 * C's pidfd and dies; C is reparented to us (subreaper, as PID 1 would be).
 */
static pid_t orphan_with_pidfd_in_store(int go)
{
	int pipe_pid[2];
	pid_t d, c = -1;

	pipe2(pipe_pid, O_CLOEXEC);
	d = fork();
	if (d == 0) {
		struct crid_fd_store *s;
		struct crid_err err = { 0 };
		char b;

		c = fork();
		if (c == 0)
			_exit(read(go, &b, 1) == 1 ? 42 : 99);
		int pidfd = syscall(SYS_pidfd_open, c, 0);
		if (pidfd < 0 || crid_fd_store_open(root, &s, &err) < 0 ||
		    crid_fd_store_put(s, "c2.pid", pidfd, &err) < 0)
			_exit(1);
		write(pipe_pid[1], &c, sizeof(c));
		_exit(0); /* crash: the store connection and pidfd just vanish */
	}
	close(pipe_pid[1]);
	waitpid(d, NULL, 0);
	if (read(pipe_pid[0], &c, sizeof(c)) != sizeof(c))
		c = -1;
	close(pipe_pid[0]);
	return c;
}

static void test_pidfd_exit_info(void)
{
	struct crid_fd_store *s;
	struct crid_err err = { 0 };
	struct pidfd_info info;
	siginfo_t si;
	struct got g;
	int go[2], rc, fd;
	pid_t c;

	prctl(PR_SET_CHILD_SUBREAPER, 1);
	pipe2(go, O_CLOEXEC);
	c = orphan_with_pidfd_in_store(go[0]);
	if (!CHECK(c > 0, "orphan %d with its pidfd in the store", c))
		return;
	write(go[1], "x", 1); /* C exits 42 while "crid" is down */
	close(go[0]);
	close(go[1]);
	listed = reopen_restore(&g);
	if (!CHECK(listed == 1 && strcmp(g.names[0], "c2.pid") == 0,
		   "the pidfd comes back from the store (%d)", listed))
		return got_close(&g);
	fd = g.fds[0];

	memset(&si, 0, sizeof(si));
	rc = waitid(P_PIDFD, fd, &si, WEXITED | WNOWAIT);
	CHECK(rc == 0 && si.si_pid == c && si.si_status == 42,
	      "waitid(P_PIDFD, WNOWAIT) on the restored pidfd: status %d (we are its new parent)",
	      si.si_status);
	rc = exit_info(fd, &info);
	if (rc < 0 && (errno == ENOTTY || errno == EINVAL)) {
		tap_skip("PIDFD_INFO_EXIT", "PIDFD_GET_INFO needs Linux 6.13+, EXIT 6.15+");
		waitid(P_PIDFD, fd, &si, WEXITED);
		return got_close(&g);
	}
	printf("# exited, not yet reaped: PIDFD_GET_INFO rc %d, mask %#llx\n", rc,
	       (unsigned long long)info.mask);
	CHECK(rc == 0 && !(info.mask & PIDFD_INFO_EXIT),
	      "zombie: PIDFD_GET_INFO answers without exit info (rc %d, %s)", rc,
	      rc ? strerror(errno) : "");

	rc = waitid(P_PIDFD, fd, &si, WEXITED);
	CHECK(rc == 0 && si.si_status == 42, "reaped through the pidfd");
	rc = exit_info(fd, &info);
	printf("# reaped: PIDFD_GET_INFO rc %d, mask %#llx, exit_code %#x\n", rc,
	       (unsigned long long)info.mask, info.exit_code);
	CHECK(rc == 0 && (info.mask & PIDFD_INFO_EXIT) && WIFEXITED(info.exit_code) &&
		  WEXITSTATUS(info.exit_code) == 42,
	      "reaped: PIDFD_INFO_EXIT gives exit code 42 (wait status %#x)", info.exit_code);
	errno = 0;
	CHECK(syscall(SYS_pidfd_open, c, 0) < 0 && errno == ESRCH,
	      "a pidfd opened after the reap is impossible (ESRCH): the store is the only way");
	got_close(&g);
	if (crid_fd_store_open(root, &s, &err) == 0) {
		CHECK(crid_fd_store_remove(s, "c2.pid", &err) == 0, "remove the pidfd");
		crid_fd_store_close(s);
	}
}

/* Bad records close the sender's connection, and only that one. */
static void test_keeper_bad_input(void)
{
	const char *bad[] = { "X", "P", "Pname-without-fd", "D", "Da/b", "Lextra", "" };
	struct crid_fd_store *s;
	struct crid_err err = { 0 };
	struct got g;
	char b;

	for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
		int fd = connect_raw("keeper.sock");
		ssize_t n = send(fd, bad[i], strlen(bad[i]), MSG_NOSIGNAL);
		CHECK(n == (ssize_t)strlen(bad[i]) && recv(fd, &b, 1, 0) == 0,
		      "record `%s`: the keeper hangs up", bad[i]);
		close(fd);
	}
	CHECK(crid_fd_store_open(root, &s, &err) == 0, "still serving (%s)", err.msg);
	crid_fd_store_close(s);
	listed = reopen_restore(&g);
	CHECK(listed == 0, "and holds nothing new (%d)", listed);
	got_close(&g);
}

/*
 * A keeper that cannot hold more (RLIMIT_NOFILE 128, 80 kept in reserve)
 * hangs up on the put it cannot take: the daemon's next send fails.
 */
static void test_keeper_full(void)
{
	struct rlimit rl = { 128, 128 };
	char dir[PATH_MAX];
	int status = -1;
	pid_t pid;

	path_in_root(dir, sizeof(dir), "small");
	mkdir(dir, 0700);
	pid = fork();
	if (pid == 0) {
		struct crid_fd_store *s;
		struct crid_err err;
		int p[2], i = 0;

		if (setrlimit(RLIMIT_NOFILE, &rl) < 0 || pipe(p) < 0 ||
		    crid_fd_store_open(dir, &s, &err) < 0)
			_exit(255);
		for (char name[16]; i < 100; i++) {
			snprintf(name, sizeof(name), "f%d", i);
			if (crid_fd_store_put(s, name, p[0], &err) < 0)
				break;
			usleep(2000); /* let the keeper take each before the next is queued */
		}
		_exit(err.code == EPIPE || err.code == ECONNRESET ? i : 254);
	}
	waitpid(pid, &status, 0);
	status = WIFEXITED(status) ? WEXITSTATUS(status) : -1;
	CHECK(status >= 48 && status <= 52,
	      "the 49th put overflows a keeper that holds 48: send %d fails with EPIPE", status);
	stop_keeper(keeper_pid_at("small/keeper.sock"));
}

/* The keeper dies (node state lost): the next open finds a stale socket and starts a new one. */
static void test_keeper_restart(void)
{
	struct crid_fd_store *s;
	struct crid_err err = { 0 };
	pid_t old = keeper_pid(), now;
	char *argv[] = { keeper, "-d", NULL, NULL };
	char path[PATH_MAX];
	int status = -1;
	pid_t pid;

	stop_keeper(old);
	if (!CHECK(crid_fd_store_open(root, &s, &err) == 0, "open over a stale socket (%s)",
		   err.msg))
		return;
	now = keeper_pid();
	CHECK(now > 0 && now != old, "a new keeper (%d, was %d)", now, old);
	crid_fd_store_close(s);

	path_in_root(path, sizeof(path), "keeper.sock");
	argv[2] = path;
	if (posix_spawn(&pid, keeper, NULL, NULL, argv, environ) == 0)
		waitpid(pid, &status, 0);
	CHECK(status == 0 && keeper_pid() == now,
	      "a second keeper on the same socket exits 0 and leaves the first (%d)", status);
	stop_keeper(now);
}

/* Receives one datagram and its fd (or -1). */
static ssize_t recv_notify(int sock, char *buf, size_t size, int *fd)
{
	char ctrl[CMSG_SPACE(sizeof(int))];
	struct iovec iov = { .iov_base = buf, .iov_len = size - 1 };
	struct msghdr msg = { .msg_iov = &iov,
			      .msg_iovlen = 1,
			      .msg_control = ctrl,
			      .msg_controllen = sizeof(ctrl) };
	ssize_t n = recvmsg(sock, &msg, MSG_DONTWAIT | MSG_CMSG_CLOEXEC);
	struct cmsghdr *cm = n >= 0 ? CMSG_FIRSTHDR(&msg) : NULL;

	*fd = -1;
	if (cm && cm->cmsg_type == SCM_RIGHTS)
		memcpy(fd, CMSG_DATA(cm), sizeof(int));
	buf[n > 0 ? n : 0] = '\0';
	return n;
}

static void check_systemd_put(const char *notify, int sock)
{
	struct crid_fd_store *s;
	struct crid_err err = { 0 };
	char buf[512];
	int p[2], fd;

	setenv("NOTIFY_SOCKET", notify, 1);
	if (!CHECK(crid_fd_store_open(root, &s, &err) == 0, "open with NOTIFY_SOCKET=%s (%s)",
		   notify, err.msg))
		return;
	CHECK(strcmp(crid_fd_store_kind(s), "systemd") == 0, "kind systemd");
	pipe2(p, O_CLOEXEC);
	CHECK(crid_fd_store_put(s, "s1.out", p[0], &err) == 0, "put (%s)", err.msg);
	recv_notify(sock, buf, sizeof(buf), &fd);
	CHECK(strcmp(buf, "FDSTOREREMOVE=1\nFDNAME=s1.out") == 0 && fd < 0,
	      "put first removes the name: `%s`", buf);
	recv_notify(sock, buf, sizeof(buf), &fd);
	CHECK(strcmp(buf, "FDSTORE=1\nFDPOLL=0\nFDNAME=s1.out") == 0, "then stores: `%s`", buf);
	CHECK(fd >= 0 && ino(fd) == ino(p[0]), "with the fd in SCM_RIGHTS");
	if (fd >= 0)
		close(fd);
	CHECK(crid_fd_store_remove(s, "s1.out", &err) == 0, "remove");
	recv_notify(sock, buf, sizeof(buf), &fd);
	CHECK(strcmp(buf, "FDSTOREREMOVE=1\nFDNAME=s1.out") == 0 && fd < 0, "remove: `%s`", buf);
	CHECK(recv_notify(sock, buf, sizeof(buf), &fd) < 0 && errno == EAGAIN, "nothing more");
	crid_fd_store_close(s);
	close(p[0]);
	close(p[1]);
	unsetenv("NOTIFY_SOCKET");
}

static void test_systemd_notify(void)
{
	struct sockaddr_un addr = { .sun_family = AF_UNIX };
	char notify[108];
	int sock;

	sock = socket(AF_UNIX, SOCK_DGRAM | SOCK_CLOEXEC, 0);
	path_in_root(addr.sun_path, sizeof(addr.sun_path), "notify.sock");
	if (CHECK(bind(sock, (struct sockaddr *)&addr, sizeof(addr)) == 0, "bind notify socket"))
		check_systemd_put(addr.sun_path, sock);
	close(sock);

	/* systemd's own NOTIFY_SOCKET is a path; '@' (abstract) is what sd_notify also takes. */
	sock = socket(AF_UNIX, SOCK_DGRAM | SOCK_CLOEXEC, 0);
	snprintf(notify, sizeof(notify), "@crid-test-notify-%d", getpid());
	memset(addr.sun_path, 0, sizeof(addr.sun_path));
	memcpy(addr.sun_path + 1, notify + 1, strlen(notify) - 1);
	if (CHECK(bind(sock, (struct sockaddr *)&addr,
		       offsetof(struct sockaddr_un, sun_path) + strlen(notify)) == 0,
		  "bind abstract notify socket"))
		check_systemd_put(notify, sock);
	close(sock);
}

struct listen_check {
	ino_t a, b;
	char out[256];
};

static void describe(void *user, const char *name, int fd)
{
	struct listen_check *lc = user;
	size_t len = strlen(lc->out);
	ino_t want = strcmp(name, "a.out") == 0 ? lc->a : lc->b;

	snprintf(lc->out + len, sizeof(lc->out) - len, "%s@%d%s%s ", name, fd,
		 ino(fd) == want ? "" : "(wrong file)",
		 fcntl(fd, F_GETFD) & FD_CLOEXEC ? "" : "(inheritable)");
	close(fd);
}

/* In a child: the fds at 3 and 4 as systemd hands them over, then restore. */
static void __attribute__((noreturn))
listen_child(int a, int b, int report, const char *notify, struct listen_check *lc)
{
	struct crid_fd_store *s;
	struct crid_err err = { 0 };
	char pid[16];
	int r = fcntl(report, F_DUPFD_CLOEXEC, 100);
	int ha = fcntl(a, F_DUPFD, 101), hb = fcntl(b, F_DUPFD, 102);

	dup2(ha, 3);
	dup2(hb, 4);
	close(ha);
	close(hb);
	snprintf(pid, sizeof(pid), "%d", getpid());
	setenv("NOTIFY_SOCKET", notify, 1);
	setenv("LISTEN_PID", pid, 1);
	setenv("LISTEN_FDS", "2", 1);
	setenv("LISTEN_FDNAMES", "a.out:b.pid", 1);
	if (crid_fd_store_open(root, &s, &err) < 0 ||
	    crid_fd_store_restore(s, describe, lc, &err) < 0)
		snprintf(lc->out, sizeof(lc->out), "error: %.200s", err.msg);
	if (getenv("LISTEN_FDS") || getenv("LISTEN_PID") || getenv("LISTEN_FDNAMES"))
		strcat(lc->out, "env-kept");
	write(r, lc->out, strlen(lc->out));
	_exit(0);
}

static void test_systemd_listen_fds(void)
{
	struct listen_check lc = { 0 };
	struct crid_fd_store *s = NULL;
	struct crid_err err = { 0 };
	char notify[PATH_MAX], buf[256] = "";
	int a[2], b[2], rep[2], rc;
	struct got g;
	pid_t pid;
	ssize_t n;

	path_in_root(notify, sizeof(notify), "notify.sock");
	pipe2(a, O_CLOEXEC);
	pipe2(b, O_CLOEXEC);
	pipe2(rep, O_CLOEXEC);
	lc.a = ino(a[0]);
	lc.b = ino(b[0]);
	pid = fork();
	if (pid == 0)
		listen_child(a[0], b[0], rep[1], notify, &lc);
	close(rep[1]);
	n = read(rep[0], buf, sizeof(buf) - 1);
	buf[n > 0 ? n : 0] = '\0';
	waitpid(pid, NULL, 0);
	CHECK(strcmp(buf, "a.out@3 b.pid@4 ") == 0,
	      "LISTEN_FDS: fds 3 and 4 under their names, close-on-exec, env unset: `%s`", buf);
	close(rep[0]);
	for (int i = 0; i < 2; i++)
		close(a[i]), close(b[i]);

	/* Someone else's LISTEN_PID: nothing is ours. */
	setenv("NOTIFY_SOCKET", notify, 1);
	setenv("LISTEN_PID", "1", 1);
	setenv("LISTEN_FDS", "2", 1);
	memset(&g, 0, sizeof(g));
	rc = crid_fd_store_open(root, &s, &err);
	CHECK(rc == 0, "open in systemd mode (%s)", err.msg);
	if (rc == 0)
		rc = crid_fd_store_restore(s, collect, &g, &err);
	CHECK(rc == 0 && g.n == 0, "LISTEN_PID of another process: no fds taken (%d)", g.n);
	CHECK(!getenv("LISTEN_PID") && !getenv("LISTEN_FDS"), "and the variables are unset");
	if (s)
		crid_fd_store_close(s);
	unsetenv("NOTIFY_SOCKET");
}

static void find_keeper(const char *argv0)
{
	char buf[PATH_MAX];

	if (getenv("CRID_KEEPER")) {
		snprintf(keeper, sizeof(keeper), "%s", getenv("CRID_KEEPER"));
		return;
	}
	snprintf(buf, sizeof(buf), "%s", argv0);
	snprintf(keeper, sizeof(keeper), "%s/../crid-keeper", dirname(buf));
	if (realpath(keeper, buf))
		snprintf(keeper, sizeof(keeper), "%s", buf);
	setenv("CRID_KEEPER", keeper, 1);
}

static void cleanup(void)
{
	const char *names[] = { "keeper.sock",	     "keeper.sock.lock",       "notify.sock",
				"small/keeper.sock", "small/keeper.sock.lock", "small" };
	char path[PATH_MAX];

	for (size_t i = 0; i < sizeof(names) / sizeof(names[0]); i++) {
		path_in_root(path, sizeof(path), names[i]);
		remove(path);
	}
	rmdir(root);
}

int main(int argc, char **argv)
{
	struct crid_fd_store *s;
	struct crid_err err = { 0 };

	(void)argc;
	signal(SIGPIPE, SIG_IGN);
	unsetenv("NOTIFY_SOCKET");
	find_keeper(argv[0]);
	if (!CHECK(access(keeper, X_OK) == 0, "crid-keeper at `%s`", keeper))
		return tap_done();
	if (!CHECK(mkdtemp(root) != NULL, "temp runroot"))
		return tap_done();
	crid_mem_fail_after(1);
	CHECK(crid_fd_store_open(root, &s, &err) < 0 && err.code == ENOMEM,
	      "allocation failure: an error (%s)", err.msg);
	crid_mem_fail_after(0);
	test_keeper_survives_crash();
	test_keeper_replace_remove();
	test_keeper_many();
	test_pidfd_exit_info();
	test_keeper_bad_input();
	test_keeper_full();
	test_keeper_restart();
	test_systemd_notify();
	test_systemd_listen_fds();
	stop_keeper(keeper_pid());
	cleanup();
	return tap_done();
}
