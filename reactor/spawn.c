#include "reactor/spawn.h"

#include "reactor/metrics_families.h"
#include "reactor/pidfd.h"

#include <errno.h>
#include <fcntl.h>
#include <signal.h>
#include <spawn.h>
#include <string.h>
#include <sys/pidfd.h>
#include <sys/syscall.h>
#include <sys/wait.h>
#include <unistd.h>

static char *const empty_env[] = { NULL };

static void pidfd_cb(struct ev_loop *ev, ev_io *w, int revents)
{
	struct crid_child *child = w->data;
	double t0 = crid_metrics_clock();
	int status = 255;

	(void)revents;
	switch (crid_pidfd_exit(child->pidfd, &status)) {
	case CRID_EXIT_RUNNING:
	case CRID_EXIT_PENDING:
		return; /* spurious wakeup: not exited (or not reaped) yet */
	case CRID_EXIT_UNKNOWN:
		status = 255; /* reaped by someone else on a kernel without PIDFD_INFO_EXIT */
		break;
	case CRID_EXIT_KNOWN:
		break;
	}
	ev_io_stop(ev, w);
	close(child->pidfd);
	child->pidfd = -1;
	child->on_exit(child, status, child->user);
	crid_metrics_loop_class(CRID_LOOP_CHILD, t0);
}

static int setup_file_actions(posix_spawn_file_actions_t *fa, const struct crid_spawn_opts *o)
{
	const int fds[3] = { o->stdin_fd, o->stdout_fd, o->stderr_fd };
	int r = 0;

	for (int i = 0; i < 3 && r == 0; i++) {
		if (fds[i] < 0)
			r = posix_spawn_file_actions_addopen(fa, i, "/dev/null",
							     i ? O_WRONLY : O_RDONLY, 0);
		else
			r = posix_spawn_file_actions_adddup2(fa, fds[i], i);
	}
	if (r == 0)
		r = posix_spawn_file_actions_addclosefrom_np(fa, 3);
	return r;
}

static int setup_attrs(posix_spawnattr_t *attr)
{
	sigset_t none, all;
	int r;

	sigemptyset(&none);
	sigfillset(&all);
	r = posix_spawnattr_setsigmask(attr, &none);
	if (r == 0)
		r = posix_spawnattr_setsigdefault(attr, &all);
	if (r == 0)
		r = posix_spawnattr_setflags(attr, POSIX_SPAWN_SETSIGMASK | POSIX_SPAWN_SETSIGDEF);
	return r;
}

int crid_spawn(struct crid_loop *loop, struct crid_child *child, const struct crid_spawn_opts *opts,
	       crid_child_exit_fn on_exit, void *user, struct crid_err *err)
{
	posix_spawn_file_actions_t fa;
	posix_spawnattr_t attr;
	pid_t pid;
	int r;

	memset(child, 0, sizeof(*child));
	child->pidfd = -1;
	if (posix_spawn_file_actions_init(&fa) != 0)
		return crid_err_set(err, ENOMEM, "spawn `%s`", opts->path);
	if (posix_spawnattr_init(&attr) != 0) {
		posix_spawn_file_actions_destroy(&fa);
		return crid_err_set(err, ENOMEM, "spawn `%s`", opts->path);
	}
	r = setup_file_actions(&fa, opts);
	if (r == 0)
		r = setup_attrs(&attr);
	if (r == 0)
		r = posix_spawn(&pid, opts->path, &fa, &attr, opts->argv,
				opts->envp ? opts->envp : empty_env);
	posix_spawn_file_actions_destroy(&fa);
	posix_spawnattr_destroy(&attr);
	if (r != 0)
		return crid_err_set(err, r, "spawn `%s`", opts->path);

	/* The child stays a zombie until we wait for it, so its pid cannot be reused here. */
	child->pidfd = pidfd_open(pid, 0);
	if (child->pidfd < 0) {
		int e = errno;

		kill(pid, SIGKILL);
		/* not waited for here: the orphan sweep reaps it after its SIGCHLD */
		if (waitpid(pid, NULL, WNOHANG) == 0)
			crid_reap_orphans_soon(loop);
		return crid_err_set(err, e, "pidfd_open %d", (int)pid);
	}
	fcntl(child->pidfd, F_SETFD, FD_CLOEXEC);
	child->pid = pid;
	child->loop = loop;
	child->on_exit = on_exit;
	child->user = user;
	ev_io_init(&child->watcher, pidfd_cb, child->pidfd, EV_READ);
	child->watcher.data = child;
	ev_io_start(loop->ev, &child->watcher);
	return 0;
}

int crid_child_kill(struct crid_child *child, int signo)
{
	if (child->pidfd < 0)
		return -ESRCH;
	if (pidfd_send_signal(child->pidfd, signo, NULL, 0) < 0)
		return -errno;
	return 0;
}

int crid_child_detach(struct crid_child *child)
{
	int fd = child->pidfd;

	if (fd >= 0)
		ev_io_stop(child->loop->ev, &child->watcher);
	child->pidfd = -1;
	return fd;
}
