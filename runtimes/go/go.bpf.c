// SPDX-License-Identifier: GPL-2.0
/*
 * Go probes: map the Go scheduler onto the task model (bpf/task.h), a goroutine being a task
 * keyed by its goid. Facts, costs and hazards: docs/runtimes.md.
 *
 *   newproc1 entry + its RETs   creation: parent (callergp), function (fn) and creation stack
 *                               at entry, the new g in rax at each RET; runnable from there
 *   gopark                      a goroutine parks: reason (cl), lock (rbx: &hchan.lock for a
 *                               channel), blocking stack (r14 is the parking g)
 *   ready                       waiting -> runnable (rax: the g)
 *   execute                     runnable -> running (rax: the g): scheduling latency
 *   gdestroy / goexit0          exit (rax: the g)
 *   gcBgMarkStartWorkers,       GC cycle start, mark termination, end of the cycle
 *   gcMarkTermination + RETs
 *   (*mcache).refill,           allocation samples: one per span handed to an mcache (about
 *   (*mcache).allocLarge        every 8 KiB of a size class), and every large object
 *   chansend / chanrecv         per-channel operation counts (full mode)
 *
 * Entry probes sit on the instruction after the stack-bound check (PUSH BP from Go 1.21):
 * morestack re-enters a function at +0, so a probe there would fire twice, and a PUSH is
 * emulated instead of single-stepped. Returns are probes on RET instructions: a kernel return
 * probe rewrites the return address, which Go's stack copying and unwinding cannot survive.
 *
 * Stacks are the kernel's frame-pointer walk (bpf_get_stack). At a PUSH BP the kernel adds the
 * caller from [rsp] itself; on Go 1.19/1.20 the probe runs before the frame is set up, so the
 * program adds it (caller_at_sp).
 */
#include "vmlinux.h"
#include <bpf/bpf_helpers.h>
#include <bpf/bpf_tracing.h>
#include <bpf/bpf_core_read.h>
#include "task.h"
#include "task_events.bpf.h"
#include "counters.bpf.h"
#include "go_probes.h"
#include "hot.bpf.h"

char LICENSE[] SEC("license") = "GPL";

const volatile __u32 goid_offset = 152; /* runtime.g.goid */
const volatile bool caller_at_sp = false;

/* newproc1 in progress on a thread (it runs on the scheduler stack, so it cannot migrate). */
struct pending_create {
	__u64 parent;
	__u64 startpc;
	__u32 npcs;
	__u32 pad;
	__u64 pcs[GO_PROBE_STACK_MAX];
};

struct {
	__uint(type, BPF_MAP_TYPE_LRU_HASH);
	__uint(max_entries, 1024);
	__type(key, __u32);
	__type(value, struct pending_create);
} creating SEC(".maps");

/* goid -> when it became runnable */
struct {
	__uint(type, BPF_MAP_TYPE_LRU_HASH);
	__uint(max_entries, 65536);
	__type(key, __u64);
	__type(value, __u64);
} runnable SEC(".maps");

struct {
	__uint(type, BPF_MAP_TYPE_LRU_HASH);
	__uint(max_entries, 16384);
	__type(key, __u64);
	__type(value, struct go_chan_ops);
} chan_ops SEC(".maps");

PERCPU_COUNTERS(GO_CNT_MAX)

/* A hit of a hot probe, by kind, for the budget. */
static __always_inline void hot_hit(void *ctx)
{
	count(hot_counter(ctx, GO_CNT_HOT, GO_CNT_HOT_STEPPED), 1);
}

static __always_inline __u64 goid_of(__u64 g)
{
	__u64 id = 0;

	if (!g || bpf_probe_read_user(&id, sizeof(id), (void *)(g + goid_offset)))
		return 0;
	return id;
}

/* The user stack at the probe, innermost first, into pcs; returns the number of frames. */
static __always_inline __u32 user_pcs(struct pt_regs *ctx, __u64 *pcs)
{
	long n;

	if (!caller_at_sp) {
		n = bpf_get_stack(ctx, pcs, GO_PROBE_STACK_MAX * sizeof(__u64), BPF_F_USER_STACK);
		return n > 0 ? n / sizeof(__u64) : 0;
	}
	/* The frame is not set up yet: the walk starts at the caller's caller. */
	n = bpf_get_stack(ctx, pcs + 1, (GO_PROBE_STACK_MAX - 1) * sizeof(__u64), BPF_F_USER_STACK);
	if (n <= 0)
		return 0;
	pcs[0] = pcs[1];
	if (bpf_probe_read_user(&pcs[1], sizeof(pcs[1]), (void *)PT_REGS_SP(ctx)))
		return 1;
	return n / sizeof(__u64) + 1;
}

static __always_inline void event_add_pcs(struct pt_regs *ctx, struct task_event *e)
{
	__u32 n = user_pcs(ctx, (__u64 *)e->ustack);

	if (!n)
		return;
	e->ustack_len = n * sizeof(__u64);
	e->flags |= TASK_EV_PCS;
}

/* An event about the goroutine at g, whose goid is read here; NULL when it cannot be. */
static __always_inline struct task_event *goroutine_event(__u32 kind, __u64 g)
{
	__u64 goid = goid_of(g);

	if (!goid) {
		count(GO_CNT_NO_GOID, 1);
		return NULL;
	}
	return event_begin(kind, goid, g);
}

SEC("uprobe")
int go_newproc1(struct pt_regs *ctx)
{
	__u32 tid = (__u32)bpf_get_current_pid_tgid();
	struct task_event *e;
	struct pending_create *p;

	if (!is_target())
		return 0;
	/* The event scratch is free until the RET: build the record there, then store it. */
	e = event_begin(TASK_CREATE, 0, 0);
	if (!e)
		return 0;
	p = (struct pending_create *)e->ustack;
	p->parent = goid_of(ctx->bx); /* callergp */
	p->startpc = 0;
	bpf_probe_read_user(&p->startpc, sizeof(p->startpc), (void *)ctx->ax); /* fn->fn */
	p->npcs = user_pcs(ctx, p->pcs);
	bpf_map_update_elem(&creating, &tid, p, BPF_ANY);
	return 0;
}

SEC("uprobe")
int go_newproc1_ret(struct pt_regs *ctx)
{
	__u32 tid = (__u32)bpf_get_current_pid_tgid();
	struct pending_create *p;
	struct task_event *e;
	__u64 g = ctx->ax, goid;
	__u32 n;

	if (!is_target())
		return 0;
	goid = goid_of(g);
	p = bpf_map_lookup_elem(&creating, &tid);
	if (!goid) {
		count(GO_CNT_NO_GOID, 1);
		goto out;
	}
	e = event_begin(TASK_CREATE, goid, g);
	if (!e)
		goto out;
	bpf_map_update_elem(&runnable, &goid, &e->time_ns, BPF_ANY);
	if (p) {
		e->value = p->parent;
		e->type = p->startpc;
		n = p->npcs;
		if (n > GO_PROBE_STACK_MAX)
			n = GO_PROBE_STACK_MAX;
		bpf_probe_read_kernel(e->ustack, n * sizeof(__u64), p->pcs);
		e->ustack_len = n * sizeof(__u64);
		if (n)
			e->flags |= TASK_EV_PCS;
	}
	event_send(e);
out:
	if (p)
		bpf_map_delete_elem(&creating, &tid);
	return 0;
}

SEC("uprobe")
int go_gopark(struct pt_regs *ctx)
{
	struct task_event *e;

	hot_hit(ctx);
	if (!is_target())
		return 0;
	e = goroutine_event(TASK_AWAIT, ctx->r14);
	if (!e)
		return 0;
	e->value = ctx->cx & 0xff; /* waitReason is a uint8 */
	e->object = ctx->bx;
	if (ctx->bx)
		e->flags |= GO_PARK_LOCK;
	event_add_pcs(ctx, e);
	event_send(e);
	return 0;
}

SEC("uprobe")
int go_ready(struct pt_regs *ctx)
{
	struct task_event *e;

	hot_hit(ctx);
	if (!is_target())
		return 0;
	e = goroutine_event(TASK_RUNNABLE, ctx->ax);
	if (!e)
		return 0;
	bpf_map_update_elem(&runnable, &e->task, &e->time_ns, BPF_ANY);
	event_send(e);
	return 0;
}

SEC("uprobe")
int go_execute(struct pt_regs *ctx)
{
	struct task_event *e;
	__u64 *since;

	hot_hit(ctx);
	if (!is_target())
		return 0;
	e = goroutine_event(TASK_RUN, ctx->ax);
	if (!e)
		return 0;
	/* Made runnable by ready or newproc1; a preempted or yielding goroutine, or one woken by
	 * the network poller, was not seen becoming runnable: no latency for this run. */
	since = bpf_map_lookup_elem(&runnable, &e->task);
	if (since) {
		if (e->time_ns > *since) {
			e->value = e->time_ns - *since;
			e->flags |= TASK_EV_LATENCY;
		}
		bpf_map_delete_elem(&runnable, &e->task);
	}
	event_send(e);
	return 0;
}

SEC("uprobe")
int go_exit(struct pt_regs *ctx)
{
	struct task_event *e;

	if (!is_target())
		return 0;
	e = goroutine_event(TASK_EXIT, ctx->ax);
	if (!e)
		return 0;
	bpf_map_delete_elem(&runnable, &e->task);
	event_send(e);
	return 0;
}

static __always_inline int runtime_event(struct pt_regs *ctx, __u32 kind, __u32 flags,
					 __u64 value, bool stack)
{
	struct task_event *e;

	if (!is_target())
		return 0;
	/* Allocations run on the allocating goroutine's stack: r14 is its g. */
	e = event_begin(kind, stack ? goid_of(ctx->r14) : 0, 0);
	if (!e)
		return 0;
	e->flags = flags;
	e->value = value;
	if (stack)
		event_add_pcs(ctx, e);
	event_send(e);
	return 0;
}

SEC("uprobe")
int go_gc_start(struct pt_regs *ctx)
{
	return runtime_event(ctx, GO_EV_GC_START, 0, 0, false);
}

SEC("uprobe")
int go_gc_mark_term(struct pt_regs *ctx)
{
	return runtime_event(ctx, GO_EV_GC_MARK_TERM, 0, 0, false);
}

SEC("uprobe")
int go_gc_end(struct pt_regs *ctx)
{
	return runtime_event(ctx, GO_EV_GC_END, 0, 0, false);
}

SEC("uprobe")
int go_alloc_refill(struct pt_regs *ctx)
{
	hot_hit(ctx);
	return runtime_event(ctx, GO_EV_ALLOC, 0, ctx->bx & 0xff, true); /* spanClass */
}

SEC("uprobe")
int go_alloc_large(struct pt_regs *ctx)
{
	hot_hit(ctx);
	return runtime_event(ctx, GO_EV_ALLOC, GO_ALLOC_LARGE, ctx->bx, true); /* size */
}

static __always_inline int chan_op(__u64 c, bool send)
{
	struct go_chan_ops *ops, fresh = {};

	if (!is_target() || !c)
		return 0;
	ops = map_lookup_or_init(&chan_ops, &c, &fresh);
	if (!ops)
		return 0;
	if (send)
		__sync_fetch_and_add(&ops->sends, 1);
	else
		__sync_fetch_and_add(&ops->recvs, 1);
	return 0;
}

SEC("uprobe")
int go_chansend(struct pt_regs *ctx)
{
	hot_hit(ctx);
	return chan_op(ctx->ax, true);
}

SEC("uprobe")
int go_chanrecv(struct pt_regs *ctx)
{
	hot_hit(ctx);
	return chan_op(ctx->ax, false);
}
