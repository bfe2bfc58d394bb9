/* SPDX-License-Identifier: MIT */
#ifndef ASYNCPROF_TASKS_H
#define ASYNCPROF_TASKS_H

#include <stddef.h>
#include <stdint.h>
#include <stdbool.h>
#include <stdio.h>
#include <jansson.h>

#include "latency.h"
#include "bpf/task.h"

/*
 * task_table: what user space knows of a runtime's tasks, whatever the runtime: identity,
 * ancestry, names, spawn sites and the figures per task (polls, busy time, wait time, longest
 * poll, scheduling latencies). Runtime adaptors fill it from task events; the collector reads
 * ancestry from it; report.json and the terminal summary print it.
 *
 * Strings are owned by the table. Services make tasks by the million, so an exited task is not
 * kept one by one for long: task_table_fold() adds its figures to its spawn site's totals and
 * then forgets it, unless it is among the heaviest (kept whole for the report) or a live task
 * descends from it (its identity stays for their ancestry).
 */

/*
 * How much of a runtime the probes follow; each runtime maps its hooks onto these tiers (see
 * the design's cost tiers).
 */
enum task_mode {
	MODE_SAMPLE,	/* CPU samples and what they can read; per-event probes only when rare */
	MODE_LIFECYCLE, /* + the per-event probes: wakes, suspensions, runs */
	MODE_FULL,	/* + the costliest: Tokio poll exits, Go channel operation counts */
};

const char *task_mode_name(enum task_mode mode);
/* The mode a name (--mode) gives: 0, or -EINVAL when it names none. */
int task_mode_parse(const char *name, enum task_mode *mode);

#define TASK_ROOT 0 /* parent of a task spawned outside any task (main, block_on) */

struct task_rec {
	uint64_t id;
	uint64_t parent;       /* TASK_ROOT, or the parent's id */
	bool parent_known;     /* false for tasks that existed before attach */
	const char *name;      /* the future's type or the function polled; NULL when unknown;
				* shared (util/strpool.h), like spawned_at */
	bool name_inferred;    /* name guessed from sampled stacks, not the runtime's type */
	bool name_tentative;   /* the runtime's type, from a stack that may be the parent poll's */
	const char *spawned_at; /* "function (file:line)" of the spawn call; NULL when unknown */
	bool internal;	       /* a runtime-internal task (a worker's launch task) */
	uint64_t created_ns;   /* 0 when created before attach */
	uint64_t exited_ns;    /* 0 while alive */
	uint64_t polls, wait_ns, cpu_ns;
	/* What its polls took (bpf/task.h): report.json's busy_ns is their time on a CPU,
	 * max_poll_ns the wall time of the one with the most own time. Measured from poll start
	 * to end, or (a lower bound) from poll start to the await (max_poll only). */
	struct poll_stats poll;
	/* Time runnable, waiting for a thread: the sum of its scheduling latencies, or (Go sample
	 * mode) estimated from the goroutine snapshots that found it runnable. */
	uint64_t runnable_ns;
	uint64_t suspended_since; /* 0 when not suspended */
	struct thread_clock poll_start; /* of the poll under way (wall_ns 0: none), and its thread */
	uint32_t poll_tid;
	struct latency lat;    /* scheduling latencies */
	/* Folded (task_table_fold): its figures are in its site's totals, and it is kept whole
	 * for the report (kept), and may be the ancestor of a task not folded. */
	bool folded, kept, ancestor;
	/* Dormant once (task_table_doze), then run again: its site already counts it. */
	bool revived;
	/* Sample mode: when a snapshot first found it parked (0: not parked at the last one). */
	uint64_t parked_since;
	size_t nawait;
	uint64_t *await_pcs;   /* user stack of the last await point, leaf first; owned */
	/* What the runtime said of the last suspension (USDT markers), else NULL / 0: */
	char *await_reason;			/* why it waits: the wait profile's reason */
	uint64_t await_object;			/* what it waits on */
	struct logical_stack *await_frames;	/* its logical frames; owned */
};

struct task_table;
struct logical_stack;

struct task_table *task_table_new(void);
/*
 * Dormant tasks: a live task parked since before parked_before_ns (parked_since, which the
 * runtime sets from its snapshots) is kept as its identity only (parent, name, spawn site: what
 * ancestry and profiles show of it), its figures added to its site's totals, like a folded
 * task's: a service that leaks goroutines keeps ~100 bytes for each, not a whole record. It is
 * whole again (task_get) when it runs. Internal tasks stay whole. Returns how many dozed.
 */
size_t task_table_doze(struct task_table *tt, uint64_t parked_before_ns);
/* Whether id is a dormant task's; how many there are. */
bool task_dormant(const struct task_table *tt, uint64_t id);
size_t task_table_dormant(const struct task_table *tt);
/* A dormant task waited ns more: its site's wait. */
void task_dormant_wait(struct task_table *tt, uint64_t id, uint64_t ns);
/* The dormant tasks that alive() says are gone end (their identities stay while a task
 * descends from them). Returns how many. */
size_t task_table_end_dormant(struct task_table *tt, bool (*alive)(void *ctx, uint64_t id),
			      void *ctx);
void task_table_free(struct task_table *tt); /* accepts NULL */
/* In the outputs, the probes' counters (polls, busy and poll times) stand for counts times as
 * many, and the waits and times runnable for waits times as much: the probes were on for part
 * of the recording (duty cycled). */
void task_table_set_scale(struct task_table *tt, double counts, double waits);

/* The task with this id, created (parent unknown, not yet named) when absent; NULL on ENOMEM. */
struct task_rec *task_get(struct task_table *tt, uint64_t id);
/* The task or NULL, without creating it (a folded task only when it is kept whole). */
struct task_rec *task_find(const struct task_table *tt, uint64_t id);

/* What a task's ancestry shows of it: also known of the folded tasks not kept whole that a task
 * not folded descends from. The strings are the table's (NULL when unknown). */
struct task_identity {
	uint64_t parent;
	bool parent_known;
	const char *name, *spawned_at;
};

/* The identity of task id; false when unknown. */
bool task_identity(const struct task_table *tt, uint64_t id, struct task_identity *out);

/*
 * The task state machine: a task is created, runs (a poll), stops, suspends (awaits), is woken,
 * runs again, and exits. Every change of a task's state goes through the functions below; the
 * collector adds what the changes mean to the profiles (a suspension that ends is a wait).
 */

/* Created at time_ns (its spawn); its parent is given apart (task_set_parent), when known. */
void task_created(struct task_rec *t, uint64_t time_ns);
void task_set_parent(struct task_rec *t, uint64_t parent);
/*
 * Gives t the runtime's type for it unless it has as good a name already: a tentative name (a
 * static guess) gives way to one read from the task's own code, a guess from sampled frames
 * to either.
 */
void task_name_from_runtime(struct task_rec *t, const char *type, bool internal,
			    bool tentative);
/* Named by the program itself (a marker's label): the best name there is. */
void task_name_given(struct task_rec *t, const char *name);
/* Named from sampled frames, a guess that any name from the runtime replaces. */
void task_name_guessed(struct task_rec *t, const char *name, bool internal);
/* A poll starts (a RUN event, with the thread's clocks); its latency, when the event has one,
 * weighs latency_weight in runnable_ns (0: not seen whole, not counted). */
void task_poll_started(struct task_rec *t, const struct task_event *e, double latency_weight);
/* The poll ended (STOP): the task is suspended from then on, unless it was woken during it. */
void task_poll_stopped(struct task_rec *t, const struct task_event *e);
/* Woken (RUNNABLE): its poll is over, even if its stop was lost. */
void task_woken(struct task_rec *t);
/*
 * Suspended at an await point (AWAIT): its stack (pcs, leaf first, copied), the reason and
 * logical frames the runtime gave (NULL: none). Without poll-exit hooks the await is when it
 * suspends, and its poll lasted at least until there.
 */
void task_awaiting(struct task_rec *t, const struct task_event *e, const uint64_t *pcs, size_t n,
		   const char *reason, const struct logical_stack *frames);
/* Suspended since since_ns (found waiting, or a window cut), when it is not already. */
void task_suspended(struct task_rec *t, uint64_t since_ns);
/* No longer suspended: returns since when it was (0: it was not). */
uint64_t task_resumed(struct task_rec *t);
/* Exited at time_ns: its figures stay, its stacks go (services make tasks by the million). */
void task_exited(struct task_rec *t, uint64_t time_ns);
/* One more poll, and CPU time, counted where no RUN event carries them. */
void task_count_poll(struct task_rec *t);
void task_add_cpu(struct task_rec *t, uint64_t ns);
void task_add_wait(struct task_rec *t, uint64_t ns);
/* Time runnable, estimated where no latency is measured (Go's snapshots). */
void task_add_runnable(struct task_rec *t, uint64_t ns);
/* A runtime-internal task (its waits are not the application's). */
void task_set_internal(struct task_rec *t, bool internal);
/* A poll's times, measured at its end (its STOP event). */
void task_add_poll_time(struct task_rec *t, const struct poll_time *p);
/* What the runtime's probes counted in the kernel: polls, and their times (NULL: not kept). */
void task_set_poll_counters(struct task_rec *t, uint64_t polls, const struct poll_stats *poll);

/* Sets a string field (await_reason) to a copy of s, replacing the old value. */
void task_set_string(char **field, const char *s);
/* Sets name or spawned_at to the shared copy of s (util/strpool.h), replacing the old value:
 * the tasks of one site hold one copy of their strings. */
void task_set_shared(const char **field, const char *s);
/* Records one scheduling latency (it also counts towards runnable_ns, weight times: what it
 * stands for when the probes were duty cycled). */
int task_add_latency(struct task_rec *t, uint64_t ns, double weight);

/* Every task not folded, in id order; the array is owned by the table and valid until the next
 * task_get or task_table_fold. */
struct task_rec **task_list(struct task_table *tt, size_t *n);

/*
 * Exited tasks kept whole after they are folded: the heaviest by CPU, wait and worst latency
 * (as many as report.json lists), and the first few of every list of the terminal summary.
 */
#define TASKS_KEPT_EXITED 2000
#define TASKS_KEPT_PER_SUMMARY 10

struct hashmap;

/*
 * Folds the tasks that exited before before_ns: their figures go to their spawn site's totals
 * (task_sites_json) and the tasks themselves go, except the ones kept whole (above) and the
 * identity of those a task not folded descends from. finalize(ctx, t), when not NULL, first
 * lets the runtime complete t's figures (counters kept in the kernel). The ids of the tasks no
 * longer kept whole are put in gone (id -> 1): their samples can lose their per-task labels.
 * Returns the number of tasks folded.
 */
size_t task_table_fold(struct task_table *tt, uint64_t before_ns,
		       void (*finalize)(void *ctx, struct task_rec *t), void *ctx,
		       struct hashmap *gone);

/*
 * Ancestry of a task, root first: ids[0] is the oldest known ancestor, ids[n-1] the task. Stops
 * at the root, at an unknown parent, or after max entries (a cycle cannot loop). Returns n.
 */
size_t task_ancestry(const struct task_table *tt, uint64_t id, uint64_t *ids, size_t max);

/* How many tasks have no name, folded ones included. */
size_t task_table_unnamed(struct task_table *tt);

/*
 * report.json: the "tasks" array, at most max tasks (live ones first, then the exited ones with
 * the most CPU, wait and latency; *omitted says how many were left out), in id order; and the
 * same figures per spawn site, for every task, folded or not ("spawn_sites").
 */
json_t *task_table_json(struct task_table *tt, size_t max, size_t *omitted);
json_t *task_sites_json(struct task_table *tt);

/*
 * Terminal summary: top tasks by CPU, by wait, by scheduling latency, and long polls; a section
 * whose figure lost events fed is marked (loss may be NULL).
 */
struct event_loss;
void task_table_print_summary(FILE *f, struct task_table *tt, uint64_t long_poll_ns,
			      const struct event_loss *loss);

#endif
