/*
 * The node's file-descriptor store: every container's pidfd and the read
 * ends of its stdout/stderr FIFOs are deposited here so they outlive a crash
 * of the daemon (a FIFO's buffered output survives only while someone holds
 * a reader; an exited orphan's status is readable only through a pidfd opened
 * before it exited). Under systemd it is systemd's fd store (sd_notify
 * "FDSTORE=1" with FDNAME, handed back through LISTEN_FDS/LISTEN_FDNAMES);
 * otherwise `crid-keeper` (built from runtime/keeper/), one minimal process
 * per node that only holds fds on a unix SOCK_SEQPACKET socket and gives them
 * back. Names are at most 255 bytes of [A-Za-z0-9._-].
 */
#ifndef CRID_FD_STORE_H
#define CRID_FD_STORE_H

#include <stdbool.h>
#include <stddef.h>

#include "reactor/err.h"

struct crid_fd_store;

/*
 * Connects to the store: systemd's when NOTIFY_SOCKET is set (and
 * LISTEN_FDS for fds handed back), else the keeper at `<runroot>/keeper.sock`,
 * starting it (detached: setsid, its own process, found next to the daemon's
 * executable or at $CRID_KEEPER) when nobody listens there.
 */
int crid_fd_store_open(const char *runroot, struct crid_fd_store **out, struct crid_err *err);

/* Deposits a duplicate of |fd| under |name| (replacing an fd of the same name). */
int crid_fd_store_put(struct crid_fd_store *s, const char *name, int fd, struct crid_err *err);

/* Drops |name| from the store (missing is fine). */
int crid_fd_store_remove(struct crid_fd_store *s, const char *name, struct crid_err *err);

/*
 * At start: calls |each| for every fd the store holds (the callee owns |fd|;
 * the store keeps its own copy). Called once, before any put.
 */
int crid_fd_store_restore(struct crid_fd_store *s,
			  void (*each)(void *user, const char *name, int fd), void *user,
			  struct crid_err *err);

/*
 * How many names the store holds as far as this client knows: those restored
 * at start plus those put since, less those removed (the metrics gauge).
 */
size_t crid_fd_store_entries(const struct crid_fd_store *s);

/* "keeper" or "systemd", for logs and Status. */
const char *crid_fd_store_kind(const struct crid_fd_store *s);

void crid_fd_store_close(struct crid_fd_store *s);

#endif
