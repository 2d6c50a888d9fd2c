/*
 * ListMetricDescriptors, ListPodSandboxMetrics: the cAdvisor-named metrics
 * kubelet's PodAndContainerStatsFromCRI path turns into /metrics/cadvisor.
 */
#ifndef CRID_HANDLERS_METRICS_H
#define CRID_HANDLERS_METRICS_H

#include "handlers/rpc.h"

/* Every metric crid fills, with its help text and label keys; the same list on every call. */
void crid_handle_list_metric_descriptors(struct crid_rpc *rpc, const ProtobufCMessage *request);

/*
 * One PodSandboxMetrics per ready pod: the pod's network counters per
 * interface and its cgroup parent's figures (labels id, "POD", ""), then one
 * ContainerMetrics per running container (labels id, name, image).
 */
void crid_handle_list_pod_sandbox_metrics(struct crid_rpc *rpc, const ProtobufCMessage *request);

/*
 * The same entries as ListPodSandboxMetrics, streamed (handlers/list_stream.h):
 * the ready pods are decided at the call, each pod's figures read when its
 * turn comes, a pod removed in between is skipped.
 */
void crid_handle_stream_pod_sandbox_metrics(struct crid_rpc *rpc, const ProtobufCMessage *request);

#endif
