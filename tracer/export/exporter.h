/* SPDX-License-Identifier: MIT */
#ifndef ASYNCPROF_EXPORTER_H
#define ASYNCPROF_EXPORTER_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

/*
 * exporter: delivers OTLP requests (one per window, already encoded and gzip'd) to a Collector
 * over OTLP/HTTP: POST ENDPOINT/v1development/profiles, Content-Type application/x-protobuf,
 * Content-Encoding gzip, the user's extra headers (an authorization, a tenant).
 *
 * It runs on a thread of its own, so that recording never waits for the network:
 * exporter_submit() only queues. The queue is bounded, in windows and in bytes: when a new
 * window does not fit, the oldest windows are dropped (a window being sent too: its request is
 * cut short), since a profile of the last minutes is worth more than one of an hour ago. A
 * window larger than the whole queue is dropped at once. Memory is therefore bounded by the
 * queue's byte limit, whatever the Collector does.
 *
 * A request that fails at the transport (refused, reset, no answer within the request timeout)
 * or with a status the OTLP specification calls retryable (429, 502, 503, 504) is tried again
 * after an exponential backoff (1 s doubling to 30 s, with jitter, or the server's Retry-After)
 * for as long as retry_ms allows; any other status (400, 401, 500, ...) drops the window: the
 * specification says not to retry them. Every drop is counted, with why; the thread logs the
 * drops (unless quiet) at once the first time, then at most once a minute, and the counts are for
 * the caller to export with its next window (exporter_stats()).
 */
struct exporter;

struct exporter_opts {
	const char *endpoint;	    /* http:// or https:// URL, with or without the signal's path */
	const char *const *headers; /* KEY=VALUE */
	size_t nheaders;
	size_t max_windows;	 /* queue bound; 0: 16 */
	size_t max_bytes;	 /* queue bound; 0: 32 MiB */
	unsigned int timeout_ms; /* one request; 0: 10 s */
	unsigned int retry_ms;	 /* how long a window is retried; 0: 5 minutes */
	bool verbose;		 /* log each request */
	bool quiet;		 /* no drop log: the caller says what became of its windows */
};

struct exporter_stats {
	uint64_t sent_windows, sent_bytes;
	uint64_t dropped_windows, dropped_bytes; /* every drop, for any reason */
	uint64_t dropped_full;			 /* of which: the queue was full */
	uint64_t dropped_rejected;		 /* of which: a status that is not retried */
	uint64_t dropped_retries;		 /* of which: retried for retry_ms in vain */
	uint64_t dropped_exit;			 /* of which: still queued at exporter_free() */
	uint64_t attempts, failures;		 /* requests made, and those that failed */
	uint64_t rejected_profiles;		 /* a 2xx's partial success: profiles refused */
	size_t queued_windows, queued_bytes;
	char last_error[256]; /* the last failure, "" when none */
};

/*
 * Checks the options and starts the thread. On a bad endpoint or header returns -EINVAL with a
 * sentence in why; -ENOMEM, or another -errno from the thread's creation.
 */
int exporter_new(const struct exporter_opts *opts, struct exporter **out, char *why,
		 size_t why_size);

/*
 * Queues body (len bytes, gzip'd ExportProfilesServiceRequest), taking it over (malloc'd; freed
 * by the exporter). Never blocks on the network. Returns 0, or -EFBIG when the window alone is
 * larger than the queue (then dropped and counted).
 */
int exporter_submit(struct exporter *ex, void *body, size_t len);

/*
 * Waits until every queued window is delivered or dropped, for at most timeout_ms. Returns 0,
 * or -ETIMEDOUT with windows still queued (they stay queued).
 */
int exporter_flush(struct exporter *ex, unsigned int timeout_ms);

void exporter_stats(struct exporter *ex, struct exporter_stats *st);

/* The URL requests go to. */
const char *exporter_url(const struct exporter *ex);

/*
 * Stops the thread, cutting a request under way short, and drops (counting them in
 * dropped_exit) the windows still queued; *final, when not NULL, receives the last stats.
 * Accepts NULL.
 */
void exporter_free(struct exporter *ex, struct exporter_stats *final);

#endif
