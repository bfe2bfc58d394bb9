// SPDX-License-Identifier: MIT
/*
 * Threads that block in known places for known times, for the off-CPU tests and demo.
 *
 * Thread "sleeper" sleeps 30 ms at a time in nap() (nanosleep through libc), and thread
 * "reader" waits in read_byte() for a byte on a pipe that the main thread writes every 50 ms
 * (from tick(), sleeping between writes). Thread "waiter" blocks in wait_forever() on a mutex
 * that main holds until the end, like a deadlocked thread: it is off the CPU for the whole
 * run. Built with -O2 -fomit-frame-pointer: the stacks through libc must be unwound with DWARF
 * CFI.
 *
 * Usage: offcpu_sleep SECONDS [OUTFILE]
 *   OUTFILE gets "naps N", "nap_us N", "nap_min_us N", "nap_max_us N", "naps_40ms N" and
 *   "reads N": how many naps completed, how long they took in all, the shortest and the longest,
 *   and how many took 40 ms or more (measured around each nanosleep: what a busy machine adds
 *   is in it), and how many reads completed.
 */
#define _GNU_SOURCE
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <time.h>
#include <unistd.h>

static volatile int done;
static pthread_mutex_t held = PTHREAD_MUTEX_INITIALIZER;
static int pipe_fds[2];
static unsigned long naps, naps_40ms, reads;
static double nap_seconds, nap_min = 1e9, nap_max;

static double monotonic_seconds(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return ts.tv_sec + ts.tv_nsec / 1e9;
}

__attribute__((noinline)) static void nap(void)
{
	struct timespec ts = { 0, 30 * 1000 * 1000 };

	nanosleep(&ts, NULL);
	asm volatile("" ::: "memory"); /* not a tail call: nap stays on the stack */
}

static void *sleeper(void *arg)
{
	while (!done) {
		double t = monotonic_seconds();

		nap();
		t = monotonic_seconds() - t;
		nap_seconds += t;
		nap_min = t < nap_min ? t : nap_min;
		nap_max = t > nap_max ? t : nap_max;
		naps_40ms += t >= 0.040;
		naps++;
	}
	return NULL;
}

__attribute__((noinline)) static int read_byte(void)
{
	char b;
	ssize_t n = read(pipe_fds[0], &b, 1);

	asm volatile("" ::: "memory");
	return n == 1 ? b : -1;
}

static void *reader(void *arg)
{
	while (read_byte() >= 0)
		reads++;
	return NULL;
}

__attribute__((noinline)) static void wait_forever(void)
{
	pthread_mutex_lock(&held);
	asm volatile("" ::: "memory");
	pthread_mutex_unlock(&held);
}

static void *waiter(void *arg)
{
	wait_forever();
	return NULL;
}

__attribute__((noinline)) static void tick(void)
{
	usleep(50 * 1000);
	if (write(pipe_fds[1], "x", 1) != 1)
		done = 1;
}

int main(int argc, char **argv)
{
	double seconds = argc > 1 ? atof(argv[1]) : 5;
	struct timespec start, now;
	pthread_t s, r, w;
	FILE *out;

	if (pipe(pipe_fds))
		return 1;
	pthread_mutex_lock(&held);
	pthread_create(&w, NULL, waiter, NULL);
	pthread_setname_np(w, "waiter");
	pthread_create(&s, NULL, sleeper, NULL);
	pthread_setname_np(s, "sleeper");
	pthread_create(&r, NULL, reader, NULL);
	pthread_setname_np(r, "reader");
	clock_gettime(CLOCK_MONOTONIC, &start);
	do {
		tick();
		clock_gettime(CLOCK_MONOTONIC, &now);
	} while (now.tv_sec - start.tv_sec + (now.tv_nsec - start.tv_nsec) / 1e9 < seconds);
	done = 1;
	close(pipe_fds[1]);
	pthread_mutex_unlock(&held);
	pthread_join(s, NULL);
	pthread_join(r, NULL);
	pthread_join(w, NULL);
	out = argc > 2 ? fopen(argv[2], "w") : stdout;
	if (!out)
		return 1;
	fprintf(out, "naps %lu\nnap_us %.0f\nnap_min_us %.0f\nnap_max_us %.0f\nnaps_40ms %lu\nreads %lu\n",
		naps, nap_seconds * 1e6, naps ? nap_min * 1e6 : 0, nap_max * 1e6, naps_40ms, reads);
	return fclose(out) ? 1 : 0;
}
