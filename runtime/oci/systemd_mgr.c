/*
 * systemd's manager over sd-bus, driven by the loop (systemd_mgr.h). The
 * method names and arguments are systemd's org.freedesktop.systemd1.Manager
 * (man org.freedesktop.systemd1); runc's libcontainer/cgroups/systemd does
 * the same dance: StartTransientUnit, then wait for JobRemoved of its job.
 */
#include "runtime/oci/systemd_mgr.h"

#include <errno.h>
#include <ev.h>
#include <poll.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <systemd/sd-bus.h>
#include <time.h>

#include "reactor/log.h"
#include "reactor/mem.h"

#define SD_DEST "org.freedesktop.systemd1"
#define SD_PATH "/org/freedesktop/systemd1"
#define SD_MANAGER "org.freedesktop.systemd1.Manager"
#define PRIVATE_BUS "unix:path=/run/systemd/private"
#define CALL_TIMEOUT_USEC (30ULL * 1000 * 1000)
/* Reconnection after a lost bus (daemon-reexec, a restart of systemd): first try, then doubling. */
#define RECONNECT_FIRST_S 0.5
#define RECONNECT_MAX_S 30.0

struct crid_systemd_call {
	struct crid_systemd *sd;
	sd_bus_slot *slot; /* the method call's, until its reply */
	char *job;	   /* the job's object path, once systemd replied */
	char unit[128];
	crid_systemd_done_fn done;
	void *user;
	struct crid_systemd_call *next, **pprev;
};

struct crid_systemd {
	struct crid_loop *loop;
	sd_bus *bus;
	ev_io io;
	ev_timer timer;
	char *version;
	struct crid_systemd_call *calls;
	bool lost; /* no usable connection: every call fails until Subscribe answers again */
	bool drop; /* a callback found the connection unusable: bus_process ends it */
	ev_timer reconnect;
	double backoff;
	sd_bus_slot *subscribing; /* a reconnection's Subscribe, until its reply */
};

static void call_finish(struct crid_systemd_call *c, const char *why);
static int connect_bus(sd_bus **bus, char *tried, size_t size);

/* ---- the connection on the loop ---- */

static void bus_arm(struct crid_systemd *sd)
{
	int want = sd_bus_get_events(sd->bus), ev = EV_READ;
	uint64_t until = UINT64_MAX;
	struct timespec now;

	if (want > 0 && (want & POLLOUT))
		ev |= EV_WRITE;
	if (ev != sd->io.events) {
		ev_io_stop(sd->loop->ev, &sd->io);
		ev_io_set(&sd->io, sd->io.fd, ev);
		ev_io_start(sd->loop->ev, &sd->io);
	}
	ev_timer_stop(sd->loop->ev, &sd->timer);
	if (sd_bus_get_timeout(sd->bus, &until) > 0 && until != UINT64_MAX) {
		clock_gettime(CLOCK_MONOTONIC, &now);
		uint64_t at = (uint64_t)now.tv_sec * 1000000 + (uint64_t)now.tv_nsec / 1000;

		ev_timer_set(&sd->timer, until > at ? (double)(until - at) / 1e6 : 0., 0.);
		ev_timer_start(sd->loop->ev, &sd->timer);
	}
}

/*
 * The connection is gone (systemd re-executed, or restarted): the watchers
 * stop, since a hung-up fd would wake the loop forever, pending calls fail,
 * and a timer reconnects. Until systemd answers again pods that need a scope
 * fail, saying so; nothing else waits for it.
 */
static void bus_lost(struct crid_systemd *sd, int r)
{
	crid_log_error("systemd bus: connection lost (%s): pods with a PID namespace fail to "
		       "start until it is back; reconnecting",
		       strerror(-r));
	sd->lost = true;
	sd->drop = false;
	ev_io_stop(sd->loop->ev, &sd->io);
	ev_timer_stop(sd->loop->ev, &sd->timer);
	while (sd->calls)
		call_finish(sd->calls, "connection to systemd lost (reconnecting)");
	sd->subscribing = sd_bus_slot_unref(sd->subscribing);
	sd->bus = sd_bus_close_unref(sd->bus); /* no flush: it would block */
	sd->backoff = RECONNECT_FIRST_S;
	ev_timer_set(&sd->reconnect, sd->backoff, 0.);
	ev_timer_start(sd->loop->ev, &sd->reconnect);
}

/* Bounded: sd_bus_process handles one message a call; a busy bus gets the next turn. */
static void bus_process(struct crid_systemd *sd)
{
	int r = 1;

	for (int i = 0; i < 64 && r > 0; i++)
		r = sd_bus_process(sd->bus, NULL);
	if (sd->drop || (r < 0 && sd_bus_is_open(sd->bus) <= 0)) {
		bus_lost(sd, r < 0 ? r : -EPROTO);
		return;
	}
	if (r < 0)
		crid_log_warn("systemd bus: %s", strerror(-r));
	if (r > 0)
		ev_feed_event(sd->loop->ev, &sd->io, EV_READ);
	bus_arm(sd);
}

static void on_io(struct ev_loop *ev, ev_io *w, int revents)
{
	(void)ev, (void)revents;
	bus_process(w->data);
}

static void on_timer(struct ev_loop *ev, ev_timer *w, int revents)
{
	(void)ev, (void)revents;
	bus_process(w->data);
}

static void bus_watch(struct crid_systemd *sd)
{
	ev_io_init(&sd->io, on_io, sd_bus_get_fd(sd->bus), EV_READ);
	sd->io.data = sd;
	ev_io_start(sd->loop->ev, &sd->io);
	bus_arm(sd);
}

static int on_job_removed(sd_bus_message *m, void *user, sd_bus_error *ret_error);

/* Systemd is back when it answers Subscribe: from then on scopes are asked for again. */
static int on_subscribed(sd_bus_message *m, void *user, sd_bus_error *ret_error)
{
	struct crid_systemd *sd = user;
	const sd_bus_error *e = sd_bus_message_get_error(m);

	(void)ret_error;
	sd->subscribing = sd_bus_slot_unref(sd->subscribing);
	if (e) {
		crid_log_warn("systemd bus: Subscribe after reconnecting: %s",
			      e->message ? e->message : e->name);
		sd->drop = true;
		return 0;
	}
	sd->lost = false;
	crid_log_info("systemd bus: reconnected");
	return 0;
}

/* The start-up's Subscribe and JobRemoved match, asynchronously: the loop is serving now. */
static int resubscribe(struct crid_systemd *sd)
{
	sd_bus_message *m = NULL;
	int r = sd_bus_match_signal_async(sd->bus, NULL, SD_DEST, SD_PATH, SD_MANAGER, "JobRemoved",
					  on_job_removed, NULL, sd);

	if (r >= 0)
		r = sd_bus_message_new_method_call(sd->bus, &m, SD_DEST, SD_PATH, SD_MANAGER,
						   "Subscribe");
	if (r >= 0)
		r = sd_bus_call_async(sd->bus, &sd->subscribing, m, on_subscribed, sd,
				      CALL_TIMEOUT_USEC);
	sd_bus_message_unref(m);
	return r;
}

/* Connecting to a local socket does not wait; the handshake and Subscribe run on the loop. */
static void reconnect_tick(struct ev_loop *ev, ev_timer *w, int revents)
{
	struct crid_systemd *sd = w->data;
	char tried[512] = "";
	int r;

	(void)revents;
	r = connect_bus(&sd->bus, tried, sizeof(tried));
	if (r >= 0 && (r = resubscribe(sd)) < 0)
		snprintf(tried, sizeof(tried), "Subscribe: %s", strerror(-r));
	if (r < 0) {
		sd->subscribing = sd_bus_slot_unref(sd->subscribing);
		sd->bus = sd_bus_close_unref(sd->bus);
		crid_log_debug("systemd bus: reconnecting failed (%s); next try in %.1f s", tried,
			       sd->backoff);
		sd->backoff = sd->backoff * 2 < RECONNECT_MAX_S ? sd->backoff * 2 : RECONNECT_MAX_S;
		ev_timer_set(w, sd->backoff, 0.);
		ev_timer_start(ev, w);
		return;
	}
	bus_watch(sd);
}

/* ---- calls ---- */

static void call_unlink(struct crid_systemd_call *c)
{
	if (c->pprev) {
		*c->pprev = c->next;
		if (c->next)
			c->next->pprev = c->pprev;
	}
	c->pprev = NULL;
	c->slot = sd_bus_slot_unref(c->slot);
	crid_free(c->job);
	c->job = NULL;
}

static void call_finish(struct crid_systemd_call *c, const char *why)
{
	struct crid_err e;
	crid_systemd_done_fn done = c->done;
	void *user = c->user;

	crid_err_clear(&e);
	if (why)
		crid_err_cause(&e, EIO, "systemd scope `%s`: %s", c->unit, why);
	call_unlink(c);
	crid_free(c);
	done(user, why ? -1 : 0, &e);
}

static int on_reply(sd_bus_message *m, void *user, sd_bus_error *ret_error)
{
	struct crid_systemd_call *c = user;
	const sd_bus_error *e = sd_bus_message_get_error(m);
	const char *job = NULL;
	char why[256];

	(void)ret_error;
	c->slot = sd_bus_slot_unref(c->slot);
	if (e) {
		snprintf(why, sizeof(why), "%s", e->message ? e->message : e->name);
		call_finish(c, why);
		return 0;
	}
	if (sd_bus_message_read_basic(m, 'o', &job) < 0 || !(c->job = crid_strdup(job)))
		call_finish(c, "StartTransientUnit replied without a job");
	return 0;
}

static int on_job_removed(sd_bus_message *m, void *user, sd_bus_error *ret_error)
{
	struct crid_systemd *sd = user;
	const char *job, *unit, *result;
	uint32_t id;
	char why[256];

	(void)ret_error;
	/* JobRemoved(u id, o job, s unit, s result) */
	if (sd_bus_message_read_basic(m, 'u', &id) < 0 ||
	    sd_bus_message_read_basic(m, 'o', &job) < 0 ||
	    sd_bus_message_read_basic(m, 's', &unit) < 0 ||
	    sd_bus_message_read_basic(m, 's', &result) < 0)
		return 0;
	for (struct crid_systemd_call *c = sd->calls; c; c = c->next) {
		if (!c->job || strcmp(c->job, job) != 0)
			continue;
		if (strcmp(result, "done") == 0) {
			call_finish(c, NULL);
		} else {
			snprintf(why, sizeof(why), "start job %s", result);
			call_finish(c, why);
		}
		break;
	}
	return 0;
}

/*
 * One (sv) property of a unit; |type| 's', 'b' or 'u' ("au" of one element
 * for 'u': PIDs). The non-variadic sd-bus calls only: libsystemd is bound
 * on first use (io/lazy_systemd.c), and a va_list does not forward.
 */
static int append_prop(sd_bus_message *m, const char *name, char type, const void *val)
{
	char sig[2] = { type, '\0' };
	int r = sd_bus_message_open_container(m, 'r', "sv");

	if (r >= 0)
		r = sd_bus_message_append_basic(m, 's', name);
	if (r >= 0)
		r = sd_bus_message_open_container(m, 'v', type == 'u' ? "au" : sig);
	if (r >= 0 && type == 'u')
		r = sd_bus_message_open_container(m, 'a', "u");
	if (r >= 0)
		r = sd_bus_message_append_basic(m, type, val);
	if (r >= 0 && type == 'u')
		r = sd_bus_message_close_container(m);
	if (r >= 0)
		r = sd_bus_message_close_container(m);
	if (r >= 0)
		r = sd_bus_message_close_container(m);
	return r;
}

/* StartTransientUnit(s name, s mode, a(sv) properties, a(sa(sv)) aux) */
static int scope_message(sd_bus *bus, sd_bus_message **m, const char *unit, const char *slice,
			 pid_t pid)
{
	uint32_t pid32 = (uint32_t)pid;
	int yes = 1;
	int r = sd_bus_message_new_method_call(bus, m, SD_DEST, SD_PATH, SD_MANAGER,
					       "StartTransientUnit");

	if (r >= 0)
		r = sd_bus_message_append_basic(*m, 's', unit);
	if (r >= 0)
		r = sd_bus_message_append_basic(*m, 's', "fail");
	if (r >= 0)
		r = sd_bus_message_open_container(*m, 'a', "(sv)");
	if (r >= 0 && slice[0])
		r = append_prop(*m, "Slice", 's', slice);
	if (r >= 0)
		r = append_prop(*m, "Description", 's', "crid pod processes");
	if (r >= 0)
		r = append_prop(*m, "Delegate", 'b', &yes);
	if (r >= 0)
		r = append_prop(*m, "PIDs", 'u', &pid32);
	/* a failed scope is collected too: nothing of a pod lingers in systemd */
	if (r >= 0)
		r = append_prop(*m, "CollectMode", 's', "inactive-or-failed");
	if (r >= 0)
		r = sd_bus_message_close_container(*m);
	if (r >= 0)
		r = sd_bus_message_open_container(*m, 'a', "(sa(sv))");
	if (r >= 0)
		r = sd_bus_message_close_container(*m);
	return r;
}

struct crid_systemd_call *crid_systemd_start_scope(struct crid_systemd *sd, const char *unit,
						   const char *slice, pid_t pid,
						   crid_systemd_done_fn done, void *user,
						   struct crid_err *err)
{
	struct crid_systemd_call *c = crid_calloc(1, sizeof(*c));
	sd_bus_message *m = NULL;
	int r;

	if (sd->lost) {
		crid_free(c);
		crid_err_cause(err, EIO,
			       "systemd scope `%s`: connection to systemd lost (reconnecting)",
			       unit);
		return NULL;
	}
	if (!c)
		return crid_err_set(err, ENOMEM, "systemd scope `%s`", unit), NULL;
	snprintf(c->unit, sizeof(c->unit), "%s", unit);
	c->sd = sd;
	c->done = done;
	c->user = user;
	r = scope_message(sd->bus, &m, unit, slice, pid);
	if (r >= 0)
		r = sd_bus_call_async(sd->bus, &c->slot, m, on_reply, c, CALL_TIMEOUT_USEC);
	sd_bus_message_unref(m);
	if (r < 0) {
		crid_free(c);
		crid_err_set(err, -r, "systemd StartTransientUnit `%s`", unit);
		return NULL;
	}
	c->next = sd->calls;
	if (c->next)
		c->next->pprev = &c->next;
	c->pprev = &sd->calls;
	sd->calls = c;
	bus_arm(sd);
	return c;
}

void crid_systemd_call_cancel(struct crid_systemd_call *call)
{
	if (!call)
		return;
	call_unlink(call);
	crid_free(call);
}

/* ---- connecting ---- */

static int connect_bus(sd_bus **bus, char *tried, size_t size)
{
	int r = sd_bus_new(bus);

	if (r >= 0)
		r = sd_bus_set_address(*bus, PRIVATE_BUS);
	if (r >= 0)
		r = sd_bus_start(*bus);
	if (r >= 0)
		return 0;
	snprintf(tried, size, "`/run/systemd/private`: %s", strerror(-r));
	*bus = sd_bus_unref(*bus);
	r = sd_bus_open_system(bus);
	if (r < 0) {
		size_t n = strlen(tried);

		snprintf(tried + n, size - n, "; the system bus: %s", strerror(-r));
		*bus = sd_bus_unref(*bus);
	}
	return r;
}

/* Manager.Subscribe(): systemd emits JobRemoved only to subscribed clients. */
static int subscribe(sd_bus *bus, sd_bus_error *e)
{
	sd_bus_message *m = NULL;
	int r = sd_bus_message_new_method_call(bus, &m, SD_DEST, SD_PATH, SD_MANAGER, "Subscribe");

	if (r >= 0)
		r = sd_bus_call(bus, m, 0, e, NULL);
	sd_bus_message_unref(m);
	return r;
}

static int check_manager(struct crid_systemd *sd, double timeout, struct crid_err *err)
{
	sd_bus_error e = SD_BUS_ERROR_NULL;
	int r;

	sd_bus_set_method_call_timeout(sd->bus, (uint64_t)(timeout * 1e6));
	r = sd_bus_get_property_string(sd->bus, SD_DEST, SD_PATH, SD_MANAGER, "Version", &e,
				       &sd->version);
	if (r >= 0)
		r = sd_bus_match_signal(sd->bus, NULL, SD_DEST, SD_PATH, SD_MANAGER, "JobRemoved",
					on_job_removed, sd);
	if (r >= 0)
		r = subscribe(sd->bus, &e);
	if (r < 0)
		crid_err_set(err, -r, "systemd manager: %s", e.message ? e.message : "no answer");
	sd_bus_error_free(&e);
	sd_bus_set_method_call_timeout(sd->bus, CALL_TIMEOUT_USEC);
	return r < 0 ? -1 : 0;
}

struct crid_systemd *crid_systemd_open(struct crid_loop *loop, double timeout, struct crid_err *err)
{
	struct crid_systemd *sd = crid_calloc(1, sizeof(*sd));
	char tried[512] = "";
	int r;

	if (!sd)
		return crid_err_set(err, ENOMEM, "systemd connection"), NULL;
	sd->loop = loop;
	r = connect_bus(&sd->bus, tried, sizeof(tried));
	if (r < 0) {
		crid_free(sd);
		crid_err_cause(err, -r, "no systemd answers: %s", tried);
		return NULL;
	}
	if (check_manager(sd, timeout, err) < 0) {
		crid_systemd_close(sd);
		return NULL;
	}
	ev_timer_init(&sd->timer, on_timer, 0., 0.);
	sd->timer.data = sd;
	ev_timer_init(&sd->reconnect, reconnect_tick, 0., 0.);
	sd->reconnect.data = sd;
	bus_watch(sd);
	return sd;
}

const char *crid_systemd_version(const struct crid_systemd *sd)
{
	return sd->version ? sd->version : "";
}

void crid_systemd_close(struct crid_systemd *sd)
{
	if (!sd)
		return;
	while (sd->calls)
		crid_systemd_call_cancel(sd->calls);
	ev_io_stop(sd->loop->ev, &sd->io); /* zeroed until attached: a no-op then */
	ev_timer_stop(sd->loop->ev, &sd->timer);
	ev_timer_stop(sd->loop->ev, &sd->reconnect);
	sd_bus_slot_unref(sd->subscribing);
	sd_bus_close_unref(sd->bus); /* no flush: it would block */
	free(sd->version);	     /* sd-bus allocated it with malloc */
	crid_free(sd);
}

bool crid_systemd_pod_scope_name(const char *id, char *out, size_t size)
{
	int n = snprintf(out, size, "crid-pod-%s.scope", id);

	return n > 0 && (size_t)n < size;
}
