// SPDX-License-Identifier: MIT
#include <criterion/criterion.h>
#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/resource.h>
#include <sys/stat.h>
#include <unistd.h>

#include "output/file.h"

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

/* A fresh directory under /tmp, opened; its name in dir. */
static int temp_dir(char *dir)
{
	int fd;

	cr_assert_not_null(mkdtemp(dir));
	fd = open(dir, O_RDONLY | O_DIRECTORY);
	cr_assert_geq(fd, 0);
	return fd;
}

Test(output, write_file_replaces_whole)
{
	char dir[] = "/tmp/asyncprof-output-XXXXXX", path[64];
	struct stat st;
	int dirfd = temp_dir(dir);

	snprintf(path, sizeof(path), "%s/a.txt", dir);
	umask(077);
	cr_assert_eq(output_write_file(dirfd, "a.txt", "first version\n", 14), 0);
	cr_assert_str_eq(read_all(path), "first version\n");
	cr_assert_eq(output_write_file(dirfd, "a.txt", "second\n", 7), 0);
	cr_assert_str_eq(read_all(path), "second\n");
	cr_assert_eq(stat(path, &st), 0);
	cr_assert_eq(st.st_mode & 0777, 0644);
	cr_assert_eq(count_entries(dir), 1, "temporary files left behind");
	unlink(path);
	close(dirfd);
	rmdir(dir);
}

Test(output, abort_keeps_the_old_file)
{
	char dir[] = "/tmp/asyncprof-output-XXXXXX", path[64];
	struct output_file of;
	int dirfd = temp_dir(dir);

	snprintf(path, sizeof(path), "%s/b.txt", dir);
	cr_assert_eq(output_write_file(dirfd, "b.txt", "old\n", 4), 0);
	cr_assert_eq(output_open(&of, dirfd, "b.txt"), 0);
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
	close(dirfd);
	rmdir(dir);
}

/*
 * A write the file system refuses fails the commit with its own error, not a generic EIO: here
 * EFBIG from a file size limit, as ENOSPC comes from a full disk, through the same path.
 */
Test(output, commit_reports_the_write_error)
{
	static char big[3 * 4096];
	char dir[] = "/tmp/asyncprof-output-XXXXXX", path[64], block[4096] = { 0 };
	struct rlimit small = { 8192, 8192 };
	struct output_file of;
	int dirfd = temp_dir(dir);

	snprintf(path, sizeof(path), "%s/c.txt", dir);
	signal(SIGXFSZ, SIG_IGN);
	cr_assert_eq(setrlimit(RLIMIT_FSIZE, &small), 0);
	cr_assert_eq(output_open(&of, dirfd, "c.txt"), 0);
	for (int i = 0; i < 16; i++)
		fwrite(block, 1, sizeof(block), of.f);
	cr_assert_eq(output_commit(&of), -EFBIG);
	cr_assert_eq(access(path, F_OK), -1, "a failed commit must not create the file");
	cr_assert_eq(count_entries(dir), 0);
	cr_assert_eq(output_write_file(dirfd, "d.txt", big, sizeof(big)), -EFBIG);
	cr_assert_eq(count_entries(dir), 0);
	close(dirfd);
	rmdir(dir);
}

Test(output, bad_arguments)
{
	struct output_file of;

	cr_assert_eq(output_open(&of, AT_FDCWD, "a/b"), -EINVAL);
	cr_assert_eq(output_open(&of, AT_FDCWD, ""), -EINVAL);
	cr_assert_null(of.f);
	output_abort(&of); /* after a failed open too */
}

static void remove_tree(const char *dir)
{
	char cmd[128];

	snprintf(cmd, sizeof(cmd), "rm -rf '%s'", dir);
	cr_assert_eq(system(cmd), 0);
}

/* output_dir_open(path) with the message it gives; asserts the result. */
static int dir_open(const char *path, bool must_create, int expect, const char *why_part)
{
	char why[256] = "";
	int fd, err = output_dir_open(path, must_create, &fd, why, sizeof(why));

	cr_assert_eq(err, expect, "%s: %d (%s), expected %d", path, err, why, expect);
	if (why_part)
		cr_assert_not_null(strstr(why, why_part), "%s: why '%s'", path, why);
	if (!err) {
		cr_assert_geq(fd, 0);
		return fd;
	}
	cr_assert_eq(fd, -1);
	return -1;
}

Test(output, dir_created_reused_or_refused)
{
	char base[] = "/tmp/asyncprof-outdir-XXXXXX", path[128];
	struct stat st;
	int fd;

	cr_assert_not_null(mkdtemp(base));
	snprintf(path, sizeof(path), "%s/new/", base);
	fd = dir_open(path, true, 0, NULL);
	cr_assert_eq(fstat(fd, &st), 0);
	cr_assert(S_ISDIR(st.st_mode) && (st.st_mode & 0777) == 0755);
	cr_assert_eq(output_write_file(fd, "x", "x", 1), 0);
	close(fd);
	cr_assert_eq(count_entries(path), 1, "the writability check left a file");
	/* Reused when asked for by name, refused when it had to be new. */
	close(dir_open(path, false, 0, NULL));
	dir_open(path, true, -EEXIST, NULL);
	snprintf(path, sizeof(path), "%s/new/x", base);
	dir_open(path, false, -ENOTDIR, NULL);
	snprintf(path, sizeof(path), "%s/none/out", base);
	dir_open(path, false, -ENOENT, NULL);
	dir_open("", false, -EINVAL, NULL);
	remove_tree(base);
}

/* The attack of a user who plants a symbolic link where root will write its results. */
Test(output, dir_symlink_refused)
{
	char base[] = "/tmp/asyncprof-outdir-XXXXXX", path[160], target[160];
	int fd;

	cr_assert_not_null(mkdtemp(base));
	snprintf(target, sizeof(target), "%s/victim", base);
	cr_assert_eq(mkdir(target, 0700), 0);
	snprintf(path, sizeof(path), "%s/out", base);
	cr_assert_eq(symlink(target, path), 0);
	dir_open(path, false, -EPERM, "symbolic link");
	dir_open(path, true, -EEXIST, NULL);
	cr_assert_eq(count_entries(target), 0);
	/* A link on the way that no one else could have made is followed... */
	snprintf(path, sizeof(path), "%s/out/sub", base);
	fd = dir_open(path, false, 0, NULL);
	close(fd);
	snprintf(path, sizeof(path), "%s/victim/sub", base);
	cr_assert_eq(rmdir(path), 0);
	/* ...not one in a directory that anyone can write (and that is not sticky). */
	cr_assert_eq(chmod(base, 0777), 0);
	snprintf(path, sizeof(path), "%s/out/sub", base);
	dir_open(path, false, -EPERM, "'out' on the way is a symbolic link in a directory");
	cr_assert_eq(chmod(base, 01777), 0);
	close(dir_open(path, false, 0, NULL));
	remove_tree(base);
}

Test(output, dir_of_another_user_refused)
{
	char base[] = "/tmp/asyncprof-outdir-XXXXXX", path[160];

	if (geteuid() != 0)
		cr_skip_test("needs root to give a directory away");
	cr_assert_not_null(mkdtemp(base));
	snprintf(path, sizeof(path), "%s/theirs", base);
	cr_assert_eq(mkdir(path, 0777), 0);
	cr_assert_eq(chown(path, 65534, 65534), 0);
	dir_open(path, false, -EPERM, "belongs to user 65534");
	/* A link of theirs to a directory of ours is not followed either. */
	snprintf(path, sizeof(path), "%s/link", base);
	cr_assert_eq(symlink(".", path), 0);
	cr_assert_eq(lchown(path, 65534, 65534), 0);
	snprintf(path, sizeof(path), "%s/link/out", base);
	dir_open(path, false, -EPERM, "symbolic link of user 65534");
	remove_tree(base);
}

/* A path longer than PATH_MAX is used whole, not cut: it is walked a component at a time. */
Test(output, dir_path_longer_than_path_max)
{
	char base[] = "/tmp/asyncprof-outdir-XXXXXX", *path, *p, component[201];
	int fd, levels = PATH_MAX / 200 + 2;

	cr_assert_not_null(mkdtemp(base));
	memset(component, 'd', 200);
	component[200] = 0;
	path = malloc(strlen(base) + levels * 201 + 8);
	p = path + sprintf(path, "%s", base);
	cr_assert_eq(chdir(base), 0);
	for (int i = 0; i < levels; i++) {
		p += sprintf(p, "/%s", component);
		cr_assert_eq(mkdir(component, 0755), 0);
		cr_assert_eq(chdir(component), 0);
	}
	strcpy(p, "/out");
	cr_assert_gt(strlen(path), PATH_MAX);
	fd = dir_open(path, true, 0, NULL);
	cr_assert_eq(output_write_file(fd, "f", "x", 1), 0);
	close(fd);
	cr_assert_eq(access("out/f", F_OK), 0, "not created at the end of the long path");
	cr_assert_eq(chdir("/"), 0);
	free(path);
	remove_tree(base);
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
