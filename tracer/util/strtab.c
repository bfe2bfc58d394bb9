// SPDX-License-Identifier: MIT
#include "strtab.h"
#include "array.h"
#include "output/file.h"

#include <errno.h>
#include <stdlib.h>
#include <string.h>

int strtab_init(struct strtab *st)
{
	memset(st, 0, sizeof(*st));
	st->index = hashmap_new();
	if (!st->index || !array_grow((void **)&st->strs, &st->cap, 1, sizeof(*st->strs)) ||
	    hashmap_put(st->index, "", 0, 0))
		return -ENOMEM;
	st->strs[st->n++] = "";
	return 0;
}

void strtab_free(struct strtab *st)
{
	for (size_t i = 0; i < st->nowned; i++)
		free(st->owned[i]);
	free(st->owned);
	free(st->strs);
	hashmap_free(st->index);
	memset(st, 0, sizeof(*st));
}

int64_t strtab_index(struct strtab *st, const char *s)
{
	char *fixed = NULL;
	uint64_t idx;

	if (!s)
		s = "";
	if (!output_utf8_valid(s)) {
		fixed = output_utf8_dup(s);
		if (!fixed)
			return -1;
		s = fixed;
	}
	if (hashmap_get(st->index, s, strlen(s), &idx)) {
		free(fixed);
		return (int64_t)idx;
	}
	if (!array_grow((void **)&st->strs, &st->cap, st->n + 1, sizeof(*st->strs)) ||
	    (fixed && !array_grow((void **)&st->owned, &st->cap_owned, st->nowned + 1,
				  sizeof(*st->owned))) ||
	    hashmap_put(st->index, s, strlen(s), st->n)) {
		free(fixed);
		return -1;
	}
	if (fixed)
		st->owned[st->nowned++] = fixed;
	st->strs[st->n] = (char *)s;
	return (int64_t)st->n++;
}
