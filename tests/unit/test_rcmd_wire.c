/*
 * The wire pieces of exec and attach that need no process: the resize
 * stream parser (objects split across frames, several in one frame, garbage
 * and overlong lines skipped to the next newline) and the status bytes on
 * the error channel for every protocol version.
 */
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "reactor/mem.h"
#include "runtime/stream/cmd_status.h"
#include "runtime/stream/term_size.h"
#include "tap.h"

static char sizes[512];

static void on_size(void *user, uint16_t w, uint16_t h)
{
	size_t n = strlen(sizes);

	(void)user;
	snprintf(sizes + n, sizeof(sizes) - n, "%ux%u;", w, h);
}

static void feed(struct crid_term_size_parser *p, const char *s)
{
	crid_term_size_feed(p, (const uint8_t *)s, strlen(s), on_size, NULL);
}

static void test_term_size(void)
{
	struct crid_term_size_parser p;
	char big[600];
	size_t i;

	crid_term_size_init(&p);
	sizes[0] = '\0';
	feed(&p, "{\"Width\":80,\"Height\":24}\n");
	CHECK(strcmp(sizes, "80x24;") == 0, "one object in one frame (got `%s`)", sizes);

	sizes[0] = '\0';
	feed(&p, "{\"Wid");
	feed(&p, "th\":120,");
	CHECK(sizes[0] == '\0', "nothing before the object is complete");
	feed(&p, "\"Height\":40}");
	CHECK(sizes[0] == '\0', "nothing before the newline");
	feed(&p, "\n{\"Width\":1,\"Height\":2}\n{\"height\":7,\"width\":9}\n");
	CHECK(strcmp(sizes, "120x40;1x2;9x7;") == 0,
	      "split across frames, several in one, keys in any case and order (got `%s`)", sizes);

	sizes[0] = '\0';
	feed(&p, "not json\n{\"Width\":70000,\"Height\":1}\n[1,2]\n\n{\"Width\":-1}\n"
		 "{\"Width\":3,\"Height\":4}\n");
	CHECK(strcmp(sizes, "3x4;") == 0,
	      "garbage, out-of-range and blank lines skipped (got `%s`)", sizes);

	sizes[0] = '\0';
	for (i = 0; i < sizeof(big) - 1; i++)
		big[i] = ' ';
	big[sizeof(big) - 1] = '\0';
	feed(&p, "{\"Width\":5,");
	feed(&p, big);
	feed(&p, "\"Height\":6}\n{\"Width\":10,\"Height\":11}\n");
	CHECK(strcmp(sizes, "10x11;") == 0,
	      "an overlong object is dropped, the next one parsed (got `%s`)", sizes);

	sizes[0] = '\0';
	feed(&p, "{\"Height\":5}\n");
	CHECK(strcmp(sizes, "0x5;") == 0, "a missing key is 0 as in Go (got `%s`)", sizes);
}

static bool status_is(int version, const struct crid_cmd_end *e, const char *want)
{
	struct crid_err err;
	char *out;
	size_t len;
	bool ok;

	if (crid_cmd_status(version, e, &out, &len, &err) < 0)
		return false;
	if (!want)
		return out == NULL && len == 0;
	ok = out && len == strlen(want) && memcmp(out, want, len) == 0;
	if (!ok)
		printf("# v%d got `%.*s`\n", version, (int)len, out ? out : "");
	crid_free(out);
	return ok;
}

static void test_status(void)
{
	const char *argv[] = { "sh", "-c", "exit \"3\"" };
	struct crid_cmd_end ok = { 0 }, rc = { .exit_code = 3, .argv = argv, .argc = 3 },
			    bad = { .internal = "exec in `c1`: container not running" };

	CHECK(status_is(4, &ok, "{\"metadata\":{},\"status\":\"Success\"}"), "v4 success");
	CHECK(status_is(5, &ok, "{\"metadata\":{},\"status\":\"Success\"}"), "v5 success");
	CHECK(status_is(3, &ok, NULL) && status_is(1, &ok, NULL), "v1-v3 write nothing on success");
	CHECK(status_is(
		  4, &rc,
		  "{\"metadata\":{},\"status\":\"Failure\",\"message\":\"command terminated with "
		  "non-zero exit code: error executing command [sh -c exit \\\"3\\\"], exit "
		  "code 3\",\"reason\":\"NonZeroExitCode\",\"details\":{\"causes\":[{\"reason\":"
		  "\"ExitCode\",\"message\":\"3\"}]}}"),
	      "v4 non-zero exit: the message escaped, the ExitCode cause");
	CHECK(status_is(2, &rc,
			"command terminated with non-zero exit code: error executing command "
			"[sh -c exit \"3\"], exit code 3"),
	      "v2 non-zero exit: the plain text");
	CHECK(status_is(
		  5, &bad,
		  "{\"metadata\":{},\"status\":\"Failure\",\"message\":\"Internal error occurred: "
		  "exec in `c1`: container not running\",\"reason\":\"InternalError\",\"code\":"
		  "500}"),
	      "v5 internal error");
	CHECK(status_is(3, &bad, "Internal error occurred: exec in `c1`: container not running"),
	      "v3 internal error: the plain text");
}

int main(void)
{
	size_t before = crid_mem_used();

	test_term_size();
	test_status();
	CHECK(crid_mem_used() == before, "nothing left allocated");
	return tap_done();
}
