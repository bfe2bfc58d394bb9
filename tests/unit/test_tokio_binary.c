// SPDX-License-Identifier: MIT
/*
 * tokio_binary against build/examples/tokio/chain (tokio 1.24.2, release, debug=1, legacy
 * mangling): main spawns task_a, which spawns task_b, which spawns task_c.
 *
 * What the analysis reports is checked against the file as read here with libelf, never with
 * the code under test: the mangled symbols at each address, the relocations that fill each
 * vtable, the bytes at each ret, and the thread-pointer displacement the program's own code
 * uses for CONTEXT, the encoding of each update of NEXT_ID. Copies made with strip exercise
 * the paths without symbols or DWARF. The chain built by the current stable rustc with a newer
 * Tokio (build/examples/tokio-newer), when there is one, is checked for what changes with them.
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

#include "build_file.h"
#include "runtimes/tokio/spawn_probe.h"
#include "mutated_copy.h"
#include "runtimes/tokio/tokio_binary.h"
#include "capture/probe_site.h"

/* Legacy mangled names: prefixes up to the hash. */
#define RAW "_ZN5tokio7runtime4task3raw"
#define HARNESS "_ZN5tokio7runtime4task7harness20Harness$LT$T$C$S$GT$"
#define WAKER "_ZN5tokio7runtime4task5waker"
#define RAW_POLL RAW "4poll17h"
#define RAW_SCHEDULE RAW "8schedule17h"
#define RAW_DEALLOC RAW "7dealloc17h"
#define RAW_TRY_READ_OUTPUT RAW "15try_read_output17h"
#define HARNESS_POLL HARNESS "4poll17h"
#define HARNESS_COMPLETE HARNESS "8complete17h"
#define NEXT_ID "_ZN5tokio7runtime4task2id2Id4next7NEXT_ID17h"

static const char *const TASKS[] = {"task_a", "task_b", "task_c"};
#define NTASKS (sizeof(TASKS) / sizeof(TASKS[0]))

struct symbol {
	uint64_t addr, size;
	const char *name;
};

/* The file as libelf reads it, with its .symtab. */
struct image {
	int fd;
	Elf *elf;
	struct symbol *syms;
	size_t nsyms;
};

static char *chain_path(void)
{
	return build_file("examples/tokio", "chain", "tokio-examples");
}

static void image_open(struct image *im, const char *path)
{
	Elf_Scn *scn = NULL;
	GElf_Shdr sh;

	cr_assert_neq(elf_version(EV_CURRENT), EV_NONE);
	memset(im, 0, sizeof(*im));
	im->fd = open(path, O_RDONLY);
	cr_assert_geq(im->fd, 0, "cannot open %s", path);
	im->elf = elf_begin(im->fd, ELF_C_READ, NULL);
	cr_assert_not_null(im->elf, "%s: %s", path, elf_errmsg(-1));
	while ((scn = elf_nextscn(im->elf, scn))) {
		Elf_Data *data = elf_getdata(scn, NULL);

		gelf_getshdr(scn, &sh);
		if (sh.sh_type != SHT_SYMTAB || !data)
			continue;
		im->syms = calloc(sh.sh_size / sh.sh_entsize, sizeof(*im->syms));
		cr_assert_not_null(im->syms);
		for (size_t i = 0; i < sh.sh_size / sh.sh_entsize; i++) {
			GElf_Sym s;

			gelf_getsym(data, i, &s);
			if (!s.st_value)
				continue;
			im->syms[im->nsyms++] = (struct symbol){
			    .addr = s.st_value,
			    .size = s.st_size,
			    .name = elf_strptr(im->elf, sh.sh_link, s.st_name),
			};
		}
	}
}

static void image_close(struct image *im)
{
	free(im->syms);
	elf_end(im->elf);
	close(im->fd);
}

static bool has_prefix(const char *s, const char *prefix)
{
	return s && strncmp(s, prefix, strlen(prefix)) == 0;
}

/* Whether a symbol named prefix... starts at addr (merged functions have several names). */
static bool symbol_at(const struct image *im, uint64_t addr, const char *prefix)
{
	for (size_t i = 0; i < im->nsyms; i++)
		if (im->syms[i].addr == addr && has_prefix(im->syms[i].name, prefix))
			return true;
	return false;
}

static bool inside_symbol(const struct image *im, uint64_t addr, const char *prefix)
{
	for (size_t i = 0; i < im->nsyms; i++) {
		const struct symbol *s = &im->syms[i];

		if (addr >= s->addr && addr < s->addr + s->size && has_prefix(s->name, prefix))
			return true;
	}
	return false;
}

/* Whether the dynamic relocations store addend at where, as a PIE's vtable slots are filled. */
static bool relative_reloc(const struct image *im, uint64_t where, uint64_t addend)
{
	Elf_Scn *scn = NULL;
	GElf_Shdr sh;

	while ((scn = elf_nextscn(im->elf, scn))) {
		Elf_Data *data = elf_getdata(scn, NULL);

		gelf_getshdr(scn, &sh);
		if (sh.sh_type != SHT_RELA || !data)
			continue;
		for (size_t i = 0; i < sh.sh_size / sh.sh_entsize; i++) {
			GElf_Rela r;

			gelf_getrela(data, i, &r);
			if (r.r_offset == where && GELF_R_TYPE(r.r_info) == R_X86_64_RELATIVE)
				return (uint64_t)r.r_addend == addend;
		}
	}
	return false;
}

/* Copies len bytes at vaddr from the section that holds them. */
static void section_bytes(const struct image *im, uint64_t vaddr, void *buf, size_t len)
{
	Elf_Scn *scn = NULL;
	GElf_Shdr sh;

	while ((scn = elf_nextscn(im->elf, scn))) {
		Elf_Data *data;

		gelf_getshdr(scn, &sh);
		if (sh.sh_type != SHT_PROGBITS || !(sh.sh_flags & SHF_ALLOC) ||
		    vaddr < sh.sh_addr || vaddr + len > sh.sh_addr + sh.sh_size)
			continue;
		data = elf_getdata(scn, NULL);
		cr_assert_not_null(data);
		memcpy(buf, (const char *)data->d_buf + (vaddr - sh.sh_addr), len);
		return;
	}
	cr_assert_fail("no section holds 0x%llx", (unsigned long long)vaddr);
}

/* The bytes a uprobe at vaddr would see. */
static void file_bytes(const char *path, uint64_t vaddr, void *buf, size_t len)
{
	struct probe_image *img;
	int64_t off;
	int fd = open(path, O_RDONLY);

	cr_assert_eq(probe_image_open(path, &img), 0);
	off = probe_image_file_offset(img, vaddr);
	probe_image_free(img);

	cr_assert_geq(off, 0, "no file offset for 0x%llx", (unsigned long long)vaddr);
	cr_assert_geq(fd, 0);
	cr_assert_eq(pread(fd, buf, len, off), (ssize_t)len);
	close(fd);
}

static struct tokio_binary *analyze(const char *path)
{
	struct tokio_binary *tb = NULL;
	int err = tokio_binary_analyze(path, &tb);

	cr_assert_eq(err, 0, "analyzing %s: %s", path, strerror(-err));
	cr_assert_not_null(tb);
	return tb;
}

/* A copy of path made by strip with the given option, in a fresh directory. */
static char *stripped_copy(const char *path, const char *option, char *dir)
{
	char *copy, *cmd;

	cr_assert_not_null(mkdtemp(dir));
	cr_assert_geq(asprintf(&copy, "%s/chain", dir), 0);
	cr_assert_geq(asprintf(&cmd, "strip %s -o '%s' '%s'", option, copy, path), 0);
	cr_assert_eq(system(cmd), 0, "%s failed", cmd);
	free(cmd);
	return copy;
}

static void remove_copy(char *copy, const char *dir)
{
	unlink(copy);
	rmdir(dir);
	free(copy);
}

/* Which of TASKS a future type names, -1 for none. */
static int task_of(const char *type)
{
	for (size_t i = 0; type && i < NTASKS; i++)
		if (strstr(type, TASKS[i]))
			return i;
	return -1;
}

Test(tokio_binary, vtables_of_chain)
{
	char *path = chain_path();
	struct tokio_binary *tb = analyze(path);
	size_t per_task[NTASKS] = {0}, launch = 0;
	struct image im;

	image_open(&im, path);
	cr_expect(tb->has_symbols);
	for (size_t i = 0; i < tb->nvtables; i++) {
		const struct tokio_vtable *vt = &tb->vtables[i];
		uint64_t offsets[3];
		int task = task_of(vt->future_type);

		cr_assert(symbol_at(&im, vt->poll, RAW_POLL), "vtable %zu: poll 0x%lx", i,
			  vt->poll);
		cr_expect(symbol_at(&im, vt->schedule, RAW_SCHEDULE), "vtable %zu: schedule", i);
		cr_expect(symbol_at(&im, vt->dealloc, RAW_DEALLOC), "vtable %zu: dealloc", i);
		cr_expect(symbol_at(&im, vt->try_read_output, RAW_TRY_READ_OUTPUT),
			  "vtable %zu: try_read_output", i);
		cr_expect(relative_reloc(&im, vt->vaddr, vt->poll), "vtable %zu: poll slot", i);
		cr_expect(relative_reloc(&im, vt->vaddr + 8, vt->schedule), "vtable %zu", i);
		cr_expect(relative_reloc(&im, vt->vaddr + 16, vt->dealloc), "vtable %zu", i);
		section_bytes(&im, vt->vaddr + 56, offsets, sizeof(offsets));
		cr_expect_eq(offsets[0], vt->trailer_offset, "vtable %zu", i);
		cr_expect_eq(offsets[1], vt->scheduler_offset, "vtable %zu", i);
		cr_expect_eq(offsets[2], vt->id_offset, "vtable %zu", i);
		cr_assert_not_null(vt->future_type, "vtable %zu has no future type", i);
		if (task >= 0) {
			per_task[task]++;
			cr_expect_not(vt->blocking || vt->worker_launch, "%s", vt->future_type);
		}
		/* the multi-thread runtime's workers run inside BlockingTask<Launch::launch> */
		if (strstr(vt->future_type, "launch")) {
			launch++;
			cr_expect(vt->worker_launch && vt->blocking, "%s", vt->future_type);
		}
	}
	for (size_t t = 0; t < NTASKS; t++)
		cr_expect_geq(per_task[t], 1, "no vtable for %s", TASKS[t]);
	cr_expect_geq(launch, 1);
	image_close(&im);
	tokio_binary_free(tb);
	free(path);
}

Test(tokio_binary, polls_and_returns)
{
	char *path = chain_path();
	struct tokio_binary *tb = analyze(path);
	struct probe_image *img;
	struct image im;
	char why[192];

	image_open(&im, path);
	cr_assert_eq(probe_image_open(path, &img), 0);
	cr_assert_geq(tb->npolls, tb->nvtables ? 1 : 0);
	for (size_t i = 0; i < tb->npolls; i++) {
		const struct tokio_poll_fn *p = &tb->polls[i];
		struct probe_site entry = {p->entry, p->entry, PROBE_ENTRY};
		uint8_t in_file[16], in_section[16];

		cr_expect(symbol_at(&im, p->entry, RAW_POLL), "poll 0x%lx", p->entry);
		cr_assert(p->vtable >= 0 && (size_t)p->vtable < tb->nvtables);
		cr_expect_eq(tb->vtables[p->vtable].poll, p->entry);
		cr_expect_not(p->size_disputed);
		/* what the adaptor attaches passes probe_site's checks */
		cr_expect_eq(probe_site_check(img, &entry, why, sizeof(why)), 0, "%s", why);
		/* uprobes go at file offsets: the file must hold the code there */
		file_bytes(path, p->entry, in_file, sizeof(in_file));
		section_bytes(&im, p->entry, in_section, sizeof(in_section));
		cr_expect_arr_eq(in_file, in_section, sizeof(in_file), "poll 0x%lx", p->entry);
		/* non-LTO: raw::poll jumps to Harness::poll, which returns through one ret */
		cr_expect_geq(p->nrets, 1, "poll 0x%lx has no ret", p->entry);
		cr_expect_not(p->rets_partial, "poll 0x%lx", p->entry);
		for (size_t r = 0; r < p->nrets; r++) {
			struct probe_site ret = {p->rets[r], p->body, PROBE_EXIT};
			uint8_t op;

			cr_expect_eq(probe_site_check(img, &ret, why, sizeof(why)), 0, "%s", why);
			file_bytes(path, p->rets[r], &op, 1);
			cr_expect(op == 0xc3 || op == 0xc2, "0x%lx holds 0x%02x", p->rets[r], op);
			cr_expect(inside_symbol(&im, p->rets[r], HARNESS_POLL) ||
				      inside_symbol(&im, p->rets[r], RAW_POLL),
				  "ret 0x%lx of poll 0x%lx is in no poll function", p->rets[r],
				  p->entry);
		}
	}
	for (size_t i = 1; i < tb->npolls; i++)
		cr_expect_lt(tb->polls[i - 1].entry, tb->polls[i].entry, "duplicate poll entries");
	probe_image_free(img);
	image_close(&im);
	tokio_binary_free(tb);
	free(path);
}

/* Whether some "mov %fs:0x0,%reg" is followed closely by the 32-bit displacement disp. */
static bool code_uses_tls_offset(const struct image *im, int32_t disp)
{
	static const uint8_t tail[] = {0x25, 0, 0, 0, 0};
	Elf_Scn *scn = NULL;
	GElf_Shdr sh;

	while ((scn = elf_nextscn(im->elf, scn))) {
		Elf_Data *data = elf_getdata(scn, NULL);
		const uint8_t *c;

		gelf_getshdr(scn, &sh);
		if (!(sh.sh_flags & SHF_EXECINSTR) || !data || !data->d_buf)
			continue;
		c = data->d_buf;
		for (size_t i = 0; i + 9 + 16 <= data->d_size; i++) {
			if (c[i] != 0x64 || (c[i + 1] & 0xfb) != 0x48 || c[i + 2] != 0x8b ||
			    (c[i + 3] & 0xc7) != 0x04 || memcmp(c + i + 4, tail, sizeof(tail)))
				continue;
			for (size_t k = i + 9; k < i + 9 + 16; k++)
				if (memcmp(c + k, &disp, sizeof(disp)) == 0)
					return true;
		}
	}
	return false;
}

Test(tokio_binary, hooks_of_chain)
{
	char *path = chain_path();
	struct tokio_binary *tb = analyze(path);
	struct image im;

	image_open(&im, path);
	cr_expect(symbol_at(&im, tb->wake_by_val, WAKER "11wake_by_val17h"));
	cr_expect(symbol_at(&im, tb->wake_by_ref, WAKER "11wake_by_ref17h"));
	cr_expect(symbol_at(&im, tb->clone_waker, WAKER "11clone_waker17h"));
	cr_expect(symbol_at(&im, tb->drop_waker, WAKER "10drop_waker17h"));
	cr_expect(symbol_at(&im, tb->waker_vtable, WAKER "12WAKER_VTABLE17h"));
	cr_expect_eq(tb->ndisputes, 0, "the symbols agree with the code: %s",
		     tb->ndisputes ? tb->disputes[0].why : "");
	/* one Harness::complete per task type, as for polls */
	cr_expect_geq(tb->ncomplete, tb->npolls);
	for (size_t i = 0; i < tb->ncomplete; i++) {
		cr_expect(symbol_at(&im, tb->complete[i], HARNESS_COMPLETE), "0x%lx",
			  tb->complete[i]);
		for (size_t k = 0; k < i; k++)
			cr_expect_neq(tb->complete[k], tb->complete[i]);
	}
	cr_expect(symbol_at(&im, tb->next_id, NEXT_ID), "NEXT_ID 0x%lx", tb->next_id);
	cr_assert(tb->has_tls);
	cr_expect_lt(tb->tls_context_offset, 0);
	cr_expect_gt(tb->tls_context_size, 0);
	cr_expect(code_uses_tls_offset(&im, (int32_t)tb->tls_context_offset),
		  "no code reaches CONTEXT at fs%+lld", (long long)tb->tls_context_offset);
	image_close(&im);
	tokio_binary_free(tb);
	free(path);
}

Test(tokio_binary, stripped_copy_by_shape)
{
	char dir[] = "/tmp/tokio_binary.XXXXXX";
	char *path = chain_path(), *copy = stripped_copy(path, "--strip-all", dir);
	struct tokio_binary *tb = analyze(path), *st = analyze(copy);

	cr_expect_not(st->has_symbols);
	cr_assert_eq(st->nvtables, tb->nvtables);
	for (size_t i = 0; i < tb->nvtables; i++) {
		const struct tokio_vtable *a = &tb->vtables[i], *b = &st->vtables[i];

		cr_expect_eq(a->vaddr, b->vaddr);
		cr_expect_eq(a->poll, b->poll);
		cr_expect_eq(a->schedule, b->schedule);
		cr_expect_eq(a->dealloc, b->dealloc);
		cr_expect_eq(a->id_offset, b->id_offset);
		cr_expect_eq(a->scheduler_offset, b->scheduler_offset);
		cr_expect_null(b->future_type, "nothing is left to name the future");
	}
	cr_assert_eq(st->npolls, tb->npolls);
	for (size_t i = 0; i < tb->npolls; i++) {
		cr_expect_eq(st->polls[i].entry, tb->polls[i].entry);
		cr_expect_eq(st->polls[i].nrets, tb->polls[i].nrets);
		cr_expect_arr_eq(st->polls[i].rets, tb->polls[i].rets,
				 tb->polls[i].nrets * sizeof(uint64_t));
	}
	/* recovered from the waker vtable the polls use */
	cr_expect_eq(st->clone_waker, tb->clone_waker);
	cr_expect_eq(st->wake_by_val, tb->wake_by_val);
	cr_expect_eq(st->wake_by_ref, tb->wake_by_ref);
	cr_expect_eq(st->drop_waker, tb->drop_waker);
	cr_expect_eq(st->waker_vtable, tb->waker_vtable);
	tokio_binary_free(st);
	tokio_binary_free(tb);
	remove_copy(copy, dir);
	free(path);
}

/* Without DWARF the names come from drop glue symbols; merged functions must not mislead. */
Test(tokio_binary, names_without_debug_info)
{
	char dir[] = "/tmp/tokio_binary.XXXXXX";
	char *path = chain_path(), *copy = stripped_copy(path, "--strip-debug", dir);
	struct tokio_binary *tb = analyze(path), *st = analyze(copy);

	cr_assert_eq(st->nvtables, tb->nvtables);
	for (size_t i = 0; i < tb->nvtables; i++) {
		const struct tokio_vtable *a = &tb->vtables[i], *b = &st->vtables[i];

		cr_assert_not_null(b->future_type, "vtable 0x%lx", b->vaddr);
		cr_expect_eq(task_of(b->future_type), task_of(a->future_type), "%s but %s",
			     b->future_type, a->future_type);
		cr_expect_eq(b->worker_launch, a->worker_launch, "%s", b->future_type);
	}
	tokio_binary_free(st);
	tokio_binary_free(tb);
	remove_copy(copy, dir);
	free(path);
}

Test(tokio_binary, rejects_other_files)
{
	char name[] = "/tmp/tokio_binary.XXXXXX";
	struct tokio_binary *tb = NULL;
	int fd = mkstemp(name);

	cr_expect_eq(tokio_binary_analyze("/bin/true", &tb), -ENOENT);
	cr_assert_geq(fd, 0);
	cr_assert_eq(write(fd, "not an ELF file\n", 16), 16);
	close(fd);
	cr_expect_eq(tokio_binary_analyze(name, &tb), -ENOEXEC);
	cr_expect_eq(tokio_binary_analyze("/nonexistent/binary", &tb), -ENOENT);
	cr_expect_null(tb);
	unlink(name);
}

/* The chain programs there are: Debian's toolchain, and the newer one when it was built. */
static size_t chain_builds(char **paths)
{
	const char *build = getenv("BUILD");
	size_t n = 0;

	paths[n++] = chain_path();
	cr_assert_geq(asprintf(&paths[n], "%s/examples/tokio-newer/chain", build), 0);
	if (access(paths[n], R_OK) == 0)
		n++;
	else
		free(paths[n]);
	return n;
}

Test(tokio_binary, spawn_sites)
{
	/* x86 register numbers (ModRM.reg + REX.R) as the probes name them */
	static const int regs[16] = {
	    TOKIO_REG_RAX, TOKIO_REG_RCX, TOKIO_REG_RDX, TOKIO_REG_RBX, -1,
	    TOKIO_REG_RBP, TOKIO_REG_RSI, TOKIO_REG_RDI, TOKIO_REG_R8,	TOKIO_REG_R9,
	    TOKIO_REG_R10, TOKIO_REG_R11, TOKIO_REG_R12, TOKIO_REG_R13, TOKIO_REG_R14,
	    TOKIO_REG_R15,
	};
	char *paths[2];
	size_t n = chain_builds(paths);

	for (size_t b = 0; b < n; b++) {
		struct tokio_binary *tb = analyze(paths[b]);
		struct probe_image *img;
		struct image im;
		char why[192];

		cr_assert_eq(probe_image_open(paths[b], &img), 0);
		image_open(&im, paths[b]);
		/* spawn, spawn_blocking: each has its own inlined copy of Id::next or calls it */
		cr_expect_geq(tb->nspawn_sites, 2, "%s", paths[b]);
		cr_expect_eq(tb->spawn_sites_refused, 0, "%s", paths[b]);
		for (size_t i = 0; i < tb->nspawn_sites; i++) {
			const struct tokio_spawn_site *site = &tb->spawn_sites[i];
			struct probe_site probe = {site->probe, site->func,
						   PROBE_AFTER_LOCKED_UPDATE};
			uint8_t c[16];
			int32_t disp;
			unsigned int len, reg;
			bool cmpxchg;

			file_bytes(paths[b], site->update, c, sizeof(c));
			/* lock, REX.W, 0f c1 (xadd) or 0f b1 (cmpxchg), ModRM */
			cr_assert(c[0] == 0xf0 && (c[1] & 0xf8) == 0x48 && c[2] == 0x0f &&
				      (c[3] == 0xc1 || c[3] == 0xb1),
				  "%s: 0x%lx is no locked 64-bit xadd or cmpxchg", paths[b],
				  site->update);
			cmpxchg = c[3] == 0xb1;
			reg = ((c[1] >> 2) & 1) << 3 | ((c[4] >> 3) & 7);
			len = 5;
			if ((c[4] & 0xc7) == 0x05) { /* rip-relative: it must be NEXT_ID */
				memcpy(&disp, c + 5, sizeof(disp));
				len += 4;
				cr_expect_eq(site->update + len + disp, tb->next_id, "%s: 0x%lx",
					     paths[b], site->update);
			} else {
				/* through a register: the update is in Tokio's spawn code */
				cr_expect((c[4] & 0xc0) == 0 && (c[4] & 7) != 4 && (c[4] & 7) != 5,
					  "%s: 0x%lx: unexpected operand", paths[b], site->update);
				cr_expect(inside_symbol(&im, site->update, "_ZN5tokio"),
					  "%s: 0x%lx", paths[b], site->update);
			}
			cr_expect_eq(site->probe, site->update + len, "%s: 0x%lx", paths[b],
				     site->update);
			cr_expect_eq(site->cookie & TOKIO_SPAWN_REG_MASK,
				     cmpxchg ? TOKIO_REG_RAX : (uint32_t)regs[reg], "%s: 0x%lx",
				     paths[b], site->update);
			cr_expect_eq(!!(site->cookie & TOKIO_SPAWN_CMPXCHG), cmpxchg);
			/* what the adaptor attaches passes probe_site's checks */
			cr_expect_eq(probe_site_check(img, &probe, why, sizeof(why)), 0, "%s", why);
		}
		probe_image_free(img);
		image_close(&im);
		tokio_binary_free(tb);
		free(paths[b]);
	}
}

Test(tokio_binary, names_and_poll_code)
{
	char *paths[2];
	size_t n = chain_builds(paths);

	for (size_t b = 0; b < n; b++) {
		struct tokio_binary *tb = analyze(paths[b]);

		for (size_t i = 0; i < tb->nvtables; i++) {
			const struct tokio_vtable *vt = &tb->vtables[i];
			int at = tokio_binary_poll_at(tb, vt->poll);
			char want[32];

			cr_assert_not_null(vt->future_type, "%s: vtable 0x%lx", paths[b],
					   vt->vaddr);
			/* an async fn is named as written, whatever the compiler's suffix */
			if (task_of(vt->future_type) >= 0) {
				snprintf(want, sizeof(want), "chain::%s",
					 TASKS[task_of(vt->future_type)]);
				cr_expect_str_eq(vt->future_type, want, "%s", paths[b]);
			} else {
				cr_expect(vt->worker_launch, "%s: %s", paths[b], vt->future_type);
			}
			/* the poll code of a type is its own */
			cr_assert_geq(at, 0, "%s: poll 0x%lx", paths[b], vt->poll);
			cr_expect_str_eq(tb->vtables[at].future_type, vt->future_type, "%s",
					 paths[b]);
			cr_expect_eq(tb->vtables[at].worker_launch, vt->worker_launch);
		}
		cr_expect_eq(tokio_binary_poll_at(tb, 0), -1);
		tokio_binary_free(tb);
		free(paths[b]);
	}
}

static struct tokio_binary *analyze_lying(const char *path, const char *regex, const char *how)
{
	char dir[] = "/tmp/tokio_binary.XXXXXX";
	char *copy = mutated_copy(path, regex, how, dir);
	struct tokio_binary *tb = NULL;
	int err = tokio_binary_analyze(copy, &tb);

	cr_assert_eq(err, 0, "%s: %s", how, strerror(-err));
	mutated_copy_remove(copy, dir);
	return tb;
}

static const struct tokio_dispute *dispute(const struct tokio_binary *tb, const char *hook)
{
	for (size_t i = 0; i < tb->ndisputes; i++)
		if (!strcmp(tb->disputes[i].hook, hook))
			return &tb->disputes[i];
	return NULL;
}

/*
 * Symbols that lie about the hooks are not trusted: waker functions the polls' RawWakerVTable
 * puts elsewhere, sizes their FDEs contradict, Harness::complete on another hook's function and
 * vtables (found by shape) whose poll no raw::poll symbol names are left out and named;
 * raw::poll symbols no vtable points at give no vtable.
 */
Test(tokio_binary, symbols_that_lie)
{
	char *path = chain_path();
	struct tokio_binary *tb = analyze(path), *st;
	const struct tokio_dispute *d;

	st = analyze_lying(path, "5waker(11wake_by_val|11wake_by_ref|11clone_waker)17h", "swap");
	cr_expect_eq(st->clone_waker, 0);
	cr_expect_eq(st->wake_by_val, 0);
	cr_expect_eq(st->wake_by_ref, 0);
	cr_expect_eq(st->drop_waker, tb->drop_waker, "untouched");
	cr_expect_not_null(dispute(st, "clone_waker"));
	cr_expect_not_null(dispute(st, "wake_by_ref"));
	cr_expect_eq(st->nvtables, tb->nvtables);
	tokio_binary_free(st);

	st = analyze_lying(path, "8complete17h", "size:huge");
	cr_expect_eq(st->ncomplete, 0);
	d = dispute(st, "Harness::complete");
	cr_assert_not_null(d);
	cr_expect_eq(d->copies, tb->ncomplete);
	tokio_binary_free(st);

	st = analyze_lying(path, "(8complete|11wake_by_val)17h", "swap");
	cr_expect_not_null(dispute(st, "Harness::complete"), "a complete on wake_by_val");
	cr_expect_eq(st->wake_by_val, 0);
	tokio_binary_free(st);

	/* a complete given a poll's address, whose vtable no raw::poll symbol names any more */
	st = analyze_lying(path, "(3raw4poll|8complete)17h", "swap");
	cr_expect_not_null(dispute(st, "raw::poll"));
	cr_expect_not_null(dispute(st, "Harness::complete"));
	cr_expect_lt(st->nvtables, tb->nvtables);
	tokio_binary_free(st);

	st = analyze_lying(path, "3raw4poll17h", "shift:1");
	cr_expect_eq(st->nvtables, 0);
	cr_assert_eq(st->npolls, tb->npolls);
	for (size_t i = 0; i < st->npolls; i++)
		cr_expect_eq(st->polls[i].vtable, -1, "0x%lx", st->polls[i].entry);
	tokio_binary_free(st);

	st = analyze_lying(path, "3raw4poll17h", "size:zero");
	for (size_t i = 0; i < st->npolls; i++)
		cr_expect(st->polls[i].size_disputed, "0x%lx", st->polls[i].entry);
	tokio_binary_free(st);
	tokio_binary_free(tb);
	free(path);
}
