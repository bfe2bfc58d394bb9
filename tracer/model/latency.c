// SPDX-License-Identifier: MIT
#include "latency.h"

#include <errno.h>
#include <stdlib.h>
#include <string.h>

#define SUB_BITS 4 /* 16 buckets per power of two */
#define SUB (1u << SUB_BITS)

static uint32_t bucket_of(uint64_t v)
{
	uint32_t e;

	if (v < SUB)
		return (uint32_t)v;
	e = 63 - __builtin_clzll(v); /* >= SUB_BITS */
	return (e - SUB_BITS + 1) * SUB + (uint32_t)((v >> (e - SUB_BITS)) & (SUB - 1));
}

/* The middle of bucket b. */
static uint64_t bucket_value(uint32_t b)
{
	uint32_t e = b / SUB + SUB_BITS - 1, sub = b % SUB;
	uint64_t width;

	if (b < SUB)
		return b;
	width = 1ULL << (e - SUB_BITS);
	return ((uint64_t)(SUB + sub) << (e - SUB_BITS)) + width / 2;
}

/* Makes room in the histogram for bucket b (allocating it at the first call). */
static int cover(struct latency *l, uint32_t b)
{
	uint32_t lo, hi;
	uint64_t *n;

	if (l->buckets && b >= l->lo && b <= l->hi)
		return 0;
	lo = !l->buckets || b < l->lo ? b : l->lo;
	hi = !l->buckets || b > l->hi ? b : l->hi;
	n = calloc(hi - lo + 1, sizeof(*n));
	if (!n)
		return -ENOMEM;
	if (l->buckets)
		memcpy(n + (l->lo - lo), l->buckets, (l->hi - l->lo + 1) * sizeof(*n));
	free(l->buckets);
	l->buckets = n;
	l->lo = lo;
	l->hi = hi;
	return 0;
}

static int count_in_bucket(struct latency *l, uint64_t v, uint64_t times)
{
	uint32_t b = bucket_of(v);
	int err = cover(l, b);

	if (!err)
		l->buckets[b - l->lo] += times;
	return err;
}

/* Moves the exact values into the histogram. */
static int to_histogram(struct latency *l)
{
	for (uint32_t i = 0; i < l->nvalues; i++)
		if (count_in_bucket(l, l->values[i], 1))
			return -ENOMEM;
	free(l->values);
	l->values = NULL;
	l->nvalues = l->cap_values = 0;
	return 0;
}

/* Stores v, the count-th value (count already includes it). */
static int store(struct latency *l, uint64_t v)
{
	size_t cap = l->cap_values;

	if (l->count <= LATENCY_EXACT && !l->buckets) {
		/* Grow by 4 first: most tasks have a handful of latencies. */
		if (l->nvalues == cap) {
			uint64_t *n;

			cap = cap ? cap * 2 : 4;
			n = realloc(l->values, cap * sizeof(*n));
			if (!n)
				return -ENOMEM;
			l->values = n;
			l->cap_values = cap;
		}
		l->values[l->nvalues++] = v;
		return 0;
	}
	if (!l->buckets && to_histogram(l))
		return -ENOMEM;
	return count_in_bucket(l, v, 1);
}

int latency_add(struct latency *l, uint64_t ns)
{
	l->count++;
	l->sum += ns;
	if (ns > l->max)
		l->max = ns;
	return store(l, ns);
}

int latency_merge(struct latency *into, const struct latency *from)
{
	int err = 0;

	if (!from->count)
		return 0;
	if (!from->buckets) {
		for (uint32_t i = 0; i < from->nvalues; i++)
			err |= latency_add(into, from->values[i]);
		return err ? -ENOMEM : 0;
	}
	into->count += from->count;
	into->sum += from->sum;
	if (from->max > into->max)
		into->max = from->max;
	if (!into->buckets && to_histogram(into))
		return -ENOMEM;
	for (uint32_t b = from->lo; b <= from->hi; b++)
		if (from->buckets[b - from->lo] && cover(into, b))
			return -ENOMEM;
	for (uint32_t b = from->lo; b <= from->hi; b++)
		into->buckets[b - into->lo] += from->buckets[b - from->lo];
	return 0;
}

static int cmp_u64(const void *a, const void *b)
{
	uint64_t x = *(const uint64_t *)a, y = *(const uint64_t *)b;

	return x < y ? -1 : x > y;
}

/* The value of nearest rank p (0 < p <= 1) among n sorted exact values. */
static uint64_t exact_rank(const uint64_t *sorted, size_t n, double p)
{
	size_t rank = (size_t)(p * n + 0.999999);

	if (rank < 1)
		rank = 1;
	return sorted[rank > n ? n - 1 : rank - 1];
}

static uint64_t histogram_rank(const struct latency *l, double p)
{
	uint64_t rank = (uint64_t)(p * l->count + 0.999999), seen = 0, v;

	if (rank < 1)
		rank = 1;
	for (uint32_t b = l->lo; b <= l->hi; b++) {
		seen += l->buckets[b - l->lo];
		if (seen >= rank) {
			v = bucket_value(b);
			return v < l->max ? v : l->max;
		}
	}
	return l->max;
}

void latency_summary(const struct latency *l, struct latency_stats *out)
{
	uint64_t *sorted;

	memset(out, 0, sizeof(*out));
	if (!l->count)
		return;
	out->count = l->count;
	out->max = l->max;
	if (l->buckets) {
		out->p50 = histogram_rank(l, 0.50);
		out->p99 = histogram_rank(l, 0.99);
		return;
	}
	if (!l->nvalues)
		return;
	sorted = malloc(l->nvalues * sizeof(*sorted));
	if (!sorted)
		return;
	memcpy(sorted, l->values, l->nvalues * sizeof(*sorted));
	qsort(sorted, l->nvalues, sizeof(*sorted), cmp_u64);
	out->p50 = exact_rank(sorted, l->nvalues, 0.50);
	out->p99 = exact_rank(sorted, l->nvalues, 0.99);
	free(sorted);
}

void latency_free(struct latency *l)
{
	free(l->values);
	free(l->buckets);
	memset(l, 0, sizeof(*l));
}
