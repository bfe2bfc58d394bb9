// SPDX-License-Identifier: MIT
/*
 * The agent's loop. Design note:
 *
 * One session (session/session.h) per target process, all driven by this one thread: poll()
 * on every session's ring buffers, then a step of the sessions that have something. The
 * kernel keeps sampling into each session's ring buffer while this thread does anything else
 * (cuts a window, encodes it, scans /proc), so no sample falls between two windows: a cut
 * takes the profiles made so far and the session goes on into fresh ones.
 *
 * Every --interval (aligned on the agent's start) all sessions are cut at once and their
 * windows go out together: one OTLP request (the exporter's thread sends it while the next
 * window records) and/or the pprof files of each process. A process that exits is stopped at
 * once (its buffers drained, its probes gone) and kept until the next cut, so that its last
 * window goes out with the others; then its session is closed and its memory freed.
 *
 * /proc is read every scan period (a fraction of the interval, at most 5 s) for new targets:
 * --pid and --comm targets are opened when seen; under --all a process is opened once it was
 * seen two scans ago and has used CPU time since, so that the idle processes of a host (most
 * of them) and the short-lived ones (a compiler's) cost no BPF programs, ring buffers or symbol
 * tables. A process that cannot be profiled (it exited meanwhile, another asyncprof records
 * it, a runtime it has cannot be read) is tried again after RETRY_NS.
 *
 * The symbolizer (ELF and DWARF caches, per file) and the kernel's symbols are shared by all
 * sessions. The governor measures the agent's own CPU (getrusage: this thread, the exporter's)
 * per window and sets the sampling rate and the runtime probe groups of every session for the
 * next one.
 */
#include <errno.h>
#include <link.h>
#include <malloc.h>
#include <poll.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/resource.h>
#include <sys/stat.h>
#include <sys/sysmacros.h>
#include <time.h>
#include <unistd.h>

#include "agent/agent.h"
#include "agent/governor.h"
#include "capture/sampler.h"
#include "export/exporter.h"
#include "export/resource.h"
#include "export/window.h"
#include "model/profile.h"
#include "output/file.h"
#include "session/session.h"
#include "symbols/kallsyms.h"
#include "symbols/symbolizer.h"
#include "target/process.h"
#include "util/hashmap.h"

#define SCAN_MAX_S 5.0
#define POLL_MAX_MS 1000
/*
 * The shortest time between two wake-ups of the loop. A ring buffer wakes its reader for every
 * record: a busy runtime's events would wake the agent thousands of times a second, each wake-up
 * a few system calls per session. The rings hold far more than this (RING_S for the samples).
 */
#define BATCH_NS 50000000ULL
#define FDS_PER_SESSION 8
#define MAX_GROUPS 16
#define FLUSH_MS 10000	      /* at exit, how long the last windows may take to go out */
/*
 * A session's CPU sample ring holds RING_S of samples at the rate asked for on every CPU (each
 * up to SAMPLE_BYTES: registers and the 16 KiB stack copy), at least RING_MIN: the loop takes
 * them as soon as the ring's fd wakes it, at most BATCH_NS after the last time, so an eighth of
 * a second is room to spare (a full ring loses samples, counted and logged), while the 4 MiB of
 * attach and run, mapped twice by the kernel, would be 8 MiB of resident memory per process
 * (at 99 Hz on 2 CPUs: 512 KiB, 1 MiB resident).
 */
#define RING_S 0.125
#define SAMPLE_BYTES (17 * 1024)
#define RING_MIN (256 * 1024)
#define RING_MAX (4 * 1024 * 1024)
#define TICKS_MASK ((1ULL << 40) - 1)
#define ALL_MIN_SCANS 2 /* --all: a process is opened once seen this many scans ago, and run */
/* Executables and libraries no profiled process maps any more, kept parsed for the next one
 * that maps them (a command run again and again): beyond, the oldest are freed. */
#define MAX_IDLE_OBJECTS 16
#define REFUSED (1ULL << 63) /* in the seen map: a process not to try again before RETRY_NS */
#define BUSY (1ULL << 62) /* in the seen map: another asyncprof records it (said once) */
#define RETRY_NS (300 * 1000000000ULL)

struct target {
	struct session *s;
	struct proc_entry id;
	struct resource res;
	/*
	 * The recording ended (the process exited, the agent gave way, the agent stops): the
	 * session is closed at once, with its BPF programs, buffers and per-process state, and
	 * only its last window (last) and counts wait for the next cut.
	 */
	bool ended;
	struct session_window last;
	uint64_t last_step_ns;
	uint64_t group_events[MAX_GROUPS]; /* each probe group's count at the last cut */
	uint64_t drops, events_lost;	   /* the session's counts at the last cut */
	uint64_t final_drops, final_events_lost; /* ended: its counts at the end */
};

struct agent {
	const struct agent_opts *o;
	struct target **targets;
	size_t ntargets, cap;
	/* (pid, start) of the processes the last scan saw: REFUSED and when, or the scan that saw
	 * it first (bits 40 and up) and its CPU ticks then (bits 0 to 39) */
	struct hashmap *seen;
	uint64_t scans;
	size_t busy; /* processes of the last scan that another asyncprof records */
	struct exporter *ex;
	int dirfd;
	struct kallsyms *ks;
	struct symbolizer *sym;
	struct governor gov;
	char gov_why[256]; /* the decision in force, "" when the agent runs as asked */
	double window_cpu_s;
	double open_cpu_s; /* of which opening sessions: not the rate's doing */
	uint64_t window_start_mono;
	int64_t window_start_wall;
	uint64_t windows;
	long page_size;
	uint32_t ring_bytes; /* each session's CPU sample ring */
	uint64_t last_wake_ns;
};

static volatile sig_atomic_t stop_signal;

static void on_signal(int sig)
{
	stop_signal = sig;
}

static double self_cpu_s(void)
{
	struct rusage ru;

	getrusage(RUSAGE_SELF, &ru);
	return ru.ru_utime.tv_sec + ru.ru_utime.tv_usec / 1e6 + ru.ru_stime.tv_sec +
	       ru.ru_stime.tv_usec / 1e6;
}

/* The agent's resident memory now, in KiB (statm: pages); 0 when unknown. */
static unsigned long self_rss_kb(const struct agent *a)
{
	unsigned long size, resident = 0;
	FILE *f = fopen("/proc/self/statm", "re");

	if (f) {
		if (fscanf(f, "%lu %lu", &size, &resident) != 2)
			resident = 0;
		fclose(f);
	}
	return resident * (a->page_size / 1024);
}

static int64_t wall_ns(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_REALTIME, &ts);
	return (int64_t)ts.tv_sec * 1000000000LL + ts.tv_nsec;
}

struct proc_key {
	pid_t pid;
	uint32_t pad;
	uint64_t start_ticks;
};

static struct proc_key key_of(const struct proc_entry *e)
{
	return (struct proc_key){ .pid = e->pid, .start_ticks = e->start_ticks };
}

static struct target *find_target(struct agent *a, const struct proc_entry *e)
{
	for (size_t i = 0; i < a->ntargets; i++)
		if (a->targets[i]->id.pid == e->pid &&
		    a->targets[i]->id.start_ticks == e->start_ticks)
			return a->targets[i];
	return NULL;
}

/* Opens and starts a session on e. Returns 0, or -errno (the session said why). */
static int open_target(struct agent *a, const struct proc_entry *e)
{
	const struct agent_opts *o = a->o;
	struct session_opts so = {
		.pid = e->pid,
		.freq_hz = a->gov.freq_hz,
		.mode = o->mode,
		.off_cpu = o->off_cpu,
		.off_cpu_min_ns = 1000000,
		/* -v is a line per window, not libbpf's and the unwinder's details. */
		.quiet = !o->verbose,
		.ring_bytes = a->ring_bytes,
		.kallsyms = a->ks,
		.symbolizer = a->sym,
		.agent = true,
	};
	struct target *t, **grown;
	int err;

	if (a->ntargets == a->cap) {
		size_t cap = a->cap ? 2 * a->cap : 16;

		grown = realloc(a->targets, cap * sizeof(*grown));
		if (!grown)
			return -ENOMEM;
		a->targets = grown;
		a->cap = cap;
	}
	t = calloc(1, sizeof(*t));
	if (!t)
		return -ENOMEM;
	t->id = *e;
	err = session_open(&so, &t->s);
	if (!err)
		err = session_start(t->s);
	/* Now, while /proc/PID is there: what identifies the process to a backend. */
	if (!err)
		err = resource_read(e->pid, session_runtime(t->s), session_runtime_version(t->s),
				    &t->res);
	if (err) {
		session_close(t->s);
		free(t);
		return err;
	}
	a->targets[a->ntargets++] = t;
	fprintf(stderr, "asyncprof: agent: profiling pid %d (%s)%s%s\n", e->pid, e->comm,
		session_runtime(t->s) ? ", runtime " : "",
		session_runtime(t->s) ? session_runtime(t->s) : "");
	return 0;
}

static bool only_pids(const struct agent_opts *o)
{
	return !o->filter.all && !o->filter.ncomms;
}

struct scan {
	struct agent *a;
	struct hashmap *seen;
	int err;
};

static int on_process(const struct proc_entry *e, void *ctx)
{
	struct scan *sc = ctx;
	struct agent *a = sc->a;
	struct proc_key k = key_of(e);
	uint64_t before = 0, mark = 0;
	bool known = hashmap_get(a->seen, &k, sizeof(k), &before), busy = known && (before & BUSY);
	int err;

	if (find_target(a, e))
		return 0;
	if (known && (before & REFUSED)) {
		mark = before;
		if (monotonic_ns() - (before & ~REFUSED) < RETRY_NS)
			goto keep;
		known = false; /* tried again, as a new one */
	}
	if (!busy && a->o->filter.all && !a->o->filter.npids && !a->o->filter.ncomms &&
	    (!known || a->scans - (before >> 40) < ALL_MIN_SCANS ||
	     (e->cpu_ticks & TICKS_MASK) == (before & TICKS_MASK))) {
		/* --all: not before it has lived a while and run since first seen. */
		mark = known ? before : (a->scans << 40) | (e->cpu_ticks & TICKS_MASK);
	} else {
		double cpu = self_cpu_s();

		err = open_target(a, e);
		a->open_cpu_s += self_cpu_s() - cpu;
		/* A --pid the agent cannot profile from the start is an error, as for attach; one
		 * that another asyncprof records is profiled once that recording ends. */
		if (err == -ENOMEM || (err && err != -EBUSY && !a->windows && only_pids(a->o)))
			return sc->err = err;
		if (err == -EBUSY) {
			if (!busy)
				fprintf(stderr,
					"asyncprof: agent: pid %d (%s) is recorded by another "
					"asyncprof: profiled again once that recording ends\n",
					e->pid, e->comm);
			mark = BUSY;
			a->busy++;
		} else if (err) {
			mark = REFUSED | monotonic_ns();
		}
	}
keep:
	if (hashmap_put(sc->seen, &k, sizeof(k), mark))
		return sc->err = -ENOMEM;
	return 0;
}

/* Opens the targets that appeared since the last scan. Returns 0 or -ENOMEM. */
static int scan(struct agent *a)
{
	struct scan sc = { .a = a, .seen = hashmap_new() };
	int err;

	if (!sc.seen)
		return -ENOMEM;
	a->busy = 0;
	err = targets_scan(&a->o->filter, on_process, &sc);
	if (err && !sc.err) {
		fprintf(stderr, "asyncprof: cannot read /proc: %s\n", strerror(-err));
		err = 0;
	}
	/* Only what this scan saw is kept: the map follows the host's processes. */
	hashmap_free(a->seen);
	a->seen = sc.seen;
	a->scans++;
	return sc.err ? sc.err : err;
}

/* Stops t's recording and closes its session, keeping its last window and counts for the next
 * cut; returns how long it recorded. */
static double retire(struct target *t)
{
	struct session_stats st;
	int err;

	session_give_way(t->s); /* stopped: nothing more to record, the lock is free */
	session_stats(t->s, &st);
	err = session_take_profiles(t->s, &t->last);
	if (err)
		fprintf(stderr, "asyncprof: agent: the last window of pid %d (%s) is lost: %s\n",
			t->id.pid, t->id.comm, strerror(-err));
	t->final_drops = st.drops;
	t->final_events_lost = st.events_lost;
	session_close(t->s);
	t->s = NULL;
	t->ended = true;
	return st.elapsed_s;
}

/* Ends the session of a process that exited: its last window waits for the next cut. */
static void end_target(struct agent *a, struct target *t)
{
	double elapsed_s = retire(t);

	if (a->o->verbose)
		fprintf(stderr, "asyncprof: agent: pid %d (%s) exited after %.1fs\n", t->id.pid,
			t->id.comm, elapsed_s);
}

/* Whether t's pid is still the process it was, and not a zombie (its parent has not reaped it
 * yet: it has no memory left to profile). */
static bool same_process(const struct target *t)
{
	struct proc_entry e;

	return proc_entry_read(t->id.pid, &e) == 0 && e.start_ticks == t->id.start_ticks &&
	       proc_entry_profilable(&e);
}

/*
 * A person's recording asked for t's process (attach, run: target/recording_lock.h): the
 * session stops, its window so far goes out at the next cut, and the process is profiled again
 * once that recording ends. Returns whether it gave way.
 */
static bool give_way(struct agent *a, struct target *t, const struct pollfd *p, size_t n)
{
	pid_t asker;

	if (!n || p[n - 1].fd != session_lock_fd(t->s) || !p[n - 1].revents ||
	    !session_asked_to_give_way(t->s, &asker))
		return false;
	session_step(t->s, 0);
	retire(t);
	fprintf(stderr,
		"asyncprof: agent: asyncprof (pid %d) asked for pid %d (%s): gave way; its "
		"window so far is kept, and it is profiled again once that recording ends\n",
		asker, t->id.pid, t->id.comm);
	return true;
}

/* Takes what every session has: those whose fds fired, and each at least once a second. */
static int step_all(struct agent *a, int timeout_ms)
{
	size_t n = a->ntargets, nfds = 0;
	struct pollfd *pfd = calloc(n * (FDS_PER_SESSION + 1) + 1, sizeof(*pfd));
	size_t *first = calloc(n + 1, sizeof(*first));
	int fds[FDS_PER_SESSION], rc;
	uint64_t since;

	if (!pfd || !first) {
		free(pfd);
		free(first);
		return -ENOMEM;
	}
	for (size_t i = 0; i < n; i++) {
		size_t k = a->targets[i]->ended ? 0 : session_poll_fds(a->targets[i]->s, fds,
									FDS_PER_SESSION);

		first[i] = nfds;
		for (size_t j = 0; j < k && j < FDS_PER_SESSION; j++)
			pfd[nfds++] = (struct pollfd){ .fd = fds[j], .events = POLLIN };
		/* Last: the lock, readable when another asyncprof asks for the process. */
		if (!a->targets[i]->ended && session_lock_fd(a->targets[i]->s) >= 0)
			pfd[nfds++] = (struct pollfd){ .fd = session_lock_fd(a->targets[i]->s),
						       .events = POLLIN };
	}
	first[n] = nfds;
	/* Events that came since the last wake-up wait for the next one, BATCH_NS after it. */
	since = monotonic_ns() - a->last_wake_ns;
	if (since < BATCH_NS && timeout_ms > 0) {
		uint64_t pause = BATCH_NS - since < timeout_ms * 1000000ULL
					 ? BATCH_NS - since
					 : timeout_ms * 1000000ULL;

		nanosleep(&(struct timespec){ 0, (long)pause }, NULL);
		timeout_ms -= pause / 1000000;
	}
	rc = poll(pfd, nfds, timeout_ms);
	a->last_wake_ns = monotonic_ns();
	for (size_t i = 0; i < n; i++) {
		struct target *t = a->targets[i];
		bool ready = rc < 0, due;
		int err;

		if (t->ended)
			continue;
		for (size_t j = first[i]; j < first[i + 1]; j++)
			ready |= pfd[j].revents != 0;
		if (rc > 0 && give_way(a, t, &pfd[first[i]], first[i + 1] - first[i]))
			continue;
		due = monotonic_ns() - t->last_step_ns >= POLL_MAX_MS * 1000000ULL;
		if (!ready && !due)
			continue;
		err = session_step(t->s, 0);
		if (err < 0 && err != -EINTR) {
			fprintf(stderr, "asyncprof: agent: pid %d (%s) is no longer recorded; its "
					"last window is kept\n",
				t->id.pid, t->id.comm);
			end_target(a, t);
		} else if (due) {
			t->last_step_ns = monotonic_ns();
			if (!session_target_alive(t->s) || !same_process(t))
				end_target(a, t);
		}
	}
	free(pfd);
	free(first);
	return 0;
}

static bool window_empty(const struct session_window *w)
{
	for (size_t i = 0; i < w->nprofiles; i++)
		if (w->profiles[i].prof->nsamples)
			return false;
	return true;
}

/* The governor's attributes on every profile of a window. */
static size_t governor_attrs(const struct agent *a, struct otlp_attr *out)
{
	size_t n = 0;

	out[n++] = (struct otlp_attr){ "asyncprof.agent.sampling_rate_hz", OTLP_INT, NULL,
				       a->gov.freq_hz };
	out[n++] = (struct otlp_attr){ "asyncprof.agent.cpu_share_ppm", OTLP_INT, NULL,
				       (int64_t)(a->gov.last_share * 1e6) };
	if (a->gov_why[0])
		out[n++] = (struct otlp_attr){ "asyncprof.agent.governor", OTLP_STRING,
					       a->gov_why, 0 };
	return n;
}

struct cut {
	struct session_window *sw; /* per target: its profiles of this window */
	bool *owned;		   /* cut (ours to free) or the ended session's */
	struct window *w;	   /* the non-empty ones, for the outputs */
	struct window_profile *wp;
	size_t nw;
	uint64_t samples;
	uint64_t drops, events_lost; /* over all sessions, in this window */
};

static void cut_free(struct cut *c, size_t n)
{
	for (size_t i = 0; c->sw && i < n; i++)
		if (c->owned[i])
			session_window_free(&c->sw[i]);
	free(c->sw);
	free(c->owned);
	free(c->w);
	free(c->wp);
}

/* Cuts every session's window (an ended one gives its last); returns 0 or -ENOMEM. */
static int cut_all(struct agent *a, struct cut *c, const struct otlp_attr *attrs, size_t nattrs)
{
	size_t n = a->ntargets;

	memset(c, 0, sizeof(*c));
	c->sw = calloc(n + 1, sizeof(*c->sw));
	c->owned = calloc(n + 1, sizeof(*c->owned));
	c->w = calloc(n + 1, sizeof(*c->w));
	c->wp = calloc((n + 1) * SESSION_MAX_PROFILES, sizeof(*c->wp));
	if (!c->sw || !c->owned || !c->w || !c->wp)
		return -ENOMEM;
	for (size_t i = 0; i < n; i++) {
		struct target *t = a->targets[i];
		struct window_profile *wp = c->wp + i * SESSION_MAX_PROFILES;
		struct session_stats st;
		size_t k = 0;

		if (t->ended) {
			c->sw[i] = t->last; /* the cut's now */
			memset(&t->last, 0, sizeof(t->last));
			c->owned[i] = true;
			st.drops = t->final_drops;
			st.events_lost = t->final_events_lost;
		} else {
			int err = session_cut_window(t->s, &c->sw[i]);

			if (err) {
				fprintf(stderr, "asyncprof: cannot cut the window of pid %d (%s): "
						"%s; it goes on into the next\n",
					t->id.pid, t->id.comm, strerror(-err));
				memset(&c->sw[i], 0, sizeof(c->sw[i]));
				continue;
			}
			c->owned[i] = true;
			session_stats(t->s, &st);
		}
		c->drops += st.drops - t->drops;
		c->events_lost += st.events_lost - t->events_lost;
		t->drops = st.drops;
		t->events_lost = st.events_lost;
		if (window_empty(&c->sw[i]))
			continue;
		for (size_t j = 0; j < c->sw[i].nprofiles; j++) {
			const struct session_profile *p = &c->sw[i].profiles[j];

			if (!p->prof->nsamples)
				continue;
			wp[k++] = (struct window_profile){ p->stem, p->prof };
			if (!strcmp(p->stem, "cpu"))
				c->samples += profile_total(p->prof, 0);
		}
		c->w[c->nw++] = (struct window){
			.res = &t->res,
			.comm = t->id.comm,
			.profiles = wp,
			.nprofiles = k,
			.start_ns = c->sw[i].start_ns,
			.attrs = attrs,
			.nattrs = nattrs,
		};
	}
	return 0;
}

/* The windows to their destinations; returns the OTLP request's size (0: none). */
static size_t send_windows(struct agent *a, struct cut *c)
{
	size_t len = 0;

	if (a->ex && c->nw) {
		struct exporter_stats st;
		void *body;
		int err;

		exporter_stats(a->ex, &st);
		err = window_encode_otlp(c->w, c->nw, &st, &body, &len);
		if (!err)
			err = exporter_submit(a->ex, body, len);
		if (err && err != -EFBIG)
			fprintf(stderr, "asyncprof: cannot export the window of %zu processes: %s; "
					"it is dropped\n",
				c->nw, strerror(-err));
	}
	for (size_t i = 0; a->dirfd >= 0 && i < c->nw; i++) {
		int err = window_write_files(a->dirfd, &c->w[i], a->o->retain);

		if (err)
			fprintf(stderr, "asyncprof: cannot write the window of pid %d (%s) into "
					"%s: %s; its files for this window are missing\n",
				c->w[i].res->pid, c->w[i].comm, a->o->output_dir, strerror(-err));
	}
	return len;
}

/* Closes the sessions of the processes that exited (their last window is out). */
static void release_ended(struct agent *a)
{
	size_t k = 0;

	for (size_t i = 0; i < a->ntargets; i++) {
		struct target *t = a->targets[i];

		if (!t->ended) {
			a->targets[k++] = t;
			continue;
		}
		session_window_free(&t->last); /* when the cut could not take it */
		resource_free(&t->res);
		free(t);
	}
	a->ntargets = k;
}

/* A governor's view: a probe group of a session. */
struct view_ref {
	struct target *t;
	char *group;
	char *name;
};

/* The probe groups of every session as the governor's views, with each group's events since
 * the last cut; refs says which is which (the caller frees both). Returns how many. */
static size_t collect_views(struct agent *a, struct governor_view **out, struct view_ref **refs)
{
	size_t n = 0, cap = a->ntargets * MAX_GROUPS + 1;
	struct governor_view *v = calloc(cap, sizeof(*v));
	struct view_ref *r = calloc(cap, sizeof(*r));

	*out = v;
	*refs = r;
	if (!v || !r)
		return 0;
	for (size_t i = 0; i < a->ntargets; i++) {
		struct target *t = a->targets[i];
		struct session_probe_group g[MAX_GROUPS];
		size_t k;

		if (t->ended)
			continue;
		k = session_probe_groups(t->s, g, MAX_GROUPS);
		for (size_t j = 0; j < k && j < MAX_GROUPS; j++) {
			uint64_t events = g[j].events - t->group_events[j];

			t->group_events[j] = g[j].events;
			r[n].t = t;
			r[n].group = strdup(g[j].name);
			if (!r[n].group || asprintf(&r[n].name, "the %s group of pid %d (%s)",
						    g[j].name, t->id.pid, t->id.comm) < 0) {
				free(r[n].group);
				r[n].group = NULL;
				continue;
			}
			v[n] = (struct governor_view){ r[n].name, events, g[j].enabled };
			n++;
		}
	}
	return n;
}

/* Applies the governor's decision for the next window. */
static void govern(struct agent *a, double cpu_s, double wall_s, uint64_t samples)
{
	struct governor_view *views;
	struct governor_decision d;
	struct view_ref *refs;
	size_t n = collect_views(a, &views, &refs);

	governor_decide(&a->gov, cpu_s, wall_s, samples, views, n, &d);
	if (d.action == GOV_LOWER_RATE || d.action == GOV_RAISE_RATE) {
		for (size_t i = 0; i < a->ntargets; i++)
			if (!a->targets[i]->ended)
				session_set_freq(a->targets[i]->s, d.freq_hz);
	} else if (d.action == GOV_DETACH_VIEW) {
		int err = session_set_probe_group(refs[d.view].t->s, refs[d.view].group, false);

		if (err)
			snprintf(d.why + strlen(d.why), sizeof(d.why) - strlen(d.why),
				 " (it cannot be: %s)", strerror(-err));
	}
	if (d.action != GOV_KEEP || d.why[0]) {
		fprintf(stderr, "asyncprof: agent: %s\n", d.why);
		snprintf(a->gov_why, sizeof(a->gov_why), "%s", d.why);
	}
	if (a->gov.freq_hz == a->gov.asked_hz && !a->gov.views_detached)
		a->gov_why[0] = 0;
	for (size_t i = 0; i < n; i++) {
		free(refs[i].group);
		free(refs[i].name);
	}
	free(refs);
	free(views);
}

/* The agent's own executable and libraries, (device, inode) each, up to MAX_OWN. */
#define MAX_OWN 64
struct own_objects {
	dev_t dev[MAX_OWN];
	ino_t ino[MAX_OWN];
	size_t n;
};

static int add_own(struct dl_phdr_info *info, size_t size, void *ctx)
{
	struct own_objects *own = ctx;
	const char *name = info->dlpi_name[0] ? info->dlpi_name : "/proc/self/exe";
	struct stat st;

	if (own->n < MAX_OWN && stat(name, &st) == 0) {
		own->dev[own->n] = st.st_dev;
		own->ino[own->n++] = st.st_ino;
	}
	return 0;
}

static bool is_own(const struct own_objects *own, unsigned int maj, unsigned int min,
		   unsigned long long ino)
{
	for (size_t i = 0; i < own->n; i++)
		if (own->ino[i] == ino && major(own->dev[i]) == maj && minor(own->dev[i]) == min)
			return true;
	return false;
}

/*
 * The executables, libraries and debug files of the profiled processes are mapped read-only by
 * libelf and libdw: the pages a window's symbolizing touched stay in the agent's resident size
 * until the kernel reclaims them, and they grew it window after window. After each window they
 * are dropped from the agent's mappings: they stay in the page cache and come back on the next
 * access. Only read-only private mappings of other files: the agent's own objects (whose
 * read-only parts include relocated data) are never touched, nor anything writable.
 */
static void drop_file_pages(void)
{
	struct own_objects own = { .n = 0 };
	unsigned long long start, end, ino;
	unsigned int maj, min;
	char perms[8], path[512], line[1024];
	FILE *f;

	if (dl_iterate_phdr(add_own, &own), !own.n)
		return;
	f = fopen("/proc/self/maps", "re");
	if (!f)
		return;
	while (fgets(line, sizeof(line), f)) {
		path[0] = 0;
		if (sscanf(line, "%llx-%llx %7s %*x %x:%x %llu %511s", &start, &end, perms, &maj,
			   &min, &ino, path) < 6)
			continue;
		if (strcmp(perms, "r--p") || !ino || path[0] != '/' ||
		    is_own(&own, maj, min, ino))
			continue;
		madvise((void *)(uintptr_t)start, end - start, MADV_DONTNEED);
	}
	fclose(f);
}

/* Cuts, sends, logs, governs: the end of a window. */
static int end_window(struct agent *a, bool last)
{
	struct otlp_attr attrs[3];
	size_t nattrs = governor_attrs(a, attrs), sent;
	uint64_t now = monotonic_ns();
	double wall_s = (now - a->window_start_mono) / 1e9, cpu_s;
	struct exporter_stats st = { 0 };
	struct mallinfo2 heap = { 0 };
	struct cut c;
	char stamp[32];
	time_t t0 = a->window_start_wall / 1000000000LL;
	int err = cut_all(a, &c, attrs, nattrs);

	if (err) {
		cut_free(&c, a->ntargets);
		fprintf(stderr, "asyncprof: cannot cut a window: %s\n", strerror(-err));
		return err;
	}
	sent = send_windows(a, &c);
	drop_file_pages();
	cpu_s = self_cpu_s();
	if (a->ex)
		exporter_stats(a->ex, &st);
	strftime(stamp, sizeof(stamp), "%Y-%m-%dT%H:%M:%SZ", gmtime(&t0));
	if (a->o->verbose)
		heap = mallinfo2();
	if (a->o->verbose)
		fprintf(stderr, "asyncprof: agent: window %s %.1fs: %zu processes (%zu with "
				"samples), %llu CPU samples at %u Hz; request %zu bytes, %llu "
				"windows sent, %llu dropped, %zu queued; agent CPU %.3f%% of the "
				"host (%.3f%% opening processes), RSS %lu MB (heap %.1f MB in use, "
				"%.1f MB free)\n",
			stamp, wall_s, a->ntargets, c.nw, (unsigned long long)c.samples,
			a->gov.freq_hz, sent, (unsigned long long)st.sent_windows,
			(unsigned long long)st.dropped_windows, st.queued_windows,
			100 * (cpu_s - a->window_cpu_s) / (wall_s * a->gov.ncpus),
			100 * a->open_cpu_s / (wall_s * a->gov.ncpus), self_rss_kb(a) / 1024,
			(heap.uordblks + heap.hblkhd) / 1048576.0, heap.fordblks / 1048576.0);
	if (c.drops || c.events_lost)
		fprintf(stderr, "asyncprof: agent: window %s: %llu CPU samples and %llu task "
				"events lost (their ring buffers were full): the profiles of that "
				"window lack them\n",
			stamp, (unsigned long long)c.drops, (unsigned long long)c.events_lost);
	cut_free(&c, a->ntargets);
	release_ended(a);
	/* Opening sessions (loading BPF programs, reading symbol tables) costs once per process,
	 * whatever the rate: the rate answers for the rest. */
	if (!last)
		govern(a, cpu_s - a->window_cpu_s - a->open_cpu_s, wall_s, c.samples);
	a->windows++;
	a->window_cpu_s = self_cpu_s();
	a->open_cpu_s = 0;
	a->window_start_mono = now;
	a->window_start_wall = wall_ns();
	return 0;
}

static uint32_t ring_size(unsigned int freq_hz, unsigned int ncpus)
{
	double want = RING_S * freq_hz * ncpus * SAMPLE_BYTES;
	uint32_t bytes = RING_MIN;

	while (bytes < want && bytes < RING_MAX)
		bytes *= 2;
	return bytes;
}

static int setup(struct agent *a)
{
	const struct agent_opts *o = a->o;
	char why[256] = "";
	int err;

	if (o->otlp_endpoint) {
		struct exporter_opts eo = { .endpoint = o->otlp_endpoint,
					    .headers = o->otlp_headers,
					    .nheaders = o->n_otlp_headers,
					    .verbose = o->verbose };

		err = exporter_new(&eo, &a->ex, why, sizeof(why));
		if (err) {
			fprintf(stderr, "asyncprof: cannot use --otlp-endpoint %s: %s\n",
				o->otlp_endpoint, err == -EINVAL ? why : strerror(-err));
			return err == -EINVAL ? 2 : 1;
		}
	}
	if (o->output_dir) {
		err = output_dir_open(o->output_dir, false, &a->dirfd, why, sizeof(why));
		if (err) {
			fprintf(stderr, "asyncprof: cannot use --output-dir %s: %s\n",
				o->output_dir, err == -EPERM && why[0] ? why : strerror(-err));
			return 1;
		}
	}
	if (check_privileges())
		return 1;
	a->ring_bytes = ring_size(o->freq_hz, a->gov.ncpus);
	a->sym = symbolizer_new();
	a->seen = hashmap_new();
	if (!a->sym || !a->seen) {
		fprintf(stderr, "asyncprof: cannot start the agent: %s\n", strerror(ENOMEM));
		return 1;
	}
	symbolizer_set_max_idle(a->sym, MAX_IDLE_OBJECTS);
	err = kallsyms_load(&a->ks);
	if (err)
		fprintf(stderr, "asyncprof: warning: no kernel symbols (%s); kernel frames will "
				"show as [unknown]\n", strerror(-err));
	return 0;
}

static void teardown(struct agent *a)
{
	struct exporter_stats st;

	for (size_t i = 0; i < a->ntargets; i++) {
		session_close(a->targets[i]->s);
		session_window_free(&a->targets[i]->last);
		resource_free(&a->targets[i]->res);
		free(a->targets[i]);
	}
	free(a->targets);
	if (a->ex) {
		if (exporter_flush(a->ex, FLUSH_MS))
			fprintf(stderr, "asyncprof: agent: windows still unsent after %d s are "
					"dropped\n", FLUSH_MS / 1000);
		exporter_free(a->ex, &st);
		fprintf(stderr, "asyncprof: agent: %llu windows sent (%llu bytes), %llu dropped "
				"(%llu bytes)%s%s\n",
			(unsigned long long)st.sent_windows, (unsigned long long)st.sent_bytes,
			(unsigned long long)st.dropped_windows,
			(unsigned long long)st.dropped_bytes,
			st.last_error[0] ? "; last error: " : "", st.last_error);
	}
	if (a->dirfd >= 0)
		close(a->dirfd);
	hashmap_free(a->seen);
	kallsyms_free(a->ks);
	symbolizer_free(a->sym);
}

static int run(struct agent *a)
{
	const struct agent_opts *o = a->o;
	double scan_s = o->interval_s / 2 < SCAN_MAX_S ? o->interval_s / 2 : SCAN_MAX_S;
	uint64_t interval_ns = (uint64_t)(o->interval_s * 1e9), start = monotonic_ns();
	uint64_t next_cut = start + interval_ns, next_scan = start;
	int err = 0;

	a->window_start_mono = start;
	a->window_start_wall = wall_ns();
	a->window_cpu_s = self_cpu_s();
	while (!stop_signal) {
		uint64_t now = monotonic_ns(), wait_ns;

		if (now >= next_scan) {
			err = scan(a);
			if (err)
				break;
			next_scan = now + (uint64_t)(scan_s * 1e9);
			if (only_pids(o) && !a->ntargets && !a->busy) {
				fprintf(stderr,
					"asyncprof: agent: every --pid target has exited\n");
				break;
			}
		}
		if (now >= next_cut) {
			err = end_window(a, false);
			if (err)
				break;
			/* A stall (a suspended agent) skips the windows it missed. */
			while (next_cut <= now)
				next_cut += interval_ns;
			continue;
		}
		wait_ns = (next_cut < next_scan ? next_cut : next_scan) - now;
		err = step_all(a, wait_ns < POLL_MAX_MS * 1000000ULL ? wait_ns / 1000000 + 1
								    : POLL_MAX_MS);
		if (err)
			break;
	}
	if (stop_signal)
		fprintf(stderr, "asyncprof: agent: %s: sending the current window and exiting\n",
			strsignal(stop_signal));
	for (size_t i = 0; i < a->ntargets; i++)
		if (!a->targets[i]->ended)
			retire(a->targets[i]);
	if (end_window(a, true) && !err)
		err = -ENOMEM;
	return err;
}

int agent_main(int argc, char **argv)
{
	struct sigaction sa = { .sa_handler = on_signal };
	struct agent_opts o;
	struct agent a = { .o = &o, .dirfd = -1, .page_size = sysconf(_SC_PAGESIZE) };
	long ncpus = sysconf(_SC_NPROCESSORS_ONLN);
	int err;

	agent_parse_args(argc, argv, &o);
	/*
	 * A daemon's heap: blocks of 128 KiB and more (a window's encoded profiles, a snapshot of
	 * ten thousand goroutines) are mapped and unmapped on their own instead of carved from the
	 * heap, where the holes they leave stay resident (glibc raises that threshold each time
	 * such a block is freed, unless it is set); and one arena for the loop and the exporter's
	 * thread, not one each.
	 */
	mallopt(M_MMAP_THRESHOLD, 128 * 1024);
	mallopt(M_ARENA_MAX, 1);
	governor_init(&a.gov, o.cpu_budget, ncpus > 0 ? ncpus : 1, o.freq_hz);
	err = setup(&a);
	if (!err) {
		sigemptyset(&sa.sa_mask);
		sigaction(SIGINT, &sa, NULL);
		sigaction(SIGTERM, &sa, NULL);
		signal(SIGPIPE, SIG_IGN);
		fprintf(stderr, "asyncprof: agent: a window every %gs at %u Hz, mode %s, CPU "
				"budget %g%% of %ld CPUs%s%s%s%s\n",
			o.interval_s, o.freq_hz, task_mode_name(o.mode), 100 * o.cpu_budget, ncpus,
			o.otlp_endpoint ? "; to " : "", o.otlp_endpoint ? exporter_url(a.ex) : "",
			o.output_dir ? "; into " : "", o.output_dir ? o.output_dir : "");
		err = run(&a) ? 1 : 0;
	}
	teardown(&a);
	target_filter_free(&o.filter);
	return err;
}
