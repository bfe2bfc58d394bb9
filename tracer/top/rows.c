// SPDX-License-Identifier: MIT
/* asyncprof top's rows, header and details (see rows.h). */
#include <errno.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>
#include <jansson.h>

#include "rows.h"
#include "model/profile.h"
#include "model/tasks.h"
#include "target/process.h"
#include "util/array.h"
#include "util/hashmap.h"

/* Recent CPU samples kept for the detail's hottest stacks: a few seconds of a busy service at
 * the default rate, in under a megabyte. */
#define RING_SAMPLES 4096
#define RING_FRAMES 24
#define HOT_STACKS 5
#define HOT_FRAMES 8
#define MAX_WORKERS_SHOWN 8
#define MAX_REASONS 32 /* distinct wait reasons cached */

/* The cumulative figures of a task or site at the last refresh: the rates are their growth. */
struct cum {
	uint64_t cpu_ns, polls, busy_ns, tasks;
};

struct ring_sample {
	uint64_t task, site_hash;
	uint32_t n;
	uint64_t locs[RING_FRAMES];
};

struct thread_count {
	uint32_t tid;
	bool worker; /* it ran tasks */
	uint64_t samples, at_refresh;
};

/* The cumulative figures of every task or site, by id or site string. */
struct cumset {
	struct hashmap *index; /* key -> position in cum + 1 */
	struct cum *cum;
	size_t n, cap;
};

struct rowset {
	struct top_row *rows;
	size_t n, cap;
	struct cumset prev; /* at the last refresh */
};

struct top_model {
	struct session *s;
	unsigned int freq_hz;
	uint64_t start_ns, last_ns;
	struct rowset tasks, sites;
	struct top_header hdr;
	uint64_t samples, samples_at_refresh, tasks_seen_at_refresh;
	struct hashmap *thread_index; /* tid -> position in threads + 1 */
	struct thread_count *threads;
	size_t nthreads, cap_threads;
	struct ring_sample *ring;
	size_t ring_next, ring_used;
	const struct profile *prof; /* the cpu profile the ring's location ids are in */
	struct hashmap *reasons;    /* await stack hash -> position in reason_names */
	char reason_names[MAX_REASONS][40];
	size_t nreason_names;
	bool busy_measured, polls_measured;
};

static const char *const sort_names[SORT_KEYS] = {
	[SORT_CPU] = "CPU%",	 [SORT_POLLS] = "polls/s", [SORT_BUSY] = "busy%",
	[SORT_WAIT] = "waiting", [SORT_P99] = "lat p99",   [SORT_MAX_POLL] = "longest poll",
	[SORT_AGE] = "age",	 [SORT_NAME] = "name",
};

const char *top_sort_name(enum top_sort key)
{
	return key < SORT_KEYS ? sort_names[key] : "?";
}

static uint64_t site_hash(const char *site)
{
	return hash_bytes(site, strlen(site));
}

static const char *site_of(const struct task_rec *t)
{
	return t->spawned_at ? t->spawned_at : "[unknown]";
}

struct top_model *top_model_new(struct session *s, unsigned int freq_hz, enum task_mode mode)
{
	struct top_model *m = calloc(1, sizeof(*m));

	if (!m)
		return NULL;
	m->s = s;
	m->freq_hz = freq_hz;
	m->hdr.mode = task_mode_name(mode);
	m->hdr.waits_live = mode >= MODE_LIFECYCLE;
	m->start_ns = m->last_ns = monotonic_ns();
	m->tasks.prev.index = hashmap_new();
	m->sites.prev.index = hashmap_new();
	m->thread_index = hashmap_new();
	m->reasons = hashmap_new();
	m->ring = calloc(RING_SAMPLES, sizeof(*m->ring));
	if (!m->tasks.prev.index || !m->sites.prev.index || !m->thread_index || !m->reasons ||
	    !m->ring) {
		top_model_free(m);
		return NULL;
	}
	return m;
}

static void cumset_free(struct cumset *cs)
{
	free(cs->cum);
	hashmap_free(cs->index);
}

/* The figures of this refresh become the last refresh's. */
static void cumset_replace(struct cumset *prev, struct cumset *now)
{
	cumset_free(prev);
	*prev = *now;
}

static void rowset_free(struct rowset *rs)
{
	free(rs->rows);
	cumset_free(&rs->prev);
}

void top_model_free(struct top_model *m)
{
	if (!m)
		return;
	rowset_free(&m->tasks);
	rowset_free(&m->sites);
	hashmap_free(m->thread_index);
	hashmap_free(m->reasons);
	free(m->threads);
	free(m->ring);
	free(m);
}

static struct thread_count *thread_of(struct top_model *m, uint32_t tid)
{
	uint64_t pos;

	if (hashmap_get(m->thread_index, &tid, sizeof(tid), &pos))
		return &m->threads[pos - 1];
	if (!array_grow((void **)&m->threads, &m->cap_threads, m->nthreads + 1,
			sizeof(*m->threads)) ||
	    hashmap_put(m->thread_index, &tid, sizeof(tid), m->nthreads + 1))
		return NULL;
	m->threads[m->nthreads] = (struct thread_count){ .tid = tid };
	return &m->threads[m->nthreads++];
}

void top_model_listen(void *ctx, const struct session_event *e)
{
	struct top_model *m = ctx;
	struct thread_count *th = thread_of(m, e->tid);
	struct task_table *tt;
	struct task_rec *t;
	struct ring_sample *r;

	if (e->kind == SESSION_EV_TASK && th && e->task_kind == TASK_RUN)
		th->worker = true;
	if (e->kind != SESSION_EV_SAMPLE)
		return;
	m->samples++;
	if (th) {
		th->samples++;
		th->worker |= e->task != 0;
	}
	if (!e->task)
		return;
	/* Kept with its spawn site now: the task may be folded (forgotten) by the time a
	 * detail asks. */
	tt = session_tasks(m->s);
	t = tt ? task_find(tt, e->task) : NULL;
	r = &m->ring[m->ring_next];
	r->task = e->task;
	r->site_hash = t ? site_hash(site_of(t)) : 0;
	r->n = e->nlocations < RING_FRAMES ? e->nlocations : RING_FRAMES;
	memcpy(r->locs, e->location_ids, r->n * sizeof(r->locs[0]));
	m->prof = e->prof;
	m->ring_next = (m->ring_next + 1) % RING_SAMPLES;
	if (m->ring_used < RING_SAMPLES)
		m->ring_used++;
}

/* The cumulative figures of key at the last refresh (zeros when it was not there). */
static struct cum prev_cum(const struct cumset *cs, const void *key, size_t len)
{
	uint64_t pos;

	if (hashmap_get(cs->index, key, len, &pos))
		return cs->cum[pos - 1];
	return (struct cum){ 0 };
}

/* Keeps c under key for the next refresh. Returns 0 or -ENOMEM. */
static int keep_cum(struct cumset *cs, const void *key, size_t len, const struct cum *c)
{
	if (!array_grow((void **)&cs->cum, &cs->cap, cs->n + 1, sizeof(*cs->cum)))
		return -ENOMEM;
	cs->cum[cs->n] = *c;
	if (hashmap_put(cs->index, key, len, cs->n + 1))
		return -ENOMEM;
	cs->n++;
	return 0;
}

/* A counter's growth; 0 when it went back (a task's counters replaced by the probes' own). */
static uint64_t growth(uint64_t now, uint64_t before)
{
	return now > before ? now - before : 0;
}

/* The rates of a row from its figures now and at the last refresh, over secs. */
static void set_rates(const struct top_model *m, struct top_row *r, const struct cum *now,
		      const struct cum *before, double secs)
{
	r->cpu_pct = growth(now->cpu_ns, before->cpu_ns) / 1e9 / secs * 100;
	r->polls_s = m->polls_measured ? growth(now->polls, before->polls) / secs : -1;
	r->busy_pct =
	    m->busy_measured ? growth(now->busy_ns, before->busy_ns) / 1e9 / secs * 100 : -1;
}

static struct top_row *new_row(struct rowset *rs)
{
	if (!array_grow((void **)&rs->rows, &rs->cap, rs->n + 1, sizeof(*rs->rows)))
		return NULL;
	memset(&rs->rows[rs->n], 0, sizeof(rs->rows[0]));
	return &rs->rows[rs->n++];
}

/*
 * Why t waits into out: the runtime's reason, or the one its await stack tells by the runtime's
 * rules, cached per stack (symbolizing every waiting task's stack every second costs): the
 * reasons are a few fixed words, kept once each.
 */
static void wait_reason(struct top_model *m, const struct task_rec *t, char *out, size_t size)
{
	char where[8];
	uint64_t h, v;

	out[0] = 0;
	if (t->await_reason || !t->nawait) {
		snprintf(out, size, "%s", t->await_reason ? t->await_reason : "");
		return;
	}
	h = hash_bytes(t->await_pcs, t->nawait * sizeof(t->await_pcs[0]));
	if (hashmap_get(m->reasons, &h, sizeof(h), &v)) {
		snprintf(out, size, "%s", m->reason_names[v]);
		return;
	}
	if (!session_await_point(m->s, t->id, out, size, where, sizeof(where)))
		return;
	for (v = 0; v < m->nreason_names && strcmp(m->reason_names[v], out) != 0; v++)
		;
	if (v == m->nreason_names && v < MAX_REASONS)
		snprintf(m->reason_names[m->nreason_names++], sizeof(m->reason_names[0]), "%s",
			 out);
	if (v < m->nreason_names)
		hashmap_put(m->reasons, &h, sizeof(h), v);
}

static int task_rows(struct top_model *m, struct task_table *tt, uint64_t now_ns, double secs,
		     bool since_start)
{
	struct rowset *rs = &m->tasks;
	struct cumset now = { .index = hashmap_new() };
	size_t n;
	struct task_rec **all = task_list(tt, &n);
	int err = now.index ? 0 : -ENOMEM;

	rs->n = 0;
	for (size_t i = 0; !err && i < n; i++) {
		const struct task_rec *t = all[i];
		struct cum c = { t->cpu_ns, t->polls, t->poll.total.cpu_ns, 1 };
		struct cum before =
		    since_start ? (struct cum){ 0 } : prev_cum(&rs->prev, &t->id, sizeof(t->id));
		struct latency_stats ls;
		struct top_row *r;

		err = keep_cum(&now, &t->id, sizeof(t->id), &c);
		if (err || t->exited_ns)
			continue;
		r = new_row(rs);
		if (!r) {
			err = -ENOMEM;
			break;
		}
		r->task = t->id;
		snprintf(r->name, sizeof(r->name), "%s%s", t->name ? t->name : "[unknown]",
			 t->internal ? " [runtime]" : "");
		snprintf(r->site, sizeof(r->site), "%s", t->spawned_at ? t->spawned_at : "");
		set_rates(m, r, &c, &before, secs);
		r->live = r->total = 1;
		r->wait_ns = m->hdr.waits_live && t->suspended_since && now_ns > t->suspended_since
				 ? now_ns - t->suspended_since
				 : 0;
		if (r->wait_ns)
			wait_reason(m, t, r->reason, sizeof(r->reason));
		latency_summary(&t->lat, &ls);
		r->p99_ns = ls.p99;
		r->max_poll_ns = t->poll.longest.wall_ns;
		r->age_ns = t->created_ns && now_ns > t->created_ns ? now_ns - t->created_ns : 0;
	}
	cumset_replace(&rs->prev, &now);
	return err;
}

static uint64_t json_u64(const json_t *o, const char *key)
{
	return (uint64_t)json_integer_value(json_object_get(o, key));
}

/* A site's row from report.json's spawn_sites entry (the same figures, folded tasks included). */
static int site_row(struct top_model *m, const json_t *o, struct cumset *now, double secs,
		    bool since_start)
{
	struct rowset *rs = &m->sites;
	const char *site = json_string_value(json_object_get(o, "spawned_at"));
	struct cum c = { json_u64(o, "cpu_ns"), json_u64(o, "polls"), json_u64(o, "busy_ns"),
			 json_u64(o, "tasks") };
	struct cum before;
	struct top_row *r;

	if (!site)
		return 0;
	before = since_start ? (struct cum){ 0 } : prev_cum(&rs->prev, site, strlen(site));
	if (keep_cum(now, site, strlen(site), &c))
		return -ENOMEM;
	r = new_row(rs);
	if (!r)
		return -ENOMEM;
	snprintf(r->site, sizeof(r->site), "%s", site);
	set_rates(m, r, &c, &before, secs);
	r->total = c.tasks;
	r->p99_ns = json_u64(json_object_get(o, "sched_latency_ns"), "p99");
	r->max_poll_ns = json_u64(o, "max_poll_ns");
	m->hdr.spawned_s += growth(c.tasks, before.tasks) / secs;
	return 0;
}

/* What only the live tasks tell of a site: how many, how many wait, their name, the oldest. */
static void site_live(struct rowset *rs, struct task_table *tt, uint64_t now, bool waits_live)
{
	struct hashmap *pos = hashmap_new();
	struct task_rec **all;
	size_t n;

	if (!pos)
		return;
	for (size_t i = 0; i < rs->n; i++)
		hashmap_put(pos, rs->rows[i].site, strlen(rs->rows[i].site), i);
	all = task_list(tt, &n);
	for (size_t i = 0; i < n; i++) {
		const struct task_rec *t = all[i];
		const char *site = site_of(t);
		struct top_row *r;
		uint64_t at;

		if (!hashmap_get(pos, site, strlen(site), &at))
			continue;
		r = &rs->rows[at];
		if (!r->name[0] && t->name)
			snprintf(r->name, sizeof(r->name), "%s", t->name);
		else if (t->name && !r->mixed && strcmp(r->name, t->name) != 0)
			r->mixed = true;
		if (t->exited_ns)
			continue;
		r->live++;
		r->waiting += waits_live && t->suspended_since;
		if (t->created_ns && now > t->created_ns && now - t->created_ns > r->age_ns)
			r->age_ns = now - t->created_ns;
	}
	for (size_t i = 0; i < rs->n; i++) {
		struct top_row *r = &rs->rows[i];
		size_t len = strlen(r->name);

		if (!len)
			snprintf(r->name, sizeof(r->name), "[unknown]");
		else if (r->mixed)
			snprintf(r->name + len, sizeof(r->name) - len, " and others");
	}
	hashmap_free(pos);
}

static int site_rows(struct top_model *m, struct task_table *tt, uint64_t now_ns, double secs,
		     bool since_start)
{
	struct rowset *rs = &m->sites;
	json_t *sites = task_sites_json(tt), *o;
	struct cumset now = { .index = hashmap_new() };
	size_t i;
	int err = sites && now.index ? 0 : -ENOMEM;

	rs->n = 0;
	m->hdr.spawned_s = 0;
	json_array_foreach(sites, i, o)
	{
		if (!err)
			err = site_row(m, o, &now, secs, since_start);
	}
	json_decref(sites);
	if (err) {
		cumset_free(&now);
		return err;
	}
	site_live(rs, tt, now_ns, m->hdr.waits_live);
	cumset_replace(&rs->prev, &now);
	return 0;
}

/* Whether the runtime counts polls (Tokio and Go from lifecycle mode on, the markers always) and
 * measures their time on a CPU (busy_ns: Tokio's full mode, the markers): once seen, they are. */
static void see_measures(struct top_model *m, struct task_table *tt)
{
	size_t n;
	struct task_rec **all = task_list(tt, &n);

	for (size_t i = 0; i < n && !(m->busy_measured && m->polls_measured); i++) {
		m->busy_measured |= all[i]->poll.total.cpu_ns != 0;
		m->polls_measured |= all[i]->polls != 0;
	}
}

/* Whether thread tid of the target is still there (a blocking pool's threads come and go). */
static bool thread_alive(pid_t pid, uint32_t tid)
{
	char path[64];

	snprintf(path, sizeof(path), "/proc/%d/task/%u", pid, tid);
	return access(path, F_OK) == 0;
}

static void header_threads(struct top_model *m, double secs, bool since_start)
{
	pid_t pid = session_pid(m->s);
	double sum = 0;

	m->hdr.nworkers = 0;
	for (size_t i = 0; i < m->nthreads; i++) {
		struct thread_count *th = &m->threads[i];
		uint64_t n = th->samples - (since_start ? 0 : th->at_refresh);
		double pct = n * 100.0 / (m->freq_hz * secs);

		th->at_refresh = th->samples;
		if (th->worker && !thread_alive(pid, th->tid))
			th->worker = false;
		if (!th->worker)
			continue;
		if (pct > 100)
			pct = 100; /* a sample's period is nominal: the kernel's timer runs late */
		if (m->hdr.nworkers < MAX_WORKERS_SHOWN)
			m->hdr.worker_pct[m->hdr.nworkers] = pct;
		m->hdr.nworkers++;
		sum += pct;
	}
	m->hdr.workers_pct = m->hdr.nworkers ? sum / m->hdr.nworkers : 0;
}

int top_model_refresh(struct top_model *m, bool since_start)
{
	uint64_t now = monotonic_ns();
	double secs = ((since_start ? m->start_ns : m->last_ns) < now
			   ? now - (since_start ? m->start_ns : m->last_ns)
			   : 1) /
		      1e9;
	struct session_stats st;
	struct task_table *tt;
	int err = 0;

	session_refresh_tasks(m->s);
	tt = session_tasks(m->s);
	if (tt) {
		see_measures(m, tt);
		err = task_rows(m, tt, now, secs, since_start);
		if (!err)
			err = site_rows(m, tt, now, secs, since_start);
	}
	session_stats(m->s, &st);
	m->hdr.runtime = session_runtime(m->s);
	m->hdr.version = session_runtime_version(m->s);
	m->hdr.comm = session_comm(m->s);
	m->hdr.elapsed_s = (now - m->start_ns) / 1e9;
	m->hdr.interval_s = secs;
	m->hdr.samples_s = (m->samples - (since_start ? 0 : m->samples_at_refresh)) / secs;
	m->hdr.live_tasks = m->tasks.n;
	m->hdr.events_lost = st.events_lost;
	header_threads(m, secs, since_start);
	m->samples_at_refresh = m->samples;
	m->last_ns = now;
	return err;
}

const struct top_header *top_model_header(const struct top_model *m)
{
	return &m->hdr;
}

/* "1.23s", "12.3ms", "45us", "-" for 0: a duration in at most 7 columns. */
const char *top_fmt_ns(uint64_t ns, char *buf, size_t size)
{
	if (!ns)
		snprintf(buf, size, "-");
	else if (ns < 1000000)
		snprintf(buf, size, "%lluus", (unsigned long long)(ns / 1000));
	else if (ns < 1000000000)
		snprintf(buf, size, "%.1fms", ns / 1e6);
	else if (ns < 100000000000ULL)
		snprintf(buf, size, "%.2fs", ns / 1e9);
	else if (ns < 3600000000000ULL)
		snprintf(buf, size, "%llum%02llus", (unsigned long long)(ns / 60000000000ULL),
			 (unsigned long long)(ns / 1000000000 % 60));
	else
		snprintf(buf, size, "%lluh%02llum", (unsigned long long)(ns / 3600000000000ULL),
			 (unsigned long long)(ns / 60000000000ULL % 60));
	return buf;
}

static enum top_sort sort_key;

static double sort_value(const struct top_row *r)
{
	switch (sort_key) {
	case SORT_CPU:
		return r->cpu_pct;
	case SORT_POLLS:
		return r->polls_s;
	case SORT_BUSY:
		return r->busy_pct;
	case SORT_WAIT:
		return r->live > 1 || r->waiting ? (double)r->waiting : (double)r->wait_ns;
	case SORT_P99:
		return (double)r->p99_ns;
	case SORT_MAX_POLL:
		return (double)r->max_poll_ns;
	case SORT_AGE:
		return (double)r->age_ns;
	default:
		return 0;
	}
}

static int by_sort_key(const void *a, const void *b)
{
	const struct top_row *x = a, *y = b;
	double vx, vy;
	int by_name = strcmp(x->name, y->name);

	if (sort_key == SORT_NAME)
		return by_name ? by_name : strcmp(x->site, y->site);
	vx = sort_value(x);
	vy = sort_value(y);
	if (vx != vy)
		return vx > vy ? -1 : 1;
	/* Ties (idle tasks) in a stable order, so rows do not jump between refreshes. */
	return by_name ? by_name : x->task < y->task ? -1 : x->task > y->task;
}

size_t top_model_rows(struct top_model *m, enum top_view v, enum top_sort key,
		      const struct top_row **rows)
{
	struct rowset *rs = v == TOP_SITES ? &m->sites : &m->tasks;

	sort_key = key;
	if (rs->n)
		qsort(rs->rows, rs->n, sizeof(*rs->rows), by_sort_key);
	*rows = rs->rows;
	return rs->n;
}

/* ---- a row's detail ------------------------------------------------------------------------ */

struct lines {
	void (*put)(void *ctx, bool heading, const char *line);
	void *ctx;
	int width;
};

static void say(const struct lines *l, bool heading, const char *fmt, ...)
    __attribute__((format(printf, 3, 4)));

static void say(const struct lines *l, bool heading, const char *fmt, ...)
{
	char line[512];
	va_list ap;

	va_start(ap, fmt);
	vsnprintf(line, sizeof(line), fmt, ap);
	va_end(ap);
	if (l->width > 0 && (size_t)l->width < sizeof(line))
		line[l->width] = 0;
	l->put(l->ctx, heading, line);
}

static void say_ancestry(const struct lines *l, struct task_table *tt, uint64_t task)
{
	uint64_t ids[32];
	size_t n = task_ancestry(tt, task, ids, sizeof(ids) / sizeof(ids[0]));
	struct task_identity id;

	say(l, true, "Ancestry (root first)");
	for (size_t i = 0; i < n; i++) {
		if (!task_identity(tt, ids[i], &id))
			continue;
		say(l, false, "%*s%s #%llu, spawned at %s", (int)(2 + 2 * i), "",
		    id.name ? id.name : "[unknown]", (unsigned long long)ids[i],
		    id.spawned_at ? id.spawned_at : "[unknown]");
	}
	if (n && task_identity(tt, ids[0], &id) && !id.parent_known)
		say(l, false, "  (it or its parent existed before the recording: the chain stops)");
}

static void say_wait(struct top_model *m, const struct lines *l, const struct task_rec *t,
		     uint64_t now)
{
	char point[200], reason[64];

	if (!m->hdr.waits_live) {
		say(l, false,
		    "State: not followed in sample mode (--mode lifecycle follows waits)");
		return;
	}
	if (!t->suspended_since) {
		say(l, false, "State: %s", t->poll_start.wall_ns ? "in a poll" : "not waiting");
		return;
	}
	if (!session_await_point(m->s, t->id, reason, sizeof(reason), point, sizeof(point)))
		reason[0] = point[0] = 0;
	say(l, false, "State: waiting for %.3f s%s%s", (now - t->suspended_since) / 1e9,
	    reason[0] ? ", " : "", reason);
	say(l, false, "Await point: %s", point[0] ? point : "[unknown]");
}

struct stack_count {
	size_t first; /* a ring entry with this stack */
	uint64_t count;
};

static int by_count_desc(const void *a, const void *b)
{
	const struct stack_count *x = a, *y = b;

	return x->count < y->count ? 1 : x->count > y->count ? -1 : 0;
}

/* The function at a location (its innermost inlined one), 0 when unknown. */
static uint64_t location_function(const struct profile *prof, uint64_t id)
{
	const struct profile_location *loc = profile_location(prof, id);

	return loc && loc->nlines ? loc->lines[0].function_id : 0;
}

static const char *function_name(const struct profile *prof, uint64_t id)
{
	return id ? profile_function(prof, id)->name : "?";
}

/* The commonest stacks among the recent samples of a task (task != 0) or of a site's tasks. */
static int say_hot_stacks(struct top_model *m, const struct lines *l, uint64_t task, uint64_t site)
{
	struct hashmap *seen = hashmap_new();
	struct stack_count *counts = calloc(m->ring_used ? m->ring_used : 1, sizeof(*counts));
	size_t n = 0, total = 0;

	if (!seen || !counts) {
		hashmap_free(seen);
		free(counts);
		return -ENOMEM;
	}
	for (size_t i = 0; i < m->ring_used; i++) {
		const struct ring_sample *r = &m->ring[i];
		uint64_t fns[RING_FRAMES], at;

		if (!r->n || (task ? r->task != task : r->site_hash != site))
			continue;
		total++;
		/* By function: samples at other lines of the same functions are one stack. */
		for (uint32_t f = 0; f < r->n; f++)
			fns[f] = location_function(m->prof, r->locs[f]);
		if (hashmap_get(seen, fns, r->n * sizeof(fns[0]), &at))
			counts[at].count++;
		else if (!hashmap_put(seen, fns, r->n * sizeof(fns[0]), n))
			counts[n++] = (struct stack_count){ i, 1 };
	}
	qsort(counts, n, sizeof(*counts), by_count_desc);
	say(l, true, "Hottest stacks (%zu of the last %zu CPU samples, leaf first)", total,
	    m->ring_used);
	for (size_t i = 0; i < n && i < HOT_STACKS; i++) {
		const struct ring_sample *r = &m->ring[counts[i].first];

		say(l, false, "  %5.1f%%  %llu samples", counts[i].count * 100.0 / total,
		    (unsigned long long)counts[i].count);
		for (uint32_t f = 0; f < r->n && f < HOT_FRAMES; f++)
			say(l, false, "          %s",
			    function_name(m->prof, location_function(m->prof, r->locs[f])));
		if (r->n > HOT_FRAMES)
			say(l, false, "          ... %u more", r->n - HOT_FRAMES);
	}
	hashmap_free(seen);
	free(counts);
	return 0;
}

static void say_figures(const struct lines *l, const struct top_row *r)
{
	char p99[16], longest[16], age[16];

	say(l, true, "Figures (%s)", r->live > 1 || !r->task ? "all its tasks" : "this task");
	say(l, false,
	    "  CPU %.1f%%, %.1f polls/s, scheduling latency p99 %s, longest poll %s, age %s",
	    r->cpu_pct, r->polls_s, top_fmt_ns(r->p99_ns, p99, sizeof(p99)),
	    top_fmt_ns(r->max_poll_ns, longest, sizeof(longest)),
	    r->age_ns ? top_fmt_ns(r->age_ns, age, sizeof(age)) : "unknown");
	if (r->busy_pct >= 0)
		say(l, false, "  busy (on a CPU inside its polls) %.1f%%", r->busy_pct);
}

/* A live task of a site: the one that suspended last, if any waits (its await point tells
 * most, and a task whose wake was lost does not stay the example), else the first. */
static struct task_rec *site_example(struct task_table *tt, const char *site)
{
	struct task_rec *pick = NULL;
	size_t n;
	struct task_rec **all = task_list(tt, &n);

	for (size_t i = 0; i < n; i++) {
		const struct task_rec *t = all[i];

		if (t->exited_ns || strcmp(site_of(t), site) != 0)
			continue;
		if (!pick || t->suspended_since > pick->suspended_since)
			pick = all[i];
	}
	return pick;
}

int top_model_detail(struct top_model *m, enum top_view v, const struct top_row *r, int width,
		     void (*put)(void *ctx, bool heading, const char *line), void *ctx)
{
	char waiting[24];
	struct lines l = { put, ctx, width };
	struct task_table *tt = session_tasks(m->s);
	uint64_t now = monotonic_ns();
	struct task_rec *t;

	if (!tt)
		return 0;
	if (v == TOP_TASKS) {
		t = task_find(tt, r->task);
		say(&l, true, "Task #%llu: %s", (unsigned long long)r->task, r->name);
		say(&l, false, "Spawned at: %s", r->site[0] ? r->site : "[unknown]");
		if (!t || t->exited_ns) {
			say(&l, false, "State: exited");
		} else {
			say_wait(m, &l, t, now);
			say_ancestry(&l, tt, t->id);
		}
		say_figures(&l, r);
		return say_hot_stacks(m, &l, r->task, 0);
	}
	say(&l, true, "Spawn site: %s", r->site);
	snprintf(waiting, sizeof(waiting), m->hdr.waits_live ? "%llu" : "-",
		 (unsigned long long)r->waiting);
	say(&l, false, "Tasks: %s; %llu live, %s waiting, %llu spawned since the start", r->name,
	    (unsigned long long)r->live, waiting, (unsigned long long)r->total);
	t = site_example(tt, r->site);
	if (t) {
		say(&l, false, "One of them: #%llu", (unsigned long long)t->id);
		say_wait(m, &l, t, now);
		say_ancestry(&l, tt, t->id);
	}
	say_figures(&l, r);
	return say_hot_stacks(m, &l, 0, site_hash(r->site));
}
