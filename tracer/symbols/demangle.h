/* SPDX-License-Identifier: MIT */
#ifndef ASYNCPROF_DEMANGLE_H
#define ASYNCPROF_DEMANGLE_H

/* Demangles C++ (Itanium) and Rust (legacy and v0) names; returns a malloc'd string or NULL
 * when name is not mangled. */
char *demangle(const char *name);

#endif
