/*
 * Unit tests for runtime/proc_signal: the /proc/<pid>/status parser on fixed
 * texts, then the real thing as root: PID 1 of a new PID namespace before and
 * after it installs a SIGTERM handler, held back while it still runs the
 * "runtime's" executable, a process outside such a namespace, and a zombie.
 */
#include <errno.h>
#include <sched.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/syscall.h>
#include <sys/wait.h>
#include <unistd.h>

#include "runtime/oci/proc_signal.h"
#include "tap.h"

#define STATUS(state, nspid, cgt)                                                                  \
	"Name:\ttop\nUmask:\t0022\nState:\t" state "\nTgid:\t4242\nPid:\t4242\nPPid:\t1\n"         \
	"NSpid:\t" nspid "\nSigQ:\t0/31556\nSigPnd:\t0000000000000000\n"                           \
	"ShdPnd:\t0000000000000000\nSigBlk:\t0000000000000000\nSigIgn:\t0000000000000000\n"        \
	"SigCgt:\t" cgt "\nCapInh:\t0000000000000000\n"

static enum crid_sig_reach parse(const char *s, int sig)
{
	return crid_proc_sig_reach_parse(s, strlen(s), sig);
}

static void test_parse(void)
{
	/* SIGTERM is bit 14 (0x4000), SIGINT bit 1 (0x2) */
	CHECK(parse(STATUS("S (sleeping)", "4242\t1", "0000000000004000"), SIGTERM) ==
		  CRID_SIG_REACHES,
	      "PID 1 catching SIGTERM: reaches");
	CHECK(parse(STATUS("S (sleeping)", "4242\t1", "0000000000000002"), SIGTERM) ==
		  CRID_SIG_DROPPED,
	      "PID 1 catching only SIGINT: SIGTERM dropped");
	CHECK(parse(STATUS("S (sleeping)", "4242\t1", "0000000000000002"), SIGINT) ==
		  CRID_SIG_REACHES,
	      "PID 1 catching SIGINT: SIGINT reaches");
	CHECK(parse(STATUS("R (running)", "4242\t17\t1", "0000000000000000"), SIGTERM) ==
		  CRID_SIG_DROPPED,
	      "PID 1 of a nested namespace: dropped");
	CHECK(parse(STATUS("S (sleeping)", "4242\t12", "0000000000000000"), SIGTERM) ==
		  CRID_SIG_REACHES,
	      "pid 12 of its namespace: default action applies");
	CHECK(parse(STATUS("S (sleeping)", "4242\t10", "0000000000000000"), SIGTERM) ==
		  CRID_SIG_REACHES,
	      "pid 10 is not pid 1");
	CHECK(parse(STATUS("S (sleeping)", "1", "0000000000000000"), SIGTERM) == CRID_SIG_DROPPED,
	      "the node's own init");
	CHECK(parse(STATUS("Z (zombie)", "4242\t1", "0000000000000000"), SIGTERM) == CRID_SIG_GONE,
	      "zombie: gone");
	CHECK(parse("Name:\tx\nState:\tS (sleeping)\nSigCgt:\t0000000000000000\n", SIGTERM) ==
		  CRID_SIG_REACHES,
	      "no NSpid (old kernel): sent as before");
	CHECK(parse(STATUS("S (sleeping)", "4242\t1", "zz"), SIGTERM) == CRID_SIG_REACHES,
	      "garbled SigCgt: sent as before");
	CHECK(parse(STATUS("S (sleeping)", "4242\t1", "8000000000000000"), 64) == CRID_SIG_REACHES,
	      "signal 64 is the top bit");
	CHECK(parse("", SIGTERM) == CRID_SIG_REACHES, "empty text");
	CHECK(parse(STATUS("S (sleeping)", "4242\t1", "0"), 0) == CRID_SIG_REACHES,
	      "signal 0 is not judged");
}

static void on_term(int sig)
{
	(void)sig;
}

/* PID 1 of a new namespace: waits, installs a handler when told, waits again. */
static void ns_init(int go_fd, int ready_fd)
{
	char b;

	if (read(go_fd, &b, 1) != 1)
		_exit(1);
	signal(SIGTERM, on_term);
	if (write(ready_fd, "r", 1) != 1)
		_exit(1);
	pause();
	_exit(0);
}

/*
 * clone(CLONE_NEWPID) rather than unshare(): only this child goes into the new
 * namespace, not LeakSanitizer's tracer, which an ASan build clones at exit.
 */
static pid_t spawn_ns_init(int *go, int *ready)
{
	int a[2], b[2];
	pid_t pid;

	if (pipe(a) < 0 || pipe(b) < 0)
		return -1;
	pid = (pid_t)syscall(SYS_clone, CLONE_NEWPID | SIGCHLD, NULL, NULL, NULL, NULL);
	if (pid == 0) {
		close(a[1]);
		close(b[0]);
		ns_init(a[0], b[1]);
	}
	close(a[0]);
	close(b[1]);
	*go = a[1];
	*ready = b[0];
	return pid;
}

static void test_real(void)
{
	int go = -1, ready = -1, status;
	struct crid_exe_id own, other;
	struct stat st;
	char c;
	pid_t pid, plain;

	if (geteuid() != 0) {
		tap_skip("real PID namespace", "needs root for clone(CLONE_NEWPID)");
		return;
	}
	pid = spawn_ns_init(&go, &ready);
	if (!CHECK(pid > 0, "PID 1 of a new namespace: %s", strerror(errno)))
		return;
	CHECK(crid_proc_sig_reach(pid, SIGTERM, NULL) == CRID_SIG_DROPPED,
	      "before its handler: SIGTERM would be dropped");
	CHECK(write(go, "g", 1) == 1 && read(ready, &c, 1) == 1, "handler installed");
	CHECK(crid_proc_sig_reach(pid, SIGTERM, NULL) == CRID_SIG_REACHES,
	      "after: SIGTERM reaches it");
	CHECK(crid_proc_exe_id(pid, &own) == 0, "its exe: %s", strerror(errno));
	CHECK(crid_proc_sig_reach(pid, SIGTERM, &own) == CRID_SIG_DROPPED,
	      "still running the runtime's exe (not exec'd): held back though it catches");
	CHECK(crid_proc_exe_id(getpid(), &other) == 0 && stat("/", &st) == 0, "exe ids");
	other.ino = st.st_ino; /* a file that is not its exe */
	other.dev = st.st_dev;
	CHECK(crid_proc_sig_reach(pid, SIGTERM, &other) == CRID_SIG_REACHES,
	      "exe no longer the runtime's: reaches");
	CHECK(crid_proc_sig_reach(pid, SIGINT, NULL) == CRID_SIG_DROPPED, "SIGINT still dropped");
	kill(pid, SIGKILL);
	CHECK(waitid(P_PID, pid, NULL, WEXITED | WNOWAIT) == 0, "killed");
	CHECK(crid_proc_sig_reach(pid, SIGTERM, NULL) == CRID_SIG_GONE, "zombie: gone");
	waitpid(pid, &status, 0);
	CHECK(crid_proc_sig_reach(pid, SIGTERM, NULL) == CRID_SIG_GONE, "reaped: gone");
	close(go);
	close(ready);

	/* our own process is in the node's namespace, not a PID 1 */
	plain = getpid();
	CHECK(crid_proc_sig_reach(plain, SIGTERM, NULL) == CRID_SIG_REACHES,
	      "a process outside a new namespace gets the default action");
}

int main(void)
{
	test_parse();
	test_real();
	printf("%d passed, %d failed\n", tap_passed, tap_failed);
	return tap_failed ? 1 : 0;
}
