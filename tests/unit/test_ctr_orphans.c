/*
 * The leftovers of an interrupted `runtime create` (runtime/container/
 * ctr_orphans.h), with real processes in real cgroups: the wait ends only
 * once the runtime (found by its command line) has exited and the
 * container's cgroups are empty. A process in a frozen cgroup v1 freezer
 * does not die of SIGKILL until thawed: it plays the runc init stage that a
 * loaded node had not let exit 66 ms after its SIGKILL (chaos seed 96639031,
 * kill 525), whose cgroups the undo then failed to remove.
 */
#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/syscall.h>
#include <sys/wait.h>
#include <unistd.h>

#include "runtime/container/ctr_orphans.h"
#include "tap.h"

#define V1 "/sys/fs/cgroup"

static char id[65], parent[64], rel[160];
static pid_t kids[16]; /* every child, killed and reaped at the end whatever happened */
static size_t n_kids;

struct result {
	int calls;
	bool gone;
};

static void remove_cgroups(void);

static void on_signal(struct crid_loop *loop, int signo, void *user)
{
	(void)loop, (void)signo, (void)user;
}

static void tick(struct ev_loop *ev, ev_timer *w, int revents)
{
	(void)ev, (void)w, (void)revents;
}

/* Runs the loop for |secs| at most, or until |r| heard its answer. */
static void run_for(struct crid_loop *loop, double secs, const struct result *r)
{
	double end = ev_time() + secs;
	ev_timer t;

	ev_timer_init(&t, tick, 0.01, 0.01);
	ev_timer_start(loop->ev, &t);
	while (ev_time() < end && !(r && r->calls))
		ev_run(loop->ev, EVRUN_ONCE);
	ev_timer_stop(loop->ev, &t);
}

static void done(void *user, bool gone)
{
	struct result *r = user;

	r->calls++;
	r->gone = gone;
}

static int write_file(const char *dir, const char *name, const char *text)
{
	char path[PATH_MAX + 32];
	int fd, ok;

	snprintf(path, sizeof(path), "%s/%s", dir, name);
	fd = open(path, O_WRONLY | O_CLOEXEC);
	if (fd < 0)
		return -1;
	ok = write(fd, text, strlen(text)) == (ssize_t)strlen(text);
	close(fd);
	return ok ? 0 : -1;
}

static void cg_dir(char *out, size_t size, const char *hier)
{
	snprintf(out, size, V1 "/%s%s", hier, rel);
}

/* Moves |pid| into the container's cgroup of hierarchy |hier|. */
static int enter(const char *hier, pid_t pid)
{
	char dir[PATH_MAX], text[32];

	cg_dir(dir, sizeof(dir), hier);
	snprintf(text, sizeof(text), "%d", (int)pid);
	return write_file(dir, "cgroup.procs", text);
}

static int freeze(bool on)
{
	char dir[PATH_MAX], state[16] = "";
	const char *want = on ? "FROZEN" : "THAWED";

	cg_dir(dir, sizeof(dir), "freezer");
	if (write_file(dir, "freezer.state", want) < 0)
		return -1;
	for (int i = 0; i < 200; i++) { /* FREEZING until every task is frozen */
		char path[PATH_MAX + 16];
		FILE *f;

		snprintf(path, sizeof(path), "%s/freezer.state", dir);
		f = fopen(path, "re");
		if (!f || !fgets(state, sizeof(state), f))
			state[0] = '\0';
		if (f)
			fclose(f);
		if (strncmp(state, want, strlen(want)) == 0)
			return 0;
		usleep(5000);
	}
	return -1;
}

static pid_t kid(pid_t pid)
{
	if (pid > 0 && n_kids < sizeof(kids) / sizeof(kids[0]))
		kids[n_kids++] = pid;
	return pid;
}

static pid_t spawn_sleep(void)
{
	pid_t pid = fork();

	if (pid == 0) {
		execl("/bin/sleep", "sleep", "1000", (char *)NULL);
		_exit(127);
	}
	return kid(pid);
}

/* The "runtime": a shell whose command line names the container, blocked on a pipe. */
static pid_t spawn_runtime(int *hold)
{
	int p[2];
	pid_t pid;

	if (pipe2(p, O_CLOEXEC) < 0)
		return -1;
	pid = fork();
	if (pid == 0) {
		dup2(p[0], 0);
		execl("/bin/sh", "sh", "-c", "read x", "sh", id, (char *)NULL);
		_exit(127);
	}
	close(p[0]);
	*hold = p[1];
	return kid(pid);
}

/* Waits (bounded) until |pid| has exec'd the command line naming the container. */
static bool names_container(pid_t pid)
{
	char path[64], buf[4096];

	snprintf(path, sizeof(path), "/proc/%d/cmdline", (int)pid);
	for (int i = 0; i < 500; i++) {
		FILE *f = fopen(path, "re");
		size_t n = f ? fread(buf, 1, sizeof(buf), f) : 0;

		if (f)
			fclose(f);
		if (n >= sizeof(id) && memcmp(buf + n - sizeof(id), id, sizeof(id)) == 0)
			return true;
		usleep(10000);
	}
	return false;
}

/* Reaps |pid| if it exited: true when SIGKILL ended it. A reaped pid is never signalled again. */
static bool killed(pid_t pid)
{
	int status;

	if (waitpid(pid, &status, WNOHANG) != pid)
		return false;
	for (size_t i = 0; i < n_kids; i++)
		if (kids[i] == pid)
			kids[i] = 0;
	return WIFSIGNALED(status) && WTERMSIG(status) == SIGKILL;
}

static bool exited_by_sigkill_within(pid_t pid, double secs)
{
	for (double t = 0; t < secs; t += 0.01) {
		if (killed(pid))
			return true;
		usleep(10000);
	}
	return false;
}

static void test_waits_for_the_frozen_stage(struct crid_loop *loop)
{
	struct result r = { 0 };
	int hold = -1;
	pid_t rt = spawn_runtime(&hold), stage = spawn_sleep(), late;
	struct crid_ctr_orphans *o;

	if (!CHECK(rt > 0 && stage > 0, "spawn the runtime and a stage"))
		return;
	CHECK(names_container(rt), "the runtime's command line names the container");
	CHECK(enter("freezer", stage) == 0 && enter("pids", stage) == 0,
	      "the stage in the container's cgroups");
	CHECK(freeze(true) == 0, "the stage frozen: SIGKILL cannot finish it");
	o = crid_ctr_orphans_kill(loop, id, rel, 5000, done, &r);
	CHECK(o != NULL, "wait started");
	CHECK(r.calls == 0, "done is never called from crid_ctr_orphans_kill");
	run_for(loop, 0.3, &r); /* the /proc scan runs from the loop, a slice per tick */
	CHECK(exited_by_sigkill_within(rt, 2.0), "the runtime, found by its command line, killed");
	CHECK(r.calls == 0, "not done while a process is in the cgroup (%d)", r.calls);

	late = spawn_sleep(); /* a stage cloned after the first read of the cgroups */
	CHECK(late > 0 && enter("pids", late) == 0, "a late process in the pids cgroup");
	run_for(loop, 0.5, &r);
	CHECK(exited_by_sigkill_within(late, 2.0), "the late process killed by a later read");
	CHECK(r.calls == 0, "still not done: the frozen stage has not exited");

	CHECK(freeze(false) == 0, "thawed");
	run_for(loop, 3.0, &r);
	CHECK(r.calls == 1 && r.gone, "done once, everything gone (calls %d, gone %d)", r.calls,
	      r.gone);
	CHECK(killed(stage), "the stage died of its SIGKILL (a zombie until now: not listed)");
	for (const char *h = "freezer"; h; h = strcmp(h, "freezer") == 0 ? "pids" : NULL) {
		char dir[PATH_MAX];

		int rc;

		cg_dir(dir, sizeof(dir), h);
		rc = rmdir(dir);
		CHECK(rc == 0, "the emptied %s cgroup removable (%s)", h,
		      rc ? strerror(errno) : "ok");
		mkdir(dir, 0755); /* for the next case */
	}
	close(hold);
}

static void test_gives_up_after_wait(struct crid_loop *loop)
{
	struct result r = { 0 };
	pid_t stage = spawn_sleep();

	if (!CHECK(stage > 0, "spawn a stage"))
		return;
	CHECK(enter("freezer", stage) == 0 && freeze(true) == 0, "a frozen stage");
	CHECK(crid_ctr_orphans_kill(loop, id, rel, 200, done, &r) != NULL, "wait started");
	run_for(loop, 3.0, &r);
	CHECK(r.calls == 1 && !r.gone, "gave up after its wait (calls %d, gone %d)", r.calls,
	      r.gone);
	freeze(false);
	CHECK(exited_by_sigkill_within(stage, 2.0), "the stage dies once thawed");
}

static void test_cancel(struct crid_loop *loop)
{
	struct result r = { 0 };
	pid_t stage = spawn_sleep();
	struct crid_ctr_orphans *o;

	if (!CHECK(stage > 0, "spawn a stage"))
		return;
	CHECK(enter("freezer", stage) == 0 && freeze(true) == 0, "a frozen stage");
	o = crid_ctr_orphans_kill(loop, id, rel, 5000, done, &r);
	crid_ctr_orphans_cancel(o);
	run_for(loop, 0.2, NULL);
	CHECK(r.calls == 0, "cancelled: done never called");
	freeze(false);
	CHECK(exited_by_sigkill_within(stage, 2.0), "the stage was killed all the same");
	crid_ctr_orphans_cancel(NULL);
}

static void test_nothing_left(struct crid_loop *loop)
{
	struct result r = { 0 };

	CHECK(crid_ctr_orphans_kill(loop, id, NULL, 5000, done, &r) != NULL, "wait started");
	run_for(loop, 1.0, &r);
	CHECK(r.calls == 1 && r.gone, "no runtime, no cgroup: done at the first tick");
}

static bool make_cgroups(void)
{
	for (const char *h = "freezer"; h; h = strcmp(h, "freezer") == 0 ? "pids" : NULL) {
		char dir[PATH_MAX];

		snprintf(dir, sizeof(dir), V1 "/%s%s", h, parent);
		if (mkdir(dir, 0755) < 0)
			return false;
		cg_dir(dir, sizeof(dir), h);
		if (mkdir(dir, 0755) < 0)
			return false;
	}
	return true;
}

/* Thaws, kills and reaps every child (a failed case may leave them frozen), then the cgroups. */
static void clean_up(void)
{
	freeze(false);
	for (size_t i = 0; i < n_kids; i++) {
		if (kids[i] <= 0)
			continue;
		kill(kids[i], SIGKILL); /* not reaped yet: still ours, never a recycled pid */
		waitpid(kids[i], NULL, 0);
	}
	remove_cgroups();
}

static void remove_cgroups(void)
{
	for (const char *h = "freezer"; h; h = strcmp(h, "freezer") == 0 ? "pids" : NULL) {
		char dir[PATH_MAX];

		cg_dir(dir, sizeof(dir), h);
		rmdir(dir);
		snprintf(dir, sizeof(dir), V1 "/%s%s", h, parent);
		rmdir(dir);
	}
}

int main(void)
{
	struct crid_loop loop;
	struct crid_err err;

	if (geteuid() != 0 || access(V1 "/freezer/cgroup.procs", W_OK) < 0 ||
	    access(V1 "/pids/cgroup.procs", W_OK) < 0) {
		tap_skip("orphans", "needs root and cgroup v1 freezer and pids hierarchies");
		return tap_done();
	}
	if (syscall(SYS_pidfd_open, getpid(), 0) < 0 && errno == ENOSYS) {
		tap_skip("orphans",
			 "no pidfd_open here (valgrind 3.19 lacks it): nothing is killed");
		return tap_done();
	}
	snprintf(id, sizeof(id), "%08x%056d", (unsigned)getpid() * 2654435761u, 0); /* 64 hex */
	snprintf(parent, sizeof(parent), "/crid-unit-orphans-%d", (int)getpid());
	snprintf(rel, sizeof(rel), "%s/crid-%s", parent, id);
	if (!make_cgroups()) {
		printf("not ok - make the test's cgroups under " V1 "/{freezer,pids}%s: %s\n",
		       parent, strerror(errno));
		remove_cgroups();
		return 1;
	}
	if (crid_loop_init(&loop, on_signal, NULL, &err) < 0) {
		printf("not ok - loop: %s\n", err.msg);
		remove_cgroups();
		return 1;
	}
	test_nothing_left(&loop);
	test_waits_for_the_frozen_stage(&loop);
	test_gives_up_after_wait(&loop);
	test_cancel(&loop);
	clean_up();
	crid_loop_destroy(&loop);
	return tap_done();
}
