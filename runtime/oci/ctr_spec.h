/*
 * What a CRI CreateContainer asks for, in runtime terms (no protobuf): the
 * handler translates the ContainerConfig into this, runtime/oci/oci_spec.c turns
 * it (with the pod and the image) into the OCI runtime's config.json.
 * Every pointer is borrowed for the duration of the call that takes it.
 */
#ifndef CRID_CTR_SPEC_H
#define CRID_CTR_SPEC_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

/* The user the container's process runs as, as ContainerStatus.user reports it. */
struct crid_ctr_user {
	uint32_t uid, gid;
	uint32_t additional_gids[64];
	size_t n_additional_gids;
};

/* As the CRI's NamespaceMode. */
enum crid_ns_mode {
	CRID_NS_POD = 0,
	CRID_NS_CONTAINER = 1,
	CRID_NS_NODE = 2,
	CRID_NS_TARGET = 3,
};

/* As the CRI's MountPropagation. */
enum crid_propagation {
	CRID_PROPAGATION_PRIVATE = 0,
	CRID_PROPAGATION_HOST_TO_CONTAINER = 1, /* rslave */
	CRID_PROPAGATION_BIDIRECTIONAL = 2,	/* rshared */
};

struct crid_ctr_mount {
	const char *container_path;
	const char *host_path;
	bool readonly;
	bool recursive_readonly;
	bool selinux_relabel; /* ignored (no SELinux here), logged once */
	enum crid_propagation propagation;
	bool image_volume; /* an image volume mount (CRI `image`): refused clearly for now */
};

struct crid_ctr_device {
	const char *container_path;
	const char *host_path;
	const char *permissions; /* "rwm" */
};

struct crid_ctr_env {
	const char *key;
	const char *value; /* any bytes but NUL */
};

enum crid_seccomp_kind {
	CRID_SECCOMP_UNSET = 0, /* as the CRI defines it: Unconfined */
	CRID_SECCOMP_RUNTIME_DEFAULT,
	CRID_SECCOMP_UNCONFINED,
	CRID_SECCOMP_LOCALHOST, /* a JSON profile file on the node */
};

struct crid_hugepage_limit {
	const char *page_size; /* "2MB", "1GB" */
	uint64_t limit;
};

struct crid_ctr_resources {
	int64_t cpu_period, cpu_quota, cpu_shares;
	int64_t memory_limit;	   /* bytes, 0 = none */
	int64_t memory_swap_limit; /* bytes, 0 = none */
	int64_t oom_score_adj;
	const char *cpuset_cpus, *cpuset_mems;
	const struct crid_hugepage_limit *hugepages;
	size_t n_hugepages;
	const struct crid_ctr_env *unified; /* cgroup v2 unified keys */
	size_t n_unified;
};

/* As the CRI's SupplementalGroupsPolicy. */
enum crid_groups_policy {
	CRID_GROUPS_MERGE = 0,
	CRID_GROUPS_STRICT = 1,
};

struct crid_ctr_security {
	bool privileged;
	bool readonly_rootfs;
	bool no_new_privs;
	bool has_run_as_user, has_run_as_group;
	int64_t run_as_user, run_as_group;
	const char *run_as_username; /* "" = none */
	const int64_t *supplemental_groups;
	size_t n_supplemental_groups;
	enum crid_groups_policy groups_policy;
	const char *const *cap_add; /* "NET_ADMIN", "CAP_NET_ADMIN", "ALL" */
	size_t n_cap_add;
	const char *const *cap_drop;
	size_t n_cap_drop;
	enum crid_seccomp_kind seccomp;
	const char *seccomp_localhost;	 /* absolute path when LOCALHOST */
	const char *apparmor_profile;	 /* "" = none/runtime default; anything else refused here */
	const char *const *masked_paths; /* NULL = the defaults; empty array = none */
	size_t n_masked_paths;
	bool masked_paths_set;
	const char *const *readonly_paths;
	size_t n_readonly_paths;
	bool readonly_paths_set;
	int pid_mode;		       /* enum crid_ns_mode: POD, CONTAINER, NODE, TARGET */
	const char *pid_target_pid_ns; /* with TARGET: the target container's /proc/<pid>/ns/pid */
};

/* The pod a container joins: what runtime/oci_spec.c takes from the sandbox. */
struct crid_ctr_pod {
	const char *id;
	const char *hostname;
	const char *cgroup_parent;		   /* "" = none */
	const char *netns, *ipcns, *utsns, *pidns; /* pinned paths; "" = the host's */
	bool host_network, host_ipc, host_pid;
	const char *hosts_file, *resolv_file, *hostname_file; /* bind-mounted; "" = none */
	const char *shm_dir;				      /* mounted at /dev/shm; "" = none */
	const char *const *sysctls;			      /* "k=v" of the pod */
	size_t n_sysctls;
};

struct crid_ctr_spec {
	const char *id;	  /* the container id */
	const char *name; /* metadata.name */
	const char *const *command;
	size_t n_command;
	const char *const *args;
	size_t n_args;
	const char *working_dir;
	const struct crid_ctr_env *envs;
	size_t n_envs;
	const struct crid_ctr_mount *mounts;
	size_t n_mounts;
	const struct crid_ctr_device *devices;
	size_t n_devices;
	const struct crid_ctr_env *annotations; /* passed through to the OCI spec */
	size_t n_annotations;
	bool tty, stdin, stdin_once;
	int stop_signal; /* 0 = from the image config, else SIGTERM */
	struct crid_ctr_resources resources;
	struct crid_ctr_security security;
};

#endif
