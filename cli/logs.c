/*
 * cridctl logs: reads the container's CRI log file named in
 * ContainerStatus.log_path, as crictl does through kubelet's kuberuntime/logs
 * (ReadLogs): --tail picks the last N entries, then --since drops older ones;
 * stdout entries go to stdout and stderr entries to stderr; -f follows the file
 * across rotation until the container is no longer running.
 * Calls the daemon through rpc.c; the log format itself is in logs.h.
 */
#include <ctype.h>
#include <errno.h>
#include <fcntl.h>
#include <getopt.h>
#include <inttypes.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#include "cli/cridctl.h"
#include "cli/logs.h"
#include "reactor/mem.h"

#define NS_PER_S 1000000000LL

/* --- times ------------------------------------------------------------------------ */

static int digits(const char **p, const char *end, int n, int *out)
{
	int v = 0;

	for (int i = 0; i < n; i++, (*p)++) {
		if (*p >= end || !isdigit((unsigned char)**p))
			return -1;
		v = v * 10 + (**p - '0');
	}
	*out = v;
	return 0;
}

/* ".123456789" after the seconds: at most 9 digits count, more are ignored as Go does. */
static int64_t fraction(const char **p, const char *end)
{
	int64_t ns = 0, scale = 100000000;

	if (*p >= end || **p != '.')
		return 0;
	for ((*p)++; *p < end && isdigit((unsigned char)**p); (*p)++) {
		ns += (**p - '0') * scale;
		scale /= 10;
	}
	return ns;
}

/*
 * "YYYY-MM-DD[Thh:mm[:ss[.frac]]][Z|+hh:mm]" into |tm|, |frac| and the zone
 * offset; *zoned says whether a zone was given. -1 when malformed.
 */
static int parse_time(const char *s, size_t len, struct tm *tm, int64_t *frac, long *off,
		      bool *zoned)
{
	const char *p = s, *end = s + len;
	int zh, zm;

	memset(tm, 0, sizeof(*tm));
	*frac = 0;
	*off = 0;
	*zoned = false;
	if (digits(&p, end, 4, &tm->tm_year) < 0 || p >= end || *p++ != '-' ||
	    digits(&p, end, 2, &tm->tm_mon) < 0 || p >= end || *p++ != '-' ||
	    digits(&p, end, 2, &tm->tm_mday) < 0)
		return -1;
	tm->tm_year -= 1900;
	tm->tm_mon -= 1;
	if (p < end && *p == 'T') {
		p++;
		if (digits(&p, end, 2, &tm->tm_hour) < 0 || p >= end || *p++ != ':' ||
		    digits(&p, end, 2, &tm->tm_min) < 0)
			return -1;
		if (p < end && *p == ':') {
			p++;
			if (digits(&p, end, 2, &tm->tm_sec) < 0)
				return -1;
			*frac = fraction(&p, end);
		}
	}
	if (p < end && (*p == 'Z' || *p == 'z')) {
		*zoned = true;
		p++;
	} else if (p < end && (*p == '+' || *p == '-')) {
		int sign = *p++ == '-' ? -1 : 1;

		if (digits(&p, end, 2, &zh) < 0 || p >= end || *p++ != ':' ||
		    digits(&p, end, 2, &zm) < 0)
			return -1;
		*off = sign * (zh * 3600L + zm * 60L);
		*zoned = true;
	}
	if (p != end || tm->tm_mon < 0 || tm->tm_mon > 11 || tm->tm_mday < 1 || tm->tm_mday > 31 ||
	    tm->tm_hour > 23 || tm->tm_min > 59 || tm->tm_sec > 60)
		return -1;
	return 0;
}

int cridctl_parse_rfc3339(const char *s, size_t len, int64_t *ns)
{
	struct tm tm;
	int64_t frac;
	long off;
	bool zoned;

	if (parse_time(s, len, &tm, &frac, &off, &zoned) < 0 || !zoned ||
	    memchr(s, 'T', len) == NULL)
		return -1;
	*ns = ((int64_t)timegm(&tm) - off) * NS_PER_S + frac;
	return 0;
}

int cridctl_parse_duration_ns(const char *s, int64_t *ns)
{
	static const struct {
		const char *unit;
		double ns;
	} units[] = { { "ns", 1 },  { "us", 1e3 }, { "\xc2\xb5s", 1e3 }, { "ms", 1e6 },
		      { "s", 1e9 }, { "m", 6e10 }, { "h", 3.6e12 } };
	double total = 0;
	const char *p = s;

	if (strcmp(s, "0") == 0) {
		*ns = 0;
		return 0;
	}
	if (!*p)
		return -1;
	while (*p) {
		char *end;
		double v;
		size_t i;

		if (!isdigit((unsigned char)*p) && *p != '.')
			return -1;
		v = strtod(p, &end);
		for (i = 0; i < sizeof(units) / sizeof(units[0]); i++) {
			size_t n = strlen(units[i].unit);

			if (strncmp(end, units[i].unit, n) == 0 && !isalpha((unsigned char)end[n]))
				break;
		}
		if (i == sizeof(units) / sizeof(units[0]))
			return -1;
		total += v * units[i].ns;
		p = end + strlen(units[i].unit);
	}
	if (total > 9.2e18)
		return -1;
	*ns = (int64_t)total;
	return 0;
}

int cridctl_parse_since(const char *value, int64_t now_ns, int64_t *ns)
{
	struct tm tm;
	int64_t d, frac;
	long off;
	bool zoned;
	char *end;

	if (strcmp(value, "0") != 0 && cridctl_parse_duration_ns(value, &d) == 0) {
		*ns = now_ns - d;
		return 0;
	}
	if (parse_time(value, strlen(value), &tm, &frac, &off, &zoned) == 0) {
		time_t t;

		if (zoned) {
			t = timegm(&tm) - off;
		} else {
			tm.tm_isdst = -1; /* docker: a time without a zone is local time */
			t = mktime(&tm);
		}
		*ns = (int64_t)t * NS_PER_S + frac;
		return 0;
	}
	errno = 0;
	d = strtoll(value, &end, 10);
	if (end == value || errno || (*end && *end != '.') || d < 0)
		return -1;
	if (*end == '.') {
		const char *p = end;

		frac = fraction(&p, value + strlen(value));
		if (*p)
			return -1;
	} else {
		frac = 0;
	}
	*ns = d * NS_PER_S + frac;
	return 0;
}

/* --- the CRI log format ----------------------------------------------------------- */

int cridctl_log_parse_line(const char *line, size_t len, struct cridctl_log_line *out)
{
	const char *end = line + len, *sp = memchr(line, ' ', len), *p;

	if (!sp || cridctl_parse_rfc3339(line, (size_t)(sp - line), &out->ts) < 0)
		return -1;
	p = sp + 1;
	if (end - p >= 7 && memcmp(p, "stdout ", 7) == 0)
		out->stream = CRIDCTL_LOG_STDOUT;
	else if (end - p >= 7 && memcmp(p, "stderr ", 7) == 0)
		out->stream = CRIDCTL_LOG_STDERR;
	else
		return -1;
	p += 7;
	/* the tag may carry more ':'-separated parts later; its first is P or F */
	if (p >= end || (*p != 'P' && *p != 'F'))
		return -1;
	out->partial = *p == 'P';
	while (p < end && *p != ' ')
		p++;
	if (p < end)
		p++;
	out->msg = p;
	out->len = (size_t)(end - p);
	return 0;
}

static int push_entry(struct cridctl_log *l, struct cridctl_log_entry *e)
{
	if (l->n == l->cap) {
		size_t cap = l->cap ? l->cap * 2 : 64;
		void *p = crid_realloc(l->entries, cap * sizeof(*l->entries));

		if (!p)
			return -1;
		l->entries = p;
		l->cap = cap;
	}
	l->entries[l->n++] = *e;
	memset(e, 0, sizeof(*e));
	return 0;
}

/* Appends a line's message to its stream's pending entry; an F ends the entry. */
static int add_line(struct cridctl_log *l, const struct cridctl_log_line *ln)
{
	struct cridctl_log_entry *e = &l->pending[ln->stream];
	char *msg = crid_realloc(e->msg, e->len + ln->len + 1);

	if (!msg)
		return -1;
	if (!e->msg)
		e->ts = ln->ts;
	e->msg = msg;
	e->stream = ln->stream;
	memcpy(e->msg + e->len, ln->msg, ln->len);
	e->len += ln->len;
	e->msg[e->len] = '\0';
	return ln->partial ? 0 : push_entry(l, e);
}

long cridctl_log_feed(struct cridctl_log *l, const char *text, size_t len)
{
	size_t off = 0;

	for (;;) {
		const char *nl = memchr(text + off, '\n', len - off);
		struct cridctl_log_line ln;

		if (!nl)
			return (long)off;
		if (cridctl_log_parse_line(text + off, (size_t)(nl - text - off), &ln) < 0)
			l->bad++;
		else if (add_line(l, &ln) < 0)
			return -1;
		off = (size_t)(nl - text) + 1;
	}
}

int cridctl_log_flush(struct cridctl_log *l)
{
	struct cridctl_log_entry *a = &l->pending[0], *b = &l->pending[1];

	/* the older piece first */
	if (a->msg && b->msg && b->ts < a->ts) {
		a = &l->pending[1];
		b = &l->pending[0];
	}
	if (a->msg && push_entry(l, a) < 0)
		return -1;
	if (b->msg && push_entry(l, b) < 0)
		return -1;
	return 0;
}

size_t cridctl_log_select(const struct cridctl_log *l, long tail, int64_t since_ns)
{
	size_t first = tail >= 0 && (size_t)tail < l->n ? l->n - (size_t)tail : 0;

	while (first < l->n && l->entries[first].ts < since_ns)
		first++;
	return first;
}

void cridctl_log_consume(struct cridctl_log *l, size_t n)
{
	if (n > l->n)
		n = l->n;
	for (size_t i = 0; i < n; i++)
		crid_free(l->entries[i].msg);
	if (l->n > n) /* an empty log has no entries array: memmove may not take NULL */
		memmove(l->entries, l->entries + n, (l->n - n) * sizeof(*l->entries));
	l->n -= n;
}

/* kubelet's timeFormatOut: RFC 3339 with all nine digits of the fraction, here in UTC. */
void cridctl_log_write(const struct cridctl_log_entry *e, bool timestamps, FILE *out, FILE *err)
{
	FILE *f = e->stream == CRIDCTL_LOG_STDERR ? err : out;

	if (timestamps) {
		time_t t = (time_t)(e->ts / NS_PER_S - (e->ts % NS_PER_S < 0));
		int64_t frac = e->ts - (int64_t)t * NS_PER_S;
		struct tm tm;
		char date[32];

		gmtime_r(&t, &tm);
		strftime(date, sizeof(date), "%Y-%m-%dT%H:%M:%S", &tm);
		fprintf(f, "%s.%09" PRId64 "Z ", date, frac);
	}
	fwrite(e->msg, 1, e->len, f);
	fputc('\n', f);
}

void cridctl_log_free(struct cridctl_log *l)
{
	cridctl_log_consume(l, l->n);
	crid_free(l->entries);
	crid_free(l->pending[0].msg);
	crid_free(l->pending[1].msg);
	memset(l, 0, sizeof(*l));
}

/* --- the verb --------------------------------------------------------------------- */

struct logs_opts {
	bool follow, timestamps;
	long tail;
	int64_t since;
};

static int logs_opts(int argc, char **argv, const char *usage, struct logs_opts *o)
{
	static const struct option longs[] = {
		{ "follow", no_argument, NULL, 'f' },	  { "timestamps", no_argument, NULL, 't' },
		{ "tail", required_argument, NULL, 'T' }, { "since", required_argument, NULL, 'S' },
		{ "help", no_argument, NULL, 'h' },	  { NULL, 0, NULL, 0 },
	};
	char *end;
	int opt;

	memset(o, 0, sizeof(*o));
	o->tail = -1;
	optind = 0;
	opterr = 0;
	while ((opt = getopt_long(argc, argv, "+fth", longs, NULL)) != -1) {
		switch (opt) {
		case 'f':
			o->follow = true;
			break;
		case 't':
			o->timestamps = true;
			break;
		case 'T':
			o->tail = strtol(optarg, &end, 10);
			if (*end || end == optarg) {
				fprintf(stderr, "cridctl: logs: invalid --tail `%s`\n", optarg);
				return -1;
			}
			break;
		case 'S':
			if (cridctl_parse_since(optarg, cridctl_now_ns(), &o->since) < 0) {
				fprintf(stderr, "cridctl: logs: invalid --since `%s`\n", optarg);
				return -1;
			}
			break;
		case 'h':
			printf("%s", usage);
			return 1;
		default:
			fprintf(stderr, "cridctl: logs: bad option `%s`\n%s", argv[optind - 1],
				usage);
			return -1;
		}
	}
	if (argc - optind != 1) {
		fprintf(stderr, "cridctl: logs: expected one CONTAINER-ID\n%s", usage);
		return -1;
	}
	return 0;
}

/* The container's status; *running says whether it still is. */
static Runtime__V1__ContainerStatusResponse *logs_status(struct cridctl *ctl, const char *id)
{
	Runtime__V1__ContainerStatusRequest req = RUNTIME__V1__CONTAINER_STATUS_REQUEST__INIT;
	Runtime__V1__ContainerStatusResponse *r;

	req.container_id = (char *)id;
	if (cridctl_call(ctl, "ContainerStatus", &req.base,
			 &runtime__v1__container_status_response__descriptor,
			 (ProtobufCMessage **)&r) < 0)
		return NULL;
	if (!r->status) {
		fprintf(stderr, "cridctl: logs: no status for container %s\n", id);
		protobuf_c_message_free_unpacked(&r->base, NULL);
		return NULL;
	}
	return r;
}

static bool still_running(struct cridctl *ctl, const char *id)
{
	Runtime__V1__ContainerStatusResponse *r = logs_status(ctl, id);
	bool running = r && r->status->state == RUNTIME__V1__CONTAINER_STATE__CONTAINER_RUNNING;

	if (r)
		protobuf_c_message_free_unpacked(&r->base, NULL);
	return running;
}

struct log_reader {
	int fd;
	char buf[65536];
	size_t len; /* unconsumed bytes: an unterminated last line */
	struct cridctl_log log;
};

/* Reads what the file has now; returns bytes read, 0 at EOF, -1 on error (printed). */
static ssize_t read_more(struct log_reader *r, const char *path)
{
	ssize_t n = read(r->fd, r->buf + r->len, sizeof(r->buf) - r->len);
	long used;

	if (n < 0) {
		fprintf(stderr, "cridctl: logs: read `%s`: %s\n", path, strerror(errno));
		return -1;
	}
	r->len += (size_t)n;
	used = cridctl_log_feed(&r->log, r->buf, r->len);
	if (used < 0) {
		fprintf(stderr, "cridctl: logs: out of memory\n");
		return -1;
	}
	if ((size_t)used == 0 && r->len == sizeof(r->buf))
		used = (long)r->len; /* a line longer than the buffer: not CRI, skip */
	memmove(r->buf, r->buf + used, r->len - (size_t)used);
	r->len -= (size_t)used;
	return n;
}

/* Prints the entries selected so far and drops them; keeps only |tail| while reading. */
static void emit(struct log_reader *r, const struct logs_opts *o, long tail, bool final)
{
	if (!final && tail >= 0) {
		if (r->log.n > (size_t)tail)
			cridctl_log_consume(&r->log, r->log.n - (size_t)tail);
		return;
	}
	for (size_t i = cridctl_log_select(&r->log, tail, o->since); i < r->log.n; i++)
		cridctl_log_write(&r->log.entries[i], o->timestamps, stdout, stderr);
	cridctl_log_consume(&r->log, r->log.n);
	fflush(stdout);
	fflush(stderr);
}

/* A rotated log (kubelet renames it, the runtime reopens): a new inode at |path|. */
static bool rotated(int fd, const char *path)
{
	struct stat a, b;

	return fstat(fd, &a) == 0 && stat(path, &b) == 0 &&
	       (a.st_ino != b.st_ino || a.st_dev != b.st_dev);
}

static int follow(struct cridctl *ctl, const char *id, const char *path, struct log_reader *r,
		  const struct logs_opts *o)
{
	struct timespec pause = { 0, 200 * 1000000 };
	int idle = 0;

	for (;;) {
		ssize_t n = read_more(r, path);

		if (n < 0)
			return -1;
		emit(r, o, -1, true);
		if (n > 0) {
			idle = 0;
			continue;
		}
		if (rotated(r->fd, path)) {
			int fd = open(path, O_RDONLY | O_CLOEXEC);

			if (fd >= 0) {
				close(r->fd);
				r->fd = fd;
				continue;
			}
		}
		/* kubelet checks the container once no data came for a while */
		if (++idle % 5 == 0 && !still_running(ctl, id)) {
			if (cridctl_log_flush(&r->log) < 0)
				return -1;
			emit(r, o, -1, true);
			return 0;
		}
		nanosleep(&pause, NULL);
	}
}

int cridctl_logs(struct cridctl *ctl, int argc, char **argv)
{
	static const char usage[] =
	    "Usage: cridctl logs [options] CONTAINER-ID\n"
	    "Fetch the logs of a container (from its CRI log file)\n"
	    "  -f, --follow       follow log output until the container stops\n"
	    "  --tail N           number of lines to show from the end (default: all)\n"
	    "  --since TIME       since a time (2013-01-02T13:23:37Z) or relative (42m)\n"
	    "  -t, --timestamps   show timestamps\n";
	Runtime__V1__ContainerStatusResponse *st;
	struct log_reader *r;
	struct logs_opts o;
	const char *id, *path;
	int rc = logs_opts(argc, argv, usage, &o);

	if (rc)
		return rc < 0;
	id = argv[optind];
	st = logs_status(ctl, id);
	if (!st)
		return 1;
	path = st->status->log_path;
	rc = 1;
	r = crid_calloc(1, sizeof(*r));
	if (!r) {
		fprintf(stderr, "cridctl: logs: out of memory\n");
		goto out;
	}
	r->fd = -1;
	if (!path[0]) {
		fprintf(stderr, "cridctl: logs: the container has not set log path\n");
		goto out;
	}
	r->fd = open(path, O_RDONLY | O_CLOEXEC);
	if (r->fd < 0) {
		fprintf(stderr, "cridctl: logs: open `%s`: %s\n", path, strerror(errno));
		goto out;
	}
	for (ssize_t n = 1; n > 0;) {
		n = read_more(r, path);
		if (n < 0)
			goto out;
		emit(r, &o, o.tail, false);
	}
	if (!o.follow && cridctl_log_flush(&r->log) < 0)
		goto out;
	emit(r, &o, o.tail, true);
	rc = o.follow ? follow(ctl, st->status->id[0] ? st->status->id : id, path, r, &o) < 0 : 0;
out:
	if (r && r->fd >= 0)
		close(r->fd);
	if (r)
		cridctl_log_free(&r->log);
	crid_free(r);
	protobuf_c_message_free_unpacked(&st->base, NULL);
	return rc;
}
