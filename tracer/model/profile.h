/* SPDX-License-Identifier: MIT */
#ifndef ASYNCPROF_PROFILE_H
#define ASYNCPROF_PROFILE_H

#include <stddef.h>
#include <stdint.h>
#include <stdbool.h>
#include <string.h>

/*
 * profile: the in-memory form of one profile (cpu, wait, ...), shaped like pprof so every writer
 * (pprof, folded, SVG, JSON summary) reads the same tables.
 *
 * Ownership: the profile owns every string, line array and label it stores; callers pass
 * borrowed pointers and the profile copies (interns) them. Strings handed back by the profile
 * live until profile_free() and are never NULL unless documented.
 *
 * Ids: mappings, functions and locations are numbered from 1 in insertion order, so the
 * element with id N is at index N - 1 of its array. Id 0 means "none" (a location with
 * mapping_id 0 has no mapping, e.g. a synthetic frame).
 *
 * Stacks are stored leaf first, as in pprof. A location may carry several lines when
 * functions were inlined: lines[0] is the innermost inlined function, the last line is the
 * function that was really called.
 *
 * Samples with the same stack and the same labels are merged: their values are added.
 */

#define PROFILE_MAX_VALUES 4

/* The file name of the kernel's mapping, as perf and pprof name it (pprof special-cases it). */
#define PROFILE_KERNEL_MAPPING "[kernel.kallsyms]"

struct profile_value_type {
	const char *type; /* e.g. "samples", "cpu" */
	const char *unit; /* e.g. "count", "nanoseconds" */
};

struct profile_mapping {
	uint64_t id;
	uint64_t start, limit, offset;
	const char *file;     /* path as the target sees it, or "[vdso]", "[kernel.kallsyms]" */
	const char *build_id; /* lowercase hex, "" when the file has none */
	bool has_functions, has_filenames, has_line_numbers, has_inline_frames;
};

struct profile_function {
	uint64_t id;
	const char *name;	 /* demangled, human readable; never NULL */
	/* The linkage name (mangled) the object knows the function by; "" when it has none
	 * (synthetic frames such as "[task] ...", names from DWARF alone). Never the name
	 * again: pprof would take such a name for a linkage name and "simplify" it, cutting
	 * out every <...> (a generic task type) and (...). */
	const char *system_name;
	const char *file;	 /* source file, "" when unknown */
	int64_t start_line;
};

struct profile_line {
	uint64_t function_id;
	int64_t line; /* 0 when unknown */
};

struct profile_location {
	uint64_t id;
	uint64_t mapping_id;
	uint64_t address; /* address in the target's address space; 0 for synthetic frames */
	size_t nlines;
	struct profile_line *lines; /* innermost (inlined) first; nlines >= 1 */
};

struct profile_label {
	const char *key;
	const char *str;      /* NULL for a numeric label */
	int64_t num;	      /* used when str is NULL */
	const char *num_unit; /* NULL when none */
};

struct profile_sample {
	size_t nlocations;
	uint64_t *location_ids; /* leaf first; shared by the samples with this stack */
	int64_t values[PROFILE_MAX_VALUES];
	size_t nlabels;
	struct profile_label *labels;
};

struct profile {
	size_t nsample_types;
	struct profile_value_type sample_types[PROFILE_MAX_VALUES];
	size_t default_sample_type; /* index into sample_types */
	struct profile_value_type period_type;
	int64_t period;
	int64_t time_nanos;	/* start of collection, ns since the epoch */
	int64_t duration_nanos; /* length of collection */
	char *comment;		/* pprof's comment (owned), NULL: none */

	size_t nmappings, nfunctions, nlocations, nsamples;
	struct profile_mapping *mappings;
	struct profile_function *functions;
	struct profile_location *locations;
	struct profile_sample *samples;

	struct profile_index *index; /* private: interning tables */
};

/*
 * Creates an empty profile. types has ntypes entries (at most PROFILE_MAX_VALUES); the strings
 * are copied. Returns NULL on allocation failure.
 */
struct profile *profile_new(const struct profile_value_type *types, size_t ntypes,
			    size_t default_type, struct profile_value_type period_type,
			    int64_t period);
void profile_free(struct profile *prof); /* accepts NULL */
/* Multiplies every value of every sample by factor (rounded): what a sampled part stands for. */
void profile_scale(struct profile *prof, double factor);
/* Sets the profile's comment to a copy of s. Returns 0 or -ENOMEM. */
int profile_set_comment(struct profile *prof, const char *s);

/*
 * Moves everything prof holds into a new profile, returned, and leaves prof empty with the same
 * sample types and period (the same object: pointers to it stay valid). NULL on allocation
 * failure, prof then unchanged.
 */
struct profile *profile_take(struct profile *prof);

/* Interns a string; the result lives as long as the profile. NULL stays NULL. */
const char *profile_intern(struct profile *prof, const char *s);

/*
 * The functions below return an id (>= 1), or 0 on allocation failure. Adding an element
 * equal to an existing one returns the existing id.
 *  - mappings are equal when start, limit, offset and file are;
 *  - functions when name, system_name and file are;
 *  - locations when mapping_id, address and lines are.
 */
uint64_t profile_add_mapping(struct profile *prof, const struct profile_mapping *m);
uint64_t profile_add_function(struct profile *prof, const char *name, const char *system_name,
			      const char *file, int64_t start_line);
uint64_t profile_add_location(struct profile *prof, uint64_t mapping_id, uint64_t address,
			      const struct profile_line *lines, size_t nlines);

/*
 * Adds values (sample_types order) to the sample with this stack and these labels, creating it
 * when needed. Returns 0 or -ENOMEM.
 */
int profile_add_sample(struct profile *prof, const uint64_t *location_ids, size_t nlocations,
		       const int64_t *values, const struct profile_label *labels, size_t nlabels);

static inline const struct profile_location *profile_location(const struct profile *prof,
							      uint64_t id)
{
	return id && id <= prof->nlocations ? &prof->locations[id - 1] : NULL;
}

static inline const struct profile_function *profile_function(const struct profile *prof,
							      uint64_t id)
{
	return id && id <= prof->nfunctions ? &prof->functions[id - 1] : NULL;
}

static inline const struct profile_mapping *profile_mapping(const struct profile *prof,
							    uint64_t id)
{
	return id && id <= prof->nmappings ? &prof->mappings[id - 1] : NULL;
}

/*
 * Removes the labels for which drop(sample, label, ctx) says so from every sample, merging the
 * samples that become equal (their values are added). Returns 0 or -ENOMEM (the profile is then
 * unchanged).
 */
int profile_drop_labels(struct profile *prof,
			bool (*drop)(const struct profile_sample *s, const struct profile_label *l,
				     void *ctx),
			void *ctx);

/* True for the kernel's mapping (whose file may carry a suffix after PROFILE_KERNEL_MAPPING). */
static inline bool profile_mapping_is_kernel(const struct profile_mapping *m)
{
	return m && strncmp(m->file, PROFILE_KERNEL_MAPPING,
			    sizeof(PROFILE_KERNEL_MAPPING) - 1) == 0;
}

/* Label lookup on a sample; NULL when absent. */
const struct profile_label *profile_sample_label(const struct profile_sample *s, const char *key);

/* Sum of values[type] over all samples. */
int64_t profile_total(const struct profile *prof, size_t type);

#endif
