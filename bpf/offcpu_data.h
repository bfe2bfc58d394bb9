/* SPDX-License-Identifier: MIT */
#ifndef ASYNCPROF_OFFCPU_DATA_H
#define ASYNCPROF_OFFCPU_DATA_H

/*
 * Plain data shared by offcpu.bpf.c and tracer/capture/offcpu.c: one record per block of a target
 * thread that lasted at least the threshold, the per-thread record the kernel side keeps, and
 * the counters that account for every other block.
 */

#include "sampler.h"

/* The kernel's task state bits (include/linux/sched.h), as sched_switch sees prev's state. */
#define OFFCPU_TASK_INTERRUPTIBLE 0x1
#define OFFCPU_TASK_UNINTERRUPTIBLE 0x2
#define OFFCPU_TASK_STOPPED 0x4
#define OFFCPU_TASK_TRACED 0x8
#define OFFCPU_TASK_DEAD 0x80
/* offcpu_thread.state of a thread that left the CPU runnable (preempted), not blocked */
#define OFFCPU_PREEMPTED 0

/* offcpu_event.flags */
#define OFFCPU_EV_IN_PROGRESS 0x1 /* still blocked at the end: blocked_ns runs to the end */
#define OFFCPU_EV_FROM_START 0x2  /* blocked already at the start: blocked_ns runs from it */

struct offcpu_event {
	__u64 blocked_ns; /* from the switch-out to the switch-in (or the end) */
	__u32 state;	  /* the thread's OFFCPU_TASK_* bits when it blocked */
	__u32 flags;	  /* OFFCPU_EV_* */
	/* The thread, its kernel stack where it blocked and, when s.flags has SAMPLE_USER_REGS,
	 * its user registers and stack as they were when it blocked. Only the first
	 * OFFCPU_EVENT_HEADER + SAMPLE_HEADER_SIZE + s.ustack_len bytes are meaningful. */
	struct sample_event s;
};

#define OFFCPU_EVENT_HEADER ((unsigned long)&((struct offcpu_event *)0)->s)

/*
 * What the kernel side keeps per target thread (the map value starts with it). A block that
 * lasted at least the threshold is "pending" from the switch-in until the thread, back in its
 * own context, sends it with its user stack.
 */
struct offcpu_thread {
	__u64 off_ns;	     /* when it left the CPU; 0 while it runs */
	__u64 user_ip;	     /* its user registers in the last block: the pending block's user */
	__u64 user_sp;	     /* stack is read only while they are still the thread's */
	__u32 state;	     /* OFFCPU_TASK_* bits when it left the CPU, or OFFCPU_PREEMPTED */
	__u32 pending_state; /* state of the pending block */
	__u64 pending_ns;    /* duration of the pending block; 0 when none */
	__s32 kstack_len;    /* entries in kstack, or -errno */
	__u32 flags;	     /* OFFCPU_THREAD_*: how the current and the pending block began */
	__u64 kstack[SAMPLER_KSTACK_MAX]; /* where the last block happened */
};

#define OFFCPU_THREAD_SEEDED 0x1	 /* the current block was under way at the start */
#define OFFCPU_THREAD_PENDING_SEEDED 0x2 /* so was the pending one */
#define OFFCPU_THREAD_HELD 0x4		 /* found stopped under ptrace: asyncprof run holding it */

/* Indexes of the per-CPU counters in the "counters" map. */
enum offcpu_counter {
	OFFCPU_CNT_LONG,	     /* blocks that ended, at least the threshold long: events */
	OFFCPU_CNT_LONG_NS,	     /* their nanoseconds */
	OFFCPU_CNT_SHORT,	     /* blocks that ended, shorter: counted, no event */
	OFFCPU_CNT_SHORT_NS,	     /* their nanoseconds */
	OFFCPU_CNT_RUNNABLE,	     /* intervals off the CPU while runnable (preempted, yielded) */
	OFFCPU_CNT_RUNNABLE_NS,	     /* their nanoseconds */
	OFFCPU_CNT_BEFORE_START,     /* switch-ins of threads whose switch-out was not seen */
	OFFCPU_CNT_MISSED_END,	     /* switch-outs of threads whose last switch-in was not seen */
	OFFCPU_CNT_NO_USER_STACK,    /* events sent with the kernel stack only */
	OFFCPU_CNT_DROPS,	     /* events lost: ring buffer full */
	OFFCPU_CNT_THREADS_FULL,     /* blocks not tracked: the thread map was full */
	OFFCPU_CNT_TASK_WORK_ERRORS, /* task work not scheduled: sent at the next switch-out */
	OFFCPU_CNT_SEEDED,	     /* threads found off the CPU at the start (a block from then) */
	OFFCPU_CNT_MAX
};

#endif
