/* SPDX-License-Identifier: MIT */
#ifndef ASYNCPROF_COLLECTOR_H
#define ASYNCPROF_COLLECTOR_H

#include <stdint.h>
#include <stdbool.h>
#include <sys/types.h>

#include "bpf/sampler.h"
#include "bpf/task.h"
#include "profile.h"
#include "target/process.h"
#include "tasks.h"

/*
 * collector: turns raw CPU samples and task events into the profiles (cpu, wait) and the task
 * table. It unwinds user stacks, resolves frames to locations (cached per address and per
 * profile, so a hot address is symbolized once), and, for samples and waits that belong to a
 * task, replaces the executor's frames below the task's poll by the task's logical ancestry:
 *
 *   [spawn] site of the root task ; [task] root task ; [spawn] site of its child ; ... ;
 *   [task] this task ; [frame] its outermost logical frame ; ... ; [frame] innermost ;
 *   the task's own poll frames ... leaf
 *
 * (logical frames: names a program marks itself, see probes/asyncprof.h). Which frames are the
 * runtime's poll machinery is the runtime's business: the adaptor passes a predicate on
 * function names (collector_set_runtime, collector_set_task_boundary).
 */
struct collector_stats {
	uint64_t samples;	   /* samples added to the profile */
	uint64_t probe_samples;	   /* of which in a uprobe (the probes' own cost) */
	uint64_t truncated_stacks; /* user stacks deeper than the copied stack */
	uint64_t unwind_errors;	   /* user stacks that stopped early (no CFI, bad frame) */
	uint64_t threads;	   /* distinct threads seen */
	uint64_t task_events_by_kind[TASK_KINDS]; /* of the task model's kinds, received */
};

struct collector;
struct kallsyms;

/* Says whether a function is part of the runtime's task-poll machinery (the cut point). */
typedef bool (*poll_boundary_fn)(const char *function);

/* period_ns: CPU time one sample stands for. ks may be NULL (no kernel symbols). */
int collector_new(struct process *proc, struct kallsyms *ks, int64_t period_ns,
		  struct collector **out);
/* The CPU sampling period from now on: what each sample after it weighs. */
void collector_set_period(struct collector *c, int64_t period_ns);
/* The kernel symbols to use from now on (borrowed; NULL: none). */
void collector_set_kallsyms(struct collector *c, struct kallsyms *ks);
void collector_free(struct collector *c); /* accepts NULL; does not free the process */

/*
 * Turns on the task views: ancestry in cpu stacks, the wait profile, the task table; samples get
 * the task's id as the label task_label ("task_id", "goid"). With
 * measure_polls false (sample mode), poll events only name tasks: the probes that see them run
 * for a short calibration, so their counts and latencies would be partial.
 */
void collector_set_runtime(struct collector *c, poll_boundary_fn is_boundary, bool measure_polls,
			   const char *task_label);

/*
 * For runtimes that find their boundary functions at run time (USDT: the functions holding the
 * run markers): is_boundary(ctx, function) replaces collector_set_runtime's predicate. With
 * own_stacks, tasks may run on stacks of their own (coroutines): a task's stack without the
 * boundary frame then gets its logical frames and ancestry at its root instead of staying whole.
 */
void collector_set_task_boundary(struct collector *c,
				 bool (*is_boundary)(void *ctx, const char *function), void *ctx,
				 bool own_stacks);

/*
 * How the runtime names a task from its code. type_at(ctx, pc, &internal) is the type of the
 * task whose poll code holds pc (a runtime's per-type poll function), NULL when pc is not in
 * such code: a task not named by its runtime's events is named from the innermost such frame
 * of its stacks (CPU samples, and the spawns it makes), before any guess from other frames.
 * spawned(ctx, pcs, n, &internal) is the type of the task a spawn makes, from the spawn's
 * stack (leaf first), NULL when unknown: a task is named from its birth.
 */
struct task_namer {
	const char *(*type_at)(void *ctx, uint64_t pc, bool *internal);
	const char *(*spawned)(void *ctx, const uint64_t *pcs, size_t n, bool *internal);
	void *ctx;
};
void collector_set_task_namer(struct collector *c, const struct task_namer *namer);

/*
 * A runtime's knowledge of its language's code, for naming tasks and spawn sites after the
 * program's own code, and for the reason of a wait: function name prefixes and source path
 * substrings that are library code (not where a user would say a task was spawned or what it
 * is), the reason of a wait whose await stack has a function containing needle, and the
 * runtime's worker loops. Each list
 * ends with a NULL entry; a NULL list is empty. The lists are borrowed (static).
 */
struct wait_rule {
	const char *needle, *reason;
};
struct library_rules {
	const char *const *function_prefixes;
	const char *const *file_substrings;
	const struct wait_rule *wait_rules;
	/* A task whose frames above its poll are all library code, one of them containing one of
	 * these, is the runtime's own (a worker thread's launch task): "[runtime worker]". */
	const char *const *worker_functions;
};
void collector_set_library_rules(struct collector *c, const struct library_rules *rules);

/*
 * A CPU sample; task is the runtime task current on the sampled thread, 0 when none. The
 * sample's logical frames, when it has some, go between its physical frames and the ancestry.
 */
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
 * waker of a wake: the wait profile's waker_id), 0 when none; current_known false when it could
 * not be decoded yet (the event's thread-local copy is kept for collector_resolve_parents).
 * type_name/internal describe the task's type when the event carries it (RUN, EXIT). A label names
 * the task (CREATE) or gives the reason of a suspension (AWAIT), which then also keeps its
 * object and logical frames.
 */
void collector_task_event(struct collector *c, const struct task_event *e, size_t size,
			  uint64_t current, bool current_known, const char *type_name,
			  bool internal);

/*
 * Exited tasks are folded into their spawn site's totals a little after they exit (see
 * task_table_fold): finalize(ctx, t) is then called first, to complete t's figures from what
 * the runtime keeps elsewhere (its probes' counters in the kernel).
 */
void collector_set_task_finalizer(struct collector *c,
				  void (*finalize)(void *ctx, struct task_rec *t), void *ctx);

/* Decodes the parents of spawns seen before the runtime's thread-local could be read. */
void collector_resolve_parents(struct collector *c,
			       uint64_t (*decode)(void *ctx, const uint8_t *tls, uint32_t len),
			       void *ctx);

/*
 * The reason a task waits from its next suspension on, as the runtime names it (Go's wait
 * reasons); without one the wait profile guesses it from the await stack's functions.
 */
void collector_set_wait_reason(struct collector *c, uint64_t task, const char *reason);

/* The task has been suspended since since_ns at this stack (pcs, leaf first, as the unwinder
 * gives them), when it is not already: for tasks found waiting when the recording starts. */
void collector_suspend(struct collector *c, uint64_t task, const uint64_t *pcs, size_t n,
		       uint64_t since_ns);

/* A sampled wait: task waited about ns at pcs (leaf first, as the unwinder gives them). */
void collector_add_wait(struct collector *c, uint64_t task, const uint64_t *pcs, size_t n,
			const char *reason, uint64_t ns);

/* End of the recording: the waits still going on count up to now_ns. */
void collector_finish(struct collector *c, uint64_t now_ns);

/* A window ends at now_ns: the waits going on count up to now_ns, and go on from there. */
void collector_cut_waits(struct collector *c, uint64_t now_ns);

/*
 * Moves what prof (one of the collector's profiles) holds into a new profile, returned (the
 * caller's), and starts prof afresh: the same object, empty, with the same sample types. Task
 * state and the symbolizer's caches stay. NULL on allocation failure or when prof is not the
 * collector's.
 */
struct profile *collector_take(struct collector *c, struct profile *prof);

/* The phases of a garbage collection cycle a runtime reports (collector_gc_event). */
enum collector_gc_phase {
	COLLECTOR_GC_START = 1, /* the mark phase begins */
	COLLECTOR_GC_MARK_TERM, /* mark termination (the world is stopped) */
	COLLECTOR_GC_END,	/* the cycle is over */
};

/*
 * Sees what the collector takes, after it took it: each CPU sample (its task, 0: none, and
 * the stack it was added with, location ids of the cpu profile, leaf first), each task event
 * (current as given to collector_task_event()) and each GC phase.
 */
struct collector_observer {
	void (*on_sample)(void *ctx, const struct sample_event *e, uint64_t task,
			  const uint64_t *locs, size_t n);
	void (*on_task_event)(void *ctx, const struct task_event *e, uint64_t current);
	void (*on_gc)(void *ctx, uint64_t time_ns, enum collector_gc_phase phase);
	void *ctx;
};
void collector_set_observer(struct collector *c, const struct collector_observer *o);

/* A runtime's GC reached phase at time_ns (CLOCK_MONOTONIC): for the observer only (the
 * runtime keeps its own GC figures). */
void collector_gc_event(struct collector *c, uint64_t time_ns, enum collector_gc_phase phase);

/*
 * Where task waits since its last await, for a timeline: why (what the runtime said, else what
 * its await stack shows by the runtime's wait rules: "other" when nothing matches) into reason,
 * and the innermost frame of the executable's own code on its await stack, "function
 * (file:line)", into where ("" when unknown). False when the task or its await is unknown.
 */
bool collector_await_point(struct collector *c, uint64_t task, char *reason, size_t reason_size,
			   char *where, size_t where_size);

/*
 * When the runtime's hot probes are duty cycled (tracer/capture/budget.c): whether they saw all
 * of [from, to] (CLOCK_MONOTONIC ns), and what an interval of len ns seen whole weighs against
 * an instant seen. A wait, a scheduling latency or a poll is measured only when seen whole, and
 * weighs that in totals (wait profile, wait_ns, runnable_ns: scaled by the time not seen at the
 * end); percentiles and maxima are of what was seen. NULL: always on, everything counts once.
 */
struct collector_observation {
	bool (*observed)(void *ctx, uint64_t from, uint64_t to);
	double (*weight)(void *ctx, uint64_t len);
	void *ctx;
};
void collector_set_observation(struct collector *c, const struct collector_observation *o);
/* After the recording: what the weighted waits stand for, times (1 / the fraction of the time
 * the probes were on), for the waits a runtime keeps itself (Go's channels); 1 unless set. */
void collector_set_wait_scale(struct collector *c, double scale);
/* Whether the waits were sampled (collector_add_wait: Go's snapshots), not measured by probes:
 * they owe nothing to duty cycling. */
bool collector_waits_sampled(const struct collector *c);
double collector_wait_scale(const struct collector *c);
/* What the interval [from, to] weighs by the observation: 0 when the probes did not see all of
 * it, 1 when always on. */
double collector_seen_weight(const struct collector *c, uint64_t from, uint64_t to);

/*
 * An allocation sample (a runtime event with TASK_EV_PCS) standing for objects and bytes, made
 * by task (0: none); goes to the alloc profile, created at the first one.
 */
void collector_add_alloc(struct collector *c, uint64_t task, const struct task_event *e,
			 size_t size, int64_t objects, int64_t bytes);

struct profile *collector_profile(struct collector *c);	 /* cpu; owned by the collector */
struct profile *collector_alloc_profile(struct collector *c); /* NULL without allocations */
struct profile *collector_wait_profile(struct collector *c); /* NULL without a runtime */
struct task_table *collector_tasks(struct collector *c);	 /* NULL without a runtime */
const struct collector_stats *collector_stats(const struct collector *c);

#endif
