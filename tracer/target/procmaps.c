// SPDX-License-Identifier: MIT
/*
 * /proc/PID/maps is read in one go into a buffer the proc_maps keeps, and every line is parsed
 * in place, so paths point into that buffer and reading a process's maps costs three allocations.
 * The kernel prints a newline inside a path as "\012" (and nothing else escaped); paths are
 * decoded back, so a path is always the file name the target used.
 */
#include "procmaps.h"

#include <ctype.h>
#include <errno.h>
#include <fcntl.h>
#include <inttypes.h>
#include <limits.h>
#include <stddef.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>
#include <sys/stat.h>

/* A proc_maps and the text of /proc/PID/maps its paths point into. */
struct maps_storage {
	struct proc_maps maps;
	char *text;
};

static const char deleted_suffix[] = " (deleted)";

/* Parses a hex number that must be followed by delim; advances *p past delim. */
static int parse_hex(char **p, char delim, uint64_t *out)
{
	unsigned long long value;
	char *end;

	if (!isxdigit((unsigned char)**p))
		return -EINVAL;
	errno = 0;
	value = strtoull(*p, &end, 16);
	if (errno || *end != delim)
		return -EINVAL;
	*out = value;
	*p = end + 1;
	return 0;
}

static void decode_newlines(char *path)
{
	char *out = path;

	for (const char *in = path; *in;) {
		if (strncmp(in, "\\012", 4) == 0) {
			*out++ = '\n';
			in += 4;
		} else {
			*out++ = *in++;
		}
	}
	*out = '\0';
}

int procmaps_parse_line(char *line, struct proc_mapping *m)
{
	uint64_t major, minor;
	char *p = line, *nl;
	size_t len;

	memset(m, 0, sizeof(*m));
	if (parse_hex(&p, '-', &m->start) || parse_hex(&p, ' ', &m->end))
		return -EINVAL;
	if (m->end <= m->start)
		return -EINVAL;
	if (strlen(p) < 5 || !strchr("r-", p[0]) || !strchr("w-", p[1]) || !strchr("x-", p[2]) ||
	    !strchr("ps", p[3]) || p[4] != ' ')
		return -EINVAL;
	m->readable = p[0] == 'r';
	m->writable = p[1] == 'w';
	m->executable = p[2] == 'x';
	p += 5;
	if (parse_hex(&p, ' ', &m->offset) || parse_hex(&p, ':', &major) ||
	    parse_hex(&p, ' ', &minor))
		return -EINVAL;
	m->dev_major = major;
	m->dev_minor = minor;

	/* The inode ends the line for anonymous memory; otherwise padding and the path follow. */
	if (!isdigit((unsigned char)*p))
		return -EINVAL;
	errno = 0;
	m->inode = strtoull(p, &p, 10);
	if (errno || (*p != ' ' && *p != '\n' && *p != '\0'))
		return -EINVAL;
	while (*p == ' ')
		p++;
	nl = strchr(p, '\n');
	if (nl)
		*nl = '\0';

	len = strlen(p);
	if (len >= sizeof(deleted_suffix) &&
	    strcmp(p + len - (sizeof(deleted_suffix) - 1), deleted_suffix) == 0) {
		p[len - (sizeof(deleted_suffix) - 1)] = '\0';
		m->deleted = true;
	}
	decode_newlines(p);
	m->path = p;
	return 0;
}

int procfs_read(const char *path, char **out, size_t *out_len)
{
	size_t len = 0, cap = 65536;
	char *buf = malloc(cap);
	int fd, err = 0;

	if (!buf)
		return -ENOMEM;
	fd = open(path, O_RDONLY | O_CLOEXEC);
	if (fd < 0) {
		err = -errno;
		free(buf);
		return err;
	}
	for (;;) {
		ssize_t n;

		if (cap - len < 4096) {
			char *bigger = realloc(buf, cap * 2);

			if (!bigger) {
				err = -ENOMEM;
				break;
			}
			buf = bigger;
			cap *= 2;
		}
		n = read(fd, buf + len, cap - len - 1);
		if (n < 0 && errno == EINTR)
			continue;
		if (n < 0) {
			err = -errno;
			break;
		}
		if (n == 0)
			break;
		len += n;
	}
	close(fd);
	if (err) {
		free(buf);
		return err;
	}
	buf[len] = '\0';
	*out = buf;
	if (out_len)
		*out_len = len;
	return 0;
}

int procfs_read_text(const char *path, char **out)
{
	return procfs_read(path, out, NULL);
}

static int compare_mappings(const void *a, const void *b)
{
	const struct proc_mapping *x = a, *y = b;

	return x->start < y->start ? -1 : x->start > y->start;
}

int procmaps_read(pid_t pid, struct proc_maps **out)
{
	struct maps_storage *st;
	size_t lines = 0, n = 0;
	char path[64], *text, *line;
	bool sorted = true;
	int err;

	snprintf(path, sizeof(path), "/proc/%d/maps", (int)pid);
	err = procfs_read_text(path, &text);
	if (err)
		return err;
	/* A live process always has mappings; none means it exited while we read. */
	if (!*text) {
		free(text);
		return -ESRCH;
	}
	for (const char *c = text; *c; c++)
		lines += *c == '\n';
	st = calloc(1, sizeof(*st));
	if (st)
		st->maps.mappings = calloc(lines + 1, sizeof(*st->maps.mappings));
	if (!st || !st->maps.mappings) {
		free(st);
		free(text);
		return -ENOMEM;
	}
	st->text = text;
	st->maps.pid = pid;

	for (line = text; *line; n++) {
		char *next = strchr(line, '\n');

		if (next)
			*next++ = '\0';
		err = procmaps_parse_line(line, &st->maps.mappings[n]);
		if (err) {
			procmaps_free(&st->maps);
			return err;
		}
		if (n && st->maps.mappings[n].start < st->maps.mappings[n - 1].start)
			sorted = false;
		line = next ? next : line + strlen(line);
	}
	st->maps.count = n;
	/* The kernel prints mappings in address order; sort anyway so lookups need not trust it. */
	if (!sorted)
		qsort(st->maps.mappings, n, sizeof(*st->maps.mappings), compare_mappings);
	*out = &st->maps;
	return 0;
}

void procmaps_free(struct proc_maps *maps)
{
	struct maps_storage *st;

	if (!maps)
		return;
	st = (struct maps_storage *)((char *)maps - offsetof(struct maps_storage, maps));
	free(st->text);
	free(maps->mappings);
	free(st);
}

static int compare_address(const void *key, const void *elem)
{
	uint64_t addr = *(const uint64_t *)key;
	const struct proc_mapping *m = elem;

	return addr < m->start ? -1 : addr >= m->end;
}

const struct proc_mapping *procmaps_find(const struct proc_maps *maps, uint64_t addr)
{
	if (!maps->count)
		return NULL;
	return bsearch(&addr, maps->mappings, maps->count, sizeof(*maps->mappings),
		       compare_address);
}

bool procmaps_is_file(const struct proc_mapping *m)
{
	/* Files have absolute paths; the kernel names everything else "[...]" or "anon_inode:". */
	return m->path[0] == '/';
}

static int open_map_file(pid_t pid, const struct proc_mapping *m)
{
	char path[96];
	int fd;

	snprintf(path, sizeof(path), "/proc/%d/map_files/%" PRIx64 "-%" PRIx64, (int)pid, m->start,
		 m->end);
	fd = open(path, O_RDONLY | O_CLOEXEC);
	return fd < 0 ? -errno : fd;
}

int procmaps_open_file(pid_t pid, const struct proc_mapping *m)
{
	char path[PATH_MAX + 32];
	struct stat st;
	int fd, alt;

	if (!procmaps_is_file(m))
		return -EINVAL;
	if (m->deleted)
		return open_map_file(pid, m);

	if ((size_t)snprintf(path, sizeof(path), "/proc/%d/root%s", (int)pid, m->path) >=
	    sizeof(path))
		return -ENAMETOOLONG;
	fd = open(path, O_RDONLY | O_CLOEXEC);
	fd = fd < 0 ? -errno : fd;
	if (fd >= 0 && fstat(fd, &st) == 0 && st.st_ino == m->inode)
		return fd;

	/*
	 * The path is gone or now names another file (a package upgrade renames the new version
	 * over the old one). map_files reaches the mapped file itself, but needs CAP_SYS_ADMIN,
	 * and overlayfs may report an inode in maps that differs from stat(), so a path that
	 * opened is still the best guess when map_files fails.
	 */
	alt = open_map_file(pid, m);
	if (alt < 0)
		return fd;
	if (fd >= 0)
		close(fd);
	return alt;
}
