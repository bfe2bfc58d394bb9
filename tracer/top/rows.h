/* SPDX-License-Identifier: MIT */
#ifndef ASYNCPROF_TOP_ROWS_H
#define ASYNCPROF_TOP_ROWS_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "session/session.h"

/*
 * What asyncprof top shows, without the terminal: the rows of its lists (live tasks, or spawn
 * sites with every task they ever spawned, folded ones included), the header's figures, and a
 * row's detail, all made from one session's task table and event stream.
 *
 * Rates are either over the last refresh (the live view) or over the whole time since the start
 * (since_start: the same periods report.json covers, which is how its figures can be checked
 * against it). Cumulative figures (the task table's) are kept from one refresh to the next,
 * per task id and per spawn site, to make the rates of the last interval.
 */
struct top_model;

enum top_view { TOP_TASKS, TOP_SITES };

enum top_sort {
	SORT_CPU,
	SORT_POLLS,
	SORT_BUSY,
	SORT_WAIT,
	SORT_P99,
	SORT_MAX_POLL,
	SORT_AGE,
	SORT_NAME,
	SORT_KEYS
};

struct top_row {
	uint64_t task;	 /* TOP_TASKS: the task's id */
	char name[160];	 /* the task's name, or the name of a site's tasks */
	bool mixed;	 /* TOP_SITES: its tasks have different names ("NAME and others") */
	char site[200];	 /* where it is spawned ("" when unknown) */
	double cpu_pct;	 /* of one CPU, from samples */
	double polls_s;	 /* < 0: not counted (Tokio and Go count polls from lifecycle mode on) */
	double busy_pct; /* time on a CPU inside its polls (full mode; < 0: not measured) */
	uint64_t live, total; /* TOP_SITES: live tasks, every task spawned there */
	uint64_t waiting;     /* TOP_SITES: live tasks suspended now (see waits_live) */
	uint64_t wait_ns;     /* TOP_TASKS: suspended this long now (0: not suspended) */
	char reason[40];      /* TOP_TASKS: why it waits ("" when unknown) */
	uint64_t p99_ns, max_poll_ns, age_ns;
};

struct top_header {
	const char *runtime, *version, *comm;
	const char *mode;
	bool waits_live; /* the mode follows suspensions and wakes (lifecycle, full) */
	double elapsed_s, interval_s;
	double samples_s;
	size_t nworkers;
	double workers_pct;   /* mean on-CPU share of the worker threads */
	double worker_pct[8]; /* of the first 8 */
	uint64_t live_tasks;
	double spawned_s; /* tasks spawned per second */
	uint64_t events_lost;
};

struct top_model *top_model_new(struct session *s, unsigned int freq_hz, enum task_mode mode);
void top_model_free(struct top_model *m); /* accepts NULL */

/* The session's listener (session_set_listener(s, top_model_listen, m)). */
void top_model_listen(void *ctx, const struct session_event *e);

/* Rebuilds the rows and the header from the task table now; rates over the time since the last
 * refresh, or since the start. Returns 0 or -ENOMEM. */
int top_model_refresh(struct top_model *m, bool since_start);

/* The rows of a view, sorted by key (descending; names ascending). */
size_t top_model_rows(struct top_model *m, enum top_view v, enum top_sort key,
		      const struct top_row **rows);
const struct top_header *top_model_header(const struct top_model *m);

/*
 * The detail of a row: its ancestry, where it waits, its figures and its hottest stacks among
 * the recent samples, as lines of text (each at most width columns) given to put (heading:
 * a section's title). Returns 0 or -ENOMEM.
 */
int top_model_detail(struct top_model *m, enum top_view v, const struct top_row *r, int width,
		     void (*put)(void *ctx, bool heading, const char *line), void *ctx);

const char *top_sort_name(enum top_sort key);

/* "1.23s", "12.3ms", "45us", "-" for 0: a duration in at most 7 columns, into buf. */
const char *top_fmt_ns(uint64_t ns, char *buf, size_t size);

#endif
