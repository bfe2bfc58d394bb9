// SPDX-License-Identifier: MIT
/*
 * Duty cycling of the hot probes under a CPU budget.
 *
 * A uprobe hit costs the target a trap, and more when the probed instruction must be stepped
 * out of line: on this project's 6.18 VM 7 us for a PUSH RBP (emulated) and 18 us for a
 * rip-relative MOV (single-stepped), against about 1 ns for the call itself; a Tokio service
 * polls and wakes millions of times a second. So the hot probes are on for windows and off in
 * between, for a duty fraction that keeps hits x cost under the budget.
 *
 * How to turn a uprobe off, measured on this machine (a function called in a loop by another
 * process, the byte at its address read from /proc/PID/mem):
 *
 *   PERF_EVENT_IOC_DISABLE on the uprobe's perf event   0.02 ms; the INT3 stays in the target
 *                                                        and every call still traps (18.9 us
 *                                                        per call, as with the probe on): the
 *                                                        uprobe's filter and the BPF program
 *                                                        go with the event's life, not its
 *                                                        enabled state
 *   a flag the BPF program tests (groups_off)           no system call; the trap is paid all
 *                                                        the same
 *   closing the perf event (bpf_link__destroy)          the byte restored, no cost left; but
 *                                                        60 to 80 ms per probe (an RCU grace
 *                                                        period each, barely shorter when
 *                                                        closed from 16 threads at once:
 *                                                        850 ms for 16), 0.3 to 0.7 ms to
 *                                                        open: hundreds of probes take seconds
 *   closing a uprobe_multi link (Linux 6.6)             the bytes restored; 23 ms per link
 *                                                        whatever its number of sites (1 to 64
 *                                                        measured), 0.1 ms + 20 us per site to
 *                                                        create
 *
 * So the hot probes are attached as one uprobe_multi link per BPF program (a handful per
 * runtime) and the links are closed and created again; on a kernel without them the hot probes
 * stay on and a warning says the budget is not kept. All of this runs on the budget's own thread:
 * the main loop keeps taking events meanwhile.
 *
 * Cost: calibrated at start on two functions of asyncprof's own (an emulated and a single-stepped
 * first instruction) with an empty program; the hot programs' own run time comes from the
 * kernel's BPF statistics (enabled while a budget runs), and the probes count their hits by kind
 * (bpf/hot.h). The target's CPU time is the sum of its threads' schedstat run times, read at
 * each window's ends; its system time above its rate while the probes are off counts too, and
 * for a target that keeps every CPU busy, asyncprof's own CPU time above its rate or the
 * target's CPU time short of its rate (window_cost). What the probes cost until a window's last
 * link is closed (20 to 60 ms here) is spent too, and estimated apart. The cost of the probes
 * while on, relative to the target's CPU then, is an exponentially weighted mean over windows;
 * the duty fraction is the share of the budget aimed at (AIM) over it, at most 1: a quiet
 * target keeps its probes on and its counts exact.
 *
 * Windows: the first, from the start, until the probes are found to cost too much; a short one
 * (MEASURE_WINDOW_NS) to measure the target again once it runs; then MIN_WINDOW_NS each, or more
 * for a target cycled lightly (a cycle of window and gap is at least CYCLE_NS: a 60 ms poll
 * every 260 ms lies whole in windows of 300 ms), measured from the moment the last link is
 * attached to the moment the first is closed. The next one opens when the budget has paid for
 * everything so far and for it (a token bucket, wait_off), then after a random wait of up to a
 * quarter of a cycle, so that the windows do not lock onto the target's own periods. The model
 * measures an interval (a wait, a scheduling latency, a poll) only when both its ends fall inside
 * one window (budget_observed), and weighs it W / (W - L) (budget_weight): an interval of length L
 * falls whole in a window of length W that much less often than a point does; at the end every
 * total, weighted waits and counts alike, is scaled by the inverse of the fraction of the time on
 * (budget_fraction), which only then is known.
 */
#include "budget.h"
#include "probe_site.h"
#include "bpf/hot.h"
#include "target/process.h"
#include "target/procstat.h"
#include "util/array.h"

#include <bpf/bpf.h>
#include <bpf/libbpf.h>
#include <linux/bpf.h>
#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <math.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/syscall.h>
#include <time.h>
#include <unistd.h>

#define MIN_WINDOW_NS 100000000ULL /* the shortest on-window */
#define FIRST_CHECK_DUTY 0.1	   /* the first second turns the probes off only below this */
#define START_DUTY 0.8		   /* nor does any later one while they were always on */
#define CYCLE_NS 3000000000ULL	   /* the shortest cycle (window and gap) */
/* The share of the budget aimed at: what the estimate cannot see (the caches and branch
 * predictors a trap leaves cold in the target's own code) costs it about half as much again:
 * Go's channel ping-pong, nearly stopped by its probes while they are on, loses 3 to 4% of its
 * throughput in a 10 s run with them counted at 2% of its CPU (1.19 and 1.23, on this machine).
 * And the budget is the probes' share: the CPU profile they come with costs a saturated Tokio
 * service 1 to 2% of its throughput itself. */
#define AIM 0.5
#define FIRST_CHECK_NS 20000000ULL   /* the first estimate: a busy target pays in full until then */
#define START_CHECK_NS 1000000000ULL /* checked every FIRST_CHECK_NS for this long at start */
/* The window after the first: the first measured a target that was starting (Go's ping-pong
 * at 24% of its CPU while on, against 60% later; Tokio's poll_heavy 14 to 20% against 70 to
 * 100%), so a short one measures it again before the windows are sized, and its figures replace
 * the first's. Sized from the first, the second cost a 10 s recording of poll_heavy 1% of its
 * throughput (a 100 ms window of a target that its probes nearly stop). */
#define MEASURE_WINDOW_NS FIRST_CHECK_NS
#define CALIBRATION_CALLS 200 /* per round; 3 rounds, the cheapest kept */
#define CALIBRATION_ROUNDS 3
/* An interval about as long as a window weighs at most this much (before the scaling by the
 * fraction of the time on). */
#define MAX_WEIGHT_FACTOR 4.0
/* The budget is a share of the target's CPU time, counted as at least this many CPUs busy: a
 * target that leaves its CPU idle pays its probes from idle time, and keeps them on. */
#define FLOOR_CPUS 1.0
/* Clock ticks of /proc/PID/stat's system time that are noise: each end of a window reads it to a
 * tick (10 ms), and Tokio's long_poll, at a tenth of a CPU, runs 50 ms in a 500 ms window. */
#define SYS_TICKS_NOISE 2
/* Linux 6.6's BPF_TRACE_UPROBE_MULTI, which Debian 12's headers (6.1) do not have. */
#define ATTACH_UPROBE_MULTI 48

#define MAX_HOT_PROGS 16 /* closed in parallel; more are closed one after the other */

/* link_create's uprobe_multi member of union bpf_attr (Linux 6.6). */
struct uprobe_multi_attr {
	uint32_t prog_fd, target_fd, attach_type, flags;
	uint64_t path, offsets, ref_ctr_offsets, cookies;
	uint32_t cnt, multi_flags, pid;
};

static int uprobe_multi_link(int prog_fd, const char *path, const uint64_t *offsets,
			     const uint64_t *cookies, size_t n, pid_t pid)
{
	union {
		union bpf_attr attr;
		struct uprobe_multi_attr um;
	} a;
	int fd;

	memset(&a, 0, sizeof(a));
	a.um = (struct uprobe_multi_attr){
		.prog_fd = prog_fd,
		.attach_type = ATTACH_UPROBE_MULTI,
		.path = (uint64_t)(uintptr_t)path,
		.offsets = (uint64_t)(uintptr_t)offsets,
		.cookies = (uint64_t)(uintptr_t)cookies,
		.cnt = n,
		.pid = pid,
	};
	fd = syscall(SYS_bpf, BPF_LINK_CREATE, &a, sizeof(a.attr));
	return fd < 0 ? -errno : fd;
}

/* ---- calibration ---- */

/* Two functions of our own to probe: one whose first instruction the kernel emulates, one whose
 * first instruction (rip-relative) it must single-step. */
void asyncprof_budget_plain(void);
void asyncprof_budget_stepped(void);
__asm__(".pushsection .text\n"
	".p2align 4\n"
	".globl asyncprof_budget_plain\n"
	".hidden asyncprof_budget_plain\n"
	".type asyncprof_budget_plain, @function\n"
	"asyncprof_budget_plain:\n"
	"	push %rbp\n"
	"	mov %rsp, %rbp\n"
	"	pop %rbp\n"
	"	ret\n"
	".p2align 4\n"
	".globl asyncprof_budget_stepped\n"
	".hidden asyncprof_budget_stepped\n"
	".type asyncprof_budget_stepped, @function\n"
	"asyncprof_budget_stepped:\n"
	"	mov asyncprof_budget_plain(%rip), %rax\n"
	"	ret\n"
	".popsection\n");

/* The empty program, loaded for uprobe_multi links. */
static int empty_program(void)
{
	struct bpf_insn insns[] = {
		{ .code = BPF_ALU64 | BPF_MOV | BPF_K, .dst_reg = BPF_REG_0, .imm = 0 },
		{ .code = BPF_JMP | BPF_EXIT },
	};
	LIBBPF_OPTS(bpf_prog_load_opts, opts, .expected_attach_type = ATTACH_UPROBE_MULTI);
	int fd = bpf_prog_load(BPF_PROG_TYPE_KPROBE, "asyncprof_cal", "GPL", insns, 2, &opts);

	return fd < 0 ? -errno : fd;
}

/* The file offset of our own code at addr, in the mapping of /proc/self/exe that holds it. */
static int64_t own_file_offset(uint64_t addr)
{
	FILE *f = fopen("/proc/self/maps", "re");
	char line[512];
	int64_t off = -1;

	if (!f)
		return -errno;
	while (off < 0 && fgets(line, sizeof(line), f)) {
		unsigned long long start, end, pgoff;

		if (sscanf(line, "%llx-%llx %*s %llx", &start, &end, &pgoff) == 3 &&
		    addr >= start && addr < end)
			off = (int64_t)(addr - start + pgoff);
	}
	fclose(f);
	return off < 0 ? -ENOENT : off;
}

static double calls_ns(void (*fn)(void), int n)
{
	uint64_t t0 = monotonic_ns();

	for (int i = 0; i < n; i++)
		fn();
	return (double)(monotonic_ns() - t0) / n;
}

/* The cost of a hit of a probe on fn: the cheapest of a few rounds, less the call itself. */
static int hit_ns(int prog, void (*fn)(void), double *ns)
{
	int64_t off = own_file_offset((uint64_t)(uintptr_t)fn);
	uint64_t cookie = 0;
	double best = INFINITY, bare = INFINITY;
	int link;

	if (off < 0)
		return (int)off;
	for (int r = 0; r < CALIBRATION_ROUNDS; r++)
		bare = fmin(bare, calls_ns(fn, CALIBRATION_CALLS));
	link = uprobe_multi_link(prog, "/proc/self/exe", (uint64_t *)&off, &cookie, 1, getpid());
	if (link < 0)
		return link;
	for (int r = 0; r < CALIBRATION_ROUNDS; r++)
		best = fmin(best, calls_ns(fn, CALIBRATION_CALLS));
	close(link);
	*ns = best > bare ? best - bare : 0;
	return 0;
}

int budget_calibrate(struct hit_cost *cost)
{
	int prog = empty_program(), err;

	if (prog < 0)
		return prog == -EINVAL || prog == -E2BIG ? -EOPNOTSUPP : prog;
	err = hit_ns(prog, asyncprof_budget_plain, &cost->plain_ns);
	if (!err)
		err = hit_ns(prog, asyncprof_budget_stepped, &cost->stepped_ns);
	close(prog);
	/* no such link type: EINVAL from a kernel before 6.6 */
	return err == -EINVAL || err == -EOPNOTSUPP ? -EOPNOTSUPP : err;
}

/* ---- hot probes ---- */

struct hot_prog {
	struct bpf_program *prog;
	uint64_t *offsets, *cookies;
	size_t n, cap;
	int link;
};

struct hot_probes {
	struct probe_image *img;
	pid_t pid;
	struct hot_prog *progs;
	size_t nprogs, cap;
};

void hot_probes_prepare(struct bpf_program *prog)
{
	bpf_program__set_expected_attach_type(prog, ATTACH_UPROBE_MULTI);
}

int hot_probes_new(struct probe_image *img, pid_t pid, struct hot_probes **out)
{
	struct hot_probes *hp = calloc(1, sizeof(*hp));

	if (!hp)
		return -ENOMEM;
	hp->img = img;
	hp->pid = pid;
	*out = hp;
	return 0;
}

static struct hot_prog *prog_of(struct hot_probes *hp, struct bpf_program *prog)
{
	for (size_t i = 0; i < hp->nprogs; i++)
		if (hp->progs[i].prog == prog)
			return &hp->progs[i];
	if (!array_grow((void **)&hp->progs, &hp->cap, hp->nprogs + 1, sizeof(*hp->progs)))
		return NULL;
	hp->progs[hp->nprogs] = (struct hot_prog){ .prog = prog, .link = -1 };
	return &hp->progs[hp->nprogs++];
}

int hot_probes_add(struct hot_probes *hp, struct bpf_program *prog, const struct probe_site *site,
		   uint64_t cookie, char *why, size_t len)
{
	int err = probe_site_check(hp->img, site, why, len);
	struct hot_prog *p;

	if (err)
		return err;
	if (!probe_site_emulated(hp->img, site->addr))
		cookie |= HOT_COOKIE_STEPPED;
	p = prog_of(hp, prog);
	if (!p || !array_grow((void **)&p->offsets, &p->cap, p->n + 1, sizeof(*p->offsets)) ||
	    !(p->cookies = realloc(p->cookies, p->cap * sizeof(*p->cookies)))) {
		snprintf(why, len, "%s", strerror(ENOMEM));
		return -ENOMEM;
	}
	p->offsets[p->n] = probe_image_file_offset(hp->img, site->addr);
	p->cookies[p->n++] = cookie;
	return 0;
}

size_t hot_probes_count(const struct hot_probes *hp)
{
	size_t n = 0;

	for (size_t i = 0; hp && i < hp->nprogs; i++)
		n += hp->progs[i].n;
	return n;
}

static void *close_link(void *fd)
{
	close((int)(intptr_t)fd);
	return NULL;
}

/*
 * Closing a link waits for a grace period (about 25 ms here) after its breakpoints are gone: the
 * links are closed at once, one thread each, so that the probes still attached do not go on
 * firing for the sum of those waits. Any order is right: the runtime forgets the polls in
 * progress once all are closed.
 */
void hot_probes_detach(struct hot_probes *hp)
{
	pthread_t th[MAX_HOT_PROGS];
	bool threaded[MAX_HOT_PROGS] = { false };

	for (size_t i = 0; hp && i < hp->nprogs; i++) {
		int fd = hp->progs[i].link;

		if (fd < 0)
			continue;
		hp->progs[i].link = -1;
		if (i < MAX_HOT_PROGS &&
		    !pthread_create(&th[i], NULL, close_link, (void *)(intptr_t)fd))
			threaded[i] = true;
		else
			close(fd);
	}
	for (size_t i = 0; i < MAX_HOT_PROGS; i++)
		if (threaded[i])
			pthread_join(th[i], NULL);
}

int hot_probes_attach(struct hot_probes *hp)
{
	const char *path = probe_image_path(hp->img);

	for (size_t i = 0; i < hp->nprogs; i++) {
		struct hot_prog *p = &hp->progs[i];
		int fd;

		if (p->link >= 0 || !p->n)
			continue;
		fd = uprobe_multi_link(bpf_program__fd(p->prog), path, p->offsets, p->cookies, p->n,
				       hp->pid);
		if (fd < 0) {
			hot_probes_detach(hp);
			return fd;
		}
		p->link = fd;
	}
	return 0;
}

void hot_probes_run_time(const struct hot_probes *hp, uint64_t *ns, uint64_t *runs)
{
	*ns = *runs = 0;
	for (size_t i = 0; hp && i < hp->nprogs; i++) {
		struct bpf_prog_info info;
		uint32_t len = sizeof(info);

		memset(&info, 0, sizeof(info));
		if (bpf_obj_get_info_by_fd(bpf_program__fd(hp->progs[i].prog), &info, &len))
			continue;
		*ns += info.run_time_ns;
		*runs += info.run_cnt;
	}
}

void hot_probes_free(struct hot_probes *hp)
{
	if (!hp)
		return;
	hot_probes_detach(hp);
	for (size_t i = 0; i < hp->nprogs; i++) {
		free(hp->progs[i].offsets);
		free(hp->progs[i].cookies);
	}
	free(hp->progs);
	free(hp);
}

/* ---- the budget ---- */

struct window {
	uint64_t start, end; /* end 0: still on; the first starts at 0: the probes were on from
			      * their attach, before the budget began (waits seeded then count) */
	uint64_t planned;    /* its length as chosen; 0: the first, on until cycling starts */
};

struct budget {
	pid_t pid;
	double share;
	struct hit_cost cost;
	struct budget_hooks hooks;
	bool verbose;
	int stats_fd; /* holds the kernel's BPF run-time statistics on; -1: not available */
	pthread_t thread;
	bool running;
	pthread_mutex_t lock; /* windows, quit, the figures below */
	pthread_cond_t wake;
	bool quit;
	uint64_t began, ended;
	uint64_t recording; /* the recording's start (began until told) */
	struct window *win;
	size_t nwin, capwin;
	/* the estimate, while on: what the probes cost, the target's CPU meanwhile */
	double cost_ns, cpu_ns, wall_ns; /* exponentially weighted sums over windows */
	double calibrated_ns;		 /* cost_ns's part of hits x calibrated cost */
	/* while off: the target's system time, asyncprof's CPU time, over wall time (weighted) */
	double off_sys, off_own, off_cpu, off_wall;
	int ncpus;		 /* online */
	double duty;		 /* the fraction aimed at */
	double within;		 /* the budget over the cost: >= 1 within it */
	uint64_t hits[2];	 /* the hits counted in the windows, by kind */
	double toggle_ms_max;	 /* the longest detach or attach */
	double tail_cost_ns;	 /* what a closing costs (weighted) */
	double spent_ns;	 /* what the probes cost since the start */
	bool fresh;		 /* the next check's figures replace the estimate */
	uint64_t cpu0, cpu_last; /* the target's CPU time at the start, at the last mark */
	char failure[160];	 /* why duty cycling stopped (a link could not be made again) */
	unsigned int seed;
};

/* The target's CPU time (ns): its threads' run times from schedstat. */
static uint64_t target_cpu_ns(pid_t pid)
{
	char path[64];
	struct dirent *d;
	uint64_t sum = 0;
	DIR *dir;

	snprintf(path, sizeof(path), "/proc/%d/task", pid);
	dir = opendir(path);
	if (!dir)
		return 0;
	while ((d = readdir(dir))) {
		unsigned long long run = 0;
		char file[320];
		FILE *f;

		if (d->d_name[0] == '.')
			continue;
		snprintf(file, sizeof(file), "/proc/%d/task/%s/schedstat", pid, d->d_name);
		f = fopen(file, "re");
		if (f && fscanf(f, "%llu", &run) == 1)
			sum += run;
		if (f)
			fclose(f);
	}
	closedir(dir);
	return sum;
}

/* The target's system time (ns), all its threads, from /proc/PID/stat (in clock ticks: a
 * statistical figure over short windows, without bias over many); 0 when unreadable. */
static uint64_t target_sys_ns(pid_t pid)
{
	struct proc_entry e;

	return proc_entry_read(pid, &e) ? 0 : proc_ticks_ns(e.sys_ticks);
}

/* asyncprof's own CPU time (ns), all its threads. */
static uint64_t own_cpu_ns(void)
{
	struct timespec ts;

	if (clock_gettime(CLOCK_PROCESS_CPUTIME_ID, &ts))
		return 0;
	return (uint64_t)ts.tv_sec * 1000000000ULL + (uint64_t)ts.tv_nsec;
}

/* What the hot probes and the target did since the marks, into the estimate; the marks move to
 * now. */
struct marks {
	uint64_t hits[2], prog_ns, prog_runs, cpu, wall;
	uint64_t sys, own; /* the target's system time, asyncprof's CPU time */
};

static void take_marks(struct budget *b, struct marks *m)
{
	b->hooks.hits(b->hooks.ctx, m->hits);
	b->hooks.run_time(b->hooks.ctx, &m->prog_ns, &m->prog_runs);
	m->cpu = target_cpu_ns(b->pid);
	m->sys = target_sys_ns(b->pid);
	m->own = own_cpu_ns();
	m->wall = monotonic_ns();
}

/* An off period ends (from its start's marks to now's): the rates of the target's system time
 * and of asyncprof's CPU without the hot probes, the base their excess in a window is measured
 * from (exponentially weighted, like the estimate). */
static void account_off(struct budget *b, const struct marks *from, const struct marks *now)
{
	double wall = now->wall > from->wall ? (double)(now->wall - from->wall) : 0;
	double sys = now->sys > from->sys ? (double)(now->sys - from->sys) : 0;
	double own = now->own > from->own ? (double)(now->own - from->own) : 0;
	double cpu = now->cpu > from->cpu ? (double)(now->cpu - from->cpu) : 0;

	if (wall <= 0)
		return;
	pthread_mutex_lock(&b->lock);
	b->off_wall = b->off_wall / 2 + wall;
	b->off_cpu = b->off_cpu / 2 + cpu;
	b->off_sys = b->off_sys / 2 + sys;
	b->off_own = b->off_own / 2 + own;
	pthread_mutex_unlock(&b->lock);
}

/* How much the target keeps every CPU busy, 0 to 1, from its CPU time over wall time: with a
 * CPU to spare (0), asyncprof's own work runs there; with none (1), it runs in the target's. */
static double saturation(const struct budget *b, double cpu, double wall)
{
	return wall > 0 ? fmin(fmax(cpu / wall - (b->ncpus - 1), 0), 1) : 0;
}

/*
 * What the hot probes cost over a window (from the marks to now), in ns of CPU:
 * - on the target's side, the larger of two figures: hits x the calibrated cost of a hit plus
 *   the programs' run time (exact, but it misses what a trap costs a hot loop beyond the
 *   calibration: the kernel's uprobe lookup, a cold cache), and the target's system time above
 *   its rate while the probes were off (everything the traps cost in the kernel, in clock ticks;
 *   known once the probes have been off once; less SYS_TICKS_NOISE: the larger of two figures
 *   takes the noise of either, and on a light target a tick or two is most of a window's);
 * - and, times the target's saturation while off (only a target that keeps every CPU busy
 *   loses what it does not get), the larger of: asyncprof's own CPU above its rate while off
 *   (taking the events runs in the target's place), and the target's CPU time short of its rate
 *   while off (what it did not get at all: preempted by asyncprof or the tracer's kernel work,
 *   or waiting in the uprobe code). Tokio's poll_heavy, nearly stopped by its probes, runs 1.5
 *   of its 2 CPUs while they are on, 83% of it in the kernel: without the shortfall the
 *   estimate was 60 to 70% of what the window cost it.
 * Before the first off period, without a base, the calibrated figure alone.
 */
static double window_cost(struct budget *b, const struct marks *from, const struct marks *now,
			  double *calibrated)
{
	double wall = (double)(now->wall - from->wall), cost, sys, own, cpu;
	double off_wall, off_sys, off_own, off_cpu;

	cost = (now->hits[0] - from->hits[0]) * b->cost.plain_ns +
	       (now->hits[1] - from->hits[1]) * b->cost.stepped_ns + (now->prog_ns - from->prog_ns);
	*calibrated = cost;
	pthread_mutex_lock(&b->lock);
	off_wall = b->off_wall;
	off_sys = b->off_sys;
	off_own = b->off_own;
	off_cpu = b->off_cpu;
	pthread_mutex_unlock(&b->lock);
	sys = now->sys > from->sys ? (double)(now->sys - from->sys) : 0;
	own = now->own > from->own ? (double)(now->own - from->own) : 0;
	cpu = now->cpu > from->cpu ? (double)(now->cpu - from->cpu) : 0;
	if (off_wall <= 0)
		return cost;
	cost = fmax(cost, sys - wall * off_sys / off_wall - proc_ticks_ns(SYS_TICKS_NOISE));
	return cost +
	       fmax(fmax(own - wall * off_own / off_wall, wall * off_cpu / off_wall - cpu), 0) *
		   saturation(b, off_cpu, off_wall);
}

/* The duty fraction and the margin from the estimate; under the lock. */
static void update_duty(struct budget *b)
{
	double base = fmax(b->cpu_ns, b->wall_ns * FLOOR_CPUS);

	b->duty = b->cost_ns > AIM * b->share * base ? AIM * b->share * base / b->cost_ns : 1;
	b->within = b->cost_ns > 0 ? b->share * base / b->cost_ns : INFINITY;
}

/*
 * What the probes cost from the marks to now, into the estimate (a check while on: a new term of
 * its weighted sums), or into the closings' (tail: the closing of the links that ended a window,
 * whose probes fire until the last is closed, and whose breakpoints go early in it: kept apart,
 * a closing of 20 to 60 ms would dilute a short window's cost rate). Returns the cost (ns).
 */
static double account(struct budget *b, struct marks *from, bool tail)
{
	struct marks now;
	double cost, cpu, calibrated, wall, keep = b->fresh ? 0 : 0.5;

	take_marks(b, &now);
	cost = window_cost(b, from, &now, &calibrated);
	cpu = now.cpu > from->cpu ? now.cpu - from->cpu : 0;
	wall = (double)(now.wall - from->wall);
	pthread_mutex_lock(&b->lock);
	b->hits[0] += now.hits[0] - from->hits[0];
	b->hits[1] += now.hits[1] - from->hits[1];
	if (tail) {
		b->tail_cost_ns = b->tail_cost_ns > 0 ? (b->tail_cost_ns + cost) / 2 : cost;
	} else {
		/* A check's worth counts as much as all before it: a target that calms down or
		 * gets busy is followed within a few windows. */
		b->cost_ns = b->cost_ns * keep + cost;
		b->calibrated_ns = b->calibrated_ns * keep + calibrated;
		b->cpu_ns = b->cpu_ns * keep + cpu;
		b->wall_ns = b->wall_ns * keep + wall;
		b->fresh = false;
		update_duty(b);
	}
	b->spent_ns += cost;
	if (now.cpu)
		b->cpu_last = now.cpu;
	pthread_mutex_unlock(&b->lock);
	*from = now;
	return cost;
}

/* Waits ns, or until budget_stop(); returns false when stopped. */
static bool pause_for(struct budget *b, uint64_t ns)
{
	struct timespec until;
	bool quit;

	clock_gettime(CLOCK_MONOTONIC, &until);
	until.tv_sec += ns / 1000000000ULL;
	until.tv_nsec += ns % 1000000000ULL;
	if (until.tv_nsec >= 1000000000L) {
		until.tv_sec++;
		until.tv_nsec -= 1000000000L;
	}
	pthread_mutex_lock(&b->lock);
	while (!b->quit && pthread_cond_timedwait(&b->wake, &b->lock, &until) == 0)
		;
	quit = b->quit;
	pthread_mutex_unlock(&b->lock);
	return !quit;
}

static void set_window_end(struct budget *b, uint64_t t)
{
	pthread_mutex_lock(&b->lock);
	b->win[b->nwin - 1].end = t;
	pthread_mutex_unlock(&b->lock);
}

static bool open_window(struct budget *b, uint64_t t, uint64_t planned)
{
	bool ok;

	pthread_mutex_lock(&b->lock);
	ok = array_grow((void **)&b->win, &b->capwin, b->nwin + 1, sizeof(*b->win));
	if (ok)
		b->win[b->nwin++] = (struct window){ t, 0, planned };
	pthread_mutex_unlock(&b->lock);
	return ok;
}

/* An on-window: at least MIN_WINDOW_NS, and a cycle at least CYCLE_NS long: a target cycled
 * lightly gets longer windows, which hold longer waits and polls whole. */
static uint64_t window_len(double duty)
{
	return (uint64_t)fmax(MIN_WINDOW_NS, duty * CYCLE_NS);
}

/*
 * The off-times, as a token bucket: the budget accrues at its share (aimed at) of the target's
 * CPU time since the start, counted as at least FLOOR_CPUS, and the next window opens only once
 * what the probes have cost so far (the start, every window and the closing of its links) and
 * what the next window will cost (the estimate's rate over its length and a closing) are paid
 * for. A target that pays as it goes waits the cycle the duty fraction gives; the first windows,
 * on an estimate still rough, are paid back before another opens, so that even a short
 * recording keeps to the budget. The target's CPU time is read again as the wait goes on (a
 * target that gets busy accrues faster). Then a random wait of up to a quarter of a cycle, so
 * that the windows do not lock onto the target's own periods.
 *
 * owed: how long to wait still (ns) before a window of next_len; its cycle (the wait from a
 * budget paid to the next window's end) in *cycle.
 */
static uint64_t owed(struct budget *b, uint64_t next_len, double *cycle)
{
	uint64_t now = monotonic_ns(), cpu = target_cpu_ns(b->pid);
	double allowed, rate, accrues, next, debt;

	pthread_mutex_lock(&b->lock);
	if (cpu > b->cpu_last)
		b->cpu_last = cpu;
	allowed =
	    AIM * b->share *
	    fmax(b->cpu_last > b->cpu0 ? b->cpu_last - b->cpu0 : 0, (now - b->began) * FLOOR_CPUS);
	rate = b->wall_ns > 0 ? fmax(b->cpu_ns / b->wall_ns, FLOOR_CPUS) : FLOOR_CPUS;
	accrues = AIM * b->share * rate; /* ns of cost allowed per ns */
	next = (b->wall_ns > 0 ? b->cost_ns / b->wall_ns * next_len : 0) + b->tail_cost_ns;
	debt = b->spent_ns + next - allowed;
	pthread_mutex_unlock(&b->lock);
	if (cycle)
		*cycle = next / accrues;
	return debt > 0 ? (uint64_t)(debt / accrues) : 0;
}

/* Waits until the budget has paid for a window of next_len, then the random part; returns
 * false when stopped. */
static bool wait_off(struct budget *b, uint64_t next_len)
{
	double cycle;
	uint64_t left;

	while ((left = owed(b, next_len, &cycle)) > 0)
		if (!pause_for(b, left < CYCLE_NS ? left : CYCLE_NS))
			return false;
	return pause_for(b, (uint64_t)(cycle / 4 * rand_r(&b->seed) / RAND_MAX));
}

static void *run(void *arg)
{
	struct budget *b = arg;
	uint64_t wait = FIRST_CHECK_NS;
	struct marks m, closed;
	bool on = true;

	take_marks(b, &m);
	b->cpu0 = m.cpu;
	while (pause_for(b, wait)) {
		uint64_t t0;
		double duty, within;
		bool hold, starting;
		int err;

		account(b, &m, false);
		pthread_mutex_lock(&b->lock);
		duty = b->duty;
		within = b->within;
		pthread_mutex_unlock(&b->lock);
		/*
		 * Within the share aimed at, the probes stay on and the window goes on. A start-up
		 * burst (runtime initialisation) or a target near the line must not start cycling:
		 * the checks of the first START_CHECK_NS, FIRST_CHECK_NS apart, only catch a target
		 * far over the budget (over 20 ms a burst weighs a lot: the Go hog's goroutines
		 * starting cost 4 times it) or one that has spent a second's budget (the rest of a
		 * short recording would go to repay it, its windows all at its start), and a target
		 * always on so far starts cycling only once clearly over the budget itself (not the
		 * share aimed at: a quiet target keeps its counts exact).
		 */
		starting = b->nwin == 1 && monotonic_ns() - b->began < START_CHECK_NS;
		hold = duty >= 1 ||
		       (starting && within > FIRST_CHECK_DUTY &&
			b->spent_ns < b->share * FLOOR_CPUS * START_CHECK_NS) ||
		       (b->nwin == 1 && within > START_DUTY);
		/* on: checked every MIN_WINDOW_NS, every FIRST_CHECK_NS in the first START_CHECK_NS
		 * (a target that gets busy as it starts pays in full until a check sees it: in a
		 * short recording, that first window would be most of the cost); cycled: the next
		 * window's length */
		wait = !hold ? window_len(duty) : starting ? FIRST_CHECK_NS : MIN_WINDOW_NS;
		if (hold)
			continue;
		if (b->nwin == 1)
			wait = MEASURE_WINDOW_NS;
		t0 = monotonic_ns();
		set_window_end(b, t0);
		b->hooks.set_hot(b->hooks.ctx, false);
		on = false;
		b->toggle_ms_max = fmax(b->toggle_ms_max, (monotonic_ns() - t0) / 1e6);
		/* What the probes cost until the last link was closed: the window's too. */
		account(b, &m, true);
		if (b->verbose) {
			double cycle;
			uint64_t left = owed(b, wait, &cycle);

			fprintf(
			    stderr,
			    "asyncprof: budget: window %zu: duty %.3f (cost %.1f%% of the target's "
			    "CPU while on, %.1f%% from hits x cost; off: the target's system time "
			    "%.1f%% of a CPU, asyncprof's CPU %.1f%%), closed in %.0f ms, probes' "
			    "cost so far %.1f ms: off for %.0f ms and up to %.0f more (the target "
			    "ran %.2f CPUs while on, %.2f off)\n",
			    b->nwin, b->duty, b->cpu_ns > 0 ? 100 * b->cost_ns / b->cpu_ns : 0,
			    b->cpu_ns > 0 ? 100 * b->calibrated_ns / b->cpu_ns : 0,
			    b->off_wall > 0 ? 100 * b->off_sys / b->off_wall : 0,
			    b->off_wall > 0 ? 100 * b->off_own / b->off_wall : 0,
			    (monotonic_ns() - t0) / 1e6, b->spent_ns / 1e6, left / 1e6, cycle / 4e6,
			    b->wall_ns > 0 ? b->cpu_ns / b->wall_ns : 0,
			    b->off_wall > 0 ? b->off_cpu / b->off_wall : 0);
		}
		if (!wait_off(b, wait))
			break;
		t0 = monotonic_ns();
		closed = m;
		err = b->hooks.set_hot(b->hooks.ctx, true);
		if (err) {
			snprintf(
			    b->failure, sizeof(b->failure),
			    "the hot probes could not be attached again (%s): off from then on",
			    strerror(-err));
			break;
		}
		on = true;
		if (!open_window(b, monotonic_ns(), wait))
			break;
		b->toggle_ms_max = fmax(b->toggle_ms_max, (monotonic_ns() - t0) / 1e6);
		if (b->verbose)
			fprintf(stderr, "asyncprof: budget: window %zu opened in %.1f ms\n",
				b->nwin, (monotonic_ns() - t0) / 1e6);
		/* the measuring window's figures replace the first's (only this thread reads it) */
		b->fresh = b->nwin == 2;
		/* The hits while the links were being made count against this window. */
		take_marks(b, &m);
		account_off(b, &closed, &m);
		memcpy(m.hits, closed.hits, sizeof(m.hits));
		m.prog_ns = closed.prog_ns;
		m.prog_runs = closed.prog_runs;
	}
	/* The last window's cost, and the target's CPU time to its end, for the report. */
	if (on)
		account(b, &m, false);
	owed(b, 0, NULL);
	return NULL;
}

int budget_start(pid_t pid, double share, const struct hit_cost *cost,
		 const struct budget_hooks *hooks, bool verbose, struct budget **out)
{
	struct budget *b = calloc(1, sizeof(*b));
	long ncpus = sysconf(_SC_NPROCESSORS_ONLN);
	pthread_condattr_t ca;
	int err;

	if (!b)
		return -ENOMEM;
	*b = (struct budget){ .pid = pid,
			      .share = share,
			      .cost = *cost,
			      .hooks = *hooks,
			      .verbose = verbose,
			      .duty = 1,
			      .seed = (unsigned int)monotonic_ns(),
			      .ncpus = ncpus > 0 ? (int)ncpus : 1 };
	pthread_mutex_init(&b->lock, NULL);
	/* the waits are deadlines on CLOCK_MONOTONIC, the clock of the windows */
	pthread_condattr_init(&ca);
	pthread_condattr_setclock(&ca, CLOCK_MONOTONIC);
	pthread_cond_init(&b->wake, &ca);
	pthread_condattr_destroy(&ca);
	b->stats_fd = bpf_enable_stats(BPF_STATS_RUN_TIME);
	b->began = b->recording = monotonic_ns();
	if (!open_window(b, 0, 0)) {
		budget_free(b);
		return -ENOMEM;
	}
	err = -pthread_create(&b->thread, NULL, run, b);
	if (err) {
		budget_free(b);
		return err;
	}
	b->running = true;
	if (verbose)
		fprintf(
		    stderr,
		    "asyncprof: budget %.1f%%: a hot probe hit costs %.2f us (emulated), %.2f us "
		    "(single-stepped)%s\n",
		    share * 100, cost->plain_ns / 1e3, cost->stepped_ns / 1e3,
		    b->stats_fd < 0 ? "; no BPF run-time statistics" : "");
	*out = b;
	return 0;
}

void budget_recording_starts(struct budget *b, uint64_t now_ns)
{
	pthread_mutex_lock(&b->lock);
	b->recording = now_ns;
	pthread_mutex_unlock(&b->lock);
}

void budget_stop(struct budget *b, uint64_t now_ns)
{
	if (!b || !b->running)
		return;
	pthread_mutex_lock(&b->lock);
	b->quit = true;
	pthread_cond_signal(&b->wake);
	pthread_mutex_unlock(&b->lock);
	pthread_join(b->thread, NULL);
	b->running = false;
	b->ended = now_ns;
	if (b->nwin && !b->win[b->nwin - 1].end)
		b->win[b->nwin - 1].end = now_ns;
}

void budget_free(struct budget *b)
{
	if (!b)
		return;
	budget_stop(b, monotonic_ns());
	if (b->stats_fd >= 0)
		close(b->stats_fd);
	pthread_mutex_destroy(&b->lock);
	pthread_cond_destroy(&b->wake);
	free(b->win);
	free(b);
}

bool budget_observed(struct budget *b, uint64_t from, uint64_t to)
{
	bool seen = false;

	pthread_mutex_lock(&b->lock);
	/* the latest window that started at or before from; not what ended before the recording
	 * (in the part of a second an attach takes between the probes' start and the recording's:
	 * outside the time the fraction observed counts) */
	for (size_t i = to < b->recording ? 0 : b->nwin; i-- > 0;) {
		const struct window *w = &b->win[i];

		if (w->start > from)
			continue;
		seen = !w->end || to <= w->end;
		break;
	}
	pthread_mutex_unlock(&b->lock);
	return seen;
}

/* Unlocked: the recording's time so far, and the time observed. */
static void times(const struct budget *b, double *total, double *on)
{
	uint64_t now = b->ended ? b->ended : monotonic_ns();

	*total = now > b->recording ? (double)(now - b->recording) : 0;
	*on = 0;
	for (size_t i = 0; i < b->nwin; i++) {
		uint64_t start =
		    i && b->win[i].start > b->recording ? b->win[i].start : b->recording;
		uint64_t end = b->win[i].end ? b->win[i].end : now;

		*on += end > start ? (double)(end - start) : 0;
	}
}

double budget_weight(struct budget *b, uint64_t len)
{
	uint64_t planned;

	pthread_mutex_lock(&b->lock);
	planned = b->win[b->nwin - 1].planned;
	pthread_mutex_unlock(&b->lock);
	/* before any cycling (the first window, of no set length): seen as it comes */
	if (!planned)
		return 1;
	return len < planned ? fmin((double)planned / (planned - len), MAX_WEIGHT_FACTOR)
			     : MAX_WEIGHT_FACTOR;
}

double budget_fraction(struct budget *b)
{
	double total, on;

	if (!b)
		return 1;
	pthread_mutex_lock(&b->lock);
	if (b->nwin == 1 && !b->win[0].end) {
		pthread_mutex_unlock(&b->lock);
		return 1;
	}
	times(b, &total, &on);
	pthread_mutex_unlock(&b->lock);
	return total > 0 && on < total ? on / total : 1;
}

/* The mean length of the windows after the first (ms), or the shortest when there are none. */
static double mean_window_ms(struct budget *b)
{
	uint64_t now = b->ended ? b->ended : monotonic_ns(), sum = 0;

	for (size_t i = 1; i < b->nwin; i++)
		sum += (b->win[i].end ? b->win[i].end : now) - b->win[i].start;
	return b->nwin > 1 ? sum / 1e6 / (b->nwin - 1) : MIN_WINDOW_NS / 1e6;
}

/* What the hot probes cost over the recording, relative to the target's CPU time then (counted as
 * at least FLOOR_CPUS busy, as the budget is). */
static double spent_share(const struct budget *b)
{
	uint64_t now = b->ended ? b->ended : monotonic_ns();
	double cpu = b->cpu_last > b->cpu0 ? (double)(b->cpu_last - b->cpu0) : 0;
	double base = fmax(cpu, (double)(now - b->began) * FLOOR_CPUS);

	return base > 0 ? fmin(b->spent_ns / base, 1) : 0;
}

/* What the hot probes cost while on, relative to the target's CPU then (the estimate). */
static double cost_share(const struct budget *b)
{
	return b->cpu_ns > 0 ? fmin(b->cost_ns / b->cpu_ns, 1) : 0;
}

json_t *budget_json(struct budget *b)
{
	double fraction = budget_fraction(b);

	return json_pack("{sfsfsIsfs{sIsI}sfs{sfsf}sfsfsfsbss?}", "budget_pct", b->share * 100,
			 "fraction", fraction, "windows", (json_int_t)b->nwin, "window_ms",
			 mean_window_ms(b), "hits", "emulated", (json_int_t)b->hits[0],
			 "single_stepped", (json_int_t)b->hits[1], "cost_when_on_pct",
			 cost_share(b) * 100, "hit_cost_us", "emulated", b->cost.plain_ns / 1e3,
			 "single_stepped", b->cost.stepped_ns / 1e3, "cost_when_on_pct_of_a_cpu",
			 b->wall_ns > 0 ? 100 * b->cost_ns / b->wall_ns : 0.0, "toggle_ms_max",
			 b->toggle_ms_max, "cost_pct", spent_share(b) * 100, "estimated",
			 fraction < 1, "stopped", b->failure[0] ? b->failure : NULL);
}

/* What the probes cost while on, in words: as a share of the target's CPU, or of a CPU for a
 * target that used less than FLOOR_CPUS (the budget counts it as that busy: a mostly asleep target
 * whose probes cost as much as its own few ms of CPU still keeps them on). */
static void describe_cost(const struct budget *b, char *buf, size_t size)
{
	double used = b->wall_ns > 0 ? b->cpu_ns / b->wall_ns : 0;

	if (b->wall_ns > 0 && used < FLOOR_CPUS)
		snprintf(buf, size, "%.2f%% of a CPU, the target using %.1f%% of one",
			 100 * b->cost_ns / b->wall_ns, 100 * used);
	else
		snprintf(buf, size, "%.1f%% of the target's CPU", cost_share(b) * 100);
}

/* The probes the budget never turns off: their cost is the samples' to tell (the summary's
 * "probes:" line counts the [uprobe] frames of every probe). */
#define ALWAYS_ON                                                                                 \
	"the spawn, exit and GC probes stay on, outside the budget (the probes line counts "      \
	"them with the rest)"

void budget_describe(struct budget *b, char *buf, size_t size)
{
	double fraction = budget_fraction(b);
	char cost[80];

	describe_cost(b, cost, sizeof(cost));
	if (fraction >= 1)
		snprintf(buf, size,
			 "budget %.1f%%: the event probes were on all the time (they cost %s): "
			 "counts are exact; %s",
			 b->share * 100, cost, ALWAYS_ON);
	else {
		char windows[96];
		uint64_t end = b->win[0].end ? b->win[0].end : b->ended ? b->ended : monotonic_ns();
		int n = snprintf(windows, sizeof(windows), "the first %.0f ms",
				 end > b->recording ? (end - b->recording) / 1e6 : 0);

		if (b->nwin > 1)
			snprintf(windows + n, sizeof(windows) - n, ", then %zu window%s of %.0f ms",
				 b->nwin - 1, b->nwin == 2 ? "" : "s", mean_window_ms(b));
		snprintf(buf, size,
			 "budget %.1f%%: the event probes were on %.1f%% of the time: %s (on, "
			 "they cost %s): waits, latencies and polls are those seen whole in a "
			 "window; totals and counts are estimates (scaled); %s",
			 b->share * 100, fraction * 100, windows, cost, ALWAYS_ON);
	}
}
