/*
 * Which code a long loop iteration was running (a debug aid, on at debug
 * log level): a one-shot timer armed when an iteration's work begins
 * fires after a threshold, and its signal handler records the backtrace
 * of the code running at that moment; when the iteration ends, its wall
 * time and those frames are logged at debug level, crid's own functions
 * named from the binary's symbol table. One per process (the handler has
 * no other way to its state); the loop arms and disarms it.
 */
#ifndef CRID_LOOP_WATCH_H
#define CRID_LOOP_WATCH_H

#include "reactor/err.h"

/* Starts watching iterations longer than |threshold_s| (a POSIX timer and a realtime signal). */
int crid_loop_watch_start(double threshold_s, struct crid_err *err);

/* An iteration's work begins / ends (|busy_s|: its wall time). No-ops when not started. */
void crid_loop_watch_arm(void);
void crid_loop_watch_disarm(double busy_s);

/* Deletes the timer and restores the signal's default action. */
void crid_loop_watch_stop(void);

#endif
