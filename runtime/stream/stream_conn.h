/*
 * The seam between a streaming connection and its session. A connection
 * (spdy_conn.c: SPDY/3.1 streams; ws_conn.c: WebSocket channels) owns the
 * socket and the framing; a session (remote_cmd.c: exec and attach;
 * port_forward.c) owns the container side. Both speak in channels, numbered
 * as the WebSocket protocols number them:
 *
 *   exec/attach:   0 stdin, 1 stdout, 2 stderr, 3 error, 4 resize
 *   port-forward:  2k data and 2k+1 error of pair k (a SPDY stream pair with
 *                  one requestid, or the k-th port of a WebSocket request)
 *
 * Nothing blocks and nothing grows without bound: a session looks at
 * pending() before it reads more from its process, and pauses the
 * connection's input while its process cannot take more.
 */
#ifndef CRID_STREAM_CONN_H
#define CRID_STREAM_CONN_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#define CRID_CHAN_STDIN 0
#define CRID_CHAN_STDOUT 1
#define CRID_CHAN_STDERR 2
#define CRID_CHAN_ERROR 3
#define CRID_CHAN_RESIZE 4

/* A session stops reading its source while the connection holds more than this. */
#define CRID_STREAM_HIGH_WATER (256u << 10)

struct crid_stream_conn;
struct crid_stream_conns;
struct crid_stream_session;

/* What a session may ask of its connection. */
struct crid_stream_conn_ops {
	/* Queues |len| bytes on outbound channel |chan|. -1 once the connection is going. */
	int (*send)(struct crid_stream_conn *c, unsigned chan, const void *buf, size_t len);
	/* No more output on |chan|: SPDY FIN; WebSocket v5 CLOSE; nothing otherwise. */
	void (*close_chan)(struct crid_stream_conn *c, unsigned chan);
	/* Drops |chan| both ways: SPDY RST_STREAM (CANCEL); WebSocket: its input ignored. */
	void (*reset_chan)(struct crid_stream_conn *c, unsigned chan);
	/* Bytes queued and not yet written to the socket. */
	size_t (*pending)(const struct crid_stream_conn *c);
	/* Stops (or resumes) reading the socket; the peer's data waits in the kernel. */
	void (*pause_input)(struct crid_stream_conn *c, bool paused);
	/*
	 * The session is over (after its last send): the connection writes what
	 * is queued, then waits (bounded) for the peer to close before it closes
	 * (closing first makes the kernel reset and drop unsent output), then
	 * frees itself. gone() is not called after finish().
	 */
	void (*finish)(struct crid_stream_conn *c);
};

struct crid_stream_conn {
	const struct crid_stream_conn_ops *ops;
	/* The negotiated remote-command version: 1..5 (v5 = v4 plus the WebSocket CLOSE signal). */
	int version;
	/*
	 * Port-forward: the pairs given at the start are all there will be (a
	 * WebSocket, one pair per requested port): the session calls finish()
	 * once every one has ended, as upstream closes the WebSocket then. A
	 * SPDY connection takes new pairs until the client closes it.
	 */
	bool fixed_pairs;
	/* Ends the connection now, without the polite wait (the daemon stops): gone() follows. */
	void (*abort)(struct crid_stream_conn *c);
	struct crid_stream_conn *next, *prev; /* in the server's list of open connections */
	struct crid_stream_conns *list;
};

/* The open connections, so the server can count them and end them all at shutdown. */
struct crid_stream_conns {
	struct crid_stream_conn *head;
	size_t n;
};

/* The server's time limits, in seconds. */
struct crid_stream_limits {
	double creation; /* all streams of a session (or both of a pair) must be there: 30 */
	double idle;	 /* no byte either way: 4 h */
	double finish;	 /* the wait for the peer to close after finish(): 15 min */
};

/* Every connection links itself when made and unlinks itself when freed. */
void crid_stream_conns_link(struct crid_stream_conns *l, struct crid_stream_conn *c);
void crid_stream_conns_unlink(struct crid_stream_conn *c);

/* What a connection tells its session. */
struct crid_stream_session_ops {
	/*
	 * Every stream or channel the session needs is there: start the
	 * process (exec), the tap (attach). Port-forward gets pair() instead.
	 */
	void (*start)(struct crid_stream_session *s);
	/* Port-forward: pair |k| (channels 2k, 2k+1) wants a connection to |port|. */
	void (*pair)(struct crid_stream_session *s, unsigned k, uint16_t port);
	/* Input on |chan| (stdin, resize; port-forward data). */
	void (*data)(struct crid_stream_session *s, unsigned chan, const uint8_t *buf, size_t len);
	/* The peer will send no more on |chan| (FIN, v5 CLOSE, RST). */
	void (*eof)(struct crid_stream_session *s, unsigned chan);
	/* pending() fell below CRID_STREAM_HIGH_WATER / 2 after having been above it. */
	void (*drained)(struct crid_stream_session *s);
	/*
	 * The connection is gone (peer closed or reset, protocol error, timeout,
	 * daemon stopping): the session frees itself and must not touch |c|
	 * after returning.
	 */
	void (*gone)(struct crid_stream_session *s);
};

struct crid_stream_session {
	const struct crid_stream_session_ops *ops;
	struct crid_stream_conn *conn;
};

#endif
