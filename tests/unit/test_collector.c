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
