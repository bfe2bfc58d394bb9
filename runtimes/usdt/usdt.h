/* SPDX-License-Identifier: MIT */
#ifndef ASYNCPROF_USDT_H
#define ASYNCPROF_USDT_H

#include <stdint.h>
#include <stdbool.h>

#include "model/collector.h"
#include "capture/event_loss.h"
#include "target/process.h"

/*
 * The USDT adaptor: a program that marks its own tasks and logical frames with
 * probes/asyncprof.h. It finds the markers in the executable and the libraries loaded, attaches
 * the probes of runtimes/usdt/usdt.bpf.c to them with libbpf's USDT support, and feeds their
 * events to the collector.
 *
 * The CPU sampler reads the task and the logical frames from maps the probes keep (the
 * sampler's threads and frames maps, shared): samples need no decoding here. Where a task's own
 * code begins in a stack is the function holding a task_run marker; a coroutine running on a
 * stack of its own, without that function, still belongs to its task.
 */
struct usdt_adaptor;

/*
 * Finds the markers. lifecycle adds the runnable and suspend markers (wait profile, scheduling
 * latency) to the ones always attached (create, exit, run, stop, frames). Returns 0, -ENOENT
 * when neither the executable nor a loaded library has any (nothing printed), or -errno after
 * printing why.
 */
int usdt_adaptor_open(struct process *proc, bool lifecycle, bool verbose,
		      struct usdt_adaptor **out);
void usdt_adaptor_close(struct usdt_adaptor *ua); /* accepts NULL; detaches everything */

/* Sets col up for the marked tasks: their events go there. */
void usdt_adaptor_configure(struct usdt_adaptor *ua, struct collector *col);

/*
 * Loads and attaches the probes; threads_fd and frames_fd are the CPU sampler's maps
 * (sampler_threads_map, sampler_frames_map), which the probes fill.
 */
int usdt_adaptor_attach(struct usdt_adaptor *ua, int threads_fd, int frames_fd);

/* Handles every event waiting. Call it before each CPU sample: a sample must find its task's
 * creation already known. */
int usdt_consume(struct usdt_adaptor *ua);

/* The events the probes lost (the ring buffer was full), per kind, into loss->dropped. */
void usdt_event_loss(struct usdt_adaptor *ua, struct event_loss *loss);

/* "coro (8 markers, 23 sites)": what was found, for the start message. */
const char *usdt_description(const struct usdt_adaptor *ua);

#endif
