// SPDX-License-Identifier: MIT
#include <criterion/criterion.h>
#include <stdio.h>
#include <string.h>

#include "util/hashmap.h"

/* Removal from open addressing must keep every other key reachable, wherever it was placed. */
Test(hashmap, del_keeps_the_others)
{
	struct hashmap *m = hashmap_new();
	uint64_t v;
	char key[32];

	for (uint64_t i = 0; i < 5000; i++)
		cr_assert_eq(hashmap_put(m, &i, sizeof(i), i * 3), 0);
	for (int i = 0; i < 200; i++) {
		snprintf(key, sizeof(key), "a longer key number %d", i);
		cr_assert_eq(hashmap_put(m, key, strlen(key), i), 0);
	}
	for (uint64_t i = 0; i < 5000; i += 3)
		cr_assert(hashmap_del(m, &i, sizeof(i)));
	cr_assert_not(hashmap_del(m, &(uint64_t){ 0 }, sizeof(uint64_t)));
	for (int i = 0; i < 200; i += 2) {
		snprintf(key, sizeof(key), "a longer key number %d", i);
		cr_assert(hashmap_del(m, key, strlen(key)));
	}
	for (uint64_t i = 0; i < 5000; i++) {
		bool found = hashmap_get(m, &i, sizeof(i), &v);

		cr_assert_eq(found, i % 3 != 0, "key %lu", i);
		if (found)
			cr_assert_eq(v, i * 3);
	}
	for (int i = 0; i < 200; i++) {
		snprintf(key, sizeof(key), "a longer key number %d", i);
		cr_assert_eq(hashmap_get(m, key, strlen(key), &v), i % 2 != 0);
	}
	cr_assert_eq(hashmap_size(m), 5000 - 1667 + 100);
	hashmap_free(m);
}
