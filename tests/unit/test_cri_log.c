/*
 * The CRI log writer driven through real pipes on the loop: the byte-exact
 * record format, F/P splitting at 16 KiB, bytes passed through untouched,
 * EOF once both streams closed (a pty master's EIO included), reopen after
 * rename, the size limit, a fast writer process (every line once, in order), and a full disk (tmpfs in a
 * private mount namespace) that pauses reading and resumes without a loss;
 * the journal (exactly once across kill -9): each state a killed daemon can
 * leave it in, settled on open, and a full disk with the slice kept there.
 */
#include <errno.h>
#include <fcntl.h>
#include <regex.h>
#include <sched.h>
#include <signal.h>
#include <stdlib.h>
#include <string.h>
#include <sys/ioctl.h>
#include <sys/mount.h>
#include <sys/stat.h>
#include <unistd.h>

#include "io/cri_log.h"
#include "io/cri_log_testing.h"
#include "reactor/mem.h"
#include "reactor/spawn.h"
#include "tests/unit/tap.h"

static char dir[64];
static regex_t prefix_re;

struct pipes {
	int out[2], err[2];
};

static int open_pipes(struct pipes *p)
{
	if (pipe2(p->out, O_CLOEXEC) < 0)
		return -1;
	if (pipe2(p->err, O_CLOEXEC) < 0) {
		close(p->out[0]);
		close(p->out[1]);
		return -1;
	}
	return 0;
}

static void close_fd(int *fd)
{
	if (*fd >= 0)
		close(*fd);
	*fd = -1;
}

static void close_pipes(struct pipes *p)
{
	close_fd(&p->out[0]);
	close_fd(&p->out[1]);
	close_fd(&p->err[0]);
	close_fd(&p->err[1]);
}

static void put(int fd, const void *buf, size_t len)
{
	const char *p = buf;

	while (len > 0) {
		ssize_t w = write(fd, p, len);

		if (w <= 0) {
			CHECK(0, "write to the test pipe: %s", strerror(errno));
			return;
		}
		p += w;
		len -= (size_t)w;
	}
}

static void puts_fd(int fd, const char *s)
{
	put(fd, s, strlen(s));
}

/* Lets the loop run without blocking: enough rounds to drain what the test wrote. */
static void pump(struct crid_loop *loop, int rounds)
{
	for (int i = 0; i < rounds; i++)
		ev_run(loop->ev, EVRUN_NOWAIT);
}

static char *slurp(const char *path, size_t *len)
{
	int fd = open(path, O_RDONLY | O_CLOEXEC);
	size_t cap = 4096, n = 0;
	char *buf = malloc(cap);

	*len = 0;
	if (fd < 0 || !buf) {
		if (fd >= 0)
			close(fd);
		free(buf);
		return NULL;
	}
	for (;;) {
		ssize_t r;

		if (n == cap && !(buf = realloc(buf, cap *= 2)))
			break;
		r = read(fd, buf + n, cap - n);
		if (r <= 0)
			break;
		n += (size_t)r;
	}
	close(fd);
	*len = n;
	return buf;
}

struct parsed {
	char *stdout_text, *stderr_text; /* P and F joined, F adds the '\n' */
	size_t out_len, err_len;
	int records, bad, p_records, longest;
};

static void append(char **text, size_t *len, const char *p, size_t n)
{
	*text = realloc(*text, *len + n + 1);
	memcpy(*text + *len, p, n);
	*len += n;
	(*text)[*len] = 0;
}

/* Checks every record's prefix with a regex and joins the content per stream. */
static void parse_file(const char *path, struct parsed *r)
{
	size_t len;
	char *buf = slurp(path, &len);
	const char *p = buf, *end = buf + len;

	memset(r, 0, sizeof(*r));
	r->stdout_text = calloc(1, 1);
	r->stderr_text = calloc(1, 1);
	while (buf && p < end) {
		const char *nl = memchr(p, '\n', (size_t)(end - p));
		char prefix[41];
		size_t n;
		int err;

		if (!nl || nl - p < 40) {
			r->bad++;
			break;
		}
		memcpy(prefix, p, 40);
		prefix[40] = 0;
		if (regexec(&prefix_re, prefix, 0, NULL, 0) != 0) {
			r->bad++;
			break;
		}
		err = prefix[31 + 3] == 'e'; /* "stderr" vs "stdout" */
		n = (size_t)(nl - p) - 40;
		if ((int)n > r->longest)
			r->longest = (int)n;
		append(err ? &r->stderr_text : &r->stdout_text, err ? &r->err_len : &r->out_len,
		       p + 40, n);
		if (prefix[38] == 'F')
			append(err ? &r->stderr_text : &r->stdout_text,
			       err ? &r->err_len : &r->out_len, "\n", 1);
		else
			r->p_records++;
		r->records++;
		p = nl + 1;
	}
	free(buf);
}

static void free_parsed(struct parsed *r)
{
	free(r->stdout_text);
	free(r->stderr_text);
}

static void log_path(char *buf, size_t size, const char *name)
{
	snprintf(buf, size, "%s/%s", dir, name);
}

static void test_format(void)
{
	char buf[128];
	size_t n;

	n = crid_cri_log_format(buf, sizeof(buf), 1796017207123456789LL, "stdout", 'F', "hello", 5);
	CHECK(n == 46 && memcmp(buf, "2026-11-30T05:40:07.123456789Z stdout F hello\n", n) == 0,
	      "byte-exact F record (%zu)", n);
	n = crid_cri_log_format(buf, sizeof(buf), 1796017207000000000LL, "stderr", 'P', "", 0);
	CHECK(n == 41 && memcmp(buf, "2026-11-30T05:40:07.000000000Z stderr P \n", n) == 0,
	      "nine fraction digits even when zero, empty piece");
	n = crid_cri_log_format(buf, sizeof(buf), -1, "stdout", 'F', "x", 1);
	CHECK(n == 42 && memcmp(buf, "1969-12-31T23:59:59.999999999Z stdout F x\n", n) == 0,
	      "before the epoch rounds down");
	memset(buf, '#', sizeof(buf));
	n = crid_cri_log_format(buf, 10, 0, "stdout", 'F', "hello", 5);
	CHECK(n == 46 && buf[0] == '#', "too small a buffer: length returned, nothing written");
}

struct eof_count {
	int calls;
};

static void on_child_exit(struct crid_child *child, int status, void *user)
{
	(void)child;
	*(int *)user = status;
}

static void on_eof(void *user)
{
	((struct eof_count *)user)->calls++;
}

/* Short lines on both streams, odd bytes, CRLF, a tail without newline, EOF once. */
static void test_lines_and_eof(struct crid_loop *loop)
{
	static const char odd[] = "\xff\xfe\x80 \0nul\tTAB\r\n";
	struct pipes p;
	struct eof_count eof = { 0 };
	struct crid_cri_log *log;
	struct crid_err err = { 0 };
	struct parsed r;
	char path[128];

	log_path(path, sizeof(path), "lines.log");
	if (!CHECK(open_pipes(&p) == 0, "pipes"))
		return;
	log = crid_cri_log_open(loop, path, p.out[0], p.err[0], -1, &err);
	if (!CHECK(log != NULL, "open `%s`: %s", path, log ? "" : err.msg))
		return;
	crid_cri_log_on_eof(log, on_eof, &eof);
	puts_fd(p.out[1], "hello\nworld\n");
	puts_fd(p.err[1], "oops\n");
	pump(loop, 3);
	puts_fd(p.out[1], "\n");
	put(p.out[1], odd, sizeof(odd) - 1);
	puts_fd(p.err[1], "tail without newline");
	pump(loop, 3);
	close_fd(&p.out[1]);
	pump(loop, 3);
	CHECK(eof.calls == 0 && !crid_cri_log_done(log), "no EOF while stderr is open");
	close_fd(&p.err[1]);
	pump(loop, 3);
	CHECK(eof.calls == 1 && crid_cri_log_done(log), "EOF callback once after both closed (%d)",
	      eof.calls);
	pump(loop, 3);
	CHECK(eof.calls == 1, "and only once");

	parse_file(path, &r);
	CHECK(r.bad == 0 && r.records == 6, "6 well-formed records (%d, %d bad)", r.records, r.bad);
	CHECK(r.out_len == 13 + sizeof(odd) - 1 &&
		  memcmp(r.stdout_text, "hello\nworld\n\n", 13) == 0 &&
		  memcmp(r.stdout_text + 13, odd, sizeof(odd) - 1) == 0,
	      "stdout bytes as written: non-UTF-8, NUL, tab, CR kept");
	CHECK(r.err_len == 25 && memcmp(r.stderr_text, "oops\ntail without newline", 25) == 0,
	      "stderr as written");
	CHECK(r.p_records == 1, "the tail without newline is one P record");
	free_parsed(&r);
	{
		size_t len;
		char *raw = slurp(path, &len);

		CHECK(raw && len > 40 &&
			  memmem(raw, len, " stdout F \xff\xfe\x80 \0nul\tTAB\r\n", 23),
		      "CRLF line is an F record whose content ends with \\r");
		CHECK(raw && memmem(raw, len, " stderr P tail without newline\n", 31),
		      "\"stderr P tail without newline\" record");
		free(raw);
	}
	crid_cri_log_close(log);
	close_pipes(&p);
}

/* A terminal's master reads EIO, not 0, after the slave closed: that is its EOF too. */
static void test_pty_eof(struct crid_loop *loop)
{
	struct eof_count eof = { 0 };
	struct crid_cri_log *log;
	struct crid_err err = { 0 };
	char path[128], *raw;
	size_t len;
	int master, slave = -1;

	master = posix_openpt(O_RDWR | O_NOCTTY | O_CLOEXEC);
	if (master < 0 || grantpt(master) < 0 || unlockpt(master) < 0 ||
	    (slave = open(ptsname(master), O_RDWR | O_NOCTTY | O_CLOEXEC)) < 0) {
		tap_skip("pty EOF", "no pty here");
		if (master >= 0)
			close(master);
		return;
	}
	log_path(path, sizeof(path), "pty.log");
	log = crid_cri_log_open(loop, path, master, -1, -1, &err);
	if (!CHECK(log != NULL, "open `%s` on a pty master: %s", path, log ? "" : err.msg)) {
		close(slave), close(master);
		return;
	}
	crid_cri_log_on_eof(log, on_eof, &eof);
	puts_fd(slave, "hello\n");
	pump(loop, 3);
	close(slave);
	for (int i = 0; i < 50 && !eof.calls; i++) {
		pump(loop, 1);
		usleep(2000);
	}
	CHECK(eof.calls == 1 && crid_cri_log_done(log), "EIO on the master is EOF (%d)", eof.calls);
	raw = slurp(path, &len);
	CHECK(raw && len == 47 && memmem(raw, len, " stdout F hello\r\n", 17),
	      "the tty's \"hello\\r\\n\" is one F record ending in \\r (%zu)", len);
	free(raw);
	crid_cri_log_close(log);
	close(master);
}

/* A 40 KiB line: P 16384, P 16384, F 8192; and a line of exactly 16 KiB is one F. */
static void test_long_line(struct crid_loop *loop)
{
	size_t big = 40 * 1024;
	char *line = malloc(big + 1);
	struct pipes p;
	struct crid_cri_log *log;
	struct crid_err err = { 0 };
	char path[128];
	size_t len;
	char *raw;

	log_path(path, sizeof(path), "long.log");
	for (size_t i = 0; i < big; i++)
		line[i] = (char)('a' + i % 26);
	line[big] = '\n';
	if (!CHECK(open_pipes(&p) == 0, "pipes"))
		goto out;
	log = crid_cri_log_open(loop, path, p.out[0], p.err[0], -1, &err);
	if (!CHECK(log != NULL, "open: %s", log ? "" : err.msg))
		goto out;
	put(p.out[1], line, big + 1);
	put(p.err[1], line + big - 16384, 16384 + 1);
	pump(loop, 5);
	raw = slurp(path, &len);
	{
		struct parsed r;
		size_t rec = 41; /* prefix 40 + '\n' */

		parse_file(path, &r);
		CHECK(r.bad == 0 && r.records == 4 && r.p_records == 2 && r.longest == 16384,
		      "4 records, 2 P, longest 16384 (%d, %d, %d)", r.records, r.p_records,
		      r.longest);
		CHECK(r.out_len == big + 1 && memcmp(r.stdout_text, line, big + 1) == 0,
		      "the pieces join to the line");
		CHECK(r.err_len == 16385 && memcmp(r.stderr_text, line + big - 16384, 16385) == 0,
		      "a 16 KiB line is whole");
		/* Record boundaries, stream by stream, in the order the callbacks ran. */
		CHECK(len == 3 * rec + big + rec + 16384, "file size %zu", len);
		free_parsed(&r);
	}
	CHECK(raw && memmem(raw, len, " stdout P abcdefghij", 20) &&
		  memmem(raw, len, " stderr F ", 10) && !memmem(raw, len, " stderr P ", 10),
	      "P for stdout pieces, a single F for the 16 KiB stderr line");
	free(raw);
	crid_cri_log_close(log);
	close_pipes(&p);
out:
	free(line);
}

static void test_reopen(struct crid_loop *loop)
{
	struct pipes p;
	struct crid_cri_log *log;
	struct crid_err err = { 0 };
	struct parsed a, b;
	char path[128], old[128];

	log_path(path, sizeof(path), "rot.log");
	log_path(old, sizeof(old), "rot.log.1");
	if (!CHECK(open_pipes(&p) == 0, "pipes"))
		return;
	log = crid_cri_log_open(loop, path, p.out[0], -1, -1, &err);
	if (!CHECK(log != NULL, "open: %s", log ? "" : err.msg))
		return;
	puts_fd(p.out[1], "one\ntwo\n");
	pump(loop, 3);
	CHECK(rename(path, old) == 0, "kubelet renames the file");
	puts_fd(p.out[1], "three\n");
	pump(loop, 3);
	CHECK(crid_cri_log_reopen(log, &err) == 0, "reopen");
	puts_fd(p.out[1], "four\n");
	pump(loop, 3);
	parse_file(old, &a);
	parse_file(path, &b);
	CHECK(a.bad == 0 && strcmp(a.stdout_text, "one\ntwo\nthree\n") == 0,
	      "old file complete: what was read before the reopen");
	CHECK(b.bad == 0 && strcmp(b.stdout_text, "four\n") == 0, "new lines in the new file");
	free_parsed(&a);
	free_parsed(&b);
	{
		struct stat st = { 0 };

		CHECK(stat(path, &st) == 0 && (st.st_mode & 0777) == 0640, "created 0640");
	}
	crid_cri_log_close(log);
	close_pipes(&p);
}

static void test_max_size(struct crid_loop *loop)
{
	struct pipes p;
	struct crid_cri_log *log;
	struct crid_err err = { 0 };
	struct parsed r;
	struct stat st = { 0 };
	char path[128];
	int queued = -1;

	log_path(path, sizeof(path), "max.log");
	if (!CHECK(open_pipes(&p) == 0, "pipes"))
		return;
	log = crid_cri_log_open(loop, path, p.out[0], -1, 200, &err);
	if (!CHECK(log != NULL, "open: %s", log ? "" : err.msg))
		return;
	for (int i = 0; i < 10; i++)
		puts_fd(p.out[1],
			"0123456789012345678901234567890123456789\n"); /* 81-byte record */
	pump(loop, 3);
	if (stat(path, &st) < 0)
		st.st_size = -1;
	CHECK(st.st_size == 162, "two records fit in 200 bytes (%lld)", (long long)st.st_size);
	if (ioctl(p.out[0], FIONREAD, &queued) < 0)
		queued = -1;
	CHECK(queued == 0, "the pipe is still drained: the container does not block (%d)", queued);
	puts_fd(p.out[1], "x\n");
	pump(loop, 3);
	CHECK(stat(path, &st) == 0 && st.st_size == 162, "a short record later is not written");
	CHECK(unlink(path) == 0, "the full file is removed");
	CHECK(crid_cri_log_reopen(log, &err) == 0, "reopen");
	puts_fd(p.out[1], "after\n");
	pump(loop, 3);
	parse_file(path, &r);
	CHECK(r.bad == 0 && strcmp(r.stdout_text, "after\n") == 0, "writing resumes after reopen");
	free_parsed(&r);
	crid_cri_log_close(log);
	close_pipes(&p);
}

/* A real process writes 10,000 lines to each stream through stdio (4 KiB cuts mid-line). */
static void test_fast_writer(struct crid_loop *loop)
{
	char *argv[] = { "sh", "-c", "seq 1 10000 >&2 & seq 1 10000; wait", NULL };
	struct pipes p;
	struct crid_child child;
	struct eof_count eof = { 0 };
	struct crid_cri_log *log;
	struct crid_err err = { 0 };
	struct parsed r;
	char path[128];
	int ok = 1, status = -1;

	log_path(path, sizeof(path), "fast.log");
	if (!CHECK(open_pipes(&p) == 0, "pipes"))
		return;
	log = crid_cri_log_open(loop, path, p.out[0], p.err[0], -1, &err);
	if (!CHECK(log != NULL, "open: %s", log ? "" : err.msg))
		return;
	crid_cri_log_on_eof(log, on_eof, &eof);
	struct crid_spawn_opts o = { "/bin/sh", argv, NULL, -1, p.out[1], p.err[1] };
	if (!CHECK(crid_spawn(loop, &child, &o, on_child_exit, &status, &err) == 0,
		   "spawn a writer of 2 x 10,000 lines"))
		goto out;
	close_fd(&p.out[1]);
	close_fd(&p.err[1]);
	for (int i = 0; i < 100000 && (!eof.calls || status < 0); i++)
		ev_run(loop->ev, EVRUN_ONCE);
	CHECK(eof.calls == 1 && status == 0, "EOF after the writer exited (%d)", status);
	parse_file(path, &r);
	{
		char want[16];
		const char *o = r.stdout_text, *e = r.stderr_text;

		for (int i = 1; i <= 10000 && ok; i++) {
			int n = snprintf(want, sizeof(want), "%d\n", i);

			ok = strncmp(o, want, (size_t)n) == 0 && strncmp(e, want, (size_t)n) == 0;
			o += n;
			e += n;
		}
		CHECK(ok && !*o && !*e && r.bad == 0,
		      "every line once and in order on both streams (%d records, %d P)", r.records,
		      r.p_records);
	}
	free_parsed(&r);
out:
	crid_cri_log_close(log);
	close_pipes(&p);
}

/* A full disk: reading stops (the pipe keeps the rest), writing resumes when space returns. */
static void test_disk_full(struct crid_loop *loop)
{
	char mnt[128], path[192], filler[192];
	struct pipes p;
	struct crid_cri_log *log;
	struct crid_err err = { 0 };
	struct parsed r;
	char block[4096];
	int fd, queued = 0, ok = 1;

	snprintf(mnt, sizeof(mnt), "%s/small", dir);
	snprintf(path, sizeof(path), "%s/c.log", mnt);
	snprintf(filler, sizeof(filler), "%s/filler", mnt);
	if (geteuid() != 0 || unshare(CLONE_NEWNS) < 0 ||
	    mount(NULL, "/", NULL, MS_REC | MS_PRIVATE, NULL) < 0 || mkdir(mnt, 0700) < 0 ||
	    mount("tmpfs", mnt, "tmpfs", 0, "size=64k") < 0) {
		tap_skip("disk full", "needs root to mount a small tmpfs in a mount namespace");
		return;
	}
	fd = open(filler, O_WRONLY | O_CREAT | O_CLOEXEC, 0600);
	memset(block, 'f', sizeof(block));
	while (fd >= 0 && write(fd, block, sizeof(block)) > 0)
		;
	if (fd >= 0)
		close(fd);
	if (!CHECK(open_pipes(&p) == 0, "pipes"))
		return;
	log = crid_cri_log_open(loop, path, p.out[0], -1, -1, &err);
	if (!CHECK(log != NULL, "open on a full tmpfs: %s", log ? "" : err.msg))
		goto out;
	for (int i = 0; i < 100; i++)
		puts_fd(p.out[1], "first batch\n");
	pump(loop, 3);
	for (int i = 0; i < 100; i++)
		puts_fd(p.out[1], "second batch\n");
	pump(loop, 3);
	if (ioctl(p.out[0], FIONREAD, &queued) < 0)
		queued = -1;
	CHECK(queued == 1300, "reading stopped: the second batch waits in the pipe (%d)", queued);
	unlink(filler);
	for (int i = 0; i < 300 && queued; i++) { /* the retry timer fires after a second */
		ev_run(loop->ev, EVRUN_ONCE);
		pump(loop, 2);
		ioctl(p.out[0], FIONREAD, &queued);
	}
	parse_file(path, &r);
	for (int i = 0; i < 200 && ok; i++)
		ok = strncmp(r.stdout_text + (i < 100 ? i * 12 : 1200 + (i - 100) * 13),
			     i < 100 ? "first batch\n" : "second batch\n", i < 100 ? 12 : 13) == 0;
	CHECK(ok && r.out_len == 2500 && r.bad == 0, "nothing lost once space came back (%zu)",
	      r.out_len);
	free_parsed(&r);
	crid_cri_log_close(log);
out:
	close_pipes(&p);
	umount2(mnt, MNT_DETACH);
}

enum settle_case { SETTLE_NO_INTENT, SETTLE_WRITTEN, SETTLE_CUT };

/*
 * What a killed daemon left in a journal (io/cri_log.c, "the journal"), staged
 * with real files: the slice "a\nb\n" is in the journal and the log holds one
 * earlier record plus none, all or part of the slice's records. Opening the
 * journal must leave each line in the log exactly once, whole records only.
 */
static void test_journal_settle(struct crid_loop *loop, enum settle_case how)
{
	static const char *const names[] = { "no intent", "already written", "cut write" };
	char path[128], jdir[128], jpath[192], rec[128], slice[256];
	size_t r0, m = 0;
	struct crid_cri_log *log = NULL;
	struct crid_err err = { 0 };
	struct parsed r;
	struct pipes p;
	int lfd, jfd;
	struct stat st = { 0 };

	snprintf(path, sizeof(path), "%s/settle-%d.log", dir, how);
	snprintf(jdir, sizeof(jdir), "%s/settle-%d", dir, how);
	snprintf(jpath, sizeof(jpath), "%s/stdout.journal", jdir);
	if (!CHECK(mkdir(jdir, 0700) == 0 && open_pipes(&p) == 0, "setup"))
		return;
	r0 = crid_cri_log_format(rec, sizeof(rec), 1, "stdout", 'F', "before", 6);
	m += crid_cri_log_format(slice + m, sizeof(slice) - m, 2, "stdout", 'F', "a", 1);
	m += crid_cri_log_format(slice + m, sizeof(slice) - m, 2, "stdout", 'F', "b", 1);
	lfd = open(path, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0600);
	jfd = open(jpath, O_RDWR | O_CREAT | O_TRUNC | O_CLOEXEC, 0600);
	put(lfd, rec, r0);
	if (how == SETTLE_WRITTEN)
		put(lfd, slice, m);
	if (how == SETTLE_CUT)
		put(lfd, slice, 10);
	CHECK(pwrite(jfd, "a\nb\n", 4, 64) == 4, "journal data");
	if (how != SETTLE_NO_INTENT)
		CHECK(crid_cri_log_put_intent_for_tests(jfd, lfd, (long long)r0, (long long)m) == 0,
		      "intent");
	close(lfd);
	log = crid_cri_log_open(loop, path, p.out[0], -1, -1, &err);
	if (!CHECK(log && crid_cri_log_journal(log, jdir, &err) == 0, "open with a journal (%s)",
		   log ? err.msg : "open"))
		goto out;
	parse_file(path, &r);
	CHECK(r.bad == 0 && strcmp(r.stdout_text, "before\na\nb\n") == 0,
	      "%s: each line once, whole records (%d records, %d bad)", names[how], r.records,
	      r.bad);
	free_parsed(&r);
	CHECK(fstat(jfd, &st) == 0 && st.st_size == 0, "%s: journal emptied (%lld)", names[how],
	      (long long)st.st_size);
	puts_fd(p.out[1], "after\n");
	pump(loop, 3);
	parse_file(path, &r);
	CHECK(strcmp(r.stdout_text, "before\na\nb\nafter\n") == 0, "%s: reading goes on",
	      names[how]);
	free_parsed(&r);
out:
	crid_cri_log_close(log);
	close(jfd);
	close_pipes(&p);
}

/* A full disk with a journal: the slice stays in the journal, nothing lost or doubled. */
static void test_journal_disk_full(struct crid_loop *loop)
{
	char mnt[128], path[192], filler[192], jdir[128];
	struct pipes p;
	struct crid_cri_log *log;
	struct crid_err err = { 0 };
	struct parsed r;
	char block[4096], want[4096];
	int fd, queued = 0, ok;
	size_t n = 0;

	snprintf(mnt, sizeof(mnt), "%s/small-j", dir);
	snprintf(path, sizeof(path), "%s/c.log", mnt);
	snprintf(filler, sizeof(filler), "%s/filler", mnt);
	snprintf(jdir, sizeof(jdir), "%s/bundle-j", dir);
	if (geteuid() != 0 || unshare(CLONE_NEWNS) < 0 ||
	    mount(NULL, "/", NULL, MS_REC | MS_PRIVATE, NULL) < 0 || mkdir(mnt, 0700) < 0 ||
	    mount("tmpfs", mnt, "tmpfs", 0, "size=64k") < 0 || mkdir(jdir, 0700) < 0) {
		tap_skip("disk full, journaled", "needs root to mount a small tmpfs");
		return;
	}
	fd = open(filler, O_WRONLY | O_CREAT | O_CLOEXEC, 0600);
	memset(block, 'f', sizeof(block));
	while (fd >= 0 && write(fd, block, sizeof(block)) > 0)
		;
	if (fd >= 0)
		close(fd);
	if (!CHECK(open_pipes(&p) == 0, "pipes"))
		return;
	log = crid_cri_log_open(loop, path, p.out[0], -1, -1, &err);
	if (!CHECK(log && crid_cri_log_journal(log, jdir, &err) == 0, "open on a full tmpfs"))
		goto out;
	for (int i = 0; i < 100; i++) {
		n += (size_t)snprintf(want + n, sizeof(want) - n, "line %d\n", i);
		if (i == 49) {
			puts_fd(p.out[1], want);
			pump(loop, 3);
		}
	}
	puts_fd(p.out[1], want + strlen("line 0\n") * 10 + strlen("line 10\n") * 40);
	pump(loop, 3);
	if (ioctl(p.out[0], FIONREAD, &queued) < 0)
		queued = -1;
	CHECK(queued > 0, "reading stopped: the second batch waits in the pipe (%d)", queued);
	unlink(filler);
	for (int i = 0; i < 300 && queued; i++) {
		ev_run(loop->ev, EVRUN_ONCE);
		pump(loop, 2);
		ioctl(p.out[0], FIONREAD, &queued);
	}
	pump(loop, 2);
	parse_file(path, &r);
	ok = r.bad == 0 && strcmp(r.stdout_text, want) == 0;
	CHECK(ok, "journaled: nothing lost or doubled once space came back (%zu of %zu bytes)",
	      r.out_len, n);
	free_parsed(&r);
	crid_cri_log_close(log);
out:
	close_pipes(&p);
	umount2(mnt, MNT_DETACH);
}

/* What the tap saw, and what it answers. */
struct tap_rec {
	char seen[256];
	size_t len;
	int streams; /* bit 1: stdout seen, bit 2: stderr seen */
	int in_log;  /* every slice was in the log file when the tap got it */
	bool answer;
	const char *path;
};

static bool tap_fn(void *user, int stream, const uint8_t *data, size_t len)
{
	struct tap_rec *t = user;
	size_t flen;
	char *file = slurp(t->path, &flen);
	char want[64];

	snprintf(want, sizeof(want), " %s F %.*s\n", stream == 2 ? "stderr" : "stdout",
		 (int)(len && data[len - 1] == '\n' ? len - 1 : len), (const char *)data);
	if (!file || !memmem(file, flen, want, strlen(want)))
		t->in_log = 0;
	free(file);
	if (t->len + len <= sizeof(t->seen)) {
		memcpy(t->seen + t->len, data, len);
		t->len += len;
	}
	t->streams |= stream == 2 ? 2 : 1;
	return t->answer;
}

/*
 * The attach tap: slices reach it after the log has them, from both streams;
 * false pauses the reading (the bytes stay in the pipe, the log gets nothing
 * either) until crid_cri_log_pause(log, 0); no tap, no calls. |journaled|
 * runs the FIFO path (splice, read back from the journal), else read(2).
 */
static void test_tap(struct crid_loop *loop, bool journaled)
{
	struct tap_rec t = { .answer = true, .in_log = 1 };
	const char *mode = journaled ? "journaled" : "direct";
	struct crid_cri_log *log;
	struct crid_err err = { 0 };
	char path[128], jdir[160];
	struct pipes p;
	int queued = -1;

	log_path(path, sizeof(path), journaled ? "tap-j.log" : "tap-d.log");
	t.path = path;
	if (!CHECK(open_pipes(&p) == 0, "pipes"))
		return;
	log = crid_cri_log_open(loop, path, p.out[0], p.err[0], -1, &err);
	if (!CHECK(log != NULL, "%s: open", mode))
		return;
	if (journaled) {
		snprintf(jdir, sizeof(jdir), "%s/tapj", dir);
		mkdir(jdir, 0700);
		CHECK(crid_cri_log_journal(log, jdir, &err) == 0, "%s: journal", mode);
	}
	crid_cri_log_set_tap(log, tap_fn, &t);
	puts_fd(p.out[1], "a\n");
	puts_fd(p.err[1], "e\n");
	pump(loop, 3);
	CHECK(t.len == 4 && t.streams == 3 && memmem(t.seen, t.len, "a\n", 2) &&
		  memmem(t.seen, t.len, "e\n", 2),
	      "%s: the tap got both streams (%zu bytes)", mode, t.len);
	CHECK(t.in_log, "%s: each slice was in the log before the tap saw it", mode);

	t.answer = false;
	puts_fd(p.out[1], "b\n");
	pump(loop, 3);
	puts_fd(p.out[1], "c\n");
	pump(loop, 3);
	ioctl(p.out[0], FIONREAD, &queued);
	CHECK(t.len == 6 && queued == 2,
	      "%s: paused after the refused slice: c waits in the pipe "
	      "(tap has %zu bytes, pipe %d)",
	      mode, t.len, queued);
	{
		size_t flen;
		char *file = slurp(path, &flen);

		CHECK(file && !memmem(file, flen, " stdout F c\n", 12),
		      "%s: nor is c in the log while paused", mode);
		free(file);
	}
	t.answer = true;
	crid_cri_log_pause(log, 0);
	pump(loop, 3);
	CHECK(t.len == 8 && !memcmp(t.seen + 6, "c\n", 2) && t.in_log,
	      "%s: resumed: c logged, then tapped", mode);

	crid_cri_log_set_tap(log, NULL, NULL);
	puts_fd(p.out[1], "d\n");
	pump(loop, 3);
	CHECK(t.len == 8, "%s: no tap, no calls", mode);
	crid_cri_log_close(log);
	close_pipes(&p);
	{
		size_t flen;
		char *file = slurp(path, &flen);

		CHECK(file && memmem(file, flen, " stdout F d\n", 12), "%s: d logged", mode);
		free(file);
	}
}

static void on_signal(struct crid_loop *loop, int signo, void *user)
{
	(void)loop, (void)signo, (void)user;
}

static int rm_dir(void)
{
	char cmd[128];

	snprintf(cmd, sizeof(cmd), "rm -rf '%s'", dir);
	return system(cmd);
}

int main(void)
{
	struct crid_loop loop;
	struct crid_err err = { 0 };
	size_t mem0;

	alarm(120); /* a hang is a failure, not a stuck test run */
	snprintf(dir, sizeof(dir), "/tmp/crid-test-cri-log-XXXXXX");
	if (!mkdtemp(dir) || crid_loop_init(&loop, on_signal, NULL, &err) < 0) {
		printf("not ok - setup\n");
		return 1;
	}
	regcomp(&prefix_re,
		"^[0-9]{4}-[0-9]{2}-[0-9]{2}T[0-9]{2}:[0-9]{2}:[0-9]{2}\\.[0-9]{9}Z "
		"(stdout|stderr) [FP] $",
		REG_EXTENDED | REG_NOSUB);
	mem0 = crid_mem_used();
	test_format();
	test_lines_and_eof(&loop);
	test_pty_eof(&loop);
	test_long_line(&loop);
	test_reopen(&loop);
	test_max_size(&loop);
	test_fast_writer(&loop);
	test_disk_full(&loop);
	test_journal_settle(&loop, SETTLE_NO_INTENT);
	test_journal_settle(&loop, SETTLE_WRITTEN);
	test_journal_settle(&loop, SETTLE_CUT);
	test_journal_disk_full(&loop);
	test_tap(&loop, false);
	test_tap(&loop, true);
	CHECK(crid_mem_used() == mem0, "no memory left allocated (%zu)", crid_mem_used() - mem0);
	regfree(&prefix_re);
	crid_loop_destroy(&loop);
	if (rm_dir() != 0)
		printf("# could not remove %s\n", dir);
	return tap_done();
}
