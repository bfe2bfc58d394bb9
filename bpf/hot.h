/* SPDX-License-Identifier: MIT */
#ifndef ASYNCPROF_HOT_H
#define ASYNCPROF_HOT_H

/*
 * The hot probes (a runtime's probes that fire per poll, per wake, per park: the ones
 * tracer/capture/budget.c turns off and on) carry this bit in their BPF cookie when the
 * instruction they replace is single-stepped out of line rather than emulated by the kernel: such
 * a hit costs several times more, and the budget counts the two kinds apart. Plain data shared by
 * the probes and user space.
 */
#define HOT_COOKIE_STEPPED (1ULL << 63)

#endif
