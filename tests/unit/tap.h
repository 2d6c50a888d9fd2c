/* A minimal TAP-style harness shared by the C unit tests. */
#ifndef CRID_TEST_TAP_H
#define CRID_TEST_TAP_H

#include <stdio.h>

static int tap_passed, tap_failed, tap_n;

#define CHECK(cond, ...)                                                                           \
	do {                                                                                       \
		tap_n++;                                                                           \
		if (cond) {                                                                        \
			tap_passed++;                                                              \
			printf("ok %d - ", tap_n);                                                 \
		} else {                                                                           \
			tap_failed++;                                                              \
			printf("not ok %d - %s:%d: ", tap_n, __FILE__, __LINE__);                  \
		}                                                                                  \
		printf(__VA_ARGS__);                                                               \
		printf("\n");                                                                      \
	} while (0)

static inline int tap_done(void)
{
	printf("%d passed, %d failed\n", tap_passed, tap_failed);
	return tap_failed ? 1 : 0;
}

#endif
