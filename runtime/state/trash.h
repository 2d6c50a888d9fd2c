/*
 * Deleting directory trees off the loop: removed layers and abandoned
 * staging dirs are renamed into a trash directory (O(1) on the loop) and a
 * short-lived child empties it, so a 150 MB layer costs the loop nothing.
 */
#ifndef CRID_TRASH_H
#define CRID_TRASH_H

#include "reactor/spawn.h"

struct crid_trash {
	struct crid_loop *loop;
	char *dir;
	struct crid_child child;
	int running;
	int again; /* more was thrown away while a sweep ran */
	unsigned sweeps;
};

/* |dir| is copied; nothing runs until crid_trash_sweep(). */
int crid_trash_init(struct crid_trash *t, struct crid_loop *loop, const char *dir,
		    struct crid_err *err);

/* Empties the trash dir in a child process; coalesces requests made while one runs. */
void crid_trash_sweep(struct crid_trash *t);

/* Stops watching a running sweep (it finishes on its own) and frees. */
void crid_trash_cleanup(struct crid_trash *t);

#endif
