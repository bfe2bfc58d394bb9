// SPDX-License-Identifier: GPL-2.0
/*
 * USDT markers (probes/asyncprof.h) onto the task model (bpf/task.h). The program says what
 * happens; these probes keep what the CPU sampler and user space need from it:
 *
 *   per thread   the stack of tasks it runs (task_run pushes, task_stop pops), shared with the
 *                sampler, which tags each sample with the task on top
 *   per task     its logical frames (frame_push / frame_pop while it runs; a thread outside any
 *                task has its own), shared with the sampler, which copies them into samples;
 *                its state (runnable since when, running, suspended) for scheduling latency
 *   events       create (name, parent, spawn stack), runnable (waker), run (latency), stop
 *                (duration; "was notified" when the task stays runnable: a yield), suspend
 *                (reason, object, logical frames, await stack), exit
 *
 * The tracer may attach while the program is inside runs and frames it cannot know of: a stop or
 * a pop that matches nothing seen is ignored, so state recovers at the next run or push.
 */
#include "vmlinux.h"
#include <bpf/bpf_helpers.h>
#include <bpf/bpf_tracing.h>
#include <bpf/bpf_core_read.h>
#include <bpf/usdt.bpf.h>
#include "task_events.bpf.h"
#include "running.bpf.h"

char LICENSE[] SEC("license") = "GPL";

enum marked_state {
	MARKED_UNKNOWN, /* created before attach, state not seen yet */
	MARKED_RUNNABLE,
	MARKED_RUNNING,
	MARKED_SUSPENDED,
};

struct marked_task {
	__u64 runnable_since; /* 0 when not runnable */
	__u32 state;
	__u32 pad;
};

struct {
	__uint(type, BPF_MAP_TYPE_LRU_HASH);
	__uint(max_entries, 65536);
	__type(key, __u64);
	__type(value, struct marked_task);
} tasks SEC(".maps");

static const struct logical_stack empty_stack;

static __always_inline struct marked_task *marked_task_get(__u64 id)
{
	struct marked_task fresh = {};

	return map_lookup_or_init(&tasks, &id, &fresh);
}

static __always_inline __u32 current_tid(void)
{
	return (__u32)bpf_get_current_pid_tgid();
}

static __always_inline void event_add_label(struct task_event *e, const char *s)
{
	if (s && bpf_probe_read_user_str(e->label, sizeof(e->label), s) > 1)
		e->flags |= TASK_EV_LABEL;
}

SEC("usdt")
int BPF_USDT(task_create, __u64 id, __u64 parent, const char *name)
{
	struct marked_task *mt;
	struct task_event *e;

	if (!is_target() || !id)
		return 0;
	e = event_begin(TASK_CREATE, id, 0);
	if (!e)
		return 0;
	mt = marked_task_get(id);
	if (mt) {
		mt->state = MARKED_RUNNABLE;
		mt->runnable_since = e->time_ns;
	}
	e->value = parent;
	event_add_label(e, name);
	event_add_stack(e);
	event_send(e);
	return 0;
}

SEC("usdt")
int BPF_USDT(task_runnable, __u64 id, __u64 waker)
{
	struct marked_task *mt;
	struct task_event *e;

	if (!is_target() || !id)
		return 0;
	mt = marked_task_get(id);
	/* Already queued, or woken while running before it suspended: nothing changes. */
	if (!mt || mt->state == MARKED_RUNNABLE || mt->state == MARKED_RUNNING)
		return 0;
	e = event_begin(TASK_RUNNABLE, id, 0);
	if (!e)
		return 0;
	mt->state = MARKED_RUNNABLE;
	mt->runnable_since = e->time_ns;
	e->value = waker;
	event_send(e);
	return 0;
}

SEC("usdt")
int BPF_USDT(task_run, __u64 id)
{
	__u32 tid = current_tid();
	struct thread_polls *tp, fresh = {};
	struct thread_clock clock;
	struct marked_task *mt;
	struct task_event *e;
	__u64 now, latency = 0;
	__u32 d;

	if (!is_target() || !id)
		return 0;
	thread_clock_now(&clock);
	now = clock.wall_ns;
	mt = marked_task_get(id);
	if (mt) {
		if (mt->state == MARKED_RUNNABLE && mt->runnable_since && mt->runnable_since < now)
			latency = now - mt->runnable_since;
		mt->state = MARKED_RUNNING;
		mt->runnable_since = 0;
	}
	tp = bpf_map_lookup_elem(&threads, &tid);
	if (!tp) {
		bpf_map_update_elem(&threads, &tid, &fresh, BPF_ANY);
		tp = bpf_map_lookup_elem(&threads, &tid);
		if (!tp)
			return 0;
	}
	d = tp->depth;
	if (d < TASK_POLL_DEPTH) {
		tp->task[d] = id;
		tp->header[d] = 0;
		tp->start[d] = clock;
	}
	tp->depth = d + 1;

	e = event_begin(TASK_RUN, id, 0);
	if (!e)
		return 0;
	e->time_ns = now;
	e->cpu_ns = clock.cpu_ns;
	e->delay_ns = clock.delay_ns;
	if (latency) {
		e->value = latency;
		e->flags |= TASK_EV_LATENCY;
	}
	event_send(e);
	return 0;
}

SEC("usdt")
int BPF_USDT(task_stop, __u64 id)
{
	__u32 tid = current_tid();
	struct thread_polls *tp;
	struct thread_clock clock;
	struct poll_time poll = {};
	struct marked_task *mt;
	struct task_event *e;
	__u64 now;
	__u32 d;

	if (!is_target() || !id)
		return 0;
	thread_clock_now(&clock);
	now = clock.wall_ns;
	tp = bpf_map_lookup_elem(&threads, &tid);
	if (tp && tp->depth > TASK_POLL_DEPTH) {
		tp->depth--; /* a run nested deeper than kept: trust the nesting */
	} else if (tp && tp->depth > 0) {
		/* The innermost run of this task; runs above it (whose stop came before the tracer)
		 * end with it. None: it started before the tracer attached. */
		d = tp->depth;
		for (int i = TASK_POLL_DEPTH - 1; i >= 0; i--) {
			if (i < d && tp->task[i] == id) {
				poll_time_between(&poll, &tp->start[i], &clock);
				tp->depth = i;
				break;
			}
		}
	}

	e = event_begin(TASK_STOP, id, 0);
	if (!e)
		return 0;
	e->time_ns = now;
	e->value = poll.wall_ns;
	e->cpu_ns = poll.cpu_ns;
	e->delay_ns = poll.preempted_ns;
	mt = bpf_map_lookup_elem(&tasks, &id);
	if (mt && mt->state == MARKED_RUNNING) {
		/* Stopped without a suspension: a yield, runnable again from now. */
		mt->state = MARKED_RUNNABLE;
		mt->runnable_since = now;
		e->flags |= TASK_EV_WAS_NOTIFIED;
	} else if (mt && mt->state == MARKED_RUNNABLE) {
		e->flags |= TASK_EV_WAS_NOTIFIED; /* woken between its suspension and its stop */
	}
	event_send(e);
	return 0;
}

SEC("usdt")
int BPF_USDT(task_suspend, __u64 id, const char *reason, __u64 object)
{
	struct logical_key key;
	struct logical_stack *ls;
	struct marked_task *mt;
	struct task_event *e;

	if (!is_target() || !id)
		return 0;
	mt = marked_task_get(id);
	if (mt) {
		mt->state = MARKED_SUSPENDED;
		mt->runnable_since = 0;
	}
	e = event_begin(TASK_AWAIT, id, object);
	if (!e)
		return 0;
	if (object)
		e->flags |= TASK_EV_WAIT_OBJECT;
	event_add_label(e, reason);
	logical_key_of(&key, 0, id);
	ls = bpf_map_lookup_elem(&frames, &key);
	if (ls)
		bpf_probe_read_kernel(&e->frames, sizeof(e->frames), ls);
	else
		e->frames.depth = 0;
	e->flags |= TASK_EV_FRAMES;
	event_add_stack(e);
	event_send(e);
	return 0;
}

SEC("usdt")
int BPF_USDT(task_exit, __u64 id)
{
	struct logical_key key;
	struct task_event *e;

	if (!is_target() || !id)
		return 0;
	bpf_map_delete_elem(&tasks, &id);
	logical_key_of(&key, 0, id);
	bpf_map_delete_elem(&frames, &key);
	e = event_begin(TASK_EXIT, id, 0);
	if (!e)
		return 0;
	event_send(e);
	return 0;
}

/* The logical frames of what the current thread runs: its task's, else its own. */
static __always_inline void current_frames_key(struct logical_key *key)
{
	__u32 tid = current_tid();

	logical_key_of(key, tid, running_task(bpf_map_lookup_elem(&threads, &tid)));
}

SEC("usdt")
int BPF_USDT(frame_push, const char *name)
{
	struct logical_key key;
	struct logical_stack *ls;
	__u32 d;

	if (!is_target())
		return 0;
	current_frames_key(&key);
	ls = map_lookup_or_init(&frames, &key, &empty_stack);
	if (!ls)
		return 0;
	d = ls->depth;
	if (d < LOGICAL_FRAMES_MAX) {
		ls->ptr[d] = (__u64)name;
		if (bpf_probe_read_user_str(ls->name[d], LOGICAL_NAME_LEN, name) < 0)
			ls->name[d][0] = 0;
	}
	ls->depth = d + 1;
	return 0;
}

/* Whether the string at user address s equals the kept name (both cut at LOGICAL_NAME_LEN). */
static __always_inline bool same_name(const char *kept, const char *s)
{
	char buf[LOGICAL_NAME_LEN];

	if (bpf_probe_read_user_str(buf, sizeof(buf), s) < 0)
		return false;
	for (int i = 0; i < LOGICAL_NAME_LEN; i++) {
		if (buf[i] != kept[i])
			return false;
		if (!buf[i])
			return true;
	}
	return true;
}

SEC("usdt")
int BPF_USDT(frame_pop, const char *name)
{
	struct logical_key key;
	struct logical_stack *ls;
	__u32 top, depth;

	if (!is_target())
		return 0;
	current_frames_key(&key);
	ls = bpf_map_lookup_elem(&frames, &key);
	if (!ls || ls->depth == 0)
		return 0;
	if (ls->depth > LOGICAL_FRAMES_MAX) {
		ls->depth--; /* a frame deeper than kept: trust the nesting */
		return 0;
	}
	top = ls->depth - 1;
	depth = top + 1; /* unchanged until a match */
	if (ls->ptr[top & (LOGICAL_FRAMES_MAX - 1)] == (__u64)name) {
		depth = top;
	} else {
		/* Frames above a match were left without their pop (a longjmp, an exception). */
		for (int i = LOGICAL_FRAMES_MAX - 1; i >= 0; i--) {
			if (i < top && ls->ptr[i] == (__u64)name) {
				depth = i;
				break;
			}
		}
		/* The same name through another pointer. */
		if (depth > top && same_name(ls->name[top & (LOGICAL_FRAMES_MAX - 1)], name))
			depth = top;
	}
	/* No match: a frame pushed before the tracer attached. */
	if (depth > top)
		return 0;
	if (depth == 0)
		bpf_map_delete_elem(&frames, &key);
	else
		ls->depth = depth;
	return 0;
}
