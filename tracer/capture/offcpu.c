// SPDX-License-Identifier: MIT
#include "offcpu.h"
#include "bpf/offcpu_data.h"
#include "offcpu.skel.h"
#include "sampler.h"
#include "target/process.h"

#include <bpf/bpf.h>
#include <bpf/btf.h>
#include <bpf/libbpf.h>
#include <errno.h>
#include <fcntl.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#define NO_USER_STACK_FRAME "[user stack not captured]"

/* The ways to hook the kernel (offcpu.bpf.c), best first. */
enum hooks { HOOKS_TASK_WORK, HOOKS_BTF, HOOKS_RAW, HOOKS_COUNT };

static const char *const hooks_names[HOOKS_COUNT] = {
	[HOOKS_TASK_WORK] = "tp_btf/sched_switch + task work",
	[HOOKS_BTF] = "tp_btf/sched_switch + raw_tp/sys_exit",
	[HOOKS_RAW] = "raw_tp/sched_switch + raw_tp/sys_exit",
};

struct offcpu {
	struct offcpu_bpf *skel;
	struct ring_buffer *rb;
	struct collector *col;
	struct profile *prof;
	pid_t pid;
	uint64_t min_block_ns;
	enum hooks hooks;
	bool stopped;
	uint64_t counters[OFFCPU_CNT_MAX];
	uint64_t events, events_ns;	      /* blocks in the profile */
	uint64_t unsent;		      /* of which taken from the thread map at the end */
	uint64_t in_progress, in_progress_ns; /* blocks that had not ended at the end */
	uint64_t in_progress_profiled;	      /* of which in the profile, with their stacks */
	bool iterators;			      /* seed_threads and flush_threads are loaded */
	uint64_t start_ns;		      /* the recording's start (offcpu_start) */
};

const char *offcpu_state_name(uint32_t state)
{
	if (state & OFFCPU_TASK_UNINTERRUPTIBLE)
		return "uninterruptible";
	if (state & OFFCPU_TASK_INTERRUPTIBLE)
		return "sleeping";
	if (state & (OFFCPU_TASK_STOPPED | OFFCPU_TASK_TRACED))
		return "stopped";
	return "other";
}

/* A block of ns nanoseconds; s (size bytes) holds its stacks. */
static void add_block(struct offcpu *o, uint64_t ns, uint32_t state, uint32_t flags,
		      const struct sample_event *s, size_t size)
{
	/* A block the recording cut, its weight the part inside: label cut_at start/end/both. */
	static const char *const cut[4] = { NULL, "end", "start", "both" };
	struct profile_label labels[2] = { { .key = "state", .str = offcpu_state_name(state) },
					   { .key = "cut_at" } };
	int64_t values[2] = { 1, (int64_t)ns };
	uint32_t c = flags & (OFFCPU_EV_IN_PROGRESS | OFFCPU_EV_FROM_START);

	o->events++;
	o->events_ns += ns;
	labels[1].str = cut[c];
	collector_add_sample(o->col, o->prof, s, size, values, labels, c ? 2 : 1,
			     s->flags & SAMPLE_USER_REGS ? NULL : NO_USER_STACK_FRAME);
}

static int handle_event(void *ctx, void *data, size_t size)
{
	const struct offcpu_event *e = data;

	if (size < OFFCPU_EVENT_HEADER + SAMPLE_HEADER_SIZE)
		return 0;
	if (e->flags & OFFCPU_EV_IN_PROGRESS)
		((struct offcpu *)ctx)->in_progress_profiled++;
	add_block(ctx, e->blocked_ns, e->state, e->flags, &e->s, size - OFFCPU_EVENT_HEADER);
	return 0;
}

/* The best hooks the kernel's BTF has, or the ones ASYNCPROF_OFFCPU_HOOKS names (tests). */
static enum hooks best_hooks(void)
{
	static const char *const env_names[HOOKS_COUNT] = { "task-work", "tp_btf", "raw_tp" };
	const char *want = getenv("ASYNCPROF_OFFCPU_HOOKS");
	struct btf *vmlinux;
	enum hooks h = HOOKS_RAW;

	for (int i = 0; want && i < HOOKS_COUNT; i++)
		if (strcmp(want, env_names[i]) == 0)
			return i;
	vmlinux = btf__load_vmlinux_btf();
	if (libbpf_get_error(vmlinux))
		return HOOKS_RAW;
	if (btf__find_by_name_kind(vmlinux, "btf_trace_sched_switch", BTF_KIND_TYPEDEF) > 0)
		h = btf__find_by_name_kind(vmlinux, "bpf_task_work_schedule_resume_impl",
					   BTF_KIND_FUNC) > 0 ? HOOKS_TASK_WORK : HOOKS_BTF;
	btf__free(vmlinux);
	return h;
}

/* Runs a task iterator over the target's threads; 0 or -errno. */
static int run_iterator(struct offcpu *o, struct bpf_program *prog)
{
	union bpf_iter_link_info info = { .task.pid = (__u32)o->pid };
	LIBBPF_OPTS(bpf_iter_attach_opts, opts, .link_info = &info,
		    .link_info_len = sizeof(info));
	struct bpf_link *link = bpf_program__attach_iter(prog, &opts);
	char buf[64];
	int fd, err = 0;
	ssize_t n;

	if (!link)
		return -errno;
	fd = bpf_iter_create(bpf_link__fd(link));
	if (fd < 0) {
		err = -errno;
	} else {
		while ((n = read(fd, buf, sizeof(buf))) > 0)
			;
		if (n < 0)
			err = -errno;
		close(fd);
	}
	bpf_link__destroy(link);
	return err;
}

static int load(struct offcpu *o, const struct offcpu_opts *opts, enum hooks hooks,
		bool iterators)
{
	int err;

	o->skel = offcpu_bpf__open();
	if (!o->skel)
		return -errno;
	o->skel->rodata->targ_tgid = opts->pid;
	o->skel->rodata->min_block_ns = opts->min_block_ns;
	bpf_program__set_autoload(o->skel->progs.switch_task_work, hooks == HOOKS_TASK_WORK);
	bpf_program__set_autoload(o->skel->progs.switch_btf, hooks == HOOKS_BTF);
	bpf_program__set_autoload(o->skel->progs.switch_raw, hooks == HOOKS_RAW);
	bpf_program__set_autoload(o->skel->progs.sys_exit_raw, hooks != HOOKS_TASK_WORK);
	bpf_program__set_autoload(o->skel->progs.seed_threads, iterators);
	bpf_program__set_autoload(o->skel->progs.flush_threads, iterators);
	/* Run on demand, over the target's threads only. */
	bpf_program__set_autoattach(o->skel->progs.seed_threads, false);
	bpf_program__set_autoattach(o->skel->progs.flush_threads, false);
	err = offcpu_bpf__load(o->skel);
	if (!err)
		err = offcpu_bpf__attach(o->skel);
	if (err) {
		offcpu_bpf__destroy(o->skel);
		o->skel = NULL;
		return err;
	}
	o->hooks = hooks;
	o->iterators = iterators;
	return 0;
}

/*
 * load() for an attempt that has a fallback: what the kernel refuses is expected (Linux 6.18
 * refuses to schedule task work from a program that is not sleepable, as sched_switch's are),
 * so the verifier's log is shown only with -v.
 */
static int try_load(struct offcpu *o, const struct offcpu_opts *opts, enum hooks hooks,
		    bool iterators)
{
	libbpf_print_fn_t print = opts->verbose ? NULL : libbpf_set_print(NULL);
	int err = load(o, opts, hooks, iterators);

	if (!opts->verbose)
		libbpf_set_print(print);
	return err;
}

int offcpu_open(const struct offcpu_opts *opts, struct collector *col, struct offcpu **out)
{
	static const struct profile_value_type types[] = {
		{ "blocks", "count" },
		{ "off_cpu", "nanoseconds" },
	};
	enum hooks hooks = best_hooks();
	struct offcpu *o = calloc(1, sizeof(*o));
	int err;

	if (!o)
		return -ENOMEM;
	o->col = col;
	o->pid = opts->pid;
	o->min_block_ns = opts->min_block_ns;
	o->prof = collector_new_profile(col, types, 2, 1);
	if (!o->prof) {
		err = -ENOMEM;
		goto fail;
	}
	/* A kernel may describe what it cannot load or attach: then the next best. Every attempt
	 * but the last one is quiet. */
	for (err = try_load(o, opts, hooks, true); err && hooks < HOOKS_COUNT;) {
		bool last = hooks + 1 == HOOKS_COUNT;

		/* Without the task iterators (before Linux 6.1's pid filter, or without
		 * bpf_copy_from_user_task), blocks under way at either end are only counted. */
		err = last ? load(o, opts, hooks, false) : try_load(o, opts, hooks, false);
		if (!err) {
			fprintf(stderr, "asyncprof: note: off-CPU: no task iterators: blocks under "
					"way at the start or end are counted, not profiled\n");
			break;
		}
		if (last)
			break;
		if (opts->verbose)
			fprintf(stderr, "asyncprof: note: off-CPU: cannot use %s (%s); trying %s\n",
				hooks_names[hooks], strerror(-err), hooks_names[hooks + 1]);
		hooks++;
		err = try_load(o, opts, hooks, true);
	}
	if (err) {
		fprintf(stderr, "asyncprof: cannot load the BPF off-CPU profiler: %s%s\n",
			strerror(-err), opts->verbose ? "" : " (run with -v for the verifier log)");
		goto fail;
	}
	o->rb = ring_buffer__new(bpf_map__fd(o->skel->maps.events), handle_event, o, NULL);
	if (!o->rb) {
		err = -errno;
		fprintf(stderr, "asyncprof: cannot open the off-CPU ring buffer: %s\n",
			strerror(errno));
		goto fail;
	}
	/* With the hooks in place: threads already blocked are blocked from now. */
	if (o->iterators && (err = run_iterator(o, o->skel->progs.seed_threads))) {
		fprintf(stderr, "asyncprof: warning: off-CPU: cannot list the threads already "
				"blocked (%s): their blocks count from their next switch\n",
			strerror(-err));
		o->iterators = false;
	}
	*out = o;
	return 0;
fail:
	offcpu_close(o);
	return err;
}

void offcpu_start(struct offcpu *o, uint64_t start_ns)
{
	o->start_ns = start_ns;
	o->skel->bss->window_start_ns = start_ns;
}

int offcpu_consume(struct offcpu *o)
{
	return o->rb ? ring_buffer__consume(o->rb) : 0;
}

/* The thread's name now, for a block whose event was never sent; "" once it is gone. */
static void thread_comm(pid_t pid, uint32_t tid, char *comm)
{
	char path[64];
	ssize_t n = -1;
	int fd;

	snprintf(path, sizeof(path), "/proc/%d/task/%u/comm", pid, tid);
	fd = open(path, O_RDONLY | O_CLOEXEC);
	if (fd >= 0) {
		n = read(fd, comm, TASK_COMM_LEN - 1);
		close(fd);
	}
	comm[n > 0 ? n : 0] = 0;
	if (n > 0 && comm[n - 1] == '\n')
		comm[n - 1] = 0;
}

/* A thread's record at the end: a block still in progress, or one that ended but whose event
 * was not sent (the thread had not reached user space again); the latter joins the profile
 * with its kernel stack. */
static void account_thread(struct offcpu *o, uint32_t tid, const struct offcpu_thread *t,
			   uint64_t now, struct sample_event *s)
{
	uint64_t from = t->off_ns > o->start_ns ? t->off_ns : o->start_ns;

	if (t->off_ns && t->state != OFFCPU_PREEMPTED && now > from) {
		o->in_progress++;
		o->in_progress_ns += now - from;
	}
	if (!t->pending_ns)
		return;
	memset(s, 0, SAMPLE_HEADER_SIZE);
	s->pid = o->pid;
	s->tid = tid;
	s->time_ns = now;
	s->kstack_len = t->kstack_len;
	memcpy(s->kstack, t->kstack, sizeof(s->kstack));
	thread_comm(o->pid, tid, s->comm);
	o->unsent++;
	add_block(o, t->pending_ns, t->pending_state,
		  t->flags & OFFCPU_THREAD_PENDING_SEEDED ? OFFCPU_EV_FROM_START : 0, s,
		  SAMPLE_HEADER_SIZE);
}

void offcpu_stop(struct offcpu *o)
{
	struct bpf_map *threads = o->skel->maps.threads;
	size_t vsize = bpf_map__value_size(threads);
	uint32_t key, next, *prev = NULL;
	struct sample_event *s = malloc(sizeof(*s));
	void *value = malloc(vsize);
	uint64_t now;

	if (o->stopped)
		goto out;
	o->stopped = true;
	offcpu_bpf__detach(o->skel);
	now = monotonic_ns();
	ring_buffer__consume(o->rb);
	/* Blocks under way (a thread blocked all along), with the stacks they sleep on. */
	if (o->iterators) {
		int err = run_iterator(o, o->skel->progs.flush_threads);

		if (err)
			fprintf(stderr, "asyncprof: warning: off-CPU: blocks under way at the end "
					"are counted, not profiled: %s\n", strerror(-err));
		ring_buffer__consume(o->rb);
	}
	for (uint32_t key = 0; key < OFFCPU_CNT_MAX; key++)
		o->counters[key] = percpu_counter_sum(bpf_map__fd(o->skel->maps.counters), key);
	if (!s || !value || vsize < sizeof(struct offcpu_thread))
		goto out;
	while (bpf_map__get_next_key(threads, prev, &next, sizeof(next)) == 0) {
		key = next;
		prev = &key;
		if (bpf_map__lookup_elem(threads, &key, sizeof(key), value, vsize, 0) == 0)
			account_thread(o, key, value, now, s);
	}
out:
	free(value);
	free(s);
}

void offcpu_close(struct offcpu *o)
{
	if (!o)
		return;
	ring_buffer__free(o->rb);
	offcpu_bpf__destroy(o->skel);
	free(o);
}

struct profile *offcpu_profile(struct offcpu *o)
{
	return o->prof;
}

/* {"<count_key>": count, "ns": ns} */
static json_t *count_and_ns(const char *count_key, uint64_t count, uint64_t ns)
{
	return json_pack("{sIsI}", count_key, (json_int_t)count, "ns", (json_int_t)ns);
}

json_t *offcpu_json(const struct offcpu *o)
{
	const uint64_t *c = o->counters;
	json_t *j = json_object();
	int err = 0;

	if (!j)
		return NULL;
	/* See offcpu_data.h for the counters; set_new takes the values also when it fails. */
	err |= json_object_set_new(j, "min_block_ns", json_integer(o->min_block_ns));
	err |= json_object_set_new(j, "hooks", json_string(hooks_names[o->hooks]));
	err |= json_object_set_new(j, "events", json_integer(o->events));
	err |= json_object_set_new(j, "events_ns", json_integer(o->events_ns));
	err |= json_object_set_new(j, "without_user_stack",
				   json_integer(c[OFFCPU_CNT_NO_USER_STACK] + o->unsent));
	err |= json_object_set_new(j, "sent_at_end", json_integer(o->unsent));
	/* Every block seen, those still under way at the end included (up to the end). */
	err |= json_object_set_new(j, "blocks",
				   json_integer(c[OFFCPU_CNT_LONG] + c[OFFCPU_CNT_SHORT] +
						o->in_progress));
	err |= json_object_set_new(j, "blocked_ns",
				   json_integer(c[OFFCPU_CNT_LONG_NS] + c[OFFCPU_CNT_SHORT_NS] +
						o->in_progress_ns));
	err |= json_object_set_new(j, "below_threshold",
				   count_and_ns("blocks", c[OFFCPU_CNT_SHORT], c[OFFCPU_CNT_SHORT_NS]));
	err |= json_object_set_new(j, "in_progress_at_end",
				   count_and_ns("threads", o->in_progress, o->in_progress_ns));
	err |= json_object_set_new(j, "in_progress_profiled", json_integer(o->in_progress_profiled));
	err |= json_object_set_new(j, "blocked_at_start", json_integer(c[OFFCPU_CNT_SEEDED]));
	err |= json_object_set_new(j, "runnable",
				   count_and_ns("intervals", c[OFFCPU_CNT_RUNNABLE],
						c[OFFCPU_CNT_RUNNABLE_NS]));
	err |= json_object_set_new(j, "began_before_start",
				   json_integer(c[OFFCPU_CNT_BEFORE_START]));
	err |= json_object_set_new(j, "missed_ends", json_integer(c[OFFCPU_CNT_MISSED_END]));
	err |= json_object_set_new(j, "drops", json_integer(c[OFFCPU_CNT_DROPS]));
	err |= json_object_set_new(j, "untracked", json_integer(c[OFFCPU_CNT_THREADS_FULL]));
	err |= json_object_set_new(j, "task_work_errors",
				   json_integer(c[OFFCPU_CNT_TASK_WORK_ERRORS]));
	if (err) {
		json_decref(j);
		return NULL;
	}
	return j;
}

void offcpu_print_summary(FILE *f, const struct offcpu *o)
{
	const uint64_t *c = o->counters;

	fprintf(f, "off-CPU: %llu blocks of %.3g ms or more, %.3f s blocked (profiled); %llu "
		   "shorter, %.3f s (counted); %llu runnable waits, %.3f s\n",
		(unsigned long long)o->events, o->min_block_ns / 1e6, o->events_ns / 1e9,
		(unsigned long long)c[OFFCPU_CNT_SHORT], c[OFFCPU_CNT_SHORT_NS] / 1e9,
		(unsigned long long)c[OFFCPU_CNT_RUNNABLE], c[OFFCPU_CNT_RUNNABLE_NS] / 1e9);
}

const char *offcpu_warning(const struct offcpu *o)
{
	if (o->counters[OFFCPU_CNT_DROPS])
		return "off-CPU events were dropped: the ring buffer was full (see offcpu.drops)";
	if (o->counters[OFFCPU_CNT_THREADS_FULL])
		return "some off-CPU blocks were not tracked: too many threads (see "
		       "offcpu.untracked)";
	return NULL;
}
