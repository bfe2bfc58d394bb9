/* SPDX-License-Identifier: MIT */
#ifndef ASYNCPROF_OUTPUT_H
#define ASYNCPROF_OUTPUT_H

#include <stdbool.h>
#include <stddef.h>
#include <stdio.h>

/*
 * output: how every writer puts a file on disk, plus the UTF-8 repair the text formats need.
 *
 * A file is written to a temporary file in the destination directory, flushed to disk, then
 * renamed over its final name. Readers (a viewer, a CI job, a second asyncprof run) therefore
 * see either the previous file or the complete new one, never a truncated profile, even when
 * the tracer is killed or the disk fills up half way.
 *
 * An output_file is owned by the caller (usually on its stack). Between output_open() and
 * output_commit() or output_abort(), of->f is the stream to write to; afterwards it is NULL.
 */
struct output_file {
	FILE *f;
	char *path;	/* final path */
	char *tmp_path; /* the temporary file being written */
};

/*
 * Creates a temporary file for dir/name (dir NULL means the current directory) and opens
 * of->f on it. Returns 0 or -errno; on failure nothing is left behind.
 */
int output_open(struct output_file *of, const char *dir, const char *name);

/*
 * Flushes, syncs and renames the temporary file to its final name. Any write error seen on
 * of->f since output_open() fails the commit. Returns 0 or -errno; on failure the temporary
 * file is removed and the previous file of that name, if any, is left untouched.
 */
int output_commit(struct output_file *of);

/* Closes and removes the temporary file. Safe after output_commit() and on a zeroed struct. */
void output_abort(struct output_file *of);

/* Writes len bytes of data as dir/name in one step. Returns 0 or -errno. */
int output_write_file(const char *dir, const char *name, const void *data, size_t len);

/*
 * Length in bytes (1 to 4) of the well-formed UTF-8 character s starts with, or 0 when s
 * starts with a byte that does not begin one (a stray continuation byte, an overlong form, a
 * surrogate, a truncated sequence) or with the terminating NUL.
 */
size_t output_utf8_len(const char *s);

/* True when the NUL-terminated string s is well-formed UTF-8. */
bool output_utf8_valid(const char *s);

/*
 * A malloc'd copy of s in which every byte that is not part of a well-formed UTF-8 character
 * is replaced by U+FFFD. Returns NULL on allocation failure.
 */
char *output_utf8_dup(const char *s);

#endif
