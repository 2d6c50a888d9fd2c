#include "runtime/stream/pf_dial.h"

#include <arpa/inet.h>
#include <ctype.h>
#include <errno.h>
#include <fcntl.h>
#include <netinet/in.h>
#include <sched.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <unistd.h>

#include "reactor/log.h"

/* Go's wording: "dial tcp4 127.0.0.1:80: connect: connection refused". */
static int dial_err(struct crid_err *err, int code, int family, uint16_t port, const char *op)
{
	char why[128];

	snprintf(why, sizeof(why), "%s", strerror(code));
	why[0] = (char)tolower((unsigned char)why[0]);
	return crid_err_cause(err, code, "dial %s %s:%u: %s: %s",
			      family == AF_INET ? "tcp4" : "tcp6",
			      family == AF_INET ? "127.0.0.1" : "[::1]", port, op, why);
}

/* A socket in the namespace at |netns|; crid's own namespace is restored before returning. */
static int socket_in(const char *netns, int self_ns, int family, struct crid_err *err)
{
	int nsfd, fd, saved;

	if (!netns[0]) {
		fd = socket(family, SOCK_STREAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0);
		return fd < 0 ? crid_err_set(err, errno, "socket") : fd;
	}
	nsfd = open(netns, O_RDONLY | O_CLOEXEC);
	if (nsfd < 0)
		return crid_err_set(err, errno, "open network namespace `%s`", netns);
	if (setns(nsfd, CLONE_NEWNET) < 0) {
		saved = errno;
		close(nsfd);
		return crid_err_set(err, saved, "enter network namespace `%s`", netns);
	}
	fd = socket(family, SOCK_STREAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0);
	saved = errno;
	if (setns(self_ns, CLONE_NEWNET) < 0) {
		crid_log_error(
		    "port-forward: cannot return to crid's network namespace from `%s`: %s", netns,
		    strerror(errno));
		abort();
	}
	close(nsfd);
	if (fd < 0)
		return crid_err_set(err, saved, "socket in network namespace `%s`", netns);
	return fd;
}

int crid_pf_dial(const char *netns, int self_ns, int family, uint16_t port, struct crid_err *err)
{
	struct sockaddr_in a4 = { .sin_family = AF_INET, .sin_port = htons(port) };
	struct sockaddr_in6 a6 = { .sin6_family = AF_INET6, .sin6_port = htons(port) };
	int fd, r, saved;

	fd = socket_in(netns, self_ns, family, err);
	if (fd < 0)
		return -1;
	if (family == AF_INET) {
		a4.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
		r = connect(fd, (struct sockaddr *)&a4, sizeof(a4));
	} else {
		a6.sin6_addr = in6addr_loopback;
		r = connect(fd, (struct sockaddr *)&a6, sizeof(a6));
	}
	if (r < 0 && errno != EINPROGRESS) {
		saved = errno;
		close(fd);
		return dial_err(err, saved, family, port, "connect");
	}
	return fd;
}

int crid_pf_dial_result(int fd, int family, uint16_t port, struct crid_err *err)
{
	int code = 0;
	socklen_t len = sizeof(code);

	if (getsockopt(fd, SOL_SOCKET, SO_ERROR, &code, &len) < 0)
		code = errno;
	return code ? dial_err(err, code, family, port, "connect") : 0;
}
