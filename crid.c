/*
 * crid: the daemon's main. Reads the configuration, detects what the host
 * supports, opens the CRI socket and runs the one loop until SIGTERM.
 */
#include <errno.h>
#include <grp.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/resource.h>
#include <unistd.h>

#include "handlers/container.h"
#include "handlers/handlers.h"
#include "handlers/pull.h"
#include "handlers/sandbox.h"
#include "io/grpc_server.h"
#include "io/metrics_http.h"
#include "io/sd_notify.h"
#include "io/unix_listener.h"
#include "reactor/debug_point.h"
#include "reactor/helper_path.h"
#include "reactor/log.h"
#include "reactor/malloc_policy.h"
#include "reactor/metrics_families.h"
#include "reactor/pidfd.h"
#include "runtime/container/ctr_metrics.h"
#include "runtime/oci/rt_features.h"
#include "runtime/oci/systemd_mgr.h"
#include "runtime/state/state_lock.h"
#include "runtime/state/statefile.h"
#include "runtime/state/syncer.h"
#include "runtime/stream/stream_server.h"

/* In-flight calls get this long to finish after SIGTERM. */
#define SHUTDOWN_GRACE_SECONDS 5.0

struct daemon_main {
	struct crid_loop loop;
	struct crid_config cfg;
	struct crid_host host;
	struct crid_daemon d;
	struct crid_grpc_server *server;
	struct crid_metrics_http *metrics; /* --enable-metrics */
	struct crid_state_lock lock;	   /* root and runroot: kept across the SIGHUP re-exec */
	ev_timer grace;
	int stopping;
	int reexec; /* SIGHUP: after the graceful shutdown, exec the binary again in place */
	int malloc_thresholds_refused; /* told once the log is set */
};

static void shutdown_done(void *user)
{
	struct daemon_main *m = user;

	crid_loop_stop(&m->loop);
}

static void grace_expired(struct ev_loop *ev, ev_timer *w, int revents)
{
	struct daemon_main *m = w->data;

	(void)ev;
	(void)revents;
	crid_log_warn("shutdown: in-flight calls did not finish within %.0fs, ending them",
		      SHUTDOWN_GRACE_SECONDS);
	crid_grpc_server_abort(m->server);
	crid_loop_stop(&m->loop);
}

/* systemd (Type=notify) learns our state; a failed send is only logged. */
static void notify(const char *state)
{
	struct crid_err err;

	crid_err_clear(&err);
	if (crid_sd_notify(state, &err) < 0)
		crid_log_warn("sd_notify %s: %s", state, err.msg);
}

static void begin_shutdown(struct daemon_main *m, int signo)
{
	/* a SIGHUP re-exec says READY=1 again from the new image (same pid) */
	notify(m->reexec ? "RELOADING=1" : "STOPPING=1");
	if (m->stopping++) {
		crid_log_info("second %s: stopping now", strsignal(signo));
		crid_grpc_server_abort(m->server);
		crid_loop_stop(&m->loop);
		return;
	}
	crid_log_info("%s: shutting down (%zu calls in flight)", strsignal(signo),
		      crid_grpc_server_active_calls(m->server));
	unlink(m->cfg.listen);
	ev_timer_init(&m->grace, grace_expired, SHUTDOWN_GRACE_SECONDS, 0.);
	m->grace.data = m;
	ev_timer_start(m->loop.ev, &m->grace);
	crid_grpc_server_shutdown(m->server, shutdown_done, m);
}

static void on_signal(struct crid_loop *loop, int signo, void *user)
{
	switch (signo) {
	case SIGTERM:
	case SIGINT:
		begin_shutdown(user, signo);
		break;
	case SIGHUP:
		/*
		 * A planned restart (also how a new binary is put in place): the containers
		 * stay our children across execve, their fds wait in the fd store, and the
		 * new image picks everything up as after a crash, with nothing lost.
		 */
		((struct daemon_main *)user)->reexec = 1;
		begin_shutdown(user, signo);
		break;
	case SIGCHLD:
		/* tracked children are collected through their pidfds; adopted orphans here */
		crid_reap_orphans_soon(loop);
		break;
	default:
		break;
	}
}

static void raise_fd_limit(void)
{
	struct rlimit rl;

	if (getrlimit(RLIMIT_NOFILE, &rl) == 0 && rl.rlim_cur < rl.rlim_max) {
		rl.rlim_cur = rl.rlim_max;
		setrlimit(RLIMIT_NOFILE, &rl);
	}
}

static void log_host(const struct crid_host *h)
{
	crid_log_info("host: cgroup %s", crid_cgroup_mode_name(h->cgroup_mode));
	for (size_t i = 0; i < h->n_runtimes; i++)
		crid_log_info("runtime handler %s (`%s`): %s%s", h->runtimes[i].name,
			      h->runtimes[i].path, h->runtimes[i].usable ? "usable" : "unusable: ",
			      h->runtimes[i].usable ? "" : h->runtimes[i].why);
	if (h->default_runtime)
		crid_log_info("default OCI runtime: %s%s%s", h->default_runtime,
			      h->default_why[0] ? " — " : "", h->default_why);
	else
		crid_log_error("no usable OCI runtime: %s", h->default_why);
	if (!h->has_cap_sys_resource)
		crid_log_info("no CAP_SYS_RESOURCE: oom_score_adj will be clamped to what crid "
			      "may set, and privileged containers get the host's capabilities");
}

/* The Exec, Attach and PortForward URLs point here; needs the pods and containers. */
static int start_streaming(struct daemon_main *m, struct crid_err *err)
{
	struct crid_stream_server_opts o = {
		.address = m->cfg.stream_address,
		.port = m->cfg.stream_port,
		.ctrs = m->d.ctrs,
		.pods = m->d.pods,
		.idle_timeout = m->cfg.stream_idle_timeout,
		.tls_cert = m->cfg.stream_tls_cert,
		.tls_key = m->cfg.stream_tls_key,
	};

	m->d.stream = crid_stream_server_start(&m->loop, &o, err);
	if (!m->d.stream)
		return -1;
	crid_log_info("streaming server on %s", crid_stream_server_base(m->d.stream));
	return 0;
}

/*
 * The gid of listen_group (a name or a gid; "" = crid's own, (gid_t)-1), so
 * its members may use the CRI socket with listen_mode 0660. Name lookup may
 * use NSS: at start, before the loop serves anything.
 */
static int socket_group(const char *group, gid_t *gid, struct crid_err *err)
{
	struct group *g;
	char *end;

	*gid = (gid_t)-1;
	if (!group[0])
		return 0;
	*gid = (gid_t)strtoul(group, &end, 10);
	if (*end) {
		errno = 0;
		g = getgrnam(group);
		if (!g)
			return crid_err_set(err, errno ? errno : ENOENT,
					    "listen_group `%s`: no such group", group);
		*gid = g->gr_gid;
	}
	return 0;
}

/* The Prometheus endpoint and what feeds it, when --enable-metrics asks for them. */
static int start_metrics(struct daemon_main *m, struct crid_err *err)
{
	struct crid_metrics_http_opts mo = {
		.address = m->cfg.metrics_host,
		.port = m->cfg.metrics_port,
		.cert = m->cfg.metrics_cert,
		.key = m->cfg.metrics_key,
	};

	if (!m->cfg.enable_metrics)
		return 0;
	crid_metrics_enable(true);
	if (crid_ctr_metrics_register(m->d.ctrs) < 0)
		return crid_err_set(err, ENOSPC, "metrics collectors");
	m->metrics = crid_metrics_http_start(&m->loop, &mo, err);
	if (!m->metrics)
		return -1;
	crid_log_info("metrics on %s://%s%s%s:%d/metrics",
		      crid_metrics_http_tls(m->metrics) ? "https" : "http",
		      strchr(m->cfg.metrics_host, ':') ? "[" : "", m->cfg.metrics_host,
		      strchr(m->cfg.metrics_host, ':') ? "]" : "",
		      crid_metrics_http_port(m->metrics));
	return 0;
}

/*
 * cgroup_manager systemd needs a systemd that answers: refused at start
 * otherwise, rather than telling kubelet "systemd" with nothing in a scope.
 * A blocking check, bounded, before the loop serves.
 */
static int open_systemd(struct daemon_main *m, struct crid_err *err)
{
	if (strcmp(m->cfg.cgroup_manager, "systemd") != 0)
		return 0;
	m->d.systemd = crid_systemd_open(&m->loop, 5.0, err);
	if (!m->d.systemd)
		return crid_err_wrap(err, "cgroup_manager `systemd` (use cgroupfs, with kubelet's "
					  "cgroupDriver: cgroupfs, where systemd is not PID 1)");
	crid_log_info("cgroup manager: systemd %s (pods in their slices, containers in "
		      "crid-<id>.scope)",
		      crid_systemd_version(m->d.systemd));
	return 0;
}

static int setup(struct daemon_main *m, struct crid_err *err)
{
	const char *dirs[] = { m->cfg.root, m->cfg.runroot };
	enum crid_log_level level;
	gid_t gid;
	int fd;

	if (crid_config_validate(&m->cfg, err) < 0)
		return -1;
	if (crid_log_level_parse(m->cfg.log_level, &level) == 0)
		crid_log_set_level(level);
	crid_log_set_format(m->cfg.log_format);
	crid_log_info("crid %s starting: config file %s%s%s, log level %s", CRID_VERSION,
		      m->cfg.config_path[0] ? "`" : "",
		      m->cfg.config_path[0] ? m->cfg.config_path
					    : "none (built-in defaults and flags)",
		      m->cfg.config_path[0] ? "`" : "", m->cfg.log_level);
	raise_fd_limit();
	if (m->malloc_thresholds_refused)
		crid_log_warn("malloc thresholds left to glibc: mallopt refused them");
	crid_log_info("malloc: per-thread cache %s", crid_malloc_tcache_state());
	if (crid_helper_dir_set(m->cfg.helper_dir, err) < 0)
		return -1;
	if (crid_mkdir_p(m->cfg.root, 0700, err) < 0 || crid_mkdir_p(m->cfg.runroot, 0700, err) < 0)
		return -1;
	/* before anything reads a record: a second daemon would recover the same containers */
	if (crid_state_lock_take(&m->lock, dirs, 2, err) < 0)
		return -1;
	/* arms the debug points here, in the daemon, before any child copies them */
	crid_debug_point("daemon-locked");
	if (crid_host_detect(&m->host, &m->cfg, err) < 0 ||
	    crid_host_prepare_crun(&m->host, &m->cfg, err) < 0)
		return -1;
	log_host(&m->host);
	m->d.loop = &m->loop;
	m->d.cfg = &m->cfg;
	m->d.host = &m->host;
	m->d.cni = crid_cni_watch_new(m->cfg.cni_config_dir, &m->cfg.cni_plugin_dirs);
	if (!m->d.cni)
		return crid_err_set(err, ENOMEM, "cni watch");
	if (crid_node_state_load(&m->d.node, m->cfg.root, err) < 0 || crid_handlers_init(err) < 0)
		return -1;
	if (crid_loop_init(&m->loop, on_signal, m, err) < 0)
		return -1;
	if (open_systemd(m, err) < 0)
		return -1;
	/* NULL when out of memory: every handler feature then reads false */
	m->d.rt_features = crid_rt_probe_start(&m->loop, &m->host);
	if (crid_syncer_start(&m->loop, m->cfg.root, err) < 0 ||
	    crid_image_store_open(m->cfg.root, &m->d.images, err) < 0 ||
	    crid_image_store_track_usage(m->d.images, &m->loop, err) < 0 ||
	    crid_trash_init(&m->d.trash, &m->loop, crid_image_store_trash_dir(m->d.images), err) <
		0)
		return -1;
	if (crid_pull_init(&m->d, err) < 0 || crid_sandbox_handlers_init(&m->d, err) < 0 ||
	    crid_container_handlers_init(&m->d, err) < 0)
		return -1;
	if (start_streaming(m, err) < 0 || start_metrics(m, err) < 0)
		return -1;
	crid_trash_sweep(&m->d.trash); /* leftovers of a crash or of earlier removals */
	if (socket_group(m->cfg.listen_group, &gid, err) < 0)
		return -1;
	fd = crid_unix_listen(m->cfg.listen, (mode_t)m->cfg.listen_mode, gid, err);
	if (fd < 0)
		return -1;
	m->server = crid_grpc_server_new(&m->loop, fd, crid_handlers_dispatch, &m->d, err);
	return m->server ? 0 : -1;
}

static void teardown(struct daemon_main *m)
{
	if (m->server) {
		crid_grpc_server_free(m->server);
		unlink(m->cfg.listen);
	}
	crid_metrics_http_stop(m->metrics);
	m->metrics = NULL;
	if (m->d.ctrs)
		crid_ctr_metrics_unregister(m->d.ctrs);
	/* sessions first: they hold containers' streams and pods' sockets */
	crid_stream_server_stop(m->d.stream);
	m->d.stream = NULL;
	crid_pull_cleanup(&m->d);
	crid_container_handlers_cleanup(&m->d);
	crid_sandbox_handlers_cleanup(&m->d);
	crid_rt_probe_free(m->d.rt_features);
	m->d.rt_features = NULL;
	if (m->loop.ev)
		crid_syncer_stop();
	if (m->d.trash.dir)
		crid_trash_cleanup(&m->d.trash);
	if (m->loop.ev)
		ev_timer_stop(m->loop.ev, &m->grace);
	crid_image_store_untrack_usage(m->d.images); /* kills a walk in flight: needs the loop */
	crid_systemd_close(m->d.systemd);
	m->d.systemd = NULL;
	crid_loop_destroy(&m->loop);
	crid_image_store_close(m->d.images);
	crid_handlers_cleanup();
	crid_node_state_free(&m->d.node);
	crid_cni_watch_free(m->d.cni);
	crid_host_free(&m->host);
	crid_metrics_reset();
	crid_config_free(&m->cfg);
	crid_helper_dir_set(NULL, NULL);
}

int main(int argc, char **argv)
{
	static struct daemon_main m;
	enum crid_config_action action;
	struct crid_err err;
	int rc = 0;

	crid_malloc_tcache_off(argv); /* may execute crid again: before anything is read or said */
	m.malloc_thresholds_refused = crid_malloc_thresholds_fix() < 0;
	crid_err_clear(&err);
	if (crid_config_from_args(&m.cfg, argc, argv, &action, &err) < 0) {
		fprintf(stderr, "crid: %s\n", err.msg);
		crid_config_free(&m.cfg);
		return 2;
	}
	if (action != CRID_CONFIG_RUN) {
		fputs(action == CRID_CONFIG_HELP ? crid_config_usage()
						 : "crid version " CRID_VERSION "\n",
		      stdout);
		crid_config_free(&m.cfg);
		return 0;
	}
	if (setup(&m, &err) < 0) {
		crid_log_error("%s", err.msg);
		rc = 1;
	} else {
		crid_log_info("crid %s serving CRI runtime.v1 on `%s`", CRID_VERSION, m.cfg.listen);
		notify("READY=1"); /* the socket listens: a client's connect succeeds from now */
		crid_loop_run(&m.loop);
		crid_log_info("stopped");
	}
	teardown(&m);
	if (rc == 0 && m.reexec) {
		crid_log_info("re-executing `/proc/self/exe` in place");
		if (crid_state_lock_pass_on(&m.lock, &err) < 0) {
			crid_log_error("re-exec: %s", err.msg);
		} else {
			execv("/proc/self/exe", argv);
			crid_log_error("re-exec: %s", strerror(errno));
		}
		rc = 1;
	}
	crid_state_lock_release(&m.lock);
	return rc;
}
