/*
 * io/grpc_server's server-streaming back-pressure, against an nghttp2
 * client in the same process on a socketpair that grants windows only when
 * the test says so: the ready callback runs only with the call's queue
 * empty, no more than one message is produced beyond what the client's
 * window takes, the stream resumes on WINDOW_UPDATE and completes in order,
 * a shrunk reservation goes out at its new length, an empty stream is a
 * Trailers-Only OK, and RST_STREAM on a waiting stream cancels it at once.
 */
#include <nghttp2/nghttp2.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <unistd.h>

#include "io/grpc_server.h"
#include "reactor/mem.h"
#include "tap.h"

#define MSG 4000
#define WINDOW 16384

/* ---- the server side: a producer of |total| messages ---- */

struct producer {
	struct crid_grpc_call *call;
	size_t total, sent;
	size_t max_queued_on_entry; /* the queue when the callback ran: always 0 */
	size_t produced;	    /* bytes queued so far, prefixes included */
	int cancelled;
};

static struct producer prod;

static void on_cancel(struct crid_grpc_call *call, int status, void *user)
{
	(void)call;
	(void)status;
	((struct producer *)user)->cancelled++;
}

static void on_ready(struct crid_grpc_call *call, void *user)
{
	struct producer *p = user;
	size_t q = crid_grpc_call_queued(call);
	uint8_t *m;

	if (q > p->max_queued_on_entry)
		p->max_queued_on_entry = q;
	if (p->sent == p->total) {
		crid_grpc_call_finish(call, 0, NULL);
		return;
	}
	m = crid_grpc_call_reserve(call, MSG + 100); /* too much: shrunk below */
	memset(m, (int)(p->sent & 0xff), MSG);
	crid_grpc_call_shrink(call, m, MSG);
	p->produced += MSG + CRID_GRPC_PREFIX_LEN;
	p->sent++;
}

static void dispatch(struct crid_grpc_call *call, const char *path, const uint8_t *msg, size_t len,
		     void *user)
{
	(void)path;
	(void)msg;
	(void)len;
	(void)user;
	prod.call = call;
	crid_grpc_call_on_cancel(call, on_cancel, &prod);
	crid_grpc_call_on_ready(call, on_ready, &prod);
}

/* ---- the client side ---- */

struct client {
	int fd;
	nghttp2_session *s;
	uint8_t data[1 << 20];
	size_t len;
	int status; /* grpc-status, -1 until seen */
	int closed;
	uint32_t close_code;
};

static struct client cl;

static int on_header(nghttp2_session *s, const nghttp2_frame *f, const uint8_t *name,
		     size_t namelen, const uint8_t *value, size_t valuelen, uint8_t flags, void *u)
{
	(void)s;
	(void)f;
	(void)flags;
	(void)u;
	if (namelen == 11 && memcmp(name, "grpc-status", 11) == 0 && valuelen < 8) {
		char v[8];

		memcpy(v, value, valuelen);
		v[valuelen] = '\0';
		cl.status = atoi(v);
	}
	return 0;
}

static int on_data(nghttp2_session *s, uint8_t flags, int32_t sid, const uint8_t *d, size_t len,
		   void *u)
{
	(void)s;
	(void)flags;
	(void)sid;
	(void)u;
	if (cl.len + len <= sizeof(cl.data))
		memcpy(cl.data + cl.len, d, len);
	cl.len += len;
	return 0;
}

static int on_close(nghttp2_session *s, int32_t sid, uint32_t code, void *u)
{
	(void)s;
	(void)sid;
	(void)u;
	cl.closed = 1;
	cl.close_code = code;
	return 0;
}

static void client_init(int fd)
{
	nghttp2_session_callbacks *cb;
	nghttp2_option *opt;
	nghttp2_settings_entry set[] = { { NGHTTP2_SETTINGS_INITIAL_WINDOW_SIZE, WINDOW } };

	cl.fd = fd;
	nghttp2_session_callbacks_new(&cb);
	nghttp2_session_callbacks_set_on_header_callback(cb, on_header);
	nghttp2_session_callbacks_set_on_data_chunk_recv_callback(cb, on_data);
	nghttp2_session_callbacks_set_on_stream_close_callback(cb, on_close);
	nghttp2_option_new(&opt);
	nghttp2_option_set_no_auto_window_update(opt, 1);
	nghttp2_session_client_new2(&cl.s, cb, NULL, opt);
	nghttp2_session_callbacks_del(cb);
	nghttp2_option_del(opt);
	nghttp2_submit_settings(cl.s, NGHTTP2_FLAG_NONE, set, 1);
}

static ssize_t req_read(nghttp2_session *s, int32_t sid, uint8_t *buf, size_t len, uint32_t *flags,
			nghttp2_data_source *src, void *u)
{
	(void)s;
	(void)sid;
	(void)len;
	(void)src;
	(void)u;
	memset(buf, 0, CRID_GRPC_PREFIX_LEN); /* one empty message */
	*flags |= NGHTTP2_DATA_FLAG_EOF;
	return CRID_GRPC_PREFIX_LEN;
}

static int32_t client_call(void)
{
	nghttp2_nv nv[] = {
#define NV(n, v) { (uint8_t *)n, (uint8_t *)v, sizeof(n) - 1, sizeof(v) - 1, 0 }
		NV(":method", "POST"),
		NV(":scheme", "http"),
		NV(":path", "/t/Stream"),
		NV(":authority", "x"),
		NV("content-type", "application/grpc"),
#undef NV
	};
	nghttp2_data_provider dp = { .read_callback = req_read };

	memset(&cl.data, 0, sizeof(cl.data));
	cl.len = 0, cl.status = -1, cl.closed = 0;
	return nghttp2_submit_request(cl.s, NULL, nv, 5, &dp, NULL);
}

/* Runs both sides until nothing moves for a few rounds. */
static void pump(struct crid_loop *loop)
{
	for (int idle = 0; idle < 5;) {
		const uint8_t *out;
		uint8_t buf[65536];
		ssize_t n, moved = 0;

		ev_run(loop->ev, EVRUN_NOWAIT);
		while ((n = nghttp2_session_mem_send(cl.s, &out)) > 0) {
			if (write(cl.fd, out, (size_t)n) != n)
				abort();
			moved += n;
		}
		ev_run(loop->ev, EVRUN_NOWAIT);
		while ((n = read(cl.fd, buf, sizeof(buf))) > 0) {
			nghttp2_session_mem_recv(cl.s, buf, (size_t)n);
			moved += n;
		}
		idle = moved ? 0 : idle + 1;
	}
}

/* Every message MSG bytes, each filled with its index. */
static size_t check_messages(void)
{
	size_t at = 0, k = 0;

	while (at + CRID_GRPC_PREFIX_LEN <= cl.len) {
		uint8_t c;
		uint32_t len = crid_grpc_prefix_read(cl.data + at, &c);

		if (len != MSG || at + CRID_GRPC_PREFIX_LEN + len > cl.len)
			return (size_t)-1;
		for (size_t i = 0; i < len; i++)
			if (cl.data[at + CRID_GRPC_PREFIX_LEN + i] != (k & 0xff))
				return (size_t)-1;
		at += CRID_GRPC_PREFIX_LEN + len;
		k++;
	}
	return at == cl.len ? k : (size_t)-1;
}

int main(void)
{
	struct crid_loop loop;
	struct crid_err err;
	struct crid_grpc_server *srv;
	int sv[2];
	int32_t sid;

	if (crid_loop_init(&loop, NULL, NULL, &err) < 0 ||
	    socketpair(AF_UNIX, SOCK_STREAM | SOCK_NONBLOCK, 0, sv) < 0)
		return 1;
	srv = crid_grpc_server_new(&loop, -1, dispatch, NULL, &err);
	crid_grpc_server_adopt(srv, sv[0]);
	client_init(sv[1]);

	/* 100 messages of 4000 bytes against a 16 KiB window granted by hand */
	prod = (struct producer){ .total = 100 };
	sid = client_call();
	pump(&loop);
	CHECK(cl.len <= WINDOW && cl.len > WINDOW - MSG, "the client got its window's worth: %zu",
	      cl.len);
	CHECK(prod.produced <= cl.len + MSG + CRID_GRPC_PREFIX_LEN,
	      "the producer stopped one message ahead of the window: %zu bytes made",
	      prod.produced);
	CHECK(prod.max_queued_on_entry == 0, "asked only with an empty queue");
	for (size_t read = 0, i = 0; i < 1000 && !cl.closed; i++) {
		nghttp2_session_consume(cl.s, sid, cl.len - read); /* WINDOW_UPDATE */
		read = cl.len;
		pump(&loop);
	}
	CHECK(cl.closed && cl.status == 0, "the stream ended with OK after the client read");
	CHECK(check_messages() == 100, "100 messages of the shrunk length, in order");
	CHECK(prod.max_queued_on_entry == 0 && prod.cancelled == 0, "never asked with a queue");

	/* an empty stream: Trailers-Only OK */
	prod = (struct producer){ .total = 0 };
	client_call();
	pump(&loop);
	CHECK(cl.closed && cl.status == 0 && cl.len == 0, "an empty stream: OK without a message");

	/* RST_STREAM while the stream waits for the window */
	prod = (struct producer){ .total = 1000 };
	sid = client_call();
	pump(&loop);
	CHECK(!cl.closed && prod.sent > 0 && prod.sent < 10, "waiting after %zu messages",
	      prod.sent);
	nghttp2_submit_rst_stream(cl.s, NGHTTP2_FLAG_NONE, sid, NGHTTP2_CANCEL);
	pump(&loop);
	CHECK(prod.cancelled == 1, "cancelled at once");
	CHECK(crid_grpc_server_active_calls(srv) == 0, "no call left");

	nghttp2_session_del(cl.s);
	close(sv[1]);
	crid_grpc_server_free(srv);
	crid_loop_destroy(&loop);
	printf("%d passed, %d failed\n", tap_passed, tap_failed);
	return tap_failed != 0;
}
