// SPDX-License-Identifier: MIT
#include "tasks.h"
#include "array.h"
#include "hashmap.h"
#include "event_loss.h"

#include <errno.h>
#include <stdlib.h>
#include <string.h>

struct task_table {
	struct hashmap *index; /* id -> position in tasks + 1 */
	struct task_rec **tasks;
	size_t n, cap;
	bool sorted;
};

const char *task_mode_name(enum task_mode mode)
{
	return mode == MODE_FULL ? "full" : mode == MODE_LIFECYCLE ? "lifecycle" : "sample";
}

struct task_table *task_table_new(void)
{
	struct task_table *tt = calloc(1, sizeof(*tt));

	if (!tt)
		return NULL;
	tt->index = hashmap_new();
	if (!tt->index) {
		free(tt);
		return NULL;
	}
	tt->sorted = true;
	return tt;
}

void task_table_free(struct task_table *tt)
{
	if (!tt)
		return;
	for (size_t i = 0; i < tt->n; i++) {
		struct task_rec *t = tt->tasks[i];

		free(t->name);
		free(t->spawned_at);
		free(t->lat_ns);
		free(t->await_pcs);
		free(t->await_reason);
		free(t->await_frames);
		free(t);
	}
	free(tt->tasks);
	hashmap_free(tt->index);
	free(tt);
}

static int by_id(const void *a, const void *b)
{
	const struct task_rec *x = *(struct task_rec *const *)a, *y = *(struct task_rec *const *)b;

	return x->id < y->id ? -1 : x->id > y->id;
}

static void reindex(struct task_table *tt)
{
	qsort(tt->tasks, tt->n, sizeof(*tt->tasks), by_id);
	for (size_t i = 0; i < tt->n; i++)
		hashmap_put(tt->index, &tt->tasks[i]->id, sizeof(uint64_t), i + 1);
	tt->sorted = true;
}

struct task_rec *task_find(const struct task_table *tt, uint64_t id)
{
	uint64_t pos;

	if (!hashmap_get(tt->index, &id, sizeof(id), &pos))
		return NULL;
	return tt->tasks[pos - 1];
}

struct task_rec *task_get(struct task_table *tt, uint64_t id)
{
	struct task_rec *t = task_find(tt, id);

	if (t)
		return t;
	if (!array_grow((void **)&tt->tasks, &tt->cap, tt->n + 1, sizeof(*tt->tasks)))
		return NULL;
	t = calloc(1, sizeof(*t));
	if (!t)
		return NULL;
	t->id = id;
	if (hashmap_put(tt->index, &id, sizeof(id), tt->n + 1)) {
		free(t);
		return NULL;
	}
	if (tt->n && tt->tasks[tt->n - 1]->id > id)
		tt->sorted = false;
	tt->tasks[tt->n++] = t;
	return t;
}

void task_set_string(char **field, const char *s)
{
	char *copy = s ? strdup(s) : NULL;

	if (s && !copy)
		return;
	free(*field);
	*field = copy;
}

int task_add_latency(struct task_rec *t, uint64_t ns)
{
	if (!array_grow((void **)&t->lat_ns, &t->cap_lat, t->nlat + 1, sizeof(*t->lat_ns)))
		return -ENOMEM;
	t->lat_ns[t->nlat++] = ns;
	t->runnable_ns += ns;
	return 0;
}

struct task_rec **task_list(struct task_table *tt, size_t *n)
{
	if (!tt->sorted)
		reindex(tt);
	*n = tt->n;
	return tt->tasks;
}

size_t task_ancestry(const struct task_table *tt, uint64_t id, uint64_t *ids, size_t max)
{
	size_t n = 0;
	const struct task_rec *t = task_find(tt, id);

	if (!max)
		return 0;
	/* Collect leaf first, then reverse. */
	ids[n++] = id;
	while (t && t->parent_known && t->parent != TASK_ROOT && n < max) {
		bool seen = false;

		for (size_t i = 0; i < n; i++)
			seen |= ids[i] == t->parent;
		if (seen)
			break;
		ids[n++] = t->parent;
		t = task_find(tt, t->parent);
	}
	for (size_t i = 0; i < n / 2; i++) {
		uint64_t x = ids[i];

		ids[i] = ids[n - 1 - i];
		ids[n - 1 - i] = x;
	}
	return n;
}

size_t task_table_unnamed(struct task_table *tt)
{
	size_t n = 0;

	for (size_t i = 0; i < tt->n; i++)
		n += !tt->tasks[i]->name;
	return n;
}

static int cmp_u64(const void *a, const void *b)
{
	uint64_t x = *(const uint64_t *)a, y = *(const uint64_t *)b;

	return x < y ? -1 : x > y;
}

/* Nearest-rank percentile of sorted values. */
static uint64_t percentile(const uint64_t *sorted, size_t n, double p)
{
	size_t rank = (size_t)(p * n + 0.999999);

	if (rank < 1)
		rank = 1;
	return sorted[rank > n ? n - 1 : rank - 1];
}

void latency_stats(const uint64_t *ns, size_t n, struct latency_stats *out)
{
	uint64_t *sorted;

	memset(out, 0, sizeof(*out));
	if (!n)
		return;
	sorted = malloc(n * sizeof(*sorted));
	if (!sorted)
		return;
	memcpy(sorted, ns, n * sizeof(*sorted));
	qsort(sorted, n, sizeof(*sorted), cmp_u64);
	out->count = n;
	out->p50 = percentile(sorted, n, 0.50);
	out->p99 = percentile(sorted, n, 0.99);
	out->max = sorted[n - 1];
	free(sorted);
}

static json_t *latency_json(const uint64_t *ns, size_t n)
{
	struct latency_stats st;

	latency_stats(ns, n, &st);
	return json_pack("{sIsIsIsI}", "count", (json_int_t)st.count, "p50", (json_int_t)st.p50,
			 "p99", (json_int_t)st.p99, "max", (json_int_t)st.max);
}

/* How much a task tells: time on CPU, waiting, and its worst scheduling latency. */
static uint64_t task_weight(const struct task_rec *t)
{
	uint64_t worst = 0;

	for (size_t i = 0; i < t->nlat; i++)
		if (t->lat_ns[i] > worst)
			worst = t->lat_ns[i];
	return t->cpu_ns + t->wait_ns + worst;
}

static int by_weight_desc(const void *a, const void *b)
{
	uint64_t x = task_weight(*(struct task_rec *const *)a);
	uint64_t y = task_weight(*(struct task_rec *const *)b);

	return x < y ? 1 : x > y ? -1 : 0;
}

/* A task's or a spawn site's poll figures in its report.json object; 0, or -1 without memory. */
static int poll_json(json_t *o, const struct poll_stats *p)
{
	json_t *v = json_pack("{sIsIsIsIsIsI}", "busy_ns", (json_int_t)p->total.cpu_ns,
			      "poll_wall_ns", (json_int_t)p->total.wall_ns, "poll_preempted_ns",
			      (json_int_t)p->total.preempted_ns, "max_poll_ns",
			      (json_int_t)p->longest.wall_ns, "max_poll_cpu_ns",
			      (json_int_t)p->longest.cpu_ns, "max_poll_preempted_ns",
			      (json_int_t)p->longest.preempted_ns);
	int err = v ? json_object_update(o, v) : -1;

	json_decref(v);
	return err ? -1 : 0;
}

/* Adds another task's poll figures to a spawn site's. */
static void poll_stats_merge(struct poll_stats *s, const struct poll_stats *t)
{
	s->total.wall_ns += t->total.wall_ns;
	s->total.cpu_ns += t->total.cpu_ns;
	s->total.preempted_ns += t->total.preempted_ns;
	if (poll_own_ns(&t->longest) > poll_own_ns(&s->longest))
		s->longest = t->longest;
}

json_t *task_table_json(struct task_table *tt, size_t max, size_t *omitted)
{
	json_t *arr = json_array();
	struct task_rec **tasks, **keep;
	size_t n, nkeep = 0, nexited = 0;

	*omitted = 0;
	if (!arr)
		return NULL;
	tasks = task_list(tt, &n);
	keep = malloc((n ? n : 1) * sizeof(*keep));
	if (!keep) {
		json_decref(arr);
		return NULL;
	}
	/* Live tasks first (a leak is a live task), then the exited ones that weigh most. */
	for (size_t i = 0; i < n; i++)
		if (!tasks[i]->exited_ns)
			keep[nkeep++] = tasks[i];
	for (size_t i = 0; i < n; i++)
		if (tasks[i]->exited_ns)
			keep[nkeep + nexited++] = tasks[i];
	qsort(keep, nkeep, sizeof(*keep), by_weight_desc);
	qsort(keep + nkeep, nexited, sizeof(*keep), by_weight_desc);
	if (nkeep + nexited > max) {
		*omitted = nkeep + nexited - max;
		nkeep = max;
	} else {
		nkeep += nexited;
	}
	qsort(keep, nkeep, sizeof(*keep), by_id);
	for (size_t i = 0; i < nkeep; i++) {
		const struct task_rec *t = keep[i];
		json_t *o = json_pack(
			"{sIsosssosbsIsIsIsIsbso}", "id", (json_int_t)t->id, "parent",
			t->parent_known ? json_integer((json_int_t)t->parent) : json_null(), "name",
			t->name ? t->name : "[unknown]", "spawned_at",
			t->spawned_at ? json_string(t->spawned_at) : json_null(), "internal",
			t->internal, "polls", (json_int_t)t->polls, "cpu_ns", (json_int_t)t->cpu_ns,
			"wait_ns", (json_int_t)t->wait_ns, "runnable_ns", (json_int_t)t->runnable_ns,
			"exited", t->exited_ns != 0, "sched_latency_ns",
			latency_json(t->lat_ns, t->nlat));

		if (o && poll_json(o, &t->poll)) {
			json_decref(o);
			o = NULL;
		}
		if (!o || json_array_append_new(arr, o)) {
			free(keep);
			json_decref(arr);
			return NULL;
		}
	}
	free(keep);
	return arr;
}

struct site {
	const char *site;
	uint64_t tasks, polls, cpu_ns, wait_ns, runnable_ns;
	struct poll_stats poll; /* longest: of its tasks' longest polls */
	uint64_t *lat;
	size_t nlat, cap_lat;
};

json_t *task_sites_json(struct task_table *tt)
{
	struct hashmap *index = hashmap_new();
	struct site *sites = NULL;
	size_t nsites = 0, cap = 0, n;
	struct task_rec **tasks = task_list(tt, &n);
	json_t *arr = json_array();

	if (!index || !arr)
		goto fail;
	for (size_t i = 0; i < n; i++) {
		const struct task_rec *t = tasks[i];
		const char *key = t->spawned_at ? t->spawned_at : "[unknown]";
		uint64_t pos;
		struct site *s;

		if (!hashmap_get(index, key, strlen(key), &pos)) {
			if (!array_grow((void **)&sites, &cap, nsites + 1, sizeof(*sites)))
				goto fail;
			memset(&sites[nsites], 0, sizeof(*sites));
			sites[nsites].site = key;
			pos = ++nsites;
			if (hashmap_put(index, key, strlen(key), pos))
				goto fail;
		}
		s = &sites[pos - 1];
		s->tasks++;
		s->polls += t->polls;
		s->cpu_ns += t->cpu_ns;
		s->wait_ns += t->wait_ns;
		s->runnable_ns += t->runnable_ns;
		poll_stats_merge(&s->poll, &t->poll);
		if (!array_grow((void **)&s->lat, &s->cap_lat, s->nlat + t->nlat, sizeof(*s->lat)))
			goto fail;
		memcpy(s->lat + s->nlat, t->lat_ns, t->nlat * sizeof(*s->lat));
		s->nlat += t->nlat;
	}
	for (size_t i = 0; i < nsites; i++) {
		struct site *s = &sites[i];
		json_t *o = json_pack("{sssIsIsIsIsIso}", "spawned_at", s->site, "tasks",
				      (json_int_t)s->tasks, "polls", (json_int_t)s->polls, "cpu_ns",
				      (json_int_t)s->cpu_ns, "wait_ns", (json_int_t)s->wait_ns,
				      "runnable_ns", (json_int_t)s->runnable_ns, "sched_latency_ns",
				      latency_json(s->lat, s->nlat));

		if (o && poll_json(o, &s->poll)) {
			json_decref(o);
			o = NULL;
		}
		if (!o || json_array_append_new(arr, o))
			goto fail;
	}
	for (size_t i = 0; i < nsites; i++)
		free(sites[i].lat);
	free(sites);
	hashmap_free(index);
	return arr;
fail:
	for (size_t i = 0; i < nsites; i++)
		free(sites[i].lat);
	free(sites);
	hashmap_free(index);
	json_decref(arr);
	return NULL;
}

/* ---- terminal summary ---------------------------------------------------------------------- */

static uint64_t key_cpu(const struct task_rec *t)
{
	return t->cpu_ns > t->poll.total.cpu_ns ? t->cpu_ns : t->poll.total.cpu_ns;
}

static uint64_t key_wait(const struct task_rec *t)
{
	return t->wait_ns;
}

static uint64_t key_max_poll(const struct task_rec *t)
{
	return poll_own_ns(&t->poll.longest);
}

static uint64_t key_runnable(const struct task_rec *t)
{
	return t->runnable_ns;
}

static uint64_t key_latency(const struct task_rec *t)
{
	struct latency_stats st;

	latency_stats(t->lat_ns, t->nlat, &st);
	return st.max;
}

static uint64_t (*sort_key)(const struct task_rec *);

static int by_key_desc(const void *a, const void *b)
{
	uint64_t x = sort_key(*(struct task_rec *const *)a);
	uint64_t y = sort_key(*(struct task_rec *const *)b);

	return x > y ? -1 : x < y;
}

/* A section whose figure (report.json's name) lost events fed gets a mark: see the line below
 * the summary (event_loss_print). */
static void print_top(FILE *f, struct task_rec **tasks, size_t n, const char *title,
		      uint64_t (*key)(const struct task_rec *), uint64_t min, size_t rows,
		      const struct event_loss *loss, const char *figure)
{
	struct task_rec **sorted = malloc(n * sizeof(*sorted));
	bool incomplete = loss && event_loss_affects(loss, figure);
	size_t shown = 0;

	if (!sorted)
		return;
	memcpy(sorted, tasks, n * sizeof(*sorted));
	sort_key = key;
	qsort(sorted, n, sizeof(*sorted), by_key_desc);
	for (size_t i = 0; i < n && shown < rows; i++) {
		const struct task_rec *t = sorted[i];
		struct latency_stats st;

		if (t->internal || key(t) <= min)
			continue;
		if (!shown++)
			fprintf(f, "\n%s%s\n", title,
				incomplete ? " (* incomplete: task events were lost)" : "");
		latency_stats(t->lat_ns, t->nlat, &st);
		fprintf(f, "  %10.2f ms  task %-6llu %-40s cpu %.1f ms, wait %.1f ms, polls %llu, "
			   "max poll %.1f ms (%.1f on CPU, %.1f preempted), sched p99 %.2f ms\n",
			key(t) / 1e6, (unsigned long long)t->id, t->name ? t->name : "[unknown]",
			key_cpu(t) / 1e6, t->wait_ns / 1e6, (unsigned long long)t->polls,
			t->poll.longest.wall_ns / 1e6, t->poll.longest.cpu_ns / 1e6,
			t->poll.longest.preempted_ns / 1e6, st.p99 / 1e6);
		if (t->spawned_at)
			fprintf(f, "  %13s spawned at %s\n", "", t->spawned_at);
	}
	free(sorted);
}

void task_table_print_summary(FILE *f, struct task_table *tt, uint64_t long_poll_ns,
			      const struct event_loss *loss)
{
	size_t n;
	struct task_rec **tasks = task_list(tt, &n);

	if (!n)
		return;
	print_top(f, tasks, n, "top tasks by CPU:", key_cpu, 0, 5, loss, "task_id");
	print_top(f, tasks, n, "top tasks by wait (suspended):", key_wait, 0, 5, loss, "wait_ns");
	print_top(f, tasks, n, "top tasks by scheduling latency (max):", key_latency, 0, 5, loss,
		  "sched_latency_ns");
	print_top(f, tasks, n, "top tasks by time runnable (waiting for a thread):", key_runnable,
		  0, 5, loss, "runnable_ns");
	print_top(f, tasks, n,
		  "long polls (they block a worker thread; by own time: not counting the time the "
		  "thread was preempted):",
		  key_max_poll, long_poll_ns, 10, loss, "max_poll_ns");
}
