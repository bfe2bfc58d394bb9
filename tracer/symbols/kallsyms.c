// SPDX-License-Identifier: MIT
/*
 * Kernel symbols from /proc/kallsyms. Lines are "ADDR TYPE NAME" or "ADDR TYPE NAME\t[MODULE]";
 * the text is parsed in place (the tab becomes a space, so a module symbol's name reads
 * "NAME [MODULE]"). Only text symbols are kept: stacks only hold code addresses, and data
 * symbols in between would cut functions short. What is kept for the whole recording is small:
 * the names of the symbols kept, one after the other, and per symbol its address and where its
 * name starts (it runs up to the next symbol's address); the text itself is freed.
 */
#include "kallsyms.h"
#include "target/procmaps.h"

#include <errno.h>
#include <stdbool.h>
#include <stdlib.h>
#include <string.h>

/* A symbol while the text is parsed. */
struct ksym {
	uint64_t addr;
	const char *name;
	int rank;	 /* lower is preferred among symbols at the same address */
	uint32_t offset; /* where its name goes in the kept names */
};

/* A symbol kept: kallsyms has no sizes, so it runs up to the next one's address. */
struct kentry {
	uint64_t addr;
	uint32_t name; /* offset into names */
};

struct kallsyms {
	char *names;
	struct kentry *syms;
	size_t count;
};

/* Aliases share an address: prefer global symbols, then the fewest leading underscores. */
static int symbol_rank(char type, const char *name)
{
	int underscores = strspn(name, "_");

	return (type == 'T' || type == 'W' ? 0 : 100) + underscores;
}

static int compare_ksyms(const void *a, const void *b)
{
	const struct ksym *x = a, *y = b;

	if (x->addr != y->addr)
		return x->addr < y->addr ? -1 : 1;
	if (x->rank != y->rank)
		return x->rank - y->rank;
	return strcmp(x->name, y->name);
}

/* Parses one line in place; returns true for a text symbol. */
static bool parse_line(char *line, struct ksym *sym, bool *nonzero)
{
	char *end, *tab, type;

	sym->addr = strtoull(line, &end, 16);
	if (end == line || end[0] != ' ' || !end[1] || end[2] != ' ')
		return false;
	*nonzero |= sym->addr != 0;
	type = end[1];
	if (type != 't' && type != 'T' && type != 'w' && type != 'W')
		return false;
	sym->name = end + 3;
	tab = strchr(sym->name, '\t');
	if (tab)
		*tab = ' ';
	sym->rank = symbol_rank(type, sym->name);
	return true;
}

static int by_name_position(const void *a, const void *b)
{
	const struct ksym *x = a, *y = b;

	return x->name < y->name ? -1 : x->name > y->name;
}

static int by_address(const void *a, const void *b)
{
	const struct ksym *x = a, *y = b;

	return x->addr < y->addr ? -1 : x->addr > y->addr;
}

/*
 * Keeps in ks the preferred symbol of each address of syms (n of them, sorted), their names
 * moved to the front of text, which ks then owns: nothing as large as the text is allocated
 * again. Reorders syms.
 */
static int keep_symbols(struct kallsyms *ks, struct ksym *syms, size_t n, char *text)
{
	size_t kept = 0, at = 0;
	struct kentry *entries;
	char *names;

	/* Sorting put the preferred one first at each address. */
	for (size_t i = 0; i < n; i++)
		if (!kept || syms[i].addr != syms[kept - 1].addr)
			syms[kept++] = syms[i];
	/* In the text's order each name moves down, never over one still to move. */
	qsort(syms, kept, sizeof(*syms), by_name_position);
	for (size_t i = 0; i < kept; i++) {
		size_t len = strlen(syms[i].name) + 1;

		if (at + len > UINT32_MAX)
			return -E2BIG;
		memmove(text + at, syms[i].name, len);
		syms[i].offset = (uint32_t)at;
		at += len;
	}
	qsort(syms, kept, sizeof(*syms), by_address);
	/* A kentry is smaller than a ksym: converted in place, front to back (each one is read
	 * before the entry written over its first bytes). */
	_Static_assert(sizeof(struct kentry) <= sizeof(struct ksym), "in-place conversion");
	entries = (struct kentry *)syms;
	for (size_t i = 0; i < kept; i++)
		entries[i] = (struct kentry){ .addr = syms[i].addr, .name = syms[i].offset };
	/* Shrinking: a failure keeps the larger blocks, which are as good. */
	names = realloc(text, at ? at : 1);
	ks->names = names ? names : text;
	ks->syms = realloc(entries, (kept ? kept : 1) * sizeof(*entries));
	if (!ks->syms)
		ks->syms = entries;
	ks->count = kept;
	return 0;
}

int kallsyms_load(struct kallsyms **out)
{
	struct kallsyms *ks;
	struct ksym *syms;
	size_t lines = 0, n = 0;
	bool nonzero = false;
	char *text, *line;
	int err;

	ks = calloc(1, sizeof(*ks));
	if (!ks)
		return -ENOMEM;
	err = procfs_read_text("/proc/kallsyms", &text);
	if (err) {
		free(ks);
		return err;
	}
	for (const char *c = text; *c; c++)
		lines += *c == '\n';
	syms = malloc((lines + 1) * sizeof(*syms));
	if (!syms) {
		free(text);
		free(ks);
		return -ENOMEM;
	}
	for (line = text; *line;) {
		char *next = strchr(line, '\n');

		if (next)
			*next++ = '\0';
		if (parse_line(line, &syms[n], &nonzero))
			n++;
		line = next ? next : line + strlen(line);
	}
	/* kptr_restrict shows every address as zero to readers without CAP_SYSLOG. */
	err = nonzero ? 0 : -EPERM;
	if (!err) {
		qsort(syms, n, sizeof(*syms), compare_ksyms);
		err = keep_symbols(ks, syms, n, text);
	}
	if (err) {
		free(syms);
		free(text);
		free(ks);
		return err;
	}
	*out = ks;
	return 0;
}

void kallsyms_free(struct kallsyms *ks)
{
	if (!ks)
		return;
	free(ks->syms);
	free(ks->names);
	free(ks);
}

const char *kallsyms_lookup(const struct kallsyms *ks, uint64_t addr, uint64_t *offset)
{
	size_t lo = 0, hi = ks->count;

	/* The last symbol at or below addr. */
	while (lo < hi) {
		size_t mid = lo + (hi - lo) / 2;

		if (ks->syms[mid].addr <= addr)
			lo = mid + 1;
		else
			hi = mid;
	}
	if (!lo)
		return NULL;
	if (offset)
		*offset = addr - ks->syms[lo - 1].addr;
	return ks->names + ks->syms[lo - 1].name;
}
