/*
 * The step trace (reactor/trace): steps measured from mark to mark, their
 * sum within the total, a step marked twice adding up, names past the fixed
 * array folding into "other", whole fields only when the buffer is short,
 * nothing recorded before begin, and the log line only at debug level.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include "reactor/log.h"
#include "reactor/trace.h"
#include "tap.h"

static void sleep_ms(long ms)
{
	struct timespec ts = { ms / 1000, (ms % 1000) * 1000000 };

	nanosleep(&ts, NULL);
}

static long long sum_us(const struct crid_trace *t)
{
	long long s = 0;

	for (size_t i = 0; i < t->n; i++)
		s += t->steps[i].us;
	return s;
}

static void test_steps(void)
{
	struct crid_trace t;

	crid_trace_begin(&t);
	sleep_ms(3);
	crid_trace_mark(&t, "pin");
	crid_trace_mark(&t, "save");
	sleep_ms(2);
	crid_trace_mark(&t, "pin");
	CHECK(t.n == 2 && strcmp(t.steps[0].name, "pin") == 0 &&
		  strcmp(t.steps[1].name, "save") == 0,
	      "two distinct steps, in first-mark order");
	CHECK(t.steps[0].us >= 5000, "a step marked twice adds up (%u us)", t.steps[0].us);
	CHECK(t.steps[1].us < t.steps[0].us, "a step with no wait is short (%u us)", t.steps[1].us);
	CHECK(sum_us(&t) <= crid_trace_total_us(&t), "steps sum (%lld) <= total (%lld)", sum_us(&t),
	      (long long)crid_trace_total_us(&t));
}

static void test_other(void)
{
	static const char *const names[] = { "a", "b", "c", "d", "e", "f", "g",
					     "h", "i", "j", "k", "l", "m", "n" };
	struct crid_trace t;

	crid_trace_begin(&t);
	for (size_t i = 0; i < sizeof(names) / sizeof(names[0]); i++)
		crid_trace_mark(&t, names[i]);
	CHECK(t.n == CRID_TRACE_STEPS, "the array holds %d steps (%u)", CRID_TRACE_STEPS, t.n);
	CHECK(strcmp(t.steps[CRID_TRACE_STEPS - 1].name, "other") == 0 &&
		  strcmp(t.steps[CRID_TRACE_STEPS - 2].name, "k") == 0,
	      "the names past the array fold into `other`");
}

static void test_format(void)
{
	struct crid_trace t;
	char buf[256], small[24];
	double total;
	int used;

	crid_trace_begin(&t);
	sleep_ms(2);
	crid_trace_mark(&t, "cni_add");
	crid_trace_mark(&t, "save");
	crid_trace_format(&t, buf, sizeof(buf));
	CHECK(sscanf(buf, "total=%lfms cni_add=%*d.%*d save=%*d.%*d%n", &total, &used) == 1 &&
		  (size_t)used == strlen(buf) && total >= 2.0,
	      "format: `%s`", buf);
	crid_trace_format(&t, small, sizeof(small));
	CHECK(strncmp(small, "total=", 6) == 0 && !strstr(small, "save") &&
		  (!strstr(small, "cni_add") || strstr(small, "cni_add=")[8] != '\0'),
	      "a short buffer gets whole fields only: `%s`", small);
}

static void test_unstarted(void)
{
	struct crid_trace t = { 0 };
	char buf[64];

	crid_trace_mark(&t, "x");
	CHECK(t.n == 0 && crid_trace_total_us(&t) == 0, "marks before begin record nothing");
	CHECK(strcmp(crid_trace_format(&t, buf, sizeof(buf)), "total=0.0ms") == 0, "`%s`", buf);
}

/* The line is written to stderr at debug level only: read it back through a pipe. */
static void test_log_level(void)
{
	struct crid_trace t;
	char out[1024] = "";
	int p[2], saved = dup(2);
	ssize_t n;

	if (pipe(p) < 0 || saved < 0) {
		CHECK(0, "pipe");
		return;
	}
	dup2(p[1], 2);
	crid_trace_begin(&t);
	crid_trace_mark(&t, "pin");
	crid_log_set_level(CRID_LOG_INFO);
	crid_trace_log(&t, "RunPodSandbox", "pod", "0123456789abcdef");
	crid_log_set_level(CRID_LOG_DEBUG);
	crid_trace_log(&t, "StopPodSandbox", "pod", "0123456789abcdef");
	dup2(saved, 2);
	close(saved);
	close(p[1]);
	n = read(p[0], out, sizeof(out) - 1);
	close(p[0]);
	out[n > 0 ? n : 0] = '\0';
	CHECK(!strstr(out, "RunPodSandbox"), "nothing at info level");
	CHECK(strstr(out, " debug trace StopPodSandbox pod=0123456789ab total=") &&
		  strstr(out, " pin="),
	      "one debug line: `%s`", out);
}

int main(void)
{
	test_steps();
	test_other();
	test_format();
	test_unstarted();
	test_log_level();
	return tap_done();
}
