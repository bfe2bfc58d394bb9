// SPDX-License-Identifier: MIT
/*
 * marker_bench: what a marker costs, from the program's side. Runs the same loop with markers
 * (marked_loop) and without (plain_loop, built with -DASYNCPROF_DISABLE) in alternation, and
 * keeps each one's fastest round: the interleaving cancels drifts of the machine, the minimum
 * its interruptions.
 *
 *   marker_bench untraced ROUNDS ITERATIONS OUTFILE   no tracer attached
 *   marker_bench traced ROUNDS ITERATIONS OUTFILE     under asyncprof (waits until attached)
 *
 * OUTFILE gets "plain_ns marked_ns per_marker_ns": nanoseconds per iteration of each loop, and
 * what one marker adds: (marked - plain) / markers per iteration.
 */
#include "marker_loop.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

static volatile uint64_t sink;

static double now_ns(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return ts.tv_sec * 1e9 + ts.tv_nsec;
}

static double time_loop(uint64_t (*loop)(uint64_t, uint64_t), uint64_t iterations)
{
	double start = now_ns();

	sink = loop(iterations, sink);
	return (now_ns() - start) / iterations;
}

int main(int argc, char **argv)
{
	double plain = 1e30, marked = 1e30;
	long rounds, iterations;
	FILE *out;

	if (argc != 5 || (strcmp(argv[1], "untraced") && strcmp(argv[1], "traced")) ||
	    (rounds = atol(argv[2])) <= 0 || (iterations = atol(argv[3])) <= 0) {
		fprintf(stderr, "usage: %s untraced|traced ROUNDS ITERATIONS OUTFILE\n", argv[0]);
		return 2;
	}
	if (strcmp(argv[1], "traced") == 0) {
		for (int i = 0; i < 1000 && !markers_traced(); i++)
			nanosleep(&(struct timespec){ .tv_nsec = 10000000 }, NULL);
		if (!markers_traced()) {
			fprintf(stderr, "marker_bench: no tracer attached after 10 s\n");
			return 1;
		}
	}
	for (long r = 0; r < rounds; r++) {
		double p = time_loop(plain_loop, iterations);
		double m = time_loop(marked_loop, iterations);

		plain = p < plain ? p : plain;
		marked = m < marked ? m : marked;
	}
	out = fopen(argv[4], "w");
	if (!out) {
		perror(argv[4]);
		return 1;
	}
	fprintf(out, "%.3f %.3f %.3f\n", plain, marked, (marked - plain) / MARKERS_PER_ITERATION);
	fclose(out);
	return 0;
}
