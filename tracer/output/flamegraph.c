// SPDX-License-Identifier: MIT
#include "flamegraph.h"
#include "folded.h"
#include "util/hashmap.h"
#include "file.h"
#include "summary.h"

#include <assert.h>
#include <errno.h>
#include <math.h>
#include <stdlib.h>
#include <string.h>

/*
 * Layout, top to bottom: title (and subtitle) with the zoom and search buttons, the frames with
 * the root on the bottom row, then the line that shows the hovered frame and the search result.
 * The script only reads what is in the SVG (each frame's rect and tooltip), so a frame's name
 * is never stored twice.
 */
#define FONT_SIZE 12
#define CHAR_WIDTH (FONT_SIZE * 0.59) /* average glyph width of Verdana at FONT_SIZE */
#define FRAME_HEIGHT 16
#define XPAD 10
#define TOP_PAD 40
#define SUBTITLE_PAD 18
#define BOTTOM_PAD 30
#define DEFAULT_WIDTH 1200
#define DEFAULT_MIN_WIDTH 0.1

struct fg_node {
	const char *name;
	int64_t value;
	int64_t start; /* sum of the values of the frames left of it, in the same units */
	size_t parent;
	size_t first_child, next_sibling; /* 0: none; the root (node 0) is nobody's child */
	unsigned int depth;
	bool kernel;
};

struct fg_tree {
	struct fg_node *nodes;
	size_t n, cap;
	struct hashmap *children; /* (parent, kernel, name) -> node */
	unsigned char *key;	  /* reused buffer for building those keys */
	size_t key_cap;
};

static int tree_add_node(struct fg_tree *t, size_t parent, const struct folded_frame *fr)
{
	struct fg_node *n;

	if (t->n == t->cap) {
		size_t cap = t->cap ? t->cap * 2 : 256;
		struct fg_node *p = realloc(t->nodes, cap * sizeof(*p));

		if (!p)
			return -ENOMEM;
		t->nodes = p;
		t->cap = cap;
	}
	n = &t->nodes[t->n];
	memset(n, 0, sizeof(*n));
	n->name = fr->name;
	n->kernel = fr->kernel;
	n->parent = parent;
	n->depth = t->n ? t->nodes[parent].depth + 1 : 0;
	t->n++;
	return 0;
}

/*
 * The child of parent for frame fr, created when new. Frames are matched by name text, not by
 * pointer, since "[unknown]" may come both from the profile and from folded.h.
 */
static int tree_child(struct fg_tree *t, size_t parent, const struct folded_frame *fr,
		      size_t *child)
{
	size_t len = strlen(fr->name), klen = sizeof(parent) + 1 + len;
	uint64_t idx;
	int err;

	if (klen > t->key_cap) {
		unsigned char *p = realloc(t->key, klen * 2);

		if (!p)
			return -ENOMEM;
		t->key = p;
		t->key_cap = klen * 2;
	}
	memcpy(t->key, &parent, sizeof(parent));
	t->key[sizeof(parent)] = fr->kernel;
	memcpy(t->key + sizeof(parent) + 1, fr->name, len);
	if (hashmap_get(t->children, t->key, klen, &idx)) {
		*child = idx;
		return 0;
	}
	err = tree_add_node(t, parent, fr);
	if (err)
		return err;
	*child = t->n - 1;
	return hashmap_put(t->children, t->key, klen, *child);
}

static int compare_siblings(const void *a, const void *b, void *arg)
{
	const struct fg_node *nodes = arg;
	const struct fg_node *x = &nodes[*(const size_t *)a], *y = &nodes[*(const size_t *)b];
	int cmp;

	if (x->parent != y->parent)
		return x->parent < y->parent ? -1 : 1;
	cmp = strcmp(x->name, y->name);
	return cmp ? cmp : (int)x->kernel - (int)y->kernel;
}

/* Links every node's children in name order, so the picture does not depend on sample order. */
static int tree_link_children(struct fg_tree *t)
{
	size_t *order = malloc(t->n * sizeof(*order));

	if (!order)
		return -ENOMEM;
	for (size_t i = 0; i < t->n; i++)
		order[i] = i;
	/* order[0] is the root, which is nobody's child. */
	qsort_r(order + 1, t->n - 1, sizeof(*order), compare_siblings, t->nodes);
	for (size_t i = t->n; i-- > 1;) {
		struct fg_node *n = &t->nodes[order[i]];

		n->next_sibling = t->nodes[n->parent].first_child;
		t->nodes[n->parent].first_child = order[i];
	}
	free(order);
	return 0;
}

static int tree_build(struct fg_tree *t, const struct profile *prof, size_t value_index,
		      const char *root_label_key)
{
	static const struct folded_frame root = { .name = "all" };
	struct folded_stack st = { 0 };
	int err;

	t->children = hashmap_new();
	if (!t->children)
		return -ENOMEM;
	err = tree_add_node(t, 0, &root);
	if (err)
		return err;
	for (size_t i = 0; i < prof->nsamples && !err; i++) {
		int64_t v = prof->samples[i].values[value_index];
		size_t cur = 0;

		if (v <= 0)
			continue;
		err = folded_stack_build(prof, &prof->samples[i], root_label_key, &st);
		if (err)
			break;
		t->nodes[0].value += v;
		for (size_t j = 0; j < st.n && !err; j++) {
			err = tree_child(t, cur, &st.frames[j], &cur);
			if (!err)
				t->nodes[cur].value += v;
		}
	}
	folded_stack_free(&st);
	return err ? err : tree_link_children(t);
}

static void tree_free(struct fg_tree *t)
{
	free(t->nodes);
	free(t->key);
	hashmap_free(t->children);
}

/* Writes s as XML character data, cut to at most max_chars characters (SIZE_MAX: all). */
static void put_xml(FILE *f, const char *s, size_t max_chars)
{
	for (size_t chars = 0; *s && chars < max_chars; chars++) {
		size_t n = output_utf8_len(s);
		unsigned char c = (unsigned char)*s;

		if (!n) {
			/* XML must be well-formed UTF-8: show a stray byte as U+FFFD. */
			fputs("\xef\xbf\xbd", f);
			s++;
			continue;
		}
		if (n == 1 && c < 0x20) {
			/* Control characters are not allowed in XML 1.0, even escaped. */
			fputc('?', f);
		} else if (n == 3 && memcmp(s, "\xef\xbf\xbe", 3) == 0) {
			fputc('?', f); /* U+FFFE, also forbidden */
		} else if (n == 3 && memcmp(s, "\xef\xbf\xbf", 3) == 0) {
			fputc('?', f); /* U+FFFF */
		} else if (c == '&') {
			fputs("&amp;", f);
		} else if (c == '<') {
			fputs("&lt;", f);
		} else if (c == '>') {
			fputs("&gt;", f);
		} else if (c == '"') {
			fputs("&quot;", f);
		} else if (c == '\'') {
			fputs("&apos;", f);
		} else {
			fwrite(s, 1, n, f);
		}
		s += n;
	}
}

/* Characters as the script counts them (roughly: one per UTF-8 character or stray byte). */
static size_t count_chars(const char *s)
{
	size_t chars = 0;

	while (*s) {
		size_t n = output_utf8_len(s);

		s += n ? n : 1;
		chars++;
	}
	return chars;
}

/* The frame's label: its name, cut with ".." to fit width pixels, or nothing when too narrow. */
static void put_label(FILE *f, const char *name, double width)
{
	double fit = floor((width - 6) / CHAR_WIDTH);

	if (fit < 3)
		return;
	if ((double)count_chars(name) <= fit) {
		put_xml(f, name, SIZE_MAX);
	} else {
		put_xml(f, name, (size_t)fit - 2);
		fputs("..", f);
	}
}

/* A colour family: each channel is base + range * (one byte of the name's hash) / 255. */
struct palette {
	int base[3], range[3];
};

static const struct palette warm = { { 215, 85, 20 }, { 40, 135, 50 } };
static const struct palette kernel = { { 50, 165, 190 }, { 60, 50, 50 } };
static const struct palette task = { { 165, 125, 225 }, { 40, 35, 30 } };

static void frame_colour(const struct fg_node *n, bool root, int rgb[3])
{
	uint64_t h = hash_bytes(n->name, strlen(n->name));
	const struct palette *pal = &warm;

	if (root) {
		rgb[0] = 215, rgb[1] = 215, rgb[2] = 205;
		return;
	}
	if (strncmp(n->name, FOLDED_UNKNOWN, strlen(FOLDED_UNKNOWN)) == 0) {
		rgb[0] = rgb[1] = rgb[2] = 165 + (int)(h % 31);
		return;
	}
	if (strncmp(n->name, "[task ", 6) == 0)
		pal = &task;
	else if (n->kernel)
		pal = &kernel;
	for (int i = 0; i < 3; i++)
		rgb[i] = pal->base[i] + pal->range[i] * (int)((h >> (8 * i)) & 0xff) / 255;
}

struct fg_layout {
	const struct profile_value_type *type;
	int64_t total;
	double scale; /* pixels per unit of value */
	double min_width;
	int width, height;
};

/*
 * Pixel edges are rounded to the 0.01 grid the SVG is written with, before the width is taken,
 * so that a child's edges never stick out of its parent's (the zoom script relies on it).
 */
static double edge(const struct fg_layout *l, int64_t offset)
{
	return round((XPAD + (double)offset * l->scale) * 100) / 100;
}

static void put_frame(FILE *f, const struct fg_layout *l, const struct fg_node *n, bool root)
{
	double x = edge(l, n->start), w = edge(l, n->start + n->value) - x;
	double y = l->height - BOTTOM_PAD - (double)(n->depth + 1) * FRAME_HEIGHT;
	char value[64];
	int rgb[3];

	frame_colour(n, root, rgb);
	summary_format_value(value, sizeof(value), n->value, l->type);
	fputs("<g><title>", f);
	put_xml(f, n->name, SIZE_MAX);
	fprintf(f, " (%s, %.2f%%)</title>", value,
		l->total ? 100.0 * (double)n->value / (double)l->total : 0.0);
	fprintf(f,
		"<rect x=\"%.2f\" y=\"%.0f\" width=\"%.2f\" height=\"%d\" rx=\"2\" ry=\"2\" "
		"fill=\"rgb(%d,%d,%d)\"/>",
		x, y, w, FRAME_HEIGHT - 1, rgb[0], rgb[1], rgb[2]);
	fprintf(f, "<text x=\"%.2f\" y=\"%.1f\">", x + 3, y + FRAME_HEIGHT - 4.5);
	put_label(f, n->name, w);
	fputs("</text></g>\n", f);
}

static bool drawn(const struct fg_layout *l, const struct fg_node *n)
{
	return (double)n->value * l->scale >= l->min_width;
}

/* Lays out and writes the frames depth first; a frame too narrow hides its whole subtree. */
static int put_frames(FILE *f, const struct fg_layout *l, struct fg_tree *t)
{
	size_t *stack = malloc(t->n * sizeof(*stack)), sp = 0;

	if (!stack)
		return -ENOMEM;
	stack[sp++] = 0;
	while (sp) {
		struct fg_node *n = &t->nodes[stack[--sp]];
		int64_t offset = n->start;
		size_t first = sp;

		if (!drawn(l, n))
			continue;
		put_frame(f, l, n, n == t->nodes);
		for (size_t c = n->first_child; c; c = t->nodes[c].next_sibling) {
			t->nodes[c].start = offset;
			offset += t->nodes[c].value;
			stack[sp++] = c;
		}
		/* Pushed left to right: reverse them so they come out left to right. */
		for (size_t i = first, j = sp; i + 1 < j; i++, j--) {
			size_t tmp = stack[i];

			stack[i] = stack[j - 1];
			stack[j - 1] = tmp;
		}
	}
	free(stack);
	return 0;
}

static const char svg_style[] =
	"<style>\n"
	"text { font-family: Verdana, sans-serif; font-size: 12px; fill: #000; }\n"
	"#title { font-size: 17px; }\n"
	"#subtitle { fill: #555; }\n"
	".button { cursor: pointer; fill: #1a3d8f; }\n"
	".button:hover { text-decoration: underline; }\n"
	".hidden { display: none; }\n"
	"#frames g { cursor: pointer; }\n"
	"#frames g:hover rect { stroke: #222; stroke-width: 0.5; }\n"
	"#frames text { pointer-events: none; }\n"
	"#frames g.parent rect { opacity: 0.45; }\n"
	"</style>\n";

/* The viewer (zoom, search, the details line): flamegraph.js, embedded at build time as the
 * string flamegraph_js (the Makefile makes the header from it). */
#include "flamegraph_js.h"

static void put_header(FILE *f, const struct fg_layout *l, const struct flamegraph_opts *o)
{
	const char *title = o->title ? o->title : "Flame Graph";
	int mid = l->width / 2;

	fputs("<?xml version=\"1.0\" encoding=\"UTF-8\" standalone=\"no\"?>\n", f);
	fprintf(f,
		"<svg version=\"1.1\" xmlns=\"http://www.w3.org/2000/svg\" width=\"%d\" "
		"height=\"%d\" viewBox=\"0 0 %d %d\">\n",
		l->width, l->height, l->width, l->height);
	fputs(svg_style, f);
	fputs("<defs><linearGradient id=\"background\" x1=\"0\" y1=\"0\" x2=\"0\" y2=\"1\">"
	      "<stop offset=\"0%\" stop-color=\"#f7f7f2\"/>"
	      "<stop offset=\"100%\" stop-color=\"#ecebe0\"/></linearGradient></defs>\n",
	      f);
	fprintf(f, "<rect x=\"0\" y=\"0\" width=\"%d\" height=\"%d\" fill=\"url(#background)\"/>\n",
		l->width, l->height);
	fprintf(f, "<text id=\"title\" x=\"%d\" y=\"24\" text-anchor=\"middle\">", mid);
	put_xml(f, title, SIZE_MAX);
	fputs("</text>\n", f);
	if (o->subtitle) {
		fprintf(f, "<text id=\"subtitle\" x=\"%d\" y=\"%d\" text-anchor=\"middle\">", mid,
			24 + SUBTITLE_PAD);
		put_xml(f, o->subtitle, SIZE_MAX);
		fputs("</text>\n", f);
	}
	fprintf(f,
		"<text id=\"unzoom\" class=\"button hidden\" x=\"%d\" y=\"24\">"
		"Reset Zoom</text>\n",
		XPAD);
	fprintf(f,
		"<text id=\"search\" class=\"button\" x=\"%d\" y=\"24\" "
		"text-anchor=\"end\">Search</text>\n",
		l->width - XPAD);
	fprintf(f, "<text id=\"details\" x=\"%d\" y=\"%d\"> </text>\n", XPAD, l->height - 10);
	fprintf(f, "<text id=\"matched\" x=\"%d\" y=\"%d\" text-anchor=\"end\"></text>\n",
		l->width - XPAD, l->height - 10);
}

static void put_script(FILE *f, const struct fg_layout *l)
{
	fputs("<script type=\"text/ecmascript\"><![CDATA[\n", f);
	fprintf(f, "var WIDTH = %d, XPAD = %d, CHAR_WIDTH = %.2f;\n", l->width, XPAD, CHAR_WIDTH);
	fputs(flamegraph_js, f);
	fputs("]]></script>\n", f);
}

int flamegraph_write(const struct profile *prof, size_t value_index,
		     const struct flamegraph_opts *opts, FILE *f)
{
	static const struct flamegraph_opts defaults = { 0 };
	const struct flamegraph_opts *o = opts ? opts : &defaults;
	struct fg_tree t = { 0 };
	struct fg_layout l = { 0 };
	unsigned int max_depth = 0;
	int err;

	assert(value_index < prof->nsample_types);
	err = tree_build(&t, prof, value_index, o->root_label_key);
	if (err)
		goto out;
	l.type = &prof->sample_types[value_index];
	l.total = t.nodes[0].value;
	l.width = o->width > 0 ? o->width : DEFAULT_WIDTH;
	l.min_width = o->min_width > 0 ? o->min_width : DEFAULT_MIN_WIDTH;
	/* An empty profile still gets its (zero-width) root frame, so the file is a valid graph. */
	l.scale = l.total ? (double)(l.width - 2 * XPAD) / (double)l.total : 0;
	if (!l.total)
		l.min_width = 0;
	for (size_t i = 0; i < t.n; i++)
		if (drawn(&l, &t.nodes[i]) && t.nodes[i].depth > max_depth)
			max_depth = t.nodes[i].depth;
	l.height = TOP_PAD + (o->subtitle ? SUBTITLE_PAD : 0) +
		   (int)(max_depth + 1) * FRAME_HEIGHT + BOTTOM_PAD;
	put_header(f, &l, o);
	fputs("<g id=\"frames\">\n", f);
	err = put_frames(f, &l, &t);
	if (err)
		goto out;
	fputs("</g>\n", f);
	put_script(f, &l);
	fputs("</svg>\n", f);
	if (ferror(f))
		err = -EIO;
out:
	tree_free(&t);
	return err;
}

int flamegraph_write_file(const struct profile *prof, size_t value_index,
			  const struct flamegraph_opts *opts, int dirfd, const char *name)
{
	struct output_file of;
	int err;

	err = output_open(&of, dirfd, name);
	if (err)
		return err;
	err = flamegraph_write(prof, value_index, opts, of.f);
	if (err)
		return output_fail(&of, err);
	return output_commit(&of);
}
