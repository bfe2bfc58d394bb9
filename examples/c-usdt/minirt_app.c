// SPDX-License-Identifier: MIT
/*
 * A program on minirt (libminirt.so, whose markers are in the library): task "parser" burns
 * 3 ms of CPU in parse_step() per step, task "indexer" 1 ms in index_step(); each then sleeps
 * 2 ms (reason "timer").
 *
 * Truth: of the CPU in the two step functions, parser has 3/4 and indexer 1/4, each inside its
 * own task; each task waits on "timer" for part of the run.
 * Usage: minirt_app SECONDS
 */
#include "minirt.h"

#include <stdint.h>
#include <stdlib.h>
#include <time.h>

static volatile uint64_t sink;

__attribute__((noinline)) static void burn_ms(unsigned int ms)
{
	struct timespec start, now;
	uint64_t x = 88172645463325252ull;

	clock_gettime(CLOCK_MONOTONIC, &start);
	do {
		for (int i = 0; i < 1000; i++) {
			x ^= x << 13;
			x ^= x >> 7;
			x ^= x << 17;
		}
		clock_gettime(CLOCK_MONOTONIC, &now);
	} while ((now.tv_sec - start.tv_sec) * 1000000000ll + (now.tv_nsec - start.tv_nsec) <
		 ms * 1000000ll);
	sink += x;
}

__attribute__((noinline)) static void parse_step(void *arg)
{
	(void)arg;
	burn_ms(3);
	__asm__ volatile("" ::: "memory"); /* not a tail call: parse_step stays on the stack */
}

__attribute__((noinline)) static void index_step(void *arg)
{
	(void)arg;
	burn_ms(1);
	__asm__ volatile("" ::: "memory");
}

int main(int argc, char **argv)
{
	minirt_spawn("parser", parse_step, NULL, 2);
	minirt_spawn("indexer", index_step, NULL, 2);
	minirt_run(argc > 1 ? atof(argv[1]) : 5);
	return 0;
}
