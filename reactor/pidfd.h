/*
 * Exit statuses through pidfds, and reaping of children nobody tracks.
 *
 * A pidfd's exit status is read with waitid(P_PIDFD) while the process is
 * our unreaped child; once someone else reaped it (its new parent after a
 * restart, or the orphan sweep below), PIDFD_GET_INFO with PIDFD_INFO_EXIT
 * (Linux 6.15+) still gives it through a pidfd opened before it exited.
 * crid is a subreaper, so orphans of its children (a runtime's leftovers,
 * a pod's PID holder) become its children: the sweep reaps the zombies
 * among them, a moment after SIGCHLD, without touching live children.
 */
#ifndef CRID_PIDFD_H
#define CRID_PIDFD_H

#include <stdbool.h>
#include <sys/types.h>

#include "reactor/loop.h"

enum crid_exit_info {
	CRID_EXIT_RUNNING = 0, /* not exited yet */
	CRID_EXIT_KNOWN,       /* *status set: 0..255, or 128 + signal */
	CRID_EXIT_UNKNOWN,     /* exited, but the kernel keeps no status for us */
	CRID_EXIT_PENDING,     /* exited, reaped by nobody yet and not our child: ask again later */
};

/* The exit state of the process behind |pidfd|; never blocks. */
enum crid_exit_info crid_pidfd_exit(int pidfd, int *status);

/* Whether this kernel keeps exit statuses in pidfds (PIDFD_INFO_EXIT). */
bool crid_pidfd_has_exit_info(void);

/* Schedules a sweep of zombie children (call on SIGCHLD); coalesced. */
void crid_reap_orphans_soon(struct crid_loop *loop);

/*
 * The exit status of |pid| when the sweep reaped it lately (it keeps the
 * last 256): for a child known by pid only, reaped before it was tracked.
 */
bool crid_reaped_status(pid_t pid, int *status);

#endif
