/* SPDX-License-Identifier: MIT */
#ifndef ASYNCPROF_GOROUTINES_H
#define ASYNCPROF_GOROUTINES_H

#include <stddef.h>
#include <stdint.h>
#include <stdbool.h>
#include <sys/types.h>

#include "go_binary.h"
#include "target/process.h"
#include "symbols/symbolizer.h"

/*
 * goroutines: a snapshot of every goroutine of a live Go process, read from runtime.allgs
 * with process_vm_readv or through /proc/PID/mem, without stopping or probing it. A snapshot is a sample: a goroutine can
 * change state while it is read, so callers compare several snapshots before trusting one.
 */

#define GO_STACK_MAX 64

#define G_RUNNABLE 1
#define G_RUNNING 2
#define G_SYSCALL 3
#define G_WAITING 4
#define G_DEAD 6

struct goroutine {
	uint64_t g; /* address of the runtime.g */
	int64_t goid;
	int64_t parent_goid; /* Go 1.21+; 0 when unknown */
	uint32_t status; /* atomicstatus without the scan bit */
	uint8_t waitreason;
	int64_t waitsince; /* nanotime() stamped by a GC scan; 0 when not yet seen by a GC */
	uint64_t gopc, startpc;
	uint64_t sched_sp, sched_pc;
	uint64_t stack_hash; /* of the live stack above sched.sp: it changes when the g runs */
	size_t npcs;
	/* Parked stack, leaf first: sched.pc, then return address - 1 (at most GO_STACK_MAX);
	 * in the snapshot's own block. */
	const uint64_t *pcs;
};

#define GO_MAX_REASONS 64

struct go_process {
	pid_t pid;
	int mem_fd;
	uint64_t bias; /* runtime address - link-time address of the executable */
	const struct go_binary *gb;
	bool reasons_read;
	bool no_vm_readv; /* process_vm_readv refused: everything through mem_fd */
	void *scratch;	  /* a snapshot's batch buffers, kept for the next one */
	unsigned int batch; /* goroutines per batch read; 0: the most (tests ask for fewer) */
	/* Runtime addresses, 0 when unknown: runtime.goexit's code, and all the Go code. */
	uint64_t goexit_lo, goexit_hi, code_lo, code_hi;
	char *reasons[GO_MAX_REASONS]; /* runtime.waitReasonStrings as the process has them */
};

/* Opens /proc/PID/mem; returns 0 or -errno (-EACCES: no ptrace access). gp is zeroed first. */
int go_process_open(struct go_process *gp, pid_t pid, const struct go_binary *gb, uint64_t bias);
void go_process_close(struct go_process *gp);

/*
 * Reads every live goroutine (not dead ones) into a malloc'd array, their stacks in the same
 * block after it (a service with 10^4 goroutines parked: the stacks as long as they are, not
 * GO_STACK_MAX frames each): free(*out) frees all. Returns 0 or -errno.
 */
int go_snapshot(struct go_process *gp, struct goroutine **out, size_t *n);

/* The goid of the goroutine at g (a g0 reads 0); -1 when it cannot be read. */
int64_t go_read_goid(struct go_process *gp, uint64_t g);

/*
 * Wait reason names, read from the process's runtime.waitReasonStrings (exact for its version);
 * falls back on go_wait_reason_name(). Returns a static or owned string; never NULL.
 */
const char *go_reason(struct go_process *gp, unsigned int reason);

/* The frames at a code address of the process, innermost first; 0 when unknown. */
int go_frames_at(struct process *proc, uint64_t pc, struct sym_frame *frames);
/* "function (file:line)" */
void go_format_frame(const struct sym_frame *f, char *out, size_t size);
/* The innermost frame at pc as "function (file:line)"; "0x..." and false when unknown. */
bool go_describe_pc(struct process *proc, uint64_t pc, char *out, size_t size);
/* The function whose code holds pc (the outermost of its inlined frames), without file:line. */
bool go_function_at(struct process *proc, uint64_t pc, char *out, size_t size);

#endif
