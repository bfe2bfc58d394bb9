/* SPDX-License-Identifier: MIT */
#ifndef ASYNCPROF_OUTPUT_FILE_H
#define ASYNCPROF_OUTPUT_FILE_H

#include <stdbool.h>
#include <stddef.h>
#include <stdio.h>

/*
 * output: how every writer puts a file on disk, plus the UTF-8 repair the text formats need.
 *
 * Files go into a directory opened once with output_dir_open() and are always named relative to
 * its descriptor (openat, renameat): a path is resolved once, checked, and cannot be swapped for
 * a symbolic link between the check and the writes. asyncprof runs as root and is pointed at
 * directories other users may be able to write, such as /tmp (see output_dir_open()).
 *
 * A file is written to a temporary file in the destination directory, flushed to disk, then
 * renamed over its final name. Readers (a viewer, a CI job, a second asyncprof run) therefore
 * see either the previous file or the complete new one, never a truncated profile, even when
 * the tracer is killed or the disk fills up half way. The first error of a write (ENOSPC,
 * EDQUOT, EIO) is kept and is what the commit reports.
 *
 * An output_file is owned by the caller (usually on its stack) and must not move between
 * output_open() and output_commit() or output_abort(): its stream writes through it. In between,
 * of->f is the stream to write to; afterwards it is NULL.
 */
struct output_file {
	FILE *f;
	int fd;		/* the temporary file's descriptor, under f */
	int dirfd;	/* the directory (not owned) */
	char *name;	/* final name */
	char *tmp_name; /* the temporary file being written */
	int err;	/* first write error (-errno), 0 when none */
};

/*
 * Opens the results directory path, creating it (mode 0755) when absent; with must_create, a
 * directory that already exists is refused (a predictable default name that someone else could
 * have made first). Refused as well, with -EPERM and a sentence in why: a path whose last
 * component is a symbolic link; a directory that belongs to another user; a symbolic link on the
 * way that a user other than root and the caller could replace (one in a directory such a user
 * can write). The directory must let a file be created in it (a read-only mount, a full quota
 * are found here, before anything is recorded). Paths of any length work: nothing is copied into
 * a fixed buffer. Returns 0 and the directory's descriptor in *dirfd, or -errno (why set for
 * -EPERM only).
 */
int output_dir_open(const char *path, bool must_create, int *dirfd, char *why, size_t why_size);

/*
 * Creates a temporary file for name in the directory dirfd (AT_FDCWD: the current directory)
 * and opens of->f on it. Returns 0 or -errno; on failure nothing is left behind.
 */
int output_open(struct output_file *of, int dirfd, const char *name);

/*
 * Flushes, syncs and renames the temporary file to its final name. Any write error seen on
 * of->f since output_open() fails the commit. Returns 0 or -errno; on failure the temporary
 * file is removed and the previous file of that name, if any, is left untouched.
 */
int output_commit(struct output_file *of);

/* Closes and removes the temporary file. Safe after output_commit() and on a zeroed struct. */
void output_abort(struct output_file *of);

/*
 * For a writer that failed with err while writing to of->f: aborts of and returns the error the
 * file system gave (ENOSPC rather than a writer's generic EIO) when there was one, else err.
 */
int output_fail(struct output_file *of, int err);

/* Writes len bytes of data as name in dirfd in one step. Returns 0 or -errno. */
int output_write_file(int dirfd, const char *name, const void *data, size_t len);

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
