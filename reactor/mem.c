#include "reactor/mem.h"

#include <malloc.h>
#include <stdlib.h>
#include <string.h>

static size_t used;
static long fail_countdown;

/* Failure injection: returns 1 when this allocation must fail. */
static int injected_failure(void)
{
	if (fail_countdown <= 0)
		return 0;
	return --fail_countdown == 0;
}

void *crid_malloc(size_t n)
{
	void *p;

	if (injected_failure())
		return NULL;
	p = malloc(n ? n : 1);
	if (p)
		used += malloc_usable_size(p);
	return p;
}

void *crid_calloc(size_t count, size_t size)
{
	void *p;

	if (injected_failure())
		return NULL;
	p = calloc(count ? count : 1, size ? size : 1);
	if (p)
		used += malloc_usable_size(p);
	return p;
}

void *crid_realloc(void *p, size_t n)
{
	size_t old = p ? malloc_usable_size(p) : 0;
	void *q;

	if (injected_failure())
		return NULL;
	q = realloc(p, n ? n : 1);
	if (!q)
		return NULL;
	used = used - old + malloc_usable_size(q);
	return q;
}

void crid_free(void *p)
{
	if (!p)
		return;
	used -= malloc_usable_size(p);
	free(p);
}

char *crid_strndup(const char *s, size_t n)
{
	size_t len = strnlen(s, n);
	char *d = crid_malloc(len + 1);

	if (!d)
		return NULL;
	memcpy(d, s, len);
	d[len] = '\0';
	return d;
}

char *crid_strdup(const char *s)
{
	return crid_strndup(s, strlen(s));
}

size_t crid_mem_used(void)
{
	return used;
}

void crid_mem_heap(struct crid_mem_heap *out)
{
#if defined(__GLIBC__) && (__GLIBC__ > 2 || __GLIBC_MINOR__ >= 33)
	struct mallinfo2 mi = mallinfo2();

	out->in_use = mi.uordblks + mi.hblkhd;
	out->free = mi.fordblks;
	out->top_free = mi.keepcost;
	out->mmapped = mi.hblkhd;
#else
	memset(out, 0, sizeof(*out));
#endif
}

void crid_mem_fail_after(long n)
{
	fail_countdown = n;
}
