// SPDX-License-Identifier: MIT
#include <criterion/criterion.h>
#include <errno.h>
#include <signal.h>
#include <stdio.h>
#include <string.h>
#include <sys/prctl.h>
#include <sys/wait.h>
#include <unistd.h>

#include "agent/governor.h"
#include "agent/targets.h"

Test(targets, stat_with_spaces_and_parentheses_in_the_name)
{
	/* A real line's layout, with a name that would fool a split on spaces or on ')'. */
	const char *line = "4242 (a) b (c)) S 1 4242 4242 0 -1 4194560 120 0 0 0 7 5 0 0 20 0 1 "
			   "0 987654 10000 300 18446744073709551615";
	struct proc_entry e;

	cr_assert_eq(proc_stat_parse(line, &e), 0);
	cr_assert_eq(e.pid, 4242);
	cr_assert_str_eq(e.comm, "a) b (c)");
	cr_assert_eq(e.state, 'S');
	cr_assert_eq(e.flags, 4194560);
	cr_assert_eq(e.cpu_ticks, 12);
	cr_assert_eq(e.sys_ticks, 5);
	cr_assert_eq(e.start_ticks, 987654);
	cr_assert(proc_entry_profilable(&e));
	cr_assert_eq(proc_stat_parse("4242 (x S 1", &e), -EINVAL);
	cr_assert_eq(proc_stat_parse("(x) S 1 2 3", &e), -EINVAL);
}

Test(targets, kernel_threads_and_zombies_are_not_targets)
{
	struct proc_entry e;

	cr_assert_eq(proc_stat_parse("2 (kthreadd) S 0 0 0 0 -1 2129984 0 0 0 0 0 0 0 0 20 0 1 0 "
				     "5 0 0",
				     &e),
		     0);
	cr_assert(proc_entry_kthread(&e));
	cr_assert_not(proc_entry_profilable(&e));
	cr_assert_eq(proc_stat_parse("77 (gone) Z 1 77 77 0 -1 4194316 0 0 0 0 0 0 0 0 20 0 1 0 "
				     "900 0 0",
				     &e),
		     0);
	cr_assert(proc_entry_zombie(&e));
	cr_assert_not(proc_entry_profilable(&e));
}

/* A child that names itself (as a new program would, through its comm) and waits. */
static pid_t named_child(const char *name)
{
	int pipefd[2];
	pid_t pid;
	char c;

	cr_assert_eq(pipe(pipefd), 0);
	pid = fork();
	cr_assert_geq(pid, 0);
	if (pid == 0) {
		prctl(PR_SET_NAME, name);
		if (write(pipefd[1], "x", 1) != 1)
			_exit(1);
		pause();
		_exit(0);
	}
	cr_assert_eq(read(pipefd[0], &c, 1), 1);
	close(pipefd[0]);
	close(pipefd[1]);
	return pid;
}

struct found {
	pid_t want[4];
	int seen[4];
	int self_seen;
	size_t total;
};

static int note(const struct proc_entry *e, void *ctx)
{
	struct found *f = ctx;

	f->total++;
	if (e->pid == getpid())
		f->self_seen++;
	for (int i = 0; i < 4; i++)
		if (f->want[i] == e->pid)
			f->seen[i]++;
	return 0;
}

Test(targets, comm_patterns_pick_processes_started_later)
{
	struct target_filter f = { 0 };
	struct found found = { 0 };
	char why[128];
	pid_t a, b, c;

	cr_assert_eq(target_filter_add_comm(&f, "^agtest-(api|db)$", why, sizeof(why)), 0);
	cr_assert_eq(target_filter_add_comm(&f, "(", why, sizeof(why)), -EINVAL);
	cr_assert_neq(why[0], 0);
	a = named_child("agtest-api");
	b = named_child("agtest-dbx");
	/* Started after the filter was made: --comm follows new processes. */
	c = named_child("agtest-db");
	found.want[0] = a;
	found.want[1] = b;
	found.want[2] = c;
	cr_assert_eq(targets_scan(&f, note, &found), 0);
	cr_assert_eq(found.seen[0], 1);
	cr_assert_eq(found.seen[1], 0);
	cr_assert_eq(found.seen[2], 1);
	cr_assert_eq(found.total, 2, "only the two children match, found %zu", found.total);
	kill(c, SIGKILL);
	waitpid(c, NULL, 0);
	memset(found.seen, 0, sizeof(found.seen));
	found.total = 0;
	cr_assert_eq(targets_scan(&f, note, &found), 0);
	cr_assert_eq(found.seen[2], 0, "an exited process is no target");
	cr_assert_eq(found.total, 1);
	kill(a, SIGKILL);
	kill(b, SIGKILL);
	waitpid(a, NULL, 0);
	waitpid(b, NULL, 0);
	target_filter_free(&f);
}

Test(targets, all_is_every_process_but_the_agent_and_kernel_threads)
{
	struct target_filter f = { .all = true };
	struct found found = { 0 };
	struct proc_entry e;
	pid_t a = named_child("agtest-any");

	found.want[0] = a;
	found.want[1] = 2; /* kthreadd */
	cr_assert_eq(targets_scan(&f, note, &found), 0);
	cr_assert_eq(found.seen[0], 1);
	cr_assert_eq(found.self_seen, 0);
	if (proc_entry_read(2, &e) == 0 && !proc_entry_profilable(&e))
		cr_assert_eq(found.seen[1], 0);
	kill(a, SIGKILL);
	waitpid(a, NULL, 0);
}

Test(targets, a_pid_is_the_process_it_named_then)
{
	struct target_filter f = { 0 };
	struct proc_entry e;
	char why[128];
	pid_t a = named_child("agtest-pid");

	cr_assert_eq(target_filter_add_pid(&f, a, why, sizeof(why)), 0);
	cr_assert_eq(proc_entry_read(a, &e), 0);
	cr_assert(target_filter_match(&f, &e));
	/* The same pid, reused by a process started later, is not that target. */
	e.start_ticks++;
	cr_assert_not(target_filter_match(&f, &e));
	kill(a, SIGKILL);
	waitpid(a, NULL, 0);
	cr_assert_eq(target_filter_add_pid(&f, a, why, sizeof(why)), -ESRCH);
	cr_assert_str_eq(why, "no such process");
	cr_assert_eq(target_filter_add_pid(&f, 2, why, sizeof(why)), -EINVAL);
	cr_assert_str_eq(why, "a kernel thread");
	target_filter_free(&f);
}

Test(governor, over_budget_lowers_the_rate_in_proportion)
{
	struct governor g;
	struct governor_decision d;

	/* 2 CPUs, 1%: 0.6 s of CPU over 10 s is 3%, three times the budget. */
	governor_init(&g, 0.01, 2, 99);
	governor_decide(&g, 0.6, 10, 1000, NULL, 0, &d);
	cr_assert_eq(d.action, GOV_LOWER_RATE);
	cr_assert_eq(d.freq_hz, 26, "99 Hz * 0.8 / 3 = 26, got %u", d.freq_hz);
	cr_assert(strstr(d.why, "3.00%") && strstr(d.why, "99 to 26 Hz"), "%s", d.why);
	/* Within budget: kept. */
	governor_decide(&g, 0.15, 10, 1000, NULL, 0, &d);
	cr_assert_eq(d.action, GOV_KEEP);
	cr_assert_eq(d.freq_hz, 26);
}

Test(governor, at_the_lowest_rate_the_busiest_view_goes)
{
	struct governor g;
	struct governor_decision d;
	struct governor_view views[] = {
		{ "pid 1 (a): Go lifecycle probes", 5000, true },
		{ "pid 2 (b): Tokio lifecycle probes", 90000, false },
		{ "pid 3 (c): off-CPU", 20000, true },
	};

	governor_init(&g, 0.01, 2, 1);
	governor_decide(&g, 1.0, 10, 10, views, 3, &d);
	cr_assert_eq(d.action, GOV_DETACH_VIEW);
	cr_assert_eq(d.view, 2, "the busiest attached view");
	cr_assert(strstr(d.why, "off-CPU"), "%s", d.why);
	views[2].attached = false;
	governor_decide(&g, 1.0, 10, 10, views, 3, &d);
	cr_assert_eq(d.view, 0);
	views[0].attached = false;
	governor_decide(&g, 1.0, 10, 10, views, 3, &d);
	cr_assert_eq(d.action, GOV_KEEP);
	cr_assert(strstr(d.why, "no view left"), "%s", d.why);
	cr_assert_eq(g.views_detached, 2);
}

Test(governor, a_view_busier_than_the_samples_goes_before_the_rate)
{
	struct governor g;
	struct governor_decision d;
	struct governor_view views[] = {
		{ "the spawn probes of pid 1 (svc)", 120000, true },
		{ "the wake probes of pid 1 (svc)", 30000, true },
	};

	/* 60 000 samples in the window, 120 000 spawn events: the spawns cost more. */
	governor_init(&g, 0.01, 2, 99);
	governor_decide(&g, 0.6, 10, 60000, views, 2, &d);
	cr_assert_eq(d.action, GOV_DETACH_VIEW);
	cr_assert_eq(d.view, 0);
	cr_assert_eq(d.freq_hz, 99, "the rate stays");
	cr_assert(strstr(d.why, "turned off the spawn probes"), "%s", d.why);
	/* Still over, and now the samples outweigh the last view: the rate goes down. */
	views[0].attached = false;
	governor_decide(&g, 0.6, 10, 60000, views, 2, &d);
	cr_assert_eq(d.action, GOV_LOWER_RATE);
	cr_assert_eq(d.freq_hz, 26);
}

Test(governor, the_rate_comes_back_when_the_load_goes)
{
	struct governor g;
	struct governor_decision d;

	governor_init(&g, 0.01, 2, 99);
	governor_decide(&g, 0.8, 10, 1000, NULL, 0, &d); /* 4%: 99 -> 19 */
	cr_assert_eq(d.freq_hz, 19);
	/* One quiet window is not enough; two are, and the rate at most doubles. */
	governor_decide(&g, 0.01, 10, 1000, NULL, 0, &d);
	cr_assert_eq(d.action, GOV_KEEP);
	governor_decide(&g, 0.01, 10, 1000, NULL, 0, &d);
	cr_assert_eq(d.action, GOV_RAISE_RATE);
	cr_assert_eq(d.freq_hz, 38);
	/* Never above what the last measure says fits: 0.06 s at 38 Hz is 0.3%, so 38 * 0.8 / 0.3
	 * = 101 Hz would fit, but only a doubling (76) is taken, and then the rate asked for. */
	governor_decide(&g, 0.06, 10, 1000, NULL, 0, &d);
	governor_decide(&g, 0.06, 10, 1000, NULL, 0, &d);
	cr_assert_eq(d.freq_hz, 76);
	governor_decide(&g, 0.01, 10, 1000, NULL, 0, &d);
	governor_decide(&g, 0.01, 10, 1000, NULL, 0, &d);
	cr_assert_eq(d.freq_hz, 99);
	cr_assert_eq(g.rate_changes, 4);
}
