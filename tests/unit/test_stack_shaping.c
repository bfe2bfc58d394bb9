// SPDX-License-Identifier: MIT
/*
 * The collector's stack shaping and the task state machine, without BPF: synthetic samples and
 * task events, as the ring buffers would hand them over, in and out of order. A sample's stack
 * is made of kernel frames (real kernel functions, named through /proc/kallsyms), so that no
 * unwinding is involved: the shaping only reads function names.
 *
 * The stacks are read back root first, joined by ';', as the folded files show them.
 */
#include <criterion/criterion.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "model/collector.h"
#include "symbols/kallsyms.h"
#include "symbols/symbolizer.h"

#define MS 1000000ULL

/* Four kernel functions: leaf, boundary (the "poll" frame), executor, outermost. */
static uint64_t kaddr[4];
static char kname[4][256];
static struct kallsyms *ks;
static struct symbolizer *sym;
static struct process *proc;
static struct collector *col;

/* Kernel text symbols that kallsyms names back as themselves (a unique address). */
static void pick_kernel_functions(void)
{
	FILE *f = fopen("/proc/kallsyms", "r");
	char line[512], name[256], type;
	unsigned long long addr;
	size_t n = 0;

	cr_assert_not_null(f);
	while (n < 4 && fgets(line, sizeof(line), f)) {
		const char *got;
		uint64_t off;

		if (sscanf(line, "%llx %c %255s", &addr, &type, name) != 3 || !addr ||
		    (type != 'T' && type != 't') || strchr(line, '['))
			continue;
		got = kallsyms_lookup(ks, addr, &off);
		if (!got || off || strcmp(got, name) != 0 || (n && addr == kaddr[n - 1]))
			continue;
		kaddr[n] = addr;
		snprintf(kname[n], sizeof(kname[n]), "%s", name);
		n++;
	}
	fclose(f);
	cr_assert_eq(n, 4, "4 kernel functions in /proc/kallsyms");
}

static bool is_boundary(const char *function)
{
	return strcmp(function, kname[1]) == 0;
}

static bool is_boundary_ctx(void *ctx, const char *function)
{
	return is_boundary(function);
}

static void setup(void)
{
	cr_assert_eq(kallsyms_load(&ks), 0, "kallsyms readable (make unit runs as root)");
	pick_kernel_functions();
	sym = symbolizer_new();
	cr_assert_eq(process_open(getpid(), sym, &proc), 0);
	cr_assert_eq(collector_new(proc, ks, 10 * MS, &col), 0);
	collector_set_runtime(col, is_boundary, true, "task_id");
}

static void teardown(void)
{
	collector_free(col);
	process_close(proc);
	symbolizer_free(sym);
	kallsyms_free(ks);
}

/* A task event; label names the task (CREATE) or says why it waits (AWAIT). */
static void event(uint32_t kind, uint64_t task, uint64_t current, bool current_known,
		  uint64_t time_ns, const char *label, uint32_t flags)
{
	struct task_event e = {
		.kind = kind, .pid = 1, .tid = 7, .time_ns = time_ns, .task = task, .flags = flags
	};

	if (label) {
		e.flags |= TASK_EV_LABEL;
		snprintf(e.label, sizeof(e.label), "%s", label);
	}
	collector_task_event(col, &e, label ? TASK_EVENT_WITH_STACK : TASK_EVENT_SMALL, current,
			     current_known, NULL, false);
}

/* A CPU sample of task with the kernel frames idx (leaf first) and logical frames (outermost
 * first, NULL-terminated; NULL: none). */
static void sample(uint64_t task, const int *idx, size_t n, const char *const *logical,
		   uint64_t time_ns)
{
	static struct sample_event e;

	memset(&e, 0, sizeof(e));
	e.pid = 1;
	e.tid = 7;
	e.time_ns = time_ns;
	snprintf(e.comm, sizeof(e.comm), "worker");
	for (size_t i = 0; i < n; i++)
		e.kstack[i] = kaddr[idx[i]];
	e.kstack_len = n;
	for (size_t i = 0; logical && logical[i]; i++) {
		snprintf(e.frames.name[i], LOGICAL_NAME_LEN, "%s", logical[i]);
		e.frames.depth++;
	}
	collector_add(col, &e, SAMPLE_HEADER_SIZE, task);
}

/* Sample s of prof as "root;...;leaf". */
static void stack_text(const struct profile *prof, const struct profile_sample *s, char *out,
		       size_t size)
{
	size_t len = 0;

	out[0] = 0;
	for (size_t i = s->nlocations; i-- > 0 && len < size;) {
		const struct profile_location *loc = profile_location(prof, s->location_ids[i]);

		for (size_t l = loc->nlines; l-- > 0 && len < size;)
			len += snprintf(out + len, size - len, "%s%s", len ? ";" : "",
					profile_function(prof, loc->lines[l].function_id)->name);
	}
}

/* The value (index v) of the samples of prof whose stack is text; -1 when there is none. */
static int64_t value_of(const struct profile *prof, const char *text, size_t v)
{
	char got[2048];
	int64_t sum = -1;

	for (size_t i = 0; i < prof->nsamples; i++) {
		stack_text(prof, &prof->samples[i], got, sizeof(got));
		if (strcmp(got, text) == 0)
			sum = (sum < 0 ? 0 : sum) + prof->samples[i].values[v];
	}
	return sum;
}

/* Prints every stack of prof, for a failed assertion's context. */
static void dump(const struct profile *prof)
{
	char got[2048];

	for (size_t i = 0; i < prof->nsamples; i++) {
		stack_text(prof, &prof->samples[i], got, sizeof(got));
		fprintf(stderr, "  %s %lld\n", got, (long long)prof->samples[i].values[0]);
	}
}

static void expect_stack(const struct profile *prof, size_t v, int64_t value, const char *fmt, ...)
{
	char want[2048];
	va_list ap;

	va_start(ap, fmt);
	vsnprintf(want, sizeof(want), fmt, ap);
	va_end(ap);
	if (value_of(prof, want, v) != value)
		dump(prof);
	cr_expect_eq(value_of(prof, want, v), value, "%s: %lld, expected %lld", want,
		     (long long)value_of(prof, want, v), (long long)value);
}

TestSuite(stack_shaping, .init = setup, .fini = teardown);
TestSuite(task_state, .init = setup, .fini = teardown);

Test(stack_shaping, cut_at_the_poll_frame_with_the_ancestry_in_place_of_the_executor)
{
	const int full[] = { 0, 1, 2, 3 };

	event(TASK_CREATE, 1, TASK_ROOT, true, 1 * MS, "acceptor", 0);
	event(TASK_CREATE, 2, 1, true, 2 * MS, "handler", 0);
	sample(2, full, 4, NULL, 3 * MS);
	sample(2, full, 4, NULL, 4 * MS);
	expect_stack(collector_profile(col), 0, 2,
		     "[spawn] [unknown];[task] acceptor;[spawn] [unknown];[task] handler;%s;%s",
		     kname[1], kname[0]);
}

Test(stack_shaping, a_stack_without_the_poll_frame_stays_whole)
{
	const int between_polls[] = { 0, 2, 3 };

	event(TASK_CREATE, 2, TASK_ROOT, true, 1 * MS, "handler", 0);
	sample(2, between_polls, 3, NULL, 2 * MS);
	sample(0, between_polls, 3, NULL, 2 * MS);
	expect_stack(collector_profile(col), 0, 2, "%s;%s;%s", kname[3], kname[2], kname[0]);
}

Test(stack_shaping, tasks_on_their_own_stacks_get_their_ancestry_at_the_root)
{
	const int coroutine[] = { 0, 2 };

	collector_set_task_boundary(col, is_boundary_ctx, NULL, true);
	event(TASK_CREATE, 5, TASK_ROOT, true, 1 * MS, "coroutine", 0);
	sample(5, coroutine, 2, NULL, 2 * MS);
	expect_stack(collector_profile(col), 0, 1, "[spawn] [unknown];[task] coroutine;%s;%s",
		     kname[2], kname[0]);
}

Test(stack_shaping, logical_frames_go_between_the_task_and_its_poll)
{
	const int full[] = { 0, 1, 2, 3 };
	const char *const logical[] = { "parse", "read_header", NULL };

	event(TASK_CREATE, 2, TASK_ROOT, true, 1 * MS, "request", 0);
	sample(2, full, 4, logical, 2 * MS);
	expect_stack(collector_profile(col), 0, 1,
		     "[spawn] [unknown];[task] request;[frame] parse;[frame] read_header;%s;%s",
		     kname[1], kname[0]);
	/* Outside any task, the logical frames go at the root of the physical stack. */
	sample(0, full, 4, logical, 3 * MS);
	expect_stack(collector_profile(col), 0, 1, "[frame] parse;[frame] read_header;%s;%s;%s;%s",
		     kname[3], kname[2], kname[1], kname[0]);
}

Test(stack_shaping, a_sample_before_its_spawn_event_and_after_it)
{
	const int full[] = { 0, 1, 2 };

	/* The sample ring buffer is read first: the task is not known yet. */
	sample(9, full, 3, NULL, 5 * MS);
	expect_stack(collector_profile(col), 0, 1, "[spawn] before attach;[task] [unknown];%s;%s",
		     kname[1], kname[0]);
	/* Its spawn, read later from the task ring buffer, names it and its parent. */
	event(TASK_CREATE, 1, TASK_ROOT, true, 1 * MS, "parent", 0);
	event(TASK_CREATE, 9, 1, true, 4 * MS, "late", 0);
	sample(9, full, 3, NULL, 6 * MS);
	expect_stack(collector_profile(col), 0, 1,
		     "[spawn] [unknown];[task] parent;[spawn] [unknown];[task] late;%s;%s",
		     kname[1], kname[0]);
}

Test(stack_shaping, an_exited_task_keeps_its_identity_for_late_samples)
{
	const int full[] = { 0, 1, 2 };

	event(TASK_CREATE, 3, TASK_ROOT, true, 1 * MS, "short", 0);
	event(TASK_EXIT, 3, 0, false, 2 * MS, NULL, 0);
	/* A sample from before the exit, read after it (another ring buffer). */
	sample(3, full, 3, NULL, 1500 * 1000);
	expect_stack(collector_profile(col), 0, 1, "[spawn] [unknown];[task] short;%s;%s", kname[1],
		     kname[0]);
}

Test(stack_shaping, wait_profile_and_its_reason)
{
	struct profile *wait = collector_wait_profile(col);

	event(TASK_CREATE, 4, TASK_ROOT, true, 1 * MS, "sleeper", 0);
	event(TASK_RUN, 4, 0, false, 2 * MS, NULL, 0);
	event(TASK_AWAIT, 4, 0, false, 3 * MS, "timer", 0);
	event(TASK_RUNNABLE, 4, 0, true, 13 * MS, NULL, 0);
	/* No await stack: the task's ancestry is all that says where it waited. */
	expect_stack(wait, 1, 10 * MS,
		     "[spawn] [unknown];[task] sleeper;[await point unknown];[wait] timer");
}

Test(task_state, create_run_suspend_wake_exit)
{
	struct task_rec *t;

	event(TASK_CREATE, 4, TASK_ROOT, true, 1 * MS, "worker", 0);
	event(TASK_RUN, 4, 0, false, 2 * MS, NULL, 0);
	t = task_find(collector_tasks(col), 4);
	cr_assert_not_null(t);
	cr_expect_eq(t->created_ns, 1 * MS);
	cr_expect(t->parent_known);
	cr_expect_eq(t->poll_start.wall_ns, 2 * MS, "a poll under way");
	event(TASK_STOP, 4, 0, false, 3 * MS, NULL, 0);
	cr_expect_eq(t->suspended_since, 3 * MS, "suspended at the poll's end");
	cr_expect_eq(t->poll_start.wall_ns, 0);
	event(TASK_RUNNABLE, 4, 0, true, 10 * MS, NULL, 0);
	cr_expect_eq(t->suspended_since, 0);
	cr_expect_eq(t->wait_ns, 7 * MS, "waited from its stop to its wake-up");
	event(TASK_RUN, 4, 0, false, 11 * MS, NULL, 0);
	event(TASK_STOP, 4, 0, false, 12 * MS, NULL, TASK_EV_WAS_NOTIFIED);
	cr_expect_eq(t->suspended_since, 0, "woken during its poll: not suspended");
	event(TASK_EXIT, 4, 0, false, 20 * MS, NULL, 0);
	cr_expect_eq(t->exited_ns, 20 * MS);
	collector_finish(col, 30 * MS);
	cr_expect_eq(t->wait_ns, 7 * MS, "an exited task does not wait");
}

Test(task_state, wake_read_before_the_stop_it_follows)
{
	struct task_rec *t;

	/* The wake-up (one thread) is read before the stop (another) it came after. */
	event(TASK_CREATE, 6, TASK_ROOT, true, 1 * MS, "racer", 0);
	event(TASK_RUN, 6, 0, false, 2 * MS, NULL, 0);
	event(TASK_RUNNABLE, 6, 0, true, 5 * MS, NULL, 0);
	event(TASK_STOP, 6, 0, false, 4 * MS, NULL, TASK_EV_WAS_NOTIFIED);
	t = task_find(collector_tasks(col), 6);
	cr_expect_eq(t->suspended_since, 0);
	cr_expect_eq(t->wait_ns, 0, "no wait: it was woken while it ran");
}

Test(task_state, a_wait_spanning_a_window_cut_counts_in_each_window)
{
	struct profile *wait = collector_wait_profile(col), *first;
	const char *stack = "[spawn] [unknown];[task] sleeper;[await point unknown];[wait] other";

	event(TASK_CREATE, 4, TASK_ROOT, true, 1 * MS, "sleeper", 0);
	event(TASK_AWAIT, 4, 0, false, 2 * MS, NULL, 0);
	collector_cut_waits(col, 6 * MS);
	first = collector_take(col, wait);
	cr_assert_not_null(first);
	expect_stack(first, 1, 4 * MS, "%s", stack);
	cr_expect_eq(wait->nsamples, 0, "the collector's profile starts empty");
	event(TASK_RUNNABLE, 4, 0, true, 16 * MS, NULL, 0);
	expect_stack(wait, 1, 10 * MS, "%s", stack);
	cr_expect_eq(task_find(collector_tasks(col), 4)->wait_ns, 14 * MS);
	profile_free(first);
}
