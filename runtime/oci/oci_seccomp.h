/*
 * The container's seccomp profile in OCI form: crid's built-in RuntimeDefault
 * (an allowlist in the spirit of Docker's default profile) or a JSON profile
 * file (OCI or Docker format, Docker's includes/excludes evaluated here), with
 * syscall names checked against libseccomp for the profile's architectures.
 */
#ifndef CRID_OCI_SECCOMP_H
#define CRID_OCI_SECCOMP_H

#include <stdbool.h>
#include <stdint.h>
#include <yajl/yajl_gen.h>
#include <yajl/yajl_tree.h>

#include "reactor/err.h"

struct crid_oci_seccomp {
	bool builtin;  /* crid's RuntimeDefault */
	yajl_val tree; /* a loaded profile file, or NULL */
};

/* The built-in profile (|path| NULL) or the file |path|, checked. |field| names it in errors. */
int crid_oci_seccomp_load(struct crid_oci_seccomp *s, const char *path, const char *field,
			  struct crid_err *err);

/* Writes the linux.seccomp object for a process holding the capabilities |caps| (bit per cap). */
void crid_oci_seccomp_gen(yajl_gen g, const struct crid_oci_seccomp *s, uint64_t caps);

/* The number of capability |name| ("NET_RAW", "CAP_NET_RAW", any case) per libcap, or -1. */
int crid_oci_cap_parse(const char *name);

void crid_oci_seccomp_free(struct crid_oci_seccomp *s);

#endif
