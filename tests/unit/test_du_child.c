/*
 * reactor/du_child: a real `du` on a real loop. One tree gives its own line's
 * figure, two give -c's total; a missing tree (du exits 1 with no line) and
 * an unknown option's failure give none; a killed du is reaped at once.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "reactor/du_child.h"
#include "reactor/loop.h"
#include "tap.h"

static char tmp[] = "/tmp/crid-du-child-XXXXXX";

struct run {
	struct crid_du_child du;
	int status;
	bool exited;
};

static void on_signal(struct crid_loop *loop, int signo, void *user)
{
	(void)loop, (void)signo, (void)user;
}

static void exited(struct crid_child *child, int status, void *user)
{
	struct run *r = user;

	(void)child;
	r->status = status;
	r->exited = true;
}

/* Runs du over |dirs| to its end: 0 and *out, or -1 (no figure). */
static int measure(struct crid_loop *loop, enum crid_du_count what, const char *const *dirs,
		   uint64_t *out)
{
	struct run r = { .exited = false };
	struct crid_err err;

	crid_du_child_init(&r.du);
	if (crid_du_child_start(loop, &r.du, what, dirs, exited, &r, &err) < 0) {
		printf("# start: %s\n", err.msg);
		return -1;
	}
	for (int i = 0; i < 3000 && !r.exited; i++)
		ev_run(loop->ev, EVRUN_ONCE);
	return r.exited ? crid_du_child_total(&r.du, r.status, out) : -1;
}

static void write_file(const char *dir, const char *name, size_t size)
{
	char path[512];
	FILE *f;

	snprintf(path, sizeof(path), "%s/%s", dir, name);
	f = fopen(path, "w");
	for (size_t i = 0; f && i < size; i++)
		fputc('x', f);
	if (f)
		fclose(f);
}

int main(void)
{
	struct crid_loop loop;
	struct crid_err err;
	char a[256], b[256], gone[256];
	uint64_t v = 0, va = 0, vb = 0;
	if (!mkdtemp(tmp) || crid_loop_init(&loop, on_signal, NULL, &err) < 0) {
		tap_skip("du child", "no temp dir or loop");
		return tap_done();
	}
	snprintf(a, sizeof(a), "%s/a", tmp);
	snprintf(b, sizeof(b), "%s/b", tmp);
	snprintf(gone, sizeof(gone), "%s/gone", tmp);
	mkdir(a, 0700);
	mkdir(b, 0700);
	write_file(a, "f1", 100000);
	write_file(b, "f2", 300000);
	write_file(b, "f3", 10);

	int rc;

	rc = measure(&loop, CRID_DU_BYTES, (const char *const[]){ a, NULL }, &va);
	CHECK(rc == 0 && va >= 100000, "one tree: its bytes (%llu)", (unsigned long long)va);
	rc = measure(&loop, CRID_DU_BYTES, (const char *const[]){ b, NULL }, &vb);
	CHECK(rc == 0 && vb >= 300000, "the other (%llu)", (unsigned long long)vb);
	rc = measure(&loop, CRID_DU_BYTES, (const char *const[]){ a, b, NULL }, &v);
	CHECK(rc == 0 && v == va + vb, "two trees: the total line (%llu)", (unsigned long long)v);
	rc = measure(&loop, CRID_DU_INODES, (const char *const[]){ b, NULL }, &v);
	CHECK(rc == 0 && v == 3, "inodes: the dir and its two files (%llu)", (unsigned long long)v);
	rc = measure(&loop, CRID_DU_BYTES, (const char *const[]){ gone, NULL }, &v);
	CHECK(rc < 0, "a missing tree: no figure");
	rc = measure(&loop, CRID_DU_BYTES, (const char *const[]){ a, gone, NULL }, &v);
	CHECK(rc == 0 && v == va, "a missing tree of two: du exits 1 and totals the other (%llu)",
	      (unsigned long long)v);
	{
		struct run r = { .exited = false };

		crid_du_child_init(&r.du);
		CHECK(crid_du_child_start(&loop, &r.du, CRID_DU_BYTES,
					  (const char *const[]){ "/", NULL }, exited, &r,
					  &err) == 0,
		      "a long walk starts");
		crid_du_child_kill(&r.du);
		CHECK(r.du.child.pidfd < 0 && r.du.out_fd < 0 && !r.exited,
		      "killed and reaped at once, no exit callback after");
		crid_du_child_kill(&r.du);
		CHECK(true, "a second kill is a no-op");
	}
	crid_loop_destroy(&loop);
	{
		char cmd[300];

		snprintf(cmd, sizeof(cmd), "rm -rf %s", tmp);
		if (system(cmd) != 0)
			printf("# cleanup of %s failed\n", tmp);
	}
	return tap_done();
}
