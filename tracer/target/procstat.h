/* SPDX-License-Identifier: MIT */
#ifndef ASYNCPROF_TARGET_PROCSTAT_H
#define ASYNCPROF_TARGET_PROCSTAT_H

#include <stdbool.h>
#include <stdint.h>
#include <sys/types.h>

/*
 * procstat: the fields of /proc/PID/stat asyncprof uses, parsed in one place. A process is
 * known by its pid and its start time (field 22, clock ticks since boot): a pid the kernel
 * reuses for a new process has another start time.
 */
struct proc_entry {
	pid_t pid;
	char comm[16];
	char state;	      /* R, S, D, Z, ... */
	unsigned int flags;   /* the kernel's PF_* flags */
	uint64_t start_ticks; /* start time, clock ticks after boot */
	uint64_t cpu_ticks;   /* utime + stime, clock ticks */
	uint64_t sys_ticks;   /* stime alone: the time in the kernel (traps and probes count here) */
};

/*
 * Parses the text of /proc/PID/stat. The command name may hold spaces and parentheses: the
 * fields resume after the last ')'. Returns 0 or -EINVAL.
 */
int proc_stat_parse(const char *text, struct proc_entry *e);

/* Reads /proc/PID/stat. Returns 0, -ESRCH when the process is gone, or -errno. */
int proc_entry_read(pid_t pid, struct proc_entry *e);

/* Whether e is a kernel thread (no user space to profile). */
bool proc_entry_kthread(const struct proc_entry *e);

/* Whether e has exited and waits for its parent (or is being reaped). */
bool proc_entry_zombie(const struct proc_entry *e);

/* Whether e is a process that has user memory to profile: not a kernel thread, not a zombie. */
bool proc_entry_profilable(const struct proc_entry *e);

/* Clock ticks (the unit of /proc/PID/stat's times) in nanoseconds: ticks x 10^9 / CLK_TCK. */
uint64_t proc_ticks_ns(uint64_t ticks);

#endif
