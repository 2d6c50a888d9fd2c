/*
 * The node's fd store, client side (see fd_store.h). Two back ends:
 *
 * systemd (NOTIFY_SOCKET set): sd_notify(3) datagrams without libsystemd.
 *   put    = "FDSTOREREMOVE=1\nFDNAME=<n>" then "FDSTORE=1\nFDPOLL=0\nFDNAME=<n>"
 *            with the fd in SCM_RIGHTS. systemd keeps fds of the same name
 *            side by side (it only skips the very same file), hence the
 *            remove first. FDPOLL=0 because systemd otherwise drops a stored
 *            fd on EPOLLHUP/EPOLLERR: a FIFO read end hangs up when the
 *            container exits and a pidfd when it is reaped — exactly the fds
 *            that must survive then. The unit needs FileDescriptorStoreMax=
 *            (3 fds a container) and NotifyAccess=main (the default).
 *   remove = "FDSTOREREMOVE=1\nFDNAME=<n>".
 *   restore= the fds 3.. of LISTEN_FDS named by LISTEN_FDNAMES when
 *            LISTEN_PID is ours; the three variables are then unset so no
 *            child inherits them. Socket-activated fds come the same way
 *            under their FileDescriptorName=: |each| sees them too.
 *
 * keeper (otherwise): a SOCK_SEQPACKET connection to crid-keeper at
 *   `<runroot>/keeper.sock` (protocol in runtime/keeper/crid-keeper.c).
 *   When nobody listens there (ENOENT/ECONNREFUSED) the keeper is started
 *   with posix_spawn (-d: it detaches and its first process exits once the
 *   socket listens); open then waits for that first process and retries the
 *   connection, all within KEEPER_START_MS. This is a blocking wait, once,
 *   at daemon start before the loop runs. Put and remove are one sendmsg
 *   each on a blocking socket to a local process that never blocks, so they
 *   return in microseconds; SO_SNDTIMEO bounds them anyway, should the
 *   keeper be stopped. Restore is one 'L' round trip.
 *
 * The entries gauge (crid_fd_store_entries): neither back end says how many
 * fds it holds without a round trip, and a put may replace a name while a
 * remove may name nothing, so the client keeps the set of names it knows
 * held, as sorted 64-bit hashes (8 bytes an entry; a collision would need
 * 2^32 names).
 *
 * Note for the daemon: the detached keeper is orphaned while crid runs, so
 * when crid is PR_SET_CHILD_SUBREAPER the keeper becomes crid's child until
 * crid dies; reap only the pids you know.
 */
#include "runtime/state/fd_store.h"

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
#include <sys/socket.h>
#include <sys/un.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include "reactor/helper_path.h"
#include "reactor/log.h"
#include "reactor/mem.h"

#define NAME_MAX_LEN 255
#define KEEPER_START_MS 5000
#define SEND_TIMEOUT_MS 2000
#define LIST_TIMEOUT_MS 5000

extern char **environ;

struct crid_fd_store {
	bool systemd;
	int sock; /* keeper: the connection; systemd: an unbound datagram socket */
	struct sockaddr_un notify;
	socklen_t notify_len;
	uint64_t *held; /* hashes of the names held, ascending */
	size_t n_held, cap_held;
	char runroot[PATH_MAX]; /* keeper: where it listens, to start a new one */
	struct crid_loop *loop; /* set by crid_fd_store_watch */
	ev_io hup;		/* the keeper connection: readable only at its end */
	ev_timer respawn;	/* polls a new keeper's socket until it answers */
	long respawn_deadline;
	pid_t respawn_pid;	    /* the new keeper's first process, until reaped */
	void (*reseed)(void *user); /* deposits every fd again */
	void *reseed_user;
};

static int check_name(const char *name, struct crid_err *err)
{
	size_t len = strlen(name);

	if (len == 0 || len > NAME_MAX_LEN)
		return crid_err_invalid(err, "fd store name `%.64s` must be 1..255 bytes", name);
	for (size_t i = 0; i < len; i++) {
		char c = name[i];
		if (!((c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9') ||
		      c == '.' || c == '_' || c == '-'))
			return crid_err_invalid(err,
						"fd store name `%.64s` has a byte outside "
						"[A-Za-z0-9._-]",
						name);
	}
	return 0;
}

static long now_ms(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return ts.tv_sec * 1000L + ts.tv_nsec / 1000000;
}

static void sleep_ms(long ms)
{
	struct timespec ts = { .tv_sec = ms / 1000, .tv_nsec = (ms % 1000) * 1000000L };

	nanosleep(&ts, NULL);
}

static void set_timeout(int sock, int opt, long ms)
{
	struct timeval tv = { .tv_sec = ms / 1000, .tv_usec = (ms % 1000) * 1000 };

	setsockopt(sock, SOL_SOCKET, opt, &tv, sizeof(tv));
}

/* One record with an optional fd in SCM_RIGHTS, to |addr| when given. */
static int send_record(struct crid_fd_store *s, const char *buf, size_t len, int fd,
		       struct crid_err *err)
{
	char ctrl[CMSG_SPACE(sizeof(int))] = { 0 };
	struct iovec iov = { .iov_base = (void *)buf, .iov_len = len };
	struct msghdr msg = { .msg_iov = &iov, .msg_iovlen = 1 };
	ssize_t n;

	if (s->systemd) {
		msg.msg_name = &s->notify;
		msg.msg_namelen = s->notify_len;
	}
	if (fd >= 0) {
		struct cmsghdr *cm;

		msg.msg_control = ctrl;
		msg.msg_controllen = sizeof(ctrl);
		cm = CMSG_FIRSTHDR(&msg);
		cm->cmsg_level = SOL_SOCKET;
		cm->cmsg_type = SCM_RIGHTS;
		cm->cmsg_len = CMSG_LEN(sizeof(int));
		memcpy(CMSG_DATA(cm), &fd, sizeof(int));
	}
	do
		n = sendmsg(s->sock, &msg, MSG_NOSIGNAL);
	while (n < 0 && errno == EINTR);
	if (n >= 0)
		return 0;
	if (errno == EAGAIN || errno == EWOULDBLOCK)
		return crid_err_set(err, ETIMEDOUT, "%s did not take a message within %d ms",
				    crid_fd_store_kind(s), SEND_TIMEOUT_MS);
	return crid_err_set(err, errno, "send to %s", crid_fd_store_kind(s));
}

static int open_systemd(const char *path, struct crid_fd_store *s, struct crid_err *err)
{
	size_t len = strlen(path);

	if ((path[0] != '/' && path[0] != '@') || len < 2)
		return crid_err_invalid(err, "NOTIFY_SOCKET `%s` is not a unix socket path", path);
	if (len >= sizeof(s->notify.sun_path))
		return crid_err_set(err, ENAMETOOLONG, "NOTIFY_SOCKET `%s`", path);
	s->notify.sun_family = AF_UNIX;
	memcpy(s->notify.sun_path, path, len);
	if (path[0] == '@')
		s->notify.sun_path[0] = '\0'; /* abstract: no trailing NUL in the length */
	s->notify_len = offsetof(struct sockaddr_un, sun_path) + len + (path[0] == '/');
	s->sock = socket(AF_UNIX, SOCK_DGRAM | SOCK_CLOEXEC, 0);
	if (s->sock < 0)
		return crid_err_set(err, errno, "socket for NOTIFY_SOCKET `%s`", path);
	set_timeout(s->sock, SO_SNDTIMEO, SEND_TIMEOUT_MS);
	s->systemd = true;
	return 0;
}

/* $CRID_KEEPER, else crid-keeper next to the running executable. */
static int keeper_path(char *path, size_t size, struct crid_err *err)
{
	return crid_helper_path("crid-keeper", "CRID_KEEPER", path, size, err);
}

static int try_connect(const struct sockaddr_un *addr, int *out)
{
	int fd = socket(AF_UNIX, SOCK_SEQPACKET | SOCK_CLOEXEC, 0);

	if (fd < 0)
		return -1;
	if (connect(fd, (const struct sockaddr *)addr, sizeof(*addr)) < 0) {
		int e = errno;
		close(fd);
		errno = e;
		return -1;
	}
	*out = fd;
	return 0;
}

/* Waits, bounded, for the keeper's first process (it exits once the socket listens). */
static int wait_started(pid_t pid, const char *keeper, long deadline, struct crid_err *err)
{
	int status;
	pid_t r;

	while ((r = waitpid(pid, &status, WNOHANG)) == 0 && now_ms() < deadline)
		sleep_ms(5);
	if (r < 0 && errno == ECHILD)
		return 0; /* SIGCHLD ignored: the connect below tells */
	if (r < 0)
		return crid_err_set(err, errno, "wait for `%s`", keeper);
	if (r == 0) {
		kill(pid, SIGKILL);
		waitpid(pid, NULL, 0);
		return crid_err_set(err, ETIMEDOUT, "`%s` did not start within %d ms", keeper,
				    KEEPER_START_MS);
	}
	if (!WIFEXITED(status) || WEXITSTATUS(status) != 0)
		return crid_err_set(
		    err, 0, "`%s` failed (status %d; its error is on stderr)", keeper,
		    WIFEXITED(status) ? WEXITSTATUS(status) : 128 + WTERMSIG(status));
	return 0;
}

/* Starts crid-keeper -d; its first process exits 0 once the socket listens. */
static int start_keeper(const char *sock_path, pid_t *pid, struct crid_err *err)
{
	char keeper[PATH_MAX], *argv[] = { keeper, "-d", (char *)sock_path, NULL };
	posix_spawnattr_t attr;
	sigset_t none, all;
	int rc;

	if (keeper_path(keeper, sizeof(keeper), err) < 0)
		return -1;
	/* The daemon blocks signals for its signalfd; the keeper must not inherit that. */
	sigemptyset(&none);
	sigfillset(&all);
	posix_spawnattr_init(&attr);
	posix_spawnattr_setflags(&attr, POSIX_SPAWN_SETSIGMASK | POSIX_SPAWN_SETSIGDEF);
	posix_spawnattr_setsigmask(&attr, &none);
	posix_spawnattr_setsigdefault(&attr, &all);
	rc = posix_spawn(pid, keeper, NULL, &attr, argv, environ);
	posix_spawnattr_destroy(&attr);
	if (rc != 0)
		return crid_err_set(err, rc, "start `%s`", keeper);
	return 0;
}

static int spawn_keeper(const char *sock_path, long deadline, struct crid_err *err)
{
	char keeper[PATH_MAX];
	pid_t pid;

	if (keeper_path(keeper, sizeof(keeper), err) < 0 || start_keeper(sock_path, &pid, err) < 0)
		return -1;
	return wait_started(pid, keeper, deadline, err);
}

static int keeper_addr(const char *runroot, struct sockaddr_un *addr, struct crid_err *err)
{
	memset(addr, 0, sizeof(*addr));
	addr->sun_family = AF_UNIX;
	if (snprintf(addr->sun_path, sizeof(addr->sun_path), "%s/keeper.sock", runroot) >=
	    (int)sizeof(addr->sun_path))
		return crid_err_set(err, ENAMETOOLONG, "keeper socket in `%s`", runroot);
	return 0;
}

/* A keeper connection's bounds: a stuck keeper costs a put or a list a bounded wait, never the loop. */
static void keeper_timeouts(int sock)
{
	set_timeout(sock, SO_SNDTIMEO, SEND_TIMEOUT_MS);
	set_timeout(sock, SO_RCVTIMEO, LIST_TIMEOUT_MS);
}

static int open_keeper(const char *runroot, struct crid_fd_store *s, struct crid_err *err)
{
	struct sockaddr_un addr;
	long deadline = now_ms() + KEEPER_START_MS;

	if (keeper_addr(runroot, &addr, err) < 0)
		return -1;
	if (try_connect(&addr, &s->sock) == 0)
		goto connected;
	if (errno != ENOENT && errno != ECONNREFUSED)
		return crid_err_set(err, errno, "connect to `%s`", addr.sun_path);
	if (spawn_keeper(addr.sun_path, deadline, err) < 0)
		return crid_err_wrap(err, "fd store");
	/* Another starter may have won the keeper's lock and not yet bound the socket. */
	while (try_connect(&addr, &s->sock) < 0) {
		if ((errno != ENOENT && errno != ECONNREFUSED) || now_ms() >= deadline)
			return crid_err_set(err, errno,
					    "connect to `%s` after starting crid-keeper",
					    addr.sun_path);
		sleep_ms(10);
	}
connected:
	keeper_timeouts(s->sock);
	return 0;
}

int crid_fd_store_open(const char *runroot, struct crid_fd_store **out, struct crid_err *err)
{
	struct crid_fd_store *s = crid_calloc(1, sizeof(*s));
	const char *notify = getenv("NOTIFY_SOCKET");
	int rc;

	if (!s)
		return crid_err_set(err, ENOMEM, "fd store");
	s->sock = -1;
	snprintf(s->runroot, sizeof(s->runroot), "%s", runroot);
	if (notify && notify[0])
		rc = open_systemd(notify, s, err);
	else
		rc = open_keeper(runroot, s, err);
	if (rc < 0) {
		crid_fd_store_close(s);
		return -1;
	}
	*out = s;
	return 0;
}

/* ---- the names held, for the entries gauge ---- */

static uint64_t name_hash(const char *name)
{
	uint64_t h = 0xcbf29ce484222325ull; /* FNV-1a */

	for (const unsigned char *p = (const unsigned char *)name; *p; p++)
		h = (h ^ *p) * 0x100000001b3ull;
	return h;
}

/* Where |h| is in s->held, or where it would go; |*found| says which. */
static size_t held_at(const struct crid_fd_store *s, uint64_t h, bool *found)
{
	size_t lo = 0, hi = s->n_held;

	while (lo < hi) {
		size_t mid = lo + (hi - lo) / 2;

		if (s->held[mid] < h)
			lo = mid + 1;
		else
			hi = mid;
	}
	*found = lo < s->n_held && s->held[lo] == h;
	return lo;
}

/* Out of memory leaves the gauge one short; the store itself holds the fd anyway. */
static void held_add(struct crid_fd_store *s, const char *name)
{
	uint64_t h = name_hash(name);
	bool found;
	size_t i = held_at(s, h, &found);

	if (found)
		return;
	if (s->n_held == s->cap_held) {
		size_t cap = s->cap_held ? s->cap_held * 2 : 64;
		uint64_t *p = crid_realloc(s->held, cap * sizeof(*p));

		if (!p)
			return;
		s->held = p;
		s->cap_held = cap;
	}
	memmove(s->held + i + 1, s->held + i, (s->n_held - i) * sizeof(*s->held));
	s->held[i] = h;
	s->n_held++;
}

static void held_drop(struct crid_fd_store *s, const char *name)
{
	bool found;
	size_t i = held_at(s, name_hash(name), &found);

	if (!found)
		return;
	memmove(s->held + i, s->held + i + 1, (s->n_held - i - 1) * sizeof(*s->held));
	s->n_held--;
}

size_t crid_fd_store_entries(const struct crid_fd_store *s)
{
	return s->n_held;
}

/* |what| then the name, in the form the back end wants. */
static int format(struct crid_fd_store *s, char *buf, size_t size, const char *what,
		  const char *name, struct crid_err *err)
{
	int n = snprintf(buf, size, "%s%s", what, name);

	if (n < 0 || (size_t)n >= size)
		return crid_err_set(err, ENAMETOOLONG, "%s message for `%s`", crid_fd_store_kind(s),
				    name);
	return n;
}

int crid_fd_store_put(struct crid_fd_store *s, const char *name, int fd, struct crid_err *err)
{
	char buf[64 + NAME_MAX_LEN];
	int n;

	if (check_name(name, err) < 0)
		return -1;
	if (fd < 0)
		return crid_err_invalid(err, "fd store put `%s`: no fd", name);
	if (s->systemd) {
		if (crid_fd_store_remove(s, name, err) < 0)
			return -1;
		n = format(s, buf, sizeof(buf), "FDSTORE=1\nFDPOLL=0\nFDNAME=", name, err);
	} else {
		n = format(s, buf, sizeof(buf), "P", name, err);
	}
	if (n < 0 || send_record(s, buf, n, fd, err) < 0)
		return crid_err_wrap(err, "fd store put `%s`", name);
	held_add(s, name);
	return 0;
}

int crid_fd_store_remove(struct crid_fd_store *s, const char *name, struct crid_err *err)
{
	char buf[64 + NAME_MAX_LEN];
	int n;

	if (check_name(name, err) < 0)
		return -1;
	n = format(s, buf, sizeof(buf), s->systemd ? "FDSTOREREMOVE=1\nFDNAME=" : "D", name, err);
	if (n < 0 || send_record(s, buf, n, -1, err) < 0)
		return crid_err_wrap(err, "fd store remove `%s`", name);
	held_drop(s, name);
	return 0;
}

static int restore_systemd(void (*each)(void *user, const char *name, int fd), void *user,
			   struct crid_err *err)
{
	const char *pid = getenv("LISTEN_PID"), *fds = getenv("LISTEN_FDS");
	const char *names = getenv("LISTEN_FDNAMES");
	char name[NAME_MAX_LEN + 1];
	long n = 0;

	if (pid && fds && strtol(pid, NULL, 10) == (long)getpid()) {
		char *end;
		errno = 0;
		n = strtol(fds, &end, 10);
		if (errno || *end || n < 0 || n > INT_MAX - 3) {
			crid_err_invalid(err, "LISTEN_FDS `%s` is not a count", fds);
			n = -1;
		}
	}
	for (long i = 0; i < n; i++) {
		const char *colon = names ? strchrnul(names, ':') : NULL;
		size_t len = colon ? (size_t)(colon - names) : 0;
		int fd = 3 + (int)i;

		snprintf(name, sizeof(name), "%.*s", (int)(len < NAME_MAX_LEN ? len : NAME_MAX_LEN),
			 len ? names : "unknown");
		names = colon && *colon ? colon + 1 : NULL;
		fcntl(fd, F_SETFD, FD_CLOEXEC);
		each(user, name, fd);
	}
	unsetenv("LISTEN_PID");
	unsetenv("LISTEN_FDS");
	unsetenv("LISTEN_FDNAMES");
	return n < 0 ? -1 : 0;
}

/* One 'F' or 'E' record of the keeper's list; 1 more, 0 end, -1 the connection failed. */
static int recv_item(struct crid_fd_store *s, void (*each)(void *user, const char *name, int fd),
		     void *user, int *failed, struct crid_err *err)
{
	char buf[2 + NAME_MAX_LEN], ctrl[CMSG_SPACE(4 * sizeof(int))];
	struct iovec iov = { .iov_base = buf, .iov_len = sizeof(buf) - 1 };
	struct msghdr msg = { .msg_iov = &iov,
			      .msg_iovlen = 1,
			      .msg_control = ctrl,
			      .msg_controllen = sizeof(ctrl) };
	int fd = -1;
	ssize_t n;

	do
		n = recvmsg(s->sock, &msg, MSG_CMSG_CLOEXEC);
	while (n < 0 && errno == EINTR);
	if (n < 0 && (errno == EAGAIN || errno == EWOULDBLOCK))
		return crid_err_set(err, ETIMEDOUT, "crid-keeper did not list within %d ms",
				    LIST_TIMEOUT_MS);
	if (n < 0)
		return crid_err_set(err, errno, "receive from crid-keeper");
	if (n == 0)
		return crid_err_set(err, ECONNRESET, "crid-keeper closed the connection");
	for (struct cmsghdr *cm = CMSG_FIRSTHDR(&msg); cm; cm = CMSG_NXTHDR(&msg, cm)) {
		size_t k = (cm->cmsg_len - CMSG_LEN(0)) / sizeof(int);
		if (cm->cmsg_level != SOL_SOCKET || cm->cmsg_type != SCM_RIGHTS)
			continue;
		for (size_t j = 0; j < k; j++) {
			int f;
			memcpy(&f, CMSG_DATA(cm) + j * sizeof(int), sizeof(int));
			if (fd < 0)
				fd = f;
			else
				close(f);
		}
	}
	buf[n] = '\0';
	if (buf[0] == 'E' && n == 1 && fd < 0)
		return 0;
	if (buf[0] == 'F' && fd >= 0 && !(msg.msg_flags & MSG_TRUNC) &&
	    check_name(buf + 1, NULL) == 0) {
		each(user, buf + 1, fd);
		return 1;
	}
	/* Keep draining to 'E' so the connection stays in step; report the first fault. */
	if (fd >= 0)
		close(fd);
	if (!*failed) {
		*failed = 1;
		if (msg.msg_flags & MSG_CTRUNC)
			crid_err_set(err, EMFILE, "fd `%.64s` from crid-keeper was dropped",
				     buf + 1);
		else
			crid_err_invalid(err, "bad record from crid-keeper (%zd bytes)", n);
	}
	return 1;
}

static int restore_keeper(struct crid_fd_store *s,
			  void (*each)(void *user, const char *name, int fd), void *user,
			  struct crid_err *err)
{
	int failed = 0, r;

	if (send_record(s, "L", 1, -1, err) < 0)
		return -1;
	while ((r = recv_item(s, each, user, &failed, err)) > 0)
		;
	return r < 0 || failed ? -1 : 0;
}

/* The caller's |each| of a restore, after counting the name as held. */
struct restore_ctx {
	struct crid_fd_store *s;
	void (*each)(void *user, const char *name, int fd);
	void *user;
};

static void restored(void *user, const char *name, int fd)
{
	struct restore_ctx *r = user;

	held_add(r->s, name);
	r->each(r->user, name, fd);
}

int crid_fd_store_restore(struct crid_fd_store *s,
			  void (*each)(void *user, const char *name, int fd), void *user,
			  struct crid_err *err)
{
	struct restore_ctx r = { s, each, user };
	int rc =
	    s->systemd ? restore_systemd(restored, &r, err) : restore_keeper(s, restored, &r, err);

	return rc < 0 ? crid_err_wrap(err, "fd store restore") : 0;
}

const char *crid_fd_store_kind(const struct crid_fd_store *s)
{
	return s->systemd ? "systemd" : "keeper";
}

static void respawn_failed(struct crid_fd_store *s, struct crid_err *err)
{
	s->respawn_deadline = 0;
	crid_log_error("fd store: %s; containers' fds are not kept until crid restarts", err->msg);
}

/*
 * A new keeper's socket is polled from a timer, not waited for: its first
 * process exits 0 once the socket listens (reaped here, never blocking), and
 * the connection is retried until KEEPER_START_MS; then the owner deposits
 * every fd again.
 */
static void respawn_tick(struct ev_loop *ev, ev_timer *w, int revents)
{
	struct crid_fd_store *s = w->data;
	struct sockaddr_un addr;
	struct crid_err err;
	int status;

	(void)revents;
	if (s->respawn_pid > 0 && waitpid(s->respawn_pid, &status, WNOHANG) == s->respawn_pid) {
		s->respawn_pid = 0;
		if (!WIFEXITED(status) || WEXITSTATUS(status) != 0) {
			ev_timer_stop(ev, w);
			crid_err_set(
			    &err, 0, "crid-keeper failed (status %d; its error is on stderr)",
			    WIFEXITED(status) ? WEXITSTATUS(status) : 128 + WTERMSIG(status));
			respawn_failed(s, &err);
			return;
		}
	}
	if (keeper_addr(s->runroot, &addr, &err) == 0 && try_connect(&addr, &s->sock) == 0) {
		ev_timer_stop(ev, w);
		keeper_timeouts(s->sock);
		ev_io_set(&s->hup, s->sock, EV_READ);
		ev_io_start(ev, &s->hup);
		if (s->reseed)
			s->reseed(s->reseed_user);
		crid_log_info("fd store: a new crid-keeper holds the fds again");
		return;
	}
	if (now_ms() < s->respawn_deadline)
		return;
	ev_timer_stop(ev, w);
	crid_err_set(&err, ETIMEDOUT, "crid-keeper did not answer within %d ms", KEEPER_START_MS);
	respawn_failed(s, &err);
}

/*
 * The keeper never speaks unasked, so a readable connection is its end
 * (killed, or crashed): a new keeper is started and polled for (respawn_tick).
 */
static void keeper_gone(struct ev_loop *ev, ev_io *w, int revents)
{
	struct crid_fd_store *s = w->data;
	struct sockaddr_un addr;
	struct crid_err err;
	ssize_t n;
	char c;

	(void)revents;
	n = recv(s->sock, &c, 1, MSG_PEEK | MSG_DONTWAIT);
	if (n > 0) {
		recv(s->sock, &c, 1, MSG_DONTWAIT); /* not the protocol: dropped */
		return;
	}
	if (n < 0 && (errno == EAGAIN || errno == EINTR))
		return;
	ev_io_stop(ev, &s->hup);
	close(s->sock);
	s->sock = -1;
	crid_log_warn("fd store: crid-keeper went away; starting a new one");
	if (keeper_addr(s->runroot, &addr, &err) < 0 ||
	    start_keeper(addr.sun_path, &s->respawn_pid, &err) < 0) {
		respawn_failed(s, &err);
		return;
	}
	s->respawn_deadline = now_ms() + KEEPER_START_MS;
	ev_timer_set(&s->respawn, 0.01, 0.01);
	ev_timer_start(ev, &s->respawn);
}

void crid_fd_store_watch(struct crid_fd_store *s, struct crid_loop *loop,
			 void (*reseed)(void *user), void *user)
{
	if (s->systemd || s->sock < 0)
		return;
	s->loop = loop;
	s->reseed = reseed;
	s->reseed_user = user;
	ev_io_init(&s->hup, keeper_gone, s->sock, EV_READ);
	s->hup.data = s;
	ev_timer_init(&s->respawn, respawn_tick, 0.01, 0.01);
	s->respawn.data = s;
	ev_io_start(loop->ev, &s->hup);
}

void crid_fd_store_close(struct crid_fd_store *s)
{
	if (!s)
		return;
	if (s->loop) {
		ev_io_stop(s->loop->ev, &s->hup);
		ev_timer_stop(s->loop->ev, &s->respawn);
	}
	if (s->sock >= 0)
		close(s->sock);
	crid_free(s->held);
	crid_free(s);
}
