/* SPDX-License-Identifier: MIT */
#ifndef ASYNCPROF_TOKIO_BINARY_H
#define ASYNCPROF_TOKIO_BINARY_H

#include <stddef.h>
#include <stdint.h>
#include <stdbool.h>

/*
 * tokio_binary: what the Tokio adaptor needs to know about one ELF file, found by static
 * analysis at attach time (see docs/runtimes.md for the facts).
 *
 * All addresses are link-time virtual addresses of the file (what symbols use); attach uprobes
 * through probe_site (probe_site.h), or add the load bias for runtime addresses. Arrays and
 * strings are owned by the tokio_binary.
 */

#define TOKIO_MAX_RETS 8

/* One task vtable: one per spawned future type x scheduler. */
struct tokio_vtable {
	uint64_t vaddr;
	uint64_t poll;		  /* raw::poll<T,S> */
	uint64_t schedule;	  /* raw::schedule<S> */
	uint64_t dealloc;	  /* raw::dealloc<T,S> */
	uint64_t try_read_output; /* raw::try_read_output<T,S>: a JoinHandle awaits this task */
	uint64_t trailer_offset;
	uint64_t scheduler_offset;
	uint64_t id_offset; /* task::Id at header + id_offset */
	/* The future's type as its source names it: "app::child" for the async fn app::child
	 * (whatever the compiler's suffix: {{closure}}, {async_fn_env#0}), "app::main::{async
	 * block}" for an async block; NULL when unknown. */
	const char *future_type;
	bool worker_launch; /* BlockingTask<...Launch::launch...>: a worker loop, not user work */
	bool blocking;	    /* BlockingTask<...>: spawn_blocking (worker loops included) */
};

/* One distinct poll entry point (raw::poll copies deduplicated by address). */
struct tokio_poll_fn {
	uint64_t entry; /* raw::poll<T,S> */
	uint64_t body;	/* the function rets are in: entry, or the Harness::poll it jumps to */
	/* Where the poll ends: the ret instructions and tail calls (jumps out of the function) of
	 * raw::poll itself, or, when raw::poll is a tail jump, of the Harness::poll it jumps to. */
	uint64_t rets[TOKIO_MAX_RETS];
	size_t nrets;
	/* Some exits are not in rets: more than TOKIO_MAX_RETS, or code that could not be
	 * decoded. A poll may then end without reaching any of rets. */
	bool rets_partial;
	int vtable;	    /* index into vtables, -1 when no vtable points at it */
	bool size_disputed; /* its symbol's size contradicts its FDE: not to be probed */
};

#define TOKIO_MAX_DISPUTES 8

/* A hook that .symtab places where the code says otherwise: left out, not probed. */
struct tokio_dispute {
	const char *hook; /* "wake_by_val", "Harness::complete" */
	size_t copies;	  /* of the hook left out (one per task type for Harness::complete) */
	char why[112];	  /* what each source says, of the first copy */
};

/*
 * An update of NEXT_ID (a lock xadd or lock cmpxchg on it: one per inlined copy of
 * task::Id::next, which every spawn runs once). A probe on the instruction after it finds the
 * new task's id in a register, on the spawning thread.
 */
struct tokio_spawn_site {
	uint64_t func;	 /* the function it is in (its FDE's start) */
	uint64_t update; /* the locked instruction */
	uint64_t probe;	 /* the instruction after it */
	uint32_t cookie; /* enum tokio_spawn_reg | TOKIO_SPAWN_CMPXCHG (spawn_probe.h) */
};

/* Code of one task type's poll: the raw::poll copy, or the Harness::poll it jumps to. A
 * sampled stack holding a pc in it is polling a task of that type. */
struct tokio_poll_range {
	uint64_t start, end;
	int vtable; /* index into vtables of a vtable using it (all users have its type) */
};

struct analysis;

struct tokio_binary {
	bool has_symbols; /* vtables found through raw::poll symbols; false: vtable shape scan */
	size_t nvtables;
	struct tokio_vtable *vtables;
	size_t npolls;
	struct tokio_poll_fn *polls;
	/* tokio::runtime::task::waker::*: the RawWakerVTable the polls build their wakers with,
	 * found in their code; a symbol names one only when that table is not found (and is
	 * disputed when it names another function); 0 when absent or disputed. */
	uint64_t wake_by_val, wake_by_ref, clone_waker, drop_waker;
	uint64_t waker_vtable; /* WAKER_VTABLE: marks a Waker as a task's; 0 when absent */
	struct tokio_dispute disputes[TOKIO_MAX_DISPUTES];
	size_t ndisputes;
	size_t nranges; /* sorted by start, not overlapping */
	struct tokio_poll_range *ranges;
	size_t ncomplete;
	uint64_t *complete; /* Harness<T,S>::complete copies, deduplicated; none without symbols */
	uint64_t next_id;   /* task::id::Id::next::NEXT_ID (an AtomicU64); 0 when not found */
	/* Every update of NEXT_ID found in code decoded from a function start (.eh_frame FDE);
	 * spawn_sites_refused counts updates that cannot be probed (the next instruction is also
	 * a branch target, so the register may not hold the id there). */
	size_t nspawn_sites, spawn_sites_refused;
	struct tokio_spawn_site *spawn_sites;
	/* The thread-local CONTEXT: its address is fsbase + tls_context_offset (x86-64 static
	 * TLS, variant II: negative). has_tls false when not found (needs the symbol, and the
	 * file to be an executable: a shared object's TLS block is placed at load time). */
	bool has_tls;
	int64_t tls_context_offset;
	uint64_t tls_context_size; /* bytes of the CONTEXT variable, 0 when unknown */
	struct analysis *analysis; /* private: the file, kept for tokio_binary_spawned_type */
};

/*
 * Analyzes the ELF file at path. Returns 0, -ENOENT when the file has no Tokio runtime (no
 * raw::poll and no task vtable), -ENOEXEC when it is not ELF, or another -errno.
 */
int tokio_binary_analyze(const char *path, struct tokio_binary **out);
void tokio_binary_free(struct tokio_binary *tb); /* accepts NULL */

/*
 * The type of the task a spawn makes, from its stack (pcs: link-time addresses, innermost first,
 * from the update of NEXT_ID out): the first function on it whose code, or the code it calls
 * (a few calls deep), builds task vtables decides, when they are all of one type (spawn_inner
 * of that future type); the vtable index, or -1 when unknown or ambiguous.
 */
int tokio_binary_spawned_type(struct tokio_binary *tb, const uint64_t *pcs, size_t n);

/* The vtable index whose poll code holds the link-time address pc; -1 when none. */
int tokio_binary_poll_at(const struct tokio_binary *tb, uint64_t pc);

#endif
