/* SPDX-License-Identifier: MIT */
#ifndef ASYNCPROF_TEST_GO_EXAMPLES_H
#define ASYNCPROF_TEST_GO_EXAMPLES_H

/* The Go example programs the Go tests read (build/examples/go, made by make go-examples). */
#include "build_file.h"
#include <criterion/criterion.h>
#include <fcntl.h>
#include <gelf.h>
#include <stdio.h>
#include <stdlib.h>
#include <unistd.h>

/* The path of example name ("leaky-go1.23-stripped"); the caller frees it. */
static inline char *go_example(const char *name)
{
	return build_file("examples/go", name, "go-examples");
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
