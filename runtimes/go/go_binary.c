// SPDX-License-Identifier: MIT
/*
 * Static analysis of one Go executable (facts: docs/research/go-hooks.md §2-3).
 *
 * The version comes from the build information blob the linker always writes, which survives
 * `-s -w`: the .go.buildinfo section, or, when section headers are gone, the start of a 16-byte
 * aligned block in a writable PT_LOAD. Only the inline-string form of Go 1.18+ is read.
 *
 * The runtime.g layout is read from DWARF when the binary has it: that is exact for any version
 * and any GOEXPERIMENT. Without DWARF (`-w`), a table measured per minor version is used; it
 * assumes default experiments, and versions it does not list are refused rather than guessed.
 *
 * Only 64-bit targets are handled: the table and the 16-byte string headers assume 8-byte
 * pointers.
 */
#include "go_binary.h"

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

/* runtime.g layout per minor version on amd64 with default GOEXPERIMENTs (research §2.2). */
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
			}
		}
		return 0;
	}
	return 0;
}

static int analyze(Elf *elf, struct go_binary *gb)
{
	Dwarf *dw;
	int version_err, err;

	if (elf_kind(elf) != ELF_K_ELF)
		return -ENOEXEC;
	if (gelf_getclass(elf) != ELFCLASS64)
		return -ENOTSUP;
	version_err = read_version(elf, gb);
	if (version_err && version_err != -ENOENT && version_err != -ENOTSUP)
		return version_err;

	/* dwarf_begin_elf() fails for a binary built with -w: the table is the fallback. */
	dw = dwarf_begin_elf(elf, DWARF_C_READ, NULL);
	if (dw) {
		err = g_offsets_from_dwarf(dw, &gb->g);
		dwarf_end(dw);
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
	return read_symbols(elf, gb);
}

int go_binary_analyze(const char *path, struct go_binary **out)
{
	struct go_binary *gb;
	Elf *elf = NULL;
	int fd, err;

	*out = NULL;
	if (elf_version(EV_CURRENT) == EV_NONE)
		return -EINVAL;
	gb = calloc(1, sizeof(*gb));
	if (!gb)
		return -ENOMEM;
	fd = open(path, O_RDONLY | O_CLOEXEC);
	if (fd < 0) {
		err = -errno;
		goto cleanup;
	}
	elf = elf_begin(fd, ELF_C_READ_MMAP, NULL);
	if (!elf) {
		err = -ENOEXEC;
		goto cleanup;
	}
	err = analyze(elf, gb);
	if (!err) {
		*out = gb;
		gb = NULL;
	}
cleanup:
	elf_end(elf);
	if (fd >= 0)
		close(fd);
	free(gb);
	return err;
}

void go_binary_free(struct go_binary *gb)
{
	free(gb);
}

/*
 * Wait reasons the profiler reports, and their numeric value per minor version (research
 * §3.2). 0 marks a reason the version does not have (value 0 is waitReasonZero, never parked
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
