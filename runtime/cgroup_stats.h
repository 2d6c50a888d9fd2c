/*
 * Container and pod statistics from the cgroup filesystem (v1, hybrid and
 * v2) and the pod's network namespace. Small bounded reads, safe on the loop.
 */
#ifndef CRID_CGROUP_STATS_H
#define CRID_CGROUP_STATS_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "reactor/err.h"
#include "runtime/host.h"

struct crid_cgroup_stats {
	bool has_cpu, has_memory, has_swap;
	uint64_t cpu_usage_ns;	     /* cumulative */
	uint64_t memory_usage;	     /* bytes */
	uint64_t memory_working_set; /* usage - inactive_file, as kubelet computes it */
	uint64_t memory_rss;
	uint64_t page_faults, major_page_faults;
	uint64_t swap_usage;
	uint64_t pids;
};

/*
 * Reads the stats of the cgroup |path| as given to the OCI runtime as
 * cgroupsPath (cgroupfs: "/kubepods/pod1/crid-<id>"; systemd slices
 * "kubepods.slice:crid:<id>" are expanded the way runc does). A missing
 * cgroup is ENOENT.
 */
int crid_cgroup_stats_read(const struct crid_host *host, const char *path,
			   struct crid_cgroup_stats *out, struct crid_err *err);

/* True when the cgroup recorded an OOM kill (memory.events oom_kill, or v1 memory.oom_control). */
bool crid_cgroup_oom_killed(const struct crid_host *host, const char *path);

struct crid_net_stats {
	char name[16];
	uint64_t rx_bytes, rx_errors, tx_bytes, tx_errors;
};

/*
 * The interfaces of the network namespace pinned at |netns| (except lo):
 * setns in, read /proc/self/net/dev, setns back (legal in a single-threaded
 * process). At most |max| entries; *n set.
 */
int crid_netns_stats(const char *netns, struct crid_net_stats *out, size_t max, size_t *n,
		     struct crid_err *err);

/*
 * Bytes and inodes under |dir| (a container's writable layer), computed by a
 * `du` child off the loop and cached: returns the last known figures (0 until
 * the first measurement) and starts a new measurement when the cached one is
 * older than |max_age| seconds.
 */
struct crid_du_cache;
struct crid_du_cache *crid_du_cache_new(void *loop /* struct crid_loop * */);
void crid_du_cache_get(struct crid_du_cache *c, const char *dir, double max_age, uint64_t *bytes,
		       uint64_t *inodes);
void crid_du_cache_forget(struct crid_du_cache *c, const char *dir);
void crid_du_cache_free(struct crid_du_cache *c);

#endif
