// SPDX-License-Identifier: MIT
/*
 * The collector on a long recording: tasks made and finished by the thousand leave their
 * figures in their spawn site's totals, not one record each, and their samples lose their task
 * labels; live tasks and the ancestry of live ones are untouched.
 */
#include <criterion/criterion.h>
#include <string.h>
#include <unistd.h>

#include "model/collector.h"
#include "util/hashmap.h"

static bool no_boundary(const char *function)
{
	return false;
}

static void task_event(struct collector *c, uint32_t kind, uint64_t task, uint64_t parent,
		       uint64_t time_ns)
{
	struct task_event e = {
		.kind = kind, .pid = 1, .tid = 7, .time_ns = time_ns, .task = task,
	};

	collector_task_event(c, &e, TASK_EVENT_SMALL, parent, kind == TASK_CREATE, NULL, false);
}

/* A CPU sample of task at time_ns, with a kernel frame only (no symbols needed). */
static void sample(struct collector *c, uint64_t task, uint64_t time_ns)
{
	static struct sample_event e = {
		.pid = 1, .tid = 7, .kstack_len = 1, .comm = "worker",
		.kstack = { 0xffffffff81001000ULL },
	};

	e.time_ns = time_ns;
	collector_add(c, &e, SAMPLE_HEADER_SIZE, task);
}

/* Distinct values of label key among prof's samples. */
static size_t distinct_labels(const struct profile *prof, const char *key)
{
	struct hashmap *seen = hashmap_new();
	size_t n;

	for (size_t i = 0; i < prof->nsamples; i++) {
		const struct profile_label *l = profile_sample_label(&prof->samples[i], key);

		if (l)
			hashmap_put(seen, &l->num, sizeof(l->num), 1);
	}
	n = hashmap_size(seen);
	hashmap_free(seen);
	return n;
}

Test(collector, exited_tasks_are_folded)
{
	const uint64_t second = 1000000000ULL, tasks = 3 * TASKS_KEPT_EXITED;
	struct symbolizer *sym = symbolizer_new();
	struct task_rec **live;
	struct process *proc;
	struct collector *c;
	json_t *sites;
	size_t n, total = 0;
	uint64_t now = 100 * second;

	cr_assert_eq(process_open(getpid(), sym, &proc), 0);
	cr_assert_eq(collector_new(proc, NULL, 10000000, &c), 0);
	collector_set_runtime(c, no_boundary, true, "task_id");
	task_event(c, TASK_CREATE, 1, TASK_ROOT, now); /* an acceptor, alive all along */
	for (uint64_t id = 2; id < 2 + tasks; id++) {
		now += second / 1000;
		task_event(c, TASK_CREATE, id, 1, now);
		sample(c, id, now);
		task_event(c, TASK_EXIT, id, 0, now);
	}
	task_event(c, TASK_CREATE, 1000000, tasks + 1, now); /* a child of the last one, alive */
	sample(c, 1000000, now);
	/* Ten seconds on (a fold's period and delay past), what exited before is folded at the
	 * next event. */
	now += 10 * second;
	sample(c, 1, now);
	live = task_list(collector_tasks(c), &n);
	cr_assert_eq(n, 2, "%zu tasks still kept one by one", n);
	cr_assert(live[0]->id == 1 && live[1]->id == 1000000);
	/* The live child's ancestry goes through its exited parent, still named. */
	{
		uint64_t ids[4];

		cr_assert_eq(task_ancestry(collector_tasks(c), 1000000, ids, 4), 3);
		cr_assert_eq(ids[1], tasks + 1);
	}
	/* Samples keep a task label for the live ones and the exited ones kept whole only. */
	cr_assert_leq(distinct_labels(collector_profile(c), "task_id"),
		      2 + TASKS_KEPT_EXITED + 5 * TASKS_KEPT_PER_SUMMARY);
	cr_assert_eq(profile_total(collector_profile(c), 0), (int64_t)tasks + 2);
	/* Every task counts in its site. */
	sites = task_sites_json(collector_tasks(c));
	for (size_t i = 0; i < json_array_size(sites); i++)
		total += json_integer_value(json_object_get(json_array_get(sites, i), "tasks"));
	cr_assert_eq(total, tasks + 2);
	json_decref(sites);
	collector_free(c);
	process_close(proc);
	symbolizer_free(sym);
}

/* Duty-cycled probes (tracer/capture/budget.c): one window, [10 s, 11 s]; what it saw whole
 * weighs 4. */
static bool in_window(void *ctx, uint64_t from, uint64_t to)
{
	const uint64_t second = 1000000000ULL;

	return from >= 10 * second && to <= 11 * second;
}

static double weighs_4(void *ctx, uint64_t len)
{
	return 4;
}

static void latency_event(struct collector *c, uint64_t task, uint64_t time_ns, uint64_t latency)
{
	struct task_event e = {
		.kind = TASK_RUN, .pid = 1, .tid = 7, .time_ns = time_ns, .task = task,
		.value = latency, .flags = TASK_EV_LATENCY,
	};

	collector_task_event(c, &e, TASK_EVENT_SMALL, 0, false, NULL, false);
}

Test(collector, duty_cycled_intervals_count_only_when_seen_whole)
{
	const uint64_t ms = 1000000ULL;
	struct symbolizer *sym = symbolizer_new();
	struct process *proc;
	struct collector *c;
	struct task_rec *t;

	cr_assert_eq(process_open(getpid(), sym, &proc), 0);
	cr_assert_eq(collector_new(proc, NULL, 10000000, &c), 0);
	collector_set_runtime(c, no_boundary, true, "task_id");
	collector_set_observation(c, &(struct collector_observation){ in_window, weighs_4, NULL });
	for (uint64_t id = 1; id <= 3; id++)
		task_event(c, TASK_CREATE, id, TASK_ROOT, 9000 * ms);
	/* inside the window: 300 ms of wait, standing for 1200 */
	task_event(c, TASK_AWAIT, 1, 0, 10200 * ms);
	task_event(c, TASK_RUNNABLE, 1, 0, 10500 * ms);
	/* begun before it, ended after it: not seen whole */
	task_event(c, TASK_AWAIT, 2, 0, 9900 * ms);
	task_event(c, TASK_RUNNABLE, 2, 0, 10400 * ms);
	task_event(c, TASK_AWAIT, 3, 0, 10800 * ms);
	task_event(c, TASK_RUNNABLE, 3, 0, 11300 * ms);
	/* a latency inside it, and one that began before it */
	latency_event(c, 1, 10600 * ms, 100 * ms);
	latency_event(c, 2, 10050 * ms, 200 * ms);

	t = task_find(collector_tasks(c), 1);
	cr_assert_eq(t->wait_ns, 1200 * ms);
	cr_assert_eq(t->runnable_ns, 400 * ms, "the latency weighs 4 in runnable_ns");
	cr_assert_eq(t->lat.count, 1, "percentiles are of the latencies seen: one");
	t = task_find(collector_tasks(c), 2);
	cr_assert_eq(t->wait_ns, 0);
	cr_assert_eq(t->lat.count, 0);
	cr_assert_eq(task_find(collector_tasks(c), 3)->wait_ns, 0);
	/* the wait profile: 4 suspensions of 300 ms */
	cr_assert_eq(profile_total(collector_wait_profile(c), 0), 4);
	cr_assert_eq(profile_total(collector_wait_profile(c), 1), (int64_t)(1200 * ms));
	collector_free(c);
	process_close(proc);
	symbolizer_free(sym);
}
