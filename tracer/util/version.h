/* SPDX-License-Identifier: MIT */
#ifndef ASYNCPROF_VERSION_H
#define ASYNCPROF_VERSION_H

/* asyncprof's version: --version, the OTLP instrumentation scope, the HTTP User-Agent. */
#define ASYNCPROF_VERSION "0.1"

#endif
