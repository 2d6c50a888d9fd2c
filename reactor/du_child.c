/* The `du` child (reactor/du_child.h). */
#include "reactor/du_child.h"

#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <signal.h>
#include <stdlib.h>
#include <string.h>
#include <sys/wait.h>
#include <unistd.h>

#define MAX_DIRS 2
#define OUT_MAX (3 * (PATH_MAX + 24)) /* two trees and the total, each "<n>\t<path>\n" */

static const char *du_path(void)
{
	return access("/usr/bin/du", X_OK) == 0 ? "/usr/bin/du" : "/bin/du";
}

void crid_du_child_init(struct crid_du_child *du)
{
	memset(du, 0, sizeof(*du));
	du->child.pidfd = -1;
	du->out_fd = -1;
}

int crid_du_child_start(struct crid_loop *loop, struct crid_du_child *du, enum crid_du_count what,
			const char *const *dirs, crid_child_exit_fn on_exit, void *user,
			struct crid_err *err)
{
	char *argv[6 + MAX_DIRS + 1] = { "du", "-s", "-x",
					 what == CRID_DU_BYTES ? "-B1" : "--inodes" };
	char *envp[] = { "LC_ALL=C", NULL };
	struct crid_spawn_opts o = { du_path(), argv, envp, -1, -1, -1 };
	size_t n = 4;
	int p[2];

	/* one tree: its line is the figure (none when it is missing); more: -c's total line */
	du->summed = dirs[0] && dirs[1];
	if (du->summed)
		argv[n++] = "-c";
	argv[n++] = "--";
	for (size_t i = 0; dirs[i]; i++) {
		if (i == MAX_DIRS)
			return crid_err_invalid(err, "du: more than %d trees", MAX_DIRS);
		argv[n++] = (char *)dirs[i];
	}
	if (pipe2(p, O_CLOEXEC) < 0)
		return crid_err_set(err, errno, "du `%s`: pipe", dirs[0]);
	o.stdout_fd = p[1];
	if (crid_spawn(loop, &du->child, &o, on_exit, user, err) < 0) {
		close(p[0]);
		close(p[1]);
		return crid_err_wrap(err, "du `%s`", dirs[0]);
	}
	close(p[1]);
	fcntl(p[0], F_SETFL, O_NONBLOCK); /* read only after the child exited: never waits */
	du->out_fd = p[0];
	return 0;
}

int crid_du_child_total(struct crid_du_child *du, int status, uint64_t *out)
{
	char buf[OUT_MAX], *line, *end;
	ssize_t r = du->out_fd >= 0 ? read(du->out_fd, buf, sizeof(buf) - 1) : -1;

	if (du->out_fd >= 0)
		close(du->out_fd);
	du->out_fd = -1;
	if (r <= 0 || (status != 0 && status != 1))
		return -1;
	buf[r] = '\0';
	if (buf[r - 1] == '\n')
		buf[r - 1] = '\0';
	line = strrchr(buf, '\n');
	line = line ? line + 1 : buf;
	if (!strchr(line, '\t') || (du->summed && strcmp(strchr(line, '\t'), "\ttotal") != 0))
		return -1;
	errno = 0;
	*out = strtoull(line, &end, 10);
	return errno || end == line || *end != '\t' ? -1 : 0;
}

void crid_du_child_kill(struct crid_du_child *du)
{
	siginfo_t si;
	int fd;

	if (du->child.pidfd >= 0) {
		crid_child_kill(&du->child, SIGKILL);
		fd = crid_child_detach(&du->child);
		while (fd >= 0 && waitid(P_PIDFD, (id_t)fd, &si, WEXITED) < 0 && errno == EINTR)
			;
		if (fd >= 0)
			close(fd);
	}
	if (du->out_fd >= 0)
		close(du->out_fd);
	du->out_fd = -1;
}
