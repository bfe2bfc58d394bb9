/* SPDX-License-Identifier: MIT */
#ifndef ASYNCPROF_RUNTIME_H
#define ASYNCPROF_RUNTIME_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <jansson.h>

#include "bpf/sampler.h"
#include "capture/event_loss.h"
#include "model/collector.h"
#include "model/tasks.h"
#include "target/process.h"

/*
 * runtime: what a language runtime or task library (Tokio, Go, programs marked with
 * probes/asyncprof.h) brings to a recording, behind one interface. The session (tracer/session/)
 * knows runtimes only through it and through the registry (runtimes/registry.c), which lists
 * them in the order --runtime auto tries them. A runtime is one folder under runtimes/ and one
 * line in the registry; docs/architecture.md has a skeleton.
 *
 * Calls, in order: open (is it there? static analysis), configure (what the capture copies and
 * how the collector shapes stacks and names tasks), attach (the probes, given the sampler's
 * shared maps), then while recording consume and sample_task for each batch of samples, stop,
 * finish; warnings, report and event_loss for the outputs; close. Every op but name, label,
 * open and close may be NULL: the runtime has nothing to say there.
 */

/* What the session gives a runtime to open it. */
struct runtime_ctx {
	struct process *proc;
	struct collector *col; /* the runtime's tasks, events and rules go there */
	enum task_mode mode;
	bool verbose;
	/* The CPU sampling rate: a runtime that samples the process's state by reading it
	 * (Go's goroutine snapshots) paces itself on it. */
	unsigned int freq_hz;
	/* An always-on agent's session: long-lived state is kept compact (a runtime may keep the
	 * tasks parked for long as their identity only: task_table_doze). */
	bool agent;
};

/* What a runtime asks of the CPU sampler (configure fills it). */
struct runtime_capture {
	int64_t tls_offset; /* the thread-local block each sample copies (tls_bytes 0: none) */
	uint32_t tls_bytes;
	bool thread_tasks;   /* the runtime's probes fill the sampler's threads map with the task
			      * running on each thread (sampler_threads_map) */
	bool logical_frames; /* they fill the frames map (sampler_frames_map) */
	bool wait_profile;   /* the wait profile is an output: the probes see the waits */
	bool runs;	     /* the probes send a TASK_RUN as each poll starts (a timeline needs it) */
	bool poll_ends;	     /* and a TASK_STOP as it ends; else a poll ends where the task
			      * awaits or its thread runs another one */
};

/* The sampler's maps a runtime's probes share (bpf_map__reuse_fd); -1 when not asked for. */
struct runtime_maps {
	int threads_fd;
	int frames_fd;
	bool duty; /* attach the hot probes so that set_hot can remove them (a budget is kept) */
};

/* A group of probes: its name ("wake"), whether it is on, the events its probes sent. */
struct runtime_probe_group {
	const char *name;
	bool enabled;
	uint64_t events;
};

struct runtime_ops {
	const char *name; /* --runtime NAME, report.json's "runtime", OTLP's process.runtime.name */
	const char *label; /* for messages: "Tokio" */
	/* Why --runtime NAME cannot be used, after "PROGRAM " ("has no Tokio runtime (...)"). */
	const char *missing;
	bool has_tasks; /* false: a plain CPU profile (no task views, no wait profile) */

	/* Returns 0 and *state, -ENOENT when the program has no such runtime (nothing printed),
	 * or -errno after printing why. */
	int (*open)(const struct runtime_ctx *ctx, void **state);
	/* Sets ctx->col up (stack rules, task label, namer, finalizer) and fills cap. */
	void (*configure)(void *state, struct runtime_capture *cap);
	/* Loads and attaches the probes. Returns 0 or -errno after printing why. */
	int (*attach)(void *state, const struct runtime_maps *maps);
	/* One line for the start message ("Go runtime found in svc (go1.23.1)"). */
	void (*describe)(void *state, const char *comm, char *buf, size_t size);
	/* Hands every event the probes sent to the collector: before each batch of samples. */
	int (*consume)(void *state);
	/* A ring buffer's epoll fd that must wake the loop (a busy runtime fills it fast), or -1.
	 */
	int (*wait_fd)(void *state);
	/* The task a CPU sample ran (0: none), from what the sample copied; feeds calibration. */
	uint64_t (*sample_task)(void *state, const struct sample_event *e);
	/* The recording ends: the probes stop sending (what they counted stays readable). */
	void (*stop)(void *state);
	/* After the last consume: counters into the task table, probes detached. */
	void (*finish)(void *state);
	/* While recording, for a live view: what the probes count in the kernel (poll counts)
	 * into the task table now, as finish does at the end. */
	void (*refresh)(void *state);
	/* What the recording lacks and why; strings valid until close. Returns how many. */
	size_t (*warnings)(void *state, const char **out, size_t max);
	/* Events the probes lost, per kind, into loss. */
	void (*event_loss)(void *state, struct event_loss *loss);
	/* report.json's object under the runtime's name (a new reference), NULL: none. */
	json_t *(*report)(void *state);
	/* The runtime's version ("go1.23.1"), NULL when unknown. */
	const char *(*version)(void *state);
	/* The probes in groups that can be turned off and on while recording: up to max into
	 * out; returns how many groups there are. */
	size_t (*probe_groups)(void *state, struct runtime_probe_group *out, size_t max);
	/* Returns 0, -ENOENT (no such group) or -EOPNOTSUPP. */
	int (*set_probe_group)(void *state, const char *name, bool on);
	/* Duty cycling under --budget (tracer/capture/budget.c), when attach was given duty: the
	 * hot probes (those that fire per poll, wake or park) removed from the target or put
	 * back, from the budget's thread (0, -EOPNOTSUPP or -errno); their hits so far by kind
	 * ([0] emulated, [1] single-stepped, bpf/hot.h); their programs' run time so far. */
	int (*set_hot)(void *state, bool on);
	void (*hot_hits)(void *state, uint64_t hits[2]);
	void (*hot_run_time)(void *state, uint64_t *ns, uint64_t *runs);
	void (*close)(void *state); /* accepts NULL */
};

/* The registry, in the order --runtime auto tries them; the last one is "none". */
extern const struct runtime_ops *const runtime_registry[];
extern const size_t runtime_registry_size;

/* The runtime named name, or NULL. */
const struct runtime_ops *runtime_find(const char *name);

/* "go, usdt, tokio or none": the names into buf, for help and error messages; returns buf. */
const char *runtime_names(char *buf, size_t size);

/*
 * What loading every runtime's probes shares, once its skeleton (skel->skeleton) is open and its
 * read-only data set: the sampler's maps reused by the maps named "threads" and "frames" (maps NULL, or an fd
 * of -1: not shared), the object loaded, and a ring buffer on its "task_events" map
 * (bpf/task_events.bpf.h) that hands each event to fn. Returns 0 and *rb, or -errno after
 * printing why ("cannot load the LABEL probes").
 */
struct bpf_object_skeleton;
struct ring_buffer;
int runtime_bpf_load(struct bpf_object_skeleton *skel, const char *label,
		     const struct runtime_maps *maps, int (*fn)(void *ctx, void *data, size_t size),
		     void *ctx, struct ring_buffer **rb);

/* Without CONFIG_SCHED_INFO the kernel counts no run delay, so nothing tells preemption apart:
 * the warning a runtime that measures polls gives then, or NULL. */
const char *runtime_schedstat_warning(void);

#endif
