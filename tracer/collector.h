/* SPDX-License-Identifier: MIT */
#ifndef ASYNCPROF_COLLECTOR_H
#define ASYNCPROF_COLLECTOR_H

#include <stdint.h>
#include <stdbool.h>
#include <sys/types.h>

#include "sampler.h"
#include "profile.h"
#include "process.h"

/*
 * collector: turns raw CPU samples into the cpu profile: unwinds the user stack, resolves
 * kernel and user frames to locations (cached per address, so a hot address is symbolized
 * once), and adds the sample with its thread labels.
 */
struct collector_stats {
	uint64_t samples;	   /* samples added to the profile */
	uint64_t truncated_stacks; /* user stacks deeper than the copied stack */
	uint64_t unwind_errors;	   /* user stacks that stopped early (no CFI, bad frame) */
	uint64_t kernel_only;	   /* samples without user registers */
	uint64_t threads;	   /* distinct threads seen */
};

struct collector;

/* period_ns: CPU time one sample stands for. ks may be NULL (no kernel symbols). */
int collector_new(struct process *proc, struct kallsyms *ks, int64_t period_ns,
		  struct collector **out);
void collector_free(struct collector *c); /* accepts NULL; does not free the process */

void collector_add(struct collector *c, const struct sample_event *e, size_t size);

/* The profile; owned by the collector. */
struct profile *collector_profile(struct collector *c);
const struct collector_stats *collector_stats(const struct collector *c);

#endif
