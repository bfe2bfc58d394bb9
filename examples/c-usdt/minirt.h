/* SPDX-License-Identifier: MIT */
#ifndef MINIRT_H
#define MINIRT_H

/*
 * minirt: a toy task runtime built as a shared library (libminirt.so) and marked with
 * probes/asyncprof.h, so the markers live in a library, not in the program that uses it.
 *
 * A task is a step function the runtime calls again and again; after each step the task
 * sleeps (a timer wait, reason "timer") for its period. One thread runs every task.
 */
typedef void (*minirt_step)(void *arg);

/* Adds a task; returns its id (1, 2, ...), or 0 when the table is full. */
unsigned long minirt_spawn(const char *name, minirt_step step, void *arg, unsigned int period_ms);

/* Runs the tasks for seconds of wall time, then prints each task's busy time, the wall time
 * of its steps as the runtime measured it: "minirt: NAME busy_us N" (a busy machine stretches
 * a step). */
void minirt_run(double seconds);

#endif
