/*
 * The k8s WebSocket channel messages, without the socket: every message is a
 * channel byte and a payload; the binary protocols carry both raw, the
 * base64 ones (`base64.channel.k8s.io`, `v4.base64.channel.k8s.io`) the
 * channel as an ASCII digit ('0' + channel) and the payload in standard
 * base64; v5 adds the CLOSE signal, the binary message [255, channel]
 * (k8s.io/streaming wsstream/conn.go, client-go remotecommand/websocket.go).
 */
#ifndef CRID_WS_CHAN_H
#define CRID_WS_CHAN_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "reactor/err.h"

#define CRID_WS_CHAN_CLOSE 255 /* v5: [255, channel] = no more data on channel */

enum crid_ws_chan_kind {
	CRID_WS_CHAN_IGNORE, /* empty, or a channel byte alone: skipped, as upstream does */
	CRID_WS_CHAN_DATA,
	CRID_WS_CHAN_EOF, /* v5 CLOSE signal */
};

struct crid_ws_chan_msg {
	enum crid_ws_chan_kind kind;
	unsigned chan; /* may be any value: the caller ignores what it does not read */
	const uint8_t *data;
	size_t len;
	uint8_t *owned; /* the decoded base64 payload data points into; crid_free it */
};

/*
 * Splits the incoming message |msg| into channel and payload (decoded when
 * |base64|; the CLOSE signal recognized when |v5|). -1 with |err| (EINVAL)
 * when the base64 payload is malformed: the connection closes with 1007.
 */
int crid_ws_chan_parse(bool base64, bool v5, const uint8_t *msg, size_t len,
		       struct crid_ws_chan_msg *out, struct crid_err *err);

/* The channel byte that heads an outgoing message on |chan|. */
uint8_t crid_ws_chan_head(bool base64, unsigned chan);

/*
 * The standard base64 of |len| bytes at |data|, allocated (crid_free it),
 * its length in |out_len|; NULL when memory runs out.
 */
char *crid_ws_chan_b64(const void *data, size_t len, size_t *out_len);

#endif
