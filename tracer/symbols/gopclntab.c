// SPDX-License-Identifier: MIT
/*
 * Reader of Go's pclntab, after the layout the runtime itself reads (runtime/symtab.go,
 * runtime/symtabinl.go and runtime/runtime2.go of Go 1.19 and 1.23):
 *
 *	pcHeader | funcnametab | cutab | filetab | pctab | functab, then the _func records
 *
 * The header gives each table's offset. functab holds nfunc + 1 {entry, _func} offset pairs
 * sorted by entry (the last entry is the end of the text). A _func names its function by an
 * offset into funcnametab and points at its PC-value tables in pctab: pcfile (an index into
 * its compile unit's slice of cutab, which points into filetab), pcln (the line) and the
 * pcdata tables, then lists its funcdata as offsets from moduledata.gofunc.
 *
 * A PC-value table is a run of (value delta, PC delta) varint pairs, the value delta
 * zig-zag encoded, starting from value -1 at the entry; it ends with a 0 byte where a value
 * delta would be. Its last PC is the end of the function's code: the table covers exactly the
 * function's instructions, not the padding after them.
 *
 * Inlined calls: PCDATA_InlTreeIndex gives, at each PC, the inline tree node it belongs to, or
 * -1 in the function's own code. A node names the inlined callee and the parentPc of an
 * instruction of its caller at the call's position, where the tree is looked up again. Go 1.20
 * changed the node layout (and the magic, and added _func.startLine).
 *
 * The tree is funcdata, addressed from moduledata.gofunc, which only moduledata holds: it is
 * found as the only data word that points at the pcHeader and is followed by the
 * funcnametab slice and, further on, the text start.
 */
#include "gopclntab.h"

#include <errno.h>
#include <stdlib.h>
#include <string.h>

#define MAGIC_GO118 0xfffffff0u
#define MAGIC_GO120 0xfffffff1u
#define MAGIC_GO116 0xfffffffau
#define MAGIC_GO12 0xfffffffbu

#define PTR_SIZE 8

/* pcHeader, with 8-byte pointers */
#define HDR_PAD1 4
#define HDR_MIN_LC 6
#define HDR_PTR_SIZE 7
#define HDR_NFUNC 8
#define HDR_TEXT_START 24
#define HDR_FUNCNAME 32
#define HDR_CU 40
#define HDR_FILETAB 48
#define HDR_PCTAB 56
#define HDR_PCLN 64
#define HDR_SIZE 72

/* functab entries: {entryoff, funcoff} */
#define FUNCTAB_ENTRY 8

/* _func; 1.20 inserted startLine after cuOffset */
#define FUNC_ENTRY 0
#define FUNC_NAME 4
#define FUNC_PCFILE 20
#define FUNC_PCLN 24
#define FUNC_NPCDATA 28
#define FUNC_CU 32
#define FUNC_NFUNCDATA_GO118 39
#define FUNC_SIZE_GO118 40
#define FUNC_NFUNCDATA_GO120 43
#define FUNC_SIZE_GO120 44

#define PCDATA_INLTREEINDEX 2
#define FUNCDATA_INLTREE 3
#define NO_FUNCDATA 0xffffffffu

/* inlinedCall: 1.18-1.19 {parent, funcID, _, file, line, func_, parentPc}; 1.20 {funcID, _,
 * nameOff, parentPc, startLine} */
#define INL_SIZE_GO118 20
#define INL_NAME_GO118 12
#define INL_PARENT_PC_GO118 16
#define INL_SIZE_GO120 16
#define INL_NAME_GO120 4
#define INL_PARENT_PC_GO120 8

/* moduledata: pcHeader, funcnametab slice, ..., text at 176; gofunc moved when 1.20 added
 * covctrs and ecovctrs before it */
#define MD_FUNCNAMETAB 8
#define MD_TEXT 176
#define MD_GOFUNC_GO118 304
#define MD_GOFUNC_GO120 320

#define MAX_NFUNC (1u << 24)
#define MAX_INLINE_DEPTH 64

/* A byte range of the file, as tables are bounded. */
struct span {
	const uint8_t *p;
	size_t size;
};

struct gopclntab {
	bool go120;
	uint8_t quantum; /* minLC: PC deltas are in these units */
	uint32_t nfunc;
	uint64_t text; /* textStart: function entries are offsets from it */
	struct span funcnames, cutab, filetab, pctab, pcln;
	/* From moduledata.gofunc to the end of its segment; p NULL when unknown. */
	struct span gofunc;
	size_t func_size, func_nfuncdata, inl_size, inl_name, inl_parent_pc;
};

static uint32_t u32(const uint8_t *p)
{
	uint32_t v;

	memcpy(&v, p, sizeof(v));
	return v;
}

static uint64_t u64(const uint8_t *p)
{
	uint64_t v;

	memcpy(&v, p, sizeof(v));
	return v;
}

/* The file bytes from vaddr to the end of the loaded segment holding it; p NULL when none. */
static struct span segment_from(Elf *elf, uint64_t vaddr)
{
	struct span s = {NULL, 0};
	size_t nphdr, file_size;
	const uint8_t *file = (const uint8_t *)elf_rawfile(elf, &file_size);

	if (!file || elf_getphdrnum(elf, &nphdr))
		return s;
	for (size_t i = 0; i < nphdr; i++) {
		GElf_Phdr ph;

		if (!gelf_getphdr(elf, i, &ph) || ph.p_type != PT_LOAD || vaddr < ph.p_vaddr ||
		    vaddr - ph.p_vaddr >= ph.p_filesz || ph.p_offset > file_size ||
		    ph.p_filesz > file_size - ph.p_offset)
			continue;
		s.p = file + ph.p_offset + (vaddr - ph.p_vaddr);
		s.size = ph.p_filesz - (vaddr - ph.p_vaddr);
		return s;
	}
	return s;
}

/* A NUL-terminated string at off of table; NULL when it runs past the table. */
static const char *string_at(const struct span *table, uint64_t off)
{
	if (off >= table->size || !memchr(table->p + off, '\0', table->size - off))
		return NULL;
	return (const char *)table->p + off;
}

/* The table [off, next) of the header at hdr, with size bytes of file behind hdr. */
static bool sub_table(const uint8_t *hdr, size_t size, int field, uint64_t next, struct span *out)
{
	uint64_t off = u64(hdr + field);

	if (off < HDR_SIZE || off > next || next > size)
		return false;
	out->p = hdr + off;
	out->size = next - off;
	return true;
}

/*
 * Reads the header at hdr (size bytes of file behind it). Returns 0, -ENOTSUP for an older
 * format, or -EINVAL when these bytes are not a table the runtime could read.
 */
static int parse_header(struct gopclntab *t, const uint8_t *hdr, size_t size)
{
	uint32_t magic;
	uint64_t nfunc;

	if (size < HDR_SIZE)
		return -EINVAL;
	magic = u32(hdr);
	if (hdr[HDR_PAD1] || hdr[HDR_PAD1 + 1] || !hdr[HDR_MIN_LC] || hdr[HDR_PTR_SIZE] != PTR_SIZE)
		return -EINVAL;
	if (magic == MAGIC_GO116 || magic == MAGIC_GO12)
		return -ENOTSUP;
	if (magic != MAGIC_GO118 && magic != MAGIC_GO120)
		return -EINVAL;
	nfunc = u64(hdr + HDR_NFUNC);
	if (!nfunc || nfunc > MAX_NFUNC)
		return -EINVAL;
	t->go120 = magic == MAGIC_GO120;
	t->quantum = hdr[HDR_MIN_LC];
	t->nfunc = nfunc;
	t->text = u64(hdr + HDR_TEXT_START);
	if (!sub_table(hdr, size, HDR_FUNCNAME, u64(hdr + HDR_CU), &t->funcnames) ||
	    !sub_table(hdr, size, HDR_CU, u64(hdr + HDR_FILETAB), &t->cutab) ||
	    !sub_table(hdr, size, HDR_FILETAB, u64(hdr + HDR_PCTAB), &t->filetab) ||
	    !sub_table(hdr, size, HDR_PCTAB, u64(hdr + HDR_PCLN), &t->pctab) ||
	    !sub_table(hdr, size, HDR_PCLN, size, &t->pcln) ||
	    t->pcln.size / FUNCTAB_ENTRY <= nfunc)
		return -EINVAL;
	t->func_size = t->go120 ? FUNC_SIZE_GO120 : FUNC_SIZE_GO118;
	t->func_nfuncdata = t->go120 ? FUNC_NFUNCDATA_GO120 : FUNC_NFUNCDATA_GO118;
	t->inl_size = t->go120 ? INL_SIZE_GO120 : INL_SIZE_GO118;
	t->inl_name = t->go120 ? INL_NAME_GO120 : INL_NAME_GO118;
	t->inl_parent_pc = t->go120 ? INL_PARENT_PC_GO120 : INL_PARENT_PC_GO118;
	return 0;
}

/* The _func of function i, checked to lie in the table with its pcdata and funcdata. */
static const uint8_t *func_record(const struct gopclntab *t, uint32_t i)
{
	const uint8_t *ft = t->pcln.p + (size_t)i * FUNCTAB_ENTRY;
	uint32_t off = u32(ft + 4);
	const uint8_t *f;
	uint64_t extra;

	if (off > t->pcln.size || t->pcln.size - off < t->func_size)
		return NULL;
	f = t->pcln.p + off;
	extra = 4 * ((uint64_t)u32(f + FUNC_NPCDATA) + f[t->func_nfuncdata]);
	if (extra > t->pcln.size - off - t->func_size || u32(f + FUNC_ENTRY) != u32(ft))
		return NULL;
	return f;
}

static uint64_t func_entry(const struct gopclntab *t, uint32_t i)
{
	return t->text + u32(t->pcln.p + (size_t)i * FUNCTAB_ENTRY);
}

/* A Go varint (LEB128, at most 32 bits); false when it runs past end. */
static bool read_varint(const uint8_t **p, const uint8_t *end, uint32_t *val)
{
	uint32_t v = 0;

	for (unsigned int shift = 0; *p < end && shift < 35; shift += 7) {
		uint8_t b = *(*p)++;

		v |= (uint32_t)(b & 0x7f) << shift;
		if (!(b & 0x80)) {
			*val = v;
			return true;
		}
	}
	return false;
}

/* What a walk of a whole PC-value table tells: where it ends, and its largest value. */
struct table_end {
	uint64_t pc;
	int32_t max;
};

/*
 * Walks the PC-value table at off of the function at entry (runtime.pcvalue and step). Stops
 * at the first row covering target and returns its value; -1 when no row does. A walk that
 * reaches the end fills *end when end is not NULL (target UINT64_MAX walks the whole table).
 */
static int32_t pc_value(const struct gopclntab *t, uint64_t entry, uint32_t off, uint64_t target,
			struct table_end *end)
{
	const uint8_t *p, *stop = t->pctab.p + t->pctab.size;
	uint64_t pc = entry;
	int32_t val = -1, max = -1;

	if (!off || off >= t->pctab.size)
		return -1;
	for (p = t->pctab.p + off;;) {
		uint32_t value_delta, pc_delta;

		if (p < stop && *p == 0 && pc != entry)
			break;
		if (!read_varint(&p, stop, &value_delta) || !read_varint(&p, stop, &pc_delta))
			return -1;
		val += (int32_t)(-(value_delta & 1) ^ (value_delta >> 1));
		pc += (uint64_t)pc_delta * t->quantum;
		if (target < pc)
			return val;
		if (val > max)
			max = val;
	}
	if (end)
		*end = (struct table_end){pc, max};
	return -1;
}

static const char *func_name(const struct gopclntab *t, const uint8_t *f)
{
	return string_at(&t->funcnames, u32(f + FUNC_NAME));
}

static int fill_func(const struct gopclntab *t, uint32_t i, struct gopcln_func *out)
{
	const uint8_t *f = func_record(t, i);
	uint64_t entry = func_entry(t, i);
	struct table_end end = {0, -1};

	if (!f)
		return -EINVAL;
	out->entry = entry;
	out->name = func_name(t, f);
	/* The line table covers every instruction of the function. */
	pc_value(t, entry, u32(f + FUNC_PCLN), UINT64_MAX, &end);
	out->end = end.pc > entry ? end.pc : func_entry(t, i + 1);
	return out->name ? 0 : -EINVAL;
}

int gopclntab_find(const struct gopclntab *t, const char *name, struct gopcln_func *f)
{
	for (uint32_t i = 0; i < t->nfunc; i++) {
		const uint8_t *rec = func_record(t, i);
		const char *n = rec ? func_name(t, rec) : NULL;

		if (n && !strcmp(n, name))
			return fill_func(t, i, f);
	}
	return -ENOENT;
}

/* Index of the function whose range [entry, next entry) holds pc; -1 when none. */
static int64_t func_index(const struct gopclntab *t, uint64_t pc)
{
	uint32_t lo = 0, hi = t->nfunc;

	if (pc < func_entry(t, 0) || pc >= func_entry(t, t->nfunc))
		return -1;
	while (hi - lo > 1) {
		uint32_t mid = lo + (hi - lo) / 2;

		if (func_entry(t, mid) <= pc)
			lo = mid;
		else
			hi = mid;
	}
	return lo;
}

void gopclntab_code_range(const struct gopclntab *t, uint64_t *lo, uint64_t *hi)
{
	/* functab ends with one more entry: the end of the last function. */
	*lo = t->nfunc ? func_entry(t, 0) : 0;
	*hi = t->nfunc ? func_entry(t, t->nfunc) : 0;
}

int gopclntab_lookup(const struct gopclntab *t, uint64_t pc, struct gopcln_func *f)
{
	int64_t i = func_index(t, pc);

	if (i < 0)
		return -ENOENT;
	return fill_func(t, i, f);
}

/* The value of pcdata table idx of function f at pc; -1 when it has none there. */
static int32_t pcdata_value(const struct gopclntab *t, const uint8_t *f, uint64_t entry,
			    uint32_t idx, uint64_t pc)
{
	if (idx >= u32(f + FUNC_NPCDATA))
		return -1;
	return pc_value(t, entry, u32(f + t->func_size + 4 * idx), pc, NULL);
}

/* The inline tree of f; p NULL when it has none or it cannot be found. */
static struct span inline_tree(const struct gopclntab *t, const uint8_t *f)
{
	struct span tree = {NULL, 0};
	uint32_t off;

	if (!t->gofunc.p || f[t->func_nfuncdata] <= FUNCDATA_INLTREE)
		return tree;
	off = u32(f + t->func_size + 4 * (u32(f + FUNC_NPCDATA) + FUNCDATA_INLTREE));
	if (off == NO_FUNCDATA || off >= t->gofunc.size)
		return tree;
	tree.p = t->gofunc.p + off;
	tree.size = t->gofunc.size - off;
	return tree;
}

/* Node ix of tree; NULL when it lies outside the data. */
static const uint8_t *inline_node(const struct gopclntab *t, const struct span *tree, int32_t ix)
{
	if (ix < 0 || (uint64_t)(ix + 1) * t->inl_size > tree->size)
		return NULL;
	return tree->p + (size_t)ix * t->inl_size;
}

static void file_line(const struct gopclntab *t, const uint8_t *f, uint64_t entry, uint64_t pc,
		      struct gopcln_frame *frame)
{
	int32_t fileno = pc_value(t, entry, u32(f + FUNC_PCFILE), pc, NULL);
	int32_t line = pc_value(t, entry, u32(f + FUNC_PCLN), pc, NULL);
	uint64_t slot = ((uint64_t)u32(f + FUNC_CU) + (uint32_t)fileno) * 4;

	frame->file = NULL;
	frame->line = line > 0 ? line : 0;
	if (fileno >= 0 && slot + 4 <= t->cutab.size && u32(t->cutab.p + slot) != UINT32_MAX)
		frame->file = string_at(&t->filetab, u32(t->cutab.p + slot));
}

int gopclntab_frames(const struct gopclntab *t, uint64_t pc, struct gopcln_frame *frames, int max)
{
	struct gopcln_frame found[MAX_INLINE_DEPTH];
	int64_t i = func_index(t, pc);
	const uint8_t *f = i >= 0 ? func_record(t, i) : NULL;
	struct span tree;
	uint64_t entry;
	int32_t ix;
	int n = 0;

	if (!f || max < 1)
		return 0;
	entry = func_entry(t, i);
	tree = inline_tree(t, f);
	ix = tree.p ? pcdata_value(t, f, entry, PCDATA_INLTREEINDEX, pc) : -1;
	/* Each node sends pc to its caller's code; the last frame is the function itself. */
	while (n < MAX_INLINE_DEPTH) {
		const uint8_t *node = inline_node(t, &tree, ix);

		file_line(t, f, entry, pc, &found[n]);
		found[n].function = node ? string_at(&t->funcnames, u32(node + t->inl_name)) : NULL;
		if (!found[n].function) {
			found[n++].function = func_name(t, f);
			break;
		}
		n++;
		pc = entry + (int32_t)u32(node + t->inl_parent_pc);
		ix = pcdata_value(t, f, entry, PCDATA_INLTREEINDEX, pc);
	}
	if (!found[n - 1].function)
		return 0;
	if (n > max) {
		found[max - 1] = found[n - 1];
		n = max;
	}
	memcpy(frames, found, n * sizeof(*found));
	return n;
}

bool gopclntab_has_inline_tree(const struct gopclntab *t)
{
	return t->gofunc.p != NULL;
}

/* The largest value of pcdata table idx of function f; -1 when it has none. */
static int32_t pcdata_max(const struct gopclntab *t, const uint8_t *f, uint64_t entry, uint32_t idx)
{
	struct table_end end = {0, -1};

	if (idx < u32(f + FUNC_NPCDATA))
		pc_value(t, entry, u32(f + t->func_size + 4 * idx), UINT64_MAX, &end);
	return end.max;
}

int gopclntab_each_inlined(const struct gopclntab *t, int (*fn)(const char *callee, void *arg),
			   void *arg)
{
	for (uint32_t i = 0; i < t->nfunc; i++) {
		const uint8_t *f = func_record(t, i);
		struct span tree = f ? inline_tree(t, f) : (struct span){NULL, 0};
		int32_t max;

		if (!tree.p)
			continue;
		max = pcdata_max(t, f, func_entry(t, i), PCDATA_INLTREEINDEX);
		for (int32_t ix = 0; ix <= max; ix++) {
			const uint8_t *node = inline_node(t, &tree, ix);
			const char *callee =
			    node ? string_at(&t->funcnames, u32(node + t->inl_name)) : NULL;
			int err = callee ? fn(callee, arg) : 0;

			if (err)
				return err;
		}
	}
	return 0;
}

/* ---- finding the table ------------------------------------------------------------------ */

static Elf_Scn *find_section(Elf *elf, GElf_Shdr *sh)
{
	Elf_Scn *scn = NULL;
	size_t shstrndx;

	if (elf_getshdrstrndx(elf, &shstrndx))
		return NULL;
	while ((scn = elf_nextscn(elf, scn))) {
		const char *name;

		if (!gelf_getshdr(scn, sh) || sh->sh_type == SHT_NOBITS)
			continue;
		name = elf_strptr(elf, shstrndx, sh->sh_name);
		if (name &&
		    (!strcmp(name, ".gopclntab") || !strcmp(name, ".data.rel.ro.gopclntab")))
			return scn;
	}
	return NULL;
}

/* Whether the table's first function record agrees with functab: a real table, not bytes
 * that happen to start with the magic. */
static bool plausible(const struct gopclntab *t)
{
	return func_record(t, 0) && func_entry(t, 0) <= func_entry(t, t->nfunc);
}

/*
 * Without section headers: scans the loaded, non-executable segments for a header. Returns 0
 * with *hdr_vaddr set, -ENOTSUP when only an older format's header is there, or -ENOENT.
 */
static int scan_segments(Elf *elf, struct gopclntab *t, uint64_t *hdr_vaddr)
{
	size_t nphdr;
	int found = -ENOENT;

	if (elf_getphdrnum(elf, &nphdr))
		return -ENOENT;
	for (size_t i = 0; i < nphdr; i++) {
		struct span seg;
		GElf_Phdr ph;

		if (!gelf_getphdr(elf, i, &ph) || ph.p_type != PT_LOAD || (ph.p_flags & PF_X))
			continue;
		seg = segment_from(elf, ph.p_vaddr);
		for (size_t off = 0; seg.p && off + HDR_SIZE <= seg.size; off += PTR_SIZE) {
			const uint8_t *hdr = seg.p + off;
			uint32_t magic = u32(hdr);
			int err;

			if ((magic & 0xfffffff0u) != 0xfffffff0u)
				continue;
			err = parse_header(t, hdr, seg.size - off);
			if (err == -ENOTSUP)
				found = err;
			if (err || !plausible(t))
				continue;
			*hdr_vaddr = ph.p_vaddr + off;
			return 0;
		}
	}
	return found;
}

/*
 * Finds moduledata.gofunc, where funcdata offsets start, from the header at hdr (link-time
 * address hdr_vaddr); leaves t->gofunc empty when there is no moduledata.
 */
static void find_gofunc(Elf *elf, struct gopclntab *t, const uint8_t *hdr, uint64_t hdr_vaddr)
{
	uint64_t names_vaddr = hdr_vaddr + (t->funcnames.p - hdr);
	size_t nphdr;

	if (elf_getphdrnum(elf, &nphdr))
		return;
	for (size_t i = 0; i < nphdr; i++) {
		struct span seg;
		GElf_Phdr ph;

		if (!gelf_getphdr(elf, i, &ph) || ph.p_type != PT_LOAD || !(ph.p_flags & PF_W))
			continue;
		seg = segment_from(elf, ph.p_vaddr);
		for (size_t off = 0; seg.p && off + MD_GOFUNC_GO120 + PTR_SIZE <= seg.size;
		     off += PTR_SIZE) {
			const uint8_t *md = seg.p + off;

			if (u64(md) != hdr_vaddr || u64(md + MD_FUNCNAMETAB) != names_vaddr ||
			    u64(md + MD_TEXT) != t->text)
				continue;
			t->gofunc = segment_from(
			    elf, u64(md + (t->go120 ? MD_GOFUNC_GO120 : MD_GOFUNC_GO118)));
			return;
		}
	}
}

int gopclntab_open(Elf *elf, struct gopclntab **out)
{
	struct gopclntab *t = calloc(1, sizeof(*t));
	uint64_t hdr_vaddr = 0;
	size_t nsections;
	GElf_Shdr sh;
	int err;

	*out = NULL;
	if (!t)
		return -ENOMEM;
	if (find_section(elf, &sh)) {
		struct span hdr = segment_from(elf, sh.sh_addr);

		hdr_vaddr = sh.sh_addr;
		err =
		    hdr.p && hdr.size >= sh.sh_size ? parse_header(t, hdr.p, sh.sh_size) : -EINVAL;
		if (!err && !plausible(t))
			err = -EINVAL;
	} else if (!elf_getshdrnum(elf, &nsections) && nsections) {
		/* Go's linker always names the section: with headers but without it, not Go. */
		err = -ENOENT;
	} else {
		err = scan_segments(elf, t, &hdr_vaddr);
	}
	if (err) {
		free(t);
		return err;
	}
	find_gofunc(elf, t, segment_from(elf, hdr_vaddr).p, hdr_vaddr);
	*out = t;
	return 0;
}

void gopclntab_free(struct gopclntab *t)
{
	free(t);
}
