/* SPDX-License-Identifier: MIT */
#ifndef ASYNCPROF_FLAMEGRAPH_H
#define ASYNCPROF_FLAMEGRAPH_H

#include <stddef.h>
#include <stdio.h>

#include "model/profile.h"

/*
 * flamegraph: a profile as a self-contained interactive SVG flame graph (no network, no external
 * script), viewable in any browser.
 *
 * Stacks are those of folded_stack_build(), merged into a tree: the root "all" at the bottom,
 * callees above their callers, each frame as wide as its value, siblings sorted by name. Every
 * frame has a tooltip "name (value, percent of all)". In a browser, clicking a frame zooms into
 * it ("Reset Zoom" or the bottom frame zooms out), "Search" or Ctrl-F highlights the frames
 * whose name matches a regular expression and shows how much of the total they cover, and
 * hovering a frame shows its tooltip text on the bottom line.
 *
 * Colours are derived from the frame's name, so a function has the same colour in every graph:
 * warm colours for user code, blue-green for kernel frames, purple for "[task ...]" frames and
 * grey for "[unknown]".
 */
struct flamegraph_opts {
	const char *title;	    /* NULL: "Flame Graph" */
	const char *subtitle;	    /* NULL: none */
	const char *root_label_key; /* string label shown as the first frame, e.g. "thread_name" */
	int width;		    /* image width in pixels; 0: 1200 */
	double min_width;	    /* narrower frames are not drawn (pixels); 0: 0.1 */
};

/*
 * Writes the flame graph of values[value_index] to f. opts may be NULL for the defaults.
 * Samples whose value is not positive are left out; frames too narrow to draw still count in
 * their parents' values and percentages. Returns 0 or -errno (-EIO on a write error).
 */
int flamegraph_write(const struct profile *prof, size_t value_index,
		     const struct flamegraph_opts *opts, FILE *f);

/* flamegraph_write() into name in the directory dirfd, whole or not at all (see output.h). */
int flamegraph_write_file(const struct profile *prof, size_t value_index,
			  const struct flamegraph_opts *opts, int dirfd, const char *name);

#endif
