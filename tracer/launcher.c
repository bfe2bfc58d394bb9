// SPDX-License-Identifier: MIT
/*
 * The launcher of `asyncprof run`: the command is forked at once, but execs only when told, under
 * ptrace, and is run to its entry point (where its libraries are mapped) and kept stopped there
 * until the probes are attached; then it runs untraced. At the end of a recording it outlived, it
 * is ended as perf does (SIGTERM, then SIGKILL).
 */
#include <elf.h>
#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/ptrace.h>
#include <sys/user.h>
#include <sys/wait.h>
#include <unistd.h>

#include "launcher.h"

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

int launcher_spawn(struct launcher *c, char **argv)
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
	c->argv = argv;
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
static int run_to_entry(struct launcher *c)
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
int launcher_exec(struct launcher *c)
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
void launcher_resume(struct launcher *c)
{
	ptrace(PTRACE_DETACH, c->pid, NULL, NULL);
	c->resumed = true;
}

/* Waits up to timeout_ms for the child to end; true when it has (c->status is set). */
bool launcher_reap(struct launcher *c, int timeout_ms)
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
void launcher_end(struct launcher *c)
{
	if (!c->pid || c->reaped)
		return;
	c->stopped_with = c->resumed ? SIGTERM : SIGKILL;
	kill(c->pid, c->stopped_with);
	if (c->resumed) {
		kill(c->pid, SIGCONT);
		if (launcher_reap(c, RUN_TERM_TIMEOUT_MS))
			return;
		fprintf(stderr, "asyncprof: %s (pid %d) did not exit within %d s of SIGTERM: "
				"sending SIGKILL\n",
			c->argv[0], c->pid, RUN_TERM_TIMEOUT_MS / 1000);
		c->stopped_with = SIGKILL;
		kill(c->pid, SIGKILL);
	}
	if (!launcher_reap(c, RUN_KILL_TIMEOUT_MS))
		fprintf(stderr, "asyncprof: %s (pid %d) is still there %d s after SIGKILL (an "
				"uninterruptible sleep): leaving it\n",
			c->argv[0], c->pid, RUN_KILL_TIMEOUT_MS / 1000);
}

/* "exit status N" or "killed by SIGxxx" of a wait status. */
void launcher_describe_status(int status, char *buf, size_t size)
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
