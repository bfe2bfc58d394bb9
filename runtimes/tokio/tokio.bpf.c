// SPDX-License-Identifier: GPL-2.0
/*
 * Tokio probes: map Tokio's task machinery onto the task model (bpf/task.h).
 *
 * Hook points (found by runtimes/tokio/tokio_binary.c; why these survive inlining and LTO is
 * in docs/runtimes.md):
 *   spawn     uprobes on the instruction after each update of task::Id::next::NEXT_ID (every
 *             spawn increments it once, with a lock xadd or cmpxchg that leaves the new id in a
 *             register: the cookie says which), or a hardware write watchpoint on NEXT_ID (the
 *             trap comes after the write, so the new task's id is NEXT_ID - 1)
 *   poll      uprobes on every raw::poll<T,S> entry, and on the ret instructions and tail
 *             calls of the poll function (no uretprobes: they rewrite return addresses, which
 *             breaks unwinding)
 *   wake      uprobes on waker::wake_by_val / wake_by_ref
 *   await     uprobe on waker::clone_waker: a task registering its own waker is about to
 *             return Pending there; the user stack is the await point
 *   exit      uprobes on Harness<T,S>::complete
 * Every hook gets the task's Header in rdi; the id is read as header->vtable->id_offset.
 *
 * Kernel state: per task, when it became runnable and its poll counters (tasks); per thread,
 * the stack of tasks being polled (polls nest: a worker runs inside its launch task).
 */
#include "vmlinux.h"
#include <bpf/bpf_helpers.h>
#include <bpf/bpf_tracing.h>
#include <bpf/bpf_core_read.h>
#include "task_events.bpf.h"
#include "running.bpf.h"
#include "counters.bpf.h"
#include "spawn_probe.h"
#include "hot.bpf.h"

char LICENSE[] SEC("license") = "GPL";

const volatile __u64 next_id_addr = 0;	    /* runtime address of NEXT_ID */
const volatile __s64 tls_offset = 0;	    /* CONTEXT from the thread pointer */
const volatile __u32 tls_bytes = 0;
const volatile __u32 vtable_in_header = 0x10; /* Header.vtable */
const volatile __u32 id_offset_in_vtable = 0x48; /* Vtable.id_offset */
const volatile bool await_stacks = false;	/* lifecycle and full modes */
/* Full mode pops the thread's poll stack at each poll exit; without exit hooks a poll entry
 * replaces the thread's current task instead of nesting. */
const volatile bool poll_exits = false;

PERCPU_COUNTERS(TOKIO_CNT_MAX)

/* A hit of a hot probe (poll entry and exit, wake, await), by kind, for the budget. */
static __always_inline void hot_hit(void *ctx)
{
	count(hot_counter(ctx, TOKIO_CNT_HOT, TOKIO_CNT_HOT_STEPPED), 1);
}

#define STATE_RUNNING 0x1
#define STATE_COMPLETE 0x2
#define STATE_NOTIFIED 0x4

struct {
	__uint(type, BPF_MAP_TYPE_LRU_HASH);
	__uint(max_entries, 65536);
	__type(key, __u64);
	__type(value, struct task_info);
} tasks SEC(".maps");

static __always_inline __u64 task_id_of(__u64 header)
{
	__u64 vt, off, id;

	if (bpf_probe_read_user(&vt, sizeof(vt), (void *)(header + vtable_in_header)))
		return 0;
	if (bpf_probe_read_user(&off, sizeof(off), (void *)(vt + id_offset_in_vtable)))
		return 0;
	if (off > 4096)
		return 0;
	if (bpf_probe_read_user(&id, sizeof(id), (void *)(header + off)))
		return 0;
	return id;
}

static __always_inline __u64 task_state_of(__u64 header)
{
	__u64 state = 0;

	bpf_probe_read_user(&state, sizeof(state), (void *)header);
	return state;
}

static __always_inline void event_add_tls(struct task_event *e)
{
	e->tls_len = tls_copy(e->tls, tls_offset, tls_bytes);
	if (e->tls_len)
		e->flags |= TASK_EV_TLS;
}

static __always_inline struct task_info *task_info_get(__u64 id)
{
	struct task_info fresh = {};

	return map_lookup_or_init(&tasks, &id, &fresh);
}

/* Task id was just allocated on this thread: its parent is the thread's current task. */
static __always_inline int on_spawn(__u64 id)
{
	struct task_event *e;
	struct task_info *ti;

	count(TOKIO_CNT_SPAWNS, 1);
	/* Counted all the same: the check of the hook against NEXT_ID stays true. */
	if (!group_on(TOKIO_GROUP_SPAWN))
		return 0;
	e = event_begin(TASK_CREATE, id, 0);
	if (!e)
		return 0;
	ti = task_info_get(id);
	if (ti)
		ti->runnable_since = e->time_ns;
	event_add_tls(e);
	event_add_stack(e);
	event_send(e);
	return 0;
}

SEC("perf_event")
int tokio_spawn(struct bpf_perf_event_data *ctx)
{
	__u64 next = 0;

	if (!is_target())
		return 0;
	if (bpf_probe_read_user(&next, sizeof(next), (void *)next_id_addr) || next == 0)
		return 0;
	return on_spawn(next - 1);
}

/* The register reg of r: a copy first, since the verifier refuses a ctx load at an offset
 * that depends on the cookie (which clang makes of a switch over the fields). */
static __always_inline __u64 spawn_reg(struct pt_regs *r, __u32 reg)
{
	struct pt_regs regs;
	__u64 v[TOKIO_REG_COUNT];

	if (bpf_probe_read_kernel(&regs, sizeof(regs), r))
		return 0;
	v[TOKIO_REG_RAX] = regs.ax;
	v[TOKIO_REG_RBX] = regs.bx;
	v[TOKIO_REG_RCX] = regs.cx;
	v[TOKIO_REG_RDX] = regs.dx;
	v[TOKIO_REG_RSI] = regs.si;
	v[TOKIO_REG_RDI] = regs.di;
	v[TOKIO_REG_RBP] = regs.bp;
	v[TOKIO_REG_R8] = regs.r8;
	v[TOKIO_REG_R9] = regs.r9;
	v[TOKIO_REG_R10] = regs.r10;
	v[TOKIO_REG_R11] = regs.r11;
	v[TOKIO_REG_R12] = regs.r12;
	v[TOKIO_REG_R13] = regs.r13;
	v[TOKIO_REG_R14] = regs.r14;
	v[TOKIO_REG_R15] = regs.r15;
	return reg < TOKIO_REG_COUNT ? v[reg] : 0;
}

#define X86_FLAGS_ZF 0x40

/* Right after an update of NEXT_ID: the register the cookie names holds the new id. */
SEC("uprobe")
int tokio_spawn_insn(struct pt_regs *ctx)
{
	__u64 cookie = bpf_get_attach_cookie(ctx), id, next = 0;

	if (!is_target())
		return 0;
	/* a failed compare-exchange loops back and tries again */
	if ((cookie & TOKIO_SPAWN_CMPXCHG) && !(ctx->flags & X86_FLAGS_ZF))
		return 0;
	id = spawn_reg(ctx, cookie & TOKIO_SPAWN_REG_MASK);
	/* The update made NEXT_ID at least id + 1 (other spawns may have run since): anything
	 * else means the analysis chose the wrong register, and the value is not an id. */
	if (bpf_probe_read_user(&next, sizeof(next), (void *)next_id_addr) || id == 0 ||
	    next <= id) {
		count(TOKIO_CNT_SPAWN_REJECTED, 1);
		return 0;
	}
	return on_spawn(id);
}

SEC("uprobe")
int BPF_KPROBE(tokio_poll_enter, __u64 header)
{
	__u32 tid = (__u32)bpf_get_current_pid_tgid();
	struct thread_polls *tp, fresh = {};
	struct thread_clock clock;
	struct task_event *e;
	struct task_info *ti;
	__u64 id, now, latency = 0;
	bool had_latency = false;
	__u32 d;

	hot_hit(ctx);
	if (!is_target())
		return 0;
	id = task_id_of(header);
	thread_clock_now(&clock);
	now = clock.wall_ns;
	ti = task_info_get(id);
	if (ti) {
		/* The latency goes to user space with the event, which keeps its distribution. */
		if (ti->runnable_since && ti->runnable_since < now) {
			latency = now - ti->runnable_since;
			had_latency = true;
		}
		ti->runnable_since = 0;
		ti->polls++;
	}
	tp = bpf_map_lookup_elem(&threads, &tid);
	if (!tp) {
		bpf_map_update_elem(&threads, &tid, &fresh, BPF_ANY);
		tp = bpf_map_lookup_elem(&threads, &tid);
		if (!tp)
			return 0;
	}
	d = poll_exits ? tp->depth : 0;
	if (d < TASK_POLL_DEPTH) {
		tp->task[d] = id;
		tp->header[d] = header;
		tp->start[d] = clock;
	}
	tp->depth = d + 1;

	e = event_begin(TASK_RUN, id, header);
	if (!e)
		return 0;
	e->time_ns = now;
	e->cpu_ns = clock.cpu_ns;
	e->delay_ns = clock.delay_ns;
	bpf_probe_read_user(&e->type, sizeof(e->type), (void *)(header + vtable_in_header));
	if (had_latency) {
		e->value = latency;
		e->flags |= TASK_EV_LATENCY;
	}
	event_send(e);
	return 0;
}

SEC("uprobe")
int tokio_poll_exit(struct pt_regs *ctx)
{
	__u32 tid = (__u32)bpf_get_current_pid_tgid();
	struct thread_polls *tp;
	struct thread_clock clock;
	struct poll_time poll;
	struct task_event *e;
	struct task_info *ti;
	__u64 id, header, state;
	__u32 d;

	hot_hit(ctx);
	if (!is_target())
		return 0;
	tp = bpf_map_lookup_elem(&threads, &tid);
	if (!tp || tp->depth == 0)
		return 0;
	d = --tp->depth;
	if (d >= TASK_POLL_DEPTH)
		return 0;
	id = tp->task[d];
	header = tp->header[d];
	thread_clock_now(&clock);
	poll_time_between(&poll, &tp->start[d], &clock);
	state = task_state_of(header);

	ti = bpf_map_lookup_elem(&tasks, &id);
	if (ti) {
		poll_stats_add(&ti->poll, &poll);
		/* Woken while running (yield_now, a wake racing the poll): queued again now. */
		if ((state & (STATE_NOTIFIED | STATE_COMPLETE)) == STATE_NOTIFIED)
			ti->runnable_since = clock.wall_ns;
	}
	e = event_begin(TASK_STOP, id, header);
	if (!e)
		return 0;
	e->time_ns = clock.wall_ns;
	e->value = poll.wall_ns;
	e->cpu_ns = poll.cpu_ns;
	e->delay_ns = poll.preempted_ns;
	if ((state & (STATE_NOTIFIED | STATE_COMPLETE)) == STATE_NOTIFIED)
		e->flags |= TASK_EV_WAS_NOTIFIED;
	event_send(e);
	return 0;
}

static __always_inline int on_wake(void *ctx, __u64 header)
{
	struct task_event *e;
	struct task_info *ti;
	__u64 id, state;

	hot_hit(ctx);
	if (!is_target() || !group_on(TOKIO_GROUP_WAKE))
		return 0;
	state = task_state_of(header);
	/* Only a wake of an idle task schedules it; a running one is re-queued at poll end. */
	if (state & (STATE_RUNNING | STATE_COMPLETE | STATE_NOTIFIED))
		return 0;
	id = task_id_of(header);
	e = event_begin(TASK_RUNNABLE, id, header);
	if (!e)
		return 0;
	ti = task_info_get(id);
	if (ti)
		ti->runnable_since = e->time_ns;
	event_add_tls(e);
	event_send(e);
	return 0;
}

SEC("uprobe")
int BPF_KPROBE(tokio_wake_by_val, __u64 header)
{
	return on_wake(ctx, header);
}

SEC("uprobe")
int BPF_KPROBE(tokio_wake_by_ref, __u64 header)
{
	return on_wake(ctx, header);
}

SEC("uprobe")
int BPF_KPROBE(tokio_clone_waker, __u64 header)
{
	__u32 tid = (__u32)bpf_get_current_pid_tgid();
	struct thread_polls *tp;
	struct task_event *e;
	__u64 id;
	__u32 d;

	hot_hit(ctx);
	if (!is_target())
		return 0;
	id = task_id_of(header);
	if (!await_stacks) {
		/* Sample mode: only calibrating where the thread-local keeps the task id. */
		e = event_begin(TASK_WAKER_CLONE, id, header);
		if (!e)
			return 0;
		event_add_tls(e);
		event_send(e);
		return 0;
	}
	/* Only the task being polled registering its own waker marks its await point. */
	tp = bpf_map_lookup_elem(&threads, &tid);
	if (!tp || tp->depth == 0)
		return 0;
	d = tp->depth - 1;
	if (d >= TASK_POLL_DEPTH || tp->task[d] != id)
		return 0;
	e = event_begin(TASK_AWAIT, id, header);
	if (!e)
		return 0;
	event_add_tls(e);
	event_add_stack(e);
	event_send(e);
	return 0;
}

SEC("uprobe")
int BPF_KPROBE(tokio_complete, __u64 header)
{
	struct task_event *e;

	if (!is_target())
		return 0;
	e = event_begin(TASK_EXIT, task_id_of(header), header);
	if (!e)
		return 0;
	bpf_probe_read_user(&e->type, sizeof(e->type), (void *)(header + vtable_in_header));
	event_send(e);
	return 0;
}
