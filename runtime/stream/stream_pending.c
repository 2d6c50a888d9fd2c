/*
 * TEMPORARY (the lead removes this file at merge): weak stand-ins for the
 * session and connection constructors other slices write in parallel
 * (remote_cmd.c, port_forward.c, spdy_conn.c, ws_conn.c), so the server
 * builds and its front can be tested before they land. Each fails with
 * ENOSYS and the server answers 500; the real definitions override them.
 */
#pragma GCC diagnostic ignored "-Wunused-parameter"

#include <errno.h>
#include <unistd.h>

#include "runtime/stream/port_forward.h"
#include "runtime/stream/remote_cmd.h"
#include "runtime/stream/spdy_conn.h"
#include "runtime/stream/ws_conn.h"

__attribute__((weak)) struct crid_stream_session *crid_remote_cmd_new(struct crid_loop *loop,
								      struct crid_ctrs *ctrs,
								      struct crid_stream_req *req,
								      struct crid_err *err)
{
	crid_err_set(err, ENOSYS, "exec and attach sessions not built yet");
	return NULL;
}

__attribute__((weak)) void crid_remote_cmd_free(struct crid_stream_session *s)
{
}

__attribute__((weak)) struct crid_stream_session *crid_port_forward_new(struct crid_loop *loop,
									struct crid_pods *pods,
									struct crid_stream_req *req,
									struct crid_err *err)
{
	crid_err_set(err, ENOSYS, "port-forward sessions not built yet");
	return NULL;
}

__attribute__((weak)) void crid_port_forward_free(struct crid_stream_session *s)
{
}

__attribute__((weak)) struct crid_stream_conn *
crid_spdy_conn_new(struct crid_loop *loop, int fd, const uint8_t *pre, size_t pre_len,
		   const struct crid_stream_req *req, int version, struct crid_stream_session *s,
		   struct crid_stream_conns *list, const struct crid_stream_limits *limits,
		   struct crid_err *err)
{
	close(fd);
	crid_err_set(err, ENOSYS, "SPDY connections not built yet");
	return NULL;
}

__attribute__((weak)) struct crid_stream_conn *
crid_ws_conn_new(struct crid_loop *loop, int fd, const uint8_t *pre, size_t pre_len,
		 const struct crid_stream_req *req, enum crid_ws_proto proto,
		 struct crid_stream_session *s, struct crid_stream_conns *list,
		 const struct crid_stream_limits *limits, struct crid_err *err)
{
	close(fd);
	crid_err_set(err, ENOSYS, "WebSocket connections not built yet");
	return NULL;
}
