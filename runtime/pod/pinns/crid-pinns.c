/*
 * crid-pinns: pins a pod's namespaces without a pause process, in the manner
 * of CRI-O's pinns (cri-o/pinns/src/pinns.c). Only libc.
 *
 *   crid-pinns -d DIR [-n] [-i] [-u] [-p] [-H HOSTNAME] [-s KEY=VALUE]...
 *
 * Unshares the requested network (-n), IPC (-i) and UTS (-u) namespaces,
 * brings up `lo` in the new network namespace, sets the hostname and the
 * sysctls inside them, then bind-mounts
 * /proc/self/ns/<x> onto DIR/<x> (created 0444, must not exist) in the
 * caller's mount namespace, and exits. With -p it also creates a PID
 * namespace whose init is a minimal holder process (it reaps and sleeps);
 * its pid is printed on stdout and its ns/pid is bound onto DIR/pid.
 *
 * On error it undoes what it did and prints one line
 * "crid-pinns: <what>: <strerror>" on stderr; exit status 1.
 */
#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <sched.h>
#include <signal.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <net/if.h>
#include <sys/ioctl.h>
#include <sys/mount.h>
#include <sys/socket.h>
#include <sys/prctl.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>

#define MAX_SYSCTLS 256

static const char *dir;
static char pinned[4][PATH_MAX]; /* files created so far, undone on error */
static int n_pinned;
static pid_t holder = -1;

/*
 * Sanitizer builds: LeakSanitizer's exit-time check hangs in a process that
 * has unshared CLONE_NEWPID (its tracer thread lands in the new namespace).
 * This tiny libc-only program is leak-checked by nothing else worth the hang.
 */
int __lsan_is_turned_off(void);
int __lsan_is_turned_off(void)
{
	return 1;
}

static void undo(void)
{
	for (int i = n_pinned - 1; i >= 0; i--) {
		umount2(pinned[i], MNT_DETACH);
		unlink(pinned[i]);
	}
	if (holder > 0) {
		kill(holder, SIGKILL);
		waitpid(holder, NULL, 0);
	}
}

static void __attribute__((noreturn, format(printf, 2, 3))) fail(int code, const char *fmt, ...)
{
	char what[512];
	va_list ap;

	va_start(ap, fmt);
	vsnprintf(what, sizeof(what), fmt, ap);
	va_end(ap);
	undo();
	if (code)
		fprintf(stderr, "crid-pinns: %s: %s\n", what, strerror(code));
	else
		fprintf(stderr, "crid-pinns: %s\n", what);
	exit(1);
}

/* Creates DIR/<name> (must not exist) and binds |nspath| onto it. */
static void pin(const char *name, const char *nspath)
{
	char *path = pinned[n_pinned];
	int fd;

	if (snprintf(path, PATH_MAX, "%s/%s", dir, name) >= PATH_MAX)
		fail(ENAMETOOLONG, "pin `%s/%s`", dir, name);
	fd = open(path, O_WRONLY | O_CREAT | O_EXCL | O_CLOEXEC, 0444);
	if (fd < 0)
		fail(errno, "create `%s`", path);
	close(fd);
	n_pinned++;
	if (mount(nspath, path, NULL, MS_BIND, NULL) < 0)
		fail(errno, "bind `%s` onto `%s`", nspath, path);
}

/* Writes |value| to /proc/sys/<key with '.' -> '/'>, in the process's own namespaces. */
static void set_sysctl(const char *kv)
{
	char path[PATH_MAX];
	const char *eq = strchr(kv, '=');
	size_t klen, vlen;
	int fd, n;

	if (!eq || eq == kv)
		fail(0, "sysctl `%s`: not KEY=VALUE", kv);
	klen = (size_t)(eq - kv);
	n = snprintf(path, sizeof(path), "/proc/sys/%.*s", (int)klen, kv);
	if (n < 0 || n >= (int)sizeof(path))
		fail(ENAMETOOLONG, "sysctl `%.*s`", (int)klen, kv);
	for (char *p = path + strlen("/proc/sys/"); *p; p++) {
		if (*p == '/')
			fail(0, "sysctl `%.*s`: key contains '/'", (int)klen, kv);
		if (*p == '.')
			*p = '/';
	}
	fd = open(path, O_WRONLY | O_CLOEXEC | O_NOFOLLOW);
	if (fd < 0)
		fail(errno, "sysctl `%.*s`", (int)klen, kv);
	vlen = strlen(eq + 1);
	if (write(fd, eq + 1, vlen) != (ssize_t)vlen) {
		int e = errno;

		close(fd);
		fail(e ? e : EIO, "sysctl `%.*s` = `%s`", (int)klen, kv, eq + 1);
	}
	close(fd);
}

static void on_term(int signo)
{
	(void)signo;
	_exit(0);
}

static void on_child(int signo)
{
	int e = errno;

	(void)signo;
	while (waitpid(-1, NULL, WNOHANG) > 0)
		;
	errno = e;
}

/*
 * The PID namespace's init, like the pause process: no fds, own session,
 * reaps orphans, exits on SIGTERM/SIGINT (the kernel drops other signals
 * to a namespace init without a handler; SIGKILL from outside always works).
 * It waits for the parent's commit byte first: if the parent dies before
 * the pin is complete, it exits instead of lingering unaccounted for.
 */
static void __attribute__((noreturn)) holder_main(int sync_w, int commit_r)
{
	struct sigaction sa;
	char c;
	int null = open("/dev/null", O_RDWR);

	for (int i = 0; i < 3; i++)
		if (null >= 0)
			dup2(null, i);
	if (commit_r != 3 && (dup2(commit_r, 3) < 0))
		_exit(1);
	close_range(4, ~0U, 0); /* drops sync_w: tells the parent stdio is closed */
	(void)sync_w;
	if (read(3, &c, 1) != 1)
		_exit(1);
	close(3);
	setsid();
	if (chdir("/") < 0)
		_exit(1);
	prctl(PR_SET_NAME, "crid-pod-pid", 0, 0, 0);
	memset(&sa, 0, sizeof(sa));
	sigfillset(&sa.sa_mask);
	sa.sa_handler = on_term;
	sigaction(SIGTERM, &sa, NULL);
	sigaction(SIGINT, &sa, NULL);
	sa.sa_handler = on_child;
	sa.sa_flags = SA_RESTART | SA_NOCLDSTOP;
	sigaction(SIGCHLD, &sa, NULL);
	for (;;)
		pause();
}

static void pin_pid(void)
{
	char nspath[64];
	int sync[2], commit[2];
	char c;

	if (unshare(CLONE_NEWPID) < 0)
		fail(errno, "unshare pid namespace");
	if (pipe2(sync, O_CLOEXEC) < 0 || pipe2(commit, O_CLOEXEC) < 0)
		fail(errno, "pipe");
	fflush(NULL);
	holder = fork();
	if (holder < 0)
		fail(errno, "fork pid namespace holder");
	if (holder == 0)
		holder_main(sync[1], commit[0]);
	close(sync[1]);
	close(commit[0]);
	/* EOF once the holder has closed its copies of our stdout/stderr. */
	while (read(sync[0], &c, 1) < 0 && errno == EINTR)
		;
	close(sync[0]);
	snprintf(nspath, sizeof(nspath), "/proc/%d/ns/pid", (int)holder);
	pin("pid", nspath);
	if (printf("%d\n", (int)holder) < 0 || fflush(stdout) != 0)
		fail(errno, "write holder pid");
	if (write(commit[1], "1", 1) != 1)
		fail(errno, "start pid namespace holder");
	close(commit[1]);
}

/*
 * A new network namespace starts with `lo` down. CRI-O and containerd run the
 * CNI loopback plugin for it; one ioctl here costs a fork and exec less.
 */
static void loopback_up(void)
{
	struct ifreq ifr = { 0 };
	int fd = socket(AF_INET, SOCK_DGRAM | SOCK_CLOEXEC, 0);

	if (fd < 0)
		fail(errno, "socket for `lo`");
	memcpy(ifr.ifr_name, "lo", 3);
	if (ioctl(fd, SIOCGIFFLAGS, &ifr) < 0)
		fail(errno, "get flags of `lo`");
	ifr.ifr_flags |= IFF_UP | IFF_RUNNING;
	if (ioctl(fd, SIOCSIFFLAGS, &ifr) < 0)
		fail(errno, "bring up `lo`");
	close(fd);
}

static void __attribute__((noreturn)) usage(void)
{
	fprintf(stderr, "crid-pinns: usage: crid-pinns -d DIR [-n] [-i] [-u] [-p] [-H HOSTNAME] "
			"[-s KEY=VALUE]...\n");
	exit(2);
}

int main(int argc, char **argv)
{
	const char *sysctls[MAX_SYSCTLS];
	const char *hostname = NULL;
	int flags = 0, n_sysctls = 0, pid = 0, opt;

	while ((opt = getopt(argc, argv, "d:niupH:s:")) != -1) {
		switch (opt) {
		case 'd':
			dir = optarg;
			break;
		case 'n':
			flags |= CLONE_NEWNET;
			break;
		case 'i':
			flags |= CLONE_NEWIPC;
			break;
		case 'u':
			flags |= CLONE_NEWUTS;
			break;
		case 'p':
			pid = 1;
			break;
		case 'H':
			hostname = optarg;
			break;
		case 's':
			if (n_sysctls == MAX_SYSCTLS)
				fail(0, "more than %d sysctls", MAX_SYSCTLS);
			sysctls[n_sysctls++] = optarg;
			break;
		default:
			usage();
		}
	}
	if (!dir || dir[0] != '/' || optind != argc)
		usage();
	if (hostname && hostname[0] && !(flags & CLONE_NEWUTS))
		fail(0, "hostname `%s` needs a new uts namespace (-u)", hostname);
	if (flags && unshare(flags) < 0)
		fail(errno, "unshare");
	if (hostname && hostname[0] && sethostname(hostname, strlen(hostname)) < 0)
		fail(errno, "set hostname `%s`", hostname);
	if (flags & CLONE_NEWNET)
		loopback_up();
	for (int i = 0; i < n_sysctls; i++)
		set_sysctl(sysctls[i]);
	if (flags & CLONE_NEWNET)
		pin("net", "/proc/self/ns/net");
	if (flags & CLONE_NEWIPC)
		pin("ipc", "/proc/self/ns/ipc");
	if (flags & CLONE_NEWUTS)
		pin("uts", "/proc/self/ns/uts");
	if (pid)
		pin_pid();
	return 0;
}
