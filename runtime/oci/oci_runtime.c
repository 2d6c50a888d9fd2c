/*
 * The OCI runtime (runc, crun) as short-lived children on the loop.
 *
 * argv: `<path> [--root R] [--log FILE] --log-format json <verb> ...`.
 * Runtimes log their errors as JSON lines ({"level":"error","msg":...}):
 * to stderr by default, to FILE with --log. Verbs without container stdio
 * (start, kill, delete, state, update) get a stdout pipe (bounded to 1 MiB,
 * the state JSON) and a stderr pipe (the error lines); the call completes
 * when the runtime exited and both pipes are at EOF.
 *
 * create and exec hand the container's stdio to the runtime as its own
 * 0/1/2, because the container process inherits them (runc and crun have no
 * other way for non-terminal stdio); their errors are read from --log
 * instead, and they complete when the runtime exited. create logs to
 * `<bundle>/runtime.log` (kept, read from where this call began); each exec
 * gets its own log, process and pid files under the bundle, so concurrent
 * execs (probes) never read each other's errors.
 *
 * A terminal container's create also gets `--console-socket`: crid listens
 * on it (runtime/console.c) and the call succeeds only with the pty master
 * in hand, which then replaces the container's stdio.
 *
 * A plain exec is not detached: the runtime's exit status is the process's.
 * A runtime failure (the executable is missing) is told apart by an error in
 * the log: runc then exits 255, which a process could do too. A detached
 * exec (`--detach`, what the daemon uses, runtime/exec_proc.c) returns once
 * the process runs and its pid is in the pid file; any non-zero exit is the
 * runtime's failure.
 */
#include "runtime/oci/oci_runtime.h"

#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <signal.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/pidfd.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>
#include <yajl/yajl_tree.h>

#include "reactor/metrics_families.h"
#include "reactor/mem.h"
#include "reactor/spawn.h"
#include "runtime/oci/console.h"

#define OUT_MAX (1 << 20)
#define ERRBUF_MAX 8192
#define LOG_READ_MAX 65536
#define ARGV_MAX 24

enum verb { V_CREATE, V_START, V_KILL, V_DELETE, V_STATE, V_UPDATE, V_EXEC };

static const char *const verb_names[] = { "create", "start",  "kill", "delete",
					  "state",  "update", "exec" };

/* The runtime's environment: nothing of the daemon's leaks into containers through it. */
static char *const runtime_env[] = {
	"PATH=/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin", NULL
};

struct crid_oci_call {
	struct crid_child child;
	struct crid_loop *loop;
	ev_io out_w, err_w;
	ev_timer timer;
	int out_fd, err_fd;
	enum verb verb;
	double started; /* crid_metrics_clock() at the spawn: the call latency metric */
	bool exited, timed_out, out_overflow;
	int status;
	double timeout;
	char *out;
	size_t out_len, out_cap;
	char errbuf[ERRBUF_MAX];
	size_t err_len;
	char *log_path;		      /* --log, or NULL: errors come on stderr */
	off_t log_off;		      /* where this call's lines begin */
	char *tmp_file;		      /* --process / --resources file */
	char *pid_file;		      /* exec: its process, killed on timeout */
	bool own_log;		      /* exec's log: removed with the call */
	bool detached;		      /* exec --detach: the caller owns the pid file */
	struct crid_console *console; /* create or detached exec of a terminal process */
	int *master;		      /* where its pty master goes on success */
	char *id;
	char name[32];
	crid_oci_done_fn done;
	void *user;
};

static unsigned long call_seq;

/* ---- small helpers ---- */

static char *path_printf(const char *fmt, ...) __attribute__((format(printf, 1, 2)));

static char *path_printf(const char *fmt, ...)
{
	char buf[PATH_MAX];
	va_list ap;
	int n;

	va_start(ap, fmt);
	n = vsnprintf(buf, sizeof(buf), fmt, ap);
	va_end(ap);
	if (n < 0 || (size_t)n >= sizeof(buf)) {
		errno = ENAMETOOLONG;
		return NULL;
	}
	return crid_strdup(buf);
}

static void call_free(struct crid_oci_call *c)
{
	if (c->tmp_file)
		unlink(c->tmp_file);
	if (c->pid_file && c->verb == V_EXEC && !c->detached)
		unlink(c->pid_file);
	if (c->own_log)
		unlink(c->log_path);
	crid_console_close(c->console);
	crid_free(c->tmp_file);
	crid_free(c->pid_file);
	crid_free(c->log_path);
	crid_free(c->out);
	crid_free(c->id);
	crid_free(c);
}

static void stop_io(struct crid_oci_call *c)
{
	struct ev_loop *ev = c->loop->ev;

	ev_timer_stop(ev, &c->timer);
	if (c->out_fd >= 0) {
		ev_io_stop(ev, &c->out_w);
		close(c->out_fd);
		c->out_fd = -1;
	}
	if (c->err_fd >= 0) {
		ev_io_stop(ev, &c->err_w);
		close(c->err_fd);
		c->err_fd = -1;
	}
}

/* Writes |text| to a new file |path| (0600); small, so written on the loop. */
static int write_file(const char *path, const char *text, struct crid_err *err)
{
	size_t len = strlen(text), off = 0;
	int fd = open(path, O_WRONLY | O_CREAT | O_EXCL | O_CLOEXEC, 0600);

	if (fd < 0)
		return crid_err_set(err, errno, "create `%s`", path);
	while (off < len) {
		ssize_t n = write(fd, text + off, len - off);

		if (n < 0 && errno == EINTR)
			continue;
		if (n < 0) {
			crid_err_set(err, errno, "write `%s`", path);
			close(fd);
			unlink(path);
			return -1;
		}
		off += (size_t)n;
	}
	close(fd);
	return 0;
}

/* ---- the runtime's error message ---- */

/* Flat objects only: runtime log lines are; this keeps yajl's recursive free shallow. */
static bool shallow_json(const char *s, size_t len)
{
	int depth = 0;
	bool in_str = false;

	for (size_t i = 0; i < len; i++) {
		if (in_str) {
			if (s[i] == '\\')
				i++;
			else if (s[i] == '"')
				in_str = false;
		} else if (s[i] == '"') {
			in_str = true;
		} else if ((s[i] == '{' || s[i] == '[') && ++depth > 4) {
			return false;
		} else if (s[i] == '}' || s[i] == ']') {
			depth--;
		}
	}
	return true;
}

/* The msg of one {"level":"error"|"fatal"|"panic","msg":...} line, copied into |msg|. */
static bool error_line(char *line, size_t len, char *msg, size_t size)
{
	static const char *level_path[] = { "level", NULL };
	static const char *msg_path[] = { "msg", NULL };
	const char *level, *text;
	bool found = false;
	yajl_val v;

	if (len == 0 || line[0] != '{' || !shallow_json(line, len))
		return false;
	line[len] = '\0';
	v = yajl_tree_parse(line, NULL, 0);
	level = YAJL_GET_STRING(yajl_tree_get(v, level_path, yajl_t_string));
	text = YAJL_GET_STRING(yajl_tree_get(v, msg_path, yajl_t_string));
	if (level && text &&
	    (!strcmp(level, "error") || !strcmp(level, "fatal") || !strcmp(level, "panic"))) {
		snprintf(msg, size, "%s", text);
		found = true;
	}
	yajl_tree_free(v);
	return found;
}

/*
 * The last error message in |buf| (modified in place); with |raw|, a runtime
 * that does not speak JSON is heard too: its last non-empty line.
 */
static bool last_error(char *buf, size_t len, bool raw, char *msg, size_t size)
{
	bool found = false;
	char *p = buf, *end = buf + len;

	msg[0] = '\0';
	while (p < end) {
		char *nl = memchr(p, '\n', (size_t)(end - p));
		size_t n = nl ? (size_t)(nl - p) : (size_t)(end - p);
		char save = p[n];

		if (error_line(p, n, msg, size))
			found = true;
		else if (raw && !found && n > 0 && p[0] != '{')
			snprintf(msg, size, "%.*s", (int)n, p);
		if (p + n < end)
			p[n] = save;
		p += n + 1;
	}
	return found || msg[0];
}

/* This call's part of the --log file: at most its last LOG_READ_MAX bytes. */
static bool log_error(struct crid_oci_call *c, char *msg, size_t size)
{
	char *buf;
	ssize_t n;
	off_t end;
	bool found = false;
	int fd;

	msg[0] = '\0';
	if (!c->log_path)
		return false;
	fd = open(c->log_path, O_RDONLY | O_CLOEXEC);
	if (fd < 0)
		return false;
	end = lseek(fd, 0, SEEK_END);
	if (end > c->log_off + LOG_READ_MAX)
		c->log_off = end - LOG_READ_MAX;
	buf = crid_malloc(LOG_READ_MAX + 1);
	if (buf && end > c->log_off) {
		n = pread(fd, buf, (size_t)(end - c->log_off), c->log_off);
		if (n > 0)
			found = last_error(buf, (size_t)n, false, msg, size);
	}
	crid_free(buf);
	close(fd);
	return found;
}

static int classify(const struct crid_oci_call *c, const char *msg)
{
	if (strstr(msg, "does not exist") ||
	    (c->verb != V_CREATE && strstr(msg, "No such file or directory") && strstr(msg, c->id)))
		return ENOENT;
	if (strstr(msg, "not running") || strstr(msg, "already finished") ||
	    strstr(msg, "No such process"))
		return ESRCH;
	return EIO;
}

/* Sets |err| for a failed call; returns the status for done. */
static int failure(struct crid_oci_call *c, struct crid_err *err)
{
	const char *verb = verb_names[c->verb];
	char msg[400];

	if (c->timed_out) {
		crid_err_set(err, 0, "%s %s %s: timed out after %gs", c->name, verb, c->id,
			     c->timeout);
		err->code = ETIMEDOUT;
		return -1;
	}
	if (!log_error(c, msg, sizeof(msg)))
		last_error(c->errbuf, c->err_len, true, msg, sizeof(msg));
	if (msg[0])
		crid_err_set(err, 0, "%s %s %s: %s", c->name, verb, c->id, msg);
	else if (c->status > 128)
		crid_err_set(err, 0, "%s %s %s: killed by signal %d", c->name, verb, c->id,
			     c->status - 128);
	else
		crid_err_set(err, 0, "%s %s %s: exit status %d", c->name, verb, c->id, c->status);
	err->code = msg[0] ? classify(c, msg) : EIO;
	if (c->verb == V_DELETE && err->code == ENOENT) {
		crid_err_clear(err);
		return 0; /* deleting what the runtime does not know is done */
	}
	return -1;
}

static int exec_result(struct crid_oci_call *c, struct crid_err *err)
{
	char msg[400];

	if (c->status == 0)
		return 0;
	if (!log_error(c, msg, sizeof(msg)))
		return c->status; /* the process's own exit status */
	crid_err_set(err, 0, "%s exec %s: %s", c->name, c->id, msg);
	err->code = classify(c, msg);
	return -1;
}

/* A terminal create or exec succeeded: the runtime sent the master before it exited. */
static int take_master(struct crid_oci_call *c, struct crid_err *err)
{
	int fd = crid_console_take(c->console, err);

	if (fd < 0)
		return crid_err_wrap(err, "%s %s %s", c->name, verb_names[c->verb], c->id);
	*c->master = fd;
	return 0;
}

static void finish(struct crid_oci_call *c)
{
	struct crid_err err;
	int status = 0;

	crid_err_clear(&err);
	stop_io(c);
	if (c->timed_out || (c->status != 0 && (c->verb != V_EXEC || c->detached))) {
		status = failure(c, &err);
	} else if (c->verb == V_EXEC) {
		status = exec_result(c, &err);
		if (status == 0 && c->console)
			status = take_master(c, &err);
	} else if (c->out_overflow) {
		crid_err_set(&err, 0, "%s %s %s: output exceeds %d bytes", c->name,
			     verb_names[c->verb], c->id, OUT_MAX);
		err.code = EMSGSIZE;
		status = -1;
	} else if (c->console) {
		status = take_master(c, &err);
	}
	if (c->out)
		c->out[c->out_len] = '\0';
	crid_metrics_since(&crid_m_oci_latency, c->started, verb_names[c->verb]);
	c->done(c->user, status, c->out ? c->out : "", c->out_len, status < 0 ? &err : NULL);
	call_free(c);
}

static void maybe_finish(struct crid_oci_call *c)
{
	if (c->exited && c->out_fd < 0 && c->err_fd < 0)
		finish(c);
}

/* ---- pipes, exit, timeout ---- */

static void close_pipe(struct crid_oci_call *c, int *fd, ev_io *w)
{
	ev_io_stop(c->loop->ev, w);
	close(*fd);
	*fd = -1;
	maybe_finish(c);
}

static void out_cb(struct ev_loop *ev, ev_io *w, int revents)
{
	struct crid_oci_call *c = w->data;
	char scratch[4096];

	(void)ev, (void)revents;
	for (;;) {
		char *dst = scratch;
		size_t room = sizeof(scratch);
		ssize_t n;

		if (!c->out_overflow && c->out_len == c->out_cap) {
			size_t cap = c->out_cap ? c->out_cap * 2 : 4096;
			char *p = cap <= OUT_MAX ? crid_realloc(c->out, cap + 1) : NULL;

			if (p)
				c->out = p, c->out_cap = cap;
			else
				c->out_overflow = true;
		}
		if (!c->out_overflow)
			dst = c->out + c->out_len, room = c->out_cap - c->out_len;
		n = read(c->out_fd, dst, room);
		if (n > 0 && dst != scratch)
			c->out_len += (size_t)n;
		if (n > 0 || (n < 0 && errno == EINTR))
			continue;
		if (n < 0 && errno == EAGAIN)
			return;
		close_pipe(c, &c->out_fd, w);
		return;
	}
}

/* Keeps the tail of stderr: the last error line is the one that matters. */
static void err_cb(struct ev_loop *ev, ev_io *w, int revents)
{
	struct crid_oci_call *c = w->data;

	(void)ev, (void)revents;
	for (;;) {
		ssize_t n;

		if (c->err_len == sizeof(c->errbuf) - 1) {
			size_t keep = sizeof(c->errbuf) / 2;

			memmove(c->errbuf, c->errbuf + c->err_len - keep, keep);
			c->err_len = keep;
		}
		n = read(c->err_fd, c->errbuf + c->err_len, sizeof(c->errbuf) - 1 - c->err_len);
		if (n > 0) {
			c->err_len += (size_t)n;
			continue;
		}
		if (n < 0 && errno == EINTR)
			continue;
		if (n < 0 && errno == EAGAIN)
			return;
		close_pipe(c, &c->err_fd, w);
		return;
	}
}

static void exit_cb(struct crid_child *child, int status, void *user)
{
	struct crid_oci_call *c = user;

	(void)child;
	c->exited = true;
	c->status = status;
	if (c->timed_out)
		finish(c); /* killed: whatever still holds its pipes is not waited for */
	else
		maybe_finish(c);
}

/*
 * exec's process is the runtime's child (runc exec is its subreaper) until
 * the runtime is reaped, so its pid from the pid file is still the same
 * process here; the pidfd keeps it so once the runtime is gone.
 */
static int exec_process_pidfd(struct crid_oci_call *c)
{
	char buf[32];
	ssize_t n;
	long pid;
	int fd;

	if (c->verb != V_EXEC || !c->pid_file)
		return -1;
	fd = open(c->pid_file, O_RDONLY | O_CLOEXEC);
	if (fd < 0)
		return -1;
	n = read(fd, buf, sizeof(buf) - 1);
	close(fd);
	if (n <= 0)
		return -1;
	buf[n] = '\0';
	pid = strtol(buf, NULL, 10);
	return pid > 1 && pid <= INT_MAX ? pidfd_open((pid_t)pid, 0) : -1;
}

/* Kills the runtime and, for exec, the process it runs (the runtime's death does not). */
static void kill_all(struct crid_oci_call *c)
{
	int pfd = exec_process_pidfd(c);

	crid_child_kill(&c->child, SIGKILL);
	if (pfd >= 0) {
		pidfd_send_signal(pfd, SIGKILL, NULL, 0);
		close(pfd);
	}
}

static void timer_cb(struct ev_loop *ev, ev_timer *w, int revents)
{
	struct crid_oci_call *c = w->data;

	(void)ev, (void)revents;
	c->timed_out = true;
	if (c->exited) {
		finish(c); /* exited, but something still holds its pipes */
		return;
	}
	kill_all(c);
}

/* ---- starting a call ---- */

static int open_pipe(int fds[2], struct crid_err *err)
{
	if (pipe2(fds, O_CLOEXEC) < 0)
		return crid_err_set(err, errno, "pipe for the oci runtime");
	fcntl(fds[0], F_SETFL, O_NONBLOCK);
	return 0;
}

/* Fills argv up to the verb; returns the next index. */
static size_t global_args(const struct crid_oci_call *c, const struct crid_oci_runtime *rt,
			  char **argv)
{
	size_t i = 0;

	argv[i++] = (char *)rt->path;
	if (rt->root && rt->root[0]) {
		argv[i++] = "--root";
		argv[i++] = (char *)rt->root;
	}
	if (rt->systemd_cgroup)
		argv[i++] = "--systemd-cgroup";
	if (c->log_path) {
		argv[i++] = "--log";
		argv[i++] = c->log_path;
	}
	argv[i++] = "--log-format";
	argv[i++] = "json";
	argv[i++] = (char *)verb_names[c->verb];
	return i;
}

/*
 * Where the runtime runs: the host's namespace, or for crun on a hybrid host
 * its pinned one; create in a fresh copy of the host's, so it sees the
 * mounts made since the pin (volumes, their shared binds) and bidirectional
 * propagation reaches the host through peers, not a slave.
 */
static const struct crid_spawn_ns *runtime_ns(const struct crid_oci_call *c,
					      const struct crid_oci_runtime *rt,
					      struct crid_spawn_ns *ns)
{
	ns->fd = -1;
	ns->hide = NULL;
	ns->hide_parent = "/sys/fs/cgroup";
	/*
	 * An exec's process must lead a process group crid can kill on a
	 * timeout (exec_proc.c): runc makes it a session leader, crun leaves
	 * it in its own group, which is then a session of crun's.
	 */
	ns->setsid = c->verb == V_EXEC;
	if (rt->mnt_ns_fd < 0)
		return ns->setsid ? ns : NULL;
	if (c->verb == V_CREATE && rt->hide_mount)
		ns->hide = rt->hide_mount;
	else
		ns->fd = rt->mnt_ns_fd;
	return ns;
}

static int spawn_call(struct crid_oci_call *c, const struct crid_oci_runtime *rt, char **argv,
		      const struct crid_oci_stdio *stdio, struct crid_err *err)
{
	struct crid_spawn_ns ns;
	int out[2] = { -1, -1 }, errp[2] = { -1, -1 }, r;
	struct crid_spawn_opts o = { rt->path, argv, runtime_env, -1, -1, -1 };

	if (stdio) {
		o.stdin_fd = stdio->in, o.stdout_fd = stdio->out, o.stderr_fd = stdio->err;
	} else {
		if (open_pipe(out, err) < 0)
			return -1;
		if (open_pipe(errp, err) < 0) {
			close(out[0]), close(out[1]);
			return -1;
		}
		o.stdout_fd = out[1], o.stderr_fd = errp[1];
	}
	r = crid_spawn_in_ns(c->loop, &c->child, &o, runtime_ns(c, rt, &ns), exit_cb, c, err);
	c->started = crid_metrics_clock();
	if (!stdio) {
		close(out[1]), close(errp[1]);
		if (r < 0) {
			close(out[0]), close(errp[0]);
			return crid_err_wrap(err, "%s %s %s", c->name, verb_names[c->verb], c->id);
		}
		c->out_fd = out[0], c->err_fd = errp[0];
		ev_io_init(&c->out_w, out_cb, c->out_fd, EV_READ);
		c->out_w.data = c;
		ev_io_start(c->loop->ev, &c->out_w);
		ev_io_init(&c->err_w, err_cb, c->err_fd, EV_READ);
		c->err_w.data = c;
		ev_io_start(c->loop->ev, &c->err_w);
	} else if (r < 0) {
		return crid_err_wrap(err, "%s %s %s", c->name, verb_names[c->verb], c->id);
	}
	ev_timer_init(&c->timer, timer_cb, c->timeout > 0 ? c->timeout : 0.001, 0.);
	c->timer.data = c;
	ev_timer_start(c->loop->ev, &c->timer);
	return 0;
}

static struct crid_oci_call *call_new(struct crid_loop *loop, const struct crid_oci_runtime *rt,
				      enum verb verb, const char *id, double timeout,
				      crid_oci_done_fn done, void *user, struct crid_err *err)
{
	struct crid_oci_call *c;
	const char *slash;

	if (!id || !id[0] || strchr(id, '/') || !rt->path || rt->path[0] != '/') {
		crid_err_invalid(err, "oci runtime %s: bad container id `%s` or runtime path `%s`",
				 verb_names[verb], id ? id : "", rt->path ? rt->path : "");
		return NULL;
	}
	c = crid_calloc(1, sizeof(*c));
	if (!c || !(c->id = crid_strdup(id))) {
		crid_free(c);
		crid_err_set(err, ENOMEM, "oci runtime %s %s", verb_names[verb], id);
		return NULL;
	}
	slash = strrchr(rt->path, '/');
	snprintf(c->name, sizeof(c->name), "%s",
		 rt->name && rt->name[0] ? rt->name
		 : slash		 ? slash + 1
					 : rt->path);
	c->loop = loop;
	c->verb = verb;
	c->timeout = timeout;
	c->done = done;
	c->user = user;
	c->out_fd = c->err_fd = -1;
	return c;
}

/* Spawns |c| with argv = globals, verb, |args| (NULL-terminated); frees |c| on failure. */
static struct crid_oci_call *run(struct crid_oci_call *c, const struct crid_oci_runtime *rt,
				 const char *const *args, const struct crid_oci_stdio *stdio,
				 struct crid_err *err)
{
	char *argv[ARGV_MAX];
	size_t i = global_args(c, rt, argv);

	for (; *args && i < ARGV_MAX - 1; args++)
		argv[i++] = (char *)*args;
	argv[i] = NULL;
	if (spawn_call(c, rt, argv, stdio, err) < 0) {
		call_free(c);
		return NULL;
	}
	return c;
}

static struct crid_oci_call *oom(struct crid_oci_call *c, struct crid_err *err)
{
	crid_err_set(err, errno ? errno : ENOMEM, "%s %s %s", c->name, verb_names[c->verb], c->id);
	call_free(c);
	return NULL;
}

/* ---- the verbs ---- */

static struct crid_oci_call *create(struct crid_loop *loop, const struct crid_oci_runtime *rt,
				    const char *id, const char *bundle,
				    const struct crid_oci_stdio *stdio, const char *short_dir,
				    int *master, double timeout, crid_oci_done_fn done, void *user,
				    struct crid_err *err)
{
	static const struct crid_oci_stdio devnull = { -1, -1, -1 };
	struct crid_oci_call *c = call_new(loop, rt, V_CREATE, id, timeout, done, user, err);
	const char *args[8], **a = args;
	struct stat st;

	if (!c)
		return NULL;
	c->log_path = path_printf("%s/runtime.log", bundle);
	c->pid_file = path_printf("%s/pid", bundle);
	if (!c->log_path || !c->pid_file)
		return oom(c, err);
	c->log_off = stat(c->log_path, &st) == 0 ? st.st_size : 0;
	if (master) {
		c->console = crid_console_listen(loop, bundle, short_dir, err);
		if (!c->console) {
			crid_err_wrap(err, "%s create %s", c->name, id);
			call_free(c);
			return NULL;
		}
		c->master = master;
		*a++ = "--console-socket";
		*a++ = crid_console_path(c->console);
	}
	*a++ = "--bundle", *a++ = bundle, *a++ = "--pid-file", *a++ = c->pid_file;
	*a++ = id, *a = NULL;
	return run(c, rt, args, stdio ? stdio : &devnull, err);
}

struct crid_oci_call *crid_oci_create(struct crid_loop *loop, const struct crid_oci_runtime *rt,
				      const char *id, const char *bundle,
				      const struct crid_oci_stdio *stdio, double timeout,
				      crid_oci_done_fn done, void *user, struct crid_err *err)
{
	return create(loop, rt, id, bundle, stdio, NULL, NULL, timeout, done, user, err);
}

struct crid_oci_call *crid_oci_create_tty(struct crid_loop *loop, const struct crid_oci_runtime *rt,
					  const char *id, const char *bundle, const char *short_dir,
					  int *master, double timeout, crid_oci_done_fn done,
					  void *user, struct crid_err *err)
{
	return create(loop, rt, id, bundle, NULL, short_dir, master, timeout, done, user, err);
}

struct crid_oci_call *crid_oci_start(struct crid_loop *loop, const struct crid_oci_runtime *rt,
				     const char *id, double timeout, crid_oci_done_fn done,
				     void *user, struct crid_err *err)
{
	struct crid_oci_call *c = call_new(loop, rt, V_START, id, timeout, done, user, err);
	const char *args[] = { id, NULL };

	return c ? run(c, rt, args, NULL, err) : NULL;
}

struct crid_oci_call *crid_oci_kill(struct crid_loop *loop, const struct crid_oci_runtime *rt,
				    const char *id, int signo, bool all, double timeout,
				    crid_oci_done_fn done, void *user, struct crid_err *err)
{
	struct crid_oci_call *c = call_new(loop, rt, V_KILL, id, timeout, done, user, err);
	char sig[16];
	const char *with_all[] = { "--all", id, sig, NULL };
	const char *one[] = { id, sig, NULL };

	snprintf(sig, sizeof(sig), "%d", signo);
	return c ? run(c, rt, all ? with_all : one, NULL, err) : NULL;
}

struct crid_oci_call *crid_oci_delete(struct crid_loop *loop, const struct crid_oci_runtime *rt,
				      const char *id, bool force, double timeout,
				      crid_oci_done_fn done, void *user, struct crid_err *err)
{
	struct crid_oci_call *c = call_new(loop, rt, V_DELETE, id, timeout, done, user, err);
	const char *forced[] = { "--force", id, NULL };
	const char *plain[] = { id, NULL };

	return c ? run(c, rt, force ? forced : plain, NULL, err) : NULL;
}

struct crid_oci_call *crid_oci_state(struct crid_loop *loop, const struct crid_oci_runtime *rt,
				     const char *id, double timeout, crid_oci_done_fn done,
				     void *user, struct crid_err *err)
{
	struct crid_oci_call *c = call_new(loop, rt, V_STATE, id, timeout, done, user, err);
	const char *args[] = { id, NULL };

	return c ? run(c, rt, args, NULL, err) : NULL;
}

struct crid_oci_call *crid_oci_update(struct crid_loop *loop, const struct crid_oci_runtime *rt,
				      const char *id, const char *bundle,
				      const char *resources_json, double timeout,
				      crid_oci_done_fn done, void *user, struct crid_err *err)
{
	struct crid_oci_call *c = call_new(loop, rt, V_UPDATE, id, timeout, done, user, err);

	if (!c)
		return NULL;
	c->tmp_file = path_printf("%s/update-%d-%lu.json", bundle, (int)getpid(), ++call_seq);
	if (!c->tmp_file)
		return oom(c, err);
	if (write_file(c->tmp_file, resources_json, err) < 0) {
		crid_free(c->tmp_file), c->tmp_file = NULL; /* not ours to unlink */
		call_free(c);
		return NULL;
	}
	const char *args[] = { "--resources", c->tmp_file, id, NULL };

	return run(c, rt, args, NULL, err);
}

/* exec; |pid_file| NULL: not detached, the call makes and removes its own. */
/* The console socket of a terminal exec: its own name, as execs of one container may overlap. */
static int exec_console(struct crid_oci_call *c, const char *bundle, const char *short_dir,
			unsigned long seq, struct crid_err *err)
{
	char name[64];

	snprintf(name, sizeof(name), "exec-%d-%lu.sock", (int)getpid(), seq);
	c->console = crid_console_listen_named(c->loop, bundle, name, short_dir, err);
	if (!c->console)
		return crid_err_wrap(err, "%s exec %s", c->name, c->id);
	return 0;
}

static struct crid_oci_call *exec_call(struct crid_loop *loop, const struct crid_oci_runtime *rt,
				       const char *id, const char *bundle, const char *process_json,
				       const char *pid_file, const struct crid_oci_stdio *stdio,
				       const char *short_dir, int *master, double timeout,
				       crid_oci_done_fn done, void *user, struct crid_err *err)
{
	static const struct crid_oci_stdio devnull = { -1, -1, -1 };
	struct crid_oci_call *c = call_new(loop, rt, V_EXEC, id, timeout, done, user, err);
	unsigned long seq = ++call_seq;
	const char *args[12], **a = args; /* console 2, detach 1, process 2, pid file 2, id, NULL */

	if (!c)
		return NULL;
	c->detached = pid_file != NULL;
	c->tmp_file = path_printf("%s/exec-%d-%lu.json", bundle, (int)getpid(), seq);
	c->pid_file = pid_file ? crid_strdup(pid_file)
			       : path_printf("%s/exec-%d-%lu.pid", bundle, (int)getpid(), seq);
	c->log_path = path_printf("%s/exec-%d-%lu.log", bundle, (int)getpid(), seq);
	if (!c->tmp_file || !c->pid_file || !c->log_path)
		return oom(c, err);
	c->own_log = true;
	if (write_file(c->tmp_file, process_json, err) < 0) {
		crid_free(c->tmp_file), c->tmp_file = NULL;
		call_free(c);
		return NULL;
	}
	if (master) {
		if (exec_console(c, bundle, short_dir, seq, err) < 0) {
			call_free(c);
			return NULL;
		}
		c->master = master;
		*a++ = "--console-socket";
		*a++ = crid_console_path(c->console);
	}
	if (c->detached)
		*a++ = "--detach";
	*a++ = "--process", *a++ = c->tmp_file, *a++ = "--pid-file", *a++ = c->pid_file;
	*a++ = id, *a = NULL;
	return run(c, rt, args, stdio ? stdio : &devnull, err);
}

struct crid_oci_call *crid_oci_exec(struct crid_loop *loop, const struct crid_oci_runtime *rt,
				    const char *id, const char *bundle, const char *process_json,
				    const struct crid_oci_stdio *stdio, double timeout,
				    crid_oci_done_fn done, void *user, struct crid_err *err)
{
	return exec_call(loop, rt, id, bundle, process_json, NULL, stdio, NULL, NULL, timeout, done,
			 user, err);
}

struct crid_oci_call *
crid_oci_exec_detached(struct crid_loop *loop, const struct crid_oci_runtime *rt, const char *id,
		       const char *bundle, const char *process_json, const char *pid_file,
		       const struct crid_oci_stdio *stdio, double timeout, crid_oci_done_fn done,
		       void *user, struct crid_err *err)
{
	return exec_call(loop, rt, id, bundle, process_json, pid_file, stdio, NULL, NULL, timeout,
			 done, user, err);
}

struct crid_oci_call *crid_oci_exec_detached_tty(struct crid_loop *loop,
						 const struct crid_oci_runtime *rt, const char *id,
						 const char *bundle, const char *short_dir,
						 const char *process_json, const char *pid_file,
						 int *master, double timeout, crid_oci_done_fn done,
						 void *user, struct crid_err *err)
{
	return exec_call(loop, rt, id, bundle, process_json, pid_file, NULL, short_dir, master,
			 timeout, done, user, err);
}

void crid_oci_call_cancel(struct crid_oci_call *c)
{
	siginfo_t si;
	int fd;

	if (!c)
		return;
	stop_io(c);
	if (!c->exited) {
		kill_all(c);
		fd = crid_child_detach(&c->child);
		/* Just killed: the wait is for its in-flight syscall to return, not for work. */
		while (waitid(P_PIDFD, (id_t)fd, &si, WEXITED) < 0 && errno == EINTR)
			;
		close(fd);
	}
	call_free(c);
}
