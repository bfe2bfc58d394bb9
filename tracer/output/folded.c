// SPDX-License-Identifier: MIT
#include "folded.h"
#include "util/hashmap.h"
#include "file.h"

#include <assert.h>
#include <errno.h>
#include <inttypes.h>
#include <stdlib.h>
#include <string.h>

static int stack_push(struct folded_stack *st, const char *name, bool kernel)
{
	if (st->n == st->cap) {
		size_t cap = st->cap ? st->cap * 2 : 64;
		struct folded_frame *p = realloc(st->frames, cap * sizeof(*p));

		if (!p)
			return -ENOMEM;
		st->frames = p;
		st->cap = cap;
	}
	st->frames[st->n].name = *name ? name : FOLDED_UNKNOWN;
	st->frames[st->n].kernel = kernel;
	st->n++;
	return 0;
}

int folded_stack_build(const struct profile *prof, const struct profile_sample *s,
		       const char *root_label_key, struct folded_stack *st)
{
	size_t first_location_frame;
	int err;

	st->n = 0;
	if (root_label_key) {
		const struct profile_label *l = profile_sample_label(s, root_label_key);

		if (l && l->str && *l->str) {
			err = stack_push(st, l->str, false);
			if (err)
				return err;
		}
	}
	first_location_frame = st->n;
	/* location_ids is leaf first and lines innermost first: walk both backwards. */
	for (size_t i = s->nlocations; i-- > 0;) {
		const struct profile_location *loc = profile_location(prof, s->location_ids[i]);
		const struct profile_mapping *m;
		bool kernel;

		assert(loc);
		m = profile_mapping(prof, loc->mapping_id);
		kernel = profile_mapping_is_kernel(m);
		for (size_t j = loc->nlines; j-- > 0;) {
			const struct profile_function *fn =
				profile_function(prof, loc->lines[j].function_id);

			err = stack_push(st, fn ? fn->name : FOLDED_UNKNOWN, kernel);
			if (err)
				return err;
		}
	}
	if (st->n == first_location_frame)
		return stack_push(st, FOLDED_UNKNOWN, false);
	return 0;
}

void folded_stack_free(struct folded_stack *st)
{
	free(st->frames);
	memset(st, 0, sizeof(*st));
}

/* The text of one line without its count, rebuilt for every sample in one reused buffer. */
struct line_buf {
	char *s;
	size_t len, cap;
};

static int line_reserve(struct line_buf *b, size_t more)
{
	size_t cap = b->cap ? b->cap : 256;
	char *p;

	if (b->len + more <= b->cap)
		return 0;
	while (cap < b->len + more)
		cap *= 2;
	p = realloc(b->s, cap);
	if (!p)
		return -ENOMEM;
	b->s = p;
	b->cap = cap;
	return 0;
}

static int line_render(struct line_buf *b, const struct folded_stack *st)
{
	b->len = 0;
	for (size_t i = 0; i < st->n; i++) {
		const char *name = st->frames[i].name;
		int err = line_reserve(b, strlen(name) + 1);

		if (err)
			return err;
		if (i)
			b->s[b->len++] = ';';
		for (const char *p = name; *p; p++) {
			if (*p == '\n' || *p == '\r')
				continue;
			b->s[b->len++] = *p == ';' ? ':' : *p;
		}
	}
	return 0;
}

struct folded_line {
	const char *text; /* not NUL-terminated: owned by the merging hashmap */
	size_t len;
	int64_t value;
};

struct collect {
	struct folded_line *lines;
	const int64_t *values;
	size_t n;
};

static int collect_line(const void *key, size_t len, uint64_t value, void *arg)
{
	struct collect *c = arg;

	c->lines[c->n].text = key;
	c->lines[c->n].len = len;
	c->lines[c->n].value = c->values[value];
	c->n++;
	return 0;
}

static int compare_lines(const void *a, const void *b)
{
	const struct folded_line *x = a, *y = b;
	int cmp = memcmp(x->text, y->text, x->len < y->len ? x->len : y->len);

	if (cmp)
		return cmp;
	return (x->len > y->len) - (x->len < y->len);
}

int folded_write(const struct profile *prof, size_t value_index, const char *root_label_key,
		 FILE *f)
{
	struct folded_stack st = { 0 };
	struct line_buf buf = { 0 };
	struct collect c = { 0 };
	struct hashmap *merged; /* line text -> index into values */
	int64_t *values = NULL;
	size_t nvalues = 0;
	int err = 0;

	assert(value_index < prof->nsample_types);
	merged = hashmap_new();
	values = malloc((prof->nsamples ? prof->nsamples : 1) * sizeof(*values));
	if (!merged || !values) {
		err = -ENOMEM;
		goto out;
	}
	for (size_t i = 0; i < prof->nsamples; i++) {
		const struct profile_sample *s = &prof->samples[i];
		int64_t v = s->values[value_index];
		uint64_t idx;

		if (!v)
			continue;
		err = folded_stack_build(prof, s, root_label_key, &st);
		if (!err)
			err = line_render(&buf, &st);
		if (err)
			goto out;
		if (hashmap_get(merged, buf.s, buf.len, &idx)) {
			values[idx] += v;
			continue;
		}
		err = hashmap_put(merged, buf.s, buf.len, nvalues);
		if (err)
			goto out;
		values[nvalues++] = v;
	}
	c.lines = malloc((nvalues ? nvalues : 1) * sizeof(*c.lines));
	if (!c.lines) {
		err = -ENOMEM;
		goto out;
	}
	c.values = values;
	hashmap_each(merged, collect_line, &c);
	qsort(c.lines, c.n, sizeof(*c.lines), compare_lines);
	for (size_t i = 0; i < c.n; i++) {
		fwrite(c.lines[i].text, 1, c.lines[i].len, f);
		fprintf(f, " %" PRId64 "\n", c.lines[i].value);
	}
	if (ferror(f))
		err = -EIO;
out:
	free(c.lines);
	free(values);
	free(buf.s);
	hashmap_free(merged);
	folded_stack_free(&st);
	return err;
}

int folded_write_file(const struct profile *prof, size_t value_index, const char *root_label_key,
		      int dirfd, const char *name)
{
	struct output_file of;
	int err;

	err = output_open(&of, dirfd, name);
	if (err)
		return err;
	err = folded_write(prof, value_index, root_label_key, of.f);
	if (err)
		return output_fail(&of, err);
	return output_commit(&of);
}
