/* SPDX-License-Identifier: MIT */
#ifndef ASYNCPROF_LAUNCHER_H
#define ASYNCPROF_LAUNCHER_H

#include <stdbool.h>
#include <stddef.h>
#include <sys/types.h>

/* A command asyncprof runs (asyncprof run), from its fork to its end. */
struct launcher {
	char **argv;
	pid_t pid;
	bool resumed; /* it runs the command; before, it is stopped at exec under ptrace */
	int go_fd;    /* write a byte to let the child exec */
	int err_fd;   /* the child's exec errno, or EOF when exec succeeded */
	bool reaped;  /* it has ended and status is its wait status */
	int status;
	int stopped_with; /* the signal asyncprof ended it with, 0 when it ended by itself */
};

/* Forks the child, which waits for launcher_exec() before its exec: until then it is only a
 * fork. Returns 0 or -errno. */
int launcher_spawn(struct launcher *c, char **argv);

/* Lets the child exec and runs it to its entry point, where it stays stopped. Returns 0, the
 * exec's -errno, or -ECHILD when it ended first. */
int launcher_exec(struct launcher *c);

/* Lets the stopped child run, no longer traced. */
void launcher_resume(struct launcher *c);

/* Waits up to timeout_ms for the child to end; true when it has (c->status is set when
 * c->reaped). */
bool launcher_reap(struct launcher *c, int timeout_ms);

/*
 * Ends a command the recording outlived, as perf does: SIGTERM (and SIGCONT, for one that is
 * stopped), then SIGKILL when it is still there a while later. One that never ran is simply
 * killed. Says what it did when it had to kill. Does nothing when it has ended already.
 */
void launcher_end(struct launcher *c);

/* "exit status N" or "killed by SIGxxx" of a wait status. */
void launcher_describe_status(int status, char *buf, size_t size);

#endif
