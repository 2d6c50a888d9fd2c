/*
 * What exec and attach write on their error channel at the end
 * (cri-streaming remotecommand: v1WriteStatusFunc, v4WriteStatusFunc):
 * v4 and later a metav1.Status JSON, always; v1 to v3 the error text on
 * failure only. client-go reads the channel to EOF, then parses it; the exit
 * code must be a cause "ExitCode" holding 0..255 (ParseUint(msg, 10, 8)).
 */
#ifndef CRID_CMD_STATUS_H
#define CRID_CMD_STATUS_H

#include <stddef.h>

#include "reactor/err.h"

/* The end of an exec or attach: one of these. */
struct crid_cmd_end {
	/* exit code 0..255 (128 + signal); ignored when |internal| is set */
	int exit_code;
	/* not NULL: the session failed ("exec in `x`: ..."): an InternalError */
	const char *internal;
	/* the command, for the non-zero exit message; argc 0 for attach */
	const char *const *argv;
	size_t argc;
};

/*
 * The bytes for protocol |version| (1..5) in a new buffer (crid_free) in
 * |*out|, |*len|; *out NULL when nothing is written (v1-3, success).
 */
int crid_cmd_status(int version, const struct crid_cmd_end *e, char **out, size_t *len,
		    struct crid_err *err);

#endif
