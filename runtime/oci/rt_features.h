/*
 * What each OCI runtime handler really supports, as its `features`
 * subcommand (OCI runtime-spec features.md) and the kernel say: recursive
 * read-only mounts, user namespaces with idmapped mounts, checkpointing.
 * The `features` children run once at startup, off the loop's back (each
 * writes into a memfd read when it exits); until a handler's answer is in,
 * everything about it is false, never guessed.
 */
#ifndef CRID_RT_FEATURES_H
#define CRID_RT_FEATURES_H

#include <stdbool.h>
#include <stddef.h>

#include "reactor/err.h"
#include "reactor/loop.h"
#include "runtime/oci/host.h"

/* The kernel's side, probed once (cheap syscalls and a /proc read). */
struct crid_kernel_features {
	bool mount_setattr; /* mount_setattr(2) with AT_RECURSIVE: Linux 5.12+ */
	bool userns;	    /* /proc/sys/user/max_user_namespaces > 0 */
};

struct crid_rt_features {
	bool probed;	 /* `<runtime> features` answered (successfully or not) */
	bool rro;	 /* "rro" in mountOptions, and the kernel has mount_setattr */
	bool userns;	 /* "user" namespace, mountExtensions.idmap.enabled, kernel userns */
	bool checkpoint; /* annotation org.opencontainers.runc.checkpoint.enabled "true" */
	char why[160];	 /* why the probe gave nothing: "" when it answered */
};

struct crid_rt_probe;

/* Probes the kernel's half (mount_setattr with a bad fd: ENOSYS means absent). */
void crid_kernel_features_detect(struct crid_kernel_features *k);

/*
 * Pure: parses a `features` JSON document |json| (|len| bytes) against the
 * kernel's half |k|. Malformed JSON leaves every feature false and says so
 * in out->why. Always sets out->probed.
 */
void crid_rt_features_parse(const char *json, size_t len, const struct crid_kernel_features *k,
			    struct crid_rt_features *out);

/*
 * Starts `<path> features` for every usable handler of |host|. The returned
 * probe owns the children and the results; NULL when out of memory (the
 * daemon goes on with every feature false). A handler whose child cannot be
 * spawned is probed at once with its reason.
 */
struct crid_rt_probe *crid_rt_probe_start(struct crid_loop *loop, const struct crid_host *host);

/*
 * The features of handler |name| ("" = the default handler). A handler not
 * (yet) probed, or unknown, has every feature false. Never NULL.
 */
const struct crid_rt_features *crid_rt_probe_get(const struct crid_rt_probe *p, const char *name);

/* Kills and reaps children still running, frees everything. NULL is a no-op. */
void crid_rt_probe_free(struct crid_rt_probe *p);

#endif
