// SPDX-License-Identifier: MIT
#include <criterion/criterion.h>
#include <fcntl.h>
#include <dirent.h>
#include <errno.h>
#include <jansson.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "model/profile.h"
#include "profile_builder.h"
#include "output/report.h"

static const char *const warnings[] = { "no debug info for /usr/bin/demo", "bad\xffutf8" };

static const char *const cpu_stem[] = { "cpu" };

static struct report_info sample_info(void)
{
	return (struct report_info){
		.pid = 4242,
		.comm = "demo",
		.cmdline = "/usr/bin/demo --serve 8080",
		.exe = NULL,
		.start_time_ns = 1700000000123456789,
		.duration_ns = 2500000000,
		.frequency_hz = 99,
		.samples = 1000,
		.drops = 3,
		.truncated_stacks = 4,
		.unwind_errors = 5,
		.threads = 6,
		.warnings = warnings,
		.nwarnings = 2,
		.stems = cpu_stem,
		.nstems = 1,
	};
}

/* 25 functions f00..f24 where fNN is the leaf of NN + 1 samples, all under main. */
static struct profile *sample_profile(void)
{
	struct profile *p = tb_cpu_profile();

	for (int i = 0; i < 25; i++) {
		char name[16];

		snprintf(name, sizeof(name), "f%02d", i);
		tb_sample(p, i + 1, "t", name, "main", NULL);
	}
	return p;
}

/* Writes the report into a fresh directory and parses it back. */
static json_t *write_and_load(const struct report_info *info, const struct profile *cpu)
{
	char dir[] = "/tmp/asyncprof-report-XXXXXX", path[64];
	json_error_t error;
	struct dirent *de;
	size_t files = 0;
	json_t *root;
	int dirfd;
	DIR *d;

	cr_assert_not_null(mkdtemp(dir));
	dirfd = open(dir, O_RDONLY | O_DIRECTORY);
	cr_assert_eq(report_write(info, cpu, dirfd), 0);
	close(dirfd);
	d = opendir(dir);
	while ((de = readdir(d))) {
		if (strcmp(de->d_name, ".") && strcmp(de->d_name, "..")) {
			cr_assert_str_eq(de->d_name, "report.json", "stray file");
			files++;
		}
	}
	closedir(d);
	cr_assert_eq(files, 1);
	snprintf(path, sizeof(path), "%s/report.json", dir);
	root = json_load_file(path, 0, &error);
	cr_assert_not_null(root, "report.json does not parse: %s (line %d)", error.text,
			   error.line);
	unlink(path);
	rmdir(dir);
	return root;
}

static void assert_int(json_t *obj, const char *key, json_int_t want)
{
	json_t *v = json_object_get(obj, key);

	cr_assert(json_is_integer(v), "%s is not an integer", key);
	cr_assert_eq(json_integer_value(v), want, "%s", key);
}

static void assert_str(json_t *obj, const char *key, const char *want)
{
	json_t *v = json_object_get(obj, key);

	cr_assert(json_is_string(v), "%s is not a string", key);
	cr_assert_str_eq(json_string_value(v), want, "%s", key);
}

static void assert_real(json_t *obj, const char *key, double want)
{
	json_t *v = json_object_get(obj, key);

	cr_assert(json_is_number(v), "%s is not a number", key);
	cr_assert_float_eq(json_number_value(v), want, 1e-9, "%s", key);
}

Test(report, run_fields)
{
	struct report_info info = sample_info();
	struct profile *p = sample_profile();
	json_t *r = write_and_load(&info, p), *target, *w;

	assert_int(r, "version", 1);
	target = json_object_get(r, "target");
	cr_assert(json_is_object(target));
	assert_int(target, "pid", 4242);
	assert_str(target, "comm", "demo");
	assert_str(target, "cmdline", "/usr/bin/demo --serve 8080");
	cr_assert(json_is_null(json_object_get(target, "exe")));
	assert_str(r, "start_time", "2023-11-14T22:13:20.123Z");
	assert_real(r, "duration_s", 2.5);
	assert_int(r, "frequency_hz", 99);
	assert_int(r, "samples", 1000);
	assert_int(r, "drops", 3);
	assert_int(r, "truncated_stacks", 4);
	assert_int(r, "unwind_errors", 5);
	assert_int(r, "threads", 6);
	w = json_object_get(r, "warnings");
	cr_assert(json_is_array(w) && json_array_size(w) == 2);
	cr_assert_str_eq(json_string_value(json_array_get(w, 0)), warnings[0]);
	cr_assert_str_eq(json_string_value(json_array_get(w, 1)), "bad\xef\xbf\xbdutf8");
	json_decref(r);
	profile_free(p);
}

Test(report, top_functions_and_files)
{
	struct report_info info = sample_info();
	struct profile *p = sample_profile();
	json_t *r = write_and_load(&info, p), *top, *first, *last, *files;

	assert_str(r, "top_functions_unit", "nanoseconds");
	top = json_object_get(r, "top_functions");
	cr_assert(json_is_array(top));
	cr_assert_eq(json_array_size(top), 20, "top 20 of 26 functions");
	first = json_array_get(top, 0);
	assert_str(first, "name", "f24");
	assert_int(first, "self", 25 * TB_PERIOD);
	assert_real(first, "self_pct", 7.69); /* 25 of 325 samples */
	assert_int(first, "total", 25 * TB_PERIOD);
	assert_real(first, "total_pct", 7.69);
	last = json_array_get(top, 19);
	assert_str(last, "name", "f05");
	assert_int(last, "self", 6 * TB_PERIOD);
	assert_real(last, "self_pct", 1.85); /* 6 / 325 = 1.846 */
	/* main is in every stack but never a leaf: not in the top 20 by self. */
	for (size_t i = 0; i < json_array_size(top); i++) {
		json_t *name = json_object_get(json_array_get(top, i), "name");

		cr_assert_str_neq(json_string_value(name), "main");
	}

	files = json_object_get(r, "files");
	assert_str(files, "cpu_pprof", "cpu.pb.gz");
	assert_str(files, "cpu_folded", "cpu.folded");
	assert_str(files, "cpu_svg", "cpu.svg");
	json_decref(r);
	profile_free(p);
}

Test(report, without_cpu_profile)
{
	struct report_info info = sample_info();
	json_t *r, *top, *files;

	info.warnings = NULL;
	info.nwarnings = 0;
	info.start_time_ns = 0;
	r = write_and_load(&info, NULL);
	assert_str(r, "start_time", "1970-01-01T00:00:00.000Z");
	cr_assert_eq(json_array_size(json_object_get(r, "warnings")), 0);
	top = json_object_get(r, "top_functions");
	cr_assert(json_is_array(top) && json_array_size(top) == 0);
	files = json_object_get(r, "files");
	cr_assert(json_is_object(files) && json_object_size(files) == 0);
	json_decref(r);
}

Test(report, fails_on_missing_directory)
{
	struct report_info info = sample_info();
	char dir[] = "/tmp/asyncprof-report-XXXXXX";
	int dirfd;

	cr_assert_not_null(mkdtemp(dir));
	dirfd = open(dir, O_RDONLY | O_DIRECTORY);
	cr_assert_eq(rmdir(dir), 0);
	cr_assert_eq(report_write(&info, NULL, dirfd), -ENOENT);
	close(dirfd);
}

Test(report, offcpu_section_and_files)
{
	struct report_info info = sample_info();
	struct profile *p = sample_profile();
	json_t *off = json_pack("{sI}", "events", (json_int_t)7), *r, *files, *o;
	static const char *const stems[] = { "cpu", "offcpu" };

	info.offcpu = off;
	info.stems = stems;
	info.nstems = 2;
	r = write_and_load(&info, p);
	o = json_object_get(r, "offcpu");
	cr_assert(json_is_object(o), "no offcpu section");
	assert_int(o, "events", 7);
	files = json_object_get(r, "files");
	assert_str(files, "offcpu_pprof", "offcpu.pb.gz");
	assert_str(files, "offcpu_folded", "offcpu.folded");
	assert_str(files, "offcpu_svg", "offcpu.svg");
	json_decref(r);
	json_decref(off);
	profile_free(p);

	info.offcpu = NULL;
	info.nstems = 1;
	p = sample_profile();
	r = write_and_load(&info, p);
	cr_assert_null(json_object_get(r, "offcpu"), "offcpu section without an off-CPU profile");
	cr_assert_null(json_object_get(json_object_get(r, "files"), "offcpu_pprof"));
	json_decref(r);
	profile_free(p);
}
