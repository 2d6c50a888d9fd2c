/*
 * JSON log lines (reactor/log_json.h). RFC 8259 escaping: `"`, `\` and the
 * control characters below 0x20 (short forms where JSON has them), and
 * DEL passed through; multi-byte UTF-8 is checked as io/utf8.c does (no
 * overlongs, no surrogates, nothing past U+10FFFF), since a consumer such
 * as Python's json module refuses the whole line otherwise.
 */
#include "reactor/log_json.h"

#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>
#include <string.h>

/* Length of the valid UTF-8 sequence at |s| (|n| bytes left), 0 when invalid. */
static size_t utf8_len(const unsigned char *s, size_t n)
{
	uint32_t cp;
	size_t len;

	if (s[0] < 0x80)
		return 1;
	if (s[0] >= 0xc2 && s[0] <= 0xdf)
		len = 2, cp = s[0] & 0x1f;
	else if (s[0] >= 0xe0 && s[0] <= 0xef)
		len = 3, cp = s[0] & 0x0f;
	else if (s[0] >= 0xf0 && s[0] <= 0xf4)
		len = 4, cp = s[0] & 0x07;
	else
		return 0;
	if (n < len)
		return 0;
	for (size_t i = 1; i < len; i++) {
		if ((s[i] & 0xc0) != 0x80)
			return 0;
		cp = cp << 6 | (s[i] & 0x3f);
	}
	if ((len == 3 && (cp < 0x800 || (cp >= 0xd800 && cp <= 0xdfff))) ||
	    (len == 4 && (cp < 0x10000 || cp > 0x10ffff)))
		return 0;
	return len;
}

size_t crid_log_json_escape(char *dst, size_t cap, const char *s, size_t n, int *cut)
{
	const unsigned char *p = (const unsigned char *)s;
	size_t out = 0, i = 0;

	while (i < n) {
		char esc[8];
		const char *piece = esc;
		size_t len, take = 1;

		if (p[i] == '"' || p[i] == '\\') {
			esc[0] = '\\', esc[1] = (char)p[i], len = 2;
		} else if (p[i] == '\n' || p[i] == '\t' || p[i] == '\r') {
			esc[0] = '\\',
			esc[1] = p[i] == '\n'	? 'n'
				 : p[i] == '\t' ? 't'
						: 'r',
			len = 2;
		} else if (p[i] < 0x20) {
			len = (size_t)snprintf(esc, sizeof(esc), "\\u%04x", p[i]);
		} else if ((take = utf8_len(p + i, n - i)) == 0) {
			piece = "\\ufffd", len = 6, take = 1;
		} else {
			piece = s + i, len = take;
		}
		if (out + len > cap) {
			*cut = 1;
			return out;
		}
		memcpy(dst + out, piece, len);
		out += len;
		i += take;
	}
	return out;
}

/* Appends `"text"`-less raw bytes when they fit; false otherwise (nothing written). */
static bool raw(char *buf, size_t cap, size_t *len, const char *s, size_t n)
{
	if (*len + n > cap)
		return false;
	memcpy(buf + *len, s, n);
	*len += n;
	return true;
}

/* Appends `,"key":"value"` whole or not at all, keeping |room| bytes free for the end. */
static void field(char *buf, size_t cap, size_t *len, const char *key, size_t key_len,
		  const char *val, size_t val_len, bool suffix, size_t room)
{
	size_t at = *len, lim = cap - room;
	int cut = 0;

	if (!raw(buf, lim, len, ",\"", 2))
		goto undo;
	*len += crid_log_json_escape(buf + *len, lim - *len, key, key_len, &cut);
	if (cut || (suffix && !raw(buf, lim, len, "_", 1)) || !raw(buf, lim, len, "\":\"", 3))
		goto undo;
	*len += crid_log_json_escape(buf + *len, lim - *len, val, val_len, &cut);
	if (cut || !raw(buf, lim, len, "\"", 1))
		goto undo;
	return;
undo:
	*len = at;
}

static bool key_char(char c)
{
	return (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9') ||
	       c == '_' || c == '-' || c == '.';
}

/*
 * The quote ending a value that began before |p|: the first one at the end
 * of the message or before ` key=`. The text format prints values as they
 * are (`msg="container "x" not found"`), so a quote inside is no end.
 */
static const char *closing_quote(const char *p)
{
	for (; (p = strchr(p, '"')); p++) {
		const char *k = p + 2;

		if (p[1] == '\0')
			return p;
		if (p[1] != ' ')
			continue;
		while (key_char(*k))
			k++;
		if (k > p + 2 && *k == '=')
			return p;
	}
	return NULL;
}

/* The `key=value` tokens of |msg|, each appended as a field. */
static void pairs(char *buf, size_t cap, size_t *len, const char *msg)
{
	const char *p = msg;

	while (*p) {
		const char *key = p, *val, *end;
		size_t key_len;
		bool suffix;

		while (key_char(*p))
			p++;
		if (p == key || *p != '=') {
			p += strcspn(p, " "); /* not a pair: skip the word */
			p += strspn(p, " ");
			continue;
		}
		key_len = (size_t)(p - key);
		val = ++p;
		if (*val == '"' && (end = closing_quote(val + 1))) {
			val++;
			p = end + 1;
		} else {
			end = p + strcspn(p, " ");
			p = end;
		}
		suffix = !strncmp(key, "time=", 5) || !strncmp(key, "level=", 6) ||
			 !strncmp(key, "msg=", 4);
		field(buf, cap, len, key, key_len, val, (size_t)(end - val), suffix, 2);
		p += strspn(p, " ");
	}
}

size_t crid_log_json_line(char *buf, size_t cap, const char *time, const char *level,
			  const char *msg)
{
	size_t len = 0;
	int cut = 0;

	/* |time| and |level| are the logger's own ASCII: 40 bytes at most */
	len +=
	    (size_t)snprintf(buf, cap, "{\"time\":\"%s\",\"level\":\"%s\",\"msg\":\"", time, level);
	len += crid_log_json_escape(buf + len, cap - len - 3, msg, strlen(msg), &cut);
	buf[len++] = '"';
	pairs(buf, cap, &len, msg);
	buf[len++] = '}';
	buf[len++] = '\n';
	return len;
}
