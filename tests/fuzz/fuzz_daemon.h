/*
 * The daemon the whole-path fuzz targets feed: the real gRPC server, router
 * and handlers over an image store in a temporary dir, no runtime started
 * (no pods or containers can be made; nothing outside the dir is touched).
 * A header of static functions, included by each such target: each target is
 * one translation unit linked alone with libcrid.a.
 */
#ifndef CRID_FUZZ_DAEMON_H
#define CRID_FUZZ_DAEMON_H

#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>

#include "handlers/handlers.h"
#include "handlers/pull.h"
#include "reactor/log.h"
#include "tests/fuzz/fuzz_tmpdir.h"

static struct crid_loop fuzz_loop;
static struct crid_config fuzz_cfg;
static struct crid_host fuzz_host;
static struct crid_daemon fuzz_daemon_ctx;

static void fuzz_on_signal(struct crid_loop *l, int signo, void *user)
{
	(void)l;
	(void)signo;
	(void)user;
}

/* Starts it under a new dir `/tmp/<prefix>XXXXXX`, with the puller when |with_pull|; aborts on failure. */
static struct crid_grpc_server *fuzz_daemon_start(const char *prefix, bool with_pull)
{
	struct crid_grpc_server *server;
	struct crid_err err;
	char *argv[] = { "crid", NULL };
	enum crid_config_action action;

	crid_log_set_level(CRID_LOG_ERROR);
	fuzz_tmpdir_make(prefix);
	if (crid_config_from_args(&fuzz_cfg, 1, argv, &action, &err) < 0 ||
	    crid_host_detect(&fuzz_host, &fuzz_cfg, &err) < 0 ||
	    crid_node_state_load(&fuzz_daemon_ctx.node, fuzz_root, &err) < 0 ||
	    crid_handlers_init(&err) < 0 ||
	    crid_loop_init(&fuzz_loop, fuzz_on_signal, NULL, &err) < 0)
		abort();
	fuzz_daemon_ctx.loop = &fuzz_loop;
	fuzz_daemon_ctx.cfg = &fuzz_cfg;
	fuzz_daemon_ctx.host = &fuzz_host;
	fuzz_daemon_ctx.cni = crid_cni_watch_new("/nonexistent/cni", &fuzz_cfg.cni_plugin_dirs);
	if (crid_image_store_open(fuzz_root, &fuzz_daemon_ctx.images, &err) < 0 ||
	    crid_trash_init(&fuzz_daemon_ctx.trash, &fuzz_loop,
			    crid_image_store_trash_dir(fuzz_daemon_ctx.images), &err) < 0 ||
	    (with_pull && crid_pull_init(&fuzz_daemon_ctx, &err) < 0))
		abort();
	server =
	    crid_grpc_server_new(&fuzz_loop, -1, crid_handlers_dispatch, &fuzz_daemon_ctx, &err);
	if (!fuzz_daemon_ctx.cni || !server)
		abort();
	return server;
}

#endif
