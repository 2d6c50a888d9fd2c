/*
 * The floor of pod start, measured in the same run as the runtimes: a bare
 * OCI runtime `run --detach` of the same rootfs (an OCI bundle prepared by
 * tests/fixtures/images.py bundle) and the CNI plugin's own ADD and DEL in a
 * fresh network namespace, both spawned directly. The OCI floor is taken for
 * runc (`--oci-runtime`: oci_run, oci_delete) and, where /usr/bin/crun is
 * installed, for crun (crun_run, crun_delete): on a cgroup hybrid host
 * through the same trick as crid's (runtime/oci/crun_ns.h), a mount
 * namespace without the cgroup2 mount, cut once and entered by each call.
 */
#include <errno.h>
#include <fcntl.h>
#include <sched.h>
#include <spawn.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/wait.h>
#include <unistd.h>

#include <yajl/yajl_tree.h>

#include "bench/pods.h"
#include "runtime/oci/crun_ns.h"
#include "runtime/oci/host.h"

#define CRUN "/usr/bin/crun"

extern char **environ;

/* Runs argv with stdin from |in| (NULL: /dev/null), output discarded; returns the exit status. */
static int run_cmd(char *const argv[], char *const envp[], const char *in)
{
	posix_spawn_file_actions_t fa;
	pid_t pid;
	int st, rc;

	posix_spawn_file_actions_init(&fa);
	posix_spawn_file_actions_addopen(&fa, 0, in ? in : "/dev/null", O_RDONLY, 0);
	posix_spawn_file_actions_addopen(&fa, 1, "/dev/null", O_WRONLY, 0);
	posix_spawn_file_actions_addopen(&fa, 2, "/dev/null", O_WRONLY, 0);
	rc = posix_spawnp(&pid, argv[0], &fa, NULL, argv, envp ? envp : environ);
	posix_spawn_file_actions_destroy(&fa);
	if (rc != 0)
		return -rc;
	while (waitpid(pid, &st, 0) < 0)
		if (errno != EINTR)
			return -errno;
	return WIFEXITED(st) ? WEXITSTATUS(st) : 128 + WTERMSIG(st);
}

static double timed(char *const argv[], char *const envp[], const char *in, int *status)
{
	uint64_t t0 = crid_bench_now_ns();

	*status = run_cmd(argv, envp, in);
	return (double)(crid_bench_now_ns() - t0) / 1e6;
}

/* As run_cmd, the child entering mount namespace |ns| first (vfork: setns, stdio, exec). */
static int run_in_ns(char *const argv[], int ns)
{
	pid_t pid;
	int st;

	pid = vfork();
	if (pid == 0) {
		int fd = open("/dev/null", O_RDWR);

		if (fd >= 0 && dup2(fd, 0) >= 0 && dup2(fd, 1) >= 0 && dup2(fd, 2) >= 0 &&
		    setns(ns, CLONE_NEWNS) == 0)
			execv(argv[0], argv);
		_exit(127);
	}
	if (pid < 0)
		return -errno;
	while (waitpid(pid, &st, 0) < 0)
		if (errno != EINTR)
			return -errno;
	return WIFEXITED(st) ? WEXITSTATUS(st) : 128 + WTERMSIG(st);
}

static double timed_in(char *const argv[], int ns, int *status)
{
	uint64_t t0 = crid_bench_now_ns();

	*status = ns >= 0 ? run_in_ns(argv, ns) : run_cmd(argv, NULL, NULL);
	return (double)(crid_bench_now_ns() - t0) / 1e6;
}

/* One `run --detach` + `delete --force` of |bin|, recorded as |series|_run, _delete. */
static void floor_oci(struct crid_bench_run *run, size_t seq, const char *bin, int ns,
		      const char *series)
{
	struct crid_bench_endpoint *fl = &run->floor;
	char id[64], root[128], name[32];
	int st;
	double ms;

	snprintf(id, sizeof(id), "crid-bench-floor-%d-%zu", (int)getpid(), seq);
	snprintf(root, sizeof(root), "/run/crid-bench-floor-%d", (int)getpid());
	{
		char *run_argv[] = { (char *)bin,
				     "--root",
				     root,
				     "run",
				     "--detach",
				     "--bundle",
				     (char *)run->floor_bundle,
				     id,
				     NULL };

		ms = timed_in(run_argv, ns, &st);
	}
	if (st != 0) {
		crid_bench_fail(fl, 0, "%s run --detach --bundle %s: exit status %d", bin,
				run->floor_bundle, st);
		return;
	}
	snprintf(name, sizeof(name), "%s_run", series);
	crid_bench_record(fl, name, "ms", ms);
	{
		char *del_argv[] = { (char *)bin, "--root", root, "delete", "--force", id, NULL };

		ms = timed_in(del_argv, ns, &st);
	}
	snprintf(name, sizeof(name), "%s_delete", series);
	if (st != 0)
		crid_bench_fail(fl, 0, "%s delete --force %s: exit status %d", bin, id, st);
	else
		crid_bench_record(fl, name, "ms", ms);
}

/*
 * crun's namespace: -1 (none needed) unless the host is hybrid with
 * controllers on /sys/fs/cgroup/unified, where crun refuses to run.
 */
static int crun_ns(struct crid_bench_run *run)
{
	static int fd = -2;
	struct crid_host h = { 0 };
	struct crid_err err;

	if (fd != -2)
		return fd;
	fd = -1;
	crid_host_detect_cgroup_at(&h, CRID_CGROUP_ROOT, "/proc/self/mountinfo");
	if (h.cgroup_mode != CRID_CGROUP_HYBRID || !h.cgroup2_controllers[0])
		return fd;
	fd = crid_crun_ns_open(h.cgroup2_mount, &err);
	if (fd < 0)
		crid_bench_fail(&run->floor, 0, "crun floor: %s", err.msg);
	return fd;
}

static void floor_runtime(struct crid_bench_run *run, size_t seq)
{
	int ns;

	floor_oci(run, seq, run->oci_runtime, -1, "oci");
	if (run->floor.error[0] || access(CRUN, X_OK) != 0)
		return;
	ns = crun_ns(run);
	if (!run->floor.error[0])
		floor_oci(run, seq, CRUN, ns, "crun");
}

/* The plugin named by "type" in the conf file, or NULL. */
static char *plugin_type(const char *conf)
{
	static const char *path[] = { "type", NULL };
	char buf[8192], errbuf[128];
	yajl_val tree, v;
	char *type = NULL;
	FILE *f = fopen(conf, "re");
	size_t n;

	if (!f)
		return NULL;
	n = fread(buf, 1, sizeof(buf) - 1, f);
	fclose(f);
	buf[n] = '\0';
	tree = yajl_tree_parse(buf, errbuf, sizeof(errbuf));
	if (!tree)
		return NULL;
	v = yajl_tree_get(tree, path, yajl_t_string);
	if (v) {
		const char *t = YAJL_GET_STRING(v);

		type = t ? strdup(t) : NULL;
	}
	yajl_tree_free(tree);
	return type;
}

static void floor_cni(struct crid_bench_run *run, size_t seq)
{
	struct crid_bench_endpoint *fl = &run->floor;
	char ns[64], nspath[128], plugin[512], e_cmd[32], e_id[96], e_ns[160],
	    e_if[] = "CNI_IFNAME=eth0", e_path[600];
	char *type = plugin_type(run->floor_cni);
	char *envp[] = {
		e_cmd, e_id, e_ns, e_if, e_path, "PATH=/usr/sbin:/usr/bin:/sbin:/bin", NULL
	};
	char *plugin_argv[] = { plugin, NULL };
	int st;
	double ms;

	if (!type) {
		crid_bench_fail(fl, 0, "`%s`: no \"type\" (want a single-plugin CNI conf)",
				run->floor_cni);
		return;
	}
	snprintf(plugin, sizeof(plugin), "%s/%s", run->cni_bin_dir, type);
	free(type);
	snprintf(ns, sizeof(ns), "crid-bench-floor-%d-%zu", (int)getpid(), seq);
	snprintf(nspath, sizeof(nspath), "/var/run/netns/%s", ns);
	{
		char *add[] = { "ip", "netns", "add", ns, NULL };

		if (run_cmd(add, NULL, NULL) != 0) {
			crid_bench_fail(fl, 0, "ip netns add %s failed", ns);
			return;
		}
	}
	snprintf(e_id, sizeof(e_id), "CNI_CONTAINERID=%s", ns);
	snprintf(e_ns, sizeof(e_ns), "CNI_NETNS=%s", nspath);
	snprintf(e_path, sizeof(e_path), "CNI_PATH=%s", run->cni_bin_dir);
	snprintf(e_cmd, sizeof(e_cmd), "CNI_COMMAND=ADD");
	ms = timed(plugin_argv, envp, run->floor_cni, &st);
	if (st != 0)
		crid_bench_fail(fl, 0, "%s ADD: exit status %d", plugin, st);
	else
		crid_bench_record(fl, "cni_add", "ms", ms);
	snprintf(e_cmd, sizeof(e_cmd), "CNI_COMMAND=DEL");
	ms = timed(plugin_argv, envp, run->floor_cni, &st);
	if (st != 0)
		crid_bench_fail(fl, 0, "%s DEL: exit status %d", plugin, st);
	else
		crid_bench_record(fl, "cni_del", "ms", ms);
	{
		char *del[] = { "ip", "netns", "del", ns, NULL };

		run_cmd(del, NULL, NULL);
	}
}

void crid_bench_floor_once(struct crid_bench_run *run)
{
	static size_t seq;

	if (run->floor.error[0])
		return;
	if (run->floor_bundle)
		floor_runtime(run, seq);
	if (run->floor_cni && !run->floor.error[0])
		floor_cni(run, seq);
	seq++;
}

void crid_bench_floor_cleanup(void)
{
	char root[128];

	snprintf(root, sizeof(root), "/run/crid-bench-floor-%d", (int)getpid());
	rmdir(root);
}
