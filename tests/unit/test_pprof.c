// SPDX-License-Identifier: MIT
#include <criterion/criterion.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/wait.h>
#include <unistd.h>
#include <zlib.h>

#include "output/file.h"
#include "output/pprof.h"
#include "model/profile.h"
#include "profile.pb-c.h"
#include "profile_builder.h"

/*
 * A profile with everything pprof can carry: two mappings (the executable and libc), a
 * location with an inlined call, a synthetic frame without mapping, a function whose name is
 * not UTF-8, string and numeric labels.
 */
static struct profile *sample_profile(void)
{
	static const struct profile_value_type types[] = {
		{ "samples", "count" },
		{ "cpu", "nanoseconds" },
	};
	struct profile_mapping exe = {
		.start = 0x400000,
		.limit = 0x500000,
		.offset = 0,
		.file = "/usr/bin/demo",
		.build_id = "0123456789abcdef",
		.has_functions = true,
		.has_filenames = true,
		.has_line_numbers = true,
		.has_inline_frames = true,
	};
	struct profile_mapping libc = {
		.start = 0x7f0000000000,
		.limit = 0x7f0000200000,
		.offset = 0x28000,
		.file = "/lib/x86_64-linux-gnu/libc.so.6",
		.build_id = "",
		.has_functions = true,
	};
	struct profile *p = profile_new(types, 2, 1, types[1], 10000000);
	uint64_t m_exe, m_libc, f_main, f_work, f_helper, f_start, f_bad, f_cxx;
	uint64_t l_inline, l_main, l_start, l_bad, l_cxx;
	struct profile_line lines[2];
	struct profile_label labels1[] = {
		{ .key = "thread_name", .str = "worker-1" },
		{ .key = "pid", .num = 1234, .num_unit = "pid" },
	};
	struct profile_label labels2[] = {
		{ .key = "thread_name", .str = "worker-2" },
		{ .key = "tid", .num = 77 },
	};

	cr_assert_not_null(p);
	p->time_nanos = 1700000000123456789;
	p->duration_nanos = 2500000000;
	m_exe = profile_add_mapping(p, &exe);
	m_libc = profile_add_mapping(p, &libc);
	f_main = profile_add_function(p, "main", NULL, "demo.c", 10);
	f_work = profile_add_function(p, "work", NULL, "demo.c", 20);
	f_helper = profile_add_function(p, "helper", NULL, "util.h", 30);
	f_start = profile_add_function(p, "__libc_start_call_main", NULL, "", 0);
	f_bad = profile_add_function(p, "bad\xffname", NULL, "", 0);
	f_cxx = profile_add_function(p, "ns::Widget::poll()", "_ZN2ns6Widget4pollEv", "w.cc", 5);
	cr_assert(m_exe == 1 && m_libc == 2);
	cr_assert(f_main == 1 && f_work == 2 && f_helper == 3 && f_start == 4 && f_bad == 5 &&
		  f_cxx == 6);

	lines[0] = (struct profile_line){ f_helper, 31 }; /* inlined into work */
	lines[1] = (struct profile_line){ f_work, 22 };
	l_inline = profile_add_location(p, m_exe, 0x401000, lines, 2);
	lines[0] = (struct profile_line){ f_main, 12 };
	l_main = profile_add_location(p, m_exe, 0x401100, lines, 1);
	lines[0] = (struct profile_line){ f_start, 0 };
	l_start = profile_add_location(p, m_libc, 0x7f0000001234, lines, 1);
	lines[0] = (struct profile_line){ f_bad, 0 };
	l_bad = profile_add_location(p, 0, 0, lines, 1);
	lines[0] = (struct profile_line){ f_cxx, 7 };
	l_cxx = profile_add_location(p, m_exe, 0x402000, lines, 1);
	cr_assert(l_inline == 1 && l_main == 2 && l_start == 3 && l_bad == 4 && l_cxx == 5);

	{
		uint64_t s1[] = { l_inline, l_main, l_start };
		uint64_t s2[] = { l_bad, l_cxx, l_main, l_start };
		int64_t v1[] = { 3, 30000000 }, v2[] = { 1, 10000000 };

		cr_assert_eq(profile_add_sample(p, s1, 3, v1, labels1, 2), 0);
		cr_assert_eq(profile_add_sample(p, s2, 4, v2, labels2, 2), 0);
	}
	return p;
}

static Perftools__Profiles__Profile *decode(const void *gz, size_t len)
{
	Perftools__Profiles__Profile *msg;
	size_t cap = 1 << 20;
	unsigned char *raw = malloc(cap);
	z_stream zs = { 0 };

	cr_assert_geq(len, 2);
	cr_assert(((const unsigned char *)gz)[0] == 0x1f && ((const unsigned char *)gz)[1] == 0x8b,
		  "gzip magic");
	cr_assert_eq(inflateInit2(&zs, 15 + 16), Z_OK); /* gzip only, not zlib or raw deflate */
	zs.next_in = (Bytef *)gz;
	zs.avail_in = len;
	zs.next_out = raw;
	zs.avail_out = cap;
	cr_assert_eq(inflate(&zs, Z_FINISH), Z_STREAM_END);
	msg = perftools__profiles__profile__unpack(NULL, zs.total_out, raw);
	inflateEnd(&zs);
	free(raw);
	cr_assert_not_null(msg, "protobuf does not decode");
	return msg;
}

static const char *str(const Perftools__Profiles__Profile *m, int64_t idx)
{
	cr_assert(idx >= 0 && (size_t)idx < m->n_string_table, "string index %ld out of range",
		  (long)idx);
	return m->string_table[idx];
}

static Perftools__Profiles__Profile *encode_sample(struct profile **out)
{
	struct profile *p = sample_profile();
	Perftools__Profiles__Profile *m;
	void *data;
	size_t len;

	cr_assert_eq(pprof_encode(p, &data, &len), 0);
	m = decode(data, len);
	free(data);
	*out = p;
	return m;
}

Test(pprof, header_and_string_table)
{
	struct profile *p;
	Perftools__Profiles__Profile *m = encode_sample(&p);

	cr_assert_geq(m->n_string_table, 1);
	cr_assert_str_eq(m->string_table[0], "");
	for (size_t i = 0; i < m->n_string_table; i++) {
		cr_assert(output_utf8_valid(m->string_table[i]), "string %zu not UTF-8", i);
		for (size_t j = 0; j < i; j++)
			cr_assert_str_neq(m->string_table[i], m->string_table[j], "duplicate");
	}
	cr_assert_eq(m->n_sample_type, 2);
	cr_assert_str_eq(str(m, m->sample_type[0]->type), "samples");
	cr_assert_str_eq(str(m, m->sample_type[0]->unit), "count");
	cr_assert_str_eq(str(m, m->sample_type[1]->type), "cpu");
	cr_assert_str_eq(str(m, m->sample_type[1]->unit), "nanoseconds");
	cr_assert_str_eq(str(m, m->default_sample_type), "cpu");
	cr_assert_not_null(m->period_type);
	cr_assert_str_eq(str(m, m->period_type->type), "cpu");
	cr_assert_str_eq(str(m, m->period_type->unit), "nanoseconds");
	cr_assert_eq(m->period, 10000000);
	cr_assert_eq(m->time_nanos, 1700000000123456789);
	cr_assert_eq(m->duration_nanos, 2500000000);
	perftools__profiles__profile__free_unpacked(m, NULL);
	profile_free(p);
}

Test(pprof, mappings)
{
	struct profile *p;
	Perftools__Profiles__Profile *m = encode_sample(&p);
	Perftools__Profiles__Mapping *exe, *libc;

	cr_assert_eq(m->n_mapping, 2);
	exe = m->mapping[0];
	libc = m->mapping[1];
	cr_assert_eq(exe->id, 1);
	cr_assert_eq(exe->memory_start, 0x400000);
	cr_assert_eq(exe->memory_limit, 0x500000);
	cr_assert_eq(exe->file_offset, 0);
	cr_assert_str_eq(str(m, exe->filename), "/usr/bin/demo");
	cr_assert_str_eq(str(m, exe->build_id), "0123456789abcdef");
	cr_assert(exe->has_functions && exe->has_filenames && exe->has_line_numbers &&
		  exe->has_inline_frames);
	cr_assert_eq(libc->id, 2);
	cr_assert_eq(libc->memory_start, 0x7f0000000000);
	cr_assert_eq(libc->memory_limit, 0x7f0000200000);
	cr_assert_eq(libc->file_offset, 0x28000);
	cr_assert_str_eq(str(m, libc->filename), "/lib/x86_64-linux-gnu/libc.so.6");
	cr_assert_eq(libc->build_id, 0);
	cr_assert(libc->has_functions && !libc->has_filenames && !libc->has_line_numbers &&
		  !libc->has_inline_frames);
	perftools__profiles__profile__free_unpacked(m, NULL);
	profile_free(p);
}

Test(pprof, functions)
{
	static const struct {
		const char *name, *system_name, *file;
		int64_t start_line;
	} want[] = {
		{ "main", "", "demo.c", 10 },
		{ "work", "", "demo.c", 20 },
		{ "helper", "", "util.h", 30 },
		{ "__libc_start_call_main", "", "", 0 },
		{ "bad\xef\xbf\xbdname", "", "", 0 },
		{ "ns::Widget::poll()", "_ZN2ns6Widget4pollEv", "w.cc", 5 },
	};
	struct profile *p;
	Perftools__Profiles__Profile *m = encode_sample(&p);

	cr_assert_eq(m->n_function, 6);
	for (size_t i = 0; i < 6; i++) {
		const Perftools__Profiles__Function *f = m->function[i];

		cr_assert_eq(f->id, i + 1);
		cr_assert_str_eq(str(m, f->name), want[i].name);
		cr_assert_str_eq(str(m, f->system_name), want[i].system_name);
		cr_assert_str_eq(str(m, f->filename), want[i].file);
		cr_assert_eq(f->start_line, want[i].start_line);
	}
	perftools__profiles__profile__free_unpacked(m, NULL);
	profile_free(p);
}

Test(pprof, locations_keep_inline_order)
{
	static const struct {
		uint64_t mapping_id, address;
		size_t nlines;
		uint64_t function_id[2];
		int64_t line[2];
	} want[] = {
		{ 1, 0x401000, 2, { 3, 2 }, { 31, 22 } }, /* helper inlined into work */
		{ 1, 0x401100, 1, { 1 }, { 12 } },
		{ 2, 0x7f0000001234, 1, { 4 }, { 0 } },
		{ 0, 0, 1, { 5 }, { 0 } },
		{ 1, 0x402000, 1, { 6 }, { 7 } },
	};
	struct profile *p;
	Perftools__Profiles__Profile *m = encode_sample(&p);

	cr_assert_eq(m->n_location, 5);
	for (size_t i = 0; i < 5; i++) {
		const Perftools__Profiles__Location *l = m->location[i];

		cr_assert_eq(l->id, i + 1);
		cr_assert_eq(l->mapping_id, want[i].mapping_id);
		cr_assert_eq(l->address, want[i].address);
		cr_assert_eq(l->n_line, want[i].nlines);
		for (size_t j = 0; j < l->n_line; j++) {
			cr_assert_eq(l->line[j]->function_id, want[i].function_id[j]);
			cr_assert_eq(l->line[j]->line, want[i].line[j]);
		}
	}
	perftools__profiles__profile__free_unpacked(m, NULL);
	profile_free(p);
}

Test(pprof, samples_and_labels)
{
	struct profile *p;
	Perftools__Profiles__Profile *m = encode_sample(&p);
	const Perftools__Profiles__Sample *s1, *s2;
	const Perftools__Profiles__Label *l;

	cr_assert_eq(m->n_sample, 2);
	s1 = m->sample[0];
	s2 = m->sample[1];
	cr_assert_eq(s1->n_location_id, 3);
	cr_assert(s1->location_id[0] == 1 && s1->location_id[1] == 2 && s1->location_id[2] == 3,
		  "leaf first");
	cr_assert_eq(s1->n_value, 2);
	cr_assert(s1->value[0] == 3 && s1->value[1] == 30000000);
	cr_assert_eq(s1->n_label, 2);
	l = s1->label[0];
	cr_assert_str_eq(str(m, l->key), "thread_name");
	cr_assert_str_eq(str(m, l->str), "worker-1");
	cr_assert(l->num == 0 && l->num_unit == 0);
	l = s1->label[1];
	cr_assert_str_eq(str(m, l->key), "pid");
	cr_assert_eq(l->str, 0);
	cr_assert_eq(l->num, 1234);
	cr_assert_str_eq(str(m, l->num_unit), "pid");

	cr_assert_eq(s2->n_location_id, 4);
	cr_assert(s2->location_id[0] == 4 && s2->location_id[3] == 3);
	cr_assert(s2->value[0] == 1 && s2->value[1] == 10000000);
	cr_assert_eq(s2->n_label, 2);
	cr_assert_str_eq(str(m, s2->label[0]->str), "worker-2");
	l = s2->label[1];
	cr_assert_str_eq(str(m, l->key), "tid");
	cr_assert(l->num == 77 && l->num_unit == 0 && l->str == 0);
	perftools__profiles__profile__free_unpacked(m, NULL);
	profile_free(p);
}

Test(pprof, empty_profile_is_valid)
{
	static const struct profile_value_type t = { "samples", "count" };
	struct profile *p = profile_new(&t, 1, 0, t, 1);
	Perftools__Profiles__Profile *m;
	void *data;
	size_t len;

	cr_assert_eq(pprof_encode(p, &data, &len), 0);
	m = decode(data, len);
	cr_assert_str_eq(m->string_table[0], "");
	cr_assert_eq(m->n_sample, 0);
	cr_assert_eq(m->n_sample_type, 1);
	cr_assert_str_eq(str(m, m->default_sample_type), "samples");
	perftools__profiles__profile__free_unpacked(m, NULL);
	free(data);
	profile_free(p);
}

/* Runs `go tool pprof <options> file`; returns its output and exit status. */
static char *run_pprof(const char *options, const char *file, int *status)
{
	char cmd[512], *out = NULL;
	size_t len = 0;
	FILE *p, *mem = open_memstream(&out, &len);
	char buf[4096];
	size_t n;

	snprintf(cmd, sizeof(cmd), "go tool pprof %s '%s' 2>&1", options, file);
	p = popen(cmd, "r");
	cr_assert_not_null(p);
	while ((n = fread(buf, 1, sizeof(buf), p)) > 0)
		fwrite(buf, 1, n, mem);
	*status = pclose(p);
	fclose(mem);
	return out;
}

/* The file must be accepted by the reference reader, not only by our own decoder. */
Test(pprof, go_tool_pprof_reads_it)
{
	struct profile *p = sample_profile();
	char dir[] = "/tmp/asyncprof-pprof-XXXXXX", path[64];
	char *out;
	int status, dirfd;

	if (system("command -v go >/dev/null 2>&1") != 0)
		cr_skip_test("go is not installed");
	cr_assert_not_null(mkdtemp(dir));
	dirfd = open(dir, O_RDONLY | O_DIRECTORY);
	cr_assert_eq(pprof_write(p, dirfd, "cpu.pb.gz"), 0);
	close(dirfd);
	snprintf(path, sizeof(path), "%s/cpu.pb.gz", dir);

	out = run_pprof("-symbolize=none -raw", path, &status);
	cr_assert(WIFEXITED(status) && WEXITSTATUS(status) == 0, "pprof -raw failed:\n%s", out);
	cr_assert_not_null(strstr(out, "PeriodType: cpu nanoseconds"), "%s", out);
	cr_assert_not_null(strstr(out, "Period: 10000000"), "%s", out);
	cr_assert_not_null(strstr(out, "samples/count cpu/nanoseconds[dflt]"), "%s", out);
	cr_assert_not_null(strstr(out, "3   30000000: 1 2 3 "), "%s", out);
	cr_assert_not_null(strstr(out, "thread_name:[worker-1]"), "%s", out);
	cr_assert_not_null(strstr(out, "pid:[1234 pid]"), "%s", out);
	cr_assert_not_null(strstr(out, "tid:[77]"), "%s", out);
	cr_assert_not_null(strstr(out, "helper util.h:31"), "%s", out);
	cr_assert_not_null(strstr(out, "work demo.c:22"), "%s", out);
	cr_assert_not_null(strstr(out, "0x401100 M=1 main demo.c:12"), "%s", out);
	cr_assert_not_null(strstr(out, "/usr/bin/demo 0123456789abcdef [FN][FL][LN][IN]"), "%s",
			   out);
	cr_assert_not_null(strstr(out, "/lib/x86_64-linux-gnu/libc.so.6  [FN]"), "%s", out);
	free(out);

	out = run_pprof("-symbolize=none -traces", path, &status);
	cr_assert(WIFEXITED(status) && WEXITSTATUS(status) == 0, "pprof -traces failed:\n%s", out);
	cr_assert_not_null(strstr(out, "Type: cpu"), "%s", out);
	cr_assert_not_null(strstr(out, "ns::Widget::poll()"), "%s", out);
	cr_assert_not_null(strstr(out, "bad\xef\xbf\xbdname"), "%s", out);
	cr_assert_not_null(strstr(out, "__libc_start_call_main"), "%s", out);
	free(out);

	unlink(path);
	rmdir(dir);
	profile_free(p);
}

/*
 * A task frame of a generic type, read as a user reads it (pprof's default symbolization, which
 * "demangles" names it takes for linkage names): whole, with every <...>, not "[task] ::poll".
 */
Test(pprof, go_tool_pprof_keeps_generic_task_names)
{
	static const char *const names[] = {
		"[task] <hyper::server::server::new_svc::NewSvcTask<I,N,S,E,W> as "
		"core::future::future::Future>::poll",
		"[spawn] hyper::common::exec::Exec::execute (exec.rs:49)",
	};
	struct profile *p = tb_cpu_profile();
	char dir[] = "/tmp/asyncprof-pprof-XXXXXX", path[64];
	uint64_t locs[2];
	char *out;
	int status, dirfd;

	if (system("command -v go >/dev/null 2>&1") != 0)
		cr_skip_test("go is not installed");
	for (size_t i = 0; i < 2; i++) {
		struct profile_line line = { .function_id = profile_add_function(p, names[i], NULL,
										 NULL, 0) };

		locs[i] = profile_add_location(p, 0, 0, &line, 1);
	}
	tb_sample_at(p, 3, "worker", locs, 2);
	cr_assert_not_null(mkdtemp(dir));
	dirfd = open(dir, O_RDONLY | O_DIRECTORY);
	cr_assert_eq(pprof_write(p, dirfd, "cpu.pb.gz"), 0);
	close(dirfd);
	snprintf(path, sizeof(path), "%s/cpu.pb.gz", dir);
	out = run_pprof("-top", path, &status);
	cr_assert(WIFEXITED(status) && WEXITSTATUS(status) == 0, "pprof -top failed:\n%s", out);
	for (size_t i = 0; i < 2; i++)
		cr_assert_not_null(strstr(out, names[i]), "pprof -top lost the name %s:\n%s",
				   names[i], out);
	free(out);
	unlink(path);
	rmdir(dir);
	profile_free(p);
}
