/* SPDX-License-Identifier: MIT */
#ifndef ASYNCPROF_BUDGET_H
#define ASYNCPROF_BUDGET_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <sys/types.h>
#include <jansson.h>

/*
 * budget: keeps what a runtime's hot probes (one hit per poll, wake, park...) cost the target
 * under a share of its CPU (--budget PCT), by turning them on for short windows and off in
 * between (duty cycling); and the windows, so that the model uses only what it saw whole and
 * scales what it counted. The design note and the measures behind it are in budget.c.
 */

/* What one hit of a hot probe costs the target here, measured at start (budget_calibrate). */
struct hit_cost {
	double plain_ns;   /* the probed instruction emulated by the kernel (PUSH, NOP, JMP) */
	double stepped_ns; /* the probed instruction single-stepped out of line */
};

/*
 * Measures the cost of a uprobe hit on this machine: probes on two functions of asyncprof's own,
 * each called a few hundred times (a few ms in all), with the empty BPF program attached the way
 * the hot probes are (a uprobe_multi link). Returns 0, or -EOPNOTSUPP when this kernel has no
 * uprobe_multi links (Linux 6.6) and the hot probes cannot be turned off cheaply, or -errno.
 */
int budget_calibrate(struct hit_cost *cost);

/*
 * A set of hot probes attached as one uprobe_multi link per BPF program, so that they can be
 * removed from the target (its breakpoints restored) and put back in one system call each. The
 * programs must have been loaded with hot_probes_prepare() (before their object is loaded).
 */
struct hot_probes;
struct probe_image;
struct probe_site;
struct bpf_program;

void hot_probes_prepare(struct bpf_program *prog);
int hot_probes_new(struct probe_image *img, pid_t pid, struct hot_probes **out);
void hot_probes_free(struct hot_probes *hp); /* accepts NULL; detaches */
/* Checks site (probe_site_check) and adds it to prog's link, cookie marked single-stepped when
 * the kernel does not emulate the instruction. Attached programs are attached in the order of
 * their first site, and detached in the reverse order. Returns 0, or -errno with why filled. */
int hot_probes_add(struct hot_probes *hp, struct bpf_program *prog, const struct probe_site *site,
		   uint64_t cookie, char *why, size_t len);
size_t hot_probes_count(const struct hot_probes *hp);
int hot_probes_attach(struct hot_probes *hp); /* 0, or -errno (none attached then) */
void hot_probes_detach(struct hot_probes *hp);
/* The run time of the programs so far (ns) and their runs, when the kernel keeps BPF statistics
 * (budget_start enables them); 0 otherwise. */
void hot_probes_run_time(const struct hot_probes *hp, uint64_t *ns, uint64_t *runs);

/* What the budget asks of the runtime: turn its hot probes off or on (from the budget's own
 * thread), and their hits so far, counted by the probes: [0] plain, [1] single-stepped. */
struct budget_hooks {
	int (*set_hot)(void *ctx, bool on);
	void (*hits)(void *ctx, uint64_t hits[2]);
	void (*run_time)(void *ctx, uint64_t *ns, uint64_t *runs);
	void *ctx;
};

struct budget;

/*
 * Starts the budget's thread for process pid: share is the fraction of the target's CPU the hot
 * probes may cost (0.02 for --budget 2); the hot probes are on (attached) now. Returns 0 and
 * *out, or -errno.
 */
int budget_start(pid_t pid, double share, const struct hit_cost *cost,
		 const struct budget_hooks *hooks, bool verbose, struct budget **out);

/* The recording starts at now_ns (after budget_start: the budget counts from the hot probes'
 * attach, the share of the time observed from the recording's start, before which a launched
 * target has not run yet). */
void budget_recording_starts(struct budget *b, uint64_t now_ns);

/* Ends the thread at now (the probes stay as they are: the caller's stop takes them); the windows
 * are final. Idempotent. */
void budget_stop(struct budget *b, uint64_t now_ns);
void budget_free(struct budget *b); /* accepts NULL */

/* Whether the hot probes were on during all of [from, to] (CLOCK_MONOTONIC ns): an interval the
 * model may measure. Thread-safe. */
bool budget_observed(struct budget *b, uint64_t from, uint64_t to);

/*
 * What an interval of len ns seen whole weighs against one instant seen: W / (W - len) for the
 * windows' length W (at most 4), 1 before any cycling. The totals are then scaled by the inverse
 * of budget_fraction() at the end. Thread-safe.
 */
double budget_weight(struct budget *b, uint64_t len);

/* The share of the recording the hot probes were on (1: all of it, exact counts). */
double budget_fraction(struct budget *b);

/* report.json's "duty" object (a new reference). */
json_t *budget_json(struct budget *b);

/* One line for the summary ("hot probes on 4.1% of the time, in 37 windows ..."). */
void budget_describe(struct budget *b, char *buf, size_t size);

#endif
