// SPDX-License-Identifier: MIT
/*
 * Goroutine leak report for a live process.
 *
 * A goroutine's age is what we saw of it: it counts as blocked for as long as every snapshot
 * (every 50 ms) shows it waiting with the same id, wait reason, parked PC and SP, and the same
 * bytes on its live stack: one that ran in between and parked again at the same place (a loop
 * around time.Sleep, a pool worker between jobs) has changed its locals. Go's own g.waitsince
 * is only stamped by GC scans (0 before the second GC, off by up to a GC interval), so it can
 * only lengthen an age observed from the first snapshot, and is reported as such.
 */
#include "leaks.h"
#include "go_binary.h"
#include "goroutines.h"
#include "util/hashmap.h"
#include "util/array.h"
#include "target/process.h"
#include "symbols/symbolizer.h"

#include <errno.h>
#include <jansson.h>
#include <limits.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#define SNAPSHOT_INTERVAL_NS 50000000ULL
#define NO_PTRACE_HINT " (needs root or CAP_SYS_PTRACE, or the same user with ptrace allowed)"

struct tracked {
	struct goroutine last; /* its pcs are last_pcs: set where it is read (tracked[] moves) */
	uint64_t last_pcs[GO_STACK_MAX];
	uint64_t blocked_since; /* monotonic ns of the first snapshot showing this wait; 0: not */
	bool from_first;	/* blocked already in the first snapshot */
	uint64_t seen_gen;	/* snapshot generation that last saw it */
};

struct group {
	char *key;
	char reason[64];
	char blocked_at[512];
	char created_by[512];
	const struct goroutine *example;
	size_t count, at_start;
	double *ages;
	size_t nages, cap_ages;
};

struct leaks {
	const struct leaks_opts *opts;
	struct process *proc;
	struct go_process gp;
	struct go_binary *gb;
	struct hashmap *index; /* g address -> tracked index + 1 */
	struct tracked *tracked;
	size_t ntracked, cap_tracked;
	uint64_t gen, start_ns;
};

static bool same_wait(const struct goroutine *a, const struct goroutine *b)
{
	return a->goid == b->goid && a->waitreason == b->waitreason && a->sched_pc == b->sched_pc &&
	       a->sched_sp == b->sched_sp && a->stack_hash == b->stack_hash;
}

static int observe(struct leaks *lk, uint64_t now)
{
	struct goroutine *gs;
	size_t n;
	int err = go_snapshot(&lk->gp, &gs, &n);

	if (err)
		return err;
	lk->gen++;
	for (size_t i = 0; i < n; i++) {
		struct goroutine *g = &gs[i];
		struct tracked *t;
		uint64_t pos;

		if (!hashmap_get(lk->index, &g->g, sizeof(g->g), &pos)) {
			if (!array_grow((void **)&lk->tracked, &lk->cap_tracked, lk->ntracked + 1,
					sizeof(*lk->tracked))) {
				free(gs);
				return -ENOMEM;
			}
			memset(&lk->tracked[lk->ntracked], 0, sizeof(*lk->tracked));
			pos = ++lk->ntracked;
			hashmap_put(lk->index, &g->g, sizeof(g->g), pos);
		}
		t = &lk->tracked[pos - 1];
		if (g->status != G_WAITING) {
			t->blocked_since = 0;
		} else if (!t->blocked_since || t->seen_gen != lk->gen - 1 || !same_wait(&t->last, g)) {
			t->blocked_since = now;
			t->from_first = lk->gen == 1;
		}
		t->last = *g;
		if (g->npcs)
			memcpy(t->last_pcs, g->pcs, g->npcs * sizeof(*g->pcs));
		t->seen_gen = lk->gen;
	}
	free(gs);
	return 0;
}

/* The runtime's own machinery: parking, semaphores, the scheduler. */
static bool is_runtime_function(const char *fn)
{
	return !fn || strncmp(fn, "runtime.", 8) == 0 || strncmp(fn, "sync.", 5) == 0 ||
	       strncmp(fn, "internal/", 9) == 0;
}

static void blocking_site(struct leaks *lk, const struct goroutine *g, char *out, size_t size)
{
	struct sym_frame frames[SYM_MAX_INLINE];

	snprintf(out, size, "[unknown]");
	for (size_t i = 0; i < g->npcs; i++) {
		int n = go_frames_at(lk->proc, g->pcs[i], frames);

		for (int f = 0; f < n; f++) {
			if (is_runtime_function(frames[f].function))
				continue;
			go_format_frame(&frames[f], out, size);
			return;
		}
	}
}

/* Runtime-internal goroutines, left out as goleak does: started in package runtime, the
 * os/signal loop, and the main goroutine (a live program's main usually waits for good). */
static bool is_internal(struct leaks *lk, const struct goroutine *g)
{
	struct sym_frame frames[SYM_MAX_INLINE];
	int n = go_frames_at(lk->proc, g->startpc, frames);

	if (g->goid == 1)
		return true;
	if (n > 0 && frames[n - 1].function &&
	    (strncmp(frames[n - 1].function, "runtime.", 8) == 0 ||
	     strncmp(frames[n - 1].function, "os/signal.", 10) == 0))
		return true;
	return false;
}

static int cmp_double(const void *a, const void *b)
{
	double x = *(const double *)a, y = *(const double *)b;

	return x < y ? -1 : x > y;
}

static int cmp_group(const void *a, const void *b)
{
	const struct group *x = a, *y = b;

	if (x->count != y->count)
		return x->count < y->count ? 1 : -1;
	return strcmp(x->key, y->key);
}

static json_t *stack_json(struct leaks *lk, const struct goroutine *g)
{
	json_t *arr = json_array();
	struct sym_frame frames[SYM_MAX_INLINE];
	char text[512];

	for (size_t i = 0; arr && i < g->npcs; i++) {
		int n = go_frames_at(lk->proc, g->pcs[i], frames);

		if (n <= 0) {
			snprintf(text, sizeof(text), "0x%llx", (unsigned long long)g->pcs[i]);
			json_array_append_new(arr, json_string(text));
		}
		for (int f = 0; f < n; f++) {
			go_format_frame(&frames[f], text, sizeof(text));
			json_array_append_new(arr, json_string(text));
		}
	}
	return arr;
}

static void print_text(struct leaks *lk, struct group *groups, size_t ngroups, double window)
{
	const struct leaks_opts *o = lk->opts;

	if (!ngroups) {
		printf("no goroutine of pid %d (%s) was blocked for %.1fs or more (observed %.1fs)\n",
		       o->pid, lk->gb->version, o->min_age_s, window);
		return;
	}
	printf("%zu group%s of goroutines blocked for %.1fs or more in pid %d (%s), observed "
	       "%.1fs:\n",
	       ngroups, ngroups > 1 ? "s" : "", o->min_age_s, o->pid, lk->gb->version, window);
	for (size_t i = 0; i < ngroups; i++) {
		struct group *gr = &groups[i];
		json_t *stack = stack_json(lk, gr->example);
		size_t k;
		json_t *fr;

		printf("\n%6zu goroutine%s [%s] for %.1fs..%.1fs (median %.1fs), %+ld during the "
		       "window\n",
		       gr->count, gr->count > 1 ? "s" : " ", gr->reason, gr->ages[0],
		       gr->ages[gr->nages - 1], gr->ages[gr->nages / 2],
		       (long)gr->count - (long)gr->at_start);
		printf("       blocked at %s\n       created by %s\n       stack of goroutine %lld:\n",
		       gr->blocked_at, gr->created_by, (long long)gr->example->goid);
		json_array_foreach(stack, k, fr)
			printf("         %s\n", json_string_value(fr));
		json_decref(stack);
	}
}

static int print_json(struct leaks *lk, struct group *groups, size_t ngroups, double window)
{
	json_t *root = json_object(), *arr = json_array();

	if (!root || !arr)
		return -ENOMEM;
	for (size_t i = 0; i < ngroups; i++) {
		struct group *gr = &groups[i];
		json_t *o = json_pack("{sIsssssssosIsIs{sfsfsf}sI}", "count", (json_int_t)gr->count,
				      "reason", gr->reason, "blocked_at", gr->blocked_at,
				      "created_by", gr->created_by, "stack",
				      stack_json(lk, gr->example), "growth",
				      (json_int_t)gr->count - (json_int_t)gr->at_start, "at_start",
				      (json_int_t)gr->at_start, "age_s", "min", gr->ages[0],
				      "median", gr->ages[gr->nages / 2], "max",
				      gr->ages[gr->nages - 1], "example_goid",
				      (json_int_t)gr->example->goid);

		if (o)
			json_array_append_new(arr, o);
	}
	json_object_set_new(root, "pid", json_integer(lk->opts->pid));
	json_object_set_new(root, "go_version", json_string(lk->gb->version));
	json_object_set_new(root, "min_age_s", json_real(lk->opts->min_age_s));
	json_object_set_new(root, "observed_s", json_real(window));
	json_object_set_new(root, "groups", arr);
	json_dumpf(root, stdout, JSON_INDENT(2));
	printf("\n");
	json_decref(root);
	return 0;
}

static int report(struct leaks *lk, uint64_t end_ns)
{
	const struct leaks_opts *o = lk->opts;
	struct hashmap *index = hashmap_new();
	struct group *groups = NULL;
	size_t ngroups = 0, cap = 0;
	double window = (end_ns - lk->start_ns) / 1e9;
	int ret = LEAKS_NONE;

	if (!index)
		return LEAKS_ERROR;
	for (size_t i = 0; i < lk->ntracked; i++) {
		struct tracked *t = &lk->tracked[i];
		double age;
		char key[1600], created[512], site[512];
		const char *reason;
		struct group *gr;
		uint64_t pos;

		if (!t->blocked_since || t->seen_gen != lk->gen)
			continue;
		t->last.pcs = t->last_pcs; /* tracked[] grows no more */
		age = (end_ns - t->blocked_since) / 1e9;
		/* Blocked since before we looked: Go's GC stamp may tell it is older. */
		if (t->from_first && t->last.waitsince > 0 &&
		    (uint64_t)t->last.waitsince < t->blocked_since)
			age += (t->blocked_since - (uint64_t)t->last.waitsince) / 1e9;
		if (age + 1e-3 < o->min_age_s)
			continue;
		if (!o->all && is_internal(lk, &t->last))
			continue;
		reason = go_reason(&lk->gp, t->last.waitreason);
		go_describe_pc(lk->proc, t->last.gopc - 1, created, sizeof(created));
		blocking_site(lk, &t->last, site, sizeof(site));
		snprintf(key, sizeof(key), "%s|%s|%s", created, site, reason);
		if (!hashmap_get(index, key, strlen(key), &pos)) {
			if (!array_grow((void **)&groups, &cap, ngroups + 1, sizeof(*groups)))
				break;
			gr = &groups[ngroups];
			memset(gr, 0, sizeof(*gr));
			gr->key = strdup(key);
			snprintf(gr->reason, sizeof(gr->reason), "%s", reason);
			snprintf(gr->blocked_at, sizeof(gr->blocked_at), "%s", site);
			snprintf(gr->created_by, sizeof(gr->created_by), "%s", created);
			gr->example = &t->last;
			pos = ++ngroups;
			hashmap_put(index, key, strlen(key), pos);
		}
		gr = &groups[pos - 1];
		gr->count++;
		gr->at_start += t->from_first;
		if (array_grow((void **)&gr->ages, &gr->cap_ages, gr->nages + 1, sizeof(double)))
			gr->ages[gr->nages++] = age;
	}
	for (size_t i = 0; i < ngroups; i++)
		qsort(groups[i].ages, groups[i].nages, sizeof(double), cmp_double);
	qsort(groups, ngroups, sizeof(*groups), cmp_group);
	if (o->json)
		print_json(lk, groups, ngroups, window);
	else
		print_text(lk, groups, ngroups, window);
	if (ngroups)
		ret = LEAKS_FOUND;
	for (size_t i = 0; i < ngroups; i++) {
		free(groups[i].key);
		free(groups[i].ages);
	}
	free(groups);
	hashmap_free(index);
	return ret;
}

static void sleep_ns(uint64_t ns)
{
	struct timespec ts = { .tv_sec = ns / 1000000000ULL, .tv_nsec = ns % 1000000000ULL };

	nanosleep(&ts, NULL);
}

int go_leaks_run(const struct leaks_opts *o)
{
	struct leaks lk = { .opts = o, .gp = { .mem_fd = -1 } };
	struct symbolizer *sym = symbolizer_new();
	const struct proc_mapping *m;
	struct elf_object *obj;
	char path[PATH_MAX];
	int err, ret = LEAKS_ERROR;
	uint64_t now, next;

	lk.index = hashmap_new();
	if (!sym || !lk.index)
		goto out;
	err = process_open(o->pid, sym, &lk.proc);
	if (err) {
		fprintf(stderr, "asyncprof: cannot look at pid %d: %s%s\n", o->pid,
			err == -ESRCH ? "no such process" : strerror(-err),
			err == -EACCES || err == -EPERM ? NO_PTRACE_HINT : "");
		goto out;
	}
	snprintf(path, sizeof(path), "/proc/%d/root%s", o->pid, lk.proc->exe);
	err = go_binary_analyze(path, &lk.gb);
	if (err == -ENOENT) {
		fprintf(stderr, "asyncprof: cannot report leaks: %s (pid %d) is not a Go program\n",
			lk.proc->exe, o->pid);
		goto out;
	} else if (err) {
		fprintf(stderr, "asyncprof: cannot analyze %s: %s\n", lk.proc->exe,
			err == -ENOTSUP ? "unsupported Go version without DWARF" : strerror(-err));
		goto out;
	}
	if (!lk.gb->allgs) {
		fprintf(stderr,
			"asyncprof: cannot report leaks: runtime.allgs is neither in the symbols "
			"of %s nor in the code of its runtime.allgadd, so its goroutines cannot be "
			"found\n",
			lk.proc->exe);
		goto out;
	}
	m = process_exe_mapping(lk.proc);
	obj = m ? symbolizer_object(sym, o->pid, m) : NULL;
	if (!obj) {
		fprintf(stderr, "asyncprof: cannot read %s\n", lk.proc->exe);
		goto out;
	}
	err = go_process_open(&lk.gp, o->pid, lk.gb, m->start - elf_object_vaddr(obj, m, m->start));
	if (err) {
		fprintf(stderr, "asyncprof: cannot read the memory of pid %d: %s%s\n", o->pid,
			strerror(-err), err == -EACCES || err == -EPERM ? NO_PTRACE_HINT : "");
		goto out;
	}
	if (!o->json)
		fprintf(stderr, "asyncprof: watching the goroutines of pid %d (%s) for %.1fs\n",
			o->pid, lk.gb->version, o->window_s);
	lk.start_ns = monotonic_ns();
	next = lk.start_ns;
	do {
		now = monotonic_ns();
		err = observe(&lk, now);
		if (err) {
			fprintf(stderr, "asyncprof: cannot read the goroutines of pid %d: %s\n",
				o->pid, kill(o->pid, 0) ? "the process exited" : strerror(-err));
			goto out;
		}
		next += SNAPSHOT_INTERVAL_NS;
		if (now - lk.start_ns >= (uint64_t)(o->window_s * 1e9))
			break;
		if (next > lk.start_ns + (uint64_t)(o->window_s * 1e9))
			next = lk.start_ns + (uint64_t)(o->window_s * 1e9);
		now = monotonic_ns();
		if (next > now)
			sleep_ns(next - now);
	} while (1);
	ret = report(&lk, now);
out:
	go_process_close(&lk.gp);
	go_binary_free(lk.gb);
	process_close(lk.proc);
	symbolizer_free(sym);
	hashmap_free(lk.index);
	free(lk.tracked);
	return ret;
}
