/* SPDX-License-Identifier: MIT */
#ifndef ASYNCPROF_HASHMAP_H
#define ASYNCPROF_HASHMAP_H

#include <stddef.h>
#include <stdint.h>
#include <stdbool.h>

/*
 * hashmap: byte-string keys to 64-bit values, open addressing.
 *
 * The map copies every key it stores, so callers may pass keys that live on their stack.
 * Values are plain integers (an id or an index into the caller's array); the map never
 * owns what they refer to. A value of any kind may be stored, including 0.
 */
struct hashmap;

struct hashmap *hashmap_new(void);
void hashmap_free(struct hashmap *map); /* accepts NULL */

/* Returns true and sets *value when the key is present. */
bool hashmap_get(const struct hashmap *map, const void *key, size_t len, uint64_t *value);

/* Inserts or replaces. Returns 0 or -ENOMEM. */
int hashmap_put(struct hashmap *map, const void *key, size_t len, uint64_t value);

/* Removes the key; returns true when it was there. */
bool hashmap_del(struct hashmap *map, const void *key, size_t len);

size_t hashmap_size(const struct hashmap *map);

/* Calls fn for each entry in no particular order; stops early when fn returns non-zero. */
int hashmap_each(const struct hashmap *map,
		 int (*fn)(const void *key, size_t len, uint64_t value, void *arg), void *arg);

uint64_t hash_bytes(const void *data, size_t len);

#endif
