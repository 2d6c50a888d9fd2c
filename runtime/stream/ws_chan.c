/*
 * The k8s WebSocket channel messages (ws_chan.h). Base64 goes through
 * libcrypto's EVP_EncodeBlock/EVP_DecodeBlock; as Go's StdEncoding, the
 * decoder wants padded input (a length that is a multiple of 4).
 */
#include "runtime/stream/ws_chan.h"

#include <errno.h>
#include <limits.h>
#include <openssl/evp.h>

#include "reactor/mem.h"

static int b64_decode(const uint8_t *in, size_t len, struct crid_ws_chan_msg *out,
		      struct crid_err *err)
{
	size_t pad = 0;
	int n;

	if (len % 4 || len > INT_MAX)
		return crid_err_invalid(err,
					"websocket message: base64 payload of %zu bytes is "
					"not a multiple of 4",
					len);
	while (pad < 2 && pad < len && in[len - 1 - pad] == '=')
		pad++;
	out->owned = crid_malloc(len / 4 * 3 + 1);
	if (!out->owned)
		return crid_err_set(err, ENOMEM, "websocket message: decode base64");
	n = EVP_DecodeBlock(out->owned, in, (int)len);
	if (n < 0 || (size_t)n < pad) {
		crid_free(out->owned);
		out->owned = NULL;
		return crid_err_invalid(err, "websocket message: malformed base64 payload");
	}
	out->data = out->owned;
	out->len = (size_t)n - pad;
	return 0;
}

int crid_ws_chan_parse(bool base64, bool v5, const uint8_t *msg, size_t len,
		       struct crid_ws_chan_msg *out, struct crid_err *err)
{
	*out = (struct crid_ws_chan_msg){ .kind = CRID_WS_CHAN_IGNORE };
	if (len < 2)
		return 0;
	if (v5 && !base64 && msg[0] == CRID_WS_CHAN_CLOSE) {
		/* client-go sends exactly [255, channel]; anything else is not a signal */
		if (len == 2) {
			out->kind = CRID_WS_CHAN_EOF;
			out->chan = msg[1];
		}
		return 0;
	}
	/* a byte below '0' wraps to a large channel the caller ignores, as upstream */
	out->chan = base64 ? (uint8_t)(msg[0] - '0') : msg[0];
	if (base64) {
		if (b64_decode(msg + 1, len - 1, out, err) < 0)
			return -1;
		if (!out->len) {
			crid_free(out->owned);
			out->owned = NULL;
			return 0;
		}
	} else {
		out->data = msg + 1;
		out->len = len - 1;
	}
	out->kind = CRID_WS_CHAN_DATA;
	return 0;
}

uint8_t crid_ws_chan_head(bool base64, unsigned chan)
{
	return (uint8_t)(base64 ? '0' + chan : chan);
}

char *crid_ws_chan_b64(const void *data, size_t len, size_t *out_len)
{
	char *out;
	int n;

	if (len > (size_t)INT_MAX / 4 * 3)
		return NULL;
	out = crid_malloc((len + 2) / 3 * 4 + 1);
	if (!out)
		return NULL;
	n = EVP_EncodeBlock((unsigned char *)out, data, (int)len);
	*out_len = (size_t)n;
	return out;
}
