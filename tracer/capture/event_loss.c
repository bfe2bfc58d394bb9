// SPDX-License-Identifier: MIT
#include "event_loss.h"

#include <string.h>

/* The task model's kinds (bpf/task.h) and the figures a lost one can leave incomplete. */
static const struct event_kind_info model_kinds[TASK_RUNTIME_KINDS] = {
    [TASK_CREATE] = {"create", "parent spawned_at"},
    [TASK_RUNNABLE] = {"runnable", "wait_ns wait.pb.gz"},
    [TASK_RUN] = {"run", "polls wait_ns wait.pb.gz sched_latency_ns runnable_ns max_poll_ns"},
    [TASK_STOP] = {"stop", "wait_ns wait.pb.gz busy_ns max_poll_ns"},
    [TASK_AWAIT] = {"await", "wait_ns wait.pb.gz max_poll_ns"},
    [TASK_EXIT] = {"exit", "exited"},
    [TASK_WAKER_CLONE] = {"waker_clone", "task_id"},
};

static const struct event_kind_info *kind_info(const struct event_loss *l, uint32_t kind)
{
	static const struct event_kind_info other = {"other", ""};
	const struct event_kind_info *info = l->runtime_kind ? l->runtime_kind(kind) : NULL;

	if (!info && kind < TASK_RUNTIME_KINDS)
		info = &model_kinds[kind];
	return info && info->name ? info : &other;
}

uint64_t event_loss_dropped(const struct event_loss *l)
{
	uint64_t n = 0;

	for (uint32_t k = 0; k < TASK_KINDS; k++)
		n += l->dropped[k];
	return n;
}

/* Whether the space-separated list has the word. */
static bool has_word(const char *list, const char *word)
{
	size_t len = strlen(word);

	for (const char *p = list; (p = strstr(p, word)); p += len)
		if ((p == list || p[-1] == ' ') && (p[len] == ' ' || !p[len]))
			return true;
	return false;
}

bool event_loss_affects(const struct event_loss *l, const char *figure)
{
	for (uint32_t k = 0; k < TASK_KINDS; k++)
		if (l->dropped[k] && has_word(kind_info(l, k)->figures, figure))
			return true;
	return false;
}

/* Adds the figures the kind's losses affect to the list, each once. */
static void add_figures(json_t *list, const char *figures)
{
	char word[64];

	while (*figures) {
		size_t len = strcspn(figures, " ");
		size_t i;
		bool seen = false;

		if (len && len < sizeof(word)) {
			memcpy(word, figures, len);
			word[len] = 0;
			for (i = 0; i < json_array_size(list) && !seen; i++)
				seen =
				    strcmp(json_string_value(json_array_get(list, i)), word) == 0;
			if (!seen)
				json_array_append_new(list, json_string(word));
		}
		figures += len + (figures[len] == ' ');
	}
}

json_t *event_loss_json(const struct event_loss *l)
{
	json_t *o = json_object(), *kinds = json_object(), *incomplete = json_array();
	uint64_t received = 0;

	if (!o || !kinds || !incomplete) {
		json_decref(o);
		json_decref(kinds);
		json_decref(incomplete);
		return NULL;
	}
	for (uint32_t k = 0; k < TASK_KINDS; k++) {
		const struct event_kind_info *info = kind_info(l, k);

		received += l->received[k];
		if (!l->received[k] && !l->dropped[k])
			continue;
		json_object_set_new(kinds, info->name,
				    json_pack("{s:I,s:I}", "received", (json_int_t)l->received[k],
					      "dropped", (json_int_t)l->dropped[k]));
		if (l->dropped[k])
			add_figures(incomplete, info->figures);
	}
	json_object_set_new(o, "received", json_integer(received));
	json_object_set_new(o, "dropped", json_integer(event_loss_dropped(l)));
	json_object_set_new(o, "kinds", kinds);
	json_object_set_new(o, "incomplete", incomplete);
	return o;
}

void event_loss_print(FILE *f, const struct event_loss *l)
{
	uint64_t dropped = event_loss_dropped(l), received = 0;
	json_t *figures = json_array();
	const char *sep = "";

	for (uint32_t k = 0; k < TASK_KINDS; k++)
		received += l->received[k];
	if (!dropped || !figures) {
		json_decref(figures);
		return;
	}
	fprintf(f, "\n* task events lost (the ring buffer was full): %llu of %llu (%.1f%%):",
		(unsigned long long)dropped, (unsigned long long)(received + dropped),
		100.0 * dropped / (received + dropped));
	for (uint32_t k = 0; k < TASK_KINDS; k++) {
		const struct event_kind_info *info = kind_info(l, k);

		if (!l->dropped[k])
			continue;
		fprintf(f, "%s %s %llu of %llu", sep, info->name, (unsigned long long)l->dropped[k],
			(unsigned long long)(l->received[k] + l->dropped[k]));
		sep = ",";
		add_figures(figures, info->figures);
	}
	fprintf(f, "\n  incomplete (lower or higher than the truth):");
	for (size_t i = 0; i < json_array_size(figures); i++)
		fprintf(f, " %s", json_string_value(json_array_get(figures, i)));
	fprintf(f, "\n");
	json_decref(figures);
}
