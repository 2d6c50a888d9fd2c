/*
 * A test server on crid's own gRPC transport (io/grpc_server) with methods
 * the CRI does not have yet, so the integration tests can drive server
 * streaming, deferred replies and cancellation hooks through grpcio:
 *
 *   /test.Echo/Unary   echoes the request
 *   /test.Echo/Stream  request = count (4 bytes BE) + size (4 bytes BE):
 *                      sends |count| messages of |size| bytes, one per loop
 *                      iteration, then OK
 *   /test.Echo/Hold    never answers; prints "cancelled status=N" on stdout
 *                      when the server cancels it (RST_STREAM, deadline,
 *                      connection closed)
 *
 * Usage: grpc_echo_server SOCKET. Prints "ready" once listening; exits 0 on SIGTERM
 * after a graceful shutdown.
 */
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "io/grpc_server.h"
#include "io/unix_listener.h"
#include "reactor/mem.h"

struct stream_op {
	struct crid_grpc_call *call;
	ev_idle idle;
	uint32_t left, size;
	uint8_t seq;
};

static struct crid_loop loop;
static struct crid_grpc_server *server;

static void stream_op_free(struct stream_op *op)
{
	ev_idle_stop(loop.ev, &op->idle);
	crid_free(op);
}

static void stream_step(struct ev_loop *ev, ev_idle *w, int revents)
{
	struct stream_op *op = w->data;
	uint8_t *p;

	(void)ev;
	(void)revents;
	if (op->left == 0) {
		crid_grpc_call_finish(op->call, CRID_GRPC_OK, NULL);
		stream_op_free(op);
		return;
	}
	p = crid_grpc_call_reserve(op->call, op->size);
	if (!p) {
		crid_grpc_call_finish(op->call, CRID_GRPC_RESOURCE_EXHAUSTED, "queue full");
		stream_op_free(op);
		return;
	}
	memset(p, op->seq++, op->size);
	op->left--;
}

static void stream_cancelled(struct crid_grpc_call *call, int status, void *user)
{
	(void)call;
	printf("cancelled stream status=%d\n", status);
	fflush(stdout);
	stream_op_free(user);
}

static void hold_cancelled(struct crid_grpc_call *call, int status, void *user)
{
	(void)call;
	(void)user;
	printf("cancelled status=%d\n", status);
	fflush(stdout);
}

static void start_stream(struct crid_grpc_call *call, const uint8_t *msg, size_t len)
{
	struct stream_op *op;

	if (len != 8) {
		crid_grpc_call_finish(call, CRID_GRPC_INVALID_ARGUMENT, "request: want 8 bytes");
		return;
	}
	op = crid_calloc(1, sizeof(*op));
	if (!op) {
		crid_grpc_call_finish(call, CRID_GRPC_RESOURCE_EXHAUSTED, "out of memory");
		return;
	}
	op->call = call;
	op->left = (uint32_t)msg[0] << 24 | (uint32_t)msg[1] << 16 | (uint32_t)msg[2] << 8 | msg[3];
	op->size = (uint32_t)msg[4] << 24 | (uint32_t)msg[5] << 16 | (uint32_t)msg[6] << 8 | msg[7];
	ev_idle_init(&op->idle, stream_step);
	op->idle.data = op;
	ev_idle_start(loop.ev, &op->idle);
	crid_grpc_call_on_cancel(call, stream_cancelled, op);
}

static void dispatch(struct crid_grpc_call *call, const char *path, const uint8_t *msg, size_t len,
		     void *user)
{
	(void)user;
	if (strcmp(path, "/test.Echo/Unary") == 0) {
		if (crid_grpc_call_send(call, msg, len) < 0)
			crid_grpc_call_finish(call, CRID_GRPC_RESOURCE_EXHAUSTED, "queue full");
		else
			crid_grpc_call_finish(call, CRID_GRPC_OK, NULL);
	} else if (strcmp(path, "/test.Echo/Stream") == 0) {
		start_stream(call, msg, len);
	} else if (strcmp(path, "/test.Echo/Hold") == 0) {
		crid_grpc_call_on_cancel(call, hold_cancelled, NULL);
	} else {
		crid_grpc_call_finish(call, CRID_GRPC_UNIMPLEMENTED, path);
	}
}

static void shutdown_done(void *user)
{
	(void)user;
	crid_loop_stop(&loop);
}

static void on_signal(struct crid_loop *l, int signo, void *user)
{
	(void)l;
	(void)user;
	if (signo == SIGTERM || signo == SIGINT)
		crid_grpc_server_shutdown(server, shutdown_done, NULL);
}

int main(int argc, char **argv)
{
	struct crid_err err;
	int fd;

	if (argc != 2) {
		fprintf(stderr, "usage: grpc_echo_server SOCKET\n");
		return 2;
	}
	if (crid_loop_init(&loop, on_signal, NULL, &err) < 0 ||
	    (fd = crid_unix_listen(argv[1], 0600, (gid_t)-1, &err)) < 0 ||
	    !(server = crid_grpc_server_new(&loop, fd, dispatch, NULL, &err))) {
		fprintf(stderr, "grpc_echo_server: %s\n", err.msg);
		return 1;
	}
	printf("ready\n");
	fflush(stdout);
	crid_loop_run(&loop);
	crid_grpc_server_free(server);
	crid_loop_destroy(&loop);
	return 0;
}
