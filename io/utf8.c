/*
 * UTF-8 checks. Protobuf `string` fields and the JSON records crid writes must
 * hold valid UTF-8: protobuf-go refuses anything else while decoding, and
 * yajl refuses it when a record is read back.
 */
#include "io/utf8.h"

#include <string.h>

/* Table 3-7 of the Unicode standard: the second byte's range for each lead byte. */
static size_t seq_len(const uint8_t *s, size_t left)
{
	uint8_t c = s[0], lo = 0x80, hi = 0xbf;
	size_t n;

	if (c < 0x80)
		return 1;
	if (c >= 0xc2 && c <= 0xdf)
		n = 2;
	else if (c >= 0xe0 && c <= 0xef)
		n = 3;
	else if (c >= 0xf0 && c <= 0xf4)
		n = 4;
	else
		return 0; /* continuation byte, overlong C0/C1 lead, or F5..FF */
	if (c == 0xe0)
		lo = 0xa0; /* overlong */
	else if (c == 0xed)
		hi = 0x9f; /* surrogates U+D800..DFFF */
	else if (c == 0xf0)
		lo = 0x90; /* overlong */
	else if (c == 0xf4)
		hi = 0x8f; /* above U+10FFFF */
	if (left < n || s[1] < lo || s[1] > hi)
		return 0;
	for (size_t i = 2; i < n; i++)
		if (s[i] < 0x80 || s[i] > 0xbf)
			return 0;
	return n;
}

size_t crid_utf8_invalid_at(const uint8_t *s, size_t len)
{
	size_t i = 0;

	while (i < len) {
		size_t n = seq_len(s + i, len - i);

		if (!n)
			return i;
		i += n;
	}
	return len;
}

size_t crid_utf8_scrub(char *s)
{
	size_t len = strlen(s), i = 0, n = 0;

	while (i < len) {
		i += crid_utf8_invalid_at((const uint8_t *)s + i, len - i);
		if (i < len) {
			s[i++] = '?';
			n++;
		}
	}
	return n;
}
