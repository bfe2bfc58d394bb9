// SPDX-License-Identifier: MIT
#include "go.h"
#include "go_binary.h"
#include "goroutines.h"
#include "hashmap.h"

#include <errno.h>
#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#define REFRESH_NS 100000000ULL
#define TLS_G_OFFSET (-8) /* runtime.tlsg on linux/amd64 */

struct go_adaptor {
	struct process *proc;
	struct go_binary *gb;
	struct go_process gp;
	struct hashmap *goids; /* g address -> goid, from the last snapshot */
	uint64_t last_refresh_ns;
};

int go_adaptor_open(struct process *proc, struct go_adaptor **out)
{
	const struct proc_mapping *m = process_exe_mapping(proc);
	struct elf_object *obj = m ? symbolizer_object(proc->sym, proc->pid, m) : NULL;
	char path[PATH_MAX];
	struct go_adaptor *ga;
	int err;

	if (!obj)
		return -ENOENT;
	ga = calloc(1, sizeof(*ga));
	if (!ga)
		return -ENOMEM;
	ga->proc = proc;
	ga->gp.mem_fd = -1;
	snprintf(path, sizeof(path), "/proc/%d/root%s", proc->pid, proc->exe);
	err = go_binary_analyze(path, &ga->gb);
	if (!err && !ga->gb->allgs) {
		fprintf(stderr, "asyncprof: warning: %s is stripped (no runtime.allgs): goroutines "
				"are not named\n", proc->exe);
	}
	if (!err)
		err = go_process_open(&ga->gp, proc->pid, ga->gb,
				      m->start - elf_object_vaddr(obj, m, m->start));
	ga->goids = hashmap_new();
	if (!err && !ga->goids)
		err = -ENOMEM;
	if (err) {
		go_adaptor_close(ga);
		return err;
	}
	*out = ga;
	return 0;
}

void go_adaptor_close(struct go_adaptor *ga)
{
	if (!ga)
		return;
	go_process_close(&ga->gp);
	go_binary_free(ga->gb);
	hashmap_free(ga->goids);
	free(ga);
}

void go_tls_block(const struct go_adaptor *ga, int64_t *offset, uint32_t *len)
{
	*offset = TLS_G_OFFSET;
	*len = 8;
}

const char *go_runtime_version(const struct go_adaptor *ga)
{
	return ga->gb->version;
}

bool go_is_goroutine_root(const char *fn)
{
	return strcmp(fn, "runtime.goexit") == 0;
}

void go_refresh(struct go_adaptor *ga, struct task_table *tt)
{
	struct goroutine *gs;
	struct hashmap *goids;
	char text[512];
	size_t n;

	if (!ga->gb->allgs || monotonic_ns() - ga->last_refresh_ns < REFRESH_NS)
		return;
	ga->last_refresh_ns = monotonic_ns();
	if (go_snapshot(&ga->gp, &gs, &n))
		return;
	goids = hashmap_new();
	if (!goids) {
		free(gs);
		return;
	}
	for (size_t i = 0; i < n; i++) {
		const struct goroutine *g = &gs[i];
		struct task_rec *t;

		hashmap_put(goids, &g->g, sizeof(g->g), (uint64_t)g->goid);
		if (g->goid <= 0)
			continue;
		t = task_get(tt, (uint64_t)g->goid);
		if (!t || t->name)
			continue;
		/* Go 1.21+ records the creator; the main goroutine and runtime ones have 0. */
		if (ga->gb->g.parent_goid) {
			t->parent = g->parent_goid > 0 ? (uint64_t)g->parent_goid : TASK_ROOT;
			t->parent_known = true;
		}
		if (go_describe_pc(ga->proc, g->startpc, text, sizeof(text))) {
			text[strcspn(text, " ")] = 0; /* the function, without its file:line */
			task_set_string(&t->name, text);
		}
		if (g->gopc && go_describe_pc(ga->proc, g->gopc - 1, text, sizeof(text)))
			/* The main goroutine and the runtime's own are started by the runtime. */
			task_set_string(&t->spawned_at,
					strncmp(text, "runtime.", 8) == 0 ? "[runtime]" : text);
		t->internal = t->name && strncmp(t->name, "runtime.", 8) == 0;
	}
	free(gs);
	hashmap_free(ga->goids);
	ga->goids = goids;
}

uint64_t go_current_goroutine(struct go_adaptor *ga, const uint8_t *tls, uint32_t len)
{
	uint64_t g, goid;
	int64_t id;

	if (len < 8)
		return 0;
	memcpy(&g, tls, 8);
	if (!g)
		return 0;
	if (hashmap_get(ga->goids, &g, sizeof(g), &goid))
		return goid;
	/* Newer than the last snapshot; a g0 (a scheduler stack) reads goid 0: no goroutine. */
	id = go_read_goid(&ga->gp, g);
	return id > 0 ? (uint64_t)id : 0;
}
