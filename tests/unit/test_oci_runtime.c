/*
 * The OCI runtime driver against real runc: a busybox bundle goes through
 * create -> state -> start -> output -> kill -> stopped -> delete; exec exit
 * codes, a missing executable, an exec that hangs (killed with its process);
 * exec_proc (detached exec: status, process-group kill, the reaper);
 * plus fake runtimes for a hung call, cancel, a runtime that does not speak
 * JSON and one that prints too much; a terminal container through the
 * console socket (its bundle path short, then too long for the socket). runc runs with a private --root, so
 * the host's /run/runc is never touched. Needs root; skips otherwise.
 */
#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <ftw.h>
#include <limits.h>
#include <signal.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/ioctl.h>
#include <sys/prctl.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>

#include "reactor/mem.h"
#include "runtime/container/exec_proc.h"
#include "runtime/oci/oci_runtime.h"
#include "tests/unit/tap.h"

#define RUNC "/usr/sbin/runc"
#define CRUN "/usr/bin/crun"

static char base[64], bundle[PATH_MAX], root[PATH_MAX], id[64];
static struct crid_loop loop;

struct result {
	bool done;
	int status;
	char out[4096];
	struct crid_err err;
};

static void on_done(void *user, int status, const char *out, size_t len, const struct crid_err *err)
{
	struct result *r = user;

	r->done = true;
	r->status = status;
	snprintf(r->out, sizeof(r->out), "%.*s", (int)len, out);
	if (err)
		r->err = *err;
	else
		crid_err_clear(&r->err);
}

static void tick(struct ev_loop *ev, ev_timer *w, int revents)
{
	(void)ev, (void)w, (void)revents;
}

/* Runs the loop until |*flag| or |secs| pass; a ticking timer keeps ev_run from sleeping long. */
static bool run_until(bool *flag, double secs)
{
	ev_timer t;
	double end = ev_time() + secs;

	ev_timer_init(&t, tick, 0.02, 0.02);
	ev_timer_start(loop.ev, &t);
	while (!*flag && ev_time() < end)
		ev_run(loop.ev, EVRUN_ONCE);
	ev_timer_stop(loop.ev, &t);
	return *flag;
}

static bool wait_call(struct crid_oci_call *call, struct result *r, double secs)
{
	if (!call)
		return false;
	return run_until(&r->done, secs);
}

static void pathf(char *out, size_t size, const char *fmt, ...)
    __attribute__((format(printf, 3, 4)));

static void pathf(char *out, size_t size, const char *fmt, ...)
{
	va_list ap;
	int n;

	va_start(ap, fmt);
	n = vsnprintf(out, size, fmt, ap);
	va_end(ap);
	if (n < 0 || (size_t)n >= size)
		abort();
}

static int rm_cb(const char *p, const struct stat *st, int flag, struct FTW *f)
{
	(void)st, (void)f;
	return flag == FTW_DP ? rmdir(p) : unlink(p);
}

static char *slurp(const char *path)
{
	static char buf[65536];
	FILE *f = fopen(path, "r");
	size_t n;

	if (!f)
		return NULL;
	n = fread(buf, 1, sizeof(buf) - 1, f);
	fclose(f);
	buf[n] = '\0';
	return buf;
}

static bool put_file(const char *path, const char *text, int mode)
{
	FILE *f = fopen(path, "w");

	if (!f)
		return false;
	fputs(text, f);
	fclose(f);
	return chmod(path, (mode_t)mode) == 0;
}

/* Replaces the first |from| in |s| (a buffer of |size|) with |to|. */
static bool replace(char *s, size_t size, const char *from, const char *to)
{
	char *p = strstr(s, from);
	size_t fl = strlen(from), tl = strlen(to), rest;

	if (!p)
		return false;
	rest = strlen(p + fl);
	if ((size_t)(p - s) + tl + rest + 1 > size)
		return false;
	memmove(p + tl, p + fl, rest + 1);
	memcpy(p, to, tl);
	return true;
}

/* A busybox rootfs and `runc spec`'s config with no terminal and our command. */
static bool make_bundle(void)
{
	static const char *const links[] = { "sh", "sleep", "cat", "id", "echo", "stty" };
	char path[PATH_MAX], cmd[PATH_MAX + 64], *cfg;

	pathf(bundle, sizeof(bundle), "%s/bundle", base);
	pathf(path, sizeof(path), "%s/rootfs/bin", bundle);
	if (mkdir(bundle, 0755) < 0)
		return false;
	pathf(cmd, sizeof(cmd), "mkdir -p %s && cp /bin/busybox %s/", path, path);
	if (system(cmd) != 0)
		return false;
	for (size_t i = 0; i < sizeof(links) / sizeof(links[0]); i++) {
		pathf(path, sizeof(path), "%s/rootfs/bin/%s", bundle, links[i]);
		if (symlink("busybox", path) < 0)
			return false;
	}
	pathf(cmd, sizeof(cmd), RUNC " spec -b %s", bundle);
	if (system(cmd) != 0)
		return false;
	pathf(path, sizeof(path), "%s/config.json", bundle);
	cfg = slurp(path);
	if (!cfg || !replace(cfg, 65536, "\"terminal\": true", "\"terminal\": false") ||
	    !replace(cfg, 65536, "\"sh\"\n",
		     "\"sh\", \"-c\", \"echo hello; while :; do sleep 1; done\"\n"))
		return false;
	return put_file(path, cfg, 0644);
}

static const char *state_status(const char *json)
{
	static char status[32];
	const char *p = strstr(json, "\"status\": \"");

	status[0] = '\0';
	if (p)
		sscanf(p + 11, "%31[^\"]", status);
	return status;
}

static struct result state_of(const struct crid_oci_runtime *rt)
{
	struct result r = { 0 };
	struct crid_err err;

	if (!wait_call(crid_oci_state(&loop, rt, id, 10, on_done, &r, &err), &r, 15))
		r.status = -2;
	return r;
}

/* Reads the container's output pipe until |want| shows up. */
static bool read_until(int fd, const char *want, char *buf, size_t size)
{
	size_t len = 0;
	bool never = false;

	buf[0] = '\0';
	for (int i = 0; i < 100 && !strstr(buf, want); i++) {
		ssize_t n = read(fd, buf + len, size - 1 - len);

		if (n > 0)
			buf[len += (size_t)n] = '\0';
		else
			run_until(&never, 0.05);
	}
	return strstr(buf, want) != NULL;
}

static bool create_and_start(const struct crid_oci_runtime *rt, int out_rd, int out_wr)
{
	struct crid_oci_stdio stdio = { -1, out_wr, out_wr };
	struct result r = { 0 };
	struct crid_err err;
	bool ok;
	char buf[256], path[PATH_MAX];
	struct stat st;

	crid_err_clear(&err);
	ok = wait_call(crid_oci_create(&loop, rt, id, bundle, &stdio, 30, on_done, &r, &err), &r,
		       35);
	if (!CHECK(ok && r.status == 0, "create: %s %s", err.msg, r.err.msg))
		return false;
	pathf(path, sizeof(path), "%s/pid", bundle);
	CHECK(stat(path, &st) == 0 && st.st_size > 0, "create wrote the pid file");
	r = state_of(rt);
	CHECK(r.status == 0 && !strcmp(state_status(r.out), "created"), "state: created (%s)",
	      state_status(r.out));
	memset(&r, 0, sizeof(r));
	ok = wait_call(crid_oci_start(&loop, rt, id, 10, on_done, &r, &err), &r, 15);
	CHECK(ok && r.status == 0, "start: %s", r.err.msg);
	CHECK(read_until(out_rd, "hello\n", buf, sizeof(buf)), "the container's output arrives");
	r = state_of(rt);
	CHECK(r.status == 0 && !strcmp(state_status(r.out), "running"), "state: running (%s)",
	      state_status(r.out));
	return true;
}

static const char exit3[] = "{\"args\":[\"sh\",\"-c\",\"exit 3\"],\"cwd\":\"/\","
			    "\"env\":[\"PATH=/bin\"],\"user\":{\"uid\":0,\"gid\":0}}";
static const char echo_hi[] = "{\"args\":[\"sh\",\"-c\",\"echo hi; echo err >&2\"],\"cwd\":\"/\","
			      "\"env\":[\"PATH=/bin\"],\"user\":{\"uid\":0,\"gid\":0}}";
static const char missing[] = "{\"args\":[\"nosuchbinary\"],\"cwd\":\"/\","
			      "\"env\":[\"PATH=/bin\"],\"user\":{\"uid\":0,\"gid\":0}}";
static const char hang[] = "{\"args\":[\"sleep\",\"7777\"],\"cwd\":\"/\","
			   "\"env\":[\"PATH=/bin\"],\"user\":{\"uid\":0,\"gid\":0}}";

/* Any process on the host running `sleep |arg|`. */
static bool sleep_alive(const char *arg)
{
	char want[32];
	size_t wlen = (size_t)snprintf(want, sizeof(want), "sleep%c%s", 0, arg) + 1;
	DIR *d = opendir("/proc");
	struct dirent *e;
	bool found = false;

	while (d && (e = readdir(d)) && !found) {
		char path[300], buf[64];
		ssize_t n;
		int fd;

		if (e->d_name[0] < '0' || e->d_name[0] > '9')
			continue;
		pathf(path, sizeof(path), "/proc/%s/cmdline", e->d_name);
		fd = open(path, O_RDONLY);
		if (fd < 0)
			continue;
		n = read(fd, buf, sizeof(buf));
		close(fd);
		found = n == (ssize_t)wlen && !memcmp(buf, want, wlen);
	}
	if (d)
		closedir(d);
	return found;
}

static bool hang_alive(void)
{
	return sleep_alive("7777");
}

static void test_exec(const struct crid_oci_runtime *rt)
{
	struct result r = { 0 };
	size_t len;
	ssize_t n;
	struct crid_err err;
	bool ok;
	char buf[256];
	int p[2];

	ok = wait_call(crid_oci_exec(&loop, rt, id, bundle, exit3, NULL, 10, on_done, &r, &err), &r,
		       15);
	CHECK(ok && r.status == 3, "exec `exit 3`: status 3 (%d %s)", r.status, r.err.msg);
	if (pipe2(p, O_CLOEXEC) == 0) {
		struct crid_oci_stdio stdio = { -1, p[1], p[1] };

		memset(&r, 0, sizeof(r));
		ok = wait_call(
		    crid_oci_exec(&loop, rt, id, bundle, echo_hi, &stdio, 10, on_done, &r, &err),
		    &r, 15);
		CHECK(ok && r.status == 0, "exec with stdio: status 0 (%s)", r.err.msg);
		close(p[1]);
		/* runc copies a non-detached exec's stdout and stderr apart: no order between them */
		len = 0;
		while ((n = read(p[0], buf + len, sizeof(buf) - 1 - len)) > 0)
			len += (size_t)n;
		buf[len] = '\0';
		CHECK(len == 7 && strstr(buf, "hi\n") && strstr(buf, "err\n"),
		      "exec stdio reaches the caller's pipe (%s)", buf);
		close(p[0]);
	}
	memset(&r, 0, sizeof(r));
	ok = wait_call(crid_oci_exec(&loop, rt, id, bundle, missing, NULL, 10, on_done, &r, &err),
		       &r, 15);
	CHECK(ok && r.status == -1 && strstr(r.err.msg, "nosuchbinary") &&
		  strstr(r.err.msg, "runc exec"),
	      "exec of a missing binary fails naming it: %s", r.err.msg);
	memset(&r, 0, sizeof(r));
	ok = wait_call(crid_oci_exec(&loop, rt, id, bundle, hang, NULL, 0.5, on_done, &r, &err), &r,
		       10);
	CHECK(ok && r.status == -1 && r.err.code == ETIMEDOUT && strstr(r.err.msg, "exec") &&
		  strstr(r.err.msg, id),
	      "a hanging exec times out: %s", r.err.msg);
	for (int i = 0; i < 300 && hang_alive(); i++) /* up to 15 s: a loaded machine */
		usleep(50000);
	CHECK(!hang_alive(), "the timed-out exec's process is killed too");
}

struct proc_result {
	bool done;
	int status;
	struct crid_err err;
};

static void on_proc_exit(void *user, int status, const struct crid_err *err)
{
	struct proc_result *r = user;

	r->done = true;
	r->status = status;
	if (err)
		r->err = *err;
}

static bool gone_within(const char *arg, double secs)
{
	for (double t = 0; t < secs && sleep_alive(arg); t += 0.05)
		usleep(50000);
	return !sleep_alive(arg);
}

#define SH(script)                                                                                 \
	"{\"args\":[\"sh\",\"-c\",\"" script "\"],\"cwd\":\"/\",\"env\":[\"PATH=/bin\"],"          \
	"\"user\":{\"uid\":0,\"gid\":0}}"

/*
 * exec_proc: the detached exec's exit status through the adopted pidfd, and
 * SIGKILL to the process group it leads (a shell's background child too),
 * before and after its pid is known, and released procs reaped. The test
 * process is the subreaper here, as crid is.
 */
static void test_exec_proc(const struct crid_oci_runtime *rt)
{
	struct crid_exec_reaper reaper = { NULL };
	struct proc_result r = { 0 };
	struct crid_exec_proc *p;
	struct crid_err err;
	char buf[16];
	int pp[2];

	prctl(PR_SET_CHILD_SUBREAPER, 1);
	p = crid_exec_proc_start(&loop, rt, id, bundle, exit3, NULL, on_proc_exit, &r, &err);
	run_until(&r.done, 15);
	CHECK(p && r.done && r.status == 3, "exec proc `exit 3`: status 3 (%d %s)", r.status,
	      r.err.msg);
	if (p)
		crid_exec_proc_release(p, &reaper);
	memset(&r, 0, sizeof(r));
	p = crid_exec_proc_start(&loop, rt, id, bundle, missing, NULL, on_proc_exit, &r, &err);
	run_until(&r.done, 15);
	CHECK(p && r.done && r.status == -1 && strstr(r.err.msg, "nosuchbinary"),
	      "exec proc of a missing binary fails naming it: %s", r.err.msg);
	if (p)
		crid_exec_proc_release(p, &reaper);
	if (pipe2(pp, O_CLOEXEC) == 0) {
		struct crid_oci_stdio stdio = { -1, pp[1], -1 };

		memset(&r, 0, sizeof(r));
		p = crid_exec_proc_start(&loop, rt, id, bundle,
					 SH("sleep 7778 & echo ready; sleep 7779"), &stdio,
					 on_proc_exit, &r, &err);
		close(pp[1]);
		CHECK(p && read(pp[0], buf, 6) == 6 && !memcmp(buf, "ready\n", 6),
		      "exec proc with stdio runs (%s)", p ? "" : err.msg);
		close(pp[0]);
		if (p) {
			run_until(&r.done, 0.3); /* the runtime has returned: the pid is known */
			crid_exec_proc_kill(p);
			run_until(&r.done, 15);
			CHECK(r.done && r.status == 128 + SIGKILL,
			      "killed exec proc: status 137 (%d)", r.status);
			CHECK(gone_within("7778", 5) && gone_within("7779", 5),
			      "its shell's background child is killed with it");
			crid_exec_proc_release(p, &reaper);
		}
	}
	memset(&r, 0, sizeof(r));
	p = crid_exec_proc_start(&loop, rt, id, bundle, SH("sleep 7780 & sleep 7781"), NULL,
				 on_proc_exit, &r, &err);
	if (CHECK(p, "exec proc started: %s", p ? "" : err.msg)) {
		crid_exec_proc_kill(p); /* before the runtime told its pid */
		crid_exec_proc_release(p, &reaper);
		for (double t = 0; reaper.head && t < 15; t += 0.1)
			run_until(&r.done, 0.1);
		CHECK(!reaper.head && !r.done, "a released proc is reaped, its owner not called");
		CHECK(gone_within("7780", 5) && gone_within("7781", 5),
		      "killed before its pid was known: killed once it is");
	}
	crid_exec_reaper_cleanup(&reaper);
	prctl(PR_SET_CHILD_SUBREAPER, 0);
}

/* The pids limit lands in the container's pids cgroup (v1 here, or v2). */
static void test_update(const struct crid_oci_runtime *rt)
{
	struct result r = { 0 };
	struct crid_err err;
	char path[PATH_MAX], *pid, *cg, *max;
	bool ok;

	ok = wait_call(crid_oci_update(&loop, rt, id, bundle, "{\"pids\":{\"limit\":123}}", 10,
				       on_done, &r, &err),
		       &r, 15);
	CHECK(ok && r.status == 0, "update pids limit: %s", r.err.msg);
	pathf(path, sizeof(path), "%s/pid", bundle);
	pid = slurp(path);
	pathf(path, sizeof(path), "/proc/%s/cgroup", pid ? pid : "0");
	cg = slurp(path);
	cg = cg ? strstr(cg, ":pids:") : NULL;
	if (!cg) {
		tap_skip("pids limit visible", "no v1 pids controller line for the container");
		return;
	}
	cg[strcspn(cg, "\n")] = '\0';
	pathf(path, sizeof(path), "/sys/fs/cgroup/pids%s/pids.max", cg + 6);
	max = slurp(path);
	CHECK(max && !strcmp(max, "123\n"), "pids.max is 123 (%s)", max ? max : "unreadable");
}

static void test_stop_and_delete(const struct crid_oci_runtime *rt)
{
	struct result r = { 0 };
	struct crid_err err;
	bool ok;
	const char *st = "";

	ok = wait_call(crid_oci_kill(&loop, rt, id, SIGKILL, false, 10, on_done, &r, &err), &r, 15);
	CHECK(ok && r.status == 0, "kill SIGKILL: %s", r.err.msg);
	for (int i = 0; i < 100; i++) {
		r = state_of(rt);
		st = state_status(r.out);
		if (!strcmp(st, "stopped"))
			break;
		usleep(50000);
	}
	CHECK(!strcmp(st, "stopped"), "state: stopped after the kill (%s)", st);
	memset(&r, 0, sizeof(r));
	ok = wait_call(crid_oci_kill(&loop, rt, id, SIGTERM, false, 10, on_done, &r, &err), &r, 15);
	CHECK(ok && r.status == -1 && r.err.code == ESRCH, "kill of a stopped container: ESRCH: %s",
	      r.err.msg);
	memset(&r, 0, sizeof(r));
	ok = wait_call(crid_oci_delete(&loop, rt, id, false, 10, on_done, &r, &err), &r, 15);
	CHECK(ok && r.status == 0, "delete: %s", r.err.msg);
	r = state_of(rt);
	CHECK(r.status == -1 && r.err.code == ENOENT && strstr(r.err.msg, "does not exist"),
	      "state after delete fails: %s", r.err.msg);
	memset(&r, 0, sizeof(r));
	ok = wait_call(crid_oci_delete(&loop, rt, id, false, 10, on_done, &r, &err), &r, 15);
	CHECK(ok && r.status == 0, "delete again: success (%s)", r.err.msg);
}

/* A command missing from the image fails at create, with runc's words from runtime.log. */
static void test_create_missing_command(const struct crid_oci_runtime *rt)
{
	char path[PATH_MAX], id2[80], *cfg;
	struct crid_oci_stdio stdio = { -1, -1, -1 };
	struct result r = { 0 };
	struct crid_err err;
	bool ok;

	pathf(path, sizeof(path), "%s/config.json", bundle);
	cfg = slurp(path);
	if (!cfg || !replace(cfg, 65536, "\"sh\", \"-c\"", "\"nosuchcmd\", \"-c\"") ||
	    !put_file(path, cfg, 0644))
		return;
	pathf(id2, sizeof(id2), "%s-b", id);
	ok = wait_call(crid_oci_create(&loop, rt, id2, bundle, &stdio, 30, on_done, &r, &err), &r,
		       35);
	CHECK(ok && r.status == -1 && strstr(r.err.msg, "runc create") &&
		  strstr(r.err.msg, "nosuchcmd"),
	      "create of a missing command fails naming it: %s", r.err.msg);
	memset(&r, 0, sizeof(r));
	ok = wait_call(crid_oci_delete(&loop, rt, id2, true, 10, on_done, &r, &err), &r, 15);
	CHECK(ok && r.status == 0, "delete --force after a failed create: %s", r.err.msg);
}

/* exec and update leave none of their process, pid, log or resources files behind. */
static int call_files_left(void)
{
	DIR *d = opendir(bundle);
	struct dirent *e;
	int n = 0;

	while (d && (e = readdir(d)))
		n += !strncmp(e->d_name, "exec-", 5) || !strncmp(e->d_name, "update-", 7);
	if (d)
		closedir(d);
	return n;
}

/* A copy of the bundle's config with a terminal and |cmd|, in a new bundle |dir|. */
static bool make_tty_bundle(const char *dir, const char *cmd)
{
	char path[PATH_MAX], rootfs[PATH_MAX + 16], *cfg;

	pathf(path, sizeof(path), "%s/config.json", bundle);
	pathf(rootfs, sizeof(rootfs), "\"path\": \"%s/rootfs\"", bundle);
	cfg = slurp(path);
	if (!cfg || mkdir(dir, 0700) < 0 ||
	    !replace(cfg, 65536, "\"terminal\": false", "\"terminal\": true") ||
	    !replace(cfg, 65536, "\"path\": \"rootfs\"", rootfs) ||
	    !replace(cfg, 65536, "echo hello; while :; do sleep 1; done", cmd))
		return false;
	pathf(path, sizeof(path), "%s/config.json", dir);
	return put_file(path, cfg, 0644);
}

/* Reads the master until EIO (the last slave closed) or |secs| pass; appends to |buf|. */
static bool read_to_eio(int fd, char *buf, size_t size, double secs)
{
	size_t len = strlen(buf);
	bool never = false;

	for (double end = ev_time() + secs; ev_time() < end;) {
		ssize_t n = read(fd, buf + len, size - 1 - len);

		if (n > 0)
			buf[len += (size_t)n] = '\0';
		else if (n < 0 && errno == EIO)
			return true;
		else
			run_until(&never, 0.02);
	}
	return false;
}

/*
 * A terminal container through the console socket: the master arrives at
 * create, non-blocking and 80x24; the container's output comes out of it
 * with the tty's \r\n, and it reads EIO after the container exited. |dir|
 * too long for a socket path takes the short directory under |base|.
 */
static void tty_run(const struct crid_oci_runtime *rt, const char *dir, const char *what)
{
	struct result r = { 0 };
	struct crid_err err;
	struct winsize ws = { 0 };
	char tid[80], buf[512] = "", path[PATH_MAX];
	int master = -1;
	bool ok;

	if (!CHECK(make_tty_bundle(dir, "echo hello; stty size"), "%s: tty bundle", what))
		return;
	pathf(tid, sizeof(tid), "%s-tty", id);
	ok = wait_call(
	    crid_oci_create_tty(&loop, rt, tid, dir, base, &master, 30, on_done, &r, &err), &r, 35);
	CHECK(ok && r.status == 0 && master >= 0, "%s: create with a console socket: %s", what,
	      ok ? r.err.msg : err.msg);
	pathf(path, sizeof(path), "%s/console.sock", dir);
	CHECK(access(path, F_OK) < 0 && errno == ENOENT, "%s: the socket is gone after create",
	      what);
	if (master >= 0) {
		CHECK(fcntl(master, F_GETFL) & O_NONBLOCK, "%s: the master is non-blocking", what);
		if (ioctl(master, TIOCGWINSZ, &ws) < 0)
			ws.ws_row = ws.ws_col = 0;
		CHECK(ws.ws_row == 24 && ws.ws_col == 80, "%s: window 80x24 (%dx%d)", what,
		      ws.ws_col, ws.ws_row);
		memset(&r, 0, sizeof(r));
		ok = wait_call(crid_oci_start(&loop, rt, tid, 10, on_done, &r, &err), &r, 15);
		CHECK(ok && r.status == 0, "%s: start: %s", what, r.err.msg);
		CHECK(read_to_eio(master, buf, sizeof(buf), 10), "%s: EIO after the exit", what);
		ok = strstr(buf, "hello\r\n") && strstr(buf, "24 80\r\n");
		for (char *p = buf; *p; p++) /* one TAP line */
			*p = *p == '\r' ? '~' : *p == '\n' ? '|' : *p;
		CHECK(ok, "%s: \"hello\" and the window size through the master (%s)", what, buf);
		close(master);
	}
	memset(&r, 0, sizeof(r));
	ok = wait_call(crid_oci_delete(&loop, rt, tid, true, 10, on_done, &r, &err), &r, 15);
	CHECK(ok && r.status == 0, "%s: delete: %s", what, r.err.msg);
}

static void test_tty(const struct crid_oci_runtime *rt)
{
	char dir[PATH_MAX], left[PATH_MAX];
	DIR *d;
	struct dirent *e;
	int n = 0;

	pathf(dir, sizeof(dir), "%s/tty", base);
	tty_run(rt, dir, "short bundle path");
	pathf(dir, sizeof(dir), "%s/tty-%s", base,
	      "a-bundle-path-too-long-for-sun-path-so-the-socket-goes-to-a-short-directory-x");
	tty_run(rt, dir, "long bundle path");
	d = opendir(base);
	while (d && (e = readdir(d)))
		if (!strncmp(e->d_name, "cs-", 3))
			n++, pathf(left, sizeof(left), "%s", e->d_name);
	if (d)
		closedir(d);
	CHECK(n == 0, "the short socket directory is removed (%d)", n);
}

static void test_runc(void)
{
	struct crid_oci_runtime rt = { "runc", RUNC, root, -1, NULL, 0, false };
	struct result r = { 0 };
	struct crid_err err;
	int p[2];

	if (access(RUNC, X_OK) < 0 || access("/bin/busybox", X_OK) < 0) {
		tap_skip("runc lifecycle", "needs " RUNC " and /bin/busybox");
		return;
	}
	if (!CHECK(make_bundle(), "bundle from busybox and `runc spec`"))
		return;
	if (pipe2(p, O_CLOEXEC) < 0)
		return;
	fcntl(p[0], F_SETFL, O_NONBLOCK);
	if (create_and_start(&rt, p[0], p[1])) {
		test_exec(&rt);
		test_exec_proc(&rt);
		test_update(&rt);
		CHECK(call_files_left() == 0, "no per-call files left in the bundle (%d)",
		      call_files_left());
		test_stop_and_delete(&rt);
		test_tty(&rt); /* before the next one breaks config.json */
		test_create_missing_command(&rt);
	}
	close(p[0]);
	close(p[1]);
	/* whatever failed above: leave nothing behind */
	if (wait_call(crid_oci_delete(&loop, &rt, id, true, 10, on_done, &r, &err), &r, 15))
		CHECK(r.status == 0, "final delete --force: %s", r.err.msg);
}

/* crun cannot create containers on this hybrid-cgroup host, but its errors are read alike. */
static void test_crun_unknown(void)
{
	struct crid_oci_runtime rt = { "crun", CRUN, root, -1, NULL, 0, false };
	struct result r = { 0 };
	struct crid_err err;
	bool ok;

	if (access(CRUN, X_OK) < 0) {
		tap_skip("crun errors", "needs " CRUN);
		return;
	}
	ok = wait_call(crid_oci_delete(&loop, &rt, "crid-nosuch", false, 10, on_done, &r, &err), &r,
		       15);
	CHECK(ok && r.status == 0, "crun delete of an unknown container: success (%s)", r.err.msg);
	memset(&r, 0, sizeof(r));
	ok = wait_call(crid_oci_state(&loop, &rt, "crid-nosuch", 10, on_done, &r, &err), &r, 15);
	CHECK(ok && r.status == -1 && r.err.code == ENOENT && strstr(r.err.msg, "crun state"),
	      "crun state of an unknown container: ENOENT: %s", r.err.msg);
}

static bool fake_runtime(char *path, size_t size, const char *name, const char *script)
{
	pathf(path, size, "%s/%s", base, name);
	return put_file(path, script, 0755);
}

static void test_fakes(void)
{
	struct crid_oci_runtime rt = { "fake", NULL, "", -1, NULL, 0, false };
	char path[PATH_MAX];
	struct result r = { 0 };
	struct crid_oci_call *call;
	struct crid_err err;
	bool ok;

	if (fake_runtime(path, sizeof(path), "hang", "#!/bin/sh\nexec sleep 100\n")) {
		rt.path = path;
		ok = wait_call(crid_oci_state(&loop, &rt, "c1", 0.3, on_done, &r, &err), &r, 5);
		CHECK(ok && r.status == -1 && r.err.code == ETIMEDOUT &&
			  strstr(r.err.msg, "fake state c1: timed out"),
		      "a hung call times out: %s", r.err.msg);
		memset(&r, 0, sizeof(r));
		call = crid_oci_start(&loop, &rt, "c2", 10, on_done, &r, &err);
		crid_oci_call_cancel(call);
		/* the test has no other child at this point */
		CHECK(call && waitpid(-1, NULL, WNOHANG) < 0 && errno == ECHILD && !r.done,
		      "cancel kills and reaps the runtime, done not called");
	}
	if (fake_runtime(path, sizeof(path), "plain",
			 "#!/bin/sh\necho 'some warning' >&2\n"
			 "echo 'boom: it broke' >&2\nexit 1\n")) {
		rt.path = path;
		memset(&r, 0, sizeof(r));
		ok = wait_call(crid_oci_kill(&loop, &rt, "c3", 15, true, 5, on_done, &r, &err), &r,
			       5);
		CHECK(ok && r.status == -1 && !strcmp(r.err.msg, "fake kill c3: boom: it broke"),
		      "plain-text stderr: its last line (%s)", r.err.msg);
	}
	if (fake_runtime(path, sizeof(path), "big", "#!/bin/sh\nhead -c 2000000 /dev/zero\n")) {
		rt.path = path;
		memset(&r, 0, sizeof(r));
		ok = wait_call(crid_oci_state(&loop, &rt, "c4", 5, on_done, &r, &err), &r, 10);
		CHECK(ok && r.status == -1 && r.err.code == EMSGSIZE, "output over 1 MiB fails: %s",
		      r.err.msg);
	}
	if (fake_runtime(path, sizeof(path), "args", "#!/bin/sh\necho \"$@\"\n")) {
		rt.path = path;
		rt.root = "/tmp/r";
		memset(&r, 0, sizeof(r));
		ok = wait_call(crid_oci_kill(&loop, &rt, "c5", 9, true, 5, on_done, &r, &err), &r,
			       5);
		CHECK(ok && r.status == 0 &&
			  !strcmp(r.out, "--root /tmp/r --log-format json kill --all c5 9\n"),
		      "argv: %s", r.out);
		rt.systemd_cgroup =
		    true; /* cgroup_manager systemd: a global flag, before the verb */
		memset(&r, 0, sizeof(r));
		ok = wait_call(crid_oci_kill(&loop, &rt, "c5", 9, false, 5, on_done, &r, &err), &r,
			       5);
		CHECK(ok && r.status == 0 &&
			  !strcmp(r.out,
				  "--root /tmp/r --systemd-cgroup --log-format json kill c5 9\n"),
		      "argv with --systemd-cgroup: %s", r.out);
		rt.systemd_cgroup = false;
	}
	rt.path = "relative/runc";
	CHECK(!crid_oci_state(&loop, &rt, "c6", 5, on_done, &r, &err) && err.code == EINVAL,
	      "a relative runtime path is refused: %s", err.msg);
}

static void on_signal(struct crid_loop *l, int signo, void *user)
{
	(void)l, (void)signo, (void)user;
}

int main(void)
{
	struct crid_err err;

	if (geteuid() != 0) {
		tap_skip("oci runtime", "needs root (runc create)");
		return tap_done();
	}
	if (crid_loop_init(&loop, on_signal, NULL, &err) < 0) {
		printf("not ok - loop: %s\n", err.msg);
		return 1;
	}
	snprintf(base, sizeof(base), "/tmp/crid-oci-XXXXXX");
	if (!mkdtemp(base)) {
		printf("not ok - mkdtemp\n");
		return 1;
	}
	snprintf(id, sizeof(id), "crid-test-%d", (int)getpid());
	pathf(root, sizeof(root), "%s/runtime-root", base);
	if (mkdir(root, 0700) < 0)
		return 1;
	test_fakes();
	test_crun_unknown();
	test_runc();
	nftw(base, rm_cb, 16, FTW_DEPTH | FTW_PHYS);
	crid_loop_destroy(&loop);
	CHECK(crid_mem_used() == 0, "no memory left allocated (%zu)", crid_mem_used());
	return tap_done();
}
