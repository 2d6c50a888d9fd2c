/*
 * The cgroup figures behind the CRI metrics (ListPodSandboxMetrics): what
 * cAdvisor publishes as container_cpu_*, container_memory_*,
 * container_spec_*, container_processes/threads and container_oom_events,
 * read from one cgroup's files on v1 (and hybrid) or v2, and the capacity of
 * the filesystem holding a writable layer (container_fs_*). Small bounded
 * reads and one statvfs, safe on the loop. Pure figures: names and units of the published metrics
 * live in handlers/metrics.c.
 */
#ifndef CRID_CGROUP_METRICS_H
#define CRID_CGROUP_METRICS_H

#include <stdbool.h>
#include <stdint.h>

#include "reactor/err.h"
#include "runtime/oci/host.h"

/* One figure each; where it comes from on v1 / v2 in cgroup_metrics.c. */
enum crid_cgm {
	CRID_CGM_CPU_USAGE_NS,
	CRID_CGM_CPU_USER_NS,
	CRID_CGM_CPU_SYSTEM_NS,
	CRID_CGM_CFS_PERIODS,
	CRID_CGM_CFS_THROTTLED_PERIODS,
	CRID_CGM_CFS_THROTTLED_NS,
	CRID_CGM_MEM_USAGE,
	CRID_CGM_MEM_MAX_USAGE,
	CRID_CGM_MEM_WORKING_SET,
	CRID_CGM_MEM_RSS,
	CRID_CGM_MEM_CACHE,
	CRID_CGM_MEM_MAPPED_FILE,
	CRID_CGM_MEM_KERNEL,
	CRID_CGM_MEM_SWAP,
	CRID_CGM_MEM_FAILCNT,
	CRID_CGM_PGFAULT,      /* this cgroup's own (scope "container") */
	CRID_CGM_PGFAULT_HIER, /* with its descendants (scope "hierarchy") */
	CRID_CGM_PGMAJFAULT,
	CRID_CGM_PGMAJFAULT_HIER,
	CRID_CGM_OOM_EVENTS,	 /* OOM kills in the cgroup */
	CRID_CGM_PROCESSES,	 /* lines of cgroup.procs */
	CRID_CGM_THREADS,	 /* pids.current: tasks, threads included */
	CRID_CGM_THREADS_MAX,	 /* pids.max, 0 for "max" */
	CRID_CGM_SPEC_MEM_LIMIT, /* bytes, 0 when unlimited (over 2^62, as cAdvisor) */
	CRID_CGM_SPEC_MEM_RESERVATION,
	CRID_CGM_SPEC_SWAP_LIMIT,
	CRID_CGM_SPEC_CPU_SHARES, /* v2: cpu.weight converted back to shares */
	CRID_CGM_SPEC_CPU_PERIOD, /* microseconds */
	CRID_CGM_SPEC_CPU_QUOTA,  /* microseconds; only when a quota is set */
	CRID_CGM_COUNT
};

struct crid_cgroup_metrics {
	uint64_t have; /* bit (1 << enum crid_cgm) set for each figure read */
	uint64_t v[CRID_CGM_COUNT];
};

static inline bool crid_cgm_has(const struct crid_cgroup_metrics *m, enum crid_cgm i)
{
	return (m->have >> i) & 1;
}

/*
 * Reads the figures of the cgroup |path| (a cgroupsPath as given to the OCI
 * runtime; crid_cgroup_path_expand() rules). A figure whose file is missing
 * or malformed is left out of |have|, never guessed. ENOENT when the cgroup
 * does not exist in any controller read.
 */
int crid_cgroup_metrics_read(const struct crid_host *host, const char *path,
			     struct crid_cgroup_metrics *out, struct crid_err *err);

/*
 * The same against any tree: |root| holds the v1 controller directories
 * (cpu, cpuacct, memory, pids) for CRID_CGROUP_V1 and CRID_CGROUP_HYBRID, or
 * is the cgroup2 mount for CRID_CGROUP_V2. For tests on fixture trees.
 */
int crid_cgroup_metrics_read_at(const char *root, enum crid_cgroup_mode mode, const char *path,
				struct crid_cgroup_metrics *out, struct crid_err *err);

/* The filesystem holding a directory, as cAdvisor's container_fs_{limit_bytes,inodes_*}. */
struct crid_fs_capacity {
	uint64_t bytes; /* f_blocks * f_frsize */
	uint64_t inodes, inodes_free;
};

/* statvfs(|dir|). errno of statvfs on failure. */
int crid_fs_capacity_read(const char *dir, struct crid_fs_capacity *out, struct crid_err *err);

#endif
