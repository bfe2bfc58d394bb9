/* SPDX-License-Identifier: MIT */
#ifndef ASYNCPROF_PROCESS_H
#define ASYNCPROF_PROCESS_H

#include <stdint.h>
#include <stdbool.h>
#include <sys/types.h>

#include "procmaps.h"
#include "symbols/symbolizer.h"
#include "symbols/unwind.h"

/*
 * process: what the profiler knows about one target process: its mappings, its unwinder and
 * the ELF objects it maps. Objects are opened as soon as they are seen, because after the
 * target exits /proc/PID/root is gone and samples still in flight must resolve.
 *
 * generation grows whenever previously mapped code went away (dlclose, exec); callers that
 * cache per-address results must drop them when it changes.
 */
struct process {
	pid_t pid;
	char comm[16];
	char *exe;     /* readlink of /proc/PID/exe without " (deleted)", or "" */
	char *cmdline; /* arguments joined by spaces, or "" */
	struct proc_maps *maps;
	struct unwinder *unwinder;
	struct symbolizer *sym; /* borrowed */
	struct elf_object **held; /* the objects it maps, held in sym (symbolizer_hold) */
	size_t nheld, held_cap;
	uint64_t generation;
	uint64_t last_refresh_ns;
	double refresh_tokens; /* refreshes allowed now, see process_mapping() */
};

/* Returns 0, -ESRCH when there is no such process, or another -errno. */
int process_open(pid_t pid, struct symbolizer *sym, struct process **out);

/*
 * Whether pid is a process that can be profiled: 0, or -errno with why it cannot be in why: no
 * such process (-ESRCH), a kernel thread or a zombie (-EINVAL), one whose maps and memory the
 * caller may not read (-EACCES: another user's without CAP_SYS_PTRACE, or ptrace denied).
 */
int process_check(pid_t pid, char *why, size_t size);
void process_close(struct process *p); /* accepts NULL */

/*
 * The mapping that contained addr at time seen_ns (CLOCK_MONOTONIC). When none does, and the
 * mappings were read before seen_ns, something may have been mapped since: they are read again.
 * A token bucket (a burst of 20, then 20 a second) serves the burst of new mappings after exec
 * while garbage addresses cannot make it re-read the mappings on every sample. NULL when still
 * none.
 */
const struct proc_mapping *process_mapping(struct process *p, uint64_t addr, uint64_t seen_ns);

/* The first executable mapping of the main executable, or NULL (a kernel thread, a zombie). */
const struct proc_mapping *process_exe_mapping(const struct process *p);

/* Re-reads the mappings now. Keeps the old ones when the process is gone. */
int process_refresh(struct process *p);

uint64_t monotonic_ns(void);

#endif
