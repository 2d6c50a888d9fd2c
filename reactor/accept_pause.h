/*
 * Listeners are level-triggered: when accept fails for want of fds or memory
 * (EMFILE, ENFILE, ENOBUFS, ENOMEM) the pending connection stays queued and
 * readable, so going back to the loop with the watcher on would call accept
 * again at once, forever, at 100% CPU. The watcher rests a while instead and
 * the client waits in the backlog. One pause per listener.
 */
#ifndef CRID_ACCEPT_PAUSE_H
#define CRID_ACCEPT_PAUSE_H

#include <stdbool.h>

#include <ev.h>

struct crid_accept_pause {
	ev_timer timer;
	ev_io *listener;
	const char *what; /* names the listener in the warning */
};

/* |listener| is the accept watcher; |what| a static string like "CRI socket". */
void crid_accept_pause_init(struct crid_accept_pause *p, ev_io *listener, const char *what);

/*
 * After accept4 failed with |error|: rests the listener and returns true when
 * the failure is a shortage; warns and returns false for other real errors,
 * false quietly for EAGAIN, EINTR and ECONNABORTED.
 */
bool crid_accept_pause_on_error(struct ev_loop *ev, struct crid_accept_pause *p, int error);

/* Stops the pause timer (the listener's owner stops its watcher). */
void crid_accept_pause_stop(struct ev_loop *ev, struct crid_accept_pause *p);

#endif
