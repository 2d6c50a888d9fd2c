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
#include "reactor/loop.h"
#include "runtime/oci/host.h"

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

/*
 * The cgroup's path relative to a controller's mount (always starting with
 * '/') for a cgroupsPath: cgroupfs paths as they are, a bare slice name
 * (a pod's cgroup_parent under systemd) expanded as below, systemd's
 * "slice:prefix:name" as runc places it: the slice expanded into nested
 * slices ("kubepods-burstable.slice" -> "/kubepods.slice/
 * kubepods-burstable.slice", "" -> system.slice, "-.slice" -> the root), then
 * "prefix-name.scope", or "name" when it ends with ".slice". EINVAL for a
 * malformed path or a ".." component, ENAMETOOLONG when it does not fit.
 */
int crid_cgroup_path_expand(const char *path, char *out, size_t size, struct crid_err *err);

/*
 * Whether a pod's |parent| cgroup suits the cgroup manager: anything for
 * cgroupfs (|systemd| false) and "" for either; with |systemd| a slice name
 * ("kubepods-besteffort-pod1.slice", no '/'), as kubelet's systemd driver
 * gives. EINVAL naming cgroup_parent otherwise.
 */
int crid_cgroup_parent_check(bool systemd, const char *parent, struct crid_err *err);

/*
 * The cgroupsPath crid gives the OCI runtime for container |id| of a pod with
 * cgroup_parent |parent| ("" = none), CRI-O's forms: with |systemd|
 * "<slice>:crid:<id>" (the runtime, run with --systemd-cgroup, asks systemd
 * for crid-<id>.scope in that slice; "" -> system.slice), otherwise
 * "<parent>/crid-<id>" ("/crid" without a parent). *|out| is crid_malloc'd,
 * the caller's. EINVAL from crid_cgroup_parent_check, ENOMEM.
 */
int crid_cgroup_path_format(bool systemd, const char *parent, const char *id, char **out,
			    struct crid_err *err);

/*
 * crid_cgroup_stats_read() and crid_cgroup_oom_killed() against any tree:
 * |root| holds the v1 controller directories (cpuacct, memory, pids) for
 * CRID_CGROUP_V1 and CRID_CGROUP_HYBRID, or is the cgroup2 mount for
 * CRID_CGROUP_V2. For tests on fixture trees.
 */
int crid_cgroup_stats_read_at(const char *root, enum crid_cgroup_mode mode, const char *path,
			      struct crid_cgroup_stats *out, struct crid_err *err);
bool crid_cgroup_oom_killed_at(const char *root, enum crid_cgroup_mode mode, const char *path);

struct crid_net_stats {
	char name[16];
	uint64_t rx_bytes, rx_errors, tx_bytes, tx_errors;
	uint64_t rx_packets, rx_dropped, tx_packets, tx_dropped;
};

/*
 * The interfaces of the network namespace pinned at |netns| (except lo):
 * setns in, read /proc/self/net/dev, setns back (legal in a single-threaded
 * process). At most |max| entries; *n set.
 */
int crid_netns_stats(const char *netns, struct crid_net_stats *out, size_t max, size_t *n,
		     struct crid_err *err);

/* Parses the text of /proc/net/dev into |out| (lo and malformed lines skipped). Returns *n. */
size_t crid_netdev_parse(const char *text, struct crid_net_stats *out, size_t max, size_t *n);

/*
 * Bytes and inodes under |dir| (a container's writable layer), computed by a
 * `du` child off the loop and cached: returns the last known figures (0 until
 * the first measurement) and starts a new measurement when the cached one is
 * older than |max_age| seconds (loop time). Bytes are disk usage (`du -s -B1
 * -x`, what kubelet reports as the writable layer's used bytes), inodes
 * `du -s -x --inodes`. At most one measurement per dir is in flight, and at
 * most four du children run at once (the rest wait in order); a measurement
 * running longer than two minutes is killed. NULL from _new when out of memory.
 * crid_du_cache_forget() drops |dir| (killing its measurement);
 * crid_du_cache_free() kills every measurement in flight and reaps it.
 */
struct crid_du_cache;
struct crid_du_cache *crid_du_cache_new(struct crid_loop *loop);
void crid_du_cache_get(struct crid_du_cache *c, const char *dir, double max_age, uint64_t *bytes,
		       uint64_t *inodes);
void crid_du_cache_forget(struct crid_du_cache *c, const char *dir);

/*
 * As crid_du_cache_get(), and true once |dir| had a successful byte
 * measurement: until then the figures are "not known yet", not zeros.
 */
bool crid_du_cache_get_known(struct crid_du_cache *c, const char *dir, double max_age,
			     uint64_t *bytes, uint64_t *inodes);
void crid_du_cache_free(struct crid_du_cache *c);

#endif
