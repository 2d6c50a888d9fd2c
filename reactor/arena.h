/*
 * A bump allocator for one RPC's temporaries (protobuf decode and encode):
 * everything is released at once by crid_arena_reset(), so unpacking a
 * request costs no per-field free. The first chunk lives inline.
 */
#ifndef CRID_ARENA_H
#define CRID_ARENA_H

#include <stddef.h>

#define CRID_ARENA_INLINE 4096

struct crid_arena_chunk;

struct crid_arena {
	struct crid_arena_chunk *chunks; /* heap chunks, newest first */
	unsigned char *cur;
	size_t left;
	size_t total; /* bytes handed out */
	size_t limit; /* 0 = no limit */
	_Alignas(16) unsigned char inline_buf[CRID_ARENA_INLINE];
};

/* |limit| caps the bytes handed out (0 = none); allocation beyond it fails. */
void crid_arena_init(struct crid_arena *a, size_t limit);

/* 16-byte aligned; NULL when out of memory or over the limit. */
void *crid_arena_alloc(struct crid_arena *a, size_t n);

/* Frees every chunk; the arena can be used again. */
void crid_arena_reset(struct crid_arena *a);

#endif
