// SPDX-License-Identifier: MIT
#include "agent/governor.h"

#include <stdio.h>
#include <string.h>

#define TARGET 0.8 /* aim at 80% of the budget: the next window's load is not this one's */

void governor_init(struct governor *g, double budget, unsigned int ncpus, unsigned int asked_hz)
{
	memset(g, 0, sizeof(*g));
	g->budget = budget;
	g->ncpus = ncpus ? ncpus : 1;
	g->asked_hz = asked_hz;
	g->min_hz = 1;
	g->freq_hz = asked_hz;
}

/* The attached view with the most events, or nviews when none has any. */
static size_t costliest_view(const struct governor_view *views, size_t nviews)
{
	size_t best = nviews;

	for (size_t i = 0; i < nviews; i++)
		if (views[i].attached && views[i].events &&
		    (best == nviews || views[i].events > views[best].events))
			best = i;
	return best;
}

/* Detaches view v: fills d. */
static void detach(struct governor *g, double share, const struct governor_view *v, size_t i,
		   struct governor_decision *d)
{
	snprintf(d->why, sizeof(d->why),
		 "the agent used %.2f%% of the host's CPU at %u Hz, over its budget of %.2f%%: "
		 "turned off %s (%llu events in the window)",
		 100 * share, g->freq_hz, 100 * g->budget, v->name,
		 (unsigned long long)v->events);
	d->action = GOV_DETACH_VIEW;
	d->view = i;
	g->views_detached++;
}

void governor_decide(struct governor *g, double cpu_s, double wall_s, uint64_t samples,
		     const struct governor_view *views, size_t nviews,
		     struct governor_decision *d)
{
	double share = wall_s > 0 ? cpu_s / (wall_s * g->ncpus) : 0;
	size_t v = costliest_view(views, nviews);
	unsigned int hz;

	memset(d, 0, sizeof(*d));
	d->action = GOV_KEEP;
	g->last_share = share;
	if (share > g->budget) {
		g->under = 0;
		hz = (unsigned int)(g->freq_hz * TARGET * g->budget / share);
		if (hz < g->min_hz)
			hz = g->min_hz;
		if (v < nviews && views[v].events > samples) {
			detach(g, share, &views[v], v, d);
		} else if (hz < g->freq_hz) {
			snprintf(d->why, sizeof(d->why),
				 "the agent used %.2f%% of the host's CPU, over its budget of "
				 "%.2f%%: sampling rate lowered from %u to %u Hz",
				 100 * share, 100 * g->budget, g->freq_hz, hz);
			d->action = GOV_LOWER_RATE;
			g->freq_hz = hz;
			g->rate_changes++;
		} else if (v < nviews) {
			detach(g, share, &views[v], v, d);
		} else {
			snprintf(d->why, sizeof(d->why),
				 "the agent used %.2f%% of the host's CPU at %u Hz with no view "
				 "left to turn off, over its budget of %.2f%%",
				 100 * share, g->freq_hz, 100 * g->budget);
		}
	} else if (share < g->budget / 2 && g->freq_hz < g->asked_hz) {
		if (++g->under >= 2) {
			double fits = share > 0 ? g->freq_hz * TARGET * g->budget / share
						: 2.0 * g->freq_hz;

			hz = g->freq_hz * 2;
			if (hz > fits)
				hz = (unsigned int)fits;
			if (hz > g->asked_hz)
				hz = g->asked_hz;
			if (hz > g->freq_hz) {
				snprintf(d->why, sizeof(d->why),
					 "the agent used %.2f%% of the host's CPU, under half its "
					 "budget of %.2f%%: sampling rate raised from %u to %u Hz",
					 100 * share, 100 * g->budget, g->freq_hz, hz);
				d->action = GOV_RAISE_RATE;
				g->freq_hz = hz;
				g->rate_changes++;
				g->under = 0;
			}
		}
	} else {
		g->under = 0;
	}
	d->freq_hz = g->freq_hz;
}
