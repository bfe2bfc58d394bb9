// SPDX-License-Identifier: MIT
/*
 * Where a uprobe may go.
 *
 * A uprobe replaces the first byte of an instruction with INT3 and runs the instruction it
 * displaced out of line when it fires. On any other byte it corrupts the instruction it lands
 * in, and the target crashes or computes garbage. The adaptors take their probe addresses from
 * tables that nothing in the running program reads, and such a table can lie: a .symtab from
 * another build (a separate debug file), a post-link optimizer that moved code, a packer, a
 * tool that rewrote symbols. A Go program runs normally with every .symtab entry off by a byte,
 * since its runtime only reads .gopclntab; a probe placed by that .symtab kills it.
 *
 * So no probe is attached anywhere but through probe_site_attach(), which first checks:
 *
 *  1. the address is in the file bytes of an executable PT_LOAD segment (what the kernel
 *     patches is the file, at an offset);
 *  2. the function holding it, in a table the program itself runs by, starts where the
 *     analysis said: .gopclntab for Go (the runtime's tracebacks, stack growth and GC read
 *     it; the Go adaptor supplies it), else the .eh_frame FDEs that PT_GNU_EH_FRAME indexes
 *     (what the C++ and Rust unwinders read to throw or panic). A USDT marker needs no
 *     function: its stapsdt note is its table, and an FDE, when one holds it, is checked too;
 *  3. decoding that function with capstone from its start reaches the address exactly;
 *  4. the instruction there is the one the analysis relies on (a RET, a NOP, PUSH RBP, ...).
 *
 * Decoding is a linear sweep: the x86-64 compilers whose code the adaptors probe (gcc, LLVM,
 * Go) keep data out of function bodies (jump tables go to .rodata), so the sweep meets the
 * boundaries the CPU executes. Where the bytes stop decoding, sites beyond are refused, not
 * guessed. The instruction starts of the last function decoded are kept: an adaptor checks a
 * function's entry and its RETs one after the other.
 *
 * What a refusal costs is the caller's to say (the view it loses); this file only says why.
 */
#include "probe_site.h"
#include "util/array.h"
#include "symbols/x86.h"

#include <bpf/libbpf.h>
#include <capstone/capstone.h>
#include <dwarf.h>
#include <errno.h>
#include <fcntl.h>
#include <gelf.h>
#include <limits.h>
#include <stdarg.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#define EH_FRAME_HDR_VERSION 1
#define MAX_INSN_BYTES 15

struct probe_image {
	char path[PATH_MAX];
	int fd;
	Elf *elf;
	const uint8_t *file;
	size_t file_size;
	GElf_Phdr *phdrs;
	size_t nphdrs;

	/* .eh_frame_hdr's search table: pairs of int32 (function start, FDE), datarel */
	const uint8_t *fde_table;
	size_t nfdes;
	uint64_t fde_base;

	const char *table; /* the function table's name, for messages */
	probe_function_at function_at;
	void *ctx;

	csh cs;
	cs_insn *insn;
	bool cs_open;

	/* The last function decoded: [start, end), its instruction starts, where decoding
	 * stopped (end when it did not). */
	uint64_t fn_start, fn_end, fn_stop;
	uint64_t *starts;
	size_t nstarts, cap_starts;
};

/* ---- the file ------------------------------------------------------------------------------ */

/* The file bytes behind [addr, addr + len) in one PT_LOAD segment (executable only when code). */
static const uint8_t *bytes_at(const struct probe_image *img, uint64_t addr, uint64_t len,
			       bool code)
{
	for (size_t i = 0; i < img->nphdrs; i++) {
		const GElf_Phdr *p = &img->phdrs[i];
		uint64_t off = addr - p->p_vaddr;

		if (p->p_type != PT_LOAD || (code && !(p->p_flags & PF_X)) || addr < p->p_vaddr ||
		    off >= p->p_filesz || len > p->p_filesz - off ||
		    p->p_offset + p->p_filesz > img->file_size)
			continue;
		return img->file + p->p_offset + off;
	}
	return NULL;
}

/* How many bytes of code follow addr in its segment (0 when addr is not code). */
static uint64_t code_after(const struct probe_image *img, uint64_t addr)
{
	for (size_t i = 0; i < img->nphdrs; i++) {
		const GElf_Phdr *p = &img->phdrs[i];

		if (p->p_type == PT_LOAD && (p->p_flags & PF_X) && addr >= p->p_vaddr &&
		    addr - p->p_vaddr < p->p_filesz && p->p_offset + p->p_filesz <= img->file_size)
			return p->p_filesz - (addr - p->p_vaddr);
	}
	return 0;
}

int64_t probe_image_file_offset(const struct probe_image *img, uint64_t addr)
{
	const uint8_t *p = bytes_at(img, addr, 1, true);

	return p ? p - img->file : -1;
}

/* ---- .eh_frame ----------------------------------------------------------------------------- */

static void read_fde_table(struct probe_image *img)
{
	for (size_t i = 0; i < img->nphdrs; i++) {
		const GElf_Phdr *p = &img->phdrs[i];
		const uint8_t *hdr = bytes_at(img, p->p_vaddr, p->p_filesz, false);
		uint32_t count;

		/* eh_frame_ptr any; count udata4; table datarel|sdata4: what the linkers write */
		if (p->p_type != PT_GNU_EH_FRAME || !hdr || p->p_filesz < 12 ||
		    hdr[0] != EH_FRAME_HDR_VERSION || hdr[2] != DW_EH_PE_udata4 ||
		    hdr[3] != (DW_EH_PE_datarel | DW_EH_PE_sdata4))
			continue;
		memcpy(&count, hdr + 8, sizeof(count));
		if ((uint64_t)count * 8 > p->p_filesz - 12)
			continue;
		img->fde_table = hdr + 12;
		img->nfdes = count;
		img->fde_base = p->p_vaddr;
	}
}

static int32_t table_word(const struct probe_image *img, size_t i)
{
	int32_t w;

	memcpy(&w, img->fde_table + i * 4, sizeof(w));
	return w;
}

/* A cursor over the bytes of .eh_frame, by link-time address. */
struct cursor {
	const struct probe_image *img;
	uint64_t addr;
	bool bad;
};

static uint64_t read_fixed(struct cursor *c, size_t n)
{
	const uint8_t *p = c->bad ? NULL : bytes_at(c->img, c->addr, n, false);
	uint64_t v = 0;

	if (!p) {
		c->bad = true;
		return 0;
	}
	memcpy(&v, p, n); /* x86-64: little-endian */
	c->addr += n;
	return v;
}

static uint64_t read_leb(struct cursor *c, bool is_signed)
{
	uint64_t v = 0;
	unsigned int shift = 0;
	uint8_t b;

	do {
		b = read_fixed(c, 1);
		if (shift < 64)
			v |= (uint64_t)(b & 0x7f) << shift;
		shift += 7;
	} while ((b & 0x80) && !c->bad);
	if (is_signed && shift < 64 && (b & 0x40))
		v |= ~0ULL << shift;
	return v;
}

/* A pointer in encoding enc (DW_EH_PE_*): absolute or pc-relative, not indirect. */
static uint64_t read_encoded(struct cursor *c, uint8_t enc, bool apply)
{
	uint64_t field = c->addr, v;

	switch (enc & 0x0f) {
	case DW_EH_PE_absptr:
	case DW_EH_PE_udata8:
	case DW_EH_PE_sdata8:
		v = read_fixed(c, 8);
		break;
	case DW_EH_PE_udata4:
		v = read_fixed(c, 4);
		break;
	case DW_EH_PE_sdata4:
		v = (uint64_t)(int64_t)(int32_t)read_fixed(c, 4);
		break;
	case DW_EH_PE_udata2:
		v = read_fixed(c, 2);
		break;
	case DW_EH_PE_sdata2:
		v = (uint64_t)(int64_t)(int16_t)read_fixed(c, 2);
		break;
	case DW_EH_PE_uleb128:
		v = read_leb(c, false);
		break;
	case DW_EH_PE_sleb128:
		v = read_leb(c, true);
		break;
	default:
		c->bad = true;
		return 0;
	}
	if (!apply)
		return v;
	if ((enc & 0x70) == DW_EH_PE_pcrel)
		return v + field;
	if ((enc & 0x70) != DW_EH_PE_absptr || (enc & DW_EH_PE_indirect))
		c->bad = true;
	return v;
}

/* The encoding of the FDE addresses a CIE gives (its 'R' augmentation), or -1. */
static int fde_encoding(const struct probe_image *img, uint64_t cie)
{
	struct cursor c = {img, cie, false};
	const uint8_t *aug;
	uint8_t version;
	size_t n;

	if (read_fixed(&c, 4) == 0xffffffff || read_fixed(&c, 4) != 0)
		return -1; /* a 64-bit DWARF entry, or not a CIE */
	version = read_fixed(&c, 1);
	aug = bytes_at(img, c.addr, 1, false);
	if (c.bad || !aug)
		return -1;
	for (n = 0; bytes_at(img, c.addr + n, 1, false) && aug[n]; n++)
		;
	c.addr += n + 1;
	if (aug[0] != 'z')
		return aug[0] ? -1 : DW_EH_PE_absptr;
	read_leb(&c, false); /* code alignment */
	read_leb(&c, true);  /* data alignment */
	if (version == 1)
		read_fixed(&c, 1);
	else
		read_leb(&c, false); /* return address register */
	read_leb(&c, false);	     /* augmentation data length */
	for (size_t i = 1; i < n && !c.bad; i++) {
		switch (aug[i]) {
		case 'R':
			return read_fixed(&c, 1);
		case 'L':
			read_fixed(&c, 1);
			break;
		case 'P':
			read_encoded(&c, read_fixed(&c, 1), false);
			break;
		case 'S':
		case 'B':
			break;
		default:
			return -1;
		}
	}
	return c.bad ? -1 : DW_EH_PE_absptr;
}

/*
 * The function holding addr by the FDE whose start the .eh_frame_hdr table lists last before
 * it: [pc_begin, pc_begin + pc_range) as the FDE itself says.
 */
static int eh_frame_function(void *ctx, uint64_t addr, uint64_t *start, uint64_t *end)
{
	const struct probe_image *img = ctx;
	size_t lo = 0, hi = img->nfdes;
	struct cursor c = {img, 0, false};
	uint64_t fde, cie_field, begin, range;
	int enc;

	while (lo < hi) {
		size_t mid = lo + (hi - lo) / 2;

		if (img->fde_base + table_word(img, 2 * mid) <= addr)
			lo = mid + 1;
		else
			hi = mid;
	}
	if (!lo)
		return -ENOENT;
	fde = img->fde_base + table_word(img, 2 * (lo - 1) + 1);
	c.addr = fde;
	if (read_fixed(&c, 4) == 0xffffffff)
		return -ENOENT;
	cie_field = c.addr;
	cie_field -= read_fixed(&c, 4);
	enc = c.bad ? -1 : fde_encoding(img, cie_field);
	if (enc < 0)
		return -ENOENT;
	begin = read_encoded(&c, enc, true);
	range = read_encoded(&c, enc & 0x0f, false);
	if (c.bad || begin != img->fde_base + table_word(img, 2 * (lo - 1)) ||
	    addr >= begin + range)
		return -ENOENT;
	*start = begin;
	*end = begin + range;
	return 0;
}

/* ---- the image ----------------------------------------------------------------------------- */

int probe_image_open(const char *path, struct probe_image **out)
{
	struct probe_image *img;
	GElf_Ehdr eh;
	size_t n;
	int err = -ENOEXEC;

	if (elf_version(EV_CURRENT) == EV_NONE)
		return -EINVAL;
	img = calloc(1, sizeof(*img));
	if (!img)
		return -ENOMEM;
	img->fd = -1;
	snprintf(img->path, sizeof(img->path), "%s", path);
	img->fd = open(path, O_RDONLY | O_CLOEXEC);
	if (img->fd < 0) {
		err = -errno;
		goto fail;
	}
	img->elf = elf_begin(img->fd, ELF_C_READ_MMAP, NULL);
	if (!img->elf || elf_kind(img->elf) != ELF_K_ELF || !gelf_getehdr(img->elf, &eh) ||
	    eh.e_ident[EI_CLASS] != ELFCLASS64 || eh.e_machine != EM_X86_64 ||
	    elf_getphdrnum(img->elf, &n))
		goto fail;
	img->file = (const uint8_t *)elf_rawfile(img->elf, &img->file_size);
	img->phdrs = calloc(n ? n : 1, sizeof(*img->phdrs));
	err = -ENOMEM;
	if (!img->file || !img->phdrs)
		goto fail;
	for (size_t i = 0; i < n; i++)
		if (gelf_getphdr(img->elf, i, &img->phdrs[img->nphdrs]))
			img->nphdrs++;
	read_fde_table(img);
	probe_image_set_table(img, ".eh_frame", eh_frame_function, img);
	if (cs_open(CS_ARCH_X86, CS_MODE_64, &img->cs) != CS_ERR_OK)
		goto fail;
	img->cs_open = true;
	cs_option(img->cs, CS_OPT_DETAIL, CS_OPT_ON);
	img->insn = cs_malloc(img->cs);
	if (!img->insn)
		goto fail;
	*out = img;
	return 0;
fail:
	probe_image_free(img);
	return err;
}

void probe_image_free(struct probe_image *img)
{
	if (!img)
		return;
	if (img->insn)
		cs_free(img->insn, 1);
	if (img->cs_open)
		cs_close(&img->cs);
	if (img->elf)
		elf_end(img->elf);
	if (img->fd >= 0)
		close(img->fd);
	free(img->phdrs);
	free(img->starts);
	free(img);
}

void probe_image_set_table(struct probe_image *img, const char *table, probe_function_at fn,
			   void *ctx)
{
	img->table = table;
	img->function_at = fn;
	img->ctx = ctx;
	img->fn_start = img->fn_end = 0; /* decoded by another table's bounds */
}

int probe_image_function(const struct probe_image *img, uint64_t addr, uint64_t *start,
			 uint64_t *end)
{
	uint64_t s, e;

	if (img->function_at(img->ctx, addr, &s, &e) || addr < s || addr >= e)
		return -ENOENT;
	*start = s;
	*end = e;
	return 0;
}

/* ---- the check ----------------------------------------------------------------------------- */

static int visit_start(const cs_insn *insn, void *arg)
{
	struct probe_image *img = arg;

	if (!array_grow((void **)&img->starts, &img->cap_starts, img->nstarts + 1,
			sizeof(*img->starts)))
		return -ENOMEM;
	img->starts[img->nstarts++] = insn->address;
	img->fn_stop = insn->address + insn->size;
	return 0;
}

/* Decodes [start, end) into img->starts, unless it is the function decoded last. */
static int decode_function(struct probe_image *img, uint64_t start, uint64_t end)
{
	uint64_t avail = code_after(img, start);
	const uint8_t *code = bytes_at(img, start, 1, true);
	int err;

	if (img->fn_end && img->fn_start == start && img->fn_end == end)
		return 0;
	img->fn_start = img->fn_end = 0;
	img->nstarts = 0;
	img->fn_stop = start;
	if (code && end > start) {
		err = x86_each_insn(img->cs, img->insn, code,
				    end - start < avail ? end - start : avail, start, visit_start,
				    img);
		if (err == -ENOMEM)
			return err;
	}
	img->fn_start = start;
	img->fn_end = end;
	return 0;
}

/* Index of addr among the decoded instruction starts, or -1. */
static ssize_t start_index(const struct probe_image *img, uint64_t addr)
{
	size_t lo = 0, hi = img->nstarts;

	while (lo < hi) {
		size_t mid = lo + (hi - lo) / 2;

		if (img->starts[mid] < addr)
			lo = mid + 1;
		else
			hi = mid;
	}
	return lo < img->nstarts && img->starts[lo] == addr ? (ssize_t)lo : -1;
}

/* Decodes the one instruction at addr into img->insn. */
static bool decode_one(struct probe_image *img, uint64_t addr)
{
	uint64_t avail = code_after(img, addr);
	size_t size = avail < MAX_INSN_BYTES ? avail : MAX_INSN_BYTES;
	const uint8_t *code = bytes_at(img, addr, 1, true);

	return code && cs_disasm_iter(img->cs, &code, &size, &addr, img->insn);
}

static bool is_reg(const cs_x86_op *op, x86_reg reg)
{
	return op->type == X86_OP_REG && op->reg == reg;
}

static bool is_expected(struct probe_image *img, const struct probe_site *site, ssize_t index,
			uint64_t start, uint64_t end)
{
	const cs_x86 *x = &img->insn->detail->x86;
	uint64_t target;

	switch (site->insn) {
	case PROBE_ENTRY:
		return site->addr == start;
	case PROBE_FRAME_SETUP:
		if (img->insn->id == X86_INS_PUSH)
			return x->op_count == 1 && is_reg(&x->operands[0], X86_REG_RBP);
		/* SUB RSP, n; a frame of 128 bytes is ADD RSP, -128 (the immediate fits a byte) */
		return (img->insn->id == X86_INS_SUB || img->insn->id == X86_INS_ADD) &&
		       x->op_count == 2 && is_reg(&x->operands[0], X86_REG_RSP) &&
		       x->operands[1].type == X86_OP_IMM &&
		       (img->insn->id == X86_INS_SUB) == (x->operands[1].imm > 0);
	case PROBE_RET:
		return img->insn->id == X86_INS_RET;
	case PROBE_EXIT:
		if (img->insn->id == X86_INS_RET)
			return true;
		if (img->insn->id != X86_INS_JMP || x->op_count != 1)
			return false;
		/* through a GOT slot, or direct to another function */
		if (x->operands[0].type == X86_OP_MEM)
			return x->operands[0].mem.base == X86_REG_RIP;
		target = x->operands[0].type == X86_OP_IMM ? (uint64_t)x->operands[0].imm : 0;
		return target && (target < start || target >= end);
	case PROBE_MARKER:
		return img->insn->id == X86_INS_NOP;
	case PROBE_AFTER_LOCKED_UPDATE:
		if (index < 1 || !decode_one(img, img->starts[index - 1]))
			return false;
		return (img->insn->id == X86_INS_XADD || img->insn->id == X86_INS_CMPXCHG) &&
		       x->prefix[0] == X86_PREFIX_LOCK;
	}
	return false;
}

static const char *const expected_names[] = {
    [PROBE_ENTRY] = "its function's start",
    [PROBE_FRAME_SETUP] = "the frame's PUSH RBP or SUB RSP after the stack check",
    [PROBE_RET] = "a RET",
    [PROBE_EXIT] = "a RET or a tail call",
    [PROBE_MARKER] = "a marker's NOP",
    [PROBE_AFTER_LOCKED_UPDATE] = "after a LOCK XADD or LOCK CMPXCHG",
};

static int refuse(int err, char *why, size_t len, const char *fmt, ...)
    __attribute__((format(printf, 4, 5)));

static int refuse(int err, char *why, size_t len, const char *fmt, ...)
{
	va_list ap;

	va_start(ap, fmt);
	vsnprintf(why, len, fmt, ap);
	va_end(ap);
	return err;
}

int probe_site_check(struct probe_image *img, const struct probe_site *site, char *why, size_t len)
{
	unsigned long long addr = site->addr;
	uint64_t start, end;
	ssize_t index;
	int err;

	if (!code_after(img, addr))
		return refuse(-EFAULT, why, len, "0x%llx is not in the file's code", addr);
	if (probe_image_function(img, addr, &start, &end)) {
		if (site->insn != PROBE_MARKER)
			return refuse(-ENOENT, why, len, "no function of %s holds 0x%llx",
				      img->table, addr);
		start = addr;
		end = addr + MAX_INSN_BYTES;
	} else if (site->func && start != site->func) {
		return refuse(-EXDEV, why, len,
			      "%s puts 0x%llx in the function at 0x%llx, not the one at 0x%llx",
			      img->table, addr, (unsigned long long)start,
			      (unsigned long long)site->func);
	}
	err = decode_function(img, start, end);
	if (err)
		return refuse(err, why, len, "%s", strerror(-err));
	index = start_index(img, addr);
	if (index < 0 && addr >= img->fn_stop)
		return refuse(-EILSEQ, why, len,
			      "the function at 0x%llx (%s) stops decoding at 0x%llx, before 0x%llx",
			      (unsigned long long)start, img->table,
			      (unsigned long long)img->fn_stop, addr);
	if (index < 0)
		return refuse(-EILSEQ, why, len,
			      "0x%llx is inside an instruction of the function at 0x%llx (%s)",
			      addr, (unsigned long long)start, img->table);
	if (!decode_one(img, addr))
		return refuse(-EILSEQ, why, len, "0x%llx does not decode", addr);
	if (!is_expected(img, site, index, start, end)) {
		decode_one(img, addr);
		return refuse(-EPROTO, why, len, "0x%llx holds %s %s, not %s", addr,
			      img->insn->mnemonic, img->insn->op_str, expected_names[site->insn]);
	}
	return 0;
}

/*
 * The x86 uprobe code emulates a PUSH of a register, a NOP and a relative JMP, CALL or Jcc; any
 * other instruction is copied to a slot and single-stepped there, which costs a second trap.
 */
bool probe_site_emulated(struct probe_image *img, uint64_t addr)
{
	const cs_x86 *x;

	if (!decode_one(img, addr))
		return false;
	x = &img->insn->detail->x86;
	switch (img->insn->id) {
	case X86_INS_PUSH:
		return x->op_count == 1 && x->operands[0].type == X86_OP_REG;
	case X86_INS_NOP:
		return true;
	default:
		return (cs_insn_group(img->cs, img->insn, CS_GRP_JUMP) ||
			cs_insn_group(img->cs, img->insn, CS_GRP_CALL)) &&
		       x->op_count == 1 && x->operands[0].type == X86_OP_IMM;
	}
}

const char *probe_image_path(const struct probe_image *img)
{
	return img->path;
}

struct bpf_link *probe_site_attach(struct probe_image *img, struct bpf_program *prog, pid_t pid,
				   const struct probe_site *site, uint64_t cookie, char *why,
				   size_t len)
{
	LIBBPF_OPTS(bpf_uprobe_opts, opts, .bpf_cookie = cookie);
	struct bpf_link *link;
	int err = probe_site_check(img, site, why, len);

	if (err) {
		errno = -err;
		return NULL;
	}
	link = bpf_program__attach_uprobe_opts(prog, pid, img->path,
					       probe_image_file_offset(img, site->addr), &opts);
	if (!link) {
		err = errno;
		refuse(0, why, len, "%s", strerror(err));
		errno = err;
	}
	return link;
}
