#include "runtime/state/trash.h"

#include <errno.h>
#include <signal.h>
#include <unistd.h>

#include "reactor/log.h"
#include "reactor/mem.h"

int crid_trash_init(struct crid_trash *t, struct crid_loop *loop, const char *dir,
		    struct crid_err *err)
{
	t->loop = loop;
	t->running = t->again = 0;
	t->sweeps = 0;
	t->dir = crid_strdup(dir);
	if (!t->dir)
		return crid_err_set(err, ENOMEM, "trash");
	return 0;
}

static void sweep_done(struct crid_child *child, int status, void *user)
{
	struct crid_trash *t = user;

	(void)child;
	t->running = 0;
	t->sweeps++;
	if (status != 0)
		crid_log_warn("emptying `%s` exited with %d", t->dir, status);
	if (t->again) {
		t->again = 0;
		crid_trash_sweep(t);
	}
}

void crid_trash_sweep(struct crid_trash *t)
{
	/* find(1) rather than a shell glob: dot-files included, no ARG_MAX limit. */
	char *argv[] = { "find", t->dir, "-mindepth", "1",  "-maxdepth", "1", "-exec",
			 "rm",	 "-rf",	 "--",	      "{}", "+",	 NULL };
	struct crid_spawn_opts o = { "/usr/bin/find", argv, NULL, -1, -1, -1 };
	struct crid_err err;

	if (t->running) {
		t->again = 1;
		return;
	}
	if (crid_spawn(t->loop, &t->child, &o, sweep_done, t, &err) < 0) {
		crid_log_warn("cannot empty `%s`: %s", t->dir, err.msg);
		return;
	}
	t->running = 1;
}

void crid_trash_cleanup(struct crid_trash *t)
{
	if (t->running) {
		int fd = crid_child_detach(&t->child);

		if (fd >= 0)
			close(fd);
	}
	crid_free(t->dir);
	t->dir = NULL;
}
