/* SPDX-License-Identifier: MIT */
#ifndef ASYNCPROF_TOKIO_SPAWN_PROBE_H
#define ASYNCPROF_TOKIO_SPAWN_PROBE_H

/*
 * What a spawn probe (a uprobe on the instruction after an update of task::Id::next::NEXT_ID)
 * needs to know about its site, passed as the uprobe's BPF cookie: the register that holds the
 * new task's id there, and whether the update was a lock cmpxchg (the id is in rax only when
 * the exchange succeeded: ZF set) rather than a lock xadd (the source register receives the
 * old value, which is the new id). Plain data shared by tokio.bpf.c and tokio_binary.c.
 */
enum tokio_spawn_reg {
	TOKIO_REG_RAX,
	TOKIO_REG_RBX,
	TOKIO_REG_RCX,
	TOKIO_REG_RDX,
	TOKIO_REG_RSI,
	TOKIO_REG_RDI,
	TOKIO_REG_RBP,
	TOKIO_REG_R8,
	TOKIO_REG_R9,
	TOKIO_REG_R10,
	TOKIO_REG_R11,
	TOKIO_REG_R12,
	TOKIO_REG_R13,
	TOKIO_REG_R14,
	TOKIO_REG_R15,
	TOKIO_REG_COUNT,
};

#define TOKIO_SPAWN_REG_MASK 0xff
#define TOKIO_SPAWN_CMPXCHG 0x100 /* cookie flag */

/* Groups of the Tokio probes that can be turned off while recording (task_events.bpf.h's
 * groups_off): the wake-ups (lifecycle and full modes); the spawn events, each with its 16 KiB
 * stack to unwind (every mode: a service that spawns a task per request sends thousands a
 * second). */
enum tokio_probe_group {
	TOKIO_GROUP_WAKE,
	TOKIO_GROUP_SPAWN,
};

/* Counters of the Tokio probes (tokio.bpf.c's "counters" map). */
enum tokio_counter {
	TOKIO_CNT_SPAWNS,	  /* new ids seen by the spawn hook in use */
	TOKIO_CNT_SPAWN_REJECTED, /* spawn probe hits whose register failed the NEXT_ID check */
	TOKIO_CNT_HOT,		  /* hits of the hot probes (poll, wake, await): emulated */
	TOKIO_CNT_HOT_STEPPED,	  /* and single-stepped (bpf/hot.h) */
	TOKIO_CNT_MAX,
};

#endif
