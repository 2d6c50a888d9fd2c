/*
 * Pod sandbox records and their store. A record is what crid knows about one
 * pod: identity, what kubelet asked for, what was set up (pinned namespaces,
 * CNI network and its cached result) and how far an operation got. Each
 * record is one JSON file under `<root>/sandboxes/<id>.json`, written
 * crash-safely at every step, so a restarted daemon can finish or undo what
 * a killed one was doing. The pod's run-time files live under
 * `<runroot>/pods/<id>/` and vanish with a reboot.
 */
#ifndef CRID_SANDBOX_H
#define CRID_SANDBOX_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "reactor/err.h"
#include "runtime/cni/cni.h"
#include "runtime/oci/ctr_spec.h"
#include "runtime/pod/pod_ns.h"
#include "runtime/state/records.h"

/* As the CRI's PodSandboxState, plus the state of a pod still being made. */
enum crid_sandbox_state {
	CRID_SANDBOX_READY = 0,
	CRID_SANDBOX_NOTREADY = 1,
	CRID_SANDBOX_CREATING = 2, /* RunPodSandbox has not answered yet */
};

/* Where the pod's network is; each step is persisted before and after it runs. */
enum crid_sandbox_net {
	CRID_NET_NONE = 0, /* host network, or no CNI ADD started */
	CRID_NET_ADDING,   /* CNI ADD started: a DEL is owed */
	CRID_NET_UP,	   /* CNI ADD done: a DEL is owed */
	CRID_NET_DELETING, /* CNI DEL started, not yet confirmed */
	CRID_NET_RELEASED, /* CNI DEL done: never again */
};

struct crid_sandbox_port {
	int container_port;
	int host_port;
	char protocol[8]; /* "tcp" */
	char host_ip[64];
};

struct crid_sandbox {
	char id[CRID_ID_LEN + 1];
	char *name, *namespace, *uid;
	uint32_t attempt;
	enum crid_sandbox_state state;
	enum crid_sandbox_net net;
	int64_t created_at; /* ns since the epoch */
	char *runtime_handler;
	char *hostname;
	char *log_directory;
	char *cgroup_parent;
	enum crid_ns_mode ns_network, ns_pid, ns_ipc;
	struct crid_kvs labels, annotations;
	struct crid_sandbox_port *ports;
	size_t n_ports;
	struct crid_pod_ns ns; /* pinned namespaces; paths "" when the host's */
	char ips[CRID_CNI_MAX_IPS][CRID_CNI_IP_LEN];
	size_t n_ips;
	char *cni_net;	  /* the network config used at ADD (verbatim), NULL if none */
	char *cni_result; /* the ADD result, NULL until ADD finished */
	uint8_t *config;  /* the encoded PodSandboxConfig as kubelet sent it (for containers) */
	size_t config_len;

	/* In memory only. */
	uint8_t *list_entry; /* pre-encoded ListPodSandbox item; freed on every change */
	size_t list_entry_len;
	struct crid_pod_op
	    *op; /* the operation running on this pod (runtime/pod.h), NULL when idle */
};

struct crid_sandbox_store;
struct crid_pod_op;

/* Opens `<root>/sandboxes` (creating it) and loads every record. Bad files are logged and skipped. */
int crid_sandbox_store_open(const char *root, const char *runroot, struct crid_sandbox_store **out,
			    struct crid_err *err);

void crid_sandbox_store_close(struct crid_sandbox_store *s);

/* A new record with a fresh random id, state CREATING; not yet in the store. */
struct crid_sandbox *crid_sandbox_alloc(struct crid_err *err);

void crid_sandbox_free(struct crid_sandbox *sb);

/*
 * Adds |sb| to the store (takes ownership). Fails with EEXIST when another
 * pod holds the same (name, namespace, uid, attempt): the message names the
 * pod and the id holding it, as kubelet's retry logic expects.
 */
int crid_sandbox_insert(struct crid_sandbox_store *s, struct crid_sandbox *sb,
			struct crid_err *err);

/*
 * At creation, before anything else is made: EMSGSIZE (naming the record's size
 * and the limit) when |sb|'s record would not fit CRID_RECORD_MAX with room
 * to grow, so a pod accepted is a pod that survives a restart.
 */
int crid_sandbox_check_size(const struct crid_sandbox *sb, struct crid_err *err);

/* Writes the record crash-safely and drops its pre-encoded list entry. */
int crid_sandbox_save(struct crid_sandbox_store *s, struct crid_sandbox *sb, struct crid_err *err);

/*
 * Replaces |sb|'s encoded PodSandboxConfig with a copy of |config| and
 * saves the record crash-safely (UpdatePodSandboxResources). On failure
 * |sb| keeps its old config, as the record on disk does.
 */
int crid_sandbox_set_config(struct crid_sandbox_store *s, struct crid_sandbox *sb,
			    const uint8_t *config, size_t len, struct crid_err *err);

/* Deletes the record file and frees |sb|. */
int crid_sandbox_delete(struct crid_sandbox_store *s, struct crid_sandbox *sb,
			struct crid_err *err);

/*
 * Finds a pod by full id or unique id prefix. Returns NULL when none
 * matches; *ambiguous is set when a prefix matches more than one.
 */
struct crid_sandbox *crid_sandbox_find(const struct crid_sandbox_store *s, const char *id,
				       bool *ambiguous);

/* Every record, in creation order; valid until the next insert or delete. */
struct crid_sandbox *const *crid_sandbox_list(const struct crid_sandbox_store *s, size_t *n);

/* `<runroot>/pods/<id>` (files) and `<runroot>/pods/<id>/ns` (pinned namespaces). */
int crid_sandbox_dir(const struct crid_sandbox_store *s, const struct crid_sandbox *sb,
		     const char *sub, char *out, size_t size);

#endif
