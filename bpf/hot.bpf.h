/* SPDX-License-Identifier: GPL-2.0 */
#ifndef ASYNCPROF_HOT_BPF_H
#define ASYNCPROF_HOT_BPF_H

#include "hot.h"

/* Which of a runtime's two hot-hit counters (emulated, single-stepped) a hit of this probe goes
 * to, from its cookie (bpf/hot.h). The hot probes count every hit first, before any filter: the
 * trap is paid anyway, and the budget (tracer/capture/budget.c) weighs it. */
static __always_inline __u32 hot_counter(void *ctx, __u32 plain, __u32 stepped)
{
	return bpf_get_attach_cookie(ctx) & HOT_COOKIE_STEPPED ? stepped : plain;
}

#endif
