/* SPDX-License-Identifier: MIT */
#ifndef ASYNCPROF_EVENT_LOSS_H
#define ASYNCPROF_EVENT_LOSS_H

#include <stdint.h>
#include <stdbool.h>
#include <stdio.h>
#include <jansson.h>

#include "bpf/task.h"

/*
 * event_loss: what the runtime probes sent and what they lost, per event kind (the probes count
 * an event they could not send, the ring buffer being full, in task_drops[kind]), and which
 * figures the lost ones leave incomplete: a lost wake leaves a suspension open until the next
 * run, a lost await loses a suspension's start and stack, a lost spawn its parent and site.
 * report.json's "task_events" and a line of the terminal summary say it, and the summary marks
 * the sections those figures are in.
 */
struct event_kind_info {
	const char *name;    /* report.json's key: "await", "gc_start" */
	const char *figures; /* what a lost one leaves incomplete, as report.json names them:
			      * "wait_ns wait.pb.gz ..." */
};

struct event_loss {
	uint64_t received[TASK_KINDS];
	uint64_t dropped[TASK_KINDS];
	/* The runtime's own kinds (>= TASK_RUNTIME_KINDS), and the model's kinds where the
	 * runtime knows better which figures they feed; NULL (or returning NULL): the model's. */
	const struct event_kind_info *(*runtime_kind)(uint32_t kind);
};

uint64_t event_loss_dropped(const struct event_loss *l);

/* Whether a lost event leaves the figure (a word of event_kind_info.figures) incomplete. */
bool event_loss_affects(const struct event_loss *l, const char *figure);

/* report.json's "task_events": {received, dropped, kinds: {name: {received, dropped}},
 * incomplete: [figures]}; a new reference, NULL without memory. */
json_t *event_loss_json(const struct event_loss *l);

/* The summary's line on lost events and the figures they affect; nothing when none was lost. */
void event_loss_print(FILE *f, const struct event_loss *l);

#endif
