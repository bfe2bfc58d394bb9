/* SPDX-License-Identifier: MIT */
#ifndef ASYNCPROF_SESSION_H
#define ASYNCPROF_SESSION_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <sys/types.h>

#include "model/tasks.h"

/*
 * session: the recording of one process, from the target to its profiles. It owns everything
 * that is per process (the process's maps and symbol caches, the collector and its task table,
 * the CPU sampler, the runtime found in it and its probes, the off-CPU profiler) and nothing is
 * global, so one program may run many sessions at once (asyncprof agent: one per process).
 *
 * Phases, in this order:
 *
 *	session_open()		the target's maps, its runtime (through the registry), the
 *				collector; nothing is attached to the process yet
 *	session_start()		capture: the CPU sampler, the runtime's probes, off-CPU; the
 *				recording's time starts here
 *	session_step()		as often as possible: takes what the probes sent (see
 *				session_poll_fds() to wait on several sessions at once)
 *	session_cut_window()	(any number of times) the profiles so far, fresh ones started
 *	session_stop()		the recording's end: probes detached, buffers drained
 *	session_profiles()	the last window's profiles; session_write_outputs() writes them
 *				with report.json
 *	session_close()
 *
 * Errors are returned as -errno after one line on stderr, "asyncprof: cannot VERB OBJECT:
 * REASON". Informational lines (what was found, "recording pid N") are printed unless
 * session_opts.quiet; warnings (what a profile lacks) are kept for session_warnings() and
 * report.json, never printed by the session.
 *
 * Not thread-safe: one thread drives a session (several sessions may be driven by one thread).
 */
struct session;
struct profile;
struct kallsyms;
struct symbolizer;

struct session_opts {
	pid_t pid;
	unsigned int freq_hz;	 /* CPU samples per second per CPU */
	enum task_mode mode;	 /* how many probes the runtime attaches */
	const char *runtime;	 /* a registry name ("tokio", "go", "usdt", ...), "none", or NULL
				  * or "auto": the first runtime of the registry found */
	bool off_cpu;		 /* also profile where threads block (stem "offcpu") */
	uint64_t off_cpu_min_ns; /* shorter blocks are counted, not profiled */
	bool verbose;		 /* libbpf's and the unwinder's details on stderr */
	bool quiet;		 /* no informational lines (errors are still printed) */
	uint32_t ring_bytes;	 /* the CPU samples' ring buffer (a power of 2 pages); 0: 4 MiB */
	double budget;		 /* the share of the target's CPU the runtime's hot probes (per
				  * poll, wake, park) may cost (0.02: --budget 2): over it they are
				  * duty cycled (tracer/capture/budget.c); 0: always on */
	/* Also record a timeline (timeline.perfetto-trace, tracer/output/timeline.h) of at most
	 * this many events, the last ones; 0: none. Needs task events: lifecycle or full mode,
	 * or the markers (-EINVAL from session_open otherwise). */
	size_t timeline_events;
	/*
	 * An always-on agent's session: a process another asyncprof records is -EBUSY without a
	 * message (the agent says it once, and tries again later), and it gives way when a
	 * person's recording asks for its process (session_asked_to_give_way). Other sessions
	 * ask an agent that records their target to give way, and wait for it a few seconds.
	 */
	bool agent;
	/*
	 * Shared between sessions, borrowed (NULL: the session makes its own): the kernel's
	 * symbols, and the symbolizer (its ELF and DWARF caches are per file, not per process:
	 * sessions of processes that map the same libraries share them).
	 */
	struct kallsyms *kallsyms;
	struct symbolizer *symbolizer;
};

/*
 * Opens a recording of opts->pid: reads its maps and executable, takes the per-process
 * recording lock (-EBUSY when another asyncprof records it), finds its runtime through the
 * registry (opts->runtime) and sets the collector up with the runtime's rules. Attaches nothing.
 * Returns 0 and *out, or -errno after printing why (-ENOENT: opts->runtime names a runtime the
 * program does not have).
 */
int session_open(const struct session_opts *opts, struct session **out);

/*
 * Starts capture: CPU sampler, the runtime's probes, off-CPU. The recording's time range
 * starts now (wall clock for the profiles, CLOCK_MONOTONIC for the duration). Returns 0 or
 * -errno after printing why; on failure, session_close() detaches what was attached.
 */
int session_start(struct session *s);

/*
 * The file descriptors that become readable when the session has something to take (its
 * ring buffers' epoll fds): up to max of them into fds; returns how many there are (may be
 * more than max). A program with several sessions poll()s all of them, then calls
 * session_step(s, 0) on each.
 */
size_t session_poll_fds(const struct session *s, int *fds, size_t max);

/*
 * Takes what the probes and the sampler sent, in the order the model needs (task events before
 * the samples that refer to them), waiting at most timeout_ms (0: not at all) for something to
 * arrive. Returns the number of CPU samples taken (>= 0), -EINTR when a signal interrupted the
 * wait, or another -errno after printing why (the session cannot go on: stop it).
 */
int session_step(struct session *s, int timeout_ms);

/* False once the target process is gone (a zombie counts as gone only to its parent, which
 * must reap it: see tracer/launcher.h). */
bool session_target_alive(const struct session *s);

/*
 * One profile of a recording, as every output names and reads it: the file stem ("cpu",
 * "wait", "alloc", "offcpu": STEM.pb.gz, STEM.folded, STEM.svg, and OTLP's profile), the
 * profile (its sample types, time_nanos and duration_nanos: its time range), which of its
 * values the folded stacks and the flame graph show, the label the flame graph groups its
 * root by (NULL: none), and the flame graph's title.
 */
struct session_profile {
	const char *stem;
	struct profile *prof;
	size_t folded_value;
	const char *root_label;
	char title[160];
};

#define SESSION_MAX_PROFILES 8

/* A list of profiles over one time range (ns since the epoch), owned as said where it is got. */
struct session_window {
	int64_t start_ns;
	int64_t duration_ns;
	size_t nprofiles;
	struct session_profile profiles[SESSION_MAX_PROFILES];
};

/*
 * Cuts a window: hands over the profiles recorded since the start or the last cut, each with
 * its time range set, and starts fresh, empty ones with the same sample types. Task state
 * (tasks running, waiting, their ancestry and names), the symbol and unwind caches and the
 * probes are kept: a wait that spans the cut counts in each window for its part in it. The
 * caller owns w's profiles (session_window_free). Returns 0 or -errno (-ENOMEM: the window is
 * lost, its profiles dropped; the recording goes on with fresh ones).
 */
int session_cut_window(struct session *s, struct session_window *w);

/*
 * After session_stop(): hands session_profiles()'s over to w (the caller frees them with
 * session_window_free), so that the session can be closed before they are written or sent (an
 * agent frees an exited process's session at once). Returns 0, -EINVAL (not stopped) or -ENOMEM
 * (the window is lost). session_profiles() is empty after it.
 */
int session_take_profiles(struct session *s, struct session_window *w);

/* Frees the profiles of a window from session_cut_window(); accepts a zeroed one. */
void session_window_free(struct session_window *w);

/*
 * Ends the recording now: the runtime's probes stop, what is in the ring buffers is taken,
 * waits in progress count up to now, probes and perf events are detached (the target runs
 * without them from here on). Idempotent. Returns 0 or -errno after printing why (the profiles
 * are complete all the same).
 */
int session_stop(struct session *s);

/*
 * After session_stop(): the profiles since the start or the last cut, with their time range,
 * owned by the session (valid until session_close()). The same list the files and OTLP are
 * made from.
 */
const struct session_window *session_profiles(struct session *s);

/* For report.json when the target is a command asyncprof ran and reaped: its wait status, and
 * the signal asyncprof ended it with (0: it ended by itself). */
void session_set_command_status(struct session *s, int wait_status, int stopped_with);

/*
 * After session_stop(): writes every profile of session_profiles() (STEM.pb.gz, STEM.folded,
 * STEM.svg), the timeline when one was recorded (session_opts.timeline_events) and report.json
 * into the directory dirfd, named dir in messages. Returns 0, or the
 * last -errno after printing which file could not be written (the others are written).
 */
int session_write_outputs(struct session *s, int dirfd, const char *dir);

/*
 * After session_stop(): sends session_profiles() as one OTLP window through ex (res: the
 * process's resource attributes), waits at most wait_ms for its delivery, and says on stderr
 * how it went. Returns 0, -EIO (dropped, or not delivered in time) or another -errno.
 */
struct exporter;
struct resource;
int session_export_otlp(struct session *s, struct exporter *ex, const struct resource *res,
			unsigned int wait_ms);

/* After session_stop(): the terminal summary (counts, top functions, tasks, off-CPU) to f. */
void session_print_summary(struct session *s, FILE *f);

/* What the recording lacks and why (static or session-owned strings, valid until
 * session_close()); returns how many there are, up to max put in out. */
size_t session_warnings(struct session *s, const char **out, size_t max);

struct session_stats {
	uint64_t samples;     /* CPU samples in the profiles (every window) */
	uint64_t drops;	      /* CPU samples the ring buffer had no room for */
	uint64_t events_lost; /* runtime task events the probes could not send */
	uint64_t threads;     /* distinct threads seen */
	double elapsed_s;     /* since session_start(), up to session_stop() */
};
/* Reads the sampler's and the probes' counters in the kernel (system calls): a status line's
 * or a window's worth, not every step's. */
void session_stats(struct session *s, struct session_stats *st);

/* The runtime found ("tokio", "go", "usdt", or NULL: none) and its version (NULL: unknown), for
 * the resource attributes of an export. */
const char *session_runtime(const struct session *s);
const char *session_runtime_version(const struct session *s);
pid_t session_pid(const struct session *s);
const char *session_comm(const struct session *s);

/*
 * Sets the CPU sampling rate from now on (the agent's governor, right after a cut): samples
 * taken from now on weigh the new period, and so does the current profile. Returns 0, -EINVAL
 * when the session is not capturing, or -errno from the perf events (the rate stays as it was).
 */
int session_set_freq(struct session *s, unsigned int freq_hz);

/*
 * The runtime's event probes, in groups a cost governor may turn off and on while recording
 * (issue 12): a group's name ("spawn", "wake", "poll", "alloc", ...), whether it is on, and how
 * many events its probes sent so far. Up to max into out; returns how many groups there are.
 */
struct session_probe_group {
	const char *name;
	bool enabled;
	uint64_t events;
};
size_t session_probe_groups(struct session *s, struct session_probe_group *out, size_t max);

/*
 * Turns the probe group name on or off. Views fed by it lack what happened while it was off
 * (a warning says so). Returns 0, -ENOENT (no such group) or -EOPNOTSUPP (this runtime cannot
 * turn it off without detaching: its probes stay as they are).
 */
int session_set_probe_group(struct session *s, const char *name, bool enabled);

/*
 * The event stream, for a timeline or a live view (issue 13): after the model has taken each
 * event, the listener sees it. Task events keep the task model's kinds (enum task_event_kind);
 * a CPU sample says its thread, task and the stack it was added with (location ids of the
 * current cpu profile, leaf first, valid during the call only); a GC event says a phase of a
 * garbage collection cycle (Go). Strings are valid during the call only.
 */
enum session_gc_phase {
	SESSION_GC_START = 1, /* a cycle's mark phase begins */
	SESSION_GC_MARK_TERM, /* mark termination (the world is stopped) */
	SESSION_GC_END,	      /* the cycle is over */
};

struct session_event {
	enum session_event_kind { SESSION_EV_SAMPLE, SESSION_EV_TASK, SESSION_EV_GC } kind;
	uint64_t time_ns; /* CLOCK_MONOTONIC */
	uint32_t tid;
	uint64_t task;		    /* 0: none */
	uint32_t task_kind;	    /* SESSION_EV_TASK: enum task_event_kind; SESSION_EV_GC: enum
				     * session_gc_phase */
	uint64_t other;		    /* CREATE: the parent; RUNNABLE: the waker; 0 when unknown */
	const char *task_name;	    /* NULL when unknown */
	const struct profile *prof; /* SESSION_EV_SAMPLE: the profile the stack is in */
	const uint64_t *location_ids;
	size_t nlocations;
	/* SESSION_EV_TASK: RUN: ns the task was runnable before it (0: unknown); STOP: the poll's
	 * wall time in ns */
	uint64_t value;
	uint64_t cpu_ns, preempted_ns; /* STOP: the poll's time on a CPU and time preempted */
	const char *spawned_at;	 /* the task's spawn site, "function (file:line)"; NULL: unknown */
	bool internal;		 /* the task is the runtime's own (a worker's loop, a GC worker) */
	const char *reason;	 /* AWAIT: what it waits for ("timer", "chan receive"); NULL */
	const char *await_point; /* AWAIT: "function (file:line)" where it waits; NULL: unknown */
	const char *thread_name; /* SESSION_EV_SAMPLE: the thread's name */
	uint32_t cpu;		 /* SESSION_EV_SAMPLE: the CPU it ran on */
};
typedef void (*session_listener_fn)(void *ctx, const struct session_event *e);

/* Sets the listener (NULL: none); a session's own timeline sees the events all the same.
 * Returns 0 or -errno. */
int session_set_listener(struct session *s, session_listener_fn fn, void *ctx);

/*
 * A live view's look at the tasks (asyncprof top), while recording: the task table (NULL when
 * the runtime has no tasks), valid until the next session_step(). session_refresh_tasks() first
 * reads into it what the runtime counts in the kernel (Tokio's poll counts: a system call per
 * task, so once a refresh, not every step).
 */
struct task_table *session_tasks(struct session *s);
void session_refresh_tasks(struct session *s);

/* Where task waits now: why into reason, its await point into where; false when it does not
 * wait or is unknown. See collector_await_point(). */
bool session_await_point(struct session *s, uint64_t task, char *reason, size_t reason_size,
			 char *where, size_t where_size);

/*
 * Giving way (target/recording_lock.h). session_lock_fd(): the per-process lock, readable when
 * another asyncprof asks for it (-1: none). session_asked_to_give_way(): when it is readable,
 * whether someone asked (*asker: its pid, 0 unknown). session_give_way(): stops the recording
 * (session_stop(): its profiles so far stay) and lets the lock go.
 */
int session_lock_fd(const struct session *s);
bool session_asked_to_give_way(struct session *s, pid_t *asker);
void session_give_way(struct session *s);

/* Detaches what is still attached and frees everything (the windows cut are the caller's);
 * accepts NULL. */
void session_close(struct session *s);

#endif
