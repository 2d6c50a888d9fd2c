/*
 * What the container lifecycle (ctr.c) shares with its start-up recovery
 * (ctr_restore.c) and ExecSync (ctr_exec.c). Not for other modules.
 */
#ifndef CRID_CTR_INTERNAL_H
#define CRID_CTR_INTERNAL_H

#include "reactor/op.h"
#include "reactor/spawn.h"
#include "reactor/trace.h"
#include "runtime/container/ctr.h"
#include "runtime/container/ctr_start_time.h"
#include "runtime/oci/oci_runtime.h"

/*
 * A runtime call (create, start, delete...) still running after
 * crid.runtime.runtime_timeout seconds is wedged: the runtime is killed and the call fails.
 */
#define CRID_RUNTIME_TIMEOUT(ctrs) ((double)(ctrs)->cfg->runtime_timeout)

/* Deposits every container's pidfd and FIFO ends in the fd store again (a new crid-keeper). */
void ctr_fds_reseed(void *user);

/* OP_RETIRE: a stop that then deletes the container from the runtime and unmounts its root. */
enum op_kind { OP_CREATE, OP_START, OP_STOP, OP_REMOVE, OP_UPDATE, OP_UNDO, OP_RETIRE };

/* A container operation: the machine of reactor/op (kind, waiters, queue, status), then its steps. */
struct crid_ctr_op {
	struct crid_op base;
	struct crid_ctrs *ctrs;
	struct crid_container *c;
	struct crid_oci_call *call;
	ev_timer timer;
	bool timer_on;
	bool waiting_exit; /* stop/remove: finishes when the exit watch has recorded the exit */
	bool killed;	   /* SIGKILL sent */
	ev_timer resend;   /* stop: re-checks until a PID 1 catches the stop signal */
	bool resend_on;
	double resend_every;
	struct crid_start_mark start; /* start: when the process started */
	long long timeout;
	char short_id[13];
	char *resources_json; /* update */
	uint8_t *encoded;
	size_t encoded_len;
	int init_fds[3]; /* create: the container's side of its stdio, closed once created */
	bool was_queued; /* waited behind another operation of the container */
	struct crid_trace trace;
	/* retire, remove: the root's unmount, in a child (it can take ms in the kernel) */
	struct crid_child unmount;
	bool unmount_on;
	struct crid_err unmount_err;
	void (*after_unmount)(struct crid_ctr_op *op);
	/* an undone create: its runtime's leftovers, waited for (ctr_undo_created) */
	struct crid_ctr_orphans *orphans;
};

/* The exit watch of one container, from create until its exit is recorded. */
struct exit_watch {
	struct crid_ctrs *ctrs;
	struct crid_container *c;
	ev_io io;
	ev_timer timer; /* retry for PIDFD_INFO_EXIT, then the log drain bound */
	bool exited;
	bool status_known;
	int status;
};

struct crid_ctr_op *ctr_op_new(struct crid_ctrs *ctrs, struct crid_container *c, enum op_kind kind,
			       crid_ctr_done_fn done, void *user);

/* Opens the container's log writer on its FIFO read ends. */
int ctr_open_log(struct crid_ctrs *ctrs, struct crid_container *c, struct crid_err *err);

/* Starts watching c->pidfd for the init's exit. */
struct exit_watch *ctr_watch_start(struct crid_ctrs *ctrs, struct crid_container *c);

/* Checks now whether the init exited (after a restart it may have, long ago). */
void ctr_query_exit(struct exit_watch *w);

/*
 * Takes apart a container whose create did not finish: kills what its
 * runtime left and waits for it (ctr_orphans.h), then the runtime's delete,
 * the cgroups, files and record; ends |op| later, from the loop (at once
 * only when out of memory).
 */
void ctr_undo_created(struct crid_ctr_op *op);

/* The OCI runtime of a handler; EINVAL when unknown or unusable. */
int ctr_runtime_of(struct crid_ctrs *ctrs, const char *handler, struct crid_oci_runtime *rt,
		   struct crid_err *err);

/* `<dir>/<name>` into |out| (PATH_MAX bytes); -1 when it does not fit. */
int ctr_subpath(char *out, const char *dir, const char *name);

/* Removes a bundle dir and the files in it (no subdirs: config.json, fifos); best effort. */
void ctr_remove_bundle(const char *bundle);

/*
 * The spawn queue of detached execs (ctr_exec.c): ExecSync's and the
 * streaming sessions' (ctr_stream.c) runtimes go out a few per loop
 * iteration; a caller that gets no turn now queues and |go| runs later.
 */
struct ctr_exec_wait {
	struct ctr_exec_wait *next;
	bool queued;
	void (*go)(struct ctr_exec_wait *w);
};

/* True (and counted) when nothing waits and this iteration may spawn one more. */
bool ctr_exec_turn(struct crid_loop *loop);
void ctr_exec_enqueue(struct crid_loop *loop, struct ctr_exec_wait *w);
/* Takes |w| out of the queue (not queued is fine). */
void ctr_exec_unqueue(struct ctr_exec_wait *w);

/*
 * The OCI process object of |argv| run in the container of |bundle| (its
 * config.json); a terminal's first size when |width| and |height| are set.
 */
char *ctr_exec_process(const char *bundle, const char *const *argv, size_t argc, bool tty,
		       uint16_t width, uint16_t height, struct crid_err *err);

/*
 * Streaming (ctr_stream.c): the init exited and the log drains its last
 * output under a timeout: an attach may no longer pause the writer (its
 * client gets the rest without back-pressure; the log gets all of it), and
 * the streaming execs in it are killed (a shared PID namespace keeps them).
 */
void ctr_stream_output_draining(struct crid_container *c);

/* Streaming (ctr_stream.c): the container's output is complete; its attach taps end. */
void ctr_stream_output_ended(struct crid_container *c);

/* Shutdown: stops watching |c| and frees its operations; the fd store keeps its fds. */
void ctr_forget(struct crid_ctrs *ctrs, struct crid_container *c);

#endif
