// SPDX-License-Identifier: MIT
#include <criterion/criterion.h>
#include <stdio.h>
#include <string.h>

#include "model/tasks.h"
#include "util/strpool.h"

/* Equal strings share one copy; the copy goes with its last reference. */
Test(strpool, one_copy_per_string_freed_with_the_last_reference)
{
	size_t before = strpool_size();
	char buf[32];
	const char *a, *b, *c;

	strcpy(buf, "main.fetchResult");
	a = strpool_ref(buf);
	strcpy(buf, "main.fetchResult");
	b = strpool_ref(buf);
	c = strpool_ref("main.handleRequest");
	cr_assert_str_eq(a, "main.fetchResult");
	cr_assert_eq(a, b, "equal strings are one copy");
	cr_assert_neq(a, buf);
	cr_assert_neq(a, c);
	cr_assert_eq(strpool_size(), before + 2);
	strpool_unref(a);
	cr_assert_str_eq(b, "main.fetchResult", "still referenced once");
	strpool_unref(b);
	strpool_unref(c);
	cr_assert_eq(strpool_size(), before);
	cr_assert_null(strpool_ref(NULL));
	strpool_unref(NULL);
}

/* Many strings in and out (growth, removal, reinsertion over removed slots) keep every one
 * findable and counted. */
Test(strpool, survives_growth_and_removals)
{
	size_t before = strpool_size();
	const char *refs[5000];
	char name[32];

	for (int round = 0; round < 3; round++) {
		for (int i = 0; i < 5000; i++) {
			snprintf(name, sizeof(name), "site %d", i);
			refs[i] = strpool_ref(name);
			cr_assert_str_eq(refs[i], name);
		}
		cr_assert_eq(strpool_size(), before + 5000);
		for (int i = 0; i < 5000; i++) {
			snprintf(name, sizeof(name), "site %d", i);
			cr_assert_eq(strpool_ref(name), refs[i], "found again: %s", name);
			strpool_unref(refs[i]);
		}
		for (int i = 0; i < 5000; i += 2)
			strpool_unref(refs[i]);
		cr_assert_eq(strpool_size(), before + 2500);
		for (int i = 1; i < 5000; i += 2)
			strpool_unref(refs[i]);
		cr_assert_eq(strpool_size(), before);
	}
}

/* The tasks of one site hold one copy of its strings, released with the table. */
Test(strpool, tasks_share_their_site_strings)
{
	size_t before = strpool_size();
	struct task_table *tt = task_table_new();

	for (uint64_t id = 1; id <= 1000; id++) {
		struct task_rec *t = task_get(tt, id);

		cr_assert_not_null(t);
		task_set_shared(&t->name, "main.fetchResult");
		task_set_shared(&t->spawned_at, "main.handleRequest (main.go:110)");
	}
	cr_assert_eq(task_find(tt, 1)->name, task_find(tt, 1000)->name);
	cr_assert_eq(strpool_size(), before + 2);
	task_table_free(tt);
	cr_assert_eq(strpool_size(), before);
}
