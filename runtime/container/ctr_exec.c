/*
 * ExecSync: a command exec'd in a running container (runtime/exec_proc.c:
 * detached, known by its own pid), its stdout and stderr read on the loop
 * through pipes (each kept up to 16 MiB, the rest read and dropped so the
 * process never blocks on a full pipe), its exit code reported. The answer
 * comes when the process exited and both pipes are at EOF (a background
 * child holding them is waited for). A timeout, or the caller going away,
 * SIGKILLs the process and the process group it leads (a shell's children)
 * and fails with ETIMEDOUT; the daemon's exec reaper waits for it to go
 * while the answer is already out. Probes run many of these at
 * once: nothing here waits, and at most EXEC_SPAWNS_PER_TURN runtimes are
 * spawned per loop iteration. Each spawn waits for its vfork child to exec;
 * 50 probes arriving in one read once made one iteration last 0.4-0.7 s on
 * a loaded 2-core node (the runtimes just spawned compete for the CPUs), so
 * the rest wait in a queue and go out in later iterations, other requests
 * being served in between. The timeout counts from the request.
 */
#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <stddef.h>
#include <stdio.h>
#include <string.h>
#include <unistd.h>

#include "reactor/metrics_families.h"
#include "reactor/log.h"
#include "reactor/mem.h"
#include "runtime/container/ctr_internal.h"
#include "runtime/container/exec_proc.h"
#include "runtime/state/statefile.h"

#define EXEC_OUTPUT_MAX (16u << 20)
#define READ_SLICE (64u << 10)
#define EXEC_SPAWNS_PER_TURN 4

struct stream {
	int fd;
	ev_io io;
	uint8_t *buf;
	size_t len, cap;
	bool eof;
	struct crid_exec_op *op;
};

struct crid_exec_op {
	struct crid_ctrs *ctrs;
	struct crid_exec_proc *proc;
	struct stream out, err;
	ev_timer timer;
	bool timer_on;
	bool exited;
	bool complete; /* answered with the output: nothing to kill */
	int exit_code;
	int status;
	struct crid_err error;
	crid_exec_done_fn done;
	void *user;
	/* While queued: what the spawn needs, the write ends the runtime will get. */
	struct ctr_exec_wait wait;
	char *process;
	int out_w, err_w;
	struct crid_oci_runtime rt;
	char id[CRID_ID_LEN + 1];
	char bundle[PATH_MAX];
};

/* The spawn queue (one daemon, one loop), shared with the streaming execs (ctr_stream.c). */
static struct {
	struct ctr_exec_wait *head, *tail;
	ev_timer kick;
	bool kick_init;
	double turn; /* the loop time of the iteration |spawned| counts */
	unsigned spawned;
} q;

void ctr_exec_unqueue(struct ctr_exec_wait *w)
{
	struct ctr_exec_wait **pp = &q.head, *prev = NULL;

	for (; *pp && *pp != w; pp = &(*pp)->next)
		prev = *pp;
	if (!*pp)
		return;
	*pp = w->next;
	if (q.tail == w)
		q.tail = prev;
	w->queued = false;
}

static void exec_free(struct crid_exec_op *op)
{
	struct stream *s[2] = { &op->out, &op->err };

	for (int i = 0; i < 2; i++) {
		ev_io_stop(op->ctrs->loop->ev, &s[i]->io);
		if (s[i]->fd >= 0)
			close(s[i]->fd);
		crid_free(s[i]->buf);
	}
	if (op->timer_on)
		ev_timer_stop(op->ctrs->loop->ev, &op->timer);
	if (op->proc) {
		if (!op->complete)
			crid_exec_proc_kill(op->proc); /* timed out, failed or abandoned */
		crid_exec_proc_release(op->proc, &op->ctrs->execs);
	}
	if (op->wait.queued)
		ctr_exec_unqueue(&op->wait);
	if (op->out_w >= 0)
		close(op->out_w);
	if (op->err_w >= 0)
		close(op->err_w);
	crid_free(op->process);
	crid_free(op);
}

static void maybe_done(struct crid_exec_op *op)
{
	struct crid_exec_result r = { 0 };

	if (op->status == 0 && (!op->exited || !op->out.eof || !op->err.eof))
		return;
	r.out = op->out.buf;
	r.out_len = op->out.len;
	r.err = op->err.buf;
	r.err_len = op->err.len;
	r.exit_code = op->exit_code;
	op->complete = op->status == 0;
	op->done(op->user, op->status, op->status == 0 ? &r : NULL,
		 op->status < 0 ? &op->error : NULL);
	exec_free(op);
}

static int keep(struct stream *s, const uint8_t *p, size_t n)
{
	size_t room = EXEC_OUTPUT_MAX - s->len;

	if (n > room)
		n = room; /* over the cap: read and dropped, as CRI-O truncates */
	if (s->len + n > s->cap) {
		size_t cap = s->cap ? s->cap * 2 : 4096;
		uint8_t *b;

		while (cap < s->len + n)
			cap *= 2;
		b = crid_realloc(s->buf, cap);
		if (!b)
			return -1;
		s->buf = b;
		s->cap = cap;
	}
	memcpy(s->buf + s->len, p, n);
	s->len += n;
	return 0;
}

static void readable(struct ev_loop *ev, ev_io *io, int revents)
{
	struct stream *s = io->data;
	uint8_t buf[READ_SLICE];
	ssize_t n;

	(void)revents;
	n = read(s->fd, buf, sizeof(buf));
	if (n < 0 && (errno == EAGAIN || errno == EINTR))
		return;
	if (n > 0) {
		if (keep(s, buf, (size_t)n) < 0 && s->op->status == 0) {
			s->op->status = -1;
			crid_err_set(&s->op->error, ENOMEM, "exec output");
		}
		return;
	}
	ev_io_stop(ev, io);
	close(s->fd);
	s->fd = -1;
	s->eof = true;
	maybe_done(s->op);
}

static void exec_exited(void *user, int status, const struct crid_err *err)
{
	struct crid_exec_op *op = user;

	op->exited = true;
	if (status < 0) {
		if (op->status == 0) {
			op->status = -1;
			op->error = *err;
		}
	} else {
		op->exit_code = status;
	}
	maybe_done(op);
}

static void timed_out(struct ev_loop *ev, ev_timer *t, int revents)
{
	struct crid_exec_op *op = t->data;

	(void)ev, (void)revents;
	op->timer_on = false;
	op->status = -1;
	crid_err_set(&op->error, ETIMEDOUT, "command timed out");
	maybe_done(op);
}

static int open_stream(struct crid_exec_op *op, struct stream *s, int *write_end,
		       struct crid_err *err)
{
	int p[2];

	if (pipe2(p, O_CLOEXEC) < 0)
		return crid_err_set(err, errno, "exec pipe");
	fcntl(p[0], F_SETFL, O_NONBLOCK);
	s->fd = p[0];
	s->op = op;
	*write_end = p[1];
	ev_io_init(&s->io, readable, s->fd, EV_READ);
	s->io.data = s;
	return 0;
}

char *ctr_exec_process(const char *bundle, const char *const *argv, size_t argc, bool tty,
		       uint16_t width, uint16_t height, struct crid_err *err)
{
	char path[PATH_MAX], *config, *out = NULL;
	size_t len, out_len;

	if (ctr_subpath(path, bundle, "config.json") < 0) {
		crid_err_set(err, ENAMETOOLONG, "config.json path");
		return NULL;
	}
	if (crid_statefile_read(path, 4u << 20, &config, &len, err) < 0)
		return NULL;
	if (crid_oci_spec_exec_process_sized(config, argv, argc, tty, width, height, &out, &out_len,
					     err) < 0)
		out = NULL;
	crid_free(config);
	return out;
}

/* Starts the process for |op|; the write ends go to it and are closed here. */
static int spawn(struct crid_exec_op *op, struct crid_err *err)
{
	struct crid_oci_stdio stdio = { -1, op->out_w, op->err_w };

	crid_metric_inc(&crid_m_exec_sessions, "sync", NULL);
	op->proc = crid_exec_proc_start(op->ctrs->loop, &op->rt, op->id, op->bundle, op->process,
					&stdio, exec_exited, op, err);
	close(op->out_w); /* the exec'd process holds its own copies */
	close(op->err_w);
	op->out_w = op->err_w = -1;
	crid_free(op->process);
	op->process = NULL;
	if (!op->proc)
		return -1;
	ev_io_start(op->ctrs->loop->ev, &op->out.io);
	ev_io_start(op->ctrs->loop->ev, &op->err.io);
	return 0;
}

/* True when this iteration may spawn one more runtime (and counts it). */
static bool spawn_slot(struct crid_loop *loop)
{
	double now = crid_loop_now(loop);

	if (now != q.turn) {
		q.turn = now;
		q.spawned = 0;
	}
	if (q.spawned >= EXEC_SPAWNS_PER_TURN)
		return false;
	q.spawned++;
	return true;
}

bool ctr_exec_turn(struct crid_loop *loop)
{
	return !q.head && spawn_slot(loop);
}

static void kick(struct ev_loop *ev, ev_timer *t, int revents)
{
	struct crid_loop *loop = t->data;

	(void)revents;
	while (q.head && spawn_slot(loop)) {
		struct ctr_exec_wait *w = q.head;

		ctr_exec_unqueue(w);
		w->go(w);
	}
	if (q.head) {
		ev_timer_set(t, 0., 0.);
		ev_timer_start(ev, t);
	}
}

void ctr_exec_enqueue(struct crid_loop *loop, struct ctr_exec_wait *w)
{
	w->queued = true;
	w->next = NULL;
	if (q.tail)
		q.tail->next = w;
	else
		q.head = w;
	q.tail = w;
	if (!q.kick_init) {
		ev_timer_init(&q.kick, kick, 0., 0.);
		q.kick_init = true;
	}
	q.kick.data = loop;
	if (!ev_is_active(&q.kick)) {
		ev_timer_set(&q.kick, 0., 0.);
		ev_timer_start(loop->ev, &q.kick);
	}
}

/* Its turn came in the queue: spawn, or fail through |done|. */
static void spawn_queued(struct ctr_exec_wait *w)
{
	struct crid_exec_op *op =
	    (struct crid_exec_op *)((char *)w - offsetof(struct crid_exec_op, wait));

	if (spawn(op, &op->error) < 0) {
		op->status = -1;
		maybe_done(op);
	}
}

static struct crid_exec_op *exec_new(struct crid_ctrs *ctrs, const struct crid_container *c,
				     crid_exec_done_fn done, void *user, struct crid_err *err)
{
	struct crid_exec_op *op = crid_calloc(1, sizeof(*op));

	if (!op) {
		crid_err_set(err, ENOMEM, "exec");
		return NULL;
	}
	op->ctrs = ctrs;
	op->done = done;
	op->user = user;
	op->out.fd = op->err.fd = op->out_w = op->err_w = -1;
	op->wait.go = spawn_queued;
	snprintf(op->id, sizeof(op->id), "%s", c->id);
	if (ctr_runtime_of(ctrs, c->runtime_handler, &op->rt, err) < 0 ||
	    crid_container_bundle(ctrs->store, c, op->bundle, sizeof(op->bundle)) < 0 ||
	    open_stream(op, &op->out, &op->out_w, err) < 0 ||
	    open_stream(op, &op->err, &op->err_w, err) < 0) {
		op->done = NULL;
		exec_free(op);
		return NULL;
	}
	return op;
}

struct crid_exec_op *crid_ctr_exec_sync(struct crid_ctrs *ctrs, struct crid_container *c,
					const char *const *argv, size_t argc, double timeout,
					crid_exec_done_fn done, void *user, struct crid_err *err)
{
	struct crid_exec_op *op;

	if (c->state != CRID_CTR_RUNNING) {
		crid_err_cause(err, EBUSY, "container %.12s is not running", c->id);
		return NULL;
	}
	op = exec_new(ctrs, c, done, user, err);
	if (!op)
		return NULL;
	op->process = ctr_exec_process(op->bundle, argv, argc, false, 0, 0, err);
	if (!op->process)
		goto fail;
	if (timeout > 0) {
		ev_timer_init(&op->timer, timed_out, timeout, 0.);
		op->timer.data = op;
		op->timer_on = true;
	}
	if (ctr_exec_turn(ctrs->loop)) {
		if (spawn(op, err) < 0)
			goto fail;
	} else {
		ctr_exec_enqueue(ctrs->loop, &op->wait);
	}
	if (op->timer_on)
		ev_timer_start(ctrs->loop->ev, &op->timer);
	return op;
fail:
	op->done = NULL;
	op->timer_on = false;
	exec_free(op);
	return NULL;
}

void crid_exec_cancel(struct crid_exec_op *op)
{
	exec_free(op);
}
