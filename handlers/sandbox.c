/*
 * The pod sandbox RPCs: RunPodSandbox, StopPodSandbox, RemovePodSandbox,
 * PodSandboxStatus, ListPodSandbox, UpdatePodSandboxResources (the pod
 * cgroup, runtime/pod/pod_cgroup.h); and the pod state on struct crid_daemon
 * (d->pods). Requests are validated and translated into runtime/pod/pod.h
 * operations here; the status messages and list items are built by
 * handlers/status_msg.c, the verbose info by handlers/status_info.c.
 * ListPodSandbox copies each pod's pre-encoded entry into the reply
 * (handlers/list_reply.c), so kubelet's relist every second costs no
 * allocation per pod.
 */
#include <errno.h>
#include <stddef.h>
#include <stdio.h>
#include <string.h>
#include <time.h>
#include <yajl/yajl_gen.h>

#include "handlers/deferred.h"
#include "handlers/list_reply.h"
#include "handlers/methods.h"
#include "handlers/request_check.h"
#include "handlers/sandbox.h"
#include "handlers/status_info.h"
#include "handlers/status_msg.h"
#include "proto/api.pb-c.h"
#include "reactor/log.h"
#include "reactor/mem.h"
#include "runtime/container/cgroup_stats.h"
#include "runtime/pod/pod.h"
#include "runtime/pod/pod_cgroup.h"

int crid_sandbox_handlers_init(struct crid_daemon *d, struct crid_err *err)
{
	struct crid_pods *pods = crid_calloc(1, sizeof(*pods));

	if (!pods)
		return crid_err_set(err, ENOMEM, "pod sandboxes");
	if (crid_pods_init(pods, d->loop, d->cfg, d->cni, &d->node, err) < 0) {
		crid_free(pods);
		return -1;
	}
	pods->systemd = d->systemd;
	d->pods = pods;
	return 0;
}

void crid_sandbox_handlers_cleanup(struct crid_daemon *d)
{
	if (d->pods)
		crid_pods_cleanup(d->pods);
	crid_free(d->pods);
	d->pods = NULL;
}

static void abandon(void *op, void *user)
{
	crid_pod_op_abandon(op, user);
}

/* ---- RunPodSandbox ---- */

static void run_done(void *user, int status, struct crid_sandbox *sb, const struct crid_err *err)
{
	struct crid_deferred *d = user;

	if (status < 0) {
		crid_rpc_fail(&d->rpc, crid_rpc_status(err->code), "%s", err->msg);
	} else {
		Runtime__V1__RunPodSandboxResponse resp =
		    RUNTIME__V1__RUN_POD_SANDBOX_RESPONSE__INIT;

		resp.pod_sandbox_id = sb->id;
		crid_rpc_reply(&d->rpc, &resp.base);
	}
	crid_deferred_end(d);
}

/* Everything crid_pod_spec borrows, in the call's arena. */
struct run_input {
	struct crid_pod_spec spec;
	struct crid_kvs labels, annotations;
	struct crid_sandbox_port *ports;
	char **sysctls;
};

static const char *protocol_name(Runtime__V1__Protocol p)
{
	return p == RUNTIME__V1__PROTOCOL__UDP	  ? "udp"
	       : p == RUNTIME__V1__PROTOCOL__SCTP ? "sctp"
						  : "tcp";
}

static int check_ports(struct crid_rpc *rpc, const Runtime__V1__PodSandboxConfig *c,
		       struct run_input *in)
{
	in->ports = crid_arena_alloc(&rpc->arena, (c->n_port_mappings + 1) * sizeof(*in->ports));
	if (!in->ports)
		return crid_rpc_fail(rpc, CRID_GRPC_RESOURCE_EXHAUSTED, "out of memory"), -1;
	for (size_t i = 0; i < c->n_port_mappings; i++) {
		const Runtime__V1__PortMapping *m = c->port_mappings[i];
		struct crid_sandbox_port *p = &in->ports[in->spec.n_ports];

		if (m->container_port < 0 || m->container_port > 65535 || m->host_port < 0 ||
		    m->host_port > 65535 || m->protocol > RUNTIME__V1__PROTOCOL__SCTP ||
		    strlen(m->host_ip) >= sizeof(p->host_ip)) {
			crid_rpc_fail(
			    rpc, CRID_GRPC_INVALID_ARGUMENT,
			    "config.port_mappings[%zu]: invalid port, protocol or host_ip", i);
			return -1;
		}
		if (m->host_port == 0)
			continue; /* nothing to map on the host, as CRI-O skips it */
		p->container_port = m->container_port;
		p->host_port = m->host_port;
		snprintf(p->protocol, sizeof(p->protocol), "%s", protocol_name(m->protocol));
		snprintf(p->host_ip, sizeof(p->host_ip), "%s", m->host_ip);
		in->spec.n_ports++;
	}
	in->spec.ports = in->ports;
	return 0;
}

static int check_namespaces(struct crid_rpc *rpc, const Runtime__V1__LinuxPodSandboxConfig *l,
			    struct crid_pod_spec *spec)
{
	const Runtime__V1__NamespaceOption *o =
	    l && l->security_context ? l->security_context->namespace_options : NULL;

	spec->ns_network = spec->ns_pid = spec->ns_ipc = CRID_NS_POD;
	if (!o)
		return 0;
	if (o->network != RUNTIME__V1__NAMESPACE_MODE__POD &&
	    o->network != RUNTIME__V1__NAMESPACE_MODE__NODE) {
		crid_rpc_fail(
		    rpc, CRID_GRPC_INVALID_ARGUMENT,
		    "config.linux.security_context.namespace_options.network: must be POD "
		    "or NODE");
		return -1;
	}
	if (o->ipc != RUNTIME__V1__NAMESPACE_MODE__POD &&
	    o->ipc != RUNTIME__V1__NAMESPACE_MODE__NODE) {
		crid_rpc_fail(rpc, CRID_GRPC_INVALID_ARGUMENT,
			      "config.linux.security_context.namespace_options.ipc: must be POD or "
			      "NODE");
		return -1;
	}
	if (o->pid > RUNTIME__V1__NAMESPACE_MODE__NODE) {
		crid_rpc_fail(rpc, CRID_GRPC_INVALID_ARGUMENT,
			      "config.linux.security_context.namespace_options.pid: must be POD, "
			      "CONTAINER or NODE for a pod");
		return -1;
	}
	if (o->userns_options && o->userns_options->mode != RUNTIME__V1__NAMESPACE_MODE__NODE) {
		crid_rpc_fail(
		    rpc, CRID_GRPC_INVALID_ARGUMENT,
		    "config.linux.security_context.namespace_options.userns_options: user "
		    "namespaces are not supported by crid yet");
		return -1;
	}
	spec->ns_network = (enum crid_ns_mode)o->network;
	spec->ns_pid = (enum crid_ns_mode)o->pid;
	spec->ns_ipc = (enum crid_ns_mode)o->ipc;
	return 0;
}

static int check_sysctls(struct crid_rpc *rpc, const Runtime__V1__LinuxPodSandboxConfig *l,
			 struct run_input *in)
{
	size_t n = l ? l->n_sysctls : 0;
	struct crid_err err;

	in->sysctls = crid_arena_alloc(&rpc->arena, (n + 1) * sizeof(char *));
	if (!in->sysctls)
		return crid_rpc_fail(rpc, CRID_GRPC_RESOURCE_EXHAUSTED, "out of memory"), -1;
	for (size_t i = 0; i < n; i++) {
		const char *k = l->sysctls[i]->key, *v = l->sysctls[i]->value;
		size_t len = strlen(k) + strlen(v) + 2;

		if (crid_pod_ns_check_sysctl(k, v, in->spec.ns_network == CRID_NS_POD,
					     in->spec.ns_ipc == CRID_NS_POD, &err) < 0) {
			crid_rpc_fail(rpc, CRID_GRPC_INVALID_ARGUMENT, "config.linux.sysctls: %s",
				      err.msg);
			return -1;
		}
		in->sysctls[i] = crid_arena_alloc(&rpc->arena, len);
		if (!in->sysctls[i])
			return crid_rpc_fail(rpc, CRID_GRPC_RESOURCE_EXHAUSTED, "out of memory"),
			       -1;
		snprintf(in->sysctls[i], len, "%s=%s", k, v);
	}
	in->spec.sysctls = (const char *const *)in->sysctls;
	in->spec.n_sysctls = n;
	return 0;
}

static int check_dns(struct crid_rpc *rpc, const Runtime__V1__DNSConfig *d,
		     struct crid_pod_spec *spec)
{
	struct crid_err err;

	if (!d)
		return 0;
	spec->dns.servers = (const char *const *)d->servers;
	spec->dns.n_servers = d->n_servers;
	spec->dns.searches = (const char *const *)d->searches;
	spec->dns.n_searches = d->n_searches;
	spec->dns.options = (const char *const *)d->options;
	spec->dns.n_options = d->n_options;
	if (crid_pod_dns_check(&spec->dns, &err) < 0) {
		crid_rpc_fail(rpc, CRID_GRPC_INVALID_ARGUMENT, "config.%s", err.msg);
		return -1;
	}
	return 0;
}

static int check_identity(struct crid_rpc *rpc, const Runtime__V1__RunPodSandboxRequest *req,
			  struct crid_pod_spec *spec)
{
	const Runtime__V1__PodSandboxConfig *c = req->config;
	const Runtime__V1__PodSandboxMetadata *m = c ? c->metadata : NULL;
	const struct crid_host *host = rpc->d->host;
	const char *handler = req->runtime_handler[0] ? req->runtime_handler : NULL;
	struct crid_err err;

	if (!c)
		return crid_rpc_fail(rpc, CRID_GRPC_INVALID_ARGUMENT, "config: must be set"), -1;
	if (!m)
		return crid_rpc_fail(rpc, CRID_GRPC_INVALID_ARGUMENT,
				     "config.metadata: must be set"),
		       -1;
	if (!m->name[0] || !m->namespace_[0]) {
		crid_rpc_fail(rpc, CRID_GRPC_INVALID_ARGUMENT,
			      "config.metadata.%s: must not be empty",
			      m->name[0] ? "namespace" : "name");
		return -1;
	}
	if (handler && !crid_config_find_runtime(rpc->d->cfg, handler)) {
		crid_rpc_fail(rpc, CRID_GRPC_INVALID_ARGUMENT,
			      "runtime_handler: `%s` is not configured", handler);
		return -1;
	}
	if (!handler && !host->default_runtime) {
		crid_rpc_fail(rpc, CRID_GRPC_FAILED_PRECONDITION, "no usable OCI runtime: %s",
			      host->default_why);
		return -1;
	}
	if (crid_pod_hostname_check(c->hostname, &err) < 0) {
		crid_rpc_fail(rpc, CRID_GRPC_INVALID_ARGUMENT, "config.hostname: %s", err.msg);
		return -1;
	}
	if (c->log_directory[0] && (c->log_directory[0] != '/' || strstr(c->log_directory, ".."))) {
		crid_rpc_fail(rpc, CRID_GRPC_INVALID_ARGUMENT,
			      "config.log_directory: `%s` must be an absolute path without `..`",
			      c->log_directory);
		return -1;
	}
	if (c->linux &&
	    crid_cgroup_parent_check(host->systemd_cgroup, c->linux->cgroup_parent, &err) < 0) {
		crid_rpc_fail(rpc, CRID_GRPC_INVALID_ARGUMENT, "config.linux.%s", err.msg);
		return -1;
	}
	spec->name = m->name;
	spec->namespace = m->namespace_;
	spec->uid = m->uid;
	spec->attempt = m->attempt;
	spec->hostname = c->hostname;
	spec->log_directory = c->log_directory;
	spec->cgroup_parent = c->linux ? c->linux->cgroup_parent : "";
	/* kept as asked: "" means the default, which crictl shows as "(default)" */
	spec->runtime_handler = req->runtime_handler;
	return 0;
}

static int translate(struct crid_rpc *rpc, const Runtime__V1__RunPodSandboxRequest *req,
		     struct run_input *in)
{
	const Runtime__V1__PodSandboxConfig *c;
	size_t len;

	memset(in, 0, sizeof(*in));
	if (check_identity(rpc, req, &in->spec) < 0)
		return -1;
	c = req->config;
	if (check_namespaces(rpc, c->linux, &in->spec) < 0 ||
	    check_sysctls(rpc, c->linux, in) < 0 || check_dns(rpc, c->dns_config, &in->spec) < 0 ||
	    check_ports(rpc, c, in) < 0)
		return -1;
	len = protobuf_c_message_get_packed_size(&c->base);
	in->spec.config = crid_arena_alloc(&rpc->arena, len + 1);
	if (!in->spec.config ||
	    crid_rpc_view_kvs(rpc, &in->labels, c->n_labels, (void *const *)c->labels) < 0 ||
	    crid_rpc_view_kvs(rpc, &in->annotations, c->n_annotations,
			      (void *const *)c->annotations) < 0) {
		crid_rpc_fail(rpc, CRID_GRPC_RESOURCE_EXHAUSTED, "out of memory");
		return -1;
	}
	protobuf_c_message_pack(&c->base, (uint8_t *)in->spec.config);
	in->spec.config_len = len;
	in->spec.labels = &in->labels;
	in->spec.annotations = &in->annotations;
	return 0;
}

void crid_handle_run_pod_sandbox(struct crid_rpc *rpc, const ProtobufCMessage *request)
{
	const Runtime__V1__RunPodSandboxRequest *req = (const void *)request;
	struct run_input in;
	struct crid_deferred *d;
	struct crid_pod_op *op;
	struct crid_err err;

	/* validation first: it needs no pods, so fuzz_handlers' daemon (none) reaches it */
	if (translate(rpc, req, &in) < 0)
		return;
	if (!rpc->d->pods) {
		crid_rpc_fail(rpc, CRID_GRPC_UNAVAILABLE, "pod sandboxes not initialized");
		return;
	}
	d = crid_deferred_new(rpc, abandon);
	if (!d)
		return;
	op = crid_pod_run(rpc->d->pods, &in.spec, run_done, d, &err);
	if (!op)
		crid_request_blame_largest(&err, "config", &req->config->base);
	crid_deferred_started(d, op, &err);
}

/* ---- StopPodSandbox, RemovePodSandbox ---- */

enum { TAG_STOP, TAG_REMOVE };

static void plain_done(void *user, int status, struct crid_sandbox *sb, const struct crid_err *err)
{
	struct crid_deferred *d = user;

	(void)sb;
	if (status < 0) {
		crid_rpc_fail(&d->rpc, crid_rpc_status(err->code), "%s", err->msg);
	} else if (d->tag == TAG_STOP) {
		Runtime__V1__StopPodSandboxResponse resp =
		    RUNTIME__V1__STOP_POD_SANDBOX_RESPONSE__INIT;

		crid_rpc_reply(&d->rpc, &resp.base);
	} else {
		Runtime__V1__RemovePodSandboxResponse resp =
		    RUNTIME__V1__REMOVE_POD_SANDBOX_RESPONSE__INIT;

		crid_rpc_reply(&d->rpc, &resp.base);
	}
	crid_deferred_end(d);
}

struct crid_sandbox *crid_sandbox_lookup(struct crid_rpc *rpc, const char *id, bool *gone)
{
	struct crid_sandbox *sb;
	bool ambiguous;

	*gone = false;
	if (!rpc->d->pods) {
		crid_rpc_fail(rpc, CRID_GRPC_UNAVAILABLE, "pod sandboxes not initialized");
		return NULL;
	}
	if (!id[0]) {
		crid_rpc_fail(rpc, CRID_GRPC_INVALID_ARGUMENT, "pod_sandbox_id: must not be empty");
		return NULL;
	}
	sb = crid_sandbox_find(rpc->d->pods->store, id, &ambiguous);
	if (ambiguous) {
		crid_rpc_fail(rpc, CRID_GRPC_INVALID_ARGUMENT,
			      "pod_sandbox_id: `%s` matches more than one pod sandbox", id);
		return NULL;
	}
	if (!sb)
		*gone = true;
	return sb;
}

static void stop_or_remove(struct crid_rpc *rpc, const char *id, bool remove)
{
	struct crid_sandbox *sb;
	struct crid_deferred *d;
	struct crid_pod_op *op;
	struct crid_err err;
	bool gone;

	sb = crid_sandbox_lookup(rpc, id, &gone);
	if (!sb && !gone)
		return;
	d = crid_deferred_new(rpc, abandon);
	if (!d)
		return;
	d->tag = remove ? TAG_REMOVE : TAG_STOP;
	if (gone) {
		/* Idempotent as the CRI asks: the pod's resources are already reclaimed. */
		crid_log_debug("%s pod sandbox %s: not found, nothing to do",
			       remove ? "remove" : "stop", id);
		plain_done(d, 0, NULL, NULL);
		crid_deferred_started(d, d, NULL);
		return;
	}
	op = remove ? crid_pod_remove(rpc->d->pods, sb, plain_done, d, &err)
		    : crid_pod_stop(rpc->d->pods, sb, plain_done, d, &err);
	crid_deferred_started(d, op, &err);
}

void crid_handle_stop_pod_sandbox(struct crid_rpc *rpc, const ProtobufCMessage *request)
{
	stop_or_remove(rpc, ((const Runtime__V1__StopPodSandboxRequest *)request)->pod_sandbox_id,
		       false);
}

void crid_handle_remove_pod_sandbox(struct crid_rpc *rpc, const ProtobufCMessage *request)
{
	stop_or_remove(rpc, ((const Runtime__V1__RemovePodSandboxRequest *)request)->pod_sandbox_id,
		       true);
}

/* ---- PodSandboxStatus ---- */

void crid_handle_pod_sandbox_status(struct crid_rpc *rpc, const ProtobufCMessage *request)
{
	const Runtime__V1__PodSandboxStatusRequest *req = (const void *)request;
	Runtime__V1__PodSandboxStatusResponse resp = RUNTIME__V1__POD_SANDBOX_STATUS_RESPONSE__INIT;
	Runtime__V1__PodSandboxStatus st;
	struct crid_sandbox *sb;
	bool gone;

	sb = crid_sandbox_lookup(rpc, req->pod_sandbox_id, &gone);
	if (!sb && !gone)
		return;
	if (gone || sb->state == CRID_SANDBOX_CREATING) {
		crid_rpc_fail(rpc, CRID_GRPC_NOT_FOUND, "pod sandbox %s not found",
			      req->pod_sandbox_id);
		return;
	}
	if (crid_status_msg_sandbox(rpc, sb, &st) < 0) {
		crid_rpc_fail(rpc, CRID_GRPC_RESOURCE_EXHAUSTED, "out of memory");
		return;
	}
	resp.status = &st;
	resp.timestamp = crid_wall_ns();
	if (crid_status_msg_pod_containers(rpc, sb, &resp.containers_statuses,
					   &resp.n_containers_statuses) < 0) {
		crid_rpc_fail(rpc, CRID_GRPC_RESOURCE_EXHAUSTED, "out of memory");
		return;
	}
	if (req->verbose) {
		resp.info = crid_status_info_map(
		    rpc, &runtime__v1__pod_sandbox_status_response__info_entry__descriptor,
		    crid_status_info_sandbox(rpc, sb));
		if (!resp.info) {
			crid_rpc_fail(rpc, CRID_GRPC_RESOURCE_EXHAUSTED, "out of memory");
			return;
		}
		resp.n_info = 1;
	}
	crid_rpc_reply(rpc, &resp.base);
}

/* ---- ListPodSandbox ---- */

static bool listed(const void *rec, const void *filter)
{
	const struct crid_sandbox *sb = rec;
	const Runtime__V1__PodSandboxFilter *f = filter;

	if (sb->state == CRID_SANDBOX_CREATING)
		return false;
	if (!f)
		return true;
	/* An id filter matches a prefix, as crictl's short ids need. */
	if (f->id[0] && strncmp(sb->id, f->id, strlen(f->id)) != 0)
		return false;
	if (f->state && (int)f->state->state != (sb->state == CRID_SANDBOX_READY ? 0 : 1))
		return false;
	return crid_list_labels_match(&sb->labels, f->n_label_selector,
				      (void *const *)f->label_selector);
}

static const struct crid_list_kind sandboxes = {
	.listed = listed,
	.encode = crid_status_msg_sandbox_item,
	.entry_at = offsetof(struct crid_sandbox, list_entry),
	.entry_len_at = offsetof(struct crid_sandbox, list_entry_len),
};

void crid_handle_list_pod_sandbox(struct crid_rpc *rpc, const ProtobufCMessage *request)
{
	const Runtime__V1__ListPodSandboxRequest *req = (const void *)request;
	struct crid_sandbox *const *all;
	size_t n;

	if (!crid_rpc_ready(rpc, CRID_NEED_PODS))
		return;
	all = crid_sandbox_list(rpc->d->pods->store, &n);
	crid_list_reply(rpc, (void *const *)all, n, &sandboxes, req->filter);
}

/* ---- UpdatePodSandboxResources ---- */

static bool cpuset_ok(const char *s)
{
	return strspn(s, "0123456789,-") == strlen(s);
}

/* Names the first bad field of |r| (under |what|: "resources" or "overhead"). */
static int check_resources(struct crid_rpc *rpc, const char *what,
			   const Runtime__V1__LinuxContainerResources *r)
{
	const char *field = NULL;

	if (!r)
		return 0;
	if (r->cpu_shares < 0)
		field = "cpu_shares: must not be negative";
	else if (r->cpu_period < 0)
		field = "cpu_period: must not be negative";
	else if (r->cpu_quota < -1)
		field = "cpu_quota: must be -1 (no limit), 0 (unchanged) or positive";
	else if (r->memory_limit_in_bytes < 0)
		field = "memory_limit_in_bytes: must not be negative";
	else if (!cpuset_ok(r->cpuset_cpus))
		field = "cpuset_cpus: not a CPU list";
	else if (!cpuset_ok(r->cpuset_mems))
		field = "cpuset_mems: not a node list";
	if (!field)
		return 0;
	crid_rpc_fail(rpc, CRID_GRPC_INVALID_ARGUMENT, "%s.%s", what, field);
	return -1;
}

/*
 * The pod cgroup holds every container plus the pod overhead, as kubelet
 * sizes it (pkg/kubelet/cm: pod limits = sum of containers + overhead). A
 * setting the resources leave at 0 stays as it is; the overhead's CPU quota
 * is rescaled to the resources' period before it is added.
 */
static void pod_limits(const Runtime__V1__LinuxContainerResources *r,
		       const Runtime__V1__LinuxContainerResources *o, struct crid_pod_limits *l)
{
	const Runtime__V1__LinuxContainerResources none =
	    RUNTIME__V1__LINUX_CONTAINER_RESOURCES__INIT;

	if (!r)
		r = o, o = &none;
	if (!o)
		o = &none;
	memset(l, 0, sizeof(*l));
	l->cpu_period = r->cpu_period;
	if (r->cpu_shares)
		l->cpu_shares = r->cpu_shares + o->cpu_shares;
	if (r->cpu_quota > 0) {
		int64_t period = r->cpu_period > 0 ? r->cpu_period : 100000;
		int64_t extra = o->cpu_quota > 0 ? o->cpu_quota : 0;

		if (extra && o->cpu_period > 0 && o->cpu_period != period)
			extra = extra * period / o->cpu_period;
		l->cpu_quota = r->cpu_quota + extra;
	} else {
		l->cpu_quota = r->cpu_quota; /* 0: unchanged; -1: no limit */
	}
	if (r->memory_limit_in_bytes)
		l->memory_limit = r->memory_limit_in_bytes + o->memory_limit_in_bytes;
	l->cpuset_cpus = r->cpuset_cpus;
	l->cpuset_mems = r->cpuset_mems;
}

/*
 * The pod's stored PodSandboxConfig with linux.resources and linux.overhead
 * as the update set them (the ones it leaves unset stay), so the verbose
 * PodSandboxStatus and a restarted crid show the pod as resized, as CRI-O
 * keeps them. Encoded into the RPC's arena; -1 (nothing changed) when the
 * stored config does not decode or memory runs out.
 */
static int resized_config(struct crid_rpc *rpc, const struct crid_sandbox *sb,
			  const Runtime__V1__UpdatePodSandboxResourcesRequest *req, uint8_t **out,
			  size_t *out_len)
{
	Runtime__V1__LinuxPodSandboxConfig linux = RUNTIME__V1__LINUX_POD_SANDBOX_CONFIG__INIT;
	Runtime__V1__PodSandboxConfig *c;

	c = runtime__v1__pod_sandbox_config__unpack(&rpc->alloc, sb->config_len, sb->config);
	if (!c)
		return -1;
	if (!c->linux)
		c->linux = &linux;
	if (req->resources)
		c->linux->resources = req->resources;
	if (req->overhead)
		c->linux->overhead = req->overhead;
	*out_len = protobuf_c_message_get_packed_size(&c->base);
	*out = crid_arena_alloc(&rpc->arena, *out_len + 1);
	if (!*out)
		return -1;
	protobuf_c_message_pack(&c->base, *out);
	return 0;
}

void crid_handle_update_pod_sandbox_resources(struct crid_rpc *rpc, const ProtobufCMessage *request)
{
	const Runtime__V1__UpdatePodSandboxResourcesRequest *req = (const void *)request;
	Runtime__V1__UpdatePodSandboxResourcesResponse resp =
	    RUNTIME__V1__UPDATE_POD_SANDBOX_RESOURCES_RESPONSE__INIT;
	struct crid_pod_limits l;
	struct crid_sandbox *sb;
	struct crid_err err;
	uint8_t *config;
	size_t config_len;
	bool gone;

	sb = crid_sandbox_lookup(rpc, req->pod_sandbox_id, &gone);
	if (!sb && !gone)
		return;
	if (gone || sb->state == CRID_SANDBOX_CREATING) {
		crid_rpc_fail(rpc, CRID_GRPC_NOT_FOUND, "pod_sandbox_id: pod sandbox %s not found",
			      req->pod_sandbox_id);
		return;
	}
	if (!req->resources && !req->overhead) {
		crid_rpc_fail(rpc, CRID_GRPC_INVALID_ARGUMENT,
			      "resources: must be set (or overhead)");
		return;
	}
	if (check_resources(rpc, "resources", req->resources) < 0 ||
	    check_resources(rpc, "overhead", req->overhead) < 0)
		return;
	if (!sb->cgroup_parent || !sb->cgroup_parent[0]) {
		crid_rpc_fail(rpc, CRID_GRPC_FAILED_PRECONDITION,
			      "pod sandbox %s has no cgroup_parent: no pod cgroup to update",
			      sb->id);
		return;
	}
	pod_limits(req->resources, req->overhead, &l);
	if (crid_pod_cgroup_apply(rpc->d->host, sb->cgroup_parent, &l, &err) < 0) {
		crid_rpc_fail(rpc, crid_rpc_status(err.code), "pod sandbox %.12s: %s", sb->id,
			      err.msg);
		return;
	}
	if (resized_config(rpc, sb, req, &config, &config_len) < 0) {
		crid_rpc_fail(rpc, CRID_GRPC_INTERNAL,
			      "pod sandbox %.12s: its stored config does not decode", sb->id);
		return;
	}
	if (crid_sandbox_set_config(rpc->d->pods->store, sb, config, config_len, &err) < 0) {
		crid_rpc_fail(rpc, crid_rpc_status(err.code),
			      "pod sandbox %.12s: pod cgroup updated, record not: %s", sb->id,
			      err.msg);
		return;
	}
	crid_log_info("pod sandbox %.12s: pod cgroup resources updated", sb->id);
	crid_rpc_reply(rpc, &resp.base);
}

const struct crid_list_kind *crid_sandbox_list_kind(void)
{
	return &sandboxes;
}
