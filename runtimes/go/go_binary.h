/* SPDX-License-Identifier: MIT */
#ifndef ASYNCPROF_GO_BINARY_H
#define ASYNCPROF_GO_BINARY_H

#include <stddef.h>
#include <stdint.h>
#include <stdbool.h>

/*
 * go_binary: what the Go adaptor needs to know about one Go executable, found by static
 * analysis (facts: ../shared/docs/research/go-hooks.md §2-3).
 *
 * Addresses are link-time virtual addresses (add the load bias for a PIE). Offsets are byte
 * offsets inside the runtime structures. Strings are owned by the go_binary.
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

struct go_binary {
	char version[32];     /* "go1.19.8", from .go.buildinfo; "" when not found */
	int major, minor;     /* 1, 19 */
	bool offsets_from_dwarf; /* false: from the built-in per-version table */
	struct go_g_offsets g;
	/* Data symbols (.symtab); 0 when absent (stripped). */
	uint64_t allgs;		     /* runtime.allgs: a []*g (ptr, len, cap) */
	uint64_t allglen;	     /* runtime.allglen: uintptr */
	uint64_t wait_reason_strings; /* runtime.waitReasonStrings: [N]string */
	uint64_t wait_reason_count;   /* N */
	bool has_symbols;	      /* .symtab present */
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

#endif
