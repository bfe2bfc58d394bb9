// SPDX-License-Identifier: MIT
#include "goroutines.h"
#include "util/array.h"
#include "util/hashmap.h"

#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#define MAX_GOROUTINES (1 << 20)
#define G_SCAN 0x1000
#define STACK_HASH_BYTES 1024
#define G_STACK_HI 8 /* g.stack is {lo, hi}, the first field of runtime.g in every version */

int go_process_open(struct go_process *gp, pid_t pid, const struct go_binary *gb, uint64_t bias)
{
	char path[64];

	memset(gp, 0, sizeof(*gp));
	snprintf(path, sizeof(path), "/proc/%d/mem", pid);
	gp->mem_fd = open(path, O_RDONLY | O_CLOEXEC);
	if (gp->mem_fd < 0)
		return -errno;
	gp->pid = pid;
	gp->gb = gb;
	gp->bias = bias;
	return 0;
}

void go_process_close(struct go_process *gp)
{
	if (gp->mem_fd >= 0)
		close(gp->mem_fd);
	gp->mem_fd = -1;
	for (int i = 0; i < GO_MAX_REASONS; i++) {
		free(gp->reasons[i]);
		gp->reasons[i] = NULL;
	}
	gp->reasons_read = false;
}

static int read_mem(struct go_process *gp, uint64_t addr, void *buf, size_t len)
{
	ssize_t n = pread(gp->mem_fd, buf, len, (off_t)addr);

	if (n < 0)
		return -errno;
	return (size_t)n == len ? 0 : -EIO;
}

static uint64_t word(const uint8_t *buf, uint32_t off)
{
	uint64_t v;

	memcpy(&v, buf + off, sizeof(v));
	return v;
}

/*
 * A parked goroutine's stack does not change; one that ran in between, even if it parked again
 * at the same place (a loop around time.Sleep), changed its locals. Hashing the live part of the
 * stack tells the two apart.
 */
static uint64_t hash_stack(struct go_process *gp, uint64_t sp, uint64_t hi)
{
	uint8_t buf[STACK_HASH_BYTES];
	size_t len;

	if (!sp || hi <= sp)
		return 0;
	len = hi - sp < sizeof(buf) ? hi - sp : sizeof(buf);
	if (read_mem(gp, sp, buf, len))
		return 0;
	return hash_bytes(buf, len);
}

/* Go keeps frame pointers: [bp] is the caller's bp, [bp + 8] the return address. */
/* Walks g's parked stack into pcs (GO_STACK_MAX of them); sets g->npcs. */
static void walk_parked_stack(struct go_process *gp, struct goroutine *g, uint64_t bp,
			      uint64_t *pcs)
{
	g->npcs = 0;
	if (!g->sched_pc)
		return;
	pcs[g->npcs++] = g->sched_pc;
	while (bp && g->npcs < GO_STACK_MAX) {
		uint64_t frame[2];

		if (read_mem(gp, bp, frame, sizeof(frame)) || !frame[1])
			break;
		pcs[g->npcs++] = frame[1] - 1;
		if (frame[0] <= bp) /* frames grow towards higher addresses */
			break;
		bp = frame[0];
	}
}

int go_snapshot(struct go_process *gp, struct goroutine **out, size_t *n)
{
	const struct go_g_offsets *o = &gp->gb->g;
	uint64_t slice[3], *ptrs = NULL, *pool = NULL, *at;
	size_t count = 0, npool = 0, cap_pool = 0;
	struct goroutine *gs = NULL, *block;
	uint8_t *buf = NULL;
	int err;

	if (!gp->gb->allgs)
		return -ENOTSUP;
	err = read_mem(gp, gp->gb->allgs + gp->bias, slice, sizeof(slice));
	if (err)
		return err;
	if (slice[1] > MAX_GOROUTINES)
		return -EIO;
	ptrs = malloc((slice[1] ? slice[1] : 1) * sizeof(*ptrs));
	gs = calloc(slice[1] ? slice[1] : 1, sizeof(*gs));
	buf = malloc(o->size);
	if (!ptrs || !gs || !buf) {
		err = -ENOMEM;
		goto out;
	}
	err = read_mem(gp, slice[0], ptrs, slice[1] * sizeof(*ptrs));
	if (err)
		goto out;
	for (size_t i = 0; i < slice[1]; i++) {
		struct goroutine *g = &gs[count];

		if (!ptrs[i] || read_mem(gp, ptrs[i], buf, o->size))
			continue;
		g->g = ptrs[i];
		g->status = (uint32_t)word(buf, o->atomicstatus) & ~G_SCAN;
		if (g->status == G_DEAD)
			continue;
		g->goid = (int64_t)word(buf, o->goid);
		g->parent_goid = o->parent_goid ? (int64_t)word(buf, o->parent_goid) : 0;
		g->waitreason = buf[o->waitreason];
		g->waitsince = (int64_t)word(buf, o->waitsince);
		g->gopc = word(buf, o->gopc);
		g->startpc = word(buf, o->startpc);
		g->sched_sp = word(buf, o->sched_sp);
		g->sched_pc = word(buf, o->sched_pc);
		if (g->status == G_WAITING) {
			if (!array_grow((void **)&pool, &cap_pool, npool + GO_STACK_MAX,
					sizeof(*pool))) {
				err = -ENOMEM;
				goto out;
			}
			walk_parked_stack(gp, g, word(buf, o->sched_bp), pool + npool);
			/* Where its stack is in the pool, until the pool has its place. */
			g->pcs = (const uint64_t *)(uintptr_t)npool;
			npool += g->npcs;
			g->stack_hash = hash_stack(gp, g->sched_sp, word(buf, G_STACK_HI));
		}
		count++;
	}
	/* One block: the goroutines, then their stacks. */
	block = malloc(count * sizeof(*gs) + npool * sizeof(*pool) + 1);
	if (!block) {
		err = -ENOMEM;
		goto out;
	}
	at = (uint64_t *)(block + count);
	for (size_t i = 0; i < count; i++) {
		block[i] = gs[i];
		block[i].pcs = gs[i].npcs ? at + (uintptr_t)gs[i].pcs : NULL;
	}
	if (npool)
		memcpy(at, pool, npool * sizeof(*pool));
	*out = block;
	*n = count;
out:
	free(ptrs);
	free(gs);
	free(pool);
	free(buf);
	return err;
}

int64_t go_read_goid(struct go_process *gp, uint64_t g)
{
	int64_t goid;

	if (read_mem(gp, g + gp->gb->g.goid, &goid, sizeof(goid)))
		return -1;
	return goid;
}

static void read_reason_names(struct go_process *gp)
{
	uint64_t n = gp->gb->wait_reason_count;

	gp->reasons_read = true;
	if (!gp->gb->wait_reason_strings || n > GO_MAX_REASONS)
		return;
	for (uint64_t i = 0; i < n; i++) {
		uint64_t str[2];
		char text[64];

		if (read_mem(gp, gp->gb->wait_reason_strings + gp->bias + i * 16, str, sizeof(str)))
			return;
		if (str[1] == 0 || str[1] >= sizeof(text) || read_mem(gp, str[0], text, str[1]))
			continue;
		text[str[1]] = 0;
		gp->reasons[i] = strdup(text);
	}
}

const char *go_reason(struct go_process *gp, unsigned int reason)
{
	const char *name;

	if (!gp->reasons_read)
		read_reason_names(gp);
	if (reason < GO_MAX_REASONS && gp->reasons[reason])
		return gp->reasons[reason];
	name = go_wait_reason_name(gp->gb, reason);
	return name ? name : "unknown wait";
}

int go_frames_at(struct process *proc, uint64_t pc, struct sym_frame *frames)
{
	const struct proc_mapping *m = process_mapping(proc, pc, 0);
	struct elf_object *obj = m ? symbolizer_object(proc->sym, proc->pid, m) : NULL;

	if (!obj)
		return 0;
	return elf_object_symbolize(obj, elf_object_vaddr(obj, m, pc), frames, SYM_MAX_INLINE);
}

void go_format_frame(const struct sym_frame *f, char *out, size_t size)
{
	const char *file = f->file ? strrchr(f->file, '/') : NULL;

	file = file ? file + 1 : f->file;
	if (file)
		snprintf(out, size, "%s (%s:%d)", f->function ? f->function : "?", file, f->line);
	else
		snprintf(out, size, "%s", f->function ? f->function : "?");
}

bool go_function_at(struct process *proc, uint64_t pc, char *out, size_t size)
{
	struct sym_frame frames[SYM_MAX_INLINE];
	int n = go_frames_at(proc, pc, frames);

	if (n <= 0 || !frames[n - 1].function)
		return false;
	snprintf(out, size, "%s", frames[n - 1].function);
	return true;
}

bool go_describe_pc(struct process *proc, uint64_t pc, char *out, size_t size)
{
	struct sym_frame frames[SYM_MAX_INLINE];
	int n = go_frames_at(proc, pc, frames);

	if (n <= 0) {
		snprintf(out, size, "0x%llx", (unsigned long long)pc);
		return false;
	}
	go_format_frame(&frames[0], out, size);
	return true;
}
