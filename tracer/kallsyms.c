// SPDX-License-Identifier: MIT
/*
 * Kernel symbols from /proc/kallsyms. Lines are "ADDR TYPE NAME" or "ADDR TYPE NAME\t[MODULE]";
 * the text is kept and edited in place (the tab becomes a space), so a module symbol's name
 * already reads "NAME [MODULE]" and no name is copied. Only text symbols are kept: stacks
 * only hold code addresses, and data symbols in between would cut functions short.
 */
#include "symbolizer.h"

#include <errno.h>
#include <stdlib.h>
#include <string.h>

struct ksym {
	uint64_t addr;
	uint64_t end; /* kallsyms has no sizes: a symbol runs up to the next one */
	const char *name;
	int rank; /* lower is preferred among symbols at the same address */
};

struct kallsyms {
	char *text;
	struct ksym *syms;
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

int kallsyms_load(struct kallsyms **out)
{
	struct kallsyms *ks;
	size_t lines = 0, n = 0;
	bool nonzero = false;
	char *line;
	int err;

	ks = calloc(1, sizeof(*ks));
	if (!ks)
		return -ENOMEM;
	err = procfs_read_text("/proc/kallsyms", &ks->text);
	if (err) {
		free(ks);
		return err;
	}
	for (const char *c = ks->text; *c; c++)
		lines += *c == '\n';
	ks->syms = malloc((lines + 1) * sizeof(*ks->syms));
	if (!ks->syms) {
		kallsyms_free(ks);
		return -ENOMEM;
	}
	for (line = ks->text; *line;) {
		char *next = strchr(line, '\n');

		if (next)
			*next++ = '\0';
		if (parse_line(line, &ks->syms[n], &nonzero))
			n++;
		line = next ? next : line + strlen(line);
	}
	/* kptr_restrict shows every address as zero to readers without CAP_SYSLOG. */
	if (!nonzero) {
		kallsyms_free(ks);
		return -EPERM;
	}
	qsort(ks->syms, n, sizeof(*ks->syms), compare_ksyms);

	/* Keep the preferred symbol at each address; sorting put it first. */
	ks->count = 0;
	for (size_t i = 0; i < n; i++) {
		if (ks->count && ks->syms[ks->count - 1].addr == ks->syms[i].addr)
			continue;
		if (ks->count)
			ks->syms[ks->count - 1].end = ks->syms[i].addr;
		ks->syms[ks->count] = ks->syms[i];
		ks->syms[ks->count++].end = UINT64_MAX;
	}
	*out = ks;
	return 0;
}

void kallsyms_free(struct kallsyms *ks)
{
	if (!ks)
		return;
	free(ks->syms);
	free(ks->text);
	free(ks);
}

static int compare_address(const void *key, const void *elem)
{
	uint64_t addr = *(const uint64_t *)key;
	const struct ksym *s = elem;

	return addr < s->addr ? -1 : addr >= s->end;
}

const char *kallsyms_lookup(const struct kallsyms *ks, uint64_t addr, uint64_t *offset)
{
	const struct ksym *s = NULL;

	if (ks->count)
		s = bsearch(&addr, ks->syms, ks->count, sizeof(*ks->syms), compare_address);
	if (!s)
		return NULL;
	if (offset)
		*offset = addr - s->addr;
	return s->name;
}
