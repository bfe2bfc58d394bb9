/* SPDX-License-Identifier: MIT */
#ifndef ASYNCPROF_SAMPLER_H
#define ASYNCPROF_SAMPLER_H

/*
 * Plain data shared by sampler.bpf.c and the user-space sampler: one record per CPU sample of a
 * target thread. Only the first SAMPLE_HEADER_SIZE + ustack_len bytes of a record are sent.
 */

#ifndef __VMLINUX_H__
#include <linux/types.h>
#endif

#ifndef TASK_COMM_LEN
#define TASK_COMM_LEN 16
#endif

#define SAMPLER_KSTACK_MAX 64	      /* kernel frames kept */
#define SAMPLER_USTACK_BYTES 16384    /* bytes of user stack copied from SP upwards */
#define SAMPLER_PAGE_SIZE 4096
#define SAMPLER_TLS_BYTES 256	      /* bytes of a runtime's thread-local block copied */

/* x86-64 user registers in DWARF register-number order (what libdw expects). */
enum sampler_reg {
	SREG_AX, SREG_DX, SREG_CX, SREG_BX, SREG_SI, SREG_DI, SREG_BP, SREG_SP,
	SREG_R8, SREG_R9, SREG_R10, SREG_R11, SREG_R12, SREG_R13, SREG_R14, SREG_R15,
	SREG_IP,
	SREG_COUNT
};

/*
 * Logical frames (the USDT frame markers): names a task, or a thread outside any task, pushed
 * and popped, outermost first. Kept by the runtime's probes in the sampler's "frames" map, copied
 * into each sample of that task or thread. depth counts every frame pushed, also those past the
 * LOGICAL_FRAMES_MAX kept; ptr[i] is the address the program passed for name[i], which matches a
 * pop to its push.
 */
#define LOGICAL_FRAMES_MAX 16
#define LOGICAL_NAME_LEN 48

struct logical_stack {
	__u32 depth;
	__u32 pad;
	__u64 ptr[LOGICAL_FRAMES_MAX];
	char name[LOGICAL_FRAMES_MAX][LOGICAL_NAME_LEN];
};

/* Whose logical frames: a task's (tid 0) or, outside any task, a thread's (task 0). */
struct logical_key {
	__u64 task;
	__u32 tid;
	__u32 pad;
};

/* sample_event.flags */
#define SAMPLE_USER_REGS 0x1 /* regs hold the thread's user-mode registers */
/* The thread was single-stepping a probed instruction out of line (the kernel's [uprobes]
 * page): regs[SREG_IP] has been moved back to where that instruction belongs. */
#define SAMPLE_UPROBE_XOL 0x2

struct sample_event {
	__u32 pid; /* thread group id */
	__u32 tid;
	__u64 time_ns; /* CLOCK_MONOTONIC */
	__u32 cpu;
	__u32 flags;
	__s32 kstack_len; /* entries in kstack, or -errno from bpf_get_stack */
	__u32 ustack_len; /* bytes in ustack, starting at regs[SREG_SP] */
	__u32 tls_len;	  /* bytes in tls: the runtime's thread-local block, when one is set */
	__u32 pad;
	__u64 task;	  /* the task being polled, from a runtime's poll hooks; 0 when unknown */
	char comm[TASK_COMM_LEN];
	__u64 regs[SREG_COUNT];
	__u64 kstack[SAMPLER_KSTACK_MAX];
	__u8 tls[SAMPLER_TLS_BYTES];
	struct logical_stack frames; /* depth 0 when the runtime keeps none */
	__u8 ustack[SAMPLER_USTACK_BYTES];
};

#define SAMPLE_HEADER_SIZE ((unsigned long)&((struct sample_event *)0)->ustack)

/* Indexes of the per-CPU counters in the "counters" map. */
enum sampler_counter {
	CNT_DROPS,	 /* samples lost: ring buffer full */
	CNT_MAX
};

#endif
