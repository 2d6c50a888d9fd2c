/*
 * A process exec'd in a running container, known by its own pid: the one
 * mechanism below ExecSync and the streaming exec sessions.
 *
 * The OCI runtime runs `exec --detach --pid-file F`: it starts the process
 * and exits. The process is then crid's child (crid is the subreaper of
 * everything the runtime leaves), so crid opens a pidfd on the pid the file
 * names and reads its exit status with waitid(P_PIDFD) on the loop. Killing
 * the runtime of a non-detached exec does not kill what it started; here the
 * process itself is killed, with the whole process group it leads (runc and
 * crun make an exec'd process a session leader, so a shell's background
 * children die with it; what moved itself to another group or session does
 * not).
 *
 * The pid file is `<bundle>/exec-<crid pid>-d<n>.pid` and stays while the
 * process may run: after a crash the next daemon finds and kills what the
 * previous one left (crid_exec_proc_sweep).
 */
#ifndef CRID_EXEC_PROC_H
#define CRID_EXEC_PROC_H

#include <stdbool.h>
#include <sys/types.h>

#include "reactor/loop.h"
#include "runtime/oci/oci_runtime.h"

struct crid_exec_proc;

/*
 * Released procs whose runtime or process still runs, until they are gone;
 * one per daemon, embedded in its owner (struct crid_ctrs).
 */
struct crid_exec_reaper {
	struct crid_exec_proc *head;
};

/*
 * Called once: |status| is the process's exit status (0..255, 128 + signal),
 * or -1 with |err| when the runtime failed to start it (e.g. the executable
 * does not exist) or its status was lost. The proc stays valid until released.
 */
typedef void (*crid_exec_proc_exit_fn)(void *user, int status, const struct crid_err *err);

/*
 * Starts |process_json| (an OCI process object) in container |id| with
 * |stdio| (the process holds its own copies; the caller keeps and closes
 * its descriptors). NULL with |err| when nothing was started.
 */
struct crid_exec_proc *crid_exec_proc_start(struct crid_loop *loop,
					    const struct crid_oci_runtime *rt, const char *id,
					    const char *bundle, const char *process_json,
					    const struct crid_oci_stdio *stdio,
					    crid_exec_proc_exit_fn done, void *user,
					    struct crid_err *err);

/*
 * The runtime started the process (its pid is known): |master| is its
 * terminal's master, now the callee's, or -1 for a process with pipes.
 * Called before |done|, also when the process already exited by then (its
 * output may still wait in the pipes); never when the runtime failed.
 */
typedef void (*crid_exec_proc_run_fn)(void *user, int master);

/*
 * As crid_exec_proc_start for a `process.terminal` process: the runtime gets
 * `--console-socket` (in |bundle|, or under |short_dir| when that path is too
 * long) and sends the pty's master, which |running| receives.
 */
struct crid_exec_proc *
crid_exec_proc_start_tty(struct crid_loop *loop, const struct crid_oci_runtime *rt, const char *id,
			 const char *bundle, const char *short_dir, const char *process_json,
			 crid_exec_proc_run_fn running, crid_exec_proc_exit_fn done, void *user,
			 struct crid_err *err);

/* Asks for |running| (set right after crid_exec_proc_start: it is never called before). */
void crid_exec_proc_on_running(struct crid_exec_proc *p, crid_exec_proc_run_fn running);

/*
 * SIGKILLs the process and the process group it leads, now or, while the
 * runtime has not told its pid yet, as soon as it has. After the exit too:
 * the group's other members may still run. |done| still comes.
 */
void crid_exec_proc_kill(struct crid_exec_proc *p);

/*
 * The owner is done with |p|: |done| is not called any more. What still
 * runs (the runtime, the process) is waited for under |reaper|, which frees
 * |p| when it is gone; the caller kills first when it wants it gone.
 */
void crid_exec_proc_release(struct crid_exec_proc *p, struct crid_exec_reaper *reaper);

/* Shutdown: frees every proc the reaper holds (their processes are not waited for). */
void crid_exec_reaper_cleanup(struct crid_exec_reaper *reaper);

/*
 * Start-up: kills the processes that execs of an earlier daemon left in the
 * container whose bundle is |bundle| (their pid files name them; a pid is
 * trusted only while it is in the same PID namespace as |init_pid|, the
 * container's init) and removes those pid files. Bounded by the files found.
 */
void crid_exec_proc_sweep(const char *bundle, pid_t init_pid);

#endif
