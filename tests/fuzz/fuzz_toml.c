/*
 * libFuzzer target for the TOML parser and the config schema on top of it:
 * any bytes must give a tree or an error, never a crash, a leak or a tree
 * nested deeper than CRID_TOML_MAX_DEPTH.
 */
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "reactor/mem.h"
#include "runtime/config/config.h"
#include "runtime/config/toml.h"

static void check_tree(const struct crid_toml_value *v, unsigned depth)
{
	if ((v->type == CRID_TOML_TABLE || v->type == CRID_TOML_ARRAY) &&
	    depth > CRID_TOML_MAX_DEPTH)
		abort();
	if (v->type == CRID_TOML_STRING && v->u.str.ptr[v->u.str.len] != '\0')
		abort();
	for (size_t i = 0; i < crid_toml_len(v); i++) {
		if (v->type == CRID_TOML_TABLE) {
			const struct crid_toml_kv *kv = crid_toml_table_at(v, i);

			/* Every key must be found again through the (maybe hashed) lookup. */
			if (crid_toml_get_kv(v, kv->key, kv->key_len) != kv)
				abort();
			check_tree(kv->value, depth + 1);
		} else {
			check_tree(crid_toml_array_at(v, i), depth + 1);
		}
	}
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	size_t base = crid_mem_used();
	struct crid_toml_value *root;
	struct crid_config cfg;
	struct crid_err err;

	if (crid_toml_parse("fuzz.toml", (const char *)data, size, &root, &err) == 0) {
		check_tree(root, 0);
		crid_toml_free(root);
	} else if (strncmp(err.msg, "fuzz.toml:", 10) != 0) {
		abort(); /* every parse error carries its position */
	}
	if (crid_config_init_defaults(&cfg, &err) == 0) {
		crid_config_load_buffer(&cfg, "fuzz.toml", (const char *)data, size, &err);
		crid_config_validate(&cfg, &err);
		crid_config_free(&cfg);
	}
	if (crid_mem_used() != base)
		abort();
	return 0;
}
