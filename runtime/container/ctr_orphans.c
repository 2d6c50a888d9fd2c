/*
 * The leftovers of an unfinished `runtime create` (see ctr_orphans.h):
 * killed by pidfd, then waited for from a timer, never on the loop. One
 * /proc scan (the runtime is found by its command line), SCAN_SLICE pids a
 * tick: reading a command line costs tens of microseconds on a loaded node,
 * and a node has thousands of pids; each tick also reads the container's
 * cgroup.procs files and polls the pidfds of the runtimes killed.
 */
#include "runtime/container/ctr_orphans.h"

#include <dirent.h>
#include <fcntl.h>
#include <limits.h>
#include <poll.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/syscall.h>
#include <unistd.h>

#include "reactor/log.h"
#include "reactor/mem.h"
#include "runtime/container/cgroup_stats.h"
#include "runtime/oci/host.h"

#define POLL_S 0.02
#define SCAN_SLICE 64	/* /proc entries read per tick */
#define SCAN_S 0.001	/* the tick while the /proc scan goes on */
#define MAX_RUNTIMES 16 /* runtime processes waited for; more are killed, not waited for */
#define MAX_LOGGED 32	/* pids named in the log once, not at every tick */

struct crid_ctr_orphans {
	struct crid_loop *loop;
	ev_timer timer;
	double started, deadline;
	char *id;
	DIR *proc;	    /* the scan for the runtime; NULL once done */
	char rel[PATH_MAX]; /* the cgroup below each hierarchy's mount; "" for none */
	int runtimes[MAX_RUNTIMES];
	size_t n_runtimes;
	pid_t logged[MAX_LOGGED];
	size_t n_logged;
	crid_ctr_orphans_fn done;
	void *user;
};

/* Up to |size| - 1 bytes of /proc/<pid>/<name>, NUL-terminated; -1 when unreadable. */
static ssize_t read_proc(pid_t pid, const char *name, char *buf, size_t size)
{
	char path[64];
	ssize_t n;
	int fd;

	snprintf(path, sizeof(path), "/proc/%d/%s", (int)pid, name);
	fd = open(path, O_RDONLY | O_CLOEXEC);
	if (fd < 0)
		return -1;
	n = read(fd, buf, size - 1);
	close(fd);
	buf[n > 0 ? n : 0] = '\0';
	return n;
}

/* Does process |pid|'s command line hold the argument |id|? */
static bool runs_for(pid_t pid, const char *id)
{
	char buf[8192];
	size_t alen = strlen(id) + 1; /* with its NUL: a whole argument */
	ssize_t n = read_proc(pid, "cmdline", buf, sizeof(buf));

	for (ssize_t i = 0; n > 0 && i + (ssize_t)alen <= n; i++)
		if ((i == 0 || buf[i - 1] == '\0') && memcmp(buf + i, id, alen) == 0)
			return true;
	return false;
}

/* Is process |pid| in the cgroup |rel| of some hierarchy ("<n>:<controllers>:<rel>")? */
static bool lives_in(pid_t pid, const char *rel)
{
	char buf[4096], *p = buf;
	size_t len = strlen(rel);

	if (read_proc(pid, "cgroup", buf, sizeof(buf)) <= 0)
		return false;
	while ((p = strchr(p, ':')) && (p = strchr(p + 1, ':'))) {
		p++;
		if (strncmp(p, rel, len) == 0 && (p[len] == '\n' || p[len] == '\0'))
			return true;
	}
	return false;
}

static bool logged_before(struct crid_ctr_orphans *o, pid_t pid)
{
	for (size_t i = 0; i < o->n_logged; i++)
		if (o->logged[i] == pid)
			return true;
	if (o->n_logged < MAX_LOGGED)
		o->logged[o->n_logged++] = pid;
	return false;
}

/*
 * SIGKILL through a pidfd, once the pidfd holds the pid and |still| confirms
 * it is the process we mean (a pid read a moment ago may name another by
 * now); returns the pidfd (the caller's) or -1.
 */
static int kill_pid(struct crid_ctr_orphans *o, pid_t pid, bool (*still)(pid_t, const char *),
		    const char *arg, const char *what)
{
	int pidfd = (int)syscall(SYS_pidfd_open, pid, 0);

	if (pidfd < 0)
		return -1;
	if (!still(pid, arg)) {
		close(pidfd);
		return -1;
	}
	if (!logged_before(o, pid))
		crid_log_info("container %.12s: unfinished create: killing %s pid %d", o->id, what,
			      (int)pid);
	syscall(SYS_pidfd_send_signal, pidfd, SIGKILL, NULL, 0);
	return pidfd;
}

/* The next SCAN_SLICE pids of the scan for the runtime; true once the scan is done. */
static bool kill_runtimes(struct crid_ctr_orphans *o)
{
	struct dirent *e;

	for (int i = 0; o->proc && i < SCAN_SLICE; i++) {
		pid_t pid;
		int fd;

		if (!(e = readdir(o->proc))) {
			closedir(o->proc);
			o->proc = NULL;
			break;
		}
		pid = (pid_t)atoi(e->d_name);
		if (pid <= 0 || !runs_for(pid, o->id))
			continue;
		fd = kill_pid(o, pid, runs_for, o->id, "runtime");
		if (fd >= 0 && o->n_runtimes < MAX_RUNTIMES)
			o->runtimes[o->n_runtimes++] = fd;
		else if (fd >= 0)
			close(fd);
	}
	return !o->proc;
}

/* Kills what |procs| (a cgroup.procs file) lists; returns how many it listed. */
static size_t kill_listed(struct crid_ctr_orphans *o, const char *procs)
{
	FILE *f = fopen(procs, "re");
	char line[32];
	size_t n = 0;

	if (!f)
		return 0;
	while (fgets(line, sizeof(line), f)) {
		int fd = kill_pid(o, (pid_t)atoi(line), lives_in, o->rel, "process in its cgroups");
		if (fd >= 0)
			close(fd);
		n++;
	}
	fclose(f);
	return n;
}

/* Every hierarchy's copy of the cgroup (cgroup v1, hybrid), and cgroup2 alone. */
static size_t kill_in_cgroups(struct crid_ctr_orphans *o)
{
	char path[PATH_MAX * 2];
	struct dirent *e;
	size_t n = 0;
	DIR *d;

	if (!o->rel[0])
		return 0;
	snprintf(path, sizeof(path), "%s%s/cgroup.procs", CRID_CGROUP_ROOT, o->rel);
	n += kill_listed(o, path);
	d = opendir(CRID_CGROUP_ROOT);
	while (d && (e = readdir(d))) {
		if (e->d_name[0] == '.')
			continue;
		snprintf(path, sizeof(path), "%s/%s%s/cgroup.procs", CRID_CGROUP_ROOT, e->d_name,
			 o->rel);
		n += kill_listed(o, path);
	}
	if (d)
		closedir(d);
	return n;
}

/* How many killed runtimes have not exited yet (the exited ones' pidfds are closed). */
static size_t runtimes_alive(struct crid_ctr_orphans *o)
{
	size_t k = 0;

	for (size_t i = 0; i < o->n_runtimes; i++) {
		struct pollfd p = { .fd = o->runtimes[i], .events = POLLIN };

		if (poll(&p, 1, 0) == 1)
			close(o->runtimes[i]);
		else
			o->runtimes[k++] = o->runtimes[i];
	}
	o->n_runtimes = k;
	return k;
}

static void finish(struct crid_ctr_orphans *o, bool gone)
{
	crid_ctr_orphans_fn done = o->done;
	void *user = o->user;

	crid_ctr_orphans_cancel(o);
	done(user, gone);
}

static void tick(struct ev_loop *ev, ev_timer *w, int revents)
{
	struct crid_ctr_orphans *o = w->data;
	bool scanned = kill_runtimes(o);
	size_t in_cgroups = kill_in_cgroups(o), runtimes = runtimes_alive(o);

	(void)revents;
	if (scanned && !in_cgroups && !runtimes)
		return finish(o, true);
	if (ev_now(ev) < o->deadline) {
		w->repeat = scanned ? POLL_S : SCAN_S;
		ev_timer_again(ev, w);
		return;
	}
	crid_log_warn("container %.12s: its unfinished create still has %zu "
		      "process(es) in its cgroups and %zu runtime(s) alive %.1f s after SIGKILL; "
		      "undone anyway",
		      o->id, in_cgroups, runtimes, ev_now(ev) - o->started);
	finish(o, false);
}

struct crid_ctr_orphans *crid_ctr_orphans_kill(struct crid_loop *loop, const char *id,
					       const char *cgroups_path, long wait_ms,
					       crid_ctr_orphans_fn done, void *user)
{
	struct crid_ctr_orphans *o = crid_calloc(1, sizeof(*o));

	if (!o || !(o->id = crid_strdup(id))) {
		crid_free(o);
		return NULL;
	}
	o->loop = loop;
	o->done = done;
	o->user = user;
	if (cgroups_path && crid_cgroup_path_expand(cgroups_path, o->rel, sizeof(o->rel), NULL) < 0)
		o->rel[0] = '\0';
	o->proc = opendir("/proc"); /* NULL: no runtime can be found */
	kill_in_cgroups(o);
	ev_now_update(loop->ev); /* at start-up the loop has not run for a while */
	o->started = ev_now(loop->ev);
	o->deadline = o->started + wait_ms / 1000.0;
	ev_timer_init(&o->timer, tick, 0., POLL_S);
	o->timer.data = o;
	ev_timer_start(loop->ev, &o->timer);
	return o;
}

void crid_ctr_orphans_cancel(struct crid_ctr_orphans *o)
{
	if (!o)
		return;
	ev_timer_stop(o->loop->ev, &o->timer);
	if (o->proc)
		closedir(o->proc);
	for (size_t i = 0; i < o->n_runtimes; i++)
		close(o->runtimes[i]);
	crid_free(o->id);
	crid_free(o);
}
