/*
 * cridctl's streaming sessions: exec and attach over SPDY (stream_exec.c)
 * and WebSocket (ws_exec.c), port-forward over SPDY, bare or tunnelled in a
 * WebSocket (portforward.c), and the
 * verbs that start them from the Exec/Attach/PortForward RPCs (streaming.c).
 */
#ifndef CRIDCTL_STREAM_EXEC_H
#define CRIDCTL_STREAM_EXEC_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "reactor/err.h"

/* The streams asked for in the RPC, so the same ones are opened. */
struct cridctl_stream_opts {
	bool stdin, stdout, stderr, tty;
};

/*
 * Runs the remote command session at |url| (an Exec or Attach URL) on this
 * process's stdin/stdout/stderr. Returns the exit code: the command's, or 1
 * after printing "cridctl: <verb>: <error>".
 */
int cridctl_stream_remote_cmd(const char *verb, const char *url,
			      const struct cridctl_stream_opts *o);

/* The same over WebSocket (ws_exec.c; v5.channel.k8s.io, else v4). */
int cridctl_ws_remote_cmd(const char *verb, const char *url, const struct cridctl_stream_opts *o);

/*
 * Raw mode as Go's term.MakeRaw (moby/term: output processing kept) when
 * stdin is a terminal; the old settings go to |saved|. False when not done.
 */
struct termios;
bool cridctl_term_raw(struct termios *saved);

/*
 * A signalfd for SIGWINCH, and SIGTERM and SIGHUP too when |raw| (so the
 * terminal is restored before the exit), those blocked; -1 on failure.
 */
int cridctl_term_signals(bool raw);

/* The signal read from |sigfd|, 0 when none. */
int cridctl_term_signal(int sigfd);

struct cridctl_port_map {
	uint16_t local, remote; /* local 0: any free port */
};

/*
 * Parses a port-forward argument as kubectl does: "REMOTE" (local = remote),
 * "LOCAL:REMOTE", ":REMOTE" (a free local port). -1 with |err| naming it.
 */
int cridctl_port_map_parse(const char *spec, struct cridctl_port_map *m, struct crid_err *err);

/*
 * Listens on 127.0.0.1 (and ::1 when it can) for each of |n| maps and
 * forwards every connection over one SPDY connection to |url| until it
 * ends. Prints "Forwarding from 127.0.0.1:L -> R" per listener as client-go
 * does. Returns the exit code (1 after printing the error).
 */
int cridctl_stream_port_forward(const char *url, const struct cridctl_port_map *maps, size_t n,
				bool websocket);

#endif
