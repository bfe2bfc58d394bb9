// SPDX-License-Identifier: GPL-2.0
/*
 * CPU sampler: runs on every cpu-clock tick of every CPU, keeps only the target's threads and
 * sends the kernel stack, the user registers and a copy of the user stack to user space, which
 * unwinds it with DWARF CFI. Unwinding in user space keeps this program short and lets release
 * builds without frame pointers unwind fully.
 *
 * When the target runs an async runtime that keeps its current task in a thread-local (Tokio),
 * that block is copied too; user space reads the task id out of it. When the runtime's probes
 * track runs (thread_polls) and logical frames (USDT markers), the sample carries the task and
 * a copy of its logical frames.
 */
#include "vmlinux.h"
#include <bpf/bpf_helpers.h>
#include <bpf/bpf_tracing.h>
#include <bpf/bpf_core_read.h>
#include "sampler.h"
#include "ustack.bpf.h"
#include "counters.bpf.h"
#include "task.h"
#include "running.bpf.h"

char LICENSE[] SEC("license") = "GPL";

const volatile __u32 targ_tgid = 0;
/* A runtime's thread-local block (Tokio's CONTEXT) to copy with each sample: its offset from
 * the thread pointer and its size; 0 bytes when the target has none. */
const volatile __s64 tls_offset = 0;
const volatile __u32 tls_bytes = 0;
/* Set when a runtime's probes keep the task running on each thread in threads (shared with
 * them: Tokio's poll entry and exit hooks, the task_run and task_stop markers): the task is then
 * known exactly, without the thread-local. */
const volatile bool thread_tasks = false;
/* Set when a runtime's probes keep logical frames (shared with them) for tasks and threads. */
const volatile bool logical_frames = false;
/* Wake the profiler once this much waits in the ring, not at each sample (0: at each): every
 * wake-up is a context switch on a CPU the target may be using. */
const volatile __u32 wakeup_bytes = 0;

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

PERCPU_COUNTERS(CNT_MAX)

#define UPROBE_XOL_SLOT_BYTES 128 /* an out-of-line slot: the instruction and its fix-ups */

/*
 * A uprobe whose instruction the kernel cannot emulate runs a copy of it in a slot of the
 * [uprobes] page ("execute out of line"), where no unwinder can start: the instruction
 * pointer goes back to the probed address, where the copied instruction belongs. Returns true
 * when it did.
 */
static __always_inline bool uprobe_xol_to_probe(struct task_struct *task, __u64 *regs)
{
	struct uprobe_task *ut;
	__u64 xol, vaddr;

	if (!bpf_core_field_exists(task->utask))
		return false;
	ut = BPF_CORE_READ(task, utask);
	if (!ut || BPF_CORE_READ(ut, state) == UTASK_RUNNING)
		return false;
	xol = BPF_CORE_READ(ut, xol_vaddr);
	vaddr = BPF_CORE_READ(ut, vaddr);
	if (!xol || regs[SREG_IP] < xol || regs[SREG_IP] - xol >= UPROBE_XOL_SLOT_BYTES)
		return false;
	regs[SREG_IP] = vaddr + (regs[SREG_IP] - xol);
	return true;
}

SEC("perf_event")
int sample_cpu(struct bpf_perf_event_data *ctx)
{
	__u64 pid_tgid = bpf_get_current_pid_tgid();
	struct task_struct *task;
	struct pt_regs *uregs;
	struct scratch *s;
	__u32 zero = 0;
	__u64 size, flags = 0;

	if ((pid_tgid >> 32) != targ_tgid)
		return 0;

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
	if (s->e.kstack_len > 0)
		s->e.kstack_len /= sizeof(__u64);
	task = bpf_get_current_task_btf();
	uregs = (struct pt_regs *)bpf_task_pt_regs(task);

	s->e.tls_len = tls_copy(s->e.tls, tls_offset, tls_bytes);
	s->e.task = 0;
	if (thread_tasks)
		s->e.task = running_task(bpf_map_lookup_elem(&threads, &s->e.tid));
	s->e.frames.depth = 0;
	if (logical_frames) {
		struct logical_key key;
		struct logical_stack *ls;

		logical_key_of(&key, s->e.tid, s->e.task);
		ls = bpf_map_lookup_elem(&frames, &key);
		if (ls)
			bpf_probe_read_kernel(&s->e.frames, sizeof(s->e.frames), ls);
	}
	s->e.ustack_len = 0;
	if (uregs) {
		ustack_save_regs(s->e.regs, uregs);
		s->e.flags |= SAMPLE_USER_REGS;
		if (uprobe_xol_to_probe(task, s->e.regs))
			s->e.flags |= SAMPLE_UPROBE_XOL;
		s->e.ustack_len = ustack_copy(s->e.ustack, s->e.regs[SREG_SP]);
	}

	size = SAMPLE_HEADER_SIZE + s->e.ustack_len;
	if (size > sizeof(s->e))
		size = sizeof(s->e);
	if (wakeup_bytes)
		flags = bpf_ringbuf_query(&events, BPF_RB_AVAIL_DATA) + size >= wakeup_bytes
			    ? BPF_RB_FORCE_WAKEUP
			    : BPF_RB_NO_WAKEUP;
	if (bpf_ringbuf_output(&events, &s->e, size, flags))
		count(CNT_DROPS, 1);
	return 0;
}
