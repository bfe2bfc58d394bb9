// SPDX-License-Identifier: GPL-2.0
/*
 * Off-CPU: where the target's threads block, and for how long.
 *
 * sched_switch marks when a target thread leaves the CPU and when it comes back. Only at the
 * switch-in is the block's length known, and most blocks are short, so everything costly waits
 * until then and is done only for blocks of at least min_block_ns; the others are counted.
 *
 * A long block needs the thread's user stack, which can only be read from the thread's own
 * context (bpf_probe_read_user reads the current mm): at the switch-in the CPU still runs the
 * previous task. So the block stays "pending" in the thread's record until the thread runs
 * again, and is sent from there with the registers and stack it had when it blocked:
 *
 *  - tp_btf/sched_switch with task work (Linux 6.18+): the switch-in schedules a callback that
 *    runs when the thread returns to user space, whatever the kernel entry was (system call,
 *    page fault, interrupt). The kernel stack is taken at the switch-in from the sleeping
 *    thread (bpf_get_task_stack), cheaply and only for long blocks.
 *  - tp_btf/sched_switch without it (5.18 to 6.17): the kernel stack likewise; the block is
 *    sent at the return from the thread's next system call (raw_tp/sys_exit).
 *  - raw_tp/sched_switch (no tp_btf): as the previous one, but the kernel stack is taken at
 *    every blocking switch-out, since raw_tp cannot name the next task to bpf_get_task_stack.
 *
 * Either way, a pending block is also sent when the thread leaves the CPU again before that
 * (it blocked twice in one system call). The user stack and instruction pointers it blocked
 * with are kept with the kernel stack: the user stack is read only while the thread still has
 * them, i.e. has not returned to user space since it blocked (without task work, a block in a
 * page fault ends without a sys_exit); else the block is sent with its kernel stack only, and
 * counted.
 *
 * Intervals off the CPU while runnable (preempted, yielded) are counted, not profiled: their
 * stack is wherever the preemption hit.
 *
 * Two task iterators cover the ends of the recording (when the kernel has them): at the start,
 * seed_threads records each thread found off the CPU as off since then, so a block already
 * under way counts from the start; at the end, flush_threads sends each block still under way,
 * and each pending one, with the user registers and stack the thread sleeps with (read with
 * bpf_copy_from_user_task from the sleepable iterator), so a thread blocked for the whole
 * recording (a deadlock) is in the profile.
 */
/* vmlinux.h from kernels before 6.18 lacks struct bpf_task_work; the kernel finds the field by
 * that exact name, so ours is defined here whatever vmlinux.h has. */
#define bpf_task_work bpf_task_work___vmlinux
#include "vmlinux.h"
#undef bpf_task_work
#include <bpf/bpf_helpers.h>
#include <bpf/bpf_tracing.h>
#include <bpf/bpf_core_read.h>
#include "offcpu_data.h"
#include "ustack.bpf.h"
#include "counters.bpf.h"

char LICENSE[] SEC("license") = "GPL";

#define EBUSY 16

const volatile __u32 targ_tgid = 0;
const volatile __u64 min_block_ns = 1000000;

struct bpf_task_work {
	__u64 __opaque;
} __attribute__((aligned(8)));

struct thread_slot {
	struct offcpu_thread t;
	struct bpf_task_work work;
};

/* Blocks pending in all threads: lets sys_exit return at once in the common case. */
__u64 pending_blocks = 0;

/*
 * When the recording began (bpf_ktime_get_ns), set by user space once everything is attached;
 * 0 until then. A block that ended before it is not the recording's; one that began before it
 * weighs its part after it, flagged as cut at the start, as the threads blocked at the attach.
 */
volatile __u64 window_start_ns = 0;

/*
 * Where the part of t's block inside the recording began: its switch-out, or the recording's
 * start (then *cut is set).
 */
static __always_inline __u64 block_from(const struct offcpu_thread *t, bool *cut)
{
	__u64 start = window_start_ns;

	*cut = t->flags & OFFCPU_THREAD_SEEDED;
	if (t->off_ns >= start)
		return t->off_ns;
	*cut = true;
	return start;
}

/* A new thread's record: too large for the BPF stack. */
static const __u8 empty_slot[sizeof(struct thread_slot)];

struct {
	__uint(type, BPF_MAP_TYPE_HASH);
	__uint(map_flags, BPF_F_NO_PREALLOC);
	__uint(max_entries, 16384);
	__type(key, __u32);
	__type(value, struct thread_slot);
} threads SEC(".maps");

/* A record is reserved whole in the ring buffer (a preemptible sender cannot share a per-CPU
 * scratch buffer); the padding is what ustack_copy needs after the stack. */
struct offcpu_record {
	struct offcpu_event e;
	__u8 pad[SAMPLER_PAGE_SIZE];
};

struct {
	__uint(type, BPF_MAP_TYPE_RINGBUF);
	__uint(max_entries, 8 * 1024 * 1024); /* ~390 records: 100 ms of 1 ms blocks on 4 threads */
} events SEC(".maps");

PERCPU_COUNTERS(OFFCPU_CNT_MAX)

extern const void __sched_text_start __ksym __weak;
extern const void __sched_text_end __ksym __weak;

extern int bpf_task_work_schedule_resume_impl(struct task_struct *task, struct bpf_task_work *tw,
					      void *map__map,
					      int (*callback)(struct bpf_map *map, void *key,
							      void *value),
					      void *aux__prog) __ksym __weak;


/* A block's record in the ring buffer, its header filled in (no stacks yet); NULL when full. */
static __always_inline struct offcpu_record *reserve_block(__u32 tid, __u64 blocked, __u32 state,
							    __u32 flags)
{
	struct offcpu_record *r = bpf_ringbuf_reserve(&events, sizeof(*r), 0);
	struct sample_event *s;

	if (!r) {
		count_atomic(OFFCPU_CNT_DROPS, 1);
		return NULL;
	}
	r->e.blocked_ns = blocked;
	r->e.state = state;
	r->e.flags = flags;
	s = &r->e.s;
	s->pid = targ_tgid;
	s->tid = tid;
	s->time_ns = bpf_ktime_get_ns();
	s->cpu = bpf_get_smp_processor_id();
	s->flags = 0;
	s->tls_len = 0;
	s->task = 0;
	s->ustack_len = 0;
	return r;
}

/* Sends the thread's pending block, if any, from the thread's own context; uregs are its user
 * registers now. */
static __always_inline void send_pending(struct offcpu_thread *t, __u32 tid, struct pt_regs *uregs)
{
	struct offcpu_record *r;
	struct sample_event *s;
	__u64 blocked;

	if (!t->pending_ns)
		return;
	/* Claimed atomically: a sender preempted here must not let the switch-out send it too. */
	blocked = __sync_lock_test_and_set(&t->pending_ns, 0);
	if (!blocked)
		return;
	__sync_fetch_and_sub(&pending_blocks, 1);
	r = reserve_block(tid, blocked, t->pending_state,
			  t->flags & OFFCPU_THREAD_PENDING_SEEDED ? OFFCPU_EV_FROM_START : 0);
	if (!r)
		return;
	s = &r->e.s;
	bpf_get_current_comm(s->comm, sizeof(s->comm));
	s->kstack_len = t->kstack_len;
	__builtin_memcpy(s->kstack, t->kstack, sizeof(s->kstack));
	if (uregs && BPF_CORE_READ(uregs, ip) == t->user_ip &&
	    BPF_CORE_READ(uregs, sp) == t->user_sp) {
		ustack_save_regs(s->regs, uregs);
		s->flags |= SAMPLE_USER_REGS;
		s->ustack_len = ustack_copy(s->ustack, s->regs[SREG_SP]);
	} else {
		count_atomic(OFFCPU_CNT_NO_USER_STACK, 1);
	}
	bpf_ringbuf_submit(r, 0);
}

static __always_inline struct pt_regs *current_user_regs(void)
{
	return (struct pt_regs *)bpf_task_pt_regs(bpf_get_current_task_btf());
}

/* The thread's own context on its way back to user space (task work). */
static int send_on_resume(struct bpf_map *map, void *key, void *value)
{
	struct thread_slot *slot = value;

	send_pending(&slot->t, *(__u32 *)key, current_user_regs());
	return 0;
}

static __always_inline bool in_sched_text(__u64 ip)
{
	return ip >= (__u64)&__sched_text_start && ip < (__u64)&__sched_text_end;
}

/*
 * The current task's kernel stack from the first frame below the scheduler's own functions:
 * without this program, the tracepoint and the scheduler, as the kernel gives it for a sleeping
 * task (bpf_get_task_stack), so both ways of taking it give the same stacks.
 */
static __always_inline __s32 blocked_kernel_stack(void *ctx, __u64 *stack)
{
	__s32 n = bpf_get_stack(ctx, stack, SAMPLER_KSTACK_MAX * sizeof(__u64), 0);
	bool sched = false;
	__s32 skip = 0;

	if (n <= 0)
		return n;
	n /= sizeof(__u64);
	for (int i = 0; i < SAMPLER_KSTACK_MAX && i < n; i++) {
		if (in_sched_text(stack[i])) {
			sched = true;
		} else if (sched) {
			skip = i;
			break;
		}
	}
	for (int i = 0; skip && i < SAMPLER_KSTACK_MAX && i + skip < n; i++)
		stack[i] = stack[(i + skip) & (SAMPLER_KSTACK_MAX - 1)];
	return n - skip;
}

/* prev is the current task: a target thread leaving the CPU. */
static __always_inline void switch_out(void *ctx, bool preempt, __u32 tid, __u32 state,
				       bool kstack_now, __u64 now)
{
	struct thread_slot *slot = bpf_map_lookup_elem(&threads, &tid);
	struct pt_regs *uregs;

	if (state & OFFCPU_TASK_DEAD) {
		if (slot) {
			send_pending(&slot->t, tid, current_user_regs());
			bpf_map_delete_elem(&threads, &tid);
		}
		return;
	}
	if (!slot) {
		bpf_map_update_elem(&threads, &tid, empty_slot, BPF_NOEXIST);
		slot = bpf_map_lookup_elem(&threads, &tid);
		if (!slot) {
			count(OFFCPU_CNT_THREADS_FULL, 1);
			return;
		}
	}
	if (slot->t.pending_ns)
		send_pending(&slot->t, tid, current_user_regs());
	/* It ran without a switch-in reaching this program (rare, seen on 6.18 also with a bare
	 * counting program): that interval's end is unknown, so it is counted, not measured. */
	if (slot->t.off_ns)
		count(OFFCPU_CNT_MISSED_END, 1);
	slot->t.off_ns = now;
	slot->t.flags &= ~OFFCPU_THREAD_SEEDED;
	if (preempt || state == 0) {
		slot->t.state = OFFCPU_PREEMPTED;
		return;
	}
	slot->t.state = state;
	/* With BTF, the switch-in records these and the kernel stack, for long blocks only. */
	if (!kstack_now)
		return;
	uregs = current_user_regs();
	slot->t.user_ip = uregs->ip;
	slot->t.user_sp = uregs->sp;
	slot->t.kstack_len = blocked_kernel_stack(ctx, slot->t.kstack);
}

/*
 * A target thread about to run again. ran: whether it ever ran before (a new thread's first run
 * ends no block). next is NULL without BTF (raw_tp: the kernel stack was taken at the
 * switch-out); task_work: schedule the sending, else sys_exit or the next switch-out sends it.
 */
static __always_inline void switch_in(__u32 tid, struct task_struct *next, bool ran, __u64 now,
				      bool task_work)
{
	struct thread_slot *slot = bpf_map_lookup_elem(&threads, &tid);
	struct pt_regs *uregs;
	bool cut;
	__u64 d;
	int err;

	if (!slot || !slot->t.off_ns) {
		/* Held by asyncprof run until attached: no block of the program's own. */
		if (ran && !(slot && (slot->t.flags & OFFCPU_THREAD_HELD)))
			count(OFFCPU_CNT_BEFORE_START, 1);
		if (slot)
			slot->t.flags &= ~OFFCPU_THREAD_HELD;
		return;
	}
	/* Ended before the recording began: not the recording's. */
	if (!window_start_ns || now < window_start_ns) {
		slot->t.off_ns = 0;
		return;
	}
	d = now - block_from(&slot->t, &cut);
	slot->t.off_ns = 0;
	if (slot->t.state == OFFCPU_PREEMPTED) {
		count(OFFCPU_CNT_RUNNABLE, 1);
		count(OFFCPU_CNT_RUNNABLE_NS, d);
		return;
	}
	if (d < min_block_ns) {
		count(OFFCPU_CNT_SHORT, 1);
		count(OFFCPU_CNT_SHORT_NS, d);
		return;
	}
	count(OFFCPU_CNT_LONG, 1);
	count(OFFCPU_CNT_LONG_NS, d);
	slot->t.pending_state = slot->t.state;
	slot->t.flags = cut ? OFFCPU_THREAD_PENDING_SEEDED : 0;
	slot->t.pending_ns = d;
	__sync_fetch_and_add(&pending_blocks, 1);
	if (!next)
		return;
	/* Its user registers have not changed since it blocked: it has been asleep since. */
	uregs = (struct pt_regs *)bpf_task_pt_regs(next);
	slot->t.user_ip = uregs->ip;
	slot->t.user_sp = uregs->sp;
	/* The stack it sleeps on; the walker leaves out scheduler functions (.sched.text). */
	slot->t.kstack_len = bpf_get_task_stack(next, slot->t.kstack, sizeof(slot->t.kstack), 0);
	if (slot->t.kstack_len > 0)
		slot->t.kstack_len /= sizeof(__u64);
	if (!task_work)
		return;
	/* -EBUSY: a callback is already scheduled (the thread has not returned to user space
	 * since an earlier block) and will send this one. */
	err = bpf_task_work_schedule_resume_impl(next, &slot->work, &threads, send_on_resume, NULL);
	if (err && err != -EBUSY)
		count(OFFCPU_CNT_TASK_WORK_ERRORS, 1);
}

static __always_inline int on_switch_btf(void *ctx, bool preempt, struct task_struct *prev,
					 struct task_struct *next, unsigned int prev_state,
					 bool task_work)
{
	__u64 now = 0;

	if (prev->tgid == targ_tgid) {
		now = bpf_ktime_get_ns();
		switch_out(ctx, preempt, prev->pid, prev_state, false, now);
	}
	if (next->tgid == targ_tgid)
		switch_in(next->pid, next, next->se.sum_exec_runtime,
			  now ? now : bpf_ktime_get_ns(), task_work);
	return 0;
}

SEC("tp_btf/sched_switch")
int BPF_PROG(switch_task_work, bool preempt, struct task_struct *prev, struct task_struct *next,
	     unsigned int prev_state)
{
	return on_switch_btf(ctx, preempt, prev, next, prev_state, true);
}

/* Without task work: sent at sys_exit. */
SEC("tp_btf/sched_switch")
int BPF_PROG(switch_btf, bool preempt, struct task_struct *prev, struct task_struct *next,
	     unsigned int prev_state)
{
	return on_switch_btf(ctx, preempt, prev, next, prev_state, false);
}

SEC("raw_tp/sched_switch")
int BPF_PROG(switch_raw, bool preempt, struct task_struct *prev, struct task_struct *next,
	     unsigned int prev_state)
{
	__u64 now = 0;

	if (BPF_CORE_READ(prev, tgid) == targ_tgid) {
		now = bpf_ktime_get_ns();
		switch_out(ctx, preempt, BPF_CORE_READ(prev, pid), prev_state, true, now);
	}
	if (BPF_CORE_READ(next, tgid) == targ_tgid)
		switch_in(BPF_CORE_READ(next, pid), NULL, BPF_CORE_READ(next, se.sum_exec_runtime),
			  now ? now : bpf_ktime_get_ns(), false);
	return 0;
}

/* The return to user space without task work: regs are the thread's user registers. */
SEC("raw_tp/sys_exit")
int BPF_PROG(sys_exit_raw, struct pt_regs *regs, long ret)
{
	__u64 pid_tgid = bpf_get_current_pid_tgid();
	__u32 tid = (__u32)pid_tgid;
	struct thread_slot *slot;

	if (!pending_blocks || (pid_tgid >> 32) != targ_tgid)
		return 0;
	slot = bpf_map_lookup_elem(&threads, &tid);
	if (slot && slot->t.pending_ns)
		send_pending(&slot->t, tid, regs);
	return 0;
}

/* ---- the ends of the recording: task iterators --------------------------------------------- */

/* The kernel's task state: __state since 5.14, state before. */
struct task_struct___pre514 {
	long state;
} __attribute__((preserve_access_index));

static __always_inline __u32 task_state(struct task_struct *task)
{
	if (bpf_core_field_exists(task->__state))
		return BPF_CORE_READ(task, __state);
	return BPF_CORE_READ((struct task_struct___pre514 *)task, state);
}

static __always_inline bool off_cpu(struct task_struct *task)
{
	return !BPF_CORE_READ(task, on_cpu);
}

/* At the start: each target thread off the CPU is off since now, blocked or runnable. */
SEC("iter/task")
int seed_threads(struct bpf_iter__task *ctx)
{
	struct task_struct *task = ctx->task;
	struct thread_slot *slot;
	__u32 tid, state;

	if (!task || task->tgid != targ_tgid || !off_cpu(task))
		return 0;
	tid = task->pid;
	if (bpf_map_update_elem(&threads, &tid, empty_slot, BPF_NOEXIST))
		return 0; /* it switched since: its own record is better */
	slot = bpf_map_lookup_elem(&threads, &tid);
	if (!slot)
		return 0;
	state = task_state(task);
	/* Stopped under ptrace: `asyncprof run` holds a new target at its exec until attached. */
	if (state & OFFCPU_TASK_TRACED) {
		slot->t.flags = OFFCPU_THREAD_HELD;
		return 0;
	}
	state &= OFFCPU_TASK_INTERRUPTIBLE | OFFCPU_TASK_UNINTERRUPTIBLE | OFFCPU_TASK_STOPPED;
	slot->t.state = state ? state : OFFCPU_PREEMPTED;
	slot->t.flags = OFFCPU_THREAD_SEEDED;
	slot->t.off_ns = bpf_ktime_get_ns();
	count_atomic(OFFCPU_CNT_SEEDED, 1);
	return 0;
}

/* Sends a block of task (asleep, so its saved user registers are the ones it blocked with). */
static __always_inline void send_sleeping(struct task_struct *task, __u32 tid, __u64 blocked,
					  __u32 state, __u32 flags)
{
	struct pt_regs *uregs = (struct pt_regs *)bpf_task_pt_regs(task);
	struct offcpu_record *r = reserve_block(tid, blocked, state, flags);
	struct sample_event *s;
	__s32 n;

	if (!r)
		return;
	s = &r->e.s;
	bpf_probe_read_kernel_str(s->comm, sizeof(s->comm), task->comm);
	n = bpf_get_task_stack(task, s->kstack, sizeof(s->kstack), 0);
	s->kstack_len = n > 0 ? n / sizeof(__u64) : n;
	if (uregs) {
		ustack_save_regs(s->regs, uregs);
		s->flags |= SAMPLE_USER_REGS;
		s->ustack_len = ustack_copy_from(s->ustack, s->regs[SREG_SP], task);
	} else {
		count_atomic(OFFCPU_CNT_NO_USER_STACK, 1);
	}
	bpf_ringbuf_submit(r, 0);
}

/*
 * At the end, with the switch hooks detached: each thread still blocked sends the block under
 * way (flagged, up to now; the record keeps it, for the in-progress count), and a pending
 * block not yet sent goes with the user stack it still sleeps on.
 */
SEC("iter.s/task")
int flush_threads(struct bpf_iter__task *ctx)
{
	struct task_struct *task = ctx->task;
	struct thread_slot *slot;
	struct pt_regs *uregs;
	__u64 now, blocked, from;
	bool cut;
	__u32 tid;

	if (!task || task->tgid != targ_tgid || !off_cpu(task))
		return 0;
	tid = task->pid;
	slot = bpf_map_lookup_elem(&threads, &tid);
	if (!slot)
		return 0;
	/* Only while it sleeps with the registers of that block (not in a later one, begun
	 * after the hooks were detached); else it goes with its kernel stack only. */
	uregs = (struct pt_regs *)bpf_task_pt_regs(task);
	if (slot->t.pending_ns && !slot->t.off_ns && uregs &&
	    BPF_CORE_READ(uregs, ip) == slot->t.user_ip &&
	    BPF_CORE_READ(uregs, sp) == slot->t.user_sp) {
		blocked = __sync_lock_test_and_set(&slot->t.pending_ns, 0);
		if (blocked) {
			__sync_fetch_and_sub(&pending_blocks, 1);
			send_sleeping(task, tid, blocked, slot->t.pending_state,
				      slot->t.flags & OFFCPU_THREAD_PENDING_SEEDED ?
					      OFFCPU_EV_FROM_START : 0);
		}
	}
	now = bpf_ktime_get_ns();
	if (!slot->t.off_ns || slot->t.state == OFFCPU_PREEMPTED)
		return 0;
	from = block_from(&slot->t, &cut);
	if (now < from || now - from < min_block_ns)
		return 0;
	send_sleeping(task, tid, now - from, slot->t.state,
		      OFFCPU_EV_IN_PROGRESS | (cut ? OFFCPU_EV_FROM_START : 0));
	return 0;
}
