/*
 * What an unfinished `runtime create` left running: after a kill of crid,
 * the runtime itself (no longer crid's child; its command line names the
 * container), and, after a kill of crid or a create that failed or timed
 * out, whatever the runtime had already put in the container's cgroups (a
 * runtime's init stages, the container's init). The undo of that create
 * (ctr_undo_created) must wait until they are gone: the runtime could
 * otherwise make the container after the delete, and a cgroup that still
 * holds a process cannot be removed (chaos seed 96639031, kill 525: three
 * runc init stages SIGKILLed 66 ms before the rmdir were still there on a
 * loaded node, and the container's cgroups stayed in all ten hierarchies for
 * good; test_faults_orphans: a failed live create left its process and
 * cgroups the same way).
 */
#ifndef CRID_CTR_ORPHANS_H
#define CRID_CTR_ORPHANS_H

#include <stdbool.h>

#include "reactor/loop.h"

struct crid_ctr_orphans;

/* Called once from the loop: |gone| false when the wait gave up. */
typedef void (*crid_ctr_orphans_fn)(void *user, bool gone);

/*
 * SIGKILLs (through pidfds) every process in the cgroups of |cgroups_path|
 * (a cgroupsPath, crid_cgroup_path_expand() rules; NULL: none) in every
 * hierarchy under CRID_CGROUP_ROOT, and from a timer every process whose
 * command line holds the argument |id| (a /proc scan, a slice of pids per
 * tick, so thousands of pids never hold the loop); each tick reads the
 * cgroups again and kills any process found there too (one a runtime stage
 * cloned after the first read), until the scan is done, every killed
 * runtime has exited and every cgroup is empty, or |wait_ms| passed; then
 * |done| (never called from here). NULL when out of memory (nothing is
 * killed then).
 */
struct crid_ctr_orphans *crid_ctr_orphans_kill(struct crid_loop *loop, const char *id,
					       const char *cgroups_path, long wait_ms,
					       crid_ctr_orphans_fn done, void *user);

/* Stops the wait without calling |done| and frees it; NULL is fine. */
void crid_ctr_orphans_cancel(struct crid_ctr_orphans *o);

#endif
