// SPDX-License-Identifier: MIT
#include "collector.h"
#include "util/array.h"
#include "util/hashmap.h"
#include "symbols/symbolizer.h"
#include "symbols/kallsyms.h"

#include <errno.h>
#include <malloc.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#define MAX_FRAMES 512
#define MAX_ANCESTRY 32
#define KERNEL_START 0xffff800000000000ULL
/* Exited tasks are folded (task_table_fold) every 5 s, once they have been gone for two:
 * samples and events still in flight for one find it whole. A fold walks the profiles (their
 * labels of the tasks gone): every second, it was a tenth of what a Tokio service spawning a
 * thousand tasks a second cost an always-on agent; every 5 s, memory holds 5 s more of them. */
#define FOLD_EVERY_NS 5000000000ULL
/* The heap is given back to the system at most this often: malloc_trim walks all of it (and
 * every session of an agent folds). */
#define TRIM_EVERY_NS 30000000000ULL
static uint64_t last_trim_ns; /* CLOCK_MONOTONIC; process-wide as the heap is */
#define FOLD_AFTER_NS 2000000000ULL

/* Where a profile's locations come from: per-profile caches of resolved addresses. */
struct sink {
	struct profile *prof;
	uint64_t kernel_mapping;   /* 0 until the first kernel frame */
	bool main_mapping_added;
	uint64_t generation;	   /* proc->generation the user cache belongs to */
	struct hashmap *user_locs; /* pc -> location id */
	struct hashmap *kernel_locs;
	struct hashmap *boundary;  /* location id -> 1 + is it the poll boundary */
};

struct pending_parent {
	uint64_t task;
	uint32_t len;
	uint8_t tls[SAMPLER_TLS_BYTES];
};

struct collector {
	struct collector_observation obs; /* duty cycled probes: what they saw; zero: always on */
	double wait_scale;		  /* collector_set_wait_scale(); 0: 1 */
	bool waits_sampled;		  /* collector_add_wait() was called */
	struct process *proc;
	struct kallsyms *ks;
	int64_t period_ns;
	struct sink cpu, wait, alloc;
	struct sink *others; /* collector_new_profile() */
	size_t nothers, cap_others;
	struct hashmap *threads; /* tid -> 1 */
	poll_boundary_fn is_boundary;
	bool (*is_boundary_ctx)(void *ctx, const char *function);
	void *boundary_ctx;
	bool own_stacks;
	struct task_namer namer; /* type_at NULL: none */
	struct library_rules library;
	struct collector_observer observer; /* on_sample, on_task_event NULL: none */
	bool measure_polls;
	const char *task_label;
	struct task_table *tasks;
	void (*finalize)(void *ctx, struct task_rec *t);
	void *finalize_ctx;
	uint64_t next_fold_ns;
	struct pending_parent *pending;
	size_t npending, cap_pending;
	struct collector_stats stats;
};

static int sink_init(struct sink *s, struct profile *prof)
{
	s->prof = prof;
	s->user_locs = hashmap_new();
	s->kernel_locs = hashmap_new();
	s->boundary = hashmap_new();
	return prof && s->user_locs && s->kernel_locs && s->boundary ? 0 : -ENOMEM;
}

static void sink_free(struct sink *s)
{
	profile_free(s->prof);
	hashmap_free(s->user_locs);
	hashmap_free(s->kernel_locs);
	hashmap_free(s->boundary);
}

/* Forgets the locations resolved for s->prof, which starts empty. Returns 0 or -ENOMEM. */
static int sink_reset(struct sink *s)
{
	hashmap_free(s->user_locs);
	hashmap_free(s->kernel_locs);
	hashmap_free(s->boundary);
	s->kernel_mapping = 0;
	s->main_mapping_added = false;
	s->user_locs = hashmap_new();
	s->kernel_locs = hashmap_new();
	s->boundary = hashmap_new();
	return s->user_locs && s->kernel_locs && s->boundary ? 0 : -ENOMEM;
}

int collector_new(struct process *proc, struct kallsyms *ks, int64_t period_ns,
		  struct collector **out)
{
	static const struct profile_value_type types[] = {
		{ "samples", "count" },
		{ "cpu", "nanoseconds" },
	};
	struct collector *c = calloc(1, sizeof(*c));

	if (!c)
		return -ENOMEM;
	c->proc = proc;
	c->ks = ks;
	c->period_ns = period_ns;
	c->threads = hashmap_new();
	if (!c->threads ||
	    sink_init(&c->cpu, profile_new(types, 2, 1,
					   (struct profile_value_type){ "cpu", "nanoseconds" },
					   period_ns))) {
		collector_free(c);
		return -ENOMEM;
	}
	c->cpu.generation = proc->generation;
	*out = c;
	return 0;
}

void collector_set_period(struct collector *c, int64_t period_ns)
{
	c->period_ns = period_ns;
	c->cpu.prof->period = period_ns;
}

void collector_set_kallsyms(struct collector *c, struct kallsyms *ks)
{
	c->ks = ks;
}

void collector_set_runtime(struct collector *c, poll_boundary_fn is_boundary, bool measure_polls,
			   const char *task_label)
{
	static const struct profile_value_type types[] = {
		{ "suspensions", "count" },
		{ "wait", "nanoseconds" },
	};

	c->is_boundary = is_boundary;
	c->measure_polls = measure_polls;
	c->task_label = task_label;
	if (!c->tasks)
		c->tasks = task_table_new();
	if (!c->wait.prof) {
		sink_init(&c->wait, profile_new(types, 2, 1,
						(struct profile_value_type){ "wait", "nanoseconds" },
						1));
		c->wait.generation = c->proc->generation;
	}
}

void collector_set_task_boundary(struct collector *c,
				 bool (*is_boundary)(void *ctx, const char *function), void *ctx,
				 bool own_stacks)
{
	c->is_boundary_ctx = is_boundary;
	c->boundary_ctx = ctx;
	c->own_stacks = own_stacks;
}

void collector_set_task_namer(struct collector *c, const struct task_namer *namer)
{
	c->namer = *namer;
}

void collector_set_library_rules(struct collector *c, const struct library_rules *rules)
{
	c->library = *rules;
}

void collector_free(struct collector *c)
{
	if (!c)
		return;
	sink_free(&c->cpu);
	sink_free(&c->wait);
	sink_free(&c->alloc);
	for (size_t i = 0; i < c->nothers; i++)
		sink_free(&c->others[i]);
	free(c->others);
	hashmap_free(c->threads);
	task_table_free(c->tasks);
	free(c->pending);
	free(c);
}

struct profile *collector_profile(struct collector *c)
{
	return c->cpu.prof;
}

struct profile *collector_wait_profile(struct collector *c)
{
	return c->wait.prof;
}

struct profile *collector_alloc_profile(struct collector *c)
{
	return c->alloc.prof;
}

struct task_table *collector_tasks(struct collector *c)
{
	return c->tasks;
}

const struct collector_stats *collector_stats(const struct collector *c)
{
	return &c->stats;
}

static const char *basename_of(const char *path)
{
	const char *slash = strrchr(path, '/');

	return slash ? slash + 1 : path;
}

/* A frame that is not an address: a task, a spawn site. */
static uint64_t synthetic_location(struct sink *s, const char *name)
{
	struct profile_line line = { 0 };

	line.function_id = profile_add_function(s->prof, name, NULL, NULL, 0);
	if (!line.function_id)
		return 0;
	return profile_add_location(s->prof, 0, 0, &line, 1);
}

static uint64_t unknown_location(struct sink *s, uint64_t mapping_id, uint64_t addr,
				 const char *module)
{
	char name[512];
	struct profile_line line = { 0 };

	snprintf(name, sizeof(name), "[unknown] (%s)", module);
	line.function_id = profile_add_function(s->prof, name, NULL, NULL, 0);
	if (!line.function_id)
		return 0;
	return profile_add_location(s->prof, mapping_id, addr, &line, 1);
}

static uint64_t kernel_location(struct collector *c, struct sink *s, uint64_t addr)
{
	static const struct profile_mapping kmap = {
		.start = KERNEL_START,
		.limit = UINT64_MAX,
		.file = PROFILE_KERNEL_MAPPING,
		.has_functions = true,
	};
	const char *name;
	struct profile_line line = { 0 };
	uint64_t id;

	if (hashmap_get(s->kernel_locs, &addr, sizeof(addr), &id))
		return id;
	if (!s->kernel_mapping)
		s->kernel_mapping = profile_add_mapping(s->prof, &kmap);
	if (!s->kernel_mapping)
		return 0;
	name = c->ks ? kallsyms_lookup(c->ks, addr, NULL) : NULL;
	if (name) {
		line.function_id = profile_add_function(s->prof, name, NULL, NULL, 0);
		id = line.function_id ? profile_add_location(s->prof, s->kernel_mapping, addr,
							     &line, 1)
				      : 0;
	} else {
		id = unknown_location(s, s->kernel_mapping, addr, PROFILE_KERNEL_MAPPING);
	}
	if (id && hashmap_put(s->kernel_locs, &addr, sizeof(addr), id))
		return 0;
	return id;
}

static uint64_t add_mapping(struct sink *s, const struct proc_mapping *m, struct elf_object *obj)
{
	struct profile_mapping pm = {
		.start = m->start,
		.limit = m->end,
		.offset = m->offset,
		.file = m->path,
		.build_id = obj ? elf_object_build_id(obj) : "",
		.has_functions = obj && elf_object_has_symbols(obj),
		.has_filenames = obj && elf_object_has_lines(obj),
		.has_line_numbers = obj && elf_object_has_lines(obj),
		.has_inline_frames = obj && elf_object_has_lines(obj),
	};

	return profile_add_mapping(s->prof, &pm);
}

/* The ELF object and frames at pc; returns the number of frames (innermost first), 0 when
 * unknown, -1 when pc is in no mapping yet. */
static int symbolize_pc(struct collector *c, uint64_t pc, uint64_t seen_ns,
			const struct proc_mapping **mp, struct elf_object **objp,
			struct sym_frame *frames)
{
	const struct proc_mapping *m = process_mapping(c->proc, pc, seen_ns);
	struct elf_object *obj = NULL;

	*mp = m;
	*objp = NULL;
	if (!m)
		return -1;
	if (procmaps_is_file(m) || strcmp(m->path, "[vdso]") == 0)
		obj = symbolizer_object(c->proc->sym, c->proc->pid, m);
	*objp = obj;
	if (!obj)
		return 0;
	return elf_object_symbolize(obj, elf_object_vaddr(obj, m, pc), frames, SYM_MAX_INLINE);
}

/* Sets *cacheable to false when the address was in no mapping yet: a later look, after the
 * mappings were read again, may find it (libraries mapped by ld.so right after exec). */
static uint64_t resolve_user(struct collector *c, struct sink *s, uint64_t pc, uint64_t seen_ns,
			     bool *cacheable)
{
	struct sym_frame frames[SYM_MAX_INLINE];
	struct profile_line lines[SYM_MAX_INLINE];
	const struct proc_mapping *m;
	struct elf_object *obj;
	uint64_t mapping_id;
	int n = symbolize_pc(c, pc, seen_ns, &m, &obj, frames);

	*cacheable = m != NULL;
	if (!m)
		return unknown_location(s, 0, pc, "no mapping");
	mapping_id = add_mapping(s, m, obj);
	if (!mapping_id)
		return 0;
	if (n <= 0)
		return unknown_location(s, mapping_id, pc,
					m->path[0] ? basename_of(m->path) : "anonymous");
	for (int i = 0; i < n; i++) {
		/* DWARF may describe an inlined body without naming it. */
		const char *name = frames[i].function ? frames[i].function : "[unknown inline]";

		lines[i].function_id = profile_add_function(s->prof, name, frames[i].system_name,
							    frames[i].file, 0);
		lines[i].line = frames[i].line;
		if (!lines[i].function_id)
			return 0;
	}
	return profile_add_location(s->prof, mapping_id, pc, lines, n);
}

/* pprof takes the first mapping for the main binary (go tool pprof prints it as "File:"). */
static void add_main_mappings(struct collector *c, struct sink *s)
{
	const struct proc_maps *maps = c->proc->maps;

	s->main_mapping_added = true;
	for (size_t i = 0; i < maps->count; i++) {
		const struct proc_mapping *m = &maps->mappings[i];

		if (m->executable && strcmp(m->path, c->proc->exe) == 0)
			add_mapping(s, m, symbolizer_object(c->proc->sym, c->proc->pid, m));
	}
}

static uint64_t user_location(struct collector *c, struct sink *s, uint64_t pc, uint64_t seen_ns)
{
	bool cacheable;
	uint64_t id;

	if (!s->main_mapping_added)
		add_main_mappings(c, s);
	if (s->generation != c->proc->generation) {
		struct hashmap *fresh = hashmap_new();

		if (!fresh)
			return 0;
		hashmap_free(s->user_locs);
		s->user_locs = fresh;
		s->generation = c->proc->generation;
	}
	if (hashmap_get(s->user_locs, &pc, sizeof(pc), &id))
		return id;
	id = resolve_user(c, s, pc, seen_ns, &cacheable);
	if (id && cacheable && hashmap_put(s->user_locs, &pc, sizeof(pc), id))
		return 0;
	return id;
}

static void unwind_once(struct collector *c, const struct unwind_input *in, uint64_t seen_ns,
			uint64_t *pcs, struct unwind_result *res)
{
	/* Code mapped since the last look (dlopen, ld.so after exec) must be known before
	 * unwinding; a stop at an unknown return address may mean the same. */
	process_mapping(c->proc, in->regs[SREG_IP], seen_ns);
	unwind_stack(c->proc->unwinder, in, pcs, MAX_FRAMES, res);
	if (res->error && !procmaps_find(c->proc->maps, pcs[res->npcs - 1]) &&
	    process_mapping(c->proc, pcs[res->npcs - 1], seen_ns))
		unwind_stack(c->proc->unwinder, in, pcs, MAX_FRAMES, res);
}

/*
 * Unwinds a copied user stack into pcs; returns how many. A thread trapped on a uprobe's
 * breakpoint may be seen before the kernel has set its instruction pointer back to the
 * breakpoint (it points one byte past, into the middle of the probed instruction, whose effect
 * has not happened yet) or after (at the breakpoint during the handlers, past the emulated
 * instruction once done): when the registers as they are do not unwind to the thread's first
 * frame, the breakpoint's own address is tried too.
 */
static size_t unwind_user(struct collector *c, uint32_t tid, const __u64 *regs,
			  const uint8_t *stack, size_t len, uint64_t seen_ns, bool at_breakpoint,
			  uint64_t *pcs)
{
	struct unwind_result res = { 0 }, other = { 0 };
	struct unwind_input in = {
		.tid = tid,
		.regs = (const uint64_t *)regs,
		.stack = stack,
		.stack_len = len,
	};
	uint64_t before[SREG_COUNT], other_pcs[MAX_FRAMES];

	unwind_once(c, &in, seen_ns, pcs, &res);
	if (at_breakpoint && (res.error || res.truncated)) {
		memcpy(before, regs, sizeof(before));
		before[SREG_IP]--;
		in.regs = before;
		unwind_once(c, &in, seen_ns, other_pcs, &other);
		if ((!other.error && !other.truncated) || other.npcs > res.npcs) {
			res = other;
			memcpy(pcs, other_pcs, other.npcs * sizeof(*pcs));
		}
	}
	if (res.truncated)
		c->stats.truncated_stacks++;
	else if (res.error)
		c->stats.unwind_errors++;
	return res.npcs;
}

static bool is_boundary_location(struct collector *c, struct sink *s, uint64_t loc_id)
{
	const struct profile_location *loc = profile_location(s->prof, loc_id);
	uint64_t v;
	bool yes = false;

	if (!loc || (!c->is_boundary && !c->is_boundary_ctx))
		return false;
	if (hashmap_get(s->boundary, &loc_id, sizeof(loc_id), &v))
		return v == 2;
	for (size_t i = 0; i < loc->nlines && !yes; i++) {
		const char *fn = profile_function(s->prof, loc->lines[i].function_id)->name;

		yes = c->is_boundary_ctx ? c->is_boundary_ctx(c->boundary_ctx, fn)
					 : c->is_boundary(fn);
	}
	hashmap_put(s->boundary, &loc_id, sizeof(loc_id), yes ? 2 : 1);
	return yes;
}

static bool has_prefix_in(const char *s, const char *const *prefixes)
{
	for (; prefixes && *prefixes; prefixes++)
		if (strncmp(s, *prefixes, strlen(*prefixes)) == 0)
			return true;
	return false;
}

static bool has_substring_in(const char *s, const char *const *needles)
{
	for (; needles && *needles; needles++)
		if (strstr(s, *needles))
			return true;
	return false;
}

/* Library code, not where a user would say a task was spawned or what it is: unknown code, or
 * the runtime's rules say so. */
static bool is_library_function(const struct collector *c, const char *name)
{
	return strncmp(name, "[unknown", 8) == 0 ||
	       has_prefix_in(name, c->library.function_prefixes);
}

static bool is_library_file(const struct collector *c, const char *file)
{
	return !file || has_substring_in(file, c->library.file_substrings);
}

/*
 * How to name user code at a frame: "function (file:line)", or, when the function is a library
 * wrapper whose body is user code (rustc puts an async fn's body in GenFuture::poll, without an
 * inline record), "file:line". Returns false when the frame is library code.
 */
static bool describe_frame(const struct collector *c, const char *fn, const char *file, int line,
			   char *out, size_t size)
{
	bool lib_fn = !fn || is_library_function(c, fn);

	if (lib_fn && is_library_file(c, file))
		return false;
	if (lib_fn)
		snprintf(out, size, "%s:%d", basename_of(file), line);
	else if (file)
		snprintf(out, size, "%s (%s:%d)", fn, basename_of(file), line);
	else
		snprintf(out, size, "%s", fn);
	return true;
}

/* Appends the task's ancestry to locs (leaf first): [task] X, [spawn] site, ... up to the root. */
static size_t append_ancestry(struct collector *c, struct sink *s, uint64_t task, uint64_t *locs,
			      size_t n, size_t max)
{
	uint64_t ids[MAX_ANCESTRY];
	size_t depth = task_ancestry(c->tasks, task, ids, MAX_ANCESTRY);
	char name[512];

	for (size_t i = depth; i-- > 0 && n + 2 <= max;) {
		struct task_identity t;
		bool known = task_identity(c->tasks, ids[i], &t);
		uint64_t id;

		snprintf(name, sizeof(name), "[task] %s",
			 known && t.name ? t.name : "[unknown]");
		id = synthetic_location(s, name);
		if (id)
			locs[n++] = id;
		snprintf(name, sizeof(name), "[spawn] %s",
			 known && t.spawned_at ? t.spawned_at
					       : (known && t.parent_known ? "[unknown]"
									  : "before attach"));
		id = synthetic_location(s, name);
		if (id)
			locs[n++] = id;
	}
	return n;
}

/* Appends logical frames to locs (leaf first: the innermost kept frame first). */
static size_t append_logical(struct sink *s, const struct logical_stack *ls, uint64_t *locs,
			     size_t n, size_t max)
{
	uint32_t kept = ls->depth < LOGICAL_FRAMES_MAX ? ls->depth : LOGICAL_FRAMES_MAX;
	char name[LOGICAL_NAME_LEN + 16];
	uint64_t id;

	if (ls->depth > kept && n < max) {
		snprintf(name, sizeof(name), "[%u deeper logical frames]", ls->depth - kept);
		id = synthetic_location(s, name);
		if (id)
			locs[n++] = id;
	}
	for (uint32_t i = kept; i-- > 0 && n < max;) {
		snprintf(name, sizeof(name), "[frame] %.*s", LOGICAL_NAME_LEN, ls->name[i]);
		id = synthetic_location(s, name);
		if (id)
			locs[n++] = id;
	}
	return n;
}

/*
 * Keeps the frames of the task's own poll (leaf up to and including the runtime's poll frame),
 * drops the executor frames below it, and puts the task's logical frames (when ls is not NULL)
 * and its ancestry in their place. A stack without the poll frame (a sample between polls) is
 * left whole, unless tasks run on stacks of their own: then they go at its root.
 */
static size_t task_stack(struct collector *c, struct sink *s, uint64_t task,
			 const struct logical_stack *ls, uint64_t *locs, size_t n, size_t max)
{
	size_t i;

	for (i = 0; i < n && !is_boundary_location(c, s, locs[i]); i++)
		;
	if (i == n && !c->own_stacks)
		return n;
	n = i < n ? i + 1 : n;
	if (ls)
		n = append_logical(s, ls, locs, n, max);
	return append_ancestry(c, s, task, locs, n, max);
}

/* The type of the innermost task poll frame among pcs (leaf first), at *at; NULL when none. */
static const char *innermost_poll(struct collector *c, const uint64_t *pcs, size_t n, size_t *at,
				  bool *internal)
{
	for (size_t i = 0; i < n; i++) {
		const char *type = c->namer.type_at(c->namer.ctx, pcs[i], internal);

		if (type) {
			*at = i;
			return type;
		}
	}
	return NULL;
}

/*
 * Names t from a CPU sample it was current in: after the innermost task poll frame. Polls nest
 * (a worker's launch task polls the others), and for a few instructions around each inner poll
 * the thread-local still names the outer task while the inner poll frame is on the stack. So a
 * stack with more poll frames names t only when the program's own code runs above the
 * innermost one (the inner task's future: its poll has begun). Returns whether the stack had a
 * poll frame (a stack that does is no basis for a guess from its user frames either).
 */
static bool name_from_sample(struct collector *c, struct task_rec *t, const uint64_t *locs,
			     size_t n)
{
	uint64_t pcs[MAX_FRAMES + SAMPLER_KSTACK_MAX];
	size_t npcs = 0, at, inner_at;
	bool internal, ignored, own_code = false, nested = false;
	const char *type;

	for (size_t i = 0; i < n && npcs < sizeof(pcs) / sizeof(pcs[0]); i++) {
		const struct profile_location *loc = profile_location(c->cpu.prof, locs[i]);

		pcs[npcs++] = loc ? loc->address : 0;
	}
	type = innermost_poll(c, pcs, npcs, &at, &internal);
	if (!type)
		return false;
	nested = innermost_poll(c, pcs + at + 1, npcs - at - 1, &inner_at, &ignored) != NULL;
	for (size_t i = 0; nested && i <= at && !own_code; i++) {
		const struct profile_location *loc = profile_location(c->cpu.prof, locs[i]);
		const struct profile_mapping *m =
		    loc ? profile_mapping(c->cpu.prof, loc->mapping_id) : NULL;

		for (size_t l = 0; m && !strcmp(m->file, c->proc->exe) && l < loc->nlines; l++) {
			const struct profile_function *fn =
			    profile_function(c->cpu.prof, loc->lines[l].function_id);

			own_code |= !is_library_function(c, fn->name) ||
				    !is_library_file(c, fn->file[0] ? fn->file : NULL);
		}
	}
	if (!nested || own_code)
		task_name_from_runtime(t, type, internal, false);
	return true;
}

/* Names a task after the innermost non-library function polled above the runtime frames. */
static void infer_task_name(struct collector *c, struct task_rec *t, const uint64_t *locs,
			    size_t n)
{
	char found[512] = "", desc[512];
	size_t above = 0; /* the frames above the task's (innermost) poll frame */

	while (above < n && !is_boundary_location(c, &c->cpu, locs[above]))
		above++;
	for (size_t i = 0; i < above; i++) {
		const struct profile_location *loc = profile_location(c->cpu.prof, locs[i]);
		const struct profile_mapping *m = loc ? profile_mapping(c->cpu.prof, loc->mapping_id)
						      : NULL;

		/* User code is the executable's: not the kernel's, not libc's. */
		if (!m || strcmp(m->file, c->proc->exe) != 0)
			continue;
		for (size_t l = 0; loc->nlines && l < loc->nlines; l++) {
			const struct profile_function *fn =
				profile_function(c->cpu.prof, loc->lines[l].function_id);

			if (describe_frame(c, fn->name, fn->file[0] ? fn->file : NULL,
					   (int)loc->lines[l].line, desc, sizeof(desc)))
				strcpy(found, desc); /* keep the outermost one */
		}
	}
	if (found[0]) {
		task_name_guessed(t, found, false);
		return;
	}
	/*
	 * Only runtime frames above the poll, among them the worker loop: the task is a worker
	 * thread's launch task. A user task sampled in runtime code (its timer, its waker) has
	 * the worker loop only below its poll frame, and stays unnamed until a better sample.
	 */
	for (size_t i = 0; i < above; i++) {
		const struct profile_location *loc = profile_location(c->cpu.prof, locs[i]);

		for (size_t l = 0; loc && l < loc->nlines; l++) {
			const char *fn = profile_function(c->cpu.prof, loc->lines[l].function_id)->name;

			if (has_substring_in(fn, c->library.worker_functions)) {
				task_name_guessed(t, "[runtime worker]", true);
				return;
			}
		}
	}
}

/* Whether the sample's thread entered the kernel through a breakpoint trap (int3) from user
 * mode: the exception entry is the outermost kernel frame. */
static bool at_breakpoint(struct collector *c, const struct sample_event *e)
{
	const char *entry;

	if (!c->ks || e->kstack_len <= 0 || e->kstack_len > SAMPLER_KSTACK_MAX)
		return false;
	entry = kallsyms_lookup(c->ks, e->kstack[e->kstack_len - 1], NULL);
	return entry && strcmp(entry, "asm_exc_int3") == 0;
}

/*
 * The kernel frames, then the user frames of a sample into locs (leaf first); returns how many.
 * A sample taken while a uprobe ran (its breakpoint trap, its handlers, the probed instruction
 * stepped out of line: asyncprof's own probes, in practice) gets a "[uprobe]" frame between the
 * two, and *in_probe is set.
 */
static size_t sample_locations(struct collector *c, struct sink *s, const struct sample_event *e,
			       size_t size, uint64_t *locs, bool *in_probe)
{
	uint64_t pcs[MAX_FRAMES];
	size_t nlocs = 0, ulen = e->ustack_len;
	bool trap = at_breakpoint(c, e);

	if (ulen > size - SAMPLE_HEADER_SIZE)
		ulen = size - SAMPLE_HEADER_SIZE;
	/* Before the kernel's: stacks that start in the kernel would make it the first mapping. */
	if (!s->main_mapping_added)
		add_main_mappings(c, s);
	for (int i = 0; i < e->kstack_len && i < SAMPLER_KSTACK_MAX; i++) {
		uint64_t id = kernel_location(c, s, e->kstack[i]);

		if (id)
			locs[nlocs++] = id;
	}
	*in_probe = trap || (e->flags & SAMPLE_UPROBE_XOL);
	if (*in_probe) {
		uint64_t id = synthetic_location(s, "[uprobe]");

		if (id)
			locs[nlocs++] = id;
	}
	if (e->flags & SAMPLE_USER_REGS) {
		size_t n = unwind_user(c, e->tid, e->regs, e->ustack, ulen, e->time_ns, trap, pcs);

		for (size_t i = 0; i < n; i++) {
			uint64_t id = user_location(c, s, pcs[i], e->time_ns);

			if (id)
				locs[nlocs++] = id;
		}
	}
	return nlocs;
}

/* Fills labels[0..1] with the sample's thread (comm holds TASK_COMM_LEN + 1 bytes); returns 2. */
static size_t thread_labels(struct collector *c, const struct sample_event *e, char *comm,
			    struct profile_label *labels)
{
	uint32_t tid = e->tid;

	if (!hashmap_get(c->threads, &tid, sizeof(tid), NULL)) {
		hashmap_put(c->threads, &tid, sizeof(tid), 1);
		c->stats.threads++;
	}
	memcpy(comm, e->comm, TASK_COMM_LEN);
	comm[TASK_COMM_LEN] = 0;
	labels[0] = (struct profile_label){ .key = "thread_id", .num = tid };
	labels[1] = (struct profile_label){ .key = "thread_name", .str = comm };
	return 2;
}

/* Labels that name one task: a folded task's samples lose them and merge by stack. */
static bool is_task_label(const struct collector *c, const char *key)
{
	return strcmp(key, c->task_label) == 0 || strcmp(key, "parent_id") == 0 ||
	       strcmp(key, "waker_id") == 0 || strcmp(key, "object") == 0;
}

struct gone_labels {
	const struct collector *c;
	const struct hashmap *gone;
};

static bool drop_gone_label(const struct profile_sample *s, const struct profile_label *l,
			    void *ctx)
{
	const struct gone_labels *g = ctx;
	const struct profile_label *task = profile_sample_label(s, g->c->task_label);
	uint64_t id;

	if (!task || !is_task_label(g->c, l->key))
		return false;
	id = (uint64_t)task->num;
	return hashmap_get(g->gone, &id, sizeof(id), NULL);
}

/* Folds the tasks that exited long enough before now (see FOLD_AFTER_NS), at most once every
 * FOLD_EVERY_NS. */
static void fold_tasks(struct collector *c, uint64_t now)
{
	struct gone_labels g = { .c = c };
	struct hashmap *gone;

	if (!c->tasks || now < c->next_fold_ns)
		return;
	if (!c->next_fold_ns || now < FOLD_AFTER_NS) {
		c->next_fold_ns = now + FOLD_EVERY_NS;
		return;
	}
	c->next_fold_ns = now + FOLD_EVERY_NS;
	gone = hashmap_new();
	if (!gone)
		return;
	g.gone = gone;
	if (task_table_fold(c->tasks, now - FOLD_AFTER_NS, c->finalize, c->finalize_ctx, gone) &&
	    hashmap_size(gone)) {
		profile_drop_labels(c->cpu.prof, drop_gone_label, &g);
		if (c->wait.prof)
			profile_drop_labels(c->wait.prof, drop_gone_label, &g);
		if (c->alloc.prof)
			profile_drop_labels(c->alloc.prof, drop_gone_label, &g);
		/* What was freed is scattered through the heap, among what lives on: give its pages
		 * back, or the resident size grows as if nothing had been folded. The heap is the
		 * process's, so is when it was last trimmed (the sessions share one thread). */
		if (!last_trim_ns || now - last_trim_ns >= TRIM_EVERY_NS || now < last_trim_ns) {
			malloc_trim(0);
			last_trim_ns = now;
		}
	}
	hashmap_free(gone);
}

void collector_set_task_finalizer(struct collector *c,
				  void (*finalize)(void *ctx, struct task_rec *t), void *ctx)
{
	c->finalize = finalize;
	c->finalize_ctx = ctx;
}

void collector_add(struct collector *c, const struct sample_event *e, size_t size, uint64_t task)
{
	/* + [uprobe], + the deeper logical frames' count */
	uint64_t locs[MAX_FRAMES + SAMPLER_KSTACK_MAX + 1 + LOGICAL_FRAMES_MAX + 1 + 2 * MAX_ANCESTRY];
	size_t nlocs, max = sizeof(locs) / sizeof(locs[0]);
	char comm[TASK_COMM_LEN + 1];
	struct profile_label labels[4];
	size_t nlabels;
	int64_t values[2] = { 1, c->period_ns };
	bool in_probe;

	nlocs = sample_locations(c, &c->cpu, e, size, locs, &in_probe);
	nlabels = thread_labels(c, e, comm, labels);
	if (task && c->tasks) {
		struct task_rec *t = task_get(c->tasks, task);

		if (t) {
			task_add_cpu(t, c->period_ns);
			bool named = c->namer.type_at && name_from_sample(c, t, locs, nlocs);

			if (!named && !t->name)
				infer_task_name(c, t, locs, nlocs);
			labels[nlabels++] = (struct profile_label){ .key = c->task_label,
								    .num = task };
			if (t->parent_known && t->parent != TASK_ROOT)
				labels[nlabels++] = (struct profile_label){ .key = "parent_id",
									    .num = t->parent };
		}
		nlocs = task_stack(c, &c->cpu, task, e->frames.depth ? &e->frames : NULL, locs,
				   nlocs, max);
	} else if (e->frames.depth) {
		nlocs = append_logical(&c->cpu, &e->frames, locs, nlocs, max);
	}
	if (profile_add_sample(c->cpu.prof, locs, nlocs, values, labels, nlabels) == 0) {
		c->stats.samples++;
		c->stats.probe_samples += in_probe;
	}
	if (c->observer.on_sample)
		c->observer.on_sample(c->observer.ctx, e, task, locs, nlocs);
	fold_tasks(c, e->time_ns);
}

static struct sink *sink_of(struct collector *c, const struct profile *prof)
{
	if (!prof)
		return NULL;
	if (c->cpu.prof == prof)
		return &c->cpu;
	if (c->wait.prof == prof)
		return &c->wait;
	if (c->alloc.prof == prof)
		return &c->alloc;
	for (size_t i = 0; i < c->nothers; i++)
		if (c->others[i].prof == prof)
			return &c->others[i];
	return NULL;
}

struct profile *collector_take(struct collector *c, struct profile *prof)
{
	struct sink *s = sink_of(c, prof);
	struct profile *taken;

	if (!s)
		return NULL;
	taken = profile_take(prof);
	/* Location ids are per profile: the caches of the old one mean nothing to the new. */
	if (taken && sink_reset(s)) {
		profile_free(taken);
		return NULL;
	}
	return taken;
}

struct profile *collector_new_profile(struct collector *c, const struct profile_value_type *types,
				      size_t ntypes, size_t default_type)
{
	struct sink *s;

	if (!array_grow((void **)&c->others, &c->cap_others, c->nothers + 1, sizeof(*c->others)))
		return NULL;
	s = &c->others[c->nothers];
	memset(s, 0, sizeof(*s));
	if (sink_init(s, profile_new(types, ntypes, default_type, types[default_type], 1))) {
		sink_free(s);
		return NULL;
	}
	s->generation = c->proc->generation;
	c->nothers++;
	return s->prof;
}

int collector_add_sample(struct collector *c, struct profile *prof, const struct sample_event *e,
			 size_t size, const int64_t *values, const struct profile_label *labels,
			 size_t nlabels, const char *root_frame)
{
	uint64_t locs[MAX_FRAMES + SAMPLER_KSTACK_MAX + 2]; /* + [uprobe], + root_frame */
	struct profile_label all[2 + COLLECTOR_MAX_LABELS];
	char comm[TASK_COMM_LEN + 1];
	struct sink *s = NULL;
	size_t nlocs, nall;
	bool in_probe;

	for (size_t i = 0; i < c->nothers && !s; i++)
		if (c->others[i].prof == prof)
			s = &c->others[i];
	if (!s || nlabels > COLLECTOR_MAX_LABELS)
		return -EINVAL;
	nlocs = sample_locations(c, s, e, size, locs, &in_probe);
	if (root_frame) {
		uint64_t id = synthetic_location(s, root_frame);

		if (id)
			locs[nlocs++] = id;
	}
	nall = thread_labels(c, e, comm, all);
	if (nlabels) /* labels may be NULL then, which memcpy must not be given */
		memcpy(&all[nall], labels, nlabels * sizeof(*labels));
	return profile_add_sample(prof, locs, nlocs, values, all, nall + nlabels);
}

/* ---- task events ---------------------------------------------------------------------------- */

/*
 * "function (file:line)" of the innermost non-library frame of a spawn stack, or of an await
 * stack (await: a function in a library's file is the library's too, such as tokio's waker
 * registration, which Rust names "<&core::task::wake::Waker as ...>").
 */
static void describe_site(struct collector *c, const uint64_t *pcs, size_t n, uint64_t seen_ns,
			  bool await, char *out, size_t size)
{
	struct sym_frame frames[SYM_MAX_INLINE];

	out[0] = 0;
	for (size_t i = 0; i < n; i++) {
		const struct proc_mapping *m;
		struct elf_object *obj;
		int nf = symbolize_pc(c, pcs[i], seen_ns, &m, &obj, frames);

		if (!m || strcmp(m->path, c->proc->exe) != 0)
			continue; /* user code is the executable's, not libc's */
		for (int f = 0; f < nf; f++) {
			const struct sym_frame *fr = &frames[f];

			if (await && fr->function && !is_library_function(c, fr->function) &&
			    is_library_file(c, fr->file))
				continue;
			if (describe_frame(c, fr->function, fr->file, fr->line, out, size))
				return;
		}
	}
}

/* The reason of a wait guessed from its await stack by the runtime's rules; "other" when none
 * matches. */
static const char *wait_reason(const struct collector *c, const uint64_t *locs, size_t n)
{
	const struct profile *prof = c->wait.prof;

	for (size_t i = 0; i < n; i++) {
		const struct profile_location *loc = profile_location(prof, locs[i]);

		for (size_t l = 0; loc && l < loc->nlines; l++) {
			const char *fn = profile_function(prof, loc->lines[l].function_id)->name;

			for (const struct wait_rule *r = c->library.wait_rules; r && r->needle; r++)
				if (strstr(fn, r->needle))
					return r->reason;
		}
	}
	return "other";
}

/*
 * ns of waiting by task at pcs (leaf first; none: unknown) in its logical frames (NULL: none):
 * reason NULL is guessed from the stack; object and waker are labels when not 0. t is the
 * task's record, NULL for a dormant task (task_table_doze): its waits go to its site's total,
 * and to the wait profile without a task label (the dormant tasks parked at one stack under one
 * ancestry are one sample).
 */
static void add_wait(struct collector *c, struct task_rec *t, uint64_t task, const uint64_t *pcs,
		     size_t npcs, const char *reason, uint64_t object,
		     const struct logical_stack *frames, uint64_t waker, uint64_t ns, uint64_t now,
		     double weight)
{
	/* locs[0] is the reason's frame, the await stack follows it. */
	uint64_t locs[1 + MAX_FRAMES + LOGICAL_FRAMES_MAX + 1 + 2 * MAX_ANCESTRY];
	size_t n = 1, nlabels = 2, max = sizeof(locs) / sizeof(locs[0]);
	bool unknown = false;
	struct profile_label labels[4];
	int64_t values[2] = { (int64_t)(weight + 0.5), (int64_t)(ns * weight + 0.5) };
	char frame[160];

	if (t)
		task_add_wait(t, (uint64_t)values[1]);
	else
		task_dormant_wait(c->tasks, task, (uint64_t)values[1]);
	for (size_t i = 0; i < npcs && n <= MAX_FRAMES; i++) {
		uint64_t id = user_location(c, &c->wait, pcs[i], now);

		if (id)
			locs[n++] = id;
	}
	if (n == 1) {
		uint64_t id = synthetic_location(&c->wait, "[await point unknown]");

		if (id)
			locs[n++] = id;
		unknown = true;
	}
	if (!reason)
		reason = wait_reason(c, locs + 1, n - 1);
	/*
	 * The reason is a label for pprof's tag filters, and the leaf frame too, so that a flame
	 * graph or a folded file, which keep no labels, shows what each tower waited on.
	 */
	snprintf(frame, sizeof(frame), "[wait] %s", reason);
	locs[0] = synthetic_location(&c->wait, frame);
	if (!locs[0])
		memmove(locs, locs + 1, --n * sizeof(*locs));
	labels[0] = (struct profile_label){ .key = "reason", .str = reason };
	labels[1] = (struct profile_label){ .key = c->task_label, .num = task };
	if (!t)
		nlabels = 1;
	if (object)
		labels[nlabels++] = (struct profile_label){ .key = "object", .num = object };
	if (waker)
		labels[nlabels++] = (struct profile_label){ .key = "waker_id", .num = waker };
	/* Without its own frames, the task's ancestry is all there is to say where it waited. */
	if (unknown && t)
		n = append_ancestry(c, &c->wait, task, locs, n, max);
	else
		n = task_stack(c, &c->wait, task, frames, locs, n, max);
	profile_add_sample(c->wait.prof, locs, n, values, labels, nlabels);
}

/* The suspension of t ends at now (woken by the task waker, 0 when none or unknown): its
 * nanoseconds go to the wait profile at its await stack. */
double collector_seen_weight(const struct collector *c, uint64_t from, uint64_t to)
{
	if (!c->obs.observed)
		return 1;
	if (!c->obs.observed(c->obs.ctx, from, to))
		return 0;
	return c->obs.weight(c->obs.ctx, to - from);
}

static void end_suspension(struct collector *c, struct task_rec *t, uint64_t now, uint64_t waker)
{
	uint64_t since = task_resumed(t);
	double weight;

	/* A runtime's own idle tasks (Go's GC workers, Tokio's worker launch tasks) wait all the
	 * time by design: their waits would drown the application's. */
	if (!since || now <= since || t->internal)
		return;
	weight = collector_seen_weight(c, since, now);
	if (weight > 0)
		add_wait(c, t, t->id, t->await_pcs, t->nawait, t->await_reason, t->await_object,
			 t->await_frames, waker, now - since, now, weight);
}

void collector_set_wait_scale(struct collector *c, double scale)
{
	c->wait_scale = scale;
}

bool collector_waits_sampled(const struct collector *c)
{
	return c->waits_sampled;
}

double collector_wait_scale(const struct collector *c)
{
	return c->wait_scale > 0 ? c->wait_scale : 1;
}

void collector_set_observation(struct collector *c, const struct collector_observation *o)
{
	c->obs = o ? *o : (struct collector_observation){ 0 };
}

void collector_add_wait(struct collector *c, uint64_t task, const uint64_t *pcs, size_t n,
			const char *reason, uint64_t ns)
{
	struct task_rec *t;

	c->waits_sampled = true;
	if (!c->tasks || !c->wait.prof || !ns)
		return;
	if (task_dormant(c->tasks, task)) {
		add_wait(c, NULL, task, pcs, n, reason, 0, NULL, 0, ns, monotonic_ns(), 1);
		return;
	}
	t = task_get(c->tasks, task);
	if (t && !t->internal)
		add_wait(c, t, task, pcs, n, reason, 0, NULL, 0, ns, monotonic_ns(), 1);
}

static void remember_parent(struct collector *c, const struct task_event *e)
{
	struct pending_parent *p;

	if (!(e->flags & TASK_EV_TLS))
		return;
	if (!array_grow((void **)&c->pending, &c->cap_pending, c->npending + 1,
			sizeof(*c->pending)))
		return;
	p = &c->pending[c->npending++];
	p->task = e->task;
	p->len = e->tls_len;
	memcpy(p->tls, e->tls, e->tls_len);
}

void collector_resolve_parents(struct collector *c,
			       uint64_t (*decode)(void *ctx, const uint8_t *tls, uint32_t len),
			       void *ctx)
{
	for (size_t i = 0; i < c->npending; i++) {
		struct task_rec *t = task_find(c->tasks, c->pending[i].task);

		if (!t || t->parent_known)
			continue;
		task_set_parent(t, decode(ctx, c->pending[i].tls, c->pending[i].len));
	}
	c->npending = 0;
}

/* A frame-pointer walk (TASK_EV_PCS) as unwinder output: return addresses point into the call. */
static size_t return_addresses(const uint8_t *bytes, size_t len, uint64_t *pcs)
{
	size_t n = len / sizeof(uint64_t);

	if (n > MAX_FRAMES)
		n = MAX_FRAMES;
	memcpy(pcs, bytes, n * sizeof(uint64_t));
	for (size_t i = 1; i < n; i++)
		pcs[i]--;
	return n;
}

void collector_gc_event(struct collector *c, uint64_t time_ns, enum collector_gc_phase phase)
{
	if (c->observer.on_gc)
		c->observer.on_gc(c->observer.ctx, time_ns, phase);
}

/* The first wait rule a function of pcs (leaf first) matches, or NULL. */
static const char *wait_reason_of_pcs(struct collector *c, const uint64_t *pcs, size_t n,
				      uint64_t seen_ns)
{
	struct sym_frame frames[SYM_MAX_INLINE];

	for (size_t i = 0; i < n; i++) {
		const struct proc_mapping *m;
		struct elf_object *obj;
		int nf = symbolize_pc(c, pcs[i], seen_ns, &m, &obj, frames);

		for (int f = 0; f < nf; f++)
			for (const struct wait_rule *r = c->library.wait_rules;
			     r && r->needle && frames[f].function; r++)
				if (strstr(frames[f].function, r->needle))
					return r->reason;
	}
	return NULL;
}

bool collector_await_point(struct collector *c, uint64_t task, char *reason, size_t reason_size,
			   char *where, size_t where_size)
{
	struct task_rec *t = c->tasks && task ? task_find(c->tasks, task) : NULL;
	const char *why;

	if (!t || !t->suspended_since)
		return false;
	why = t->await_reason;
	if (!why)
		why = wait_reason_of_pcs(c, t->await_pcs, t->nawait, t->suspended_since);
	snprintf(reason, reason_size, "%s", why ? why : "other");
	describe_site(c, t->await_pcs, t->nawait, t->suspended_since, true, where, where_size);
	return true;
}

void collector_set_wait_reason(struct collector *c, uint64_t task, const char *reason)
{
	struct task_rec *t = c->tasks ? task_get(c->tasks, task) : NULL;

	if (t && (!t->await_reason || strcmp(t->await_reason, reason) != 0))
		task_set_string(&t->await_reason, reason);
}

void collector_suspend(struct collector *c, uint64_t task, const uint64_t *pcs, size_t n,
		       uint64_t since_ns)
{
	struct task_rec *t = c->tasks ? task_get(c->tasks, task) : NULL;
	struct task_event at = { .time_ns = since_ns };

	if (t && !t->suspended_since && !t->exited_ns)
		task_awaiting(t, &at, pcs, n, NULL, NULL);
}

void collector_finish(struct collector *c, uint64_t now_ns)
{
	struct task_rec **all;
	size_t n;

	if (!c->tasks)
		return;
	all = task_list(c->tasks, &n);
	for (size_t i = 0; i < n; i++)
		if (all[i]->suspended_since && !all[i]->exited_ns)
			end_suspension(c, all[i], now_ns, 0);
}

void collector_cut_waits(struct collector *c, uint64_t now_ns)
{
	struct task_rec **all;
	size_t n;

	if (!c->tasks)
		return;
	all = task_list(c->tasks, &n);
	for (size_t i = 0; i < n; i++) {
		struct task_rec *t = all[i];

		if (!t->suspended_since || t->exited_ns || now_ns <= t->suspended_since)
			continue;
		end_suspension(c, t, now_ns, 0);
		task_suspended(t, now_ns);
	}
}

void collector_set_observer(struct collector *c, const struct collector_observer *o)
{
	c->observer = o ? *o : (struct collector_observer){ 0 };
}

void collector_add_alloc(struct collector *c, uint64_t task, const struct task_event *e,
			 size_t size, int64_t objects, int64_t bytes)
{
	static const struct profile_value_type types[] = {
		{ "alloc_objects", "count" },
		{ "alloc_space", "bytes" },
	};
	uint64_t pcs[MAX_FRAMES], locs[MAX_FRAMES + 2 * MAX_ANCESTRY];
	size_t ulen = e->ustack_len, n, nlocs = 0, max = sizeof(locs) / sizeof(locs[0]);
	struct profile_label label = { .key = c->task_label, .num = task };
	int64_t values[2] = { objects, bytes };

	if (!c->alloc.prof) {
		if (sink_init(&c->alloc, profile_new(types, 2, 1,
						     (struct profile_value_type){ "space", "bytes" },
						     1)))
			return;
		c->alloc.generation = c->proc->generation;
	}
	if (!(e->flags & TASK_EV_PCS) || size < TASK_EVENT_WITH_STACK)
		return;
	if (ulen > size - TASK_EVENT_WITH_STACK)
		ulen = size - TASK_EVENT_WITH_STACK;
	n = return_addresses(e->ustack, ulen, pcs);
	for (size_t i = 0; i < n; i++) {
		uint64_t id = user_location(c, &c->alloc, pcs[i], e->time_ns);

		if (id)
			locs[nlocs++] = id;
	}
	if (task && c->tasks)
		nlocs = task_stack(c, &c->alloc, task, NULL, locs, nlocs, max);
	profile_add_sample(c->alloc.prof, locs, nlocs, values, &label, task && c->task_label);
}

/* The event's label as a C string in buf, or NULL when it carries none. */
static const char *event_label(const struct task_event *e, size_t size, char *buf)
{
	if (!(e->flags & TASK_EV_LABEL) || size < TASK_EVENT_WITH_STACK)
		return NULL;
	memcpy(buf, e->label, TASK_LABEL_LEN);
	buf[TASK_LABEL_LEN] = 0;
	return buf[0] ? buf : NULL;
}

/* A spawn: the task's parent (the task running on the spawning thread), its spawn site, its
 * name (a label, else what the spawn's stack says), and the parent's name from the spawn. */
static void created(struct collector *c, struct task_rec *t, const struct task_event *e,
		    const uint64_t *pcs, size_t n, uint64_t current, bool current_known,
		    const char *label)
{
	char site[512];

	if (current_known) {
		struct task_rec *parent = current ? task_get(c->tasks, current) : NULL;
		const char *type;
		size_t at;
		bool parent_internal;

		task_set_parent(t, current);
		/* The parent is running: the spawn is in its future's code, inside its poll. */
		if (parent && c->namer.type_at &&
		    (type = innermost_poll(c, pcs, n, &at, &parent_internal)))
			task_name_from_runtime(parent, type, parent_internal, false);
	} else {
		remember_parent(c, e);
	}
	describe_site(c, pcs, n, e->time_ns, false, site, sizeof(site));
	if (site[0])
		task_set_shared(&t->spawned_at, site);
	if (label) {
		task_name_given(t, label);
	} else if (c->namer.spawned && (!t->name || t->name_inferred)) {
		bool spawned_internal = false;
		const char *type = c->namer.spawned(c->namer.ctx, pcs, n, &spawned_internal);

		/* what the task's own code or its runtime says later is more direct */
		if (type)
			task_name_from_runtime(t, type, spawned_internal, true);
	}
}

static void task_event(struct collector *c, const struct task_event *e, size_t size,
		       uint64_t current, bool current_known, const char *type_name, bool internal)
{
	uint64_t pcs[MAX_FRAMES];
	size_t ulen = e->ustack_len, n = 0;
	struct task_rec *t;
	char buf[TASK_LABEL_LEN + 1];
	const char *label = event_label(e, size, buf);

	if (e->kind < TASK_KINDS)
		c->stats.task_events_by_kind[e->kind]++;
	if (!c->tasks || !e->task)
		return;
	t = task_get(c->tasks, e->task);
	if (!t)
		return;
	if (size < TASK_EVENT_WITH_STACK || ulen > size - TASK_EVENT_WITH_STACK)
		ulen = size > TASK_EVENT_WITH_STACK ? size - TASK_EVENT_WITH_STACK : 0;
	if (e->flags & TASK_EV_STACK)
		n = unwind_user(c, e->tid, e->regs, e->ustack, ulen, e->time_ns, false, pcs);
	else if (e->flags & TASK_EV_PCS)
		n = return_addresses(e->ustack, ulen, pcs);

	switch (e->kind) {
	case TASK_CREATE:
		task_created(t, e->time_ns);
		created(c, t, e, pcs, n, current, current_known, label);
		break;
	case TASK_RUNNABLE:
		end_suspension(c, t, e->time_ns, current);
		task_woken(t);
		break;
	case TASK_RUN:
		/* The future's type overrides what samples suggested, internal or not. */
		if (type_name)
			task_name_from_runtime(t, type_name, internal, false);
		if (!c->measure_polls)
			break;
		end_suspension(c, t, e->time_ns, 0);
		task_poll_started(t, e,
				  e->flags & TASK_EV_LATENCY && e->value <= e->time_ns
					  ? collector_seen_weight(c, e->time_ns - e->value, e->time_ns)
					  : 1);
		break;
	case TASK_STOP:
		task_poll_stopped(t, e);
		break;
	case TASK_AWAIT:
		/* lifecycle mode's poll, from its run to this await: only when seen whole */
		if (t->poll_start.wall_ns && t->poll_start.wall_ns < e->time_ns &&
		    !collector_seen_weight(c, t->poll_start.wall_ns, e->time_ns))
			t->poll_start.wall_ns = 0;
		task_awaiting(t, e, pcs, n, label,
			      (e->flags & TASK_EV_FRAMES) && size >= TASK_EVENT_WITH_STACK
				      ? &e->frames
				      : NULL);
		break;
	case TASK_EXIT:
		if (type_name)
			task_name_from_runtime(t, type_name, internal, false);
		task_exited(t, e->time_ns);
		fold_tasks(c, e->time_ns);
		break;
	default:
		break;
	}
}

void collector_task_event(struct collector *c, const struct task_event *e, size_t size,
			  uint64_t current, bool current_known, const char *type_name,
			  bool internal)
{
	task_event(c, e, size, current, current_known, type_name, internal);
	if (c->observer.on_task_event)
		c->observer.on_task_event(c->observer.ctx, e, current_known ? current : 0);
}
