/* SPDX-License-Identifier: MIT */
#ifndef ASYNCPROF_AGENT_GOVERNOR_H
#define ASYNCPROF_AGENT_GOVERNOR_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

/*
 * governor: keeps the agent's own CPU under its budget (--cpu-budget, a share of the host's CPU
 * time: 1% of a 2-CPU host is 20 ms of CPU a second).
 *
 * After each window the agent gives it the CPU time it used over the window (all its threads:
 * unwinding, symbolizing, encoding, exporting), the CPU samples it took and the events each
 * view it can detach made it handle. Almost all of that work is per sample or per event (an
 * event with a stack costs what a sample does), so it scales with the sampling rate and the
 * views' event rates, and the larger of the two goes first:
 *
 *	- over budget, when a view sent more events than there were samples, the view with the
 *	  most events is detached (one a window: the share is then measured again);
 *	- else the rate is lowered in proportion, with a margin (to 80% of the budget), down to
 *	  min_hz;
 *	- over budget at min_hz, the view with the most events is detached;
 *	- under half the budget for two windows in a row, the rate is raised again, at most
 *	  doubled a window, never above the rate asked for and never above what the last
 *	  measure says fits (detached views stay detached: their probes cost the targets too).
 *
 * The decisions are plain functions of the measures, so the tests drive them with numbers.
 */
struct governor_view {
	const char *name; /* "pid 1234 (server): Tokio lifecycle probes" */
	uint64_t events;  /* what it made the agent handle over the window */
	bool attached;
};

struct governor {
	double budget;		 /* share of the host, 0.01 for 1% */
	unsigned int ncpus;	 /* the host's online CPUs */
	unsigned int asked_hz;	 /* -F */
	unsigned int min_hz;	 /* lowest rate it lowers to */
	unsigned int freq_hz;	 /* the rate now */
	unsigned int under;	 /* windows in a row under half the budget */
	double last_share;	 /* the last window's share of the host */
	uint64_t rate_changes;	 /* decisions so far, for the exported attributes */
	uint64_t views_detached;
};

enum governor_action { GOV_KEEP, GOV_LOWER_RATE, GOV_RAISE_RATE, GOV_DETACH_VIEW };

struct governor_decision {
	enum governor_action action;
	unsigned int freq_hz; /* the rate for the next window */
	size_t view;	      /* GOV_DETACH_VIEW: which */
	char why[256];	      /* one sentence for the log */
};

void governor_init(struct governor *g, double budget, unsigned int ncpus, unsigned int asked_hz);

/*
 * Decides from the last window: cpu_s seconds of the agent's CPU over wall_s seconds, the CPU
 * samples taken, and the views that can be detached. Updates g (freq_hz, the counters).
 */
void governor_decide(struct governor *g, double cpu_s, double wall_s, uint64_t samples,
		     const struct governor_view *views, size_t nviews,
		     struct governor_decision *d);

#endif
