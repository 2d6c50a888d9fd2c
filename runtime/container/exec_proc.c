/*
 * An exec'd process: the runtime's detached exec, then the process itself
 * through a pidfd, its process group killed on demand. See exec_proc.h.
 *
 * Life of a proc: RUNTIME (the `exec --detach` call runs) -> WATCHING (pid
 * known, pidfd watched) -> EXITED (status read; the process is reaped).
 * The owner may release it in any state; a released proc frees itself when
 * it reaches EXITED, or at once when it already has.
 */
#include "runtime/container/exec_proc.h"

#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/pidfd.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#include "reactor/log.h"
#include "reactor/mem.h"
#include "reactor/pidfd.h"

/* The runtime's part (start the process, write the pid file) is short; this bounds a wedge. */
#define EXEC_RUNTIME_TIMEOUT 60.0

/* Linux 6.9's uapi/linux/pidfd.h, for older headers. */
#ifndef PIDFD_SIGNAL_PROCESS_GROUP
#define PIDFD_SIGNAL_PROCESS_GROUP (1UL << 2)
#endif

enum proc_state { RUNTIME, WATCHING, EXITED };

struct crid_exec_proc {
	struct crid_loop *loop;
	enum proc_state state;
	struct crid_oci_call *call; /* RUNTIME */
	char *pid_file;
	pid_t pid;
	pid_t pgid; /* the group it leads, or 0 (for kernels without PIDFD_SIGNAL_PROCESS_GROUP) */
	int pidfd;
	ev_io watch;
	bool kill_wanted; /* killed before its pid was known */
	int master;	  /* a terminal's, from the runtime until running() takes it */
	crid_exec_proc_run_fn running;
	crid_exec_proc_exit_fn done;
	void *user;
	struct crid_exec_reaper *reaper; /* set once released */
	struct crid_exec_proc *next, **prevp;
};

static unsigned long proc_seq;

/* ppid and pgrp from /proc/PID/stat (a zombie's too); -1 when |pid| is gone. */
static int proc_stat(pid_t pid, pid_t *ppid, pid_t *pgrp, unsigned long long *start)
{
	char path[64], buf[1024], *p;
	unsigned long long v[20];
	ssize_t n;
	int fd;

	snprintf(path, sizeof(path), "/proc/%d/stat", (int)pid);
	fd = open(path, O_RDONLY | O_CLOEXEC);
	if (fd < 0)
		return -1;
	n = read(fd, buf, sizeof(buf) - 1);
	close(fd);
	if (n <= 0)
		return -1;
	buf[n] = '\0';
	p = strrchr(buf, ')'); /* the command may hold spaces and parentheses */
	if (!p || p[1] != ' ' || !p[2])
		return -1;
	p += 4; /* past ") S " */
	for (int i = 0; i < 20; i++) {
		char *end;

		v[i] = strtoull(p, &end, 10);
		if (end == p)
			return -1;
		p = end;
	}
	/* fields 4.. of proc(5): ppid pgrp session tty_nr tpgid flags ... starttime (22) */
	*ppid = (pid_t)v[0];
	*pgrp = (pid_t)v[1];
	if (start)
		*start = v[18];
	return 0;
}

static void unlink_from_reaper(struct crid_exec_proc *p)
{
	if (!p->prevp)
		return;
	*p->prevp = p->next;
	if (p->next)
		p->next->prevp = p->prevp;
	p->prevp = NULL;
	p->next = NULL;
}

static void proc_free(struct crid_exec_proc *p)
{
	if (p->call)
		crid_oci_call_cancel(p->call); /* kills the runtime and the process it named */
	if (p->pidfd >= 0) {
		ev_io_stop(p->loop->ev, &p->watch);
		close(p->pidfd);
		if (p->state != EXITED)
			crid_reap_orphans_soon(p->loop); /* reaps it once it exits */
	}
	unlink_from_reaper(p);
	if (p->master >= 0)
		close(p->master);
	if (p->pid_file)
		unlink(p->pid_file);
	crid_free(p->pid_file);
	crid_free(p);
}

/* The process (and the runtime) are gone: tell the owner, or free a released proc. */
static void exited(struct crid_exec_proc *p, int status, const struct crid_err *err)
{
	p->state = EXITED;
	if (p->pid_file)
		unlink(p->pid_file); /* nothing left for a restarted daemon to kill */
	if (p->reaper) {
		proc_free(p);
		return;
	}
	p->done(p->user, status, err);
}

/*
 * SIGKILL to the group the process leads, through its pidfd: that names the
 * group by the kernel's pid object, never by a number that could be reused
 * (ESRCH when it leads no group or the group is empty), then to the process.
 * Kernels before 6.9 lack the flag, and a process that leads no group (crun
 * leaves it in the session crid made for crun): kill(-pgid) then, while the
 * process is unreaped (a group with a member keeps its number).
 */
static void signal_group(struct crid_exec_proc *p)
{
	if (p->pidfd < 0)
		return;
	if (pidfd_send_signal(p->pidfd, SIGKILL, NULL, PIDFD_SIGNAL_PROCESS_GROUP) < 0 &&
	    (errno == EINVAL || errno == ESRCH) && p->pgid > 0 && p->state == WATCHING)
		kill(-p->pgid, SIGKILL);
	pidfd_send_signal(p->pidfd, SIGKILL, NULL, 0);
}

void crid_exec_proc_kill(struct crid_exec_proc *p)
{
	if (p->state == RUNTIME)
		p->kill_wanted = true;
	else
		signal_group(p);
}

static void readable(struct ev_loop *ev, ev_io *w, int revents)
{
	struct crid_exec_proc *p = w->data;
	struct crid_err err;
	int status = 255;

	(void)revents;
	switch (crid_pidfd_exit(p->pidfd, &status)) {
	case CRID_EXIT_RUNNING:
	case CRID_EXIT_PENDING:
		return;
	case CRID_EXIT_KNOWN:
		break;
	case CRID_EXIT_UNKNOWN:
		ev_io_stop(ev, w);
		crid_err_set(&err, 0, "exec process %d: exit status lost", (int)p->pid);
		err.code = EIO;
		exited(p, -1, &err);
		return;
	}
	ev_io_stop(ev, w);
	exited(p, status, NULL);
}

/* The pid the runtime wrote; 0 when there is none. */
static pid_t read_pid_file(const char *path)
{
	char buf[32];
	ssize_t n;
	long pid;
	int fd = open(path, O_RDONLY | O_CLOEXEC);

	if (fd < 0)
		return 0;
	n = read(fd, buf, sizeof(buf) - 1);
	close(fd);
	if (n <= 0)
		return 0;
	buf[n] = '\0';
	pid = strtol(buf, NULL, 10);
	return pid > 1 && pid <= INT_MAX ? (pid_t)pid : 0;
}

/*
 * Takes the process over from the runtime that just exited. It is our child
 * now, so its pid is its own until reaped: the pidfd is opened on the right
 * process unless the orphan sweep reaped it first (it exited at once), and
 * then the sweep kept its status. Returns 1 when it has exited so, with
 * *status set; 0 when it is watched.
 */
static int adopt(struct crid_exec_proc *p, int *status, struct crid_err *err)
{
	pid_t ppid, pgrp;

	p->pid = read_pid_file(p->pid_file);
	if (p->pid <= 0) {
		crid_err_set(err, 0, "exec: the runtime named no process in `%s`", p->pid_file);
		err->code = EIO;
		return -1;
	}
	p->pidfd = pidfd_open(p->pid, 0);
	if (p->pidfd < 0 || proc_stat(p->pid, &ppid, &pgrp, NULL) < 0 || ppid != getpid()) {
		if (p->pidfd >= 0)
			close(p->pidfd);
		p->pidfd = -1;
		if (crid_reaped_status(p->pid, status))
			return 1;
		crid_err_set(err, 0, "exec process %d: exited before crid saw it, status lost",
			     (int)p->pid);
		err->code = EIO;
		return -1;
	}
	fcntl(p->pidfd, F_SETFD, FD_CLOEXEC);
	/* the group it leads (runc), or crun's own session's (crun leaves it in its group) */
	if (pgrp != getpgrp())
		p->pgid = pgrp;
	p->state = WATCHING;
	ev_io_init(&p->watch, readable, p->pidfd, EV_READ);
	p->watch.data = p;
	ev_io_start(p->loop->ev, &p->watch);
	return 0;
}

/* The runtime started the process: the owner gets its terminal (or -1), once. */
static void run_now(struct crid_exec_proc *p)
{
	int master = p->master;

	p->master = -1;
	if (p->running && !p->reaper)
		p->running(p->user, master);
	else if (master >= 0)
		close(master);
}

static void runtime_done(void *user, int status, const char *out, size_t len,
			 const struct crid_err *err)
{
	struct crid_exec_proc *p = user;
	struct crid_err e;

	(void)out, (void)len;
	p->call = NULL;
	if (status < 0) {
		exited(p, -1, err);
		return;
	}
	switch (adopt(p, &status, &e)) {
	case -1:
		exited(p, -1, &e);
		return;
	case 1:
		run_now(p); /* its output may wait in the pipes: the owner reads it */
		exited(p, status, NULL);
		return;
	}
	run_now(p);
	if (p->kill_wanted)
		signal_group(p);
}

/*
 * The runtime's own step (`exec --detach` until the process runs): a runtime
 * wedged there keeps an abandoned exec's kill waiting, so it is bounded.
 */
static double runtime_timeout(const struct crid_oci_runtime *rt)
{
	if (rt->call_timeout > 0 && rt->call_timeout < EXEC_RUNTIME_TIMEOUT)
		return rt->call_timeout;
	return EXEC_RUNTIME_TIMEOUT;
}

/* |stdio| for pipes, or |short_dir| for a terminal. */
static struct crid_exec_proc *start(struct crid_loop *loop, const struct crid_oci_runtime *rt,
				    const char *id, const char *bundle, const char *process_json,
				    const struct crid_oci_stdio *stdio, const char *short_dir,
				    crid_exec_proc_exit_fn done, void *user, struct crid_err *err)
{
	struct crid_exec_proc *p = crid_calloc(1, sizeof(*p));
	char path[PATH_MAX];
	int n;

	if (!p)
		return crid_err_set(err, ENOMEM, "exec in %s", id), NULL;
	p->loop = loop;
	p->pidfd = -1;
	p->master = -1;
	p->done = done;
	p->user = user;
	n = snprintf(path, sizeof(path), "%s/exec-%d-d%lu.pid", bundle, (int)getpid(), ++proc_seq);
	if (n < 0 || (size_t)n >= sizeof(path) || !(p->pid_file = crid_strdup(path))) {
		crid_err_set(err, n < 0 || (size_t)n >= sizeof(path) ? ENAMETOOLONG : ENOMEM,
			     "exec pid file in `%s`", bundle);
		crid_free(p);
		return NULL;
	}
	p->call = short_dir
		      ? crid_oci_exec_detached_tty(loop, rt, id, bundle, short_dir, process_json,
						   p->pid_file, &p->master, runtime_timeout(rt),
						   runtime_done, p, err)
		      : crid_oci_exec_detached(loop, rt, id, bundle, process_json, p->pid_file,
					       stdio, runtime_timeout(rt), runtime_done, p, err);
	if (!p->call) {
		proc_free(p);
		return NULL;
	}
	return p;
}

struct crid_exec_proc *crid_exec_proc_start(struct crid_loop *loop,
					    const struct crid_oci_runtime *rt, const char *id,
					    const char *bundle, const char *process_json,
					    const struct crid_oci_stdio *stdio,
					    crid_exec_proc_exit_fn done, void *user,
					    struct crid_err *err)
{
	return start(loop, rt, id, bundle, process_json, stdio, NULL, done, user, err);
}

struct crid_exec_proc *
crid_exec_proc_start_tty(struct crid_loop *loop, const struct crid_oci_runtime *rt, const char *id,
			 const char *bundle, const char *short_dir, const char *process_json,
			 crid_exec_proc_run_fn running, crid_exec_proc_exit_fn done, void *user,
			 struct crid_err *err)
{
	struct crid_exec_proc *p =
	    start(loop, rt, id, bundle, process_json, NULL, short_dir, done, user, err);

	if (p)
		p->running = running;
	return p;
}

void crid_exec_proc_on_running(struct crid_exec_proc *p, crid_exec_proc_run_fn running)
{
	p->running = running;
}

void crid_exec_proc_release(struct crid_exec_proc *p, struct crid_exec_reaper *reaper)
{
	if (p->state == EXITED) {
		proc_free(p);
		return;
	}
	p->reaper = reaper;
	p->next = reaper->head;
	p->prevp = &reaper->head;
	if (p->next)
		p->next->prevp = &p->next;
	reaper->head = p;
}

void crid_exec_reaper_cleanup(struct crid_exec_reaper *reaper)
{
	while (reaper->head)
		proc_free(reaper->head);
}

/* ---- after a restart ---- */

/* /proc/PID/cgroup into |buf|; false when unreadable. */
static bool read_cgroup(pid_t pid, char *buf, size_t size)
{
	char path[64];
	ssize_t n;
	int fd;

	snprintf(path, sizeof(path), "/proc/%d/cgroup", (int)pid);
	fd = open(path, O_RDONLY | O_CLOEXEC);
	if (fd < 0)
		return false;
	n = read(fd, buf, size - 1);
	close(fd);
	if (n <= 0)
		return false;
	buf[n] = '\0';
	return true;
}

/* Boot-relative seconds of |st|'s mtime (CLOCK_BOOTTIME, as /proc's starttime). */
static double boot_mtime(const struct stat *st)
{
	struct timespec real, boot;
	double mtime = (double)st->st_mtim.tv_sec + st->st_mtim.tv_nsec / 1e9;

	clock_gettime(CLOCK_REALTIME, &real);
	clock_gettime(CLOCK_BOOTTIME, &boot);
	return mtime - ((double)real.tv_sec + real.tv_nsec / 1e9) +
	       ((double)boot.tv_sec + boot.tv_nsec / 1e9);
}

/*
 * The process a leftover pid file names, when it is still that process: in
 * the container's cgroup, and started before the runtime wrote the file (a
 * recycled pid starts after). Returns a pidfd, or -1.
 */
static int leftover(int dfd, const char *name, pid_t pid, const char *init_cgroup)
{
	char cg[4096];
	struct stat st;
	unsigned long long start;
	pid_t ppid, pgrp;
	int pidfd;

	if (fstatat(dfd, name, &st, 0) < 0 || (pidfd = pidfd_open(pid, 0)) < 0)
		return -1;
	if (!read_cgroup(pid, cg, sizeof(cg)) || strcmp(cg, init_cgroup) != 0 ||
	    proc_stat(pid, &ppid, &pgrp, &start) < 0 ||
	    (double)start / (double)sysconf(_SC_CLK_TCK) > boot_mtime(&st) + 1.0) {
		close(pidfd);
		return -1;
	}
	return pidfd;
}

static bool is_exec_pid_file(const char *name)
{
	size_t len = strlen(name);

	return !strncmp(name, "exec-", 5) && len > 9 && !strcmp(name + len - 4, ".pid");
}

void crid_exec_proc_sweep(const char *bundle, pid_t init_pid)
{
	char init_cg[4096], path[PATH_MAX];
	bool have_cg = init_pid > 0 && read_cgroup(init_pid, init_cg, sizeof(init_cg));
	struct dirent *e;
	DIR *d = opendir(bundle);

	if (!d)
		return;
	while ((e = readdir(d))) {
		pid_t pid;
		int pidfd;

		if (!is_exec_pid_file(e->d_name) ||
		    snprintf(path, sizeof(path), "%s/%s", bundle, e->d_name) >= (int)sizeof(path))
			continue;
		pid = read_pid_file(path);
		pidfd = have_cg && pid > 0 ? leftover(dirfd(d), e->d_name, pid, init_cg) : -1;
		if (pidfd >= 0) {
			/* its group too, as a timeout would have (ESRCH when it leads none) */
			pidfd_send_signal(pidfd, SIGKILL, NULL, PIDFD_SIGNAL_PROCESS_GROUP);
			pidfd_send_signal(pidfd, SIGKILL, NULL, 0);
			close(pidfd);
			crid_log_info("recovery: killed exec process %d left in `%s`", (int)pid,
				      bundle);
		}
		unlinkat(dirfd(d), e->d_name, 0);
	}
	closedir(d);
}
