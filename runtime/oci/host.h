/*
 * What this host supports, detected once at startup: the cgroup layout, our
 * effective capabilities, and which configured OCI runtimes can actually run
 * here. Cheap by design: statfs/stat and small /proc and /sys reads, no
 * subprocess.
 */
#ifndef CRID_HOST_H
#define CRID_HOST_H

#include <limits.h>
#include <stdbool.h>
#include <stddef.h>

#include "reactor/err.h"
#include "runtime/config/config.h"
#include "runtime/oci/crun_ns.h"

#define CRID_CGROUP_ROOT "/sys/fs/cgroup"

enum crid_cgroup_mode {
	CRID_CGROUP_V1,	    /* legacy: only cgroup v1 controllers */
	CRID_CGROUP_HYBRID, /* cgroup v1 plus a cgroup2 mount under /sys/fs/cgroup */
	CRID_CGROUP_V2,	    /* unified: /sys/fs/cgroup is cgroup2 */
};

struct crid_host_runtime {
	char *name; /* handler name (owned copy) */
	char *path; /* binary (owned copy) */
	bool usable;
	bool is_crun;  /* the binary, or what it resolves to, is named "crun" */
	char why[256]; /* why not usable; "" when usable */
	int mnt_ns_fd; /* every call runs in this mount namespace (crun_ns.h); -1: the host's */
	const char *hide_mount; /* and create in a fresh one without this (cgroup2_mount) */
};

struct crid_host {
	enum crid_cgroup_mode cgroup_mode;
	char cgroup2_mount[PATH_MAX];	    /* the cgroup2 mount point; "" on v1 */
	char cgroup2_controllers[256];	    /* its cgroup.controllers, e.g. "hugetlb"; "" if none */
	unsigned long long cap_eff;	    /* CapEff of /proc/self/status */
	bool has_cap_sys_resource;	    /* CAP_SYS_RESOURCE (bit 24) in cap_eff */
	int last_cap;			    /* /proc/sys/kernel/cap_last_cap, -1 if unreadable */
	struct crid_host_runtime *runtimes; /* one per configured handler, in config order */
	size_t n_runtimes;
	/* The handler used for RuntimeClass "": points into runtimes[], NULL if none usable. */
	const char *default_runtime;
	/*
	 * "" when the configured default is used as is; otherwise why another
	 * (or none) was chosen: "configured default `crun` unusable: ...; using `runc`",
	 * or, with default_runtime NULL, each handler's reason: "crun: ...; runc: ...".
	 */
	char default_why[512];
	/*
	 * crun on a host it refuses (crun_refuses): crun_ns_needed; crun_in_ns
	 * once crid_host_prepare_crun pinned the namespace (crun_ns.fd), else
	 * crun_ns_why says what failed.
	 */
	bool crun_ns_needed, crun_in_ns;
	struct crid_crun_ns crun_ns;
	char crun_ns_why[512];
	/* cgroup_manager "systemd": runtimes get --systemd-cgroup (set from the config). */
	bool systemd_cgroup;
};

/*
 * Detects everything above for |cfg|'s runtime handlers. Unreadable /proc or
 * /sys files are not errors (v1, no capabilities, last_cap -1); having no
 * usable runtime is not an error either (default_runtime NULL). Fails only
 * when out of memory. Free with crid_host_free(), also after a failure.
 */
int crid_host_detect(struct crid_host *h, const struct crid_config *cfg, struct crid_err *err);

/*
 * When a crun handler is configured and this host makes crun refuse (hybrid,
 * controllers on the cgroup2 side), prepares or reuses the mount namespace
 * without that mount, pinned under |cfg|'s runroot (crun_ns.h; create gets
 * a fresh one per call), and checks the handlers again: crun is
 * then usable and its calls run in the namespace. A failure leaves crun
 * unusable with the reason (and runc the default); it logs what it did once.
 * Mounts and one short child: call at start-up, before the loop runs. Fails
 * only when out of memory.
 */
int crid_host_prepare_crun(struct crid_host *h, const struct crid_config *cfg,
			   struct crid_err *err);

/* "v1", "hybrid", "v2". */
const char *crid_cgroup_mode_name(enum crid_cgroup_mode mode);

void crid_host_free(struct crid_host *h);

/*
 * A JSON object for the Status RPC's verbose info: cgroup layout, capabilities,
 * each handler with usable/reason, the default and why. The caller frees it
 * with crid_free(). NULL when out of memory.
 */
char *crid_host_info_json(const struct crid_host *h);

/* The parts of detection, exposed so tests can feed any layout. */

/*
 * Fills h->cgroup_mode, cgroup2_mount and cgroup2_controllers: |root| (normally
 * CRID_CGROUP_ROOT) being cgroup2 means v2; tmpfs with any cgroup2 mounted
 * under it (per |mountinfo|, normally /proc/self/mountinfo; |root|/unified
 * preferred) means hybrid; anything else, or a failure, v1.
 */
void crid_host_detect_cgroup_at(struct crid_host *h, const char *root, const char *mountinfo);

/*
 * Parses one /proc/PID/mountinfo line: true when it is a cgroup2 mount strictly
 * under |under|, with its (unescaped) mount point copied to |mnt|.
 */
bool crid_host_mountinfo_cgroup2(const char *line, const char *under, char *mnt, size_t size);

/* Finds "CapEff:\t<hex>" in the text of /proc/PID/status. Returns 0 or -1. */
int crid_host_parse_cap_eff(const char *status, unsigned long long *out);

/*
 * Checks each of |cfg|'s handlers against the cgroup layout already in |h|
 * and picks the default (replaces any earlier result). A handler is unusable
 * when its binary is missing, not a regular file or not executable, or when it
 * is crun (by binary name or resolved binary name) on a hybrid
 * host whose /sys/fs/cgroup/unified has controllers: crun refuses those with
 * "cgroups in hybrid mode not supported" (libcrun_cgroup_enter). Fails only
 * when out of memory.
 */
int crid_host_check_runtimes(struct crid_host *h, const struct crid_config *cfg,
			     struct crid_err *err);

/*
 * Pure: the index of the handler to use for RuntimeClass "" among |rt|, or -1.
 * The |configured| one when usable; else, when it was crun, a usable handler
 * named "runc" or whose binary is named so; else the first usable in order. |why| is set as described for default_why.
 */
long crid_host_choose_default(const struct crid_host_runtime *rt, size_t n, const char *configured,
			      char *why, size_t why_size);

#endif
