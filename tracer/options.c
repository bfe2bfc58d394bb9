// SPDX-License-Identifier: MIT
/* The command line of asyncprof: its help, its options and their checks. */
#include <argp.h>
#include <errno.h>
#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "options.h"
#include "output/timeline.h"
#include "runtimes/runtime.h"
#include "util/duration.h"
#include "util/version.h"

const char *argp_program_version = "asyncprof " ASYNCPROF_VERSION;
const char *argp_program_bug_address = NULL;

enum {
	OPT_OFF_CPU = 0x100,
	OPT_OFF_CPU_MIN,
	OPT_OTLP_ENDPOINT,
	OPT_TIMELINE,
	OPT_TIMELINE_MAX_EVENTS,
	OPT_OTLP_TIMEOUT,
	OPT_BUDGET,
	OPT_OTLP_HEADER, /* the last: parse_state.given's size */
};

static const char doc[] =
	"asyncprof: a profiler for programs on async runtimes (Tokio, Go): whole call stacks "
	"without frame pointers, task ancestry, task wait and scheduling latency, goroutine "
	"leaks.\n"
	"\n"
	"USAGE:\n"
	"  asyncprof attach -p PID [OPTIONS]\n"
	"  asyncprof run [OPTIONS] -- CMD [ARGS...]\n"
	"  asyncprof leaks -p PID [--min-age DURATION] [-d SECONDS] [--json] [--all]\n"
	"  asyncprof top -p PID [--runtime R] [--mode M] [-F HZ] [-d SECONDS] [-o DIR]\n"
	"  asyncprof agent [--pid PID]... [--comm REGEX]... [--all] [OPTIONS]  (agent --help)\n"
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
	"--budget PCT (default 2) is the share of the target's CPU the event probes of "
	"lifecycle and full modes may cost: over it they are on in short windows, randomly "
	"spaced, and off in between; waits, latencies and polls are those seen whole in a window, "
	"totals are scaled (report.json: duty, estimated). --budget 0: always on.\n"
	"\n"
	"--off-cpu adds offcpu.pb.gz, offcpu.folded and offcpu.svg: where the threads blocked "
	"(kernel and user stacks), weighted by the time blocked, for blocks of at least "
	"--off-cpu-min; shorter ones are counted in report.json.\n"
	"\n"
	"--timeline adds timeline.perfetto-trace, for ui.perfetto.dev or trace_processor: each "
	"poll as a slice on its worker thread's track, CPU samples with their stacks, each task's "
	"states (running, runnable, waiting and why), spawns and wakes as flows, Go's GC cycles "
	"(lifecycle and full modes, or the markers); at most --timeline-max-events events "
	"(default 1000000), the last ones.\n"
	"\n"
	"--otlp-endpoint URL also sends the profiles, at the end, to an OpenTelemetry Collector "
	"or Pyroscope as OTLP profiles (HTTP, URL/v1development/profiles); the files are written "
	"all the same.\n"
	"\n"
	"top shows the tasks of a running Tokio, Go or marked program live (or their spawn "
	"sites when there are many), refreshed every second: CPU, polls, busy time, what each "
	"waits on, scheduling latency, longest poll, age; Enter shows a task's ancestry, await "
	"point and hottest stacks, q quits. With -o DIR it writes the recording there at exit, "
	"as attach does.\n"
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
	"  asyncprof top -p 1234 --mode lifecycle  # live tasks, with waits and latencies\n"
	"  go tool pprof -top out/cpu.pb.gz      # read the profile\n"
	"\v"
	"attach, run and top need root, or CAP_BPF and CAP_PERFMON; leaks needs ptrace access to the "
	"process (root, or CAP_SYS_PTRACE).";

static struct argp_option options[] = {
	{ "pid", 'p', "PID", 0, "Process to attach to (attach, leaks, top)", 0 },
	{ "duration", 'd', "SECONDS", 0, "Stop after SECONDS (default: until exit or Ctrl-C)", 0 },
	{ "freq", 'F', "HZ", 0, "Samples per second per CPU (default 99, at most 10000)", 0 },
	{ "output", 'o', "DIR", 0, "Directory for the results", 0 },
	{ "verbose", 'v', NULL, 0, "Print libbpf and unwinding details", 0 },
	{ "runtime", 'r', "RUNTIME", 0, NULL /* from the registry: options_parse() */, 0 },
	{ "mode", 'm', "MODE", 0, "sample (default), lifecycle or full (see above)", 0 },
	{ "min-age", 'a', "DURATION", 0, "leaks: minimum time blocked, e.g. 2s, 500ms, 5m", 0 },
	{ "json", 'j', NULL, 0, "leaks: JSON output", 0 },
	{ "all", 'A', NULL, 0, "leaks: include runtime-internal and main goroutines", 0 },
	{ "budget", OPT_BUDGET, "PCT", 0,
	  "Share of the target's CPU the event probes may cost (default 2; 0: always on)", 0 },
	{ "off-cpu", OPT_OFF_CPU, NULL, 0, "Also profile where threads block (offcpu.*)", 0 },
	{ "off-cpu-min", OPT_OFF_CPU_MIN, "DURATION", 0,
	  "Shortest block profiled, e.g. 1ms (default), 200us, 0 for all", 0 },
	{ "timeline", OPT_TIMELINE, NULL, 0,
	  "Also record a timeline (timeline.perfetto-trace; lifecycle or full mode, or markers)", 0 },
	{ "timeline-max-events", OPT_TIMELINE_MAX_EVENTS, "N", 0,
	  "Events the timeline keeps, the last ones (default 1000000)", 0 },
	{ "otlp-endpoint", OPT_OTLP_ENDPOINT, "URL", 0,
	  "Also send the profiles to an OpenTelemetry Collector (OTLP/HTTP, e.g. "
	  "http://localhost:4318)", 0 },
	{ "otlp-header", OPT_OTLP_HEADER, "KEY=VALUE", 0,
	  "HTTP header for --otlp-endpoint (repeatable: authorization, tenant)", 0 },
	{ "otlp-timeout", OPT_OTLP_TIMEOUT, "DURATION", 0,
	  "How long the request may take (default 10s); the end of the recording waits for it "
	  "and a retry, 1.5 times as long", 0 },
	{ 0 },
};

/* Options that make sense for some commands only: the commands (bits 1 << CMD_X) and, for the
 * message, what they are. */
#define FOR_LEAKS (1u << CMD_LEAKS)
#define FOR_RECORDING (1u << CMD_ATTACH | 1u << CMD_RUN)
#define FOR_LIVE (FOR_RECORDING | 1u << CMD_TOP)
static const struct {
	int key;
	const char *name;
	unsigned int cmds;
	const char *which;
} scoped_options[] = {
	{ 'a', "--min-age", FOR_LEAKS, "leaks" },
	{ 'j', "--json", FOR_LEAKS, "leaks" },
	{ 'A', "--all", FOR_LEAKS, "leaks" },
	{ 'F', "-F", FOR_LIVE, "attach, run and top" },
	{ 'o', "-o", FOR_LIVE, "attach, run and top" },
	{ 'r', "--runtime", FOR_LIVE, "attach, run and top" },
	{ 'm', "--mode", FOR_LIVE, "attach, run and top" },
	{ OPT_OFF_CPU, "--off-cpu", FOR_RECORDING, "attach and run" },
	{ OPT_OFF_CPU_MIN, "--off-cpu-min", FOR_RECORDING, "attach and run" },
	{ OPT_OTLP_ENDPOINT, "--otlp-endpoint", FOR_RECORDING, "attach and run" },
	{ OPT_OTLP_HEADER, "--otlp-header", FOR_RECORDING, "attach and run" },
	{ OPT_TIMELINE, "--timeline", FOR_RECORDING, "attach and run" },
	{ OPT_TIMELINE_MAX_EVENTS, "--timeline-max-events", FOR_RECORDING, "attach and run" },
	{ OPT_OTLP_TIMEOUT, "--otlp-timeout", FOR_RECORDING, "attach and run" },
	{ OPT_BUDGET, "--budget", FOR_RECORDING, "attach and run" },
};

/* What parse_opt() fills: the options, and which were given (by key). */
struct parse_state {
	struct options *o;
	bool given[OPT_OTLP_HEADER + 1];
};

/* An option of attach and run that takes a value. Returns 0 or ARGP_ERR_UNKNOWN. */
static error_t parse_recording_opt(int key, char *arg, struct argp_state *state,
				   struct options *o)
{
	char *end, names[128];
	long n;
	double d;

	switch (key) {
	case 'F':
		errno = 0;
		n = strtol(arg, &end, 10);
		if (errno || *end || n < 1 || n > 10000)
			argp_error(state, "invalid frequency '%s' (1 to 10000 Hz)", arg);
		o->freq_hz = n;
		break;
	case 'o':
		if (!*arg)
			argp_error(state, "empty output directory name");
		o->out_dir = arg;
		break;
	case OPT_OFF_CPU_MIN:
		d = parse_duration(arg, true);
		if (d < 0)
			argp_error(state,
				   "invalid duration '%s' (e.g. 1ms, 200us, 0; at most a year)",
				   arg);
		o->off_cpu_min_ns = (uint64_t)(d * 1e9 + 0.5);
		break;
	case OPT_BUDGET:
		errno = 0;
		d = strtod(arg, &end);
		/* plain decimals only: not hexadecimal, inf or nan */
		if (errno || end == arg || *end || arg[strspn(arg, "0123456789.")] ||
		    !(d >= 0 && d <= 100))
			argp_error(state, "invalid --budget '%s' (percent, 0 to 100)", arg);
		o->budget = d / 100;
		break;
	case OPT_TIMELINE_MAX_EVENTS:
		errno = 0;
		n = strtol(arg, &end, 10);
		if (errno || *end || n < 100 || n > 100000000)
			argp_error(state, "invalid event count '%s' (100 to 100000000)", arg);
		o->timeline_events = n;
		break;
	case OPT_OTLP_TIMEOUT:
		d = parse_duration(arg, true);
		if (d < 0.1 || d > 3600)
			argp_error(state, "invalid --otlp-timeout '%s' (100ms to 1h)", arg);
		o->otlp_timeout_ms = (unsigned int)(d * 1000 + 0.5);
		break;
	case OPT_OTLP_HEADER:
		if (o->n_otlp_headers == sizeof(o->otlp_headers) / sizeof(o->otlp_headers[0]))
			argp_error(state, "too many --otlp-header (16 at most)");
		o->otlp_headers[o->n_otlp_headers++] = arg;
		break;
	case 'r':
		if (strcmp(arg, "auto") != 0 && !runtime_find(arg))
			argp_error(state, "unknown runtime '%s' (%s, or auto)", arg,
				   runtime_names(names, sizeof(names)));
		o->runtime = arg;
		break;
	case 'm':
		if (task_mode_parse(arg, &o->mode))
			argp_error(state, "unknown mode '%s' (sample, lifecycle or full)", arg);
		break;
	default:
		return ARGP_ERR_UNKNOWN;
	}
	return 0;
}

/* The command word, and run's command. */
static void parse_arg(char *arg, struct argp_state *state, struct options *o)
{
	if (o->cmd == CMD_NONE) {
		if (strcmp(arg, "attach") == 0)
			o->cmd = CMD_ATTACH;
		else if (strcmp(arg, "run") == 0)
			o->cmd = CMD_RUN;
		else if (strcmp(arg, "leaks") == 0)
			o->cmd = CMD_LEAKS;
		else if (strcmp(arg, "top") == 0)
			o->cmd = CMD_TOP;
		else
			argp_error(state,
				   "unknown command '%s' (attach, run, leaks, top or agent)", arg);
		return;
	}
	if (o->cmd == CMD_RUN) {
		o->argv = &state->argv[state->next - 1];
		state->next = state->argc;
		return;
	}
	argp_error(state, "unexpected argument '%s'", arg);
}

/* The checks once every argument is read. */
static void parse_end(struct argp_state *state, struct parse_state *ps)
{
	struct options *o = ps->o;

	if (o->cmd == CMD_NONE)
		argp_error(state, "missing command: attach, run, leaks, top or agent");
	if (o->cmd != CMD_RUN && !o->pid)
		argp_error(state, "%s needs -p PID",
			   o->cmd == CMD_LEAKS ? "leaks" : o->cmd == CMD_TOP ? "top" : "attach");
	if (o->cmd == CMD_RUN && o->pid)
		argp_error(state, "run takes a command, not -p");
	if (o->cmd == CMD_RUN && !o->argv)
		argp_error(state, "run needs a command after --");
	for (size_t i = 0; i < sizeof(scoped_options) / sizeof(scoped_options[0]); i++)
		if (ps->given[scoped_options[i].key] && !(scoped_options[i].cmds & 1u << o->cmd))
			argp_error(state, "%s is for %s", scoped_options[i].name,
				   scoped_options[i].which);
	if (ps->given[OPT_OFF_CPU_MIN] && !o->off_cpu)
		argp_error(state, "--off-cpu-min needs --off-cpu");
	if (ps->given[OPT_TIMELINE_MAX_EVENTS] && !o->timeline)
		argp_error(state, "--timeline-max-events needs --timeline");
	if (o->timeline && !o->timeline_events)
		o->timeline_events = TIMELINE_DEFAULT_MAX_EVENTS;
	if (o->n_otlp_headers && !o->otlp_endpoint)
		argp_error(state, "--otlp-header goes with --otlp-endpoint");
	if (o->otlp_timeout_ms && !o->otlp_endpoint)
		argp_error(state, "--otlp-timeout goes with --otlp-endpoint");
}

static error_t parse_opt(int key, char *arg, struct argp_state *state)
{
	struct parse_state *ps = state->input;
	struct options *o = ps->o;
	char *end;
	long n;
	double d;

	if (key >= 0 && key <= OPT_OTLP_HEADER)
		ps->given[key] = true;
	switch (key) {
	case 'p':
		errno = 0;
		n = strtol(arg, &end, 10);
		if (errno || *end || n <= 0 || n > INT_MAX)
			argp_error(state, "invalid PID '%s'", arg);
		o->pid = n;
		break;
	case 'd':
		d = parse_duration(arg, false);
		if (d <= 0)
			argp_error(state,
				   "invalid duration '%s' (seconds, more than 0, at most %.0f)",
				   arg, MAX_DURATION_S);
		o->duration_s = d;
		break;
	case 'v':
		o->verbose = true;
		break;
	case 'a':
		o->min_age_s = parse_duration(arg, true);
		if (o->min_age_s <= 0)
			argp_error(state,
				   "invalid duration '%s' (e.g. 2s, 500ms, 5m; at most a year)",
				   arg);
		break;
	case 'j':
		o->json = true;
		break;
	case 'A':
		o->all = true;
		break;
	case OPT_OFF_CPU:
		o->off_cpu = true;
		break;
	case OPT_OTLP_ENDPOINT:
		o->otlp_endpoint = arg;
		break;
	case OPT_TIMELINE:
		o->timeline = true;
		break;
	case ARGP_KEY_ARG:
		parse_arg(arg, state, o);
		break;
	case ARGP_KEY_END:
		parse_end(state, ps);
		break;
	default:
		return parse_recording_opt(key, arg, state, o);
	}
	return 0;
}

int options_parse(int argc, char **argv, struct options *o)
{
	static const struct argp argp = { options, parse_opt,
					  "attach|run|leaks|top|agent [-- CMD ARGS...]", doc };
	struct parse_state ps = { .o = o };
	char names[128], runtime_doc[192];

	*o = (struct options){
		.freq_hz = 99,
		/* A thread blocks for 1 ms at most 1000 times a second: that bounds what each
		 * profiled block costs (README, "What it costs"), and shorter blocks are still
		 * counted. */
		.off_cpu_min_ns = 1000000,
		/* the aim: the event views at about the cost of a CPU profile */
		.budget = 0.02,
	};
	snprintf(runtime_doc, sizeof(runtime_doc), "%s, or auto (default: the runtime found)",
		 runtime_names(names, sizeof(names)));
	for (struct argp_option *opt = options; opt->name; opt++)
		if (opt->key == 'r')
			opt->doc = runtime_doc;
	argp_err_exit_status = 2;
	return argp_parse(&argp, argc, argv, ARGP_IN_ORDER, NULL, &ps) ? 2 : 0;
}
