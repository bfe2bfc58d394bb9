// SPDX-License-Identifier: MIT
#include "pprof.h"
#include "util/gzip.h"
#include "file.h"
#include "profile.pb-c.h"
#include "util/strtab.h"

#include <errno.h>
#include <stdlib.h>
#include <string.h>

/*
 * The protobuf-c messages are built to be packed once and thrown away, so they borrow what they
 * can from the profile (stacks, values, strings that are already valid UTF-8) instead of
 * copying it; only the message structs and repaired strings are allocated here.
 */

/* Every allocation made for one encoding, released together by encoder_free(). */
struct encoder {
	struct strtab st;
	Perftools__Profiles__ValueType *types; /* sample types, then the period type */
	Perftools__Profiles__ValueType **type_ptrs;
	Perftools__Profiles__Sample *samples;
	Perftools__Profiles__Sample **sample_ptrs;
	Perftools__Profiles__Label *labels;
	Perftools__Profiles__Label **label_ptrs;
	Perftools__Profiles__Mapping *mappings;
	Perftools__Profiles__Mapping **mapping_ptrs;
	Perftools__Profiles__Function *functions;
	Perftools__Profiles__Function **function_ptrs;
	Perftools__Profiles__Location *locations;
	Perftools__Profiles__Location **location_ptrs;
	Perftools__Profiles__Line *lines;
	Perftools__Profiles__Line **line_ptrs;
	int64_t comment; /* the profile's comment's string index */
};

static void encoder_free(struct encoder *e)
{
	strtab_free(&e->st);
	free(e->types);
	free(e->type_ptrs);
	free(e->samples);
	free(e->sample_ptrs);
	free(e->labels);
	free(e->label_ptrs);
	free(e->mappings);
	free(e->mapping_ptrs);
	free(e->functions);
	free(e->function_ptrs);
	free(e->locations);
	free(e->location_ptrs);
	free(e->lines);
	free(e->line_ptrs);
}

/* calloc() that returns a pointer even for zero elements, so "empty" is not taken for ENOMEM. */
static void *alloc_array(size_t n, size_t elem)
{
	return calloc(n ? n : 1, elem);
}

static int encoder_alloc(struct encoder *e, const struct profile *prof)
{
	size_t nlabels = 0, nlines = 0;

	for (size_t i = 0; i < prof->nsamples; i++)
		nlabels += prof->samples[i].nlabels;
	for (size_t i = 0; i < prof->nlocations; i++)
		nlines += prof->locations[i].nlines;
	e->types = alloc_array(prof->nsample_types + 1, sizeof(*e->types));
	e->type_ptrs = alloc_array(prof->nsample_types, sizeof(*e->type_ptrs));
	e->samples = alloc_array(prof->nsamples, sizeof(*e->samples));
	e->sample_ptrs = alloc_array(prof->nsamples, sizeof(*e->sample_ptrs));
	e->labels = alloc_array(nlabels, sizeof(*e->labels));
	e->label_ptrs = alloc_array(nlabels, sizeof(*e->label_ptrs));
	e->mappings = alloc_array(prof->nmappings, sizeof(*e->mappings));
	e->mapping_ptrs = alloc_array(prof->nmappings, sizeof(*e->mapping_ptrs));
	e->functions = alloc_array(prof->nfunctions, sizeof(*e->functions));
	e->function_ptrs = alloc_array(prof->nfunctions, sizeof(*e->function_ptrs));
	e->locations = alloc_array(prof->nlocations, sizeof(*e->locations));
	e->location_ptrs = alloc_array(prof->nlocations, sizeof(*e->location_ptrs));
	e->lines = alloc_array(nlines, sizeof(*e->lines));
	e->line_ptrs = alloc_array(nlines, sizeof(*e->line_ptrs));
	if (!e->types || !e->type_ptrs || !e->samples || !e->sample_ptrs || !e->labels ||
	    !e->label_ptrs || !e->mappings || !e->mapping_ptrs || !e->functions ||
	    !e->function_ptrs || !e->locations || !e->location_ptrs || !e->lines || !e->line_ptrs)
		return -ENOMEM;
	return 0;
}

/* Sets *field to the string index of s; false on ENOMEM. */
static bool set_str(struct strtab *st, int64_t *field, const char *s)
{
	*field = strtab_index(st, s);
	return *field >= 0;
}

static int fill_value_type(struct encoder *e, Perftools__Profiles__ValueType *vt,
			   const struct profile_value_type *t)
{
	perftools__profiles__value_type__init(vt);
	if (!set_str(&e->st, &vt->type, t->type) || !set_str(&e->st, &vt->unit, t->unit))
		return -ENOMEM;
	return 0;
}

static int fill_samples(struct encoder *e, const struct profile *prof,
			Perftools__Profiles__Profile *msg)
{
	size_t next_label = 0;

	for (size_t i = 0; i < prof->nsamples; i++) {
		const struct profile_sample *s = &prof->samples[i];
		Perftools__Profiles__Sample *ms = &e->samples[i];

		perftools__profiles__sample__init(ms);
		ms->n_location_id = s->nlocations;
		ms->location_id = s->location_ids;
		ms->n_value = prof->nsample_types;
		ms->value = (int64_t *)s->values;
		ms->n_label = s->nlabels;
		ms->label = &e->label_ptrs[next_label];
		for (size_t j = 0; j < s->nlabels; j++) {
			const struct profile_label *l = &s->labels[j];
			Perftools__Profiles__Label *ml = &e->labels[next_label];

			perftools__profiles__label__init(ml);
			if (!set_str(&e->st, &ml->key, l->key))
				return -ENOMEM;
			if (l->str) {
				if (!set_str(&e->st, &ml->str, l->str))
					return -ENOMEM;
			} else {
				ml->num = l->num;
				if (l->num_unit && !set_str(&e->st, &ml->num_unit, l->num_unit))
					return -ENOMEM;
			}
			e->label_ptrs[next_label++] = ml;
		}
		e->sample_ptrs[i] = ms;
	}
	msg->n_sample = prof->nsamples;
	msg->sample = e->sample_ptrs;
	return 0;
}

static int fill_mappings(struct encoder *e, const struct profile *prof,
			 Perftools__Profiles__Profile *msg)
{
	for (size_t i = 0; i < prof->nmappings; i++) {
		const struct profile_mapping *m = &prof->mappings[i];
		Perftools__Profiles__Mapping *mm = &e->mappings[i];

		perftools__profiles__mapping__init(mm);
		mm->id = m->id;
		mm->memory_start = m->start;
		mm->memory_limit = m->limit;
		mm->file_offset = m->offset;
		if (!set_str(&e->st, &mm->filename, m->file) ||
		    !set_str(&e->st, &mm->build_id, m->build_id))
			return -ENOMEM;
		mm->has_functions = m->has_functions;
		mm->has_filenames = m->has_filenames;
		mm->has_line_numbers = m->has_line_numbers;
		mm->has_inline_frames = m->has_inline_frames;
		e->mapping_ptrs[i] = mm;
	}
	msg->n_mapping = prof->nmappings;
	msg->mapping = e->mapping_ptrs;
	return 0;
}

static int fill_functions(struct encoder *e, const struct profile *prof,
			  Perftools__Profiles__Profile *msg)
{
	for (size_t i = 0; i < prof->nfunctions; i++) {
		const struct profile_function *f = &prof->functions[i];
		Perftools__Profiles__Function *mf = &e->functions[i];

		perftools__profiles__function__init(mf);
		mf->id = f->id;
		if (!set_str(&e->st, &mf->name, f->name) ||
		    !set_str(&e->st, &mf->system_name, f->system_name) ||
		    !set_str(&e->st, &mf->filename, f->file))
			return -ENOMEM;
		mf->start_line = f->start_line;
		e->function_ptrs[i] = mf;
	}
	msg->n_function = prof->nfunctions;
	msg->function = e->function_ptrs;
	return 0;
}

static void fill_locations(struct encoder *e, const struct profile *prof,
			   Perftools__Profiles__Profile *msg)
{
	size_t next_line = 0;

	for (size_t i = 0; i < prof->nlocations; i++) {
		const struct profile_location *l = &prof->locations[i];
		Perftools__Profiles__Location *ml = &e->locations[i];

		perftools__profiles__location__init(ml);
		ml->id = l->id;
		ml->mapping_id = l->mapping_id;
		ml->address = l->address;
		ml->n_line = l->nlines;
		ml->line = &e->line_ptrs[next_line];
		for (size_t j = 0; j < l->nlines; j++) {
			Perftools__Profiles__Line *line = &e->lines[next_line];

			perftools__profiles__line__init(line);
			line->function_id = l->lines[j].function_id;
			line->line = l->lines[j].line;
			e->line_ptrs[next_line++] = line;
		}
		e->location_ptrs[i] = ml;
	}
	msg->n_location = prof->nlocations;
	msg->location = e->location_ptrs;
}

static int fill_profile(struct encoder *e, const struct profile *prof,
			Perftools__Profiles__Profile *msg)
{
	int err;

	perftools__profiles__profile__init(msg);
	err = encoder_alloc(e, prof);
	if (err)
		return err;
	/* Sample types first, so their strings get small indexes as in Go's own profiles. */
	for (size_t i = 0; i < prof->nsample_types; i++) {
		err = fill_value_type(e, &e->types[i], &prof->sample_types[i]);
		if (err)
			return err;
		e->type_ptrs[i] = &e->types[i];
	}
	msg->n_sample_type = prof->nsample_types;
	msg->sample_type = e->type_ptrs;
	msg->default_sample_type = e->types[prof->default_sample_type].type;
	err = fill_value_type(e, &e->types[prof->nsample_types], &prof->period_type);
	if (err)
		return err;
	msg->period_type = &e->types[prof->nsample_types];
	msg->period = prof->period;
	msg->time_nanos = prof->time_nanos;
	msg->duration_nanos = prof->duration_nanos;
	err = fill_samples(e, prof, msg);
	if (!err)
		err = fill_mappings(e, prof, msg);
	if (!err)
		err = fill_functions(e, prof, msg);
	if (err)
		return err;
	fill_locations(e, prof, msg);
	if (prof->comment) {
		if (!set_str(&e->st, &e->comment, prof->comment))
			return -ENOMEM;
		msg->n_comment = 1;
		msg->comment = &e->comment;
	}
	msg->n_string_table = e->st.n;
	msg->string_table = e->st.strs;
	return 0;
}

int pprof_encode(const struct profile *prof, void **out, size_t *len)
{
	Perftools__Profiles__Profile msg;
	struct encoder e;
	uint8_t *packed = NULL;
	size_t size;
	int err;

	memset(&e, 0, sizeof(e));
	err = strtab_init(&e.st);
	if (!err)
		err = fill_profile(&e, prof, &msg);
	if (err)
		goto out;
	size = perftools__profiles__profile__get_packed_size(&msg);
	packed = malloc(size ? size : 1);
	if (!packed) {
		err = -ENOMEM;
		goto out;
	}
	perftools__profiles__profile__pack(&msg, packed);
	err = gzip_compress(packed, size, out, len); /* the format requires gzip on disk */
out:
	free(packed);
	encoder_free(&e);
	return err;
}

int pprof_write(const struct profile *prof, int dirfd, const char *name)
{
	void *data;
	size_t len;
	int err;

	err = pprof_encode(prof, &data, &len);
	if (err)
		return err;
	err = output_write_file(dirfd, name, data, len);
	free(data);
	return err;
}
