// SPDX-License-Identifier: MIT
/*
 * interp: a toy interpreter that marks the functions of the script it runs as logical frames
 * (probes/asyncprof.h), with no tasks: its CPU profile should read as the script's calls, not
 * only as the interpreter's loop. The script and its known split of the CPU:
 *
 *   main    loops: call update, call draw
 *   update  1 unit of work                      25%
 *   draw    1 unit of work, then call shade     25% in draw itself
 *   shade   2 units of work                     50%, under draw
 *
 * A unit is 500 us of the thread's CPU time on average, so the split holds however much of a
 * CPU the thread gets, as long as the thread's CPU clock is fine-grained: where it advances by
 * ticks, each unit lasts until the next tick, whatever it asks for. So at the end it prints the
 * CPU time each function's work took, as the clock saw it: "cpu_us update N draw N shade N".
 * Each unit's length is drawn at random between 250 and 750 us: with units of a fixed length
 * the script's cycle is periodic, and a sampling period near a simple fraction of it (how near
 * depends on what each clock read costs on the host) sees the same few points of every cycle
 * and a split unlike the real one.
 * Usage: interp SECONDS
 */
#include "asyncprof.h"

#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <time.h>

enum opcode { OP_WORK, OP_CALL, OP_LOOP, OP_RET };

struct op {
	enum opcode code;
	int arg; /* OP_WORK: units; OP_CALL: function index */
};

struct function {
	const char *name;
	struct op body[4];
};

enum { MAIN, UPDATE, DRAW, SHADE };

static const struct function script[] = {
	[MAIN] = { "main", { { OP_CALL, UPDATE }, { OP_CALL, DRAW }, { OP_LOOP, 0 } } },
	[UPDATE] = { "update", { { OP_WORK, 1 }, { OP_RET, 0 } } },
	[DRAW] = { "draw", { { OP_WORK, 1 }, { OP_CALL, SHADE }, { OP_RET, 0 } } },
	[SHADE] = { "shade", { { OP_WORK, 2 }, { OP_RET, 0 } } },
};

static volatile uint64_t sink;
static uint64_t rng_state = 0x9e3779b97f4a7c15ULL;
static uint64_t work_ns[sizeof(script) / sizeof(script[0])]; /* OP_WORK time per function */

static uint64_t now_ns(clockid_t clock)
{
	struct timespec ts;

	clock_gettime(clock, &ts);
	return ts.tv_sec * 1000000000ULL + ts.tv_nsec;
}

/* 250 to 750 us: xorshift64, so that no two cycles of the script last the same. */
static uint64_t unit_ns(void)
{
	rng_state ^= rng_state << 13;
	rng_state ^= rng_state >> 7;
	rng_state ^= rng_state << 17;
	return 250000 + rng_state % 500001;
}

/* What OP_WORK costs: the same machine code whatever script function runs it. */
static __attribute__((noinline)) void op_work(int units)
{
	uint64_t length = 0, end, x = sink;

	for (int i = 0; i < units; i++)
		length += unit_ns();
	end = now_ns(CLOCK_THREAD_CPUTIME_ID) + length;

	while (now_ns(CLOCK_THREAD_CPUTIME_ID) < end)
		for (int i = 0; i < 1000; i++)
			x = x * 6364136223846793005ULL + 1;
	sink = x;
}

static void interpret(uint64_t deadline)
{
	struct {
		int fn, pc;
	} stack[8] = { { MAIN, 0 } };
	int sp = 0;

	ASYNCPROF_FRAME_PUSH(script[MAIN].name);
	while (sp >= 0) {
		const struct op *op = &script[stack[sp].fn].body[stack[sp].pc++];

		switch (op->code) {
		case OP_WORK: {
			uint64_t t = now_ns(CLOCK_THREAD_CPUTIME_ID);

			op_work(op->arg);
			work_ns[stack[sp].fn] += now_ns(CLOCK_THREAD_CPUTIME_ID) - t;
			break;
		}
		case OP_CALL:
			stack[++sp].fn = op->arg;
			stack[sp].pc = 0;
			ASYNCPROF_FRAME_PUSH(script[op->arg].name);
			break;
		case OP_LOOP:
			stack[sp].pc = 0;
			if (now_ns(CLOCK_MONOTONIC) >= deadline)
				sp = -1;
			break;
		case OP_RET:
			ASYNCPROF_FRAME_POP(script[stack[sp].fn].name);
			sp--;
			break;
		}
	}
	ASYNCPROF_FRAME_POP(script[MAIN].name);
}

int main(int argc, char **argv)
{
	double seconds = argc > 1 ? atof(argv[1]) : 10;

	if (seconds <= 0) {
		fprintf(stderr, "usage: %s SECONDS\n", argv[0]);
		return 2;
	}
	rng_state ^= now_ns(CLOCK_MONOTONIC);
	if (!rng_state)
		rng_state = 1;
	interpret(now_ns(CLOCK_MONOTONIC) + (uint64_t)(seconds * 1e9));
	printf("cpu_us update %llu draw %llu shade %llu\n",
	       (unsigned long long)work_ns[UPDATE] / 1000, (unsigned long long)work_ns[DRAW] / 1000,
	       (unsigned long long)work_ns[SHADE] / 1000);
	return 0;
}
