/* The handlers each CRI area implements, looked up by method name in router.c. */
#ifndef CRID_METHODS_H
#define CRID_METHODS_H

#include "handlers/rpc.h"

/* runtime_info.c */
void crid_handle_version(struct crid_rpc *rpc, const ProtobufCMessage *request);
void crid_handle_status(struct crid_rpc *rpc, const ProtobufCMessage *request);
void crid_handle_runtime_config(struct crid_rpc *rpc, const ProtobufCMessage *request);
void crid_handle_update_runtime_config(struct crid_rpc *rpc, const ProtobufCMessage *request);

/* images.c */
void crid_handle_list_images(struct crid_rpc *rpc, const ProtobufCMessage *request);
void crid_handle_image_status(struct crid_rpc *rpc, const ProtobufCMessage *request);
void crid_handle_remove_image(struct crid_rpc *rpc, const ProtobufCMessage *request);
void crid_handle_image_fs_info(struct crid_rpc *rpc, const ProtobufCMessage *request);

/* checkpoint.c */
void crid_handle_checkpoint_container(struct crid_rpc *rpc, const ProtobufCMessage *request);

/* sandbox.c */
void crid_handle_run_pod_sandbox(struct crid_rpc *rpc, const ProtobufCMessage *request);
void crid_handle_stop_pod_sandbox(struct crid_rpc *rpc, const ProtobufCMessage *request);
void crid_handle_remove_pod_sandbox(struct crid_rpc *rpc, const ProtobufCMessage *request);
void crid_handle_pod_sandbox_status(struct crid_rpc *rpc, const ProtobufCMessage *request);
void crid_handle_list_pod_sandbox(struct crid_rpc *rpc, const ProtobufCMessage *request);
void crid_handle_update_pod_sandbox_resources(struct crid_rpc *rpc,
					      const ProtobufCMessage *request);

/* container.c, container_status.c */
void crid_handle_create_container(struct crid_rpc *rpc, const ProtobufCMessage *request);
void crid_handle_start_container(struct crid_rpc *rpc, const ProtobufCMessage *request);
void crid_handle_stop_container(struct crid_rpc *rpc, const ProtobufCMessage *request);
void crid_handle_remove_container(struct crid_rpc *rpc, const ProtobufCMessage *request);
void crid_handle_update_container_resources(struct crid_rpc *rpc, const ProtobufCMessage *request);
void crid_handle_reopen_container_log(struct crid_rpc *rpc, const ProtobufCMessage *request);
void crid_handle_exec_sync(struct crid_rpc *rpc, const ProtobufCMessage *request);
void crid_handle_container_status(struct crid_rpc *rpc, const ProtobufCMessage *request);
void crid_handle_list_containers(struct crid_rpc *rpc, const ProtobufCMessage *request);

/* stats.c */
void crid_handle_container_stats(struct crid_rpc *rpc, const ProtobufCMessage *request);
void crid_handle_list_container_stats(struct crid_rpc *rpc, const ProtobufCMessage *request);
void crid_handle_pod_sandbox_stats(struct crid_rpc *rpc, const ProtobufCMessage *request);
void crid_handle_list_pod_sandbox_stats(struct crid_rpc *rpc, const ProtobufCMessage *request);

/* streaming.c */
void crid_handle_exec(struct crid_rpc *rpc, const ProtobufCMessage *request);
void crid_handle_attach(struct crid_rpc *rpc, const ProtobufCMessage *request);
void crid_handle_port_forward(struct crid_rpc *rpc, const ProtobufCMessage *request);

/* events.c */
void crid_handle_get_container_events(struct crid_rpc *rpc, const ProtobufCMessage *request);

#endif
