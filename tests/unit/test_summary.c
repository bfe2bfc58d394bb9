// SPDX-License-Identifier: MIT
#include <criterion/criterion.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "model/profile.h"
#include "profile_builder.h"
#include "output/summary.h"

/*
 * 11 samples: work is the leaf of 5, fib (recursive) of 3, hash (inlined into helper) of 2,
 * and one sample has no stack. idle has a zero value and must not be listed.
 */
static struct profile *sample_profile(void)
{
	struct profile *p = tb_cpu_profile();
	uint64_t inlined[] = { tb_location(p, 0, 0x5000, "hash", "helper", NULL),
			       tb_frame(p, "main") };
	int64_t zero[2] = { 0, 0 };
	uint64_t idle = tb_frame(p, "idle");

	tb_sample(p, 5, "t1", "work", "run", "main", NULL);
	tb_sample(p, 3, "t1", "fib", "fib", "fib", "run", "main", NULL);
	tb_sample_at(p, 2, "t2", inlined, 2);
	tb_sample_at(p, 1, "t2", NULL, 0);
	cr_assert_eq(profile_add_sample(p, &idle, 1, zero, NULL, 0), 0);
	return p;
}

Test(summary, self_and_total_per_function)
{
	static const struct {
		const char *name;
		int64_t self, total;
	} want[] = {
		{ "work", 5, 5 },   { "fib", 3, 3 },  { "hash", 2, 2 }, { "[unknown]", 1, 1 },
		{ "helper", 0, 2 }, { "main", 0, 10 }, { "run", 0, 8 },
	};
	struct profile *p = sample_profile();
	struct func_stat *stats;
	size_t n;

	cr_assert_eq(summary_top_functions(p, 0, &stats, &n), 0);
	cr_assert_eq(n, sizeof(want) / sizeof(want[0]));
	for (size_t i = 0; i < n; i++) {
		cr_assert_str_eq(stats[i].name, want[i].name, "row %zu", i);
		cr_assert_eq(stats[i].self, want[i].self, "%s self", want[i].name);
		cr_assert_eq(stats[i].total, want[i].total, "%s total", want[i].name);
	}
	free(stats);
	profile_free(p);
}

Test(summary, uses_the_value_index)
{
	struct profile *p = sample_profile();
	struct func_stat *stats;
	size_t n;

	cr_assert_eq(summary_top_functions(p, 1, &stats, &n), 0);
	cr_assert_str_eq(stats[0].name, "work");
	cr_assert_eq(stats[0].self, 5 * TB_PERIOD);
	cr_assert_str_eq(stats[5].name, "main");
	cr_assert_eq(stats[5].total, 10 * TB_PERIOD);
	free(stats);
	profile_free(p);
}

Test(summary, empty_profile)
{
	struct profile *p = tb_cpu_profile();
	struct func_stat *stats = (struct func_stat *)1;
	size_t n = 99;

	cr_assert_eq(summary_top_functions(p, 0, &stats, &n), 0);
	cr_assert_eq(n, 0);
	cr_assert_null(stats);
	profile_free(p);
}

Test(summary, print_top_table)
{
	struct profile *p = sample_profile();
	char *buf = NULL;
	size_t len = 0;
	FILE *f = open_memstream(&buf, &len);

	cr_assert_eq(summary_print_top(f, p, 1, 2), 0);
	fclose(f);
	/* Header and exactly two rows; 5 of 11 samples is 45.45%, 3 of 11 is 27.27%. */
	cr_assert_str_eq(buf, "              self   self%              total  total%  function\n"
			      "          50.00 ms  45.45%           50.00 ms  45.45%  work\n"
			      "          30.00 ms  27.27%           30.00 ms  27.27%  fib\n");
	free(buf);
	profile_free(p);
}

Test(summary, format_value)
{
	struct profile_value_type samples = { "samples", "count" };
	struct profile_value_type cpu = { "cpu", "nanoseconds" };
	struct profile_value_type mem = { "alloc_space", "bytes" };
	char buf[64];

	cr_assert_str_eq(summary_format_value(buf, sizeof(buf), 0, &samples), "0 samples");
	cr_assert_str_eq(summary_format_value(buf, sizeof(buf), 1234, &samples), "1,234 samples");
	cr_assert_str_eq(summary_format_value(buf, sizeof(buf), -1500, &samples), "-1,500 samples");
	cr_assert_str_eq(summary_format_value(buf, sizeof(buf), 1234567890, &cpu), "1,234.57 ms");
	cr_assert_str_eq(summary_format_value(buf, sizeof(buf), 999, &cpu), "0.00 ms");
	cr_assert_str_eq(summary_format_value(buf, sizeof(buf), 995000, &cpu), "1.00 ms");
	cr_assert_str_eq(summary_format_value(buf, sizeof(buf), 4096, &mem), "4,096 bytes");
	cr_assert_str_eq(summary_format_value(buf, 6, 1234567, &samples), "1,234");
}
