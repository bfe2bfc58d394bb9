/* SPDX-License-Identifier: MIT */
#ifndef ASYNCPROF_LATENCY_H
#define ASYNCPROF_LATENCY_H

#include <stddef.h>
#include <stdint.h>

/*
 * latency: a distribution of durations in nanoseconds (scheduling latencies, per task and per
 * spawn site) in bounded memory: a long recording of a busy service adds them by the million.
 *
 * Up to LATENCY_EXACT values are kept as they came, so a small distribution has exact
 * percentiles. Beyond, they are counted in a log-linear histogram: values below 16 ns each have
 * a bucket, then every power of two is cut in 16 buckets. A percentile is then the middle of
 * its bucket, within 1/32 (3%) of the true value, and never above the maximum. Only the buckets
 * between the smallest and the largest value are allocated: a few hundred bytes for latencies
 * from microseconds to a second, 8 KB at most. count, sum and max stay exact.
 *
 * A zeroed struct latency is an empty distribution; latency_free() returns it to that state.
 */
#define LATENCY_EXACT 64

struct latency {
	uint64_t count, sum, max;
	uint64_t *values;  /* count <= LATENCY_EXACT: the values; NULL when none */
	uint32_t nvalues, cap_values;
	uint64_t *buckets; /* once count > LATENCY_EXACT: counts of buckets lo..hi */
	uint32_t lo, hi;
};

struct latency_stats {
	uint64_t count, p50, p99, max;
};

/* Adds one value. Returns 0, or -ENOMEM (it then counts in count, sum and max only). */
int latency_add(struct latency *l, uint64_t ns);

/* Adds every value of from to into. Returns 0 or -ENOMEM (as latency_add). */
int latency_merge(struct latency *into, const struct latency *from);

/* Count, nearest-rank median and 99th percentile, and maximum; zeros when empty. */
void latency_summary(const struct latency *l, struct latency_stats *out);

void latency_free(struct latency *l);

#endif
