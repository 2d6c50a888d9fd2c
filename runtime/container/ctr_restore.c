/*
 * Containers at start and at the end: open the stores, take the fds back
 * from the fd store and pick up every container where the last daemon left
 * it — still running (watch it again, go on reading its FIFOs: what it wrote
 * meanwhile waited in the kernel), exited while crid was down (its status
 * through the kept pidfd, its last output from the kept FIFO readers), or
 * half-created (undone). Also the hook that takes a pod's containers down
 * before the pod itself.
 */
#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/prctl.h>
#include <unistd.h>

#include "reactor/log.h"
#include "reactor/mem.h"
#include "reactor/pidfd.h"
#include "runtime/container/cgroup_stats.h"
#include "runtime/container/ctr_internal.h"
#include "runtime/container/ctr_start_time.h"
#include "runtime/container/rootfs.h"

struct kept_fd {
	char *name;
	int fd;
};

struct kept_fds {
	struct kept_fd *v;
	size_t n, cap;
};

static void keep(void *user, const char *name, int fd)
{
	struct kept_fds *k = user;

	if (k->n == k->cap) {
		size_t cap = k->cap ? 2 * k->cap : 64;
		struct kept_fd *v = crid_realloc(k->v, cap * sizeof(*v));

		if (!v) {
			close(fd);
			return;
		}
		k->v = v;
		k->cap = cap;
	}
	k->v[k->n].name = crid_strdup(name);
	k->v[k->n].fd = fd;
	if (!k->v[k->n].name) {
		close(fd);
		return;
	}
	k->n++;
}

/* Takes the fd kept under "c-<id>-<what>" (the caller owns it), or -1. */
static int take(struct kept_fds *k, const struct crid_container *c, const char *what)
{
	char name[CRID_ID_LEN + 16];

	snprintf(name, sizeof(name), "c-%s-%s", c->id, what);
	for (size_t i = 0; i < k->n; i++) {
		if (k->v[i].fd >= 0 && strcmp(k->v[i].name, name) == 0) {
			int fd = k->v[i].fd;

			k->v[i].fd = -1;
			return fd;
		}
	}
	return -1;
}

/* A kept FIFO reader is best; without one, reopen the FIFO (what was written meanwhile is lost). */
static int fifo_reader(struct crid_ctrs *ctrs, struct crid_container *c, const char *name)
{
	char bundle[PATH_MAX], path[PATH_MAX];

	if (crid_container_bundle(ctrs->store, c, bundle, sizeof(bundle)) < 0)
		return -1;
	if (ctr_subpath(path, bundle, name) < 0)
		return -1;
	return open(path, O_RDONLY | O_NONBLOCK | O_CLOEXEC);
}

/* A new writer of the stdin FIFO (ENXIO, -1, once the container closed its reader). */
static int stdin_writer(struct crid_ctrs *ctrs, struct crid_container *c)
{
	char bundle[PATH_MAX], path[PATH_MAX];

	int fd;

	if (crid_container_bundle(ctrs->store, c, bundle, sizeof(bundle)) < 0 ||
	    ctr_subpath(path, bundle, "stdin") < 0)
		return -1;
	fd = open(path, O_WRONLY | O_NONBLOCK | O_CLOEXEC);
	snprintf(path, sizeof(path), "c-%s-in", c->id);
	if (fd >= 0 && crid_fd_store_put(ctrs->fds, path, fd, NULL) < 0)
		crid_log_warn("recovery: container %.12s: stdin not kept in the fd store", c->id);
	return fd;
}

static void lost(struct crid_ctrs *ctrs, struct crid_container *c, const char *why)
{
	struct crid_err e;

	crid_log_warn("recovery: container %.12s: %s: reported exited with an unknown status",
		      c->id, why);
	c->state = CRID_CTR_EXITED;
	c->exit_code = 255;
	crid_free(c->reason);
	crid_free(c->message);
	c->reason = crid_strdup("Unknown");
	c->message = crid_strdup(why);
	if (!c->reason || !c->message || crid_container_save(ctrs->store, c, &e) < 0)
		crid_log_error("recovery: container %.12s: record not updated", c->id);
}

static void resume(struct crid_ctrs *ctrs, struct crid_container *c, struct kept_fds *k)
{
	char bundle[PATH_MAX];
	struct exit_watch *w;
	struct crid_err e;

	c->pidfd = take(k, c, "pid");
	c->out_fd = take(k, c, "out");
	c->err_fd = take(k, c, "err");
	if (c->pidfd < 0) {
		lost(ctrs, c, "no pidfd kept for it (node rebooted, or the fd store was lost)");
		return;
	}
	c->in_fd = take(k, c, "in");
	if (c->out_fd < 0)
		c->out_fd = fifo_reader(ctrs, c, "stdout");
	if (c->err_fd < 0)
		c->err_fd = fifo_reader(ctrs, c, "stderr");
	/* without a kept writer: a stdin_once stdin was closed by its attach; else reopen */
	if (c->in_fd < 0 && c->stdin && !c->stdin_once)
		c->in_fd = c->tty ? (c->out_fd >= 0 ? fcntl(c->out_fd, F_DUPFD_CLOEXEC, 3) : -1)
				  : stdin_writer(ctrs, c);
	c->is_child = false;
	if (ctr_open_log(ctrs, c, &e) < 0)
		crid_log_warn("recovery: container %.12s: %s", c->id, e.msg);
	w = ctr_watch_start(ctrs, c);
	if (!w) {
		lost(ctrs, c, "out of memory");
		return;
	}
	crid_log_info("recovery: container %.12s (pid %d) picked up", c->id, (int)c->pid);
	/* execs the previous daemon left running */
	if (c->state == CRID_CTR_RUNNING &&
	    crid_container_bundle(ctrs->store, c, bundle, sizeof(bundle)) == 0)
		crid_exec_proc_sweep(bundle, c->pid);
	ctr_query_exit(w); /* it may have exited while crid was down */
}

/*
 * A container recorded created whose `runtime start` was in flight when crid
 * died: the runtime finished it alone, so the container runs. Recorded as
 * running, or StartContainer would be refused and kubelet would wait forever.
 */
static void started_while_down(struct crid_ctrs *ctrs, struct crid_container *c)
{
	struct crid_oci_runtime rt;
	struct crid_err e;
	int64_t at;

	if (c->pid <= 0 || ctr_runtime_of(ctrs, c->runtime_handler, &rt, &e) < 0)
		return;
	at = crid_start_time_recovered(&rt, c->id, c->pid, c->created_at);
	if (at < 0)
		return;
	c->state = CRID_CTR_RUNNING;
	c->started_at = at;
	if (crid_container_save(ctrs->store, c, &e) < 0)
		crid_log_error("recovery: container %.12s: %s", c->id, e.msg);
	crid_log_info("recovery: container %.12s was started while crid was down: running", c->id);
}

static void recover_one(struct crid_ctrs *ctrs, struct crid_container *c, struct kept_fds *k)
{
	struct crid_image *img = crid_image_store_find(ctrs->images, c->image_ref);

	if (img)
		img->users++; /* RemoveImage refuses an image a container uses */
	switch (c->state) {
	case CRID_CTR_CREATING: {
		struct crid_ctr_op *op = ctr_op_new(ctrs, c, OP_UNDO, NULL, NULL);

		crid_log_info("recovery: container %.12s was being created: undoing it", c->id);
		if (!op)
			break;
		c->op = op;
		ctr_undo_created(op); /* the runtime's leftovers first: see there */
		break;
	}
	case CRID_CTR_CREATED:
		started_while_down(ctrs, c);
		resume(ctrs, c, k);
		break;
	case CRID_CTR_RUNNING:
		resume(ctrs, c, k);
		break;
	case CRID_CTR_EXITED:
	case CRID_CTR_UNKNOWN:
		break;
	}
}

/* ---- the pod's containers ---- */

/*
 * A pod's stop or removal takes its containers down in two rounds, each
 * container's operation running at once beside the others': first every one
 * is stopped (SIGKILL through its pidfd, the exits awaited on the loop),
 * and the pod hears |exited| so its CNI DEL starts; then every one is
 * retired (runtime delete, root unmounted) or removed, and the pod hears
 * |done|. A failed first round skips the second.
 */
struct pod_down {
	struct crid_ctrs *ctrs;
	char sandbox_id[CRID_ID_LEN + 1];
	bool remove, second;
	size_t pending;
	int status;
	struct crid_err err;
	struct crid_pod_down_cbs cbs;
	void *arg;
};

static void round_start(struct pod_down *d);

static void one_down(void *user, int status, struct crid_container *c, const struct crid_err *err)
{
	struct pod_down *d = user;

	(void)c;
	if (status < 0 && d->status == 0) {
		d->status = -1;
		d->err = *err;
	}
	if (--d->pending)
		return;
	if (!d->second) {
		d->cbs.exited(d->arg, d->status, d->status < 0 ? &d->err : NULL);
		d->second = true;
		if (d->status == 0) {
			round_start(d);
			return;
		}
		d->status = 0; /* reported once, with |exited| */
	}
	d->cbs.done(d->arg, d->status, d->status < 0 ? &d->err : NULL);
	crid_free(d);
}

/* One operation per container of the pod, all at once; one_down counts them in. */
static void round_start(struct pod_down *d)
{
	struct crid_ctrs *ctrs = d->ctrs;
	size_t n = crid_ctrs_of_pod(ctrs, d->sandbox_id, NULL, 0);
	struct crid_container **v = crid_calloc(n + 1, sizeof(*v));
	struct crid_err e;

	d->pending = 1; /* this loop's own, so no callback ends the round early */
	if (!v) {
		d->pending++;
		one_down(d, -1, NULL, (crid_err_set(&e, ENOMEM, "pod containers"), &e));
	}
	n = v ? crid_ctrs_of_pod(ctrs, d->sandbox_id, v, n) : 0;
	d->pending += n;
	for (size_t i = 0; i < n; i++) {
		struct crid_ctr_op *op;

		if (!d->second)
			op = crid_ctr_stop(ctrs, v[i], 0, one_down, d, &e);
		else if (d->remove)
			op = crid_ctr_remove(ctrs, v[i], one_down, d, &e);
		else
			op = crid_ctr_retire(ctrs, v[i], one_down, d, &e);
		if (!op)
			one_down(d, -1, NULL, &e);
	}
	crid_free(v);
	one_down(d, 0, NULL, NULL);
}

static void containers_down(void *user, struct crid_sandbox *sb, bool remove,
			    const struct crid_pod_down_cbs *cbs, void *arg)
{
	struct pod_down *d = crid_calloc(1, sizeof(*d));
	struct crid_err e;

	if (!d) {
		crid_err_set(&e, ENOMEM, "pod containers");
		cbs->exited(arg, -1, &e);
		cbs->done(arg, 0, NULL);
		return;
	}
	d->ctrs = user;
	memcpy(d->sandbox_id, sb->id, sizeof(d->sandbox_id));
	d->remove = remove;
	d->cbs = *cbs;
	d->arg = arg;
	round_start(d);
}

/* ---- start and end ---- */

/* Unmounts a never-recorded container's root and moves its layer dir to the trash. */
static void sweep_layer(struct crid_ctrs *ctrs, const char *dir, const char *id)
{
	char to[PATH_MAX];
	struct crid_err e;

	if (crid_rootfs_unmount(dir, &e) < 0) {
		crid_log_warn("recovery: %s", e.msg);
		return; /* still mounted: never into the trash, whose deleter would walk it */
	}
	if (ctr_subpath(to, crid_container_trash_dir(ctrs->store), id) < 0 ||
	    (rename(dir, to) < 0 && errno != ENOENT))
		crid_log_warn("recovery: move `%s` to trash: %s", dir, strerror(errno));
}

/* A bundle holds only files (config.json, FIFOs, journals). */
/*
 * Layer and bundle dirs with no record: a CreateContainer killed between
 * making them (the overlay root mounted) and its first save. No runtime ran
 * for them (the save precedes `runtime create`), so unmounting and removing
 * the files is the whole undo.
 */
static void sweep_orphans(struct crid_ctrs *ctrs, const char *top, bool layers)
{
	char base[PATH_MAX], path[PATH_MAX + 300];
	DIR *d;
	struct dirent *e;
	bool amb;

	if ((size_t)snprintf(base, sizeof(base), "%s/containers", top) >= sizeof(base))
		return;
	d = opendir(base);
	if (!d)
		return;
	while ((e = readdir(d))) {
		if (strlen(e->d_name) != CRID_ID_LEN ||
		    strspn(e->d_name, "0123456789abcdef") != CRID_ID_LEN ||
		    crid_container_find(ctrs->store, e->d_name, &amb))
			continue;
		snprintf(path, sizeof(path), "%s/%s", base, e->d_name);
		crid_log_info(
		    "recovery: removing `%s`, left by a container that was never recorded", path);
		if (layers)
			sweep_layer(ctrs, path, e->d_name);
		else
			ctr_remove_bundle(path);
	}
	closedir(d);
}

static int open_stores(struct crid_ctrs *ctrs, struct crid_err *err)
{
	const struct crid_config *cfg = ctrs->cfg;

	if (crid_container_store_open(cfg->root, cfg->runroot, &ctrs->store, err) < 0)
		return crid_err_wrap(err, "container store");
	if (crid_trash_init(&ctrs->trash, ctrs->loop, crid_container_trash_dir(ctrs->store), err) <
	    0)
		return -1;
	ctrs->du = crid_du_cache_new(ctrs->loop);
	if (!ctrs->du)
		return crid_err_set(err, ENOMEM, "du cache");
	if (crid_fd_store_open(cfg->runroot, &ctrs->fds, err) < 0)
		return crid_err_wrap(err, "fd store");
	crid_log_info("fd store: %s", crid_fd_store_kind(ctrs->fds));
	return 0;
}

int crid_ctrs_init(struct crid_ctrs *ctrs, struct crid_loop *loop, const struct crid_config *cfg,
		   const struct crid_host *host, struct crid_image_store *images,
		   struct crid_pods *pods, struct crid_err *err)
{
	struct kept_fds k = { 0 };
	struct crid_container *const *all, **copy;
	size_t n;

	memset(ctrs, 0, sizeof(*ctrs));
	ctrs->loop = loop;
	ctrs->cfg = cfg;
	ctrs->host = host;
	ctrs->images = images;
	ctrs->pods = pods;
	/* container inits are adopted by crid when the runtime's create exits */
	if (prctl(PR_SET_CHILD_SUBREAPER, 1) < 0)
		return crid_err_set(err, errno, "PR_SET_CHILD_SUBREAPER");
	if (!crid_pidfd_has_exit_info())
		crid_log_warn("this kernel keeps no exit status in pidfds (PIDFD_INFO_EXIT, Linux "
			      "6.15): a container exiting while crid is down is reported with an "
			      "unknown exit code");
	if (open_stores(ctrs, err) < 0)
		return -1;
	if (crid_fd_store_restore(ctrs->fds, keep, &k, err) < 0)
		crid_log_warn("fd store: %s", err->msg);
	all = crid_container_list(ctrs->store, &n);
	copy = crid_calloc(n + 1, sizeof(*copy));
	if (copy) {
		if (n)
			memcpy(copy, all, n * sizeof(*copy));
		for (size_t i = 0; i < n; i++)
			recover_one(ctrs, copy[i], &k);
	}
	crid_free(copy);
	for (size_t i = 0; i < k.n; i++) { /* kept for containers that no longer exist */
		if (k.v[i].fd >= 0) {
			close(k.v[i].fd);
			crid_fd_store_remove(ctrs->fds, k.v[i].name, NULL);
		}
		crid_free(k.v[i].name);
	}
	crid_free(k.v);
	crid_log_info("%zu containers loaded", n);
	sweep_orphans(ctrs, cfg->root, true);
	sweep_orphans(ctrs, cfg->runroot, false);
	crid_fd_store_watch(ctrs->fds, ctrs->loop, ctr_fds_reseed, ctrs);
	pods->containers_down = containers_down;
	pods->containers_user = ctrs;
	crid_trash_sweep(&ctrs->trash);
	return 0;
}

void crid_ctrs_cleanup(struct crid_ctrs *ctrs)
{
	struct crid_container *const *all;
	size_t n;

	if (ctrs->pods)
		ctrs->pods->containers_down = NULL;
	crid_exec_reaper_cleanup(&ctrs->execs);
	if (!ctrs->store)
		return;
	all = crid_container_list(ctrs->store, &n);
	for (size_t i = 0; i < n; i++)
		ctr_forget(ctrs, all[i]);
	crid_container_store_close(ctrs->store);
	ctrs->store = NULL;
	if (ctrs->fds)
		crid_fd_store_close(ctrs->fds);
	if (ctrs->du)
		crid_du_cache_free(ctrs->du);
	if (ctrs->trash.dir)
		crid_trash_cleanup(&ctrs->trash);
}
