// SPDX-License-Identifier: MIT
/*
 * asyncprof CLI: `attach` profiles a running process, `run` starts a command and profiles it,
 * `leaks` watches a Go process's goroutines, `top` shows a process's tasks live (tracer/top/).
 * attach and run record one session (session.h) until the duration passes, the target exits, or
 * Ctrl-C / SIGTERM, and then write every output file whole, whatever stopped the recording.
 */
#include <errno.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>
#include <sys/stat.h>

#include "launcher.h"
#include "options.h"
#include "agent/agent.h"
#include "capture/sampler.h"
#include "export/exporter.h"
#include "export/resource.h"
#include "output/file.h"
#include "output/timeline.h"
#include "runtimes/go/leaks.h"
#include "session/session.h"
#include "target/process.h"
#include "top/top.h"

/* How long the end of attach or run waits for its OTLP export, by default: a request's timeout
 * (10 s), and time to try again after a refused connection or a 503 (half a timeout more). */
#define OTLP_TIMEOUT_MS 10000

static volatile sig_atomic_t stop_signal;

static void on_signal(int sig)
{
	stop_signal = sig;
}

/*
 * Opens the results directory (-o, or a new asyncprof-PID-YYYYMMDD-HHMMSS) before anything is
 * recorded, so a directory that cannot be used costs no recording. Returns its descriptor and
 * sets *dir (malloc'd) and *created, or prints why not and returns -1.
 */
static int open_out_dir(const struct options *o, char **dir, bool *created)
{
	char stamp[32], why[256] = "";
	time_t now = time(NULL);
	struct stat st;
	int fd, err;

	if (o->out_dir) {
		*dir = strdup(o->out_dir);
	} else {
		strftime(stamp, sizeof(stamp), "%Y%m%d-%H%M%S", localtime(&now));
		if (asprintf(dir, "asyncprof-%d-%s", o->pid, stamp) < 0)
			*dir = NULL;
	}
	if (!*dir) {
		fprintf(stderr, "asyncprof: cannot name the output directory: %s\n",
			strerror(ENOMEM));
		return -1;
	}
	*created = lstat(*dir, &st) != 0;
	err = output_dir_open(*dir, !o->out_dir, &fd, why, sizeof(why));
	if (!err)
		return fd;
	if (err == -EEXIST)
		snprintf(why, sizeof(why), "it already exists (give -o DIR)");
	fprintf(stderr, "asyncprof: cannot use output directory %s: %s\n", *dir,
		(err == -EPERM || err == -EEXIST) && why[0] ? why : strerror(-err));
	free(*dir);
	*dir = NULL;
	return -1;
}

/* Records until the duration passes, the target ends or a signal comes; true when it ended. */
static bool record_loop(const struct options *o, struct session *s, struct launcher *child)
{
	bool tty = isatty(STDERR_FILENO);
	uint64_t start_ns = monotonic_ns(), last_status = 0;
	struct session_stats st;

	while (!stop_signal) {
		int err = session_step(s, 100);

		if (err < 0 && err != -EINTR)
			break;
		if (tty && monotonic_ns() - last_status > 500000000ULL) {
			session_stats(s, &st);
			fprintf(stderr,
				"\r\033[Kasyncprof: recording pid %d: %.0fs, %llu samples, "
				"%llu dropped",
				o->pid, st.elapsed_s, (unsigned long long)st.samples,
				(unsigned long long)st.drops);
			last_status = monotonic_ns();
		}
		if (o->duration_s && (monotonic_ns() - start_ns) / 1e9 >= o->duration_s)
			break;
		if (child ? launcher_reap(child, 0) : !session_target_alive(s))
			return true;
	}
	return false;
}

/* Says how the recording ended, and ends the command that outlived it. */
static void say_end(const struct options *o, struct session *s, struct launcher *child, bool exited)
{
	struct session_stats st;
	char ended[64];

	session_stats(s, &st);
	if (isatty(STDERR_FILENO))
		fprintf(stderr, "\r\033[K");
	if (exited) {
		if (child)
			launcher_describe_status(child->status, ended, sizeof(ended));
		fprintf(stderr,
			"asyncprof: pid %d exited after %.1fs%s%s%s; writing what was "
			"collected\n",
			o->pid, st.elapsed_s, child ? " (" : "", child ? ended : "",
			child ? ")" : "");
	} else if (stop_signal) {
		fprintf(stderr, "asyncprof: stopped by %s after %.1fs\n", strsignal(stop_signal),
			st.elapsed_s);
	}
	if (child && !exited) {
		launcher_end(child);
		if (child->reaped) {
			launcher_describe_status(child->status, ended, sizeof(ended));
			fprintf(stderr, "asyncprof: ended %s (pid %d) with SIG%s: %s\n", o->argv[0],
				o->pid, sigabbrev_np(child->stopped_with), ended);
		}
	}
	if (child && child->reaped)
		session_set_command_status(s, child->status, child->stopped_with);
}

/* Writes the files, the summary and the warnings, and exports. Returns 0 or -errno. */
static int finish(struct session *s, int dirfd, const char *dir, struct exporter *ex,
		  const struct resource *res, const struct options *o)
{
	bool timeline = o->timeline;
	const struct session_window *w = session_profiles(s);
	const char *warnings[32];
	size_t nwarn = session_warnings(s, warnings, 32);
	int err = session_write_outputs(s, dirfd, dir), e;

	session_print_summary(s, stdout);
	fflush(stdout); /* the warnings after the summary, not inside it, when both are piped */
	for (size_t i = 0; i < nwarn && i < 32; i++)
		fprintf(stderr, "asyncprof: warning: %s\n", warnings[i]);
	if (!err) {
		fprintf(stdout, "\nresults in %s/:", dir);
		for (size_t i = 0; i < w->nprofiles; i++)
			fprintf(stdout, " %s.pb.gz %s.folded %s.svg", w->profiles[i].stem,
				w->profiles[i].stem, w->profiles[i].stem);
		if (timeline)
			fprintf(stdout, " %s", TIMELINE_FILE);
		fprintf(stdout, " report.json\n  go tool pprof -http=: %s/cpu.pb.gz\n", dir);
		if (timeline)
			fprintf(stdout, "  %s/%s: open it in ui.perfetto.dev or trace_processor\n",
				dir, TIMELINE_FILE);
	}
	if (ex) {
		unsigned int timeout = o->otlp_timeout_ms ? o->otlp_timeout_ms : OTLP_TIMEOUT_MS;

		e = session_export_otlp(s, ex, res, timeout + timeout / 2);
		if (!err)
			err = e;
	}
	return err;
}

/* Records o->pid (child: the command run, stopped before its exec) into dirfd. */
static int record(const struct options *o, struct launcher *child, int dirfd, const char *dir,
		  struct exporter *ex)
{
	struct session_opts so = { .pid = o->pid,
				   .freq_hz = o->freq_hz,
				   .mode = o->mode,
				   .runtime = o->runtime,
				   .off_cpu = o->off_cpu,
				   .off_cpu_min_ns = o->off_cpu_min_ns,
				   .budget = o->budget,
				   .timeline_events = o->timeline ? o->timeline_events : 0,
				   .verbose = o->verbose };
	struct resource res = { 0 };
	struct session *s = NULL;
	bool exited;
	int err = child ? launcher_exec(child) : 0;

	if (err == -ECHILD)
		fprintf(stderr,
			"asyncprof: cannot run %s: it ended before its first instruction "
			"(the dynamic loader failed: see its message above)\n",
			o->argv[0]);
	else if (err)
		fprintf(stderr, "asyncprof: cannot run %s: %s\n", o->argv[0], strerror(-err));
	if (!err)
		err = session_open(&so, &s);
	if (!err)
		err = session_start(s);
	/* Now, while /proc/PID is there: what identifies the process to a backend. */
	if (!err && ex)
		err = resource_read(o->pid, session_runtime(s), session_runtime_version(s), &res);
	if (!err) {
		if (child)
			launcher_resume(child);
		fprintf(stderr, "asyncprof: recording pid %d (%s) at %u Hz%s\n", o->pid,
			session_comm(s), o->freq_hz, o->duration_s ? "" : "; Ctrl-C to stop");
		exited = record_loop(o, s, child);
		session_stop(s);
		say_end(o, s, child, exited);
		err = finish(s, dirfd, dir, ex, &res, o);
	}
	resource_free(&res);
	session_close(s);
	if (child)
		launcher_end(child);
	return err;
}

static int leaks(const struct options *o)
{
	struct leaks_opts lo = {
		.pid = o->pid,
		.min_age_s = o->min_age_s ? o->min_age_s : 10,
		.json = o->json,
		.all = o->all,
	};

	lo.window_s = o->duration_s ? o->duration_s : lo.min_age_s;
	if (kill(o->pid, 0) && errno == ESRCH) {
		fprintf(stderr, "asyncprof: cannot look at pid %d: no such process\n", o->pid);
		return LEAKS_ERROR;
	}
	return go_leaks_run(&lo);
}

/* top: the same checks as attach; -o DIR, when given, receives the recording at the end. */
static int top(const struct options *o)
{
	char why[256], *dir = NULL;
	bool created = false;
	int dirfd = -1, err;

	if (process_check(o->pid, why, sizeof(why))) {
		fprintf(stderr, "asyncprof: cannot attach to pid %d: %s\n", o->pid, why);
		return 1;
	}
	if (o->out_dir) {
		dirfd = open_out_dir(o, &dir, &created);
		if (dirfd < 0)
			return 1;
	}
	err = top_main(o, dirfd, dir);
	if (dirfd >= 0)
		close(dirfd);
	if (err && created)
		rmdir(dir);
	free(dir);
	return err;
}

static int new_exporter(const struct options *o, struct exporter **ex)
{
	struct exporter_opts eo = { .endpoint = o->otlp_endpoint,
				    .headers = o->otlp_headers,
				    .nheaders = o->n_otlp_headers,
				    .timeout_ms = o->otlp_timeout_ms,
				    .verbose = o->verbose,
				    .quiet = true /* session_export_otlp() says it */ };
	char why[256] = "";
	int err = exporter_new(&eo, ex, why, sizeof(why));

	if (err)
		fprintf(stderr, "asyncprof: cannot use --otlp-endpoint %s: %s\n", o->otlp_endpoint,
			err == -EINVAL ? why : strerror(-err));
	return err == -EINVAL ? 2 : err ? 1 : 0;
}

int main(int argc, char **argv)
{
	struct sigaction sa = { .sa_handler = on_signal };
	struct launcher child = { 0 };
	struct exporter *ex = NULL;
	struct options o;
	char why[256], *dir = NULL;
	bool created = false;
	int err, dirfd;

	if (argc > 1 && strcmp(argv[1], "agent") == 0)
		return agent_main(argc - 1, argv + 1);
	if (options_parse(argc, argv, &o))
		return 2;
	if (o.cmd == CMD_LEAKS)
		return leaks(&o);
	if (check_privileges())
		return 1;
	if (o.cmd == CMD_TOP)
		return top(&o);
	sigemptyset(&sa.sa_mask);
	sigaction(SIGINT, &sa, NULL);
	sigaction(SIGTERM, &sa, NULL);
	signal(SIGPIPE, SIG_IGN);
	if (o.cmd == CMD_ATTACH && process_check(o.pid, why, sizeof(why))) {
		fprintf(stderr, "asyncprof: cannot attach to pid %d: %s\n", o.pid, why);
		return 1;
	}
	if (o.otlp_endpoint && (err = new_exporter(&o, &ex)))
		return err;
	if (o.cmd == CMD_RUN) {
		err = launcher_spawn(&child, o.argv);
		if (err) {
			fprintf(stderr, "asyncprof: cannot start %s: %s\n", o.argv[0],
				strerror(-err));
			return 1;
		}
		o.pid = child.pid;
	}
	dirfd = open_out_dir(&o, &dir, &created);
	if (dirfd < 0) {
		launcher_end(&child);
		return 1;
	}
	err = record(&o, o.cmd == CMD_RUN ? &child : NULL, dirfd, dir, ex);
	close(dirfd);
	/* A directory made for a recording that never started is not left behind, empty. */
	if (err && created)
		rmdir(dir);
	free(dir);
	exporter_free(ex, NULL);
	return err ? 1 : 0;
}
