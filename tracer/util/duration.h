/* SPDX-License-Identifier: MIT */
#ifndef ASYNCPROF_DURATION_H
#define ASYNCPROF_DURATION_H

#include <stdbool.h>

/* Longest duration taken on a command line: a year, whose nanoseconds fit in 64 bits. */
#define MAX_DURATION_S (365 * 86400.0)

/*
 * A decimal number of seconds, followed, when units, by "ms", "us", "s", "m" or "h" ("2s",
 * "500ms", "5m"); returns seconds, or -1 when invalid: not a plain decimal number (strtod also
 * takes "nan", "inf" and hexadecimal), negative, or over MAX_DURATION_S.
 */
double parse_duration(const char *arg, bool units);

#endif
