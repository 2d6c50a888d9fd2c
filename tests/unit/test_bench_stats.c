/*
 * Unit tests of crid-bench's arithmetic (bench/stats.c) and /proc parsers
 * (bench/procinfo.c).
 *
 * NOTE: unit test binaries link only libcrid.a, and bench/ is not part of it,
 * so the bench sources under test are #included here directly.
 */
#include "bench/stats.c"    /* included on purpose, see above */
#include "bench/procinfo.c" /* included on purpose, see above */

#include <math.h>
#include <stdio.h>
#include <string.h>

static int passed, failed;

static void check(int ok, const char *what)
{
	printf("%s - %s\n", ok ? "ok" : "not ok", what);
	if (ok)
		passed++;
	else
		failed++;
}

static int near(double a, double b)
{
	return fabs(a - b) < 1e-9;
}

static void test_percentile(void)
{
	double one[] = { 7 };
	double four[] = { 1, 2, 3, 4 };
	double hundred[100];

	for (int i = 0; i < 100; i++)
		hundred[i] = i + 1;
	check(isnan(crid_bench_percentile(NULL, 0, 50)), "percentile of no samples is NAN");
	check(isnan(crid_bench_percentile(four, 4, 101)), "percentile above 100 is NAN");
	check(isnan(crid_bench_percentile(four, 4, -1)), "percentile below 0 is NAN");
	check(near(crid_bench_percentile(one, 1, 99), 7), "p99 of one sample is that sample");
	check(near(crid_bench_percentile(four, 4, 0), 1), "p0 is the minimum");
	check(near(crid_bench_percentile(four, 4, 50), 2), "p50 of 1..4 is 2 (nearest rank)");
	check(near(crid_bench_percentile(four, 4, 51), 3), "p51 of 1..4 is 3");
	check(near(crid_bench_percentile(four, 4, 100), 4), "p100 is the maximum");
	check(near(crid_bench_percentile(hundred, 100, 90), 90), "p90 of 1..100 is 90");
	check(near(crid_bench_percentile(hundred, 100, 99), 99), "p99 of 1..100 is 99");
	check(near(crid_bench_percentile(hundred, 100, 99.5), 100), "p99.5 of 1..100 is 100");
}

static void test_summarize(void)
{
	struct crid_bench_samples s = { 0 };
	struct crid_bench_summary sum;
	int ok = 1;

	crid_bench_summarize(&s, &sum);
	check(sum.n == 0 && isnan(sum.p50) && isnan(sum.min), "empty summary is NAN");
	for (int i = 1000; i >= 1; i--) /* descending: summarize must sort */
		ok &= crid_bench_samples_push(&s, i) == 0;
	check(ok && s.n == 1000, "push grows past the first chunk");
	crid_bench_summarize(&s, &sum);
	check(sum.n == 1000, "summary counts samples");
	check(near(sum.min, 1) && near(sum.max, 1000), "min and max");
	check(near(sum.p50, 500) && near(sum.p90, 900) && near(sum.p99, 990), "p50 p90 p99");
	check(near(sum.mean, 500.5), "mean");
	check(s.v[0] == 1 && s.v[999] == 1000, "samples sorted in place");
	crid_bench_samples_free(&s);
	check(s.v == NULL && s.n == 0, "free resets");
}

static void test_ratio(void)
{
	check(near(crid_bench_ratio(30, 10), 3), "ratio 30/10");
	check(near(crid_bench_ratio(5, 10), 0.5), "ratio 5/10");
	check(isnan(crid_bench_ratio(5, 0)), "ratio to zero is NAN");
	check(isnan(crid_bench_ratio(5, -1)), "ratio to negative is NAN");
	check(isnan(crid_bench_ratio(NAN, 1)), "ratio of NAN is NAN");
	check(isnan(crid_bench_ratio(1, NAN)), "ratio to NAN is NAN");
}

static void test_rounds(void)
{
	size_t total = 0;

	check(crid_bench_rounds(1000, 100) == 10, "1000 calls in rounds of 100: 10 rounds");
	check(crid_bench_rounds(1001, 100) == 11, "1001 calls: 11 rounds");
	check(crid_bench_rounds(50, 100) == 1, "fewer calls than a round: 1 round");
	check(crid_bench_rounds(0, 100) == 0, "no calls: no rounds");
	check(crid_bench_rounds(3, 0) == 3, "round size 0 counts as 1");
	check(crid_bench_round_calls(1001, 100, 0) == 100, "first round full");
	check(crid_bench_round_calls(1001, 100, 10) == 1, "last round holds the rest");
	check(crid_bench_round_calls(1001, 100, 11) == 0, "past the end: 0");
	check(crid_bench_round_calls(1000, 100, 9) == 100, "exact multiple: last round full");
	for (size_t r = 0; r < crid_bench_rounds(12345, 1000); r++)
		total += crid_bench_round_calls(12345, 1000, r);
	check(total == 12345, "rounds add up to the total");
}

static void test_order(void)
{
	size_t seen[3] = { 0 }, first[3] = { 0 };
	int perm = 1;

	check(crid_bench_round_order(0, 0, 2) == 0 && crid_bench_round_order(0, 1, 2) == 1,
	      "round 0 runs A then B");
	check(crid_bench_round_order(1, 0, 2) == 1 && crid_bench_round_order(1, 1, 2) == 0,
	      "round 1 runs B then A");
	check(crid_bench_round_order(5, 0, 1) == 0, "one endpoint always runs");
	check(crid_bench_round_order(5, 0, 0) == 0, "no endpoints does not divide by zero");
	for (size_t r = 0; r < 30; r++) {
		size_t mask = 0;

		for (size_t i = 0; i < 3; i++) {
			size_t e = crid_bench_round_order(r, i, 3);

			mask |= (size_t)1 << e;
			seen[e]++;
		}
		first[crid_bench_round_order(r, 0, 3)]++;
		perm &= mask == 7;
	}
	check(perm, "every round runs each endpoint once");
	check(seen[0] == 30 && seen[1] == 30 && seen[2] == 30, "endpoints run equally often");
	check(first[0] == 10 && first[1] == 10 && first[2] == 10,
	      "each endpoint leads equally often");
}

static void test_smaps(void)
{
	const char *text = "55d5c4a6e000-7ffd3d5f6000 ---p 00000000 00:00 0   [rollup]\n"
			   "Rss:                1868 kB\n"
			   "Pss:                 512 kB\n"
			   "Pss_Dirty:           300 kB\n"
			   "Shared_Clean:       1300 kB\n";
	struct crid_bench_mem m = { 0 };

	check(crid_bench_smaps_parse(text, &m) == 0, "smaps_rollup parses");
	check(m.rss_kib == 1868 && m.pss_kib == 512, "Rss and Pss, not Pss_Dirty");
	check(crid_bench_smaps_parse("Rss: 1 kB\n", &m) < 0, "missing Pss is an error");
	check(crid_bench_smaps_parse("", &m) < 0, "empty text is an error");
}

static void test_net_unix(void)
{
	const char *text =
	    "Num       RefCount Protocol Flags    Type St Inode Path\n"
	    "0000000000000000: 00000003 00000000 00000000 0001 03 20001 /run/crid/crid.sock\n"
	    "0000000000000000: 00000002 00000000 00010000 0001 01 20002 /run/crid/crid.sock\n"
	    "0000000000000000: 00000002 00000000 00010000 0001 01 20003 /tmp/a b.sock\n"
	    "0000000000000000: 00000002 00000000 00000000 0002 01 20004\n";
	unsigned long ino = 0;

	check(crid_bench_unix_inode_parse(text, "/run/crid/crid.sock", &ino) == 0 && ino == 20002,
	      "listening socket found, connected one skipped");
	check(crid_bench_unix_inode_parse(text, "/tmp/a b.sock", &ino) == 0 && ino == 20003,
	      "path with a space");
	check(crid_bench_unix_inode_parse(text, "/nope", &ino) < 0, "unknown path not found");
	check(crid_bench_unix_inode_parse("", "/nope", &ino) < 0, "empty text");
	check(crid_bench_unix_inode_parse(text, "", &ino) < 0,
	      "a socket without a path never matches");
}

int main(void)
{
	test_percentile();
	test_summarize();
	test_ratio();
	test_rounds();
	test_order();
	test_smaps();
	test_net_unix();
	printf("%d passed, %d failed\n", passed, failed);
	return failed != 0;
}
