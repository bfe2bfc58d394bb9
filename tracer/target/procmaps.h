/* SPDX-License-Identifier: MIT */
#ifndef ASYNCPROF_PROCMAPS_H
#define ASYNCPROF_PROCMAPS_H

#include <stddef.h>
#include <stdint.h>
#include <stdbool.h>
#include <sys/types.h>

/*
 * procmaps: one process's memory mappings, read from /proc/PID/maps.
 *
 * Entries are sorted by start address and do not overlap. Paths are as the target sees them
 * (inside its mount namespace); open them with procmaps_open_file(), which goes through
 * /proc/PID/root. The proc_maps owns every string in it.
 */
struct proc_mapping {
	uint64_t start, end; /* [start, end) */
	uint64_t offset;     /* file offset of start */
	uint64_t inode;
	unsigned int dev_major, dev_minor;
	bool readable, writable, executable;
	const char *path; /* "" for anonymous memory; "[vdso]", "[stack]", ... for special ones */
	bool deleted;	  /* the path ended in " (deleted)", which is stripped from path */
};

struct proc_maps {
	pid_t pid;
	size_t count;
	struct proc_mapping *mappings;
};

/* Returns 0 or -errno (-ENOENT/-ESRCH when the process is gone). */
int procmaps_read(pid_t pid, struct proc_maps **out);
void procmaps_free(struct proc_maps *maps); /* accepts NULL */

/*
 * Parses one line of /proc/PID/maps in place: m->path points into line, whose trailing newline
 * and " (deleted)" suffix are cut off. Returns 0 or -EINVAL.
 */
int procmaps_parse_line(char *line, struct proc_mapping *m);

/*
 * Reads a whole file of /proc (whose size stat() does not report) into *out, a malloc'd
 * NUL-terminated buffer. Returns 0 or -errno.
 */
int procfs_read_text(const char *path, char **out);

/* The same, for a file that may hold NUL bytes (/proc/PID/environ): its length in *len. */
int procfs_read(const char *path, char **out, size_t *len);

/* The mapping that contains addr, or NULL. O(log n). */
const struct proc_mapping *procmaps_find(const struct proc_maps *maps, uint64_t addr);

/* True for mappings backed by a regular file (not anonymous, not [vdso]-like). */
bool procmaps_is_file(const struct proc_mapping *m);

/*
 * Opens the mapping's file as the target sees it (/proc/PID/root/PATH, or
 * /proc/PID/map_files/START-END when the file was deleted). Returns an fd or -errno.
 */
int procmaps_open_file(pid_t pid, const struct proc_mapping *m);

#endif
