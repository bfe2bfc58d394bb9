// SPDX-License-Identifier: MIT
/*
 * coro: coroutines (ucontext) run by one worker thread and woken by a timer thread, marked with
 * probes/asyncprof.h. What it does is known, so the USDT tests can check what asyncprof sees:
 *
 *   root          spawns ingest and ticker, then waits for both ("join")
 *    ingest       spawns parser, then waits 50 ms ("io") again and again
 *     parser      batches, each inside the logical frame "batch": 6 ms of CPU in "parse" (with a
 *                 yield halfway), then 2 ms of CPU in "checksum" and a 2 ms wait ("disk") there,
 *                 so the frames outlive its suspensions; it never runs more than 3 ms at once
 *    ticker       1 ms of CPU in the logical frame "tick", then waits 20 ms ("timer"), again
 *
 * Every task ends SECONDS after the start; the process exits when root has. A timer fires on the
 * timer thread while the worker runs another coroutine, so the woken task waits for the
 * worker's current step (at most 3 ms): its scheduling latency. At the end it prints how many
 * times the worker ran the parser and for how long in all, as it measured them around each
 * switch to it ("parser runs N wall_us N": a busy machine stretches a run), and for each wait
 * reason how many waits the tasks made and how long they lasted in all, from suspending to
 * running again ("wait REASON N us N": a busy machine stretches them too).
 *
 * Usage: coro SECONDS
 */
#define _GNU_SOURCE
#include "asyncprof.h"

#include <pthread.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <time.h>
#include <ucontext.h>

#define STACK_SIZE (256 * 1024)
#define MS 1000000ULL

struct task {
	uint64_t id, parent_id;
	void (*fn)(void);
	ucontext_t ctx;
	void *stack;
	struct task *parent;
	int children;	   /* spawned and not finished */
	int joining;	   /* suspended until children is 0 */
	int done;
	uint64_t runs, busy_ns; /* the worker's switches to it, and their wall time */
	struct task *next; /* in the run queue or the timer list */
	uint64_t wake_ns;  /* in the timer list: when */
};

static uint64_t deadline_ns;

/* The worker's state (and main's before it starts): only it touches the tasks, except to queue
 * them. */
static uint64_t next_id = 1;
static int live_tasks;
static ucontext_t scheduler;
static struct task *current;

static pthread_mutex_t lock = PTHREAD_MUTEX_INITIALIZER;
static pthread_cond_t queued = PTHREAD_COND_INITIALIZER;
static pthread_cond_t timers_changed; /* on CLOCK_MONOTONIC, set up in main */
static struct task *run_head, *run_tail;
static struct task *timers; /* sorted by wake_ns */
static int stopping;

static uint64_t now_ns(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return ts.tv_sec * 1000000000ULL + ts.tv_nsec;
}

/* Called with lock held. */
static void enqueue_locked(struct task *t)
{
	t->next = NULL;
	if (run_tail)
		run_tail->next = t;
	else
		run_head = t;
	run_tail = t;
	pthread_cond_signal(&queued);
}

static void enqueue(struct task *t)
{
	pthread_mutex_lock(&lock);
	enqueue_locked(t);
	pthread_mutex_unlock(&lock);
}

/* ---- inside a coroutine ----------------------------------------------------------------- */

/* Back to the scheduler; returns when this task runs again. */
static void switch_out(void)
{
	swapcontext(&current->ctx, &scheduler);
}

static void yield(void)
{
	enqueue(current);
	switch_out();
}

/* Each reason's waits as the tasks saw them, from suspending to running again (printed at exit). */
static struct {
	const char *reason;
	uint64_t n, ns;
} waits[4];

static void count_wait(const char *reason, uint64_t ns)
{
	size_t i = 0;

	while (i < sizeof(waits) / sizeof(waits[0]) - 1 && waits[i].reason &&
	       strcmp(waits[i].reason, reason))
		i++;
	waits[i].reason = reason;
	waits[i].n++;
	waits[i].ns += ns;
}

static void sleep_ms(uint64_t ms, const char *reason)
{
	struct task *self = current, **p;
	uint64_t t0 = now_ns();

	ASYNCPROF_TASK_SUSPEND(self->id, reason, self);
	pthread_mutex_lock(&lock);
	self->wake_ns = now_ns() + ms * MS;
	for (p = &timers; *p && (*p)->wake_ns <= self->wake_ns; p = &(*p)->next)
		;
	self->next = *p;
	*p = self;
	pthread_cond_signal(&timers_changed);
	pthread_mutex_unlock(&lock);
	switch_out();
	count_wait(reason, now_ns() - t0);
}

/* Waits until every task this one spawned has finished. */
static void join_children(void)
{
	if (!current->children)
		return;
	ASYNCPROF_TASK_SUSPEND(current->id, "join", NULL);
	current->joining = 1;
	switch_out();
}

static void task_main(void)
{
	current->fn();
	current->done = 1;
	switch_out();
}

static struct task *task_new(void (*fn)(void))
{
	struct task *t = calloc(1, sizeof(*t));

	if (!t)
		abort();
	t->stack = mmap(NULL, STACK_SIZE, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS, -1,
			0);
	if (t->stack == MAP_FAILED)
		abort();
	t->id = next_id++;
	t->fn = fn;
	t->parent = current;
	t->parent_id = current ? current->id : 0;
	if (current)
		current->children++;
	getcontext(&t->ctx);
	t->ctx.uc_stack.ss_sp = t->stack;
	t->ctx.uc_stack.ss_size = STACK_SIZE;
	t->ctx.uc_link = NULL;
	makecontext(&t->ctx, task_main, 0);
	live_tasks++;
	return t;
}

/* The create marker stands where this expands: that line is the task's spawn site. */
#define SPAWN(fn, name)                                                                            \
	do {                                                                                       \
		struct task *t_ = task_new(fn);                                                    \
		ASYNCPROF_TASK_CREATE(t_->id, t_->parent_id, name);                                \
		enqueue(t_);                                                                       \
	} while (0)

/* ---- the tasks -------------------------------------------------------------------------- */

static volatile uint64_t sink;

/* Busy for ns of wall time; inlined, so each caller below is the leaf of its samples (each
 * with its own salt, or the compiler folds the identical functions into one). */
static inline __attribute__((always_inline)) void burn(uint64_t ns, uint64_t salt)
{
	uint64_t end = now_ns() + ns, x = sink;

	while (now_ns() < end)
		for (int i = 0; i < 2000; i++)
			x = x * 6364136223846793005ULL + salt;
	sink = x;
}

static __attribute__((noinline)) void parse_work(uint64_t ns)
{
	burn(ns, 1);
}

static __attribute__((noinline)) void checksum_work(uint64_t ns)
{
	burn(ns, 3);
}

static __attribute__((noinline)) void tick_work(uint64_t ns)
{
	burn(ns, 5);
}

static void parser_main(void)
{
	while (now_ns() < deadline_ns) {
		ASYNCPROF_FRAME_PUSH("batch");
		ASYNCPROF_FRAME_PUSH("parse");
		parse_work(3 * MS);
		yield();
		parse_work(3 * MS);
		ASYNCPROF_FRAME_POP("parse");
		yield();
		ASYNCPROF_FRAME_PUSH("checksum");
		checksum_work(2 * MS);
		sleep_ms(2, "disk");
		ASYNCPROF_FRAME_POP("checksum");
		ASYNCPROF_FRAME_POP("batch");
		yield();
	}
}

static void ingest_main(void)
{
	SPAWN(parser_main, "parser");
	while (now_ns() < deadline_ns)
		sleep_ms(50, "io");
}

static void ticker_main(void)
{
	while (now_ns() < deadline_ns) {
		ASYNCPROF_FRAME_PUSH("tick");
		tick_work(1 * MS);
		ASYNCPROF_FRAME_POP("tick");
		sleep_ms(20, "timer");
	}
}

static void root_main(void)
{
	SPAWN(ingest_main, "ingest");
	SPAWN(ticker_main, "ticker");
	join_children();
}

/* ---- the threads ------------------------------------------------------------------------ */

static uint64_t parser_runs, parser_busy_ns;

static void finish(struct task *t)
{
	if (t->fn == parser_main) {
		parser_runs = t->runs;
		parser_busy_ns = t->busy_ns;
	}
	struct task *parent = t->parent;

	ASYNCPROF_TASK_EXIT(t->id);
	if (parent && --parent->children == 0 && parent->joining) {
		parent->joining = 0;
		ASYNCPROF_TASK_RUNNABLE(parent->id, t->id);
		enqueue(parent);
	}
	munmap(t->stack, STACK_SIZE); /* the struct stays: its children point at it */
	if (--live_tasks == 0) {
		pthread_mutex_lock(&lock);
		stopping = 1;
		pthread_cond_broadcast(&timers_changed);
		pthread_mutex_unlock(&lock);
	}
}

/* The next task to run, or NULL once every task has finished. */
static struct task *dequeue(void)
{
	struct task *t;

	pthread_mutex_lock(&lock);
	while (!run_head && !stopping)
		pthread_cond_wait(&queued, &lock);
	t = run_head;
	if (t) {
		run_head = t->next;
		if (!run_head)
			run_tail = NULL;
	}
	pthread_mutex_unlock(&lock);
	return t;
}

static void *worker(void *arg)
{
	struct task *t;

	(void)arg;
	pthread_setname_np(pthread_self(), "worker");
	while ((t = dequeue())) {
		uint64_t start;

		current = t;
		ASYNCPROF_TASK_RUN(t->id);
		start = now_ns();
		swapcontext(&scheduler, &t->ctx);
		t->busy_ns += now_ns() - start;
		t->runs++;
		ASYNCPROF_TASK_STOP(t->id);
		current = NULL;
		if (t->done)
			finish(t);
	}
	return NULL;
}

/* Wakes sleeping tasks at their time, whatever the worker is doing. */
static void *timer_thread(void *arg)
{
	(void)arg;
	pthread_setname_np(pthread_self(), "timers");
	pthread_mutex_lock(&lock);
	while (!stopping) {
		uint64_t now = now_ns();

		while (timers && timers->wake_ns <= now) {
			struct task *t = timers;

			timers = t->next;
			ASYNCPROF_TASK_RUNNABLE(t->id, 0);
			enqueue_locked(t);
		}
		if (timers) {
			struct timespec until = { .tv_sec = timers->wake_ns / 1000000000ULL,
						  .tv_nsec = timers->wake_ns % 1000000000ULL };

			pthread_cond_timedwait(&timers_changed, &lock, &until);
		} else {
			pthread_cond_wait(&timers_changed, &lock);
		}
	}
	pthread_cond_broadcast(&queued);
	pthread_mutex_unlock(&lock);
	return NULL;
}

int main(int argc, char **argv)
{
	pthread_condattr_t attr;
	pthread_t w, tt;
	double seconds = argc > 1 ? atof(argv[1]) : 10;

	if (seconds <= 0) {
		fprintf(stderr, "usage: %s SECONDS\n", argv[0]);
		return 2;
	}
	/* The timer thread's deadlines are CLOCK_MONOTONIC times. */
	pthread_condattr_init(&attr);
	pthread_condattr_setclock(&attr, CLOCK_MONOTONIC);
	pthread_cond_init(&timers_changed, &attr);
	deadline_ns = now_ns() + (uint64_t)(seconds * 1e9);
	SPAWN(root_main, "root");
	pthread_create(&tt, NULL, timer_thread, NULL);
	pthread_create(&w, NULL, worker, NULL);
	pthread_join(w, NULL);
	pthread_join(tt, NULL);
	printf("parser runs %llu wall_us %llu\n", (unsigned long long)parser_runs,
	       (unsigned long long)parser_busy_ns / 1000);
	for (size_t i = 0; i < sizeof(waits) / sizeof(waits[0]) && waits[i].reason; i++)
		printf("wait %s %llu us %llu\n", waits[i].reason, (unsigned long long)waits[i].n,
		       (unsigned long long)waits[i].ns / 1000);
	return 0;
}
