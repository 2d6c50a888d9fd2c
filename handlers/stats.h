/*
 * The stats handlers' filters and items (handlers/stats.c), shared with the
 * streamed lists (handlers/list_stream.c) so both answer alike.
 */
#ifndef CRID_HANDLERS_STATS_H
#define CRID_HANDLERS_STATS_H

#include <stdbool.h>

#include "handlers/rpc.h"
#include "proto/api.pb-c.h"
#include "runtime/container/ctr.h"
#include "runtime/pod/sandbox.h"

/* Whether ListContainerStats lists |c| under |filter| (NULL: running containers). */
bool crid_stats_container_listed(const struct crid_container *c,
				 const Runtime__V1__ContainerStatsFilter *filter);

/* |c|'s stats, read now, built in |rpc|'s arena; NULL when out of memory. */
Runtime__V1__ContainerStats *crid_stats_container(struct crid_rpc *rpc, struct crid_container *c);

/* Whether ListPodSandboxStats lists |sb| under |filter| (NULL: ready pods). */
bool crid_stats_pod_listed(const struct crid_sandbox *sb,
			   const Runtime__V1__PodSandboxStatsFilter *filter);

/* |sb|'s stats with its running containers', read now, in |rpc|'s arena; NULL when out of memory. */
Runtime__V1__PodSandboxStats *crid_stats_pod(struct crid_rpc *rpc, struct crid_sandbox *sb);

#endif
