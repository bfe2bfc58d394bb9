// SPDX-License-Identifier: MIT
/* What a recording leaves: its list of profiles, the files made from it, report.json, the
 * terminal summary and the warnings. */
#include <errno.h>
#include <stdio.h>
#include <string.h>

#include "internal.h"
#include "capture/offcpu.h"
#include "export/window.h"
#include "model/collector.h"
#include "model/profile.h"
#include "output/flamegraph.h"
#include "output/folded.h"
#include "output/pprof.h"
#include "output/report.h"
#include "output/summary.h"
#include "output/timeline.h"
#include "symbols/symbolizer.h"
#include "target/process.h"

static void add_profile(struct session *s, struct session_window *w, const char *stem,
			struct profile *prof, size_t folded_value, const char *root_label,
			const char *what)
{
	struct session_profile *p = &w->profiles[w->nprofiles++];

	*p = (struct session_profile){ stem, prof, folded_value, root_label, "" };
	snprintf(p->title, sizeof(p->title), "%s: %s (pid %d)", what, s->proc->comm, s->opts.pid);
}

void session_current_profiles(struct session *s, struct session_window *w)
{
	memset(w, 0, sizeof(*w));
	add_profile(s, w, "cpu", collector_profile(s->col), 0, "thread_name", "CPU");
	if (s->cap.wait_profile && collector_wait_profile(s->col))
		add_profile(s, w, "wait", collector_wait_profile(s->col), 1, NULL,
			    "Task wait (suspended time)");
	if (collector_alloc_profile(s->col))
		add_profile(s, w, "alloc", collector_alloc_profile(s->col), 1, NULL,
			    "Allocations (sampled bytes)");
	if (s->off)
		add_profile(s, w, "offcpu", offcpu_profile(s->off), 1, "thread_name",
			    "Off-CPU (time blocked)");
}

/* Says what the profile will lack when the main executable has no symbols or no DWARF. */
static const char *symbol_warning(struct process *proc)
{
	const struct proc_mapping *m = process_exe_mapping(proc);
	struct elf_object *obj = m ? symbolizer_object(proc->sym, proc->pid, m) : NULL;

	if (!obj)
		return "cannot read the target's executable: its frames show as [unknown]";
	if (!elf_object_has_symbols(obj))
		return "the target's executable has no symbols (stripped): its own frames show "
		       "as [unknown] (name); libraries are still resolved";
	if (!elf_object_has_lines(obj))
		return "the target's executable has no DWARF debug info: no file:line and "
		       "no inlined frames for its code";
	return NULL;
}

static void warn(struct session *s, const char *w)
{
	if (w && s->nwarnings < SESSION_MAX_WARNINGS)
		s->warnings[s->nwarnings++] = w;
}

/* The warnings and the lost events, once the recording has stopped. */
static void gather(struct session *s)
{
	const struct collector_stats *st = collector_stats(s->col);

	if (s->gathered)
		return;
	s->gathered = true;
	memset(&s->loss, 0, sizeof(s->loss));
	memcpy(s->loss.received, st->task_events_by_kind, sizeof(s->loss.received));
	if (s->rt->event_loss)
		s->rt->event_loss(s->rt_state, &s->loss);
	if (s->no_kallsyms)
		warn(s, "kernel symbols unavailable");
	warn(s, s->budget_warning);
	if (s->off)
		warn(s, offcpu_warning(s->off));
	if (s->rt->warnings)
		s->nwarnings += s->rt->warnings(s->rt_state, s->warnings + s->nwarnings,
						SESSION_MAX_WARNINGS - 4 - s->nwarnings);
	if (event_loss_dropped(&s->loss)) {
		snprintf(s->loss_warning, sizeof(s->loss_warning),
			 "%llu task events were dropped (the ring buffer was full): the figures "
			 "they feed are incomplete (report.json: task_events)",
			 (unsigned long long)event_loss_dropped(&s->loss));
		warn(s, s->loss_warning);
	}
	if (s->counters[CNT_DROPS])
		warn(s, "samples were dropped: the ring buffer was full");
	if (st->samples == 0)
		warn(s, "no samples: the target did not run on a CPU");
	warn(s, symbol_warning(s->proc));
}

size_t session_warnings(struct session *s, const char **out, size_t max)
{
	if (!s->stopped)
		return 0;
	gather(s);
	for (size_t i = 0; i < s->nwarnings && i < max; i++)
		out[i] = s->warnings[i];
	return s->nwarnings;
}

/* Writes STEM.pb.gz, STEM.folded and STEM.svg of p in dirfd (dir in messages). */
static int write_profile(const struct session_profile *p, int dirfd, const char *dir)
{
	struct flamegraph_opts fg = { .title = p->title, .root_label_key = p->root_label };
	char file[64];
	int err;

	snprintf(file, sizeof(file), "%s.pb.gz", p->stem);
	err = pprof_write(p->prof, dirfd, file);
	if (!err) {
		snprintf(file, sizeof(file), "%s.folded", p->stem);
		err = folded_write_file(p->prof, p->folded_value, p->root_label, dirfd, file);
	}
	if (!err) {
		snprintf(file, sizeof(file), "%s.svg", p->stem);
		err = flamegraph_write_file(p->prof, p->folded_value, &fg, dirfd, file);
	}
	if (err)
		fprintf(stderr, "asyncprof: cannot write %s/%s: %s\n", dir, file, strerror(-err));
	return err;
}

/* report.json's view of the recording; its json_t members are new references for the caller
 * to drop (report_info_free). */
static void report_info(struct session *s, struct report_info *info,
			const char *stems[SESSION_MAX_PROFILES])
{
	const struct collector_stats *st = collector_stats(s->col);
	struct task_table *tasks = collector_tasks(s->col);
	const struct session_window *w = &s->last;
	size_t omitted = 0;

	*info = (struct report_info){
		.pid = s->opts.pid,
		.comm = s->proc->comm,
		.cmdline = s->proc->cmdline,
		.exe = s->proc->exe,
		.start_time_ns = w->start_ns,
		.duration_ns = w->duration_ns,
		.frequency_hz = s->opts.freq_hz,
		.samples = st->samples,
		.probe_samples = st->probe_samples,
		.drops = s->counters[CNT_DROPS],
		.truncated_stacks = st->truncated_stacks,
		.unwind_errors = st->unwind_errors,
		.threads = st->threads,
		.profiler_cpu_s = s->cpu_end_s,
		.profiler_recording_cpu_s = s->cpu_end_s - s->cpu_start_s,
		.profiler_max_rss_kb = s->max_rss_kb,
		.runtime = session_runtime(s),
		.mode = task_mode_name(s->opts.mode),
		.tasks = tasks ? task_table_json(tasks, REPORT_MAX_TASKS, &omitted) : NULL,
		.spawn_sites = tasks ? task_sites_json(tasks) : NULL,
		.tasks_unnamed = tasks ? task_table_unnamed(tasks) : 0,
		.runtime_json = s->rt->report ? s->rt->report(s->rt_state) : NULL,
		.task_events = tasks ? event_loss_json(&s->loss) : NULL,
		.duty = s->budget ? budget_json(s->budget) : NULL,
		.estimated = budget_fraction(s->budget) < 1,
		.offcpu = s->off ? offcpu_json(s->off) : NULL,
		.timeline = s->timeline ? timeline_json(s->timeline, s->start_ns,
							event_loss_dropped(&s->loss))
					: NULL,
		.command_ended = s->command,
		.command_status = s->command_status,
		.command_stopped_with = s->command_stopped_with,
		.warnings = s->warnings,
		.nwarnings = s->nwarnings,
	};
	info->tasks_omitted = omitted;
	for (size_t i = 0; i < w->nprofiles; i++)
		stems[i] = w->profiles[i].stem;
	info->stems = stems;
	info->nstems = w->nprofiles;
	info->runtime_key = info->runtime_json ? s->rt->name : NULL;
}

static void report_info_free(struct report_info *info)
{
	json_decref(info->tasks);
	json_decref(info->spawn_sites);
	json_decref(info->runtime_json);
	json_decref(info->task_events);
	json_decref(info->duty);
	json_decref(info->offcpu);
	json_decref(info->timeline);
}

int session_write_outputs(struct session *s, int dirfd, const char *dir)
{
	const char *stems[SESSION_MAX_PROFILES];
	struct report_info info;
	int err, ret = 0;

	if (!s->stopped)
		return -EINVAL;
	gather(s);
	for (size_t i = 0; i < s->last.nprofiles; i++) {
		err = write_profile(&s->last.profiles[i], dirfd, dir);
		if (err)
			ret = err;
	}
	if (s->timeline) {
		err = timeline_write(s->timeline, dirfd, TIMELINE_FILE);
		if (err) {
			fprintf(stderr, "asyncprof: cannot write %s/%s: %s\n", dir, TIMELINE_FILE,
				strerror(-err));
			ret = err;
		}
	}
	report_info(s, &info, stems);
	err = report_write(&info, collector_profile(s->col), dirfd);
	if (err) {
		fprintf(stderr, "asyncprof: cannot write %s/report.json: %s\n", dir,
			strerror(-err));
		ret = err;
	}
	report_info_free(&info);
	return ret;
}

void session_print_summary(struct session *s, FILE *f)
{
	const struct collector_stats *st = collector_stats(s->col);
	struct task_table *tasks = collector_tasks(s->col);
	double elapsed = (s->stop_ns - s->start_ns) / 1e9;
	double cpu = s->cpu_end_s - s->cpu_start_s;

	gather(s);
	fprintf(f,
		"\n%llu samples over %.1fs from %llu threads (%llu dropped, %llu truncated "
		"stacks, %llu unwind errors)\n",
		(unsigned long long)st->samples, elapsed, (unsigned long long)st->threads,
		(unsigned long long)s->counters[CNT_DROPS],
		(unsigned long long)st->truncated_stacks, (unsigned long long)st->unwind_errors);
	if (st->probe_samples)
		fprintf(f,
			"probes: %.1f%% of these samples (%llu) are the probes' own cost "
			"([uprobe] frames: the breakpoint, the handlers, the probed instruction "
			"stepped out of line)\n",
			100.0 * st->probe_samples / st->samples,
			(unsigned long long)st->probe_samples);
	fprintf(f,
		"profiler: %.2fs CPU while recording (%.2f%% of one core), %.2fs in all, peak "
		"RSS %.1f MB\n",
		cpu, 100 * cpu / elapsed, s->cpu_end_s, s->max_rss_kb / 1024.0);
	summary_print_top(f, collector_profile(s->col), 1, 10);
	if (s->budget)
		fprintf(f, "%s\n", s->budget_line);
	if (tasks) {
		task_table_print_summary(f, tasks, 10000000ULL, &s->loss);
		event_loss_print(f, &s->loss);
	}
	if (s->off)
		offcpu_print_summary(f, s->off);
	if (s->timeline)
		timeline_print_summary(s->timeline, s->start_ns, event_loss_dropped(&s->loss), f);
}

int session_export_otlp(struct session *s, struct exporter *ex, const struct resource *res,
			unsigned int wait_ms)
{
	const struct session_window *sw = session_profiles(s);
	struct window_profile profiles[SESSION_MAX_PROFILES];
	struct window w = { res, session_comm(s), profiles, sw->nprofiles, sw->start_ns };
	struct exporter_stats st;
	int err;

	for (size_t i = 0; i < sw->nprofiles; i++)
		profiles[i] = (struct window_profile){ sw->profiles[i].stem, sw->profiles[i].prof };
	err = window_export_once(ex, &w, wait_ms, &st);
	if (!err) {
		fprintf(stderr, "asyncprof: profiles sent to %s (%llu bytes)\n", exporter_url(ex),
			(unsigned long long)st.sent_bytes);
		return 0;
	}
	if (err != -EIO)
		fprintf(stderr, "asyncprof: cannot export the profiles: %s\n", strerror(-err));
	else
		fprintf(stderr,
			"asyncprof: cannot export the profiles to %s: %s; %s (%llu bytes); "
			"the files are written\n",
			exporter_url(ex), st.last_error[0] ? st.last_error : "no answer",
			st.dropped_windows ? "the window was dropped"
					   : "not delivered in time, the window is dropped",
			(unsigned long long)(st.dropped_bytes + st.queued_bytes));
	return -EIO;
}
