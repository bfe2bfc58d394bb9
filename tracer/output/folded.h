/* SPDX-License-Identifier: MIT */
#ifndef ASYNCPROF_FOLDED_H
#define ASYNCPROF_FOLDED_H

#include <stdbool.h>
#include <stddef.h>
#include <stdio.h>

#include "model/profile.h"

/*
 * folded: a profile as "folded stacks", one line per distinct stack, read by flamegraph.pl,
 * speedscope, inferno and most flame graph tools:
 *
 *	root_frame;caller;leaf_frame 42
 *
 * Frames go root to leaf, joined by ';', then one space and an integer count, as speedscope's
 * strict parser wants. Samples whose frame text is identical are merged, and lines are sorted
 * so that the same profile always gives the same file.
 *
 * The frame sequence of a sample (folded_stack_build()) is shared with the flame graph writer,
 * so both views always show the same stacks.
 */

/* One frame of a sample's stack as the text views show it. */
struct folded_frame {
	const char *name; /* function or root label value, borrowed from the profile; never NULL */
	bool kernel;	  /* the location is in the kernel's mapping ("[kernel.kallsyms]...") */
};

/* A sample's frames, root first; reused across samples so a walk allocates only to grow. */
struct folded_stack {
	struct folded_frame *frames;
	size_t n, cap;
};

/* Frame name used for an empty stack and for a function without a name. */
#define FOLDED_UNKNOWN "[unknown]"

/*
 * Fills st with the frames of sample s, root first: the value of the sample's string label
 * root_label_key when there is one (root_label_key may be NULL), then, from the outermost
 * caller down to the leaf, each location's lines outermost first (the function that was
 * called, then what was inlined into it). A sample without any frame gets one "[unknown]"
 * frame, so that its value still shows. Returns 0 or -ENOMEM.
 */
int folded_stack_build(const struct profile *prof, const struct profile_sample *s,
		       const char *root_label_key, struct folded_stack *st);
void folded_stack_free(struct folded_stack *st); /* frees the frames array; st may be reused */

/*
 * Writes one line per distinct stack with the sum of values[value_index] of its samples.
 * Samples with a zero value are left out. In frame names ';' becomes ':' and newlines are
 * removed, since both would break the line format. Returns 0 or -errno (-EIO on a write error).
 */
int folded_write(const struct profile *prof, size_t value_index, const char *root_label_key,
		 FILE *f);

/* folded_write() into name in the directory dirfd, whole or not at all (see output.h). */
int folded_write_file(const struct profile *prof, size_t value_index, const char *root_label_key,
		      int dirfd, const char *name);

#endif
