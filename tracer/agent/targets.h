/* SPDX-License-Identifier: MIT */
#ifndef ASYNCPROF_AGENT_TARGETS_H
#define ASYNCPROF_AGENT_TARGETS_H

#include <regex.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <sys/types.h>

/*
 * targets: which processes of the host the agent profiles (--pid, --comm, --all), found by
 * reading /proc. A process is known by its pid and its start time (field 22 of
 * /proc/PID/stat, in clock ticks since boot): a pid the kernel reuses for a new process is
 * another target.
 */
struct proc_entry {
	pid_t pid;
	char comm[16];
	char state;		  /* R, S, D, Z, ... */
	unsigned int flags;	  /* the kernel's PF_* flags */
	uint64_t start_ticks;	  /* start time, clock ticks after boot */
	uint64_t cpu_ticks;	  /* utime + stime, clock ticks */
};

/*
 * Parses the text of /proc/PID/stat. The command name may hold spaces and parentheses: the
 * fields resume after the last ')'. Returns 0 or -EINVAL.
 */
int proc_stat_parse(const char *text, struct proc_entry *e);

/* Reads /proc/PID/stat. Returns 0, -ESRCH when the process is gone, or -errno. */
int proc_entry_read(pid_t pid, struct proc_entry *e);

/* Whether e is a process that has user memory to profile: not a kernel thread, not a zombie. */
bool proc_entry_profilable(const struct proc_entry *e);

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
