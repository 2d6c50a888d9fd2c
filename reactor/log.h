/*
 * Leveled logging, one line per event on stderr:
 *   2026-11-23T14:30:00.123456Z info rpc=Version dur=12us ...
 * Lines are written with a single write(2) so they never interleave.
 * `--log-format json` writes the same event as one JSON object per line
 * instead (reactor/log_json.h).
 */
#ifndef CRID_LOG_H
#define CRID_LOG_H

enum crid_log_level {
	CRID_LOG_ERROR = 0,
	CRID_LOG_WARN,
	CRID_LOG_INFO,
	CRID_LOG_DEBUG,
	CRID_LOG_TRACE,
};

/* Parses "error", "warn"/"warning", "info", "debug", "trace". Returns 0 or -1. */
int crid_log_level_parse(const char *name, enum crid_log_level *out);
const char *crid_log_level_name(enum crid_log_level level);

void crid_log_set_level(enum crid_log_level level);

/* "text" (the default) or "json"; -1 for any other name. */
int crid_log_set_format(const char *name);
int crid_log_enabled(enum crid_log_level level);

void crid_log(enum crid_log_level level, const char *fmt, ...)
    __attribute__((format(printf, 2, 3)));

#define crid_log_error(...) crid_log(CRID_LOG_ERROR, __VA_ARGS__)
#define crid_log_warn(...) crid_log(CRID_LOG_WARN, __VA_ARGS__)
#define crid_log_info(...) crid_log(CRID_LOG_INFO, __VA_ARGS__)
#define crid_log_debug(...)                                                                        \
	do {                                                                                       \
		if (crid_log_enabled(CRID_LOG_DEBUG))                                              \
			crid_log(CRID_LOG_DEBUG, __VA_ARGS__);                                     \
	} while (0)

#endif
