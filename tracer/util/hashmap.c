// SPDX-License-Identifier: MIT
#include "hashmap.h"

#include <errno.h>
#include <stdlib.h>
#include <string.h>
#include <assert.h>

/* Keys of up to 8 bytes (ids, addresses: most keys) are kept in the entry itself, not copied
 * to a block of their own: a malloc'd block costs at least 32 bytes. */
#define INLINE_KEY 8

struct entry {
	uint64_t hash; /* 0 marks an empty slot */
	union {
		void *ptr;
		unsigned char bytes[INLINE_KEY];
	} key;
	size_t len;
	uint64_t value;
};

static const void *entry_key(const struct entry *e)
{
	return e->len <= INLINE_KEY ? e->key.bytes : e->key.ptr;
}

static void entry_free(struct entry *e)
{
	if (e->hash && e->len > INLINE_KEY)
		free(e->key.ptr);
}

struct hashmap {
	struct entry *slots;
	size_t cap; /* power of two */
	size_t size;
};

/* FNV-1a over 8-byte words, then a final mix; fast and good enough for interning. */
uint64_t hash_bytes(const void *data, size_t len)
{
	const unsigned char *p = data;
	uint64_t h = 0xcbf29ce484222325ULL ^ len;
	size_t i = 0;

	for (; i + 8 <= len; i += 8) {
		uint64_t w;

		memcpy(&w, p + i, 8);
		h = (h ^ w) * 0x100000001b3ULL;
		h ^= h >> 29;
	}
	for (; i < len; i++)
		h = (h ^ p[i]) * 0x100000001b3ULL;
	h ^= h >> 33;
	h *= 0xff51afd7ed558ccdULL;
	h ^= h >> 33;
	return h ? h : 1;
}

struct hashmap *hashmap_new(void)
{
	struct hashmap *map = calloc(1, sizeof(*map));

	if (!map)
		return NULL;
	map->cap = 64;
	map->slots = calloc(map->cap, sizeof(*map->slots));
	if (!map->slots) {
		free(map);
		return NULL;
	}
	return map;
}

void hashmap_free(struct hashmap *map)
{
	if (!map)
		return;
	for (size_t i = 0; i < map->cap; i++)
		entry_free(&map->slots[i]);
	free(map->slots);
	free(map);
}

static struct entry *find_slot(struct entry *slots, size_t cap, uint64_t hash, const void *key,
			       size_t len)
{
	size_t mask = cap - 1;

	for (size_t i = hash & mask;; i = (i + 1) & mask) {
		struct entry *e = &slots[i];

		if (!e->hash)
			return e;
		if (e->hash == hash && e->len == len && memcmp(entry_key(e), key, len) == 0)
			return e;
	}
}

static int grow(struct hashmap *map)
{
	size_t cap = map->cap * 2;
	struct entry *slots = calloc(cap, sizeof(*slots));

	if (!slots)
		return -ENOMEM;
	for (size_t i = 0; i < map->cap; i++) {
		struct entry *old = &map->slots[i];

		if (old->hash)
			*find_slot(slots, cap, old->hash, entry_key(old), old->len) = *old;
	}
	free(map->slots);
	map->slots = slots;
	map->cap = cap;
	return 0;
}

bool hashmap_get(const struct hashmap *map, const void *key, size_t len, uint64_t *value)
{
	struct entry *e = find_slot(map->slots, map->cap, hash_bytes(key, len), key, len);

	if (!e->hash)
		return false;
	if (value)
		*value = e->value;
	return true;
}

int hashmap_put(struct hashmap *map, const void *key, size_t len, uint64_t value)
{
	uint64_t hash = hash_bytes(key, len);
	struct entry *e;

	if ((map->size + 1) * 4 > map->cap * 3) {
		int err = grow(map);

		if (err)
			return err;
	}
	e = find_slot(map->slots, map->cap, hash, key, len);
	if (!e->hash) {
		if (len > INLINE_KEY) {
			e->key.ptr = malloc(len);
			if (!e->key.ptr)
				return -ENOMEM;
			memcpy(e->key.ptr, key, len);
		} else if (len) {
			memcpy(e->key.bytes, key, len);
		}
		e->hash = hash;
		e->len = len;
		map->size++;
	}
	e->value = value;
	return 0;
}

/*
 * Linear probing cannot leave a hole where a later key's probe sequence passes: the entries
 * after the removed one are moved back when their home slot allows (backward-shift deletion).
 */
bool hashmap_del(struct hashmap *map, const void *key, size_t len)
{
	size_t mask = map->cap - 1, hole, i;
	struct entry *e = find_slot(map->slots, map->cap, hash_bytes(key, len), key, len);

	if (!e->hash)
		return false;
	entry_free(e);
	hole = (size_t)(e - map->slots);
	for (i = (hole + 1) & mask; map->slots[i].hash; i = (i + 1) & mask) {
		size_t home = map->slots[i].hash & mask;

		/* Movable unless its home lies cyclically in (hole, i]. */
		if ((i > hole && (home <= hole || home > i)) ||
		    (i < hole && home <= hole && home > i)) {
			map->slots[hole] = map->slots[i];
			hole = i;
		}
	}
	memset(&map->slots[hole], 0, sizeof(map->slots[hole]));
	map->size--;
	return true;
}

size_t hashmap_size(const struct hashmap *map)
{
	return map->size;
}

int hashmap_each(const struct hashmap *map,
		 int (*fn)(const void *key, size_t len, uint64_t value, void *arg), void *arg)
{
	for (size_t i = 0; i < map->cap; i++) {
		const struct entry *e = &map->slots[i];
		int ret;

		if (!e->hash)
			continue;
		ret = fn(entry_key(e), e->len, e->value, arg);
		if (ret)
			return ret;
	}
	return 0;
}
