/*
 * Small helpers the OCI spec writer shares: copying a parsed yajl tree into a
 * generator (profiles, the exec process) and reading a bounded file, either on
 * the node or inside a container's root (openat2 RESOLVE_IN_ROOT).
 */
#ifndef CRID_OCI_JSON_H
#define CRID_OCI_JSON_H

#include <stddef.h>
#include <yajl/yajl_gen.h>
#include <yajl/yajl_tree.h>

#include "reactor/err.h"

#define CRID_OCI_GSTR(g, s) yajl_gen_string((g), (const unsigned char *)(s), strlen(s))

/* Writes |v| (any JSON value) to |g|; numbers keep their original text. */
void crid_oci_gen_tree(yajl_gen g, yajl_val v);

/*
 * Reads the regular file |path| (at most |max| bytes, else EFBIG) into a
 * NUL-terminated buffer the caller frees with crid_free(). |root| non-NULL:
 * |path| is resolved inside |root| as if it were "/" (symlinks cannot leave it).
 */
int crid_oci_read_file(const char *root, const char *path, size_t max, char **out, size_t *len,
		       struct crid_err *err);

/* yajl_tree_get() for one key, of |type| (yajl_t_any for any). */
yajl_val crid_oci_get(yajl_val obj, const char *key, yajl_type type);

#endif
