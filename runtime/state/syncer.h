/*
 * Durability off the loop. Records under the state root are written with
 * rename only, which is already atomic against kill -9 (the page cache keeps
 * them); making them survive a power cut as well is the job of one `sync -f`
 * child, started a moment after the first write and covering every write
 * made before it starts. The loop never waits for the disk.
 */
#ifndef CRID_SYNCER_H
#define CRID_SYNCER_H

#include <stdbool.h>

#include "reactor/loop.h"

/* Starts the syncer for the filesystem holding |root| (copied). */
int crid_syncer_start(struct crid_loop *loop, const char *root, struct crid_err *err);

/* True once started: callers may then skip their own fsync and call crid_syncer_request(). */
bool crid_syncer_running(void);

/* Some file under the root changed: have it on disk within about a second. */
void crid_syncer_request(void);

/* At shutdown: one last syncfs (a short wait is fine there), then stop. */
void crid_syncer_stop(void);

#endif
