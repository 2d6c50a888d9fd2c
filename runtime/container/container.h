/*
 * Container records and their store: one JSON file per container under
 * `<root>/containers/<id>.json`, written crash-safely at every state change;
 * the container's bundle (config.json, stdio FIFOs, pid file) lives under
 * `<runroot>/containers/<id>/` and its writable layer and mounted root under
 * `<root>/containers/<id>/` ({upper,work,rootfs}).
 */
#ifndef CRID_CONTAINER_H
#define CRID_CONTAINER_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <sys/types.h>

#include "reactor/err.h"
#include "runtime/oci/oci_spec.h"
#include "runtime/state/records.h"

/* As the CRI's ContainerState, plus a container still being created. */
enum crid_ctr_state {
	CRID_CTR_CREATED = 0,
	CRID_CTR_RUNNING = 1,
	CRID_CTR_EXITED = 2,
	CRID_CTR_UNKNOWN = 3,
	CRID_CTR_CREATING = 4, /* CreateContainer has not answered yet */
};

struct crid_ctr_op;
struct crid_cri_log;
struct crid_ctr_attach;
struct crid_ctr_exec;

struct crid_container {
	char id[CRID_ID_LEN + 1];
	char sandbox_id[CRID_ID_LEN + 1];
	char *name;
	uint32_t attempt;
	char *image;	       /* as the request named it */
	char *image_ref;       /* the image id, sha256:<hex> */
	char *runtime_handler; /* resolved: "runc", "crun" */
	enum crid_ctr_state state;
	int64_t created_at, started_at, finished_at; /* ns since the epoch, 0 = not yet */
	int32_t exit_code;
	char *reason;  /* "Completed", "Error", "OOMKilled", "Unknown", "" */
	char *message; /* "" */
	struct crid_kvs labels, annotations;
	char *log_path; /* absolute; "" when the pod has no log directory */
	pid_t pid;	/* the init process, 0 before create */
	int stop_signal;
	struct crid_ctr_user user;
	char *cgroups_path;
	bool tty, stdin, stdin_once;
	uint8_t *config; /* the encoded ContainerConfig as kubelet sent it */
	size_t config_len;
	uint8_t *resources; /* encoded LinuxContainerResources after the last update, or NULL */
	size_t resources_len;

	/* In memory only. */
	int pidfd;	    /* -1 when not tracked */
	bool is_child;	    /* our child (exit status by waitid) or adopted after a restart */
	int out_fd, err_fd; /* read ends of the stdio FIFOs, -1 when closed */
	int in_fd;	    /* write end of the stdin FIFO, -1 without one or once closed */
	/* deleted from the runtime, root unmounted: a crash only makes remove redo both */
	bool retired;
	struct crid_ctr_attach *taps; /* attach sessions (runtime/container/ctr_stream.c) */
	struct crid_ctr_exec *execs;  /* streaming execs running in it (ctr_stream.c) */
	struct crid_cri_log *log;
	uint8_t *list_entry; /* pre-encoded ListContainers item; freed on every change */
	size_t list_entry_len;
	struct crid_ctr_op *op; /* the operation running on this container */
	void *watch;		/* the exit watcher (runtime/ctr.c) */
	/* The init's executable at create, the runtime's (0 = unknown after a restart): until
	 * the init's exe differs, it has not exec'd the process and stop holds its signal. */
	dev_t runtime_exe_dev;
	ino_t runtime_exe_ino;
};

struct crid_container_store;

int crid_container_store_open(const char *root, const char *runroot,
			      struct crid_container_store **out, struct crid_err *err);

void crid_container_store_close(struct crid_container_store *s);

/* A new record with a fresh id, state CREATING, fds -1; not yet in the store. */
struct crid_container *crid_container_alloc(struct crid_err *err);

void crid_container_free(struct crid_container *c);

/*
 * Adds |c| (takes ownership). EEXIST when (sandbox, name, attempt) is taken,
 * with a message naming the container that holds it.
 */
int crid_container_insert(struct crid_container_store *s, struct crid_container *c,
			  struct crid_err *err);

/* As crid_sandbox_check_size, for a container's record (CreateContainer). */
int crid_container_check_size(const struct crid_container *c, struct crid_err *err);

/* Writes the record and drops the pre-encoded list entry. */
int crid_container_save(struct crid_container_store *s, struct crid_container *c,
			struct crid_err *err);

/* Deletes the record file and frees |c|. */
int crid_container_delete(struct crid_container_store *s, struct crid_container *c,
			  struct crid_err *err);

struct crid_container *crid_container_find(const struct crid_container_store *s, const char *id,
					   bool *ambiguous);

struct crid_container *const *crid_container_list(const struct crid_container_store *s, size_t *n);

/* `<runroot>/containers/<id>` (bundle) and `<root>/containers/<id>` (layer). */
int crid_container_bundle(const struct crid_container_store *s, const struct crid_container *c,
			  char *out, size_t size);
int crid_container_layer(const struct crid_container_store *s, const struct crid_container *c,
			 char *out, size_t size);

/* The dir records live in, and the dir removed layers are moved to (`<root>/containers/trash`). */
const char *crid_container_trash_dir(const struct crid_container_store *s);

#endif
