/* SPDX-License-Identifier: MIT */
#ifndef ASYNCPROF_OPTIONS_H
#define ASYNCPROF_OPTIONS_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <sys/types.h>

#include "model/tasks.h"

enum command { CMD_NONE, CMD_ATTACH, CMD_RUN, CMD_LEAKS, CMD_TOP };

/* The command line, checked. */
struct options {
	enum command cmd;
	pid_t pid;
	double duration_s; /* 0: until target exit or Ctrl-C */
	unsigned int freq_hz;
	const char *out_dir;
	bool verbose;
	char **argv;	     /* run: the command */
	const char *runtime; /* a registry name, "auto", or NULL (auto) */
	enum task_mode mode;
	double min_age_s; /* leaks */
	bool json, all;	  /* leaks */
	bool off_cpu;
	uint64_t off_cpu_min_ns;
	double budget; /* --budget: a share of the target's CPU (0.02), 0: always on */
	bool timeline;
	size_t timeline_events; /* with timeline: the events it keeps */
	const char *otlp_endpoint;
	const char *otlp_headers[16];
	size_t n_otlp_headers;
	unsigned int otlp_timeout_ms; /* one request; 0: the exporter's default (10 s) */
};

/* Parses argv into o. Returns 0, or 2 after argp printed what is wrong (or it exited, for
 * --help and --version). */
int options_parse(int argc, char **argv, struct options *o);

#endif
