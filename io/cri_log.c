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
 *   in the file when the callback returns, which is what makes a kill -9 of
 *   crid lose nothing (the rest waits in the pipe, held by the fd store).
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

		if (on && s->fd >= 0 && !s->eof)
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

static void emit(struct crid_cri_log *log, const char *ts, const char *stream, char tag,
		 const char *line, size_t len)
{
	size_t n = record_len(stream, len);

	if (!log->limited && log->max_size >= 0 && log->size + (long long)n > log->max_size)
		limit_reached(log);
	if (log->limited) {
		log->discarded += (long long)len;
		return;
	}
	log->size += (long long)n;
	if (out_len + n > OUT_CAP)
		flush_out(log);
	put_record(out_buf + out_len, ts, stream, tag, line, len);
	out_len += n;
}

/* Cuts |buf| into records: F up to each newline, P for 16 KiB pieces and a newline-less tail. */
static void split_lines(struct crid_cri_log *log, const char *stream, const char *buf, size_t len,
			const char *ts)
{
	while (len > 0) {
		size_t look = len < PIECE_MAX + 1 ? len : PIECE_MAX + 1;
		const char *nl = memchr(buf, '\n', look);

		if (nl) {
			size_t n = (size_t)(nl - buf);

			emit(log, ts, stream, 'F', buf, n);
			buf += n + 1;
			len -= n + 1;
		} else {
			size_t n = len < PIECE_MAX ? len : PIECE_MAX;

			emit(log, ts, stream, 'P', buf, n);
			buf += n;
			len -= n;
		}
	}
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
		if (log->streams[i].fd >= 0 && !log->streams[i].eof)
			return;
	log->done = 1;
	if (log->eof_fn)
		crid_loop_before_sleep(log->loop, &log->eof_hook);
}

static void on_readable(struct ev_loop *ev, ev_io *w, int revents)
{
	struct log_stream *s = w->data;
	struct crid_cri_log *log = s->log;
	ssize_t n;

	(void)revents;
	n = read(s->fd, read_buf, sizeof(read_buf));
	if (n < 0 && (errno == EAGAIN || errno == EINTR))
		return;
	if (n <= 0) {
		/* a pty master reads EIO once the last slave closed: a terminal's EOF */
		if (n < 0 && errno != EIO)
			crid_log_error("container log `%s`: read %s: %s", log->path, s->name,
				       strerror(errno));
		s->eof = 1;
		ev_io_stop(ev, w);
		check_done(log);
		return;
	}
	crid_debug_point("log-after-read");
	{
		struct timespec now;
		char ts[TS_LEN];

		clock_gettime(CLOCK_REALTIME, &now);
		format_time(ts, (long long)now.tv_sec * 1000000000LL + now.tv_nsec);
		split_lines(log, s->name, read_buf, (size_t)n, ts);
	}
	flush_out(log);
	crid_debug_point("log-after-write");
}

/* Tries the kept bytes again; on success reading resumes. */
static void retry_pending(struct crid_cri_log *log)
{
	const char *p = log->pending;
	size_t n = log->pending_len;
	int code = write_all(log->file_fd, &p, &n);

	memmove(log->pending, p, n);
	log->pending_len = n;
	if (code)
		return;
	ev_timer_stop(log->loop->ev, &log->retry);
	crid_free(log->pending);
	log->pending = NULL;
	log->pending_cap = 0;
	crid_log_info("container log `%s`: writes resumed", log->path);
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
	if (log->pending_len)
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

int crid_cri_log_done(const struct crid_cri_log *log)
{
	return log->done;
}

void crid_cri_log_close(struct crid_cri_log *log)
{
	if (!log)
		return;
	set_reading(log, 0);
	ev_timer_stop(log->loop->ev, &log->retry);
	crid_loop_cancel_before_sleep(log->loop, &log->eof_hook);
	if (log->pending_len) {
		const char *p = log->pending;
		size_t n = log->pending_len;

		if (write_all(log->file_fd, &p, &n))
			crid_log_error(
			    "container log `%s` closed with %zu bytes it could not write",
			    log->path, n);
	}
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
	split_lines(log, stream == 2 ? "stderr" : "stdout", buf, len, ts);
	flush_out(log);
}
