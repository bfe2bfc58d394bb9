// SPDX-License-Identifier: MIT
/*
 * asyncprof CLI: `attach` profiles a running process, `run` starts a command and profiles it.
 * Both record until the duration passes, the target exits, or Ctrl-C / SIGTERM, and then write
 * every output file whole, whatever stopped the recording.
 */
#include <argp.h>
#include <elf.h>
#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <math.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/ptrace.h>
#include <sys/user.h>
#include <sys/resource.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include "collector.h"
#include "cpu_sampler.h"
#include "flamegraph.h"
#include "folded.h"
#include "output.h"
#include "pprof.h"
#include "process.h"
#include "report.h"
#include "summary.h"
#include "symbolizer.h"
#include "tasks.h"
#include "tokio.h"
#include "usdt.h"
#include "version.h"
#include "window.h"
#include "leaks.h"
#include "go.h"
#include "offcpu.h"
#include "event_loss.h"
#include "recording_lock.h"

enum command { CMD_NONE, CMD_ATTACH, CMD_RUN, CMD_LEAKS };

static struct env {
	enum command cmd;
	pid_t pid;
	double duration_s; /* 0: until target exit or Ctrl-C */
	unsigned int freq_hz;
	const char *out_dir;
	bool verbose;
	char **argv; /* run: the command */
	enum runtime_choice { RT_AUTO, RT_TOKIO, RT_GO, RT_USDT, RT_NONE } runtime;
	enum task_mode mode;
	double min_age_s; /* leaks */
	bool json, all;	  /* leaks */
	bool off_cpu;
	uint64_t off_cpu_min_ns;
	const char *otlp_endpoint;
	const char *otlp_headers[16];
	size_t n_otlp_headers;
} env = {
	.freq_hz = 99,
	/* A thread blocks for 1 ms at most 1000 times a second: that bounds what each profiled
	 * block costs (README, "What it costs"), and shorter blocks are still counted. */
	.off_cpu_min_ns = 1000000,
};

enum { OPT_OFF_CPU = 0x100, OPT_OFF_CPU_MIN, OPT_OTLP_ENDPOINT, OPT_OTLP_HEADER };

/* How long the end of attach or run waits for its OTLP export: a request's timeout (10 s), and
 * time to try again after a refused connection or a 503. */
#define OTLP_WAIT_MS 15000

static volatile sig_atomic_t stop_signal;

static void on_signal(int sig)
{
	stop_signal = sig;
}

const char *argp_program_version = "asyncprof " ASYNCPROF_VERSION;
const char *argp_program_bug_address = NULL;

static const char doc[] =
	"asyncprof: a profiler for programs on async runtimes (Tokio, Go): whole call stacks "
	"without frame pointers, task ancestry, task wait and scheduling latency, goroutine "
	"leaks.\n"
	"\n"
	"USAGE:\n"
	"  asyncprof attach -p PID [OPTIONS]\n"
	"  asyncprof run [OPTIONS] -- CMD [ARGS...]\n"
	"  asyncprof leaks -p PID [--min-age DURATION] [-d SECONDS] [--json] [--all]\n"
	"\n"
	"attach and run record until SECONDS pass, the target exits, or Ctrl-C, then write "
	"cpu.pb.gz (pprof), cpu.folded, cpu.svg (flame graph) and report.json into DIR (default "
	"asyncprof-PID-YYYYMMDD-HHMMSS). For a Tokio or Go program the CPU stacks show each "
	"task's or goroutine's spawn ancestry; wait.pb.gz, wait.folded and wait.svg show where "
	"tasks waited (Tokio: lifecycle and full modes; Go: every mode); report.json lists the "
	"tasks.\n"
	"\n"
	"A C or C++ program that marks its own tasks and logical frames with probes/asyncprof.h "
	"(USDT) gets the same views (--runtime usdt, or auto when the markers are found; --mode "
	"lifecycle adds the wait profile and scheduling latency).\n"
	"\n"
	"Modes (--mode, Tokio): sample (default: CPU samples, spawn and exit hooks); lifecycle "
	"(+ wake, poll and await hooks: wait profile, scheduling latency); full (+ poll exit "
	"hooks: exact poll durations, long polls). Go: sample (default: CPU samples, goroutine "
	"snapshots, a sampled wait profile, GC cycles); lifecycle (+ newproc1, gopark, ready, "
	"execute, exit and allocation hooks: exact waits, scheduling latency, channel blocking, "
	"alloc.pb.gz); full (+ channel operation counts).\n"
	"\n"
	"--off-cpu adds offcpu.pb.gz, offcpu.folded and offcpu.svg: where the threads blocked "
	"(kernel and user stacks), weighted by the time blocked, for blocks of at least "
	"--off-cpu-min; shorter ones are counted in report.json.\n"
	"\n"
	"--otlp-endpoint URL also sends the profiles, at the end, to an OpenTelemetry Collector "
	"or Pyroscope as OTLP profiles (HTTP, URL/v1development/profiles); the files are written "
	"all the same.\n"
	"\n"
	"leaks watches a Go process's goroutines (no probe, nothing stopped) and reports those "
	"blocked for at least --min-age (default 10s), grouped by creation site, blocking site "
	"and wait reason; -d is the observation time (default: the minimum age). Exit status: 0 "
	"no leak, 3 leaks found, 1 error.\n"
	"\n"
	"EXAMPLES:\n"
	"  asyncprof attach -p 1234              # until Ctrl-C, 99 Hz\n"
	"  asyncprof attach -p 1234 -d 30 -F 999 # 30 seconds at 999 Hz\n"
	"  asyncprof run -o out -- ./server --port 8080\n"
	"  asyncprof attach -p 1234 --mode lifecycle -d 10  # Tokio wait profile\n"
	"  asyncprof attach -p 1234 --off-cpu -d 10  # where threads block, too\n"
	"  asyncprof attach -p 1234 -d 60 --otlp-endpoint http://localhost:4318\n"
	"  asyncprof leaks -p 1234 --min-age 30s  # goroutines blocked 30 s+\n"
	"  go tool pprof -top out/cpu.pb.gz      # read the profile\n"
	"\v"
	"attach and run need root, or CAP_BPF and CAP_PERFMON; leaks needs ptrace access to the "
	"process (root, or CAP_SYS_PTRACE).";

static const struct argp_option options[] = {
	{ "pid", 'p', "PID", 0, "Process to attach to (attach, leaks)", 0 },
	{ "duration", 'd', "SECONDS", 0, "Stop after SECONDS (default: until exit or Ctrl-C)", 0 },
	{ "freq", 'F', "HZ", 0, "Samples per second per CPU (default 99, at most 10000)", 0 },
	{ "output", 'o', "DIR", 0, "Directory for the results", 0 },
	{ "verbose", 'v', NULL, 0, "Print libbpf and unwinding details", 0 },
	{ "runtime", 'r', "RUNTIME", 0,
	  "tokio, go, usdt, auto (default: the runtime found) or none", 0 },
	{ "mode", 'm', "MODE", 0, "sample (default), lifecycle or full (see above)", 0 },
	{ "min-age", 'a', "DURATION", 0, "leaks: minimum time blocked, e.g. 2s, 500ms, 5m", 0 },
	{ "json", 'j', NULL, 0, "leaks: JSON output", 0 },
	{ "all", 'A', NULL, 0, "leaks: include runtime-internal and main goroutines", 0 },
	{ "off-cpu", OPT_OFF_CPU, NULL, 0, "Also profile where threads block (offcpu.*)", 0 },
	{ "off-cpu-min", OPT_OFF_CPU_MIN, "DURATION", 0,
	  "Shortest block profiled, e.g. 1ms (default), 200us, 0 for all", 0 },
	{ "otlp-endpoint", OPT_OTLP_ENDPOINT, "URL", 0,
	  "Also send the profiles to an OpenTelemetry Collector (OTLP/HTTP, e.g. "
	  "http://localhost:4318)", 0 },
	{ "otlp-header", OPT_OTLP_HEADER, "KEY=VALUE", 0,
	  "HTTP header for --otlp-endpoint (repeatable: authorization, tenant)", 0 },
	{ 0 },
};

/* Longest duration taken (-d, --min-age, --off-cpu-min): a year, whose nanoseconds fit. */
#define MAX_DURATION_S (365 * 86400.0)

/*
 * A decimal number of seconds, followed with units by "ms", "us", "s", "m" or "h" ("2s",
 * "500ms", "5m"); returns seconds, or -1 when invalid: not a plain decimal number (strtod also
 * takes "nan", "inf" and hexadecimal), negative, or over MAX_DURATION_S.
 */
static double parse_duration(const char *arg, bool units)
{
	static const struct {
		const char *suffix;
		double scale;
	} unit[] = { { "", 1 },	    { "s", 1 },	 { "ms", 1e-3 },
		     { "us", 1e-6 }, { "m", 60 }, { "h", 3600 } };
	size_t digits = strspn(arg, "0123456789.eE+-");
	char *end;
	double v;

	errno = 0;
	v = strtod(arg, &end);
	if (errno || end == arg || end != arg + digits || !isfinite(v) || v < 0)
		return -1;
	for (size_t i = 0; i < (units ? sizeof(unit) / sizeof(unit[0]) : 1); i++) {
		if (strcmp(end, unit[i].suffix) != 0)
			continue;
		v *= unit[i].scale;
		return v <= MAX_DURATION_S ? v : -1;
	}
	return -1;
}

/* Options that make sense for one kind of command only: leaks, or attach and run. */
static const struct {
	int key;
	const char *name;
	bool leaks;
} scoped_options[] = {
	{ 'a', "--min-age", true },    { 'j', "--json", true },	    { 'A', "--all", true },
	{ 'F', "-F", false },	       { 'o', "-o", false },	    { 'r', "--runtime", false },
	{ 'm', "--mode", false },      { OPT_OFF_CPU, "--off-cpu", false },
	{ OPT_OFF_CPU_MIN, "--off-cpu-min", false }, { OPT_OTLP_ENDPOINT, "--otlp-endpoint", false },
	{ OPT_OTLP_HEADER, "--otlp-header", false },
};

static bool given[OPT_OTLP_HEADER + 1]; /* options seen, by key */

static error_t parse_opt(int key, char *arg, struct argp_state *state)
{
	char *end;
	long n;
	double d;

	if (key >= 0 && key <= OPT_OTLP_HEADER)
		given[key] = true;
	switch (key) {
	case 'p':
		errno = 0;
		n = strtol(arg, &end, 10);
		if (errno || *end || n <= 0 || n > INT_MAX)
			argp_error(state, "invalid PID '%s'", arg);
		env.pid = n;
		break;
	case 'd':
		d = parse_duration(arg, false);
		if (d <= 0)
			argp_error(state,
				   "invalid duration '%s' (seconds, more than 0, at most %.0f)",
				   arg, MAX_DURATION_S);
		env.duration_s = d;
		break;
	case 'F':
		errno = 0;
		n = strtol(arg, &end, 10);
		if (errno || *end || n < 1 || n > 10000)
			argp_error(state, "invalid frequency '%s' (1 to 10000 Hz)", arg);
		env.freq_hz = n;
		break;
	case 'o':
		if (!*arg)
			argp_error(state, "empty output directory name");
		env.out_dir = arg;
		break;
	case 'v':
		env.verbose = true;
		break;
	case 'a':
		env.min_age_s = parse_duration(arg, true);
		if (env.min_age_s <= 0)
			argp_error(state,
				   "invalid duration '%s' (e.g. 2s, 500ms, 5m; at most a year)",
				   arg);
		break;
	case 'j':
		env.json = true;
		break;
	case 'A':
		env.all = true;
		break;
	case OPT_OFF_CPU:
		env.off_cpu = true;
		break;
	case OPT_OFF_CPU_MIN:
		d = parse_duration(arg, true);
		if (d < 0)
			argp_error(state,
				   "invalid duration '%s' (e.g. 1ms, 200us, 0; at most a year)",
				   arg);
		env.off_cpu_min_ns = (uint64_t)(d * 1e9 + 0.5);
		break;
	case OPT_OTLP_ENDPOINT:
		env.otlp_endpoint = arg;
		break;
	case OPT_OTLP_HEADER:
		if (env.n_otlp_headers == sizeof(env.otlp_headers) / sizeof(env.otlp_headers[0]))
			argp_error(state, "too many --otlp-header (16 at most)");
		env.otlp_headers[env.n_otlp_headers++] = arg;
		break;
	case 'r':
		if (strcmp(arg, "tokio") == 0)
			env.runtime = RT_TOKIO;
		else if (strcmp(arg, "go") == 0)
			env.runtime = RT_GO;
		else if (strcmp(arg, "usdt") == 0)
			env.runtime = RT_USDT;
		else if (strcmp(arg, "auto") == 0)
			env.runtime = RT_AUTO;
		else if (strcmp(arg, "none") == 0)
			env.runtime = RT_NONE;
		else
			argp_error(state, "unknown runtime '%s' (tokio, go, usdt, auto or none)",
				   arg);
		break;
	case 'm':
		if (strcmp(arg, "sample") == 0)
			env.mode = MODE_SAMPLE;
		else if (strcmp(arg, "lifecycle") == 0)
			env.mode = MODE_LIFECYCLE;
		else if (strcmp(arg, "full") == 0)
			env.mode = MODE_FULL;
		else
			argp_error(state, "unknown mode '%s' (sample, lifecycle or full)", arg);
		break;
	case ARGP_KEY_ARG:
		if (env.cmd == CMD_NONE) {
			if (strcmp(arg, "attach") == 0)
				env.cmd = CMD_ATTACH;
			else if (strcmp(arg, "run") == 0)
				env.cmd = CMD_RUN;
			else if (strcmp(arg, "leaks") == 0)
				env.cmd = CMD_LEAKS;
			else
				argp_error(state, "unknown command '%s' (attach, run or leaks)", arg);
			break;
		}
		if (env.cmd == CMD_RUN) {
			env.argv = &state->argv[state->next - 1];
			state->next = state->argc;
			break;
		}
		argp_error(state, "unexpected argument '%s'", arg);
		break;
	case ARGP_KEY_END:
		if (env.cmd == CMD_NONE)
			argp_error(state, "missing command: attach, run or leaks");
		if ((env.cmd == CMD_ATTACH || env.cmd == CMD_LEAKS) && !env.pid)
			argp_error(state, "%s needs -p PID", env.cmd == CMD_LEAKS ? "leaks" : "attach");
		if (env.cmd == CMD_RUN && env.pid)
			argp_error(state, "run takes a command, not -p");
		if (env.cmd == CMD_RUN && !env.argv)
			argp_error(state, "run needs a command after --");
		for (size_t i = 0; i < sizeof(scoped_options) / sizeof(scoped_options[0]); i++)
			if (given[scoped_options[i].key] &&
			    scoped_options[i].leaks != (env.cmd == CMD_LEAKS))
				argp_error(state, "%s is for %s", scoped_options[i].name,
					   scoped_options[i].leaks ? "leaks" : "attach and run");
		if (given[OPT_OFF_CPU_MIN] && !env.off_cpu)
			argp_error(state, "--off-cpu-min needs --off-cpu");
		if (env.n_otlp_headers && !env.otlp_endpoint)
			argp_error(state, "--otlp-header goes with --otlp-endpoint");
		break;
	default:
		return ARGP_ERR_UNKNOWN;
	}
	return 0;
}

/* ---- run: start the command stopped until the sampler is attached ---------------------- */

struct child {
	pid_t pid;
	bool resumed; /* it runs the command; before, it is stopped at exec under ptrace */
	int go_fd; /* write a byte to let the child exec */
	int err_fd; /* the child's exec errno, or EOF when exec succeeded */
	bool reaped; /* it has ended and status is its wait status */
	int status;
	int stopped_with; /* the signal asyncprof ended it with, 0 when it ended by itself */
};

/* How long a command may take to exit after SIGTERM at the end of a recording, and to be
 * gone after SIGKILL (longer only in an uninterruptible sleep). */
#define RUN_TERM_TIMEOUT_MS 3000
#define RUN_KILL_TIMEOUT_MS 10000

/*
 * execvp() without its fallback: a file the kernel refuses to execute (ENOEXEC) would be run by
 * /bin/sh, and /bin/sh profiled instead. Returns only on failure, with errno set: the error of
 * the first candidate that exists, as execvp() reports it.
 */
static void exec_command(char **argv)
{
	const char *path = getenv("PATH"), *p;
	bool denied = false;
	char file[PATH_MAX];

	if (strchr(argv[0], '/')) {
		execv(argv[0], argv);
		return;
	}
	if (!path)
		path = "/usr/local/bin:/usr/bin:/bin";
	for (p = path;; p++) {
		const char *end = strchrnul(p, ':');
		int len = end - p;

		if ((size_t)snprintf(file, sizeof(file), "%.*s%s%s", len, p, len ? "/" : "",
				     argv[0]) < sizeof(file)) {
			execv(file, argv);
			if (errno == EACCES)
				denied = true;
			else if (errno != ENOENT && errno != ENOTDIR)
				return;
		}
		p = end;
		if (!*p)
			break;
	}
	errno = denied ? EACCES : ENOENT;
}

static int spawn_child(char **argv, struct child *c)
{
	int go[2], err[2];

	if (pipe2(go, O_CLOEXEC) || pipe2(err, O_CLOEXEC))
		return -errno;
	c->pid = fork();
	if (c->pid < 0)
		return -errno;
	if (c->pid == 0) {
		char b;
		int e;

		close(go[1]);
		close(err[0]);
		if (read(go[0], &b, 1) != 1)
			_exit(127);
		/* Stop at exec so the probes are in place before the program runs. */
		if (ptrace(PTRACE_TRACEME, 0, NULL, NULL))
			_exit(127);
		exec_command(argv);
		e = errno;
		if (write(err[1], &e, sizeof(e)) < 0)
			_exit(127);
		_exit(127);
	}
	close(go[0]);
	close(err[1]);
	c->go_fd = go[1];
	c->err_fd = err[0];
	return 0;
}

/* The program's entry point (AT_ENTRY of its auxiliary vector); 0 when unknown. */
static uint64_t auxv_entry(pid_t pid)
{
	char path[64];
	uint64_t pair[2], entry = 0;
	int fd;

	snprintf(path, sizeof(path), "/proc/%d/auxv", pid);
	fd = open(path, O_RDONLY | O_CLOEXEC);
	if (fd < 0)
		return 0;
	while (read(fd, pair, sizeof(pair)) == sizeof(pair) && pair[0] != AT_NULL)
		if (pair[0] == AT_ENTRY)
			entry = pair[1];
	close(fd);
	return entry;
}

/*
 * Runs the child, stopped after its exec, to its entry point: by then the dynamic loader has
 * mapped the libraries it needs (before, only the executable and the loader are), so markers
 * and symbols in them are found, and probes go in before the program's own code runs. A
 * breakpoint at the entry, put back once hit; other signals on the way are passed on.
 * Returns 0, or -ECHILD when the program ended before its entry (a missing library).
 */
static int run_to_entry(struct child *c)
{
	uint64_t entry = auxv_entry(c->pid);
	struct user_regs_struct regs;
	long word;
	int status, sig = 0;

	if (!entry)
		return 0;
	errno = 0;
	word = ptrace(PTRACE_PEEKTEXT, c->pid, entry, NULL);
	if (errno)
		return 0; /* stays at the exec: the executable is all that is known */
	if (ptrace(PTRACE_POKETEXT, c->pid, entry, (word & ~0xffL) | 0xcc))
		return 0;
	for (;;) {
		if (ptrace(PTRACE_CONT, c->pid, NULL, sig) ||
		    waitpid(c->pid, &status, 0) != c->pid)
			return -errno;
		if (WIFEXITED(status) || WIFSIGNALED(status)) {
			c->pid = 0;
			return -ECHILD;
		}
		sig = WSTOPSIG(status);
		if (sig == SIGTRAP)
			break;
	}
	if (ptrace(PTRACE_GETREGS, c->pid, NULL, &regs) ||
	    ptrace(PTRACE_POKETEXT, c->pid, entry, word))
		return -errno;
	if (regs.rip != entry + 1)
		return -EPROTO; /* a trap elsewhere: not ours */
	regs.rip = entry;
	return ptrace(PTRACE_SETREGS, c->pid, NULL, &regs) ? -errno : 0;
}

/* Lets the child exec and runs it to its entry point, where it stays stopped. Returns 0, the
 * exec's -errno, or -ECHILD when it ended first. */
static int exec_child(struct child *c)
{
	int e = 0, status;
	ssize_t n;

	if (write(c->go_fd, "g", 1) != 1)
		return -errno;
	close(c->go_fd);
	n = read(c->err_fd, &e, sizeof(e));
	close(c->err_fd);
	if (n == sizeof(e)) {
		waitpid(c->pid, NULL, 0);
		c->pid = 0;
		return -e;
	}
	if (waitpid(c->pid, &status, 0) != c->pid || !WIFSTOPPED(status)) {
		c->pid = 0;
		return -ECHILD;
	}
	return run_to_entry(c);
}

/* Lets the stopped child run, no longer traced. */
static void resume_child(struct child *c)
{
	ptrace(PTRACE_DETACH, c->pid, NULL, NULL);
	c->resumed = true;
}

/* Waits up to timeout_ms for the child to end; true when it has (c->status is set). */
static bool reap_child(struct child *c, int timeout_ms)
{
	for (int waited = 0;; waited += 10) {
		pid_t w = waitpid(c->pid, &c->status, WNOHANG);

		if (w == c->pid || (w < 0 && errno == ECHILD)) {
			c->reaped = w == c->pid;
			return true;
		}
		if (waited >= timeout_ms)
			return false;
		usleep(10000);
	}
}

/*
 * Ends a command the recording outlived, as perf does: SIGTERM (and SIGCONT, for one that is
 * stopped), then SIGKILL when it is still there RUN_TERM_TIMEOUT_MS later (it ignores or
 * handles SIGTERM and does not exit). One that never ran, still stopped at its exec under our
 * ptrace, is simply killed. Says what it did when it had to kill.
 */
static void end_child(struct child *c)
{
	if (!c->pid || c->reaped)
		return;
	c->stopped_with = c->resumed ? SIGTERM : SIGKILL;
	kill(c->pid, c->stopped_with);
	if (c->resumed) {
		kill(c->pid, SIGCONT);
		if (reap_child(c, RUN_TERM_TIMEOUT_MS))
			return;
		fprintf(stderr, "asyncprof: %s (pid %d) did not exit within %d s of SIGTERM: "
				"sending SIGKILL\n",
			env.argv[0], c->pid, RUN_TERM_TIMEOUT_MS / 1000);
		c->stopped_with = SIGKILL;
		kill(c->pid, SIGKILL);
	}
	if (!reap_child(c, RUN_KILL_TIMEOUT_MS))
		fprintf(stderr, "asyncprof: %s (pid %d) is still there %d s after SIGKILL (an "
				"uninterruptible sleep): leaving it\n",
			env.argv[0], c->pid, RUN_KILL_TIMEOUT_MS / 1000);
}

/* "exit status N" or "killed by SIGxxx" of a wait status. */
static void describe_status(int status, char *buf, size_t size)
{
	if (WIFEXITED(status))
		snprintf(buf, size, "exit status %d", WEXITSTATUS(status));
	else if (WIFSIGNALED(status))
		snprintf(buf, size, "killed by SIG%s%s",
			 sigabbrev_np(WTERMSIG(status)) ? sigabbrev_np(WTERMSIG(status)) : "?",
			 WCOREDUMP(status) ? " (core dumped)" : "");
	else
		snprintf(buf, size, "ended (wait status %#x)", status);
}

/* ---- recording ------------------------------------------------------------------------- */

struct recording {
	struct collector *col;
	struct tokio_adaptor *tokio;
	struct go_adaptor *go;
	struct usdt_adaptor *usdt;
	uint64_t received;
};

static uint64_t decode_tokio(void *ctx, const uint8_t *tls, uint32_t len)
{
	return tokio_current_task(ctx, tls, len);
}

static const char *tokio_type_of_code(void *ctx, uint64_t pc, bool *internal)
{
	return tokio_type_at(ctx, pc, internal);
}

static const char *tokio_type_of_spawn(void *ctx, const uint64_t *pcs, size_t n, bool *internal)
{
	return tokio_spawned_type(ctx, pcs, n, internal);
}

static void on_sample(const struct sample_event *e, size_t size, void *ctx)
{
	struct recording *r = ctx;
	uint64_t task = 0;

	r->received++;
	/* The sample's task must be known first: its spawn, its name. */
	if (r->usdt)
		usdt_consume(r->usdt);
	if (r->tokio)
		tokio_consume(r->tokio);
	if (r->go) {
		/* A goroutine the last snapshot lacks makes the next one come sooner: now. */
		task = go_current_goroutine(r->go, e->tls, e->tls_len);
		go_refresh(r->go, collector_tasks(r->col));
	} else if (e->task) {
		task = e->task; /* exact: from the poll hooks (full mode) */
	} else if (r->tokio && e->tls_len) {
		if (!tokio_calibrated(r->tokio)) {
			tokio_observe_sample(r->tokio, e->tid, e->tls, e->tls_len);
			if (tokio_calibrated(r->tokio))
				collector_resolve_parents(r->col, decode_tokio, r->tokio);
		}
		task = tokio_current_task(r->tokio, e->tls, e->tls_len);
	}
	collector_add(r->col, e, size, task);
}

static int on_task_event(void *ctx, void *data, size_t size)
{
	struct recording *r = ctx;
	const struct task_event *e = data;
	bool was_calibrated, internal = false;
	const char *type = NULL;
	uint64_t current = 0;

	if (size < TASK_EVENT_SMALL || !r->tokio)
		return 0;
	was_calibrated = tokio_calibrated(r->tokio);
	tokio_observe(r->tokio, e);
	if (!was_calibrated && tokio_calibrated(r->tokio))
		collector_resolve_parents(r->col, decode_tokio, r->tokio);
	if (e->flags & TASK_EV_TLS)
		current = tokio_current_task(r->tokio, e->tls, e->tls_len);
	if (e->kind == TASK_RUN || e->kind == TASK_EXIT)
		type = tokio_type_name(r->tokio, e->type, &internal);
	collector_task_event(r->col, e, size, current,
			     tokio_calibrated(r->tokio) && (e->flags & TASK_EV_TLS), type, internal);
	return 0;
}

static bool target_alive(pid_t pid, struct child *child)
{
	if (child)
		return !reap_child(child, 0);
	return kill(pid, 0) == 0 || errno == EPERM;
}

static void print_status(double elapsed, uint64_t samples, uint64_t drops)
{
	fprintf(stderr, "\r\033[Kasyncprof: recording pid %d: %.0fs, %llu samples, %llu dropped",
		env.pid, elapsed, (unsigned long long)samples, (unsigned long long)drops);
}

/* Says what the profile will lack when the main executable has no symbols or no DWARF. */
static const char *symbol_warning(struct process *proc)
{
	const struct proc_mapping *m = process_exe_mapping(proc);
	struct elf_object *obj = m ? symbolizer_object(proc->sym, proc->pid, m) : NULL;

	if (!obj)
		return "cannot read the target's executable: its frames show as [unknown]";
	if (!elf_object_has_symbols(obj))
		return "the target's executable has no symbols (stripped): its own frames show "
		       "as [unknown] (name); libraries are still resolved";
	if (!elf_object_has_lines(obj))
		return "the target's executable has no DWARF debug info: no file:line and "
		       "no inlined frames for its code";
	return NULL;
}

static double cpu_seconds_self(uint64_t *max_rss_kb)
{
	struct rusage ru;

	getrusage(RUSAGE_SELF, &ru);
	if (max_rss_kb)
		*max_rss_kb = ru.ru_maxrss;
	return ru.ru_utime.tv_sec + ru.ru_utime.tv_usec / 1e6 + ru.ru_stime.tv_sec +
	       ru.ru_stime.tv_usec / 1e6;
}

/*
 * Opens the results directory (-o, or a new asyncprof-PID-YYYYMMDD-HHMMSS) before anything is
 * recorded, so a directory that cannot be used costs no recording. Returns its descriptor and
 * sets *dir (malloc'd) and *created, or prints why not and returns -1.
 */
static int open_out_dir(char **dir, bool *created)
{
	char stamp[32], why[256] = "";
	time_t now = time(NULL);
	struct stat st;
	int fd, err;

	if (env.out_dir) {
		*dir = strdup(env.out_dir);
	} else {
		strftime(stamp, sizeof(stamp), "%Y%m%d-%H%M%S", localtime(&now));
		if (asprintf(dir, "asyncprof-%d-%s", env.pid, stamp) < 0)
			*dir = NULL;
	}
	if (!*dir) {
		fprintf(stderr, "asyncprof: cannot name the output directory: %s\n",
			strerror(ENOMEM));
		return -1;
	}
	*created = lstat(*dir, &st) != 0;
	err = output_dir_open(*dir, !env.out_dir, &fd, why, sizeof(why));
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

/* Writes NAME.pb.gz, NAME.folded and NAME.svg in dirfd (dir in messages); returns 0 or the last
 * -errno. */
static int write_profile(struct profile *prof, int dirfd, const char *dir, const char *name,
			 size_t folded_value, const char *root_label, const char *title)
{
	struct flamegraph_opts fg = { .title = title, .root_label_key = root_label };
	char file[64];
	int err, ret = 0;

	snprintf(file, sizeof(file), "%s.pb.gz", name);
	err = pprof_write(prof, dirfd, file);
	if (!err) {
		snprintf(file, sizeof(file), "%s.folded", name);
		err = folded_write_file(prof, folded_value, root_label, dirfd, file);
	}
	if (!err) {
		snprintf(file, sizeof(file), "%s.svg", name);
		err = flamegraph_write_file(prof, folded_value, &fg, dirfd, file);
	}
	if (err) {
		fprintf(stderr, "asyncprof: cannot write %s/%s: %s\n", dir, file, strerror(-err));
		ret = err;
	}
	return ret;
}

static int write_outputs(int dirfd, const char *dir, struct process *proc, struct collector *col,
			 struct offcpu *off, const struct report_info *info)
{
	struct profile *wait = collector_wait_profile(col);
	char title[256];
	int err, ret;

	snprintf(title, sizeof(title), "CPU: %s (pid %d)", proc->comm, proc->pid);
	ret = write_profile(collector_profile(col), dirfd, dir, "cpu", 0, "thread_name", title);
	if (info->has_wait) {
		snprintf(title, sizeof(title), "Task wait (suspended time): %s (pid %d)", proc->comm,
			 proc->pid);
		err = write_profile(wait, dirfd, dir, "wait", 1, NULL, title);
		if (err)
			ret = err;
	}
	if (collector_alloc_profile(col)) {
		snprintf(title, sizeof(title), "Allocations (sampled bytes): %s (pid %d)",
			 proc->comm, proc->pid);
		err = write_profile(collector_alloc_profile(col), dirfd, dir, "alloc", 1, NULL,
				    title);
		if (err)
			ret = err;
	}
	if (off) {
		snprintf(title, sizeof(title), "Off-CPU (time blocked): %s (pid %d)", proc->comm,
			 proc->pid);
		err = write_profile(offcpu_profile(off), dirfd, dir, "offcpu", 1, "thread_name",
				    title);
		if (err)
			ret = err;
	}
	err = report_write(info, collector_profile(col), dirfd);
	if (err) {
		fprintf(stderr, "asyncprof: cannot write %s/report.json: %s\n", dir, strerror(-err));
		ret = err;
	}
	return ret;
}

/* Sends the recording's profiles as one OTLP window and says how it went: 0, or -EIO. */
static int export_otlp(struct exporter *ex, const struct resource *res, struct process *proc,
		       struct collector *col, struct offcpu *off, bool has_wait)
{
	struct window_profile profiles[4];
	struct window w = { res, proc->comm, profiles, 0, collector_profile(col)->time_nanos };
	struct exporter_stats st;
	int err;

	profiles[w.nprofiles++] = (struct window_profile){ "cpu", collector_profile(col) };
	if (has_wait)
		profiles[w.nprofiles++] = (struct window_profile){ "wait",
								   collector_wait_profile(col) };
	if (collector_alloc_profile(col))
		profiles[w.nprofiles++] = (struct window_profile){ "alloc",
								   collector_alloc_profile(col) };
	if (off)
		profiles[w.nprofiles++] = (struct window_profile){ "offcpu", offcpu_profile(off) };
	err = window_export_once(ex, &w, OTLP_WAIT_MS, &st);
	if (!err) {
		fprintf(stderr, "asyncprof: profiles sent to %s (%llu bytes)\n", exporter_url(ex),
			(unsigned long long)st.sent_bytes);
		return 0;
	}
	if (err != -EIO)
		fprintf(stderr, "asyncprof: cannot export the profiles: %s\n", strerror(-err));
	else
		fprintf(stderr, "asyncprof: cannot export the profiles to %s: %s; %s (%llu bytes); "
				"the files are written\n",
			exporter_url(ex), st.last_error[0] ? st.last_error : "no answer",
			st.dropped_windows ? "the window was dropped"
					   : "not delivered in time, the window is dropped",
			(unsigned long long)(st.dropped_bytes + st.queued_bytes));
	return -EIO;
}

/*
 * Records env.pid (child: the command run, stopped before its exec) and writes the results in
 * the directory dirfd (named dir in messages), and sends them to exporter if not NULL. Returns 0 when the results were written.
 */
static int record(struct child *child, int dirfd, const char *dir, struct exporter *exporter)
{
	struct symbolizer *sym = NULL;
	struct kallsyms *ks = NULL;
	struct process *proc = NULL;
	struct cpu_sampler *sampler = NULL;
	struct offcpu *off = NULL;
	struct recording rec = { 0 };
	struct sampler_opts sopts = { .pid = env.pid, .freq_hz = env.freq_hz,
				      .verbose = env.verbose };
	uint64_t counters[CNT_MAX] = { 0 };
	int wake_fds[SAMPLER_WAKE_FDS], lock_fd = -1;
	pid_t holder;
	size_t nwake = 0;
	struct report_info info = { 0 };
	struct resource res = { 0 };
	struct event_loss loss = { 0 };
	char loss_warning[256];
	const char *warnings[24];
	size_t nwarn = 0;
	bool tty = isatty(STDERR_FILENO), exited = false;
	uint64_t start_ns, stop_ns, last_status = 0;
	struct timespec wall;
	char why[256], ended[64];
	int err;
	double elapsed, cpu_start, cpu_end;
	uint64_t max_rss_kb;

	sym = symbolizer_new();
	if (!sym)
		return -ENOMEM;
	if (child) {
		err = exec_child(child);
		if (err == -ECHILD) {
			fprintf(stderr, "asyncprof: cannot run %s: it ended before its first "
					"instruction (the dynamic loader failed: see its message "
					"above)\n", env.argv[0]);
			goto out;
		}
		if (err) {
			fprintf(stderr, "asyncprof: cannot run %s: %s\n", env.argv[0],
				strerror(-err));
			goto out;
		}
	}
	err = process_open(env.pid, sym, &proc);
	if (!err && (proc->exe[0] == 0 || !proc->maps->count))
		err = -EINVAL;
	if (err) {
		int why_err = process_check(env.pid, why, sizeof(why));

		fprintf(stderr, "asyncprof: cannot attach to pid %d: %s\n", env.pid,
			why_err ? why : strerror(-err));
		goto out;
	}
	lock_fd = recording_lock(env.pid, &holder);
	if (lock_fd == -EBUSY) {
		if (holder)
			fprintf(stderr, "asyncprof: cannot attach to pid %d: asyncprof (pid %d) is "
					"recording it; two recordings of one process disturb each "
					"other (each one's probes show in the other's samples): wait "
					"for it to end, or stop it\n", env.pid, holder);
		else
			fprintf(stderr, "asyncprof: cannot attach to pid %d: another asyncprof is "
					"recording it; two recordings of one process disturb each "
					"other: wait for it to end, or stop it\n", env.pid);
		err = -EBUSY;
		goto out;
	} else if (lock_fd < 0) {
		fprintf(stderr, "asyncprof: warning: cannot tell whether another asyncprof records "
				"pid %d (%s): two recordings of one process disturb each other\n",
			env.pid, strerror(-lock_fd));
	}
	err = collector_new(proc, NULL, 1000000000LL / env.freq_hz, &rec.col);
	if (err)
		goto out;
	if (env.runtime == RT_AUTO || env.runtime == RT_GO) {
		err = go_adaptor_open(proc, &rec.go);
		if (err == -ENOENT && env.runtime == RT_GO) {
			fprintf(stderr, "asyncprof: cannot attach the Go adaptor: %s is not a Go "
					"program\n", proc->exe);
			goto out;
		} else if (err && err != -ENOENT) {
			fprintf(stderr, "asyncprof: cannot analyze %s for Go: %s\n", proc->exe,
				err == -ENOTSUP ? "unsupported Go version without DWARF"
						: strerror(-err));
			goto out;
		}
		err = 0;
	}
	if (rec.go) {
		go_tls_block(rec.go, &sopts.tls_offset, &sopts.tls_bytes);
		collector_set_runtime(rec.col, go_is_goroutine_root, env.mode >= MODE_LIFECYCLE,
				      "goid");
	}
	/* Markers are the program's own word: they win over Tokio's internals. */
	if (!rec.go && (env.runtime == RT_AUTO || env.runtime == RT_USDT)) {
		err = usdt_adaptor_open(proc, env.mode >= MODE_LIFECYCLE, env.verbose, &rec.usdt);
		if (err == -ENOENT && env.runtime == RT_USDT) {
			fprintf(stderr, "asyncprof: cannot attach the USDT adaptor: neither %s nor the "
					"libraries it has loaded carry asyncprof markers "
					"(probes/asyncprof.h)\n",
				proc->exe);
			goto out;
		} else if (err && err != -ENOENT) {
			fprintf(stderr, "asyncprof: cannot read the markers of %s: %s\n", proc->exe,
				strerror(-err));
			goto out;
		}
		err = 0;
	}
	if (rec.usdt) {
		sopts.poll_stacks = true;
		sopts.logical_frames = true;
	}
	if (!rec.go && !rec.usdt && (env.runtime == RT_AUTO || env.runtime == RT_TOKIO)) {
		err = tokio_adaptor_open(proc, env.mode, env.verbose, &rec.tokio);
		if (err == -ENOENT && env.runtime == RT_TOKIO) {
			fprintf(stderr, "asyncprof: cannot attach the Tokio adaptor: %s has no Tokio "
					"runtime (no task vtables or raw::poll functions)\n",
				proc->exe);
			goto out;
		} else if (err && err != -ENOENT) {
			fprintf(stderr, "asyncprof: cannot analyze %s for Tokio: %s\n", proc->exe,
				strerror(-err));
			goto out;
		}
		err = 0;
	}
	if (rec.tokio) {
		tokio_tls_block(rec.tokio, &sopts.tls_offset, &sopts.tls_bytes);
		sopts.poll_stacks = env.mode == MODE_FULL;
		collector_set_runtime(rec.col, tokio_is_poll_frame, env.mode >= MODE_LIFECYCLE,
				      "task_id");
		if (env.mode >= MODE_LIFECYCLE)
			collector_set_task_finalizer(rec.col, tokio_finalize_task, rec.tokio);
		collector_set_task_namer(
		    rec.col,
		    &(struct task_namer){tokio_type_of_code, tokio_type_of_spawn, rec.tokio});
	} else if (!rec.go && !rec.usdt && env.mode != MODE_SAMPLE) {
		fprintf(stderr, "asyncprof: warning: --mode %s needs an async runtime; %s has "
				"none, so this is a plain CPU profile\n",
			task_mode_name(env.mode), proc->comm);
	}
	/* Without CONFIG_SCHED_INFO the probes read no run delay: nothing tells preemption apart. */
	if ((rec.usdt || (rec.tokio && env.mode >= MODE_LIFECYCLE)) &&
	    access("/proc/self/schedstat", R_OK) != 0)
		warnings[nwarn++] = "the kernel does not count the time threads wait for a CPU (no "
				    "/proc/PID/schedstat): poll times preempted read 0, and a long "
				    "poll's own time includes them";
	err = sampler_open(&sopts, on_sample, &rec, &sampler);
	if (err)
		goto out;
	if (rec.go) {
		err = go_adaptor_attach(rec.go, env.mode, rec.col);
		if (err) {
			fprintf(stderr, "asyncprof: cannot attach the Go probes: %s\n",
				strerror(-err));
			goto out;
		}
	}
	if (rec.tokio) {
		err = tokio_adaptor_attach(rec.tokio,
					   sopts.poll_stacks ? sampler_threads_map(sampler) : -1,
					   on_task_event, &rec);
		if (err) {
			fprintf(stderr, "asyncprof: cannot attach the Tokio probes: %s\n",
				strerror(-err));
			goto out;
		}
	}
	if (rec.usdt) {
		err = usdt_adaptor_attach(rec.usdt, rec.col, sampler_threads_map(sampler),
					  sampler_frames_map(sampler));
		if (err) {
			fprintf(stderr, "asyncprof: cannot attach the USDT probes: %s\n",
				strerror(-err));
			goto out;
		}
	}
	if (env.off_cpu) {
		struct offcpu_opts oopts = { .pid = env.pid, .min_block_ns = env.off_cpu_min_ns,
					     .verbose = env.verbose };

		err = offcpu_open(&oopts, rec.col, &off);
		if (err)
			goto out;
	}
	/* Read once the probes are loaded, so that their BPF programs' frames have their names. */
	err = kallsyms_load(&ks);
	if (err) {
		fprintf(stderr, "asyncprof: warning: no kernel symbols (%s); kernel frames will "
				"show as [unknown]\n", strerror(-err));
		warnings[nwarn++] = "kernel symbols unavailable";
	}
	collector_set_kallsyms(rec.col, ks);

	if (exporter) {
		/* Now, while /proc/PID is there: what identifies the process to a backend. */
		const char *runtime = rec.tokio ? "tokio" : rec.go ? "go" : rec.usdt ? "usdt" : NULL;

		err = resource_read(env.pid, runtime, rec.go ? go_runtime_version(rec.go) : NULL,
				    &res);
		if (err)
			goto out;
	}

	clock_gettime(CLOCK_REALTIME, &wall);
	start_ns = monotonic_ns();
	if (off)
		offcpu_start(off, start_ns);
	cpu_start = cpu_seconds_self(NULL);
	if (child)
		resume_child(child);
	if (rec.tokio)
		fprintf(stderr, "asyncprof: Tokio runtime found in %s; mode %s\n", proc->comm,
			task_mode_name(env.mode));
	if (rec.go)
		fprintf(stderr, "asyncprof: Go runtime found in %s (%s); mode %s\n", proc->comm,
			go_runtime_version(rec.go), task_mode_name(env.mode));
	if (rec.usdt)
		fprintf(stderr, "asyncprof: asyncprof markers found in %s; mode %s\n",
			usdt_description(rec.usdt), task_mode_name(env.mode));
	fprintf(stderr, "asyncprof: recording pid %d (%s) at %u Hz%s\n", env.pid, proc->comm,
		env.freq_hz, env.duration_s ? "" : "; Ctrl-C to stop");

	/* A busy service's task events fill their ring buffer (16 KiB stacks) in about 100 ms:
	 * they must wake the loop, not wait for the next CPU sample. */
	if (rec.tokio)
		wake_fds[nwake++] = tokio_wait_fd(rec.tokio);
	while (!stop_signal) {
		if (rec.tokio)
			tokio_consume(rec.tokio);
		if (rec.go)
			go_consume(rec.go);
		if (rec.usdt)
			usdt_consume(rec.usdt);
		if (off)
			offcpu_consume(off);
		err = sampler_poll(sampler, 100, wake_fds, nwake);
		if (err < 0 && err != -EINTR) {
			fprintf(stderr, "\nasyncprof: cannot read samples: %s\n", strerror(-err));
			break;
		}
		elapsed = (monotonic_ns() - start_ns) / 1e9;
		if (tty && monotonic_ns() - last_status > 500000000ULL) {
			sampler_counters(sampler, counters);
			print_status(elapsed, rec.received, counters[CNT_DROPS]);
			last_status = monotonic_ns();
		}
		if (env.duration_s && elapsed >= env.duration_s)
			break;
		if (!target_alive(env.pid, child)) {
			exited = true;
			break;
		}
	}
	/* The recording ends now: what follows (draining, detaching probes) is not its time. */
	stop_ns = monotonic_ns();
	err = 0;
	/* Blocks that end while the runtimes' probes are drained are not the recording's. */
	if (off)
		offcpu_stop(off);
	/* The Tokio probes stop first, so that what they sent, lost and counted (polls) is the
	 * same set of events; then take what is still in the ring buffers. */
	if (rec.tokio)
		tokio_adaptor_stop(rec.tokio);
	do {
		if (rec.tokio)
			tokio_consume(rec.tokio);
		if (rec.go)
			go_consume(rec.go);
		if (rec.usdt)
			usdt_consume(rec.usdt);
	} while (sampler_poll(sampler, 0, NULL, 0) > 0);
	if (rec.tokio)
		tokio_consume(rec.tokio);
	if (rec.go)
		go_consume(rec.go);
	if (rec.usdt)
		usdt_consume(rec.usdt);
	/* All the Go probes had to say is read: they go before the results are put together. */
	go_adaptor_detach(rec.go);
	collector_finish(rec.col, stop_ns);
	sampler_counters(sampler, counters);
	if (rec.tokio && env.mode >= MODE_LIFECYCLE)
		tokio_read_task_counters(rec.tokio, collector_tasks(rec.col));
	sampler_close(sampler);
	sampler = NULL;
	elapsed = (stop_ns - start_ns) / 1e9;
	cpu_end = cpu_seconds_self(&max_rss_kb);
	if (tty)
		fprintf(stderr, "\r\033[K");
	if (exited) {
		if (child)
			describe_status(child->status, ended, sizeof(ended));
		fprintf(stderr, "asyncprof: pid %d exited after %.1fs%s%s%s; writing what was "
				"collected\n",
			env.pid, elapsed, child ? " (" : "", child ? ended : "", child ? ")" : "");
	} else if (stop_signal) {
		fprintf(stderr, "asyncprof: stopped by %s after %.1fs\n", strsignal(stop_signal),
			elapsed);
	}
	if (child && !exited) {
		end_child(child);
		if (child->reaped) {
			describe_status(child->status, ended, sizeof(ended));
			fprintf(stderr, "asyncprof: ended %s (pid %d) with SIG%s: %s\n",
				env.argv[0], env.pid, sigabbrev_np(child->stopped_with), ended);
		}
	}

	{
		const struct collector_stats *st = collector_stats(rec.col);
		struct profile *prof = collector_profile(rec.col);
		struct profile *wait = collector_wait_profile(rec.col);
		struct task_table *tasks = collector_tasks(rec.col);
		size_t tasks_omitted = 0;
		json_t *tasks_json = tasks ? task_table_json(tasks, REPORT_MAX_TASKS,
							     &tasks_omitted) : NULL;
		json_t *sites_json = tasks ? task_sites_json(tasks) : NULL;
		json_t *go_json = rec.go ? go_report_json(rec.go)
				  : rec.tokio ? tokio_report_json(rec.tokio) : NULL;
		json_t *offcpu_json_obj = off ? offcpu_json(off) : NULL;
		json_t *loss_json = NULL;

		memcpy(loss.received, st->task_events_by_kind, sizeof(loss.received));
		if (rec.tokio)
			tokio_event_loss(rec.tokio, &loss);
		if (rec.usdt)
			usdt_event_loss(rec.usdt, &loss);
		if (rec.go)
			go_event_loss(rec.go, &loss);
		if (tasks)
			loss_json = event_loss_json(&loss);
		prof->time_nanos = (int64_t)wall.tv_sec * 1000000000LL + wall.tv_nsec;
		prof->duration_nanos = (int64_t)(elapsed * 1e9);
		if (wait) {
			wait->time_nanos = prof->time_nanos;
			wait->duration_nanos = prof->duration_nanos;
		}
		if (collector_alloc_profile(rec.col)) {
			collector_alloc_profile(rec.col)->time_nanos = prof->time_nanos;
			collector_alloc_profile(rec.col)->duration_nanos = prof->duration_nanos;
		}
		if (off) {
			offcpu_profile(off)->time_nanos = prof->time_nanos;
			offcpu_profile(off)->duration_nanos = prof->duration_nanos;
			if (offcpu_warning(off))
				warnings[nwarn++] = offcpu_warning(off);
		}
		if (rec.tokio)
			nwarn += tokio_warnings(rec.tokio, warnings + nwarn,
						sizeof(warnings) / sizeof(warnings[0]) - 4 - nwarn);
		if (rec.go)
			nwarn += go_warnings(rec.go, warnings + nwarn,
					     sizeof(warnings) / sizeof(warnings[0]) - 4 - nwarn);
		if (event_loss_dropped(&loss)) {
			snprintf(loss_warning, sizeof(loss_warning),
				 "%llu task events were dropped (the ring buffer was full): the "
				 "figures they feed are incomplete (report.json: task_events)",
				 (unsigned long long)event_loss_dropped(&loss));
			warnings[nwarn++] = loss_warning;
		}
		if (counters[CNT_DROPS])
			warnings[nwarn++] = "samples were dropped: the ring buffer was full";
		if (st->samples == 0)
			warnings[nwarn++] = "no samples: the target did not run on a CPU";
		if (symbol_warning(proc))
			warnings[nwarn++] = symbol_warning(proc);
		info = (struct report_info){
		    .pid = env.pid,
		    .comm = proc->comm,
		    .cmdline = proc->cmdline,
		    .exe = proc->exe,
		    .start_time_ns = prof->time_nanos,
		    .duration_ns = prof->duration_nanos,
		    .frequency_hz = env.freq_hz,
		    .samples = st->samples,
		    .probe_samples = st->probe_samples,
		    .drops = counters[CNT_DROPS],
		    .truncated_stacks = st->truncated_stacks,
		    .unwind_errors = st->unwind_errors,
		    .threads = st->threads,
		    .profiler_cpu_s = cpu_end,
		    .profiler_recording_cpu_s = cpu_end - cpu_start,
		    .profiler_max_rss_kb = max_rss_kb,
		    .runtime = rec.tokio  ? "tokio"
			       : rec.go	  ? "go"
			       : rec.usdt ? "usdt"
					  : NULL,
		    .mode = task_mode_name(env.mode),
		    .tasks = tasks_json,
		    .spawn_sites = sites_json,
		    .tasks_omitted = tasks_omitted,
		    .tasks_unnamed = tasks ? task_table_unnamed(tasks) : 0,
		    .has_wait = ((rec.tokio || rec.usdt) && env.mode >= MODE_LIFECYCLE) || rec.go,
		    .has_alloc = collector_alloc_profile(rec.col) != NULL,
		    .runtime_json = go_json,
		    .task_events = loss_json,
		    .runtime_key = rec.go      ? "go"
				   : rec.tokio ? "tokio"
					       : NULL,
		    .offcpu = offcpu_json_obj,
		    .command_ended = child && child->reaped,
		    .command_status = child ? child->status : 0,
		    .command_stopped_with = child ? child->stopped_with : 0,
		    .warnings = warnings,
		    .nwarnings = nwarn,
		};
		err = write_outputs(dirfd, dir, proc, rec.col, off, &info);
		json_decref(tasks_json);
		json_decref(sites_json);
		json_decref(go_json);
		json_decref(offcpu_json_obj);
		json_decref(loss_json);
		fprintf(stdout, "\n%llu samples over %.1fs from %llu threads (%llu dropped, %llu "
				"truncated stacks, %llu unwind errors)\n",
			(unsigned long long)st->samples, elapsed, (unsigned long long)st->threads,
			(unsigned long long)counters[CNT_DROPS],
			(unsigned long long)st->truncated_stacks,
			(unsigned long long)st->unwind_errors);
		if (st->probe_samples)
			fprintf(stdout, "probes: %.1f%% of these samples (%llu) are the probes' own "
					"cost ([uprobe] frames: the breakpoint, the handlers, the "
					"probed instruction stepped out of line)\n",
				100.0 * st->probe_samples / st->samples,
				(unsigned long long)st->probe_samples);
		fprintf(stdout, "profiler: %.2fs CPU while recording (%.2f%% of one core), %.2fs in "
				"all, peak RSS %.1f MB\n",
			cpu_end - cpu_start, 100 * (cpu_end - cpu_start) / elapsed, cpu_end,
			max_rss_kb / 1024.0);
		summary_print_top(stdout, prof, 1, 10);
		if (tasks) {
			task_table_print_summary(stdout, tasks, 10000000ULL, &loss);
			event_loss_print(stdout, &loss);
		}
		if (off)
			offcpu_print_summary(stdout, off);
		for (size_t i = 0; i < nwarn; i++)
			fprintf(stderr, "asyncprof: warning: %s\n", warnings[i]);
		if (!err)
			fprintf(stdout, "\nresults in %s/: cpu.pb.gz cpu.folded cpu.svg%s%s%s report.json\n"
					"  go tool pprof -http=: %s/cpu.pb.gz\n",
				dir, info.has_wait ? " wait.pb.gz wait.folded wait.svg" : "",
				collector_alloc_profile(rec.col) ? " alloc.pb.gz alloc.folded alloc.svg" : "",
				off ? " offcpu.pb.gz offcpu.folded offcpu.svg" : "", dir);
		if (exporter) {
			int e = export_otlp(exporter, &res, proc, rec.col, off, info.has_wait);

			if (!err)
				err = e;
		}
	}
out:
	resource_free(&res);
	if (lock_fd >= 0)
		close(lock_fd);
	offcpu_close(off);
	sampler_close(sampler);
	tokio_adaptor_close(rec.tokio);
	go_adaptor_close(rec.go);
	usdt_adaptor_close(rec.usdt);
	collector_free(rec.col);
	process_close(proc);
	kallsyms_free(ks);
	symbolizer_free(sym);
	if (child)
		end_child(child);
	return err;
}

int main(int argc, char **argv)
{
	static const struct argp argp = { options, parse_opt, "attach|run|leaks [-- CMD ARGS...]",
					  doc };
	struct sigaction sa = { .sa_handler = on_signal };
	struct child child = { 0 };
	struct exporter *exporter = NULL;
	char why[256], *dir = NULL;
	bool created = false;
	int err, dirfd;

	argp_err_exit_status = 2;
	err = argp_parse(&argp, argc, argv, ARGP_IN_ORDER, NULL, NULL);
	if (err)
		return 2;
	if (env.cmd == CMD_LEAKS) {
		struct leaks_opts lo = {
			.pid = env.pid,
			.min_age_s = env.min_age_s ? env.min_age_s : 10,
			.json = env.json,
			.all = env.all,
		};

		lo.window_s = env.duration_s ? env.duration_s : lo.min_age_s;
		if (kill(env.pid, 0) && errno == ESRCH) {
			fprintf(stderr, "asyncprof: cannot look at pid %d: no such process\n", env.pid);
			return LEAKS_ERROR;
		}
		return go_leaks_run(&lo);
	}
	if (check_privileges())
		return 1;
	sigemptyset(&sa.sa_mask);
	sigaction(SIGINT, &sa, NULL);
	sigaction(SIGTERM, &sa, NULL);
	signal(SIGPIPE, SIG_IGN);

	if (env.cmd == CMD_ATTACH && process_check(env.pid, why, sizeof(why))) {
		fprintf(stderr, "asyncprof: cannot attach to pid %d: %s\n", env.pid, why);
		return 1;
	}
	if (env.otlp_endpoint) {
		struct exporter_opts eo = { .endpoint = env.otlp_endpoint,
					    .headers = env.otlp_headers,
					    .nheaders = env.n_otlp_headers,
					    .verbose = env.verbose,
					    .quiet = true /* export_otlp() says it */ };

		why[0] = '\0';

		err = exporter_new(&eo, &exporter, why, sizeof(why));
		if (err) {
			fprintf(stderr, "asyncprof: cannot use --otlp-endpoint %s: %s\n",
				env.otlp_endpoint, err == -EINVAL ? why : strerror(-err));
			return err == -EINVAL ? 2 : 1;
		}
	}
	if (env.cmd == CMD_RUN) {
		/* The child waits for a byte before its exec: it is only a fork until then. */
		err = spawn_child(env.argv, &child);
		if (err) {
			fprintf(stderr, "asyncprof: cannot start %s: %s\n", env.argv[0],
				strerror(-err));
			return 1;
		}
		env.pid = child.pid;
	}
	dirfd = open_out_dir(&dir, &created);
	if (dirfd < 0) {
		end_child(&child);
		return 1;
	}
	err = record(env.cmd == CMD_RUN ? &child : NULL, dirfd, dir, exporter);
	close(dirfd);
	/* A directory made for a recording that never started is not left behind, empty. */
	if (err && created)
		rmdir(dir);
	free(dir);
	exporter_free(exporter, NULL);
	return err ? 1 : 0;
}
