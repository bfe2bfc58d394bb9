// SPDX-License-Identifier: MIT
/*
 * The unwinder on captured stack snapshots: inside a known chain of functions compiled without
 * frame pointers, capture the registers (getcontext) and a copy of the stack, as the BPF
 * sampler does, then unwind the copy and check the chain, as the profiler would.
 */
#include <criterion/criterion.h>
#include <stdio.h>
#include <string.h>
#include <ucontext.h>
#include <unistd.h>

#include "symbols/unwind.h"
#include "symbols/symbolizer.h"
#include "bpf/sampler.h"

struct snapshot {
	uint64_t regs[SREG_COUNT];
	uint8_t stack[SAMPLER_USTACK_BYTES];
	size_t len;
};

static struct snapshot snap;

/*
 * The stack as it is in memory, as the BPF program copies it. Not instrumented: the sanitizer's
 * own redzones between this program's locals are poisoned, and a read of them is what is meant.
 */
__attribute__((no_sanitize_address)) static void copy_raw_stack(uint8_t *dst, uint64_t sp,
								size_t len)
{
	const volatile uint8_t *src = (const volatile uint8_t *)sp;

	for (size_t i = 0; i < len; i++)
		dst[i] = src[i];
}

/* Copies the stack from SP up to len bytes (never past the stack mapping's end). */
__attribute__((noinline, optimize("omit-frame-pointer"))) static void capture(size_t limit)
{
	ucontext_t uc;
	struct proc_maps *maps;
	const struct proc_mapping *m;
	uint64_t sp;

	getcontext(&uc);
	snap.regs[SREG_AX] = uc.uc_mcontext.gregs[REG_RAX];
	snap.regs[SREG_DX] = uc.uc_mcontext.gregs[REG_RDX];
	snap.regs[SREG_CX] = uc.uc_mcontext.gregs[REG_RCX];
	snap.regs[SREG_BX] = uc.uc_mcontext.gregs[REG_RBX];
	snap.regs[SREG_SI] = uc.uc_mcontext.gregs[REG_RSI];
	snap.regs[SREG_DI] = uc.uc_mcontext.gregs[REG_RDI];
	snap.regs[SREG_BP] = uc.uc_mcontext.gregs[REG_RBP];
	snap.regs[SREG_SP] = uc.uc_mcontext.gregs[REG_RSP];
	snap.regs[SREG_R8] = uc.uc_mcontext.gregs[REG_R8];
	snap.regs[SREG_R9] = uc.uc_mcontext.gregs[REG_R9];
	snap.regs[SREG_R10] = uc.uc_mcontext.gregs[REG_R10];
	snap.regs[SREG_R11] = uc.uc_mcontext.gregs[REG_R11];
	snap.regs[SREG_R12] = uc.uc_mcontext.gregs[REG_R12];
	snap.regs[SREG_R13] = uc.uc_mcontext.gregs[REG_R13];
	snap.regs[SREG_R14] = uc.uc_mcontext.gregs[REG_R14];
	snap.regs[SREG_R15] = uc.uc_mcontext.gregs[REG_R15];
	snap.regs[SREG_IP] = uc.uc_mcontext.gregs[REG_RIP];
	sp = snap.regs[SREG_SP];

	cr_assert_eq(procmaps_read(getpid(), &maps), 0);
	m = procmaps_find(maps, sp);
	cr_assert_not_null(m, "SP is in no mapping");
	snap.len = m->end - sp < limit ? m->end - sp : limit;
	procmaps_free(maps);
	/* Everything at and above SP belongs to live frames of this chain and its callers, so it
	 * is stable while capture() runs. */
	copy_raw_stack(snap.stack, sp, snap.len);
}

static volatile int depth_sink;

__attribute__((noinline, optimize("omit-frame-pointer"))) static void chain_c(size_t limit)
{
	capture(limit);
	depth_sink++;
}

__attribute__((noinline, optimize("omit-frame-pointer"))) static void chain_b(size_t limit)
{
	chain_c(limit);
	depth_sink++;
}

__attribute__((noinline, optimize("omit-frame-pointer"))) static void chain_a(size_t limit)
{
	chain_b(limit);
	depth_sink++;
}

/* 40 frames of about 1 KiB each: deeper than the sampler's stack copy. */
__attribute__((noinline, optimize("omit-frame-pointer"))) static void deep(int n)
{
	volatile char pad[1000];

	pad[0] = (char)n;
	if (n == 0)
		capture(SAMPLER_USTACK_BYTES);
	else
		deep(n - 1);
	depth_sink += pad[0];
}

struct resolved {
	char names[64][128]; /* copies: a failed assertion ends the test before anything is freed */
	size_t n;
};

static void unwind_snapshot(struct unwind_result *res, struct resolved *out)
{
	struct symbolizer *sym = symbolizer_new();
	struct unwinder *uw = NULL;
	struct proc_maps *maps = NULL;
	uint64_t pcs[64];
	struct unwind_input in = {
		.tid = gettid(),
		.regs = snap.regs,
		.stack = snap.stack,
		.stack_len = snap.len,
	};

	cr_assert_not_null(sym);
	cr_assert_eq(procmaps_read(getpid(), &maps), 0);
	cr_assert_eq(unwinder_new(getpid(), &uw), 0);
	cr_assert_gt(unwinder_add_maps(uw, maps), 0, "no module reported");
	cr_assert_eq(unwind_stack(uw, &in, pcs, 64, res), 0);
	out->n = 0;
	for (size_t i = 0; i < res->npcs; i++) {
		const struct proc_mapping *m = procmaps_find(maps, pcs[i]);
		struct elf_object *obj = m ? symbolizer_object(sym, getpid(), m) : NULL;
		struct sym_frame f[SYM_MAX_INLINE];
		int n = obj ? elf_object_symbolize(obj, elf_object_vaddr(obj, m, pcs[i]), f,
						   SYM_MAX_INLINE)
			    : 0;

		/* The outermost frame of an inline chain is the function really called. */
		snprintf(out->names[out->n++], sizeof(out->names[0]), "%s",
			 n > 0 && f[n - 1].function ? f[n - 1].function : "?");
	}
	unwinder_free(uw);
	procmaps_free(maps);
	symbolizer_free(sym);
}

static bool name_is(const char *name, const char *want)
{
	return strcmp(name, want) == 0;
}

Test(unwind, chain_without_frame_pointers)
{
	struct unwind_result res;
	struct resolved r;
	size_t i;

	chain_a(SAMPLER_USTACK_BYTES);
	unwind_snapshot(&res, &r);
	cr_assert_geq(r.n, 5, "only %zu frames", r.n);
	/* Frame 0 is inside capture(), after its call to getcontext. */
	cr_assert(name_is(r.names[0], "capture"), "frame 0 is %s", r.names[0]);
	cr_assert(name_is(r.names[1], "chain_c"), "frame 1 is %s", r.names[1]);
	cr_assert(name_is(r.names[2], "chain_b"), "frame 2 is %s", r.names[2]);
	cr_assert(name_is(r.names[3], "chain_a"), "frame 3 is %s", r.names[3]);
	/* The chain continues into criterion's runner and ends at the thread or process start. */
	for (i = 4; i < r.n; i++)
		if (name_is(r.names[i], "main") || name_is(r.names[i], "start_thread") ||
		    name_is(r.names[i], "_start") || name_is(r.names[i], "__libc_start_call_main"))
			break;
	cr_assert_lt(i, r.n, "the unwind did not reach main or a thread start (%zu frames, "
			     "last %s)", r.n, r.names[r.n - 1]);
	cr_assert_not(res.truncated);
}

Test(unwind, short_copy_stops_early)
{
	struct unwind_result res;
	struct resolved r;

	/* 64 bytes hold capture()'s frame at most: the unwinder must stop, not invent frames. */
	chain_a(64);
	unwind_snapshot(&res, &r);
	cr_assert_leq(r.n, 3, "%zu frames from a 64-byte copy", r.n);
	cr_assert(name_is(r.names[0], "capture"));
}

Test(unwind, deep_stack_is_reported_truncated)
{
	struct unwind_result res;
	struct resolved r;
	size_t deep_frames = 0;

	deep(40);
	cr_assert_eq(snap.len, SAMPLER_USTACK_BYTES);
	unwind_snapshot(&res, &r);
	for (size_t i = 1; i < r.n; i++)
		deep_frames += name_is(r.names[i], "deep");
	/* 16 KiB of ~1 KiB frames: about 15 of the 41 deep() frames fit in the copy. */
	cr_assert_geq(deep_frames, 12, "%zu deep frames", deep_frames);
	cr_assert_lt(deep_frames, 41);
	cr_assert(res.truncated, "a stack cut by the copy size must be reported truncated");
}
