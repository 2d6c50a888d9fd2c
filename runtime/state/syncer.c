#include "runtime/state/syncer.h"

#include <errno.h>
#include <fcntl.h>
#include <string.h>
#include <unistd.h>

#include "reactor/log.h"
#include "reactor/mem.h"
#include "reactor/spawn.h"

#define SYNC_PATH "/bin/sync"
#define SYNC_DELAY 0.2 /* gather the writes of one operation burst into one sync */

static struct {
	struct crid_loop *loop;
	char *root;
	ev_timer timer;
	struct crid_child child;
	bool started, running, wanted;
} syncer;

static void start_sync(void);

static void synced(struct crid_child *child, int status, void *user)
{
	(void)child, (void)user;
	syncer.running = false;
	if (status != 0)
		crid_log_warn("sync -f `%s` exited %d", syncer.root, status);
	if (syncer.wanted)
		start_sync();
}

static void start_sync(void)
{
	char *argv[] = { SYNC_PATH, "-f", syncer.root, NULL };
	struct crid_spawn_opts o = { .path = SYNC_PATH,
				     .argv = argv,
				     .envp = NULL,
				     .stdin_fd = -1,
				     .stdout_fd = -1,
				     .stderr_fd = -1 };
	struct crid_err err;

	syncer.wanted = false;
	if (crid_spawn(syncer.loop, &syncer.child, &o, synced, NULL, &err) < 0) {
		/* no child: do it here rather than leave the records undurable */
		int fd = open(syncer.root, O_RDONLY | O_DIRECTORY | O_CLOEXEC);

		crid_log_warn("%s: syncing on the loop", err.msg);
		if (fd >= 0) {
			syncfs(fd);
			close(fd);
		}
		return;
	}
	syncer.running = true;
}

static void delay_over(struct ev_loop *ev, ev_timer *t, int revents)
{
	(void)ev, (void)t, (void)revents;
	if (!syncer.running)
		start_sync(); /* else synced() starts the next one */
}

int crid_syncer_start(struct crid_loop *loop, const char *root, struct crid_err *err)
{
	syncer.root = crid_strdup(root);
	if (!syncer.root)
		return crid_err_set(err, ENOMEM, "syncer");
	syncer.loop = loop;
	ev_timer_init(&syncer.timer, delay_over, SYNC_DELAY, 0.);
	syncer.started = true;
	return 0;
}

bool crid_syncer_running(void)
{
	return syncer.started;
}

void crid_syncer_request(void)
{
	if (!syncer.started)
		return;
	syncer.wanted = true;
	if (!syncer.running && !ev_is_active(&syncer.timer))
		ev_timer_start(syncer.loop->ev, &syncer.timer);
}

void crid_syncer_stop(void)
{
	int fd;

	if (!syncer.started)
		return;
	ev_timer_stop(syncer.loop->ev, &syncer.timer);
	if (syncer.running) {
		int pidfd = crid_child_detach(&syncer.child); /* it finishes on its own */

		if (pidfd >= 0)
			close(pidfd);
	}
	fd = open(syncer.root, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
	if (fd >= 0) {
		syncfs(fd); /* shutdown: the last word on disk before we go */
		close(fd);
	}
	crid_free(syncer.root);
	memset(&syncer, 0, sizeof(syncer));
}
