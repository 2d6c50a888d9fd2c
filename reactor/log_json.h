/*
 * `--log-format json`: the text line's fields as one JSON object per line,
 *   {"time":"2026-11-23T14:30:00.123456Z","level":"info","msg":"rpc=Version dur=12us","rpc":"Version","dur":"12us"}
 * "msg" is the whole message as the text format prints it; each `key=value`
 * token in it (a value may be double-quoted, as `msg="..."` of failing
 * calls is) also becomes a string field, a key that would repeat time,
 * level or msg getting a trailing `_` ("msg_"). Always valid JSON in valid
 * UTF-8: bytes that are not UTF-8 become U+FFFD, and a line too long for
 * the buffer is cut between characters, never inside an escape.
 */
#ifndef CRID_LOG_JSON_H
#define CRID_LOG_JSON_H

#include <stddef.h>

/*
 * Escapes |n| bytes of |s| as the inside of a JSON string into |dst| (|cap|
 * bytes, no NUL written). Returns the bytes written; sets *|cut| when not
 * all of |s| fitted.
 */
size_t crid_log_json_escape(char *dst, size_t cap, const char *s, size_t n, int *cut);

/*
 * Writes the object for one event, ending in "\n", into |buf| (at least
 * 128 bytes). Returns its length.
 */
size_t crid_log_json_line(char *buf, size_t cap, const char *time, const char *level,
			  const char *msg);

#endif
