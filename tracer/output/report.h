/* SPDX-License-Identifier: MIT */
#ifndef ASYNCPROF_REPORT_H
#define ASYNCPROF_REPORT_H

#include <stddef.h>
#include <stdint.h>
#include <jansson.h>
#include <sys/types.h>

#include "model/profile.h"
#include "model/tasks.h"

/*
 * report: report.json, the machine-readable summary of one run, next to the profiles it names:
 *
 *	{ "version": 1,
 *	  "target": { "pid", "comm", "cmdline", "exe",
 *		      "exit": { "code" or "signal", "sent_by_asyncprof" } (run only) },
 *	  "start_time": "2024-05-01T12:00:00.250Z", "duration_s", "frequency_hz",
 *	  "samples", "probe_samples", "drops", "truncated_stacks", "unwind_errors", "threads",
 *	  "warnings": [ "..." ],
 *	  "top_functions_unit": "nanoseconds",
 *	  "top_functions": [ { "name", "self", "self_pct", "total", "total_pct" } ],
 *	  "files": { "cpu_pprof": "cpu.pb.gz", "cpu_folded": "cpu.folded", "cpu_svg": "cpu.svg" },
 *	  "offcpu": { ... }, "task_events": { ... }, "timeline": { ... } }
 *
 * offcpu (the off-CPU profile is then in files, see stems) is there when an off-CPU
 * profile was taken; its contents are offcpu_json()'s (tracer/capture/offcpu.h). task_events (with a
 * runtime) are event_loss_json()'s (tracer/capture/event_loss.h): what the probes sent and lost.
 * timeline (--timeline) is timeline_json()'s (tracer/output/timeline.h): its file, the events
 * kept and dropped.
 *
 * top_functions are the REPORT_TOP_FUNCTIONS functions with the most self value in the CPU
 * profile's default sample type (whose unit top_functions_unit names); percentages are of that
 * type's total, rounded to 0.01. Strings that are not valid UTF-8 are repaired (U+FFFD), and
 * a missing string (NULL) is written as null.
 */
#define REPORT_FILE "report.json"
#define REPORT_TOP_FUNCTIONS 20
/* tasks[] entries: as many as the task table keeps exited tasks whole; spawn_sites[] sums them
 * all */
#define REPORT_MAX_TASKS TASKS_KEPT_EXITED

struct report_info {
	pid_t pid;
	const char *comm;
	const char *cmdline;
	const char *exe;
	int64_t start_time_ns; /* start of collection, ns since the epoch */
	int64_t duration_ns;
	int frequency_hz;
	uint64_t samples;
	uint64_t probe_samples; /* of which in a uprobe: the probes' own cost */
	uint64_t drops; /* samples lost because the ring buffer was full */
	uint64_t truncated_stacks;
	uint64_t unwind_errors;
	uint64_t threads;
	double profiler_cpu_s;		/* the profiler's own CPU time, start-up included */
	double profiler_recording_cpu_s; /* its CPU time while recording (duration_ns) */
	uint64_t profiler_max_rss_kb;	/* the profiler's own peak resident memory */
	const char *runtime;	/* "tokio", "go", "usdt", or NULL when no adaptor was attached */
	const char *mode;	/* "sample", "lifecycle", "full" */
	json_t *tasks;		/* borrowed: task_table_json(), or NULL */
	size_t tasks_omitted;	/* tasks left out of tasks (REPORT_MAX_TASKS) */
	size_t tasks_unnamed;	/* tasks whose name is unknown ("[unknown]"), all of them */
	json_t *spawn_sites;	/* borrowed: task_sites_json(), or NULL */
	/* The profiles written, by file stem: STEM.pb.gz, STEM.folded and STEM.svg are in
	 * "files" as STEM_pprof, STEM_folded and STEM_svg. */
	const char *const *stems;
	size_t nstems;
	const char *runtime_key; /* the runtime's own object in the report ("go"), or NULL */
	json_t *runtime_json;	 /* borrowed: its value */
	json_t *offcpu;		/* borrowed: offcpu_json() when offcpu.* were written, or NULL */
	json_t *timeline;	/* borrowed: timeline_json() when a timeline was recorded, or NULL */
	bool command_ended;	/* run: the command ended and command_status is its wait status */
	int command_status;
	int command_stopped_with; /* run: the signal asyncprof ended it with, or 0 */
	json_t *task_events;	/* borrowed: event_loss_json() with a runtime, or NULL */
	json_t *duty;		/* borrowed: budget_json() when the event probes had a budget */
	bool estimated;		/* they were duty cycled: totals and counts are estimates */
	const char *const *warnings; /* nwarnings entries */
	size_t nwarnings;
};

/*
 * Writes REPORT_FILE in the directory dirfd, whole (see output.h). cpu may be NULL when no CPU
 * profile was taken: top_functions is then empty and files lists no CPU profile. Returns 0 or
 * -errno.
 */
int report_write(const struct report_info *info, const struct profile *cpu, int dirfd);

#endif
