/* The k8s WebSocket channel messages: binary and base64 channels, the v5 CLOSE signal. */
#include <errno.h>
#include <string.h>

#include "reactor/mem.h"
#include "runtime/stream/ws_chan.h"
#include "tap.h"

struct parse_case {
	const char *name;
	bool base64, v5;
	const char *msg;
	size_t len;
	int rc;
	enum crid_ws_chan_kind kind;
	unsigned chan;
	const char *data;
	size_t data_len;
};

static const struct parse_case cases[] = {
	{ "binary stdin", false, false, "\x00hi", 3, 0, CRID_WS_CHAN_DATA, 0, "hi", 2 },
	{ "binary resize", false, true, "\x04{\"Width\":80}", 13, 0, CRID_WS_CHAN_DATA, 4,
	  "{\"Width\":80}", 12 },
	{ "binary payload with NUL", false, false, "\x02\x00\xff", 3, 0, CRID_WS_CHAN_DATA, 2,
	  "\x00\xff", 2 },
	{ "empty message", false, false, "", 0, 0, CRID_WS_CHAN_IGNORE, 0, NULL, 0 },
	{ "channel alone", false, false, "\x00", 1, 0, CRID_WS_CHAN_IGNORE, 0, NULL, 0 },
	{ "v5 close stdin", false, true, "\xff\x00", 2, 0, CRID_WS_CHAN_EOF, 0, NULL, 0 },
	{ "v5 close resize", false, true, "\xff\x04", 2, 0, CRID_WS_CHAN_EOF, 4, NULL, 0 },
	{ "v5 close too long", false, true, "\xff\x00\x01", 3, 0, CRID_WS_CHAN_IGNORE, 0, NULL, 0 },
	{ "v4 255 is a channel", false, false, "\xff\x00", 2, 0, CRID_WS_CHAN_DATA, 255, "\x00",
	  1 },
	{ "base64 stdin", true, false, "0aGk=", 5, 0, CRID_WS_CHAN_DATA, 0, "hi", 2 },
	{ "base64 two pads", true, false, "0aA==", 5, 0, CRID_WS_CHAN_DATA, 0, "h", 1 },
	{ "base64 no pad", true, false, "4eyJXIjo4fQ", 11, -1, 0, 0, NULL, 0 },
	{ "base64 exact", true, false, "4aGVs", 5, 0, CRID_WS_CHAN_DATA, 4, "hel", 3 },
	{ "base64 bad char", true, false, "0a!k=", 5, -1, 0, 0, NULL, 0 },
	{ "base64 channel alone", true, false, "0", 1, 0, CRID_WS_CHAN_IGNORE, 0, NULL, 0 },
	{ "base64 channel below '0'", true, false, "/aGk=", 5, 0, CRID_WS_CHAN_DATA, 255, "hi", 2 },
	{ "base64 ignores v5 signal", true, true, "\xff\x00", 2, -1, 0, 0, NULL, 0 },
};

static void test_parse(void)
{
	for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
		const struct parse_case *t = &cases[i];
		struct crid_ws_chan_msg m;
		struct crid_err err = { 0 };
		size_t before = crid_mem_used();
		int rc =
		    crid_ws_chan_parse(t->base64, t->v5, (const uint8_t *)t->msg, t->len, &m, &err);

		if (!CHECK(rc == t->rc, "%s: rc %d", t->name, rc))
			continue;
		if (rc < 0) {
			CHECK(err.code == EINVAL && strstr(err.msg, "base64"), "%s: error `%s`",
			      t->name, err.msg);
			CHECK(crid_mem_used() == before, "%s: nothing left allocated", t->name);
			continue;
		}
		CHECK(m.kind == t->kind, "%s: kind %d", t->name, m.kind);
		if (t->kind != CRID_WS_CHAN_IGNORE)
			CHECK(m.chan == t->chan, "%s: channel %u", t->name, m.chan);
		if (t->kind == CRID_WS_CHAN_DATA)
			CHECK(m.len == t->data_len && !memcmp(m.data, t->data, m.len),
			      "%s: payload", t->name);
		crid_free(m.owned);
		CHECK(crid_mem_used() == before, "%s: nothing left allocated", t->name);
	}
}

static void test_encode(void)
{
	size_t n = 99;
	char *s;

	CHECK(crid_ws_chan_head(false, 3) == 3, "binary head is the channel");
	CHECK(crid_ws_chan_head(true, 3) == '3', "base64 head is the digit");
	s = crid_ws_chan_b64("hi", 2, &n);
	CHECK(s && n == 4 && !memcmp(s, "aGk=", 4), "base64 of hi");
	crid_free(s);
	s = crid_ws_chan_b64("", 0, &n);
	CHECK(s && n == 0, "base64 of nothing is empty");
	crid_free(s);
	s = crid_ws_chan_b64("\x50\x00", 2, &n);
	CHECK(s && n == 4 && !memcmp(s, "UAA=", 4), "base64 of port 80 little-endian");
	crid_free(s);
}

int main(void)
{
	test_parse();
	test_encode();
	return tap_done();
}
