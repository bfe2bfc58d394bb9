// SPDX-License-Identifier: MIT
#include <criterion/criterion.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/wait.h>
#include <unistd.h>

#include "output/flamegraph.h"
#include "model/profile.h"
#include "profile_builder.h"

#define LONG_NAME "a_very_long_function_name_that_cannot_fit"

/*
 * 10 samples on one thread: main -> run -> work (5), main -> run -> x<y>&z'" (2), a syscall
 * into the kernel (1), a task frame (1) and a long name (1).
 */
static struct profile *sample_profile(void)
{
	struct profile *p = tb_cpu_profile();
	struct profile_mapping kernel = { .file = "[kernel.kallsyms]", .start = 1, .limit = 2 };
	uint64_t kid = profile_add_mapping(p, &kernel);
	uint64_t syscall[] = { tb_location(p, kid, 0xffffffff81000000, "do_syscall_64", NULL),
			       tb_frame(p, "sys"), tb_frame(p, "main") };

	tb_sample(p, 5, "worker", "work", "run", "main", NULL);
	tb_sample(p, 2, "worker", "x<y>&z'\"", "run", "main", NULL);
	tb_sample_at(p, 1, "worker", syscall, 3);
	tb_sample(p, 1, "worker", "poll", "[task 7 serve]", NULL);
	tb_sample(p, 1, "worker", LONG_NAME, NULL);
	return p;
}

static char *svg_text(const struct profile *p, size_t value_index,
		      const struct flamegraph_opts *opts)
{
	char *buf = NULL;
	size_t len = 0;
	FILE *f = open_memstream(&buf, &len);

	cr_assert_not_null(f);
	cr_assert_eq(flamegraph_write(p, value_index, opts, f), 0);
	fclose(f);
	return buf;
}

/* The <g> of the frame whose tooltip is exactly title, or NULL. */
static const char *frame(const char *svg, const char *title)
{
	char needle[512];

	snprintf(needle, sizeof(needle), "<g><title>%s</title>", title);
	return strstr(svg, needle);
}

static double attr(const char *elem, const char *name)
{
	char needle[64];
	const char *p;

	snprintf(needle, sizeof(needle), " %s=\"", name);
	p = strstr(elem, needle);
	cr_assert_not_null(p, "no %s in %.80s", name, elem);
	return strtod(p + strlen(needle), NULL);
}

static bool is_entity(const char *s)
{
	static const char *const entities[] = { "&amp;", "&lt;", "&gt;", "&quot;", "&apos;" };

	for (size_t i = 0; i < sizeof(entities) / sizeof(entities[0]); i++)
		if (strncmp(s, entities[i], strlen(entities[i])) == 0)
			return true;
	return false;
}

/* A crude well-formedness check that needs no XML library: tags nest and balance. */
static void check_tags_balance(const char *svg)
{
	const char *stack[64];
	size_t lens[64], depth = 0;
	const char *p = svg;

	while ((p = strchr(p, '<'))) {
		const char *end;

		if (strncmp(p, "<![CDATA[", 9) == 0) {
			p = strstr(p, "]]>");
			cr_assert_not_null(p, "unterminated CDATA");
			continue;
		}
		end = strchr(p, '>');
		cr_assert_not_null(end, "unterminated tag");
		if (p[1] == '?' || p[1] == '!') {
		} else if (p[1] == '/') {
			cr_assert_gt(depth, 0, "closing tag without opening");
			depth--;
			cr_assert(strncmp(p + 2, stack[depth], lens[depth]) == 0 &&
					  p[2 + lens[depth]] == '>',
				  "mismatched </%.*s>", (int)lens[depth], stack[depth]);
		} else if (end[-1] != '/') {
			cr_assert_lt(depth, 64);
			stack[depth] = p + 1;
			lens[depth] = strcspn(p + 1, " />");
			depth++;
		}
		/* Text up to the next markup may only hold '&' as the start of an entity. */
		p = end + 1;
		for (const char *t = p; *t && *t != '<'; t++)
			if (*t == '&')
				cr_assert(is_entity(t), "bare & in text: %.20s", t);
	}
	cr_assert_eq(depth, 0, "unclosed tags");
}

static void check_xmllint(const char *svg)
{
	char path[] = "/tmp/asyncprof-fg-XXXXXX", cmd[128];
	int fd, status;

	if (system("command -v xmllint >/dev/null 2>&1") != 0)
		return;
	fd = mkstemp(path);
	cr_assert_geq(fd, 0);
	cr_assert_eq(write(fd, svg, strlen(svg)), (ssize_t)strlen(svg));
	close(fd);
	snprintf(cmd, sizeof(cmd), "xmllint --noout '%s'", path);
	status = system(cmd);
	unlink(path);
	cr_assert(WIFEXITED(status) && WEXITSTATUS(status) == 0, "xmllint rejects the SVG");
}

Test(flamegraph, well_formed)
{
	struct profile *p = sample_profile();
	struct flamegraph_opts o = { .title = "CPU <all> & \"more\"", .subtitle = "pid 42 'demo'" };
	char *svg = svg_text(p, 0, &o);

	cr_assert(strncmp(svg, "<?xml version=\"1.0\"", 19) == 0);
	cr_assert_not_null(strstr(svg, "<svg version=\"1.1\" xmlns=\"http://www.w3.org/2000/svg\" "
				       "width=\"1200\""));
	check_tags_balance(svg);
	check_xmllint(svg);
	cr_assert_not_null(strstr(svg, ">CPU &lt;all&gt; &amp; &quot;more&quot;</text>"));
	cr_assert_not_null(strstr(svg, ">pid 42 &apos;demo&apos;</text>"));
	free(svg);
	profile_free(p);
}

Test(flamegraph, frames_and_percentages)
{
	struct profile *p = sample_profile();
	char *svg = svg_text(p, 0, NULL);

	cr_assert_not_null(frame(svg, "all (10 samples, 100.00%)"));
	cr_assert_not_null(frame(svg, "main (8 samples, 80.00%)"));
	cr_assert_not_null(frame(svg, "run (7 samples, 70.00%)"));
	cr_assert_not_null(frame(svg, "work (5 samples, 50.00%)"));
	cr_assert_not_null(frame(svg, "x&lt;y&gt;&amp;z&apos;&quot; (2 samples, 20.00%)"));
	cr_assert_not_null(frame(svg, "sys (1 samples, 10.00%)"));
	cr_assert_not_null(frame(svg, "do_syscall_64 (1 samples, 10.00%)"));
	cr_assert_not_null(frame(svg, "[task 7 serve] (1 samples, 10.00%)"));
	cr_assert_not_null(frame(svg, "poll (1 samples, 10.00%)"));
	/* A root label key was not asked for: no thread frame. */
	cr_assert_null(strstr(svg, "<title>worker"));
	free(svg);
	profile_free(p);
}

Test(flamegraph, root_label_and_time_units)
{
	struct profile *p = sample_profile();
	struct flamegraph_opts o = { .root_label_key = "thread_name" };
	char *svg = svg_text(p, 1, &o);

	cr_assert_not_null(frame(svg, "all (100.00 ms, 100.00%)"));
	cr_assert_not_null(frame(svg, "worker (100.00 ms, 100.00%)"));
	cr_assert_not_null(frame(svg, "work (50.00 ms, 50.00%)"));
	free(svg);
	profile_free(p);
}

Test(flamegraph, widths_are_proportional)
{
	struct profile *p = sample_profile();
	char *svg = svg_text(p, 0, NULL);
	const char *all = frame(svg, "all (10 samples, 100.00%)");
	const char *work = frame(svg, "work (5 samples, 50.00%)");
	const char *run = frame(svg, "run (7 samples, 70.00%)");
	const char *sys = frame(svg, "sys (1 samples, 10.00%)");

	cr_assert(all && work && run && sys);
	/* 1200 pixels minus 10 on each side. */
	cr_assert_float_eq(attr(all, "x"), 10.0, 0.001);
	cr_assert_float_eq(attr(all, "width"), 1180.0, 0.001);
	cr_assert_float_eq(attr(work, "width"), 590.0, 0.011);
	cr_assert_float_eq(attr(run, "width"), 826.0, 0.011);
	cr_assert_float_eq(attr(sys, "width"), 118.0, 0.011);
	/* Callees sit one row above their caller, inside its extent. */
	cr_assert_float_eq(attr(work, "y"), attr(run, "y") - 16, 0.001);
	cr_assert_geq(attr(work, "x"), attr(run, "x"));
	cr_assert_leq(attr(work, "x") + attr(work, "width"),
		      attr(run, "x") + attr(run, "width") + 0.001);
	free(svg);
	profile_free(p);
}

Test(flamegraph, labels_are_cut_to_fit)
{
	struct profile *p = sample_profile();
	char *svg = svg_text(p, 0, NULL);
	const char *g = frame(svg, LONG_NAME " (1 samples, 10.00%)");

	cr_assert_not_null(g);
	/* 118 px holds floor((118 - 6) / 7.08) = 15 characters: 13 of the name and "..". */
	cr_assert_not_null(strstr(g, ">a_very_long_f..</text></g>"), "%.400s", g);
	cr_assert_not_null(strstr(frame(svg, "work (5 samples, 50.00%)"), ">work</text></g>"));
	free(svg);
	profile_free(p);
}

Test(flamegraph, narrow_frames_are_skipped_but_counted)
{
	struct profile *p = sample_profile();
	struct flamegraph_opts o = { .min_width = 200 }; /* one sample is 118 pixels wide */
	char *svg = svg_text(p, 0, &o);

	cr_assert_not_null(frame(svg, "all (10 samples, 100.00%)"));
	cr_assert_not_null(frame(svg, "main (8 samples, 80.00%)"));
	cr_assert_not_null(frame(svg, "x&lt;y&gt;&amp;z&apos;&quot; (2 samples, 20.00%)"));
	cr_assert_null(strstr(svg, "sys ("));
	cr_assert_null(strstr(svg, "do_syscall_64"));
	cr_assert_null(strstr(svg, "[task 7 serve]"));
	cr_assert_null(strstr(svg, "poll ("));
	check_tags_balance(svg);
	free(svg);
	profile_free(p);
}

static void rgb_of(const char *g, int rgb[3])
{
	const char *fill = strstr(g, "fill=\"rgb(");

	cr_assert_not_null(fill);
	cr_assert_eq(sscanf(fill, "fill=\"rgb(%d,%d,%d)", &rgb[0], &rgb[1], &rgb[2]), 3);
}

Test(flamegraph, colours)
{
	struct profile *p = sample_profile();
	char *svg = svg_text(p, 0, NULL), *again = svg_text(p, 0, NULL);
	int user[3], kernel[3], task[3];

	cr_assert_str_eq(svg, again, "output must be deterministic");
	rgb_of(frame(svg, "work (5 samples, 50.00%)"), user);
	rgb_of(frame(svg, "do_syscall_64 (1 samples, 10.00%)"), kernel);
	rgb_of(frame(svg, "[task 7 serve] (1 samples, 10.00%)"), task);
	cr_assert(user[0] > user[1] && user[1] > user[2], "user frames are warm");
	cr_assert(kernel[2] > kernel[0] && kernel[1] > kernel[0], "kernel frames are blue-green");
	cr_assert(task[2] > task[1] && task[0] > task[1], "task frames are purple");
	free(svg);
	free(again);
	profile_free(p);
}

Test(flamegraph, unknown_frames_are_grey)
{
	struct profile *p = tb_cpu_profile();
	char *svg;
	int rgb[3];

	tb_sample_at(p, 4, NULL, NULL, 0);
	svg = svg_text(p, 0, NULL);
	rgb_of(frame(svg, "[unknown] (4 samples, 100.00%)"), rgb);
	cr_assert(rgb[0] == rgb[1] && rgb[1] == rgb[2]);
	free(svg);
	profile_free(p);
}

Test(flamegraph, invalid_utf8_and_control_characters)
{
	struct profile *p = tb_cpu_profile();
	char *svg;

	tb_sample(p, 1, NULL, "bad\xff\x01name", NULL);
	svg = svg_text(p, 0, NULL);
	cr_assert_not_null(frame(svg, "bad\xef\xbf\xbd?name (1 samples, 100.00%)"));
	check_tags_balance(svg);
	check_xmllint(svg);
	free(svg);
	profile_free(p);
}

Test(flamegraph, empty_profile)
{
	struct profile *p = tb_cpu_profile();
	char *svg = svg_text(p, 0, NULL);

	cr_assert_not_null(frame(svg, "all (0 samples, 0.00%)"));
	check_tags_balance(svg);
	check_xmllint(svg);
	free(svg);
	profile_free(p);
}

Test(flamegraph, interactive_script)
{
	struct profile *p = sample_profile();
	char *svg = svg_text(p, 0, NULL);

	cr_assert_not_null(strstr(svg, "<script type=\"text/ecmascript\"><![CDATA["));
	cr_assert_not_null(strstr(svg, "var WIDTH = 1200, XPAD = 10, CHAR_WIDTH = 7.08;"));
	cr_assert_not_null(strstr(svg, "id=\"unzoom\""));
	cr_assert_not_null(strstr(svg, ">Reset Zoom</text>"));
	cr_assert_not_null(strstr(svg, "id=\"search\""));
	cr_assert_not_null(strstr(svg, "id=\"details\""));
	cr_assert_not_null(strstr(svg, "'Matched: '"));
	cr_assert_not_null(strstr(svg, "addEventListener('keydown'"));
	free(svg);
	profile_free(p);
}
