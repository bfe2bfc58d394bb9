// SPDX-License-Identifier: MIT
/*
 * The timeline: the session's event stream turned into a Perfetto trace.
 *
 * What it shows. Tracks: the process; one per thread that ran a task or was sampled, with a
 * slice for each poll (a run of a task: RUN to STOP, or to the task's await or the thread's
 * next RUN when the runtime sends no STOP), named after the task, and the CPU samples as
 * instant events carrying their stack (interned callstacks); one per task, with its states as
 * slices: "running", "runnable" (woken or created, waiting for a thread) and "waiting: REASON"
 * (suspended; annotations reason and await_point); flows from the spawner's "spawn" instant to
 * the spawned task's first state, and from the waker's "wake" instant to the woken task's
 * "runnable" slice; a "GC" track with each cycle (Go) and its mark termination.
 *
 * The state machine, per task, from the task model's events:
 *	CREATE			-> runnable (flow from the parent)
 *	RUNNABLE		waiting -> runnable (flow from the waker)
 *	RUN (latency L)		runnable -> running; waiting -> (waiting until now - L, then
 *				runnable) -> running: a wake no probe saw (Go's network poller)
 *	AWAIT			with STOPs (full mode, markers): remembered, the poll goes on until
 *				its STOP, which then goes to waiting; without: running -> waiting
 *	STOP			running -> waiting when an await was seen in the poll, else
 *				runnable (it yielded)
 *	RUN of another task on	without STOPs, ends the thread's poll: the task it ran goes
 *	the same thread		runnable (Go's preemption, a yield)
 *	EXIT			the current state ends, the task is forgotten
 * Whether the runtime sends STOPs is the runtime's to say (timeline_opts.poll_ends).
 *
 * A RUN of a task that is running means the end of its last poll was lost (the probes' buffer
 * was full): that poll is left out rather than drawn to an end nobody saw. The runtime's own
 * tasks (internal) are left out.
 *
 * Bounded: a finished slice or an instant is a record in a ring of max_events; when the ring is
 * full the oldest is overwritten and counted as dropped, so the trace keeps the last events
 * (the last seconds), not the first. The tasks' tracks that no kept record nor live task refers
 * to are forgotten as the table grows (prune_tracks). Records are made when a slice ends; the
 * trace is written at the end, sorted by time, with the strings and stacks the kept records
 * use.
 */
#include <errno.h>
#include <stdbool.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "timeline.h"
#include "bpf/task.h"
#include "model/profile.h"
#include "output/file.h"
#include "perfetto/trace.pb-c.h"
#include "util/array.h"
#include "util/hashmap.h"

enum rec_kind {
	REC_POLL,    /* thread track: a poll of task */
	REC_RUNNING, /* task track: its states */
	REC_RUNNABLE,
	REC_WAITING, /* str: the reason, str2: the await point */
	REC_SAMPLE,  /* thread track: a CPU sample; str: its callstack */
	REC_SPAWN,   /* task track (the parent's): it spawned task (other); flow */
	REC_WAKE,    /* task track (the waker's): it woke other; flow */
	REC_GC,	     /* GC track */
	REC_GC_MARK_TERM,
};

struct rec {
	uint64_t start, end; /* end == start: an instant */
	uint64_t task;	     /* the task the slice is of (the sample ran; 0: none) */
	union {
		struct {
			uint64_t other; /* REC_SPAWN, REC_WAKE: the task spawned or woken */
			uint64_t flow; /* a flow starts (instants) or ends (states) here; 0: none */
		};
		struct {
			/* REC_POLL ended by its STOP: its time on a CPU and preempted */
			uint64_t cpu_ns, preempted_ns;
		} poll;
	};
	uint32_t tid;
	/* string ids (0: none); REC_SAMPLE: str is the callstack id; REC_POLL: str is 1 when
	 * poll's times are known */
	uint32_t str, str2;
	uint8_t kind;
};

enum task_state { ST_NONE, ST_RUNNABLE, ST_RUNNING, ST_WAITING };

/* A live task: its state since when, the flow its next state ends, its pending await. */
struct task_live {
	uint64_t id;
	enum task_state state;
	uint64_t since;
	uint64_t flow_in;
	uint32_t tid;		/* running: its thread */
	uint32_t reason, where; /* waiting (or the await seen in the running poll) */
	bool awaited, exited;
};

/* A poll under way on a thread (runs nest: a marked runtime may run a task inside another). */
#define POLL_DEPTH 8
struct thread_live {
	uint32_t tid;
	uint32_t name; /* string id, 0: unknown */
	size_t depth;
	uint64_t task[POLL_DEPTH], start[POLL_DEPTH];
};

/* A task as its track shows it (kept after its exit: records still name it). */
struct task_track {
	uint64_t id;
	uint32_t name, site; /* string ids */
	uint64_t uuid;
	bool internal; /* the runtime's own: left out */
};

struct timeline {
	struct timeline_opts o;
	char *comm;
	/* the ring of records: next is where the next one goes; n <= cap are held */
	struct rec *ring;
	size_t cap, next, n;
	uint64_t dropped;
	uint64_t dropped_until; /* the latest end of a dropped record: complete from there */
	/* strings (1-based ids), owned */
	char **strs;
	size_t nstrs, cap_strs;
	struct hashmap *str_index;
	/* callstacks: frame string ids, bottom first, 1-based ids */
	uint32_t **stacks;
	size_t *stack_len, nstacks, cap_stacks, cap_stack_len;
	struct hashmap *stack_index;
	/* tasks and threads */
	struct task_live *live;
	size_t nlive, cap_live;
	struct hashmap *live_index; /* task id -> index + 1 in live */
	struct task_track *info;
	size_t ninfo, cap_info;
	struct hashmap *info_index; /* task id -> index + 1 in info */
	size_t prune_at;	    /* prune_tracks() when info has that many */
	struct thread_live *threads;
	size_t nthreads, cap_threads;
	struct hashmap *thread_index; /* tid -> index + 1 */
	uint64_t next_flow;
	uint64_t polls_unended; /* polls whose end was lost, left out */
	uint64_t gc_start, gc_mark_term;
	int err; /* the first ENOMEM: the trace lacks events */
};

/* ---- strings, tasks, threads --------------------------------------------------------------- */

static uint32_t str_id(struct timeline *tl, const char *s)
{
	uint64_t id;
	char *copy;

	if (!s || !s[0])
		return 0;
	if (hashmap_get(tl->str_index, s, strlen(s), &id))
		return (uint32_t)id;
	copy = strdup(s);
	if (!copy ||
	    !array_grow((void **)&tl->strs, &tl->cap_strs, tl->nstrs + 1, sizeof(char *)) ||
	    hashmap_put(tl->str_index, copy, strlen(copy), tl->nstrs + 1)) {
		free(copy);
		tl->err = -ENOMEM;
		return 0;
	}
	tl->strs[tl->nstrs++] = copy;
	return (uint32_t)tl->nstrs;
}

static const char *str_of(const struct timeline *tl, uint32_t id)
{
	return id && id <= tl->nstrs ? tl->strs[id - 1] : NULL;
}

static void keep_task(struct hashmap *keep, uint64_t task, bool *failed)
{
	if (task && hashmap_put(keep, &task, sizeof(task), 1))
		*failed = true;
}

/*
 * Forgets the tasks that no kept record and no live task refers to: a service makes tasks by
 * the million, and the timeline holds at most max_events records. On ENOMEM it keeps them all.
 */
static void prune_tracks(struct timeline *tl)
{
	struct hashmap *keep = hashmap_new(), *index = hashmap_new();
	bool failed = !keep || !index;
	size_t n = 0;

	for (size_t k = 0; k < tl->n && !failed; k++) { /* n < cap: the first n; else all */
		const struct rec *r = &tl->ring[k];

		keep_task(keep, r->task, &failed);
		if (r->kind == REC_SPAWN || r->kind == REC_WAKE)
			keep_task(keep, r->other, &failed);
	}
	for (size_t i = 0; i < tl->nlive && !failed; i++)
		keep_task(keep, tl->live[i].id, &failed);
	/* the new index first: info is compacted only once it is whole */
	for (size_t i = 0; i < tl->ninfo && !failed; i++)
		if (hashmap_get(keep, &tl->info[i].id, sizeof(uint64_t), NULL) &&
		    hashmap_put(index, &tl->info[i].id, sizeof(uint64_t), ++n))
			failed = true;
	if (failed) {
		tl->err = -ENOMEM;
		hashmap_free(index);
		hashmap_free(keep);
		return;
	}
	n = 0;
	for (size_t i = 0; i < tl->ninfo; i++)
		if (hashmap_get(keep, &tl->info[i].id, sizeof(uint64_t), NULL))
			tl->info[n++] = tl->info[i];
	hashmap_free(tl->info_index);
	tl->info_index = index;
	tl->ninfo = n;
	hashmap_free(keep);
}

static struct task_track *task_track(struct timeline *tl, uint64_t task)
{
	uint64_t idx;
	struct task_track *ti;

	if (hashmap_get(tl->info_index, &task, sizeof(task), &idx))
		return &tl->info[idx - 1];
	if (tl->ninfo >= tl->prune_at) {
		prune_tracks(tl);
		tl->prune_at = 2 * tl->ninfo + 4096;
	}
	if (!array_grow((void **)&tl->info, &tl->cap_info, tl->ninfo + 1, sizeof(*tl->info)) ||
	    hashmap_put(tl->info_index, &task, sizeof(task), tl->ninfo + 1)) {
		tl->err = -ENOMEM;
		return NULL;
	}
	ti = &tl->info[tl->ninfo++];
	*ti = (struct task_track){ .id = task };
	return ti;
}

/* What the event says of its task: its name and spawn site as they are known now. */
static void learn_task(struct timeline *tl, const struct session_event *e)
{
	struct task_track *ti = e->task ? task_track(tl, e->task) : NULL;
	const char *name = ti ? str_of(tl, ti->name) : NULL;

	if (!ti)
		return;
	if (e->task_name && (!name || strcmp(name, e->task_name) != 0))
		ti->name = str_id(tl, e->task_name);
	if (e->spawned_at && !ti->site)
		ti->site = str_id(tl, e->spawned_at);
}

static struct task_live *live_task(struct timeline *tl, uint64_t task, bool create)
{
	uint64_t idx;
	struct task_live *t;

	if (hashmap_get(tl->live_index, &task, sizeof(task), &idx))
		return &tl->live[idx - 1];
	if (!create)
		return NULL;
	if (!array_grow((void **)&tl->live, &tl->cap_live, tl->nlive + 1, sizeof(*tl->live)) ||
	    hashmap_put(tl->live_index, &task, sizeof(task), tl->nlive + 1)) {
		tl->err = -ENOMEM;
		return NULL;
	}
	t = &tl->live[tl->nlive++];
	*t = (struct task_live){ .id = task };
	return t;
}

static void forget_task(struct timeline *tl, struct task_live *t)
{
	size_t idx = t - tl->live, last = tl->nlive - 1;

	hashmap_del(tl->live_index, &t->id, sizeof(t->id));
	if (idx != last) {
		tl->live[idx] = tl->live[last];
		hashmap_put(tl->live_index, &tl->live[idx].id, sizeof(uint64_t), idx + 1);
	}
	tl->nlive--;
}

static struct thread_live *thread(struct timeline *tl, uint32_t tid)
{
	uint64_t idx;
	struct thread_live *th;
	char path[64], comm[64];
	FILE *f;

	if (hashmap_get(tl->thread_index, &tid, sizeof(tid), &idx))
		return &tl->threads[idx - 1];
	if (!array_grow((void **)&tl->threads, &tl->cap_threads, tl->nthreads + 1,
			sizeof(*tl->threads)) ||
	    hashmap_put(tl->thread_index, &tid, sizeof(tid), tl->nthreads + 1)) {
		tl->err = -ENOMEM;
		return NULL;
	}
	th = &tl->threads[tl->nthreads++];
	*th = (struct thread_live){ .tid = tid };
	/* its name now, while it is there (a sample's name replaces it) */
	snprintf(path, sizeof(path), "/proc/%d/task/%u/comm", (int)tl->o.pid, tid);
	f = fopen(path, "re");
	if (f) {
		if (fgets(comm, sizeof(comm), f)) {
			comm[strcspn(comm, "\n")] = 0;
			th->name = str_id(tl, comm);
		}
		fclose(f);
	}
	return th;
}

/* ---- records ------------------------------------------------------------------------------- */

static void record(struct timeline *tl, const struct rec *r)
{
	if (r->end < r->start)
		return;
	if (tl->n == tl->cap) {
		const struct rec *old = &tl->ring[tl->next];

		tl->dropped++;
		if (old->end > tl->dropped_until)
			tl->dropped_until = old->end;
	} else {
		tl->n++;
	}
	tl->ring[tl->next] = *r;
	tl->next = (tl->next + 1) % tl->cap;
}

/* The task's current state ends at now (a slice of it when it lasted). */
static void end_state(struct timeline *tl, struct task_live *t, uint64_t now)
{
	static const uint8_t kinds[] = {
		[ST_RUNNABLE] = REC_RUNNABLE, [ST_RUNNING] = REC_RUNNING, [ST_WAITING] = REC_WAITING
	};
	struct rec r = {
		.start = t->since, .end = now, .task = t->id, .tid = t->tid, .flow = t->flow_in
	};

	if (t->state == ST_NONE || !t->since || now < t->since)
		goto out;
	r.kind = kinds[t->state];
	if (t->state == ST_WAITING) {
		r.str = t->reason;
		r.str2 = t->where;
	}
	record(tl, &r);
out:
	t->flow_in = 0;
	t->state = ST_NONE;
}

static void set_state(struct timeline *tl, struct task_live *t, enum task_state st, uint64_t now)
{
	end_state(tl, t, now);
	t->state = st;
	t->since = now;
}

static void forget_poll(struct thread_live *th, size_t i)
{
	memmove(&th->task[i], &th->task[i + 1], (th->depth - i - 1) * sizeof(uint64_t));
	memmove(&th->start[i], &th->start[i + 1], (th->depth - i - 1) * sizeof(uint64_t));
	th->depth--;
}

/* The poll of task at depth i on th ends at now, by its STOP stop (NULL: it ends because
 * something else happened). */
static void end_poll(struct timeline *tl, struct thread_live *th, size_t i, uint64_t now,
		     const struct session_event *stop)
{
	struct rec r = { .kind = REC_POLL,
			 .start = th->start[i],
			 .end = now,
			 .task = th->task[i],
			 .tid = th->tid };

	if (stop) {
		r.poll.cpu_ns = stop->cpu_ns;
		r.poll.preempted_ns = stop->preempted_ns;
		r.str = 1; /* the times are known */
	}
	record(tl, &r);
	forget_poll(th, i);
}

/* Ends task's poll on thread tid, if one is under way (stop: as end_poll()). */
static void end_poll_of(struct timeline *tl, uint32_t tid, uint64_t task, uint64_t now,
			const struct session_event *stop)
{
	struct thread_live *th = thread(tl, tid);

	for (size_t i = th ? th->depth : 0; i-- > 0;)
		if (th->task[i] == task) {
			end_poll(tl, th, i, now, stop);
			return;
		}
}

/* An instant on from's task track with a flow to the next state of to. */
static void flow(struct timeline *tl, uint8_t kind, uint64_t from, struct task_live *to,
		 uint64_t now)
{
	struct rec r = { .kind = kind,
			 .start = now,
			 .end = now,
			 .task = from,
			 .other = to->id,
			 .flow = ++tl->next_flow };

	if (!from || !task_track(tl, from))
		return;
	record(tl, &r);
	to->flow_in = r.flow;
}

/* ---- the event stream ---------------------------------------------------------------------- */

static void on_run(struct timeline *tl, const struct session_event *e, struct task_live *t)
{
	struct thread_live *th = thread(tl, e->tid);
	uint64_t woken = e->value && e->value < e->time_ns ? e->time_ns - e->value : 0;

	if (!th)
		return;
	/* Without STOPs, a run ends the thread's poll under way: its task was preempted or
	 * yielded, and is runnable. */
	while (!tl->o.poll_ends && th->depth) {
		struct task_live *prev = live_task(tl, th->task[th->depth - 1], false);

		if (prev && prev != t && prev->state == ST_RUNNING && prev->tid == e->tid)
			set_state(tl, prev, ST_RUNNABLE, e->time_ns);
		end_poll(tl, th, th->depth - 1, e->time_ns, NULL);
	}
	/* Running already: the end of its last poll was lost (the probes' buffer was full).
	 * When it ended is unknown: that poll and that state are left out, not drawn to now. */
	if (t->state == ST_RUNNING && tl->o.poll_ends) {
		struct thread_live *was = thread(tl, t->tid);

		for (size_t i = was ? was->depth : 0; i-- > 0;)
			if (was->task[i] == t->id) {
				forget_poll(was, i);
				break;
			}
		t->state = ST_NONE;
		t->flow_in = 0;
		tl->polls_unended++;
	}
	if (t->state == ST_WAITING && woken > t->since)
		set_state(tl, t, ST_RUNNABLE, woken);
	else if (t->state == ST_NONE && woken)
		set_state(tl, t, ST_RUNNABLE, woken);
	set_state(tl, t, ST_RUNNING, e->time_ns);
	t->tid = e->tid;
	t->awaited = false;
	if (th->depth == POLL_DEPTH) {
		forget_poll(th, 0); /* the oldest: its end was lost */
		tl->polls_unended++;
	}
	th->task[th->depth] = t->id;
	th->start[th->depth++] = e->time_ns;
}

static void on_await(struct timeline *tl, const struct session_event *e, struct task_live *t)
{
	t->reason = str_id(tl, e->reason);
	t->where = str_id(tl, e->await_point);
	if (tl->o.poll_ends && t->state == ST_RUNNING) {
		t->awaited = true; /* the poll goes on to its STOP */
		return;
	}
	if (t->state == ST_RUNNING)
		end_poll_of(tl, t->tid, t->id, e->time_ns, NULL);
	set_state(tl, t, ST_WAITING, e->time_ns);
}

static void on_stop(struct timeline *tl, const struct session_event *e, struct task_live *t)
{
	end_poll_of(tl, e->tid, t->id, e->time_ns, e);
	if (t->exited) {
		end_state(tl, t, e->time_ns);
		forget_task(tl, t);
		return;
	}
	set_state(tl, t, t->awaited ? ST_WAITING : ST_RUNNABLE, e->time_ns);
	t->awaited = false;
}

static void on_task(struct timeline *tl, const struct session_event *e)
{
	struct task_live *t;

	/* The runtime's own tasks are left out, as in the summary: a Tokio worker's loop is a
	 * poll that holds every other poll of its thread. */
	if (e->internal) {
		struct task_track *tt = e->task ? task_track(tl, e->task) : NULL;

		if (tt)
			tt->internal = true; /* its records so far are not written */
		if ((t = live_task(tl, e->task, false)))
			forget_task(tl, t);
		return;
	}
	learn_task(tl, e);
	if (!e->task || !(t = live_task(tl, e->task, e->task_kind != TASK_EXIT)))
		return;
	switch (e->task_kind) {
	case TASK_CREATE:
		set_state(tl, t, ST_RUNNABLE, e->time_ns);
		flow(tl, REC_SPAWN, e->other, t, e->time_ns);
		break;
	case TASK_RUNNABLE:
		if (t->state == ST_RUNNING)
			break; /* woken during its poll: it runs again after it */
		set_state(tl, t, ST_RUNNABLE, e->time_ns);
		flow(tl, REC_WAKE, e->other, t, e->time_ns);
		break;
	case TASK_RUN:
		on_run(tl, e, t);
		break;
	case TASK_AWAIT:
		on_await(tl, e, t);
		break;
	case TASK_STOP:
		on_stop(tl, e, t);
		break;
	case TASK_EXIT:
		if (t->state == ST_RUNNING && tl->o.poll_ends) {
			t->exited = true; /* its poll's STOP ends it */
			break;
		}
		if (t->state == ST_RUNNING)
			end_poll_of(tl, t->tid, t->id, e->time_ns, NULL);
		end_state(tl, t, e->time_ns);
		forget_task(tl, t);
		break;
	default:
		break;
	}
}

/* The sample's stack as a callstack id: frames bottom (root) first, inlined frames outermost
 * first; 0 when it has none. */
static uint32_t callstack(struct timeline *tl, const struct session_event *e)
{
	const struct profile *prof = e->prof;
	uint32_t frames[512];
	size_t n = 0;
	uint64_t id;
	uint32_t *copy;

	for (size_t i = e->nlocations; prof && i-- > 0;) {
		const struct profile_location *loc = profile_location(prof, e->location_ids[i]);

		for (size_t l = loc ? loc->nlines : 0; l-- > 0 && n < sizeof(frames) / 4;) {
			const struct profile_function *f =
			    profile_function(prof, loc->lines[l].function_id);
			uint32_t s = f ? str_id(tl, f->name) : 0;

			if (s)
				frames[n++] = s;
		}
	}
	if (!n)
		return 0;
	if (hashmap_get(tl->stack_index, frames, n * sizeof(*frames), &id))
		return (uint32_t)id;
	copy = malloc(n * sizeof(*copy));
	if (!copy ||
	    !array_grow((void **)&tl->stacks, &tl->cap_stacks, tl->nstacks + 1,
			sizeof(*tl->stacks)) ||
	    !array_grow((void **)&tl->stack_len, &tl->cap_stack_len, tl->nstacks + 1,
			sizeof(*tl->stack_len))) {
		free(copy);
		tl->err = -ENOMEM;
		return 0;
	}
	memcpy(copy, frames, n * sizeof(*copy));
	if (hashmap_put(tl->stack_index, copy, n * sizeof(*copy), tl->nstacks + 1)) {
		free(copy);
		tl->err = -ENOMEM;
		return 0;
	}
	tl->stacks[tl->nstacks] = copy;
	tl->stack_len[tl->nstacks++] = n;
	return (uint32_t)tl->nstacks;
}

static void on_sample(struct timeline *tl, const struct session_event *e)
{
	struct thread_live *th = thread(tl, e->tid);
	struct rec r = { .kind = REC_SAMPLE,
			 .start = e->time_ns,
			 .end = e->time_ns,
			 .task = e->task,
			 .tid = e->tid };

	learn_task(tl, e);
	if (th && e->thread_name && e->thread_name[0])
		th->name = str_id(tl, e->thread_name);
	r.str = callstack(tl, e);
	record(tl, &r);
}

static void on_gc(struct timeline *tl, const struct session_event *e)
{
	struct rec r = { .end = e->time_ns };

	switch (e->task_kind) {
	case SESSION_GC_START:
		tl->gc_start = e->time_ns;
		tl->gc_mark_term = 0;
		break;
	case SESSION_GC_MARK_TERM:
		tl->gc_mark_term = e->time_ns;
		break;
	case SESSION_GC_END:
		/* a cycle begun before the recording is shown from its mark termination */
		if (tl->gc_mark_term) {
			r.kind = REC_GC_MARK_TERM;
			r.start = tl->gc_mark_term;
			record(tl, &r);
		}
		if (tl->gc_start) {
			r.kind = REC_GC;
			r.start = tl->gc_start;
			record(tl, &r);
		}
		tl->gc_start = tl->gc_mark_term = 0;
		break;
	}
}

void timeline_event(struct timeline *tl, const struct session_event *e)
{
	switch (e->kind) {
	case SESSION_EV_SAMPLE:
		on_sample(tl, e);
		break;
	case SESSION_EV_TASK:
		on_task(tl, e);
		break;
	case SESSION_EV_GC:
		on_gc(tl, e);
		break;
	}
}

void timeline_finish(struct timeline *tl, uint64_t now_ns)
{
	struct session_event gc = { .kind = SESSION_EV_GC,
				    .task_kind = SESSION_GC_END,
				    .time_ns = now_ns };

	for (size_t i = 0; i < tl->nthreads; i++)
		while (tl->threads[i].depth)
			end_poll(tl, &tl->threads[i], tl->threads[i].depth - 1, now_ns, NULL);
	for (size_t i = 0; i < tl->nlive; i++)
		end_state(tl, &tl->live[i], now_ns);
	if (tl->gc_start || tl->gc_mark_term)
		on_gc(tl, &gc);
}

/* ---- writing ------------------------------------------------------------------------------- */

/* Track uuids: the process, the GC, the spawn-site groups, threads and tasks; 0 is Perfetto's
 * global track, never used. */
#define UUID_PROCESS 1
#define UUID_GC 2
#define UUID_SITE(i) (0x100000000ULL + (i))
#define UUID_THREAD(tid) (0x200000000ULL + (tid))
#define UUID_TASK(i) (0x300000000ULL + (i))
/* More tasks than this, and their tracks are grouped under one track per spawn site. */
#define TASKS_UNGROUPED 32
#define SEQUENCE_ID 1

/* One end of a kept record as a packet, sorted by time. */
struct point {
	uint64_t ts;
	const struct rec *r;
	uint8_t
	    order; /* at one time: ends, then begins, then instants, then ends of empty slices */
	bool begin;
};

static int point_cmp(const void *a, const void *b)
{
	const struct point *x = a, *y = b;

	if (x->ts != y->ts)
		return x->ts < y->ts ? -1 : 1;
	if (x->order != y->order)
		return x->order < y->order ? -1 : 1;
	/* slices that begin together: the longer one first (it is the outer one); that end
	 * together: the later begun first (the inner one) */
	if (x->begin && x->r->end != y->r->end)
		return x->r->end > y->r->end ? -1 : 1;
	if (!x->begin && x->r->start != y->r->start)
		return x->r->start > y->r->start ? -1 : 1;
	return x->r < y->r ? -1 : x->r > y->r;
}

struct writer {
	struct timeline *tl;
	FILE *f;
	uint8_t *buf;
	size_t cap;
	bool first;
	struct hashmap *flows; /* the flows whose source is kept */
	int err;
};

/* Writes p as one Trace.packet (field 1, length-delimited): the file is a Trace. */
static void put_packet(struct writer *w, Perfetto__Protos__TracePacket *p)
{
	uint8_t head[11];
	size_t len, n = 1, v;

	if (w->err)
		return;
	p->optional_trusted_packet_sequence_id_case =
	    PERFETTO__PROTOS__TRACE_PACKET__OPTIONAL_TRUSTED_PACKET_SEQUENCE_ID_TRUSTED_PACKET_SEQUENCE_ID;
	p->trusted_packet_sequence_id = SEQUENCE_ID;
	p->has_sequence_flags = true;
	p->sequence_flags =
	    w->first ? PERFETTO__PROTOS__TRACE_PACKET__SEQUENCE_FLAGS__SEQ_INCREMENTAL_STATE_CLEARED
		     : PERFETTO__PROTOS__TRACE_PACKET__SEQUENCE_FLAGS__SEQ_NEEDS_INCREMENTAL_STATE;
	w->first = false;
	len = perfetto__protos__trace_packet__get_packed_size(p);
	if (!array_grow((void **)&w->buf, &w->cap, len, 1)) {
		w->err = -ENOMEM;
		return;
	}
	perfetto__protos__trace_packet__pack(p, w->buf);
	head[0] = (1 << 3) | 2;
	for (v = len; v >= 0x80; v >>= 7)
		head[n++] = (uint8_t)(v | 0x80);
	head[n++] = (uint8_t)v;
	if (fwrite(head, 1, n, w->f) != n || fwrite(w->buf, 1, len, w->f) != len)
		w->err = -EIO;
}

static void put_track(struct writer *w, Perfetto__Protos__TrackDescriptor *td)
{
	Perfetto__Protos__TracePacket p = PERFETTO__PROTOS__TRACE_PACKET__INIT;

	p.data_case = PERFETTO__PROTOS__TRACE_PACKET__DATA_TRACK_DESCRIPTOR;
	p.track_descriptor = td;
	put_packet(w, &p);
}

static uint64_t clock_ns(clockid_t id)
{
	struct timespec ts;

	clock_gettime(id, &ts);
	return (uint64_t)ts.tv_sec * 1000000000ULL + ts.tv_nsec;
}

/* The clocks at one instant: the timestamps are CLOCK_MONOTONIC, Perfetto's trace clock is
 * BOOTTIME, and the UI shows wall time from REALTIME. */
static void put_clocks(struct writer *w)
{
	Perfetto__Protos__ClockSnapshot__Clock c[3], *cp[3];
	Perfetto__Protos__ClockSnapshot cs = PERFETTO__PROTOS__CLOCK_SNAPSHOT__INIT;
	Perfetto__Protos__TracePacket p = PERFETTO__PROTOS__TRACE_PACKET__INIT;
	static const struct {
		clockid_t id;
		uint32_t perfetto;
	} clocks[3] = {
		{ CLOCK_BOOTTIME,
		  PERFETTO__PROTOS__CLOCK_SNAPSHOT__CLOCK__BUILTIN_CLOCKS__BOOTTIME },
		{ CLOCK_MONOTONIC,
		  PERFETTO__PROTOS__CLOCK_SNAPSHOT__CLOCK__BUILTIN_CLOCKS__MONOTONIC },
		{ CLOCK_REALTIME,
		  PERFETTO__PROTOS__CLOCK_SNAPSHOT__CLOCK__BUILTIN_CLOCKS__REALTIME },
	};

	for (size_t i = 0; i < 3; i++) {
		perfetto__protos__clock_snapshot__clock__init(&c[i]);
		c[i].has_clock_id = c[i].has_timestamp = true;
		c[i].clock_id = clocks[i].perfetto;
		c[i].timestamp = clock_ns(clocks[i].id);
		cp[i] = &c[i];
	}
	cs.n_clocks = 3;
	cs.clocks = cp;
	p.data_case = PERFETTO__PROTOS__TRACE_PACKET__DATA_CLOCK_SNAPSHOT;
	p.clock_snapshot = &cs;
	put_packet(w, &p);
}

/* The interned function names, frames (one per function name, same id) and callstacks the kept
 * samples use, in one packet ahead of the events. */
static void put_interned(struct writer *w, const bool *stack_used)
{
	struct timeline *tl = w->tl;
	Perfetto__Protos__InternedData d = PERFETTO__PROTOS__INTERNED_DATA__INIT;
	Perfetto__Protos__TracePacket p = PERFETTO__PROTOS__TRACE_PACKET__INIT;
	Perfetto__Protos__InternedString *names = NULL, **pnames = NULL;
	Perfetto__Protos__Frame *frames = NULL, **pframes = NULL;
	Perfetto__Protos__Callstack *stacks = NULL, **pstacks = NULL;
	bool *str_used = calloc(tl->nstrs + 1, sizeof(bool));
	size_t nn = 0, ns = 0;

	names = calloc(tl->nstrs + 1, sizeof(*names));
	pnames = calloc(tl->nstrs + 1, sizeof(*pnames));
	frames = calloc(tl->nstrs + 1, sizeof(*frames));
	pframes = calloc(tl->nstrs + 1, sizeof(*pframes));
	stacks = calloc(tl->nstacks + 1, sizeof(*stacks));
	pstacks = calloc(tl->nstacks + 1, sizeof(*pstacks));
	if (!str_used || !names || !pnames || !frames || !pframes || !stacks || !pstacks) {
		w->err = -ENOMEM;
		goto out;
	}
	for (size_t i = 0; i < tl->nstacks; i++) {
		if (!stack_used[i])
			continue;
		for (size_t j = 0; j < tl->stack_len[i]; j++)
			str_used[tl->stacks[i][j]] = true;
		perfetto__protos__callstack__init(&stacks[ns]);
		stacks[ns].has_iid = true;
		stacks[ns].iid = i + 1;
		stacks[ns].n_frame_ids = tl->stack_len[i];
		stacks[ns].frame_ids = malloc(tl->stack_len[i] * sizeof(uint64_t));
		if (!stacks[ns].frame_ids) {
			w->err = -ENOMEM;
			ns++;
			goto out;
		}
		for (size_t j = 0; j < tl->stack_len[i]; j++)
			stacks[ns].frame_ids[j] = tl->stacks[i][j];
		pstacks[ns] = &stacks[ns];
		ns++;
	}
	for (size_t s = 1; s <= tl->nstrs; s++) {
		if (!str_used[s])
			continue;
		perfetto__protos__interned_string__init(&names[nn]);
		names[nn].has_iid = names[nn].has_str = true;
		names[nn].iid = s;
		names[nn].str.data = (uint8_t *)tl->strs[s - 1];
		names[nn].str.len = strlen(tl->strs[s - 1]);
		perfetto__protos__frame__init(&frames[nn]);
		frames[nn].has_iid = frames[nn].has_function_name_id = true;
		frames[nn].iid = frames[nn].function_name_id = s;
		pnames[nn] = &names[nn];
		pframes[nn] = &frames[nn];
		nn++;
	}
	d.n_function_names = d.n_frames = nn;
	d.function_names = pnames;
	d.frames = pframes;
	d.n_callstacks = ns;
	d.callstacks = pstacks;
	p.interned_data = &d;
	put_packet(w, &p);
out:
	for (size_t i = 0; i < ns; i++)
		free(stacks[i].frame_ids);
	free(str_used);
	free(names);
	free(pnames);
	free(frames);
	free(pframes);
	free(stacks);
	free(pstacks);
}

/* The tracks: the process, its threads, the tasks (under their spawn sites when there are
 * many), the GC. */
static void put_tracks(struct writer *w, const bool *task_used, const bool *thread_used, bool gc)
{
	struct timeline *tl = w->tl;
	Perfetto__Protos__ProcessDescriptor pd = PERFETTO__PROTOS__PROCESS_DESCRIPTOR__INIT;
	Perfetto__Protos__TrackDescriptor td = PERFETTO__PROTOS__TRACK_DESCRIPTOR__INIT;
	size_t ntasks = 0;
	char name[600];
	bool *site_used = calloc(tl->nstrs + 1, sizeof(bool));

	if (!site_used) {
		w->err = -ENOMEM;
		return;
	}
	pd.has_pid = true;
	pd.pid = tl->o.pid;
	pd.process_name = tl->comm;
	td.has_uuid = true;
	td.uuid = UUID_PROCESS;
	td.process = &pd;
	put_track(w, &td);
	for (size_t i = 0; i < tl->nthreads; i++) {
		Perfetto__Protos__ThreadDescriptor th = PERFETTO__PROTOS__THREAD_DESCRIPTOR__INIT;

		if (!thread_used[i])
			continue;
		perfetto__protos__track_descriptor__init(&td);
		th.has_pid = th.has_tid = true;
		th.pid = tl->o.pid;
		th.tid = tl->threads[i].tid;
		th.thread_name = (char *)str_of(tl, tl->threads[i].name);
		/* a thread's track is the process's by its pid: Perfetto's thread tracks name no
		 * parent */
		td.has_uuid = true;
		td.uuid = UUID_THREAD(th.tid);
		td.thread = &th;
		put_track(w, &td);
	}
	if (gc) {
		perfetto__protos__track_descriptor__init(&td);
		td.has_uuid = td.has_parent_uuid = true;
		td.uuid = UUID_GC;
		td.parent_uuid = UUID_PROCESS;
		td.name = "GC";
		put_track(w, &td);
	}
	for (size_t i = 0; i < tl->ninfo; i++)
		ntasks += task_used[i];
	for (size_t i = 0; i < tl->ninfo; i++) {
		struct task_track *ti = &tl->info[i];
		const char *n = str_of(tl, ti->name), *site = str_of(tl, ti->site);

		if (!task_used[i])
			continue;
		perfetto__protos__track_descriptor__init(&td);
		td.has_uuid = td.has_parent_uuid = true;
		td.parent_uuid = UUID_PROCESS;
		if (ntasks > TASKS_UNGROUPED) {
			if (!site_used[ti->site]) {
				Perfetto__Protos__TrackDescriptor sd =
				    PERFETTO__PROTOS__TRACK_DESCRIPTOR__INIT;

				site_used[ti->site] = true;
				snprintf(name, sizeof(name), "spawned at %s",
					 site ? site : "[unknown]");
				sd.has_uuid = sd.has_parent_uuid = true;
				sd.uuid = UUID_SITE(ti->site);
				sd.parent_uuid = UUID_PROCESS;
				sd.name = name;
				put_track(w, &sd);
			}
			td.parent_uuid = UUID_SITE(ti->site);
		}
		ti->uuid = td.uuid = UUID_TASK(i);
		snprintf(name, sizeof(name), "task %s #%llu", n ? n : "[unknown]",
			 (unsigned long long)ti->id);
		td.name = name;
		put_track(w, &td);
	}
	free(site_used);
}

static const char *task_name_of(struct timeline *tl, uint64_t task)
{
	uint64_t idx;

	if (!task || !hashmap_get(tl->info_index, &task, sizeof(task), &idx))
		return NULL;
	return str_of(tl, tl->info[idx - 1].name);
}

static uint64_t task_uuid(struct timeline *tl, uint64_t task)
{
	uint64_t idx;

	return task && hashmap_get(tl->info_index, &task, sizeof(task), &idx)
		   ? tl->info[idx - 1].uuid
		   : 0;
}

/* An event's debug annotations, at most ANNOTATIONS. */
#define ANNOTATIONS 4
struct annotations {
	Perfetto__Protos__DebugAnnotation a[ANNOTATIONS], *pa[ANNOTATIONS];
	size_t n;
};

static void annotate_str(struct annotations *an, const char *key, const char *value)
{
	Perfetto__Protos__DebugAnnotation *a = &an->a[an->n];

	perfetto__protos__debug_annotation__init(a);
	a->name_field_case = PERFETTO__PROTOS__DEBUG_ANNOTATION__NAME_FIELD_NAME;
	a->name = (char *)key;
	a->value_case = PERFETTO__PROTOS__DEBUG_ANNOTATION__VALUE_STRING_VALUE;
	a->string_value = (char *)value;
	an->pa[an->n] = a;
	an->n++;
}

static void annotate_uint(struct annotations *an, const char *key, uint64_t value)
{
	Perfetto__Protos__DebugAnnotation *a = &an->a[an->n];

	perfetto__protos__debug_annotation__init(a);
	a->name_field_case = PERFETTO__PROTOS__DEBUG_ANNOTATION__NAME_FIELD_NAME;
	a->name = (char *)key;
	a->value_case = PERFETTO__PROTOS__DEBUG_ANNOTATION__VALUE_UINT_VALUE;
	a->uint_value = value;
	an->pa[an->n] = a;
	an->n++;
}

/* The name and annotations of the slice or instant r begins. */
static void describe(struct timeline *tl, const struct rec *r, Perfetto__Protos__TrackEvent *ev,
		     char *name, size_t size, struct annotations *an)
{
	const char *tname = task_name_of(tl, r->task), *why = str_of(tl, r->str);
	const char *oname;

	switch (r->kind) {
	case REC_POLL:
		snprintf(name, size, "%s", tname ? tname : "[unknown]");
		/* what the poll's wall time is made of: its own work or blocking, and time
		 * preempted (other threads had the CPU) */
		if (r->str) {
			annotate_uint(an, "cpu_ns", r->poll.cpu_ns);
			annotate_uint(an, "preempted_ns", r->poll.preempted_ns);
		}
		break;
	case REC_RUNNING:
	case REC_RUNNABLE:
		snprintf(name, size, "%s", r->kind == REC_RUNNING ? "running" : "runnable");
		break;
	case REC_WAITING:
		snprintf(name, size, "waiting: %s", why ? why : "other");
		annotate_str(an, "reason", why ? why : "other");
		if (str_of(tl, r->str2))
			annotate_str(an, "await_point", str_of(tl, r->str2));
		break;
	case REC_SAMPLE:
		snprintf(name, size, "cpu sample");
		if (r->str) {
			ev->callstack_field_case =
			    PERFETTO__PROTOS__TRACK_EVENT__CALLSTACK_FIELD_CALLSTACK_IID;
			ev->callstack_iid = r->str;
		}
		if (tname)
			annotate_str(an, "task", tname);
		break;
	case REC_SPAWN:
	case REC_WAKE:
		oname = task_name_of(tl, r->other);
		snprintf(name, size, "%s %s #%llu", r->kind == REC_SPAWN ? "spawn" : "wake",
			 oname ? oname : "[unknown]", (unsigned long long)r->other);
		break;
	case REC_GC:
		snprintf(name, size, "GC cycle");
		break;
	case REC_GC_MARK_TERM:
		snprintf(name, size, "mark termination");
		break;
	}
	/* on a thread's track, which task (a task's own track says it in its name) */
	if (r->task && (r->kind == REC_POLL || r->kind == REC_SAMPLE))
		annotate_uint(an, "task_id", r->task);
}

static uint64_t track_of(struct timeline *tl, const struct rec *r)
{
	switch (r->kind) {
	case REC_POLL:
	case REC_SAMPLE:
		return UUID_THREAD(r->tid);
	case REC_GC:
	case REC_GC_MARK_TERM:
		return UUID_GC;
	default:
		return task_uuid(tl, r->task);
	}
}

static bool is_instant(const struct rec *r)
{
	return r->kind == REC_SAMPLE || r->kind == REC_SPAWN || r->kind == REC_WAKE;
}

/* One end (or the instant) of a kept record. */
static void put_point(struct writer *w, const struct point *pt)
{
	const struct rec *r = pt->r;
	Perfetto__Protos__TracePacket p = PERFETTO__PROTOS__TRACE_PACKET__INIT;
	Perfetto__Protos__TrackEvent ev = PERFETTO__PROTOS__TRACK_EVENT__INIT;
	struct annotations an = { .n = 0 };
	char name[640];
	uint64_t flow = r->kind != REC_POLL ? r->flow : 0; /* a poll's union holds its times */

	p.has_timestamp = p.has_timestamp_clock_id = true;
	p.timestamp = pt->ts;
	p.timestamp_clock_id = PERFETTO__PROTOS__CLOCK_SNAPSHOT__CLOCK__BUILTIN_CLOCKS__MONOTONIC;
	p.data_case = PERFETTO__PROTOS__TRACE_PACKET__DATA_TRACK_EVENT;
	p.track_event = &ev;
	ev.has_type = ev.has_track_uuid = true;
	ev.type = is_instant(r) ? PERFETTO__PROTOS__TRACK_EVENT__TYPE__TYPE_INSTANT
		  : pt->begin	? PERFETTO__PROTOS__TRACK_EVENT__TYPE__TYPE_SLICE_BEGIN
				: PERFETTO__PROTOS__TRACK_EVENT__TYPE__TYPE_SLICE_END;
	ev.track_uuid = track_of(w->tl, r);
	if (ev.type != PERFETTO__PROTOS__TRACK_EVENT__TYPE__TYPE_SLICE_END) {
		ev.name_field_case = PERFETTO__PROTOS__TRACK_EVENT__NAME_FIELD_NAME;
		ev.name = name;
		describe(w->tl, r, &ev, name, sizeof(name), &an);
		ev.n_debug_annotations = an.n;
		ev.debug_annotations = an.pa;
		/* a flow leaves the spawn or wake instant and ends at the state it led to */
		if (flow && is_instant(r)) {
			ev.n_flow_ids = 1;
			ev.flow_ids = &flow;
		} else if (flow && hashmap_get(w->flows, &flow, sizeof(flow), NULL)) {
			ev.n_terminating_flow_ids = 1;
			ev.terminating_flow_ids = &flow;
		}
	}
	put_packet(w, &p);
}

static bool is_internal(const struct timeline *tl, uint64_t task)
{
	uint64_t idx;

	return task && hashmap_get(tl->info_index, &task, sizeof(task), &idx) &&
	       tl->info[idx - 1].internal;
}

static int write_trace(struct writer *w)
{
	struct timeline *tl = w->tl;
	struct point *pts = calloc(2 * tl->n + 1, sizeof(*pts));
	bool *stack_used = calloc(tl->nstacks + 1, sizeof(bool));
	bool *task_used = calloc(tl->ninfo + 1, sizeof(bool));
	bool *thread_used = calloc(tl->nthreads + 1, sizeof(bool));
	size_t np = 0, first = (tl->next + tl->cap - tl->n) % tl->cap;
	bool gc = false;

	if (!pts || !stack_used || !task_used || !thread_used) {
		w->err = -ENOMEM;
		goto out;
	}
	for (size_t k = 0; k < tl->n; k++) {
		const struct rec *r = &tl->ring[(first + k) % tl->cap];
		uint64_t idx;

		if (r->kind == REC_SAMPLE && r->str)
			stack_used[r->str - 1] = true;
		if (r->kind == REC_POLL && is_internal(tl, r->task))
			continue;
		if (r->kind == REC_POLL || r->kind == REC_SAMPLE) {
			if (hashmap_get(tl->thread_index, &r->tid, sizeof(r->tid), &idx))
				thread_used[idx - 1] = true;
		} else if (r->kind == REC_GC || r->kind == REC_GC_MARK_TERM) {
			gc = true;
		} else if (hashmap_get(tl->info_index, &r->task, sizeof(r->task), &idx) &&
			   !tl->info[idx - 1].internal && !is_internal(tl, r->other)) {
			task_used[idx - 1] = true;
		} else {
			continue; /* a task the timeline has no track for */
		}
		if (is_instant(r)) {
			if (r->flow && hashmap_put(w->flows, &r->flow, sizeof(r->flow), 1))
				w->err = -ENOMEM;
			pts[np++] = (struct point){ r->start, r, 2, true };
			continue;
		}
		pts[np++] = (struct point){ r->start, r, 1, true };
		pts[np++] = (struct point){ r->end, r, r->end == r->start ? 3 : 0, false };
	}
	qsort(pts, np, sizeof(*pts), point_cmp);
	put_clocks(w);
	put_interned(w, stack_used);
	put_tracks(w, task_used, thread_used, gc);
	for (size_t i = 0; i < np && !w->err; i++)
		put_point(w, &pts[i]);
out:
	free(pts);
	free(stack_used);
	free(task_used);
	free(thread_used);
	return w->err;
}

int timeline_write(struct timeline *tl, int dirfd, const char *file)
{
	struct output_file of = { 0 };
	struct writer w = { .tl = tl, .first = true, .flows = hashmap_new() };
	int err = w.flows ? output_open(&of, dirfd, file) : -ENOMEM;

	if (err) {
		hashmap_free(w.flows);
		return err;
	}
	w.f = of.f;
	err = write_trace(&w);
	free(w.buf);
	hashmap_free(w.flows);
	if (err)
		return output_fail(&of, err);
	return output_commit(&of);
}

/* ---- figures ------------------------------------------------------------------------------- */

/* The time the kept records span: from the earliest start, or when records were dropped, from
 * the end of the last one dropped (records are made as slices end: everything that ended after
 * it is kept), to the latest end. */
static void kept_span(const struct timeline *tl, uint64_t *from, uint64_t *to)
{
	*from = UINT64_MAX;
	*to = 0;
	for (size_t k = 0; k < tl->n; k++) {
		const struct rec *r = &tl->ring[k];

		if (r->start < *from)
			*from = r->start;
		if (r->end > *to)
			*to = r->end;
	}
	if (!tl->n)
		*from = 0;
	if (tl->dropped && tl->dropped_until > *from)
		*from = tl->dropped_until;
}

json_t *timeline_json(const struct timeline *tl, uint64_t start_ns, uint64_t events_lost)
{
	uint64_t from, to;

	kept_span(tl, &from, &to);
	return json_pack(
	    "{s:s, s:I, s:I, s:I, s:f, s:f, s:I, s:I, s:b}", "file", TIMELINE_FILE, "max_events",
	    (json_int_t)tl->cap, "events", (json_int_t)tl->n, "dropped", (json_int_t)tl->dropped,
	    "kept_from_s", from > start_ns ? (from - start_ns) / 1e9 : 0.0, "kept_s",
	    to > from ? (to - from) / 1e9 : 0.0, "task_events_lost", (json_int_t)events_lost,
	    "polls_unended", (json_int_t)tl->polls_unended, "complete", !tl->err && !events_lost);
}

void timeline_print_summary(const struct timeline *tl, uint64_t start_ns, uint64_t events_lost,
			    FILE *f)
{
	uint64_t from, to;

	kept_span(tl, &from, &to);
	fprintf(f, "\ntimeline: %zu events in %s", tl->n, TIMELINE_FILE);
	if (tl->dropped)
		fprintf(f,
			" (%llu older ones dropped at the cap of %zu: the last %.1fs are whole, "
			"from %.1fs on)",
			(unsigned long long)tl->dropped, tl->cap, (to - from) / 1e9,
			from > start_ns ? (from - start_ns) / 1e9 : 0.0);
	if (events_lost)
		fprintf(f,
			" (incomplete: %llu task events were lost, so were their slices; %llu "
			"polls whose end was lost are left out)",
			(unsigned long long)events_lost, (unsigned long long)tl->polls_unended);
	if (tl->err)
		fprintf(f, " (incomplete: out of memory while recording)");
	fprintf(f, "\n");
}

/* ---- life ---------------------------------------------------------------------------------- */

int timeline_new(const struct timeline_opts *o, struct timeline **out)
{
	struct timeline *tl;

	if (!o->max_events)
		return -EINVAL;
	tl = calloc(1, sizeof(*tl));
	if (!tl)
		return -ENOMEM;
	tl->o = *o;
	tl->cap = o->max_events;
	tl->prune_at = 4096;
	tl->ring = malloc(tl->cap * sizeof(*tl->ring));
	tl->comm = strdup(o->comm ? o->comm : "");
	tl->str_index = hashmap_new();
	tl->stack_index = hashmap_new();
	tl->live_index = hashmap_new();
	tl->info_index = hashmap_new();
	tl->thread_index = hashmap_new();
	if (!tl->ring || !tl->comm || !tl->str_index || !tl->stack_index || !tl->live_index ||
	    !tl->info_index || !tl->thread_index) {
		timeline_free(tl);
		return -ENOMEM;
	}
	*out = tl;
	return 0;
}

void timeline_free(struct timeline *tl)
{
	if (!tl)
		return;
	for (size_t i = 0; i < tl->nstrs; i++)
		free(tl->strs[i]);
	for (size_t i = 0; i < tl->nstacks; i++)
		free(tl->stacks[i]);
	hashmap_free(tl->str_index);
	hashmap_free(tl->stack_index);
	hashmap_free(tl->live_index);
	hashmap_free(tl->info_index);
	hashmap_free(tl->thread_index);
	free(tl->strs);
	free(tl->stacks);
	free(tl->stack_len);
	free(tl->live);
	free(tl->info);
	free(tl->threads);
	free(tl->ring);
	free(tl->comm);
	free(tl);
}
