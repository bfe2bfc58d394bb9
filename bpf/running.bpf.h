/* SPDX-License-Identifier: GPL-2.0 */
#ifndef ASYNCPROF_RUNNING_BPF_H
#define ASYNCPROF_RUNNING_BPF_H

/*
 * What each thread of the target is running, as a runtime's probes see it: the stack of tasks
 * it runs (thread_polls: runs nest) and the logical frames of each task, or of a thread outside
 * any task. The CPU sampler owns these maps; a runtime's probes share them
 * (bpf_map__reuse_fd), so one definition serves both sides.
 */
#include "sampler.h"
#include "task.h"

struct {
	__uint(type, BPF_MAP_TYPE_HASH);
	__uint(max_entries, 4096);
	__type(key, __u32);
	__type(value, struct thread_polls);
} threads SEC(".maps");

struct {
	__uint(type, BPF_MAP_TYPE_HASH);
	__uint(max_entries, 16384);
	__uint(map_flags, BPF_F_NO_PREALLOC); /* only tasks and threads inside a frame have one */
	__type(key, struct logical_key);
	__type(value, struct logical_stack);
} frames SEC(".maps");

/* The task on top of the thread's run stack; 0 when none, or when runs nest deeper than kept. */
static __always_inline __u64 running_task(struct thread_polls *tp)
{
	if (!tp || tp->depth == 0 || tp->depth > TASK_POLL_DEPTH)
		return 0;
	return tp->task[(tp->depth - 1) & (TASK_POLL_DEPTH - 1)];
}

/* Whose logical frames a thread is in: its running task's, else its own. */
static __always_inline void logical_key_of(struct logical_key *key, __u32 tid, __u64 task)
{
	key->task = task;
	key->tid = task ? 0 : tid;
	key->pad = 0;
}

#endif
