#include "reactor/pidfd.h"

#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <poll.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/ioctl.h>
#include <sys/syscall.h>
#include <sys/wait.h>
#include <unistd.h>

/* Linux 6.15's pidfd info (uapi/linux/pidfd.h), declared here for older headers. */
struct crid_pidfd_info {
	uint64_t mask;
	uint64_t cgroupid;
	uint32_t pid, tgid, ppid, ruid, rgid, euid, egid, suid, sgid, fsuid, fsgid;
	int32_t exit_code;
};

#define CRID_PIDFD_GET_INFO _IOWR(0xFF, 11, struct crid_pidfd_info)
#define CRID_PIDFD_INFO_EXIT (1ULL << 3)

static int wait_status(int raw)
{
	if (WIFEXITED(raw))
		return WEXITSTATUS(raw);
	return 128 + (WIFSIGNALED(raw) ? WTERMSIG(raw) : 0);
}

static bool exited(int pidfd)
{
	struct pollfd p = { .fd = pidfd, .events = POLLIN };

	return poll(&p, 1, 0) == 1;
}

enum crid_exit_info crid_pidfd_exit(int pidfd, int *status)
{
	struct crid_pidfd_info info;
	siginfo_t si;

	memset(&si, 0, sizeof(si));
	if (waitid(P_PIDFD, (id_t)pidfd, &si, WEXITED | WNOHANG) == 0) {
		if (si.si_pid == 0)
			return CRID_EXIT_RUNNING;
		*status = si.si_code == CLD_EXITED ? si.si_status : 128 + si.si_status;
		return CRID_EXIT_KNOWN;
	}
	if (!exited(pidfd))
		return CRID_EXIT_RUNNING;
	memset(&info, 0, sizeof(info));
	info.mask = CRID_PIDFD_INFO_EXIT;
	if (ioctl(pidfd, CRID_PIDFD_GET_INFO, &info) < 0)
		return errno == ESRCH ? CRID_EXIT_PENDING : CRID_EXIT_UNKNOWN;
	if (!(info.mask & CRID_PIDFD_INFO_EXIT))
		return crid_pidfd_has_exit_info() ? CRID_EXIT_PENDING : CRID_EXIT_UNKNOWN;
	*status = wait_status(info.exit_code);
	return CRID_EXIT_KNOWN;
}

bool crid_pidfd_has_exit_info(void)
{
	static int known = -1;

	if (known < 0) {
		struct crid_pidfd_info info = { .mask = CRID_PIDFD_INFO_EXIT };
		int fd = (int)syscall(SYS_pidfd_open, getpid(), 0);

		known = fd >= 0 && ioctl(fd, CRID_PIDFD_GET_INFO, &info) == 0;
		if (fd >= 0)
			close(fd);
	}
	return known;
}

/* ---- the orphan sweep ---- */

static ev_timer sweep_timer;
static bool sweep_armed;

/*
 * The last statuses the sweep took, for a process known only by the pid a
 * runtime wrote (a detached exec) that was reaped before its owner could
 * open a pidfd on it: tracked processes lose nothing, these neither.
 */
#define REAPED_KEEP 256
static struct {
	pid_t pid;
	int status;
} reaped[REAPED_KEEP];
static unsigned reaped_next;

bool crid_reaped_status(pid_t pid, int *status)
{
	for (unsigned i = 0; i < REAPED_KEEP; i++) {
		unsigned k = (reaped_next + REAPED_KEEP - 1 - i) % REAPED_KEEP;

		if (reaped[k].pid == pid && pid > 0) {
			*status = reaped[k].status;
			return true;
		}
	}
	return false;
}

static void reap(pid_t pid)
{
	int raw;

	if (waitpid(pid, &raw, WNOHANG) != pid)
		return;
	reaped[reaped_next].pid = pid;
	reaped[reaped_next].status = wait_status(raw);
	reaped_next = (reaped_next + 1) % REAPED_KEEP;
}

static bool is_zombie(const char *pid)
{
	char path[64], buf[256], *p;
	ssize_t n;
	int fd;

	snprintf(path, sizeof(path), "/proc/%s/stat", pid);
	fd = open(path, O_RDONLY | O_CLOEXEC);
	if (fd < 0)
		return false;
	n = read(fd, buf, sizeof(buf) - 1);
	close(fd);
	if (n <= 0)
		return false;
	buf[n] = '\0';
	p = strrchr(buf, ')'); /* the command may hold spaces and parentheses */
	return p && p[1] == ' ' && p[2] == 'Z';
}

/*
 * Reaps zombie children. A tracked child reaped here by a race loses
 * nothing: its owner reads the status through its pidfd (PIDFD_INFO_EXIT).
 */
static void sweep(struct ev_loop *ev, ev_timer *w, int revents)
{
	char path[64], buf[8192];
	ssize_t n;
	int fd;

	(void)ev, (void)w, (void)revents;
	sweep_armed = false;
	snprintf(path, sizeof(path), "/proc/self/task/%d/children", (int)getpid());
	fd = open(path, O_RDONLY | O_CLOEXEC);
	if (fd < 0)
		return;
	n = read(fd, buf, sizeof(buf) - 1);
	close(fd);
	if (n <= 0)
		return;
	buf[n] = '\0';
	for (char *tok = strtok(buf, " \n"); tok; tok = strtok(NULL, " \n"))
		if (is_zombie(tok))
			reap((pid_t)atoi(tok));
}

void crid_reap_orphans_soon(struct crid_loop *loop)
{
	/* Only once the kernel keeps statuses in pidfds: before that, reaping a tracked child
	 * ahead of its owner would lose its status. */
	if (sweep_armed || !crid_pidfd_has_exit_info())
		return;
	ev_timer_init(&sweep_timer, sweep, 0.5, 0.);
	ev_timer_start(loop->ev, &sweep_timer);
	sweep_armed = true;
}
