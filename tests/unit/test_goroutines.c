// SPDX-License-Identifier: MIT
/*
 * Goroutine snapshots of a live Go program: the batched reads (process_vm_readv) must find
 * exactly what reading goroutine by goroutine through /proc/PID/mem finds, on a stopped
 * process, in batches of a few goroutines (so that the service's few dozen make many batches),
 * parked ones with their stacks.
 */
#include <criterion/criterion.h>
#include <signal.h>
#include <stdlib.h>
#include <string.h>
#include <sys/prctl.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include "go_examples.h"
#include "runtimes/go/go_binary.h"
#include "runtimes/go/goroutines.h"
#include "symbols/symbolizer.h"
#include "target/process.h"

static pid_t start_stopped(const char *path)
{
	pid_t pid = fork();
	struct timespec settle = { 1, 0 };
	int status;

	cr_assert_geq(pid, 0);
	if (pid == 0) {
		/* Gone with the test, whatever way it ends; nothing on the test's output. */
		prctl(PR_SET_PDEATHSIG, SIGKILL);
		freopen("/dev/null", "w", stdout);
		freopen("/dev/null", "w", stderr);
		execl(path, path, (char *)NULL);
		_exit(127);
	}
	/* Let it start its goroutines, then hold it still: both snapshots must see one state. */
	nanosleep(&settle, NULL);
	cr_assert_eq(kill(pid, SIGSTOP), 0);
	cr_assert_eq(waitpid(pid, &status, WUNTRACED), pid);
	cr_assert(WIFSTOPPED(status), "%s did not start", path);
	return pid;
}

static void check_batched_equals_single(const char *example)
{
	char *path = go_example(example);
	pid_t pid = start_stopped(path);
	struct symbolizer *sym = symbolizer_new();
	struct goroutine *batched, *single;
	const struct proc_mapping *m;
	struct go_process gp;
	struct go_binary *gb;
	struct process *proc;
	struct elf_object *obj;
	size_t nb, ns, parked = 0, deep = 0;

	cr_assert_not_null(sym);
	cr_assert_eq(process_open(pid, sym, &proc), 0);
	cr_assert_eq(go_binary_analyze(path, &gb), 0);
	m = process_exe_mapping(proc);
	obj = symbolizer_object(sym, pid, m);
	cr_assert_not_null(obj);
	cr_assert_eq(go_process_open(&gp, pid, gb, m->start - elf_object_vaddr(obj, m, m->start)),
		     0);
	gp.batch = 7;
	cr_assert_eq(go_snapshot(&gp, &batched, &nb), 0);
	cr_assert_not(gp.no_vm_readv, "process_vm_readv was refused");
	gp.no_vm_readv = true;
	cr_assert_eq(go_snapshot(&gp, &single, &ns), 0);
	cr_assert_eq(nb, ns);
	cr_assert_gt(nb, 3 * gp.batch, "%s: %zu goroutines", example, nb);
	for (size_t i = 0; i < nb; i++) {
		const struct goroutine *a = &batched[i], *b = &single[i];

		cr_assert_eq(a->g, b->g);
		cr_assert_eq(a->goid, b->goid);
		cr_assert_eq(a->status, b->status);
		cr_assert_eq(a->waitreason, b->waitreason);
		cr_assert_eq(a->gopc, b->gopc);
		cr_assert_eq(a->stack_hash, b->stack_hash, "goroutine %lld", (long long)a->goid);
		cr_assert_eq(a->npcs, b->npcs, "goroutine %lld", (long long)a->goid);
		if (a->npcs)
			cr_assert_eq(memcmp(a->pcs, b->pcs, a->npcs * sizeof(*a->pcs)), 0);
		parked += a->status == G_WAITING;
		deep += a->status == G_WAITING && a->npcs >= 4 && a->stack_hash;
	}
	/* Parked goroutines have their stacks: gopark, the runtime's caller, the program's. */
	cr_assert_gt(parked, 10, "%s: %zu parked", example, parked);
	cr_assert_gt(deep, parked / 2, "%s: %zu of %zu parked have a stack", example, deep,
		     parked);
	free(batched);
	free(single);
	go_process_close(&gp);
	kill(pid, SIGKILL);
	waitpid(pid, NULL, 0);
	process_close(proc);
	go_binary_free(gb);
	symbolizer_free(sym);
	free(path);
}

Test(goroutines, batched_snapshot_go1_19) { check_batched_equals_single("service-go1.19"); }
Test(goroutines, batched_snapshot_go1_23) { check_batched_equals_single("service-go1.23"); }
