/* gRPC framing, grpc-timeout, grpc-message percent-encoding and the RPC arena. */
#include <stdint.h>
#include <string.h>

#include "io/grpc_wire.h"
#include "reactor/arena.h"
#include "reactor/mem.h"
#include "tap.h"

static void test_prefix(void)
{
	uint8_t p[5];
	uint8_t flag;

	crid_grpc_prefix_write(p, 0, 0x01020304);
	CHECK(memcmp(p, "\x00\x01\x02\x03\x04", 5) == 0,
	      "prefix bytes are flag + big-endian length");
	CHECK(crid_grpc_prefix_read(p, &flag) == 0x01020304 && flag == 0, "prefix round-trips");
	crid_grpc_prefix_write(p, 1, 0xffffffffu);
	CHECK(crid_grpc_prefix_read(p, &flag) == 0xffffffffu && flag == 1,
	      "max length, compressed");
}

static void test_timeout_parse(void)
{
	static const struct {
		const char *in;
		int ok;
		int64_t ns;
	} cases[] = {
		{ "1H", 1, 3600000000000LL },
		{ "2M", 1, 120000000000LL },
		{ "3S", 1, 3000000000LL },
		{ "100m", 1, 100000000LL },
		{ "7u", 1, 7000LL },
		{ "1n", 1, 1 },
		{ "0S", 1, 0 },
		{ "99999999n", 1, 99999999 },
		{ "99999999H", 1, INT64_MAX }, /* clamped: ~11,000 years */
		{ "", 0, 0 },
		{ "S", 0, 0 },
		{ "10", 0, 0 },
		{ "123456789S", 0, 0 },
		{ "1x", 0, 0 },
		{ "-1S", 0, 0 },
		{ "1 S", 0, 0 },
		{ "1.5S", 0, 0 },
		{ "abc", 0, 0 },
	};

	for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
		int64_t ns = -1;
		int r = crid_grpc_timeout_parse(cases[i].in, strlen(cases[i].in), &ns);

		if (cases[i].ok)
			CHECK(r == 0 && ns == cases[i].ns, "timeout `%s` = %lld ns", cases[i].in,
			      (long long)ns);
		else
			CHECK(r < 0, "timeout `%s` rejected", cases[i].in);
	}
}

static void test_timeout_format(void)
{
	char out[10];
	int64_t ns;

	crid_grpc_timeout_format(2000000000LL, out);
	CHECK(strcmp(out, "2000000u") == 0, "2 s uses the finest unit within 8 digits (%s)", out);
	CHECK(strlen(out) <= 9, "at most 8 digits + unit");
	crid_grpc_timeout_parse(out, strlen(out), &ns);
	CHECK(ns == 2000000000LL, "2 s round-trips exactly");
	crid_grpc_timeout_format(1234567890123LL, out);
	crid_grpc_timeout_parse(out, strlen(out), &ns);
	CHECK(ns >= 1234567890123LL, "formatting rounds up, never shortens (%s)", out);
	crid_grpc_timeout_format(-5, out);
	CHECK(strcmp(out, "0n") == 0, "negative becomes 0n");
}

static void test_percent(void)
{
	char enc[64], dec[64];
	const char *in = "a b%c\n\xc3\xa9";
	size_t n = crid_grpc_percent_encode(in, strlen(in), enc, sizeof(enc));

	CHECK(strcmp(enc, "a b%25c%0A%C3%A9") == 0, "percent-encode: %s", enc);
	CHECK(n == strlen(enc), "encoded length");
	n = crid_grpc_percent_decode(enc, strlen(enc), dec);
	CHECK(n == strlen(in) && strcmp(dec, in) == 0, "decode round-trips");
	n = crid_grpc_percent_decode("100%", 4, dec);
	CHECK(strcmp(dec, "100%") == 0, "trailing lone %% kept literally");
	crid_grpc_percent_decode("%zz%4", 5, dec);
	CHECK(strcmp(dec, "%zz%4") == 0, "malformed escapes kept literally");
	n = crid_grpc_percent_encode("\xff\xff\xff", 3, enc, 7);
	CHECK(n == 6 && strcmp(enc, "%FF%FF") == 0, "truncation keeps whole escapes (%s)", enc);
	n = crid_grpc_percent_encode("abc", 3, enc, 1);
	CHECK(n == 0 && enc[0] == '\0', "tiny buffer gives empty string");
}

static void test_status_names(void)
{
	CHECK(strcmp(crid_grpc_status_name(CRID_GRPC_UNIMPLEMENTED), "Unimplemented") == 0,
	      "Unimplemented name");
	CHECK(strcmp(crid_grpc_status_name(CRID_GRPC_DEADLINE_EXCEEDED), "DeadlineExceeded") == 0,
	      "DeadlineExceeded name");
	CHECK(strcmp(crid_grpc_status_name(99), "Unknown") == 0, "out of range is Unknown");
}

static void test_arena(void)
{
	struct crid_arena a;
	size_t before = crid_mem_used();
	char *p, *q;

	crid_arena_init(&a, 1 << 20);
	p = crid_arena_alloc(&a, 10);
	q = crid_arena_alloc(&a, 3);
	CHECK(p && q && ((uintptr_t)p % 16) == 0 && ((uintptr_t)q % 16) == 0, "16-byte aligned");
	CHECK(crid_mem_used() == before, "small allocations stay inline");
	p = crid_arena_alloc(&a, 100000);
	CHECK(p != NULL && crid_mem_used() > before, "large allocation gets a chunk");
	memset(p, 1, 100000);
	CHECK(crid_arena_alloc(&a, 2 << 20) == NULL, "limit enforced");
	crid_arena_reset(&a);
	CHECK(crid_mem_used() == before, "reset frees every chunk");
	crid_mem_fail_after(1);
	CHECK(crid_arena_alloc(&a, 50000) == NULL, "allocation failure reported as NULL");
	crid_mem_fail_after(0);
	crid_arena_reset(&a);
}

int main(void)
{
	test_prefix();
	test_timeout_parse();
	test_timeout_format();
	test_percent();
	test_status_names();
	test_arena();
	return tap_done();
}
