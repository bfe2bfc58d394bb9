// SPDX-License-Identifier: MIT
#include <criterion/criterion.h>
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/wait.h>
#include <unistd.h>

#include "build_file.h"
#include "output/folded.h"
#include "util/gzip.h"
#include "export/otlp.h"
#include "output/file.h"
#include "model/profile.h"
#include "profile_builder.h"
#include "../tools/otlp_validate.h"

/*
 * The encoder is checked through the validator (every rule of the format) and by rebuilding each
 * OTLP Profile as a profile and comparing its folded stacks with the source profile's: same
 * stacks, same values, same threads. The official schema is checked by protoc --decode against
 * Debian's opentelemetry-proto (make unit fetches it).
 */

/*
 * A CPU profile of one process as the collector builds them: the executable with a build id
 * and an inlined call, libc without one, a kernel frame, a task ancestry ([task] and [spawn]
 * frames without mapping), a function whose name is not UTF-8; labels thread_id, thread_name,
 * task_id and a numeric label with a unit.
 */
static struct profile *cpu_profile(const char *exe, const char *thread)
{
	struct profile_mapping m_exe = { .start = 0x400000,
					 .limit = 0x480000,
					 .file = exe,
					 .build_id = "c0ffee00112233",
					 .has_functions = true,
					 .has_line_numbers = true,
					 .has_inline_frames = true };
	struct profile_mapping m_libc = { .start = 0x7f1000000000,
					  .limit = 0x7f1000100000,
					  .offset = 0x1000,
					  .file = "/usr/lib/libc.so.6",
					  .build_id = "",
					  .has_functions = true };
	struct profile_mapping m_kernel = { .start = 0xffffffff81000000,
					    .limit = ~0ULL,
					    .file = PROFILE_KERNEL_MAPPING,
					    .build_id = "" };
	struct profile *p = tb_cpu_profile();
	uint64_t mx = profile_add_mapping(p, &m_exe), ml = profile_add_mapping(p, &m_libc);
	uint64_t mk = profile_add_mapping(p, &m_kernel);
	uint64_t inl = tb_location(p, mx, 0x401010, "parse_inlined", "handle", NULL);
	uint64_t serve = tb_location(p, mx, 0x401200, "serve", NULL);
	uint64_t start = tb_location(p, ml, 0x7f1000002345, "__libc_start_main", NULL);
	uint64_t sys = tb_location(p, mk, 0xffffffff81234567, "do_syscall_64", NULL);
	uint64_t task = tb_location(p, 0, 0, "[task] app::handler", NULL);
	uint64_t spawn = tb_location(p, 0, 0, "[spawn] main.rs:42", NULL);
	uint64_t bad = tb_location(p, mx, 0x401300, "bad\xff\xfe name", NULL);
	uint64_t s1[] = { inl, serve, start };
	uint64_t s2[] = { sys, inl, task, spawn, serve, start };
	uint64_t s3[] = { bad, serve, start };
	struct profile_label l1[] = { { .key = "thread_id", .num = 101 },
				      { .key = "thread_name", .str = thread } };
	struct profile_label l2[] = { { .key = "thread_id", .num = 102 },
				      { .key = "thread_name", .str = thread },
				      { .key = "task_id", .num = 7 },
				      { .key = "queue", .num = 3, .num_unit = "requests" } };
	int64_t v1[] = { 5, 5 * TB_PERIOD }, v2[] = { 2, 2 * TB_PERIOD }, v3[] = { 1, TB_PERIOD };

	cr_assert_eq(profile_add_sample(p, s1, 3, v1, l1, 2), 0);
	cr_assert_eq(profile_add_sample(p, s2, 6, v2, l2, 4), 0);
	cr_assert_eq(profile_add_sample(p, s3, 3, v3, l1, 2), 0);
	p->time_nanos = 1750000000000000000;
	p->duration_nanos = 10000000000;
	return p;
}

/* A wait profile: a sample with a zero count is left out of that type's OTLP Profile. */
static struct profile *wait_profile(void)
{
	static const struct profile_value_type types[] = { { "suspensions", "count" },
							   { "wait", "nanoseconds" } };
	struct profile *p = profile_new(types, 2, 1, types[1], 1);
	uint64_t s[] = { tb_frame(p, "[wait] timer"), tb_frame(p, "sleep_a_bit"),
			 tb_frame(p, "[task] app::ticker") };
	struct profile_label l[] = { { .key = "reason", .str = "timer" },
				     { .key = "task_id", .num = 9 } };
	int64_t v1[] = { 4, 4000000 }, v2[] = { 0, 1500 };

	cr_assert_not_null(p);
	cr_assert_eq(profile_add_sample(p, s, 3, v1, l, 2), 0);
	cr_assert_eq(profile_add_sample(p, s, 2, v2, l, 1), 0);
	p->time_nanos = 1750000000000000000;
	p->duration_nanos = 10000000000;
	return p;
}

struct encoded {
	PbRequest *req;
	void *data;
	size_t len;
};

static struct encoded encode(const struct otlp_process *procs, size_t n)
{
	struct encoded e = { 0 };
	char why[256] = "";

	cr_assert_eq(otlp_encode(procs, n, &e.data, &e.len), 0);
	cr_assert_eq(otlp_request_unpack(e.data, e.len, &e.req, why, sizeof(why)), 0, "%s", why);
	cr_assert_eq(otlp_validate(e.req, why, sizeof(why)), 0, "%s", why);
	return e;
}

static void encoded_free(struct encoded *e)
{
	otlp_request_free(e->req);
	free(e->data);
}

static const char *dstr(const PbRequest *req, int32_t idx)
{
	return req->dictionary->string_table[idx];
}

/* The string value of the attribute key of the dictionary's attribute list, or NULL. */
static const PbKeyValueAndUnit *find_attr(const PbRequest *req, const int32_t *list, size_t n,
					  const char *key)
{
	for (size_t i = 0; i < n; i++) {
		const PbKeyValueAndUnit *a = req->dictionary->attribute_table[list[i]];

		if (strcmp(dstr(req, a->key_strindex), key) == 0)
			return a;
	}
	return NULL;
}

static const struct otlp_attr resource_a[] = {
	{ "service.name", OTLP_STRING, "svc\xc3" }, /* cut in the middle of a character */
	{ "process.pid", OTLP_INT, NULL, 4242 },
};
static const struct otlp_attr resource_b[] = { { "service.name", OTLP_STRING, "other" } };
static const struct otlp_attr drops[] = { { "asyncprof.export.dropped_windows", OTLP_INT, NULL,
					    3 } };

Test(otlp, profiles_come_back_whole)
{
	struct profile *cpu_a = cpu_profile("/srv/app", "worker"), *wait = wait_profile();
	struct profile *cpu_b = cpu_profile("/usr/bin/other", "main");
	const struct profile *a[] = { cpu_a, wait }, *b[] = { cpu_b };
	struct otlp_process procs[] = {
		{ resource_a, 2, a, 2, drops, 1 },
		{ resource_b, 1, b, 1, NULL, 0 },
	};
	const struct profile *sources[] = { cpu_a, cpu_a, wait, wait, cpu_b, cpu_b };
	struct encoded e = encode(procs, 2);
	size_t k = 0;

	cr_assert_eq(e.req->n_resource_profiles, 2);
	for (size_t r = 0; r < 2; r++) {
		const PbScopeProfiles *sp;

		cr_assert_eq(e.req->resource_profiles[r]->n_scope_profiles, 1);
		sp = e.req->resource_profiles[r]->scope_profiles[0];
		cr_assert_str_eq(sp->scope->name, "asyncprof");
		cr_assert_eq(sp->n_profiles, r == 0 ? 4 : 2, "one Profile per sample type");
		for (size_t p = 0; p < sp->n_profiles; p++, k++) {
			const struct profile *src = sources[k];
			size_t type = p % 2;
			struct profile *back = otlp_request_profile(e.req, r, p);
			char *raw = tb_folded_text(src, type, "thread_name");
			char *want = output_utf8_dup(raw); /* what travels is UTF-8 */
			char *got = tb_folded_text(back, 0, "thread.name");

			cr_assert_str_eq(got, want, "resource %zu profile %zu:\n%s\nwant:\n%s", r,
					 p, got, want);
			cr_assert_str_eq(back->sample_types[0].type, src->sample_types[type].type);
			cr_assert_str_eq(back->sample_types[0].unit, src->sample_types[type].unit);
			cr_assert_str_eq(back->period_type.type, src->period_type.type);
			cr_assert_eq(back->period, src->period);
			cr_assert_eq(back->time_nanos, src->time_nanos);
			cr_assert_eq(back->duration_nanos, src->duration_nanos);
			cr_assert_eq(profile_total(back, 0), profile_total(src, type));
			free(raw);
			free(want);
			free(got);
			profile_free(back);
		}
	}
	/* The zero-count wait sample is only in the wait/nanoseconds Profile. */
	cr_assert_eq(e.req->resource_profiles[0]->scope_profiles[0]->profiles[2]->n_samples, 1);
	cr_assert_eq(e.req->resource_profiles[0]->scope_profiles[0]->profiles[3]->n_samples, 2);
	cr_assert_str_eq(otlp_resource_string(e.req, 0, "service.name"), "svc\xef\xbf\xbd");
	cr_assert_str_eq(otlp_resource_string(e.req, 1, "service.name"), "other");
	encoded_free(&e);
	profile_free(cpu_a);
	profile_free(cpu_b);
	profile_free(wait);
}

Test(otlp, dictionary_shared_and_attributes_named)
{
	struct profile *cpu_a = cpu_profile("/srv/app", "worker"), *wait = wait_profile();
	struct profile *cpu_b = cpu_profile("/srv/app", "worker");
	const struct profile *a[] = { cpu_a, wait }, *b[] = { cpu_b };
	struct otlp_process procs[] = { { resource_a, 2, a, 2, drops, 1 },
					{ resource_b, 1, b, 1, NULL, 0 } };
	struct encoded e = encode(procs, 2);
	const PbDictionary *d = e.req->dictionary;
	const PbProfile *cpu = e.req->resource_profiles[0]->scope_profiles[0]->profiles[0];
	const PbKeyValueAndUnit *at;
	size_t serve = 0, kernel_frames = 0, typed = 0, with_task = 0;

	/* Two processes with the same executable and stacks: each row once. */
	for (size_t i = 1; i < d->n_function_table; i++)
		serve += strcmp(dstr(e.req, d->function_table[i]->name_strindex), "serve") == 0;
	cr_assert_eq(serve, 1);
	cr_assert_eq(d->n_mapping_table, 4, "zero row + exe, libc, kernel");
	cr_assert_eq(d->n_stack_table, 1 + 3 + 2, "zero row, 3 CPU stacks, 2 wait stacks");
	for (size_t i = 1; i < d->n_location_table; i++) {
		const PbLocation *l = d->location_table[i];

		if (!l->n_attribute_indices)
			continue;
		at = find_attr(e.req, l->attribute_indices, l->n_attribute_indices,
			       "profile.frame.type");
		cr_assert_not_null(at);
		typed++;
		kernel_frames += strcmp(at->value->string_value, "kernel") == 0;
		cr_assert_neq(l->mapping_index, 0, "synthetic frames have no type");
	}
	cr_assert_eq(kernel_frames, 1);
	cr_assert_eq(typed, 5, "every frame in a mapping is typed");
	/* The executable's mapping: its build id and pprof flags. */
	for (size_t i = 1; i < d->n_mapping_table; i++) {
		const PbMapping *m = d->mapping_table[i];

		if (strcmp(dstr(e.req, m->filename_strindex), "/srv/app"))
			continue;
		at = find_attr(e.req, m->attribute_indices, m->n_attribute_indices,
			       "process.executable.build_id.gnu");
		cr_assert_str_eq(at->value->string_value, "c0ffee00112233");
		cr_assert_not_null(find_attr(e.req, m->attribute_indices, m->n_attribute_indices,
					     "pprof.mapping.has_inline_frames"));
		cr_assert_null(find_attr(e.req, m->attribute_indices, m->n_attribute_indices,
					 "pprof.mapping.has_filenames"));
	}
	/* Labels as attributes, numeric units kept; the drops on every Profile of the process. */
	for (size_t i = 0; i < cpu->n_samples; i++) {
		const PbSample *s = cpu->samples[i];

		at = find_attr(e.req, s->attribute_indices, s->n_attribute_indices, "thread.id");
		cr_assert(at && at->value->int_value >= 101 && at->value->int_value <= 102);
		at = find_attr(e.req, s->attribute_indices, s->n_attribute_indices, "thread.name");
		cr_assert_str_eq(at->value->string_value, "worker");
		at = find_attr(e.req, s->attribute_indices, s->n_attribute_indices,
			       "asyncprof.task_id");
		if (!at)
			continue;
		with_task++;
		cr_assert_eq(at->value->int_value, 7);
		at = find_attr(e.req, s->attribute_indices, s->n_attribute_indices,
			       "asyncprof.queue");
		cr_assert_str_eq(dstr(e.req, at->unit_strindex), "requests");
		cr_assert_eq(s->n_values, 1);
		cr_assert_eq(s->values[0], 2);
	}
	cr_assert_eq(with_task, 1);
	for (size_t p = 0; p < 4; p++) {
		const PbProfile *pr = e.req->resource_profiles[0]->scope_profiles[0]->profiles[p];

		at = find_attr(e.req, pr->attribute_indices, pr->n_attribute_indices,
			       "asyncprof.export.dropped_windows");
		cr_assert(at && at->value->int_value == 3);
	}
	at = find_attr(e.req,
		       e.req->resource_profiles[0]
			   ->scope_profiles[0]
			   ->profiles[2]
			   ->samples[0]
			   ->attribute_indices,
		       e.req->resource_profiles[0]
			   ->scope_profiles[0]
			   ->profiles[2]
			   ->samples[0]
			   ->n_attribute_indices,
		       "asyncprof.wait_reason");
	cr_assert_str_eq(at->value->string_value, "timer");
	cr_assert_eq(
	    e.req->resource_profiles[1]->scope_profiles[0]->profiles[0]->n_attribute_indices, 0);
	encoded_free(&e);
	profile_free(cpu_a);
	profile_free(cpu_b);
	profile_free(wait);
}

Test(otlp, empty_window)
{
	struct otlp_process proc = { resource_b, 1, NULL, 0, NULL, 0 };
	struct encoded e = encode(&proc, 1);

	cr_assert_eq(e.req->n_resource_profiles, 1);
	cr_assert_eq(e.req->resource_profiles[0]->scope_profiles[0]->n_profiles, 0);
	encoded_free(&e);
}

/* The validator must refuse what receivers refuse: each broken rule, one at a time. */
Test(otlp, validator_catches_broken_rules)
{
	struct profile *cpu = cpu_profile("/srv/app", "worker");
	const struct profile *profs[] = { cpu };
	struct otlp_process proc = { resource_a, 2, profs, 1, NULL, 0 };
	struct encoded e = encode(&proc, 1);
	PbDictionary *d = e.req->dictionary;
	PbProfile *p = e.req->resource_profiles[0]->scope_profiles[0]->profiles[0];
	PbSample *s = p->samples[1];
	char why[256], *empty;
	int32_t saved;

#define EXPECT_BROKEN(what)                                                                        \
	do {                                                                                       \
		cr_assert_eq(otlp_validate(e.req, why, sizeof(why)), -EINVAL, what);               \
		cr_assert_not_null(strstr(why, what), "%s: %s", what, why);                        \
	} while (0)
	saved = s->stack_index;
	s->stack_index = (int32_t)d->n_stack_table;
	EXPECT_BROKEN("out of stack_table");
	s->stack_index = saved;

	saved = s->attribute_indices[1];
	s->attribute_indices[1] = s->attribute_indices[0];
	EXPECT_BROKEN("twice");
	s->attribute_indices[1] = saved;

	s->n_values = 0;
	EXPECT_BROKEN("no value and no timestamp");
	s->n_values = 1;

	saved = d->location_table[2]->lines[0]->function_index;
	d->location_table[2]->lines[0]->function_index = -1;
	EXPECT_BROKEN("out of function_table");
	d->location_table[2]->lines[0]->function_index = saved;

	empty = d->string_table[0];
	d->string_table[0] = (char *)"x";
	EXPECT_BROKEN("string_table[0]");
	d->string_table[0] = empty;

	d->mapping_table[0]->memory_start = 1;
	EXPECT_BROKEN("mapping_table[0]");
	d->mapping_table[0]->memory_start = 0;

	d->link_table[0]->trace_id.data[3] = 1;
	EXPECT_BROKEN("link_table[0]");
	d->link_table[0]->trace_id.data[3] = 0;

	/* A sample type with a '-': Pyroscope refuses it. */
	for (size_t i = 0; i < d->n_string_table; i++)
		if (strcmp(d->string_table[i], "samples") == 0)
			d->string_table[i][3] = '-';
	EXPECT_BROKEN("has a '-'");
	for (size_t i = 0; i < d->n_string_table; i++)
		if (strcmp(d->string_table[i], "sam-les") == 0)
			d->string_table[i][3] = 'p';

	cr_assert_eq(otlp_validate(e.req, why, sizeof(why)), 0, "%s", why);
	encoded_free(&e);
	profile_free(cpu);
}

/*
 * The official schema (Debian's opentelemetry-proto 1.10+, unpacked by make) decodes the
 * payload without an unknown field, and reads the fields as asyncprof meant them: a sample's
 * value where values is, its attributes where attribute_indices is.
 */
Test(otlp, official_schema_decodes)
{
	char *include = build_file("otlp-proto", "root/usr/include", "unit");
	struct profile *cpu = cpu_profile("/srv/app", "worker");
	const struct profile *profs[] = { cpu };
	struct otlp_process proc = { resource_a, 2, profs, 1, drops, 1 };
	struct encoded e = encode(&proc, 1);
	char in[] = "/tmp/otlp-unit-XXXXXX", cmd[1024], line[512];
	int fd = mkstemp(in), values_5 = 0, attrs = 0, unknown = 0;
	FILE *out;

	cr_assert_geq(fd, 0);
	cr_assert_eq(write(fd, e.data, e.len), (ssize_t)e.len);
	close(fd);
	snprintf(cmd, sizeof(cmd),
		 "protoc -I%s --decode=opentelemetry.proto.collector.profiles.v1development."
		 "ExportProfilesServiceRequest "
		 "opentelemetry/proto/collector/profiles/v1development/profiles_service.proto "
		 "<%s 2>&1",
		 include, in);
	out = popen(cmd, "r");
	cr_assert_not_null(out);
	while (fgets(line, sizeof(line), out)) {
		const char *t = line + strspn(line, " ");

		values_5 += strcmp(t, "values: 5\n") == 0;
		attrs += strncmp(t, "attribute_indices: ", 19) == 0;
		unknown += t[0] >= '0' && t[0] <= '9'; /* protoc prints unknown fields by number */
	}
	cr_assert_eq(pclose(out), 0, "protoc --decode failed");
	cr_assert_eq(values_5, 1, "the 5-sample stack's value read as values");
	cr_assert_gt(attrs, 6);
	cr_assert_eq(unknown, 0);
	unlink(in);
	encoded_free(&e);
	profile_free(cpu);
	free(include);
}
