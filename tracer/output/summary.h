/* SPDX-License-Identifier: MIT */
#ifndef ASYNCPROF_SUMMARY_H
#define ASYNCPROF_SUMMARY_H

#include <stddef.h>
#include <stdint.h>
#include <stdio.h>

#include "model/profile.h"

/*
 * summary: the numbers a person reads first, the functions that cost most, and how values are
 * written for people ("1,234 samples", "12.50 ms").
 *
 * Functions are identified by name, so the same function seen through different files or
 * mappings is counted as one. Frames are those of folded_stack_build(), so a sample without a
 * stack counts for "[unknown]".
 */
struct func_stat {
	const char *name; /* borrowed from the profile (or a static "[unknown]") */
	int64_t self;	  /* value of the samples whose innermost frame is this function */
	int64_t total;	  /* value of the samples with this function anywhere, once per sample */
};

/*
 * Computes a func_stat for every function in a sample with a non-zero values[value_index],
 * sorted by self descending, then by name. *out is malloc'd (NULL when *n is 0) and freed by
 * the caller. Returns 0 or -ENOMEM.
 */
int summary_top_functions(const struct profile *prof, size_t value_index, struct func_stat **out,
			  size_t *n);

/*
 * Prints the max_rows functions with the most self value as a table, with percentages of the
 * profile's total. Returns 0 or -ENOMEM.
 */
int summary_print_top(FILE *f, const struct profile *prof, size_t value_index, size_t max_rows);

/*
 * Writes value, of the given sample type, for a person: nanoseconds as milliseconds
 * ("1,234.50 ms"), counts with the type's name ("1,234 samples"), anything else with its unit
 * ("4,096 bytes"). Truncates to fit size like snprintf(); returns buf.
 */
char *summary_format_value(char *buf, size_t size, int64_t value,
			   const struct profile_value_type *type);

#endif
