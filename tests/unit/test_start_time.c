/*
 * When a container started, as crid reports it: from the exec FIFO's stamp
 * around `start`, and at recovery from the runtime's state dir, a `start`
 * still in flight and the process's fork time, never before createdAt.
 */
#include <fcntl.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>

#include "reactor/loop.h"
#include "runtime/container/ctr_start_time.h"
#include "tap.h"

#define ID "c0ffee"

static char root[64], state_dir[128], fifo[192];

static struct crid_oci_runtime runtime_at(const char *path)
{
	struct crid_oci_runtime rt;

	memset(&rt, 0, sizeof(rt));
	rt.name = "test";
	rt.path = path;
	rt.root = root;
	rt.mnt_ns_fd = -1;
	return rt;
}

/* A `start` of a recovered container: the fork may round below createdAt. */
static void test_recovered_not_before_created(void)
{
	struct crid_oci_runtime rt = runtime_at("/nonexistent/crid-test-runtime");
	int64_t now = crid_wall_ns(), at;

	at = crid_start_time_recovered(&rt, ID, getpid(), 0);
	CHECK(at > 0 && at <= now && at > now - 600 * 1000000000LL,
	      "started (state dir, no FIFO): this process's fork time (%lld ns before now)",
	      (long long)(now - at));
	at = crid_start_time_recovered(&rt, ID, getpid(), now);
	CHECK(at == now, "never before createdAt: %lld ns off", (long long)(at - now));
}

static void test_recovered_not_started(void)
{
	struct crid_oci_runtime rt = runtime_at("/nonexistent/crid-test-runtime");

	if (!CHECK(mkfifo(fifo, 0600) == 0, "mkfifo %s", fifo))
		return;
	CHECK(crid_start_time_recovered(&rt, ID, getpid(), 0) == -1,
	      "FIFO there, no start in flight: not started");
	unlink(fifo);
	CHECK(crid_start_time_recovered(&rt, "absent", getpid(), 0) == -1,
	      "no state dir: the runtime does not know it, cannot tell");
	rt.root = "";
	rt.path = NULL;
	CHECK(crid_start_time_recovered(&rt, ID, getpid(), 0) == -1,
	      "neither --root nor a binary: no path to look at");
}

/* Waits up to 5 s for |pid| to have exec'd: its cmdline then starts with "sh". */
static bool wait_exec(pid_t pid)
{
	char path[64], argv0[8];

	snprintf(path, sizeof(path), "/proc/%d/cmdline", (int)pid);
	for (int i = 0; i < 500; i++) {
		int fd = open(path, O_RDONLY | O_CLOEXEC);
		ssize_t n = fd >= 0 ? read(fd, argv0, sizeof(argv0)) : -1;

		if (fd >= 0)
			close(fd);
		if (n >= 3 && memcmp(argv0, "sh", 3) == 0)
			return true;
		usleep(10000);
	}
	return false;
}

/* A `start` the previous crid left running unlinks the FIFO last: still started. */
static void test_recovered_start_in_flight(void)
{
	struct crid_oci_runtime rt = runtime_at("/bin/sh");
	int64_t at;
	pid_t pid;

	if (!CHECK(mkfifo(fifo, 0600) == 0, "mkfifo %s", fifo))
		return;
	pid = fork();
	if (pid == 0) {
		/* argv as `sh ... start <id>`; the `:` keeps sh from exec'ing sleep */
		setpgid(0, 0);
		execl("/bin/sh", "sh", "-c", "sleep 5; :", "sh", "start", ID, (char *)NULL);
		_exit(127);
	}
	if (!CHECK(pid > 0, "fork")) {
		unlink(fifo);
		return;
	}
	CHECK(wait_exec(pid), "`sh ... start " ID "` runs");
	at = crid_start_time_recovered(&rt, ID, pid, 0);
	CHECK(at > 0, "FIFO there but `sh start " ID "` runs: started (%lld)", (long long)at);
	rt.path = "/bin/true";
	CHECK(crid_start_time_recovered(&rt, ID, pid, 0) == -1,
	      "a process of another binary is no start in flight");
	kill(-pid, SIGKILL); /* sh and its sleep */
	kill(pid, SIGKILL);
	waitpid(pid, NULL, 0);
	unlink(fifo);
}

static void test_mark_fifo_written(void)
{
	struct crid_oci_runtime rt = runtime_at("/nonexistent/crid-test-runtime");
	struct crid_start_mark m;
	int64_t before, at, now;
	int fd;

	if (!CHECK(mkfifo(fifo, 0600) == 0, "mkfifo %s", fifo))
		return;
	crid_start_mark_init(&m);
	crid_start_mark_begin(&m, &rt, ID);
	CHECK(m.fifo >= 0, "the FIFO is held through O_PATH");
	before = m.asked_ns;
	usleep(30000); /* past the coarse clock's tick, so the stamp is later */
	fd = open(fifo, O_RDWR | O_NONBLOCK);
	CHECK(fd >= 0 && write(fd, "0", 1) == 1, "the runtime's write to the FIFO");
	if (fd >= 0)
		close(fd);
	unlink(fifo);  /* as runc and crun do at start */
	usleep(30000); /* and `start` returns later still */
	at = crid_start_mark_end(&m);
	now = crid_wall_ns();
	CHECK(at > before + 10000000LL && at < now - 10000000LL,
	      "the FIFO's stamp, neither the ask nor the end: %lld ns after the ask, %lld before "
	      "the end",
	      (long long)(at - before), (long long)(now - at));
	CHECK(m.fifo == -1, "the mark is dropped");
}

static void test_mark_without_fifo(void)
{
	struct crid_oci_runtime rt = runtime_at("/nonexistent/crid-test-runtime");
	struct crid_start_mark m;
	int64_t at;

	crid_start_mark_init(&m);
	crid_start_mark_begin(&m, &rt, "absent");
	CHECK(m.fifo == -1, "no FIFO to hold");
	usleep(20000);
	at = crid_start_mark_end(&m);
	CHECK(at == m.asked_ns, "no FIFO: the ask's time");
	CHECK(crid_wall_ns() - at >= 20000000LL, "the ask, not the end (%lld ns ago)",
	      (long long)(crid_wall_ns() - at));
}

int main(void)
{
	char tmpl[] = "/tmp/crid-start-time-XXXXXX";

	if (!mkdtemp(tmpl)) {
		perror("mkdtemp");
		return 1;
	}
	snprintf(root, sizeof(root), "%s", tmpl);
	snprintf(state_dir, sizeof(state_dir), "%s/%s", root, ID);
	snprintf(fifo, sizeof(fifo), "%s/exec.fifo", state_dir);
	if (mkdir(state_dir, 0700) < 0) {
		perror("mkdir");
		return 1;
	}
	test_recovered_not_before_created();
	test_recovered_not_started();
	test_recovered_start_in_flight();
	test_mark_fifo_written();
	test_mark_without_fifo();
	rmdir(state_dir);
	rmdir(root);
	return tap_done();
}
