// SPDX-License-Identifier: MIT
/* The runtimes asyncprof knows, in the order --runtime auto tries them: Go first (a Go program
 * is nothing else), then markers (a program's own word wins over Tokio's internals found in
 * it), then Tokio; "none" always matches. Adding a runtime is one line here. */
#include <stdio.h>
#include <string.h>

#include "runtime.h"

extern const struct runtime_ops go_runtime, usdt_runtime, tokio_runtime, none_runtime;

const struct runtime_ops *const runtime_registry[] = {
	&go_runtime,
	&usdt_runtime,
	&tokio_runtime,
	&none_runtime,
};
const size_t runtime_registry_size = sizeof(runtime_registry) / sizeof(runtime_registry[0]);

const struct runtime_ops *runtime_find(const char *name)
{
	for (size_t i = 0; i < runtime_registry_size; i++)
		if (strcmp(runtime_registry[i]->name, name) == 0)
			return runtime_registry[i];
	return NULL;
}

const char *runtime_names(char *buf, size_t size)
{
	size_t len = 0;

	buf[0] = 0;
	for (size_t i = 0; i < runtime_registry_size && len < size; i++)
		len += snprintf(buf + len, size - len, "%s%s",
				i == 0				 ? ""
				: i + 1 == runtime_registry_size ? " or "
								 : ", ",
				runtime_registry[i]->name);
	return buf;
}
