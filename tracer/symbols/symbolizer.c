// SPDX-License-Identifier: MIT
/*
 * The symbolizer keeps two caches of objects. symbolizer_object() runs for every frame, so its
 * first cache is keyed by what the mapping already tells (device, inode and path, or process
 * and address for the vdso) and answers without a system call. On a miss the file is opened
 * and keyed by content: its GNU build-id together with its size (a stripped copy shares the
 * build-id of the unstripped file but not its symbols), or device, inode, size and mtime when
 * it has no build-id. So a library mapped by many processes or containers is parsed once.
 *
 * An object is parsed once, when it is first seen: program headers for address translation,
 * function symbols into one sorted array, and the address ranges of every DWARF compile unit
 * into another, so each lookup is two binary searches. File and line come from the unit's line
 * table and the inline chain from the unit's function DIEs (indexed by address the first time
 * the unit is needed, see "Finding the function at an address"); every answer is cached per
 * (object, address).
 *
 * A Go executable without .symtab (linked with -s) has no DWARF either, but its .gopclntab,
 * which the Go runtime needs for its own tracebacks, names every function and gives file:line
 * and the inlined calls at any PC: it stands in for both.
 *
 * Names point into the ELF string tables, DWARF sections and pclntab, which stay mapped (the
 * file descriptors are closed) until symbolizer_free(); only demangled names and joined source
 * paths are allocated, once each.
 */
#include "symbolizer.h"
#include "demangle.h"
#include "gopclntab.h"
#include "util/hashmap.h"

#include <dwarf.h>
#include <elfutils/libdw.h>
#include <elfutils/libdwelf.h>
#include <errno.h>
#include <fcntl.h>
#include <gelf.h>
#include <limits.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>
#include <zlib.h>
#include <sys/mman.h>
#include <sys/stat.h>

/* by_mapping values at or above this are cached failures: the bit plus the errno. */
#define CACHED_ERROR (1ULL << 63)
/* demangled values: the name is not mangled and stands for itself. */
#define NOT_MANGLED UINT64_MAX
/* results values: the first frame's index in the pool, shifted past the frame count. */
#define RESULT_COUNT_BITS 7

/* A function symbol covering [start, end) in link-time addresses. */
struct func_sym {
	uint64_t start, end;
	const char *name;
};

/* One address range of a compile unit. */
struct unit_range {
	uint64_t start, end;
	size_t unit; /* index into elf_object.units */
};

struct load_segment {
	uint64_t vaddr, offset, filesz;
};

/* One address range of a function with code (a concrete DW_TAG_subprogram). */
struct func_range {
	uint64_t start, end;
	Dwarf_Die die;
};

/* A compile unit, and its functions by address once a lookup needed them. */
struct dwarf_unit {
	Dwarf_Die die;
	struct func_range *funcs; /* sorted by start */
	size_t nfuncs;
	bool indexed;
};

struct elf_object {
	struct symbolizer *sym;
	size_t index;		/* in sym->objects */
	unsigned char *content_key; /* its key in sym->by_content */
	size_t content_key_len;
	size_t holds;		/* processes that map it (symbolizer_hold) */
	uint64_t idle_since;	/* 0, or when the last hold went: an order, not a time */
	char *path;
	char *build_id; /* lowercase hex, "" when none */
	struct load_segment *segments;
	size_t nsegments;
	struct func_sym *syms; /* sorted by start, no two at the same start */
	size_t nsyms;
	size_t nplt; /* of which PLT entries (callee@plt), which even a stripped object has */
	struct gopclntab *pcln; /* a Go executable's own table, when it has no .symtab */
	Elf *elf;		/* the object itself */
	Elf *debug_elf;		/* a separate debug file, or NULL */
	Elf *mini_elf;		/* the MiniDebugInfo in .gnu_debugdata, or NULL */
	void *image;		/* the vdso's bytes, which elf reads from; NULL for files */
	Dwarf *dwarf;		/* from elf or debug_elf; NULL when neither has units */
	struct dwarf_unit *units;
	size_t nunits;
	struct unit_range *ranges; /* sorted by start */
	size_t nranges;
	struct hashmap *results; /* vaddr -> pool index << RESULT_COUNT_BITS | frame count */
	struct sym_frame *pool;
	size_t npool, pool_cap;
};

struct symbolizer {
	struct hashmap *by_mapping; /* mapping_key -> object index, or CACHED_ERROR | errno */
	struct hashmap *by_content; /* build-id or file identity -> object index */
	struct elf_object **objects; /* NULL where one was freed */
	size_t nobjects, objects_cap;
	size_t nidle, max_idle;	     /* objects no process holds; how many are kept */
	uint64_t idle_clock;
	struct hashmap *demangled; /* mangled name -> index into strings, or NOT_MANGLED */
	struct hashmap *interned;  /* string -> index into strings */
	char **strings;
	size_t nstrings, strings_cap;
};

/* What a mapping says about its object; followed by the path in the key. */
struct mapping_key {
	uint64_t inode;
	uint64_t vdso_start; /* the vdso is keyed by process and address, files are not */
	int32_t vdso_pid;
	uint32_t dev_major, dev_minor;
};

/* Grows *array so it can hold n + 1 elements of size elem. */
static int reserve(void **array, size_t *cap, size_t n, size_t elem)
{
	size_t new_cap = *cap ? *cap : 16;
	void *bigger;

	if (n < *cap)
		return 0;
	while (new_cap <= n)
		new_cap *= 2;
	bigger = realloc(*array, new_cap * elem);
	if (!bigger)
		return -ENOMEM;
	*array = bigger;
	*cap = new_cap;
	return 0;
}

/* Takes over s, a malloc'd string, and finds it under key; NULL (s freed) without memory. */
static const char *store_string(struct symbolizer *sym, struct hashmap *map, const char *key,
				char *s)
{
	if (reserve((void **)&sym->strings, &sym->strings_cap, sym->nstrings, sizeof(char *)) ||
	    hashmap_put(map, key, strlen(key), sym->nstrings)) {
		free(s);
		return NULL;
	}
	sym->strings[sym->nstrings++] = s;
	return s;
}

static const char *intern(struct symbolizer *sym, const char *s)
{
	uint64_t idx;
	char *copy;

	if (hashmap_get(sym->interned, s, strlen(s), &idx))
		return sym->strings[idx];
	copy = strdup(s);
	return copy ? store_string(sym, sym->interned, s, copy) : NULL;
}

/* The human-readable form of a linkage name, computed once per name. */
static const char *readable_name(struct symbolizer *sym, const char *name)
{
	uint64_t idx;
	char *out;

	if (hashmap_get(sym->demangled, name, strlen(name), &idx))
		return idx == NOT_MANGLED ? name : sym->strings[idx];
	out = demangle(name);
	if (!out) {
		hashmap_put(sym->demangled, name, strlen(name), NOT_MANGLED);
		return name;
	}
	return store_string(sym, sym->demangled, name, out) ?: name;
}

/* ---- ELF -------------------------------------------------------------------------------- */

static Elf_Scn *find_section(Elf *elf, const char *name, GElf_Shdr *shdr)
{
	size_t shstrndx;
	Elf_Scn *scn = NULL;

	if (elf_getshdrstrndx(elf, &shstrndx))
		return NULL;
	while ((scn = elf_nextscn(elf, scn))) {
		const char *sname;

		if (!gelf_getshdr(scn, shdr))
			continue;
		sname = elf_strptr(elf, shstrndx, shdr->sh_name);
		if (sname && strcmp(sname, name) == 0)
			return scn;
	}
	return NULL;
}

static int read_segments(struct elf_object *obj)
{
	size_t phnum;

	if (elf_getphdrnum(obj->elf, &phnum))
		return -ENOEXEC;
	obj->segments = calloc(phnum ? phnum : 1, sizeof(*obj->segments));
	if (!obj->segments)
		return -ENOMEM;
	for (size_t i = 0; i < phnum; i++) {
		GElf_Phdr phdr;

		if (!gelf_getphdr(obj->elf, i, &phdr) || phdr.p_type != PT_LOAD)
			continue;
		obj->segments[obj->nsegments++] = (struct load_segment){
		    .vaddr = phdr.p_vaddr,
		    .offset = phdr.p_offset,
		    .filesz = phdr.p_filesz,
		};
	}
	return 0;
}

static int read_build_id(struct elf_object *obj)
{
	const unsigned char *id;
	ssize_t len = dwelf_elf_gnu_build_id(obj->elf, (const void **)&id);

	if (len < 0)
		len = 0;
	obj->build_id = malloc(2 * len + 1);
	if (!obj->build_id)
		return -ENOMEM;
	for (ssize_t i = 0; i < len; i++)
		sprintf(obj->build_id + 2 * i, "%02x", id[i]);
	obj->build_id[2 * len] = '\0';
	return 0;
}

/* ---- function symbols ------------------------------------------------------------------- */

struct sym_candidate {
	uint64_t start, size;
	uint64_t limit; /* end of its section: a symbol without a size stops there */
	const char *name;
	int rank; /* lower is preferred among aliases */
};

struct sym_list {
	struct sym_candidate *items;
	size_t count, cap;
};

/*
 * Aliases share an address (glibc's weak getpid and global __getpid): prefer the name with the
 * fewest leading underscores, as it is the one users call, then global over weak over local.
 */
static int symbol_rank(const GElf_Sym *s, const char *name)
{
	int bind = GELF_ST_BIND(s->st_info);
	int bind_rank = bind == STB_GLOBAL ? 0 : bind == STB_WEAK ? 1 : 2;

	return (int)strspn(name, "_") * 4 + bind_rank;
}

static uint64_t section_end(Elf *elf, const GElf_Sym *s)
{
	GElf_Shdr shdr;
	Elf_Scn *scn;

	if (s->st_shndx == SHN_UNDEF || s->st_shndx >= SHN_LORESERVE)
		return UINT64_MAX;
	scn = elf_getscn(elf, s->st_shndx);
	if (!scn || !gelf_getshdr(scn, &shdr) || !(shdr.sh_flags & SHF_ALLOC))
		return UINT64_MAX;
	return shdr.sh_addr + shdr.sh_size;
}

/* Adds the defined functions of the symbol table of type (SHT_SYMTAB or SHT_DYNSYM) in elf. */
static int add_symbols(struct sym_list *list, Elf *elf, Elf32_Word type)
{
	Elf_Scn *scn = NULL;
	GElf_Shdr shdr;

	while ((scn = elf_nextscn(elf, scn))) {
		Elf_Data *data;
		size_t n;

		if (!gelf_getshdr(scn, &shdr) || shdr.sh_type != type || !shdr.sh_entsize)
			continue;
		data = elf_getdata(scn, NULL);
		if (!data)
			continue;
		n = shdr.sh_size / shdr.sh_entsize;
		for (size_t i = 0; i < n; i++) {
			GElf_Sym s;
			const char *name;
			int st;

			if (!gelf_getsym(data, i, &s))
				break;
			st = GELF_ST_TYPE(s.st_info);
			if ((st != STT_FUNC && st != STT_GNU_IFUNC) || s.st_shndx == SHN_UNDEF ||
			    !s.st_value)
				continue;
			name = elf_strptr(elf, shdr.sh_link, s.st_name);
			if (!name || !*name)
				continue;
			if (reserve((void **)&list->items, &list->cap, list->count,
				    sizeof(*list->items)))
				return -ENOMEM;
			list->items[list->count++] = (struct sym_candidate){
			    .start = s.st_value,
			    .size = s.st_size,
			    .limit = section_end(elf, &s),
			    .name = name,
			    .rank = symbol_rank(&s, name),
			};
		}
	}
	return 0;
}

#define PLT_ENTRY 16 /* x86-64 */

/*
 * The PLT entries of an x86-64 object, named "callee@plt" as perf does: entry i of .plt.sec (with
 * IBT), else of .plt after its first, reserved entry, jumps through the GOT slot of relocation i
 * of .rela.plt. A sample in one is otherwise a frame of no function.
 */
static int add_plt_symbols(struct elf_object *obj, struct sym_list *list)
{
	GElf_Shdr rela_sh, plt_sh, dynsym_sh;
	Elf_Scn *rela = find_section(obj->elf, ".rela.plt", &rela_sh), *plt, *dynsym;
	Elf_Data *rdata, *sdata;
	GElf_Ehdr eh;
	uint64_t first;
	size_t n;

	if (!rela || !gelf_getehdr(obj->elf, &eh) || eh.e_machine != EM_X86_64 ||
	    rela_sh.sh_type != SHT_RELA || !rela_sh.sh_entsize)
		return 0;
	plt = find_section(obj->elf, ".plt.sec", &plt_sh);
	first = plt ? plt_sh.sh_addr : 0;
	if (!plt) {
		plt = find_section(obj->elf, ".plt", &plt_sh);
		first = plt_sh.sh_addr + PLT_ENTRY;
	}
	dynsym = elf_getscn(obj->elf, rela_sh.sh_link);
	if (!plt || !dynsym || !gelf_getshdr(dynsym, &dynsym_sh) ||
	    !(rdata = elf_getdata(rela, NULL)) || !(sdata = elf_getdata(dynsym, NULL)))
		return 0;
	n = rela_sh.sh_size / rela_sh.sh_entsize;
	for (size_t i = 0; i < n; i++) {
		uint64_t start = first + i * PLT_ENTRY;
		char name[256];
		const char *callee, *stored;
		GElf_Rela r;
		GElf_Sym sym;

		if (start + PLT_ENTRY > plt_sh.sh_addr + plt_sh.sh_size)
			break;
		if (!gelf_getrela(rdata, (int)i, &r) ||
		    !gelf_getsym(sdata, (int)GELF_R_SYM(r.r_info), &sym) ||
		    !(callee = elf_strptr(obj->elf, dynsym_sh.sh_link, sym.st_name)) || !*callee)
			continue;
		snprintf(name, sizeof(name), "%s@plt", callee);
		stored = intern(obj->sym, name);
		if (!stored)
			return -ENOMEM;
		if (reserve((void **)&list->items, &list->cap, list->count, sizeof(*list->items)))
			return -ENOMEM;
		list->items[list->count++] = (struct sym_candidate){
		    .start = start,
		    .size = PLT_ENTRY,
		    .limit = plt_sh.sh_addr + plt_sh.sh_size,
		    .name = stored,
		    .rank = INT32_MAX, /* any real symbol there wins */
		};
	}
	return 0;
}

static int compare_candidates(const void *a, const void *b)
{
	const struct sym_candidate *x = a, *y = b;

	if (x->start != y->start)
		return x->start < y->start ? -1 : 1;
	if (x->rank != y->rank)
		return x->rank - y->rank;
	return strcmp(x->name, y->name);
}

/* End of the PT_LOAD segment holding vaddr: the last bound for a symbol without size. */
static uint64_t segment_end(const struct elf_object *obj, uint64_t vaddr)
{
	for (size_t i = 0; i < obj->nsegments; i++) {
		const struct load_segment *s = &obj->segments[i];

		if (vaddr >= s->vaddr && vaddr < s->vaddr + s->filesz)
			return s->vaddr + s->filesz;
	}
	return vaddr + 1;
}

/* Sorts the candidates into obj->syms: one per address, each with its end. */
static int build_symbol_index(struct elf_object *obj, struct sym_list *list)
{
	size_t n = 0;

	if (!list->count)
		return 0;
	qsort(list->items, list->count, sizeof(*list->items), compare_candidates);
	obj->syms = calloc(list->count, sizeof(*obj->syms));
	if (!obj->syms)
		return -ENOMEM;
	for (size_t i = 0; i < list->count; i++) {
		const struct sym_candidate *c = &list->items[i];
		uint64_t end;

		if (n && obj->syms[n - 1].start == c->start)
			continue;
		if (c->size) {
			end = c->start + c->size;
		} else {
			/* Hand-written assembly often has no size: it runs to the next symbol. */
			size_t next = i + 1;

			while (next < list->count && list->items[next].start == c->start)
				next++;
			end = c->limit != UINT64_MAX ? c->limit : segment_end(obj, c->start);
			if (next < list->count && list->items[next].start < end)
				end = list->items[next].start;
		}
		obj->syms[n++] = (struct func_sym){.start = c->start, .end = end, .name = c->name};
	}
	obj->nsyms = n;
	return 0;
}

/*
 * MiniDebugInfo: an xz-compressed ELF in .gnu_debugdata holding the .symtab entries that
 * .dynsym lacks. libdwelf decompresses from a file descriptor only, hence the memfd.
 */
static Elf *open_minidebuginfo(Elf *elf)
{
	GElf_Shdr shdr;
	Elf_Scn *scn = find_section(elf, ".gnu_debugdata", &shdr);
	Elf_Data *data;
	Elf *mini = NULL;
	size_t done = 0;
	int fd;

	if (!scn || shdr.sh_type == SHT_NOBITS)
		return NULL;
	data = elf_rawdata(scn, NULL);
	if (!data || !data->d_size)
		return NULL;
	fd = memfd_create("gnu_debugdata", MFD_CLOEXEC);
	if (fd < 0)
		return NULL;
	while (done < data->d_size) {
		ssize_t n = write(fd, (const char *)data->d_buf + done, data->d_size - done);

		if (n <= 0)
			goto out;
		done += n;
	}
	if (lseek(fd, 0, SEEK_SET) == 0)
		mini = dwelf_elf_begin(fd);
	if (mini && elf_kind(mini) != ELF_K_ELF) {
		elf_end(mini);
		mini = NULL;
	}
	/*
	 * Decompressed, the image is in memory and this fails harmlessly; an uncompressed image
	 * is read from the memfd, which is about to be closed.
	 */
	if (mini)
		elf_cntl(mini, ELF_C_FDREAD);
out:
	close(fd);
	return mini;
}

/* A Go executable's pclntab; an object without one (not Go, or Go before 1.18) is fine. */
static int open_gopclntab(struct elf_object *obj)
{
	int err = gopclntab_open(obj->elf, &obj->pcln);

	return err == -ENOMEM ? err : 0;
}

/*
 * The most complete symbol table available: .symtab of the object, else that of its separate
 * debug file, else .dynsym together with the MiniDebugInfo .symtab; and a Go pclntab.
 */
static int read_symbols(struct elf_object *obj)
{
	struct sym_list list = {0};
	int err;

	err = add_symbols(&list, obj->elf, SHT_SYMTAB);
	if (!err && !list.count && obj->debug_elf)
		err = add_symbols(&list, obj->debug_elf, SHT_SYMTAB);
	if (!err && !list.count) {
		err = add_symbols(&list, obj->elf, SHT_DYNSYM);
		obj->mini_elf = err ? NULL : open_minidebuginfo(obj->elf);
		if (obj->mini_elf)
			err = add_symbols(&list, obj->mini_elf, SHT_SYMTAB);
	}
	if (!err) {
		size_t before = list.count;

		err = add_plt_symbols(obj, &list);
		obj->nplt = list.count - before;
	}
	/* Go keeps file:line and inlining in its pclntab, even when built with -w or -s -w. */
	if (!err)
		err = open_gopclntab(obj);
	if (!err)
		err = build_symbol_index(obj, &list);
	free(list.items);
	return err;
}

static int compare_symbol(const void *key, const void *elem)
{
	uint64_t vaddr = *(const uint64_t *)key;
	const struct func_sym *s = elem;

	return vaddr < s->start ? -1 : vaddr >= s->end;
}

static const struct func_sym *find_symbol(const struct elf_object *obj, uint64_t vaddr)
{
	if (!obj->nsyms)
		return NULL;
	return bsearch(&vaddr, obj->syms, obj->nsyms, sizeof(*obj->syms), compare_symbol);
}

/* ---- DWARF: finding it ------------------------------------------------------------------ */

static int compare_ranges(const void *a, const void *b)
{
	const struct unit_range *x = a, *y = b;

	return x->start < y->start ? -1 : x->start > y->start;
}

static int add_unit_ranges(struct elf_object *obj, Dwarf_Die *die, size_t unit, size_t *cap)
{
	Dwarf_Addr base, start, end;
	ptrdiff_t off = 0;

	while ((off = dwarf_ranges(die, off, &base, &start, &end)) > 0) {
		/* The linker leaves functions it discarded at address 0. */
		if (!start || start >= end)
			continue;
		if (reserve((void **)&obj->ranges, cap, obj->nranges, sizeof(*obj->ranges)))
			return -ENOMEM;
		obj->ranges[obj->nranges++] =
		    (struct unit_range){.start = start, .end = end, .unit = unit};
	}
	return 0;
}

/*
 * Indexes the address ranges of every compile unit. .debug_aranges would do, but clang does
 * not emit it by default and libdw does not fall back to the units' own ranges.
 */
static int index_units(struct elf_object *obj)
{
	size_t units_cap = 0, ranges_cap = 0;
	Dwarf_CU *cu = NULL, *next;
	Dwarf_Die cudie, subdie;
	Dwarf_Half version;
	uint8_t unit_type;

	memset(&subdie, 0, sizeof(subdie));
	while (dwarf_get_units(obj->dwarf, cu, &next, &version, &unit_type, &cudie, &subdie) == 0) {
		cu = next;
		if (unit_type != DW_UT_compile && unit_type != DW_UT_skeleton)
			continue;
		if (reserve((void **)&obj->units, &units_cap, obj->nunits, sizeof(*obj->units)))
			return -ENOMEM;
		/* Split DWARF: the scopes are in the .dwo unit, the ranges in the skeleton. */
		obj->units[obj->nunits] = (struct dwarf_unit){
		    .die = unit_type == DW_UT_skeleton && subdie.addr ? subdie : cudie,
		};
		if (add_unit_ranges(obj, &cudie, obj->nunits, &ranges_cap))
			return -ENOMEM;
		obj->nunits++;
		memset(&subdie, 0, sizeof(subdie));
	}
	if (obj->nranges) /* no array at all without ranges: qsort must not be given NULL */
		qsort(obj->ranges, obj->nranges, sizeof(*obj->ranges), compare_ranges);
	return 0;
}

/* Takes elf's DWARF when it has compile units with code; returns 0 when it has none. */
static int use_dwarf(struct elf_object *obj, Elf *elf)
{
	int err;

	obj->dwarf = dwarf_begin_elf(elf, DWARF_C_READ, NULL);
	if (!obj->dwarf)
		return 0;
	err = index_units(obj);
	if (err || !obj->nranges) {
		dwarf_end(obj->dwarf);
		obj->dwarf = NULL;
		free(obj->units);
		free(obj->ranges);
		obj->units = NULL;
		obj->ranges = NULL;
		obj->nunits = obj->nranges = 0;
	}
	return err;
}

static int file_crc32(int fd, uint32_t *crc)
{
	unsigned char buf[65536];
	uLong c = crc32(0, NULL, 0);
	ssize_t n;

	while ((n = read(fd, buf, sizeof(buf))) > 0)
		c = crc32(c, buf, n);
	*crc = c;
	return n < 0 ? -errno : 0;
}

/*
 * A debug file belongs to obj when its build-id matches, or, for objects without one, when its
 * CRC is the one .gnu_debuglink records.
 */
static bool debug_file_matches(struct elf_object *obj, Elf *elf, int fd, bool check_crc,
			       GElf_Word crc)
{
	const void *want, *have;
	ssize_t want_len = dwelf_elf_gnu_build_id(obj->elf, &want);
	ssize_t have_len = dwelf_elf_gnu_build_id(elf, &have);
	uint32_t actual;

	if (want_len > 0)
		return have_len == want_len && memcmp(want, have, want_len) == 0;
	return check_crc && file_crc32(fd, &actual) == 0 && actual == crc;
}

static bool has_symtab(Elf *elf)
{
	Elf_Scn *scn = NULL;
	GElf_Shdr shdr;

	while ((scn = elf_nextscn(elf, scn)))
		if (gelf_getshdr(scn, &shdr) && shdr.sh_type == SHT_SYMTAB)
			return true;
	return false;
}

/*
 * Opens path as obj's separate debug file, taking its DWARF and keeping it for its .symtab.
 * Returns 0 when path is no such file (obj->debug_elf stays NULL), or -errno.
 */
static int try_debug_file(struct elf_object *obj, const char *path, bool check_crc, GElf_Word crc)
{
	int fd = open(path, O_RDONLY | O_CLOEXEC);
	Elf *elf;
	int err;

	if (fd < 0)
		return 0;
	elf = elf_begin(fd, ELF_C_READ_MMAP, NULL);
	if (!elf || elf_kind(elf) != ELF_K_ELF ||
	    !debug_file_matches(obj, elf, fd, check_crc, crc)) {
		elf_end(elf);
		close(fd);
		return 0;
	}
	/* libdw finds the dwz file of a debug file relative to it, through its open fd. */
	err = use_dwarf(obj, elf);
	if (!err && elf_cntl(elf, ELF_C_FDREAD))
		err = -EIO;
	close(fd);
	/* A debuglink that names the object itself matches it but brings nothing. */
	if (!err && !obj->dwarf && !has_symtab(elf)) {
		elf_end(elf);
		return 0;
	}
	/* The object frees the debug file's Elf after its Dwarf, even on failure. */
	obj->debug_elf = elf;
	return err;
}

/*
 * Looks for a separate debug file the way gdb does: by build-id under /usr/lib/debug, then by
 * the .gnu_debuglink name next to the object, in its .debug directory and under
 * /usr/lib/debug. Each place is tried in the target's root first, then in ours.
 */
static int find_debug_file(struct elf_object *obj, pid_t pid)
{
	char roots[2][32], path[PATH_MAX], dir[PATH_MAX];
	const char *link, *slash;
	GElf_Word crc = 0;
	int err = 0;

	snprintf(roots[0], sizeof(roots[0]), "/proc/%d/root", (int)pid);
	roots[1][0] = '\0';
	for (int r = 0; r < 2 && !obj->debug_elf && !err && strlen(obj->build_id) > 2; r++) {
		snprintf(path, sizeof(path), "%s/usr/lib/debug/.build-id/%.2s/%s.debug", roots[r],
			 obj->build_id, obj->build_id + 2);
		err = try_debug_file(obj, path, false, 0);
	}

	link = dwelf_elf_gnu_debuglink(obj->elf, &crc);
	slash = strrchr(obj->path, '/');
	if (!link || !slash || (size_t)(slash - obj->path) >= sizeof(dir))
		return err;
	memcpy(dir, obj->path, slash - obj->path);
	dir[slash - obj->path] = '\0';
	for (int r = 0; r < 2 && !obj->debug_elf && !err; r++) {
		const char *const formats[] = {"%s%s/%s", "%s%s/.debug/%s",
					       "%s/usr/lib/debug%s/%s"};

		for (size_t f = 0; f < 3 && !obj->debug_elf && !err; f++) {
			if ((size_t)snprintf(path, sizeof(path), formats[f], roots[r], dir, link) >=
			    sizeof(path))
				continue;
			err = try_debug_file(obj, path, true, crc);
		}
	}
	return err;
}

/* ---- DWARF: reading it ------------------------------------------------------------------ */

static int compare_unit_range(const void *key, const void *elem)
{
	uint64_t vaddr = *(const uint64_t *)key;
	const struct unit_range *r = elem;

	return vaddr < r->start ? -1 : vaddr >= r->end;
}

static struct dwarf_unit *find_unit(struct elf_object *obj, uint64_t vaddr)
{
	const struct unit_range *r = NULL;

	if (obj->nranges)
		r = bsearch(&vaddr, obj->ranges, obj->nranges, sizeof(*obj->ranges),
			    compare_unit_range);
	return r ? &obj->units[r->unit] : NULL;
}

/* libdw joins relative names with the unit's directories; join what it leaves relative. */
static const char *source_path(struct symbolizer *sym, Dwarf_Die *cudie, const char *name)
{
	Dwarf_Attribute attr;
	const char *dir;
	char *joined;
	const char *out;

	if (!name || name[0] == '/')
		return name;
	dir = dwarf_formstring(dwarf_attr(cudie, DW_AT_comp_dir, &attr));
	if (!dir || asprintf(&joined, "%s/%s", dir, name) < 0)
		return name;
	out = intern(sym, joined);
	free(joined);
	return out ?: name;
}

static const char *die_string(Dwarf_Die *die, unsigned int name)
{
	Dwarf_Attribute attr;

	return dwarf_formstring(dwarf_attr_integrate(die, name, &attr));
}

/*
 * Names a function DIE. The linkage name, demangled, carries the namespace, type and crate
 * that DW_AT_name leaves out. Inlined instances and out-of-line copies get both through
 * DW_AT_abstract_origin and DW_AT_specification.
 */
static void name_frame(struct symbolizer *sym, Dwarf_Die *die, struct sym_frame *f)
{
	const char *linkage = die_string(die, DW_AT_linkage_name);
	const char *plain = die_string(die, DW_AT_name);

	if (!linkage)
		linkage = die_string(die, DW_AT_MIPS_linkage_name);
	f->function = linkage ? readable_name(sym, linkage) : plain;
	f->system_name = linkage;
}

/* The call site of an inlined subroutine: the line executing in the function it is in. */
static void call_site(struct symbolizer *sym, Dwarf_Die *inlined, const char **file, int *line)
{
	Dwarf_Attribute attr;
	Dwarf_Word value;
	Dwarf_Files *files;
	Dwarf_Die cudie;
	size_t nfiles;

	*file = NULL;
	*line = 0;
	if (dwarf_formudata(dwarf_attr(inlined, DW_AT_call_line, &attr), &value) == 0)
		*line = (int)value;
	if (dwarf_formudata(dwarf_attr(inlined, DW_AT_call_file, &attr), &value) == 0 &&
	    dwarf_diecu(inlined, &cudie, NULL, NULL) &&
	    dwarf_getsrcfiles(&cudie, &files, &nfiles) == 0 && value < nfiles)
		*file = source_path(sym, &cudie, dwarf_filesrc(files, value, NULL, NULL));
}

/* Of n frames, keeps the innermost max - 1 and the outermost: index k of the kept ones. */
static int kept_frame(int k, int kept, int n)
{
	return k < kept - 1 ? k : n - 1;
}

/*
 * Finding the function at an address. libdw's dwarf_getscopes() does not look inside
 * namespaces, where Rust and C++ put nearly every function (hyper::proto::h1::...), so it
 * finds no scope at all there and the inlined calls are lost. The functions of a unit are
 * indexed instead, the first time an address in it is looked up: one walk of its DIE tree
 * (namespaces, types, imported partial units of a dwz file, nested functions) collects every
 * DW_TAG_subprogram with code and its address ranges, sorted. The inline chain at an address is
 * then read down from its function: the DW_TAG_inlined_subroutine children (through lexical
 * blocks) whose ranges contain the address, outermost first, as addr2line -i gives them.
 */
#define DIE_DEPTH_MAX 256 /* nesting followed in a unit; real code stays far below */

struct func_index {
	struct func_range *funcs;
	size_t n, cap;
};

static int add_function(struct func_index *ix, Dwarf_Die *die)
{
	Dwarf_Addr base, start, end;
	ptrdiff_t off = 0;

	while ((off = dwarf_ranges(die, off, &base, &start, &end)) > 0) {
		/* The linker leaves functions it discarded at address 0 (or 1: -1 tombstones). */
		if (start <= 1 || start >= end)
			continue;
		if (reserve((void **)&ix->funcs, &ix->cap, ix->n, sizeof(*ix->funcs)))
			return -ENOMEM;
		ix->funcs[ix->n++] = (struct func_range){.start = start, .end = end, .die = *die};
	}
	return 0;
}

static int index_children(struct func_index *ix, Dwarf_Die *parent, int depth)
{
	Dwarf_Die child, imported;
	Dwarf_Attribute attr;
	int err = 0;

	if (depth > DIE_DEPTH_MAX || dwarf_child(parent, &child) != 0)
		return 0;
	do {
		int tag = dwarf_tag(&child);

		if (tag == DW_TAG_subprogram)
			err = add_function(ix, &child);
		if (!err && tag == DW_TAG_imported_unit &&
		    dwarf_formref_die(dwarf_attr(&child, DW_AT_import, &attr), &imported))
			err = index_children(ix, &imported, depth + 1);
		else if (!err && dwarf_haschildren(&child) > 0)
			err = index_children(ix, &child, depth + 1);
	} while (!err && dwarf_siblingof(&child, &child) == 0);
	return err;
}

static int compare_funcs(const void *a, const void *b)
{
	const struct func_range *x = a, *y = b;

	if (x->start != y->start)
		return x->start < y->start ? -1 : 1;
	/* Inner (shorter) ranges last, so a search from the end finds them first. */
	return x->end > y->end ? -1 : x->end < y->end;
}

static void index_functions(struct dwarf_unit *u)
{
	struct func_index ix = {0};

	u->indexed = true;
	if (index_children(&ix, &u->die, 0)) {
		free(ix.funcs); /* without memory, lookups in the unit find no function */
		return;
	}
	if (ix.n) /* a unit with no function (a lying or stripped DWARF) has no array to sort */
		qsort(ix.funcs, ix.n, sizeof(*ix.funcs), compare_funcs);
	u->funcs = ix.funcs;
	u->nfuncs = ix.n;
}

/* How many ranges that start at or before an address may still contain it. */
#define FUNC_OVERLAP_MAX 8

/* The function DIE whose code contains vaddr; NULL when none. */
static Dwarf_Die *find_function(struct dwarf_unit *u, uint64_t vaddr)
{
	size_t lo = 0, hi;

	if (!u->indexed)
		index_functions(u);
	hi = u->nfuncs;
	while (lo < hi) { /* the first range starting after vaddr */
		size_t mid = lo + (hi - lo) / 2;

		if (u->funcs[mid].start <= vaddr)
			lo = mid + 1;
		else
			hi = mid;
	}
	for (size_t i = lo; i-- > 0 && lo - i <= FUNC_OVERLAP_MAX;)
		if (vaddr < u->funcs[i].end)
			return &u->funcs[i].die;
	return NULL;
}

/* A scope that holds code but is no function of its own: look inside it. */
static bool is_block(int tag)
{
	return tag == DW_TAG_lexical_block || tag == DW_TAG_try_block ||
	       tag == DW_TAG_catch_block || tag == DW_TAG_with_stmt;
}

/* A block without an address range says nothing of where its code is: it may hold any. */
static bool block_holds(Dwarf_Die *die, uint64_t vaddr)
{
	if (!dwarf_hasattr(die, DW_AT_low_pc) && !dwarf_hasattr(die, DW_AT_ranges))
		return true;
	return dwarf_haspc(die, vaddr) > 0;
}

/*
 * Fills chain[] with the function DIE and the inlined instances containing vaddr, outermost
 * first; returns how many (at most max).
 */
static int inline_chain(Dwarf_Die *func, uint64_t vaddr, Dwarf_Die *chain, int max)
{
	Dwarf_Die scope = *func, child;
	int n = 0, depth = 0;

	chain[n++] = *func;
	while (depth++ < DIE_DEPTH_MAX && dwarf_child(&scope, &child) == 0) {
		bool found = false;

		do {
			int tag = dwarf_tag(&child);

			if (tag == DW_TAG_inlined_subroutine && dwarf_haspc(&child, vaddr) > 0) {
				/* Deeper than kept: the innermost ones replace the middle. */
				if (n == max)
					memmove(&chain[1], &chain[2], (max - 2) * sizeof(*chain));
				chain[n < max ? n++ : max - 1] = child;
				found = true;
			} else if (is_block(tag) && dwarf_haschildren(&child) > 0 &&
				   block_holds(&child, vaddr)) {
				found = true;
			}
		} while (!found && dwarf_siblingof(&child, &child) == 0);
		if (!found)
			break;
		scope = child;
	}
	return n;
}

/*
 * Frames from DWARF, innermost first. The innermost frame's line comes from the line table;
 * each outer frame's line is the call site of the frame inlined into it. Returns 0 when the
 * unit knows nothing of vaddr.
 */
static int dwarf_frames(struct elf_object *obj, struct dwarf_unit *u, uint64_t vaddr,
			struct sym_frame *out)
{
	Dwarf_Line *row = dwarf_getsrc_die(&u->die, vaddr);
	Dwarf_Die chain[SYM_MAX_INLINE], *func = find_function(u, vaddr);
	const char *file = NULL;
	int line = 0, n = func ? inline_chain(func, vaddr, chain, SYM_MAX_INLINE) : 0;

	if (row) {
		file = source_path(obj->sym, &u->die, dwarf_linesrc(row, NULL, NULL));
		dwarf_lineno(row, &line);
	}
	for (int k = 0; k < n; k++) {
		/* chain is outermost first: out[k] is chain[n - 1 - k] */
		int c = n - 1 - k;
		struct sym_frame *frame = &out[k];

		memset(frame, 0, sizeof(*frame));
		name_frame(obj->sym, &chain[c], frame);
		if (k == 0) {
			frame->file = file;
			frame->line = line;
		} else {
			call_site(obj->sym, &chain[c + 1], &frame->file, &frame->line);
		}
	}
	/* No function DIE (assembly, or padding between functions): the line may still do. */
	if (!n && file) {
		out[0] = (struct sym_frame){.file = file, .line = line};
		n = 1;
	}
	return n;
}

/* ---- symbolization ---------------------------------------------------------------------- */

/* Frames from a Go pclntab, innermost first, as dwarf_frames() gives them. */
static int pcln_frames(struct elf_object *obj, uint64_t vaddr, struct sym_frame *out)
{
	struct gopcln_frame frames[SYM_MAX_INLINE];
	int n = gopclntab_frames(obj->pcln, vaddr, frames, SYM_MAX_INLINE);

	for (int i = 0; i < n; i++)
		out[i] = (struct sym_frame){
		    .function = readable_name(obj->sym, frames[i].function),
		    .system_name = frames[i].function,
		    .file = frames[i].file,
		    .line = frames[i].line,
		};
	return n;
}

static int resolve(struct elf_object *obj, uint64_t vaddr, struct sym_frame *out)
{
	const struct func_sym *fs = find_symbol(obj, vaddr);
	struct dwarf_unit *unit = obj->dwarf ? find_unit(obj, vaddr) : NULL;
	struct sym_frame *outer;
	int n;

	/*
	 * Go's own table first: it is what runtime.Callers reads, exact at every byte. Go's DWARF
	 * ends an inlined call's range before the last byte of the call instruction, so a return
	 * address - 1 there loses the inlined frame (sync.(*Mutex).Lock's lockSlow call reads as
	 * the caller at mutex.go:92). DWARF covers the rest, such as the C code of a cgo binary.
	 */
	if (obj->pcln && (n = pcln_frames(obj, vaddr, out)))
		return n;
	n = unit ? dwarf_frames(obj, unit, vaddr, out) : 0;
	if (!n && !fs)
		return 0;
	if (!n) {
		memset(out, 0, sizeof(*out));
		n = 1;
	}
	/* A line without a function is padding unless a symbol covers it. */
	if (!fs && !out[n - 1].function)
		return 0;
	/*
	 * The symbol table names the outermost frame when DWARF does not, and it has the name
	 * the linker saw (a C function's "foo.cold" or "foo.part.0").
	 */
	outer = &out[n - 1];
	if (fs && !outer->function)
		outer->function = readable_name(obj->sym, fs->name);
	if (fs && (!outer->system_name || outer->system_name == outer->function))
		outer->system_name = fs->name;
	return n;
}

int elf_object_symbolize(struct elf_object *obj, uint64_t vaddr, struct sym_frame *frames,
			 int max_frames)
{
	struct sym_frame found[SYM_MAX_INLINE];
	const struct sym_frame *src;
	uint64_t cached;
	int n, kept;

	if (max_frames < 1)
		return 0;
	if (hashmap_get(obj->results, &vaddr, sizeof(vaddr), &cached)) {
		n = cached & ((1 << RESULT_COUNT_BITS) - 1);
		src = &obj->pool[cached >> RESULT_COUNT_BITS];
	} else {
		n = resolve(obj, vaddr, found);
		src = found;
		/* Without memory the answer is still right, only not cached. */
		if (!reserve((void **)&obj->pool, &obj->pool_cap, obj->npool + n,
			     sizeof(*obj->pool)) &&
		    !hashmap_put(obj->results, &vaddr, sizeof(vaddr),
				 obj->npool << RESULT_COUNT_BITS | n)) {
			memcpy(&obj->pool[obj->npool], found, n * sizeof(*found));
			obj->npool += n;
		}
	}
	kept = n < max_frames ? n : max_frames;
	for (int k = 0; k < kept; k++)
		frames[k] = src[kept_frame(k, kept, n)];
	return kept;
}

uint64_t elf_object_vaddr(const struct elf_object *obj, const struct proc_mapping *m, uint64_t addr)
{
	uint64_t off = addr - m->start + m->offset;
	const struct load_segment *below = NULL;

	for (size_t i = 0; i < obj->nsegments; i++) {
		const struct load_segment *s = &obj->segments[i];

		if (off >= s->offset && off < s->offset + s->filesz)
			return off - s->offset + s->vaddr;
		if (s->offset <= off && (!below || s->offset > below->offset))
			below = s;
	}
	/* Past the file bytes of a segment (its .bss, or the page rounding after it). */
	return below ? off - below->offset + below->vaddr : off;
}

const char *elf_object_build_id(const struct elf_object *obj)
{
	return obj->build_id;
}

bool elf_object_has_symbols(const struct elf_object *obj)
{
	return obj->nsyms > obj->nplt || obj->pcln;
}

bool elf_object_has_lines(const struct elf_object *obj)
{
	return obj->dwarf || obj->pcln;
}

/* ---- objects and their caches ----------------------------------------------------------- */

static void object_free(struct elf_object *obj)
{
	if (!obj)
		return;
	hashmap_free(obj->results);
	free(obj->content_key);
	gopclntab_free(obj->pcln);
	free(obj->pool);
	for (size_t i = 0; i < obj->nunits; i++)
		free(obj->units[i].funcs);
	free(obj->units);
	free(obj->ranges);
	if (obj->dwarf)
		dwarf_end(obj->dwarf);
	elf_end(obj->mini_elf);
	elf_end(obj->debug_elf);
	elf_end(obj->elf);
	free(obj->image);
	free(obj->syms);
	free(obj->segments);
	free(obj->build_id);
	free(obj->path);
	free(obj);
}

/*
 * Parses elf, which the new object takes over with image, the memory elf reads from (NULL for
 * a file). fd, when not negative, is the open file: libdw finds dwz files through it, and all
 * of it is read so that the caller can close it.
 */
static int object_new(struct symbolizer *sym, Elf *elf, void *image, int fd, pid_t pid,
		      const char *path, struct elf_object **out)
{
	struct elf_object *obj = calloc(1, sizeof(*obj));
	int err;

	if (!obj) {
		elf_end(elf);
		free(image);
		return -ENOMEM;
	}
	obj->sym = sym;
	obj->elf = elf;
	obj->image = image;
	obj->path = strdup(path);
	obj->results = hashmap_new();
	err = !obj->path || !obj->results ? -ENOMEM : 0;
	if (!err)
		err = read_segments(obj);
	if (!err)
		err = read_build_id(obj);
	if (!err)
		err = use_dwarf(obj, elf);
	if (!err && !obj->dwarf && fd >= 0)
		err = find_debug_file(obj, pid);
	if (!err)
		err = read_symbols(obj);
	if (!err && fd >= 0 && elf_cntl(elf, ELF_C_FDREAD))
		err = -EIO;
	if (err) {
		object_free(obj);
		return err;
	}
	*out = obj;
	return 0;
}

static int add_object(struct symbolizer *sym, struct elf_object *obj, const void *content_key,
		      size_t len, uint64_t *idx)
{
	obj->content_key = malloc(len);
	if (!obj->content_key ||
	    reserve((void **)&sym->objects, &sym->objects_cap, sym->nobjects,
		    sizeof(*sym->objects)) ||
	    hashmap_put(sym->by_content, content_key, len, sym->nobjects))
		return -ENOMEM;
	memcpy(obj->content_key, content_key, len);
	obj->content_key_len = len;
	obj->index = sym->nobjects;
	sym->objects[sym->nobjects] = obj;
	*idx = sym->nobjects++;
	return 0;
}

/*
 * The content key: 'B', the size and the build-id, or, without a build-id, 'I' and other,
 * which identifies the content otherwise (the file's device, inode, size and mtime, or a hash
 * of the vdso's bytes).
 */
static size_t content_key(Elf *elf, uint64_t size, const void *other, size_t other_len,
			  unsigned char *key, size_t cap)
{
	const void *id;
	ssize_t len = dwelf_elf_gnu_build_id(elf, &id);

	if (len <= 0 || (size_t)len + 1 + sizeof(size) > cap) {
		key[0] = 'I';
		memcpy(key + 1, other, other_len);
		return 1 + other_len;
	}
	key[0] = 'B';
	memcpy(key + 1, &size, sizeof(size));
	memcpy(key + 1 + sizeof(size), id, len);
	return 1 + sizeof(size) + len;
}

/*
 * Parses elf into a new object unless one with the same content is cached already. Takes over
 * elf and image as object_new() does.
 */
static int find_or_add(struct symbolizer *sym, Elf *elf, void *image, int fd, pid_t pid,
		       const char *path, uint64_t size, const void *identity, size_t identity_len,
		       uint64_t *idx)
{
	unsigned char key[256];
	size_t len = content_key(elf, size, identity, identity_len, key, sizeof(key));
	struct elf_object *obj;
	int err;

	if (hashmap_get(sym->by_content, key, len, idx)) {
		elf_end(elf);
		free(image);
		return 0;
	}
	err = object_new(sym, elf, image, fd, pid, path, &obj);
	if (err)
		return err;
	err = add_object(sym, obj, key, len, idx);
	if (err)
		object_free(obj);
	return err;
}

static int load_file(struct symbolizer *sym, pid_t pid, const struct proc_mapping *m, uint64_t *idx)
{
	struct {
		uint64_t dev, ino, size;
		int64_t mtime_sec, mtime_nsec;
	} identity;
	struct stat st;
	Elf *elf;
	int fd, err;

	fd = procmaps_open_file(pid, m);
	if (fd < 0)
		return fd;
	if (fstat(fd, &st) || !S_ISREG(st.st_mode)) {
		close(fd);
		return -ENOEXEC;
	}
	elf = elf_begin(fd, ELF_C_READ_MMAP, NULL);
	if (!elf || elf_kind(elf) != ELF_K_ELF) {
		elf_end(elf);
		close(fd);
		return -ENOEXEC;
	}
	memset(&identity, 0, sizeof(identity));
	identity.dev = st.st_dev;
	identity.ino = st.st_ino;
	identity.size = st.st_size;
	identity.mtime_sec = st.st_mtim.tv_sec;
	identity.mtime_nsec = st.st_mtim.tv_nsec;
	err = find_or_add(sym, elf, NULL, fd, pid, m->path, st.st_size, &identity, sizeof(identity),
			  idx);
	close(fd);
	return err;
}

/* Reads the vdso from the target's memory: it is the kernel's, not a file. */
static int load_vdso(struct symbolizer *sym, pid_t pid, const struct proc_mapping *m, uint64_t *idx)
{
	size_t size = m->end - m->start, done = 0;
	unsigned char *image = malloc(size);
	char path[32];
	uint64_t hash;
	Elf *elf;
	int fd, err = 0;

	if (!image)
		return -ENOMEM;
	snprintf(path, sizeof(path), "/proc/%d/mem", (int)pid);
	fd = open(path, O_RDONLY | O_CLOEXEC);
	if (fd < 0) {
		err = -errno;
		free(image);
		return err;
	}
	while (done < size && !err) {
		ssize_t n = pread(fd, image + done, size - done, m->start + done);

		if (n < 0 && errno != EINTR)
			err = -errno;
		else if (n == 0)
			err = -EIO;
		else if (n > 0)
			done += n;
	}
	close(fd);
	elf = err ? NULL : elf_memory((char *)image, size);
	if (!elf || elf_kind(elf) != ELF_K_ELF) {
		elf_end(elf);
		free(image);
		return err ? err : -ENOEXEC;
	}
	hash = hash_bytes(image, size);
	return find_or_add(sym, elf, image, -1, pid, m->path, size, &hash, sizeof(hash), idx);
}

/* Whether err is about the file rather than about the process having gone away. */
static bool error_is_lasting(int err, pid_t pid)
{
	if (err == -ENOMEM)
		return false;
	return kill(pid, 0) == 0 || errno != ESRCH;
}

struct elf_object *symbolizer_object(struct symbolizer *sym, pid_t pid,
				     const struct proc_mapping *m)
{
	_Alignas(struct mapping_key) unsigned char key[sizeof(struct mapping_key) + PATH_MAX];
	struct mapping_key *mk = (struct mapping_key *)key;
	size_t path_len = strlen(m->path);
	bool vdso = strcmp(m->path, "[vdso]") == 0;
	uint64_t value;
	int err;

	if (!vdso && !procmaps_is_file(m)) {
		errno = EINVAL;
		return NULL;
	}
	if (path_len > PATH_MAX) {
		errno = ENAMETOOLONG;
		return NULL;
	}
	memset(mk, 0, sizeof(*mk));
	mk->inode = m->inode;
	mk->dev_major = m->dev_major;
	mk->dev_minor = m->dev_minor;
	if (vdso) {
		mk->vdso_pid = pid;
		mk->vdso_start = m->start;
	}
	memcpy(key + sizeof(*mk), m->path, path_len);

	if (!hashmap_get(sym->by_mapping, key, sizeof(*mk) + path_len, &value)) {
		err = vdso ? load_vdso(sym, pid, m, &value) : load_file(sym, pid, m, &value);
		if (err && !error_is_lasting(err, pid)) {
			errno = -err;
			return NULL;
		}
		if (err)
			value = CACHED_ERROR | (uint64_t)-err;
		/* Should this fail, the next call finds the object again by content. */
		hashmap_put(sym->by_mapping, key, sizeof(*mk) + path_len, value);
	}
	if (value & CACHED_ERROR) {
		errno = (int)(value & ~CACHED_ERROR);
		return NULL;
	}
	return sym->objects[value];
}

struct symbolizer *symbolizer_new(void)
{
	struct symbolizer *sym;

	if (elf_version(EV_CURRENT) == EV_NONE) {
		errno = ENOSYS;
		return NULL;
	}
	sym = calloc(1, sizeof(*sym));
	if (!sym)
		return NULL;
	sym->max_idle = SIZE_MAX;
	sym->by_mapping = hashmap_new();
	sym->by_content = hashmap_new();
	sym->demangled = hashmap_new();
	sym->interned = hashmap_new();
	if (!sym->by_mapping || !sym->by_content || !sym->demangled || !sym->interned) {
		symbolizer_free(sym);
		errno = ENOMEM;
		return NULL;
	}
	return sym;
}

/* ---- Objects no process maps any more -------------------------------------------------- */

struct keys {
	uint64_t value;
	void **keys;
	size_t *lens;
	size_t n, cap;
	bool failed;
};

static int collect_key(const void *key, size_t len, uint64_t value, void *arg)
{
	struct keys *k = arg;

	if (value != k->value)
		return 0;
	if (k->n == k->cap) {
		size_t cap = k->cap ? 2 * k->cap : 8;
		void **keys = realloc(k->keys, cap * sizeof(*keys));
		size_t *lens = keys ? realloc(k->lens, cap * sizeof(*lens)) : NULL;

		if (keys)
			k->keys = keys;
		if (!keys || !lens) {
			k->failed = true;
			return 1;
		}
		k->lens = lens;
		k->cap = cap;
	}
	k->keys[k->n] = malloc(len);
	if (!k->keys[k->n]) {
		k->failed = true;
		return 1;
	}
	memcpy(k->keys[k->n], key, len);
	k->lens[k->n++] = len;
	return 0;
}

/*
 * Frees obj, which no process holds: the mappings that named it and its content key go, so a
 * process that maps it later parses it again. Returns 0, or -ENOMEM (obj is kept).
 */
static int evict(struct symbolizer *sym, struct elf_object *obj)
{
	struct keys k = { .value = obj->index };
	int err = 0;

	hashmap_each(sym->by_mapping, collect_key, &k);
	if (k.failed) {
		err = -ENOMEM;
	} else {
		for (size_t i = 0; i < k.n; i++)
			hashmap_del(sym->by_mapping, k.keys[i], k.lens[i]);
		hashmap_del(sym->by_content, obj->content_key, obj->content_key_len);
		sym->objects[obj->index] = NULL;
		sym->nidle--;
		object_free(obj);
	}
	for (size_t i = 0; i < k.n; i++)
		free(k.keys[i]);
	free(k.keys);
	free(k.lens);
	return err;
}

void symbolizer_set_max_idle(struct symbolizer *sym, size_t max_idle)
{
	sym->max_idle = max_idle;
}

void symbolizer_hold(struct symbolizer *sym, struct elf_object *obj)
{
	if (obj->holds++ == 0 && obj->idle_since) {
		obj->idle_since = 0;
		sym->nidle--;
	}
}

void symbolizer_release(struct symbolizer *sym, struct elf_object *obj)
{
	if (--obj->holds)
		return;
	obj->idle_since = ++sym->idle_clock;
	sym->nidle++;
	while (sym->nidle > sym->max_idle) {
		struct elf_object *oldest = NULL;

		for (size_t i = 0; i < sym->nobjects; i++) {
			struct elf_object *o = sym->objects[i];

			if (o && o->idle_since && (!oldest || o->idle_since < oldest->idle_since))
				oldest = o;
		}
		if (!oldest || evict(sym, oldest))
			break;
	}
}

void symbolizer_free(struct symbolizer *sym)
{
	if (!sym)
		return;
	for (size_t i = 0; i < sym->nobjects; i++)
		object_free(sym->objects[i]);
	for (size_t i = 0; i < sym->nstrings; i++)
		free(sym->strings[i]);
	free(sym->objects);
	free(sym->strings);
	hashmap_free(sym->by_mapping);
	hashmap_free(sym->by_content);
	hashmap_free(sym->demangled);
	hashmap_free(sym->interned);
	free(sym);
}
