// SPDX-License-Identifier: MIT
/*
 * go_binary_func() against the leaky example built with Go 1.19 and Go 1.23
 * (build/examples/go). What it answers is checked against objdump's disassembly of the same
 * bytes, never against the code under test: the entry is nm's, every RET objdump sees in the
 * function must be in rets and nothing else, and the probe must sit right after the stack
 * check's JBE, on the PUSH RBP (1.23) or the SUB $n, SP (1.19) that starts the frame.
 *
 * The stripped builds (`-ldflags=-s -w`: no .symtab, no DWARF) have the same code at the same
 * addresses, and must give the same answers from their pclntab.
 */
#include <criterion/criterion.h>

#include <errno.h>
#include <fcntl.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "runtimes/go/go_binary.h"
#include "go_examples.h"
#include "mutated_copy.h"
#include "objdump.h"
#include "capture/probe_site.h"

/* The hooks the Go adaptor uses (docs/runtimes.md); exit is goexit0 up to 1.21, gdestroy after. */
static const char *const HOOKS[] = {
    "runtime.gopark",
    "runtime.newproc1",
    "runtime.ready",
    "runtime.execute",
    "runtime.gcBgMarkStartWorkers",
    "runtime.gcMarkTermination",
    "runtime.profilealloc",
    "runtime.(*mcache).refill",
    "runtime.casgstatus",
    "runtime.chansend",
    "runtime.chanrecv",
};

#define NHOOKS (sizeof(HOOKS) / sizeof(HOOKS[0]))

/* casgstatus is go:nosplit: no stack check, the probe is the entry. */
static bool has_stack_check(const char *name)
{
	return strcmp(name, "runtime.casgstatus") != 0;
}

/* Address and size of a function as nm sees them. */
static void nm_func(const char *bin, const char *name, uint64_t *addr, uint64_t *size)
{
	FILE *p = run("nm -S %s", bin);
	char line[512];

	*addr = *size = 0;
	while (fgets(line, sizeof(line), p)) {
		unsigned long long a, s;
		char type, sym[256];

		if (sscanf(line, "%llx %llx %c %255s", &a, &s, &type, sym) == 4 &&
		    !strcmp(sym, name)) {
			*addr = a;
			*size = s;
		}
	}
	pclose(p);
	cr_assert_neq(*addr, 0, "nm does not list %s in %s", name, bin);
}

static bool starts_with(const char *s, const char *prefix)
{
	return strncmp(s, prefix, strlen(prefix)) == 0;
}

/* The byte a uprobe at vaddr would replace. */
static uint8_t file_byte(const char *bin, uint64_t vaddr)
{
	struct probe_image *img;
	int64_t off;
	uint8_t b = 0;
	int fd;

	cr_assert_eq(probe_image_open(bin, &img), 0);
	off = probe_image_file_offset(img, vaddr);
	probe_image_free(img);
	cr_assert_geq(off, 0, "%#llx has no file offset", (unsigned long long)vaddr);
	fd = open(bin, O_RDONLY);
	cr_assert_geq(fd, 0);
	cr_assert_eq(pread(fd, &b, 1, off), 1);
	close(fd);
	return b;
}

static void check_hook(const char *bin, const struct go_binary *gb, const char *name, int minor)
{
	static struct insn insns[MAX_INSNS];
	uint64_t addr, size;
	struct go_func f;
	size_t n, i, probe_at = 0, rets = 0;
	int err;

	nm_func(bin, name, &addr, &size);
	err = go_binary_func(gb, name, &f);
	cr_assert_eq(err, 0, "%s: %s: %s", bin, name, strerror(-err));
	cr_expect_eq(f.entry, addr, "%s: entry %#lx, nm says %#lx", name, f.entry, addr);
	cr_expect_eq(f.size, size, "%s: size %lu, nm says %lu", name, f.size, size);

	n = disassemble(bin, f.entry, f.entry + f.size, insns);
	cr_assert_gt(n, 0, "objdump shows nothing of %s", name);
	for (i = 0; i < n && insns[i].addr != f.probe; i++)
		;
	cr_assert_lt(i, n, "%s: probe %#lx is not an instruction boundary", name, f.probe);
	probe_at = i;
	if (has_stack_check(name)) {
		cr_expect_gt(f.probe, f.entry, "%s: probe at the entry despite a stack check",
			     name);
		cr_expect(probe_at > 0 && starts_with(insns[probe_at - 1].text, "jbe "),
			  "%s: the instruction before the probe is \"%s\", not the check's jbe",
			  name, probe_at ? insns[probe_at - 1].text : "");
		cr_expect(starts_with(insns[0].text, "cmp ") || starts_with(insns[0].text, "lea "),
			  "%s: starts with \"%s\"", name, insns[0].text);
	} else {
		cr_expect_eq(f.probe, f.entry, "%s: nosplit, yet probe is +%lu", name,
			     f.probe - f.entry);
	}
	if (minor >= 21) {
		cr_expect_str_eq(insns[probe_at].text, "push   %rbp", "%s", name);
		cr_expect(f.probe_at_push_bp, "%s", name);
		cr_expect_eq(file_byte(bin, f.probe), 0x55, "%s", name);
	} else {
		/* A frame of 128 bytes is ADDQ $-128, SP: -128 fits in a byte, 128 does not. */
		cr_expect((starts_with(insns[probe_at].text, "sub    $") ||
			   starts_with(insns[probe_at].text, "add    $0xffffffffffffff80,")) &&
			      strstr(insns[probe_at].text, ",%rsp"),
			  "%s: probe on \"%s\", not the frame's sub", name, insns[probe_at].text);
		cr_expect_not(f.probe_at_push_bp, "%s", name);
	}
	cr_expect_not(f.frame_before_probe, "%s", name);

	/* Exactly the RETs objdump sees, in order. */
	cr_expect_not(f.rets_partial, "%s", name);
	cr_expect_geq(f.nrets, 1, "%s", name);
	for (i = 0; i < n; i++) {
		if (strcmp(insns[i].text, "ret") && !starts_with(insns[i].text, "ret "))
			continue;
		cr_expect(rets < f.nrets && f.rets[rets] == insns[i].addr,
			  "%s: objdump's ret %zu at %#lx missing", name, rets, insns[i].addr);
		rets++;
	}
	cr_expect_eq(rets, f.nrets, "%s: %zu rets, objdump shows %zu", name, f.nrets, rets);
	for (i = 0; i < f.nrets; i++)
		cr_expect_eq(file_byte(bin, f.rets[i]), 0xc3, "%s: ret %zu", name, i);

	/* With DWARF, the count is exact: none of these is inlined without PGO. */
	cr_expect_eq(f.inlined_copies, 0, "%s: %d inlined copies", name, f.inlined_copies);
}

static void check_hooks(const char *name, int minor)
{
	char *bin = go_example(name);
	struct go_binary *gb;
	struct go_func f;
	int err = go_binary_analyze(bin, &gb);

	cr_assert_eq(err, 0, "%s: %s", bin, strerror(-err));
	for (size_t i = 0; i < NHOOKS; i++)
		check_hook(bin, gb, HOOKS[i], minor);
	check_hook(bin, gb, minor >= 22 ? "runtime.gdestroy" : "runtime.goexit0", minor);
	/* Functions with no out-of-line copy. */
	cr_expect_eq(go_binary_func(gb, "runtime.goparkunlock", &f), -ENOENT);
	cr_expect_eq(f.entry, 0);
	if (minor < 22)
		cr_expect_eq(go_binary_func(gb, "runtime.gdestroy", &f), -ENOENT);
	go_binary_free(gb);
	free(bin);
}

Test(go_hooks, go1_19)
{
	check_hooks("leaky-go1.19", 19);
}

Test(go_hooks, go1_23)
{
	check_hooks("leaky-go1.23", 23);
}

static void expect_same_func(const char *name, const struct go_func *a, const struct go_func *b)
{
	cr_expect_eq(a->entry, b->entry, "%s: entry", name);
	cr_expect_eq(a->size, b->size, "%s: size %lu vs %lu", name, a->size, b->size);
	cr_expect_eq(a->probe, b->probe, "%s: probe", name);
	cr_expect_eq(a->probe_at_push_bp, b->probe_at_push_bp, "%s", name);
	cr_expect_eq(a->frame_before_probe, b->frame_before_probe, "%s", name);
	cr_expect_eq(a->nrets, b->nrets, "%s: nrets", name);
	cr_expect_arr_eq(a->rets, b->rets, sizeof(a->rets), "%s: rets", name);
	cr_expect_eq(a->rets_partial, b->rets_partial, "%s", name);
	cr_expect_eq(a->inlined_copies, b->inlined_copies, "%s: %d inlined copies vs %d", name,
		     a->inlined_copies, b->inlined_copies);
}

/*
 * The hooks, and functions that are inlined elsewhere too: the pclntab's inline trees count
 * the copies DWARF does.
 */
static void check_stripped(const char *version, int minor)
{
	const char *const inlined[] = {"runtime.lock", "runtime.unlock", "runtime.nanotime"};
	char name[64], *full, *stripped;
	struct go_binary *gf, *gs;
	struct go_func a, b;

	snprintf(name, sizeof(name), "leaky-go%s", version);
	full = go_example(name);
	snprintf(name, sizeof(name), "leaky-go%s-stripped", version);
	stripped = go_example(name);
	cr_assert_eq(go_binary_analyze(full, &gf), 0);
	cr_assert_eq(go_binary_analyze(stripped, &gs), 0);
	cr_assert_not(gs->has_symbols);
	for (size_t i = 0; i < NHOOKS; i++) {
		cr_assert_eq(go_binary_func(gf, HOOKS[i], &a), 0);
		cr_assert_eq(go_binary_func(gs, HOOKS[i], &b), 0, "stripped: no %s", HOOKS[i]);
		expect_same_func(HOOKS[i], &a, &b);
		cr_expect_eq(b.inlined_copies, 0, "%s", HOOKS[i]);
	}
	for (size_t i = 0; i < sizeof(inlined) / sizeof(inlined[0]); i++) {
		cr_assert_eq(go_binary_func(gf, inlined[i], &a), 0);
		cr_assert_eq(go_binary_func(gs, inlined[i], &b), 0);
		expect_same_func(inlined[i], &a, &b);
		cr_expect_gt(b.inlined_copies, 10, "%s: %d", inlined[i], b.inlined_copies);
	}
	cr_expect_eq(go_binary_func(gs, "runtime.goparkunlock", &b), -ENOENT);
	cr_expect_eq(go_binary_func(gs, minor >= 22 ? "runtime.gdestroy" : "runtime.goexit0", &b),
		     0);
	go_binary_free(gf);
	go_binary_free(gs);
	free(full);
	free(stripped);
}

Test(go_hooks, stripped_go1_19)
{
	check_stripped("1.19", 19);
}

Test(go_hooks, stripped_go1_23)
{
	check_stripped("1.23", 23);
}

/* Without DWARF but with .symtab, the copies come from the pclntab too. */
Test(go_hooks, inlined_copies_without_dwarf)
{
	char *full = go_example("leaky-go1.23"), *nodwarf = go_example("leaky-go1.23-nodwarf");
	struct go_binary *gf, *gn;
	struct go_func a, b;

	cr_assert_eq(go_binary_analyze(full, &gf), 0);
	cr_assert_eq(go_binary_analyze(nodwarf, &gn), 0);
	cr_assert(gn->has_symbols);
	cr_assert_eq(go_binary_func(gf, "runtime.lock", &a), 0);
	cr_assert_eq(go_binary_func(gn, "runtime.lock", &b), 0);
	cr_expect_eq(a.inlined_copies, b.inlined_copies);
	go_binary_free(gf);
	go_binary_free(gn);
	free(full);
	free(nodwarf);
}

/*
 * Inlined copies are counted: runtime.lock is an out-of-line function that the compiler also
 * inlines into many callers (DWARF here).
 */
Test(go_hooks, inlined_copies)
{
	char *bin = go_example("leaky-go1.23");
	struct go_binary *gb;
	struct go_func f;

	cr_assert_eq(go_binary_analyze(bin, &gb), 0);
	cr_assert_eq(go_binary_func(gb, "runtime.lock", &f), 0);
	cr_expect_gt(f.inlined_copies, 10, "runtime.lock: %d inlined copies", f.inlined_copies);
	go_binary_free(gb);
	free(bin);
}

/*
 * The direct calls of a function, in order, are exactly objdump's "call <addr> <sym>" lines;
 * indirect calls (call *%rcx) are left out. main.worker's calls main.burn, which is where a
 * `go worker(jobs)` wrapper's goroutine is named from.
 */
static void check_calls(const char *example, const char *name)
{
	char *bin = go_example(example);
	struct go_binary *gb;
	struct go_call calls[64];
	struct insn insns[MAX_INSNS];
	uint64_t addr, size;
	size_t n, direct = 0;
	int got;
	bool burn = false;

	cr_assert_eq(go_binary_analyze(bin, &gb), 0);
	nm_func(bin, name, &addr, &size);
	n = disassemble(bin, addr, addr + size, insns);
	got = go_binary_calls(gb, addr, calls, 64);
	cr_assert_geq(got, 1, "%s %s: %d calls", example, name, got);
	for (size_t i = 0; i < n; i++) {
		unsigned long long target;
		const char *op = insns[i].text + strcspn(insns[i].text, " \t");

		op += strspn(op, " \t");
		if (!starts_with(insns[i].text, "call") || *op == '*') /* call *%rcx: indirect */
			continue;
		cr_assert_lt(direct, (size_t)got, "%s: objdump's call at %#lx missing", name,
			     insns[i].addr);
		cr_expect_eq(calls[direct].site, insns[i].addr);
		cr_assert_eq(sscanf(insns[i].text, "call %llx", &target), 1, "%s", insns[i].text);
		cr_expect_eq(calls[direct].target, target, "%s", insns[i].text);
		burn |= strstr(insns[i].text, "<main.burn>") != NULL;
		direct++;
	}
	cr_expect_eq(direct, (size_t)got, "%s: %d calls, objdump shows %zu", name, got, direct);
	cr_expect(burn, "%s calls main.burn", name);
	nm_func(bin, "main.burn", &addr, &size);
	cr_expect_eq(go_binary_calls(gb, addr + 1, calls, 64), -ENOENT, "not a function's entry");
	go_binary_free(gb);
	free(bin);
}

Test(go_hooks, direct_calls)
{
	check_calls("leaky-go1.19", "main.worker");
	check_calls("leaky-go1.23", "main.worker");
}

/*
 * A .symtab that disagrees with .gopclntab (shifted by a byte, another function's, or sized
 * otherwise) makes the hook refused, not probed where .symtab says; the hooks it does not touch
 * stay as they were.
 */
static void expect_refused(const char *mutation, const char *regex, const char *const *lied,
			   size_t nlied)
{
	char dir[] = "/tmp/go_hooks.XXXXXX";
	char *bin = go_example("leaky-go1.23"), *copy = mutated_copy(bin, regex, mutation, dir);
	struct go_binary *gb, *gm;
	struct go_func a, b;

	cr_assert_eq(go_binary_analyze(bin, &gb), 0);
	cr_assert_eq(go_binary_analyze(copy, &gm), 0);
	for (size_t i = 0; i < nlied; i++) {
		cr_assert_eq(go_binary_func(gb, lied[i], &a), 0);
		cr_expect_eq(go_binary_func(gm, lied[i], &b), -EXDEV, "%s %s", mutation, lied[i]);
		cr_expect_eq(b.entry, a.entry, "the entry stays .gopclntab's");
		cr_expect(b.symtab_entry != a.entry || b.symtab_size != a.size);
	}
	cr_assert_eq(go_binary_func(gm, "runtime.execute", &b), 0, "%s: untouched", mutation);
	cr_assert_eq(go_binary_func(gb, "runtime.execute", &a), 0);
	expect_same_func("runtime.execute", &a, &b);
	go_binary_free(gb);
	go_binary_free(gm);
	mutated_copy_remove(copy, dir);
	free(bin);
}

Test(go_hooks, symtab_lies)
{
	static const char *const both[] = {"runtime.gopark", "runtime.ready"};

	expect_refused("shift:1", "^runtime\\.gopark$", both, 1);
	expect_refused("shift:3", "^runtime\\.gopark$", both, 1);
	expect_refused("swap", "^runtime\\.(gopark|ready)$", both, 2);
	expect_refused("data", "^runtime\\.gopark$", both, 1);
	expect_refused("size:zero", "^runtime\\.gopark$", both, 1);
	expect_refused("size:huge", "^runtime\\.gopark$", both, 1);
}
