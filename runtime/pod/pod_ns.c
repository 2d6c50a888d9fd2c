#include "runtime/pod/pod_ns.h"

#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <libgen.h>
#include <limits.h>
#include <linux/magic.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mount.h>
#include <sys/pidfd.h>
#include <sys/stat.h>
#include <sys/statfs.h>
#include <sys/syscall.h>
#include <sys/wait.h>
#include <unistd.h>

#include "reactor/debug_point.h"
#include "reactor/log.h"
#include "reactor/helper_path.h"
#include "reactor/mem.h"
#include "reactor/spawn.h"
#include "runtime/state/statefile.h"

/* ---- sysctls ---- */

enum ns_kind { NS_IPC, NS_NET, NS_UTS };

/*
 * Kubernetes' "namespaced" sysctls (pkg/kubelet/sysctl/namespace.go) and
 * CRI-O's table (pkg/config/sysctl.go), which adds the UTS ones. A pod's
 * UTS namespace is the host's exactly when its network is (kubelet and
 * CRI-O tie them), so UTS sysctls follow |private_net|.
 */
static const struct {
	const char *name;
	bool prefix;
	enum ns_kind ns;
} namespaced[] = {
	{ "kernel.shm_rmid_forced", false, NS_IPC },
	{ "kernel.shmmax", false, NS_IPC },
	{ "kernel.shmall", false, NS_IPC },
	{ "kernel.shmmni", false, NS_IPC },
	{ "kernel.msgmax", false, NS_IPC },
	{ "kernel.msgmnb", false, NS_IPC },
	{ "kernel.msgmni", false, NS_IPC },
	{ "kernel.sem", false, NS_IPC },
	{ "fs.mqueue.", true, NS_IPC },
	{ "net.", true, NS_NET },
	{ "kernel.hostname", false, NS_UTS },
	{ "kernel.domainname", false, NS_UTS },
};

static bool key_char_ok(char c)
{
	return (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9') ||
	       c == '_' || c == '-' || c == '.';
}

static int check_syntax(const char *key, const char *value, struct crid_err *err)
{
	size_t n = strlen(key);

	if (n == 0 || n > 128)
		return crid_err_invalid(err, "sysctl `%.128s`: key must be 1 to 128 bytes", key);
	for (size_t i = 0; i < n; i++)
		if (!key_char_ok(key[i]))
			return crid_err_invalid(err, "sysctl `%s`: invalid character in key", key);
	if (key[0] == '.' || key[n - 1] == '.' || strstr(key, ".."))
		return crid_err_invalid(err, "sysctl `%s`: empty component in key", key);
	if (value[0] == '\0' || strlen(value) > 512)
		return crid_err_invalid(err, "sysctl `%s`: value must be 1 to 512 bytes", key);
	/* Values like kernel.sem's "250 32000 32 128" have spaces; nothing else unprintable. */
	for (const char *p = value; *p; p++)
		if ((unsigned char)*p < 0x20 && *p != '\t')
			return crid_err_invalid(err, "sysctl `%s`: control character in value",
						key);
	return 0;
}

int crid_pod_ns_check_sysctl(const char *key, const char *value, bool private_net, bool private_ipc,
			     struct crid_err *err)
{
	static const char *const kind_name[] = { "ipc", "network", "uts" };

	if (check_syntax(key, value, err) < 0)
		return -1;
	for (size_t i = 0; i < sizeof(namespaced) / sizeof(namespaced[0]); i++) {
		size_t n = strlen(namespaced[i].name);
		enum ns_kind ns = namespaced[i].ns;

		if (namespaced[i].prefix ? strncmp(key, namespaced[i].name, n) != 0
					 : strcmp(key, namespaced[i].name) != 0)
			continue;
		if ((ns == NS_IPC && !private_ipc) || (ns != NS_IPC && !private_net))
			return crid_err_invalid(
			    err,
			    "sysctl `%s` is not allowed: the pod uses the host's "
			    "%s namespace",
			    key, kind_name[ns]);
		return 0;
	}
	return crid_err_invalid(err, "sysctl `%s` is not namespaced", key);
}

/* ---- pinning ---- */

static int kill_holder(const char *pinned, pid_t pid, struct crid_err *err);

#define PINNS_OUT_MAX 64
#define PINNS_ERR_MAX 400

struct crid_pod_ns_op {
	struct crid_child child;
	struct crid_loop *loop;
	ev_io out_w, err_w;
	ev_timer timer;
	int out_fd, err_fd;
	bool exited, timed_out, created_dir;
	int status;
	double timeout;
	size_t out_len, err_len;
	char out[PINNS_OUT_MAX];
	char errbuf[PINNS_ERR_MAX];
	struct crid_pod_ns ns;
	char dir[PATH_MAX];
	crid_pod_ns_done_fn done;
	void *user;
};

static int find_pinns(char *path, size_t size, struct crid_err *err)
{
	return crid_helper_path("crid-pinns", "CRID_PINNS", path, size, err);
}

static int ns_path(char *out, const char *dir, const char *name, struct crid_err *err)
{
	if (snprintf(out, sizeof(((struct crid_pod_ns *)0)->net), "%s/%s", dir, name) >=
	    (int)sizeof(((struct crid_pod_ns *)0)->net))
		return crid_err_set(err, ENAMETOOLONG, "namespace dir `%s`", dir);
	return 0;
}

static int fill_paths(struct crid_pod_ns *ns, const struct crid_pod_ns_spec *spec,
		      struct crid_err *err)
{
	memset(ns, 0, sizeof(*ns));
	if ((spec->net && ns_path(ns->net, spec->dir, "net", err) < 0) ||
	    (spec->ipc && ns_path(ns->ipc, spec->dir, "ipc", err) < 0) ||
	    (spec->uts && ns_path(ns->uts, spec->dir, "uts", err) < 0) ||
	    (spec->pid && ns_path(ns->pid, spec->dir, "pid", err) < 0))
		return -1;
	return 0;
}

/* argv for crid-pinns; one allocation, freed by the caller with crid_free. */
static char **build_argv(const struct crid_pod_ns_spec *spec, struct crid_err *err)
{
	size_t max = 10 + 2 * spec->n_sysctls, i = 0;
	char **argv = crid_calloc(max, sizeof(*argv));

	if (!argv) {
		crid_err_set(err, ENOMEM, "crid-pinns arguments");
		return NULL;
	}
	argv[i++] = "crid-pinns";
	argv[i++] = "-d";
	argv[i++] = (char *)spec->dir;
	if (spec->net)
		argv[i++] = "-n";
	if (spec->ipc)
		argv[i++] = "-i";
	if (spec->uts)
		argv[i++] = "-u";
	if (spec->pid)
		argv[i++] = "-p";
	if (spec->uts && spec->hostname && spec->hostname[0]) {
		argv[i++] = "-H";
		argv[i++] = (char *)spec->hostname;
	}
	for (size_t k = 0; k < spec->n_sysctls; k++) {
		argv[i++] = "-s";
		argv[i++] = (char *)spec->sysctls[k];
	}
	argv[i] = NULL;
	return argv;
}

static void stop_io(struct crid_pod_ns_op *op)
{
	struct ev_loop *ev = op->loop->ev;

	ev_timer_stop(ev, &op->timer);
	if (op->out_fd >= 0) {
		ev_io_stop(ev, &op->out_w);
		close(op->out_fd);
		op->out_fd = -1;
	}
	if (op->err_fd >= 0) {
		ev_io_stop(ev, &op->err_w);
		close(op->err_fd);
		op->err_fd = -1;
	}
}

/* Removes whatever a killed crid-pinns or a bad reply left; the child is gone by now. */
static void undo_pin(struct crid_pod_ns_op *op)
{
	static const char *const names[] = { "net", "ipc", "uts", "pid" };
	char path[PATH_MAX + 8];

	if (op->ns.holder_pid > 0) {
		snprintf(path, sizeof(path), "%s/pid", op->dir);
		kill_holder(path, op->ns.holder_pid, NULL);
	}
	for (size_t i = 0; i < 4; i++) {
		snprintf(path, sizeof(path), "%s/%s", op->dir, names[i]);
		while (umount2(path, MNT_DETACH) == 0)
			;
		unlink(path);
	}
	if (op->created_dir)
		rmdir(op->dir);
}

/* The child's one-line message, without the trailing newline. */
static void child_message(struct crid_pod_ns_op *op, struct crid_err *err)
{
	char *nl;

	op->errbuf[op->err_len] = '\0';
	nl = strchr(op->errbuf, '\n');
	if (nl)
		*nl = '\0';
	if (op->timed_out)
		crid_err_set(err, 0, "crid-pinns for `%s` timed out after %gs", op->dir,
			     op->timeout);
	else if (op->errbuf[0])
		crid_err_set(err, 0, "%s", op->errbuf);
	else if (op->status > 128)
		crid_err_set(err, 0, "crid-pinns killed by signal %d", op->status - 128);
	else
		crid_err_set(err, 0, "crid-pinns exited with status %d", op->status);
	err->code = op->timed_out ? ETIMEDOUT : EIO;
}

static int parse_holder(struct crid_pod_ns_op *op, struct crid_err *err)
{
	char *end;
	long pid;

	if (!op->ns.pid[0])
		return 0;
	op->out[op->out_len] = '\0';
	errno = 0;
	pid = strtol(op->out, &end, 10);
	if (errno || end == op->out || *end != '\n' || pid <= 1 || pid > INT_MAX)
		return crid_err_set(err, EIO, "crid-pinns printed no holder pid (`%.32s`)",
				    op->out);
	op->ns.holder_pid = (pid_t)pid;
	return 0;
}

static void finish(struct crid_pod_ns_op *op)
{
	crid_pod_ns_done_fn done = op->done;
	void *user = op->user;
	struct crid_pod_ns ns;
	struct crid_err err;
	int status = 0;

	crid_err_clear(&err);
	stop_io(op);
	if (op->status != 0 || op->timed_out) {
		child_message(op, &err);
		status = -1;
	} else if (parse_holder(op, &err) < 0) {
		status = -1;
	}
	if (status < 0 && !op->timed_out && op->status > 0 && op->status < 128) {
		/* crid-pinns failed and undid its own work; files it refused to replace stay. */
		if (op->created_dir)
			rmdir(op->dir);
	} else if (status < 0) {
		if (op->ns.holder_pid == 0 && op->out_len)
			parse_holder(op, NULL);
		undo_pin(op);
	}
	ns = op->ns;
	crid_free(op);
	done(user, status, status == 0 ? &ns : NULL, status == 0 ? NULL : &err);
}

static void maybe_finish(struct crid_pod_ns_op *op)
{
	if (op->exited && op->out_fd < 0 && op->err_fd < 0)
		finish(op);
}

static void drain(struct crid_pod_ns_op *op, int *fd, ev_io *w, char *buf, size_t *len, size_t cap)
{
	char scratch[256];

	for (;;) {
		char *dst = *len < cap - 1 ? buf + *len : scratch;
		size_t room = *len < cap - 1 ? cap - 1 - *len : sizeof(scratch);
		ssize_t n = read(*fd, dst, room);

		if (n > 0) {
			if (dst != scratch)
				*len += (size_t)n;
			continue;
		}
		if (n < 0 && errno == EINTR)
			continue;
		if (n < 0 && errno == EAGAIN)
			return;
		ev_io_stop(op->loop->ev, w);
		close(*fd);
		*fd = -1;
		maybe_finish(op);
		return;
	}
}

static void out_cb(struct ev_loop *ev, ev_io *w, int revents)
{
	struct crid_pod_ns_op *op = w->data;

	(void)ev, (void)revents;
	drain(op, &op->out_fd, w, op->out, &op->out_len, sizeof(op->out));
}

static void err_cb(struct ev_loop *ev, ev_io *w, int revents)
{
	struct crid_pod_ns_op *op = w->data;

	(void)ev, (void)revents;
	drain(op, &op->err_fd, w, op->errbuf, &op->err_len, sizeof(op->errbuf));
}

static void exit_cb(struct crid_child *child, int status, void *user)
{
	struct crid_pod_ns_op *op = user;

	(void)child;
	op->exited = true;
	op->status = status;
	maybe_finish(op);
}

static void timer_cb(struct ev_loop *ev, ev_timer *w, int revents)
{
	struct crid_pod_ns_op *op = w->data;

	(void)ev, (void)revents;
	op->timed_out = true;
	if (op->exited) {
		finish(op); /* exited, but something still holds its pipes open */
		return;
	}
	crid_child_kill(&op->child, SIGKILL);
	/* The pipes may be held by a holder in the making: it exits once pinns is gone. */
}

static int open_pipe(int fds[2], struct crid_err *err)
{
	if (pipe2(fds, O_CLOEXEC) < 0)
		return crid_err_set(err, errno, "pipe for crid-pinns");
	fcntl(fds[0], F_SETFL, O_NONBLOCK);
	return 0;
}

static int spawn_pinns(struct crid_pod_ns_op *op, const struct crid_pod_ns_spec *spec,
		       struct crid_err *err)
{
	char path[PATH_MAX];
	int out[2], errp[2], r;
	char **argv;

	if (find_pinns(path, sizeof(path), err) < 0)
		return -1;
	argv = build_argv(spec, err);
	if (!argv)
		return -1;
	if (open_pipe(out, err) < 0) {
		crid_free(argv);
		return -1;
	}
	if (open_pipe(errp, err) < 0) {
		close(out[0]), close(out[1]);
		crid_free(argv);
		return -1;
	}
	struct crid_spawn_opts o = { path, argv, NULL, -1, out[1], errp[1] };

	r = crid_spawn(op->loop, &op->child, &o, exit_cb, op, err);
	crid_free(argv);
	close(out[1]);
	close(errp[1]);
	if (r < 0) {
		close(out[0]);
		close(errp[0]);
		return -1;
	}
	op->out_fd = out[0];
	op->err_fd = errp[0];
	return 0;
}

struct crid_pod_ns_op *crid_pod_ns_pin(struct crid_loop *loop, const struct crid_pod_ns_spec *spec,
				       double timeout, crid_pod_ns_done_fn done, void *user,
				       struct crid_err *err)
{
	struct crid_pod_ns_op *op;
	struct stat st;

	if (!spec->dir || spec->dir[0] != '/') {
		crid_err_invalid(err, "namespace dir `%s` is not absolute",
				 spec->dir ? spec->dir : "");
		return NULL;
	}
	op = crid_calloc(1, sizeof(*op));
	if (!op) {
		crid_err_set(err, ENOMEM, "pin namespaces in `%s`", spec->dir);
		return NULL;
	}
	op->loop = loop;
	op->out_fd = op->err_fd = -1;
	op->done = done;
	op->user = user;
	op->timeout = timeout;
	if (snprintf(op->dir, sizeof(op->dir), "%s", spec->dir) >= (int)sizeof(op->dir) ||
	    fill_paths(&op->ns, spec, err) < 0) {
		crid_err_set(err, ENAMETOOLONG, "namespace dir `%s`", spec->dir);
		goto fail;
	}
	op->created_dir = stat(spec->dir, &st) < 0;
	if (op->created_dir && crid_mkdir_p(spec->dir, 0711, err) < 0)
		goto fail;
	if (spawn_pinns(op, spec, err) < 0)
		goto undo;
	ev_io_init(&op->out_w, out_cb, op->out_fd, EV_READ);
	op->out_w.data = op;
	ev_io_start(loop->ev, &op->out_w);
	ev_io_init(&op->err_w, err_cb, op->err_fd, EV_READ);
	op->err_w.data = op;
	ev_io_start(loop->ev, &op->err_w);
	ev_timer_init(&op->timer, timer_cb, timeout, 0.);
	op->timer.data = op;
	ev_timer_start(loop->ev, &op->timer);
	return op;
undo:
	if (op->created_dir)
		rmdir(op->dir);
fail:
	crid_free(op);
	return NULL;
}

void crid_pod_ns_op_cancel(struct crid_pod_ns_op *op)
{
	siginfo_t si;

	if (!op)
		return;
	stop_io(op);
	if (!op->exited) {
		int fd = op->child.pidfd;

		crid_child_kill(&op->child, SIGKILL);
		crid_child_detach(&op->child);
		/* Just killed: the wait is for its in-flight syscall to return, not for work. */
		while (waitid(P_PIDFD, (id_t)fd, &si, WEXITED) < 0 && errno == EINTR)
			;
		close(fd);
	}
	if (op->out_len)
		parse_holder(op, NULL);
	undo_pin(op);
	crid_free(op);
}

/* ---- release ---- */

/* Kills |pid| only if it is still the process whose PID namespace is pinned at |pinned|. */
static int kill_holder(const char *pinned, pid_t pid, struct crid_err *err)
{
	char path[64];
	struct stat a, b;
	int fd;

	if (stat(pinned, &a) < 0 || !crid_pod_ns_is_pinned(pinned))
		return 0; /* nothing pinned: the holder cannot be told apart from a recycled pid */
	fd = pidfd_open(pid, 0);
	/*
	 * ENOENT: the pid now names a thread of another process (Linux 6.15+ pidfd_open
	 * refuses non-leaders so): the holder, a process, is gone like with ESRCH. Seen in
	 * a soak, the holder's pid recycled as a thread; the pod could never be stopped.
	 */
	if (fd < 0)
		return errno == ESRCH || errno == ENOENT
			   ? 0
			   : crid_err_set(err, errno, "pidfd_open %d", (int)pid);
	/* Checked after the pidfd is open, so the pid cannot be recycled in between. */
	snprintf(path, sizeof(path), "/proc/%d/ns/pid", (int)pid);
	if (stat(path, &b) == 0 && a.st_dev == b.st_dev && a.st_ino == b.st_ino &&
	    pidfd_send_signal(fd, SIGKILL, NULL, 0) < 0 && errno != ESRCH) {
		crid_err_set(err, errno, "kill pid namespace holder %d", (int)pid);
		close(fd);
		return -1;
	}
	close(fd);
	return 0;
}

/*
 * A pinned PID namespace whose holder's pid was never recorded (crid died
 * between pinning and the next save): find the processes living in it by
 * their /proc/<pid>/ns/pid and kill them, its init first among them. One
 * bounded scan of /proc, only on this recovery path.
 */
static void kill_pid_namespace(const char *pinned)
{
	struct stat want, st;
	struct dirent *de;
	DIR *d;

	if (stat(pinned, &want) < 0 || !(d = opendir("/proc")))
		return;
	while ((de = readdir(d))) {
		char ns[300];
		int pidfd;

		if (de->d_name[0] < '1' || de->d_name[0] > '9')
			continue;
		if (snprintf(ns, sizeof(ns), "/proc/%s/ns/pid", de->d_name) >= (int)sizeof(ns) ||
		    stat(ns, &st) < 0 || st.st_dev != want.st_dev || st.st_ino != want.st_ino)
			continue;
		pidfd = (int)syscall(SYS_pidfd_open, atoi(de->d_name), 0);
		if (pidfd < 0)
			continue;
		crid_log_info("pod PID namespace `%s`: killing pid %s left in it", pinned,
			      de->d_name);
		syscall(SYS_pidfd_send_signal, pidfd, SIGKILL, NULL, 0);
		close(pidfd);
	}
	closedir(d);
}

int crid_pod_ns_kill(const char *dir, pid_t holder_pid, struct crid_err *err)
{
	char path[PATH_MAX];

	if (holder_pid <= 0)
		return 0;
	if (snprintf(path, sizeof(path), "%s/pid", dir) >= (int)sizeof(path))
		return crid_err_set(err, ENAMETOOLONG, "namespace dir `%s`", dir);
	return kill_holder(path, holder_pid, err);
}

int crid_pod_ns_release(const char *dir, pid_t holder_pid, struct crid_err *err)
{
	char path[PATH_MAX];
	struct dirent *de;
	DIR *d;
	int r = 0;

	if (snprintf(path, sizeof(path), "%s/pid", dir) >= (int)sizeof(path))
		return crid_err_set(err, ENAMETOOLONG, "namespace dir `%s`", dir);
	if (holder_pid > 0) {
		if (kill_holder(path, holder_pid, err) < 0)
			return -1;
	} else if (crid_pod_ns_is_pinned(path)) {
		kill_pid_namespace(path);
	}
	d = opendir(dir);
	if (!d)
		return errno == ENOENT ? 0 : crid_err_set(err, errno, "open `%s`", dir);
	while ((de = readdir(d))) {
		if (!strcmp(de->d_name, ".") || !strcmp(de->d_name, ".."))
			continue;
		if (snprintf(path, sizeof(path), "%s/%s", dir, de->d_name) >= (int)sizeof(path))
			continue;
		while (umount2(path, MNT_DETACH | UMOUNT_NOFOLLOW) == 0)
			;
		if (errno != EINVAL && errno != ENOENT && r == 0)
			r = crid_err_set(err, errno, "unmount `%s`", path);
		crid_debug_point("pod-ns-unmounted"); /* the file stays until the unlink */
		if (unlink(path) < 0 && errno != ENOENT && r == 0)
			r = crid_err_set(err, errno, "remove `%s`", path);
	}
	closedir(d);
	if (r == 0 && rmdir(dir) < 0 && errno != ENOENT)
		r = crid_err_set(err, errno, "remove `%s`", dir);
	return r;
}

bool crid_pod_ns_is_pinned(const char *path)
{
	struct statfs sf;

	return statfs(path, &sf) == 0 && sf.f_type == NSFS_MAGIC;
}
