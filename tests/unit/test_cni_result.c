/*
 * Unit tests for crid_cni_result_parse: the pod's IPs a finished CNI ADD
 * keeps (IPv4 first, no loopback, no host-side veth address), and results
 * the daemon refuses (not an object, nested past the cap, NUL inside).
 */
#include <stdio.h>
#include <string.h>

#include "runtime/cni/cni.h"
#include "tap.h"

static int parse(const char *json, struct crid_cni_result *res)
{
	return crid_cni_result_parse(json, strlen(json), res);
}

static void test_bridge_result(void)
{
	const char *json = "{\"cniVersion\":\"1.0.0\",\"interfaces\":["
			   "{\"name\":\"cni0\"},{\"name\":\"eth0\",\"sandbox\":\"/run/netns/x\"}],"
			   "\"ips\":[{\"interface\":0,\"address\":\"10.88.0.1/16\"},"
			   "{\"interface\":1,\"address\":\"fd00::5/64\"},"
			   "{\"interface\":1,\"address\":\"10.88.0.5/16\"},"
			   "{\"address\":\"127.0.0.1/8\"},{\"address\":\"::1/128\"}]}";
	struct crid_cni_result res;

	CHECK(parse(json, &res) == 0, "bridge result parses");
	CHECK(res.n_ips == 2, "two pod IPs (host side and loopback left out): %zu", res.n_ips);
	CHECK(strcmp(res.ips[0], "10.88.0.5") == 0, "IPv4 first, prefix cut: %s", res.ips[0]);
	CHECK(strcmp(res.ips[1], "fd00::5") == 0, "then IPv6: %s", res.ips[1]);
	CHECK(res.json == NULL, "json is not kept");
}

static void test_refused(void)
{
	struct crid_cni_result res;
	char deep[512];
	const char nul[] = "{\"ips\":[]}\0{}";

	CHECK(parse("[1,2]", &res) < 0, "an array is refused");
	CHECK(parse("{\"ips\":", &res) < 0, "truncated JSON is refused");
	CHECK(crid_cni_result_parse(nul, sizeof(nul) - 1, &res) < 0, "a NUL inside is refused");
	memset(deep, '[', 200);
	snprintf(deep + 200, sizeof(deep) - 200, "1");
	CHECK(parse(deep, &res) < 0, "nesting past the cap is refused");
	CHECK(parse("{\"ips\":[{\"address\":\"10.1.2.3.4/8\"},{\"address\":5}]}", &res) == 0 &&
		  res.n_ips == 0,
	      "bad addresses are skipped, not fatal");
}

int main(void)
{
	test_bridge_result();
	test_refused();
	return tap_done();
}
