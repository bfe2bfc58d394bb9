// SPDX-License-Identifier: MIT
/*
 * go_binary against small programs built here with Go 1.19 and 1.23, each three ways: default
 * (DWARF and .symtab), -ldflags=-w (symbols, no DWARF: the built-in table) and -ldflags='-s -w'
 * (neither). The expected runtime.g offsets are the ones measured from the DWARF of reference builds.
 *
 * Symbol addresses are checked against nm, and the built-in wait reason names against the
 * binary's own runtime.waitReasonStrings, read here with libelf. The stripped build lays its
 * data out a few bytes apart from the default one, so the addresses found in its code are
 * checked against nm's for the default build, moved by as much as their section moved.
 */
#include <criterion/criterion.h>

#include <errno.h>
#include <fcntl.h>
#include <gelf.h>
#include <libelf.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "runtimes/go/go_binary.h"
#include "go_examples.h"

static const char PROGRAM[] = "package main\n"
			      "\n"
			      "func main() {\n"
			      "\tc := make(chan int)\n"
			      "\tgo func() { c <- 1 }()\n"
			      "\t<-c\n"
			      "}\n";

enum variant { DEFAULT, NO_DWARF, STRIPPED, NVARIANTS };

static const char *const LDFLAGS[NVARIANTS] = {"", "-ldflags=-w", "'-ldflags=-s -w'"};

struct expected {
	const char *version_prefix;
	int minor;
	struct go_g_offsets g;
	uint64_t wait_reason_count;
};

static const struct expected GO119 = {
	.version_prefix = "go1.19",
	.minor = 19,
	.g = {.atomicstatus = 144, .goid = 152, .waitsince = 168, .waitreason = 176, .gopc = 296,
	      .startpc = 312, .sched_sp = 56, .sched_pc = 64, .sched_bp = 104, .size = 392},
	.wait_reason_count = 27,
};

static const struct expected GO123 = {
	.version_prefix = "go1.23",
	.minor = 23,
	.g = {.atomicstatus = 152, .goid = 160, .waitsince = 176, .waitreason = 184, .gopc = 288,
	      .startpc = 304, .parent_goid = 280, .sched_sp = 56, .sched_pc = 64, .sched_bp = 104,
	      .size = 432},
	.wait_reason_count = 38,
};

struct build {
	char dir[64];
	char bin[NVARIANTS][128];
};

static void run(const char *cmd)
{
	int rc = system(cmd);

	cr_assert_eq(rc, 0, "failed (%d): %s", rc, cmd);
}

/* Builds the program three ways with the toolchain in /usr/lib/go-1.<minor>. */
static void build_all(struct build *b, int minor)
{
	char go[64], src[128], *cmd;
	FILE *f;
	int v;

	snprintf(go, sizeof(go), "/usr/lib/go-1.%d/bin/go", minor);
	if (access(go, X_OK))
		cr_skip_test("%s is not installed (Debian package golang-1.%d-go)", go, minor);

	strcpy(b->dir, "/tmp/test_go_binary.XXXXXX");
	cr_assert_not_null(mkdtemp(b->dir));
	snprintf(src, sizeof(src), "%s/main.go", b->dir);
	f = fopen(src, "w");
	cr_assert_not_null(f);
	fputs(PROGRAM, f);
	cr_assert_eq(fclose(f), 0);

	/* A private cache and home: nothing outside the temporary directory is written. */
	for (v = 0; v < NVARIANTS; v++) {
		snprintf(b->bin[v], sizeof(b->bin[v]), "%s/prog%d", b->dir, v);
		cr_assert_geq(asprintf(&cmd,
				       "cd %s && HOME=%s GOCACHE=%s/cache GO111MODULE=off "
				       "GOTOOLCHAIN=local GOFLAGS= CGO_ENABLED=0 "
				       "%s build %s -o %s main.go",
				       b->dir, b->dir, b->dir, go, LDFLAGS[v], b->bin[v]),
			      0);
		run(cmd);
		free(cmd);
	}
}

static void remove_build(struct build *b)
{
	char *cmd;

	cr_assert_geq(asprintf(&cmd, "chmod -R u+w %s && rm -rf %s", b->dir, b->dir), 0);
	run(cmd);
	free(cmd);
}

/* Address of a symbol as nm sees it; 0 when nm lists none. */
static uint64_t nm_address(const char *bin, const char *name)
{
	unsigned long long addr = 0;
	char *cmd, line[512];
	FILE *p;

	cr_assert_geq(asprintf(&cmd, "nm %s 2>/dev/null", bin), 0);
	p = popen(cmd, "r");
	cr_assert_not_null(p);
	while (fgets(line, sizeof(line), p)) {
		unsigned long long a;
		char type, sym[256];

		if (sscanf(line, "%llx %c %255s", &a, &type, sym) == 3 && !strcmp(sym, name))
			addr = a;
	}
	pclose(p);
	free(cmd);
	return addr;
}

/* Copies n bytes at link-time address addr out of the file's PT_LOAD segments. */
static void read_vaddr(Elf *elf, uint64_t addr, void *buf, size_t n)
{
	size_t size, nphdr, i;
	char *file = elf_rawfile(elf, &size);

	cr_assert_not_null(file);
	cr_assert_eq(elf_getphdrnum(elf, &nphdr), 0);
	for (i = 0; i < nphdr; i++) {
		GElf_Phdr ph;

		cr_assert_not_null(gelf_getphdr(elf, i, &ph));
		if (ph.p_type != PT_LOAD || addr < ph.p_vaddr ||
		    addr + n > ph.p_vaddr + ph.p_filesz)
			continue;
		memcpy(buf, file + ph.p_offset + (addr - ph.p_vaddr), n);
		return;
	}
	cr_assert_fail("address %#lx is not in the file", (unsigned long)addr);
}

/* Every name the built-in table gives must be the binary's own string for that value. */
static void check_reason_names(const char *bin, const struct go_binary *gb)
{
	unsigned int named = 0;
	uint64_t i;
	Elf *elf;
	int fd;

	cr_assert_neq(elf_version(EV_CURRENT), EV_NONE);
	fd = open(bin, O_RDONLY);
	cr_assert_geq(fd, 0);
	elf = elf_begin(fd, ELF_C_READ, NULL);
	cr_assert_not_null(elf);
	for (i = 0; i < gb->wait_reason_count; i++) {
		const char *name = go_wait_reason_name(gb, i);
		uint64_t hdr[2];
		char str[64];

		if (!name)
			continue;
		read_vaddr(elf, gb->wait_reason_strings + 16 * i, hdr, sizeof(hdr));
		cr_assert_lt(hdr[1], sizeof(str));
		read_vaddr(elf, hdr[0], str, hdr[1]);
		str[hdr[1]] = '\0';
		cr_expect_str_eq(name, str, "%s: wait reason %lu", gb->version, (unsigned long)i);
		named++;
	}
	/* The table names at least the 12 reasons 1.19 already had. */
	cr_expect_geq(named, 12, "%s: only %u names", gb->version, named);
	elf_end(elf);
	close(fd);
}

/*
 * A copy of bin without section headers: the version must then be found by scanning the
 * writable segment, and the pclntab by scanning the read-only ones.
 */
static void check_without_section_headers(const char *bin, const struct expected *exp)
{
	char copy[160], *cmd;
	struct go_binary *gb, *with;

	snprintf(copy, sizeof(copy), "%s.noshdr", bin);
	cr_assert_geq(asprintf(&cmd, "cp %s %s", bin, copy), 0);
	run(cmd);
	free(cmd);
	drop_section_headers(copy);

	cr_assert_eq(go_binary_analyze(copy, &gb), 0);
	cr_expect_eq(strncmp(gb->version, exp->version_prefix, strlen(exp->version_prefix)), 0,
		     "no section headers: version %s", gb->version);
	cr_expect_eq(gb->minor, exp->minor);
	cr_expect_not(gb->offsets_from_dwarf);
	cr_expect_not(gb->has_symbols);
	cr_expect_arr_eq(&gb->g, &exp->g, sizeof(gb->g));
	/* The pclntab is found by its magic, and the code through it as with the headers. */
	cr_assert_eq(go_binary_analyze(bin, &with), 0);
	cr_expect_neq(gb->allgs, 0);
	cr_expect_eq(gb->allgs, with->allgs);
	cr_expect_eq(gb->allglen, with->allglen);
	cr_expect_eq(gb->wait_reason_strings, with->wait_reason_strings);
	cr_expect_eq(gb->wait_reason_count, with->wait_reason_count);
	go_binary_free(with);
	go_binary_free(gb);
}

/* The link-time address of section name in bin, and its size when size is not NULL. */
static uint64_t section_addr(const char *bin, const char *name, uint64_t *size)
{
	size_t shstrndx;
	Elf_Scn *scn = NULL;
	uint64_t addr = 0;
	GElf_Shdr sh;
	Elf *elf;
	int fd = open(bin, O_RDONLY);

	cr_assert_geq(fd, 0);
	elf = elf_begin(fd, ELF_C_READ, NULL);
	cr_assert_not_null(elf);
	cr_assert_eq(elf_getshdrstrndx(elf, &shstrndx), 0);
	while ((scn = elf_nextscn(elf, scn)))
		if (gelf_getshdr(scn, &sh) &&
		    !strcmp(elf_strptr(elf, shstrndx, sh.sh_name), name)) {
			addr = sh.sh_addr;
			if (size)
				*size = sh.sh_size;
		}
	elf_end(elf);
	close(fd);
	cr_assert_neq(addr, 0, "%s has no %s", bin, name);
	return addr;
}

/* Where nm's address of symbol name in the default build lies in the stripped build. */
static uint64_t moved_address(const struct build *b, const char *name)
{
	const char *const sections[] = {".noptrdata", ".data", ".bss", ".noptrbss"};
	uint64_t addr = nm_address(b->bin[DEFAULT], name);

	for (size_t i = 0; i < sizeof(sections) / sizeof(sections[0]); i++) {
		uint64_t size, start = section_addr(b->bin[DEFAULT], sections[i], &size);

		if (addr >= start && addr < start + size)
			return addr - start + section_addr(b->bin[STRIPPED], sections[i], NULL);
	}
	cr_assert_fail("%s at %#lx is in no data section", name, (unsigned long)addr);
	return 0;
}

static void check_variant(const struct build *b, enum variant v, const struct expected *exp)
{
	const char *bin = b->bin[v];
	struct go_binary *gb = NULL;
	int err = go_binary_analyze(bin, &gb);

	cr_assert_eq(err, 0, "%s (variant %d): %s", bin, v, strerror(-err));
	cr_expect_eq(strncmp(gb->version, exp->version_prefix, strlen(exp->version_prefix)), 0,
		     "variant %d: version %s", v, gb->version);
	cr_expect_eq(gb->major, 1);
	cr_expect_eq(gb->minor, exp->minor);
	cr_expect_eq(gb->offsets_from_dwarf, v == DEFAULT, "variant %d", v);
	cr_expect_eq(gb->g.atomicstatus, exp->g.atomicstatus, "variant %d", v);
	cr_expect_eq(gb->g.goid, exp->g.goid, "variant %d", v);
	cr_expect_eq(gb->g.waitsince, exp->g.waitsince, "variant %d", v);
	cr_expect_eq(gb->g.waitreason, exp->g.waitreason, "variant %d", v);
	cr_expect_eq(gb->g.gopc, exp->g.gopc, "variant %d", v);
	cr_expect_eq(gb->g.startpc, exp->g.startpc, "variant %d", v);
	cr_expect_eq(gb->g.parent_goid, exp->g.parent_goid, "variant %d", v);
	cr_expect_eq(gb->g.sched_sp, exp->g.sched_sp, "variant %d", v);
	cr_expect_eq(gb->g.sched_pc, exp->g.sched_pc, "variant %d", v);
	cr_expect_eq(gb->g.sched_bp, exp->g.sched_bp, "variant %d", v);
	cr_expect_eq(gb->g.size, exp->g.size, "variant %d", v);

	if (v == STRIPPED) {
		/* Found in the code of runtime.allgadd and runtime.waitReason.String. */
		cr_expect_not(gb->has_symbols);
		cr_expect_eq(gb->allgs, moved_address(b, "runtime.allgs"));
		cr_expect_eq(gb->allglen, moved_address(b, "runtime.allglen"));
		cr_expect_eq(gb->wait_reason_strings,
			     moved_address(b, "runtime.waitReasonStrings"));
		cr_expect_eq(gb->wait_reason_count, exp->wait_reason_count);
		check_reason_names(bin, gb);
	} else {
		cr_expect(gb->has_symbols);
		cr_expect_neq(gb->allgs, 0);
		cr_expect_eq(gb->allgs, nm_address(bin, "runtime.allgs"));
		cr_expect_eq(gb->allglen, nm_address(bin, "runtime.allglen"));
		cr_expect_eq(gb->wait_reason_strings, nm_address(bin, "runtime.waitReasonStrings"));
		cr_expect_eq(gb->wait_reason_count, exp->wait_reason_count, "variant %d", v);
		check_reason_names(bin, gb);
	}
	go_binary_free(gb);
}

static void check_toolchain(const struct expected *exp)
{
	struct build b;
	int v;

	build_all(&b, exp->minor);
	for (v = 0; v < NVARIANTS; v++)
		check_variant(&b, v, exp);
	check_without_section_headers(b.bin[STRIPPED], exp);
	remove_build(&b);
}

Test(go_binary, go1_19, .timeout = 600)
{
	check_toolchain(&GO119);
}

Test(go_binary, go1_23, .timeout = 600)
{
	check_toolchain(&GO123);
}

Test(go_binary, not_go)
{
	struct go_binary *gb = (struct go_binary *)1;

	cr_expect_eq(go_binary_analyze("/bin/true", &gb), -ENOENT);
	cr_expect_null(gb);
	cr_expect_eq(go_binary_analyze("/etc/passwd", &gb), -ENOEXEC);
	cr_expect_eq(go_binary_analyze("/nonexistent/go-program", &gb), -ENOENT);
	go_binary_free(NULL);
}

/* The values measured from reference builds, with no binary: the table must not depend on one. */
Test(go_binary, wait_reason_names)
{
	struct go_binary g119 = {.major = 1, .minor = 19};
	struct go_binary g123 = {.major = 1, .minor = 23};
	struct go_binary g126 = {.major = 1, .minor = 26};
	struct go_binary g120 = {.major = 1, .minor = 20};

	cr_expect_str_eq(go_wait_reason_name(&g119, 14), "chan receive");
	cr_expect_str_eq(go_wait_reason_name(&g119, 18), "semacquire");
	/* 1.19 has no sync.Mutex.Lock: 21 is one of its runtime-internal reasons. */
	cr_expect_null(go_wait_reason_name(&g119, 21));
	cr_expect_str_eq(go_wait_reason_name(&g123, 21), "sync.Mutex.Lock");
	cr_expect_str_eq(go_wait_reason_name(&g123, 28), "preempted");
	/* 1.26 renumbered the channel reasons. */
	cr_expect_str_eq(go_wait_reason_name(&g126, 19), "chan receive");
	cr_expect_null(go_wait_reason_name(&g120, 14));
	cr_expect_null(go_wait_reason_name(&g123, 0));
}
