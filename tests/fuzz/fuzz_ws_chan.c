/*
 * libFuzzer target for the WebSocket channel messages (runtime/stream/
 * ws_chan.c): any bytes as an incoming message under each protocol family
 * (binary, base64; v5's CLOSE signal on or off) give data, a signal, an
 * ignored message or an error, never a crash or a leak; and any bytes sent
 * out as base64 come back unchanged through the parser.
 */
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "reactor/mem.h"
#include "runtime/stream/ws_chan.h"

static void parse_all(const uint8_t *data, size_t size)
{
	for (int mode = 0; mode < 4; mode++) {
		struct crid_ws_chan_msg m;
		struct crid_err err;
		bool b64 = mode & 1, v5 = mode & 2;

		if (crid_ws_chan_parse(b64, v5, data, size, &m, &err) < 0) {
			if (!b64 || m.owned)
				abort(); /* only base64 fails, and leaves nothing */
			continue;
		}
		if (m.kind == CRID_WS_CHAN_DATA && (!m.len || !m.data))
			abort(); /* data is never empty */
		if (m.kind == CRID_WS_CHAN_DATA && !b64 &&
		    (m.data != data + 1 || m.len != size - 1 || m.chan != data[0]))
			abort();
		if (m.kind == CRID_WS_CHAN_EOF && (b64 || !v5 || size != 2))
			abort();
		crid_free(m.owned);
	}
}

/* What crid sends in base64 reads back as it was. */
static void round_trip(const uint8_t *data, size_t size)
{
	struct crid_ws_chan_msg m;
	struct crid_err err;
	size_t n = 0;
	char *b64 = crid_ws_chan_b64(data, size, &n);
	uint8_t *msg;

	if (!b64)
		abort();
	msg = malloc(n + 1);
	if (!msg)
		abort();
	msg[0] = crid_ws_chan_head(true, 1);
	memcpy(msg + 1, b64, n);
	if (crid_ws_chan_parse(true, false, msg, n + 1, &m, &err) < 0)
		abort();
	if (size && (m.kind != CRID_WS_CHAN_DATA || m.chan != 1 || m.len != size ||
		     memcmp(m.data, data, size)))
		abort();
	if (!size && m.kind != CRID_WS_CHAN_IGNORE)
		abort();
	crid_free(m.owned);
	crid_free(b64);
	free(msg);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	size_t before = crid_mem_used();

	if (size > (1u << 16))
		return 0;
	parse_all(data, size);
	round_trip(data, size);
	if (crid_mem_used() != before)
		abort();
	return 0;
}
