/* SPDX-License-Identifier: MIT */
#ifndef ASYNCPROF_TASK_H
#define ASYNCPROF_TASK_H

/*
 * The task model every runtime adaptor maps onto (see the design): plain data shared by the
 * runtime probes and user space. An event is one task state change; some carry the thread's
 * runtime thread-local block (who is running: the parent of a spawn, the waker of a wake) and
 * the user stack (the spawn site, the await point), which user space unwinds.
 */

#include "sampler.h"

enum task_event_kind {
	TASK_CREATE = 1, /* task spawned; tls: the spawning thread; stack: the spawn site */
	TASK_RUNNABLE,	 /* task woken while idle; tls: the waking thread */
	TASK_RUN,	 /* a thread starts polling the task; value: ns runnable before it */
	TASK_STOP,	 /* the poll ended; value: poll duration in ns */
	TASK_AWAIT,	 /* the task registered its waker; stack: the await point */
	TASK_EXIT,	 /* the task completed or was cancelled */
	TASK_WAKER_CLONE, /* a waker was cloned (calibration of the thread-local; tls set) */
};

/* A runtime's own event kinds (Go's GC and allocation events) start at TASK_RUNTIME_KINDS; every
 * kind is below TASK_KINDS, the size of the probes' per-kind count of lost events. */
#define TASK_RUNTIME_KINDS 32
#define TASK_KINDS 64

/* task_event.flags */
#define TASK_EV_STACK 0x1	 /* regs and ustack are valid */
#define TASK_EV_TLS 0x2		 /* tls is valid */
#define TASK_EV_LATENCY 0x4	 /* value holds a scheduling latency */
#define TASK_EV_WAS_NOTIFIED 0x8 /* STOP: the task was woken during its poll (runnable again) */
#define TASK_EV_LABEL 0x10	 /* label is valid */
#define TASK_EV_FRAMES 0x20	 /* frames is valid */
#define TASK_EV_WAIT_OBJECT 0x40 /* AWAIT: object is what the task waits on */

#define TASK_LABEL_LEN 64
/* ustack holds ustack_len / 8 program counters made by a frame-pointer walk, not stack bytes:
 * the probed instruction, then return addresses, innermost first (regs are not sent) */
#define TASK_EV_PCS 0x80

/*
 * A thread's clocks at an instant, as the scheduler keeps them: CLOCK_MONOTONIC, the thread's
 * time on a CPU (on the same scale: only differences mean something) and its time runnable but
 * waiting for a CPU (run_delay; 0 when the kernel does not count it).
 */
struct thread_clock {
	__u64 wall_ns, cpu_ns, delay_ns;
};

/*
 * What a poll (a run of a task) took, the difference of its thread's clocks at its end and its
 * start: wall time, time on a CPU, and time preempted (runnable, waiting for a CPU: other
 * threads had it, which is not the task's doing). A poll's own time is its wall time less the
 * time preempted: its CPU work and the blocking calls it made (a sleep, synchronous I/O), what
 * it held its worker thread for. The longest poll is the one with the most own time.
 */
struct poll_time {
	__u64 wall_ns, cpu_ns, preempted_ns;
};

struct poll_stats {
	struct poll_time total;	  /* of every poll */
	struct poll_time longest; /* the poll with the most own time */
};

static inline __u64 poll_own_ns(const struct poll_time *p)
{
	return p->wall_ns > p->preempted_ns ? p->wall_ns - p->preempted_ns : 0;
}

static inline void poll_time_between(struct poll_time *p, const struct thread_clock *start,
				     const struct thread_clock *end)
{
	p->wall_ns = end->wall_ns - start->wall_ns;
	p->cpu_ns = end->cpu_ns - start->cpu_ns;
	p->preempted_ns = end->delay_ns - start->delay_ns;
}

static inline void poll_stats_add(struct poll_stats *s, const struct poll_time *p)
{
	s->total.wall_ns += p->wall_ns;
	s->total.cpu_ns += p->cpu_ns;
	s->total.preempted_ns += p->preempted_ns;
	if (poll_own_ns(p) > poll_own_ns(&s->longest))
		s->longest = *p;
}

struct task_event {
	__u32 kind;
	__u32 pid;
	__u32 tid;
	__u32 flags;
	__u64 time_ns; /* CLOCK_MONOTONIC */
	__u64 task;    /* runtime task id; 0 when it could not be read */
	__u64 value;
	/* The thread's CPU time and run delay at the event (thread_clock); for a STOP, the
	 * poll's time on a CPU and time preempted (value is its wall time). */
	__u64 cpu_ns;
	__u64 delay_ns;
	__u64 object;  /* runtime object: Tokio task header address; what a task waits on */
	__u64 type;    /* runtime type: Tokio task vtable address (RUN, EXIT events), else 0 */
	__u32 tls_len;
	__u32 ustack_len;
	__u64 regs[SREG_COUNT];
	__u8 tls[SAMPLER_TLS_BYTES];
	/* What a runtime says in words (USDT markers): CREATE: the task's name; AWAIT: why it
	 * waits. */
	char label[TASK_LABEL_LEN];
	struct logical_stack frames; /* AWAIT: the task's logical frames */
	__u8 ustack[SAMPLER_USTACK_BYTES];
};

/* Bytes sent for an event: up to regs without anything else, up to label with tls only, up to
 * ustack with a label, frames or a stack, plus the stack bytes with a stack. */
#define TASK_EVENT_SMALL ((unsigned long)&((struct task_event *)0)->regs)
#define TASK_EVENT_WITH_TLS ((unsigned long)&((struct task_event *)0)->label)
#define TASK_EVENT_WITH_STACK ((unsigned long)&((struct task_event *)0)->ustack)

static inline unsigned long task_event_size(const struct task_event *e)
{
	unsigned long size = TASK_EVENT_SMALL;

	if (e->flags & (TASK_EV_LABEL | TASK_EV_FRAMES | TASK_EV_STACK | TASK_EV_PCS))
		size = TASK_EVENT_WITH_STACK;
	else if (e->flags & TASK_EV_TLS)
		size = TASK_EVENT_WITH_TLS;
	if (e->flags & (TASK_EV_STACK | TASK_EV_PCS))
		size += e->ustack_len;
	if (size > sizeof(*e))
		size = sizeof(*e);
	return size;
}

/* Kernel-side record of a task: what per-event probes accumulate. */
struct task_info {
	__u64 runnable_since; /* 0 when not runnable */
	__u64 polls;
	struct poll_stats poll; /* with poll-exit hooks */
};

#define TASK_POLL_DEPTH 4 /* nested polls per thread: worker launch task > task > LocalSet task */

struct thread_polls {
	__u32 depth;
	__u32 pad;
	__u64 task[TASK_POLL_DEPTH];
	__u64 header[TASK_POLL_DEPTH];
	struct thread_clock start[TASK_POLL_DEPTH];
};

#endif
