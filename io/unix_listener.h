/* The daemon's unix socket: one live owner at a time, stale files replaced. */
#ifndef CRID_UNIX_LISTENER_H
#define CRID_UNIX_LISTENER_H

#include <sys/types.h>

#include "reactor/err.h"

/*
 * Creates a listening, non-blocking unix stream socket at |path| with |mode|
 * and group |gid| ((gid_t)-1 = crid's), both set before it listens so no
 * client ever connects to it with other permissions; creating the parent directory (0755) if needed. If something already
 * listens there, fails with EADDRINUSE ("another instance is listening");
 * a stale socket or file left by a dead process is replaced, as CRI-O does.
 */
int crid_unix_listen(const char *path, mode_t mode, gid_t gid, struct crid_err *err);

#endif
