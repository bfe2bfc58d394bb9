// SPDX-License-Identifier: MIT
/*
 * session_probe SECONDS MODE PID...: records every PID at once through the session API
 * (tracer/session/session.h), one session each, driven by one poll() loop, and cuts a window
 * every second. For the second half of the run it turns each session's "wake" probe group off
 * (when the runtime has one). Prints one line per window and session:
 *
 *	window N pid P samples S cpu_samples C wake_events W wake ON|OFF listener L
 *
 * (S: samples of session_stats so far; C: samples in the window's cpu profile; W: the wake
 * probes' events so far; L: samples the listener saw in the window), and at the end
 *
 *	total pid P samples S windows_sum C
 *
 * Exits 1 on an error of the API.
 */
#include <errno.h>
#include <poll.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "model/profile.h"
#include "session/session.h"
#include "target/process.h"

#define MAX_SESSIONS 8

struct probe {
	struct session *s;
	uint64_t listened; /* samples the listener saw in the current window */
	int64_t windows_sum;
};

static void listen(void *ctx, const struct session_event *e)
{
	struct probe *p = ctx;

	if (e->kind == SESSION_EV_SAMPLE && e->nlocations && e->prof)
		p->listened++;
}

static bool wake_group(struct session *s, uint64_t *events)
{
	struct session_probe_group g[8];
	size_t n = session_probe_groups(s, g, 8);

	for (size_t i = 0; i < n && i < 8; i++)
		if (strcmp(g[i].name, "wake") == 0) {
			*events = g[i].events;
			return g[i].enabled;
		}
	*events = 0;
	return false;
}

static int window(struct probe *p, int n)
{
	struct session_window w;
	struct session_stats st;
	uint64_t wake;
	bool on;
	int err = session_cut_window(p->s, &w);

	if (err)
		return err;
	session_stats(p->s, &st);
	on = wake_group(p->s, &wake);
	for (size_t i = 0; i < w.nprofiles; i++)
		if (strcmp(w.profiles[i].stem, "cpu") == 0) {
			int64_t c = profile_total(w.profiles[i].prof, 0);

			p->windows_sum += c;
			printf("window %d pid %d samples %llu cpu_samples %lld wake_events %llu "
			       "wake %s listener %llu duration_ms %lld\n",
			       n, session_pid(p->s), (unsigned long long)st.samples, (long long)c,
			       (unsigned long long)wake, on ? "ON" : "OFF",
			       (unsigned long long)p->listened, (long long)(w.duration_ns / 1000000));
		}
	p->listened = 0;
	session_window_free(&w);
	return 0;
}

int main(int argc, char **argv)
{
	struct probe probes[MAX_SESSIONS] = { 0 };
	int seconds, n = argc - 3, err = 0;
	enum task_mode mode;
	uint64_t start, next_cut;

	if (argc < 4 || n > MAX_SESSIONS) {
		fprintf(stderr, "usage: session_probe SECONDS sample|lifecycle PID...\n");
		return 2;
	}
	seconds = atoi(argv[1]);
	mode = strcmp(argv[2], "lifecycle") == 0 ? MODE_LIFECYCLE : MODE_SAMPLE;
	for (int i = 0; i < n && !err; i++) {
		struct session_opts o = { .pid = atoi(argv[3 + i]), .freq_hz = 99, .mode = mode };

		err = session_open(&o, &probes[i].s);
		if (!err)
			err = session_set_listener(probes[i].s, listen, &probes[i]);
		if (!err)
			err = session_start(probes[i].s);
	}
	start = next_cut = monotonic_ns();
	for (int cut = 1; !err && cut <= seconds;) {
		struct pollfd pfd[MAX_SESSIONS * 4];
		int fds[4];
		size_t np = 0;

		for (int i = 0; i < n; i++) {
			size_t k = session_poll_fds(probes[i].s, fds, 4);

			for (size_t j = 0; j < k && j < 4; j++)
				pfd[np++] = (struct pollfd){ .fd = fds[j], .events = POLLIN };
		}
		poll(pfd, np, 100);
		for (int i = 0; i < n && !err; i++)
			err = session_step(probes[i].s, 0) < 0 ? -EIO : 0;
		if (monotonic_ns() < next_cut + 1000000000ULL)
			continue;
		next_cut += 1000000000ULL;
		for (int i = 0; i < n && !err; i++) {
			err = window(&probes[i], cut);
			/* The second half runs without the wake probes. */
			if (!err && cut == seconds / 2)
				session_set_probe_group(probes[i].s, "wake", false);
		}
		cut++;
	}
	for (int i = 0; i < n; i++) {
		struct session_stats st;

		if (!probes[i].s)
			continue;
		session_stop(probes[i].s);
		session_stats(probes[i].s, &st);
		if (!err) {
			const struct session_window *w = session_profiles(probes[i].s);

			probes[i].windows_sum += profile_total(w->profiles[0].prof, 0);
			printf("total pid %d samples %llu windows_sum %lld elapsed_ms %.0f\n",
			       session_pid(probes[i].s), (unsigned long long)st.samples,
			       (long long)probes[i].windows_sum, (monotonic_ns() - start) / 1e6);
		}
		session_close(probes[i].s);
	}
	return err ? 1 : 0;
}
