/* SPDX-License-Identifier: MIT */
#ifndef ASYNCPROF_OTLP_H
#define ASYNCPROF_OTLP_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "model/profile.h"

/*
 * otlp: profiles as an OTLP ExportProfilesServiceRequest (opentelemetry-proto v1.10/v1.11
 * layout, tracer/proto/opentelemetry/), the body an OpenTelemetry Collector or Pyroscope takes
 * on /v1development/profiles.
 *
 * A request carries windows of processes: each process becomes one ResourceProfiles (its
 * resource attributes: see resource.h) with one ScopeProfiles ("asyncprof"), and each of its
 * profiles becomes one OTLP Profile per sample type, since an OTLP Profile has a single one:
 * the CPU profile (samples/count, cpu/nanoseconds) gives two Profiles with the same samples,
 * its period type and period, and the profile's time range.
 *
 * Everything the profiles refer to goes once into the request's dictionary, shared by all its
 * processes and profiles: mappings (with their GNU build id as the attribute
 * process.executable.build_id.gnu and pprof's has_* flags), locations (attribute
 * profile.frame.type: kernel or native, none for a synthetic frame such as a task's), functions,
 * stacks (leaf first, the task ancestry frames included, as in pprof), strings and attributes.
 * Every table starts with its zero value, so index 0 means "none". Samples keep one aggregated
 * value (a sample whose value for the type is 0 is left out of that type's Profile). Labels
 * become sample attributes: thread_id is thread.id, thread_name is thread.name, reason is
 * asyncprof.wait_reason, and any other label L is asyncprof.L (asyncprof.task_id,
 * asyncprof.goid, asyncprof.parent_id, ...), with its numeric unit when it has one.
 */

enum otlp_value_kind { OTLP_STRING, OTLP_INT, OTLP_BOOL };

/* An attribute: a borrowed key and a string (kind OTLP_STRING) or an integer or boolean. */
struct otlp_attr {
	const char *key;
	enum otlp_value_kind kind;
	const char *str;
	int64_t num;
};

/* One process's window. Every pointer is borrowed for the call. */
struct otlp_process {
	const struct otlp_attr *resource; /* resource attributes */
	size_t nresource;
	const struct profile *const *profiles; /* each with its time_nanos and duration_nanos */
	size_t nprofiles;
	const struct otlp_attr *profile_attrs; /* attributes of every Profile (export drops) */
	size_t nprofile_attrs;
};

/*
 * Encodes the processes as one ExportProfilesServiceRequest. On success *out is a malloc'd
 * buffer of *len bytes of protobuf (not compressed) that the caller frees. Returns 0 or
 * -errno: -ENOMEM, -EFBIG when a table would pass the format's 2^31 entries.
 */
int otlp_encode(const struct otlp_process *procs, size_t nprocs, void **out, size_t *len);

#endif
