/*
 * Room runtime/container/: containers — records (container.c), the
 * lifecycle and exit watch (this file, ctr.c), exec (ctr_exec.c, exec_proc.c),
 * restore after a restart (ctr_restore.c), start times (ctr_start_time.c),
 * rootfs overlays (rootfs.c) and cgroup stats (cgroup_stats.c). The top room:
 * calls pod/, image/, oci/, state/, config/, reactor/ and io/ (the CRI log
 * writer); nothing in runtime/ calls it.
 *
 * Container lifecycle without conmon: create (rootfs overlay -> config.json
 * -> stdio FIFOs -> `runtime create`), start, stop (stop signal, SIGKILL
 * after the timeout), remove, exec, resource updates, and the exit watch.
 *
 * crid is the containers' subreaper: a container's init is adopted when the
 * runtime's create exits, tracked by a pidfd, and its exit status read with
 * waitid(P_PIDFD) — or, after a restart, when the init is no longer crid's
 * child, with PIDFD_GET_INFO through the pidfd kept in the node's fd store.
 * The read ends of the stdio FIFOs are kept there too, so output written
 * while crid is down waits in the kernel and lands in the log afterwards.
 */
#ifndef CRID_CTR_H
#define CRID_CTR_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "reactor/loop.h"
#include "runtime/container/cgroup_stats.h"
#include "runtime/container/container.h"
#include "runtime/oci/ctr_spec.h"
#include "runtime/container/exec_proc.h"
#include "runtime/state/fd_store.h"
#include "runtime/oci/host.h"
#include "runtime/image/image_store.h"
#include "runtime/pod/pod.h"
#include "runtime/state/trash.h"

/* As the CRI's ContainerEventType. */
enum crid_ctr_event {
	CRID_CTR_EVENT_CREATED = 0,
	CRID_CTR_EVENT_STARTED = 1,
	CRID_CTR_EVENT_STOPPED = 2,
	CRID_CTR_EVENT_DELETED = 3,
};

struct crid_ctrs {
	struct crid_loop *loop;
	const struct crid_config *cfg;
	const struct crid_host *host;
	struct crid_image_store *images;
	struct crid_pods *pods;
	struct crid_container_store *store;
	struct crid_fd_store *fds;
	struct crid_trash trash;
	struct crid_du_cache *du;
	struct crid_exec_reaper execs; /* timed-out execs until their processes are gone */
	/* Called after each state change of a container (|c| is still valid). */
	void (*on_event)(void *user, enum crid_ctr_event type, const struct crid_container *c);
	void *event_user;
};

/* A CreateContainer request, validated by the handler. Borrowed for the call. */
struct crid_ctr_create {
	const char *sandbox_id; /* full id */
	const char *name;
	unsigned attempt;
	const char *image;    /* as the request names it */
	const char *log_path; /* relative to the pod's log directory; "" = none */
	const struct crid_kvs *labels, *annotations;
	const struct crid_ctr_spec *spec;
	const uint8_t *config; /* the encoded ContainerConfig */
	size_t config_len;
};

typedef void (*crid_ctr_done_fn)(void *user, int status, struct crid_container *c,
				 const struct crid_err *err);

struct crid_ctr_op;

/* Opens the store and the fd store, recovers every container. */
int crid_ctrs_init(struct crid_ctrs *ctrs, struct crid_loop *loop, const struct crid_config *cfg,
		   const struct crid_host *host, struct crid_image_store *images,
		   struct crid_pods *pods, struct crid_err *err);

void crid_ctrs_cleanup(struct crid_ctrs *ctrs);

/* CreateContainer: ENOENT for an unknown pod or image, EEXIST for a reserved name. */
struct crid_ctr_op *crid_ctr_create(struct crid_ctrs *ctrs, const struct crid_ctr_create *req,
				    crid_ctr_done_fn done, void *user, struct crid_err *err);

struct crid_ctr_op *crid_ctr_start(struct crid_ctrs *ctrs, struct crid_container *c,
				   crid_ctr_done_fn done, void *user, struct crid_err *err);

/* Stop signal, then SIGKILL after |timeout| seconds (0 = at once). Idempotent. */
struct crid_ctr_op *crid_ctr_stop(struct crid_ctrs *ctrs, struct crid_container *c,
				  long long timeout, crid_ctr_done_fn done, void *user,
				  struct crid_err *err);

/*
 * Stops it at once (SIGKILL) if running, then deletes it from the runtime
 * and unmounts its root, as a pod's stop does (containerd deletes the task
 * at its exit too): the record, bundle and log stay for ContainerStatus and
 * RemoveContainer. Both steps are idempotent, so a crash in between only
 * makes the removal redo them. Joins a running removal.
 */
struct crid_ctr_op *crid_ctr_retire(struct crid_ctrs *ctrs, struct crid_container *c,
				    crid_ctr_done_fn done, void *user, struct crid_err *err);

/* Kills it if running, deletes it from the runtime, removes its files and record. */
struct crid_ctr_op *crid_ctr_remove(struct crid_ctrs *ctrs, struct crid_container *c,
				    crid_ctr_done_fn done, void *user, struct crid_err *err);

/* `runtime update` with an OCI LinuxResources object; |encoded| is kept for ContainerStatus. */
struct crid_ctr_op *crid_ctr_update(struct crid_ctrs *ctrs, struct crid_container *c,
				    const char *resources_json, const uint8_t *encoded,
				    size_t encoded_len, crid_ctr_done_fn done, void *user,
				    struct crid_err *err);

/* The caller went away: |done| will not be called for |user|; the op goes on. */
void crid_ctr_op_abandon(struct crid_ctr_op *op, void *user);

/* ReopenContainerLog. */
int crid_ctr_reopen_log(struct crid_ctrs *ctrs, struct crid_container *c, struct crid_err *err);

/* ExecSync: stdout and stderr captured, each capped. */
struct crid_exec_result {
	const uint8_t *out, *err;
	size_t out_len, err_len;
	int exit_code;
};

typedef void (*crid_exec_done_fn)(void *user, int status, const struct crid_exec_result *r,
				  const struct crid_err *err);

struct crid_exec_op;

/* ETIMEDOUT when |timeout| seconds (0 = none) pass: the process is killed. */
struct crid_exec_op *crid_ctr_exec_sync(struct crid_ctrs *ctrs, struct crid_container *c,
					const char *const *argv, size_t argc, double timeout,
					crid_exec_done_fn done, void *user, struct crid_err *err);

/* The caller went away: the process is killed, |done| is not called. */
void crid_exec_cancel(struct crid_exec_op *op);

/* Containers of pod |sandbox_id|, for the pod's stop and removal. */
size_t crid_ctrs_of_pod(struct crid_ctrs *ctrs, const char *sandbox_id, struct crid_container **out,
			size_t max);

/* True while a RemoveContainer of |c| runs or waits (containerd's `removing`). */
bool crid_ctr_removing(const struct crid_container *c);

#endif
