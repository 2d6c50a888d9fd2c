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

/* Tests: the |n|th allocation from now fails (0 = disable injection). */
void crid_mem_fail_after(long n);

#endif
