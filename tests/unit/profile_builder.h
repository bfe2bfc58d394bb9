/* SPDX-License-Identifier: MIT */
#ifndef ASYNCPROF_TEST_PROFILE_BUILDER_H
#define ASYNCPROF_TEST_PROFILE_BUILDER_H

/*
 * Small profiles for the writers' tests, shaped like the tracer's CPU profile: two sample types
 * (samples/count, then cpu/nanoseconds = count * TB_PERIOD), cpu being the default.
 */
#include <criterion/criterion.h>
#include <stdarg.h>
#include <stdio.h>

#include "output/folded.h"
#include "model/profile.h"

#define TB_PERIOD 10000000 /* 10 ms, i.e. sampling at 100 Hz */

static inline struct profile *tb_cpu_profile(void)
{
	static const struct profile_value_type types[] = {
		{ "samples", "count" },
		{ "cpu", "nanoseconds" },
	};
	struct profile *p = profile_new(types, 2, 1, types[1], TB_PERIOD);

	cr_assert_not_null(p);
	return p;
}

static inline uint64_t tb_function(struct profile *p, const char *name)
{
	uint64_t id = profile_add_function(p, name, NULL, "demo.c", 1);

	cr_assert_neq(id, 0);
	return id;
}

/*
 * A location in mapping_id whose lines are the NULL-terminated list of function names,
 * innermost (inlined) first, like the symbolizer reports them.
 */
static inline uint64_t tb_location(struct profile *p, uint64_t mapping_id, uint64_t address, ...)
{
	struct profile_line lines[16];
	size_t n = 0;
	const char *name;
	va_list ap;
	uint64_t id;

	va_start(ap, address);
	while ((name = va_arg(ap, const char *)) != NULL) {
		cr_assert_lt(n, 16);
		lines[n].function_id = tb_function(p, name);
		lines[n].line = 10 * (int64_t)(n + 1);
		n++;
	}
	va_end(ap);
	id = profile_add_location(p, mapping_id, address, lines, n);
	cr_assert_neq(id, 0);
	return id;
}

/* The location of a single, not inlined function, one per name. */
static inline uint64_t tb_frame(struct profile *p, const char *name)
{
	uint64_t fid = tb_function(p, name);

	return tb_location(p, 0, 0x1000 * fid, name, NULL);
}

/* Adds count samples (and count * TB_PERIOD ns) on thread with the given leaf-first stack. */
static inline void tb_sample_at(struct profile *p, int64_t count, const char *thread,
				const uint64_t *locations, size_t n)
{
	struct profile_label label = { .key = "thread_name", .str = thread };
	int64_t values[2] = { count, count * TB_PERIOD };

	cr_assert_eq(profile_add_sample(p, locations, n, values, &label, thread ? 1 : 0), 0);
}

/* Same, with the stack given as function names, leaf first, NULL-terminated. */
static inline void tb_sample(struct profile *p, int64_t count, const char *thread, ...)
{
	uint64_t locations[64];
	size_t n = 0;
	const char *name;
	va_list ap;

	va_start(ap, thread);
	while ((name = va_arg(ap, const char *)) != NULL) {
		cr_assert_lt(n, 64);
		locations[n++] = tb_frame(p, name);
	}
	va_end(ap);
	tb_sample_at(p, count, thread, locations, n);
}

/* folded_write() into a string (malloc'd). */
static inline char *tb_folded_text(const struct profile *p, size_t value_index,
				   const char *root_key)
{
	char *buf = NULL;
	size_t len = 0;
	FILE *f = open_memstream(&buf, &len);

	cr_assert_not_null(f);
	cr_assert_eq(folded_write(p, value_index, root_key, f), 0);
	fclose(f);
	return buf;
}

#endif
