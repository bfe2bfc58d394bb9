// SPDX-License-Identifier: MIT
#include "arena.h"

#include <stdalign.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#define ARENA_BLOCK (256 * 1024)

struct arena_block {
	struct arena_block *next;
	size_t used, size;
	alignas(max_align_t) unsigned char data[];
};

void *arena_alloc(struct arena *a, size_t n, size_t size)
{
	const size_t align = alignof(max_align_t);
	struct arena_block *b = a->head;
	size_t bytes;
	void *p;

	if (size && n > (SIZE_MAX - sizeof(*b) - align) / size)
		return NULL;
	bytes = (n * size + align - 1) & ~(align - 1);
	if (!b || b->size - b->used < bytes) {
		size_t cap = bytes > ARENA_BLOCK ? bytes : ARENA_BLOCK;

		b = malloc(sizeof(*b) + cap);
		if (!b)
			return NULL;
		b->next = a->head;
		b->used = 0;
		b->size = cap;
		a->head = b;
	}
	p = b->data + b->used;
	b->used += bytes;
	memset(p, 0, bytes);
	return p;
}

void arena_free(struct arena *a)
{
	while (a->head) {
		struct arena_block *next = a->head->next;

		free(a->head);
		a->head = next;
	}
}
