// SPDX-License-Identifier: MIT
/* Programs marked with probes/asyncprof.h behind the runtime interface (the adaptor is usdt.c).
 * The probes fill the sampler's threads and frames maps: a sample carries its task already. */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "runtimes/runtime.h"
#include "usdt.h"

/* C++'s standard library: not where a marked task was spawned. */
static const char *const cxx_library_functions[] = { "std::", "<std::", NULL };
static const struct library_rules usdt_library_rules = { cxx_library_functions, NULL, NULL, NULL };

struct usdt_runtime {
	struct runtime_ctx ctx;
	struct usdt_adaptor *ua;
};

static int rt_open(const struct runtime_ctx *ctx, void **state)
{
	struct usdt_runtime *r = calloc(1, sizeof(*r));
	int err;

	if (!r)
		return -ENOMEM;
	r->ctx = *ctx;
	err = usdt_adaptor_open(ctx->proc, ctx->mode >= MODE_LIFECYCLE, ctx->verbose, &r->ua);
	if (err) {
		if (err != -ENOENT)
			fprintf(stderr, "asyncprof: cannot read the markers of %s: %s\n",
				ctx->proc->exe, strerror(-err));
		free(r);
		return err;
	}
	*state = r;
	return 0;
}

static void rt_configure(void *state, struct runtime_capture *cap)
{
	struct usdt_runtime *r = state;

	cap->thread_tasks = true;
	cap->logical_frames = true;
	cap->wait_profile = r->ctx.mode >= MODE_LIFECYCLE;
	cap->runs = cap->poll_ends = true; /* task_run and task_stop, in every mode */
	usdt_adaptor_configure(r->ua, r->ctx.col);
	collector_set_library_rules(r->ctx.col, &usdt_library_rules);
}

static int rt_attach(void *state, const struct runtime_maps *maps)
{
	return usdt_adaptor_attach(((struct usdt_runtime *)state)->ua, maps->threads_fd,
				   maps->frames_fd);
}

static void rt_describe(void *state, const char *comm, char *buf, size_t size)
{
	snprintf(buf, size, "asyncprof markers found in %s",
		 usdt_description(((struct usdt_runtime *)state)->ua));
}

static int rt_consume(void *state)
{
	return usdt_consume(((struct usdt_runtime *)state)->ua);
}

static size_t rt_warnings(void *state, const char **out, size_t max)
{
	if (runtime_schedstat_warning() && max) {
		out[0] = runtime_schedstat_warning();
		return 1;
	}
	return 0;
}

static void rt_event_loss(void *state, struct event_loss *loss)
{
	usdt_event_loss(((struct usdt_runtime *)state)->ua, loss);
}

static void rt_close(void *state)
{
	struct usdt_runtime *r = state;

	if (!r)
		return;
	usdt_adaptor_close(r->ua);
	free(r);
}

const struct runtime_ops usdt_runtime = {
	.name = "usdt",
	.label = "USDT",
	.missing = "neither %s nor the libraries it has loaded carry asyncprof markers "
		   "(probes/asyncprof.h)",
	.has_tasks = true,
	.open = rt_open,
	.configure = rt_configure,
	.attach = rt_attach,
	.describe = rt_describe,
	.consume = rt_consume,
	.warnings = rt_warnings,
	.event_loss = rt_event_loss,
	.close = rt_close,
};
