// SPDX-License-Identifier: MIT
#include "otlp_validate.h"
#include "output/file.h"

#include <errno.h>
#include <stdarg.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <zlib.h>

static int fail(char *why, size_t size, const char *fmt, ...)
{
	va_list ap;

	va_start(ap, fmt);
	vsnprintf(why, size, fmt, ap);
	va_end(ap);
	return -EINVAL;
}

/* Inflates a gzip member into a malloc'd buffer. */
static int gunzip(const void *in, size_t len, unsigned char **out, size_t *out_len)
{
	size_t cap = len * 4 + 1024, n = 0;
	unsigned char *buf = malloc(cap);
	z_stream zs = { 0 };
	int ret;

	if (!buf || inflateInit2(&zs, 15 + 16) != Z_OK) {
		free(buf);
		return -ENOMEM;
	}
	zs.next_in = (Bytef *)in;
	zs.avail_in = (uInt)len;
	do {
		if (n == cap) {
			unsigned char *p = realloc(buf, cap * 2);

			if (!p) {
				ret = Z_MEM_ERROR;
				break;
			}
			buf = p;
			cap *= 2;
		}
		zs.next_out = buf + n;
		zs.avail_out = (uInt)(cap - n);
		ret = inflate(&zs, Z_NO_FLUSH);
		n = cap - zs.avail_out;
	} while (ret == Z_OK);
	inflateEnd(&zs);
	if (ret != Z_STREAM_END) {
		free(buf);
		return -EINVAL;
	}
	*out = buf;
	*out_len = n;
	return 0;
}

int otlp_request_unpack(const void *data, size_t len, PbRequest **out, char *why, size_t why_size)
{
	const unsigned char *bytes = data;
	unsigned char *plain = NULL;
	ProtobufCMessage *msg;

	if (len >= 2 && bytes[0] == 0x1f && bytes[1] == 0x8b) {
		if (gunzip(data, len, &plain, &len))
			return fail(why, why_size, "not a whole gzip stream");
		data = plain;
	}
	msg = protobuf_c_message_unpack(&PB_REQUEST_DESCRIPTOR, NULL, len, data);
	free(plain);
	if (!msg)
		return fail(why, why_size, "not an ExportProfilesServiceRequest (protobuf-c)");
	*out = (PbRequest *)msg;
	return 0;
}

void otlp_request_free(PbRequest *req)
{
	if (req)
		protobuf_c_message_free_unpacked(&req->base, NULL);
}

/* ---- the rules ----------------------------------------------------------------------------- */

struct check {
	const PbDictionary *d;
	char *why;
	size_t size;
};

static bool in_range(int64_t idx, size_t n)
{
	return idx >= 0 && (uint64_t)idx < n;
}

#define CHECK_INDEX(c, idx, table, where, ...)                                                     \
	do {                                                                                       \
		if (!in_range((idx), (c)->d->n_##table)) {                                         \
			char at_[160];                                                             \
			snprintf(at_, sizeof(at_), where, __VA_ARGS__);                            \
			return fail((c)->why, (c)->size, "%s: index %lld out of " #table " (%zu)", \
				    at_, (long long)(idx), (c)->d->n_##table);                     \
		}                                                                                  \
	} while (0)

static int check_indices(const struct check *c, const int32_t *v, size_t n, const char *what,
			 size_t i)
{
	for (size_t j = 0; j < n; j++)
		CHECK_INDEX(c, v[j], attribute_table, "%s %zu attribute %zu", what, i, j);
	return 0;
}

static int check_zero_rows(const struct check *c)
{
	const PbDictionary *d = c->d;
	const PbLink *link;

	if (!d->n_mapping_table || !d->n_location_table || !d->n_function_table ||
	    !d->n_link_table || !d->n_string_table || !d->n_attribute_table || !d->n_stack_table)
		return fail(c->why, c->size, "a dictionary table lacks its zero row");
	if (d->string_table[0][0])
		return fail(c->why, c->size, "string_table[0] is \"%s\", not \"\"",
			    d->string_table[0]);
	if (d->mapping_table[0]->memory_start || d->mapping_table[0]->memory_limit ||
	    d->mapping_table[0]->file_offset || d->mapping_table[0]->filename_strindex ||
	    d->mapping_table[0]->n_attribute_indices)
		return fail(c->why, c->size, "mapping_table[0] is not the zero mapping");
	if (d->location_table[0]->mapping_index || d->location_table[0]->address ||
	    d->location_table[0]->n_lines || d->location_table[0]->n_attribute_indices)
		return fail(c->why, c->size, "location_table[0] is not the zero location");
	if (d->function_table[0]->name_strindex || d->function_table[0]->system_name_strindex ||
	    d->function_table[0]->filename_strindex || d->function_table[0]->start_line)
		return fail(c->why, c->size, "function_table[0] is not the zero function");
	if (d->attribute_table[0]->key_strindex || d->attribute_table[0]->unit_strindex ||
	    (d->attribute_table[0]->value &&
	     d->attribute_table[0]->value->value_case != PB_NO_VALUE))
		return fail(c->why, c->size, "attribute_table[0] is not the zero attribute");
	if (d->stack_table[0]->n_location_indices)
		return fail(c->why, c->size, "stack_table[0] is not the empty stack");
	link = d->link_table[0];
	for (size_t i = 0; i < link->trace_id.len; i++)
		if (link->trace_id.data[i])
			return fail(c->why, c->size, "link_table[0] has a trace id");
	for (size_t i = 0; i < link->span_id.len; i++)
		if (link->span_id.data[i])
			return fail(c->why, c->size, "link_table[0] has a span id");
	return 0;
}

static int check_strings(const struct check *c)
{
	for (size_t i = 0; i < c->d->n_string_table; i++)
		if (!output_utf8_valid(c->d->string_table[i]))
			return fail(c->why, c->size, "string_table[%zu] is not UTF-8", i);
	return 0;
}

static int check_value(const struct check *c, const PbAnyValue *v, const char *what, size_t i)
{
	if (!v)
		return 0;
	if (v->value_case == PB_STRINDEX_VALUE)
		CHECK_INDEX(c, v->string_value_strindex, string_table, "%s %zu value", what, i);
	if (v->value_case == PB_STRING_VALUE && !output_utf8_valid(v->string_value))
		return fail(c->why, c->size, "%s %zu: value is not UTF-8", what, i);
	return 0;
}

static int check_tables(const struct check *c)
{
	const PbDictionary *d = c->d;
	int err;

	for (size_t i = 1; i < d->n_attribute_table; i++) {
		const PbKeyValueAndUnit *a = d->attribute_table[i];

		CHECK_INDEX(c, a->key_strindex, string_table, "attribute %zu key", i);
		CHECK_INDEX(c, a->unit_strindex, string_table, "attribute %zu unit", i);
		if (!a->key_strindex)
			return fail(c->why, c->size, "attribute %zu has no key", i);
		err = check_value(c, a->value, "attribute", i);
		if (err)
			return err;
	}
	for (size_t i = 1; i < d->n_mapping_table; i++) {
		CHECK_INDEX(c, d->mapping_table[i]->filename_strindex, string_table,
			    "mapping %zu filename", i);
		err = check_indices(c, d->mapping_table[i]->attribute_indices,
				    d->mapping_table[i]->n_attribute_indices, "mapping", i);
		if (err)
			return err;
	}
	for (size_t i = 1; i < d->n_function_table; i++) {
		const PbFunction *f = d->function_table[i];

		CHECK_INDEX(c, f->name_strindex, string_table, "function %zu name", i);
		CHECK_INDEX(c, f->system_name_strindex, string_table, "function %zu system name",
			    i);
		CHECK_INDEX(c, f->filename_strindex, string_table, "function %zu filename", i);
		if (!f->name_strindex && !f->system_name_strindex && !f->filename_strindex)
			return fail(c->why, c->size, "function %zu has no name and no file", i);
	}
	for (size_t i = 1; i < d->n_location_table; i++) {
		const PbLocation *l = d->location_table[i];

		CHECK_INDEX(c, l->mapping_index, mapping_table, "location %zu mapping", i);
		for (size_t j = 0; j < l->n_lines; j++)
			CHECK_INDEX(c, l->lines[j]->function_index, function_table,
				    "location %zu line %zu", i, j);
		err = check_indices(c, l->attribute_indices, l->n_attribute_indices, "location", i);
		if (err)
			return err;
	}
	for (size_t i = 1; i < d->n_stack_table; i++)
		for (size_t j = 0; j < d->stack_table[i]->n_location_indices; j++)
			CHECK_INDEX(c, d->stack_table[i]->location_indices[j], location_table,
				    "stack %zu frame %zu", i, j);
	for (size_t i = 1; i < d->n_link_table; i++)
		if (d->link_table[i]->trace_id.len != 16 || d->link_table[i]->span_id.len != 8)
			return fail(c->why, c->size, "link %zu: ids are not 16 and 8 bytes", i);
	return 0;
}

static int check_sample(const struct check *c, const PbSample *s, size_t r, size_t p, size_t i)
{
	CHECK_INDEX(c, s->stack_index, stack_table, "resource %zu profile %zu sample %zu stack", r,
		    p, i);
	CHECK_INDEX(c, s->link_index, link_table, "resource %zu profile %zu sample %zu link", r, p,
		    i);
	if (!s->n_values && !s->n_timestamps_unix_nano)
		return fail(c->why, c->size,
			    "resource %zu profile %zu sample %zu has no value and no timestamp", r,
			    p, i);
	if (s->n_values && s->n_timestamps_unix_nano && s->n_values != s->n_timestamps_unix_nano)
		return fail(c->why, c->size,
			    "resource %zu profile %zu sample %zu: %zu values, %zu timestamps", r, p,
			    i, s->n_values, s->n_timestamps_unix_nano);
	for (size_t j = 0; j < s->n_attribute_indices; j++) {
		int32_t key;

		CHECK_INDEX(c, s->attribute_indices[j], attribute_table,
			    "resource %zu profile %zu sample %zu attribute %zu", r, p, i, j);
		key = c->d->attribute_table[s->attribute_indices[j]]->key_strindex;
		for (size_t k = 0; k < j; k++)
			if (c->d->attribute_table[s->attribute_indices[k]]->key_strindex == key)
				return fail(c->why, c->size,
					    "resource %zu profile %zu sample %zu: attribute key "
					    "\"%s\" twice",
					    r, p, i, c->d->string_table[key]);
	}
	return 0;
}

static int check_profile(const struct check *c, const PbProfile *p, size_t r, size_t pi)
{
	int err;

	if (!p->sample_type)
		return fail(c->why, c->size, "resource %zu profile %zu has no sample type", r, pi);
	CHECK_INDEX(c, p->sample_type->type_strindex, string_table,
		    "resource %zu profile %zu sample type", r, pi);
	CHECK_INDEX(c, p->sample_type->unit_strindex, string_table,
		    "resource %zu profile %zu sample unit", r, pi);
	if (strchr(c->d->string_table[p->sample_type->type_strindex], '-'))
		return fail(c->why, c->size,
			    "resource %zu profile %zu: sample type \"%s\" has a '-'", r, pi,
			    c->d->string_table[p->sample_type->type_strindex]);
	if (p->period_type) {
		CHECK_INDEX(c, p->period_type->type_strindex, string_table,
			    "resource %zu profile %zu period type", r, pi);
		CHECK_INDEX(c, p->period_type->unit_strindex, string_table,
			    "resource %zu profile %zu period unit", r, pi);
	}
	err = check_indices(c, p->attribute_indices, p->n_attribute_indices, "profile", pi);
	for (size_t i = 0; i < p->n_samples && !err; i++)
		err = check_sample(c, p->samples[i], r, pi, i);
	return err;
}

static int check_resource(const struct check *c, const PbResourceProfiles *rp, size_t r)
{
	int err = 0;

	if (rp->resource) {
		for (size_t i = 0; i < rp->resource->n_attributes; i++) {
			const PbKeyValue *kv = rp->resource->attributes[i];

			if (!kv->key || !*kv->key || !output_utf8_valid(kv->key))
				return fail(c->why, c->size, "resource %zu attribute %zu: bad key",
					    r, i);
			for (size_t j = 0; j < i; j++)
				if (strcmp(rp->resource->attributes[j]->key, kv->key) == 0)
					return fail(c->why, c->size,
						    "resource %zu: attribute %s twice", r, kv->key);
			err = check_value(c, kv->value, "resource attribute", i);
			if (err)
				return err;
		}
	}
	for (size_t s = 0; s < rp->n_scope_profiles && !err; s++)
		for (size_t p = 0; p < rp->scope_profiles[s]->n_profiles && !err; p++)
			err = check_profile(c, rp->scope_profiles[s]->profiles[p], r, p);
	return err;
}

int otlp_validate(const PbRequest *req, char *why, size_t why_size)
{
	struct check c = { req->dictionary, why, why_size };
	int err;

	if (!c.d)
		return fail(why, why_size, "no dictionary");
	err = check_zero_rows(&c);
	if (!err)
		err = check_strings(&c);
	if (!err)
		err = check_tables(&c);
	for (size_t r = 0; r < req->n_resource_profiles && !err; r++)
		err = check_resource(&c, req->resource_profiles[r], r);
	return err;
}

/* ---- back to the profile model ------------------------------------------------------------- */

static const char *str(const PbDictionary *d, int32_t idx)
{
	return d->string_table[idx];
}

static uint64_t rebuild_location(struct profile *prof, const PbDictionary *d, int32_t idx,
				 uint64_t *mapping_ids)
{
	const PbLocation *l = d->location_table[idx];
	struct profile_line lines[64];
	size_t n = l->n_lines < 64 ? l->n_lines : 64;
	uint64_t mapping_id = 0;

	if (l->mapping_index) {
		const PbMapping *m = d->mapping_table[l->mapping_index];

		if (!mapping_ids[l->mapping_index]) {
			struct profile_mapping pm = {
				.start = m->memory_start,
				.limit = m->memory_limit,
				.offset = m->file_offset,
				.file = str(d, m->filename_strindex),
				.build_id = "",
			};

			mapping_ids[l->mapping_index] = profile_add_mapping(prof, &pm);
		}
		mapping_id = mapping_ids[l->mapping_index];
	}
	for (size_t i = 0; i < n; i++) {
		const PbFunction *f = d->function_table[l->lines[i]->function_index];

		lines[i].function_id = profile_add_function(
		    prof, str(d, f->name_strindex), str(d, f->system_name_strindex),
		    str(d, f->filename_strindex), f->start_line);
		lines[i].line = l->lines[i]->line;
	}
	return profile_add_location(prof, mapping_id, l->address, lines, n);
}

static int rebuild_sample(struct profile *prof, const PbDictionary *d, const PbSample *s,
			  uint64_t *mapping_ids)
{
	const PbStack *st = d->stack_table[s->stack_index];
	struct profile_label labels[16];
	size_t nlabels = 0;
	uint64_t *locs = calloc(st->n_location_indices + 1, sizeof(*locs));
	int64_t value = 0;
	int err;

	if (!locs)
		return -ENOMEM;
	for (size_t i = 0; i < st->n_location_indices; i++)
		locs[i] = rebuild_location(prof, d, st->location_indices[i], mapping_ids);
	for (size_t i = 0; i < s->n_attribute_indices && nlabels < 16; i++) {
		const PbKeyValueAndUnit *a = d->attribute_table[s->attribute_indices[i]];
		struct profile_label *l = &labels[nlabels];

		if (!a->value)
			continue;
		memset(l, 0, sizeof(*l));
		l->key = str(d, a->key_strindex);
		if (a->unit_strindex)
			l->num_unit = str(d, a->unit_strindex);
		if (a->value->value_case == PB_STRING_VALUE)
			l->str = a->value->string_value;
		else if (a->value->value_case == PB_INT_VALUE)
			l->num = a->value->int_value;
		else
			continue;
		nlabels++;
	}
	/* One value, or one per timestamp, or timestamps alone (each counts 1). */
	for (size_t i = 0; i < s->n_values; i++)
		value += s->values[i];
	if (!s->n_values)
		value = (int64_t)s->n_timestamps_unix_nano;
	err = profile_add_sample(prof, locs, st->n_location_indices, &value, labels, nlabels);
	free(locs);
	return err;
}

struct profile *otlp_request_profile(const PbRequest *req, size_t r, size_t p)
{
	const PbDictionary *d = req->dictionary;
	const PbProfile *op = req->resource_profiles[r]->scope_profiles[0]->profiles[p];
	struct profile_value_type type = { str(d, op->sample_type->type_strindex),
					   str(d, op->sample_type->unit_strindex) };
	struct profile_value_type period = { "", "" };
	uint64_t *mapping_ids = calloc(d->n_mapping_table, sizeof(*mapping_ids));
	struct profile *prof;

	if (op->period_type)
		period = (struct profile_value_type){ str(d, op->period_type->type_strindex),
						      str(d, op->period_type->unit_strindex) };
	prof = mapping_ids ? profile_new(&type, 1, 0, period, op->period) : NULL;
	for (size_t i = 0; prof && i < op->n_samples; i++) {
		if (rebuild_sample(prof, d, op->samples[i], mapping_ids)) {
			profile_free(prof);
			prof = NULL;
		}
	}
	if (prof) {
		prof->time_nanos = (int64_t)op->time_unix_nano;
		prof->duration_nanos = (int64_t)op->duration_nano;
	}
	free(mapping_ids);
	return prof;
}

const char *otlp_resource_string(const PbRequest *req, size_t r, const char *key)
{
	const PbResource *res = req->resource_profiles[r]->resource;

	for (size_t i = 0; res && i < res->n_attributes; i++)
		if (strcmp(res->attributes[i]->key, key) == 0 && res->attributes[i]->value &&
		    res->attributes[i]->value->value_case == PB_STRING_VALUE)
			return res->attributes[i]->value->string_value;
	return NULL;
}
