/* SPDX-License-Identifier: MIT */
#ifndef ASYNCPROF_UNWIND_H
#define ASYNCPROF_UNWIND_H

#include <stddef.h>
#include <stdint.h>
#include <stdbool.h>
#include <sys/types.h>

#include "target/procmaps.h"

/*
 * unwinder: turns a thread's user registers plus a copy of the top of its stack into the call
 * chain, using DWARF CFI (.eh_frame / .debug_frame) through libdwfl, with libdwfl's
 * frame-pointer fallback for code that has no CFI.
 *
 * One unwinder serves one process for its whole life: modules are reported to libdwfl once
 * and their parsed CFI is kept, so an unwind costs a CFI lookup per frame, not an ELF parse.
 * Modules are reported from the process's mappings (unwinder_add_maps) while the files can
 * still be opened, so samples that arrive after the target exited still unwind.
 */
struct unwinder;

struct unwind_input {
	pid_t tid;
	const uint64_t *regs; /* SREG_COUNT registers in DWARF order (bpf/sampler.h) */
	const uint8_t *stack; /* copy of user memory starting at regs[SREG_SP] */
	size_t stack_len;
};

struct unwind_result {
	size_t npcs;
	bool truncated; /* stopped because the stack copy ended, not at the outermost frame */
	bool error;	/* stopped because CFI was missing or inconsistent */
};

int unwinder_new(pid_t pid, struct unwinder **out);
void unwinder_free(struct unwinder *uw); /* accepts NULL */

/* Reports every executable file-backed mapping (and the vdso) not reported yet.
 * Returns the number of modules added, or -errno. */
int unwinder_add_maps(struct unwinder *uw, const struct proc_maps *maps);

/* Drops every reported module, e.g. after code was unmapped; unwinder_add_maps() refills. */
int unwinder_reset(struct unwinder *uw);

/*
 * Unwinds into pcs[] (at most max entries), leaf first. pcs[0] is the sampled instruction
 * pointer; the others are return addresses minus one, so that they point into the call
 * instruction (the right line and, for a call at the end of a function, the right symbol).
 */
int unwind_stack(struct unwinder *uw, const struct unwind_input *in, uint64_t *pcs, size_t max,
		 struct unwind_result *res);

#endif
