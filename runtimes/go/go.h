/* SPDX-License-Identifier: MIT */
#ifndef ASYNCPROF_GO_H
#define ASYNCPROF_GO_H

#include <stdint.h>
#include <stdbool.h>

#include "target/process.h"
#include "model/tasks.h"
#include "model/collector.h"
#include "capture/event_loss.h"
#include <jansson.h>

/*
 * The Go adaptor. Every mode: the CPU sampler copies the current g pointer (Go keeps it in
 * static TLS at fs:-8 on amd64), and the adaptor turns it into the goroutine's id; goroutines
 * become tasks named after their function, with their creation site ("created by"), read from
 * runtime.allgs snapshots through /proc/PID/mem (runtimes/go/goroutines.h).
 */
struct go_adaptor;

/* Returns 0, -ENOENT when the executable is not Go, or -errno after printing why. */
int go_adaptor_open(struct process *proc, struct go_adaptor **out);
void go_adaptor_close(struct go_adaptor *ga); /* accepts NULL */

/*
 * Removes the probes and frees their maps and ring buffer (mapped twice, 32 MiB in lifecycle
 * mode), keeping what was learnt and the counters go_report_json() and go_warnings() read: at
 * the end of the recording, the target is freed of its uprobes and the memory goes before the
 * results are put together.
 */
void go_adaptor_detach(struct go_adaptor *ga); /* accepts NULL */

/* The thread-local block the CPU sampler should copy: the g pointer. */
void go_tls_block(const struct go_adaptor *ga, int64_t *offset, uint32_t *len);

/* Reads the goroutines again (at most every 100 ms) and updates their tasks in tt. */
void go_refresh(struct go_adaptor *ga, struct task_table *tt);

/*
 * The shortest time between two snapshots (100 ms to 2 s; 100 ms when not set). Waits and
 * runnable time are sampled from the snapshots, as CPU time is from the CPU samples: a profiler
 * sampling the CPU slowly (an always-on agent at 19 Hz) reads the goroutines as seldom.
 */
void go_set_snapshot_period(struct go_adaptor *ga, uint64_t ns);

/*
 * Snapshots every 2 s, or 100 times as long as one takes when that is longer (about 1% of a
 * CPU), not up to 10 a second (a cost governor's choice): goroutines younger than
 * the last snapshot stay unnamed longer, and the sampled waits and exits are coarser. Sample
 * mode's only lever on the goroutine reads, whose count go_goroutines_read() gives.
 */
void go_set_slow_snapshots(struct go_adaptor *ga, bool slow);
/* Sample mode: goroutines found parked by every snapshot for DOZE_NS (a minute) are kept as
 * their identity only (task_table_doze): an agent's memory does not grow with a service's
 * leaked goroutines. */
void go_set_doze(struct go_adaptor *ga, bool doze);
uint64_t go_goroutines_read(const struct go_adaptor *ga);

/* The goid of the goroutine whose g a sample copied; 0 for the scheduler (g0) or unknown. */
uint64_t go_current_goroutine(struct go_adaptor *ga, const uint8_t *tls, uint32_t len);

/*
 * Loads and attaches the Go probes for mode (go.bpf.c says which), feeding col: goroutine
 * creation, parks, wakes, runs and exits (lifecycle and full), GC cycles (every mode),
 * allocation samples (lifecycle and full), channel operation counts (full). Goroutines already
 * waiting are entered as waiting since now, at their parked stack. Returns 0 or -errno after
 * printing why; a hook that cannot be placed is a warning (go_warnings) and its view is left out.
 * duty: the hot hooks are attached so that go_set_hot() can take them off.
 */
int go_adaptor_attach(struct go_adaptor *ga, enum task_mode mode, struct collector *col,
		      bool duty);
/* Duty cycling (duty given to go_adaptor_attach): the hot hooks (park, ready, execute, allocation,
 * channel operations) removed from the target or put back (0, -EOPNOTSUPP or -errno); their hits
 * ([0] emulated, [1] single-stepped) and their programs' run time so far. */
int go_set_hot(struct go_adaptor *ga, bool on);
void go_hot_hits(struct go_adaptor *ga, uint64_t hits[2]);
void go_hot_run_time(struct go_adaptor *ga, uint64_t *ns, uint64_t *runs);

/* Handles the probes' events waiting; call it before each batch of CPU samples. */
int go_consume(struct go_adaptor *ga);

/* report.json's "go" object: version, GC cycles, channels, probe counters; a new reference. */
json_t *go_report_json(struct go_adaptor *ga);

/* What the recording lacks and why (hooks missing or inlined); static strings valid until
 * go_adaptor_close. Returns how many were put in out (at most max). */
size_t go_warnings(struct go_adaptor *ga, const char **out, size_t max);

/* The events the probes lost (the ring buffer was full), per kind, with the received count and
 * names of the runtime's own kinds, into loss. */
void go_event_loss(struct go_adaptor *ga, struct event_loss *loss);

/* "go1.19.8" */
const char *go_runtime_version(const struct go_adaptor *ga);

/* The frame that starts every goroutine's stack (runtime.goexit): where ancestry goes. */
bool go_is_goroutine_root(const char *function);

#endif
