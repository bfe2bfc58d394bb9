// SPDX-License-Identifier: MIT
/*
 * The loop marker_bench times, compiled twice into it: as marked_loop with the markers, and as
 * plain_loop with -DASYNCPROF_DISABLE (no markers at all). One iteration is what a scheduler
 * does to run one short task step: 4 markers (run, frame push, frame pop, stop) around a few
 * nanoseconds of work.
 */
#include "asyncprof.h"
#include "marker_loop.h"

uint64_t LOOP_NAME(uint64_t iterations, uint64_t seed)
{
	uint64_t x = seed;

	for (uint64_t i = 0; i < iterations; i++) {
		uint64_t id = (i & 7) + 1;

		ASYNCPROF_TASK_RUN(id);
		ASYNCPROF_FRAME_PUSH("step");
		x = (x ^ (x >> 29)) * 0xbf58476d1ce4e5b9ULL + i;
		ASYNCPROF_FRAME_POP("step");
		ASYNCPROF_TASK_STOP(id);
	}
	return x;
}

#ifndef ASYNCPROF_DISABLE
bool markers_traced(void)
{
	return ASYNCPROF_ENABLED(task_run) && ASYNCPROF_ENABLED(frame_pop);
}
#endif
