// SPDX-License-Identifier: MIT
/*
 * The symbolizer against build/tests/fixtures/symtest, whose source marks the lines the tests
 * expect with "@" comments. Expected addresses come from the fixture's .symtab, read here with
 * libelf, never from the code under test; expected lines come from the source file that the
 * symbolizer names, so file and line are checked together.
 */
#include <criterion/criterion.h>

#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <gelf.h>
#include <libelf.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>
#include <sys/auxv.h>
#include <sys/stat.h>
#include <sys/sysmacros.h>
#include <sys/wait.h>

#include "build_file.h"
#include "target/procmaps.h"
#include "symbols/demangle.h"
#include "symbols/kallsyms.h"
#include "symbols/symbolizer.h"

/* Where a PIE's first page would be mapped. */
#define PIE_BASE 0x555555554000ULL
#define PAGE_MASK (~0xfffULL)

static char *fixture(const char *name)
{
	return build_file("tests/fixtures", name, "unit");
}

static Elf *open_elf(const char *path, int *fd)
{
	Elf *elf;

	cr_assert_neq(elf_version(EV_CURRENT), EV_NONE);
	*fd = open(path, O_RDONLY);
	cr_assert_geq(*fd, 0, "cannot open %s", path);
	elf = elf_begin(*fd, ELF_C_READ, NULL);
	cr_assert_not_null(elf, "%s: %s", path, elf_errmsg(-1));
	return elf;
}

/*
 * Calls fn on every named symbol of the .symtab and .dynsym of elf (only .symtab's when
 * symtab_only) until it returns true; returns whether one did.
 */
static bool each_symbol(Elf *elf, bool symtab_only,
			bool (*fn)(const GElf_Sym *sym, const char *name, void *ctx), void *ctx)
{
	Elf_Scn *scn = NULL;
	GElf_Shdr shdr;

	while ((scn = elf_nextscn(elf, scn))) {
		Elf_Data *data = elf_getdata(scn, NULL);

		gelf_getshdr(scn, &shdr);
		if ((shdr.sh_type != SHT_SYMTAB && (symtab_only || shdr.sh_type != SHT_DYNSYM)) ||
		    !data)
			continue;
		for (size_t i = 0; i < shdr.sh_size / shdr.sh_entsize; i++) {
			GElf_Sym sym;
			const char *s;

			gelf_getsym(data, i, &sym);
			s = elf_strptr(elf, shdr.sh_link, sym.st_name);
			if (s && fn(&sym, s, ctx))
				return true;
		}
	}
	return false;
}

struct wanted_symbol {
	const char *name;
	uint64_t value;
};

static bool is_wanted_symbol(const GElf_Sym *sym, const char *name, void *ctx)
{
	struct wanted_symbol *w = ctx;

	if (strcmp(name, w->name) != 0 || !sym->st_value)
		return false;
	w->value = sym->st_value;
	return true;
}

/* The value of a symbol of any type in the .symtab or .dynsym of elf. */
static bool elf_symbol(Elf *elf, const char *name, uint64_t *value)
{
	struct wanted_symbol w = { .name = name };

	if (!each_symbol(elf, false, is_wanted_symbol, &w))
		return false;
	*value = w.value;
	return true;
}

static uint64_t symbol_in_file(const char *path, const char *name)
{
	uint64_t value = 0;
	int fd;
	Elf *elf = open_elf(path, &fd);

	cr_assert(elf_symbol(elf, name, &value), "%s has no symbol %s", path, name);
	elf_end(elf);
	close(fd);
	return value;
}

/* The GNU build-id note of a file, in hex, read from its notes. */
static void note_build_id(const char *path, char *hex, size_t cap)
{
	Elf_Scn *scn = NULL;
	GElf_Shdr shdr;
	int fd;
	Elf *elf = open_elf(path, &fd);

	hex[0] = '\0';
	while ((scn = elf_nextscn(elf, scn))) {
		Elf_Data *data = elf_getdata(scn, NULL);
		GElf_Nhdr nhdr;
		size_t off = 0, name_off, desc_off;

		gelf_getshdr(scn, &shdr);
		if (shdr.sh_type != SHT_NOTE || !data)
			continue;
		while ((off = gelf_getnote(data, off, &nhdr, &name_off, &desc_off)) > 0) {
			const unsigned char *desc = (const unsigned char *)data->d_buf + desc_off;

			if (nhdr.n_type != NT_GNU_BUILD_ID || nhdr.n_namesz != 4 ||
			    memcmp((char *)data->d_buf + name_off, "GNU", 4) != 0)
				continue;
			cr_assert_lt(2 * nhdr.n_descsz, cap);
			for (size_t i = 0; i < nhdr.n_descsz; i++)
				sprintf(hex + 2 * i, "%02x", desc[i]);
		}
	}
	elf_end(elf);
	close(fd);
}

/* The mapping of path's executable segment as the loader maps a PIE at PIE_BASE. */
static struct proc_mapping pie_text_mapping(const char *path, uint64_t base)
{
	struct proc_mapping m = {.readable = true, .executable = true, .path = path};
	struct stat st;
	size_t phnum;
	int fd;
	Elf *elf = open_elf(path, &fd);

	cr_assert_eq(elf_getphdrnum(elf, &phnum), 0);
	for (size_t i = 0; i < phnum; i++) {
		GElf_Phdr phdr;

		gelf_getphdr(elf, i, &phdr);
		if (phdr.p_type != PT_LOAD || !(phdr.p_flags & PF_X))
			continue;
		m.start = base + (phdr.p_vaddr & PAGE_MASK);
		m.end = (base + phdr.p_vaddr + phdr.p_memsz + 0xfff) & PAGE_MASK;
		m.offset = phdr.p_offset & PAGE_MASK;
	}
	cr_assert_neq(m.end, 0, "%s has no executable segment", path);
	cr_assert_eq(stat(path, &st), 0);
	m.inode = st.st_ino;
	m.dev_major = major(st.st_dev);
	m.dev_minor = minor(st.st_dev);
	elf_end(elf);
	close(fd);
	return m;
}

/* The number of the first line of file that contains marker. */
static int marker_line(const char *file, const char *marker)
{
	FILE *f = fopen(file, "r");
	char buf[512];
	int line = 0;

	cr_assert_not_null(f, "the symbolizer named %s, which cannot be read", file);
	while (fgets(buf, sizeof(buf), f)) {
		line++;
		if (strstr(buf, marker)) {
			fclose(f);
			return line;
		}
	}
	fclose(f);
	cr_assert_fail("%s has no marker %s", file, marker);
	return 0;
}

static bool ends_with(const char *s, const char *suffix)
{
	size_t n = strlen(s), k = strlen(suffix);

	return n >= k && strcmp(s + n - k, suffix) == 0;
}

static struct elf_object *object_for(struct symbolizer *sym, pid_t pid,
				     const struct proc_mapping *m)
{
	struct elf_object *obj = symbolizer_object(sym, pid, m);

	cr_assert_not_null(obj, "no object for %s: %s", m->path, strerror(errno));
	return obj;
}

/* Symbolizes the runtime address addr of mapping m. */
static int symbolize_at(struct elf_object *obj, const struct proc_mapping *m, uint64_t addr,
			struct sym_frame *frames)
{
	return elf_object_symbolize(obj, elf_object_vaddr(obj, m, addr), frames, SYM_MAX_INLINE);
}

static void assert_function(struct elf_object *obj, const struct proc_mapping *m, uint64_t addr,
			    const char *name)
{
	struct sym_frame f[SYM_MAX_INLINE];
	int n = symbolize_at(obj, m, addr, f);

	cr_assert_geq(n, 1, "%s at %#lx is not symbolized", name, (unsigned long)addr);
	cr_assert_str_eq(f[n - 1].function, name);
	cr_assert_not_null(f[n - 1].file, "%s has no source file", name);
	cr_assert(ends_with(f[n - 1].file, "/symtest.c"), "%s is in %s", name, f[n - 1].file);
	cr_assert_gt(f[n - 1].line, 0);
}

/* The inlined body of mix() in compute(): innermost first, each frame at its own line. */
static void assert_inline_chain(struct elf_object *obj, const struct proc_mapping *m, uint64_t addr)
{
	struct sym_frame f[SYM_MAX_INLINE];
	int n = symbolize_at(obj, m, addr, f);

	cr_assert_eq(n, 2, "expected mix inlined into compute, got %d frames", n);
	cr_assert_str_eq(f[0].function, "mix");
	cr_assert_str_eq(f[1].function, "compute");
	cr_assert(ends_with(f[0].file, "/symtest.c"));
	cr_assert(ends_with(f[1].file, "/symtest.c"));
	cr_assert_eq(f[0].line, marker_line(f[0].file, "@mix-body"));
	cr_assert_eq(f[1].line, marker_line(f[1].file, "@call-mix"),
		     "the caller's frame must be at the call site");
}

Test(symbolizer, symbolizes_a_pie_mapping)
{
	char *path = fixture("symtest");
	struct proc_mapping m = pie_text_mapping(path, PIE_BASE);
	struct symbolizer *sym = symbolizer_new();
	struct elf_object *obj = object_for(sym, getpid(), &m);
	const char *names[] = {"main", "compute", "leaf"};
	struct sym_frame f[SYM_MAX_INLINE];
	uint64_t leaf = symbol_in_file(path, "leaf");
	int begin, end;

	cr_assert(elf_object_has_symbols(obj));
	cr_assert(elf_object_has_lines(obj));
	cr_assert_neq(m.offset, 0, "the text segment starts past the first page");

	for (size_t i = 0; i < 3; i++) {
		uint64_t vaddr = symbol_in_file(path, names[i]);

		cr_assert_eq(elf_object_vaddr(obj, &m, PIE_BASE + vaddr), vaddr);
		assert_function(obj, &m, PIE_BASE + vaddr, names[i]);
	}

	/* leaf's first instruction is on its first lines; its last byte is still leaf. */
	cr_assert_eq(symbolize_at(obj, &m, PIE_BASE + leaf, f), 1);
	begin = marker_line(f[0].file, "@leaf-begin");
	end = marker_line(f[0].file, "@leaf-end");
	cr_assert(f[0].line >= begin && f[0].line <= end, "leaf at line %d", f[0].line);
	cr_assert_eq(symbolize_at(obj, &m, PIE_BASE + leaf + 3, f), 1);
	cr_assert_str_eq(f[0].function, "leaf");
	cr_assert_eq(elf_object_symbolize(obj, 0x10, f, SYM_MAX_INLINE), 0);
	symbolizer_free(sym);
	free(path);
}

Test(symbolizer, returns_the_inline_chain)
{
	char *path = fixture("symtest");
	struct proc_mapping m = pie_text_mapping(path, PIE_BASE);
	struct symbolizer *sym = symbolizer_new();
	struct elf_object *obj = object_for(sym, getpid(), &m);
	uint64_t marker = symbol_in_file(path, "symtest_inline_marker");
	struct sym_frame f[SYM_MAX_INLINE];

	assert_inline_chain(obj, &m, PIE_BASE + marker);
	/* Answered from the cache the second time, identically. */
	assert_inline_chain(obj, &m, PIE_BASE + marker);

	/* With room for one frame, the function the code is really in wins. */
	cr_assert_eq(elf_object_symbolize(obj, marker, f, 1), 1);
	cr_assert_str_eq(f[0].function, "compute");
	symbolizer_free(sym);
	free(path);
}

struct function_ranges {
	const char *prefix;
	uint64_t (*ranges)[2];
	size_t n, max;
};

static bool add_function_range(const GElf_Sym *sym, const char *name, void *ctx)
{
	struct function_ranges *fr = ctx;

	if (GELF_ST_TYPE(sym->st_info) != STT_FUNC || !sym->st_value ||
	    strncmp(name, fr->prefix, strlen(fr->prefix)) != 0)
		return false;
	cr_assert_lt(fr->n, fr->max);
	fr->ranges[fr->n][0] = sym->st_value;
	fr->ranges[fr->n][1] = sym->st_value + sym->st_size;
	fr->n++;
	return false;
}

/* The [start, end) of every function symbol of elf whose name starts with prefix. */
static size_t function_ranges(Elf *elf, const char *prefix, uint64_t (*ranges)[2], size_t max)
{
	struct function_ranges fr = { .prefix = prefix, .ranges = ranges, .max = max };

	each_symbol(elf, true, add_function_range, &fr);
	return fr.n;
}

/* A line of addr2line's output, without its newline and " (discriminator N)". */
static bool a2l_line(FILE *f, char *buf, size_t size)
{
	char *d;

	if (!fgets(buf, size, f))
		return false;
	buf[strcspn(buf, "\n")] = 0;
	d = strstr(buf, " (discriminator ");
	if (d)
		*d = 0;
	return true;
}

/* Our frame as addr2line -f -C prints it: the function, then file:line ("??", "?" unknown). */
static void a2l_format(const struct sym_frame *f, char *fn, char *where, size_t size)
{
	snprintf(fn, size, "%s", f->function ? f->function : "??");
	if (f->line)
		snprintf(where, size, "%s:%d", f->file ? f->file : "??", f->line);
	else
		snprintf(where, size, "%s:?", f->file ? f->file : "??");
}

/*
 * Every byte of fixture's own functions (inline_chain::*, where Rust puts them: in DWARF
 * namespaces), symbolized, against addr2line -i -f -C (binutils) on the same file: the same
 * inline chain, innermost first, each frame with the same name and file:line. Returns the
 * deepest chain seen.
 */
static int assert_matches_addr2line(const char *name)
{
	char *path = fixture(name), cmd[PATH_MAX + 128], fn[1024], where[1024], buf[1024];
	char list[] = "/tmp/asyncprof-a2l.XXXXXX";
	uint64_t ranges[64][2];
	struct proc_mapping m = pie_text_mapping(path, PIE_BASE);
	struct symbolizer *sym = symbolizer_new();
	struct elf_object *obj = object_for(sym, getpid(), &m);
	struct sym_frame f[SYM_MAX_INLINE];
	int fd, deepest = 0;
	size_t nranges, addrs = 0;
	FILE *out;
	Elf *elf = open_elf(path, &fd);

	nranges = function_ranges(elf, "_ZN12inline_chain", ranges, 64);
	elf_end(elf);
	close(fd);
	cr_assert_geq(nranges, 2, "%s: the fixture's functions are missing", path);
	fd = mkstemp(list);
	cr_assert_geq(fd, 0);
	out = fdopen(fd, "w");
	for (size_t r = 0; r < nranges; r++)
		for (uint64_t a = ranges[r][0]; a < ranges[r][1]; a++, addrs++)
			fprintf(out, "%#lx\n", (unsigned long)a);
	fclose(out);
	snprintf(cmd, sizeof(cmd), "addr2line -i -f -C -a -e %s < %s", path, list);
	out = popen(cmd, "r");
	cr_assert_not_null(out, "cannot run addr2line (binutils)");
	cr_assert(a2l_line(out, buf, sizeof(buf)) && strncmp(buf, "0x", 2) == 0,
		  "addr2line printed '%s'", buf);
	for (size_t i = 0; i < addrs; i++) {
		uint64_t vaddr = strtoull(buf, NULL, 16);
		int n = elf_object_symbolize(obj, vaddr, f, SYM_MAX_INLINE), k = 0;
		bool more;

		while ((more = a2l_line(out, buf, sizeof(buf))) && strncmp(buf, "0x", 2) != 0) {
			cr_assert_lt(k, n,
				     "%s at %#lx: addr2line has more than our %d frames, "
				     "next: %s",
				     name, (unsigned long)vaddr, n, buf);
			a2l_format(&f[k], fn, where, sizeof(fn));
			cr_assert_str_eq(buf, fn,
					 "%s at %#lx, frame %d: addr2line says %s, we say %s", name,
					 (unsigned long)vaddr, k, buf, fn);
			cr_assert(a2l_line(out, buf, sizeof(buf)));
			cr_assert_str_eq(buf, where,
					 "%s at %#lx, frame %d (%s): addr2line says %s, "
					 "we say %s",
					 name, (unsigned long)vaddr, k, fn, buf, where);
			k++;
		}
		cr_assert_eq(k, n, "%s at %#lx: addr2line has %d frames, we have %d", name,
			     (unsigned long)vaddr, k, n);
		if (n > deepest)
			deepest = n;
		cr_assert(more || i + 1 == addrs, "addr2line stopped after %zu addresses", i + 1);
	}
	pclose(out);
	unlink(list);
	symbolizer_free(sym);
	free(path);
	return deepest;
}

Test(symbolizer, inline_chains_match_addr2line)
{
	/* debug = 1 (line tables and function entries), as services ship, and debug = 2. */
	int limited = assert_matches_addr2line("inline_chain");
	int full = assert_matches_addr2line("inline_chain.debug2");

	/* mix < checksum's closure < fold < checksum < decode < decode_all's closure < ... */
	cr_assert_geq(limited, 6, "the fixture should nest inlined calls 6 deep, not %d", limited);
	cr_assert_geq(full, 6, "the fixture should nest inlined calls 6 deep, not %d", full);
}

Test(symbolizer, stripped_object_has_no_symbols_but_the_same_build_id)
{
	char *path = fixture("symtest"), *stripped = fixture("symtest.stripped");
	struct proc_mapping m = pie_text_mapping(path, PIE_BASE);
	struct proc_mapping ms = pie_text_mapping(stripped, PIE_BASE);
	struct symbolizer *sym = symbolizer_new();
	struct elf_object *obj = object_for(sym, getpid(), &m);
	struct elf_object *sobj = object_for(sym, getpid(), &ms);
	uint64_t compute = symbol_in_file(path, "compute");
	struct sym_frame f[SYM_MAX_INLINE];
	char expected[128];

	note_build_id(path, expected, sizeof(expected));
	cr_assert_eq(strlen(expected), 40, "symtest has no SHA-1 build-id");
	cr_assert_str_eq(elf_object_build_id(obj), expected);
	cr_assert_str_eq(elf_object_build_id(sobj), expected);
	cr_assert_neq(sobj, obj, "a stripped copy must not share the unstripped symbols");

	cr_assert(!elf_object_has_symbols(sobj));
	cr_assert(!elf_object_has_lines(sobj));
	cr_assert_eq(elf_object_vaddr(sobj, &ms, PIE_BASE + compute), compute);
	cr_assert_eq(elf_object_symbolize(sobj, compute, f, SYM_MAX_INLINE), 0);
	symbolizer_free(sym);
	free(path);
	free(stripped);
}

Test(symbolizer, caches_objects_per_file)
{
	char *path = fixture("symtest");
	struct proc_mapping m = pie_text_mapping(path, PIE_BASE);
	struct proc_mapping other = pie_text_mapping(path, 0x7f0000000000ULL);
	struct symbolizer *sym = symbolizer_new();
	struct elf_object *obj = object_for(sym, getpid(), &m);
	struct sym_frame a[SYM_MAX_INLINE], b[SYM_MAX_INLINE];
	uint64_t leaf = symbol_in_file(path, "leaf");

	cr_assert_eq(object_for(sym, getpid(), &m), obj);
	/* Another process maps it elsewhere: the same object, another runtime address. */
	cr_assert_eq(object_for(sym, getpid(), &other), obj);
	cr_assert_eq(elf_object_vaddr(obj, &other, 0x7f0000000000ULL + leaf), leaf);

	cr_assert_eq(elf_object_symbolize(obj, leaf, a, SYM_MAX_INLINE), 1);
	cr_assert_eq(elf_object_symbolize(obj, leaf, b, SYM_MAX_INLINE), 1);
	cr_assert_eq(a[0].function, b[0].function, "cached strings are the same strings");
	cr_assert_eq(a[0].file, b[0].file);
	symbolizer_free(sym);
	free(path);
}

Test(symbolizer, frees_the_objects_no_process_holds_beyond_max_idle)
{
	char *path = fixture("symtest"), *stripped = fixture("symtest.stripped");
	struct proc_mapping m = pie_text_mapping(path, PIE_BASE);
	struct proc_mapping sm = pie_text_mapping(stripped, PIE_BASE);
	struct symbolizer *sym = symbolizer_new();
	struct elf_object *a = object_for(sym, getpid(), &m), *b = object_for(sym, getpid(), &sm);
	struct sym_frame f[SYM_MAX_INLINE];
	uint64_t leaf = symbol_in_file(path, "leaf");

	symbolizer_set_max_idle(sym, 1);
	symbolizer_hold(sym, a);
	symbolizer_hold(sym, b);
	symbolizer_hold(sym, b); /* a second process maps it */
	symbolizer_release(sym, b);
	symbolizer_release(sym, a);
	cr_assert_eq(object_for(sym, getpid(), &m), a, "one idle object is kept");
	cr_assert_eq(object_for(sym, getpid(), &sm), b, "held by the second process");
	/* b idle too: two idle, one kept, the one idle the longest (a) is freed. */
	symbolizer_release(sym, b);
	cr_assert_eq(object_for(sym, getpid(), &sm), b);
	/* a is parsed again when a process maps it: its symbols are there. */
	a = object_for(sym, getpid(), &m);
	cr_assert_not_null(a);
	cr_assert_eq(elf_object_symbolize(a, leaf, f, SYM_MAX_INLINE), 1);
	cr_assert_str_eq(f[0].function, "leaf");
	symbolizer_free(sym);
	free(path);
	free(stripped);
}

/* Copies the file at from to a new file at to. */
static void copy_file(const char *from, const char *to)
{
	int in = open(from, O_RDONLY), out = open(to, O_WRONLY | O_CREAT | O_TRUNC, 0700);
	char buf[65536];
	ssize_t n;

	cr_assert(in >= 0 && out >= 0, "cannot copy %s to %s", from, to);
	while ((n = read(in, buf, sizeof(buf))) > 0)
		cr_assert_eq(write(out, buf, n), n);
	close(in);
	close(out);
}

Test(symbolizer, shares_objects_with_the_same_build_id)
{
	char *path = fixture("symtest");
	char copy[] = "/tmp/asyncprof-copy-XXXXXX";
	struct proc_mapping m = pie_text_mapping(path, PIE_BASE), mc;
	struct symbolizer *sym = symbolizer_new();
	struct elf_object *obj = object_for(sym, getpid(), &m);

	/* The same binary in another container's file system: another path, inode and mtime. */
	close(mkstemp(copy));
	copy_file(path, copy);
	mc = pie_text_mapping(copy, PIE_BASE);
	cr_assert_neq(mc.inode, m.inode);
	cr_assert_eq(object_for(sym, getpid(), &mc), obj);
	unlink(copy);
	symbolizer_free(sym);
	free(path);
}

Test(symbolizer, caches_failures)
{
	char path[] = "/tmp/asyncprof-not-elf-XXXXXX";
	int fd = mkstemp(path);
	struct proc_mapping m = {.start = 0x1000, .end = 0x2000, .path = path};
	struct symbolizer *sym = symbolizer_new();
	struct stat st;

	cr_assert_geq(fd, 0);
	cr_assert_eq(write(fd, "#!/bin/sh\n", 10), 10);
	cr_assert_eq(fstat(fd, &st), 0);
	close(fd);
	m.inode = st.st_ino;

	cr_assert_null(symbolizer_object(sym, getpid(), &m));
	cr_assert_eq(errno, ENOEXEC);
	/* Gone now, but the answer is remembered rather than looked up again. */
	unlink(path);
	cr_assert_null(symbolizer_object(sym, getpid(), &m));
	cr_assert_eq(errno, ENOEXEC);

	m.path = "[heap]";
	cr_assert_null(symbolizer_object(sym, getpid(), &m));
	cr_assert_eq(errno, EINVAL);
	symbolizer_free(sym);
	symbolizer_free(NULL);
}

Test(symbolizer, symbolizes_a_running_process)
{
	char *path = fixture("symtest");
	const char *names[] = {"main", "compute", "leaf"};
	int in[2], out[2], status;
	unsigned long addrs[4];
	struct proc_maps *maps;
	struct symbolizer *sym = symbolizer_new();
	pid_t pid;
	FILE *f;

	cr_assert_eq(pipe(in), 0);
	cr_assert_eq(pipe(out), 0);
	pid = fork();
	cr_assert_geq(pid, 0);
	if (pid == 0) {
		dup2(in[0], 0);
		dup2(out[1], 1);
		close(in[1]);
		close(out[0]);
		execl(path, path, "wait", (char *)NULL);
		_exit(127);
	}
	close(in[0]);
	close(out[1]);
	f = fdopen(out[0], "r");
	cr_assert_eq(fscanf(f, "%lx %lx %lx %lx", &addrs[0], &addrs[1], &addrs[2], &addrs[3]), 4,
		     "symtest did not print its addresses");
	cr_assert_eq(procmaps_read(pid, &maps), 0);

	for (size_t i = 0; i < 4; i++) {
		const struct proc_mapping *m = procmaps_find(maps, addrs[i]);
		struct elf_object *obj;
		const char *name = i < 3 ? names[i] : "symtest_inline_marker";

		cr_assert_not_null(m, "%s is not mapped", name);
		cr_assert(m->executable);
		cr_assert_str_eq(m->path, path);
		obj = object_for(sym, pid, m);
		cr_assert_eq(elf_object_vaddr(obj, m, addrs[i]), symbol_in_file(path, name));
		if (i < 3)
			assert_function(obj, m, addrs[i], name);
		else
			assert_inline_chain(obj, m, addrs[i]);
	}
	procmaps_free(maps);
	symbolizer_free(sym);
	close(in[1]);
	fclose(f);
	cr_assert_eq(waitpid(pid, &status, 0), pid);
	cr_assert(WIFEXITED(status) && WEXITSTATUS(status) == 0);
	free(path);
}

Test(symbolizer, symbolizes_a_shared_library)
{
	struct symbolizer *sym = symbolizer_new();
	const struct proc_mapping *m;
	struct proc_maps *maps;
	struct elf_object *obj;
	struct sym_frame f[SYM_MAX_INLINE];
	uint64_t addr = (uintptr_t)&getpid;
	int n;

	cr_assert_eq(procmaps_read(getpid(), &maps), 0);
	m = procmaps_find(maps, addr);
	cr_assert_not_null(m);
	cr_assert(strstr(m->path, "libc.so"), "getpid is in %s", m->path);
	cr_assert_neq(m->offset, 0, "libc's text is mapped at a file offset");
	obj = object_for(sym, getpid(), m);
	cr_assert(elf_object_has_symbols(obj));
	n = symbolize_at(obj, m, addr, f);
	cr_assert_geq(n, 1);
	/* Its DWARF (with libc6-dbg) names the assembly wrapper after its first label, as
	 * addr2line does; the symbol tables say getpid or __getpid. */
	cr_assert(strcmp(f[n - 1].function, "getpid") == 0 ||
		      strcmp(f[n - 1].function, "__getpid") == 0 ||
		      strcmp(f[n - 1].function, "__GI_getpid") == 0,
		  "getpid symbolized as %s", f[n - 1].function);
	procmaps_free(maps);
	symbolizer_free(sym);
}

Test(symbolizer, symbolizes_the_vdso)
{
	uint64_t base = getauxval(AT_SYSINFO_EHDR), value;
	struct symbolizer *sym = symbolizer_new();
	const struct proc_mapping *m;
	struct proc_maps *maps;
	struct elf_object *obj;
	struct sym_frame f[SYM_MAX_INLINE];
	Elf *vdso;
	int n;

	cr_assert_neq(base, 0, "no vdso");
	cr_assert_eq(procmaps_read(getpid(), &maps), 0);
	m = procmaps_find(maps, base);
	cr_assert_not_null(m);
	cr_assert_str_eq(m->path, "[vdso]");

	vdso = elf_memory((char *)(uintptr_t)base, m->end - m->start);
	cr_assert_not_null(vdso);
	cr_assert(elf_symbol(vdso, "__vdso_clock_gettime", &value));
	elf_end(vdso);

	obj = object_for(sym, getpid(), m);
	cr_assert(elf_object_has_symbols(obj));
	cr_assert_neq(elf_object_build_id(obj)[0], '\0');
	cr_assert_eq(elf_object_vaddr(obj, m, base + value), value);
	n = symbolize_at(obj, m, base + value, f);
	cr_assert_eq(n, 1);
	cr_assert(strstr(f[0].function, "clock_gettime"), "got %s", f[0].function);
	cr_assert_eq(object_for(sym, getpid(), m), obj);
	procmaps_free(maps);
	symbolizer_free(sym);
}

/* Runs a shell command for a test that builds its own variant of the fixture. */
static void run(const char *fmt, ...)
{
	char *cmd;
	va_list ap;
	int rc;

	va_start(ap, fmt);
	cr_assert_geq(vasprintf(&cmd, fmt, ap), 0);
	va_end(ap);
	rc = system(cmd);
	cr_assert_eq(rc, 0, "failed: %s", cmd);
	free(cmd);
}

static bool have_tools(const char *tools)
{
	char *cmd;
	int rc;

	cr_assert_geq(
	    asprintf(&cmd, "for t in %s; do command -v $t >/dev/null || exit 1; done", tools), 0);
	rc = system(cmd);
	free(cmd);
	return rc == 0;
}

Test(symbolizer, reads_minidebuginfo)
{
	char *path = fixture("symtest");
	char dir[] = "/tmp/asyncprof-mini-XXXXXX", *mini;
	struct symbolizer *sym = symbolizer_new();
	struct proc_mapping m;
	struct elf_object *obj;
	struct sym_frame f[SYM_MAX_INLINE];
	uint64_t compute = symbol_in_file(path, "compute");

	if (!have_tools("nm objcopy strip xz"))
		cr_skip_test("binutils and xz are needed to build MiniDebugInfo");
	cr_assert_not_null(mkdtemp(dir));
	/* As distributions build it: the function symbols .dynsym lacks, xz-compressed. */
	run("cd %s && nm %s --format=posix --defined-only | awk '$2 ~ /^[Tt]$/ {print $1}' > keep"
	    " && objcopy --only-keep-debug %s full.debug"
	    " && objcopy -S --remove-section .comment --keep-symbols=keep full.debug mini"
	    " && xz mini && strip --strip-all %s -o symtest.mini"
	    " && objcopy --add-section .gnu_debugdata=mini.xz symtest.mini",
	    dir, path, path, path);
	cr_assert_geq(asprintf(&mini, "%s/symtest.mini", dir), 0);

	m = pie_text_mapping(mini, PIE_BASE);
	obj = object_for(sym, getpid(), &m);
	cr_assert(elf_object_has_symbols(obj));
	cr_assert(!elf_object_has_lines(obj));
	cr_assert_eq(symbolize_at(obj, &m, PIE_BASE + compute, f), 1);
	cr_assert_str_eq(f[0].function, "compute");
	cr_assert_null(f[0].file);
	run("rm -r %s", dir);
	symbolizer_free(sym);
	free(mini);
	free(path);
}

Test(symbolizer, finds_a_separate_debug_file)
{
	char *path = fixture("symtest");
	char dir[] = "/tmp/asyncprof-debuglink-XXXXXX", *exe;
	struct symbolizer *sym = symbolizer_new();
	struct proc_mapping m;
	struct elf_object *obj;

	if (!have_tools("objcopy strip"))
		cr_skip_test("binutils are needed to split debug information");
	cr_assert_not_null(mkdtemp(dir));
	/* Stripped, with a .gnu_debuglink to the debug file in the .debug directory beside it. */
	run("cd %s && mkdir .debug && objcopy --only-keep-debug %s .debug/symtest.debug"
	    " && strip --strip-all %s -o symtest"
	    " && objcopy --add-gnu-debuglink=.debug/symtest.debug symtest",
	    dir, path, path);
	cr_assert_geq(asprintf(&exe, "%s/symtest", dir), 0);

	m = pie_text_mapping(exe, PIE_BASE);
	obj = object_for(sym, getpid(), &m);
	cr_assert(elf_object_has_symbols(obj), "the debug file's .symtab is used");
	cr_assert(elf_object_has_lines(obj));
	assert_function(obj, &m, PIE_BASE + symbol_in_file(path, "leaf"), "leaf");
	assert_inline_chain(obj, &m, PIE_BASE + symbol_in_file(path, "symtest_inline_marker"));
	run("rm -r %s", dir);
	symbolizer_free(sym);
	free(exe);
	free(path);
}

Test(symbolizer, symbolizes_a_non_pie_executable)
{
	char *path = fixture("symtest");
	char dir[] = "/tmp/asyncprof-nopie-XXXXXX", *exe;
	struct symbolizer *sym = symbolizer_new();
	struct proc_mapping m;
	struct elf_object *obj;
	struct sym_frame f[SYM_MAX_INLINE];
	uint64_t leaf;
	int n;

	if (!have_tools("gcc"))
		cr_skip_test("gcc is needed to build a non-PIE executable");
	/* The fixture's DWARF names its source. */
	m = pie_text_mapping(path, PIE_BASE);
	obj = object_for(sym, getpid(), &m);
	n = symbolize_at(obj, &m, PIE_BASE + symbol_in_file(path, "main"), f);
	cr_assert_geq(n, 1);
	cr_assert_not_null(mkdtemp(dir));
	cr_assert_geq(asprintf(&exe, "%s/symtest.nopie", dir), 0);
	run("gcc -O2 -g -fomit-frame-pointer -no-pie '%s' -o %s", f[n - 1].file, exe);

	/* ET_EXEC: mapped at its link-time addresses, so runtime and link-time agree. */
	m = pie_text_mapping(exe, 0);
	obj = object_for(sym, getpid(), &m);
	leaf = symbol_in_file(exe, "leaf");
	cr_assert_geq(leaf, 0x400000);
	cr_assert_eq(elf_object_vaddr(obj, &m, leaf), leaf);
	assert_function(obj, &m, leaf, "leaf");
	assert_inline_chain(obj, &m, symbol_in_file(exe, "symtest_inline_marker"));
	run("rm -r %s", dir);
	symbolizer_free(sym);
	free(exe);
	free(path);
}

Test(demangle, demangles_cpp_and_rust)
{
	const char *cases[][2] = {
	    {"_ZN4core3ptr13drop_in_place17h0123456789abcdefE", "core::ptr::drop_in_place"},
	    {"_ZN5tokio7runtime4task3raw4poll17h9d2cf3a1b2c4e5f6E",
	     "tokio::runtime::task::raw::poll"},
	    {"_RNvNtCs1234_7mycrate3foo3bar", "mycrate::foo::bar"},
	    {"_RINvCs1234_7mycrate3fooNtB2_3BarE", "mycrate::foo::<mycrate::Bar>"},
	    {"_ZNSt6vectorIiSaIiEE9push_backERKi",
	     "std::vector<int, std::allocator<int> >::push_back(int const&)"},
	    {"_ZN2ns3Acc3addERKSsi", "ns::Acc::add(std::string const&, int)"},
	    {"_ZN3foo3barE", "foo::bar"},
	};

	for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
		char *out = demangle(cases[i][0]);

		cr_assert_not_null(out, "%s not demangled", cases[i][0]);
		cr_assert_str_eq(out, cases[i][1]);
		free(out);
	}
	cr_assert_null(demangle("main"));
	cr_assert_null(demangle("_Zgarbage"));
	cr_assert_null(demangle(""));
}

/* The address of a text symbol in /proc/kallsyms; 0 when it is not there. */
static uint64_t kallsyms_address(const char *name, char *module, size_t cap)
{
	FILE *f = fopen("/proc/kallsyms", "r");
	char line[512], sym[256], mod[256];
	unsigned long long addr;
	char type;

	cr_assert_not_null(f);
	while (fgets(line, sizeof(line), f)) {
		int n = sscanf(line, "%llx %c %255s [%255[^]]]", &addr, &type, sym, mod);

		if (n < 3 || strchr("tT", type) == NULL)
			continue;
		if ((name && strcmp(sym, name) == 0) || (!name && n == 4)) {
			if (module)
				snprintf(module, cap, "%s [%s]", sym, n == 4 ? mod : "");
			fclose(f);
			return addr;
		}
	}
	fclose(f);
	return 0;
}

Test(kallsyms, resolves_kernel_addresses)
{
	struct kallsyms *ks = NULL;
	uint64_t schedule = kallsyms_address("schedule", NULL, 0), offset, mod_addr;
	char mod_name[600];
	const char *name;
	int err = kallsyms_load(&ks);

	if (!schedule) {
		cr_assert_eq(err, -EPERM, "addresses are hidden, so loading must fail");
		cr_assert_null(ks);
		return;
	}
	cr_assert_eq(err, 0);
	name = kallsyms_lookup(ks, schedule, &offset);
	cr_assert_str_eq(name, "schedule");
	cr_assert_eq(offset, 0);
	name = kallsyms_lookup(ks, schedule + 4, &offset);
	cr_assert_str_eq(name, "schedule");
	cr_assert_eq(offset, 4);
	cr_assert_null(kallsyms_lookup(ks, 0x1000, NULL));

	mod_addr = kallsyms_address(NULL, mod_name, sizeof(mod_name));
	if (mod_addr) {
		name = kallsyms_lookup(ks, mod_addr, &offset);
		cr_assert_not_null(name);
		cr_assert_eq(offset, 0);
		cr_assert(strchr(name, '['), "module symbol %s has no module", name);
	}
	kallsyms_free(ks);
	kallsyms_free(NULL);
}

/* A PLT entry is named after its callee, as objdump labels it ("printf@plt"), at any byte. */
Test(symbolizer, names_plt_entries)
{
	char *path = fixture("symtest");
	struct symbolizer *sym = symbolizer_new();
	struct proc_mapping m = pie_text_mapping(path, PIE_BASE);
	struct elf_object *obj = object_for(sym, getpid(), &m);
	char cmd[512], line[512];
	size_t entries = 0;
	FILE *p;

	snprintf(cmd, sizeof(cmd), "objdump -d -j .plt -j .plt.sec '%s' 2>/dev/null", path);
	p = popen(cmd, "r");
	cr_assert_not_null(p);
	while (fgets(line, sizeof(line), p)) {
		unsigned long long addr;
		char name[256];

		/* "printf@plt-0x10" labels the PLT's reserved first entry. */
		if (sscanf(line, "%llx <%255[^>]>:", &addr, name) != 2 || !ends_with(name, "@plt"))
			continue;
		for (int off = 0; off < 16; off += 8) {
			struct sym_frame f[SYM_MAX_INLINE];
			int n = symbolize_at(obj, &m, PIE_BASE + addr + off, f);

			cr_assert_eq(n, 1, "%s+%d: %d frames", name, off, n);
			cr_assert_str_eq(f[0].function, name);
		}
		entries++;
	}
	pclose(p);
	cr_assert_geq(entries, 3, "objdump shows %zu PLT entries in %s", entries, path);
	symbolizer_free(sym);
	free(path);
}
