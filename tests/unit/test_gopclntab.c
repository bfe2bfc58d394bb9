// SPDX-License-Identifier: MIT
/*
 * gopclntab against the leaky example built with Go 1.19 and Go 1.23, with and without
 * `-ldflags=-s -w` (build/examples/go). The stripped and the full build have the same code at
 * the same addresses, so what the stripped one's table says is checked against what the full
 * one's .symtab (function ranges) and DWARF (lines and inline chains, through the symbolizer)
 * say.
 */
#include <criterion/criterion.h>

#include <errno.h>
#include <fcntl.h>
#include <gelf.h>
#include <libelf.h>
#include <limits.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>
#include <sys/stat.h>
#include <sys/sysmacros.h>

#include "go_examples.h"
#include "symbols/gopclntab.h"
#include "symbols/symbolizer.h"

/* Every how many bytes of text the frames are compared: a prime, so no alignment is favoured. */
#define FRAME_STEP 97

static void run(const char *fmt, ...) __attribute__((format(printf, 1, 2)));

static void run(const char *fmt, ...)
{
	va_list ap;
	char *cmd;
	int rc;

	va_start(ap, fmt);
	cr_assert_geq(vasprintf(&cmd, fmt, ap), 0);
	va_end(ap);
	rc = system(cmd);
	cr_assert_eq(rc, 0, "failed (%d): %s", rc, cmd);
	free(cmd);
}

struct image {
	int fd;
	Elf *elf;
	struct gopclntab *t;
};

static int image_open(struct image *im, const char *path)
{
	cr_assert_neq(elf_version(EV_CURRENT), EV_NONE);
	im->fd = open(path, O_RDONLY);
	cr_assert_geq(im->fd, 0, "cannot open %s", path);
	im->elf = elf_begin(im->fd, ELF_C_READ_MMAP, NULL);
	cr_assert_not_null(im->elf, "%s: %s", path, elf_errmsg(-1));
	im->t = NULL;
	return gopclntab_open(im->elf, &im->t);
}

static void image_close(struct image *im)
{
	gopclntab_free(im->t);
	elf_end(im->elf);
	close(im->fd);
}

/*
 * The linker names assembly functions "runtime.write.abi0" in .symtab and "runtime.write" in
 * the table, and writes the middle dot of some generated names as a plain dot in .symtab. The
 * names of generated type functions ("type:.eq.[5]internal/cpu.option") are not compared: Go
 * 1.19 shortens them in the table ("type..eq.[...]internal/cpu.option").
 */
static bool same_name(const char *table, const char *symtab)
{
	size_t len = strlen(symtab);

	if (!strncmp(symtab, "type.", 5) || !strncmp(symtab, "type:", 5))
		return true;

	if (len > 5 && !strcmp(symtab + len - 5, ".abi0"))
		len -= 5;
	while (len && *table) {
		if (!strncmp(table, "\xc2\xb7", 2) && *symtab == '.') {
			table += 2;
		} else if (*table == *symtab) {
			table++;
		} else {
			return false;
		}
		symtab++;
		len--;
	}
	return !len && !*table;
}

/* Every function of the full build's .symtab has the same range and name in the table. */
static void check_functions(const char *version)
{
	char name[64];
	char *full, *stripped;
	struct image f, s;
	Elf_Scn *scn = NULL;
	size_t checked = 0;
	GElf_Shdr sh;

	snprintf(name, sizeof(name), "leaky-go%s", version);
	full = go_example(name);
	snprintf(name, sizeof(name), "leaky-go%s-stripped", version);
	stripped = go_example(name);
	cr_assert_eq(image_open(&f, full), 0);
	cr_assert_eq(image_open(&s, stripped), 0);
	while ((scn = elf_nextscn(f.elf, scn))) {
		Elf_Data *data = elf_getdata(scn, NULL);

		if (!gelf_getshdr(scn, &sh) || sh.sh_type != SHT_SYMTAB)
			continue;
		for (size_t i = 0; i < sh.sh_size / sh.sh_entsize; i++) {
			struct gopcln_func fn;
			const char *sym_name;
			GElf_Sym sym;

			gelf_getsym(data, i, &sym);
			sym_name = elf_strptr(f.elf, sh.sh_link, sym.st_name);
			if (GELF_ST_TYPE(sym.st_info) != STT_FUNC || !sym.st_size)
				continue;
			cr_assert_eq(gopclntab_lookup(s.t, sym.st_value + sym.st_size - 1, &fn), 0,
				     "%s: no function at the end of %s", version, sym_name);
			cr_expect(same_name(fn.name, sym_name), "%s: %s, .symtab says %s", version,
				  fn.name, sym_name);
			cr_expect_eq(fn.entry, sym.st_value, "%s: %s", version, sym_name);
			cr_expect_eq(fn.end, sym.st_value + sym.st_size,
				     "%s: %s ends at %#lx, not %#lx", version, sym_name, fn.end,
				     sym.st_value + sym.st_size);
			checked++;
		}
	}
	cr_expect_gt(checked, 1000, "%s: only %zu functions", version, checked);
	/* By name as well; and not past the text. */
	{
		struct gopcln_func fn;

		cr_expect_eq(gopclntab_find(s.t, "main.leakRecv", &fn), 0);
		cr_expect_eq(gopclntab_find(s.t, "main.noSuchFunction", &fn), -ENOENT);
		cr_expect_eq(gopclntab_lookup(s.t, 0x1000, &fn), -ENOENT);
	}
	image_close(&f);
	image_close(&s);
	free(full);
	free(stripped);
}

Test(gopclntab, functions_go1_19)
{
	check_functions("1.19");
}

Test(gopclntab, functions_go1_23)
{
	check_functions("1.23");
}

/* The executable mapping of a non-PIE binary: at its link-time addresses. */
static struct proc_mapping text_mapping(const char *path, uint64_t *start, uint64_t *end)
{
	struct proc_mapping m = {.readable = true, .executable = true, .path = path};
	struct image im;
	struct stat st;
	size_t n;

	image_open(&im, path);
	cr_assert_eq(elf_getphdrnum(im.elf, &n), 0);
	for (size_t i = 0; i < n; i++) {
		GElf_Phdr ph;

		gelf_getphdr(im.elf, i, &ph);
		if (ph.p_type != PT_LOAD || !(ph.p_flags & PF_X))
			continue;
		m.start = ph.p_vaddr & ~0xfffULL;
		m.end = (ph.p_vaddr + ph.p_memsz + 0xfff) & ~0xfffULL;
		m.offset = ph.p_offset & ~0xfffULL;
		*start = ph.p_vaddr;
		*end = ph.p_vaddr + ph.p_filesz;
	}
	image_close(&im);
	cr_assert_eq(stat(path, &st), 0);
	m.inode = st.st_ino;
	m.dev_major = major(st.st_dev);
	m.dev_minor = minor(st.st_dev);
	return m;
}

static bool same_line(const struct sym_frame *a, const struct sym_frame *b)
{
	return a->file && b->file && !strcmp(a->file, b->file) && a->line == b->line;
}

static bool same_frame(const struct sym_frame *a, const struct sym_frame *b)
{
	return a->function && b->function && !strcmp(a->function, b->function) && same_line(a, b);
}

/* Compiler-generated code (wrappers, equality functions): DWARF has no real line for it. */
static bool generated(const struct sym_frame *frames, int n)
{
	for (int i = 0; i < n; i++)
		if (!frames[i].file || strstr(frames[i].file, "<autogenerated>"))
			return true;
	return false;
}

/*
 * The symbolizer on the stripped build (pclntab) against the full build (DWARF): the same
 * function, the same innermost file:line and, where DWARF has an inline chain, the same chain.
 * Go's DWARF leaves some inlined code without an inlined-subroutine entry, where the pclntab
 * still has the chain (and the runtime's tracebacks show it), so DWARF's single frame is only
 * compared with the innermost and the outermost.
 */
static void check_frames(const char *version, double min_agreement)
{
	char name[64], full[PATH_MAX], stripped[PATH_MAX], first_miss[512] = "";
	struct symbolizer *sym = symbolizer_new();
	struct proc_mapping mf, ms;
	struct elf_object *of, *os;
	uint64_t start, end, start2, end2, compared = 0, agreed = 0, inlined = 0;
	char *p;

	snprintf(name, sizeof(name), "leaky-go%s", version);
	p = go_example(name);
	cr_assert_not_null(realpath(p, full));
	free(p);
	snprintf(name, sizeof(name), "leaky-go%s-stripped", version);
	p = go_example(name);
	cr_assert_not_null(realpath(p, stripped));
	free(p);
	mf = text_mapping(full, &start, &end);
	ms = text_mapping(stripped, &start2, &end2);
	cr_assert_eq(start, start2);
	of = symbolizer_object(sym, getpid(), &mf);
	os = symbolizer_object(sym, getpid(), &ms);
	cr_assert_not_null(of);
	cr_assert_not_null(os);
	cr_assert(elf_object_has_lines(of));
	cr_assert(elf_object_has_lines(os), "the pclntab has the lines");
	cr_assert(elf_object_has_symbols(os), "the pclntab names the functions");

	for (uint64_t pc = start; pc < end; pc += FRAME_STEP) {
		struct sym_frame a[SYM_MAX_INLINE], b[SYM_MAX_INLINE];
		int na = elf_object_symbolize(of, pc, a, SYM_MAX_INLINE);
		int nb = elf_object_symbolize(os, pc, b, SYM_MAX_INLINE);
		bool ok;

		if (!na || generated(a, na))
			continue;
		compared++;
		ok = nb >= 1 && !strcmp(a[na - 1].function, b[nb - 1].function) &&
		     same_line(&a[0], &b[0]);
		if (na > 1) {
			ok = ok && na == nb;
			for (int i = 0; ok && i < na; i++)
				ok = same_frame(&a[i], &b[i]);
			inlined += ok;
		}
		agreed += ok;
		if (!ok && !*first_miss)
			snprintf(first_miss, sizeof(first_miss),
				 "%#lx: DWARF %s %s:%d (%d frames), pclntab %s %s:%d (%d)", pc,
				 a[0].function, a[0].file, a[0].line, na, nb ? b[0].function : "-",
				 nb ? b[0].file : "-", nb ? b[0].line : 0, nb);
	}
	cr_expect_gt(compared, 2000, "%s: only %lu addresses", version, compared);
	cr_expect_gt(inlined, 100, "%s: only %lu inline chains compared", version, inlined);
	cr_expect_geq((double)agreed / compared, min_agreement, "%s: %lu of %lu agree; first: %s",
		      version, agreed, compared, first_miss);
	symbolizer_free(sym);
}

/*
 * Go 1.19's DWARF line table puts a few addresses on another line of the same function than
 * its pclntab does (the runtime's own tracebacks follow the pclntab).
 */
Test(gopclntab, frames_go1_19, .timeout = 120)
{
	check_frames("1.19", 0.999);
}

Test(gopclntab, frames_go1_23, .timeout = 120)
{
	check_frames("1.23", 1.0);
}

/* A copy of the stripped build edited in place: the table is found or refused as the copy says. */
static char *edited_copy(const char *name, const char *suffix)
{
	char *src = go_example(name), *copy;

	cr_assert_geq(asprintf(&copy, "/tmp/test_gopclntab.%d.%s", getpid(), suffix), 0);
	run("cp %s %s", src, copy);
	free(src);
	return copy;
}

static void patch(const char *path, off_t off, const void *bytes, size_t len)
{
	int fd = open(path, O_RDWR);

	cr_assert_geq(fd, 0);
	cr_assert_eq(pwrite(fd, bytes, len, off), (ssize_t)len);
	close(fd);
}

/* File offset of the table, from the section headers. */
static off_t table_offset(const char *path)
{
	struct image im;
	Elf_Scn *scn = NULL;
	size_t shstrndx;
	GElf_Shdr sh;
	off_t off = -1;

	image_open(&im, path);
	cr_assert_eq(elf_getshdrstrndx(im.elf, &shstrndx), 0);
	while ((scn = elf_nextscn(im.elf, scn)))
		if (gelf_getshdr(scn, &sh) &&
		    !strcmp(elf_strptr(im.elf, shstrndx, sh.sh_name), ".gopclntab"))
			off = sh.sh_offset;
	image_close(&im);
	cr_assert_geq(off, 0, "%s has no .gopclntab", path);
	return off;
}

Test(gopclntab, found_without_section_headers)
{
	char *copy = edited_copy("leaky-go1.23-stripped", "noshdr");
	struct image im;
	struct gopcln_func fn;
	struct gopcln_frame fr[4];

	drop_section_headers(copy);
	cr_assert_eq(image_open(&im, copy), 0);
	cr_expect(gopclntab_has_inline_tree(im.t));
	cr_assert_eq(gopclntab_find(im.t, "main.leakRecv", &fn), 0);
	cr_expect_eq(gopclntab_frames(im.t, fn.entry, fr, 4), 1);
	cr_expect_str_eq(fr[0].function, "main.leakRecv");
	cr_expect(strstr(fr[0].file, "examples/go/leaky/main.go"), "%s", fr[0].file);
	image_close(&im);
	unlink(copy);
	free(copy);
}

/* Tables of Go 1.2-1.17 are refused by their magic, not misread. */
Test(gopclntab, refuses_older_formats)
{
	const uint32_t magics[] = {0xfffffffb, 0xfffffffa};
	struct image im;

	for (size_t i = 0; i < 2; i++) {
		char *copy = edited_copy("leaky-go1.19-stripped", "old");

		patch(copy, table_offset(copy), &magics[i], sizeof(magics[i]));
		cr_expect_eq(image_open(&im, copy), -ENOTSUP, "magic %#x", magics[i]);
		image_close(&im);
		unlink(copy);
		free(copy);
	}
	cr_expect_eq(image_open(&im, "/bin/true"), -ENOENT);
	image_close(&im);
}

/*
 * A PIE keeps the table in .data.rel.ro.gopclntab; its words hold link-time addresses. Built
 * here from the example's source, which the stripped build's own table locates.
 */
Test(gopclntab, pie, .timeout = 300)
{
	const char *go = "/usr/lib/go-1.23/bin/go";
	char dir[] = "/tmp/test_gopclntab.XXXXXX", *stripped = go_example("leaky-go1.23-stripped");
	char bin[64], src[PATH_MAX];
	struct gopcln_func fn;
	struct gopcln_frame fr[SYM_MAX_INLINE];
	struct image im;
	int n;

	if (access(go, X_OK))
		cr_skip_test("%s is not installed", go);
	cr_assert_eq(image_open(&im, stripped), 0);
	cr_assert_eq(gopclntab_find(im.t, "main.main", &fn), 0);
	cr_assert_eq(gopclntab_frames(im.t, fn.entry, fr, 1), 1);
	snprintf(src, sizeof(src), "%s", fr[0].file);
	*strrchr(src, '/') = '\0';
	image_close(&im);
	free(stripped);

	cr_assert_not_null(mkdtemp(dir));
	snprintf(bin, sizeof(bin), "%s/leaky-pie", dir);
	run("cd %s && HOME=%s GOCACHE=%s/cache GO111MODULE=off GOTOOLCHAIN=local GOFLAGS= "
	    "%s build -buildmode=pie '-ldflags=-s -w' -o %s .",
	    src, dir, dir, go, bin);
	cr_assert_eq(image_open(&im, bin), 0);
	cr_expect(gopclntab_has_inline_tree(im.t));
	cr_assert_eq(gopclntab_find(im.t, "runtime.gopark", &fn), 0);
	cr_expect_gt(fn.end, fn.entry);
	/* An inlined call in the runtime: more than one frame, the outermost the function. */
	n = 0;
	for (uint64_t pc = fn.entry; pc < fn.end && n < 2; pc++)
		n = gopclntab_frames(im.t, pc, fr, SYM_MAX_INLINE);
	cr_expect_geq(n, 2, "no inlined call found in runtime.gopark");
	cr_expect_str_eq(fr[n - 1].function, "runtime.gopark");
	image_close(&im);
	run("chmod -R u+w %s && rm -rf %s", dir, dir);
}
