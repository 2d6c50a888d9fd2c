/*
 * The CRI container log format as cridctl logs reads it, the way kubelet's
 * kuberuntime/logs does: one line per write, "<RFC3339Nano> <stdout|stderr>
 * <F|P> <message>", where P marks a partial line that the following pieces of
 * the same stream continue up to an F. Pure functions, unit-tested.
 */
#ifndef CRIDCTL_LOGS_H
#define CRIDCTL_LOGS_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>

enum cridctl_log_stream {
	CRIDCTL_LOG_STDOUT = 0,
	CRIDCTL_LOG_STDERR = 1,
};

/* One log line, its message pointing into the parsed text. */
struct cridctl_log_line {
	int64_t ts; /* ns since the epoch */
	enum cridctl_log_stream stream;
	bool partial;
	const char *msg;
	size_t len;
};

/*
 * Parses one line of |len| bytes (without its '\n'). Returns 0, or -1 when
 * the line is not in the CRI format (bad time, stream or tag).
 */
int cridctl_log_parse_line(const char *line, size_t len, struct cridctl_log_line *out);

/* RFC 3339 with optional fraction and zone ('Z' or +hh:mm) to ns; -1 when malformed. */
int cridctl_parse_rfc3339(const char *s, size_t len, int64_t *ns);

/* A whole log entry: the P pieces of a stream joined with their F. */
struct cridctl_log_entry {
	int64_t ts; /* of the first piece */
	enum cridctl_log_stream stream;
	char *msg; /* owned, NUL-terminated, without the newline */
	size_t len;
};

struct cridctl_log {
	struct cridctl_log_entry *entries;
	size_t n, cap;
	struct cridctl_log_entry pending[2]; /* per stream: P pieces not yet ended by an F */
	size_t bad;			     /* lines not in the CRI format, skipped */
};

/*
 * Feeds |len| bytes of log text: every complete line is parsed and appended
 * (joined per stream); an unterminated last line is not consumed. Returns the
 * number of bytes consumed, or -1 when out of memory.
 */
long cridctl_log_feed(struct cridctl_log *l, const char *text, size_t len);

/* Ends pending P pieces as entries (at the end of a log that will not grow); -1 on ENOMEM. */
int cridctl_log_flush(struct cridctl_log *l);

/*
 * The first entry to show: the last |tail| entries (tail < 0: all), of
 * those only the ones at or after |since_ns| (0: no limit), as kubelet does.
 */
size_t cridctl_log_select(const struct cridctl_log *l, long tail, int64_t since_ns);

/* Drops the first |n| entries (already shown, when following). */
void cridctl_log_consume(struct cridctl_log *l, size_t n);

/* Writes |e| to |out| (stdout entries) or |err| as kubelet does; |timestamps| prefixes the time. */
void cridctl_log_write(const struct cridctl_log_entry *e, bool timestamps, FILE *out, FILE *err);

void cridctl_log_free(struct cridctl_log *l);

/*
 * --since as crictl takes it (docker's GetTimestamp): a Go duration before
 * |now_ns| ("42m", "1h30m"), an RFC 3339 time or date (local time when no
 * zone is given), or Unix seconds with an optional fraction. -1 when malformed.
 */
int cridctl_parse_since(const char *value, int64_t now_ns, int64_t *ns);

/* A Go duration ("1.5s", "300ms"; a bare number is seconds) in ns; -1 when malformed. */
int cridctl_parse_duration_ns(const char *s, int64_t *ns);

#endif
