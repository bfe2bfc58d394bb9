// SPDX-License-Identifier: MIT
#include "output.h"

#include <errno.h>
#include <fcntl.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

int output_open(struct output_file *of, const char *dir, const char *name)
{
	int fd, err;

	memset(of, 0, sizeof(*of));
	/* The temporary file must be in the same directory for rename() to be atomic. */
	if (!*name || strchr(name, '/'))
		return -EINVAL;
	if (!dir)
		dir = ".";
	if (asprintf(&of->path, "%s/%s", dir, name) < 0) {
		of->path = NULL;
		return -ENOMEM;
	}
	if (asprintf(&of->tmp_path, "%s/.%s.XXXXXX", dir, name) < 0) {
		of->tmp_path = NULL;
		err = -ENOMEM;
		goto fail;
	}
	fd = mkostemp(of->tmp_path, O_CLOEXEC);
	if (fd < 0) {
		err = -errno;
		free(of->tmp_path);
		of->tmp_path = NULL;
		goto fail;
	}
	/* mkostemp() creates the file 0600; profiles are meant to be read by the user who asked. */
	if (fchmod(fd, 0644) < 0) {
		err = -errno;
		close(fd);
		goto fail;
	}
	of->f = fdopen(fd, "w");
	if (!of->f) {
		err = -errno;
		close(fd);
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

	if (fflush(of->f) == EOF)
		err = -errno;
	else if (ferror(of->f))
		err = -EIO;
	else if (fsync(fileno(of->f)) < 0)
		err = -errno;
	if (fclose(of->f) == EOF && !err)
		err = -errno;
	of->f = NULL;
	if (!err && rename(of->tmp_path, of->path) < 0)
		err = -errno;
	if (!err) {
		free(of->tmp_path);
		of->tmp_path = NULL;
	}
	output_abort(of);
	return err;
}

void output_abort(struct output_file *of)
{
	if (of->f)
		fclose(of->f);
	if (of->tmp_path)
		unlink(of->tmp_path);
	free(of->tmp_path);
	free(of->path);
	memset(of, 0, sizeof(*of));
}

int output_write_file(const char *dir, const char *name, const void *data, size_t len)
{
	struct output_file of;
	int err;

	err = output_open(&of, dir, name);
	if (err)
		return err;
	if (len && fwrite(data, 1, len, of.f) != len) {
		err = errno ? -errno : -EIO;
		output_abort(&of);
		return err;
	}
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
