/*
 * The one allocation choke point: counts live bytes (for the density figures
 * and leak checks in tests) and can be told to fail, so error paths get run.
 */
#ifndef CRID_MEM_H
#define CRID_MEM_H

#include <stddef.h>

/* Like malloc/calloc/realloc/free/strdup/strndup; NULL on failure (never abort). */
void *crid_malloc(size_t n);
void *crid_calloc(size_t count, size_t size);
void *crid_realloc(void *p, size_t n);
void crid_free(void *p);
char *crid_strdup(const char *s);
char *crid_strndup(const char *s, size_t n);

/* Bytes currently allocated through these functions. */
size_t crid_mem_used(void);

/*
 * The allocator's view of the heap (glibc mallinfo2; all zero elsewhere):
 * bytes in use (every library's, not only crid's), free but kept, of which
 * at the heap's top (what trimming could return), and in mmapped chunks.
 * Walks the free lists: for diagnostics (verbose Status), not a hot path.
 */
struct crid_mem_heap {
	size_t in_use, free, top_free, mmapped;
};
void crid_mem_heap(struct crid_mem_heap *out);

/* Tests: the |n|th allocation from now fails (0 = disable injection). */
void crid_mem_fail_after(long n);

#endif
