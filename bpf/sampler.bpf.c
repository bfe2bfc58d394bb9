// SPDX-License-Identifier: GPL-2.0
/*
 * CPU sampler: runs on every cpu-clock tick of every CPU, keeps only the target's threads and
 * sends the kernel stack, the user registers and a copy of the user stack to user space, which
 * unwinds it with DWARF CFI. Unwinding in user space keeps this program short and lets release
 * builds without frame pointers unwind fully.
 *
 * The user stack is copied a page at a time from SP upwards: a stack mapping ends on a page
 * boundary, so the first failing page read marks the top of the stack and nothing below it is
 * lost (a single large read would fail as a whole near the top).
 */
#include "vmlinux.h"
#include <bpf/bpf_helpers.h>
#include <bpf/bpf_tracing.h>
#include <bpf/bpf_core_read.h>
#include "sampler.h"

char LICENSE[] SEC("license") = "GPL";

const volatile __u32 targ_tgid = 0;

struct {
	__uint(type, BPF_MAP_TYPE_RINGBUF);
	__uint(max_entries, 4 * 1024 * 1024); /* ~120 ms of 999 Hz on 2 CPUs */
} events SEC(".maps");

/* The padding lets the verifier see that a page-sized read at any offset below the end of
 * ustack stays inside the value; the copy loop itself never writes past ustack. */
struct scratch {
	struct sample_event e;
	__u8 pad[SAMPLER_PAGE_SIZE];
};

struct {
	__uint(type, BPF_MAP_TYPE_PERCPU_ARRAY);
	__uint(max_entries, 1);
	__type(key, __u32);
	__type(value, struct scratch);
} scratch SEC(".maps");

struct {
	__uint(type, BPF_MAP_TYPE_PERCPU_ARRAY);
	__uint(max_entries, CNT_MAX);
	__type(key, __u32);
	__type(value, __u64);
} counters SEC(".maps");

static __always_inline void count(__u32 which)
{
	__u64 *c = bpf_map_lookup_elem(&counters, &which);

	if (c)
		*c += 1;
}

static __always_inline void save_regs(struct sample_event *e, struct pt_regs *r)
{
	e->regs[SREG_AX] = BPF_CORE_READ(r, ax);
	e->regs[SREG_DX] = BPF_CORE_READ(r, dx);
	e->regs[SREG_CX] = BPF_CORE_READ(r, cx);
	e->regs[SREG_BX] = BPF_CORE_READ(r, bx);
	e->regs[SREG_SI] = BPF_CORE_READ(r, si);
	e->regs[SREG_DI] = BPF_CORE_READ(r, di);
	e->regs[SREG_BP] = BPF_CORE_READ(r, bp);
	e->regs[SREG_SP] = BPF_CORE_READ(r, sp);
	e->regs[SREG_R8] = BPF_CORE_READ(r, r8);
	e->regs[SREG_R9] = BPF_CORE_READ(r, r9);
	e->regs[SREG_R10] = BPF_CORE_READ(r, r10);
	e->regs[SREG_R11] = BPF_CORE_READ(r, r11);
	e->regs[SREG_R12] = BPF_CORE_READ(r, r12);
	e->regs[SREG_R13] = BPF_CORE_READ(r, r13);
	e->regs[SREG_R14] = BPF_CORE_READ(r, r14);
	e->regs[SREG_R15] = BPF_CORE_READ(r, r15);
	e->regs[SREG_IP] = BPF_CORE_READ(r, ip);
}

static __always_inline __u32 copy_user_stack(struct scratch *s, __u64 sp)
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
		if (bpf_probe_read_user(&s->e.ustack[off], len, (void *)(sp + off))) {
			/* A fault on the first page means SP itself is bad; later faults are the
			 * top of the stack, unless the page is simply not resident. */
			if (i == 0)
				count(CNT_STACK_FAULT);
			break;
		}
		off += len;
	}
	return off;
}

SEC("perf_event")
int sample_cpu(struct bpf_perf_event_data *ctx)
{
	__u64 pid_tgid = bpf_get_current_pid_tgid();
	struct task_struct *task;
	struct pt_regs *uregs;
	struct scratch *s;
	__u32 zero = 0;
	__u64 size;

	if ((pid_tgid >> 32) != targ_tgid)
		return 0;
	count(CNT_SAMPLES);

	s = bpf_map_lookup_elem(&scratch, &zero);
	if (!s)
		return 0;
	s->e.pid = pid_tgid >> 32;
	s->e.tid = (__u32)pid_tgid;
	s->e.time_ns = bpf_ktime_get_ns();
	s->e.cpu = bpf_get_smp_processor_id();
	s->e.flags = 0;
	bpf_get_current_comm(s->e.comm, sizeof(s->e.comm));

	/* The kernel stack is empty when the tick interrupted user code. Either way the user
	 * registers are the ones saved at the top of the task's kernel stack on entry. */
	s->e.kstack_len = bpf_get_stack(ctx, s->e.kstack, sizeof(s->e.kstack), 0);
	if (s->e.kstack_len > 0) {
		s->e.kstack_len /= sizeof(__u64);
		s->e.flags |= SAMPLE_IN_KERNEL;
	}
	task = bpf_get_current_task_btf();
	uregs = (struct pt_regs *)bpf_task_pt_regs(task);

	s->e.ustack_len = 0;
	if (uregs) {
		save_regs(&s->e, uregs);
		s->e.flags |= SAMPLE_USER_REGS;
		s->e.ustack_len = copy_user_stack(s, s->e.regs[SREG_SP]);
	}

	size = SAMPLE_HEADER_SIZE + s->e.ustack_len;
	if (size > sizeof(s->e))
		size = sizeof(s->e);
	if (bpf_ringbuf_output(&events, &s->e, size, 0))
		count(CNT_DROPS);
	return 0;
}
