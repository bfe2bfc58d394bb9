/* SPDX-License-Identifier: MIT */
#ifndef ASYNCPROF_TIMELINE_H
#define ASYNCPROF_TIMELINE_H

#include <jansson.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <sys/types.h>

#include "session/session.h"

/*
 * timeline: the recording over time, as a Perfetto trace (timeline.perfetto-trace, the protobuf
 * TracePacket stream ui.perfetto.dev and trace_processor open), made from the session's event
 * stream (struct session_event). The design note at the top of timeline.c says what it shows
 * and how it stays bounded.
 */
struct timeline;

struct timeline_opts {
	pid_t pid;
	const char *comm;  /* the process's name (its track) */
	size_t max_events; /* the cap: the last max_events events are kept */
	bool poll_ends;	   /* a STOP ends each poll; else a poll ends at the task's await or when
			    * its thread runs another task */
};

#define TIMELINE_DEFAULT_MAX_EVENTS 1000000
#define TIMELINE_FILE "timeline.perfetto-trace"

/* Returns 0 and *out, or -ENOMEM / -EINVAL (max_events 0). */
int timeline_new(const struct timeline_opts *o, struct timeline **out);

/* Takes one event of the session's stream (a session_listener_fn's work). */
void timeline_event(struct timeline *tl, const struct session_event *e);

/* The recording ended at now_ns (CLOCK_MONOTONIC): what is still under way (polls, states,
 * a GC cycle) ends there. */
void timeline_finish(struct timeline *tl, uint64_t now_ns);

/* Writes the trace to file in dirfd. Returns 0 or -errno (nothing said: the caller says it). */
int timeline_write(struct timeline *tl, int dirfd, const char *file);

/* report.json's "timeline": file, max_events, events (kept), dropped, kept_from_s and
 * kept_s (what the kept events span, from the recording's start at start_ns),
 * task_events_lost (the probes' events lost, given: the slices they would have made are
 * missing), polls_unended (polls whose end was lost, left out), complete. A new reference, or
 * NULL on ENOMEM. */
json_t *timeline_json(const struct timeline *tl, uint64_t start_ns, uint64_t events_lost);

/* One line for the terminal summary. */
void timeline_print_summary(const struct timeline *tl, uint64_t start_ns, uint64_t events_lost,
			    FILE *f);

void timeline_free(struct timeline *tl); /* accepts NULL */

#endif
