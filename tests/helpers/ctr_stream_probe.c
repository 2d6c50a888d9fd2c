/*
 * A test-only driver of runtime/container/ctr_stream.h, for
 * tests/integration/test_ctr_stream.py before the streaming sessions exist:
 * crid's own start-up (config from crid's arguments, state lock, host, the
 * stores, every container recovered from the fd store) without the gRPC
 * socket, then one streaming action on one container, relayed to this
 * process's stdio, then crid's own shutdown (containers keep running, their
 * fds stay in the store). The real daemon must be stopped meanwhile (the
 * state lock says so).
 *
 *   ctr_stream_probe exec ID [-t] [-i] CMD... -- CRID-ARGS
 *       stdin -> the process (-i), its stdout -> stdout, stderr -> stderr;
 *       -t: a terminal (stdin and output both). Ends with "exit=N" on stderr,
 *       or "exit=-1 code=E msg" when it never ran.
 *   ctr_stream_probe attach ID [-i] [-n BYTES] [-p] -- CRID-ARGS
 *       the container's output -> stdout/stderr until it ended ("ended" on
 *       stderr) or BYTES came; -i: stdin -> the container's stdin, stdin_done
 *       at EOF; -p: pauses the output after every slice for 50 ms.
 *   ctr_stream_probe resize ID W H -- CRID-ARGS
 * An error of a call prints "error code=E msg" on stderr and exits 3.
 */
#include <errno.h>
#include <fcntl.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "handlers/container.h"
#include "handlers/handlers.h"
#include "handlers/pull.h"
#include "handlers/sandbox.h"
#include "reactor/log.h"
#include "reactor/pidfd.h"
#include "runtime/container/ctr_stream.h"
#include "runtime/state/state_lock.h"
#include "runtime/state/statefile.h"
#include "runtime/state/syncer.h"

static struct crid_loop loop;
static struct crid_config cfg;
static struct crid_host host;
static struct crid_daemon d;
static struct crid_state_lock lock;
static int rc;

static struct {
	int in, out, err, master;
	ev_io in_w, out_w, err_w, master_w;
	bool exited;
	int status;
	struct crid_ctr_exec *x;
	struct crid_ctr_attach *a;
	long long limit, got;
	bool pace;
	ev_timer pace_t;
} s = { .in = -1, .out = -1, .err = -1, .master = -1 };

static void put_all(int fd, const void *buf, size_t len)
{
	const char *p = buf;

	while (len) {
		ssize_t n = write(fd, p, len);

		if (n < 0 && (errno == EINTR || errno == EAGAIN))
			continue; /* a test pipe: spinning briefly is fine here */
		if (n <= 0)
			return;
		p += n;
		len -= (size_t)n;
	}
}

static void fail_err(const char *what, const struct crid_err *e)
{
	fprintf(stderr, "error code=%d %s: %s\n", e->code, what, e->msg);
	rc = 3;
	crid_loop_stop(&loop);
}

/* ---- exec ---- */

static void exec_maybe_done(void)
{
	if (!s.exited || s.out >= 0 || s.err >= 0 || s.master >= 0)
		return;
	fprintf(stderr, "exit=%d\n", s.status);
	crid_loop_stop(&loop);
}

static void close_watched(int *fd, ev_io *w)
{
	ev_io_stop(loop.ev, w);
	close(*fd);
	*fd = -1;
}

static void on_output(struct ev_loop *ev, ev_io *w, int revents)
{
	int *fd = w->data;
	char buf[65536];
	ssize_t n = read(*fd, buf, sizeof(buf));

	(void)ev, (void)revents;
	if (n < 0 && (errno == EAGAIN || errno == EINTR))
		return;
	if (n <= 0) { /* EOF, or EIO: a terminal whose process is gone */
		if (fd == &s.master && s.in_w.fd == 0)
			ev_io_stop(loop.ev, &s.in_w);
		close_watched(fd, w);
		exec_maybe_done();
		return;
	}
	put_all(fd == &s.err ? 2 : 1, buf, (size_t)n);
}

/* stdin -> the process's stdin, or the terminal, or the attach's stdin. */
static void on_stdin(struct ev_loop *ev, ev_io *w, int revents)
{
	char buf[65536];
	ssize_t n = read(0, buf, sizeof(buf));
	int to = s.master >= 0 ? s.master : s.in;

	(void)ev, (void)revents;
	if (n < 0 && errno == EINTR)
		return;
	if (n > 0) {
		put_all(to, buf, (size_t)n);
		return;
	}
	ev_io_stop(loop.ev, w);
	if (s.in >= 0) {
		close(s.in);
		s.in = -1;
	}
	if (s.a)
		crid_ctr_attach_stdin_done(s.a);
}

static void watch(int *fd, ev_io *w)
{
	if (*fd < 0)
		return;
	ev_io_init(w, on_output, *fd, EV_READ);
	w->data = fd;
	ev_io_start(loop.ev, w);
}

static void watch_stdin(void)
{
	ev_io_init(&s.in_w, on_stdin, 0, EV_READ);
	ev_io_start(loop.ev, &s.in_w);
}

static void exec_started(void *user, const struct crid_ctr_exec_fds *fds)
{
	(void)user;
	s.in = fds->in;
	s.out = fds->out;
	s.err = fds->err;
	s.master = fds->master;
	watch(&s.out, &s.out_w);
	watch(&s.err, &s.err_w);
	watch(&s.master, &s.master_w);
	if (s.in >= 0 || s.master >= 0)
		watch_stdin();
}

static void exec_exited(void *user, int status, const struct crid_err *err)
{
	(void)user;
	s.exited = true;
	s.status = status;
	if (status < 0) {
		fprintf(stderr, "exit=-1 code=%d %s\n", err->code, err->msg);
		crid_loop_stop(&loop);
		return;
	}
	exec_maybe_done();
}

static void run_exec(const char *id, int argc, char **argv)
{
	static const struct crid_ctr_exec_cbs cbs = { exec_started, exec_exited };
	struct crid_ctr_exec_opts o = { .stdout = true, .stderr = true };
	struct crid_err e;
	int i = 0;

	for (; i < argc && argv[i][0] == '-'; i++) {
		o.tty |= !strcmp(argv[i], "-t");
		o.stdin |= !strcmp(argv[i], "-i");
	}
	o.stderr = !o.tty;
	o.argv = (const char *const *)argv + i;
	o.argc = (size_t)(argc - i);
	s.x = crid_ctrs_exec_start(d.ctrs, id, &o, &cbs, NULL, &e);
	if (!s.x)
		fail_err("exec", &e);
}

/* ---- attach ---- */

static void resume(struct ev_loop *ev, ev_timer *t, int revents)
{
	(void)ev, (void)t, (void)revents;
	crid_ctr_attach_resume(s.a);
}

static bool attach_output(void *user, int stream, const uint8_t *data, size_t len)
{
	(void)user;
	put_all(stream == 2 ? 2 : 1, data, len);
	s.got += (long long)len;
	if (s.limit > 0 && s.got >= s.limit) {
		crid_loop_stop(&loop);
		return true;
	}
	if (!s.pace)
		return true;
	ev_timer_stop(loop.ev, &s.pace_t);
	ev_timer_set(&s.pace_t, 0.05, 0.);
	ev_timer_start(loop.ev, &s.pace_t);
	return false;
}

static void attach_ended(void *user)
{
	(void)user;
	fprintf(stderr, "ended\n");
	crid_loop_stop(&loop);
}

static void run_attach(const char *id, int argc, char **argv)
{
	static const struct crid_ctr_attach_cbs cbs = { attach_output, attach_ended };
	bool in = false;
	struct crid_err e;

	for (int i = 0; i < argc; i++) {
		in |= !strcmp(argv[i], "-i");
		s.pace |= !strcmp(argv[i], "-p");
		if (!strcmp(argv[i], "-n") && i + 1 < argc)
			s.limit = atoll(argv[++i]);
	}
	ev_timer_init(&s.pace_t, resume, 0.05, 0.);
	s.a = crid_ctrs_attach(d.ctrs, id, &cbs, NULL, &e);
	if (!s.a) {
		fail_err("attach", &e);
		return;
	}
	if (!in)
		return;
	s.in = crid_ctr_attach_stdin(s.a, &e);
	if (s.in < 0) {
		fail_err("attach stdin", &e);
		return;
	}
	fcntl(s.in, F_SETFL, 0); /* blocking: put_all need not wait for room */
	watch_stdin();
}

/* ---- crid's start-up and shutdown, as crid.c ---- */

static void on_signal(struct crid_loop *l, int signo, void *user)
{
	(void)user;
	if (signo == SIGCHLD)
		crid_reap_orphans_soon(l); /* as crid: adopted orphans are reaped here */
	else
		crid_loop_stop(l);
}

static int setup(struct crid_err *err)
{
	const char *dirs[] = { cfg.root, cfg.runroot };

	if (crid_config_validate(&cfg, err) < 0 || crid_state_lock_take(&lock, dirs, 2, err) < 0 ||
	    crid_host_detect(&host, &cfg, err) < 0 || crid_host_prepare_crun(&host, &cfg, err) < 0)
		return -1;
	d.loop = &loop;
	d.cfg = &cfg;
	d.host = &host;
	d.cni = crid_cni_watch_new(cfg.cni_config_dir, &cfg.cni_plugin_dirs);
	if (!d.cni || crid_node_state_load(&d.node, cfg.root, err) < 0 ||
	    crid_handlers_init(err) < 0 || crid_loop_init(&loop, on_signal, NULL, err) < 0 ||
	    crid_syncer_start(&loop, cfg.root, err) < 0 ||
	    crid_image_store_open(cfg.root, &d.images, err) < 0 ||
	    crid_trash_init(&d.trash, &loop, crid_image_store_trash_dir(d.images), err) < 0 ||
	    crid_pull_init(&d, err) < 0 || crid_sandbox_handlers_init(&d, err) < 0 ||
	    crid_container_handlers_init(&d, err) < 0)
		return -1;
	return 0;
}

static void teardown(void)
{
	if (s.x)
		crid_ctr_exec_release(s.x);
	if (s.a)
		crid_ctr_attach_close(s.a);
	crid_pull_cleanup(&d);
	crid_container_handlers_cleanup(&d);
	crid_sandbox_handlers_cleanup(&d);
	if (loop.ev)
		crid_syncer_stop();
	if (d.trash.dir)
		crid_trash_cleanup(&d.trash);
	crid_loop_destroy(&loop);
	crid_image_store_close(d.images);
	crid_handlers_cleanup();
	crid_node_state_free(&d.node);
	crid_cni_watch_free(d.cni);
	crid_host_free(&host);
	crid_config_free(&cfg);
	crid_state_lock_release(&lock);
}

int main(int argc, char **argv)
{
	enum crid_config_action action;
	struct crid_err err;
	int sep = 0;

	for (int i = 1; i < argc && !sep; i++)
		if (!strcmp(argv[i], "--"))
			sep = i;
	if (argc < 3 || !sep || sep < 3) {
		fprintf(stderr, "usage: %s exec|attach|resize ID [ARGS] -- CRID-ARGS\n", argv[0]);
		return 2;
	}
	argv[sep] = argv[0]; /* crid's argv: argv[sep] is its argv[0] */
	crid_err_clear(&err);
	if (crid_config_from_args(&cfg, argc - sep, argv + sep, &action, &err) < 0 ||
	    setup(&err) < 0) {
		fprintf(stderr, "setup: %s\n", err.msg);
		teardown();
		return 2;
	}
	if (!strcmp(argv[1], "exec"))
		run_exec(argv[2], sep - 3, argv + 3);
	else if (!strcmp(argv[1], "attach"))
		run_attach(argv[2], sep - 3, argv + 3);
	else if (!strcmp(argv[1], "resize") && sep == 5) {
		if (crid_ctrs_resize(d.ctrs, argv[2], (uint16_t)atoi(argv[3]),
				     (uint16_t)atoi(argv[4]), &err) < 0)
			fail_err("resize", &err);
		else
			rc = -1; /* done: no loop to run */
	}
	if (!rc)
		crid_loop_run(&loop);
	rc = rc < 0 ? 0 : rc;
	teardown();
	return rc;
}
