/*
 * crun on a cgroup hybrid host. crun 1.x refuses to run when the cgroup2
 * mount at /sys/fs/cgroup/unified has controllers ("cgroups in hybrid mode
 * not supported"), even with cgroups disabled, because it looks at that
 * mount. In a mount namespace where it is absent crun sees plain cgroup v1
 * and works. crid prepares that namespace once (a slave of the host's: /
 * made rslave, then the cgroup2 mount detached), pins it under its run dir
 * (an nsfs bind mount on a private bind mount of its own directory, so it
 * propagates nowhere; as crid-pinns pins a pod's namespaces) so it outlives
 * a kill -9 and is reused on restart, and crun's calls enter it with one
 * setns in the vfork child (crid_spawn_in_ns).
 *
 * Not create: a pinned namespace sees mounts made later on the host only
 * where the host's mounts are shared (not `/` here), and a bidirectional
 * volume's mounts could never reach the host through a slave. create runs
 * in a fresh copy of the host's namespace instead (unshare in the vfork
 * child, /sys/fs/cgroup made rprivate there, the cgroup2 mount detached):
 * the container's own namespace is then cut from the host's as with runc.
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
 * (nsfs, a mount namespace); otherwise cuts a new one without |unified| and
 * pins it there. Blocks for one short child: called at start-up, before the
 * loop runs. Fails (ns->fd -1) with the step that failed in |err|.
 */
int crid_crun_ns_prepare(struct crid_crun_ns *ns, const char *runroot, const char *unified,
			 struct crid_err *err);

/*
 * A new mount namespace, a slave of ours, without |unified|, unpinned: its
 * fd (O_CLOEXEC) or -1. Blocks for one short child (start-up, bench).
 */
int crid_crun_ns_open(const char *unified, struct crid_err *err);

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
