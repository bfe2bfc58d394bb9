/* SPDX-License-Identifier: MIT */
#ifndef ASYNCPROF_SYMBOLIZER_H
#define ASYNCPROF_SYMBOLIZER_H

#include <stddef.h>
#include <stdint.h>
#include <stdbool.h>
#include <sys/types.h>

#include "target/procmaps.h"

/*
 * symbolizer: addresses to function names, source lines and inline chains, for user-space ELF
 * objects (executables, shared libraries, the vdso).
 *
 * Objects are cached by GNU build-id (by device, inode, size and mtime when an object has
 * none), so a library mapped by many processes, or mapped again after a restart, is parsed
 * once. Results are cached per (object, address). Every string the symbolizer returns is owned
 * by it and lives until symbolizer_free().
 */
struct symbolizer;
struct elf_object;

struct sym_frame {
	const char *function;	 /* demangled name; NULL when unknown */
	const char *system_name; /* mangled (linkage) name; NULL when unknown */
	const char *file;	 /* source file; NULL when unknown */
	int line;		 /* 0 when unknown */
};

#define SYM_MAX_INLINE 64

struct symbolizer *symbolizer_new(void);
void symbolizer_free(struct symbolizer *sym); /* accepts NULL */

/*
 * A process holds the objects it maps while it is profiled (process.c), so that what they
 * answered (names point into them) stays valid. An object no process holds any more is kept for
 * the next process that maps it, up to max_idle such objects: beyond, the one idle the longest is
 * freed (its names with it). The default keeps them all (attach and run: one process); the
 * agent, which sees processes come and go, bounds them.
 */
void symbolizer_set_max_idle(struct symbolizer *sym, size_t max_idle);
void symbolizer_hold(struct symbolizer *sym, struct elf_object *obj);
void symbolizer_release(struct symbolizer *sym, struct elf_object *obj);

/*
 * The ELF object behind a file-backed or [vdso] mapping of process pid, opened through
 * /proc/PID/root (or read from the process memory for the vdso). Returns NULL with errno set
 * when the file cannot be opened or is not ELF; the failure is cached, so calling again is cheap.
 */
struct elf_object *symbolizer_object(struct symbolizer *sym, pid_t pid,
				     const struct proc_mapping *m);

/* Lowercase hex build-id, or "" when the object has none. Never NULL. */
const char *elf_object_build_id(const struct elf_object *obj);
/* .symtab or .dynsym with functions, or a Go executable's pclntab */
bool elf_object_has_symbols(const struct elf_object *obj);
/* file:line and inlined frames: DWARF, or a Go executable's pclntab */
bool elf_object_has_lines(const struct elf_object *obj);

/*
 * Converts a runtime address inside mapping m to the object's link-time virtual address (the
 * one symbol tables and DWARF use), handling PIE, shared libraries and non-zero file offsets.
 */
uint64_t elf_object_vaddr(const struct elf_object *obj, const struct proc_mapping *m,
			  uint64_t addr);

/*
 * Symbolizes a link-time address. Fills frames[] innermost first: when functions were inlined
 * at vaddr, frames[0] is the innermost inlined function and the last frame is the function
 * that contains vaddr in the symbol table. Returns the number of frames (>= 1), or 0 when no
 * symbol covers vaddr.
 */
int elf_object_symbolize(struct elf_object *obj, uint64_t vaddr, struct sym_frame *frames,
			 int max_frames);

#endif
