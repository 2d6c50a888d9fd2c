/*
 * Where to fetch a reference from: mirrors first, then the registry itself,
 * each with its TLS settings. Built once at start from crid's config
 * (insecure_registries, [crid.image.registries."HOST"]) and the
 * containers-registries.conf(5) v2 file it names (registries_conf), the same
 * file CRI-O nodes already have:
 *
 *   unqualified-search-registries = ["docker.io"]   # parsed; see below
 *   [[registry]]
 *   prefix = "docker.io/library"    # or "*.example.com"; defaults to location
 *   location = "registry.example.com/lib"
 *   insecure = false
 *   blocked = false
 *   mirror-by-digest-only = false
 *   [[registry.mirror]]
 *   location = "mirror.example.com:5000/lib"
 *   insecure = true
 *   pull-from-mirror = "all"        # or "digest-only", "tag-only"
 *
 * The longest matching prefix wins (containers/image sysregistriesv2).
 * Short names are always completed with docker.io, as CRI-O does for kubelet
 * (kubelet passes fully qualified names in practice); the search list is
 * kept for cridctl and diagnostics only. Other keys of the file
 * (short-name-mode, aliases, credential-helpers...) are accepted and
 * ignored; registries.conf.d drop-ins are not read.
 */
#ifndef CRID_REGISTRIES_H
#define CRID_REGISTRIES_H

#include <limits.h>
#include <stdbool.h>
#include <stddef.h>

#include "reactor/err.h"
#include "runtime/config/config.h"
#include "runtime/image/image_ref.h"

#define CRID_CERTS_DIR "/etc/containers/certs.d"

struct crid_endpoint {
	char host[CRID_REF_NAME_MAX + 1];     /* registry as named: "docker.io", "m.example:5000" */
	char api_host[CRID_REF_NAME_MAX + 1]; /* where to connect: "registry-1.docker.io" */
	char path[CRID_REF_NAME_MAX + 1];     /* repository on that host, after prefix rewrites */
	bool insecure;			      /* plain HTTP allowed, TLS verification off */
	bool loopback; /* localhost, 127.0.0.0/8 or ::1: plain HTTP when TLS is not spoken */
	bool mirror;
	char ca_file[PATH_MAX]; /* extra CA bundle, "" = system trust store only */
};

struct crid_endpoint_list {
	struct crid_endpoint *v;
	size_t n;
};

struct crid_registries;

/*
 * Copies what it needs from |cfg| and parses cfg->registries_conf when set.
 * Errors name the file as "PATH:LINE:COL: ...". Free with crid_registries_free.
 */
int crid_registries_load(struct crid_registries **out, const struct crid_config *cfg,
			 struct crid_err *err);

/* Same with the registries.conf text given in memory (|name| in messages); |cfg| may be NULL. */
int crid_registries_load_buffer(struct crid_registries **out, const struct crid_config *cfg,
				const char *name, const char *buf, size_t len,
				struct crid_err *err);

void crid_registries_free(struct crid_registries *regs);

/* Tests: look for <dir>/<host[:port]>/ca.crt instead of CRID_CERTS_DIR. */
int crid_registries_set_certs_dir(struct crid_registries *regs, const char *dir,
				  struct crid_err *err);

/* unqualified-search-registries from the file (empty when none). */
const struct crid_strv *crid_registries_search(const struct crid_registries *regs);

/*
 * The endpoints to try for |ref| (a CRID_REF_NAMED), in order. |out| is
 * overwritten; free it with crid_endpoint_list_free. EPERM when the
 * registry is blocked, EINVAL when a rewrite gives an invalid reference.
 */
int crid_registries_resolve(const struct crid_registries *regs, const struct crid_image_ref *ref,
			    struct crid_endpoint_list *out, struct crid_err *err);

void crid_endpoint_list_free(struct crid_endpoint_list *list);

#endif
