/* SPDX-License-Identifier: MIT */
#ifndef ASYNCPROF_LEAKS_H
#define ASYNCPROF_LEAKS_H

#include <stdbool.h>
#include <sys/types.h>

/* Exit statuses of `asyncprof leaks`. */
#define LEAKS_NONE 0
#define LEAKS_ERROR 1
#define LEAKS_FOUND 3

struct leaks_opts {
	pid_t pid;
	double min_age_s; /* report goroutines blocked at least this long */
	double window_s;  /* observation time; at least min_age_s */
	bool json;
	bool all; /* include runtime-internal goroutines and the main goroutine */
};

/*
 * `asyncprof leaks`: watches a live Go process's goroutines for window_s seconds (snapshots of
 * runtime.allgs every 50 ms, no probe, nothing stopped) and reports the ones blocked for at
 * least min_age_s, grouped by (creation site, blocking site, wait reason). Returns LEAKS_NONE,
 * LEAKS_FOUND, or LEAKS_ERROR after printing why.
 */
int go_leaks_run(const struct leaks_opts *opts);

#endif
