// SPDX-License-Identifier: MIT
#include <criterion/criterion.h>
#include <fcntl.h>
#include <dirent.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "output/folded.h"
#include "model/profile.h"
#include "profile_builder.h"

/*
 * main -> run -> work, where helper was inlined into work and hash into helper, plus frames
 * whose names need sanitizing, an empty stack and a sample with no CPU value.
 */
static struct profile *sample_profile(void)
{
	struct profile *p = tb_cpu_profile();
	uint64_t inlined = tb_location(p, 0, 0x401000, "hash", "helper", "work", NULL);
	uint64_t deep[] = { inlined, tb_frame(p, "run"), tb_frame(p, "main") };
	int64_t none[2] = { 0, 0 };

	tb_sample_at(p, 3, "worker-1", deep, 3);
	tb_sample_at(p, 2, "worker-2", deep, 3);
	/* Two different functions whose frame text is the same once sanitized: one line. */
	tb_sample(p, 1, "worker-1", "a;b\nc", "main", NULL);
	tb_sample(p, 4, "worker-1", "a:bc", "main", NULL);
	tb_sample_at(p, 7, "worker-1", NULL, 0);
	/* A function without a name. */
	tb_sample(p, 1, NULL, "", "main", NULL);
	/* A sample present in the profile with value 0: not a line. */
	cr_assert_eq(profile_add_sample(p, deep + 1, 2, none, NULL, 0), 0);
	return p;
}

Test(folded, root_label_inline_expansion_and_merging)
{
	struct profile *p = sample_profile();
	char *text = tb_folded_text(p, 0, "thread_name");

	cr_assert_str_eq(text, "main;[unknown] 1\n"
			       "worker-1;[unknown] 7\n"
			       "worker-1;main;a:bc 5\n"
			       "worker-1;main;run;work;helper;hash 3\n"
			       "worker-2;main;run;work;helper;hash 2\n");
	free(text);
	profile_free(p);
}

Test(folded, without_root_label_merges_threads)
{
	struct profile *p = sample_profile();
	char *text = tb_folded_text(p, 0, NULL);

	cr_assert_str_eq(text, "[unknown] 7\n"
			       "main;[unknown] 1\n"
			       "main;a:bc 5\n"
			       "main;run;work;helper;hash 5\n");
	free(text);
	profile_free(p);
}

Test(folded, value_index_selects_the_value)
{
	struct profile *p = sample_profile();
	char *text = tb_folded_text(p, 1, NULL);

	cr_assert_str_eq(text, "[unknown] 70000000\n"
			       "main;[unknown] 10000000\n"
			       "main;a:bc 50000000\n"
			       "main;run;work;helper;hash 50000000\n");
	free(text);
	profile_free(p);
}

Test(folded, numeric_label_is_not_a_root_frame)
{
	struct profile *p = tb_cpu_profile();
	struct profile_label pid = { .key = "pid", .num = 42 };
	uint64_t stack[] = { tb_frame(p, "leaf"), tb_frame(p, "root") };
	int64_t values[2] = { 2, 2 * TB_PERIOD };
	char *text;

	cr_assert_eq(profile_add_sample(p, stack, 2, values, &pid, 1), 0);
	text = tb_folded_text(p, 0, "pid");
	cr_assert_str_eq(text, "root;leaf 2\n");
	free(text);
	profile_free(p);
}

Test(folded, stack_frames_carry_kernel_flag)
{
	struct profile *p = tb_cpu_profile();
	struct profile_mapping kernel = {
		.file = "[kernel.kallsyms]_text",
		.start = 0xffffffff81000000,
		.limit = 0xffffffff82000000,
	};
	uint64_t kid = profile_add_mapping(p, &kernel);
	uint64_t stack[] = { tb_location(p, kid, 0xffffffff81000000, "do_syscall_64", NULL),
			     tb_frame(p, "main") };
	struct folded_stack st = { 0 };

	tb_sample_at(p, 1, "t1", stack, 2);
	cr_assert_eq(folded_stack_build(p, &p->samples[0], "thread_name", &st), 0);
	cr_assert_eq(st.n, 3);
	cr_assert_str_eq(st.frames[0].name, "t1");
	cr_assert_str_eq(st.frames[1].name, "main");
	cr_assert_str_eq(st.frames[2].name, "do_syscall_64");
	cr_assert(!st.frames[0].kernel && !st.frames[1].kernel && st.frames[2].kernel);
	folded_stack_free(&st);
	profile_free(p);
}

Test(folded, write_file_is_whole_and_replaces)
{
	struct profile *p = sample_profile();
	char dir[] = "/tmp/asyncprof-folded-XXXXXX", path[64], buf[512];
	struct dirent *de;
	size_t n = 0;
	int dirfd;
	FILE *f;
	DIR *d;

	cr_assert_not_null(mkdtemp(dir));
	snprintf(path, sizeof(path), "%s/cpu.folded", dir);
	f = fopen(path, "w");
	fputs("old content that is longer than nothing\n", f);
	fclose(f);
	dirfd = open(dir, O_RDONLY | O_DIRECTORY);
	cr_assert_eq(folded_write_file(p, 0, NULL, dirfd, "cpu.folded"), 0);
	close(dirfd);
	f = fopen(path, "r");
	n = fread(buf, 1, sizeof(buf) - 1, f);
	buf[n] = 0;
	fclose(f);
	cr_assert_str_eq(buf, "[unknown] 7\nmain;[unknown] 1\nmain;a:bc 5\n"
			      "main;run;work;helper;hash 5\n");
	/* No temporary file is left next to it. */
	d = opendir(dir);
	n = 0;
	while ((de = readdir(d))) {
		if (strcmp(de->d_name, ".") == 0 || strcmp(de->d_name, "..") == 0)
			continue;
		cr_assert_str_eq(de->d_name, "cpu.folded");
		n++;
	}
	closedir(d);
	cr_assert_eq(n, 1);
	unlink(path);
	rmdir(dir);
	profile_free(p);
}
