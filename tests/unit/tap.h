/* The minimal TAP-style harness every C unit test shares. */
#ifndef CRID_TEST_TAP_H
#define CRID_TEST_TAP_H

#include <stdarg.h>
#include <stdbool.h>
#include <stdio.h>

static int tap_passed, tap_failed, tap_n;

static bool tap_check(bool ok, int line, const char *fmt, ...)
    __attribute__((format(printf, 3, 4), unused));

/* Prints one result line; returns |ok| so a test can stop early on failure. */
static bool tap_check(bool ok, int line, const char *fmt, ...)
{
	va_list ap;

	tap_n++;
	if (ok) {
		tap_passed++;
		printf("ok %d - ", tap_n);
	} else {
		tap_failed++;
		printf("not ok %d - line %d: ", tap_n, line);
	}
	va_start(ap, fmt);
	vprintf(fmt, ap);
	va_end(ap);
	putchar('\n');
	return ok;
}

#define CHECK(cond, ...) tap_check(!!(cond), __LINE__, __VA_ARGS__)

static void __attribute__((unused)) tap_skip(const char *name, const char *why)
{
	tap_n++;
	tap_passed++;
	printf("ok %d - %s # SKIP %s\n", tap_n, name, why);
}

/* The summary line; the exit status of main. */
static int __attribute__((unused)) tap_done(void)
{
	printf("%d passed, %d failed\n", tap_passed, tap_failed);
	return tap_failed ? 1 : 0;
}

#endif
