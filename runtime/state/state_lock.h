/*
 * One daemon per state directory. Two crids on one --root (or --runroot)
 * would both recover and drive the same containers, so the daemon takes an
 * exclusive flock on `<dir>/crid.lock` in each before it reads any record,
 * holds it for its whole life and writes its pid into the file so a refused
 * second daemon can name the holder. The kernel drops the lock when the last
 * holder of the open file dies (kill -9 included), so nothing stale remains.
 *
 * The fds are close-on-exec: runc, CNI plugins and crid-keeper never inherit
 * them (one surviving child would otherwise keep the node locked after a
 * crash). The planned restart (SIGHUP re-exec) keeps them on purpose:
 * crid_state_lock_pass_on() clears close-on-exec and names the fds in
 * $CRID_STATE_LOCK_FDS just before execve, and the new image adopts them, so
 * the lock is never released in between.
 */
#ifndef CRID_STATE_LOCK_H
#define CRID_STATE_LOCK_H

#include <stddef.h>

#include "reactor/err.h"

#define CRID_STATE_LOCK_FILE "crid.lock"
#define CRID_STATE_LOCK_ENV "CRID_STATE_LOCK_FDS"
#define CRID_STATE_LOCK_MAX 2

struct crid_state_lock {
	int fd[CRID_STATE_LOCK_MAX];
	size_t n;
};

/*
 * Locks each of |dirs| (existing directories; the same directory named twice
 * is locked once). An fd inherited through $CRID_STATE_LOCK_ENV that is the
 * lock file of one of them is adopted instead of opening it again. EBUSY
 * when another process holds a lock: the message names the directory, the
 * holder's pid (as it wrote it) and the lock file. On failure nothing stays
 * locked. |l| is zeroed first.
 */
int crid_state_lock_take(struct crid_state_lock *l, const char *const *dirs, size_t n,
			 struct crid_err *err);

/* Makes the lock survive the caller's next execve of crid (see above). */
int crid_state_lock_pass_on(struct crid_state_lock *l, struct crid_err *err);

/* Releases the locks (closes the fds). */
void crid_state_lock_release(struct crid_state_lock *l);

#endif
