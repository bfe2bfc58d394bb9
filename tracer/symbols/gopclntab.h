/* SPDX-License-Identifier: MIT */
#ifndef ASYNCPROF_GOPCLNTAB_H
#define ASYNCPROF_GOPCLNTAB_H

#include <stddef.h>
#include <stdint.h>
#include <stdbool.h>
#include <gelf.h>

/*
 * gopclntab: the function table Go's linker writes into every executable for the runtime's own
 * tracebacks. It survives `-s -w` and PIE, so it names functions, gives file:line for any PC
 * and expands inlined calls in binaries that have no .symtab and no DWARF.
 *
 * Go 1.18 and later (pcHeader magics 0xfffffff0 and 0xfffffff1), 64-bit targets only.
 * Addresses are link-time virtual addresses. Strings point into the ELF image, which must stay
 * mapped (the Elf alive) for as long as the table is used.
 */
struct gopclntab;

struct gopcln_func {
	uint64_t entry;
	uint64_t end; /* past the last instruction, as the function's own PC tables end */
	const char *name;
};

struct gopcln_frame {
	const char *function;
	const char *file; /* NULL when unknown */
	int line;	  /* 0 when unknown */
};

/*
 * Finds and checks the table in elf: the .gopclntab (.data.rel.ro.gopclntab in a PIE) section,
 * or, without section headers, a pcHeader in a loaded segment. Returns 0, -ENOENT when there is
 * none, -ENOTSUP for a table older than Go 1.18, -EINVAL when it is malformed, or -ENOMEM.
 */
int gopclntab_open(Elf *elf, struct gopclntab **out);
void gopclntab_free(struct gopclntab *t); /* accepts NULL */

/* The function called name; -ENOENT when there is none. */
int gopclntab_find(const struct gopclntab *t, const char *name, struct gopcln_func *f);

/* The code the table covers, [*lo, *hi): from its first function's entry to the end of its
 * last. */
void gopclntab_code_range(const struct gopclntab *t, uint64_t *lo, uint64_t *hi);

/* The function containing pc; -ENOENT when none does. */
int gopclntab_lookup(const struct gopclntab *t, uint64_t pc, struct gopcln_func *f);

/*
 * The frames at pc, innermost first: the functions inlined at pc, then the function containing
 * it, each with its file:line (for an outer frame, the line of the inlined call). When there
 * are more than max, keeps the innermost max - 1 and the outermost. Returns the count, 0 when no
 * function contains pc.
 */
int gopclntab_frames(const struct gopclntab *t, uint64_t pc, struct gopcln_frame *frames, int max);

/* Whether the inline tree can be read (it needs the runtime's moduledata). */
bool gopclntab_has_inline_tree(const struct gopclntab *t);

/*
 * Calls fn with the name of the callee of every inlined call in the inline trees of all
 * functions; stops and returns what fn returns when that is not 0.
 */
int gopclntab_each_inlined(const struct gopclntab *t, int (*fn)(const char *callee, void *arg),
			   void *arg);

#endif
