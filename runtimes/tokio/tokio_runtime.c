// SPDX-License-Identifier: MIT
/*
 * Tokio behind the runtime interface: the adaptor (tokio.c) plus what a recording does with its
 * events and with the samples' thread-local copies. Until the current task's place in CONTEXT
 * is calibrated, spawns are entered with their parent's thread-local kept; calibration, from
 * either a task event or a sample, then resolves them all (collector_resolve_parents).
 */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "runtimes/runtime.h"
#include "tokio.h"

/* Rust's and Tokio's code, and Tokio's futures that say why a task waits. */
static const char *const rust_library_functions[] = {
	"tokio::", "<tokio::", "core::",   "<core::", "std::",
	"<std::",  "alloc::",  "<alloc::", "__rust",  NULL,
};
/* Crates from a cargo registry, Rust's own library sources. */
static const char *const rust_library_files[] = {
	"/registry/", "/rustc", "/library/core/", "/library/std/", "/library/alloc/", NULL,
};
static const struct wait_rule tokio_wait_rules[] = {
	{ "tokio::time::", "timer" },
	{ "mpsc::chan::Rx", "channel receive" },
	{ "mpsc::bounded::Receiver", "channel receive" },
	{ "mpsc::unbounded::UnboundedReceiver", "channel receive" },
	{ "mpsc::bounded::Sender", "channel send" },
	{ "oneshot", "oneshot receive" },
	{ "batch_semaphore", "semaphore or mutex" },
	{ "Notified", "notify" },
	{ "JoinHandle", "join" },
	{ "yield_now", "yield" },
	{ "tokio::io::", "I/O" },
	{ "tokio::net::", "I/O" },
	{ NULL, NULL },
};
/* The worker threads' loops: a task polled only from them is a worker's launch task. */
static const char *const tokio_worker_functions[] = { "worker::run", "blocking::pool", NULL };
static const struct library_rules tokio_library_rules = {
	rust_library_functions,
	rust_library_files,
	tokio_wait_rules,
	tokio_worker_functions,
};

struct tokio_runtime {
	struct runtime_ctx ctx;
	struct tokio_adaptor *ta;
	bool wake_on;	    /* the wake probes (lifecycle and full modes) send */
	bool wake_was_off;  /* they were turned off for part of the recording */
	bool spawn_on;	    /* the spawn hook sends its events */
	bool spawn_was_off;
};

static uint64_t decode_task(void *ctx, const uint8_t *tls, uint32_t len)
{
	return tokio_current_task(ctx, tls, len);
}

static const char *type_of_code(void *ctx, uint64_t pc, bool *internal)
{
	return tokio_type_at(ctx, pc, internal);
}

static const char *type_of_spawn(void *ctx, const uint64_t *pcs, size_t n, bool *internal)
{
	return tokio_spawned_type(ctx, pcs, n, internal);
}

/* Feeds the calibration, and once it is done resolves the spawns seen before. */
static void calibrated_now(struct tokio_runtime *r, bool was_calibrated)
{
	if (!was_calibrated && tokio_calibrated(r->ta))
		collector_resolve_parents(r->ctx.col, decode_task, r->ta);
}

static int on_task_event(void *ctx, void *data, size_t size)
{
	struct tokio_runtime *r = ctx;
	const struct task_event *e = data;
	bool was_calibrated, internal = false;
	const char *type = NULL;
	uint64_t current = 0;

	if (size < TASK_EVENT_SMALL)
		return 0;
	was_calibrated = tokio_calibrated(r->ta);
	tokio_observe(r->ta, e);
	calibrated_now(r, was_calibrated);
	if (e->flags & TASK_EV_TLS)
		current = tokio_current_task(r->ta, e->tls, e->tls_len);
	if (e->kind == TASK_RUN || e->kind == TASK_EXIT)
		type = tokio_type_name(r->ta, e->type, &internal);
	collector_task_event(r->ctx.col, e, size, current,
			     tokio_calibrated(r->ta) && (e->flags & TASK_EV_TLS), type, internal);
	return 0;
}

static int rt_open(const struct runtime_ctx *ctx, void **state)
{
	struct tokio_runtime *r = calloc(1, sizeof(*r));
	int err;

	if (!r)
		return -ENOMEM;
	r->ctx = *ctx;
	r->wake_on = true;
	r->spawn_on = true;
	err = tokio_adaptor_open(ctx->proc, ctx->mode, ctx->verbose, &r->ta);
	if (err) {
		if (err != -ENOENT)
			fprintf(stderr, "asyncprof: cannot analyze %s for Tokio: %s\n",
				ctx->proc->exe, strerror(-err));
		free(r);
		return err;
	}
	*state = r;
	return 0;
}

static void rt_configure(void *state, struct runtime_capture *cap)
{
	struct tokio_runtime *r = state;
	struct collector *col = r->ctx.col;

	tokio_tls_block(r->ta, &cap->tls_offset, &cap->tls_bytes);
	/* Only the poll exits (full mode) tell when a task's poll ends on its thread. */
	cap->thread_tasks = r->ctx.mode == MODE_FULL;
	cap->wait_profile = r->ctx.mode >= MODE_LIFECYCLE;
	cap->runs = r->ctx.mode >= MODE_LIFECYCLE;
	cap->poll_ends = r->ctx.mode == MODE_FULL;
	collector_set_runtime(col, tokio_is_poll_frame, r->ctx.mode >= MODE_LIFECYCLE, "task_id");
	collector_set_library_rules(col, &tokio_library_rules);
	if (r->ctx.mode >= MODE_LIFECYCLE)
		collector_set_task_finalizer(col, tokio_finalize_task, r->ta);
	collector_set_task_namer(col, &(struct task_namer){ type_of_code, type_of_spawn, r->ta });
}

static int rt_attach(void *state, const struct runtime_maps *maps)
{
	struct tokio_runtime *r = state;

	return tokio_adaptor_attach(r->ta, maps->threads_fd, maps->duty, on_task_event, r);
}

static void rt_describe(void *state, const char *comm, char *buf, size_t size)
{
	snprintf(buf, size, "Tokio runtime found in %s", comm);
}

static int rt_consume(void *state)
{
	return tokio_consume(((struct tokio_runtime *)state)->ta);
}

static int rt_wait_fd(void *state)
{
	return tokio_wait_fd(((struct tokio_runtime *)state)->ta);
}

static uint64_t rt_sample_task(void *state, const struct sample_event *e)
{
	struct tokio_runtime *r = state;
	bool was_calibrated;

	if (e->task)
		return e->task; /* exact: from the poll hooks (full mode) */
	if (!e->tls_len)
		return 0;
	was_calibrated = tokio_calibrated(r->ta);
	if (!was_calibrated) {
		tokio_observe_sample(r->ta, e->tid, e->tls, e->tls_len);
		calibrated_now(r, was_calibrated);
	}
	return tokio_current_task(r->ta, e->tls, e->tls_len);
}

static void rt_stop(void *state)
{
	tokio_adaptor_stop(((struct tokio_runtime *)state)->ta);
}

static void rt_finish(void *state)
{
	struct tokio_runtime *r = state;

	if (r->ctx.mode >= MODE_LIFECYCLE)
		tokio_read_task_counters(r->ta, collector_tasks(r->ctx.col), true);
}

/* Live, only the tasks known: an entry may be a task that exited and was folded meanwhile. */
static void rt_refresh(void *state)
{
	struct tokio_runtime *r = state;

	if (r->ctx.mode >= MODE_LIFECYCLE)
		tokio_read_task_counters(r->ta, collector_tasks(r->ctx.col), false);
}

static size_t rt_warnings(void *state, const char **out, size_t max)
{
	struct tokio_runtime *r = state;
	size_t n = 0;

	if (r->ctx.mode >= MODE_LIFECYCLE && runtime_schedstat_warning() && max)
		out[n++] = runtime_schedstat_warning();
	if (r->wake_was_off && n < max)
		out[n++] = "the wake probes were turned off for part of the recording: the waits and "
			   "scheduling latencies of then are counted up to the next poll, not the "
			   "wake-up";
	if (r->spawn_was_off && n < max)
		out[n++] = "the spawn events were turned off for part of the recording: the tasks "
			   "spawned then have no parent, spawn site or name from their spawn";
	return n + tokio_warnings(r->ta, out + n, max - n);
}

static void rt_event_loss(void *state, struct event_loss *loss)
{
	tokio_event_loss(((struct tokio_runtime *)state)->ta, loss);
}

static json_t *rt_report(void *state)
{
	return tokio_report_json(((struct tokio_runtime *)state)->ta);
}

/* The groups: the spawn events, and the wake-ups in the modes that attach them. */
static size_t rt_probe_groups(void *state, struct runtime_probe_group *out, size_t max)
{
	struct tokio_runtime *r = state;
	const struct collector_stats *st = collector_stats(r->ctx.col);
	size_t n = 0;

	if (n < max)
		out[n] = (struct runtime_probe_group){ "spawn", r->spawn_on,
						       st->task_events_by_kind[TASK_CREATE] };
	n++;
	if (r->ctx.mode < MODE_LIFECYCLE)
		return n;
	if (n < max)
		out[n] = (struct runtime_probe_group){ "wake", r->wake_on,
						       st->task_events_by_kind[TASK_RUNNABLE] };
	return n + 1;
}

static int rt_set_probe_group(void *state, const char *name, bool on)
{
	struct tokio_runtime *r = state;
	bool spawn = strcmp(name, "spawn") == 0;
	int err;

	if (!spawn && (r->ctx.mode < MODE_LIFECYCLE || strcmp(name, "wake") != 0))
		return -ENOENT;
	err = tokio_set_probe_group(r->ta, spawn ? TOKIO_GROUP_SPAWN : TOKIO_GROUP_WAKE, on);
	if (err)
		return err;
	if (spawn) {
		r->spawn_on = on;
		r->spawn_was_off |= !on;
	} else {
		r->wake_on = on;
		r->wake_was_off |= !on;
	}
	return 0;
}

static int rt_set_hot(void *state, bool on)
{
	return tokio_set_hot(((struct tokio_runtime *)state)->ta, on);
}

static void rt_hot_hits(void *state, uint64_t hits[2])
{
	tokio_hot_hits(((struct tokio_runtime *)state)->ta, hits);
}

static void rt_hot_run_time(void *state, uint64_t *ns, uint64_t *runs)
{
	tokio_hot_run_time(((struct tokio_runtime *)state)->ta, ns, runs);
}

static void rt_close(void *state)
{
	struct tokio_runtime *r = state;

	if (!r)
		return;
	tokio_adaptor_close(r->ta);
	free(r);
}

const struct runtime_ops tokio_runtime = {
	.name = "tokio",
	.label = "Tokio",
	.missing = "%s has no Tokio runtime (no task vtables or raw::poll functions)",
	.has_tasks = true,
	.open = rt_open,
	.configure = rt_configure,
	.attach = rt_attach,
	.describe = rt_describe,
	.consume = rt_consume,
	.wait_fd = rt_wait_fd,
	.sample_task = rt_sample_task,
	.stop = rt_stop,
	.finish = rt_finish,
	.refresh = rt_refresh,
	.warnings = rt_warnings,
	.event_loss = rt_event_loss,
	.report = rt_report,
	.probe_groups = rt_probe_groups,
	.set_probe_group = rt_set_probe_group,
	.set_hot = rt_set_hot,
	.hot_hits = rt_hot_hits,
	.hot_run_time = rt_hot_run_time,
	.close = rt_close,
};
