/*
 * Room runtime/oci/: the OCI layer — the input types of a container spec
 * (ctr_spec.h), config.json building (oci_spec.c, oci_json.c, oci_seccomp.c,
 * oci_user.c, mount_prop.c), the runtime driver (this file, console.c), host
 * detection (host.c) and signal reachability (proc_signal.c). Knows no CRI
 * and no pod or container store; calls config/ and reactor/.
 *
 * Drives an OCI runtime binary (runc, crun) as child processes on the loop:
 * create, start, kill, delete, state, update, exec. Each call has a timeout
 * (the runtime is killed and the call fails with ETIMEDOUT). The runtime's
 * own errors are read from `--log <file> --log-format json` (create, exec:
 * their stdio belongs to the container) or its stderr, and reported as its
 * message ("runc create: exec: \"nosuch\": executable file not found in $PATH").
 */
#ifndef CRID_OCI_RUNTIME_H
#define CRID_OCI_RUNTIME_H

#include <stdbool.h>
#include <stddef.h>

#include "reactor/loop.h"

struct crid_oci_runtime {
	const char *name; /* handler name, for messages */
	const char *path; /* binary */
	const char *root; /* --root; "" = the runtime's default */
	/*
	 * crun on a cgroup hybrid host (crun_ns.h): >= 0, calls run in this
	 * mount namespace; create, which needs the host's mounts as they are
	 * now, in a fresh one without |hide_mount| (under /sys/fs/cgroup).
	 */
	int mnt_ns_fd;
	const char *hide_mount;
	/*
	 * Seconds a call may take where its caller sets no bound of its own
	 * (exec's runtime step); 0 = the caller's default.
	 */
	double call_timeout;
};

/*
 * Called once when the runtime exited (status 0) or failed. |out| is what it
 * printed on stdout (state JSON), valid during the callback only.
 */
typedef void (*crid_oci_done_fn)(void *user, int status, const char *out, size_t len,
				 const struct crid_err *err);

struct crid_oci_call;

/* stdio of the container's process for create and exec (-1 = /dev/null). */
struct crid_oci_stdio {
	int in, out, err;
};

/* `create --bundle B --pid-file B/pid ID`; the container's init gets |stdio|. */
struct crid_oci_call *crid_oci_create(struct crid_loop *loop, const struct crid_oci_runtime *rt,
				      const char *id, const char *bundle,
				      const struct crid_oci_stdio *stdio, double timeout,
				      crid_oci_done_fn done, void *user, struct crid_err *err);

/*
 * create for a process.terminal container: `--console-socket` names a socket
 * crid listens on, `<bundle>/console.sock` (or a short-named directory under
 * |short_dir| when that path is too long for a unix socket). The init's stdio
 * is the pty's slave; its master (O_NONBLOCK, 80x24 unless the spec sized
 * it) is stored in *|master| before |done| is called with status 0, and the
 * caller owns it; the call fails when the runtime sent none. Never written
 * on failure or cancel.
 */
struct crid_oci_call *crid_oci_create_tty(struct crid_loop *loop, const struct crid_oci_runtime *rt,
					  const char *id, const char *bundle, const char *short_dir,
					  int *master, double timeout, crid_oci_done_fn done,
					  void *user, struct crid_err *err);

struct crid_oci_call *crid_oci_start(struct crid_loop *loop, const struct crid_oci_runtime *rt,
				     const char *id, double timeout, crid_oci_done_fn done,
				     void *user, struct crid_err *err);

/* `kill [--all] ID SIGNO`. */
struct crid_oci_call *crid_oci_kill(struct crid_loop *loop, const struct crid_oci_runtime *rt,
				    const char *id, int signo, bool all, double timeout,
				    crid_oci_done_fn done, void *user, struct crid_err *err);

/* `delete [--force] ID`; a container the runtime does not know is success. */
struct crid_oci_call *crid_oci_delete(struct crid_loop *loop, const struct crid_oci_runtime *rt,
				      const char *id, bool force, double timeout,
				      crid_oci_done_fn done, void *user, struct crid_err *err);

/* `state ID`: |out| is the state JSON. */
struct crid_oci_call *crid_oci_state(struct crid_loop *loop, const struct crid_oci_runtime *rt,
				     const char *id, double timeout, crid_oci_done_fn done,
				     void *user, struct crid_err *err);

/* `update --resources FILE ID` with |resources_json| (an OCI LinuxResources object). */
struct crid_oci_call *crid_oci_update(struct crid_loop *loop, const struct crid_oci_runtime *rt,
				      const char *id, const char *bundle,
				      const char *resources_json, double timeout,
				      crid_oci_done_fn done, void *user, struct crid_err *err);

/*
 * `exec --process FILE ID` (not detached): |status| of done is then the
 * exec'd process's exit status (0..255, 128+signal), or -1 with |err| when
 * the runtime itself failed (e.g. the executable does not exist).
 * |process_json| is written to a file under |bundle|.
 */
struct crid_oci_call *crid_oci_exec(struct crid_loop *loop, const struct crid_oci_runtime *rt,
				    const char *id, const char *bundle, const char *process_json,
				    const struct crid_oci_stdio *stdio, double timeout,
				    crid_oci_done_fn done, void *user, struct crid_err *err);

/*
 * `exec --detach --process FILE --pid-file |pid_file| ID`: |done| gets
 * status 0 once the runtime started the process and wrote its pid to
 * |pid_file| (which the caller owns and removes), or -1 with |err| when it
 * failed. The process keeps |stdio| and outlives the call; cancel kills the
 * runtime and, when the pid file names it already, the process.
 */
struct crid_oci_call *
crid_oci_exec_detached(struct crid_loop *loop, const struct crid_oci_runtime *rt, const char *id,
		       const char *bundle, const char *process_json, const char *pid_file,
		       const struct crid_oci_stdio *stdio, double timeout, crid_oci_done_fn done,
		       void *user, struct crid_err *err);

/*
 * As crid_oci_exec_detached for a `process.terminal` process: `--console-socket`
 * at `<bundle>/exec-<crid pid>-<n>.sock` (or under |short_dir| when too long);
 * the pty's master (O_NONBLOCK, 80x24) is stored in *|master| before |done|
 * gets status 0, and the caller owns it; the call fails when none came.
 */
struct crid_oci_call *crid_oci_exec_detached_tty(struct crid_loop *loop,
						 const struct crid_oci_runtime *rt, const char *id,
						 const char *bundle, const char *short_dir,
						 const char *process_json, const char *pid_file,
						 int *master, double timeout, crid_oci_done_fn done,
						 void *user, struct crid_err *err);

/* Kills the runtime process and frees the call; |done| is not called. */
void crid_oci_call_cancel(struct crid_oci_call *call);

#endif
