// SPDX-License-Identifier: MIT
/*
 * Context-switch-heavy benchmark workload: two threads pass one byte back and forth over two
 * pipes for SECONDS of wall time, so each round trip blocks and wakes each thread once, and
 * prints the round trips per second. The cost of off-CPU profiling is paid per switch, so this
 * is its worst case (every block is far shorter than the default threshold).
 *
 * Usage: pingpong SECONDS [OUTFILE [CPU]]
 *   prints "WALL CPU" to OUTFILE ("-" or none: stdout): round trips per second of wall time,
 *   and per second of the process's CPU time (what the work itself costs, whatever else
 *   competes for the CPU); with CPU, both threads run on that CPU only, so that every round
 *   trip is two context switches there.
 */
#define _GNU_SOURCE
#include <pthread.h>
#include <sched.h>
#include <string.h>
#include <stdio.h>
#include <stdlib.h>
#include <time.h>
#include <unistd.h>

static int ping[2], pong[2];

static double seconds_of(clockid_t clock)
{
	struct timespec ts;

	clock_gettime(clock, &ts);
	return ts.tv_sec + ts.tv_nsec / 1e9;
}

/* Sends back every byte; ends when the pipe is closed. */
static void *echo(void *arg)
{
	char b;

	while (read(ping[0], &b, 1) == 1)
		if (write(pong[1], &b, 1) != 1)
			break;
	return NULL;
}

int main(int argc, char **argv)
{
	double seconds = argc > 1 ? atof(argv[1]) : 5;
	double start, cpu, t;
	unsigned long trips = 0;
	pthread_t thread;
	FILE *out;
	char b = 0;

	if (argc > 3) {
		cpu_set_t set;

		CPU_ZERO(&set);
		CPU_SET(atoi(argv[3]), &set);
		if (sched_setaffinity(0, sizeof(set), &set)) {
			perror("sched_setaffinity");
			return 1;
		}
	}
	/* The echo thread inherits the affinity. */
	if (pipe(ping) || pipe(pong) || pthread_create(&thread, NULL, echo, NULL))
		return 1;
	start = seconds_of(CLOCK_MONOTONIC);
	cpu = seconds_of(CLOCK_PROCESS_CPUTIME_ID);
	do {
		for (int i = 0; i < 100; i++) {
			if (write(ping[1], &b, 1) != 1 || read(pong[0], &b, 1) != 1)
				return 1;
		}
		trips += 100;
		t = seconds_of(CLOCK_MONOTONIC);
	} while (t < start + seconds);
	cpu = seconds_of(CLOCK_PROCESS_CPUTIME_ID) - cpu;
	close(ping[1]);
	pthread_join(thread, NULL);
	out = argc > 2 && strcmp(argv[2], "-") ? fopen(argv[2], "w") : stdout;
	if (!out) {
		perror(argv[2]);
		return 1;
	}
	fprintf(out, "%.1f %.1f\n", trips / (t - start), trips / cpu);
	return fclose(out) ? 1 : 0;
}
