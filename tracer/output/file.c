// SPDX-License-Identifier: MIT
#include "file.h"

#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <stdlib.h>
#include <string.h>
#include <sys/random.h>
#include <sys/stat.h>
#include <unistd.h>

/* ---- the results directory -------------------------------------------------------------- */

#define MAX_SYMLINKS 40 /* as the kernel's own path walk */

static bool trusted_owner(uid_t uid)
{
	return uid == 0 || uid == geteuid();
}

/*
 * Whether a user other than root and the caller can replace the entry (of status entry) in the
 * directory (of status dir): the directory's owner can, and so can whoever may write it, except
 * in a sticky directory (/tmp) where only the entry's owner and the directory's can.
 */
static bool others_can_replace(const struct stat *dir, const struct stat *entry)
{
	if (!trusted_owner(dir->st_uid))
		return true;
	if (!(dir->st_mode & (S_IWGRP | S_IWOTH)))
		return false;
	return !(dir->st_mode & S_ISVTX) || !trusted_owner(entry->st_uid);
}

static int walk(int *fd, const char *path, bool last_too, int *links, char *why, size_t why_size);

/*
 * Steps *fd (an O_PATH directory) into its entry name. A symbolic link is followed only when
 * no one but root and the caller could have put it there or could replace it; its target is
 * then walked the same way.
 */
static int step(int *fd, const char *name, int *links, char *why, size_t why_size)
{
	struct stat dir, link;
	char target[PATH_MAX];
	ssize_t n;
	int next, err;

	next = openat(*fd, name, O_PATH | O_DIRECTORY | O_NOFOLLOW | O_CLOEXEC);
	if (next >= 0) {
		close(*fd);
		*fd = next;
		return 0;
	}
	err = -errno;
	if ((err != -ENOTDIR && err != -ELOOP) || fstatat(*fd, name, &link, AT_SYMLINK_NOFOLLOW) ||
	    !S_ISLNK(link.st_mode))
		return err;
	if (fstat(*fd, &dir))
		return -errno;
	if (!trusted_owner(link.st_uid)) {
		snprintf(why, why_size, "'%s' on the way is a symbolic link of user %u", name,
			 (unsigned)link.st_uid);
		return -EPERM;
	}
	if (others_can_replace(&dir, &link)) {
		snprintf(why, why_size, "'%s' on the way is a symbolic link in a directory that "
					"other users can write", name);
		return -EPERM;
	}
	if (++*links > MAX_SYMLINKS)
		return -ELOOP;
	n = readlinkat(*fd, name, target, sizeof(target));
	if (n < 0)
		return -errno;
	if ((size_t)n == sizeof(target))
		return -ENAMETOOLONG;
	target[n] = 0;
	if (target[0] == '/') {
		next = open("/", O_PATH | O_DIRECTORY | O_CLOEXEC);
		if (next < 0)
			return -errno;
		close(*fd);
		*fd = next;
	}
	return walk(fd, target, true, links, why, why_size);
}

/*
 * Walks path's components from *fd ("." and empty components are skipped); the last one too
 * when last_too, else it is left for the caller. Returns 0 or -errno.
 */
static int walk(int *fd, const char *path, bool last_too, int *links, char *why, size_t why_size)
{
	const char *p = path;

	while (*p) {
		const char *end = strchrnul(p, '/'), *rest = end;
		char *name;
		int err;

		while (*rest == '/')
			rest++;
		if (!last_too && !*rest)
			break;
		if (end - p == 0 || (end - p == 1 && p[0] == '.')) {
			p = rest;
			continue;
		}
		name = strndup(p, end - p);
		if (!name)
			return -ENOMEM;
		err = step(fd, name, links, why, why_size);
		free(name);
		if (err)
			return err;
		p = rest;
	}
	return 0;
}

/* The last component of path ("." for "", "/" or a path of only "." components). */
static char *last_component(const char *path)
{
	const char *end = path + strlen(path), *start;

	while (end > path && end[-1] == '/')
		end--;
	start = end;
	while (start > path && start[-1] != '/')
		start--;
	return end > start ? strndup(start, end - start) : strdup(".");
}

/* A fresh, unpredictable name for a temporary file: ".name.XXXXXXXX". */
static char *temp_name(const char *name)
{
	static const char alphabet[] = "abcdefghijklmnopqrstuvwxyz"
				       "ABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789";
	unsigned char rnd[8];
	char suffix[sizeof(rnd) + 1], *tmp;

	if (getrandom(rnd, sizeof(rnd), 0) != sizeof(rnd))
		return NULL;
	for (size_t i = 0; i < sizeof(rnd); i++)
		suffix[i] = alphabet[rnd[i] % (sizeof(alphabet) - 1)];
	suffix[sizeof(rnd)] = 0;
	return asprintf(&tmp, ".%s.%s", name, suffix) < 0 ? NULL : tmp;
}

/* Creates a new temporary file for name in dirfd, mode 0644. Returns its descriptor or -errno. */
static int create_temp(int dirfd, const char *name, char **tmp_name)
{
	for (int tries = 0; tries < 100; tries++) {
		char *tmp = temp_name(name);
		int fd;

		if (!tmp)
			return -ENOMEM;
		fd = openat(dirfd, tmp, O_WRONLY | O_CREAT | O_EXCL | O_NOFOLLOW | O_CLOEXEC, 0644);
		if (fd >= 0) {
			/* Whatever the umask: the results are for the user who asked to read. */
			if (fchmod(fd, 0644) < 0) {
				int err = -errno;

				close(fd);
				unlinkat(dirfd, tmp, 0);
				free(tmp);
				return err;
			}
			*tmp_name = tmp;
			return fd;
		}
		free(tmp);
		if (errno != EEXIST)
			return -errno;
	}
	return -EEXIST;
}

int output_dir_open(const char *path, bool must_create, int *dirfd, char *why, size_t why_size)
{
	char *last = NULL;
	int fd, dfd = -1, links = 0, tmp_fd, err;
	bool created = false;
	struct stat st;
	char *tmp;

	*dirfd = -1;
	if (!*path)
		return -EINVAL;
	fd = open(path[0] == '/' ? "/" : ".", O_PATH | O_DIRECTORY | O_CLOEXEC);
	if (fd < 0)
		return -errno;
	err = walk(&fd, path, false, &links, why, why_size);
	if (err)
		goto out;
	last = last_component(path);
	if (!last) {
		err = -ENOMEM;
		goto out;
	}
	if (strcmp(last, ".") && strcmp(last, "..")) {
		if (mkdirat(fd, last, 0755) == 0)
			created = true;
		else if (errno != EEXIST)
			err = -errno;
		else if (must_create)
			err = -EEXIST;
		if (err)
			goto out;
	}
	dfd = openat(fd, last, O_RDONLY | O_DIRECTORY | O_NOFOLLOW | O_CLOEXEC);
	if (dfd < 0) {
		err = -errno;
		if (err == -ELOOP || (err == -ENOTDIR && fstatat(fd, last, &st,
								  AT_SYMLINK_NOFOLLOW) == 0 &&
				      S_ISLNK(st.st_mode))) {
			snprintf(why, why_size, "it is a symbolic link (give the directory it "
						"points to, or a new name)");
			err = -EPERM;
		}
		goto out;
	}
	if (fstat(dfd, &st)) {
		err = -errno;
		goto out;
	}
	if (!created && st.st_uid != geteuid()) {
		snprintf(why, why_size, "it belongs to user %u, not to you (uid %u)",
			 (unsigned)st.st_uid, (unsigned)geteuid());
		err = -EPERM;
		goto out;
	}
	/* Found now rather than after the recording: a read-only mount, no permission, no quota. */
	tmp_fd = create_temp(dfd, "check", &tmp);
	if (tmp_fd < 0) {
		err = tmp_fd;
		goto out;
	}
	close(tmp_fd);
	unlinkat(dfd, tmp, 0);
	free(tmp);
	*dirfd = dfd;
	dfd = -1;
out:
	if (err && created)
		unlinkat(fd, last, AT_REMOVEDIR);
	if (dfd >= 0)
		close(dfd);
	close(fd);
	free(last);
	return err;
}

/* ---- files ----------------------------------------------------------------------------------- */

/* The stream's writes: a short write is retried, and the first failure's errno is kept. */
static ssize_t stream_write(void *cookie, const char *buf, size_t size)
{
	struct output_file *of = cookie;
	size_t done = 0;

	while (done < size) {
		ssize_t n = write(of->fd, buf + done, size - done);

		if (n < 0 && errno == EINTR)
			continue;
		if (n <= 0) {
			if (!of->err)
				of->err = n < 0 ? -errno : -EIO;
			break;
		}
		done += n;
	}
	return done;
}

static int stream_close(void *cookie)
{
	struct output_file *of = cookie;
	int ret = close(of->fd);

	of->fd = -1;
	return ret;
}

int output_open(struct output_file *of, int dirfd, const char *name)
{
	static const cookie_io_functions_t io = { .write = stream_write, .close = stream_close };
	int err;

	memset(of, 0, sizeof(*of));
	of->fd = -1;
	of->dirfd = dirfd;
	/* The temporary file must be in the same directory for the rename to be atomic. */
	if (!*name || strchr(name, '/'))
		return -EINVAL;
	of->name = strdup(name);
	if (!of->name)
		return -ENOMEM;
	of->fd = create_temp(dirfd, name, &of->tmp_name);
	if (of->fd < 0) {
		err = of->fd;
		goto fail;
	}
	of->f = fopencookie(of, "w", io);
	if (!of->f) {
		err = -errno;
		goto fail;
	}
	return 0;
fail:
	output_abort(of);
	return err;
}

/*
 * The directory is not fsync'd after the rename: that would only make the new name durable,
 * while what matters here is that no reader ever sees a partial file, which the fsync of the
 * file before the rename already guarantees.
 */
int output_commit(struct output_file *of)
{
	int err = 0;

	if (fflush(of->f) == EOF || ferror(of->f))
		err = of->err ? of->err : -EIO;
	else if (fsync(of->fd) < 0)
		err = -errno;
	if (fclose(of->f) == EOF && !err)
		err = -errno;
	of->f = NULL;
	if (!err && renameat(of->dirfd, of->tmp_name, of->dirfd, of->name) < 0)
		err = -errno;
	if (!err) {
		free(of->tmp_name);
		of->tmp_name = NULL;
	}
	output_abort(of);
	return err;
}

void output_abort(struct output_file *of)
{
	if (of->f)
		fclose(of->f);
	else if (of->tmp_name && of->fd >= 0)
		close(of->fd);
	if (of->tmp_name)
		unlinkat(of->dirfd, of->tmp_name, 0);
	free(of->tmp_name);
	free(of->name);
	memset(of, 0, sizeof(*of));
	of->fd = -1;
}

int output_fail(struct output_file *of, int err)
{
	if (of->f)
		fflush(of->f); /* what is still buffered may be what finds the error */
	if (of->err)
		err = of->err;
	output_abort(of);
	return err;
}

int output_write_file(int dirfd, const char *name, const void *data, size_t len)
{
	struct output_file of;
	int err;

	err = output_open(&of, dirfd, name);
	if (err)
		return err;
	if (len && fwrite(data, 1, len, of.f) != len)
		return output_fail(&of, -EIO);
	return output_commit(&of);
}

size_t output_utf8_len(const char *s)
{
	const unsigned char *p = (const unsigned char *)s;
	unsigned char lo = 0x80, hi = 0xbf; /* allowed range of the second byte */
	size_t n;

	if (p[0] == 0)
		return 0;
	if (p[0] < 0x80)
		return 1;
	if (p[0] < 0xc2) /* continuation byte, or overlong 2-byte form */
		return 0;
	if (p[0] < 0xe0) {
		n = 2;
	} else if (p[0] < 0xf0) {
		n = 3;
		if (p[0] == 0xe0)
			lo = 0xa0; /* overlong */
		else if (p[0] == 0xed)
			hi = 0x9f; /* UTF-16 surrogates */
	} else if (p[0] < 0xf5) {
		n = 4;
		if (p[0] == 0xf0)
			lo = 0x90; /* overlong */
		else if (p[0] == 0xf4)
			hi = 0x8f; /* above U+10FFFF */
	} else {
		return 0;
	}
	if (p[1] < lo || p[1] > hi)
		return 0;
	/* The terminating NUL is not a continuation byte, so these reads stop at the end. */
	for (size_t i = 2; i < n; i++)
		if (p[i] < 0x80 || p[i] > 0xbf)
			return 0;
	return n;
}

bool output_utf8_valid(const char *s)
{
	while (*s) {
		size_t n = output_utf8_len(s);

		if (!n)
			return false;
		s += n;
	}
	return true;
}

static const char replacement[] = "\xef\xbf\xbd"; /* U+FFFD */

char *output_utf8_dup(const char *s)
{
	size_t len = 0;
	char *copy, *d;

	for (const char *p = s; *p;) {
		size_t n = output_utf8_len(p);

		len += n ? n : sizeof(replacement) - 1;
		p += n ? n : 1;
	}
	copy = malloc(len + 1);
	if (!copy)
		return NULL;
	d = copy;
	for (const char *p = s; *p;) {
		size_t n = output_utf8_len(p);

		if (n) {
			memcpy(d, p, n);
			d += n;
			p += n;
		} else {
			memcpy(d, replacement, sizeof(replacement) - 1);
			d += sizeof(replacement) - 1;
			p++;
		}
	}
	*d = 0;
	return copy;
}
