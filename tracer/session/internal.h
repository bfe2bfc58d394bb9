/* SPDX-License-Identifier: MIT */
#ifndef ASYNCPROF_SESSION_INTERNAL_H
#define ASYNCPROF_SESSION_INTERNAL_H

/* What session.c (the phases) and outputs.c (files, report, summary) share. */
#include "session.h"
#include "bpf/sampler.h"
#include "capture/budget.h"
#include "capture/event_loss.h"
#include "runtimes/runtime.h"

#define SESSION_MAX_WARNINGS 24

struct session {
	struct session_opts opts;
	struct symbolizer *sym, *own_sym;
	struct kallsyms *ks, *own_ks;
	struct process *proc;
	int lock_fd;
	struct collector *col;
	const struct runtime_ops *rt;
	void *rt_state;
	struct runtime_capture cap;
	struct sampler *sampler;
	struct offcpu *off;
	uint64_t counters[CNT_MAX]; /* the sampler's, read at the stop */
	/* The recording's time: wall clock (ns since the epoch) and CLOCK_MONOTONIC at the start,
	 * at the current window's start, and at the stop. */
	int64_t start_wall_ns, window_wall_ns;
	uint64_t start_ns, window_ns, stop_ns;
	double cpu_start_s, cpu_end_s;
	uint64_t max_rss_kb;
	bool started, stopped;
	bool no_kallsyms;
	bool gathered; /* warnings and loss, once stopped */
	struct event_loss loss;
	char loss_warning[256];
	const char *warnings[SESSION_MAX_WARNINGS];
	size_t nwarnings;
	struct session_window last; /* after the stop; profiles owned by the collector */
	bool command;		    /* session_set_command_status() was called */
	int command_status, command_stopped_with;
	session_listener_fn listener;
	void *listener_ctx;
	struct budget *budget; /* duty cycling of the hot probes, or NULL: always on */
	const char *budget_warning;
	char budget_line[512]; /* the summary's line about it */
	struct timeline *timeline; /* session_opts.timeline_events; NULL: none */
};

/* The profiles being recorded now, with their stems and titles (owned by the collector). */
void session_current_profiles(struct session *s, struct session_window *w);

#endif
