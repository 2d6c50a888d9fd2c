/*
 * The port-forward session: for each pair the connection hands it, a TCP
 * connection to localhost:<port> inside the pod's network namespace, made
 * on the loop itself (setns into the pod's netns, socket(), setns back: a
 * socket stays in the namespace it was made in; host-network pods dial in
 * the host's), connected non-blocking, bytes copied both ways with
 * back-pressure, errors on the pair's error channel as the clients expect.
 */
#ifndef CRID_PORT_FORWARD_H
#define CRID_PORT_FORWARD_H

#include "reactor/err.h"
#include "reactor/loop.h"
#include "runtime/stream/stream_conn.h"
#include "runtime/stream/stream_req.h"

struct crid_pods;

/* As crid_remote_cmd_new, for a port-forward |req| (its id is the pod's). */
struct crid_stream_session *crid_port_forward_new(struct crid_loop *loop, struct crid_pods *pods,
						  struct crid_stream_req *req,
						  struct crid_err *err);

void crid_port_forward_free(struct crid_stream_session *s);

#endif
