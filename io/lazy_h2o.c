/*
 * picohttpparser as libh2o exports it, loaded by the first streaming
 * request (io/lazylib.h): libh2o brings libuv, libssl and libcrypto along,
 * which an idle daemon should not map. Debian ships no header for it; the
 * declaration matches io/http1.c's and cli/stream_client.c's.
 */
#include <stddef.h>

#include "io/lazylib.h"

struct phr_header {
	const char *name;
	size_t name_len;
	const char *value;
	size_t value_len;
};

int phr_parse_request(const char *buf, size_t len, const char **method, size_t *method_len,
		      const char **path, size_t *path_len, int *minor_version,
		      struct phr_header *headers, size_t *num_headers, size_t last_len);

/* -1 is picohttpparser's "malformed": without the library no request parses. */
CRID_LAZY_FN(crid_lazy_h2o, int, phr_parse_request,
	     (const char *buf, size_t len, const char **method, size_t *method_len,
	      const char **path, size_t *path_len, int *minor_version, struct phr_header *headers,
	      size_t *num_headers, size_t last_len),
	     (buf, len, method, method_len, path, path_len, minor_version, headers, num_headers,
	      last_len),
	     -1)
