// SPDX-License-Identifier: MIT
/*
 * The phases of a recording (see session.h). The order of what happens at the start and at the
 * stop is what keeps the profiles right:
 *
 * - the runtime is configured before the sampler opens (the sampler copies the thread-local
 *   block the runtime names, and shares the maps its probes fill), and its probes attach after;
 * - kernel symbols are read once the probes are loaded, so their BPF programs' frames have names,
 *   and the budget starts before that (the runtime's hot probes are on from their attach);
 * - each batch of CPU samples comes after the runtime's events up to it: a sample must find its
 *   task's spawn, name and poll known;
 * - at the stop, off-CPU stops first (blocks that end while the probes are drained are not the
 *   recording's), then the runtime's probes, so what they sent, lost and counted is one set of
 *   events; then the ring buffers are drained, and waits in progress are closed at the stop
 *   time: the recording ends when its loop does, not when the draining and detaching is over.
 */
#include <errno.h>
#include <poll.h>
#include <pthread.h>
#include <signal.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>
#include <sys/resource.h>

#include "internal.h"
#include "capture/offcpu.h"
#include "capture/sampler.h"
#include "model/collector.h"
#include "model/profile.h"
#include "output/timeline.h"
#include "symbols/kallsyms.h"
#include "symbols/symbolizer.h"
#include "target/process.h"
#include "target/recording_lock.h"

/* How long a recording waits for an agent that records its target to give way: the agent
 * polls its locks at least every POLL_MAX_MS, then stops that session. */
#define GIVE_WAY_MS 3000

/* The profiler's own CPU time (user and system, every thread) and peak RSS. */
static double cpu_seconds_self(uint64_t *max_rss_kb)
{
	struct rusage ru;

	getrusage(RUSAGE_SELF, &ru);
	if (max_rss_kb)
		*max_rss_kb = ru.ru_maxrss;
	return ru.ru_utime.tv_sec + ru.ru_utime.tv_usec / 1e6 + ru.ru_stime.tv_sec +
	       ru.ru_stime.tv_usec / 1e6;
}

static int64_t wall_ns(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_REALTIME, &ts);
	return (int64_t)ts.tv_sec * 1000000000LL + ts.tv_nsec;
}

/* Takes the per-process recording lock (before anything is read: an agent that finds the
 * process recorded by another asyncprof tries again at each scan). */
static int lock_target(struct session *s)
{
	pid_t pid = s->opts.pid, holder;

	s->lock_fd = recording_lock(pid, &holder);
	if (s->lock_fd == -EBUSY && s->opts.agent)
		return -EBUSY; /* the agent says it once */
	if (s->lock_fd == -EBUSY) {
		/* An agent gives way to a person's recording (recording_lock.h). */
		s->lock_fd = recording_lock_ask(pid, GIVE_WAY_MS, &holder);
		if (s->lock_fd >= 0 && !s->opts.quiet)
			fprintf(stderr,
				"asyncprof: asyncprof (pid %d) was recording pid %d and gave way "
				"to this recording\n",
				holder, pid);
	}
	if (s->lock_fd == -EBUSY) {
		if (holder)
			fprintf(stderr,
				"asyncprof: cannot attach to pid %d: asyncprof (pid %d) is "
				"recording it; two recordings of one process disturb each "
				"other (each one's probes show in the other's samples): wait "
				"for it to end, or stop it\n",
				pid, holder);
		else
			fprintf(stderr,
				"asyncprof: cannot attach to pid %d: another asyncprof is "
				"recording it; two recordings of one process disturb each "
				"other: wait for it to end, or stop it\n",
				pid);
		return -EBUSY;
	}
	if (s->lock_fd < 0)
		fprintf(stderr,
			"asyncprof: warning: cannot tell whether another asyncprof records "
			"pid %d (%s): two recordings of one process disturb each other\n",
			pid, strerror(-s->lock_fd));
	return 0;
}

static int open_target(struct session *s)
{
	pid_t pid = s->opts.pid;
	char why[256];
	int err;

	err = lock_target(s);
	if (err)
		return err;
	err = process_open(pid, s->sym, &s->proc);
	if (!err && (s->proc->exe[0] == 0 || !s->proc->maps->count))
		err = -EINVAL;
	if (err) {
		int why_err = process_check(pid, why, sizeof(why));

		fprintf(stderr, "asyncprof: cannot attach to pid %d: %s\n", pid,
			why_err ? why : strerror(-err));
		return err;
	}
	return 0;
}

/* The runtime of opts->runtime, or with auto the first of the registry the program has. */
static int open_runtime(struct session *s)
{
	const char *want =
	    s->opts.runtime && strcmp(s->opts.runtime, "auto") != 0 ? s->opts.runtime : NULL;
	struct runtime_ctx ctx = { s->proc, s->col, s->opts.mode, s->opts.verbose,
				   s->opts.freq_hz, s->opts.agent };
	char names[128];

	for (size_t i = 0; i < runtime_registry_size; i++) {
		const struct runtime_ops *rt = runtime_registry[i];
		int err;

		if (want && strcmp(want, rt->name) != 0)
			continue;
		err = rt->open(&ctx, &s->rt_state);
		if (err == -ENOENT && !want)
			continue;
		if (err == -ENOENT) {
			fprintf(stderr, "asyncprof: cannot attach the %s adaptor: ", rt->label);
			fprintf(stderr, rt->missing, s->proc->exe);
			fputc('\n', stderr);
		}
		if (err)
			return err;
		s->rt = rt;
		return 0;
	}
	fprintf(stderr, "asyncprof: cannot attach to pid %d: unknown runtime '%s' (%s)\n",
		s->opts.pid, want ? want : "auto", runtime_names(names, sizeof(names)));
	return -EINVAL;
}

static void update_observer(struct session *s);

/* The timeline is made of the runs of tasks: the runtime's probes must send them in this mode
 * (Tokio and Go: lifecycle and full; the markers: every mode). */
static int open_timeline(struct session *s)
{
	struct timeline_opts o = { s->opts.pid, s->proc->comm, s->opts.timeline_events,
				   s->cap.poll_ends };
	int err;

	if (!s->cap.runs) {
		fprintf(stderr,
			"asyncprof: cannot record a timeline of %s: %s; use --mode lifecycle or "
			"full on a Tokio or Go program, or a program with asyncprof markers\n",
			s->proc->comm,
			s->rt->has_tasks ? "sample mode sends no task events"
					 : "it has no task runtime asyncprof knows");
		return -EINVAL;
	}
	err = timeline_new(&o, &s->timeline);
	if (err) {
		fprintf(stderr, "asyncprof: cannot record a timeline: %s\n", strerror(-err));
		return err;
	}
	update_observer(s);
	return 0;
}

int session_open(const struct session_opts *opts, struct session **out)
{
	struct session *s = calloc(1, sizeof(*s));
	int err = -ENOMEM;

	if (!s)
		return -ENOMEM;
	s->opts = *opts;
	s->lock_fd = -1;
	s->sym = opts->symbolizer;
	if (!s->sym)
		s->sym = s->own_sym = symbolizer_new();
	if (!s->sym)
		goto fail;
	err = open_target(s);
	if (!err)
		err = collector_new(s->proc, NULL, 1000000000LL / opts->freq_hz, &s->col);
	if (!err)
		err = open_runtime(s);
	if (err)
		goto fail;
	if (s->rt->configure)
		s->rt->configure(s->rt_state, &s->cap);
	if (!s->rt->has_tasks && opts->mode != MODE_SAMPLE)
		fprintf(stderr,
			"asyncprof: warning: --mode %s needs an async runtime; %s has "
			"none, so this is a plain CPU profile\n",
			task_mode_name(opts->mode), s->proc->comm);
	if (opts->timeline_events) {
		err = open_timeline(s);
		if (err)
			goto fail;
	}
	*out = s;
	return 0;
fail:
	session_close(s);
	return err;
}

static void on_sample(const struct sample_event *e, size_t size, void *ctx)
{
	struct session *s = ctx;
	uint64_t task;

	/* The sample's task must be known first: its spawn, its name. */
	if (s->rt->consume)
		s->rt->consume(s->rt_state);
	task = s->rt->sample_task ? s->rt->sample_task(s->rt_state, e) : e->task;
	collector_add(s->col, e, size, task);
}

/* Whether the runtime's hot probes can be duty cycled here: a budget, a mode with hot probes, a
 * runtime that can take them off, no timeline, and a kernel with uprobe_multi links (budget.c). */
static bool can_duty_cycle(struct session *s, struct hit_cost *cost)
{
	int err;

	/* A timeline is a trace of every poll and wait: with holes it would mislead. */
	if (s->opts.budget <= 0 || s->opts.mode < MODE_LIFECYCLE || !s->rt->set_hot ||
	    s->opts.timeline_events)
		return false;
	err = budget_calibrate(cost);
	if (err == -EOPNOTSUPP)
		s->budget_warning = "this kernel has no uprobe_multi links (Linux 6.6), which "
				    "remove the event probes from the target and put them back "
				    "quickly: they stay on, and --budget is not kept";
	else if (err)
		s->budget_warning = "the cost of a probe hit could not be measured: the event "
				    "probes stay on, and --budget is not kept";
	if (err && !s->opts.quiet)
		fprintf(stderr, "asyncprof: warning: %s (%s)\n", s->budget_warning,
			strerror(-err));
	return !err;
}

static int budget_set_hot(void *ctx, bool on)
{
	struct session *s = ctx;

	return s->rt->set_hot(s->rt_state, on);
}

static void budget_hits(void *ctx, uint64_t hits[2])
{
	struct session *s = ctx;

	s->rt->hot_hits(s->rt_state, hits);
}

static void budget_run_time(void *ctx, uint64_t *ns, uint64_t *runs)
{
	struct session *s = ctx;

	s->rt->hot_run_time(s->rt_state, ns, runs);
}

static bool observed(void *ctx, uint64_t from, uint64_t to)
{
	return budget_observed(ctx, from, to);
}

static double weight(void *ctx, uint64_t len)
{
	return budget_weight(ctx, len);
}

static int attach_runtime(struct session *s, struct hit_cost *cost)
{
	struct runtime_maps maps = {
		.threads_fd = s->cap.thread_tasks ? sampler_threads_map(s->sampler) : -1,
		.frames_fd = s->cap.logical_frames ? sampler_frames_map(s->sampler) : -1,
	};
	int err;

	if (!s->rt->attach)
		return 0;
	maps.duty = can_duty_cycle(s, cost);
	err = s->rt->attach(s->rt_state, &maps);
	if (err)
		fprintf(stderr, "asyncprof: cannot attach the %s probes: %s\n", s->rt->label,
			strerror(-err));
	return err ? err : maps.duty;
}

/* Duty cycling starts with the recording (the hot probes are on). */
static int start_budget(struct session *s, const struct hit_cost *cost)
{
	struct budget_hooks hooks = { budget_set_hot, budget_hits, budget_run_time, s };
	int err = budget_start(s->opts.pid, s->opts.budget, cost, &hooks, s->opts.verbose,
			       &s->budget);

	if (err) {
		fprintf(stderr, "asyncprof: cannot start the budget: %s\n", strerror(-err));
		return err;
	}
	collector_set_observation(s->col,
				  &(struct collector_observation){ observed, weight, s->budget });
	return 0;
}

struct kallsyms_load {
	struct kallsyms *ks;
	int err;
	atomic_bool done;
};

static void *load_kallsyms(void *arg)
{
	struct kallsyms_load *l = arg;

	l->err = kallsyms_load(&l->ks);
	atomic_store(&l->done, true);
	return NULL;
}

/*
 * Reads the kernel's symbols while the runtime's events are drained: the probes are on, and a
 * busy service fills their ring buffer (16 KiB stacks) in about 100 ms, about what reading and
 * sorting /proc/kallsyms takes (more on a loaded machine); the demo's service lost 400 to 550
 * events there. Task events carry no kernel stack: they need no kernel symbols; the CPU samples,
 * which do, wait in their own ring until the recording starts.
 */
static int kallsyms_load_draining(struct session *s, struct kallsyms **out)
{
	struct kallsyms_load l = { .done = false };
	int fd = s->rt->wait_fd ? s->rt->wait_fd(s->rt_state) : -1;
	pthread_t thread;

	if (!s->rt->consume || fd < 0 || pthread_create(&thread, NULL, load_kallsyms, &l))
		return kallsyms_load(out);
	while (!atomic_load(&l.done)) {
		struct pollfd p = { .fd = fd, .events = POLLIN };

		s->rt->consume(s->rt_state);
		poll(&p, 1, 5);
	}
	pthread_join(thread, NULL);
	*out = l.ks;
	return l.err;
}

static void say_started(struct session *s)
{
	char what[256];

	if (s->opts.quiet || !s->rt->describe)
		return;
	s->rt->describe(s->rt_state, s->proc->comm, what, sizeof(what));
	fprintf(stderr, "asyncprof: %s; mode %s\n", what, task_mode_name(s->opts.mode));
}

int session_start(struct session *s)
{
	struct sampler_opts so = {
		.pid = s->opts.pid,
		.freq_hz = s->opts.freq_hz,
		.verbose = s->opts.verbose,
		.tls_offset = s->cap.tls_offset,
		.tls_bytes = s->cap.tls_bytes,
		.thread_tasks = s->cap.thread_tasks,
		.logical_frames = s->cap.logical_frames,
		.ring_bytes = s->opts.ring_bytes,
		/* A recording's loop reads every 100 ms whatever comes (main.c, top): the samples
		 * wake it only when an eighth of their ring waits. The agent's loop sleeps longer and
		 * keeps a wake-up per batch of samples (agent.c). */
		.batch_wakeups = !s->opts.agent,
	};
	struct hit_cost cost;
	bool duty = false;
	int err;

	err = sampler_open(&so, on_sample, s, &s->sampler);
	if (!err && s->opts.off_cpu) {
		struct offcpu_opts oo = { .pid = s->opts.pid,
					  .min_block_ns = s->opts.off_cpu_min_ns,
					  .verbose = s->opts.verbose };

		err = offcpu_open(&oo, s->col, &s->off);
	}
	if (!err) {
		err = attach_runtime(s, &cost);
		duty = err > 0;
		if (duty)
			err = 0;
	}
	if (err)
		return err;
	if (duty) {
		err = start_budget(s, &cost);
		if (err)
			return err;
	}
	/* Once every BPF program is loaded (their frames get names), and with the budget already
	 * counting (the runtime's hot probes are on, and reading the kernel's symbols takes a good
	 * part of a second); the recording starts after. */
	s->ks = s->opts.kallsyms;
	if (!s->ks) {
		err = kallsyms_load_draining(s, &s->own_ks);
		if (err) {
			fprintf(stderr,
				"asyncprof: warning: no kernel symbols (%s); kernel frames "
				"will show as [unknown]\n",
				strerror(-err));
			s->no_kallsyms = true;
		}
		s->ks = s->own_ks;
	}
	collector_set_kallsyms(s->col, s->ks);
	s->start_wall_ns = s->window_wall_ns = wall_ns();
	s->start_ns = s->window_ns = monotonic_ns();
	if (s->budget)
		budget_recording_starts(s->budget, s->start_ns);
	if (s->off)
		offcpu_start(s->off, s->start_ns);
	s->cpu_start_s = cpu_seconds_self(NULL);
	s->started = true;
	say_started(s);
	return 0;
}

int session_set_freq(struct session *s, unsigned int freq_hz)
{
	int err;

	if (!s->sampler || !freq_hz)
		return -EINVAL;
	err = sampler_set_freq(s->sampler, freq_hz);
	if (err)
		return err;
	s->opts.freq_hz = freq_hz;
	collector_set_period(s->col, 1000000000LL / freq_hz);
	return 0;
}

size_t session_poll_fds(const struct session *s, int *fds, size_t max)
{
	size_t n = 0;
	int fd;

	if (!s->sampler)
		return 0;
	if (n < max)
		fds[n] = sampler_fd(s->sampler);
	n++;
	/* A busy service's task events fill their ring buffer (16 KiB stacks) in about 100 ms:
	 * they must wake the loop, not wait for the next CPU sample. */
	fd = s->rt->wait_fd ? s->rt->wait_fd(s->rt_state) : -1;
	if (fd >= 0) {
		if (n < max)
			fds[n] = fd;
		n++;
	}
	return n;
}

int session_step(struct session *s, int timeout_ms)
{
	int wake[SAMPLER_WAKE_FDS], fd, n;

	if (!s->sampler || s->stopped)
		return 0;
	if (s->rt->consume)
		s->rt->consume(s->rt_state);
	if (s->off)
		offcpu_consume(s->off);
	fd = s->rt->wait_fd ? s->rt->wait_fd(s->rt_state) : -1;
	if (fd >= 0)
		wake[0] = fd;
	n = sampler_poll(s->sampler, timeout_ms, wake, fd >= 0);
	if (n < 0 && n != -EINTR)
		fprintf(stderr, "asyncprof: cannot read samples: %s\n", strerror(-n));
	return n;
}

bool session_target_alive(const struct session *s)
{
	return kill(s->opts.pid, 0) == 0 || errno == EPERM;
}

/* Sets the time range of every profile of w from its start to now. */
static void set_time_range(struct session_window *w, int64_t start_wall, uint64_t start_ns,
			   uint64_t end_ns)
{
	w->start_ns = start_wall;
	w->duration_ns = (int64_t)(end_ns - start_ns);
	for (size_t i = 0; i < w->nprofiles; i++) {
		w->profiles[i].prof->time_nanos = w->start_ns;
		w->profiles[i].prof->duration_nanos = w->duration_ns;
	}
}

/* Replaces w's profiles (the collector's) by what they hold, the collector's starting afresh;
 * all or none: a partial window would be wrong, so on failure those taken are dropped.
 * Returns 0 or -ENOMEM. */
static int take_all(struct session *s, struct session_window *w)
{
	size_t i;

	for (i = 0; i < w->nprofiles; i++) {
		struct profile *taken = collector_take(s->col, w->profiles[i].prof);

		if (!taken)
			break;
		w->profiles[i].prof = taken;
	}
	if (i < w->nprofiles) {
		w->nprofiles = i;
		session_window_free(w);
		return -ENOMEM;
	}
	return 0;
}

int session_cut_window(struct session *s, struct session_window *w)
{
	uint64_t now = monotonic_ns();

	if (!s->started || s->stopped)
		return -EINVAL;
	collector_cut_waits(s->col, now);
	session_current_profiles(s, w);
	if (take_all(s, w))
		return -ENOMEM;
	set_time_range(w, s->window_wall_ns, s->window_ns, now);
	s->window_wall_ns = s->window_wall_ns + (int64_t)(now - s->window_ns);
	s->window_ns = now;
	return 0;
}

int session_take_profiles(struct session *s, struct session_window *w)
{
	if (!s->stopped)
		return -EINVAL;
	*w = s->last;
	s->last.nprofiles = 0;
	return take_all(s, w);
}

void session_window_free(struct session_window *w)
{
	for (size_t i = 0; i < w->nprofiles; i++)
		profile_free(w->profiles[i].prof);
	w->nprofiles = 0;
}

/* Takes what is still in the ring buffers once the runtime's probes have stopped. */
static void drain(struct session *s)
{
	do {
		if (s->rt->consume)
			s->rt->consume(s->rt_state);
	} while (sampler_poll(s->sampler, 0, NULL, 0) > 0);
	if (s->rt->consume)
		s->rt->consume(s->rt_state);
}

/* Once the windows are final: the probes' counters scaled, the line for the summary, and the
 * comment of the profiles the event probes fed. */
static void say_duty(struct session *s)
{
	double fraction = budget_fraction(s->budget);
	/* The waits were weighed by their length as they came, unless sampled from snapshots
	 * (which owe nothing to the windows); the allocations were sampled in the windows only.
	 * What was seen stands for 1 / fraction as much. */
	bool waits = !collector_waits_sampled(s->col);

	budget_describe(s->budget, s->budget_line, sizeof(s->budget_line));
	if (fraction >= 1)
		return;

	task_table_set_scale(collector_tasks(s->col), 1 / fraction, waits ? 1 / fraction : 1);
	collector_set_wait_scale(s->col, 1 / fraction);
	for (size_t i = 0; i < s->last.nprofiles; i++) {
		struct session_profile *p = &s->last.profiles[i];

		if (!strcmp(p->stem, "alloc") || (!strcmp(p->stem, "wait") && waits))
			profile_scale(p->prof, 1 / fraction);
		if (!strcmp(p->stem, "wait") || !strcmp(p->stem, "alloc"))
			profile_set_comment(p->prof, s->budget_line);
	}
}

int session_stop(struct session *s)
{
	if (!s->started || s->stopped)
		return 0;
	s->stopped = true;
	/* The recording ends now: what follows (draining, detaching probes) is not its time. */
	s->stop_ns = monotonic_ns();
	/* The windows are final from here on (the probes stay as they are until the runtime's
	 * stop). */
	budget_stop(s->budget, s->stop_ns);
	/* Blocks that end while the runtime's probes are drained are not the recording's. */
	if (s->off)
		offcpu_stop(s->off);
	if (s->rt->stop)
		s->rt->stop(s->rt_state);
	drain(s);
	collector_finish(s->col, s->stop_ns);
	if (s->timeline)
		timeline_finish(s->timeline, s->stop_ns);
	sampler_counters(s->sampler, s->counters);
	if (s->rt->finish)
		s->rt->finish(s->rt_state);
	sampler_close(s->sampler);
	s->sampler = NULL;
	s->cpu_end_s = cpu_seconds_self(&s->max_rss_kb);
	session_current_profiles(s, &s->last);
	if (s->budget)
		say_duty(s);
	set_time_range(&s->last, s->window_wall_ns, s->window_ns, s->stop_ns);
	return 0;
}

const struct session_window *session_profiles(struct session *s)
{
	return s->stopped ? &s->last : NULL;
}

void session_set_command_status(struct session *s, int wait_status, int stopped_with)
{
	s->command = true;
	s->command_status = wait_status;
	s->command_stopped_with = stopped_with;
}

void session_stats(struct session *s, struct session_stats *st)
{
	const struct collector_stats *cs = collector_stats(s->col);
	uint64_t counters[CNT_MAX] = { 0 };
	struct event_loss loss = { 0 };

	if (s->sampler)
		sampler_counters(s->sampler, counters);
	else
		memcpy(counters, s->counters, sizeof(counters));
	if (s->rt->event_loss)
		s->rt->event_loss(s->rt_state, &loss);
	*st = (struct session_stats){
		.samples = cs->samples,
		.drops = counters[CNT_DROPS],
		.events_lost = event_loss_dropped(&loss),
		.threads = cs->threads,
		.elapsed_s = s->started
				 ? ((s->stopped ? s->stop_ns : monotonic_ns()) - s->start_ns) / 1e9
				 : 0,
	};
}

const char *session_runtime(const struct session *s)
{
	return s->rt->has_tasks ? s->rt->name : NULL;
}

const char *session_runtime_version(const struct session *s)
{
	return s->rt->version ? s->rt->version(s->rt_state) : NULL;
}

pid_t session_pid(const struct session *s)
{
	return s->opts.pid;
}

const char *session_comm(const struct session *s)
{
	return s->proc->comm;
}

size_t session_probe_groups(struct session *s, struct session_probe_group *out, size_t max)
{
	struct runtime_probe_group g[16];
	size_t n;

	if (!s->rt->probe_groups)
		return 0;
	n = s->rt->probe_groups(s->rt_state, g, sizeof(g) / sizeof(g[0]));
	for (size_t i = 0; i < n && i < max && i < sizeof(g) / sizeof(g[0]); i++)
		out[i] = (struct session_probe_group){ g[i].name, g[i].enabled, g[i].events };
	return n;
}

int session_set_probe_group(struct session *s, const char *name, bool enabled)
{
	if (!s->rt->set_probe_group)
		return -ENOENT;
	return s->rt->set_probe_group(s->rt_state, name, enabled);
}

static struct task_rec *find_task(struct session *s, uint64_t task)
{
	struct task_table *tt = collector_tasks(s->col);

	return tt && task ? task_find(tt, task) : NULL;
}

/* The timeline, then the listener, see the event. */
static void emit(struct session *s, const struct session_event *ev)
{
	if (s->timeline)
		timeline_event(s->timeline, ev);
	if (s->listener)
		s->listener(s->listener_ctx, ev);
}

static void observe_sample(void *ctx, const struct sample_event *e, uint64_t task,
			   const uint64_t *locs, size_t n)
{
	struct session *s = ctx;
	struct task_rec *t = find_task(s, task);
	char comm[TASK_COMM_LEN + 1];
	struct session_event ev = {
		.kind = SESSION_EV_SAMPLE,
		.time_ns = e->time_ns,
		.tid = e->tid,
		.task = task,
		.task_name = t ? t->name : NULL,
		.spawned_at = t ? t->spawned_at : NULL,
		.internal = t && t->internal,
		.prof = collector_profile(s->col),
		.location_ids = locs,
		.nlocations = n,
		.thread_name = comm,
		.cpu = e->cpu,
	};

	memcpy(comm, e->comm, TASK_COMM_LEN);
	comm[TASK_COMM_LEN] = 0;
	emit(s, &ev);
}

static void observe_task_event(void *ctx, const struct task_event *e, uint64_t current)
{
	struct session *s = ctx;
	struct task_rec *t = find_task(s, e->task);
	char reason[64], where[512];
	struct session_event ev = {
		.kind = SESSION_EV_TASK,
		.time_ns = e->time_ns,
		.tid = e->tid,
		.task = e->task,
		.task_kind = e->kind,
		.other = e->kind == TASK_CREATE || e->kind == TASK_RUNNABLE ? current : 0,
		.task_name = t ? t->name : NULL,
		.spawned_at = t ? t->spawned_at : NULL,
		.internal = t && t->internal,
		.value =
		    (e->kind == TASK_RUN && (e->flags & TASK_EV_LATENCY)) || e->kind == TASK_STOP
			? e->value
			: 0,
		.cpu_ns = e->kind == TASK_STOP ? e->cpu_ns : 0,
		.preempted_ns = e->kind == TASK_STOP ? e->delay_ns : 0,
	};

	if (e->kind == TASK_AWAIT &&
	    collector_await_point(s->col, e->task, reason, sizeof(reason), where, sizeof(where))) {
		ev.reason = reason;
		ev.await_point = where[0] ? where : NULL;
	}
	emit(s, &ev);
}

static void observe_gc(void *ctx, uint64_t time_ns, enum collector_gc_phase phase)
{
	struct session *s = ctx;
	struct session_event ev = {
		.kind = SESSION_EV_GC,
		.time_ns = time_ns,
		.task_kind = phase == COLLECTOR_GC_START       ? SESSION_GC_START
			     : phase == COLLECTOR_GC_MARK_TERM ? SESSION_GC_MARK_TERM
							       : SESSION_GC_END,
	};

	emit(s, &ev);
}

/* The collector's observer is on while the timeline or a listener wants the events. */
static void update_observer(struct session *s)
{
	struct collector_observer o = { observe_sample, observe_task_event, observe_gc, s };

	collector_set_observer(s->col, s->timeline || s->listener ? &o : NULL);
}

int session_set_listener(struct session *s, session_listener_fn fn, void *ctx)
{
	s->listener = fn;
	s->listener_ctx = ctx;
	update_observer(s);
	return 0;
}

struct task_table *session_tasks(struct session *s)
{
	return collector_tasks(s->col);
}

void session_refresh_tasks(struct session *s)
{
	if (s->started && !s->stopped && s->rt->refresh)
		s->rt->refresh(s->rt_state);
}

bool session_await_point(struct session *s, uint64_t task, char *reason, size_t reason_size,
			 char *where, size_t where_size)
{
	return collector_await_point(s->col, task, reason, reason_size, where, where_size);
}

int session_lock_fd(const struct session *s)
{
	return s->lock_fd;
}

bool session_asked_to_give_way(struct session *s, pid_t *asker)
{
	*asker = 0;
	return s->lock_fd >= 0 && recording_lock_asked(s->lock_fd, asker) == 1;
}

void session_give_way(struct session *s)
{
	session_stop(s);
	if (s->lock_fd >= 0)
		close(s->lock_fd);
	s->lock_fd = -1;
}

void session_close(struct session *s)
{
	if (!s)
		return;
	if (s->lock_fd >= 0)
		close(s->lock_fd);
	budget_free(s->budget);
	offcpu_close(s->off);
	sampler_close(s->sampler);
	if (s->rt)
		s->rt->close(s->rt_state);
	collector_free(s->col);
	timeline_free(s->timeline);
	process_close(s->proc);
	kallsyms_free(s->own_ks);
	symbolizer_free(s->own_sym);
	free(s);
}
