// SPDX-License-Identifier: MIT
/* The agent's command line: `asyncprof agent --help`. */
#include <argp.h>
#include <errno.h>
#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "agent/agent.h"
#include "util/duration.h"

/*
 * The shortest --interval: a window must hold enough samples to be worth a request (at 19 Hz,
 * 10 s is 190 samples per busy thread). The tests cut windows faster through
 * ASYNCPROF_AGENT_TEST_MIN_INTERVAL (seconds), which is for them only.
 */
#define MIN_INTERVAL_S 10.0
#define TEST_MIN_INTERVAL_S 0.5

enum {
	OPT_COMM = 0x100,
	OPT_ALL,
	OPT_INTERVAL,
	OPT_OFF_CPU,
	OPT_CPU_BUDGET,
	OPT_OTLP_ENDPOINT,
	OPT_OTLP_HEADER,
	OPT_OUTPUT_DIR,
	OPT_RETAIN,
};

static const char doc[] =
	"asyncprof agent: profiles processes continuously, a window every --interval, sent to an "
	"OpenTelemetry Collector or Pyroscope as OTLP profiles (--otlp-endpoint) and/or kept as "
	"pprof files (--output-dir DIR: DIR/PID-COMM/TYPE-YYYYMMDDTHHMMSS.mmmZ.pb.gz, the last "
	"--retain windows of each process).\n"
	"\n"
	"Targets: --pid PID (repeatable) those processes; --comm REGEX (repeatable, POSIX "
	"extended, against the process name of /proc/PID/comm) every process whose name matches, "
	"including ones started later; --all every process of the host that runs on a CPU. New "
	"processes are picked up within an interval and their runtime (Go, Tokio, asyncprof "
	"markers) found; exited ones are released, their last window sent.\n"
	"\n"
	"The agent keeps its own CPU under --cpu-budget (percent of the host's CPUs): over it, it "
	"lowers the sampling rate, then turns off the busiest runtime probes, and says so in its "
	"log and in the exported profiles' attributes. SIGTERM or Ctrl-C sends the current window, "
	"then exits.\n"
	"\n"
	"EXAMPLES:\n"
	"  asyncprof agent --all --otlp-endpoint http://localhost:4318\n"
	"  asyncprof agent --comm '^(api|worker)$' --output-dir /var/lib/asyncprof --retain 30\n"
	"  asyncprof agent --pid 1234 --interval 10s --mode lifecycle --output-dir out -v\n"
	"\v"
	"Needs root, or CAP_BPF, CAP_PERFMON and CAP_SYS_PTRACE (deploy/ says which for what).";

static const struct argp_option options[] = {
	{ "pid", 'p', "PID", 0, "Profile this process (repeatable)", 0 },
	{ "comm", OPT_COMM, "REGEX", 0,
	  "Profile every process whose name matches, now and later (repeatable)", 0 },
	{ "all", OPT_ALL, NULL, 0, "Profile every process of the host", 0 },
	{ "freq", 'F', "HZ", 0, "Samples per second per CPU (default 19, at most 10000)", 0 },
	{ "interval", OPT_INTERVAL, "DURATION", 0,
	  "A window every DURATION: 60s (default), 10s at least, 5m, ...", 0 },
	{ "mode", 'm', "MODE", 0, "sample (default), lifecycle or full: the runtimes' probes", 0 },
	{ "off-cpu", OPT_OFF_CPU, NULL, 0, "Also profile where threads block", 0 },
	{ "cpu-budget", OPT_CPU_BUDGET, "PCT", 0,
	  "The agent's CPU, in percent of the host's CPUs (default 1)", 0 },
	{ "otlp-endpoint", OPT_OTLP_ENDPOINT, "URL", 0,
	  "OTLP/HTTP receiver: a Collector (http://HOST:4318) or Pyroscope", 0 },
	{ "otlp-header", OPT_OTLP_HEADER, "KEY=VALUE", 0,
	  "HTTP header for --otlp-endpoint (repeatable)", 0 },
	{ "output-dir", OPT_OUTPUT_DIR, "DIR", 0, "Also write each window as pprof files", 0 },
	{ "retain", OPT_RETAIN, "N", 0, "Windows kept per process in DIR (default 60; 0: all)", 0 },
	{ "verbose", 'v', NULL, 0, "One line per window, each request, libbpf's messages", 0 },
	{ 0 },
};

static unsigned long parse_count(struct argp_state *state, const char *arg, unsigned long lo,
				 unsigned long hi, const char *what)
{
	char *end;
	long n;

	errno = 0;
	n = strtol(arg, &end, 10);
	if (errno || end == arg || *end || n < (long)lo || (unsigned long)n > hi)
		argp_error(state, "invalid %s '%s' (%lu to %lu)", what, arg, lo, hi);
	return n;
}

static double min_interval(void)
{
	const char *test = getenv("ASYNCPROF_AGENT_TEST_MIN_INTERVAL");
	double d = test ? parse_duration(test, true) : -1;

	return d >= TEST_MIN_INTERVAL_S && d < MIN_INTERVAL_S ? d : MIN_INTERVAL_S;
}

static error_t parse_opt(int key, char *arg, struct argp_state *state)
{
	struct agent_opts *o = state->input;
	char why[256];
	double d;
	int err;

	switch (key) {
	case 'p':
		err = target_filter_add_pid(&o->filter,
					    parse_count(state, arg, 1, INT_MAX, "PID"), why,
					    sizeof(why));
		if (err) {
			fprintf(stderr, "asyncprof: cannot profile pid %s: %s\n", arg, why);
			exit(1);
		}
		break;
	case OPT_COMM:
		err = target_filter_add_comm(&o->filter, arg, why, sizeof(why));
		if (err == -ENOMEM)
			argp_failure(state, 1, ENOMEM, "cannot keep --comm");
		if (err)
			argp_error(state, "invalid --comm '%s': %s", arg, why);
		break;
	case OPT_ALL:
		o->filter.all = true;
		break;
	case 'F':
		o->freq_hz = parse_count(state, arg, 1, 10000, "frequency");
		break;
	case OPT_INTERVAL:
		d = parse_duration(arg, true);
		if (d < min_interval())
			argp_error(state, "invalid interval '%s' (e.g. 60s, 5m; %gs at least)", arg,
				   min_interval());
		o->interval_s = d;
		break;
	case 'm':
		if (task_mode_parse(arg, &o->mode))
			argp_error(state, "unknown mode '%s' (sample, lifecycle or full)", arg);
		break;
	case OPT_OFF_CPU:
		o->off_cpu = true;
		break;
	case OPT_CPU_BUDGET: {
		char *end;

		errno = 0;
		d = strtod(arg, &end);
		if (errno || end == arg || *end || !(d > 0 && d <= 100))
			argp_error(state, "invalid --cpu-budget '%s' (percent, more than 0, at "
					  "most 100)", arg);
		o->cpu_budget = d / 100;
		break;
	}
	case OPT_OTLP_ENDPOINT:
		o->otlp_endpoint = arg;
		break;
	case OPT_OTLP_HEADER:
		if (o->n_otlp_headers == AGENT_MAX_HEADERS)
			argp_error(state, "too many --otlp-header (%d at most)", AGENT_MAX_HEADERS);
		o->otlp_headers[o->n_otlp_headers++] = arg;
		break;
	case OPT_OUTPUT_DIR:
		if (!*arg)
			argp_error(state, "empty --output-dir");
		o->output_dir = arg;
		break;
	case OPT_RETAIN:
		o->retain = parse_count(state, arg, 0, 1000000, "--retain");
		break;
	case 'v':
		o->verbose = true;
		break;
	case ARGP_KEY_ARG:
		argp_error(state, "unexpected argument '%s'", arg);
		break;
	case ARGP_KEY_END:
		if (!o->filter.all && !o->filter.ncomms && !o->filter.npids)
			argp_error(state, "no target: give --pid, --comm or --all");
		if (!o->otlp_endpoint && !o->output_dir)
			argp_error(state, "no destination for the windows: give --otlp-endpoint, "
					  "--output-dir or both");
		if (o->n_otlp_headers && !o->otlp_endpoint)
			argp_error(state, "--otlp-header goes with --otlp-endpoint");
		break;
	default:
		return ARGP_ERR_UNKNOWN;
	}
	return 0;
}

void agent_parse_args(int argc, char **argv, struct agent_opts *o)
{
	static const struct argp argp = { options, parse_opt, NULL, doc };
	static char name[] = "asyncprof agent"; /* what argp's messages start with */

	*o = (struct agent_opts){ .freq_hz = 19, .interval_s = 60, .cpu_budget = 0.01,
				  .retain = 60 };
	argp_err_exit_status = 2;
	argv[0] = name;
	if (argp_parse(&argp, argc, argv, 0, NULL, o))
		exit(2);
}
