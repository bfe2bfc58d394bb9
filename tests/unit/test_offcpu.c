// SPDX-License-Identifier: MIT
/*
 * The user-space half of the off-CPU profile: the state label, and collector_add_sample(), the
 * collector's entry for profiles other than cpu and wait, on a block sent with its kernel stack
 * only (no kernel symbols here: kernel frames are [unknown]).
 */
#include <criterion/criterion.h>
#include <errno.h>
#include <string.h>
#include <unistd.h>

#include "model/collector.h"
#include "capture/offcpu.h"
#include "bpf/offcpu_data.h"

Test(offcpu, state_names)
{
	cr_assert_str_eq(offcpu_state_name(OFFCPU_TASK_INTERRUPTIBLE), "sleeping");
	cr_assert_str_eq(offcpu_state_name(OFFCPU_TASK_UNINTERRUPTIBLE), "uninterruptible");
	/* TASK_KILLABLE and TASK_IDLE are uninterruptible sleeps with extra bits. */
	cr_assert_str_eq(offcpu_state_name(0x100 | OFFCPU_TASK_UNINTERRUPTIBLE), "uninterruptible");
	cr_assert_str_eq(offcpu_state_name(0x400 | OFFCPU_TASK_UNINTERRUPTIBLE), "uninterruptible");
	cr_assert_str_eq(offcpu_state_name(OFFCPU_TASK_STOPPED), "stopped");
	cr_assert_str_eq(offcpu_state_name(OFFCPU_TASK_TRACED), "stopped");
	cr_assert_str_eq(offcpu_state_name(0x40), "other");
}

static const char *label_str(const struct profile_sample *s, const char *key)
{
	const struct profile_label *l = profile_sample_label(s, key);

	cr_assert_not_null(l, "no label %s", key);
	return l->str;
}

Test(offcpu, kernel_only_block_in_its_own_profile)
{
	static const struct profile_value_type types[] = { { "blocks", "count" },
							   { "off_cpu", "nanoseconds" } };
	static struct sample_event e = {
		.pid = 1, .tid = 42, .kstack_len = 2, .comm = "worker",
		.kstack = { 0xffffffff81001000ULL, 0xffffffff81002000ULL },
	};
	struct profile_label state = { .key = "state", .str = "sleeping" };
	int64_t values[2] = { 1, 5000000 };
	struct symbolizer *sym = symbolizer_new();
	struct process *proc;
	struct collector *c;
	struct profile *prof, *other;
	const struct profile_sample *s;
	const struct profile_location *root;

	cr_assert_eq(process_open(getpid(), sym, &proc), 0);
	cr_assert_eq(collector_new(proc, NULL, 10000000, &c), 0);
	prof = collector_new_profile(c, types, 2, 1);
	cr_assert_not_null(prof);
	cr_assert_str_eq(prof->period_type.type, "off_cpu");
	cr_assert_eq(prof->period, 1);

	for (int i = 0; i < 2; i++)
		cr_assert_eq(collector_add_sample(c, prof, &e, SAMPLE_HEADER_SIZE, values, &state, 1,
						  "[user stack not captured]"),
			     0);
	cr_assert_eq(prof->nsamples, 1, "the same block twice is one sample");
	s = &prof->samples[0];
	cr_assert_eq(s->values[0], 2);
	cr_assert_eq(s->values[1], 10000000);
	cr_assert_eq(profile_sample_label(s, "thread_id")->num, 42);
	cr_assert_str_eq(label_str(s, "thread_name"), "worker");
	cr_assert_str_eq(label_str(s, "state"), "sleeping");
	cr_assert_eq(s->nlocations, 3, "two kernel frames and the root frame");
	cr_assert_eq(profile_location(prof, s->location_ids[0])->address, 0xffffffff81001000ULL);
	root = profile_location(prof, s->location_ids[2]);
	cr_assert_eq(root->address, 0);
	cr_assert_str_eq(profile_function(prof, root->lines[0].function_id)->name,
			 "[user stack not captured]");
	cr_assert_eq(collector_profile(c)->nsamples, 0, "the CPU profile is untouched");

	other = collector_new_profile(c, types, 2, 1);
	cr_assert_eq(collector_add_sample(c, other, &e, SAMPLE_HEADER_SIZE, values, NULL, 0, NULL),
		     0);
	cr_assert_eq(other->samples[0].nlocations, 2);
	cr_assert_eq(prof->nsamples, 1);
	cr_assert_eq(collector_add_sample(c, collector_profile(c), &e, SAMPLE_HEADER_SIZE, values,
					  NULL, 0, NULL),
		     -EINVAL, "only profiles made by collector_new_profile");

	collector_free(c);
	process_close(proc);
	symbolizer_free(sym);
}
