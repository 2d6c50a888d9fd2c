#include "reactor/accept_pause.h"

#include <errno.h>
#include <string.h>

#include "reactor/log.h"

#define ACCEPT_PAUSE 0.5 /* seconds the listener rests after a shortage */

static void resume_cb(struct ev_loop *ev, ev_timer *w, int revents)
{
	struct crid_accept_pause *p = w->data;

	(void)revents;
	ev_io_start(ev, p->listener);
}

void crid_accept_pause_init(struct crid_accept_pause *p, ev_io *listener, const char *what)
{
	ev_timer_init(&p->timer, resume_cb, ACCEPT_PAUSE, 0.);
	p->timer.data = p;
	p->listener = listener;
	p->what = what;
}

bool crid_accept_pause_on_error(struct ev_loop *ev, struct crid_accept_pause *p, int error)
{
	if (error == EMFILE || error == ENFILE || error == ENOBUFS || error == ENOMEM) {
		crid_log_warn("%s: accept: %s; pausing %.1fs", p->what, strerror(error),
			      ACCEPT_PAUSE);
		ev_io_stop(ev, p->listener);
		/* set each time: a fired one-shot timer restarts at once otherwise */
		ev_timer_set(&p->timer, ACCEPT_PAUSE, 0.);
		ev_timer_start(ev, &p->timer);
		return true;
	}
	if (error != EAGAIN && error != EINTR && error != ECONNABORTED)
		crid_log_warn("%s: accept: %s", p->what, strerror(error));
	return false;
}

void crid_accept_pause_stop(struct ev_loop *ev, struct crid_accept_pause *p)
{
	ev_timer_stop(ev, &p->timer);
}
