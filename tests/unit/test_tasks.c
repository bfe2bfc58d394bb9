// SPDX-License-Identifier: MIT
#include <criterion/criterion.h>
#include <string.h>

#include "util/hashmap.h"
#include "model/tasks.h"

static struct task_rec *add(struct task_table *tt, uint64_t id, uint64_t parent, const char *name)
{
	struct task_rec *t = task_get(tt, id);

	cr_assert_not_null(t);
	t->parent = parent;
	t->parent_known = true;
	task_set_shared(&t->name, name);
	return t;
}

Test(tasks, ancestry_is_root_first)
{
	struct task_table *tt = task_table_new();
	uint64_t ids[8];
	size_t n;

	add(tt, 10, TASK_ROOT, "a");
	add(tt, 12, 10, "b");
	add(tt, 15, 12, "c");
	n = task_ancestry(tt, 15, ids, 8);
	cr_assert_eq(n, 3);
	cr_assert_eq(ids[0], 10);
	cr_assert_eq(ids[1], 12);
	cr_assert_eq(ids[2], 15);
	/* Limited depth keeps the nearest ancestors. */
	n = task_ancestry(tt, 15, ids, 2);
	cr_assert_eq(n, 2);
	cr_assert_eq(ids[0], 12);
	cr_assert_eq(ids[1], 15);
	task_table_free(tt);
}

Test(tasks, ancestry_stops_at_unknown_parent_and_cycles)
{
	struct task_table *tt = task_table_new();
	struct task_rec *t;
	uint64_t ids[8];

	t = task_get(tt, 7); /* existed before attach: parent unknown */
	add(tt, 8, 7, "child");
	cr_assert_eq(task_ancestry(tt, 8, ids, 8), 2);
	cr_assert_eq(ids[0], 7);
	cr_assert_not(t->parent_known);

	add(tt, 20, 21, "x");
	add(tt, 21, 20, "y"); /* a corrupt cycle must not loop */
	cr_assert_eq(task_ancestry(tt, 20, ids, 8), 2);
	task_table_free(tt);
}

Test(tasks, lookup_survives_out_of_order_ids)
{
	struct task_table *tt = task_table_new();
	struct task_rec **list;
	size_t n;

	for (int64_t id = 100; id > 0; id -= 7)
		add(tt, id, TASK_ROOT, "t");
	list = task_list(tt, &n);
	cr_assert_eq(n, 15);
	for (size_t i = 1; i < n; i++)
		cr_assert_lt(list[i - 1]->id, list[i]->id);
	for (int64_t id = 100; id > 0; id -= 7)
		cr_assert_eq(task_find(tt, id)->id, id);
	cr_assert_null(task_find(tt, 3));
	task_table_free(tt);
}

Test(tasks, latency_percentiles)
{
	struct latency l = { 0 };
	struct latency_stats st;

	for (int i = 0; i < 50; i++)
		latency_add(&l, (50 - i) * 1000); /* 1..50 us, unsorted: exact */
	latency_summary(&l, &st);
	cr_assert_eq(st.count, 50);
	cr_assert_eq(st.p50, 25000);
	cr_assert_eq(st.p99, 50000);
	cr_assert_eq(st.max, 50000);
	latency_free(&l);
	latency_summary(&l, &st);
	cr_assert_eq(st.count, 0);
	cr_assert_eq(st.max, 0);
}

/* Past LATENCY_EXACT values a histogram takes over: percentiles within 1/32, memory bounded. */
Test(tasks, latency_histogram)
{
	struct latency l = { 0 }, other = { 0 }, merged = { 0 };
	struct latency_stats st;

	for (uint64_t i = 1; i <= 100000; i++)
		latency_add(&l, i * 1000); /* 1 us .. 100 ms, uniform */
	latency_summary(&l, &st);
	cr_assert_eq(st.count, 100000);
	cr_assert_eq(st.max, 100000000);
	cr_assert(st.p50 > 50000000ULL * 31 / 32 && st.p50 < 50000000ULL * 33 / 32, "p50 %lu",
		  st.p50);
	cr_assert(st.p99 > 99000000ULL * 31 / 32 && st.p99 <= 100000000ULL, "p99 %lu", st.p99);
	cr_assert_null(l.values);
	cr_assert_lt(l.hi - l.lo + 1, 16 * 18, "buckets beyond the range seen");
	cr_assert_eq(l.sum, 100000ULL * 100001 / 2 * 1000);
	/* Merging: exact into exact stays exact; anything into a histogram adds up. */
	latency_add(&other, 7);
	latency_add(&other, 3);
	cr_assert_eq(latency_merge(&merged, &other), 0);
	cr_assert_not_null(merged.values);
	cr_assert_eq(latency_merge(&merged, &l), 0);
	latency_summary(&merged, &st);
	cr_assert_eq(st.count, 100002);
	cr_assert_eq(st.max, 100000000);
	cr_assert(st.p50 > 50000000ULL * 31 / 32 && st.p50 < 50000000ULL * 33 / 32);
	latency_free(&l);
	latency_free(&other);
	latency_free(&merged);
}

/* A task a service made and forgot: its figures stay in its site's totals, it does not. */
Test(tasks, fold_keeps_totals_not_tasks)
{
	struct task_table *tt = task_table_new();
	struct hashmap *gone = hashmap_new();
	json_t *sites, *arr, *site;
	size_t omitted, n;
	struct task_rec *t;

	add(tt, 1, TASK_ROOT, "acceptor"); /* live: every connection descends from it */
	for (uint64_t id = 2; id < 3 + TASKS_KEPT_EXITED; id++) {
		t = add(tt, id, 1, "connection");
		task_set_shared(&t->spawned_at, "accept (main.rs:9)");
		t->cpu_ns = id;
		t->polls = 2;
		task_add_latency(t, 1000, 1);
		t->exited_ns = 100;
	}
	t = add(tt, 5000, 2, "query"); /* live, its parent connection 2 exited (the lightest) */
	t = add(tt, 5001, 3, "late"); /* exited after the fold's limit */
	t->exited_ns = 300;
	cr_assert_eq(task_table_fold(tt, 200, NULL, NULL, gone), TASKS_KEPT_EXITED + 1);
	/* The lightest exited task went, and its id is reported gone. */
	cr_assert_eq(hashmap_size(gone), 1);
	cr_assert(hashmap_get(gone, &(uint64_t){ 2 }, sizeof(uint64_t), NULL));
	cr_assert_null(task_find(tt, 2));
	task_list(tt, &n);
	cr_assert_eq(n, 3, "acceptor, query and late stay");
	/* The live query's ancestry still goes through its exited parent. */
	{
		uint64_t ids[8];

		cr_assert_eq(task_ancestry(tt, 5000, ids, 8), 3);
		cr_assert_eq(ids[0], 1);
		cr_assert_eq(ids[1], 2);
		struct task_identity parent;

		cr_assert_null(task_find(tt, 2), "folded: not a task record any more");
		cr_assert(task_identity(tt, 2, &parent));
		cr_assert_str_eq(parent.name, "connection");
		cr_assert_str_eq(parent.spawned_at, "accept (main.rs:9)");
	}
	/* Every connection counts in its site, folded or not. */
	sites = task_sites_json(tt);
	site = NULL;
	for (size_t i = 0; i < json_array_size(sites); i++)
		if (strcmp(json_string_value(json_object_get(json_array_get(sites, i),
							       "spawned_at")),
			   "accept (main.rs:9)") == 0)
			site = json_array_get(sites, i);
	cr_assert_not_null(site);
	cr_assert_eq(json_integer_value(json_object_get(site, "tasks")), TASKS_KEPT_EXITED + 1);
	cr_assert_eq(json_integer_value(json_object_get(site, "polls")),
		     2 * (TASKS_KEPT_EXITED + 1));
	cr_assert_eq(json_integer_value(json_object_get(json_object_get(site, "sched_latency_ns"),
						       "count")),
		     TASKS_KEPT_EXITED + 1);
	/* tasks[] lists the live ones, then the heaviest exited; the rest is counted. */
	arr = task_table_json(tt, TASKS_KEPT_EXITED, &omitted);
	cr_assert_eq(json_array_size(arr), TASKS_KEPT_EXITED);
	cr_assert_eq(omitted, 3 + TASKS_KEPT_EXITED + 1 - TASKS_KEPT_EXITED);
	json_decref(arr);
	json_decref(sites);
	/* Once the query exits and is folded, its parent's identity is not needed any more. */
	task_find(tt, 5000)->exited_ns = 400;
	task_find(tt, 5001)->cpu_ns = 1000000; /* heavier than every kept one */
	hashmap_free(gone);
	gone = hashmap_new();
	cr_assert_eq(task_table_fold(tt, 500, NULL, NULL, gone), 2);
	cr_assert_not_null(task_find(tt, 5001), "the heaviest is kept");
	cr_assert(hashmap_get(gone, &(uint64_t){ 5000 }, sizeof(uint64_t), NULL));
	cr_assert_not(task_identity(tt, 2, &(struct task_identity){ 0 }),
		      "an identity no task needs any more is forgotten");
	cr_assert(hashmap_get(gone, &(uint64_t){ 3 }, sizeof(uint64_t), NULL),
		  "the lightest kept one makes room");
	hashmap_free(gone);
	task_table_free(tt);
}

Test(tasks, json_has_the_report_fields)
{
	struct task_table *tt = task_table_new();
	struct task_rec *t = add(tt, 5, TASK_ROOT, "app::worker::{{closure}}");
	json_t *arr, *o, *lat, *sites;
	size_t omitted;

	task_set_shared(&t->spawned_at, "app::main (main.rs:10)");
	t->polls = 3;
	t->poll = (struct poll_stats){ .total = { 2500, 1500, 700 }, .longest = { 900, 600, 200 } };
	t->wait_ns = 40000000;
	task_add_latency(t, 2000, 1);
	task_add_latency(t, 4000, 1);
	add(tt, 6, 5, "app::child")->wait_ns = 5;
	arr = task_table_json(tt, 100, &omitted);
	cr_assert_eq(json_array_size(arr), 2);
	cr_assert_eq(omitted, 0);
	o = json_array_get(arr, 0);
	cr_assert_eq(json_integer_value(json_object_get(o, "id")), 5);
	cr_assert_eq(json_integer_value(json_object_get(o, "parent")), 0);
	cr_assert_str_eq(json_string_value(json_object_get(o, "name")), "app::worker::{{closure}}");
	cr_assert_str_eq(json_string_value(json_object_get(o, "spawned_at")),
			 "app::main (main.rs:10)");
	cr_assert_eq(json_integer_value(json_object_get(o, "polls")), 3);
	cr_assert_eq(json_integer_value(json_object_get(o, "wait_ns")), 40000000);
	cr_assert_eq(json_integer_value(json_object_get(o, "busy_ns")), 1500, "time on a CPU");
	cr_assert_eq(json_integer_value(json_object_get(o, "poll_wall_ns")), 2500);
	cr_assert_eq(json_integer_value(json_object_get(o, "poll_preempted_ns")), 700);
	cr_assert_eq(json_integer_value(json_object_get(o, "max_poll_ns")), 900);
	cr_assert_eq(json_integer_value(json_object_get(o, "max_poll_cpu_ns")), 600);
	cr_assert_eq(json_integer_value(json_object_get(o, "max_poll_preempted_ns")), 200);
	lat = json_object_get(o, "sched_latency_ns");
	cr_assert_eq(json_integer_value(json_object_get(lat, "count")), 2);
	cr_assert_eq(json_integer_value(json_object_get(lat, "max")), 4000);
	/* Time runnable is the sum of the latencies. */
	cr_assert_eq(json_integer_value(json_object_get(o, "runnable_ns")), 6000);
	cr_assert(json_is_null(json_object_get(json_array_get(arr, 1), "spawned_at")));

	sites = task_sites_json(tt);
	cr_assert_eq(json_array_size(sites), 2);
	cr_assert_eq(json_integer_value(json_object_get(json_array_get(sites, 0), "runnable_ns")) +
			     json_integer_value(json_object_get(json_array_get(sites, 1), "runnable_ns")),
		     6000);
	json_decref(arr);
	json_decref(sites);
	task_table_free(tt);
}

/* A service makes tasks by the million: tasks[] keeps the live ones, then the heaviest exited. */
Test(tasks, tasks_json_keeps_live_then_heaviest_exited)
{
	struct task_table *tt = task_table_new();
	json_t *arr;
	size_t omitted;

	for (uint64_t id = 1; id <= 10; id++) {
		struct task_rec *t = add(tt, id, TASK_ROOT, "t");

		t->cpu_ns = id * 1000;
		t->exited_ns = id <= 6 ? id : 0; /* 7..10 live, with the most CPU among them */
	}
	task_get(tt, 9)->cpu_ns = 1; /* live but light: still kept */
	arr = task_table_json(tt, 6, &omitted);
	cr_assert_eq(json_array_size(arr), 6);
	cr_assert_eq(omitted, 4);
	/* id order: exited 5 and 6 (heaviest exited), then live 7..10 */
	for (size_t i = 0; i < 6; i++)
		cr_assert_eq(json_integer_value(json_object_get(json_array_get(arr, i), "id")),
			     (json_int_t)(5 + i));
	json_decref(arr);
	task_table_free(tt);
}

/* The longest poll is the one the task held its thread longest for, not counting preemption. */
Test(tasks, longest_poll_by_own_time)
{
	const struct thread_clock start = { 1000, 5000, 300 };
	const struct thread_clock preempted_end = { 1000 + 20000000, 5000 + 1000000, 300 + 19000000 };
	const struct poll_time sleeper = { .wall_ns = 12000000, .cpu_ns = 100000 };
	struct poll_stats s = { 0 };
	struct poll_time p;

	poll_time_between(&p, &start, &preempted_end);
	cr_assert_eq(p.wall_ns, 20000000);
	cr_assert_eq(p.cpu_ns, 1000000);
	cr_assert_eq(p.preempted_ns, 19000000);
	cr_assert_eq(poll_own_ns(&p), 1000000);
	poll_stats_add(&s, &p);
	poll_stats_add(&s, &sleeper); /* off the CPU but not preempted: a blocking call */
	cr_assert_eq(s.longest.wall_ns, 12000000, "a 20 ms poll preempted for 19 ms is shorter");
	cr_assert_eq(s.total.wall_ns, 32000000);
	cr_assert_eq(s.total.cpu_ns, 1100000);
	cr_assert_eq(s.total.preempted_ns, 19000000);
}

/* The site's figures of the one site in sites (its "tasks" and "wait_ns"). */
static void site_figures(struct task_table *tt, const char *site, json_int_t *tasks,
			 json_int_t *wait_ns)
{
	json_t *sites = task_sites_json(tt), *s;
	size_t i;

	*tasks = *wait_ns = -1;
	json_array_foreach(sites, i, s)
	{
		if (strcmp(json_string_value(json_object_get(s, "spawned_at")), site) == 0) {
			*tasks = json_integer_value(json_object_get(s, "tasks"));
			*wait_ns = json_integer_value(json_object_get(s, "wait_ns"));
		}
	}
	json_decref(sites);
}

/*
 * A goroutine leaked from an exited parent, parked for long, dozes: its record goes, its
 * identity and its parent's stay (its ancestry is what profiles show), its figures and waits go
 * to its site; it is whole again when it runs, counted once in its site, however often it
 * dozes.
 */
Test(tasks, dormant_tasks_keep_identity_and_ancestry)
{
	struct task_table *tt = task_table_new();
	struct hashmap *gone = hashmap_new();
	struct task_rec *parent = add(tt, 10, TASK_ROOT, "main.handleRequest");
	struct task_rec *leak = add(tt, 11, 10, "main.fetchResult"), *busy;
	struct task_identity id;
	uint64_t ids[4];
	json_int_t tasks, wait;

	task_set_shared(&leak->spawned_at, "main.handleRequest (main.go:110)");
	leak->wait_ns = 500;
	leak->parked_since = 100;
	busy = add(tt, 12, 10, "main.fetchResult");
	task_set_shared(&busy->spawned_at, "main.handleRequest (main.go:110)");
	parent->exited_ns = 50;
	cr_assert_eq(task_table_fold(tt, 60, NULL, NULL, gone), 1);

	cr_assert_eq(task_table_doze(tt, 100), 0, "parked since 100: not before 100");
	cr_assert_eq(task_table_doze(tt, 200), 1, "only the parked one dozes");
	cr_assert_null(task_find(tt, 11));
	cr_assert(task_dormant(tt, 11));
	cr_assert_not(task_dormant(tt, 12));
	cr_assert_eq(task_table_dormant(tt), 1);
	cr_assert(task_identity(tt, 11, &id));
	cr_assert_str_eq(id.name, "main.fetchResult");
	cr_assert_eq(id.parent, 10);
	task_dormant_wait(tt, 11, 1000);
	site_figures(tt, "main.handleRequest (main.go:110)", &tasks, &wait);
	cr_assert_eq(tasks, 2, "the dormant one and the live one");
	cr_assert_eq(wait, 1500, "its waits before and since it dozed");

	/* Folds keep the parent's identity: a dormant task descends from it. */
	busy->exited_ns = 300;
	task_table_fold(tt, 400, NULL, NULL, gone);
	cr_assert_eq(task_ancestry(tt, 11, ids, 4), 2);
	cr_assert_eq(ids[0], 10);
	cr_assert(task_identity(tt, 10, &id));
	cr_assert_str_eq(id.name, "main.handleRequest");

	/* It runs: whole again, named, its parent known, not counted twice. */
	leak = task_get(tt, 11);
	cr_assert_str_eq(leak->name, "main.fetchResult");
	cr_assert_eq(leak->parent, 10);
	cr_assert(leak->parent_known);
	cr_assert_not(task_dormant(tt, 11));
	cr_assert_eq(task_table_dormant(tt), 0);
	leak->parked_since = 500;
	cr_assert_eq(task_table_doze(tt, 600), 1);
	leak = task_get(tt, 11);
	leak->exited_ns = 700;
	task_table_fold(tt, 800, NULL, NULL, gone);
	site_figures(tt, "main.handleRequest (main.go:110)", &tasks, &wait);
	cr_assert_eq(tasks, 2, "dozed twice, folded once: one task");
	cr_assert_not(task_dormant(tt, 11));
	cr_assert_eq(task_table_dormant(tt), 0);
	hashmap_free(gone);
	task_table_free(tt);
}

static bool none_alive(void *ctx, uint64_t id)
{
	(void)ctx;
	(void)id;
	return false;
}

/* A dormant task that ends is no longer dormant: its identity goes once nothing needs it. */
Test(tasks, dormant_tasks_end)
{
	struct task_table *tt = task_table_new();
	struct hashmap *gone = hashmap_new();
	struct task_rec *t = add(tt, 7, TASK_ROOT, "main.leaked");

	t->parked_since = 1;
	cr_assert_eq(task_table_doze(tt, 2), 1);
	cr_assert_eq(task_table_end_dormant(tt, none_alive, NULL), 1);
	cr_assert_not(task_dormant(tt, 7));
	cr_assert_eq(task_table_dormant(tt), 0);
	task_table_fold(tt, 10, NULL, NULL, gone);
	cr_assert_not(task_identity(tt, 7, &(struct task_identity){ 0 }));
	hashmap_free(gone);
	task_table_free(tt);
}
