/* SPDX-License-Identifier: GPL-2.0 */
#ifndef ASYNCPROF_TASK_EVENTS_BPF_H
#define ASYNCPROF_TASK_EVENTS_BPF_H

/*
 * What every runtime's probes share to send task events (bpf/task.h) to user space: the target
 * process, the ring buffer "task_events" and its per-CPU counts of the events lost to a full
 * ring buffer, per kind ("task_drops"), and the per-CPU scratch event that is built before
 * being sent (too big for the BPF stack).
 *
 *	e = event_begin(TASK_RUN, id, object);
 *	... fill e->value, e->flags, event_add_stack(e) ...
 *	event_send(e);
 */
#include <bpf/bpf_core_read.h>
#include "sampler.h"
#include "task.h"
#include "ustack.bpf.h"

const volatile __u32 targ_tgid = 0;
/* Set by user space to end the recording at once: removing uprobes one by one takes long, and
 * their events and counts would go on meanwhile. */
volatile bool probes_stopped = false;
/* Groups of probes user space has turned off while recording (bit n: the runtime's group n), so
 * that a cost governor can duty-cycle the costliest without detaching them. */
volatile __u32 groups_off = 0;

static __always_inline bool group_on(__u32 group)
{
	return !(groups_off & (1u << group));
}

struct {
	__uint(type, BPF_MAP_TYPE_RINGBUF);
	__uint(max_entries, 4 * 1024 * 1024);
} task_events SEC(".maps");

/*
 * An event wakes the reader only once this much of the ring waits (0: every event, as the
 * kernel does by default). A wake-up is an irq_work raised from the probed thread: a self-IPI,
 * and on a virtual machine a trap of its own. On this project's VM it was nearly half of what
 * the always-on spawn and exit probes cost a Tokio service (42 of their 92 samples in
 * bpf_ringbuf_output's irq_work_queue); the reader takes the ring every 100 ms anyway (every
 * second at most in the agent), and an eighth of it waiting still wakes it.
 */
const volatile __u32 task_wakeup_bytes = 0;

/* The padding: see ustack_copy(). */
struct task_event_scratch {
	struct task_event e;
	__u8 pad[SAMPLER_PAGE_SIZE];
};

struct {
	__uint(type, BPF_MAP_TYPE_PERCPU_ARRAY);
	__uint(max_entries, 1);
	__type(key, __u32);
	__type(value, struct task_event_scratch);
} task_scratch SEC(".maps");

struct {
	__uint(type, BPF_MAP_TYPE_PERCPU_ARRAY);
	__uint(max_entries, TASK_KINDS);
	__type(key, __u32);
	__type(value, __u64);
} task_drops SEC(".maps");

/* The entry at key, made from init when absent (another CPU may make it first); NULL when the
 * map is full. */
static __always_inline void *map_lookup_or_init(void *map, const void *key, const void *init)
{
	void *v = bpf_map_lookup_elem(map, key);

	if (v)
		return v;
	bpf_map_update_elem(map, key, init, BPF_NOEXIST);
	return bpf_map_lookup_elem(map, key);
}

static __always_inline bool is_target(void)
{
	return !probes_stopped && (bpf_get_current_pid_tgid() >> 32) == targ_tgid;
}

/* The current thread's clocks now (struct thread_clock). */
static __always_inline void thread_clock_now(struct thread_clock *c)
{
	struct task_struct *t = bpf_get_current_task_btf();

	c->wall_ns = bpf_ktime_get_ns();
	/*
	 * The scheduler adds a running thread's time to sum_exec_runtime only now and then (at a
	 * tick, a switch); what it has run since is its clock now less exec_start. That clock
	 * (the runqueue's) runs at CLOCK_MONOTONIC's rate, so the sum on CLOCK_MONOTONIC's scale
	 * differs from the true one by a constant that differences cancel.
	 */
	c->cpu_ns = t->se.sum_exec_runtime - t->se.exec_start + c->wall_ns;
	c->delay_ns = bpf_core_field_exists(t->sched_info.run_delay) ? t->sched_info.run_delay : 0;
}

/* The scratch event, its header filled for the current thread and now. */
static __always_inline struct task_event *event_begin(__u32 kind, __u64 task, __u64 object)
{
	__u32 zero = 0;
	struct task_event_scratch *s = bpf_map_lookup_elem(&task_scratch, &zero);
	__u64 pid_tgid = bpf_get_current_pid_tgid();
	struct thread_clock clock;

	if (!s)
		return NULL;
	s->e.kind = kind;
	s->e.pid = pid_tgid >> 32;
	s->e.tid = (__u32)pid_tgid;
	s->e.flags = 0;
	thread_clock_now(&clock);
	s->e.time_ns = clock.wall_ns;
	s->e.cpu_ns = clock.cpu_ns;
	s->e.delay_ns = clock.delay_ns;
	s->e.task = task;
	s->e.value = 0;
	s->e.object = object;
	s->e.type = 0;
	s->e.tls_len = 0;
	s->e.ustack_len = 0;
	return &s->e;
}

/* Adds the user registers and stack: user space unwinds them (a spawn site, an await point). */
static __always_inline void event_add_stack(struct task_event *e)
{
	struct pt_regs *r = (struct pt_regs *)bpf_task_pt_regs(bpf_get_current_task_btf());

	if (!r)
		return;
	ustack_save_regs(e->regs, r);
	e->ustack_len = ustack_copy(e->ustack, e->regs[SREG_SP]);
	e->flags |= TASK_EV_STACK;
}

static __always_inline void event_send(struct task_event *e)
{
	__u64 size = task_event_size(e), flags = 0;
	__u32 kind = e->kind;
	__u64 *drops;

	if (size > sizeof(*e))
		return;
	if (task_wakeup_bytes) {
		__u64 waiting = bpf_ringbuf_query(&task_events, BPF_RB_AVAIL_DATA);

		/* Only the event that crosses the mark wakes the reader: it reads until the ring
		 * is empty. Waking it at each event past the mark would cost a self-IPI per
		 * event whenever it fell behind, where the kernel's default wakes it only once
		 * it has caught up. */
		flags = waiting < task_wakeup_bytes && waiting + size >= task_wakeup_bytes
				? BPF_RB_FORCE_WAKEUP
				: BPF_RB_NO_WAKEUP;
	}
	if (bpf_ringbuf_output(&task_events, e, size, flags)) {
		drops = bpf_map_lookup_elem(&task_drops, &kind);
		if (drops)
			*drops += 1;
	}
}

#endif
