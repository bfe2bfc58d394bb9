/* SPDX-License-Identifier: MIT */
#ifndef ASYNCPROF_AGENT_TARGETS_H
#define ASYNCPROF_AGENT_TARGETS_H

#include <regex.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <sys/types.h>

#include "target/procstat.h"

/*
 * targets: which processes of the host the agent profiles (--pid, --comm, --all), found by
 * reading /proc; each known by its pid and start time (target/procstat.h).
 */

struct target_pid {
	pid_t pid;
	uint64_t start_ticks; /* the process --pid named, not a later one with its pid */
};

struct target_filter {
	struct target_pid *pids; /* --pid */
	size_t npids;
	regex_t *comms; /* --comm, POSIX extended, unanchored, against /proc/PID/comm */
	char **comm_texts;
	size_t ncomms;
	bool all; /* --all */
};

/*
 * Adds a --comm pattern. Returns 0, -EINVAL with regcomp's reason in why, or -ENOMEM.
 */
int target_filter_add_comm(struct target_filter *f, const char *pattern, char *why,
			   size_t why_size);
/*
 * Adds a --pid: the process that has that pid now. Returns 0; -ESRCH when there is none,
 * -EINVAL when it is a kernel thread or a zombie (with why), or -ENOMEM.
 */
int target_filter_add_pid(struct target_filter *f, pid_t pid, char *why, size_t why_size);
void target_filter_free(struct target_filter *f);

/* Whether the filter selects e (a profilable process). */
bool target_filter_match(const struct target_filter *f, const struct proc_entry *e);

/*
 * Calls fn for every profilable process of the host the filter selects, except the calling
 * process itself, in no particular order; stops when fn returns non-zero and returns that.
 * Processes that exit while /proc is read are skipped. Returns 0 or -errno (no /proc).
 */
int targets_scan(const struct target_filter *f, int (*fn)(const struct proc_entry *e, void *ctx),
		 void *ctx);

#endif
