/*
 * Arbitrary bytes through the whole request path: a connection adopted by
 * the real gRPC server, nghttp2, gRPC framing, the CRI router, protobuf
 * decoding and the handlers, exactly as the daemon wires them.
 */
#include <ftw.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <unistd.h>

#include "handlers/handlers.h"
#include "handlers/pull.h"
#include "reactor/log.h"

static struct crid_loop loop;
static struct crid_config cfg;
static struct crid_host host;
static struct crid_daemon daemon_ctx;
static struct crid_grpc_server *server;
static char root[] = "/tmp/crid-fuzz-XXXXXX";

static int remove_one(const char *path, const struct stat *st, int flag, struct FTW *ftw)
{
	(void)st;
	(void)flag;
	(void)ftw;
	remove(path);
	return 0;
}

/* The state dir goes when the run ends (libFuzzer exits through exit()). */
static void remove_root(void)
{
	nftw(root, remove_one, 16, FTW_DEPTH | FTW_PHYS);
}

static void on_signal(struct crid_loop *l, int signo, void *user)
{
	(void)l;
	(void)signo;
	(void)user;
}

static void setup(void)
{
	struct crid_err err;
	char *argv[] = { "crid", NULL };
	enum crid_config_action action;

	crid_log_set_level(CRID_LOG_ERROR);
	if (!mkdtemp(root) || crid_config_from_args(&cfg, 1, argv, &action, &err) < 0 ||
	    crid_host_detect(&host, &cfg, &err) < 0 ||
	    crid_node_state_load(&daemon_ctx.node, root, &err) < 0 ||
	    crid_handlers_init(&err) < 0 || crid_loop_init(&loop, on_signal, NULL, &err) < 0)
		abort();
	atexit(remove_root);
	daemon_ctx.loop = &loop;
	daemon_ctx.cfg = &cfg;
	daemon_ctx.host = &host;
	daemon_ctx.cni = crid_cni_watch_new("/nonexistent/cni", &cfg.cni_plugin_dirs);
	if (crid_image_store_open(root, &daemon_ctx.images, &err) < 0 ||
	    crid_trash_init(&daemon_ctx.trash, &loop, crid_image_store_trash_dir(daemon_ctx.images),
			    &err) < 0 ||
	    crid_pull_init(&daemon_ctx, &err) < 0)
		abort();
	server = crid_grpc_server_new(&loop, -1, crid_handlers_dispatch, &daemon_ctx, &err);
	if (!daemon_ctx.cni || !server)
		abort();
}

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
		setup();
	if (socketpair(AF_UNIX, SOCK_STREAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0, sv) < 0)
		abort();
	if (crid_grpc_server_adopt(server, sv[0]) < 0)
		abort();
	while (off < size) {
		ssize_t n = write(sv[1], data + off, size - off);

		if (n > 0)
			off += (size_t)n;
		ev_run(loop.ev, EVRUN_NOWAIT);
		drain(sv[1]);
	}
	for (int i = 0; i < 4; i++) {
		ev_run(loop.ev, EVRUN_NOWAIT);
		drain(sv[1]);
	}
	close(sv[1]);
	for (int i = 0; i < 100 && crid_grpc_server_connections(server) > 0; i++)
		ev_run(loop.ev, EVRUN_NOWAIT);
	if (crid_grpc_server_connections(server) != 0)
		abort(); /* a closed peer must always close the connection */
	return 0;
}
