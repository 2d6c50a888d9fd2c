/*
 * libFuzzer target for CNI ADD results: a plugin's stdout (kept as the next
 * plugin's prevResult and in the pod record for DEL) goes through the same
 * parser a finished ADD uses. Never a crash or a leak; every address taken
 * is a non-loopback IPv4 or IPv6 address without its prefix length, IPv4
 * before IPv6, at most CRID_CNI_MAX_IPS of them.
 */
#include <arpa/inet.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "reactor/mem.h"
#include "runtime/cni/cni.h"

/* 4 or 6 for a valid pod address, 0 otherwise. */
static int family_of(const char *ip)
{
	unsigned char bin[16];

	if (memchr(ip, '\0', CRID_CNI_IP_LEN) == NULL || strchr(ip, '/'))
		return 0;
	if (inet_pton(AF_INET, ip, bin) == 1)
		return bin[0] == 127 ? 0 : 4;
	if (inet_pton(AF_INET6, ip, bin) == 1)
		return IN6_IS_ADDR_LOOPBACK((struct in6_addr *)bin) ? 0 : 6;
	return 0;
}

static void check(const struct crid_cni_result *res)
{
	int last = 4;

	if (res->n_ips > CRID_CNI_MAX_IPS || res->json)
		abort();
	for (size_t i = 0; i < res->n_ips; i++) {
		int f = family_of(res->ips[i]);

		if (f == 0 || f < last)
			abort();
		last = f;
	}
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	size_t base = crid_mem_used();
	struct crid_cni_result res;
	char *buf;

	if (size > (1u << 20))
		return 0;
	buf = malloc(size + 1);
	if (!buf)
		return 0;
	memcpy(buf, data, size);
	buf[size] = '\0';
	if (crid_cni_result_parse(buf, size, &res) == 0)
		check(&res);
	free(buf);
	if (crid_mem_used() != base)
		abort();
	return 0;
}
