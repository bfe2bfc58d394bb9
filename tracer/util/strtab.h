/* SPDX-License-Identifier: MIT */
#ifndef ASYNCPROF_STRTAB_H
#define ASYNCPROF_STRTAB_H

#include <stddef.h>
#include <stdint.h>

#include "hashmap.h"

/*
 * strtab: the string table of a protobuf profile (pprof, OTLP): every string once, referred to
 * by its index; index 0 is "".
 *
 * Strings are borrowed, not copied: they must outlive the table (they normally belong to the
 * profile being encoded). A string that is not well-formed UTF-8 is stored as a repaired copy
 * (invalid bytes become U+FFFD) that the table owns, because Go's decoders, Pyroscope and the
 * OpenTelemetry Collector reject anything else. strs is not const only because protobuf-c's
 * string fields are not: nothing writes through it.
 */
struct strtab {
	char **strs; /* strs[i] is the string of index i; n entries */
	size_t n;
	size_t cap;
	struct hashmap *index; /* string -> index */
	char **owned;	       /* repaired copies */
	size_t nowned, cap_owned;
};

/* Makes an empty table holding "" at index 0. Returns 0 or -ENOMEM. */
int strtab_init(struct strtab *st);
void strtab_free(struct strtab *st); /* also on a table whose init failed (zeroed first) */

/* Index of s, adding it when new; NULL counts as "". Returns -1 on allocation failure. */
int64_t strtab_index(struct strtab *st, const char *s);

#endif
