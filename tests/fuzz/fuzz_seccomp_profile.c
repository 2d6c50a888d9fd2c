/*
 * libFuzzer target for Localhost seccomp profiles (a file on the node named
 * by a pod spec): any bytes, as a profile file, go through the loader and,
 * when accepted, the OCI linux.seccomp generator; never a crash or a leak,
 * and what is generated must be one complete JSON object.
 */
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <unistd.h>
#include <yajl/yajl_gen.h>
#include <yajl/yajl_tree.h>

#include "runtime/oci/oci_seccomp.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	struct crid_oci_seccomp s = { 0 };
	struct crid_err err;
	char path[64];
	int fd;

	if (size > (1u << 20))
		return 0;
	fd = memfd_create("profile", MFD_CLOEXEC);
	if (fd < 0)
		return 0;
	if (write(fd, data, size) != (ssize_t)size) {
		close(fd);
		return 0;
	}
	snprintf(path, sizeof(path), "/proc/self/fd/%d", fd);
	if (crid_oci_seccomp_load(&s, path, "seccomp.localhost_ref", &err) == 0) {
		yajl_gen g = yajl_gen_alloc(NULL);
		const unsigned char *out;
		size_t len;
		char ebuf[64], *copy;
		yajl_val v;

		yajl_gen_map_open(g);
		yajl_gen_string(g, (const unsigned char *)"seccomp", 7);
		crid_oci_seccomp_gen(g, &s, ~0ULL);
		yajl_gen_map_close(g);
		if (yajl_gen_get_buf(g, &out, &len) != yajl_gen_status_ok)
			abort();
		copy = strndup((const char *)out, len);
		v = yajl_tree_parse(copy, ebuf, sizeof(ebuf));
		if (!v)
			abort();
		yajl_tree_free(v);
		free(copy);
		yajl_gen_free(g);
		crid_oci_seccomp_free(&s);
	}
	close(fd);
	return 0;
}
