/* SPDX-License-Identifier: MIT */
#ifndef ASYNCPROF_STRPOOL_H
#define ASYNCPROF_STRPOOL_H

#include <stddef.h>

/*
 * strpool: one shared, reference-counted copy of each string. Task names and spawn sites repeat
 * across the tasks of one site (a service that leaks ten thousand goroutines from one line has
 * ten thousand tasks, two strings each, and two distinct strings): the task table keeps one
 * copy of each. Thread-safe; a string is freed with its last reference.
 */

/* A reference to the pool's copy of s (NULL for NULL, or when out of memory). */
const char *strpool_ref(const char *s);
/* Drops a reference that strpool_ref() returned; accepts NULL. */
void strpool_unref(const char *s);
/* Distinct strings held (the unit tests). */
size_t strpool_size(void);

#endif
