/*
 * The console socket of a terminal container (`--console-socket`): a unix
 * stream socket crid listens on; the OCI runtime connects and sends the
 * master of the container's pty as SCM_RIGHTS (one fd, the terminal's name
 * as the data: runc's utils.SendRawFd, crun's send_fd_to_socket). Accepted
 * and read on the loop, never blocking; the master gets O_NONBLOCK and an
 * 80x24 window so programs never see 0x0.
 */
#ifndef CRID_CONSOLE_H
#define CRID_CONSOLE_H

#include "reactor/err.h"
#include "reactor/loop.h"

struct crid_console;

/*
 * Listens at `<dir>/console.sock`; when that path does not fit a sockaddr_un,
 * in a new short-named directory under |short_dir| instead (removed on close).
 */
struct crid_console *crid_console_listen(struct crid_loop *loop, const char *dir,
					 const char *short_dir, struct crid_err *err);

/* As crid_console_listen, at `<dir>/<name>` (an exec's console: one per exec). */
struct crid_console *crid_console_listen_named(struct crid_loop *loop, const char *dir,
					       const char *name, const char *short_dir,
					       struct crid_err *err);

/* The socket's path, for `--console-socket`. */
const char *crid_console_path(const struct crid_console *con);

/*
 * The master, handed to the caller (who then owns it). What the loop has not
 * read yet is tried now, without blocking: a runtime that exited has sent it
 * already. EAGAIN when nothing arrived; EPROTO when the runtime sent no fd.
 */
int crid_console_take(struct crid_console *con, struct crid_err *err);

/* Stops watching, closes the sockets and any master not taken, removes the socket file. */
void crid_console_close(struct crid_console *con);

#endif
