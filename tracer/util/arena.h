/* SPDX-License-Identifier: MIT */
#ifndef ASYNCPROF_ARENA_H
#define ASYNCPROF_ARENA_H

#include <stddef.h>

/*
 * arena: memory for many small objects that die together (the messages of one encoding), taken
 * from large blocks and released at once by arena_free(). Nothing is freed alone. A zeroed
 * struct arena is an empty arena.
 */
struct arena {
	struct arena_block *head;
};

/* n zeroed elements of size bytes, aligned for any type; NULL on ENOMEM or overflow. */
void *arena_alloc(struct arena *a, size_t n, size_t size);

/* Releases every allocation; the arena is empty again. */
void arena_free(struct arena *a);

#endif
