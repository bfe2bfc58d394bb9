/* SPDX-License-Identifier: MIT */
#ifndef ASYNCPROF_TOKIO_H
#define ASYNCPROF_TOKIO_H

#include <stdint.h>
#include <stdbool.h>
#include <jansson.h>

#include "task.h"
#include "target/process.h"
#include "tokio_binary.h"
#include "spawn_probe.h"
#include "model/tasks.h"
#include "capture/event_loss.h"

/*
 * The Tokio adaptor: finds Tokio in the target's executable, loads and attaches the Tokio
 * probes for the chosen mode, and decodes the current task from a copy of Tokio's thread-local
 * CONTEXT (made by the CPU sampler and by the probes).
 *
 * Where in CONTEXT the current task id lives changes with the Tokio version and the build
 * (CONTEXT is not repr(C)), so the adaptor calibrates it at run time: when a task clones its own
 * waker, its id (read from the task header) must be in the thread-local; the offset that holds
 * it across events is the field; so is a CPU sample's copy after a poll entry on its thread.
 * Until calibrated, tokio_current_task() returns 0.
 *
 * Spawns come from a uprobe after each update of NEXT_ID or from a hardware watchpoint on it
 * (the hook is checked against NEXT_ID in the target's memory while recording, and given up
 * for the other when it falls short); task names from the vtables, the task types' poll code
 * (tokio_type_at) and the spawn functions on a spawn's stack (tokio_spawned_type).
 */

struct tokio_adaptor;

/* Returns 0, -ENOENT when the executable has no Tokio (with nothing printed), or -errno after
 * printing why. */
int tokio_adaptor_open(struct process *proc, enum task_mode mode, bool verbose,
		       struct tokio_adaptor **out);
void tokio_adaptor_close(struct tokio_adaptor *ta); /* accepts NULL; detaches everything */
/* Stops the probes at once (they stay attached until closed, doing nothing); what they sent and
 * counted stays readable (tokio_consume, counters). */
void tokio_adaptor_stop(struct tokio_adaptor *ta);

/* Turns a group of probes (spawn_probe.h) off or on while recording: the probes stay attached
 * and return at once. Returns 0, or -EINVAL before tokio_adaptor_attach(). */
int tokio_set_probe_group(struct tokio_adaptor *ta, enum tokio_probe_group group, bool on);

/* Removes the hot probes from the target (off) or puts them back (on); from any one thread at a
 * time. Returns 0, -EOPNOTSUPP (not attached for duty cycling) or -errno. */
int tokio_set_hot(struct tokio_adaptor *ta, bool on);
/* The hot probes' hits so far ([0] emulated, [1] single-stepped) and their programs' run time. */
void tokio_hot_hits(struct tokio_adaptor *ta, uint64_t hits[2]);
void tokio_hot_run_time(struct tokio_adaptor *ta, uint64_t *ns, uint64_t *runs);

/* The thread-local block the CPU sampler should copy with each sample. */
void tokio_tls_block(const struct tokio_adaptor *ta, int64_t *offset, uint32_t *len);

/*
 * Loads and attaches the probes; tokio_consume() hands their events to fn. threads_fd, when
 * >= 0, is the CPU sampler's per-thread poll-stack map, which the poll hooks then fill. duty:
 * the hot probes (poll, wake, await) are attached so that tokio_set_hot() can take them off.
 */
int tokio_adaptor_attach(struct tokio_adaptor *ta, int threads_fd, bool duty,
			 int (*fn)(void *ctx, void *data, size_t size), void *ctx);

/*
 * Handles every task event waiting. Call it before each batch of CPU samples: a sample must find
 * the spawns and polls that came before it already known.
 */
int tokio_consume(struct tokio_adaptor *ta);

/* A file descriptor that becomes readable when task events wait (for sampler_poll). */
int tokio_wait_fd(struct tokio_adaptor *ta);

/* Feed the calibration: every task event, and the thread-local copy of every CPU sample. */
void tokio_observe(struct tokio_adaptor *ta, const struct task_event *e);
void tokio_observe_sample(struct tokio_adaptor *ta, uint32_t tid, const uint8_t *tls,
			  uint32_t len);
bool tokio_calibrated(const struct tokio_adaptor *ta);

/* The task current on the thread that made this copy of CONTEXT; 0 when none or unknown. */
uint64_t tokio_current_task(const struct tokio_adaptor *ta, const uint8_t *tls, uint32_t len);

/* Future type of a task vtable (runtime address); NULL when unknown. */
const char *tokio_type_name(const struct tokio_adaptor *ta, uint64_t vtable, bool *internal);

/* Future type of the task polled by code at runtime address pc (raw::poll or Harness::poll of
 * one task type), NULL when pc is not such code or its type is unknown. */
const char *tokio_type_at(const struct tokio_adaptor *ta, uint64_t pc, bool *internal);

/* Future type of the task a spawn makes, from the spawn's stack (runtime addresses, leaf
 * first); NULL when unknown. */
const char *tokio_spawned_type(const struct tokio_adaptor *ta, const uint64_t *pcs, size_t n,
			       bool *internal);

/* Per-task counters kept by the probes: fills polls (and in full mode poll) of each task, making
 * the tasks whose events were all lost when create (at the end; a live view updates the tasks
 * it knows). */
struct task_table;
struct task_rec;
void tokio_read_task_counters(struct tokio_adaptor *ta, struct task_table *tt, bool create);

/* The same for one exited task before it is folded (collector_set_task_finalizer; ctx is the
 * adaptor), whose counters the probes then forget. */
void tokio_finalize_task(void *ctx, struct task_rec *t);

/* report.json's "tokio": the spawn hook in use and how it did. */
json_t *tokio_report_json(struct tokio_adaptor *ta);

/*
 * What the recording lacks and why: no spawn hook, spawns missed; each hook point the analysis
 * did not find (a stripped executable has no symbols for CONTEXT, Harness::complete or the
 * future types) with the views it degrades in this mode; or, when CONTEXT was found, that the
 * current task's place in it was not. Strings valid until tokio_adaptor_close; returns how many
 * were put in out (at most max).
 */
size_t tokio_warnings(struct tokio_adaptor *ta, const char **out, size_t max);

/* The events the probes lost (the ring buffer was full), per kind, into loss->dropped. */
void tokio_event_loss(struct tokio_adaptor *ta, struct event_loss *loss);

/* Tokio's task-poll machinery (raw::poll, Harness::poll, Core::poll): where a task's own stack
 * begins, for collector_set_runtime(). */
bool tokio_is_poll_frame(const char *function);

#endif
