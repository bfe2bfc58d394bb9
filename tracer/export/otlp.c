// SPDX-License-Identifier: MIT
/*
 * Design note. The encoding takes two passes.
 *
 * The first walks every profile of every process and fills the dictionary as plain rows: each
 * table is interned (a row is looked up by its bytes, so each distinct mapping, function,
 * location, stack or attribute is there once, whichever profile it came from), and each OTLP
 * Profile gets its samples as rows that refer to those tables by index. Rows hold indices,
 * never pointers, so the tables may grow (and move) freely.
 *
 * The second pass, once every table has its final size, makes the protobuf-c messages, all of
 * them from one arena that is released after packing. Strings are borrowed from the profiles
 * (see strtab.h); strings this file makes (attribute keys for labels) live in the arena.
 */
#include "otlp.h"
#include "util/arena.h"
#include "util/array.h"
#include "util/hashmap.h"
#include "output/file.h"
#include "util/strtab.h"
#include "util/version.h"

#include "otlp_pb.h"

#include <errno.h>
#include <stddef.h>
#include <stdlib.h>
#include <string.h>

/* s as well-formed UTF-8: s itself, or a repaired copy in the arena. NULL on ENOMEM. */
static char *arena_utf8(struct arena *a, const char *s)
{
	char *fixed, *copy;

	if (output_utf8_valid(s))
		return (char *)s; /* protobuf-c's fields are not const; packing only reads them */
	fixed = output_utf8_dup(s);
	copy = fixed ? arena_alloc(a, strlen(fixed) + 1, 1) : NULL;
	if (copy)
		strcpy(copy, fixed);
	free(fixed);
	return copy;
}

/* ---- interned tables ---------------------------------------------------------------------- */

/* Rows of elem bytes; a row's bytes (padding zeroed by the caller) or a given key find it. */
struct table {
	void *rows;
	size_t n, cap, elem;
	struct hashmap *index;
};

static int table_init(struct table *t, size_t elem)
{
	t->elem = elem;
	t->index = hashmap_new();
	return t->index ? 0 : -ENOMEM;
}

static void table_free(struct table *t)
{
	free(t->rows);
	hashmap_free(t->index);
}

static void *table_row(const struct table *t, size_t i)
{
	return (char *)t->rows + i * t->elem;
}

/*
 * Index of the row whose key is key (len bytes), appending row when there is none. The first
 * row of a table is its zero row, so indices of real rows start at 1. Returns -ENOMEM, or
 * -EFBIG past what an int32 index holds.
 */
static int64_t table_intern(struct table *t, const void *key, size_t len, const void *row)
{
	uint64_t idx;

	if (hashmap_get(t->index, key, len, &idx))
		return (int64_t)idx;
	if (t->n >= INT32_MAX)
		return -EFBIG;
	if (!array_grow(&t->rows, &t->cap, t->n + 1, t->elem) ||
	    hashmap_put(t->index, key, len, t->n))
		return -ENOMEM;
	memcpy(table_row(t, t->n), row, t->elem);
	return (int64_t)t->n++;
}

/* A growing list of int32 indices (stacks' locations, rows' attributes). */
struct ints {
	int32_t *v;
	size_t n, cap;
};

static int ints_append(struct ints *l, const int32_t *v, size_t n, uint32_t *start)
{
	if (l->n + n > UINT32_MAX)
		return -EFBIG;
	if (!array_grow((void **)&l->v, &l->cap, l->n + n ? l->n + n : 1, sizeof(*l->v)))
		return -ENOMEM;
	memcpy(l->v + l->n, v, n * sizeof(*v));
	*start = (uint32_t)l->n;
	l->n += n;
	return 0;
}

struct attr_row {
	int32_t key, unit;
	int32_t kind; /* enum otlp_value_kind */
	int32_t str;  /* string index of a string value */
	int64_t num;
};

struct mapping_row {
	uint64_t start, limit, offset;
	int32_t file;
	uint32_t attrs, nattrs; /* in enc->attr_lists */
	int32_t pad;
};

struct function_row {
	int32_t name, system_name, file, pad;
	int64_t start_line;
};

struct location_row {
	uint64_t address;
	int32_t mapping;
	int32_t frame_type;	/* attribute index, 0 for none */
	uint32_t lines, nlines; /* in enc->lines */
};

struct line_row {
	int32_t function, pad;
	int64_t line;
};

struct stack_row {
	uint32_t locations, nlocations; /* in enc->stack_locations */
};

struct sample_row {
	int32_t stack;
	uint32_t attrs, nattrs; /* in enc->attr_lists */
	int64_t value;
};

/* One OTLP Profile: one sample type of one source profile. */
struct out_profile {
	const struct profile *src;
	size_t type; /* index into src->sample_types */
	struct sample_row *samples;
	size_t nsamples, cap;
};

struct encoder {
	struct arena arena;
	struct strtab st;
	struct table attrs, mappings, functions, locations, stacks;
	struct line_row *lines;
	size_t nlines, cap_lines;
	struct ints attr_lists, stack_locations;
	struct out_profile *profiles; /* of all processes, in order */
	size_t nprofiles, cap_profiles;
	/* label -> attribute key, for the few distinct labels (borrowed from the profiles) */
	struct {
		const char *label, *key;
	} keys[16];
	size_t nkeys;
	/* per source profile: its ids -> dictionary indices */
	int32_t *mapping_idx, *function_idx, *location_idx;
	/* scratch for one row's key or index list */
	unsigned char *key;
	size_t cap_key;
	int32_t *scratch;
	size_t cap_scratch;
};

static int encoder_init(struct encoder *e)
{
	struct attr_row zattr = { 0 };
	struct mapping_row zmap = { 0 };
	struct function_row zfn = { 0 };
	struct location_row zloc = { 0 };
	struct stack_row zstack = { 0 };
	int err;

	memset(e, 0, sizeof(*e));
	err = strtab_init(&e->st);
	if (!err)
		err = table_init(&e->attrs, sizeof(struct attr_row));
	if (!err)
		err = table_init(&e->mappings, sizeof(struct mapping_row));
	if (!err)
		err = table_init(&e->functions, sizeof(struct function_row));
	if (!err)
		err = table_init(&e->locations, sizeof(struct location_row));
	if (!err)
		err = table_init(&e->stacks, sizeof(struct stack_row));
	if (err)
		return err;
	/* The zero rows, under keys no real row has (real keys are longer than one byte). */
	if (table_intern(&e->attrs, "", 0, &zattr) < 0 ||
	    table_intern(&e->mappings, "", 0, &zmap) < 0 ||
	    table_intern(&e->functions, "", 0, &zfn) < 0 ||
	    table_intern(&e->locations, "", 0, &zloc) < 0 ||
	    table_intern(&e->stacks, "", 0, &zstack) < 0)
		return -ENOMEM;
	return 0;
}

static void encoder_free(struct encoder *e)
{
	for (size_t i = 0; i < e->nprofiles; i++)
		free(e->profiles[i].samples);
	free(e->profiles);
	free(e->mapping_idx);
	free(e->function_idx);
	free(e->location_idx);
	free(e->key);
	free(e->scratch);
	free(e->lines);
	free(e->attr_lists.v);
	free(e->stack_locations.v);
	table_free(&e->attrs);
	table_free(&e->mappings);
	table_free(&e->functions);
	table_free(&e->locations);
	table_free(&e->stacks);
	strtab_free(&e->st);
	arena_free(&e->arena);
}

/* Sets *idx to the string index of s; -ENOMEM or -EFBIG on failure. */
static int str_index(struct encoder *e, const char *s, int32_t *idx)
{
	int64_t i = strtab_index(&e->st, s);

	if (i < 0)
		return -ENOMEM;
	if (i > INT32_MAX)
		return -EFBIG;
	*idx = (int32_t)i;
	return 0;
}

static int64_t attr_index(struct encoder *e, const char *key, enum otlp_value_kind kind,
			  const char *str, int64_t num, const char *unit)
{
	struct attr_row row;
	int err;

	memset(&row, 0, sizeof(row));
	row.kind = kind;
	row.num = kind == OTLP_STRING ? 0 : num;
	err = str_index(e, key, &row.key);
	if (!err && unit)
		err = str_index(e, unit, &row.unit);
	if (!err && kind == OTLP_STRING)
		err = str_index(e, str, &row.str);
	if (err)
		return err;
	return table_intern(&e->attrs, &row, sizeof(row), &row);
}

/* The attribute key of a profile label (see otlp.h); NULL on ENOMEM. */
static const char *label_key(struct encoder *e, const char *label)
{
	static const struct {
		const char *label, *key;
	} known[] = {
		{ "thread_id", "thread.id" },
		{ "thread_name", "thread.name" },
		{ "reason", "asyncprof.wait_reason" },
	};
	char *key;

	for (size_t i = 0; i < sizeof(known) / sizeof(known[0]); i++)
		if (strcmp(label, known[i].label) == 0)
			return known[i].key;
	for (size_t i = 0; i < e->nkeys; i++)
		if (strcmp(e->keys[i].label, label) == 0)
			return e->keys[i].key;
	key = arena_alloc(&e->arena, strlen("asyncprof.") + strlen(label) + 1, 1);
	if (!key)
		return NULL;
	sprintf(key, "asyncprof.%s", label);
	if (e->nkeys < sizeof(e->keys) / sizeof(e->keys[0]))
		e->keys[e->nkeys++] = (typeof(e->keys[0])){ label, key };
	return key;
}

static void *scratch_key(struct encoder *e, size_t len)
{
	if (!array_grow((void **)&e->key, &e->cap_key, len ? len : 1, 1))
		return NULL;
	return e->key;
}

static int32_t *scratch_ints(struct encoder *e, size_t n)
{
	if (!array_grow((void **)&e->scratch, &e->cap_scratch, n ? n : 1, sizeof(*e->scratch)))
		return NULL;
	return e->scratch;
}

/* ---- first pass: the dictionary rows of one source profile --------------------------------- */

/*
 * Index of the row (size bytes, its list fields still 0) with the attribute list attrs; when
 * new, the list goes into attr_lists and *start and *n, which are inside row, say where.
 */
static int64_t intern_with_list(struct encoder *e, struct table *t, void *row, size_t size,
				const int32_t *attrs, size_t n, uint32_t *start, uint32_t *count)
{
	size_t keylen = size + n * sizeof(*attrs);
	unsigned char *key = scratch_key(e, keylen);
	uint64_t found;
	int err;

	if (!key)
		return -ENOMEM;
	memcpy(key, row, size);
	memcpy(key + size, attrs, n * sizeof(*attrs));
	if (hashmap_get(t->index, key, keylen, &found))
		return (int64_t)found;
	err = ints_append(&e->attr_lists, attrs, n, start);
	if (err)
		return err;
	*count = (uint32_t)n;
	return table_intern(t, key, keylen, row);
}

static int add_mappings(struct encoder *e, const struct profile *prof)
{
	for (size_t i = 0; i < prof->nmappings; i++) {
		const struct profile_mapping *m = &prof->mappings[i];
		const struct {
			const char *key;
			bool value;
		} flags[] = {
			{ "pprof.mapping.has_functions", m->has_functions },
			{ "pprof.mapping.has_filenames", m->has_filenames },
			{ "pprof.mapping.has_line_numbers", m->has_line_numbers },
			{ "pprof.mapping.has_inline_frames", m->has_inline_frames },
		};
		int32_t attrs[5];
		size_t nattrs = 0;
		struct mapping_row row;
		int64_t idx;
		int err;

		memset(&row, 0, sizeof(row));
		row.start = m->start;
		row.limit = m->limit;
		row.offset = m->offset;
		err = str_index(e, m->file, &row.file);
		if (err)
			return err;
		if (m->build_id && *m->build_id) {
			idx = attr_index(e, "process.executable.build_id.gnu", OTLP_STRING,
					 m->build_id, 0, NULL);
			if (idx < 0)
				return (int)idx;
			attrs[nattrs++] = (int32_t)idx;
		}
		for (size_t f = 0; f < sizeof(flags) / sizeof(flags[0]); f++) {
			if (!flags[f].value)
				continue;
			idx = attr_index(e, flags[f].key, OTLP_BOOL, NULL, 1, NULL);
			if (idx < 0)
				return (int)idx;
			attrs[nattrs++] = (int32_t)idx;
		}
		/* Key: the row (its list position still 0), then the list itself. */
		idx = intern_with_list(e, &e->mappings, &row, sizeof(row), attrs, nattrs,
				       &row.attrs, &row.nattrs);
		if (idx < 0)
			return (int)idx;
		e->mapping_idx[m->id] = (int32_t)idx;
	}
	return 0;
}

static int add_functions(struct encoder *e, const struct profile *prof)
{
	for (size_t i = 0; i < prof->nfunctions; i++) {
		const struct profile_function *f = &prof->functions[i];
		struct function_row row;
		int64_t idx;
		int err;

		memset(&row, 0, sizeof(row));
		err = str_index(e, f->name, &row.name);
		if (!err)
			err = str_index(e, f->system_name, &row.system_name);
		if (!err)
			err = str_index(e, f->file, &row.file);
		if (err)
			return err;
		row.start_line = f->start_line;
		idx = table_intern(&e->functions, &row, sizeof(row), &row);
		if (idx < 0)
			return (int)idx;
		e->function_idx[f->id] = (int32_t)idx;
	}
	return 0;
}

static int add_locations(struct encoder *e, const struct profile *prof)
{
	int64_t kernel = attr_index(e, "profile.frame.type", OTLP_STRING, "kernel", 0, NULL);
	int64_t native = attr_index(e, "profile.frame.type", OTLP_STRING, "native", 0, NULL);

	if (kernel < 0)
		return (int)kernel;
	if (native < 0)
		return (int)native;
	for (size_t i = 0; i < prof->nlocations; i++) {
		const struct profile_location *l = &prof->locations[i];
		const struct profile_mapping *m = profile_mapping(prof, l->mapping_id);
		size_t keylen = sizeof(struct location_row) + l->nlines * sizeof(struct line_row);
		struct location_row row;
		struct line_row *lines;
		unsigned char *key;
		uint64_t found;
		int64_t idx;

		memset(&row, 0, sizeof(row));
		row.address = l->address;
		row.mapping = m ? e->mapping_idx[m->id] : 0;
		/* A frame without a mapping is asyncprof's own ([task], [spawn]): no type. */
		row.frame_type = m ? (int32_t)(profile_mapping_is_kernel(m) ? kernel : native) : 0;
		key = scratch_key(e, keylen);
		if (!key)
			return -ENOMEM;
		lines = (struct line_row *)(key + sizeof(row));
		for (size_t j = 0; j < l->nlines; j++) {
			memset(&lines[j], 0, sizeof(lines[j]));
			lines[j].function = e->function_idx[l->lines[j].function_id];
			lines[j].line = l->lines[j].line;
		}
		memcpy(key, &row, sizeof(row));
		if (hashmap_get(e->locations.index, key, keylen, &found)) {
			e->location_idx[l->id] = (int32_t)found;
			continue;
		}
		if (!array_grow((void **)&e->lines, &e->cap_lines, e->nlines + l->nlines + 1,
				sizeof(*e->lines)))
			return -ENOMEM;
		memcpy(e->lines + e->nlines, lines, l->nlines * sizeof(*lines));
		row.lines = (uint32_t)e->nlines;
		row.nlines = (uint32_t)l->nlines;
		e->nlines += l->nlines;
		idx = table_intern(&e->locations, key, keylen, &row);
		if (idx < 0)
			return (int)idx;
		e->location_idx[l->id] = (int32_t)idx;
	}
	return 0;
}

static int64_t stack_index(struct encoder *e, const struct profile_sample *s)
{
	int32_t *locs = scratch_ints(e, s->nlocations);
	struct stack_row row = { 0 };
	uint64_t found;
	int err;

	if (!locs)
		return -ENOMEM;
	for (size_t i = 0; i < s->nlocations; i++)
		locs[i] = e->location_idx[s->location_ids[i]];
	/* The key is the list alone: no zero-length key, which is the zero row's. */
	if (!s->nlocations)
		return 0;
	if (hashmap_get(e->stacks.index, locs, s->nlocations * sizeof(*locs), &found))
		return (int64_t)found;
	row.nlocations = s->nlocations;
	err = ints_append(&e->stack_locations, locs, s->nlocations, &row.locations);
	if (err)
		return err;
	return table_intern(&e->stacks, e->stack_locations.v + row.locations,
			    s->nlocations * sizeof(int32_t), &row);
}

/* The attribute list of a sample's labels, appended to attr_lists. */
static int sample_attrs(struct encoder *e, const struct profile_sample *s, uint32_t *start)
{
	int32_t *attrs = scratch_ints(e, s->nlabels);

	if (!attrs)
		return -ENOMEM;
	for (size_t i = 0; i < s->nlabels; i++) {
		const struct profile_label *l = &s->labels[i];
		const char *key = label_key(e, l->key);
		int64_t idx;

		if (!key)
			return -ENOMEM;
		idx = l->str ? attr_index(e, key, OTLP_STRING, l->str, 0, NULL)
			     : attr_index(e, key, OTLP_INT, NULL, l->num, l->num_unit);
		if (idx < 0)
			return (int)idx;
		attrs[i] = (int32_t)idx;
	}
	return ints_append(&e->attr_lists, attrs, s->nlabels, start);
}

static int add_sample(struct out_profile *p, const struct sample_row *row)
{
	if (!array_grow((void **)&p->samples, &p->cap, p->nsamples + 1, sizeof(*p->samples)))
		return -ENOMEM;
	p->samples[p->nsamples++] = *row;
	return 0;
}

static int add_profile(struct encoder *e, const struct profile *prof)
{
	size_t first = e->nprofiles;
	int err;

	free(e->mapping_idx);
	free(e->function_idx);
	free(e->location_idx);
	e->mapping_idx = calloc(prof->nmappings + 1, sizeof(*e->mapping_idx));
	e->function_idx = calloc(prof->nfunctions + 1, sizeof(*e->function_idx));
	e->location_idx = calloc(prof->nlocations + 1, sizeof(*e->location_idx));
	if (!e->mapping_idx || !e->function_idx || !e->location_idx)
		return -ENOMEM;
	err = add_mappings(e, prof);
	if (!err)
		err = add_functions(e, prof);
	if (!err)
		err = add_locations(e, prof);
	if (err)
		return err;
	if (!array_grow((void **)&e->profiles, &e->cap_profiles, e->nprofiles + prof->nsample_types,
			sizeof(*e->profiles)))
		return -ENOMEM;
	for (size_t t = 0; t < prof->nsample_types; t++)
		e->profiles[e->nprofiles++] = (struct out_profile){ .src = prof, .type = t };
	for (size_t i = 0; i < prof->nsamples; i++) {
		const struct profile_sample *s = &prof->samples[i];
		struct sample_row row = { .nattrs = s->nlabels };
		int64_t stack = stack_index(e, s);

		if (stack < 0)
			return (int)stack;
		row.stack = (int32_t)stack;
		err = sample_attrs(e, s, &row.attrs);
		if (err)
			return err;
		for (size_t t = 0; t < prof->nsample_types; t++) {
			if (!s->values[t])
				continue;
			row.value = s->values[t];
			err = add_sample(&e->profiles[first + t], &row);
			if (err)
				return err;
		}
	}
	return 0;
}

/* ---- second pass: the messages ------------------------------------------------------------- */

#define NEW(e, type, n) ((type *)arena_alloc(&(e)->arena, (n), sizeof(type)))

/* An array of n pointers to the n elements of msgs. */
static void **pointers(struct encoder *e, void *msgs, size_t n, size_t size)
{
	void **ptrs = NEW(e, void *, n);

	if (ptrs)
		for (size_t i = 0; i < n; i++)
			ptrs[i] = (char *)msgs + i * size;
	return ptrs;
}

static int32_t *copy_ints(struct encoder *e, const int32_t *v, size_t n)
{
	int32_t *copy = NEW(e, int32_t, n);

	if (copy && n)
		memcpy(copy, v, n * sizeof(*v));
	return copy;
}

static void set_value(PbAnyValue *v, enum otlp_value_kind kind, char *str, int64_t num)
{
	opentelemetry__proto__common__v1__any_value__init(v);
	switch (kind) {
	case OTLP_STRING:
		v->value_case = PB_STRING_VALUE;
		v->string_value = str;
		break;
	case OTLP_INT:
		v->value_case = PB_INT_VALUE;
		v->int_value = num;
		break;
	case OTLP_BOOL:
		v->value_case = PB_BOOL_VALUE;
		v->bool_value = num != 0;
		break;
	}
}

static int build_attributes(struct encoder *e, PbDictionary *d)
{
	size_t n = e->attrs.n;
	PbKeyValueAndUnit *kv = NEW(e, PbKeyValueAndUnit, n);
	PbAnyValue *values = NEW(e, PbAnyValue, n);

	if (!kv || !values)
		return -ENOMEM;
	for (size_t i = 0; i < n; i++) {
		const struct attr_row *r = table_row(&e->attrs, i);

		opentelemetry__proto__profiles__v1development__key_value_and_unit__init(&kv[i]);
		if (i == 0)
			continue; /* the zero row: no key, no value */
		kv[i].key_strindex = r->key;
		kv[i].unit_strindex = r->unit;
		kv[i].value = &values[i];
		set_value(&values[i], r->kind, e->st.strs[r->str], r->num);
	}
	d->n_attribute_table = n;
	d->attribute_table = (PbKeyValueAndUnit **)pointers(e, kv, n, sizeof(*kv));
	return d->attribute_table ? 0 : -ENOMEM;
}

static int build_mappings(struct encoder *e, PbDictionary *d)
{
	size_t n = e->mappings.n;
	PbMapping *m = NEW(e, PbMapping, n);

	if (!m)
		return -ENOMEM;
	for (size_t i = 0; i < n; i++) {
		const struct mapping_row *r = table_row(&e->mappings, i);

		opentelemetry__proto__profiles__v1development__mapping__init(&m[i]);
		m[i].memory_start = r->start;
		m[i].memory_limit = r->limit;
		m[i].file_offset = r->offset;
		m[i].filename_strindex = r->file;
		m[i].n_attribute_indices = r->nattrs;
		m[i].attribute_indices = copy_ints(e, e->attr_lists.v + r->attrs, r->nattrs);
		if (!m[i].attribute_indices)
			return -ENOMEM;
	}
	d->n_mapping_table = n;
	d->mapping_table = (PbMapping **)pointers(e, m, n, sizeof(*m));
	return d->mapping_table ? 0 : -ENOMEM;
}

static int build_functions(struct encoder *e, PbDictionary *d)
{
	size_t n = e->functions.n;
	PbFunction *f = NEW(e, PbFunction, n);

	if (!f)
		return -ENOMEM;
	for (size_t i = 0; i < n; i++) {
		const struct function_row *r = table_row(&e->functions, i);

		opentelemetry__proto__profiles__v1development__function__init(&f[i]);
		f[i].name_strindex = r->name;
		f[i].system_name_strindex = r->system_name;
		f[i].filename_strindex = r->file;
		f[i].start_line = r->start_line;
	}
	d->n_function_table = n;
	d->function_table = (PbFunction **)pointers(e, f, n, sizeof(*f));
	return d->function_table ? 0 : -ENOMEM;
}

static int build_locations(struct encoder *e, PbDictionary *d)
{
	size_t n = e->locations.n;
	PbLocation *l = NEW(e, PbLocation, n);
	PbLine *lines = NEW(e, PbLine, e->nlines);

	if (!l || !lines)
		return -ENOMEM;
	for (size_t i = 0; i < e->nlines; i++) {
		opentelemetry__proto__profiles__v1development__line__init(&lines[i]);
		lines[i].function_index = e->lines[i].function;
		lines[i].line = e->lines[i].line;
	}
	for (size_t i = 0; i < n; i++) {
		const struct location_row *r = table_row(&e->locations, i);

		opentelemetry__proto__profiles__v1development__location__init(&l[i]);
		l[i].mapping_index = r->mapping;
		l[i].address = r->address;
		l[i].n_lines = r->nlines;
		l[i].lines = (PbLine **)pointers(e, lines + r->lines, r->nlines, sizeof(*lines));
		if (!l[i].lines)
			return -ENOMEM;
		if (r->frame_type) {
			l[i].n_attribute_indices = 1;
			l[i].attribute_indices = copy_ints(e, &r->frame_type, 1);
			if (!l[i].attribute_indices)
				return -ENOMEM;
		}
	}
	d->n_location_table = n;
	d->location_table = (PbLocation **)pointers(e, l, n, sizeof(*l));
	return d->location_table ? 0 : -ENOMEM;
}

static int build_stacks(struct encoder *e, PbDictionary *d)
{
	size_t n = e->stacks.n;
	PbStack *s = NEW(e, PbStack, n);

	if (!s)
		return -ENOMEM;
	for (size_t i = 0; i < n; i++) {
		const struct stack_row *r = table_row(&e->stacks, i);

		opentelemetry__proto__profiles__v1development__stack__init(&s[i]);
		s[i].n_location_indices = r->nlocations;
		s[i].location_indices = e->stack_locations.v + r->locations;
	}
	d->n_stack_table = n;
	d->stack_table = (PbStack **)pointers(e, s, n, sizeof(*s));
	return d->stack_table ? 0 : -ENOMEM;
}

static int build_dictionary(struct encoder *e, PbDictionary *d)
{
	/* The zero link: a trace id and a span id of zeros, of the lengths real ones have. */
	static uint8_t zeros[16];
	PbLink *link = NEW(e, PbLink, 1);
	int err;

	opentelemetry__proto__profiles__v1development__profiles_dictionary__init(d);
	if (!link)
		return -ENOMEM;
	opentelemetry__proto__profiles__v1development__link__init(link);
	link->trace_id = (ProtobufCBinaryData){ 16, zeros };
	link->span_id = (ProtobufCBinaryData){ 8, zeros };
	d->n_link_table = 1;
	d->link_table = (PbLink **)pointers(e, link, 1, sizeof(*link));
	if (!d->link_table)
		return -ENOMEM;
	err = build_attributes(e, d);
	if (!err)
		err = build_mappings(e, d);
	if (!err)
		err = build_functions(e, d);
	if (!err)
		err = build_locations(e, d);
	if (!err)
		err = build_stacks(e, d);
	d->n_string_table = e->st.n;
	d->string_table = e->st.strs;
	return err;
}

static int build_value_type(struct encoder *e, PbValueType **out,
			    const struct profile_value_type *t)
{
	PbValueType *vt = NEW(e, PbValueType, 1);
	int err;

	if (!vt)
		return -ENOMEM;
	opentelemetry__proto__profiles__v1development__value_type__init(vt);
	err = str_index(e, t->type, &vt->type_strindex);
	if (!err)
		err = str_index(e, t->unit, &vt->unit_strindex);
	*out = vt;
	return err;
}

static int build_profile(struct encoder *e, PbProfile *p, const struct out_profile *op,
			 const int32_t *attrs, size_t nattrs)
{
	const struct profile *src = op->src;
	PbSample *samples = NEW(e, PbSample, op->nsamples);
	int err;

	opentelemetry__proto__profiles__v1development__profile__init(p);
	if (!samples)
		return -ENOMEM;
	err = build_value_type(e, &p->sample_type, &src->sample_types[op->type]);
	if (!err)
		err = build_value_type(e, &p->period_type, &src->period_type);
	if (err)
		return err;
	p->period = src->period;
	p->time_unix_nano = src->time_nanos > 0 ? (uint64_t)src->time_nanos : 0;
	p->duration_nano = src->duration_nanos > 0 ? (uint64_t)src->duration_nanos : 0;
	p->n_attribute_indices = nattrs;
	p->attribute_indices = (int32_t *)attrs;
	for (size_t i = 0; i < op->nsamples; i++) {
		const struct sample_row *r = &op->samples[i];

		opentelemetry__proto__profiles__v1development__sample__init(&samples[i]);
		samples[i].stack_index = r->stack;
		samples[i].n_attribute_indices = r->nattrs;
		samples[i].attribute_indices = e->attr_lists.v + r->attrs;
		samples[i].n_values = 1;
		samples[i].values = (int64_t *)&r->value;
	}
	p->n_samples = op->nsamples;
	p->samples = (PbSample **)pointers(e, samples, op->nsamples, sizeof(*samples));
	return p->samples ? 0 : -ENOMEM;
}

static int build_key_values(struct encoder *e, const struct otlp_attr *attrs, size_t n,
			    PbKeyValue ***out)
{
	PbKeyValue *kv = NEW(e, PbKeyValue, n);
	PbAnyValue *values = NEW(e, PbAnyValue, n);

	if (!kv || !values)
		return -ENOMEM;
	for (size_t i = 0; i < n; i++) {
		char *str = NULL;

		opentelemetry__proto__common__v1__key_value__init(&kv[i]);
		kv[i].key = arena_utf8(&e->arena, attrs[i].key);
		if (attrs[i].kind == OTLP_STRING)
			str = arena_utf8(&e->arena, attrs[i].str);
		if (!kv[i].key || (attrs[i].kind == OTLP_STRING && !str))
			return -ENOMEM;
		kv[i].value = &values[i];
		set_value(&values[i], attrs[i].kind, str, attrs[i].num);
	}
	*out = (PbKeyValue **)pointers(e, kv, n, sizeof(*kv));
	return *out ? 0 : -ENOMEM;
}

/* The ResourceProfiles of proc, whose OTLP Profiles are e->profiles[*next...]. */
static int build_resource(struct encoder *e, PbResourceProfiles *rp,
			  const struct otlp_process *proc, size_t *next)
{
	PbResource *res = NEW(e, PbResource, 1);
	PbScopeProfiles *sp = NEW(e, PbScopeProfiles, 1);
	PbScope *scope = NEW(e, PbScope, 1);
	int32_t *pattrs = NEW(e, int32_t, proc->nprofile_attrs);
	size_t nprofiles = 0;
	PbProfile *profiles;
	int err;

	if (!res || !sp || !scope || !pattrs)
		return -ENOMEM;
	opentelemetry__proto__profiles__v1development__resource_profiles__init(rp);
	opentelemetry__proto__resource__v1__resource__init(res);
	opentelemetry__proto__profiles__v1development__scope_profiles__init(sp);
	opentelemetry__proto__common__v1__instrumentation_scope__init(scope);
	err = build_key_values(e, proc->resource, proc->nresource, &res->attributes);
	if (err)
		return err;
	res->n_attributes = proc->nresource;
	for (size_t i = 0; i < proc->nprofile_attrs; i++) {
		const struct otlp_attr *a = &proc->profile_attrs[i];
		int64_t idx = attr_index(e, a->key, a->kind, a->str, a->num, NULL);

		if (idx < 0)
			return (int)idx;
		pattrs[i] = (int32_t)idx;
	}
	for (size_t i = 0; i < proc->nprofiles; i++)
		nprofiles += proc->profiles[i]->nsample_types;
	profiles = NEW(e, PbProfile, nprofiles);
	if (!profiles)
		return -ENOMEM;
	for (size_t i = 0; i < nprofiles; i++) {
		err = build_profile(e, &profiles[i], &e->profiles[*next + i], pattrs,
				    proc->nprofile_attrs);
		if (err)
			return err;
	}
	*next += nprofiles;
	scope->name = "asyncprof";
	scope->version = ASYNCPROF_VERSION;
	sp->scope = scope;
	sp->n_profiles = nprofiles;
	sp->profiles = (PbProfile **)pointers(e, profiles, nprofiles, sizeof(*profiles));
	rp->resource = res;
	rp->n_scope_profiles = 1;
	rp->scope_profiles = (PbScopeProfiles **)pointers(e, sp, 1, sizeof(*sp));
	return sp->profiles && rp->scope_profiles ? 0 : -ENOMEM;
}

int otlp_encode(const struct otlp_process *procs, size_t nprocs, void **out, size_t *len)
{
	PbRequest req;
	PbDictionary dict;
	PbResourceProfiles *rps = NULL;
	struct encoder e;
	size_t next = 0, size;
	uint8_t *buf;
	int err;

	protobuf_c_message_init(&PB_REQUEST_DESCRIPTOR, &req);
	err = encoder_init(&e);
	for (size_t i = 0; i < nprocs && !err; i++)
		for (size_t j = 0; j < procs[i].nprofiles && !err; j++)
			err = add_profile(&e, procs[i].profiles[j]);
	if (!err) {
		rps = NEW(&e, PbResourceProfiles, nprocs);
		err = rps ? 0 : -ENOMEM;
	}
	/* Resources before the dictionary: their profiles add value types and attributes. */
	for (size_t i = 0; i < nprocs && !err; i++)
		err = build_resource(&e, &rps[i], &procs[i], &next);
	if (!err)
		err = build_dictionary(&e, &dict);
	if (!err) {
		req.n_resource_profiles = nprocs;
		req.resource_profiles =
		    (PbResourceProfiles **)pointers(&e, rps, nprocs, sizeof(*rps));
		req.dictionary = &dict;
		err = req.resource_profiles ? 0 : -ENOMEM;
	}
	if (err)
		goto out;
	size = protobuf_c_message_get_packed_size(&req.base);
	buf = malloc(size ? size : 1);
	if (!buf) {
		err = -ENOMEM;
		goto out;
	}
	protobuf_c_message_pack(&req.base, buf);
	*out = buf;
	*len = size;
out:
	encoder_free(&e);
	return err;
}
