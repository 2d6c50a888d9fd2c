/*
 * Named crash points (see debug_point.h). The environment is read once; an
 * unarmed point costs one compare of a static int.
 */
#include "reactor/debug_point.h"

#ifndef CRID_NO_DEBUG_POINTS

#include <signal.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <unistd.h>

#include "reactor/log.h"

static int state; /* 0 = not read yet, 1 = unarmed, 2 = armed */
static char armed_step[64];
/*
 * Some steps run in the daemon's short-lived children (teardown's function
 * children): the hit count lives in a shared page so that the n-th hit is
 * counted across them, and a child that reaches the armed step kills the
 * daemon with itself, as a crash of the node would at that step.
 */
static long *hits_left;
static long hits_private;
static pid_t daemon_pid;

static void read_env(void)
{
	const char *at = getenv("CRID_DEBUG_ABORT_AT");
	const char *test = getenv("CRID_TEST");
	const char *colon;
	size_t len;

	state = 1;
	if (!at || !*at)
		return;
	if (!test || strcmp(test, "1") != 0) {
		crid_log_warn("CRID_DEBUG_ABORT_AT ignored: debug points are armed only with "
			      "CRID_TEST=1");
		return;
	}
	colon = strchr(at, ':');
	len = colon ? (size_t)(colon - at) : strlen(at);
	hits_private = colon ? strtol(colon + 1, NULL, 10) : 1;
	if (len >= sizeof(armed_step) || hits_private < 1) {
		crid_log_warn("CRID_DEBUG_ABORT_AT `%s` ignored: want <step>[:<n>], n >= 1", at);
		return;
	}
	memcpy(armed_step, at, len);
	armed_step[len] = '\0';
	hits_left = mmap(NULL, sizeof(*hits_left), PROT_READ | PROT_WRITE,
			 MAP_SHARED | MAP_ANONYMOUS, -1, 0);
	if (hits_left == MAP_FAILED)
		hits_left = &hits_private;
	*hits_left = hits_private;
	daemon_pid = getpid();
	state = 2;
	crid_log_warn("debug point `%s` armed: crid kills itself at hit %ld", armed_step,
		      hits_private);
}

void crid_debug_point(const char *step)
{
	if (state == 0)
		read_env();
	if (state != 2 || strcmp(step, armed_step) != 0 ||
	    __atomic_sub_fetch(hits_left, 1, __ATOMIC_SEQ_CST) != 0)
		return;
	crid_log_warn("debug point `%s` reached: SIGKILL", step);
	if (getpid() != daemon_pid)
		kill(daemon_pid, SIGKILL);
	kill(getpid(), SIGKILL);
}

#endif
