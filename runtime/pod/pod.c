/*
 * Pod lifecycle (see pod.h): run, stop, remove and start-up recovery as
 * steps on the loop. The operation machine itself (waiters, joining a stop
 * to a stop or removal, abandonment, the per-pod queue) is reactor/op; this
 * file holds only the pod's steps and its joining rule. May call reactor/,
 * runtime/cni, runtime/state and the pod room's own files.
 */
#include "runtime/pod/pod.h"

#include <dirent.h>
#include <fcntl.h>
#include <signal.h>
#include <sys/syscall.h>
#include <errno.h>
#include <limits.h>
#include <stddef.h>
#include <stdlib.h>
#include <stdio.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#include "reactor/debug_point.h"
#include "reactor/log.h"
#include "reactor/mem.h"
#include "reactor/op.h"
#include "reactor/spawn.h"
#include "reactor/trace.h"
#include "runtime/oci/systemd_mgr.h"

/* Pinning namespaces is a fork, an unshare and a few mounts; this only bounds a wedged child. */
#define PIN_TIMEOUT 30.0

enum op_kind {
	OP_RUN,
	OP_STOP,
	OP_REMOVE,
	OP_UNDO, /* recovery: take apart a pod whose RunPodSandbox never answered */
};

/* A pod operation: the machine of reactor/op (kind, waiters, queue, status), then the pod's steps. */
struct crid_pod_op {
	struct crid_op base;
	struct crid_pods *pods;
	struct crid_sandbox *sb;
	struct crid_cni_net *net;
	struct crid_cni_op *cni;
	struct crid_pod_ns_op *pin;
	struct crid_systemd_call *scope; /* run: the holder going into its systemd scope */
	char short_id[13];		 /* for logs, after the record is gone */
	bool add_started;		 /* a run whose CNI ADD began: its undo owes a DEL */
	bool was_queued;		 /* waited behind another operation of the pod */
	bool wait_ctrs;			 /* stop, remove: the containers' second round still runs */
	bool wait_net;			 /* stop, remove: CNI DEL (and its record) still runs */
	struct crid_trace trace;
	/* stop, remove: namespaces and files released in a child */
	struct crid_child release;
	bool release_on;
	struct crid_err release_err;
	/* run only */
	char **sysctls;
	size_t n_sysctls;
};

static struct crid_pod_op *pod_op(struct crid_op *base)
{
	return base ? (struct crid_pod_op *)((char *)base - offsetof(struct crid_pod_op, base))
		    : NULL;
}

static void op_free(struct crid_pod_op *op)
{
	crid_op_drop_waiters(&op->base);
	for (size_t i = 0; i < op->n_sysctls; i++)
		crid_free(op->sysctls[i]);
	crid_free(op->sysctls);
	crid_cni_net_free(op->net);
	crid_free(op);
}

static struct crid_pod_op *op_new(struct crid_pods *pods, struct crid_sandbox *sb,
				  enum op_kind kind, crid_pod_done_fn done, void *user)
{
	struct crid_pod_op *op = crid_calloc(1, sizeof(*op));

	if (!op)
		return NULL;
	crid_op_init(&op->base, kind);
	crid_trace_begin(&op->trace);
	op->pods = pods;
	op->sb = sb;
	if (sb)
		snprintf(op->short_id, sizeof(op->short_id), "%.12s", sb->id);
	if (done && !crid_op_wait(&op->base, (crid_op_fn)done, user)) {
		crid_free(op);
		return NULL;
	}
	return op;
}

static const char *kind_name(enum op_kind k)
{
	static const char *const names[] = { "run", "stop", "remove", "undo" };

	return names[k];
}

/* The RPC an operation answers, for its trace line (an undo is recovery's own). */
static const char *rpc_name(enum op_kind k)
{
	static const char *const names[] = { "RunPodSandbox", "StopPodSandbox", "RemovePodSandbox",
					     "RecoverPodSandbox" };

	return names[k];
}

static void op_start(struct crid_pod_op *op);

static void deliver(const struct crid_op *op, crid_op_fn done, void *user, void *result)
{
	((crid_pod_done_fn)done)(user, op->status, result, op->status < 0 ? &op->err : NULL);
}

/* Answers every waiter, then starts the operation queued behind this one. */
static void op_finish(struct crid_pod_op *op, struct crid_sandbox *alive)
{
	struct crid_pod_op *next = pod_op(crid_op_unqueue(&op->base));
	struct crid_sandbox *result =
	    op->base.kind == OP_RUN && op->base.status == 0 ? alive : NULL;

	if (op->base.status < 0)
		crid_log_info("pod %s: %s failed: %s", op->short_id, kind_name(op->base.kind),
			      op->base.err.msg);
	if (alive)
		alive->op = NULL;
	op->pods->running_ops--;
	crid_trace_log(&op->trace, rpc_name(op->base.kind), "pod", op->short_id);
	crid_op_answer(&op->base, deliver, result);
	op_free(op);
	if (!next)
		return;
	if (alive) {
		alive->op = next;
		next->sb = alive;
		op_start(next);
		return;
	}
	/* The pod is gone: what was queued behind its removal has nothing left to do. */
	while (next) {
		struct crid_pod_op *after = pod_op(crid_op_unqueue(&next->base));

		next->pods->running_ops++;
		next->sb = NULL;
		op_finish(next, NULL);
		next = after;
	}
}

static void op_fail(struct crid_pod_op *op, const struct crid_err *err)
{
	crid_op_fail(&op->base, err);
}

static int ns_dir(struct crid_pod_op *op, char *out, size_t size)
{
	return crid_sandbox_dir(op->pods->store, op->sb, "ns", out, size);
}

static int pod_dir(struct crid_pod_op *op, char *out, size_t size)
{
	return crid_sandbox_dir(op->pods->store, op->sb, NULL, out, size);
}

/*
 * A Kubernetes quantity as the bandwidth annotations use it ("10M", "1Gi",
 * "500k"), in bits per second; 0 when it does not parse (then no shaping).
 */
static long long parse_quantity(const char *s)
{
	static const struct {
		const char *suffix;
		long long mult;
	} units[] = { { "Ki", 1LL << 10 },   { "Mi", 1LL << 20 },      { "Gi", 1LL << 30 },
		      { "Ti", 1LL << 40 },   { "k", 1000LL },	       { "M", 1000000LL },
		      { "G", 1000000000LL }, { "T", 1000000000000LL }, { "", 1 } };
	char *end;
	long long v;

	errno = 0;
	v = strtoll(s, &end, 10);
	if (errno || v <= 0 || end == s)
		return 0;
	for (size_t i = 0; i < sizeof(units) / sizeof(units[0]); i++)
		if (strcmp(end, units[i].suffix) == 0)
			return v > LLONG_MAX / units[i].mult ? 0 : v * units[i].mult;
	return 0;
}

static void fill_cni_pod(struct crid_pod_op *op, struct crid_cni_pod *p,
			 struct crid_cni_port *ports)
{
	const struct crid_sandbox *sb = op->sb;
	const char *in = crid_kvs_get(&sb->annotations, "kubernetes.io/ingress-bandwidth");
	const char *eg = crid_kvs_get(&sb->annotations, "kubernetes.io/egress-bandwidth");

	memset(p, 0, sizeof(*p));
	p->container_id = sb->id;
	/*
	 * Only a pinned netns: a release cut short by a crash leaves the file
	 * unmounted, which plugins refuse ("unknown FS magic"), so the owed DEL
	 * failed for good; with no netns, DEL still frees the IP (CNI spec).
	 */
	p->netns = sb->ns.net[0] && crid_pod_ns_is_pinned(sb->ns.net) ? sb->ns.net : "";
	p->ifname = "eth0";
	p->pod_name = sb->name;
	p->pod_namespace = sb->namespace;
	p->pod_uid = sb->uid;
	for (size_t i = 0; i < sb->n_ports; i++) {
		ports[i].container_port = sb->ports[i].container_port;
		ports[i].host_port = sb->ports[i].host_port;
		ports[i].protocol = sb->ports[i].protocol;
		ports[i].host_ip = sb->ports[i].host_ip;
	}
	p->ports = ports;
	p->n_ports = sb->n_ports;
	p->pod_cidr = op->pods->node->pod_cidr ? op->pods->node->pod_cidr : "";
	p->ingress_bps = in ? parse_quantity(in) : 0;
	p->egress_bps = eg ? parse_quantity(eg) : 0;
}

/* ---- take apart: CNI DEL, namespaces, files ---- */

static void teardown_released(struct crid_pod_op *op);

/*
 * The network's branch (CNI DEL) and the containers' second round (runtime
 * delete, unmounts) run side by side; the namespaces go once both ended. A
 * stop or removal that failed on either branch ends there (kubelet retries;
 * the record says what is still owed); an undone run goes on regardless.
 */
static void teardown_join(struct crid_pod_op *op)
{
	if (op->wait_ctrs || op->wait_net)
		return;
	crid_debug_point("pod-teardown-joined");
	if (op->base.status < 0 && (op->base.kind == OP_STOP || op->base.kind == OP_REMOVE)) {
		op_finish(op, op->sb);
		return;
	}
	teardown_released(op);
}

static void net_done(struct crid_pod_op *op)
{
	op->wait_net = false;
	teardown_join(op);
}

static void teardown_deleted(void *user, int status, struct crid_cni_result *res,
			     const struct crid_err *err)
{
	struct crid_pod_op *op = user;

	(void)res;
	op->cni = NULL;
	crid_trace_mark(&op->trace, "cni_del");
	if (status < 0) {
		crid_log_warn("pod %.12s: CNI DEL: %s", op->sb->id, err->msg);
		op_fail(op, err); /* a stop ends failed: kubelet retries it; DEL is still owed */
	} else {
		/*
		 * Not saved here: the record still says DELETING until the stop's
		 * NOTREADY save (or the removal's delete) right after the join, one
		 * fsync instead of two. A crash in between only runs DEL again at
		 * the next start, which CNI plugins must accept (spec: DEL of what
		 * is already gone succeeds; host-local frees by container ID).
		 */
		op->sb->net = CRID_NET_RELEASED;
	}
	net_done(op);
}

/* Runs CNI DEL when one is owed (ADD started and no DEL confirmed), then goes on. */
static void teardown_start(struct crid_pod_op *op)
{
	struct crid_sandbox *sb = op->sb;
	struct crid_cni_port ports[sb->n_ports + 1];
	struct crid_cni_pod p;
	struct crid_err e;

	op->wait_net = true;
	if (sb->net != CRID_NET_ADDING && sb->net != CRID_NET_UP && sb->net != CRID_NET_DELETING) {
		net_done(op);
		return;
	}
	if (!sb->cni_net) {
		sb->net = CRID_NET_RELEASED;
		net_done(op);
		return;
	}
	crid_cni_net_free(op->net);
	op->net = NULL;
	sb->net = CRID_NET_DELETING;
	if (crid_cni_net_parse(sb->id, sb->cni_net, strlen(sb->cni_net),
			       &op->pods->cfg->cni_plugin_dirs, &op->net, &e) < 0 ||
	    crid_sandbox_save(op->pods->store, sb, &e) < 0) {
		teardown_deleted(op, -1, NULL, &e);
		return;
	}
	crid_trace_mark(&op->trace, "save");
	fill_cni_pod(op, &p, ports);
	op->cni = crid_cni_del(op->pods->loop, op->net, &p, sb->cni_result,
			       op->pods->cfg->cni_timeout, teardown_deleted, op, &e);
	crid_trace_mark(&op->trace, "cni_spawn");
	if (!op->cni)
		teardown_deleted(op, -1, NULL, &e);
}

/* What the release child undoes: paths and pid copied into it at the clone. */
struct release_task {
	char ns_dir[4096];  /* "" = none */
	char pod_dir[4096]; /* "" = the files stay (a stop) */
	pid_t holder_pid;
};

enum { RELEASE_NS_FAILED = -1, RELEASE_FILES_FAILED = -2 };

/*
 * In the child: umount2 of the pins and of shm can wait in the kernel for
 * ms (RCU grace periods, the mounts' peers); both steps are idempotent.
 */
static int release_task_run(void *arg, struct crid_err *err)
{
	const struct release_task *t = arg;

	if (t->ns_dir[0] && crid_pod_ns_release(t->ns_dir, t->holder_pid, err) < 0)
		return RELEASE_NS_FAILED;
	if (t->pod_dir[0] && crid_pod_files_remove(t->pod_dir, err) < 0)
		return RELEASE_FILES_FAILED;
	return 0;
}

static void teardown_ns_released(struct crid_pod_op *op, int status);

static void release_exited(struct crid_child *child, int status, void *user)
{
	struct crid_pod_op *op = user;

	(void)child;
	op->release_on = false;
	teardown_ns_released(op, status);
}

/*
 * After the network is gone: namespaces and (but for a stop) files, in a
 * child. Safe across a crash: the record is unchanged until the child is
 * done, and a restart runs the same idempotent release again (the holder
 * is killed only while its ns/pid is still the pinned one).
 */
static void teardown_released(struct crid_pod_op *op)
{
	struct release_task t = { .holder_pid = op->sb->ns.holder_pid };
	struct crid_err e;
	int r;

	if (ns_dir(op, t.ns_dir, sizeof(t.ns_dir)) < 0)
		t.ns_dir[0] = '\0';
	if (op->base.kind == OP_STOP || pod_dir(op, t.pod_dir, sizeof(t.pod_dir)) < 0)
		t.pod_dir[0] = '\0';
	if (crid_spawn_fn(op->pods->loop, &op->release, release_task_run, &t, &op->release_err,
			  release_exited, op, &e) == 0) {
		op->release_on = true;
		crid_debug_point("pod-release-spawned");
		return;
	}
	/* no child (fork refused): on the loop, as before */
	crid_err_clear(&op->release_err);
	r = release_task_run(&t, &op->release_err);
	teardown_ns_released(op, -r);
}

/* |status|: the release child's exit (0, or -RELEASE_*), its error in op->release_err. */
static void teardown_ns_released(struct crid_pod_op *op, int status)
{
	struct crid_sandbox *sb = op->sb;
	struct crid_err e;

	if (status == -RELEASE_NS_FAILED || (status && status != -RELEASE_FILES_FAILED)) {
		op_fail(op, &op->release_err);
		op_finish(op, sb);
		return;
	}
	sb->ns.holder_pid = 0;
	crid_trace_mark(&op->trace, "ns_release");
	if (op->base.kind == OP_STOP) {
		sb->state = CRID_SANDBOX_NOTREADY;
		if (crid_sandbox_save(op->pods->store, sb, &e) < 0)
			op_fail(op, &e);
		crid_trace_mark(&op->trace, "save");
		op_finish(op, sb);
		return;
	}
	/* run failed or abandoned, undo after a crash, remove: nothing of the pod stays */
	if (status == -RELEASE_FILES_FAILED)
		op_fail(op, &op->release_err);
	crid_trace_mark(&op->trace, "files");
	if (op->base.status < 0 && op->base.kind == OP_REMOVE) {
		op_finish(op, sb);
		return;
	}
	if (crid_sandbox_delete(op->pods->store, sb, &e) < 0)
		crid_log_warn("pod %s: %s", op->short_id, e.msg);
	crid_trace_mark(&op->trace, "record");
	op_finish(op, NULL);
}

/* ---- run ---- */

static void run_undo(struct crid_pod_op *op, const struct crid_err *err)
{
	if (!op->add_started && op->sb->net == CRID_NET_ADDING)
		op->sb->net = CRID_NET_NONE; /* no plugin ran: nothing to delete */
	if (err)
		op_fail(op, err);
	else if (op->base.status == 0) {
		op->base.status = -1;
		crid_err_set(&op->base.err, ECANCELED, "RunPodSandbox abandoned by its caller");
	}
	teardown_start(op);
}

static void run_ready(struct crid_pod_op *op)
{
	struct crid_sandbox *sb = op->sb;
	struct crid_err e;

	sb->state = CRID_SANDBOX_READY;
	if (crid_sandbox_save(op->pods->store, sb, &e) < 0) {
		run_undo(op, &e);
		return;
	}
	crid_trace_mark(&op->trace, "save");
	crid_log_info("pod %.12s (%s/%s) ready%s%s", sb->id, sb->namespace, sb->name,
		      sb->n_ips ? " at " : "", sb->n_ips ? sb->ips[0] : "");
	op_finish(op, sb);
}

static void run_added(void *user, int status, struct crid_cni_result *res,
		      const struct crid_err *err)
{
	struct crid_pod_op *op = user;
	struct crid_sandbox *sb = op->sb;
	const char *ips[CRID_CNI_MAX_IPS];
	char dir[4096];
	struct crid_err e;

	op->cni = NULL;
	crid_trace_mark(&op->trace, "cni_add");
	if (status < 0) {
		e = *err;
		crid_err_wrap(&e, "CNI ADD of network `%s`", crid_cni_net_name(op->net));
		run_undo(op, &e);
		return;
	}
	sb->net = CRID_NET_UP;
	sb->cni_result = res->json;
	res->json = NULL;
	sb->n_ips = res->n_ips;
	for (size_t i = 0; i < res->n_ips; i++) {
		memcpy(sb->ips[i], res->ips[i], sizeof(sb->ips[i]));
		ips[i] = sb->ips[i];
	}
	crid_cni_result_clear(res);
	if (op->base.abandoned) {
		run_undo(op, NULL);
		return;
	}
	if (pod_dir(op, dir, sizeof(dir)) < 0 ||
	    crid_pod_files_write_hosts(dir, sb->hostname, ips, sb->n_ips, false, &e) < 0) {
		run_undo(op, &e);
		return;
	}
	crid_trace_mark(&op->trace, "hosts");
	run_ready(op);
}

/* Picks the node's pod network now and keeps its config in the record for DEL. */
static int choose_network(struct crid_pod_op *op, struct crid_err *err)
{
	const struct crid_cni_status *st = crid_cni_watch_status(op->pods->cni);
	struct crid_sandbox *sb = op->sb;

	if (!st->ready)
		return crid_err_cause(err, EAGAIN, "pod network not ready: %s", st->message);
	if (crid_cni_net_load(st->config_file, &op->pods->cfg->cni_plugin_dirs, &op->net, err) <
	    0) {
		crid_cni_watch_invalidate(op->pods->cni);
		return -1;
	}
	sb->cni_net = crid_strdup(crid_cni_net_json(op->net));
	if (!sb->cni_net)
		return crid_err_set(err, ENOMEM, "pod network config");
	/* recorded before ADD starts: a crash from here on owes a DEL (harmless if none ran) */
	sb->net = CRID_NET_ADDING;
	return 0;
}

static void start_add(struct crid_pod_op *op)
{
	struct crid_sandbox *sb = op->sb;
	struct crid_cni_port ports[sb->n_ports + 1];
	struct crid_cni_pod p;
	struct crid_err e;

	fill_cni_pod(op, &p, ports);
	op->add_started = true;
	op->cni = crid_cni_add(op->pods->loop, op->net, &p, op->pods->cfg->cni_timeout, run_added,
			       op, &e);
	crid_trace_mark(&op->trace, "cni_spawn");
	if (!op->cni) {
		run_undo(op, &e);
		return;
	}
	crid_debug_point("pod-during-cni-add"); /* the plugin runs on, orphaned */
}

static void run_network(struct crid_pod_op *op)
{
	if (op->sb->ns_network == CRID_NS_POD)
		start_add(op);
	else
		run_ready(op);
}

static void run_scoped(void *user, int status, const struct crid_err *err)
{
	struct crid_pod_op *op = user;
	struct crid_err e;

	op->scope = NULL;
	crid_trace_mark(&op->trace, "scope");
	if (status < 0) {
		e = *err;
		crid_err_wrap(&e, "pod PID namespace holder");
		run_undo(op, &e);
		return;
	}
	if (op->base.abandoned) {
		run_undo(op, NULL);
		return;
	}
	run_network(op);
}

/*
 * Under systemd the holder (crid's own process, not a container's) goes in
 * a scope of the pod's slice, as CRI-O's conmon does; it ends with the
 * holder, so teardown has nothing to stop.
 */
static void start_scope(struct crid_pod_op *op)
{
	struct crid_sandbox *sb = op->sb;
	char unit[128];
	struct crid_err e;

	if (!crid_systemd_pod_scope_name(sb->id, unit, sizeof(unit))) {
		crid_err_set(&e, ENAMETOOLONG, "systemd scope of pod %.12s", sb->id);
		run_undo(op, &e);
		return;
	}
	op->scope = crid_systemd_start_scope(op->pods->systemd, unit, sb->cgroup_parent,
					     sb->ns.holder_pid, run_scoped, op, &e);
	if (!op->scope)
		run_undo(op, &e);
}

static void run_pinned(void *user, int status, const struct crid_pod_ns *ns,
		       const struct crid_err *err)
{
	struct crid_pod_op *op = user;
	struct crid_sandbox *sb = op->sb;
	struct crid_err e;

	op->pin = NULL;
	crid_trace_mark(&op->trace, "pin");
	if (status < 0) {
		e = *err;
		crid_err_wrap(&e, "pod namespaces");
		run_undo(op, &e);
		return;
	}
	sb->ns = *ns;
	crid_debug_point("pod-after-pinns");
	if (op->base.abandoned) {
		run_undo(op, NULL);
		return;
	}
	if (op->pods->systemd && sb->ns.holder_pid > 0)
		start_scope(op);
	else
		run_network(op);
}

/*
 * The namespaces are pinned by a child while the loop writes the record
 * (with the network chosen and a DEL owed from now on): the fsync overlaps
 * the child's work instead of adding to it.
 */
static void run_start(struct crid_pod_op *op)
{
	struct crid_sandbox *sb = op->sb;
	struct crid_pod_ns_spec ns = { 0 };
	char dir[4096], nsd[4096];
	struct crid_err e;

	ns.net = sb->ns_network == CRID_NS_POD;
	ns.uts = ns.net; /* the UTS namespace follows the network's, as in CRI-O */
	ns.ipc = sb->ns_ipc == CRID_NS_POD;
	ns.pid = sb->ns_pid == CRID_NS_POD;
	ns.hostname = ns.uts ? sb->hostname : "";
	ns.sysctls = (const char *const *)op->sysctls;
	ns.n_sysctls = op->n_sysctls;
	if (pod_dir(op, dir, sizeof(dir)) < 0 || ns_dir(op, nsd, sizeof(nsd)) < 0) {
		crid_err_set(&e, ENAMETOOLONG, "pod directory under `%s`", op->pods->cfg->runroot);
		run_undo(op, &e);
		return;
	}
	if (ns.net && choose_network(op, &e) < 0) {
		run_undo(op, &e);
		return;
	}
	crid_trace_mark(&op->trace, "cni_conf");
	ns.dir = nsd;
	if (ns.net || ns.ipc || ns.uts || ns.pid) {
		op->pin = crid_pod_ns_pin(op->pods->loop, &ns, PIN_TIMEOUT, run_pinned, op, &e);
		if (!op->pin) {
			run_undo(op, &e);
			return;
		}
		crid_trace_mark(&op->trace, "pin_spawn");
	}
	if (crid_sandbox_save(op->pods->store, sb, &e) < 0) {
		if (op->pin)
			crid_pod_ns_op_cancel(op->pin);
		op->pin = NULL;
		run_undo(op, &e);
		return;
	}
	crid_trace_mark(&op->trace, "save");
	if (!op->pin)
		run_pinned(op, 0, &sb->ns, NULL);
}

/* Every container of the pod has exited: the network goes while they are cleaned up. */
static void ctrs_exited(void *arg, int status, const struct crid_err *err)
{
	struct crid_pod_op *op = arg;

	crid_trace_mark(&op->trace, "ctrs_exit");
	if (status < 0) {
		op_fail(op, err); /* no DEL: the stop ends once the containers' side is done */
		return;
	}
	crid_debug_point("pod-teardown-exited");
	teardown_start(op);
}

/* The containers' second round ended (retired or removed, or skipped after a failure). */
static void ctrs_done(void *arg, int status, const struct crid_err *err)
{
	struct crid_pod_op *op = arg;

	crid_trace_mark(&op->trace, "ctrs_down");
	op->wait_ctrs = false;
	if (status < 0)
		op_fail(op, err);
	teardown_join(op);
}

/*
 * A pod-level PID namespace dies with its holder, every process of every
 * container at once: without this, a container's init killed alone leaves
 * its children (reparented to the holder) holding its stdio, and its exit
 * is recorded only when the log's drain times out.
 */
static void kill_pid_namespace(struct crid_pod_op *op)
{
	char dir[4096];
	struct crid_err e;

	if (op->sb->ns.holder_pid <= 0 || ns_dir(op, dir, sizeof(dir)) < 0)
		return;
	if (crid_pod_ns_kill(dir, op->sb->ns.holder_pid, &e) < 0)
		crid_log_warn("pod %s: %s", op->short_id, e.msg);
	crid_trace_mark(&op->trace, "kill_pidns");
}

static void op_start(struct crid_pod_op *op)
{
	struct crid_pods *pods = op->pods;

	if (op->was_queued)
		crid_trace_mark(&op->trace, "queued");
	switch (op->base.kind) {
	case OP_RUN:
		run_start(op);
		break;
	case OP_STOP:
	case OP_REMOVE:
		kill_pid_namespace(op);
		if (pods->containers_down) {
			static const struct crid_pod_down_cbs cbs = { ctrs_exited, ctrs_done };

			op->wait_ctrs = true;
			pods->containers_down(pods->containers_user, op->sb,
					      op->base.kind == OP_REMOVE, &cbs, op);
			break;
		}
		teardown_start(op);
		break;
	case OP_UNDO:
		teardown_start(op);
		break;
	}
}

static int copy_spec(struct crid_sandbox *sb, const struct crid_pod_spec *spec)
{
	int bad = 0;

#define DUP(f) ((sb->f = crid_strdup(spec->f ? spec->f : "")) ? 0 : (bad = 1))
	DUP(name), DUP(namespace), DUP(uid), DUP(hostname), DUP(log_directory);
	DUP(cgroup_parent), DUP(runtime_handler);
#undef DUP
	sb->attempt = spec->attempt;
	sb->ns_network = spec->ns_network;
	sb->ns_pid = spec->ns_pid;
	sb->ns_ipc = spec->ns_ipc;
	for (size_t i = 0; !bad && spec->labels && i < spec->labels->n; i++)
		bad = crid_kvs_add(&sb->labels, spec->labels->v[i].key, spec->labels->v[i].value);
	for (size_t i = 0; !bad && spec->annotations && i < spec->annotations->n; i++)
		bad = crid_kvs_add(&sb->annotations, spec->annotations->v[i].key,
				   spec->annotations->v[i].value);
	sb->ports = crid_calloc(spec->n_ports + 1, sizeof(*sb->ports));
	sb->config = crid_malloc(spec->config_len + 1);
	if (bad || !sb->ports || !sb->config)
		return -1;
	memcpy(sb->ports, spec->ports, spec->n_ports * sizeof(*sb->ports));
	sb->n_ports = spec->n_ports;
	memcpy(sb->config, spec->config, spec->config_len);
	sb->config_len = spec->config_len;
	return 0;
}

static int copy_sysctls(struct crid_pod_op *op, const struct crid_pod_spec *spec)
{
	op->sysctls = crid_calloc(spec->n_sysctls + 1, sizeof(char *));
	if (!op->sysctls)
		return -1;
	for (size_t i = 0; i < spec->n_sysctls; i++) {
		op->sysctls[i] = crid_strdup(spec->sysctls[i]);
		if (!op->sysctls[i])
			return -1;
		op->n_sysctls++;
	}
	return 0;
}

static int create_files(struct crid_pods *pods, struct crid_sandbox *sb,
			const struct crid_pod_spec *spec, struct crid_err *err)
{
	struct crid_pod_files_spec f = { 0 };
	char dir[4096];

	if (crid_sandbox_dir(pods->store, sb, NULL, dir, sizeof(dir)) < 0)
		return crid_err_set(err, ENAMETOOLONG, "pod directory");
	f.dir = dir;
	f.hostname = spec->hostname;
	f.dns = &spec->dns;
	f.host_network = spec->ns_network == CRID_NS_NODE;
	f.shm_size = spec->shm_size;
	if (crid_pod_files_create(&f, err) < 0) {
		crid_pod_files_remove(dir, NULL);
		return crid_err_wrap(err, "pod files");
	}
	return 0;
}

struct crid_pod_op *crid_pod_run(struct crid_pods *pods, const struct crid_pod_spec *spec,
				 crid_pod_done_fn done, void *user, struct crid_err *err)
{
	struct crid_sandbox *sb = crid_sandbox_alloc(err);
	struct crid_pod_op *op;

	if (!sb)
		return NULL;
	sb->created_at = crid_wall_ns();
	if (copy_spec(sb, spec) < 0) {
		crid_sandbox_free(sb);
		crid_err_set(err, ENOMEM, "pod sandbox record");
		return NULL;
	}
	if (crid_sandbox_check_size(sb, err) < 0) {
		crid_sandbox_free(sb);
		return NULL;
	}
	op = op_new(pods, sb, OP_RUN, done, user);
	if (!op || copy_sysctls(op, spec) < 0) {
		if (op)
			op_free(op);
		crid_sandbox_free(sb);
		crid_err_set(err, ENOMEM, "pod sandbox operation");
		return NULL;
	}
	if (crid_sandbox_insert(pods->store, sb, err) < 0) { /* frees sb */
		op_free(op);
		return NULL;
	}
	crid_trace_mark(&op->trace, "record");
	/* The record is first written once namespaces exist; a crash before that leaves only
	 * an orphan directory under the run dir, which the next start removes. */
	if (create_files(pods, sb, spec, err) < 0) {
		crid_sandbox_delete(pods->store, sb, NULL);
		op_free(op);
		return NULL;
	}
	crid_trace_mark(&op->trace, "files");
	sb->op = op;
	pods->running_ops++;
	run_start(op);
	return op;
}

/* ---- stop, remove ---- */

/* A stop is satisfied by a running or queued stop or removal; a removal only by one. */
static bool joins(const struct crid_op *cand, bool running, int kind)
{
	if ((running && cand->kind == OP_RUN) || cand->kind == OP_UNDO)
		return false;
	return cand->kind == kind || (kind == OP_STOP && cand->kind == OP_REMOVE);
}

static struct crid_pod_op *join_or_queue(struct crid_pods *pods, struct crid_sandbox *sb,
					 enum op_kind kind, crid_pod_done_fn done, void *user,
					 struct crid_err *err)
{
	struct crid_pod_op *op;

	op = pod_op(
	    crid_op_join(sb->op ? &sb->op->base : NULL, joins, kind, (crid_op_fn)done, user));
	if (op)
		return op;
	op = op_new(pods, sb, kind, done, user);
	if (!op) {
		crid_err_set(err, ENOMEM, "pod sandbox operation");
		return NULL;
	}
	if (!sb->op) {
		sb->op = op;
		pods->running_ops++;
		op_start(op);
		return op;
	}
	crid_op_append(&sb->op->base, &op->base);
	op->was_queued = true;
	pods->running_ops++;
	return op;
}

struct crid_pod_op *crid_pod_stop(struct crid_pods *pods, struct crid_sandbox *sb,
				  crid_pod_done_fn done, void *user, struct crid_err *err)
{
	return join_or_queue(pods, sb, OP_STOP, done, user, err);
}

struct crid_pod_op *crid_pod_remove(struct crid_pods *pods, struct crid_sandbox *sb,
				    crid_pod_done_fn done, void *user, struct crid_err *err)
{
	return join_or_queue(pods, sb, OP_REMOVE, done, user, err);
}

/* Only a run acts on it: when every caller left, it is undone as its step ends. */
void crid_pod_op_abandon(struct crid_pod_op *op, void *user)
{
	crid_op_abandon(&op->base, user);
}

/* ---- recovery ---- */

static void recovered(void *user, int status, struct crid_sandbox *sb, const struct crid_err *err)
{
	(void)user;
	(void)sb;
	if (status < 0)
		crid_log_warn("recovery: %s", err->msg);
}

/* Directories under <runroot>/pods with no record: a run killed before its first save. */
static void sweep_orphans(struct crid_pods *pods)
{
	char base[4096];
	DIR *d;
	struct dirent *e;

	snprintf(base, sizeof(base), "%s/pods", pods->cfg->runroot);
	d = opendir(base);
	if (!d)
		return;
	while ((e = readdir(d))) {
		char path[4096 + 300];
		bool amb;

		if (strlen(e->d_name) != CRID_ID_LEN ||
		    (crid_sandbox_find(pods->store, e->d_name, &amb)))
			continue;
		crid_log_info("recovery: removing `%s/%s`, left by a pod that was never recorded",
			      base, e->d_name);
		snprintf(path, sizeof(path), "%s/%s/ns", base, e->d_name);
		crid_pod_ns_release(path, 0, NULL);
		snprintf(path, sizeof(path), "%s/%s", base, e->d_name);
		crid_pod_files_remove(path, NULL);
	}
	closedir(d);
}

/* Does process |pid|'s environment hold |needle| ("CNI_CONTAINERID=<id>")? */
static bool environ_has(const char *pid, const char *needle)
{
	char path[64], buf[64 << 10];
	size_t nlen = strlen(needle) + 1; /* with its NUL: a whole variable */
	ssize_t n;
	int fd;

	snprintf(path, sizeof(path), "/proc/%s/environ", pid);
	fd = open(path, O_RDONLY | O_CLOEXEC);
	if (fd < 0)
		return false;
	n = read(fd, buf, sizeof(buf));
	close(fd);
	for (ssize_t i = 0; n > 0 && i + (ssize_t)nlen <= n; i++)
		if ((i == 0 || buf[i - 1] == '\0') && memcmp(buf + i, needle, nlen) == 0)
			return true;
	return false;
}

/*
 * A CNI plugin of a killed daemon may still be running (it is not our child
 * any more) and would finish its ADD after our DEL: kill it first. Found by
 * the CNI_CONTAINERID in its environment; runs once per interrupted pod at start.
 */
static void kill_orphan_plugins(const struct crid_sandbox *sb)
{
	char needle[32 + CRID_ID_LEN];
	DIR *d = opendir("/proc");
	struct dirent *e;

	if (!d)
		return;
	snprintf(needle, sizeof(needle), "CNI_CONTAINERID=%s", sb->id);
	while ((e = readdir(d))) {
		int pidfd;

		if (e->d_name[0] < '1' || e->d_name[0] > '9' || !environ_has(e->d_name, needle))
			continue;
		pidfd = (int)syscall(SYS_pidfd_open, atoi(e->d_name), 0);
		if (pidfd < 0)
			continue;
		crid_log_info("recovery: killing CNI plugin pid %s left running for pod %.12s",
			      e->d_name, sb->id);
		syscall(SYS_pidfd_send_signal, pidfd, SIGKILL, NULL, 0);
		close(pidfd);
	}
	closedir(d);
}

static void recover_one(struct crid_pods *pods, struct crid_sandbox *sb)
{
	struct crid_pod_op *op;
	struct crid_err e;

	if (sb->state == CRID_SANDBOX_CREATING) {
		crid_log_info("recovery: pod %.12s (%s/%s) was being created: undoing it", sb->id,
			      sb->namespace, sb->name);
		kill_orphan_plugins(sb);
		op = op_new(pods, sb, OP_UNDO, recovered, NULL);
		if (op) {
			op->base.status = -1;
			crid_err_set(&op->base.err, ECANCELED, "pod %.12s: creation interrupted",
				     sb->id);
			sb->op = op;
			pods->running_ops++;
			op_start(op);
		}
		return;
	}
	/* READY with the network released: killed between DEL and the namespaces */
	if (sb->net == CRID_NET_DELETING ||
	    (sb->state == CRID_SANDBOX_READY && sb->net == CRID_NET_RELEASED)) {
		crid_log_info("recovery: pod %.12s was being stopped: finishing", sb->id);
		kill_orphan_plugins(sb);
		crid_pod_stop(pods, sb, recovered, NULL, &e);
		return;
	}
	if (sb->state == CRID_SANDBOX_READY && sb->ns.net[0] &&
	    !crid_pod_ns_is_pinned(sb->ns.net)) {
		crid_log_info("recovery: pod %.12s lost its namespaces (reboot?): NotReady",
			      sb->id);
		sb->state = CRID_SANDBOX_NOTREADY;
		if (crid_sandbox_save(pods->store, sb, &e) < 0)
			crid_log_warn("recovery: %s", e.msg);
	}
}

int crid_pods_init(struct crid_pods *pods, struct crid_loop *loop, const struct crid_config *cfg,
		   struct crid_cni_watch *cni, const struct crid_node_state *node,
		   struct crid_err *err)
{
	struct crid_sandbox *const *all;
	size_t n;

	memset(pods, 0, sizeof(*pods));
	pods->loop = loop;
	pods->cfg = cfg;
	pods->cni = cni;
	pods->node = node;
	if (crid_sandbox_store_open(cfg->root, cfg->runroot, &pods->store, err) < 0)
		return crid_err_wrap(err, "pod sandbox store");
	sweep_orphans(pods);
	all = crid_sandbox_list(pods->store, &n);
	crid_log_info("%zu pod sandboxes loaded", n);
	/* recover_one may delete records (an undo of a pod with nothing to undo): walk a copy */
	{
		struct crid_sandbox **copy = crid_calloc(n + 1, sizeof(*copy));

		if (!copy)
			return crid_err_set(err, ENOMEM, "pod recovery");
		if (n)
			memcpy(copy, all, n * sizeof(*copy));
		for (size_t i = 0; i < n; i++)
			recover_one(pods, copy[i]);
		crid_free(copy);
	}
	return 0;
}

void crid_pods_cleanup(struct crid_pods *pods)
{
	size_t n;
	struct crid_sandbox *const *all;

	if (!pods->store)
		return;
	all = crid_sandbox_list(pods->store, &n);
	for (size_t i = 0; i < n; i++) {
		struct crid_pod_op *op = all[i]->op;

		while (op) {
			struct crid_pod_op *next = pod_op(crid_op_unqueue(&op->base));

			if (op->cni)
				crid_cni_op_cancel(op->cni);
			if (op->pin)
				crid_pod_ns_op_cancel(op->pin);
			if (op->release_on) /* it finishes on its own; the release is idempotent */
				close(crid_child_detach(&op->release));
			op_free(op);
			op = next;
		}
		all[i]->op = NULL;
	}
	crid_sandbox_store_close(pods->store);
	pods->store = NULL;
}
