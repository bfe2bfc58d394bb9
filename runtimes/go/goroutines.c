// SPDX-License-Identifier: MIT
#include "goroutines.h"
#include "util/array.h"
#include "util/hashmap.h"

#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/uio.h>
#include <unistd.h>

#define MAX_GOROUTINES (1 << 20)
#define G_SCAN 0x1000
#define STACK_HASH_BYTES 1024
#define G_STACK_HI 8 /* g.stack is {lo, hi}, the first field of runtime.g in every version */

int go_process_open(struct go_process *gp, pid_t pid, const struct go_binary *gb, uint64_t bias)
{
	char path[64];
	uint64_t lo, hi;

	memset(gp, 0, sizeof(*gp));
	snprintf(path, sizeof(path), "/proc/%d/mem", pid);
	gp->mem_fd = open(path, O_RDONLY | O_CLOEXEC);
	if (gp->mem_fd < 0)
		return -errno;
	gp->pid = pid;
	gp->gb = gb;
	gp->bias = bias;
	/* Every goroutine's outermost frame returns into it: where a whole stack walk ends. */
	if (!go_binary_code_of(gb, "runtime.goexit", &lo, &hi) && lo < hi) {
		gp->goexit_lo = lo + bias;
		gp->goexit_hi = hi + bias;
	}
	/* A parked goroutine's frames all return into Go code. */
	if (!go_binary_code_range(gb, &lo, &hi)) {
		gp->code_lo = lo + bias;
		gp->code_hi = hi + bias;
	}
	return 0;
}

static void free_scratch(void *scratch);

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
	free_scratch(gp->scratch);
	gp->scratch = NULL;
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
 * Reading a snapshot. Design note: a service has thousands of goroutines, and one read per
 * goroutine and per frame through /proc/PID/mem made a snapshot thousands of system calls (an
 * always-on agent spent most of its CPU there). A snapshot reads in batches instead, with
 * process_vm_readv(2): the runtime.g of up to BATCH goroutines in one call, then the top
 * STACK_WINDOW bytes of the parked stacks of those waiting, in another, where their frames are
 * walked (a frame outside the window is read on its own). A goroutine whose memory cannot be
 * read (the call stops at the first address that fails) is read again alone through
 * /proc/PID/mem, which says for that one only; a kernel or a policy that refuses
 * process_vm_readv turns it off for the process, and everything is read through /proc/PID/mem.
 */
#define BATCH 256
#define STACK_WINDOW 2048
/* Times a goroutine woken while its stack was read is read again (see check_parked()). */
#define TORN_RETRIES 1

/* Reads n remote ranges into local buffers; ok[i] says which were read whole. */
static void read_batch(struct go_process *gp, const struct iovec *remote, struct iovec *local,
		       size_t n, bool *ok)
{
	size_t i = 0;

	while (i < n) {
		ssize_t got = -1;
		size_t done = 0;

		if (!gp->no_vm_readv) {
			got = process_vm_readv(gp->pid, local + i, n - i, remote + i, n - i, 0);
			if (got < 0 && (errno == ENOSYS || errno == EPERM))
				gp->no_vm_readv = true;
		}
		if (got < 0)
			got = 0;
		/* Whole ranges first; the one it stopped in, if any, alone. */
		while (i + done < n && (size_t)got >= local[i + done].iov_len) {
			got -= (ssize_t)local[i + done].iov_len;
			ok[i + done++] = true;
		}
		i += done;
		if (i < n) {
			ok[i] = !read_mem(gp, (uint64_t)(uintptr_t)remote[i].iov_base,
					  local[i].iov_base, local[i].iov_len);
			i++;
		}
	}
}

/*
 * Walks g's parked stack into pcs (GO_STACK_MAX of them), reading frames from the window (the
 * stack's top len bytes, from g->sched_sp) or, outside it, from the process; sets g->npcs. Go
 * keeps frame pointers: [bp] is the caller's bp, [bp + 8] the return address. The walk stops
 * before a return address outside the Go code. Returns whether it ended where a goroutine's
 * stack ends (its outermost frame, which returns into runtime.goexit, saved a bp of 0) or at
 * GO_STACK_MAX frames: a walk that ended anywhere else went through a stack that changed while
 * it was read (see check_parked()), or through frames that are not Go's (a goroutine in a
 * callback from C, whose walk is dropped as a torn one's).
 */
static bool walk_parked_stack(struct go_process *gp, struct goroutine *g, uint64_t bp,
			      const uint8_t *window, size_t len, uint64_t *pcs)
{
	g->npcs = 0;
	if (!g->sched_pc)
		return false;
	pcs[g->npcs++] = g->sched_pc;
	while (bp && g->npcs < GO_STACK_MAX) {
		uint64_t frame[2];

		if (len >= sizeof(frame) && bp >= g->sched_sp &&
		    bp - g->sched_sp <= len - sizeof(frame))
			memcpy(frame, window + (bp - g->sched_sp), sizeof(frame));
		else if (read_mem(gp, bp, frame, sizeof(frame)))
			return false;
		if (!frame[1] ||
		    (gp->code_hi && (frame[1] - 1 < gp->code_lo || frame[1] - 1 >= gp->code_hi)))
			return false;
		pcs[g->npcs++] = frame[1] - 1;
		if (!frame[0])
			return !gp->goexit_hi ||
			       (frame[1] - 1 >= gp->goexit_lo && frame[1] - 1 < gp->goexit_hi);
		if (frame[0] <= bp) /* frames grow towards higher addresses */
			return false;
		bp = frame[0];
	}
	return g->npcs == GO_STACK_MAX;
}

/* The scratch buffers of a batch, kept by the process between snapshots. */
struct batch_bufs {
	struct iovec remote[BATCH], local[BATCH];
	bool ok[BATCH];
	size_t waiting[BATCH]; /* which goroutines of the batch are parked */
	uint64_t bp[BATCH];
	bool whole[BATCH]; /* its stack was walked to its end (walk_parked_stack()) */
	uint8_t stacks[BATCH][STACK_WINDOW];
	/* A snapshot's work arrays, grown as needed and kept for the next one: a service's
	 * snapshots run every second or so, and arrays of megabytes allocated afresh each time
	 * are mapped and unmapped each time (a page fault per page). */
	uint64_t *ptrs, *pool;
	struct goroutine *gs;
	uint8_t *gbuf;
	size_t cap_ptrs, cap_pool, cap_gs;
};

static void free_scratch(void *scratch)
{
	struct batch_bufs *b = scratch;

	if (!b)
		return;
	free(b->ptrs);
	free(b->pool);
	free(b->gs);
	free(b->gbuf);
	free(b);
}

static void read_gs(struct go_process *gp, const uint64_t *ptrs, size_t n, uint8_t *gbuf)
{
	struct batch_bufs *b = gp->scratch;

	for (size_t i = 0; i < n; i++) {
		b->remote[i] = (struct iovec){ (void *)(uintptr_t)ptrs[i], gp->gb->g.size };
		b->local[i] = (struct iovec){ gbuf + i * gp->gb->g.size, gp->gb->g.size };
		b->ok[i] = false;
	}
	read_batch(gp, b->remote, b->local, n, b->ok);
}

/* Fills g from the runtime.g in buf; false when it is dead. */
static bool parse_g(const struct go_g_offsets *o, const uint8_t *buf, uint64_t addr,
		    struct goroutine *g)
{
	g->g = addr;
	g->status = (uint32_t)word(buf, o->atomicstatus) & ~G_SCAN;
	if (g->status == G_DEAD)
		return false;
	g->goid = (int64_t)word(buf, o->goid);
	g->parent_goid = o->parent_goid ? (int64_t)word(buf, o->parent_goid) : 0;
	g->waitreason = buf[o->waitreason];
	g->waitsince = (int64_t)word(buf, o->waitsince);
	g->gopc = word(buf, o->gopc);
	g->startpc = word(buf, o->startpc);
	g->sched_sp = word(buf, o->sched_sp);
	g->sched_pc = word(buf, o->sched_pc);
	return true;
}

/*
 * The parked stacks of the batch's waiting goroutines gs[b->waiting[0..nw)]: each one's top
 * window in one call, then its frames and the hash of its live part. A parked goroutine's
 * stack does not change; one that ran in between, even if it parked again at the same place (a
 * loop around time.Sleep), changed its locals: hashing the live part tells the two apart.
 */
static int read_stacks(struct go_process *gp, struct goroutine *gs, const uint64_t *hi,
		       size_t nw, uint64_t **pool, size_t *npool, size_t *cap_pool)
{
	struct batch_bufs *b = gp->scratch;

	for (size_t j = 0; j < nw; j++) {
		struct goroutine *g = &gs[b->waiting[j]];
		uint64_t top = hi[j] > g->sched_sp ? hi[j] - g->sched_sp : 0;
		size_t len = top < STACK_WINDOW ? (size_t)top : STACK_WINDOW;

		if (!g->sched_sp)
			len = 0;
		b->remote[j] = (struct iovec){ (void *)(uintptr_t)g->sched_sp, len };
		b->local[j] = (struct iovec){ b->stacks[j], len };
		b->ok[j] = false;
	}
	read_batch(gp, b->remote, b->local, nw, b->ok);
	for (size_t j = 0; j < nw; j++) {
		struct goroutine *g = &gs[b->waiting[j]];
		size_t len = b->ok[j] ? b->local[j].iov_len : 0;

		if (!array_grow((void **)pool, cap_pool, *npool + GO_STACK_MAX, sizeof(**pool)))
			return -ENOMEM;
		b->whole[j] = walk_parked_stack(gp, g, b->bp[j], b->stacks[j], len, *pool + *npool);
		/* Where its stack is in the pool, until the pool has its place. */
		g->pcs = (const uint64_t *)(uintptr_t)*npool;
		*npool += g->npcs;
		g->stack_hash = len ? hash_bytes(b->stacks[j],
						 len < STACK_HASH_BYTES ? len : STACK_HASH_BYTES)
				    : 0;
	}
	return 0;
}

/*
 * A snapshot does not stop the process: a goroutine read as parked may be woken, and run, while
 * its stack is read, and the frames walked from the stack are then another moment's, or
 * garbage (a ping-pong on a channel parks and wakes each side every microsecond: one snapshot
 * stack in six or seven had a return address on the heap). Keeps in b->waiting those of the
 * batch's waiting goroutines gs[b->waiting[0..nw)] whose walk did not reach their stack's end
 * (walk_parked_stack()), and returns how many. A goroutine woken and parked again at the same
 * place while its stack was read may leave a walk that reaches the end through frames of
 * another moment, of the same calls: that one is kept, as a sample of where it parks.
 */
static size_t check_parked(struct go_process *gp, size_t nw)
{
	struct batch_bufs *b = gp->scratch;
	size_t torn = 0;

	for (size_t j = 0; j < nw; j++)
		if (!b->whole[j])
			b->waiting[torn++] = b->waiting[j];
	return torn;
}

/* Drops g's stack: it was parked when its status was read, at a place no read could tell. */
static void forget_stack(struct goroutine *g)
{
	g->npcs = 0;
	g->pcs = NULL;
	g->stack_hash = 0;
}

/*
 * Reads the goroutines gs[b->waiting[0..nw)], whose stacks were torn, again, and the stacks of
 * those parked now, which take the place of what was read first (parked then and parked now:
 * either place is as fair a sample). Returns how many are to be checked again (in b->waiting),
 * or -ENOMEM. One running now, or exited, keeps the status it was first read with, without a
 * stack: a snapshot still counts the parked goroutines of one moment.
 */
static ssize_t reread_parked(struct go_process *gp, struct goroutine *gs, size_t nw,
			     uint64_t *hi, uint64_t **pool, size_t *npool, size_t *cap_pool)
{
	const struct go_g_offsets *o = &gp->gb->g;
	struct batch_bufs *b = gp->scratch;
	uint64_t addrs[BATCH];
	size_t again = 0;

	for (size_t j = 0; j < nw; j++)
		addrs[j] = gs[b->waiting[j]].g;
	read_gs(gp, addrs, nw, b->gbuf);
	for (size_t j = 0; j < nw; j++) {
		struct goroutine *g = &gs[b->waiting[j]];
		const uint8_t *buf = b->gbuf + j * o->size;
		struct goroutine fresh = { 0 };

		if (!b->ok[j] || !parse_g(o, buf, addrs[j], &fresh) || fresh.status != G_WAITING) {
			forget_stack(g);
			continue;
		}
		*g = fresh;
		b->waiting[again] = b->waiting[j];
		b->bp[again] = word(buf, o->sched_bp);
		hi[again++] = word(buf, G_STACK_HI);
	}
	if (read_stacks(gp, gs, hi, again, pool, npool, cap_pool))
		return -ENOMEM;
	return (ssize_t)again;
}

/* One block: the goroutines, then their stacks. */
static struct goroutine *pack(const struct goroutine *gs, size_t count, const uint64_t *pool,
			      size_t npool)
{
	struct goroutine *block = malloc(count * sizeof(*gs) + npool * sizeof(*pool) + 1);
	uint64_t *at;

	if (!block)
		return NULL;
	at = (uint64_t *)(block + count);
	for (size_t i = 0; i < count; i++) {
		block[i] = gs[i];
		block[i].pcs = gs[i].npcs ? at + (uintptr_t)gs[i].pcs : NULL;
	}
	if (npool)
		memcpy(at, pool, npool * sizeof(*pool));
	return block;
}

int go_snapshot(struct go_process *gp, struct goroutine **out, size_t *n)
{
	const struct go_g_offsets *o = &gp->gb->g;
	uint64_t slice[3], hi[BATCH];
	size_t count = 0, npool = 0;
	size_t batch = gp->batch && gp->batch < BATCH ? gp->batch : BATCH;
	struct batch_bufs *b;
	int err;

	if (!gp->gb->allgs)
		return -ENOTSUP;
	if (!gp->scratch && !(gp->scratch = calloc(1, sizeof(struct batch_bufs))))
		return -ENOMEM;
	b = gp->scratch;
	err = read_mem(gp, gp->gb->allgs + gp->bias, slice, sizeof(slice));
	if (err)
		return err;
	if (slice[1] > MAX_GOROUTINES)
		return -EIO;
	if (!array_grow((void **)&b->ptrs, &b->cap_ptrs, slice[1] ? slice[1] : 1,
			sizeof(*b->ptrs)) ||
	    !array_grow((void **)&b->gs, &b->cap_gs, slice[1] ? slice[1] : 1, sizeof(*b->gs)))
		return -ENOMEM;
	if (!b->gbuf && !(b->gbuf = malloc((size_t)BATCH * o->size)))
		return -ENOMEM;
	err = read_mem(gp, slice[0], b->ptrs, slice[1] * sizeof(*b->ptrs));
	if (err)
		return err;
	for (size_t at = 0; at < slice[1]; at += batch) {
		size_t nb = slice[1] - at < batch ? slice[1] - at : batch, nw = 0;

		read_gs(gp, b->ptrs + at, nb, b->gbuf);
		/* read_gs's ok[] is overwritten by read_stacks: take what it says first. */
		for (size_t i = 0; i < nb; i++) {
			const uint8_t *buf = b->gbuf + i * o->size;

			memset(&b->gs[count], 0, sizeof(b->gs[count]));
			if (!b->ptrs[at + i] || !b->ok[i] ||
			    !parse_g(o, buf, b->ptrs[at + i], &b->gs[count]))
				continue;
			if (b->gs[count].status == G_WAITING) {
				b->waiting[nw] = count;
				b->bp[nw] = word(buf, o->sched_bp);
				hi[nw++] = word(buf, G_STACK_HI);
			}
			count++;
		}
		err = read_stacks(gp, b->gs, hi, nw, &b->pool, &npool, &b->cap_pool);
		if (err)
			return err;
		for (int tries = 0; nw && (nw = check_parked(gp, nw)); tries++) {
			ssize_t still;

			/* Still torn after the last read: it keeps its status, parked, without a
			 * stack rather than with a wrong one. */
			if (tries == TORN_RETRIES) {
				for (size_t j = 0; j < nw; j++)
					forget_stack(&b->gs[b->waiting[j]]);
				break;
			}
			still = reread_parked(gp, b->gs, nw, hi, &b->pool, &npool, &b->cap_pool);
			if (still < 0)
				return (int)still;
			nw = (size_t)still;
		}
	}
	*out = pack(b->gs, count, b->pool, npool);
	if (!*out)
		return -ENOMEM;
	*n = count;
	return 0;
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
