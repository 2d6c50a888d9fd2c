#include "reactor/arena.h"

#include "reactor/mem.h"

struct crid_arena_chunk {
	struct crid_arena_chunk *next;
	size_t size;
	_Alignas(16) unsigned char data[];
};

void crid_arena_init(struct crid_arena *a, size_t limit)
{
	a->chunks = NULL;
	a->cur = a->inline_buf;
	a->left = sizeof(a->inline_buf);
	a->total = 0;
	a->limit = limit;
}

void *crid_arena_alloc(struct crid_arena *a, size_t n)
{
	struct crid_arena_chunk *c;
	size_t size;
	void *p;

	n = (n + 15) & ~(size_t)15;
	if (n == 0)
		n = 16;
	if (a->limit && (n > a->limit || a->total > a->limit - n))
		return NULL;
	if (n > a->left) {
		size = n > 16384 ? n : 16384;
		c = crid_malloc(sizeof(*c) + size);
		if (!c)
			return NULL;
		c->next = a->chunks;
		c->size = size;
		a->chunks = c;
		a->cur = c->data;
		a->left = size;
	}
	p = a->cur;
	a->cur += n;
	a->left -= n;
	a->total += n;
	return p;
}

void crid_arena_reset(struct crid_arena *a)
{
	while (a->chunks) {
		struct crid_arena_chunk *c = a->chunks;

		a->chunks = c->next;
		crid_free(c);
	}
	crid_arena_init(a, a->limit);
}
