// SPDX-License-Identifier: MIT
/*
 * Design note: one lock guards the queue and the counts; the thread holds it only between
 * requests, never during one, so exporter_submit() waits at most for a few pointer moves.
 *
 * The window being sent stays at the head of the queue (its bytes still count) with sending
 * set. If exporter_submit() must drop it to make room, it unlinks it, counts the drop, sets
 * abandoned and raises abort_request; libcurl's progress callback sees the flag within a
 * fraction of a second and ends the request, and the thread, which still holds the pointer,
 * frees the window. exporter_free() raises the same flag to stop a request under way.
 */
#include "exporter.h"
#include "otlp_pb.h"
#include "util/version.h"

#include <ctype.h>
#include <curl/curl.h>
#include <errno.h>
#include <pthread.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#define SIGNAL_PATH "/v1development/profiles"
#define DEFAULT_WINDOWS 16
#define DEFAULT_BYTES (32u << 20)
#define DEFAULT_TIMEOUT_MS 10000
#define DEFAULT_RETRY_MS (5 * 60 * 1000)
#define BACKOFF_FIRST_MS 1000
#define BACKOFF_MAX_MS 30000
#define LOG_EVERY_NS (60 * 1000000000ULL)
#define MAX_RESPONSE (64 * 1024)

struct queued {
	struct queued *next;
	void *body;
	size_t len;
	uint64_t first_try_ns; /* 0 until tried */
	bool sending, abandoned;
};

struct exporter {
	pthread_mutex_t lock;
	pthread_cond_t cond; /* the queue changed, a request ended, or stop */
	pthread_t thread;
	struct queued *head, *tail;
	struct exporter_stats st;
	uint64_t next_try_ns, backoff_ms;
	bool stop;
	atomic_int abort_request;

	/* what the drops were when they were last logged */
	uint64_t logged_windows, logged_bytes, logged_full, logged_rejected, logged_retries;
	uint64_t last_log_ns;

	size_t max_windows, max_bytes;
	unsigned int timeout_ms, retry_ms;
	bool verbose, quiet;
	unsigned int seed;
	char *url;
	struct curl_slist *headers;
	CURL *curl;
	char curl_error[CURL_ERROR_SIZE];
	char *response; /* the body of the last answer, up to MAX_RESPONSE */
	size_t response_len;
};

static uint64_t now_ns(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (uint64_t)ts.tv_sec * 1000000000ULL + (uint64_t)ts.tv_nsec;
}

static int fail(char *why, size_t size, const char *fmt, const char *arg)
{
	snprintf(why, size, fmt, arg);
	return -EINVAL;
}

/* ---- options ------------------------------------------------------------------------------- */

/* The URL of the profiles signal under endpoint (kept when it already names it). */
static int make_url(const char *endpoint, char **url, char *why, size_t size)
{
	CURLU *u = curl_url();
	char *scheme = NULL, *host = NULL, *path = NULL, *full = NULL;
	size_t plen, slen = strlen(SIGNAL_PATH);
	int err = -EINVAL;

	if (!u)
		return -ENOMEM;
	if (curl_url_set(u, CURLUPART_URL, endpoint, 0) ||
	    curl_url_get(u, CURLUPART_SCHEME, &scheme, 0) ||
	    curl_url_get(u, CURLUPART_HOST, &host, 0) || !*host) {
		fail(why, size, "'%s' is not a URL (http://HOST:PORT)", endpoint);
		goto out;
	}
	if (strcmp(scheme, "http") && strcmp(scheme, "https")) {
		fail(why, size, "'%s' is not an http:// or https:// URL", endpoint);
		goto out;
	}
	if (curl_url_get(u, CURLUPART_PATH, &path, 0)) {
		err = -ENOMEM;
		goto out;
	}
	plen = strlen(path);
	while (plen && path[plen - 1] == '/')
		path[--plen] = '\0';
	if (plen < slen || strcmp(path + plen - slen, SIGNAL_PATH)) {
		if (asprintf(&full, "%s%s", path, SIGNAL_PATH) < 0) {
			full = NULL;
			err = -ENOMEM;
			goto out;
		}
		if (curl_url_set(u, CURLUPART_PATH, full, 0)) {
			err = -ENOMEM;
			goto out;
		}
	}
	if (curl_url_get(u, CURLUPART_URL, url, 0)) {
		err = -ENOMEM;
		goto out;
	}
	err = 0;
out:
	free(full);
	curl_free(scheme);
	curl_free(host);
	curl_free(path);
	curl_url_cleanup(u);
	return err;
}

/* RFC 9110's token characters: what a header name may hold. */
static bool is_token(const char *s, size_t len)
{
	if (!len)
		return false;
	for (size_t i = 0; i < len; i++)
		if (!isalnum((unsigned char)s[i]) && !strchr("!#$%&'*+-.^_`|~", s[i]))
			return false;
	return true;
}

/* "KEY=VALUE" to a "KEY: VALUE" line of ex->headers. */
static int add_header(struct exporter *ex, const char *arg, char *why, size_t size)
{
	static const char *const ours[] = { "content-type", "content-encoding", "content-length" };
	const char *eq = strchr(arg, '=');
	struct curl_slist *list;
	char *line;

	if (!eq || !is_token(arg, (size_t)(eq - arg)))
		return fail(why, size, "'%s' is not KEY=VALUE with a header name as KEY", arg);
	if (strpbrk(eq + 1, "\r\n"))
		return fail(why, size, "the value of '%s' holds a line break", arg);
	for (size_t i = 0; i < sizeof(ours) / sizeof(ours[0]); i++)
		if (strlen(ours[i]) == (size_t)(eq - arg) && !strncasecmp(arg, ours[i], eq - arg))
			return fail(why, size, "'%s': asyncprof sets that header itself", arg);
	if (asprintf(&line, "%.*s: %s", (int)(eq - arg), arg, eq + 1) < 0)
		return -ENOMEM;
	list = curl_slist_append(ex->headers, line);
	free(line);
	if (!list)
		return -ENOMEM;
	ex->headers = list;
	return 0;
}

/* ---- one request --------------------------------------------------------------------------- */

enum outcome { DELIVERED, RETRY, REJECTED };

static size_t on_response(char *data, size_t size, size_t n, void *arg)
{
	struct exporter *ex = arg;
	size_t len = size * n, room = MAX_RESPONSE - ex->response_len;
	size_t take = len < room ? len : room;

	if (take) {
		char *p = realloc(ex->response, ex->response_len + take + 1);

		if (!p)
			return 0; /* ends the transfer: treated as a transport failure */
		memcpy(p + ex->response_len, data, take);
		ex->response = p;
		ex->response_len += take;
		p[ex->response_len] = '\0';
	}
	return len;
}

static int on_progress(void *arg, curl_off_t dltotal, curl_off_t dlnow, curl_off_t ultotal,
		       curl_off_t ulnow)
{
	struct exporter *ex = arg;

	return atomic_load(&ex->abort_request);
}

/* A 2xx may still say that the Collector refused some profiles (partial success). */
static void read_partial_success(struct exporter *ex, uint64_t *rejected, char *msg, size_t size)
{
	PbResponse *r;

	*rejected = 0;
	if (!ex->response_len)
		return;
	r = (PbResponse *)protobuf_c_message_unpack(&PB_RESPONSE_DESCRIPTOR, NULL, ex->response_len,
						    (const uint8_t *)ex->response);
	if (!r)
		return; /* not protobuf (a JSON or empty answer): nothing to read */
	if (r->partial_success && r->partial_success->rejected_profiles > 0) {
		*rejected = (uint64_t)r->partial_success->rejected_profiles;
		snprintf(msg, size, "the Collector rejected %llu profiles: %s",
			 (unsigned long long)*rejected,
			 r->partial_success->error_message ? r->partial_success->error_message
							   : "");
	}
	protobuf_c_message_free_unpacked(&r->base, NULL);
}

/* What the answer's body says, for a message: its first line, if it is text. */
static void response_excerpt(const struct exporter *ex, char *out, size_t size)
{
	size_t n = 0;

	out[0] = '\0';
	if (!ex->response_len)
		return;
	for (; n < ex->response_len && n + 1 < size && n < 120; n++) {
		unsigned char c = (unsigned char)ex->response[n];

		if (c == '\n' || c == '\r')
			break;
		if (c < 0x20 || c > 0x7e)
			return; /* binary: a protobuf Status, not worth quoting */
	}
	snprintf(out, size, ": %.*s", (int)n, ex->response);
}

/* Sends w; on failure says why in error and, for a retry, how long the server asks to wait. */
static enum outcome post(struct exporter *ex, const struct queued *w, char *error, size_t size,
			 uint64_t *retry_after_s, uint64_t *rejected)
{
	curl_off_t retry_after = 0;
	long status = 0;
	char excerpt[128];
	CURLcode rc;

	*retry_after_s = 0;
	*rejected = 0;
	ex->response_len = 0;
	ex->curl_error[0] = '\0';
	curl_easy_setopt(ex->curl, CURLOPT_POSTFIELDS, w->body);
	curl_easy_setopt(ex->curl, CURLOPT_POSTFIELDSIZE_LARGE, (curl_off_t)w->len);
	rc = curl_easy_perform(ex->curl);
	if (rc != CURLE_OK) {
		snprintf(error, size, "%s",
			 ex->curl_error[0] ? ex->curl_error : curl_easy_strerror(rc));
		return RETRY;
	}
	curl_easy_getinfo(ex->curl, CURLINFO_RESPONSE_CODE, &status);
	if (status >= 200 && status < 300) {
		read_partial_success(ex, rejected, error, size);
		return DELIVERED;
	}
	response_excerpt(ex, excerpt, sizeof(excerpt));
	snprintf(error, size, "HTTP status %ld%s", status, excerpt);
	if (status == 429 || status == 502 || status == 503 || status == 504) {
		curl_easy_getinfo(ex->curl, CURLINFO_RETRY_AFTER, &retry_after);
		*retry_after_s = retry_after > 0 ? (uint64_t)retry_after : 0;
		return RETRY;
	}
	return REJECTED;
}

/* ---- the queue (lock held) ----------------------------------------------------------------- */

static void unlink_head(struct exporter *ex)
{
	struct queued *w = ex->head;

	ex->head = w->next;
	if (!ex->head)
		ex->tail = NULL;
	ex->st.queued_windows--;
	ex->st.queued_bytes -= w->len;
}

static void count_drop(struct exporter *ex, const struct queued *w, uint64_t *reason)
{
	ex->st.dropped_windows++;
	ex->st.dropped_bytes += w->len;
	(*reason)++;
}

static void free_window(struct queued *w)
{
	free(w->body);
	free(w);
}

/* Drops the head: freed now, or by the thread when it is being sent. */
static void drop_head(struct exporter *ex, uint64_t *reason)
{
	struct queued *w = ex->head;

	unlink_head(ex);
	count_drop(ex, w, reason);
	if (w->sending) {
		w->abandoned = true;
		atomic_store(&ex->abort_request, 1);
	} else {
		free_window(w);
	}
}

/* The first drop at once, then at most one line a minute: a down Collector is not news. */
static void log_drops(struct exporter *ex, uint64_t now)
{
	uint64_t windows = ex->st.dropped_windows - ex->logged_windows;

	if (ex->quiet || !windows || (ex->last_log_ns && now - ex->last_log_ns < LOG_EVERY_NS))
		return;
	fprintf(
	    stderr,
	    "asyncprof: OTLP export to %s: %llu window%s (%llu bytes) dropped%s (queue full %llu, "
	    "rejected %llu, retried in vain %llu); last error: %s\n",
	    ex->url, (unsigned long long)windows, windows == 1 ? "" : "s",
	    (unsigned long long)(ex->st.dropped_bytes - ex->logged_bytes),
	    ex->last_log_ns ? " in the last minute" : "",
	    (unsigned long long)(ex->st.dropped_full - ex->logged_full),
	    (unsigned long long)(ex->st.dropped_rejected - ex->logged_rejected),
	    (unsigned long long)(ex->st.dropped_retries - ex->logged_retries),
	    ex->st.last_error[0] ? ex->st.last_error : "none");
	ex->logged_windows = ex->st.dropped_windows;
	ex->logged_bytes = ex->st.dropped_bytes;
	ex->logged_full = ex->st.dropped_full;
	ex->logged_rejected = ex->st.dropped_rejected;
	ex->logged_retries = ex->st.dropped_retries;
	ex->last_log_ns = now;
}

static void wait_until(struct exporter *ex, uint64_t deadline_ns)
{
	struct timespec ts = { .tv_sec = (time_t)(deadline_ns / 1000000000ULL),
			       .tv_nsec = (long)(deadline_ns % 1000000000ULL) };

	pthread_cond_timedwait(&ex->cond, &ex->lock, &ts);
}

/* The next retry: the server's Retry-After (up to a minute), else the backoff, jittered. */
static void schedule_retry(struct exporter *ex, uint64_t now, uint64_t retry_after_s)
{
	uint64_t ms = ex->backoff_ms;

	/* +-20%, so that a fleet of agents does not retry in step */
	ms = ms * (80 + (uint64_t)rand_r(&ex->seed) % 41) / 100;
	if (retry_after_s)
		ms = (retry_after_s < 60 ? retry_after_s : 60) * 1000;
	ex->next_try_ns = now + ms * 1000000ULL;
	ex->backoff_ms = ex->backoff_ms * 2 < BACKOFF_MAX_MS ? ex->backoff_ms * 2 : BACKOFF_MAX_MS;
}

/* After a request for w (the lock taken again). */
static void settle(struct exporter *ex, struct queued *w, enum outcome how, const char *error,
		   uint64_t retry_after_s, uint64_t rejected)
{
	/* Cut short by us (its window dropped, or the exporter stopping): not the Collector's
	 * failure. */
	bool aborted = atomic_load(&ex->abort_request);

	uint64_t now = now_ns();

	ex->st.attempts++;
	if (how != DELIVERED && !aborted) {
		ex->st.failures++;
		snprintf(ex->st.last_error, sizeof(ex->st.last_error), "%s", error);
	} else if (rejected) {
		ex->st.rejected_profiles += rejected;
		snprintf(ex->st.last_error, sizeof(ex->st.last_error), "%s", error);
	}
	if (how != RETRY)
		ex->backoff_ms = BACKOFF_FIRST_MS; /* the Collector answered */
	if (w->abandoned) {
		if (how == DELIVERED) {
			/* It made it before the request could be cut: not a drop after all. */
			ex->st.dropped_windows--;
			ex->st.dropped_bytes -= w->len;
			ex->st.dropped_full--;
			ex->st.sent_windows++;
			ex->st.sent_bytes += w->len;
		}
		free_window(w);
		return;
	}
	w->sending = false;
	if (how == DELIVERED) {
		ex->st.sent_windows++;
		ex->st.sent_bytes += w->len;
		unlink_head(ex);
		free_window(w);
	} else if (how == REJECTED) {
		drop_head(ex, &ex->st.dropped_rejected);
	} else if (now - w->first_try_ns >= (uint64_t)ex->retry_ms * 1000000ULL) {
		drop_head(ex, &ex->st.dropped_retries);
		schedule_retry(ex, now, retry_after_s);
	} else {
		schedule_retry(ex, now, retry_after_s);
	}
}

static void *run(void *arg)
{
	struct exporter *ex = arg;

	pthread_mutex_lock(&ex->lock);
	while (!ex->stop) {
		uint64_t now = now_ns(), retry_after_s, rejected;
		enum outcome how;
		struct queued *w;
		char error[256] = "";

		log_drops(ex, now);
		if (!ex->head || now < ex->next_try_ns) {
			uint64_t wake = now + 1000000000ULL; /* for the log's minute */

			if (ex->head && ex->next_try_ns < wake)
				wake = ex->next_try_ns;
			wait_until(ex, wake);
			continue;
		}
		w = ex->head;
		w->sending = true;
		if (!w->first_try_ns)
			w->first_try_ns = now;
		atomic_store(&ex->abort_request, 0);
		pthread_mutex_unlock(&ex->lock);

		how = post(ex, w, error, sizeof(error), &retry_after_s, &rejected);
		if (ex->verbose)
			fprintf(stderr, "asyncprof: OTLP: POST %s, %zu bytes: %s\n", ex->url,
				w->len, how == DELIVERED ? "delivered" : error);

		pthread_mutex_lock(&ex->lock);
		settle(ex, w, how, error, retry_after_s, rejected);
		pthread_cond_broadcast(&ex->cond);
	}
	pthread_mutex_unlock(&ex->lock);
	return NULL;
}

/* ---- API ----------------------------------------------------------------------------------- */

static void init_curl(void)
{
	curl_global_init(CURL_GLOBAL_DEFAULT);
}

static int setup_curl(struct exporter *ex)
{
	static const char *const fixed[] = { "Content-Type: application/x-protobuf",
					     "Content-Encoding: gzip",
					     /* no 100-continue round trip before large bodies */
					     "Expect:" };
	struct curl_slist *list;

	for (size_t i = 0; i < sizeof(fixed) / sizeof(fixed[0]); i++) {
		list = curl_slist_append(ex->headers, fixed[i]);
		if (!list)
			return -ENOMEM;
		ex->headers = list;
	}
	ex->curl = curl_easy_init();
	if (!ex->curl)
		return -ENOMEM;
	curl_easy_setopt(ex->curl, CURLOPT_URL, ex->url);
	curl_easy_setopt(ex->curl, CURLOPT_HTTPHEADER, ex->headers);
	curl_easy_setopt(ex->curl, CURLOPT_USERAGENT, "asyncprof/" ASYNCPROF_VERSION);
	curl_easy_setopt(ex->curl, CURLOPT_TIMEOUT_MS, (long)ex->timeout_ms);
	curl_easy_setopt(ex->curl, CURLOPT_NOSIGNAL, 1L); /* no SIGALRM in a threaded program */
	curl_easy_setopt(ex->curl, CURLOPT_ERRORBUFFER, ex->curl_error);
	curl_easy_setopt(ex->curl, CURLOPT_WRITEFUNCTION, on_response);
	curl_easy_setopt(ex->curl, CURLOPT_WRITEDATA, ex);
	curl_easy_setopt(ex->curl, CURLOPT_NOPROGRESS, 0L);
	curl_easy_setopt(ex->curl, CURLOPT_XFERINFOFUNCTION, on_progress);
	curl_easy_setopt(ex->curl, CURLOPT_XFERINFODATA, ex);
	curl_easy_setopt(ex->curl, CURLOPT_PROTOCOLS_STR, "http,https");
	return 0;
}

static void destroy(struct exporter *ex)
{
	while (ex->head) {
		struct queued *w = ex->head;

		unlink_head(ex);
		free_window(w);
	}
	if (ex->curl)
		curl_easy_cleanup(ex->curl);
	curl_slist_free_all(ex->headers);
	curl_free(ex->url);
	free(ex->response);
	pthread_cond_destroy(&ex->cond);
	pthread_mutex_destroy(&ex->lock);
	free(ex);
}

int exporter_new(const struct exporter_opts *opts, struct exporter **out, char *why,
		 size_t why_size)
{
	static pthread_once_t curl_once = PTHREAD_ONCE_INIT;
	pthread_condattr_t attr;
	struct exporter *ex;
	int err;

	pthread_once(&curl_once, init_curl);
	ex = calloc(1, sizeof(*ex));
	if (!ex)
		return -ENOMEM;
	pthread_mutex_init(&ex->lock, NULL);
	pthread_condattr_init(&attr);
	pthread_condattr_setclock(&attr, CLOCK_MONOTONIC);
	pthread_cond_init(&ex->cond, &attr);
	pthread_condattr_destroy(&attr);
	ex->max_windows = opts->max_windows ? opts->max_windows : DEFAULT_WINDOWS;
	ex->max_bytes = opts->max_bytes ? opts->max_bytes : DEFAULT_BYTES;
	ex->timeout_ms = opts->timeout_ms ? opts->timeout_ms : DEFAULT_TIMEOUT_MS;
	ex->retry_ms = opts->retry_ms ? opts->retry_ms : DEFAULT_RETRY_MS;
	ex->verbose = opts->verbose;
	ex->quiet = opts->quiet;
	ex->backoff_ms = BACKOFF_FIRST_MS;
	ex->seed = (unsigned int)now_ns() ^ (unsigned int)getpid();
	err = make_url(opts->endpoint, &ex->url, why, why_size);
	for (size_t i = 0; i < opts->nheaders && !err; i++)
		err = add_header(ex, opts->headers[i], why, why_size);
	if (!err)
		err = setup_curl(ex);
	if (!err)
		err = -pthread_create(&ex->thread, NULL, run, ex);
	if (err) {
		destroy(ex);
		return err;
	}
	*out = ex;
	return 0;
}

int exporter_submit(struct exporter *ex, void *body, size_t len)
{
	struct queued *w = calloc(1, sizeof(*w));

	if (!w) {
		free(body);
		return -ENOMEM;
	}
	w->body = body;
	w->len = len;
	pthread_mutex_lock(&ex->lock);
	if (len > ex->max_bytes) {
		count_drop(ex, w, &ex->st.dropped_full);
		snprintf(ex->st.last_error, sizeof(ex->st.last_error),
			 "a window of %zu bytes is larger than the queue (%zu bytes)", len,
			 ex->max_bytes);
		pthread_cond_broadcast(&ex->cond);
		pthread_mutex_unlock(&ex->lock);
		free_window(w);
		return -EFBIG;
	}
	while (ex->head && (ex->st.queued_windows + 1 > ex->max_windows ||
			    ex->st.queued_bytes + len > ex->max_bytes))
		drop_head(ex, &ex->st.dropped_full);
	if (ex->tail)
		ex->tail->next = w;
	else
		ex->head = w;
	ex->tail = w;
	ex->st.queued_windows++;
	ex->st.queued_bytes += len;
	pthread_cond_broadcast(&ex->cond);
	pthread_mutex_unlock(&ex->lock);
	return 0;
}

int exporter_flush(struct exporter *ex, unsigned int timeout_ms)
{
	uint64_t deadline = now_ns() + (uint64_t)timeout_ms * 1000000ULL;
	int err;

	pthread_mutex_lock(&ex->lock);
	while (ex->head && now_ns() < deadline)
		wait_until(ex, deadline);
	err = ex->head ? -ETIMEDOUT : 0;
	pthread_mutex_unlock(&ex->lock);
	return err;
}

void exporter_stats(struct exporter *ex, struct exporter_stats *st)
{
	pthread_mutex_lock(&ex->lock);
	*st = ex->st;
	pthread_mutex_unlock(&ex->lock);
}

const char *exporter_url(const struct exporter *ex)
{
	return ex->url;
}

void exporter_free(struct exporter *ex, struct exporter_stats *final)
{
	if (!ex)
		return;
	pthread_mutex_lock(&ex->lock);
	ex->stop = true;
	atomic_store(&ex->abort_request, 1);
	pthread_cond_broadcast(&ex->cond);
	pthread_mutex_unlock(&ex->lock);
	pthread_join(ex->thread, NULL);
	while (ex->head)
		drop_head(ex, &ex->st.dropped_exit);
	if (final)
		*final = ex->st;
	destroy(ex);
}
