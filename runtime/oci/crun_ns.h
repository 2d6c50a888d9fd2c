/*
 * crun on a cgroup hybrid host. crun 1.x refuses to run when the cgroup2
 * mount at /sys/fs/cgroup/unified has controllers ("cgroups in hybrid mode
 * not supported"), even with cgroups disabled, because it looks at that
 * mount. In a mount namespace where it is absent crun sees plain cgroup v1
 * and works. crid prepares that namespace once, pins it under its run dir
 * (an nsfs bind mount, as crid-pinns pins a pod's namespaces) so it
 * outlives a kill -9 and is reused on restart, and every crun call enters it
 * (crid_spawn_in_ns: one setns in the vfork child).
 *
 * The namespace is a slave of the host (/ made rslave), so mounts made later
 * on shared host mounts propagate in. crid's own mounts (container rootfs
 * under root, pod namespaces and shm under runroot) are made so: root and
 * runroot become shared mounts before the namespace is cut (a bind mount on
 * itself when not a mount point yet). The pin lives on a private bind mount
 * of its own directory, so the nsfs mount propagates nowhere.
 */
#ifndef CRID_CRUN_NS_H
#define CRID_CRUN_NS_H

#include <limits.h>
#include <stdbool.h>
#include <stddef.h>

#include "reactor/err.h"

struct crid_crun_ns {
	int fd;		       /* the namespace (O_RDONLY|O_CLOEXEC), -1 when none */
	bool reused;	       /* found pinned from an earlier run */
	bool host_shared;      /* the host's / is a shared mount: every host mount propagates */
	char pin[PATH_MAX];    /* the nsfs bind mount */
	char hidden[PATH_MAX]; /* the cgroup2 mount absent in it */
};

/*
 * Opens the namespace pinned at `<runroot>/crun-ns/mnt` when it is one
 * (nsfs, a mount namespace); otherwise makes |dirs| (n of them: crid's root
 * and runroot) shared mounts, cuts a new namespace without |unified| and
 * pins it there. Blocks for one short child: called at start-up, before
 * the loop runs. Fails (ns->fd -1) with the step that failed in |err|.
 */
int crid_crun_ns_prepare(struct crid_crun_ns *ns, const char *runroot, const char *const *dirs,
			 size_t n, const char *unified, struct crid_err *err);

/* Closes the fd (the pin stays: the next run reuses it). */
void crid_crun_ns_close(struct crid_crun_ns *ns);

/*
 * Pure: the mount point of the mount containing |path| among the lines of
 * |mountinfo| (longest prefix), and whether it is shared ("shared:N" among
 * its optional fields). Returns false when none contains it.
 */
bool crid_crun_ns_mount_of(const char *mountinfo, const char *path, char *point, size_t size,
			   bool *shared);

#endif
