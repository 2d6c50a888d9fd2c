/*
 * Container lifecycle (see ctr.h): create, start, stop, remove and update
 * as steps on the loop, the exit watch, and the container's log. The
 * operation machine (waiters, joining a stop to a stop or removal,
 * abandonment, the per-container queue) is reactor/op; this file holds the
 * steps and the joining rule. May call reactor/, io/cri_log and the oci,
 * image, state and container rooms.
 */
#include "runtime/container/ctr.h"
#include "runtime/container/ctr_internal.h"
#include "runtime/container/ctr_orphans.h"

#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <signal.h>
#include <stddef.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/prctl.h>
#include <sys/stat.h>
#include <sys/syscall.h>
#include <time.h>
#include <unistd.h>

#include "io/cri_log.h"
#include "io/utf8.h"
#include "runtime/container/cgroup_stats.h"
#include "reactor/debug_point.h"
#include "reactor/log.h"
#include "reactor/mem.h"
#include "reactor/metrics_families.h"
#include "reactor/pidfd.h"
#include "runtime/image/image_names.h"
#include "runtime/oci/oci_runtime.h"
#include "runtime/oci/proc_signal.h"
#include "runtime/container/rootfs.h"
#include "runtime/state/statefile.h"

/* After the init exited, how long its FIFOs may stay open (a grandchild holding them). */
#define LOG_DRAIN_TIMEOUT 2.0
/* After SIGKILL, how long a container may take to die before stop reports it. */
#define KILL_GRACE 10.0
/*
 * While a PID 1 does not catch the stop signal yet, how often stop looks
 * again: soon at first (a program installs its handler within milliseconds
 * of its exec), then ten times a second at most, until the timeout's SIGKILL.
 */
#define RESEND_FIRST 0.005
#define RESEND_MAX 0.1
/*
 * How long an undone create's leftovers may take to die of SIGKILL before
 * the undo goes on: a SIGKILLed process is gone in ms; on a loaded node
 * three runc init stages took > 66 ms.
 */
#define ORPHANS_WAIT_MS 10000

static void finalize_exit(struct exit_watch *w);
static void op_start(struct crid_ctr_op *op);

int ctr_subpath(char *out, const char *dir, const char *name)
{
	int n = snprintf(out, PATH_MAX, "%s/%s", dir, name);

	return n < 0 || n >= PATH_MAX ? -1 : 0;
}

static void set_str(char **dst, const char *s)
{
	char *d = crid_strdup(s);

	if (d) {
		crid_free(*dst);
		*dst = d;
	}
}

static void emit(struct crid_ctrs *ctrs, enum crid_ctr_event type, const struct crid_container *c)
{
	if (ctrs->on_event)
		ctrs->on_event(ctrs->event_user, type, c);
}

static void save_or_log(struct crid_ctrs *ctrs, struct crid_container *c)
{
	struct crid_err e;

	if (crid_container_save(ctrs->store, c, &e) < 0)
		crid_log_error("container %.12s: %s", c->id, e.msg);
}

/* ---- operations: queueing and completion ---- */

struct crid_ctr_op *ctr_op_new(struct crid_ctrs *ctrs, struct crid_container *c, enum op_kind kind,
			       crid_ctr_done_fn done, void *user)
{
	struct crid_ctr_op *op = crid_calloc(1, sizeof(*op));

	if (!op)
		return NULL;
	crid_op_init(&op->base, kind);
	crid_trace_begin(&op->trace);
	op->ctrs = ctrs;
	op->c = c;
	op->init_fds[0] = op->init_fds[1] = op->init_fds[2] = -1;
	crid_start_mark_init(&op->start);
	snprintf(op->short_id, sizeof(op->short_id), "%.12s", c->id);
	if (done && !crid_op_wait(&op->base, (crid_op_fn)done, user)) {
		crid_free(op);
		return NULL;
	}
	return op;
}

static struct crid_ctr_op *ctr_op(struct crid_op *base)
{
	return base ? (struct crid_ctr_op *)((char *)base - offsetof(struct crid_ctr_op, base))
		    : NULL;
}

static void op_free(struct crid_ctr_op *op)
{
	crid_op_drop_waiters(&op->base);
	crid_ctr_orphans_cancel(op->orphans);
	for (int i = 0; i < 3; i++)
		if (op->init_fds[i] >= 0)
			close(op->init_fds[i]);
	crid_start_mark_drop(&op->start);
	crid_free(op->resources_json);
	crid_free(op->encoded);
	crid_free(op);
}

static void resend_stop(struct crid_ctr_op *op)
{
	if (op->resend_on)
		ev_timer_stop(op->ctrs->loop->ev, &op->resend);
	op->resend_on = false;
}

static void op_fail(struct crid_ctr_op *op, const struct crid_err *err)
{
	crid_op_fail(&op->base, err);
}

static void deliver(const struct crid_op *op, crid_op_fn done, void *user, void *alive)
{
	((crid_ctr_done_fn)done)(user, op->status, op->status == 0 ? alive : NULL,
				 op->status < 0 ? &op->err : NULL);
}

/* The RPC an operation answers, for its trace line (an undo is recovery's or create's own). */
static const char *rpc_name(enum op_kind k)
{
	static const char *const names[] = {
		"CreateContainer", "StartContainer",	       "StopContainer",
		"RemoveContainer", "UpdateContainerResources", "UndoCreateContainer",
		"RetireContainer"
	};

	return names[k];
}

static void op_finish(struct crid_ctr_op *op, struct crid_container *alive)
{
	struct crid_ctr_op *next = ctr_op(crid_op_unqueue(&op->base));

	if (op->timer_on)
		ev_timer_stop(op->ctrs->loop->ev, &op->timer);
	resend_stop(op);
	if (op->base.status < 0)
		crid_log_info("container %s: %s", op->short_id, op->base.err.msg);
	crid_trace_log(&op->trace, rpc_name(op->base.kind), "container", op->short_id);
	if (alive)
		alive->op = NULL;
	crid_op_answer(&op->base, deliver, alive);
	op_free(op);
	if (!next)
		return;
	if (alive) {
		alive->op = next;
		next->c = alive;
		op_start(next);
		return;
	}
	while (next) { /* the container is gone: stop and remove behind it have nothing to do */
		struct crid_ctr_op *after = ctr_op(crid_op_unqueue(&next->base));
		struct crid_err e;

		if (next->base.kind != OP_STOP && next->base.kind != OP_REMOVE &&
		    next->base.kind != OP_RETIRE)
			op_fail(next, (crid_err_cause(&e, ENOENT, "container %s was removed",
						      next->short_id),
				       &e));
		op_finish(next, NULL);
		next = after;
	}
}

/* Runs |op| now, or after the operation already running on its container. */
static struct crid_ctr_op *submit(struct crid_ctr_op *op, struct crid_err *err)
{
	struct crid_container *c = op->c;

	(void)err;
	if (!c->op) {
		c->op = op;
		op_start(op);
		return op;
	}
	crid_op_append(&c->op->base, &op->base);
	op->was_queued = true;
	return op;
}

/*
 * A stop is satisfied by a running or queued stop, retirement or removal; a
 * retirement by one or by a removal; a removal only by one.
 */
static bool joins(const struct crid_op *cand, bool running, int kind)
{
	(void)running;
	if (cand->kind == kind || (kind != OP_REMOVE && cand->kind == OP_REMOVE))
		return true;
	return kind == OP_STOP && cand->kind == OP_RETIRE;
}

static struct crid_ctr_op *join(struct crid_container *c, enum op_kind kind, crid_ctr_done_fn done,
				void *user)
{
	return ctr_op(
	    crid_op_join(c->op ? &c->op->base : NULL, joins, kind, (crid_op_fn)done, user));
}

/* The operation goes on without the caller; nothing else changes. */
void crid_ctr_op_abandon(struct crid_ctr_op *op, void *user)
{
	crid_op_abandon(&op->base, user);
}

/* ---- the runtime of a container ---- */

int ctr_runtime_of(struct crid_ctrs *ctrs, const char *handler, struct crid_oci_runtime *rt,
		   struct crid_err *err)
{
	const struct crid_runtime_handler *h = crid_config_find_runtime(ctrs->cfg, handler);

	if (!h)
		return crid_err_set(err, EINVAL, "runtime handler `%s` is not configured", handler);
	rt->mnt_ns_fd = -1;
	rt->hide_mount = NULL;
	rt->call_timeout = CRID_RUNTIME_TIMEOUT(ctrs);
	rt->systemd_cgroup = ctrs->host->systemd_cgroup;
	for (size_t i = 0; i < ctrs->host->n_runtimes; i++) {
		const struct crid_host_runtime *r = &ctrs->host->runtimes[i];

		if (strcmp(r->name, h->name) != 0)
			continue;
		if (!r->usable)
			return crid_err_set(err, EINVAL, "runtime handler `%s` is unusable: %s",
					    h->name, r->why);
		rt->mnt_ns_fd = r->mnt_ns_fd;
		rt->hide_mount = r->hide_mount;
	}
	rt->name = h->name;
	rt->path = h->runtime_path;
	rt->root = h->runtime_root;
	return 0;
}

static int paths(struct crid_ctrs *ctrs, const struct crid_container *c, char *bundle, char *layer)
{
	return crid_container_bundle(ctrs->store, c, bundle, PATH_MAX) < 0 ||
		       crid_container_layer(ctrs->store, c, layer, PATH_MAX) < 0
		   ? -1
		   : 0;
}

static void fd_name(char *out, size_t size, const struct crid_container *c, const char *what)
{
	snprintf(out, size, "c-%s-%s", c->id, what);
}

static void store_fd(struct crid_ctrs *ctrs, const struct crid_container *c, const char *what,
		     int fd)
{
	char name[CRID_ID_LEN + 16];
	struct crid_err e;

	if (!ctrs->fds || fd < 0)
		return;
	fd_name(name, sizeof(name), c, what);
	if (crid_fd_store_put(ctrs->fds, name, fd, &e) < 0)
		crid_log_warn("container %.12s: fd store: %s", c->id, e.msg);
}

void ctr_fds_reseed(void *user)
{
	struct crid_ctrs *ctrs = user;
	size_t n, kept = 0;
	struct crid_container *const *all = crid_container_list(ctrs->store, &n);

	for (size_t i = 0; i < n; i++) {
		const struct crid_container *c = all[i];

		if (c->pidfd < 0 && c->out_fd < 0 && c->err_fd < 0 && c->in_fd < 0)
			continue;
		store_fd(ctrs, c, "pid", c->pidfd);
		store_fd(ctrs, c, "out", c->out_fd);
		store_fd(ctrs, c, "err", c->err_fd);
		store_fd(ctrs, c, "in", c->in_fd);
		kept++;
	}
	crid_log_info("fd store: the fds of %zu containers deposited again", kept);
}

static void unstore_fds(struct crid_ctrs *ctrs, const struct crid_container *c)
{
	static const char *const what[] = { "pid", "out", "err", "in" };
	char name[CRID_ID_LEN + 16];

	for (size_t i = 0; ctrs->fds && i < 4; i++) {
		fd_name(name, sizeof(name), c, what[i]);
		crid_fd_store_remove(ctrs->fds, name, NULL);
	}
}

/* ---- the exit watch ---- */

static void close_tracking(struct crid_container *c)
{
	ctr_stream_output_ended(c); /* attach sessions: the output is complete */
	if (c->log) {
		crid_cri_log_close(c->log);
		c->log = NULL;
	}
	if (c->out_fd >= 0)
		close(c->out_fd);
	if (c->err_fd >= 0)
		close(c->err_fd);
	if (c->pidfd >= 0)
		close(c->pidfd);
	if (c->in_fd >= 0)
		close(c->in_fd);
	c->out_fd = c->err_fd = c->pidfd = c->in_fd = -1;
}

static void watch_free(struct exit_watch *w)
{
	ev_io_stop(w->ctrs->loop->ev, &w->io);
	ev_timer_stop(w->ctrs->loop->ev, &w->timer);
	w->c->watch = NULL;
	crid_free(w);
}

static void log_drained(void *user)
{
	struct exit_watch *w = user;

	if (w->exited)
		finalize_exit(w);
}

static void drain_timeout(struct ev_loop *ev, ev_timer *t, int revents)
{
	struct exit_watch *w = t->data;

	(void)ev, (void)revents;
	crid_log_debug("container %.12s: stdio still open %.0fs after exit; log closed", w->c->id,
		       LOG_DRAIN_TIMEOUT);
	finalize_exit(w);
}

static void exit_retry(struct ev_loop *ev, ev_timer *t, int revents)
{
	(void)ev, (void)revents;
	ctr_query_exit(t->data);
}

/* The init is gone: wait for the last of its output to reach the log, then record it. */
static void exited(struct exit_watch *w)
{
	w->exited = true;
	ev_io_stop(w->ctrs->loop->ev, &w->io);
	ctr_stream_output_draining(w->c); /* attach pauses and streaming execs end with it */
	if (!w->c->log || crid_cri_log_done(w->c->log)) {
		finalize_exit(w);
		return;
	}
	ev_timer_stop(w->ctrs->loop->ev, &w->timer);
	ev_timer_init(&w->timer, drain_timeout, LOG_DRAIN_TIMEOUT, 0.);
	w->timer.data = w;
	ev_timer_start(w->ctrs->loop->ev, &w->timer);
}

void ctr_query_exit(struct exit_watch *w)
{
	int status = 0;

	switch (crid_pidfd_exit(w->c->pidfd, &status)) {
	case CRID_EXIT_RUNNING:
		return;
	case CRID_EXIT_PENDING: /* not ours and not reaped yet: its new parent reaps soon */
		ev_io_stop(w->ctrs->loop->ev, &w->io);
		ev_timer_stop(w->ctrs->loop->ev, &w->timer);
		ev_timer_init(&w->timer, exit_retry, 0.2, 0.);
		w->timer.data = w;
		ev_timer_start(w->ctrs->loop->ev, &w->timer);
		return;
	case CRID_EXIT_UNKNOWN:
		w->status_known = false;
		break;
	case CRID_EXIT_KNOWN:
		w->status_known = true;
		w->status = status;
		break;
	}
	exited(w);
}

static void pidfd_ready(struct ev_loop *ev, ev_io *io, int revents)
{
	(void)ev, (void)revents;
	ctr_query_exit(io->data);
}

struct exit_watch *ctr_watch_start(struct crid_ctrs *ctrs, struct crid_container *c)
{
	struct exit_watch *w = crid_calloc(1, sizeof(*w));

	if (!w)
		return NULL;
	w->ctrs = ctrs;
	w->c = c;
	c->watch = w;
	ev_io_init(&w->io, pidfd_ready, c->pidfd, EV_READ);
	w->io.data = w;
	ev_timer_init(&w->timer, drain_timeout, LOG_DRAIN_TIMEOUT, 0.);
	w->timer.data = w;
	ev_io_start(ctrs->loop->ev, &w->io);
	if (c->log)
		crid_cri_log_on_eof(c->log, log_drained, w);
	return w;
}

static const char *exit_reason(const struct crid_ctrs *ctrs, const struct crid_container *c,
			       const struct exit_watch *w)
{
	if (!w->status_known)
		return "Unknown";
	if (crid_cgroup_oom_killed(ctrs->host, c->cgroups_path))
		return "OOMKilled";
	return w->status == 0 ? "Completed" : "Error";
}

static void wake_stoppers(struct crid_container *c);

/* Records the exit: state, code, reason, time; drops the fds from the store. */
static void finalize_exit(struct exit_watch *w)
{
	struct crid_ctrs *ctrs = w->ctrs;
	struct crid_container *c = w->c;

	c->state = CRID_CTR_EXITED;
	c->finished_at = crid_wall_ns();
	c->exit_code = w->status_known ? w->status : 255;
	set_str(&c->reason, exit_reason(ctrs, c, w));
	if (c->reason && strcmp(c->reason, "OOMKilled") == 0)
		crid_metric_inc(&crid_m_oom, NULL, NULL);
	if (!w->status_known)
		set_str(&c->message, "the exit status was lost: crid was down when the container "
				     "exited and this kernel keeps none for it");
	watch_free(w);
	close_tracking(c);
	unstore_fds(ctrs, c);
	save_or_log(ctrs, c);
	crid_log_info("container %.12s exited: %d (%s)", c->id, c->exit_code, c->reason);
	emit(ctrs, CRID_CTR_EVENT_STOPPED, c);
	wake_stoppers(c);
}

/* ---- create ---- */

void ctr_remove_bundle(const char *bundle)
{
	DIR *d = opendir(bundle);
	struct dirent *e;

	if (d) {
		while ((e = readdir(d)))
			if (strcmp(e->d_name, ".") && strcmp(e->d_name, ".."))
				unlinkat(dirfd(d), e->d_name, 0);
		closedir(d);
	}
	rmdir(bundle);
}

/* Unmounts the root and moves the writable layer to the trash (deleted off the loop). */
static void remove_layer(struct crid_ctrs *ctrs, struct crid_container *c, const char *layer)
{
	char to[PATH_MAX];
	struct crid_err e;

	/* the stats and ImageFsInfo paths measure <layer>/upper: drop its cached figure */
	if (ctrs->du && snprintf(to, sizeof(to), "%s/upper", layer) < (int)sizeof(to))
		crid_du_cache_forget(ctrs->du, to);
	if (crid_rootfs_unmount(layer, &e) < 0)
		crid_log_warn("container %.12s: %s", c->id, e.msg);
	if (ctr_subpath(to, crid_container_trash_dir(ctrs->store), c->id) < 0)
		return;
	if (rename(layer, to) < 0 && errno != ENOENT)
		crid_log_warn("container %.12s: move `%s` to trash: %s", c->id, layer,
			      strerror(errno));
	crid_trash_sweep(&ctrs->trash);
}

static void release_image(struct crid_ctrs *ctrs, const struct crid_container *c)
{
	struct crid_image *img = crid_image_store_find(ctrs->images, c->image_ref);

	if (img && img->users)
		img->users--;
}

/* Everything of a container but its record; the record goes last. Marks |t| (may be NULL). */
static void dismantle(struct crid_ctrs *ctrs, struct crid_container *c, struct crid_trace *t)
{
	char bundle[PATH_MAX], layer[PATH_MAX];
	struct crid_trace none = { 0 };

	if (!t)
		t = &none;
	if (c->watch)
		watch_free(c->watch);
	close_tracking(c);
	unstore_fds(ctrs, c);
	crid_trace_mark(t, "fds");
	if (paths(ctrs, c, bundle, layer) == 0) {
		remove_layer(ctrs, c, layer);
		crid_trace_mark(t, "layer");
		ctr_remove_bundle(bundle);
		crid_trace_mark(t, "bundle");
	}
	release_image(ctrs, c);
}

/*
 * A create cut short (crid killed while `runtime create` ran) can leave the
 * container's cgroup directories with no runtime state naming them, so the
 * runtime's delete leaves them too: remove them where empty, in every
 * hierarchy (rmdir of a cgroup that still holds a process fails, harmlessly).
 */
static void drop_cgroups(const struct crid_container *c)
{
	char rel[PATH_MAX], path[PATH_MAX * 2];
	struct dirent *e;
	DIR *d;

	if (!c->cgroups_path ||
	    crid_cgroup_path_expand(c->cgroups_path, rel, sizeof(rel), NULL) < 0)
		return;
	d = opendir(CRID_CGROUP_ROOT);
	if (!d)
		return;
	while ((e = readdir(d))) {
		if (e->d_name[0] == '.')
			continue;
		snprintf(path, sizeof(path), "%s/%s%s", CRID_CGROUP_ROOT, e->d_name, rel);
		if (rmdir(path) == 0)
			crid_log_info("container %.12s: removed cgroup `%s` its interrupted create "
				      "left",
				      c->id, path);
	}
	closedir(d);
	snprintf(path, sizeof(path), "%s%s", CRID_CGROUP_ROOT, rel); /* cgroup2 alone */
	rmdir(path);
}

static void undo_deleted(void *user, int status, const char *out, size_t len,
			 const struct crid_err *err)
{
	struct crid_ctr_op *op = user;
	struct crid_container *c = op->c;
	struct crid_err e;

	(void)out, (void)len;
	op->call = NULL;
	crid_trace_mark(&op->trace, "rt_delete");
	if (status < 0)
		crid_log_warn("container %s: runtime delete: %s", op->short_id, err->msg);
	drop_cgroups(c);
	dismantle(op->ctrs, c, &op->trace);
	if (crid_container_delete(op->ctrs->store, c, &e) < 0)
		crid_log_warn("container %s: %s", op->short_id, e.msg);
	crid_trace_mark(&op->trace, "record");
	op_finish(op, NULL);
}

/* The runtime forgets the container, then its files go. */
static void undo_delete(struct crid_ctr_op *op)
{
	struct crid_oci_runtime rt;
	struct crid_err e;

	if (ctr_runtime_of(op->ctrs, op->c->runtime_handler, &rt, &e) == 0)
		op->call = crid_oci_delete(op->ctrs->loop, &rt, op->c->id, true,
					   CRID_RUNTIME_TIMEOUT(op->ctrs), undo_deleted, op, &e);
	if (!op->call)
		undo_deleted(op, -1, NULL, 0, &e);
}

/* What the create left is gone, or the wait gave up (logged): the undo removes what it can. */
static void orphans_gone(void *user, bool gone)
{
	struct crid_ctr_op *op = user;

	(void)gone;
	op->orphans = NULL;
	crid_trace_mark(&op->trace, "orphans");
	undo_delete(op);
}

/*
 * A create that failed, timed out or was interrupted by a kill of crid: its
 * runtime's init stages (or an init already made) may still be alive in the
 * container's cgroups, and a cgroup holding a process cannot be removed, so
 * they are killed and waited for first (ctr_orphans.h), off the loop. The
 * init's exit is no exit to record: tracking stops here.
 */
void ctr_undo_created(struct crid_ctr_op *op)
{
	struct crid_container *c = op->c;

	if (c->watch)
		watch_free(c->watch);
	close_tracking(c);
	op->orphans = crid_ctr_orphans_kill(op->ctrs->loop, c->id, c->cgroups_path, ORPHANS_WAIT_MS,
					    orphans_gone, op);
	if (!op->orphans)
		undo_delete(op);
}

int ctr_open_log(struct crid_ctrs *ctrs, struct crid_container *c, struct crid_err *err)
{
	const char *path = c->log_path[0] ? c->log_path : "/dev/null";
	char dir[PATH_MAX];
	struct crid_err e;
	char *slash;

	/* kubelet makes the pod's log dir; a crictl user's pod config may name a new one */
	snprintf(dir, sizeof(dir), "%s", path);
	slash = strrchr(dir, '/');
	if (slash && slash != dir) {
		*slash = '\0';
		if (crid_mkdir_p(dir, 0755, err) < 0)
			return crid_err_wrap(err, "log directory");
	}

	c->log =
	    crid_cri_log_open(ctrs->loop, path, c->out_fd, c->err_fd, ctrs->cfg->log_size_max, err);
	if (!c->log && err && (err->code == ELOOP || err->code == EISDIR)) {
		/* O_NOFOLLOW met a link, or a directory took the name since create */
		err->code = EINVAL;
		return crid_err_wrap(err, "config.log_path");
	}
	if (!c->log)
		return -1;
	/* the journal next to the FIFOs: no line lost or doubled by a kill -9 */
	if (c->log_path[0] && crid_container_bundle(ctrs->store, c, dir, sizeof(dir)) == 0 &&
	    crid_cri_log_journal(c->log, dir, &e) < 0)
		crid_log_warn("container %.12s: %s", c->id, e.msg);
	return 0;
}

/* The init exists (waiting for start): track it by pidfd, keep its fds in the store. */
static int adopt_init(struct crid_ctr_op *op, const char *bundle, struct crid_err *err)
{
	struct crid_container *c = op->c;
	char path[PATH_MAX], *text;
	struct crid_exe_id exe;
	size_t len;
	long pid;

	if (ctr_subpath(path, bundle, "pid") < 0)
		return crid_err_set(err, ENAMETOOLONG, "pid file path");
	if (crid_statefile_read(path, 64, &text, &len, err) < 0)
		return crid_err_wrap(err, "runtime pid file");
	pid = strtol(text, NULL, 10);
	crid_free(text);
	if (pid <= 0)
		return crid_err_set(err, EINVAL, "runtime pid file `%s` holds no pid", path);
	c->pid = (pid_t)pid;
	c->pidfd = (int)syscall(SYS_pidfd_open, c->pid, 0);
	if (c->pidfd < 0)
		return crid_err_set(err, errno, "pidfd of container init %ld", pid);
	if (crid_proc_exe_id(c->pid, &exe) == 0) { /* the runtime's, until it execs the process */
		c->runtime_exe_dev = exe.dev;
		c->runtime_exe_ino = exe.ino;
	}
	c->is_child = true;
	if (ctr_open_log(op->ctrs, c, err) < 0 || !ctr_watch_start(op->ctrs, c))
		return crid_err_wrap(err, "container log");
	store_fd(op->ctrs, c, "pid", c->pidfd);
	store_fd(op->ctrs, c, "out", c->out_fd);
	store_fd(op->ctrs, c, "err", c->err_fd);
	/* a terminal's stdin is its master: this dup is the writer stdin_once drops */
	if (c->tty && c->stdin && c->out_fd >= 0)
		c->in_fd = fcntl(c->out_fd, F_DUPFD_CLOEXEC, 3);
	store_fd(op->ctrs, c, "in", c->in_fd);
	return 0;
}

static void created(void *user, int status, const char *out, size_t len, const struct crid_err *err)
{
	struct crid_ctr_op *op = user;
	struct crid_container *c = op->c;
	char bundle[PATH_MAX], layer[PATH_MAX];
	struct crid_err e;

	(void)out, (void)len;
	op->call = NULL;
	crid_trace_mark(&op->trace, "rt_create");
	for (int i = 0; i < 3; i++) { /* the container holds its own copies now */
		if (op->init_fds[i] >= 0)
			close(op->init_fds[i]);
		op->init_fds[i] = -1;
	}
	if (status < 0) {
		op_fail(op, err);
		ctr_undo_created(op);
		return;
	}
	if (paths(op->ctrs, c, bundle, layer) < 0 || adopt_init(op, bundle, &e) < 0) {
		op_fail(op, &e);
		ctr_undo_created(op);
		return;
	}
	crid_trace_mark(&op->trace, "adopt");
	crid_debug_point("ctr-after-runtime-create"); /* the runtime has it, the record not */
	c->state = CRID_CTR_CREATED;
	if (crid_container_save(op->ctrs->store, c, &e) < 0) {
		op_fail(op, &e);
		ctr_undo_created(op);
		return;
	}
	crid_trace_mark(&op->trace, "save");
	emit(op->ctrs, CRID_CTR_EVENT_CREATED, c);
	crid_trace_mark(&op->trace, "event");
	op_finish(op, c);
}

/*
 * stdin: the container gets the FIFO's read end only and crid holds the
 * write end (c->in_fd, kept in the fd store too, so a crash of crid is no
 * EOF): the container's stdin reaches EOF exactly when crid lets go of it,
 * on the first attach's end with stdin_once (ctr_stream.c). Attach opens
 * its own writers on the FIFO's path. The read end is opened first, non-
 * blocking (no writer yet), then made blocking again: it is the
 * container's file description.
 */
static int make_stdin(struct crid_ctr_op *op, const char *path, struct crid_err *err)
{
	int fl;

	op->init_fds[0] = open(path, O_RDONLY | O_NONBLOCK | O_CLOEXEC);
	if (op->init_fds[0] < 0)
		return crid_err_set(err, errno, "open `%s`", path);
	op->c->in_fd = open(path, O_WRONLY | O_NONBLOCK | O_CLOEXEC);
	fl = fcntl(op->init_fds[0], F_GETFL);
	if (op->c->in_fd < 0 || fl < 0 || fcntl(op->init_fds[0], F_SETFL, fl & ~O_NONBLOCK) < 0)
		return crid_err_set(err, errno, "open `%s`", path);
	return 0;
}

/*
 * The FIFOs: crid reads from one end of stdout and stderr; the container
 * gets the other opened read-write. stdin: make_stdin.
 */
static int make_stdio(struct crid_ctr_op *op, const char *bundle, struct crid_oci_stdio *stdio,
		      struct crid_err *err)
{
	static const char *const names[] = { "stdin", "stdout", "stderr" };
	struct crid_container *c = op->c;

	for (int i = 0; i < 3; i++) {
		char path[PATH_MAX];

		if (c->tty || (i == 0 && !c->stdin))
			continue; /* a terminal's stdio is its pty, whose master crid gets at create */
		if (ctr_subpath(path, bundle, names[i]) < 0)
			return crid_err_set(err, ENAMETOOLONG, "fifo path");
		if (mkfifo(path, 0600) < 0 && errno != EEXIST)
			return crid_err_set(err, errno, "mkfifo `%s`", path);
		if (i == 0) {
			if (make_stdin(op, path, err) < 0)
				return -1;
			continue;
		}
		if (i == 1)
			c->out_fd = open(path, O_RDONLY | O_NONBLOCK | O_CLOEXEC);
		else if (i == 2)
			c->err_fd = open(path, O_RDONLY | O_NONBLOCK | O_CLOEXEC);
		/* read-write: the container never sees EPIPE, even with no reader */
		op->init_fds[i] = open(path, O_RDWR | O_CLOEXEC);
		if (op->init_fds[i] < 0 || (i == 1 && c->out_fd < 0) || (i == 2 && c->err_fd < 0))
			return crid_err_set(err, errno, "open `%s`", path);
	}
	/* a large pipe: a burst of output waits in the kernel, not in the container */
	if (op->init_fds[1] >= 0)
		fcntl(op->init_fds[1], F_SETPIPE_SZ, 1 << 20);
	if (op->init_fds[2] >= 0)
		fcntl(op->init_fds[2], F_SETPIPE_SZ, 1 << 20);
	stdio->in = op->init_fds[0];
	stdio->out = op->init_fds[1];
	stdio->err = op->init_fds[2];
	return 0;
}

static int mount_root(struct crid_ctrs *ctrs, const struct crid_image *img, const char *layer,
		      struct crid_err *err)
{
	const char **lowers = crid_calloc(img->layers.n + 1, sizeof(*lowers));
	char(*paths)[PATH_MAX] = crid_calloc(img->layers.n + 1, PATH_MAX);
	int r = -1;

	if (!lowers || !paths) {
		crid_err_set(err, ENOMEM, "rootfs");
		goto out;
	}
	for (size_t i = 0; i < img->layers.n; i++) {
		if (crid_image_store_layer_path(ctrs->images, img->layers.v[i], paths[i],
						PATH_MAX) < 0) {
			crid_err_cause(err, ENOENT, "layer %s of image %s", img->layers.v[i],
				       img->id);
			goto out;
		}
		lowers[i] = paths[i];
	}
	r = crid_rootfs_mount(layer, lowers, img->layers.n, err);
out:
	crid_free(lowers);
	crid_free(paths);
	return r;
}

struct create_ctx {
	const struct crid_ctr_create *req;
	struct crid_sandbox *sb;
	struct crid_image *img;
};

static void fill_pod(struct crid_ctrs *ctrs, const struct crid_sandbox *sb, struct crid_ctr_pod *p,
		     char files[4][PATH_MAX])
{
	static const char *const names[] = { "hosts", "resolv.conf", "hostname", "shm" };
	char dir[PATH_MAX];

	memset(p, 0, sizeof(*p));
	crid_sandbox_dir(ctrs->pods->store, sb, NULL, dir, sizeof(dir));
	for (int i = 0; i < 4; i++)
		if (ctr_subpath(files[i], dir, names[i]) < 0)
			files[i][0] = '\0';
	p->id = sb->id;
	p->hostname = sb->hostname;
	p->cgroup_parent = sb->cgroup_parent;
	p->netns = sb->ns.net;
	p->ipcns = sb->ns.ipc;
	p->utsns = sb->ns.uts;
	p->pidns = sb->ns.pid;
	p->host_network = sb->ns_network == CRID_NS_NODE;
	p->host_ipc = sb->ns_ipc == CRID_NS_NODE;
	p->host_pid = sb->ns_pid == CRID_NS_NODE;
	p->hosts_file = files[0];
	p->resolv_file = files[1];
	p->hostname_file = files[2];
	p->shm_dir = access(files[3], F_OK) == 0 ? files[3] : "";
}

static int write_spec(struct crid_ctrs *ctrs, struct create_ctx *x, struct crid_container *c,
		      const char *bundle, const char *layer, struct crid_err *err)
{
	struct crid_oci_input in = { 0 };
	struct crid_oci_spec spec = { 0 };
	struct crid_ctr_pod pod;
	char files[4][PATH_MAX], rootfs[PATH_MAX], path[PATH_MAX];
	int r;

	fill_pod(ctrs, x->sb, &pod, files);
	if (ctr_subpath(rootfs, layer, "rootfs") < 0 ||
	    ctr_subpath(path, bundle, "config.json") < 0)
		return crid_err_set(err, ENAMETOOLONG, "container paths");
	in.spec = x->req->spec;
	in.pod = &pod;
	in.image_config = x->img->config_json;
	in.rootfs = rootfs;
	in.cgroups_path = c->cgroups_path;
	in.host = ctrs->host;
	in.cfg = ctrs->cfg;
	if (crid_oci_spec_build(&in, &spec, err) < 0) {
		if (err && err->code == EBUSY) /* the image's user database (runtime/oci_user.h) */
			crid_err_wrap(err, "image `%s`", x->req->image);
		return -1;
	}
	c->user = spec.user;
	c->stop_signal = spec.stop_signal;
	r = crid_statefile_write_volatile(path, spec.json, spec.len, 0600, err); /* runroot */
	crid_oci_spec_free(&spec);
	return r;
}

/* The steps of create that need no child: dirs, root, config.json, FIFOs, the record. */
static int prepare(struct crid_ctr_op *op, struct create_ctx *x, struct crid_oci_stdio *stdio,
		   struct crid_err *err)
{
	struct crid_ctrs *ctrs = op->ctrs;
	struct crid_container *c = op->c;
	char bundle[PATH_MAX], layer[PATH_MAX];

	if (paths(ctrs, c, bundle, layer) < 0)
		return crid_err_set(err, ENAMETOOLONG, "container paths");
	if (crid_mkdir_p(bundle, 0700, err) < 0 || crid_mkdir_p(layer, 0700, err) < 0)
		return -1;
	crid_trace_mark(&op->trace, "dirs");
	if (mount_root(ctrs, x->img, layer, err) < 0)
		return crid_err_wrap(err, "root filesystem of image %s", x->img->id);
	crid_trace_mark(&op->trace, "mount");
	crid_debug_point("ctr-after-mount"); /* mounted, no record yet: the restore sweeps it */
	if (write_spec(ctrs, x, c, bundle, layer, err) < 0)
		return -1;
	crid_trace_mark(&op->trace, "spec");
	if (make_stdio(op, bundle, stdio, err) < 0)
		return -1;
	crid_trace_mark(&op->trace, "fifos");
	if (crid_container_save(ctrs->store, c, err) < 0)
		return -1;
	crid_trace_mark(&op->trace, "save");
	return 0;
}

/*
 * CRI's log_path is relative to the pod's log_directory and names a file;
 * "" means no log (containerd keeps none then). ".." is refused as a path
 * component only: `a..b.log` is a file name like any other.
 */
static int check_log_path(const char *p, struct crid_err *err)
{
	const char *s = p;
	size_t n = 0;

	if (p[0] == '/' || strchr(p, '\n'))
		return crid_err_invalid(err,
					"config.log_path: `%s` must be relative to the pod's log "
					"directory",
					p);
	while (*s) {
		n = strcspn(s, "/");
		if (n == 2 && s[0] == '.' && s[1] == '.')
			return crid_err_invalid(
			    err, "config.log_path: `%s` must stay inside the pod's log directory",
			    p);
		s += n;
		if (*s == '/')
			s++, n = 0;
	}
	if (*p && (n == 0 || (n == 1 && s[-1] == '.')))
		return crid_err_invalid(err, "config.log_path: `%s` names a directory, not a file",
					p);
	return 0;
}

/* An existing log file must be a plain file: the writer will not follow a link out. */
static int check_log_file(const char *path, struct crid_err *err)
{
	struct stat st;

	if (!*path || lstat(path, &st) < 0)
		return 0; /* made when the container starts */
	if (S_ISLNK(st.st_mode))
		return crid_err_invalid(err, "config.log_path: `%s` is a symbolic link", path);
	if (!S_ISREG(st.st_mode))
		return crid_err_invalid(err, "config.log_path: `%s` is not a regular file", path);
	return 0;
}

/* "" for no log: an empty log_path or no log directory. */
static char *join_path(const char *dir, const char *rel)
{
	size_t n = strlen(dir) + strlen(rel) + 2;
	char *p = crid_malloc(n);

	if (p)
		snprintf(p, n, "%s%s%s", *rel ? dir : "", *rel && *dir ? "/" : "", *dir ? rel : "");
	return p;
}

static int fill_record(struct crid_ctrs *ctrs, struct create_ctx *x, struct crid_container *c,
		       struct crid_err *err)
{
	const struct crid_ctr_create *req = x->req;
	const char *handler =
	    x->sb->runtime_handler[0] ? x->sb->runtime_handler : ctrs->host->default_runtime;
	int bad = 0;

	if (!handler)
		return crid_err_set(err, EINVAL, "no usable OCI runtime");
	memcpy(c->sandbox_id, x->sb->id, sizeof(c->sandbox_id));
	c->attempt = req->attempt;
	c->created_at = crid_wall_ns();
	c->tty = req->spec->tty;
	c->stdin = req->spec->stdin;
	c->stdin_once = req->spec->stdin_once;
#define DUP(f, s) ((c->f = crid_strdup(s)) ? 0 : (bad = 1))
	DUP(name, req->name), DUP(image, req->image), DUP(image_ref, x->img->id);
	DUP(runtime_handler, handler), DUP(reason, ""), DUP(message, "");
#undef DUP
	c->log_path = join_path(x->sb->log_directory, req->log_path);
	if (crid_cgroup_path_format(ctrs->host->systemd_cgroup, x->sb->cgroup_parent, c->id,
				    &c->cgroups_path, err) < 0)
		return crid_err_wrap(err, "pod sandbox %.12s", x->sb->id);
	for (size_t i = 0; !bad && req->labels && i < req->labels->n; i++)
		bad = crid_kvs_add(&c->labels, req->labels->v[i].key, req->labels->v[i].value);
	for (size_t i = 0; !bad && req->annotations && i < req->annotations->n; i++)
		bad = crid_kvs_add(&c->annotations, req->annotations->v[i].key,
				   req->annotations->v[i].value);
	c->config = crid_malloc(req->config_len + 1);
	if (bad || !c->log_path || !c->cgroups_path || !c->config)
		return crid_err_set(err, ENOMEM, "container record");
	if (check_log_file(c->log_path, err) < 0)
		return -1;
	memcpy(c->config, req->config, req->config_len);
	c->config_len = req->config_len;
	return 0;
}

static int find_parts(struct crid_ctrs *ctrs, struct create_ctx *x, struct crid_err *err)
{
	const struct crid_ctr_create *req = x->req;
	bool amb;

	x->sb = crid_sandbox_find(ctrs->pods->store, req->sandbox_id, &amb);
	if (!x->sb || x->sb->state == CRID_SANDBOX_CREATING)
		return crid_err_cause(err, ENOENT, "pod_sandbox_id: pod sandbox %s not found",
				      req->sandbox_id);
	if (x->sb->state != CRID_SANDBOX_READY)
		return crid_err_cause(err, EBUSY, "pod sandbox %.12s is not ready", x->sb->id);
	if (crid_image_names_resolve(ctrs->images, req->image, &x->img, NULL, err) < 0)
		return crid_err_wrap(err, "config.image.image");
	return check_log_path(req->log_path, err);
}

struct crid_ctr_op *crid_ctr_create(struct crid_ctrs *ctrs, const struct crid_ctr_create *req,
				    crid_ctr_done_fn done, void *user, struct crid_err *err)
{
	struct create_ctx x = { .req = req };
	struct crid_oci_stdio stdio = { -1, -1, -1 };
	struct crid_oci_runtime rt;
	struct crid_container *c;
	struct crid_ctr_op *op;
	struct crid_trace t;
	char bundle[PATH_MAX];

	crid_trace_begin(&t);
	if (find_parts(ctrs, &x, err) < 0)
		return NULL;
	c = crid_container_alloc(err);
	if (!c)
		return NULL;
	if (fill_record(ctrs, &x, c, err) < 0 || crid_container_check_size(c, err) < 0 ||
	    ctr_runtime_of(ctrs, c->runtime_handler, &rt, err) < 0) {
		crid_container_free(c);
		return NULL;
	}
	op = ctr_op_new(ctrs, c, OP_CREATE, done, user);
	if (!op) {
		crid_container_free(c);
		crid_err_set(err, ENOMEM, "container operation");
		return NULL;
	}
	if (crid_container_insert(ctrs->store, c, err) < 0) { /* frees c */
		op_free(op);
		return NULL;
	}
	op->trace = t; /* from the lookups on */
	crid_trace_mark(&op->trace, "record");
	x.img->users++;
	c->op = op;
	if (prepare(op, &x, &stdio, err) < 0) {
		/* nothing ran yet: take it apart here; the caller reports |err| */
		dismantle(ctrs, c, NULL);
		crid_container_delete(ctrs->store, c, NULL);
		op_free(op);
		return NULL;
	}
	if (crid_container_bundle(ctrs->store, c, bundle, sizeof(bundle)) == 0)
		op->call = c->tty
			       ? crid_oci_create_tty(ctrs->loop, &rt, c->id, bundle,
						     ctrs->cfg->runroot, &c->out_fd,
						     CRID_RUNTIME_TIMEOUT(ctrs), created, op, err)
			       : crid_oci_create(ctrs->loop, &rt, c->id, bundle, &stdio,
						 CRID_RUNTIME_TIMEOUT(ctrs), created, op, err);
	crid_trace_mark(&op->trace, "rt_spawn");
	if (!op->call) {
		op_fail(op, err);
		ctr_undo_created(op); /* may end |op| at once: the caller copes */
		return op;
	}
	crid_debug_point("ctr-create-sent"); /* `runtime create` runs on, orphaned */
	return op;
}

/* ---- start ---- */

static void started(void *user, int status, const char *out, size_t len, const struct crid_err *err)
{
	struct crid_ctr_op *op = user;
	struct crid_container *c = op->c;

	(void)out, (void)len;
	op->call = NULL;
	crid_trace_mark(&op->trace, "rt_start");
	if (status < 0) {
		op_fail(op, err);
		/* as CRI-O: the container is dead, and its status says why */
		set_str(&c->reason, "StartError");
		set_str(&c->message, err->msg);
		/* the runtime's text, maybe cut mid-character: ContainerStatus must decode */
		if (c->message)
			crid_utf8_scrub(c->message);
		if (c->pidfd >= 0)
			syscall(SYS_pidfd_send_signal, c->pidfd, SIGKILL, NULL, 0);
		save_or_log(op->ctrs, c);
		op_finish(op, c);
		return;
	}
	if (c->state == CRID_CTR_CREATED)
		c->state = CRID_CTR_RUNNING;
	c->started_at = crid_start_mark_end(&op->start);
	if (c->finished_at && c->started_at > c->finished_at) /* its exit was recorded first */
		c->started_at = c->finished_at;
	crid_trace_mark(&op->trace, "start_time");
	save_or_log(op->ctrs, c);
	crid_trace_mark(&op->trace, "save");
	emit(op->ctrs, CRID_CTR_EVENT_STARTED, c);
	crid_trace_mark(&op->trace, "event");
	op_finish(op, c);
}

static void start_run(struct crid_ctr_op *op)
{
	struct crid_container *c = op->c;
	struct crid_oci_runtime rt;
	struct crid_err e;

	if (c->state != CRID_CTR_CREATED) {
		crid_err_cause(&e, EBUSY, "container %.12s is %s, not created", c->id,
			       c->state == CRID_CTR_RUNNING ? "running" : "exited");
		op_fail(op, &e);
		op_finish(op, c);
		return;
	}
	crid_debug_point("ctr-between-create-start");
	if (ctr_runtime_of(op->ctrs, c->runtime_handler, &rt, &e) == 0) {
		crid_start_mark_begin(&op->start, &rt, c->id);
		op->call = crid_oci_start(op->ctrs->loop, &rt, c->id,
					  CRID_RUNTIME_TIMEOUT(op->ctrs), started, op, &e);
		crid_trace_mark(&op->trace, "rt_spawn");
		if (op->call)
			crid_debug_point("ctr-start-sent");
	}
	if (!op->call) {
		op_fail(op, &e);
		op_finish(op, c);
	}
}

struct crid_ctr_op *crid_ctr_start(struct crid_ctrs *ctrs, struct crid_container *c,
				   crid_ctr_done_fn done, void *user, struct crid_err *err)
{
	struct crid_ctr_op *op = ctr_op_new(ctrs, c, OP_START, done, user);

	if (!op) {
		crid_err_set(err, ENOMEM, "container operation");
		return NULL;
	}
	return submit(op, err);
}

/* ---- stop ---- */

static void remove_after_stop(struct crid_ctr_op *op);
static void retire_after_stop(struct crid_ctr_op *op);

/* The container is down: a stop ends, a retirement or removal goes on. */
static void after_stop(struct crid_ctr_op *op)
{
	if (op->base.kind == OP_REMOVE)
		remove_after_stop(op);
	else if (op->base.kind == OP_RETIRE)
		retire_after_stop(op);
	else
		op_finish(op, op->c);
}

/* The exit was recorded: finish the stop (or go on with the removal) waiting on it. */
static void wake_stoppers(struct crid_container *c)
{
	struct crid_ctr_op *op = c->op;

	if (!op || !op->waiting_exit)
		return;
	crid_trace_mark(&op->trace, "exit");
	op->waiting_exit = false;
	after_stop(op);
}

static void kill_grace_over(struct ev_loop *ev, ev_timer *t, int revents)
{
	struct crid_ctr_op *op = t->data;
	struct crid_err e;

	(void)ev, (void)revents;
	op->timer_on = false;
	op->waiting_exit = false;
	crid_err_cause(&e, ETIMEDOUT, "container %s did not die %.0fs after SIGKILL", op->short_id,
		       KILL_GRACE);
	op_fail(op, &e);
	op_finish(op, op->c);
}

static void send_kill(struct crid_ctr_op *op)
{
	struct crid_container *c = op->c;

	op->killed = true;
	if (c->pidfd >= 0)
		syscall(SYS_pidfd_send_signal, c->pidfd, SIGKILL, NULL, 0);
	ev_timer_init(&op->timer, kill_grace_over, KILL_GRACE, 0.);
	op->timer.data = op;
	ev_timer_start(op->ctrs->loop->ev, &op->timer);
	op->timer_on = true;
}

static void stop_timeout(struct ev_loop *ev, ev_timer *t, int revents)
{
	struct crid_ctr_op *op = t->data;

	(void)ev, (void)revents;
	op->timer_on = false;
	crid_log_info("container %s: still running %llds after signal %d: SIGKILL", op->short_id,
		      op->timeout, op->c->stop_signal);
	resend_stop(op);
	send_kill(op);
}

static int stop_signal_of(const struct crid_container *c)
{
	return c->stop_signal > 0 ? c->stop_signal : SIGTERM;
}

/*
 * Sends the stop signal unless it would be lost: while the init is still the
 * runtime's (StartContainer can answer before it exec'd the process: runc
 * closes its exec FIFO before the exec) or, as PID 1 of its namespace, has no
 * handler for it yet (proc_signal.h). A stop right after start would then
 * wait out its whole timeout. False while so.
 */
static bool signal_if_caught(struct crid_ctr_op *op)
{
	struct crid_container *c = op->c;
	int sig = stop_signal_of(c);

	if (c->pid > 0) {
		struct crid_exe_id rt = { c->runtime_exe_dev, c->runtime_exe_ino };
		enum crid_sig_reach r = crid_proc_sig_reach(c->pid, sig, rt.ino ? &rt : NULL);

		if (r == CRID_SIG_DROPPED)
			return false;
		if (r == CRID_SIG_GONE)
			return true; /* the exit watch records it */
	}
	if (c->pidfd >= 0 && syscall(SYS_pidfd_send_signal, c->pidfd, sig, NULL, 0) < 0 &&
	    errno != ESRCH)
		crid_log_warn("container %s: signal %d: %s", op->short_id, sig, strerror(errno));
	return true;
}

static void resend_due(struct ev_loop *ev, ev_timer *t, int revents);

static void resend_arm(struct crid_ctr_op *op)
{
	ev_timer_init(&op->resend, resend_due, op->resend_every, 0.);
	op->resend.data = op;
	ev_timer_start(op->ctrs->loop->ev, &op->resend);
	op->resend_on = true;
}

static void resend_due(struct ev_loop *ev, ev_timer *t, int revents)
{
	struct crid_ctr_op *op = t->data;

	(void)ev, (void)revents;
	op->resend_on = false;
	if (signal_if_caught(op)) {
		crid_log_debug("container %s: signal %d sent now that it arrives", op->short_id,
			       stop_signal_of(op->c));
		return;
	}
	op->resend_every = op->resend_every * 2 < RESEND_MAX ? op->resend_every * 2 : RESEND_MAX;
	resend_arm(op);
}

/* Signals the init (stop signal, or SIGKILL at once) and waits for the exit watch. */
static void stop_run(struct crid_ctr_op *op)
{
	struct crid_container *c = op->c;

	if ((c->state != CRID_CTR_RUNNING && c->state != CRID_CTR_CREATED) || !c->watch) {
		after_stop(op);
		return;
	}
	op->waiting_exit = true;
	if (op->timeout <= 0 || c->state == CRID_CTR_CREATED) {
		send_kill(op);
		crid_trace_mark(&op->trace, "signal");
		return;
	}
	if (!signal_if_caught(op)) {
		/* a PID 1 that will never catch it is killed at the timeout, as before */
		crid_log_debug("container %s: signal %d would be lost (init not exec'd yet, or a "
			       "PID 1 without a handler): sent once it would arrive",
			       op->short_id, stop_signal_of(c));
		op->resend_every = RESEND_FIRST;
		resend_arm(op);
	}
	ev_timer_init(&op->timer, stop_timeout, (double)op->timeout, 0.);
	op->timer.data = op;
	ev_timer_start(op->ctrs->loop->ev, &op->timer);
	op->timer_on = true;
	crid_trace_mark(&op->trace, "signal");
}

/* Joins the container's operation of the same kind, or queues a new one. */
static struct crid_ctr_op *queue_op(struct crid_ctrs *ctrs, struct crid_container *c,
				    enum op_kind kind, long long timeout, crid_ctr_done_fn done,
				    void *user, struct crid_err *err)
{
	struct crid_ctr_op *op = join(c, kind, done, user);

	if (op)
		return op;
	op = ctr_op_new(ctrs, c, kind, done, user);
	if (!op) {
		crid_err_set(err, ENOMEM, "container operation");
		return NULL;
	}
	op->timeout = timeout;
	return submit(op, err);
}

struct crid_ctr_op *crid_ctr_stop(struct crid_ctrs *ctrs, struct crid_container *c,
				  long long timeout, crid_ctr_done_fn done, void *user,
				  struct crid_err *err)
{
	return queue_op(ctrs, c, OP_STOP, timeout, done, user, err);
}

/* ---- the root's unmount, off the loop ---- */

/* What the child undoes, copied into it at the clone. */
struct unmount_task {
	char layer[PATH_MAX];
	char bundle[PATH_MAX]; /* "" = the bundle stays (a retire: the record stays) */
};

static int unmount_root(void *arg, struct crid_err *err)
{
	const struct unmount_task *t = arg;

	if (crid_rootfs_unmount(t->layer, err) < 0)
		return -1;
	if (t->bundle[0])
		ctr_remove_bundle(t->bundle);
	return 0;
}

static void root_unmounted(struct crid_child *child, int status, void *user)
{
	struct crid_ctr_op *op = user;

	(void)child, (void)status;
	op->unmount_on = false;
	crid_trace_mark(&op->trace, "unmount");
	if (op->unmount_err.code || op->unmount_err.msg[0]) {
		op_fail(op, &op->unmount_err);
		op_finish(op, op->c);
		return;
	}
	op->after_unmount(op);
}

/*
 * Unmounts the container's root in a child (umount2 may wait in the
 * kernel for RCU and for the mount's peers), and with |bundle| removes the
 * bundle's files there too (unlinks of FIFOs and config, ~10 ms under
 * load), then |next|. Safe across a crash: the record is unchanged until
 * |next|, both steps are idempotent and the child finishes them even when
 * the daemon dies; a restart sees a container deleted from the runtime,
 * as when killed between those steps before (recovery and removal accept a
 * missing bundle or root).
 */
static void unmount_then(struct crid_ctr_op *op, bool bundle, void (*next)(struct crid_ctr_op *op))
{
	struct unmount_task t;
	struct crid_err e;

	if (paths(op->ctrs, op->c, t.bundle, t.layer) < 0) {
		next(op);
		return;
	}
	if (!bundle)
		t.bundle[0] = '\0';
	op->after_unmount = next;
	/* |t| is on our stack: the child reads its own copy of it */
	if (crid_spawn_fn(op->ctrs->loop, &op->unmount, unmount_root, &t, &op->unmount_err,
			  root_unmounted, op, &e) == 0) {
		op->unmount_on = true;
		crid_debug_point("ctr-unmount-spawned");
		return;
	}
	/* no child (fork refused): on the loop, as before */
	if (unmount_root(&t, &op->unmount_err) == 0)
		crid_err_clear(&op->unmount_err);
	root_unmounted(NULL, 0, op);
}

/* ---- retire ---- */

static void retire_done(struct crid_ctr_op *op)
{
	op->c->retired = true;
	op_finish(op, op->c);
}

static void retired(void *user, int status, const char *out, size_t len, const struct crid_err *err)
{
	struct crid_ctr_op *op = user;

	(void)out, (void)len;
	op->call = NULL;
	crid_trace_mark(&op->trace, "rt_delete");
	if (status < 0) {
		op_fail(op, err);
		op_finish(op, op->c);
		return;
	}
	unmount_then(op, false, retire_done);
}

/* The stop's part is over: its timer off, its signal resent to a late exec. */
static void stop_settled(struct crid_ctr_op *op)
{
	if (op->timer_on) {
		ev_timer_stop(op->ctrs->loop->ev, &op->timer);
		op->timer_on = false;
	}
	resend_stop(op);
}

/* `runtime delete --force`, answered through |done|. */
static void runtime_delete(struct crid_ctr_op *op, crid_oci_done_fn done)
{
	struct crid_oci_runtime rt;
	struct crid_err e;

	if (ctr_runtime_of(op->ctrs, op->c->runtime_handler, &rt, &e) == 0)
		op->call = crid_oci_delete(op->ctrs->loop, &rt, op->c->id, true,
					   CRID_RUNTIME_TIMEOUT(op->ctrs), done, op, &e);
	crid_trace_mark(&op->trace, "rt_spawn");
	if (!op->call)
		done(op, -1, NULL, 0, &e);
}

static void retire_after_stop(struct crid_ctr_op *op)
{
	stop_settled(op);
	if (op->c->retired)
		op_finish(op, op->c);
	else
		runtime_delete(op, retired);
}

struct crid_ctr_op *crid_ctr_retire(struct crid_ctrs *ctrs, struct crid_container *c,
				    crid_ctr_done_fn done, void *user, struct crid_err *err)
{
	return queue_op(ctrs, c, OP_RETIRE, 0, done, user, err);
}

/* ---- remove ---- */

static void remove_done(struct crid_ctr_op *op)
{
	struct crid_container *c = op->c;
	struct crid_err e;

	dismantle(op->ctrs, c, &op->trace);
	emit(op->ctrs, CRID_CTR_EVENT_DELETED, c);
	crid_trace_mark(&op->trace, "event");
	if (crid_container_delete(op->ctrs->store, c, &e) < 0)
		crid_log_warn("container %s: %s", op->short_id, e.msg);
	crid_trace_mark(&op->trace, "record");
	op_finish(op, NULL);
}

static void removed(void *user, int status, const char *out, size_t len, const struct crid_err *err)
{
	struct crid_ctr_op *op = user;

	(void)out, (void)len;
	op->call = NULL;
	crid_trace_mark(&op->trace, "rt_delete");
	if (status < 0) {
		op_fail(op, err);
		op_finish(op, op->c);
		return;
	}
	unmount_then(op, true, remove_done);
}

static void remove_after_stop(struct crid_ctr_op *op)
{
	stop_settled(op);
	if (op->c->retired) /* the pod's stop deleted it from the runtime and unmounted its root */
		remove_done(op);
	else
		runtime_delete(op, removed);
}

struct crid_ctr_op *crid_ctr_remove(struct crid_ctrs *ctrs, struct crid_container *c,
				    crid_ctr_done_fn done, void *user, struct crid_err *err)
{
	return queue_op(ctrs, c, OP_REMOVE, 0, done, user, err);
}

/* ---- update ---- */

static void updated(void *user, int status, const char *out, size_t len, const struct crid_err *err)
{
	struct crid_ctr_op *op = user;
	struct crid_container *c = op->c;

	(void)out, (void)len;
	op->call = NULL;
	if (status < 0) {
		op_fail(op, err);
	} else {
		crid_free(c->resources);
		c->resources = op->encoded;
		c->resources_len = op->encoded_len;
		op->encoded = NULL;
		save_or_log(op->ctrs, c);
	}
	op_finish(op, c);
}

static void update_run(struct crid_ctr_op *op)
{
	struct crid_container *c = op->c;
	char bundle[PATH_MAX], layer[PATH_MAX];
	struct crid_oci_runtime rt;
	struct crid_err e;

	if (c->state != CRID_CTR_RUNNING && c->state != CRID_CTR_CREATED) {
		crid_err_cause(&e, EBUSY, "container %.12s is not running", c->id);
		op_fail(op, &e);
		op_finish(op, c);
		return;
	}
	if (paths(op->ctrs, c, bundle, layer) == 0 &&
	    ctr_runtime_of(op->ctrs, c->runtime_handler, &rt, &e) == 0)
		op->call = crid_oci_update(op->ctrs->loop, &rt, c->id, bundle, op->resources_json,
					   CRID_RUNTIME_TIMEOUT(op->ctrs), updated, op, &e);
	if (!op->call) {
		op_fail(op, &e);
		op_finish(op, c);
	}
}

struct crid_ctr_op *crid_ctr_update(struct crid_ctrs *ctrs, struct crid_container *c,
				    const char *resources_json, const uint8_t *encoded,
				    size_t encoded_len, crid_ctr_done_fn done, void *user,
				    struct crid_err *err)
{
	struct crid_ctr_op *op = ctr_op_new(ctrs, c, OP_UPDATE, done, user);

	if (!op || !(op->resources_json = crid_strdup(resources_json)) ||
	    !(op->encoded = crid_malloc(encoded_len + 1))) {
		if (op)
			op_free(op);
		crid_err_set(err, ENOMEM, "container operation");
		return NULL;
	}
	memcpy(op->encoded, encoded, encoded_len);
	op->encoded_len = encoded_len;
	return submit(op, err);
}

static void op_start(struct crid_ctr_op *op)
{
	if (op->was_queued)
		crid_trace_mark(&op->trace, "queued");
	switch (op->base.kind) {
	case OP_START:
		start_run(op);
		break;
	case OP_STOP:
	case OP_REMOVE:
	case OP_RETIRE:
		stop_run(op);
		break;
	case OP_UPDATE:
		update_run(op);
		break;
	case OP_CREATE:
	case OP_UNDO:
		break; /* started by their creators */
	}
}

void ctr_forget(struct crid_ctrs *ctrs, struct crid_container *c)
{
	struct crid_ctr_op *op = c->op;

	(void)ctrs;
	if (c->watch)
		watch_free(c->watch);
	close_tracking(c);
	while (op) {
		struct crid_ctr_op *next = ctr_op(crid_op_unqueue(&op->base));

		if (op->call)
			crid_oci_call_cancel(op->call);
		if (op->unmount_on) /* it finishes on its own; the unmount is idempotent */
			close(crid_child_detach(&op->unmount));
		if (op->timer_on)
			ev_timer_stop(op->ctrs->loop->ev, &op->timer);
		resend_stop(op);
		op_free(op);
		op = next;
	}
	c->op = NULL;
}

/* ---- log reopen, pod queries ---- */

int crid_ctr_reopen_log(struct crid_ctrs *ctrs, struct crid_container *c, struct crid_err *err)
{
	(void)ctrs;
	if (c->state != CRID_CTR_RUNNING)
		return crid_err_cause(err, EBUSY, "container %.12s is not running", c->id);
	if (!c->log)
		return crid_err_cause(err, ENOENT, "container %.12s has no log writer", c->id);
	return crid_cri_log_reopen(c->log, err);
}

size_t crid_ctrs_of_pod(struct crid_ctrs *ctrs, const char *sandbox_id, struct crid_container **out,
			size_t max)
{
	struct crid_container *const *all;
	size_t n, k = 0;

	all = crid_container_list(ctrs->store, &n);
	for (size_t i = 0; i < n; i++)
		if (strcmp(all[i]->sandbox_id, sandbox_id) == 0 &&
		    all[i]->state != CRID_CTR_CREATING) {
			if (k < max)
				out[k] = all[i];
			k++;
		}
	return k;
}

bool crid_ctr_removing(const struct crid_container *c)
{
	for (const struct crid_op *op = c->op ? &c->op->base : NULL; op; op = op->queued)
		if (op->kind == OP_REMOVE)
			return true;
	return false;
}
