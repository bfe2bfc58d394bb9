// SPDX-License-Identifier: MIT
/*
 * probe_site's checks against what binutils says of the same files, never against the code
 * under test: the function ranges of readelf's FDE dump, the instruction boundaries and
 * mnemonics of objdump's disassembly, and Go functions as nm sees them. Every kind of site is
 * tried where it holds and one byte off, where it must be refused.
 */
#include <criterion/criterion.h>

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "build_file.h"
#include "runtimes/go/go_binary.h"
#include "go_examples.h"
#include "objdump.h"
#include "capture/probe_site.h"
#include "runtimes/usdt/usdt_binary.h"

#define MAX_FDES 8192

struct range {
	uint64_t start, end;
};

/* The FDE ranges readelf lists in .eh_frame, "pc=START..END" (not .debug_frame's). */
static size_t readelf_fdes(const char *bin, struct range *out)
{
	FILE *p = run("readelf --debug-dump=frames %s", bin);
	char line[512];
	bool eh_frame = false;
	size_t n = 0;

	while (fgets(line, sizeof(line), p) && n < MAX_FDES) {
		unsigned long long s, e;
		const char *pc = strstr(line, " FDE ");

		if (!strncmp(line, "Contents of the ", 16))
			eh_frame = !strncmp(line + 16, ".eh_frame ", 10);
		if (eh_frame && pc && (pc = strstr(pc, "pc=")) &&
		    sscanf(pc, "pc=%llx..%llx", &s, &e) == 2 && e > s)
			out[n++] = (struct range){s, e};
	}
	pclose(p);
	cr_assert_gt(n, 0, "readelf lists no FDE in %s", bin);
	return n;
}

static int check(struct probe_image *img, uint64_t addr, uint64_t func, enum probe_insn insn)
{
	struct probe_site site = {addr, func, insn};
	char why[192];

	return probe_site_check(img, &site, why, sizeof(why));
}

/* The .eh_frame functions are readelf's FDE ranges, C (gcc) and Rust (LLVM, personality). */
static void expect_fde_ranges(const char *bin)
{
	static struct range fdes[MAX_FDES];
	size_t n = readelf_fdes(bin, fdes);
	struct probe_image *img;

	cr_assert_eq(probe_image_open(bin, &img), 0);
	for (size_t i = 0; i < n; i++) {
		uint64_t s = 0, e = 0;

		cr_expect_eq(probe_image_function(img, fdes[i].start, &s, &e), 0, "%s: FDE 0x%lx",
			     bin, fdes[i].start);
		cr_expect(s == fdes[i].start && e == fdes[i].end,
			  "%s: FDE 0x%lx..0x%lx read as 0x%lx..0x%lx", bin, fdes[i].start,
			  fdes[i].end, s, e);
		cr_expect_eq(probe_image_function(img, fdes[i].end - 1, &s, &e), 0);
		cr_expect_eq(s, fdes[i].start);
	}
	cr_expect_eq(probe_image_function(img, 0, &fdes[0].start, &fdes[0].end), -ENOENT);
	probe_image_free(img);
}

Test(probe_site, fde_ranges_c)
{
	char *bin = build_file("tests/fixtures", "symtest", "unit");

	expect_fde_ranges(bin);
	free(bin);
}

Test(probe_site, fde_ranges_rust)
{
	char *bin = build_file("examples/tokio", "chain", "tokio-examples");

	expect_fde_ranges(bin);
	free(bin);
}

/*
 * In every FDE function of a C program: its start is an entry, every instruction objdump shows
 * is a boundary, the byte after the start of a longer instruction is not, and RET is only
 * where objdump says ret.
 */
Test(probe_site, boundaries_and_rets_c)
{
	static struct range fdes[MAX_FDES];
	static struct insn insns[MAX_INSNS];
	char *bin = build_file("tests/fixtures", "symtest", "unit");
	size_t nf = readelf_fdes(bin, fdes), rets = 0, inside = 0;
	struct probe_image *img;

	cr_assert_eq(probe_image_open(bin, &img), 0);
	for (size_t f = 0; f < nf; f++) {
		size_t n = disassemble(bin, fdes[f].start, fdes[f].end, insns);

		cr_expect_eq(check(img, fdes[f].start, fdes[f].start, PROBE_ENTRY), 0);
		for (size_t i = 0; i < n; i++) {
			bool is_ret = !strncmp(insns[i].text, "ret", 3);
			uint64_t next = i + 1 < n ? insns[i + 1].addr : fdes[f].end;

			cr_expect_eq(check(img, insns[i].addr, fdes[f].start,
					   is_ret ? PROBE_RET : PROBE_ENTRY),
				     is_ret || !i ? 0 : -EPROTO, "0x%lx: %s", insns[i].addr,
				     insns[i].text);
			if (!is_ret)
				cr_expect_eq(check(img, insns[i].addr, fdes[f].start, PROBE_RET),
					     -EPROTO, "0x%lx: %s", insns[i].addr, insns[i].text);
			rets += is_ret;
			if (next - insns[i].addr < 2)
				continue;
			inside++;
			cr_expect_eq(check(img, insns[i].addr + 1, fdes[f].start, PROBE_RET),
				     -EILSEQ, "0x%lx + 1: %s", insns[i].addr, insns[i].text);
		}
		/* the analysis put it in another function */
		cr_expect_eq(check(img, fdes[f].start, fdes[f].start + 1, PROBE_ENTRY), -EXDEV);
	}
	cr_expect_gt(rets, 0);
	cr_expect_gt(inside, 0);
	probe_image_free(img);
	free(bin);
}

/* Markers: every note's address holds the NOP, one byte on does not. */
Test(probe_site, marker_nops)
{
	char *bin = build_file("tests/fixtures", "markers", "unit");
	struct probe_image *img;
	struct usdt_binary *ub;

	cr_assert_eq(usdt_binary_read(bin, &ub), 0);
	cr_assert_eq(probe_image_open(bin, &img), 0);
	cr_assert_gt(ub->nsites, 0);
	for (size_t i = 0; i < ub->nsites; i++) {
		struct insn insn;
		uint64_t pc = ub->sites[i].pc;

		cr_assert_eq(disassemble(bin, pc, pc + 1, &insn), 1);
		cr_expect_str_eq(insn.text, "nop", "objdump: 0x%lx holds %s", pc, insn.text);
		cr_expect_eq(check(img, pc, 0, PROBE_MARKER), 0, "%s at 0x%lx",
			     usdt_probe_names[ub->sites[i].probe], pc);
		cr_expect_neq(check(img, pc + 1, 0, PROBE_MARKER), 0);
		cr_expect_eq(check(img, pc, 0, PROBE_RET), -EPROTO);
	}
	cr_expect_eq(check(img, ub->sites[0].semaphore, 0, PROBE_MARKER), -EFAULT,
		     "a semaphore is data");
	usdt_binary_free(ub);
	probe_image_free(img);
	free(bin);
}

static bool in_fde(const struct range *fdes, size_t n, uint64_t addr)
{
	for (size_t i = 0; i < n; i++)
		if (addr >= fdes[i].start && addr < fdes[i].end)
			return true;
	return false;
}

struct listed {
	uint64_t addr;
	bool update; /* objdump shows lock xadd or lock cmpxchg */
};

/* A probe after each update objdump shows as lock xadd or lock cmpxchg, and only there. */
Test(probe_site, after_locked_updates)
{
	static struct range fdes[MAX_FDES];
	char *bin = build_file("examples/tokio", "chain", "tokio-examples");
	FILE *p = run("objdump -d --no-show-raw-insn %s", bin);
	struct listed *all = NULL;
	size_t n = 0, cap = 0, updates = 0, nf;
	struct probe_image *img;
	char line[512];

	while (fgets(line, sizeof(line), p)) {
		unsigned long long a;
		int pos = -1;

		if (sscanf(line, " %llx:%n", &a, &pos) != 1 || pos < 0 || line[pos] != '\t')
			continue;
		if (n == cap) {
			cap = cap ? 2 * cap : 4096;
			all = realloc(all, cap * sizeof(*all));
			cr_assert_not_null(all);
		}
		all[n].addr = a;
		all[n++].update = !strncmp(line + pos + 1, "lock xadd ", 10) ||
				  !strncmp(line + pos + 1, "lock cmpxchg ", 13);
	}
	pclose(p);
	cr_assert_eq(probe_image_open(bin, &img), 0);
	nf = readelf_fdes(bin, fdes);
	/* around each update: the instruction before it, itself, and the three after; padding
	 * after a function's end is in no FDE */
	for (size_t u = 2; u + 3 < n; u++) {
		if (!all[u].update)
			continue;
		updates++;
		for (size_t i = u - 1; i <= u + 3; i++)
			cr_expect_eq(check(img, all[i].addr, 0, PROBE_AFTER_LOCKED_UPDATE),
				     !in_fde(fdes, nf, all[i].addr) ? -ENOENT
				     : all[i - 1].update	    ? 0
								    : -EPROTO,
				     "0x%lx", all[i].addr);
	}
	cr_expect_gt(updates, 0, "objdump shows no lock xadd in %s", bin);
	probe_image_free(img);
	free(all);
	free(bin);
}

static int pclntab_function(void *gb, uint64_t addr, uint64_t *start, uint64_t *end)
{
	return go_binary_function_at(gb, addr, start, end);
}

/*
 * Go, with .gopclntab as the table: the hooks' probes pass (the frame's first instruction
 * after the stack check, every RET), and a site one byte into the function, in another
 * function, or in data is refused.
 */
static void check_go(const char *example)
{
	static const char *const hooks[] = {"runtime.gopark", "runtime.newproc1",
					    "runtime.chansend", "runtime.gcMarkTermination"};
	char *bin = go_example(example);
	struct probe_image *img;
	struct go_binary *gb;

	cr_assert_eq(go_binary_analyze(bin, &gb), 0);
	cr_assert_eq(probe_image_open(bin, &img), 0);
	probe_image_set_table(img, ".gopclntab", pclntab_function, gb);
	for (size_t h = 0; h < sizeof(hooks) / sizeof(hooks[0]); h++) {
		struct insn first;
		struct go_func f, other;

		cr_assert_eq(go_binary_func(gb, hooks[h], &f), 0, "%s", hooks[h]);
		cr_assert_eq(go_binary_func(gb, hooks[(h + 1) % 4], &other), 0);
		cr_expect_eq(check(img, f.probe, f.entry, PROBE_FRAME_SETUP), 0, "%s", hooks[h]);
		cr_expect_eq(check(img, f.entry, f.entry, PROBE_ENTRY), 0);
		cr_expect_eq(check(img, f.entry, f.entry, PROBE_FRAME_SETUP), -EPROTO,
			     "%s starts with its stack check", hooks[h]);
		/* the stack check's first instruction is longer than a byte (objdump) */
		cr_assert_eq(disassemble(bin, f.entry, f.entry + 1, &first), 1);
		cr_expect_eq(check(img, f.entry + 1, f.entry, PROBE_ENTRY), -EILSEQ, "%s: %s",
			     hooks[h], first.text);
		for (size_t r = 0; r < f.nrets; r++) {
			cr_expect_eq(check(img, f.rets[r], f.entry, PROBE_RET), 0);
			cr_expect_eq(check(img, f.rets[r], other.entry, PROBE_RET), -EXDEV);
		}
	}
	cr_expect_eq(check(img, gb->allgs, 0, PROBE_ENTRY), -EFAULT, "allgs is data");
	cr_expect_eq(probe_image_file_offset(img, gb->allgs), -1);
	cr_expect_eq(probe_image_file_offset(img, 0), -1);
	probe_image_free(img);
	go_binary_free(gb);
	free(bin);
}

Test(probe_site, go1_19)
{
	check_go("leaky-go1.19");
}

Test(probe_site, go1_23)
{
	check_go("leaky-go1.23");
}

Test(probe_site, rejects_other_files)
{
	struct probe_image *img = NULL;

	cr_expect_eq(probe_image_open("/nonexistent/binary", &img), -ENOENT);
	cr_expect_eq(probe_image_open("/etc/passwd", &img), -ENOEXEC);
	cr_expect_null(img);
}
