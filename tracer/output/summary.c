// SPDX-License-Identifier: MIT
#include "summary.h"
#include "folded.h"
#include "util/hashmap.h"

#include <assert.h>
#include <errno.h>
#include <inttypes.h>
#include <stdlib.h>
#include <string.h>

struct stat_entry {
	struct func_stat stat;
	size_t last_sample; /* 1 + index of the last sample counted in total */
};

struct stat_table {
	struct hashmap *index; /* name -> index into entries */
	struct stat_entry *entries;
	size_t n, cap;
};

static struct stat_entry *stat_get(struct stat_table *t, const char *name)
{
	size_t len = strlen(name);
	uint64_t idx;

	if (hashmap_get(t->index, name, len, &idx))
		return &t->entries[idx];
	if (t->n == t->cap) {
		size_t cap = t->cap ? t->cap * 2 : 64;
		struct stat_entry *p = realloc(t->entries, cap * sizeof(*p));

		if (!p)
			return NULL;
		t->entries = p;
		t->cap = cap;
	}
	if (hashmap_put(t->index, name, len, t->n))
		return NULL;
	memset(&t->entries[t->n], 0, sizeof(t->entries[t->n]));
	t->entries[t->n].stat.name = name;
	return &t->entries[t->n++];
}

static int compare_stats(const void *a, const void *b)
{
	const struct func_stat *x = a, *y = b;

	if (x->self != y->self)
		return x->self > y->self ? -1 : 1;
	return strcmp(x->name, y->name);
}

int summary_top_functions(const struct profile *prof, size_t value_index, struct func_stat **out,
			  size_t *n)
{
	struct stat_table t = { 0 };
	struct folded_stack st = { 0 };
	struct func_stat *stats = NULL;
	int err = 0;

	assert(value_index < prof->nsample_types);
	t.index = hashmap_new();
	if (!t.index) {
		err = -ENOMEM;
		goto out;
	}
	for (size_t i = 0; i < prof->nsamples; i++) {
		int64_t v = prof->samples[i].values[value_index];
		struct stat_entry *e = NULL;

		if (!v)
			continue;
		err = folded_stack_build(prof, &prof->samples[i], NULL, &st);
		if (err)
			goto out;
		/* A recursive function appears several times; its total counts the sample once. */
		for (size_t j = 0; j < st.n; j++) {
			e = stat_get(&t, st.frames[j].name);
			if (!e) {
				err = -ENOMEM;
				goto out;
			}
			if (e->last_sample != i + 1) {
				e->last_sample = i + 1;
				e->stat.total += v;
			}
		}
		/* The last frame is the leaf location's innermost inlined function. */
		e->stat.self += v;
	}
	if (t.n) {
		stats = malloc(t.n * sizeof(*stats));
		if (!stats) {
			err = -ENOMEM;
			goto out;
		}
		for (size_t i = 0; i < t.n; i++)
			stats[i] = t.entries[i].stat;
		qsort(stats, t.n, sizeof(*stats), compare_stats);
	}
	*out = stats;
	*n = t.n;
out:
	folded_stack_free(&st);
	free(t.entries);
	hashmap_free(t.index);
	return err;
}

static double percent(int64_t part, int64_t whole)
{
	return whole ? 100.0 * (double)part / (double)whole : 0.0;
}

int summary_print_top(FILE *f, const struct profile *prof, size_t value_index, size_t max_rows)
{
	const struct profile_value_type *type = &prof->sample_types[value_index];
	int64_t total = profile_total(prof, value_index);
	struct func_stat *stats;
	char self[48], cum[48];
	size_t n;
	int err;

	err = summary_top_functions(prof, value_index, &stats, &n);
	if (err)
		return err;
	fprintf(f, "%18s %7s %18s %7s  %s\n", "self", "self%", "total", "total%", "function");
	for (size_t i = 0; i < n && i < max_rows; i++) {
		summary_format_value(self, sizeof(self), stats[i].self, type);
		summary_format_value(cum, sizeof(cum), stats[i].total, type);
		fprintf(f, "%18s %6.2f%% %18s %6.2f%%  %s\n", self, percent(stats[i].self, total),
			cum, percent(stats[i].total, total), stats[i].name);
	}
	free(stats);
	return 0;
}

/* Writes v with a ',' between groups of three digits, as people read large counts. */
static void format_grouped(char *buf, size_t size, uint64_t v)
{
	char digits[32], out[48];
	int nd = snprintf(digits, sizeof(digits), "%" PRIu64, v);
	size_t o = 0;

	for (int i = 0; i < nd; i++) {
		if (i && (nd - i) % 3 == 0)
			out[o++] = ',';
		out[o++] = digits[i];
	}
	out[o] = 0;
	snprintf(buf, size, "%s", out);
}

char *summary_format_value(char *buf, size_t size, int64_t value,
			   const struct profile_value_type *type)
{
	const char *sign = value < 0 ? "-" : "";
	/* Negate in unsigned arithmetic so INT64_MIN does not overflow. */
	uint64_t mag = value < 0 ? -(uint64_t)value : (uint64_t)value;
	const char *unit = type->unit ? type->unit : "";
	char whole[48];

	if (strcmp(unit, "nanoseconds") == 0) {
		uint64_t hundredths = (mag + 5000) / 10000; /* of a millisecond, rounded */

		format_grouped(whole, sizeof(whole), hundredths / 100);
		snprintf(buf, size, "%s%s.%02u ms", sign, whole, (unsigned)(hundredths % 100));
		return buf;
	}
	format_grouped(whole, sizeof(whole), mag);
	if (strcmp(unit, "count") == 0 && type->type && *type->type)
		unit = type->type;
	snprintf(buf, size, "%s%s%s%s", sign, whole, *unit ? " " : "", unit);
	return buf;
}
