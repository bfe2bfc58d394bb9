/* SPDX-License-Identifier: MIT */
#ifndef ASYNCPROF_PROBES_H
#define ASYNCPROF_PROBES_H

/*
 * asyncprof.h: markers a C or C++ program puts in its own scheduler, event loop, coroutine or
 * interpreter so that asyncprof (--runtime usdt, or auto) sees its tasks as it sees Tokio's:
 * CPU samples attributed to the running task, under the chain of tasks that created it and the
 * logical frames the task is in; a wait profile by suspension reason; scheduling latency;
 * tasks and spawn sites in report.json.
 *
 * Each marker is a USDT probe (provider "asyncprof", sys/sdt.h) guarded by its own semaphore:
 * while no tracer is attached a marker costs one load and a not-taken branch, and its arguments
 * are not evaluated (so they must not do work the program needs). The kernel sets a semaphore
 * while a tracer is attached to its marker; an attached marker costs a uprobe hit, a trap into
 * the kernel and a short BPF program (0.5 us on the project's VM, see the README).
 *
 * The markers (a task id is any non-zero 64-bit value naming one task for the life of the
 * process, e.g. a counter; 0 means "no task"):
 *
 *   ASYNCPROF_TASK_CREATE(id, parent_id, name)  a task exists and is runnable. parent_id: the
 *                                               task that created it, 0 for none. name: a
 *                                               string (read at once, up to 63 bytes). Where
 *                                               this marker stands is the task's spawn site:
 *                                               put it at the spawn call (a macro around your
 *                                               spawn function), not inside a generic one.
 *   ASYNCPROF_TASK_RUNNABLE(id, waker_id)       it can run again (woken, readied); waker_id:
 *                                               the task that woke it, 0 for none (a timer,
 *                                               an I/O thread).
 *   ASYNCPROF_TASK_RUN(id)                      this thread starts running it (resumes the
 *                                               coroutine, calls the callback) ...
 *   ASYNCPROF_TASK_STOP(id)                     ... and stops. Runs may nest (a task running
 *                                               an event loop of its own), up to 4 deep.
 *   ASYNCPROF_TASK_SUSPEND(id, reason, object)  it is about to wait until a RUNNABLE marker:
 *                                               call it before the wait can end (before
 *                                               arming the timer, queueing on the lock).
 *                                               reason: a short string ("timer", "lock",
 *                                               "read"), the wait profile's label; object:
 *                                               what it waits on (a pointer, or NULL). A STOP
 *                                               without a SUSPEND is a yield: the task stays
 *                                               runnable.
 *   ASYNCPROF_TASK_EXIT(id)                     it finished; the id may not be used again.
 *   ASYNCPROF_FRAME_PUSH(name)                  the running task (or, outside any task, the
 *   ASYNCPROF_FRAME_POP(name)                   thread) enters / leaves a logical frame: a
 *                                               coroutine step, a state of a state machine,
 *                                               a function of an interpreted language. The
 *                                               frames belong to the task and survive its
 *                                               suspensions; CPU samples show them between
 *                                               the task and its physical stack. Pass the
 *                                               same pointer to POP as to PUSH; names are
 *                                               read at PUSH (up to 47 bytes, 16 frames
 *                                               deep kept).
 *   ASYNCPROF_ENABLED(probe)                    true while a tracer is attached to probe
 *                                               (task_create, ..., frame_pop): guard work done
 *                                               only for a marker, such as formatting a name.
 *
 * Example: a coroutine scheduler.
 *
 *	#include "asyncprof.h"
 *
 *	#define SPAWN(fn, name)                                                  \
 *		do {                                                             \
 *			struct coro *c_ = spawn(fn);                             \
 *			ASYNCPROF_TASK_CREATE(c_->id, current_id(), name);       \
 *		} while (0)
 *
 *	void scheduler_loop(void)
 *	{
 *		struct coro *c;
 *
 *		while ((c = next_ready())) {
 *			ASYNCPROF_TASK_RUN(c->id);
 *			resume(c);
 *			ASYNCPROF_TASK_STOP(c->id);
 *			if (c->done)
 *				ASYNCPROF_TASK_EXIT(c->id);
 *		}
 *	}
 *
 *	void sleep_ms(int ms)         // inside a coroutine
 *	{
 *		ASYNCPROF_TASK_SUSPEND(current_id(), "timer", NULL);
 *		arm_timer(ms, current()); // its thread calls ASYNCPROF_TASK_RUNNABLE(id, 0)
 *		yield_to_scheduler();
 *	}
 *
 *	void parse(struct request *r)
 *	{
 *		ASYNCPROF_FRAME_PUSH("parse");
 *		...
 *		ASYNCPROF_FRAME_POP("parse");
 *	}
 *
 * Build: the header needs sys/sdt.h (Debian: systemtap-sdt-dev) and GCC or Clang; it compiles
 * as C99 or later and C++11 or later. -DASYNCPROF_DISABLE compiles every marker to nothing.
 *
 * Semaphores: the header defines _SDT_HAS_SEMAPHORES before including sys/sdt.h, so include it
 * before any other use of sys/sdt.h in a file; other STAP_PROBE markers in that file then need
 * semaphores of their own. The semaphore variables are weak and hidden: each executable or
 * shared library gets one set, whatever the number of files including this header.
 */

#ifdef ASYNCPROF_DISABLE

#define ASYNCPROF_ENABLED(probe) 0
#define ASYNCPROF_TASK_CREATE(id, parent_id, name)                                                \
	do {                                                                                       \
		(void)sizeof(id);                                                                  \
		(void)sizeof(parent_id);                                                           \
		(void)sizeof(name);                                                                \
	} while (0)
#define ASYNCPROF_TASK_RUNNABLE(id, waker_id)                                                      \
	do {                                                                                       \
		(void)sizeof(id);                                                                  \
		(void)sizeof(waker_id);                                                            \
	} while (0)
#define ASYNCPROF_TASK_RUN(id) ((void)sizeof(id))
#define ASYNCPROF_TASK_STOP(id) ((void)sizeof(id))
#define ASYNCPROF_TASK_SUSPEND(id, reason, object)                                                 \
	do {                                                                                       \
		(void)sizeof(id);                                                                  \
		(void)sizeof(reason);                                                              \
		(void)sizeof(object);                                                              \
	} while (0)
#define ASYNCPROF_TASK_EXIT(id) ((void)sizeof(id))
#define ASYNCPROF_FRAME_PUSH(name) ((void)sizeof(name))
#define ASYNCPROF_FRAME_POP(name) ((void)sizeof(name))

#else /* !ASYNCPROF_DISABLE */

#if defined(_SYS_SDT_H) && !defined(_SDT_HAS_SEMAPHORES)
#error "include asyncprof.h before sys/sdt.h (its markers need _SDT_HAS_SEMAPHORES)"
#endif
#ifndef _SDT_HAS_SEMAPHORES
#define _SDT_HAS_SEMAPHORES 1
#endif
/*
 * Arguments in registers or as constants, never as memory operands: sys/sdt.h's default ("nor")
 * lets the compiler describe an array element as base + index * scale, (%rcx,%rdx,8), which
 * libbpf before 1.4 cannot read, and the marker would fail to attach. Registers cost nothing
 * while untraced: the arguments are only computed inside the semaphore check.
 */
#ifndef STAP_SDT_ARG_CONSTRAINT
#define STAP_SDT_ARG_CONSTRAINT nr
#endif
#include <sys/sdt.h>

#ifdef __cplusplus
extern "C" {
#endif

/* The kernel counts the tracers attached to a probe in its semaphore (uprobe ref_ctr_offset). */
#define ASYNCPROF_SEMAPHORE_(probe)                                                                \
	__attribute__((weak, visibility("hidden"), section(".probes"))) volatile unsigned short    \
		asyncprof_##probe##_semaphore

ASYNCPROF_SEMAPHORE_(task_create);
ASYNCPROF_SEMAPHORE_(task_runnable);
ASYNCPROF_SEMAPHORE_(task_run);
ASYNCPROF_SEMAPHORE_(task_stop);
ASYNCPROF_SEMAPHORE_(task_suspend);
ASYNCPROF_SEMAPHORE_(task_exit);
ASYNCPROF_SEMAPHORE_(frame_push);
ASYNCPROF_SEMAPHORE_(frame_pop);

#ifdef __cplusplus
}
#endif

#define ASYNCPROF_ENABLED(probe) __builtin_expect(asyncprof_##probe##_semaphore != 0, 0)

/* sys/sdt.h passes no argument to a variadic macro's "...", which clang -pedantic reports. */
#ifdef __clang__
#define ASYNCPROF_PEDANTIC_OFF_                                                                    \
	_Pragma("clang diagnostic push")                                                           \
		_Pragma("clang diagnostic ignored \"-Wgnu-zero-variadic-macro-arguments\"")
#define ASYNCPROF_PEDANTIC_ON_ _Pragma("clang diagnostic pop")
#else
#define ASYNCPROF_PEDANTIC_OFF_
#define ASYNCPROF_PEDANTIC_ON_
#endif

/*
 * The tracer reads a string where it cannot fault a page in: a literal that only a marker uses
 * may sit in a page the program never touched. So a traced marker reads its string first (up
 * to the 64 bytes the tracer keeps).
 */
static inline const void *asyncprof_string_(const char *s)
{
	const volatile char *p = s;

	for (int i = 0; p && i < 64 && p[i]; i++)
		;
	return s;
}

/* Ids travel as 8-byte integers and strings and objects as pointers, whatever the caller's
 * types, so the tracer reads every argument the same way. */
#define ASYNCPROF_ID_(id) ((unsigned long long)(id))
#define ASYNCPROF_PTR_(p) ((const void *)(p))
#define ASYNCPROF_STR_(s) asyncprof_string_((const char *)(s))

/* The probe is named in the body, not passed as an argument, so that it expands after the
 * pragma (arguments are expanded before it). */
#define ASYNCPROF_MARK_(probe, nargs, ...)                                                         \
	do {                                                                                       \
		ASYNCPROF_PEDANTIC_OFF_                                                            \
		if (ASYNCPROF_ENABLED(probe))                                                      \
			STAP_PROBE##nargs(asyncprof, probe, __VA_ARGS__);                          \
		ASYNCPROF_PEDANTIC_ON_                                                             \
	} while (0)

#define ASYNCPROF_TASK_CREATE(id, parent_id, name)                                                 \
	ASYNCPROF_MARK_(task_create, 3, ASYNCPROF_ID_(id), ASYNCPROF_ID_(parent_id),               \
			ASYNCPROF_STR_(name))
#define ASYNCPROF_TASK_RUNNABLE(id, waker_id)                                                      \
	ASYNCPROF_MARK_(task_runnable, 2, ASYNCPROF_ID_(id), ASYNCPROF_ID_(waker_id))
#define ASYNCPROF_TASK_RUN(id) ASYNCPROF_MARK_(task_run, 1, ASYNCPROF_ID_(id))
#define ASYNCPROF_TASK_STOP(id) ASYNCPROF_MARK_(task_stop, 1, ASYNCPROF_ID_(id))
#define ASYNCPROF_TASK_SUSPEND(id, reason, object)                                                 \
	ASYNCPROF_MARK_(task_suspend, 3, ASYNCPROF_ID_(id), ASYNCPROF_STR_(reason),                \
			ASYNCPROF_PTR_(object))
#define ASYNCPROF_TASK_EXIT(id) ASYNCPROF_MARK_(task_exit, 1, ASYNCPROF_ID_(id))
#define ASYNCPROF_FRAME_PUSH(name) ASYNCPROF_MARK_(frame_push, 1, ASYNCPROF_STR_(name))
#define ASYNCPROF_FRAME_POP(name) ASYNCPROF_MARK_(frame_pop, 1, ASYNCPROF_STR_(name))

#endif /* ASYNCPROF_DISABLE */

#endif
