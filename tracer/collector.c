// SPDX-License-Identifier: MIT
#include "collector.h"
#include "hashmap.h"
#include "symbolizer.h"

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#define MAX_FRAMES 512
#define KERNEL_START 0xffff800000000000ULL

struct collector {
	struct process *proc;
	struct kallsyms *ks;
	struct profile *prof;
	int64_t period_ns;
	uint64_t kernel_mapping; /* 0 until the first kernel frame */
	bool main_mapping_added;
	uint64_t generation;	     /* proc->generation the user cache belongs to */
	struct hashmap *user_locs;   /* pc -> location id */
	struct hashmap *kernel_locs; /* address -> location id */
	struct hashmap *threads;     /* tid -> 1 */
	struct collector_stats stats;
};

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
	c->generation = proc->generation;
	c->prof = profile_new(types, 2, 1, (struct profile_value_type){ "cpu", "nanoseconds" },
			      period_ns);
	c->user_locs = hashmap_new();
	c->kernel_locs = hashmap_new();
	c->threads = hashmap_new();
	if (!c->prof || !c->user_locs || !c->kernel_locs || !c->threads)
		goto fail;
	*out = c;
	return 0;
fail:
	collector_free(c);
	return -ENOMEM;
}

void collector_free(struct collector *c)
{
	if (!c)
		return;
	profile_free(c->prof);
	hashmap_free(c->user_locs);
	hashmap_free(c->kernel_locs);
	hashmap_free(c->threads);
	free(c);
}

struct profile *collector_profile(struct collector *c)
{
	return c->prof;
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

static uint64_t unknown_location(struct collector *c, uint64_t mapping_id, uint64_t addr,
				 const char *module)
{
	char name[512];
	struct profile_line line = { 0 };

	snprintf(name, sizeof(name), "[unknown] (%s)", module);
	line.function_id = profile_add_function(c->prof, name, NULL, NULL, 0);
	if (!line.function_id)
		return 0;
	return profile_add_location(c->prof, mapping_id, addr, &line, 1);
}

static uint64_t kernel_location(struct collector *c, uint64_t addr)
{
	static const struct profile_mapping kmap = {
		.start = KERNEL_START,
		.limit = UINT64_MAX,
		.file = "[kernel.kallsyms]",
		.has_functions = true,
	};
	const char *name;
	struct profile_line line = { 0 };
	uint64_t id;

	if (hashmap_get(c->kernel_locs, &addr, sizeof(addr), &id))
		return id;
	if (!c->kernel_mapping)
		c->kernel_mapping = profile_add_mapping(c->prof, &kmap);
	if (!c->kernel_mapping)
		return 0;
	name = c->ks ? kallsyms_lookup(c->ks, addr, NULL) : NULL;
	if (name) {
		line.function_id = profile_add_function(c->prof, name, NULL, NULL, 0);
		id = line.function_id ? profile_add_location(c->prof, c->kernel_mapping, addr,
							     &line, 1)
				      : 0;
	} else {
		id = unknown_location(c, c->kernel_mapping, addr, "[kernel.kallsyms]");
	}
	if (id && hashmap_put(c->kernel_locs, &addr, sizeof(addr), id))
		return 0;
	return id;
}

static uint64_t add_mapping(struct collector *c, const struct proc_mapping *m,
			    struct elf_object *obj)
{
	struct profile_mapping pm = {
		.start = m->start,
		.limit = m->end,
		.offset = m->offset,
		.file = m->path,
		.build_id = obj ? elf_object_build_id(obj) : "",
		.has_functions = obj && elf_object_has_symbols(obj),
		.has_filenames = obj && elf_object_has_dwarf(obj),
		.has_line_numbers = obj && elf_object_has_dwarf(obj),
		.has_inline_frames = obj && elf_object_has_dwarf(obj),
	};

	return profile_add_mapping(c->prof, &pm);
}

/* Sets *cacheable to false when the address was in no mapping yet: a later look, after the
 * mappings were read again, may find it (libraries mapped by ld.so right after exec). */
static uint64_t resolve_user(struct collector *c, uint64_t pc, uint64_t seen_ns, bool *cacheable)
{
	struct sym_frame frames[SYM_MAX_INLINE];
	struct profile_line lines[SYM_MAX_INLINE];
	const struct proc_mapping *m;
	struct elf_object *obj = NULL;
	uint64_t mapping_id = 0, id;
	int n = 0;

	m = process_mapping(c->proc, pc, seen_ns);
	*cacheable = m != NULL;
	if (!m)
		return unknown_location(c, 0, pc, "no mapping");
	if (procmaps_is_file(m) || strcmp(m->path, "[vdso]") == 0)
		obj = symbolizer_object(c->proc->sym, c->proc->pid, m);
	mapping_id = add_mapping(c, m, obj);
	if (!mapping_id)
		return 0;
	if (obj)
		n = elf_object_symbolize(obj, elf_object_vaddr(obj, m, pc), frames, SYM_MAX_INLINE);
	if (n <= 0)
		return unknown_location(c, mapping_id, pc,
					m->path[0] ? basename_of(m->path) : "anonymous");
	for (int i = 0; i < n; i++) {
		/* DWARF may describe an inlined body without naming it. */
		const char *name = frames[i].function ? frames[i].function : "[unknown inline]";

		lines[i].function_id = profile_add_function(c->prof, name, frames[i].system_name,
							    frames[i].file, 0);
		lines[i].line = frames[i].line;
		if (!lines[i].function_id)
			return 0;
	}
	id = profile_add_location(c->prof, mapping_id, pc, lines, n);
	return id;
}

static uint64_t user_location(struct collector *c, uint64_t pc, uint64_t seen_ns)
{
	bool cacheable;
	uint64_t id;

	if (c->generation != c->proc->generation) {
		struct hashmap *fresh = hashmap_new();

		if (!fresh)
			return 0;
		hashmap_free(c->user_locs);
		c->user_locs = fresh;
		c->generation = c->proc->generation;
	}
	if (hashmap_get(c->user_locs, &pc, sizeof(pc), &id))
		return id;
	id = resolve_user(c, pc, seen_ns, &cacheable);
	if (id && cacheable && hashmap_put(c->user_locs, &pc, sizeof(pc), id))
		return 0;
	return id;
}

/* pprof takes the first mapping for the main binary (go tool pprof prints it as "File:"). */
static void add_main_mappings(struct collector *c)
{
	const struct proc_maps *maps = c->proc->maps;

	c->main_mapping_added = true;
	for (size_t i = 0; i < maps->count; i++) {
		const struct proc_mapping *m = &maps->mappings[i];

		if (m->executable && strcmp(m->path, c->proc->exe) == 0)
			add_mapping(c, m, symbolizer_object(c->proc->sym, c->proc->pid, m));
	}
}

void collector_add(struct collector *c, const struct sample_event *e, size_t size)
{
	uint64_t pcs[MAX_FRAMES], locs[MAX_FRAMES + SAMPLER_KSTACK_MAX];
	struct unwind_result res = { 0 };
	size_t nlocs = 0, ulen = e->ustack_len;
	uint32_t tid = e->tid;
	char comm[TASK_COMM_LEN + 1];
	struct profile_label labels[2];
	int64_t values[2] = { 1, c->period_ns };

	if (ulen > size - SAMPLE_HEADER_SIZE)
		ulen = size - SAMPLE_HEADER_SIZE;
	if (!c->main_mapping_added)
		add_main_mappings(c);

	for (int i = 0; i < e->kstack_len && i < SAMPLER_KSTACK_MAX; i++) {
		uint64_t id = kernel_location(c, e->kstack[i]);

		if (id)
			locs[nlocs++] = id;
	}

	if (e->flags & SAMPLE_USER_REGS) {
		struct unwind_input in = {
			.tid = e->tid,
			.regs = (const uint64_t *)e->regs,
			.stack = e->ustack,
			.stack_len = ulen,
		};

		/* Code mapped since the last look (dlopen, ld.so after exec) must be known
		 * before unwinding; a stop at an unknown return address may mean the same. */
		process_mapping(c->proc, e->regs[SREG_IP], e->time_ns);
		unwind_stack(c->proc->unwinder, &in, pcs, MAX_FRAMES, &res);
		if (res.error && !procmaps_find(c->proc->maps, pcs[res.npcs - 1]) &&
		    process_mapping(c->proc, pcs[res.npcs - 1], e->time_ns))
			unwind_stack(c->proc->unwinder, &in, pcs, MAX_FRAMES, &res);
		if (res.truncated)
			c->stats.truncated_stacks++;
		else if (res.error)
			c->stats.unwind_errors++;
		for (size_t i = 0; i < res.npcs; i++) {
			uint64_t id = user_location(c, pcs[i], e->time_ns);

			if (id)
				locs[nlocs++] = id;
		}
	} else {
		c->stats.kernel_only++;
	}

	if (!hashmap_get(c->threads, &tid, sizeof(tid), NULL)) {
		hashmap_put(c->threads, &tid, sizeof(tid), 1);
		c->stats.threads++;
	}
	memcpy(comm, e->comm, TASK_COMM_LEN);
	comm[TASK_COMM_LEN] = 0;
	labels[0] = (struct profile_label){ .key = "thread_id", .num = tid };
	labels[1] = (struct profile_label){ .key = "thread_name", .str = comm };
	if (profile_add_sample(c->prof, locs, nlocs, values, labels, 2) == 0)
		c->stats.samples++;
}
