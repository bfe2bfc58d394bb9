/* SPDX-License-Identifier: MIT */
#ifndef ASYNCPROF_OTLP_VALIDATE_H
#define ASYNCPROF_OTLP_VALIDATE_H

#include <stddef.h>

#include "export/otlp_pb.h"
#include "model/profile.h"

/*
 * otlp_validate: the checks of an OTLP profiles request that protoc --decode cannot make (it
 * only checks the wire format), for the unit tests and tests/tools/otlp_check. From the
 * specification's comments and what receivers (the Collector, Pyroscope) reject:
 *  - a dictionary, each of its tables starting with its zero value (string_table[0] "", a zero
 *    link of 16 + 8 zero bytes or empty ids, the other rows without a field set);
 *  - every index in range of its table (strings, mappings, locations, functions, attributes,
 *    stacks, links), from every message that holds one;
 *  - a sample has values or timestamps, and the same number of each when it has both; the keys
 *    of its attributes are unique;
 *  - links of 16 and 8 bytes; a function names itself (one of its three strings set);
 *  - every string well-formed UTF-8, sample type names without '-';
 *  - resource attribute keys set and unique.
 */

/*
 * Decodes data (gzip'd or not) as a request. Returns 0 and *out (free with otlp_request_free),
 * or -EINVAL with the reason in why.
 */
int otlp_request_unpack(const void *data, size_t len, PbRequest **out, char *why, size_t why_size);
void otlp_request_free(PbRequest *req); /* accepts NULL */

/* Returns 0, or -EINVAL with the first rule broken, and where, in why. */
int otlp_validate(const PbRequest *req, char *why, size_t why_size);

/*
 * Profile p of the first scope of resource r, rebuilt as the profile model with its one sample
 * type (the period type, period and time range too): stacks, functions and lines, mappings, and
 * the sample attributes as labels keyed by the OTLP key (thread.name, asyncprof.task_id). Used
 * to compare a request with the profiles it was made from, through the same writers. The
 * request must have passed otlp_validate(). NULL on allocation failure.
 */
struct profile *otlp_request_profile(const PbRequest *req, size_t r, size_t p);

/* The string of attribute key in resource r, or NULL when absent or not a string. */
const char *otlp_resource_string(const PbRequest *req, size_t r, const char *key);

#endif
