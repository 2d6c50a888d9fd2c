/*
 * Room runtime/cni/: pod networking through CNI plugins — config files
 * (cni_conf.c), network readiness (cni_status.c) and ADD/DEL on the loop (this
 * file). Knows no pod store; calls config/ and reactor/.
 *
 * CNI for pods: runs a network configuration's plugins as child processes on
 * the loop (ADD in chain order with prevResult threaded through, DEL in
 * reverse order), their config JSON on stdin, the CNI_* environment, a
 * timeout per operation; parses the final result for the pod's IPs.
 * Spec versions 0.4.0 and 1.0.0 (plain .conf files are wrapped into a list of
 * one plugin, as libcni does).
 *
 * The network configuration used at ADD is kept verbatim by the caller (in
 * the sandbox record) together with the ADD result, so DEL after a restart
 * or a config change tears down exactly what ADD set up.
 */
#ifndef CRID_CNI_H
#define CRID_CNI_H

#include <stdbool.h>
#include <stddef.h>

#include "reactor/loop.h"
#include "runtime/config/config.h"

#define CRID_CNI_MAX_IPS 4
#define CRID_CNI_IP_LEN 64 /* "fd00::1234/64" and friends */

/* One of the pod's port mappings, for the portmap plugin (capability "portMappings"). */
struct crid_cni_port {
	int container_port;
	int host_port;
	const char *protocol; /* "tcp", "udp", "sctp" */
	const char *host_ip;  /* "" = all */
};

/* What CNI needs to know about the pod. Strings are borrowed for the call only. */
struct crid_cni_pod {
	const char *container_id; /* the sandbox id: CNI_CONTAINERID */
	const char *netns;	  /* path of the pinned netns: CNI_NETNS */
	const char *ifname;	  /* "eth0" */
	const char *pod_name;	  /* K8S_POD_NAME in CNI_ARGS */
	const char *pod_namespace;
	const char *pod_uid;
	const struct crid_cni_port *ports;
	size_t n_ports;
	const char *pod_cidr; /* "" = none; given as runtimeConfig.ipRanges where asked for */
	/* kubernetes.io/ingress-bandwidth / egress-bandwidth, bits per second; 0 = unset */
	long long ingress_bps;
	long long egress_bps;
};

/* The part of an ADD result crid keeps. */
struct crid_cni_result {
	char ips[CRID_CNI_MAX_IPS]
		[CRID_CNI_IP_LEN]; /* addresses without prefix length, primary first */
	size_t n_ips;
	char *json; /* the final result, verbatim (crid_free), needed by DEL and CHECK */
};

/*
 * A loaded network configuration: the conflist (or .conf) bytes and where its
 * plugins are. Built from a file or from bytes kept at ADD time.
 */
struct crid_cni_net;

/* Loads |path| (a .conflist, .conf or .json in a CNI config dir). */
int crid_cni_net_load(const char *path, const struct crid_strv *plugin_dirs,
		      struct crid_cni_net **out, struct crid_err *err);

/* Same from bytes (|name| is used in messages). */
int crid_cni_net_parse(const char *name, const char *json, size_t len,
		       const struct crid_strv *plugin_dirs, struct crid_cni_net **out,
		       struct crid_err *err);

/* The conflist as JSON (a .conf is returned as the list crid made of it); owned by |net|. */
const char *crid_cni_net_json(const struct crid_cni_net *net);

/* Its "name". */
const char *crid_cni_net_name(const struct crid_cni_net *net);

void crid_cni_net_free(struct crid_cni_net *net);

/*
 * Called once when the operation ends. On success (|status| 0) |res| is
 * filled for ADD (the callee takes ownership of res->json with
 * crid_cni_result_take_json or frees it via crid_cni_result_clear) and is
 * NULL for DEL. On failure |err| names the plugin and its error message
 * (the CNI error's "msg" and "details", or its stderr).
 */
typedef void (*crid_cni_done_fn)(void *user, int status, struct crid_cni_result *res,
				 const struct crid_err *err);

struct crid_cni_op;

/*
 * Starts CNI ADD of |net| for |pod|; |timeout| (seconds) bounds the whole
 * chain: a plugin still running then is killed and the op fails with
 * ETIMEDOUT. |net| must outlive the op. On a failed ADD nothing is undone
 * here: the caller runs DEL (the spec requires DEL to clean up partial ADDs).
 * Returns NULL with |err| set when it cannot start (no plugin, no memory).
 */
struct crid_cni_op *crid_cni_add(struct crid_loop *loop, const struct crid_cni_net *net,
				 const struct crid_cni_pod *pod, double timeout,
				 crid_cni_done_fn done, void *user, struct crid_err *err);

/*
 * Starts CNI DEL, plugins in reverse order; |prev_result| is the JSON of the
 * ADD result (NULL when ADD never finished). A missing netns is not an error
 * (the spec asks plugins to tolerate it; CNI_NETNS is then left empty).
 */
struct crid_cni_op *crid_cni_del(struct crid_loop *loop, const struct crid_cni_net *net,
				 const struct crid_cni_pod *pod, const char *prev_result,
				 double timeout, crid_cni_done_fn done, void *user,
				 struct crid_err *err);

/* Kills the running plugin and frees the op; |done| is not called. */
void crid_cni_op_cancel(struct crid_cni_op *op);

/* Hands res->json over to the caller (crid_free it) and leaves NULL in its place. */
char *crid_cni_result_take_json(struct crid_cni_result *res);

/* Frees res->json and zeroes |res|. */
void crid_cni_result_clear(struct crid_cni_result *res);

/*
 * Reads the pod's IPs out of an ADD result |json| (|len| bytes, NUL at
 * json[len], no NUL before) the way a finished ADD does; res->json is left
 * NULL. Returns -1 when it is not a JSON object within the depth cap (what
 * ADD refuses from a plugin and DEL drops from a record). For tests and fuzzing.
 */
int crid_cni_result_parse(const char *json, size_t len, struct crid_cni_result *res);

#endif
