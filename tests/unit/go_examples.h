/* SPDX-License-Identifier: MIT */
#ifndef ASYNCPROF_TEST_GO_EXAMPLES_H
#define ASYNCPROF_TEST_GO_EXAMPLES_H

/* The Go example programs the Go tests read (build/examples/go, made by make go-examples). */
#include <criterion/criterion.h>
#include <fcntl.h>
#include <gelf.h>
#include <stdio.h>
#include <stdlib.h>
#include <unistd.h>

/* The path of example name ("leaky-go1.23-stripped"); the caller frees it. */
static inline char *go_example(const char *name)
{
	const char *build = getenv("BUILD");
	char *path;

	cr_assert_not_null(build, "BUILD must name the build directory");
	cr_assert_geq(asprintf(&path, "%s/examples/go/%s", build, name), 0);
	cr_assert_eq(access(path, R_OK), 0, "%s is missing: make go-examples", path);
	return path;
}

/* Zeroes the section header fields of the ELF header of the file at path, in place. */
static inline void drop_section_headers(const char *path)
{
	Elf64_Ehdr eh;
	int fd = open(path, O_RDWR);

	cr_assert_geq(fd, 0, "cannot open %s", path);
	cr_assert_eq(pread(fd, &eh, sizeof(eh), 0), (ssize_t)sizeof(eh));
	eh.e_shoff = 0;
	eh.e_shnum = 0;
	eh.e_shstrndx = 0;
	cr_assert_eq(pwrite(fd, &eh, sizeof(eh), 0), (ssize_t)sizeof(eh));
	close(fd);
}

#endif
