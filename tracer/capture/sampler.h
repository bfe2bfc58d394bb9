/* SPDX-License-Identifier: MIT */
#ifndef ASYNCPROF_CAPTURE_SAMPLER_H
#define ASYNCPROF_CAPTURE_SAMPLER_H

#include <stdint.h>
#include <stdbool.h>
#include <sys/types.h>

#include "bpf/sampler.h"

/*
 * sampler: loads bpf/sampler.bpf.c, opens a cpu-clock perf event on every online CPU, and
 * hands each sample of the target's threads to a callback from sampler_poll().
 */
struct sampler;

typedef void (*sample_fn)(const struct sample_event *e, size_t size, void *ctx);

struct sampler_opts {
	pid_t pid;
	unsigned int freq_hz;
	bool verbose;
	int64_t tls_offset; /* a runtime's thread-local block to copy with each sample */
	uint32_t tls_bytes; /* 0: none */
	bool thread_tasks;  /* a runtime's probes fill the threads map (sampler_threads_map) */
	bool logical_frames; /* a runtime's probes fill the frames map (sampler_frames_map) */
	uint32_t ring_bytes; /* the sample ring buffer: a power of 2 pages; 0: 4 MiB */
	/* Wake the reader only once an eighth of the ring waits (it then reads at its poll's
	 * timeout, or when another of its fds wakes it); false: at every sample. */
	bool batch_wakeups;
};

/* Returns 0 or -errno; on failure a message naming the cause has been printed. */
int sampler_open(const struct sampler_opts *opts, sample_fn fn, void *ctx,
		 struct sampler **out);
/*
 * Consumes available samples, waiting at most timeout_ms for some, or for one of the wake_fds
 * (at most SAMPLER_WAKE_FDS: another ring buffer's epoll fd, whose events the caller must take
 * before the ring fills) to become readable. Returns the number of samples consumed or -errno
 * (-EINTR when a signal arrived).
 */
#define SAMPLER_WAKE_FDS 4
int sampler_poll(struct sampler *s, int timeout_ms, const int *wake_fds, size_t nwake);
/* An fd that becomes readable when samples wait (to poll() several samplers at once). */
int sampler_fd(struct sampler *s);
/*
 * Samples freq_hz times a second per CPU from now on (the perf events' period). Returns 0, or
 * -errno with the rate unchanged.
 */
int sampler_set_freq(struct sampler *s, unsigned int freq_hz);
/* fd of the per-thread poll-stack map, for the runtime probes to share (bpf_map__reuse_fd). */
int sampler_threads_map(struct sampler *s);
/* fd of the logical-frames map (struct logical_stack by struct logical_key), likewise. */
int sampler_frames_map(struct sampler *s);
/* Sums the per-CPU counters (enum sampler_counter). */
int sampler_counters(struct sampler *s, uint64_t counters[CNT_MAX]);
/* Sums the per-CPU __u64 counter at key of any BPF map (a probe's drop count); 0 when it
 * cannot be read. */
uint64_t percpu_counter_sum(int map_fd, uint32_t key);
/* The same for keys 0 to n - 1, into out[key]. */
void percpu_counters_sum(int map_fd, uint64_t *out, uint32_t n);
void sampler_close(struct sampler *s); /* accepts NULL; detaches everything */

/*
 * Checks that this process may load BPF programs and open system-wide perf events, and that it
 * runs in the host's PID namespace (its probes see the host's ids). Returns 0, -EPERM after
 * printing which capabilities are missing, or -EOPNOTSUPP after saying which namespace.
 */
int check_privileges(void);

#endif
