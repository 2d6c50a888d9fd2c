/*
 * libFuzzer target for every CRI request through the real router and
 * handlers: byte 0 picks a method of the RuntimeService or ImageService
 * descriptors, the rest is its request message. A well-formed HTTP/2 gRPC
 * call carrying it (built by an nghttp2 client session) goes into the real
 * gRPC server on a socketpair, so protobuf decoding, the UTF-8 walk and each
 * handler's validation run as in the daemon. The daemon has an image store
 * in a temporary dir but no pods, containers or puller (the runtime is not
 * started): nothing outside that dir is touched. RunPodSandbox validates its
 * config before it needs the pods, so the pod config's checks run too.
 *
 * Checks: every call but the GetContainerEvents stream ends with a
 * grpc-status, non-OK ones carry a message, and INTERNAL is only the
 * undecodable request's answer, RunPodSandbox's INVALID_ARGUMENT names a
 * field of the request; the connection closes when the peer does.
 */
#include <nghttp2/nghttp2.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <unistd.h>

#include "proto/api.pb-c.h"
#include "tests/fuzz/fuzz_daemon.h"

#define MAX_BODY (256u << 10)

static struct crid_grpc_server *server;

struct call {
	uint8_t *body; /* 5-byte gRPC prefix + message */
	size_t len, off;
	int status; /* grpc-status, -1 until seen */
	char message[256];
	int closed;
};

static const ProtobufCMethodDescriptor *pick(uint8_t b, const char **service)
{
	const ProtobufCServiceDescriptor *rt = &runtime__v1__runtime_service__descriptor;
	const ProtobufCServiceDescriptor *img = &runtime__v1__image_service__descriptor;
	unsigned i = b % (rt->n_methods + img->n_methods);

	*service = i < rt->n_methods ? rt->name : img->name;
	return i < rt->n_methods ? &rt->methods[i] : &img->methods[i - rt->n_methods];
}

static ssize_t read_body(nghttp2_session *s, int32_t id, uint8_t *buf, size_t len, uint32_t *flags,
			 nghttp2_data_source *src, void *user)
{
	struct call *c = src->ptr;
	size_t n = c->len - c->off < len ? c->len - c->off : len;

	(void)s;
	(void)id;
	(void)user;
	memcpy(buf, c->body + c->off, n);
	c->off += n;
	if (c->off == c->len)
		*flags |= NGHTTP2_DATA_FLAG_EOF;
	return (ssize_t)n;
}

static int on_header(nghttp2_session *s, const nghttp2_frame *f, const uint8_t *name,
		     size_t namelen, const uint8_t *value, size_t valuelen, uint8_t flags,
		     void *user)
{
	struct call *c = user;

	(void)s;
	(void)f;
	(void)flags;
	if (namelen == 11 && memcmp(name, "grpc-status", 11) == 0)
		c->status = atoi((const char *)value);
	if (namelen == 12 && memcmp(name, "grpc-message", 12) == 0)
		snprintf(c->message, sizeof(c->message), "%.*s", (int)valuelen, value);
	return 0;
}

static int on_close(nghttp2_session *s, int32_t id, uint32_t code, void *user)
{
	(void)s;
	(void)id;
	(void)code;
	((struct call *)user)->closed = 1;
	return 0;
}

static nghttp2_session *client_new(struct call *c, const char *path)
{
	nghttp2_session_callbacks *cb;
	nghttp2_session *s;
	const nghttp2_nv hdrs[] = {
#define NV(n, v) { (uint8_t *)n, (uint8_t *)v, strlen(n), strlen(v), NGHTTP2_NV_FLAG_NONE }
		NV(":method", "POST"),
		NV(":scheme", "http"),
		NV(":authority", "localhost"),
		NV(":path", path),
		NV("content-type", "application/grpc"),
		NV("te", "trailers"),
#undef NV
	};
	nghttp2_data_provider data = { .source.ptr = c, .read_callback = read_body };

	if (nghttp2_session_callbacks_new(&cb) != 0)
		abort();
	nghttp2_session_callbacks_set_on_header_callback(cb, on_header);
	nghttp2_session_callbacks_set_on_stream_close_callback(cb, on_close);
	if (nghttp2_session_client_new(&s, cb, c) != 0)
		abort();
	nghttp2_session_callbacks_del(cb);
	if (nghttp2_submit_settings(s, NGHTTP2_FLAG_NONE, NULL, 0) != 0 ||
	    nghttp2_submit_request(s, NULL, hdrs, sizeof(hdrs) / sizeof(hdrs[0]), &data, NULL) < 0)
		abort();
	return s;
}

/* Client bytes to the server, the server's answer back, until the stream closes. */
static void exchange(nghttp2_session *s, struct call *c, int fd, int max_rounds)
{
	uint8_t buf[65536];

	for (int round = 0; round < max_rounds && !c->closed; round++) {
		const uint8_t *out;
		ssize_t n = nghttp2_session_mem_send(s, &out);

		for (ssize_t off = 0; n > 0 && off < n;) {
			ssize_t w = write(fd, out + off, (size_t)(n - off));

			if (w > 0)
				off += w;
			ev_run(fuzz_loop.ev, EVRUN_NOWAIT);
			while ((w = read(fd, buf, sizeof(buf))) > 0)
				if (nghttp2_session_mem_recv(s, buf, (size_t)w) < 0)
					abort(); /* the server spoke invalid HTTP/2 */
		}
		ev_run(fuzz_loop.ev, EVRUN_NOWAIT);
		for (ssize_t r; (r = read(fd, buf, sizeof(buf))) > 0;)
			if (nghttp2_session_mem_recv(s, buf, (size_t)r) < 0)
				abort();
		if (n == 0 && !nghttp2_session_want_write(s) && round > 8 && c->status >= 0)
			break;
	}
}

static void check(const struct call *c, const char *method)
{
	if (strcmp(method, "GetContainerEvents") == 0)
		return; /* a stream that lasts until the client leaves */
	if (!c->closed || c->status < 0 || c->status > 16)
		abort(); /* every unary call ends with a status */
	if (c->status != 0 && !c->message[0])
		abort(); /* a failure says what failed */
	if (c->status == 13 && strncmp(c->message, "grpc: error unmarshalling", 25) != 0)
		abort(); /* INTERNAL is a bug unless the request did not decode */
	if (strcmp(method, "RunPodSandbox") != 0)
		return;
	/* its validation runs before the missing pods are noticed: a refusal names its field */
	if (c->status == 0 || (c->status == 3 && strncmp(c->message, "config", 6) != 0 &&
			       strncmp(c->message, "runtime_handler", 15) != 0))
		abort();
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	const ProtobufCMethodDescriptor *m;
	struct call c = { .status = -1 };
	const char *service;
	nghttp2_session *s;
	char path[128];
	int sv[2];

	if (size < 1 || size - 1 > MAX_BODY)
		return 0;
	if (!server)
		server = fuzz_daemon_start("crid-fuzz-handlers-", false);
	m = pick(data[0], &service);
	snprintf(path, sizeof(path), "/%s/%s", service, m->name);
	c.len = 5 + size - 1;
	c.body = malloc(c.len);
	if (!c.body)
		abort();
	c.body[0] = 0;
	c.body[1] = (uint8_t)((size - 1) >> 24);
	c.body[2] = (uint8_t)((size - 1) >> 16);
	c.body[3] = (uint8_t)((size - 1) >> 8);
	c.body[4] = (uint8_t)(size - 1);
	memcpy(c.body + 5, data + 1, size - 1);
	if (socketpair(AF_UNIX, SOCK_STREAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0, sv) < 0 ||
	    crid_grpc_server_adopt(server, sv[0]) < 0)
		abort();
	s = client_new(&c, path);
	/* GetContainerEvents never ends by itself: a few rounds see it accepted */
	exchange(s, &c, sv[1], strcmp(m->name, "GetContainerEvents") == 0 ? 8 : 1000);
	check(&c, m->name);
	nghttp2_session_del(s);
	close(sv[1]);
	for (int i = 0; i < 100 && crid_grpc_server_connections(server) > 0; i++)
		ev_run(fuzz_loop.ev, EVRUN_NOWAIT);
	if (crid_grpc_server_connections(server) != 0)
		abort(); /* a closed peer must always close the connection */
	free(c.body);
	return 0;
}
