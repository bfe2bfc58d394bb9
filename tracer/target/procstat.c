// SPDX-License-Identifier: MIT
#include "target/procstat.h"
#include "target/procmaps.h"

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#define PF_KTHREAD 0x00200000 /* include/linux/sched.h: a kernel thread */

int proc_stat_parse(const char *text, struct proc_entry *e)
{
	const char *open = strchr(text, '('), *close = strrchr(text, ')');
	unsigned long long utime, stime, start;
	size_t len;
	char state;
	unsigned int flags;
	int pid;

	if (!open || !close || close < open || sscanf(text, "%d", &pid) != 1 || pid <= 0)
		return -EINVAL;
	/* Fields 3 to 22: state ppid pgrp session tty_nr tpgid flags minflt cminflt majflt
	 * cmajflt utime stime cutime cstime priority nice num_threads itrealvalue starttime. */
	if (sscanf(close + 1,
		   " %c %*d %*d %*d %*d %*d %u %*u %*u %*u %*u %llu %llu %*d %*d %*d %*d %*d %*d "
		   "%llu",
		   &state, &flags, &utime, &stime, &start) != 5)
		return -EINVAL;
	memset(e, 0, sizeof(*e));
	e->pid = pid;
	len = close - open - 1;
	if (len >= sizeof(e->comm))
		len = sizeof(e->comm) - 1;
	memcpy(e->comm, open + 1, len);
	e->state = state;
	e->flags = flags;
	e->start_ticks = start;
	e->cpu_ticks = utime + stime;
	e->sys_ticks = stime;
	return 0;
}

int proc_entry_read(pid_t pid, struct proc_entry *e)
{
	char path[64], *text;
	int err;

	snprintf(path, sizeof(path), "/proc/%d/stat", pid);
	err = procfs_read_text(path, &text);
	if (err)
		return err == -ENOENT ? -ESRCH : err;
	err = proc_stat_parse(text, e);
	free(text);
	return err;
}

bool proc_entry_kthread(const struct proc_entry *e)
{
	return e->flags & PF_KTHREAD;
}

bool proc_entry_zombie(const struct proc_entry *e)
{
	return e->state == 'Z' || e->state == 'X';
}

bool proc_entry_profilable(const struct proc_entry *e)
{
	return !proc_entry_kthread(e) && !proc_entry_zombie(e);
}

uint64_t proc_ticks_ns(uint64_t ticks)
{
	static long tick;

	if (!tick)
		tick = sysconf(_SC_CLK_TCK);
	return tick > 0 ? ticks * (1000000000ULL / (uint64_t)tick) : 0;
}
