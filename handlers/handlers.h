/*
 * The CRI handlers: route `/runtime.v1.RuntimeService/<M>` and
 * `/runtime.v1.ImageService/<M>` from the generated service descriptors,
 * decode the request, call the method's handler, encode the reply. Methods
 * without a handler answer UNIMPLEMENTED until their issue implements them.
 */
#ifndef CRID_HANDLERS_H
#define CRID_HANDLERS_H

#include <stddef.h>
#include <stdint.h>

#include "io/grpc_server.h"
#include "reactor/loop.h"
#include "runtime/cni/cni_status.h"
#include "runtime/config/config.h"
#include "runtime/oci/host.h"
#include "runtime/image/image_store.h"
#include "runtime/state/node_state.h"
#include "runtime/state/trash.h"

struct crid_pods;
struct crid_systemd;
struct crid_ctrs;
struct crid_puller;
struct crid_event_subscriber;
struct crid_stream_server;
struct crid_rt_probe;

/* Everything a handler may consult; owned by main, outlives every call. */
struct crid_daemon {
	struct crid_loop *loop;
	const struct crid_config *cfg;
	const struct crid_host *host;
	struct crid_cni_watch *cni;
	struct crid_node_state node;
	struct crid_image_store *images;
	struct crid_trash trash;		   /* empties `<root>/images/trash` off the loop */
	struct crid_pods *pods;			   /* set by the sandbox handlers' init */
	struct crid_ctrs *ctrs;			   /* set by the container handlers' init */
	struct crid_puller *puller;		   /* set by crid_pull_init() */
	struct crid_event_subscriber *subscribers; /* GetContainerEvents streams (events.c) */
	struct crid_stream_server *stream;	   /* Exec, Attach, PortForward URLs (crid.c) */
	struct crid_rt_probe *rt_features;	   /* runtimes' `features` answers (crid.c) */
	struct crid_systemd *systemd;		   /* cgroup_manager systemd, else NULL (crid.c) */
};

/* Builds the routing table once; returns -1 when out of memory. */
int crid_handlers_init(struct crid_err *err);

/* The crid_grpc_dispatch_fn of the CRI server; |user| is the struct crid_daemon. */
void crid_handlers_dispatch(struct crid_grpc_call *call, const char *path, const uint8_t *msg,
			    size_t len, void *user);

void crid_handlers_cleanup(void);

#endif
