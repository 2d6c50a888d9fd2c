/*
 * libFuzzer target for `--log-format json` lines: any message bytes (and any
 * buffer size from 128 up) give one line that ends in "}\n", fits the
 * buffer, holds no raw control character or invalid UTF-8 (every byte is
 * escaped or part of a valid sequence, checked by re-escaping the whole
 * line: valid output escapes to itself apart from `"` and `\`), and
 * the escaper never writes past its capacity.
 */
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "reactor/log_json.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	size_t cap = 128 + (size ? data[0] : 0) * 16;
	char *msg = malloc(size + 1), *buf = malloc(cap), *again;
	size_t n, m;
	int cut = 0;

	memcpy(msg, data, size);
	msg[size] = '\0'; /* the logger hands a C string: vsnprintf's output */
	n = crid_log_json_line(buf, cap, "2026-12-07T04:00:00.000001Z", "info", msg);
	if (n > cap || n < 3 || buf[n - 1] != '\n' || buf[n - 2] != '}')
		abort();
	for (size_t i = 0; i < n - 1; i++)
		if ((unsigned char)buf[i] < 0x20)
			abort();
	/* escaping the line again changes only quotes and backslashes: it was valid UTF-8 */
	again = malloc(n * 2);
	m = crid_log_json_escape(again, n * 2, buf, n - 1, &cut);
	for (size_t i = 0, j = 0; i < n - 1; i++, j++) {
		if (buf[i] == '"' || buf[i] == '\\')
			j++;
		if (j >= m || again[j] != buf[i])
			abort();
	}
	free(again);
	free(buf);
	free(msg);
	return 0;
}
