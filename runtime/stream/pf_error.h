/*
 * What a port-forward pair writes on its error channel when it fails: the
 * JSON object newer kubelets' cri-streaming writes (portforward.go
 * `portForwardErrResponse`, encoded with json.Encoder: `omitempty` fields,
 * HTML-safe escapes, a trailing newline), which client-go decodes to learn
 * whether to keep the forwarding going, and which older clients print as
 * text:
 *
 *   {"closeConnection":true,"message":"error forwarding port 80 to pod <id>, uid : <cause>"}\n
 *
 * `closeConnection` is false (and so left out) for EPIPE and ECONNRESET from
 * the pod's side, as upstream: the peer went away, the forwarding goes on.
 */
#ifndef CRID_PF_ERROR_H
#define CRID_PF_ERROR_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

/* Long enough for any message crid writes (the cause is cut to fit). */
#define CRID_PF_ERROR_MAX 1024

/*
 * Writes the error object for |port| of pod |pod| with |cause| into |out|
 * (|size| bytes, at least 128) and returns its length (no NUL counted; |out|
 * is NUL-terminated). A cause that does not fit is cut, the object stays
 * whole.
 */
size_t crid_pf_error_json(char *out, size_t size, uint16_t port, const char *pod, const char *cause,
			  bool close_connection);

/* Whether an errno from the pod's socket lets the forwarding go on (EPIPE, ECONNRESET). */
bool crid_pf_error_keeps_connection(int code);

#endif
