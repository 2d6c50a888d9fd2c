/*
 * The dial of a port-forward pair, without a thread: the socket is made in
 * the pod's network namespace (setns there, socket(), setns back: a socket
 * belongs to the namespace it was created in for its whole life), then
 * connected non-blocking on the loop like any other.
 */
#ifndef CRID_PF_DIAL_H
#define CRID_PF_DIAL_H

#include <stdint.h>

#include "reactor/err.h"

/*
 * Makes a non-blocking TCP socket in the network namespace pinned at
 * |netns| ("" = crid's own: host-network pods) and starts connecting it to
 * the loopback address of |family| (AF_INET 127.0.0.1, AF_INET6 ::1) at
 * |port|. |self_ns| is an fd on crid's own network namespace (the way
 * back); unused when |netns| is "". Returns the fd, whose connect may still
 * be in progress (wait until writable, then crid_pf_dial_result), or -1
 * with |err| (ECONNREFUSED and the like when loopback refused at once; the
 * message reads as Go's net.Dial error: "dial tcp4 127.0.0.1:80: connect:
 * connection refused"). Never leaves the thread in the pod's namespace: if
 * the way back fails the process aborts, since every child it spawns
 * afterwards would inherit the pod's network.
 */
int crid_pf_dial(const char *netns, int self_ns, int family, uint16_t port, struct crid_err *err);

/* After |fd| became writable: 0 when connected, else -1 with |err| as above. */
int crid_pf_dial_result(int fd, int family, uint16_t port, struct crid_err *err);

#endif
