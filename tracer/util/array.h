/* SPDX-License-Identifier: MIT */
#ifndef ASYNCPROF_ARRAY_H
#define ASYNCPROF_ARRAY_H

#include <stdbool.h>
#include <stdlib.h>

/*
 * Grows *arr (elements of elem bytes, capacity *cap) so that it holds at least need elements,
 * doubling to keep appends amortized O(1). On failure *arr and *cap are unchanged.
 */
static inline bool array_grow(void **arr, size_t *cap, size_t need, size_t elem)
{
	size_t ncap = *cap ? *cap * 2 : 64;
	void *p;

	if (need <= *cap)
		return true;
	while (ncap < need)
		ncap *= 2;
	p = realloc(*arr, ncap * elem);
	if (!p)
		return false;
	*arr = p;
	*cap = ncap;
	return true;
}

#endif
