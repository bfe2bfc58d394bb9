/* SPDX-License-Identifier: MIT */
#ifndef ASYNCPROF_TOKIO_BINARY_H
#define ASYNCPROF_TOKIO_BINARY_H

#include <stddef.h>
#include <stdint.h>
#include <stdbool.h>

/*
 * tokio_binary: what the Tokio adaptor needs to know about one ELF file, found by static
 * analysis at attach time (see ../shared/docs/research/tokio-hooks.md for the facts).
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
	uint64_t id_offset;	 /* task::Id at header + id_offset */
	const char *future_type; /* e.g. "app::child::{async_fn_env#0}"; NULL when unknown */
	bool worker_launch; /* BlockingTask<...Launch::launch...>: a worker loop, not user work */
	bool blocking;	    /* BlockingTask<...>: spawn_blocking (worker loops included) */
};

/* One distinct poll entry point (raw::poll copies deduplicated by address). */
struct tokio_poll_fn {
	uint64_t entry; /* raw::poll<T,S> */
	uint64_t body;	/* the function rets are in: entry, or the Harness::poll it jumps to */
	/* Where the poll returns: the ret instructions of raw::poll itself, or, when raw::poll is a
	 * tail jump, of the Harness::poll it jumps to. */
	uint64_t rets[TOKIO_MAX_RETS];
	size_t nrets;
	/* Some exits are not in rets: more than TOKIO_MAX_RETS, a tail call out of the function, or
	 * code that could not be decoded. A poll may then end without reaching any of rets. */
	bool rets_partial;
	int vtable; /* index into vtables, -1 when no vtable points at it */
	bool size_disputed; /* its symbol's size contradicts its FDE: not to be probed */
};

#define TOKIO_MAX_DISPUTES 8

/* A hook that .symtab places where the code says otherwise: left out, not probed. */
struct tokio_dispute {
	const char *hook; /* "wake_by_val", "Harness::complete" */
	size_t copies;	  /* of the hook left out (one per task type for Harness::complete) */
	char why[112];	  /* what each source says, of the first copy */
};

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
	size_t ncomplete;
	uint64_t *complete; /* Harness<T,S>::complete copies, deduplicated; none without symbols */
	uint64_t next_id;   /* task::id::Id::next::NEXT_ID (an AtomicU64); 0 when not found */
	/* The thread-local CONTEXT: its address is fsbase + tls_context_offset (x86-64 static
	 * TLS, variant II: negative). has_tls false when not found (needs the symbol, and the
	 * file to be an executable: a shared object's TLS block is placed at load time). */
	bool has_tls;
	int64_t tls_context_offset;
	uint64_t tls_context_size; /* bytes of the CONTEXT variable, 0 when unknown */
};

/*
 * Analyzes the ELF file at path. Returns 0, -ENOENT when the file has no Tokio runtime (no
 * raw::poll and no task vtable), -ENOEXEC when it is not ELF, or another -errno.
 */
int tokio_binary_analyze(const char *path, struct tokio_binary **out);
void tokio_binary_free(struct tokio_binary *tb); /* accepts NULL */

#endif
