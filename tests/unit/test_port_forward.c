/*
 * The port-forward session on a real loop against real TCP servers (forked
 * children), one in crid's network namespace (a host-network pod) and one in
 * a network namespace of its own (a pod's), driven through the session ops
 * the way a connection drives them; the connection side records what the
 * session sends on each channel. Checks: bytes both ways and the half-close,
 * the dial landing in the pod's namespace and not the host's, the error
 * object for a refused port (IPv4 then IPv6 tried), for a reset, the
 * high-water stall and drained() resume, the input pause while the pod does
 * not read, and gone() closing every socket.
 */
#include <errno.h>
#include <fcntl.h>
#include <net/if.h>
#include <netinet/in.h>
#include <sched.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/ioctl.h>
#include <sys/prctl.h>
#include <sys/resource.h>
#include <sys/socket.h>
#include <sys/wait.h>
#include <unistd.h>
#include <dirent.h>

#include "reactor/mem.h"
#include "runtime/pod/pod.h"
#include "runtime/stream/pf_error.h"
#include "runtime/stream/port_forward.h"
#include "tap.h"

/* ---- the connection side: records what the session does ---- */

#define NCHAN 2052 /* 1026 pairs */

struct tconn {
	struct crid_stream_conn base;
	struct {
		uint8_t *data;
		size_t len;
		bool closed;
	} ch[NCHAN];
	size_t pending;
	bool paused, finished;
	int pause_calls;
};

static int t_send(struct crid_stream_conn *c, unsigned chan, const void *buf, size_t len)
{
	struct tconn *t = (struct tconn *)c;

	if (chan >= NCHAN || t->ch[chan].closed)
		abort(); /* the session wrote on a channel it closed */
	t->ch[chan].data = realloc(t->ch[chan].data, t->ch[chan].len + len);
	memcpy(t->ch[chan].data + t->ch[chan].len, buf, len);
	t->ch[chan].len += len;
	return 0;
}

static void t_close_chan(struct crid_stream_conn *c, unsigned chan)
{
	((struct tconn *)c)->ch[chan].closed = true;
}

static void t_reset_chan(struct crid_stream_conn *c, unsigned chan)
{
	(void)c, (void)chan;
}

static size_t t_pending(const struct crid_stream_conn *c)
{
	return ((const struct tconn *)c)->pending;
}

static void t_pause_input(struct crid_stream_conn *c, bool paused)
{
	struct tconn *t = (struct tconn *)c;

	t->paused = paused;
	t->pause_calls++;
}

static void t_finish(struct crid_stream_conn *c)
{
	((struct tconn *)c)->finished = true;
}

static const struct crid_stream_conn_ops t_ops = {
	.send = t_send,
	.close_chan = t_close_chan,
	.reset_chan = t_reset_chan,
	.pending = t_pending,
	.pause_input = t_pause_input,
	.finish = t_finish,
};

static void tconn_init(struct tconn *t)
{
	memset(t, 0, sizeof(*t));
	t->base.ops = &t_ops;
}

static void tconn_free(struct tconn *t)
{
	for (int i = 0; i < NCHAN; i++)
		free(t->ch[i].data);
}

/* ---- the loop ---- */

static void on_signal(struct crid_loop *loop, int signo, void *user)
{
	(void)loop, (void)signo, (void)user;
}

static void tick(struct ev_loop *ev, ev_timer *w, int revents)
{
	(void)ev, (void)w, (void)revents;
}

/* Runs the loop until *|flag| or |secs| passed; returns *|flag|. */
static bool run_until(struct crid_loop *loop, const bool *flag, double secs)
{
	double end = ev_time() + secs;
	ev_timer t;

	ev_timer_init(&t, tick, 0.01, 0.01);
	ev_timer_start(loop->ev, &t);
	while ((!flag || !*flag) && ev_time() < end)
		ev_run(loop->ev, EVRUN_ONCE);
	ev_timer_stop(loop->ev, &t);
	return flag && *flag;
}

/* ---- servers ---- */

enum serve_mode {
	SERVE_COUNT, /* greet, read to EOF, answer "n=<bytes read>", close */
	SERVE_LATE,  /* as COUNT, but read only once the go pipe has a byte */
	SERVE_RESET, /* greet, read a little, close with RST */
	SERVE_BIG,   /* greet, send |big| bytes, close */
	SERVE_HALF,  /* greet, shut down writing, read to EOF, tell the count on the go pipe */
};

struct server {
	pid_t pid;
	uint16_t port;
	int go; /* write end of the go pipe (SERVE_LATE) */
};

static size_t big = 4u << 20;

static void serve(int lfd, const char *greeting, enum serve_mode mode, int go)
{
	static char buf[1 << 16];
	int fd = accept(lfd, NULL, NULL);
	size_t total = 0;
	ssize_t n;

	if (fd < 0)
		_exit(2);
	if (write(fd, greeting, strlen(greeting)) < 0)
		_exit(3);
	if (mode == SERVE_BIG) {
		memset(buf, 'b', sizeof(buf));
		for (size_t sent = 0; sent < big; sent += sizeof(buf))
			if (write(fd, buf, sizeof(buf)) != (ssize_t)sizeof(buf))
				_exit(4);
		_exit(0);
	}
	if (mode == SERVE_RESET) {
		struct linger l = { .l_onoff = 1, .l_linger = 0 };

		(void)!read(fd, buf, 16);
		setsockopt(fd, SOL_SOCKET, SO_LINGER, &l, sizeof(l));
		close(fd);
		_exit(0);
	}
	if (mode == SERVE_HALF) {
		shutdown(fd, SHUT_WR);
		while ((n = read(fd, buf, sizeof(buf))) > 0)
			total += (size_t)n;
		n = snprintf(buf, sizeof(buf), "n=%zu", total);
		(void)!write(go, buf, (size_t)n);
		_exit(0);
	}
	if (mode == SERVE_LATE && read(go, buf, 1) != 1)
		_exit(5);
	while ((n = read(fd, buf, sizeof(buf))) > 0)
		total += (size_t)n;
	n = snprintf(buf, sizeof(buf), "n=%zu", total);
	if (write(fd, buf, (size_t)n) < 0)
		_exit(6);
	_exit(0);
}

static int listener(uint16_t port, int rcvbuf)
{
	struct sockaddr_in a = { .sin_family = AF_INET, .sin_port = htons(port) };
	socklen_t len = sizeof(a);
	int fd = socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0), one = 1;

	a.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
	setsockopt(fd, SOL_SOCKET, SO_REUSEADDR, &one, sizeof(one));
	if (rcvbuf)
		setsockopt(fd, SOL_SOCKET, SO_RCVBUF, &rcvbuf, sizeof(rcvbuf));
	if (bind(fd, (struct sockaddr *)&a, sizeof(a)) < 0 || listen(fd, 16) < 0)
		return -1;
	getsockname(fd, (struct sockaddr *)&a, &len);
	return fd;
}

static uint16_t port_of(int fd)
{
	struct sockaddr_in a;
	socklen_t len = sizeof(a);

	getsockname(fd, (struct sockaddr *)&a, &len);
	return ntohs(a.sin_port);
}

/* A server in crid's own network namespace. */
static struct server host_server(const char *greeting, enum serve_mode mode, int rcvbuf)
{
	struct server s = { .go = -1 };
	int lfd = listener(0, rcvbuf), go[2];

	if (socketpair(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0, go) < 0)
		abort();
	s.port = port_of(lfd);
	s.pid = fork();
	if (s.pid == 0) {
		prctl(PR_SET_PDEATHSIG, SIGKILL);
		close(go[1]);
		serve(lfd, greeting, mode, go[0]);
	}
	close(lfd);
	close(go[0]);
	s.go = go[1];
	return s;
}

static void lo_up(void)
{
	struct ifreq ifr = { 0 };
	int fd = socket(AF_INET, SOCK_DGRAM | SOCK_CLOEXEC, 0);

	snprintf(ifr.ifr_name, sizeof(ifr.ifr_name), "lo");
	ioctl(fd, SIOCGIFFLAGS, &ifr);
	ifr.ifr_flags |= IFF_UP;
	if (ioctl(fd, SIOCSIFFLAGS, &ifr) < 0)
		_exit(7);
	close(fd);
}

/* A server alone in a new network namespace, on |port|; its namespace is /proc/<pid>/ns/net. */
static struct server netns_server(uint16_t port, const char *greeting)
{
	struct server s = { .go = -1, .port = port };
	int ready[2];
	char c;

	if (pipe(ready) < 0)
		abort();
	s.pid = fork();
	if (s.pid == 0) {
		int lfd;

		prctl(PR_SET_PDEATHSIG, SIGKILL);
		if (unshare(CLONE_NEWNET) < 0)
			_exit(8);
		lo_up();
		lfd = listener(port, 0);
		if (lfd < 0)
			_exit(9);
		if (write(ready[1], "r", 1) != 1)
			_exit(10);
		serve(lfd, greeting, SERVE_COUNT, -1);
	}
	close(ready[1]);
	if (read(ready[0], &c, 1) != 1)
		s.pid = -1;
	close(ready[0]);
	return s;
}

static void reap(struct server *s)
{
	if (s->go >= 0)
		close(s->go);
	if (s->pid > 0) {
		kill(s->pid, SIGKILL);
		waitpid(s->pid, NULL, 0);
	}
}

/* ---- fixtures ---- */

static int count_fds(void)
{
	DIR *d = opendir("/proc/self/fd");
	int n = 0;

	while (readdir(d))
		n++;
	closedir(d);
	return n;
}

static struct crid_sandbox *add_pod(struct crid_pods *pods, const char *name, bool host_net)
{
	struct crid_err err = { 0 };
	struct crid_sandbox *sb = crid_sandbox_alloc(&err);

	sb->name = crid_strdup(name);
	sb->namespace = crid_strdup("default");
	sb->uid = crid_strdup(name);
	sb->state = CRID_SANDBOX_READY;
	sb->ns_network = host_net ? CRID_NS_NODE : CRID_NS_POD;
	if (crid_sandbox_insert(pods->store, sb, &err) < 0)
		abort();
	return sb;
}

static struct crid_stream_session *open_session(struct crid_loop *loop, struct crid_pods *pods,
						const struct crid_sandbox *sb, struct tconn *t)
{
	struct crid_err err = { 0 };
	struct crid_stream_req *req = crid_calloc(1, sizeof(*req));
	struct crid_stream_session *s;

	req->kind = CRID_STREAM_PORTFORWARD;
	memcpy(req->id, sb->id, sizeof(req->id));
	s = crid_port_forward_new(loop, pods, req, &err);
	if (!s) {
		printf("# %s\n", err.msg);
		abort();
	}
	tconn_init(t);
	s->conn = &t->base;
	return s;
}

static bool has(const struct tconn *t, unsigned chan, const char *text)
{
	return t->ch[chan].data && memmem(t->ch[chan].data, t->ch[chan].len, text, strlen(text));
}

static void feed(struct crid_stream_session *s, unsigned chan, size_t total)
{
	static uint8_t chunk[32 << 10];

	memset(chunk, 'c', sizeof(chunk));
	for (size_t off = 0; off < total; off += sizeof(chunk))
		s->ops->data(s, chan, chunk,
			     total - off < sizeof(chunk) ? total - off : sizeof(chunk));
}

/* ---- tests ---- */

static void test_both_ways(struct crid_loop *loop, struct crid_pods *pods)
{
	struct crid_sandbox *sb = add_pod(pods, "host", true);
	struct server srv = host_server("hello-host ", SERVE_COUNT, 0);
	struct tconn t;
	struct crid_stream_session *s = open_session(loop, pods, sb, &t);

	s->ops->pair(s, 3, srv.port);
	feed(s, 6, 1 << 20); /* before the connect is done: held, then written */
	s->ops->eof(s, 6);
	run_until(loop, &t.ch[6].closed, 10);
	CHECK(t.ch[6].closed && t.ch[7].closed, "data and error channels closed at the end");
	CHECK(has(&t, 6, "hello-host n=1048576"),
	      "greeting, then the count of what the pod read after the half-close (%.*s)",
	      (int)t.ch[6].len, t.ch[6].data);
	CHECK(t.ch[7].len == 0, "nothing on the error channel");
	CHECK(!t.paused, "input not left paused");
	s->ops->gone(s);
	tconn_free(&t);
	reap(&srv);
}

static void test_pod_netns(struct crid_loop *loop, struct crid_pods *pods)
{
	struct crid_sandbox *sb = add_pod(pods, "netns", false);
	struct server host = host_server("hello-host ", SERVE_COUNT, 0);
	struct server pod = netns_server(host.port, "hello-pod ");
	struct tconn t;
	struct crid_stream_session *s;

	if (!CHECK(pod.pid > 0, "a server in a network namespace of its own"))
		return;
	snprintf(sb->ns.net, sizeof(sb->ns.net), "/proc/%d/ns/net", pod.pid);
	s = open_session(loop, pods, sb, &t);
	s->ops->pair(s, 0, pod.port);
	s->ops->data(s, 0, (const uint8_t *)"abc", 3);
	s->ops->eof(s, 0);
	run_until(loop, &t.ch[0].closed, 10);
	CHECK(has(&t, 0, "hello-pod n=3"), "dialled in the pod's namespace, not the host's (%.*s)",
	      (int)t.ch[0].len, t.ch[0].data);
	s->ops->gone(s);
	tconn_free(&t);
	reap(&pod);
	reap(&host);
}

static void test_refused(struct crid_loop *loop, struct crid_pods *pods)
{
	struct crid_sandbox *sb = add_pod(pods, "refused", true);
	int lfd = listener(0, 0);
	uint16_t port = port_of(lfd);
	struct tconn t;
	struct crid_stream_session *s;
	char want[512];

	close(lfd); /* nothing listens there now */
	s = open_session(loop, pods, sb, &t);
	s->ops->pair(s, 1, port);
	run_until(loop, &t.ch[3].closed, 10);
	snprintf(
	    want, sizeof(want),
	    "{\"closeConnection\":true,\"message\":\"error forwarding port %u to pod %s, uid : "
	    "failed to connect to localhost:%u inside namespace \\\"%s\\\", IPv4: dial tcp4 "
	    "127.0.0.1:%u: connect: connection refused IPv6 dial tcp6 [::1]:%u: connect: ",
	    port, sb->id, port, sb->id, port, port);
	CHECK(t.ch[3].len > strlen(want) && memcmp(t.ch[3].data, want, strlen(want)) == 0 &&
		  t.ch[3].data[t.ch[3].len - 1] == '\n',
	      "the error object names port, pod, both dials (%.*s)", (int)t.ch[3].len,
	      t.ch[3].data);
	CHECK(t.ch[2].closed && t.ch[3].closed, "both channels of the pair closed");
	/* the session goes on: a second pair to a live server works */
	{
		struct server srv = host_server("again", SERVE_COUNT, 0);

		s->ops->pair(s, 2, srv.port);
		s->ops->eof(s, 4);
		run_until(loop, &t.ch[4].closed, 10);
		CHECK(has(&t, 4, "againn=0"), "a later pair on the same session works");
		reap(&srv);
	}
	s->ops->gone(s);
	tconn_free(&t);
}

/* A server on ::1 only (127.0.0.1 refuses): the pair reaches it by the IPv6 fallback. */
static void test_ipv6_fallback(struct crid_loop *loop, struct crid_pods *pods)
{
	struct crid_sandbox *sb = add_pod(pods, "v6", true);
	struct sockaddr_in6 a = { .sin6_family = AF_INET6, .sin6_addr = IN6ADDR_LOOPBACK_INIT };
	socklen_t len = sizeof(a);
	int lfd = socket(AF_INET6, SOCK_STREAM | SOCK_CLOEXEC, 0), one = 1;
	struct server srv = { .go = -1 };
	struct tconn t;
	struct crid_stream_session *s;

	setsockopt(lfd, IPPROTO_IPV6, IPV6_V6ONLY, &one, sizeof(one));
	if (bind(lfd, (struct sockaddr *)&a, sizeof(a)) < 0 || listen(lfd, 4) < 0) {
		tap_skip("IPv6 fallback", "no ::1 here");
		close(lfd);
		return;
	}
	getsockname(lfd, (struct sockaddr *)&a, &len);
	srv.port = ntohs(a.sin6_port);
	srv.pid = fork();
	if (srv.pid == 0) {
		prctl(PR_SET_PDEATHSIG, SIGKILL);
		serve(lfd, "six ", SERVE_COUNT, -1);
	}
	close(lfd);
	s = open_session(loop, pods, sb, &t);
	s->ops->pair(s, 0, srv.port);
	s->ops->eof(s, 0);
	run_until(loop, &t.ch[0].closed, 10);
	CHECK(has(&t, 0, "six n=0") && t.ch[1].len == 0,
	      "127.0.0.1 refused, ::1 reached (%.*s | %.*s)", (int)t.ch[0].len, t.ch[0].data,
	      (int)t.ch[1].len, t.ch[1].data);
	s->ops->gone(s);
	tconn_free(&t);
	reap(&srv);
}

static void test_reset(struct crid_loop *loop, struct crid_pods *pods)
{
	struct crid_sandbox *sb = add_pod(pods, "reset", true);
	struct server srv = host_server("x", SERVE_RESET, 0);
	struct tconn t;
	struct crid_stream_session *s = open_session(loop, pods, sb, &t);

	s->ops->pair(s, 0, srv.port);
	feed(s, 0, 64);
	run_until(loop, &t.ch[1].closed, 10);
	CHECK(t.ch[1].len && !has(&t, 1, "closeConnection") &&
		  has(&t, 1, "Connection reset by peer"),
	      "a reset is reported without closeConnection (%.*s)", (int)t.ch[1].len, t.ch[1].data);
	s->ops->gone(s);
	tconn_free(&t);
	reap(&srv);
}

static void test_stall(struct crid_loop *loop, struct crid_pods *pods)
{
	struct crid_sandbox *sb = add_pod(pods, "stall", true);
	struct server srv = host_server("", SERVE_BIG, 0);
	struct tconn t;
	struct crid_stream_session *s = open_session(loop, pods, sb, &t);

	t.pending = CRID_STREAM_HIGH_WATER;
	s->ops->pair(s, 0, srv.port);
	run_until(loop, NULL, 0.3);
	CHECK(t.ch[0].len == 0, "nothing read while the connection is over its high-water mark");
	t.pending = 0;
	s->ops->drained(s);
	run_until(loop, &t.ch[0].closed, 10);
	CHECK(t.ch[0].len == big, "after drained() all %zu bytes came (%zu)", big, t.ch[0].len);
	s->ops->gone(s);
	tconn_free(&t);
	reap(&srv);
}

static void test_pause(struct crid_loop *loop, struct crid_pods *pods)
{
	struct crid_sandbox *sb = add_pod(pods, "pause", true);
	struct server srv = host_server("", SERVE_LATE, 4096);
	struct tconn t;
	struct crid_stream_session *s = open_session(loop, pods, sb, &t);
	size_t sent = 0;
	char want[64];

	s->ops->pair(s, 0, srv.port);
	run_until(loop, NULL, 0.2); /* connected */
	while (!t.paused && sent < (64u << 20)) {
		feed(s, 0, 64 << 10);
		sent += 64 << 10;
		run_until(loop, NULL, 0.001);
	}
	CHECK(t.paused, "input paused while the pod does not read (after %zu bytes)", sent);
	if (write(srv.go, "g", 1) != 1)
		abort();
	run_until(loop, NULL, 0);
	for (double end = ev_time() + 10; t.paused && ev_time() < end;)
		run_until(loop, NULL, 0.05);
	CHECK(!t.paused, "input resumed once the pod read");
	s->ops->eof(s, 0);
	run_until(loop, &t.ch[0].closed, 10);
	snprintf(want, sizeof(want), "n=%zu", sent);
	CHECK(has(&t, 0, want), "the pod got every byte: %s (%.*s)", want, (int)t.ch[0].len,
	      t.ch[0].data);
	s->ops->gone(s);
	tconn_free(&t);
	reap(&srv);
}

static void test_pod_ends_first(struct crid_loop *loop, struct crid_pods *pods)
{
	struct crid_sandbox *sb = add_pod(pods, "half", true);
	struct server srv = host_server("hi ", SERVE_HALF, 0);
	struct server idle = host_server("idle ", SERVE_HALF, 0);
	struct tconn t;
	struct crid_stream_session *s = open_session(loop, pods, sb, &t);
	char got[64] = "";
	double t0;

	s->ops->pair(s, 0, srv.port);
	run_until(loop, &t.ch[0].closed, 10);
	CHECK(t.ch[0].closed && has(&t, 0, "hi "), "the pod's end is a FIN on the data channel");
	CHECK(!t.ch[1].closed, "the pair goes on: the client may still send");
	for (int i = 0; i < 8; i++) { /* an upload longer than the linger */
		feed(s, 0, 128 << 10);
		run_until(loop, NULL, 0.25);
	}
	CHECK(!t.ch[1].closed, "not ended while the client sends");
	s->ops->eof(s, 0);
	run_until(loop, &t.ch[1].closed, 10);
	CHECK(t.ch[1].closed && t.ch[1].len == 0, "the client's end ends the pair, no error");
	CHECK(read(srv.go, got, sizeof(got) - 1) > 0 && strcmp(got, "n=1048576") == 0,
	      "the pod read all the client sent after its own end (%s)", got);

	s->ops->pair(s, 1, idle.port);
	run_until(loop, &t.ch[2].closed, 10);
	t0 = ev_time();
	run_until(loop, &t.ch[3].closed, 10);
	CHECK(t.ch[3].closed && ev_time() - t0 > 0.5,
	      "a client silent after the pod's end: the pair ends after the linger (%.2f s)",
	      ev_time() - t0);
	s->ops->gone(s);
	tconn_free(&t);
	reap(&srv);
	reap(&idle);
}

static void test_fixed_pairs_finish(struct crid_loop *loop, struct crid_pods *pods)
{
	struct crid_sandbox *sb = add_pod(pods, "fixed", true);
	struct server srv = host_server("ws ", SERVE_COUNT, 0);
	int lfd = listener(0, 0);
	uint16_t refused = port_of(lfd);
	size_t mem = crid_mem_used();
	struct crid_err err = { 0 };
	struct crid_stream_req *req = crid_calloc(1, sizeof(*req));
	struct crid_stream_session *s;
	struct tconn t;

	close(lfd);
	req->kind = CRID_STREAM_PORTFORWARD;
	memcpy(req->id, sb->id, sizeof(req->id));
	req->ports = crid_calloc(2, sizeof(*req->ports));
	req->ports[0] = refused, req->ports[1] = srv.port, req->n_ports = 2;
	s = crid_port_forward_new(loop, pods, req, &err);
	tconn_init(&t);
	t.base.fixed_pairs = true; /* a WebSocket: one pair per requested port */
	s->conn = &t.base;
	s->ops->pair(s, 0, refused);
	run_until(loop, &t.ch[1].closed, 10);
	CHECK(t.ch[1].closed && !t.finished, "first pair failed, the second still to come");
	s->ops->pair(s, 1, srv.port);
	s->ops->eof(s, 2);
	run_until(loop, &t.finished, 10);
	CHECK(t.finished && has(&t, 2, "ws n=0") && t.ch[3].closed,
	      "finish() once every requested port's pair ended");
	CHECK(crid_mem_used() <= mem, "the session freed itself after finish() (%zu -> %zu)", mem,
	      crid_mem_used());
	tconn_free(&t);
	reap(&srv);
}

static void test_pair_limit(struct crid_loop *loop, struct crid_pods *pods)
{
	struct crid_sandbox *sb = add_pod(pods, "limit", true);
	struct rlimit rl;
	int lfd = listener(0, 0); /* never accepts: every pair stays open */
	uint16_t port = port_of(lfd);
	struct tconn *t = calloc(1, sizeof(*t));
	struct crid_stream_session *s;
	int before = count_fds();

	getrlimit(RLIMIT_NOFILE, &rl);
	if (rl.rlim_max < 1200) {
		tap_skip("1024 pairs per connection", "RLIMIT_NOFILE hard limit under 1200");
		close(lfd);
		free(t);
		return;
	}
	rl.rlim_cur = rl.rlim_max;
	setrlimit(RLIMIT_NOFILE, &rl);
	s = open_session(loop, pods, sb, t);
	for (unsigned k = 0; k < 1025; k++)
		s->ops->pair(s, k, port);
	CHECK(!t->ch[2 * 1023 + 1].closed, "pair 1024 open");
	CHECK(t->ch[2 * 1024 + 1].closed && has(t, 2 * 1024 + 1, "too many forwarded connections"),
	      "pair 1025 refused on its error channel (%.*s)", (int)t->ch[2049].len,
	      t->ch[2049].data);
	s->ops->gone(s);
	CHECK(count_fds() == before, "gone() closed 1024 sockets (%d -> %d)", before, count_fds());
	tconn_free(t);
	free(t);
	close(lfd);
}

static void test_gone_closes(struct crid_loop *loop, struct crid_pods *pods)
{
	struct crid_sandbox *sb = add_pod(pods, "gone", true);
	struct server a = host_server("a", SERVE_LATE, 0), b = host_server("b", SERVE_LATE, 0);
	int before = count_fds();
	struct tconn t;
	struct crid_stream_session *s = open_session(loop, pods, sb, &t);
	bool never = false;

	s->ops->pair(s, 0, a.port);
	s->ops->pair(s, 1, b.port);
	run_until(loop, &never, 0.3);
	CHECK(has(&t, 0, "a") && has(&t, 2, "b"), "two pairs at once on one session");
	CHECK(count_fds() == before + 3, "a socket per pair and the namespace fd (%d -> %d)",
	      before, count_fds());
	s->ops->gone(s);
	tconn_free(&t);
	CHECK(count_fds() == before, "gone() closes them all (%d)", count_fds());
	reap(&a);
	reap(&b);
}

static void test_pod_not_ready(struct crid_loop *loop, struct crid_pods *pods)
{
	struct crid_sandbox *sb = add_pod(pods, "notready", false);
	struct tconn t;
	struct crid_stream_session *s = open_session(loop, pods, sb, &t);

	sb->state = CRID_SANDBOX_NOTREADY;
	s->ops->pair(s, 0, 80);
	CHECK(t.ch[0].closed && t.ch[1].closed && has(&t, 1, "is not ready"),
	      "a pod stopped since the RPC: the pair fails at once (%.*s)", (int)t.ch[1].len,
	      t.ch[1].data);
	s->ops->gone(s);
	tconn_free(&t);
}

static void test_error_json(void)
{
	char out[CRID_PF_ERROR_MAX];
	size_t n =
	    crid_pf_error_json(out, sizeof(out), 8080, "abc", "x \"<y>\" & \\ \n\x01", false);
	const char *want = "{\"message\":\"error forwarding port 8080 to pod abc, uid : x "
			   "\\\"\\u003cy\\u003e\\\" \\u0026 \\\\ \\n\\u0001\"}\n";

	CHECK(n == strlen(want) && strcmp(out, want) == 0, "JSON escaped as Go's encoder (%s)",
	      out);
	n = crid_pf_error_json(out, 128, 1, "p",
			       "long cause long cause long cause long cause "
			       "long cause long cause long cause long cause",
			       true);
	CHECK(n == strlen(out) && n < 128 && strcmp(out + n - 3, "\"}\n") == 0 &&
		  strncmp(out, "{\"closeConnection\":true,", 24) == 0,
	      "a cause too long is cut, the object stays whole (%s)", out);
	CHECK(crid_pf_error_keeps_connection(EPIPE) && crid_pf_error_keeps_connection(ECONNRESET) &&
		  !crid_pf_error_keeps_connection(ECONNREFUSED),
	      "EPIPE and ECONNRESET keep the connection");
}

int main(void)
{
	char root[] = "/tmp/crid-test-pf-XXXXXX";
	struct crid_loop loop;
	struct crid_pods pods = { 0 };
	struct crid_err err = { 0 };

	signal(SIGPIPE, SIG_IGN);
	test_error_json();
	if (geteuid() != 0) {
		tap_skip("port-forward sessions", "needs root for network namespaces");
		return tap_done();
	}
	if (!mkdtemp(root) || crid_loop_init(&loop, on_signal, NULL, &err) < 0 ||
	    crid_sandbox_store_open(root, root, &pods.store, &err) < 0) {
		printf("# setup: %s\n", err.msg);
		return 1;
	}
	pods.loop = &loop;
	test_both_ways(&loop, &pods);
	test_pod_netns(&loop, &pods);
	test_refused(&loop, &pods);
	test_ipv6_fallback(&loop, &pods);
	test_reset(&loop, &pods);
	test_stall(&loop, &pods);
	test_pause(&loop, &pods);
	test_pod_ends_first(&loop, &pods);
	test_fixed_pairs_finish(&loop, &pods);
	test_pair_limit(&loop, &pods);
	test_gone_closes(&loop, &pods);
	test_pod_not_ready(&loop, &pods);
	crid_sandbox_store_close(pods.store);
	crid_loop_destroy(&loop);
	{
		char cmd[128];

		snprintf(cmd, sizeof(cmd), "rm -rf %s", root);
		if (system(cmd) != 0)
			printf("# could not remove %s\n", root);
	}
	return tap_done();
}
