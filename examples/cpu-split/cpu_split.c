// SPDX-License-Identifier: MIT
/*
 * A two-thread program with a known CPU split, for the profiler's tests and demo.
 *
 * Thread "hot" spends all its time in leaf(), reached through two callers, caller_a() and
 * caller_b(), half each. Thread "cold" spins in other_work() but keeps its own CPU time at one
 * third of hot's, measured with the threads' CPU clocks, so the split of the process's CPU is
 * 75% leaf / 25% other_work whatever else the machine is doing.
 *
 * Usage: cpu_split [SECONDS [DELAY]]
 *   runs until killed when SECONDS is absent or 0; DELAY seconds pass before the threads start
 *   (to test threads created after the profiler attached). After SECONDS it prints the CPU time
 *   its threads used ("cpu_split: 1500 ms of CPU"), the truth a profile of it is checked against.
 * Built with -O2 -fomit-frame-pointer: stacks must be unwound with DWARF CFI.
 */
#define _GNU_SOURCE
#include <pthread.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <time.h>
#include <unistd.h>

static volatile uint64_t sink;
static volatile int done;
static clockid_t hot_clock;

static double cpu_seconds(clockid_t clock)
{
	struct timespec ts;

	clock_gettime(clock, &ts);
	return ts.tv_sec + ts.tv_nsec / 1e9;
}

__attribute__((noinline)) static uint64_t leaf(uint64_t seed)
{
	uint64_t x = seed;

	for (int i = 0; i < 20000; i++)
		x = x * 6364136223846793005ULL + 1442695040888963407ULL;
	return x;
}

/* The callers use leaf's result after the call, so the calls cannot become tail jumps. */
__attribute__((noinline)) static uint64_t caller_a(uint64_t seed)
{
	uint64_t sum = 0;

	for (int i = 0; i < 8; i++)
		sum += leaf(seed + i) >> 3;
	return sum + 1;
}

__attribute__((noinline)) static uint64_t caller_b(uint64_t seed)
{
	uint64_t sum = 0;

	for (int i = 0; i < 8; i++)
		sum ^= leaf(seed * 3 + i) << 1;
	return sum + 2;
}

static void *hot_thread(void *arg)
{
	uint64_t n = 0;

	while (!done) {
		sink += caller_a(n++);
		sink += caller_b(n++);
	}
	return NULL;
}

__attribute__((noinline)) static uint64_t other_work(uint64_t seed)
{
	uint64_t x = seed;

	for (int i = 0; i < 20000; i++)
		x ^= (x << 13) ^ (x >> 7) ^ (x << 17);
	return x;
}

static void *cold_thread(void *arg)
{
	clockid_t self;
	uint64_t n = 0;

	pthread_getcpuclockid(pthread_self(), &self);
	while (!done) {
		if (cpu_seconds(self) * 3 < cpu_seconds(hot_clock))
			sink += other_work(n++);
		else
			usleep(1000);
	}
	return NULL;
}

int main(int argc, char **argv)
{
	double seconds = argc > 1 ? atof(argv[1]) : 0;
	double delay = argc > 2 ? atof(argv[2]) : 0;
	pthread_t hot, cold;

	if (delay > 0)
		usleep((useconds_t)(delay * 1e6));
	pthread_create(&hot, NULL, hot_thread, NULL);
	pthread_setname_np(hot, "hot");
	pthread_getcpuclockid(hot, &hot_clock);
	pthread_create(&cold, NULL, cold_thread, NULL);
	pthread_setname_np(cold, "cold");
	if (seconds > 0) {
		usleep((useconds_t)(seconds * 1e6));
		done = 1;
	}
	pthread_join(hot, NULL);
	pthread_join(cold, NULL);
	printf("cpu_split: %.0f ms of CPU\n", cpu_seconds(CLOCK_PROCESS_CPUTIME_ID) * 1e3);
	return 0;
}
