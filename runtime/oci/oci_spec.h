/*
 * The OCI runtime spec (config.json) of a container, written with yajl from
 * the CRI request (runtime/ctr_spec.h), the pod and the image config:
 * process (args from the image's Entrypoint/Cmd overridden by command/args
 * as Kubernetes defines, env merged over the image's, cwd, user resolved
 * from the image's /etc/passwd and /etc/group, capabilities, rlimits,
 * no_new_privs, oom_score_adj), root, hostname, mounts (the defaults as
 * CRI-O has them, /dev/shm, the pod's hosts/resolv.conf/hostname, the
 * request's binds with their propagation), linux (namespaces by path,
 * devices, masked and readonly paths, seccomp, sysctls, resources,
 * cgroupsPath under the pod's parent), annotations.
 */
#ifndef CRID_OCI_SPEC_H
#define CRID_OCI_SPEC_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "reactor/err.h"
#include "runtime/config/config.h"
#include "runtime/oci/ctr_spec.h"
#include "runtime/oci/host.h"

struct crid_oci_input {
	const struct crid_ctr_spec *spec;
	const struct crid_ctr_pod *pod;
	const char *image_config; /* the image config JSON, verbatim */
	const char *rootfs;	  /* the container's mounted root (its /etc/passwd is read) */
	const char *cgroups_path; /* e.g. "/kubepods/podX/crid-<id>" (cgroupfs) */
	const struct crid_host *host;
	const struct crid_config *cfg; /* default capabilities, seccomp profile */
};

struct crid_oci_spec {
	char *json; /* config.json (crid_free) */
	size_t len;
	struct crid_ctr_user user;
	int stop_signal; /* from the request, else the image's StopSignal, else SIGTERM */
};

/*
 * Builds the spec. Bad input fails with EINVAL and a message naming the CRI
 * field ("linux.security_context.capabilities.add_capabilities[0]: unknown
 * capability `CAP_FOO`"); a user name not in the image with ENOENT; a missing
 * Localhost seccomp profile with ENOENT naming the path.
 */
int crid_oci_spec_build(const struct crid_oci_input *in, struct crid_oci_spec *out,
			struct crid_err *err);

void crid_oci_spec_free(struct crid_oci_spec *s);

/* The process object alone (for `runtime exec --process`): |argv| in the container's env/user/cwd. */
int crid_oci_spec_exec_process(const char *config_json, const char *const *argv, size_t argc,
			       bool tty, char **out, size_t *len, struct crid_err *err);

/* The same with the terminal's first size (`consoleSize`; 0 = none given: 80x24). */
int crid_oci_spec_exec_process_sized(const char *config_json, const char *const *argv, size_t argc,
				     bool tty, uint16_t width, uint16_t height, char **out,
				     size_t *len, struct crid_err *err);

#endif
