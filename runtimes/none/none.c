// SPDX-License-Identifier: MIT
/*
 * "none": no runtime, a plain CPU profile of the threads. Every program has it, so it is the
 * registry's last entry (--runtime auto ends here). The smallest runtime there is: a name and
 * an open; docs/architecture.md starts a new runtime from it.
 */
#include "runtimes/runtime.h"

static int none_open(const struct runtime_ctx *ctx, void **state)
{
	*state = NULL;
	return 0;
}

static void none_close(void *state)
{
}

const struct runtime_ops none_runtime = {
	.name = "none",
	.label = "no runtime",
	.missing = "%s",
	.has_tasks = false,
	.open = none_open,
	.close = none_close,
};
