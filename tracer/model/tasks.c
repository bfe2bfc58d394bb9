// SPDX-License-Identifier: MIT
#include "tasks.h"
#include "util/array.h"
#include "util/hashmap.h"
#include "util/strpool.h"
#include "capture/event_loss.h"

#include <errno.h>
#include <stdlib.h>
#include <string.h>

/* The figures of the folded tasks of one spawn site. */
struct site_total {
	char *site;
	uint64_t tasks, polls, cpu_ns, wait_ns, runnable_ns;
	struct poll_stats poll; /* longest: of its tasks' longest polls */
	struct latency lat;
};

/* What stays of a folded task, not kept whole, that a task not folded descends from: what its
 * ancestry shows. */
struct ancestor {
	uint64_t parent;
	bool parent_known;
	/* A live task kept as its identity only (task_table_doze): its figures are in its site's
	 * totals; it stays while the task lives, needed as an ancestor or not. */
	bool dormant;
	const char *name, *spawned_at; /* shared (util/strpool.h); NULL when unknown */
};

struct task_table {
	struct hashmap *index; /* id -> position in tasks + 1: the tasks not folded */
	struct task_rec **tasks;
	size_t n, cap;
	bool sorted;
	struct hashmap *folded;	   /* id -> task_rec pointer: folded tasks kept whole */
	struct hashmap *ancestors; /* id -> struct ancestor pointer */
	struct task_rec **kept;	/* the folded tasks kept whole */
	size_t nkept, cap_kept;
	struct hashmap *site_index; /* spawned_at -> index + 1 into sites */
	struct site_total *sites;
	size_t nsites, cap_sites;
	uint64_t nfolded;	  /* tasks folded, kept or not, or dormant (once each) */
	size_t ndormant;	  /* live tasks kept as their identity (task_table_doze) */
	uint64_t nfolded_unnamed; /* of which without a name */
	double scale, wait_scale; /* task_table_set_scale() */
};

const char *task_mode_name(enum task_mode mode)
{
	return mode == MODE_FULL ? "full" : mode == MODE_LIFECYCLE ? "lifecycle" : "sample";
}

int task_mode_parse(const char *name, enum task_mode *mode)
{
	for (enum task_mode m = MODE_SAMPLE; m <= MODE_FULL; m++) {
		if (strcmp(name, task_mode_name(m)) == 0) {
			*mode = m;
			return 0;
		}
	}
	return -EINVAL;
}

struct task_table *task_table_new(void)
{
	struct task_table *tt = calloc(1, sizeof(*tt));

	if (!tt)
		return NULL;
	tt->index = hashmap_new();
	tt->folded = hashmap_new();
	tt->ancestors = hashmap_new();
	tt->site_index = hashmap_new();
	tt->sorted = true;
	if (!tt->index || !tt->folded || !tt->ancestors || !tt->site_index) {
		task_table_free(tt);
		return NULL;
	}
	return tt;
}

static void task_free(struct task_rec *t)
{
	latency_free(&t->lat);
	free(t->await_pcs);
	free(t->await_reason);
	free(t->await_frames);
	strpool_unref(t->name);
	strpool_unref(t->spawned_at);
	free(t);
}

static int free_folded(const void *key, size_t len, uint64_t value, void *arg)
{
	task_free((struct task_rec *)(uintptr_t)value);
	return 0;
}

static void ancestor_free(struct ancestor *a)
{
	strpool_unref(a->name);
	strpool_unref(a->spawned_at);
	free(a);
}

static int free_ancestor(const void *key, size_t len, uint64_t value, void *arg)
{
	ancestor_free((struct ancestor *)(uintptr_t)value);
	return 0;
}

void task_table_free(struct task_table *tt)
{
	if (!tt)
		return;
	for (size_t i = 0; i < tt->n; i++)
		task_free(tt->tasks[i]);
	free(tt->tasks);
	hashmap_free(tt->index);
	if (tt->folded)
		hashmap_each(tt->folded, free_folded, NULL);
	hashmap_free(tt->folded);
	if (tt->ancestors)
		hashmap_each(tt->ancestors, free_ancestor, NULL);
	hashmap_free(tt->ancestors);
	free(tt->kept);
	for (size_t i = 0; i < tt->nsites; i++) {
		free(tt->sites[i].site);
		latency_free(&tt->sites[i].lat);
	}
	free(tt->sites);
	hashmap_free(tt->site_index);
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

	if (hashmap_get(tt->index, &id, sizeof(id), &pos))
		return tt->tasks[pos - 1];
	if (hashmap_get(tt->folded, &id, sizeof(id), &pos))
		return (struct task_rec *)(uintptr_t)pos;
	return NULL;
}

struct task_rec *task_get(struct task_table *tt, uint64_t id)
{
	struct task_rec *t = task_find(tt, id);
	uint64_t v;

	if (t)
		return t;
	if (!array_grow((void **)&tt->tasks, &tt->cap, tt->n + 1, sizeof(*tt->tasks)))
		return NULL;
	t = calloc(1, sizeof(*t));
	if (!t)
		return NULL;
	t->id = id;
	/* A dormant task that runs again: whole again, from its identity; its site counts it. */
	if (hashmap_get(tt->ancestors, &id, sizeof(id), &v) &&
	    ((struct ancestor *)(uintptr_t)v)->dormant) {
		struct ancestor *a = (struct ancestor *)(uintptr_t)v;

		t->parent = a->parent;
		t->parent_known = a->parent_known;
		t->name = a->name;
		t->spawned_at = a->spawned_at;
		t->revived = true;
		hashmap_del(tt->ancestors, &id, sizeof(id));
		free(a);
		tt->ndormant--;
	}
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

void task_set_shared(const char **field, const char *s)
{
	const char *ref = strpool_ref(s);

	if (s && !ref)
		return;
	strpool_unref(*field);
	*field = ref;
}

int task_add_latency(struct task_rec *t, uint64_t ns, double weight)
{
	t->runnable_ns += (uint64_t)(ns * weight + 0.5);
	return latency_add(&t->lat, ns);
}

void task_table_set_scale(struct task_table *tt, double counts, double waits)
{
	tt->scale = counts;
	tt->wait_scale = waits;
}

static json_int_t scaled(const struct task_table *tt, uint64_t v)
{
	return (json_int_t)(tt->scale > 0 ? v * tt->scale + 0.5 : v);
}

static json_int_t wait_scaled(const struct task_table *tt, uint64_t v)
{
	return (json_int_t)(tt->wait_scale > 0 ? v * tt->wait_scale + 0.5 : v);
}


bool task_identity(const struct task_table *tt, uint64_t id, struct task_identity *out)
{
	const struct task_rec *t = task_find(tt, id);
	uint64_t v;

	if (t) {
		*out = (struct task_identity){ .parent = t->parent, .parent_known = t->parent_known,
					       .name = t->name, .spawned_at = t->spawned_at };
		return true;
	}
	if (hashmap_get(tt->ancestors, &id, sizeof(id), &v)) {
		const struct ancestor *a = (const struct ancestor *)(uintptr_t)v;

		*out = (struct task_identity){ .parent = a->parent, .parent_known = a->parent_known,
					       .name = a->name, .spawned_at = a->spawned_at };
		return true;
	}
	return false;
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
	struct task_identity t;
	bool known = task_identity(tt, id, &t);
	size_t n = 0;

	if (!max)
		return 0;
	/* Collect leaf first, then reverse. */
	ids[n++] = id;
	while (known && t.parent_known && t.parent != TASK_ROOT && n < max) {
		bool seen = false;

		for (size_t i = 0; i < n; i++)
			seen |= ids[i] == t.parent;
		if (seen)
			break;
		ids[n++] = t.parent;
		known = task_identity(tt, t.parent, &t);
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
	size_t n = tt->nfolded_unnamed;

	for (size_t i = 0; i < tt->n; i++)
		n += !tt->tasks[i]->name;
	return n;
}

static json_t *latency_json(const struct latency *l)
{
	struct latency_stats st;

	latency_summary(l, &st);
	return json_pack("{sIsIsIsI}", "count", (json_int_t)st.count, "p50", (json_int_t)st.p50,
			 "p99", (json_int_t)st.p99, "max", (json_int_t)st.max);
}

/* How much a task tells: time on CPU, waiting, and its worst scheduling latency. */
static uint64_t task_weight(const struct task_rec *t)
{
	return t->cpu_ns + t->wait_ns + t->lat.max;
}

static int by_weight_desc(const void *a, const void *b)
{
	uint64_t x = task_weight(*(struct task_rec *const *)a);
	uint64_t y = task_weight(*(struct task_rec *const *)b);

	return x < y ? 1 : x > y ? -1 : 0;
}

/* ---- the summary's orders ----------------------------------------------------------------- */

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
	return t->lat.max;
}

static uint64_t (*const summary_keys[])(const struct task_rec *) = {
	key_cpu, key_wait, key_latency, key_runnable, key_max_poll,
};

static uint64_t (*sort_key)(const struct task_rec *);

static int by_key_desc(const void *a, const void *b)
{
	uint64_t x = sort_key(*(struct task_rec *const *)a);
	uint64_t y = sort_key(*(struct task_rec *const *)b);

	return x > y ? -1 : x < y;
}

/* A task's or a spawn site's poll figures in its report.json object; 0, or -1 without memory. */
static int poll_json(const struct task_table *tt, json_t *o, const struct poll_stats *p)
{
	json_t *v = json_pack("{sIsIsIsIsIsI}", "busy_ns", scaled(tt, p->total.cpu_ns),
			      "poll_wall_ns", scaled(tt, p->total.wall_ns), "poll_preempted_ns",
			      scaled(tt, p->total.preempted_ns), "max_poll_ns",
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

/* ---- folding -------------------------------------------------------------------------------- */

static struct site_total *site_total(struct task_table *tt, const char *site)
{
	uint64_t pos;
	struct site_total *st;

	if (hashmap_get(tt->site_index, site, strlen(site), &pos))
		return &tt->sites[pos - 1];
	if (!array_grow((void **)&tt->sites, &tt->cap_sites, tt->nsites + 1, sizeof(*tt->sites)))
		return NULL;
	st = &tt->sites[tt->nsites];
	memset(st, 0, sizeof(*st));
	st->site = strdup(site);
	if (!st->site || hashmap_put(tt->site_index, site, strlen(site), tt->nsites + 1)) {
		free(st->site);
		return NULL;
	}
	tt->nsites++;
	return st;
}

static const char *site_of(const struct task_rec *t)
{
	return t->spawned_at ? t->spawned_at : "[unknown]";
}

static void add_to_site(struct site_total *st, const struct task_rec *t)
{
	st->tasks += !t->revived;
	st->polls += t->polls;
	st->cpu_ns += t->cpu_ns;
	st->wait_ns += t->wait_ns;
	st->runnable_ns += t->runnable_ns;
	poll_stats_merge(&st->poll, &t->poll);
	latency_merge(&st->lat, &t->lat);
}

/*
 * Marks in needed the ancestors that the tasks not folded after this fold (those that stay in
 * tasks[]: not exited, or exited at or after before_ns) reach through folded ones: each one's
 * chain up to a task that stays (it marks its own), the root, or an unknown task.
 */
static int mark_chain(struct task_table *tt, uint64_t before_ns, struct hashmap *needed,
		      struct task_identity id);

struct dormant_walk {
	struct task_table *tt;
	uint64_t before_ns;
	struct hashmap *needed;
};

static int mark_from_dormant(const void *key, size_t len, uint64_t value, void *arg)
{
	const struct ancestor *a = (const struct ancestor *)(uintptr_t)value;
	struct dormant_walk *w = arg;

	if (!a->dormant)
		return 0;
	return mark_chain(w->tt, w->before_ns, w->needed,
			  (struct task_identity){ .parent = a->parent,
						  .parent_known = a->parent_known });
}

static int mark_ancestors(struct task_table *tt, uint64_t before_ns, struct hashmap *needed)
{
	struct dormant_walk w = { tt, before_ns, needed };

	for (size_t i = 0; i < tt->n; i++) {
		const struct task_rec *t = tt->tasks[i];

		if (t->exited_ns && t->exited_ns < before_ns)
			continue;
		if (mark_chain(tt, before_ns, needed,
			       (struct task_identity){ .parent = t->parent,
						       .parent_known = t->parent_known }))
			return -ENOMEM;
	}
	/* A dormant task (task_table_doze) lives on: its ancestors are needed as a live one's. */
	return hashmap_each(tt->ancestors, mark_from_dormant, &w);
}

/* Marks in needed the folded ancestors reached from a task whose identity is id. */
static int mark_chain(struct task_table *tt, uint64_t before_ns, struct hashmap *needed,
		      struct task_identity id)
{
	{

		while (id.parent_known && id.parent != TASK_ROOT &&
		       !hashmap_get(needed, &id.parent, sizeof(id.parent), NULL)) {
			uint64_t parent = id.parent;
			const struct task_rec *p = task_find(tt, parent);

			/* A parent that stays marks its own ancestors. */
			if (p && !p->folded && !(p->exited_ns && p->exited_ns < before_ns))
				break;
			if (!task_identity(tt, parent, &id))
				break;
			if (hashmap_put(needed, &parent, sizeof(parent), 1))
				return -ENOMEM;
		}
	}
	return 0;
}

/*
 * A folded task that is no longer kept whole: its id goes to gone, and, while a task not folded
 * descends from it, its identity stays (its strings move there), else nothing.
 */
static void let_go(struct task_table *tt, struct task_rec *t, struct hashmap *gone)
{
	struct ancestor *a = t->ancestor ? calloc(1, sizeof(*a)) : NULL;

	hashmap_put(gone, &t->id, sizeof(t->id), 1);
	hashmap_del(tt->folded, &t->id, sizeof(t->id));
	if (a) {
		*a = (struct ancestor){ .parent = t->parent, .parent_known = t->parent_known,
					.name = t->name, .spawned_at = t->spawned_at };
		if (hashmap_put(tt->ancestors, &t->id, sizeof(t->id), (uintptr_t)a))
			free(a); /* the ancestry stops there */
		else
			t->name = t->spawned_at = NULL;
	}
	task_free(t);
}

/* Marks the tasks among cands (n of them) to keep whole: the first max by weight and the first
 * few of every summary order. Reorders cands. */
static void choose_kept(struct task_rec **cands, size_t n, size_t max)
{
	for (size_t i = 0; i < n; i++)
		cands[i]->kept = false;
	qsort(cands, n, sizeof(*cands), by_weight_desc);
	for (size_t i = 0; i < n && i < max; i++)
		cands[i]->kept = true;
	for (size_t k = 0; k < sizeof(summary_keys) / sizeof(summary_keys[0]); k++) {
		sort_key = summary_keys[k];
		qsort(cands, n, sizeof(*cands), by_key_desc);
		/* The summary lists nothing of a task whose figure is 0. */
		for (size_t i = 0; i < n && i < TASKS_KEPT_PER_SUMMARY && sort_key(cands[i]); i++)
			cands[i]->kept = true;
	}
}

struct unneeded {
	const struct hashmap *needed;
	uint64_t *drop;
	size_t n, cap;
};

static int mark_kept_ancestor(const void *key, size_t len, uint64_t value, void *arg)
{
	struct task_rec *t = (struct task_rec *)(uintptr_t)value;
	const struct unneeded *u = arg;

	t->ancestor = hashmap_get(u->needed, &t->id, sizeof(t->id), NULL);
	return 0;
}

static int collect_unneeded(const void *key, size_t len, uint64_t value, void *arg)
{
	struct unneeded *u = arg;

	if (hashmap_get(u->needed, key, len, NULL) ||
	    ((const struct ancestor *)(uintptr_t)value)->dormant)
		return 0;
	if (!array_grow((void **)&u->drop, &u->cap, u->n + 1, sizeof(*u->drop)))
		return -ENOMEM;
	memcpy(&u->drop[u->n++], key, sizeof(uint64_t));
	return 0;
}

/* The folded tasks are ancestors while needed says so: the identities no longer needed go. */
static void update_ancestors(struct task_table *tt, const struct hashmap *needed)
{
	struct unneeded u = { .needed = needed };
	uint64_t v;

	hashmap_each(tt->folded, mark_kept_ancestor, &u);
	hashmap_each(tt->ancestors, collect_unneeded, &u);
	for (size_t i = 0; i < u.n; i++) {
		if (hashmap_get(tt->ancestors, &u.drop[i], sizeof(uint64_t), &v))
			ancestor_free((struct ancestor *)(uintptr_t)v);
		hashmap_del(tt->ancestors, &u.drop[i], sizeof(uint64_t));
	}
	free(u.drop);
}

size_t task_table_fold(struct task_table *tt, uint64_t before_ns,
		       void (*finalize)(void *ctx, struct task_rec *t), void *ctx,
		       struct hashmap *gone)
{
	struct hashmap *needed = hashmap_new();
	struct task_rec **cands = NULL;
	size_t ncands = 0, nfolded = 0, kept = 0, stay = 0;

	/* Without the ancestors known, nothing can be let go. */
	if (!needed || mark_ancestors(tt, before_ns, needed)) {
		hashmap_free(needed);
		return 0;
	}
	for (size_t i = 0; i < tt->n; i++)
		if (tt->tasks[i]->exited_ns && tt->tasks[i]->exited_ns < before_ns)
			nfolded += !tt->tasks[i]->revived;
	if (!nfolded)
		goto out;
	cands = malloc((tt->nkept + nfolded) * sizeof(*cands));
	if (!cands) {
		nfolded = 0;
		goto out;
	}
	for (size_t i = 0; i < tt->nkept; i++)
		cands[ncands++] = tt->kept[i];
	/* Fold: the site's totals take the task's figures, tasks[] and its index lose it. */
	for (size_t i = 0; i < tt->n; i++) {
		struct task_rec *t = tt->tasks[i];
		struct site_total *st;

		if (!t->exited_ns || t->exited_ns >= before_ns) {
			tt->tasks[stay++] = t;
			continue;
		}
		if (finalize)
			finalize(ctx, t);
		tt->nfolded_unnamed += !t->name && !t->revived;
		st = site_total(tt, site_of(t));
		if (st)
			add_to_site(st, t);
		hashmap_del(tt->index, &t->id, sizeof(t->id));
		t->folded = true;
		if (hashmap_put(tt->folded, &t->id, sizeof(t->id), (uintptr_t)t)) {
			hashmap_put(gone, &t->id, sizeof(t->id), 1);
			task_free(t);
			continue;
		}
		cands[ncands++] = t;
	}
	tt->n = stay;
	for (size_t i = 0; i < tt->n; i++)
		hashmap_put(tt->index, &tt->tasks[i]->id, sizeof(uint64_t), i + 1);
	tt->nfolded += nfolded;
	for (size_t i = 0; i < ncands; i++)
		cands[i]->ancestor = hashmap_get(needed, &cands[i]->id, sizeof(uint64_t), NULL);
	choose_kept(cands, ncands, TASKS_KEPT_EXITED);
	for (size_t i = 0; i < ncands; i++) {
		if (cands[i]->kept)
			cands[kept++] = cands[i];
		else
			let_go(tt, cands[i], gone);
	}
	if (!array_grow((void **)&tt->kept, &tt->cap_kept, kept, sizeof(*tt->kept))) {
		while (kept)
			let_go(tt, cands[--kept], gone);
	}
	for (size_t i = 0; i < kept; i++)
		tt->kept[i] = cands[i];
	tt->nkept = kept;
out:
	update_ancestors(tt, needed);
	free(cands);
	hashmap_free(needed);
	return nfolded;
}

size_t task_table_doze(struct task_table *tt, uint64_t parked_before_ns)
{
	size_t stay = 0, dozed = 0;

	for (size_t i = 0; i < tt->n; i++) {
		struct task_rec *t = tt->tasks[i];
		struct ancestor *a;
		struct site_total *st;

		if (t->exited_ns || !t->parked_since || t->parked_since >= parked_before_ns ||
		    t->internal || !(a = calloc(1, sizeof(*a)))) {
			tt->tasks[stay++] = t;
			continue;
		}
		*a = (struct ancestor){ .parent = t->parent, .parent_known = t->parent_known,
					.dormant = true, .name = t->name,
					.spawned_at = t->spawned_at };
		if (hashmap_put(tt->ancestors, &t->id, sizeof(t->id), (uintptr_t)a)) {
			free(a);
			tt->tasks[stay++] = t;
			continue;
		}
		st = site_total(tt, site_of(t));
		if (st)
			add_to_site(st, t);
		tt->nfolded += !t->revived;
		tt->nfolded_unnamed += !t->name && !t->revived;
		hashmap_del(tt->index, &t->id, sizeof(t->id));
		t->name = t->spawned_at = NULL; /* moved to a */
		task_free(t);
		tt->ndormant++;
		dozed++;
	}
	if (dozed) {
		tt->n = stay;
		for (size_t i = 0; i < tt->n; i++)
			hashmap_put(tt->index, &tt->tasks[i]->id, sizeof(uint64_t), i + 1);
	}
	return dozed;
}

bool task_dormant(const struct task_table *tt, uint64_t id)
{
	uint64_t v;

	return tt->ndormant && hashmap_get(tt->ancestors, &id, sizeof(id), &v) &&
	       ((const struct ancestor *)(uintptr_t)v)->dormant;
}

size_t task_table_dormant(const struct task_table *tt)
{
	return tt->ndormant;
}

void task_dormant_wait(struct task_table *tt, uint64_t id, uint64_t ns)
{
	struct task_identity t;
	struct site_total *st;

	if (!task_identity(tt, id, &t))
		return;
	st = site_total(tt, t.spawned_at ? t.spawned_at : "[unknown]");
	if (st)
		st->wait_ns += ns;
}

struct dormant_end {
	bool (*alive)(void *ctx, uint64_t id);
	void *ctx;
	size_t ended;
};

static int end_dormant(const void *key, size_t len, uint64_t value, void *arg)
{
	struct ancestor *a = (struct ancestor *)(uintptr_t)value;
	struct dormant_end *e = arg;
	uint64_t id;

	memcpy(&id, key, sizeof(id));
	if (a->dormant && !e->alive(e->ctx, id)) {
		a->dormant = false; /* an ancestor now, while a task needs it */
		e->ended++;
	}
	return 0;
}

size_t task_table_end_dormant(struct task_table *tt, bool (*alive)(void *ctx, uint64_t id),
			      void *ctx)
{
	struct dormant_end e = { alive, ctx, 0 };

	if (tt->ndormant)
		hashmap_each(tt->ancestors, end_dormant, &e);
	tt->ndormant -= e.ended;
	return e.ended;
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
	keep = malloc((n + tt->nkept ? n + tt->nkept : 1) * sizeof(*keep));
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
	for (size_t i = 0; i < tt->nkept; i++)
		keep[nkeep + nexited++] = tt->kept[i];
	qsort(keep, nkeep, sizeof(*keep), by_weight_desc);
	qsort(keep + nkeep, nexited, sizeof(*keep), by_weight_desc);
	*omitted = n + tt->nfolded - (nkeep + nexited);
	if (nkeep + nexited > max) {
		*omitted += nkeep + nexited - max;
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
			t->internal, "polls", scaled(tt, t->polls), "cpu_ns", (json_int_t)t->cpu_ns,
			"wait_ns", wait_scaled(tt, t->wait_ns), "runnable_ns",
			wait_scaled(tt, t->runnable_ns),
			"exited", t->exited_ns != 0, "sched_latency_ns", latency_json(&t->lat));

		if (o && poll_json(tt, o, &t->poll)) {
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

json_t *task_sites_json(struct task_table *tt)
{
	struct task_table *all = task_table_new();
	size_t n;
	struct task_rec **tasks = task_list(tt, &n);
	json_t *arr = json_array();

	if (!all || !arr)
		goto fail;
	/* The folded tasks' totals, plus the tasks not folded yet. */
	for (size_t i = 0; i < tt->nsites; i++) {
		const struct site_total *from = &tt->sites[i];
		struct site_total *st = site_total(all, from->site);

		if (!st)
			goto fail;
		st->tasks = from->tasks;
		st->polls = from->polls;
		st->cpu_ns = from->cpu_ns;
		st->wait_ns = from->wait_ns;
		st->runnable_ns = from->runnable_ns;
		st->poll = from->poll;
		if (latency_merge(&st->lat, &from->lat))
			goto fail;
	}
	for (size_t i = 0; i < n; i++) {
		struct site_total *st = site_total(all, site_of(tasks[i]));

		if (!st)
			goto fail;
		add_to_site(st, tasks[i]);
	}
	for (size_t i = 0; i < all->nsites; i++) {
		const struct site_total *st = &all->sites[i];
		json_t *o = json_pack("{sssIsIsIsIsIso}", "spawned_at", st->site, "tasks",
				      (json_int_t)st->tasks, "polls", scaled(tt, st->polls), "cpu_ns",
				      (json_int_t)st->cpu_ns, "wait_ns", wait_scaled(tt, st->wait_ns),
				      "runnable_ns", wait_scaled(tt, st->runnable_ns), "sched_latency_ns",
				      latency_json(&st->lat));

		if (o && poll_json(tt, o, &st->poll)) {
			json_decref(o);
			o = NULL;
		}
		if (!o || json_array_append_new(arr, o))
			goto fail;
	}
	task_table_free(all);
	return arr;
fail:
	task_table_free(all);
	json_decref(arr);
	return NULL;
}

/* ---- terminal summary ---------------------------------------------------------------------- */

/* A section whose figure (report.json's name) lost events fed gets a mark: see the line below
 * the summary (event_loss_print). */
static void print_top(FILE *f, const struct task_table *tt, struct task_rec **tasks, size_t n,
		      const char *title, uint64_t (*key)(const struct task_rec *), uint64_t min,
		      size_t rows, const struct event_loss *loss, const char *figure)
{
	struct task_rec **sorted = malloc((n ? n : 1) * sizeof(*sorted));
	bool incomplete = loss && event_loss_affects(loss, figure);
	size_t shown = 0;

	if (!sorted)
		return;
	for (size_t i = 0; i < n; i++)
		sorted[i] = tasks[i];
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
		latency_summary(&t->lat, &st);
		fprintf(f, "  %10.2f ms  task %-6llu %-40s cpu %.1f ms, wait %.1f ms, polls %llu, "
			   "max poll %.1f ms (%.1f on CPU, %.1f preempted), sched p99 %.2f ms\n",
			key(t) / 1e6, (unsigned long long)t->id, t->name ? t->name : "[unknown]",
			key_cpu(t) / 1e6, wait_scaled(tt, t->wait_ns) / 1e6,
			(unsigned long long)scaled(tt, t->polls),
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
	struct task_rec **live = task_list(tt, &n), **tasks;

	if (!n && !tt->nkept)
		return;
	/* The tasks not folded and the folded ones kept whole: they hold every list's top. */
	tasks = malloc((n + tt->nkept) * sizeof(*tasks));
	if (!tasks)
		return;
	for (size_t i = 0; i < tt->nkept; i++)
		tasks[n + i] = tt->kept[i];
	for (size_t i = 0; i < n; i++)
		tasks[i] = live[i];
	n += tt->nkept;
	print_top(f, tt, tasks, n, "top tasks by CPU:", key_cpu, 0, 5, loss, "task_id");
	print_top(f, tt, tasks, n, "top tasks by wait (suspended):", key_wait, 0, 5, loss, "wait_ns");
	print_top(f, tt, tasks, n, "top tasks by scheduling latency (max):", key_latency, 0, 5, loss,
		  "sched_latency_ns");
	print_top(f, tt, tasks, n, "top tasks by time runnable (waiting for a thread):", key_runnable,
		  0, 5, loss, "runnable_ns");
	print_top(f, tt, tasks, n,
		  "long polls (they block a worker thread; by own time: not counting the time the "
		  "thread was preempted):",
		  key_max_poll, long_poll_ns, 10, loss, "max_poll_ns");
	free(tasks);
}

void task_created(struct task_rec *t, uint64_t time_ns)
{
	t->created_ns = time_ns;
}

void task_set_parent(struct task_rec *t, uint64_t parent)
{
	t->parent = parent;
	t->parent_known = true;
}

void task_name_from_runtime(struct task_rec *t, const char *type, bool internal, bool tentative)
{
	if (t->name && !t->name_inferred && (!t->name_tentative || tentative))
		return;
	task_set_shared(&t->name, type);
	t->name_inferred = false;
	t->name_tentative = tentative;
	t->internal = internal;
}

void task_name_given(struct task_rec *t, const char *name)
{
	task_set_shared(&t->name, name);
	t->name_inferred = false;
}

void task_name_guessed(struct task_rec *t, const char *name, bool internal)
{
	task_set_shared(&t->name, name);
	t->name_inferred = true;
	if (internal)
		t->internal = true;
}

void task_poll_started(struct task_rec *t, const struct task_event *e, double latency_weight)
{
	t->poll_start = (struct thread_clock){ .wall_ns = e->time_ns, .cpu_ns = e->cpu_ns,
					       .delay_ns = e->delay_ns };
	t->poll_tid = e->tid;
	if ((e->flags & TASK_EV_LATENCY) && latency_weight > 0)
		task_add_latency(t, e->value, latency_weight);
}

void task_poll_stopped(struct task_rec *t, const struct task_event *e)
{
	if (!(e->flags & TASK_EV_WAS_NOTIFIED) && !t->exited_ns)
		t->suspended_since = e->time_ns;
	t->poll_start.wall_ns = 0;
}

void task_woken(struct task_rec *t)
{
	t->poll_start.wall_ns = 0;
}

/* Keeps the logical frames a task suspended in (none when depth is 0). */
static void set_await_frames(struct task_rec *t, const struct logical_stack *ls)
{
	if (!ls->depth) {
		free(t->await_frames);
		t->await_frames = NULL;
		return;
	}
	if (!t->await_frames)
		t->await_frames = malloc(sizeof(*t->await_frames));
	if (t->await_frames)
		*t->await_frames = *ls;
}

void task_awaiting(struct task_rec *t, const struct task_event *e, const uint64_t *pcs, size_t n,
		   const char *reason, const struct logical_stack *frames)
{
	if (n) {
		uint64_t *copy = malloc(n * sizeof(*copy));

		if (copy) {
			memcpy(copy, pcs, n * sizeof(*copy));
			free(t->await_pcs);
			t->await_pcs = copy;
			t->nawait = n;
		}
	}
	t->suspended_since = e->time_ns;
	if (reason)
		task_set_string(&t->await_reason, reason);
	t->await_object = e->flags & TASK_EV_WAIT_OBJECT ? e->object : 0;
	if (frames)
		set_await_frames(t, frames);
	if (t->poll_start.wall_ns && t->poll_tid == e->tid && e->time_ns > t->poll_start.wall_ns) {
		const struct thread_clock now = { .wall_ns = e->time_ns, .cpu_ns = e->cpu_ns,
						   .delay_ns = e->delay_ns };
		struct poll_time p;

		poll_time_between(&p, &t->poll_start, &now);
		if (poll_own_ns(&p) > poll_own_ns(&t->poll.longest))
			t->poll.longest = p;
	}
}

void task_suspended(struct task_rec *t, uint64_t since_ns)
{
	if (!t->suspended_since && !t->exited_ns)
		t->suspended_since = since_ns;
}

uint64_t task_resumed(struct task_rec *t)
{
	uint64_t since = t->suspended_since;

	t->suspended_since = 0;
	return since;
}

void task_exited(struct task_rec *t, uint64_t time_ns)
{
	t->exited_ns = time_ns;
	t->suspended_since = 0;
	free(t->await_pcs);
	t->await_pcs = NULL;
	t->nawait = 0;
	free(t->await_frames);
	t->await_frames = NULL;
}

void task_count_poll(struct task_rec *t)
{
	t->polls++;
}

void task_add_cpu(struct task_rec *t, uint64_t ns)
{
	t->cpu_ns += ns;
}

void task_add_wait(struct task_rec *t, uint64_t ns)
{
	t->wait_ns += ns;
}

void task_add_runnable(struct task_rec *t, uint64_t ns)
{
	t->runnable_ns += ns;
}

void task_set_internal(struct task_rec *t, bool internal)
{
	t->internal = internal;
}

void task_add_poll_time(struct task_rec *t, const struct poll_time *p)
{
	poll_stats_add(&t->poll, p);
}

void task_set_poll_counters(struct task_rec *t, uint64_t polls, const struct poll_stats *poll)
{
	t->polls = polls;
	if (poll)
		t->poll = *poll;
}
