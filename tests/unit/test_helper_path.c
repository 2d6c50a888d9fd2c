/* Unit tests for reactor/helper_path.c: where crid-pinns and crid-keeper are looked for. */
#include <libgen.h>
#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "reactor/helper_path.h"
#include "tap.h"

static char self_dir[PATH_MAX], self_name[NAME_MAX + 1];

static void find_self(void)
{
	char buf[PATH_MAX], copy[PATH_MAX];
	ssize_t n = readlink("/proc/self/exe", buf, sizeof(buf) - 1);

	buf[n < 0 ? 0 : n] = '\0';
	snprintf(copy, sizeof(copy), "%s", buf);
	snprintf(self_dir, sizeof(self_dir), "%s", dirname(buf));
	snprintf(self_name, sizeof(self_name), "%s", basename(copy));
}

static void test_env(void)
{
	char out[PATH_MAX], want[PATH_MAX + NAME_MAX + 2];
	struct crid_err err;

	setenv("CRID_TEST_HELPER", "/opt/x/helper", 1);
	CHECK(crid_helper_path("helper", "CRID_TEST_HELPER", out, sizeof(out), &err) == 0 &&
		  !strcmp(out, "/opt/x/helper"),
	      "$CRID_TEST_HELPER wins: %s", out);
	setenv("CRID_TEST_HELPER", "rel/helper", 1);
	CHECK(crid_helper_path("helper", "CRID_TEST_HELPER", out, sizeof(out), &err) < 0 &&
		  !strcmp(err.msg, "$CRID_TEST_HELPER `rel/helper` is not an absolute path"),
	      "a relative $CRID_TEST_HELPER is refused: %s", err.msg);
	setenv("CRID_TEST_HELPER", "", 1);
	snprintf(want, sizeof(want), "%s/%s", self_dir, self_name);
	CHECK(crid_helper_path(self_name, "CRID_TEST_HELPER", out, sizeof(out), &err) == 0 &&
		  !strcmp(out, want),
	      "an empty variable is unset: next to the executable (%s)", out);
	unsetenv("CRID_TEST_HELPER");
}

static void test_dirs(void)
{
	char out[PATH_MAX], want[PATH_MAX + NAME_MAX + 2];
	struct crid_err err;

	CHECK(crid_helper_path("no-such-helper", NULL, out, sizeof(out), &err) < 0 &&
		  strstr(err.msg, "no-such-helper not found next to") &&
		  strstr(err.msg, "/../libexec/crid"),
	      "neither next to the executable nor in ../libexec/crid: %s", err.msg);
	CHECK(crid_helper_dir_set("relative", &err) < 0, "helper_dir must be absolute: %s",
	      err.msg);
	CHECK(crid_helper_dir_set("/opt/crid/helpers", &err) == 0 &&
		  crid_helper_path(self_name, NULL, out, sizeof(out), &err) == 0 &&
		  !strcmp(out, "/opt/crid/helpers/test_helper_path"),
	      "helper_dir wins over the executable's dir: %s", out);
	crid_helper_dir_set(NULL, NULL);
	snprintf(want, sizeof(want), "%s/%s", self_dir, self_name);
	CHECK(crid_helper_path(self_name, NULL, out, sizeof(out), &err) == 0 && !strcmp(out, want),
	      "helper_dir cleared: next to the executable again");
}

int main(void)
{
	find_self();
	test_env();
	test_dirs();
	return tap_done();
}
