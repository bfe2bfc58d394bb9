// SPDX-License-Identifier: MIT
#include "report.h"
#include "file.h"
#include "summary.h"

#include <errno.h>
#include <jansson.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <signal.h>
#include <sys/wait.h>
#include <time.h>

/*
 * json_object_set_new() and json_array_append_new() take over the value they are given, also
 * when they fail, and fail when given NULL; so OR-ing their results catches a failed
 * allocation anywhere in a builder without a check after each call.
 */

/* A JSON string for s: null for NULL, repaired when not UTF-8 (jansson refuses that). */
static json_t *text(const char *s)
{
	json_t *j;
	char *fixed;

	if (!s)
		return json_null();
	j = json_string(s);
	if (j)
		return j;
	fixed = output_utf8_dup(s);
	if (!fixed)
		return NULL;
	j = json_string(fixed);
	free(fixed);
	return j;
}

static json_t *integer(uint64_t v)
{
	return json_integer((json_int_t)v);
}

static json_t *percent(int64_t part, int64_t whole)
{
	return json_real(whole ? round(10000.0 * (double)part / (double)whole) / 100 : 0.0);
}

/* ISO 8601 in UTC with milliseconds, e.g. "2024-05-01T12:00:00.250Z". */
static json_t *iso_time(int64_t ns)
{
	time_t secs = (time_t)(ns / 1000000000);
	int ms = (int)(ns % 1000000000 / 1000000);
	char buf[64];
	struct tm tm;

	if (ms < 0) {
		secs--;
		ms += 1000;
	}
	if (!gmtime_r(&secs, &tm))
		return NULL;
	snprintf(buf, sizeof(buf), "%04d-%02d-%02dT%02d:%02d:%02d.%03dZ", tm.tm_year + 1900,
		 tm.tm_mon + 1, tm.tm_mday, tm.tm_hour, tm.tm_min, tm.tm_sec, ms);
	return json_string(buf);
}

/* How the command run ended: its exit code or the signal that killed it ("TERM"), and the
 * signal asyncprof sent it to end it, or null when it ended by itself. */
static json_t *command_exit(const struct report_info *info)
{
	int st = info->command_status, sent = info->command_stopped_with;
	const char *sig = WIFSIGNALED(st) ? sigabbrev_np(WTERMSIG(st)) : NULL;
	const char *sent_name = sent ? sigabbrev_np(sent) : NULL;

	return json_pack("{s:o, s:o}", WIFEXITED(st) ? "code" : "signal",
			 WIFEXITED(st) ? json_integer(WEXITSTATUS(st))
				       : sig ? json_string(sig) : json_integer(WTERMSIG(st)),
			 "sent_by_asyncprof", sent_name ? json_string(sent_name) : json_null());
}

static json_t *target(const struct report_info *info)
{
	json_t *t = json_object();
	int err = 0;

	if (!t)
		return NULL;
	err |= json_object_set_new(t, "pid", json_integer(info->pid));
	err |= json_object_set_new(t, "comm", text(info->comm));
	err |= json_object_set_new(t, "cmdline", text(info->cmdline));
	err |= json_object_set_new(t, "exe", text(info->exe));
	if (info->command_ended)
		err |= json_object_set_new(t, "exit", command_exit(info));
	if (err) {
		json_decref(t);
		return NULL;
	}
	return t;
}

/* What profiling cost the profiler itself, so users can judge the overhead of each run. */
static json_t *profiler(const struct report_info *info)
{
	json_t *p = json_object();
	double share = info->duration_ns > 0 ?
			       info->profiler_recording_cpu_s / (info->duration_ns / 1e9) : 0;

	if (!p)
		return NULL;
	if (json_object_set_new(p, "cpu_s", json_real(info->profiler_cpu_s)) ||
	    json_object_set_new(p, "recording_cpu_s", json_real(info->profiler_recording_cpu_s)) ||
	    json_object_set_new(p, "cpu_pct_of_one_core", json_real(100 * share)) ||
	    json_object_set_new(p, "max_rss_kb", integer(info->profiler_max_rss_kb))) {
		json_decref(p);
		return NULL;
	}
	return p;
}

static json_t *warnings(const struct report_info *info)
{
	json_t *a = json_array();
	int err = 0;

	if (!a)
		return NULL;
	for (size_t i = 0; i < info->nwarnings; i++)
		err |= json_array_append_new(a, text(info->warnings[i]));
	if (err) {
		json_decref(a);
		return NULL;
	}
	return a;
}

static json_t *top_functions(const struct profile *cpu, const struct func_stat *stats, size_t n)
{
	int64_t total = profile_total(cpu, cpu->default_sample_type);
	json_t *a = json_array();
	int err = 0;

	if (!a)
		return NULL;
	for (size_t i = 0; i < n && i < REPORT_TOP_FUNCTIONS && !err; i++) {
		json_t *fn = json_object();

		if (!fn) {
			err = -1;
			break;
		}
		err |= json_object_set_new(fn, "name", text(stats[i].name));
		err |= json_object_set_new(fn, "self", json_integer(stats[i].self));
		err |= json_object_set_new(fn, "self_pct", percent(stats[i].self, total));
		err |= json_object_set_new(fn, "total", json_integer(stats[i].total));
		err |= json_object_set_new(fn, "total_pct", percent(stats[i].total, total));
		err |= json_array_append_new(a, fn);
	}
	if (err) {
		json_decref(a);
		return NULL;
	}
	return a;
}

static json_t *files(const struct report_info *info, const struct profile *cpu)
{
	json_t *o = json_object();
	int err = 0;

	if (!o || !cpu)
		return o;
	for (size_t i = 0; i < info->nstems; i++) {
		static const struct {
			const char *key, *suffix;
		} kinds[] = { { "pprof", ".pb.gz" }, { "folded", ".folded" }, { "svg", ".svg" } };
		char key[64], file[64];

		for (size_t k = 0; k < sizeof(kinds) / sizeof(kinds[0]); k++) {
			snprintf(key, sizeof(key), "%s_%s", info->stems[i], kinds[k].key);
			snprintf(file, sizeof(file), "%s%s", info->stems[i], kinds[k].suffix);
			err |= json_object_set_new(o, key, json_string(file));
		}
	}
	if (err) {
		json_decref(o);
		return NULL;
	}
	return o;
}

static json_t *report_json(const struct report_info *info, const struct profile *cpu,
			   const struct func_stat *stats, size_t nstats)
{
	json_t *r = json_object();
	int err = 0;

	if (!r)
		return NULL;
	err |= json_object_set_new(r, "version", json_integer(1));
	err |= json_object_set_new(r, "target", target(info));
	err |= json_object_set_new(r, "start_time", iso_time(info->start_time_ns));
	err |= json_object_set_new(r, "duration_s", json_real((double)info->duration_ns / 1e9));
	err |= json_object_set_new(r, "frequency_hz", json_integer(info->frequency_hz));
	err |= json_object_set_new(r, "samples", integer(info->samples));
	err |= json_object_set_new(r, "probe_samples", integer(info->probe_samples));
	err |= json_object_set_new(r, "drops", integer(info->drops));
	err |= json_object_set_new(r, "truncated_stacks", integer(info->truncated_stacks));
	err |= json_object_set_new(r, "unwind_errors", integer(info->unwind_errors));
	err |= json_object_set_new(r, "threads", integer(info->threads));
	err |= json_object_set_new(r, "profiler", profiler(info));
	err |= json_object_set_new(r, "warnings", warnings(info));
	if (cpu) {
		const struct profile_value_type *t = &cpu->sample_types[cpu->default_sample_type];

		err |= json_object_set_new(r, "top_functions_unit", text(t->unit));
		err |= json_object_set_new(r, "top_functions", top_functions(cpu, stats, nstats));
	} else {
		err |= json_object_set_new(r, "top_functions", json_array());
	}
	err |= json_object_set_new(r, "files", files(info, cpu));
	if (info->offcpu)
		err |= json_object_set_new(r, "offcpu", json_incref(info->offcpu));
	if (info->timeline)
		err |= json_object_set_new(r, "timeline", json_incref(info->timeline));
	if (info->runtime) {
		err |= json_object_set_new(r, "runtime", json_string(info->runtime));
		err |= json_object_set_new(r, "mode", json_string(info->mode));
		err |= json_object_set_new(r, "tasks", info->tasks ? json_incref(info->tasks)
								   : json_array());
		err |= json_object_set_new(r, "tasks_omitted", integer(info->tasks_omitted));
		err |= json_object_set_new(r, "tasks_unnamed", integer(info->tasks_unnamed));
		err |= json_object_set_new(r, "spawn_sites",
					   info->spawn_sites ? json_incref(info->spawn_sites)
							     : json_array());
		if (info->task_events)
			err |= json_object_set_new(r, "task_events",
						   json_incref(info->task_events));
		if (info->duty)
			err |= json_object_set_new(r, "duty", json_incref(info->duty));
		err |= json_object_set_new(r, "estimated", json_boolean(info->estimated));
	}
	if (info->runtime_key && info->runtime_json)
		err |= json_object_set_new(r, info->runtime_key, json_incref(info->runtime_json));
	if (err) {
		json_decref(r);
		return NULL;
	}
	return r;
}

int report_write(const struct report_info *info, const struct profile *cpu, int dirfd)
{
	struct func_stat *stats = NULL;
	struct output_file of;
	size_t nstats = 0;
	json_t *root;
	int err = 0;

	if (cpu)
		err = summary_top_functions(cpu, cpu->default_sample_type, &stats, &nstats);
	if (err)
		return err;
	root = report_json(info, cpu, stats, nstats);
	free(stats);
	if (!root)
		return -ENOMEM;
	err = output_open(&of, dirfd, REPORT_FILE);
	if (err)
		goto out;
	/*
	 * Indented, in insertion order, with the final newline text tools expect: the file is
	 * read by people as much as by scripts.
	 */
	if (json_dumpf(root, of.f, JSON_INDENT(2) | JSON_REAL_PRECISION(12)) < 0 ||
	    fputc('\n', of.f) == EOF) {
		err = output_fail(&of, -EIO);
		goto out;
	}
	err = output_commit(&of);
out:
	json_decref(root);
	return err;
}
