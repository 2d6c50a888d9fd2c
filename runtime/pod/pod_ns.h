/*
 * A pod's namespaces without a pause process. A short-lived child
 * (`crid-pinns`, built from runtime/pinns/) unshares the pod's network, IPC
 * and UTS namespaces, sets the hostname and the namespaced sysctls,
 * bind-mounts /proc/self/ns/{net,ipc,uts} onto files under the pod's ns dir
 * and exits; containers then join the namespaces by path. Only a pod-level
 * PID namespace needs a process to keep it alive: then crid-pinns leaves a
 * minimal holder (the namespace's init: reaps, sleeps in pause()) whose
 * /proc/<pid>/ns/pid is bound under the dir as well.
 *
 *   <dir>/net  <dir>/ipc  <dir>/uts  <dir>/pid   (only those requested)
 */
#ifndef CRID_POD_NS_H
#define CRID_POD_NS_H

#include <stdbool.h>
#include <stddef.h>
#include <sys/types.h>

#include "reactor/loop.h"

struct crid_pod_ns_spec {
	const char *dir;	    /* created if missing; absolute */
	bool net, ipc, uts;	    /* true = a new namespace for the pod (false = the host's) */
	bool pid;		    /* true = a pod-level PID namespace with its holder */
	const char *hostname;	    /* set in the new UTS namespace; "" = leave */
	const char *const *sysctls; /* "key=value", already validated */
	size_t n_sysctls;
};

/* The pinned namespaces. Paths are "" for namespaces that are the host's. */
struct crid_pod_ns {
	char net[256], ipc[256], uts[256], pid[256];
	pid_t holder_pid; /* 0 when there is no holder */
};

/*
 * Checks one sysctl for a pod: it must be namespaced (the kernel.shm*,
 * kernel.msg*, kernel.sem, fs.mqueue.* IPC ones, and net.* ones, as
 * Kubernetes' sysctl allowlist defines "namespaced") and its namespace must
 * be the pod's own, not the host's (|private_net|, |private_ipc|).
 * Key and value must be free of '/', "..", '=', whitespace controls.
 * Fails with EINVAL and a message naming the sysctl.
 */
int crid_pod_ns_check_sysctl(const char *key, const char *value, bool private_net, bool private_ipc,
			     struct crid_err *err);

typedef void (*crid_pod_ns_done_fn)(void *user, int status, const struct crid_pod_ns *ns,
				    const struct crid_err *err);

struct crid_pod_ns_op;

/*
 * Runs crid-pinns (found next to the daemon's own executable, or at
 * $CRID_PINNS) as a child on the loop; |done| runs when it has exited, with
 * the paths it pinned or its error message (read from its stderr).
 * |timeout| seconds bounds it. On failure nothing stays pinned.
 */
struct crid_pod_ns_op *crid_pod_ns_pin(struct crid_loop *loop, const struct crid_pod_ns_spec *spec,
				       double timeout, crid_pod_ns_done_fn done, void *user,
				       struct crid_err *err);

/* Kills the child, undoes what it pinned, frees the op; |done| is not called. */
void crid_pod_ns_op_cancel(struct crid_pod_ns_op *op);

/*
 * Undoes a pin: kills the holder (when |holder_pid| > 0 and it is still the
 * process whose ns/pid is bound at <dir>/pid), unmounts (MNT_DETACH) and
 * removes every file under |dir|, then |dir|. Idempotent: missing files and
 * mounts are fine. Bounded work, safe on the loop.
 */
int crid_pod_ns_release(const char *dir, pid_t holder_pid, struct crid_err *err);

/*
 * Kills the pod's PID namespace at once: its holder (when |holder_pid| > 0
 * and it is still the process whose ns/pid is bound at <dir>/pid), whose
 * death makes the kernel kill every process of the namespace. The pins stay
 * for crid_pod_ns_release. Bounded, safe on the loop.
 */
int crid_pod_ns_kill(const char *dir, pid_t holder_pid, struct crid_err *err);

/* True when |path| is a mounted namespace file (nsfs) — survives until a reboot. */
bool crid_pod_ns_is_pinned(const char *path);

#endif
