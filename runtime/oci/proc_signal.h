/*
 * Whether a signal sent now would reach a process, from /proc/<pid>/status.
 *
 * A container's init is usually PID 1 of its own PID namespace, and the
 * kernel delivers to such a process, from an ancestor namespace, only the
 * signals it has a handler for (SIGKILL and SIGSTOP aside): a stop signal
 * sent before the program installed its handler is dropped, not queued
 * (kernel/signal.c, sig_task_ignored() with SIGNAL_UNKILLABLE). A process
 * that is not a namespace's PID 1 gets the signal's default action.
 *
 * Before that, the init is still the OCI runtime's process (runc's init is Go
 * and catches every signal; it dies or exits on one and the container never
 * runs its program): a signal meant for the program is only sent once the
 * init's executable is no longer the runtime's.
 */
#ifndef CRID_PROC_SIGNAL_H
#define CRID_PROC_SIGNAL_H

#include <stddef.h>
#include <sys/types.h>

enum crid_sig_reach {
	CRID_SIG_REACHES, /* caught, or not a namespace's PID 1 (or unknown): send it */
	CRID_SIG_DROPPED, /* PID 1 of its namespace that does not catch it (yet), or not exec'd */
	CRID_SIG_GONE,	  /* no such process, or a zombie */
};

/* From the text of /proc/<pid>/status (|len| bytes, need not end in NUL). */
enum crid_sig_reach crid_proc_sig_reach_parse(const char *status, size_t len, int sig);

/* Which file /proc/<pid>/exe is. */
struct crid_exe_id {
	dev_t dev;
	ino_t ino;
};

/* 0, or -1 when it cannot be told (the process is gone, or a kernel thread). */
int crid_proc_exe_id(pid_t pid, struct crid_exe_id *out);

/*
 * Reads /proc/<pid>/status (one bounded read) and parses it. |runtime_exe|:
 * the runtime's executable the init ran before its exec, or NULL when
 * unknown: while it still runs that, CRID_SIG_DROPPED.
 */
enum crid_sig_reach crid_proc_sig_reach(pid_t pid, int sig, const struct crid_exe_id *runtime_exe);

#endif
