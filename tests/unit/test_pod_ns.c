/*
 * Pinned pod namespaces: the sysctl table, and (as root) real pins made by
 * crid-pinns on the loop, checked from outside with util-linux nsenter;
 * release, the PID namespace holder, failures, timeouts and cancellation
 * leave nothing behind.
 */
#include <errno.h>
#include <fcntl.h>
#include <libgen.h>
#include <limits.h>
#include <pthread.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/prctl.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include "reactor/mem.h"
#include "runtime/pod/pod_ns.h"
#include "tests/unit/tap.h"

static char sandbox[64];

/* ---- sysctl table ---- */

static void test_sysctl_table(void)
{
	static const struct {
		const char *key, *value;
		bool net, ipc, ok;
	} cases[] = {
		{ "net.ipv4.ip_forward", "1", true, true, true },
		{ "net.ipv4.ping_group_range", "0 2147483647", true, false, true },
		{ "net.core.somaxconn", "1024", true, true, true },
		{ "kernel.shm_rmid_forced", "1", false, true, true },
		{ "kernel.shmmax", "68719476736", false, true, true },
		{ "kernel.shmall", "4294967296", false, true, true },
		{ "kernel.shmmni", "4096", false, true, true },
		{ "kernel.msgmax", "8192", false, true, true },
		{ "kernel.msgmnb", "16384", false, true, true },
		{ "kernel.msgmni", "32000", false, true, true },
		{ "kernel.sem", "250 32000 32 128", false, true, true },
		{ "fs.mqueue.msg_max", "10", false, true, true },
		{ "kernel.hostname", "pod", true, false, true },
		{ "kernel.domainname", "example.org", true, false, true },
		/* refused */
		{ "kernel.panic", "10", true, true, false },
		{ "vm.swappiness", "10", true, true, false },
		{ "fs.mqueue", "1", true, true, false },
		{ "kernel.shm", "1", true, true, false },
		{ "net.ipv4.ip_forward", "1", false, true, false },
		{ "kernel.shmmax", "1", true, false, false },
		{ "fs.mqueue.msg_max", "10", true, false, false },
		{ "kernel.hostname", "pod", false, true, false },
		{ "net/ipv4/ip_forward", "1", true, true, false },
		{ "net..ipv4", "1", true, true, false },
		{ "net.ipv4.", "1", true, true, false },
		{ "net.a=b", "1", true, true, false },
		{ "net.a b", "1", true, true, false },
		{ "", "1", true, true, false },
		{ "net.ipv4.ip_forward", "", true, true, false },
		{ "net.ipv4.ip_forward", "1\n0", true, true, false },
	};
	struct crid_err err;

	for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
		int r;

		crid_err_clear(&err);
		r = crid_pod_ns_check_sysctl(cases[i].key, cases[i].value, cases[i].net,
					     cases[i].ipc, &err);
		if (cases[i].ok)
			CHECK(r == 0, "sysctl `%s` accepted (net %d ipc %d)", cases[i].key,
			      cases[i].net, cases[i].ipc);
		else
			CHECK(r < 0 && err.code == EINVAL && strstr(err.msg, cases[i].key),
			      "sysctl `%s`=`%s` refused (net %d ipc %d): %s", cases[i].key,
			      cases[i].value, cases[i].net, cases[i].ipc, err.msg);
	}
	crid_pod_ns_check_sysctl("kernel.panic", "1", true, true, &err);
	CHECK(!strcmp(err.msg, "sysctl `kernel.panic` is not namespaced"), "message: %s", err.msg);
	crid_pod_ns_check_sysctl("net.ipv4.ip_forward", "1", false, true, &err);
	CHECK(strstr(err.msg, "host's network namespace") != NULL, "host network named: %s",
	      err.msg);
}

/* ---- helpers ---- */

struct pin_result {
	bool done;
	int status;
	struct crid_pod_ns ns;
	struct crid_err err;
};

static void on_pinned(void *user, int status, const struct crid_pod_ns *ns,
		      const struct crid_err *err)
{
	struct pin_result *r = user;

	r->done = true;
	r->status = status;
	if (ns)
		r->ns = *ns;
	if (err)
		r->err = *err;
}

static struct crid_pod_ns_op *pin(struct crid_loop *loop, const struct crid_pod_ns_spec *spec,
				  double timeout, struct pin_result *r)
{
	struct crid_pod_ns_op *op;
	struct crid_err err;

	memset(r, 0, sizeof(*r));
	op = crid_pod_ns_pin(loop, spec, timeout, on_pinned, r, &err);
	if (!op) {
		r->done = true;
		r->status = -1;
		r->err = err;
		return NULL;
	}
	for (int i = 0; i < 10000 && !r->done; i++)
		ev_run(loop->ev, EVRUN_ONCE);
	return op;
}

/* Runs a shell command and returns its stdout (up to |size| - 1 bytes). */
static int run(const char *cmd, char *out, size_t size)
{
	FILE *f = popen(cmd, "r");
	size_t n;

	if (!f)
		return -1;
	n = fread(out, 1, size - 1, f);
	out[n] = '\0';
	return pclose(f);
}

static bool same_file(const char *a, const char *b)
{
	struct stat sa, sb;

	return stat(a, &sa) == 0 && stat(b, &sb) == 0 && sa.st_dev == sb.st_dev &&
	       sa.st_ino == sb.st_ino;
}

static bool exists(const char *path)
{
	struct stat st;

	return lstat(path, &st) == 0;
}

/* Reaps |pid| (we are its subreaper), polling for up to 2 s. */
static bool reaped(pid_t pid)
{
	struct timespec ts = { 0, 10 * 1000 * 1000 };

	for (int i = 0; i < 200; i++) {
		if (waitpid(pid, NULL, WNOHANG) == pid)
			return true;
		nanosleep(&ts, NULL);
	}
	return false;
}

/* ---- pins (root) ---- */

static void test_pin_net_ipc_uts(struct crid_loop *loop)
{
	const char *sysctls[] = { "net.ipv4.ip_unprivileged_port_start=0", "kernel.shmmni=1234" };
	char dir[128], cmd[1024], out[256], host_out[256];
	struct crid_pod_ns_spec spec = { 0 };
	struct pin_result r;
	struct crid_err err;

	snprintf(dir, sizeof(dir), "%s/pod1/ns", sandbox);
	spec.dir = dir;
	spec.net = spec.ipc = spec.uts = true;
	spec.hostname = "crid-test-pod";
	spec.sysctls = sysctls;
	spec.n_sysctls = 2;
	pin(loop, &spec, 10, &r);
	if (!CHECK(r.done && r.status == 0, "pin net+ipc+uts: %s", r.err.msg))
		return;
	CHECK(strstr(r.ns.net, "/pod1/ns/net") != NULL, "net path %s", r.ns.net);
	CHECK(strstr(r.ns.ipc, "/pod1/ns/ipc") && strstr(r.ns.uts, "/pod1/ns/uts") &&
		  r.ns.pid[0] == '\0' && r.ns.holder_pid == 0,
	      "ipc, uts paths, no pid, no holder");
	CHECK(crid_pod_ns_is_pinned(r.ns.net) && crid_pod_ns_is_pinned(r.ns.ipc) &&
		  crid_pod_ns_is_pinned(r.ns.uts),
	      "the three files are nsfs mounts");
	CHECK(!same_file(r.ns.net, "/proc/self/ns/net") &&
		  !same_file(r.ns.uts, "/proc/self/ns/uts"),
	      "a new network and uts namespace, not ours");

	snprintf(cmd, sizeof(cmd),
		 "nsenter --net=%s --uts=%s --ipc=%s sh -c 'hostname; "
		 "cat /proc/sys/net/ipv4/ip_unprivileged_port_start /proc/sys/kernel/shmmni'",
		 r.ns.net, r.ns.uts, r.ns.ipc);
	CHECK(run(cmd, out, sizeof(out)) == 0 && !strcmp(out, "crid-test-pod\n0\n1234\n"),
	      "inside: hostname and both sysctls set (`%s`)", out);
	run("hostname; cat /proc/sys/net/ipv4/ip_unprivileged_port_start /proc/sys/kernel/shmmni",
	    host_out, sizeof(host_out));
	CHECK(strcmp(out, host_out) != 0 && strncmp(host_out, "crid-test-pod\n", 14) != 0,
	      "the host keeps its own (`%s`)", host_out);

	crid_err_clear(&err);
	CHECK(crid_pod_ns_release(dir, 0, &err) == 0, "release: %s", err.msg);
	CHECK(!crid_pod_ns_is_pinned(r.ns.net) && !exists(r.ns.net) && !exists(dir),
	      "release unmounted and removed the files and the dir");
	CHECK(crid_pod_ns_release(dir, 0, &err) == 0, "second release is a no-op: %s", err.msg);
}

static void test_pin_pid(struct crid_loop *loop)
{
	char dir[128], cmd[1024], out[64], proc[64];
	struct crid_pod_ns_spec spec = { 0 };
	struct pin_result r;
	struct crid_err err;
	pid_t holder;

	snprintf(dir, sizeof(dir), "%s/pod2", sandbox);
	spec.dir = dir;
	spec.net = spec.ipc = spec.uts = spec.pid = true;
	spec.hostname = "";
	pin(loop, &spec, 10, &r);
	if (!CHECK(r.done && r.status == 0, "pin with a pid namespace: %s", r.err.msg))
		return;
	holder = r.ns.holder_pid;
	CHECK(holder > 1 && kill(holder, 0) == 0, "holder %d alive", (int)holder);
	snprintf(proc, sizeof(proc), "/proc/%d/ns/pid", (int)holder);
	CHECK(crid_pod_ns_is_pinned(r.ns.pid) && same_file(r.ns.pid, proc),
	      "pid file is the holder's pid namespace");
	snprintf(cmd, sizeof(cmd), "nsenter --pid=%s sh -c 'echo $$'", r.ns.pid);
	CHECK(run(cmd, out, sizeof(out)) == 0 && !strcmp(out, "2\n"),
	      "a process joining it is pid 2 after the holder (`%s`)", out);

	crid_err_clear(&err);
	CHECK(crid_pod_ns_release(dir, holder, &err) == 0, "release: %s", err.msg);
	CHECK(reaped(holder), "holder killed by release");
	CHECK(!exists(dir), "dir removed");
}

/* A thread parked on |park[0]| until its write end closes; it writes its tid down first. */
struct parked {
	int park[2], ready[2];
	pid_t tid;
};

static void *parked_thread(void *arg)
{
	struct parked *p = arg;
	char c;

	p->tid = gettid();
	if (write(p->ready[1], "r", 1) != 1 || read(p->park[0], &c, 1) < 0)
		return NULL;
	return NULL;
}

/*
 * A recorded holder pid since recycled as a thread of another process: Linux 6.15+
 * pidfd_open answers ENOENT for it, which means "not the holder" like ESRCH (a soak's
 * teardown saw StopPodSandbox fail on it forever).
 */
static void check_holder_recycled_as_thread(const char *dir)
{
	struct parked p = { { -1, -1 }, { -1, -1 }, 0 };
	struct crid_err err = { 0 };
	pthread_t th;
	char c;

	if (!CHECK(pipe(p.park) == 0 && pipe(p.ready) == 0, "pipes") ||
	    !CHECK(pthread_create(&th, NULL, parked_thread, &p) == 0, "thread"))
		return;
	if (CHECK(read(p.ready[0], &c, 1) == 1, "thread ready"))
		CHECK(crid_pod_ns_kill(dir, p.tid, &err) == 0,
		      "a holder pid now a thread (%d) is gone, not an error: %s", (int)p.tid,
		      err.msg);
	close(p.park[1]);
	pthread_join(th, NULL);
	close(p.park[0]);
	close(p.ready[0]);
	close(p.ready[1]);
}

/* A pid that is not the holder of the pinned namespace is not killed. */
static void test_release_spares_stranger(struct crid_loop *loop)
{
	struct crid_pod_ns_spec spec = { 0 };
	struct pin_result r;
	char dir[128];
	pid_t stranger = fork();

	if (stranger == 0) {
		pause();
		_exit(0);
	}
	snprintf(dir, sizeof(dir), "%s/pod3", sandbox);
	spec.dir = dir;
	spec.pid = true;
	pin(loop, &spec, 10, &r);
	if (CHECK(r.done && r.status == 0, "pin pid only: %s", r.err.msg)) {
		check_holder_recycled_as_thread(dir);
		CHECK(crid_pod_ns_release(dir, stranger, NULL) == 0 && kill(stranger, 0) == 0,
		      "release with a recycled pid spares the process");
		CHECK(crid_pod_ns_release(dir, r.ns.holder_pid, NULL) == 0,
		      "second release (files already gone) is fine");
		kill(r.ns.holder_pid, SIGKILL);
		reaped(r.ns.holder_pid);
	}
	kill(stranger, SIGKILL);
	waitpid(stranger, NULL, 0);
}

static void test_pin_failure(struct crid_loop *loop)
{
	const char *sysctls[] = { "net.ipv4.ip_unprivileged_port_start=0",
				  "net.ipv4.crid_does_not_exist=1" };
	struct crid_pod_ns_spec spec = { 0 };
	struct pin_result r;
	char dir[128];

	snprintf(dir, sizeof(dir), "%s/pod4/ns", sandbox);
	spec.dir = dir;
	spec.net = spec.uts = spec.pid = true;
	spec.hostname = "x";
	spec.sysctls = sysctls;
	spec.n_sysctls = 2;
	pin(loop, &spec, 10, &r);
	CHECK(r.done && r.status < 0 &&
		  !strcmp(r.err.msg, "crid-pinns: sysctl `net.ipv4.crid_does_not_exist`: No "
				     "such file or directory"),
	      "failing sysctl: the child's message (`%s`)", r.err.msg);
	CHECK(!exists(dir), "nothing left behind (dir we created is removed)");

	/* A dir that existed before stays, empty. */
	mkdir(dir, 0700);
	spec.sysctls = sysctls + 1;
	spec.n_sysctls = 1;
	pin(loop, &spec, 10, &r);
	CHECK(r.status < 0 && exists(dir) && rmdir(dir) == 0,
	      "pre-existing dir is kept and left empty");

	/* Pinning onto files that already exist fails without touching them. */
	mkdir(dir, 0700);
	char net[160];

	snprintf(net, sizeof(net), "%s/net", dir);
	close(open(net, O_CREAT | O_WRONLY, 0600));
	spec.n_sysctls = 0;
	spec.pid = false;
	pin(loop, &spec, 10, &r);
	CHECK(r.status < 0 && strstr(r.err.msg, "File exists") && exists(net) &&
		  !crid_pod_ns_is_pinned(net),
	      "existing file refused and left as it was: %s", r.err.msg);
	CHECK(crid_pod_ns_release(dir, 0, NULL) == 0 && !exists(dir), "cleaned up");

	/* Allocation failures before the child runs: an error, nothing created. */
	for (long n = 1; n <= 2; n++) {
		crid_mem_fail_after(n);
		pin(loop, &spec, 10, &r);
		crid_mem_fail_after(0);
		CHECK(r.status < 0 && r.err.code == ENOMEM && !exists(dir),
		      "allocation %ld fails: %s, nothing left", n, r.err.msg);
	}
}

static void test_timeout_and_cancel(struct crid_loop *loop, const char *pinns)
{
	struct crid_pod_ns_spec spec = { 0 };
	struct crid_pod_ns_op *op;
	struct pin_result r;
	char dir[128], script[128];
	FILE *f;

	snprintf(script, sizeof(script), "%s/slow-pinns", sandbox);
	f = fopen(script, "w");
	if (!f)
		return;
	fputs("#!/bin/sh\nexec sleep 30\n", f);
	fclose(f);
	chmod(script, 0755);
	snprintf(dir, sizeof(dir), "%s/pod5", sandbox);
	spec.dir = dir;
	spec.net = true;
	setenv("CRID_PINNS", script, 1);
	pin(loop, &spec, 0.2, &r);
	CHECK(r.done && r.status < 0 && r.err.code == ETIMEDOUT && strstr(r.err.msg, "timed out"),
	      "a hanging crid-pinns is killed at the timeout: %s", r.err.msg);
	CHECK(!exists(dir), "nothing left after the timeout");

	setenv("CRID_PINNS", "/nonexistent/crid-pinns", 1);
	pin(loop, &spec, 1, &r);
	CHECK(r.status < 0 && r.err.code == ENOENT && !exists(dir),
	      "missing crid-pinns reported at once: %s", r.err.msg);

	/* Cancelled mid-way (holder forked or not): nothing stays. */
	setenv("CRID_PINNS", pinns, 1);
	spec.pid = spec.ipc = spec.uts = true;
	memset(&r, 0, sizeof(r));
	op = crid_pod_ns_pin(loop, &spec, 10, on_pinned, &r, NULL);
	if (CHECK(op != NULL, "pin started")) {
		crid_pod_ns_op_cancel(op);
		CHECK(!r.done && !exists(dir), "cancel: done not called, nothing left");
	}
}

static void on_signal(struct crid_loop *loop, int signo, void *user)
{
	(void)loop, (void)signo, (void)user;
}

static void remove_in_sandbox(const char *name)
{
	char path[128];

	snprintf(path, sizeof(path), "%s/%s", sandbox, name);
	remove(path);
}

/* $CRID_PINNS from `make unit`, else <dir of argv[0]>/../crid-pinns. */
static void find_pinns(const char *argv0, char *out, size_t size)
{
	char buf[PATH_MAX];

	if (getenv("CRID_PINNS")) {
		snprintf(out, size, "%s", getenv("CRID_PINNS"));
		return;
	}
	snprintf(buf, sizeof(buf), "%s", argv0);
	snprintf(out, size, "%s/../crid-pinns", dirname(buf));
	if (realpath(out, buf))
		snprintf(out, size, "%s", buf);
	setenv("CRID_PINNS", out, 1);
}

int main(int argc, char **argv)
{
	char pinns[PATH_MAX];
	struct crid_loop loop;
	struct crid_err err;

	(void)argc;
	test_sysctl_table();
	if (geteuid() != 0) {
		tap_skip("pinned namespaces", "needs root (unshare, mount)");
		return tap_done();
	}
	find_pinns(argv[0], pinns, sizeof(pinns));
	if (access(pinns, X_OK) < 0) {
		CHECK(0, "crid-pinns at `%s`: %s", pinns, strerror(errno));
		return tap_done();
	}
	if (access("/usr/bin/nsenter", X_OK) < 0) {
		tap_skip("pinned namespaces", "util-linux nsenter is missing");
		return tap_done();
	}
	if (crid_loop_init(&loop, on_signal, NULL, &err) < 0) {
		CHECK(0, "loop: %s", err.msg);
		return tap_done();
	}
	/* As crid is: the pid namespace holder is re-parented to us when crid-pinns exits. */
	prctl(PR_SET_CHILD_SUBREAPER, 1);
	snprintf(sandbox, sizeof(sandbox), "/tmp/crid-test-podns-XXXXXX");
	if (!mkdtemp(sandbox)) {
		CHECK(0, "mkdtemp: %s", strerror(errno));
		return tap_done();
	}
	test_pin_net_ipc_uts(&loop);
	test_pin_pid(&loop);
	test_release_spares_stranger(&loop);
	test_pin_failure(&loop);
	test_timeout_and_cancel(&loop, pinns);
	remove_in_sandbox("slow-pinns");
	remove_in_sandbox("pod1");
	remove_in_sandbox("pod4");
	CHECK(rmdir(sandbox) == 0, "sandbox empty at the end");
	crid_loop_destroy(&loop);
	return tap_done();
}
