/*
 * sd_notify(3) without libsystemd (see sd_notify.h). The same datagram
 * systemd's own sd_notify() sends: no credentials to add (the kernel passes
 * ours), no fds. Under Type=notify systemd considers the unit started at
 * READY=1 and stopping at STOPPING=1.
 */
#include "io/sd_notify.h"

#include <errno.h>
#include <stddef.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/un.h>
#include <unistd.h>

static int notify_addr(const char *path, struct sockaddr_un *sa, socklen_t *len,
		       struct crid_err *err)
{
	size_t n = strlen(path);

	if ((path[0] != '/' && path[0] != '@') || n < 2)
		return crid_err_invalid(err, "NOTIFY_SOCKET `%s` is not a unix socket path", path);
	if (n >= sizeof(sa->sun_path))
		return crid_err_set(err, ENAMETOOLONG, "NOTIFY_SOCKET `%s`", path);
	memset(sa, 0, sizeof(*sa));
	sa->sun_family = AF_UNIX;
	memcpy(sa->sun_path, path, n);
	if (path[0] == '@')
		sa->sun_path[0] = '\0'; /* abstract: the length excludes a trailing NUL */
	*len = (socklen_t)(offsetof(struct sockaddr_un, sun_path) + n + (path[0] == '/'));
	return 0;
}

int crid_sd_notify(const char *state, struct crid_err *err)
{
	const char *path = getenv("NOTIFY_SOCKET");
	struct sockaddr_un sa;
	socklen_t len = 0;
	ssize_t sent;
	int fd, e;

	if (!path || !path[0])
		return 0;
	if (notify_addr(path, &sa, &len, err) < 0)
		return -1;
	fd = socket(AF_UNIX, SOCK_DGRAM | SOCK_CLOEXEC, 0);
	if (fd < 0)
		return crid_err_set(err, errno, "socket for NOTIFY_SOCKET `%s`", path);
	do
		sent = sendto(fd, state, strlen(state), MSG_NOSIGNAL | MSG_DONTWAIT,
			      (struct sockaddr *)&sa, len);
	while (sent < 0 && errno == EINTR);
	e = errno;
	close(fd);
	if (sent < 0)
		return crid_err_set(err, e, "send `%s` to NOTIFY_SOCKET `%s`", state, path);
	return 1;
}
