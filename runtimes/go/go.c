// SPDX-License-Identifier: MIT
/*
 * The Go adaptor: goroutines as tasks (keyed by goid, the id Go prints), from two sources.
 *
 * Snapshots of runtime.allgs through /proc/PID/mem, in every mode: names, creation sites and
 * parents of goroutines, the goid of the g a CPU sample copied, and, in sample mode, a sampled
 * wait profile: each goroutine found parked is charged the time since the last snapshot at its
 * parked stack. Snapshots back off so that they take at most about 5% of the profiler's time.
 *
 * Probes (go.bpf.c) in lifecycle and full mode: exact creation stacks, parks, wakes, runs and
 * exits, so exact waits with Go's own wait reason, scheduling latency, channel blocking and
 * allocation samples; GC cycles in every mode (two hits per cycle).
 */
#include "go.h"
#include "go_binary.h"
#include "go_probes.h"
#include "goroutines.h"
#include "util/hashmap.h"
#include "util/array.h"
#include "go.skel.h"
#include "capture/sampler.h"
#include "capture/probe_site.h"
#include "capture/budget.h"
#include "runtimes/runtime.h"

#include <bpf/libbpf.h>
#include <bpf/bpf.h>
#include <errno.h>
#include <stdarg.h>
#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#define REFRESH_NS 100000000ULL
#define STALE_REFRESH_NS 10000000ULL /* sooner when a sample ran an unknown goroutine */
#define MAX_REFRESH_NS 2000000000ULL
#define DOZE_NS 60000000000ULL /* go_set_doze: parked this long, a goroutine dozes */
#define TLS_G_OFFSET (-8) /* runtime.tlsg on linux/amd64 */
#define GO_PAGE_SIZE 8192
#define MAX_WARNINGS 16
#define MAX_GC_CYCLES 1000 /* cycle durations kept for the report */
#define MAX_CHAN_SITES 4
#define REPORT_CHANNELS 50
/* Channels followed at once: a service makes channels by the million (one per request); when
 * the table fills, it keeps the half with the most blocking. A channel enters it when a wait on
 * it ends (a goroutine parked for ever costs no entry). */
#define MAX_CHANNELS 4096

enum chan_dir { CHAN_SEND, CHAN_RECV };

struct chan_site {
	char *site;
	uint64_t waits, wait_ns;
};

/* Blocking on one channel (hchan address). */
struct chan_stat {
	uint64_t addr;
	uint64_t waits[2], wait_ns[2], max_ns[2];
	struct chan_site sites[2][MAX_CHAN_SITES];
	size_t nsites[2];
	bool has_ops; /* full mode, once the probes are detached: ops is what they counted */
	struct go_chan_ops ops;
};

/* A goroutine parked on a channel, until it is woken. */
struct park {
	uint64_t goid;
	uint64_t since;
	uint64_t chan;	 /* the hchan; 0: not a channel wait (or its end was charged) */
	enum chan_dir dir;
	uint64_t site_pc; /* return address into the innermost non-runtime frame; 0: unknown */
};

struct gc_stats {
	uint64_t cycles, total_ns, max_ns, mark_term_max_ns, mark_term_total_ns;
	uint64_t start_ns, mark_term_ns; /* of the cycle in progress; 0 when none */
	double *cycle_ms;
	size_t ncycle_ms, cap_cycle_ms;
};

struct go_adaptor {
	struct process *proc;
	struct go_binary *gb;
	struct go_process gp;
	char path[PATH_MAX];	/* the executable, through /proc/PID/root */
	uint64_t bias;
	struct hashmap *goids; /* g address -> goid, from the last snapshot */
	struct hashmap *closures; /* goid -> 1: a closure found not to be a go-statement wrapper */
	uint64_t doze_ns;	  /* go_set_doze: parked this long, a goroutine dozes; 0: never */
	struct hashmap *wrappers; /* wrapper start pc -> the function it starts (a name), or 1 */
	uint64_t last_refresh_ns, refresh_every_ns, snapshot_ns;
	uint64_t base_refresh_ns; /* go_set_snapshot_period(); REFRESH_NS at least */
	bool stale; /* a sample ran a goroutine the last snapshot did not have */
	bool slow_snapshots; /* go_set_slow_snapshots(): every MAX_REFRESH_NS, not sooner */
	uint64_t goroutines_read; /* by every snapshot so far */
	bool waits_sampled; /* the wait profile comes from snapshots (sample mode, no gopark) */

	enum task_mode mode;
	struct collector *col;
	struct go_bpf *skel;
	struct ring_buffer *rb;
	struct probe_image *image; /* the executable as probes see it, functions by .gopclntab */
	struct bpf_link **links;
	size_t nlinks;
	struct hot_probes *hot; /* the hot hooks' probes, when duty cycled */
	uint64_t hchan_lock_offset;
	uint16_t *class_size;
	uint8_t *class_pages;
	size_t nclasses;

	struct hashmap *park_index; /* goid -> index + 1 into parks */
	struct park *parks;
	size_t nparks, cap_parks;
	struct hashmap *chan_index; /* hchan -> index + 1 into chans */
	struct chan_stat *chans;
	size_t nchans, cap_chans;
	struct gc_stats gc;
	uint64_t events, alloc_samples;
	uint64_t received[TASK_KINDS]; /* of the runtime's own kinds (GC, allocations) */
	/* The probes' drop counters, per kind, and their count of events without a goid, once
	 * they are detached. */
	uint64_t dropped[TASK_KINDS], without_goid;

	const char *warnings[MAX_WARNINGS];
	char *owned_warnings[MAX_WARNINGS];
	size_t nwarnings;
};

static void free_chan(struct chan_stat *ch)
{
	for (int d = 0; d < 2; d++)
		for (size_t k = 0; k < ch->nsites[d]; k++)
			free(ch->sites[d][k].site);
}

static void warn(struct go_adaptor *ga, const char *fmt, ...) __attribute__((format(printf, 2, 3)));

static void warn(struct go_adaptor *ga, const char *fmt, ...)
{
	va_list ap;
	char *text;

	if (ga->nwarnings == MAX_WARNINGS)
		return;
	va_start(ap, fmt);
	if (vasprintf(&text, fmt, ap) < 0)
		text = NULL;
	va_end(ap);
	if (!text)
		return;
	/* Once: two probes of one hook function lose the same view for the same reason. */
	for (size_t i = 0; i < ga->nwarnings; i++) {
		if (strcmp(ga->warnings[i], text) == 0) {
			free(text);
			return;
		}
	}
	ga->owned_warnings[ga->nwarnings] = text;
	ga->warnings[ga->nwarnings++] = text;
}

int go_adaptor_open(struct process *proc, struct go_adaptor **out)
{
	const struct proc_mapping *m = process_exe_mapping(proc);
	struct elf_object *obj = m ? symbolizer_object(proc->sym, proc->pid, m) : NULL;
	struct go_adaptor *ga;
	int err;

	if (!obj)
		return -ENOENT;
	ga = calloc(1, sizeof(*ga));
	if (!ga)
		return -ENOMEM;
	ga->proc = proc;
	ga->gp.mem_fd = -1;
	ga->refresh_every_ns = ga->base_refresh_ns = REFRESH_NS;
	snprintf(ga->path, sizeof(ga->path), "/proc/%d/root%s", proc->pid, proc->exe);
	ga->bias = m->start - elf_object_vaddr(obj, m, m->start);
	err = go_binary_analyze(ga->path, &ga->gb);
	if (!err && !ga->gb->allgs) {
		fprintf(stderr, "asyncprof: warning: %s is stripped (no runtime.allgs): goroutines "
				"are not named\n", proc->exe);
	}
	if (!err)
		err = go_process_open(&ga->gp, proc->pid, ga->gb, ga->bias);
	ga->goids = hashmap_new();
	ga->closures = hashmap_new();
	ga->wrappers = hashmap_new();
	ga->park_index = hashmap_new();
	ga->chan_index = hashmap_new();
	if (!err && (!ga->goids || !ga->closures || !ga->wrappers || !ga->park_index ||
		     !ga->chan_index))
		err = -ENOMEM;
	if (err) {
		go_adaptor_close(ga);
		return err;
	}
	*out = ga;
	return 0;
}

static uint64_t events_without_goid(struct go_adaptor *ga);

void go_adaptor_detach(struct go_adaptor *ga)
{
	if (!ga)
		return;
	/* What the report reads of the probes' maps is kept. */
	if (ga->skel)
		percpu_counters_sum(bpf_map__fd(ga->skel->maps.task_drops), ga->dropped,
				    TASK_KINDS);
	ga->without_goid = events_without_goid(ga);
	for (size_t i = 0; ga->skel && ga->mode >= MODE_FULL && i < ga->nchans; i++)
		ga->chans[i].has_ops = !bpf_map_lookup_elem(bpf_map__fd(ga->skel->maps.chan_ops),
							    &ga->chans[i].addr, &ga->chans[i].ops);
	for (size_t i = 0; i < ga->nlinks; i++)
		bpf_link__destroy(ga->links[i]);
	free(ga->links);
	ga->links = NULL;
	ga->nlinks = 0;
	hot_probes_free(ga->hot);
	ga->hot = NULL;
	ring_buffer__free(ga->rb);
	ga->rb = NULL;
	go_bpf__destroy(ga->skel);
	ga->skel = NULL;
}

void go_adaptor_close(struct go_adaptor *ga)
{
	if (!ga)
		return;
	go_adaptor_detach(ga);
	probe_image_free(ga->image);
	go_process_close(&ga->gp);
	go_binary_free(ga->gb);
	hashmap_free(ga->goids);
	hashmap_free(ga->closures);
	hashmap_free(ga->wrappers);
	hashmap_free(ga->park_index);
	hashmap_free(ga->chan_index);
	free(ga->parks);
	for (size_t i = 0; i < ga->nchans; i++)
		free_chan(&ga->chans[i]);
	free(ga->chans);
	free(ga->class_size);
	free(ga->class_pages);
	free(ga->gc.cycle_ms);
	for (size_t i = 0; i < ga->nwarnings; i++)
		free(ga->owned_warnings[i]);
	free(ga);
}

int go_set_hot(struct go_adaptor *ga, bool on)
{
	int fd;
	__u64 key;

	if (!ga->hot)
		return -EOPNOTSUPP;
	if (on)
		return hot_probes_attach(ga->hot);
	hot_probes_detach(ga->hot);
	/* What ready recorded is stale once its execute may have been missed. */
	fd = bpf_map__fd(ga->skel->maps.runnable);
	while (bpf_map_get_next_key(fd, NULL, &key) == 0)
		if (bpf_map_delete_elem(fd, &key))
			break;
	return 0;
}

void go_hot_hits(struct go_adaptor *ga, uint64_t hits[2])
{
	int fd = ga->skel ? bpf_map__fd(ga->skel->maps.counters) : -1;

	hits[0] = fd < 0 ? 0 : percpu_counter_sum(fd, GO_CNT_HOT);
	hits[1] = fd < 0 ? 0 : percpu_counter_sum(fd, GO_CNT_HOT_STEPPED);
}

void go_hot_run_time(struct go_adaptor *ga, uint64_t *ns, uint64_t *runs)
{
	hot_probes_run_time(ga->hot, ns, runs);
}

void go_tls_block(const struct go_adaptor *ga, int64_t *offset, uint32_t *len)
{
	*offset = TLS_G_OFFSET;
	*len = 8;
}

const char *go_runtime_version(const struct go_adaptor *ga)
{
	return ga->gb->version;
}

bool go_is_goroutine_root(const char *fn)
{
	return strcmp(fn, "runtime.goexit") == 0;
}

/* The runtime's own goroutines (GC workers, finalizers...); runtime.main runs main.main. */
static bool is_runtime_goroutine(const char *name)
{
	return name && strncmp(name, "runtime.", 8) == 0 && strcmp(name, "runtime.main") != 0;
}

/* "main.main.func2" */
static bool is_closure_name(const char *name)
{
	const char *dot = strrchr(name, '.');

	return dot && strncmp(dot, ".func", 5) == 0 && dot[5] >= '0' && dot[5] <= '9';
}

/* The "(file:line)" part of a "function (file:line)" description, or "". */
static const char *where(const char *desc)
{
	const char *p = strchr(desc, '(');

	return p ? p : "";
}

/*
 * `go f(x)` starts a compiler-made wrapper that calls f (main.main.gowrap1 from Go 1.21; a
 * closure such as main.main.func2 before): name the goroutine after f, the frame inside the
 * wrapper, once a stack shows it. f is often inlined into the wrapper: then it is the next
 * inlined frame at the wrapper's pc, not the next physical frame. A closure is taken for a
 * wrapper only when its call is on the line of the go statement itself. pcs: leaf first.
 */
static void name_from_wrapper(struct go_adaptor *ga, uint64_t goid, const uint64_t *pcs,
			      size_t n)
{
	struct task_rec *t = task_find(collector_tasks(ga->col), goid);
	struct sym_frame frames[SYM_MAX_INLINE], inner[SYM_MAX_INLINE];
	char wrapper[512];
	const char *callee = NULL;
	bool gowrap;

	if (!t || !t->name)
		return;
	gowrap = strstr(t->name, ".gowrap") != NULL;
	if (!gowrap && (!is_closure_name(t->name) || !t->spawned_at ||
			hashmap_get(ga->closures, &goid, sizeof(goid), NULL)))
		return;
	for (size_t i = n; i-- > 0;) {
		int nf = go_frames_at(ga->proc, pcs[i], frames), f = nf - 1;

		/* The wrapper is the outermost function of its physical frame. */
		if (nf <= 0 || !frames[f].function || strcmp(frames[f].function, t->name) != 0)
			continue;
		if (!gowrap) {
			go_format_frame(&frames[f], wrapper, sizeof(wrapper));
			if (strcmp(where(wrapper), where(t->spawned_at)) != 0) {
				hashmap_put(ga->closures, &goid, sizeof(goid), 1); /* keep its name */
				return;
			}
		}
		if (f > 0) {
			callee = frames[f - 1].function;
		} else if (i > 0) {
			int ni = go_frames_at(ga->proc, pcs[i - 1], inner);

			callee = ni > 0 ? inner[ni - 1].function : NULL;
		}
		if (callee)
			task_set_shared(&t->name, callee);
		return;
	}
}

#define MAX_WRAPPER_CALLS 64

/*
 * The function a `go f(x)` wrapper starting at startpc runs, read from its code once: the
 * first function its first call site is inlined from (f inlined into the wrapper), else the
 * first call's target; runtime helpers (morestack, write barriers) are passed over unless the
 * wrapper is the runtime's own. With at (a spawn site's "(file:line)"), the wrapper is a
 * closure (Go <= 1.20) and that call must be on the go statement's line, or the closure is
 * the user's own `go func() { ... }()`. NULL when not a wrapper. Names point into the
 * symbolizer's tables, which outlive the adaptor's use of them.
 */
static const char *wrapper_callee(struct go_adaptor *ga, uint64_t startpc, const char *wrapper,
				  const char *at)
{
	struct go_call calls[MAX_WRAPPER_CALLS];
	struct sym_frame frames[SYM_MAX_INLINE];
	bool runtime_own = strncmp(wrapper, "runtime.", 8) == 0;
	const char *found = NULL;
	uint64_t cached;
	int n;

	if (hashmap_get(ga->wrappers, &startpc, sizeof(startpc), &cached))
		return cached == 1 ? NULL : (const char *)(uintptr_t)cached;
	n = go_binary_calls(ga->gb, startpc - ga->bias, calls, MAX_WRAPPER_CALLS);
	for (int i = 0; i < n; i++) {
		int nf = go_frames_at(ga->proc, calls[i].site + ga->bias, frames);
		const char *fn = nf >= 2 ? frames[nf - 2].function : NULL;
		bool on_line = true;
		char site[512];

		if (nf <= 0 || !frames[nf - 1].function || strcmp(frames[nf - 1].function, wrapper))
			break; /* not the wrapper's own code: give up */
		if (at) {
			go_format_frame(&frames[nf - 1], site, sizeof(site));
			on_line = strcmp(where(site), at) == 0;
		}
		if (!fn || (!runtime_own && strncmp(fn, "runtime.", 8) == 0)) {
			int nt = go_frames_at(ga->proc, calls[i].target + ga->bias, frames);

			fn = nt > 0 ? frames[nt - 1].function : NULL;
		}
		if (!fn || (!runtime_own && strncmp(fn, "runtime.", 8) == 0))
			continue;
		found = on_line ? fn : NULL; /* the first real call decides */
		break;
	}
	hashmap_put(ga->wrappers, &startpc, sizeof(startpc), found ? (uint64_t)(uintptr_t)found : 1);
	return found;
}

/*
 * A goroutine's name from the pc it started at: its function, or what a `go f(x)` wrapper
 * (main.main.gowrap1, or a closure on the go statement's line before Go 1.21) runs: f.
 */
static bool goroutine_name(struct go_adaptor *ga, uint64_t startpc, const char *spawned_at,
			   char *out, size_t size)
{
	const char *callee = NULL;

	if (!go_function_at(ga->proc, startpc, out, size))
		return false;
	if (strstr(out, ".gowrap"))
		callee = wrapper_callee(ga, startpc, out, NULL);
	else if (is_closure_name(out) && spawned_at && *where(spawned_at))
		callee = wrapper_callee(ga, startpc, out, where(spawned_at));
	if (callee)
		snprintf(out, size, "%s", callee);
	return true;
}

/* Names a goroutine seen in a snapshot: function, creation site, parent (Go 1.21+). */
static void name_goroutine(struct go_adaptor *ga, struct task_rec *t, const struct goroutine *g)
{
	char text[512];

	/* Go 1.21+ records the creator; the main goroutine and runtime ones have 0. */
	if (ga->gb->g.parent_goid && !t->parent_known)
		task_set_parent(t, g->parent_goid > 0 ? (uint64_t)g->parent_goid : TASK_ROOT);
	if (!t->spawned_at && g->gopc && go_describe_pc(ga->proc, g->gopc - 1, text, sizeof(text)))
		/* The main goroutine and the runtime's own are started by the runtime. */
		task_set_shared(&t->spawned_at,
				strncmp(text, "runtime.", 8) == 0 ? "[runtime]" : text);
	if (goroutine_name(ga, g->startpc, t->spawned_at, text, sizeof(text)))
		task_name_given(t, text);
	task_set_internal(t, is_runtime_goroutine(t->name));
	if (ga->col && g->status == G_WAITING)
		name_from_wrapper(ga, g->goid, g->pcs, g->npcs);
}

static bool goid_alive(void *ctx, uint64_t id)
{
	return hashmap_get(ctx, &id, sizeof(id), NULL);
}

void go_refresh(struct go_adaptor *ga, struct task_table *tt)
{
	uint64_t start = monotonic_ns(), since_last = start - ga->last_refresh_ns, took;
	bool sample_waits = ga->col && ga->waits_sampled && ga->last_refresh_ns;
	bool sample_runnable = ga->col && ga->mode == MODE_SAMPLE && ga->last_refresh_ns;
	struct goroutine *gs;
	struct hashmap *goids, *alive = NULL;
	size_t n;

	if (!ga->gb->allgs || (since_last < ga->refresh_every_ns &&
				(ga->slow_snapshots || !ga->stale || since_last < STALE_REFRESH_NS ||
				 since_last < 20 * ga->snapshot_ns)))
		return;
	ga->stale = false;
	if (go_snapshot(&ga->gp, &gs, &n))
		return;
	ga->goroutines_read += n;
	ga->last_refresh_ns = start;
	goids = hashmap_new();
	/* Sample mode has no exit probe: a goroutine is gone when a snapshot no longer has it. */
	if (ga->mode == MODE_SAMPLE)
		alive = hashmap_new();
	if (!goids || (ga->mode == MODE_SAMPLE && !alive)) {
		hashmap_free(goids);
		hashmap_free(alive);
		free(gs);
		return;
	}
	/* Each parked goroutine is charged the whole interval before the snapshot that found it:
	 * like a sampling profiler's period, that estimates the time parked without bias, however
	 * irregular the intervals (a busy profiler looks late). */
	for (size_t i = 0; i < n; i++) {
		const struct goroutine *g = &gs[i];
		struct task_rec *t;

		hashmap_put(goids, &g->g, sizeof(g->g), (uint64_t)g->goid);
		if (g->goid <= 0)
			continue;
		if (alive && hashmap_put(alive, &g->goid, sizeof(g->goid), 1)) {
			hashmap_free(alive); /* without the whole set, no exit can be told */
			alive = NULL;
		}
		/* Dormant (parked for long): its wait is sampled from its identity; it is whole
		 * again once it runs. */
		if (g->status == G_WAITING && task_dormant(tt, (uint64_t)g->goid)) {
			if (sample_waits)
				collector_add_wait(ga->col, g->goid, g->pcs, g->npcs,
						   go_reason(&ga->gp, g->waitreason), since_last);
			continue;
		}
		t = task_get(tt, (uint64_t)g->goid);
		if (!t)
			continue;
		if (!t->name || t->name_inferred)
			name_goroutine(ga, t, g);
		else if (ga->col && g->status == G_WAITING)
			name_from_wrapper(ga, g->goid, g->pcs, g->npcs);
		if (sample_waits && g->status == G_WAITING)
			collector_add_wait(ga->col, g->goid, g->pcs, g->npcs,
					   go_reason(&ga->gp, g->waitreason), since_last);
		/* Without the ready/execute probes, time runnable is sampled the same way. */
		if (sample_runnable && g->status == G_RUNNABLE)
			task_add_runnable(t, since_last);
		if (g->status != G_WAITING)
			t->parked_since = 0;
		else if (!t->parked_since)
			t->parked_since = start;
	}
	free(gs);
	hashmap_free(ga->goids);
	ga->goids = goids;
	if (alive) {
		struct task_rec **all = task_list(tt, &n);

		for (size_t i = 0; i < n; i++)
			if (!all[i]->exited_ns &&
			    !hashmap_get(alive, &all[i]->id, sizeof(uint64_t), NULL)) {
				all[i]->exited_ns = start;
				hashmap_del(ga->closures, &all[i]->id, sizeof(uint64_t));
			}
		task_table_end_dormant(tt, goid_alive, alive);
		if (ga->doze_ns && start > ga->doze_ns)
			task_table_doze(tt, start - ga->doze_ns);
		hashmap_free(alive);
	}
	/*
	 * Back off when a snapshot is slow (many goroutines: reading them, and what the model makes
	 * of each parked one), to at most ~5% of one CPU, or ~1% when a cost governor slowed the
	 * snapshots down (go_set_slow_snapshots: a service leaking goroutines makes each snapshot
	 * longer, and 2 s apart is not slow enough for an agent's budget then).
	 */
	took = monotonic_ns() - start;
	ga->snapshot_ns = took;
	ga->refresh_every_ns = 20 * took < ga->base_refresh_ns ? ga->base_refresh_ns : 20 * took;
	if (ga->refresh_every_ns > MAX_REFRESH_NS && !ga->slow_snapshots)
		ga->refresh_every_ns = MAX_REFRESH_NS;
	if (ga->slow_snapshots)
		ga->refresh_every_ns = 100 * took > MAX_REFRESH_NS ? 100 * took : MAX_REFRESH_NS;
}

void go_set_snapshot_period(struct go_adaptor *ga, uint64_t ns)
{
	ga->base_refresh_ns = ns < REFRESH_NS ? REFRESH_NS : ns > MAX_REFRESH_NS ? MAX_REFRESH_NS : ns;
	if (!ga->slow_snapshots)
		ga->refresh_every_ns = ga->base_refresh_ns;
}

void go_set_doze(struct go_adaptor *ga, bool doze)
{
	/* The tests shorten the minute (milliseconds). */
	const char *ms = getenv("ASYNCPROF_TEST_DOZE_MS");

	ga->doze_ns = !doze ? 0 : ms && atoi(ms) > 0 ? (uint64_t)atoi(ms) * 1000000ULL : DOZE_NS;
}

void go_set_slow_snapshots(struct go_adaptor *ga, bool slow)
{
	ga->slow_snapshots = slow;
	if (slow)
		ga->refresh_every_ns = MAX_REFRESH_NS;
}

uint64_t go_goroutines_read(const struct go_adaptor *ga)
{
	return ga->goroutines_read;
}

uint64_t go_current_goroutine(struct go_adaptor *ga, const uint8_t *tls, uint32_t len)
{
	uint64_t g, goid;
	int64_t id;

	if (len < 8)
		return 0;
	memcpy(&g, tls, 8);
	if (!g)
		return 0;
	if (hashmap_get(ga->goids, &g, sizeof(g), &goid))
		return goid;
	/* Newer than the last snapshot; a g0 (a scheduler stack) reads goid 0: no goroutine. */
	id = go_read_goid(&ga->gp, g);
	if (id > 0)
		ga->stale = true;
	return id > 0 ? (uint64_t)id : 0;
}

/* ---- probes ------------------------------------------------------------------------------- */

/* hchan.lock: what gopark is given for a channel operation (docs/runtimes.md). */
static uint64_t hchan_lock_offset(const struct go_binary *gb)
{
	if (gb->major == 1 && gb->minor <= 22)
		return 88;
	if (gb->major == 1 && gb->minor <= 24)
		return 96;
	return 104;
}

static int add_link(struct go_adaptor *ga, struct bpf_link *link)
{
	struct bpf_link **l = realloc(ga->links, (ga->nlinks + 1) * sizeof(*l));

	if (!l) {
		bpf_link__destroy(link);
		return -ENOMEM;
	}
	ga->links = l;
	ga->links[ga->nlinks++] = link;
	return 0;
}

static int attach_at(struct go_adaptor *ga, const char *prog_name, const struct probe_site *site,
		     char *why, size_t len)
{
	struct bpf_program *prog = bpf_object__find_program_by_name(ga->skel->obj, prog_name);
	struct bpf_link *link;

	if (!prog)
		return -ENOENT;
	link = probe_site_attach(ga->image, prog, ga->proc->pid, site, 0, why, len);
	if (!link)
		return -errno;
	return add_link(ga, link);
}

/* A site of a hot hook, into the duty-cycled set (attached with the others by go_adaptor_attach). */
static int hot_add(struct go_adaptor *ga, const char *prog_name, const struct probe_site *site,
		   char *why, size_t len)
{
	struct bpf_program *prog = bpf_object__find_program_by_name(ga->skel->obj, prog_name);

	return prog ? hot_probes_add(ga->hot, prog, site, 0, why, len) : -ENOENT;
}

struct hook {
	const char *fn, *alt; /* the function, or alt when fn is absent (renamed by a version) */
	const char *prog;
	bool at_rets;	      /* on each RET instead of the entry */
	enum task_mode mode;  /* from which mode */
	const char *view;     /* what is lost without it */
	bool hot;	      /* fires per park, run or allocation: duty cycled under a budget */
};

static const struct hook hooks[] = {
	{ "runtime.gcBgMarkStartWorkers", NULL, "go_gc_start", false, MODE_SAMPLE, "GC cycles" },
	{ "runtime.gcMarkTermination", NULL, "go_gc_mark_term", false, MODE_SAMPLE, "GC cycles" },
	{ "runtime.gcMarkTermination", NULL, "go_gc_end", true, MODE_SAMPLE, "GC cycles" },
	{ "runtime.newproc1", NULL, "go_newproc1", false, MODE_LIFECYCLE, "creation stacks" },
	{ "runtime.newproc1", NULL, "go_newproc1_ret", true, MODE_LIFECYCLE,
	  "goroutine creation" },
	{ "runtime.gopark", NULL, "go_gopark", false, MODE_LIFECYCLE,
	  "exact waits (the wait profile is sampled from goroutine snapshots)", true },
	{ "runtime.ready", NULL, "go_ready", false, MODE_LIFECYCLE, "wake-ups", true },
	{ "runtime.execute", NULL, "go_execute", false, MODE_LIFECYCLE, "scheduling latency", true },
	{ "runtime.gdestroy", "runtime.goexit0", "go_exit", false, MODE_LIFECYCLE,
	  "goroutine exits" },
	{ "runtime.(*mcache).refill", NULL, "go_alloc_refill", false, MODE_LIFECYCLE,
	  "the allocation profile", true },
	{ "runtime.(*mcache).allocLarge", NULL, "go_alloc_large", false, MODE_LIFECYCLE,
	  "large allocations in the allocation profile", true },
	{ "runtime.chansend", NULL, "go_chansend", false, MODE_FULL, "channel send counts", true },
	{ "runtime.chanrecv", NULL, "go_chanrecv", false, MODE_FULL, "channel receive counts", true },
};

/* Where the hook's probes go: its entry probe, or each of its RETs; how many. */
static size_t hook_sites(const struct hook *h, const struct go_func *f, struct probe_site *sites)
{
	if (!h->at_rets) {
		enum probe_insn insn = f->probe == f->entry ? PROBE_ENTRY : PROBE_FRAME_SETUP;

		sites[0] = (struct probe_site){ f->probe, f->entry, insn };
		return 1;
	}
	for (size_t i = 0; i < f->nrets; i++)
		sites[i] = (struct probe_site){ f->rets[i], f->entry, PROBE_RET };
	return f->nrets;
}

/* Why the hook's function cannot be trusted (go_binary_func failed with err), in words. */
static void describe_dispute(const struct go_func *f, int err, char *why, size_t len)
{
	if (err == -ENODATA)
		snprintf(why, len, "no .gopclntab to check .symtab against");
	else if (!f->symtab_entry)
		snprintf(why, len, ".gopclntab has it at 0x%llx, .symtab not at all",
			 (unsigned long long)f->entry);
	else if (!f->entry)
		snprintf(why, len, ".symtab has it at 0x%llx, .gopclntab not at all",
			 (unsigned long long)f->symtab_entry);
	else
		snprintf(why, len,
			 ".symtab says 0x%llx (%llu bytes), .gopclntab 0x%llx (%llu bytes)",
			 (unsigned long long)f->symtab_entry, (unsigned long long)f->symtab_size,
			 (unsigned long long)f->entry, (unsigned long long)f->size);
}

/*
 * Attaches a hook: all of its probes, or none when one of its sites fails the checks (a hook
 * seen only at some of its RETs would lie about what it measures).
 */
static void attach_hook(struct go_adaptor *ga, const struct hook *h)
{
	const char *name = h->fn;
	struct probe_site sites[GO_MAX_RETS];
	struct go_func f;
	char why[192];
	size_t n;
	int err = go_binary_func(ga->gb, name, &f);

	if (err == -ENOENT && h->alt) {
		name = h->alt;
		err = go_binary_func(ga->gb, name, &f);
	}
	if (err == -ENOENT) {
		warn(ga, "%s is not in the binary: lost: %s", h->fn, h->view);
		ga->waits_sampled |= strcmp(h->prog, "go_gopark") == 0;
		return;
	}
	if (err == -EXDEV || err == -ENODATA) {
		describe_dispute(&f, err, why, sizeof(why));
		goto refused;
	}
	if (err) {
		snprintf(why, sizeof(why), "%s", strerror(-err));
		goto refused;
	}
	/* Parks inlined elsewhere would be missed: sample every park from snapshots instead. */
	if (f.inlined_copies > 0 && strcmp(h->prog, "go_gopark") == 0) {
		warn(ga, "%s is inlined in %d places (a PGO build?): the wait profile is sampled "
			 "from goroutine snapshots, and channel blocking is not measured",
		     name, f.inlined_copies);
		ga->waits_sampled = true;
		return;
	}
	if (f.inlined_copies > 0)
		warn(ga, "%s is also inlined in %d places (a PGO build?): %s misses the calls "
			 "made there",
		     name, f.inlined_copies, h->view);
	if (h->at_rets && (!f.nrets || f.rets_partial))
		warn(ga, "%s can return without a RET instruction we probe: %s is partial", name,
		     h->view);
	n = hook_sites(h, &f, sites);
	for (size_t i = 0; i < n; i++)
		if ((err = probe_site_check(ga->image, &sites[i], why, sizeof(why))))
			goto refused;
	for (size_t i = 0; i < n; i++)
		if ((err = h->hot && ga->hot ? hot_add(ga, h->prog, &sites[i], why, sizeof(why))
					     : attach_at(ga, h->prog, &sites[i], why, sizeof(why))))
			break;
	if (!err)
		return;
	warn(ga, "cannot attach a probe to %s (%s): lost: %s", name, why, h->view);
	ga->waits_sampled |= strcmp(h->prog, "go_gopark") == 0; /* from goroutine snapshots */
	return;
refused:
	warn(ga, "%s is not probed: %s: lost: %s", name, why, h->view);
	ga->waits_sampled |= strcmp(h->prog, "go_gopark") == 0;
}

/* runtime.class_to_size and class_to_allocnpages, read from the process. */
static void read_size_classes(struct go_adaptor *ga)
{
	const struct go_binary *gb = ga->gb;
	size_t n = gb->size_classes;

	if (!gb->class_to_size || !gb->class_to_allocnpages || !n || n > 256)
		goto missing;
	ga->class_size = calloc(n, sizeof(*ga->class_size));
	ga->class_pages = calloc(n, sizeof(*ga->class_pages));
	if (!ga->class_size || !ga->class_pages)
		goto missing;
	if (pread(ga->gp.mem_fd, ga->class_size, n * sizeof(*ga->class_size),
		  (off_t)(gb->class_to_size + ga->bias)) != (ssize_t)(n * sizeof(*ga->class_size)) ||
	    pread(ga->gp.mem_fd, ga->class_pages, n, (off_t)(gb->class_to_allocnpages + ga->bias)) !=
		    (ssize_t)n)
		goto missing;
	ga->nclasses = n;
	return;
missing:
	warn(ga, "the size-class tables were not found (stripped binary?): allocation samples "
		 "of small objects are counted, not weighted in bytes");
}

static int on_event(void *ctx, void *data, size_t size);

/* Goroutines parked before the probes started: waiting since now, at their parked stack. */
static void seed_waits(struct go_adaptor *ga)
{
	uint64_t now = monotonic_ns();
	struct goroutine *gs;
	size_t n;

	if (!ga->gb->allgs || go_snapshot(&ga->gp, &gs, &n))
		return;
	for (size_t i = 0; i < n; i++) {
		if (gs[i].status != G_WAITING || gs[i].goid <= 0)
			continue;
		collector_set_wait_reason(ga->col, gs[i].goid,
					  go_reason(&ga->gp, gs[i].waitreason));
		collector_suspend(ga->col, gs[i].goid, gs[i].pcs, gs[i].npcs, now);
	}
	free(gs);
}

static int pclntab_function(void *gb, uint64_t addr, uint64_t *start, uint64_t *end)
{
	return go_binary_function_at(gb, addr, start, end);
}

int go_adaptor_attach(struct go_adaptor *ga, enum task_mode mode, struct collector *col,
		      bool duty)
{
	struct go_func park;
	int err;

	ga->mode = mode;
	ga->col = col;
	ga->waits_sampled = mode == MODE_SAMPLE;
	ga->hchan_lock_offset = hchan_lock_offset(ga->gb);
	ga->skel = go_bpf__open();
	if (!ga->skel)
		return -errno;
	ga->skel->rodata->targ_tgid = ga->proc->pid;
	/* A park with its stack is ~900 bytes; a busy service parks 10^4 to 10^5 times a second.
	 * Sample mode sends a few events per GC cycle: the ring's pages are resident from the
	 * start (mapped twice), so it gets a small one. */
	bpf_map__set_max_entries(ga->skel->maps.task_events,
				 mode == MODE_SAMPLE ? 256 * 1024 : 16 * 1024 * 1024);
	ga->skel->rodata->task_wakeup_bytes = bpf_map__max_entries(ga->skel->maps.task_events) / 8;
	ga->skel->rodata->goid_offset = ga->gb->g.goid;
	/* Go <= 1.20: probes run before the frame is set up; the caller is at [rsp]. */
	if (!go_binary_func(ga->gb, "runtime.gopark", &park))
		ga->skel->rodata->caller_at_sp = !park.probe_at_push_bp && !park.frame_before_probe;
	duty = duty && mode >= MODE_LIFECYCLE;
	for (size_t i = 0; duty && i < sizeof(hooks) / sizeof(hooks[0]); i++) {
		struct bpf_program *prog =
		    bpf_object__find_program_by_name(ga->skel->obj, hooks[i].prog);

		if (hooks[i].hot && prog)
			hot_probes_prepare(prog);
	}
	err = runtime_bpf_load(ga->skel->skeleton, "Go", NULL, on_event, ga, &ga->rb);
	if (err)
		return err;
	if (mode >= MODE_LIFECYCLE)
		read_size_classes(ga);
	err = probe_image_open(ga->path, &ga->image);
	if (err)
		return err;
	probe_image_set_table(ga->image, ".gopclntab", pclntab_function, (void *)ga->gb);
	if (duty && (err = hot_probes_new(ga->image, ga->proc->pid, &ga->hot)))
		return err;
	for (size_t i = 0; i < sizeof(hooks) / sizeof(hooks[0]); i++)
		if (hooks[i].mode <= mode)
			attach_hook(ga, &hooks[i]);
	if (ga->hot && (err = hot_probes_attach(ga->hot)))
		return err;
	if (mode >= MODE_LIFECYCLE && !ga->waits_sampled)
		seed_waits(ga);
	return 0;
}

/* ---- events ------------------------------------------------------------------------------- */

/* qsort order of channels: the most blocking first. */
static int by_wait_desc(const void *a, const void *b)
{
	const struct chan_stat *x = a, *y = b;
	uint64_t wx = x->wait_ns[0] + x->wait_ns[1], wy = y->wait_ns[0] + y->wait_ns[1];

	return wx < wy ? 1 : wx > wy ? -1 : 0;
}

/* Forgets the channels but the MAX_CHANNELS / 2 with the most blocking. Returns 0 or -ENOMEM
 * (then nothing changed). */
static int prune_channels(struct go_adaptor *ga)
{
	struct hashmap *index = hashmap_new();
	size_t keep = MAX_CHANNELS / 2;

	if (!index)
		return -ENOMEM;
	qsort(ga->chans, ga->nchans, sizeof(*ga->chans), by_wait_desc);
	for (size_t i = 0; i < keep; i++) {
		if (hashmap_put(index, &ga->chans[i].addr, sizeof(uint64_t), i + 1)) {
			hashmap_free(index);
			return -ENOMEM;
		}
	}
	for (size_t i = keep; i < ga->nchans; i++)
		free_chan(&ga->chans[i]);
	ga->nchans = keep;
	hashmap_free(ga->chan_index);
	ga->chan_index = index;
	return 0;
}

static struct chan_stat *chan_get(struct go_adaptor *ga, uint64_t addr)
{
	uint64_t idx;

	if (hashmap_get(ga->chan_index, &addr, sizeof(addr), &idx))
		return &ga->chans[idx - 1];
	if (ga->nchans >= MAX_CHANNELS && prune_channels(ga))
		return NULL;
	if (!array_grow((void **)&ga->chans, &ga->cap_chans, ga->nchans + 1, sizeof(*ga->chans)))
		return NULL;
	if (hashmap_put(ga->chan_index, &addr, sizeof(addr), ga->nchans + 1))
		return NULL;
	memset(&ga->chans[ga->nchans], 0, sizeof(ga->chans[0]));
	ga->chans[ga->nchans].addr = addr;
	return &ga->chans[ga->nchans++];
}

/* The innermost return address outside the runtime in a park stack; 0 when none. */
static uint64_t user_site(struct go_adaptor *ga, const struct task_event *e, size_t size)
{
	size_t n = e->ustack_len / 8;
	char text[512];

	if (!(e->flags & TASK_EV_PCS) || size < TASK_EVENT_WITH_STACK + n * 8)
		return 0;
	for (size_t i = 1; i < n; i++) {
		uint64_t pc;

		memcpy(&pc, e->ustack + i * 8, 8);
		if (go_describe_pc(ga->proc, pc - 1, text, sizeof(text)) &&
		    strncmp(text, "runtime.", 8) != 0)
			return pc;
	}
	return 0;
}

static struct park *park_get(struct go_adaptor *ga, uint64_t goid, bool create)
{
	uint64_t idx;

	if (hashmap_get(ga->park_index, &goid, sizeof(goid), &idx))
		return &ga->parks[idx - 1];
	if (!create)
		return NULL;
	if (!array_grow((void **)&ga->parks, &ga->cap_parks, ga->nparks + 1, sizeof(*ga->parks)))
		return NULL;
	if (hashmap_put(ga->park_index, &goid, sizeof(goid), ga->nparks + 1))
		return NULL;
	memset(&ga->parks[ga->nparks], 0, sizeof(ga->parks[0]));
	ga->parks[ga->nparks].goid = goid;
	return &ga->parks[ga->nparks++];
}

static void on_park(struct go_adaptor *ga, const struct task_event *e, size_t size,
		    const char *reason)
{
	bool send = strncmp(reason, "chan send", 9) == 0;
	struct park *p;

	if (!send && strncmp(reason, "chan receive", 12) != 0)
		return;
	if (!(e->flags & GO_PARK_LOCK) || e->object < ga->hchan_lock_offset)
		return;
	p = park_get(ga, e->task, true);
	if (!p)
		return;
	p->since = e->time_ns;
	p->chan = e->object - ga->hchan_lock_offset;
	p->dir = send ? CHAN_SEND : CHAN_RECV;
	p->site_pc = user_site(ga, e, size);
}

static void charge_site(struct chan_stat *ch, enum chan_dir d, const char *site, uint64_t ns)
{
	size_t i;

	for (i = 0; i < ch->nsites[d]; i++)
		if (strcmp(ch->sites[d][i].site, site) == 0)
			break;
	if (i == ch->nsites[d]) {
		if (i == MAX_CHAN_SITES)
			return;
		ch->sites[d][i].site = strdup(site);
		if (!ch->sites[d][i].site)
			return;
		ch->nsites[d]++;
	}
	ch->sites[d][i].waits++;
	ch->sites[d][i].wait_ns += ns;
}

/* The goroutine runs again (or is runnable): its channel wait, if any, ends at now. */
static void on_unpark(struct go_adaptor *ga, uint64_t goid, uint64_t now)
{
	struct park *p = park_get(ga, goid, false);
	struct chan_stat *ch;
	char site[512];
	uint64_t ns;
	double weight;

	if (!p || !p->chan)
		return;
	ch = chan_get(ga, p->chan);
	p->chan = 0;
	weight = collector_seen_weight(ga->col, p->since, now);
	if (!ch || !weight)
		return;
	ns = now > p->since ? now - p->since : 0;
	ch->waits[p->dir]++;
	ch->wait_ns[p->dir] += (uint64_t)(ns * weight + 0.5);
	if (ns > ch->max_ns[p->dir])
		ch->max_ns[p->dir] = ns;
	if (!p->site_pc || !go_describe_pc(ga->proc, p->site_pc - 1, site, sizeof(site)))
		strcpy(site, "[unknown]");
	charge_site(ch, p->dir, site, (uint64_t)(ns * weight + 0.5));
}

/* The goroutine has exited: what was kept for it goes (goids are never reused). */
static void forget_goroutine(struct go_adaptor *ga, uint64_t goid)
{
	uint64_t idx, last;

	hashmap_del(ga->closures, &goid, sizeof(goid));
	if (!hashmap_get(ga->park_index, &goid, sizeof(goid), &idx))
		return;
	hashmap_del(ga->park_index, &goid, sizeof(goid));
	last = ga->nparks--;
	if (idx == last)
		return;
	/* The last park fills the hole. */
	ga->parks[idx - 1] = ga->parks[last - 1];
	hashmap_put(ga->park_index, &ga->parks[idx - 1].goid, sizeof(uint64_t), idx);
}

static void on_gc(struct go_adaptor *ga, const struct task_event *e)
{
	struct gc_stats *gc = &ga->gc;
	uint64_t ns;

	switch (e->kind) {
	case GO_EV_GC_START:
		gc->start_ns = e->time_ns;
		gc->mark_term_ns = 0;
		break;
	case GO_EV_GC_MARK_TERM:
		gc->mark_term_ns = e->time_ns;
		break;
	case GO_EV_GC_END:
		/* A cycle begun before attach is not counted: its start is unknown. */
		if (!gc->start_ns || !gc->mark_term_ns)
			break;
		ns = e->time_ns - gc->start_ns;
		gc->cycles++;
		gc->total_ns += ns;
		if (ns > gc->max_ns)
			gc->max_ns = ns;
		ns = e->time_ns - gc->mark_term_ns;
		gc->mark_term_total_ns += ns;
		if (ns > gc->mark_term_max_ns)
			gc->mark_term_max_ns = ns;
		if (gc->ncycle_ms < MAX_GC_CYCLES &&
		    array_grow((void **)&gc->cycle_ms, &gc->cap_cycle_ms, gc->ncycle_ms + 1,
			       sizeof(double)))
			gc->cycle_ms[gc->ncycle_ms++] = (e->time_ns - gc->start_ns) / 1e6;
		gc->start_ns = gc->mark_term_ns = 0;
		break;
	}
}

static void on_alloc(struct go_adaptor *ga, const struct task_event *e, size_t size)
{
	int64_t objects = 1, bytes = 0;

	if (e->flags & GO_ALLOC_LARGE) {
		bytes = (int64_t)e->value;
	} else {
		/* A span of this size class handed to an mcache: the bytes its caller and the
		 * goroutine's next small allocations of that class will take. */
		size_t sc = e->value >> 1;

		if (sc && sc < ga->nclasses && ga->class_size[sc]) {
			bytes = (int64_t)ga->class_pages[sc] * GO_PAGE_SIZE;
			objects = bytes / ga->class_size[sc];
		}
	}
	ga->alloc_samples++;
	collector_add_alloc(ga->col, e->task, e, size, objects, bytes);
}

static int on_event(void *ctx, void *data, size_t size)
{
	struct go_adaptor *ga = ctx;
	const struct task_event *e = data;
	struct task_rec *t;
	char name[512];
	const char *reason;

	if (size < TASK_EVENT_SMALL)
		return 0;
	ga->events++;
	if (e->kind >= TASK_RUNTIME_KINDS && e->kind < TASK_KINDS)
		ga->received[e->kind]++;
	switch (e->kind) {
	case TASK_CREATE:
		collector_task_event(ga->col, e, size, e->value, true, NULL, false);
		t = task_find(collector_tasks(ga->col), e->task);
		/* Only runtime frames made it: the main goroutine, the runtime's own. */
		if (t && !t->spawned_at)
			task_set_shared(&t->spawned_at, "[runtime]");
		if (t && e->type && goroutine_name(ga, e->type, t->spawned_at, name, sizeof(name))) {
			task_name_given(t, name);
			task_set_internal(t, is_runtime_goroutine(name));
		}
		break;
	case TASK_AWAIT:
		if (e->flags & TASK_EV_PCS) {
			uint64_t pcs[GO_PROBE_STACK_MAX];
			size_t n = e->ustack_len / 8;

			if (n > GO_PROBE_STACK_MAX || size < TASK_EVENT_WITH_STACK + n * 8)
				n = 0;
			memcpy(pcs, e->ustack, n * 8);
			for (size_t i = 1; i < n; i++)
				pcs[i]--;
			name_from_wrapper(ga, e->task, pcs, n);
		}
		reason = go_reason(&ga->gp, (unsigned int)e->value);
		collector_set_wait_reason(ga->col, e->task, reason);
		collector_task_event(ga->col, e, size, 0, false, NULL, false);
		on_park(ga, e, size, reason);
		break;
	case TASK_RUNNABLE:
	case TASK_EXIT:
		on_unpark(ga, e->task, e->time_ns);
		collector_task_event(ga->col, e, size, 0, false, NULL, false);
		if (e->kind == TASK_EXIT)
			forget_goroutine(ga, e->task);
		break;
	case TASK_RUN:
		on_unpark(ga, e->task, e->time_ns); /* woken by the network poller: no ready */
		collector_task_event(ga->col, e, size, 0, false, NULL, false);
		t = task_find(collector_tasks(ga->col), e->task);
		if (t)
			task_count_poll(t);
		break;
	case GO_EV_GC_START:
	case GO_EV_GC_MARK_TERM:
	case GO_EV_GC_END:
		on_gc(ga, e);
		collector_gc_event(ga->col, e->time_ns,
				   e->kind == GO_EV_GC_START       ? COLLECTOR_GC_START
				   : e->kind == GO_EV_GC_MARK_TERM ? COLLECTOR_GC_MARK_TERM
								   : COLLECTOR_GC_END);
		break;
	case GO_EV_ALLOC:
		on_alloc(ga, e, size);
		break;
	}
	return 0;
}

int go_consume(struct go_adaptor *ga)
{
	int n = ga->rb ? ring_buffer__consume(ga->rb) : 0;

	go_refresh(ga, collector_tasks(ga->col));
	return n < 0 ? n : 0;
}

/* ---- report ------------------------------------------------------------------------------- */

static uint64_t dropped_events(struct go_adaptor *ga)
{
	struct event_loss loss = { 0 };

	go_event_loss(ga, &loss);
	return event_loss_dropped(&loss);
}

static const struct event_kind_info *go_event_kind(uint32_t kind)
{
	static const struct event_kind_info kinds[] = {
		[GO_EV_GC_START - TASK_RUNTIME_KINDS] = { "gc_start", "go.gc" },
		[GO_EV_GC_MARK_TERM - TASK_RUNTIME_KINDS] = { "gc_mark_termination", "go.gc" },
		[GO_EV_GC_END - TASK_RUNTIME_KINDS] = { "gc_end", "go.gc" },
		[GO_EV_ALLOC - TASK_RUNTIME_KINDS] = { "alloc", "alloc.pb.gz" },
	};

	if (kind < TASK_RUNTIME_KINDS || kind - TASK_RUNTIME_KINDS >= sizeof(kinds) / sizeof(kinds[0]))
		return NULL;
	return &kinds[kind - TASK_RUNTIME_KINDS];
}

void go_event_loss(struct go_adaptor *ga, struct event_loss *loss)
{
	if (ga->skel)
		percpu_counters_sum(bpf_map__fd(ga->skel->maps.task_drops), loss->dropped,
				    TASK_KINDS);
	else
		memcpy(loss->dropped, ga->dropped, sizeof(ga->dropped));
	for (uint32_t k = TASK_RUNTIME_KINDS; k < TASK_KINDS; k++)
		loss->received[k] = ga->received[k];
	loss->runtime_kind = go_event_kind;
}

static uint64_t events_without_goid(struct go_adaptor *ga)
{
	return ga->skel ? percpu_counter_sum(bpf_map__fd(ga->skel->maps.counters), GO_CNT_NO_GOID)
			: ga->without_goid;
}

static json_t *gc_json(const struct gc_stats *gc)
{
	json_t *o = json_object(), *cycles = json_array();

	for (size_t i = 0; i < gc->ncycle_ms; i++)
		json_array_append_new(cycles, json_real(gc->cycle_ms[i]));
	json_object_set_new(o, "cycles", json_integer(gc->cycles));
	json_object_set_new(o, "total_ms", json_real(gc->total_ns / 1e6));
	json_object_set_new(o, "mean_ms",
			    json_real(gc->cycles ? gc->total_ns / 1e6 / gc->cycles : 0));
	json_object_set_new(o, "max_ms", json_real(gc->max_ns / 1e6));
	json_object_set_new(o, "mark_termination_mean_ms",
			    json_real(gc->cycles ? gc->mark_term_total_ns / 1e6 / gc->cycles : 0));
	json_object_set_new(o, "mark_termination_max_ms", json_real(gc->mark_term_max_ns / 1e6));
	json_object_set_new(o, "cycle_ms", cycles);
	return o;
}

/* scale: what the weighted waits stand for (collector_wait_scale) */
static json_t *sites_json(const struct chan_stat *ch, enum chan_dir d, double scale)
{
	json_t *a = json_array();

	for (size_t i = 0; i < ch->nsites[d]; i++) {
		json_t *o = json_object();

		json_object_set_new(o, "site", json_string(ch->sites[d][i].site));
		json_object_set_new(o, "waits", json_integer(ch->sites[d][i].waits));
		json_object_set_new(o, "wait_ns",
				    json_integer(ch->sites[d][i].wait_ns * scale + 0.5));
		json_array_append_new(a, o);
	}
	return a;
}

static int chan_ops_fill(struct go_adaptor *ga, const struct chan_stat *ch,
			 struct go_chan_ops *ops)
{
	memset(ops, 0, sizeof(*ops));
	if (ga->mode < MODE_FULL)
		return -ENOENT;
	if (!ga->skel) {
		*ops = ch->ops;
		return ch->has_ops ? 0 : -ENOENT;
	}
	return bpf_map_lookup_elem(bpf_map__fd(ga->skel->maps.chan_ops), &ch->addr, ops) ? -errno
											  : 0;
}

static int by_wait_desc_ptr(const void *a, const void *b)
{
	const struct chan_stat *const *x = a, *const *y = b;

	return by_wait_desc(*x, *y);
}

static json_t *channels_json(struct go_adaptor *ga)
{
	struct chan_stat **order = calloc(ga->nchans ? ga->nchans : 1, sizeof(*order));
	double scale = collector_wait_scale(ga->col);
	json_t *a = json_array();
	char addr[32];

	if (!order)
		return a;
	for (size_t i = 0; i < ga->nchans; i++)
		order[i] = &ga->chans[i];
	qsort(order, ga->nchans, sizeof(*order), by_wait_desc_ptr);
	for (size_t i = 0; i < ga->nchans && i < REPORT_CHANNELS; i++) {
		const struct chan_stat *ch = order[i];
		struct go_chan_ops ops;
		json_t *o = json_object();

		snprintf(addr, sizeof(addr), "0x%llx", (unsigned long long)ch->addr);
		json_object_set_new(o, "address", json_string(addr));
		json_object_set_new(o, "send_waits", json_integer(ch->waits[CHAN_SEND]));
		json_object_set_new(o, "send_wait_ns",
				    json_integer(ch->wait_ns[CHAN_SEND] * scale + 0.5));
		json_object_set_new(o, "send_wait_max_ns", json_integer(ch->max_ns[CHAN_SEND]));
		json_object_set_new(o, "recv_waits", json_integer(ch->waits[CHAN_RECV]));
		json_object_set_new(o, "recv_wait_ns",
				    json_integer(ch->wait_ns[CHAN_RECV] * scale + 0.5));
		json_object_set_new(o, "recv_wait_max_ns", json_integer(ch->max_ns[CHAN_RECV]));
		json_object_set_new(o, "send_sites", sites_json(ch, CHAN_SEND, scale));
		json_object_set_new(o, "recv_sites", sites_json(ch, CHAN_RECV, scale));
		if (!chan_ops_fill(ga, ch, &ops)) {
			json_object_set_new(o, "sends", json_integer(ops.sends));
			json_object_set_new(o, "recvs", json_integer(ops.recvs));
		}
		json_array_append_new(a, o);
	}
	free(order);
	return a;
}

json_t *go_report_json(struct go_adaptor *ga)
{
	json_t *o = json_object();

	json_object_set_new(o, "version", json_string(ga->gb->version));
	json_object_set_new(o, "offsets", json_string(ga->gb->offsets_from_dwarf ? "dwarf" : "table"));
	json_object_set_new(o, "gc", gc_json(&ga->gc));
	/* Where tasks[].runnable_ns comes from: exact latencies, or snapshots' estimate. */
	json_object_set_new(o, "runnable_from", json_string(ga->mode == MODE_SAMPLE
								   ? "snapshots" : "ready/execute probes"));
	if (ga->mode >= MODE_LIFECYCLE) {
		json_object_set_new(o, "channels", channels_json(ga));
		json_object_set_new(o, "alloc_samples", json_integer(ga->alloc_samples));
	}
	json_object_set_new(o, "events", json_integer(ga->events));
	json_object_set_new(o, "events_dropped", json_integer(dropped_events(ga)));
	json_object_set_new(o, "events_without_goid", json_integer(events_without_goid(ga)));
	return o;
}

size_t go_warnings(struct go_adaptor *ga, const char **out, size_t max)
{
	size_t n = 0;

	for (size_t i = 0; i < ga->nwarnings && n < max; i++)
		out[n++] = ga->warnings[i];
	return n;
}
