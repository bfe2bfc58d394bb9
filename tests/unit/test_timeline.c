// SPDX-License-Identifier: MIT
/* The timeline's state machine and writer: event streams whose slices are known, written, read
 * back with protobuf-c and rebuilt as a trace reader does (BEGIN/END pairs per track). */
#include <criterion/criterion.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "bpf/task.h"
#include "output/timeline.h"
#include "perfetto/trace.pb-c.h"

struct slice {
	char track[128], name[128], args[256];
	uint64_t ts, dur;
	bool instant;
};

struct trace {
	struct slice s[4096];
	size_t n;
	json_t *json;
};

static void add_arg(struct slice *sl, const Perfetto__Protos__TrackEvent *ev)
{
	for (size_t i = 0; i < ev->n_debug_annotations; i++) {
		const Perfetto__Protos__DebugAnnotation *a = ev->debug_annotations[i];
		size_t len = strlen(sl->args);

		if (a->value_case == PERFETTO__PROTOS__DEBUG_ANNOTATION__VALUE_STRING_VALUE)
			snprintf(sl->args + len, sizeof(sl->args) - len, "%s=%s;", a->name,
				 a->string_value);
		else
			snprintf(sl->args + len, sizeof(sl->args) - len, "%s=%llu;", a->name,
				 (unsigned long long)a->uint_value);
	}
	for (size_t i = 0; i < ev->n_flow_ids; i++)
		snprintf(sl->args + strlen(sl->args), sizeof(sl->args) - strlen(sl->args),
			 "flow_out=%llu;", (unsigned long long)ev->flow_ids[i]);
	for (size_t i = 0; i < ev->n_terminating_flow_ids; i++)
		snprintf(sl->args + strlen(sl->args), sizeof(sl->args) - strlen(sl->args),
			 "flow_in=%llu;", (unsigned long long)ev->terminating_flow_ids[i]);
}

/* The slices of the trace tl writes, as a reader rebuilds them. */
static void write_and_read(struct timeline *tl, struct trace *t)
{
	char dir[] = "/tmp/asyncprof-timeline-XXXXXX", path[128];
	static uint8_t buf[1 << 22];
	uint64_t uuids[256];
	char names[256][128];
	static size_t opened[256][64];
	size_t ntracks = 0, depth[256] = { 0 };
	Perfetto__Protos__Trace *tr;
	ssize_t len;
	int dirfd, fd;

	cr_assert(mkdtemp(dir));
	dirfd = open(dir, O_RDONLY | O_DIRECTORY);
	cr_assert_eq(timeline_write(tl, dirfd, TIMELINE_FILE), 0);
	snprintf(path, sizeof(path), "%s/%s", dir, TIMELINE_FILE);
	fd = open(path, O_RDONLY);
	len = read(fd, buf, sizeof(buf));
	close(fd);
	unlink(path);
	close(dirfd);
	rmdir(dir);
	cr_assert(len > 0 && len < (ssize_t)sizeof(buf));
	tr = perfetto__protos__trace__unpack(NULL, len, buf);
	cr_assert(tr, "the trace does not decode");
	memset(t, 0, sizeof(*t));
	for (size_t i = 0; i < tr->n_packet; i++) {
		const Perfetto__Protos__TracePacket *p = tr->packet[i];
		const Perfetto__Protos__TrackEvent *ev = NULL;
		size_t k;

		cr_assert_eq(p->trusted_packet_sequence_id, 1);
		if (p->data_case == PERFETTO__PROTOS__TRACE_PACKET__DATA_TRACK_EVENT)
			ev = p->track_event;
		if (p->data_case == PERFETTO__PROTOS__TRACE_PACKET__DATA_TRACK_DESCRIPTOR) {
			const Perfetto__Protos__TrackDescriptor *td = p->track_descriptor;

			uuids[ntracks] = td->uuid;
			snprintf(names[ntracks++], 128, "%s",
				 td->thread ? "thread"
				 : td->name ? td->name
					    : "process");
			if (td->thread)
				snprintf(names[ntracks - 1], 128, "thread %d", td->thread->tid);
			continue;
		}
		if (!ev)
			continue;
		cr_assert_eq(p->timestamp_clock_id, 3, "not on CLOCK_MONOTONIC");
		for (k = 0; k < ntracks && uuids[k] != ev->track_uuid; k++)
			;
		cr_assert_lt(k, ntracks, "an event on a track not described");
		if (ev->type == PERFETTO__PROTOS__TRACK_EVENT__TYPE__TYPE_SLICE_END) {
			struct slice *sl;

			cr_assert_gt(depth[k], 0, "an end without a begin on %s", names[k]);
			sl = &t->s[opened[k][--depth[k]]];
			sl->dur = p->timestamp - sl->ts;
			continue;
		}
		cr_assert_lt(t->n, 4096);
		struct slice *sl = &t->s[t->n];

		snprintf(sl->track, sizeof(sl->track), "%s", names[k]);
		snprintf(sl->name, sizeof(sl->name), "%s", ev->name);
		sl->ts = p->timestamp;
		sl->instant = ev->type == PERFETTO__PROTOS__TRACK_EVENT__TYPE__TYPE_INSTANT;
		add_arg(sl, ev);
		if (!sl->instant)
			opened[k][depth[k]++] = t->n;
		t->n++;
	}
	for (size_t k = 0; k < ntracks; k++)
		cr_assert_eq(depth[k], 0, "slices never end on %s", names[k]);
	perfetto__protos__trace__free_unpacked(tr, NULL);
	t->json = timeline_json(tl, 0, 0);
}

/* The slice on a track whose name starts with track, named name, beginning at ts. */
static const struct slice *find(const struct trace *t, const char *track, const char *name,
				uint64_t ts)
{
	for (size_t i = 0; i < t->n; i++)
		if (strncmp(t->s[i].track, track, strlen(track)) == 0 &&
		    strcmp(t->s[i].name, name) == 0 && t->s[i].ts == ts)
			return &t->s[i];
	return NULL;
}

static size_t count(const struct trace *t, const char *track, const char *name)
{
	size_t n = 0;

	for (size_t i = 0; i < t->n; i++)
		n += strncmp(t->s[i].track, track, strlen(track)) == 0 &&
		     strcmp(t->s[i].name, name) == 0;
	return n;
}

static void expect(const struct trace *t, const char *track, const char *name, uint64_t ts,
		   uint64_t dur)
{
	const struct slice *s = find(t, track, name, ts);

	cr_assert(s, "no %s at %llu on %s", name, (unsigned long long)ts, track);
	cr_expect_eq(s->dur, dur, "%s at %llu on %s: %llu ns, not %llu", name,
		     (unsigned long long)ts, track, (unsigned long long)s->dur,
		     (unsigned long long)dur);
}

static struct timeline *new_timeline(size_t max, bool poll_ends)
{
	struct timeline_opts o = {
		.pid = getpid(), .comm = "test", .max_events = max, .poll_ends = poll_ends
	};
	struct timeline *tl;

	cr_assert_eq(timeline_new(&o, &tl), 0);
	return tl;
}

static void task_ev(struct timeline *tl, uint32_t kind, uint64_t ts, uint32_t tid, uint64_t task,
		    const char *name, uint64_t other, uint64_t value)
{
	struct session_event e = { .kind = SESSION_EV_TASK,
				   .time_ns = ts,
				   .tid = tid,
				   .task = task,
				   .task_kind = kind,
				   .other = other,
				   .task_name = name,
				   .value = value };

	if (kind == TASK_AWAIT) {
		e.reason = "timer";
		e.await_point = "app::sleepy (main.rs:12)";
	}
	if (kind == TASK_STOP) {
		e.cpu_ns = 400;
		e.preempted_ns = 100;
	}
	timeline_event(tl, &e);
}

Test(timeline, polls_and_states_with_stops)
{
	struct timeline *tl = new_timeline(1000, true);
	static struct trace t;
	const struct slice *s;

	task_ev(tl, TASK_RUN, 500, 8, 11, "app::waker", 0, 0);
	task_ev(tl, TASK_CREATE, 1000, 8, 10, "app::sleepy", 11, 0);
	task_ev(tl, TASK_RUN, 2000, 7, 10, "app::sleepy", 0, 1000);
	task_ev(tl, TASK_AWAIT, 2500, 7, 10, "app::sleepy", 0, 0);
	task_ev(tl, TASK_STOP, 3000, 7, 10, "app::sleepy", 0, 1000);
	task_ev(tl, TASK_RUNNABLE, 5000, 8, 10, "app::sleepy", 11, 0);
	task_ev(tl, TASK_STOP, 6000, 8, 11, "app::waker", 0, 5500);
	task_ev(tl, TASK_RUN, 7000, 7, 10, "app::sleepy", 0, 2000);
	task_ev(tl, TASK_STOP, 8000, 7, 10, "app::sleepy", 0, 1000);
	timeline_finish(tl, 9000);
	write_and_read(tl, &t);

	/* the polls on their threads, named after the task, with their times */
	expect(&t, "thread 7", "app::sleepy", 2000, 1000);
	expect(&t, "thread 7", "app::sleepy", 7000, 1000);
	expect(&t, "thread 8", "app::waker", 500, 5500);
	s = find(&t, "thread 7", "app::sleepy", 2000);
	cr_expect(strstr(s->args, "cpu_ns=400;preempted_ns=100;task_id=10;"), "%s", s->args);
	/* the task's states: an await in the poll makes it wait from the poll's end */
	expect(&t, "task app::sleepy #10", "runnable", 1000, 1000);
	expect(&t, "task app::sleepy #10", "running", 2000, 1000);
	expect(&t, "task app::sleepy #10", "waiting: timer", 3000, 2000);
	s = find(&t, "task app::sleepy #10", "waiting: timer", 3000);
	cr_expect_str_eq(s->args, "reason=timer;await_point=app::sleepy (main.rs:12);");
	expect(&t, "task app::sleepy #10", "runnable", 5000, 2000);
	expect(&t, "task app::sleepy #10", "running", 7000, 1000);
	/* no await in its last poll: it yielded, runnable until the end */
	expect(&t, "task app::sleepy #10", "runnable", 8000, 1000);
	/* the spawn and the wake: instants on the spawner's and the waker's tracks, flows to the
	 * states they began */
	s = find(&t, "task app::waker #11", "spawn app::sleepy #10", 1000);
	cr_assert(s && s->instant && strstr(s->args, "flow_out=1;"));
	cr_expect(strstr(find(&t, "task app::sleepy #10", "runnable", 1000)->args, "flow_in=1;"));
	s = find(&t, "task app::waker #11", "wake app::sleepy #10", 5000);
	cr_assert(s && strstr(s->args, "flow_out=2;"));
	cr_expect(strstr(find(&t, "task app::sleepy #10", "runnable", 5000)->args, "flow_in=2;"));
	cr_expect_eq(json_integer_value(json_object_get(t.json, "dropped")), 0);
	json_decref(t.json);
	timeline_free(tl);
}

/* Without STOPs (Go, Tokio's lifecycle mode): a poll ends at the task's await or at the next
 * run on its thread, whose task was preempted (runnable); a run's latency says since when the
 * task was runnable. */
Test(timeline, polls_without_stops)
{
	struct timeline *tl = new_timeline(1000, false);
	static struct trace t;

	task_ev(tl, TASK_RUN, 1000, 5, 1, "main.spin", 0, 0);
	task_ev(tl, TASK_RUN, 3000, 5, 2, "main.worker", 0, 500);
	task_ev(tl, TASK_AWAIT, 4000, 5, 2, "main.worker", 0, 0);
	task_ev(tl, TASK_RUN, 4200, 5, 1, "main.spin", 0, 1200);
	timeline_finish(tl, 5000);
	write_and_read(tl, &t);

	expect(&t, "thread 5", "main.spin", 1000, 2000);
	expect(&t, "thread 5", "main.worker", 3000, 1000);
	expect(&t, "thread 5", "main.spin", 4200, 800);
	expect(&t, "task main.spin #1", "running", 1000, 2000);
	expect(&t, "task main.spin #1", "runnable", 3000, 1200);
	expect(&t, "task main.worker #2", "runnable", 2500, 500);
	expect(&t, "task main.worker #2", "running", 3000, 1000);
	expect(&t, "task main.worker #2", "waiting: timer", 4000, 1000);
	json_decref(t.json);
	timeline_free(tl);
}

/* Over the cap, the oldest events go: the trace keeps the last polls, and says so. */
Test(timeline, keeps_the_last_events)
{
	struct timeline *tl = new_timeline(100, true);
	static struct trace t;

	for (uint64_t i = 0; i < 1000; i++) {
		task_ev(tl, TASK_RUN, 1000 * i + 100, 3, 5, "app::busy", 0, 100);
		task_ev(tl, TASK_AWAIT, 1000 * i + 400, 3, 5, "app::busy", 0, 0);
		task_ev(tl, TASK_STOP, 1000 * i + 500, 3, 5, "app::busy", 0, 400);
		task_ev(tl, TASK_RUNNABLE, 1000 * i + 900, 3, 5, "app::busy", 0, 0);
	}
	timeline_finish(tl, 1000000);
	write_and_read(tl, &t);

	cr_expect_eq(json_integer_value(json_object_get(t.json, "events")), 100);
	/* each round made a poll, running, waiting and runnable: 4000 in all */
	cr_expect_eq(json_integer_value(json_object_get(t.json, "dropped")), 3900);
	expect(&t, "thread 3", "app::busy", 999100, 400);
	cr_expect_null(find(&t, "thread 3", "app::busy", 100), "the first poll was kept");
	cr_expect_eq(count(&t, "thread 3", "app::busy"), 25);
	cr_expect_gt(json_real_value(json_object_get(t.json, "kept_from_s")), 974e-6);
	json_decref(t.json);
	timeline_free(tl);
}

/* The runtime's own tasks are left out; GC cycles are slices on their own track. */
Test(timeline, internal_tasks_and_gc)
{
	struct timeline *tl = new_timeline(1000, false);
	static struct trace t;
	struct session_event e = { .kind = SESSION_EV_TASK,
				   .time_ns = 1000,
				   .tid = 4,
				   .task = 9,
				   .task_kind = TASK_RUN,
				   .task_name = "runtime.bgsweep",
				   .internal = true };

	timeline_event(tl, &e);
	task_ev(tl, TASK_RUN, 1500, 6, 2, "main.work", 0, 0);
	e = (struct session_event){ .kind = SESSION_EV_GC,
				    .time_ns = 2000,
				    .task_kind = SESSION_GC_START };
	timeline_event(tl, &e);
	e.time_ns = 2600;
	e.task_kind = SESSION_GC_MARK_TERM;
	timeline_event(tl, &e);
	e.time_ns = 2700;
	e.task_kind = SESSION_GC_END;
	timeline_event(tl, &e);
	timeline_finish(tl, 3000);
	write_and_read(tl, &t);

	expect(&t, "GC", "GC cycle", 2000, 700);
	expect(&t, "GC", "mark termination", 2600, 100);
	expect(&t, "thread 6", "main.work", 1500, 1500);
	cr_expect_eq(count(&t, "task runtime.bgsweep", "running"), 0);
	cr_expect_eq(count(&t, "thread 4", "runtime.bgsweep"), 0);
	json_decref(t.json);
	timeline_free(tl);
}

/* A run of a task that is running: the end of its last poll was lost. That poll is left out,
 * not drawn until now, and counted. */
Test(timeline, a_lost_poll_end)
{
	struct timeline *tl = new_timeline(1000, true);
	static struct trace t;

	task_ev(tl, TASK_RUN, 100, 1, 4, "app::lossy", 0, 0);
	task_ev(tl, TASK_RUN, 1000, 1, 4, "app::lossy", 0, 0);
	task_ev(tl, TASK_STOP, 1200, 1, 4, "app::lossy", 0, 200);
	timeline_finish(tl, 2000);
	write_and_read(tl, &t);

	cr_expect_eq(count(&t, "thread 1", "app::lossy"), 1);
	expect(&t, "thread 1", "app::lossy", 1000, 200);
	cr_expect_eq(count(&t, "task app::lossy #4", "running"), 1);
	cr_expect_eq(json_integer_value(json_object_get(t.json, "polls_unended")), 1);
	json_decref(t.json);
	timeline_free(tl);
}

/* Tasks by the thousand, a cap of 100 events: the tracks of tasks no kept event refers to are
 * forgotten as it goes, and the kept ones keep their names. */
Test(timeline, many_tasks_few_events)
{
	struct timeline *tl = new_timeline(100, true);
	static struct trace t;
	char name[32];

	for (uint64_t i = 1; i <= 20000; i++) {
		snprintf(name, sizeof(name), "app::job%llu", (unsigned long long)i);
		task_ev(tl, TASK_CREATE, 1000 * i, 1, i, name, 0, 0);
		task_ev(tl, TASK_RUN, 1000 * i + 100, 1, i, name, 0, 100);
		task_ev(tl, TASK_STOP, 1000 * i + 300, 1, i, name, 0, 200);
		task_ev(tl, TASK_EXIT, 1000 * i + 400, 1, i, name, 0, 0);
	}
	timeline_finish(tl, 100000000);
	write_and_read(tl, &t);

	expect(&t, "thread 1", "app::job20000", 20000100, 200);
	expect(&t, "task app::job20000 #20000", "running", 20000100, 200);
	expect(&t, "task app::job19990 #19990", "runnable", 19990000, 100);
	cr_expect_null(find(&t, "thread 1", "app::job1", 1100));
	json_decref(t.json);
	timeline_free(tl);
}
