/* SPDX-License-Identifier: GPL-2.0 */
#ifndef ASYNCPROF_USTACK_BPF_H
#define ASYNCPROF_USTACK_BPF_H

/*
 * Helpers shared by the BPF programs that send a user stack to user space for DWARF
 * unwinding (the CPU sampler, the runtime probes): user registers and a page-wise copy of
 * the stack from SP up. A stack mapping ends on a page boundary, so the first failing page
 * read marks the top of the stack and nothing below it is lost.
 *
 * The destination must be followed by SAMPLER_PAGE_SIZE bytes of padding in its map value, so
 * the verifier can see that a page-sized read at any offset below the end stays inside.
 */
#include "sampler.h"

static __always_inline void ustack_save_regs(__u64 *regs, struct pt_regs *r)
{
	regs[SREG_AX] = BPF_CORE_READ(r, ax);
	regs[SREG_DX] = BPF_CORE_READ(r, dx);
	regs[SREG_CX] = BPF_CORE_READ(r, cx);
	regs[SREG_BX] = BPF_CORE_READ(r, bx);
	regs[SREG_SI] = BPF_CORE_READ(r, si);
	regs[SREG_DI] = BPF_CORE_READ(r, di);
	regs[SREG_BP] = BPF_CORE_READ(r, bp);
	regs[SREG_SP] = BPF_CORE_READ(r, sp);
	regs[SREG_R8] = BPF_CORE_READ(r, r8);
	regs[SREG_R9] = BPF_CORE_READ(r, r9);
	regs[SREG_R10] = BPF_CORE_READ(r, r10);
	regs[SREG_R11] = BPF_CORE_READ(r, r11);
	regs[SREG_R12] = BPF_CORE_READ(r, r12);
	regs[SREG_R13] = BPF_CORE_READ(r, r13);
	regs[SREG_R14] = BPF_CORE_READ(r, r14);
	regs[SREG_R15] = BPF_CORE_READ(r, r15);
	regs[SREG_IP] = BPF_CORE_READ(r, ip);
}

/*
 * Copies up to SAMPLER_USTACK_BYTES from sp into dst; returns the bytes copied (0 for a bad
 * SP: the unwinder then has the instruction pointer only). The stack is the current thread's
 * when task is NULL (a constant NULL compiles the other read away), else task's, which only a
 * sleepable program may read (bpf_copy_from_user_task).
 */
static __always_inline __u32 ustack_copy_from(__u8 *dst, __u64 sp, struct task_struct *task)
{
	__u32 off = 0;

	for (int i = 0; i < SAMPLER_USTACK_BYTES / SAMPLER_PAGE_SIZE + 1; i++) {
		__u32 len = SAMPLER_PAGE_SIZE - ((sp + off) & (SAMPLER_PAGE_SIZE - 1));

		if (off >= SAMPLER_USTACK_BYTES)
			break;
		if (len > SAMPLER_USTACK_BYTES - off)
			len = SAMPLER_USTACK_BYTES - off;
		off &= SAMPLER_USTACK_BYTES - 1;
		if (len == 0 || len > SAMPLER_PAGE_SIZE)
			break;
		if (task ? bpf_copy_from_user_task(&dst[off], len, (void *)(sp + off), task, 0)
			 : bpf_probe_read_user(&dst[off], len, (void *)(sp + off)))
			break;
		off += len;
	}
	return off;
}

static __always_inline __u32 ustack_copy(__u8 *dst, __u64 sp)
{
	return ustack_copy_from(dst, sp, NULL);
}

/* Copies len (<= SAMPLER_TLS_BYTES) bytes of the current thread's static TLS at fsbase + off. */
static __always_inline __u32 tls_copy(__u8 *dst, __s64 off, __u32 len)
{
	struct task_struct *task = bpf_get_current_task_btf();
	__u64 fs = BPF_CORE_READ(task, thread.fsbase);

	if (len > SAMPLER_TLS_BYTES)
		len = SAMPLER_TLS_BYTES;
	if (!len || !fs)
		return 0;
	if (bpf_probe_read_user(dst, len, (void *)(fs + off)))
		return 0;
	return len;
}

#endif
