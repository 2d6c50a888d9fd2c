/*
 * systemd's manager over D-Bus (libsystemd's sd-bus), for cgroup_manager
 * "systemd": the processes crid itself starts for a pod (crid-pinns's PID
 * namespace holder) go in a transient scope of the pod's slice, as CRI-O puts
 * conmon in crio-conmon-<id>.scope. Containers need nothing from here: runc
 * run with --systemd-cgroup asks systemd for their scopes itself.
 *
 * One connection, to systemd's private socket (/run/systemd/private, root
 * only) or else the system bus. Its fd and timeout are libev watchers on the
 * loop; calls are asynchronous (no sd_bus_call on the loop) and complete when
 * systemd's job for the unit is removed (the JobRemoved signal), so the
 * process is in the scope's cgroup by then.
 */
#ifndef CRID_SYSTEMD_MGR_H
#define CRID_SYSTEMD_MGR_H

#include <stdbool.h>
#include <sys/types.h>

#include "reactor/err.h"
#include "reactor/loop.h"

struct crid_systemd;
struct crid_systemd_call;

/* |status| 0 when the job finished "done"; -1 with |err| otherwise. Called once. */
typedef void (*crid_systemd_done_fn)(void *user, int status, const struct crid_err *err);

/*
 * Connects and checks that systemd answers (its Version, read with a blocking
 * call bounded by |timeout| seconds: call at start-up, before the loop
 * serves), subscribes to job signals and attaches to |loop|. ECONNREFUSED /
 * ENOENT and the like when no systemd answers, naming what was tried.
 */
struct crid_systemd *crid_systemd_open(struct crid_loop *loop, double timeout,
				       struct crid_err *err);

/* systemd's version string ("252.38-1~deb12u1"); valid until close. */
const char *crid_systemd_version(const struct crid_systemd *sd);

/*
 * StartTransientUnit of scope |unit| in |slice| ("" = systemd's default)
 * holding |pid|, with Delegate=yes. |done| runs on the loop once the start
 * job is over. NULL with |err| when the call could not be sent.
 */
struct crid_systemd_call *crid_systemd_start_scope(struct crid_systemd *sd, const char *unit,
						   const char *slice, pid_t pid,
						   crid_systemd_done_fn done, void *user,
						   struct crid_err *err);

/* Forgets |call|: its done is never called. */
void crid_systemd_call_cancel(struct crid_systemd_call *call);

/* Cancels what is pending (no done is called) and disconnects. NULL is fine. */
void crid_systemd_close(struct crid_systemd *sd);

/* "crid-pod-<id>.scope" for pod |id| into |out|; false if it does not fit. */
bool crid_systemd_pod_scope_name(const char *id, char *out, size_t size);

#endif
