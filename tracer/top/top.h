/* SPDX-License-Identifier: MIT */
#ifndef ASYNCPROF_TOP_H
#define ASYNCPROF_TOP_H

#include "options.h"

/*
 * asyncprof top: a live view of a running process's tasks in the terminal (ncurses), recorded
 * by one session until q, Ctrl-C, SIGTERM, -d or the target's exit; then the probes are
 * detached, the terminal restored and, with -o (dirfd >= 0, named dir), the recording written
 * as attach writes it. Returns the exit status (0, or 1 after saying why).
 */
int top_main(const struct options *o, int dirfd, const char *dir);

#endif
