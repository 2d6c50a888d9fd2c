/*
 * TLS for the daemon's HTTP servers on the loop: the streaming server
 * (`[crid.stream] tls_cert`, `tls_key`) and the metrics endpoint
 * (`[crid.metrics] metrics_cert`, `metrics_key`). The bridge terminates TLS
 * and hands its owner a plain socket: the accepted TCP socket does a
 * non-blocking handshake (bounded in time), then one end of a socket pair
 * goes to the owner exactly as an accepted client socket would, and the
 * bridge copies bytes both ways between SSL_read/SSL_write and its end of
 * the pair. So the HTTP, SPDY, WebSocket and metrics code never sees TLS.
 *
 * Bounded: each direction holds at most one TLS record's worth (16 KiB) that
 * the other side did not take yet, and that side is not read again until it
 * has. EOF from the client shuts the pair's write side; EOF from the inner
 * end sends close_notify and shuts the TCP write side; both done (or 5 s
 * after ours if the client keeps its socket open), the bridge closes.
 *
 * Cost of a session, on top of the plain one: an idle server SSL holds
 * ~14 KiB (OpenSSL 3.0, TLS 1.3; heap measured over 200 handshakes), its
 * ~32 KiB of record buffers allocated only while data moves
 * (SSL_MODE_RELEASE_BUFFERS; 47 KiB idle without it); a socket pair (two
 * more fds) and the bridge struct (~250 B). libssl is bound lazily
 * (io/lazylib.h): a daemon with no certificate configured never maps it.
 */
#ifndef CRID_TLS_BRIDGE_H
#define CRID_TLS_BRIDGE_H

#include <stddef.h>

#include "reactor/err.h"
#include "reactor/loop.h"

struct crid_tls; /* the server's certificate and settings (an SSL_CTX) */
struct crid_tls_bridge;

/* A server's open bridges, so it can count them and end them all when it stops. */
struct crid_tls_bridges {
	struct crid_tls_bridge *head;
	size_t n;	    /* open bridges */
	size_t handshaking; /* of them, those whose handshake has not ended */
};

/*
 * Loads the PEM certificate chain |cert| and the private key |key| (TLS 1.2
 * and later) for the server |what| ("streaming", "metrics": it starts every
 * message about it, and must outlive the result). NULL with |err| naming
 * the file that could not be used, or the mismatch.
 */
struct crid_tls *crid_tls_new(const char *what, const char *cert, const char *key,
			      struct crid_err *err);
void crid_tls_free(struct crid_tls *tls);

/* The inner end of a bridge whose handshake succeeded, for the server to serve. */
typedef void crid_tls_serve_fn(void *user, int fd);

/*
 * Takes the accepted socket |fd| (non-blocking; closed by the bridge from
 * now on, also on failure) and starts the handshake; |handshake| seconds
 * for it to complete. Once it has, calls |serve| with the inner end (the
 * callee owns that fd). Links itself into |list| until it is freed, counted
 * in |list|->handshaking until its handshake ends. -1 with |err|.
 */
int crid_tls_bridge_new(struct crid_loop *loop, struct crid_tls *tls, int fd,
			struct crid_tls_bridges *list, double handshake, crid_tls_serve_fn *serve,
			void *user, struct crid_err *err);

/* Ends every bridge of |list| now (the server stops); their inner ends see EOF. */
void crid_tls_bridges_abort(struct crid_tls_bridges *list);

#endif
