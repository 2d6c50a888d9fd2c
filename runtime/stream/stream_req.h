/*
 * A streaming request as the Exec, Attach and PortForward RPCs cached it:
 * the session's options come from here, never from the URL's query.
 * Owned by the token cache until the token is used, then by the session.
 */
#ifndef CRID_STREAM_REQ_H
#define CRID_STREAM_REQ_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "runtime/state/records.h"

enum crid_stream_kind {
	CRID_STREAM_EXEC,
	CRID_STREAM_ATTACH,
	CRID_STREAM_PORTFORWARD,
};

struct crid_stream_req {
	enum crid_stream_kind kind;
	char id[CRID_ID_LEN + 1]; /* the container; the pod for port-forward */
	char **argv;		  /* exec: the command, NULL-terminated */
	size_t argc;
	bool tty, stdin, stdout, stderr; /* exec, attach */
	uint16_t *ports;		 /* port-forward: the CRI request's ports (may be none) */
	size_t n_ports;
};

/* Frees what |req| holds and |req| itself. */
void crid_stream_req_free(struct crid_stream_req *req);

/* The path segment of |kind|: "exec", "attach", "portforward". */
const char *crid_stream_kind_name(enum crid_stream_kind kind);

#endif
