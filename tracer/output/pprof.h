/* SPDX-License-Identifier: MIT */
#ifndef ASYNCPROF_PPROF_H
#define ASYNCPROF_PPROF_H

#include <stddef.h>

#include "model/profile.h"

/*
 * pprof: a profile as a gzip-compressed perftools.profiles.Profile protobuf, the format read by
 * `go tool pprof`, Pyroscope and most profile viewers.
 *
 * Ids, tables and stack order are those of the profile model, so location N in the profile is
 * location N in the file. Every string is written as well-formed UTF-8 (invalid bytes become
 * U+FFFD), because Go's decoder and Pyroscope reject anything else.
 *
 * Readers' quirks the caller should know: Go's decoder drops a numeric label whose num is 0 and
 * that has no num_unit, and reads a string label whose value is "" as such a numeric label.
 */

/*
 * Encodes prof. On success *out is a malloc'd buffer of *len bytes (gzip data) that the caller
 * frees. Returns 0 or -errno (-ENOMEM, -EFBIG for a profile too large to compress at once).
 */
int pprof_encode(const struct profile *prof, void **out, size_t *len);

/* Encodes prof and writes it, whole, as name in the directory dirfd (see output.h). Returns 0
 * or -errno. */
int pprof_write(const struct profile *prof, int dirfd, const char *name);

#endif
