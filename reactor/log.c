#include "reactor/log.h"
#include "reactor/log_json.h"

#include <stdarg.h>
#include <stdio.h>
#include <string.h>
#include <strings.h>
#include <time.h>
#include <unistd.h>

static enum crid_log_level current = CRID_LOG_INFO;
static int json_format;

static const char *const names[] = { "error", "warn", "info", "debug", "trace" };

int crid_log_level_parse(const char *name, enum crid_log_level *out)
{
	for (size_t i = 0; i < sizeof(names) / sizeof(names[0]); i++) {
		if (strcasecmp(name, names[i]) == 0) {
			*out = (enum crid_log_level)i;
			return 0;
		}
	}
	if (strcasecmp(name, "warning") == 0) {
		*out = CRID_LOG_WARN;
		return 0;
	}
	return -1;
}

const char *crid_log_level_name(enum crid_log_level level)
{
	return level <= CRID_LOG_TRACE ? names[level] : "?";
}

void crid_log_set_level(enum crid_log_level level)
{
	current = level;
}

int crid_log_set_format(const char *name)
{
	if (strcmp(name, "text") && strcmp(name, "json"))
		return -1;
	json_format = strcmp(name, "json") == 0;
	return 0;
}

int crid_log_enabled(enum crid_log_level level)
{
	return level <= current;
}

/* The same event as one JSON object: the message first, then the line around it. */
static void write_json(const char *line, size_t time_len, enum crid_log_level level,
		       const char *msg)
{
	char time[40], out[8192];
	size_t n;

	snprintf(time, sizeof(time), "%.*s", (int)time_len, line);
	n = crid_log_json_line(out, sizeof(out), time, crid_log_level_name(level), msg);
	if (write(STDERR_FILENO, out, n) < 0)
		return; /* nowhere left to report a failing stderr */
}

void crid_log(enum crid_log_level level, const char *fmt, ...)
{
	char line[2048];
	struct timespec ts;
	struct tm tm;
	size_t n, time_len;
	int r;
	va_list ap;

	if (!crid_log_enabled(level))
		return;
	clock_gettime(CLOCK_REALTIME, &ts);
	gmtime_r(&ts.tv_sec, &tm);
	n = strftime(line, sizeof(line), "%Y-%m-%dT%H:%M:%S", &tm);
	r = snprintf(line + n, sizeof(line) - n, ".%06ldZ %s ", ts.tv_nsec / 1000,
		     crid_log_level_name(level));
	time_len = n + 8; /* through the `Z` */
	n += r > 0 ? (size_t)r : 0;
	va_start(ap, fmt);
	r = vsnprintf(line + n, sizeof(line) - n, fmt, ap);
	va_end(ap);
	if (json_format) {
		write_json(line, time_len, level, line + n);
		return;
	}
	if (r > 0)
		n += (size_t)r;
	if (n > sizeof(line) - 2)
		n = sizeof(line) - 2;
	line[n++] = '\n';
	if (write(STDERR_FILENO, line, n) < 0)
		return; /* nowhere left to report a failing stderr */
}
