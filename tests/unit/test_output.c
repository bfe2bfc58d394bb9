// SPDX-License-Identifier: MIT
#include <criterion/criterion.h>
#include <dirent.h>
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "output.h"

static char *read_all(const char *path)
{
	static char buf[256];
	FILE *f = fopen(path, "r");
	size_t n;

	cr_assert_not_null(f, "%s missing", path);
	n = fread(buf, 1, sizeof(buf) - 1, f);
	buf[n] = 0;
	fclose(f);
	return buf;
}

/* Entries of dir other than . and .. */
static size_t count_entries(const char *dir)
{
	DIR *d = opendir(dir);
	struct dirent *de;
	size_t n = 0;

	cr_assert_not_null(d);
	while ((de = readdir(d)))
		if (strcmp(de->d_name, ".") && strcmp(de->d_name, ".."))
			n++;
	closedir(d);
	return n;
}

Test(output, write_file_replaces_whole)
{
	char dir[] = "/tmp/asyncprof-output-XXXXXX", path[64];
	struct stat st;

	cr_assert_not_null(mkdtemp(dir));
	snprintf(path, sizeof(path), "%s/a.txt", dir);
	cr_assert_eq(output_write_file(dir, "a.txt", "first version\n", 14), 0);
	cr_assert_str_eq(read_all(path), "first version\n");
	cr_assert_eq(output_write_file(dir, "a.txt", "second\n", 7), 0);
	cr_assert_str_eq(read_all(path), "second\n");
	cr_assert_eq(stat(path, &st), 0);
	cr_assert_eq(st.st_mode & 0777, 0644);
	cr_assert_eq(count_entries(dir), 1, "temporary files left behind");
	unlink(path);
	rmdir(dir);
}

Test(output, abort_keeps_the_old_file)
{
	char dir[] = "/tmp/asyncprof-output-XXXXXX", path[64];
	struct output_file of;

	cr_assert_not_null(mkdtemp(dir));
	snprintf(path, sizeof(path), "%s/b.txt", dir);
	cr_assert_eq(output_write_file(dir, "b.txt", "old\n", 4), 0);
	cr_assert_eq(output_open(&of, dir, "b.txt"), 0);
	cr_assert_not_null(of.f);
	fputs("half of a new", of.f);
	fflush(of.f);
	/* While it is written, the old file is still there, whole. */
	cr_assert_str_eq(read_all(path), "old\n");
	cr_assert_eq(count_entries(dir), 2);
	output_abort(&of);
	cr_assert_null(of.f);
	output_abort(&of); /* twice is harmless */
	cr_assert_str_eq(read_all(path), "old\n");
	cr_assert_eq(count_entries(dir), 1);
	unlink(path);
	rmdir(dir);
}

Test(output, commit_reports_write_errors)
{
	char dir[] = "/tmp/asyncprof-output-XXXXXX", path[64];
	struct output_file of;

	cr_assert_not_null(mkdtemp(dir));
	snprintf(path, sizeof(path), "%s/c.txt", dir);
	cr_assert_eq(output_open(&of, dir, "c.txt"), 0);
	fputs("data", of.f);
	/* Reading from a write-only stream sets its error flag, as a failed write would. */
	fgetc(of.f);
	cr_assert(ferror(of.f));
	cr_assert_eq(output_commit(&of), -EIO);
	cr_assert_eq(access(path, F_OK), -1, "a failed commit must not create the file");
	cr_assert_eq(count_entries(dir), 0);
	rmdir(dir);
}

Test(output, bad_arguments)
{
	struct output_file of;

	cr_assert_eq(output_open(&of, "/tmp", "a/b"), -EINVAL);
	cr_assert_eq(output_open(&of, "/tmp", ""), -EINVAL);
	cr_assert_null(of.f);
	cr_assert_eq(output_write_file("/nonexistent/asyncprof", "x", "x", 1), -ENOENT);
}

Test(output, utf8)
{
	char *fixed;

	cr_assert_eq(output_utf8_len("a"), 1);
	cr_assert_eq(output_utf8_len("\xc3\xa9"), 2);		/* é */
	cr_assert_eq(output_utf8_len("\xe2\x82\xac"), 3);	/* € */
	cr_assert_eq(output_utf8_len("\xf0\x9f\x94\xa5"), 4); /* fire emoji */
	cr_assert_eq(output_utf8_len(""), 0);
	cr_assert_eq(output_utf8_len("\x80"), 0);	      /* stray continuation */
	cr_assert_eq(output_utf8_len("\xc0\xaf"), 0);	      /* overlong '/' */
	cr_assert_eq(output_utf8_len("\xe0\x80\xaf"), 0);     /* overlong */
	cr_assert_eq(output_utf8_len("\xed\xa0\x80"), 0);     /* surrogate */
	cr_assert_eq(output_utf8_len("\xf4\x90\x80\x80"), 0); /* above U+10FFFF */
	cr_assert_eq(output_utf8_len("\xe2\x82"), 0);	      /* truncated */
	cr_assert(output_utf8_valid("plain ascii \xc3\xa9\xe2\x82\xac"));
	cr_assert(!output_utf8_valid("x\xffy"));
	fixed = output_utf8_dup("a\xff\xe2\x82z\xc3\xa9");
	cr_assert_str_eq(fixed, "a\xef\xbf\xbd\xef\xbf\xbd\xef\xbf\xbdz\xc3\xa9");
	free(fixed);
}
