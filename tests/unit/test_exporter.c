// SPDX-License-Identifier: MIT
#include <criterion/criterion.h>
#include <errno.h>
#include <fcntl.h>
#include <netinet/in.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/prctl.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>

#include "export/exporter.h"
#include "target/procmaps.h"

/*
 * The exporter against tests/tools/otlp_receiver.py, a receiver on 127.0.0.1 that stores what it
 * gets and answers as told: delivered bodies arrive whole with their headers; a 500 is not
 * retried, a 503 is; a receiver that is down or never answers neither blocks the caller nor
 * lets the queue grow. Each test has a time limit: an exporter that blocks fails it.
 */

#define RECEIVER "tests/tools/otlp_receiver.py"

struct receiver {
	char dir[64];
	pid_t pid;
	int port;
	char url[64];
};

static void receiver_mode(struct receiver *r, const char *mode)
{
	char path[128];
	FILE *f;

	snprintf(path, sizeof(path), "%s/mode", r->dir);
	f = fopen(path, "w");
	cr_assert_not_null(f);
	fprintf(f, "%s\n", mode);
	fclose(f);
}

static void receiver_start(struct receiver *r, const char *mode)
{
	char path[128], *text;

	cr_assert_eq(access(RECEIVER, R_OK), 0,
		     "run the unit tests from the repository (make unit)");
	strcpy(r->dir, "/tmp/otlp-receiver-XXXXXX");
	cr_assert_not_null(mkdtemp(r->dir));
	receiver_mode(r, mode);
	r->pid = fork();
	cr_assert_geq(r->pid, 0);
	if (r->pid == 0) {
		int null = open("/dev/null", O_RDWR);

		/* Gone with the test, even one that fails before receiver_stop(). */
		prctl(PR_SET_PDEATHSIG, SIGTERM);
		dup2(null, STDOUT_FILENO);
		dup2(null, STDERR_FILENO);
		execl(RECEIVER, RECEIVER, r->dir, (char *)NULL);
		_exit(127);
	}
	snprintf(path, sizeof(path), "%s/port", r->dir);
	for (int i = 0; i < 500 && access(path, R_OK); i++)
		usleep(20000);
	cr_assert_eq(procfs_read_text(path, &text), 0, "the receiver did not start");
	r->port = atoi(text);
	free(text);
	snprintf(r->url, sizeof(r->url), "http://127.0.0.1:%d", r->port);
}

static void receiver_stop(struct receiver *r)
{
	char cmd[128];

	kill(r->pid, SIGTERM);
	waitpid(r->pid, NULL, 0);
	snprintf(cmd, sizeof(cmd), "rm -rf %s", r->dir);
	cr_assert_eq(system(cmd), 0);
}

/* Request k's stored body (from 1), or NULL when it has not arrived. */
static char *received(const struct receiver *r, int k, const char *ext, size_t *len)
{
	char path[128], *data;

	snprintf(path, sizeof(path), "%s/req-%d.%s", r->dir, k, ext);
	if (procfs_read(path, &data, len))
		return NULL;
	return data;
}

static int requests(const struct receiver *r)
{
	int k = 0;
	char *d;

	while ((d = received(r, k + 1, "json", NULL)) != NULL) {
		free(d);
		k++;
	}
	return k;
}

static struct exporter *start(const char *url, const struct exporter_opts *base)
{
	struct exporter_opts o = *base;
	struct exporter *ex = NULL;
	char why[256] = "";

	o.endpoint = url;
	cr_assert_eq(exporter_new(&o, &ex, why, sizeof(why)), 0, "%s", why);
	return ex;
}

static void *window(size_t len, char fill)
{
	char *b = malloc(len);

	cr_assert_not_null(b);
	memset(b, fill, len);
	return b;
}

Test(exporter, delivers_bodies_with_headers, .timeout = 60)
{
	const char *headers[] = { "X-Scope-OrgID=tenant-1", "Authorization=Bearer a=b" };
	struct exporter_opts o = { .headers = headers, .nheaders = 2 };
	struct receiver r;
	struct exporter *ex;
	struct exporter_stats st;
	size_t len;
	char *body, *meta;

	receiver_start(&r, "ok");
	ex = start(r.url, &o);
	for (int i = 0; i < 3; i++)
		cr_assert_eq(exporter_submit(ex, window(1000 * (i + 1), 'a' + i), 1000 * (i + 1)),
			     0);
	cr_assert_eq(exporter_flush(ex, 30000), 0);
	exporter_free(ex, &st);
	cr_assert_eq(st.sent_windows, 3);
	cr_assert_eq(st.sent_bytes, 6000);
	cr_assert_eq(st.dropped_windows, 0);
	cr_assert_eq(requests(&r), 3);
	for (int k = 1; k <= 3; k++) {
		body = received(&r, k, "body", &len);
		cr_assert_eq(len, 1000u * k, "the body arrives whole");
		cr_assert_eq(body[len - 1], 'a' + k - 1, "in order");
		free(body);
		meta = received(&r, k, "json", NULL);
		cr_assert_not_null(strstr(meta, "\"path\": \"/v1development/profiles\""), "%s",
				   meta);
		cr_assert_not_null(strstr(meta, "\"Content-Type\": \"application/x-protobuf\""));
		cr_assert_not_null(strstr(meta, "\"Content-Encoding\": \"gzip\""));
		cr_assert_not_null(strstr(meta, "\"X-Scope-OrgID\": \"tenant-1\""));
		cr_assert_not_null(strstr(meta, "\"Authorization\": \"Bearer a=b\""));
		free(meta);
	}
	receiver_stop(&r);
}

/*
 * One window of len bytes sent to a receiver answering mode (then "ok" once it has one request,
 * when then_ok); the exporter's stats once it is delivered or dropped. The receiver is left
 * running, for the test to look at.
 */
static struct exporter_stats send_one(struct receiver *r, const char *mode, bool then_ok,
				      size_t len)
{
	struct exporter_opts o = { 0 };
	struct exporter_stats st;
	struct exporter *ex;

	receiver_start(r, mode);
	ex = start(r->url, &o);
	cr_assert_eq(exporter_submit(ex, window(len, 'w'), len), 0);
	while (then_ok && requests(r) < 1)
		usleep(10000);
	if (then_ok)
		receiver_mode(r, "ok");
	cr_assert_eq(exporter_flush(ex, 30000), 0);
	exporter_free(ex, &st);
	return st;
}

Test(exporter, status_500_is_not_retried, .timeout = 60)
{
	struct receiver r;
	struct exporter_stats st = send_one(&r, "500", false, 500);

	cr_assert_eq(st.dropped_rejected, 1);
	cr_assert_eq(st.dropped_windows, 1);
	cr_assert_eq(st.dropped_bytes, 500);
	cr_assert_eq(st.attempts, 1);
	cr_assert_not_null(strstr(st.last_error, "HTTP status 500: receiver told to fail"), "%s",
			   st.last_error);
	cr_assert_eq(requests(&r), 1);
	receiver_stop(&r);
}

Test(exporter, status_503_is_retried, .timeout = 60)
{
	struct receiver r;
	struct exporter_stats st = send_one(&r, "503", true, 700);

	cr_assert_eq(st.sent_windows, 1);
	cr_assert_eq(st.dropped_windows, 0);
	cr_assert_geq(st.attempts, 2);
	cr_assert_geq(st.failures, 1);
	cr_assert_not_null(strstr(st.last_error, "503"));
	receiver_stop(&r);
}

Test(exporter, partial_success_is_counted, .timeout = 60)
{
	struct receiver r;
	struct exporter_stats st = send_one(&r, "partial", false, 10);

	cr_assert_eq(st.sent_windows, 1);
	cr_assert_eq(st.rejected_profiles, 1);
	cr_assert_not_null(strstr(st.last_error, "rejected 1 profiles: test rejection"));
	receiver_stop(&r);
}

/* A port nothing listens on: bound, then closed. */
static int closed_port(void)
{
	struct sockaddr_in a = { .sin_family = AF_INET, .sin_addr.s_addr = htonl(INADDR_LOOPBACK) };
	socklen_t len = sizeof(a);
	int fd = socket(AF_INET, SOCK_STREAM, 0);

	cr_assert_geq(fd, 0);
	cr_assert_eq(bind(fd, (struct sockaddr *)&a, sizeof(a)), 0);
	cr_assert_eq(getsockname(fd, (struct sockaddr *)&a, &len), 0);
	close(fd);
	return ntohs(a.sin_port);
}

Test(exporter, receiver_down_bounds_the_queue, .timeout = 60)
{
	struct exporter_opts o = { .max_windows = 3, .max_bytes = 10000 };
	struct exporter *ex;
	struct exporter_stats st;
	char url[64];

	snprintf(url, sizeof(url), "http://127.0.0.1:%d/", closed_port());
	ex = start(url, &o);
	/* First, so that the last error is the connection's, whenever the thread tries. */
	cr_assert_eq(exporter_submit(ex, window(10001, 'b'), 10001), -EFBIG);
	for (int i = 0; i < 20; i++) {
		cr_assert_eq(exporter_submit(ex, window(2000, 'd'), 2000), 0);
		exporter_stats(ex, &st);
		cr_assert_leq(st.queued_windows, 3);
		cr_assert_leq(st.queued_bytes, 10000);
	}
	cr_assert_eq(exporter_flush(ex, 200), -ETIMEDOUT, "nothing can be delivered");
	exporter_free(ex, &st);
	cr_assert_eq(st.sent_windows, 0);
	cr_assert_eq(st.dropped_full, 20 - 3 + 1, "the oldest dropped, and the one too large");
	cr_assert_eq(st.dropped_exit, 3);
	cr_assert_eq(st.dropped_windows, 21);
	cr_assert_eq(st.dropped_bytes, 20 * 2000 + 10001);
	cr_assert_not_null(strstr(st.last_error, "onnect"), "%s", st.last_error);
}

Test(exporter, hanging_receiver_times_out_and_gives_up, .timeout = 60)
{
	struct exporter_opts o = { .timeout_ms = 300, .retry_ms = 1500 };
	struct receiver r;
	struct exporter *ex;
	struct exporter_stats st;

	receiver_start(&r, "hang");
	ex = start(r.url, &o);
	cr_assert_eq(exporter_submit(ex, window(100, 'h'), 100), 0);
	cr_assert_eq(exporter_flush(ex, 30000), 0, "dropped after retrying for retry_ms");
	exporter_free(ex, &st);
	cr_assert_eq(st.dropped_retries, 1);
	cr_assert_geq(st.attempts, 2);
	cr_assert_geq(requests(&r), 2);
	cr_assert_not_null(strstr(st.last_error, "timed out"), "%s", st.last_error);
	receiver_stop(&r);
}

/* A request under way when the exporter is freed, or when its window is dropped, is cut short:
 * with a 10-minute request timeout, waiting for it would pass the test's time limit. */
Test(exporter, hanging_request_is_cut_short, .timeout = 60)
{
	struct exporter_opts o = { .timeout_ms = 600000, .max_windows = 1 };
	struct receiver r;
	struct exporter *ex;
	struct exporter_stats st;

	receiver_start(&r, "hang");
	ex = start(r.url, &o);
	cr_assert_eq(exporter_submit(ex, window(100, '1'), 100), 0);
	while (requests(&r) < 1)
		usleep(10000);
	receiver_mode(&r, "ok");
	cr_assert_eq(exporter_submit(ex, window(100, '2'), 100), 0); /* drops the one sent */
	cr_assert_eq(exporter_flush(ex, 30000), 0);
	exporter_stats(ex, &st);
	cr_assert_eq(st.sent_windows, 1);
	cr_assert_eq(st.dropped_full, 1);
	receiver_mode(&r, "hang");
	cr_assert_eq(exporter_submit(ex, window(100, '3'), 100), 0);
	while (requests(&r) < 3)
		usleep(10000);
	exporter_free(ex, &st);
	cr_assert_eq(st.dropped_exit, 1);
	receiver_stop(&r);
}

Test(exporter, options_checked)
{
	static const struct {
		const char *endpoint, *header, *why;
	} bad[] = {
		{ "localhost:4318", NULL, "is not a URL" },
		{ "ftp://example.com/", NULL, "not an http:// or https:// URL" },
		{ "http://", NULL, "is not a URL" },
		{ "http://127.0.0.1:4318", "Bad Key=1", "not KEY=VALUE" },
		{ "http://127.0.0.1:4318", "NoValue", "not KEY=VALUE" },
		{ "http://127.0.0.1:4318", "X-A=a\r\nX-B: b", "line break" },
		{ "http://127.0.0.1:4318", "content-encoding=identity", "sets that header itself" },
	};
	static const struct {
		const char *endpoint, *url;
	} good[] = {
		{ "http://127.0.0.1:4318", "http://127.0.0.1:4318/v1development/profiles" },
		{ "https://otel.example:443/prefix/",
		  "https://otel.example:443/prefix/v1development/profiles" },
		{ "http://h:1/v1development/profiles", "http://h:1/v1development/profiles" },
	};

	for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
		const char *headers[] = { bad[i].header };
		struct exporter_opts o = { .endpoint = bad[i].endpoint,
					   .headers = headers,
					   .nheaders = bad[i].header ? 1 : 0 };
		struct exporter *ex = NULL;
		char why[256] = "";

		cr_assert_eq(exporter_new(&o, &ex, why, sizeof(why)), -EINVAL, "%s",
			     bad[i].endpoint);
		cr_assert_not_null(strstr(why, bad[i].why), "%s: %s", bad[i].endpoint, why);
	}
	for (size_t i = 0; i < sizeof(good) / sizeof(good[0]); i++) {
		struct exporter_opts o = { .endpoint = good[i].endpoint };
		struct exporter *ex = NULL;
		char why[256] = "";

		cr_assert_eq(exporter_new(&o, &ex, why, sizeof(why)), 0, "%s", why);
		cr_assert_str_eq(exporter_url(ex), good[i].url);
		exporter_free(ex, NULL);
	}
}
