/* SPDX-License-Identifier: MIT */
#ifndef ASYNCPROF_AGENT_H
#define ASYNCPROF_AGENT_H

#include <stdbool.h>
#include <stddef.h>

#include "model/tasks.h"
#include "agent/targets.h"

/*
 * asyncprof agent: continuous profiling of the processes of a host (--pid, --comm, --all), one
 * recording session per process, a window cut every interval and sent as one OTLP request
 * and/or written as pprof files (--output-dir), its own CPU kept under a budget (governor.h).
 */
#define AGENT_MAX_HEADERS 16

struct agent_opts {
	struct target_filter filter;
	unsigned int freq_hz;
	double interval_s;
	enum task_mode mode;
	bool off_cpu;
	double cpu_budget; /* share of the host's CPU time: 0.01 for --cpu-budget 1 */
	const char *otlp_endpoint;
	const char *otlp_headers[AGENT_MAX_HEADERS];
	size_t n_otlp_headers;
	const char *output_dir;
	unsigned int retain;
	bool verbose;
};

/* `asyncprof agent ARGS...` (argv[0] is "agent"): parses, runs, returns the exit status. */
int agent_main(int argc, char **argv);

/* Parses the agent's command line into o; exits 2 with a message on a bad one. */
void agent_parse_args(int argc, char **argv, struct agent_opts *o);

#endif
