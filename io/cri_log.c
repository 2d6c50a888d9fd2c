/*
 * The CRI container log writer.
 *
 * What lands in the file mirrors conmon (CRI-O's writer, src/ctr_logging.c
 * write_k8s_log) and containerd (pkg/cri/io/logger.go), both of which kubelet
 * parses (pkg/kubelet/kuberuntime/logs):
 *
 * - One record per line: "<time> <stream> F <bytes>\n". The line's bytes are
 *   passed through untouched (no UTF-8 check, a '\r' before the '\n' stays:
 *   kubelet appends the '\n' back to F records, so "a\r\n" reads back as sent).
 * - Time: UTC with a "Z" and always 9 fraction digits (conmon writes 9 digits
 *   with the local offset, containerd RFC3339Nano which trims zeros; kubelet
 *   parses both with time.RFC3339Nano). One time per read slice, as conmon.
 * - A piece of a line is written as "P" when it has no newline: a line longer
 *   than 16 KiB (containerd's max_container_log_line_size default) is cut into
 *   16 KiB P pieces, and the bytes at the end of a read slice that have no
 *   newline yet are written at once as a P piece (conmon does the same at its
 *   read boundaries). kubelet joins P pieces with the next F. So a line that
 *   never got its newline before EOF ends as P, as with both runtimes.
 *   Nothing read is held in memory across loop iterations: what was read is
 *   in the file when the callback returns (the rest waits in the pipe, held
 *   by the fd store), and with a journal (below) a kill -9 at any point of
 *   the copy loses and doubles nothing.
 * - EOF: read() returning 0 on a FIFO, or EIO on a pty master (a terminal
 *   container's output) once the last holder of the slave closed it.
 * - Back-pressure: a write that fails (ENOSPC, EIO) keeps the unwritten bytes,
 *   says so once, stops reading both streams (the pipes fill and the
 *   container's writes wait) and retries every second or on reopen.
 * - Size limit: a record that would take the file past |max_size| is not
 *   written, nor is anything after it until ReopenContainerLog gives a new
 *   file; the streams keep being read so the container never blocks on a full
 *   log. (conmon's log_size_max instead truncates the file and continues,
 *   losing the older lines; kubelet's own rotation is the normal way a file
 *   stays small, the limit is a safety net.)
 */
#include "io/cri_log.h"

#include <errno.h>
#include <fcntl.h>
#include <stdint.h>
#include <stdio.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#include "io/cri_log_testing.h"
#include "reactor/debug_point.h"
#include "reactor/log.h"
#include "reactor/mem.h"

#define PIECE_MAX (16 * 1024)  /* longest line content per record */
#define READ_SLICE (64 * 1024) /* bytes read per stream per callback */
#define OUT_CAP (128 * 1024)   /* formatted bytes per write(2) */
#define TS_LEN 30	       /* 2026-11-30T05:40:07.123456789Z */
#define RETRY_SECONDS 1.0

struct log_stream {
	struct crid_cri_log *log;
	ev_io io;
	const char *name;
	int fd;
	int eof;
	int jfd;     /* the stream's journal, or -1 (no journal: read(2) straight) */
	size_t jlen; /* bytes in the journal, not yet known to be in the log */
};

struct crid_cri_log {
	struct crid_loop *loop;
	char *path;
	int file_fd;
	long long size; /* bytes in the file, including those still pending */
	long long max_size;
	long long discarded; /* bytes not written since the size limit was reached */
	struct log_stream streams[2];
	char *pending; /* formatted bytes the file refused, written before anything else */
	size_t pending_len, pending_cap;
	ev_timer retry;
	int limited;
	int done;
	struct crid_before_sleep eof_hook;
	void (*eof_fn)(void *user);
	void *eof_user;
	int eof_called;
	crid_cri_log_tap_fn tap; /* the attach sessions' view of what was written */
	void *tap_user;
	int paused;	/* a tap asked to stop reading until crid_cri_log_pause(log, 0) */
	int journaling; /* a journaled slice is being written: failures go to |write_err| */
	int write_err;	/* errno of the first failed write of that slice */
};

/* One loop thread: the slice being read and the records being formatted. */
static char read_buf[READ_SLICE];
static char out_buf[OUT_CAP];
static size_t out_len;

/* Writes "YYYY-MM-DDTHH:MM:SS.nnnnnnnnnZ" (TS_LEN bytes, no NUL); the date part is cached. */
static void format_time(char *ts, long long unix_ns)
{
	static long long cached_sec = -1;
	static char cached[64];
	long long sec = unix_ns / 1000000000LL;
	long long nsec = unix_ns % 1000000000LL;
	char frac[16];

	if (nsec < 0) {
		nsec += 1000000000LL;
		sec--;
	}
	if (sec != cached_sec || cached_sec < 0) {
		time_t t = (time_t)sec;
		struct tm tm;

		if (!gmtime_r(&t, &tm) || tm.tm_year + 1900 < 0 || tm.tm_year + 1900 > 9999)
			memset(&tm, 0,
			       sizeof(tm)); /* outside RFC 3339: 1900-01-00, never reached */
		snprintf(cached, sizeof(cached), "%04d-%02d-%02dT%02d:%02d:%02d", tm.tm_year + 1900,
			 tm.tm_mon + 1, tm.tm_mday, tm.tm_hour, tm.tm_min, tm.tm_sec);
		cached_sec = sec;
	}
	memcpy(ts, cached, 19);
	snprintf(frac, sizeof(frac), ".%09lldZ", nsec);
	memcpy(ts + 19, frac, 11);
}

static size_t record_len(const char *stream, size_t len)
{
	return TS_LEN + 1 + strlen(stream) + 3 + len + 1;
}

/* |buf| has room for record_len(). */
static void put_record(char *buf, const char *ts, const char *stream, char tag, const char *line,
		       size_t len)
{
	size_t slen = strlen(stream);

	memcpy(buf, ts, TS_LEN);
	buf += TS_LEN;
	*buf++ = ' ';
	memcpy(buf, stream, slen);
	buf += slen;
	*buf++ = ' ';
	*buf++ = tag;
	*buf++ = ' ';
	if (len)
		memcpy(buf, line, len);
	buf[len] = '\n';
}

size_t crid_cri_log_format(char *buf, size_t size, long long unix_ns, const char *stream, char tag,
			   const char *line, size_t len)
{
	size_t n = record_len(stream, len);
	char ts[TS_LEN];

	if (n > size)
		return n;
	format_time(ts, unix_ns);
	put_record(buf, ts, stream, tag, line, len);
	return n;
}

static void set_reading(struct crid_cri_log *log, int on)
{
	for (int i = 0; i < 2; i++) {
		struct log_stream *s = &log->streams[i];

		if (on && !log->paused && s->fd >= 0 && !s->eof)
			ev_io_start(log->loop->ev, &s->io);
		else
			ev_io_stop(log->loop->ev, &s->io);
	}
}

/* Keeps |n| formatted bytes for later; only out of memory loses them (and says so). */
static void keep_pending(struct crid_cri_log *log, const char *p, size_t n)
{
	if (log->pending_len + n > log->pending_cap) {
		size_t cap = log->pending_cap ? log->pending_cap : OUT_CAP;
		char *np;

		while (cap < log->pending_len + n)
			cap *= 2;
		np = crid_realloc(log->pending, cap);
		if (!np) {
			crid_log_error(
			    "container log `%s`: out of memory, %zu bytes of output lost",
			    log->path, n);
			log->size -= (long long)n;
			return;
		}
		log->pending = np;
		log->pending_cap = cap;
	}
	memcpy(log->pending + log->pending_len, p, n);
	log->pending_len += n;
}

/* Writes |*p|..|*n| fully or stops at the first error (returned as errno). */
static int write_all(int fd, const char **p, size_t *n)
{
	while (*n > 0) {
		ssize_t w = write(fd, *p, *n);

		if (w < 0 && errno == EINTR)
			continue;
		if (w <= 0)
			return w < 0 ? errno : EIO;
		*p += w;
		*n -= (size_t)w;
	}
	return 0;
}

static void start_failing(struct crid_cri_log *log, int code)
{
	if (ev_is_active(&log->retry))
		return; /* still failing: said once */
	crid_log_error("container log `%s`: write: %s; the container's output waits in its pipes "
		       "until the file takes it",
		       log->path, strerror(code));
	set_reading(log, 0);
	ev_timer_set(&log->retry, RETRY_SECONDS, RETRY_SECONDS);
	ev_timer_start(log->loop->ev, &log->retry);
}

/* Writes the formatted records; what the file refuses is kept in |pending|. */
static void flush_out(struct crid_cri_log *log)
{
	const char *p = out_buf;
	size_t n = out_len;
	int code;

	out_len = 0;
	if (!n)
		return;
	if (log->journaling) { /* the journal keeps the slice; nothing is kept here */
		if (!log->write_err)
			log->write_err = write_all(log->file_fd, &p, &n);
		return;
	}
	if (log->pending_len) {
		keep_pending(log, p, n);
		return;
	}
	code = write_all(log->file_fd, &p, &n);
	if (code) {
		keep_pending(log, p, n);
		start_failing(log, code);
	}
}

static void limit_reached(struct crid_cri_log *log)
{
	log->limited = 1;
	crid_log_warn("container log `%s` reached its size limit of %lld bytes; the container's "
		      "output is discarded until the log is reopened",
		      log->path, log->max_size);
}

/* Where one record goes: formatted into |out_buf|, or only counted. */
struct sink {
	struct crid_cri_log *log;
	const char *ts, *stream;
	int count_only;
	long long size; /* counting: the file size the records would make */
	int limited;	/* counting: the limit would be reached */
	size_t total;	/* counting: bytes the records would add */
};

static void emit(struct sink *k, char tag, const char *line, size_t len)
{
	struct crid_cri_log *log = k->log;
	size_t n = record_len(k->stream, len);

	if (k->count_only) {
		if (!k->limited && log->max_size >= 0 && k->size + (long long)n > log->max_size)
			k->limited = 1;
		if (!k->limited) {
			k->size += (long long)n;
			k->total += n;
		}
		return;
	}
	if (!log->limited && log->max_size >= 0 && log->size + (long long)n > log->max_size)
		limit_reached(log);
	if (log->limited) {
		log->discarded += (long long)len;
		return;
	}
	log->size += (long long)n;
	if (out_len + n > OUT_CAP)
		flush_out(log);
	put_record(out_buf + out_len, k->ts, k->stream, tag, line, len);
	out_len += n;
}

/* Cuts |buf| into records: F up to each newline, P for 16 KiB pieces and a newline-less tail. */
static void split_lines(struct sink *k, const char *buf, size_t len)
{
	while (len > 0) {
		size_t look = len < PIECE_MAX + 1 ? len : PIECE_MAX + 1;
		const char *nl = memchr(buf, '\n', look);

		if (nl) {
			size_t n = (size_t)(nl - buf);

			emit(k, 'F', buf, n);
			buf += n + 1;
			len -= n + 1;
		} else {
			size_t n = len < PIECE_MAX ? len : PIECE_MAX;

			emit(k, 'P', buf, n);
			buf += n;
			len -= n;
		}
	}
}

static void write_slice(struct crid_cri_log *log, const char *stream, const char *buf, size_t len,
			const char *ts)
{
	struct sink k = { .log = log, .ts = ts, .stream = stream };

	split_lines(&k, buf, len);
	flush_out(log);
}

/* Bytes the records of |buf| will add to the file (size limit included). */
static size_t slice_len(struct crid_cri_log *log, const char *stream, const char *buf, size_t len)
{
	struct sink k = { .log = log, .stream = stream, .count_only = 1 };

	k.size = log->size;
	k.limited = log->limited;
	split_lines(&k, buf, len);
	return k.total;
}

static void eof_hook_cb(struct crid_before_sleep *hook)
{
	struct crid_cri_log *log =
	    (struct crid_cri_log *)((char *)hook - offsetof(struct crid_cri_log, eof_hook));

	if (!log->eof_fn || log->eof_called)
		return;
	log->eof_called = 1;
	log->eof_fn(log->eof_user); /* may close |log| */
}

static void check_done(struct crid_cri_log *log)
{
	if (log->done || log->pending_len)
		return;
	for (int i = 0; i < 2; i++)
		if ((log->streams[i].fd >= 0 && !log->streams[i].eof) || log->streams[i].jlen)
			return;
	log->done = 1;
	if (log->eof_fn)
		crid_loop_before_sleep(log->loop, &log->eof_hook);
}

static void now_ts(char *ts)
{
	struct timespec now;

	clock_gettime(CLOCK_REALTIME, &now);
	format_time(ts, (long long)now.tv_sec * 1000000000LL + now.tv_nsec);
}

/*
 * Hands a slice that is now in the log to the tap: a stream's bytes reach an
 * attach client in the order the log has them, never before the log. A tap
 * that returns false stops the reading (the pipe fills, the container's
 * writes wait) until crid_cri_log_pause(log, 0).
 */
static void tap_slice(struct crid_cri_log *log, const struct log_stream *s, const char *buf,
		      size_t len)
{
	if (!log->tap || !len)
		return;
	if (!log->tap(log->tap_user, s == &log->streams[1] ? 2 : 1, (const uint8_t *)buf, len))
		crid_cri_log_pause(log, 1);
}

/* ---- the journal: exactly once across kill -9 ----
 *
 * Why: a byte read(2) from the FIFO lives only in crid's memory until
 * write(2) puts it in the log, so a kill -9 between the two (or during the
 * write: a fatal signal can cut a regular-file write short) loses it, and
 * re-reading is impossible (a pipe has no peek and no offset). Holding the
 * bytes somewhere that survives the process is the only way; the cheapest
 * place is a small file next to the FIFO (the bundle dir), filled with
 * splice(2) FIFO -> file: the kernel consumes from the pipe exactly the
 * bytes it put in the file, in one call, so no byte is ever only in
 * crid's memory. (tee(2) + read would leave "was it consumed?" unanswerable
 * after a crash; a persisted consumed-byte count cannot be updated in the
 * same step as the read.)
 *
 * A slice, one stream, one callback:
 *   1. splice FIFO -> journal at JOURNAL_DATA       ["log-after-read"]
 *   2. pread the journal, count the records' bytes |m|
 *   3. pwrite the intent {log file, size before |off|, |m|} at offset 0
 *                                                   ["log-after-intent"]
 *   4. write the records to the log (O_APPEND)     ["log-after-write"]
 *   5. ftruncate the journal to 0: data and intent go in one step
 * Restart (journal_settle): no data -> nothing to do; data without intent
 * -> the log never got it: write it; an intent and the log at off + m or
 * more -> written: drop the journal; the log between off and off + m -> a
 * cut write: truncate the log back to off and write the slice again. Only
 * this writer appends to the file, so off..off+m is this slice's alone.
 * Cost: splice, pread, pwrite, write, ftruncate per slice instead of read,
 * write — per slice of up to 64 KiB, not per line.
 * Not covered: a terminal's pty master (splice needs a pipe) keeps the
 * read/write path; its window is the time between the two calls.
 */

#define JOURNAL_MAGIC 0x6372696a726e6c31ULL /* "crijrnl1" */
#define JOURNAL_DATA 64			    /* the intent lives in front of the data */

struct journal_intent {
	uint64_t magic, dev, ino;
	int64_t off, len;
	uint64_t check;
};

static uint64_t intent_check(const struct journal_intent *in)
{
	return in->magic ^ in->dev ^ (in->ino * 31) ^ ((uint64_t)in->off * 17) ^
	       ((uint64_t)in->len * 13) ^ 0x5a5a5a5a5a5a5a5aULL;
}

static int file_id(int fd, uint64_t *dev, uint64_t *ino, long long *size)
{
	struct stat st;

	if (fstat(fd, &st) < 0)
		return -1;
	*dev = (uint64_t)st.st_dev;
	*ino = (uint64_t)st.st_ino;
	*size = (long long)st.st_size;
	return 0;
}

/*
 * Step 3: says which bytes of which file the slice is about to become. |*off|
 * gets the file's real size (the slice starts there: O_APPEND).
 */
static int put_intent(struct crid_cri_log *log, struct log_stream *s, size_t m, long long *off)
{
	struct journal_intent in = { .magic = JOURNAL_MAGIC, .len = (int64_t)m };

	if (file_id(log->file_fd, &in.dev, &in.ino, off) < 0)
		return -1;
	in.off = *off;
	in.check = intent_check(&in);
	return pwrite(s->jfd, &in, sizeof(in), 0) == (ssize_t)sizeof(in) ? 0 : -1;
}

static void journal_error(struct crid_cri_log *log, struct log_stream *s, const char *what)
{
	crid_log_error("container log `%s`: %s journal: %s: %s; reading it without a journal "
		       "from now on",
		       log->path, s->name, what, strerror(errno));
}

/* The slice's write failed: take back what got in and keep the journal for a retry. */
static void slice_failed(struct crid_cri_log *log, struct log_stream *s, long long off)
{
	static const struct journal_intent none;

	if (ftruncate(log->file_fd, off) == 0)
		log->size = off;
	/* no intent: the data is "not in the log", whatever the other stream writes next */
	if (pwrite(s->jfd, &none, sizeof(none), 0) < 0)
		journal_error(log, s, "clear intent");
	start_failing(log, log->write_err);
	log->write_err = 0;
}

/*
 * Steps 2-5 for the bytes in |s|'s journal. Returns 0; -1 when the log
 * refused them (kept for the retry); -2 when the journal itself failed.
 */
static int journal_write(struct crid_cri_log *log, struct log_stream *s)
{
	ssize_t n = pread(s->jfd, read_buf, s->jlen, JOURNAL_DATA);
	long long off;
	char ts[TS_LEN];

	if (n != (ssize_t)s->jlen) {
		journal_error(log, s, "read");
		return -2;
	}
	if (put_intent(log, s, slice_len(log, s->name, read_buf, s->jlen), &off) < 0) {
		journal_error(log, s, "write intent");
		return -2;
	}
	crid_debug_point("log-after-intent");
	now_ts(ts);
	log->journaling = 1;
	write_slice(log, s->name, read_buf, s->jlen, ts);
	log->journaling = 0;
	if (log->write_err) {
		slice_failed(log, s, off);
		return -1;
	}
	crid_debug_point("log-after-write");
	if (ftruncate(s->jfd, 0) < 0) {
		journal_error(log, s, "truncate");
		return -2;
	}
	s->jlen = 0;
	tap_slice(log, s, read_buf, (size_t)n); /* read back above: a tap costs no extra read */
	return 0;
}

/* A journal that cannot be trusted any more is dropped: the stream goes on with read(2). */
static void journal_drop(struct log_stream *s)
{
	if (s->jfd >= 0)
		close(s->jfd);
	s->jfd = -1;
	s->jlen = 0;
}

static void stream_eof(struct crid_cri_log *log, struct log_stream *s)
{
	s->eof = 1;
	ev_io_stop(log->loop->ev, &s->io);
	check_done(log);
}

/* Step 1. Returns bytes now in the journal, 0 when nothing to read (or EOF, then handled). */
static ssize_t journal_fill(struct crid_cri_log *log, struct log_stream *s)
{
	off64_t at = JOURNAL_DATA;
	ssize_t n = splice(s->fd, NULL, s->jfd, &at, READ_SLICE, SPLICE_F_NONBLOCK);

	if (n < 0 && (errno == EAGAIN || errno == EINTR))
		return 0;
	if (n < 0) {
		crid_log_error("container log `%s`: splice %s: %s", log->path, s->name,
			       strerror(errno));
		n = 0;
	}
	if (n == 0) {
		stream_eof(log, s);
		return 0;
	}
	s->jlen = (size_t)n;
	crid_debug_point("log-after-read");
	return n;
}

static void read_journaled(struct crid_cri_log *log, struct log_stream *s)
{
	if (s->jlen == 0 && journal_fill(log, s) <= 0)
		return;
	if (journal_write(log, s) == -2)
		journal_drop(s); /* the journal itself broke: better read(2) than nothing */
}

/* Without a journal (a pty, or the journal broke): read, then write. */
static void read_direct(struct crid_cri_log *log, struct log_stream *s)
{
	ssize_t n = read(s->fd, read_buf, sizeof(read_buf));
	char ts[TS_LEN];

	if (n < 0 && (errno == EAGAIN || errno == EINTR))
		return;
	if (n <= 0) {
		/* a pty master reads EIO once the last slave closed: a terminal's EOF */
		if (n < 0 && errno != EIO)
			crid_log_error("container log `%s`: read %s: %s", log->path, s->name,
				       strerror(errno));
		stream_eof(log, s);
		return;
	}
	crid_debug_point("log-after-read");
	now_ts(ts);
	write_slice(log, s->name, read_buf, (size_t)n, ts);
	crid_debug_point("log-after-write");
	tap_slice(log, s, read_buf, (size_t)n);
}

static void on_readable(struct ev_loop *ev, ev_io *w, int revents)
{
	struct log_stream *s = w->data;

	(void)ev;
	(void)revents;
	if (s->jfd >= 0)
		read_journaled(s->log, s);
	else
		read_direct(s->log, s);
}

/* Tries the kept bytes and the journals again; on success reading resumes. */
static void retry_pending(struct crid_cri_log *log)
{
	if (log->pending_len) {
		const char *p = log->pending;
		size_t n = log->pending_len;
		int code = write_all(log->file_fd, &p, &n);

		memmove(log->pending, p, n);
		log->pending_len = n;
		if (code)
			return;
		crid_free(log->pending);
		log->pending = NULL;
		log->pending_cap = 0;
	}
	for (int i = 0; i < 2; i++) {
		struct log_stream *s = &log->streams[i];

		if (s->jfd >= 0 && s->jlen) {
			int r = journal_write(log, s);

			if (r == -1)
				return;
			if (r == -2)
				journal_drop(s);
		}
	}
	if (ev_is_active(&log->retry))
		crid_log_info("container log `%s`: writes resumed", log->path);
	ev_timer_stop(log->loop->ev, &log->retry);
	set_reading(log, 1);
	check_done(log);
}

static void on_retry(struct ev_loop *ev, ev_timer *w, int revents)
{
	(void)ev;
	(void)revents;
	retry_pending(w->data);
}

static int open_file(const char *path, long long *size, struct crid_err *err)
{
	struct stat st;
	int fd = open(path, O_WRONLY | O_APPEND | O_CREAT | O_CLOEXEC | O_NOFOLLOW, 0640);

	if (fd < 0)
		return crid_err_set(err, errno, "open container log `%s`", path);
	if (fstat(fd, &st) < 0) {
		crid_err_set(err, errno, "stat container log `%s`", path);
		close(fd);
		return -1;
	}
	*size = (long long)st.st_size;
	return fd;
}

static int init_stream(struct crid_cri_log *log, int i, int fd, const char *name,
		       struct crid_err *err)
{
	struct log_stream *s = &log->streams[i];
	int fl;

	s->log = log;
	s->fd = fd;
	s->jfd = -1;
	s->name = name;
	ev_io_init(&s->io, on_readable, fd, EV_READ);
	s->io.data = s;
	if (fd < 0)
		return 0;
	fl = fcntl(fd, F_GETFL);
	if (fl < 0 || fcntl(fd, F_SETFL, fl | O_NONBLOCK) < 0)
		return crid_err_set(err, errno, "container log `%s`: make %s non-blocking",
				    log->path, name);
	return 0;
}

struct crid_cri_log *crid_cri_log_open(struct crid_loop *loop, const char *path, int out_fd,
				       int err_fd, long long max_size, struct crid_err *err)
{
	struct crid_cri_log *log = crid_calloc(1, sizeof(*log));

	if (!log || !(log->path = crid_strdup(path))) {
		crid_free(log);
		crid_err_set(err, ENOMEM, "container log `%s`", path);
		return NULL;
	}
	log->loop = loop;
	log->max_size = max_size;
	ev_timer_init(&log->retry, on_retry, RETRY_SECONDS, RETRY_SECONDS);
	log->retry.data = log;
	log->eof_hook.fn = eof_hook_cb;
	if (init_stream(log, 0, out_fd, "stdout", err) < 0 ||
	    init_stream(log, 1, err_fd, "stderr", err) < 0)
		goto fail;
	log->file_fd = open_file(path, &log->size, err);
	if (log->file_fd < 0)
		goto fail;
	if (max_size >= 0 && log->size >= max_size)
		limit_reached(log);
	set_reading(log, 1);
	check_done(log);
	return log;
fail:
	crid_free(log->path);
	crid_free(log);
	return NULL;
}

static int journal_open(struct crid_cri_log *log, struct log_stream *s, const char *dir,
			struct crid_err *err)
{
	char path[4096];
	struct stat st;
	int n;

	if (s->fd < 0 || fstat(s->fd, &st) < 0 || !S_ISFIFO(st.st_mode))
		return 0; /* a pty master: splice needs a pipe */
	n = snprintf(path, sizeof(path), "%s/%s.journal", dir, s->name);
	if (n < 0 || (size_t)n >= sizeof(path))
		return crid_err_set(err, ENAMETOOLONG, "container log `%s`: journal in `%s`",
				    log->path, dir);
	s->jfd = open(path, O_RDWR | O_CREAT | O_CLOEXEC | O_NOFOLLOW, 0600);
	if (s->jfd < 0 || fstat(s->jfd, &st) < 0) {
		crid_err_set(err, errno, "container log `%s`: open journal `%s`", log->path, path);
		journal_drop(s);
		return -1;
	}
	s->jlen = st.st_size > JOURNAL_DATA ? (size_t)(st.st_size - JOURNAL_DATA) : 0;
	if (s->jlen > READ_SLICE) { /* splice never puts more there: not a journal of ours */
		crid_log_warn("container log `%s`: `%s` is larger than a slice; emptied", log->path,
			      path);
		s->jlen = 0;
		if (ftruncate(s->jfd, 0) < 0)
			journal_drop(s);
	}
	return 0;
}

/* What a killed daemon left in |s|'s journal: drop it if the log has it, else undo a cut write. */
static void journal_settle(struct crid_cri_log *log, struct log_stream *s)
{
	struct journal_intent in;
	uint64_t dev, ino;
	long long size;

	if (!s->jlen)
		return;
	if (pread(s->jfd, &in, sizeof(in), 0) != (ssize_t)sizeof(in) || in.magic != JOURNAL_MAGIC ||
	    in.check != intent_check(&in))
		return; /* no intent: the log never got these bytes */
	if (file_id(log->file_fd, &dev, &ino, &size) < 0)
		return;
	if (dev != in.dev || ino != in.ino) {
		crid_log_warn("container log `%s`: replaced while crid was down; %zu %s bytes "
			      "are written again and may appear twice",
			      log->path, s->jlen, s->name);
		return;
	}
	if (size >= in.off + in.len) {
		crid_log_debug("container log `%s`: %zu %s bytes of the last slice were already "
			       "in the log",
			       log->path, s->jlen, s->name);
		if (ftruncate(s->jfd, 0) == 0)
			s->jlen = 0;
		return;
	}
	if (size > in.off && ftruncate(log->file_fd, in.off) == 0) {
		crid_log_info("container log `%s`: a write cut by the crash is undone and redone",
			      log->path);
		log->size = in.off;
	}
}

int crid_cri_log_journal(struct crid_cri_log *log, const char *dir, struct crid_err *err)
{
	int r = 0;

	for (int i = 0; i < 2; i++)
		if (journal_open(log, &log->streams[i], dir, err) < 0)
			r = -1;
	for (int i = 0; i < 2; i++)
		journal_settle(log, &log->streams[i]);
	for (int i = 0; i < 2; i++) {
		struct log_stream *s = &log->streams[i];

		if (s->jfd >= 0 && s->jlen && !ev_is_active(&log->retry) &&
		    journal_write(log, s) == -2)
			journal_drop(s);
	}
	return r;
}

int crid_cri_log_reopen(struct crid_cri_log *log, struct crid_err *err)
{
	long long size;
	int fd = open_file(log->path, &size, err);

	if (fd < 0)
		return -1;
	close(log->file_fd);
	log->file_fd = fd;
	if (log->discarded)
		crid_log_info("container log `%s` reopened; %lld bytes of output were discarded "
			      "over its size limit",
			      log->path, log->discarded);
	log->discarded = 0;
	log->limited = 0;
	/* Kept bytes go to the new file: they were never in the old one. */
	log->size = size + (long long)log->pending_len;
	if (log->max_size >= 0 && size >= log->max_size)
		limit_reached(log);
	if (log->pending_len || log->streams[0].jlen || log->streams[1].jlen)
		retry_pending(log);
	return 0;
}

void crid_cri_log_on_eof(struct crid_cri_log *log, void (*fn)(void *user), void *user)
{
	log->eof_fn = fn;
	log->eof_user = user;
	if (log->done && fn && !log->eof_called)
		crid_loop_before_sleep(log->loop, &log->eof_hook);
}

void crid_cri_log_set_tap(struct crid_cri_log *log, crid_cri_log_tap_fn fn, void *user)
{
	log->tap = fn;
	log->tap_user = user;
}

void crid_cri_log_pause(struct crid_cri_log *log, int paused)
{
	if (log->paused == !!paused)
		return;
	log->paused = !!paused;
	if (!ev_is_active(&log->retry)) /* a failing file keeps the streams stopped itself */
		set_reading(log, !paused);
}

int crid_cri_log_done(const struct crid_cri_log *log)
{
	return log->done;
}

void crid_cri_log_close(struct crid_cri_log *log)
{
	if (!log)
		return;
	set_reading(log, 0);
	crid_loop_cancel_before_sleep(log->loop, &log->eof_hook);
	if (log->pending_len) {
		const char *p = log->pending;
		size_t n = log->pending_len;

		if (write_all(log->file_fd, &p, &n))
			crid_log_error(
			    "container log `%s` closed with %zu bytes it could not write",
			    log->path, n);
	}
	for (int i = 0; i < 2; i++) {
		struct log_stream *s = &log->streams[i];

		if (s->jfd >= 0 && s->jlen && journal_write(log, s) < 0)
			crid_log_error("container log `%s` closed with %zu %s bytes it could not "
				       "write (left in its journal)",
				       log->path, s->jlen, s->name);
		journal_drop(s);
	}
	ev_timer_stop(log->loop->ev, &log->retry); /* after the last try, which may start it */
	close(log->file_fd);
	crid_free(log->pending);
	crid_free(log->path);
	crid_free(log);
}

void crid_cri_log_feed_for_tests(struct crid_cri_log *log, int stream, const void *buf, size_t len,
				 long long unix_ns)
{
	char ts[TS_LEN];

	format_time(ts, unix_ns);
	write_slice(log, stream == 2 ? "stderr" : "stdout", buf, len, ts);
}

int crid_cri_log_put_intent_for_tests(int journal_fd, int log_fd, long long off, long long len)
{
	struct journal_intent in = { .magic = JOURNAL_MAGIC, .off = off, .len = len };
	long long size;

	if (file_id(log_fd, &in.dev, &in.ino, &size) < 0)
		return -1;
	in.check = intent_check(&in);
	return pwrite(journal_fd, &in, sizeof(in), 0) == (ssize_t)sizeof(in) ? 0 : -1;
}
