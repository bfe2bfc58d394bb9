// SPDX-License-Identifier: MIT
/*
 * asyncprof top: the terminal side (ncurses) and the recording loop. The figures come from
 * rows.c; this file draws them, reads keys and keeps the target safe on every way out.
 *
 * The terminal: plain curses only (no mouse, no alternate character set, colours only when the
 * terminal has them and NO_COLOR is not set), so it works in tmux, over SSH and on a dumb
 * emulator; the screen is laid out from LINES and COLS at every draw, and a resize (KEY_RESIZE)
 * redraws. The way out: q, Ctrl-C or SIGTERM (a flag: the handler does nothing else), -d, or
 * the target's exit all leave the loop; the terminal is restored (endwin) before the session
 * stops and detaches its probes, so any message is readable, and nothing in the loop exits the
 * program directly.
 */
#include <errno.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>
#include <curses.h>

#include "top.h"
#include "rows.h"
#include "model/tasks.h"
#include "session/session.h"
#include "target/process.h"

#define REFRESH_NS 1000000000ULL
#define FIRST_REFRESH_NS 100000000ULL /* the first figures sooner: something to show at once */
#define HEADER_LINES 4

static volatile sig_atomic_t top_signal;

static void on_signal(int sig)
{
	top_signal = sig;
}

enum { PAIR_TITLE = 1, PAIR_HEADING, PAIR_WAIT };

struct ui {
	struct top_model *m;
	pid_t pid;
	enum top_view view;
	bool view_chosen; /* the user chose the view: no more automatic choice */
	enum top_sort sort;
	bool since_start;
	bool color;
	size_t sel, first; /* selected row, first row shown */
	uint64_t sel_task; /* the selected row's identity, kept across refreshes */
	char sel_site[200];
	bool detail;
	enum top_view detail_view;
	struct top_row detail_row;
	int detail_scroll, y;
	const struct top_row *rows;
	size_t nrows;
};

static void style_on(const struct ui *u, int pair, int attr)
{
	attron(attr | (u->color && pair ? COLOR_PAIR(pair) : 0));
}

static void style_off(const struct ui *u, int pair, int attr)
{
	attroff(attr | (u->color && pair ? COLOR_PAIR(pair) : 0));
}

static void draw_header(const struct ui *u)
{
	const struct top_header *h = top_model_header(u->m);
	char workers[96] = "";
	int at = 0;

	for (size_t i = 0; i < h->nworkers && i < 8; i++)
		at += snprintf(workers + at, sizeof(workers) - at, "%s%.0f", i ? " " : "",
			       h->worker_pct[i]);
	style_on(u, PAIR_TITLE, A_BOLD);
	mvprintw(0, 0, "asyncprof top - pid %d (%s) - %s%s%s - mode %s - %.1fs", u->pid,
		 h->comm ? h->comm : "?", h->runtime ? h->runtime : "no runtime",
		 h->version ? " " : "", h->version ? h->version : "", h->mode, h->elapsed_s);
	style_off(u, PAIR_TITLE, A_BOLD);
	clrtoeol();
	mvprintw(1, 0,
		 "workers %zu: %.0f%% busy (%s)  samples %.0f/s  tasks %llu live, %.1f "
		 "spawned/s%s",
		 h->nworkers, h->workers_pct, workers, h->samples_s,
		 (unsigned long long)h->live_tasks, h->spawned_s,
		 h->events_lost ? "  (events lost: figures incomplete)" : "");
	clrtoeol();
	mvprintw(2, 0, "%s, %s; sort %s [c p b w l m a n]; v %s; t %s; Enter detail; q quit",
		 u->view == TOP_SITES ? "spawn sites" : "tasks",
		 u->since_start ? "rates since the start" : "rates over the last second",
		 top_sort_name(u->sort), u->view == TOP_SITES ? "tasks" : "spawn sites",
		 u->since_start ? "last second" : "since start");
	clrtoeol();
}

static void draw_row(const struct ui *u, int y, const struct top_row *r, bool selected)
{
	const struct top_header *h = top_model_header(u->m);
	char busy[16], polls[16], waiting[24], p99[16], longest[16], age[16], wait[64], w[16];

	snprintf(busy, sizeof(busy), r->busy_pct < 0 ? "-" : "%.1f", r->busy_pct);
	snprintf(polls, sizeof(polls), r->polls_s < 0 ? "-" : "%.1f", r->polls_s);
	snprintf(waiting, sizeof(waiting), h->waits_live ? "%llu" : "-",
		 (unsigned long long)r->waiting);
	top_fmt_ns(r->p99_ns, p99, sizeof(p99));
	top_fmt_ns(r->max_poll_ns, longest, sizeof(longest));
	top_fmt_ns(r->age_ns, age, sizeof(age));
	if (u->view == TOP_SITES)
		snprintf(wait, sizeof(wait), "%s/%llu", waiting, (unsigned long long)r->live);
	else if (r->wait_ns)
		snprintf(wait, sizeof(wait), "%s %s", top_fmt_ns(r->wait_ns, w, sizeof(w)),
			 r->reason[0] ? r->reason : "?");
	else
		snprintf(wait, sizeof(wait), "-");
	if (selected)
		style_on(u, 0, A_REVERSE);
	else if (u->view == TOP_TASKS && r->wait_ns)
		style_on(u, PAIR_WAIT, 0);
	move(y, 0);
	clrtoeol();
	if (u->view == TOP_SITES)
		printw("%6.1f %8s %6s %9s %8s %8s %7s %7llu  %s @ %s", r->cpu_pct, polls, busy,
		       wait, p99, longest, age, (unsigned long long)r->total, r->name, r->site);
	else
		printw("%6.1f %8s %6s %-16.16s %8s %8s %7s  %s%s%s", r->cpu_pct, polls, busy, wait,
		       p99, longest, age, r->name, r->site[0] ? " @ " : "", r->site);
	if (selected) {
		/* the whole line, so the selection shows on an emulator without colours */
		for (int x = getcurx(stdscr); x < COLS && getcury(stdscr) == y; x++)
			addch(' ');
		style_off(u, 0, A_REVERSE);
	} else if (u->view == TOP_TASKS && r->wait_ns) {
		style_off(u, PAIR_WAIT, 0);
	}
}

static void draw_list(struct ui *u)
{
	int height = LINES - HEADER_LINES;

	style_on(u, 0, A_REVERSE);
	move(3, 0);
	clrtoeol();
	if (u->view == TOP_SITES)
		printw("%6s %8s %6s %9s %8s %8s %7s %7s  %s", "CPU%", "POLLS/S", "BUSY%",
		       "WAIT/LIVE", "LAT P99", "LONGEST", "OLDEST", "TASKS", "TASK @ SPAWN SITE");
	else
		printw("%6s %8s %6s %-16s %8s %8s %7s  %s", "CPU%", "POLLS/S", "BUSY%", "WAITING",
		       "LAT P99", "LONGEST", "AGE", "TASK @ SPAWN SITE");
	for (int x = getcurx(stdscr); x < COLS && getcury(stdscr) == 3; x++)
		addch(' ');
	style_off(u, 0, A_REVERSE);
	if (height < 1)
		return;
	if (u->sel >= u->first + (size_t)height)
		u->first = u->sel - height + 1;
	if (u->sel < u->first)
		u->first = u->sel;
	for (int i = 0; i < height; i++) {
		size_t at = u->first + i;

		if (at < u->nrows) {
			draw_row(u, HEADER_LINES + i, &u->rows[at], at == u->sel);
		} else {
			move(HEADER_LINES + i, 0);
			clrtoeol();
		}
	}
	if (!u->nrows)
		mvprintw(HEADER_LINES, 0, "(no %s seen yet)",
			 u->view == TOP_SITES ? "spawn site" : "live task");
}

static void put_line(void *ctx, bool heading, const char *line)
{
	struct ui *u = ctx;
	int y = u->y++ - u->detail_scroll;

	if (y < 0 || y >= LINES)
		return;
	move(y, 0);
	clrtoeol();
	if (heading)
		style_on(u, PAIR_HEADING, A_BOLD);
	addnstr(line, COLS);
	if (heading)
		style_off(u, PAIR_HEADING, A_BOLD);
}

static void draw_detail(struct ui *u)
{
	u->y = 0;
	put_line(u, false, "Esc/Backspace: back to the list; Up/Down: scroll; q: quit");
	put_line(u, false, "");
	top_model_detail(u->m, u->detail_view, &u->detail_row, COLS, put_line, u);
	for (int y = u->y - u->detail_scroll; y < LINES; y++) {
		if (y >= 0) {
			move(y, 0);
			clrtoeol();
		}
	}
	if (u->detail_scroll > u->y - 1)
		u->detail_scroll = u->y > 0 ? u->y - 1 : 0;
}

static bool same_row(const struct ui *u, const struct top_row *r)
{
	return u->view == TOP_SITES ? strcmp(r->site, u->sel_site) == 0 : r->task == u->sel_task;
}

/* Gets the rows in the current order, and keeps the selection on the same task or site. */
static void load_rows(struct ui *u)
{
	u->nrows = top_model_rows(u->m, u->view, u->sort, &u->rows);
	for (size_t i = 0; i < u->nrows; i++) {
		if (same_row(u, &u->rows[i])) {
			u->sel = i;
			break;
		}
	}
	/* The detail's figures follow the refreshes while its row is there. */
	if (u->detail && u->detail_view == u->view)
		for (size_t i = 0; i < u->nrows; i++)
			if (u->view == TOP_SITES ? !strcmp(u->rows[i].site, u->detail_row.site)
						 : u->rows[i].task == u->detail_row.task)
				u->detail_row = u->rows[i];
	if (u->sel >= u->nrows)
		u->sel = u->nrows ? u->nrows - 1 : 0;
	if (u->nrows) {
		u->sel_task = u->rows[u->sel].task;
		snprintf(u->sel_site, sizeof(u->sel_site), "%s", u->rows[u->sel].site);
	}
}

static void draw(struct ui *u)
{
	if (u->detail) {
		draw_detail(u);
	} else {
		draw_header(u);
		draw_list(u);
	}
	refresh();
}

/*
 * Services make tasks by the thousand: past a screenful of them, live or come and gone within
 * a refresh (a task that lives 10 ms shows no rate of its own), the sites tell more.
 */
static void choose_view(struct ui *u)
{
	const struct top_header *h = top_model_header(u->m);
	double rows = LINES > HEADER_LINES ? LINES - HEADER_LINES : 1;

	if (!u->view_chosen)
		u->view =
		    h->live_tasks + h->spawned_s * h->interval_s > rows ? TOP_SITES : TOP_TASKS;
}

static void move_sel(struct ui *u, long by)
{
	long at = (long)u->sel + by;

	if (at >= (long)u->nrows)
		at = (long)u->nrows - 1;
	if (at < 0)
		at = 0;
	u->sel = at;
	if (u->nrows) {
		u->sel_task = u->rows[u->sel].task;
		snprintf(u->sel_site, sizeof(u->sel_site), "%s", u->rows[u->sel].site);
	}
}

static const struct {
	int key;
	enum top_sort sort;
} sort_keys[] = {
	{ 'c', SORT_CPU }, { 'p', SORT_POLLS },	   { 'b', SORT_BUSY }, { 'w', SORT_WAIT },
	{ 'l', SORT_P99 }, { 'm', SORT_MAX_POLL }, { 'a', SORT_AGE },  { 'n', SORT_NAME },
};

/* One key; returns false when it says to quit. refresh_now: the figures must be made again. */
static bool on_key(struct ui *u, int ch, bool *refresh_now)
{
	int page = LINES > HEADER_LINES + 1 ? LINES - HEADER_LINES - 1 : 1;

	if (ch == 'q' || ch == 'Q')
		return false;
	if (u->detail) {
		if (ch == 27 || ch == KEY_BACKSPACE || ch == 127 || ch == 8 || ch == KEY_LEFT ||
		    ch == 'h')
			u->detail = false;
		else if (ch == KEY_DOWN || ch == 'j')
			u->detail_scroll++;
		else if ((ch == KEY_UP || ch == 'k') && u->detail_scroll > 0)
			u->detail_scroll--;
		else if (ch == KEY_NPAGE || ch == ' ')
			u->detail_scroll += page;
		else if (ch == KEY_PPAGE)
			u->detail_scroll = u->detail_scroll > page ? u->detail_scroll - page : 0;
		return true;
	}
	for (size_t i = 0; i < sizeof(sort_keys) / sizeof(sort_keys[0]); i++)
		if (ch == sort_keys[i].key)
			u->sort = sort_keys[i].sort;
	if (ch == KEY_DOWN || ch == 'j')
		move_sel(u, 1);
	else if (ch == KEY_UP || ch == 'k')
		move_sel(u, -1);
	else if (ch == KEY_NPAGE || ch == ' ')
		move_sel(u, page);
	else if (ch == KEY_PPAGE)
		move_sel(u, -page);
	else if (ch == KEY_HOME || ch == 'g')
		move_sel(u, -(long)u->nrows);
	else if (ch == KEY_END || ch == 'G')
		move_sel(u, (long)u->nrows);
	else if (ch == 'v') {
		u->view = u->view == TOP_SITES ? TOP_TASKS : TOP_SITES;
		u->view_chosen = true;
		u->sel = u->first = 0;
		u->sel_task = 0;
		u->sel_site[0] = 0;
	} else if (ch == 't') {
		u->since_start = !u->since_start;
		*refresh_now = true;
	} else if ((ch == '\n' || ch == '\r' || ch == KEY_ENTER) && u->sel < u->nrows) {
		u->detail = true;
		u->detail_view = u->view;
		u->detail_row = u->rows[u->sel];
		u->detail_scroll = 0;
	}
	return true;
}

static void start_screen(struct ui *u)
{
	const char *no_color = getenv("NO_COLOR");

	initscr();
	cbreak();
	noecho();
	nonl();
	keypad(stdscr, TRUE);
	nodelay(stdscr, TRUE);
	set_escdelay(25);
	curs_set(0);
	/* https://no-color.org: set and not empty means no colour */
	u->color = has_colors() && !(no_color && no_color[0]);
	if (u->color) {
		start_color();
		use_default_colors();
		init_pair(PAIR_TITLE, COLOR_CYAN, -1);
		init_pair(PAIR_HEADING, COLOR_GREEN, -1);
		init_pair(PAIR_WAIT, COLOR_YELLOW, -1);
	}
}

enum top_end { END_KEY, END_SIGNAL, END_DURATION, END_TARGET, END_ERROR };

/* Draws and reads keys until the end; returns why it ended. */
static enum top_end run_screen(const struct options *o, struct session *s, struct ui *u)
{
	uint64_t start = monotonic_ns(), next = start + FIRST_REFRESH_NS;
	bool refresh_now = true, redraw = true;
	int ch, err;

	while (!top_signal) {
		err = session_step(s, 100);
		if (err < 0 && err != -EINTR)
			return END_ERROR;
		while ((ch = getch()) != ERR) {
			if (ch == KEY_RESIZE) {
				clear();
			} else if (!on_key(u, ch, &refresh_now)) {
				return END_KEY;
			}
			/* The next key moves in the order this one made (a sort, a view). */
			load_rows(u);
			redraw = true;
		}
		if (refresh_now || monotonic_ns() >= next) {
			/* Without memory a refresh shows what it could: the next one tries again.
			 */
			top_model_refresh(u->m, u->since_start);
			choose_view(u);
			if (monotonic_ns() >= next)
				next = monotonic_ns() + REFRESH_NS;
			refresh_now = false;
			redraw = true;
		}
		if (redraw) {
			load_rows(u);
			draw(u);
			redraw = false;
		}
		if (o->duration_s && (monotonic_ns() - start) / 1e9 >= o->duration_s)
			return END_DURATION;
		if (!session_target_alive(s))
			return END_TARGET;
	}
	return END_SIGNAL;
}

/* What a terminal must be for the screen: checked before anything is attached. */
static int check_terminal(void)
{
	const char *term = getenv("TERM");

	if (!isatty(STDIN_FILENO) || !isatty(STDOUT_FILENO)) {
		fprintf(stderr, "asyncprof: cannot show top: it needs a terminal (standard input "
				"and output); use attach for a recording to files\n");
		return -ENOTTY;
	}
	if (!term || !term[0] || !strcmp(term, "dumb")) {
		fprintf(stderr,
			"asyncprof: cannot show top: TERM %s%s%s does not say how to draw "
			"a screen\n",
			term ? "'" : "is not set", term ? term : "", term ? "'" : "");
		return -EINVAL;
	}
	return 0;
}

int top_main(const struct options *o, int dirfd, const char *dir)
{
	struct sigaction sa = { .sa_handler = on_signal };
	struct session_opts so = { .pid = o->pid,
				   .freq_hz = o->freq_hz,
				   .mode = o->mode,
				   .runtime = o->runtime,
				   .verbose = o->verbose };
	struct ui u = { .pid = o->pid, .view = TOP_TASKS, .sort = SORT_CPU };
	static const char *const why[] = { [END_KEY] = "q",
					   [END_SIGNAL] = "a signal",
					   [END_DURATION] = "-d",
					   [END_TARGET] = "the target's exit",
					   [END_ERROR] = "an error" };
	struct session_stats st;
	struct session *s = NULL;
	enum top_end end;
	int err = check_terminal();

	sigemptyset(&sa.sa_mask);
	sigaction(SIGINT, &sa, NULL);
	sigaction(SIGTERM, &sa, NULL);
	sigaction(SIGHUP, &sa, NULL);
	if (!err)
		err = session_open(&so, &s);
	if (!err && !session_runtime(s))
		fprintf(stderr,
			"asyncprof: warning: %s has no task runtime asyncprof knows: top "
			"shows only its workers and samples\n",
			session_comm(s));
	if (!err)
		err = session_start(s);
	if (!err) {
		u.m = top_model_new(s, o->freq_hz, o->mode);
		if (!u.m) {
			fprintf(stderr, "asyncprof: cannot show top: %s\n", strerror(ENOMEM));
			err = -ENOMEM;
		}
	}
	if (err) {
		session_close(s);
		return 1;
	}
	session_set_listener(s, top_model_listen, u.m);
	start_screen(&u);
	end = run_screen(o, s, &u);
	endwin();
	session_stop(s);
	session_stats(s, &st);
	fprintf(stderr, "asyncprof: top of pid %d ended by %s after %.1fs; probes detached%s\n",
		o->pid, end == END_SIGNAL ? strsignal(top_signal) : why[end], st.elapsed_s,
		end == END_TARGET ? "" : ", the process runs on");
	err = end == END_ERROR ? -EIO : 0;
	if (dirfd >= 0 && session_write_outputs(s, dirfd, dir) == 0)
		fprintf(stderr,
			"asyncprof: the recording is in %s/ (report.json, cpu.pb.gz, ...)\n", dir);
	else if (dirfd >= 0)
		err = -EIO;
	session_set_listener(s, NULL, NULL);
	top_model_free(u.m);
	session_close(s);
	return err ? 1 : 0;
}
