/*
 * libFuzzer target for the registry JSON parsers: any bytes go to the
 * manifest, index and image config parsers (and the kind detector); each
 * must give a result or an error, never a crash or a leak, and what it
 * accepts must hold only valid digests.
 */
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "reactor/mem.h"
#include "runtime/image/manifest.h"

static void check_manifest(const struct crid_manifest *m)
{
	if (!crid_image_ref_digest_valid(m->config.digest))
		abort();
	for (size_t i = 0; i < m->n_layers; i++)
		if (!crid_image_ref_digest_valid(m->layers[i].digest))
			abort();
}

static void check_index(const struct crid_index *idx)
{
	struct crid_platform p;
	const struct crid_descriptor *d;
	struct crid_err err;

	for (size_t i = 0; i < idx->n_manifests; i++)
		if (!crid_image_ref_digest_valid(idx->manifests[i].digest))
			abort();
	crid_platform_host(&p);
	if (crid_index_select(idx, &p, &d, &err) == 0 &&
	    (d < idx->manifests || d >= idx->manifests + idx->n_manifests))
		abort();
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	const char *buf = (const char *)data;
	size_t base = crid_mem_used();
	struct crid_manifest m;
	struct crid_index idx;
	struct crid_image_config c;
	struct crid_err err;

	crid_manifest_kind(NULL, buf, size);
	if (crid_manifest_parse(NULL, buf, size, &m, &err) == 0) {
		check_manifest(&m);
		crid_manifest_free(&m);
	}
	if (crid_index_parse(CRID_MT_OCI_INDEX, buf, size, &idx, &err) == 0) {
		check_index(&idx);
		crid_index_free(&idx);
	}
	if (crid_image_config_parse(buf, size, &c, &err) == 0) {
		char(*chain)[CRID_DIGEST_LEN + 1] = crid_calloc(c.diff_ids.n + 1, sizeof(*chain));

		if (chain && crid_chain_ids(c.diff_ids.v, c.diff_ids.n, chain, &err) < 0)
			abort(); /* the parser let an invalid diff ID through */
		crid_free(chain);
		crid_image_config_free(&c);
	}
	if (crid_mem_used() != base)
		abort();
	return 0;
}
