// SPDX-License-Identifier: MIT
#include "demangle.h"

#include <string.h>
#include <libiberty/demangle.h>

char *demangle(const char *name)
{
	char *out;

	/*
	 * Legacy Rust names are valid Itanium names ending in a "17h<16 hex>E" hash component,
	 * so Rust is tried first: it drops the hash and returns NULL for anything not Rust.
	 * v0 Rust names start with "_R".
	 */
	if (strncmp(name, "_R", 2) == 0 || strncmp(name, "_ZN", 3) == 0) {
		out = rust_demangle(name, DMGL_PARAMS | DMGL_ANSI);
		if (out)
			return out;
	}
	if (strncmp(name, "_Z", 2) != 0)
		return NULL;
	return cplus_demangle(name, DMGL_PARAMS | DMGL_ANSI | DMGL_GNU_V3);
}
