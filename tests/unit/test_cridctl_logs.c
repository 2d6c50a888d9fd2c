/* Unit tests for cli/logs.c: the CRI log format, P/F joining, --tail/--since, times. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "cli/logs.h"
#include "tap.h"

#define T0 1700000000LL /* 2023-11-14T22:13:20Z */

static void test_parse_line(void)
{
	static const char ok[] = "2023-11-14T22:13:20.123456789Z stdout F hello world";
	static const char *const bad[] = {
		"garbage",
		"2023-11-14T22:13:20Z stdin F x",
		"2023-11-14T22:13:20Z stdout X x",
		"2023-11-14 22:13:20Z stdout F x",
		"2023-11-14T22:13:20 stdout F x", /* no zone */
	};
	struct cridctl_log_line l;

	CHECK(cridctl_log_parse_line(ok, strlen(ok), &l) == 0, "a full stdout line parses");
	CHECK(l.ts == T0 * 1000000000 + 123456789, "its time to the ns");
	CHECK(l.stream == CRIDCTL_LOG_STDOUT && !l.partial, "stdout, full");
	CHECK(l.len == 11 && memcmp(l.msg, "hello world", 11) == 0, "message keeps its spaces");
	CHECK(cridctl_log_parse_line("2023-11-14T23:13:20+01:00 stderr P ", 35, &l) == 0 &&
		  l.ts == T0 * 1000000000 && l.partial && l.stream == CRIDCTL_LOG_STDERR &&
		  l.len == 0,
	      "zone offset, stderr, partial, empty message");
	for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++)
		CHECK(cridctl_log_parse_line(bad[i], strlen(bad[i]), &l) < 0, "rejected: %s",
		      bad[i]);
}

static const char log_text[] = "2023-11-14T22:13:20.000000001Z stdout P hel\n"
			       "2023-11-14T22:13:20.5Z stderr F oops\n"
			       "2023-11-14T22:13:21Z stdout P lo \n"
			       "2023-11-14T22:13:22Z stdout F world\n"
			       "not a log line\n"
			       "2023-11-14T22:13:23Z stdout F two\n"
			       "2023-11-14T22:13:24Z stdout F three\n"
			       "2023-11-14T22:13:25Z stdout P unterminated";

static void test_join_and_select(void)
{
	struct cridctl_log l = { 0 };
	long used = cridctl_log_feed(&l, log_text, strlen(log_text));

	CHECK(used == (long)(strstr(log_text, "2023-11-14T22:13:25Z") - log_text),
	      "the unterminated last line is not consumed (used %ld)", used);
	CHECK(l.n == 4, "4 entries: oops, hello world, two, three (got %zu)", l.n);
	CHECK(l.bad == 1, "one bad line counted");
	CHECK(l.n > 1 && strcmp(l.entries[0].msg, "oops") == 0 &&
		  l.entries[0].stream == CRIDCTL_LOG_STDERR,
	      "stderr entry ends first");
	CHECK(l.n > 1 && strcmp(l.entries[1].msg, "hello world") == 0, "P pieces joined: `%s`",
	      l.n > 1 ? l.entries[1].msg : "");
	CHECK(l.n > 1 && l.entries[1].ts == T0 * 1000000000 + 1, "joined entry has the first time");
	CHECK(cridctl_log_select(&l, -1, 0) == 0, "no tail, no since: all");
	CHECK(cridctl_log_select(&l, 2, 0) == 2, "--tail 2: the last two");
	CHECK(cridctl_log_select(&l, 0, 0) == 4, "--tail 0: none");
	CHECK(cridctl_log_select(&l, 100, 0) == 0, "--tail beyond the count: all");
	CHECK(cridctl_log_select(&l, -1, (T0 + 1) * 1000000000) == 2,
	      "--since skips older entries (by the time of their first piece)");
	CHECK(cridctl_log_select(&l, 3, (T0 + 4) * 1000000000) == 3, "--tail first, then --since");
	CHECK(cridctl_log_select(&l, -1, (T0 + 9) * 1000000000) == 4, "--since after all: none");
	cridctl_log_consume(&l, 3);
	CHECK(l.n == 1 && strcmp(l.entries[0].msg, "three") == 0, "consume drops the first");
	used = cridctl_log_feed(&l, "2023-11-14T22:13:25Z stdout P unterminated\n", 43);
	CHECK(used == 43 && l.n == 1, "a P line stays pending");
	CHECK(cridctl_log_flush(&l) == 0 && l.n == 2 &&
		  strcmp(l.entries[1].msg, "unterminated") == 0,
	      "flush ends the pending piece");
	cridctl_log_free(&l);
}

static void test_write(void)
{
	struct cridctl_log_entry e = { T0 * 1000000000 + 5, CRIDCTL_LOG_STDERR, "x y", 3 };
	char out[128] = "", err[128] = "";
	FILE *fo = fmemopen(out, sizeof(out), "w"), *fe = fmemopen(err, sizeof(err), "w");

	cridctl_log_write(&e, true, fo, fe);
	e.stream = CRIDCTL_LOG_STDOUT;
	cridctl_log_write(&e, false, fo, fe);
	fclose(fo);
	fclose(fe);
	CHECK(strcmp(err, "2023-11-14T22:13:20.000000005Z x y\n") == 0, "stderr with time: %s",
	      err);
	CHECK(strcmp(out, "x y\n") == 0, "stdout without time: %s", out);
}

static void test_since(void)
{
	int64_t now = (T0 + 3600) * 1000000000, ns;

	CHECK(cridctl_parse_since("42m", now, &ns) == 0 && ns == now - 42 * 60000000000LL,
	      "relative duration");
	CHECK(cridctl_parse_since("1h0m30s", now, &ns) == 0 && ns == now - 3630 * 1000000000LL,
	      "compound duration");
	CHECK(cridctl_parse_since("2023-11-14T22:13:20Z", now, &ns) == 0 && ns == T0 * 1000000000,
	      "RFC 3339 UTC");
	CHECK(cridctl_parse_since("2023-11-14T23:13:20.5+01:00", now, &ns) == 0 &&
		  ns == T0 * 1000000000 + 500000000,
	      "RFC 3339 with offset and fraction");
	CHECK(cridctl_parse_since("1700000000.25", now, &ns) == 0 &&
		  ns == T0 * 1000000000 + 250000000,
	      "Unix seconds with fraction");
	setenv("TZ", "UTC", 1);
	CHECK(cridctl_parse_since("2023-11-14", now, &ns) == 0 &&
		  ns == (T0 - 22 * 3600 - 13 * 60 - 20) * 1000000000,
	      "a date alone, local time");
	CHECK(cridctl_parse_since("2023-11-14T22:13:20", now, &ns) == 0 && ns == T0 * 1000000000,
	      "no zone: local time");
	CHECK(cridctl_parse_since("yesterday", now, &ns) < 0, "garbage refused");
	CHECK(cridctl_parse_since("5x", now, &ns) < 0, "unknown unit refused");
	CHECK(cridctl_parse_since("2023-13-01", now, &ns) < 0, "month 13 refused");
	CHECK(cridctl_parse_duration_ns("1.5s", &ns) == 0 && ns == 1500000000, "1.5s");
	CHECK(cridctl_parse_duration_ns("5", &ns) < 0, "a Go duration needs a unit");
}

int main(void)
{
	test_parse_line();
	test_join_and_select();
	test_write();
	test_since();
	return tap_done();
}
