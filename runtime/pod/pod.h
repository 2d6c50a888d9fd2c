/*
 * Room runtime/pod/: pod sandboxes — the records (sandbox.c), pinned
 * namespaces and crid-pinns (pod_ns.c, pinns/), pod files such as resolv.conf
 * and hostname (pod_files.c), and the lifecycle (this file). Calls cni/, oci/
 * (namespace modes), state/, config/ and reactor/; never container/.
 *
 * Pod lifecycle as operations on the loop: run (pin namespaces -> pod files
 * -> CNI ADD -> ready), stop (CNI DEL exactly once -> release namespaces ->
 * not ready), remove (stop -> files -> record), and recovery at start, which
 * finishes or undoes whatever a killed daemon left half-done. Every step is
 * persisted in the sandbox record before the next one starts; a failed step
 * undoes the earlier ones. Operations on one pod run one after another; a
 * second stop or remove of a pod that is already stopping joins the first.
 */
#ifndef CRID_POD_H
#define CRID_POD_H

#include <stdbool.h>
#include <stddef.h>

#include "reactor/loop.h"
#include "runtime/cni/cni_status.h"
#include "runtime/config/config.h"
#include "runtime/state/node_state.h"
#include "runtime/pod/pod_files.h"
#include "runtime/pod/sandbox.h"

struct crid_systemd;

/* The pod's side of taking its containers down (struct crid_pods.containers_down). */
struct crid_pod_down_cbs {
	void (*exited)(void *arg, int status, const struct crid_err *err);
	void (*done)(void *arg, int status, const struct crid_err *err);
};

struct crid_pods {
	struct crid_loop *loop;
	const struct crid_config *cfg;
	struct crid_cni_watch *cni;
	const struct crid_node_state *node; /* pod CIDR for CNI ipRanges */
	struct crid_sandbox_store *store;
	unsigned running_ops;
	/*
	 * Set by the container side: stops every container of |sb| at once
	 * and calls cbs->exited when all have exited; then retires them
	 * (runtime delete, root unmounted) or, with |remove|, removes them,
	 * and calls cbs->done. Both are called once each, in that order (after
	 * a failed |exited|, done's status is 0). The pod's CNI DEL runs
	 * between the two, concurrently with the second round.
	 */
	void (*containers_down)(void *user, struct crid_sandbox *sb, bool remove,
				const struct crid_pod_down_cbs *cbs, void *arg);
	void *containers_user;
	/* cgroup_manager systemd: a pod's PID holder goes in crid-pod-<id>.scope of its slice */
	struct crid_systemd *systemd;
};

/* What RunPodSandbox asks for, validated by the handler. Borrowed for the call. */
struct crid_pod_spec {
	const char *name, *namespace, *uid;
	unsigned attempt;
	const char *hostname, *log_directory, *cgroup_parent, *runtime_handler;
	enum crid_ns_mode ns_network, ns_pid, ns_ipc;
	const struct crid_kvs *labels, *annotations;
	const struct crid_sandbox_port *ports;
	size_t n_ports;
	struct crid_pod_dns dns;
	const char *const *sysctls; /* "key=value" */
	size_t n_sysctls;
	long long shm_size;    /* bytes; 0 = default */
	const uint8_t *config; /* encoded PodSandboxConfig, kept in the record */
	size_t config_len;
};

/*
 * Called once when the operation ends. For run, |sb| is the new pod on
 * success and NULL on failure; for stop and remove it is NULL.
 */
typedef void (*crid_pod_done_fn)(void *user, int status, struct crid_sandbox *sb,
				 const struct crid_err *err);

struct crid_pod_op;

/* Opens the store under cfg->root / cfg->runroot and starts recovery. */
int crid_pods_init(struct crid_pods *pods, struct crid_loop *loop, const struct crid_config *cfg,
		   struct crid_cni_watch *cni, const struct crid_node_state *node,
		   struct crid_err *err);

/* Frees the store; operations still running are abandoned (their state files tell the next start). */
void crid_pods_cleanup(struct crid_pods *pods);

/*
 * Starts RunPodSandbox. Fails at once with EEXIST when the name is reserved,
 * ENOMEM. Returns the op, which the caller may abandon (client gone).
 */
struct crid_pod_op *crid_pod_run(struct crid_pods *pods, const struct crid_pod_spec *spec,
				 crid_pod_done_fn done, void *user, struct crid_err *err);

/* Starts (or joins) StopPodSandbox of |sb|. */
struct crid_pod_op *crid_pod_stop(struct crid_pods *pods, struct crid_sandbox *sb,
				  crid_pod_done_fn done, void *user, struct crid_err *err);

/* Starts (or joins) RemovePodSandbox of |sb|. */
struct crid_pod_op *crid_pod_remove(struct crid_pods *pods, struct crid_sandbox *sb,
				    crid_pod_done_fn done, void *user, struct crid_err *err);

/*
 * The caller of |op| went away: its |done| will not be called. The operation
 * itself goes on (a run that is abandoned is undone when its step ends).
 */
void crid_pod_op_abandon(struct crid_pod_op *op, void *user);

#endif
