// SPDX-License-Identifier: MIT
#include <criterion/criterion.h>
#include <stdio.h>
#include <string.h>

#include "model/profile.h"
#include "profile_builder.h"

Test(profile, new_copies_types)
{
	char type[] = "samples", unit[] = "count", ptype[] = "cpu", punit[] = "nanoseconds";
	struct profile_value_type t = { type, unit }, pt = { ptype, punit };
	struct profile *p = profile_new(&t, 1, 0, pt, 1000);

	cr_assert_not_null(p);
	strcpy(type, "XXXXXXX");
	strcpy(unit, "XXXXX");
	strcpy(ptype, "XXX");
	cr_assert_eq(p->nsample_types, 1);
	cr_assert_str_eq(p->sample_types[0].type, "samples");
	cr_assert_str_eq(p->sample_types[0].unit, "count");
	cr_assert_str_eq(p->period_type.type, "cpu");
	cr_assert_str_eq(p->period_type.unit, "nanoseconds");
	cr_assert_eq(p->period, 1000);
	cr_assert_eq(p->default_sample_type, 0);
	cr_assert(p->nmappings == 0 && p->nfunctions == 0 && p->nlocations == 0 &&
		  p->nsamples == 0);
	profile_free(p);
}

Test(profile, intern_returns_one_copy_per_content)
{
	struct profile *p = tb_cpu_profile();
	char buf[] = "hello";
	const char *a = profile_intern(p, "hello"), *b = profile_intern(p, buf);

	cr_assert_not_null(a);
	cr_assert_eq(a, b, "same content, same pointer");
	cr_assert_neq(a, buf, "the profile keeps its own copy");
	buf[0] = 'j';
	cr_assert_str_eq(a, "hello");
	cr_assert_neq(profile_intern(p, "jello"), a);
	cr_assert_null(profile_intern(p, NULL));
	cr_assert_str_eq(profile_intern(p, ""), "");
	profile_free(p);
}

Test(profile, mappings_dedup_on_range_offset_and_file)
{
	struct profile *p = tb_cpu_profile();
	struct profile_mapping m = { .start = 0x1000, .limit = 0x2000, .offset = 0x100,
				     .file = "/bin/a", .build_id = "aa", .has_functions = true };
	struct profile_mapping other = m;
	const struct profile_mapping *got;
	uint64_t a, b, c;

	a = profile_add_mapping(p, &m);
	other.build_id = "bb"; /* not part of a mapping's identity */
	b = profile_add_mapping(p, &other);
	other.offset = 0x200;
	c = profile_add_mapping(p, &other);
	cr_assert_eq(a, 1);
	cr_assert_eq(b, 1);
	cr_assert_eq(c, 2);
	cr_assert_eq(p->nmappings, 2);
	got = profile_mapping(p, 1);
	cr_assert_eq(got->id, 1);
	cr_assert(got->start == 0x1000 && got->limit == 0x2000 && got->offset == 0x100);
	cr_assert_str_eq(got->file, "/bin/a");
	cr_assert_str_eq(got->build_id, "aa");
	cr_assert(got->has_functions && !got->has_filenames);
	cr_assert_str_eq(profile_mapping(p, 2)->build_id, "bb");
	cr_assert_null(profile_mapping(p, 0));
	cr_assert_null(profile_mapping(p, 3));

	/* NULL strings are stored as "". */
	m.file = NULL;
	m.build_id = NULL;
	got = profile_mapping(p, profile_add_mapping(p, &m));
	cr_assert_str_eq(got->file, "");
	cr_assert_str_eq(got->build_id, "");
	profile_free(p);
}

Test(profile, functions_dedup_on_names_and_file)
{
	struct profile *p = tb_cpu_profile();
	uint64_t a = profile_add_function(p, "f", NULL, "a.c", 10);
	uint64_t b = profile_add_function(p, "f", "f", "a.c", 99);
	uint64_t c = profile_add_function(p, "f", NULL, "b.c", 10);
	uint64_t d = profile_add_function(p, "f", "_Z1fv", "a.c", 10);
	uint64_t e = profile_add_function(p, NULL, NULL, NULL, 0);
	const struct profile_function *fa = profile_function(p, a);

	cr_assert_eq(a, 1);
	cr_assert_eq(b, 2, "NULL system_name means none, not the name again");
	cr_assert_eq(c, 3);
	cr_assert_eq(d, 4);
	cr_assert_eq(e, 5);
	cr_assert_eq(p->nfunctions, 5);
	cr_assert_eq(fa->id, 1);
	cr_assert_str_eq(fa->name, "f");
	cr_assert_str_eq(fa->system_name, "");
	cr_assert_str_eq(fa->file, "a.c");
	cr_assert_eq(fa->start_line, 10, "the first definition wins");
	cr_assert_str_eq(profile_function(p, d)->system_name, "_Z1fv");
	cr_assert_str_eq(profile_function(p, e)->name, "");
	cr_assert_str_eq(profile_function(p, e)->file, "");
	cr_assert_str_eq(profile_function(p, b)->system_name, "f");
	cr_assert_null(profile_function(p, 6));
	profile_free(p);
}

Test(profile, locations_dedup_on_mapping_address_and_lines)
{
	struct profile *p = tb_cpu_profile();
	struct profile_mapping m = { .start = 1, .limit = 2, .file = "x" };
	uint64_t mid = profile_add_mapping(p, &m);
	uint64_t f = tb_function(p, "f"), g = tb_function(p, "g");
	struct profile_line lines[2] = { { f, 1 }, { g, 2 } };
	struct profile_line swapped[2] = { { g, 2 }, { f, 1 } };
	const struct profile_location *loc;
	uint64_t a, b, c, d, e;

	a = profile_add_location(p, mid, 0x10, lines, 2);
	b = profile_add_location(p, mid, 0x10, lines, 2);
	c = profile_add_location(p, mid, 0x10, swapped, 2);
	d = profile_add_location(p, mid, 0x10, lines, 1);
	e = profile_add_location(p, 0, 0x10, lines, 2);
	cr_assert(a == 1 && b == 1 && c == 2 && d == 3 && e == 4);
	cr_assert_eq(p->nlocations, 4);
	/* The lines were copied. */
	lines[0].line = 999;
	loc = profile_location(p, a);
	cr_assert_eq(loc->id, 1);
	cr_assert_eq(loc->mapping_id, mid);
	cr_assert_eq(loc->address, 0x10);
	cr_assert_eq(loc->nlines, 2);
	cr_assert(loc->lines[0].function_id == f && loc->lines[0].line == 1);
	cr_assert(loc->lines[1].function_id == g && loc->lines[1].line == 2);
	cr_assert_eq(profile_location(p, e)->mapping_id, 0);
	cr_assert_null(profile_location(p, 0));
	profile_free(p);
}

Test(profile, samples_merge_on_stack_and_labels)
{
	struct profile *p = tb_cpu_profile();
	uint64_t stack[] = { tb_frame(p, "leaf"), tb_frame(p, "root") };
	char thread[] = "worker-1";
	struct profile_label labels[] = {
		{ .key = "thread_name", .str = thread },
		{ .key = "tid", .num = 7, .num_unit = "id" },
	};
	int64_t v1[] = { 1, 10 }, v2[] = { 2, 20 };
	const struct profile_sample *s;
	const struct profile_label *l;

	cr_assert_eq(profile_add_sample(p, stack, 2, v1, labels, 2), 0);
	cr_assert_eq(profile_add_sample(p, stack, 2, v2, labels, 2), 0);
	cr_assert_eq(p->nsamples, 1, "same stack and labels: merged");
	s = &p->samples[0];
	cr_assert(s->values[0] == 3 && s->values[1] == 30);

	/* Labels were copied: changing the caller's strings changes nothing. */
	strcpy(thread, "worker-9");
	l = profile_sample_label(s, "thread_name");
	cr_assert_not_null(l);
	cr_assert_str_eq(l->str, "worker-1");
	l = profile_sample_label(s, "tid");
	cr_assert(l && !l->str && l->num == 7);
	cr_assert_str_eq(l->num_unit, "id");
	cr_assert_null(profile_sample_label(s, "pid"));

	/* A different label value, a different stack, no labels: three new samples. */
	cr_assert_eq(profile_add_sample(p, stack, 2, v1, labels, 2), 0); /* now worker-9 */
	cr_assert_eq(profile_add_sample(p, stack, 1, v1, labels, 2), 0);
	cr_assert_eq(profile_add_sample(p, stack, 2, v1, NULL, 0), 0);
	cr_assert_eq(p->nsamples, 4);
	cr_assert_eq(p->samples[1].location_ids, p->samples[0].location_ids,
		     "one copy of a stack for all its label sets");
	cr_assert_eq(p->samples[2].nlocations, 1);
	cr_assert_eq(p->samples[3].nlabels, 0);
	cr_assert_eq(profile_total(p, 0), 3 + 1 + 1 + 1);
	cr_assert_eq(profile_total(p, 1), 30 + 10 + 10 + 10);
	profile_free(p);
}

Test(profile, string_label_ignores_num)
{
	struct profile *p = tb_cpu_profile();
	uint64_t loc = tb_frame(p, "f");
	struct profile_label a = { .key = "k", .str = "v", .num = 1 };
	struct profile_label b = { .key = "k", .str = "v", .num = 2 };
	int64_t v[] = { 1, 1 };

	cr_assert_eq(profile_add_sample(p, &loc, 1, v, &a, 1), 0);
	cr_assert_eq(profile_add_sample(p, &loc, 1, v, &b, 1), 0);
	cr_assert_eq(p->nsamples, 1);
	cr_assert_eq(p->samples[0].labels[0].num, 0);
	profile_free(p);
}

Test(profile, empty_stack_sample)
{
	struct profile *p = tb_cpu_profile();
	int64_t v[] = { 4, 40 };

	cr_assert_eq(profile_add_sample(p, NULL, 0, v, NULL, 0), 0);
	cr_assert_eq(profile_add_sample(p, NULL, 0, v, NULL, 0), 0);
	cr_assert_eq(p->nsamples, 1);
	cr_assert_eq(p->samples[0].nlocations, 0);
	cr_assert_eq(p->samples[0].values[0], 8);
	profile_free(p);
}

/* Enough entries to grow every array and hash table several times. */
Test(profile, many_entries_keep_ids_and_pointers)
{
	struct profile *p = tb_cpu_profile();
	const char *first = profile_intern(p, "fn0");
	int64_t v[] = { 1, 1 };
	enum { N = 5000 };

	for (int i = 0; i < N; i++) {
		char name[16];
		uint64_t fid, lid;
		struct profile_line line;

		snprintf(name, sizeof(name), "fn%d", i);
		fid = profile_add_function(p, name, NULL, "f.c", i);
		cr_assert_eq(fid, (uint64_t)i + 1);
		line = (struct profile_line){ fid, i };
		lid = profile_add_location(p, 0, 0x1000 + (uint64_t)i, &line, 1);
		cr_assert_eq(lid, (uint64_t)i + 1);
		cr_assert_eq(profile_add_sample(p, &lid, 1, v, NULL, 0), 0);
	}
	cr_assert_eq(p->nfunctions, N);
	cr_assert_eq(p->nlocations, N);
	cr_assert_eq(p->nsamples, N);
	/* Everything is still found, and interned strings did not move. */
	cr_assert_eq(profile_function(p, 1)->name, first);
	for (int i = 0; i < N; i += 97) {
		char name[16];
		struct profile_line line = { (uint64_t)i + 1, i };
		uint64_t lid;

		snprintf(name, sizeof(name), "fn%d", i);
		cr_assert_eq(profile_add_function(p, name, NULL, "f.c", 0), (uint64_t)i + 1);
		lid = profile_add_location(p, 0, 0x1000 + (uint64_t)i, &line, 1);
		cr_assert_eq(lid, (uint64_t)i + 1);
		cr_assert_eq(profile_add_sample(p, &lid, 1, v, NULL, 0), 0);
		cr_assert_eq(p->samples[i].values[0], 2);
	}
	cr_assert_eq(p->nfunctions, N);
	cr_assert_eq(p->nsamples, N);
	profile_free(p);
}

static bool drop_odd_task(const struct profile_sample *s, const struct profile_label *l, void *ctx)
{
	const struct profile_label *task = profile_sample_label(s, "task_id");

	(void)ctx;
	return task && task->num % 2 && (strcmp(l->key, "task_id") == 0 ||
					 strcmp(l->key, "parent_id") == 0);
}

/* Folded tasks' samples lose their task labels and merge by stack; the others are untouched. */
Test(profile, drop_labels_merges_what_became_equal)
{
	struct profile *p = tb_cpu_profile();
	uint64_t a = tb_frame(p, "a"), b = tb_frame(p, "b");
	int64_t v[] = { 1, 10 };

	for (int64_t task = 1; task <= 6; task++) {
		/* The task's own label first: dropping it must not hide it from the others. */
		struct profile_label l[] = {
			{ .key = "task_id", .num = task },
			{ .key = "thread_name", .str = "w" },
			{ .key = "parent_id", .num = 100 },
		};

		cr_assert_eq(profile_add_sample(p, &a, 1, v, l, 3), 0);
		cr_assert_eq(profile_add_sample(p, task == 6 ? &b : &a, 1, v, l + 1, 1), 0);
	}
	cr_assert_eq(p->nsamples, 6 + 2);
	cr_assert_eq(profile_drop_labels(p, drop_odd_task, NULL), 0);
	/* Tasks 1, 3, 5 merged with the thread-only sample at a; 2, 4, 6 kept apart; b's alone. */
	cr_assert_eq(p->nsamples, 1 + 3 + 1);
	cr_assert_eq(profile_total(p, 0), 12);
	for (size_t i = 0; i < p->nsamples; i++) {
		const struct profile_sample *s = &p->samples[i];
		const struct profile_label *t = profile_sample_label(s, "task_id");

		if (t) {
			cr_assert_eq(t->num % 2, 0);
			cr_assert_eq(s->nlabels, 3);
			cr_assert_eq(s->values[0], 1);
		} else {
			cr_assert_eq(s->nlabels, 1);
			cr_assert_str_eq(s->labels[0].str, "w");
			cr_assert_eq(s->values[0], s->location_ids[0] == a ? 5 + 3 : 1);
			cr_assert_eq(s->values[1], s->location_ids[0] == a ? 80 : 10);
		}
	}
	/* Later samples still merge with the rebuilt ones. */
	{
		struct profile_label l = { .key = "thread_name", .str = "w" };
		size_t before = p->nsamples;

		cr_assert_eq(profile_add_sample(p, &b, 1, v, &l, 1), 0);
		cr_assert_eq(p->nsamples, before);
	}
	cr_assert_eq(profile_drop_labels(p, drop_odd_task, NULL), 0, "nothing left to drop");
	profile_free(p);
}
