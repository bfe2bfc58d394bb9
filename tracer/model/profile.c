// SPDX-License-Identifier: MIT
#include "profile.h"
#include "util/array.h"
#include "util/hashmap.h"

#include <errno.h>
#include <stdlib.h>
#include <string.h>
#include <assert.h>

/*
 * Samples are found by the hash of their stack and labels, then compared with the sample
 * itself: a profile with a sample per task and stack holds many, and a copy of each key (as a
 * hashmap keeps) would double what they take.
 */
struct sample_slot {
	uint64_t hash;
	size_t pos; /* index + 1 into samples; 0: an empty slot */
};

struct sample_index {
	struct sample_slot *slots;
	size_t cap, n; /* cap: a power of two */
};

struct profile_index {
	struct hashmap *strings;   /* string -> (char *) pointer value */
	struct hashmap *mappings;  /* key -> id */
	struct hashmap *functions; /* key -> id */
	struct hashmap *locations; /* key -> id */
	/* Location id arrays -> one copy each, which samples share: the same stack comes with
	 * many label sets (a task's, a thread's). */
	struct hashmap *stacks;
	struct sample_index samples;
	size_t cap_mappings, cap_functions, cap_locations, cap_samples;
};

/* A growable byte buffer used to build interning keys. */
struct keybuf {
	unsigned char *data;
	size_t len, cap;
	bool failed;
};

static void key_add(struct keybuf *k, const void *p, size_t n)
{
	/* n == 0 comes with p == NULL for an empty stack, which memcpy() must not be given. */
	if (k->failed || !n)
		return;
	if (k->len + n > k->cap) {
		size_t cap = k->cap ? k->cap * 2 : 256;
		unsigned char *d;

		while (cap < k->len + n)
			cap *= 2;
		d = realloc(k->data, cap);
		if (!d) {
			k->failed = true;
			return;
		}
		k->data = d;
		k->cap = cap;
	}
	memcpy(k->data + k->len, p, n);
	k->len += n;
}

static void key_u64(struct keybuf *k, uint64_t v)
{
	key_add(k, &v, sizeof(v));
}

/* Interned strings are compared by pointer, so a key stores the pointer itself. */
static void key_ptr(struct keybuf *k, const void *p)
{
	key_add(k, &p, sizeof(p));
}

struct profile *profile_new(const struct profile_value_type *types, size_t ntypes,
			    size_t default_type, struct profile_value_type period_type,
			    int64_t period)
{
	struct profile *prof;
	struct profile_index *ix;

	assert(ntypes > 0 && ntypes <= PROFILE_MAX_VALUES && default_type < ntypes);
	prof = calloc(1, sizeof(*prof));
	ix = calloc(1, sizeof(*ix));
	if (!prof || !ix)
		goto fail;
	prof->index = ix;
	ix->strings = hashmap_new();
	ix->mappings = hashmap_new();
	ix->functions = hashmap_new();
	ix->locations = hashmap_new();
	ix->stacks = hashmap_new();
	if (!ix->strings || !ix->mappings || !ix->functions || !ix->locations || !ix->stacks)
		goto fail;
	prof->nsample_types = ntypes;
	for (size_t i = 0; i < ntypes; i++) {
		prof->sample_types[i].type = profile_intern(prof, types[i].type);
		prof->sample_types[i].unit = profile_intern(prof, types[i].unit);
		if ((types[i].type && !prof->sample_types[i].type) ||
		    (types[i].unit && !prof->sample_types[i].unit))
			goto fail;
	}
	prof->default_sample_type = default_type;
	prof->period_type.type = profile_intern(prof, period_type.type);
	prof->period_type.unit = profile_intern(prof, period_type.unit);
	if ((period_type.type && !prof->period_type.type) ||
	    (period_type.unit && !prof->period_type.unit))
		goto fail;
	prof->period = period;
	return prof;
fail:
	if (prof)
		prof->index = ix;
	profile_free(prof);
	if (!prof)
		free(ix);
	return NULL;
}

/* Frees the block a map's value points to (interned strings, shared stacks). */
static int free_string(const void *key, size_t len, uint64_t value, void *arg)
{
	(void)key, (void)len, (void)arg;
	free((void *)(uintptr_t)value);
	return 0;
}

struct profile *profile_take(struct profile *prof)
{
	struct profile *fresh = profile_new(prof->sample_types, prof->nsample_types,
					    prof->default_sample_type, prof->period_type,
					    prof->period);
	struct profile contents;

	if (!fresh)
		return NULL;
	contents = *prof;
	*prof = *fresh;
	*fresh = contents;
	return fresh;
}

void profile_scale(struct profile *prof, double factor)
{
	for (size_t i = 0; i < prof->nsamples; i++)
		for (size_t v = 0; v < prof->nsample_types; v++)
			prof->samples[i].values[v] =
			    (int64_t)(prof->samples[i].values[v] * factor + 0.5);
}

int profile_set_comment(struct profile *prof, const char *s)
{
	char *copy = strdup(s);

	if (!copy)
		return -ENOMEM;
	free(prof->comment);
	prof->comment = copy;
	return 0;
}

void profile_free(struct profile *prof)
{
	struct profile_index *ix;

	if (!prof)
		return;
	ix = prof->index;
	free(prof->comment);
	for (size_t i = 0; i < prof->nlocations; i++)
		free(prof->locations[i].lines);
	for (size_t i = 0; i < prof->nsamples; i++)
		free(prof->samples[i].labels);
	free(prof->mappings);
	free(prof->functions);
	free(prof->locations);
	free(prof->samples);
	if (ix) {
		if (ix->strings)
			hashmap_each(ix->strings, free_string, NULL);
		if (ix->stacks)
			hashmap_each(ix->stacks, free_string, NULL);
		hashmap_free(ix->stacks);
		hashmap_free(ix->strings);
		hashmap_free(ix->mappings);
		hashmap_free(ix->functions);
		hashmap_free(ix->locations);
		free(ix->samples.slots);
		free(ix);
	}
	free(prof);
}

const char *profile_intern(struct profile *prof, const char *s)
{
	uint64_t v;
	size_t len;
	char *copy;

	if (!s)
		return NULL;
	len = strlen(s);
	if (hashmap_get(prof->index->strings, s, len, &v))
		return (const char *)(uintptr_t)v;
	copy = strdup(s);
	if (!copy)
		return NULL;
	if (hashmap_put(prof->index->strings, s, len, (uintptr_t)copy)) {
		free(copy);
		return NULL;
	}
	return copy;
}

/* Interns s, mapping NULL to "" so that stored strings are never NULL. */
static const char *intern_nonnull(struct profile *prof, const char *s)
{
	return profile_intern(prof, s ? s : "");
}

uint64_t profile_add_mapping(struct profile *prof, const struct profile_mapping *m)
{
	struct profile_index *ix = prof->index;
	struct keybuf k = { 0 };
	struct profile_mapping *dst;
	const char *file = intern_nonnull(prof, m->file);
	const char *build_id = intern_nonnull(prof, m->build_id);
	uint64_t id = 0;

	if (!file || !build_id)
		return 0;
	key_u64(&k, m->start);
	key_u64(&k, m->limit);
	key_u64(&k, m->offset);
	key_ptr(&k, file);
	if (k.failed)
		goto out;
	if (hashmap_get(ix->mappings, k.data, k.len, &id))
		goto out;
	if (!array_grow((void **)&prof->mappings, &ix->cap_mappings, prof->nmappings + 1,
			sizeof(*prof->mappings)))
		goto out;
	id = prof->nmappings + 1;
	if (hashmap_put(ix->mappings, k.data, k.len, id)) {
		id = 0;
		goto out;
	}
	dst = &prof->mappings[prof->nmappings++];
	*dst = *m;
	dst->id = id;
	dst->file = file;
	dst->build_id = build_id;
out:
	free(k.data);
	return id;
}

uint64_t profile_add_function(struct profile *prof, const char *name, const char *system_name,
			      const char *file, int64_t start_line)
{
	struct profile_index *ix = prof->index;
	struct keybuf k = { 0 };
	struct profile_function *f;
	uint64_t id = 0;

	name = intern_nonnull(prof, name);
	system_name = intern_nonnull(prof, system_name);
	file = intern_nonnull(prof, file);
	if (!name || !system_name || !file)
		return 0;
	key_ptr(&k, name);
	key_ptr(&k, system_name);
	key_ptr(&k, file);
	if (k.failed)
		goto out;
	if (hashmap_get(ix->functions, k.data, k.len, &id))
		goto out;
	if (!array_grow((void **)&prof->functions, &ix->cap_functions, prof->nfunctions + 1,
			sizeof(*prof->functions)))
		goto out;
	id = prof->nfunctions + 1;
	if (hashmap_put(ix->functions, k.data, k.len, id)) {
		id = 0;
		goto out;
	}
	f = &prof->functions[prof->nfunctions++];
	f->id = id;
	f->name = name;
	f->system_name = system_name;
	f->file = file;
	f->start_line = start_line;
out:
	free(k.data);
	return id;
}

uint64_t profile_add_location(struct profile *prof, uint64_t mapping_id, uint64_t address,
			      const struct profile_line *lines, size_t nlines)
{
	struct profile_index *ix = prof->index;
	struct keybuf k = { 0 };
	struct profile_location *loc;
	struct profile_line *copy;
	uint64_t id = 0;

	assert(nlines >= 1);
	assert(mapping_id <= prof->nmappings);
	key_u64(&k, mapping_id);
	key_u64(&k, address);
	key_add(&k, lines, nlines * sizeof(*lines));
	if (k.failed)
		goto out;
	if (hashmap_get(ix->locations, k.data, k.len, &id))
		goto out;
	if (!array_grow((void **)&prof->locations, &ix->cap_locations, prof->nlocations + 1,
			sizeof(*prof->locations)))
		goto out;
	copy = malloc(nlines * sizeof(*lines));
	if (!copy)
		goto out;
	memcpy(copy, lines, nlines * sizeof(*lines));
	id = prof->nlocations + 1;
	if (hashmap_put(ix->locations, k.data, k.len, id)) {
		free(copy);
		id = 0;
		goto out;
	}
	loc = &prof->locations[prof->nlocations++];
	loc->id = id;
	loc->mapping_id = mapping_id;
	loc->address = address;
	loc->nlines = nlines;
	loc->lines = copy;
out:
	free(k.data);
	return id;
}

/* The hash of a sample's stack and labels (interned already: pointers stand for strings). */
static uint64_t sample_hash(const uint64_t *location_ids, size_t nlocations,
			    const struct profile_label *labels, size_t nlabels)
{
	uint64_t h = hash_bytes(location_ids, nlocations * sizeof(*location_ids));

	for (size_t i = 0; i < nlabels; i++) {
		uint64_t l[4] = { (uintptr_t)labels[i].key, (uintptr_t)labels[i].str,
				  (uint64_t)labels[i].num, (uintptr_t)labels[i].num_unit };

		h = (h ^ hash_bytes(l, sizeof(l))) * 0x100000001b3ULL;
	}
	return h ? h : 1;
}

static bool sample_is(const struct profile_sample *s, const uint64_t *location_ids,
		      size_t nlocations, const struct profile_label *labels, size_t nlabels)
{
	if (s->nlocations != nlocations || s->nlabels != nlabels ||
	    (nlocations && memcmp(s->location_ids, location_ids,
				  nlocations * sizeof(*location_ids))))
		return false;
	for (size_t i = 0; i < nlabels; i++)
		if (s->labels[i].key != labels[i].key || s->labels[i].str != labels[i].str ||
		    s->labels[i].num != labels[i].num ||
		    s->labels[i].num_unit != labels[i].num_unit)
			return false;
	return true;
}

/* The slot of the sample with this stack and labels among samples, or the empty slot where it
 * would go. */
static struct sample_slot *sample_slot(const struct sample_index *si,
				       const struct profile_sample *samples, uint64_t hash,
				       const uint64_t *location_ids, size_t nlocations,
				       const struct profile_label *labels, size_t nlabels)
{
	size_t mask = si->cap - 1;

	for (size_t i = hash & mask;; i = (i + 1) & mask) {
		struct sample_slot *sl = &si->slots[i];

		if (!sl->pos || (sl->hash == hash && sample_is(&samples[sl->pos - 1], location_ids,
							       nlocations, labels, nlabels)))
			return sl;
	}
}

/* Makes room for one more sample in si (at most 3/4 full). Returns 0 or -ENOMEM. */
static int sample_index_reserve(struct sample_index *si)
{
	struct sample_slot *slots;
	size_t cap;

	if ((si->n + 1) * 4 <= si->cap * 3)
		return 0;
	cap = si->cap ? si->cap * 2 : 64;
	slots = calloc(cap, sizeof(*slots));
	if (!slots)
		return -ENOMEM;
	for (size_t i = 0; i < si->cap; i++) {
		size_t j = si->slots[i].hash & (cap - 1);

		if (!si->slots[i].pos)
			continue;
		while (slots[j].pos)
			j = (j + 1) & (cap - 1);
		slots[j] = si->slots[i];
	}
	free(si->slots);
	si->slots = slots;
	si->cap = cap;
	return 0;
}

/* The profile's one copy of a stack; NULL on allocation failure. */
static uint64_t *shared_stack(struct profile_index *ix, const uint64_t *location_ids,
			      size_t nlocations)
{
	size_t len = nlocations * sizeof(*location_ids);
	uint64_t *stack, v;

	if (hashmap_get(ix->stacks, location_ids, len, &v))
		return (uint64_t *)(uintptr_t)v;
	stack = malloc(len ? len : 1);
	if (!stack)
		return NULL;
	if (len)
		memcpy(stack, location_ids, len);
	if (hashmap_put(ix->stacks, location_ids, len, (uintptr_t)stack)) {
		free(stack);
		return NULL;
	}
	return stack;
}

int profile_add_sample(struct profile *prof, const uint64_t *location_ids, size_t nlocations,
		       const int64_t *values, const struct profile_label *labels, size_t nlabels)
{
	struct profile_index *ix = prof->index;
	struct profile_label *lcopy = NULL;
	struct sample_slot *slot;
	struct profile_sample *s;
	uint64_t *stack, hash;
	int err = -ENOMEM;

	if (nlabels) {
		lcopy = calloc(nlabels, sizeof(*lcopy));
		if (!lcopy)
			goto out;
	}
	for (size_t i = 0; i < nlabels; i++) {
		lcopy[i].key = profile_intern(prof, labels[i].key);
		lcopy[i].str = profile_intern(prof, labels[i].str);
		lcopy[i].num = labels[i].str ? 0 : labels[i].num;
		lcopy[i].num_unit = profile_intern(prof, labels[i].num_unit);
		if (!lcopy[i].key || (labels[i].str && !lcopy[i].str) ||
		    (labels[i].num_unit && !lcopy[i].num_unit))
			goto out;
	}
	if (sample_index_reserve(&ix->samples))
		goto out;
	hash = sample_hash(location_ids, nlocations, lcopy, nlabels);
	slot = sample_slot(&ix->samples, prof->samples, hash, location_ids, nlocations, lcopy,
			   nlabels);
	if (slot->pos) {
		s = &prof->samples[slot->pos - 1];
		for (size_t i = 0; i < prof->nsample_types; i++)
			s->values[i] += values[i];
		err = 0;
		goto out;
	}
	if (!array_grow((void **)&prof->samples, &ix->cap_samples, prof->nsamples + 1,
			sizeof(*prof->samples)))
		goto out;
	stack = shared_stack(ix, location_ids, nlocations);
	if (!stack)
		goto out;
	slot->hash = hash;
	slot->pos = prof->nsamples + 1;
	ix->samples.n++;
	s = &prof->samples[prof->nsamples++];
	memset(s, 0, sizeof(*s));
	s->nlocations = nlocations;
	s->location_ids = stack;
	for (size_t i = 0; i < prof->nsample_types; i++)
		s->values[i] = values[i];
	s->nlabels = nlabels;
	s->labels = lcopy;
	lcopy = NULL;
	err = 0;
out:
	free(lcopy);
	return err;
}

int profile_drop_labels(struct profile *prof,
			bool (*drop)(const struct profile_sample *s, const struct profile_label *l,
				     void *ctx),
			void *ctx)
{
	struct profile_index *ix = prof->index;
	struct sample_index index = { 0 };
	struct profile_sample *samples = NULL;
	size_t n = 0, max_labels = 0;
	bool any = false, *dropped;

	for (size_t i = 0; i < prof->nsamples; i++) {
		const struct profile_sample *s = &prof->samples[i];

		if (s->nlabels > max_labels)
			max_labels = s->nlabels;
		for (size_t l = 0; l < s->nlabels && !any; l++)
			any = drop(s, &s->labels[l], ctx);
	}
	if (!any)
		return 0;
	/* Everything that can fail first: then the move, which cannot. */
	samples = malloc(prof->nsamples * sizeof(*samples));
	dropped = malloc(max_labels * sizeof(*dropped));
	index.cap = 64;
	while (prof->nsamples * 4 > index.cap * 3)
		index.cap *= 2;
	index.slots = calloc(index.cap, sizeof(*index.slots));
	if (!samples || !dropped || !index.slots) {
		free(samples);
		free(dropped);
		free(index.slots);
		return -ENOMEM;
	}
	for (size_t i = 0; i < prof->nsamples; i++) {
		struct profile_sample *s = &prof->samples[i];
		struct sample_slot *slot;
		size_t kept = 0;
		uint64_t hash;

		/* Decided on the sample as it is, then the kept labels move down in place (its own
		 * array stays as large). */
		for (size_t l = 0; l < s->nlabels; l++)
			dropped[l] = drop(s, &s->labels[l], ctx);
		for (size_t l = 0; l < s->nlabels; l++)
			if (!dropped[l])
				s->labels[kept++] = s->labels[l];
		s->nlabels = kept;
		hash = sample_hash(s->location_ids, s->nlocations, s->labels, s->nlabels);
		slot = sample_slot(&index, samples, hash, s->location_ids, s->nlocations, s->labels,
				   s->nlabels);
		if (!slot->pos) {
			slot->hash = hash;
			slot->pos = ++n;
			samples[n - 1] = *s;
			continue;
		}
		for (size_t v = 0; v < prof->nsample_types; v++)
			samples[slot->pos - 1].values[v] += s->values[v];
		free(s->labels);
	}
	index.n = n;
	free(dropped);
	free(prof->samples);
	prof->samples = samples;
	ix->cap_samples = prof->nsamples;
	prof->nsamples = n;
	free(ix->samples.slots);
	ix->samples = index;
	return 0;
}

const struct profile_label *profile_sample_label(const struct profile_sample *s, const char *key)
{
	for (size_t i = 0; i < s->nlabels; i++)
		if (strcmp(s->labels[i].key, key) == 0)
			return &s->labels[i];
	return NULL;
}

int64_t profile_total(const struct profile *prof, size_t type)
{
	int64_t total = 0;

	for (size_t i = 0; i < prof->nsamples; i++)
		total += prof->samples[i].values[type];
	return total;
}
