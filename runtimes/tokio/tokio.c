// SPDX-License-Identifier: MIT
#include "tokio.h"
#include "tokio.skel.h"
#include "util/hashmap.h"
#include "model/tasks.h"
#include "capture/sampler.h"
#include "spawn_probe.h"
#include "capture/probe_site.h"
#include "capture/budget.h"
#include "runtimes/runtime.h"

#include <bpf/libbpf.h>
#include <bpf/bpf.h>
#include <linux/hw_breakpoint.h>
#include <linux/perf_event.h>
#include <sys/syscall.h>
#include <errno.h>
#include <pthread.h>
#include <stdarg.h>
#include <fcntl.h>
#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#define TLS_WORDS (SAMPLER_TLS_BYTES / 8)
#define CALIBRATION_EVENTS 8 /* matches needed before trusting an offset */
#define MIN_CALIBRATION_ID 3 /* ids 1 and 2 equal a tag word or a small counter too often */
#define WATCHPOINT_TEST_WRITES 1000
#define SPAWN_CHECK_NS 250000000ULL /* how often the spawn hook is checked against NEXT_ID */
#define MAX_WARNINGS 4

/* How spawns are seen: see the design note of tokio.bpf.c, and choose_spawn_hook(). */
enum spawn_hook {
	SPAWN_NONE,
	SPAWN_UPROBES,
	SPAWN_WATCHPOINT,
};

static const char *const spawn_hook_names[] = {"none", "uprobes", "watchpoint"};

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
	uint64_t code_start, code_end; /* the executable's code mapping */
	struct tokio_binary *tb;
	struct hashmap *vtables; /* runtime vtable address -> index + 1 */
	struct tokio_bpf *skel;
	struct ring_buffer *rb;
	struct probe_image *image; /* the executable as the probes see it */
	struct refusals refused[PK_COUNT];
	struct bpf_link **links;
	size_t nlinks, cap_links;
	struct hot_probes *hot; /* the poll, wake and await probes, when duty cycled */
	int *bp_fds;
	int nbp;
	/* The spawn hook in use, and how well it does: every spawn increments NEXT_ID once, so
	 * the spawns it reports must keep up with NEXT_ID read from the target's memory. */
	enum spawn_hook spawn_hook;
	bool spawn_forced;   /* ASYNCPROF_TOKIO_SPAWN chose it: no fallback */
	int watchpoint_test; /* writes the watchpoint self-test counted, -1: cannot open */
	struct bpf_link **spawn_links; /* the spawn uprobes */
	size_t nspawn_links;
	int mem_fd;		      /* /proc/PID/mem, to read NEXT_ID */
	uint64_t ids_at_start;	      /* NEXT_ID when the hooks were attached */
	uint64_t base_ids, base_hits; /* NEXT_ID and spawns seen when the current hook started */
	uint64_t last_ids, last_check_ns;
	uint64_t hits_before; /* spawns seen by hooks given up */
	uint64_t missed;      /* spawns the current hook missed (its NEXT_ID shortfall) */
	char warnings[MAX_WARNINGS][256];
	size_t nwarnings;
	/* Sample mode: hooks attached only until calibrated (waker clone, poll entry). */
	struct bpf_link **calib_links;
	size_t ncalib;
	pthread_t detacher; /* detaching them, when detaching */
	bool detaching;
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
	struct sym_frame frames[SYM_MAX_INLINE];
	struct elf_object *obj;
	struct tokio_adaptor *ta;
	int64_t off;
	int err;

	if (!m || !(obj = symbolizer_object(proc->sym, proc->pid, m)))
		return -ENOENT;
	ta = calloc(1, sizeof(*ta));
	if (!ta)
		return -ENOMEM;
	ta->proc = proc;
	ta->mode = mode;
	ta->verbose = verbose;
	ta->field = -1;
	ta->mem_fd = -1;
	snprintf(ta->path, sizeof(ta->path), "/proc/%d/root%s", proc->pid, proc->exe);
	err = tokio_binary_analyze(ta->path, &ta->tb);
	if (err) {
		free(ta);
		return err;
	}
	/*
	 * The load bias from a poll function's file offset: the mapping's first page may start
	 * before its segment's first byte (lld packs segments into shared pages), where a
	 * translation of m->start itself would take the previous segment's view. Symbols can lie
	 * (a poll in the data): the first poll in the mapped code serves; without one, m->start.
	 */
	err = probe_image_open(ta->path, &ta->image);
	if (err) {
		tokio_binary_free(ta->tb);
		free(ta);
		return err;
	}
	ta->bias = m->start - elf_object_vaddr(obj, m, m->start);
	for (size_t i = 0; i < ta->tb->npolls; i++) {
		uint64_t entry = ta->tb->polls[i].entry;

		off = probe_image_file_offset(ta->image, entry);
		if (off >= 0 && (uint64_t)off >= m->offset &&
		    (uint64_t)off - m->offset < m->end - m->start) {
			ta->bias = m->start + (off - m->offset) - entry;
			break;
		}
	}
	ta->code_start = m->start;
	ta->code_end = m->end;
	/* The first lookup reads the executable's debug info: here, not while the first task
	 * events pile up in the ring buffer. */
	elf_object_symbolize(obj, ta->tb->polls[0].entry, frames, SYM_MAX_INLINE);
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

/*
 * A probe: a hot one (poll, wake, await) into the duty-cycled set when there is one (attached
 * all at once by hot_probes_attach), else attached now. Returns 0 or -ENOMEM.
 */
static int attach_hot(struct tokio_adaptor *ta, struct bpf_program *prog,
		      const struct probe_site *site, enum probe_kind kind)
{
	struct bpf_link *link;
	char why[192];
	int err;

	if (!ta->hot || kind == PK_EXIT || kind == PK_CALIBRATION) {
		link = attach_at(ta, prog, site, kind);
		return link ? add_link(ta, link) : 0;
	}
	ta->refused[kind].tried++;
	err = hot_probes_add(ta->hot, prog, site, 0, why, sizeof(why));
	if (err == -ENOMEM)
		return err;
	if (err)
		refused(ta, kind, site->addr, why);
	return 0;
}

/* A function's entry: the analysis found it at vaddr (0: not found, nothing to attach). */
static int attach_entry(struct tokio_adaptor *ta, struct bpf_program *prog, uint64_t vaddr,
			enum probe_kind kind)
{
	struct probe_site site = {vaddr, vaddr, PROBE_ENTRY};

	if (!vaddr)
		return 0;
	return attach_hot(ta, prog, &site, kind);
}

static void warn(struct tokio_adaptor *ta, const char *fmt, ...)
    __attribute__((format(printf, 2, 3)));

/* A warning for the report and the terminal (printed at the end with the others). */
static void warn(struct tokio_adaptor *ta, const char *fmt, ...)
{
	va_list ap;

	if (ta->nwarnings >= MAX_WARNINGS)
		return;
	va_start(ap, fmt);
	vsnprintf(ta->warnings[ta->nwarnings++], sizeof(ta->warnings[0]), fmt, ap);
	va_end(ap);
}

static int open_watchpoint(uint64_t addr, pid_t pid, int cpu)
{
	struct perf_event_attr attr = {
	    .type = PERF_TYPE_BREAKPOINT,
	    .size = sizeof(attr),
	    .bp_type = HW_BREAKPOINT_W,
	    .bp_addr = addr,
	    .bp_len = HW_BREAKPOINT_LEN_8,
	    .sample_period = 1,
	    .exclude_kernel = 1,
	};

	return syscall(SYS_perf_event_open, &attr, pid, cpu, -1, PERF_FLAG_FD_CLOEXEC);
}

static volatile uint64_t watchpoint_test_var;

/*
 * Whether a hardware write watchpoint fires on this machine: some hosts give a descriptor that
 * never counts (the hypervisor does not pass debug registers through). A watchpoint on a
 * variable of our own, written here: returns how many writes it counted, -errno when it cannot
 * be opened.
 */
static int watchpoint_self_test(void)
{
	uint64_t count = 0;
	int fd = open_watchpoint((uint64_t)&watchpoint_test_var, 0, -1);

	if (fd < 0)
		return -errno;
	for (int i = 0; i < WATCHPOINT_TEST_WRITES; i++)
		watchpoint_test_var++;
	if (read(fd, &count, sizeof(count)) != sizeof(count))
		count = 0;
	close(fd);
	return (int)count;
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
	int ncpus = libbpf_num_possible_cpus();

	if (ncpus < 0)
		return ncpus;
	ta->bp_fds = malloc(ncpus * sizeof(int));
	if (!ta->bp_fds)
		return -ENOMEM;
	for (int cpu = 0; cpu < ncpus; cpu++) {
		int fd = open_watchpoint(ta->tb->next_id + ta->bias, -1, cpu);
		struct bpf_link *link;

		if (fd < 0 && errno == ENODEV)
			continue;
		if (fd < 0)
			return -errno;
		ta->bp_fds[ta->nbp++] = fd;
		link = bpf_program__attach_perf_event(ta->skel->progs.tokio_spawn, fd);
		if (!link)
			return -errno;
		if (add_link(ta, link))
			return -ENOMEM;
	}
	return 0;
}

static void detach_spawn_uprobes(struct tokio_adaptor *ta)
{
	for (size_t i = 0; i < ta->nspawn_links; i++)
		bpf_link__destroy(ta->spawn_links[i]);
	free(ta->spawn_links);
	ta->spawn_links = NULL;
	ta->nspawn_links = 0;
}

/*
 * A uprobe on the instruction after every update of NEXT_ID, each checked by probe_site; all of
 * them or none (a spawn path left out would lose its spawns: the watchpoint may do better).
 */
static int attach_spawn_uprobes(struct tokio_adaptor *ta, char *why, size_t len)
{
	const struct tokio_binary *tb = ta->tb;

	ta->spawn_links = calloc(tb->nspawn_sites, sizeof(*ta->spawn_links));
	if (!ta->spawn_links)
		return -ENOMEM;
	for (size_t i = 0; i < tb->nspawn_sites; i++) {
		const struct tokio_spawn_site *ss = &tb->spawn_sites[i];
		struct probe_site site = {ss->probe, ss->func, PROBE_AFTER_LOCKED_UPDATE};
		struct bpf_link *link;

		link = probe_site_attach(ta->image, ta->skel->progs.tokio_spawn_insn,
					 ta->proc->pid, &site, ss->cookie, why, len);
		if (!link) {
			int err = -errno;

			detach_spawn_uprobes(ta);
			return err ? err : -EINVAL;
		}
		ta->spawn_links[ta->nspawn_links++] = link;
	}
	return 0;
}

/* The target's memory, read to check the spawn hook; -1 when it cannot be read. */
static int open_target_mem(pid_t pid)
{
	char path[64];

	snprintf(path, sizeof(path), "/proc/%d/mem", pid);
	return open(path, O_RDONLY | O_CLOEXEC);
}

static int read_next_id(struct tokio_adaptor *ta, uint64_t *value)
{
	if (ta->mem_fd < 0 ||
	    pread(ta->mem_fd, value, sizeof(*value), ta->tb->next_id + ta->bias) != sizeof(*value))
		return -EIO;
	return 0;
}

static uint64_t spawns_seen(struct tokio_adaptor *ta)
{
	return percpu_counter_sum(bpf_map__fd(ta->skel->maps.counters), TOKIO_CNT_SPAWNS);
}

/* Counting starts now for the hook in use. */
static void start_spawn_count(struct tokio_adaptor *ta)
{
	uint64_t ids = 0;

	read_next_id(ta, &ids);
	ta->base_ids = ta->last_ids = ids;
	ta->base_hits = spawns_seen(ta);
	ta->missed = 0;
}

/* Why no spawn hook is in use (force: ASYNCPROF_TOKIO_SPAWN, or NULL). */
static const char *no_spawn_hook_reason(const struct tokio_adaptor *ta, const char *force)
{
	bool forced = force && *force;

	if (!ta->tb->next_id)
		return "task::Id::next::NEXT_ID was not found";
	if (forced && strcmp(force, "none") == 0)
		return "ASYNCPROF_TOKIO_SPAWN=none";
	if (forced && strcmp(force, "watchpoint") == 0 && ta->watchpoint_test <= 0)
		return "hardware watchpoints do not fire here";
	if (forced && strcmp(force, "uprobes") == 0 && !ta->tb->nspawn_sites)
		return "no update of NEXT_ID could be probed";
	if (!forced && !ta->tb->nspawn_sites && ta->watchpoint_test <= 0)
		return "no update of NEXT_ID could be probed, and hardware watchpoints do not fire "
		       "here";
	return "no spawn hook could be attached";
}

/*
 * ASYNCPROF_TOKIO_SPAWN forces a hook; else the uprobes when the analysis found every update
 * of NEXT_ID it could decode, else the watchpoint when it fires on this machine, else none.
 */
static int choose_spawn_hook(struct tokio_adaptor *ta)
{
	const char *force = getenv("ASYNCPROF_TOKIO_SPAWN");
	bool uprobes = ta->tb->nspawn_sites > 0, watchpoint;
	int err;

	ta->watchpoint_test = watchpoint_self_test();
	watchpoint = ta->watchpoint_test > 0;
	if (force && *force) {
		ta->spawn_forced = true;
		if (strcmp(force, "uprobes") == 0)
			watchpoint = false;
		else if (strcmp(force, "watchpoint") == 0)
			uprobes = false;
		else if (strcmp(force, "none") == 0)
			uprobes = watchpoint = false;
		else {
			fprintf(stderr,
				"asyncprof: cannot use ASYNCPROF_TOKIO_SPAWN=%s: it must be "
				"uprobes, watchpoint or none\n",
				force);
			return -EINVAL;
		}
	}
	if (!ta->tb->next_id)
		uprobes = watchpoint = false;
	ta->spawn_hook = SPAWN_NONE;
	if (uprobes) {
		char why[192] = "";

		err = attach_spawn_uprobes(ta, why, sizeof(why));
		if (!err)
			ta->spawn_hook = SPAWN_UPROBES;
		else
			fprintf(stderr, "asyncprof: warning: cannot attach the spawn probes: %s\n",
				why[0] ? why : strerror(-err));
	}
	if (ta->spawn_hook == SPAWN_NONE && watchpoint) {
		err = attach_spawn_watch(ta);
		if (!err)
			ta->spawn_hook = SPAWN_WATCHPOINT;
		else
			fprintf(stderr,
				"asyncprof: warning: cannot attach the spawn watchpoint: %s\n",
				strerror(-err));
	}
	if (ta->spawn_hook == SPAWN_NONE) {
		const char *why = no_spawn_hook_reason(ta, force);

		warn(ta,
		     "spawns are not traced (%s): task parents and spawn sites are unknown "
		     "(stacks start at [spawn] before attach; parent and spawned_at are null)",
		     why);
	}
	start_spawn_count(ta);
	ta->ids_at_start = ta->base_ids;
	if (ta->verbose)
		fprintf(stderr,
			"asyncprof: tokio: spawn hook %s (%zu updates of NEXT_ID probed, "
			"%zu refused; watchpoint self-test: %d of %d writes counted)\n",
			spawn_hook_names[ta->spawn_hook], ta->tb->nspawn_sites,
			ta->tb->spawn_sites_refused, ta->watchpoint_test, WATCHPOINT_TEST_WRITES);
	return 0;
}

/*
 * Every SPAWN_CHECK_NS: the spawns the hook reported must match the ids allocated (NEXT_ID)
 * until the previous check (a spawn reaches its probe right after its update, so by now). A
 * shortfall of the uprobes (an update the analysis missed) switches to the watchpoint when it
 * fires and was not ruled out; otherwise it is counted and reported.
 */
static void check_spawn_hook(struct tokio_adaptor *ta)
{
	uint64_t now = monotonic_ns(), hits, ids;

	if (ta->spawn_hook == SPAWN_NONE || now - ta->last_check_ns < SPAWN_CHECK_NS)
		return;
	ta->last_check_ns = now;
	hits = spawns_seen(ta) - ta->base_hits;
	if (hits < ta->last_ids - ta->base_ids)
		ta->missed = ta->last_ids - ta->base_ids - hits;
	if (read_next_id(ta, &ids) == 0)
		ta->last_ids = ids;
	if (!ta->missed || ta->spawn_hook != SPAWN_UPROBES || ta->spawn_forced ||
	    ta->watchpoint_test <= 0)
		return;
	fprintf(stderr,
		"asyncprof: warning: the spawn probes saw %llu of %llu spawns: switching "
		"to the hardware watchpoint\n",
		(unsigned long long)hits, (unsigned long long)(hits + ta->missed));
	if (attach_spawn_watch(ta)) {
		warn(ta, "the spawn probes missed spawns and the watchpoint could not be attached");
		return;
	}
	ta->hits_before += hits;
	detach_spawn_uprobes(ta);
	ta->spawn_hook = SPAWN_WATCHPOINT;
	start_spawn_count(ta);
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

struct link_batch {
	struct bpf_link **links;
	size_t n;
};

static void *destroy_links(void *arg)
{
	struct link_batch *b = arg;

	for (size_t i = 0; i < b->n; i++)
		bpf_link__destroy(b->links[i]);
	free(b->links);
	free(b);
	return NULL;
}

/*
 * Detaches the calibration hooks. Removing a uprobe waits for an RCU grace period, tens of
 * milliseconds each: done on a thread of its own while recording, so that the task events
 * (spawns carry a stack copy each) do not pile up and overflow the ring buffer meanwhile.
 */
static void detach_calibration(struct tokio_adaptor *ta, bool wait)
{
	struct link_batch *b = malloc(sizeof(*b));

	if (b) {
		*b = (struct link_batch){ta->calib_links, ta->ncalib};
		if (wait || pthread_create(&ta->detacher, NULL, destroy_links, b))
			destroy_links(b);
		else
			ta->detaching = true;
	} else {
		for (size_t i = 0; i < ta->ncalib; i++)
			bpf_link__destroy(ta->calib_links[i]);
		free(ta->calib_links);
	}
	ta->calib_links = NULL;
	ta->ncalib = 0;
}

/* The hot probes' programs, in the order they are attached: a poll's exits before its entry. */
static struct bpf_program **hot_programs(struct tokio_bpf *skel, size_t *n)
{
	static struct bpf_program *progs[5];

	progs[0] = skel->progs.tokio_poll_exit;
	progs[1] = skel->progs.tokio_clone_waker;
	progs[2] = skel->progs.tokio_wake_by_val;
	progs[3] = skel->progs.tokio_wake_by_ref;
	progs[4] = skel->progs.tokio_poll_enter;
	*n = 5;
	return progs;
}

int tokio_adaptor_attach(struct tokio_adaptor *ta, int threads_fd, bool duty,
			 int (*fn)(void *ctx, void *data, size_t size), void *ctx)
{
	const struct tokio_binary *tb = ta->tb;
	bool lifecycle = ta->mode >= MODE_LIFECYCLE;
	struct bpf_program **hot;
	size_t nhot;
	int err;

	ta->skel = tokio_bpf__open();
	if (!ta->skel)
		return -errno;
	if (duty && lifecycle) {
		err = hot_probes_new(ta->image, ta->proc->pid, &ta->hot);
		if (err)
			return err;
		hot = hot_programs(ta->skel, &nhot);
		for (size_t i = 0; i < nhot; i++)
			hot_probes_prepare(hot[i]);
	}
	ta->skel->rodata->targ_tgid = ta->proc->pid;
	ta->skel->rodata->next_id_addr = tb->next_id + ta->bias;
	ta->skel->rodata->tls_offset = tb->tls_context_offset;
	ta->skel->rodata->tls_bytes = tb->has_tls ? ta->tls_len : 0;
	ta->skel->rodata->await_stacks = lifecycle;
	ta->skel->rodata->poll_exits = ta->mode == MODE_FULL;
	ta->skel->rodata->task_wakeup_bytes = bpf_map__max_entries(ta->skel->maps.task_events) / 8;
	err = runtime_bpf_load(ta->skel->skeleton, "Tokio",
			       &(struct runtime_maps){ .threads_fd = threads_fd, .frames_fd = -1 },
			       fn, ctx, &ta->rb);
	if (err)
		return err;

	report_disputes(ta);
	ta->mem_fd = open_target_mem(ta->proc->pid);
	err = choose_spawn_hook(ta);
	if (err)
		return err;
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
				struct probe_site site = {p->rets[r], p->body, PROBE_EXIT};

				if (attach_hot(ta, ta->skel->progs.tokio_poll_exit, &site,
					       PK_POLL_EXIT))
					return -ENOMEM;
			}
		}
		/* More exits than probed, or code that did not decode: some polls are never seen
		 * to end. */
		if (partial)
			fprintf(stderr,
				"asyncprof: warning: %zu of %zu poll functions can end "
				"elsewhere than at their probed exits: some poll durations of "
				"those task types are missed\n",
				partial, tb->npolls);
	}
	if (lifecycle) {
		err = attach_entry(ta, ta->skel->progs.tokio_clone_waker, tb->clone_waker,
				   PK_AWAIT);
		if (!err)
			err = attach_entry(ta, ta->skel->progs.tokio_wake_by_val, tb->wake_by_val,
					   PK_WAKE);
		if (!err)
			err = attach_entry(ta, ta->skel->progs.tokio_wake_by_ref, tb->wake_by_ref,
					   PK_WAKE);
		for (size_t i = 0; !err && i < tb->npolls; i++)
			if (poll_is_task(ta, &tb->polls[i], PK_POLL))
				err = attach_entry(ta, ta->skel->progs.tokio_poll_enter,
						   tb->polls[i].entry, PK_POLL);
		if (!err && ta->hot)
			err = hot_probes_attach(ta->hot);
		if (err)
			return err;
	} else if (tb->has_tls) {
		/* Calibration only: detached by tokio_observe once the field is known. */
		err = attach_calibration(ta);
		if (err)
			return err;
	}
	report_refused(ta);
	if (ta->verbose)
		fprintf(stderr, "asyncprof: tokio: %zu poll functions, %zu vtables, %zu probes, "
				"%zu duty-cycled, %d watchpoints, bias 0x%llx\n",
			tb->npolls, tb->nvtables, ta->nlinks, hot_probes_count(ta->hot), ta->nbp,
			(unsigned long long)ta->bias);
	return 0;
}

void tokio_adaptor_stop(struct tokio_adaptor *ta)
{
	if (ta->skel)
		ta->skel->bss->probes_stopped = true;
}

/* Forgets every thread's polls in progress: the probes were off, the exits of the polls entered
 * before were not seen (the same state as a fresh attach). */
static void forget_polls(struct tokio_adaptor *ta)
{
	int fd = bpf_map__fd(ta->skel->maps.threads);
	__u32 key;

	while (bpf_map_get_next_key(fd, NULL, &key) == 0)
		if (bpf_map_delete_elem(fd, &key))
			break;
}

int tokio_set_hot(struct tokio_adaptor *ta, bool on)
{
	if (!ta->hot)
		return -EOPNOTSUPP;
	if (on)
		return hot_probes_attach(ta->hot);
	hot_probes_detach(ta->hot);
	forget_polls(ta);
	return 0;
}

void tokio_hot_hits(struct tokio_adaptor *ta, uint64_t hits[2])
{
	int fd = bpf_map__fd(ta->skel->maps.counters);

	hits[0] = percpu_counter_sum(fd, TOKIO_CNT_HOT);
	hits[1] = percpu_counter_sum(fd, TOKIO_CNT_HOT_STEPPED);
}

void tokio_hot_run_time(struct tokio_adaptor *ta, uint64_t *ns, uint64_t *runs)
{
	hot_probes_run_time(ta->hot, ns, runs);
}

int tokio_set_probe_group(struct tokio_adaptor *ta, enum tokio_probe_group group, bool on)
{
	if (!ta->skel)
		return -EINVAL;
	if (on)
		ta->skel->bss->groups_off &= ~(1u << group);
	else
		ta->skel->bss->groups_off |= 1u << group;
	return 0;
}

void tokio_adaptor_close(struct tokio_adaptor *ta)
{
	if (!ta)
		return;
	if (ta->detaching)
		pthread_join(ta->detacher, NULL);
	detach_calibration(ta, true);
	detach_spawn_uprobes(ta);
	hot_probes_free(ta->hot);
	if (ta->mem_fd >= 0)
		close(ta->mem_fd);
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
		detach_calibration(ta, false); /* stop paying for hooks sample mode does not need */
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
	if (!ta->rb)
		return 0;
	check_spawn_hook(ta);
	return ring_buffer__consume(ta->rb);
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

/*
 * What the binary analysis did not find (a stripped executable has no symbols for CONTEXT,
 * Harness::complete or the future types), with the views each degrades in this mode; or, when
 * CONTEXT was found, that the current task's place in it was not. The spawn hook says for
 * itself what NEXT_ID's absence costs.
 */
static size_t analysis_warnings(const struct tokio_adaptor *ta, const char **out, size_t max)
{
	const struct tokio_binary *tb = ta->tb;
	const char *w[4];
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

const char *tokio_type_at(const struct tokio_adaptor *ta, uint64_t pc, bool *internal)
{
	int v = tokio_binary_poll_at(ta->tb, pc - ta->bias);

	*internal = v >= 0 && ta->tb->vtables[v].worker_launch;
	return v >= 0 ? ta->tb->vtables[v].future_type : NULL;
}

const char *tokio_spawned_type(const struct tokio_adaptor *ta, const uint64_t *pcs, size_t n,
			       bool *internal)
{
	uint64_t vaddrs[16];
	size_t m = 0;
	int v;

	/* the executable's frames, innermost first, up to the first elsewhere */
	while (m < n && m < sizeof(vaddrs) / sizeof(vaddrs[0]) && pcs[m] >= ta->code_start &&
	       pcs[m] < ta->code_end) {
		vaddrs[m] = pcs[m] - ta->bias;
		m++;
	}
	v = tokio_binary_spawned_type(ta->tb, vaddrs, m);
	*internal = v >= 0 && ta->tb->vtables[v].worker_launch;
	return v >= 0 ? ta->tb->vtables[v].future_type : NULL;
}

/* The probes' counters of a task, when they counted its polls. */
static void take_counters(const struct tokio_adaptor *ta, struct task_rec *t,
			  const struct task_info *ti)
{
	if (ti->polls)
		task_set_poll_counters(t, ti->polls, ta->mode == MODE_FULL ? &ti->poll : NULL);
}

void tokio_read_task_counters(struct tokio_adaptor *ta, struct task_table *tt, bool create)
{
	int fd = bpf_map__fd(ta->skel->maps.tasks);
	__u64 key, next;
	struct task_info ti;
	void *prev = NULL;

	while (bpf_map_get_next_key(fd, prev, &next) == 0) {
		key = next;
		prev = &key;
		/* A task whose every event was lost is known by its counters only: its polls
		 * count all the same (its parent and spawn site stay unknown). */
		if (bpf_map_lookup_elem(fd, &key, &ti) == 0 && ti.polls) {
			struct task_rec *t = create ? task_get(tt, key) : task_find(tt, key);

			if (t)
				take_counters(ta, t, &ti);
		}
	}
}

void tokio_finalize_task(void *ctx, struct task_rec *t)
{
	struct tokio_adaptor *ta = ctx;
	int fd = bpf_map__fd(ta->skel->maps.tasks);
	struct task_info ti;

	if (bpf_map_lookup_elem(fd, &t->id, &ti) == 0) {
		take_counters(ta, t, &ti);
		bpf_map_delete_elem(fd, &t->id);
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

json_t *tokio_report_json(struct tokio_adaptor *ta)
{
	uint64_t ids = ta->last_ids;
	uint64_t seen = ta->hits_before + (ta->skel ? spawns_seen(ta) - ta->base_hits : 0);

	read_next_id(ta, &ids);
	return json_pack(
	    "{sss{sIsI}sssIsIsIsI}", "spawn_hook", spawn_hook_names[ta->spawn_hook], "spawn_sites",
	    "probed", (json_int_t)ta->tb->nspawn_sites, "refused",
	    (json_int_t)ta->tb->spawn_sites_refused, "watchpoint",
	    ta->watchpoint_test < 0   ? "cannot be opened"
	    : ta->watchpoint_test > 0 ? "fires"
				      : "does not fire",
	    "spawns_seen", (json_int_t)seen, "ids_allocated", (json_int_t)(ids - ta->ids_at_start),
	    "spawns_missed", (json_int_t)ta->missed, "spawns_rejected",
	    (json_int_t)(ta->skel ? percpu_counter_sum(bpf_map__fd(ta->skel->maps.counters),
						       TOKIO_CNT_SPAWN_REJECTED)
				  : 0));
}

size_t tokio_warnings(struct tokio_adaptor *ta, const char **out, size_t max)
{
	size_t n = 0;

	if (ta->missed && ta->nwarnings < MAX_WARNINGS)
		warn(ta,
		     "the %s spawn hook missed %llu spawns: their tasks have no parent or spawn "
		     "site",
		     spawn_hook_names[ta->spawn_hook], (unsigned long long)ta->missed);
	for (size_t i = 0; i < ta->nwarnings && n < max; i++)
		out[n++] = ta->warnings[i];
	return n + analysis_warnings(ta, out + n, max - n);
}
