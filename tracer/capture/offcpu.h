/* SPDX-License-Identifier: MIT */
#ifndef ASYNCPROF_OFFCPU_H
#define ASYNCPROF_OFFCPU_H

#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>
#include <jansson.h>
#include <sys/types.h>

#include "model/collector.h"

/*
 * offcpu: the thread off-CPU profile (--off-cpu). Loads bpf/offcpu.bpf.c, turns every block of a
 * target thread that lasted at least the threshold into a sample of a collector profile (sample
 * types blocks/count and off_cpu/nanoseconds, label "state"), and keeps the totals of all
 * blocks, profiled or not, for report.json.
 *
 * The kernel side sends a block from the thread's own context when it runs again: with task
 * work (Linux 6.18+), else at its next sys_exit; on tp_btf/sched_switch, else on raw_tp (see
 * offcpu.bpf.c). The best the kernel's BTF offers is used, and the next when it fails to load;
 * ASYNCPROF_OFFCPU_HOOKS=task-work|tp_btf|raw_tp in the environment picks one (for tests).
 */
struct offcpu;

struct offcpu_opts {
	pid_t pid;
	uint64_t min_block_ns; /* blocks shorter than this are counted, not profiled */
	bool verbose;
};

/* Returns 0 or -errno; on failure a message naming the cause has been printed. The profile
 * lives in col, which must outlive the offcpu. */
int offcpu_open(const struct offcpu_opts *opts, struct collector *col, struct offcpu **out);
/* Adds the events available now to the profile. Returns the number handled or -errno. */
/*
 * The recording begins at start_ns (CLOCK_MONOTONIC): blocks that ended before it are left out,
 * blocks under way weigh their part after it (label cut_at). Until then nothing is recorded.
 */
void offcpu_start(struct offcpu *o, uint64_t start_ns);
int offcpu_consume(struct offcpu *o);
/*
 * Ends the recording: detaches, adds the remaining events, and accounts for the blocks still in
 * progress and for those that ended but were not sent yet (added with their kernel stack).
 */
void offcpu_stop(struct offcpu *o);
void offcpu_close(struct offcpu *o); /* accepts NULL; detaches everything */

struct profile *offcpu_profile(struct offcpu *o);
/* The totals for report.json (a new reference), after offcpu_stop(). */
json_t *offcpu_json(const struct offcpu *o);
/* One line of totals for the terminal. */
void offcpu_print_summary(FILE *f, const struct offcpu *o);
/* What the profile lacks (events dropped, blocks not tracked), or NULL. */
const char *offcpu_warning(const struct offcpu *o);

/* The value of the "state" label for the kernel's task state bits of a blocked thread. */
const char *offcpu_state_name(uint32_t state);

#endif
