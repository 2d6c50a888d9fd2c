/*
 * A pod's own cgroup (the cgroup_parent kubelet gives RunPodSandbox) and the
 * limits UpdatePodSandboxResources puts on it, cgroup v1 and v2: CPU shares
 * or weight, CFS quota and period, memory limit, cpuset. A handful of small
 * writes into cgroupfs; kubelet has already written the same values before
 * it calls (KEP-1287), so no write here makes the kernel reclaim for long.
 */
#ifndef CRID_POD_CGROUP_H
#define CRID_POD_CGROUP_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "reactor/err.h"
#include "runtime/oci/host.h"

/* Zero (or "") leaves that setting as it is, as UpdateContainerResources does. */
struct crid_pod_limits {
	int64_t cpu_shares;   /* v1 cpu.shares; v2 cpu.weight by runc's conversion */
	int64_t cpu_period;   /* microseconds; with a quota and no period, 100000 */
	int64_t cpu_quota;    /* microseconds per period; -1 = no limit */
	int64_t memory_limit; /* bytes */
	const char *cpuset_cpus, *cpuset_mems;
};

/*
 * A systemd slice's cgroup directory as systemd nests it, into |out|:
 * "a-b-c.slice" -> "/a.slice/a-b.slice/a-b-c.slice"; "-.slice" is the root
 * (""). EINVAL for a name that is no slice's, ENAMETOOLONG past |size|.
 */
int crid_cgroup_slice_expand(const char *slice, char *out, size_t size, struct crid_err *err);

/* Whether |p| has a ".." path component. */
bool crid_cgroup_has_dotdot(const char *p);

/*
 * The cgroup directory of |cgroup_parent| relative to a controller's root:
 * cgroupfs paths as they are ("/kubepods/burstable/pod1"), a systemd slice
 * expanded as systemd nests it ("kubepods-burstable-pod1.slice" ->
 * "/kubepods.slice/kubepods-burstable.slice/kubepods-burstable-pod1.slice").
 * EINVAL for "", a ".." component or a malformed slice name.
 */
int crid_pod_cgroup_dir(const char *cgroup_parent, char *out, size_t size, struct crid_err *err);

/*
 * Writes |l| into the pod cgroup |cgroup_parent|: under |root| the v1
 * controller directories (cpu, memory, cpuset) for CRID_CGROUP_V1 and
 * CRID_CGROUP_HYBRID, or the cgroup2 tree for CRID_CGROUP_V2. EBUSY when the
 * pod's cgroup does not exist; the file's errno otherwise (EINVAL from the
 * kernel for a value it refuses), naming the file.
 */
int crid_pod_cgroup_apply_at(const char *root, enum crid_cgroup_mode mode,
			     const char *cgroup_parent, const struct crid_pod_limits *l,
			     struct crid_err *err);

/* crid_pod_cgroup_apply_at() on this host's cgroup layout. */
int crid_pod_cgroup_apply(const struct crid_host *host, const char *cgroup_parent,
			  const struct crid_pod_limits *l, struct crid_err *err);

#endif
