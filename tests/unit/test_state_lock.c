/*
 * The state directory lock: a second taker (another open file, as another
 * daemon would have) is refused with the holder's pid and the directory in
 * the message; one directory named twice is locked once; the fds are
 * close-on-exec; pass_on + take adopts the fds instead of reopening (the
 * SIGHUP re-exec) and clears the hand-over variable; release frees the lock;
 * a lock whose writer is dead but held by its child (a spawn a kill -9 cut
 * short, before its exec) is waited for, not refused.
 */
#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/file.h>
#include <sys/wait.h>
#include <unistd.h>

#include "runtime/state/state_lock.h"
#include "tests/unit/tap.h"

static char a[64], b[64];

static bool cloexec(int fd)
{
	int fl = fcntl(fd, F_GETFD);

	return fl >= 0 && (fl & FD_CLOEXEC);
}

static void test_refused_names_pid(void)
{
	const char *dirs[] = { a, b }, *one[] = { b };
	struct crid_state_lock l, l2;
	struct crid_err err;
	char want[128], path[PATH_MAX], buf[32] = "";
	FILE *f;

	CHECK(crid_state_lock_take(&l, dirs, 2, &err) == 0, "first take: %s", err.msg);
	CHECK(l.n == 2 && cloexec(l.fd[0]) && cloexec(l.fd[1]), "two close-on-exec fds");
	snprintf(path, sizeof(path), "%s/crid.lock", a);
	f = fopen(path, "r");
	CHECK(f && fgets(buf, sizeof(buf), f) && atol(buf) == (long)getpid(),
	      "lock file holds our pid: %s", buf);
	if (f)
		fclose(f);
	CHECK(crid_state_lock_take(&l2, one, 1, &err) < 0 && err.code == EBUSY,
	      "second taker refused");
	snprintf(want, sizeof(want), "crid pid %ld", (long)getpid());
	CHECK(strstr(err.msg, want) && strstr(err.msg, b), "message names pid and dir: %s",
	      err.msg);
	CHECK(l2.n == 0, "nothing held after a refusal");
	crid_state_lock_release(&l);
	CHECK(crid_state_lock_take(&l2, one, 1, &err) == 0, "free after release: %s", err.msg);
	crid_state_lock_release(&l2);
}

static void test_same_dir_twice(void)
{
	const char *dirs[] = { a, a };
	struct crid_state_lock l;
	struct crid_err err;

	CHECK(crid_state_lock_take(&l, dirs, 2, &err) == 0 && l.n == 1,
	      "root == runroot: one lock (%s)", err.msg);
	crid_state_lock_release(&l);
}

static void test_pass_on_adopts(void)
{
	const char *dirs[] = { a, b };
	struct crid_state_lock l, again;
	struct crid_err err;
	int fd0, fd1;

	CHECK(crid_state_lock_take(&l, dirs, 2, &err) == 0, "take: %s", err.msg);
	fd0 = l.fd[0], fd1 = l.fd[1];
	CHECK(crid_state_lock_pass_on(&l, &err) == 0, "pass on: %s", err.msg);
	CHECK(!cloexec(fd0) && !cloexec(fd1), "passed-on fds survive exec");
	CHECK(getenv(CRID_STATE_LOCK_ENV) != NULL, "$%s set", CRID_STATE_LOCK_ENV);
	/* what the new image does: a fresh open would be refused, the inherited fds are adopted */
	CHECK(crid_state_lock_take(&again, dirs, 2, &err) == 0, "re-exec take: %s", err.msg);
	CHECK(again.n == 2 && again.fd[0] == fd0 && again.fd[1] == fd1, "same fds adopted");
	CHECK(cloexec(fd0) && cloexec(fd1), "close-on-exec again");
	CHECK(getenv(CRID_STATE_LOCK_ENV) == NULL, "$%s cleared for children", CRID_STATE_LOCK_ENV);
	crid_state_lock_release(&again);
}

static void test_bogus_env_ignored(void)
{
	const char *dirs[] = { a };
	struct crid_state_lock l;
	struct crid_err err;

	setenv(CRID_STATE_LOCK_ENV, "0,1,2,junk", 1);
	CHECK(crid_state_lock_take(&l, dirs, 1, &err) == 0 && l.n == 1 && l.fd[0] > 2,
	      "fds that are not the lock file are not adopted (%s)", err.msg);
	crid_state_lock_release(&l);
}

static void test_dead_holder_waited(void)
{
	const char *one[] = { a };
	struct crid_state_lock l;
	struct crid_err err;
	pid_t writer = fork();

	if (writer == 0) { /* takes the lock, leaves a child holding it, dies */
		if (crid_state_lock_take(&l, one, 1, &err) < 0)
			_exit(1);
		if (fork() == 0) {
			usleep(300 * 1000);
			_exit(0);
		}
		_exit(0);
	}
	CHECK(writer > 0 && waitpid(writer, NULL, 0) == writer, "writer ran and died");
	CHECK(crid_state_lock_take(&l, one, 1, &err) == 0,
	      "taken once the dead writer's child lets go: %s", err.msg);
	crid_state_lock_release(&l);
}

int main(void)
{
	char path[PATH_MAX];

	snprintf(a, sizeof(a), "/tmp/crid-test-lock-a-XXXXXX");
	snprintf(b, sizeof(b), "/tmp/crid-test-lock-b-XXXXXX");
	if (!mkdtemp(a) || !mkdtemp(b)) {
		CHECK(0, "mkdtemp: %s", strerror(errno));
		return tap_done();
	}
	test_refused_names_pid();
	test_same_dir_twice();
	test_pass_on_adopts();
	test_bogus_env_ignored();
	test_dead_holder_waited();
	snprintf(path, sizeof(path), "%s/crid.lock", a);
	unlink(path);
	snprintf(path, sizeof(path), "%s/crid.lock", b);
	unlink(path);
	CHECK(rmdir(a) == 0 && rmdir(b) == 0, "temp dirs empty at the end");
	return tap_done();
}
