/*
 * The verbose "info" value of ContainerStatus and PodSandboxStatus: one JSON
 * object shaped as containerd's (toCRIContainerInfo / toCRISandboxInfo in
 * its CRI plugin), so `crictl inspect | jq` scripts written for containerd
 * work, plus crid's own keys. Keys crid has no real value for (snapshotter,
 * snapshotKey, the pause image, runtimeOptions) are left out, not faked.
 *
 * Verbose status is an operator's call, not kubelet's: reading config.json
 * back (bounded) is acceptable here and nowhere on a hot path.
 */
#ifndef CRID_HANDLERS_STATUS_INFO_H
#define CRID_HANDLERS_STATUS_INFO_H

#include "handlers/rpc.h"
#include "runtime/container/container.h"
#include "runtime/pod/sandbox.h"

/*
 * Container: sandboxID, pid (the init process; 0 before create), removing,
 * runtimeType (the OCI runtime binary crid drives), config (the CRI
 * ContainerConfig as sent), runtimeSpec (the config.json crid wrote, when it
 * is still there), runtimeHandler, cgroupsPath, tracked. NUL-terminated, in
 * the call's arena; NULL when out of memory.
 */
char *crid_status_info_container(struct crid_rpc *rpc, const struct crid_container *c);

/*
 * Pod: pid (the PID namespace holder, 0 when the pod has none: there is no
 * pause process), netNamespaceClosed, runtimeHandler, config (the CRI
 * PodSandboxConfig), cniResult (the CNI ADD result as an object), and crid's
 * hostname, cgroupParent, logDirectory, network, namespaces. Arena-owned.
 */
char *crid_status_info_sandbox(struct crid_rpc *rpc, const struct crid_sandbox *sb);

/*
 * The verbose reply's info map {"info": |value|}: a one-entry array of map
 * entries of |desc| (ContainerStatusResponse's or PodSandboxStatusResponse's
 * InfoEntry), in the arena. NULL when out of memory, |value| NULL included.
 */
void *crid_status_info_map(struct crid_rpc *rpc, const ProtobufCMessageDescriptor *desc,
			   char *value);

#endif
