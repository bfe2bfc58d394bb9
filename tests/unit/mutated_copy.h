/* SPDX-License-Identifier: MIT */
#ifndef ASYNCPROF_TEST_MUTATED_COPY_H
#define ASYNCPROF_TEST_MUTATED_COPY_H

#include "build_file.h"
#include <criterion/criterion.h>
#include <stdio.h>
#include <stdlib.h>
#include <unistd.h>

/*
 * A copy of the file at path, in a new directory made from the template dir, whose symbols or
 * notes matching regex lie as mutation says (tests/tools/mutate_elf.c); the caller frees it and
 * removes it with mutated_copy_remove().
 */
static inline char *mutated_copy(const char *path, const char *regex, const char *mutation,
				 char *dir)
{
	char *tool = build_file("tests", "mutate_elf", "unit"), *copy, *cmd;

	cr_assert_not_null(mkdtemp(dir));
	cr_assert_geq(asprintf(&copy, "%s/copy", dir), 0);
	cr_assert_geq(asprintf(&cmd, "'%s' '%s' '%s' '%s' %s >/dev/null", tool, path, copy, regex,
			       mutation),
		      0);
	cr_assert_eq(system(cmd), 0, "%s failed", cmd);
	free(cmd);
	free(tool);
	return copy;
}

static inline void mutated_copy_remove(char *copy, const char *dir)
{
	unlink(copy);
	rmdir(dir);
	free(copy);
}

#endif
