/* SPDX-License-Identifier: MIT */
#ifndef ASYNCPROF_WINDOW_H
#define ASYNCPROF_WINDOW_H

#include <stddef.h>
#include <stdint.h>

#include "exporter.h"
#include "model/profile.h"
#include "resource.h"

/*
 * window: what a recording of one process produced over a stretch of time (the agent cuts one
 * every interval; attach and run make one of the whole recording), and the two ways it leaves:
 * as an OTLP request for the exporter, and as pprof files in a directory that keeps the last
 * windows of each process.
 */
struct window_profile {
	const char *stem;	    /* "cpu", "wait", "offcpu", "alloc": as the file names */
	const struct profile *prof; /* with its time_nanos and duration_nanos */
};

struct window {
	const struct resource *res; /* the process */
	const char *comm;	    /* its name, for the directory */
	const struct window_profile *profiles;
	size_t nprofiles;
	int64_t start_ns; /* the window's start, ns since the epoch: the files' time */
	const struct otlp_attr *attrs; /* more attributes of every OTLP Profile (the agent's) */
	size_t nattrs;
};

/*
 * One OTLP request (ExportProfilesServiceRequest, gzip'd) for n windows, one ResourceProfiles
 * each, every Profile with its window's attrs. With drops, every Profile carries the exporter's counts so far as attributes
 * asyncprof.export.dropped_windows and asyncprof.export.dropped_bytes, so that a backend sees
 * what it did not get. On success *body (malloc'd, *len bytes) is for exporter_submit().
 * Returns 0 or -errno.
 */
int window_encode_otlp(const struct window *w, size_t n, const struct exporter_stats *drops,
		       void **body, size_t *len);

/*
 * Exports w alone and waits for its delivery, for at most wait_ms (the end of a one-shot
 * recording). Returns 0 when it was delivered; -EIO when it was dropped or not delivered in
 * time (it is then still queued: exporter_free() drops it), st saying why; or another -errno.
 */
int window_export_once(struct exporter *ex, const struct window *w, unsigned int wait_ms,
		       struct exporter_stats *st);

/*
 * Writes every profile of w as DIR/PID-COMM/STEM-YYYYMMDDTHHMMSS.mmmZ.pb.gz (UTC, the window's
 * start), DIR being the directory dirfd, then deletes the files of that process's older windows
 * beyond the last retain ones (0: keeps all). COMM keeps letters, digits, '.', '_' and '-'; any
 * other byte becomes '_'. The process's directory is created when missing and must not be a
 * symbolic link; only files named as above are ever deleted. Each file appears whole or not at
 * all. Returns 0 or the first -errno (the other files are still written).
 */
int window_write_files(int dirfd, const struct window *w, unsigned int retain);

#endif
