// SPDX-License-Identifier: MIT
#include <criterion/criterion.h>

#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>
#include <sys/mman.h>
#include <sys/stat.h>
#include <sys/wait.h>

#include "target/procmaps.h"

static struct proc_mapping parse(const char *text)
{
	static char line[512];
	struct proc_mapping m;

	snprintf(line, sizeof(line), "%s", text);
	cr_assert_eq(procmaps_parse_line(line, &m), 0, "cannot parse: %s", text);
	return m;
}

Test(procmaps, parses_a_file_mapping)
{
	struct proc_mapping m = parse("7f1c2a400000-7f1c2a5b5000 r-xp 00026000 fe:01 1835321"
				      "                    /usr/lib/x86_64-linux-gnu/libc.so.6\n");

	cr_assert_eq(m.start, 0x7f1c2a400000);
	cr_assert_eq(m.end, 0x7f1c2a5b5000);
	cr_assert_eq(m.offset, 0x26000);
	cr_assert_eq(m.dev_major, 0xfe);
	cr_assert_eq(m.dev_minor, 0x01);
	cr_assert_eq(m.inode, 1835321);
	cr_assert(m.readable && !m.writable && m.executable);
	cr_assert(!m.deleted);
	cr_assert_str_eq(m.path, "/usr/lib/x86_64-linux-gnu/libc.so.6");
	cr_assert(procmaps_is_file(&m));
}

Test(procmaps, keeps_spaces_and_strips_deleted)
{
	struct proc_mapping m = parse("55d0c8a00000-55d0c8a01000 r--s 00001000 08:02 42     "
				      "/tmp/my dir/lib x.so (deleted)");

	cr_assert_str_eq(m.path, "/tmp/my dir/lib x.so");
	cr_assert(m.deleted);
	cr_assert(m.readable && !m.writable && !m.executable);

	m = parse("55d0c8a00000-55d0c8a01000 r--p 00000000 08:02 42 /tmp/ends with space ");
	cr_assert_str_eq(m.path, "/tmp/ends with space ");
	cr_assert(!m.deleted);
}

Test(procmaps, decodes_newlines_in_paths)
{
	struct proc_mapping m = parse("1000-2000 r--p 00000000 08:02 7 /tmp/a\\012b");

	cr_assert_str_eq(m.path, "/tmp/a\nb");
}

Test(procmaps, parses_special_and_anonymous_mappings)
{
	struct proc_mapping m = parse("7ffd5a3f2000-7ffd5a3f4000 r-xp 00000000 00:00 0"
				      "                          [vdso]");

	cr_assert_str_eq(m.path, "[vdso]");
	cr_assert(!procmaps_is_file(&m));

	m = parse("ffffffffff600000-ffffffffff601000 --xp 00000000 00:00 0  [vsyscall]");
	cr_assert_eq(m.start, 0xffffffffff600000);
	cr_assert_str_eq(m.path, "[vsyscall]");
	cr_assert(!m.readable && m.executable);

	m = parse("7f1c2a200000-7f1c2a300000 rw-p 00000000 00:00 0 \n");
	cr_assert_str_eq(m.path, "");
	cr_assert(!procmaps_is_file(&m));

	m = parse("7f1c2a200000-7f1c2a300000 rw-p 00000000 00:00 0");
	cr_assert_str_eq(m.path, "");
}

Test(procmaps, rejects_malformed_lines)
{
	const char *bad[] = {
	    "",
	    "7f1c2a400000 r-xp 00026000 fe:01 1835321 /lib.so",
	    "7f1c2a400000-7f1c2a300000 r-xp 00026000 fe:01 1835321 /lib.so",
	    "7f1c2a400000-7f1c2a5b5000 rzxp 00026000 fe:01 1835321 /lib.so",
	    "7f1c2a400000-7f1c2a5b5000 r-xp 00026000 fe01 1835321 /lib.so",
	    "7f1c2a400000-7f1c2a5b5000 r-xp 00026000 fe:01 x /lib.so",
	    "-1000-2000 r-xp 00000000 fe:01 1 /lib.so",
	};

	for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
		char line[128];
		struct proc_mapping m;

		snprintf(line, sizeof(line), "%s", bad[i]);
		cr_assert_eq(procmaps_parse_line(line, &m), -EINVAL, "accepted: '%s'", bad[i]);
	}
}

static void find_in_self(uint64_t addr, struct proc_maps **maps, const struct proc_mapping **m)
{
	cr_assert_eq(procmaps_read(getpid(), maps), 0);
	*m = procmaps_find(*maps, addr);
	cr_assert_not_null(*m, "no mapping holds %#lx", (unsigned long)addr);
}

Test(procmaps, reads_own_maps_sorted)
{
	struct proc_maps *maps;
	const struct proc_mapping *m;
	char exe[PATH_MAX];
	ssize_t len = readlink("/proc/self/exe", exe, sizeof(exe) - 1);
	int on_stack = 0;

	cr_assert_gt(len, 0);
	exe[len] = '\0';
	find_in_self((uintptr_t)&find_in_self, &maps, &m);
	cr_assert_eq(maps->pid, getpid());
	cr_assert_gt(maps->count, 5);
	for (size_t i = 1; i < maps->count; i++)
		cr_assert_leq(maps->mappings[i - 1].end, maps->mappings[i].start,
			      "mappings %zu and %zu overlap or are out of order", i - 1, i);

	cr_assert(m->executable);
	cr_assert_str_eq(m->path, exe);
	cr_assert(procmaps_is_file(m));
	cr_assert_eq(procmaps_find(maps, m->end - 1), m);
	cr_assert_neq(procmaps_find(maps, m->end), m);
	cr_assert_eq(procmaps_find(maps, m->start), m);

	m = procmaps_find(maps, (uintptr_t)&on_stack);
	cr_assert_not_null(m);
	cr_assert_str_eq(m->path, "[stack]");
	cr_assert_null(procmaps_find(maps, 0));
	cr_assert_null(procmaps_find(maps, maps->mappings[0].start - 1));
	procmaps_free(maps);
	procmaps_free(NULL);
}

Test(procmaps, opens_mapped_file)
{
	struct proc_maps *maps;
	const struct proc_mapping *m;
	struct stat st;
	int fd;

	find_in_self((uintptr_t)&find_in_self, &maps, &m);
	fd = procmaps_open_file(getpid(), m);
	cr_assert_geq(fd, 0, "cannot open %s: %s", m->path, strerror(-fd));
	cr_assert_eq(fstat(fd, &st), 0);
	cr_assert_eq(st.st_ino, m->inode);
	close(fd);

	m = procmaps_find(maps, (uintptr_t)&st);
	cr_assert_eq(procmaps_open_file(getpid(), m), -EINVAL);
	procmaps_free(maps);
}

/* Maps a new file holding text at path, and returns the mapping. */
static void *map_new_file(const char *path, const char *text)
{
	int fd = open(path, O_RDWR | O_CREAT | O_TRUNC, 0600);
	void *p;

	cr_assert_geq(fd, 0, "cannot create %s", path);
	cr_assert_eq(write(fd, text, strlen(text)), (ssize_t)strlen(text));
	p = mmap(NULL, 4096, PROT_READ, MAP_PRIVATE, fd, 0);
	cr_assert_neq(p, MAP_FAILED);
	close(fd);
	return p;
}

static void assert_opens_content(const struct proc_mapping *m, const char *text)
{
	char buf[64] = {0};
	struct stat st;
	int fd = procmaps_open_file(getpid(), m);

	cr_assert_geq(fd, 0, "cannot open %s: %s", m->path, strerror(-fd));
	cr_assert_eq(fstat(fd, &st), 0);
	cr_assert_eq(st.st_ino, m->inode, "opened another file than the mapped one");
	cr_assert_eq(read(fd, buf, sizeof(buf) - 1), (ssize_t)strlen(text));
	cr_assert_str_eq(buf, text);
	close(fd);
}

Test(procmaps, finds_deleted_files_through_map_files)
{
	char path[] = "/tmp/asyncprof procmaps deleted XXXXXX";
	struct proc_maps *maps;
	const struct proc_mapping *m;
	void *p;

	close(mkstemp(path));
	p = map_new_file(path, "gone but mapped");
	cr_assert_eq(unlink(path), 0);

	find_in_self((uintptr_t)p, &maps, &m);
	cr_assert(m->deleted);
	cr_assert_str_eq(m->path, path);
	assert_opens_content(m, "gone but mapped");
	procmaps_free(maps);
	munmap(p, 4096);
}

Test(procmaps, opens_the_mapped_file_after_a_rename_over_it)
{
	char path[] = "/tmp/asyncprof-procmaps-XXXXXX";
	char other[sizeof(path) + 4];
	struct proc_maps *maps;
	const struct proc_mapping *m;
	void *p;
	int fd;

	close(mkstemp(path));
	p = map_new_file(path, "old version");
	/* A package upgrade: the new version is renamed over the path. */
	snprintf(other, sizeof(other), "%s.new", path);
	fd = open(other, O_WRONLY | O_CREAT | O_TRUNC, 0600);
	cr_assert_geq(fd, 0);
	cr_assert_eq(write(fd, "new version", 11), 11);
	close(fd);
	cr_assert_eq(rename(other, path), 0);

	find_in_self((uintptr_t)p, &maps, &m);
	cr_assert(m->deleted, "the kernel marks a file renamed over as deleted");
	assert_opens_content(m, "old version");
	procmaps_free(maps);
	munmap(p, 4096);
	unlink(path);
}

Test(procmaps, falls_back_to_map_files_when_the_path_names_another_file)
{
	struct proc_maps *maps;
	const struct proc_mapping *self, *lib;
	struct proc_mapping moved;
	struct stat st;
	int fd;

	/* As if getpid()'s library had been replaced at its path by our executable. */
	find_in_self((uintptr_t)&find_in_self, &maps, &self);
	lib = procmaps_find(maps, (uintptr_t)&getpid);
	cr_assert_not_null(lib);
	cr_assert_neq(lib->inode, self->inode);
	moved = *lib;
	moved.path = self->path;

	fd = procmaps_open_file(getpid(), &moved);
	cr_assert_geq(fd, 0);
	cr_assert_eq(fstat(fd, &st), 0);
	cr_assert_eq(st.st_ino, lib->inode);
	close(fd);
	procmaps_free(maps);
}

Test(procmaps, keeps_newlines_and_spaces_of_real_paths)
{
	char path[] = "/tmp/asyncprof procmaps\nline XXXXXX";
	struct proc_maps *maps;
	const struct proc_mapping *m;
	void *p;

	close(mkstemp(path));
	p = map_new_file(path, "odd name");
	find_in_self((uintptr_t)p, &maps, &m);
	cr_assert(!m->deleted);
	cr_assert_str_eq(m->path, path);
	assert_opens_content(m, "odd name");
	procmaps_free(maps);
	munmap(p, 4096);
	unlink(path);
}

Test(procmaps, fails_for_a_process_that_is_gone)
{
	struct proc_maps *maps = NULL;
	pid_t pid = fork();
	int err;

	cr_assert_geq(pid, 0);
	if (pid == 0)
		_exit(0);
	cr_assert_eq(waitpid(pid, NULL, 0), pid);
	err = procmaps_read(pid, &maps);
	cr_assert(err == -ENOENT || err == -ESRCH, "got %d", err);
	cr_assert_null(maps);
}
