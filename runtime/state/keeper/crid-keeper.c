/*
 * crid-keeper: holds file descriptors for crid so they outlive a crash of
 * the daemon (see runtime/fd_store.h and DESIGN.md, "Containers without
 * conmon"). One per node; only libc; no per-pod logic.
 *
 *   crid-keeper [-d] SOCKET
 *
 * Listens on a unix SOCK_SEQPACKET socket at SOCKET (mode 0600, through the
 * umask) and serves any number of clients (normally one, the daemon) from
 * one single-threaded epoll loop. It never exits on its own; SIGTERM or
 * SIGKILL drop every fd it holds. With -d it detaches once listening (fork,
 * setsid, chdir /, stdio on /dev/null): the first process exits 0 only
 * after the socket accepts connections, so a spawner that waited for it can
 * connect at once. It writes nothing but one error line on stderr when it
 * cannot start (exit 1). When another keeper already holds SOCKET (the lock
 * `SOCKET.lock`, flock'ed for the keeper's lifetime) it exits 0 at once, so
 * racing starters end with exactly one keeper.
 *
 * Protocol: every message is one seqpacket record, an op byte followed by a
 * name of 1..255 bytes of [A-Za-z0-9._-] (no NUL, no padding):
 *
 *   client -> keeper
 *     'P' name  + exactly one fd in SCM_RIGHTS   put: hold the fd under name,
 *                                                 closing the one held before
 *     'D' name                                    delete: close it (missing is fine)
 *     'L'                                         list (no name)
 *   keeper -> client, only in answer to 'L'
 *     'F' name  + one fd in SCM_RIGHTS            one per held fd, any order
 *     'E'                                         end of the list
 *
 * Put and delete are not answered: the client's sendmsg is the whole
 * operation, and the records of one connection are handled in order, so a
 * list sees every put sent before it, on any connection (pending records
 * of the other clients are applied first). A malformed record, or a put whose fd
 * the keeper cannot hold (table full, MSG_CTRUNC), closes that client's
 * connection: the client learns of it (EPIPE) on its next send instead of
 * believing a lost fd is held. While a list is being sent to a client the
 * keeper reads no further record from it. Fds are held by name in a slot
 * array (stable indices, so a list in progress sees every entry that exists
 * throughout it exactly once) with a chained hash index: 16 bytes a slot
 * plus the name.
 */
#include <errno.h>
#include <fcntl.h>
#include <signal.h>
#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/epoll.h>
#include <sys/file.h>
#include <sys/resource.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/un.h>
#include <unistd.h>

#define NAME_MAX_LEN 255
#define MAX_CLIENTS 64
/* fds kept free for the listener, epoll, the lock, stdio and clients */
#define RESERVED_FDS (MAX_CLIENTS + 16)
#define NIL UINT32_MAX

struct slot {
	char *name; /* NULL: free, and |next| links the free list */
	int fd;
	uint32_t next; /* next slot in the same hash bucket, or free */
};

struct client {
	int fd;		 /* -1: unused */
	bool listing;	 /* sending an 'L' answer */
	uint32_t cursor; /* next slot to send */
};

static struct slot *slots;
static uint32_t n_slots, n_used, free_head = NIL, max_entries;
static uint32_t *buckets; /* slot index or NIL */
static uint32_t n_buckets;
static struct client clients[MAX_CLIENTS];
static int epfd, listen_fd;

static uint32_t hash(const char *s, size_t len)
{
	uint32_t h = 2166136261u; /* FNV-1a */

	for (size_t i = 0; i < len; i++)
		h = (h ^ (unsigned char)s[i]) * 16777619u;
	return h;
}

static bool valid_name(const char *s, size_t len)
{
	if (len == 0 || len > NAME_MAX_LEN)
		return false;
	for (size_t i = 0; i < len; i++) {
		char c = s[i];
		if (!((c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9') ||
		      c == '.' || c == '_' || c == '-'))
			return false;
	}
	return true;
}

/* Returns the slot holding |name| and the link that points at it, or NIL. */
static uint32_t lookup(const char *name, size_t len, uint32_t **link)
{
	uint32_t *l = &buckets[hash(name, len) & (n_buckets - 1)];

	for (; *l != NIL; l = &slots[*l].next) {
		struct slot *s = &slots[*l];
		if (strlen(s->name) == len && memcmp(s->name, name, len) == 0)
			break;
	}
	*link = l;
	return *l;
}

static int rehash(uint32_t size)
{
	uint32_t *b = malloc(size * sizeof(*b));

	if (!b)
		return -1;
	for (uint32_t i = 0; i < size; i++)
		b[i] = NIL;
	for (uint32_t i = 0; i < n_slots; i++) {
		if (!slots[i].name)
			continue;
		uint32_t h = hash(slots[i].name, strlen(slots[i].name)) & (size - 1);
		slots[i].next = b[h];
		b[h] = i;
	}
	free(buckets);
	buckets = b;
	n_buckets = size;
	return 0;
}

static uint32_t take_slot(void)
{
	uint32_t i;

	if (free_head != NIL) {
		i = free_head;
		free_head = slots[i].next;
		return i;
	}
	if (n_slots % 1024 == 0) {
		struct slot *s = realloc(slots, (n_slots + 1024) * sizeof(*s));
		if (!s)
			return NIL;
		slots = s;
	}
	return n_slots++;
}

/* Holds |fd| under |name|; on failure |fd| is closed and -1 returned. */
static int put(const char *name, size_t len, int fd)
{
	uint32_t *link, i = lookup(name, len, &link);
	char *copy;

	if (i != NIL) {
		close(slots[i].fd);
		slots[i].fd = fd;
		return 0;
	}
	if (n_used >= max_entries || !(copy = strndup(name, len)))
		goto fail;
	i = take_slot(); /* may move |slots|: |link| is not used past here */
	if (i == NIL) {
		free(copy);
		goto fail;
	}
	if (n_used >= n_buckets)
		rehash(n_buckets * 2); /* a failure only makes the chains longer */
	uint32_t *head = &buckets[hash(name, len) & (n_buckets - 1)];
	slots[i] = (struct slot){ .name = copy, .fd = fd, .next = *head };
	*head = i;
	n_used++;
	return 0;
fail:
	close(fd);
	return -1;
}

static void del(const char *name, size_t len)
{
	uint32_t *link, i = lookup(name, len, &link);

	if (i == NIL)
		return;
	*link = slots[i].next;
	close(slots[i].fd);
	free(slots[i].name);
	slots[i] = (struct slot){ .name = NULL, .fd = -1, .next = free_head };
	free_head = i;
	n_used--;
}

static void drop_client(struct client *c)
{
	close(c->fd); /* also removes it from the epoll set */
	c->fd = -1;
	c->listing = false;
}

static void watch(struct client *c, uint32_t events)
{
	struct epoll_event ev = { .events = events, .data.ptr = c };

	if (epoll_ctl(epfd, EPOLL_CTL_MOD, c->fd, &ev) < 0)
		drop_client(c);
}

/* Sends one record with an optional fd; 1 sent, 0 would block, -1 failed. */
static int send_record(int sock, char op, const char *name, int fd)
{
	char buf[1 + NAME_MAX_LEN], ctrl[CMSG_SPACE(sizeof(int))] = { 0 };
	size_t len = name ? strlen(name) : 0;
	struct iovec iov = { .iov_base = buf, .iov_len = 1 + len };
	struct msghdr msg = { .msg_iov = &iov, .msg_iovlen = 1 };

	buf[0] = op;
	if (len)
		memcpy(buf + 1, name, len);
	if (fd >= 0) {
		msg.msg_control = ctrl;
		msg.msg_controllen = sizeof(ctrl);
		struct cmsghdr *cm = CMSG_FIRSTHDR(&msg);
		cm->cmsg_level = SOL_SOCKET;
		cm->cmsg_type = SCM_RIGHTS;
		cm->cmsg_len = CMSG_LEN(sizeof(int));
		memcpy(CMSG_DATA(cm), &fd, sizeof(int));
	}
	if (sendmsg(sock, &msg, MSG_DONTWAIT | MSG_NOSIGNAL) >= 0)
		return 1;
	return errno == EAGAIN || errno == EWOULDBLOCK ? 0 : -1;
}

/* Sends as much of a list answer as the socket takes. */
static void continue_list(struct client *c)
{
	for (; c->cursor < n_slots; c->cursor++) {
		struct slot *s = &slots[c->cursor];
		if (!s->name)
			continue;
		int r = send_record(c->fd, 'F', s->name, s->fd);
		if (r == 0)
			return watch(c, EPOLLOUT);
		if (r < 0)
			return drop_client(c);
	}
	int r = send_record(c->fd, 'E', NULL, -1);
	if (r == 0)
		return watch(c, EPOLLOUT);
	if (r < 0)
		return drop_client(c);
	c->listing = false;
	watch(c, EPOLLIN);
}

static bool read_record(struct client *c);

/*
 * Before a list: apply what every other client has already sent. A daemon
 * that crashed right after a put leaves it queued on its dead connection,
 * and its successor's list must see it: whatever a sendmsg returned for
 * before the 'L' was sent is in the list. Bounded by those sockets' queues.
 */
static void drain_others(struct client *self)
{
	for (int i = 0; i < MAX_CLIENTS; i++) {
		struct client *c = &clients[i];
		if (c == self)
			continue;
		while (c->fd >= 0 && !c->listing && read_record(c))
			;
	}
}

/* Reads and applies one record; false when the client was dropped or is listing. */
static bool read_record(struct client *c)
{
	char buf[2 + NAME_MAX_LEN], ctrl[CMSG_SPACE(4 * sizeof(int))];
	struct iovec iov = { .iov_base = buf, .iov_len = sizeof(buf) };
	struct msghdr msg = { .msg_iov = &iov,
			      .msg_iovlen = 1,
			      .msg_control = ctrl,
			      .msg_controllen = sizeof(ctrl) };
	int fds[4], n_fds = 0;
	ssize_t n = recvmsg(c->fd, &msg, MSG_DONTWAIT | MSG_CMSG_CLOEXEC);

	if (n < 0 && (errno == EAGAIN || errno == EWOULDBLOCK))
		return false;
	if (n <= 0)
		goto drop;
	for (struct cmsghdr *cm = CMSG_FIRSTHDR(&msg); cm; cm = CMSG_NXTHDR(&msg, cm)) {
		if (cm->cmsg_level != SOL_SOCKET || cm->cmsg_type != SCM_RIGHTS)
			continue;
		size_t k = (cm->cmsg_len - CMSG_LEN(0)) / sizeof(int);
		for (size_t j = 0; j < k; j++) {
			int fd;
			memcpy(&fd, CMSG_DATA(cm) + j * sizeof(int), sizeof(int));
			if (n_fds < 4)
				fds[n_fds++] = fd;
			else
				close(fd);
		}
	}
	bool bad = (msg.msg_flags & (MSG_TRUNC | MSG_CTRUNC)) || n > 1 + NAME_MAX_LEN;
	char op = buf[0];
	if (op == 'P' && !bad && n_fds == 1 && valid_name(buf + 1, n - 1)) {
		n_fds = 0;
		if (put(buf + 1, n - 1, fds[0]) < 0)
			goto drop;
		return true;
	}
	if (op == 'D' && !bad && n_fds == 0 && valid_name(buf + 1, n - 1)) {
		del(buf + 1, n - 1);
		return true;
	}
	if (op == 'L' && !bad && n_fds == 0 && n == 1) {
		c->listing = true; /* first: draining must not read on past this 'L' */
		c->cursor = 0;
		drain_others(c);
		continue_list(c);
		return false;
	}
drop:
	while (n_fds > 0)
		close(fds[--n_fds]);
	drop_client(c);
	return false;
}

static void accept_client(void)
{
	int fd = accept4(listen_fd, NULL, NULL, SOCK_NONBLOCK | SOCK_CLOEXEC);

	if (fd < 0)
		return;
	for (int i = 0; i < MAX_CLIENTS; i++) {
		if (clients[i].fd >= 0)
			continue;
		struct epoll_event ev = { .events = EPOLLIN, .data.ptr = &clients[i] };
		clients[i] = (struct client){ .fd = fd };
		if (epoll_ctl(epfd, EPOLL_CTL_ADD, fd, &ev) < 0)
			drop_client(&clients[i]);
		return;
	}
	close(fd); /* too many clients: the connection is refused by a hangup */
}

static void serve(void)
{
	struct epoll_event evs[16];

	for (;;) {
		int n = epoll_wait(epfd, evs, 16, -1);
		for (int i = 0; i < n; i++) {
			struct client *c = evs[i].data.ptr;
			if (!c) {
				accept_client();
				continue;
			}
			if (c->fd < 0)
				continue;
			if (c->listing) {
				if (evs[i].events & (EPOLLHUP | EPOLLERR))
					drop_client(c);
				else
					continue_list(c);
				continue;
			}
			/* A bounded batch per wakeup keeps other clients served. */
			for (int k = 0; k < 64 && c->fd >= 0 && !c->listing; k++)
				if (!read_record(c))
					break;
			if (c->fd >= 0 && !c->listing && (evs[i].events & (EPOLLHUP | EPOLLERR)) &&
			    !(evs[i].events & EPOLLIN))
				drop_client(c);
		}
	}
}

static void __attribute__((noreturn)) fail(const char *what, const char *path)
{
	fprintf(stderr, "crid-keeper: %s `%s`: %s\n", what, path, strerror(errno));
	exit(1);
}

/* Takes SOCKET's lock; exits 0 when another keeper holds it. */
static void lock_socket(const char *path)
{
	char lock[sizeof(((struct sockaddr_un *)0)->sun_path) + 8];
	int lfd;

	if (strlen(path) >= sizeof(((struct sockaddr_un *)0)->sun_path)) {
		errno = ENAMETOOLONG;
		fail("socket path", path);
	}
	snprintf(lock, sizeof(lock), "%s.lock", path);
	lfd = open(lock, O_RDWR | O_CREAT | O_CLOEXEC, 0600);
	if (lfd < 0)
		fail("open", lock);
	if (flock(lfd, LOCK_EX | LOCK_NB) < 0) {
		if (errno == EWOULDBLOCK)
			exit(0);
		fail("lock", lock);
	}
}

/* Under the lock, a socket file left by a dead keeper is stale. */
static void listen_at(const char *path)
{
	struct sockaddr_un addr = { .sun_family = AF_UNIX };

	memcpy(addr.sun_path, path, strlen(path) + 1);
	listen_fd = socket(AF_UNIX, SOCK_SEQPACKET | SOCK_NONBLOCK | SOCK_CLOEXEC, 0);
	if (listen_fd < 0)
		fail("socket for", path);
	if (unlink(path) < 0 && errno != ENOENT)
		fail("remove stale", path);
	umask(0177);
	if (bind(listen_fd, (struct sockaddr *)&addr, sizeof(addr)) < 0)
		fail("bind", path);
	if (listen(listen_fd, 16) < 0)
		fail("listen on", path);
}

/*
 * -d: the first process waits until the second listens, so its exit 0 means
 * "connect now". The second must be the one that calls listen(): clients'
 * SO_PEERCRED names the listener.
 */
static int detach(void)
{
	int ready[2];
	pid_t pid;
	char b;

	if (pipe2(ready, O_CLOEXEC) < 0)
		fail("pipe for", "crid-keeper");
	pid = fork();
	if (pid < 0)
		fail("fork", "crid-keeper");
	if (pid > 0) {
		close(ready[1]);
		_exit(read(ready[0], &b, 1) == 1 ? 0 : 1);
	}
	close(ready[0]);
	setsid();
	return ready[1];
}

static void detach_stdio(int ready)
{
	int null = open("/dev/null", O_RDWR);

	if (chdir("/") < 0)
		_exit(1);
	if (null >= 0) {
		dup2(null, 0);
		dup2(null, 1);
		dup2(null, 2);
		if (null > 2)
			close(null);
	}
	if (write(ready, "", 1) != 1)
		_exit(1);
	close(ready);
}

/* As many fds as the hard limit allows (root here lacks CAP_SYS_RESOURCE to go beyond). */
static void raise_nofile(void)
{
	struct rlimit rl;

	if (getrlimit(RLIMIT_NOFILE, &rl) < 0)
		return;
	rl.rlim_cur = rl.rlim_max;
	setrlimit(RLIMIT_NOFILE, &rl);
	getrlimit(RLIMIT_NOFILE, &rl);
	max_entries = rl.rlim_cur > RESERVED_FDS + 1 ? rl.rlim_cur - RESERVED_FDS : 1;
	if (rl.rlim_cur == RLIM_INFINITY || max_entries > 16u * 1024 * 1024)
		max_entries = 16u * 1024 * 1024;
}

int main(int argc, char **argv)
{
	struct epoll_event ev = { .events = EPOLLIN, .data.ptr = NULL };
	bool daemonize = false;
	int opt, ready = -1;

	while ((opt = getopt(argc, argv, "d")) != -1) {
		if (opt != 'd')
			goto usage;
		daemonize = true;
	}
	if (optind != argc - 1)
		goto usage;
	/* Whatever the spawner leaked is not ours to hold. */
	close_range(3, ~0u, 0);
	signal(SIGPIPE, SIG_IGN);
	raise_nofile();
	for (int i = 0; i < MAX_CLIENTS; i++)
		clients[i].fd = -1;
	if (rehash(1024) < 0) {
		errno = ENOMEM;
		fail("allocate", "index");
	}
	lock_socket(argv[optind]);
	if (daemonize)
		ready = detach();
	listen_at(argv[optind]);
	if (ready >= 0)
		detach_stdio(ready);
	epfd = epoll_create1(EPOLL_CLOEXEC);
	if (epfd < 0 || epoll_ctl(epfd, EPOLL_CTL_ADD, listen_fd, &ev) < 0)
		fail("epoll for", argv[optind]);
	serve();
usage:
	fprintf(stderr, "usage: crid-keeper [-d] SOCKET\n");
	return 2;
}
