/*
 * Unit tests for runtime/stream/stream_server: on a real loop and real TCP
 * sockets, what the server hands over after a 101. The session and
 * connection constructors are defined here (the real ones are other
 * modules'; these record what they are given and use the socket for real):
 * the SPDY version and the WebSocket subprotocol negotiated, the bytes the
 * client sent after its head (|pre|), the request taken from the token, the
 * socket itself (the connection writes to it, the client reads that after
 * the 101), the session freed when the connection cannot be made, a 500
 * when the session cannot be, the open sessions counted, every connection
 * aborted by stop, and no byte leaked.
 */
#include <arpa/inet.h>
#include <errno.h>
#include <netinet/in.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <unistd.h>

#include "reactor/mem.h"
#include "runtime/stream/port_forward.h"
#include "runtime/stream/remote_cmd.h"
#include "runtime/stream/spdy_conn.h"
#include "runtime/stream/stream_server.h"
#include "runtime/stream/ws_conn.h"
#include "tap.h"

static struct crid_loop loop;

/* ---- the session and the connection, as recorded ---- */

struct session {
	struct crid_stream_session s;
	struct crid_stream_req *req;
};

static struct {
	bool fail_session, fail_conn;
	int sessions_made, sessions_freed, conns_made, aborted;
	int version;
	enum crid_ws_proto proto;
	bool ws;
	char pre[64];
	size_t pre_len;
	enum crid_stream_kind kind;
	char argv0[16];
	uint16_t port0;
} rec;

static struct crid_stream_session *session(struct crid_stream_req *req, struct crid_err *err)
{
	struct session *s;

	if (rec.fail_session) {
		crid_err_set(err, EIO, "session refused by the test");
		return NULL;
	}
	s = crid_calloc(1, sizeof(*s));
	s->req = req;
	rec.sessions_made++;
	return &s->s;
}

static void session_free(struct crid_stream_session *ss)
{
	struct session *s = (struct session *)ss;

	crid_stream_req_free(s->req);
	crid_free(s);
	rec.sessions_freed++;
}

struct crid_stream_session *crid_remote_cmd_new(struct crid_loop *l, struct crid_ctrs *ctrs,
						struct crid_stream_req *req, struct crid_err *err)
{
	(void)l, (void)ctrs;
	return session(req, err);
}

void crid_remote_cmd_free(struct crid_stream_session *s)
{
	session_free(s);
}

struct crid_stream_session *crid_port_forward_new(struct crid_loop *l, struct crid_pods *pods,
						  struct crid_stream_req *req, struct crid_err *err)
{
	(void)l, (void)pods;
	return session(req, err);
}

void crid_port_forward_free(struct crid_stream_session *s)
{
	session_free(s);
}

struct conn {
	struct crid_stream_conn c;
	struct crid_stream_session *s;
	int fd;
};

static void conn_abort(struct crid_stream_conn *c)
{
	struct conn *k = (struct conn *)c;

	rec.aborted++;
	crid_stream_conns_unlink(c);
	close(k->fd);
	session_free(k->s); /* gone() */
	crid_free(k);
}

static struct crid_stream_conn *conn(int fd, const uint8_t *pre, size_t pre_len,
				     const struct crid_stream_req *req,
				     struct crid_stream_session *s, struct crid_stream_conns *list,
				     const struct crid_stream_limits *limits, struct crid_err *err)
{
	struct conn *k;

	rec.pre_len = pre_len < sizeof(rec.pre) ? pre_len : sizeof(rec.pre);
	memcpy(rec.pre, pre, rec.pre_len);
	rec.kind = req->kind;
	rec.argv0[0] = '\0';
	if (req->argc)
		snprintf(rec.argv0, sizeof(rec.argv0), "%s", req->argv[0]);
	rec.port0 = req->n_ports ? req->ports[0] : 0;
	if (rec.fail_conn || limits->creation != 30 || limits->idle != 4 * 3600) {
		close(fd);
		crid_err_set(err, EIO, "connection refused by the test");
		return NULL;
	}
	k = crid_calloc(1, sizeof(*k));
	k->s = s;
	k->fd = fd;
	k->c.abort = conn_abort;
	crid_stream_conns_link(list, &k->c);
	rec.conns_made++;
	send(fd, "hello", 5, MSG_NOSIGNAL); /* the socket is the client's */
	return &k->c;
}

struct crid_stream_conn *crid_spdy_conn_new(struct crid_loop *l, int fd, const uint8_t *pre,
					    size_t pre_len, const struct crid_stream_req *req,
					    int version, struct crid_stream_session *s,
					    struct crid_stream_conns *list,
					    const struct crid_stream_limits *limits,
					    struct crid_err *err)
{
	(void)l;
	rec.ws = false;
	rec.version = version;
	return conn(fd, pre, pre_len, req, s, list, limits, err);
}

struct crid_stream_conn *crid_ws_conn_new(struct crid_loop *l, int fd, const uint8_t *pre,
					  size_t pre_len, const struct crid_stream_req *req,
					  enum crid_ws_proto proto, struct crid_stream_session *s,
					  struct crid_stream_conns *list,
					  const struct crid_stream_limits *limits,
					  struct crid_err *err)
{
	(void)l;
	rec.ws = true;
	rec.proto = proto;
	return conn(fd, pre, pre_len, req, s, list, limits, err);
}

/* ---- the client ---- */

static struct crid_stream_req *exec_req(void)
{
	struct crid_stream_req *r = crid_calloc(1, sizeof(*r));

	r->kind = CRID_STREAM_EXEC;
	r->argc = 1;
	r->argv = crid_calloc(2, sizeof(char *));
	r->argv[0] = crid_strdup("date");
	r->stdout = true;
	return r;
}

static void spin(double seconds)
{
	double end = ev_time() + seconds;

	while (ev_time() < end)
		ev_run(loop.ev, EVRUN_NOWAIT);
}

/* Connects to |url|'s host and port, sends |head| then |after|, runs the loop; returns the socket. */
static int client(const char *url, const char *head, const char *after)
{
	struct sockaddr_in sa = { .sin_family = AF_INET };
	const char *colon = strrchr(url, ':');
	int fd = socket(AF_INET, SOCK_STREAM, 0);
	char buf[1024];

	sa.sin_port = htons((uint16_t)atoi(colon + 1));
	inet_pton(AF_INET, "127.0.0.1", &sa.sin_addr);
	if (connect(fd, (struct sockaddr *)&sa, sizeof(sa)) < 0)
		return -1;
	snprintf(buf, sizeof(buf), "%s%s", head, after);
	send(fd, buf, strlen(buf), 0);
	spin(0.2);
	return fd;
}

static size_t drain(int fd, char *buf, size_t size)
{
	ssize_t n = recv(fd, buf, size - 1, MSG_DONTWAIT);

	buf[n > 0 ? n : 0] = '\0';
	return n > 0 ? (size_t)n : 0;
}

static const char *path_of(const char *url)
{
	return strchr(url + strlen("http://"), '/');
}

static void test_spdy_hand_over(struct crid_stream_server *srv)
{
	char url[256], head[512], got[1024];
	struct crid_err err;
	int fd;

	memset(&rec, 0, sizeof(rec));
	CHECK(crid_stream_server_url(srv, exec_req(), url, sizeof(url), &err) == 0, "exec url %s",
	      url);
	CHECK(strncmp(url, crid_stream_server_base(srv), strlen(crid_stream_server_base(srv))) ==
		      0 &&
		  strstr(url, "/exec/"),
	      "url on the base");
	CHECK(crid_stream_server_tokens(srv) == 1, "one token cached");
	snprintf(head, sizeof(head),
		 "POST %s HTTP/1.1\r\nConnection: Upgrade\r\nUpgrade: SPDY/3.1\r\n"
		 "X-Stream-Protocol-Version: v4.channel.k8s.io\r\n\r\n",
		 path_of(url));
	fd = client(url, head, "\x80\x03SYN");
	drain(fd, got, sizeof(got));
	CHECK(strcmp(got, "HTTP/1.1 101 Switching Protocols\r\nConnection: Upgrade\r\n"
			  "Upgrade: SPDY/3.1\r\nX-Stream-Protocol-Version: v4.channel.k8s.io\r\n"
			  "\r\nhello") == 0,
	      "101 then the connection's own bytes on the same socket: `%s`", got);
	CHECK(rec.conns_made == 1 && !rec.ws && rec.version == 4, "SPDY connection, version %d",
	      rec.version);
	CHECK(rec.pre_len == 5 && memcmp(rec.pre, "\x80\x03SYN", 5) == 0,
	      "the bytes after the head go to the connection (%zu)", rec.pre_len);
	CHECK(rec.kind == CRID_STREAM_EXEC && strcmp(rec.argv0, "date") == 0,
	      "the cached request reaches it");
	CHECK(crid_stream_server_sessions(srv) == 1 && crid_stream_server_tokens(srv) == 0,
	      "one session, the token used");
	close(fd);
}

static void test_ws_hand_over(struct crid_stream_server *srv)
{
	struct crid_stream_req *r = crid_calloc(1, sizeof(*r));
	char url[256], head[512], got[1024];
	struct crid_err err;
	int fd;

	memset(&rec, 0, sizeof(rec));
	r->kind = CRID_STREAM_PORTFORWARD;
	r->ports = crid_calloc(1, sizeof(uint16_t));
	r->ports[0] = 8080;
	r->n_ports = 1;
	crid_stream_server_url(srv, r, url, sizeof(url), &err);
	snprintf(head, sizeof(head),
		 "GET %s?ports=1 HTTP/1.1\r\nConnection: Upgrade\r\nUpgrade: websocket\r\n"
		 "Sec-WebSocket-Version: 13\r\nSec-WebSocket-Key: dGhlIHNhbXBsZSBub25jZQ==\r\n"
		 "Sec-WebSocket-Protocol: v4.channel.k8s.io\r\n\r\n",
		 path_of(url));
	fd = client(url, head, "");
	drain(fd, got, sizeof(got));
	CHECK(strstr(got, "HTTP/1.1 101 ") == got &&
		  strstr(got, "Sec-WebSocket-Accept: s3pPLMBiTxaQ9kYGzzhZRbK+xOo=\r\n") &&
		  strstr(got, "Sec-WebSocket-Protocol: v4.channel.k8s.io\r\n\r\nhello"),
	      "WebSocket 101 then the connection's bytes");
	CHECK(rec.ws && rec.proto == CRID_WS_V4 && rec.pre_len == 0 &&
		  rec.kind == CRID_STREAM_PORTFORWARD && rec.port0 == 8080,
	      "port-forward over v4.channel.k8s.io with the request's ports");
	CHECK(crid_stream_server_sessions(srv) == 2, "two sessions open");
	close(fd);
}

static void test_failures(struct crid_stream_server *srv)
{
	char url[256], head[512], got[1024];
	struct crid_err err;
	int fd;

	memset(&rec, 0, sizeof(rec));
	rec.fail_conn = true;
	crid_stream_server_url(srv, exec_req(), url, sizeof(url), &err);
	snprintf(head, sizeof(head),
		 "POST %s HTTP/1.1\r\nConnection: Upgrade\r\nUpgrade: SPDY/3.1\r\n"
		 "X-Stream-Protocol-Version: v2.channel.k8s.io\r\n\r\n",
		 path_of(url));
	fd = client(url, head, "");
	drain(fd, got, sizeof(got));
	CHECK(rec.sessions_made == 1 && rec.sessions_freed == 1 && rec.conns_made == 0,
	      "a connection that cannot be made frees its session");
	CHECK(strstr(got, "HTTP/1.1 101 ") == got && drain(fd, got, sizeof(got)) == 0,
	      "the client sees the socket closed after the 101");
	close(fd);

	memset(&rec, 0, sizeof(rec));
	rec.fail_session = true;
	crid_stream_server_url(srv, exec_req(), url, sizeof(url), &err);
	snprintf(head, sizeof(head),
		 "POST %s HTTP/1.1\r\nConnection: Upgrade\r\nUpgrade: SPDY/3.1\r\n"
		 "X-Stream-Protocol-Version: v2.channel.k8s.io\r\n\r\n",
		 path_of(url));
	fd = client(url, head, "");
	drain(fd, got, sizeof(got));
	CHECK(strstr(got, "HTTP/1.1 500 ") == got && strstr(got, "session refused by the test"),
	      "no session: 500 with the cause");
	CHECK(crid_stream_server_sessions(srv) == 2, "still the two sessions");
	close(fd);
}

int main(void)
{
	struct crid_stream_server_opts o = { .address = "127.0.0.1" };
	struct crid_stream_server *srv;
	struct crid_err err;
	size_t mem0;

	if (crid_loop_init(&loop, NULL, NULL, &err) < 0) {
		printf("not ok 1 - loop: %s\n", err.msg);
		return 1;
	}
	mem0 = crid_mem_used();
	srv = crid_stream_server_start(&loop, &o, &err);
	if (!CHECK(srv, "server starts (%s)", srv ? "" : err.msg))
		return tap_done();
	test_spdy_hand_over(srv);
	test_ws_hand_over(srv);
	test_failures(srv);
	crid_stream_server_url(srv, exec_req(), (char[256]){ 0 }, 256, &err);
	memset(&rec, 0, sizeof(rec));
	crid_stream_server_stop(srv);
	CHECK(rec.aborted == 2 && rec.sessions_freed == 2, "stop aborts both connections");
	spin(0.05);
	CHECK(crid_mem_used() == mem0, "nothing leaked (%zd bytes)",
	      (ssize_t)(crid_mem_used() - mem0));
	crid_loop_destroy(&loop);
	return tap_done();
}
