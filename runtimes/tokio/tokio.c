// SPDX-License-Identifier: MIT
#include "tokio.h"
#include "tokio.skel.h"
#include "hashmap.h"
#include "tasks.h"
#include "cpu_sampler.h"
#include "probe_site.h"

#include <bpf/libbpf.h>
#include <bpf/bpf.h>
#include <linux/hw_breakpoint.h>
#include <linux/perf_event.h>
#include <sys/syscall.h>
#include <errno.h>
#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#define TLS_WORDS (SAMPLER_TLS_BYTES / 8)
#define CALIBRATION_EVENTS 8 /* matches needed before trusting an offset */
#define MIN_CALIBRATION_ID 3 /* ids 1 and 2 equal a tag word or a small counter too often */

/* The kinds of probes, for the warnings about those not placed. */
enum probe_kind {
	PK_EXIT,
	PK_AWAIT,
	PK_WAKE,
	PK_POLL,
	PK_POLL_EXIT,
	PK_CALIBRATION,
	PK_COUNT,
};

/* Probes of one kind: how many were tried, how many not placed, and why the first was not. */
struct refusals {
	size_t tried, count;
	char first[224];
};

static const struct {
	const char *what, *lost;
} kind_names[PK_COUNT] = {
	[PK_EXIT] = {"task exit (Harness::complete)", "task exits"},
	[PK_AWAIT] = {"await point (clone_waker)", "the await stacks of the wait profile"},
	[PK_WAKE] = {"wake", "wake-ups: waits and scheduling latency of the tasks they wake"},
	[PK_POLL] = {"poll entry", "poll counts, waits and scheduling latency of those tasks"},
	[PK_POLL_EXIT] = {"poll exit", "poll durations of those tasks"},
	[PK_CALIBRATION] = {"calibration (poll entry or clone_waker)",
			    "some of the events that find where Tokio keeps the current task"},
};

struct tokio_adaptor {
	struct process *proc;
	enum task_mode mode;
	bool verbose;
	char path[PATH_MAX]; /* the executable, through /proc/PID/root */
	uint64_t bias;	     /* runtime address - link-time address */
	struct tokio_binary *tb;
	struct hashmap *vtables; /* runtime vtable address -> index + 1 */
	struct tokio_bpf *skel;
	struct ring_buffer *rb;
	struct probe_image *image; /* the executable as the probes see it */
	struct refusals refused[PK_COUNT];
	struct bpf_link **links;
	size_t nlinks, cap_links;
	int *bp_fds;
	int nbp;
	/* Sample mode: hooks attached only until calibrated (waker clone, poll entry). */
	struct bpf_link **calib_links;
	size_t ncalib;
	struct hashmap *last_polled; /* tid -> id of the task it entered last */

	/* calibration */
	uint32_t tls_len;
	uint64_t events;
	uint64_t hits[TLS_WORDS], tagged[TLS_WORDS];
	int field; /* word index of the id, -1 until calibrated */
	bool field_tagged;
};

bool tokio_is_poll_frame(const char *fn)
{
	static const char *const legacy[] = {
		"tokio::runtime::task::raw::poll",
		"tokio::runtime::task::harness::Harness<T,S>::poll",
		"tokio::runtime::task::core::Core<T,S>::poll",
	};

	for (size_t i = 0; i < sizeof(legacy) / sizeof(legacy[0]); i++)
		if (strncmp(fn, legacy[i], strlen(legacy[i])) == 0)
			return true;
	/* v0 names keep the type arguments: <tokio::...::Harness<app::f::{closure#0}, ...>>::poll */
	return (strncmp(fn, "<tokio::runtime::task::harness::Harness<", 40) == 0 ||
		strncmp(fn, "<tokio::runtime::task::core::Core<", 34) == 0) &&
	       strstr(fn, ">>::poll") != NULL;
}

int tokio_adaptor_open(struct process *proc, enum task_mode mode, bool verbose,
		       struct tokio_adaptor **out)
{
	const struct proc_mapping *m = process_exe_mapping(proc);
	struct elf_object *obj;
	struct tokio_adaptor *ta;
	int err;

	if (!m)
		return -ENOENT;
	obj = symbolizer_object(proc->sym, proc->pid, m);
	if (!obj)
		return -ENOENT;
	ta = calloc(1, sizeof(*ta));
	if (!ta)
		return -ENOMEM;
	ta->proc = proc;
	ta->mode = mode;
	ta->verbose = verbose;
	ta->field = -1;
	ta->bias = m->start - elf_object_vaddr(obj, m, m->start);
	snprintf(ta->path, sizeof(ta->path), "/proc/%d/root%s", proc->pid, proc->exe);
	err = tokio_binary_analyze(ta->path, &ta->tb);
	if (err) {
		free(ta);
		return err;
	}
	ta->vtables = hashmap_new();
	ta->last_polled = hashmap_new();
	if (!ta->vtables || !ta->last_polled) {
		tokio_adaptor_close(ta);
		return -ENOMEM;
	}
	for (size_t i = 0; i < ta->tb->nvtables; i++) {
		uint64_t addr = ta->tb->vtables[i].vaddr + ta->bias;

		hashmap_put(ta->vtables, &addr, sizeof(addr), i + 1);
	}
	if (ta->tb->has_tls) {
		ta->tls_len = ta->tb->tls_context_size;
		if (!ta->tls_len || ta->tls_len > SAMPLER_TLS_BYTES)
			ta->tls_len = SAMPLER_TLS_BYTES;
	}
	*out = ta;
	return 0;
}

void tokio_tls_block(const struct tokio_adaptor *ta, int64_t *offset, uint32_t *len)
{
	*offset = ta->tb->tls_context_offset;
	*len = ta->tb->has_tls ? ta->tls_len : 0;
}

static int add_link(struct tokio_adaptor *ta, struct bpf_link *link)
{
	if (ta->nlinks == ta->cap_links) {
		size_t cap = ta->cap_links ? ta->cap_links * 2 : 32;
		struct bpf_link **l = realloc(ta->links, cap * sizeof(*l));

		if (!l)
			return -ENOMEM;
		ta->links = l;
		ta->cap_links = cap;
	}
	ta->links[ta->nlinks++] = link;
	return 0;
}

/* Counts a probe not placed, and keeps why for the first one of its kind. */
static void refused(struct tokio_adaptor *ta, enum probe_kind kind, uint64_t addr, const char *why)
{
	struct refusals *r = &ta->refused[kind];

	if (!r->count++)
		snprintf(r->first, sizeof(r->first), "0x%llx: %s", (unsigned long long)addr, why);
}

/* One warning per kind of probe that was not placed everywhere (refused or failed). */
static void report_refused(struct tokio_adaptor *ta)
{
	for (int k = 0; k < PK_COUNT; k++) {
		const struct refusals *r = &ta->refused[k];

		if (r->count)
			fprintf(stderr, "asyncprof: warning: %zu of %zu %s probes not placed (%s): "
					"lost: %s\n",
				r->count, r->tried, kind_names[k].what, r->first,
				kind_names[k].lost);
	}
}

/* Attaches prog at site of the executable, once probe_site has checked it. */
static struct bpf_link *attach_at(struct tokio_adaptor *ta, struct bpf_program *prog,
				  const struct probe_site *site, enum probe_kind kind)
{
	struct bpf_link *link;
	char why[192];

	ta->refused[kind].tried++;
	link = probe_site_attach(ta->image, prog, ta->proc->pid, site, 0, why, sizeof(why));
	if (!link)
		refused(ta, kind, site->addr, why);
	return link;
}

/* A function's entry: the analysis found it at vaddr (0: not found, nothing to attach). */
static int attach_entry(struct tokio_adaptor *ta, struct bpf_program *prog, uint64_t vaddr,
			enum probe_kind kind)
{
	struct probe_site site = {vaddr, vaddr, PROBE_ENTRY};
	struct bpf_link *link;

	if (!vaddr)
		return 0;
	link = attach_at(ta, prog, &site, kind);
	return link ? add_link(ta, link) : 0;
}

/*
 * Whether a poll function can be probed: a task vtable points at it, not only a symbol, and its
 * symbol does not contradict its FDE.
 */
static bool poll_is_task(struct tokio_adaptor *ta, const struct tokio_poll_fn *p,
			 enum probe_kind kind)
{
	if (p->vtable >= 0 && !p->size_disputed)
		return true;
	ta->refused[kind].tried++;
	refused(ta, kind, p->entry,
		p->vtable < 0 ? "no task vtable points at this raw::poll symbol"
			      : "its raw::poll symbol's size contradicts its FDE");
	return false;
}

/* A write watchpoint on NEXT_ID on every CPU: it fires once per spawn, in the spawning thread. */
/* The hooks the analysis left out because .symtab disagrees with the code, when this mode uses
 * them. */
static void report_disputes(struct tokio_adaptor *ta)
{
	for (size_t i = 0; i < ta->tb->ndisputes; i++) {
		const struct tokio_dispute *d = &ta->tb->disputes[i];
		const char *lost = NULL;

		if (!strcmp(d->hook, "raw::poll"))
			lost = "the names and polls of those tasks";
		else if (!strcmp(d->hook, "Harness::complete"))
			lost = kind_names[PK_EXIT].lost;
		else if (!strcmp(d->hook, "clone_waker") && ta->mode >= MODE_LIFECYCLE)
			lost = kind_names[PK_AWAIT].lost;
		else if (!strcmp(d->hook, "clone_waker"))
			lost = kind_names[PK_CALIBRATION].lost;
		else if (!strncmp(d->hook, "wake_by_", 8) && ta->mode >= MODE_LIFECYCLE)
			lost = kind_names[PK_WAKE].lost;
		if (lost && d->copies > 1)
			fprintf(stderr, "asyncprof: warning: %zu copies of %s are not probed (the "
					"first: %s): lost: %s\n",
				d->copies, d->hook, d->why, lost);
		else if (lost)
			fprintf(stderr, "asyncprof: warning: %s is not probed: %s: lost: %s\n",
				d->hook, d->why, lost);
	}
}

static int attach_spawn_watch(struct tokio_adaptor *ta)
{
	struct perf_event_attr attr = {
		.type = PERF_TYPE_BREAKPOINT,
		.size = sizeof(attr),
		.bp_type = HW_BREAKPOINT_W,
		.bp_addr = ta->tb->next_id + ta->bias,
		.bp_len = HW_BREAKPOINT_LEN_8,
		.sample_period = 1,
	};
	int ncpus = libbpf_num_possible_cpus();

	if (ncpus < 0)
		return ncpus;
	ta->bp_fds = malloc(ncpus * sizeof(int));
	if (!ta->bp_fds)
		return -ENOMEM;
	for (int cpu = 0; cpu < ncpus; cpu++) {
		int fd = syscall(SYS_perf_event_open, &attr, -1, cpu, -1, PERF_FLAG_FD_CLOEXEC);
		struct bpf_link *link;

		if (fd < 0 && errno == ENODEV)
			continue;
		if (fd < 0) {
			fprintf(stderr, "asyncprof: warning: no hardware watchpoint for spawns on "
					"CPU %d (%s): spawn sites and parents are unknown\n",
				cpu, strerror(errno));
			return -errno;
		}
		ta->bp_fds[ta->nbp++] = fd;
		link = bpf_program__attach_perf_event(ta->skel->progs.tokio_spawn, fd);
		if (!link)
			return -errno;
		if (add_link(ta, link))
			return -ENOMEM;
	}
	return 0;
}

static int add_calibration_link(struct tokio_adaptor *ta, struct bpf_program *prog,
				uint64_t vaddr)
{
	struct probe_site site = {vaddr, vaddr, PROBE_ENTRY};
	struct bpf_link **l, *link;

	if (!vaddr)
		return 0;
	link = attach_at(ta, prog, &site, PK_CALIBRATION);
	if (!link)
		return 0;
	l = realloc(ta->calib_links, (ta->ncalib + 1) * sizeof(*l));
	if (!l) {
		bpf_link__destroy(link);
		return -ENOMEM;
	}
	ta->calib_links = l;
	ta->calib_links[ta->ncalib++] = link;
	return 0;
}

static int attach_calibration(struct tokio_adaptor *ta)
{
	int err = add_calibration_link(ta, ta->skel->progs.tokio_clone_waker,
				       ta->tb->clone_waker);

	for (size_t i = 0; !err && i < ta->tb->npolls; i++)
		if (poll_is_task(ta, &ta->tb->polls[i], PK_CALIBRATION))
			err = add_calibration_link(ta, ta->skel->progs.tokio_poll_enter,
						   ta->tb->polls[i].entry);
	return err;
}

static void detach_calibration(struct tokio_adaptor *ta)
{
	for (size_t i = 0; i < ta->ncalib; i++)
		bpf_link__destroy(ta->calib_links[i]);
	free(ta->calib_links);
	ta->calib_links = NULL;
	ta->ncalib = 0;
}

int tokio_adaptor_attach(struct tokio_adaptor *ta, int threads_fd,
			 int (*fn)(void *ctx, void *data, size_t size), void *ctx)
{
	const struct tokio_binary *tb = ta->tb;
	bool lifecycle = ta->mode >= MODE_LIFECYCLE;
	int err;

	ta->skel = tokio_bpf__open();
	if (!ta->skel)
		return -errno;
	ta->skel->rodata->targ_tgid = ta->proc->pid;
	ta->skel->rodata->next_id_addr = tb->next_id + ta->bias;
	ta->skel->rodata->tls_offset = tb->tls_context_offset;
	ta->skel->rodata->tls_bytes = tb->has_tls ? ta->tls_len : 0;
	ta->skel->rodata->await_stacks = lifecycle;
	ta->skel->rodata->poll_exits = ta->mode == MODE_FULL;
	if (threads_fd >= 0) {
		err = bpf_map__reuse_fd(ta->skel->maps.threads, threads_fd);
		if (err)
			return err;
	}
	err = tokio_bpf__load(ta->skel);
	if (err) {
		fprintf(stderr, "asyncprof: cannot load the Tokio probes: %s\n", strerror(-err));
		return err;
	}
	ta->rb = ring_buffer__new(bpf_map__fd(ta->skel->maps.task_events), fn, ctx, NULL);
	if (!ta->rb)
		return -errno;

	err = probe_image_open(ta->path, &ta->image);
	if (err)
		return err;
	report_disputes(ta);
	if (tb->next_id && attach_spawn_watch(ta))
		fprintf(stderr, "asyncprof: warning: spawns are not traced\n");
	for (size_t i = 0; i < tb->ncomplete; i++)
		attach_entry(ta, ta->skel->progs.tokio_complete, tb->complete[i], PK_EXIT);
	/*
	 * Poll exits before poll entries: an exit whose entry was not seen pops nothing, but
	 * entries seen while their exits are not probed yet would stay on the thread's poll stack
	 * for good, and a stack full of them keeps no poll at all.
	 */
	if (ta->mode == MODE_FULL) {
		size_t partial = 0;

		for (size_t i = 0; i < tb->npolls; i++) {
			const struct tokio_poll_fn *p = &tb->polls[i];

			partial += p->rets_partial;
			if (!poll_is_task(ta, p, PK_POLL_EXIT))
				continue;
			for (size_t r = 0; r < p->nrets; r++) {
				struct probe_site site = {p->rets[r], p->body, PROBE_RET};
				struct bpf_link *link;

				link = attach_at(ta, ta->skel->progs.tokio_poll_exit, &site,
						 PK_POLL_EXIT);
				if (link && add_link(ta, link))
					return -ENOMEM;
			}
		}
		/* A poll that ends in a tail call (fat LTO) is never seen to end. */
		if (partial)
			fprintf(stderr, "asyncprof: warning: %zu of %zu poll functions can end "
					"without a ret instruction: some poll durations of those "
					"task types are missed\n",
				partial, tb->npolls);
	}
	if (lifecycle) {
		attach_entry(ta, ta->skel->progs.tokio_clone_waker, tb->clone_waker, PK_AWAIT);
		attach_entry(ta, ta->skel->progs.tokio_wake_by_val, tb->wake_by_val, PK_WAKE);
		attach_entry(ta, ta->skel->progs.tokio_wake_by_ref, tb->wake_by_ref, PK_WAKE);
		for (size_t i = 0; i < tb->npolls; i++)
			if (poll_is_task(ta, &tb->polls[i], PK_POLL))
				attach_entry(ta, ta->skel->progs.tokio_poll_enter,
					     tb->polls[i].entry, PK_POLL);
	} else if (tb->has_tls) {
		/* Calibration only: detached by tokio_observe once the field is known. */
		err = attach_calibration(ta);
		if (err)
			return err;
	}
	report_refused(ta);
	if (ta->verbose)
		fprintf(stderr, "asyncprof: tokio: %zu poll functions, %zu vtables, %zu probes, "
				"%d watchpoints, bias 0x%llx\n",
			tb->npolls, tb->nvtables, ta->nlinks, ta->nbp,
			(unsigned long long)ta->bias);
	return 0;
}

void tokio_adaptor_stop(struct tokio_adaptor *ta)
{
	if (ta->skel)
		ta->skel->bss->probes_stopped = true;
}

void tokio_adaptor_close(struct tokio_adaptor *ta)
{
	if (!ta)
		return;
	detach_calibration(ta);
	probe_image_free(ta->image);
	ring_buffer__free(ta->rb);
	for (size_t i = 0; i < ta->nlinks; i++)
		bpf_link__destroy(ta->links[i]);
	for (int i = 0; i < ta->nbp; i++)
		close(ta->bp_fds[i]);
	free(ta->bp_fds);
	free(ta->links);
	tokio_bpf__destroy(ta->skel);
	hashmap_free(ta->vtables);
	hashmap_free(ta->last_polled);
	tokio_binary_free(ta->tb);
	free(ta);
}

static uint64_t tls_word(const uint8_t *tls, uint32_t len, int word)
{
	uint64_t v;

	if (word < 0 || (uint32_t)(word + 1) * 8 > len)
		return 0;
	memcpy(&v, tls + word * 8, 8);
	return v;
}

/* Counts the TLS words that hold id; settles the field once one offset clearly wins. */
static void calibrate(struct tokio_adaptor *ta, uint64_t id, const uint8_t *tls, uint32_t len)
{
	int best = -1, second = -1;

	if (ta->field >= 0 || id < MIN_CALIBRATION_ID || !len)
		return;
	ta->events++;
	for (int w = 0; w < TLS_WORDS; w++) {
		if (tls_word(tls, len, w) != id)
			continue;
		ta->hits[w]++;
		if (tls_word(tls, len, w - 1) == 1)
			ta->tagged[w]++;
	}
	for (int w = 0; w < TLS_WORDS; w++) {
		if (best < 0 || ta->hits[w] > ta->hits[best]) {
			second = best;
			best = w;
		} else if (second < 0 || ta->hits[w] > ta->hits[second]) {
			second = w;
		}
	}
	/* A task id equals an unrelated word only by chance: the field is the offset that holds
	 * it again and again, far more often than any other. */
	if (best < 0 || ta->hits[best] < CALIBRATION_EVENTS ||
	    (second >= 0 && ta->hits[second] * 4 > ta->hits[best]))
		return;
	ta->field = best;
	/* Before tokio 1.40 the id is an Option<u64>: a tag word (1 = Some) precedes it. */
	ta->field_tagged = ta->tagged[best] * 10 >= ta->hits[best] * 9;
	if (ta->verbose)
		fprintf(stderr, "asyncprof: tokio: current task id at CONTEXT+%d (%s), from %llu "
				"observations\n",
			best * 8, ta->field_tagged ? "Option<u64>" : "Option<NonZeroU64>",
			(unsigned long long)ta->events);
	if (ta->mode == MODE_SAMPLE)
		detach_calibration(ta); /* stop paying for hooks sample mode does not need */
}

/*
 * Two sources of (id, thread-local copy) pairs: a task cloning its own waker (the copy is taken
 * inside its poll), and a CPU sample of a thread after the last poll entry seen on it (inside
 * that poll more often than not, when the task uses CPU).
 */
void tokio_observe(struct tokio_adaptor *ta, const struct task_event *e)
{
	if (ta->field >= 0)
		return;
	if (e->kind == TASK_RUN) {
		uint32_t tid = e->tid;

		hashmap_put(ta->last_polled, &tid, sizeof(tid), e->task);
		return;
	}
	if ((e->kind == TASK_WAKER_CLONE || e->kind == TASK_AWAIT) && (e->flags & TASK_EV_TLS))
		calibrate(ta, e->task, e->tls, e->tls_len);
}

void tokio_observe_sample(struct tokio_adaptor *ta, uint32_t tid, const uint8_t *tls,
			  uint32_t len)
{
	uint64_t id;

	if (ta->field >= 0 || !hashmap_get(ta->last_polled, &tid, sizeof(tid), &id))
		return;
	calibrate(ta, id, tls, len);
}

int tokio_consume(struct tokio_adaptor *ta)
{
	return ta->rb ? ring_buffer__consume(ta->rb) : 0;
}

int tokio_wait_fd(struct tokio_adaptor *ta)
{
	return ring_buffer__epoll_fd(ta->rb);
}

bool tokio_calibrated(const struct tokio_adaptor *ta)
{
	return ta->field >= 0;
}

uint64_t tokio_current_task(const struct tokio_adaptor *ta, const uint8_t *tls, uint32_t len)
{
	if (ta->field < 0)
		return 0;
	if (ta->field_tagged && tls_word(tls, len, ta->field - 1) != 1)
		return 0;
	return tls_word(tls, len, ta->field);
}

size_t tokio_warnings(const struct tokio_adaptor *ta, const char **out, size_t max)
{
	const struct tokio_binary *tb = ta->tb;
	const char *w[5];
	size_t n = 0;

	/* Full mode's poll hooks say which task a sample is in; the other modes read CONTEXT. */
	if (!tb->has_tls)
		w[n++] = ta->mode == MODE_FULL
				 ? "Tokio's thread-local CONTEXT was not found (no symbol for it): "
				   "the task that spawned a task, or woke it, is unknown (parents, "
				   "waker_id)"
				 : "Tokio's thread-local CONTEXT was not found (no symbol for it): CPU "
				   "samples are not attributed to tasks (no [task] frames, ancestry or "
				   "task_id in cpu.*, no cpu_ns per task), and the task that spawned a "
				   "task, or woke it, is unknown (parents, waker_id)";
	else if (!tokio_calibrated(ta))
		w[n++] = "could not find where Tokio keeps the current task in CONTEXT (no task "
			 "cloned its waker): samples are not attributed to tasks";
	if (!tb->next_id)
		w[n++] = "Tokio's task::Id::next::NEXT_ID was not found (no symbol for it): spawns "
			 "are not seen, so tasks' parents and spawn sites are unknown ([spawn] before "
			 "attach)";
	if (!tb->ncomplete)
		w[n++] = "Tokio's Harness::complete was not found (no symbol for it): task exits "
			 "are not seen (exited is false for every task)";
	if (!tb->has_symbols)
		w[n++] = "Tokio's poll functions and the tasks' future types were found without "
			 "their names (no symbols): CPU stacks get no [task] frames or ancestry, and "
			 "tasks are named [unknown]";
	if (n > max)
		n = max;
	memcpy(out, w, n * sizeof(*w));
	return n;
}

const char *tokio_type_name(const struct tokio_adaptor *ta, uint64_t vtable, bool *internal)
{
	uint64_t pos;
	const struct tokio_vtable *vt;

	*internal = false;
	if (!vtable || !hashmap_get(ta->vtables, &vtable, sizeof(vtable), &pos))
		return NULL;
	vt = &ta->tb->vtables[pos - 1];
	*internal = vt->worker_launch;
	return vt->future_type;
}

void tokio_read_task_counters(struct tokio_adaptor *ta, struct task_table *tt)
{
	int fd = bpf_map__fd(ta->skel->maps.tasks);
	__u64 key, next;
	struct task_info ti;
	void *prev = NULL;

	while (bpf_map_get_next_key(fd, prev, &next) == 0) {
		key = next;
		prev = &key;
		if (bpf_map_lookup_elem(fd, &key, &ti) == 0) {
			struct task_rec *t = task_find(tt, key);

			if (!t || !ti.polls)
				continue;
			t->polls = ti.polls;
			if (ta->mode == MODE_FULL)
				t->poll = ti.poll;
		}
	}
}

/*
 * The figures a lost event leaves incomplete. Poll counts, and in full mode busy_ns and
 * max_poll_ns, are the probes' own counters (tokio_read_task_counters), which lose nothing; a
 * lost run loses its scheduling latency, a lost stop or await the start (and stack) of a
 * suspension, and in lifecycle mode, where a poll is measured from its run to its await, a
 * lost run or await loses that poll's figures.
 */
static const struct event_kind_info *kind_lifecycle(uint32_t kind)
{
	static const struct event_kind_info run = {
		"run", "wait_ns wait.pb.gz sched_latency_ns runnable_ns max_poll_ns"
	};
	static const struct event_kind_info await = { "await", "wait_ns wait.pb.gz max_poll_ns" };

	return kind == TASK_RUN ? &run : kind == TASK_AWAIT ? &await : NULL;
}

static const struct event_kind_info *kind_full(uint32_t kind)
{
	static const struct event_kind_info run = {
		"run", "wait_ns wait.pb.gz sched_latency_ns runnable_ns"
	};
	static const struct event_kind_info stop = { "stop", "wait_ns wait.pb.gz" };
	static const struct event_kind_info await = { "await", "wait_ns wait.pb.gz" };

	return kind == TASK_RUN ? &run : kind == TASK_STOP ? &stop : kind == TASK_AWAIT ? &await
											: NULL;
}

void tokio_event_loss(struct tokio_adaptor *ta, struct event_loss *loss)
{
	if (ta->skel)
		percpu_counters_sum(bpf_map__fd(ta->skel->maps.task_drops), loss->dropped,
				    TASK_KINDS);
	loss->runtime_kind = ta->mode == MODE_FULL ? kind_full : kind_lifecycle;
}
