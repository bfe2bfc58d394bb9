/* SPDX-License-Identifier: MIT */
#ifndef ASYNCPROF_TEST_BUILD_FILE_H
#define ASYNCPROF_TEST_BUILD_FILE_H

#include <criterion/criterion.h>
#include <stdio.h>
#include <stdlib.h>
#include <unistd.h>

/*
 * The path of $BUILD/dir/name, a file a make target builds (named in the failure when it is
 * missing); the caller frees it.
 */
static inline char *build_file(const char *dir, const char *name, const char *target)
{
	const char *build = getenv("BUILD");
	char *path;

	cr_assert_not_null(build, "BUILD must name the build directory");
	cr_assert_geq(asprintf(&path, "%s/%s/%s", build, dir, name), 0);
	cr_assert_eq(access(path, R_OK), 0, "%s is missing: make %s", path, target);
	return path;
}

#endif
