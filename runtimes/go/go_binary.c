// SPDX-License-Identifier: MIT
/*
 * Static analysis of one Go executable (facts: docs/runtimes.md).
 *
 * The version comes from the build information blob the linker always writes, which survives
 * `-s -w`: the .go.buildinfo section, or, when section headers are gone, the start of a 16-byte
 * aligned block in a writable PT_LOAD. Only the inline-string form of Go 1.18+ is read.
 *
 * The runtime.g layout is read from DWARF when the binary has it: that is exact for any version
 * and any GOEXPERIMENT. Without DWARF (`-w`), a table measured per minor version is used; it
 * assumes default experiments, and versions it does not list are refused rather than guessed.
 *
 * Hook points for uprobes (docs/runtimes.md) are decoded with capstone from the file
 * kept open for it: the entry probe goes right after the stack-bound check, never at +0 where
 * morestack re-enters, and returns are every RET instruction, since kernel return probes break
 * Go's moving stacks. Functions are found in .gopclntab, the table the runtime itself runs by;
 * a .symtab that says otherwise (another build's, or rewritten) makes the hook refused. Inlined
 * copies of a hook are counted once per binary, on first use, from DWARF or from the
 * pclntab's inline trees.
 *
 * Only 64-bit targets are handled: the table and the 16-byte string headers assume 8-byte
 * pointers.
 */
#include "go_binary.h"
#include "symbols/gopclntab.h"
#include "util/hashmap.h"
#include "symbols/x86.h"

#include <capstone/capstone.h>
#include <dwarf.h>
#include <elfutils/libdw.h>
#include <errno.h>
#include <fcntl.h>
#include <gelf.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#define BUILDINFO_MAGIC "\xff Go buildinf:"
#define BUILDINFO_MAGIC_LEN (sizeof(BUILDINFO_MAGIC) - 1)
#define BUILDINFO_HEADER_LEN 32
#define BUILDINFO_ALIGN 16
#define BUILDINFO_FLAG_INLINE 0x2

/* A Go string header on a 64-bit target: data pointer and length. */
#define GO_STRING_SIZE 16

/* The open file behind a go_binary, kept for the hook lookups. */
struct go_image {
	int fd;
	Elf *elf;
	const uint8_t *file;
	size_t file_size;
	Dwarf *dwarf;		/* NULL without DWARF */
	struct gopclntab *pcln; /* NULL when the table cannot be read */
	csh cs;
	cs_insn *insn;		 /* NULL until the first disassembly */
	struct hashmap *inlined; /* function name -> inlined instances; NULL until first asked */
};

/* Reads an unsigned LEB128 varint from [*p, end); returns -EINVAL when it does not fit. */
static int read_uvarint(const uint8_t **p, const uint8_t *end, uint64_t *val)
{
	uint64_t v = 0;
	unsigned int shift;

	for (shift = 0; *p < end && shift < 64; shift += 7) {
		uint8_t b = *(*p)++;

		v |= (uint64_t)(b & 0x7f) << shift;
		if (!(b & 0x80)) {
			*val = v;
			return 0;
		}
	}
	return -EINVAL;
}

/*
 * Parses the build information header at hdr (end bounds the mapped bytes). Returns 0,
 * -ENOTSUP for the pre-1.18 form (pointers into the data, not followed here) or -EINVAL.
 */
static int parse_buildinfo(struct go_binary *gb, const uint8_t *hdr, const uint8_t *end)
{
	const uint8_t *p = hdr + BUILDINFO_HEADER_LEN;
	uint64_t len;
	int err;

	if (p > end)
		return -EINVAL;
	if (!(hdr[BUILDINFO_MAGIC_LEN + 1] & BUILDINFO_FLAG_INLINE))
		return -ENOTSUP;
	err = read_uvarint(&p, end, &len);
	if (err)
		return err;
	if (len >= sizeof(gb->version) || len > (uint64_t)(end - p))
		return -EINVAL;
	memcpy(gb->version, p, len);
	gb->version[len] = '\0';
	/* A development toolchain writes "devel go1.N-…": no release number, no table row. */
	if (sscanf(gb->version, "go%d.%d", &gb->major, &gb->minor) != 2)
		gb->major = gb->minor = 0;
	return 0;
}

/* Looks for the header at 16-byte aligned offsets of the file range [off, off + size). */
static int scan_buildinfo(struct go_binary *gb, const uint8_t *file, size_t file_size,
			  uint64_t off, uint64_t size)
{
	const uint8_t *p, *end;

	if (off > file_size || size > file_size - off)
		return -EINVAL;
	end = file + off + size;
	for (p = file + off; end - p >= BUILDINFO_HEADER_LEN; p += BUILDINFO_ALIGN)
		if (!memcmp(p, BUILDINFO_MAGIC, BUILDINFO_MAGIC_LEN))
			return parse_buildinfo(gb, p, end);
	return -ENOENT;
}

static Elf_Scn *find_section(Elf *elf, const char *name)
{
	Elf_Scn *scn = NULL;
	size_t shstrndx;
	GElf_Shdr sh;

	if (elf_getshdrstrndx(elf, &shstrndx))
		return NULL;
	while ((scn = elf_nextscn(elf, scn))) {
		const char *n;

		if (!gelf_getshdr(scn, &sh))
			continue;
		n = elf_strptr(elf, shstrndx, sh.sh_name);
		if (n && !strcmp(n, name))
			return scn;
	}
	return NULL;
}

/* Returns 0, -ENOENT when there is no build information (not Go), -ENOTSUP or -EINVAL. */
static int read_version(Elf *elf, struct go_binary *gb)
{
	Elf_Scn *scn = find_section(elf, ".go.buildinfo");
	size_t file_size, nphdr, i;
	const uint8_t *file;
	GElf_Shdr sh;
	int err;

	file = (const uint8_t *)elf_rawfile(elf, &file_size);
	if (!file)
		return -EINVAL;
	if (scn && gelf_getshdr(scn, &sh) && sh.sh_type != SHT_NOBITS)
		return scan_buildinfo(gb, file, file_size, sh.sh_offset, sh.sh_size);

	if (elf_getphdrnum(elf, &nphdr))
		return -EINVAL;
	for (i = 0; i < nphdr; i++) {
		GElf_Phdr ph;

		if (!gelf_getphdr(elf, i, &ph) || ph.p_type != PT_LOAD || !(ph.p_flags & PF_W))
			continue;
		err = scan_buildinfo(gb, file, file_size, ph.p_offset, ph.p_filesz);
		if (err != -ENOENT)
			return err;
	}
	return -ENOENT;
}

struct member_slot {
	const char *name;
	uint32_t *dst;
	bool found;
	Dwarf_Die die; /* the member, to follow its type */
};

/*
 * Fills the slots named among the members of struct die. Returns 0 or -EPROTO when a slot is
 * missing or a location is not a constant, which would mean a layout this code does not know.
 */
static int read_members(Dwarf_Die *die, struct member_slot *slots, size_t nslots)
{
	Dwarf_Die child;
	size_t i;

	if (dwarf_child(die, &child))
		return -EPROTO;
	do {
		const char *name = dwarf_diename(&child);
		Dwarf_Attribute attr;
		Dwarf_Word loc;

		if (dwarf_tag(&child) != DW_TAG_member || !name)
			continue;
		for (i = 0; i < nslots; i++) {
			if (slots[i].found || strcmp(slots[i].name, name))
				continue;
			if (!dwarf_attr(&child, DW_AT_data_member_location, &attr) ||
			    dwarf_formudata(&attr, &loc) || loc > UINT32_MAX)
				return -EPROTO;
			*slots[i].dst = loc;
			slots[i].die = child;
			slots[i].found = true;
		}
	} while (!dwarf_siblingof(&child, &child));

	for (i = 0; i < nslots; i++)
		if (!slots[i].found)
			return -EPROTO;
	return 0;
}

static int read_g(Dwarf_Die *g, struct go_g_offsets *off)
{
	uint32_t sched, sp, pc, bp;
	struct member_slot slots[] = {
		{"sched", &sched},
		{"atomicstatus", &off->atomicstatus},
		{"goid", &off->goid},
		{"waitsince", &off->waitsince},
		{"waitreason", &off->waitreason},
		{"gopc", &off->gopc},
		{"startpc", &off->startpc},
	};
	struct member_slot gobuf_slots[] = {{"sp", &sp}, {"pc", &pc}, {"bp", &bp}};
	int size = dwarf_bytesize(g);
	Dwarf_Attribute attr;
	Dwarf_Die gobuf;
	int err;

	if (size <= 0)
		return -EPROTO;
	off->size = size;
	err = read_members(g, slots, sizeof(slots) / sizeof(slots[0]));
	if (err)
		return err;
	/* parentGoid only exists from Go 1.21 on: optional. */
	{
		struct member_slot parent = { "parentGoid", &off->parent_goid };

		if (read_members(g, &parent, 1))
			off->parent_goid = 0;
	}
	/* sched is a runtime.gobuf held by value: its registers are offsets inside the g. */
	if (!dwarf_attr(&slots[0].die, DW_AT_type, &attr) || !dwarf_formref_die(&attr, &gobuf) ||
	    dwarf_peel_type(&gobuf, &gobuf))
		return -EPROTO;
	err = read_members(&gobuf, gobuf_slots, sizeof(gobuf_slots) / sizeof(gobuf_slots[0]));
	if (err)
		return err;
	off->sched_sp = sched + sp;
	off->sched_pc = sched + pc;
	off->sched_bp = sched + bp;
	return 0;
}

/*
 * The linker emits runtime types at the top level of the CUs named "runtime" (there are
 * several); other packages' CUs are skipped without walking their DIEs.
 * Returns 0, -ENOENT when there is no runtime.g, or -EPROTO.
 */
static int g_offsets_from_dwarf(Dwarf *dw, struct go_g_offsets *off)
{
	Dwarf_Off cu_off = 0, next;
	size_t hdr_size;

	while (!dwarf_nextcu(dw, cu_off, &next, &hdr_size, NULL, NULL, NULL)) {
		Dwarf_Die cu, die;
		const char *name;

		if (dwarf_offdie(dw, cu_off + hdr_size, &cu) && (name = dwarf_diename(&cu)) &&
		    !strcmp(name, "runtime") && !dwarf_child(&cu, &die)) {
			do {
				const char *n = dwarf_diename(&die);

				if (dwarf_tag(&die) == DW_TAG_structure_type && n &&
				    !strcmp(n, "runtime.g"))
					return read_g(&die, off);
			} while (!dwarf_siblingof(&die, &die));
		}
		cu_off = next;
	}
	return -ENOENT;
}

/* runtime.g layout per minor version on amd64 with default GOEXPERIMENTs (measured from the DWARF of reference builds). */
static const struct {
	int minor;
	uint32_t atomicstatus, goid, waitsince, waitreason, gopc, startpc, size, gobuf_bp;
	uint32_t parent_goid;
} g_table[] = {
	{19, 144, 152, 168, 176, 296, 312, 392, 48, 0},
	{21, 144, 152, 168, 176, 280, 296, 408, 48, 272},
	{22, 144, 152, 168, 176, 280, 296, 424, 48, 272},
	{23, 152, 160, 176, 184, 288, 304, 432, 48, 280},
	{24, 152, 160, 176, 184, 288, 304, 440, 48, 280},
	{25, 144, 152, 168, 176, 280, 296, 440, 40, 272},
	{26, 144, 152, 168, 176, 288, 304, 456, 40, 280},
};

/* g.sched and gobuf.sp/pc have not moved in any listed version. */
#define G_SCHED 56
#define GOBUF_SP 0
#define GOBUF_PC 8

static int g_offsets_from_table(struct go_binary *gb)
{
	size_t i;

	if (gb->major != 1)
		return -ENOTSUP;
	for (i = 0; i < sizeof(g_table) / sizeof(g_table[0]); i++) {
		if (g_table[i].minor != gb->minor)
			continue;
		gb->g = (struct go_g_offsets){
			.atomicstatus = g_table[i].atomicstatus,
			.goid = g_table[i].goid,
			.waitsince = g_table[i].waitsince,
			.waitreason = g_table[i].waitreason,
			.gopc = g_table[i].gopc,
			.startpc = g_table[i].startpc,
			.parent_goid = g_table[i].parent_goid,
			.sched_sp = G_SCHED + GOBUF_SP,
			.sched_pc = G_SCHED + GOBUF_PC,
			.sched_bp = G_SCHED + g_table[i].gobuf_bp,
			.size = g_table[i].size,
		};
		return 0;
	}
	return -ENOTSUP;
}

/* Fills the data symbols from .symtab; leaves them 0 when it is absent. */
static int read_symbols(Elf *elf, struct go_binary *gb)
{
	Elf_Scn *scn = NULL;
	GElf_Shdr sh;

	while ((scn = elf_nextscn(elf, scn))) {
		Elf_Data *data;
		size_t i, n;

		if (!gelf_getshdr(scn, &sh) || sh.sh_type != SHT_SYMTAB)
			continue;
		data = elf_getdata(scn, NULL);
		if (!data || !sh.sh_entsize)
			return -EINVAL;
		gb->has_symbols = true;
		n = sh.sh_size / sh.sh_entsize;
		for (i = 0; i < n; i++) {
			const char *name;
			GElf_Sym sym;

			if (!gelf_getsym(data, i, &sym) || GELF_ST_TYPE(sym.st_info) != STT_OBJECT)
				continue;
			name = elf_strptr(elf, sh.sh_link, sym.st_name);
			if (!name || strncmp(name, "runtime.", 8))
				continue;
			name += 8;
			if (!strcmp(name, "allgs")) {
				gb->allgs = sym.st_value;
			} else if (!strcmp(name, "allglen")) {
				gb->allglen = sym.st_value;
			} else if (!strcmp(name, "waitReasonStrings")) {
				gb->wait_reason_strings = sym.st_value;
				gb->wait_reason_count = sym.st_size / GO_STRING_SIZE;
			} else if (!strcmp(name, "class_to_size")) {
				gb->class_to_size = sym.st_value;
				gb->size_classes = sym.st_size / sizeof(uint16_t);
			} else if (!strcmp(name, "class_to_allocnpages")) {
				gb->class_to_allocnpages = sym.st_value;
			}
		}
		return 0;
	}
	return 0;
}

static int find_data_in_code(struct go_binary *gb);

static int analyze(struct go_image *img, struct go_binary *gb)
{
	Elf *elf = img->elf;
	int version_err, err;

	if (elf_kind(elf) != ELF_K_ELF)
		return -ENOEXEC;
	if (gelf_getclass(elf) != ELFCLASS64)
		return -ENOTSUP;
	img->file = (const uint8_t *)elf_rawfile(elf, &img->file_size);
	if (!img->file)
		return -EINVAL;
	version_err = read_version(elf, gb);
	if (version_err && version_err != -ENOENT && version_err != -ENOTSUP)
		return version_err;

	/* dwarf_begin_elf() fails for a binary built with -w: the table is the fallback. */
	img->dwarf = dwarf_begin_elf(elf, DWARF_C_READ, NULL);
	if (img->dwarf) {
		err = g_offsets_from_dwarf(img->dwarf, &gb->g);
		if (!err)
			gb->offsets_from_dwarf = true;
		else if (err != -ENOENT)
			return err;
	}
	if (!gb->offsets_from_dwarf) {
		if (version_err)
			return version_err;
		err = g_offsets_from_table(gb);
		if (err)
			return err;
	}
	/* Go 1.18+ always has one; without it, only .symtab can locate functions. */
	err = gopclntab_open(elf, &img->pcln);
	if (err && err != -ENOENT && err != -ENOTSUP && err != -EINVAL)
		return err;
	err = read_symbols(elf, gb);
	if (err || gb->has_symbols)
		return err;
	return find_data_in_code(gb);
}

static void image_free(struct go_image *img)
{
	if (!img)
		return;
	hashmap_free(img->inlined);
	gopclntab_free(img->pcln);
	if (img->insn) {
		cs_free(img->insn, 1);
		cs_close(&img->cs);
	}
	if (img->dwarf)
		dwarf_end(img->dwarf);
	elf_end(img->elf);
	if (img->fd >= 0)
		close(img->fd);
	free(img);
}

int go_binary_analyze(const char *path, struct go_binary **out)
{
	struct go_binary *gb;
	struct go_image *img;
	int err;

	*out = NULL;
	if (elf_version(EV_CURRENT) == EV_NONE)
		return -EINVAL;
	gb = calloc(1, sizeof(*gb));
	img = calloc(1, sizeof(*img));
	if (!gb || !img) {
		free(gb);
		free(img);
		return -ENOMEM;
	}
	gb->image = img;
	img->fd = open(path, O_RDONLY | O_CLOEXEC);
	if (img->fd < 0) {
		err = -errno;
		goto cleanup;
	}
	img->elf = elf_begin(img->fd, ELF_C_READ_MMAP, NULL);
	if (!img->elf) {
		err = -ENOEXEC;
		goto cleanup;
	}
	err = analyze(img, gb);
	if (!err) {
		*out = gb;
		gb = NULL;
	}
cleanup:
	go_binary_free(gb);
	return err;
}

void go_binary_free(struct go_binary *gb)
{
	if (!gb)
		return;
	image_free(gb->image);
	free(gb);
}

/* ---- hook points ------------------------------------------------------------------------ */

/* The file bytes behind [vaddr, vaddr + len), or NULL when they are not all in one segment. */
static const uint8_t *image_bytes(const struct go_image *img, uint64_t vaddr, uint64_t len)
{
	size_t nphdr, i;

	if (elf_getphdrnum(img->elf, &nphdr))
		return NULL;
	for (i = 0; i < nphdr; i++) {
		GElf_Phdr ph;

		if (!gelf_getphdr(img->elf, i, &ph) || ph.p_type != PT_LOAD || vaddr < ph.p_vaddr ||
		    vaddr - ph.p_vaddr > ph.p_filesz || len > ph.p_filesz - (vaddr - ph.p_vaddr))
			continue;
		if (ph.p_offset + ph.p_filesz > img->file_size)
			return NULL;
		return img->file + ph.p_offset + (vaddr - ph.p_vaddr);
	}
	return NULL;
}

/* A function's address and size from .symtab; -ENOENT when it has no such function. */
static int symtab_func(Elf *elf, const char *name, uint64_t *entry, uint64_t *size)
{
	Elf_Scn *scn = NULL;
	GElf_Shdr sh;

	while ((scn = elf_nextscn(elf, scn))) {
		Elf_Data *data;
		size_t i, n;

		if (!gelf_getshdr(scn, &sh) || sh.sh_type != SHT_SYMTAB || !sh.sh_entsize)
			continue;
		data = elf_getdata(scn, NULL);
		if (!data)
			return -EINVAL;
		n = sh.sh_size / sh.sh_entsize;
		for (i = 0; i < n; i++) {
			const char *sym_name;
			GElf_Sym sym;

			if (!gelf_getsym(data, i, &sym) || GELF_ST_TYPE(sym.st_info) != STT_FUNC ||
			    !sym.st_value)
				continue;
			sym_name = elf_strptr(elf, sh.sh_link, sym.st_name);
			if (sym_name && !strcmp(sym_name, name)) {
				*entry = sym.st_value;
				*size = sym.st_size;
				return 0;
			}
		}
	}
	return -ENOENT;
}

static int open_disassembler(struct go_image *img)
{
	if (img->insn)
		return 0;
	if (cs_open(CS_ARCH_X86, CS_MODE_64, &img->cs) != CS_ERR_OK)
		return -ENOMEM;
	cs_option(img->cs, CS_OPT_DETAIL, CS_OPT_ON);
	img->insn = cs_malloc(img->cs);
	if (!img->insn) {
		cs_close(&img->cs);
		return -ENOMEM;
	}
	return 0;
}

/* Decodes the instruction at addr, which must end before end, into img->insn. */
static bool decode_at(struct go_image *img, uint64_t addr, uint64_t end)
{
	size_t size = end - addr < 16 ? end - addr : 16;
	const uint8_t *code = addr < end ? image_bytes(img, addr, size) : NULL;

	return code && cs_disasm_iter(img->cs, &code, &size, &addr, img->insn);
}

#define MAX_CHECK_INSNS 8
#define MAX_CHECK_REGS 4
/* g.stackguard0, and g.stackguard1 which functions callable from C compare with. */
#define G_STACKGUARD0 0x10
#define G_STACKGUARD1 0x18

struct reg_set {
	unsigned int regs[MAX_CHECK_REGS];
	size_t n;
};

static bool reg_set_has(const struct reg_set *s, unsigned int reg)
{
	for (size_t i = 0; i < s->n; i++)
		if (s->regs[i] == reg)
			return true;
	return false;
}

static bool reg_set_add(struct reg_set *s, unsigned int reg)
{
	if (reg_set_has(s, reg))
		return true;
	if (s->n == MAX_CHECK_REGS)
		return false;
	s->regs[s->n++] = reg;
	return true;
}

/* Whether x compares a register derived from SP with the stack guard of the g in a g register. */
static bool is_guard_compare(const cs_x86 *x, const struct reg_set *sp, const struct reg_set *g)
{
	const cs_x86_op *reg, *mem;

	if (x->op_count != 2)
		return false;
	reg = &x->operands[x->operands[0].type == X86_OP_REG ? 0 : 1];
	mem = &x->operands[x->operands[0].type == X86_OP_REG ? 1 : 0];
	return reg->type == X86_OP_REG && mem->type == X86_OP_MEM && reg_set_has(sp, reg->reg) &&
	       reg_set_has(g, mem->mem.base) && mem->mem.index == X86_REG_INVALID &&
	       (mem->mem.disp == G_STACKGUARD0 || mem->mem.disp == G_STACKGUARD1);
}

/*
 * Recognizes the stack-bound check the Go assembler puts first in every function that may
 * grow its stack (cmd/internal/obj/x86 stacksplit), and returns the address after its
 * conditional branch to the morestack call; 0 when the function does not start with one:
 *
 *	CMPQ SP, 16(g)					small frames
 *	LEAQ -n(SP), R12; CMPQ R12, 16(g)		large frames
 *	MOVQ SP, R12; SUBQ $n, R12; JCS m; CMPQ R12, 16(g)	huge frames (SP - n may wrap)
 *	JLS m
 *
 * g is R14 (ABIInternal), or for ABI0 assembly a register just loaded from TLS.
 */
static uint64_t after_stack_check(struct go_image *img, uint64_t entry, uint64_t end)
{
	struct reg_set sp = {{X86_REG_RSP}, 1}, g = {{X86_REG_R14}, 1};
	bool compared = false;
	uint64_t addr = entry;

	for (int i = 0; i < MAX_CHECK_INSNS; i++) {
		const cs_x86 *x;
		const cs_x86_op *dst, *src;

		if (!decode_at(img, addr, end))
			return 0;
		addr += img->insn->size;
		x = &img->insn->detail->x86;
		dst = &x->operands[0];
		src = &x->operands[1];
		switch (img->insn->id) {
		case X86_INS_CMP:
			if (compared || !is_guard_compare(x, &sp, &g))
				return 0;
			compared = true;
			break;
		case X86_INS_JBE:
			return compared ? addr : 0;
		case X86_INS_JB:
			if (compared)
				return 0;
			break;
		case X86_INS_LEA:
			if (x->op_count != 2 || dst->type != X86_OP_REG ||
			    src->type != X86_OP_MEM || !reg_set_has(&sp, src->mem.base) ||
			    !reg_set_add(&sp, dst->reg))
				return 0;
			break;
		case X86_INS_MOV:
			if (x->op_count != 2 || dst->type != X86_OP_REG)
				return 0;
			if (src->type == X86_OP_REG && src->reg == X86_REG_RSP) {
				if (!reg_set_add(&sp, dst->reg))
					return 0;
			} else if (src->type == X86_OP_MEM && src->mem.segment == X86_REG_FS) {
				if (!reg_set_add(&g, dst->reg))
					return 0;
			} else {
				return 0;
			}
			break;
		case X86_INS_SUB:
			if (x->op_count != 2 || dst->type != X86_OP_REG ||
			    dst->reg == X86_REG_RSP || !reg_set_has(&sp, dst->reg) ||
			    src->type != X86_OP_IMM)
				return 0;
			break;
		default:
			return 0;
		}
	}
	return 0;
}

/*
 * Calls visit on each instruction of [entry, entry + size) until it returns non-zero, and
 * returns that; -EILSEQ when the bytes stop decoding, -EFAULT when they are not in the file.
 */
static int disassemble(struct go_image *img, uint64_t entry, uint64_t size,
		       int (*visit)(const cs_insn *insn, void *arg), void *arg)
{
	const uint8_t *code = image_bytes(img, entry, size);

	if (!code)
		return -EFAULT;
	return x86_each_insn(img->cs, img->insn, code, size, entry, visit, arg);
}

static int visit_ret(const cs_insn *insn, void *arg)
{
	struct go_func *f = arg;

	if (insn->id != X86_INS_RET)
		return 0;
	if (f->nrets == GO_MAX_RETS)
		f->rets_partial = true;
	else
		f->rets[f->nrets++] = insn->address;
	return 0;
}

static int count_inlined(struct hashmap *counts, const char *name)
{
	uint64_t n = 0;

	hashmap_get(counts, name, strlen(name), &n);
	return hashmap_put(counts, name, strlen(name), n + 1);
}

/*
 * Counts, below die, the inlined instances of each function by the name of their abstract
 * origin. Inlined instances sit in functions, in other inlined instances and in lexical blocks;
 * types and variables are not entered.
 */
static int dwarf_inlined(Dwarf_Die *die, struct hashmap *counts)
{
	Dwarf_Die child;
	int err = 0;

	if (dwarf_child(die, &child))
		return 0;
	do {
		int tag = dwarf_tag(&child);
		Dwarf_Attribute attr;
		Dwarf_Die origin;
		const char *name;

		if (tag == DW_TAG_inlined_subroutine &&
		    dwarf_attr(&child, DW_AT_abstract_origin, &attr) &&
		    dwarf_formref_die(&attr, &origin) && (name = dwarf_diename(&origin)))
			err = count_inlined(counts, name);
		if (!err && (tag == DW_TAG_subprogram || tag == DW_TAG_inlined_subroutine ||
			     tag == DW_TAG_lexical_block))
			err = dwarf_inlined(&child, counts);
	} while (!err && !dwarf_siblingof(&child, &child));
	return err;
}

static int dwarf_inlined_counts(Dwarf *dw, struct hashmap *counts)
{
	Dwarf_Off cu_off = 0, next;
	size_t hdr_size;
	int err = 0;

	while (!err && !dwarf_nextcu(dw, cu_off, &next, &hdr_size, NULL, NULL, NULL)) {
		Dwarf_Die cu;

		if (dwarf_offdie(dw, cu_off + hdr_size, &cu))
			err = dwarf_inlined(&cu, counts);
		cu_off = next;
	}
	return err;
}

static int pcln_inlined(const char *callee, void *counts)
{
	return count_inlined(counts, callee);
}

/*
 * Inlined instances of the function called name, counted once for the whole binary on first
 * use, from DWARF, else from the pclntab inline trees; -1 when the binary has neither.
 */
static int inlined_copies(struct go_image *img, const char *name, int *copies)
{
	uint64_t n = 0;
	int err;

	*copies = -1;
	if (!img->dwarf && !(img->pcln && gopclntab_has_inline_tree(img->pcln)))
		return 0;
	if (!img->inlined) {
		img->inlined = hashmap_new();
		if (!img->inlined)
			return -ENOMEM;
		if (img->dwarf)
			err = dwarf_inlined_counts(img->dwarf, img->inlined);
		else
			err = gopclntab_each_inlined(img->pcln, pcln_inlined, img->inlined);
		if (err) {
			hashmap_free(img->inlined);
			img->inlined = NULL;
			return err;
		}
	}
	hashmap_get(img->inlined, name, strlen(name), &n);
	*copies = n;
	return 0;
}

/*
 * A function's address and size from .gopclntab, the table the Go runtime itself runs by, and
 * what .symtab says of it when the binary has one: -EXDEV when the two disagree.
 */
static int locate_func(const struct go_binary *gb, const char *name, struct go_func *out)
{
	struct gopcln_func f;
	bool in_symtab = gb->has_symbols &&
			 !symtab_func(gb->image->elf, name, &out->symtab_entry, &out->symtab_size);
	bool in_pcln = gb->image->pcln && !gopclntab_find(gb->image->pcln, name, &f);

	if (!in_pcln && !in_symtab)
		return -ENOENT;
	if (!gb->image->pcln)
		return -ENODATA;
	if (in_pcln) {
		out->entry = f.entry;
		out->size = f.end - f.entry;
	}
	if (gb->has_symbols && (!in_pcln || !in_symtab || out->symtab_entry != out->entry ||
				out->symtab_size != out->size))
		return -EXDEV;
	return 0;
}

int go_binary_func(const struct go_binary *gb, const char *name, struct go_func *out)
{
	struct go_image *img = gb->image;
	uint64_t check_end;
	int err;

	memset(out, 0, sizeof(*out));
	err = locate_func(gb, name, out);
	if (err)
		return err;
	err = open_disassembler(img);
	if (err)
		return err;
	check_end = after_stack_check(img, out->entry, out->entry + out->size);
	out->probe = check_end ? check_end : out->entry;
	out->probe_at_push_bp = decode_at(img, out->probe, out->entry + out->size) &&
				img->insn->id == X86_INS_PUSH &&
				img->insn->detail->x86.operands[0].type == X86_OP_REG &&
				img->insn->detail->x86.operands[0].reg == X86_REG_RBP;
	/* Only the stack check runs before the probe, and it does not move SP. */
	out->frame_before_probe = false;
	if (disassemble(img, out->entry, out->size, visit_ret, out))
		out->rets_partial = true;
	return inlined_copies(img, name, &out->inlined_copies);
}

struct call_scan {
	struct go_call *calls;
	size_t n, max;
};

static int visit_call(const cs_insn *insn, void *arg)
{
	struct call_scan *s = arg;
	const cs_x86 *x = &insn->detail->x86;

	if (insn->id != X86_INS_CALL || x->op_count != 1 || x->operands[0].type != X86_OP_IMM)
		return 0;
	if (s->n == s->max)
		return 1;
	s->calls[s->n++] = (struct go_call){ .site = insn->address, .target = x->operands[0].imm };
	return 0;
}

int go_binary_code_range(const struct go_binary *gb, uint64_t *lo, uint64_t *hi)
{
	if (!gb->image->pcln)
		return -ENOENT;
	gopclntab_code_range(gb->image->pcln, lo, hi);
	return *lo < *hi ? 0 : -ENOENT;
}

int go_binary_code_of(const struct go_binary *gb, const char *name, uint64_t *start,
		      uint64_t *end)
{
	struct gopcln_func f;

	if (!gb->image->pcln || gopclntab_find(gb->image->pcln, name, &f))
		return -ENOENT;
	*start = f.entry;
	*end = f.end;
	return 0;
}

int go_binary_function_at(const struct go_binary *gb, uint64_t addr, uint64_t *start,
			  uint64_t *end)
{
	struct gopcln_func f;

	if (!gb->image->pcln || gopclntab_lookup(gb->image->pcln, addr, &f))
		return -ENOENT;
	*start = f.entry;
	*end = f.end;
	return 0;
}

int go_binary_calls(const struct go_binary *gb, uint64_t entry, struct go_call *calls,
		    size_t max)
{
	struct go_image *img = gb->image;
	struct call_scan scan = { .calls = calls, .max = max };
	struct gopcln_func f;
	uint64_t size;
	int err = open_disassembler(img);

	if (err)
		return err;
	if (!img->pcln || gopclntab_lookup(img->pcln, entry, &f) || f.entry != entry)
		return -ENOENT;
	size = f.end - f.entry;
	err = disassemble(img, entry, size, visit_call, &scan);
	return err < 0 ? err : (int)scan.n;
}

/* ---- data symbols of a stripped binary -------------------------------------------------- */

#define MAX_DATA_REFS 64
#define MAX_STORES 8

/*
 * What runtime.allgadd does with its globals: every address it reads or writes
 * rip-relatively, what each register last loaded from (MOV) or pointed at (LEA), and the XCHG
 * stores through a register (atomic.Storeuintptr): to where, of a value loaded from where.
 */
struct allgadd_scan {
	uint64_t refs[MAX_DATA_REFS];
	size_t nrefs;
	uint64_t loaded_from[X86_REG_ENDING], points_to[X86_REG_ENDING];
	struct {
		uint64_t to, from;
	} stores[MAX_STORES];
	size_t nstores;
};

static int visit_allgadd(const cs_insn *insn, void *arg)
{
	struct allgadd_scan *s = arg;
	const cs_x86 *x = &insn->detail->x86;
	const cs_x86_op *dst = &x->operands[0], *src = &x->operands[1];
	uint64_t target = x86_rip_target(insn);
	bool known = false;

	for (size_t i = 0; target && i < s->nrefs && !known; i++)
		known = s->refs[i] == target;
	if (target && !known && s->nrefs < MAX_DATA_REFS)
		s->refs[s->nrefs++] = target;
	if (insn->id == X86_INS_CALL) {
		/* Calls clobber every register. */
		memset(s->loaded_from, 0, sizeof(s->loaded_from));
		memset(s->points_to, 0, sizeof(s->points_to));
		return 0;
	}
	if (x->op_count != 2)
		return 0;
	if (insn->id == X86_INS_XCHG) {
		const cs_x86_op *mem = dst->type == X86_OP_MEM ? dst : src;
		const cs_x86_op *reg = dst->type == X86_OP_MEM ? src : dst;

		if (mem->type == X86_OP_MEM && reg->type == X86_OP_REG && !mem->mem.disp &&
		    mem->mem.index == X86_REG_INVALID && s->nstores < MAX_STORES) {
			s->stores[s->nstores].to = s->points_to[mem->mem.base];
			s->stores[s->nstores++].from = s->loaded_from[reg->reg];
		}
	} else if (dst->type == X86_OP_REG) {
		/* Any other write to the register forgets what it held. */
		s->loaded_from[dst->reg] = insn->id == X86_INS_MOV ? target : 0;
		s->points_to[dst->reg] = insn->id == X86_INS_LEA ? target : 0;
	}
	return 0;
}

static bool is_ref(const struct allgadd_scan *s, uint64_t addr)
{
	for (size_t i = 0; i < s->nrefs; i++)
		if (s->refs[i] == addr)
			return true;
	return false;
}

/* Whether vaddr is in a writable segment (its file bytes or its zero-filled tail). */
static bool is_data(const struct go_image *img, uint64_t vaddr)
{
	size_t nphdr;

	if (elf_getphdrnum(img->elf, &nphdr))
		return false;
	for (size_t i = 0; i < nphdr; i++) {
		GElf_Phdr ph;

		if (gelf_getphdr(img->elf, i, &ph) && ph.p_type == PT_LOAD && (ph.p_flags & PF_W) &&
		    vaddr >= ph.p_vaddr && vaddr - ph.p_vaddr < ph.p_memsz)
			return true;
	}
	return false;
}

/*
 * allgs is the slice whose header runtime.allgadd touches at X, X+8 and X+16 (append), and
 * allglen the word it stores len(allgs), loaded from X+8, into.
 */
static int find_allgs(struct go_binary *gb)
{
	struct allgadd_scan *s;
	struct go_func f = { 0 };
	uint64_t allgs = 0;

	if (locate_func(gb, "runtime.allgadd", &f))
		return 0;
	s = calloc(1, sizeof(*s));
	if (!s)
		return -ENOMEM;
	if (disassemble(gb->image, f.entry, f.size, visit_allgadd, s))
		goto out;
	for (size_t i = 0; i < s->nrefs; i++)
		if (is_ref(s, s->refs[i] + 8) && is_ref(s, s->refs[i] + 16) &&
		    (!allgs || s->refs[i] < allgs))
			allgs = s->refs[i];
	if (!allgs || !is_data(gb->image, allgs))
		goto out;
	gb->allgs = allgs;
	for (size_t i = 0; i < s->nstores; i++)
		if (s->stores[i].from == allgs + 8 && is_data(gb->image, s->stores[i].to))
			gb->allglen = s->stores[i].to;
out:
	free(s);
	return 0;
}

struct reasons_scan {
	const struct go_image *img;
	uint64_t count, array;
};

/*
 * runtime.waitReason.String: CMPB AL, $len(waitReasonStrings), then a LEA of the
 * "unknown wait reason" string (read-only) for the out-of-range case and a LEA of the array
 * (data) to index it.
 */
static int visit_reason_string(const cs_insn *insn, void *arg)
{
	struct reasons_scan *s = arg;
	const cs_x86 *x = &insn->detail->x86;
	uint64_t target;

	if (insn->id == X86_INS_CMP && !s->count && x->op_count == 2 &&
	    x->operands[0].type == X86_OP_REG && x->operands[0].reg == X86_REG_AL &&
	    x->operands[1].type == X86_OP_IMM)
		s->count = (uint8_t)x->operands[1].imm;
	else if (insn->id == X86_INS_LEA && !s->array && s->count &&
		 (target = x86_rip_target(insn)) && is_data(s->img, target))
		s->array = target;
	return 0;
}

static int find_wait_reasons(struct go_binary *gb)
{
	struct reasons_scan s = {gb->image, 0, 0};
	struct go_func f = { 0 };

	if (locate_func(gb, "runtime.waitReason.String", &f))
		return 0;
	if (disassemble(gb->image, f.entry, f.size, visit_reason_string, &s) || !s.array)
		return 0;
	gb->wait_reason_strings = s.array;
	gb->wait_reason_count = s.count;
	return 0;
}

/*
 * Without .symtab, the data symbols the goroutine snapshots read are recovered from the
 * functions that use them, located in .gopclntab (docs/runtimes.md). They stay 0 when the code
 * does not have the expected shape.
 */
static int find_data_in_code(struct go_binary *gb)
{
	int err = open_disassembler(gb->image);

	if (!err)
		err = find_allgs(gb);
	if (!err)
		err = find_wait_reasons(gb);
	return err;
}

/*
 * Wait reasons the profiler reports, and their numeric value per minor version (from each
 * version's runtime2.go). 0 marks a reason the version does not have (value 0 is waitReasonZero, never parked
 * with). The enum is renumbered often, 1.26 regrouped it, so no row is shared across versions.
 */
static const char *const reason_names[] = {
	"IO wait",
	"chan receive (nil chan)",
	"chan send (nil chan)",
	"select",
	"select (no cases)",
	"chan receive",
	"chan send",
	"semacquire",
	"sleep",
	"sync.Cond.Wait",
	"sync.Mutex.Lock",
	"sync.RWMutex.RLock",
	"sync.RWMutex.Lock",
	"sync.WaitGroup.Wait",
	"preempted",
	"GC worker (idle)",
};

#define NREASONS (sizeof(reason_names) / sizeof(reason_names[0]))

static const struct {
	int minor;
	uint8_t value[NREASONS];
} reason_table[] = {
	{19, {2, 3, 4, 9, 10, 14, 15, 18, 19, 20, 0, 0, 0, 0, 25, 24}},
	{22, {2, 3, 4, 9, 10, 14, 15, 18, 19, 20, 21, 22, 23, 0, 28, 26}},
	{23, {2, 3, 4, 9, 10, 14, 15, 18, 19, 20, 21, 22, 23, 0, 28, 26}},
	{24, {2, 3, 4, 9, 10, 14, 15, 18, 19, 20, 21, 22, 23, 24, 29, 27}},
	{25, {2, 3, 4, 9, 10, 14, 15, 19, 20, 21, 22, 23, 24, 25, 30, 28}},
	{26, {2, 15, 16, 18, 17, 19, 20, 13, 14, 21, 22, 23, 24, 25, 30, 28}},
};

const char *go_wait_reason_name(const struct go_binary *gb, unsigned int reason)
{
	size_t i, j;

	if (!gb || gb->major != 1 || !reason)
		return NULL;
	for (i = 0; i < sizeof(reason_table) / sizeof(reason_table[0]); i++) {
		if (reason_table[i].minor != gb->minor)
			continue;
		for (j = 0; j < NREASONS; j++)
			if (reason_table[i].value[j] == reason)
				return reason_names[j];
		return NULL;
	}
	return NULL;
}
