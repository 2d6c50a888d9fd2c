/*
 * runtime/image/image_usage: the image store's usage for ImageFsInfo, kept
 * in memory (see image_usage.h). Nothing here runs on the request path: a
 * walk is a `du` child (two, one after the other: bytes, then inodes),
 * read only once it has exited, so no read waits.
 */
#include "runtime/image/image_usage.h"

#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/wait.h>
#include <unistd.h>

#include "reactor/log.h"
#include "reactor/mem.h"
#include "reactor/spawn.h"

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
	struct crid_child child;
	int out_fd;
	enum walk_phase phase;
	int again; /* changed while walking: walk again once this walk ends */
	uint64_t start_bytes, start_inodes; /* the counters when the running walk began */
	uint64_t new_bytes;
	/* the last complete walk and the counters when it began */
	int have;
	uint64_t walk_bytes, walk_inodes, base_bytes, base_inodes;
	unsigned long walks;
};

static const char *du_path(void)
{
	return access("/usr/bin/du", X_OK) == 0 ? "/usr/bin/du" : "/bin/du";
}

static void arm(struct crid_image_usage *u, double after)
{
	ev_timer_stop(u->loop->ev, &u->timer);
	ev_timer_set(&u->timer, after, 0.);
	ev_timer_start(u->loop->ev, &u->timer);
}

static void du_exited(struct crid_child *child, int status, void *user);

/* `du -scx (-B1 | --inodes) -- layers images`: its last line is the total. */
static int du_start(struct crid_image_usage *u, enum walk_phase phase)
{
	char *argv[] = { "du", "-s",	  "-c",	     "-x", phase == WALK_BYTES ? "-B1" : "--inodes",
			 "--", u->layers, u->images, NULL };
	char *envp[] = { "LC_ALL=C", NULL };
	struct crid_spawn_opts o = { du_path(), argv, envp, -1, -1, -1 };
	struct crid_err err;
	int p[2];

	if (pipe2(p, O_CLOEXEC) < 0) {
		crid_log_warn("image store usage: pipe: %s", strerror(errno));
		return -1;
	}
	o.stdout_fd = p[1];
	if (crid_spawn(u->loop, &u->child, &o, du_exited, u, &err) < 0) {
		crid_log_warn("image store usage: %s", err.msg);
		close(p[0]);
		close(p[1]);
		return -1;
	}
	close(p[1]);
	fcntl(p[0], F_SETFL, O_NONBLOCK);
	u->out_fd = p[0];
	u->phase = phase;
	return 0;
}

/*
 * du's output: a line per tree and "<n>\ttotal", under 3 * (PATH_MAX + 24)
 * bytes, less than a pipe's buffer, so all of it is there once du has
 * exited. Exit 1 (a file vanished during the walk) still prints the total.
 */
static int du_total(struct crid_image_usage *u, int status, uint64_t *out)
{
	char buf[3 * (PATH_MAX + 24)], *line, *end;
	ssize_t r = read(u->out_fd, buf, sizeof(buf) - 1);

	close(u->out_fd);
	u->out_fd = -1;
	if (r <= 0 || (status != 0 && status != 1))
		return -1;
	buf[r] = '\0';
	if (r > 0 && buf[r - 1] == '\n')
		buf[r - 1] = '\0';
	line = strrchr(buf, '\n');
	line = line ? line + 1 : buf;
	if (strcmp(strchr(line, '\t') ? strchr(line, '\t') : "", "\ttotal") != 0)
		return -1;
	errno = 0;
	*out = strtoull(line, &end, 10);
	return errno || end == line || *end != '\t' ? -1 : 0;
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
	ok = du_total(u, status, &v) == 0;
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

/* The child's pidfd, reaped here: only when the walk must end now (limit, free). */
static void walk_kill(struct crid_image_usage *u)
{
	siginfo_t si;
	int fd;

	if (u->phase == WALK_IDLE)
		return;
	crid_child_kill(&u->child, SIGKILL);
	fd = crid_child_detach(&u->child);
	/* SIGKILLed du exits at once: the one wait the loop does here is bounded */
	while (fd >= 0 && waitid(P_PIDFD, (id_t)fd, &si, WEXITED) < 0 && errno == EINTR)
		;
	if (fd >= 0)
		close(fd);
	if (u->out_fd >= 0)
		close(u->out_fd);
	u->out_fd = -1;
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
	u->out_fd = -1;
	u->child.pidfd = -1;
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
