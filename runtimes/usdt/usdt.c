// SPDX-License-Identifier: MIT
#include "usdt.h"
#include "usdt.skel.h"
#include "usdt_binary.h"
#include "capture/sampler.h"
#include "capture/probe_site.h"
#include "runtimes/runtime.h"
#include "symbols/symbolizer.h"
#include "model/tasks.h"

#include <bpf/libbpf.h>
#include <errno.h>
#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#define MAX_MARKED_OBJECTS 16

/* An executable or library with markers. */
struct marked_object {
	char path[PATH_MAX]; /* through /proc/PID/root */
	struct usdt_binary *ub;
	unsigned int refused; /* bit (1 << enum usdt_probe): markers not attached (a bad site) */
};

struct usdt_adaptor {
	struct process *proc;
	bool lifecycle, verbose;
	struct marked_object objects[MAX_MARKED_OBJECTS];
	size_t nobjects;
	char **run_functions; /* the functions holding task_run markers: where tasks begin */
	size_t nrun_functions;
	char description[96];	/* the objects with markers */
	char summary[160];	/* and how many markers and sites */
	struct collector *col;
	struct usdt_bpf *skel;
	struct ring_buffer *rb;
	struct bpf_link **links;
	size_t nlinks;
};

static bool seen_path(const struct usdt_adaptor *ua, const char *path)
{
	for (size_t i = 0; i < ua->nobjects; i++)
		if (strcmp(ua->objects[i].path, path) == 0)
			return true;
	return false;
}

static int add_run_function(struct usdt_adaptor *ua, const char *name)
{
	char **names;

	for (size_t i = 0; i < ua->nrun_functions; i++)
		if (strcmp(ua->run_functions[i], name) == 0)
			return 0;
	names = realloc(ua->run_functions, (ua->nrun_functions + 1) * sizeof(*names));
	if (!names)
		return -ENOMEM;
	ua->run_functions = names;
	names[ua->nrun_functions] = strdup(name);
	if (!names[ua->nrun_functions])
		return -ENOMEM;
	ua->nrun_functions++;
	return 0;
}

/* Names the innermost function (inlined or not) around each task_run marker of the object. */
static int find_run_functions(struct usdt_adaptor *ua, const struct proc_mapping *m,
			      const struct usdt_binary *ub)
{
	struct elf_object *obj = symbolizer_object(ua->proc->sym, ua->proc->pid, m);
	struct sym_frame frames[SYM_MAX_INLINE];

	if (!obj)
		return 0;
	for (size_t i = 0; i < ub->nsites; i++) {
		int err;

		if (ub->sites[i].probe != USDT_TASK_RUN ||
		    elf_object_symbolize(obj, ub->sites[i].pc, frames, SYM_MAX_INLINE) <= 0 ||
		    !frames[0].function)
			continue;
		err = add_run_function(ua, frames[0].function);
		if (err)
			return err;
	}
	return 0;
}

/* Reads the markers of each file-backed executable mapping (the executable, its libraries). */
static int find_markers(struct usdt_adaptor *ua)
{
	const struct proc_maps *maps = ua->proc->maps;
	size_t nsites = 0;
	unsigned int probes = 0;

	for (size_t i = 0; i < maps->count && ua->nobjects < MAX_MARKED_OBJECTS; i++) {
		const struct proc_mapping *m = &maps->mappings[i];
		struct marked_object *mo = &ua->objects[ua->nobjects];
		int err;

		if (!m->executable || !procmaps_is_file(m))
			continue;
		snprintf(mo->path, sizeof(mo->path), "/proc/%d/root%s", ua->proc->pid, m->path);
		if (seen_path(ua, mo->path) || usdt_binary_read(mo->path, &mo->ub))
			continue;
		if (!mo->ub->nsites) {
			usdt_binary_free(mo->ub);
			mo->ub = NULL;
			continue;
		}
		err = find_run_functions(ua, m, mo->ub);
		if (err)
			return err;
		nsites += mo->ub->nsites;
		probes |= mo->ub->probes;
		ua->nobjects++;
	}
	/* Where they are: "app", "libruntime.so" or "app, libruntime.so". */
	ua->description[0] = 0;
	for (size_t i = 0; i < ua->nobjects; i++) {
		const char *path = ua->objects[i].path, *base = strrchr(path, '/');
		size_t len = strlen(ua->description);

		snprintf(ua->description + len, sizeof(ua->description) - len, "%s%s",
			 i ? ", " : "", base ? base + 1 : path);
	}
	snprintf(ua->summary, sizeof(ua->summary), "%s (%d markers, %zu sites)", ua->description,
		 __builtin_popcount(probes), nsites);
	return ua->nobjects ? 0 : -ENOENT;
}

int usdt_adaptor_open(struct process *proc, bool lifecycle, bool verbose,
		      struct usdt_adaptor **out)
{
	struct usdt_adaptor *ua = calloc(1, sizeof(*ua));
	int err;

	if (!ua)
		return -ENOMEM;
	ua->proc = proc;
	ua->lifecycle = lifecycle;
	ua->verbose = verbose;
	err = find_markers(ua);
	if (err) {
		usdt_adaptor_close(ua);
		return err;
	}
	*out = ua;
	return 0;
}

void usdt_adaptor_close(struct usdt_adaptor *ua)
{
	if (!ua)
		return;
	ring_buffer__free(ua->rb);
	for (size_t i = 0; i < ua->nlinks; i++)
		bpf_link__destroy(ua->links[i]);
	free(ua->links);
	usdt_bpf__destroy(ua->skel);
	for (size_t i = 0; i < ua->nobjects; i++)
		usdt_binary_free(ua->objects[i].ub);
	for (size_t i = 0; i < ua->nrun_functions; i++)
		free(ua->run_functions[i]);
	free(ua->run_functions);
	free(ua);
}

const char *usdt_description(const struct usdt_adaptor *ua)
{
	return ua->summary;
}

static bool is_run_function(void *ctx, const char *function)
{
	const struct usdt_adaptor *ua = ctx;

	for (size_t i = 0; i < ua->nrun_functions; i++)
		if (strcmp(ua->run_functions[i], function) == 0)
			return true;
	return false;
}

/* The task model's events, plus the poll figures the run and stop markers measure exactly. */
static int handle_event(void *ctx, void *data, size_t size)
{
	struct usdt_adaptor *ua = ctx;
	const struct task_event *e = data;
	bool spawn = e->kind == TASK_CREATE;
	struct task_rec *t;

	if (size < TASK_EVENT_SMALL)
		return 0;
	/* value: the parent of a spawn, the waker of a wake. */
	collector_task_event(ua->col, e, size,
			     spawn || e->kind == TASK_RUNNABLE ? e->value : 0, spawn, NULL, false);
	t = task_find(collector_tasks(ua->col), e->task);
	if (!t)
		return 0;
	if (e->kind == TASK_RUN) {
		task_count_poll(t);
	} else if (e->kind == TASK_STOP && e->value) {
		const struct poll_time p = { .wall_ns = e->value, .cpu_ns = e->cpu_ns,
					     .preempted_ns = e->delay_ns };

		task_add_poll_time(t, &p);
	}
	return 0;
}

/*
 * The order matters while the program runs: a stop or a pop attached before its run or push
 * only finds nothing to end, while a run or push attached alone would pile up.
 */
static const enum usdt_probe attach_order[] = {
	USDT_TASK_EXIT,	   USDT_TASK_STOP,   USDT_FRAME_POP, USDT_TASK_SUSPEND,
	USDT_TASK_RUNNABLE, USDT_TASK_CREATE, USDT_TASK_RUN,  USDT_FRAME_PUSH,
};

static struct bpf_program *program_of(struct usdt_bpf *skel, enum usdt_probe probe)
{
	switch (probe) {
	case USDT_TASK_CREATE:
		return skel->progs.task_create;
	case USDT_TASK_RUNNABLE:
		return skel->progs.task_runnable;
	case USDT_TASK_RUN:
		return skel->progs.task_run;
	case USDT_TASK_STOP:
		return skel->progs.task_stop;
	case USDT_TASK_SUSPEND:
		return skel->progs.task_suspend;
	case USDT_TASK_EXIT:
		return skel->progs.task_exit;
	case USDT_FRAME_PUSH:
		return skel->progs.frame_push;
	case USDT_FRAME_POP:
		return skel->progs.frame_pop;
	default:
		return NULL;
	}
}

/* What is lost without a marker. */
static const char *const marker_views[USDT_PROBE_COUNT] = {
	[USDT_TASK_CREATE] = "task creation (spawn sites, ancestry)",
	[USDT_TASK_RUNNABLE] = "wake-ups (scheduling latency)",
	[USDT_TASK_RUN] = "tasks in CPU samples, poll counts and times",
	[USDT_TASK_STOP] = "tasks in CPU samples, poll counts and times",
	[USDT_TASK_SUSPEND] = "the wait profile",
	[USDT_TASK_EXIT] = "task exits",
	[USDT_FRAME_PUSH] = "logical frames",
	[USDT_FRAME_POP] = "logical frames",
};

/* One warning for the markers of an object that are not attached, and what that loses. */
static void warn_refused(const struct marked_object *mo, const char *name, const char *why)
{
	char markers[160] = "", lost[256] = "";

	for (int p = 0; p < USDT_PROBE_COUNT; p++) {
		size_t len = strlen(markers);

		if (!(mo->refused & (1u << p)))
			continue;
		snprintf(markers + len, sizeof(markers) - len, "%s%s", len ? ", " : "",
			 usdt_probe_names[p]);
		if (strstr(lost, marker_views[p]))
			continue;
		len = strlen(lost);
		snprintf(lost + len, sizeof(lost) - len, "%s%s", len ? "; " : "", marker_views[p]);
	}
	fprintf(stderr, "asyncprof: warning: markers of %s not attached: %s (%s): lost: %s\n",
		name, markers, why, lost);
}

/*
 * Checks every site of the object's markers (probe_site: an instruction boundary holding the
 * marker's NOP) and marks the markers with a bad site as refused, with the marker that ends
 * what they begin (run and stop, push and pop): either alone would pile up or end nothing.
 * libbpf attaches a marker at all its sites, so one bad site refuses the marker.
 */
static int check_marker_sites(struct marked_object *mo, const char *name)
{
	static const enum usdt_probe pairs[][2] = {
		{USDT_TASK_RUN, USDT_TASK_STOP},
		{USDT_FRAME_PUSH, USDT_FRAME_POP},
	};
	struct probe_image *img;
	char why[192], first[224] = "";
	int err = probe_image_open(mo->path, &img);

	if (err)
		return err;
	for (size_t i = 0; i < mo->ub->nsites; i++) {
		const struct usdt_site *u = &mo->ub->sites[i];
		struct probe_site site = {u->pc, 0, PROBE_MARKER};

		if (!probe_site_check(img, &site, why, sizeof(why)))
			continue;
		if (!mo->refused)
			snprintf(first, sizeof(first), "%s at 0x%llx: %s",
				 usdt_probe_names[u->probe], (unsigned long long)u->pc, why);
		mo->refused |= 1u << u->probe;
	}
	probe_image_free(img);
	for (size_t i = 0; i < sizeof(pairs) / sizeof(pairs[0]); i++)
		if (mo->refused & (1u << pairs[i][0] | 1u << pairs[i][1]))
			mo->refused |= 1u << pairs[i][0] | 1u << pairs[i][1];
	mo->refused &= mo->ub->probes;
	if (mo->refused)
		warn_refused(mo, name, first);
	return 0;
}

static int attach_markers(struct usdt_adaptor *ua)
{
	size_t n = sizeof(attach_order) / sizeof(attach_order[0]);

	ua->links = calloc(n * ua->nobjects, sizeof(*ua->links));
	if (!ua->links)
		return -ENOMEM;
	for (size_t o = 0; o < ua->nobjects; o++) {
		/* the object as the target names it, without /proc/PID/root */
		const char *name = ua->objects[o].path + snprintf(NULL, 0, "/proc/%d/root",
								   ua->proc->pid);
		int err = check_marker_sites(&ua->objects[o], name);

		if (err) {
			fprintf(stderr, "asyncprof: cannot check the markers of %s: %s\n",
				ua->objects[o].path, strerror(-err));
			return err;
		}
	}
	for (size_t i = 0; i < n; i++) {
		enum usdt_probe p = attach_order[i];

		if (!ua->lifecycle && (p == USDT_TASK_RUNNABLE || p == USDT_TASK_SUSPEND))
			continue;
		for (size_t o = 0; o < ua->nobjects; o++) {
			const struct marked_object *mo = &ua->objects[o];
			struct bpf_link *link;

			if (!(mo->ub->probes & (1u << p)) || (mo->refused & (1u << p)))
				continue;
			link = bpf_program__attach_usdt(program_of(ua->skel, p), ua->proc->pid,
							mo->path, "asyncprof", usdt_probe_names[p],
							NULL);
			if (!link) {
				int err = -errno;

				fprintf(stderr, "asyncprof: cannot attach to the %s markers of %s: "
						"%s\n",
					usdt_probe_names[p], mo->path, strerror(-err));
				return err;
			}
			ua->links[ua->nlinks++] = link;
		}
	}
	return 0;
}

void usdt_adaptor_configure(struct usdt_adaptor *ua, struct collector *col)
{
	ua->col = col;
	collector_set_runtime(col, NULL, ua->lifecycle, "task_id");
	collector_set_task_boundary(col, is_run_function, ua, true);
}

int usdt_adaptor_attach(struct usdt_adaptor *ua, int threads_fd, int frames_fd)
{
	int err;

	ua->skel = usdt_bpf__open();
	if (!ua->skel)
		return -errno;
	ua->skel->rodata->targ_tgid = ua->proc->pid;
	ua->skel->rodata->task_wakeup_bytes = bpf_map__max_entries(ua->skel->maps.task_events) / 8;
	err = runtime_bpf_load(ua->skel->skeleton, "USDT",
			       &(struct runtime_maps){ .threads_fd = threads_fd, .frames_fd = frames_fd },
			       handle_event, ua, &ua->rb);
	if (err)
		return err;
	err = attach_markers(ua);
	if (err)
		return err;
	if (ua->verbose)
		fprintf(stderr, "asyncprof: usdt: %zu probes attached in %zu objects; tasks "
				"begin in %zu functions\n",
			ua->nlinks, ua->nobjects, ua->nrun_functions);
	return 0;
}

int usdt_consume(struct usdt_adaptor *ua)
{
	return ua->rb ? ring_buffer__consume(ua->rb) : 0;
}

void usdt_event_loss(struct usdt_adaptor *ua, struct event_loss *loss)
{
	if (ua->skel)
		percpu_counters_sum(bpf_map__fd(ua->skel->maps.task_drops), loss->dropped,
				    TASK_KINDS);
}
