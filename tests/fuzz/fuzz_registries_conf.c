/*
 * libFuzzer target for containers-registries.conf(5) and reference
 * resolution: the input up to its first NUL byte is the file, the rest (when
 * there is a NUL) one image reference; without a NUL a few fixed references
 * are resolved. Loading must give registries or an error naming the file
 * with its position, never a crash or a leak; resolving a reference must
 * give endpoints or an error, and every endpoint has a host, an API host and
 * a repository path, all NUL-terminated within their buffers.
 */
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "reactor/mem.h"
#include "runtime/image/registries.h"

static const char *const fixed_refs[] = {
	"busybox",
	"docker.io/library/busybox:1.36",
	"quay.io/a/b@sha256:0123456789abcdef0123456789abcdef0123456789abcdef0123456789abcdef",
	"localhost:5000/x/y:tag",
	"m.corp.example/team/app:v1",
};

static void check_endpoint(const struct crid_endpoint *e)
{
	if (!memchr(e->host, '\0', sizeof(e->host)) || !e->host[0] ||
	    !memchr(e->api_host, '\0', sizeof(e->api_host)) || !e->api_host[0] ||
	    !memchr(e->path, '\0', sizeof(e->path)) || !e->path[0] ||
	    !memchr(e->ca_file, '\0', sizeof(e->ca_file)))
		abort();
}

static void resolve(const struct crid_registries *regs, const char *s)
{
	struct crid_endpoint_list list = { 0 };
	struct crid_image_ref ref;
	struct crid_err err;

	if (crid_image_ref_parse(s, &ref, &err) < 0 || ref.kind != CRID_REF_NAMED)
		return;
	if (crid_registries_resolve(regs, &ref, &list, &err) == 0) {
		if (list.n == 0)
			abort(); /* the registry itself is always the last resort */
		for (size_t i = 0; i < list.n; i++)
			check_endpoint(&list.v[i]);
	}
	crid_endpoint_list_free(&list);
}

static void load_and_resolve(const char *text, size_t len, const char *ref)
{
	struct crid_registries *regs = NULL;
	struct crid_err err;

	if (crid_registries_load_buffer(&regs, NULL, "fuzz.conf", text, len, &err) < 0) {
		if (strncmp(err.msg, "fuzz.conf", 9) != 0)
			abort(); /* every error names the file */
		return;
	}
	if (crid_registries_set_certs_dir(regs, "/nonexistent/certs.d", &err) < 0)
		abort();
	if (ref) {
		resolve(regs, ref);
	} else {
		for (size_t i = 0; i < sizeof(fixed_refs) / sizeof(fixed_refs[0]); i++)
			resolve(regs, fixed_refs[i]);
	}
	crid_registries_free(regs);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	size_t base = crid_mem_used();
	const uint8_t *nul = memchr(data, '\0', size);
	size_t len = nul ? (size_t)(nul - data) : size;
	char *text, *ref = NULL;

	if (size > (1u << 20))
		return 0;
	text = malloc(len + 1);
	if (!text)
		abort();
	memcpy(text, data, len);
	text[len] = '\0';
	if (nul) {
		ref = malloc(size - len);
		if (!ref)
			abort();
		memcpy(ref, nul + 1, size - len - 1);
		ref[size - len - 1] = '\0';
	}
	load_and_resolve(text, len, ref);
	free(text);
	free(ref);
	if (crid_mem_used() != base)
		abort();
	return 0;
}
