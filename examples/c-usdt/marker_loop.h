/* SPDX-License-Identifier: MIT */
#ifndef MARKER_LOOP_H
#define MARKER_LOOP_H

#include <stdbool.h>
#include <stdint.h>

#define MARKERS_PER_ITERATION 4

/* Both return a value that depends on every iteration, so no compiler drops the work. */
uint64_t marked_loop(uint64_t iterations, uint64_t seed);
uint64_t plain_loop(uint64_t iterations, uint64_t seed);

/* Whether a tracer is attached to the marked loop's markers. */
bool markers_traced(void);

#endif
