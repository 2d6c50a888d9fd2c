#include "runtime/stream/pf_error.h"

#include <errno.h>
#include <stdio.h>
#include <string.h>

/*
 * Appends |s| JSON-escaped as Go's encoding/json does with its default
 * SetEscapeHTML(true): \" \\ \n \r \t, other controls and < > & as \u00XX.
 * Stops before an escape that would not fit in |room|.
 */
static size_t escape(char *out, size_t room, const char *s)
{
	static const char hex[] = "0123456789abcdef";
	size_t n = 0;

	for (; *s; s++) {
		unsigned char c = (unsigned char)*s;
		char esc[7];
		size_t len;

		if (c == '"' || c == '\\') {
			esc[0] = '\\', esc[1] = (char)c, len = 2;
		} else if (c == '\n' || c == '\r' || c == '\t') {
			esc[0] = '\\', esc[1] = c == '\n' ? 'n' : c == '\r' ? 'r' : 't', len = 2;
		} else if (c < 0x20 || c == '<' || c == '>' || c == '&') {
			memcpy(esc, "\\u00", 4);
			esc[4] = hex[c >> 4], esc[5] = hex[c & 15], len = 6;
		} else {
			esc[0] = (char)c, len = 1;
		}
		if (n + len > room)
			break;
		memcpy(out + n, esc, len);
		n += len;
	}
	return n;
}

size_t crid_pf_error_json(char *out, size_t size, uint16_t port, const char *pod, const char *cause,
			  bool close_connection)
{
	/* The text is what upstream's fmt.Errorf makes; the uid is empty for CRI. */
	char msg[CRID_PF_ERROR_MAX];
	const char *head =
	    close_connection ? "{\"closeConnection\":true,\"message\":\"" : "{\"message\":\"";
	size_t n, tail = 4; /* "}\n and the NUL */

	snprintf(msg, sizeof(msg), "error forwarding port %u to pod %s, uid : %s", port, pod,
		 cause);
	n = strlen(head);
	memcpy(out, head, n);
	n += escape(out + n, size - n - tail, msg);
	memcpy(out + n, "\"}\n", 4);
	return n + 3;
}

bool crid_pf_error_keeps_connection(int code)
{
	return code == EPIPE || code == ECONNRESET;
}
