/*
 * Arbitrary bytes through the whole request path: a connection adopted by
 * the real gRPC server, nghttp2, gRPC framing, the CRI router, protobuf
 * decoding and the handlers, exactly as the daemon wires them.
 */
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <unistd.h>

#include "tests/fuzz/fuzz_daemon.h"

static struct crid_grpc_server *server;

static void drain(int fd)
{
	char buf[65536];

	while (read(fd, buf, sizeof(buf)) > 0)
		;
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	int sv[2];
	size_t off = 0;

	if (!server)
		server = fuzz_daemon_start("crid-fuzz-", true);
	if (socketpair(AF_UNIX, SOCK_STREAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0, sv) < 0)
		abort();
	if (crid_grpc_server_adopt(server, sv[0]) < 0)
		abort();
	while (off < size) {
		ssize_t n = write(sv[1], data + off, size - off);

		if (n > 0)
			off += (size_t)n;
		ev_run(fuzz_loop.ev, EVRUN_NOWAIT);
		drain(sv[1]);
	}
	for (int i = 0; i < 4; i++) {
		ev_run(fuzz_loop.ev, EVRUN_NOWAIT);
		drain(sv[1]);
	}
	close(sv[1]);
	for (int i = 0; i < 100 && crid_grpc_server_connections(server) > 0; i++)
		ev_run(fuzz_loop.ev, EVRUN_NOWAIT);
	if (crid_grpc_server_connections(server) != 0)
		abort(); /* a closed peer must always close the connection */
	return 0;
}
