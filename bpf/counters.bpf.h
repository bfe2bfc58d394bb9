/* SPDX-License-Identifier: GPL-2.0 */
#ifndef ASYNCPROF_COUNTERS_BPF_H
#define ASYNCPROF_COUNTERS_BPF_H

/*
 * A BPF object's own counters: the map "counters", n __u64 per CPU, that user space sums with
 * percpu_counter_sum(). count() is for programs nothing on their CPU interrupts (perf events,
 * uprobes, tracepoints); count_atomic() for those that can be preempted mid-update (sleepable
 * programs, task work callbacks).
 */
#define PERCPU_COUNTERS(n)                                                                         \
	struct {                                                                                   \
		__uint(type, BPF_MAP_TYPE_PERCPU_ARRAY);                                           \
		__uint(max_entries, n);                                                            \
		__type(key, __u32);                                                                \
		__type(value, __u64);                                                              \
	} counters SEC(".maps");                                                                   \
                                                                                                   \
	static __attribute__((unused)) __always_inline void count(__u32 which, __u64 by)           \
	{                                                                                          \
		__u64 *c = bpf_map_lookup_elem(&counters, &which);                                 \
                                                                                                   \
		if (c)                                                                             \
			*c += by;                                                                  \
	}                                                                                          \
                                                                                                   \
	static __attribute__((unused)) __always_inline void                                        \
	count_atomic(__u32 which, __u64 by)                                                        \
	{                                                                                          \
		__u64 *c = bpf_map_lookup_elem(&counters, &which);                                 \
                                                                                                   \
		if (c)                                                                             \
			__sync_fetch_and_add(c, by);                                               \
	}

#endif
