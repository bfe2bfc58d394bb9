// SPDX-License-Identifier: MIT
/*
 * Static analysis of one ELF file for the Tokio adaptor (facts: docs/runtimes.md).
 *
 * Everything hangs off the task vtables. A vtable is a static `Vtable` whose first slot is
 * raw::poll<T,S>, so it exists for every spawned future type whatever LTO did to the code
 * around it. They are found in two ways:
 *
 *  - with symbols: every pointer in the data whose target is a raw::poll symbol starts one
 *    (and the shape search below runs too, to check the symbols: check_poll_symbols());
 *  - without: by their shape, 7 code pointers followed by 3 small offsets (vtable_at()).
 *
 * "Pointers in the data" are the relocated words of a PIE or shared object (RELA addends,
 * RELR words), or, in a position-dependent executable, every aligned data word that holds a
 * code address. Both kinds go into one sorted array, so the two searches are the same code.
 *
 * Where a poll returns comes from disassembly: raw::poll is either the whole poll (fat LTO
 * inlines the harness into it) or a lone tail jump to Harness<T,S>::poll, whose rets are then
 * the poll's end. Function extents come from .eh_frame_hdr: the next FDE's start bounds the
 * function (the gap is alignment padding, which holds no ret); a symbol's size only where no
 * FDE starts, since sizes are what a rewritten .symtab can lie about.
 *
 * The future type behind a vtable is read, in order of preference, from the generic arguments
 * of a v0 raw::poll symbol, from the DW_AT_name of the raw::poll (or Harness::poll) subprogram
 * DIE, or from the legacy name of a drop glue the task's dealloc or poll calls, which keeps
 * its type arguments when the function name does not. LLVM merges identical functions, so one
 * address may carry the names of several types; such an address names none.
 *
 * The waker functions are recovered from the RawWakerVTable the polls load
 * (find_waker_vtable()), with or without symbols: a symbol that names another function is
 * disputed (check_waker_symbols()). Without symbols, Harness::complete, NEXT_ID and CONTEXT are
 * left unknown.
 *
 * Symbols are what the running program never reads, so they can lie (a debug file from
 * another build, a rewritten table) without the program noticing. A hook they place where the
 * code says otherwise is left out and named in tb->disputes; probe_site checks every address
 * again, against the .eh_frame FDEs and the instructions, before a probe is attached.
 */
#include "tokio_binary.h"
#include "spawn_probe.h"
#include "util/array.h"
#include "util/hashmap.h"
#include "symbols/demangle.h"
#include "symbols/symbolizer.h"
#include "symbols/x86.h"

#include <capstone/capstone.h>
#include <dwarf.h>
#include <elfutils/libdw.h>
#include <errno.h>
#include <fcntl.h>
#include <gelf.h>
#include <stddef.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

/* Vtable words (1.23 to at least 1.53): 7 functions, then trailer, scheduler and id offsets. */
enum {
	VT_POLL,
	VT_SCHEDULE,
	VT_DEALLOC,
	VT_TRY_READ_OUTPUT,
	VT_FUNCTIONS = 7,
	VT_TRAILER_OFFSET = 7,
	VT_SCHEDULER_OFFSET,
	VT_ID_OFFSET,
	VT_WORDS,
};

/* The scheduler follows the Header, which is at least 4 words. */
#define MIN_SCHEDULER_OFFSET 32
/* No task cell is this big; bounds the offsets so that other tables do not pass for vtables. */
#define MAX_TASK_OFFSET (1ULL << 26)
/* raw::poll -> Harness::poll is one hop; a second allows for a thunk in between. */
#define MAX_TAIL_JUMPS 2
/* How far into a called function the waker search looks for its vtable. */
#define CALLEE_INSNS 24
#define WAKER_FUNCTIONS 4    /* RawWakerVTable: clone, wake, wake_by_ref, drop */
#define AMBIGUOUS UINT64_MAX /* in a type map: symbols of different types share the address */

static const char GEN_FUTURE[] = "core::future::from_generator::GenFuture<";
static const char BLOCKING_TASK[] = "tokio::runtime::blocking::task::BlockingTask<";

/* A word of the file's data that holds a code or data address once the file is loaded. */
struct pointer {
	uint64_t where, target;
};

/* What a symbol's demangled name says it is. */
enum symbol_kind {
	SYM_OTHER,
	SYM_RAW_POLL,
	SYM_COMPLETE,
	SYM_TASK_FUNCTION, /* any other function of tokio::runtime::task */
	SYM_DROP_GLUE,	   /* drop_in_place of a task cell, stage or guard: names the future */
	SYM_WAKE_BY_VAL,
	SYM_WAKE_BY_REF,
	SYM_CLONE_WAKER,
	SYM_DROP_WAKER,
	SYM_WAKER_VTABLE,
	SYM_NEXT_ID,
	SYM_CONTEXT,
};

struct analysis {
	struct tokio_binary *tb;
	Elf *elf;
	const uint8_t *file;
	size_t file_size;
	GElf_Ehdr ehdr;
	GElf_Phdr *phdrs;
	size_t nphdrs;

	struct pointer *ptrs; /* sorted by where, unique */
	size_t nptrs, cap_ptrs;

	/* .eh_frame_hdr search table: pairs of int32 (function start, FDE), relative to fde_base */
	const uint8_t *fde_table;
	size_t nfdes;
	uint64_t fde_base;

	/* From symbols. */
	uint64_t *raw_polls;
	size_t nraw_polls, cap_raw_polls;
	struct hashmap *sizes;	    /* function address -> size, for the functions of interest */
	struct hashmap *drop_glue;  /* drop glue address -> index into types */
	struct hashmap *poll_types; /* v0 raw::poll address -> index into types */
	struct hashmap *completes;  /* dedupes Harness::complete addresses */
	char **types;		    /* future type names, owned */
	size_t ntypes, cap_types;
	uint64_t context_value, context_size;
	bool has_context;

	uint64_t code_wakers[WAKER_FUNCTIONS]; /* the RawWakerVTable's functions; 0: not found */
	struct hashmap *task_functions; /* functions of the vtables found by shape (with symbols) */
	size_t unnamed_polls;		/* of those vtables, polls no raw::poll symbol names */
	struct hashmap *poll_index;	/* poll entry -> index into tb->polls */
	size_t cap_vtables, cap_complete;
	char **poll_names;  /* per tb->polls[i]: future type from the v0 symbol or DWARF */
	size_t *poll_users; /* per tb->polls[i]: vtables pointing at it */

	csh cs;
	cs_insn *insn;
	bool cs_open;
	int fd;

	/* Kept after the analysis: which task types the functions on a spawn's stack make. */
	struct hashmap *vtable_index; /* vtable address -> index + 1 */
	struct hashmap *spawners;     /* function start -> index into spawner + 1 */
	struct hashmap *type_memo;    /* function start << 3 | depth -> spawned type + 3 */
	struct spawner *spawner;
	size_t nspawners, cap_spawners;
};

static bool has_prefix(const char *s, const char *prefix)
{
	return strncmp(s, prefix, strlen(prefix)) == 0;
}

static bool has_suffix(const char *s, const char *suffix)
{
	size_t n = strlen(s), m = strlen(suffix);

	return n >= m && strcmp(s + n - m, suffix) == 0;
}

/* ---- the file image ------------------------------------------------------------------------ */

/* The file bytes behind [vaddr, vaddr + len), or NULL when they are not all in one segment. */
static const uint8_t *image_bytes(const struct analysis *a, uint64_t vaddr, uint64_t len)
{
	for (size_t i = 0; i < a->nphdrs; i++) {
		const GElf_Phdr *p = &a->phdrs[i];

		if (p->p_type != PT_LOAD || vaddr < p->p_vaddr ||
		    vaddr - p->p_vaddr > p->p_filesz || len > p->p_filesz - (vaddr - p->p_vaddr))
			continue;
		if (p->p_offset + p->p_filesz > a->file_size)
			return NULL;
		return a->file + p->p_offset + (vaddr - p->p_vaddr);
	}
	return NULL;
}

static bool read_word(const struct analysis *a, uint64_t vaddr, uint64_t *word)
{
	const uint8_t *p = image_bytes(a, vaddr, sizeof(*word));

	if (!p)
		return false;
	memcpy(word, p, sizeof(*word));
	return true;
}

/* The end of the executable segment holding vaddr, 0 when vaddr is not code. */
static uint64_t code_segment_end(const struct analysis *a, uint64_t vaddr)
{
	for (size_t i = 0; i < a->nphdrs; i++) {
		const GElf_Phdr *p = &a->phdrs[i];

		if (p->p_type == PT_LOAD && (p->p_flags & PF_X) && vaddr >= p->p_vaddr &&
		    vaddr - p->p_vaddr < p->p_filesz)
			return p->p_vaddr + p->p_filesz;
	}
	return 0;
}

static bool is_code(const struct analysis *a, uint64_t vaddr)
{
	return code_segment_end(a, vaddr) != 0;
}

static int open_image(struct analysis *a, int fd)
{
	size_t n;

	a->elf = elf_begin(fd, ELF_C_READ_MMAP, NULL);
	if (!a->elf || elf_kind(a->elf) != ELF_K_ELF)
		return -ENOEXEC;
	if (!gelf_getehdr(a->elf, &a->ehdr) || a->ehdr.e_ident[EI_CLASS] != ELFCLASS64 ||
	    a->ehdr.e_machine != EM_X86_64)
		return -ENOEXEC;
	a->file = (const uint8_t *)elf_rawfile(a->elf, &a->file_size);
	if (!a->file || elf_getphdrnum(a->elf, &n))
		return -ENOEXEC;
	a->phdrs = calloc(n ? n : 1, sizeof(*a->phdrs));
	if (!a->phdrs)
		return -ENOMEM;
	for (size_t i = 0; i < n; i++)
		if (gelf_getphdr(a->elf, i, &a->phdrs[i]))
			a->nphdrs++;
	return 0;
}

/* ---- pointers in the data ------------------------------------------------------------------ */

static int add_pointer(struct analysis *a, uint64_t where, uint64_t target)
{
	if (!array_grow((void **)&a->ptrs, &a->cap_ptrs, a->nptrs + 1, sizeof(*a->ptrs)))
		return -ENOMEM;
	a->ptrs[a->nptrs++] = (struct pointer){where, target};
	return 0;
}

static int read_rela(struct analysis *a, Elf_Scn *scn, const GElf_Shdr *sh)
{
	Elf_Data *data = elf_getdata(scn, NULL);
	Elf_Data *syms = NULL;
	Elf_Scn *symscn = elf_getscn(a->elf, sh->sh_link);
	size_t n;

	if (!data || !sh->sh_entsize)
		return 0;
	if (symscn)
		syms = elf_getdata(symscn, NULL);
	n = sh->sh_size / sh->sh_entsize;
	for (size_t i = 0; i < n; i++) {
		GElf_Rela r;
		GElf_Sym sym;
		uint64_t type;
		int err;

		if (!gelf_getrela(data, i, &r))
			return -EINVAL;
		type = GELF_R_TYPE(r.r_info);
		if (type == R_X86_64_RELATIVE) {
			err = add_pointer(a, r.r_offset, r.r_addend);
		} else if (type == R_X86_64_64 || type == R_X86_64_GLOB_DAT) {
			/* Only symbols defined here point into this file. */
			if (!syms || !gelf_getsym(syms, GELF_R_SYM(r.r_info), &sym) ||
			    sym.st_shndx == SHN_UNDEF)
				continue;
			err = add_pointer(a, r.r_offset, sym.st_value + r.r_addend);
		} else {
			continue;
		}
		if (err)
			return err;
	}
	return 0;
}

/* RELR (-z pack-relative-relocs) lists relocated words only; the file holds their targets. */
static int read_relr(struct analysis *a, Elf_Scn *scn)
{
	Elf_Data *data = elf_getdata(scn, NULL);
	uint64_t where = 0;

	if (!data)
		return 0;
	for (size_t i = 0; i + sizeof(uint64_t) <= data->d_size; i += sizeof(uint64_t)) {
		uint64_t entry, target;

		memcpy(&entry, (const uint8_t *)data->d_buf + i, sizeof(entry));
		if (!(entry & 1)) {
			if (read_word(a, entry, &target) && add_pointer(a, entry, target))
				return -ENOMEM;
			where = entry + 8;
			continue;
		}
		for (int bit = 0; bit < 63; bit++) {
			uint64_t w = where + bit * 8;

			if (((entry >> (bit + 1)) & 1) && read_word(a, w, &target) &&
			    add_pointer(a, w, target))
				return -ENOMEM;
		}
		where += 63 * 8;
	}
	return 0;
}

/* A position-dependent executable stores absolute addresses: take every data word into code. */
static int scan_absolute_pointers(struct analysis *a)
{
	for (size_t i = 0; i < a->nphdrs; i++) {
		const GElf_Phdr *p = &a->phdrs[i];
		uint64_t start = (p->p_vaddr + 7) & ~7ULL;

		if (p->p_type != PT_LOAD || (p->p_flags & PF_X))
			continue;
		for (uint64_t w = start; w + 8 <= p->p_vaddr + p->p_filesz; w += 8) {
			uint64_t word;

			if (read_word(a, w, &word) && is_code(a, word) && add_pointer(a, w, word))
				return -ENOMEM;
		}
	}
	return 0;
}

static int compare_pointers(const void *x, const void *y)
{
	const struct pointer *p = x, *q = y;

	return p->where < q->where ? -1 : p->where > q->where;
}

static int read_pointers(struct analysis *a)
{
	Elf_Scn *scn = NULL;
	GElf_Shdr sh;
	size_t n = 0;
	int err = 0;

	while (!err && (scn = elf_nextscn(a->elf, scn))) {
		if (!gelf_getshdr(scn, &sh) || !(sh.sh_flags & SHF_ALLOC))
			continue;
		if (sh.sh_type == SHT_RELA)
			err = read_rela(a, scn, &sh);
		else if (sh.sh_type == SHT_RELR)
			err = read_relr(a, scn);
	}
	if (!err && a->ehdr.e_type == ET_EXEC)
		err = scan_absolute_pointers(a);
	if (err)
		return err;
	if (!a->nptrs)
		return 0;
	qsort(a->ptrs, a->nptrs, sizeof(*a->ptrs), compare_pointers);
	for (size_t i = 0; i < a->nptrs; i++)
		if (!n || a->ptrs[n - 1].where != a->ptrs[i].where)
			a->ptrs[n++] = a->ptrs[i];
	a->nptrs = n;
	return 0;
}

/*
 * Index of the element whose key (the uint64_t at offset in each of the n elements of size
 * stride at base, sorted by it) is key, or -1.
 */
static ssize_t find_sorted(const void *base, size_t n, size_t stride, size_t offset, uint64_t key)
{
	size_t lo = 0, hi = n;
	uint64_t k;

	while (lo < hi) {
		size_t mid = lo + (hi - lo) / 2;

		memcpy(&k, (const char *)base + mid * stride + offset, sizeof(k));
		if (k < key)
			lo = mid + 1;
		else
			hi = mid;
	}
	if (lo < n)
		memcpy(&k, (const char *)base + lo * stride + offset, sizeof(k));
	return lo < n && k == key ? (ssize_t)lo : -1;
}

/* Index of the pointer stored at where, or -1. */
static ssize_t pointer_index(const struct analysis *a, uint64_t where)
{
	return find_sorted(a->ptrs, a->nptrs, sizeof(*a->ptrs), offsetof(struct pointer, where),
			   where);
}

static bool pointer_at(const struct analysis *a, uint64_t where, uint64_t *target)
{
	ssize_t i = pointer_index(a, where);

	if (i < 0)
		return false;
	*target = a->ptrs[i].target;
	return true;
}

/* ---- function extents ---------------------------------------------------------------------- */

static void read_fde_table(struct analysis *a)
{
	for (size_t i = 0; i < a->nphdrs; i++) {
		const GElf_Phdr *p = &a->phdrs[i];
		const uint8_t *hdr = image_bytes(a, p->p_vaddr, p->p_filesz);
		uint32_t count;

		/* version 1; eh_frame_ptr pcrel|sdata4; count udata4; table datarel|sdata4: what
		 * GNU ld, gold and lld all write. */
		if (p->p_type != PT_GNU_EH_FRAME || !hdr || p->p_filesz < 12 || hdr[0] != 1 ||
		    hdr[1] != (DW_EH_PE_pcrel | DW_EH_PE_sdata4) || hdr[2] != DW_EH_PE_udata4 ||
		    hdr[3] != (DW_EH_PE_datarel | DW_EH_PE_sdata4))
			continue;
		memcpy(&count, hdr + 8, sizeof(count));
		if ((uint64_t)count * 8 > p->p_filesz - 12)
			continue;
		a->fde_table = hdr + 12;
		a->nfdes = count;
		a->fde_base = p->p_vaddr;
		return;
	}
}

static uint64_t fde_start(const struct analysis *a, size_t i)
{
	int32_t rel;

	memcpy(&rel, a->fde_table + i * 8, sizeof(rel));
	return a->fde_base + (int64_t)rel;
}

/* The end of the function at start by the FDEs: the next FDE's start; 0 when none starts there. */
static uint64_t fde_end(const struct analysis *a, uint64_t start)
{
	size_t lo = 0, hi = a->nfdes;

	while (lo < hi) {
		size_t mid = lo + (hi - lo) / 2;

		if (fde_start(a, mid) < start)
			lo = mid + 1;
		else
			hi = mid;
	}
	if (lo >= a->nfdes || fde_start(a, lo) != start)
		return 0;
	if (lo + 1 < a->nfdes && fde_start(a, lo + 1) > start &&
	    fde_start(a, lo + 1) <= code_segment_end(a, start))
		return fde_start(a, lo + 1);
	return code_segment_end(a, start);
}

/* The end of the function at start (exclusive), 0 when unknown. */
static uint64_t function_end(const struct analysis *a, uint64_t start)
{
	uint64_t end = fde_end(a, start), size;

	if (end)
		return end;
	return hashmap_get(a->sizes, &start, sizeof(start), &size) && size ? start + size : 0;
}

/* The function holding addr, from the FDE table: [its FDE's start, the next FDE's start). */
static bool fde_function(const struct analysis *a, uint64_t addr, uint64_t *start, uint64_t *end)
{
	size_t lo = 0, hi = a->nfdes;

	while (lo < hi) {
		size_t mid = lo + (hi - lo) / 2;

		if (fde_start(a, mid) <= addr)
			lo = mid + 1;
		else
			hi = mid;
	}
	if (!lo)
		return false;
	*start = fde_start(a, lo - 1);
	*end = function_end(a, *start);
	return *end > addr;
}

/* ---- symbols ------------------------------------------------------------------------------- */

/* The type a drop glue drops: legacy "core::ptr::drop_in_place<T>", v0 "...::<T>"; or NULL. */
static const char *dropped_type(const char *d)
{
	static const char glue[] = "core::ptr::drop_in_place";

	if (!has_prefix(d, glue))
		return NULL;
	d += sizeof(glue) - 1;
	return has_prefix(d, "::<") ? d + 3 : has_prefix(d, "<") ? d + 1 : NULL;
}

/* Whether t is a task's Cell<T,S>, CoreStage<T>, Stage<T> or poll_future's Guard<T,S>: types
 * whose first generic argument is the future. */
static bool is_task_part(const char *t)
{
	static const char *const parts[] = {"Cell<", "CoreStage<", "Stage<", "Guard<"};
	const char *lt = strchr(t, '<'), *name = lt;

	if (!lt || !has_prefix(t, "tokio::runtime::task::"))
		return false;
	while (name > t && name[-1] != ':')
		name--;
	for (size_t i = 0; i < sizeof(parts) / sizeof(parts[0]); i++)
		if (name + strlen(parts[i]) == lt + 1 && has_prefix(name, parts[i]))
			return true;
	return false;
}

static enum symbol_kind classify_function(const char *d)
{
	static const char raw_poll[] = "tokio::runtime::task::raw::poll";
	static const char harness[] = "tokio::runtime::task::harness::Harness<";
	const char *t;

	if (has_prefix(d, raw_poll) &&
	    (!d[sizeof(raw_poll) - 1] || has_prefix(d + sizeof(raw_poll) - 1, "::<")))
		return SYM_RAW_POLL;
	/* legacy "tokio::...::Harness<T,S>::complete", v0 "<tokio::...::Harness<A, B>>::complete"
	 */
	if ((has_prefix(d, harness) || (d[0] == '<' && has_prefix(d + 1, harness))) &&
	    has_suffix(d, ">::complete"))
		return SYM_COMPLETE;
	if (strcmp(d, "tokio::runtime::task::waker::wake_by_val") == 0)
		return SYM_WAKE_BY_VAL;
	if (strcmp(d, "tokio::runtime::task::waker::wake_by_ref") == 0)
		return SYM_WAKE_BY_REF;
	if (strcmp(d, "tokio::runtime::task::waker::clone_waker") == 0)
		return SYM_CLONE_WAKER;
	if (strcmp(d, "tokio::runtime::task::waker::drop_waker") == 0)
		return SYM_DROP_WAKER;
	if (has_prefix(d, "tokio::runtime::task::") || has_prefix(d, "<tokio::runtime::task::"))
		return SYM_TASK_FUNCTION;
	t = dropped_type(d);
	return t && is_task_part(t) ? SYM_DROP_GLUE : SYM_OTHER;
}

static enum symbol_kind classify(const char *d, int type)
{
	if (type == STT_FUNC)
		return classify_function(d);
	if (type == STT_TLS)
		return has_prefix(d, "tokio::runtime::context::CONTEXT::") ? SYM_CONTEXT
									   : SYM_OTHER;
	if (type != STT_OBJECT)
		return SYM_OTHER;
	if (strcmp(d, "tokio::runtime::task::waker::WAKER_VTABLE") == 0)
		return SYM_WAKER_VTABLE;
	/* legacy "tokio::runtime::task::id::Id::next::NEXT_ID", v0 "<tokio::...::Id>::next::...";
	 * the runtime's ThreadId::next::NEXT_ID lives outside runtime::task. */
	if ((has_prefix(d, "tokio::runtime::task::") || has_prefix(d, "<tokio::runtime::task::")) &&
	    (has_suffix(d, "::Id::next::NEXT_ID") || has_suffix(d, "::Id>::next::NEXT_ID")))
		return SYM_NEXT_ID;
	return SYM_OTHER;
}

/*
 * The first argument of a generic argument list; args points just past its '<'. Async fn
 * futures of older compilers come wrapped in GenFuture<>, which says nothing: it is removed.
 */
static char *first_generic_arg(const char *args)
{
	const size_t wrapper = sizeof(GEN_FUTURE) - 1;
	const char *p = args;
	int depth = 0;
	size_t n;

	for (; *p; p++) {
		if (*p == '<' || *p == '(' || *p == '[') {
			depth++;
		} else if (*p == '>' && p > args && p[-1] == '-') {
			continue; /* the arrow of a fn type */
		} else if (*p == '>' || *p == ')' || *p == ']') {
			if (depth-- == 0)
				break;
		} else if (*p == ',' && depth == 0) {
			break;
		}
	}
	n = p - args;
	if (!n)
		return NULL;
	if (n > wrapper + 1 && has_prefix(args, GEN_FUTURE) && args[n - 1] == '>')
		return strndup(args + wrapper, n - wrapper - 1);
	return strndup(args, n);
}

/*
 * Maps addr to type. LLVM merges functions whose code is identical, and the one address then
 * carries the symbols of all of them: when those name different types, the address names
 * none (AMBIGUOUS).
 */
static int add_type(struct analysis *a, struct hashmap *map, uint64_t addr, char *type)
{
	uint64_t v;
	int err = 0;

	if (!type)
		return 0;
	if (hashmap_get(map, &addr, sizeof(addr), &v)) {
		if (v != AMBIGUOUS && strcmp(a->types[v], type))
			err = hashmap_put(map, &addr, sizeof(addr), AMBIGUOUS);
		free(type);
		return err;
	}
	if (!array_grow((void **)&a->types, &a->cap_types, a->ntypes + 1, sizeof(*a->types))) {
		free(type);
		return -ENOMEM;
	}
	a->types[a->ntypes] = type;
	return hashmap_put(map, &addr, sizeof(addr), a->ntypes++);
}

/* The future type argument named in a v0 raw::poll or a drop glue name. */
static char *type_from_symbol(const char *d, enum symbol_kind kind)
{
	const char *p = kind == SYM_RAW_POLL ? strstr(d, "::<") : strchr(dropped_type(d), '<');

	if (!p)
		return NULL;
	return first_generic_arg(p + (kind == SYM_RAW_POLL ? 3 : 1));
}

static int add_raw_poll(struct analysis *a, uint64_t addr, const char *d)
{
	if (!array_grow((void **)&a->raw_polls, &a->cap_raw_polls, a->nraw_polls + 1,
			sizeof(*a->raw_polls)))
		return -ENOMEM;
	a->raw_polls[a->nraw_polls++] = addr;
	return add_type(a, a->poll_types, addr, type_from_symbol(d, SYM_RAW_POLL));
}

static int add_complete(struct analysis *a, uint64_t addr)
{
	struct tokio_binary *tb = a->tb;
	uint64_t v;

	if (hashmap_get(a->completes, &addr, sizeof(addr), &v))
		return 0;
	if (!array_grow((void **)&tb->complete, &a->cap_complete, tb->ncomplete + 1,
			sizeof(*tb->complete)))
		return -ENOMEM;
	tb->complete[tb->ncomplete++] = addr;
	return hashmap_put(a->completes, &addr, sizeof(addr), 1);
}

static int add_function(struct analysis *a, enum symbol_kind kind, const GElf_Sym *sym,
			const char *d)
{
	uint64_t addr = sym->st_value;
	int err = 0;

	if (!addr)
		return 0;
	switch (kind) {
	case SYM_RAW_POLL:
		err = add_raw_poll(a, addr, d);
		break;
	case SYM_DROP_GLUE:
		err = add_type(a, a->drop_glue, addr, type_from_symbol(d, kind));
		break;
	case SYM_COMPLETE:
		err = add_complete(a, addr);
		break;
	case SYM_WAKE_BY_VAL:
		a->tb->wake_by_val = addr;
		break;
	case SYM_WAKE_BY_REF:
		a->tb->wake_by_ref = addr;
		break;
	case SYM_CLONE_WAKER:
		a->tb->clone_waker = addr;
		break;
	case SYM_DROP_WAKER:
		a->tb->drop_waker = addr;
		break;
	default:
		break;
	}
	if (!err)
		err = hashmap_put(a->sizes, &addr, sizeof(addr), sym->st_size);
	return err;
}

static int add_symbol(struct analysis *a, const GElf_Sym *sym, const char *name)
{
	int type = GELF_ST_TYPE(sym->st_info);
	enum symbol_kind kind;
	char *d;
	int err = 0;

	/* Demangling every name of a large binary costs more than the rest of the analysis; all
	 * the names wanted contain "tokio" in either mangling. */
	if (sym->st_shndx == SHN_UNDEF || !strstr(name, "tokio"))
		return 0;
	d = demangle(name);
	kind = classify(d ? d : name, type);
	switch (kind) {
	case SYM_OTHER:
		break;
	case SYM_WAKER_VTABLE:
		a->tb->waker_vtable = sym->st_value;
		break;
	case SYM_NEXT_ID:
		a->tb->next_id = sym->st_value;
		break;
	case SYM_CONTEXT:
		/*
		 * What thread_local! names the variable depends on std: rustc 1.63 has the lazy
		 * key CONTEXT::__getit::__KEY (the Option<Context> and its dtor state), rustc 1.95
		 * CONTEXT::{{constant}}::{{closure}}::__RUST_STD_INTERNAL_VAL; const keys of some
		 * versions are ...::VAL, with a one-byte STATE beside. The value is the largest.
		 */
		if (!a->has_context || sym->st_size > a->context_size) {
			a->has_context = true;
			a->context_value = sym->st_value;
			a->context_size = sym->st_size;
		}
		break;
	default:
		err = add_function(a, kind, sym, d ? d : name);
		break;
	}
	free(d);
	return err;
}

static int read_symbols(struct analysis *a)
{
	Elf_Scn *scn = NULL, *symtab = NULL, *dynsym = NULL, *use;
	GElf_Shdr sh;
	Elf_Data *data;

	while ((scn = elf_nextscn(a->elf, scn))) {
		if (!gelf_getshdr(scn, &sh))
			continue;
		if (sh.sh_type == SHT_SYMTAB)
			symtab = scn;
		else if (sh.sh_type == SHT_DYNSYM)
			dynsym = scn;
	}
	use = symtab ? symtab : dynsym;
	if (!use || !gelf_getshdr(use, &sh) || !sh.sh_entsize || !(data = elf_getdata(use, NULL)))
		return 0;
	for (size_t i = 1; i < sh.sh_size / sh.sh_entsize; i++) {
		GElf_Sym sym;
		const char *name;
		int err;

		if (!gelf_getsym(data, i, &sym))
			continue;
		name = elf_strptr(a->elf, sh.sh_link, sym.st_name);
		if (name && (err = add_symbol(a, &sym, name)))
			return err;
	}
	return 0;
}

/* ---- vtables ------------------------------------------------------------------------------- */

/*
 * Whether a task vtable starts at vaddr: 7 pointers into code, then trailer_offset,
 * scheduler_offset and id_offset as plain words (no pointer), all multiples of 8, with
 * trailer > id >= scheduler >= 32 (the header comes first, the id sits in Core after the
 * scheduler, the trailer after the future). Rust trait-object vtables start with drop, size
 * and align, and RawWakerVTables have 4 functions, so neither takes this shape.
 */
static bool vtable_at(const struct analysis *a, uint64_t vaddr, struct tokio_vtable *vt)
{
	uint64_t w[VT_WORDS], target;

	for (int i = 0; i < VT_WORDS; i++) {
		bool is_pointer = pointer_at(a, vaddr + 8 * i, &target);

		if (i < VT_FUNCTIONS) {
			if (!is_pointer || !is_code(a, target))
				return false;
			w[i] = target;
		} else if (is_pointer || !read_word(a, vaddr + 8 * i, &w[i]) || w[i] % 8) {
			return false;
		}
	}
	if (w[VT_SCHEDULER_OFFSET] < MIN_SCHEDULER_OFFSET ||
	    w[VT_ID_OFFSET] < w[VT_SCHEDULER_OFFSET] || w[VT_TRAILER_OFFSET] <= w[VT_ID_OFFSET] ||
	    w[VT_TRAILER_OFFSET] > MAX_TASK_OFFSET)
		return false;
	*vt = (struct tokio_vtable){
	    .vaddr = vaddr,
	    .poll = w[VT_POLL],
	    .schedule = w[VT_SCHEDULE],
	    .dealloc = w[VT_DEALLOC],
	    .try_read_output = w[VT_TRY_READ_OUTPUT],
	    .trailer_offset = w[VT_TRAILER_OFFSET],
	    .scheduler_offset = w[VT_SCHEDULER_OFFSET],
	    .id_offset = w[VT_ID_OFFSET],
	};
	return true;
}

static int add_vtable(struct analysis *a, const struct tokio_vtable *vt)
{
	struct tokio_binary *tb = a->tb;

	if (!array_grow((void **)&tb->vtables, &a->cap_vtables, tb->nvtables + 1,
			sizeof(*tb->vtables)))
		return -ENOMEM;
	tb->vtables[tb->nvtables++] = *vt;
	return 0;
}

/* Every pointer to a raw::poll symbol starts a vtable (the vtable is its only user). */
static int find_vtables_by_symbol(struct analysis *a)
{
	struct hashmap *polls = hashmap_new();
	int err = 0;

	if (!polls)
		return -ENOMEM;
	for (size_t i = 0; i < a->nraw_polls && !err; i++)
		err = hashmap_put(polls, &a->raw_polls[i], sizeof(uint64_t), i);
	for (size_t i = 0; i < a->nptrs && !err; i++) {
		struct tokio_vtable vt;
		uint64_t v;

		if (hashmap_get(polls, &a->ptrs[i].target, sizeof(uint64_t), &v) &&
		    vtable_at(a, a->ptrs[i].where, &vt))
			err = add_vtable(a, &vt);
	}
	hashmap_free(polls);
	return err;
}

/* Calls found on each vtable the data holds by its shape, until it returns non-zero. */
static int scan_vtables_by_shape(struct analysis *a,
				 int (*found)(struct analysis *a, const struct tokio_vtable *vt))
{
	for (size_t i = 0; i + VT_FUNCTIONS <= a->nptrs; i++) {
		struct tokio_vtable vt;
		int err;

		/* cheap test first: the 7 function slots are consecutive pointers */
		if (a->ptrs[i + VT_FUNCTIONS - 1].where !=
			a->ptrs[i].where + 8 * (VT_FUNCTIONS - 1) ||
		    !vtable_at(a, a->ptrs[i].where, &vt))
			continue;
		err = found(a, &vt);
		if (err)
			return err;
		i += VT_FUNCTIONS - 1;
	}
	return 0;
}

static int find_vtables_by_shape(struct analysis *a)
{
	return scan_vtables_by_shape(a, add_vtable);
}

/* ---- poll functions ------------------------------------------------------------------------ */

static int compare_u64(const void *x, const void *y)
{
	uint64_t p = *(const uint64_t *)x, q = *(const uint64_t *)y;

	return p < q ? -1 : p > q;
}

/* One poll per distinct entry (identical instantiations may share one), sorted by address. */
static int collect_polls(struct analysis *a)
{
	struct tokio_binary *tb = a->tb;
	size_t n = a->nraw_polls + tb->nvtables, m = 0;
	uint64_t *entries = malloc((n ? n : 1) * sizeof(*entries));
	int err = 0;

	if (!entries)
		return -ENOMEM;
	for (size_t i = 0; i < a->nraw_polls; i++)
		entries[i] = a->raw_polls[i];
	for (size_t i = 0; i < tb->nvtables; i++)
		entries[a->nraw_polls + i] = tb->vtables[i].poll;
	qsort(entries, n, sizeof(*entries), compare_u64);
	for (size_t i = 0; i < n; i++)
		if (!m || entries[m - 1] != entries[i])
			entries[m++] = entries[i];
	tb->polls = calloc(m ? m : 1, sizeof(*tb->polls));
	a->poll_names = calloc(m ? m : 1, sizeof(*a->poll_names));
	a->poll_users = calloc(m ? m : 1, sizeof(*a->poll_users));
	if (!tb->polls || !a->poll_names || !a->poll_users) {
		free(entries);
		return -ENOMEM;
	}
	for (size_t i = 0; i < m && !err; i++) {
		tb->polls[i].entry = entries[i];
		tb->polls[i].vtable = -1;
		err = hashmap_put(a->poll_index, &entries[i], sizeof(uint64_t), i);
	}
	tb->npolls = m;
	for (size_t i = 0; i < tb->nvtables && !err; i++) {
		uint64_t p;

		hashmap_get(a->poll_index, &tb->vtables[i].poll, sizeof(uint64_t), &p);
		if (tb->polls[p].vtable < 0)
			tb->polls[p].vtable = i;
		a->poll_users[p]++;
	}
	free(entries);
	return err;
}

/* Decodes one instruction at addr into a->insn. */
static bool decode_at(struct analysis *a, uint64_t addr)
{
	uint64_t end = code_segment_end(a, addr);
	size_t size = end && end - addr < 16 ? end - addr : 16;
	const uint8_t *code = end ? image_bytes(a, addr, size) : NULL;

	return code && cs_disasm_iter(a->cs, &code, &size, &addr, a->insn);
}

/* The target of a direct jmp or call; 0 for an indirect one. */
static uint64_t branch_target(const cs_insn *insn)
{
	const cs_x86 *x = &insn->detail->x86;

	return x->op_count == 1 && x->operands[0].type == X86_OP_IMM ? x->operands[0].imm : 0;
}

/*
 * An address loaded as a value: by a rip-relative lea, by a mov from a GOT slot (a static of
 * another crate in a PIE), or by a mov of an immediate (position-dependent code). 0 if none.
 */
static uint64_t address_operand(const struct analysis *a, const cs_insn *insn)
{
	const cs_x86 *x = &insn->detail->x86;
	uint64_t target;

	if (insn->id == X86_INS_LEA)
		return x86_rip_target(insn);
	if (insn->id != X86_INS_MOV || x->op_count != 2)
		return 0;
	if (x->operands[1].type == X86_OP_IMM)
		return x->operands[1].imm;
	if (x->operands[1].type == X86_OP_MEM && x->operands[1].mem.base == X86_REG_RIP &&
	    pointer_at(a, x86_rip_target(insn), &target))
		return target;
	return 0;
}

/* Follows the jumps to other functions a function starts with: raw::poll -> Harness::poll in
 * non-LTO builds. */
static uint64_t jump_chain_end(struct analysis *a, uint64_t addr)
{
	for (int hop = 0; hop < MAX_TAIL_JUMPS; hop++) {
		uint64_t target;

		if (!decode_at(a, addr))
			break;
		if (a->insn->id == X86_INS_ENDBR64 && !decode_at(a, addr + a->insn->size))
			break;
		target = a->insn->id == X86_INS_JMP ? branch_target(a->insn) : 0;
		if (!target || !function_end(a, target))
			break;
		addr = target;
	}
	return addr;
}

struct analysis_visit {
	struct analysis *a;
	int (*visit)(struct analysis *a, const cs_insn *insn, void *arg);
	void *arg;
};

static int visit_with_analysis(const cs_insn *insn, void *arg)
{
	struct analysis_visit *v = arg;

	return v->visit(v->a, insn, v->arg);
}

/*
 * Calls visit on each instruction of [start, end) until it returns non-zero, and returns that.
 * Returns -EILSEQ when the bytes stop decoding before end, -EFAULT when they are not in the file.
 */
static int disassemble(struct analysis *a, uint64_t start, uint64_t end,
		       int (*visit)(struct analysis *a, const cs_insn *insn, void *arg), void *arg)
{
	const uint8_t *code = end > start ? image_bytes(a, start, end - start) : NULL;
	struct analysis_visit v = {a, visit, arg};

	if (!code)
		return -EFAULT;
	return x86_each_insn(a->cs, a->insn, code, end - start, start, visit_with_analysis, &v);
}

struct ret_scan {
	struct tokio_poll_fn *poll;
	uint64_t start, end;
};

static int visit_ret(struct analysis *a, const cs_insn *insn, void *arg)
{
	struct ret_scan *s = arg;
	struct tokio_poll_fn *p = s->poll;
	uint64_t target = branch_target(insn);

	/*
	 * A jump out of the function, direct or through a GOT slot, is a tail call: the poll is
	 * over there too (what follows is its aftermath: complete, dealloc). Register and indexed
	 * jumps are switch tables, inside.
	 */
	if (insn->id == X86_INS_RET ||
	    (insn->id == X86_INS_JMP &&
	     (x86_rip_target(insn) || (target && (target < s->start || target >= s->end))))) {
		if (p->nrets < TOKIO_MAX_RETS)
			p->rets[p->nrets++] = insn->address;
		else
			p->rets_partial = true;
	}
	return 0;
}

static void find_rets(struct analysis *a, struct tokio_poll_fn *p)
{
	struct ret_scan s = {.poll = p};

	s.start = jump_chain_end(a, p->entry);
	s.end = function_end(a, s.start);
	p->body = s.start;
	if (!s.end || disassemble(a, s.start, s.end, visit_ret, &s))
		p->rets_partial = true;
}

/* ---- future type names --------------------------------------------------------------------- */

/*
 * The future type as the source names it. An async fn's future is its body's closure type,
 * "app::f::{{closure}}" (legacy names) or "app::f::{async_fn_env#0}" (DWARF of newer rustc):
 * both are "app::f". Async blocks keep where they are, "app::main::{async block}".
 */
static char *present_type(const char *type)
{
	static const struct {
		const char *from, *to;
	} rewrites[] = {
	    {"::{async_fn_env#", ""},
	    {"::{async_fn#", ""},
	    {"{async_block_env#", "{async block}"},
	    {"{closure_env#", "{{closure}}"},
	    {"{closure#", "{{closure}}"},
	};
	size_t n = strlen(type), len;
	char *out = malloc(n + 16), *o = out;

	if (!out)
		return NULL;
	while (*type) {
		size_t i, k;

		for (i = 0; i < sizeof(rewrites) / sizeof(rewrites[0]); i++)
			if (has_prefix(type, rewrites[i].from))
				break;
		if (i == sizeof(rewrites) / sizeof(rewrites[0])) {
			*o++ = *type++;
			continue;
		}
		/* the number and the closing brace go with the rewritten part */
		k = strlen(rewrites[i].from);
		while (type[k] >= '0' && type[k] <= '9')
			k++;
		if (type[k] != '}') {
			*o++ = *type++;
			continue;
		}
		o = stpcpy(o, rewrites[i].to);
		type += k + 1;
	}
	*o = 0;
	/* the closure that is an async fn's (legacy) body: the last one, right after a name */
	len = o - out;
	if (len > 13 && has_suffix(out, "::{{closure}}") && out[len - 14] != '}')
		out[len - 13] = 0;
	return out;
}

struct dwarf_scan {
	struct analysis *a;
	struct hashmap *targets; /* address -> poll index << 1 | 1 when it is the body */
};

static void name_subprogram(struct dwarf_scan *s, Dwarf_Die *die)
{
	Dwarf_Addr pc;
	uint64_t v, addr;
	const char *name, *args;
	char **slot;

	if (dwarf_lowpc(die, &pc) || !(name = dwarf_diename(die)))
		return;
	addr = pc;
	if (!hashmap_get(s->targets, &addr, sizeof(addr), &v))
		return;
	slot = &s->a->poll_names[v >> 1];
	/* the name of raw::poll itself wins over the one of the Harness::poll it jumps to */
	if (*slot && (v & 1))
		return;
	args = strchr(name, '<');
	if (!args)
		return;
	free(*slot);
	*slot = first_generic_arg(args + 1);
}

/* Visits the subprograms of a unit; they sit under namespaces and types, not in functions. */
static void walk_dies(struct dwarf_scan *s, Dwarf_Die *die, int depth)
{
	Dwarf_Die cur = *die, next, child;

	do {
		if (dwarf_tag(&cur) == DW_TAG_subprogram)
			name_subprogram(s, &cur);
		else if (depth < 64 && dwarf_haschildren(&cur) && !dwarf_child(&cur, &child))
			walk_dies(s, &child, depth + 1);
		if (dwarf_siblingof(&cur, &next))
			break;
		cur = next;
	} while (true);
}

/* Names each poll from the DW_AT_name of its subprogram, "poll<Future, Scheduler>". */
static int name_polls_from_dwarf(struct analysis *a, Dwarf *dw)
{
	struct dwarf_scan s = {.a = a, .targets = hashmap_new()};
	struct hashmap *units = hashmap_new();
	Dwarf_Off *offs = malloc((2 * a->tb->npolls + 1) * sizeof(*offs));
	size_t nunits = 0;
	int err = 0;

	if (!s.targets || !units || !offs) {
		err = -ENOMEM;
		goto out;
	}
	for (size_t i = 0; i < a->tb->npolls && !err; i++) {
		uint64_t addrs[2], v;

		/* Named by its v0 symbol, or merged: the one DIE at a poll that several vtables
		 * share names only one of their futures. */
		if (a->poll_names[i] || a->poll_users[i] > 1)
			continue;
		addrs[0] = a->tb->polls[i].entry;
		addrs[1] = jump_chain_end(a, addrs[0]);
		for (int k = 0; k < 2 && !err; k++) {
			Dwarf_Die cu;
			Dwarf_Off off;

			if (k && addrs[1] == addrs[0])
				break;
			err = hashmap_put(s.targets, &addrs[k], sizeof(uint64_t), i << 1 | k);
			if (err || !dwarf_addrdie(dw, addrs[k], &cu))
				continue;
			off = dwarf_dieoffset(&cu);
			if (hashmap_get(units, &off, sizeof(off), &v))
				continue;
			err = hashmap_put(units, &off, sizeof(off), 1);
			offs[nunits++] = off;
		}
	}
	/* one pass per unit holding a target: the copies of a crate share a few units */
	for (size_t i = 0; i < nunits && !err; i++) {
		Dwarf_Die cu, child;

		if (dwarf_offdie(dw, offs[i], &cu) && !dwarf_child(&cu, &child))
			walk_dies(&s, &child, 0);
	}
out:
	free(offs);
	hashmap_free(units);
	hashmap_free(s.targets);
	return err;
}

struct drop_glue_scan {
	const char *type;
	uint64_t callee; /* the first tokio::runtime::task function called */
};

static int visit_call(struct analysis *a, const cs_insn *insn, void *arg)
{
	struct drop_glue_scan *s = arg;
	uint64_t target, v;

	if (insn->id != X86_INS_CALL && insn->id != X86_INS_JMP)
		return 0;
	target = branch_target(insn);
	if (hashmap_get(a->drop_glue, &target, sizeof(target), &v) && v != AMBIGUOUS) {
		s->type = a->types[v];
		return 1;
	}
	if (!s->callee && hashmap_get(a->sizes, &target, sizeof(target), &v))
		s->callee = target;
	return 0;
}

/*
 * The future type from the name of a drop glue the task's code calls: dealloc drops the cell
 * (fat LTO: drop_in_place<Cell<T,S>>), or Harness::dealloc, which it jumps to, drops the
 * CoreStage<T>, maybe through one more task function; Harness::poll drops its panic
 * Guard<T,S> when the future panics. Inlining removes some of these calls, rarely all.
 */
static const char *type_from_drop_glue(struct analysis *a, const struct tokio_vtable *vt)
{
	uint64_t fns[3] = {jump_chain_end(a, vt->dealloc), 0, jump_chain_end(a, vt->poll)};

	for (int i = 0; i < 3; i++) {
		struct drop_glue_scan s = {0};
		uint64_t end = fns[i] ? function_end(a, fns[i]) : 0;

		if (!end)
			continue;
		disassemble(a, fns[i], end, visit_call, &s);
		if (s.type)
			return s.type;
		if (i == 0)
			fns[1] = s.callee;
	}
	return NULL;
}

static int name_vtables(struct analysis *a)
{
	struct tokio_binary *tb = a->tb;
	Dwarf *dw = dwarf_begin_elf(a->elf, DWARF_C_READ, NULL);
	int err = 0;

	for (size_t i = 0; i < tb->npolls; i++) {
		uint64_t v;

		if (hashmap_get(a->poll_types, &tb->polls[i].entry, sizeof(uint64_t), &v) &&
		    v != AMBIGUOUS && !(a->poll_names[i] = strdup(a->types[v])))
			err = -ENOMEM;
	}
	if (dw && !err)
		err = name_polls_from_dwarf(a, dw);
	if (dw)
		dwarf_end(dw);
	for (size_t i = 0; i < tb->nvtables && !err; i++) {
		struct tokio_vtable *vt = &tb->vtables[i];
		const char *type;
		uint64_t p;

		hashmap_get(a->poll_index, &vt->poll, sizeof(uint64_t), &p);
		type = a->poll_names[p];
		if (!type && hashmap_size(a->drop_glue))
			type = type_from_drop_glue(a, vt);
		if (!type)
			continue;
		vt->future_type = present_type(type);
		if (!vt->future_type)
			return -ENOMEM;
		vt->blocking = has_prefix(type, BLOCKING_TASK);
		/* multi_thread (and 1.30-1.44 multi_thread_alt) worker::Launch::launch */
		vt->worker_launch =
		    vt->blocking && strstr(type, "::worker::") && strstr(type, "launch::");
	}
	return err;
}

static int compare_ranges(const void *x, const void *y)
{
	const struct tokio_poll_range *p = x, *q = y;

	return p->start < q->start ? -1 : p->start > q->start;
}

static int add_range(struct analysis *a, size_t *cap, uint64_t start, int vtable)
{
	struct tokio_binary *tb = a->tb;
	uint64_t end = function_end(a, start);

	if (!end)
		return 0;
	if (!array_grow((void **)&tb->ranges, cap, tb->nranges + 1, sizeof(*tb->ranges)))
		return -ENOMEM;
	tb->ranges[tb->nranges++] = (struct tokio_poll_range){start, end, vtable};
	return 0;
}

/*
 * The code each named vtable's poll runs: raw::poll, and the Harness::poll it jumps to. Code
 * that vtables of different types share (merged identical functions) names none of them.
 */
static int find_poll_ranges(struct analysis *a)
{
	struct tokio_binary *tb = a->tb;
	size_t cap = 0, n = 0;
	int err = 0;

	for (size_t i = 0; i < tb->nvtables && !err; i++) {
		uint64_t body = jump_chain_end(a, tb->vtables[i].poll);

		if (!tb->vtables[i].future_type)
			continue;
		err = add_range(a, &cap, tb->vtables[i].poll, i);
		if (!err && body != tb->vtables[i].poll)
			err = add_range(a, &cap, body, i);
	}
	if (err || !tb->nranges)
		return err;
	qsort(tb->ranges, tb->nranges, sizeof(*tb->ranges), compare_ranges);
	for (size_t i = 0; i < tb->nranges; i++) {
		struct tokio_poll_range *r = &tb->ranges[i], *last = n ? &tb->ranges[n - 1] : NULL;

		if (last && r->start < last->end) {
			if (last->vtable >= 0 &&
			    (r->vtable < 0 || strcmp(tb->vtables[last->vtable].future_type,
						     tb->vtables[r->vtable].future_type)))
				last->vtable = -1;
			if (r->end > last->end)
				last->end = r->end;
			continue;
		}
		tb->ranges[n++] = *r;
	}
	tb->nranges = n;
	return 0;
}

/* ---- waker functions without symbols ------------------------------------------------------- */

/*
 * Tokio's RawWakerVTable (clone_waker, wake_by_val, wake_by_ref, drop_waker) is loaded where a
 * poll builds the task's waker: in raw::poll or Harness::poll when raw_waker() is inlined,
 * else in the small raw_waker() they call. So: collect the 4-pointer tables referenced from
 * each poll body and from the first instructions of each function it calls, take the one
 * most polls reference, and accept it if its clone function references it too (a clone
 * returns a waker with the same vtable).
 */
struct waker_scan {
	struct hashmap *votes;	 /* table -> polls referencing it */
	struct hashmap *seen;	 /* tables referenced by the code being scanned */
	struct hashmap *callees; /* function -> the table its first instructions load, or 0 */
	struct hashmap *vtables; /* task vtables, which would pass for longer tables */
	uint64_t *calls;
	size_t ncalls, cap_calls;
	bool in_callee; /* scanning the start of a callee: stop at its first ret or jmp */
	size_t budget;
	uint64_t found;
	int err;
};

static bool is_waker_table(const struct analysis *a, const struct waker_scan *s, uint64_t addr)
{
	uint64_t target, v;

	if (hashmap_get(s->vtables, &addr, sizeof(addr), &v))
		return false;
	for (int i = 0; i < WAKER_FUNCTIONS; i++)
		if (!pointer_at(a, addr + 8 * i, &target) || !is_code(a, target))
			return false;
	return true;
}

static int visit_waker_ref(struct analysis *a, const cs_insn *insn, void *arg)
{
	struct waker_scan *s = arg;
	uint64_t table = address_operand(a, insn), slot = x86_rip_target(insn), target;

	if (table && is_waker_table(a, s, table)) {
		if (s->in_callee) {
			s->found = table;
			return 1;
		}
		if ((s->err = hashmap_put(s->seen, &table, sizeof(table), 1)))
			return s->err;
	}
	if (s->in_callee)
		return insn->id == X86_INS_RET || insn->id == X86_INS_JMP || !--s->budget;
	if (insn->id != X86_INS_CALL)
		return 0;
	/* direct, or through a GOT slot as calls across crates in a PIE are */
	target = branch_target(insn);
	if (!target && slot && !pointer_at(a, slot, &target))
		return 0;
	if (!target || !is_code(a, target))
		return 0;
	if (!array_grow((void **)&s->calls, &s->cap_calls, s->ncalls + 1, sizeof(*s->calls)))
		return s->err = -ENOMEM;
	s->calls[s->ncalls++] = target;
	return 0;
}

static uint64_t callee_table(struct analysis *a, struct waker_scan *s, uint64_t fn)
{
	uint64_t table;

	if (hashmap_get(s->callees, &fn, sizeof(fn), &table))
		return table;
	s->in_callee = true;
	s->budget = CALLEE_INSNS;
	s->found = 0;
	disassemble(a, fn, code_segment_end(a, fn), visit_waker_ref, s);
	s->in_callee = false;
	if (hashmap_put(s->callees, &fn, sizeof(fn), s->found))
		s->err = -ENOMEM;
	return s->found;
}

/* Fills s->seen with the waker tables [start, end) loads, itself or in a function it calls. */
static int referenced_tables(struct analysis *a, struct waker_scan *s, uint64_t start, uint64_t end)
{
	hashmap_free(s->seen);
	s->seen = hashmap_new();
	if (!s->seen)
		return -ENOMEM;
	s->ncalls = 0;
	disassemble(a, start, end, visit_waker_ref, s);
	for (size_t i = 0; i < s->ncalls && !s->err; i++) {
		uint64_t table = callee_table(a, s, s->calls[i]);

		if (table && !s->err)
			s->err = hashmap_put(s->seen, &table, sizeof(table), 1);
	}
	return s->err;
}

static int add_vote(const void *key, size_t len, uint64_t value, void *arg)
{
	struct hashmap *votes = arg;
	uint64_t n = 0;

	hashmap_get(votes, key, len, &n);
	return hashmap_put(votes, key, len, n + 1);
}

struct best_table {
	uint64_t table, votes;
};

static int pick_best(const void *key, size_t len, uint64_t votes, void *arg)
{
	struct best_table *best = arg;
	uint64_t table;

	memcpy(&table, key, sizeof(table));
	if (votes > best->votes || (votes == best->votes && table < best->table))
		*best = (struct best_table){table, votes};
	return 0;
}

static int find_waker_vtable(struct analysis *a)
{
	struct tokio_binary *tb = a->tb;
	struct waker_scan s = {
	    .votes = hashmap_new(),
	    .callees = hashmap_new(),
	    .vtables = hashmap_new(),
	};
	struct best_table best = {0, 0};
	uint64_t fns[WAKER_FUNCTIONS], v, end;

	if (!s.votes || !s.callees || !s.vtables) {
		s.err = -ENOMEM;
		goto out;
	}
	for (size_t i = 0; i < tb->nvtables && !s.err; i++)
		s.err = hashmap_put(s.vtables, &tb->vtables[i].vaddr, sizeof(uint64_t), 1);
	for (size_t i = 0; i < tb->npolls && !s.err; i++) {
		uint64_t body = jump_chain_end(a, tb->polls[i].entry);

		end = function_end(a, body);
		if (end && !referenced_tables(a, &s, body, end))
			s.err = hashmap_each(s.seen, add_vote, s.votes);
	}
	if (s.err)
		goto out;
	hashmap_each(s.votes, pick_best, &best);
	if (!best.votes)
		goto out;
	for (int i = 0; i < WAKER_FUNCTIONS; i++)
		pointer_at(a, best.table + 8 * i, &fns[i]);
	end = function_end(a, fns[0]);
	if (!end || referenced_tables(a, &s, fns[0], end) ||
	    !hashmap_get(s.seen, &best.table, sizeof(best.table), &v))
		goto out;
	tb->waker_vtable = best.table;
	tb->clone_waker = fns[0];
	tb->wake_by_val = fns[1];
	tb->wake_by_ref = fns[2];
	tb->drop_waker = fns[3];
out:
	free(s.calls);
	hashmap_free(s.seen);
	hashmap_free(s.votes);
	hashmap_free(s.callees);
	hashmap_free(s.vtables);
	return s.err;
}

/* ---- spawn sites: the updates of NEXT_ID ---------------------------------------------------- */

/*
 * Every spawn runs task::Id::next once: a fetch_add on NEXT_ID, compiled to a lock xadd (or a
 * lock cmpxchg loop) on its address, inlined wherever the compiler chose. All of them are found
 * in three steps:
 *
 *  1. The functions that can name NEXT_ID: those holding a rip-relative displacement to it, or
 *     to a GOT slot holding its address, or its absolute address (a byte scan of the code; a
 *     function is an .eh_frame FDE's range, which the unwinder trusts too).
 *  2. Each of them is decoded from its start, so only real instruction boundaries count, and a
 *     forward data flow over its direct branches tracks which registers hold an address loaded
 *     by a rip-relative lea, a mov from a GOT slot or a mov of an immediate (a register keeps
 *     its value at a join only when every path agrees: Id::next's NonZero loop re-runs the xadd
 *     with the address loaded before the loop).
 *  3. A locked xadd or cmpxchg whose memory operand is NEXT_ID (rip-relative, or a tracked
 *     register) is an update.
 *
 * The probe goes on the instruction after the update, where the new id is in a register (the
 * xadd's source, or rax after a successful cmpxchg). That instruction must not be a branch
 * target itself, else the register may hold something else when the probe fires: such updates
 * are refused (counted). The probe also checks the value against NEXT_ID in memory.
 */
struct gpr {
	x86_reg full, parts[4];
	int spawn_reg;	/* enum tokio_spawn_reg, -1 for rsp */
	bool clobbered; /* by a call (SysV) */
};

static const struct gpr gprs[] = {
    {X86_REG_RAX, {X86_REG_EAX, X86_REG_AX, X86_REG_AL, X86_REG_AH}, TOKIO_REG_RAX, true},
    {X86_REG_RBX, {X86_REG_EBX, X86_REG_BX, X86_REG_BL, X86_REG_BH}, TOKIO_REG_RBX, false},
    {X86_REG_RCX, {X86_REG_ECX, X86_REG_CX, X86_REG_CL, X86_REG_CH}, TOKIO_REG_RCX, true},
    {X86_REG_RDX, {X86_REG_EDX, X86_REG_DX, X86_REG_DL, X86_REG_DH}, TOKIO_REG_RDX, true},
    {X86_REG_RSI, {X86_REG_ESI, X86_REG_SI, X86_REG_SIL}, TOKIO_REG_RSI, true},
    {X86_REG_RDI, {X86_REG_EDI, X86_REG_DI, X86_REG_DIL}, TOKIO_REG_RDI, true},
    {X86_REG_RBP, {X86_REG_EBP, X86_REG_BP, X86_REG_BPL}, TOKIO_REG_RBP, false},
    {X86_REG_RSP, {X86_REG_ESP, X86_REG_SP, X86_REG_SPL}, -1, false},
    {X86_REG_R8, {X86_REG_R8D, X86_REG_R8W, X86_REG_R8B}, TOKIO_REG_R8, true},
    {X86_REG_R9, {X86_REG_R9D, X86_REG_R9W, X86_REG_R9B}, TOKIO_REG_R9, true},
    {X86_REG_R10, {X86_REG_R10D, X86_REG_R10W, X86_REG_R10B}, TOKIO_REG_R10, true},
    {X86_REG_R11, {X86_REG_R11D, X86_REG_R11W, X86_REG_R11B}, TOKIO_REG_R11, true},
    {X86_REG_R12, {X86_REG_R12D, X86_REG_R12W, X86_REG_R12B}, TOKIO_REG_R12, false},
    {X86_REG_R13, {X86_REG_R13D, X86_REG_R13W, X86_REG_R13B}, TOKIO_REG_R13, false},
    {X86_REG_R14, {X86_REG_R14D, X86_REG_R14W, X86_REG_R14B}, TOKIO_REG_R14, false},
    {X86_REG_R15, {X86_REG_R15D, X86_REG_R15W, X86_REG_R15B}, TOKIO_REG_R15, false},
};

#define NGPRS ((int)(sizeof(gprs) / sizeof(gprs[0])))
#define UNVISITED UINT64_MAX /* a data-flow state no path has reached yet */

/* Index in gprs of the register that r is (part of); -1 for any other register. */
static int gpr_index(unsigned int r)
{
	for (int i = 0; r != X86_REG_INVALID && i < NGPRS; i++) {
		if (gprs[i].full == r)
			return i;
		for (int k = 0; k < 4; k++)
			if (gprs[i].parts[k] == r)
				return i;
	}
	return -1;
}

static bool in_group(const cs_insn *insn, uint8_t group)
{
	for (int i = 0; i < insn->detail->groups_count; i++)
		if (insn->detail->groups[i] == group)
			return true;
	return false;
}

/* One decoded instruction, what the data flow and the update search need of it. */
struct flow_insn {
	uint64_t addr, next; /* its address, and the next instruction's */
	uint64_t target;     /* direct branch target inside the function, else 0 */
	uint32_t writes;     /* gprs it writes (bit per index) */
	int8_t dst, src;     /* a 64-bit lea/mov into gprs[dst]: of gprs[src], or of value */
	uint64_t value;
	bool falls_through;
	/* a locked xadd/cmpxchg: its memory operand (rip-relative address, or base + disp) */
	bool update, cmpxchg;
	int8_t base, value_reg;
	int64_t disp;
	uint64_t rip_addr;
};

struct flow {
	struct flow_insn *insns;
	size_t n, cap;
	uint64_t start, end;
	int err;
};

static void describe_update(struct flow_insn *fi, const cs_insn *insn)
{
	const cs_x86 *x = &insn->detail->x86;

	fi->update = (insn->id == X86_INS_XADD || insn->id == X86_INS_CMPXCHG) &&
		     x->prefix[0] == X86_PREFIX_LOCK;
	fi->base = fi->value_reg = -1;
	for (int i = 0; fi->update && i < x->op_count; i++) {
		const cs_x86_op *op = &x->operands[i];

		if (op->type == X86_OP_REG) {
			fi->value_reg = gpr_index(op->reg);
		} else if (op->type == X86_OP_MEM && op->mem.base == X86_REG_RIP) {
			fi->rip_addr = x86_rip_target(insn);
		} else if (op->type == X86_OP_MEM && op->mem.index == X86_REG_INVALID &&
			   op->mem.segment == X86_REG_INVALID) {
			fi->base = gpr_index(op->mem.base);
			fi->disp = op->mem.disp;
		}
	}
	fi->cmpxchg = insn->id == X86_INS_CMPXCHG;
	if (fi->cmpxchg)
		fi->value_reg = gpr_index(X86_REG_RAX); /* the old value, on success */
}

static int visit_flow(struct analysis *a, const cs_insn *insn, void *arg)
{
	struct flow *f = arg;
	const cs_x86 *x = &insn->detail->x86;
	struct flow_insn *fi;
	cs_regs rd, wr;
	uint8_t nrd = 0, nwr = 0;
	uint64_t target;

	if (!array_grow((void **)&f->insns, &f->cap, f->n + 1, sizeof(*f->insns)))
		return f->err = -ENOMEM;
	fi = &f->insns[f->n++];
	memset(fi, 0, sizeof(*fi));
	fi->addr = insn->address;
	fi->next = insn->address + insn->size;
	fi->dst = fi->src = -1;
	target = in_group(insn, X86_GRP_JUMP) ? branch_target(insn) : 0;
	if (target >= f->start && target < f->end)
		fi->target = target;
	fi->falls_through =
	    insn->id != X86_INS_JMP && insn->id != X86_INS_RET && insn->id != X86_INS_UD2;
	if (cs_regs_access(a->cs, insn, rd, &nrd, wr, &nwr) == CS_ERR_OK) {
		for (int i = 0; i < nwr; i++)
			if (gpr_index(wr[i]) >= 0)
				fi->writes |= 1u << gpr_index(wr[i]);
	} else {
		fi->writes = ~0u;
	}
	for (int i = 0; insn->id == X86_INS_CALL && i < NGPRS; i++)
		if (gprs[i].clobbered)
			fi->writes |= 1u << i;
	if (x->op_count == 2 && x->operands[0].type == X86_OP_REG && x->operands[0].size == 8 &&
	    (insn->id == X86_INS_LEA || insn->id == X86_INS_MOV)) {
		fi->dst = gpr_index(x->operands[0].reg);
		if (x->operands[1].type == X86_OP_REG)
			fi->src = gpr_index(x->operands[1].reg);
		else
			fi->value = address_operand(a, insn);
	}
	describe_update(fi, insn);
	return 0;
}

static ssize_t flow_index(const struct flow *f, uint64_t addr)
{
	return find_sorted(f->insns, f->n, sizeof(*f->insns), offsetof(struct flow_insn, addr),
			   addr);
}

/* Merges out into the state at index i; returns whether it changed. */
static bool flow_merge(uint64_t *state, const uint64_t *out)
{
	bool changed = false;

	for (int r = 0; r < NGPRS; r++) {
		uint64_t v = state[r] == UNVISITED ? out[r] : state[r] == out[r] ? out[r] : 0;

		changed |= v != state[r];
		state[r] = v;
	}
	return changed;
}

/*
 * The register states before each instruction (NGPRS words each: the address a register
 * holds, 0 unknown, UNVISITED for code no direct path reaches), by a worklist over the direct
 * control flow from the function's start. NULL on ENOMEM.
 */
static uint64_t *flow_states(const struct flow *f)
{
	uint64_t *in = malloc(f->n * NGPRS * sizeof(*in));
	size_t *work = malloc(f->n * sizeof(*work)), nwork = 0;
	bool *queued = calloc(f->n, sizeof(*queued));

	if (!in || !work || !queued) {
		free(in);
		in = NULL;
		goto out;
	}
	for (size_t i = 0; i < f->n * NGPRS; i++)
		in[i] = i < NGPRS ? 0 : UNVISITED;
	work[nwork++] = 0;
	queued[0] = true;
	while (nwork) {
		size_t i = work[--nwork];
		const struct flow_insn *fi = &f->insns[i];
		uint64_t out[NGPRS];
		ssize_t succ[2] = {fi->falls_through && i + 1 < f->n ? (ssize_t)i + 1 : -1,
				   fi->target ? flow_index(f, fi->target) : -1};

		queued[i] = false;
		for (int r = 0; r < NGPRS; r++)
			out[r] = fi->writes & (1u << r) ? 0 : in[i * NGPRS + r];
		if (fi->dst >= 0)
			out[fi->dst] = fi->src >= 0 ? in[i * NGPRS + fi->src] : fi->value;
		for (int k = 0; k < 2; k++) {
			if (succ[k] < 0 || !flow_merge(&in[succ[k] * NGPRS], out) ||
			    queued[succ[k]])
				continue;
			queued[succ[k]] = true;
			work[nwork++] = succ[k];
		}
	}
out:
	free(work);
	free(queued);
	return in;
}

static int add_spawn_site(struct analysis *a, size_t *cap, const struct flow *f,
			  const struct flow_insn *fi)
{
	struct tokio_binary *tb = a->tb;

	if (!array_grow((void **)&tb->spawn_sites, cap, tb->nspawn_sites + 1,
			sizeof(*tb->spawn_sites)))
		return -ENOMEM;
	tb->spawn_sites[tb->nspawn_sites++] = (struct tokio_spawn_site){
	    .func = f->start,
	    .update = fi->addr,
	    .probe = fi->next,
	    .cookie = gprs[fi->value_reg].spawn_reg | (fi->cmpxchg ? TOKIO_SPAWN_CMPXCHG : 0),
	};
	return 0;
}

/* Decodes one function and records its updates of NEXT_ID. */
static int scan_function(struct analysis *a, struct flow *f, size_t *cap)
{
	struct tokio_binary *tb = a->tb;
	struct hashmap *targets = hashmap_new();
	uint64_t *in = NULL;
	int err;

	f->n = 0;
	f->err = 0;
	err = disassemble(a, f->start, f->end, visit_flow, f);
	if (f->err || !targets) {
		err = f->err ? f->err : -ENOMEM;
		goto out;
	}
	/* Code that stops decoding is not trusted past there; what decoded still counts. */
	in = f->n ? flow_states(f) : NULL;
	if (f->n && !in) {
		err = -ENOMEM;
		goto out;
	}
	err = 0;
	for (size_t i = 0; i < f->n && !err; i++)
		if (f->insns[i].target)
			err = hashmap_put(targets, &f->insns[i].target, sizeof(uint64_t), 1);
	for (size_t i = 0; i < f->n && !err; i++) {
		struct flow_insn *fi = &f->insns[i];
		uint64_t base = fi->base >= 0 ? in[i * NGPRS + fi->base] : 0;
		uint64_t addr = fi->rip_addr		    ? fi->rip_addr
				: base && base != UNVISITED ? base + fi->disp
							    : 0;

		if (!fi->update || addr != tb->next_id)
			continue;
		if (fi->value_reg < 0 || gprs[fi->value_reg].spawn_reg < 0 || i + 1 >= f->n ||
		    hashmap_get(targets, &fi->next, sizeof(fi->next), NULL)) {
			tb->spawn_sites_refused++;
			continue;
		}
		err = add_spawn_site(a, cap, f, fi);
	}
out:
	free(in);
	hashmap_free(targets);
	return err;
}
/* Whether the 4 or 8 bytes at k of code (at vaddr) can name one of refs: a rip-relative
 * displacement to it (the instruction ending right after: lea, mov, the update itself), or
 * its absolute address (a mov of an immediate in position-dependent code). */
static bool names_address(const uint8_t *code, uint64_t k, uint64_t len, uint64_t vaddr,
			  const uint64_t *refs, size_t nrefs)
{
	int32_t disp;
	uint32_t imm32;
	uint64_t imm64 = 0;

	memcpy(&disp, code + k, 4);
	memcpy(&imm32, code + k, 4);
	if (k + 8 <= len)
		memcpy(&imm64, code + k, 8);
	for (size_t i = 0; i < nrefs; i++)
		if (vaddr + k + 4 + (int64_t)disp == refs[i] || imm32 == refs[i] ||
		    imm64 == refs[i])
			return true;
	return false;
}

static int find_spawn_sites(struct analysis *a)
{
	struct tokio_binary *tb = a->tb;
	struct flow f = {0};
	uint64_t refs[8];
	size_t nrefs = 0, cap = 0;
	int err = 0;

	if (!tb->next_id)
		return 0;
	/* NEXT_ID itself, and the GOT slots that hold its address */
	refs[nrefs++] = tb->next_id;
	for (size_t i = 0; i < a->nptrs && nrefs < sizeof(refs) / sizeof(refs[0]); i++)
		if (a->ptrs[i].target == tb->next_id)
			refs[nrefs++] = a->ptrs[i].where;
	for (size_t i = 0; i < a->nphdrs && !err; i++) {
		const GElf_Phdr *p = &a->phdrs[i];
		const uint8_t *code = image_bytes(a, p->p_vaddr, p->p_filesz);

		if (p->p_type != PT_LOAD || !(p->p_flags & PF_X) || !code)
			continue;
		for (uint64_t k = 0; k + 4 <= p->p_filesz && !err; k++) {
			if (!names_address(code, k, p->p_filesz, p->p_vaddr, refs, nrefs) ||
			    !fde_function(a, p->p_vaddr + k, &f.start, &f.end))
				continue;
			err = scan_function(a, &f, &cap);
			/* on to the next function */
			k = f.end - p->p_vaddr - 1;
		}
	}
	free(f.insns);
	return err;
}

/* ---- the task types spawns make ------------------------------------------------------------ */

/*
 * A spawn's stack runs from the update of NEXT_ID out through the generic spawn functions of
 * the future type (spawn_inner<T>, Handle::spawn<T>, ..., RawTask::new<T,S>, which stores
 * the type's vtable in the new task's header) to the caller. The innermost function on the
 * stack that builds task vtables, itself or a few calls down, names the type, when all the
 * vtables it can build are of that one type; a function that can build several (a user
 * function into which two spawns were inlined) names none.
 */
#define SPAWN_SEARCH_DEPTH 6  /* calls from a spawn function down to RawTask::new */
#define SPAWN_SEARCH_FRAMES 8 /* stack frames looked at, innermost first */
#define TYPE_NONE (-1)
#define TYPE_AMBIGUOUS (-2)

struct spawner {
	int type; /* the vtable its own code loads, TYPE_NONE or TYPE_AMBIGUOUS */
	uint64_t *callees;
	size_t ncallees, cap;
};

static int merge_type(const struct tokio_binary *tb, int x, int y)
{
	if (x == TYPE_NONE || x == y)
		return y;
	if (y == TYPE_NONE)
		return x;
	if (x == TYPE_AMBIGUOUS || y == TYPE_AMBIGUOUS)
		return TYPE_AMBIGUOUS;
	return strcmp(tb->vtables[x].future_type, tb->vtables[y].future_type) ? TYPE_AMBIGUOUS : x;
}

struct spawner_scan {
	struct spawner *sp;
	uint64_t start, end;
	int err;
};

static int visit_spawner(struct analysis *a, const cs_insn *insn, void *arg)
{
	struct spawner_scan *s = arg;
	struct spawner *sp = s->sp;
	uint64_t v, target, slot = x86_rip_target(insn);

	if (hashmap_get(a->vtable_index, &(uint64_t){address_operand(a, insn)}, sizeof(uint64_t),
			&v))
		sp->type = merge_type(a->tb, sp->type, (int)v - 1);
	if (insn->id != X86_INS_CALL && insn->id != X86_INS_JMP)
		return 0;
	/* direct, or through a GOT slot as calls across crates in a PIE are */
	target = branch_target(insn);
	if (!target && slot && !pointer_at(a, slot, &target))
		return 0;
	if (!target || (target >= s->start && target < s->end) || !is_code(a, target))
		return 0;
	for (size_t i = 0; i < sp->ncallees; i++)
		if (sp->callees[i] == target)
			return 0;
	if (!array_grow((void **)&sp->callees, &sp->cap, sp->ncallees + 1, sizeof(*sp->callees)))
		return s->err = -ENOMEM;
	sp->callees[sp->ncallees++] = target;
	return 0;
}

/* The function starting at start, scanned once; NULL on ENOMEM or when it is not one. */
static struct spawner *spawner_at(struct analysis *a, uint64_t start)
{
	struct spawner_scan s = {.start = start, .end = function_end(a, start)};
	uint64_t v;

	if (hashmap_get(a->spawners, &start, sizeof(start), &v))
		return &a->spawner[v - 1];
	if (!s.end || !array_grow((void **)&a->spawner, &a->cap_spawners, a->nspawners + 1,
				  sizeof(*a->spawner)))
		return NULL;
	s.sp = &a->spawner[a->nspawners];
	*s.sp = (struct spawner){.type = TYPE_NONE};
	disassemble(a, s.start, s.end, visit_spawner, &s);
	if (s.err || hashmap_put(a->spawners, &start, sizeof(start), ++a->nspawners)) {
		free(s.sp->callees);
		return NULL;
	}
	return s.sp;
}

/* The type the code at start and the functions it calls (depth calls deep) build. */
static int spawned_type(struct analysis *a, uint64_t start, int depth)
{
	uint64_t key = start << 3 | depth, v;
	struct spawner *sp = NULL;
	size_t at;
	int type;

	if (hashmap_get(a->type_memo, &key, sizeof(key), &v))
		return (int)v - 3;
	sp = spawner_at(a, start);
	if (!sp)
		return TYPE_NONE;
	/* an index, not sp: the calls below may move the array */
	at = sp - a->spawner;
	type = sp->type;
	for (size_t i = 0; depth > 0 && i < a->spawner[at].ncallees && type != TYPE_AMBIGUOUS; i++)
		type =
		    merge_type(a->tb, type, spawned_type(a, a->spawner[at].callees[i], depth - 1));
	hashmap_put(a->type_memo, &key, sizeof(key), type + 3);
	return type;
}

int tokio_binary_spawned_type(struct tokio_binary *tb, const uint64_t *pcs, size_t n)
{
	struct analysis *a = tb->analysis;

	for (size_t i = 0; a && i < n && i < SPAWN_SEARCH_FRAMES; i++) {
		uint64_t start, end;
		int type;

		if (!fde_function(a, pcs[i], &start, &end))
			return -1;
		type = spawned_type(a, start, SPAWN_SEARCH_DEPTH);
		if (type != TYPE_NONE)
			return type >= 0 ? type : -1;
	}
	return -1;
}

static int index_vtables(struct analysis *a)
{
	int err = 0;

	for (size_t i = 0; i < a->tb->nvtables && !err; i++)
		if (a->tb->vtables[i].future_type)
			err = hashmap_put(a->vtable_index, &a->tb->vtables[i].vaddr,
					  sizeof(uint64_t), i + 1);
	return err;
}

/* ---- symbols against the code -------------------------------------------------------------- */

static void add_dispute(struct tokio_binary *tb, const char *hook, const char *fmt, ...)
    __attribute__((format(printf, 3, 4)));

/* Records a dispute about one copy of hook; the first copy's says why. */
static void add_dispute(struct tokio_binary *tb, const char *hook, const char *fmt, ...)
{
	struct tokio_dispute *d = NULL;
	va_list ap;

	for (size_t i = 0; i < tb->ndisputes && !d; i++)
		if (!strcmp(tb->disputes[i].hook, hook))
			d = &tb->disputes[i];
	if (d || tb->ndisputes == TOKIO_MAX_DISPUTES) {
		if (d)
			d->copies++;
		return;
	}
	d = &tb->disputes[tb->ndisputes++];
	d->hook = hook;
	d->copies = 1;
	va_start(ap, fmt);
	vsnprintf(d->why, sizeof(d->why), fmt, ap);
	va_end(ap);
}

/*
 * The waker functions from the RawWakerVTable the polls use, against the symbols: a symbol
 * naming another function is disputed, and that hook left out. When the table is not found in
 * the code, the symbols are all there is.
 */
static int check_waker_symbols(struct analysis *a)
{
	static const char *const names[WAKER_FUNCTIONS] = {"clone_waker", "wake_by_val",
							   "wake_by_ref", "drop_waker"};
	struct tokio_binary *tb = a->tb;
	uint64_t *fns[WAKER_FUNCTIONS] = {&tb->clone_waker, &tb->wake_by_val, &tb->wake_by_ref,
					  &tb->drop_waker};
	uint64_t symbols[WAKER_FUNCTIONS], waker_vtable = tb->waker_vtable;
	int err;

	for (int i = 0; i < WAKER_FUNCTIONS; i++) {
		symbols[i] = *fns[i];
		*fns[i] = 0;
	}
	err = find_waker_vtable(a);
	if (err || !tb->clone_waker) {
		for (int i = 0; i < WAKER_FUNCTIONS; i++)
			*fns[i] = symbols[i];
		tb->waker_vtable = waker_vtable;
		return err;
	}
	for (int i = 0; i < WAKER_FUNCTIONS; i++) {
		a->code_wakers[i] = *fns[i];
		if (!symbols[i] || symbols[i] == *fns[i])
			continue;
		add_dispute(tb, names[i], ".symtab says 0x%llx, the polls' RawWakerVTable 0x%llx",
			    (unsigned long long)symbols[i], (unsigned long long)*fns[i]);
		*fns[i] = 0;
	}
	return 0;
}

/*
 * Whether .symtab gives the function at start a size its FDE contradicts: none, or one that runs
 * past the next function. Sizes are not used where an FDE starts (function_end()), but a symbol
 * that lies about one is not trusted about the rest.
 */
static bool size_disputed(const struct analysis *a, uint64_t start, uint64_t *size)
{
	uint64_t end = fde_end(a, start);

	return end && hashmap_get(a->sizes, &start, sizeof(start), size) &&
	       (!*size || *size > end - start);
}

/* Leaves out the hooks whose symbols give them a size their FDE contradicts. */
static void check_symbol_sizes(struct analysis *a)
{
	struct tokio_binary *tb = a->tb;
	uint64_t *wakers[] = {&tb->clone_waker, &tb->wake_by_val, &tb->wake_by_ref};
	static const char *const names[] = {"clone_waker", "wake_by_val", "wake_by_ref"};
	uint64_t size;
	size_t n = 0;

	for (size_t i = 0; i < tb->npolls; i++)
		tb->polls[i].size_disputed = size_disputed(a, tb->polls[i].entry, &size);
	for (size_t i = 0; i < sizeof(wakers) / sizeof(wakers[0]); i++) {
		if (!*wakers[i] || !size_disputed(a, *wakers[i], &size))
			continue;
		add_dispute(tb, names[i], ".symtab gives 0x%llx %llu bytes, the FDEs at most %llu",
			    (unsigned long long)*wakers[i], (unsigned long long)size,
			    (unsigned long long)(fde_end(a, *wakers[i]) - *wakers[i]));
		*wakers[i] = 0;
	}
	for (size_t i = 0; i < tb->ncomplete; i++) {
		uint64_t c = tb->complete[i];

		if (!size_disputed(a, c, &size)) {
			tb->complete[n++] = c;
			continue;
		}
		add_dispute(tb, "Harness::complete",
			    ".symtab gives 0x%llx %llu bytes, the FDEs at most %llu",
			    (unsigned long long)c, (unsigned long long)size,
			    (unsigned long long)(fde_end(a, c) - c));
	}
	tb->ncomplete = n;
}

static int add_task_functions(struct analysis *a, const struct tokio_vtable *vt)
{
	const uint64_t fns[] = {vt->poll, vt->schedule, vt->dealloc, vt->try_read_output};
	int err = 0;

	for (size_t i = 0; i < sizeof(fns) / sizeof(fns[0]) && !err; i++)
		err = hashmap_put(a->task_functions, &fns[i], sizeof(fns[i]), 1);
	if (!err && !hashmap_get(a->poll_index, &vt->poll, sizeof(vt->poll), NULL))
		a->unnamed_polls++;
	return err;
}

/*
 * With symbols, the vtables were found through raw::poll symbols; the data's vtables by their
 * shape do not depend on any symbol. A vtable whose poll no raw::poll symbol names is disputed
 * (its task is not probed), and the functions of all of them are kept for the check of
 * Harness::complete.
 */
static int check_poll_symbols(struct analysis *a)
{
	int err;

	a->task_functions = hashmap_new();
	if (!a->task_functions)
		return -ENOMEM;
	err = scan_vtables_by_shape(a, add_task_functions);
	if (!err && a->unnamed_polls)
		add_dispute(a->tb, "raw::poll",
			    "%zu task vtables point at polls no raw::poll symbol names",
			    a->unnamed_polls);
	return err;
}

/* Whether the vtables, the waker table or the waker symbols give addr to another hook. */
static bool is_task_function(const struct analysis *a, uint64_t addr)
{
	const struct tokio_binary *tb = a->tb;

	for (size_t i = 0; i < tb->nvtables; i++) {
		const struct tokio_vtable *vt = &tb->vtables[i];

		if (addr == vt->poll || addr == vt->schedule || addr == vt->dealloc ||
		    addr == vt->try_read_output)
			return true;
	}
	if (a->task_functions && hashmap_get(a->task_functions, &addr, sizeof(addr), NULL))
		return true;
	for (int i = 0; i < WAKER_FUNCTIONS; i++)
		if (addr == a->code_wakers[i])
			return true;
	return addr == tb->clone_waker || addr == tb->wake_by_val || addr == tb->wake_by_ref ||
	       addr == tb->drop_waker;
}

/*
 * Harness::complete has no source but its symbols: one that names a function the vtables or
 * the waker table give to another hook is disputed, and left out.
 */
static void check_complete_symbols(struct analysis *a)
{
	struct tokio_binary *tb = a->tb;
	size_t n = 0;

	for (size_t i = 0; i < tb->ncomplete; i++) {
		if (!is_task_function(a, tb->complete[i])) {
			tb->complete[n++] = tb->complete[i];
			continue;
		}
		add_dispute(tb, "Harness::complete",
			    ".symtab says 0x%llx, where it also puts another task hook",
			    (unsigned long long)tb->complete[i]);
	}
	tb->ncomplete = n;
}

/* ---- thread-local CONTEXT ------------------------------------------------------------------ */

/*
 * x86-64 static TLS (variant II): the executable's block ends at the thread pointer, so a
 * variable is at fsbase - roundup(PT_TLS.p_memsz, p_align) + st_value. Only the executable's
 * block has a link-time offset; a shared object's block is placed at load time.
 */
static void find_tls(struct analysis *a)
{
	bool executable = a->ehdr.e_type == ET_EXEC;

	for (size_t i = 0; i < a->nphdrs; i++)
		if (a->phdrs[i].p_type == PT_INTERP)
			executable = true;
	if (!a->has_context || !executable)
		return;
	for (size_t i = 0; i < a->nphdrs; i++) {
		const GElf_Phdr *p = &a->phdrs[i];
		uint64_t align = p->p_align ? p->p_align : 1;

		if (p->p_type != PT_TLS)
			continue;
		a->tb->has_tls = true;
		a->tb->tls_context_offset =
		    (int64_t)a->context_value - (int64_t)((p->p_memsz + align - 1) / align * align);
		a->tb->tls_context_size = a->context_size;
	}
}

/* ---- entry points -------------------------------------------------------------------------- */

static int analyze(struct analysis *a)
{
	struct tokio_binary *tb = a->tb;
	int err;

	if ((err = read_pointers(a)) || (err = read_symbols(a)))
		return err;
	read_fde_table(a);
	if (a->nraw_polls) {
		err = find_vtables_by_symbol(a);
		tb->has_symbols = true;
	} else {
		err = find_vtables_by_shape(a);
	}
	if (err || (err = collect_polls(a)))
		return err;
	if (!tb->npolls)
		return -ENOENT;
	if (cs_open(CS_ARCH_X86, CS_MODE_64, &a->cs) != CS_ERR_OK)
		return -ENOMEM;
	a->cs_open = true;
	cs_option(a->cs, CS_OPT_DETAIL, CS_OPT_ON);
	a->insn = cs_malloc(a->cs);
	if (!a->insn)
		return -ENOMEM;
	for (size_t i = 0; i < tb->npolls; i++)
		find_rets(a, &tb->polls[i]);
	if ((err = name_vtables(a)) || (err = find_poll_ranges(a)) || (err = index_vtables(a)))
		return err;
	if ((err = check_waker_symbols(a)))
		return err;
	if (tb->has_symbols && (err = check_poll_symbols(a)))
		return err;
	check_complete_symbols(a);
	check_symbol_sizes(a);
	find_tls(a);
	return find_spawn_sites(a);
}

static void analysis_free(struct analysis *a)
{
	for (size_t i = 0; i < a->ntypes; i++)
		free(a->types[i]);
	for (size_t i = 0; a->poll_names && i < a->tb->npolls; i++)
		free(a->poll_names[i]);
	free(a->types);
	free(a->poll_names);
	free(a->poll_users);
	free(a->raw_polls);
	free(a->ptrs);
	free(a->phdrs);
	hashmap_free(a->sizes);
	hashmap_free(a->drop_glue);
	hashmap_free(a->poll_types);
	hashmap_free(a->completes);
	hashmap_free(a->poll_index);
	hashmap_free(a->task_functions);
	if (a->insn)
		cs_free(a->insn, 1);
	if (a->cs_open)
		cs_close(&a->cs);
	if (a->elf)
		elf_end(a->elf);
	if (a->fd >= 0)
		close(a->fd);
	for (size_t i = 0; i < a->nspawners; i++)
		free(a->spawner[i].callees);
	free(a->spawner);
	hashmap_free(a->spawners);
	hashmap_free(a->vtable_index);
	hashmap_free(a->type_memo);
	free(a);
}

int tokio_binary_analyze(const char *path, struct tokio_binary **out)
{
	struct analysis *a = calloc(1, sizeof(*a));
	int err = -ENOMEM;

	if (elf_version(EV_CURRENT) == EV_NONE || !a) {
		free(a);
		return a ? -EINVAL : -ENOMEM;
	}
	a->fd = -1;
	a->tb = calloc(1, sizeof(*a->tb));
	a->sizes = hashmap_new();
	a->drop_glue = hashmap_new();
	a->poll_types = hashmap_new();
	a->completes = hashmap_new();
	a->poll_index = hashmap_new();
	a->spawners = hashmap_new();
	a->vtable_index = hashmap_new();
	a->type_memo = hashmap_new();
	if (!a->tb || !a->sizes || !a->drop_glue || !a->poll_types || !a->completes ||
	    !a->poll_index || !a->spawners || !a->vtable_index || !a->type_memo)
		goto out;
	a->fd = open(path, O_RDONLY | O_CLOEXEC);
	if (a->fd < 0) {
		err = -errno;
		goto out;
	}
	err = open_image(a, a->fd);
	if (!err)
		err = analyze(a);
out:
	if (err) {
		struct tokio_binary *tb = a->tb;

		analysis_free(a);
		if (tb)
			tb->analysis = NULL;
		tokio_binary_free(tb);
		return err;
	}
	/* kept for what is asked later: the types that spawns make */
	a->tb->analysis = a;
	*out = a->tb;
	return 0;
}

void tokio_binary_free(struct tokio_binary *tb)
{
	if (!tb)
		return;
	if (tb->analysis)
		analysis_free(tb->analysis);
	for (size_t i = 0; i < tb->nvtables; i++)
		free((char *)tb->vtables[i].future_type);
	free(tb->vtables);
	free(tb->polls);
	free(tb->complete);
	free(tb->spawn_sites);
	free(tb->ranges);
	free(tb);
}

int tokio_binary_poll_at(const struct tokio_binary *tb, uint64_t pc)
{
	size_t lo = 0, hi = tb->nranges;

	while (lo < hi) {
		size_t mid = lo + (hi - lo) / 2;

		if (tb->ranges[mid].end <= pc)
			lo = mid + 1;
		else
			hi = mid;
	}
	return lo < tb->nranges && tb->ranges[lo].start <= pc ? tb->ranges[lo].vtable : -1;
}
