// SPDX-License-Identifier: MIT
#include "window.h"
#include "util/gzip.h"
#include "otlp.h"
#include "output/file.h"
#include "output/pprof.h"

#include <ctype.h>
#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#define MAX_PROFILES 8
#define MAX_PROFILE_ATTRS 8 /* the exporter's drops, and a window's own */

int window_encode_otlp(const struct window *w, size_t n, const struct exporter_stats *drops,
		       void **body, size_t *len)
{
	struct otlp_attr drop_attrs[2];
	struct otlp_attr(*attrs)[RESOURCE_MAX_ATTRS] = calloc(n ? n : 1, sizeof(*attrs));
	struct otlp_attr(*pattrs)[MAX_PROFILE_ATTRS] = calloc(n ? n : 1, sizeof(*pattrs));
	const struct profile *(*profiles)[MAX_PROFILES] = calloc(n ? n : 1, sizeof(*profiles));
	struct otlp_process *procs = calloc(n ? n : 1, sizeof(*procs));
	void *plain = NULL;
	size_t plain_len;
	int err = 0;

	if (!attrs || !pattrs || !profiles || !procs) {
		err = -ENOMEM;
		goto out;
	}
	if (drops) {
		drop_attrs[0] = (struct otlp_attr){ "asyncprof.export.dropped_windows", OTLP_INT,
						    NULL, (int64_t)drops->dropped_windows };
		drop_attrs[1] = (struct otlp_attr){ "asyncprof.export.dropped_bytes", OTLP_INT,
						    NULL, (int64_t)drops->dropped_bytes };
	}
	for (size_t i = 0; i < n; i++) {
		size_t np = 0;

		if (w[i].nprofiles > MAX_PROFILES || w[i].nattrs > MAX_PROFILE_ATTRS - 2) {
			err = -E2BIG;
			goto out;
		}
		for (size_t j = 0; drops && j < 2; j++)
			pattrs[i][np++] = drop_attrs[j];
		for (size_t j = 0; j < w[i].nattrs; j++)
			pattrs[i][np++] = w[i].attrs[j];
		for (size_t j = 0; j < w[i].nprofiles; j++)
			profiles[i][j] = w[i].profiles[j].prof;
		procs[i] = (struct otlp_process){
			.resource = attrs[i],
			.nresource = resource_attributes(w[i].res, attrs[i]),
			.profiles = profiles[i],
			.nprofiles = w[i].nprofiles,
			.profile_attrs = pattrs[i],
			.nprofile_attrs = np,
		};
	}
	err = otlp_encode(procs, n, &plain, &plain_len);
	if (!err)
		err = gzip_compress(plain, plain_len, body, len);
out:
	free(plain);
	free(procs);
	free(profiles);
	free(pattrs);
	free(attrs);
	return err;
}

int window_export_once(struct exporter *ex, const struct window *w, unsigned int wait_ms,
		       struct exporter_stats *st)
{
	uint64_t sent;
	void *body;
	size_t len;
	int err;

	exporter_stats(ex, st);
	sent = st->sent_windows;
	err = window_encode_otlp(w, 1, st, &body, &len);
	if (err)
		return err;
	err = exporter_submit(ex, body, len);
	if (!err || err == -EFBIG)
		exporter_flush(ex, wait_ms);
	exporter_stats(ex, st);
	if (err && err != -EFBIG)
		return err;
	return st->sent_windows > sent ? 0 : -EIO;
}

/* ---- --output-dir -------------------------------------------------------------------------- */

#define STAMP_LEN 20 /* YYYYMMDDTHHMMSS.mmmZ: milliseconds, so that a short last window
			   * (the agent's at SIGTERM) does not take its predecessor's name */
#define SUFFIX ".pb.gz"

/* The time stamp of a file of ours ("STEM-STAMP.pb.gz"), or NULL when the name is not one. */
static const char *file_stamp(const char *name)
{
	size_t len = strlen(name), stem;
	const char *stamp;

	if (len < 2 + STAMP_LEN + strlen(SUFFIX) || strcmp(name + len - strlen(SUFFIX), SUFFIX))
		return NULL;
	stem = len - strlen(SUFFIX) - STAMP_LEN - 1;
	stamp = name + stem + 1;
	if (name[stem] != '-')
		return NULL;
	for (size_t i = 0; i < stem; i++)
		if (!islower((unsigned char)name[i]) && name[i] != '_')
			return NULL;
	for (size_t i = 0; i < STAMP_LEN; i++) {
		char c = stamp[i];
		bool ok = i == 8	       ? c == 'T'
			  : i == 15	       ? c == '.'
			  : i == STAMP_LEN - 1 ? c == 'Z'
					       : isdigit((unsigned char)c);

		if (!ok)
			return NULL;
	}
	return stamp;
}

static int compare_stamps_desc(const void *a, const void *b)
{
	return -strncmp(*(const char *const *)a, *(const char *const *)b, STAMP_LEN);
}

/* Deletes the files of the windows older than the last retain ones. */
static int prune(int procfd, unsigned int retain)
{
	struct dirent *de;
	char **names = NULL;
	const char **stamps = NULL;
	size_t n = 0, cap = 0, kept = 0;
	const char *keep_from = NULL; /* the oldest stamp kept */
	int fd = dup(procfd), err = 0;
	DIR *d;

	if (fd < 0)
		return -errno;
	d = fdopendir(fd);
	if (!d) {
		err = -errno;
		close(fd);
		return err;
	}
	rewinddir(d);
	while ((de = readdir(d)) != NULL) {
		if (!file_stamp(de->d_name))
			continue;
		if (n == cap) {
			size_t ncap = cap ? cap * 2 : 32;
			char **p = realloc(names, ncap * sizeof(*p));

			if (!p) {
				err = -ENOMEM;
				goto out;
			}
			names = p;
			cap = ncap;
		}
		names[n] = strdup(de->d_name);
		if (!names[n]) {
			err = -ENOMEM;
			goto out;
		}
		n++;
	}
	stamps = calloc(n ? n : 1, sizeof(*stamps));
	if (!stamps) {
		err = -ENOMEM;
		goto out;
	}
	for (size_t i = 0; i < n; i++)
		stamps[i] = file_stamp(names[i]);
	qsort(stamps, n, sizeof(*stamps), compare_stamps_desc);
	for (size_t i = 0; i < n && kept < retain; i++) {
		if (i && strncmp(stamps[i], stamps[i - 1], STAMP_LEN) == 0)
			continue;
		keep_from = stamps[i];
		kept++;
	}
	for (size_t i = 0; i < n && kept == retain; i++)
		if (strncmp(file_stamp(names[i]), keep_from, STAMP_LEN) < 0 &&
		    unlinkat(procfd, names[i], 0) && errno != ENOENT && !err)
			err = -errno;
out:
	for (size_t i = 0; i < n; i++)
		free(names[i]);
	free(names);
	free(stamps);
	closedir(d);
	return err;
}

/* Opens (creating it when missing) the directory of w's process under dirfd. */
static int open_process_dir(int dirfd, const struct window *w)
{
	char name[64];
	size_t len;
	int fd;

	len = (size_t)snprintf(name, sizeof(name), "%d-", w->res->pid);
	for (const char *c = w->comm; *c && len < sizeof(name) - 1; c++)
		name[len++] = isalnum((unsigned char)*c) || strchr("._-", *c) ? *c : '_';
	name[len] = '\0';
	if (mkdirat(dirfd, name, 0755) && errno != EEXIST)
		return -errno;
	fd = openat(dirfd, name, O_RDONLY | O_DIRECTORY | O_NOFOLLOW | O_CLOEXEC);
	return fd < 0 ? -errno : fd;
}

int window_write_files(int dirfd, const struct window *w, unsigned int retain)
{
	time_t start = (time_t)(w->start_ns / 1000000000);
	char stamp[STAMP_LEN + 1], file[64];
	struct tm tm;
	int procfd, err = 0;

	if (!gmtime_r(&start, &tm) || strftime(stamp, sizeof(stamp), "%Y%m%dT%H%M%S", &tm) == 0)
		return -EINVAL;
	snprintf(stamp + 15, sizeof(stamp) - 15, ".%03uZ",
		 (unsigned int)((uint64_t)w->start_ns / 1000000 % 1000));
	procfd = open_process_dir(dirfd, w);
	if (procfd < 0)
		return procfd;
	for (size_t i = 0; i < w->nprofiles; i++) {
		void *data;
		size_t len;
		int e;

		snprintf(file, sizeof(file), "%.32s-%s%s", w->profiles[i].stem, stamp, SUFFIX);
		e = pprof_encode(w->profiles[i].prof, &data, &len);
		if (!e) {
			e = output_write_file(procfd, file, data, len);
			free(data);
		}
		if (e && !err)
			err = e;
	}
	if (retain) {
		int e = prune(procfd, retain);

		if (e && !err)
			err = e;
	}
	close(procfd);
	return err;
}
