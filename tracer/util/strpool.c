// SPDX-License-Identifier: MIT
#include "strpool.h"
#include "hashmap.h"

#include <pthread.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

/* The string lives right after its header: a reference is the address of s[]. */
struct pooled {
	size_t refs;
	uint64_t hash;
	char s[];
};

/* Open addressing over pointers to the pooled strings (NULL: empty; TOMBSTONE: removed). */
static struct pooled **slots;
static size_t cap, used, live;
static pthread_mutex_t lock = PTHREAD_MUTEX_INITIALIZER;
static struct pooled tombstone;
#define TOMBSTONE (&tombstone)

static struct pooled *header(const char *s)
{
	return (struct pooled *)(void *)(s - offsetof(struct pooled, s));
}

/* The slot that holds s (hash h), or the empty slot where it would go; NULL without a table. */
static struct pooled **find(const char *s, uint64_t h)
{
	struct pooled **grave = NULL;

	if (!cap)
		return NULL;
	for (size_t i = h & (cap - 1);; i = (i + 1) & (cap - 1)) {
		struct pooled *p = slots[i];

		if (!p)
			return grave ? grave : &slots[i];
		if (p == TOMBSTONE) {
			if (!grave)
				grave = &slots[i];
		} else if (p->hash == h && strcmp(p->s, s) == 0) {
			return &slots[i];
		}
	}
}

/* Keeps the table at most half used, tombstones included (a rehash drops them and leaves it a
 * quarter full at most). Returns false on ENOMEM. */
static bool make_room(void)
{
	struct pooled **old = slots;
	size_t ocap = cap, ncap;

	if ((used + 1) * 2 <= cap)
		return true;
	ncap = 64;
	while (ncap < (live + 1) * 4)
		ncap *= 2;
	slots = calloc(ncap, sizeof(*slots));
	if (!slots) {
		slots = old;
		return false;
	}
	cap = ncap;
	used = live;
	for (size_t i = 0; i < ocap; i++) {
		struct pooled *p = old[i];

		if (p && p != TOMBSTONE)
			*find(p->s, p->hash) = p;
	}
	free(old);
	return true;
}

const char *strpool_ref(const char *s)
{
	size_t len;
	uint64_t h;
	struct pooled **slot, *p = NULL;

	if (!s)
		return NULL;
	len = strlen(s);
	h = hash_bytes(s, len);
	pthread_mutex_lock(&lock);
	if (make_room() && (slot = find(s, h))) {
		p = *slot;
		if (p && p != TOMBSTONE) {
			p->refs++;
		} else if ((p = malloc(sizeof(*p) + len + 1))) {
			p->refs = 1;
			p->hash = h;
			memcpy(p->s, s, len + 1);
			used += !*slot;
			*slot = p;
			live++;
		}
	}
	pthread_mutex_unlock(&lock);
	return p ? p->s : NULL;
}

void strpool_unref(const char *s)
{
	struct pooled *p, **slot;

	if (!s)
		return;
	p = header(s);
	pthread_mutex_lock(&lock);
	if (--p->refs == 0) {
		slot = find(p->s, p->hash);
		if (slot && *slot == p) {
			*slot = TOMBSTONE;
			live--;
		}
		free(p);
	}
	pthread_mutex_unlock(&lock);
}

size_t strpool_size(void)
{
	size_t n;

	pthread_mutex_lock(&lock);
	n = live;
	pthread_mutex_unlock(&lock);
	return n;
}
