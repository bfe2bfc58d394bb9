/* SPDX-License-Identifier: MIT */
#ifndef ASYNCPROF_GO_BINARY_H
#define ASYNCPROF_GO_BINARY_H

#include <stddef.h>
#include <stdint.h>
#include <stdbool.h>

/*
 * go_binary: what the Go adaptor needs to know about one Go executable, found by static
 * analysis (facts: docs/runtimes.md).
 *
 * Addresses are link-time virtual addresses (add the load bias for a PIE). Offsets are byte
 * offsets inside the runtime structures. Strings are owned by the go_binary, which keeps the
 * file open until go_binary_free() for the hook lookups.
 */

/* Byte offsets of the runtime.g fields the profiler reads. */
struct go_g_offsets {
	uint32_t atomicstatus;
	uint32_t goid;
	uint32_t waitsince;
	uint32_t waitreason; /* a uint8 */
	uint32_t gopc;
	uint32_t startpc;
	uint32_t parent_goid; /* g.parentGoid (Go 1.21+); 0 when the version has none */
	uint32_t sched_sp;   /* g.sched + gobuf.sp */
	uint32_t sched_pc;   /* g.sched + gobuf.pc */
	uint32_t sched_bp;   /* g.sched + gobuf.bp */
	uint32_t size;	     /* sizeof(runtime.g) */
};

struct go_image;

struct go_binary {
	char version[32];     /* "go1.19.8", from .go.buildinfo; "" when not found */
	int major, minor;     /* 1, 19 */
	bool offsets_from_dwarf; /* false: from the built-in per-version table */
	struct go_g_offsets g;
	/*
	 * Data symbols, from .symtab or, in a stripped binary, from the code that uses them
	 * (runtime.allgadd, runtime.waitReason.String); 0 when not found.
	 */
	uint64_t allgs;		     /* runtime.allgs: a []*g (ptr, len, cap) */
	uint64_t allglen;	     /* runtime.allglen: uintptr */
	uint64_t wait_reason_strings; /* runtime.waitReasonStrings: [N]string */
	uint64_t wait_reason_count;   /* N */
	uint64_t class_to_size;	      /* runtime.class_to_size: [size_classes]uint16 */
	uint64_t class_to_allocnpages; /* runtime.class_to_allocnpages: [size_classes]uint8 */
	uint64_t size_classes;
	bool has_symbols;	      /* .symtab present */
	struct go_image *image;	      /* the open file, private to go_binary.c */
};

/*
 * Analyzes the ELF file at path. Returns 0, -ENOENT when it is not a Go program (no
 * .go.buildinfo and no runtime.g), -ENOTSUP for a Go version without known offsets and no DWARF,
 * -ENOEXEC when not ELF, or another -errno.
 */
int go_binary_analyze(const char *path, struct go_binary **out);
void go_binary_free(struct go_binary *gb); /* accepts NULL */

/*
 * Name of a wait reason for this Go version from the built-in table (used when the process's
 * runtime.waitReasonStrings cannot be read); NULL when unknown.
 */
const char *go_wait_reason_name(const struct go_binary *gb, unsigned int reason);

#define GO_MAX_RETS 32

/* A runtime function the adaptor hooks, located by name in .gopclntab. */
struct go_func {
	uint64_t entry; /* link-time address, from .gopclntab; 0 when absent */
	uint64_t size;
	uint64_t symtab_entry, symtab_size; /* what .symtab says; 0 when it has no such entry */
	/*
	 * Where an entry uprobe goes: the instruction right after the stack-bound check's
	 * conditional branch (Go 1.21+: PUSH BP, which the kernel emulates instead of
	 * single-stepping, and which makes bpf_get_stack include the caller; Go <= 1.20: the
	 * SUB SP before the frame is set up), or entry for a function without a stack check
	 * (nosplit). Never +0 when there is a check: morestack re-enters at +0, so a probe there
	 * fires twice.
	 */
	uint64_t probe;
	bool probe_at_push_bp; /* the probe instruction is PUSH RBP (0x55) */
	/* false when the caller's return address is still at [rsp] at probe (no frame yet) */
	bool frame_before_probe;
	/* RET instructions, decoded with capstone (never byte-scanned) */
	uint64_t rets[GO_MAX_RETS];
	size_t nrets;
	bool rets_partial; /* more RETs than GO_MAX_RETS, or decoding stopped early */
	/*
	 * DW_TAG_inlined_subroutine instances of it elsewhere (DWARF), or from the pclntab inline
	 * tree; -1 when unknown (no DWARF, no inline tree).
	 */
	int inlined_copies;
};

/*
 * Fills out for the function called name; -ENOENT when absent. A function fully inlined
 * everywhere (runtime.goparkunlock) has no out-of-line copy, hence is absent. -EXDEV when
 * .symtab and .gopclntab disagree on where it is or how long (or only one has it), -ENODATA
 * when there is a .symtab but no readable .gopclntab to check it against: such a function must
 * not be probed. Not for concurrent use on one go_binary: it decodes with the binary's one
 * disassembler.
 */
int go_binary_func(const struct go_binary *gb, const char *name, struct go_func *out);

/* A direct call: the CALL instruction's address and its target (link-time addresses). */
struct go_call {
	uint64_t site, target;
};

/*
 * The direct calls, in address order, of the function that starts at link-time address entry
 * (at most max); how many, or -ENOENT when no function starts there. Same one disassembler as
 * go_binary_func.
 */
int go_binary_calls(const struct go_binary *gb, uint64_t entry, struct go_call *calls,
		    size_t max);

/* The Go code of the binary by .gopclntab, [*lo, *hi), link-time addresses; -ENOENT when it
 * has no .gopclntab. */
int go_binary_code_range(const struct go_binary *gb, uint64_t *lo, uint64_t *hi);

/*
 * Where the function called name is by .gopclntab alone: [*start, *end), link-time addresses
 * (runtime.goexit, which .symtab calls runtime.goexit.abi0). Not for a probe: go_binary_func
 * checks .symtab too. Returns 0, or -ENOENT.
 */
int go_binary_code_of(const struct go_binary *gb, const char *name, uint64_t *start,
		      uint64_t *end);

/*
 * The function holding link-time address addr by .gopclntab: [*start, *end). Returns 0, or
 * -ENOENT when none does (for probe_site's checks: see probe_site.h).
 */
int go_binary_function_at(const struct go_binary *gb, uint64_t addr, uint64_t *start,
			  uint64_t *end);

#endif
