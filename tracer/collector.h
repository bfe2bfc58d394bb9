/* SPDX-License-Identifier: MIT */
#ifndef ASYNCPROF_COLLECTOR_H
#define ASYNCPROF_COLLECTOR_H

#include <stdint.h>
#include <stdbool.h>
#include <sys/types.h>

#include "sampler.h"
#include "task.h"
#include "profile.h"
#include "process.h"
#include "tasks.h"

/*
 * collector: turns raw CPU samples and task events into the profiles (cpu, wait) and the task
 * table. It unwinds user stacks, resolves frames to locations (cached per address and per
 * profile, so a hot address is symbolized once), and, for samples and waits that belong to a
 * task, replaces the executor's frames below the task's poll by the task's logical ancestry:
 *
 *   [spawn] site of the root task ; [task] root task ; [spawn] site of its child ; ... ;
 *   [task] this task ; the task's own poll frames ... leaf
 *
 * Which frames are the runtime's poll machinery is the runtime's business: the adaptor passes a
 * predicate on function names (collector_set_runtime).
 */
struct collector_stats {
	uint64_t samples;	   /* samples added to the profile */
	uint64_t task_samples;	   /* of which inside a task */
	uint64_t truncated_stacks; /* user stacks deeper than the copied stack */
	uint64_t unwind_errors;	   /* user stacks that stopped early (no CFI, bad frame) */
	uint64_t threads;	   /* distinct threads seen */
	uint64_t task_events;	   /* runtime task events handled */
};

struct collector;

/* Says whether a function is part of the runtime's task-poll machinery (the cut point). */
typedef bool (*poll_boundary_fn)(const char *function);

/* period_ns: CPU time one sample stands for. ks may be NULL (no kernel symbols). */
int collector_new(struct process *proc, struct kallsyms *ks, int64_t period_ns,
		  struct collector **out);
void collector_free(struct collector *c); /* accepts NULL; does not free the process */

/*
 * Turns on the task views: ancestry in cpu stacks, the wait profile, the task table; samples get
 * the task's id as the label task_label ("task_id", "goid"). With
 * measure_polls false (sample mode), poll events only name tasks: the probes that see them run
 * for a short calibration, so their counts and latencies would be partial.
 */
void collector_set_runtime(struct collector *c, poll_boundary_fn is_boundary, bool measure_polls,
			   const char *task_label);

/* A CPU sample; task is the runtime task current on the sampled thread, 0 when none. */
void collector_add(struct collector *c, const struct sample_event *e, size_t size, uint64_t task);

/*
 * Profiles other than cpu and wait (off-CPU), fed with collector_add_sample(). The profile has
 * the given sample types, its period type is the default one with a period of 1 (each sample
 * is a measured value, not a sampling period), and the collector owns it. NULL on allocation
 * failure.
 */
struct profile *collector_new_profile(struct collector *c, const struct profile_value_type *types,
				      size_t ntypes, size_t default_type);

#define COLLECTOR_MAX_LABELS 4

/*
 * Adds e's stacks (kernel, then the user stack unwound from its registers when e->flags has
 * SAMPLE_USER_REGS) to prof, a profile from collector_new_profile(), with the labels
 * thread_id and thread_name, then labels (at most COLLECTOR_MAX_LABELS, copied), and values
 * in prof's sample type order. root_frame, when not NULL, is a synthetic outermost frame (what
 * a viewer should know about the whole stack). Returns 0 or -errno.
 */
int collector_add_sample(struct collector *c, struct profile *prof, const struct sample_event *e,
			 size_t size, const int64_t *values, const struct profile_label *labels,
			 size_t nlabels, const char *root_frame);

/*
 * A task event. current: the task current on the event's thread (the parent of a spawn, the
 * waker of a wake), 0 when none; current_known false when it could not be decoded yet (the
 * event's thread-local copy is kept for collector_resolve_parents). type_name/internal describe
 * the task's type when the event carries it (RUN).
 */
void collector_task_event(struct collector *c, const struct task_event *e, size_t size,
			  uint64_t current, bool current_known, const char *type_name,
			  bool internal);

/* Decodes the parents of spawns seen before the runtime's thread-local could be read. */
void collector_resolve_parents(struct collector *c,
			       uint64_t (*decode)(void *ctx, const uint8_t *tls, uint32_t len),
			       void *ctx);

struct profile *collector_profile(struct collector *c);	 /* cpu; owned by the collector */
struct profile *collector_wait_profile(struct collector *c); /* NULL without a runtime */
struct task_table *collector_tasks(struct collector *c);	 /* NULL without a runtime */
const struct collector_stats *collector_stats(const struct collector *c);

#endif
