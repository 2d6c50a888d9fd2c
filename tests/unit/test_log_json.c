/*
 * `--log-format json` lines: escaping of quotes, backslashes and control
 * characters, invalid UTF-8 replaced, valid multi-byte kept, cuts between
 * characters only; key=value fields (quoted values, names that collide with
 * time/level/msg); a line that would not fit still a closed object.
 */
#include <string.h>

#include "reactor/log_json.h"
#include "tests/unit/tap.h"

static void test_escape(void)
{
	static const struct {
		const char *in, *want;
	} cases[] = {
		{ "plain", "plain" },
		{ "a\"b\\c", "a\\\"b\\\\c" },
		{ "l1\nl2\tt\r", "l1\\nl2\\tt\\r" },
		{ "\x01\x1f\x7f", "\\u0001\\u001f\x7f" },
		{ "caf\xc3\xa9 \xe2\x80\x94 \xf0\x9f\x98\x80",
		  "caf\xc3\xa9 \xe2\x80\x94 \xf0\x9f\x98\x80" },
		{ "bad\xff\xc3(", "bad\\ufffd\\ufffd(" },
		{ "\xc0\xaf", "\\ufffd\\ufffd" },	     /* overlong */
		{ "\xed\xa0\x80", "\\ufffd\\ufffd\\ufffd" }, /* surrogate */
		{ "cut\xe2\x80", "cut\\ufffd\\ufffd" },	     /* truncated sequence */
	};
	char out[128];

	for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
		int cut = 0;
		size_t n =
		    crid_log_json_escape(out, sizeof(out), cases[i].in, strlen(cases[i].in), &cut);

		CHECK(!cut && n == strlen(cases[i].want) && memcmp(out, cases[i].want, n) == 0,
		      "escape case %zu: `%.*s`", i, (int)n, out);
	}
	{
		int cut = 0;
		size_t n = crid_log_json_escape(out, 3, "ab\"cd", 5, &cut);

		CHECK(cut && n == 2 && memcmp(out, "ab", 2) == 0, "no cut inside an escape");
		cut = 0;
		n = crid_log_json_escape(out, 3, "a\xe2\x80\x94", 4, &cut);
		CHECK(cut && n == 1, "no cut inside a UTF-8 character");
	}
}

static void test_line(void)
{
	char buf[1024];
	size_t n;
	const char *t = "2026-12-07T04:00:00.000001Z";

	n = crid_log_json_line(buf, sizeof(buf), t, "info", "crid 0.1.0 serving");
	buf[n] = 0;
	CHECK(strcmp(buf, "{\"time\":\"2026-12-07T04:00:00.000001Z\",\"level\":\"info\",\"msg\":"
			  "\"crid 0.1.0 serving\"}\n") == 0,
	      "a plain line: %s", buf);
	n = crid_log_json_line(buf, sizeof(buf), t, "warn",
			       "rpc=Version status=NotFound dur=12us msg=\"container \"x\" not "
			       "found\" time=now level=x");
	buf[n] = 0;
	CHECK(strstr(buf, ",\"rpc\":\"Version\",\"status\":\"NotFound\",\"dur\":\"12us\"") &&
		  strstr(buf, ",\"msg_\":\"container \\\"x\\\" not found\"") &&
		  strstr(buf, ",\"time_\":\"now\",\"level_\":\"x\"}\n"),
	      "key=value fields, quoted values, colliding names get `_`: %s", buf);
	n = crid_log_json_line(buf, sizeof(buf), t, "info", "pull a=b: started x= =y k=\"open");
	buf[n] = 0;
	CHECK(strstr(buf, "\"a\":\"b:\"") && strstr(buf, "\"x\":\"\"") &&
		  strstr(buf, "\"k\":\"\\\"open\""),
	      "odd tokens: %s", buf);
}

static void test_long_line(void)
{
	char msg[3000], buf[256];
	size_t n;

	memset(msg, '"', sizeof(msg) - 1);
	msg[sizeof(msg) - 1] = 0;
	n = crid_log_json_line(buf, sizeof(buf), "2026-12-07T04:00:00.000001Z", "info", msg);
	CHECK(n <= sizeof(buf) && n > 3 && memcmp(buf + n - 3, "\"}\n", 3) == 0 &&
		  buf[n - 4] == '"' && buf[n - 5] == '\\',
	      "a long line is cut between escapes and closed");
	memcpy(msg, "k=v ", 4);
	n = crid_log_json_line(buf, sizeof(buf), "2026-12-07T04:00:00.000001Z", "info", msg);
	CHECK(n <= sizeof(buf) && memcmp(buf + n - 3, "\"}\n", 3) == 0,
	      "no room for the fields: they are left out, the object closed");
}

int main(void)
{
	test_escape();
	test_line();
	test_long_line();
	return tap_done();
}
