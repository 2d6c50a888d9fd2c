/*
 * sd_notify(3) without libsystemd: one datagram to $NOTIFY_SOCKET.
 *
 * crid is one small C program that links no D-Bus or systemd library for
 * this; the protocol is a line of text on a unix datagram socket (a path, or
 * "@name" for the abstract namespace), stable since systemd 209.
 */
#ifndef CRID_IO_SD_NOTIFY_H
#define CRID_IO_SD_NOTIFY_H

#include "reactor/err.h"

/*
 * Sends |state| ("READY=1", "STOPPING=1", "RELOADING=1", "STATUS=...") to the
 * socket named by $NOTIFY_SOCKET. Returns 1 when sent, 0 when the variable is
 * unset or empty (not under systemd, or not Type=notify), -1 with |err| on a
 * malformed variable or a failed send. Never blocks (MSG_DONTWAIT).
 */
int crid_sd_notify(const char *state, struct crid_err *err);

#endif
