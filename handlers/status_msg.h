/*
 * The CRI messages built from the records, in one place: ContainerStatus and
 * PodSandboxStatus (for ContainerStatus, PodSandboxStatus with its container
 * list, and GetContainerEvents) and the pre-encoded ListContainers and
 * ListPodSandbox items. Reads runtime/ records only; calls no handler.
 * Everything built points into the record or the call's arena.
 */
#ifndef CRID_HANDLERS_STATUS_MSG_H
#define CRID_HANDLERS_STATUS_MSG_H

#include "handlers/rpc.h"
#include "proto/api.pb-c.h"
#include "runtime/container/ctr.h"
#include "runtime/pod/sandbox.h"

/*
 * Map entries (labels, annotations) of |kvs| as generated map<string,string>
 * entries of |desc|, borrowing the strings, in |a|. NULL when out of memory.
 */
void *crid_status_msg_kv_entries(struct crid_arena *a, const struct crid_kvs *kvs,
				 const ProtobufCMessageDescriptor *desc);

/* The CRI state of a container state (CREATING shows as UNKNOWN; it is never listed). */
Runtime__V1__ContainerState crid_status_msg_ctr_state(enum crid_ctr_state s);

/* Fills a ContainerStatus of |c|; -1 when out of memory. */
int crid_status_msg_container(struct crid_rpc *rpc, const struct crid_container *c,
			      Runtime__V1__ContainerStatus *st);

/* Fills a PodSandboxStatus of |sb|; -1 when out of memory. */
int crid_status_msg_sandbox(struct crid_rpc *rpc, const struct crid_sandbox *sb,
			    Runtime__V1__PodSandboxStatus *st);

/*
 * The statuses of |sb|'s containers, as kubelet's evented PLEG reads them with
 * the pod, in *out / *n (arena). -1 when out of memory.
 */
int crid_status_msg_pod_containers(struct crid_rpc *rpc, const struct crid_sandbox *sb,
				   Runtime__V1__ContainerStatus ***out, size_t *n);

/*
 * A ContainerEventResponse of |type| for |c| with its pod's status, encoded
 * into the arena; *len set. NULL when out of memory.
 */
uint8_t *crid_status_msg_event(struct crid_rpc *rpc, enum crid_ctr_event type,
			       const struct crid_container *c, size_t *len);

/*
 * Encode the ListContainers item of a struct crid_container |rec| / the
 * ListPodSandbox item of a struct crid_sandbox |rec| (field 1, tag and length
 * included) into a new buffer in *out. -1 when out of memory.
 */
int crid_status_msg_container_item(void *rec, uint8_t **out, size_t *len);
int crid_status_msg_sandbox_item(void *rec, uint8_t **out, size_t *len);

#endif
