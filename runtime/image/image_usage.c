/*
 * runtime/image/image_usage: the image store's usage for ImageFsInfo, kept
 * in memory (see image_usage.h). Nothing here runs on the request path: a
 * walk is a `du` child (two, one after the other: bytes, then inodes),
 * read only once it has exited, so no read waits.
 */
#include "runtime/image/image_usage.h"

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "reactor/du_child.h"
#include "reactor/log.h"
#include "reactor/mem.h"

#define DEBOUNCE_S 0.5	 /* a pull commits several layers in a row: one walk after them */
#define PERIOD_S 600.0	 /* and now and then, for changes made behind crid's back */
#define WALK_MAX_S 120.0 /* a walk still running after this is killed */

enum walk_phase { WALK_IDLE, WALK_BYTES, WALK_INODES };

struct crid_image_usage {
	struct crid_loop *loop;
	char *layers, *images; /* the two trees walked */
	crid_image_usage_counters_fn counters;
	void *user;
	ev_timer timer; /* next walk (debounce or period), or the running walk's limit */
	struct crid_du_child du;
	enum walk_phase phase;
	int again; /* changed while walking: walk again once this walk ends */
	uint64_t start_bytes, start_inodes; /* the counters when the running walk began */
	uint64_t new_bytes;
	/* the last complete walk and the counters when it began */
	int have;
	uint64_t walk_bytes, walk_inodes, base_bytes, base_inodes;
	unsigned long walks;
};

static void arm(struct crid_image_usage *u, double after)
{
	ev_timer_stop(u->loop->ev, &u->timer);
	ev_timer_set(&u->timer, after, 0.);
	ev_timer_start(u->loop->ev, &u->timer);
}

static void du_exited(struct crid_child *child, int status, void *user);

/* The walk's |phase|: du of both trees, bytes or inodes; -1 (logged) when it cannot start. */
static int du_start(struct crid_image_usage *u, enum walk_phase phase)
{
	const char *dirs[] = { u->layers, u->images, NULL };
	struct crid_err err;

	if (crid_du_child_start(u->loop, &u->du,
				phase == WALK_BYTES ? CRID_DU_BYTES : CRID_DU_INODES, dirs,
				du_exited, u, &err) < 0) {
		crid_log_warn("image store usage: %s", err.msg);
		return -1;
	}
	u->phase = phase;
	return 0;
}

static void walk_start(struct crid_image_usage *u)
{
	u->counters(u->user, &u->start_bytes, &u->start_inodes);
	u->again = 0;
	if (du_start(u, WALK_BYTES) < 0) {
		arm(u, PERIOD_S);
		return;
	}
	arm(u, WALK_MAX_S);
}

static void walk_end(struct crid_image_usage *u, int ok, uint64_t inodes)
{
	u->phase = WALK_IDLE;
	if (ok) {
		u->have = 1;
		u->walks++;
		u->walk_bytes = u->new_bytes;
		u->walk_inodes = inodes;
		u->base_bytes = u->start_bytes;
		u->base_inodes = u->start_inodes;
	}
	arm(u, u->again ? DEBOUNCE_S : PERIOD_S);
}

static void du_exited(struct crid_child *child, int status, void *user)
{
	struct crid_image_usage *u = user;
	uint64_t v = 0;
	int ok;

	(void)child;
	ok = crid_du_child_total(&u->du, status, &v) == 0;
	if (!ok)
		crid_log_warn("image store usage: du of `%s` exited %d without a total", u->layers,
			      status);
	if (ok && u->phase == WALK_BYTES) {
		u->new_bytes = v;
		if (du_start(u, WALK_INODES) == 0)
			return;
		ok = 0;
	}
	walk_end(u, ok, v);
}

/* Only when the walk must end now (its limit, free). */
static void walk_kill(struct crid_image_usage *u)
{
	if (u->phase == WALK_IDLE)
		return;
	crid_du_child_kill(&u->du);
	u->phase = WALK_IDLE;
}

static void timer_cb(struct ev_loop *ev, ev_timer *w, int revents)
{
	struct crid_image_usage *u = w->data;

	(void)ev;
	(void)revents;
	if (u->phase != WALK_IDLE) {
		crid_log_warn("image store usage: du of `%s` ran %.0f s: killed", u->layers,
			      WALK_MAX_S);
		walk_kill(u);
		arm(u, PERIOD_S);
		return;
	}
	walk_start(u);
}

static char *join(const char *dir, const char *name)
{
	size_t n = strlen(dir) + strlen(name) + 2;
	char *p = crid_malloc(n);

	if (p)
		snprintf(p, n, "%s/%s", dir, name);
	return p;
}

struct crid_image_usage *crid_image_usage_new(struct crid_loop *loop, const char *dir,
					      crid_image_usage_counters_fn counters, void *user,
					      struct crid_err *err)
{
	struct crid_image_usage *u = crid_calloc(1, sizeof(*u));

	if (!u || !(u->layers = join(dir, "layers")) || !(u->images = join(dir, "images"))) {
		if (u)
			crid_free(u->layers);
		crid_free(u);
		crid_err_set(err, ENOMEM, "image store usage");
		return NULL;
	}
	u->loop = loop;
	u->counters = counters;
	u->user = user;
	crid_du_child_init(&u->du);
	ev_init(&u->timer, timer_cb);
	u->timer.data = u;
	arm(u, 0.);
	return u;
}

void crid_image_usage_changed(struct crid_image_usage *u)
{
	if (!u)
		return;
	if (u->phase != WALK_IDLE)
		u->again = 1;
	else
		arm(u, DEBOUNCE_S);
}

/* last walk + (counters now - counters then), never below zero */
static uint64_t carry(uint64_t walked, uint64_t base, uint64_t now)
{
	if (now >= base)
		return walked + (now - base);
	return base - now > walked ? 0 : walked - (base - now);
}

void crid_image_usage_get(struct crid_image_usage *u, uint64_t *bytes, uint64_t *inodes)
{
	uint64_t b, i;

	u->counters(u->user, &b, &i);
	if (!u->have) {
		*bytes = b;
		*inodes = i;
		return;
	}
	*bytes = carry(u->walk_bytes, u->base_bytes, b);
	*inodes = carry(u->walk_inodes, u->base_inodes, i);
}

unsigned long crid_image_usage_walks(const struct crid_image_usage *u)
{
	return u ? u->walks : 0;
}

void crid_image_usage_free(struct crid_image_usage *u)
{
	if (!u)
		return;
	walk_kill(u);
	ev_timer_stop(u->loop->ev, &u->timer);
	crid_free(u->layers);
	crid_free(u->images);
	crid_free(u);
}
