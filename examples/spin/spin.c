// SPDX-License-Identifier: MIT
/*
 * CPU-bound benchmark workload: runs a fixed unit of work in a loop for SECONDS of wall time
 * and prints the units done per second. Single-threaded, so on a 2-CPU machine the profiler
 * runs on the other CPU and what this measures is the cost imposed on the target itself.
 *
 * Usage: spin SECONDS [OUTFILE]   (the rate goes to OUTFILE, or to stdout)
 */
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <time.h>

static volatile uint64_t sink;

static double now(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return ts.tv_sec + ts.tv_nsec / 1e9;
}

__attribute__((noinline)) static uint64_t mix(uint64_t x)
{
	for (int i = 0; i < 1000; i++)
		x = (x ^ (x >> 31)) * 0x9e3779b97f4a7c15ULL + i;
	return x;
}

__attribute__((noinline)) static uint64_t unit(uint64_t seed)
{
	uint64_t x = seed;

	for (int i = 0; i < 10; i++)
		x += mix(x + i);
	return x;
}

int main(int argc, char **argv)
{
	double seconds = argc > 1 ? atof(argv[1]) : 5;
	double start = now(), end = start + seconds, t;
	uint64_t units = 0;
	FILE *out;

	do {
		for (int i = 0; i < 100; i++)
			sink += unit(units + i);
		units += 100;
		t = now();
	} while (t < end);
	out = argc > 2 ? fopen(argv[2], "w") : stdout;
	if (!out) {
		perror(argv[2]);
		return 1;
	}
	fprintf(out, "%.1f\n", units / (t - start));
	return fclose(out) ? 1 : 0;
}
