/*
 * The files a pod's containers share: hostname, resolv.conf and hosts
 * (bind-mounted into every container later), and the pod's /dev/shm tmpfs.
 * Small, bounded writes: safe on the loop.
 *
 *   <dir>/hostname  <dir>/resolv.conf  <dir>/hosts  <dir>/shm/
 */
#ifndef CRID_POD_FILES_H
#define CRID_POD_FILES_H

#include <stdbool.h>
#include <stddef.h>

#include "reactor/err.h"

struct crid_pod_dns {
	const char *const *servers; /* IPv4/IPv6 literals */
	size_t n_servers;
	const char *const *searches;
	size_t n_searches;
	const char *const *options; /* "ndots:5", "edns0" */
	size_t n_options;
};

struct crid_pod_files_spec {
	const char *dir;		/* created if missing; absolute */
	const char *hostname;		/* pod hostname (host's own when host network) */
	const struct crid_pod_dns *dns; /* NULL or all empty = copy the host's /etc/resolv.conf */
	const char *const *ips;		/* the pod's IPs, for /etc/hosts */
	size_t n_ips;
	bool host_network; /* hosts = a copy of the host's /etc/hosts */
	long long
	    shm_size; /* bytes of the /dev/shm tmpfs; 0 = 64 MiB (CRI-O's default); <0 = none */
};

/*
 * Validates DNS config as CRI-O would refuse it: servers must be IP literals,
 * searches and options non-empty without whitespace or '#', options of the
 * form NAME or NAME:VALUE; at most 32 searches and 256 bytes in each.
 * EINVAL with a message naming the field ("dns_config.servers[1]: ...").
 */
int crid_pod_dns_check(const struct crid_pod_dns *dns, struct crid_err *err);

/* Validates a hostname (RFC 1123, at most 64 bytes; "" is allowed). */
int crid_pod_hostname_check(const char *hostname, struct crid_err *err);

/* Writes hostname, resolv.conf and hosts, crash-safely, and mounts shm. */
int crid_pod_files_create(const struct crid_pod_files_spec *spec, struct crid_err *err);

/*
 * Rewrites <dir>/hosts once the pod's IPs are known (CNI ADD comes after the
 * files): "127.0.0.1 localhost", "::1 localhost ...", then "IP hostname".
 */
int crid_pod_files_write_hosts(const char *dir, const char *hostname, const char *const *ips,
			       size_t n_ips, bool host_network, struct crid_err *err);

/* Unmounts shm (MNT_DETACH) and removes the files and |dir|. Idempotent. */
int crid_pod_files_remove(const char *dir, struct crid_err *err);

#endif
