/*
 * A List*Stats or ListPodSandboxMetrics answer built a slice per loop
 * iteration: reading a pod's or container's cgroup files costs tens of
 * microseconds each, so at 100 pods one list held the loop for ~25 ms and
 * every other call (kubelet's relist, ImageFsInfo) queued behind it. The
 * records to list are chosen at the call (by full id); each turn builds and
 * encodes entries for about a millisecond, then lets the loop run; a record
 * gone meanwhile is left out, as if the call came after its removal.
 */
#ifndef CRID_STATS_SPREAD_H
#define CRID_STATS_SPREAD_H

#include <stddef.h>

#include "handlers/rpc.h"

/* How to find one listed record again and build its entry. */
struct crid_stats_spread_kind {
	/* The record of |id| (a full id), or NULL when it is gone. */
	void *(*find)(struct crid_rpc *rpc, const char *id);
	/* Its entry in |rpc|'s arena (reset after each entry); NULL when out of memory. */
	ProtobufCMessage *(*build)(struct crid_rpc *rpc, void *rec);
};

/*
 * Answers |rpc| with the entries of |ids| (|n| full ids, copied) as field 1
 * of the reply, built over successive loop iterations. Answers
 * RESOURCE_EXHAUSTED itself when out of memory.
 */
void crid_stats_spread_start(struct crid_rpc *rpc, const struct crid_stats_spread_kind *kind,
			     const char *const *ids, size_t n);

#endif
