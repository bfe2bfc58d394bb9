/* SPDX-License-Identifier: MIT */
#ifndef ASYNCPROF_GO_PROBES_H
#define ASYNCPROF_GO_PROBES_H

/*
 * Plain data shared by go.bpf.c and the Go adaptor. Goroutine events are task events
 * (bpf/task.h) keyed by goid; the runtime's own events (GC, allocation) use the kinds below.
 * Every stack a Go probe sends is a frame-pointer walk made by the kernel (TASK_EV_PCS):
 * Go keeps frame pointers, and the walk crosses from the scheduler stack into the goroutine's.
 */
#include "task.h"

enum go_event_kind {
	GO_EV_GC_START = TASK_RUNTIME_KINDS, /* gcBgMarkStartWorkers: a cycle's mark begins */
	GO_EV_GC_MARK_TERM,    /* gcMarkTermination entered (the world is stopped) */
	GO_EV_GC_END,	       /* gcMarkTermination returned: the cycle is over */
	GO_EV_ALLOC,	       /* an allocation sample; value: the span class or the size */
};

/* task_event.flags of GO_EV_ALLOC */
#define GO_ALLOC_LARGE 0x100 /* value is a large allocation's size in bytes */

/* task_event.flags of TASK_AWAIT (a gopark) */
#define GO_PARK_LOCK 0x200 /* object is the lock gopark was given (&hchan.lock for channels) */

#define GO_PROBE_STACK_MAX 64 /* frames of a probe's stack */

/* Per-channel operation counters (full mode), keyed by the hchan address. */
struct go_chan_ops {
	__u64 sends, recvs;
};

/* Indexes of the per-CPU counters in the "go_counters" map. */
enum go_counter {
	GO_CNT_NO_GOID,	     /* events whose goroutine id could not be read */
	GO_CNT_HOT,	     /* hits of the hot probes (park, ready, execute, allocation, channel
			      * operations): emulated */
	GO_CNT_HOT_STEPPED,  /* and single-stepped (bpf/hot.h) */
	GO_CNT_MAX
};

#endif
