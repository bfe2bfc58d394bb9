// SPDX-License-Identifier: MIT
/* minirt: see minirt.h. The scheduler is a loop over a table of tasks, sleeping until the next
 * timer is due. */
#define _GNU_SOURCE
#include "minirt.h"
#include "asyncprof.h"

#include <stdint.h>
#include <stdio.h>
#include <time.h>

#define MAX_TASKS 16

struct task {
	unsigned long id;
	const char *name;
	minirt_step step;
	void *arg;
	unsigned int period_ms;
	uint64_t due_ns; /* when its timer fires */
	int suspended;
	uint64_t busy_ns; /* the wall time of its steps */
};

static struct task tasks[MAX_TASKS];
static unsigned int ntasks;

static uint64_t now_ns(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (uint64_t)ts.tv_sec * 1000000000u + (uint64_t)ts.tv_nsec;
}

unsigned long minirt_spawn(const char *name, minirt_step step, void *arg, unsigned int period_ms)
{
	struct task *t;

	if (ntasks == MAX_TASKS)
		return 0;
	t = &tasks[ntasks++];
	t->id = ntasks;
	t->name = name;
	t->step = step;
	t->arg = arg;
	t->period_ms = period_ms;
	t->due_ns = now_ns();
	ASYNCPROF_TASK_CREATE(t->id, 0, t->name);
	return t->id;
}

/* Runs one step of t, then puts it to sleep until its next period. */
__attribute__((noinline)) static void run_task(struct task *t)
{
	if (t->suspended) {
		ASYNCPROF_TASK_RUNNABLE(t->id, 0);
		t->suspended = 0;
	}
	uint64_t start;

	ASYNCPROF_TASK_RUN(t->id);
	start = now_ns();
	t->step(t->arg);
	t->due_ns = now_ns();
	ASYNCPROF_TASK_STOP(t->id);
	t->busy_ns += t->due_ns - start;
	t->due_ns += t->period_ms * 1000000ull;
	t->suspended = 1;
	ASYNCPROF_TASK_SUSPEND(t->id, "timer", (uintptr_t)&t->due_ns);
}

void minirt_run(double seconds)
{
	uint64_t end = now_ns() + (uint64_t)(seconds * 1e9);

	while (now_ns() < end) {
		uint64_t next = end, now = now_ns();

		for (unsigned int i = 0; i < ntasks; i++)
			if (tasks[i].due_ns <= now)
				run_task(&tasks[i]);
		now = now_ns();
		for (unsigned int i = 0; i < ntasks; i++)
			if (tasks[i].due_ns < next)
				next = tasks[i].due_ns;
		if (next > now) {
			struct timespec ts = { (time_t)((next - now) / 1000000000u),
					       (long)((next - now) % 1000000000u) };

			nanosleep(&ts, NULL);
		}
	}
	for (unsigned int i = 0; i < ntasks; i++) {
		ASYNCPROF_TASK_EXIT(tasks[i].id);
		printf("minirt: %s busy_us %llu\n", tasks[i].name,
		       (unsigned long long)tasks[i].busy_ns / 1000);
	}
}
