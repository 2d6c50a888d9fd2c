/*
 * CheckpointContainer's runtime half, as runtime/container/ctr_checkpoint.h
 * describes: the preconditions, then `criu check` as a short-lived child
 * whose stdout and stderr go to a memfd read once it exits.
 */
#include "runtime/container/ctr_checkpoint.h"

#include <errno.h>
#include <fcntl.h>
#include <signal.h>
#include <stdio.h>
#include <string.h>
#include <sys/mman.h>
#include <unistd.h>

#include "reactor/mem.h"
#include "reactor/spawn.h"

/* `criu check` says a few hundred bytes; its tail is what names the cause. */
#define CRIU_OUT_MAX 4096

static const char *const criu_paths[] = { "/usr/sbin/criu", "/usr/bin/criu", "/usr/local/sbin/criu",
					  "/usr/local/bin/criu" };

struct crid_ckpt_op {
	struct crid_child child;
	crid_ckpt_done_fn done; /* NULL once cancelled */
	void *user;
	int out_fd;
	char id[16]; /* the container's short id, for messages */
};

void crid_ckpt_criu_error(const char *out, char *line, size_t size)
{
	const char *best = NULL, *last = NULL;
	size_t best_len = 0, last_len = 0;

	for (const char *l = out; *l;) {
		size_t len = strcspn(l, "\n");

		if (len && strncmp(l, "Error", 5) == 0)
			best = l, best_len = len;
		if (len)
			last = l, last_len = len;
		l += len + (l[len] == '\n');
	}
	if (!best)
		best = last, best_len = last_len;
	snprintf(line, size, "%.*s", best ? (int)best_len : 0, best ? best : "");
}

static const char *find_criu(void)
{
	for (size_t i = 0; i < sizeof(criu_paths) / sizeof(criu_paths[0]); i++)
		if (access(criu_paths[i], X_OK) == 0)
			return criu_paths[i];
	return NULL;
}

static void finish(struct crid_ckpt_op *op, int status)
{
	char out[CRIU_OUT_MAX + 1], line[256];
	off_t size = lseek(op->out_fd, 0, SEEK_END);
	off_t from = size > CRIU_OUT_MAX ? size - CRIU_OUT_MAX : 0;
	ssize_t r = pread(op->out_fd, out, CRIU_OUT_MAX, from);
	struct crid_err err;

	out[r > 0 ? r : 0] = '\0';
	if (status != 0) {
		crid_ckpt_criu_error(out, line, sizeof(line));
		crid_err_cause(&err, EBUSY,
			       "checkpoint container %s: criu cannot checkpoint on this host: "
			       "`criu check` exited with status %d: %s",
			       op->id, status, line[0] ? line : "(no output)");
	} else {
		crid_err_cause(&err, ENOSYS,
			       "checkpoint container %s: criu works on this host, but crid does "
			       "not write checkpoint archives yet",
			       op->id);
	}
	op->done(op->user, -1, &err);
}

static void criu_exited(struct crid_child *child, int status, void *user)
{
	struct crid_ckpt_op *op = user;

	(void)child;
	if (op->done)
		finish(op, status);
	close(op->out_fd);
	crid_free(op);
}

struct crid_ckpt_op *crid_ctr_checkpoint(struct crid_ctrs *ctrs, struct crid_container *c,
					 const char *location, bool runtime_can,
					 crid_ckpt_done_fn done, void *user, struct crid_err *err)
{
	const char *criu = find_criu();
	char *argv[] = { (char *)criu, "check", NULL };
	struct crid_spawn_opts o = { .path = criu, .argv = argv, .stdin_fd = -1 };
	struct crid_ckpt_op *op;

	if (!location || location[0] != '/')
		return crid_err_invalid(err, "location: `%s` is not an absolute path",
					location ? location : ""),
		       NULL;
	if (c->state != CRID_CTR_RUNNING)
		return crid_err_cause(err, EBUSY, "container %.12s is not running", c->id), NULL;
	if (!runtime_can)
		return crid_err_cause(
			   err, EBUSY,
			   "container %.12s: its OCI runtime `%s` cannot checkpoint (its "
			   "`features` does not announce checkpoint support)",
			   c->id, c->runtime_handler),
		       NULL;
	if (!criu)
		return crid_err_cause(err, EBUSY,
				      "checkpoint needs criu, which is not installed (no "
				      "/usr/sbin/criu)"),
		       NULL;
	op = crid_calloc(1, sizeof(*op));
	if (!op)
		return crid_err_set(err, ENOMEM, "checkpoint"), NULL;
	snprintf(op->id, sizeof(op->id), "%.12s", c->id);
	op->done = done;
	op->user = user;
	op->out_fd = memfd_create("crid-criu-check", MFD_CLOEXEC);
	o.stdout_fd = o.stderr_fd = op->out_fd;
	if (op->out_fd < 0 || crid_spawn(ctrs->loop, &op->child, &o, criu_exited, op, err) < 0) {
		if (op->out_fd < 0)
			crid_err_set(err, errno, "memfd for criu check");
		else
			close(op->out_fd);
		crid_free(op);
		return NULL;
	}
	return op;
}

void crid_ckpt_cancel(struct crid_ckpt_op *op)
{
	op->done = NULL;
	crid_child_kill(&op->child, SIGKILL);
}
